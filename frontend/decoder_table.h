// The decoder's declarative tables: operand forms (frontend/opcode_forms.inc) and opcode maps
// (frontend/opcode_*.inc), turned into flat lookup arrays at compile time (decoder_table.cpp).
// The engine (decoder.cpp) is generic code driven by these; see docs/decoder.md.
#pragma once

#include <cstdint>

#include "frontend/insn.h"

namespace umbra::dec {

// ---- operand forms ----

// Where an operand comes from (the SDM's operand addressing codes, vol. 2, A.2.1).
enum class Loc : uint8_t {
  None,
  E,      // ModRM r/m: register (rm + REX.B) or memory
  M,      // ModRM r/m, memory only (register form: #UD)
  R,      // ModRM r/m, register only (memory form: #UD)
  Rf,     // ModRM r/m as a register whatever ModRM.mod says (MOV CR/DR, SDM vol. 2, MOV-CR)
  G,      // ModRM reg + REX.R
  Z,      // low 3 bits of the opcode + REX.B
  Acc,    // AL/AX/EAX/RAX
  Cnt,    // CL (shift counts)
  Dx,     // DX (I/O port)
  Imm,    // the immediate
  One,    // the constant 1 (D0/D1 shifts): an Imm operand with Insn::imm = 1
  Moffs,  // absolute memory offset (A0-A3): a Mem operand with base = index = kNoReg
  V,      // VEX.vvvv general-purpose register
  S,      // segment register in ModRM.reg (kind None, reg = SegReg)
  Cr,     // control register in ModRM.reg + REX.R (kind None, reg = n)
  Dr,     // debug register in ModRM.reg + REX.R (kind None, reg = n)
  Seg,    // segment register implied by the opcode, bits 5:3 (PUSH/POP ES/CS/SS/DS/FS/GS)
};

// How the immediate (if any) is encoded.
enum class Imm : uint8_t {
  None,
  Ib,    // imm8, sign-extended
  Ibu,   // imm8, zero-extended (counts, ports, vectors, bit indexes)
  Iw,    // imm16, zero-extended
  Iz,    // imm16 (opsize 2) or imm32, sign-extended
  Iv,    // imm16/32/64 by operand size (MOV B8+r)
  Jb,    // rel8, sign-extended
  Jz,    // rel16 (opsize 2) or rel32, sign-extended; rel32 always in 64-bit mode
  Ap,    // far pointer: offset (16/32 by operand size) then selector16
  O,     // moffs: address-size wide, zero-extended
  IwIb,  // ENTER: imm16 then imm8
  IbIb,  // EXTRQ/INSERTQ: two imm8
  Id,    // imm32, zero-extended (XOP map 0A)
};

// Which rule gives Insn::opsize.
enum class Size : uint8_t {
  B,    // 1
  V,    // 2/4/8 from mode, 66 and REX.W
  Z,    // 2 or 4: like V but REX.W ignored (IN/OUT/INS/OUTS)
  W,    // always 2
  Y,    // 4, or 8 with REX.W / VEX.W in 64-bit mode (no 16-bit form)
  Q64,  // 8 in 64-bit mode, else 4 (MOV CR/DR)
  DQ,   // 8, or 16 with REX.W (CMPXCHG8B/16B)
};

// Operand locations of a form that need an encoding check (FormInfo::checks).
namespace form_check {
constexpr uint8_t kMemOnly = 1u << 0;   // an M operand: the register form is #UD
constexpr uint8_t kRegOnly = 1u << 1;   // an R operand: the memory form is #UD
constexpr uint8_t kSreg = 1u << 2;      // segment register in ModRM.reg
constexpr uint8_t kCr = 1u << 3;        // control register in ModRM.reg
constexpr uint8_t kDr = 1u << 4;        // debug register in ModRM.reg
constexpr uint8_t kForceReg = 1u << 5;  // ModRM.mod ignored: r/m is always a register
}  // namespace form_check

struct FormInfo {
  Loc dst, src, src2;
  Imm imm;
  Size size;
  uint8_t src_size;  // Insn::src_size (MOVZX/MOVSX/MOVSXD); a 1 makes src a byte register
  bool modrm;
  uint8_t checks;  // form_check:: bits, derived from the locations
};

enum class Form : uint8_t {
#define FORM(name, dst, src, src2, imm, size, src_size, modrm) name,
#include "frontend/opcode_forms.inc"
#undef FORM
  kCount
};

extern const FormInfo kForms[static_cast<size_t>(Form::kCount)];

// ---- opcode entries ----

// Attribute flags of a table entry (combined with | in the .inc files).
enum Flag : uint32_t {
  LOCK = 1u << 0,    // LOCK allowed (when the destination is memory)
  D64 = 1u << 1,     // default operand size 64 in 64-bit mode (66 -> 16)
  F64 = 1u << 2,     // operand size forced to 64 in 64-bit mode (near branches, Intel)
  I64 = 1u << 3,     // invalid in 64-bit mode
  O64 = 1u << 4,     // valid only in 64-bit mode
  END = 1u << 5,     // ends the block (attr::kEndsBlock)
  RIP = 1u << 6,     // the handler writes RIP (attr::kWritesRip)
  EXT = 1u << 7,     // Insn::ext = ModRM.reg
  EXTM = 1u << 8,    // Insn::ext = the whole ModRM byte
  UNS = 1u << 9,     // a real instruction Umbra does not support: decodes (length) but #UD
  NOP90 = 1u << 10,  // 90: without REX.B it is NOP (and F3 90 is PAUSE), else XCHG
  L0 = 1u << 11,     // VEX.L must be 0 (128-bit only, or a general-purpose instruction)
  L1 = 1u << 12,     // VEX.L must be 1 (256-bit only)
  M66 = 1u << 13,    // set by the table builder: 66 selected this entry (mandatory prefix),
                     // so it does not change the operand size
  NV = 1u << 14,     // VEX.vvvv is not an operand and must be 1111b (SDM vol. 2, 2.3.6)
  NVM = 1u << 15,    // likewise, for the memory form only (VMOVSS/VMOVSD)
  W0 = 1u << 16,     // VEX.W must be 0 (SDM: "VEX.W0"; #UD otherwise, also on the host CPU)
  W1 = 1u << 17,     // VEX.W must be 1
  NONE = 0,
};

// Selector columns of a table row (combined with |).
//   Legacy one-byte map: ANY (all modes), LEG (16/32-bit modes only; the 64-bit column gets
//   the same entry flagged I64 unless L64 claims it), L64 (64-bit mode only).
//   Escaped and VEX maps: the mandatory prefix NP (none), P66, PF3, PF2 (SDM vol. 2, 2.1.2:
//   the last of F2/F3 wins over 66), or ANY: every column no explicit selector claims.
//   Group members additionally select on ModRM.mod: MEM, REG or BOTH.
enum Sel : uint8_t { NP = 1, P66 = 2, PF3 = 4, PF2 = 8, ANY = 16, LEG = 32, L64 = 64 };
enum ModSel : uint8_t { BOTH, MEM, REG };

// Group ids (ModRM.reg dispatch), declared in opcode_group_ids.inc; members in opcode_groups.inc.
enum Group : uint8_t {
  G_NONE,
#define GROUP(name) name,
#include "frontend/opcode_group_ids.inc"
#undef GROUP
  kNumGroups
};

// The Op is stored in a byte to keep an entry at 8 bytes.
static_assert(static_cast<size_t>(Op::kCount) <= 256);

struct OpcodeEntry {
  uint8_t op_byte;  // Op; INVALID with form None: undefined encoding
  Form form;        // with a group: the form members of form Same inherit
  uint8_t group;    // != G_NONE: dispatch on ModRM.reg (nested: ModRM.rm) into this group
  uint8_t rm_mask;  // register forms of group members: bit n set = ModRM.rm n is valid
                    // (0 = all valid)
  uint32_t flags;
  constexpr Op op() const { return static_cast<Op>(op_byte); }
};
static_assert(sizeof(OpcodeEntry) == 8);

// Opcode maps as the engine indexes them.
enum Map : uint8_t { kMapLegacy, kMap0F, kMap0F38, kMap0F3A, kNumLegacyMaps };

struct DecoderTables {
  OpcodeEntry legacy[2][256];              // [mode64][opcode]
  OpcodeEntry escaped[3][4][256];          // [0F, 0F38, 0F3A][prefix column][opcode]
  OpcodeEntry vex[3][4][256];              // [VEX map 1..3][pp][opcode]
  OpcodeEntry group[kNumGroups][4][8][2];  // [group][prefix column][ModRM.reg][mod == 3]
  OpcodeEntry amd3dnow[256];               // 0F 0F suffix byte
};

extern const DecoderTables kTables;

}  // namespace umbra::dec
