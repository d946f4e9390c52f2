// Dispatch of the SIMD and x87 escapes to their semantics.
//
// The decoder gives every SSE/MMX/AVX encoding the operation ESCAPE_SSE with Insn::opcode =
// opcode byte | map << 8 | VEX.L << 12 and Insn::ext = the mandatory-prefix column (0 none,
// 1 66, 2 F3, 3 F2; VEX.pp for VEX encodings), dst = Reg(ModRM.reg + REX.R) (an XMM/MMX number),
// src = the r/m operand (Reg: XMM/MMX number, or Mem); x87 encodings get ESCAPE_X87 with
// Insn::opcode = D8..DF (or 9B) and Insn::ext = the ModRM byte, dst = the r/m operand.
// (docs/decoder.md.) Each SIMD semantics file registers a binder per (map, opcode, column,
// VEX) here; the registry binds ESCAPE_SSE through bind_simd().
#pragma once

#include <cstdint>

#include "frontend/semantics/registry.h"

namespace umbra {

enum SimdColumn : uint8_t { kColNone = 0, kCol66 = 1, kColF3 = 2, kColF2 = 3 };
enum SimdMap : uint8_t { kMap0F = 1, kMap0F38 = 2, kMap0F3A = 3 };

struct SimdTable;

// Registers `b` for legacy (vex = false) or VEX (vex = true) encodings of `opcode` in `map`
// with mandatory-prefix column `col`. A later registration of the same key replaces it.
void register_simd(SimdTable& t, SimdMap map, uint8_t opcode, SimdColumn col, bool vex, Binder b);

// Registration entry points, one per SIMD semantics file (each file defines its own).
void register_simd_move(SimdTable& t);     // data movement, MOVD/MOVQ, shuffles/unpacks
void register_simd_int(SimdTable& t);      // MMX/SSE2/SSSE3/SSE4.1/4.2 integer
void register_simd_fp(SimdTable& t);       // SSE/SSE2/SSE3/SSE4.1 floating point, conversions
void register_simd_string(SimdTable& t);   // PCMPxSTRx, CRC32 (SSE4.2)

// The binder of ESCAPE_SSE: looks the Insn's key up in the table filled by the functions above.
Handler bind_simd(const Insn& insn);

}  // namespace umbra
