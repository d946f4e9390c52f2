// Flag control (CLC STC CMC CLD STD), NOP and the recommended multi-byte NOPs, PAUSE, and
// encodings that must raise #UD in 64-bit mode (SDM vol. 2, appendix A: opcodes marked i64;
// UD0/UD1/UD2; LOCK on an instruction that cannot be locked).
#include "forms.h"

namespace difftest {

namespace {

bool gen_flagctl(Gen& g, uint8_t opcode) {
  Ib ib = g.begin(4);
  ib.s.set_opcode(opcode);
  switch (opcode) {
    case 0xf8:  // CLC
    case 0xf9:  // STC
      ib.fx.flags_def = fl::CF;
      break;
    case 0xf5:  // CMC
      ib.fx.flags_read = fl::CF;
      ib.fx.flags_def = fl::CF;
      break;
    default:  // CLD, STD: DF only
      break;
  }
  return g.emit(ib);
}

// Raw bytes emitted as one "instruction" (an opcode with its fixed trailing bytes).
bool gen_raw(Gen& g, std::initializer_list<uint8_t> bytes) {
  Ib ib = g.begin(4);
  ib.s.force_rex = false;
  ib.no_seg_prefix = true;
  auto it = bytes.begin();
  ib.s.set_opcode(*it++);
  unsigned n = 0;
  uint64_t imm = 0;
  for (; it != bytes.end(); ++it, ++n) imm |= uint64_t{*it} << (8 * n);
  ib.s.set_imm(imm, n);
  return g.emit(ib);
}

// 0F 1F /0 NOP r/m16/32 (the memory operand is not accessed).
bool gen_nop_rm(Gen& g, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, 0x1f);
  const RmOp rm = g.rng.chance(1, 4) ? RmOp{false, g.reg(ib, size, Role::kSrc), {}} : g.lea_mem(ib);
  set_rm(ib, 0, rm);
  return g.emit(ib);
}

// The recommended multi-byte NOP sequences (SDM vol. 2, NOP, table 4-12).
bool gen_nop_recommended(Gen& g) {
  switch (g.rng.below(9)) {
    case 0:
      return gen_raw(g, {0x90});
    case 1:
      return gen_raw(g, {0x66, 0x90});
    case 2:
      return gen_raw(g, {0x0f, 0x1f, 0x00});
    case 3:
      return gen_raw(g, {0x0f, 0x1f, 0x40, 0x00});
    case 4:
      return gen_raw(g, {0x0f, 0x1f, 0x44, 0x00, 0x00});
    case 5:
      return gen_raw(g, {0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00});
    case 6:
      return gen_raw(g, {0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00});
    case 7:
      return gen_raw(g, {0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00});
    default:
      return gen_raw(g, {0x66, 0x0f, 0x1f, 0x84, 0x00, 0x00, 0x00, 0x00, 0x00});
  }
}

}  // namespace

void add_misc_forms(std::vector<Form>& out) {
  out.push_back({"clc", "clc", 0, [](Gen& g) { return gen_flagctl(g, 0xf8); }});
  out.push_back({"stc", "stc", 0, [](Gen& g) { return gen_flagctl(g, 0xf9); }});
  out.push_back({"cmc", "cmc", 0, [](Gen& g) { return gen_flagctl(g, 0xf5); }});
  out.push_back({"cld", "cld", 0, [](Gen& g) { return gen_flagctl(g, 0xfc); }});
  out.push_back({"std", "std", 0, [](Gen& g) { return gen_flagctl(g, 0xfd); }});

  out.push_back({"nop", "nop", 0, [](Gen& g) { return gen_raw(g, {0x90}); }});
  out.push_back({"pause", "pause", 0, [](Gen& g) { return gen_raw(g, {0xf3, 0x90}); }});
  out.push_back({"nop r/m16", "nop", 0, [](Gen& g) { return gen_nop_rm(g, 2); }});
  out.push_back({"nop r/m32", "nop", 0, [](Gen& g) { return gen_nop_rm(g, 4); }});
  out.push_back({"nop r/m64", "nop", 0, [](Gen& g) { return gen_nop_rm(g, 8); }});
  out.push_back(
      {"nop (recommended multi-byte)", "nop", 0, [](Gen& g) { return gen_nop_recommended(g); }});

  // #UD in 64-bit mode. Mnemonic "(bad)": the encoder self-check skips these.
  const struct {
    const char* name;
    std::initializer_list<uint8_t> bytes;
  } kInvalid[] = {
      {"invalid: 06 (push es)", {0x06}},
      {"invalid: 07 (pop es)", {0x07}},
      {"invalid: 0e (push cs)", {0x0e}},
      {"invalid: 16 (push ss)", {0x16}},
      {"invalid: 17 (pop ss)", {0x17}},
      {"invalid: 1e (push ds)", {0x1e}},
      {"invalid: 1f (pop ds)", {0x1f}},
      {"invalid: 27 (daa)", {0x27}},
      {"invalid: 2f (das)", {0x2f}},
      {"invalid: 37 (aaa)", {0x37}},
      {"invalid: 3f (aas)", {0x3f}},
      {"invalid: 60 (pusha)", {0x60}},
      {"invalid: 61 (popa)", {0x61}},
      {"invalid: ce (into)", {0xce}},
      {"invalid: d4 0a (aam)", {0xd4, 0x0a}},
      {"invalid: d5 0a (aad)", {0xd5, 0x0a}},
      {"invalid: d6 (salc)", {0xd6}},
      {"invalid: 82 /0 (add r/m8, imm8 alias)", {0x82, 0xc0, 0x01}},
      {"invalid: 9a (call far ptr16:32)", {0x9a, 0, 0, 0, 0, 0x33, 0}},
      {"invalid: ea (jmp far ptr16:32)", {0xea, 0, 0, 0, 0, 0x33, 0}},
      {"invalid: 0f 0b (ud2)", {0x0f, 0x0b}},
      {"invalid: 0f b9 /r (ud1)", {0x0f, 0xb9, 0xc0}},
      {"invalid: f0 90 (lock nop)", {0xf0, 0x90}},
      {"invalid: f0 0f a3 (lock bt)", {0xf0, 0x0f, 0xa3, 0x00}},
      {"invalid: 8d c0 (lea with a register)", {0x8d, 0xc0}},
  };
  for (const auto& inv : kInvalid) {
    const std::vector<uint8_t> bytes(inv.bytes);
    out.push_back({inv.name, "(bad)", 0, [bytes](Gen& g) {
                     Ib ib = g.begin(4);
                     ib.s.force_rex = false;
                     ib.no_seg_prefix = true;
                     ib.expect_ud = true;
                     ib.s.set_opcode(bytes[0]);
                     uint64_t imm = 0;
                     for (size_t i = 1; i < bytes.size(); ++i)
                       imm |= uint64_t{bytes[i]} << (8 * (i - 1));
                     ib.s.set_imm(imm, static_cast<unsigned>(bytes.size() - 1));
                     return g.emit(ib);
                   }});
    out.back().weight = 1;
  }
}

}  // namespace difftest
