// Unit tests of the binary and decimal arithmetic semantics (frontend/semantics/arith.cpp,
// arith_decimal.cpp): every operation in every size and operand form against the host CPU
// running the same instruction on the same inputs (this build host is x86-64), plus the fault
// cases, which must leave the state untouched.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "frontend/flags.h"
#include "frontend/insn.h"
#include "tests/unit/sema_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::sema {
namespace {

DEFINE_HOST_BINARY(host_add, "add")
DEFINE_HOST_BINARY(host_adc, "adc")
DEFINE_HOST_BINARY(host_sub, "sub")
DEFINE_HOST_BINARY(host_sbb, "sbb")
DEFINE_HOST_BINARY(host_cmp, "cmp")
DEFINE_HOST_UNARY(host_inc, "inc")
DEFINE_HOST_UNARY(host_dec, "dec")
DEFINE_HOST_UNARY(host_neg, "neg")

TEST(ArithAlu, AddMatchesHost) {
  check_binary_op(Op::ADD, host_add, {1, 2, 4, 8}, 1);
}
TEST(ArithAlu, AdcMatchesHost) {
  check_binary_op(Op::ADC, host_adc, {1, 2, 4, 8}, 2);
}
TEST(ArithAlu, SubMatchesHost) {
  check_binary_op(Op::SUB, host_sub, {1, 2, 4, 8}, 3);
}
TEST(ArithAlu, SbbMatchesHost) {
  check_binary_op(Op::SBB, host_sbb, {1, 2, 4, 8}, 4);
}
TEST(ArithAlu, CmpMatchesHost) {
  check_binary_op(Op::CMP, host_cmp, {1, 2, 4, 8}, 5);
}
TEST(ArithUnary, IncMatchesHost) {
  check_unary_op(Op::INC, host_inc, 6);
}
TEST(ArithUnary, DecMatchesHost) {
  check_unary_op(Op::DEC, host_dec, 7);
}
TEST(ArithUnary, NegMatchesHost) {
  check_unary_op(Op::NEG, host_neg, 8);
}

// ADC/SBB with the carry in from each lazy producer kind (the carry is read through get_cf).
TEST(ArithAlu, AdcTakesCarryFromLazyProducer) {
  TestCpu t;
  reset_cpu(t, 0);
  CpuState& cpu = t.cpu();
  set_lazy<uint8_t>(cpu, kLazyAdd, 0x01, 0xff, 0x02);  // 0xff + 2: carry
  Insn i = make_insn(Op::ADC, 4);
  i.dst = reg_operand(RAX);
  i.src = imm_operand();
  i.imm = 0;
  cpu.gpr[RAX] = 41;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RAX], 42u);
  set_lazy<uint16_t>(cpu, kLazySub, 0xffff, 0, 1);  // 0 - 1: borrow
  i.op = Op::SBB;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RAX], 41u);
  EXPECT_EQ(arith_flags(cpu) & rf::CF, 0u);
}

// AH, CH, DH, BH (register numbers 16..19) as destination and source.
TEST(ArithAlu, HighByteRegisters) {
  TestCpu t;
  reset_cpu(t, 0);
  CpuState& cpu = t.cpu();
  cpu.gpr[RAX] = 0x1111111111117f01ull;  // AH = 0x7f
  cpu.gpr[RBX] = 0x2222222222220102ull;  // BH = 0x01
  Insn i = make_insn(Op::ADD, 1);
  i.dst = reg_operand(kRegAH);      // AH
  i.src = reg_operand(kRegAH + 3);  // BH
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RAX], 0x1111111111118001ull);
  EXPECT_EQ(cpu.gpr[RBX], 0x2222222222220102ull);
  EXPECT_EQ(arith_flags(cpu), rf::OF | rf::SF | rf::AF);  // 0x7f + 1 = 0x80
  // SUB CH, AL
  cpu.gpr[RCX] = 0x0000000000000500ull;
  i = make_insn(Op::SUB, 1);
  i.dst = reg_operand(kRegAH + 1);
  i.src = reg_operand(RAX);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RCX], 0x0000000000000400ull);
  // INC DH
  cpu.gpr[RDX] = 0xff00;
  i = make_insn(Op::INC, 1);
  i.dst = reg_operand(kRegAH + 2);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RDX], 0u);
  EXPECT_TRUE(get_zf(cpu));
}

