// Lazy arithmetic flags (docs/semantics.md, "Flags").
//
// Producers record (operation, size, result, operands) in CpuState::lazy; the six status flags
// are computed only when something reads them. Operation kinds that are rare or whose flags are
// cheap to compute directly (shifts, rotates, bit tests, multiplies) write them eagerly with
// set_arith_flags(). Everything here is header-only so that both tiers inline it.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

template <typename T>
constexpr uint64_t sign_bit_of() {
  return uint64_t{1} << (sizeof(T) * 8 - 1);
}
inline uint64_t size_mask(unsigned size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (size * 8)) - 1;
}
inline uint64_t size_sign(unsigned size) { return uint64_t{1} << (size * 8 - 1); }

// PF: set when the low byte of the result has an even number of 1 bits (SDM vol. 1, 3.4.3.1).
inline uint64_t parity_flag(uint64_t res) {
  return __builtin_parity(static_cast<unsigned>(res & 0xff)) ? 0 : rf::PF;
}
inline uint64_t zf_sf_pf(uint64_t res, unsigned size) {
  uint64_t r = res & size_mask(size);
  return (r == 0 ? rf::ZF : 0) | ((r & size_sign(size)) ? rf::SF : 0) | parity_flag(r);
}

// Record a lazy producer. Values are stored masked to the operand size.
template <typename T>
inline void set_lazy(CpuState& cpu, LazyOp op, T res, T src1, T src2, uint8_t aux = 0) {
  cpu.lazy.res = res;
  cpu.lazy.src1 = src1;
  cpu.lazy.src2 = src2;
  cpu.lazy.op = op;
  cpu.lazy.size = sizeof(T);
  cpu.lazy.aux = aux;
}

// Computes the six status flags from the lazy record (only valid when lazy.op != kLazyNone).
inline uint64_t compute_lazy_flags(const LazyFlags& l) {
  const uint64_t sign = size_sign(l.size);
  const uint64_t r = l.res, a = l.src1, b = l.src2;
  uint64_t f = zf_sf_pf(r, l.size);
  switch (static_cast<LazyOp>(l.op)) {
    case kLazyAdd:
      f |= (r < a ? rf::CF : 0) | (((a ^ r) & (b ^ r) & sign) ? rf::OF : 0) |
           ((a ^ b ^ r) & 0x10 ? rf::AF : 0);
      break;
    case kLazyAdc:
      f |= ((l.aux ? r <= a : r < a) ? rf::CF : 0) | (((a ^ r) & (b ^ r) & sign) ? rf::OF : 0) |
           ((a ^ b ^ r) & 0x10 ? rf::AF : 0);
      break;
    case kLazySub:
      f |= (a < b ? rf::CF : 0) | (((a ^ b) & (a ^ r) & sign) ? rf::OF : 0) |
           ((a ^ b ^ r) & 0x10 ? rf::AF : 0);
      break;
    case kLazySbb:
      f |= ((l.aux ? a <= b : a < b) ? rf::CF : 0) | (((a ^ b) & (a ^ r) & sign) ? rf::OF : 0) |
           ((a ^ b ^ r) & 0x10 ? rf::AF : 0);
      break;
    case kLazyLogic:
      break;
    case kLazyInc:
      f |= (l.aux ? rf::CF : 0) | (r == sign ? rf::OF : 0) | ((r & 0xf) == 0 ? rf::AF : 0);
      break;
    case kLazyDec:
      f |= (l.aux ? rf::CF : 0) | (a == sign ? rf::OF : 0) | ((r & 0xf) == 0xf ? rf::AF : 0);
      break;
    case kLazyNone:
      break;
  }
  return f;
}

// The six status flags, current.
inline uint64_t arith_flags(const CpuState& cpu) {
  if (cpu.lazy.op == kLazyNone) return cpu.rflags & rf::ARITH;
  return compute_lazy_flags(cpu.lazy);
}

// Full architectural RFLAGS (as PUSHF would see it).
inline uint64_t read_rflags(const CpuState& cpu) {
  return (cpu.rflags & ~rf::ARITH) | arith_flags(cpu) | rf::FIXED1;
}

// Sets the six status flags eagerly to `bits` (other bits of `bits` ignored).
inline void set_arith_flags(CpuState& cpu, uint64_t bits) {
  cpu.rflags = (cpu.rflags & ~rf::ARITH) | (bits & rf::ARITH);
  cpu.lazy.op = kLazyNone;
}

