// Stack semantics: PUSH/POP (register, memory, immediate), PUSH Sreg, PUSHA/POPA, PUSHF/POPF,
// ENTER, LEAVE, in 64-bit mode and with 32- and 16-bit stacks. Expected values marked "host"
// were observed on the host CPU (AMD) with the same operands.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "tests/unit/semb_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {
namespace {

constexpr uint64_t kStack = 0x80000;
constexpr uint64_t kRip = 0x1000;

Insn push_reg(unsigned size, uint8_t r) {
  Insn i = make_insn(Op::PUSH, size, 1);
  i.dst = reg_operand(r);
  return i;
}
Insn pop_reg(unsigned size, uint8_t r) {
  Insn i = make_insn(Op::POP, size, 1);
  i.dst = reg_operand(r);
  return i;
}

// ---------------------------------------------------------------- PUSH / POP

TEST(StackPushPop, RegisterRoundTrip64) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  c.gpr[R12] = 0x1122334455667788ull;
  c.rip = kRip;
  Insn p = push_reg(8, R12);
  t.run(p);
  EXPECT_EQ(c.gpr[RSP], kStack - 8);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), 0x1122334455667788ull);
  EXPECT_EQ(c.rip, kRip + 1);
  Insn q = pop_reg(8, R13);
  t.run(q);
  EXPECT_EQ(c.gpr[R13], 0x1122334455667788ull);
  EXPECT_EQ(c.gpr[RSP], kStack);
}

TEST(StackPushPop, SixteenBitOperandSize) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  c.gpr[RAX] = 0xaaaabbbbccccddddull;
  t.write<uint64_t>(kStack - 8, 0);
  Insn p = push_reg(2, RAX);
  t.run(p);
  EXPECT_EQ(c.gpr[RSP], kStack - 2);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), 0xdddd000000000000ull);
  c.gpr[RBX] = 0x1111111111111111ull;
  Insn q = pop_reg(2, RBX);
  t.run(q);
  EXPECT_EQ(c.gpr[RBX], 0x111111111111ddddull);
  EXPECT_EQ(c.gpr[RSP], kStack);
}

TEST(StackPushPop, ImmediateAndMemorySources) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  Insn i = make_insn(Op::PUSH, 8, 2);
  i.dst = imm_operand();
  i.imm = 0xffffffffffffff80ull;  // push -128 (sign-extended imm8)
  t.run(i);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), 0xffffffffffffff80ull);
  // PUSH [RSP]: addressed with the RSP before the push.
  Insn m = make_insn(Op::PUSH, 8, 3);
  m.dst = mem_operand();
  set_mem(m, RSP, 0);
  t.run(m);
  EXPECT_EQ(c.gpr[RSP], kStack - 16);
  EXPECT_EQ(t.read<uint64_t>(kStack - 16), 0xffffffffffffff80ull);
}

TEST(StackPushPop, SixteenBitImmediateAndMemoryIn64BitMode) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  Insn i = make_insn(Op::PUSH, 2, 4);
  i.dst = imm_operand();
  i.imm = 0xfffffffffffff234ull;
  t.run(i);
  EXPECT_EQ(c.gpr[RSP], kStack - 2);
  EXPECT_EQ(t.read<uint16_t>(kStack - 2), 0xf234u);
  t.write<uint16_t>(0x9000, 0x5678);
  c.gpr[RBX] = 0x9000;
  Insn m = make_insn(Op::PUSH, 2, 3);
  m.dst = mem_operand();
  set_mem(m, RBX, 0);
  t.run(m);
  EXPECT_EQ(t.read<uint16_t>(kStack - 4), 0x5678u);
  Insn q = make_insn(Op::POP, 2, 3);
  q.dst = mem_operand();
  set_mem(q, RBX, 2);
  t.run(q);
  EXPECT_EQ(t.read<uint16_t>(0x9002), 0x5678u);
  EXPECT_EQ(c.gpr[RSP], kStack - 2);
}

