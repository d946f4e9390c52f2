// FPU/SIMD state instructions (SDM vol. 2 and vol. 1, 10.5 and 13): FXSAVE/FXRSTOR in both
// formats, XSAVE/XSAVEOPT/XRSTOR (x87 and SSE components), LDMXCSR/STMXCSR and EMMS.
#include <cstring>

#include "forms_fp.h"

namespace difftest {

namespace {

// An MXCSR value for LDMXCSR/FXRSTOR/XRSTOR images: mostly valid, sometimes with a reserved
// bit set (#GP(0)). Bit 17 is left alone: it is AMD's misaligned-exception mask (MXCSR_MASK
// 2FFFFH on the host), reserved on the Intel CPU Umbra models.
uint32_t image_mxcsr(Rng& rng) {
  uint32_t m = random_mxcsr(rng);
  if (rng.chance(1, 16)) m |= rng.coin() ? 1u << 16 : 1u << rng.range(18, 31);
  return m;
}

// A legacy-region image to restore: a random state (fp_values.h) with random FOP/FIP/FDP.
void make_fx_image(Gen& g, uint8_t* img) {
  Rng& rng = g.rng;
  random_fp_state(rng, img);
  // Now and then reserved control bits (FCW bit 6 clear, bits 13-15 set) and a B flag that
  // does not mirror ES: what FXRSTOR makes of them (variation fp-reserved-control-bits).
  if (!(g.disabled & kVarFpReservedBits) && rng.chance(1, 16)) {
    uint16_t fcw, fsw;
    std::memcpy(&fcw, img + fx::kFcw, 2);
    std::memcpy(&fsw, img + fx::kFsw, 2);
    fcw = static_cast<uint16_t>(fcw ^ (rng.next() & 0xe040));
    fsw = static_cast<uint16_t>(fsw ^ (rng.next() & 0x8000));
    std::memcpy(img + fx::kFcw, &fcw, 2);
    std::memcpy(img + fx::kFsw, &fsw, 2);
  }
  const uint16_t fop = static_cast<uint16_t>(rng.below(0x800));
  std::memcpy(img + fx::kFop, &fop, 2);
  // Canonical pointers: the AMD host sign-extends bit 47 of a non-canonical FIP/FDP loaded by
  // FXRSTOR64/XRSTOR64, which the SDM does not describe.
  auto canonical = [&] {
    return static_cast<uint64_t>(static_cast<int64_t>(rng.next() << 16) >> 16);
  };
  const uint64_t fip = canonical(), fdp = canonical();
  std::memcpy(img + fx::kFip, &fip, 8);
  std::memcpy(img + fx::kFdp, &fdp, 8);
  const uint32_t mxcsr = image_mxcsr(rng);
  std::memcpy(img + fx::kMxcsr, &mxcsr, 4);
}

// 0F AE /digit with a memory operand; `rex_w` selects the 64-bit format.
Ib grp15(unsigned digit, bool rex_w) {
  Ib ib;
  ib.s.rex_w = rex_w;
  ib.s.set_opcode(0x0f, 0xae);
  ib.s.modrm_reg = static_cast<uint8_t>(digit);
  return ib;
}

bool gen_fxsave(Gen& g, bool restore, bool rex_w) {
  Ib ib = grp15(restore ? 1 : 0, rex_w);
  g.fp_state();
  // A restored image must be the planted one: after a write of the sequence nothing can be
  // planted, and random bytes would make an image no software writes (reserved bits).
  if (restore && g.flow().mem_written) return false;
  RmOp rm;
  if (!fp_mem(g, ib, 512, !restore, 16, Lane::kInt, &rm, false)) return false;
  // A saved image's address must be known for the comparison's masks (compare.cpp), and the
  // image is not read back by a later instruction: the bytes that differ by design would be.
  if (!restore && (!ib.mem_addr_known || !g.is_last())) return false;
  fp_span(ib, 512);
  if (restore && ib.mem_addr_known) {
    uint8_t img[512];
    make_fx_image(g, img);
    // Bytes 464-511 are available to software and never read; the rest is planted.
    if (!fp_plant(g, ib.mem_addr, img, 464, true)) return false;
  }
  if (!restore && ib.mem_addr_known) ib.fp_image = ib.mem_addr;
  set_rm(ib, ib.s.modrm_reg, rm);
  return g.emit(ib);
}

// XSAVE (/4), XRSTOR (/5), XSAVEOPT (/6): EDX:EAX is the requested-feature bitmap. Only the
// x87 and SSE bits are asked for (RFBM = XCR0 & EDX:EAX): the host's XCR0 has more components
// than Umbra's, whose areas lie past the 576 bytes of the legacy region and header.
bool gen_xsave(Gen& g, unsigned digit, bool rex_w) {
  Ib ib = grp15(digit, rex_w);
  g.fp_state();
  const bool restore = digit == 5;
  if (g.flow().mem_written) return false;  // the header (and a restored image) is planted
  if (!g.is_free(RAX_) || !g.is_free(RDX_) ||
      !g.fix(RAX_, (g.rng.next() & ~0xffffffffull) | g.rng.below(4)) ||
      !g.fix(RDX_, g.rng.next() & ~0xffffffffull))
    return false;
  RmOp rm;
  if (!fp_mem(g, ib, 576, !restore, 64, Lane::kInt, &rm, false)) return false;
  if (!restore && (!ib.mem_addr_known || !g.is_last())) return false;
  fp_span(ib, 576);
  if (ib.mem_addr_known) {
    uint8_t img[576] = {};
    if (restore) {
      make_fx_image(g, img);
    }
    // Header: XSTATE_BV within x87|SSE; XCOMP_BV and the next 8 bytes zero except rarely
    // (#GP(0) on restore); bytes 24-63 random (not checked by the standard form).
    uint64_t bv = g.rng.below(4);
    std::memcpy(img + 512, &bv, 8);
    if (g.rng.chance(1, 32)) {
      const uint64_t junk = g.rng.next() & ~(uint64_t{1} << 63);
      std::memcpy(img + 520 + 8 * g.rng.below(2), &junk, 8);
    }
    g.rng.fill(img + 536, 40);
    // XSAVE reads and updates XSTATE_BV: its header is planted too.
    if (restore ? !fp_plant(g, ib.mem_addr, img, 576, true)
                : !fp_plant(g, ib.mem_addr + 512, img + 512, 64, true))
      return false;
    if (!restore) ib.fp_image = ib.mem_addr;
  }
  set_rm(ib, ib.s.modrm_reg, rm);
  return g.emit(ib);
}

bool gen_mxcsr(Gen& g, bool load) {
  Ib ib = grp15(load ? 2 : 3, false);
  g.fp_state();
  RmOp rm;
  if (!fp_mem(g, ib, 4, !load, 0, Lane::kInt, &rm, false)) return false;
  if (load && ib.mem_addr_known && !g.plant(ib.mem_addr, image_mxcsr(g.rng), 4, true)) return false;
  set_rm(ib, ib.s.modrm_reg, rm);
  return g.emit(ib);
}

bool gen_emms(Gen& g) {
  Ib ib;
  ib.s.set_opcode(0x0f, 0x77);
  g.fp_state();
  return g.emit(ib);
}

}  // namespace

void add_fp_state_forms(std::vector<Form>& out) {
  const std::string p = kFpPrefix;
  out.push_back(
      {p + "fxsave m512byte", "fxsave", 0, [](Gen& g) { return gen_fxsave(g, false, false); }});
  out.push_back(
      {p + "fxsave64 m512byte", "fxsave64", 0, [](Gen& g) { return gen_fxsave(g, false, true); }});
  out.push_back(
      {p + "fxrstor m512byte", "fxrstor", 0, [](Gen& g) { return gen_fxsave(g, true, false); }});
  out.push_back(
      {p + "fxrstor64 m512byte", "fxrstor64", 0, [](Gen& g) { return gen_fxsave(g, true, true); }});
  out.push_back(
      {p + "xsave mem", "xsave", feat::kXsave, [](Gen& g) { return gen_xsave(g, 4, false); }});
  out.push_back(
      {p + "xsave64 mem", "xsave64", feat::kXsave, [](Gen& g) { return gen_xsave(g, 4, true); }});
  out.push_back(
      {p + "xrstor mem", "xrstor", feat::kXsave, [](Gen& g) { return gen_xsave(g, 5, false); }});
  out.push_back(
      {p + "xrstor64 mem", "xrstor64", feat::kXsave, [](Gen& g) { return gen_xsave(g, 5, true); }});
  out.push_back({p + "xsaveopt mem", "xsaveopt", feat::kXsave,
                 [](Gen& g) { return gen_xsave(g, 6, false); }});
  out.push_back({p + "xsaveopt64 mem", "xsaveopt64", feat::kXsave,
                 [](Gen& g) { return gen_xsave(g, 6, true); }});
  out.push_back({p + "ldmxcsr m32", "ldmxcsr", 0, [](Gen& g) { return gen_mxcsr(g, true); }});
  out.push_back({p + "stmxcsr m32", "stmxcsr", 0, [](Gen& g) { return gen_mxcsr(g, false); }});
  out.push_back({p + "emms", "emms", 0, gen_emms});
}

}  // namespace difftest
