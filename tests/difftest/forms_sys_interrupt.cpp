// Software interrupts and the instructions that always end in an exception at CPL 3 for an
// architectural reason of their own (SDM vol. 2 INT n/INTO/INT3/INT1, UD, HLT; vol. 3, 6.12.1.1
// and 6.15):
//   INT3 and INT 3 (CD 03): #BP trap through Linux's DPL-3 gate, RIP after the instruction;
//   INT n: #GP(n*8+2) through a DPL-0 gate, or the vector itself through a DPL-3 one (4 on
//     Linux); only the vectors the host probe saw as one of the two (never 0x80, Linux's IA-32
//     system call gate);
//   INT1/ICEBP (F1): #DB trap, no gate DPL check;
//   UD0 (0F FF /r): #UD (UD1 and UD2 are in forms_misc);
//   HLT: #GP(0) at CPL 3.
// INTO (CE) is #UD in 64-bit mode and is among forms_misc's invalid encodings.
#include "forms_sys.h"

namespace difftest {

namespace {

bool gen_int_n(Gen& g) {
  unsigned v = 0;
  for (int attempt = 0; attempt < 16; ++attempt) {
    v = static_cast<unsigned>(g.rng.below(256));
    if (v != 3 && v != 0x80 && g.host.int_vector_ok(v)) break;
    v = 0x100;
  }
  if (v > 0xff) return false;
  Ib ib = raw_insn(g, {0xcd, static_cast<uint8_t>(v)});
  return g.emit(ib);
}

bool gen_fixed(Gen& g, std::initializer_list<uint8_t> bytes, bool ud) {
  Ib ib = raw_insn(g, bytes);
  ib.expect_ud = ud;
  return g.emit(ib);
}

// UD0 with a register ModRM byte (the memory forms differ in length between vendors' decoders).
bool gen_ud0(Gen& g) {
  Ib ib = raw_insn(g, {0x0f, 0xff, static_cast<uint8_t>(0xc0 | g.rng.below(64))});
  ib.expect_ud = true;
  return g.emit(ib);
}

}  // namespace

void add_sys_interrupt_forms(std::vector<Form>& out) {
  out.push_back({"sys: int3", "int3", 0, [](Gen& g) { return gen_fixed(g, {0xcc}, false); }});
  out.push_back({"sys: int 3", "int", 0, [](Gen& g) { return gen_fixed(g, {0xcd, 0x03}, false); }});
  out.push_back({"sys: int imm8", "int", 0, [](Gen& g) { return gen_int_n(g); }});
  out.push_back({"sys: int1 (icebp)", "", feat::kIcebpTrap,
                 [](Gen& g) { return gen_fixed(g, {0xf1}, false); }});
  out.push_back({"sys: ud0 r32, r/m32", "", 0, [](Gen& g) { return gen_ud0(g); }});
  out.back().weight = 1;
  out.push_back({"sys: hlt", "hlt", 0, [](Gen& g) { return gen_fixed(g, {0xf4}, false); }});
  out.back().weight = 1;
}

}  // namespace difftest