TEST(StackPushPop, PushRspPushesOldValue) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  Insn p = push_reg(8, RSP);
  t.run(p);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), kStack);
  EXPECT_EQ(c.gpr[RSP], kStack - 8);
}

TEST(StackPushPop, PopRspLoadsPoppedValue) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack, 0x12340);
  Insn q = pop_reg(8, RSP);
  t.run(q);
  EXPECT_EQ(c.gpr[RSP], 0x12340u);
}

TEST(StackPushPop, PopToMemoryUsesIncrementedRsp) {
  // Host: with [rsp] = 0x77, popq (%rsp) stores 0x77 at the old rsp + 8.
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack, 0x77);
  t.write<uint64_t>(kStack + 8, 0);
  Insn q = make_insn(Op::POP, 8, 3);
  q.dst = mem_operand();
  set_mem(q, RSP, 0);
  t.run(q);
  EXPECT_EQ(c.gpr[RSP], kStack + 8);
  EXPECT_EQ(t.read<uint64_t>(kStack + 8), 0x77u);
  EXPECT_EQ(t.read<uint64_t>(kStack), 0x77u);
}

TEST(StackPushPop, FaultsLeaveRspUnchanged) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(kStack - 8);
  c.gpr[RSP] = kStack;
  c.rip = kRip;
  Insn push = push_reg(8, RAX);
  Outcome o = t.run(push);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(c.gpr[RSP], kStack);
  EXPECT_EQ(c.rip, kRip);
  // POP into an unwritable memory operand: RSP is not incremented.
  p.readonly(0x90000);
  t.write<uint64_t>(kStack, 5);
  c.gpr[RBX] = 0x90000;
  Insn pm = make_insn(Op::POP, 8, 2);
  pm.dst = mem_operand();
  set_mem(pm, RBX, 0);
  o = t.run(pm);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(c.gpr[RSP], kStack);
  // POP from an unmapped stack slot.
  c.gpr[RSP] = kStack - 8;
  c.gpr[RCX] = 3;
  Insn pr = pop_reg(8, RCX);
  o = t.run(pr);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(c.gpr[RCX], 3u);
  EXPECT_EQ(c.gpr[RSP], kStack - 8);
}

TEST(StackPushPop, ThirtyTwoBitStackWithSegmentBase) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, true, true);
  c.seg[SS].base = 0x100000;
  c.gpr[RSP] = 0x2000;
  c.gpr[RAX] = 0xcafebabe;
  Insn p = push_reg(4, RAX);
  t.run(p);
  EXPECT_EQ(c.gpr[RSP], 0x1ffcu);
  EXPECT_EQ(t.read<uint32_t>(0x101ffc), 0xcafebabeu);
  Insn q = pop_reg(4, RDX);
  t.run(q);
  EXPECT_EQ(c.gpr[RDX], 0xcafebabeu);
  EXPECT_EQ(c.gpr[RSP], 0x2000u);
}

TEST(StackPushPop, SixteenBitStackWrapsAndKeepsUpperBits) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, false, false);
  c.seg[SS].base = 0x40000;
  c.gpr[RSP] = 0x12340000;  // SP = 0
  c.gpr[RAX] = 0xbeef;
  Insn p = push_reg(2, RAX);
  t.run(p);
  EXPECT_EQ(c.gpr[RSP], 0x1234fffeu);
  EXPECT_EQ(t.read<uint16_t>(0x4fffe), 0xbeefu);
  Insn q = pop_reg(2, RCX);
  t.run(q);
  EXPECT_EQ(c.gpr[RSP], 0x12340000u);
  EXPECT_EQ(c.gpr[RCX] & 0xffff, 0xbeefu);
  // 32-bit operand size on a 16-bit stack: SP moves by 4.
  c.gpr[RAX] = 0x11223344;
  Insn p4 = push_reg(4, RAX);
  t.run(p4);
  EXPECT_EQ(c.gpr[RSP], 0x1234fffcu);
  EXPECT_EQ(t.read<uint32_t>(0x4fffc), 0x11223344u);
}

