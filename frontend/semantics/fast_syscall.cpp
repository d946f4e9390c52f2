// Fast system calls: SYSCALL, SYSRET (SDM vol. 2; vol. 3, 5.8.8) and SYSENTER, SYSEXIT
// (vol. 2; vol. 3, 5.8.7). Umbra models an Intel CPU: SYSCALL and SYSRET exist only in 64-bit
// mode (#UD elsewhere, so IA32_CSTAR is never used), and SYSRET checks RCX for canonicality
// before changing anything. The four load CS and SS with fixed attributes (flat, base 0, limit
// 4 GiB) without reading descriptors.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

// Fixed caches: code execute/read accessed (type 0xB), data read/write accessed (type 3); S=1,
// P=1, G=1 with a 4 GiB limit; `dpl`; code: 64-bit (L=1, D=0) or 32-bit (D=1); stack: B=1.
SegmentCache fixed_code(uint16_t sel, unsigned dpl, bool long_code) {
  const uint16_t attrib =
      static_cast<uint16_t>(0xb | seg_attr::S | (dpl << 5) | seg_attr::P | seg_attr::G |
                            (long_code ? seg_attr::L : seg_attr::DB));
  return SegmentCache{0, 0xffffffffu, sel, attrib};
}

SegmentCache fixed_stack(uint16_t sel, unsigned dpl) {
  const uint16_t attrib = static_cast<uint16_t>(0x3 | seg_attr::S | (dpl << 5) | seg_attr::P |
                                                seg_attr::G | seg_attr::DB);
  return SegmentCache{0, 0xffffffffu, sel, attrib};
}

// Installs the new CS/SS pair (and so the CPL), flushing the fast TLB when the privilege view
// changes (softmmu/paging_translator.h).
void switch_segments(CpuState& cpu, const SegmentCache& cs, const SegmentCache& ss) {
  const uint8_t view = tlb_privilege_view(cpu);
  cpu.seg[SS] = ss;
  install_code_segment(cpu, cs);
  tlb_flush_for_privilege_change(cpu, view);
}

// SYSCALL: RCX <- next RIP, R11 <- RFLAGS, RFLAGS &= ~IA32_FMASK (and RF cleared),
// CS = STAR[47:32] & ~3 (CPL 0, 64-bit), SS = STAR[47:32] + 8, RIP <- IA32_LSTAR.
void syscall(CpuState& cpu, const Insn& i) {
  if (!cpu.mode64 || !(cpu.efer & efer::SCE)) raise_fault(cpu, kUD);
  const uint64_t flags = read_rflags(cpu);
  const uint16_t sel = static_cast<uint16_t>(cpu.msr_star >> 32);
  cpu.gpr[RCX] = cpu.rip + i.len;
  cpu.gpr[R11] = flags;
  write_rflags(cpu, flags & ~cpu.msr_sfmask & ~rf::RF, ~uint64_t{0});
  switch_segments(cpu, fixed_code(sel & 0xfffc, 0, true),
                  fixed_stack(static_cast<uint16_t>(sel + 8), 0));
  cpu.rip = cpu.msr_lstar;
}

// SYSRET: to 64-bit mode with REX.W (CS = STAR[63:48] + 16, RIP <- RCX), else to compatibility
// mode (CS = STAR[63:48], RIP <- ECX); SS = STAR[63:48] + 8; RPL 3 on both; RFLAGS <- R11 with
// RF and VM cleared and the reserved bits fixed (0x3C7FD7 | 2).
void sysret(CpuState& cpu, const Insn& i) {
  if (!cpu.mode64 || !(cpu.efer & efer::SCE)) raise_fault(cpu, kUD);
  if (cpu.cpl != 0) raise_fault(cpu, kGP, 0);
  const bool to64 = i.opsize == 8;
  const uint64_t rcx = cpu.gpr[RCX];
  if (to64 && !is_canonical48(rcx)) raise_fault(cpu, kGP, 0);
  const uint16_t base = static_cast<uint16_t>(cpu.msr_star >> 48);
  const uint16_t cs_sel = static_cast<uint16_t>((to64 ? base + 16 : base) | 3);
  const uint16_t ss_sel = static_cast<uint16_t>((base + 8) | 3);
  write_rflags(cpu, (cpu.gpr[R11] & 0x3c7fd7) | rf::FIXED1, ~uint64_t{0});
  switch_segments(cpu, fixed_code(cs_sel, 3, to64), fixed_stack(ss_sel, 3));
  cpu.rip = to64 ? rcx : static_cast<uint32_t>(rcx);
}

