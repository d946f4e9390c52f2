// CLI and STI (SDM vol. 2, CLI and STI; vol. 3, 20.3 "Interrupt and exception handling in
// virtual-8086 mode" and 20.4 "Protected-mode virtual interrupts").
//
//   real mode                         IF changes
//   protected mode, CPL <= IOPL       IF changes
//   protected mode, CPL = 3 > IOPL    with CR4.PVI: VIF changes (STI: #GP(0) if VIP = 1);
//                                     else #GP(0)
//   protected mode, 0 < CPL < 3, > IOPL  #GP(0)
//   virtual-8086 mode, IOPL = 3       IF changes
//   virtual-8086 mode, IOPL < 3       with CR4.VME: VIF changes (STI: #GP(0) if VIP = 1);
//                                     else #GP(0)
// The CPU model does not advertise VME (so CR4.VME/PVI cannot be set today); the VIF paths are
// here for when it does.
//
// STI that sets IF (0 -> 1) inhibits maskable interrupts until after the next instruction:
// cpu.interrupt_shadow, which the engine honours and clears.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/system_internal.h"
#include "frontend/system/mode.h"

namespace umbra {

namespace {

enum class Target { IF, VIF };

// Which flag CLI/STI act on, or #GP(0).
Target interrupt_flag_target(CpuState& cpu) {
  if (!protected_mode(cpu)) return Target::IF;
  const unsigned iopl = static_cast<unsigned>((cpu.rflags & rf::IOPL) >> 12);
  if (v86_mode(cpu)) {
    if (iopl == 3) return Target::IF;
    if (cpu.cr4 & cr4::VME) return Target::VIF;
    raise_fault(cpu, kGP, 0);
  }
  if (cpu.cpl <= iopl) return Target::IF;
  if (cpu.cpl == 3 && (cpu.cr4 & cr4::PVI)) return Target::VIF;
  raise_fault(cpu, kGP, 0);
}

void cli(CpuState& cpu, const Insn& i) {
  cpu.rflags &= interrupt_flag_target(cpu) == Target::IF ? ~rf::IF : ~rf::VIF;
  next_rip(cpu, i);
}

void sti(CpuState& cpu, const Insn& i) {
  if (interrupt_flag_target(cpu) == Target::IF) {
    if (!(cpu.rflags & rf::IF)) {
      cpu.rflags |= rf::IF;
      cpu.interrupt_shadow = 1;
    }
  } else {
    // A pending virtual interrupt must be delivered by the monitor first.
    if (cpu.rflags & rf::VIP) raise_fault(cpu, kGP, 0);
    cpu.rflags |= rf::VIF;
  }
  next_rip(cpu, i);
}

Handler bind_cli(const Insn&) {
  return &cli;
}
Handler bind_sti(const Insn&) {
  return &sti;
}

}  // namespace

void register_system_flags(BinderTable& t) {
  bind(t, Op::CLI, &bind_cli);
  bind(t, Op::STI, &bind_sti);
}

}  // namespace umbra