// ---------------------------------------------------------------- PUSH Sreg

TEST(StackPushSeg, SlotWidthFollowsOperandSize) {
  TestCpu t;
  auto& c = t.cpu();
  c.seg[GS].selector = 0x2b;
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack - 8, ~uint64_t{0});
  Insn i = make_insn(Op::PUSH_SEG, 8, 2);
  i.dst = Operand{OpKind::Reg, GS};
  t.run(i);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), 0x2bu);  // host: whole slot, zero-extended
  EXPECT_EQ(c.gpr[RSP], kStack - 8);
  t.write<uint64_t>(kStack - 16, ~uint64_t{0});
  Insn w = make_insn(Op::PUSH_SEG, 2, 3);
  w.dst = Operand{OpKind::Reg, GS};
  t.run(w);
  EXPECT_EQ(t.read<uint64_t>(kStack - 16), 0x002bffffffffffffull);  // host: two bytes
  enter_legacy(c, true, true);
  c.seg[DS].selector = 0x18;
  c.gpr[RSP] = kStack;
  t.write<uint32_t>(kStack - 4, ~0u);
  Insn d = make_insn(Op::PUSH_SEG, 4, 1);
  d.dst = Operand{OpKind::Reg, DS};
  t.run(d);
  EXPECT_EQ(t.read<uint32_t>(kStack - 4), 0x18u);
}

// ---------------------------------------------------------------- PUSHA / POPA

TEST(StackPusha, PushesAllAndPopaSkipsSp) {
  for (unsigned size : {2u, 4u}) {
    TestCpu t;
    auto& c = t.cpu();
    enter_legacy(c, true, true);
    for (unsigned r = 0; r < 8; ++r) c.gpr[r] = 0x11110000u * (r + 1) + r;
    c.gpr[RSP] = kStack;
    Insn i = make_insn(Op::PUSHA, size, 1);
    t.run(i);
    EXPECT_EQ(c.gpr[RSP], kStack - 8 * size);
    for (unsigned r = 0; r < 8; ++r) {
      const uint64_t slot = kStack - (r + 1) * size;
      const uint64_t got = size == 2 ? t.read<uint16_t>(slot) : t.read<uint32_t>(slot);
      const uint64_t want = (r == RSP ? kStack : c.gpr[r]) & size_mask(size);
      EXPECT_EQ(got, want) << size << " r" << r;
    }
    // Scramble, then POPA restores everything but SP.
    for (unsigned r = 0; r < 8; ++r)
      if (r != RSP) c.gpr[r] = 0;
    t.write<uint16_t>(kStack - 5 * size, 0xdead);  // the SP slot is ignored
    Insn j = make_insn(Op::POPA, size, 1);
    t.run(j);
    EXPECT_EQ(c.gpr[RSP], kStack);
    for (unsigned r = 0; r < 8; ++r) {
      if (r != RSP) {
        EXPECT_EQ(c.gpr[r], (0x11110000u * (r + 1) + r) & size_mask(size)) << r;
      }
    }
  }
}

TEST(StackPusha, FaultPartWayWritesNothing) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  enter_legacy(c, true, true);
  p.unmap(0x7f000);
  c.gpr[RSP] = 0x80010;  // slots 0x8000c .. 0x7fff0: the last four are unmapped
  t.write<uint64_t>(0x80008, 0x5555555555555555ull);
  Insn i = make_insn(Op::PUSHA, 4, 1);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(t.read<uint64_t>(0x80008), 0x5555555555555555ull);
  EXPECT_EQ(c.gpr[RSP], 0x80010u);
}

// ---------------------------------------------------------------- PUSHF / POPF

