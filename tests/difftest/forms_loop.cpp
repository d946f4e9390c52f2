// Backward branches: a small counted loop as a whole case (or, in the tier comparison's long
// streams, anywhere in the stream). Everything else the generator makes
// only branches forward; these run a block several times (the engine re-enters it through its
// jump cache and chaining) and, later, give tier 1 hot code to compile.
//
//   mov-free setup: RCX = N (1..8), a base register B pointing into the data area
//   L: 1-3 ALU operations on registers other than RCX and B (and, sometimes, a store to
//      [B + RCX*8 - 8])
//      LOOP L      or      DEC ECX; JNZ L
//
// Flags: every body operation defines CF (ADC and SBB read only CF), so nothing reads a flag
// that an earlier iteration left undefined; the flags undefined at the end are those the last
// iteration leaves undefined, which the normal bookkeeping records.
#include "forms.h"

namespace difftest {

namespace {

struct BodyOp {
  uint8_t opcode;  // r/m, r form (01 ADD, 09 OR, 11 ADC, 19 SBB, 21 AND, 29 SUB, 31 XOR)
  bool logic;
  bool reads_cf;
};
constexpr BodyOp kBodyOps[] = {{0x01, false, false}, {0x09, true, false}, {0x11, false, true},
                               {0x19, false, true},  {0x21, true, false}, {0x29, false, false},
                               {0x31, true, false}};

// Registers the body may use: not RCX (the counter), not RSP, not the store base.
uint8_t body_reg(Gen& g, uint8_t base) {
  for (;;) {
    const uint8_t r = static_cast<uint8_t>(g.rng.below(16));
    if (r != RCX_ && r != RSP_ && r != base) return r;
  }
}

bool gen_loop_block(Gen& g, bool loop_insn) {
  // The loop is the whole case; in long streams (Gen::loops_anywhere) it may also sit among
  // other instructions if its up to five instructions fit in the planned length. RCX and the
  // store base must then still be free (fix() below): nothing before used them.
  if (g.loops_anywhere ? g.position() + 5 > g.planned() : g.position() != 0 || !g.is_last())
    return false;
  const uint64_t n = static_cast<uint64_t>(g.rng.range(1, 8));
  if (!g.fix(RCX_, n)) return false;
  uint8_t base;
  do base = static_cast<uint8_t>(g.rng.below(16));
  while (base == RCX_ || base == RSP_);
  const bool store = g.rng.coin();
  if (store && !g.fix(base, kDataBase + (g.rng.below(kDataSize - 128) & ~uint64_t{7})))
    return false;

  const uint64_t top = g.next_addr();
  const unsigned body = static_cast<unsigned>(g.rng.range(1, store ? 2 : 3));
  for (unsigned i = 0; i < body; ++i) {
    const BodyOp& op = g.rng.pick(kBodyOps);
    const unsigned size = g.rng.coin() ? 8 : 4;
    Ib ib = g.begin(size);
    ib.s.set_opcode(op.opcode);
    const uint8_t dst = body_reg(g, base);
    set_rm(ib, body_reg(g, base), RmOp{false, dst, {}});
    ib.fx.regs_written = static_cast<uint16_t>(1u << dst);
    ib.fx.flags_def = op.logic ? fl::STATUS & ~fl::AF : fl::STATUS;
    ib.fx.flags_undef = op.logic ? fl::AF : 0;
    if (op.reads_cf) ib.fx.flags_read = fl::CF;
    if (i) g.enter_boundary();
    if (!g.emit(ib)) return false;
  }
  if (store) {
    // mov [base + rcx*8 - 8], r64
    Ib ib = g.begin(8);
    ib.s.set_opcode(0x89);
    MemOp m;
    m.base = base;
    m.index = RCX_;
    m.scale = 3;
    m.disp = -8;
    m.disp_bytes = 1;
    set_rm(ib, body_reg(g, base), RmOp{true, 0, m});
    ib.fx.mem_write = true;
    g.enter_boundary();
    if (!g.emit(ib)) return false;
  }
  // The backward branch: its length must be known before its displacement, so no random
  // prefixes here.
  Ib br = g.begin(4);
  br.s.force_rex = false;
  br.no_seg_prefix = true;
  if (loop_insn) {
    br.s.set_opcode(0xe2);
    br.s.set_imm(top - (g.next_addr() + 2), 1);
  } else {
    Ib dec = g.begin(4);
    dec.s.force_rex = false;
    dec.s.set_opcode(0xff);
    set_rm(dec, 1, RmOp{false, RCX_, {}});  // DEC ECX
    dec.fx.regs_written = 1u << RCX_;
    dec.fx.flags_def = fl::STATUS & ~fl::CF;
    g.enter_boundary();
    if (!g.emit(dec)) return false;
    br.s.set_opcode(0x75);  // JNZ rel8
    br.s.set_imm(top - (g.next_addr() + 2), 1);
    br.fx.flags_read = fl::ZF;
  }
  br.fx.regs_written = 1u << RCX_;
  g.enter_boundary();
  return g.emit(br);
}

}  // namespace

void add_loop_forms(std::vector<Form>& out) {
  out.push_back(
      {"loop block (backward loop rel8)", "", 0, [](Gen& g) { return gen_loop_block(g, true); }});
  out.push_back({"loop block (backward dec ecx; jnz rel8)", "", 0,
                 [](Gen& g) { return gen_loop_block(g, false); }});
}

}  // namespace difftest
