// LDMXCSR/STMXCSR and FXSAVE/FXRSTOR through the real decoder: the image layout field by field,
// the 32- and 64-bit formats, alignment and MXCSR faults, CR4.OSFXSR, and the host's own
// FXRSTOR/FXSAVE/FNSTENV as the oracle for the image and the rebuilt tag word.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>

#include "frontend/semantics/fp_state.h"
#include "tests/unit/fp_state_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kArea = 0x8000;

// 80-bit register contents of every tag class (SDM vol. 1, 8.1.7 and 8.2.2).
void fill_reg80(std::mt19937_64& rng, uint8_t* r) {
  uint64_t sig = rng();
  uint16_t exp = static_cast<uint16_t>(rng());
  switch (rng() % 7) {
    case 0:  // zero
      sig = 0;
      exp &= 0x8000;
      break;
    case 1:  // denormal or pseudo-denormal
      exp &= 0x8000;
      break;
    case 2:  // infinity / NaN / pseudo-NaN
      exp |= 0x7FFF;
      break;
    case 3:  // unnormal
      sig &= ~(uint64_t{1} << 63);
      break;
    default:  // normal
      sig |= uint64_t{1} << 63;
      if ((exp & 0x7FFF) == 0x7FFF || (exp & 0x7FFF) == 0) exp ^= 0x4000;
      break;
  }
  std::memcpy(r, &sig, 8);
  std::memcpy(r + 8, &exp, 2);
}

// A legacy-region image with random but loadable contents (MXCSR within the mask, all x87
// exceptions masked and no pending one, so the host can load it harmlessly).
void random_image(std::mt19937_64& rng, uint8_t* img) {
  for (unsigned i = 0; i < 512; ++i) img[i] = static_cast<uint8_t>(rng());
  const uint16_t fcw = static_cast<uint16_t>((rng() & 0x0F00) | 0x7F);
  const uint16_t fsw = static_cast<uint16_t>(rng() & 0x3F00);  // TOP, C0-C3; no ES/B
  std::memcpy(img + 0, &fcw, 2);
  std::memcpy(img + 2, &fsw, 2);
  img[5] = 0;
  const uint16_t fop = static_cast<uint16_t>(rng() & 0x7FF);
  std::memcpy(img + 6, &fop, 2);
  const uint32_t mxcsr = static_cast<uint32_t>(rng() & 0xFFBF) | 0x1F80;
  std::memcpy(img + 24, &mxcsr, 4);
  for (unsigned i = 0; i < 8; ++i) fill_reg80(rng, img + 32 + 16 * i);
}

// The host loads `img` with FXRSTOR64 and reports FXSAVE64's image and FNSTENV's tag word.
void host_fxrstor_fxsave(const uint8_t* img, uint8_t* out, uint16_t* ftw) {
  alignas(16) uint8_t backup[512];
  alignas(16) uint8_t in[512];
  alignas(16) uint8_t res[512];
  uint8_t env[28];
  std::memcpy(in, img, 512);
  asm volatile(
      "fxsave64 %0\n\t"
      "fxrstor64 %1\n\t"
      "fxsave64 %2\n\t"
      "fnstenv %3\n\t"
      "fxrstor64 %0\n\t"
      : "+m"(backup), "+m"(in), "=m"(res), "=m"(env)
      :
      : "memory");
  std::memcpy(out, res, 512);
  std::memcpy(ftw, env + 8, 2);
}

class FpStateFx : public ::testing::Test {
 protected:
  void SetUp() override {
    enter_fp_long_mode(t.cpu());
    t.cpu().gpr[RBX] = kArea;
  }
  uint8_t* mem(uint64_t a) { return t.mem().ram() + a; }
  Outcome run(std::initializer_list<uint8_t> b, bool mode64 = true) {
    return exec_bytes(t, std::vector<uint8_t>(b), mode64);
  }
  TestCpu t;
};

