// Shift and rotate instructions (SDM vol. 1, 7.3.5 and 7.3.6): ROL ROR RCL RCR SHL SHR SAR,
// SHLD SHRD.
//
// The count (an immediate or CL) is masked to 5 bits, 6 for 64-bit operands (SDM vol. 2,
// SAL/SAR/SHL/SHR). A masked count of 0 changes neither the flags nor the value, but the
// destination is still an operand of a write: a memory destination is checked for write
// permission (as the host does: a count-0 shift of a read-only page faults) and nothing is
// stored; a 32-bit register destination is still written, i.e. its upper half cleared (as the
// host does).
//
// Flags the SDM leaves undefined (OF for counts above 1, AF after shifts) take the host's values:
// see docs/semantics.md, "Undefined flags".
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/arith_forms.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

using forms::by_size;

enum class Sh : uint8_t { Rol, Ror, Rcl, Rcr, Shl, Shr, Sar };

template <typename T>
constexpr unsigned kBitsOf = sizeof(T) * 8;

template <typename T>
constexpr unsigned count_mask() {
  return sizeof(T) == 8 ? 63 : 31;
}

template <typename T>
inline bool msb(T v) {
  return (v >> (kBitsOf<T> - 1)) & 1;
}
template <typename T>
inline bool msb_minus_1(T v) {
  return (v >> (kBitsOf<T> - 2)) & 1;
}

// The masked shift count: an immediate or CL.
template <typename T, OpKind C>
inline unsigned masked_count(const CpuState& cpu, const Insn& i, const Operand& o) {
  unsigned c;
  if constexpr (C == OpKind::Imm)
    c = static_cast<unsigned>(i.imm);
  else
    c = read_gpr<uint8_t>(cpu, o.reg);
  return c & count_mask<T>();
}

// The value and new status flags of one shift or rotate by a nonzero masked count c.
template <typename T>
struct Shifted {
  T value;
  uint64_t flags;  // for shifts: all six; for rotates: CF and OF only
};

template <Sh O, typename T>
inline Shifted<T> shift_by(T a, unsigned c, bool cf_in) {
  constexpr unsigned W = kBitsOf<T>;
  const uint64_t v = a;
  T r;
  bool cf, of;
  if constexpr (O == Sh::Shl) {
    // For 8/16-bit operands the masked count can exceed the width: everything shifts out.
    r = c < W ? static_cast<T>(v << c) : T(0);
    cf = c <= W && ((v >> (W - c)) & 1);  // the last bit shifted out
    of = msb(r) ^ cf;                     // the count-1 rule; the host applies it to any count
  } else if constexpr (O == Sh::Shr) {
    r = c < W ? static_cast<T>(v >> c) : T(0);
    cf = c <= W && ((v >> (c - 1)) & 1);
    of = c == 1 && msb(a);  // count 1: the original sign; otherwise the host clears it
  } else if constexpr (O == Sh::Sar) {
    const int64_t s = static_cast<SignedOf<T>>(a);  // c <= 63 here, so these shifts are defined
    r = static_cast<T>(s >> c);
    cf = (s >> (c - 1)) & 1;
    of = false;
  } else if constexpr (O == Sh::Rol || O == Sh::Ror) {
    const unsigned m = c & (W - 1);
    if (O == Sh::Rol)
      r = m ? static_cast<T>((v << m) | (v >> (W - m))) : a;
    else
      r = m ? static_cast<T>((v >> m) | (v << (W - m))) : a;
    // CF is updated even when the rotation amount is a multiple of the width (SDM vol. 2, RCL/
    // RCR/ROL/ROR: "IF (COUNT & COUNTMASK) != 0 THEN CF <- ...").
    cf = O == Sh::Rol ? (r & 1) : msb(r);
    of = O == Sh::Rol ? (msb(r) ^ cf) : (msb(r) ^ msb_minus_1(r));
    return {r, (cf ? rf::CF : 0) | (of ? rf::OF : 0)};
  } else {
    // RCL/RCR rotate the W+1-bit value CF:a; for 8 and 16 bits the count is taken modulo 9 and
    // 17 (the masked count of wider operands is already below W + 1).
    const unsigned m = W < 32 ? c % (W + 1) : c;
    const uint64_t cin = cf_in;
    if (m == 0) {
      r = a;
      cf = cf_in;
    } else if constexpr (O == Sh::Rcl) {
      // (v >> 1) >> (W - m): the bits wrapping around, without a shift by 64 when m == 1.
      r = static_cast<T>((v << m) | (cin << (m - 1)) | ((v >> 1) >> (W - m)));
      cf = (v >> (W - m)) & 1;
    } else {
      r = static_cast<T>((v >> m) | (cin << (W - m)) | ((v << 1) << (W - m)));
      cf = (v >> (m - 1)) & 1;
    }
    of = O == Sh::Rcl ? (msb(r) ^ cf) : (msb(r) ^ msb_minus_1(r));
    return {r, (cf ? rf::CF : 0) | (of ? rf::OF : 0)};
  }
  // Shifts: SF/ZF/PF from the result; AF is undefined and the host sets it.
  return {r, zf_sf_pf(r, sizeof(T)) | rf::AF | (cf ? rf::CF : 0) | (of ? rf::OF : 0)};
}

