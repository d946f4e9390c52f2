// bench/cr3_switch: runs a multiboot kernel (tests/guest/sys/paging_cr3_switch.elf) on Umbra's PC
// machine and prints the run's wall time and every MMU counter, for bench/cr3_switch.sh, which
// runs the same kernel on qemu-system-x86_64 -accel tcg side by side (docs/bench.md).
//
//   cr3_switch_umbra KERNEL "COMMAND LINE" [RAM_MIB [INITRD]]
//
// The guest's serial and 0xe9 output is discarded unless UMBRA_BENCH_CONSOLE is set (then it goes
// to stderr, so the counters on stdout stay parseable). UMBRA_SHADOW_FLOOD=N sets the shadow
// tables' write-flooding threshold (docs/softmmu.md 5.6: how it was chosen).
// Any kernel the PC machine boots will do (a Linux bzImage with its initramfs too), which makes
// this also the way to read the MMU counters of a whole guest run.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "machine/pc.h"
#include "softmmu/mmu_introspect.h"
#include "softmmu/paging_translator.h"
#include "softmmu/translation_cache.h"

int main(int argc, char** argv) {
  using namespace umbra;
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: %s KERNEL \"COMMAND LINE\" [RAM_MIB [INITRD]]\n", argv[0]);
    return 2;
  }
  PcConfig cfg;
  cfg.ram_bytes = (argc >= 4 ? std::strtoull(argv[3], nullptr, 10) : 64) << 20;
  cfg.kernel = argv[1];
  cfg.cmdline = argv[2];
  if (argc == 5) cfg.modules = {argv[4]};
  cfg.no_reboot = true;
  cfg.debug_exit = std::make_pair(uint16_t{0xf4}, uint16_t{4});
  const bool console = std::getenv("UMBRA_BENCH_CONSOLE") != nullptr;
  cfg.serial_out = console ? stderr : nullptr;
  cfg.debugcon_out = console ? stderr : nullptr;
  PcMachine pc(cfg);
  if (const char* flood = std::getenv("UMBRA_SHADOW_FLOOD")) {
    if (auto* pt = dynamic_cast<PagingTranslator*>(pc.cpu().translator))
      pt->cache().shadow_tables().set_flood_writes(
          static_cast<uint32_t>(std::strtoul(flood, nullptr, 10)));
  }
  std::string error;
  if (!pc.boot(&error)) {
    std::fprintf(stderr, "cr3_switch_umbra: %s\n", error.c_str());
    return 2;
  }
  // CPU time as well as wall time: on a loaded machine only the former measures the emulator.
  auto cpu_seconds = [] {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  };
  const double c0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  const int status = pc.run();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("seconds %.6f\n", secs);
  std::printf("cpu_seconds %.6f\n", cpu_seconds() - c0);
  for (const MmuCounter& c : mmu_counters(pc.cpu()))
    std::printf("counter %s = %llu\n", c.name.c_str(), static_cast<unsigned long long>(c.value));
  // isa-debug-exit with 0x10: the kernel's checks passed (a Linux poweroff: status 0).
  return status == 33 || status == 0 ? 0 : 1;
}
