// SSE floating-point instructions with a general-purpose register or EFLAGS on one side:
// CVT(T)SS2SI / CVT(T)SD2SI (32 and 64 bits), CVTSI2SS / CVTSI2SD, COMISS/COMISD/UCOMISS/
// UCOMISD. Decoded from real bytes and compared with the host's instruction under the guest
// MXCSR (unmasked exceptions trap on the host), including integer indefinite on out-of-range
// and NaN sources and the GPR/EFLAGS left untouched on an unmasked exception.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/unit/simd_fp_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kMemAddr = 0x20000;
constexpr uint64_t kSentinel = 0xdeadbeefcafebabeull;

// ---- float -> integer ----
using ToIntFn = uint64_t (*)(HostXmm);
struct ToIntCase {
  const char* name;
  std::vector<uint8_t> opcode;  // prefix, [REX.W], 0F, opcode
  unsigned elem;
  bool wide;
  ToIntFn host;
};
#define TOI32(insn)                                  \
  [](HostXmm b) -> uint64_t {                        \
    uint32_t r;                                      \
    asm volatile(insn " %1, %0" : "=r"(r) : "x"(b)); \
    return r;                                        \
  }
#define TOI64(insn)                                  \
  [](HostXmm b) -> uint64_t {                        \
    uint64_t r;                                      \
    asm volatile(insn " %1, %0" : "=r"(r) : "x"(b)); \
    return r;                                        \
  }

const std::vector<ToIntCase>& to_int_cases() {
  static const std::vector<ToIntCase> k = {
      {"cvtss2si32", {0xf3, 0x0f, 0x2d}, 4, false, TOI32("cvtss2si")},
      {"cvtss2si64", {0xf3, 0x48, 0x0f, 0x2d}, 4, true, TOI64("cvtss2si")},
      {"cvttss2si32", {0xf3, 0x0f, 0x2c}, 4, false, TOI32("cvttss2si")},
      {"cvttss2si64", {0xf3, 0x48, 0x0f, 0x2c}, 4, true, TOI64("cvttss2si")},
      {"cvtsd2si32", {0xf2, 0x0f, 0x2d}, 8, false, TOI32("cvtsd2si")},
      {"cvtsd2si64", {0xf2, 0x48, 0x0f, 0x2d}, 8, true, TOI64("cvtsd2si")},
      {"cvttsd2si32", {0xf2, 0x0f, 0x2c}, 8, false, TOI32("cvttsd2si")},
      {"cvttsd2si64", {0xf2, 0x48, 0x0f, 0x2c}, 8, true, TOI64("cvttsd2si")},
  };
  return k;
}

