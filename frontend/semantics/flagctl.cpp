// Flag control (SDM vol. 1, 7.3.14): CLC, STC, CMC, CLD, STD, and the undocumented SALC (D6,
// "set AL from carry", 16/32-bit modes only: the decoder makes it #UD in 64-bit mode).
// CLI/STI depend on CPL/IOPL and belong to the system semantics.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

void clc(CpuState& cpu, const Insn& i) {
  update_arith_flags(cpu, rf::CF, 0);
  next_rip(cpu, i);
}

void stc(CpuState& cpu, const Insn& i) {
  update_arith_flags(cpu, rf::CF, rf::CF);
  next_rip(cpu, i);
}

void cmc(CpuState& cpu, const Insn& i) {
  update_arith_flags(cpu, rf::CF, get_cf(cpu) ? 0 : rf::CF);
  next_rip(cpu, i);
}

// DF is never part of the lazy flags: it lives in CpuState::rflags.
void cld(CpuState& cpu, const Insn& i) {
  cpu.rflags &= ~rf::DF;
  next_rip(cpu, i);
}

void std_(CpuState& cpu, const Insn& i) {
  cpu.rflags |= rf::DF;
  next_rip(cpu, i);
}

// SALC: AL <- CF ? FF : 00; flags unchanged.
void salc(CpuState& cpu, const Insn& i) {
  write_gpr<uint8_t>(cpu, RAX, get_cf(cpu) ? 0xff : 0);
  next_rip(cpu, i);
}

template <Handler H>
Handler always(const Insn&) {
  return H;
}

}  // namespace

void register_flagctl(BinderTable& t) {
  bind(t, Op::CLC, &always<&clc>);
  bind(t, Op::STC, &always<&stc>);
  bind(t, Op::CMC, &always<&cmc>);
  bind(t, Op::CLD, &always<&cld>);
  bind(t, Op::STD, &always<&std_>);
  bind(t, Op::SALC, &always<&salc>);
}

}  // namespace umbra