template <Sh O>
struct ShiftOp {
  static constexpr bool kRotate = O == Sh::Rol || O == Sh::Ror || O == Sh::Rcl || O == Sh::Rcr;

  template <typename T, OpKind D, OpKind C>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      Rmw<T, D> dst(cpu, i, i.dst);
      const unsigned c = masked_count<T, C>(cpu, i, i.src);
      if (c == 0) {
        if constexpr (D == OpKind::Reg) dst.set(dst.get());
        next_rip(cpu, i);
        return;
      }
      const bool cf_in = (O == Sh::Rcl || O == Sh::Rcr) ? get_cf(cpu) : false;
      const Shifted<T> s = shift_by<O, T>(dst.get(), c, cf_in);
      dst.set(s.value);
      if (flags_dead(i))
        ;  // nobody sees them (a rotate's would materialize the lazy record)
      else if constexpr (kRotate)
        update_arith_flags(cpu, rf::CF | rf::OF, s.flags);  // rotates change only CF and OF
      else
        set_arith_flags(cpu, s.flags);
      next_rip(cpu, i);
    }
  };
};

template <Sh O>
Handler bind_shift(const Insn& i) {
  return by_size<forms::kAllSizes>(i, [&](auto t) -> Handler {
    return forms::rm_by_reg_or_imm<decltype(t), ShiftOp<O>::template Form>(i, i.src);
  });
}

// ---- SHLD / SHRD: shift dst, filling from src; count in src2 (imm8 or CL) ----

template <bool Left, typename T>
inline Shifted<T> double_shift(T a, T b, unsigned c) {
  constexpr unsigned W = kBitsOf<T>;
  T r;
  bool cf, of;
  if (W == 16 && c > 16) {
    // Undefined result for 16-bit operands with a count above 16 (SDM vol. 2, SHLD). The host
    // shifts the pattern dst:src:src (SHLD) / src:src:dst (SHRD), which leaves src rotated by
    // count - 16; it clears CF, and clears OF for SHLD.
    const unsigned m = c - 16;
    const uint32_t bb = static_cast<uint16_t>(b);
    r = static_cast<T>(Left ? (bb << m) | (bb >> (16 - m)) : (bb >> m) | (bb << (16 - m)));
    cf = false;
    of = Left ? false : (msb(r) ^ msb_minus_1(r));
  } else {
    if constexpr (W == 64) {  // 1 <= c <= 63
      r = Left ? (a << c) | (b >> (64 - c)) : (a >> c) | (b << (64 - c));
    } else {  // 1 <= c <= W: shift the concatenation dst:src (SHLD) or src:dst (SHRD)
      if (Left)
        r = static_cast<T>((((uint64_t{a} << W) | b) << c) >> W);
      else
        r = static_cast<T>(((uint64_t{b} << W) | a) >> c);
    }
    cf = Left ? (a >> (W - c)) & 1 : (a >> (c - 1)) & 1;  // the last bit shifted out of dst
    if (Left)
      // SDM: OF for count 1 = sign change; the host uses MSB(result) ^ CF for every count but
      // a 16-bit count of exactly 16, where it gives CF.
      of = (W == 16 && c == 16) ? cf : (msb(r) ^ cf);
    else
      of = msb(r) ^ msb_minus_1(r);
  }
  return {r, zf_sf_pf(r, sizeof(T)) | rf::AF | (cf ? rf::CF : 0) | (of ? rf::OF : 0)};
}

template <bool Left>
struct DoubleShift {
  template <typename T, OpKind D, OpKind C>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      Rmw<T, D> dst(cpu, i, i.dst);
      const unsigned c = masked_count<T, C>(cpu, i, i.src2);
      if (c == 0) {
        if constexpr (D == OpKind::Reg) dst.set(dst.get());
        next_rip(cpu, i);
        return;
      }
      const Shifted<T> s = double_shift<Left, T>(dst.get(), read_gpr<T>(cpu, i.src.reg), c);
      dst.set(s.value);
      if (!flags_dead(i)) set_arith_flags(cpu, s.flags);
      next_rip(cpu, i);
    }
  };
};

template <bool Left>
Handler bind_double_shift(const Insn& i) {
  if (i.src.kind != OpKind::Reg) return nullptr;
  return by_size<forms::kWideSizes>(i, [&](auto t) -> Handler {
    return forms::rm_by_reg_or_imm<decltype(t), DoubleShift<Left>::template Form>(i, i.src2);
  });
}

}  // namespace

void register_shift(BinderTable& t) {
  bind(t, Op::ROL, &bind_shift<Sh::Rol>);
  bind(t, Op::ROR, &bind_shift<Sh::Ror>);
  bind(t, Op::RCL, &bind_shift<Sh::Rcl>);
  bind(t, Op::RCR, &bind_shift<Sh::Rcr>);
  bind(t, Op::SHL, &bind_shift<Sh::Shl>);
  bind(t, Op::SHR, &bind_shift<Sh::Shr>);
  bind(t, Op::SAR, &bind_shift<Sh::Sar>);
  bind(t, Op::SHLD, &bind_double_shift<true>);
  bind(t, Op::SHRD, &bind_double_shift<false>);
}

}  // namespace umbra
