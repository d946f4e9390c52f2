// bench/jit_bench: runs a kernel on Umbra's PC machine as `umbra -kernel` does, with the tier
// chosen by UMBRA_ACCEL (tier0 / jit / compile-all), and prints what bench/jit_bench.sh needs
// next to the guest's own output: the guest instructions retired (for MIPS), and the tier-1
// counters and compile time. The script times the whole process from outside, as it does QEMU.
//
//   jit_bench_umbra KERNEL "COMMAND LINE" [RAM_MIB]
//
// Guest serial and port 0xe9 output go to stdout; the counters go to stderr as "stat NAME VALUE".
#include <sys/resource.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "jit/tier0.h"
#include "jit/tier1/tier1.h"
#include "machine/pc.h"
#include "softmmu/paging_translator.h"
#include "softmmu/translation_cache.h"

namespace {

void print_stat(const char* name, uint64_t value) {
  std::fprintf(stderr, "stat %s %llu\n", name, static_cast<unsigned long long>(value));
}

double cpu_seconds(int who) {
  rusage ru{};
  getrusage(who, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void stat_seconds(const char* name, double value) {
  std::fprintf(stderr, "stat %s %.3f\n", name, value);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace umbra;
  if (argc < 3 || argc > 4) {
    std::fprintf(stderr, "usage: %s KERNEL \"COMMAND LINE\" [RAM_MIB]\n", argv[0]);
    return 2;
  }
  PcConfig cfg;
  cfg.ram_bytes = (argc >= 4 ? std::strtoull(argv[3], nullptr, 10) : 64) << 20;
  cfg.kernel = argv[1];
  cfg.cmdline = argv[2];
  cfg.no_reboot = true;
  cfg.debug_exit = std::make_pair(uint16_t{0xf4}, uint16_t{4});
  cfg.serial_out = stdout;
  cfg.debugcon_out = stdout;
  PcMachine pc(cfg);
  std::string error;
  if (!pc.boot(&error)) {
    std::fprintf(stderr, "jit_bench_umbra: %s\n", error.c_str());
    return 2;
  }
  const int status = pc.run();
  std::fflush(stdout);

  const EngineStats& s = pc.engine().stats();
  std::fprintf(stderr, "stat accel %s\n", accel_mode_name(pc.engine().accel()));
  print_stat("guest_insns", pc.cpu().insn_count);
  print_stat("tier0_blocks", s.blocks_built);
  print_stat("tier1_installed", s.tier1_installed);
  print_stat("rip_mismatches", s.rip_mismatches);
  print_stat("tier1_failed", s.tier1_failed);
  print_stat("tier1_insns", s.tier1_insns);
  if (auto* pt = dynamic_cast<PagingTranslator*>(pc.cpu().translator)) {
    const TranslationCacheStats& m = pt->cache().stats();
    // Fast-TLB misses that reached the translator, and those the shadow tables served.
    print_stat("mmu_translations", pt->stats().translations);
    print_stat("mmu_shadow_hits", m.shadow_hits);
  }
  if (pc.engine().accel() != AccelMode::Tier0) {
    if (tier1::Tier1* t = tier1::Tier1::get(&error)) {
      const tier1::CompileStats c = t->stats().compile;
      print_stat("compile_blocks", c.blocks);
      print_stat("compile_quick", c.quick);
      print_stat("compile_regions", c.optimized);
      print_stat("compile_region_members", c.region_members);
      stat_seconds("compile_seconds", static_cast<double>(c.ns_total) / 1e9);
      stat_seconds("compile_ir_seconds", static_cast<double>(c.ns_ir) / 1e9);
      stat_seconds("compile_opt_seconds", static_cast<double>(c.ns_opt) / 1e9);
      stat_seconds("compile_codegen_seconds", static_cast<double>(c.ns_codegen) / 1e9);
    }
  }
  // Tier 1 compiles on its own thread: the process's CPU time less the CPU thread's is the
  // compiler's (the machine has no other threads).
  stat_seconds("cpu_process", cpu_seconds(RUSAGE_SELF));
  stat_seconds("cpu_main_thread", cpu_seconds(RUSAGE_THREAD));
  // isa-debug-exit with 0x10: the kernel's checks passed.
  return status == 33 ? 0 : 1;
}
