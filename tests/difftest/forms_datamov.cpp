// Data transfer: MOV (every encoding, incl. moffs with a 64-bit absolute address), MOVZX, MOVSX,
// MOVSXD, LEA, XCHG, XADD, CMPXCHG, CMPXCHG8B/16B, CBW/CWDE/CDQE, CWD/CDQ/CQO, SETcc, CMOVcc,
// XLAT, LAHF, SAHF, MOVBE (SDM vol. 2).
#include "forms.h"

namespace difftest {

namespace {

std::string sz(unsigned size) {
  return size_suffix(size);
}
const unsigned kSizes[] = {2, 4, 8};
const char* const kCondNames[] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                  "s", "ns", "p", "np", "l", "ge", "le", "g"};

// 88/89 mov r/m, r  and  8A/8B mov r, r/m
bool gen_mov_rm(Gen& g, uint8_t opcode, unsigned size, bool to_rm) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(opcode);
  uint8_t r;
  RmOp rm;
  if (to_rm) {
    rm = g.rm(ib, size, Role::kDst, MemReq{});
    r = g.reg(ib, size, Role::kSrc);
  } else {
    r = g.reg(ib, size, Role::kDst);
    rm = g.rm(ib, size, Role::kSrc, MemReq{});
  }
  set_rm(ib, r, rm);
  return g.emit(ib);
}

// C6/C7 /0: mov r/m, imm
bool gen_mov_rm_imm(Gen& g, unsigned size) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(size == 1 ? 0xc6 : 0xc7);
  const RmOp rm = g.rm(ib, size, Role::kDst, MemReq{});
  set_rm(ib, 0, rm);
  ib.s.set_imm(g.imm(iz_bytes(size)), iz_bytes(size));
  return g.emit(ib);
}

// B0+r ib / B8+r iw/id/io
bool gen_mov_reg_imm(Gen& g, unsigned size) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(size == 1 ? 0xb0 : 0xb8);
  ib.s.opcode_reg = g.reg(ib, size, Role::kDst);
  ib.s.set_imm(g.imm(size), size);
  return g.emit(ib);
}

// A0-A3: moffs forms. The offset is a 64-bit absolute address (32-bit with 67).
bool gen_mov_moffs(Gen& g, unsigned size, bool store) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(static_cast<uint8_t>((store ? 0xa2 : 0xa0) + (size == 1 ? 0 : 1)));
  MemReq req;
  req.write = store;
  // Let the generic picker choose the address; only its value is used here.
  RmOp rm;
  if (!g.mem(ib, size, req, &rm) || !ib.mem_addr_known) return false;
  const bool addr32 = g.rng.chance(1, 8);
  if (addr32) ib.s.add_prefix(0x67);
  ib.s.set_imm(ib.mem_addr, addr32 ? 4 : 8);
  if (!store) ib.fx.regs_written = 1u << RAX_;
  return g.emit(ib);
}

// 0F B6/B7 MOVZX, 0F BE/BF MOVSX: r(size) <- r/m(src_size); 63 MOVSXD.
bool gen_movx(Gen& g, uint8_t op2, unsigned size, unsigned src_size) {
  Ib ib = g.begin(size, src_size == 1);
  if (op2 == 0x63)
    ib.s.set_opcode(0x63);
  else
    ib.s.set_opcode(0x0f, op2);
  const uint8_t r = g.reg(ib, size, Role::kDst);
  const RmOp rm = g.rm(ib, src_size, Role::kSrc, MemReq{});
  set_rm(ib, r, rm);
  return g.emit(ib);
}

// 8D LEA r, m (register operand: #UD).
bool gen_lea(Gen& g, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x8d);
  const uint8_t r = g.reg(ib, size, Role::kDst);
  RmOp rm = g.lea_mem(ib);
  if (g.rng.chance(1, 64)) {
    rm = RmOp{false, g.reg(ib, size, Role::kSrc), {}};
    ib.expect_ud = true;
  }
  set_rm(ib, r, rm);
  return g.emit(ib);
}

// 86/87 XCHG r/m, r (memory forms are locked implicitly; an explicit LOCK is allowed).
bool gen_xchg_rm(Gen& g, unsigned size) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(size == 1 ? 0x86 : 0x87);
  const RmOp rm = g.rm(ib, size, Role::kDst, MemReq{});
  const uint8_t r = g.reg(ib, size, Role::kDst);
  set_rm(ib, r, rm);
  if (rm.is_mem) g.maybe_lock(ib);
  return g.emit(ib);
}

