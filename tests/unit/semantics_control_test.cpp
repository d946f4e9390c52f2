// Near control-transfer semantics: JMP, Jcc, JMP/CALL r/m, CALL, RET, LOOP/LOOPE/LOOPNE,
// JCXZ/JECXZ/JRCXZ, and HLT. Checks targets, operand-size truncation, the non-canonical #GP
// (RIP unchanged), stack effects, and that a faulting push leaves RIP and RSP untouched.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "jit/engine.h"
#include "tests/unit/semb_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {
namespace {

constexpr uint64_t kRip = 0x401000;
constexpr uint64_t kStack = 0x80000;

Insn rel_branch(Op op, unsigned opsize, int64_t disp, unsigned len = 5) {
  Insn i = make_insn(op, opsize, len);
  i.imm = static_cast<uint64_t>(disp);
  return i;
}

// ---------------------------------------------------------------- JMP rel

TEST(ControlJmp, RelativeForwardAndBackward) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = kRip;
  Insn f = rel_branch(Op::JMP, 8, 0x100);
  ASSERT_FALSE(t.run(f).faulted);
  EXPECT_EQ(c.rip, kRip + 5 + 0x100);
  Insn b = rel_branch(Op::JMP, 8, -0x200, 2);
  t.run(b);
  EXPECT_EQ(c.rip, kRip + 5 + 0x100 + 2 - 0x200);
}

TEST(ControlJmp, NonCanonicalTargetFaultsWithRipUnchanged) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = 0x00007ffffffffff0ull;
  Insn i = rel_branch(Op::JMP, 8, 0x100);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(o.error_code, 0u);
  EXPECT_EQ(c.rip, 0x00007ffffffffff0ull);
  // The highest canonical address is fine.
  c.rip = 0x00007ffffffffff0ull;
  Insn ok = rel_branch(Op::JMP, 8, 0xa);
  ASSERT_FALSE(t.run(ok).faulted);
  EXPECT_EQ(c.rip, 0x00007fffffffffffull);
}

TEST(ControlJmp, OperandSizeTruncatesTarget) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, true, true);
  c.rip = 0xfffffff0;
  Insn d = rel_branch(Op::JMP, 4, 0x20);
  t.run(d);
  EXPECT_EQ(c.rip, 0x15u);  // EIP wraps at 4 GiB
  c.rip = 0x1fff0;
  Insn w = rel_branch(Op::JMP, 2, 0x20, 4);
  t.run(w);
  EXPECT_EQ(c.rip, 0x14u);  // 16-bit operand size: IP = (0x1fff0 + 4 + 0x20) & 0xffff
}

// ---------------------------------------------------------------- Jcc

TEST(ControlJcc, TakenAndNotTakenEveryCondition) {
  TestCpu t;
  auto& c = t.cpu();
  // After CMP 3, 5 (signed and unsigned less-than, not equal, SF set, PF of 0xfe is 0).
  const bool expect[16] = {0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0};
  for (unsigned cc = 0; cc < 16; ++cc) {
    set_lazy<uint32_t>(c, kLazySub, 3u - 5u, 3, 5);
    c.rip = kRip;
    Insn i = rel_branch(Op::JCC, 8, -0x40, 2);
    i.cond = static_cast<uint8_t>(cc);
    ASSERT_FALSE(t.run(i).faulted);
    EXPECT_EQ(c.rip, expect[cc] ? kRip + 2 - 0x40 : kRip + 2) << cc;
  }
}

TEST(ControlJcc, EagerFlagsEveryCombination) {
  TestCpu t;
  auto& c = t.cpu();
  for (unsigned cc = 0; cc < 16; ++cc) {
    for (unsigned m = 0; m < 32; ++m) {
      const uint64_t f = ((m & 1) ? rf::OF : 0) | ((m & 2) ? rf::SF : 0) | ((m & 4) ? rf::ZF : 0) |
                         ((m & 8) ? rf::PF : 0) | ((m & 16) ? rf::CF : 0);
      set_arith_flags(c, f);
      const bool of = f & rf::OF, sf = f & rf::SF, zf = f & rf::ZF, pf = f & rf::PF,
                 cf = f & rf::CF;
      const bool base[8] = {of, cf, zf, cf || zf, sf, pf, sf != of, zf || sf != of};
      const bool want = base[cc >> 1] ^ (cc & 1);
      c.rip = kRip;
      Insn i = rel_branch(Op::JCC, 8, 0x10, 6);
      i.cond = static_cast<uint8_t>(cc);
      t.run(i);
      ASSERT_EQ(c.rip, want ? kRip + 6 + 0x10 : kRip + 6) << cc << " " << m;
    }
  }
}

