// Binary arithmetic (SDM vol. 1, 7.3.2): ADD ADC SUB SBB CMP INC DEC NEG, MUL IMUL DIV IDIV.
// Decimal arithmetic (DAA DAS AAA AAS AAM AAD) is in arith_decimal.cpp.
//
// Every handler is one template over operand size and operand kinds; near-identical
// instructions share a template parameterised by the operation. Flags follow the SDM exactly
// where it defines them; where it calls them undefined, the value this project's reference host
// (AMD EPYC) produces, as documented in docs/semantics.md ("Undefined flags").
#include <cstdint>
#include <limits>
#include <type_traits>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/arith_forms.h"
#include "frontend/semantics/registry.h"

namespace umbra {

void register_arith_decimal(BinderTable& t);  // arith_decimal.cpp

namespace {

using forms::by_size;

// ---- ADD ADC SUB SBB CMP ----

enum class AddSub : uint8_t { Add, Adc, Sub, Sbb, Cmp };

// dst op= src. The result is written before the flags record, and both only after every read
// that can fault: the destination is prepared (write permission checked) first.
template <AddSub O>
struct AddSubOp {
  template <typename T>
  static T apply(T a, T b, bool carry_in) {
    if constexpr (O == AddSub::Add)
      return static_cast<T>(a + b);
    else if constexpr (O == AddSub::Adc)
      return static_cast<T>(a + b + carry_in);
    else if constexpr (O == AddSub::Sbb)
      return static_cast<T>(a - b - carry_in);
    else
      return static_cast<T>(a - b);
  }

  template <typename T>
  static void record(CpuState& cpu, T r, T a, T b, bool carry_in) {
    if constexpr (O == AddSub::Add) {
      set_lazy<T>(cpu, kLazyAdd, r, a, b);
    } else if constexpr (O == AddSub::Adc) {
      set_lazy<T>(cpu, kLazyAdc, r, a, b, carry_in);
    } else if constexpr (O == AddSub::Sbb) {
      set_lazy<T>(cpu, kLazySbb, r, a, b, carry_in);
    } else {
      set_lazy<T>(cpu, kLazySub, r, a, b);
    }
  }

  template <typename T, OpKind D, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      const bool carry_in = (O == AddSub::Adc || O == AddSub::Sbb) ? get_cf(cpu) : false;
      if constexpr (O == AddSub::Cmp) {
        // CMP only reads its first operand (no write-permission check on memory).
        const T a = read_operand<T, D>(cpu, i, i.dst);
        const T b = read_operand<T, S>(cpu, i, i.src);
        if (!flags_dead(i)) record<T>(cpu, apply<T>(a, b, false), a, b, false);
      } else {
        Rmw<T, D> dst(cpu, i, i.dst);
        const T b = read_operand<T, S>(cpu, i, i.src);
        const T a = dst.get();
        const T r = apply<T>(a, b, carry_in);
        dst.set(r);
        if (!flags_dead(i)) record<T>(cpu, r, a, b, carry_in);
      }
      next_rip(cpu, i);
    }
  };
};

// ---- INC DEC NEG: one operand, read-modify-write ----

enum class Unary : uint8_t { Inc, Dec, Neg };

template <Unary O>
struct UnaryArith {
  template <typename T, OpKind K>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      Rmw<T, K> dst(cpu, i, i.dst);
      const T a = dst.get();
      // With the flags dead the old CF need not be read either (a materialization of the lazy
      // record where its operation is not known).
      const bool record = !flags_dead(i);
      if constexpr (O == Unary::Inc) {
        const T r = static_cast<T>(a + 1);
        dst.set(r);
        // INC/DEC leave CF unchanged (SDM vol. 2, INC).
        if (record) set_lazy<T>(cpu, kLazyInc, r, a, T(1), get_cf(cpu));
      } else if constexpr (O == Unary::Dec) {
        const T r = static_cast<T>(a - 1);
        dst.set(r);
        if (record) set_lazy<T>(cpu, kLazyDec, r, a, T(1), get_cf(cpu));
      } else {
        // NEG is 0 - dst with SUB's flags: CF = (dst != 0) (SDM vol. 2, NEG).
        const T r = static_cast<T>(0 - a);
        dst.set(r);
        if (record) set_lazy<T>(cpu, kLazySub, r, T(0), a);
      }
      next_rip(cpu, i);
    }
  };
};

// ---- MUL / IMUL (one operand): rDX:rAX = rAX * r/m (AX = AL * r/m8) ----

