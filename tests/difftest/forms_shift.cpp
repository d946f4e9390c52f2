// Shifts and rotates: ROL ROR RCL RCR SHL SHR SAL(/6) SAR by imm8, by 1 and by CL, and SHLD/SHRD
// (SDM vol. 2, "SAL/SAR/SHL/SHR", "RCL/RCR/ROL/ROR", "SHLD", "SHRD").
//
// Which flags end up defined depends on the masked count (count & 31, or & 63 for 64-bit):
//   count 0: no flag changes.
//   shifts: CF = last bit out (undefined for SHL/SHR when count >= operand width, which only
//           8/16-bit operands can reach), SF ZF PF from the result, OF only for count 1, AF
//           undefined.
//   rotates: CF only (RCL/RCR read it too), OF only for count 1; SF ZF AF PF unaffected.
//   SHLD/SHRD: as shifts; for a 16-bit operand and count > 16 result and flags are undefined.
// When the count comes from CL and CL's value is not known statically (an earlier instruction
// of the sequence wrote RCX), the flags that may be undefined are treated as undefined.
#include "forms.h"

namespace difftest {

namespace {

std::string sz(unsigned size) {
  return size_suffix(size);
}

enum ShiftOp : uint8_t { kRol = 0, kRor, kRcl, kRcr, kShl, kShr, kSal, kSar };
const char* const kShiftNames[] = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};

// A count biased towards the interesting values for a `width`-bit operand.
uint8_t pick_count(Gen& g, unsigned width) {
  const uint8_t picks[] = {0,
                           1,
                           static_cast<uint8_t>(width - 1),
                           static_cast<uint8_t>(width),
                           static_cast<uint8_t>(width + 1),
                           static_cast<uint8_t>(2 * width - 1),
                           31,
                           32,
                           63,
                           64,
                           static_cast<uint8_t>(g.rng.below(256)),
                           static_cast<uint8_t>(g.rng.below(width + 2))};
  return g.rng.pick(picks);
}

void shift_effects(Effects& fx, ShiftOp op, unsigned size, bool count_known, unsigned count) {
  const unsigned width = 8 * size;
  const unsigned mc = count & (size == 8 ? 63 : 31);
  const bool rotate = op <= kRcr;
  if (op == kRcl || op == kRcr) fx.flags_read = fl::CF;
  if (!count_known) {
    // Either nothing changes (count 0) or the flags are written: only the possibly undefined
    // ones are certain to matter.
    fx.flags_undef = rotate ? fl::OF : fl::OF | fl::AF;
    if (!rotate && op != kSar && size <= 2) fx.flags_undef |= fl::CF;
    return;
  }
  if (mc == 0) return;
  if (rotate) {
    fx.flags_def = fl::CF;
  } else {
    fx.flags_def = fl::CF | fl::SF | fl::ZF | fl::PF;
    fx.flags_undef = fl::AF;
    if (op != kSar && mc >= width) {
      fx.flags_def &= ~fl::CF;
      fx.flags_undef |= fl::CF;
    }
  }
  if (mc == 1)
    fx.flags_def |= fl::OF;
  else
    fx.flags_undef |= fl::OF;
}

enum class CountKind { kImm, kOne, kCl };

bool gen_shift(Gen& g, ShiftOp op, unsigned size, CountKind kind) {
  Ib ib = g.begin(size, size == 1);
  const bool byte = size == 1;
  uint8_t count = 1;
  bool known = true;
  if (kind == CountKind::kCl) {
    uint64_t v;
    known = fix_operand(g, 1, 1, pick_count(g, 8 * size), &v);
    count = static_cast<uint8_t>(v);
    ib.s.set_opcode(byte ? 0xd2 : 0xd3);
  } else if (kind == CountKind::kOne) {
    ib.s.set_opcode(byte ? 0xd0 : 0xd1);
  } else {
    count = pick_count(g, 8 * size);
    ib.s.set_opcode(byte ? 0xc0 : 0xc1);
  }
  const RmOp rm = g.rm(ib, size, Role::kDst, MemReq{});
  set_rm(ib, op, rm);
  if (kind == CountKind::kImm) ib.s.set_imm(count, 1);
  shift_effects(ib.fx, op, size, known, count);
  return g.emit(ib);
}

// 0F A4/AC (imm8) and 0F A5/AD (CL): SHLD/SHRD r/m, r, count.
bool gen_shxd(Gen& g, bool left, unsigned size, bool by_cl) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, static_cast<uint8_t>((left ? 0xa4 : 0xac) + (by_cl ? 1 : 0)));
  uint8_t count;
  if (by_cl) {
    uint64_t v;
    if (!fix_operand(g, 1, 1, pick_count(g, 8 * size), &v)) return false;  // need the count
    count = static_cast<uint8_t>(v);
  } else {
    count = pick_count(g, 8 * size);
  }
  const unsigned mc = count & (size == 8 ? 63 : 31);
  const bool undefined_result = size == 2 && mc > 16;
  // An undefined result is masked in the comparison; only register destinations can be masked.
  const RmOp rm = g.rm(ib, size, Role::kDst, MemReq{}, undefined_result ? 0 : 45);
  const uint8_t src = g.reg(ib, size, Role::kSrc);
  set_rm(ib, src, rm);
  if (!by_cl) ib.s.set_imm(count, 1);
  if (mc != 0) {
    if (undefined_result) {
      ib.fx.flags_undef = fl::STATUS;
      ib.fx.regs_undefined = static_cast<uint16_t>(1u << rm.reg);
    } else {
      ib.fx.flags_def = fl::CF | fl::SF | fl::ZF | fl::PF | (mc == 1 ? fl::OF : 0);
      ib.fx.flags_undef = fl::AF | (mc == 1 ? 0 : fl::OF);
    }
  }
  return g.emit(ib);
}

}  // namespace

void add_shift_forms(std::vector<Form>& out) {
  for (uint8_t op = kRol; op <= kSar; ++op) {
    const std::string n = kShiftNames[op];
    // Capstone 4 prints /6 as "sal" and /4 as "shl".
    const std::string mn = n;
    for (unsigned s : {1u, 2u, 4u, 8u}) {
      const ShiftOp o = static_cast<ShiftOp>(op);
      out.push_back({n + " r/m" + sz(s) + ", imm8", mn, 0,
                     [=](Gen& g) { return gen_shift(g, o, s, CountKind::kImm); }});
      out.push_back({n + " r/m" + sz(s) + ", 1", mn, 0,
                     [=](Gen& g) { return gen_shift(g, o, s, CountKind::kOne); }});
      out.push_back({n + " r/m" + sz(s) + ", cl", mn, 0,
                     [=](Gen& g) { return gen_shift(g, o, s, CountKind::kCl); }});
    }
  }
  for (bool left : {true, false}) {
    const std::string n = left ? "shld" : "shrd";
    for (unsigned s : {2u, 4u, 8u}) {
      out.push_back({n + " r/m" + sz(s) + ", r" + sz(s) + ", imm8", n, 0,
                     [=](Gen& g) { return gen_shxd(g, left, s, false); }});
      out.push_back({n + " r/m" + sz(s) + ", r" + sz(s) + ", cl", n, 0,
                     [=](Gen& g) { return gen_shxd(g, left, s, true); }});
    }
  }
}

}  // namespace difftest