TEST(StackPushf, ImageClearsVmAndRf) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  c.rflags = rf::FIXED1 | rf::IF | rf::RF | rf::AC | rf::DF;
  set_lazy<uint8_t>(c, kLazySub, 0, 5, 5);  // ZF, PF
  Insn i = make_insn(Op::PUSHF, 8, 1);
  t.run(i);
  EXPECT_EQ(t.read<uint64_t>(kStack - 8), rf::FIXED1 | rf::IF | rf::AC | rf::DF | rf::ZF | rf::PF);
  Insn w = make_insn(Op::PUSHF, 2, 2);
  t.run(w);
  EXPECT_EQ(t.read<uint16_t>(kStack - 10), rf::FIXED1 | rf::IF | rf::DF | rf::ZF | rf::PF);
  EXPECT_EQ(c.gpr[RSP], kStack - 10);
}

uint64_t popf(TestCpu& t, unsigned size, uint64_t value) {
  auto& c = t.cpu();
  c.gpr[RSP] = kStack;
  t.write<uint64_t>(kStack, value);
  Insn i = make_insn(Op::POPF, size, 1);
  Outcome o = t.run(i);
  EXPECT_FALSE(o.faulted);
  EXPECT_EQ(c.gpr[RSP], kStack + size);
  return read_rflags(c);
}

TEST(StackPopf, CplZeroChangesEverythingButVmVipVif) {
  TestCpu t;
  auto& c = t.cpu();
  c.rflags = rf::FIXED1 | rf::VIF;
  const uint64_t all = 0xffffffffffffffffull & ~rf::TF;
  const uint64_t got = popf(t, 8, all);
  EXPECT_EQ(got, rf::FIXED1 | rf::ARITH | rf::IF | rf::DF | rf::IOPL | rf::NT | rf::AC | rf::ID |
                     rf::VIF);
  // Popping zero clears all of them (VIF stays).
  EXPECT_EQ(popf(t, 8, 0), rf::FIXED1 | rf::VIF);
  // RF is cleared even when the image has it.
  c.rflags |= rf::RF;
  EXPECT_EQ(popf(t, 8, rf::RF) & rf::RF, 0u);
}

TEST(StackPopf, UserModeKeepsIfAndIopl) {
  TestCpu t;
  auto& c = t.cpu();
  c.cpl = 3;
  c.rflags = rf::FIXED1 | rf::IF;  // IOPL 0
  // Host (CPL 3, IOPL 0): popf with IF clear and IOPL 3 changes neither.
  const uint64_t got = popf(t, 8, rf::FIXED1 | rf::IOPL | rf::AC | rf::CF);
  EXPECT_EQ(got, rf::FIXED1 | rf::IF | rf::AC | rf::CF);
  // IOPL 3 lets CPL 3 change IF, still not IOPL.
  c.rflags = rf::FIXED1 | rf::IF | rf::IOPL;
  EXPECT_EQ(popf(t, 8, rf::FIXED1), rf::FIXED1 | rf::IOPL);
  // CPL 1, IOPL 1: IF changes.
  c.cpl = 1;
  c.rflags = rf::FIXED1 | (1u << 12);
  EXPECT_EQ(popf(t, 4, rf::IF | rf::IOPL), rf::FIXED1 | rf::IF | (1u << 12));
}

TEST(StackPopf, SixteenBitFormTouchesLowWordOnly) {
  TestCpu t;
  auto& c = t.cpu();
  c.rflags = rf::FIXED1 | rf::AC | rf::ID;
  EXPECT_EQ(popf(t, 2, 0xffff0000 | rf::CF | rf::NT),
            rf::FIXED1 | rf::AC | rf::ID | rf::CF | rf::NT);
}

