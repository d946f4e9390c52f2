// CLI and STI: IOPL rules in every mode, the VME/PVI virtual-interrupt paths, and the
// interrupt shadow after STI.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/system/mode.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

Outcome cli(TestCpu& t) {
  Insn i = simple_insn(Op::CLI, 1);
  return t.run(i);
}
Outcome sti(TestCpu& t) {
  Insn i = simple_insn(Op::STI, 1);
  return t.run(i);
}

TEST(SysInsnCliSti, RealModeAlwaysChangesIf) {
  TestCpu t;
  auto& c = t.cpu();
  enter_real_mode(c);
  ASSERT_FALSE(sti(t).faulted);
  EXPECT_TRUE(c.rflags & rf::IF);
  ASSERT_FALSE(cli(t).faulted);
  EXPECT_FALSE(c.rflags & rf::IF);
  EXPECT_EQ(c.rip, kSysRip + 2);
}

TEST(SysInsnCliSti, ProtectedModeCplAgainstIopl) {
  for (unsigned cpl = 0; cpl < 4; ++cpl) {
    for (unsigned iopl = 0; iopl < 4; ++iopl) {
      for (bool long_mode : {false, true}) {
        TestCpu t;
        auto& c = t.cpu();
        if (long_mode)
          enter_long_mode(c, cpl);
        else
          enter_protected32(c, cpl);
        set_iopl(c, iopl);
        const bool allowed = cpl <= iopl;
        EXPECT_EQ(fault_of(sti(t)), allowed ? -1 : kGP) << cpl << iopl;
        EXPECT_EQ(static_cast<bool>(c.rflags & rf::IF), allowed);
        c.rflags |= rf::IF;
        EXPECT_EQ(fault_of(cli(t)), allowed ? -1 : kGP);
        EXPECT_EQ(static_cast<bool>(c.rflags & rf::IF), !allowed);
        EXPECT_FALSE(c.rflags & rf::VIF);
      }
    }
  }
}

TEST(SysInsnCliSti, StiSetsTheShadowOnlyWhenIfWasClear) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  ASSERT_FALSE(sti(t).faulted);
  EXPECT_EQ(c.interrupt_shadow, 1);
  c.interrupt_shadow = 0;
  ASSERT_FALSE(sti(t).faulted);  // IF already 1: no shadow
  EXPECT_EQ(c.interrupt_shadow, 0);
  ASSERT_FALSE(cli(t).faulted);
  EXPECT_EQ(c.interrupt_shadow, 0);
}

TEST(SysInsnCliSti, ProtectedModeVirtualInterruptsAtCpl3WithPvi) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c, 3);
  c.cr4 |= cr4::PVI;
  c.rflags |= rf::IF;
  ASSERT_FALSE(cli(t).faulted);
  EXPECT_TRUE(c.rflags & rf::IF);  // IF untouched
  EXPECT_FALSE(c.rflags & rf::VIF);
  ASSERT_FALSE(sti(t).faulted);
  EXPECT_TRUE(c.rflags & rf::VIF);
  EXPECT_EQ(c.interrupt_shadow, 0);
  // A pending virtual interrupt: STI faults so the handler can deliver it.
  c.rflags &= ~rf::VIF;
  c.rflags |= rf::VIP;
  EXPECT_EQ(fault_of(sti(t)), kGP);
  EXPECT_FALSE(c.rflags & rf::VIF);
  // PVI applies to CPL 3 only.
  enter_protected32(c, 1);
  c.cr4 |= cr4::PVI;
  EXPECT_EQ(fault_of(cli(t)), kGP);
}

TEST(SysInsnCliSti, Virtual8086Mode) {
  TestCpu t;
  auto& c = t.cpu();
  enter_v86(c, 3);  // IOPL 3: IF
  ASSERT_FALSE(sti(t).faulted);
  EXPECT_TRUE(c.rflags & rf::IF);
  enter_v86(c, 2);  // IOPL < 3 without VME: #GP
  EXPECT_EQ(fault_of(sti(t)), kGP);
  EXPECT_EQ(fault_of(cli(t)), kGP);
  c.cr4 |= cr4::VME;  // with VME: VIF
  c.rflags |= rf::IF;
  ASSERT_FALSE(cli(t).faulted);
  EXPECT_TRUE(c.rflags & rf::IF);
  EXPECT_FALSE(c.rflags & rf::VIF);
  ASSERT_FALSE(sti(t).faulted);
  EXPECT_TRUE(c.rflags & rf::VIF);
}

}  // namespace
}  // namespace umbra::test
