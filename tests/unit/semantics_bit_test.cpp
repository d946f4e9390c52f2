// Unit tests of the bit semantics (frontend/semantics/bit.cpp): BT BTS BTR BTC (register and
// memory operands, register and immediate offsets, including signed offsets that leave the
// operand), BSF BSR POPCNT LZCNT TZCNT, against the host CPU running the same instruction.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "frontend/flags.h"
#include "frontend/insn.h"
#include "tests/unit/sema_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::sema {
namespace {

DEFINE_HOST_BINARY_WIDE(host_bt, "bt")
DEFINE_HOST_BINARY_WIDE(host_bts, "bts")
DEFINE_HOST_BINARY_WIDE(host_btr, "btr")
DEFINE_HOST_BINARY_WIDE(host_btc, "btc")
DEFINE_HOST_BINARY_WIDE(host_bsf, "bsf")
DEFINE_HOST_BINARY_WIDE(host_bsr, "bsr")
DEFINE_HOST_BINARY_WIDE(host_popcnt, "popcnt")
DEFINE_HOST_BINARY_WIDE(host_lzcnt, "lzcnt")
DEFINE_HOST_BINARY_WIDE(host_tzcnt, "tzcnt")

// "<mnem><suffix> b, (p)" on the host: a bit string in host memory at p.
#define DEFINE_HOST_BIT_MEM(name, mnem)                                  \
  uint64_t name(unsigned size, uint8_t* p, uint64_t b, uint64_t flags) { \
    uint64_t f = host_flags_in(flags);                                   \
    switch (size) {                                                      \
      case 2:                                                            \
        asm volatile(HOST_FLAGS_IN mnem "w %w[b], (%[p])" HOST_FLAGS_OUT \
                     : [f] "+r"(f)                                       \
                     : [p] "r"(p), [b] "r"(b)                            \
                     : "cc", "memory");                                  \
        break;                                                           \
      case 4:                                                            \
        asm volatile(HOST_FLAGS_IN mnem "l %k[b], (%[p])" HOST_FLAGS_OUT \
                     : [f] "+r"(f)                                       \
                     : [p] "r"(p), [b] "r"(b)                            \
                     : "cc", "memory");                                  \
        break;                                                           \
      default:                                                           \
        asm volatile(HOST_FLAGS_IN mnem "q %q[b], (%[p])" HOST_FLAGS_OUT \
                     : [f] "+r"(f)                                       \
                     : [p] "r"(p), [b] "r"(b)                            \
                     : "cc", "memory");                                  \
        break;                                                           \
    }                                                                    \
    return f & kArith;                                                   \
  }

DEFINE_HOST_BIT_MEM(host_bt_mem, "bt")
DEFINE_HOST_BIT_MEM(host_bts_mem, "bts")
DEFINE_HOST_BIT_MEM(host_btr_mem, "btr")
DEFINE_HOST_BIT_MEM(host_btc_mem, "btc")

// OF, SF, AF, PF are undefined after BT/BTS/BTR/BTC (SDM vol. 2, BT).
constexpr uint64_t kBitTestUndefined = rf::OF | rf::SF | rf::AF | rf::PF;

struct BitTestOp {
  Op op;
  HostBinary host;
  decltype(&host_bt_mem) host_mem;
  bool writes;
};
const BitTestOp kBitTestOps[] = {
    {Op::BT, host_bt, host_bt_mem, false},
    {Op::BTS, host_bts, host_bts_mem, true},
    {Op::BTR, host_btr, host_btr_mem, true},
    {Op::BTC, host_btc, host_btc_mem, true},
};

// Register destination, register or immediate offset; memory destination with an immediate
// offset. The offset is taken modulo the operand width in all of these.
TEST(BitTest, RegisterOperandsAndImmediateOffsetsMatchHost) {
  TestCpu t;
  Values vals(41);
  FailureBudget budget;
  for (const BitTestOp& o : kBitTestOps) {
    for (unsigned size : {2u, 4u, 8u}) {
      for (int k = 0; k < 3000; ++k) {
        const uint64_t a = vals.next(), f = vals.flags();
        const uint64_t offset = k < 256 ? static_cast<uint64_t>(k) : vals.next();
        for (BinForm form : {BinForm::RegReg, BinForm::RegImm, BinForm::MemImm}) {
          const uint64_t b = has_imm(form) ? sext(offset, 1) : offset;  // imm8
          const HostOut h = o.host(size, a, b, f);
          const UmbraOut u = run_binary(t, o.op, size, form, a, b, f);
          const uint64_t want = dst_is_mem(form) ? h.dst & mask_of(size) : h.dst;
          const uint64_t cmp = compared_flags(kBitTestUndefined);
          if ((u.outcome.faulted || u.dst != want || (u.flags & cmp) != (h.flags & cmp) ||
               u.rip != kStartRip + 4 || !u.guards_ok) &&
              !budget.exhausted()) {
            budget.count();
            ADD_FAILURE() << describe(op_name(o.op), size, a, b, f) << " " << form_name(form)
                          << std::hex << ": dst " << u.dst << " want " << want << ", flags "
                          << u.flags << " want " << h.flags;
          }
        }
      }
    }
  }
}

// Memory operand with a register offset: the offset is signed and may address any word of the
// bit string around the operand (SDM vol. 2, BT). The host runs the same instruction on an
// identical buffer.
TEST(BitTest, MemoryBitStringWithSignedRegisterOffsetMatchesHost) {
  TestCpu t;
  Values vals(42);
  FailureBudget budget;
  constexpr unsigned kBytes = 1024;
  constexpr uint64_t kRegion = kDataBase;              // Umbra's copy of the bit string
  constexpr uint64_t kOperand = kRegion + kBytes / 2;  // the instruction's memory operand
  alignas(16) uint8_t host_buf[kBytes];
  for (const BitTestOp& o : kBitTestOps) {
    for (unsigned size : {2u, 4u, 8u}) {
      const int64_t reach = (kBytes / 2 - 8) * 8;  // bits either side that stay in the buffer
      for (int k = 0; k < 2000; ++k) {
        for (unsigned n = 0; n < kBytes; n += 8) {
          const uint64_t v = vals.next();
          std::memcpy(host_buf + n, &v, 8);
        }
        int64_t offset = static_cast<int64_t>(vals.below(2 * reach)) - reach;
        if (k < 64) offset = k - 32;  // around the operand itself
        if (size == 2 && (offset < -32768 || offset > 32767)) offset %= 32768;
        const uint64_t f = vals.flags();
        // The register holds the offset in its low `size` bytes, junk above.
        const uint64_t reg =
            (vals.next() & ~mask_of(size)) | (static_cast<uint64_t>(offset) & mask_of(size));
        reset_cpu(t, f);
        std::memcpy(t.mem().ram() + kRegion, host_buf, kBytes);
        Insn i = make_insn(o.op, size, 4);
        use_memory(t, i, i.dst, kOperand - 0x100, 0x100);
        i.src = reg_operand(kSrcReg);
        t.cpu().gpr[kSrcReg] = reg;
        const Outcome out = t.run(i);
        const uint64_t hf = o.host_mem(size, host_buf + kBytes / 2, reg, f);
        const bool same = std::memcmp(t.mem().ram() + kRegion, host_buf, kBytes) == 0;
        const uint64_t cmp = compared_flags(kBitTestUndefined);
        if ((out.faulted || !same || (arith_flags(t.cpu()) & cmp) != (hf & cmp) ||
             t.cpu().rip != kStartRip + 4) &&
            !budget.exhausted()) {
          budget.count();
          ADD_FAILURE() << op_name(o.op) << " size " << size << " offset " << offset << std::hex
                        << ": memory same " << same << ", flags " << arith_flags(t.cpu())
                        << " want " << hf;
        }
      }
    }
  }
}

// The offset applies to the effective address before the address-size wrap, and the word it
// selects is read or written as a whole: check one case by hand.
TEST(BitTest, NegativeRegisterOffsetAddressesWordBelowOperand) {
  TestCpu t;
  reset_cpu(t, 0);
  t.write<uint32_t>(kDataBase, 0);
  t.write<uint32_t>(kDataBase + 4, 0);
  Insn i = make_insn(Op::BTS, 4, 4);
  use_memory(t, i, i.dst, kDataBase + 4, 0);
  i.src = reg_operand(RCX);
  t.cpu().gpr[RCX] = static_cast<uint32_t>(-1);  // bit 31 of the dword below the operand
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(t.read<uint32_t>(kDataBase), 0x80000000u);
  EXPECT_EQ(t.read<uint32_t>(kDataBase + 4), 0u);
  EXPECT_EQ(arith_flags(t.cpu()) & rf::CF, 0u);
}

TEST(BitTest, ReadOnlyMemory) {
  TestCpu t;
  ReadOnlyPagesTranslator ro;
  ro.readonly.insert(kDataBase);
  t.cpu().translator = &ro;
  tlb_flush_all(t.cpu());
  // BT only reads; BTS/BTR/BTC fault before changing anything, even when the bit already has
  // the value they would write (as the host does).
  EXPECT_FALSE(run_binary(t, Op::BT, 4, BinForm::MemImm, 1, 0, 0).outcome.faulted);
  for (Op op : {Op::BTS, Op::BTR, Op::BTC}) {
    for (BinForm form : {BinForm::MemImm, BinForm::MemReg}) {
      const UmbraOut u = run_binary(t, op, 4, form, 1, 0, rf::ZF);
      EXPECT_TRUE(u.outcome.faulted) << op_name(op);
      EXPECT_EQ(u.dst, 1u);
      EXPECT_EQ(u.flags, rf::ZF);
      EXPECT_EQ(u.rip, kStartRip);
    }
  }
  t.cpu().translator = nullptr;
}

// ---- BSF BSR POPCNT LZCNT TZCNT: reg <- f(r/m) ----

// `undefined`: the flags the SDM leaves undefined; `zero_result_undefined`: the destination is
// undefined for a zero source (BSF/BSR). Both are compared only on the reference host.
void check_reg_from_rm(Op op, HostBinary host, uint64_t undefined, bool zero_result_undefined,
                       uint64_t seed) {
  TestCpu t;
  Values vals(seed);
  FailureBudget budget;
  for (unsigned size : {2u, 4u, 8u}) {
    for (int k = 0; k < 4000; ++k) {
      const uint64_t old = vals.next(), f = vals.flags();
      uint64_t src = k < 64 ? uint64_t{1} << k : vals.next();
      if (k % 5 == 0) src &= ~mask_of(size);  // zero source operand (junk above)
      const HostOut h = host(size, old, src, f);
      const bool compare_dst =
          host_is_reference() || !zero_result_undefined || (src & mask_of(size)) != 0;
      const uint64_t cmp = compared_flags(undefined);
      for (BinForm form : {BinForm::RegReg, BinForm::RegMem}) {
        const UmbraOut u = run_binary(t, op, size, form, old, src, f);
        if ((u.outcome.faulted || (compare_dst && u.dst != h.dst) ||
             (u.flags & cmp) != (h.flags & cmp) || u.rip != kStartRip + 4 || !u.guards_ok) &&
            !budget.exhausted()) {
          budget.count();
          ADD_FAILURE() << describe(op_name(op), size, old, src, f) << " " << form_name(form)
                        << std::hex << ": dst " << u.dst << " want " << h.dst << ", flags "
                        << u.flags << " want " << h.flags;
        }
      }
    }
  }
}

// BSF/BSR define only ZF; LZCNT/TZCNT leave OF, SF, AF, PF undefined (SDM vol. 2).
constexpr uint64_t kCountUndefined = rf::OF | rf::SF | rf::AF | rf::PF;

TEST(BitScan, BsfMatchesHost) {
  check_reg_from_rm(Op::BSF, host_bsf, kArith & ~rf::ZF, true, 43);
}
TEST(BitScan, BsrMatchesHost) {
  check_reg_from_rm(Op::BSR, host_bsr, kArith & ~rf::ZF, true, 44);
}
TEST(BitScan, PopcntMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Popcnt);
  check_reg_from_rm(Op::POPCNT, host_popcnt, 0, false, 45);
}
TEST(BitScan, LzcntMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Lzcnt);
  check_reg_from_rm(Op::LZCNT, host_lzcnt, kCountUndefined, false, 46);
}
TEST(BitScan, TzcntMatchesHost) {
  SKIP_WITHOUT_HOST_FEATURE(HostFeature::Bmi1);
  check_reg_from_rm(Op::TZCNT, host_tzcnt, kCountUndefined, false, 47);
}

// A zero source leaves the destination entirely unchanged, even for the 32-bit form, which
// otherwise clears the upper half (host behaviour; the SDM calls the result undefined).
TEST(BitScan, ZeroSourceLeavesWholeDestination) {
  TestCpu t;
  for (Op op : {Op::BSF, Op::BSR}) {
    const UmbraOut u =
        run_binary(t, op, 4, BinForm::RegReg, 0xfedcba9876543210ull, 0xffffffff00000000ull, rf::CF);
    ASSERT_FALSE(u.outcome.faulted);
    EXPECT_EQ(u.dst, 0xfedcba9876543210ull) << op_name(op);
    EXPECT_EQ(u.flags, rf::CF | rf::ZF);
    const UmbraOut v = run_binary(t, op, 4, BinForm::RegReg, 0xfedcba9876543210ull, 0x10, 0);
    EXPECT_EQ(v.dst, 4u) << op_name(op);
    EXPECT_EQ(v.flags, 0u);
  }
}

}  // namespace
}  // namespace umbra::test::sema