TEST(StackPopf, Virtual8086Rules) {
  TestCpu t;
  auto& c = t.cpu();
  c.cpl = 3;
  // IOPL 3: IF may change, IOPL may not.
  c.rflags = rf::FIXED1 | rf::VM | rf::IOPL;
  EXPECT_EQ(popf(t, 2, rf::IF | rf::CF), rf::FIXED1 | rf::VM | rf::IOPL | rf::IF | rf::CF);
  // IOPL < 3 without VME: #GP(0), nothing changes.
  c.rflags = rf::FIXED1 | rf::VM;
  c.gpr[RSP] = kStack;
  Insn i = make_insn(Op::POPF, 2, 1);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(c.gpr[RSP], kStack);
  // With CR4.VME the 16-bit form sets VIF from the popped IF.
  c.cr4 |= 1;
  EXPECT_EQ(popf(t, 2, rf::IF | rf::ZF), rf::FIXED1 | rf::VM | rf::VIF | rf::ZF);
  // ... but not with TF set, nor the 32-bit form.
  t.write<uint64_t>(kStack, rf::TF);
  c.gpr[RSP] = kStack;
  EXPECT_TRUE(t.run(i).faulted);
  Insn d = make_insn(Op::POPF, 4, 1);
  EXPECT_TRUE(t.run(d).faulted);
  // PUSHF under VME pushes VIF as IF and IOPL 3.
  Insn pushf = make_insn(Op::PUSHF, 2, 1);
  c.gpr[RSP] = kStack;
  c.rflags = rf::FIXED1 | rf::VM | rf::VIF;
  ASSERT_FALSE(t.run(pushf).faulted);
  EXPECT_EQ(t.read<uint16_t>(kStack - 2), rf::FIXED1 | rf::IF | rf::IOPL);
  c.cr4 = 0;
  EXPECT_TRUE(t.run(pushf).faulted);
}

// ---------------------------------------------------------------- ENTER / LEAVE

Insn enter_insn(unsigned size, uint16_t alloc, uint8_t level) {
  Insn i = make_insn(Op::ENTER, size, 4);
  i.imm = alloc;
  i.imm2 = level;
  return i;
}

// The host experiment's layout: buf[k] = 0x1000 + k (qwords), RSP = &buf[400], RBP = &buf[450].
constexpr uint64_t kBuf = 0x200000;
void fill_buf(TestCpu& t) {
  for (uint64_t k = 0; k < 512; ++k) t.write<uint64_t>(kBuf + 8 * k, 0x1000 + k);
}

TEST(StackEnter, NestedFrame64MatchesHost) {
  TestCpu t;
  auto& c = t.cpu();
  fill_buf(t);
  c.gpr[RSP] = kBuf + 8 * 400;
  c.gpr[RBP] = kBuf + 8 * 450;
  Insn i = enter_insn(8, 0x20, 3);
  t.run(i);
  // Host: rsp = buf+3136, rbp = buf+3192; buf[399] = old rbp, buf[398..397] = 0x11c1, 0x11c0,
  // buf[396] = &buf[399].
  EXPECT_EQ(c.gpr[RSP], kBuf + 3136);
  EXPECT_EQ(c.gpr[RBP], kBuf + 3192);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 8 * 399), kBuf + 8 * 450);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 8 * 398), 0x11c1u);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 8 * 397), 0x11c0u);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 8 * 396), kBuf + 8 * 399);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 8 * 395), 0x1000u + 395);
}

TEST(StackEnter, LevelIsModulo32) {
  TestCpu t;
  auto& c = t.cpu();
  fill_buf(t);
  c.gpr[RSP] = kBuf + 8 * 400;
  c.gpr[RBP] = kBuf + 8 * 450;
  Insn i = enter_insn(8, 0, 33);
  t.run(i);
  // Host: rsp = buf+3184, rbp = buf+3192, buf[398] = &buf[399], buf[397] untouched.
  EXPECT_EQ(c.gpr[RSP], kBuf + 3184);
  EXPECT_EQ(c.gpr[RBP], kBuf + 3192);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 8 * 398), kBuf + 8 * 399);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 8 * 397), 0x1000u + 397);
}

