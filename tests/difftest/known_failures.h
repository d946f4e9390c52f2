// The known-failures list (known_failures.txt, docs/difftest.md): forms and generator
// variations kept out of a run because Umbra is known to get them wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gen.h"

namespace difftest {

struct KnownFailures {
  std::vector<bool> form_skipped;          // per form id
  uint32_t disabled = 0;                   // Variation bits off for every form
  std::vector<uint32_t> disabled_in_form;  // per form id: further Variation bits off
  std::vector<std::string> descriptions;   // one line per entry, for the run's log
};

// Reads `path` and resolves its names against `forms`, adding to what `out` already holds (so
// several lists can be combined). On error prints why and returns false.
bool load_known_failures(const std::string& path, const std::vector<Form>& forms,
                         KnownFailures* out);

}  // namespace difftest