// A memory destination that is not writable: the fault comes first, nothing changes.
TEST(ArithAlu, ReadOnlyMemoryDestinationFaultsWithoutSideEffects) {
  TestCpu t;
  ReadOnlyPagesTranslator ro;
  ro.readonly.insert(kDataBase);
  t.cpu().translator = &ro;
  tlb_flush_all(t.cpu());
  for (Op op : {Op::ADD, Op::ADC, Op::SUB, Op::SBB}) {
    const UmbraOut u = run_binary(t, op, 4, BinForm::MemReg, 5, 7, rf::CF | rf::ZF);
    EXPECT_TRUE(u.outcome.faulted) << op_name(op);
    EXPECT_EQ(u.outcome.vector, kPF);
    EXPECT_EQ(u.dst, 5u);
    EXPECT_EQ(u.flags, rf::CF | rf::ZF);
    EXPECT_EQ(u.rip, kStartRip);
  }
  for (Op op : {Op::INC, Op::DEC, Op::NEG}) {
    const UmbraOut u = run_unary(t, op, 8, true, 5, rf::CF);
    EXPECT_TRUE(u.outcome.faulted) << op_name(op);
    EXPECT_EQ(u.dst, 5u);
    EXPECT_EQ(u.flags, rf::CF);
    EXPECT_EQ(u.rip, kStartRip);
  }
  // CMP only reads: no fault on a read-only page.
  const UmbraOut u = run_binary(t, Op::CMP, 4, BinForm::MemImm, 5, 7, 0);
  EXPECT_FALSE(u.outcome.faulted);
  EXPECT_EQ(u.flags & rf::CF, rf::CF);
  t.cpu().translator = nullptr;
}

// A source operand that faults (non-canonical address: #GP(0)) leaves the register and flags.
TEST(ArithAlu, FaultingSourceLeavesDestination) {
  TestCpu t;
  reset_cpu(t, rf::OF);
  CpuState& cpu = t.cpu();
  Insn i = make_insn(Op::ADD, 8);
  i.dst = reg_operand(RAX);
  cpu.gpr[RAX] = 123;
  use_memory(t, i, i.src, 0x0000800000000000ull, 0);
  const Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(cpu.gpr[RAX], 123u);
  EXPECT_EQ(arith_flags(cpu), rf::OF);
  EXPECT_EQ(cpu.rip, kStartRip);
}

// Memory operands that straddle a page boundary take the slow path and still read-modify-write
// the right bytes.
TEST(ArithAlu, PageCrossingMemoryOperands) {
  TestCpu t;
  Values vals(9);
  for (unsigned size : {2u, 4u, 8u}) {
    for (int k = 0; k < 50; ++k) {
      const uint64_t a = vals.next(), b = vals.next(), f = vals.flags();
      const uint64_t addr = kDataBase + kPageSize - 1 - vals.below(size - 1);
      const HostOut h = host_sub(size, a, b, f);
      const UmbraOut u = run_binary(t, Op::SUB, size, BinForm::MemReg, a, b, f, addr);
      ASSERT_FALSE(u.outcome.faulted);
      EXPECT_EQ(u.dst, h.dst & mask_of(size));
      EXPECT_EQ(u.flags, h.flags);
      EXPECT_TRUE(u.guards_ok);
    }
  }
}

// LOCK: one CPU, so a locked read-modify-write is an ordinary one.
TEST(ArithAlu, LockPrefixIsOrdinaryReadModifyWrite) {
  TestCpu t;
  reset_cpu(t, 0);
  Insn i = make_insn(Op::ADD, 4);
  i.prefixes = pfx::kLock;
  use_memory(t, i, i.dst, kDataBase, 0);
  i.src = imm_operand();
  i.imm = 1;
  t.write<uint32_t>(kDataBase, 0xffffffff);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(t.read<uint32_t>(kDataBase), 0u);
  EXPECT_EQ(arith_flags(t.cpu()), rf::CF | rf::ZF | rf::PF | rf::AF);
}

// ---- MUL, IMUL, DIV, IDIV ----

struct HostAcc {
  uint64_t rax, rdx, flags;
};

// One-operand multiply/divide on the host: rDX:rAX op src.
#define DEFINE_HOST_ACC(name, mnem)                                                       \
  HostAcc name(unsigned size, uint64_t rax, uint64_t rdx, uint64_t src, uint64_t flags) { \
    uint64_t f = host_flags_in(flags);                                                    \
    switch (size) {                                                                       \
      case 1:                                                                             \
        asm volatile(HOST_FLAGS_IN mnem "b %b[s]" HOST_FLAGS_OUT                          \
                     : "+a"(rax), "+d"(rdx), [f] "+r"(f)                                  \
                     : [s] "r"(src)                                                       \
                     : "cc");                                                             \
        break;                                                                            \
      case 2:                                                                             \
        asm volatile(HOST_FLAGS_IN mnem "w %w[s]" HOST_FLAGS_OUT                          \
                     : "+a"(rax), "+d"(rdx), [f] "+r"(f)                                  \
                     : [s] "r"(src)                                                       \
                     : "cc");                                                             \
        break;                                                                            \
      case 4:                                                                             \
        asm volatile(HOST_FLAGS_IN mnem "l %k[s]" HOST_FLAGS_OUT                          \
                     : "+a"(rax), "+d"(rdx), [f] "+r"(f)                                  \
                     : [s] "r"(src)                                                       \
                     : "cc");                                                             \
        break;                                                                            \
      default:                                                                            \
        asm volatile(HOST_FLAGS_IN mnem "q %q[s]" HOST_FLAGS_OUT                          \
                     : "+a"(rax), "+d"(rdx), [f] "+r"(f)                                  \
                     : [s] "r"(src)                                                       \
                     : "cc");                                                             \
        break;                                                                            \
    }                                                                                     \
    return {rax, rdx, f & kArith};                                                        \
  }

