// Self-check of the generator's encoder against Capstone (an independent decoder): every
// generated instruction must have the length Capstone finds and, where the form names one, the
// expected mnemonic. This validates the generator without running anything.
#pragma once

#include <string>

#include "gen.h"
#include "layout.h"

namespace difftest {

// False (with a description) if Capstone disagrees with an instruction of the case.
bool check_encoding(const CaseInput& in, const CaseMeta& meta, std::string* problem);

}  // namespace difftest
