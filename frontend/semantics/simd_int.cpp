// MMX/SSE2/SSSE3/SSE4.1 packed-integer arithmetic, logic and compares (SDM vol. 2, the P*
// entries; vol. 1, 9.4 and 11.4.2). One lane function per operation, instantiated per element
// type; the MMX (no prefix, 64-bit) and XMM (66, 128-bit) encodings share it.
#include <limits>
#include <type_traits>

#include "frontend/semantics/simd_move_vec.h"

namespace umbra {
namespace {

using namespace simd;

template <typename T>
T saturate(int64_t v) {
  if (v < static_cast<int64_t>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  if (v > static_cast<int64_t>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// Lane functions: T f(T a, T b) with a = destination lane, b = source lane.
struct Add {
  template <typename T>
  static T f(T a, T b) {
    return static_cast<T>(a + b);
  }
};
struct Sub {
  template <typename T>
  static T f(T a, T b) {
    return static_cast<T>(a - b);
  }
};
// Saturation follows the signedness of T (PADDS*/PADDUS*, PSUBS*/PSUBUS*).
struct AddSat {
  template <typename T>
  static T f(T a, T b) {
    return saturate<T>(int64_t{a} + int64_t{b});
  }
};
struct SubSat {
  template <typename T>
  static T f(T a, T b) {
    return saturate<T>(int64_t{a} - int64_t{b});
  }
};
struct MulLo {
  template <typename T>
  static T f(T a, T b) {
    return static_cast<T>(int64_t{a} * int64_t{b});
  }
};
// High half of the full product (PMULHW signed, PMULHUW unsigned; 16-bit lanes). The product
// is formed in a 32-bit type of T's signedness: GCC 12 vectorises the int64_t form of the signed
// case into PMULHUW (wrong for negative lanes).
struct MulHi {
  template <typename T>
  static T f(T a, T b) {
    static_assert(sizeof(T) == 2);
    using Wide = std::conditional_t<std::is_signed_v<T>, int32_t, uint32_t>;
    return static_cast<T>((static_cast<Wide>(a) * static_cast<Wide>(b)) >> 16);
  }
};
struct MulHrs {  // PMULHRSW: ((a * b >> 14) + 1) >> 1
  template <typename T>
  static T f(T a, T b) {
    return static_cast<T>((((int32_t{a} * int32_t{b}) >> 14) + 1) >> 1);
  }
};
struct Avg {  // PAVGB/PAVGW: unsigned rounded average
  template <typename T>
  static T f(T a, T b) {
    return static_cast<T>((uint32_t{a} + b + 1) >> 1);
  }
};
struct Min {
  template <typename T>
  static T f(T a, T b) {
    return b < a ? b : a;
  }
};
struct Max {
  template <typename T>
  static T f(T a, T b) {
    return b > a ? b : a;
  }
};
struct CmpEq {
  template <typename T>
  static T f(T a, T b) {
    return a == b ? T(~T{0}) : T{0};
  }
};
struct CmpGt {
  template <typename T>
  static T f(T a, T b) {
    return a > b ? T(~T{0}) : T{0};
  }
};
struct And {
  template <typename T>
  static T f(T a, T b) {
    return a & b;
  }
};
struct AndN {
  template <typename T>
  static T f(T a, T b) {
    return static_cast<T>(~a & b);
  }
};
struct Or {
  template <typename T>
  static T f(T a, T b) {
    return a | b;
  }
};
struct Xor {
  template <typename T>
  static T f(T a, T b) {
    return a ^ b;
  }
};
struct Sign {  // PSIGN*: negate, keep or zero a by the sign of b
  template <typename T>
  static T f(T a, T b) {
    return b < 0 ? static_cast<T>(-a) : (b == 0 ? T{0} : a);
  }
};
struct Abs {  // PABS*: unary on the source, result unsigned (|INT_MIN| = INT_MIN bit pattern)
  template <typename T>
  static T f(T, T b) {
    return b < 0 ? static_cast<T>(-b) : b;
  }
};

// dst[k] = Fn(dst[k], src[k]) over lanes of type T.
template <typename T, class Fn>
struct Lanes {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    return lanewise<T>(d, s, [](T a, T b) { return Fn::template f<T>(a, b); });
  }
};

// PMULUDQ: unsigned 32x32->64 of the even dword lanes.
struct MulUdq {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    Vec<N> r;
    for (unsigned k = 0; k < N / 8; ++k)
      r.template set<uint64_t>(
          k, uint64_t{d.template get<uint32_t>(2 * k)} * s.template get<uint32_t>(2 * k));
    return r;
  }
};
// PMULDQ (SSE4.1): signed 32x32->64 of the even dword lanes.
struct MulDq {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    Vec<N> r;
    for (unsigned k = 0; k < N / 8; ++k)
      r.template set<int64_t>(
          k, int64_t{d.template get<int32_t>(2 * k)} * s.template get<int32_t>(2 * k));
    return r;
  }
};
// PMADDWD: adjacent signed word products summed into dwords (wraps only for 4x -32768).
struct MaddWd {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    Vec<N> r;
    for (unsigned k = 0; k < N / 4; ++k) {
      const int64_t p =
          int64_t{d.template get<int16_t>(2 * k)} * s.template get<int16_t>(2 * k) +
          int64_t{d.template get<int16_t>(2 * k + 1)} * s.template get<int16_t>(2 * k + 1);
      r.template set<uint32_t>(k, static_cast<uint32_t>(p));
    }
    return r;
  }
};
// PMADDUBSW (SSSE3): unsigned dst bytes x signed src bytes, adjacent pairs summed with signed
// word saturation.
struct MaddUbsw {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    Vec<N> r;
    for (unsigned k = 0; k < N / 2; ++k) {
      const int64_t p =
          int64_t{d.template get<uint8_t>(2 * k)} * s.template get<int8_t>(2 * k) +
          int64_t{d.template get<uint8_t>(2 * k + 1)} * s.template get<int8_t>(2 * k + 1);
      r.template set<int16_t>(k, saturate<int16_t>(p));
    }
    return r;
  }
};
// PSADBW: sum of absolute byte differences per 8-byte group, in the group's low word.
struct Sadbw {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    Vec<N> r{};
    for (unsigned g = 0; g < N / 8; ++g) {
      uint64_t sum = 0;
      for (unsigned k = 0; k < 8; ++k) {
        const int x = d.b[8 * g + k], y = s.b[8 * g + k];
        sum += static_cast<uint64_t>(x > y ? x - y : y - x);
      }
      r.template set<uint64_t>(g, sum);
    }
    return r;
  }
};
// PHADD*/PHSUB* (SSSE3): horizontal pairs, destination pairs in the low half of the result and
// source pairs in the high half. Fn combines (even, odd).
template <typename T, class Fn>
struct Horizontal {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    constexpr unsigned kHalf = N / sizeof(T) / 2;
    Vec<N> r;
    for (unsigned k = 0; k < kHalf; ++k) {
      r.template set<T>(k,
                        Fn::template f<T>(d.template get<T>(2 * k), d.template get<T>(2 * k + 1)));
      r.template set<T>(kHalf + k,
                        Fn::template f<T>(s.template get<T>(2 * k), s.template get<T>(2 * k + 1)));
    }
    return r;
  }
};

