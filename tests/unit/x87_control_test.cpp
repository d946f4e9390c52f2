// x87 control instructions, availability and pending-exception checks: FNSTSW, FNCLEX, FNINIT,
// FLDCW, FNSTCW, FNSTENV/FLDENV and FNSAVE/FRSTOR against the host where the host can be the
// oracle, and the environment layouts (pointer fields, real mode) and #NM/#MF rules against the
// SDM.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "frontend/system/mode.h"
#include "tests/unit/x87_test_util.h"

namespace umbra::test {
namespace {

using namespace x87t;

// Runs `bytes` on the host and on the guest from the same random state; returns the guest.
struct Pair {
  State host;
  std::unique_ptr<TestCpu> t;
};

Pair run_both(const std::vector<uint8_t>& bytes, std::mt19937_64& rng, bool protected_mode) {
  Pair p;
  random_state(rng, p.host);
  p.t = std::make_unique<TestCpu>();
  auto& c = p.t->cpu();
  if (protected_mode) c.cr0 = cr0::PE;
  load_guest(c, p.host.image);
  c.gpr[RSI] = kMemAddr;
  c.gpr[RAX] = p.host.ax;
  std::memcpy(p.t->mem().ram() + kMemAddr, p.host.mem, sizeof(p.host.mem));
  run_host(bytes, p.host);
  const Outcome o = run_guest(*p.t, bytes);
  EXPECT_FALSE(o.faulted);
  return p;
}

TEST(X87Control, StatusControlAndInitMatchHost) {
  std::mt19937_64 rng(7);
  const std::vector<std::vector<uint8_t>> forms = {
      {0xDF, 0xE0},        // fnstsw ax
      {0xDB, 0xE2},        // fnclex
      {0xDB, 0xE3},        // fninit
      {0xD9, 0x2E},        // fldcw [rsi]
      {0xD9, 0x3E},        // fnstcw [rsi]
      {0xDD, 0x3E},        // fnstsw [rsi]
      {0xDD, 0x26},        // frstor [rsi]
      {0x66, 0xDD, 0x26},  // frstor [rsi], 16-bit layout
      {0xD9, 0x26},        // fldenv [rsi]
  };
  for (const auto& bytes : forms) {
    for (unsigned n = 0; n < 500; ++n) {
      Pair p = run_both(bytes, rng, true);
      ASSERT_TRUE(same_state(*p.t, p.host))
          << std::hex << unsigned(bytes[0]) << " " << unsigned(bytes[1]) << " case " << n;
      ASSERT_EQ(static_cast<uint16_t>(p.t->cpu().gpr[RAX]), p.host.ax);
      ASSERT_EQ(std::memcmp(p.t->mem().ram() + kMemAddr, p.host.mem, 16), 0);
    }
  }
}

// FNSTENV/FNSAVE: control, status and tag words (with the reserved upper halves) and the
// registers are the host's; the pointer fields hold host addresses there and are checked below.
TEST(X87Control, StoreEnvironmentMatchesHost) {
  std::mt19937_64 rng(8);
  struct Form {
    std::vector<uint8_t> bytes;
    unsigned env, total;
  };
  const Form forms[] = {{{0xD9, 0x36}, 28, 28},
                        {{0x66, 0xD9, 0x36}, 14, 14},
                        {{0xDD, 0x36}, 28, 108},
                        {{0x66, 0xDD, 0x36}, 14, 94}};
  for (const Form& f : forms) {
    for (unsigned n = 0; n < 500; ++n) {
      Pair p = run_both(f.bytes, rng, true);
      ASSERT_TRUE(same_state(*p.t, p.host)) << f.total << " case " << n;
      const uint8_t* g = p.t->mem().ram() + kMemAddr;
      const unsigned words = f.env == 28 ? 12 : 6;
      ASSERT_EQ(std::memcmp(g, p.host.mem, words), 0) << f.total << " case " << n;
      ASSERT_EQ(std::memcmp(g + f.env, p.host.mem + f.env, f.total - f.env), 0);
    }
  }
}

TEST(X87Control, EnvironmentPointerLayouts) {
  TestCpu t;
  auto& c = t.cpu();
  c.cr0 = cr0::PE;
  c.x87.fcw = 0x037F;
  c.x87.fip = 0x12345678;
  c.x87.fcs = 0x0033;
  c.x87.fop = 0x05C1;
  c.x87.fdp = 0x9ABCDEF0;
  c.x87.fds = 0x002B;
  c.gpr[RSI] = kMemAddr;
  ASSERT_FALSE(run_guest(t, {0xD9, 0x36}).faulted);  // fnstenv [rsi], 32-bit protected
  EXPECT_EQ(t.read<uint32_t>(kMemAddr + 12), 0x12345678u);
  EXPECT_EQ(t.read<uint32_t>(kMemAddr + 16), 0x05C10033u);
  EXPECT_EQ(t.read<uint32_t>(kMemAddr + 20), 0x9ABCDEF0u);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 24), 0x002Bu);
  // Round trip through FLDENV restores the pointers.
  c.x87.fip = c.x87.fdp = 0;
  c.x87.fcs = c.x87.fds = c.x87.fop = 0;
  ASSERT_FALSE(run_guest(t, {0xD9, 0x26}).faulted);
  EXPECT_EQ(c.x87.fip, 0x12345678u);
  EXPECT_EQ(c.x87.fcs, 0x33u);
  EXPECT_EQ(c.x87.fop, 0x5C1u);
  EXPECT_EQ(c.x87.fdp, 0x9ABCDEF0u);
  EXPECT_EQ(c.x87.fds, 0x2Bu);

