// LDMXCSR, STMXCSR, FXSAVE and FXRSTOR (SDM vol. 2; vol. 1, 10.5), and the group-15 binder of
// the FPU-state members (0F AE /0../6 with a memory operand).
//
// FXSAVE with REX.W (FXSAVE64) stores FIP and FDP as 64-bit offsets; without it the 32-bit
// format stores 32-bit offsets with FCS and FDS. XMM8-15 exist only in 64-bit mode. With
// CR4.OSFXSR clear the XMM registers are neither saved nor restored (the SDM leaves this to the
// implementation; MXCSR is still saved and restored). Bytes 464-511 are left to software and
// never written; in 32-bit mode neither are the XMM8-15 slots (288-415).
#include <cstring>

#include "frontend/operands.h"
#include "frontend/semantics/fp_checks.h"
#include "frontend/semantics/fp_state.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/segmentation_checks.h"

namespace umbra {

namespace {

using namespace fpimg;

// LDMXCSR/STMXCSR: #UD without SSE (CPUID, CR0.EM, CR4.OSFXSR), #NM with CR0.TS.
void check_mxcsr_insn(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::SSE) || (i.prefixes & pfx::kLock)) raise_fault(cpu, kUD);
  check_sse_available(cpu);
}

void ldmxcsr(CpuState& cpu, const Insn& i) {
  check_mxcsr_insn(cpu, i);
  const uint32_t v = read_mem_seg<uint32_t>(cpu, linear_address(cpu, i, 4, false), i.seg);
  if (v & ~kMxcsrMask) raise_fault(cpu, kGP, 0);
  cpu.mxcsr = v;
  next_rip(cpu, i);
}

void stmxcsr(CpuState& cpu, const Insn& i) {
  check_mxcsr_insn(cpu, i);
  write_mem_seg<uint32_t>(cpu, linear_address(cpu, i, 4, true), cpu.mxcsr, i.seg);
  next_rip(cpu, i);
}

// FXSAVE/FXRSTOR: #UD without FXSR (or with LOCK), #NM with CR0.TS or CR0.EM, #GP(0) unless the
// operand is 16-byte aligned (checked before any access).
uint64_t fx_operand(CpuState& cpu, const Insn& i, bool write) {
  if (!cpu_has(cpu, Feature::FXSR) || (i.prefixes & pfx::kLock)) raise_fault(cpu, kUD);
  check_x87_available(cpu);
  const uint64_t linear = linear_address(cpu, i, kLegacySize, write);
  // FXRSTOR: a non-canonical operand faults before the alignment check, which matters for an
  // SS-based operand (#SS(0) rather than #GP(0)); measured on the host (fp_bugs.md entry 9).
  if (!write && cpu.mode64 && !is_canonical48(linear)) raise_fault(cpu, i.seg == SS ? kSS : kGP, 0);
  if (linear & 15) raise_fault(cpu, kGP, 0);
  return linear;
}

// The end of the part of the image written for `nxmm` XMM registers.
unsigned xmm_end(unsigned nxmm) {
  return kXmm + 16 * nxmm;
}

void fxsave(CpuState& cpu, const Insn& i) {
  const uint64_t linear = fx_operand(cpu, i, true);
  const bool fmt64 = i.prefixes & pfx::kRexW;
  alignas(16) uint8_t img[kLegacySize] = {};
  store_x87(cpu, img, fmt64);
  std::memcpy(img + kMxcsr, &cpu.mxcsr, 4);
  const uint32_t mask = kMxcsrMask;
  std::memcpy(img + kMxcsrMaskOff, &mask, 4);
  const bool with_xmm = cpu.cr4 & cr4::OSFXSR;
  const unsigned n = xmm_count(cpu);
  if (with_xmm)
    for (unsigned r = 0; r < n; ++r) std::memcpy(img + kXmm + 16 * r, cpu.xmm[r].b, 16);
  // The operand is the whole m512byte, also the part that is not written (SDM vol. 2, FXSAVE).
  probe_writable(cpu, linear, kLegacySize, i.seg);
  write_block(cpu, linear, i.seg, img, 0, with_xmm ? xmm_end(n) : kXmm);
  next_rip(cpu, i);
}

void fxrstor(CpuState& cpu, const Insn& i) {
  const uint64_t linear = fx_operand(cpu, i, false);
  const bool fmt64 = i.prefixes & pfx::kRexW;
  const bool with_xmm = cpu.cr4 & cr4::OSFXSR;
  const unsigned n = xmm_count(cpu);
  alignas(16) uint8_t img[kLegacySize];
  // The whole m512byte is read, also the part that is not loaded (SDM vol. 2, FXRSTOR); its
  // last byte first, as the hardware reports CR2 there.
  const uint64_t last = linear + kLegacySize - 1;  // 32-bit linear addresses wrap
  (void)read_mem_seg<uint8_t>(cpu, cpu.mode64 ? last : static_cast<uint32_t>(last), i.seg);
  read_block(cpu, linear, i.seg, img, kLegacySize);
  uint32_t mxcsr;
  std::memcpy(&mxcsr, img + kMxcsr, 4);
  if (mxcsr & ~kMxcsrMask) raise_fault(cpu, kGP, 0);
  load_x87(cpu, img, fmt64);
  cpu.mxcsr = mxcsr;
  if (with_xmm)
    for (unsigned r = 0; r < n; ++r) std::memcpy(cpu.xmm[r].b, img + kXmm + 16 * r, 16);
  next_rip(cpu, i);
}

}  // namespace

Handler bind_fp_state_grp15(const Insn& i) {
  // A 66 prefix is ignored (66 0F AE /6 is CLWB, bound before this); F3/F2 forms are other
  // instructions (PTWRITE, ...) Umbra does not implement.
  if (i.dst.kind != OpKind::Mem || (i.prefixes & (pfx::kRep | pfx::kRepne))) return nullptr;
  switch (i.ext) {
    case 0:
      return &fxsave;
    case 1:
      return &fxrstor;
    case 2:
      return &ldmxcsr;
    case 3:
      return &stmxcsr;
    case 4:
    case 5:
    case 6:
      return bind_xsave_family(i.ext);
    default:
      return nullptr;
  }
}

}  // namespace umbra
