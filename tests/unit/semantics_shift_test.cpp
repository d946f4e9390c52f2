// Unit tests of the shift and rotate semantics (frontend/semantics/shift.cpp): ROL ROR RCL RCR
// SHL SHR SAR SHLD SHRD in every size, with register and memory destinations and immediate and
// CL counts, against the host CPU running the same instruction (every count 0..255 is covered,
// including counts of 0, 1, width-1, width and above the width).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "frontend/flags.h"
#include "frontend/insn.h"
#include "tests/unit/sema_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::sema {
namespace {

// "<mnem><suffix> %cl, a" on the host.
#define DEFINE_HOST_SHIFT(name, mnem)                                       \
  HostOut name(unsigned size, uint64_t a, uint64_t count, uint64_t flags) { \
    uint64_t f = host_flags_in(flags);                                      \
    switch (size) {                                                         \
      case 1:                                                               \
        asm volatile(HOST_FLAGS_IN mnem "b %%cl, %b[a]" HOST_FLAGS_OUT      \
                     : [a] "+r"(a), [f] "+r"(f)                             \
                     : "c"(count)                                           \
                     : "cc");                                               \
        break;                                                              \
      case 2:                                                               \
        asm volatile(HOST_FLAGS_IN mnem "w %%cl, %w[a]" HOST_FLAGS_OUT      \
                     : [a] "+r"(a), [f] "+r"(f)                             \
                     : "c"(count)                                           \
                     : "cc");                                               \
        break;                                                              \
      case 4:                                                               \
        asm volatile(HOST_FLAGS_IN mnem "l %%cl, %k[a]" HOST_FLAGS_OUT      \
                     : [a] "+r"(a), [f] "+r"(f)                             \
                     : "c"(count)                                           \
                     : "cc");                                               \
        break;                                                              \
      default:                                                              \
        asm volatile(HOST_FLAGS_IN mnem "q %%cl, %q[a]" HOST_FLAGS_OUT      \
                     : [a] "+r"(a), [f] "+r"(f)                             \
                     : "c"(count)                                           \
                     : "cc");                                               \
        break;                                                              \
    }                                                                       \
    return {a, f & kArith};                                                 \
  }

DEFINE_HOST_SHIFT(host_rol, "rol")
DEFINE_HOST_SHIFT(host_ror, "ror")
DEFINE_HOST_SHIFT(host_rcl, "rcl")
DEFINE_HOST_SHIFT(host_rcr, "rcr")
DEFINE_HOST_SHIFT(host_shl, "shl")
DEFINE_HOST_SHIFT(host_shr, "shr")
DEFINE_HOST_SHIFT(host_sar, "sar")

// "<mnem><suffix> %cl, b, a" on the host (SHLD/SHRD).
#define DEFINE_HOST_DOUBLE_SHIFT(name, mnem)                                            \
  HostOut name(unsigned size, uint64_t a, uint64_t b, uint64_t count, uint64_t flags) { \
    uint64_t f = host_flags_in(flags);                                                  \
    switch (size) {                                                                     \
      case 2:                                                                           \
        asm volatile(HOST_FLAGS_IN mnem "w %%cl, %w[b], %w[a]" HOST_FLAGS_OUT           \
                     : [a] "+r"(a), [f] "+r"(f)                                         \
                     : [b] "r"(b), "c"(count)                                           \
                     : "cc");                                                           \
        break;                                                                          \
      case 4:                                                                           \
        asm volatile(HOST_FLAGS_IN mnem "l %%cl, %k[b], %k[a]" HOST_FLAGS_OUT           \
                     : [a] "+r"(a), [f] "+r"(f)                                         \
                     : [b] "r"(b), "c"(count)                                           \
                     : "cc");                                                           \
        break;                                                                          \
      default:                                                                          \
        asm volatile(HOST_FLAGS_IN mnem "q %%cl, %q[b], %q[a]" HOST_FLAGS_OUT           \
                     : [a] "+r"(a), [f] "+r"(f)                                         \
                     : [b] "r"(b), "c"(count)                                           \
                     : "cc");                                                           \
        break;                                                                          \
    }                                                                                   \
    return {a, f & kArith};                                                             \
  }

DEFINE_HOST_DOUBLE_SHIFT(host_shld, "shld")
DEFINE_HOST_DOUBLE_SHIFT(host_shrd, "shrd")

// Runs a shift of `a` (RBX or memory) by `count` (imm8 or CL; CL's register gets junk above the
// low byte, which must be ignored). For SHLD/SHRD, `b` is the source register (RSI).
UmbraOut run_shift(TestCpu& t, Op op, unsigned size, bool mem, bool count_in_cl, uint64_t a,
                   uint64_t b, unsigned count, uint64_t flags, uint64_t mem_addr = kDataBase + 8) {
  reset_cpu(t, flags);
  CpuState& cpu = t.cpu();
  const bool double_shift = op == Op::SHLD || op == Op::SHRD;
  Insn i = make_insn(op, size, 4);
  if (mem) {
    use_memory(t, i, i.dst, mem_addr, 0);
    place_mem(t, mem_addr, size, a);
  } else {
    i.dst = reg_operand(kDstReg);
    cpu.gpr[kDstReg] = a;
  }
  Operand& count_slot = double_shift ? i.src2 : i.src;
  if (double_shift) {
    i.src = reg_operand(kSrcReg);
    cpu.gpr[kSrcReg] = b;
  }
  if (count_in_cl) {
    count_slot = reg_operand(RCX);
    cpu.gpr[RCX] = 0x1234567800000000ull | (uint64_t{count} * 0x1010100) | count;
  } else {
    count_slot = imm_operand();
    i.imm = sext(count, 1);  // however the decoder extends imm8, only its low bits count
  }
  UmbraOut out;
  out.outcome = t.run(i);
  out.dst = mem ? read_sized(t, mem_addr, size) : cpu.gpr[kDstReg];
  out.flags = arith_flags(cpu);
  out.rip = cpu.rip;
  out.guards_ok = mem ? guards_intact(t, mem_addr, size) : true;
  return out;
}

using HostShift = HostOut (*)(unsigned, uint64_t, uint64_t, uint64_t);
using HostDoubleShift = HostOut (*)(unsigned, uint64_t, uint64_t, uint64_t, uint64_t);

// The flags the SDM leaves undefined for a shift of `size` bytes by `count` (before masking):
// AF after any shift (not rotate) by a nonzero count, OF unless the masked count is 1, CF of
// SHL/SHR when the count reaches the width, and everything (the result too) for a 16-bit
// SHLD/SHRD by more than 16 (SDM vol. 2, SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR, SHLD, SHRD).
uint64_t shift_undefined(Op op, unsigned size, unsigned count) {
  const unsigned width = 8 * size;
  const unsigned c = count & (size == 8 ? 63 : 31);
  if (c == 0) return 0;
  const bool rotate = op == Op::ROL || op == Op::ROR || op == Op::RCL || op == Op::RCR;
  const bool double_shift = op == Op::SHLD || op == Op::SHRD;
  if (double_shift && c > width) return kArith;
  uint64_t u = rotate ? 0 : rf::AF;
  if (c != 1) u |= rf::OF;
  if ((op == Op::SHL || op == Op::SHR) && c >= width) u |= rf::CF;
  return u;
}

// On a host other than the reference, cases with an undefined result are not compared.
bool shift_result_undefined(Op op, unsigned size, unsigned count) {
  return (op == Op::SHLD || op == Op::SHRD) && size == 2 && (count & 31) > 16;
}

void check_shift_op(Op op, HostShift host, HostDoubleShift host2, uint64_t seed) {
  TestCpu t;
  Values vals(seed);
  FailureBudget budget;
  const bool double_shift = host2 != nullptr;
  auto check = [&](unsigned size, uint64_t a, uint64_t b, unsigned count, uint64_t flags) {
    if (!host_is_reference() && shift_result_undefined(op, size, count)) return;
    const HostOut h = double_shift ? host2(size, a, b, count, flags) : host(size, a, count, flags);
    const uint64_t cmp = compared_flags(shift_undefined(op, size, count));
    for (bool mem : {false, true})
      for (bool cl : {false, true}) {
        const UmbraOut u = run_shift(t, op, size, mem, cl, a, b, count, flags);
        const uint64_t want = mem ? h.dst & mask_of(size) : h.dst;
        const bool ok = !u.outcome.faulted && u.dst == want && (u.flags & cmp) == (h.flags & cmp) &&
                        u.rip == kStartRip + 4 && u.guards_ok;
        if (!ok && !budget.exhausted()) {
          budget.count();
          ADD_FAILURE() << describe(op_name(op), size, a, b, flags) << " count=" << count
                        << (mem ? " mem" : " reg") << (cl ? " cl" : " imm") << std::hex << ": dst "
                        << u.dst << " want " << want << ", flags " << u.flags << " want " << h.flags
                        << ", faulted " << u.outcome.faulted;
        }
      }
  };
  const std::vector<unsigned> sizes =
      double_shift ? std::vector<unsigned>{2, 4, 8} : std::vector<unsigned>{1, 2, 4, 8};
  for (unsigned size : sizes) {
    // Every count with edge values, then random values with random counts.
    for (unsigned count = 0; count < 256; ++count)
      for (int k = 0; k < 6; ++k) {
        const uint64_t a =
            k < 3 ? edge_values()[(count + 7 * k) % edge_values().size()] : vals.next();
        check(size, a, vals.next(), count, vals.flags());
      }
    for (int k = 0; k < 2000; ++k)
      check(size, vals.next(), vals.next(), static_cast<unsigned>(vals.below(80)), vals.flags());
  }
}

TEST(ShiftOps, RolMatchesHost) {
  check_shift_op(Op::ROL, host_rol, nullptr, 31);
}
TEST(ShiftOps, RorMatchesHost) {
  check_shift_op(Op::ROR, host_ror, nullptr, 32);
}
TEST(ShiftOps, RclMatchesHost) {
  check_shift_op(Op::RCL, host_rcl, nullptr, 33);
}
TEST(ShiftOps, RcrMatchesHost) {
  check_shift_op(Op::RCR, host_rcr, nullptr, 34);
}
TEST(ShiftOps, ShlMatchesHost) {
  check_shift_op(Op::SHL, host_shl, nullptr, 35);
}
TEST(ShiftOps, ShrMatchesHost) {
  check_shift_op(Op::SHR, host_shr, nullptr, 36);
}
TEST(ShiftOps, SarMatchesHost) {
  check_shift_op(Op::SAR, host_sar, nullptr, 37);
}
TEST(ShiftOps, ShldMatchesHost) {
  check_shift_op(Op::SHLD, nullptr, host_shld, 38);
}
TEST(ShiftOps, ShrdMatchesHost) {
  check_shift_op(Op::SHRD, nullptr, host_shrd, 39);
}

// Masked count 0: flags and value unchanged, the 32-bit register still zero-extended (the
// host check above covers that too; this states it explicitly).
TEST(ShiftOps, CountZeroKeepsFlagsButZeroExtends32BitRegister) {
  TestCpu t;
  for (Op op :
       {Op::ROL, Op::ROR, Op::RCL, Op::RCR, Op::SHL, Op::SHR, Op::SAR, Op::SHLD, Op::SHRD}) {
    for (unsigned count : {0u, 32u, 96u}) {
      const UmbraOut u = run_shift(t, op, 4, false, true, 0xffffffff80000001ull, 7, count,
                                   rf::OF | rf::SF | rf::PF);
      ASSERT_FALSE(u.outcome.faulted);
      EXPECT_EQ(u.dst, 0x80000001u) << op_name(op) << " count " << count;
      EXPECT_EQ(u.flags, rf::OF | rf::SF | rf::PF) << op_name(op);
      EXPECT_EQ(u.rip, kStartRip + 4);
    }
  }
}

// A count-0 shift of a read-only memory operand still faults (as on the host), and a faulting
// shift of any count changes nothing.
TEST(ShiftOps, ReadOnlyMemoryDestinationFaultsEvenWithCountZero) {
  TestCpu t;
  ReadOnlyPagesTranslator ro;
  ro.readonly.insert(kDataBase);
  t.cpu().translator = &ro;
  tlb_flush_all(t.cpu());
  for (Op op : {Op::ROL, Op::RCR, Op::SHL, Op::SAR, Op::SHLD, Op::SHRD}) {
    for (unsigned count : {0u, 1u, 5u}) {
      const UmbraOut u = run_shift(t, op, 2, true, count == 5, 0x8001, 3, count, rf::CF);
      EXPECT_TRUE(u.outcome.faulted) << op_name(op) << " count " << count;
      EXPECT_EQ(u.outcome.vector, kPF);
      EXPECT_EQ(u.dst, 0x8001u);
      EXPECT_EQ(u.flags, rf::CF);
      EXPECT_EQ(u.rip, kStartRip);
    }
  }
  t.cpu().translator = nullptr;
}

// Rotates change only CF and OF: SF, ZF, AF, PF survive from a lazy producer.
TEST(ShiftOps, RotatesPreserveOtherFlags) {
  TestCpu t;
  reset_cpu(t, 0);
  CpuState& cpu = t.cpu();
  set_lazy<uint8_t>(cpu, kLazySub, 0, 5, 5);  // ZF, PF set
  Insn i = make_insn(Op::ROR, 8, 3);
  i.dst = reg_operand(RAX);
  i.src = imm_operand();
  i.imm = 1;
  cpu.gpr[RAX] = 1;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RAX], 0x8000000000000000ull);
  EXPECT_EQ(arith_flags(cpu), rf::ZF | rf::PF | rf::CF | rf::OF);
}

// SHL on a high-byte register.
TEST(ShiftOps, HighByteRegister) {
  TestCpu t;
  reset_cpu(t, 0);
  CpuState& cpu = t.cpu();
  cpu.gpr[RDX] = 0xc3a5;  // DH = 0xc3
  Insn i = make_insn(Op::SHL, 1, 3);
  i.dst = reg_operand(kRegAH + 2);
  i.src = imm_operand();
  i.imm = 1;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(cpu.gpr[RDX], 0x86a5u);
  EXPECT_EQ(arith_flags(cpu), rf::CF | rf::SF | rf::AF);  // 0x86: three bits, odd parity
}

}  // namespace
}  // namespace umbra::test::sema
