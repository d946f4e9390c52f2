// XSAVE, XSAVEOPT, XRSTOR, XGETBV and XSETBV through the real decoder, CPUID leaf 0DH, and the
// host's XSAVE image of the same state as the oracle.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "frontend/semantics/fp_state.h"
#include "tests/unit/fp_state_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kArea = 0x9000;  // 64-byte aligned

template <typename T>
T at(const uint8_t* p, unsigned off) {
  T v;
  std::memcpy(&v, p + off, sizeof(T));
  return v;
}

class FpStateXsave : public ::testing::Test {
 protected:
  void SetUp() override {
    enter_fp_long_mode(t.cpu());
    t.cpu().gpr[RBX] = kArea;
    t.cpu().gpr[RAX] = ~uint64_t{0};
    t.cpu().gpr[RDX] = ~uint64_t{0};
  }
  uint8_t* mem(uint64_t a) { return t.mem().ram() + a; }
  Outcome run(std::initializer_list<uint8_t> b, bool mode64 = true) {
    return exec_bytes(t, std::vector<uint8_t>(b), mode64);
  }
  void set_state() {
    auto& c = t.cpu();
    c.x87.fcw = 0x027F;
    c.x87.fsw = 0x3800;  // TOP = 7
    c.x87.ftw = 0x3FFF;  // R7 valid
    c.x87.st[7][7] = 0x80;
    c.x87.st[7][8] = 0xFF;
    c.x87.st[7][9] = 0x3F;  // 1.0
    c.x87.fop = 0x123;
    c.x87.fip = 0x401000;
    c.x87.fdp = 0x602000;
    c.mxcsr = 0x1FA0;
    for (unsigned r = 0; r < 16; ++r)
      for (unsigned b = 0; b < 16; ++b) c.xmm[r].b[b] = static_cast<uint8_t>(0xA0 + r + b);
  }
  TestCpu t;
};

TEST_F(FpStateXsave, XsaveWritesLegacyRegionAndXstateBv) {
  set_state();
  std::memset(mem(kArea), 0xEE, 1024);
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x23}).faulted);  // xsave64 [rbx]
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(at<uint16_t>(m, 0), 0x027F);
  EXPECT_EQ(m[4], 0x80);
  EXPECT_EQ(at<uint64_t>(m, 8), 0x401000u);
  EXPECT_EQ(at<uint32_t>(m, 24), 0x1FA0u);
  EXPECT_EQ(at<uint32_t>(m, 28), 0xFFFFu);
  EXPECT_EQ(m[32 + 9], 0x3F);  // ST0 = R7
  EXPECT_EQ(std::memcmp(m + 160 + 16 * 15, t.cpu().xmm[15].b, 16), 0);
  for (unsigned b = 416; b < 512; ++b) ASSERT_EQ(m[b], 0xEE) << b;
  // XSTATE_BV = 0xEE..EE with bits 0, 1 from XINUSE (both in use); the rest of the header is
  // not written.
  EXPECT_EQ(at<uint64_t>(m, 512), 0xEEEEEEEEEEEEEEEFu);
  for (unsigned b = 520; b < 576; ++b) ASSERT_EQ(m[b], 0xEE) << b;
}

TEST_F(FpStateXsave, RequestedFeatureBitmapSelectsComponents) {
  set_state();
  auto& c = t.cpu();
  std::memset(mem(kArea), 0xEE, 1024);
  c.gpr[RAX] = 1;  // x87 only
  c.gpr[RDX] = 0;
  ASSERT_FALSE(run({0x0f, 0xae, 0x23}).faulted);
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(at<uint16_t>(m, 0), 0x027F);
  EXPECT_EQ(at<uint32_t>(m, 24), 0xEEEEEEEEu);  // MXCSR belongs to SSE
  EXPECT_EQ(m[160], 0xEE);
  EXPECT_EQ(at<uint64_t>(m, 512), 0xEEEEEEEEEEEEEEEFu);  // bit 1 kept
  std::memset(mem(kArea), 0xEE, 1024);
  c.gpr[RAX] = 2;  // SSE only
  c.xcr0 = 1;      // ... but XCR0 does not enable it: nothing but XSTATE_BV's RFBM bits (none)
  ASSERT_FALSE(run({0x0f, 0xae, 0x23}).faulted);
  EXPECT_EQ(m[0], 0xEE);
  EXPECT_EQ(m[160], 0xEE);
  EXPECT_EQ(at<uint64_t>(m, 512), 0xEEEEEEEEEEEEEEEEu);
}