// ---- shifts (PSLL/PSRL/PSRA; SDM vol. 2 "PSLLW/PSLLD/PSLLQ" etc.) ----
enum class ShiftKind { kLeft, kRightLogical, kRightArith };

template <typename T, ShiftKind K, unsigned N>
Vec<N> shift_lanes(const Vec<N>& d, uint64_t count) {
  constexpr unsigned kBits = 8 * sizeof(T);
  Vec<N> r;
  for (unsigned k = 0; k < N / sizeof(T); ++k) {
    const T a = d.template get<T>(k);
    T v;
    if constexpr (K == ShiftKind::kRightArith) {
      using S = std::make_signed_t<T>;
      // Counts above the width fill with the sign bit.
      v = static_cast<T>(static_cast<S>(a) >> (count > kBits - 1 ? kBits - 1 : count));
    } else if (count > kBits - 1) {
      v = 0;
    } else {
      v = K == ShiftKind::kLeft ? static_cast<T>(a << count) : static_cast<T>(a >> count);
    }
    r.template set<T>(k, v);
  }
  return r;
}

// By the low 64 bits of the r/m operand (the whole 64-bit count is compared).
template <typename T, ShiftKind K>
struct ShiftByVec {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    return shift_lanes<T, K>(d, s.template get<uint64_t>(0));
  }
};

