// The paging translator and the fast-TLB rules that go with it. See paging_translator.h.
#include "softmmu/paging_translator.h"

#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "softmmu/guest_memory.h"
#include "softmmu/translation_cache.h"

namespace umbra {

PagingTranslator::PagingTranslator() : cache_(std::make_unique<TranslationCache>()) {}
PagingTranslator::~PagingTranslator() = default;

Translation PagingTranslator::translate(CpuState& cpu, uint64_t linear, Access access) {
  // The slow path fills the active table: it must be the current root's and view's.
  cache_->ensure_current(cpu);
  const AccessIntent intent = explicit_intent(cpu, access);
  ++stats_.translations;
  if (!(cpu.cr0 & cr0::PG)) {
    ++stats_.identity;
    return Translation{linear, true, true};
  }
  // The shadow page tables first: a translation found by an earlier walk, in this or another
  // address space sharing the tables, whose entries have not changed since (write tracing zaps
  // them otherwise). Used when the access is allowed and needs no A/D update.
  WalkResult hit;
  if (cache_->shadow_translate(cpu, linear, intent, &hit)) return grant(cpu, hit, intent);
  // A hidden fault: the guest walk raises the guest's #PF or finds the translation.
  WalkResult r = walk_or_fault(cpu, linear, intent);
  // The fill that follows depends on every entry the walk used: trace them, cache them in the
  // shadow tables.
  cache_->note_walk(cpu, linear, r);
  return grant(cpu, r, intent);
}

Translation PagingTranslator::translate_intent(CpuState& cpu, uint64_t linear,
                                               AccessIntent intent) {
  ++stats_.translations;
  if (!(cpu.cr0 & cr0::PG)) {
    ++stats_.identity;
    return Translation{linear, true, true};
  }
  return grant(cpu, walk_or_fault(cpu, linear, intent), intent);
}

WalkResult PagingTranslator::walk_or_fault(CpuState& cpu, uint64_t linear, AccessIntent intent) {
  ++stats_.walks;
  WalkResult r = walk(cpu, linear, intent, paging_features(cpu));
  if (!r.ok()) {
    ++stats_.faults[static_cast<unsigned>(r.status)];
    raise_page_fault(cpu, r, linear);
  }
  return r;
}

Translation PagingTranslator::grant(CpuState& cpu, const WalkResult& r, AccessIntent intent) {
  // What else the same privilege may do with this page, from the rights the walk gathered. A
  // write is granted only on a dirty page: the first write after a read must reach the walker
  // to set D (SDM vol. 3, 4.8).
  PagingControls controls = paging_controls(cpu);
  bool can_write =
      check_access_rights(controls, r.rights, {Access::Write, intent.privilege}) == WalkStatus::kOk;
  bool can_fetch =
      check_access_rights(controls, r.rights, {Access::Exec, intent.privilege}) == WalkStatus::kOk;
  bool can_read =
      check_access_rights(controls, r.rights, {Access::Read, intent.privilege}) == WalkStatus::kOk;
  return Translation{r.paddr, can_write && r.dirty, can_fetch, can_read};
}

namespace {

// The translator's object when it is ours (the system machine), else null.
PagingTranslator* paging_translator(const CpuState& cpu) {
  return dynamic_cast<PagingTranslator*>(cpu.translator);
}

Translation translate_implicit(CpuState& cpu, uint64_t linear, Access access) {
  Translation t = [&] {
    if (PagingTranslator* p = paging_translator(cpu))
      return p->translate_intent(cpu, linear, implicit_supervisor_intent(access));
    return cpu.translator->translate(cpu, linear, access);
  }();
  // The A20 gate masks physical address bit 20, as access.cpp does for explicit accesses.
  if (cpu.a20_off) t.paddr &= ~(uint64_t{1} << 20);
  return t;
}

// A physical write that keeps translated code and the translation cache coherent, as access.cpp
// does for explicit writes.
void write_phys_coherent(CpuState& cpu, uint64_t paddr, unsigned size, uint64_t value) {
  GuestMemory& mem = *cpu.memory;
  if (mem.is_table_page(paddr) || mem.is_table_page(paddr + size - 1)) {
    if (TranslationCache* tc = cpu.translator->translation_cache())
      tc->on_table_write(cpu, paddr, size, value);
  }
  for (uint64_t p = paddr & kPageMask; p <= ((paddr + size - 1) & kPageMask); p += kPageSize) {
    if (mem.is_code_page(p)) {
      mem.clear_code_page(p);
      if (mem.on_code_write) mem.on_code_write(p);
    }
  }
  mem.write_phys(paddr, size, value);
}

}  // namespace

PagingFeatures paging_features(const CpuState& cpu) {
  return paging_features_for(model_of(cpu));
}

void tlb_flush_for_privilege_change(CpuState& cpu, uint8_t view_before) {
  if (tlb_privilege_view(cpu) != view_before) tlb_select_view(cpu);
}

void tlb_select_view(CpuState& cpu) {
  if (TranslationCache* tc = cpu.translator ? cpu.translator->translation_cache() : nullptr)
    tc->select_view(cpu);
  else
    tlb_flush_all(cpu);
}

void tlb_address_space_changed(CpuState& cpu) {
  if (TranslationCache* tc = cpu.translator ? cpu.translator->translation_cache() : nullptr)
    tc->load_address_space(cpu);
  else
    tlb_flush_all(cpu);
}

void tlb_invlpg(CpuState& cpu, uint64_t linear) {
  uint64_t region;
  switch (paging_mode(cpu)) {
    case PagingMode::kNone:
      region = kPageSize;
      break;
    case PagingMode::k32Bit:
      region = uint64_t{1} << 22;
      break;
    case PagingMode::kPae:
      region = uint64_t{1} << 21;
      break;
    default:
      region = uint64_t{1} << 30;
      break;
  }
  uint64_t base = linear & ~(region - 1);
  if (TranslationCache* tc = cpu.translator ? cpu.translator->translation_cache() : nullptr) {
    tc->invalidate_page(cpu, linear);  // knows which large pages it holds: no region scan
    return;
  }
  auto inside = [&](uint64_t tag) { return tag != kTlbInvalid && tag - base < region; };
  for (TlbEntry& e : cpu.tlb) {
    if (inside(e.tag_read) || inside(e.tag_write) || inside(e.tag_exec))
      e = TlbEntry{kTlbInvalid, kTlbInvalid, kTlbInvalid, 0};
  }
}

bool paging_flush_needed(uint64_t old_cr0, uint64_t old_cr4, uint64_t old_efer, uint64_t new_cr0,
                         uint64_t new_cr4, uint64_t new_efer) {
  constexpr uint64_t kCr0 = cr0::PG | cr0::WP;
  constexpr uint64_t kCr4 =
      cr4::PSE | cr4::PAE | cr4::PGE | cr4::PCIDE | cr4::LA57 | cr4::SMEP | cr4::SMAP | cr4::PKE;
  constexpr uint64_t kEfer = efer::NXE | efer::LMA;
  return ((old_cr0 ^ new_cr0) & kCr0) || ((old_cr4 ^ new_cr4) & kCr4) ||
         ((old_efer ^ new_efer) & kEfer);
}

uint64_t read_implicit(CpuState& cpu, uint64_t linear, unsigned size) {
  GuestMemory& mem = *cpu.memory;
  if (within_page(linear, size)) {
    Translation t = translate_implicit(cpu, linear, Access::Read);
    return mem.read_phys(t.paddr, size);
  }
  unsigned first = static_cast<unsigned>(kPageSize - (linear & (kPageSize - 1)));
  Translation t0 = translate_implicit(cpu, linear, Access::Read);
  Translation t1 = translate_implicit(cpu, linear + first, Access::Read);
  uint64_t lo = mem.read_phys(t0.paddr, first);
  uint64_t hi = mem.read_phys(t1.paddr, size - first);
  return lo | (hi << (8 * first));
}

void write_implicit(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value) {
  if (within_page(linear, size)) {
    Translation t = translate_implicit(cpu, linear, Access::Write);
    write_phys_coherent(cpu, t.paddr, size, value);
    return;
  }
  // Both pages are checked before either is written, as for explicit writes.
  unsigned first = static_cast<unsigned>(kPageSize - (linear & (kPageSize - 1)));
  Translation t0 = translate_implicit(cpu, linear, Access::Write);
  Translation t1 = translate_implicit(cpu, linear + first, Access::Write);
  write_phys_coherent(cpu, t0.paddr, first, value);
  write_phys_coherent(cpu, t1.paddr, size - first, value >> (8 * first));
}

}  // namespace umbra