// A state with every field distinct: TOP = 3, registers R0..R7 = 0x11 * (r + 1) patterns.
void set_distinct_state(CpuState& c) {
  c.x87.fcw = 0x0A7F;
  c.x87.fsw = static_cast<uint16_t>(0x4100 | (3 << 11));
  c.x87.ftw = 0x3C96;  // R0 10, R1 01, R2 01, R3 10, R4 00, R5 11, R6 11, R7 00
  c.x87.fop = 0x5AB;
  c.x87.fip = 0x1122334455667788;
  c.x87.fdp = 0x99AABBCCDDEEFF00;
  c.x87.fcs = 0x23;
  c.x87.fds = 0x2B;
  for (unsigned r = 0; r < 8; ++r)
    for (unsigned b = 0; b < 10; ++b) c.x87.st[r][b] = static_cast<uint8_t>(0x11 * (r + 1) + b);
  c.mxcsr = 0x9FC0;  // FTZ, DAZ, all masks
  for (unsigned r = 0; r < 16; ++r)
    for (unsigned b = 0; b < 16; ++b) c.xmm[r].b[b] = static_cast<uint8_t>(r * 16 + b);
}

template <typename T>
T at(const uint8_t* p, unsigned off) {
  T v;
  std::memcpy(&v, p + off, sizeof(T));
  return v;
}

TEST_F(FpStateFx, LdmxcsrStmxcsr) {
  auto& c = t.cpu();
  t.write<uint32_t>(kArea, 0xFFC0);               // every defined bit, DAZ included
  ASSERT_FALSE(run({0x0f, 0xae, 0x13}).faulted);  // ldmxcsr [rbx]
  EXPECT_EQ(c.mxcsr, 0xFFC0u);
  t.write<uint32_t>(kArea + 4, 0);
  ASSERT_FALSE(run({0x0f, 0xae, 0x5b, 0x04}).faulted);  // stmxcsr [rbx+4]
  EXPECT_EQ(t.read<uint32_t>(kArea + 4), 0xFFC0u);
  for (uint32_t bad : {0x10000u, 0x20000u, 0x80000000u}) {
    t.write<uint32_t>(kArea, 0x1F80 | bad);
    EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x13})), kGP) << bad;
    EXPECT_EQ(c.mxcsr, 0xFFC0u);
  }
  c.cr0 |= cr0::TS;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x13})), kNM);
  c.cr0 &= ~cr0::TS;
  c.cr4 &= ~cr4::OSFXSR;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x1b})), kUD);
  c.cr4 |= cr4::OSFXSR;
  c.cr0 |= cr0::EM;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x1b})), kUD);
  c.cr0 &= ~cr0::EM;
  c.cpu_model = &fp_bare_model();  // no SSE
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x1b})), kUD);
}

TEST_F(FpStateFx, Fxsave64Layout) {
  auto& c = t.cpu();
  set_distinct_state(c);
  std::memset(mem(kArea), 0xEE, 512);
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x03}).faulted);  // fxsave64 [rbx]
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(at<uint16_t>(m, 0), 0x0A7F);
  EXPECT_EQ(at<uint16_t>(m, 2), c.x87.fsw);
  EXPECT_EQ(m[4], 0x9F);  // R5, R6 empty
  EXPECT_EQ(m[5], 0);
  EXPECT_EQ(at<uint16_t>(m, 6), 0x5AB);
  EXPECT_EQ(at<uint64_t>(m, 8), 0x1122334455667788u);
  EXPECT_EQ(at<uint64_t>(m, 16), 0x99AABBCCDDEEFF00u);
  EXPECT_EQ(at<uint32_t>(m, 24), 0x9FC0u);
  EXPECT_EQ(at<uint32_t>(m, 28), 0xFFFFu);
  for (unsigned i = 0; i < 8; ++i) {
    EXPECT_EQ(std::memcmp(m + 32 + 16 * i, c.x87.st[(3 + i) & 7], 10), 0) << "ST" << i;
    for (unsigned b = 10; b < 16; ++b) EXPECT_EQ(m[32 + 16 * i + b], 0);
  }
  for (unsigned r = 0; r < 16; ++r) EXPECT_EQ(std::memcmp(m + 160 + 16 * r, c.xmm[r].b, 16), 0);
  for (unsigned b = 416; b < 512; ++b) EXPECT_EQ(m[b], 0xEE) << b;  // never written
}

