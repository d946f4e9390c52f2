// Regression tests for the FPU/SIMD mismatches the difftest found against the host
// (/work/briefs/fp_bugs.md, entries 1-7): EMMS and TOP, the MMX transition of the MMX
// conversions before #XM, x87 stores whose memory checks must come before an unmasked
// exception suppresses the write, the CR2 of a store that straddles into an unmapped page,
// FLDENV in the 16-bit format clearing FOP, FXSAVE/FXRSTOR checking the whole 512-byte operand
// and XSAVE faulting as a write.
#include <gtest/gtest.h>

#include <cstring>

#include "frontend/semantics/x87_internal.h"
#include "tests/unit/fp_state_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kBadPage = 0x20000;  // FaultingTranslator: #PF on this page

struct FixesTest : ::testing::Test {
  TestCpu t;
  FaultingTranslator ft{kBadPage};
  AddressTranslator* identity = nullptr;
  void SetUp() override {
    identity = t.cpu().translator;
    enter_fp_long_mode(t.cpu());
    t.cpu().x87.fsw = 0;
  }
  void fault_on_bad_page() {
    t.cpu().translator = &ft;
    tlb_flush_all(t.cpu());
  }
  // ST(0) (physical register TOP) = the 80-bit value mant:se, tag valid.
  void set_st0(uint64_t mant, uint16_t se) {
    auto& x = t.cpu().x87;
    const unsigned top = (x.fsw >> 11) & 7;
    std::memcpy(x.st[top], &mant, 8);
    std::memcpy(x.st[top] + 8, &se, 2);
    x87::set_full_tag_word(t.cpu(), static_cast<uint16_t>(0xFFFF & ~(3u << (2 * top))));
  }
};

// Entry 1: EMMS sets TOP = 0 as well as emptying every tag.
TEST_F(FixesTest, EmmsClearsTop) {
  auto& c = t.cpu();
  c.x87.fsw = 0x6900;  // TOP = 5, C0
  c.x87.ftw = 0;
  ASSERT_FALSE(exec_bytes(t, {0x0f, 0x77}).faulted);
  EXPECT_EQ(c.x87.fsw, 0x4100);
  EXPECT_EQ(c.x87.ftw, 0xFFFF);
}

// Entry 2: the MMX conversions make the x87 -> MMX transition even when they raise #XM.
TEST_F(FixesTest, MmxConversionsTransitionBeforeXm) {
  auto& c = t.cpu();
  c.x87.fsw = 5 << 11;
  c.x87.ftw = 0xFFFF;
  c.mxcsr = 0x1F80 & ~0x80u;  // IM clear
  const uint64_t nan = 0x7FF8000000000000ull;
  std::memcpy(c.xmm[1].b, &nan, 8);
  std::memcpy(c.xmm[1].b + 8, &nan, 8);
  // cvttpd2pi mm6, xmm1: #IA -> #XM, mm6 not written, but TOP = 0 and all tags valid.
  const uint64_t mm6_before = 0x1122334455667788ull;
  std::memcpy(c.x87.st[6], &mm6_before, 8);
  EXPECT_EQ(fault_of(exec_bytes(t, {0x66, 0x0f, 0x2c, 0xf1})), kXM);
  EXPECT_EQ(c.x87.fsw & 0x3800, 0);
  EXPECT_EQ(c.x87.ftw, 0);
  uint64_t mm6;
  std::memcpy(&mm6, c.x87.st[6], 8);
  EXPECT_EQ(mm6, mm6_before);
  // cvtpi2ps xmm0, mm1 with PM clear: 0x7FFFFFFF is inexact as a float -> #XM after the
  // transition.
  c.x87.fsw = 3 << 11;
  c.x87.ftw = 0xFFFF;
  c.mxcsr = 0x1F80 & ~0x1000u;
  const uint64_t ints = 0x7FFFFFFF7FFFFFFFull;
  std::memcpy(c.x87.st[1], &ints, 8);
  EXPECT_EQ(fault_of(exec_bytes(t, {0x0f, 0x2a, 0xc1})), kXM);
  EXPECT_EQ(c.x87.fsw & 0x3800, 0);
  EXPECT_EQ(c.x87.ftw, 0);
  // Without a fault nothing changes in the order: the memory form makes no transition.
  c.x87.fsw = 3 << 11;
  c.x87.ftw = 0xFFFF;
  c.mxcsr = 0x1F80;
  c.gpr[RBX] = 0x6000;
  EXPECT_FALSE(exec_bytes(t, {0x0f, 0x2a, 0x03}).faulted);  // cvtpi2ps xmm0, [rbx]
  EXPECT_EQ(c.x87.fsw & 0x3800, 3 << 11);
  EXPECT_EQ(c.x87.ftw, 0xFFFF);
}

