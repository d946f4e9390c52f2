// MOV to/from DR0-DR7 (privilege, DR4/DR5 aliasing and CR4.DE, general detect, fixed and
// reserved bits) and UD0/UD1/UD2.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/system/mode.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

Outcome write_dr(TestCpu& t, unsigned dr, uint64_t v, unsigned opsize = 8) {
  t.cpu().gpr[RAX] = v;
  Insn i = mov_to_dr(dr, RAX, opsize);
  return t.run(i);
}

Outcome read_dr(TestCpu& t, unsigned dr, uint64_t* v, unsigned opsize = 8) {
  t.cpu().gpr[RBX] = 0x5555555555555555ull;
  Insn i = mov_from_dr(RBX, dr, opsize);
  Outcome o = t.run(i);
  *v = t.cpu().gpr[RBX];
  return o;
}

TEST(SysInsnDr, NeedsCpl0) {
  for (unsigned cpl : {1u, 3u}) {
    TestCpu t;
    auto& c = t.cpu();
    enter_long_mode(c, cpl);
    EXPECT_EQ(fault_of(write_dr(t, 0, 0x1000)), kGP);
    EXPECT_EQ(c.dr[0], 0u);
    uint64_t v;
    EXPECT_EQ(fault_of(read_dr(t, 7, &v)), kGP);
    EXPECT_EQ(v, 0x5555555555555555ull);
    EXPECT_EQ(c.rip, kSysRip);
  }
  TestCpu t;
  enter_v86(t.cpu(), 3);
  EXPECT_EQ(fault_of(write_dr(t, 0, 0, 4)), kGP);
}

TEST(SysInsnDr, BreakpointAddressesRoundTrip) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  for (unsigned n = 0; n < 4; ++n) {
    const uint64_t a = 0xffff800000001000ull + n;
    ASSERT_FALSE(write_dr(t, n, a).faulted);
    uint64_t v;
    ASSERT_FALSE(read_dr(t, n, &v).faulted);
    EXPECT_EQ(v, a);
  }
  // 32-bit modes move 32 bits.
  enter_protected32(c);
  ASSERT_FALSE(write_dr(t, 1, 0xffffffff12345678ull, 4).faulted);
  EXPECT_EQ(c.dr[1], 0x12345678u);
}

TEST(SysInsnDr, Dr6AndDr7FixedBits) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  uint64_t v;
  // Zeroed state reads with the fixed ones (power-on values).
  ASSERT_FALSE(read_dr(t, 6, &v).faulted);
  EXPECT_EQ(v, 0xFFFF0FF0u);
  ASSERT_FALSE(read_dr(t, 7, &v).faulted);
  EXPECT_EQ(v, 0x400u);
  ASSERT_FALSE(write_dr(t, 6, 0).faulted);
  ASSERT_FALSE(read_dr(t, 6, &v).faulted);
  EXPECT_EQ(v, 0xFFFF0FF0u);
  ASSERT_FALSE(write_dr(t, 6, 0xFFFFFFFF).faulted);
  ASSERT_FALSE(read_dr(t, 6, &v).faulted);
  EXPECT_EQ(v, 0xFFFFEFFFu);  // bit 12 reads as 0
  ASSERT_FALSE(write_dr(t, 7, 0xFFFFFFFF & ~(1u << 13)).faulted);
  ASSERT_FALSE(read_dr(t, 7, &v).faulted);
  EXPECT_EQ(v, 0xFFFF07FFu);  // bits 11, 12, 14, 15 read as 0, bit 10 as 1
}

TEST(SysInsnDr, Dr6Dr7UpperHalfIsReserved) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.dr[7] = 0x401;
  EXPECT_EQ(fault_of(write_dr(t, 7, uint64_t{1} << 32)), kGP);
  EXPECT_EQ(fault_of(write_dr(t, 6, uint64_t{1} << 63)), kGP);
  EXPECT_EQ(c.dr[7], 0x401u);
  // DR0-DR3 hold 64-bit addresses: no such rule.
  EXPECT_FALSE(write_dr(t, 3, uint64_t{1} << 63).faulted);
}

TEST(SysInsnDr, Dr4Dr5AliasDr6Dr7WithoutDe) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  ASSERT_FALSE(write_dr(t, 5, 0x3).faulted);  // DR5 -> DR7
  EXPECT_EQ(c.dr[7], 0x403u);
  uint64_t v;
  ASSERT_FALSE(read_dr(t, 5, &v).faulted);
  EXPECT_EQ(v, 0x403u);
  ASSERT_FALSE(write_dr(t, 4, 0x1).faulted);  // DR4 -> DR6
  ASSERT_FALSE(read_dr(t, 4, &v).faulted);
  EXPECT_EQ(v, 0xFFFF0FF1u);
}

TEST(SysInsnDr, Dr4Dr5AreUndefinedWithDe) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.cr4 |= cr4::DE;
  EXPECT_EQ(fault_of(write_dr(t, 4, 0)), kUD);
  uint64_t v;
  EXPECT_EQ(fault_of(read_dr(t, 5, &v)), kUD);
  EXPECT_FALSE(write_dr(t, 6, 0).faulted);
}

TEST(SysInsnDr, GeneralDetectRaisesDebugFault) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.dr[7] = 0x400 | (1u << 13);  // GD
  c.dr[6] = 0xFFFF0FF0;
  Outcome o = write_dr(t, 0, 0x1234);
  EXPECT_EQ(fault_of(o), kDB);
  EXPECT_EQ(c.rip, kSysRip);  // a fault: RIP at the MOV
  EXPECT_EQ(c.dr[0], 0u);
  EXPECT_TRUE(c.dr[6] & (1u << 13));   // DR6.BD
  EXPECT_FALSE(c.dr[7] & (1u << 13));  // GD cleared for the handler
  // The handler can now use the debug registers.
  EXPECT_FALSE(write_dr(t, 0, 0x1234).faulted);
  // The privilege check comes first.
  enter_long_mode(c, 3);
  c.dr[7] = 0x400 | (1u << 13);
  EXPECT_EQ(fault_of(write_dr(t, 0, 0)), kGP);
}

TEST(SysInsnUd, Ud0Ud1Ud2AlwaysRaiseUd) {
  for (Op op : {Op::UD0, Op::UD1, Op::UD2}) {
    for (unsigned cpl : {0u, 3u}) {
      TestCpu t;
      auto& c = t.cpu();
      enter_long_mode(c, cpl);
      Insn i = make_insn(op, 4, 3);
      if (op != Op::UD2) {
        i.dst = reg_operand(RAX);
        i.src = mem_operand();
        set_mem(i, RBX, 0);
        c.gpr[RBX] = ~uint64_t{0} << 50;  // non-canonical: would #GP if it were accessed
      }
      Outcome o = t.run(i);
      EXPECT_EQ(fault_of(o), kUD) << op_name(op);
      EXPECT_EQ(c.rip, kSysRip);
      EXPECT_EQ(unimplemented_count(op), 0u);
    }
  }
}

}  // namespace
}  // namespace umbra::test
