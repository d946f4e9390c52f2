// Descriptor instructions: GRP6 (0F 00 /0../5: SLDT, STR, LLDT, LTR, VERR, VERW), LAR, LSL and
// ARPL (SDM vol. 2 instruction pages; vol. 3, 5.10.1-5.10.3 and 7.2.4). All of them are #UD
// in real-address and virtual-8086 mode.
//
// Decoder conventions: GRP6 has ModRM.reg in Insn::ext and its operand in dst (/0 and /1 Ev:
// the operand size applies to a register destination, memory is always 16 bits; /2../5 Ew);
// LAR/LSL are Gv_Ew (result register in dst, 16-bit selector in src); ARPL is Ew_Gw.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation.h"

namespace umbra {

namespace {

void require_protected(CpuState& cpu) {
  if (!protected_mode(cpu) || (cpu.rflags & rf::VM)) raise_fault(cpu, kUD);
}

void set_zf(CpuState& cpu, bool zf) {
  update_arith_flags(cpu, rf::ZF, zf ? rf::ZF : 0);
}

// ---- SLDT / STR: store LDTR / TR's selector ----

// With CR4.UMIP set, SLDT and STR are #GP(0) above CPL 0 (vol. 3, 2.5).
template <typename T, OpKind K, bool Tr>
void store_system_selector(CpuState& cpu, const Insn& i) {
  require_protected(cpu);
  if ((cpu.cr4 & cr4::UMIP) && cpu.cpl > 0) raise_fault(cpu, kGP, 0);
  const uint16_t sel = Tr ? cpu.tr.selector : cpu.ldtr.selector;
  if constexpr (K == OpKind::Mem)
    write_mem_seg<uint16_t>(cpu, linear_address(cpu, i, 2, true), sel, i.seg);
  else
    write_gpr<T>(cpu, i.dst.reg, static_cast<T>(sel));
  next_rip(cpu, i);
}

// ---- LLDT / LTR ----

// The 16-bit selector operand of /2../5.
template <OpKind K>
uint16_t selector_operand(CpuState& cpu, const Insn& i) {
  return read_operand<uint16_t, K>(cpu, i, i.dst);
}

// System descriptors are 16 bytes in IA-32e mode, with a 64-bit base that must be canonical.
unsigned system_descriptor_bytes(const CpuState& cpu) {
  return long_mode_active(cpu) ? 16 : 8;
}
uint64_t system_base(const CpuState& cpu, const Descriptor& d) {
  return long_mode_active(cpu) ? d.base64() : d.base32();
}

// LLDT: CPL 0 only. A null selector leaves the LDTR unusable; otherwise a present LDT
// descriptor from the GDT.
template <OpKind K>
void lldt(CpuState& cpu, const Insn& i) {
  require_protected(cpu);
  if (cpu.cpl != 0) raise_fault(cpu, kGP, 0);
  const uint16_t sel = selector_operand<K>(cpu, i);
  if (selector_is_null(sel)) {
    cpu.ldtr = null_segment(sel);
    return next_rip(cpu, i);
  }
  const uint32_t err = selector_error(sel, false);
  if (selector_in_ldt(sel)) raise_fault(cpu, kGP, err);
  Descriptor d;
  if (!fetch_descriptor(cpu, sel, system_descriptor_bytes(cpu), &d)) raise_fault(cpu, kGP, err);
  if (!d.system() || d.type() != dtype::kLdt) raise_fault(cpu, kGP, err);
  if (!d.present()) raise_fault(cpu, kNP, err);
  const uint64_t base = system_base(cpu, d);
  if (long_mode_active(cpu) && !is_canonical48(base)) raise_fault(cpu, kGP, err);
  cpu.ldtr = SegmentCache{base, d.limit(), sel, d.attrib()};
  next_rip(cpu, i);
}

// LTR: CPL 0 only; a present available TSS from the GDT (16- or 32-bit; only the 64-bit type 9
// in IA-32e mode), which is then marked busy in the GDT.
template <OpKind K>
void ltr(CpuState& cpu, const Insn& i) {
  require_protected(cpu);
  if (cpu.cpl != 0) raise_fault(cpu, kGP, 0);
  const uint16_t sel = selector_operand<K>(cpu, i);
  if (selector_is_null(sel)) raise_fault(cpu, kGP, 0);
  const uint32_t err = selector_error(sel, false);
  if (selector_in_ldt(sel)) raise_fault(cpu, kGP, err);
  Descriptor d;
  uint64_t where;
  if (!fetch_descriptor(cpu, sel, system_descriptor_bytes(cpu), &d, &where))
    raise_fault(cpu, kGP, err);
  const bool lma = long_mode_active(cpu);
  const bool available =
      d.system() && (d.type() == dtype::kTss32 || (!lma && d.type() == dtype::kTss16));
  if (!available) raise_fault(cpu, kGP, err);
  if (!d.present()) raise_fault(cpu, kNP, err);
  const uint64_t base = system_base(cpu, d);
  if (lma && !is_canonical48(base)) raise_fault(cpu, kGP, err);
  const uint8_t type_byte = static_cast<uint8_t>((d.lo >> 40) | dtype::kTssBusy);
  write_system(cpu, system_linear(cpu, where, 5), 1, type_byte);
  cpu.tr = SegmentCache{base, d.limit(), sel, static_cast<uint16_t>(d.attrib() | dtype::kTssBusy)};
  next_rip(cpu, i);
}

// ---- VERR / VERW (vol. 3, 5.10.3) ----

// Whether the segment named by `sel` is readable (VERR) or writable (VERW) at the CPL and the
// selector's RPL. Conforming readable code passes VERR at any privilege.
bool verify_segment(CpuState& cpu, uint16_t sel, bool write) {
  if (selector_is_null(sel)) return false;
  Descriptor d;
  if (!fetch_descriptor(cpu, sel, 8, &d) || d.system()) return false;
  if (write) {
    if (!d.writable_data()) return false;
  } else {
    if (!d.readable()) return false;
    if (d.conforming()) return true;
  }
  return d.dpl() >= cpu.cpl && d.dpl() >= selector_rpl(sel);
}

template <OpKind K, bool Write>
void verify(CpuState& cpu, const Insn& i) {
  require_protected(cpu);
  const uint16_t sel = selector_operand<K>(cpu, i);
  set_zf(cpu, verify_segment(cpu, sel, Write));
  next_rip(cpu, i);
}

template <OpKind K>
Handler select_grp6_kind(const Insn& i) {
  switch (i.ext) {
    case 0:
    case 1: {
      const bool tr = i.ext == 1;
      if constexpr (K == OpKind::Mem)
        return tr ? &store_system_selector<uint16_t, K, true>
                  : &store_system_selector<uint16_t, K, false>;
      switch (i.opsize) {
        case 2:
          return tr ? &store_system_selector<uint16_t, K, true>
                    : &store_system_selector<uint16_t, K, false>;
        case 4:
          return tr ? &store_system_selector<uint32_t, K, true>
                    : &store_system_selector<uint32_t, K, false>;
        case 8:
          return tr ? &store_system_selector<uint64_t, K, true>
                    : &store_system_selector<uint64_t, K, false>;
        default:
          return nullptr;
      }
    }
    case 2:
      return &lldt<K>;
    case 3:
      return &ltr<K>;
    case 4:
      return &verify<K, false>;
    case 5:
      return &verify<K, true>;
    default:
      return nullptr;
  }
}

Handler bind_grp6(const Insn& i) {
  if (i.dst.kind == OpKind::Reg) return select_grp6_kind<OpKind::Reg>(i);
  if (i.dst.kind == OpKind::Mem) return select_grp6_kind<OpKind::Mem>(i);
  return nullptr;
}

// ---- LAR / LSL (vol. 3, 5.10.1; vol. 2, LAR and LSL) ----

// The system descriptor types LAR (gates too) and LSL (segments only) accept, outside and
// inside IA-32e mode.
bool lar_lsl_system_type_ok(const CpuState& cpu, unsigned type, bool lsl) {
  if (long_mode_active(cpu)) {
    return type == dtype::kLdt || type == dtype::kTss32 || type == dtype::kTss32Busy ||
           (!lsl && type == dtype::kCallGate32);
  }
  switch (type) {
    case dtype::kTss16:
    case dtype::kLdt:
    case dtype::kTss16Busy:
    case dtype::kTss32:
    case dtype::kTss32Busy:
      return true;
    case dtype::kCallGate16:
    case dtype::kTaskGate:
    case dtype::kCallGate32:
      return !lsl;
    default:
      return false;
  }
}

// Finds the descriptor and applies the visibility rules: type as above; conforming code is
// visible at any privilege; everything else needs DPL >= CPL and DPL >= RPL.
bool visible_descriptor(CpuState& cpu, uint16_t sel, bool lsl, Descriptor* d) {
  if (selector_is_null(sel)) return false;
  if (!fetch_descriptor(cpu, sel, 8, d)) return false;
  if (d->system() && !lar_lsl_system_type_ok(cpu, d->type(), lsl)) return false;
  if (d->conforming()) return true;
  return d->dpl() >= cpu.cpl && d->dpl() >= selector_rpl(sel);
}

// LAR: the access-rights bytes of the descriptor's second dword, masked with 0x00F0FF00
// (0xFF00 for 16 bits). Bits 19:16 are architecturally undefined; Umbra returns 0 there.
template <typename T, OpKind K>
void lar(CpuState& cpu, const Insn& i) {
  require_protected(cpu);
  const uint16_t sel = read_operand<uint16_t, K>(cpu, i, i.src);
  Descriptor d;
  const bool ok = visible_descriptor(cpu, sel, false, &d);
  if (ok) {
    const uint32_t rights = static_cast<uint32_t>(d.lo >> 32) & 0x00f0ff00u;
    write_gpr<T>(cpu, i.dst.reg, static_cast<T>(sizeof(T) == 2 ? (rights & 0xff00) : rights));
  }
  set_zf(cpu, ok);
  next_rip(cpu, i);
}

// LSL: the byte-granular segment limit (truncated for a 16-bit destination).
template <typename T, OpKind K>
void lsl(CpuState& cpu, const Insn& i) {
  require_protected(cpu);
  const uint16_t sel = read_operand<uint16_t, K>(cpu, i, i.src);
  Descriptor d;
  const bool ok = visible_descriptor(cpu, sel, true, &d);
  if (ok) write_gpr<T>(cpu, i.dst.reg, static_cast<T>(d.limit()));
  set_zf(cpu, ok);
  next_rip(cpu, i);
}

template <typename T, OpKind K>
struct LarOp {
  static void run(CpuState& cpu, const Insn& i) { lar<T, K>(cpu, i); }
};
template <typename T, OpKind K>
struct LslOp {
  static void run(CpuState& cpu, const Insn& i) { lsl<T, K>(cpu, i); }
};

template <template <typename, OpKind> class F>
Handler bind_lar_lsl(const Insn& i) {
  if (i.dst.kind != OpKind::Reg) return nullptr;
  const bool mem = i.src.kind == OpKind::Mem;
  if (!mem && i.src.kind != OpKind::Reg) return nullptr;
  switch (i.opsize) {
    case 2:
      return mem ? &F<uint16_t, OpKind::Mem>::run : &F<uint16_t, OpKind::Reg>::run;
    case 4:
      return mem ? &F<uint32_t, OpKind::Mem>::run : &F<uint32_t, OpKind::Reg>::run;
    case 8:
      return mem ? &F<uint64_t, OpKind::Mem>::run : &F<uint64_t, OpKind::Reg>::run;
    default:
      return nullptr;
  }
}

// ---- ARPL (legacy modes only; 63 is MOVSXD in 64-bit mode) ----

// Raises the destination selector's RPL to the source's: ZF = 1 when it was lower.
template <OpKind K>
void arpl(CpuState& cpu, const Insn& i) {
  require_protected(cpu);
  Rmw<uint16_t, K> dst(cpu, i, i.dst);
  const uint16_t d = dst.get();
  const unsigned src_rpl = read_gpr<uint16_t>(cpu, i.src.reg) & 3;
  const bool adjust = (d & 3) < src_rpl;
  if (adjust) dst.set(static_cast<uint16_t>((d & ~3u) | src_rpl));
  set_zf(cpu, adjust);
  next_rip(cpu, i);
}

Handler bind_arpl(const Insn& i) {
  if (i.src.kind != OpKind::Reg) return nullptr;
  if (i.dst.kind == OpKind::Reg) return &arpl<OpKind::Reg>;
  if (i.dst.kind == OpKind::Mem) return &arpl<OpKind::Mem>;
  return nullptr;
}

}  // namespace

void register_descriptor_ops(BinderTable& t) {
  bind(t, Op::GRP6, &bind_grp6);
  bind(t, Op::LAR, &bind_lar_lsl<LarOp>);
  bind(t, Op::LSL, &bind_lar_lsl<LslOp>);
  bind(t, Op::ARPL, &bind_arpl);
}

}  // namespace umbra
