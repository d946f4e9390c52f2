// Host CPU features the generator needs to know about (CPUID, SDM vol. 2, CPUID).
#pragma once

#include <cstdint>
#include <string>

namespace difftest {

// Bit set of feat:: values (forms.h) the host supports.
uint32_t host_features();
// Human-readable names of the bits in `mask`.
std::string feature_names(uint32_t mask);

}  // namespace difftest
