// BMI1, BMI2 and ADX general-purpose instructions (SDM vol. 2, ANDN ... SHRX, ADCX, ADOX).
// 32- and 64-bit operand sizes only.
//
// Operand placement (decoder convention): dst = ModRM.reg, src = ModRM.r/m, src2 = VEX.vvvv,
// except BLSI/BLSMSK/BLSR (dst = vvvv, src = r/m) and RORX (src2 = imm8). Flags the SDM leaves
// undefined take the host's values (docs/semantics.md, "Undefined flags").
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

// Parallel bit deposit: the low bits of `src`, in order, go to the set positions of `mask`.
// A portable loop (one iteration per mask bit): the build host need not have BMI2.
inline uint64_t deposit_bits(uint64_t src, uint64_t mask) {
  uint64_t r = 0;
  for (uint64_t k = 1; mask != 0; mask &= mask - 1, k <<= 1)
    if (src & k) r |= mask & (0 - mask);
  return r;
}

// Parallel bit extract: the bits of `src` at the set positions of `mask`, packed to the bottom.
inline uint64_t extract_bits(uint64_t src, uint64_t mask) {
  uint64_t r = 0;
  for (uint64_t k = 1; mask != 0; mask &= mask - 1, k <<= 1)
    if (src & mask & (0 - mask)) r |= k;
  return r;
}

// ---- dst = f(src, src2): ANDN BEXTR BZHI PDEP PEXT SARX SHLX SHRX, RORX (src2 = imm) ----

enum class Ternary : uint8_t { Andn, Bextr, Bzhi, Pdep, Pext, Sarx, Shlx, Shrx, Rorx };

template <Ternary O>
struct TernaryOp {
  template <typename T, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      constexpr unsigned W = kBitsOf<T>;
      const T a = read_operand<T, S>(cpu, i, i.src);
      const T b = O == Ternary::Rorx ? static_cast<T>(i.imm) : read_gpr<T>(cpu, i.src2.reg);
      T r;
      if constexpr (O == Ternary::Andn) {
        r = static_cast<T>(~b & a);
        write_gpr<T>(cpu, i.dst.reg, r);
        // SF, ZF from the result, CF = OF = 0; AF and PF undefined: the host clears AF and sets
        // PF from the result, which is exactly the logic-operation record.
        set_lazy<T>(cpu, kLazyLogic, r, a, b);
      } else if constexpr (O == Ternary::Bextr) {
        const unsigned start = b & 0xff, len = (b >> 8) & 0xff;
        r = start < W ? static_cast<T>(a >> start) : T(0);
        if (len < W) r = static_cast<T>(r & ((T{1} << len) - 1));
        write_gpr<T>(cpu, i.dst.reg, r);
        // ZF from the result, CF = OF = 0; AF, SF, PF undefined: the host sets AF, clears SF and
        // sets PF from the result.
        set_arith_flags(cpu, (zf_sf_pf(r, sizeof(T)) & ~rf::SF) | rf::AF);
      } else if constexpr (O == Ternary::Bzhi) {
        const unsigned n = b & 0xff;
        r = n < W ? static_cast<T>(a & ((T{1} << n) - 1)) : a;
        write_gpr<T>(cpu, i.dst.reg, r);
        // SF, ZF from the result, CF = index beyond the operand, OF = 0; AF and PF undefined:
        // the host clears AF and sets PF from the result.
        set_arith_flags(cpu, zf_sf_pf(r, sizeof(T)) | (n >= W ? rf::CF : 0));
      } else {
        // No flags change.
        if constexpr (O == Ternary::Pdep)
          r = static_cast<T>(deposit_bits(b, a));
        else if constexpr (O == Ternary::Pext)
          r = static_cast<T>(extract_bits(b, a));
        else if constexpr (O == Ternary::Sarx)
          r = static_cast<T>(static_cast<SignedOf<T>>(a) >> (b & (W - 1)));
        else if constexpr (O == Ternary::Shlx)
          r = static_cast<T>(a << (b & (W - 1)));
        else if constexpr (O == Ternary::Shrx)
          r = static_cast<T>(a >> (b & (W - 1)));
        else {
          const unsigned m = b & (W - 1);
          r = m ? static_cast<T>((a >> m) | (a << (W - m))) : a;
        }
        write_gpr<T>(cpu, i.dst.reg, r);
      }
      next_rip(cpu, i);
    }
  };
};

// ---- BLSI BLSMSK BLSR: dst (vvvv) = f(src) ----

enum class LowestBit : uint8_t { Isolate, Mask, Reset };

