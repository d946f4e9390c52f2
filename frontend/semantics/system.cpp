// System instructions (SDM vol. 2; vol. 3). Only HLT is implemented here so far: every test
// kernel ends with it. Far transfers, INT/IRET, segment and control-register loads, CLI/STI,
// I/O, CPUID, MSRs and the descriptor-table instructions arrive with the system semantics and
// stay unbound (#UD, counted and logged) until then.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
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

}  // namespace

void register_system(BinderTable& t) {
  bind(t, Op::HLT, &bind_hlt);
}

}  // namespace umbra
