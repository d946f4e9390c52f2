// The one way C++ enters generated code (threaded code, quick code, regions): a trampoline that
// saves the registers the host ABI asks a callee to preserve, so that the code itself need not.
// Compiled code chains from block to block by jumps and returns to the dispatcher only at the
// end of the chain; each block saving and restoring RBX, RBP and R12-R15 on the way through cost
// twelve pushes and pops per transition (docs/jit.md "Entering compiled code").
#pragma once

#include "frontend/cpu_state.h"

extern "C" {
// Runs `code(cpu)` with RBX, RBP, R12-R15 saved around it: `code` and everything it jumps to may
// clobber every general-purpose register except RSP. A fault's longjmp out of a handler called
// from the code restores the run loop's registers from its jmp_buf, past this frame.
void umbra_enter_code(umbra::CpuState* cpu, void (*code)(umbra::CpuState*));
}
