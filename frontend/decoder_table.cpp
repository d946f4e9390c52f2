// Builds the decoder's flat lookup arrays from the declarative .inc tables at compile time
// (constinit: no static-initialisation order issue, no run-time cost).
#include "frontend/decoder_table.h"

namespace umbra::dec {

namespace {

constexpr uint8_t check_bits(Loc l) {
  switch (l) {
    case Loc::M:
      return form_check::kMemOnly;
    case Loc::R:
      return form_check::kRegOnly;
    case Loc::S:
      return form_check::kSreg;
    case Loc::Cr:
      return form_check::kCr;
    case Loc::Dr:
      return form_check::kDr;
    case Loc::Rf:
      return form_check::kForceReg;
    default:
      return 0;
  }
}

constexpr FormInfo form(Loc dst, Loc src, Loc src2, Imm imm, Size size, uint8_t src_size,
                        bool modrm) {
  return FormInfo{
      dst,   src,
      src2,  imm,
      size,  src_size,
      modrm, static_cast<uint8_t>(check_bits(dst) | check_bits(src) | check_bits(src2))};
}

}  // namespace

const FormInfo kForms[static_cast<size_t>(Form::kCount)] = {
#define FORM(name, dst, src, src2, imm, size, src_size, modrm) \
  form(Loc::dst, Loc::src, Loc::src2, Imm::imm, Size::size, src_size, modrm),
#include "frontend/opcode_forms.inc"
#undef FORM
};

namespace {

// Mandatory-prefix column order: none, 66, F3, F2 (the same order as VEX.pp).
constexpr uint8_t kColumnSel[4] = {NP, P66, PF3, PF2};

class Builder {
 public:
  constexpr Builder() : t_{}, claimed_legacy_{}, claimed_esc_{}, claimed_vex_{}, claimed_grp_{} {}

  // One-byte map: ANY -> both mode columns, LEG -> 16/32-bit column (and the 64-bit column,
  // flagged I64, unless an L64 row claims it), L64 -> 64-bit column.
  constexpr void legacy(unsigned first, unsigned last, unsigned sel, Form form, Op op,
                        unsigned flags, Group group) {
    for (unsigned opc = first; opc <= last; ++opc) {
      OpcodeEntry e = entry(op, form, group, 0, flags);
      if (sel & (ANY | LEG)) put(t_.legacy[0][opc], claimed_legacy_[0][opc], e, true);
      if (sel & (ANY | L64)) put(t_.legacy[1][opc], claimed_legacy_[1][opc], e, true);
      if (sel & LEG) {
        OpcodeEntry inv = e;
        inv.flags |= I64;
        put(t_.legacy[1][opc], claimed_legacy_[1][opc], inv, false);
      }
    }
  }

  // Escaped maps (index 0 = 0F, 1 = 0F38, 2 = 0F3A) and VEX maps (1..3, stored 0..2).
  constexpr void escaped(unsigned map, unsigned first, unsigned last, unsigned sel, Form form,
                         Op op, unsigned flags, Group group) {
    for (unsigned opc = first; opc <= last; ++opc)
      columns(sel, entry(op, form, group, 0, flags), [&](unsigned col) -> Slot {
        return {t_.escaped[map][col][opc], claimed_esc_[map][col][opc]};
      });
  }
  constexpr void vex(unsigned map, unsigned first, unsigned last, unsigned sel, Form form, Op op,
                     unsigned flags, Group group) {
    for (unsigned opc = first; opc <= last; ++opc)
      columns(sel, entry(op, form, group, 0, flags), [&](unsigned col) -> Slot {
        return {t_.vex[map - 1][col][opc], claimed_vex_[map - 1][col][opc]};
      });
  }

  constexpr void member(Group g, unsigned reg, unsigned sel, ModSel mod, Form form, Op op,
                        unsigned flags, unsigned rm_mask, Group nested) {
    OpcodeEntry e = entry(op, form, nested, static_cast<uint8_t>(rm_mask), flags);
    for (unsigned isreg = 0; isreg < 2; ++isreg) {
      if ((mod == MEM && isreg) || (mod == REG && !isreg)) continue;
      columns(sel, e, [&](unsigned col) -> Slot {
        return {t_.group[g][col][reg][isreg], claimed_grp_[g][col][reg][isreg]};
      });
    }
  }

