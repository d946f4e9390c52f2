// Unit tests of the BMI1/BMI2/ADX semantics (frontend/semantics/bmi.cpp) against the host CPU
// running the same instructions (the host has BMI1, BMI2 and ADX), in both operand sizes with
// register and memory sources.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <utility>

#include "frontend/flags.h"
#include "frontend/insn.h"
#include "tests/unit/sema_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::sema {
namespace {

// The host computes dst from src (the r/m operand) and src2 (VEX.vvvv). `text32`/`text64` are
// AT&T templates over %[d] (destination), %[s] (r/m source) and %[v] (vvvv source).
using HostVex = HostOut (*)(unsigned size, uint64_t dst, uint64_t src, uint64_t src2,
                            uint64_t flags);

#define DEFINE_HOST_VEX(name, text32, text64)                                       \
  HostOut name(unsigned size, uint64_t d, uint64_t s, uint64_t v, uint64_t flags) { \
    uint64_t f = host_flags_in(flags);                                              \
    if (size == 4)                                                                  \
      asm volatile(HOST_FLAGS_IN text32 HOST_FLAGS_OUT                              \
                   : [d] "+r"(d), [f] "+r"(f)                                       \
                   : [s] "r"(s), [v] "r"(v)                                         \
                   : "cc");                                                         \
    else                                                                            \
      asm volatile(HOST_FLAGS_IN text64 HOST_FLAGS_OUT                              \
                   : [d] "+r"(d), [f] "+r"(f)                                       \
                   : [s] "r"(s), [v] "r"(v)                                         \
                   : "cc");                                                         \
    return {d, f & kArith};                                                         \
  }

DEFINE_HOST_VEX(host_andn, "andnl %k[s], %k[v], %k[d]", "andnq %q[s], %q[v], %q[d]")
DEFINE_HOST_VEX(host_bextr, "bextrl %k[v], %k[s], %k[d]", "bextrq %q[v], %q[s], %q[d]")
DEFINE_HOST_VEX(host_bzhi, "bzhil %k[v], %k[s], %k[d]", "bzhiq %q[v], %q[s], %q[d]")
DEFINE_HOST_VEX(host_pdep, "pdepl %k[s], %k[v], %k[d]", "pdepq %q[s], %q[v], %q[d]")
DEFINE_HOST_VEX(host_pext, "pextl %k[s], %k[v], %k[d]", "pextq %q[s], %q[v], %q[d]")
DEFINE_HOST_VEX(host_sarx, "sarxl %k[v], %k[s], %k[d]", "sarxq %q[v], %q[s], %q[d]")
DEFINE_HOST_VEX(host_shlx, "shlxl %k[v], %k[s], %k[d]", "shlxq %q[v], %q[s], %q[d]")
DEFINE_HOST_VEX(host_shrx, "shrxl %k[v], %k[s], %k[d]", "shrxq %q[v], %q[s], %q[d]")
// BLSI/BLSMSK/BLSR: dst (vvvv) <- f(src); ADCX/ADOX: dst += src + carry. %[v] unused.
DEFINE_HOST_VEX(host_blsi, "blsil %k[s], %k[d]", "blsiq %q[s], %q[d]")
DEFINE_HOST_VEX(host_blsmsk, "blsmskl %k[s], %k[d]", "blsmskq %q[s], %q[d]")
DEFINE_HOST_VEX(host_blsr, "blsrl %k[s], %k[d]", "blsrq %q[s], %q[d]")
DEFINE_HOST_VEX(host_adcx, "adcxl %k[s], %k[d]", "adcxq %q[s], %q[d]")
DEFINE_HOST_VEX(host_adox, "adoxl %k[s], %k[d]", "adoxq %q[s], %q[d]")

constexpr uint8_t kVvvvReg = RDI;

// Runs `op` with dst = RBX (old value `d`), src = RSI or memory (`s`), src2 = RDI (`v`), or
// src2 = imm8 for RORX.
UmbraOut run_vex(TestCpu& t, Op op, unsigned size, bool mem, uint64_t d, uint64_t s, uint64_t v,
                 uint64_t flags) {
  reset_cpu(t, flags);
  CpuState& cpu = t.cpu();
  Insn i = make_insn(op, size, 5);
  i.prefixes = pfx::kVex;
  i.dst = reg_operand(kDstReg);
  cpu.gpr[kDstReg] = d;
  if (mem) {
    use_memory(t, i, i.src, kDataBase + 0x40, 0);
    place_mem(t, kDataBase + 0x40, size, s);
  } else {
    i.src = reg_operand(kSrcReg);
    cpu.gpr[kSrcReg] = s;
  }
  if (op == Op::RORX) {
    i.src2 = imm_operand();
    i.imm = v;
  } else if (op != Op::BLSI && op != Op::BLSMSK && op != Op::BLSR && op != Op::ADCX &&
             op != Op::ADOX) {
    i.src2 = reg_operand(kVvvvReg);
    cpu.gpr[kVvvvReg] = v;
    i.vreg = kVvvvReg;
  }
  UmbraOut out;
  out.outcome = t.run(i);
  out.dst = cpu.gpr[kDstReg];
  out.flags = arith_flags(cpu);
  out.rip = cpu.rip;
  out.guards_ok = mem ? guards_intact(t, kDataBase + 0x40, size) : true;
  return out;
}

// Control values for BEXTR/BZHI and counts for the shifts: small fields are where the
// interesting cases are (start/length/index around and beyond the width).
uint64_t control_value(Values& vals) {
  switch (vals.below(4)) {
    case 0:
      return vals.below(80) | vals.below(80) << 8;
    case 1:
      return vals.below(256) | vals.below(256) << 8 | (vals.next() << 16);
    case 2:
      return vals.below(70);
    default:
      return vals.next();
  }
}

// `undefined`: the flags the SDM leaves undefined for `op` (compared only on the reference host).
void check_vex_op(Op op, HostVex host, uint64_t undefined, uint64_t seed) {
  TestCpu t;
  Values vals(seed);
  FailureBudget budget;
  const uint64_t cmp = compared_flags(undefined);
  for (unsigned size : {4u, 8u}) {
    for (int k = 0; k < 4000; ++k) {
      const uint64_t d = vals.next(), s = vals.next(), f = vals.flags();
      const uint64_t v = (op == Op::PDEP || op == Op::PEXT) ? vals.next() : control_value(vals);
      const HostOut h = host(size, d, s, v, f);
      for (bool mem : {false, true}) {
        const UmbraOut u = run_vex(t, op, size, mem, d, s, v, f);
        if ((u.outcome.faulted || u.dst != h.dst || (u.flags & cmp) != (h.flags & cmp) ||
             u.rip != kStartRip + 5 || !u.guards_ok) &&
            !budget.exhausted()) {
          budget.count();
          ADD_FAILURE() << describe(op_name(op), size, s, v, f) << (mem ? " mem" : " reg")
                        << std::hex << ": dst " << u.dst << " want " << h.dst << ", flags "
                        << u.flags << " want " << h.flags << ", faulted " << u.outcome.faulted;
        }
      }
    }
  }
}

// Undefined flags per the SDM (vol. 2, each instruction's "Flags Affected").
constexpr uint64_t kAfPf = rf::AF | rf::PF;

TEST(BmiOps, AndnMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi1);
  check_vex_op(Op::ANDN, host_andn, kAfPf, 51);
}
TEST(BmiOps, BextrMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi1);
  check_vex_op(Op::BEXTR, host_bextr, kAfPf | rf::SF, 52);
}
TEST(BmiOps, BzhiMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  check_vex_op(Op::BZHI, host_bzhi, kAfPf, 53);
}
TEST(BmiOps, PdepMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  check_vex_op(Op::PDEP, host_pdep, 0, 54);
}
TEST(BmiOps, PextMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  check_vex_op(Op::PEXT, host_pext, 0, 55);
}
TEST(BmiOps, SarxMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  check_vex_op(Op::SARX, host_sarx, 0, 56);
}
TEST(BmiOps, ShlxMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  check_vex_op(Op::SHLX, host_shlx, 0, 57);
}
TEST(BmiOps, ShrxMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  check_vex_op(Op::SHRX, host_shrx, 0, 58);
}
TEST(BmiOps, BlsiMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi1);
  check_vex_op(Op::BLSI, host_blsi, kAfPf, 59);
}
TEST(BmiOps, BlsmskMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi1);
  check_vex_op(Op::BLSMSK, host_blsmsk, kAfPf, 60);
}
TEST(BmiOps, BlsrMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi1);
  check_vex_op(Op::BLSR, host_blsr, kAfPf, 61);
}
TEST(BmiOps, AdcxMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Adx);
  check_vex_op(Op::ADCX, host_adcx, 0, 62);
}
TEST(BmiOps, AdoxMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Adx);
  check_vex_op(Op::ADOX, host_adox, 0, 63);
}