TEST(ControlJcc, NotTakenNeverFaultsOnBadTarget) {
  TestCpu t;
  auto& c = t.cpu();
  set_arith_flags(c, 0);
  c.rip = 0x00007ffffffffff0ull;
  Insn i = rel_branch(Op::JCC, 8, 0x1000, 6);
  i.cond = 4;  // E: false
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.rip, 0x00007ffffffffff6ull);
  i.cond = 5;  // NE: true, non-canonical
  c.rip = 0x00007ffffffffff0ull;
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(c.rip, 0x00007ffffffffff0ull);
}

TEST(ControlJcc, SixteenBitOperandSizeInLegacyMode) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, false, false);
  set_arith_flags(c, rf::CF);
  c.rip = 0xfff0;
  Insn i = rel_branch(Op::JCC, 2, 0x30, 4);
  i.cond = 2;  // B
  t.run(i);
  EXPECT_EQ(c.rip, 0x24u);
}

// ---------------------------------------------------------------- JMP r/m

TEST(ControlJmpIndirect, RegisterAndMemory) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RAX] = 0x123456;
  Insn r = make_insn(Op::JMP_IND, 8, 2);
  r.dst = reg_operand(RAX);
  t.run(r);
  EXPECT_EQ(c.rip, 0x123456u);

  t.write<uint64_t>(0x9000, 0x777777);
  c.gpr[RBX] = 0x9000;
  Insn m = make_insn(Op::JMP_IND, 8, 2);
  m.dst = mem_operand();
  set_mem(m, RBX, 0);
  t.run(m);
  EXPECT_EQ(c.rip, 0x777777u);

  // 16-bit operand size: IP <- r/m16, zero-extended.
  c.gpr[RAX] = 0xffffffffffff1234ull;
  Insn w = make_insn(Op::JMP_IND, 2, 3);
  w.dst = reg_operand(RAX);
  t.run(w);
  EXPECT_EQ(c.rip, 0x1234u);
}

TEST(ControlJmpIndirect, NonCanonicalTargetFaults) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = kRip;
  c.gpr[RAX] = 0x0000800000000000ull;
  Insn r = make_insn(Op::JMP_IND, 8, 2);
  r.dst = reg_operand(RAX);
  Outcome o = t.run(r);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(c.rip, kRip);
  c.gpr[RAX] = 0xffff800000000000ull;  // canonical upper half
  ASSERT_FALSE(t.run(r).faulted);
  EXPECT_EQ(c.rip, 0xffff800000000000ull);
}

// ---------------------------------------------------------------- CALL / RET

TEST(ControlCall, RelativePushesReturnAddress) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = kRip;
  c.gpr[RSP] = kStack;
  Insn i = rel_branch(Op::CALL, 8, 0x1234);
  t.run(i);
  EXPECT_EQ(c.rip, kRip + 5 + 0x1234);
  EXPECT_EQ(c.gpr[RSP], kStack - 8);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), kRip + 5);

  Insn r = make_insn(Op::RET, 8, 1);
  t.run(r);
  EXPECT_EQ(c.rip, kRip + 5);
  EXPECT_EQ(c.gpr[RSP], kStack);
}

TEST(ControlCall, FaultingPushLeavesRipAndRsp) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(kStack - 8);
  c.rip = kRip;
  c.gpr[RSP] = kStack;
  Insn i = rel_branch(Op::CALL, 8, 0x1234);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(o.error_code, 2u);  // not present, write
  EXPECT_EQ(c.rip, kRip);
  EXPECT_EQ(c.gpr[RSP], kStack);
}

TEST(ControlCall, NonCanonicalTargetFaultsBeforePushing) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = 0x00007ffffffffff0ull;
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack - 8, 0xabcdef);
  Insn i = rel_branch(Op::CALL, 8, 0x100);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(c.gpr[RSP], kStack);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), 0xabcdefu);
}