// SYSENTER: #GP(0) in real mode or when IA32_SYSENTER_CS[15:2] = 0. Clears VM, IF and RF;
// CS = SYSENTER_CS & ~3 (64-bit code in IA-32e mode, else 32-bit), SS = CS + 8, both DPL 0;
// RSP/RIP from IA32_SYSENTER_ESP/EIP (32 bits outside IA-32e mode).
void sysenter(CpuState& cpu, const Insn&) {
  const uint16_t cs_msr = static_cast<uint16_t>(cpu.msr_sysenter_cs);
  if (!protected_mode(cpu) || (cs_msr & 0xfffc) == 0) raise_fault(cpu, kGP, 0);
  const bool lma = long_mode_active(cpu);
  cpu.rflags &= ~(rf::VM | rf::IF | rf::RF);
  const uint16_t sel = cs_msr & 0xfffc;
  cpu.gpr[RSP] = lma ? cpu.msr_sysenter_esp : static_cast<uint32_t>(cpu.msr_sysenter_esp);
  switch_segments(cpu, fixed_code(sel, 0, lma), fixed_stack(static_cast<uint16_t>(sel + 8), 0));
  cpu.rip = lma ? cpu.msr_sysenter_eip : static_cast<uint32_t>(cpu.msr_sysenter_eip);
}

// SYSEXIT: #GP(0) unless protected mode, CPL 0 and IA32_SYSENTER_CS[15:2] != 0. With REX.W to
// 64-bit mode (CS = SYSENTER_CS + 32, RSP <- RCX, RIP <- RDX, both canonical or #GP(0)), else to
// 32-bit code (CS = SYSENTER_CS + 16, ESP <- ECX, EIP <- EDX); SS = CS + 8; RPL and DPL 3.
void sysexit(CpuState& cpu, const Insn& i) {
  const uint16_t cs_msr = static_cast<uint16_t>(cpu.msr_sysenter_cs);
  if (!protected_mode(cpu) || (cs_msr & 0xfffc) == 0 || cpu.cpl != 0) raise_fault(cpu, kGP, 0);
  const bool to64 = i.opsize == 8;
  const uint64_t rcx = cpu.gpr[RCX], rdx = cpu.gpr[RDX];
  if (to64 && (!is_canonical48(rcx) || !is_canonical48(rdx))) raise_fault(cpu, kGP, 0);
  const uint16_t cs_sel = static_cast<uint16_t>((cs_msr + (to64 ? 32 : 16)) | 3);
  cpu.gpr[RSP] = to64 ? rcx : static_cast<uint32_t>(rcx);
  switch_segments(cpu, fixed_code(cs_sel, 3, to64),
                  fixed_stack(static_cast<uint16_t>(cs_sel + 8), 3));
  cpu.rip = to64 ? rdx : static_cast<uint32_t>(rdx);
}

Handler bind_syscall(const Insn&) {
  return &syscall;
}
Handler bind_sysret(const Insn&) {
  return &sysret;
}
Handler bind_sysenter(const Insn&) {
  return &sysenter;
}
Handler bind_sysexit(const Insn&) {
  return &sysexit;
}

}  // namespace

void register_fast_syscall(BinderTable& t) {
  bind(t, Op::SYSCALL, &bind_syscall);
  bind(t, Op::SYSRET, &bind_sysret);
  bind(t, Op::SYSENTER, &bind_sysenter);
  bind(t, Op::SYSEXIT, &bind_sysexit);
}

}  // namespace umbra
