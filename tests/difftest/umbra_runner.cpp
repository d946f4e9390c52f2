#include "umbra_runner.h"

#include <cstring>

#include "frontend/cpu_state.h"
#include "frontend/flags.h"
#include "jit/engine.h"
#include "jit/tier0.h"
#include "machine/flat64.h"
#include "softmmu/access.h"

namespace difftest {

namespace {

constexpr uint64_t kRamBytes = 16ull << 20;
// A case runs a few instructions, a REP string op at most some ten thousand iterations.
constexpr uint64_t kInsnLimit = 1u << 22;

// #PF error code bits (SDM vol. 3, 4.7).
constexpr uint32_t kPfPresent = 1u << 0;
constexpr uint32_t kPfWrite = 1u << 1;
constexpr uint32_t kPfUser = 1u << 2;
constexpr uint32_t kPfFetch = 1u << 4;

}  // namespace

// Identity mapping of the code page (read + execute) and the data pages (read + write, no
// execute); everything else is not present. The error codes are what the host kernel reports
// for a user process: U always set, W for writes, I/D for fetches (the host runs with NX on),
// P when the page is mapped but the access is not allowed.
class DifftestTranslator final : public umbra::AddressTranslator {
 public:
  umbra::Translation translate(umbra::CpuState& cpu, uint64_t linear,
                               umbra::Access access) override {
    const uint64_t page = linear & ~(kCodeSize - 1);
    const uint32_t kind = access == umbra::Access::Write  ? kPfWrite
                          : access == umbra::Access::Exec ? kPfFetch
                                                          : 0;
    if (page == kCodeBase) {
      if (access == umbra::Access::Write)
        umbra::raise_fault(cpu, umbra::kPF, kPfPresent | kPfUser | kind, linear);
      return umbra::Translation{linear, false, true};
    }
    if (linear >= kDataBase && linear < kDataEnd) {
      if (access == umbra::Access::Exec)
        umbra::raise_fault(cpu, umbra::kPF, kPfPresent | kPfUser | kind, linear);
      return umbra::Translation{linear, true, false};
    }
    umbra::raise_fault(cpu, umbra::kPF, kPfUser | kind, linear);
  }
};

UmbraRunner::UmbraRunner() : translator_(std::make_unique<DifftestTranslator>()) {
  // The native child inherits this process's segment registers; PUSH FS/GS make the selectors
  // visible, so the emulated CPU starts with the same ones (0 for a 64-bit Linux process).
  uint16_t fs, gs;
  asm volatile("mov %%fs, %0" : "=r"(fs));
  asm volatile("mov %%gs, %0" : "=r"(gs));
  host_fs_ = fs;
  host_gs_ = gs;
}
UmbraRunner::~UmbraRunner() = default;

void UmbraRunner::run(const CaseInput& in, CaseOutput* out, bool fresh) {
  if (fresh || !machine_) {
    machine_.reset();
    machine_ = std::make_unique<umbra::Flat64Machine>(kRamBytes, translator_.get());
  }
  umbra::Flat64Machine& m = *machine_;
  m.reset64(in.regs.rip, in.regs.gpr[4], /*cpl=*/3);
  umbra::CpuState& cpu = m.cpu();
  cpu.seg[umbra::FS].selector = host_fs_;
  cpu.seg[umbra::GS].selector = host_gs_;
  std::memcpy(cpu.gpr, in.regs.gpr, sizeof cpu.gpr);
  cpu.rip = in.regs.rip;
  cpu.rflags = in.regs.rflags | umbra::rf::FIXED1;
  cpu.lazy.op = umbra::kLazyNone;
  m.load(kCodeBase, in.code, kCodeSize);
  m.load(kDataBase, in.data, kDataSize);
  // The code page changed behind the engine's back (load() is not a guest write).
  m.engine().flush();

  const umbra::RunResult r = m.run(kInsnLimit);
  std::memcpy(out->regs.gpr, cpu.gpr, sizeof cpu.gpr);
  out->regs.rip = cpu.rip;
  out->regs.rflags = umbra::read_rflags(cpu);
  out->exit_reason = r.reason;
  if (r.reason & umbra::kExitFault) {
    out->status = RunStatus::kOk;
    out->vector = r.vector;
    out->error_code = r.error_code;
    out->fault_addr = r.fault_addr;
  } else {
    out->status = RunStatus::kNoException;
    out->vector = 0xff;
    out->error_code = 0;
    out->fault_addr = 0;
  }
  std::memcpy(out->data, m.memory().ram() + kDataBase, kDataSize);
}

}  // namespace difftest