// Replaces only the status flags in `mask`, keeping the others' current values.
inline void update_arith_flags(CpuState& cpu, uint64_t mask, uint64_t bits) {
  uint64_t f = arith_flags(cpu);
  set_arith_flags(cpu, (f & ~mask) | (bits & mask));
}

// Writes a whole RFLAGS value's status flags and the other bits in `writable`.
inline void write_rflags(CpuState& cpu, uint64_t value, uint64_t writable) {
  uint64_t keep = cpu.rflags & ~writable;
  cpu.rflags = (keep | (value & writable) | rf::FIXED1) & ~rf::ARITH;
  cpu.rflags |= (writable & rf::ARITH) ? (value & rf::ARITH) : (keep & rf::ARITH);
  cpu.lazy.op = kLazyNone;
}

inline bool get_cf(const CpuState& cpu) {
  const LazyFlags& l = cpu.lazy;
  switch (static_cast<LazyOp>(l.op)) {
    case kLazyAdd: return l.res < l.src1;
    case kLazySub: return l.src1 < l.src2;
    case kLazyLogic: return false;
    case kLazyInc:
    case kLazyDec: return l.aux;
    case kLazyNone: return cpu.rflags & rf::CF;
    default: return compute_lazy_flags(l) & rf::CF;
  }
}

inline bool get_zf(const CpuState& cpu) {
  if (cpu.lazy.op == kLazyNone) return cpu.rflags & rf::ZF;
  return cpu.lazy.res == 0;  // res is stored masked to its size
}

// Condition codes tttn (SDM vol. 1, appendix B.1): 0 O, 1 NO, 2 B, 3 AE, 4 E, 5 NE, 6 BE, 7 A,
// 8 S, 9 NS, A P, B NP, C L, D GE, E LE, F G.
inline bool eval_cond(const CpuState& cpu, unsigned cc) {
  const LazyFlags& l = cpu.lazy;
  // Fast path: after SUB/CMP the relation between the operands answers directly.
  if (l.op == kLazySub) {
    const unsigned shift = 64 - 8 * l.size;
    const int64_t sa = static_cast<int64_t>(l.src1 << shift);
    const int64_t sb = static_cast<int64_t>(l.src2 << shift);
    bool r;
    switch (cc >> 1) {
      case 1: r = l.src1 < l.src2; break;   // B
      case 2: r = l.src1 == l.src2; break;  // E
      case 3: r = l.src1 <= l.src2; break;  // BE
      case 6: r = sa < sb; break;           // L
      case 7: r = sa <= sb; break;          // LE
      default: goto general;
    }
    return r ^ (cc & 1);
  }
  if (l.op != kLazyNone) {
    // ZF and SF of every lazy producer are those of its result (stored masked to its size), so
    // E/NE and S/NS never need the other flags: a loop's DEC/JNZ or an AND/JS answers here
    // instead of computing all six flags (PF's popcount among them).
    const bool zf = l.res == 0;
    const bool sf = (l.res >> (8 * l.size - 1)) & 1;
    if ((cc >> 1) == 2) return zf ^ (cc & 1);  // E
    if ((cc >> 1) == 4) return sf ^ (cc & 1);  // S
    if (l.op == kLazyLogic) {
      // Logical instructions clear CF and OF (SDM vol. 2, AND/OR/XOR/TEST "Flags Affected").
      bool r;
      switch (cc >> 1) {
        case 0: r = false; break;       // O
        case 1: r = false; break;       // B
        case 3: r = zf; break;          // BE: CF or ZF
        case 6: r = sf; break;          // L: SF != OF
        case 7: r = zf || sf; break;    // LE
        default: goto general;          // P
      }
      return r ^ (cc & 1);
    }
    if ((cc >> 1) == 1) {  // B: CF
      if (l.op == kLazyAdd) return (l.res < l.src1) ^ (cc & 1);
      if (l.op == kLazyInc || l.op == kLazyDec) return (l.aux != 0) ^ (cc & 1);  // CF kept
    }
  }
general:
  const uint64_t f = arith_flags(cpu);
  bool r;
  switch (cc >> 1) {
    case 0: r = f & rf::OF; break;
    case 1: r = f & rf::CF; break;
    case 2: r = f & rf::ZF; break;
    case 3: r = f & (rf::CF | rf::ZF); break;
    case 4: r = f & rf::SF; break;
    case 5: r = f & rf::PF; break;
    case 6: r = !(f & rf::SF) != !(f & rf::OF); break;
    default: r = (f & rf::ZF) || (!(f & rf::SF) != !(f & rf::OF)); break;
  }
  return r ^ (cc & 1);
}

}  // namespace umbra