// Groups 0F 71/72/73: the shifted register is the r/m register, ModRM.reg selects the operation.
template <unsigned N>
Vec<N> byte_shift(const Vec<N>& d, unsigned count, bool left) {
  Vec<N> r{};
  if (count > 15) return r;
  for (unsigned k = 0; k < N; ++k) {
    const int from =
        left ? static_cast<int>(k) - static_cast<int>(count) : static_cast<int>(k + count);
    r.b[k] = (from >= 0 && from < static_cast<int>(N)) ? d.b[from] : 0;
  }
  return r;
}

template <unsigned N, typename T, ShiftKind K>
void run_shift_imm(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  write_reg<N>(cpu, i.src.reg, shift_lanes<T, K>(read_reg<N>(cpu, i.src.reg), i.imm & 0xff));
  finish<N>(cpu);
  next_rip(cpu, i);
}

template <bool kLeft>
void run_byte_shift(CpuState& cpu, const Insn& i) {
  check_available<16>(cpu);
  write_reg<16>(cpu, i.src.reg, byte_shift<16>(read_reg<16>(cpu, i.src.reg), i.imm & 0xff, kLeft));
  next_rip(cpu, i);
}

template <unsigned N, typename T>
Handler bind_shift_group(const Insn& i) {
  if (i.src.kind != OpKind::Reg) return nullptr;
  switch (i.dst.reg & 7) {
    case 2:
      return &run_shift_imm<N, T, ShiftKind::kRightLogical>;
    case 4:
      if constexpr (sizeof(T) == 8)
        return nullptr;  // no PSRAQ before AVX-512
      else
        return &run_shift_imm<N, T, ShiftKind::kRightArith>;
    case 6:
      return &run_shift_imm<N, T, ShiftKind::kLeft>;
    case 3:
      if constexpr (N == 16 && sizeof(T) == 8) return &run_byte_shift<false>;  // PSRLDQ
      return nullptr;
    case 7:
      if constexpr (N == 16 && sizeof(T) == 8) return &run_byte_shift<true>;  // PSLLDQ
      return nullptr;
    default:
      return nullptr;
  }
}

template <typename T>
void register_shift_group(SimdTable& t, uint8_t opcode) {
  register_simd(t, kMap0F, opcode, kColNone, false, &bind_shift_group<8, T>);
  register_simd(t, kMap0F, opcode, kCol66, false, &bind_shift_group<16, T>);
}

// EMMS (0F 77): every x87 tag empty, TOP = 0 (SDM vol. 2, EMMS; vol. 1, table 9-1). Same
// #UD/#NM rules as MMX.
void run_emms(CpuState& cpu, const Insn& i) {
  check_available<8>(cpu);
  mmx_empty(cpu);
  next_rip(cpu, i);
}
Handler bind_emms(const Insn& i) {
  return (i.prefixes & pfx::kVex) ? nullptr : &run_emms;
}

}  // namespace