TEST_F(FpStateFx, Fxsave32FormatIn64BitMode) {
  auto& c = t.cpu();
  set_distinct_state(c);
  ASSERT_FALSE(run({0x0f, 0xae, 0x03}).faulted);  // fxsave [rbx] (no REX.W)
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(at<uint32_t>(m, 8), 0x55667788u);
  EXPECT_EQ(at<uint16_t>(m, 12), 0x23);
  EXPECT_EQ(at<uint16_t>(m, 14), 0);
  EXPECT_EQ(at<uint32_t>(m, 16), 0xDDEEFF00u);
  EXPECT_EQ(at<uint16_t>(m, 20), 0x2B);
  EXPECT_EQ(std::memcmp(m + 160 + 16 * 15, c.xmm[15].b, 16), 0);  // XMM15 saved in 64-bit mode
  // FXRSTOR (32-bit format) takes the selectors back and truncates the offsets.
  X87State before = c.x87;
  c.x87 = X87State{};
  ASSERT_FALSE(run({0x0f, 0xae, 0x0b}).faulted);
  EXPECT_EQ(c.x87.fip, 0x55667788u);
  EXPECT_EQ(c.x87.fdp, 0xDDEEFF00u);
  EXPECT_EQ(c.x87.fcs, 0x23);
  EXPECT_EQ(c.x87.fds, 0x2B);
  // The tag word comes back rebuilt from the contents: same empty registers, and R0-R4 (whose
  // integer bits are clear: unnormals) special, R7 (0x88..0x91: integer bit set) valid.
  EXPECT_EQ(fpimg::abridged_tag(c.x87.ftw), fpimg::abridged_tag(before.ftw));
  EXPECT_EQ(c.x87.ftw, 0x3EAA);
}

TEST_F(FpStateFx, ProtectedModeSavesEightXmmRegisters) {
  auto& c = t.cpu();
  enter_protected32(c);
  c.cpu_model = &fp_test_model();
  c.cr4 |= cr4::OSFXSR;
  set_distinct_state(c);
  c.gpr[RBX] = kArea;
  std::memset(mem(kArea), 0xEE, 512);
  ASSERT_FALSE(run({0x0f, 0xae, 0x03}, false).faulted);
  const uint8_t* m = mem(kArea);
  EXPECT_EQ(at<uint32_t>(m, 8), 0x55667788u);
  for (unsigned r = 0; r < 8; ++r) EXPECT_EQ(std::memcmp(m + 160 + 16 * r, c.xmm[r].b, 16), 0);
  for (unsigned b = 288; b < 512; ++b) EXPECT_EQ(m[b], 0xEE) << b;
  // FXRSTOR leaves XMM8-15 alone outside 64-bit mode.
  std::memset(mem(kArea + 160), 0x5A, 256);
  ASSERT_FALSE(run({0x0f, 0xae, 0x0b}, false).faulted);
  EXPECT_EQ(c.xmm[7].b[0], 0x5A);
  EXPECT_EQ(c.xmm[8].b[0], 8 * 16);
}

