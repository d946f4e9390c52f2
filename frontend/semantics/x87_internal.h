// x87 register stack, tag word and status word helpers shared by the x87 semantics files
// (SDM vol. 1, chapter 8). CpuState::x87 keeps the registers in physical order and the full
// two-bit tag word (as FXSAVE's users in fp_state*.cpp also read it: 11 = empty). Only empty /
// not empty is authoritative: the x87 semantics write 00 for a non-empty register and the
// valid/zero/special encoding is derived from the contents wherever a tag word is stored
// (FSTENV/FSAVE and the host image), in full_tag_word() below; the abridged form belongs to
// FXSAVE (fp_state_image.cpp).
#pragma once

#include <cstdint>
#include <cstring>

#include "frontend/cpu_state.h"
#include "frontend/insn.h"

namespace umbra::x87 {

namespace fsw {
constexpr uint16_t IE = 1 << 0, DE = 1 << 1, ZE = 1 << 2, OE = 1 << 3, UE = 1 << 4, PE = 1 << 5,
                   SF = 1 << 6, ES = 1 << 7, C0 = 1 << 8, C1 = 1 << 9, C2 = 1 << 10, C3 = 1 << 14,
                   B = 1 << 15, kTopMask = 7 << 11, kExceptions = 0x3F;
}  // namespace fsw

// The control word as loaded by FLDCW/FLDENV/FRSTOR: bits 13..15 and 7 read as zero and bit 6
// as one (measured on the host; SDM vol. 1, figure 8-6 marks them reserved).
inline uint16_t loaded_fcw(uint16_t v) {
  return static_cast<uint16_t>((v & 0x1F3F) | 0x0040);
}

inline unsigned top(const CpuState& c) {
  return (c.x87.fsw >> 11) & 7;
}
inline void set_top(CpuState& c, unsigned t) {
  c.x87.fsw = static_cast<uint16_t>((c.x87.fsw & ~fsw::kTopMask) | ((t & 7) << 11));
}
inline unsigned phys(const CpuState& c, unsigned i) {
  return (top(c) + i) & 7;
}
inline bool phys_valid(const CpuState& c, unsigned p) {
  return ((c.x87.ftw >> (2 * p)) & 3) != 3;
}
inline void set_phys_valid(CpuState& c, unsigned p, bool valid) {
  const uint16_t cleared = static_cast<uint16_t>(c.x87.ftw & ~(3u << (2 * p)));
  c.x87.ftw = static_cast<uint16_t>(valid ? cleared : (cleared | (3u << (2 * p))));
}

// The two-bit tag of one physical register from its contents (SDM vol. 1, 8.1.7): 00 valid,
// 01 zero, 10 special (NaN, infinity, denormal, unsupported), 11 empty.
inline unsigned full_tag(const CpuState& c, unsigned p) {
  if (!phys_valid(c, p)) return 3;
  uint64_t mant;
  uint16_t se;
  std::memcpy(&mant, c.x87.st[p], 8);
  std::memcpy(&se, c.x87.st[p] + 8, 2);
  const unsigned exp = se & 0x7FFF;
  if (exp == 0) return mant == 0 ? 1 : 2;
  if (exp == 0x7FFF || !(mant >> 63)) return 2;
  return 0;
}

inline uint16_t full_tag_word(const CpuState& c) {
  uint16_t w = 0;
  for (unsigned p = 0; p < 8; ++p) w = static_cast<uint16_t>(w | (full_tag(c, p) << (2 * p)));
  return w;
}

// Loading a full tag word keeps only empty / not empty: the processor derives the rest from the
// register contents (SDM vol. 1, 8.1.7).
inline void set_full_tag_word(CpuState& c, uint16_t w) {
  uint16_t empty_only = 0;
  for (unsigned p = 0; p < 8; ++p)
    if (((w >> (2 * p)) & 3) == 3) empty_only = static_cast<uint16_t>(empty_only | (3u << (2 * p)));
  c.x87.ftw = empty_only;
}

// ES and B follow the exception flags and the masks (SDM vol. 1, 8.1.3.1): set while any
// exception flag is set whose mask bit is clear.
inline void update_summary(CpuState& c) {
  const bool pending = (c.x87.fsw & ~c.x87.fcw & fsw::kExceptions) != 0;
  c.x87.fsw = static_cast<uint16_t>(pending ? (c.x87.fsw | fsw::ES | fsw::B)
                                            : (c.x87.fsw & ~(fsw::ES | fsw::B)));
}

// Instructions that wait (all but FNINIT, FNCLEX, FNSTCW, FNSTSW, FNSTENV, FNSAVE) first deliver
// a pending unmasked exception (SDM vol. 1, 8.6 and 8.7). With CR0.NE set that is #MF. With
// CR0.NE clear the legacy FERR# pin would signal an external interrupt (IRQ 13 through the PIC);
// Umbra does not model FERR#, so the instruction simply proceeds (docs/x87.md).
void check_pending_mf(CpuState& cpu);

// Records FIP/FCS/FOP (and FDP/FDS for memory forms) for a non-control instruction (SDM vol. 1,
// 8.1.8 and 8.1.9).
void record_last_instruction(CpuState& cpu, const Insn& i);

// Handlers for the control instructions (x87_control.cpp). Return false when the encoding is not
// one of theirs.
bool run_control(CpuState& cpu, const Insn& i);

}  // namespace umbra::x87