// Entry 3: a store whose value is invalid with IM clear still faults on its memory operand
// (#PF, #GP for a non-canonical address) before the exception suppresses the write.
TEST_F(FixesTest, SuppressedX87StoreStillChecksMemory) {
  auto& c = t.cpu();
  c.x87.fcw = 0x037E;  // IM clear
  for (const std::vector<uint8_t>& enc :
       std::vector<std::vector<uint8_t>>{{0xdb, 0x1b},     // fistp dword [rbx]
                                         {0xdf, 0x13},     // fist word [rbx]
                                         {0xdf, 0x3b},     // fistp qword [rbx]
                                         {0xdf, 0x33},     // fbstp [rbx]
                                         {0xdb, 0x0b},     // fisttp dword [rbx]
                                         {0xd9, 0x1b}}) {  // fstp dword [rbx] (SNaN -> #IA)
    SCOPED_TRACE(enc[1]);
    c.x87.fsw = 0;
    set_st0(0xA000000000000000ull, 0x7FFF);  // SNaN: invalid for every store
    c.translator = identity;
    tlb_flush_all(c);
    c.gpr[RBX] = 0x0000800000000000ull;
    EXPECT_EQ(fault_of(exec_bytes(t, enc)), kGP);
    EXPECT_EQ(c.x87.fsw, 0);  // no IE recorded
    fault_on_bad_page();
    c.gpr[RBX] = kBadPage + 0x10;
    const Outcome o = exec_bytes(t, enc);
    EXPECT_EQ(fault_of(o), kPF);
    EXPECT_EQ(o.error_code & 2, 2u);
    EXPECT_EQ(c.x87.fsw, 0);
    EXPECT_TRUE(x87::phys_valid(c, 0));  // not popped
  }
}

// Entry 4: a store that straddles into an unmapped page faults with CR2 = the first byte of
// that page, and writes nothing.
TEST_F(FixesTest, StraddlingStoreFaultsAtThePageStart) {
  auto& c = t.cpu();
  set_st0(0x8000000000000000ull, 0x3FFF);  // 1.0
  fault_on_bad_page();
  for (const std::vector<uint8_t>& enc : std::vector<std::vector<uint8_t>>{
           {0xdd, 0x13}, {0xdb, 0x3b}, {0xdf, 0x33}, {0xdd, 0x0b}}) {  // fst m64, fstp m80,
    SCOPED_TRACE(enc[1]);                                              // fbstp, fisttp m64
    c.gpr[RBX] = kBadPage - 3;
    std::memset(t.mem().ram() + kBadPage - 3, 0xEE, 3);
    c.pending_fault_addr = 0;
    EXPECT_EQ(fault_of(exec_bytes(t, enc)), kPF);
    EXPECT_EQ(c.pending_fault_addr, kBadPage);
    for (unsigned k = 1; k <= 3; ++k) EXPECT_EQ(t.mem().ram()[kBadPage - k], 0xEE);
  }
}

// Entry 5: FLDENV/FRSTOR with a 16-bit operand size in protected mode have no FOP field: FOP
// becomes 0.
TEST_F(FixesTest, Fldenv16ClearsFop) {
  auto& c = t.cpu();
  c.x87.fop = 0x1F7;
  c.gpr[RBX] = 0x6000;
  std::memset(t.mem().ram() + 0x6000, 0, 128);
  const uint16_t env[7] = {0x037F, 0x0000, 0xFFFF, 0x1234, 0x0008, 0x5678, 0x0010};
  std::memcpy(t.mem().ram() + 0x6000, env, sizeof env);
  ASSERT_FALSE(exec_bytes(t, {0x66, 0xd9, 0x23}).faulted);  // fldenv m14
  EXPECT_EQ(c.x87.fop, 0);
  EXPECT_EQ(c.x87.fip, 0x1234u);
  c.x87.fop = 0x1F7;
  ASSERT_FALSE(exec_bytes(t, {0x66, 0xdd, 0x23}).faulted);  // frstor m94
  EXPECT_EQ(c.x87.fop, 0);
}

// Entries 6 and 6b: FXSAVE/FXRSTOR access the whole 512 bytes: an image whose bytes 416-511 are
// on an unmapped page faults, before anything is written or loaded.
TEST_F(FixesTest, FxsaveFxrstorCheckTheWholeImage) {
  auto& c = t.cpu();
  fault_on_bad_page();
  const uint64_t img = kBadPage - 416;  // 16-byte aligned; bytes 416.. on the bad page
  c.gpr[RBX] = img;
  std::memset(t.mem().ram() + img, 0xEE, 416);
  Outcome o = exec_bytes(t, {0x48, 0x0f, 0xae, 0x03});  // fxsave64 [rbx]
  EXPECT_EQ(fault_of(o), kPF);
  EXPECT_EQ(o.error_code & 2, 2u);
  for (unsigned k = 0; k < 416; ++k) ASSERT_EQ(t.mem().ram()[img + k], 0xEE) << k;
  o = exec_bytes(t, {0x0f, 0xae, 0x03});  // fxsave [rbx]
  EXPECT_EQ(fault_of(o), kPF);
  // FXRSTOR: a valid image in the mapped part; nothing is loaded.
  std::memset(t.mem().ram() + img, 0, 416);
  const uint16_t fcw = 0x0C7F;
  std::memcpy(t.mem().ram() + img, &fcw, 2);
  const uint32_t mxcsr = 0x1F80;
  std::memcpy(t.mem().ram() + img + 24, &mxcsr, 4);
  c.x87.fcw = 0x037F;
  o = exec_bytes(t, {0x48, 0x0f, 0xae, 0x0b});  // fxrstor64 [rbx]
  EXPECT_EQ(fault_of(o), kPF);
  EXPECT_EQ(o.error_code & 2, 0u);
  EXPECT_EQ(c.x87.fcw, 0x037F);
  EXPECT_EQ(fault_of(exec_bytes(t, {0x0f, 0xae, 0x0b})), kPF);  // fxrstor [rbx]
}

