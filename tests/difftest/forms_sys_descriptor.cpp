// LAR, LSL, VERR, VERW (SDM vol. 2; vol. 3, 5.10.1-5.10.3) with real selectors, against the
// host's GDT and Umbra's mirror of it. ARPL does not exist in 64-bit mode (63 is MOVSXD, which
// forms_datamov covers).
#include "forms_sys.h"

namespace difftest {

namespace {

// 0F 02 LAR r, r/m16 and 0F 03 LSL r, r/m16. ZF tells whether the descriptor is visible; the
// destination changes only then. LAR's bits 19:16 (32/64-bit destinations) are undefined: the
// host returns the limit's bits 19:16 there, Umbra 0 (docs/system.md). They are masked, so LAR
// to a 32/64-bit register must be the last instruction.
bool gen_lar_lsl(Gen& g, bool lsl, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, lsl ? 0x03 : 0x02);
  const RmOp src = g.rm(ib, 2, Role::kSrc, MemReq{}, 35);
  const uint8_t dst = g.reg(ib, size, Role::kDst);
  set_rm(ib, dst, src);
  set_selector_operand(g, ib, src, pick_selector(g, true));
  if (!lsl && size > 2) ib.mask_bits(dst, 0xf0000);
  ib.fx.flags_def = fl::ZF;
  return g.emit(ib);
}

// 0F 00 /4 VERR r/m16, /5 VERW r/m16: ZF only.
bool gen_verify(Gen& g, bool write) {
  Ib ib = g.begin(g.rng.chance(1, 4) ? 2 : 4);
  ib.s.set_opcode(0x0f, 0x00);
  const RmOp rm = g.rm(ib, 2, Role::kSrc, MemReq{}, 35);
  set_rm(ib, write ? 5 : 4, rm);
  set_selector_operand(g, ib, rm, pick_selector(g, true));
  ib.fx.flags_def = fl::ZF;
  return g.emit(ib);
}

}  // namespace

void add_sys_descriptor_forms(std::vector<Form>& out) {
  for (bool lsl : {false, true}) {
    const std::string mn = lsl ? "lsl" : "lar";
    for (unsigned size : {2u, 4u, 8u})
      out.push_back({"sys: " + mn + " r" + size_suffix(size) + ", r/m16", mn, 0,
                     [=](Gen& g) { return gen_lar_lsl(g, lsl, size); }});
  }
  out.push_back({"sys: verr r/m16", "verr", 0, [](Gen& g) { return gen_verify(g, false); }});
  out.push_back({"sys: verw r/m16", "verw", 0, [](Gen& g) { return gen_verify(g, true); }});
}

}  // namespace difftest