TEST_F(FpStateXsave, XsaveoptSkipsComponentsInInitialConfiguration) {
  auto& c = t.cpu();
  set_state();
  for (auto& r : c.xmm) std::memset(r.b, 0, 16);
  std::memset(mem(kArea), 0xEE, 1024);
  ASSERT_FALSE(run({0x0f, 0xae, 0x33}).faulted);  // xsaveopt [rbx]
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(at<uint16_t>(m, 0), 0x027F);
  EXPECT_EQ(at<uint32_t>(m, 24), 0x1FA0u);  // MXCSR saved whatever XINUSE[1]
  EXPECT_EQ(m[160], 0xEE);
  EXPECT_EQ(at<uint64_t>(m, 512) & 3, 1u);
  // XSAVE (not OPT) writes the zero XMM registers, XSTATE_BV[1] still 0.
  ASSERT_FALSE(run({0x0f, 0xae, 0x23}).faulted);
  EXPECT_EQ(m[160], 0);
  EXPECT_EQ(at<uint64_t>(m, 512) & 3, 1u);
}

TEST_F(FpStateXsave, XrstorLoadsOrInitialisesEachComponent) {
  auto& c = t.cpu();
  set_state();
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x23}).faulted);
  const CpuState saved = c;
  // Load everything back after scribbling.
  c.x87.fcw = 0;
  c.mxcsr = 0;
  std::memset(c.xmm, 0x55, sizeof(c.xmm));
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x2b}).faulted);  // xrstor64 [rbx]
  EXPECT_EQ(c.x87.fcw, saved.x87.fcw);
  EXPECT_EQ(c.x87.ftw, saved.x87.ftw);
  EXPECT_EQ(c.x87.fip, saved.x87.fip);
  EXPECT_EQ(c.mxcsr, saved.mxcsr);
  EXPECT_EQ(std::memcmp(c.xmm, saved.xmm, sizeof(c.xmm)), 0);
  // XSTATE_BV = 0: both components initialised, MXCSR still loaded from memory.
  std::memset(mem(kArea + 512), 0, 8);
  const uint32_t mx = 0x7F80;
  std::memcpy(mem(kArea + 24), &mx, 4);
  ASSERT_FALSE(run({0x0f, 0xae, 0x2b}).faulted);
  EXPECT_EQ(c.x87.fcw, 0x037F);
  EXPECT_EQ(c.x87.ftw, 0xFFFF);
  EXPECT_EQ(c.x87.fip, 0u);
  EXPECT_EQ(c.x87.st[7][9], 0);
  EXPECT_EQ(c.mxcsr, 0x7F80u);
  for (auto& r : c.xmm)
    for (uint8_t b : r.b) ASSERT_EQ(b, 0);
  // RFBM = 0: nothing changes.
  c.mxcsr = 0x1F80;
  c.gpr[RAX] = 0;
  c.gpr[RDX] = 0;
  c.x87.fcw = 0x7F;
  ASSERT_FALSE(run({0x0f, 0xae, 0x2b}).faulted);
  EXPECT_EQ(c.mxcsr, 0x1F80u);
  EXPECT_EQ(c.x87.fcw, 0x7F);
}

TEST_F(FpStateXsave, XrstorHeaderAndMxcsrFaults) {
  auto& c = t.cpu();
  set_state();
  ASSERT_FALSE(run({0x0f, 0xae, 0x23}).faulted);
  c.x87.fcw = 0x0123;
  struct Bad {
    unsigned off;
    uint64_t v;
  };
  for (Bad b : {Bad{512, 7}, Bad{512, 1ull << 63}, Bad{520, 1ull << 63}, Bad{520, 3}, Bad{528, 1},
                Bad{24, 0x11F80}}) {
    uint8_t keep[8];
    std::memcpy(keep, mem(kArea + b.off), 8);
    if (b.off == 24)
      std::memcpy(mem(kArea + 24), &b.v, 4);
    else
      std::memcpy(mem(kArea + b.off), &b.v, 8);
    EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x2b})), kGP) << b.off << " " << b.v;
    EXPECT_EQ(c.x87.fcw, 0x0123) << b.off;
    std::memcpy(mem(kArea + b.off), keep, 8);
  }
  // Bytes 24-63 of the header are not checked by the standard form.
  mem(kArea + 540)[0] = 1;
  EXPECT_FALSE(run({0x0f, 0xae, 0x2b}).faulted);
}

