// Group 15 (0F AE) members that are not FPU/SIMD state instructions: CLFLUSH, CLFLUSHOPT,
// CLWB, LFENCE, MFENCE, SFENCE, RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (SDM vol. 2).
//
// Decoder convention: Insn::ext = ModRM.reg; the memory forms have dst = Mem, the F3 register
// forms (FS/GS base) dst = the register, the fences no operand; the 66 prefix (CLFLUSHOPT,
// CLWB) is pfx::kOpsize. FXSAVE, FXRSTOR, LDMXCSR, STMXCSR, XSAVE, XRSTOR and XSAVEOPT are
// bound by bind_fp_state_grp15 (fp_state_fxsave.cpp).
//
// Umbra emulates one CPU with no caches and executes memory accesses in program order, so the
// fences and cache-line flushes have no effect beyond their faults.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/fp_state.h"
#include "frontend/semantics/system_internal.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"

namespace umbra {

namespace {

// CLFLUSH and friends "can cause a fault like a byte load" (SDM vol. 2, CLFLUSH): the address
// must be canonical (#SS for SS-relative references) and readable. No byte is actually read, so
// an MMIO register is not disturbed.
template <Feature Required>
void cache_line_flush(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Required)) raise_fault(cpu, kUD);
  const uint64_t linear = linear_address(cpu, i, 1, false);
  if (cpu.mode64 && !is_canonical48(linear)) raise_fault(cpu, i.seg == SS ? kSS : kGP, 0);
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (e.tag_read != (linear & kPageMask)) cpu.translator->translate(cpu, linear, Access::Read);
  next_rip(cpu, i);
}

// LFENCE and MFENCE came with SSE2, SFENCE with SSE: #UD on a model without them.
template <Feature Required>
void fence(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Required)) raise_fault(cpu, kUD);
  next_rip(cpu, i);
}

// RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE: 64-bit mode only (the decoder makes them #UD
// elsewhere), #UD unless CR4.FSGSBASE; any CPL. 32-bit forms zero-extend; WR*BASE with a
// non-canonical 64-bit value raises #GP(0).
template <typename T, unsigned Seg>
void read_base(CpuState& cpu, const Insn& i) {
  if (!(cpu.cr4 & cr4::FSGSBASE)) raise_fault(cpu, kUD);
  write_gpr<T>(cpu, i.dst.reg, static_cast<T>(cpu.seg[Seg].base));
  next_rip(cpu, i);
}

template <typename T, unsigned Seg>
void write_base(CpuState& cpu, const Insn& i) {
  if (!(cpu.cr4 & cr4::FSGSBASE)) raise_fault(cpu, kUD);
  const uint64_t v = read_gpr<T>(cpu, i.dst.reg);
  if (!is_canonical48(v)) raise_fault(cpu, kGP, 0);
  cpu.seg[Seg].base = v;
  next_rip(cpu, i);
}

template <typename T>
Handler select_base(unsigned ext) {
  switch (ext) {
    case 0:
      return &read_base<T, FS>;
    case 1:
      return &read_base<T, GS>;
    case 2:
      return &write_base<T, FS>;
    case 3:
      return &write_base<T, GS>;
    default:
      return nullptr;
  }
}

Handler bind_grp15(const Insn& i) {
  const bool p66 = i.prefixes & pfx::kOpsize;
  switch (i.dst.kind) {
    case OpKind::Mem:
      if (i.ext == 7)
        return p66 ? &cache_line_flush<Feature::CLFLUSHOPT> : &cache_line_flush<Feature::CLFSH>;
      if (i.ext == 6 && p66) return &cache_line_flush<Feature::CLWB>;
      return bind_fp_state_grp15(i);  // FXSAVE .. XSAVEOPT (fp_state_fxsave.cpp)
    case OpKind::Reg:
      if (!(i.prefixes & pfx::kRep)) return nullptr;
      return i.opsize == 8 ? select_base<uint64_t>(i.ext) : select_base<uint32_t>(i.ext);
    case OpKind::None:
      if (i.ext == 5) return &fence<Feature::SSE2>;  // LFENCE
      if (i.ext == 6) return &fence<Feature::SSE2>;  // MFENCE
      if (i.ext == 7) return &fence<Feature::SSE>;   // SFENCE
      return nullptr;
    default:
      return nullptr;
  }
}

}  // namespace

void register_system_grp15(BinderTable& t) {
  bind(t, Op::GRP15, &bind_grp15);
}

}  // namespace umbra