DEFINE_HOST_ACC(host_mul, "mul")
DEFINE_HOST_ACC(host_imul1, "imul")
DEFINE_HOST_ACC(host_div, "div")
DEFINE_HOST_ACC(host_idiv, "idiv")

// SF, ZF, AF, PF are undefined after every multiply; all six after DIV/IDIV (SDM vol. 2).
constexpr uint64_t kMulUndefined = rf::SF | rf::ZF | rf::AF | rf::PF;

struct UmbraAcc {
  uint64_t rax, rdx, flags, rip;
  Outcome outcome;
};

UmbraAcc run_acc(TestCpu& t, Op op, unsigned size, bool mem, uint64_t rax, uint64_t rdx,
                 uint64_t src, uint64_t flags) {
  reset_cpu(t, flags);
  CpuState& cpu = t.cpu();
  cpu.gpr[RAX] = rax;
  cpu.gpr[RDX] = rdx;
  Insn i = make_insn(op, size, 3);
  if (mem) {
    use_memory(t, i, i.dst, kDataBase, 8);
    write_sized(t, kDataBase + 8, size, src);
  } else {
    i.dst = reg_operand(RBX);
    cpu.gpr[RBX] = src;
  }
  UmbraAcc u;
  u.outcome = t.run(i);
  u.rax = cpu.gpr[RAX];
  u.rdx = cpu.gpr[RDX];
  u.flags = arith_flags(cpu);
  u.rip = cpu.rip;
  return u;
}

// Would the host raise #DE? Computed independently of the implementation, with 128-bit math.
bool divide_faults(bool is_signed, unsigned size, uint64_t rax, uint64_t rdx, uint64_t src) {
  const unsigned bits = 8 * size;
  const uint64_t m = mask_of(size);
  if ((src & m) == 0) return true;
  if (!is_signed) {
    const unsigned __int128 n =
        size == 1 ? (rax & 0xffff) : (static_cast<unsigned __int128>(rdx & m) << bits) | (rax & m);
    return n / (src & m) > m;
  }
  __int128 n;
  if (size == 1) {
    n = static_cast<int16_t>(rax);
  } else if (size == 8) {
    n = static_cast<__int128>((static_cast<unsigned __int128>(rdx) << 64) | rax);
  } else {
    n = static_cast<int64_t>(sext(((rdx & m) << bits) | (rax & m), 2 * size));
  }
  const __int128 d = static_cast<int64_t>(sext(src, size));
  const __int128 lo = -(static_cast<__int128>(1) << (bits - 1));
  const __int128 hi = (static_cast<__int128>(1) << (bits - 1)) - 1;
  if (d == -1) return n == std::numeric_limits<__int128>::min() || -n < lo || -n > hi;
  const __int128 q = n / d;
  return q < lo || q > hi;
}

// `undefined`: the flags the SDM leaves undefined (compared only on the reference host).
void check_acc_op(Op op, decltype(&host_mul) host, bool divide, bool is_signed, uint64_t undefined,
                  uint64_t seed) {
  TestCpu t;
  Values vals(seed);
  FailureBudget budget;
  int faults = 0, ok_runs = 0;
  auto check = [&](unsigned size, uint64_t rax, uint64_t rdx, uint64_t src, uint64_t flags) {
    for (bool mem : {false, true}) {
      const UmbraAcc u = run_acc(t, op, size, mem, rax, rdx, src, flags);
      if (divide && divide_faults(is_signed, size, rax, rdx, src)) {
        ++faults;
        const bool ok = u.outcome.faulted && u.outcome.vector == kDE && u.rax == rax &&
                        u.rdx == rdx && u.flags == (flags & kArith) && u.rip == kStartRip;
        if (!ok && !budget.exhausted()) {
          budget.count();
          ADD_FAILURE() << describe(op_name(op), size, rax, src, flags) << " rdx=" << rdx
                        << ": expected #DE with no state change";
        }
        continue;
      }
      ++ok_runs;
      const HostAcc h = host(size, rax, rdx, src, flags);
      const uint64_t cmp = compared_flags(undefined);
      const bool ok = !u.outcome.faulted && u.rax == h.rax && u.rdx == h.rdx &&
                      (u.flags & cmp) == (h.flags & cmp) && u.rip == kStartRip + 3;
      if (!ok && !budget.exhausted()) {
        budget.count();
        ADD_FAILURE() << describe(op_name(op), size, rax, src, flags) << std::hex << " rdx=" << rdx
                      << (mem ? " mem" : " reg") << ": rax " << u.rax << " want " << h.rax
                      << ", rdx " << u.rdx << " want " << h.rdx << ", flags " << u.flags << " want "
                      << h.flags << ", faulted " << u.outcome.faulted;
      }
    }
  };
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    for (uint64_t a : edge_values())
      for (uint64_t b : edge_values()) {
        check(size, a, vals.next(), b, vals.flags());
        // Small high halves, so that division mostly succeeds; sign-extended ones for IDIV.
        check(size, a,
              is_signed ? static_cast<uint64_t>(static_cast<int64_t>(sext(a, size)) >> 63)
                        : vals.below(4),
              b, vals.flags());
      }
    for (int k = 0; k < 3000; ++k) {
      const uint64_t a = vals.next();
      uint64_t hi;
      if (vals.below(3) == 0)
        hi = vals.next();
      else if (is_signed)
        hi = static_cast<uint64_t>(static_cast<int64_t>(sext(a, size)) >> 63);
      else
        hi = vals.below(1000);
      check(size, a, hi, vals.next(), vals.flags());
    }
  }
  if (divide) {
    EXPECT_GT(faults, 100);  // the #DE path was exercised
  }
  EXPECT_GT(ok_runs, 1000);
}

