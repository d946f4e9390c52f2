// Unit tests of the logical semantics (frontend/semantics/logic.cpp): AND OR XOR TEST NOT in
// every size and operand form against the host CPU running the same instruction.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/flags.h"
#include "frontend/insn.h"
#include "tests/unit/sema_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::sema {
namespace {

DEFINE_HOST_BINARY(host_and, "and")
DEFINE_HOST_BINARY(host_or, "or")
DEFINE_HOST_BINARY(host_xor, "xor")
DEFINE_HOST_BINARY(host_test, "test")
DEFINE_HOST_UNARY(host_not, "not")

// AF is undefined after AND, OR, XOR, TEST (SDM vol. 2, AND).
TEST(LogicOps, AndMatchesHost) {
  check_binary_op(Op::AND, host_and, {1, 2, 4, 8}, 21, rf::AF);
}
TEST(LogicOps, OrMatchesHost) {
  check_binary_op(Op::OR, host_or, {1, 2, 4, 8}, 22, rf::AF);
}
TEST(LogicOps, XorMatchesHost) {
  check_binary_op(Op::XOR, host_xor, {1, 2, 4, 8}, 23, rf::AF);
}
TEST(LogicOps, TestMatchesHost) {
  check_binary_op(Op::TEST, host_test, {1, 2, 4, 8}, 24, rf::AF);
}
TEST(LogicOps, NotMatchesHost) {
  check_unary_op(Op::NOT, host_not, 25);
}

// XOR r32, r32 with one register: the zeroing idiom clears the whole 64-bit register.
TEST(LogicOps, XorSameRegisterZeroesAndZeroExtends) {
  TestCpu t;
  reset_cpu(t, rf::CF | rf::OF);
  CpuState& cpu = t.cpu();
  cpu.gpr[R12] = 0xffffffffffffffffull;
  Insn i = make_insn(Op::XOR, 4, 3);
  i.dst = reg_operand(R12);
  i.src = reg_operand(R12);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[R12], 0u);
  EXPECT_EQ(arith_flags(cpu), rf::ZF | rf::PF);
  EXPECT_EQ(cpu.rip, kStartRip + 3);
}

// AND BH, imm and OR AL, CH: high-byte registers on both sides.
TEST(LogicOps, HighByteRegisters) {
  TestCpu t;
  reset_cpu(t, 0);
  CpuState& cpu = t.cpu();
  cpu.gpr[RBX] = 0x77777777777781ffull;
  Insn i = make_insn(Op::AND, 1);
  i.dst = reg_operand(kRegAH + 3);  // BH
  i.src = imm_operand();
  i.imm = 0x80;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RBX], 0x77777777777780ffull);
  EXPECT_EQ(arith_flags(cpu), rf::SF);  // 0x80: one bit set, odd parity
  cpu.gpr[RAX] = 0x0101;
  cpu.gpr[RCX] = 0x4200;
  i = make_insn(Op::OR, 1);
  i.dst = reg_operand(RAX);
  i.src = reg_operand(kRegAH + 1);  // CH
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RAX], 0x0143u);
  EXPECT_EQ(arith_flags(cpu), 0u);  // 0x43: three bits set
}

TEST(LogicOps, ReadOnlyMemoryDestinationFaultsWithoutSideEffects) {
  TestCpu t;
  ReadOnlyPagesTranslator ro;
  ro.readonly.insert(kDataBase);
  t.cpu().translator = &ro;
  tlb_flush_all(t.cpu());
  for (Op op : {Op::AND, Op::OR, Op::XOR}) {
    const UmbraOut u = run_binary(t, op, 2, BinForm::MemImm, 0x1234, 0xff, rf::CF | rf::AF);
    EXPECT_TRUE(u.outcome.faulted) << op_name(op);
    EXPECT_EQ(u.outcome.vector, kPF);
    EXPECT_EQ(u.dst, 0x1234u);
    EXPECT_EQ(u.flags, rf::CF | rf::AF);
    EXPECT_EQ(u.rip, kStartRip);
  }
  const UmbraOut n = run_unary(t, Op::NOT, 4, true, 0x1234, 0);
  EXPECT_TRUE(n.outcome.faulted);
  EXPECT_EQ(n.dst, 0x1234u);
  // TEST only reads.
  const UmbraOut u = run_binary(t, Op::TEST, 8, BinForm::MemReg, 0x10, 0x10, rf::CF);
  EXPECT_FALSE(u.outcome.faulted);
  EXPECT_EQ(u.flags, 0u);
  t.cpu().translator = nullptr;
}

// NOT changes no flags, whatever the lazy state before it.
TEST(LogicOps, NotPreservesLazyFlags) {
  TestCpu t;
  reset_cpu(t, 0);
  CpuState& cpu = t.cpu();
  set_lazy<uint32_t>(cpu, kLazySub, 0xffffffff, 0, 1);
  const uint64_t before = arith_flags(cpu);
  Insn i = make_insn(Op::NOT, 8, 3);
  i.dst = reg_operand(RDI);
  cpu.gpr[RDI] = 0x00ff00ff00ff00ffull;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RDI], 0xff00ff00ff00ff00ull);
  EXPECT_EQ(arith_flags(cpu), before);
}

}  // namespace
}  // namespace umbra::test::sema