// RORX takes its count as an immediate, so the host oracle is one instantiation per imm8.
template <int N>
HostOut host_rorx_imm(unsigned size, uint64_t d, uint64_t s, uint64_t, uint64_t flags) {
  uint64_t f = host_flags_in(flags);
  if (size == 4)
    asm volatile(HOST_FLAGS_IN "rorxl %[n], %k[s], %k[d]" HOST_FLAGS_OUT
                 : [d] "+r"(d), [f] "+r"(f)
                 : [s] "r"(s), [n] "i"(N)
                 : "cc");
  else
    asm volatile(HOST_FLAGS_IN "rorxq %[n], %q[s], %q[d]" HOST_FLAGS_OUT
                 : [d] "+r"(d), [f] "+r"(f)
                 : [s] "r"(s), [n] "i"(N)
                 : "cc");
  return {d, f & kArith};
}
template <size_t... N>
constexpr std::array<HostVex, sizeof...(N)> rorx_table(std::index_sequence<N...>) {
  return {&host_rorx_imm<static_cast<int>(N)>...};
}
constexpr auto kHostRorx = rorx_table(std::make_index_sequence<256>());

TEST(BmiOps, RorxMatchesHostForEveryImmediate) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  TestCpu t;
  Values vals(64);
  FailureBudget budget;
  for (unsigned size : {4u, 8u}) {
    for (unsigned imm = 0; imm < 256; ++imm) {
      for (int k = 0; k < 8; ++k) {
        const uint64_t d = vals.next(), s = vals.next(), f = vals.flags();
        const HostOut h = kHostRorx[imm](size, d, s, 0, f);
        for (bool mem : {false, true}) {
          const UmbraOut u = run_vex(t, Op::RORX, size, mem, d, s, sext(imm, 1), f);
          if ((u.outcome.faulted || u.dst != h.dst || u.flags != h.flags) && !budget.exhausted()) {
            budget.count();
            ADD_FAILURE() << describe("RORX", size, s, imm, f) << std::hex << ": " << u.dst
                          << " want " << h.dst;
          }
        }
      }
    }
  }
}

