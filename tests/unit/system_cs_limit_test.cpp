// The CS limit on near branch targets (SDM vol. 2, JMP, Jcc, CALL, RET, LOOP/LOOPcc, JrCXZ:
// "#GP(0) if the target operand is beyond the code segment limit"): checked in protected,
// compatibility, real and virtual-8086 mode, before anything changes; not in 64-bit mode.
#include <cstdint>
#include <initializer_list>

#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

constexpr uint32_t kCsLimit = 0xfff;
constexpr uint64_t kIp = 0x100;

class SysCsLimit : public SysTest {
 protected:
  // Protected mode, CPL 0, 32-bit code segment at kCode with a byte-granular limit of 0xFFF.
  void small_code32() {
    protected32(0);
    cpu().seg[CS] = cache(kCode0, make_desc(kCode, kCsLimit, access(0xb, 0), kFlagDB));
    update_cpu_mode(cpu());
    refresh_segment_checks(cpu());
    cpu().rip = kIp;
    cpu().gpr[RSP] = 0x9000;
  }

  // Runs `bytes` expecting #GP(0) with every register as it was and the stack untouched.
  void expect_gp_unchanged(std::initializer_list<uint8_t> bytes) {
    const Snapshot s = snapshot();
    const uint32_t below = mem<uint32_t>(cpu().gpr[RSP] - 4);
    expect_fault(exec(bytes), kGP, 0);
    expect_unchanged(s);
    EXPECT_EQ(mem<uint32_t>(cpu().gpr[RSP] - 4), below);
  }

  // rel32 so that a branch of `len` bytes at kIp reaches `target`.
  static uint32_t rel_to(uint64_t target, unsigned len) {
    return static_cast<uint32_t>(target - (kIp + len));
  }
};

TEST_F(SysCsLimit, JmpRelative) {
  small_code32();
  uint32_t r = rel_to(kCsLimit, 5);  // the last byte of the segment: allowed
  ASSERT_FALSE(
      exec({0xe9, uint8_t(r), uint8_t(r >> 8), uint8_t(r >> 16), uint8_t(r >> 24)}).faulted);
  EXPECT_EQ(cpu().rip, kCsLimit);
  cpu().rip = kIp;
  r = rel_to(kCsLimit + 1, 5);
  expect_gp_unchanged({0xe9, uint8_t(r), uint8_t(r >> 8), uint8_t(r >> 16), uint8_t(r >> 24)});
  // A backward branch that wraps EIP is beyond the limit too.
  r = rel_to(0xfffffff0, 5);
  expect_gp_unchanged({0xe9, uint8_t(r), uint8_t(r >> 8), uint8_t(r >> 16), uint8_t(r >> 24)});
}

TEST_F(SysCsLimit, JccOnlyWhenTaken) {
  small_code32();
  const uint32_t r = rel_to(kCsLimit + 1, 6);
  const std::initializer_list<uint8_t> jz = {
      0x0f, 0x84, uint8_t(r), uint8_t(r >> 8), uint8_t(r >> 16), uint8_t(r >> 24)};
  cpu().rflags &= ~rf::ZF;
  ASSERT_FALSE(exec(jz).faulted);  // not taken: no check
  EXPECT_EQ(cpu().rip, kIp + 6);
  cpu().rip = kIp;
  cpu().rflags |= rf::ZF;
  expect_gp_unchanged(jz);
  // rel8 form.
  cpu().rip = kCsLimit - 0x10;
  expect_gp_unchanged({0x74, 0x0f});  // target limit + 1
  ASSERT_FALSE(exec({0x74, 0x0e}).faulted);
  EXPECT_EQ(cpu().rip, kCsLimit);
}

TEST_F(SysCsLimit, CallChecksBeforePushing) {
  small_code32();
  const uint32_t r = rel_to(kCsLimit + 1, 5);
  expect_gp_unchanged({0xe8, uint8_t(r), uint8_t(r >> 8), uint8_t(r >> 16), uint8_t(r >> 24)});
  cpu().gpr[RAX] = kCsLimit + 1;
  expect_gp_unchanged({0xff, 0xd0});  // call eax
  cpu().gpr[RAX] = kCsLimit;
  ASSERT_FALSE(exec({0xff, 0xd0}).faulted);
  EXPECT_EQ(cpu().rip, kCsLimit);
  EXPECT_EQ(mem<uint32_t>(cpu().gpr[RSP]), kIp + 2);
}