TEST_F(FpStateXsave, AlignmentAndEnablingFaults) {
  auto& c = t.cpu();
  std::memset(mem(kArea), 0xEE, 2048);
  for (uint64_t off : {16u, 32u, 48u, 8u}) {
    c.gpr[RBX] = kArea + off;
    EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x23})), kGP);
    EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x2b})), kGP);
    EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x33})), kGP);
  }
  for (unsigned b = 0; b < 2048; ++b) ASSERT_EQ(mem(kArea)[b], 0xEE);
  c.gpr[RBX] = kArea;
  c.cr0 |= cr0::TS;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x23})), kNM);
  c.cr0 = (c.cr0 & ~cr0::TS) | cr0::EM;  // EM does not matter to XSAVE
  EXPECT_FALSE(run({0x0f, 0xae, 0x23}).faulted);
  c.cr0 &= ~cr0::EM;
  c.cr4 &= ~cr4::OSXSAVE;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x23})), kUD);
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x2b})), kUD);
  EXPECT_EQ(fault_of(run({0x0f, 0x01, 0xd0})), kUD);
  EXPECT_EQ(fault_of(run({0x0f, 0x01, 0xd1})), kUD);
}

TEST_F(FpStateXsave, XgetbvXsetbvRules) {
  auto& c = t.cpu();
  c.gpr[RCX] = 0;
  c.gpr[RAX] = 1;
  c.gpr[RDX] = 0;
  ASSERT_FALSE(run({0x0f, 0x01, 0xd1}).faulted);  // xsetbv: XCR0 = 1
  c.gpr[RAX] = c.gpr[RDX] = ~uint64_t{0};
  ASSERT_FALSE(run({0x0f, 0x01, 0xd0}).faulted);  // xgetbv
  EXPECT_EQ(c.gpr[RAX], 1u);
  EXPECT_EQ(c.gpr[RDX], 0u);
  struct Case {
    uint64_t rcx, rax, rdx;
  };
  for (Case k : {Case{0, 0, 0}, Case{0, 2, 0}, Case{0, 7, 0}, Case{0, 5, 0}, Case{0, 3, 1},
                 Case{1, 3, 0}, Case{0, 0x200 | 3, 0}}) {
    c.gpr[RCX] = k.rcx;
    c.gpr[RAX] = k.rax;
    c.gpr[RDX] = k.rdx;
    EXPECT_EQ(fault_of(run({0x0f, 0x01, 0xd1})), kGP) << k.rcx << " " << k.rax << " " << k.rdx;
    EXPECT_EQ(c.xcr0, 1u);
  }
  c.gpr[RCX] = 0xFFFFFFFF00000000;  // only ECX counts
  c.gpr[RAX] = 0xFFFFFFFF00000003;  // only EAX counts
  c.gpr[RDX] = 0xFFFFFFFF00000000;
  ASSERT_FALSE(run({0x0f, 0x01, 0xd1}).faulted);
  EXPECT_EQ(c.xcr0, 3u);
  c.gpr[RCX] = 1;  // XGETBV_ECX1 is not advertised
  EXPECT_EQ(fault_of(run({0x0f, 0x01, 0xd0})), kGP);
  // XSETBV needs CPL 0; XGETBV does not.
  enter_fp_long_mode(c, 3);
  c.gpr[RCX] = 0;
  c.gpr[RAX] = 3;
  c.gpr[RDX] = 0;
  EXPECT_EQ(fault_of(run({0x0f, 0x01, 0xd1})), kGP);
  EXPECT_FALSE(run({0x0f, 0x01, 0xd0}).faulted);
  EXPECT_EQ(c.gpr[RAX], 3u);
}