TEST(ArithMul, MulMatchesHost) {
  check_acc_op(Op::MUL, host_mul, false, false, kMulUndefined, 11);
}
TEST(ArithMul, Imul1MatchesHost) {
  check_acc_op(Op::IMUL1, host_imul1, false, true, kMulUndefined, 12);
}
TEST(ArithDiv, DivMatchesHostAndFaults) {
  check_acc_op(Op::DIV, host_div, true, false, kArith, 13);
}
TEST(ArithDiv, IdivMatchesHostAndFaults) {
  check_acc_op(Op::IDIV, host_idiv, true, true, kArith, 14);
}

TEST(ArithDiv, DivideErrorCases) {
  TestCpu t;
  struct Case {
    Op op;
    unsigned size;
    uint64_t rax, rdx, src;
  } cases[] = {
      {Op::DIV, 1, 0x1234, 0, 0},                                        // divide by zero
      {Op::DIV, 1, 0x0100, 0, 1},                                        // 256 / 1 does not fit AL
      {Op::DIV, 8, 0, 1, 1},                                             // 2^64 / 1
      {Op::DIV, 8, 5, 7, 7},                                             // high half == divisor
      {Op::IDIV, 1, 0x8000, 0, 0xff},                                    // -32768 / -1
      {Op::IDIV, 2, 0x0000, 0x8000, 0xffff},                             // INT32_MIN / -1
      {Op::IDIV, 4, 0, 0x80000000, 0xffffffff},                          // INT64_MIN / -1
      {Op::IDIV, 8, 0, 0x8000000000000000ull, ~uint64_t{0}},             // INT128_MIN / -1
      {Op::IDIV, 8, 0x8000000000000000ull, ~uint64_t{0}, ~uint64_t{0}},  // INT64_MIN / -1
      {Op::IDIV, 4, 0x80000000, 0, 1},                                   // +2^31 does not fit
      {Op::IDIV, 8, 0, 0, 0},                                            // divide by zero
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(divide_faults(c.op == Op::IDIV, c.size, c.rax, c.rdx, c.src));
    const UmbraAcc u = run_acc(t, c.op, c.size, false, c.rax, c.rdx, c.src, rf::ZF);
    EXPECT_TRUE(u.outcome.faulted) << op_name(c.op) << " size " << c.size;
    EXPECT_EQ(u.outcome.vector, kDE);
    EXPECT_EQ(u.rax, c.rax);
    EXPECT_EQ(u.rdx, c.rdx);
    EXPECT_EQ(u.flags, rf::ZF);
    EXPECT_EQ(u.rip, kStartRip);
  }
  // The boundary that just fits: -2^63 / 1 and 2^63 - 1 quotient.
  const UmbraAcc u = run_acc(t, Op::IDIV, 8, false, 0x8000000000000000ull, ~uint64_t{0}, 1, 0);
  EXPECT_FALSE(u.outcome.faulted);
  EXPECT_EQ(u.rax, 0x8000000000000000ull);
  EXPECT_EQ(u.rdx, 0u);
}

// IMUL r, r/m and IMUL r, r/m, imm.
DEFINE_HOST_BINARY_WIDE(host_imul2, "imul")

HostOut host_imul3(unsigned size, uint64_t a, uint64_t src, uint64_t imm, uint64_t flags) {
  // IMUL r, r/m, imm: the same product as IMUL r, r/m with r = imm, except that the
  // destination's old value does not matter. Run the 2-operand form on a copy.
  HostOut h = host_imul2(size, imm, src, flags);
  if (size == 2) h.dst = (a & ~uint64_t{0xffff}) | (h.dst & 0xffff);
  return h;
}

TEST(ArithMul, ImulTwoAndThreeOperandMatchHost) {
  TestCpu t;
  Values vals(15);
  FailureBudget budget;
  for (unsigned size : {2u, 4u, 8u}) {
    for (int k = 0; k < 4000; ++k) {
      const uint64_t a = vals.next(), b = vals.next(), f = vals.flags();
      const uint64_t imm = imm_for(size, vals.next());
      for (bool three : {false, true})
        for (bool mem : {false, true}) {
          reset_cpu(t, f);
          CpuState& cpu = t.cpu();
          Insn i = make_insn(Op::IMUL, size, 5);
          i.dst = reg_operand(RCX);
          cpu.gpr[RCX] = a;
          if (mem) {
            use_memory(t, i, i.src, kDataBase, 0);
            write_sized(t, kDataBase, size, b);
          } else {
            i.src = reg_operand(R9);
            cpu.gpr[R9] = b;
          }
          if (three) {
            i.src2 = imm_operand();
            i.imm = imm;
          }
          ASSERT_FALSE(t.run(i).faulted);
          const HostOut h = three ? host_imul3(size, a, b, imm, f) : host_imul2(size, a, b, f);
          const uint64_t cmp = compared_flags(kMulUndefined);
          if ((cpu.gpr[RCX] != h.dst || (arith_flags(cpu) & cmp) != (h.flags & cmp) ||
               cpu.rip != kStartRip + 5) &&
              !budget.exhausted()) {
            budget.count();
            ADD_FAILURE() << describe("IMUL", size, a, b, f) << std::hex << " imm=" << imm
                          << " three=" << three << " mem=" << mem << ": " << cpu.gpr[RCX]
                          << " want " << h.dst << ", flags " << arith_flags(cpu) << " want "
                          << h.flags;
          }
        }
    }
  }
}