TEST(StackEnter, SixteenBitIn64BitModeMatchesHost) {
  TestCpu t;
  auto& c = t.cpu();
  for (uint64_t k = 0; k < 2048; ++k) t.write<uint16_t>(kBuf + 2 * k, 0x8000 + k);
  c.gpr[RSP] = kBuf + 3200;
  c.gpr[RBP] = kBuf + 3600;
  Insn i = enter_insn(2, 0x10, 3);
  t.run(i);
  // Host: rsp = buf+3176, BP = low word of buf+3198; w[1599] = old BP, w[1598..1597] = the
  // words at rbp-2 and rbp-4, w[1596] = FrameTemp.
  EXPECT_EQ(c.gpr[RSP], kBuf + 3176);
  EXPECT_EQ(c.gpr[RBP], kBuf + 3198);
  EXPECT_EQ(t.read<uint16_t>(kBuf + 2 * 1599), static_cast<uint16_t>(kBuf + 3600));
  EXPECT_EQ(t.read<uint16_t>(kBuf + 2 * 1598), 0x8707u);
  EXPECT_EQ(t.read<uint16_t>(kBuf + 2 * 1597), 0x8706u);
  EXPECT_EQ(t.read<uint16_t>(kBuf + 2 * 1596), static_cast<uint16_t>(kBuf + 3198));
  // Host: only BP receives FrameTemp; RBP[63:16] stays.
  c.gpr[RSP] = kBuf + 3200;
  c.gpr[RBP] = 0x1234567890abcdefull;
  Insn z = enter_insn(2, 0x10, 0);
  t.run(z);
  EXPECT_EQ(c.gpr[RBP], 0x1234567890ab0000ull | ((kBuf + 3198) & 0xffff));
  EXPECT_EQ(c.gpr[RSP], kBuf + 3198 - 0x10);
  EXPECT_EQ(t.read<uint16_t>(kBuf + 3198), 0xcdefu);
}

TEST(StackEnter, FinalStackPointerIsProbed) {
  // Host: ENTER whose allocated frame reaches an unmapped page faults.
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x7f000);
  c.gpr[RSP] = 0x80040;
  c.gpr[RBP] = 0x80080;
  t.write<uint64_t>(0x80038, 0x4242);
  c.rip = kRip;
  Insn i = enter_insn(8, 0x100, 0);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(o.error_code, 2u);
  EXPECT_EQ(c.gpr[RSP], 0x80040u);
  EXPECT_EQ(c.gpr[RBP], 0x80080u);
  EXPECT_EQ(t.read<uint64_t>(0x80038), 0x4242u);  // the push of RBP did not land
  EXPECT_EQ(c.rip, kRip);
  // A smaller frame fits.
  Insn ok = enter_insn(8, 0x20, 0);
  ASSERT_FALSE(t.run(ok).faulted);
  EXPECT_EQ(c.gpr[RSP], 0x80018u);
  EXPECT_EQ(c.gpr[RBP], 0x80038u);
}

TEST(StackEnter, SixteenBitStackInLegacyMode) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, false, false);
  c.seg[SS].base = 0x50000;
  c.gpr[RSP] = 0xabcd0100;
  c.gpr[RBP] = 0x00000200;
  t.write<uint16_t>(0x50000 + 0x1fe, 0x3333);  // [BP-2]
  Insn i = enter_insn(2, 8, 2);
  t.run(i);
  // push BP (0x200) at 0xfe; FrameTemp = 0xfe; push [BP-2] at 0xfc; push FrameTemp at 0xfa.
  EXPECT_EQ(t.read<uint16_t>(0x500fe), 0x200u);
  EXPECT_EQ(t.read<uint16_t>(0x500fc), 0x3333u);
  EXPECT_EQ(t.read<uint16_t>(0x500fa), 0xfeu);
  EXPECT_EQ(c.gpr[RSP], 0xabcd00f2u);
  EXPECT_EQ(c.gpr[RBP], 0xfeu);
}

