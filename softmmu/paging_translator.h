// The paging translator: the AddressTranslator the system machine installs in CpuState. On a
// fast-TLB miss it walks the shadow page tables (translation_cache.h, shadow_tables.h) and, when
// they cannot serve the access (a hidden fault), the guest's page tables (page_walk.h), and
// tells the slow path what the fast TLB may cache for the page.
//
// Rules for the system code (the fast TLB, CpuState::tlb, is ONE table for every privilege and
// caches permissions computed for the privilege and control bits in force when it was filled):
//  - CPL changes between 3 and 0..2, or EFLAGS.AC changes while CR4.SMAP = 1 and CPL < 3:
//        uint8_t before = tlb_privilege_view(cpu);  ... change CPL / AC ...
//        tlb_flush_for_privilege_change(cpu, before);   (switches tables, no flush)
//  - MOV to CR3, INVPCID types 1-3: tlb_address_space_changed(cpu)   (reuses the cached root)
//  - any write of CR0/CR4/EFER for which paging_flush_needed() is true: tlb_flush_all(cpu)
//  - INVLPG m: tlb_invlpg(cpu, linear) (not tlb_flush_page: the page may be a large one).
//  - PAE PDPTEs: load_pae_pdptes(cpu, cr3) before committing MOV CR3 / CR0 / CR4 (page_walk.h
//    says when), #GP(0) if it returns false.
//  - Implicit supervisor-mode accesses (GDT, LDT, IDT, TSS, SDM vol. 3, 4.6) go through
//    read_implicit()/write_implicit(), never through read_mem/write_mem, because the fast TLB
//    and translate() evaluate rights for CPL and EFLAGS.AC.
#pragma once

#include <cstdint>
#include <memory>

#include "frontend/system/mode.h"
#include "softmmu/access.h"
#include "softmmu/page_walk.h"

namespace umbra {

// Counters of what the translator did (monitor `info mmu` later).
struct PagingStats {
  uint64_t translations = 0;             // translate() and implicit-access translations
  uint64_t identity = 0;                 // of which paging was off
  uint64_t walks = 0;                    // guest page walks performed
  uint64_t faults[kNumWalkStatus] = {};  // #PF raised, by WalkStatus (index 0 unused)
  uint64_t faults_total() const {
    uint64_t n = 0;
    for (unsigned i = 1; i < kNumWalkStatus; ++i) n += faults[i];
    return n;
  }
};

class TranslationCache;

class PagingTranslator final : public AddressTranslator {
 public:
  PagingTranslator();
  ~PagingTranslator() override;

  // Explicit access at the CPU's privilege (CPL 3 = user). Paging off: identity (the A20 gate is
  // applied by access.cpp on the physical result). Paging on: walks with the CPU model's paging
  // features (paging_features()), sets A/D, raises #PF with CR2 = linear on failure. The
  // Translation grants
  //   writable   only if a write at the same privilege is allowed AND the leaf's D bit is set,
  //              so the first write to a clean page still takes the slow path and sets D;
  //   executable only if a fetch at the same privilege is allowed.
  Translation translate(CpuState& cpu, uint64_t linear, Access access) override;

  // The same for any intent (implicit supervisor accesses). The result must not be cached in
  // the fast TLB unless the intent equals explicit_intent(cpu, access).
  Translation translate_intent(CpuState& cpu, uint64_t linear, AccessIntent intent);

  const PagingStats& stats() const { return stats_; }
  void reset_stats() { stats_ = PagingStats{}; }

  // The translation cache behind the fast TLB (softmmu/translation_cache.h).
  TranslationCache* translation_cache() override { return cache_.get(); }
  TranslationCache& cache() { return *cache_; }

 private:
  // The walk behind translate_intent(); paging must be on.
  WalkResult walk_or_fault(CpuState& cpu, uint64_t linear, AccessIntent intent);
  Translation grant(CpuState& cpu, const WalkResult& r, AccessIntent intent);

