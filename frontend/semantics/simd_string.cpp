// SSE4.2 string and CRC instructions: registration (simd_string_crc32.cpp,
// simd_string_pcmpstr.cpp).
#include "frontend/semantics/simd_string.h"

#include "frontend/semantics/simd_dispatch.h"

namespace umbra {

void register_simd_string(SimdTable& t) {
  register_crc32(t);
  register_pcmpstr(t);
}

}  // namespace umbra
