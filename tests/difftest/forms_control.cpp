// Control transfer: Jcc (rel8, rel32), JMP and CALL (rel, register, memory), RET (with and
// without imm16), LOOP, LOOPE, LOOPNE, JrCXZ (SDM vol. 2).
//
// Every target is forward: a later instruction of the sequence, the HLT sled after it (so the
// final RIP shows exactly where the branch went), and rarely an unmapped or non-executable page
// (a #PF on the fetch). Operand-size (66) prefixes on near branches are never generated: AMD
// honours them in 64-bit mode (truncating RIP to 16 bits), Intel ignores them, and Umbra
// follows Intel (docs/difftest.md).
#include "forms.h"

namespace difftest {

namespace {

const char* const kCondNames[] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                  "s", "ns", "p", "np", "l", "ge", "le", "g"};

Ib branch_begin(Gen& g) {
  Ib ib = g.begin(4);
  if (g.rng.chance(1, 16)) ib.s.rex_w = true;  // REX.W is ignored by near branches
  return ib;
}

bool gen_jcc(Gen& g, unsigned cc, bool rel32) {
  if (cond_flags(cc) & g.flow().poison) return false;
  Ib ib = branch_begin(g);
  if (rel32)
    ib.s.set_opcode(0x0f, static_cast<uint8_t>(0x80 + cc));
  else
    ib.s.set_opcode(static_cast<uint8_t>(0x70 + cc));
  g.set_rel(ib, rel32 ? 4 : 1, g.pick_target(rel32));
  ib.fx.flags_read = cond_flags(cc);
  return g.emit(ib);
}

bool gen_jmp_rel(Gen& g, bool rel32) {
  Ib ib = branch_begin(g);
  ib.s.set_opcode(rel32 ? 0xe9 : 0xeb);
  g.set_rel(ib, rel32 ? 4 : 1, g.pick_target(rel32));
  ib.fx.ends_flow = true;
  return g.emit(ib);
}

// The return address push of CALL.
bool push_effects(Gen& g, Ib& ib, unsigned bytes) {
  if (!g.flow().rsp_ptr) return false;
  ib.fx.rsp_delta -= bytes;
  ib.fx.mem_write = true;
  return true;
}

bool gen_call_rel(Gen& g) {
  Ib ib = branch_begin(g);
  ib.s.set_opcode(0xe8);
  if (!push_effects(g, ib, 8)) return false;
  g.set_rel(ib, 4, g.pick_target(true));
  return g.emit(ib);
}

// FF /4 JMP r/m64, FF /2 CALL r/m64: target in a register or planted in memory.
bool gen_indirect(Gen& g, bool call) {
  Ib ib = branch_begin(g);
  ib.s.set_opcode(0xff);
  if (call && !push_effects(g, ib, 8)) return false;
  const Target t = g.pick_target(true);
  RmOp rm;
  if (g.rng.coin()) {
    const uint8_t r = static_cast<uint8_t>(g.rng.below(16));
    if (!g.fix_target(r, t)) return false;
    rm = RmOp{false, r, {}};
  } else {
    MemReq req;
    req.allow_fault = false;
    if (!g.mem(ib, 8, req, &rm) || !ib.mem_addr_known) return false;
    if (!g.plant_target(ib.mem_addr, t)) return false;
  }
  set_rm(ib, call ? 2 : 4, rm);
  ib.has_target = true;
  ib.target = t;
  ib.fx.ends_flow = true;
  return g.emit(ib);
}

// C3 RET, C2 iw RET imm16: the return address is planted at [RSP].
bool gen_ret(Gen& g, bool with_imm) {
  if (!g.flow().rsp_exact) return false;
  Ib ib = branch_begin(g);
  const uint64_t rsp = g.init_rsp() + static_cast<uint64_t>(g.flow().rsp_delta);
  const Target t = g.pick_target(true);
  if (!g.plant_target(rsp, t)) return false;
  uint64_t imm = 0;
  if (with_imm) {
    const uint64_t picks[] = {0, 8, 16, 2, g.rng.below(0x100), g.rng.below(0x10000)};
    imm = g.rng.pick(picks);
    ib.s.set_opcode(0xc2);
    ib.s.set_imm(imm, 2);
  } else {
    ib.s.set_opcode(0xc3);
  }
  ib.fx.rsp_delta = static_cast<int64_t>(8 + imm);
  ib.has_target = true;
  ib.target = t;
  ib.fx.ends_flow = true;
  return g.emit(ib);
}

// E0 LOOPNE, E1 LOOPE, E2 LOOP, E3 JrCXZ; 67 selects ECX.
bool gen_loop(Gen& g, uint8_t opcode) {
  Ib ib = branch_begin(g);
  ib.s.set_opcode(opcode);
  if (g.rng.chance(1, 4)) ib.s.add_prefix(0x67);
  const uint64_t counts[] = {0, 1, 2, 0x100000000ull, 0x100000001ull, g.rng.below(8), g.rng.next()};
  uint64_t v;
  g.fix_or_known(RCX_, g.rng.pick(counts), &v);
  g.set_rel(ib, 1, g.pick_target(false));
  if (opcode != 0xe3) ib.fx.regs_written = 1u << RCX_;
  if (opcode <= 0xe1) ib.fx.flags_read = fl::ZF;
  return g.emit(ib);
}

}  // namespace

void add_control_forms(std::vector<Form>& out) {
  for (unsigned cc = 0; cc < 16; ++cc) {
    out.push_back({std::string("j") + kCondNames[cc] + " rel8", "j", 0,
                   [=](Gen& g) { return gen_jcc(g, cc, false); }});
    out.push_back({std::string("j") + kCondNames[cc] + " rel32", "j", 0,
                   [=](Gen& g) { return gen_jcc(g, cc, true); }});
  }
  out.push_back({"jmp rel8", "jmp", 0, [](Gen& g) { return gen_jmp_rel(g, false); }});
  out.push_back({"jmp rel32", "jmp", 0, [](Gen& g) { return gen_jmp_rel(g, true); }});
  out.push_back({"call rel32", "call", 0, [](Gen& g) { return gen_call_rel(g); }});
  out.push_back({"jmp r/m64", "jmp", 0, [](Gen& g) { return gen_indirect(g, false); }});
  out.push_back({"call r/m64", "call", 0, [](Gen& g) { return gen_indirect(g, true); }});
  out.push_back({"ret", "ret", 0, [](Gen& g) { return gen_ret(g, false); }});
  out.push_back({"ret imm16", "ret", 0, [](Gen& g) { return gen_ret(g, true); }});
  out.push_back({"loop rel8", "loop", 0, [](Gen& g) { return gen_loop(g, 0xe2); }});
  out.push_back({"loope rel8", "loope", 0, [](Gen& g) { return gen_loop(g, 0xe1); }});
  out.push_back({"loopne rel8", "loopne", 0, [](Gen& g) { return gen_loop(g, 0xe0); }});
  out.push_back({"jrcxz rel8", "j", 0, [](Gen& g) { return gen_loop(g, 0xe3); }});
}

}  // namespace difftest