  PagingStats stats_;
  std::unique_ptr<TranslationCache> cache_;
};

// The paging features of the CPU, from its CPU model (CpuState::cpu_model, or the default model):
// MAXPHYADDR and 1-GByte pages as CPUID reports them. This is the one place the walker's
// features come from, so CPUID and the walker cannot disagree.
PagingFeatures paging_features(const CpuState& cpu);

// load_pae_pdptes() with the CPU's own features (page_walk.h says when to call it).
inline bool load_pae_pdptes(CpuState& cpu, uint64_t cr3) {
  return load_pae_pdptes(cpu, cr3, paging_features(cpu));
}

// The privilege-dependent part of what fast-TLB entries grant: 1 = user (CPL 3); 2 = supervisor
// with the SMAP override (CR4.SMAP = 1, EFLAGS.AC = 1); 0 = other supervisor.
// Inline: the engine compares it at every block boundary as a safety net (jit/tier0.cpp).
inline uint8_t tlb_privilege_view(const CpuState& cpu) {
  if (cpu.cpl == 3) return alignment_check_active(cpu) ? 3 : 1;  // 3: nothing cached (#AC checks)
  if ((cpu.cr4 & cr4::SMAP) && (cpu.rflags & rf::AC)) return 2;
  return 0;
}
// Activates the fast-TLB table of the current view if it differs from `view_before` (taken
// before the change). With the translation cache each view has its own table, so nothing is
// flushed; with a translator without one the single table is flushed.
void tlb_flush_for_privilege_change(CpuState& cpu, uint8_t view_before);
// The same without a "before" value: activates the table of the CPU's current view (the tier-0
// engine's safety net at block boundaries).
void tlb_select_view(CpuState& cpu);

// The address space changed (MOV CR3, INVPCID of a context or of all contexts): activates the
// cached tables of the new root, or starts empty ones. No flush: the translation cache is kept
// coherent with the guest's page tables by write tracing (translation_cache.h), which is what
// lets a CR3 load cost no refill. Without the cache: tlb_flush_all().
void tlb_address_space_changed(CpuState& cpu);

// INVLPG (SDM vol. 3, 4.10.4.1): invalidates the translations of the page containing `linear`,
// whatever its size. The fast TLB holds 4-KByte pieces without remembering the size of the page
// they came from, so every entry in the naturally aligned region of the largest page size of the
// current paging mode (4 MiB for 32-bit paging, 2 MiB for PAE, 1 GiB for 4-/5-level) is dropped.
void tlb_invlpg(CpuState& cpu, uint64_t linear);

// Whether a write of CR0/CR4/EFER from the old to the new values changes how linear addresses
// translate or what they grant, so that the fast TLB must be flushed: CR0.PG/WP, CR4.PSE/PAE/
// PGE/PCIDE/LA57/SMEP/SMAP/PKE, EFER.NXE/LMA (SDM vol. 3, 4.10.4.1 lists the architectural
// flushes; WP, NXE and SMAP are added because the fast TLB caches rights computed from them).
bool paging_flush_needed(uint64_t old_cr0, uint64_t old_cr4, uint64_t old_efer, uint64_t new_cr0,
                         uint64_t new_cr4, uint64_t new_efer);

// Implicit supervisor-mode accesses of `size` (1..8) bytes at `linear` (SDM vol. 3, 4.6):
// descriptor-table and TSS references, at any CPL. Rights are checked as supervisor accesses
// with SMAP applying regardless of EFLAGS.AC; a failure raises #PF with U/S = 0. Page-crossing
// accesses check both pages before touching either. Not cached in the fast TLB. With a translator
// other than PagingTranslator, the installed translator is used as for an explicit access.
uint64_t read_implicit(CpuState& cpu, uint64_t linear, unsigned size);
void write_implicit(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value);

}  // namespace umbra
