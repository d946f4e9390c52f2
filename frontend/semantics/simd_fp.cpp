// Entry point of the SSE/SSE2/SSE3/SSE4.1 floating-point semantics (docs/simd-fp.md); the
// instruction families live in simd_fp_arith.cpp, simd_fp_compare.cpp, simd_fp_convert.cpp,
// simd_fp_convert_mmx.cpp and simd_fp_sse41.cpp.
#include "frontend/semantics/simd_dispatch.h"
#include "frontend/semantics/simd_fp_internal.h"

namespace umbra {

void register_simd_fp(SimdTable& t) {
  simdfp::register_simd_fp_arith(t);
  simdfp::register_simd_fp_compare(t);
  simdfp::register_simd_fp_convert(t);
  simdfp::register_simd_fp_convert_mmx(t);
  simdfp::register_simd_fp_sse41(t);
}

}  // namespace umbra
