// Operand values for the FPU/SIMD forms: the hard cases of IEEE 754 and x87 arithmetic (signed
// zeros, denormals, the normal limits, infinities, quiet and signalling NaNs with payloads,
// values at the integer conversion limits and halfway between integers, the x87's unsupported
// encodings) mixed with random bit patterns, and the random initial FPU/SIMD state of a case.
#pragma once

#include <cstdint>

#include "rng.h"

namespace difftest {

// Element types of a vector or memory operand (which generator fills it).
enum class Lane : uint8_t {
  kInt,  // packed integers: random bytes, edge values per element size
  kF32,
  kF64,
  kF80,  // x87 extended precision (10 bytes)
  kI16,  // x87 integer memory formats
  kI32,
  kI64,
  kBcd,  // x87 packed BCD (10 bytes)
};

uint32_t f32_value(Rng& rng);
uint64_t f64_value(Rng& rng);
// 80-bit value: significand in *sig, sign and exponent in *se.
void f80_value(Rng& rng, uint64_t* sig, uint16_t* se);
// An integer of `bytes` bytes (1, 2, 4, 8) from the edge values or random.
uint64_t int_value(Rng& rng, unsigned bytes);
// Packed BCD: 18 digits and a sign byte (sometimes invalid digits or sign bits).
void bcd_value(Rng& rng, uint64_t* lo, uint16_t* hi);

// Fills `n` bytes (a multiple of the lane size) with values of `lane`.
void fill_lanes(Rng& rng, Lane lane, uint8_t* p, unsigned n);

// A random MXCSR: rounding control, DAZ, FTZ, exception masks (mostly all masked, often a
// few unmasked, sometimes all unmasked) and sticky flags; reserved bits clear.
uint32_t random_mxcsr(Rng& rng);
// A random x87 control word: precision and rounding control, exception masks as above, and
// sometimes the reserved bits set.
uint16_t random_fcw(Rng& rng);

// A random FXSAVE64 image (layout.h) for the start of a case: control words as above, a status
// word with a random TOP, condition codes and sticky flags (a pending unmasked exception now
// and then), registers full, empty or in between with hard-case contents, XMM registers with
// lanes of every type.
void random_fp_state(Rng& rng, uint8_t* fx);
// The state after FNINIT and MXCSR = 1F80H with every register zero.
void initial_fp_state(uint8_t* fx);

}  // namespace difftest
