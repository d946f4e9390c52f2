#include "umbra_runner.h"

#include <cstring>

#include "frontend/cpu_state.h"
#include "frontend/flags.h"
#include "frontend/semantics/fp_state.h"
#include "frontend/system/cpu_model.h"
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

// The CPU model of the difftest: the default model plus every FPU/SIMD feature the difftest
// covers (the host has them all), whether or not the default model advertises them yet: the
// instructions must match the host either way.
const umbra::CpuModel& difftest_cpu_model() {
  static const umbra::CpuModel model = [] {
    umbra::CpuModel m = umbra::default_cpu_model();
    using F = umbra::Feature;
    for (F f : {F::FPU, F::MMX, F::FXSR, F::SSE, F::SSE2, F::SSE3, F::SSSE3, F::SSE4_1, F::SSE4_2,
                F::POPCNT, F::XSAVE})
      m.features[umbra::feature_word(f)] |= umbra::feature_mask(f);
    return m;
  }();
  return model;
}

// The case's FPU/SIMD state (an FXSAVE64 image, layout.h) into the CPU, through the same image
// conversion FXRSTOR uses (the full tag word is rebuilt from the abridged one and the
// registers' contents, SDM vol. 1, 10.5.1.1).
void load_fp_state(umbra::CpuState& cpu, const uint8_t* img) {
  umbra::fpimg::load_x87(cpu, img, /*fmt64=*/true);
  std::memcpy(&cpu.mxcsr, img + fx::kMxcsr, 4);
  std::memcpy(cpu.xmm, img + fx::kXmm, 16 * 16);
}

// And back, for the comparison with the host's signal-frame image. Bytes the image does not
// define (reserved, 464-511) are left 0, as the comparison ignores them.
void store_fp_state(const umbra::CpuState& cpu, uint8_t* img) {
  std::memset(img, 0, kFxSize);
  umbra::fpimg::store_x87(cpu, img, /*fmt64=*/true);
  std::memcpy(img + fx::kMxcsr, &cpu.mxcsr, 4);
  const uint32_t mask = umbra::kMxcsrMask;
  std::memcpy(img + fx::kMxcsrMask, &mask, 4);
  std::memcpy(img + fx::kXmm, cpu.xmm, 16 * 16);
}

}  // namespace

// Identity mapping of the code page (read + execute) and the data pages (read + write, no
// execute), the system pages (GDT, IDT, TSS, handlers, kernel stack) at kSysLinear for every
// access; everything else is not present. The error codes are what the host kernel reports
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
    if (linear - kSysLinear < kSysSize)
      return umbra::Translation{linear - kSysLinear + kSysPhys, true, true};
    umbra::raise_fault(cpu, umbra::kPF, kPfUser | kind, linear);
  }
};

UmbraRunner::UmbraRunner(const SystemImage& system, std::optional<umbra::AccelMode> accel)
    : translator_(std::make_unique<DifftestTranslator>()), system_(system), accel_(accel) {
  // The native child inherits this process's segment registers (and the harness puts DS, ES,
  // FS and GS back after each case); PUSH FS/GS and MOV r/m, Sreg make the selectors visible,
  // so the emulated CPU starts with the same ones (CS 0x33, SS 0x2b, the others 0 on Linux).
  uint16_t s;
  asm volatile("mov %%es, %0" : "=r"(s));
  host_sel_[kES] = s;
  asm volatile("mov %%cs, %0" : "=r"(s));
  host_sel_[kCS] = s;
  asm volatile("mov %%ss, %0" : "=r"(s));
  host_sel_[kSS] = s;
  asm volatile("mov %%ds, %0" : "=r"(s));
  host_sel_[kDS] = s;
  asm volatile("mov %%fs, %0" : "=r"(s));
  host_sel_[kFS] = s;
  asm volatile("mov %%gs, %0" : "=r"(s));
  host_sel_[kGS] = s;
}
UmbraRunner::~UmbraRunner() = default;

namespace {

void add_counts(const umbra::EngineStats& s, TierCounts* c) {
  c->tier1_installed += s.tier1_installed;
  c->threaded_installed += s.threaded_installed;
  c->tier1_runs += s.tier1_runs;
  c->tier1_insns += s.tier1_insns;
  c->tier1_failed += s.tier1_failed;
  c->blocks_built += s.blocks_built;
}

}  // namespace

TierCounts UmbraRunner::counts() const {
  TierCounts c = retired_;
  if (machine_) add_counts(machine_->engine().stats(), &c);
  c.insns = insns_;
  return c;
}

