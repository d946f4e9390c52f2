// Group 7 (0F 01) and the other TLB and cache-control instructions: SGDT, SIDT, LGDT, LIDT,
// SMSW, LMSW, INVLPG, SWAPGS, CLAC, STAC, MONITOR/MWAIT (#UD), INVPCID, INVD, WBINVD
// (SDM vol. 2; vol. 3, 2.8 "System instruction summary", 4.10.4 TLB invalidation).
//
// Decoder convention: GRP7's Insn::ext is the whole ModRM byte (frontend/opcode_groups.inc);
// the register forms 0F 01 C0-FF select the instruction by ModRM.reg and ModRM.rm. RDTSCP
// (0F 01 F9) decodes to its own operation (system_msr.cpp). XGETBV/XSETBV (0F 01 D0/D1) are
// bound by bind_xcr (fp_state_xsave.cpp).
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/fp_state.h"
#include "frontend/semantics/system_control.h"
#include "frontend/semantics/system_internal.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

// Linear address of the memory operand plus `offset` bytes (the offset wraps with the address
// size, as the second field of a pseudo-descriptor does), checked for an access of `size` bytes
// against the segment in legacy modes.
uint64_t operand_linear(const CpuState& cpu, const Insn& i, unsigned offset, unsigned size,
                        bool write) {
  return seg_linear(cpu, i.seg, truncate_address(effective_address(cpu, i) + offset, i.addr_size),
                    size, write);
}

// User-mode instruction prevention (SDM vol. 3, 2.5, CR4.UMIP): SGDT, SIDT, SLDT, SMSW and STR
// raise #GP(0) at CPL > 0.
void check_umip(CpuState& cpu) {
  if ((cpu.cr4 & cr4::UMIP) && cpu.cpl > 0) raise_fault(cpu, kGP, 0);
}

// ---- SGDT / SIDT: store the 16-bit limit and the base (SDM vol. 2, SGDT) ----
// 64-bit mode stores an 8-byte base; other modes store 4 bytes whatever the operand size (the
// full 32-bit base: "(* Full 32-bit base address stored *)").
template <bool Idt>
void store_table_register(CpuState& cpu, const Insn& i) {
  check_umip(cpu);
  const DescriptorTableReg& r = Idt ? cpu.idtr : cpu.gdtr;
  // Check both writes before doing either, so a fault on the base leaves memory untouched.
  const MemRef limit = prepare_rmw_seg<uint16_t>(cpu, operand_linear(cpu, i, 0, 2, true), i.seg);
  if (cpu.mode64) {
    const MemRef base = prepare_rmw_seg<uint64_t>(cpu, operand_linear(cpu, i, 2, 8, true), i.seg);
    store<uint16_t>(cpu, limit, static_cast<uint16_t>(r.limit));
    store<uint64_t>(cpu, base, r.base);
  } else {
    const MemRef base = prepare_rmw_seg<uint32_t>(cpu, operand_linear(cpu, i, 2, 4, true), i.seg);
    store<uint16_t>(cpu, limit, static_cast<uint16_t>(r.limit));
    store<uint32_t>(cpu, base, static_cast<uint32_t>(r.base));
  }
  next_rip(cpu, i);
}

// ---- LGDT / LIDT (SDM vol. 2, LGDT) ----
// 64-bit mode: 8-byte base (operand size ignored). Other modes: 4 bytes read; with a 16-bit
// operand size only the low 24 bits are loaded.
template <bool Idt>
void load_table_register(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  const uint16_t limit = read_mem_seg<uint16_t>(cpu, operand_linear(cpu, i, 0, 2, false), i.seg);
  uint64_t base;
  if (cpu.mode64) {
    base = read_mem_seg<uint64_t>(cpu, operand_linear(cpu, i, 2, 8, false), i.seg);
  } else {
    base = read_mem_seg<uint32_t>(cpu, operand_linear(cpu, i, 2, 4, false), i.seg);
    if (i.opsize == 2) base &= 0xFFFFFF;
  }
  DescriptorTableReg& r = Idt ? cpu.idtr : cpu.gdtr;
  r.base = base;
  r.limit = limit;
  next_rip(cpu, i);
}

// ---- SMSW: CR0's low bits (SDM vol. 2, SMSW) ----
// Memory destination: always 16 bits. Register destination: the operand size (with 32/64-bit
// operands the whole of CR0's low 32/64 bits).
template <typename T, OpKind K>
struct Smsw {
  static void run(CpuState& cpu, const Insn& i) {
    check_umip(cpu);
    const uint64_t cr0 = read_cr0(cpu);
    if constexpr (K == OpKind::Mem)
      write_mem_seg<uint16_t>(cpu, linear_address(cpu, i, 2, true), static_cast<uint16_t>(cr0),
                              i.seg);
    else
      write_gpr<T>(cpu, i.dst.reg, static_cast<T>(cr0));
    next_rip(cpu, i);
  }
};

// ---- LMSW: loads CR0.PE, MP, EM, TS; can set PE but never clear it (SDM vol. 2, LMSW) ----
template <OpKind K>
struct Lmsw {
  static void run(CpuState& cpu, const Insn& i) {
    require_cpl0(cpu);
    const uint16_t src = read_operand<uint16_t, K>(cpu, i, i.dst);
    const uint64_t next = rip_after(cpu, i);
    write_cr0(cpu, (cpu.cr0 & ~uint64_t{0xE}) | (src & 0xF));
    cpu.rip = next;
  }
};

// ---- INVLPG (SDM vol. 2, INVLPG): never faults on the address (no segment-limit or canonical
// check: a non-canonical address invalidates nothing) ----
void invlpg(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  const uint64_t ea = effective_address(cpu, i);
  const uint64_t linear = cpu.mode64 ? (i.seg >= FS ? ea + cpu.seg[i.seg].base : ea)
                                     : static_cast<uint32_t>(ea + cpu.seg[i.seg].base);
  on_paging_state_changed(cpu, PagingChange::Page, linear);
  next_rip(cpu, i);
}

