// Comparison of a native run with an Umbra run of the same case, and human-readable reports.
#pragma once

#include <string>

#include "gen.h"
#include "layout.h"

namespace difftest {

struct Verdict {
  bool harness_error = false;  // the native side did not produce a result
  bool mismatch = false;
  std::string details;  // one line per difference (or the harness problem)
};

// Compares everything architectural: 16 GPRs, RIP, RFLAGS (minus the bits the SDM leaves
// undefined at the point where the run stopped, and RF), the data pages, the exception vector,
// and for exceptions that push one the error code (plus CR2 for #PF).
Verdict compare_case(const CaseInput& in, const CaseMeta& meta, const CaseOutput& native,
                     const CaseOutput& umbra);

// A full report: disassembly (Capstone, via umbra::disassemble_one) with form names, initial
// state, both outcomes, and the differences.
// `first_name`/`second_name` label the two outcomes (the tier comparison: tier 0, tier 1).
std::string describe_case(uint64_t index, const CaseInput& in, const CaseMeta& meta,
                          const CaseOutput* native, const CaseOutput* umbra, const Verdict* v,
                          const char* first_name = "native", const char* second_name = "umbra ");

// Names of the status flags in `mask` ("CF OF ...").
std::string flag_names(uint64_t mask);
const char* vector_name(uint32_t v);

}  // namespace difftest
