// RDMSR, WRMSR, RDTSC, RDTSCP, RDPID, RDPMC, CPUID (SDM vol. 2). The MSRs themselves are in
// frontend/system/msr.cpp, the model in frontend/system/cpu_model.cpp, the clock in
// frontend/system/tsc.cpp.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/system_internal.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "frontend/system/msr.h"
#include "frontend/system/tsc.h"

namespace umbra {

namespace {

// EDX:EAX <- value; the upper halves of RAX and RDX are cleared (32-bit register writes).
void write_edx_eax(CpuState& cpu, uint64_t v) {
  write_gpr<uint32_t>(cpu, RAX, static_cast<uint32_t>(v));
  write_gpr<uint32_t>(cpu, RDX, static_cast<uint32_t>(v >> 32));
}

void rdmsr(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  uint64_t v;
  if (!read_msr(cpu, static_cast<uint32_t>(cpu.gpr[RCX]), &v)) raise_fault(cpu, kGP, 0);
  write_edx_eax(cpu, v);
  next_rip(cpu, i);
}

void wrmsr(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  const uint64_t v = (cpu.gpr[RDX] << 32) | static_cast<uint32_t>(cpu.gpr[RAX]);
  const uint64_t next = rip_after(cpu, i);
  if (!write_msr(cpu, static_cast<uint32_t>(cpu.gpr[RCX]), v)) raise_fault(cpu, kGP, 0);
  cpu.rip = next;
}

// CR4.TSD restricts RDTSC/RDTSCP to CPL 0 (SDM vol. 3, 2.5; v86 mode has CPL 3).
void check_tsd(CpuState& cpu) {
  if ((cpu.cr4 & cr4::TSD) && cpu.cpl > 0) raise_fault(cpu, kGP, 0);
}

void rdtsc(CpuState& cpu, const Insn& i) {
  check_tsd(cpu);
  write_edx_eax(cpu, read_guest_tsc(cpu));
  next_rip(cpu, i);
}

// RDTSCP: TSC in EDX:EAX and IA32_TSC_AUX[31:0] in ECX; #UD when the model lacks it.
void rdtscp(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::RDTSCP)) raise_fault(cpu, kUD);
  check_tsd(cpu);
  write_edx_eax(cpu, read_guest_tsc(cpu));
  write_gpr<uint32_t>(cpu, RCX, static_cast<uint32_t>(cpu.msr_tsc_aux));
  next_rip(cpu, i);
}

// RDPID r32/r64 (F3 0F C7 /7, register form): IA32_TSC_AUX into the register; #UD when the
// model lacks RDPID (SDM vol. 2, RDPID). Unlike RDTSCP it is not affected by CR4.TSD and runs at
// any CPL. The destination is 64 bits in 64-bit mode whatever the prefixes (the host clears
// RAX[63:32] and [31:16] with 66 too), else 32 bits; TSC_AUX[63:32] are reserved zero, so the
// value is zero-extended either way.
template <typename T>
void rdpid(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::RDPID)) raise_fault(cpu, kUD);
  write_gpr<T>(cpu, i.dst.reg, static_cast<T>(cpu.msr_tsc_aux));
  next_rip(cpu, i);
}

Handler bind_rdpid(const Insn& i) {
  if (i.dst.kind != OpKind::Reg) return nullptr;
  return i.opsize == 8 ? &rdpid<uint64_t> : &rdpid<uint32_t>;
}

// RDPMC: the model has no performance-monitoring counters (CPUID leaf 0AH is zero), so every
// ECX is an invalid counter: #GP(0) whatever the CPL and CR4.PCE (SDM vol. 2, RDPMC).
void rdpmc(CpuState& cpu, const Insn&) {
  raise_fault(cpu, kGP, 0);
}

void cpuid_insn(CpuState& cpu, const Insn& i) {
  uint32_t out[4];
  cpuid_for(cpu, static_cast<uint32_t>(cpu.gpr[RAX]), static_cast<uint32_t>(cpu.gpr[RCX]), out);
  write_gpr<uint32_t>(cpu, RAX, out[0]);
  write_gpr<uint32_t>(cpu, RBX, out[1]);
  write_gpr<uint32_t>(cpu, RCX, out[2]);
  write_gpr<uint32_t>(cpu, RDX, out[3]);
  next_rip(cpu, i);
}

template <void (*F)(CpuState&, const Insn&)>
Handler fixed(const Insn&) {
  return F;
}

}  // namespace

void register_system_msr(BinderTable& t) {
  bind(t, Op::RDMSR, &fixed<rdmsr>);
  bind(t, Op::WRMSR, &fixed<wrmsr>);
  bind(t, Op::RDTSC, &fixed<rdtsc>);
  bind(t, Op::RDTSCP, &fixed<rdtscp>);
  bind(t, Op::RDPID, &bind_rdpid);
  bind(t, Op::RDPMC, &fixed<rdpmc>);
  bind(t, Op::CPUID, &fixed<cpuid_insn>);
}

}  // namespace umbra