// ---- decimal arithmetic ----
//
// These exist only outside 64-bit mode, so the host cannot run them in this (64-bit) test. The
// expectations are a reference model written from the SDM's pseudo-code plus the host's values
// for the undefined flags (docs/semantics.md), checked exhaustively, and vectors recorded from
// the host in 32-bit compatibility mode.

struct DecimalRef {
  uint16_t ax;
  uint64_t flags;
};

uint64_t szp8(uint8_t v) {
  return zf_sf_pf(v, 1);
}

DecimalRef decimal_reference(Op op, uint8_t imm, uint16_t ax, uint64_t fin) {
  const uint8_t al = ax & 0xff, ah = ax >> 8;
  const bool cf = fin & rf::CF, af = fin & rf::AF;
  switch (op) {
    case Op::DAA:
    case Op::DAS: {
      // SDM vol. 2, DAA / DAS pseudo-code, step by step.
      const bool sub = op == Op::DAS;
      uint8_t x = al;
      unsigned delta = 0;
      bool ncf = false, naf = false;
      if ((al & 0x0f) > 9 || af) {
        const unsigned wide = sub ? unsigned(al) - 6 : unsigned(al) + 6;
        x = static_cast<uint8_t>(wide);
        delta = 6;
        ncf = cf || wide > 0xff;  // carry / borrow of AL +/- 6
        naf = true;
      }
      if (al > 0x99 || cf) {
        x = static_cast<uint8_t>(sub ? x - 0x60 : x + 0x60);
        delta += 0x60;
        ncf = true;
      } else if (!sub) {
        ncf = false;  // DAA's ELSE branch; DAS has none
      }
      // Host: OF = signed overflow of the 8-bit AL +/- (total adjustment).
      const int exact = sub ? int(int8_t(al)) - int(delta) : int(int8_t(al)) + int(delta);
      const bool of = exact < -128 || exact > 127;
      return {static_cast<uint16_t>((ax & 0xff00) | x),
              szp8(x) | (ncf ? rf::CF : 0) | (naf ? rf::AF : 0) | (of ? rf::OF : 0)};
    }
    case Op::AAA:
    case Op::AAS: {
      const bool sub = op == Op::AAS;
      const bool adj = (al & 0x0f) > 9 || af;
      uint16_t r;
      if (sub)
        r = adj ? static_cast<uint16_t>(((ah - 1) & 0xff) << 8 | ((al - 6) & 0x0f)) : ax & 0xff0f;
      else
        r = adj ? static_cast<uint16_t>(((ah + 1) & 0xff) << 8 | ((al + 6) & 0x0f)) : ax & 0xff0f;
      // SDM: AX +/- 106H carries/borrows from AL into AH when AL +/- 6 wraps.
      if (adj && !sub && al + 6 > 0xff) r = static_cast<uint16_t>(r + 0x100);
      if (adj && sub && al < 6) r = static_cast<uint16_t>(r - 0x100);
      // Host: OF/SF/ZF/PF from the 16-bit AX +/- 0x106 before masking.
      const uint16_t u = sub ? uint16_t(ax - (adj ? 0x106 : 0)) : uint16_t(ax + (adj ? 0x106 : 0));
      const int exact =
          sub ? int(int16_t(ax)) - (adj ? 0x106 : 0) : int(int16_t(ax)) + (adj ? 0x106 : 0);
      const bool of = exact < -32768 || exact > 32767;
      return {r, zf_sf_pf(u, 2) | (adj ? rf::CF | rf::AF : 0) | (of ? rf::OF : 0)};
    }
    case Op::AAM: {
      const uint8_t q = al / imm, r = al % imm;
      return {static_cast<uint16_t>(q << 8 | r), szp8(r)};
    }
    default: {  // AAD
      const unsigned sum = al + unsigned(uint8_t(ah * imm));
      const uint8_t r = static_cast<uint8_t>(sum);
      const int exact = int(int8_t(al)) + int(int8_t(uint8_t(ah * imm)));
      const bool acarry = ((al & 0xf) + (uint8_t(ah * imm) & 0xf)) > 0xf;
      return {r, szp8(r) | (sum > 0xff ? rf::CF : 0) | (acarry ? rf::AF : 0) |
                     ((exact < -128 || exact > 127) ? rf::OF : 0)};
    }
  }
}