TEST(StackEnter, ThirtyTwoBitStackAndLeave) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, true, true);
  c.seg[SS].base = 0x60000;
  c.gpr[RSP] = 0x1000;
  c.gpr[RBP] = 0x1100;
  t.write<uint32_t>(0x60000 + 0x10fc, 0xaaaa);  // [EBP-4]
  t.write<uint32_t>(0x60000 + 0x10f8, 0xbbbb);  // [EBP-8]
  Insn i = enter_insn(4, 0x40, 3);
  t.run(i);
  EXPECT_EQ(t.read<uint32_t>(0x60ffc), 0x1100u);  // old EBP
  EXPECT_EQ(t.read<uint32_t>(0x60ff8), 0xaaaau);
  EXPECT_EQ(t.read<uint32_t>(0x60ff4), 0xbbbbu);
  EXPECT_EQ(t.read<uint32_t>(0x60ff0), 0xffcu);  // FrameTemp
  EXPECT_EQ(c.gpr[RBP], 0xffcu);
  EXPECT_EQ(c.gpr[RSP], 0xff0u - 0x40);
  Insn l = make_insn(Op::LEAVE, 4, 1);
  t.run(l);
  EXPECT_EQ(c.gpr[RSP], 0x1000u);
  EXPECT_EQ(c.gpr[RBP], 0x1100u);
}

// The SDM's ENTER reads each enclosing frame pointer after the pushes before it: when the frame
// overlaps the bytes just pushed (RBP = RSP, as after "enter 0, 0"), the reads see them. Host
// (difftest reproducer c8 00 00 02 with rsp = rbp = 0x506000): [rsp - 16] = the old RBP.
TEST(StackEnter, FramePointerReadsSeeEarlierPushes64) {
  TestCpu t;
  auto& c = t.cpu();
  fill_buf(t);
  const uint64_t top = kBuf + 8 * 400;
  c.gpr[RSP] = top;
  c.gpr[RBP] = top;
  Insn i = enter_insn(8, 0, 2);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(t.read<uint64_t>(top - 8), top);       // push rbp
  EXPECT_EQ(t.read<uint64_t>(top - 16), top);      // push [rbp - 8]: the value just pushed
  EXPECT_EQ(t.read<uint64_t>(top - 24), top - 8);  // FrameTemp
  EXPECT_EQ(c.gpr[RSP], top - 24);
  EXPECT_EQ(c.gpr[RBP], top - 8);
  // Level 5: every read [rbp - 8k] lands on the slot pushed just before it.
  c.gpr[RSP] = top;
  c.gpr[RBP] = top;
  Insn deep = enter_insn(8, 0x10, 5);
  ASSERT_FALSE(t.run(deep).faulted);
  for (unsigned k = 1; k <= 5; ++k) EXPECT_EQ(t.read<uint64_t>(top - 8 * k), top) << k;
  EXPECT_EQ(t.read<uint64_t>(top - 48), top - 8);
  EXPECT_EQ(c.gpr[RSP], top - 48 - 0x10);
  // RBP half a slot above RSP: each read takes half of an earlier push and half of old memory.
  fill_buf(t);
  c.gpr[RSP] = top;
  c.gpr[RBP] = top + 4;
  Insn half = enter_insn(8, 0, 2);
  ASSERT_FALSE(t.run(half).faulted);
  // [rbp - 8] = [top - 4]: low dword = the high half of the pushed RBP, high dword = the low
  // half of buf[400].
  const uint64_t expect = ((top + 4) >> 32) | (uint64_t{static_cast<uint32_t>(0x1000 + 400)} << 32);
  EXPECT_EQ(t.read<uint64_t>(top - 16), expect);
}

