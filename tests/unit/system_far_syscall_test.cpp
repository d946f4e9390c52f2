// SYSCALL/SYSRET and SYSENTER/SYSEXIT (SDM vol. 2; vol. 3, 5.8.7-5.8.8).
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

using SysCall = SysTest;

constexpr uint16_t kCodeAttr64 = 0xb | seg_attr::S | seg_attr::P | seg_attr::L | seg_attr::G;
constexpr uint16_t kCodeAttr32 = 0xb | seg_attr::S | seg_attr::P | seg_attr::DB | seg_attr::G;
constexpr uint16_t kStackAttr = 0x3 | seg_attr::S | seg_attr::P | seg_attr::DB | seg_attr::G;
constexpr uint16_t kDpl3 = 3u << 5;

void set_star(CpuState& c) {
  // SYSCALL CS = 0x28, SS = 0x30; SYSRET base 0x18: CS 0x1b (compat) / 0x2b (64), SS 0x23.
  c.msr_star = (uint64_t{0x18} << 48) | (uint64_t{0x28} << 32);
  c.msr_lstar = 0xffff'8000'0000'4000ull;
  c.msr_sfmask = rf::IF | rf::TF | rf::DF;
}

TEST_F(SysCall, Syscall) {
  long64(3);
  set_star(cpu());
  cpu().rflags = rf::FIXED1 | rf::IF | rf::DF | rf::RF;
  set_arith_flags(cpu(), rf::CF | rf::ZF);
  ASSERT_FALSE(exec({0x0f, 0x05}).faulted);
  EXPECT_EQ(cpu().gpr[RCX], kCode + 2);
  EXPECT_EQ(cpu().gpr[R11], rf::FIXED1 | rf::IF | rf::DF | rf::RF | rf::CF | rf::ZF);
  EXPECT_EQ(read_rflags(cpu()), rf::FIXED1 | rf::CF | rf::ZF);
  EXPECT_EQ(cpu().rip, 0xffff'8000'0000'4000ull);
  EXPECT_EQ(cpu().cpl, 0);
  EXPECT_EQ(cpu().seg[CS].selector, 0x28);
  EXPECT_EQ(cpu().seg[CS].attrib, kCodeAttr64);
  EXPECT_EQ(cpu().seg[CS].limit, 0xffffffffu);
  EXPECT_EQ(cpu().seg[SS].selector, 0x30);
  EXPECT_EQ(cpu().seg[SS].attrib, kStackAttr);
  EXPECT_EQ(cpu().mode64, 1);
}

TEST_F(SysCall, SyscallUd) {
  long64(3);
  set_star(cpu());
  cpu().efer &= ~efer::SCE;
  expect_fault(exec({0x0f, 0x05}), kUD, kNoErrorCode);
  compat32(3);  // Intel: not in compatibility mode
  set_star(cpu());
  expect_fault(exec({0x0f, 0x05}), kUD, kNoErrorCode);
  protected32(3);
  expect_fault(exec({0x0f, 0x05}), kUD, kNoErrorCode);
}

TEST_F(SysCall, SysretTo64BitMode) {
  long64(0);
  set_star(cpu());
  cpu().gpr[RCX] = 0x0000'7fff'1234'5678ull;
  cpu().gpr[R11] = 0xffff'ffff'ffff'ffffull;
  ASSERT_FALSE(exec({0x48, 0x0f, 0x07}).faulted);
  EXPECT_EQ(cpu().rip, 0x0000'7fff'1234'5678ull);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().seg[CS].selector, 0x2b);
  EXPECT_EQ(cpu().seg[CS].attrib, kCodeAttr64 | kDpl3);
  EXPECT_EQ(cpu().seg[SS].selector, 0x23);
  EXPECT_EQ(cpu().seg[SS].attrib, kStackAttr | kDpl3);
  EXPECT_EQ(read_rflags(cpu()), 0x3c7fd7u | rf::FIXED1);  // RF and VM cleared
  EXPECT_EQ(cpu().mode64, 1);
}

TEST_F(SysCall, SysretToCompatibilityMode) {
  long64(0);
  set_star(cpu());
  cpu().gpr[RCX] = 0xffff'ffff'8765'4321ull;
  cpu().gpr[R11] = rf::FIXED1 | rf::IF;
  ASSERT_FALSE(exec({0x0f, 0x07}).faulted);
  EXPECT_EQ(cpu().rip, 0x8765'4321u);
  EXPECT_EQ(cpu().seg[CS].selector, 0x1b);
  EXPECT_EQ(cpu().seg[CS].attrib, kCodeAttr32 | kDpl3);
  EXPECT_EQ(cpu().mode64, 0);
  EXPECT_EQ(cpu().code32, 1);
}

TEST_F(SysCall, SysretFaults) {
  long64(0);
  set_star(cpu());
  cpu().gpr[RCX] = 0x0000'8000'0000'0000ull;
  const Snapshot s = snapshot();
  expect_fault(exec({0x48, 0x0f, 0x07}), kGP, 0);  // non-canonical RCX (Intel)
  expect_unchanged(s);
  long64(3);
  set_star(cpu());
  expect_fault(exec({0x48, 0x0f, 0x07}), kGP, 0);  // CPL 3
}

TEST_F(SysCall, SysenterSysexit32) {
  protected32(3);
  cpu().msr_sysenter_cs = 0x08;
  cpu().msr_sysenter_esp = 0x1'0000'7000ull;  // the upper half is ignored outside IA-32e
  cpu().msr_sysenter_eip = 0x4000;
  cpu().rflags = rf::FIXED1 | rf::IF;
  ASSERT_FALSE(exec({0x0f, 0x34}).faulted);
  EXPECT_EQ(cpu().cpl, 0);
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ(cpu().gpr[RSP], 0x7000u);
  EXPECT_EQ(cpu().seg[CS].selector, 0x08);
  EXPECT_EQ(cpu().seg[CS].attrib, kCodeAttr32);
  EXPECT_EQ(cpu().seg[SS].selector, 0x10);
  EXPECT_EQ(cpu().rflags & rf::IF, 0u);
  cpu().gpr[RCX] = 0x6000;
  cpu().gpr[RDX] = 0x5000;
  ASSERT_FALSE(exec({0x0f, 0x35}).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().seg[CS].selector, 0x1b);
  EXPECT_EQ(cpu().seg[SS].selector, 0x23);
  EXPECT_EQ(cpu().seg[SS].attrib, kStackAttr | kDpl3);
  EXPECT_EQ(cpu().rip, 0x5000u);
  EXPECT_EQ(cpu().gpr[RSP], 0x6000u);
}

TEST_F(SysCall, SysenterFromV86ClearsVm) {
  v86(0x1000, 3);
  cpu().msr_sysenter_cs = 0x08;
  cpu().msr_sysenter_eip = 0x4000;
  ASSERT_FALSE(exec({0x0f, 0x34}).faulted);
  EXPECT_EQ(cpu().rflags & rf::VM, 0u);
  EXPECT_EQ(cpu().code32, 1);
}

TEST_F(SysCall, SysenterFaults) {
  protected32(3);
  cpu().msr_sysenter_cs = 3;  // selector bits 15:2 zero
  expect_fault(exec({0x0f, 0x34}), kGP, 0);
  real_mode();
  cpu().msr_sysenter_cs = 0x08;
  expect_fault(exec({0x0f, 0x34}), kGP, 0);
}

TEST_F(SysCall, SysexitFaults) {
  protected32(3);
  cpu().msr_sysenter_cs = 0x08;
  expect_fault(exec({0x0f, 0x35}), kGP, 0);  // CPL 3
  protected32(0);
  cpu().msr_sysenter_cs = 0;
  expect_fault(exec({0x0f, 0x35}), kGP, 0);
}

TEST_F(SysCall, Sysenter64AndSysexit64) {
  long64(3);
  cpu().msr_sysenter_cs = 0x28;
  cpu().msr_sysenter_esp = 0xffff'8000'0000'9000ull;
  cpu().msr_sysenter_eip = 0xffff'8000'0000'4000ull;
  ASSERT_FALSE(exec({0x0f, 0x34}).faulted);
  EXPECT_EQ(cpu().rip, 0xffff'8000'0000'4000ull);
  EXPECT_EQ(cpu().gpr[RSP], 0xffff'8000'0000'9000ull);
  EXPECT_EQ(cpu().seg[CS].attrib, kCodeAttr64);
  EXPECT_EQ(cpu().mode64, 1);
  cpu().gpr[RCX] = 0x0000'7fff'0000'8000ull;
  cpu().gpr[RDX] = 0x0000'8000'0000'0000ull;  // non-canonical
  expect_fault(exec({0x48, 0x0f, 0x35}), kGP, 0);
  cpu().gpr[RDX] = 0x0000'7fff'0000'1000ull;
  ASSERT_FALSE(exec({0x48, 0x0f, 0x35}).faulted);
  EXPECT_EQ(cpu().seg[CS].selector, 0x28 + 32 + 3);
  EXPECT_EQ(cpu().seg[SS].selector, 0x28 + 40 + 3);
  EXPECT_EQ(cpu().rip, 0x0000'7fff'0000'1000ull);
  EXPECT_EQ(cpu().gpr[RSP], 0x0000'7fff'0000'8000ull);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().mode64, 1);
}

}  // namespace
}  // namespace umbra::test
