#include "cpu_features.h"

#include <cpuid.h>

#include "forms.h"

namespace difftest {

uint32_t host_features() {
  unsigned a, b, c, d;
  uint32_t f = 0;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    if (c & (1u << 23)) f |= feat::kPopcnt;
    if (c & (1u << 13)) f |= feat::kCx16;
    if (c & (1u << 22)) f |= feat::kMovbe;
    if (c & (1u << 0)) f |= feat::kSse3;
    if (c & (1u << 9)) f |= feat::kSsse3;
    if (c & (1u << 19)) f |= feat::kSse41;
    if (c & (1u << 20)) f |= feat::kSse42;
    if ((c & (1u << 26)) && (c & (1u << 27))) f |= feat::kXsave;  // XSAVE and OSXSAVE
  }
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    if (b & (1u << 3)) f |= feat::kBmi1;
    if (b & (1u << 8)) f |= feat::kBmi2;
    if (b & (1u << 19)) f |= feat::kAdx;
    if (b & (1u << 10)) f |= feat::kInvpcid;
  }
  if (__get_cpuid(0x80000001, &a, &b, &c, &d)) {
    if (c & (1u << 0)) f |= feat::kLahf64;
    if (c & (1u << 5)) f |= feat::kLzcnt;  // ABM / LZCNT
    if (d & (1u << 27)) f |= feat::kRdtscp;
  }
  return f;
}

std::string feature_names(uint32_t mask) {
  static const char* const kNames[feat::kNumFeatures] = {"BMI1",
                                                         "BMI2",
                                                         "ADX",
                                                         "LZCNT",
                                                         "POPCNT",
                                                         "LAHF-SAHF(64)",
                                                         "CMPXCHG16B",
                                                         "MOVBE",
                                                         "INVPCID",
                                                         "RDTSCP",
                                                         "user FSGSBASE",
                                                         "#GP for SMSW/SGDT/SIDT (UMIP)",
                                                         "#GP for SLDT/STR (UMIP)",
                                                         "#GP for RDPMC",
                                                         "ICEBP as a #DB trap",
                                                         "SSE3",
                                                         "SSSE3",
                                                         "SSE4.1",
                                                         "SSE4.2",
                                                         "XSAVE (OSXSAVE)"};
  std::string s;
  for (unsigned i = 0; i < feat::kNumFeatures; ++i)
    if (mask & (1u << i)) s += (s.empty() ? "" : ", ") + std::string(kNames[i]);
  return s;
}

}  // namespace difftest
