// MUL, IMUL (one, two and three operands), DIV, IDIV (SDM vol. 2). Multiplies leave SF ZF AF PF
// undefined; divides leave all six status flags undefined. Divides get operands crafted so the
// quotient usually fits, with divide-by-zero and overflow (#DE) mixed in.
#include "forms.h"

namespace difftest {

namespace {

using u128 = unsigned __int128;
using i128 = __int128;

constexpr uint64_t kMulUndef = fl::SF | fl::ZF | fl::AF | fl::PF;

std::string sz(unsigned size) {
  return size_suffix(size);
}

// F6/F7 /4 MUL, /5 IMUL: one explicit operand, implicit rAX (and rDX).
bool gen_mul1(Gen& g, unsigned size, bool is_signed) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(size == 1 ? 0xf6 : 0xf7);
  const RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  set_rm(ib, is_signed ? 5 : 4, rm);
  ib.fx.regs_written = size == 1 ? (1u << RAX_) : (1u << RAX_) | (1u << RDX_);
  ib.fx.flags_def = fl::CF | fl::OF;
  ib.fx.flags_undef = kMulUndef;
  return g.emit(ib);
}

// 0F AF IMUL r, r/m; 6B IMUL r, r/m, imm8; 69 IMUL r, r/m, imm16/32.
bool gen_imul(Gen& g, unsigned size, unsigned imm_bytes) {
  Ib ib = g.begin(size);
  if (imm_bytes == 0)
    ib.s.set_opcode(0x0f, 0xaf);
  else
    ib.s.set_opcode(imm_bytes == 1 ? 0x6b : 0x69);
  const uint8_t r = g.reg(ib, size, Role::kDst);
  const RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  set_rm(ib, r, rm);
  if (imm_bytes) ib.s.set_imm(g.imm(imm_bytes), imm_bytes);
  ib.fx.flags_def = fl::CF | fl::OF;
  ib.fx.flags_undef = kMulUndef;
  return g.emit(ib);
}

// Picks divisor and dividend (as a double-width value) for one division.
struct DivPlan {
  uint64_t divisor;
  u128 dividend;  // 2*size bytes significant
};

DivPlan plan_div(Gen& g, unsigned size, bool is_signed) {
  const unsigned bits = 8 * size;
  const u128 wide_mask = bits == 64 ? ~u128{0} : ((u128{1} << (2 * bits)) - 1);
  DivPlan p;
  const unsigned mode = static_cast<unsigned>(g.rng.below(16));
  if (mode == 0) {  // divide by zero
    p.divisor = 0;
    p.dividend = (u128{g.rng.next()} << 64 | g.rng.next()) & wide_mask;
    return p;
  }
  if (mode == 1) {  // quotient too large
    if (is_signed) {
      // The most negative dividend of the width divided by -1, or a random large one.
      p.divisor = size_mask(size);
      p.dividend = (u128{1} << (2 * bits - 1)) & wide_mask;
    } else {
      p.divisor = g.value(size) & size_mask(size);
      if (p.divisor == 0) p.divisor = 1;
      p.dividend = (u128{p.divisor} << bits) | (g.rng.next() & size_mask(size));
    }
    return p;
  }
  if (mode == 2) {  // anything
    p.divisor = g.value(size) & size_mask(size);
    p.dividend = (u128{g.rng.next()} << 64 | g.rng.next()) & wide_mask;
    return p;
  }
  // A quotient that fits: dividend = q * d + r with |r| < |d| and r of the dividend's sign.
  uint64_t d = g.value(size) & size_mask(size);
  if (d == 0) d = 1 + g.rng.below(size_mask(size));
  if (g.rng.chance(1, 4)) d = 1 + g.rng.below(16);
  if (!is_signed) {
    const uint64_t q = g.value(size) & size_mask(size);
    const uint64_t r = g.rng.below(d);
    p.divisor = d;
    p.dividend = u128{q} * d + r;
    return p;
  }
  const int64_t sd = sext(d, size);
  const int64_t sq = sext(g.value(size), size);
  const i128 prod = static_cast<i128>(sq) * sd;
  const u128 ad = static_cast<u128>(sd < 0 ? -static_cast<i128>(sd) : static_cast<i128>(sd));
  i128 r = static_cast<i128>(g.rng.below(static_cast<uint64_t>(ad)));
  if (prod < 0 || (prod == 0 && g.rng.coin())) r = -r;
  p.divisor = d;
  p.dividend = static_cast<u128>(prod + r) & wide_mask;
  return p;
}

// F6/F7 /6 DIV, /7 IDIV.
bool gen_div(Gen& g, unsigned size, bool is_signed) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(size == 1 ? 0xf6 : 0xf7);
  const DivPlan p = plan_div(g, size, is_signed);
  const unsigned bits = 8 * size;
  RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  uint64_t actual;
  if (rm.is_mem) {
    if (ib.mem_addr_known) g.plant(ib.mem_addr, p.divisor, size);
  } else {
    fix_operand(g, rm.reg, size, p.divisor, &actual);  // best effort: else whatever it holds
  }
  set_rm(ib, is_signed ? 7 : 6, rm);
  if (size == 1) {
    fix_operand(g, RAX_, 2, static_cast<uint64_t>(p.dividend), &actual);
  } else {
    fix_operand(g, RAX_, size, static_cast<uint64_t>(p.dividend), &actual);
    fix_operand(g, RDX_, size, static_cast<uint64_t>(p.dividend >> bits), &actual);
  }
  ib.fx.regs_written = size == 1 ? (1u << RAX_) : (1u << RAX_) | (1u << RDX_);
  ib.fx.flags_undef = fl::STATUS;
  return g.emit(ib);
}

}  // namespace

void add_muldiv_forms(std::vector<Form>& out) {
  for (unsigned s : {1u, 2u, 4u, 8u}) {
    out.push_back({"mul r/m" + sz(s), "mul", 0, [=](Gen& g) { return gen_mul1(g, s, false); }});
    out.push_back({"imul r/m" + sz(s), "imul", 0, [=](Gen& g) { return gen_mul1(g, s, true); }});
    out.push_back({"div r/m" + sz(s), "div", 0, [=](Gen& g) { return gen_div(g, s, false); }});
    out.push_back({"idiv r/m" + sz(s), "idiv", 0, [=](Gen& g) { return gen_div(g, s, true); }});
  }
  for (unsigned s : {2u, 4u, 8u}) {
    out.push_back(
        {"imul r" + sz(s) + ", r/m" + sz(s), "imul", 0, [=](Gen& g) { return gen_imul(g, s, 0); }});
    out.push_back({"imul r" + sz(s) + ", r/m" + sz(s) + ", imm8", "imul", 0,
                   [=](Gen& g) { return gen_imul(g, s, 1); }});
    out.push_back({"imul r" + sz(s) + ", r/m" + sz(s) + ", imm" + sz(s == 8 ? 4 : s), "imul", 0,
                   [=](Gen& g) { return gen_imul(g, s, iz_bytes(s)); }});
  }
}

}  // namespace difftest
