// An x86-64 instruction encoder of the generator's own, written from the encoding rules of the
// Intel SDM vol. 2, chapter 2 (legacy prefixes, REX, VEX, ModRM, SIB, displacement, immediate).
// It deliberately shares nothing with Umbra's decoder tables: the difftest is an independent
// description of the instruction set.
#pragma once

#include <cstddef>
#include <cstdint>

namespace difftest {

constexpr uint8_t kNone = 0xff;  // no base / no index register
constexpr uint8_t kRip = 0xfe;   // RIP-relative base

// Byte-register numbering used by the generator: 0..15 are AL..R15B (4..7 = SPL, BPL, SIL, DIL,
// which need a REX prefix), 16..19 are AH, CH, DH, BH (which forbid one).
constexpr uint8_t kAH = 16;

struct MemOp {
  uint8_t base = kNone;   // 0..15, kRip or kNone
  uint8_t index = kNone;  // 0..15 except 4, or kNone
  uint8_t scale = 0;      // index is shifted left by this (0..3)
  int32_t disp = 0;
  uint8_t disp_bytes = 0;   // 0, 1 or 4 (0 is widened to 1 where the encoding has no disp0 form)
  bool force_sib = false;   // encode a base-only operand with a SIB byte anyway
  bool addr32 = false;      // 0x67: 32-bit effective address
  uint64_t rip_target = 0;  // kRip: absolute address the operand refers to
};

struct RmOp {
  bool is_mem = false;
  uint8_t reg = 0;  // register operand (ModRM.rm with mod=11)
  MemOp mem;
};

enum class Vex : uint8_t { kNone, kMap0F38, kMap0F3A };

struct InsnSpec {
  // Legacy prefixes, emitted in this order (the caller may shuffle them).
  uint8_t prefixes[6] = {};
  uint8_t num_prefixes = 0;
  bool rex_w = false;
  bool force_rex = false;  // emit REX even when no bit is set (byte registers SPL..DIL, tests)
  uint8_t opcode[3] = {};
  uint8_t opcode_len = 0;
  uint8_t opcode_reg = kNone;  // +r opcodes: low 3 bits go into the last opcode byte, bit 3 = REX.B
  bool has_modrm = false;
  uint8_t modrm_reg = 0;  // ModRM.reg value incl. bit 3 (REX.R); group opcodes put /digit here
  RmOp rm;
  uint8_t imm[8] = {};
  uint8_t imm_len = 0;
  // VEX (3-byte form C4): map, pp (0: none, 1: 66, 2: F3, 3: F2), W, vvvv, L.
  Vex vex = Vex::kNone;
  uint8_t vex_pp = 0;
  bool vex_w = false;
  uint8_t vex_vvvv = 0;
  bool vex_l = false;

  void add_prefix(uint8_t p) { prefixes[num_prefixes++] = p; }
  void set_opcode(uint8_t a) { opcode[0] = a, opcode_len = 1; }
  void set_opcode(uint8_t a, uint8_t b) { opcode[0] = a, opcode[1] = b, opcode_len = 2; }
  void set_opcode(uint8_t a, uint8_t b, uint8_t c) {
    opcode[0] = a, opcode[1] = b, opcode[2] = c, opcode_len = 3;
  }
  void set_imm(uint64_t v, unsigned bytes) {
    for (unsigned i = 0; i < bytes; ++i) imm[i] = static_cast<uint8_t>(v >> (8 * i));
    imm_len = static_cast<uint8_t>(bytes);
  }
};

// Encodes `spec` for an instruction starting at linear address `addr` into `out` (at least 16
// bytes). Returns the length. RIP-relative displacements are computed against the end of the
// instruction.
size_t encode(const InsnSpec& spec, uint64_t addr, uint8_t* out);

// True if a byte register number needs a REX prefix (SPL..DIL, R8B..R15B).
inline bool byte_reg_needs_rex(uint8_t r) {
  return r >= 4 && r < 16;
}
// True if it forbids one (AH..BH).
inline bool byte_reg_is_high(uint8_t r) {
  return r >= kAH;
}

}  // namespace difftest
