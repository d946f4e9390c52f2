// XSAVE, XSAVEOPT, XRSTOR (standard form) and XGETBV/XSETBV for the state components Umbra
// supports: x87 (XCR0 bit 0) and SSE (bit 1) (SDM vol. 1, 13; vol. 2, the instructions).
//
// XINUSE (SDM vol. 1, 13.6) is derived from the state itself: a component is "in use" unless it
// is in its initial configuration, which is one of the behaviours the SDM allows. XSAVEOPT uses
// the init optimization (a component in its initial configuration is not written) but not the
// modified optimization. The compacted forms (XSAVEC, XSAVES, XRSTORS) are not implemented
// and not advertised; XRSTOR of a compacted image (XCOMP_BV bit 63) is #GP like any non-zero
// header bytes 23:8.
#include <cstring>

#include "frontend/operands.h"
#include "frontend/semantics/fp_state.h"
#include "frontend/semantics/system_internal.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation_checks.h"

namespace umbra {

namespace {

using namespace fpimg;

constexpr uint64_t kX87 = 1, kSse = 2;

// XCR0 bit 0 is always 1 (XSETBV refuses to clear it); a CPU that never executed XSETBV has
// XCR0 = 1 after reset (SDM vol. 1, 13.3).
uint64_t xcr0_of(const CpuState& cpu) {
  return cpu.xcr0 | kX87;
}

// The faults common to XSAVE, XSAVEOPT and XRSTOR: #UD without XSAVE, with CR4.OSXSAVE clear or
// with LOCK; #NM with CR0.TS; #GP(0) unless 64-byte aligned (before any access).
uint64_t xsave_operand(CpuState& cpu, const Insn& i, bool write) {
  if (!cpu_has(cpu, Feature::XSAVE) || !(cpu.cr4 & cr4::OSXSAVE) || (i.prefixes & pfx::kLock))
    raise_fault(cpu, kUD);
  if (cpu.cr0 & cr0::TS) raise_fault(cpu, kNM);
  const uint64_t linear = linear_address(cpu, i, kXsaveAreaSize, write);
  if (linear & 63) raise_fault(cpu, kGP, 0);
  return linear;
}

uint64_t instruction_mask(const CpuState& cpu) {
  return (cpu.gpr[RDX] << 32) | static_cast<uint32_t>(cpu.gpr[RAX]);
}

uint64_t xinuse(const CpuState& cpu) {
  return (x87_is_init(cpu) ? 0 : kX87) | (xmm_is_init(cpu) ? 0 : kSse);
}

template <bool Optimized>
void xsave(CpuState& cpu, const Insn& i) {
  const uint64_t linear = xsave_operand(cpu, i, true);
  const uint64_t rfbm = xcr0_of(cpu) & instruction_mask(cpu);
  const uint64_t inuse = xinuse(cpu);
  alignas(64) uint8_t img[kXsaveAreaSize] = {};
  // Every access of XSAVE is a write, including the XSTATE_BV update: an unwritable area is a
  // write fault before anything is read or written.
  probe_writable(cpu, linear, kXsaveAreaSize, i.seg);
  // XSAVE reads XSTATE_BV and writes it back with the RFBM bits replaced (SDM vol. 1, 13.7).
  const uint64_t header = linear + kXstateBv;  // 32-bit linear addresses wrap
  uint64_t xstate_bv =
      read_mem_seg<uint64_t>(cpu, cpu.mode64 ? header : static_cast<uint32_t>(header), i.seg);
  xstate_bv = (xstate_bv & ~rfbm) | (inuse & rfbm);
  std::memcpy(img + kXstateBv, &xstate_bv, 8);
  const bool save_x87 = (rfbm & kX87) && (!Optimized || (inuse & kX87));
  const bool save_xmm = (rfbm & kSse) && (!Optimized || (inuse & kSse));
  if (save_x87) store_x87(cpu, img, i.prefixes & pfx::kRexW);
  // MXCSR and MXCSR_MASK go with RFBM[1] whatever XINUSE says (vol. 2, XSAVEOPT, footnote).
  const uint32_t mask = kMxcsrMask;
  std::memcpy(img + kMxcsr, &cpu.mxcsr, 4);
  std::memcpy(img + kMxcsrMaskOff, &mask, 4);
  const unsigned n = xmm_count(cpu);
  for (unsigned r = 0; r < n; ++r) std::memcpy(img + kXmm + 16 * r, cpu.xmm[r].b, 16);
  if (save_x87) {
    write_block(cpu, linear, i.seg, img, 0, kMxcsr);
    write_block(cpu, linear, i.seg, img, kSt, kXmm);
  }
  if (rfbm & kSse) write_block(cpu, linear, i.seg, img, kMxcsr, kSt);
  if (save_xmm) write_block(cpu, linear, i.seg, img, kXmm, kXmm + 16 * n);
  write_block(cpu, linear, i.seg, img, kXstateBv, kXstateBv + 8);
  next_rip(cpu, i);
}

void xrstor(CpuState& cpu, const Insn& i) {
  const uint64_t linear = xsave_operand(cpu, i, false);
  const uint64_t xcr0 = xcr0_of(cpu);
  const uint64_t rfbm = xcr0 & instruction_mask(cpu);
  alignas(64) uint8_t img[kXsaveAreaSize];
  read_block(cpu, linear, i.seg, img, kXsaveAreaSize);
  uint64_t xstate_bv, hdr8, hdr16;
  std::memcpy(&xstate_bv, img + kXstateBv, 8);
  std::memcpy(&hdr8, img + kXcompBv, 8);
  std::memcpy(&hdr16, img + kXcompBv + 8, 8);
  // Standard form (SDM vol. 1, 13.8.1): #GP if XSTATE_BV sets a bit not in XCR0 or if header
  // bytes 23:8 (XCOMP_BV and the next 8 bytes) are not all 0.
  if ((xstate_bv & ~xcr0) || hdr8 || hdr16) raise_fault(cpu, kGP, 0);
  uint32_t mxcsr;
  std::memcpy(&mxcsr, img + kMxcsr, 4);
  if ((rfbm & kSse) && (mxcsr & ~kMxcsrMask)) raise_fault(cpu, kGP, 0);
  if (rfbm & kX87) {
    if (xstate_bv & kX87)
      load_x87(cpu, img, i.prefixes & pfx::kRexW);
    else
      init_x87(cpu);
  }
  if (rfbm & kSse) {
    // The standard form loads MXCSR whenever RFBM[1] is set, even when XSTATE_BV[1] = 0.
    cpu.mxcsr = mxcsr;
    const unsigned n = xmm_count(cpu);
    for (unsigned r = 0; r < n; ++r) {
      if (xstate_bv & kSse)
        std::memcpy(cpu.xmm[r].b, img + kXmm + 16 * r, 16);
      else
        std::memset(cpu.xmm[r].b, 0, 16);
    }
  }
  next_rip(cpu, i);
}

// XGETBV/XSETBV: #UD unless CR4.OSXSAVE (which only a model with XSAVE can set) or with LOCK.
void check_xcr_access(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::XSAVE) || !(cpu.cr4 & cr4::OSXSAVE) || (i.prefixes & pfx::kLock))
    raise_fault(cpu, kUD);
}

