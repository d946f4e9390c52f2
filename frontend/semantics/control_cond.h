// Condition-code specialisation for Jcc, SETcc and CMOVcc.
//
// The condition (Insn::cond, SDM vol. 1, appendix B.1) is a template parameter of the handler, so
// eval_cond() folds to the one flag test it needs: these are among the hottest instructions in
// tier 0, and tier 1 gets the same constant-folded source.
#pragma once

#include <array>
#include <utility>

#include "frontend/insn.h"

namespace umbra {

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
