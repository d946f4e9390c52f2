// Builds one test case (input + metadata) from a seed and a set of allowed forms.
#pragma once

#include <cstdint>
#include <vector>

#include "gen.h"
#include "layout.h"

namespace difftest {

struct BuildOptions {
  unsigned max_len = kDefaultMaxLen;  // longest sequence
  unsigned min_len = 2;               // shortest sequence that is not a single instruction
  unsigned hot_pct = 0;               // see Gen::hot_pct (tier comparison)
  bool ud_last_only = false;          // see Gen::ud_last_only (tier comparison)
  bool loops_anywhere = false;        // see Gen::loops_anywhere (tier comparison)
  // The first instruction is tried with this form first (--sweep: every form in turn), so a
  // bounded run covers every form; kNoForm (or a form that cannot be placed): random.
  uint16_t first_form = 0xffff;
  unsigned single_pct = 55;                // share of single-instruction cases
  uint32_t disabled = 0;                   // Variation bits switched off (known failures)
  unsigned fault_pct = 3;                  // share of memory operands that fault on purpose
  std::vector<uint32_t> disabled_in_form;  // per form id: further Variation bits switched off
  HostTraits host;                         // what the host can be an oracle for
};

// Deterministic in (case_seed, allowed, options). Returns false if no instruction could be
// generated at all (e.g. an empty form set).
bool build_case(uint64_t case_seed, const std::vector<uint16_t>& allowed, const BuildOptions& opt,
                CaseInput* in, CaseMeta* meta);

// The seed of case `index` of a run with seed `run_seed`.
uint64_t case_seed(uint64_t run_seed, uint64_t index);

}  // namespace difftest