// The same with 16-bit slots in 64-bit mode (host: 66 c8 00 00 02 with rsp = rbp = 0x506000
// leaves [0x505ffc] = 0x6000).
TEST(StackEnter, FramePointerReadsSeeEarlierPushes16) {
  TestCpu t;
  auto& c = t.cpu();
  fill_buf(t);
  const uint64_t top = kBuf + 0x1000;
  c.gpr[RSP] = top;
  c.gpr[RBP] = top;
  Insn i = enter_insn(2, 0, 2);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(t.read<uint16_t>(top - 2), static_cast<uint16_t>(top));
  EXPECT_EQ(t.read<uint16_t>(top - 4), static_cast<uint16_t>(top));
  EXPECT_EQ(t.read<uint16_t>(top - 6), static_cast<uint16_t>(top - 2));
  EXPECT_EQ(c.gpr[RSP], top - 6);
}

// And with a 32-bit legacy stack.
TEST(StackEnter, FramePointerReadsSeeEarlierPushesLegacy) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, true, true);
  c.seg[SS].base = 0x60000;
  c.gpr[RSP] = 0x1000;
  c.gpr[RBP] = 0x1000;
  Insn i = enter_insn(4, 0, 3);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(t.read<uint32_t>(0x60ffc), 0x1000u);
  EXPECT_EQ(t.read<uint32_t>(0x60ff8), 0x1000u);
  EXPECT_EQ(t.read<uint32_t>(0x60ff4), 0x1000u);
  EXPECT_EQ(t.read<uint32_t>(0x60ff0), 0xffcu);
}

// A frame-pointer read that faults: nothing is written and no register changes, although the
// SDM order has pushed RBP before the read.
TEST(StackEnter, FramePointerReadFaultWritesNothing) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x90000);
  c.gpr[RSP] = 0x80040;
  c.gpr[RBP] = 0x91000;  // [rbp - 8] is on the unmapped page
  t.write<uint64_t>(0x80038, 0x4242);
  c.rip = kRip;
  Insn i = enter_insn(8, 0, 2);
  const Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(o.error_code, 0u);  // a read
  EXPECT_EQ(t.read<uint64_t>(0x80038), 0x4242u);
  EXPECT_EQ(c.gpr[RSP], 0x80040u);
  EXPECT_EQ(c.gpr[RBP], 0x91000u);
  EXPECT_EQ(c.rip, kRip);
}

TEST(StackLeave, RestoresFrame) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RBP] = kStack;
  c.gpr[RSP] = kStack - 0x40;
  t.write<uint64_t>(kStack, 0x9999);
  Insn i = make_insn(Op::LEAVE, 8, 1);
  t.run(i);
  EXPECT_EQ(c.gpr[RSP], kStack + 8);
  EXPECT_EQ(c.gpr[RBP], 0x9999u);
  // Host: 16-bit LEAVE in 64-bit mode: RSP = RBP + 2, only BP reloaded.
  c.gpr[RBP] = 0x0000000000123450ull;
  t.write<uint16_t>(0x123450, 0x11c2);
  Insn w = make_insn(Op::LEAVE, 2, 2);
  t.run(w);
  EXPECT_EQ(c.gpr[RSP], 0x123452u);
  EXPECT_EQ(c.gpr[RBP], 0x1211c2u);
}

TEST(StackLeave, FaultLeavesRspAndRbp) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x90000);
  c.gpr[RBP] = 0x90010;
  c.gpr[RSP] = kStack;
  Insn i = make_insn(Op::LEAVE, 8, 1);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(c.gpr[RSP], kStack);
  EXPECT_EQ(c.gpr[RBP], 0x90010u);
}

TEST(StackLeave, SixteenBitStack) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, false, false);
  c.seg[SS].base = 0x50000;
  c.gpr[RSP] = 0xffff0000;
  c.gpr[RBP] = 0x1234fffe;  // BP = 0xfffe: pop wraps SP to 0
  t.write<uint16_t>(0x5fffe, 0x4321);
  Insn i = make_insn(Op::LEAVE, 2, 1);
  t.run(i);
  EXPECT_EQ(c.gpr[RSP], 0xffff0000u);
  EXPECT_EQ(c.gpr[RBP], 0x12344321u);
}

}  // namespace
}  // namespace umbra::test