// MULX: high half to dst, low half to the vvvv register, no flags; RDX is the implicit source.
struct HostMulx {
  uint64_t hi, lo, flags;
};
HostMulx host_mulx(unsigned size, uint64_t rdx, uint64_t src, uint64_t flags) {
  uint64_t f = host_flags_in(flags), hi, lo;
  if (size == 4)
    asm volatile(HOST_FLAGS_IN "mulxl %k[s], %k[lo], %k[hi]" HOST_FLAGS_OUT
                 : [hi] "=&r"(hi), [lo] "=&r"(lo), [f] "+r"(f)
                 : [s] "r"(src), "d"(rdx)
                 : "cc");
  else
    asm volatile(HOST_FLAGS_IN "mulxq %q[s], %q[lo], %q[hi]" HOST_FLAGS_OUT
                 : [hi] "=&r"(hi), [lo] "=&r"(lo), [f] "+r"(f)
                 : [s] "r"(src), "d"(rdx)
                 : "cc");
  return {hi, lo, f & kArith};
}

TEST(BmiOps, MulxMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi2);
  TestCpu t;
  Values vals(65);
  FailureBudget budget;
  for (unsigned size : {4u, 8u}) {
    for (int k = 0; k < 4000; ++k) {
      const uint64_t rdx = vals.next(), s = vals.next(), f = vals.flags();
      const HostMulx h = host_mulx(size, rdx, s, f);
      for (bool mem : {false, true}) {
        reset_cpu(t, f);
        CpuState& cpu = t.cpu();
        cpu.gpr[RDX] = rdx;
        Insn i = make_insn(Op::MULX, size, 5);
        i.dst = reg_operand(kDstReg);
        i.src2 = reg_operand(kVvvvReg);
        if (mem) {
          use_memory(t, i, i.src, kDataBase, 0);
          write_sized(t, kDataBase, size, s);
        } else {
          i.src = reg_operand(kSrcReg);
          cpu.gpr[kSrcReg] = s;
        }
        const Outcome o = t.run(i);
        if ((o.faulted || cpu.gpr[kDstReg] != h.hi || cpu.gpr[kVvvvReg] != h.lo ||
             arith_flags(cpu) != h.flags || cpu.gpr[RDX] != rdx || cpu.rip != kStartRip + 5) &&
            !budget.exhausted()) {
          budget.count();
          ADD_FAILURE() << describe("MULX", size, rdx, s, f) << std::hex << ": hi "
                        << cpu.gpr[kDstReg] << " want " << h.hi << ", lo " << cpu.gpr[kVvvvReg]
                        << " want " << h.lo;
        }
      }
    }
  }
}

// MULX with both destinations the same register: the high half wins (SDM vol. 2, MULX); and
// with RDX as a destination.
TEST(BmiOps, MulxSameDestinationKeepsHighHalf) {
  TestCpu t;
  reset_cpu(t, 0);
  CpuState& cpu = t.cpu();
  cpu.gpr[RDX] = 0xffffffffffffffffull;
  cpu.gpr[RSI] = 3;
  Insn i = make_insn(Op::MULX, 8, 5);
  i.dst = reg_operand(RCX);
  i.src = reg_operand(RSI);
  i.src2 = reg_operand(RCX);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RCX], 2u);  // (2^64 - 1) * 3 = 2 * 2^64 + (2^64 - 3)
  i.dst = reg_operand(RDX);
  i.src2 = reg_operand(RAX);
  cpu.gpr[RDX] = 0x100000000ull;
  cpu.gpr[RSI] = 0x100000001ull;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RDX], 1u);
  EXPECT_EQ(cpu.gpr[RAX], 0x100000000ull);
}

// The 32-bit forms zero-extend their destination, like every 32-bit GPR write.
TEST(BmiOps, ThirtyTwoBitFormsZeroExtend) {
  TestCpu t;
  const UmbraOut u = run_vex(t, Op::ANDN, 4, false, ~uint64_t{0}, ~uint64_t{0}, 0, 0);
  EXPECT_EQ(u.dst, 0xffffffffu);
  const UmbraOut v = run_vex(t, Op::ADCX, 4, false, 0xffffffff00000001ull, 1, 0, 0);
  EXPECT_EQ(v.dst, 2u);
}

}  // namespace
}  // namespace umbra::test::sema
