// Decimal arithmetic (SDM vol. 1, 7.3.2.4 and vol. 2, DAA/DAS/AAA/AAS/AAM/AAD): adjust AL/AX
// after binary arithmetic on packed or unpacked BCD. Valid only outside 64-bit mode; the
// decoder turns these opcodes into #UD in 64-bit mode.
//
// The SDM leaves some flags undefined; the values here are what the reference host (AMD EPYC)
// produces, verified exhaustively over AX x CF x AF (docs/semantics.md, "Undefined flags").
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

inline bool get_af(const CpuState& cpu) {
  return arith_flags(cpu) & rf::AF;
}

// Signed overflow of an 8-bit a + b = r / a - b = r (bit 7 of the OF formula).
inline bool add_overflow8(uint8_t a, uint8_t b, uint8_t r) {
  return (a ^ r) & (b ^ r) & 0x80;
}
inline bool sub_overflow8(uint8_t a, uint8_t b, uint8_t r) {
  return (a ^ b) & (a ^ r) & 0x80;
}

// DAA / DAS: packed BCD adjust of AL after an addition / subtraction.
template <bool Subtract>
void decimal_adjust(CpuState& cpu, const Insn& i) {
  const uint8_t al = static_cast<uint8_t>(cpu.gpr[RAX]);
  const bool cf = get_cf(cpu);
  const bool af = get_af(cpu);
  uint8_t adjust = 0;
  bool new_cf = false;
  const bool low_adjust = (al & 0xf) > 9 || af;
  if (low_adjust) {
    adjust = 6;
    // DAS: CF <- old CF or the borrow of AL - 6. (DAA's carry of AL + 6 needs AL > 0xF9, which
    // the high adjustment below covers.)
    new_cf = Subtract && (cf || al < 6);
  }
  if (al > 0x99 || cf) {
    adjust += 0x60;
    new_cf = true;
  }
  const uint8_t r =
      Subtract ? static_cast<uint8_t>(al - adjust) : static_cast<uint8_t>(al + adjust);
  write_gpr<uint8_t>(cpu, RAX, r);
  // OF is undefined; the host sets it to the signed overflow of AL +/- the total adjustment.
  const bool of = Subtract ? sub_overflow8(al, adjust, r) : add_overflow8(al, adjust, r);
  set_arith_flags(
      cpu, zf_sf_pf(r, 1) | (new_cf ? rf::CF : 0) | (low_adjust ? rf::AF : 0) | (of ? rf::OF : 0));
  next_rip(cpu, i);
}

// AAA / AAS: unpacked BCD adjust of AX after an addition / subtraction. The SDM's
// "AX <- AX + 106H" (AAA) and "AX <- AX - 6; AH <- AH - 1" (AAS) are one 16-bit +/- 0x106.
template <bool Subtract>
void ascii_adjust(CpuState& cpu, const Insn& i) {
  const uint16_t ax = static_cast<uint16_t>(cpu.gpr[RAX]);
  const bool adjust = (ax & 0xf) > 9 || get_af(cpu);
  const uint16_t delta = adjust ? 0x106 : 0;
  const uint16_t u =
      Subtract ? static_cast<uint16_t>(ax - delta) : static_cast<uint16_t>(ax + delta);
  write_gpr<uint16_t>(cpu, RAX, static_cast<uint16_t>(u & 0xff0f));
  // OF, SF, ZF, PF are undefined; the host derives them from the 16-bit sum/difference u
  // before AL's high nibble is cleared: ZF = (u == 0), SF = bit 15, PF from u's low byte,
  // OF = 16-bit signed overflow.
  const bool of = Subtract ? ((ax ^ delta) & (ax ^ u) & 0x8000) : ((ax ^ u) & (delta ^ u) & 0x8000);
  set_arith_flags(cpu, zf_sf_pf(u, 2) | (adjust ? rf::CF | rf::AF : 0) | (of ? rf::OF : 0));
  next_rip(cpu, i);
}

// AAM imm8: AH = AL / imm8, AL = AL mod imm8; imm8 = 0 is #DE.
void handler_aam(CpuState& cpu, const Insn& i) {
  const uint8_t base = static_cast<uint8_t>(i.imm);
  if (base == 0) raise_fault(cpu, kDE);
  const uint8_t al = static_cast<uint8_t>(cpu.gpr[RAX]);
  const uint8_t q = al / base, r = al % base;
  write_gpr<uint16_t>(cpu, RAX, static_cast<uint16_t>(q << 8 | r));
  // SF, ZF, PF from AL; OF, AF, CF undefined: the host clears them.
  set_arith_flags(cpu, zf_sf_pf(r, 1));
  next_rip(cpu, i);
}

// AAD imm8: AL = AL + AH * imm8, AH = 0.
void handler_aad(CpuState& cpu, const Insn& i) {
  const uint8_t base = static_cast<uint8_t>(i.imm);
  const uint8_t al = static_cast<uint8_t>(cpu.gpr[RAX]);
  const uint8_t ah = static_cast<uint8_t>(cpu.gpr[RAX] >> 8);
  const uint8_t scaled = static_cast<uint8_t>(ah * base);
  const uint8_t r = static_cast<uint8_t>(al + scaled);
  write_gpr<uint16_t>(cpu, RAX, r);
  // SF, ZF, PF from AL; OF, AF, CF undefined: the host gives the flags of the 8-bit addition
  // AL + (AH * imm8), which is exactly the lazy ADD record.
  set_lazy<uint8_t>(cpu, kLazyAdd, r, al, scaled);
  next_rip(cpu, i);
}

template <Handler H>
Handler fixed(const Insn&) {
  return H;
}

}  // namespace

void register_arith_decimal(BinderTable& t) {
  bind(t, Op::DAA, &fixed<&decimal_adjust<false>>);
  bind(t, Op::DAS, &fixed<&decimal_adjust<true>>);
  bind(t, Op::AAA, &fixed<&ascii_adjust<false>>);
  bind(t, Op::AAS, &fixed<&ascii_adjust<true>>);
  bind(t, Op::AAM, &fixed<&handler_aam>);
  bind(t, Op::AAD, &fixed<&handler_aad>);
}

}  // namespace umbra