umbra::AccelMode UmbraRunner::accel() const {
  if (machine_) return machine_->engine().accel();
  return accel_.value_or(umbra::default_accel_mode());
}

void UmbraRunner::run(const CaseInput& in, CaseOutput* out, bool fresh, ArchSnapshot* snap) {
  if (fresh || !machine_) {
    if (machine_) add_counts(machine_->engine().stats(), &retired_);
    machine_.reset();
    machine_ = std::make_unique<umbra::Flat64Machine>(kRamBytes, translator_.get());
    if (accel_) machine_->engine().set_accel(*accel_);
    install_system_tables(*machine_, system_);
  }
  umbra::Flat64Machine& m = *machine_;
  m.reset64(in.regs.rip, in.regs.gpr[4], /*cpl=*/3);
  umbra::CpuState& cpu = m.cpu();
  enter_case_state(m, system_, host_sel_, in.regs.fs_base, in.regs.gs_base);
  std::memcpy(cpu.gpr, in.regs.gpr, sizeof cpu.gpr);
  cpu.rip = in.regs.rip;
  cpu.rflags = in.regs.rflags | umbra::rf::FIXED1;
  cpu.lazy.op = umbra::kLazyNone;
  cpu.cpu_model = &difftest_cpu_model();
  load_fp_state(cpu, in.fx);
  m.load(kCodeBase, in.code, kCodeSize);
  m.load(kDataBase, in.data, kDataSize);
  // The code page changed behind the engine's back (load() is not a guest write).
  m.engine().flush();

  const umbra::RunResult r = m.run(kInsnLimit);
  insns_ += r.insns;
  std::memcpy(out->regs.gpr, cpu.gpr, sizeof cpu.gpr);
  out->regs.rip = cpu.rip;
  out->regs.rflags = umbra::read_rflags(cpu);
  for (unsigned s = 0; s < kNumSegs; ++s) out->regs.seg[s] = cpu.seg[s].selector;
  out->regs.fs_base = cpu.seg[umbra::FS].base;
  out->regs.gs_base = cpu.seg[umbra::GS].base;
  out->flags = kOutBasesValid | (cpu.mode64 ? 0 : kOutNot64);
  out->exit_reason = r.reason;
  store_fp_state(cpu, out->fx);
  DeliveredEvent ev;
  if ((r.reason & umbra::kExitHalt) && delivered_event(m, &ev)) {
    // INT3, INT n through a DPL-3 gate, ICEBP: delivered through the mirror IDT to a handler
    // at CPL 0. The host kernel reports the same frame to the process in its signal.
    out->status = RunStatus::kOk;
    out->vector = ev.vector;
    out->error_code = ev.error_code;
    out->fault_addr = 0;
    out->regs.rip = ev.rip;
    out->regs.gpr[4] = ev.rsp;
    out->regs.rflags = ev.rflags;
    out->regs.seg[kCS] = ev.cs;
    out->regs.seg[kSS] = ev.ss;
    out->flags = kOutBasesValid;  // the interrupted code was 64-bit: INT3/INT n/ICEBP are last
  } else if (r.reason & umbra::kExitFault) {
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
  if (snap) {
    snap->rflags = umbra::read_rflags(cpu);
    std::memcpy(snap->seg, cpu.seg, sizeof snap->seg);
    snap->ldtr = cpu.ldtr;
    snap->tr = cpu.tr;
    snap->gdtr = cpu.gdtr;
    snap->idtr = cpu.idtr;
    snap->cr0 = cpu.cr0;
    snap->cr2 = cpu.cr2;
    snap->cr3 = cpu.cr3;
    snap->cr4 = cpu.cr4;
    snap->efer = cpu.efer;
    snap->cpl = cpu.cpl;
    snap->mode64 = cpu.mode64;
    snap->code32 = cpu.code32;
    snap->stack32 = cpu.stack32;
    snap->halted = cpu.halted;
    snap->x87 = cpu.x87;
    snap->mxcsr = cpu.mxcsr;
    std::memcpy(snap->xmm, cpu.xmm, sizeof snap->xmm);
    snap->reason = r.reason;
    snap->vector = r.vector;
    snap->error_code = r.error_code;
    snap->fault_addr = r.fault_addr;
    snap->insns = r.insns;
    std::memcpy(snap->sys_pages, m.memory().ram() + kSysPhys, kSysSize);
  }
}

}  // namespace difftest