  constexpr void amd3dnow(unsigned suffix) {
    t_.amd3dnow[suffix] = entry(Op::ESCAPE_SSE, Form::Wx_Ib, G_NONE, 0, NONE);
  }

  constexpr const DecoderTables& tables() const { return t_; }

 private:
  struct Slot {
    OpcodeEntry& e;
    bool& claimed;
  };

  static constexpr OpcodeEntry entry(Op op, Form form, Group group, uint8_t rm_mask,
                                     unsigned flags) {
    return OpcodeEntry{static_cast<uint8_t>(op), form, static_cast<uint8_t>(group), rm_mask, flags};
  }

  // An explicit selector always writes and claims; ANY only fills unclaimed slots, so the
  // order of rows in a table does not matter.
  static constexpr void put(OpcodeEntry& slot, bool& claimed, const OpcodeEntry& e,
                            bool explicit_sel) {
    if (explicit_sel) {
      slot = e;
      claimed = true;
    } else if (!claimed) {
      slot = e;
    }
  }

  template <typename SlotFn>
  static constexpr void columns(unsigned sel, const OpcodeEntry& e, SlotFn slot) {
    for (unsigned col = 0; col < 4; ++col) {
      Slot s = slot(col);
      if (sel & kColumnSel[col]) {
        OpcodeEntry m = e;
        // 66 chosen as a mandatory prefix is not an operand-size override.
        if (col == 1) m.flags |= M66;
        put(s.e, s.claimed, m, true);
      } else if (sel & ANY) {
        put(s.e, s.claimed, e, false);
      }
    }
  }

  DecoderTables t_;
  bool claimed_legacy_[2][256];
  bool claimed_esc_[3][4][256];
  bool claimed_vex_[3][4][256];
  bool claimed_grp_[kNumGroups][4][8][2];
};

constexpr Builder build() {
  Builder b;
  // One-byte map.
#define X(opc, sel, form, op, flags) b.legacy(opc, opc, sel, Form::form, Op::op, flags, G_NONE);
#define XR(first, last, sel, form, op, flags) \
  b.legacy(first, last, sel, Form::form, Op::op, flags, G_NONE);
#define GRP(opc, sel, form, group, flags) \
  b.legacy(opc, opc, sel, Form::form, Op::INVALID, flags, group);
#include "frontend/opcode_map_legacy.inc"
#undef X
#undef XR
#undef GRP
  // Escaped maps.
#define X(opc, sel, form, op, flags) \
  b.escaped(MAP, opc, opc, sel, Form::form, Op::op, flags, G_NONE);
#define XR(first, last, sel, form, op, flags) \
  b.escaped(MAP, first, last, sel, Form::form, Op::op, flags, G_NONE);
#define GRP(opc, sel, form, group, flags) \
  b.escaped(MAP, opc, opc, sel, Form::form, Op::INVALID, flags, group);
#define MAP 0
#include "frontend/opcode_map_0f.inc"
#undef MAP
#define MAP 1
#include "frontend/opcode_map_0f38.inc"
#undef MAP
#define MAP 2
#include "frontend/opcode_map_0f3a.inc"
#undef MAP
#undef X
#undef XR
#undef GRP
  // VEX maps.
#define VX(map, opc, sel, form, op, flags) \
  b.vex(map, opc, opc, sel, Form::form, Op::op, flags, G_NONE);
#define VXR(map, first, last, sel, form, op, flags) \
  b.vex(map, first, last, sel, Form::form, Op::op, flags, G_NONE);
#define VGRP(map, opc, sel, form, group, flags) \
  b.vex(map, opc, opc, sel, Form::form, Op::INVALID, flags, group);
#include "frontend/opcode_map_vex.inc"
#undef VX
#undef VXR
#undef VGRP
  // Group members.
#define G(group, reg, sel, mod, form, op, flags, rm_mask) \
  b.member(group, reg, sel, mod, Form::form, Op::op, flags, rm_mask, G_NONE);
#define NG(group, reg, sel, form, nested, flags) \
  b.member(group, reg, sel, REG, Form::form, Op::INVALID, flags, 0, nested);
#include "frontend/opcode_groups.inc"
#undef G
#undef NG
  // 3DNow! suffixes.
#define T(suffix) b.amd3dnow(suffix);
#include "frontend/opcode_map_3dnow.inc"
#undef T
  return b;
}

}  // namespace

constinit const DecoderTables kTables = build().tables();

}  // namespace umbra::dec
