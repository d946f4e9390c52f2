// Operand-form selectors for the arithmetic, logic, shift, bit and BMI semantics
// (arith.cpp, logic.cpp, shift.cpp, bit.cpp, bmi.cpp).
//
// registry.h's select_binary/select_unary cover the classic ALU forms. The instructions here
// have narrower shapes (a register destination with a register-or-memory source; a count that is
// an immediate or CL; sizes 16..64 or 32..64 only), and a selector that instantiates only the
// shapes the decoder can produce keeps nonsensical instantiations (a shift count read from
// memory, a BSF writing to memory) out of the binary.
#pragma once

#include <cstdint>

#include "frontend/insn.h"
#include "frontend/operands.h"

namespace umbra::forms {

// Sets of operand sizes in bytes, as bit masks (bit n = size n).
constexpr unsigned kAllSizes = 1u << 1 | 1u << 2 | 1u << 4 | 1u << 8;
constexpr unsigned kWideSizes = 1u << 2 | 1u << 4 | 1u << 8;  // no byte form
constexpr unsigned kVexSizes = 1u << 4 | 1u << 8;             // VEX GPR instructions (BMI, ADX)

// Calls pick(T{}) with T the unsigned type of the instruction's operand size when that size is
// in `Sizes`; nullptr otherwise. `pick` is a generic lambda returning a Handler.
template <unsigned Sizes, typename Pick>
Handler by_size(const Insn& i, Pick pick) {
  switch (i.opsize) {
    case 1:
      if constexpr ((Sizes & 2u) != 0) return pick(uint8_t{});
      break;
    case 2:
      if constexpr ((Sizes & 4u) != 0) return pick(uint16_t{});
      break;
    case 4:
      if constexpr ((Sizes & 16u) != 0) return pick(uint32_t{});
      break;
    case 8:
      if constexpr ((Sizes & 256u) != 0) return pick(uint64_t{});
      break;
    default:
      break;
  }
  return nullptr;
}

// F<T, K>::run for an operand of kind Reg or Mem.
template <typename T, template <typename, OpKind> class F>
Handler reg_or_mem(OpKind k) {
  switch (k) {
    case OpKind::Reg:
      return &F<T, OpKind::Reg>::run;
    case OpKind::Mem:
      return &F<T, OpKind::Mem>::run;
    default:
      return nullptr;
  }
}

// F<T, D, S>::run for a destination (i.dst) of kind Reg or Mem and a second operand `second`
// (i.src or i.src2) of kind Reg or Imm: shift counts (Imm, or Reg meaning CL), bit offsets.
template <typename T, template <typename, OpKind, OpKind> class F>
Handler rm_by_reg_or_imm(const Insn& i, const Operand& second) {
  using K = OpKind;
  const bool imm = second.kind == K::Imm;
  if (!imm && second.kind != K::Reg) return nullptr;
  switch (i.dst.kind) {
    case K::Reg:
      return imm ? &F<T, K::Reg, K::Imm>::run : &F<T, K::Reg, K::Reg>::run;
    case K::Mem:
      return imm ? &F<T, K::Mem, K::Imm>::run : &F<T, K::Mem, K::Reg>::run;
    default:
      return nullptr;
  }
}

// F<T, S>::run for "register <- f(register or memory)" forms: dst must be a register.
template <typename T, template <typename, OpKind> class F>
Handler reg_from_rm(const Insn& i) {
  if (i.dst.kind != OpKind::Reg) return nullptr;
  return reg_or_mem<T, F>(i.src.kind);
}

}  // namespace umbra::forms