// Writes a double-width product or quotient/remainder pair to the accumulator registers:
// AL/AH for bytes, rAX/rDX otherwise (32-bit writes zero-extend as usual).
template <typename T>
inline void write_acc_pair(CpuState& cpu, T lo, T hi) {
  if constexpr (sizeof(T) == 1) {
    write_gpr<uint16_t>(cpu, RAX, static_cast<uint16_t>(lo | (hi << 8)));
  } else {
    write_gpr<T>(cpu, RAX, lo);
    write_gpr<T>(cpu, RDX, hi);
  }
}

// The multiply instructions define only CF and OF (SDM vol. 2, MUL/IMUL). This host leaves SF,
// ZF, AF and PF unchanged, so they are preserved.
inline void set_mul_flags(CpuState& cpu, bool overflow) {
  update_arith_flags(cpu, rf::CF | rf::OF, overflow ? rf::CF | rf::OF : 0);
}

template <bool Signed>
struct MulAcc {
  template <typename T, OpKind K>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      const T src = read_operand<T, K>(cpu, i, i.dst);
      const T acc = read_gpr<T>(cpu, RAX);
      constexpr unsigned kBits = sizeof(T) * 8;
      T lo, hi;
      bool overflow;
      if constexpr (sizeof(T) == 8) {
        if constexpr (Signed) {
          const __int128 p =
              static_cast<__int128>(static_cast<int64_t>(acc)) * static_cast<int64_t>(src);
          lo = static_cast<uint64_t>(p);
          hi = static_cast<uint64_t>(p >> 64);
        } else {
          const unsigned __int128 p = static_cast<unsigned __int128>(acc) * src;
          lo = static_cast<uint64_t>(p);
          hi = static_cast<uint64_t>(p >> 64);
        }
      } else {
        uint64_t p;
        if constexpr (Signed)
          p = static_cast<uint64_t>(int64_t{static_cast<SignedOf<T>>(acc)} *
                                    int64_t{static_cast<SignedOf<T>>(src)});
        else
          p = uint64_t{acc} * uint64_t{src};
        lo = static_cast<T>(p);
        hi = static_cast<T>(p >> kBits);
      }
      if constexpr (Signed)  // the high half is not just the sign extension of the low half
        overflow = hi != static_cast<T>(static_cast<SignedOf<T>>(lo) < 0 ? ~T(0) : T(0));
      else
        overflow = hi != 0;
      write_acc_pair<T>(cpu, lo, hi);
      if (!flags_dead(i)) set_mul_flags(cpu, overflow);
      next_rip(cpu, i);
    }
  };
};

// ---- IMUL r, r/m (0F AF) and IMUL r, r/m, imm (69/6B): truncated signed product ----

template <bool ThreeOperand>
struct ImulReg {
  template <typename T, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      const T a = read_operand<T, S>(cpu, i, i.src);
      const T b = ThreeOperand ? static_cast<T>(i.imm) : read_gpr<T>(cpu, i.dst.reg);
      SignedOf<T> r;
      const bool overflow =
          __builtin_mul_overflow(static_cast<SignedOf<T>>(a), static_cast<SignedOf<T>>(b), &r);
      write_gpr<T>(cpu, i.dst.reg, static_cast<T>(r));
      if (!flags_dead(i)) set_mul_flags(cpu, overflow);
      next_rip(cpu, i);
    }
  };
};

Handler bind_imul(const Insn& i) {
  return by_size<forms::kWideSizes>(i, [&](auto t) -> Handler {
    using T = decltype(t);
    if (i.src2.kind == OpKind::Imm) return forms::reg_from_rm<T, ImulReg<true>::Form>(i);
    return forms::reg_from_rm<T, ImulReg<false>::Form>(i);
  });
}

// ---- DIV / IDIV: rAX = rDX:rAX / r/m, rDX = remainder (AL/AH for bytes) ----

// All six flags are undefined after DIV and IDIV (SDM vol. 2, DIV). This host sets AF, clears
// SF, ZF and PF, and leaves CF and OF unchanged.
inline void set_div_flags(CpuState& cpu) {
  update_arith_flags(cpu, rf::SF | rf::ZF | rf::AF | rf::PF, rf::AF);
}

// The dividend's high half: AH for bytes, rDX otherwise.
template <typename T>
inline T dividend_high(const CpuState& cpu) {
  if constexpr (sizeof(T) == 1)
    return static_cast<T>(cpu.gpr[RAX] >> 8);
  else
    return read_gpr<T>(cpu, RDX);
}

