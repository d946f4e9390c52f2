// Host execution of SSE floating-point operations under the guest's MXCSR.
//
// Every SSE/SSE2/SSE3/SSE4.1 floating-point result is computed by the host's own instruction
// (the host is x86-64 with SSE4.1), so rounding, NaN propagation, denormal handling and the
// exception flags are bit-exact by construction. The guest MXCSR's rounding control, DAZ and
// FTZ are loaded into the host MXCSR with every exception masked, the operation runs, the host's
// flags are read back and the host MXCSR is restored. When the guest unmasks an exception that
// is due, the operation is re-run with the guest's masks so the host's own trap decides
// (execute_sse_fp). Header-only and templated on the operation so both the
// interpreter tier and the LLVM tier can call it.
#pragma once

#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>

#include <cstdint>
#include <cstring>

#include "frontend/cpu_state.h"
#include "frontend/system/mode.h"

namespace umbra {

// MXCSR fields (SDM vol. 1, 10.2.3).
namespace mxcsr {
constexpr uint32_t IE = 1u << 0;  // invalid operation
constexpr uint32_t DE = 1u << 1;  // denormal operand
constexpr uint32_t ZE = 1u << 2;  // divide by zero
constexpr uint32_t OE = 1u << 3;  // overflow
constexpr uint32_t UE = 1u << 4;  // underflow
constexpr uint32_t PE = 1u << 5;  // precision
constexpr uint32_t FLAGS = 0x3f;
constexpr uint32_t DAZ = 1u << 6;
constexpr uint32_t MASK_SHIFT = 7;  // IM..PM are the flags shifted left by 7
constexpr uint32_t MASKS = FLAGS << MASK_SHIFT;
constexpr uint32_t UM = UE << MASK_SHIFT;
constexpr uint32_t RC = 3u << 13;
constexpr uint32_t FTZ = 1u << 15;
}  // namespace mxcsr

// A 16-byte value as the host's XMM register operand type.
typedef double HostXmm __attribute__((vector_size(16)));

inline HostXmm to_host(const XmmReg& r) {
  HostXmm v;
  std::memcpy(&v, r.b, 16);
  return v;
}
inline XmmReg from_host(const HostXmm& v) {
  XmmReg r;
  std::memcpy(r.b, &v, 16);
  return r;
}

inline uint32_t read_host_mxcsr() {
  uint32_t v;
  asm volatile("stmxcsr %0" : "=m"(v));
  return v;
}
inline void write_host_mxcsr(uint32_t v) {
  asm volatile("ldmxcsr %0" : : "m"(v) : "memory");
}

// Runs `op()` (which must execute the host instruction itself, in inline asm volatile, so the
// compiler cannot move it across the MXCSR switches) with the guest's RC, DAZ and FTZ and every
// exception masked. FTZ is left off when the guest unmasks underflow: it only takes effect with
// UE masked (SDM vol. 1, 10.2.3.3). Returns the exception flags the host raised (bits 0-5).
template <typename F>
inline uint32_t run_under_guest_mxcsr(uint32_t guest_mxcsr, F&& op) {
  const uint32_t saved = read_host_mxcsr();
  uint32_t control = (guest_mxcsr & (mxcsr::RC | mxcsr::DAZ | mxcsr::FTZ)) | mxcsr::MASKS;
  if (!(guest_mxcsr & mxcsr::UM)) control &= ~mxcsr::FTZ;
  write_host_mxcsr(control);
  op();
  const uint32_t raised = read_host_mxcsr() & mxcsr::FLAGS;
  write_host_mxcsr(saved);
  return raised;
}

// Whether any of the first `lanes` elements (float when E is uint32_t, double when uint64_t) of
// `r` is a nonzero denormal. With underflow unmasked, a tiny result is reported as UE even when
// it is exact (SDM vol. 1, 4.9.1.5); the masked host run reports UE only for tiny and inexact
// results, and an exact tiny result is exactly a denormal, so this finds the missing case.
template <typename E>
inline bool has_denormal_lane(const XmmReg& r, unsigned lanes) {
  constexpr unsigned kMantBits = sizeof(E) == 4 ? 23 : 52;
  constexpr E kExpMask = static_cast<E>(sizeof(E) == 4 ? 0x7f800000u : 0x7ff0000000000000ull);
  constexpr E kMantMask = (E{1} << kMantBits) - 1;
  for (unsigned i = 0; i < lanes; ++i) {
    E e;
    std::memcpy(&e, r.b + i * sizeof(E), sizeof(E));
    if ((e & kExpMask) == 0 && (e & kMantMask) != 0) return true;
  }
  return false;
}

// The unmasked-exception path. The masked run above gives the masked responses and flags, but
// with an unmasked exception the hardware reports what it detected *as unmasked*: no
// post-computation flags after an unmasked pre-computation exception (SDM vol. 1, 11.5.2), UE for
// exact tiny results (4.9.1.5), PE only when the scaled overflow/underflow result is inexact
// (4.9.1.4-5). Rather than model those rules, the operation is run once more on the host under
// the guest's MXCSR exactly as it is, so it really traps; a temporary SIGFPE handler records the
// MXCSR at the trap. This happens only when the masked run shows that an unmasked exception is
// (or may be) due, so the common path never touches signals.
namespace host_fp_detail {
inline thread_local sigjmp_buf* t_trap_jmp = nullptr;
inline thread_local uint32_t t_trap_mxcsr = 0;

inline void on_simd_fp_trap(int sig, siginfo_t*, void* context) {
  if (t_trap_jmp == nullptr) {  // not ours: fall back to the default action
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  t_trap_mxcsr = static_cast<ucontext_t*>(context)->uc_mcontext.fpregs->mxcsr;
  siglongjmp(*t_trap_jmp, 1);
}
}  // namespace host_fp_detail

struct TrappingRun {
  bool trapped;    // the host raised #XM (SIGFPE)
  uint32_t flags;  // exception flags raised (bits 0-5), at the trap or at completion
};

// Runs `op()` with the host MXCSR = the guest's (flags cleared), unmasked exceptions trapping.
template <typename F>
inline TrappingRun run_with_guest_traps(uint32_t guest_mxcsr, F&& op) {
  struct sigaction action {
  }, previous{};
  action.sa_sigaction = &host_fp_detail::on_simd_fp_trap;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  sigaction(SIGFPE, &action, &previous);
  const uint32_t saved = read_host_mxcsr();
  sigjmp_buf jb;
  TrappingRun r{false, 0};
  host_fp_detail::t_trap_jmp = &jb;
  if (sigsetjmp(jb, 1) == 0) {
    write_host_mxcsr(guest_mxcsr & ~mxcsr::FLAGS);
    op();
    r.flags = read_host_mxcsr() & mxcsr::FLAGS;
  } else {
    r.trapped = true;
    r.flags = host_fp_detail::t_trap_mxcsr & mxcsr::FLAGS;
  }
  host_fp_detail::t_trap_jmp = nullptr;
  write_host_mxcsr(saved);
  sigaction(SIGFPE, &previous, nullptr);
  return r;
}

// Delivers an unmasked SIMD floating-point exception: #XM when CR4.OSXMMEXCPT is set, else #UD
// (SDM vol. 1, 11.5.3; vol. 3, 6.15 interrupt 19).
[[noreturn]] inline void raise_simd_fp_exception(CpuState& cpu) {
  raise_fault(cpu, (cpu.cr4 & cr4::OSXMMEXCPT) ? kXM : kUD);
}

// Runs one SSE floating-point operation for the guest: `op()` executes the host instruction on
// copies of the operands and stores its result where the caller will read it (it may run twice);
// `tiny()` says whether the result has a denormal element (see has_denormal_lane; return false
// for operations that cannot underflow). On return the guest MXCSR holds the new sticky flags and
// the caller may write the destination; an unmasked exception instead sets the flags the hardware
// sets and raises #XM/#UD with the destination untouched.
template <typename F, typename Tiny>
inline void execute_sse_fp(CpuState& cpu, F&& op, Tiny&& tiny) {
  uint32_t raised = run_under_guest_mxcsr(cpu.mxcsr, op);
  const uint32_t unmasked = ~(cpu.mxcsr >> mxcsr::MASK_SHIFT) & mxcsr::FLAGS;
  if ((raised & unmasked) || ((unmasked & mxcsr::UE) && tiny())) {
    const TrappingRun t = run_with_guest_traps(cpu.mxcsr, op);
    if (t.trapped) {
      cpu.mxcsr |= t.flags;
      raise_simd_fp_exception(cpu);
    }
    raised = t.flags;
  }
  cpu.mxcsr |= raised;
}

}  // namespace umbra