TEST_F(FpStateFx, AlignmentAndAvailabilityFaults) {
  auto& c = t.cpu();
  set_distinct_state(c);
  std::memset(mem(kArea), 0xEE, 1024);
  for (uint64_t off : {1u, 8u, 15u}) {
    c.gpr[RBX] = kArea + off;
    EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x03})), kGP);
    EXPECT_EQ(t.cpu().pending_fault_error, 0u);
    EXPECT_EQ(fault_of(run({0x48, 0x0f, 0xae, 0x0b})), kGP);
  }
  for (unsigned b = 0; b < 1024; ++b) ASSERT_EQ(mem(kArea)[b], 0xEE);
  c.gpr[RBX] = kArea;
  c.cr0 |= cr0::TS;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x03})), kNM);
  c.cr0 = (c.cr0 & ~cr0::TS) | cr0::EM;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x0b})), kNM);
  c.cr0 &= ~cr0::EM;
  c.cpu_model = &fp_bare_model();  // no FXSR
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x03})), kUD);
  // A non-canonical area is #GP(0), nothing written.
  c.cpu_model = &fp_test_model();
  c.gpr[RBX] = 0x0000800000000000;
  EXPECT_EQ(fault_of(run({0x0f, 0xae, 0x03})), kGP);
}

TEST_F(FpStateFx, FxrstorRejectsReservedMxcsrBits) {
  auto& c = t.cpu();
  set_distinct_state(c);
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x03}).faulted);
  const uint32_t bad = 0x21F80;
  std::memcpy(mem(kArea + 24), &bad, 4);
  std::memset(mem(kArea + 32), 0, 128);
  EXPECT_EQ(fault_of(run({0x48, 0x0f, 0xae, 0x0b})), kGP);
  EXPECT_EQ(c.mxcsr, 0x9FC0u);
  EXPECT_EQ(c.x87.st[3][0], 0x11 * 4);  // nothing loaded
}

TEST_F(FpStateFx, Cr4OsfxsrClearLeavesXmmAlone) {
  auto& c = t.cpu();
  set_distinct_state(c);
  c.cr4 &= ~cr4::OSFXSR;
  std::memset(mem(kArea), 0xEE, 512);
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x03}).faulted);
  for (unsigned b = 160; b < 512; ++b) ASSERT_EQ(mem(kArea)[b], 0xEE) << b;
  EXPECT_EQ(at<uint32_t>(mem(kArea), 24), 0x9FC0u);
  std::memset(mem(kArea + 160), 0, 256);
  ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x0b}).faulted);
  EXPECT_EQ(c.xmm[0].b[1], 1);  // not restored
}

// The host as oracle: FXRSTOR64 of a random image, then FXSAVE64, on both. The fields the SDM
// defines must match (FOP/FIP/FDP are compared only against the image: AMD processors save them
// only while an exception is pending; MXCSR_MASK differs by design, 0xFFFF here).
TEST_F(FpStateFx, MatchesHostImageAndTagWord) {
  auto& c = t.cpu();
  std::mt19937_64 rng(4);
  for (int iter = 0; iter < 2000; ++iter) {
    alignas(16) uint8_t img[512];
    random_image(rng, img);
    std::memcpy(mem(kArea), img, 512);
    ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x0b}).faulted);  // fxrstor64 [rbx]
    alignas(16) uint8_t host[512];
    uint16_t host_ftw;
    host_fxrstor_fxsave(img, host, &host_ftw);
    EXPECT_EQ(c.x87.ftw, host_ftw) << iter;
    std::memset(mem(kArea), 0, 512);
    ASSERT_FALSE(run({0x48, 0x0f, 0xae, 0x03}).faulted);  // fxsave64 [rbx]
    const uint8_t* m = mem(kArea);
    EXPECT_EQ(std::memcmp(m, host, 6), 0) << iter;          // FCW FSW FTW
    EXPECT_EQ(std::memcmp(m + 6, img + 6, 18), 0) << iter;  // FOP FIP FDP as loaded
    EXPECT_EQ(std::memcmp(m + 24, host + 24, 4), 0) << iter;
    for (unsigned i = 0; i < 8; ++i)
      EXPECT_EQ(std::memcmp(m + 32 + 16 * i, host + 32 + 16 * i, 10), 0) << iter << " ST" << i;
    EXPECT_EQ(std::memcmp(m + 160, host + 160, 256), 0) << iter;
  }
}

}  // namespace
}  // namespace umbra::test
