// Port I/O: IN and OUT (SDM vol. 2, IN/OUT; vol. 1, 19.5 "I/O privilege level").
#include "devices/port_bus.h"
#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

// Protected-mode I/O permission (SDM vol. 1, 19.5.1-19.5.2): with CPL > IOPL (or in virtual-8086
// mode) the TSS I/O permission bitmap decides. Umbra does not model the TSS bitmap yet (system
// issue), so such accesses raise #GP(0), which is what an all-ones bitmap gives.
void check_io_permission(CpuState& cpu, uint16_t port, unsigned size) {
  if (!(cpu.cr0 & 1)) return;  // real mode: always permitted
  const unsigned iopl = static_cast<unsigned>((cpu.rflags & rf::IOPL) >> 12);
  if (cpu.cpl > iopl || (cpu.rflags & rf::VM)) raise_fault(cpu, kGP, 0);
}

uint16_t port_of(const CpuState& cpu, const Insn& i, const Operand& o) {
  return o.kind == OpKind::Imm ? static_cast<uint16_t>(i.imm) : static_cast<uint16_t>(cpu.gpr[RDX]);
}

template <typename T>
struct In {
  // IN rAX, imm8 / IN rAX, DX: the port is the source operand.
  static void run(CpuState& cpu, const Insn& i) {
    const uint16_t port = port_of(cpu, i, i.src);
    check_io_permission(cpu, port, sizeof(T));
    write_gpr<T>(cpu, RAX, static_cast<T>(cpu.ports->read(port, sizeof(T))));
    next_rip(cpu, i);
  }
};

template <typename T>
struct Out {
  // OUT imm8, rAX / OUT DX, rAX: the port is the destination operand.
  static void run(CpuState& cpu, const Insn& i) {
    const uint16_t port = port_of(cpu, i, i.dst);
    check_io_permission(cpu, port, sizeof(T));
    cpu.ports->write(port, sizeof(T), read_gpr<T>(cpu, RAX));
    next_rip(cpu, i);
  }
};

template <template <typename> class F>
Handler select_io(const Insn& i) {
  switch (i.opsize) {
    case 1: return &F<uint8_t>::run;
    case 2: return &F<uint16_t>::run;
    case 4:
    case 8: return &F<uint32_t>::run;  // no 64-bit I/O: REX.W is ignored (SDM vol. 2, IN)
    default: return nullptr;
  }
}

}  // namespace

void register_io(BinderTable& t) {
  bind(t, Op::IN, &select_io<In>);
  bind(t, Op::OUT, &select_io<Out>);
}

}  // namespace umbra
