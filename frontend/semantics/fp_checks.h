// Availability checks that come first in every x87, MMX and SSE instruction (SDM vol. 3, 2.5
// and 13.1; vol. 1, 11.6.2 and 12.1): CR0.EM, CR0.TS and CR4.OSFXSR decide between #UD, #NM
// and running the instruction. Shared by all FPU/SIMD semantics so the rules live in one place.
#pragma once

#include "frontend/cpu_state.h"
#include "frontend/system/mode.h"

namespace umbra {

// x87 floating-point instructions (not WAIT): CR0.EM or CR0.TS -> #NM.
inline void check_x87_available(CpuState& cpu) {
  if (cpu.cr0 & (cr0::EM | cr0::TS)) raise_fault(cpu, kNM);
}

// WAIT/FWAIT: #NM only when CR0.MP and CR0.TS are both set.
inline void check_wait_available(CpuState& cpu) {
  if ((cpu.cr0 & (cr0::MP | cr0::TS)) == (cr0::MP | cr0::TS)) raise_fault(cpu, kNM);
}

// MMX instructions: CR0.EM -> #UD, CR0.TS -> #NM.
inline void check_mmx_available(CpuState& cpu) {
  if (cpu.cr0 & cr0::EM) raise_fault(cpu, kUD);
  if (cpu.cr0 & cr0::TS) raise_fault(cpu, kNM);
}

// SSE-family instructions: CR0.EM or CR4.OSFXSR clear -> #UD, CR0.TS -> #NM.
inline void check_sse_available(CpuState& cpu) {
  if ((cpu.cr0 & cr0::EM) || !(cpu.cr4 & cr4::OSFXSR)) raise_fault(cpu, kUD);
  if (cpu.cr0 & cr0::TS) raise_fault(cpu, kNM);
}

}  // namespace umbra