// Entry 7: XSAVE/XSAVEOPT to an area crossing into an unwritable page is a write fault, before
// XSTATE_BV is read.
TEST_F(FixesTest, XsaveFaultsAsAWrite) {
  auto& c = t.cpu();
  fault_on_bad_page();
  c.gpr[RAX] = 3;
  c.gpr[RDX] = 0;
  c.gpr[RBX] = kBadPage - 512;  // 64-byte aligned; the header is on the bad page
  std::memset(t.mem().ram() + kBadPage - 512, 0xEE, 512);
  for (const std::vector<uint8_t>& enc : std::vector<std::vector<uint8_t>>{
           {0x0f, 0xae, 0x23}, {0x48, 0x0f, 0xae, 0x23}, {0x0f, 0xae, 0x33}}) {
    const Outcome o = exec_bytes(t, enc);
    EXPECT_EQ(fault_of(o), kPF);
    EXPECT_EQ(o.error_code & 2, 2u);
    for (unsigned k = 0; k < 512; ++k) ASSERT_EQ(t.mem().ram()[kBadPage - 512 + k], 0xEE) << k;
  }
}

// Entry 8: FXRSTOR/XRSTOR load FCW's reserved bits as FLDCW does and recompute FSW.ES and B;
// checked against the host's own FXRSTOR64 + FXSAVE64.
TEST_F(FixesTest, RestoredFcwAndFswMatchTheHost) {
  auto& c = t.cpu();
  const uint16_t cases[][2] = {
      {0x6b63, 0xdf00}, {0xca3f, 0x0080}, {0x037f, 0x8000}, {0xffff, 0x38ff}, {0x0000, 0x0000}};
  for (const auto& k : cases) {
    alignas(16) uint8_t img[512] = {};
    std::memcpy(img + 0, &k[0], 2);
    std::memcpy(img + 2, &k[1], 2);
    const uint32_t mxcsr = 0x1F80;
    std::memcpy(img + 24, &mxcsr, 4);
    alignas(16) uint8_t backup[512], host[512];
    asm volatile("fxsave64 %0\n\tfxrstor64 %2\n\tfxsave64 %1\n\tfxrstor64 %0\n\t"
                 : "+m"(backup), "=m"(host)
                 : "m"(img));
    uint16_t host_fcw, host_fsw;
    std::memcpy(&host_fcw, host + 0, 2);
    std::memcpy(&host_fsw, host + 2, 2);
    // FXRSTOR64 and XRSTOR64 (XSTATE_BV = 1: the x87 component from the image).
    for (const std::vector<uint8_t>& enc :
         std::vector<std::vector<uint8_t>>{{0x48, 0x0f, 0xae, 0x0b}, {0x48, 0x0f, 0xae, 0x2b}}) {
      c.gpr[RBX] = 0x6000;
      c.gpr[RAX] = 3;
      c.gpr[RDX] = 0;
      std::memset(t.mem().ram() + 0x6000, 0, 576);
      std::memcpy(t.mem().ram() + 0x6000, img, 512);
      t.mem().ram()[0x6000 + 512] = 1;
      ASSERT_FALSE(exec_bytes(t, enc).faulted);
      EXPECT_EQ(c.x87.fcw, host_fcw) << std::hex << k[0];
      EXPECT_EQ(c.x87.fsw, host_fsw) << std::hex << k[1];
    }
  }
}

// Entry 9: FXRSTOR of a non-canonical, misaligned RBP-based operand is #SS(0) (the canonical
// check first); FXSAVE stays #GP(0) for the misalignment, as on the host.
TEST_F(FixesTest, FxrstorNonCanonicalStackOperandIsSs) {
  auto& c = t.cpu();
  c.gpr[RBP] = 0x2000000000503c1aull;
  const Outcome r = exec_bytes(t, {0x48, 0x0f, 0xae, 0x4d, 0x5a});  // fxrstor64 [rbp+0x5a]
  EXPECT_EQ(fault_of(r), kSS);
  EXPECT_EQ(r.error_code, 0u);
  EXPECT_EQ(fault_of(exec_bytes(t, {0x0f, 0xae, 0x4d, 0x5a})), kSS);  // fxrstor [rbp+0x5a]
  // Canonical but misaligned: #GP(0).
  c.gpr[RBP] = 0x6000;
  EXPECT_EQ(fault_of(exec_bytes(t, {0x48, 0x0f, 0xae, 0x4d, 0x5a})), kGP);
}

}  // namespace
}  // namespace umbra::test
