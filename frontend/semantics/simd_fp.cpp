#include "frontend/semantics/simd_dispatch.h"

namespace umbra {

void register_simd_fp(SimdTable&) {}

}  // namespace umbra
