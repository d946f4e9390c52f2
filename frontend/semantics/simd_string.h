// SSE4.2 string and CRC instructions (simd_string*.cpp): internal interfaces.
#pragma once

#include <cstdint>

#include "frontend/semantics/simd_dispatch.h"

namespace umbra {

// CRC-32C accumulation of the low `bytes` bytes of `data` as CRC32 computes it.
uint32_t crc32c_update(uint32_t crc, uint64_t data, unsigned bytes);

void register_crc32(SimdTable& t);    // simd_string_crc32.cpp
void register_pcmpstr(SimdTable& t);  // simd_string_pcmpstr.cpp

}  // namespace umbra