TEST_F(FpStateXsave, ProtectedModeUsesEightXmmRegisters) {
  auto& c = t.cpu();
  set_state();
  enter_protected32(c);
  c.cpu_model = &fp_test_model();
  c.cr4 |= cr4::OSFXSR | cr4::OSXSAVE;
  c.gpr[RBX] = kArea;
  c.gpr[RAX] = 3;
  c.gpr[RDX] = 0;
  std::memset(mem(kArea), 0xEE, 1024);
  ASSERT_FALSE(run({0x0f, 0xae, 0x23}, false).faulted);  // xsave [ebx]
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(at<uint32_t>(m, 8), 0x401000u);  // 32-bit format
  EXPECT_EQ(std::memcmp(m + 160 + 16 * 7, c.xmm[7].b, 16), 0);
  for (unsigned b = 288; b < 512; ++b) ASSERT_EQ(m[b], 0xEE) << b;
  EXPECT_EQ(at<uint64_t>(m, 512), 0xEEEEEEEEEEEEEEEFu);
  // XRSTOR with XSTATE_BV[1] = 0 (and a clean header) clears XMM0-7 only.
  std::memset(mem(kArea + 512), 0, 64);
  ASSERT_FALSE(run({0x0f, 0xae, 0x2b}, false).faulted);
  EXPECT_EQ(c.xmm[7].b[0], 0);
  EXPECT_EQ(c.xmm[8].b[0], 0xA8);
}

TEST(FpStateCpuid, Leaf0D) {
  uint32_t r[4];
  cpuid(fp_test_model(), 0xD, 0, r);
  EXPECT_EQ(r[0], 3u);
  EXPECT_EQ(r[1], 576u);
  EXPECT_EQ(r[2], 576u);
  EXPECT_EQ(r[3], 0u);
  cpuid(fp_test_model(), 0xD, 1, r);
  EXPECT_EQ(r[0], 1u);  // XSAVEOPT only
  cpuid(fp_test_model(), 0xD, 2, r);
  EXPECT_EQ(r[0] | r[1] | r[2] | r[3], 0u);
  // The default model is the test model as far as leaf 0DH goes; a model without XSAVE has an
  // empty leaf.
  for (uint32_t sub : {0u, 1u, 2u}) {
    uint32_t d[4], f[4];
    cpuid(default_cpu_model(), 0xD, sub, d);
    cpuid(fp_test_model(), 0xD, sub, f);
    EXPECT_EQ(std::memcmp(d, f, sizeof d), 0) << sub;
    cpuid(fp_bare_model(), 0xD, sub, d);
    EXPECT_EQ(d[0] | d[1] | d[2] | d[3], 0u) << sub;
  }
}

// Host oracle: the same state loaded on the host with FXRSTOR64, then XSAVE64 with RFBM = 3.
TEST_F(FpStateXsave, MatchesHostXsave) {
  auto& c = t.cpu();
  set_state();
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x03}).faulted);  // fxsave64: the state as an image
  alignas(64) uint8_t img[512];
  std::memcpy(img, mem(kArea), 512);
  alignas(64) static uint8_t host[4096];
  alignas(16) uint8_t backup[512];
  std::memset(host, 0, sizeof(host));
  asm volatile(
      "fxsave64 %0\n\t"
      "fxrstor64 %1\n\t"
      "xsave64 %2\n\t"
      "fxrstor64 %0\n\t"
      : "+m"(backup), "+m"(img), "+m"(host)
      : "a"(3), "d"(0)
      : "memory");
  std::memset(mem(kArea), 0, 1024);
  c.gpr[RAX] = 3;
  c.gpr[RDX] = 0;
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x23}).faulted);
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(std::memcmp(m, host, 6), 0);
  EXPECT_EQ(std::memcmp(m + 24, host + 24, 4), 0);
  for (unsigned i = 0; i < 8; ++i)
    EXPECT_EQ(std::memcmp(m + 32 + 16 * i, host + 32 + 16 * i, 10), 0);
  EXPECT_EQ(std::memcmp(m + 160, host + 160, 256), 0);
  EXPECT_EQ(at<uint64_t>(m, 512), at<uint64_t>(host, 512));
  EXPECT_EQ(at<uint64_t>(m, 520), at<uint64_t>(host, 520));
}

}  // namespace
}  // namespace umbra::test