// 90+r XCHG rAX, r (r != rAX; 90 itself is NOP).
bool gen_xchg_acc(Gen& g, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x90);
  uint8_t r;
  do r = g.reg(ib, size, Role::kDst);
  while (r == RAX_);
  ib.s.opcode_reg = r;
  ib.fx.regs_written |= 1u << RAX_;
  return g.emit(ib);
}

// 0F C0/C1 XADD r/m, r: flags as ADD.
bool gen_xadd(Gen& g, unsigned size) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(0x0f, size == 1 ? 0xc0 : 0xc1);
  const RmOp rm = g.rm(ib, size, Role::kDst, MemReq{});
  const uint8_t r = g.reg(ib, size, Role::kDst);
  set_rm(ib, r, rm);
  ib.fx.flags_def = fl::STATUS;
  g.maybe_lock(ib);
  return g.emit(ib);
}

// 0F B0/B1 CMPXCHG r/m, r: flags as CMP accumulator, r/m. Half the time the comparison is made
// to succeed.
bool gen_cmpxchg(Gen& g, unsigned size) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(0x0f, size == 1 ? 0xb0 : 0xb1);
  const RmOp rm = g.rm(ib, size, Role::kDst, MemReq{});
  const uint8_t r = g.reg(ib, size, Role::kSrc);
  set_rm(ib, r, rm);
  if (g.rng.coin()) {
    uint64_t acc;
    if (fix_operand(g, RAX_, size, g.value(size), &acc)) {
      uint64_t v;
      if (rm.is_mem) {
        if (ib.mem_addr_known) g.plant(ib.mem_addr, acc, size);
      } else {
        fix_operand(g, rm.reg, size, acc, &v);
      }
    }
  }
  ib.fx.regs_written |= 1u << RAX_;
  ib.fx.flags_def = fl::STATUS;
  g.maybe_lock(ib);
  return g.emit(ib);
}

// 0F C7 /1 CMPXCHG8B m64, REX.W CMPXCHG16B m128 (#GP unless 16-byte aligned). ZF only.
bool gen_cmpxchg8b(Gen& g, bool wide) {
  Ib ib = g.begin(wide ? 8 : 4);
  ib.s.num_prefixes = 0;  // no redundant 66 here: 66 0F C7 is another instruction group
  ib.s.set_opcode(0x0f, 0xc7);
  const unsigned bytes = wide ? 16 : 8;
  MemReq req;
  req.write = true;
  if (wide && !g.rng.chance(1, 16)) req.align = 16;
  RmOp rm;
  if (g.rng.chance(1, 64)) {
    rm = RmOp{false, g.reg(ib, 8, Role::kSrc), {}};  // register operand: #UD
    ib.expect_ud = true;
  } else if (!g.mem(ib, bytes, req, &rm)) {
    return false;
  }
  set_rm(ib, 1, rm);
  if (rm.is_mem && ib.mem_addr_known && g.rng.coin()) {
    const unsigned half = bytes / 2;
    uint64_t lo, hi;
    if (fix_operand(g, RAX_, half, g.value(half), &lo) &&
        fix_operand(g, RDX_, half, g.value(half), &hi)) {
      g.plant(ib.mem_addr, lo, half);
      g.plant(ib.mem_addr + half, hi, half);
    }
  }
  ib.fx.regs_written = (1u << RAX_) | (1u << RDX_);
  ib.fx.flags_def = fl::ZF;
  g.maybe_lock(ib);
  return g.emit(ib);
}

// 98 CBW/CWDE/CDQE, 99 CWD/CDQ/CQO.
bool gen_convert(Gen& g, bool dx_form, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(dx_form ? 0x99 : 0x98);
  ib.fx.regs_written = dx_form ? (1u << RDX_) : (1u << RAX_);
  return g.emit(ib);
}

// 0F 90+cc SETcc r/m8 (the ModRM reg field is ignored).
bool gen_setcc(Gen& g, unsigned cc) {
  if (cond_flags(cc) & g.flow().poison) return false;
  Ib ib = g.begin(1, true);
  ib.s.set_opcode(0x0f, static_cast<uint8_t>(0x90 + cc));
  const RmOp rm = g.rm(ib, 1, Role::kDst, MemReq{});
  set_rm(ib, g.rng.chance(1, 8) ? static_cast<uint8_t>(g.rng.below(8)) : 0, rm);
  ib.fx.flags_read = cond_flags(cc);
  return g.emit(ib);
}

