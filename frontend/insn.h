// A decoded instruction: everything the semantics need, resolved once at decode time, so that a
// block decoded once runs many times without looking at instruction bytes again.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

enum class Op : uint16_t {
#define X(name, mnem) name,
#include "frontend/ops.inc"
#undef X
  kCount
};

const char* op_mnemonic(Op op);
const char* op_name(Op op);

struct Insn;
// A semantic handler. Tier 0 calls it directly; tier 1 calls (and inlines) the same function.
using Handler = void (*)(CpuState&, const Insn&);

// What an operand slot holds.
enum class OpKind : uint8_t {
  None = 0,
  Reg,  // a general-purpose register; Operand::reg is the register number (see below)
  Mem,  // the instruction's memory operand (Insn::base/index/scale/disp/seg/addr_size)
  Imm,  // Insn::imm
};

// Register numbering in Operand::reg for general-purpose registers:
//   0..15  RAX..R15 (for byte operands: AL, CL, DL, BL, SPL, BPL, SIL, DIL, R8B..R15B)
//   16..19 AH, CH, DH, BH (byte operands with ModRM/opcode register 4..7 and no REX prefix)
constexpr uint8_t kRegAH = 16;
// Memory base/index placeholders.
constexpr uint8_t kNoReg = 0xff;
constexpr uint8_t kRipReg = 0xfe;  // RIP-relative base: next instruction's RIP

struct Operand {
  OpKind kind;
  uint8_t reg;
};

// Prefix bits recorded for semantics that care (Insn::prefixes).
namespace pfx {
constexpr uint8_t kLock = 1u << 0;
constexpr uint8_t kRep = 1u << 1;    // F3: REP / REPE / REPZ
constexpr uint8_t kRepne = 1u << 2;  // F2: REPNE / REPNZ
constexpr uint8_t kOpsize = 1u << 3;
constexpr uint8_t kAddrsize = 1u << 4;
constexpr uint8_t kRex = 1u << 5;
constexpr uint8_t kRexW = 1u << 6;
constexpr uint8_t kVex = 1u << 7;
}  // namespace pfx

// Decoded-instruction attribute bits (Insn::attrs).
namespace attr {
constexpr uint8_t kEndsBlock = 1u << 0;     // control transfer / mode change / HLT: last in block
constexpr uint8_t kWritesRip = 1u << 1;     // the handler sets RIP itself (else RIP += len)
constexpr uint8_t kUnimplemented = 1u << 2; // decoded, but no handler bound: raises #UD
// Set only on tier 1's copies of a block's instructions (jit/flag_liveness.h dead_flags): no one
// sees the status flags this instruction leaves, so its handler may leave them as they were.
constexpr uint8_t kFlagsDead = 1u << 3;
}  // namespace attr

struct Insn {
  Handler fn;        // bound semantic handler (raises #UD for invalid/unimplemented)
  uint64_t imm;      // immediate, sign- or zero-extended per the encoding; rel branch: displacement
                     // (sign-extended); RET/ENTER: imm16
  int64_t disp;      // memory displacement, sign-extended; moffs forms: the absolute offset
                     // (with base = index = kNoReg)
  Op op;
  uint8_t len;       // total length in bytes, 1..15
  uint8_t opsize;    // operand size in bytes: 1, 2, 4, 8 (16 for CMPXCHG16B)
  uint8_t src_size;  // MOVZX/MOVSX source size; otherwise 0
  uint8_t addr_size; // 2, 4 or 8
  uint8_t seg;       // SegReg used by the memory operand (default per base, or the override)
  uint8_t base;      // memory base register, kNoReg or kRipReg
  uint8_t index;     // memory index register or kNoReg
  uint8_t scale;     // index shift: 0..3
  uint8_t cond;      // condition code 0..15 for Jcc/SETcc/CMOVcc (SDM vol. 1, B.1)
  uint8_t ext;       // ModRM.reg for group opcodes that need it at run time; ModRM byte for GRP7
  uint8_t prefixes;  // pfx:: bits
  uint8_t attrs;     // attr:: bits
  uint8_t imm2;      // second immediate (ENTER nesting level)
  uint8_t vreg;      // VEX.vvvv register (BMI), else 0
  Operand dst;       // first operand (destination where there is one)
  Operand src;       // second operand
  Operand src2;      // third operand (IMUL r, r/m, imm; SHLD/SHRD count; BMI vvvv)
  uint16_t opcode;   // the encoding, for operations decoded generically (ESCAPE_X87/SSE):
                     // bits 0-7 opcode byte (3DNow!: the suffix), 8-11 map (0 one-byte, 1 0F,
                     // 2 0F38, 3 0F3A, 4 3DNow!), bit 12 VEX.L (docs/decoder.md)
};

// Whether a handler may skip writing the status flags (attr::kFlagsDead). Tier 1's instructions
// are constants in its IR, so the test folds and the flag computation goes with it.
inline bool flags_dead(const Insn& i) { return (i.attrs & attr::kFlagsDead) != 0; }

}  // namespace umbra
