// Bit instructions (SDM vol. 1, 7.3.7): BT BTS BTR BTC, BSF BSR, POPCNT LZCNT TZCNT.
//
// Flags the SDM leaves undefined take the host's values (docs/semantics.md, "Undefined
// flags"): BT* and BSF/BSR leave them unchanged; LZCNT/TZCNT clear SF, AF and PF and keep OF.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/arith_forms.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

using forms::by_size;

template <typename T>
constexpr unsigned kBitsOf = sizeof(T) * 8;
template <typename T>
constexpr unsigned kLog2Bits = __builtin_ctz(kBitsOf<T>);

// ---- BT BTS BTR BTC ----

enum class BitOp : uint8_t { Test, Set, Reset, Complement };

template <BitOp O, typename T>
inline T modify_bit(T v, unsigned bit) {
  const T m = static_cast<T>(T{1} << bit);
  if constexpr (O == BitOp::Set)
    return static_cast<T>(v | m);
  else if constexpr (O == BitOp::Reset)
    return static_cast<T>(v & ~m);
  else
    return static_cast<T>(v ^ m);
}

// CF receives the selected bit; OF, SF, AF, PF are undefined and the host keeps them, ZF is
// unaffected (SDM vol. 2, BT).
inline void set_bit_test_flags(CpuState& cpu, bool bit) {
  update_arith_flags(cpu, rf::CF, bit ? rf::CF : 0);
}

template <BitOp O>
struct BitTest {
  template <typename T, OpKind D, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      unsigned bit;
      const Insn* at = &i;  // the instruction whose memory operand holds the bit
      Insn word_insn;
      if constexpr (D == OpKind::Mem && S == OpKind::Reg) {
        // A register bit offset with a memory operand is a signed offset from the operand's
        // address: the bit string extends beyond the operand in both directions. The access is
        // the operand-sized word containing the bit, at EA + (offset SAR log2(W)) * (W / 8)
        // (SDM vol. 2, BT; vol. 1, 3.4.1 "bit string"). Folding that into the displacement
        // keeps the ordinary operand path: address-size wrap, segment checks, fault reporting.
        const int64_t offset = static_cast<SignedOf<T>>(read_gpr<T>(cpu, i.src.reg));
        bit = static_cast<unsigned>(offset) & (kBitsOf<T> - 1);
        const int64_t word = offset >> kLog2Bits<T>;  // arithmetic shift: floor division
        word_insn = i;
        word_insn.disp = static_cast<int64_t>(static_cast<uint64_t>(i.disp) +
                                              static_cast<uint64_t>(word * int64_t{sizeof(T)}));
        at = &word_insn;
      } else {
        // An immediate offset, or any offset into a register, is taken modulo the width.
        bit = static_cast<unsigned>(read_operand<T, S>(cpu, i, i.src)) & (kBitsOf<T> - 1);
      }
      bool old;
      if constexpr (O == BitOp::Test) {
        old = (read_operand<T, D>(cpu, *at, at->dst) >> bit) & 1;
      } else {
        Rmw<T, D> dst(cpu, *at, at->dst);
        const T v = dst.get();
        old = (v >> bit) & 1;
        dst.set(modify_bit<O, T>(v, bit));
      }
      if (!flags_dead(i)) set_bit_test_flags(cpu, old);
      next_rip(cpu, i);
    }
  };
};

template <BitOp O>
Handler bind_bit_test(const Insn& i) {
  return by_size<forms::kWideSizes>(i, [&](auto t) -> Handler {
    return forms::rm_by_reg_or_imm<decltype(t), BitTest<O>::template Form>(i, i.src);
  });
}

// ---- BSF BSR ----

template <bool Reverse>
struct BitScan {
  template <typename T, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      const T v = read_operand<T, S>(cpu, i, i.src);
      if (v == 0) {
        // Destination undefined (SDM vol. 2, BSF); the host leaves the whole register untouched
        // (the 32-bit form does not clear the upper half) and sets ZF. CF, OF, SF, AF, PF are
        // undefined and the host keeps them.
        if (!flags_dead(i)) update_arith_flags(cpu, rf::ZF, rf::ZF);
      } else {
        const unsigned index = Reverse ? 63 - __builtin_clzll(v) : __builtin_ctzll(v);
        write_gpr<T>(cpu, i.dst.reg, static_cast<T>(index));
        if (!flags_dead(i)) update_arith_flags(cpu, rf::ZF, 0);
      }
      next_rip(cpu, i);
    }
  };
};

// ---- POPCNT LZCNT TZCNT ----

enum class Count : uint8_t { Pop, Leading, Trailing };

template <Count O>
struct BitCount {
  template <typename T, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      constexpr unsigned W = kBitsOf<T>;
      const T v = read_operand<T, S>(cpu, i, i.src);
      if constexpr (O == Count::Pop) {
        write_gpr<T>(cpu, i.dst.reg, static_cast<T>(__builtin_popcountll(v)));
        set_arith_flags(cpu, v == 0 ? rf::ZF : 0);  // all others cleared (SDM vol. 2, POPCNT)
      } else {
        unsigned n;
        if (v == 0)
          n = W;
        else if constexpr (O == Count::Leading)
          n = __builtin_clzll(v) - (64 - W);
        else
          n = __builtin_ctzll(v);
        write_gpr<T>(cpu, i.dst.reg, static_cast<T>(n));
        // CF = source was zero, ZF = result is zero; OF, SF, AF, PF undefined: the host keeps
        // OF and clears SF, AF and PF.
        update_arith_flags(cpu, rf::CF | rf::ZF | rf::SF | rf::AF | rf::PF,
                           (v == 0 ? rf::CF : 0) | (n == 0 ? rf::ZF : 0));
      }
      next_rip(cpu, i);
    }
  };
};

template <template <typename, OpKind> class F>
Handler bind_reg_from_rm_wide(const Insn& i) {
  return by_size<forms::kWideSizes>(
      i, [&](auto t) -> Handler { return forms::reg_from_rm<decltype(t), F>(i); });
}

}  // namespace

void register_bit(BinderTable& t) {
  bind(t, Op::BT, &bind_bit_test<BitOp::Test>);
  bind(t, Op::BTS, &bind_bit_test<BitOp::Set>);
  bind(t, Op::BTR, &bind_bit_test<BitOp::Reset>);
  bind(t, Op::BTC, &bind_bit_test<BitOp::Complement>);
  bind(t, Op::BSF, &bind_reg_from_rm_wide<BitScan<false>::Form>);
  bind(t, Op::BSR, &bind_reg_from_rm_wide<BitScan<true>::Form>);
  bind(t, Op::POPCNT, &bind_reg_from_rm_wide<BitCount<Count::Pop>::Form>);
  bind(t, Op::LZCNT, &bind_reg_from_rm_wide<BitCount<Count::Leading>::Form>);
  bind(t, Op::TZCNT, &bind_reg_from_rm_wide<BitCount<Count::Trailing>::Form>);
}

}  // namespace umbra
