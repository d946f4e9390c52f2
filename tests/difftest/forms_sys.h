// Helpers shared by the system-instruction forms (forms_sys_*.cpp): selectors worth loading
// and instructions given as fixed bytes.
#pragma once

#include <cstdint>
#include <initializer_list>

#include "forms.h"

namespace difftest {

// A selector for a segment load, LAR, LSL, VERR or VERW, drawn from the interesting classes
// on a Linux x86-64 host (GDT layout in umbra_system.cpp): user data 0x2b, user code 0x33 and
// 0x23, the per-CPU segment 0x7b, each with every RPL; null selectors; kernel code and data
// (DPL 0); the TSS and LDT slots (system descriptors); unused and TLS entries; selectors past
// the GDT limit; LDT selectors (TI = 1: the LDT's entries with --ldt, past its limit, or with
// no LDT at all).
uint16_t pick_selector(Gen& g, bool allow_null);

// Sets the 16-bit selector operand: a register (the rest of the register random) or a memory
// operand with the selector planted. Unknown values (an already written register, memory that
// cannot be planted any more) are fine: both sides see the same.
void set_selector_operand(Gen& g, const Ib& ib, const RmOp& rm, uint16_t sel);

// An instruction given as opcode bytes plus fixed trailing bytes (no prefixes, no REX), e.g.
// {0x0f, 0x01, 0xf8}: the first byte is the opcode, the rest go out as an immediate.
Ib raw_insn(Gen& g, std::initializer_list<uint8_t> bytes);

}  // namespace difftest