template <typename T, OpKind K>
struct Div {
  static void run(CpuState& cpu, const Insn& i) {
    const T d = read_operand<T, K>(cpu, i, i.dst);
    const T hi = dividend_high<T>(cpu);
    const T lo = read_gpr<T>(cpu, RAX);
    // The quotient fits in T exactly when the high half of the dividend is below the divisor;
    // that also excludes d == 0. Either failure is #DE (SDM vol. 2, DIV).
    if (hi >= d) raise_fault(cpu, kDE);
    T q, r;
    if constexpr (sizeof(T) == 8) {
      if (hi == 0) {
        q = lo / d;
        r = lo % d;
      } else {
        const unsigned __int128 n = (static_cast<unsigned __int128>(hi) << 64) | lo;
        q = static_cast<uint64_t>(n / d);
        r = static_cast<uint64_t>(n % d);
      }
    } else {
      const uint64_t n = (uint64_t{hi} << (sizeof(T) * 8)) | lo;
      q = static_cast<T>(n / d);
      r = static_cast<T>(n % d);
    }
    write_acc_pair<T>(cpu, q, r);
    set_div_flags(cpu);
    next_rip(cpu, i);
  }
};

template <typename T, OpKind K>
struct Idiv {
  using S = SignedOf<T>;
  // A signed type that holds the whole double-width dividend.
  using Wide = std::conditional_t<sizeof(T) == 8, __int128, int64_t>;
  using UWide = std::conditional_t<sizeof(T) == 8, unsigned __int128, uint64_t>;

  static void run(CpuState& cpu, const Insn& i) {
    const S d = static_cast<S>(read_operand<T, K>(cpu, i, i.dst));
    if (d == 0) raise_fault(cpu, kDE);
    const T hi = dividend_high<T>(cpu);
    const T lo = read_gpr<T>(cpu, RAX);
    constexpr unsigned kBits = sizeof(T) * 8;
    Wide q, r;
    if constexpr (sizeof(T) == 8) {
      if (static_cast<int64_t>(hi) == (static_cast<int64_t>(lo) >> 63)) {
        // The dividend fits in 64 bits: plain 64-bit division (d == -1 handled below, where
        // INT64_MIN / -1 would overflow).
        const int64_t n = static_cast<int64_t>(lo);
        if (d == -1) {
          q = -static_cast<Wide>(n);
          r = 0;
        } else {
          q = n / d;
          r = n % d;
        }
      } else {
        const Wide n = static_cast<Wide>((static_cast<UWide>(hi) << 64) | lo);
        if (d == -1) {
          q = static_cast<Wide>(UWide{0} - static_cast<UWide>(n));
          r = 0;
        } else {
          q = n / d;
          r = n % d;
        }
      }
    } else {
      // Sign-extend the 2*kBits-bit dividend into 64 bits.
      const Wide n =
          static_cast<Wide>(((uint64_t{hi} << kBits) | lo) << (64 - 2 * kBits)) >> (64 - 2 * kBits);
      if (d == -1) {  // |INT32_MIN:0| / -1 overflows even int64 for 32-bit operands
        q = static_cast<Wide>(UWide{0} - static_cast<UWide>(n));
        r = 0;
      } else {
        q = n / d;
        r = n % d;
      }
    }
    // Quotient out of range (positive or negative) is #DE (SDM vol. 2, IDIV).
    if (q > std::numeric_limits<S>::max() || q < std::numeric_limits<S>::min())
      raise_fault(cpu, kDE);
    write_acc_pair<T>(cpu, static_cast<T>(q), static_cast<T>(r));
    set_div_flags(cpu);
    next_rip(cpu, i);
  }
};

}  // namespace

void register_arith(BinderTable& t) {
  bind(t, Op::ADD, &select_binary<AddSubOp<AddSub::Add>::Form>);
  bind(t, Op::ADC, &select_binary<AddSubOp<AddSub::Adc>::Form>);
  bind(t, Op::SUB, &select_binary<AddSubOp<AddSub::Sub>::Form>);
  bind(t, Op::SBB, &select_binary<AddSubOp<AddSub::Sbb>::Form>);
  bind(t, Op::CMP, &select_binary<AddSubOp<AddSub::Cmp>::Form>);
  bind(t, Op::INC, &select_unary<UnaryArith<Unary::Inc>::Form>);
  bind(t, Op::DEC, &select_unary<UnaryArith<Unary::Dec>::Form>);
  bind(t, Op::NEG, &select_unary<UnaryArith<Unary::Neg>::Form>);
  bind(t, Op::MUL, &select_unary<MulAcc<false>::Form>);
  bind(t, Op::IMUL1, &select_unary<MulAcc<true>::Form>);
  bind(t, Op::IMUL, &bind_imul);
  bind(t, Op::DIV, &select_unary<Div>);
  bind(t, Op::IDIV, &select_unary<Idiv>);
  register_arith_decimal(t);
}

}  // namespace umbra