UmbraOut run_decimal(TestCpu& t, Op op, uint8_t imm, uint32_t eax_low, uint64_t flags) {
  reset_cpu(t, flags);
  CpuState& cpu = t.cpu();
  cpu.mode64 = 0;  // legacy-mode instructions
  cpu.gpr[RAX] = 0xdeadbeef12340000ull | eax_low;
  Insn i = make_insn(op, 1, imm ? 2 : 1);
  i.imm = imm;
  UmbraOut u;
  u.outcome = t.run(i);
  u.dst = cpu.gpr[RAX];
  u.flags = arith_flags(cpu);
  u.rip = cpu.rip;
  u.guards_ok = true;
  cpu.mode64 = 1;
  return u;
}

TEST(ArithDecimal, ExhaustiveAgainstReferenceModel) {
  TestCpu t;
  Values vals(16);
  FailureBudget budget;
  const struct {
    Op op;
    uint8_t imm;
  } ops[] = {{Op::DAA, 0}, {Op::DAS, 0},  {Op::AAA, 0}, {Op::AAS, 0}, {Op::AAM, 10},
             {Op::AAM, 7}, {Op::AAD, 10}, {Op::AAD, 7}, {Op::AAD, 0}};
  for (const auto& o : ops) {
    for (uint32_t ax = 0; ax < 0x10000; ++ax) {
      for (uint64_t cfaf : {uint64_t{0}, rf::CF, rf::AF, rf::CF | rf::AF}) {
        const uint64_t fin = cfaf | (vals.flags() & (rf::OF | rf::SF | rf::ZF | rf::PF));
        const DecimalRef ref = decimal_reference(o.op, o.imm, static_cast<uint16_t>(ax), fin);
        const UmbraOut u = run_decimal(t, o.op, o.imm, ax, fin);
        const uint64_t want = 0xdeadbeef12340000ull | ref.ax;
        if ((u.outcome.faulted || u.dst != want || u.flags != ref.flags ||
             u.rip != kStartRip + (o.imm ? 2 : 1)) &&
            !budget.exhausted()) {
          budget.count();
          ADD_FAILURE() << describe(op_name(o.op), 1, ax, o.imm, fin) << std::hex << ": rax "
                        << u.dst << " want " << want << ", flags " << u.flags << " want "
                        << ref.flags;
        }
      }
    }
  }
}