  // 16-bit protected layout: FIP offset, FCS, FDP offset, FDS.
  ASSERT_FALSE(run_guest(t, {0x66, 0xD9, 0x36}).faulted);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 6), 0x5678u);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 8), 0x0033u);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 10), 0xDEF0u);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 12), 0x002Bu);

  // Real mode (CR0.PE clear), 16-bit layout: 20-bit linear pointers split 16 + 4 bits, with the
  // opcode beside FIP[19:16] (SDM vol. 1, figure 8-12).
  c.cr0 = 0;
  c.x87.fip = 0x0010;
  c.x87.fcs = 0x1234;  // linear 0x12350
  c.x87.fdp = 0x0002;
  c.x87.fds = 0xF000;  // linear 0xF0002
  c.x87.fop = 0x1D9;
  ASSERT_FALSE(run_guest(t, {0x66, 0xD9, 0x36}).faulted);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 6), 0x2350u);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 8), 0x11D9u);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 10), 0x0002u);
  EXPECT_EQ(t.read<uint16_t>(kMemAddr + 12), 0xF000u);
  ASSERT_FALSE(run_guest(t, {0x66, 0xD9, 0x26}).faulted);  // fldenv: linear pointers back
  EXPECT_EQ(c.x87.fip, 0x12350u);
  EXPECT_EQ(c.x87.fdp, 0xF0002u);
  EXPECT_EQ(c.x87.fop, 0x1D9u);
}

TEST(X87Control, LastInstructionPointers) {
  TestCpu t;
  auto& c = t.cpu();
  c.x87.fcw = 0x037F;
  c.gpr[RSI] = kMemAddr;
  c.seg[CS].selector = 0x10;
  c.seg[DS].selector = 0x18;
  ASSERT_FALSE(run_guest(t, {0xD8, 0x06}).faulted);  // fadd dword [rsi]
  EXPECT_EQ(c.x87.fip, kCodeAddr);
  EXPECT_EQ(c.x87.fcs, 0x10u);
  EXPECT_EQ(c.x87.fop, 0x006u);
  EXPECT_EQ(c.x87.fdp, kMemAddr);
  EXPECT_EQ(c.x87.fds, 0x18u);
  ASSERT_FALSE(run_guest(t, {0xD9, 0xC9}).faulted);  // fxch st(1)
  EXPECT_EQ(c.x87.fop, 0x1C9u);
  EXPECT_EQ(c.x87.fdp, kMemAddr);                    // register forms leave the data pointer
  ASSERT_FALSE(run_guest(t, {0xD9, 0x3E}).faulted);  // fnstcw: a control instruction
  EXPECT_EQ(c.x87.fop, 0x1C9u);
}

TEST(X87Control, DeviceNotAvailable) {
  TestCpu t;
  auto& c = t.cpu();
  c.x87.fcw = 0x037F;
  c.cr0 = cr0::TS;
  Outcome o = run_guest(t, {0xD9, 0xE8});  // fld1
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kNM);
  c.cr0 = cr0::EM;
  o = run_guest(t, {0xDB, 0xE3});  // fninit
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kNM);
  // WAIT: #NM only with MP and TS both set.
  c.cr0 = cr0::TS;
  EXPECT_FALSE(run_guest(t, {0x9B}).faulted);
  c.cr0 = cr0::EM;
  EXPECT_FALSE(run_guest(t, {0x9B}).faulted);
  c.cr0 = cr0::MP | cr0::TS;
  o = run_guest(t, {0x9B});
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kNM);
}

TEST(X87Control, PendingExceptionRaisesMathFault) {
  TestCpu t;
  auto& c = t.cpu();
  c.cr0 = cr0::NE;
  c.x87.fcw = 0x037E;  // invalid operation unmasked
  c.x87.ftw = 0xFFFF;  // all empty
  // fld1; fsub st0,st0 is fine; 0/0 raises an unmasked IE.
  ASSERT_FALSE(run_guest(t, {0xD9, 0xEE}).faulted);  // fldz
  ASSERT_FALSE(run_guest(t, {0xD8, 0xF0}).faulted);  // fdiv st0, st0 -> IE pending
  EXPECT_EQ(c.x87.fsw & 0x80FF, 0x8081);
  EXPECT_EQ(c.x87.fsw & 0x3800, 0x3800);  // still one value on the stack
  // Unmasked IE: the destination is left unchanged.
  EXPECT_EQ(t.cpu().x87.st[7][9] & 0x7F, 0);
  Outcome o = run_guest(t, {0xD9, 0xE8});  // fld1 waits: #MF
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kMF);
  o = run_guest(t, {0x9B});  // fwait: #MF
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kMF);
  EXPECT_FALSE(run_guest(t, {0xDF, 0xE0}).faulted);  // fnstsw ax does not wait
  EXPECT_EQ(c.gpr[RAX] & 0xFFFF, c.x87.fsw);
  // CR0.NE clear: FERR# is not modelled, the instruction proceeds.
  c.cr0 = 0;
  EXPECT_FALSE(run_guest(t, {0x9B}).faulted);
  c.cr0 = cr0::NE;
  EXPECT_FALSE(run_guest(t, {0xDB, 0xE2}).faulted);  // fnclex
  EXPECT_EQ(c.x87.fsw & 0x80FF, 0);
  EXPECT_FALSE(run_guest(t, {0x9B}).faulted);
}

}  // namespace
}  // namespace umbra::test
