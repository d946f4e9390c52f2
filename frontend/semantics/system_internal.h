// Shared by the system-instruction files (system*.cpp): their registration entry points, which
// register_system() calls, and small helpers.
#pragma once

#include "frontend/cpu_state.h"
#include "frontend/insn.h"
#include "frontend/semantics/registry.h"

namespace umbra {

void register_system_movcr(BinderTable& t);  // MOV CR, MOV DR, CLTS
void register_system_grp7(BinderTable& t);   // 0F 01, INVPCID, INVD, WBINVD
void register_system_grp15(BinderTable& t);  // 0F AE non-FPU members
void register_system_msr(BinderTable& t);    // RDMSR, WRMSR, RDTSC, RDTSCP, RDPMC, CPUID
void register_system_flags(BinderTable& t);  // CLI, STI

// #GP(0) unless CPL = 0 (virtual-8086 mode has CPL 3). Privileged instructions check this
// before anything else that can fault (SDM vol. 3, 5.9).
inline void require_cpl0(CpuState& cpu) {
  if (cpu.cpl != 0) raise_fault(cpu, kGP, 0);
}

// Valid instructions whose semantics are #UD (UD0/UD1/UD2, and instructions of features the
// CPU model never has, such as MONITOR/MWAIT).
void raise_ud(CpuState& cpu, const Insn& i);

// The RIP after `i` in the mode the instruction was decoded in. Instructions that can change
// the mode (MOV to CR0, LMSW) compute it before the change and store it after.
inline uint64_t rip_after(const CpuState& cpu, const Insn& i) {
  const uint64_t r = cpu.rip + i.len;
  return cpu.mode64 ? r : (cpu.code32 ? static_cast<uint32_t>(r) : static_cast<uint16_t>(r));
}

}  // namespace umbra
