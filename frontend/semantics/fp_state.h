// FPU/SIMD state management (SDM vol. 1, 10.5 and 13; vol. 2, FXSAVE/FXRSTOR/XSAVE/XRSTOR/
// XSAVEOPT/LDMXCSR/STMXCSR/XGETBV/XSETBV): the binders the group-15 (0F AE) and group-7
// (0F 01 D0/D1) binders call for their FPU-state members, and the state-image helpers shared by
// the FXSAVE and XSAVE files. docs/fp-state.md describes the layouts.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"
#include "frontend/insn.h"
#include "frontend/semantics/registry.h"

namespace umbra {

// 0F AE /0../6 with a memory operand (FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, XSAVE, XRSTOR,
// XSAVEOPT); nullptr for any other ModRM.reg.
Handler bind_fp_state_grp15(const Insn& i);
// 0F 01 D0 (XGETBV) and D1 (XSETBV); `modrm` is the ModRM byte; nullptr for the others.
Handler bind_xcr(uint8_t modrm);

// MXCSR bits this CPU implements (MXCSR_MASK; SDM vol. 1, 11.6.6): all 16 defined bits, DAZ
// included. A load that sets any other bit raises #GP(0).
constexpr uint32_t kMxcsrMask = 0xFFFF;
// XCR0 bits Umbra supports: x87 (bit 0) and SSE (bit 1) (SDM vol. 1, 13.3).
constexpr uint64_t kXcr0Supported = 0x3;
// Size of the XSAVE area for x87 | SSE: the 512-byte legacy region and the 64-byte header.
constexpr unsigned kXsaveAreaSize = 576;

namespace fpimg {

// Legacy-region (FXSAVE image) offsets (SDM vol. 2, FXSAVE, tables 3-53 and 3-56).
constexpr unsigned kFcw = 0, kFsw = 2, kFtw = 4, kFop = 6, kFip = 8, kFcs = 12, kFdp = 16,
                   kFds = 20, kMxcsr = 24, kMxcsrMaskOff = 28, kSt = 32, kXmm = 160;
constexpr unsigned kLegacySize = 512;
// XSAVE header (SDM vol. 1, 13.4.2).
constexpr unsigned kXstateBv = 512, kXcompBv = 520;

// Writes the x87 fields (FCW .. FDS and ST0-ST7 in stack order, bytes 0-23 less 24-31, and
// 32-159) in the 64-bit (`fmt64`, REX.W) or 32-bit format; reserved bytes are written as 0.
void store_x87(const CpuState& cpu, uint8_t* img, bool fmt64);
// Loads them back; the full tag word is rebuilt from the abridged one and the registers'
// contents (SDM vol. 1, 10.5.1.1).
void load_x87(CpuState& cpu, const uint8_t* img, bool fmt64);
// x87 state after FINIT-like initialisation as XRSTOR sets it (SDM vol. 1, 13.6).
void init_x87(CpuState& cpu);
// Whether the x87 state is in its initial configuration (XINUSE[0] = 0).
bool x87_is_init(const CpuState& cpu);
// The XMM registers available in the current mode: 16 in 64-bit mode, 8 otherwise.
unsigned xmm_count(const CpuState& cpu);
bool xmm_is_init(const CpuState& cpu);

// The abridged tag (one bit per physical register, 1 = not empty) of a full tag word.
uint8_t abridged_tag(uint16_t ftw);
// The full tag of physical register `r` (valid 0, zero 1, special 2) from its contents.
unsigned tag_of_contents(const uint8_t* reg80);

// Guest-memory blocks of the state images: `linear` is already segment-checked and aligned.
// Each probe faults as the first access to that page would, before anything is written.
void probe_writable(CpuState& cpu, uint64_t linear, unsigned size, unsigned seg);
void read_block(CpuState& cpu, uint64_t linear, unsigned seg, uint8_t* buf, unsigned size);
// Writes bytes [begin, end) of `buf` (8-byte multiples) to linear + begin.
void write_block(CpuState& cpu, uint64_t linear, unsigned seg, const uint8_t* buf, unsigned begin,
                 unsigned end);

}  // namespace fpimg

// XSAVE family (fp_state_xsave.cpp).
Handler bind_xsave_family(unsigned ext);

}  // namespace umbra
