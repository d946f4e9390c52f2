// Condition-code specialisation for Jcc, SETcc and CMOVcc.
//
// The condition (Insn::cond, SDM vol. 1, appendix B.1) is a template parameter of the handler, so
// eval_cond() folds to the one flag test it needs: these are among the hottest instructions in
// tier 0, and tier 1 gets the same constant-folded source.
#pragma once

#include <array>
#include <utility>

#include "frontend/flags.h"
#include "frontend/insn.h"

namespace umbra {

// Condition CC with the flag test chosen at compile time. E/NE, B/AE and S/NS read their one
// flag straight from the lazy record (whatever produced it: e.g. JNZ after DEC needs no full
// flag materialisation); the others go through eval_cond's general path.
template <unsigned CC>
inline bool cond_holds(const CpuState& cpu) {
  constexpr unsigned kBase = CC >> 1;
  constexpr bool kNegate = CC & 1;
  if constexpr (kBase == 2) {
    return get_zf(cpu) != kNegate;
  } else if constexpr (kBase == 1) {
    return get_cf(cpu) != kNegate;
  } else if constexpr (kBase == 4) {
    const LazyFlags& l = cpu.lazy;
    const bool sf =
        l.op == kLazyNone ? (cpu.rflags & rf::SF) != 0 : (l.res & size_sign(l.size)) != 0;
    return sf != kNegate;
  } else {
    return eval_cond(cpu, CC);
  }
}

// F<CC>::run for CC = 0..15, indexed by condition code.
template <template <unsigned> class F, unsigned... CC>
constexpr std::array<Handler, 16> make_cond_table(std::integer_sequence<unsigned, CC...>) {
  return {&F<CC>::run...};
}

template <template <unsigned> class F>
Handler select_cond(unsigned cc) {
  static constexpr std::array<Handler, 16> table =
      make_cond_table<F>(std::make_integer_sequence<unsigned, 16>{});
  return cc < 16 ? table[cc] : nullptr;
}

}  // namespace umbra
