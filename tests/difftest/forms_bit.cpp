// Bit and byte instructions: BT BTS BTR BTC (register and imm8 bit offsets), BSF BSR, POPCNT,
// LZCNT, TZCNT, BSWAP (SDM vol. 2).
#include "forms.h"

namespace difftest {

namespace {

std::string sz(unsigned size) {
  return size_suffix(size);
}

// Bit offsets of register forms with a memory operand reach this many bytes either side of the
// operand (SDM vol. 2, BT: the offset is a signed value and selects a byte outside the operand).
constexpr int64_t kBitReachBytes = 256;

// BT* flags: CF = the selected bit; OF SF AF PF undefined; ZF unaffected (SDM vol. 2, BT).
void bt_flags(Effects& fx) {
  fx.flags_def = fl::CF;
  fx.flags_undef = fl::OF | fl::SF | fl::AF | fl::PF;
}

// 0F A3/AB/B3/BB: BT/BTS/BTR/BTC r/m, r.
bool gen_bt_reg(Gen& g, unsigned op, unsigned size) {
  Ib ib = g.begin(size);
  static constexpr uint8_t kOpc[] = {0xa3, 0xab, 0xb3, 0xbb};
  ib.s.set_opcode(0x0f, kOpc[op]);
  const bool writes = op != 0;
  MemReq req;
  req.write = writes;
  req.lo_slack = kBitReachBytes + 8;
  req.hi_slack = kBitReachBytes + 8;
  RmOp rm;
  uint8_t off_reg = 0;
  if (g.rng.chance(1, 2) && g.mem(ib, size, req, &rm)) {
    // The bit offset register must hold a small signed offset (as seen at the operand size).
    bool ok = false;
    for (int attempt = 0; attempt < 8 && !ok; ++attempt) {
      off_reg = g.reg(ib, size, Role::kSrc);
      const int64_t want = g.rng.range(-8 * kBitReachBytes, 8 * kBitReachBytes - 1);
      uint64_t v;
      if (!fix_operand(g, off_reg, size, static_cast<uint64_t>(want), &v)) continue;
      const int64_t got = sext(v, size);
      ok = got >= -8 * kBitReachBytes && got < 8 * kBitReachBytes;
    }
    // Without a known small offset the access could land anywhere: give up on this form.
    if (!ok) return false;
  } else {
    rm.is_mem = false;
    rm.reg = g.reg(ib, size, writes ? Role::kDst : Role::kSrc);
    off_reg = g.reg(ib, size, Role::kSrc);
  }
  set_rm(ib, off_reg, rm);
  bt_flags(ib.fx);
  if (writes) g.maybe_lock(ib);
  return g.emit(ib);
}

// 0F BA /4../7 ib: BT/BTS/BTR/BTC r/m, imm8 (offset taken modulo the operand width).
bool gen_bt_imm(Gen& g, unsigned op, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, 0xba);
  const bool writes = op != 0;
  const RmOp rm = g.rm(ib, size, writes ? Role::kDst : Role::kSrc, MemReq{});
  set_rm(ib, static_cast<uint8_t>(4 + op), rm);
  ib.s.set_imm(g.rng.chance(1, 2) ? g.rng.below(8 * size) : g.rng.below(256), 1);
  bt_flags(ib.fx);
  if (writes) g.maybe_lock(ib);
  return g.emit(ib);
}

// Source operand that is zero more often than chance would make it.
RmOp bit_scan_source(Gen& g, Ib& ib, unsigned size) {
  RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  if (g.rng.chance(1, 5)) {
    uint64_t v;
    if (rm.is_mem) {
      if (ib.mem_addr_known) g.plant(ib.mem_addr, 0, size);
    } else {
      fix_operand(g, rm.reg, size, 0, &v);
    }
  }
  return rm;
}

// 0F BC BSF, 0F BD BSR; with F3: TZCNT, LZCNT; F3 0F B8 POPCNT.
enum class Scan { kBsf, kBsr, kTzcnt, kLzcnt, kPopcnt };
bool gen_scan(Gen& g, Scan op, unsigned size) {
  Ib ib = g.begin(size);
  switch (op) {
    case Scan::kBsf:
      ib.s.set_opcode(0x0f, 0xbc);
      break;
    case Scan::kBsr:
      ib.s.set_opcode(0x0f, 0xbd);
      break;
    case Scan::kTzcnt:
      ib.s.add_prefix(0xf3), ib.s.set_opcode(0x0f, 0xbc);
      break;
    case Scan::kLzcnt:
      ib.s.add_prefix(0xf3), ib.s.set_opcode(0x0f, 0xbd);
      break;
    case Scan::kPopcnt:
      ib.s.add_prefix(0xf3), ib.s.set_opcode(0x0f, 0xb8);
      break;
  }
  const uint8_t r = g.reg(ib, size, Role::kDst);
  const RmOp rm = bit_scan_source(g, ib, size);
  set_rm(ib, r, rm);
  switch (op) {
    case Scan::kBsf:
    case Scan::kBsr:
      // ZF = (source == 0); CF OF SF AF PF undefined. With a zero source the destination is
      // documented as undefined by Intel and unchanged by AMD; it is compared (docs/difftest.md).
      ib.fx.flags_def = fl::ZF;
      ib.fx.flags_undef = fl::CF | fl::OF | fl::SF | fl::AF | fl::PF;
      break;
    case Scan::kTzcnt:
    case Scan::kLzcnt:
      ib.fx.flags_def = fl::CF | fl::ZF;
      ib.fx.flags_undef = fl::OF | fl::SF | fl::PF | fl::AF;
      break;
    case Scan::kPopcnt:
      ib.fx.flags_def = fl::STATUS;  // all cleared but ZF
      break;
  }
  return g.emit(ib);
}

// 0F C8+r BSWAP r32/r64. (A 16-bit BSWAP has an undefined result and is not generated.)
bool gen_bswap(Gen& g, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, 0xc8);
  ib.s.opcode_reg = g.reg(ib, size, Role::kDst);
  return g.emit(ib);
}

}  // namespace

void add_bit_forms(std::vector<Form>& out) {
  const char* const kBt[] = {"bt", "bts", "btr", "btc"};
  for (unsigned op = 0; op < 4; ++op) {
    for (unsigned s : {2u, 4u, 8u}) {
      out.push_back({std::string(kBt[op]) + " r/m" + sz(s) + ", r" + sz(s), kBt[op], 0,
                     [=](Gen& g) { return gen_bt_reg(g, op, s); }});
      out.push_back({std::string(kBt[op]) + " r/m" + sz(s) + ", imm8", kBt[op], 0,
                     [=](Gen& g) { return gen_bt_imm(g, op, s); }});
    }
  }
  const struct {
    const char* name;
    Scan op;
    uint32_t feature;
  } kScans[] = {{"bsf", Scan::kBsf, 0},
                {"bsr", Scan::kBsr, 0},
                {"tzcnt", Scan::kTzcnt, feat::kBmi1},
                {"lzcnt", Scan::kLzcnt, feat::kLzcnt},
                {"popcnt", Scan::kPopcnt, feat::kPopcnt}};
  for (const auto& sc : kScans)
    for (unsigned s : {2u, 4u, 8u})
      out.push_back({std::string(sc.name) + " r" + sz(s) + ", r/m" + sz(s), sc.name, sc.feature,
                     [op = sc.op, s](Gen& g) { return gen_scan(g, op, s); }});
  for (unsigned s : {4u, 8u})
    out.push_back({"bswap r" + sz(s), "bswap", 0, [=](Gen& g) { return gen_bswap(g, s); }});
}

}  // namespace difftest
