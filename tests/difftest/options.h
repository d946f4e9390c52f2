// Command-line options of umbra_difftest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gen.h"
#include "jit/tier1/tier1.h"

namespace difftest {

struct Options {
  uint64_t seed = 1;
  uint64_t count = 10000;
  std::string forms_regex;
  bool verbose = false;
  int64_t only_case = -1;
  unsigned max_len = 0;                     // 0: kDefaultMaxLen, with --compare-tiers kMaxInsns
  unsigned min_len = 0;                     // 0: 2, with --compare-tiers 10
  std::vector<std::string> known_failures;  // --known-failures, repeatable
  bool list_forms = false;
  bool check_encoder = false;
  bool native_only = false;
  bool ldt = false;  // the native child (and so Umbra's mirror) gets an LDT
  bool form_table = true;
  unsigned batch = 64;
  unsigned max_reports = 25;
  int fault_pct = -1;   // -1: 3, with --compare-tiers 1
  int single_pct = -1;  // share of single-instruction cases (-1: 55, with --compare-tiers 0)
  int hot_pct = -1;     // share of data addresses in the hot window (-1: 0, --compare-tiers 35)
  // --accel: the mode of Umbra's engines (else the process default, UMBRA_ACCEL).
  std::optional<umbra::AccelMode> accel;
  // --compare-tiers: every case on tier 0 and on compile-all tier 1, compared with each other.
  bool compare_tiers = false;
  // --sweep: case i starts with selected form i mod (number selected): every form is covered by
  // a run of as many cases as there are forms.
  bool sweep = false;
  uint64_t progress = 0;  // --progress N: a line every N cases (long runs)
  // Reproducer mode: run these bytes instead of a generated sequence, with register overrides.
  std::vector<uint8_t> code;
  std::vector<std::pair<int, uint64_t>> sets;  // register index (16 rflags, 17/18 fs/gs base)
};

// Parses argv; prints a message and returns false on bad input.
bool parse_options(int argc, char** argv, Options* o);
void print_usage();

// Register names accepted by --set (index 16 is rflags, 17 and 18 the FS and GS bases).
constexpr int kNumSetRegs = 19;
extern const char* const kSetRegNames[kNumSetRegs];

}  // namespace difftest
