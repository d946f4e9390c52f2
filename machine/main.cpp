// umbra: the emulator's command-line entry point.
#include <capstone/capstone.h>
#include <llvm-c/Core.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "devices/debug_ports.h"
#include "frontend/system/cpu_model.h"
#include "jit/profile.h"
#include "jit/tier0.h"
#include "machine/cmdline.h"
#include "machine/flat64.h"
#include "machine/pc.h"
#include "softmmu/mmu_introspect.h"

namespace {

const char* vector_name(unsigned v) {
  static const char* const kNames[] = {"#DE", "#DB",  "NMI", "#BP", "#OF", "#BR", "#UD",
                                       "#NM", "#DF",  "(9)", "#TS", "#NP", "#SS", "#GP",
                                       "#PF", "(15)", "#MF", "#AC", "#MC", "#XM"};
  return v < std::size(kNames) ? kNames[v] : "(exception)";
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "umbra: %s\n", msg.c_str());
  return 2;
}

// -initrd "file args,file args": multiboot modules, split on commas as QEMU does.
std::vector<std::string> split_modules(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    size_t comma = s.find(',', start);
    out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// --stats: what the engines did, and where the CPU thread's time went (sampled).
void print_engine_stats(const umbra::Tier0Engine& engine, const umbra::profile::Sampler& sampler) {
  const umbra::EngineStats& s = engine.stats();
  std::fprintf(stderr,
               "umbra: tier 0: %llu blocks built, %llu invalidated, jump cache %llu hits / %llu "
               "misses, %llu faults\n",
               static_cast<unsigned long long>(s.blocks_built),
               static_cast<unsigned long long>(s.blocks_invalidated),
               static_cast<unsigned long long>(s.jump_cache_hits),
               static_cast<unsigned long long>(s.jump_cache_misses),
               static_cast<unsigned long long>(s.faults));
  if (const uint64_t n = sampler.total()) {
    namespace p = umbra::profile;
    auto pct = [&](p::Activity a) { return 100.0 * static_cast<double>(sampler.samples(a)) / n; };
    std::fprintf(stderr,
                 "umbra: CPU thread time (%llu samples of 1 ms CPU time): tier 0 %.1f%%, "
                 "threaded code %.1f%%, tier 1 %.1f%%, MMU slow paths %.1f%%, dispatch/devices "
                 "%.1f%%, compiling %.1f%%\n",
                 static_cast<unsigned long long>(n), pct(p::kTier0), pct(p::kThreaded),
                 pct(p::kTier1), pct(p::kMmu), pct(p::kDispatch), pct(p::kCompile));
  }
  if (const umbra::threaded::ThreadedCompiler* th = engine.threaded()) {
    const umbra::threaded::ThreadedStats& t = th->stats();
    std::fprintf(
        stderr,
        "umbra: threaded code: %llu blocks (%llu guest instructions, %llu bytes), %.2f us "
        "per block, %llu released, %zu chunks of %zu KiB in use, %llu block exits for "
        "tier-1 code, %llu not compiled for want of space, exit tests after %llu instructions "
        "(left out after %llu that cannot request one), %llu instructions inline, %llu "
        "memory accesses with their TLB hit inline, %llu branches inline (%llu Jcc "
        "not: flags unknown), %llu flag producers inline without their dead flags, %llu chain "
        "exits on their own Jcc path, %llu direct link sites (linked %llu times)\n",
        static_cast<unsigned long long>(t.blocks), static_cast<unsigned long long>(t.insns),
        static_cast<unsigned long long>(t.bytes),
        t.blocks ? t.ns / 1e3 / static_cast<double>(t.blocks) : 0.0,
        static_cast<unsigned long long>(t.released), th->arena().chunks_in_use(),
        umbra::threaded::CodeArena::kChunkBytes >> 10,
        static_cast<unsigned long long>(t.chain_exits),
        static_cast<unsigned long long>(t.arena_full),
        static_cast<unsigned long long>(t.exit_tests),
        static_cast<unsigned long long>(t.exit_tests_left_out),
        static_cast<unsigned long long>(t.inlined),
        static_cast<unsigned long long>(t.inlined_memory),
        static_cast<unsigned long long>(t.inlined_branches),
        static_cast<unsigned long long>(t.branches_flags_unknown),
        static_cast<unsigned long long>(t.flags_dead),
        static_cast<unsigned long long>(t.split_exits),
        static_cast<unsigned long long>(t.direct_sites),
        static_cast<unsigned long long>(s.direct_links));
  }
  if (engine.accel() == umbra::AccelMode::Tier0 && s.tier1_installed == 0) return;
  std::fprintf(
      stderr,
      "umbra: tier 1 (%s): %llu blocks installed (%llu regions), %llu failed; compiled "
      "code (threaded or tier 1) entered %llu times from the dispatcher, %llu "
      "instructions; %llu entries at another address than the code's, %llu recompiles "
      "for one\n",
      umbra::accel_mode_name(engine.accel()), static_cast<unsigned long long>(s.tier1_installed),
      static_cast<unsigned long long>(s.tier1_regions),
      static_cast<unsigned long long>(s.tier1_failed),
      static_cast<unsigned long long>(s.tier1_runs), static_cast<unsigned long long>(s.tier1_insns),
      static_cast<unsigned long long>(s.rip_mismatches),
      static_cast<unsigned long long>(s.respecialized));
  std::string error;
  if (umbra::tier1::Tier1* t = umbra::tier1::Tier1::get(&error)) {
    const umbra::tier1::Tier1Stats ts = t->stats();
    const umbra::tier1::CompileStats& c = ts.compile;
    const double n = c.blocks ? static_cast<double>(c.blocks) : 1.0;
    std::fprintf(
        stderr,
        "umbra: tier 1 compiler: %llu blocks (%llu guest instructions), %.3f s total, "
        "per block %.2f ms (IR %.2f, optimize %.2f, codegen %.2f); %llu quick, %llu "
        "optimized (%llu more blocks in regions), %llu released; %llu requests, %llu "
        "dropped with the queue full; %llu instructions with dead flags\n",
        static_cast<unsigned long long>(c.blocks), static_cast<unsigned long long>(c.guest_insns),
        c.ns_total / 1e9, c.ns_total / n / 1e6, c.ns_ir / n / 1e6, c.ns_opt / n / 1e6,
        c.ns_codegen / n / 1e6, static_cast<unsigned long long>(c.quick),
        static_cast<unsigned long long>(c.optimized),
        static_cast<unsigned long long>(c.region_members), static_cast<unsigned long long>(c.freed),
        static_cast<unsigned long long>(ts.requests), static_cast<unsigned long long>(ts.dropped),
        static_cast<unsigned long long>(c.flags_dead));
  }
}

// --stats on the PC: the MMU counters that say what the fast-TLB misses cost.
void print_mmu_stats(umbra::CpuState& cpu) {
  std::string line;
  for (const umbra::MmuCounter& c : umbra::mmu_counters(cpu)) {
    if (c.name.starts_with("translations") || c.name.starts_with("guest walks") ||
        c.name.starts_with("shadow hits") || c.name.starts_with("fast-TLB tables grown") ||
        c.name.starts_with("address-space loads"))
      line += (line.empty() ? "" : ", ") + c.name + " " + std::to_string(c.value);
  }
  if (!line.empty()) std::fprintf(stderr, "umbra: MMU: %s\n", line.c_str());
}

int run_pc(const umbra::Options& o) {
  // RAM is one range from address 0; above 3.5 GiB it would overlap the PCI window, the IOAPIC
  // and the local APIC (RAM above 4 GiB behind a PCI hole is not modelled yet).
  constexpr uint64_t kMaxPcRam = 3584ull << 20;
  if (o.ram_bytes > kMaxPcRam)
    return fail("-m: the PC machine takes at most 3584M of RAM for now (no PCI hole yet)");
  umbra::PcConfig cfg;
  cfg.ram_bytes = o.ram_bytes;
  cfg.kernel = o.kernel;
  cfg.modules = split_modules(o.initrd);
  cfg.cmdline = o.append;
  cfg.no_reboot = o.no_reboot;
  if (o.debug_exit) cfg.debug_exit = std::make_pair(o.debug_exit->iobase, o.debug_exit->iosize);
  cfg.serial_out = o.serial == "none" ? nullptr : stdout;
  // -nographic puts COM1 and the monitor on the terminal, multiplexed (Ctrl-A c switches);
  // otherwise -serial stdio and -monitor stdio each take it.
  cfg.console_serial = o.serial == "stdio";
  cfg.console_monitor = o.nographic || o.monitor == "stdio";
  cfg.max_insns = o.max_insns;
  cfg.trace_blocks = o.disas;
  cfg.icount_shift = o.icount_shift;
  if (!o.cpu_model.empty()) {
    cfg.cpu_model = umbra::find_cpu_model(o.cpu_model);
    if (!cfg.cpu_model) return fail("unknown CPU model '" + o.cpu_model + "' (see -cpu help)");
  }
  umbra::PcMachine pc(cfg);
  std::string error;
  if (!pc.boot(&error)) return fail(error);
  umbra::profile::Sampler sampler;
  if (o.stats) sampler.start();
  const int status = pc.run();
  sampler.stop();
  std::fflush(stdout);
  if (o.stats) {
    print_engine_stats(pc.engine(), sampler);
    print_mmu_stats(pc.cpu());
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace umbra;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string error;
  auto opts = parse_command_line(args, &error);
  if (!opts) return fail(error);
  if (!opts->accel.empty()) {
    AccelMode mode;
    parse_accel_mode(opts->accel, &mode);
    set_default_accel_mode(mode);
  }
  if (opts->cpu_model == "help") {
    list_cpu_models(stdout);
    return 0;
  }
  if (opts->help) {
    std::fputs(usage_text(), stdout);
    return 0;
  }
  if (opts->version) {
    unsigned lmaj, lmin, lpatch;
    LLVMGetVersion(&lmaj, &lmin, &lpatch);
    int cmaj, cmin;
    cs_version(&cmaj, &cmin);
    std::printf("umbra 0.1 (LLVM %u.%u.%u, Capstone %d.%d)\n", lmaj, lmin, lpatch, cmaj, cmin);
    return 0;
  }

  if (!opts->kernel.empty()) return run_pc(*opts);

  std::ifstream in(opts->flat_image, std::ios::binary);
  if (!in) return fail("cannot read '" + opts->flat_image + "': " + std::strerror(errno));
  std::vector<char> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (image.empty()) return fail("'" + opts->flat_image + "' is empty");
  if (opts->load_addr >= opts->ram_bytes || image.size() > opts->ram_bytes - opts->load_addr)
    return fail("'" + opts->flat_image + "' does not fit in guest RAM at the load address");
  const uint64_t entry = opts->entry.value_or(opts->load_addr);
  if (entry >= opts->ram_bytes) return fail("entry point is outside guest RAM");

  Flat64Machine machine(opts->ram_bytes);
  machine.load(opts->load_addr, image.data(), image.size());
  attach_debug_console(machine.ports(), stdout);
  int exit_status = -1;
  if (opts->debug_exit) {
    attach_debug_exit(machine.ports(), opts->debug_exit->iobase, opts->debug_exit->iosize,
                      [&](int status) {
                        exit_status = status;
                        machine.cpu().exit_request |= kExitShutdown;
                      });
  }
  machine.engine().set_trace_blocks(opts->disas);
  machine.reset64(entry, opts->ram_bytes & ~uint64_t{0xf});

  profile::Sampler sampler;
  if (opts->stats) sampler.start();
  const auto t0 = std::chrono::steady_clock::now();
  RunResult r = machine.run(opts->max_insns);
  sampler.stop();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::fflush(stdout);

  const CpuState& cpu = machine.cpu();
  const double mips = secs > 0 ? static_cast<double>(r.insns) / secs / 1e6 : 0.0;
  int status = 0;
  if (r.reason & kExitShutdown) {
    std::fprintf(stderr, "umbra: guest requested exit (status %d)", exit_status);
    status = exit_status;
  } else if (r.reason & kExitHalt) {
    std::fprintf(stderr, "umbra: guest halted at rip=%#llx",
                 static_cast<unsigned long long>(cpu.rip));
  } else if (r.reason & kExitFault) {
    std::fprintf(stderr, "umbra: guest exception %s (vector %u", vector_name(r.vector), r.vector);
    if (r.error_code != kNoErrorCode) std::fprintf(stderr, ", error code %#x", r.error_code);
    std::fprintf(stderr, ") at rip=%#llx with no handler to deliver it to",
                 static_cast<unsigned long long>(cpu.rip));
    status = 1;
  } else if (r.reason & kExitInsnLimit) {
    std::fprintf(stderr, "umbra: instruction limit reached at rip=%#llx",
                 static_cast<unsigned long long>(cpu.rip));
  }
  std::fprintf(stderr, "; %llu instructions in %.3f s (%.1f MIPS)\n",
               static_cast<unsigned long long>(r.insns), secs, mips);
  if (opts->stats) print_engine_stats(machine.engine(), sampler);
  return status;
}
