// Flag-control semantics: CLC, STC, CMC, CLD, STD, SALC. The carry instructions must work on
// top of lazy flags (changing CF only), and DF must never disturb the status flags.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "tests/unit/semb_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {
namespace {

constexpr uint64_t kRip = 0x2000;

// Host CMC/STC/CLC on a flags image: the oracle for "only CF changes".
uint64_t host_flag_op(Op op, uint64_t flags) {
  uint64_t image = flags | rf::FIXED1, out;
#define HOST_FLAG_CASE(o, insn)                          \
  case Op::o:                                            \
    asm("lea -128(%%rsp), %%rsp; pushq %1; popfq; " insn \
        "; pushfq; popq %0; lea 128(%%rsp), %%rsp"       \
        : "=r"(out)                                      \
        : "r"(image)                                     \
        : "cc");                                         \
    break;
  switch (op) {
    HOST_FLAG_CASE(CLC, "clc")
    HOST_FLAG_CASE(STC, "stc")
    HOST_FLAG_CASE(CMC, "cmc")
    default:
      out = 0;
  }
#undef HOST_FLAG_CASE
  return out & rf::ARITH;
}

TEST(FlagctlCarry, ChangeOnlyCarryFromEagerFlags) {
  TestCpu t;
  auto& c = t.cpu();
  for (Op op : {Op::CLC, Op::STC, Op::CMC}) {
    for (uint64_t f : {uint64_t{0}, rf::ARITH, rf::CF | rf::ZF, rf::OF | rf::AF | rf::PF}) {
      set_arith_flags(c, f);
      c.rip = kRip;
      Insn i = make_insn(op, 4, 1);
      ASSERT_FALSE(t.run(i).faulted);
      EXPECT_EQ(status_flags(c), host_flag_op(op, f)) << static_cast<int>(op) << " " << f;
      EXPECT_EQ(c.rip, kRip + 1);
    }
  }
}

TEST(FlagctlCarry, ChangeOnlyCarryFromLazyFlags) {
  TestCpu t;
  auto& c = t.cpu();
  struct Producer {
    LazyOp op;
    uint32_t res, a, b;
  } producers[] = {{kLazySub, 3u - 5u, 3, 5},
                   {kLazyAdd, 0, 0x80000000u, 0x80000000u},
                   {kLazyLogic, 0x80, 0xff, 0x80},
                   {kLazyInc, 0x80000000u, 0x7fffffffu, 0}};
  for (const Producer& p : producers) {
    for (Op op : {Op::CLC, Op::STC, Op::CMC}) {
      set_lazy<uint32_t>(c, p.op, p.res, p.a, p.b, p.op == kLazyInc ? 1 : 0);
      const uint64_t before = arith_flags(c);
      Insn i = make_insn(op, 4, 1);
      t.run(i);
      EXPECT_EQ(status_flags(c), host_flag_op(op, before)) << p.op;
    }
  }
}

TEST(FlagctlDirection, CldStdTouchOnlyDf) {
  TestCpu t;
  auto& c = t.cpu();
  set_lazy<uint8_t>(c, kLazySub, 0, 7, 7);
  const uint64_t before = arith_flags(c);
  Insn s = make_insn(Op::STD, 4, 1);
  t.run(s);
  EXPECT_TRUE(c.rflags & rf::DF);
  EXPECT_EQ(arith_flags(c), before);
  EXPECT_EQ(c.lazy.op, kLazySub);  // lazy state untouched
  Insn d = make_insn(Op::CLD, 4, 1);
  c.rip = kRip;
  t.run(d);
  EXPECT_FALSE(c.rflags & rf::DF);
  EXPECT_EQ(arith_flags(c), before);
  EXPECT_EQ(c.rip, kRip + 1);
}

TEST(FlagctlSalc, SetsAlFromCarry) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, true, true);
  c.gpr[RAX] = 0x12345678;
  set_lazy<uint8_t>(c, kLazySub, 0xfe, 1, 3);  // borrow: CF = 1
  const uint64_t before = arith_flags(c);
  Insn i = make_insn(Op::SALC, 4, 1);
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 0x123456ffu);
  EXPECT_EQ(arith_flags(c), before);
  set_arith_flags(c, rf::ZF);
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 0x12345600u);
}

}  // namespace
}  // namespace umbra::test