// Recorded from the host CPU running each instruction in 32-bit compatibility mode:
// {op, imm8, AX in, flags in, AX out, flags out} (flags: the six status bits).
struct DecimalVector {
  Op op;
  unsigned imm;
  uint16_t ax_in;
  uint16_t flags_in;
  uint16_t ax_out;
  uint16_t flags_out;
};
const DecimalVector kHostDecimalVectors[] = {
    {Op::DAA, 0, 0x0000, 0x085, 0x0060, 0x005},  {Op::DAA, 0, 0x0009, 0x0c4, 0x0009, 0x004},
    {Op::DAA, 0, 0x000a, 0x011, 0x0070, 0x011},  {Op::DAA, 0, 0x00f9, 0x8d4, 0x005f, 0x015},
    {Op::DAA, 0, 0x00fa, 0x041, 0x0060, 0x015},  {Op::DAA, 0, 0x00ff, 0x0d1, 0x0065, 0x015},
    {Op::DAA, 0, 0x0099, 0x095, 0x00ff, 0x095},  {Op::DAA, 0, 0x009a, 0x045, 0x0000, 0x055},
    {Op::DAA, 0, 0x7f8f, 0x054, 0x7f95, 0x094},  {Op::DAA, 0, 0x80ff, 0x891, 0x8065, 0x015},
    {Op::DAA, 0, 0xff0f, 0x884, 0xff15, 0x010},  {Op::DAA, 0, 0x0105, 0x815, 0x016b, 0x011},
    {Op::DAA, 0, 0x6e48, 0x051, 0x6eae, 0x891},  {Op::DAA, 0, 0xf16e, 0x800, 0xf174, 0x014},
    {Op::DAA, 0, 0x6ada, 0x080, 0x6a40, 0x011},  {Op::DAA, 0, 0x4ca7, 0x0c4, 0x4c07, 0x001},
    {Op::DAS, 0, 0x0000, 0x044, 0x0000, 0x044},  {Op::DAS, 0, 0x0009, 0x090, 0x0003, 0x014},
    {Op::DAS, 0, 0x000a, 0x055, 0x00a4, 0x091},  {Op::DAS, 0, 0x00f9, 0x085, 0x0099, 0x085},
    {Op::DAS, 0, 0x00fa, 0x884, 0x0094, 0x091},  {Op::DAS, 0, 0x00ff, 0x800, 0x0099, 0x095},
    {Op::DAS, 0, 0x0099, 0x041, 0x0039, 0x805},  {Op::DAS, 0, 0x009a, 0x815, 0x0034, 0x811},
    {Op::DAS, 0, 0x7f8f, 0x8d0, 0x7f89, 0x090},  {Op::DAS, 0, 0x80ff, 0x804, 0x8099, 0x095},
    {Op::DAS, 0, 0xff0f, 0x811, 0xffa9, 0x095},  {Op::DAS, 0, 0x0105, 0x894, 0x01ff, 0x095},
    {Op::DAS, 0, 0x6c2c, 0x895, 0x6cc6, 0x095},  {Op::DAS, 0, 0x6545, 0x810, 0x653f, 0x014},
    {Op::DAS, 0, 0x8498, 0x095, 0x8432, 0x811},  {Op::DAS, 0, 0xcbb5, 0x850, 0xcb4f, 0x811},
    {Op::AAA, 0, 0x0000, 0x0d1, 0x0106, 0x015},  {Op::AAA, 0, 0x0009, 0x895, 0x010f, 0x015},
    {Op::AAA, 0, 0x000a, 0x8c0, 0x0100, 0x011},  {Op::AAA, 0, 0x00f9, 0x000, 0x0009, 0x004},
    {Op::AAA, 0, 0x00fa, 0x010, 0x0200, 0x015},  {Op::AAA, 0, 0x00ff, 0x8c1, 0x0205, 0x015},
    {Op::AAA, 0, 0x0099, 0x0c4, 0x0009, 0x004},  {Op::AAA, 0, 0x009a, 0x804, 0x0100, 0x015},
    {Op::AAA, 0, 0x7f8f, 0x004, 0x8005, 0x895},  {Op::AAA, 0, 0x80ff, 0x8c4, 0x8205, 0x095},
    {Op::AAA, 0, 0xff0f, 0x081, 0x0005, 0x011},  {Op::AAA, 0, 0x0105, 0x855, 0x020b, 0x011},
    {Op::AAA, 0, 0x5de3, 0x0c1, 0x5d03, 0x000},  {Op::AAA, 0, 0xdc48, 0x851, 0xdd0e, 0x095},
    {Op::AAA, 0, 0x73b0, 0x001, 0x7300, 0x000},  {Op::AAA, 0, 0xa6c0, 0x890, 0xa706, 0x095},
    {Op::AAS, 0, 0x0000, 0x854, 0xfe0a, 0x095},  {Op::AAS, 0, 0x0009, 0x095, 0xff03, 0x095},
    {Op::AAS, 0, 0x000a, 0x055, 0xff04, 0x091},  {Op::AAS, 0, 0x00f9, 0x884, 0x0009, 0x004},
    {Op::AAS, 0, 0x00fa, 0x854, 0xff04, 0x091},  {Op::AAS, 0, 0x00ff, 0x0d4, 0xff09, 0x095},
    {Op::AAS, 0, 0x0099, 0x045, 0x0009, 0x004},  {Op::AAS, 0, 0x009a, 0x815, 0xff04, 0x091},
    {Op::AAS, 0, 0x7f8f, 0x800, 0x7e09, 0x011},  {Op::AAS, 0, 0x80ff, 0x8c1, 0x7f09, 0x815},
    {Op::AAS, 0, 0xff0f, 0x801, 0xfe09, 0x095},  {Op::AAS, 0, 0x0105, 0x0c0, 0x0105, 0x004},
    {Op::AAS, 0, 0x153d, 0x085, 0x1407, 0x011},  {Op::AAS, 0, 0xf497, 0x054, 0xf301, 0x091},
    {Op::AAS, 0, 0x92f7, 0x0c0, 0x9207, 0x080},  {Op::AAS, 0, 0x2695, 0x844, 0x2605, 0x004},
    {Op::AAM, 10, 0x0000, 0x081, 0x0000, 0x044}, {Op::AAM, 10, 0x0009, 0x8c1, 0x0009, 0x004},
    {Op::AAM, 10, 0x000a, 0x841, 0x0100, 0x044}, {Op::AAM, 10, 0x00f9, 0x851, 0x1809, 0x004},
    {Op::AAM, 10, 0x00fa, 0x0d1, 0x1900, 0x044}, {Op::AAM, 10, 0x00ff, 0x0c1, 0x1905, 0x004},
    {Op::AAM, 10, 0x0099, 0x011, 0x0f03, 0x004}, {Op::AAM, 10, 0x009a, 0x891, 0x0f04, 0x000},
    {Op::AAM, 10, 0x7f8f, 0x804, 0x0e03, 0x004}, {Op::AAM, 10, 0x80ff, 0x011, 0x1905, 0x004},
    {Op::AAM, 10, 0xff0f, 0x001, 0x0105, 0x004}, {Op::AAM, 10, 0x0105, 0x851, 0x0005, 0x004},
    {Op::AAM, 10, 0xd51e, 0x891, 0x0300, 0x044}, {Op::AAM, 10, 0x5ae5, 0x041, 0x1609, 0x004},
    {Op::AAM, 10, 0x13dd, 0x0d1, 0x1601, 0x000}, {Op::AAM, 10, 0xf77f, 0x095, 0x0c07, 0x000},
    {Op::AAD, 10, 0x0000, 0x080, 0x0000, 0x044}, {Op::AAD, 10, 0x0009, 0x051, 0x0009, 0x004},
    {Op::AAD, 10, 0x000a, 0x890, 0x000a, 0x004}, {Op::AAD, 10, 0x00f9, 0x090, 0x00f9, 0x084},
    {Op::AAD, 10, 0x00fa, 0x815, 0x00fa, 0x084}, {Op::AAD, 10, 0x00ff, 0x055, 0x00ff, 0x084},
    {Op::AAD, 10, 0x0099, 0x841, 0x0099, 0x084}, {Op::AAD, 10, 0x009a, 0x8c1, 0x009a, 0x084},
    {Op::AAD, 10, 0x7f8f, 0x090, 0x0085, 0x091}, {Op::AAD, 10, 0x80ff, 0x005, 0x00ff, 0x084},
    {Op::AAD, 10, 0xff0f, 0x010, 0x0005, 0x015}, {Op::AAD, 10, 0x0105, 0x804, 0x000f, 0x004},
    {Op::AAD, 10, 0x815d, 0x841, 0x0067, 0x010}, {Op::AAD, 10, 0xdee9, 0x081, 0x0095, 0x095},
    {Op::AAD, 10, 0x834c, 0x041, 0x006a, 0x014}, {Op::AAD, 10, 0x926e, 0x084, 0x0022, 0x015},
    {Op::AAM, 7, 0x0000, 0x054, 0x0000, 0x044},  {Op::AAM, 7, 0x0009, 0x014, 0x0102, 0x000},
    {Op::AAM, 7, 0x000a, 0x015, 0x0103, 0x004},  {Op::AAM, 7, 0x00f9, 0x0d4, 0x2304, 0x000},
    {Op::AAM, 7, 0x00fa, 0x085, 0x2305, 0x004},  {Op::AAM, 7, 0x00ff, 0x011, 0x2403, 0x004},
    {Op::AAM, 7, 0x0099, 0x801, 0x1506, 0x004},  {Op::AAM, 7, 0x009a, 0x010, 0x1600, 0x044},
    {Op::AAM, 7, 0x7f8f, 0x804, 0x1403, 0x004},  {Op::AAM, 7, 0x80ff, 0x001, 0x2403, 0x004},
    {Op::AAM, 7, 0xff0f, 0x8c0, 0x0201, 0x000},  {Op::AAM, 7, 0x0105, 0x0d0, 0x0005, 0x004},
    {Op::AAM, 7, 0x56fa, 0x814, 0x2305, 0x004},  {Op::AAM, 7, 0xae2b, 0x8c5, 0x0601, 0x000},
    {Op::AAM, 7, 0xccd7, 0x0c5, 0x1e05, 0x004},  {Op::AAM, 7, 0x39b2, 0x005, 0x1903, 0x004},
    {Op::AAD, 7, 0x0000, 0x081, 0x0000, 0x044},  {Op::AAD, 7, 0x0009, 0x895, 0x0009, 0x004},
    {Op::AAD, 7, 0x000a, 0x084, 0x000a, 0x004},  {Op::AAD, 7, 0x00f9, 0x0c4, 0x00f9, 0x084},
    {Op::AAD, 7, 0x00fa, 0x845, 0x00fa, 0x084},  {Op::AAD, 7, 0x00ff, 0x815, 0x00ff, 0x084},
    {Op::AAD, 7, 0x0099, 0x880, 0x0099, 0x084},  {Op::AAD, 7, 0x009a, 0x014, 0x009a, 0x084},
    {Op::AAD, 7, 0x7f8f, 0x084, 0x0008, 0x011},  {Op::AAD, 7, 0x80ff, 0x055, 0x007f, 0x801},
    {Op::AAD, 7, 0xff0f, 0x8c4, 0x0008, 0x011},  {Op::AAD, 7, 0x0105, 0x895, 0x000c, 0x004},
    {Op::AAD, 7, 0x502c, 0x8d1, 0x005c, 0x004},  {Op::AAD, 7, 0x0287, 0x8d1, 0x0095, 0x094},
    {Op::AAD, 7, 0x97ea, 0x0c5, 0x000b, 0x001},  {Op::AAD, 7, 0x40c5, 0x844, 0x0085, 0x081},
};