// 0F 40+cc CMOVcc r, r/m (the source is read even when the condition is false).
bool gen_cmovcc(Gen& g, unsigned cc, unsigned size) {
  if (cond_flags(cc) & g.flow().poison) return false;
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, static_cast<uint8_t>(0x40 + cc));
  const uint8_t r = g.reg(ib, size, Role::kDst);
  const RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  set_rm(ib, r, rm);
  ib.fx.flags_read = cond_flags(cc);
  return g.emit(ib);
}

// D7 XLAT: AL <- [rBX + zero-extended AL]. rBX must point at 256 readable bytes.
bool gen_xlat(Gen& g) {
  Ib ib = g.begin(4);
  ib.s.set_opcode(0xd7);
  if (g.rng.chance(1, 4)) ib.s.rex_w = true;  // REX.W changes nothing
  const bool addr32 = g.rng.chance(1, 4);
  if (addr32) ib.s.add_prefix(0x67);
  const uint64_t want = kDataBase + g.rng.below(kDataSize - 256);
  uint64_t v;
  if (g.is_free(RBX_)) {
    g.fix(RBX_, addr32 ? (g.rng.next() & ~0xffffffffull) | want : want);
  } else if (g.known(RBX_, &v)) {
    const uint64_t a = addr32 ? (v & 0xffffffffull) : v;
    if (a < kDataBase - 0x1000 || a > kDataEnd) return false;
  } else if (!g.is_ptr_now(RBX_)) {
    return false;
  }
  ib.fx.regs_written = 1u << RAX_;
  return g.emit(ib);
}

// 9F LAHF: AH <- SF:ZF:0:AF:0:PF:1:CF.  9E SAHF: those five flags <- AH.
bool gen_lahf(Gen& g, bool store) {
  Ib ib = g.begin(4);
  ib.s.set_opcode(store ? 0x9e : 0x9f);
  const uint64_t five = fl::SF | fl::ZF | fl::AF | fl::PF | fl::CF;
  if (store)
    ib.fx.flags_def = five;
  else
    ib.fx.flags_read = five, ib.fx.regs_written = 1u << RAX_;
  return g.emit(ib);
}

// 0F 38 F0 MOVBE r, m / 0F 38 F1 MOVBE m, r (memory operand only).
bool gen_movbe(Gen& g, unsigned size, bool store) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, 0x38, store ? 0xf1 : 0xf0);
  MemReq req;
  req.write = store;
  RmOp rm;
  if (!g.mem(ib, size, req, &rm)) return false;
  const uint8_t r = g.reg(ib, size, store ? Role::kSrc : Role::kDst);
  set_rm(ib, r, rm);
  return g.emit(ib);
}

}  // namespace

