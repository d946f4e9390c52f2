// Helpers for the SSE floating-point tests (simd_fp_*_test.cpp): decode real encodings and run
// them on a TestCpu, generate hard-case operands, and run the host's own instruction as the
// oracle under the guest MXCSR *unmodified* (unmasked exceptions really trap on the host; the
// SIGFPE handler records the MXCSR at the trap), so the emulator's masked-run-plus-resolution
// scheme is checked against what the hardware does, including the #XM decision.
#pragma once

#include <gtest/gtest.h>
#include <setjmp.h>
#include <signal.h>
#include <ucontext.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "frontend/decoder.h"
#include "frontend/fpu/host_fp.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {

// Decodes `b` in 64-bit mode and runs the instruction once, catching a fault; RIP is put back
// so the same TestCpu can run the next encoding at the same place.
inline Outcome exec_bytes(TestCpu& t, const std::vector<uint8_t>& b) {
  const uint64_t rip = t.cpu().rip;
  const Outcome o = exec_decoded(t, b);
  t.cpu().rip = rip;
  return o;
}

// A TestCpu in 64-bit mode with SSE enabled (CR4.OSFXSR) and CR4.OSXMMEXCPT.
inline void enter_sse_mode(CpuState& c) {
  enter_long_mode(c);
  c.cr4 |= cr4::OSFXSR | cr4::OSXMMEXCPT;
  c.mxcsr = 0x1f80;
}

// ---- host oracle with real traps ----
inline sigjmp_buf g_oracle_jmp;
inline volatile uint32_t g_oracle_fault_mxcsr;

inline void oracle_sigfpe(int, siginfo_t*, void* ctx) {
  auto* uc = static_cast<ucontext_t*>(ctx);
  g_oracle_fault_mxcsr = uc->uc_mcontext.fpregs->mxcsr;
  siglongjmp(g_oracle_jmp, 1);
}

struct OracleRun {
  bool fault = false;
  uint32_t mxcsr = 0;
};

// Runs `f` (host inline asm) with the host MXCSR = `guest_mxcsr`. An unmasked exception traps:
// the result reports fault and the MXCSR at the trap.
template <typename F>
inline OracleRun host_oracle(uint32_t guest_mxcsr, F&& f) {
  struct sigaction sa {
  }, old{};
  sa.sa_sigaction = &oracle_sigfpe;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGFPE, &sa, &old);
  const uint32_t saved = read_host_mxcsr();
  OracleRun r;
  if (sigsetjmp(g_oracle_jmp, 1) == 0) {
    write_host_mxcsr(guest_mxcsr);
    f();
    r.mxcsr = read_host_mxcsr();
  } else {
    r.fault = true;
    r.mxcsr = g_oracle_fault_mxcsr;
  }
  write_host_mxcsr(saved);
  sigaction(SIGFPE, &old, nullptr);
  return r;
}

// ---- operand generation ----
inline uint32_t hard_float(std::mt19937_64& rng) {
  static const uint32_t kCases[] = {
      0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000, 0x7fc00000,
      0xffc00000, 0x7fc12345, 0xffd54321, 0x7f812345, 0xff800001, 0x7fa00000, 0x00000001,
      0x80000001, 0x007fffff, 0x807fffff, 0x00400000, 0x00800000, 0x80800000, 0x7f7fffff,
      0xff7fffff, 0x4f000000, 0xcf000000, 0x4effffff, 0xcf000001, 0x5f000000, 0xdf000000,
      0x5effffff, 0xdf000001, 0x3f000000, 0x3fc00000, 0x40200000, 0xbfc00000, 0x00800001,
      0x0c000000, 0x73800000, 0x34000000};
  switch (rng() % 4) {
    case 0:
      return kCases[rng() % (sizeof(kCases) / sizeof(kCases[0]))];
    case 1:
      return static_cast<uint32_t>(rng());
    default: {
      // Values around 1 and in the exponent ranges where products and sums under/overflow.
      const uint32_t exp_choices[] = {127, 126, 150, 1, 2, 20, 100, 200, 254, 253, 0};
      const uint32_t e = exp_choices[rng() % 11];
      return static_cast<uint32_t>((rng() & 0x807fffffu) | (e << 23));
    }
  }
}

inline uint64_t hard_double(std::mt19937_64& rng) {
  static const uint64_t kCases[] = {
      0x0000000000000000, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
      0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000, 0xfff8000000000000,
      0x7ff8000000012345, 0xfffc000000054321, 0x7ff0000000012345, 0xfff0000000000001,
      0x0000000000000001, 0x8000000000000001, 0x000fffffffffffff, 0x0010000000000000,
      0x7fefffffffffffff, 0xffefffffffffffff, 0x41e0000000000000, 0xc1e0000000000000,
      0x41dfffffffffffff, 0xc1e0000000200000, 0x43e0000000000000, 0xc3e0000000000000,
      0x43dfffffffffffff, 0xc3e0000000000001, 0x3fe0000000000000, 0x3ff8000000000000,
      0x4004000000000000, 0x47efffffe0000000, 0x47f0000000000000, 0x3810000000000000,
      0x36a0000000000000, 0x380fffffffffffff, 0x3e70000000000000};
  switch (rng() % 4) {
    case 0:
      return kCases[rng() % (sizeof(kCases) / sizeof(kCases[0]))];
    case 1:
      return rng();
    default: {
      const uint64_t exp_choices[] = {1023, 1022, 1075, 1,   2,   100,  800, 1200,
                                      2046, 2045, 0,    897, 896, 1150, 1151};
      const uint64_t e = exp_choices[rng() % 15];
      return (rng() & 0x800fffffffffffffull) | (e << 52);
    }
  }
}

// 16 bytes of hard-case elements of 4 (floats) or 8 (doubles) bytes.
inline XmmReg hard_xmm(std::mt19937_64& rng, unsigned elem) {
  XmmReg r;
  for (unsigned i = 0; i < 16; i += elem) {
    if (elem == 4) {
      const uint32_t v = hard_float(rng);
      std::memcpy(r.b + i, &v, 4);
    } else {
      const uint64_t v = hard_double(rng);
      std::memcpy(r.b + i, &v, 8);
    }
  }
  return r;
}

// A guest MXCSR: random rounding mode, DAZ and FTZ; usually everything masked, sometimes random
// masks (so unmasked exceptions are exercised); sometimes sticky flags already set.
inline uint32_t random_mxcsr(std::mt19937_64& rng) {
  uint32_t m = static_cast<uint32_t>(rng() & (mxcsr::RC | mxcsr::DAZ | mxcsr::FTZ));
  m |= (rng() % 3 == 0) ? static_cast<uint32_t>(rng() & mxcsr::MASKS) : mxcsr::MASKS;
  if (rng() % 4 == 0) m |= static_cast<uint32_t>(rng() & mxcsr::FLAGS);
  return m;
}

inline bool same_xmm(const XmmReg& a, const XmmReg& b) {
  return std::memcmp(a.b, b.b, 16) == 0;
}

inline std::string hex_xmm(const XmmReg& r) {
  char buf[40];
  uint64_t lo, hi;
  std::memcpy(&lo, r.b, 8);
  std::memcpy(&hi, r.b + 8, 8);
  std::snprintf(buf, sizeof(buf), "%016llx:%016llx", static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

}  // namespace umbra::test