TEST(ControlCall, IndirectThroughRspUsesOldRsp) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = kRip;
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack, 0x5000);  // [RSP] before the push
  t.write<uint64_t>(kStack - 8, 0x6000);
  Insn i = make_insn(Op::CALL_IND, 8, 3);
  i.dst = mem_operand();
  set_mem(i, RSP, 0);
  t.run(i);
  EXPECT_EQ(c.rip, 0x5000u);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), kRip + 3);
  EXPECT_EQ(c.gpr[RSP], kStack - 8);

  c.gpr[RCX] = 0x7000;
  Insn r = make_insn(Op::CALL_IND, 8, 2);
  r.dst = reg_operand(RCX);
  c.rip = kRip;
  t.run(r);
  EXPECT_EQ(c.rip, 0x7000u);
  EXPECT_EQ(t.read<uint64_t>(kStack - 16), kRip + 2);
}

TEST(ControlCall, SixteenBitOperandSizePushesAWord) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = 0x12345;
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack - 8, ~uint64_t{0});
  Insn i = rel_branch(Op::CALL, 2, 0x10, 4);
  t.run(i);
  EXPECT_EQ(c.gpr[RSP], kStack - 2);
  EXPECT_EQ(t.read<uint16_t>(kStack - 2), 0x2349u);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), 0x2349ffffffffffffull);
  EXPECT_EQ(c.rip, 0x2359u);
  Insn r = make_insn(Op::RET, 2, 2);
  t.run(r);
  EXPECT_EQ(c.rip, 0x2349u);
  EXPECT_EQ(c.gpr[RSP], kStack);
}

TEST(ControlCall, LegacyThirtyTwoBitWithSixteenBitStack) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, true, false);
  c.seg[SS].base = 0x30000;
  c.gpr[RSP] = 0xdead0002;  // SP = 2: the push wraps to 0xfffe
  c.rip = 0x1000;
  Insn i = rel_branch(Op::CALL, 4, 0x100);
  t.run(i);
  EXPECT_EQ(c.gpr[RSP], 0xdeadfffeu);
  EXPECT_EQ(t.read<uint32_t>(0x30000 + 0xfffe), 0x1005u);
  EXPECT_EQ(c.rip, 0x1105u);
  Insn r = make_insn(Op::RET, 4, 1);
  t.run(r);
  EXPECT_EQ(c.gpr[RSP], 0xdead0002u);
  EXPECT_EQ(c.rip, 0x1005u);
}

TEST(ControlRet, ImmediateReleasesExtraBytes) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack, 0x4444);
  Insn r = make_insn(Op::RET, 8, 3);
  r.imm = 0x18;
  t.run(r);
  EXPECT_EQ(c.rip, 0x4444u);
  EXPECT_EQ(c.gpr[RSP], kStack + 8 + 0x18);
}

TEST(ControlRet, NonCanonicalReturnAddressFaults) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = kRip;
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack, 0x1234567812345678ull);
  Insn r = make_insn(Op::RET, 8, 1);
  Outcome o = t.run(r);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(c.rip, kRip);
  EXPECT_EQ(c.gpr[RSP], kStack);
}

TEST(ControlRet, FaultingPopLeavesState) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(kStack);
  c.rip = kRip;
  c.gpr[RSP] = kStack;
  Insn r = make_insn(Op::RET, 8, 1);
  Outcome o = t.run(r);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(o.error_code, 0u);
  EXPECT_EQ(c.rip, kRip);
  EXPECT_EQ(c.gpr[RSP], kStack);
}

// ---------------------------------------------------------------- LOOP / JRCXZ

Insn loop_insn(Op op, unsigned addr_size, int64_t disp = -0x10) {
  Insn i = rel_branch(op, 8, disp, 2);
  i.addr_size = static_cast<uint8_t>(addr_size);
  return i;
}

TEST(ControlLoop, CountsAndBranches) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RCX] = 3;
  Insn i = loop_insn(Op::LOOP, 8);
  c.rip = kRip;
  t.run(i);
  EXPECT_EQ(c.gpr[RCX], 2u);
  EXPECT_EQ(c.rip, kRip + 2 - 0x10);
  c.gpr[RCX] = 1;  // reaches zero: falls through
  c.rip = kRip;
  t.run(i);
  EXPECT_EQ(c.gpr[RCX], 0u);
  EXPECT_EQ(c.rip, kRip + 2);
  c.rip = kRip;  // from zero: wraps and branches
  t.run(i);
  EXPECT_EQ(c.gpr[RCX], ~uint64_t{0});
  EXPECT_EQ(c.rip, kRip + 2 - 0x10);
}

