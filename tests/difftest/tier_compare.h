// The tier comparison (umbra_difftest --compare-tiers, docs/difftest.md "Tier 1 against tier
// 0"): a case run on tier 0 and on tier-1 code must leave the same architectural state, bit for
// bit, including the status flags the SDM leaves undefined: tier-1 code inlines the same
// semantic handlers as tier 0, so any difference is a tier-1 bug.
#pragma once

#include "compare.h"
#include "layout.h"
#include "umbra_runner.h"

namespace difftest {

struct TierRun {
  CaseOutput out;
  ArchSnapshot snap;
};

// Compares everything both runs captured: GPRs, RIP, RFLAGS (all bits), segment registers
// (selector, base, limit, attributes), LDTR, TR, GDTR, IDTR, CR0/2/3/4, EFER, CPL and mode bits,
// the x87 registers and environment, MXCSR, XMM0-15, the data and system pages, and how the run
// ended (exit reason, vector, error code, fault address, instructions retired).
Verdict compare_tier_runs(const TierRun& tier0, const TierRun& tier1);

}  // namespace difftest
