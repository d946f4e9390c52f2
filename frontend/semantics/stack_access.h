// Stack-pointer arithmetic and push/pop primitives shared by the stack and control-transfer
// semantics (docs/semantics.md, "Data movement, control transfer, stack, strings").
//
// The stack width is RSP in 64-bit mode and otherwise SS.B (CpuState::stack32) choosing ESP or SP
// (SDM vol. 1, 6.2.3 and 6.2.5). Stack references use segment SS. Every primitive computes the
// new stack pointer, performs the memory access (which may fault) and only then writes RSP, so a
// faulting push or pop leaves the registers untouched.
#pragma once

#include <cstdint>

#include "frontend/operands.h"

namespace umbra {

// Stack-pointer width in bytes: 8, 4 or 2.
inline unsigned stack_width(const CpuState& cpu) {
  return cpu.mode64 ? 8 : (cpu.stack32 ? 4 : 2);
}

// The current stack pointer as the stack width sees it (zero-extended).
inline uint64_t read_sp(const CpuState& cpu) {
  return truncate_address(cpu.gpr[RSP], stack_width(cpu));
}

// `sp + delta` wrapped to the stack width.
inline uint64_t sp_offset(const CpuState& cpu, uint64_t sp, int64_t delta) {
  return truncate_address(sp + static_cast<uint64_t>(delta), stack_width(cpu));
}

// Writes the stack pointer in the stack width: a 16-bit stack changes only SP, a 32-bit one writes
// ESP (zero-extending, like every 32-bit register write).
inline void write_sp(CpuState& cpu, uint64_t sp) {
  if (cpu.mode64)
    cpu.gpr[RSP] = sp;
  else if (cpu.stack32)
    write_gpr<uint32_t>(cpu, RSP, static_cast<uint32_t>(sp));
  else
    write_gpr<uint16_t>(cpu, RSP, static_cast<uint16_t>(sp));
}

// Linear address of a stack slot at stack-pointer value `sp`, for an access of `size` bytes
// (a write when `write`): outside 64-bit mode the SS limit is checked (#SS(0)) when SS is not
// flat (frontend/system/segmentation_checks.h).
inline uint64_t stack_linear(const CpuState& cpu, uint64_t sp, unsigned size = 1,
                             bool write = false) {
  return seg_linear(cpu, SS, sp, size, write);
}

// PUSH of one value of operand size sizeof(T): the slot is written first (faulting as a write),
// then RSP is updated. A non-canonical stack address in 64-bit mode is #SS(0).
template <typename T>
inline void push_value(CpuState& cpu, T value) {
  if (__builtin_expect(cpu.mode64, 1)) {
    const uint64_t sp = cpu.gpr[RSP] - sizeof(T);
    write_mem_seg<T>(cpu, sp, value, SS);  // SS has no base in 64-bit mode
    cpu.gpr[RSP] = sp;
    return;
  }
  const uint64_t sp = sp_offset(cpu, read_sp(cpu), -static_cast<int64_t>(sizeof(T)));
  write_mem<T>(cpu, stack_linear(cpu, sp, sizeof(T), true), value);
  write_sp(cpu, sp);
}

// Reads the value on top of the stack without changing any register.
template <typename T>
inline T peek_stack(CpuState& cpu) {
  return read_mem_seg<T>(cpu, stack_linear(cpu, read_sp(cpu), sizeof(T), false), SS);
}

// Stack pointer after releasing `bytes` bytes from the top of the stack.
inline uint64_t sp_after_pop(const CpuState& cpu, uint64_t bytes) {
  return sp_offset(cpu, read_sp(cpu), static_cast<int64_t>(bytes));
}

}  // namespace umbra