TEST(ArithDecimal, MatchesRecordedHostVectors) {
  TestCpu t;
  for (const DecimalVector& v : kHostDecimalVectors) {
    const UmbraOut u = run_decimal(t, v.op, static_cast<uint8_t>(v.imm), v.ax_in, v.flags_in);
    ASSERT_FALSE(u.outcome.faulted);
    EXPECT_EQ(u.dst & 0xffff, v.ax_out) << op_name(v.op) << std::hex << " ax=" << v.ax_in;
    EXPECT_EQ(u.dst >> 16, 0xdeadbeef1234ull);
    EXPECT_EQ(u.flags, v.flags_out)
        << op_name(v.op) << std::hex << " ax=" << v.ax_in << " flags=" << v.flags_in;
  }
}

TEST(ArithDecimal, AamByZeroIsDivideError) {
  TestCpu t;
  reset_cpu(t, rf::SF);
  CpuState& cpu = t.cpu();
  cpu.gpr[RAX] = 0x1234;
  Insn i = make_insn(Op::AAM, 1, 2);
  i.imm = 0;
  const Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kDE);
  EXPECT_EQ(cpu.gpr[RAX], 0x1234u);
  EXPECT_EQ(arith_flags(cpu), rf::SF);
  EXPECT_EQ(cpu.rip, kStartRip);
}

}  // namespace
}  // namespace umbra::test::sema