void register_simd_int(SimdTable& t) {
  using L = ShiftKind;
  // Wrapping add/sub (0F FC-FE, D4, F8-FB).
  register_mmx_sse2<Lanes<uint8_t, Add>>(t, kMap0F, 0xFC);
  register_mmx_sse2<Lanes<uint16_t, Add>>(t, kMap0F, 0xFD);
  register_mmx_sse2<Lanes<uint32_t, Add>>(t, kMap0F, 0xFE);
  register_mmx_sse2<Lanes<uint64_t, Add>>(t, kMap0F, 0xD4);
  register_mmx_sse2<Lanes<uint8_t, Sub>>(t, kMap0F, 0xF8);
  register_mmx_sse2<Lanes<uint16_t, Sub>>(t, kMap0F, 0xF9);
  register_mmx_sse2<Lanes<uint32_t, Sub>>(t, kMap0F, 0xFA);
  register_mmx_sse2<Lanes<uint64_t, Sub>>(t, kMap0F, 0xFB);
  // Saturating (0F EC/ED PADDS, DC/DD PADDUS, E8/E9 PSUBS, D8/D9 PSUBUS).
  register_mmx_sse2<Lanes<int8_t, AddSat>>(t, kMap0F, 0xEC);
  register_mmx_sse2<Lanes<int16_t, AddSat>>(t, kMap0F, 0xED);
  register_mmx_sse2<Lanes<uint8_t, AddSat>>(t, kMap0F, 0xDC);
  register_mmx_sse2<Lanes<uint16_t, AddSat>>(t, kMap0F, 0xDD);
  register_mmx_sse2<Lanes<int8_t, SubSat>>(t, kMap0F, 0xE8);
  register_mmx_sse2<Lanes<int16_t, SubSat>>(t, kMap0F, 0xE9);
  register_mmx_sse2<Lanes<uint8_t, SubSat>>(t, kMap0F, 0xD8);
  register_mmx_sse2<Lanes<uint16_t, SubSat>>(t, kMap0F, 0xD9);
  // Multiplies.
  register_mmx_sse2<Lanes<int16_t, MulLo>>(t, kMap0F, 0xD5);    // PMULLW
  register_mmx_sse2<Lanes<int16_t, MulHi>>(t, kMap0F, 0xE5);    // PMULHW
  register_mmx_sse2<Lanes<uint16_t, MulHi>>(t, kMap0F, 0xE4);   // PMULHUW
  register_mmx_sse2<MulUdq>(t, kMap0F, 0xF4);                   // PMULUDQ
  register_mmx_sse2<MaddWd>(t, kMap0F, 0xF5);                   // PMADDWD
  register_mmx_sse2<Sadbw>(t, kMap0F, 0xF6);                    // PSADBW
  register_sse_only<Lanes<int32_t, MulLo>>(t, kMap0F38, 0x40);  // PMULLD
  register_sse_only<MulDq>(t, kMap0F38, 0x28);                  // PMULDQ
  // Averages, min/max (SSE integer on MMX; SSE4.1 widths in 0F 38).
  register_mmx_sse2<Lanes<uint8_t, Avg>>(t, kMap0F, 0xE0);
  register_mmx_sse2<Lanes<uint16_t, Avg>>(t, kMap0F, 0xE3);
  register_mmx_sse2<Lanes<uint8_t, Min>>(t, kMap0F, 0xDA);
  register_mmx_sse2<Lanes<uint8_t, Max>>(t, kMap0F, 0xDE);
  register_mmx_sse2<Lanes<int16_t, Min>>(t, kMap0F, 0xEA);
  register_mmx_sse2<Lanes<int16_t, Max>>(t, kMap0F, 0xEE);
  register_sse_only<Lanes<int8_t, Min>>(t, kMap0F38, 0x38);
  register_sse_only<Lanes<int32_t, Min>>(t, kMap0F38, 0x39);
  register_sse_only<Lanes<uint16_t, Min>>(t, kMap0F38, 0x3A);
  register_sse_only<Lanes<uint32_t, Min>>(t, kMap0F38, 0x3B);
  register_sse_only<Lanes<int8_t, Max>>(t, kMap0F38, 0x3C);
  register_sse_only<Lanes<int32_t, Max>>(t, kMap0F38, 0x3D);
  register_sse_only<Lanes<uint16_t, Max>>(t, kMap0F38, 0x3E);
  register_sse_only<Lanes<uint32_t, Max>>(t, kMap0F38, 0x3F);
  // Compares.
  register_mmx_sse2<Lanes<uint8_t, CmpEq>>(t, kMap0F, 0x74);
  register_mmx_sse2<Lanes<uint16_t, CmpEq>>(t, kMap0F, 0x75);
  register_mmx_sse2<Lanes<uint32_t, CmpEq>>(t, kMap0F, 0x76);
  register_sse_only<Lanes<uint64_t, CmpEq>>(t, kMap0F38, 0x29);
  register_mmx_sse2<Lanes<int8_t, CmpGt>>(t, kMap0F, 0x64);
  register_mmx_sse2<Lanes<int16_t, CmpGt>>(t, kMap0F, 0x65);
  register_mmx_sse2<Lanes<int32_t, CmpGt>>(t, kMap0F, 0x66);
  register_sse_only<Lanes<int64_t, CmpGt>>(t, kMap0F38, 0x37);  // SSE4.2, integer compare
  // Logic.
  register_mmx_sse2<Lanes<uint64_t, And>>(t, kMap0F, 0xDB);
  register_mmx_sse2<Lanes<uint64_t, AndN>>(t, kMap0F, 0xDF);
  register_mmx_sse2<Lanes<uint64_t, Or>>(t, kMap0F, 0xEB);
  register_mmx_sse2<Lanes<uint64_t, Xor>>(t, kMap0F, 0xEF);
  // Shifts by register/memory count.
  register_mmx_sse2<ShiftByVec<uint16_t, L::kRightLogical>>(t, kMap0F, 0xD1);
  register_mmx_sse2<ShiftByVec<uint32_t, L::kRightLogical>>(t, kMap0F, 0xD2);
  register_mmx_sse2<ShiftByVec<uint64_t, L::kRightLogical>>(t, kMap0F, 0xD3);
  register_mmx_sse2<ShiftByVec<uint16_t, L::kRightArith>>(t, kMap0F, 0xE1);
  register_mmx_sse2<ShiftByVec<uint32_t, L::kRightArith>>(t, kMap0F, 0xE2);
  register_mmx_sse2<ShiftByVec<uint16_t, L::kLeft>>(t, kMap0F, 0xF1);
  register_mmx_sse2<ShiftByVec<uint32_t, L::kLeft>>(t, kMap0F, 0xF2);
  register_mmx_sse2<ShiftByVec<uint64_t, L::kLeft>>(t, kMap0F, 0xF3);
  // Shifts by imm8 (groups 12/13/14).
  register_shift_group<uint16_t>(t, 0x71);
  register_shift_group<uint32_t>(t, 0x72);
  register_shift_group<uint64_t>(t, 0x73);
  // SSSE3 (0F 38; MMX and XMM forms).
  register_mmx_sse2<Horizontal<uint16_t, Add>>(t, kMap0F38, 0x01);    // PHADDW
  register_mmx_sse2<Horizontal<uint32_t, Add>>(t, kMap0F38, 0x02);    // PHADDD
  register_mmx_sse2<Horizontal<int16_t, AddSat>>(t, kMap0F38, 0x03);  // PHADDSW
  register_mmx_sse2<MaddUbsw>(t, kMap0F38, 0x04);                     // PMADDUBSW
  register_mmx_sse2<Horizontal<uint16_t, Sub>>(t, kMap0F38, 0x05);    // PHSUBW
  register_mmx_sse2<Horizontal<uint32_t, Sub>>(t, kMap0F38, 0x06);    // PHSUBD
  register_mmx_sse2<Horizontal<int16_t, SubSat>>(t, kMap0F38, 0x07);  // PHSUBSW
  register_mmx_sse2<Lanes<int8_t, Sign>>(t, kMap0F38, 0x08);
  register_mmx_sse2<Lanes<int16_t, Sign>>(t, kMap0F38, 0x09);
  register_mmx_sse2<Lanes<int32_t, Sign>>(t, kMap0F38, 0x0A);
  register_mmx_sse2<Lanes<int16_t, MulHrs>>(t, kMap0F38, 0x0B);  // PMULHRSW
  register_mmx_sse2<Lanes<int8_t, Abs>>(t, kMap0F38, 0x1C);
  register_mmx_sse2<Lanes<int16_t, Abs>>(t, kMap0F38, 0x1D);
  register_mmx_sse2<Lanes<int32_t, Abs>>(t, kMap0F38, 0x1E);
  register_simd(t, kMap0F, 0x77, kColNone, false, &bind_emms);
}

}  // namespace umbra