TEST(SimdFpGpr, FloatToIntegerMatchesTheHost) {
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  std::mt19937_64 rng(7);
  unsigned faults = 0, indefinite = 0;
  for (const ToIntCase& k : to_int_cases()) {
    for (int n = 0; n < 3000; ++n) {
      const XmmReg b = hard_xmm(rng, k.elem);
      const uint32_t m = random_mxcsr(rng);
      const bool mem = n & 1;
      c.xmm[2] = b;
      c.mxcsr = m;
      c.gpr[RAX] = kSentinel;
      c.gpr[RBX] = kMemAddr + (n & 6);  // scalar memory operands need no alignment
      for (unsigned i = 0; i < 16; ++i) t.write<uint8_t>(c.gpr[RBX] + i, b.b[i]);
      std::vector<uint8_t> bytes = k.opcode;
      bytes.push_back(mem ? 0x03 : 0xc2);  // rax/eax, [rbx] or xmm2
      const Outcome o = exec_bytes(t, bytes);

      uint64_t expect = kSentinel;
      const HostXmm y = to_host(b);
      const OracleRun r = host_oracle(m, [&] { expect = k.host(y); });
      if (!r.fault) {
        if (!k.wide) expect = static_cast<uint32_t>(expect);  // 32-bit writes zero-extend
        if (expect == (k.wide ? 0x8000000000000000ull : 0x80000000ull)) ++indefinite;
      }
      SCOPED_TRACE(testing::Message() << k.name << (mem ? " mem" : " reg") << " mxcsr=" << std::hex
                                      << m << " b=" << hex_xmm(b));
      EXPECT_EQ(o.faulted, r.fault);
      faults += o.faulted;
      EXPECT_EQ(c.mxcsr, r.mxcsr);
      EXPECT_EQ(c.gpr[RAX], expect);
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(faults, 50u);
  EXPECT_GT(indefinite, 200u);
}

// ---- integer -> float ----
using FromIntFn = void (*)(HostXmm&, uint64_t);
struct FromIntCase {
  const char* name;
  std::vector<uint8_t> opcode;
  bool wide;
  FromIntFn host;
};
#define FROMI(insn, T)                               \
  [](HostXmm& a, uint64_t v) {                       \
    T x = static_cast<T>(v);                         \
    asm volatile(insn " %1, %0" : "+x"(a) : "r"(x)); \
  }

TEST(SimdFpGpr, IntegerToFloatMatchesTheHost) {
  const std::vector<FromIntCase> cases = {
      {"cvtsi2ss32", {0xf3, 0x0f, 0x2a}, false, FROMI("cvtsi2ssl", uint32_t)},
      {"cvtsi2ss64", {0xf3, 0x48, 0x0f, 0x2a}, true, FROMI("cvtsi2ssq", uint64_t)},
      {"cvtsi2sd32", {0xf2, 0x0f, 0x2a}, false, FROMI("cvtsi2sdl", uint32_t)},
      {"cvtsi2sd64", {0xf2, 0x48, 0x0f, 0x2a}, true, FROMI("cvtsi2sdq", uint64_t)},
  };
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  std::mt19937_64 rng(9);
  const uint64_t kInts[] = {0,
                            1,
                            ~0ull,
                            0x80000000ull,
                            0x7fffffffull,
                            0x8000000000000000ull,
                            0x7fffffffffffffffull,
                            0x1000001ull,
                            0x20000000000001ull,
                            0xffffffff80000001ull};
  unsigned faults = 0;
  for (const FromIntCase& k : cases) {
    for (int n = 0; n < 3000; ++n) {
      const uint64_t v = (n % 3 == 0) ? kInts[rng() % 10] : (rng() >> (rng() % 64));
      const XmmReg a = hard_xmm(rng, 4);
      const uint32_t m = random_mxcsr(rng);
      const bool mem = n & 1;
      c.xmm[1] = a;
      c.mxcsr = m;
      c.gpr[RBX] = v;
      c.gpr[RSI] = kMemAddr + 3;
      t.write<uint64_t>(kMemAddr + 3, v);
      std::vector<uint8_t> bytes = k.opcode;
      bytes.push_back(mem ? 0x0e : 0xcb);  // xmm1, [rsi] or ebx/rbx
      const Outcome o = exec_bytes(t, bytes);

      HostXmm x = to_host(a);
      XmmReg expect = a;
      const uint64_t hv = k.wide ? v : static_cast<uint32_t>(v);
      const OracleRun r = host_oracle(m, [&] {
        k.host(x, hv);
        expect = from_host(x);
      });
      SCOPED_TRACE(testing::Message() << k.name << (mem ? " mem" : " reg") << " mxcsr=" << std::hex
                                      << m << " v=" << v);
      EXPECT_EQ(o.faulted, r.fault);
      faults += o.faulted;
      EXPECT_EQ(c.mxcsr, r.mxcsr);
      EXPECT_TRUE(same_xmm(c.xmm[1], expect)) << hex_xmm(c.xmm[1]) << " vs " << hex_xmm(expect);
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(faults, 20u);  // unmasked PE on inexact conversions
}

// ---- COMIS / UCOMIS ----
using ComiFn = uint64_t (*)(HostXmm, HostXmm);
#define COMI(insn)                                                                      \
  [](HostXmm a, HostXmm b) -> uint64_t {                                                \
    bool z, p, cf, o, s;                                                                \
    asm volatile(insn " %6, %5"                                                         \
                 : "=@ccz"(z), "=@ccp"(p), "=@ccc"(cf), "=@cco"(o), "=@ccs"(s)          \
                 : "x"(a), "x"(b));                                                     \
    return (z ? rf::ZF : 0) | (p ? rf::PF : 0) | (cf ? rf::CF : 0) | (o ? rf::OF : 0) | \
           (s ? rf::SF : 0);                                                            \
  }

TEST(SimdFpGpr, ComisMatchesTheHost) {
  struct ComiCase {
    const char* name;
    std::vector<uint8_t> opcode;
    unsigned elem;
    ComiFn host;
  };
  const std::vector<ComiCase> cases = {
      {"comiss", {0x0f, 0x2f}, 4, COMI("comiss")},
      {"comisd", {0x66, 0x0f, 0x2f}, 8, COMI("comisd")},
      {"ucomiss", {0x0f, 0x2e}, 4, COMI("ucomiss")},
      {"ucomisd", {0x66, 0x0f, 0x2e}, 8, COMI("ucomisd")},
  };
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  std::mt19937_64 rng(11);
  unsigned faults = 0;
  for (const ComiCase& k : cases) {
    for (int n = 0; n < 3000; ++n) {
      XmmReg a = hard_xmm(rng, k.elem);
      XmmReg b = (n % 5 == 0) ? a : hard_xmm(rng, k.elem);  // equal operands too
      const uint32_t m = random_mxcsr(rng);
      const bool mem = n & 1;
      c.xmm[1] = a;
      c.xmm[2] = b;
      c.mxcsr = m;
      const uint64_t before = rf::FIXED1 | rf::ARITH;
      c.rflags = before;
      c.lazy.op = kLazyNone;
      c.gpr[RBX] = kMemAddr + 4;
      for (unsigned i = 0; i < 16; ++i) t.write<uint8_t>(kMemAddr + 4 + i, b.b[i]);
      std::vector<uint8_t> bytes = k.opcode;
      bytes.push_back(mem ? 0x0b : 0xca);
      const Outcome o = exec_bytes(t, bytes);

      uint64_t expect = before & rf::ARITH;
      const OracleRun r = host_oracle(m, [&] { expect = k.host(to_host(a), to_host(b)); });
      SCOPED_TRACE(testing::Message() << k.name << (mem ? " mem" : " reg") << " mxcsr=" << std::hex
                                      << m << " a=" << hex_xmm(a) << " b=" << hex_xmm(b));
      EXPECT_EQ(o.faulted, r.fault);
      faults += o.faulted;
      EXPECT_EQ(c.mxcsr, r.mxcsr);
      const uint64_t got = arith_flags(c);
      if (r.fault) {
        EXPECT_EQ(got, before & rf::ARITH);
      } else {
        // OF, SF and AF are cleared (AF is not observable through the asm flag outputs).
        EXPECT_EQ(got, expect);
      }
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(faults, 50u);
}

}  // namespace
}  // namespace umbra::test
