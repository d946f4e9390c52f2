// Control-register writes and the translation-flush policy (system_control.h).
#include "frontend/semantics/system_control.h"

#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "softmmu/page_walk.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

// CR0 bits that exist (SDM vol. 3, 2.5, figure 2-7). Other bits of CR0[31:0] are reserved:
// attempts to set them are ignored ("reserved bits in CR0 remain clear", vol. 2, MOV-Control
// Registers); CR0[63:32] set is #GP(0).
constexpr uint64_t kCr0Defined = cr0::PE | cr0::MP | cr0::EM | cr0::TS | cr0::ET | cr0::NE |
                                 cr0::WP | cr0::AM | cr0::NW | cr0::CD | cr0::PG;
constexpr uint64_t kCr3NoFlush = uint64_t{1} << 63;
constexpr uint64_t kPcidMask = 0xFFF;

[[noreturn]] void gp0(CpuState& cpu) {
  raise_fault(cpu, kGP, 0);
}

}  // namespace

void on_paging_state_changed(CpuState& cpu, PagingChange why, uint64_t linear) {
  switch (why) {
    case PagingChange::Page:
      tlb_invlpg(cpu, linear);
      return;
    case PagingChange::ControlBits:
      tlb_flush_all(cpu);
      return;
    case PagingChange::AddressSpace:
      // The translation cache keeps one set of tables per root, coherent with the guest's
      // tables by write tracing: switching needs no flush (softmmu/translation_cache.h).
      tlb_address_space_changed(cpu);
      return;
  }
}

void control_registers_written(CpuState& cpu, uint64_t old_cr0, uint64_t old_cr4,
                               uint64_t old_efer) {
  // CR0.PE changes the CPL (real mode is CPL 0), hence the rights the fast TLB caches.
  if (paging_flush_needed(old_cr0, old_cr4, old_efer, cpu.cr0, cpu.cr4, cpu.efer) ||
      ((old_cr0 ^ cpu.cr0) & cr0::PE))
    on_paging_state_changed(cpu, PagingChange::ControlBits);
  update_cpu_mode(cpu);
}

void write_cr0(CpuState& cpu, uint64_t value) {
  if (value >> 32) gp0(cpu);
  const uint64_t v = (value & kCr0Defined) | cr0::ET;  // ET is hardwired to 1
  if ((v & cr0::PG) && !(v & cr0::PE)) gp0(cpu);
  if ((v & cr0::NW) && !(v & cr0::CD)) gp0(cpu);
  const uint64_t old = cpu.cr0;
  uint64_t efer = cpu.efer;
  if ((v & cr0::PG) && !(old & cr0::PG)) {
    // Enabling paging with EFER.LME = 1 activates IA-32e mode; it requires CR4.PAE
    // (SDM vol. 3, 9.8.5 and 4.1.2).
    if (efer & efer::LME) {
      if (!(cpu.cr4 & cr4::PAE)) gp0(cpu);
      efer |= efer::LMA;
    }
  } else if (!(v & cr0::PG) && (old & cr0::PG)) {
    // Leaving IA-32e mode is done from compatibility mode, with PCIDE clear (SDM vol. 3, 9.8.5.4;
    // vol. 2, MOV-Control Registers, 64-bit mode exceptions).
    if (cpu.mode64) gp0(cpu);
    if (cpu.cr4 & cr4::PCIDE) gp0(cpu);
    efer &= ~efer::LMA;
  }
  if (mov_cr_loads_pdptes(old, cpu.cr4, v, cpu.cr4, efer) && !load_pae_pdptes(cpu, cpu.cr3))
    gp0(cpu);
  const uint64_t old_efer = cpu.efer;
  cpu.cr0 = v;
  cpu.efer = efer;
  control_registers_written(cpu, old, cpu.cr4, old_efer);
}

void write_cr3(CpuState& cpu, uint64_t value) {
  const bool pcide = cpu.cr4 & cr4::PCIDE;
  bool no_flush = false;
  uint64_t v = value;
  if (pcide) {
    // Bit 63 of the source says "keep this PCID's translations"; it is not stored
    // (SDM vol. 3, 4.10.4.1).
    no_flush = v & kCr3NoFlush;
    v &= ~kCr3NoFlush;
  }
  if (cpu.efer & efer::LMA) {
    // Bits 63:MAXPHYADDR are reserved (SDM vol. 3, 4.5, table 4-12).
    if (v >> model_of(cpu).phys_addr_bits) gp0(cpu);
  } else {
    v = static_cast<uint32_t>(v);
  }
  if (pae_paging(cpu.cr0, cpu.cr4, cpu.efer) && !load_pae_pdptes(cpu, v)) gp0(cpu);
  const uint64_t old = cpu.cr3;
  cpu.cr3 = v;
  // With the translation cache (softmmu/translation_cache.h), whatever the PCID and bit 63 say,
  // the CPU switches to the new root's cached tables: they hold only translations the guest's
  // tables still give (write tracing), which is all a flush would guarantee (SDM vol. 3,
  // 4.10.4.1) and more than a no-flush load promises. Without it the single fast-TLB table is
  // not tagged by PCID: its entries may stay only when the PCID is unchanged and the guest asked
  // to keep them.
  const bool cached = cpu.translator && cpu.translator->translation_cache();
  if (cached || !(no_flush && (old & kPcidMask) == (v & kPcidMask)))
    on_paging_state_changed(cpu, PagingChange::AddressSpace);
}

void write_cr4(CpuState& cpu, uint64_t value) {
  // Bits the model does not support, including CR4[63:32], are reserved (SDM vol. 3, 2.5).
  if (value & ~cr4_valid_bits(model_of(cpu))) gp0(cpu);
  const uint64_t old = cpu.cr4;
  const bool lma = cpu.efer & efer::LMA;
  if (lma && !(value & cr4::PAE)) gp0(cpu);          // leaving IA-32e mode via PAE
  if (lma && ((value ^ old) & cr4::LA57)) gp0(cpu);  // LA57 is fixed in IA-32e mode
  if ((value & cr4::PCIDE) && !(old & cr4::PCIDE)) {
    // PCIDE can be set only in IA-32e mode and with CR3[11:0] = 0 (SDM vol. 3, 4.10.1).
    if (!lma || (cpu.cr3 & kPcidMask)) gp0(cpu);
  }
  if (mov_cr_loads_pdptes(cpu.cr0, old, cpu.cr0, value, cpu.efer) && !load_pae_pdptes(cpu, cpu.cr3))
    gp0(cpu);
  cpu.cr4 = value;
  control_registers_written(cpu, cpu.cr0, old, cpu.efer);
}

void write_cr8(CpuState& cpu, uint64_t value) {
  // CR8[3:0] is the task-priority class (TPR[7:4]); bits 63:4 are reserved (SDM vol. 3, 2.5).
  if (value & ~uint64_t{0xF}) gp0(cpu);
  cpu.cr8 = value;
}

}  // namespace umbra
