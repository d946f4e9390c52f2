// Helpers shared by the FPU/SIMD form files (forms_fp_*.cpp). Every FPU/SIMD form's name
// starts with "fp: " (`--forms '^fp: '`); a run without --forms leaves them out, so the integer
// and system runs stay as they were, and CTest runs them as difftest_fp.
#pragma once

#include <cstdint>
#include <vector>

#include "forms.h"
#include "fp_values.h"

namespace difftest {

constexpr const char* kFpPrefix = "fp: ";

// An XMM register number (0..15; 8..15 need REX) whose initial contents are refilled with
// values of `lane` most of the time.
uint8_t fp_xmm(Gen& g, Lane lane);
// An MMX register (0..7); its initial contents (the significand of the physical x87 register it
// aliases) are refilled with integers most of the time.
uint8_t fp_mm(Gen& g);
// A memory operand of `size` bytes for an FPU/SIMD form, its initial contents planted with
// values of `lane`; `align` 16 or 64 for forms that require it (a misaligned operand is chosen
// now and then: #GP(0)), 0 for none.
// `plant` false: the caller plants the contents itself (state images).
bool fp_mem(Gen& g, Ib& ib, unsigned size, bool write, unsigned align, Lane lane, RmOp* rm,
            bool plant = true);
// Marks the memory operand of `size` bytes as a multi-part FPU state image (Ib::fp_span_lo).
void fp_span(Ib& ib, unsigned size);
// Writes `n` bytes at `addr` of initial memory as a series of plants (fails quietly once the
// sequence has written memory; the random contents then stay).
// `critical`: later plants may not overlap it (state images a later operand must not corrupt).
// Returns false if some part could not be planted.
bool fp_plant(Gen& g, uint64_t addr, const uint8_t* bytes, unsigned n, bool critical = false);

// Now and then (1 in 64) a LOCK prefix: #UD for every x87, MMX and SSE instruction (SDM vol. 2,
// LOCK: only read-modify-write integer instructions with a memory destination take it).
void fp_maybe_lock(Gen& g, Ib& ib);

// Registration (forms_fp_simd.cpp, forms_fp_x87.cpp, forms_fp_state.cpp).
void add_fp_simd_forms(std::vector<Form>& out);
void add_fp_x87_forms(std::vector<Form>& out);
void add_fp_state_forms(std::vector<Form>& out);

}  // namespace difftest