// ---- SWAPGS: exchange GS.base and IA32_KERNEL_GS_BASE (64-bit mode only: the decoder makes
// it #UD elsewhere) ----
void swapgs(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  const uint64_t t = cpu.seg[GS].base;
  cpu.seg[GS].base = cpu.msr_kernel_gs_base;
  cpu.msr_kernel_gs_base = t;
  next_rip(cpu, i);
}

// ---- CLAC / STAC: EFLAGS.AC (SDM vol. 2, CLAC): #UD without SMAP or at CPL > 0 ----
template <bool Set>
void set_ac(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::SMAP) || cpu.cpl > 0) raise_fault(cpu, kUD);
  // With CR4.SMAP, AC changes what supervisor accesses to user pages may do: the fast TLB's
  // cached rights depend on it (softmmu/paging_translator.h).
  const uint8_t view = tlb_privilege_view(cpu);
  if (Set)
    cpu.rflags |= rf::AC;
  else
    cpu.rflags &= ~rf::AC;
  tlb_flush_for_privilege_change(cpu, view);
  next_rip(cpu, i);
}

// ---- INVPCID (SDM vol. 2, INVPCID) ----
// Register operand: the type (0 individual address, 1 single context, 2 all contexts including
// globals, 3 all contexts except globals); memory operand: a 128-bit descriptor with the PCID
// in bits 11:0 (63:12 reserved) and the linear address in bits 127:64.
template <typename T>
void invpcid(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::INVPCID) || v86_mode(cpu)) raise_fault(cpu, kUD);
  require_cpl0(cpu);
  const uint64_t type = read_gpr<T>(cpu, i.dst.reg);
  if (type > 3) raise_fault(cpu, kGP, 0);
  const uint64_t pcid_field =
      read_mem_seg<uint64_t>(cpu, operand_linear(cpu, i, 0, 16, false), i.seg);
  const uint64_t address = read_mem_seg<uint64_t>(cpu, operand_linear(cpu, i, 8, 8, false), i.seg);
  if (pcid_field >> 12) raise_fault(cpu, kGP, 0);
  const bool pcide = cpu.cr4 & cr4::PCIDE;
  if (type <= 1 && !pcide && pcid_field != 0) raise_fault(cpu, kGP, 0);
  if (type == 0) {
    if (!is_canonical48(address)) raise_fault(cpu, kGP, 0);
    // The fast TLB holds only the current PCID's translations; invalidating the page for any
    // PCID drops at most a still-valid entry, which is allowed.
    on_paging_state_changed(cpu, PagingChange::Page, address);
  } else {
    on_paging_state_changed(cpu, PagingChange::AddressSpace);
  }
  next_rip(cpu, i);
}

Handler bind_invpcid(const Insn& i) {
  if (i.dst.kind != OpKind::Reg || i.src.kind != OpKind::Mem) return nullptr;
  return i.opsize == 8 ? &invpcid<uint64_t> : &invpcid<uint32_t>;
}

// ---- INVD / WBINVD: Umbra has no caches to write back or discard ----
void cache_invalidate(CpuState& cpu, const Insn& i) {
  require_cpl0(cpu);
  next_rip(cpu, i);
}
Handler bind_cache_invalidate(const Insn&) {
  return &cache_invalidate;
}

Handler bind_smsw(const Insn& i) {
  if (i.dst.kind == OpKind::Mem) return &Smsw<uint16_t, OpKind::Mem>::run;
  switch (i.opsize) {
    case 2:
      return &Smsw<uint16_t, OpKind::Reg>::run;
    case 4:
      return &Smsw<uint32_t, OpKind::Reg>::run;
    case 8:
      return &Smsw<uint64_t, OpKind::Reg>::run;
    default:
      return nullptr;
  }
}

Handler bind_grp7(const Insn& i) {
  const unsigned mod = i.ext >> 6, reg = (i.ext >> 3) & 7, rm = i.ext & 7;
  if (mod != 3) {
    switch (reg) {
      case 0:
        return &store_table_register<false>;
      case 1:
        return &store_table_register<true>;
      case 2:
        return &load_table_register<false>;
      case 3:
        return &load_table_register<true>;
      case 4:
        return bind_smsw(i);
      case 6:
        return &Lmsw<OpKind::Mem>::run;
      case 7:
        return &invlpg;
      default:
        return nullptr;
    }
  }
  switch (reg) {
    case 1:
      if (rm == 0 || rm == 1) return &raise_ud;  // MONITOR, MWAIT: not advertised
      if (rm == 2) return &set_ac<false>;        // CLAC
      if (rm == 3) return &set_ac<true>;         // STAC
      return nullptr;
    case 2:
      return bind_xcr(static_cast<uint8_t>(i.ext));  // XGETBV, XSETBV (fp_state_xsave.cpp)
    case 4:
      return bind_smsw(i);
    case 6:
      return &Lmsw<OpKind::Reg>::run;
    case 7:
      if (rm == 0) return &swapgs;
      if (rm >= 2 && rm <= 4) return &raise_ud;  // MONITORX, MWAITX, CLZERO (AMD): #UD
      return nullptr;
    default:
      return nullptr;
  }
}

}  // namespace

void register_system_grp7(BinderTable& t) {
  bind(t, Op::GRP7, &bind_grp7);
  bind(t, Op::INVPCID, &bind_invpcid);
  bind(t, Op::INVD, &bind_cache_invalidate);
  bind(t, Op::WBINVD, &bind_cache_invalidate);
}

}  // namespace umbra
