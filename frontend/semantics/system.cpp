// System instructions (SDM vol. 2; vol. 3): HLT and UD0/UD1/UD2 here, and the registration of
// the other system-instruction files (system_internal.h): control and debug registers
// (system_movcr.cpp), group 7 and TLB/cache control (system_grp7.cpp), group 15 (system_grp15.cpp),
// MSRs, time stamp counter and CPUID (system_msr.cpp), CLI/STI (system_flags.cpp). Port I/O is
// in io.cpp; segmentation, far transfers and interrupts in the segmentation/interrupt files.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/semantics/system_internal.h"
#include "jit/engine.h"

namespace umbra {

namespace {

// HLT: privileged (#GP(0) at CPL > 0). At CPL 0 the CPU stops after the instruction: RIP points
// past the HLT (an interrupt that wakes the CPU returns there) and the engine leaves its run loop.
void hlt(CpuState& cpu, const Insn& i) {
  if (cpu.cpl != 0) raise_fault(cpu, kGP, 0);
  cpu.halted = 1;
  cpu.exit_request |= kExitHalt;
  next_rip(cpu, i);
}

Handler bind_hlt(const Insn&) {
  return &hlt;
}

// UD0 (0F FF), UD1 (0F B9), UD2 (0F 0B): always #UD (SDM vol. 2, UD). UD0 and UD1 have a ModRM
// operand that only sets their length; it is never accessed. (A handler of their own, not
// registry.h's handler_ud, which marks encodings the decoder found invalid.)
Handler bind_ud(const Insn&) {
  return &raise_ud;
}

}  // namespace

void raise_ud(CpuState& cpu, const Insn&) {
  raise_fault(cpu, kUD);
}

void register_system(BinderTable& t) {
  bind(t, Op::HLT, &bind_hlt);
  bind(t, Op::UD0, &bind_ud);
  bind(t, Op::UD1, &bind_ud);
  bind(t, Op::UD2, &bind_ud);
  register_system_movcr(t);
  register_system_grp7(t);
  register_system_grp15(t);
  register_system_msr(t);
  register_system_flags(t);
}

}  // namespace umbra
