// Fault and state rules of the MMX/SSE data-movement and integer semantics: 16-byte alignment
// (#GP(0), nothing written), #UD/#NM from CR0.EM/CR0.TS/CR4.OSFXSR, and the MMX state transition
// on the x87 registers (TOP = 0, tags valid, exponent bits set; EMMS empties the tags).
#include <gtest/gtest.h>

#include "tests/unit/simd_move_test_util.h"

namespace umbra::test {
namespace {

using simdtest::exec_guest;
using simdtest::kMemAddr;

constexpr uint8_t kModrmRsi = 0x06;  // reg 0, [rsi]

struct Fixture {
  TestCpu t;
  Fixture() {
    simdtest::enable_sse(t);
    t.cpu().gpr[RSI] = kMemAddr;
    for (int k = 0; k < 16; ++k) t.cpu().xmm[0].b[k] = static_cast<uint8_t>(0xA0 + k);
    for (int k = 0; k < 64; ++k) t.write<uint8_t>(kMemAddr + k, static_cast<uint8_t>(k));
  }
};

TEST(SimdMoveFaults, AlignedFormsRaiseGpOnMisalignedOperands) {
  const std::vector<std::vector<uint8_t>> aligned = {{0x0F, 0x28, kModrmRsi},
                                                     {0x66, 0x0F, 0x29, kModrmRsi},
                                                     {0x66, 0x0F, 0x6F, kModrmRsi},
                                                     {0x66, 0x0F, 0x7F, kModrmRsi},
                                                     {0x0F, 0x2B, kModrmRsi},
                                                     {0x66, 0x0F, 0xE7, kModrmRsi},
                                                     {0x66, 0x0F, 0xFC, kModrmRsi},
                                                     {0x66, 0x0F, 0x70, kModrmRsi, 0x1b},
                                                     {0x66, 0x0F, 0x38, 0x00, kModrmRsi},
                                                     {0x0F, 0x54, kModrmRsi}};
  for (const auto& bytes : aligned) {
    for (unsigned misalign : {1u, 4u, 8u}) {
      Fixture f;
      f.t.cpu().gpr[RSI] = kMemAddr + misalign;
      const XmmReg before = f.t.cpu().xmm[0];
      const uint64_t mem_before = f.t.read<uint64_t>(kMemAddr + 8);
      const Outcome o = exec_guest(f.t, bytes);
      ASSERT_TRUE(o.faulted) << simdtest::hex(bytes.data(), bytes.size());
      EXPECT_EQ(o.vector, kGP);
      EXPECT_EQ(o.error_code, 0u);
      EXPECT_EQ(std::memcmp(&before, &f.t.cpu().xmm[0], 16), 0);
      EXPECT_EQ(f.t.read<uint64_t>(kMemAddr + 8), mem_before);
      EXPECT_EQ(f.t.cpu().rip, 0u);
    }
  }
}

TEST(SimdMoveFaults, UnalignedAndNarrowFormsAcceptAnyAddress) {
  const std::vector<std::vector<uint8_t>> any = {
      {0x0F, 0x10, kModrmRsi},       {0x66, 0x0F, 0x11, kModrmRsi}, {0xF3, 0x0F, 0x6F, kModrmRsi},
      {0xF3, 0x0F, 0x7F, kModrmRsi}, {0xF2, 0x0F, 0xF0, kModrmRsi}, {0xF3, 0x0F, 0x10, kModrmRsi},
      {0xF2, 0x0F, 0x11, kModrmRsi}, {0x0F, 0x12, kModrmRsi},       {0x66, 0x0F, 0xD6, kModrmRsi},
      {0x0F, 0xFC, kModrmRsi},       {0x0F, 0x60, kModrmRsi},       {0xF2, 0x0F, 0x12, kModrmRsi}};
  for (const auto& bytes : any) {
    Fixture f;
    f.t.cpu().gpr[RSI] = kMemAddr + 3;
    EXPECT_FALSE(exec_guest(f.t, bytes).faulted) << simdtest::hex(bytes.data(), bytes.size());
  }
}

TEST(SimdMoveFaults, AvailabilityChecks) {
  const std::vector<uint8_t> sse = {0x66, 0x0F, 0xFC, 0xC1};  // paddb xmm0, xmm1
  const std::vector<uint8_t> mmx = {0x0F, 0xFC, 0xC1};        // paddb mm0, mm1
  const std::vector<uint8_t> movnti = {0x0F, 0xC3, kModrmRsi};
  const std::vector<uint8_t> emms = {0x0F, 0x77};
  {
    Fixture f;  // CR4.OSFXSR clear: SSE #UD, MMX and MOVNTI run
    f.t.cpu().cr4 &= ~cr4::OSFXSR;
    const Outcome o = exec_guest(f.t, sse);
    EXPECT_TRUE(o.faulted);
    EXPECT_EQ(o.vector, kUD);
    EXPECT_FALSE(exec_guest(f.t, mmx).faulted);
    EXPECT_FALSE(exec_guest(f.t, movnti).faulted);
  }
  for (const auto& bytes : {sse, mmx, emms}) {
    Fixture f;  // CR0.EM: #UD
    f.t.cpu().cr0 |= cr0::EM;
    Outcome o = exec_guest(f.t, bytes);
    EXPECT_TRUE(o.faulted);
    EXPECT_EQ(o.vector, kUD);
    Fixture g;  // CR0.TS: #NM
    g.t.cpu().cr0 |= cr0::TS;
    o = exec_guest(g.t, bytes);
    EXPECT_TRUE(o.faulted);
    EXPECT_EQ(o.vector, kNM);
  }
}

TEST(SimdMoveFaults, PendingX87ExceptionRaisesMfBeforeMmx) {
  const std::vector<std::vector<uint8_t>> mmx_state = {
      {0x0F, 0xFC, 0xC1}, {0x0F, 0x77}, {0xF3, 0x0F, 0xD6, 0xC1}, {0x0F, 0x7E, 0xC1}};
  for (const auto& bytes : mmx_state) {
    Fixture f;
    CpuState& c = f.t.cpu();
    c.cr0 |= cr0::NE;
    c.x87.fsw = 0x3881;  // ES, IE, TOP = 7
    c.x87.ftw = 0xffff;
    Outcome o = exec_guest(f.t, bytes);
    EXPECT_TRUE(o.faulted);
    EXPECT_EQ(o.vector, kMF);
    EXPECT_EQ(c.x87.fsw, 0x3881);  // nothing changed
    EXPECT_EQ(c.x87.ftw, 0xffff);
    c.cr0 &= ~cr0::NE;  // FERR# path: not an exception here
    EXPECT_FALSE(exec_guest(f.t, bytes).faulted);
  }
  Fixture f;  // SSE instructions ignore pending x87 exceptions
  f.t.cpu().cr0 |= cr0::NE;
  f.t.cpu().x87.fsw = 0x0081;
  EXPECT_FALSE(exec_guest(f.t, {0x66, 0x0F, 0xFC, 0xC1}).faulted);
}

TEST(SimdMoveFaults, MmxAliasesTheX87Registers) {
  Fixture f;
  CpuState& c = f.t.cpu();
  c.x87.fsw = 0x3800 | 0x0041;  // TOP = 7, some status bits
  c.x87.ftw = 0xffff;           // all empty
  std::memset(c.x87.st[3], 0x11, 16);
  std::memset(c.x87.st[5], 0x22, 16);
  // paddb mm3, mm5 (0F FC DD): physical registers 3 and 5, whatever TOP is.
  ASSERT_FALSE(exec_guest(f.t, {0x0F, 0xFC, 0xDD}).faulted);
  EXPECT_EQ(simdtest::hex(c.x87.st[3], 10), "ffff3333333333333333");
  EXPECT_EQ(c.x87.st[3][10], 0x11);  // the rest of the FXSAVE slot is untouched
  EXPECT_EQ(c.x87.fsw, 0x0041);      // TOP = 0, other bits kept
  EXPECT_EQ(c.x87.ftw, 0);           // all valid
  c.x87.fsw = 0x2800;
  c.x87.ftw = 0x1234;
  // movd eax, mm3 (0F 7E D8): a read-only use of MMX state still makes the transition.
  ASSERT_FALSE(exec_guest(f.t, {0x0F, 0x7E, 0xD8}).faulted);
  EXPECT_EQ(c.gpr[RAX], 0x33333333u);
  EXPECT_EQ(c.x87.fsw, 0);
  EXPECT_EQ(c.x87.ftw, 0);
  // EMMS: every tag empty and TOP = 0 (SDM vol. 1, table 9-1; the host agrees, fp_bugs.md 1).
  c.x87.fsw = 0x1800;
  ASSERT_FALSE(exec_guest(f.t, {0x0F, 0x77}).faulted);
  EXPECT_EQ(c.x87.ftw, 0xffff);
  EXPECT_EQ(c.x87.fsw, 0);
  // SSE instructions leave the x87 state alone; MOVQ2DQ (F3 0F D6 C3) makes the transition.
  ASSERT_FALSE(exec_guest(f.t, {0x66, 0x0F, 0xFC, 0xC1}).faulted);
  EXPECT_EQ(c.x87.ftw, 0xffff);
  ASSERT_FALSE(exec_guest(f.t, {0xF3, 0x0F, 0xD6, 0xC3}).faulted);
  EXPECT_EQ(c.x87.ftw, 0);
  EXPECT_EQ(c.x87.fsw, 0);
  EXPECT_EQ(simdtest::hex(c.xmm[0].b, 16), "00000000000000003333333333333333");
}

TEST(SimdMoveFaults, MaskedStoreChecksEveryByteFirst) {
  // maskmovdqu xmm0, xmm1 (66 0F F7 C1) with DS:RDI where the selected bytes run from canonical
  // into non-canonical addresses: #GP(0) for the whole store, raised before any byte is written.
  Fixture f;
  CpuState& c = f.t.cpu();
  std::memset(c.xmm[1].b, 0x80, 16);
  c.gpr[RDI] = 0x00007ffffffffff8ull;
  const Outcome o = exec_guest(f.t, {0x66, 0x0F, 0xF7, 0xC1});
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
}

}  // namespace
}  // namespace umbra::test