template <LowestBit O>
struct LowestBitOp {
  template <typename T, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      const T a = read_operand<T, S>(cpu, i, i.src);
      const T minus1 = static_cast<T>(a - 1);
      T r;
      uint64_t cf;
      if constexpr (O == LowestBit::Isolate) {
        r = static_cast<T>(a & (0 - a));
        cf = a != 0 ? rf::CF : 0;  // BLSI: CF = source nonzero
      } else if constexpr (O == LowestBit::Mask) {
        r = static_cast<T>(a ^ minus1);  // never zero, so ZF comes out cleared as specified
        cf = a == 0 ? rf::CF : 0;
      } else {
        r = static_cast<T>(a & minus1);
        cf = a == 0 ? rf::CF : 0;
      }
      write_gpr<T>(cpu, i.dst.reg, r);
      // SF, ZF from the result, OF = 0; AF and PF undefined: the host clears AF and sets PF from
      // the result.
      set_arith_flags(cpu, zf_sf_pf(r, sizeof(T)) | cf);
      next_rip(cpu, i);
    }
  };
};

// ---- MULX: dst:src2 = rDX * src, unsigned; no flags ----

template <typename T, OpKind S>
struct Mulx {
  static void run(CpuState& cpu, const Insn& i) {
    const T a = read_operand<T, S>(cpu, i, i.src);
    const T d = read_gpr<T>(cpu, RDX);
    T lo, hi;
    if constexpr (sizeof(T) == 8) {
      const unsigned __int128 p = static_cast<unsigned __int128>(d) * a;
      lo = static_cast<uint64_t>(p);
      hi = static_cast<uint64_t>(p >> 64);
    } else {
      const uint64_t p = uint64_t{d} * a;
      lo = static_cast<T>(p);
      hi = static_cast<T>(p >> 32);
    }
    // Low half first: when both destinations are the same register the high half wins
    // (SDM vol. 2, MULX).
    write_gpr<T>(cpu, i.src2.reg, lo);
    write_gpr<T>(cpu, i.dst.reg, hi);
    next_rip(cpu, i);
  }
};

// ---- ADCX / ADOX: dst += src + carry, the carry being CF (ADCX) or OF (ADOX) ----

template <bool Overflow>
struct AddCarryFlag {
  template <typename T, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      constexpr uint64_t kFlag = Overflow ? rf::OF : rf::CF;
      const T b = read_operand<T, S>(cpu, i, i.src);
      const T a = read_gpr<T>(cpu, i.dst.reg);
      const bool carry_in = arith_flags(cpu) & kFlag;
      T r;
      bool carry = __builtin_add_overflow(a, b, &r);
      carry |= __builtin_add_overflow(r, static_cast<T>(carry_in), &r);
      write_gpr<T>(cpu, i.dst.reg, r);
      update_arith_flags(cpu, kFlag, carry ? kFlag : 0);  // every other flag is unchanged
      next_rip(cpu, i);
    }
  };
};

template <template <typename, OpKind> class F>
Handler bind_vex_reg_from_rm(const Insn& i) {
  return by_size<forms::kVexSizes>(
      i, [&](auto t) -> Handler { return forms::reg_from_rm<decltype(t), F>(i); });
}

// The forms with a VEX.vvvv source: src2 must be a register.
template <template <typename, OpKind> class F>
Handler bind_vex_three(const Insn& i) {
  if (i.src2.kind != OpKind::Reg) return nullptr;
  return bind_vex_reg_from_rm<F>(i);
}

}  // namespace

void register_bmi(BinderTable& t) {
  bind(t, Op::ANDN, &bind_vex_three<TernaryOp<Ternary::Andn>::Form>);
  bind(t, Op::BEXTR, &bind_vex_three<TernaryOp<Ternary::Bextr>::Form>);
  bind(t, Op::BZHI, &bind_vex_three<TernaryOp<Ternary::Bzhi>::Form>);
  bind(t, Op::PDEP, &bind_vex_three<TernaryOp<Ternary::Pdep>::Form>);
  bind(t, Op::PEXT, &bind_vex_three<TernaryOp<Ternary::Pext>::Form>);
  bind(t, Op::SARX, &bind_vex_three<TernaryOp<Ternary::Sarx>::Form>);
  bind(t, Op::SHLX, &bind_vex_three<TernaryOp<Ternary::Shlx>::Form>);
  bind(t, Op::SHRX, &bind_vex_three<TernaryOp<Ternary::Shrx>::Form>);
  bind(t, Op::MULX, &bind_vex_three<Mulx>);
  bind(t, Op::RORX, &bind_vex_reg_from_rm<TernaryOp<Ternary::Rorx>::Form>);
  bind(t, Op::BLSI, &bind_vex_reg_from_rm<LowestBitOp<LowestBit::Isolate>::Form>);
  bind(t, Op::BLSMSK, &bind_vex_reg_from_rm<LowestBitOp<LowestBit::Mask>::Form>);
  bind(t, Op::BLSR, &bind_vex_reg_from_rm<LowestBitOp<LowestBit::Reset>::Form>);
  bind(t, Op::ADCX, &bind_vex_reg_from_rm<AddCarryFlag<false>::Form>);
  bind(t, Op::ADOX, &bind_vex_reg_from_rm<AddCarryFlag<true>::Form>);
}

}  // namespace umbra