// XGETBV: any CPL; ECX = 0 only (ECX = 1 needs XGETBV_ECX1, not advertised).
void xgetbv(CpuState& cpu, const Insn& i) {
  check_xcr_access(cpu, i);
  if (static_cast<uint32_t>(cpu.gpr[RCX]) != 0) raise_fault(cpu, kGP, 0);
  const uint64_t v = xcr0_of(cpu);
  cpu.gpr[RAX] = static_cast<uint32_t>(v);
  cpu.gpr[RDX] = static_cast<uint32_t>(v >> 32);
  next_rip(cpu, i);
}

// XSETBV: CPL 0, ECX = 0, only supported bits, bit 0 set, and not AVX without SSE.
void xsetbv(CpuState& cpu, const Insn& i) {
  check_xcr_access(cpu, i);
  require_cpl0(cpu);
  if (static_cast<uint32_t>(cpu.gpr[RCX]) != 0) raise_fault(cpu, kGP, 0);
  const uint64_t v = instruction_mask(cpu);
  if ((v & ~kXcr0Supported) || !(v & kX87) || ((v & 6) == 4)) raise_fault(cpu, kGP, 0);
  cpu.xcr0 = v;
  next_rip(cpu, i);
}

// XSAVEOPT is enumerated with XSAVE (CPUID.(EAX=0DH,ECX=1):EAX bit 0, cpu_model.cpp).
}  // namespace

Handler bind_xsave_family(unsigned ext) {
  switch (ext) {
    case 4:
      return &xsave<false>;
    case 5:
      return &xrstor;
    case 6:
      return &xsave<true>;
    default:
      return nullptr;
  }
}

Handler bind_xcr(uint8_t modrm) {
  if (modrm == 0xD0) return &xgetbv;
  if (modrm == 0xD1) return &xsetbv;
  return nullptr;
}

}  // namespace umbra
