// Helpers for the FPU-state and SSE4.2 string tests (fp_state_*_test.cpp,
// simd_string_*_test.cpp): a CPU model with FXSR, SSE, XSAVE and SSE4.2 (as the default model
// has them), one without any of them, and running real encodings through the decoder.
#pragma once

#include <gtest/gtest.h>

#include <csetjmp>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "frontend/decoder.h"
#include "frontend/system/cpu_model.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {

inline const CpuModel& fp_test_model() {
  static const CpuModel m = [] {
    CpuModel c = default_cpu_model();
    for (Feature f : {Feature::FPU, Feature::FXSR, Feature::SSE, Feature::SSE2, Feature::XSAVE,
                      Feature::SSE4_2})
      c.features[feature_word(f)] |= feature_mask(f);
    return c;
  }();
  return m;
}

// The default model without any FPU/SIMD feature (for the #UD-by-model cases).
inline const CpuModel& fp_bare_model() {
  static const CpuModel m = model_with(
      {}, {Feature::FPU, Feature::MMX, Feature::FXSR, Feature::SSE, Feature::SSE2, Feature::SSE3,
           Feature::SSSE3, Feature::SSE4_1, Feature::SSE4_2, Feature::XSAVE});
  return m;
}

// 64-bit mode, CPL `cpl`, CR4.OSFXSR and CR4.OSXSAVE set, the FP test model.
inline void enter_fp_long_mode(CpuState& c, unsigned cpl = 0) {
  enter_long_mode(c, cpl);
  c.cpu_model = &fp_test_model();
  c.cr4 |= cr4::OSFXSR | cr4::OSXSAVE | cr4::OSXMMEXCPT;
  c.xcr0 = 3;
  c.mxcsr = 0x1F80;
  c.x87.fcw = 0x037F;
  c.x87.ftw = 0xFFFF;
}

// Decodes `bytes` (64-bit mode unless `mode64` is false) and runs the instruction once.
inline Outcome exec_bytes(TestCpu& t, const std::vector<uint8_t>& b, bool mode64 = true) {
  return exec_decoded(t, b, mode64);
}

}  // namespace umbra::test
