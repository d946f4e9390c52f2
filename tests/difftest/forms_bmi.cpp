// BMI1 (ANDN BEXTR BLSI BLSMSK BLSR), BMI2 (BZHI MULX PDEP PEXT RORX SARX SHLX SHRX), all VEX
// encoded (SDM vol. 2, 2.3; VEX.L must be 0, VEX.W selects 64-bit operands), and ADX (ADCX,
// ADOX; legacy encoded with a mandatory 66/F3 prefix).
#include "forms.h"

namespace difftest {

namespace {

std::string sz(unsigned size) {
  return size_suffix(size);
}

// A VEX instruction: opcode byte `op` in `map`, prefix pp, 32/64-bit by VEX.W.
Ib vex_begin(Gen& g, unsigned size, Vex map, uint8_t pp, uint8_t op) {
  Ib ib = g.begin(4);
  ib.s.vex = map;
  ib.s.vex_pp = pp;
  ib.s.vex_w = size == 8;
  ib.s.set_opcode(op);
  ib.s.force_rex = false;
  // VEX.L = 1 is #UD for these (SDM vol. 2, 2.5.1); generated rarely to check that.
  if (g.rng.chance(1, 64)) ib.s.vex_l = ib.expect_ud = true;
  return ib;
}

enum class Shape {
  kRegVvvvRm,  // reg <- vvvv op r/m        (ANDN, PDEP, PEXT, MULX)
  kRegRmVvvv,  // reg <- r/m op vvvv        (BEXTR, BZHI, SARX, SHLX, SHRX)
  kVvvvRm,     // vvvv <- op r/m, /digit    (BLSI, BLSMSK, BLSR)
};

struct VexForm {
  const char* name;
  Vex map;
  uint8_t pp;
  uint8_t op;
  Shape shape;
  uint8_t digit;
  uint64_t def, undef;
  uint32_t feature;
};

constexpr uint64_t kAfPf = fl::AF | fl::PF;
constexpr uint64_t kZsco = fl::ZF | fl::SF | fl::CF | fl::OF;

const VexForm kVexForms[] = {
    // ANDN: SF ZF from the result, OF CF cleared, AF PF undefined.
    {"andn", Vex::kMap0F38, 0, 0xf2, Shape::kRegVvvvRm, 0, fl::SF | fl::ZF | fl::OF | fl::CF, kAfPf,
     feat::kBmi1},
    // BEXTR: ZF from the result, CF OF cleared, AF SF PF undefined.
    {"bextr", Vex::kMap0F38, 0, 0xf7, Shape::kRegRmVvvv, 0, fl::ZF | fl::CF | fl::OF,
     fl::AF | fl::SF | fl::PF, feat::kBmi1},
    // BLSI/BLSMSK/BLSR: ZF SF CF defined, OF cleared, AF PF undefined.
    {"blsi", Vex::kMap0F38, 0, 0xf3, Shape::kVvvvRm, 3, kZsco, kAfPf, feat::kBmi1},
    {"blsmsk", Vex::kMap0F38, 0, 0xf3, Shape::kVvvvRm, 2, kZsco, kAfPf, feat::kBmi1},
    {"blsr", Vex::kMap0F38, 0, 0xf3, Shape::kVvvvRm, 1, kZsco, kAfPf, feat::kBmi1},
    // BZHI: ZF SF CF defined, OF cleared, AF PF undefined.
    {"bzhi", Vex::kMap0F38, 0, 0xf5, Shape::kRegRmVvvv, 0, kZsco, kAfPf, feat::kBmi2},
    // PDEP/PEXT/SARX/SHLX/SHRX/MULX/RORX: flags unaffected.
    {"pdep", Vex::kMap0F38, 3, 0xf5, Shape::kRegVvvvRm, 0, 0, 0, feat::kBmi2},
    {"pext", Vex::kMap0F38, 2, 0xf5, Shape::kRegVvvvRm, 0, 0, 0, feat::kBmi2},
    {"sarx", Vex::kMap0F38, 2, 0xf7, Shape::kRegRmVvvv, 0, 0, 0, feat::kBmi2},
    {"shlx", Vex::kMap0F38, 1, 0xf7, Shape::kRegRmVvvv, 0, 0, 0, feat::kBmi2},
    {"shrx", Vex::kMap0F38, 3, 0xf7, Shape::kRegRmVvvv, 0, 0, 0, feat::kBmi2},
};

bool gen_vex(Gen& g, const VexForm& f, unsigned size) {
  Ib ib = vex_begin(g, size, f.map, f.pp, f.op);
  uint8_t reg_field;
  RmOp rm;
  if (f.shape == Shape::kVvvvRm) {
    ib.s.vex_vvvv = g.reg(ib, size, Role::kDst);
    reg_field = f.digit;
    rm = g.rm(ib, size, Role::kSrc, MemReq{});
  } else {
    reg_field = g.reg(ib, size, Role::kDst);
    rm = g.rm(ib, size, Role::kSrc, MemReq{});
    ib.s.vex_vvvv = g.reg(ib, size, Role::kSrc);
    if (f.shape == Shape::kRegRmVvvv && g.rng.chance(1, 2)) {
      // Control/count operand: small values hit the interesting cases (start/length for
      // BEXTR, index for BZHI, shift counts).
      uint64_t v;
      const uint64_t want = f.op == 0xf7 && f.pp == 0 ? (g.rng.below(72) | (g.rng.below(72) << 8))
                                                      : g.rng.below(2 * 8 * size + 8);
      fix_operand(g, ib.s.vex_vvvv, size, want, &v);
    }
  }
  set_rm(ib, reg_field, rm);
  ib.fx.flags_def = f.def;
  ib.fx.flags_undef = f.undef;
  return g.emit(ib);
}

// MULX r_hi, r_lo(vvvv), r/m: RDX * r/m, flags unaffected (F2 0F38 F6).
bool gen_mulx(Gen& g, unsigned size) {
  Ib ib = vex_begin(g, size, Vex::kMap0F38, 3, 0xf6);
  const uint8_t hi = g.reg(ib, size, Role::kDst);
  ib.s.vex_vvvv = g.reg(ib, size, Role::kDst);
  const RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  set_rm(ib, hi, rm);
  return g.emit(ib);
}

// RORX r, r/m, imm8 (F2 0F3A F0); vvvv must be 1111b (encoded as register 0 here).
bool gen_rorx(Gen& g, unsigned size) {
  Ib ib = vex_begin(g, size, Vex::kMap0F3A, 3, 0xf0);
  const uint8_t r = g.reg(ib, size, Role::kDst);
  const RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  set_rm(ib, r, rm);
  ib.s.set_imm(g.rng.below(256), 1);
  return g.emit(ib);
}

// ADCX (66 0F 38 F6): r += r/m + CF, only CF written. ADOX (F3 0F 38 F6): the same with OF.
bool gen_adx(Gen& g, bool adox, unsigned size) {
  Ib ib = g.begin(size == 8 ? 8 : 4);
  ib.s.num_prefixes = 0;  // the mandatory prefix is the only one (no operand-size 66 here)
  ib.s.add_prefix(adox ? 0xf3 : 0x66);
  ib.s.set_opcode(0x0f, 0x38, 0xf6);
  const uint8_t r = g.reg(ib, size, Role::kDst);
  const RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  set_rm(ib, r, rm);
  const uint64_t f = adox ? fl::OF : fl::CF;
  ib.fx.flags_read = f;
  ib.fx.flags_def = f;
  return g.emit(ib);
}

}  // namespace

void add_bmi_forms(std::vector<Form>& out) {
  for (const VexForm& f : kVexForms) {
    for (unsigned s : {4u, 8u}) {
      std::string name = std::string(f.name) + " r" + sz(s) + ", ";
      switch (f.shape) {
        case Shape::kRegVvvvRm:
          name += "r" + sz(s) + ", r/m" + sz(s);
          break;
        case Shape::kRegRmVvvv:
          name += "r/m" + sz(s) + ", r" + sz(s);
          break;
        case Shape::kVvvvRm:
          name += "r/m" + sz(s);
          break;
      }
      out.push_back({name, f.name, f.feature, [&f, s](Gen& g) { return gen_vex(g, f, s); }});
    }
  }
  for (unsigned s : {4u, 8u}) {
    out.push_back({"mulx r" + sz(s) + ", r" + sz(s) + ", r/m" + sz(s), "mulx", feat::kBmi2,
                   [=](Gen& g) { return gen_mulx(g, s); }});
    out.push_back({"rorx r" + sz(s) + ", r/m" + sz(s) + ", imm8", "rorx", feat::kBmi2,
                   [=](Gen& g) { return gen_rorx(g, s); }});
    out.push_back({"adcx r" + sz(s) + ", r/m" + sz(s), "adcx", feat::kAdx,
                   [=](Gen& g) { return gen_adx(g, false, s); }});
    out.push_back({"adox r" + sz(s) + ", r/m" + sz(s), "adox", feat::kAdx,
                   [=](Gen& g) { return gen_adx(g, true, s); }});
  }
}

}  // namespace difftest