TEST(ControlLoop, AddressSizeSelectsCountRegister) {
  TestCpu t;
  auto& c = t.cpu();
  // Host: 67 loop from RCX = ffffffff00000000 leaves 00000000ffffffff (ECX zero-extends).
  c.gpr[RCX] = 0xffffffff00000000ull;
  Insn d = loop_insn(Op::LOOP, 4);
  t.run(d);
  EXPECT_EQ(c.gpr[RCX], 0x00000000ffffffffull);
  c.gpr[RCX] = 0xffffffff00000001ull;
  c.rip = kRip;
  t.run(d);
  EXPECT_EQ(c.gpr[RCX], 0u);
  EXPECT_EQ(c.rip, kRip + 2);
  // CX: only the low word changes.
  c.gpr[RCX] = 0x1234567800010000ull;
  Insn w = loop_insn(Op::LOOP, 2);
  c.rip = kRip;
  t.run(w);
  EXPECT_EQ(c.gpr[RCX], 0x123456780001ffffull);
  EXPECT_EQ(c.rip, kRip + 2 - 0x10);
}

TEST(ControlLoop, LoopeAndLoopneTestZf) {
  TestCpu t;
  auto& c = t.cpu();
  for (bool zf : {false, true}) {
    for (Op op : {Op::LOOPE, Op::LOOPNE}) {
      set_arith_flags(c, zf ? rf::ZF : 0);
      c.gpr[RCX] = 5;
      c.rip = kRip;
      Insn i = loop_insn(op, 8);
      t.run(i);
      EXPECT_EQ(c.gpr[RCX], 4u);
      const bool taken = op == Op::LOOPE ? zf : !zf;
      EXPECT_EQ(c.rip, taken ? kRip + 2 - 0x10 : kRip + 2);
      // Count reaching zero ends the loop whatever ZF says.
      c.gpr[RCX] = 1;
      c.rip = kRip;
      t.run(i);
      EXPECT_EQ(c.rip, kRip + 2);
    }
  }
}

TEST(ControlLoop, NonCanonicalTargetLeavesCount) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RCX] = 7;
  c.rip = 0x00007ffffffffff0ull;
  Insn i = loop_insn(Op::LOOP, 8, 0x70);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(c.gpr[RCX], 7u);
  EXPECT_EQ(c.rip, 0x00007ffffffffff0ull);
}

TEST(ControlJrcxz, AddressSizeSelectsCountRegister) {
  TestCpu t;
  auto& c = t.cpu();
  struct Case {
    unsigned addr_size;
    uint64_t rcx;
    bool taken;
  } cases[] = {{8, 0, true},
               {8, 0x100000000ull, false},
               {4, 0xffffffff00000000ull, true},  // host: jecxz taken
               {4, 1, false},
               {2, 0xffff0000, true},
               {2, 0x10001, false}};
  for (const Case& k : cases) {
    c.gpr[RCX] = k.rcx;
    c.rip = kRip;
    Insn i = loop_insn(Op::JRCXZ, k.addr_size, 0x40);
    t.run(i);
    EXPECT_EQ(c.rip, k.taken ? kRip + 2 + 0x40 : kRip + 2) << k.addr_size << " " << k.rcx;
    EXPECT_EQ(c.gpr[RCX], k.rcx);
  }
}

// ---------------------------------------------------------------- HLT

TEST(ControlHlt, HaltsAtCplZero) {
  TestCpu t;
  auto& c = t.cpu();
  c.rip = kRip;
  Insn i = make_insn(Op::HLT, 4, 1);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.halted, 1);
  EXPECT_TRUE(c.exit_request & kExitHalt);
  EXPECT_EQ(c.rip, kRip + 1);
}

TEST(ControlHlt, PrivilegedAboveCplZero) {
  TestCpu t;
  auto& c = t.cpu();
  c.cpl = 3;
  c.rip = kRip;
  Insn i = make_insn(Op::HLT, 4, 1);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(o.error_code, 0u);
  EXPECT_EQ(c.halted, 0);
  EXPECT_EQ(c.exit_request, 0u);
  EXPECT_EQ(c.rip, kRip);
}

}  // namespace
}  // namespace umbra::test
