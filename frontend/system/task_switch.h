// Hardware task switching (SDM vol. 3, chapter 7) for protected mode outside IA-32e mode: JMP or
// CALL to a TSS descriptor or task gate, interrupts and exceptions through a task gate, and IRET
// with EFLAGS.NT = 1. 32-bit and 16-bit TSSs. In IA-32e mode task switches do not exist: the
// callers raise #GP before getting here.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

enum class TaskSwitchSource : uint8_t {
  Jmp,   // JMP far: old task's busy bit cleared, no link
  Call,  // CALL far: new task linked to the old one (NT, back link)
  Iret,  // IRET with NT = 1: return to the back-linked task, old task's busy bit cleared
  Gate,  // interrupt or exception through a task gate: linked like CALL
};

// Switches to the task whose TSS selector is `tss_sel`. The caller has done its own privilege
// checks (JMP/CALL: DPL vs CPL and RPL of the TSS descriptor or task gate; software interrupts:
// the gate DPL). `return_rip` is the EIP saved in the old task's TSS. `ext` is the EXT bit of
// error codes raised before the switch commits. When `push_error` is set (an exception with an
// error code delivered through a task gate), `error_code` is pushed on the new task's stack.
// Faults before the commit point leave the old task intact; faults while loading the new task's
// segment registers after the commit point are raised in the new task's context (vol. 3, 7.3).
void task_switch(CpuState& cpu, uint16_t tss_sel, TaskSwitchSource source, uint64_t return_rip,
                 bool ext, bool push_error = false, uint32_t error_code = 0);

}  // namespace umbra
