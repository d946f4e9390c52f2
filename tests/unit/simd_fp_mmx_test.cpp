// The conversions with an MMX operand (CVTPI2PS, CVTPS2PI, CVTTPS2PI, CVTPI2PD, CVTPD2PI,
// CVTTPD2PI) decoded from real bytes and compared with the host's own MMX-form instruction, plus
// the x87 -> MMX transition, #MF on a pending x87 exception and the m128 alignment rule.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/unit/simd_fp_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kMemAddr = 0x20000;

uint64_t mm_of(const CpuState& c, unsigned r) {
  uint64_t v;
  std::memcpy(&v, c.x87.st[r], 8);
  return v;
}

// Host CVT*2PI into mm0, stored to memory; EMMS afterwards (also after a trap) so the host's x87
// state is left as it was.
#define TO_PI(insn)                                                                           \
  [](HostXmm b) -> uint64_t {                                                                 \
    uint64_t out;                                                                             \
    asm volatile(insn " %1, %%mm0\n\tmovq %%mm0, %0" : "=m"(out) : "x"(b) : "mm0", "memory"); \
    return out;                                                                               \
  }

TEST(SimdFpMmx, ToMmxMatchesTheHost) {
  struct Case {
    const char* name;
    std::vector<uint8_t> opcode;
    unsigned elem;
    unsigned mem_bytes;
    uint64_t (*host)(HostXmm);
  };
  const std::vector<Case> cases = {
      {"cvtps2pi", {0x0f, 0x2d}, 4, 8, TO_PI("cvtps2pi")},
      {"cvttps2pi", {0x0f, 0x2c}, 4, 8, TO_PI("cvttps2pi")},
      {"cvtpd2pi", {0x66, 0x0f, 0x2d}, 8, 16, TO_PI("cvtpd2pi")},
      {"cvttpd2pi", {0x66, 0x0f, 0x2c}, 8, 16, TO_PI("cvttpd2pi")},
  };
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  std::mt19937_64 rng(13);
  unsigned faults = 0;
  for (const Case& k : cases) {
    for (int n = 0; n < 3000; ++n) {
      const XmmReg b = hard_xmm(rng, k.elem);
      const uint32_t m = random_mxcsr(rng);
      const bool mem = n & 1;
      c.xmm[2] = b;
      c.mxcsr = m;
      std::memset(c.x87.st[1], 0x11, 16);
      c.x87.fsw = 0x3800;  // TOP = 7
      c.x87.ftw = 0xffff;
      c.gpr[RBX] = kMemAddr;
      for (unsigned i = 0; i < 16; ++i) t.write<uint8_t>(kMemAddr + i, b.b[i]);
      std::vector<uint8_t> bytes = k.opcode;
      bytes.push_back(mem ? 0x0b : 0xca);  // mm1, [rbx] or xmm2
      const Outcome o = exec_bytes(t, bytes);

      XmmReg hb = b;
      if (k.mem_bytes == 8) std::memset(hb.b + 8, 0, 8);
      const HostXmm y = to_host(hb);
      uint64_t expect = 0x1111111111111111ull;
      const OracleRun r = host_oracle(m, [&] { expect = k.host(y); });
      asm volatile("emms");
      SCOPED_TRACE(testing::Message() << k.name << (mem ? " mem" : " reg") << " mxcsr=" << std::hex
                                      << m << " b=" << hex_xmm(b));
      EXPECT_EQ(o.faulted, r.fault);
      faults += o.faulted;
      EXPECT_EQ(c.mxcsr, r.mxcsr);
      EXPECT_EQ(mm_of(c, 1), expect);
      // The x87 -> MMX transition happens even when the conversion raises #XM/#UD (the host
      // does it first: fp_bugs.md entry 2); the destination is written only without a fault.
      EXPECT_EQ(c.x87.fsw & 0x3800, 0);
      EXPECT_EQ(c.x87.ftw, 0);
      if (!o.faulted) {
        EXPECT_EQ(c.x87.st[1][8], 0xff);
        EXPECT_EQ(c.x87.st[1][9], 0xff);
      }
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(faults, 50u);
}

TEST(SimdFpMmx, FromMmxMatchesTheHost) {
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  std::mt19937_64 rng(17);
  for (int pd = 0; pd < 2; ++pd) {
    for (int n = 0; n < 3000; ++n) {
      const uint64_t ints = (n % 4 == 0) ? 0x800000007fffffffull : (rng() >> (rng() % 64));
      const XmmReg a = hard_xmm(rng, 4);
      const uint32_t m = random_mxcsr(rng);
      const bool mem = n & 1;
      c.xmm[1] = a;
      c.mxcsr = m;
      std::memcpy(c.x87.st[2], &ints, 8);
      c.x87.fsw = 0x3800;
      c.x87.ftw = 0xffff;
      c.gpr[RBX] = kMemAddr + 4;  // m64: no alignment requirement
      t.write<uint64_t>(kMemAddr + 4, ints);
      std::vector<uint8_t> bytes =
          pd ? std::vector<uint8_t>{0x66, 0x0f, 0x2a} : std::vector<uint8_t>{0x0f, 0x2a};
      bytes.push_back(mem ? 0x0b : 0xca);  // xmm1, [rbx] or mm2
      const Outcome o = exec_bytes(t, bytes);

      HostXmm x = to_host(a);
      XmmReg expect = a;
      const OracleRun r = host_oracle(m, [&] {
        if (pd)
          asm volatile("cvtpi2pd %1, %0" : "+x"(x) : "m"(ints));
        else
          asm volatile("cvtpi2ps %1, %0" : "+x"(x) : "m"(ints));
        expect = from_host(x);
      });
      SCOPED_TRACE(testing::Message() << (pd ? "cvtpi2pd" : "cvtpi2ps") << " mxcsr=" << std::hex
                                      << m << " ints=" << ints);
      EXPECT_EQ(o.faulted, r.fault);
      EXPECT_EQ(c.mxcsr, r.mxcsr);
      EXPECT_TRUE(same_xmm(c.xmm[1], expect)) << hex_xmm(c.xmm[1]) << " vs " << hex_xmm(expect);
      // Only the MMX-register form makes the x87 -> MMX transition.
      if (!o.faulted) {
        EXPECT_EQ(c.x87.ftw, mem ? 0xffff : 0);
      }
      if (HasFailure()) return;
    }
  }
}

TEST(SimdFpMmx, PendingX87ExceptionAndAlignment) {
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  c.cr0 |= cr0::NE;
  c.cr0 |= cr0::NE;
  c.x87.fsw = 0x0081;                                        // ES + IE pending
  EXPECT_EQ(exec_bytes(t, {0x0f, 0x2d, 0xca}).vector, kMF);  // cvtps2pi mm1, xmm2
  EXPECT_EQ(exec_bytes(t, {0x0f, 0x2a, 0xca}).vector, kMF);  // cvtpi2ps xmm1, mm2
  c.gpr[RBX] = kMemAddr;
  EXPECT_FALSE(exec_bytes(t, {0x0f, 0x2a, 0x0b}).faulted);  // memory source: no #MF
  c.x87.fsw = 0;
  c.gpr[RBX] = kMemAddr + 8;
  const Outcome o = exec_bytes(t, {0x66, 0x0f, 0x2d, 0x0b});  // cvtpd2pi mm1, [rbx]
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_FALSE(exec_bytes(t, {0x0f, 0x2d, 0x0b}).faulted);  // cvtps2pi: m64, any alignment
}

}  // namespace
}  // namespace umbra::test
