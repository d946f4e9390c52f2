// Stack accesses of far transfers, IRET and event delivery: frames pushed onto the current or a
// new stack with all checks done before the first write, pops from the current stack, and the
// stack-switch rules of privilege changes (TSS stacks, inner and outer stack segments).
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"
#include "frontend/system/segmentation.h"

namespace umbra {

// A stack as a transfer sees it: its segment cache, the stack-pointer value and width.
struct StackCursor {
  SegmentCache ss;
  uint64_t sp;
  unsigned width;  // 2 (SP), 4 (ESP) or 8 (RSP, 64-bit mode: no base, no limit)
  // Writes go through the implicit supervisor path: the inner stack of a privilege change
  // entered from CPL 3, which the CPU writes with the new (supervisor) privilege.
  bool implicit;
};

// The current stack (SS:rSP with the width of the current mode).
StackCursor current_stack(const CpuState& cpu);
// A stack in segment `ss` at `sp`, its width from the mode (64-bit: 8) or SS.B.
StackCursor make_stack(const SegmentCache& ss, uint64_t sp, bool mode64, bool implicit);

// sp + delta, wrapped to the stack width.
uint64_t stack_offset(const StackCursor& st, int64_t delta);

struct StackSlot {
  uint64_t value;
  unsigned size;  // 2, 4 or 8
};

constexpr unsigned kMaxFrameSlots = 16;

// A frame to push: slots[0..n) in push order (slots[0] ends at the highest address).
struct StackFrame {
  StackSlot slots[kMaxFrameSlots];
  unsigned n = 0;
  void push(uint64_t value, unsigned size) { slots[n++] = StackSlot{value, size}; }
};

// Checks that every slot of `f` fits: outside the segment (legacy) or non-canonical (64-bit)
// raises vector(error). Writes nothing.
void check_frame(CpuState& cpu, const StackCursor& st, const StackFrame& f, uint8_t vector,
                 uint32_t error);
// Writes the (checked) frame; a #PF may still arise from the writes. Returns the new stack
// pointer.
uint64_t write_frame(CpuState& cpu, const StackCursor& st, const StackFrame& f);

// Reads `size` bytes at sp + delta of `st` with the current privilege (limit or canonical
// violations: vector(error)).
uint64_t stack_read(CpuState& cpu, const StackCursor& st, int64_t delta, unsigned size,
                    uint8_t vector, uint32_t error);

// Writes the stack pointer of a newly installed SS: the low 16 bits (B = 0) or ESP (B = 1,
// zero-extended), or RSP in 64-bit mode.
void write_stack_pointer(CpuState& cpu, uint64_t sp, unsigned width);

// ---- stack switch on a privilege change (SDM vol. 3, 5.8.5, 6.12.1, 7.2.1) ----

// SS:ESP for privilege level `dpl` from the current 32- or 16-bit TSS; #TS(TR, EXT) when the
// slot lies beyond the TSS limit.
void read_tss_stack(CpuState& cpu, unsigned dpl, bool ext, uint16_t* ss, uint32_t* esp);
// RSPn (ist == 0, n = dpl) or ISTn from the 64-bit TSS; #TS(TR, EXT) beyond its limit.
uint64_t read_tss64_stack(CpuState& cpu, unsigned dpl, unsigned ist, bool ext);

// The stack segment of an inward privilege change to `dpl` (interrupt/trap gate, call gate):
// null -> #TS(EXT); outside the table, RPL != dpl, DPL != dpl, not writable data ->
// #TS(selector, EXT); not present -> #SS(selector, EXT).
SegmentLoad check_inner_stack_segment(CpuState& cpu, uint16_t sel, unsigned dpl, bool ext);

// The stack segment of a return to outer privilege level `rpl` (RET far, IRET): null -> #GP(0)
// (allowed in 64-bit mode for rpl < 3 when `null_ok`); outside the table, RPL != rpl, DPL != rpl,
// not writable data -> #GP(selector); not present -> #SS(selector).
SegmentLoad check_outer_stack_segment(CpuState& cpu, uint16_t sel, unsigned rpl, bool null_ok);

}  // namespace umbra