void add_datamov_forms(std::vector<Form>& out) {
  out.push_back({"mov r/m8, r8", "mov", 0, [](Gen& g) { return gen_mov_rm(g, 0x88, 1, true); }});
  for (unsigned s : kSizes)
    out.push_back({"mov r/m" + sz(s) + ", r" + sz(s), "mov", 0,
                   [=](Gen& g) { return gen_mov_rm(g, 0x89, s, true); }});
  out.push_back({"mov r8, r/m8", "mov", 0, [](Gen& g) { return gen_mov_rm(g, 0x8a, 1, false); }});
  for (unsigned s : kSizes)
    out.push_back({"mov r" + sz(s) + ", r/m" + sz(s), "mov", 0,
                   [=](Gen& g) { return gen_mov_rm(g, 0x8b, s, false); }});
  for (unsigned s : {1u, 2u, 4u, 8u}) {
    out.push_back({"mov r/m" + sz(s) + ", imm" + sz(s == 8 ? 4 : s), "mov", 0,
                   [=](Gen& g) { return gen_mov_rm_imm(g, s); }});
    out.push_back({"mov r" + sz(s) + ", imm" + sz(s), "mov", 0,
                   [=](Gen& g) { return gen_mov_reg_imm(g, s); }});
    out.push_back({std::string("mov ") + acc_name(s) + ", moffs" + sz(s), "mov", 0,
                   [=](Gen& g) { return gen_mov_moffs(g, s, false); }});
    out.push_back({std::string("mov moffs") + sz(s) + ", " + acc_name(s), "mov", 0,
                   [=](Gen& g) { return gen_mov_moffs(g, s, true); }});
  }
  for (unsigned s : kSizes) {
    out.push_back({"movzx r" + sz(s) + ", r/m8", "movzx", 0,
                   [=](Gen& g) { return gen_movx(g, 0xb6, s, 1); }});
    out.push_back({"movsx r" + sz(s) + ", r/m8", "movsx", 0,
                   [=](Gen& g) { return gen_movx(g, 0xbe, s, 1); }});
    out.push_back({"movzx r" + sz(s) + ", r/m16", "movzx", 0,
                   [=](Gen& g) { return gen_movx(g, 0xb7, s, 2); }});
    out.push_back({"movsx r" + sz(s) + ", r/m16", "movsx", 0,
                   [=](Gen& g) { return gen_movx(g, 0xbf, s, 2); }});
    // MOVSXD without REX.W: 32 <- 32 and 16 <- 16 (plain moves; SDM vol. 2, MOVSX).
    const unsigned src = s == 8 ? 4 : s;
    out.push_back({"movsxd r" + sz(s) + ", r/m" + sz(src), "movsxd", 0,
                   [=](Gen& g) { return gen_movx(g, 0x63, s, src); }});
    out.push_back({"lea r" + sz(s) + ", m", "lea", 0, [=](Gen& g) { return gen_lea(g, s); }});
  }
  for (unsigned s : {1u, 2u, 4u, 8u}) {
    out.push_back(
        {"xchg r/m" + sz(s) + ", r" + sz(s), "xchg", 0, [=](Gen& g) { return gen_xchg_rm(g, s); }});
    out.push_back(
        {"xadd r/m" + sz(s) + ", r" + sz(s), "xadd", 0, [=](Gen& g) { return gen_xadd(g, s); }});
    out.push_back({"cmpxchg r/m" + sz(s) + ", r" + sz(s), "cmpxchg", 0,
                   [=](Gen& g) { return gen_cmpxchg(g, s); }});
  }
  for (unsigned s : kSizes)
    out.push_back({std::string("xchg ") + acc_name(s) + ", r" + sz(s), "xchg", 0,
                   [=](Gen& g) { return gen_xchg_acc(g, s); }});
  out.push_back({"cmpxchg8b m64", "cmpxchg8b", 0, [](Gen& g) { return gen_cmpxchg8b(g, false); }});
  out.push_back({"cmpxchg16b m128", "cmpxchg16b", feat::kCx16,
                 [](Gen& g) { return gen_cmpxchg8b(g, true); }});
  const char* const kCbw[] = {"cbw", "cwde", "cdqe"};
  const char* const kCwd[] = {"cwd", "cdq", "cqo"};
  for (unsigned i = 0; i < 3; ++i) {
    const unsigned s = kSizes[i];
    out.push_back({kCbw[i], kCbw[i], 0, [=](Gen& g) { return gen_convert(g, false, s); }});
    out.push_back({kCwd[i], kCwd[i], 0, [=](Gen& g) { return gen_convert(g, true, s); }});
  }
  for (unsigned cc = 0; cc < 16; ++cc) {
    out.push_back({std::string("set") + kCondNames[cc] + " r/m8", "set", 0,
                   [=](Gen& g) { return gen_setcc(g, cc); }});
    for (unsigned s : kSizes)
      out.push_back({std::string("cmov") + kCondNames[cc] + " r" + sz(s) + ", r/m" + sz(s), "cmov",
                     0, [=](Gen& g) { return gen_cmovcc(g, cc, s); }});
  }
  out.push_back({"xlat", "xlat", 0, [](Gen& g) { return gen_xlat(g); }});
  out.push_back({"lahf", "lahf", feat::kLahf64, [](Gen& g) { return gen_lahf(g, false); }});
  out.push_back({"sahf", "sahf", feat::kLahf64, [](Gen& g) { return gen_lahf(g, true); }});
  for (unsigned s : kSizes) {
    out.push_back({"movbe r" + sz(s) + ", m" + sz(s), "movbe", feat::kMovbe,
                   [=](Gen& g) { return gen_movbe(g, s, false); }});
    out.push_back({"movbe m" + sz(s) + ", r" + sz(s), "movbe", feat::kMovbe,
                   [=](Gen& g) { return gen_movbe(g, s, true); }});
  }
}

}  // namespace difftest