TEST_F(SysCsLimit, JmpIndirect) {
  small_code32();
  cpu().gpr[RAX] = kCsLimit + 1;
  expect_gp_unchanged({0xff, 0xe0});  // jmp eax
  poke<uint32_t>(0x800, kCsLimit + 0x100);
  cpu().gpr[RBX] = 0x800;
  expect_gp_unchanged({0xff, 0x23});  // jmp [ebx]
  // 16-bit operand size: the target is truncated to IP first, then checked.
  cpu().gpr[RAX] = 0x10000 + 0x10;
  ASSERT_FALSE(exec({0x66, 0xff, 0xe0}).faulted);
  EXPECT_EQ(cpu().rip, 0x10u);
}

TEST_F(SysCsLimit, RetLeavesTheStack) {
  small_code32();
  poke<uint32_t>(0x9000, kCsLimit + 1);
  expect_gp_unchanged({0xc3});              // ret
  expect_gp_unchanged({0xc2, 0x08, 0x00});  // ret 8
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
  poke<uint32_t>(0x9000, kCsLimit);
  ASSERT_FALSE(exec({0xc2, 0x08, 0x00}).faulted);
  EXPECT_EQ(cpu().rip, kCsLimit);
  EXPECT_EQ(cpu().gpr[RSP], 0x900cu);
}

TEST_F(SysCsLimit, LoopAndJecxzLeaveTheCount) {
  small_code32();
  cpu().rip = kCsLimit - 0x10;
  cpu().gpr[RCX] = 5;
  expect_gp_unchanged({0xe2, 0x0f});  // loop: taken, beyond the limit; ECX keeps 5
  ASSERT_FALSE(exec({0xe2, 0x0e}).faulted);
  EXPECT_EQ(cpu().gpr[RCX], 4u);
  EXPECT_EQ(cpu().rip, kCsLimit);
  cpu().rip = kCsLimit - 0x10;
  cpu().gpr[RCX] = 1;
  ASSERT_FALSE(exec({0xe2, 0x0f}).faulted);  // not taken (ECX reaches 0): no check
  EXPECT_EQ(cpu().gpr[RCX], 0u);
  cpu().rip = kCsLimit - 0x10;
  expect_gp_unchanged({0xe3, 0x0f});  // jecxz, taken
}

TEST_F(SysCsLimit, CompatibilityModeChecks) {
  compat32(0);
  cpu().seg[CS] = cache(kCode0, make_desc(kCode, kCsLimit, access(0xb, 0), kFlagDB));
  update_cpu_mode(cpu());
  cpu().rip = kIp;
  cpu().gpr[RAX] = kCsLimit + 1;
  expect_gp_unchanged({0xff, 0xe0});
}

TEST_F(SysCsLimit, RealModeChecksTheLimitToo) {
  real_mode(0x1000);
  cpu().rip = 0x100;
  // A 32-bit target beyond the 64 KiB limit (66 jmp eax).
  cpu().gpr[RAX] = 0x10000;
  expect_gp_unchanged({0x66, 0xff, 0xe0});
  // A 16-bit target wraps within the limit.
  ASSERT_FALSE(exec({0xff, 0xe0}).faulted);
  EXPECT_EQ(cpu().rip, 0u);
  // A smaller cached limit (left by protected mode) applies in real mode as well.
  cpu().seg[CS].limit = kCsLimit;
  cpu().rip = 0x100;
  cpu().gpr[RAX] = kCsLimit + 1;
  expect_gp_unchanged({0xff, 0xe0});
}

TEST_F(SysCsLimit, Virtual8086Mode) {
  v86(0x1000, 3);
  cpu().rip = 0x100;
  cpu().gpr[RAX] = 0x10000;
  expect_gp_unchanged({0x66, 0xff, 0xe0});
}

TEST_F(SysCsLimit, SixtyFourBitModeHasNoLimit) {
  long64(0);
  cpu().seg[CS].limit = kCsLimit;  // ignored in 64-bit mode
  cpu().rip = kIp;
  cpu().gpr[RAX] = 0x123456;
  ASSERT_FALSE(exec({0xff, 0xe0}).faulted);  // jmp rax
  EXPECT_EQ(cpu().rip, 0x123456u);
  cpu().gpr[RAX] = 0x23456;
  ASSERT_FALSE(exec({0x66, 0xff, 0xe0}).faulted);  // jmp ax: 16-bit operand size
  EXPECT_EQ(cpu().rip, 0x3456u);
  cpu().gpr[RAX] = 0x0000800000000000ull;  // non-canonical: #GP as before
  expect_fault(exec({0xff, 0xe0}), kGP, 0);
}

}  // namespace
}  // namespace umbra::test
