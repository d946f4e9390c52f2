// Command-line options of umbra_difftest.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "gen.h"

namespace difftest {

struct Options {
  uint64_t seed = 1;
  uint64_t count = 10000;
  std::string forms_regex;
  bool verbose = false;
  int64_t only_case = -1;
  unsigned max_len = kMaxInsns;
  std::vector<std::string> known_failures;  // --known-failures, repeatable
  bool list_forms = false;
  bool check_encoder = false;
  bool native_only = false;
  bool ldt = false;  // the native child (and so Umbra's mirror) gets an LDT
  bool form_table = true;
  unsigned batch = 64;
  unsigned max_reports = 25;
  unsigned fault_pct = 3;
  unsigned single_pct = 55;  // share of single-instruction cases
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
