// MOV to/from control registers, MOV to/from debug registers, CLTS
// (SDM vol. 2, MOV-Control Registers, MOV-Debug Registers, CLTS; vol. 3, 2.5 and 18.2).
//
// Decoder convention (frontend/opcode_forms.inc Rq_Cq, Cq_Rq, Rq_Dq, Dq_Rq): the control or
// debug register number arrives in the reg field of an operand of kind None, the general-purpose
// register in the other operand; the operand size is 8 in 64-bit mode and 4 elsewhere; ModRM.mod
// is ignored. The decoder already makes CR1, CR5-7, CR9-15 and DR8-15 #UD.
//
// Debug registers are stored and read back with their fixed bits, but breakpoints do not fire
// yet (docs/system.md): only the general-detect fault (DR7.GD) is implemented.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/system_control.h"
#include "frontend/semantics/system_internal.h"
#include "frontend/system/cpu_platform.h"
#include "frontend/system/mode.h"

namespace umbra {

namespace {

// DR6/DR7 fixed bits (SDM vol. 3, 18.2.3-18.2.4): DR6 reads bits 4-11 and 16-31 as 1 and bit 12
// as 0; DR7 reads bit 10 as 1 and bits 11, 12, 14, 15 as 0.
constexpr uint64_t kDr6Writable = 0xE00F;  // B0-B3, BD, BS, BT
constexpr uint64_t kDr6Ones = 0xFFFF0FF0;
constexpr uint64_t kDr7Writable = 0xFFFF23FF;  // L0-G3, LE, GE, GD, R/W0-LEN3
constexpr uint64_t kDr7Ones = 0x400;
constexpr uint64_t kDr6BD = 1u << 13;
constexpr uint64_t kDr7GD = 1u << 13;

uint64_t read_source(const CpuState& cpu, const Insn& i) {
  const uint64_t v = cpu.gpr[i.src.reg];
  return i.opsize == 8 ? v : static_cast<uint32_t>(v);
}

void write_dest(CpuState& cpu, const Insn& i, uint64_t v) {
  if (i.opsize == 8)
    cpu.gpr[i.dst.reg] = v;
  else
    write_gpr<uint32_t>(cpu, i.dst.reg, static_cast<uint32_t>(v));
}

// ---- control registers ----

template <unsigned Cr>
struct MovToCr {
  static void run(CpuState& cpu, const Insn& i) {
    require_cpl0(cpu);
    const uint64_t v = read_source(cpu, i);
    const uint64_t next = rip_after(cpu, i);
    if constexpr (Cr == 0) {
      write_cr0(cpu, v);
    } else if constexpr (Cr == 2) {
      cpu.cr2 = v;
    } else if constexpr (Cr == 3) {
      write_cr3(cpu, v);
    } else if constexpr (Cr == 4) {
      write_cr4(cpu, v);
    } else {
      write_cr8(cpu, v);
      // CR8 is the APIC's TPR[7:4] (SDM vol. 3, 10.8.6.1): the APIC may now deliver.
      if (cpu.platform) cpu.platform->tpr_changed(cpu);
    }
    cpu.rip = next;
  }
};

template <unsigned Cr>
struct MovFromCr {
  static void run(CpuState& cpu, const Insn& i) {
    require_cpl0(cpu);
    uint64_t v;
    if constexpr (Cr == 0)
      v = read_cr0(cpu);
    else if constexpr (Cr == 2)
      v = cpu.cr2;
    else if constexpr (Cr == 3)
      v = cpu.cr3;
    else if constexpr (Cr == 4)
      v = cpu.cr4;
    else
      v = cpu.cr8 & 0xF;
    write_dest(cpu, i, v);
    next_rip(cpu, i);
  }
};

template <template <unsigned> class F>
Handler select_cr(unsigned cr) {
  switch (cr) {
    case 0:
      return &F<0>::run;
    case 2:
      return &F<2>::run;
    case 3:
      return &F<3>::run;
    case 4:
      return &F<4>::run;
    case 8:
      return &F<8>::run;
    default:
      return nullptr;
  }
}

Handler bind_mov_to_cr(const Insn& i) {
  return select_cr<MovToCr>(i.dst.reg);
}
Handler bind_mov_from_cr(const Insn& i) {
  return select_cr<MovFromCr>(i.src.reg);
}

// ---- debug registers ----

// Checks common to both directions, in the SDM's order after the CPL check: DR4/DR5 are #UD
// with CR4.DE and aliases of DR6/DR7 without it; DR7.GD makes any access a #DB fault with
// DR6.BD set (and GD cleared for the handler, SDM vol. 3, 18.2.4). Returns the register used.
unsigned debug_register(CpuState& cpu, unsigned n) {
  if (n == 4 || n == 5) {
    if (cpu.cr4 & cr4::DE) raise_fault(cpu, kUD);
    n += 2;
  }
  if (cpu.dr[7] & kDr7GD) {
    cpu.dr[6] = (cpu.dr[6] & kDr6Writable) | kDr6Ones | kDr6BD;
    cpu.dr[7] &= ~kDr7GD;
    raise_fault(cpu, kDB);
  }
  return n;
}

void mov_to_dr(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  const unsigned n = debug_register(cpu, i.dst.reg);
  const uint64_t v = read_source(cpu, i);
  if (n >= 6) {
    if (v >> 32) raise_fault(cpu, kGP, 0);  // DR6/DR7 bits 63:32 are reserved
    cpu.dr[n] = n == 6 ? (v & kDr6Writable) | kDr6Ones : (v & kDr7Writable) | kDr7Ones;
  } else {
    cpu.dr[n] = v;  // DR0-DR3: breakpoint linear addresses
  }
  next_rip(cpu, i);
}

void mov_from_dr(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  const unsigned n = debug_register(cpu, i.src.reg);
  uint64_t v = cpu.dr[n];
  if (n == 6) v = (v & kDr6Writable) | kDr6Ones;
  if (n == 7) v = (v & kDr7Writable) | kDr7Ones;
  write_dest(cpu, i, v);
  next_rip(cpu, i);
}

Handler bind_mov_to_dr(const Insn& i) {
  return i.dst.reg < 8 ? &mov_to_dr : nullptr;
}
Handler bind_mov_from_dr(const Insn& i) {
  return i.src.reg < 8 ? &mov_from_dr : nullptr;
}

// ---- CLTS: clears CR0.TS (SDM vol. 2, CLTS) ----

void clts(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  cpu.cr0 &= ~cr0::TS;
  next_rip(cpu, i);
}

Handler bind_clts(const Insn&) {
  return &clts;
}

}  // namespace

void register_system_movcr(BinderTable& t) {
  bind(t, Op::MOV_CR_LOAD, &bind_mov_to_cr);
  bind(t, Op::MOV_CR_STORE, &bind_mov_from_cr);
  bind(t, Op::MOV_DR_LOAD, &bind_mov_to_dr);
  bind(t, Op::MOV_DR_STORE, &bind_mov_from_dr);
  bind(t, Op::CLTS, &bind_clts);
}

}  // namespace umbra
