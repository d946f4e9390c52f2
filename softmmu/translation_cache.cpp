// The translation cache: address spaces x privilege views of fast-TLB tables, and the write
// tracing that keeps them coherent with the guest's page tables. See translation_cache.h.
#include "softmmu/translation_cache.h"

#include <algorithm>
#include <tuple>

#include "softmmu/guest_memory.h"
#include "softmmu/page_walk.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

constexpr TlbEntry kEmptyEntry{kTlbInvalid, kTlbInvalid, kTlbInvalid, 0};
// The root key of the "paging off" address space (identity translations).
constexpr uint64_t kNoPaging = ~uint64_t{0};
// Recorded fills per address space beyond which a reset clears whole tables.
constexpr size_t kMaxFilled = kTlbSize / 4;
// Shadow-map entries per address space beyond which the map is emptied (bounds its memory).
constexpr size_t kMaxShadow = size_t{1} << 16;

bool entry_maps(const TlbEntry& e, uint64_t vpage) {
  return e.tag_read == vpage || e.tag_write == vpage || e.tag_exec == vpage;
}

void clear_table(TlbEntry* t) {
  std::fill(t, t + kTlbSize, kEmptyEntry);
}

constexpr uint64_t kLargeSizes[] = {uint64_t{1} << 21, uint64_t{1} << 22, uint64_t{1} << 30};

// The key of a large page in Space::large: its base (aligned to at least 2 MiB) | a size code.
uint64_t large_key(uint64_t base, uint64_t size) {
  const uint64_t code = size == kLargeSizes[0] ? 1 : size == kLargeSizes[1] ? 2 : 3;
  return (base & ~(size - 1)) | code;
}

}  // namespace

TranslationCache::TranslationCache() = default;
TranslationCache::~TranslationCache() = default;

uint64_t TranslationCache::root_of(const CpuState& cpu) {
  switch (paging_mode(cpu)) {
    case PagingMode::kNone:
      return kNoPaging;
    case PagingMode::k32Bit:
      return cpu.cr3 & 0xFFFFF000u;
    case PagingMode::kPae:
      return cpu.cr3 & 0xFFFFFFE0u;  // CR3 bits 31:5 locate the PDPT (SDM vol. 3, 4.4.1)
    default:
      // 4-/5-level paging: bits 11:0 are flags or the PCID; the cache is coherent with memory,
      // so translations do not depend on the PCID (translation_cache.h).
      return cpu.cr3 & ~uint64_t{0xFFF};
  }
}

bool TranslationCache::matches(const Space& s, const CpuState& cpu) const {
  if (!s.valid || s.root != root_of(cpu)) return false;
  const bool pae = pae_paging(cpu.cr0, cpu.cr4, cpu.efer);
  if (s.pae != pae) return false;
  // Under PAE paging the walk uses the PDPTE registers, loaded at the last CR3/CR0/CR4 write:
  // the same CR3 with other PDPTEs is another address space.
  return !pae || std::equal(s.pdpte, s.pdpte + 4, cpu.pdpte);
}

void TranslationCache::reset_space(Space& s) {
  ++s.gen;
  for (unsigned v = 0; v < kViews; ++v) {
    if (s.used[v]) {
      if (s.filled_overflow || s.root == kNoPaging) {
        clear_table(s.views[v].get());
      } else {
        for (uint16_t idx : s.filled) s.views[v][idx] = kEmptyEntry;
      }
    }
    s.used[v] = false;
  }
  s.filled.clear();
  s.filled_overflow = false;
  s.shadow.clear();
  s.large.clear();
}

void TranslationCache::activate(CpuState& cpu, unsigned space, unsigned view) {
  Space& s = spaces_[space];
  if (!s.views[view]) {
    s.views[view] = std::make_unique<TlbEntry[]>(kTlbSize);
    clear_table(s.views[view].get());
  }
  // The table may be filled from now on (translate_and_fill writes the active table).
  s.used[view] = true;
  s.last_use = ++clock_;
  active_space_ = space;
  active_view_ = view;
  cpu.tlb_offset = static_cast<int64_t>(reinterpret_cast<uintptr_t>(s.views[view].get()) -
                                        reinterpret_cast<uintptr_t>(cpu.tlb));
}

void TranslationCache::load_address_space(CpuState& cpu) {
  ++stats_.cr3_loads;
  const unsigned view = tlb_privilege_view(cpu);
  for (unsigned i = 0; i < kSpaces; ++i) {
    if (matches(spaces_[i], cpu)) {
      ++stats_.roots_reused;
      activate(cpu, i, view);
      return;
    }
  }
  // A new address space: a free slot, else the least recently used one.
  unsigned pick = 0;
  for (unsigned i = 0; i < kSpaces; ++i) {
    if (!spaces_[i].valid) {
      pick = i;
      break;
    }
    if (spaces_[i].last_use < spaces_[pick].last_use) pick = i;
  }
  Space& s = spaces_[pick];
  if (s.valid) ++stats_.roots_evicted;
  ++stats_.roots_created;
  reset_space(s);  // its reverse-map records die with the old generation
  s.valid = true;
  s.root = root_of(cpu);
  s.pae = pae_paging(cpu.cr0, cpu.cr4, cpu.efer);
  std::copy(cpu.pdpte, cpu.pdpte + 4, s.pdpte);
  if (!s.pae) std::fill(s.pdpte, s.pdpte + 4, 0);
  activate(cpu, pick, view);
}

void TranslationCache::select_view(CpuState& cpu) {
  const unsigned view = tlb_privilege_view(cpu);
  if (view == active_view_ && cpu.tlb_offset != 0) return;
  ++stats_.view_switches;
  activate(cpu, active_space_, view);
}

void TranslationCache::ensure_current(CpuState& cpu) {
  if (cpu.tlb_offset == 0 || !matches(spaces_[active_space_], cpu)) {
    load_address_space(cpu);
    return;
  }
  if (tlb_privilege_view(cpu) != active_view_) select_view(cpu);
}

void TranslationCache::flush_all(CpuState& cpu) {
  ++stats_.flush_all;
  for (Space& s : spaces_) {
    s.filled_overflow = true;  // a full flush clears whole tables, whatever filled them
    reset_space(s);
    s.valid = false;
  }
  untrace_all(cpu);
  // The inline table is not used while the cache is active, but keep it clean for anyone who
  // installs another translator.
  for (TlbEntry& e : cpu.tlb) e = kEmptyEntry;
  load_address_space(cpu);
}

void TranslationCache::drop_vpage(Space& s, uint64_t vpage) {
  s.shadow.erase(vpage);
  const unsigned idx = (vpage >> kPageShift) & (kTlbSize - 1);
  for (unsigned v = 0; v < kViews; ++v) {
    if (!s.used[v]) continue;
    TlbEntry& e = s.views[v][idx];
    if (entry_maps(e, vpage)) e = kEmptyEntry;
  }
}

void TranslationCache::flush_range(CpuState& cpu, uint64_t base, uint64_t size) {
  ++stats_.flush_page;
  if (cpu.tlb_offset == 0) ensure_current(cpu);
  drop_range(spaces_[active_space_], base, size);
}

void TranslationCache::drop_range(Space& s, uint64_t base, uint64_t size) {
  if (size == kPageSize) {
    drop_vpage(s, base & kPageMask);
    return;
  }
  std::erase_if(s.shadow, [&](const auto& kv) { return kv.first - base < size; });
  auto inside = [&](uint64_t tag) { return tag != kTlbInvalid && tag - base < size; };
  for (unsigned v = 0; v < kViews; ++v) {
    if (!s.used[v]) continue;
    for (unsigned i = 0; i < kTlbSize; ++i) {
      TlbEntry& e = s.views[v][i];
      if (inside(e.tag_read) || inside(e.tag_write) || inside(e.tag_exec)) e = kEmptyEntry;
    }
  }
}

void TranslationCache::invalidate_page(CpuState& cpu, uint64_t linear) {
  if (cpu.tlb_offset == 0) ensure_current(cpu);
  Space& s = spaces_[active_space_];
  drop_vpage(s, linear & kPageMask);
  for (uint64_t size : kLargeSizes) {
    auto it = s.large.find(large_key(linear, size));
    if (it == s.large.end()) continue;
    s.large.erase(it);
    drop_range(s, linear & ~(size - 1), size);
  }
  ++stats_.flush_page;
}

void TranslationCache::trace_page(CpuState& cpu, uint64_t pfn) {
  if (!cpu.memory->mark_table_page(pfn << kPageShift)) return;
  ++stats_.table_pages_traced;
  revoke_write(cpu, pfn << kPageShift);
}

void TranslationCache::note_walk(CpuState& cpu, uint64_t linear, const WalkResult& walk) {
  if (cpu.tlb_offset == 0) return;  // not active: nothing is filled into our tables
  ++stats_.fills_recorded;
  const uint64_t vpage = linear & kPageMask;
  Space& s = spaces_[active_space_];
  note_fill(s, vpage);
  if (walk.page_size > kPageSize) s.large[large_key(vpage, walk.page_size)] = true;
  if (s.shadow.size() >= kMaxShadow) {
    s.shadow.clear();
    ++stats_.shadow_resets;
  }
  s.shadow[vpage] = ShadowLeaf{walk.paddr & kPageMask, walk.rights.user, walk.rights.writable,
                               walk.rights.no_execute, walk.dirty};
  for (unsigned i = 0; i < walk.num_levels; ++i) {
    const WalkLevel& l = walk.levels[i];
    // PAE PDPTE registers are part of the address space's key, not read from memory.
    if (l.from_register) continue;
    const uint64_t pfn = l.entry_addr >> kPageShift;
    std::vector<Record>& list = rmap_[pfn];
    const bool first = list.empty();
    list.push_back(
        Record{l.entry_addr, vpage, s.gen, static_cast<uint8_t>(active_space_), l.entry_size});
    ++rmap_records_;
    if (first) trace_page(cpu, pfn);
  }
  if (rmap_records_ > prune_at_) prune(cpu);
}

void TranslationCache::note_fill(Space& s, uint64_t vpage) {
  if (s.filled_overflow) return;
  if (s.filled.size() < kMaxFilled)
    s.filled.push_back(static_cast<uint16_t>((vpage >> kPageShift) & (kTlbSize - 1)));
  else
    s.filled_overflow = true;
}

bool TranslationCache::shadow_lookup(uint64_t linear, ShadowLeaf* out) {
  const Space& s = spaces_[active_space_];
  auto it = s.shadow.find(linear & kPageMask);
  if (it == s.shadow.end()) {
    ++stats_.hidden_faults;
    return false;
  }
  *out = it->second;
  return true;
}

void TranslationCache::note_shadow_hit(uint64_t linear) {
  ++stats_.shadow_hits;
  note_fill(spaces_[active_space_], linear & kPageMask);
}

bool TranslationCache::record_alive(const Record& r) const {
  const Space& s = spaces_[r.space];
  if (!s.valid || s.gen != r.gen) return false;
  // A translation in the shadow map depends on the record as much as a TLB entry does.
  if (s.shadow.count(r.vpage)) return true;
  const unsigned idx = (r.vpage >> kPageShift) & (kTlbSize - 1);
  for (unsigned v = 0; v < kViews; ++v)
    if (s.used[v] && entry_maps(s.views[v][idx], r.vpage)) return true;
  return false;
}

void TranslationCache::on_table_write(CpuState& cpu, uint64_t paddr, unsigned size,
                                      uint64_t value) {
  ++stats_.tracing_writes;
  GuestMemory& mem = *cpu.memory;
  const uint64_t mask = size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
  const uint64_t diff = (mem.read_phys(paddr, size) ^ value) & mask;
  if (diff == 0) {
    ++stats_.tracing_writes_no_change;
    return;
  }
  // The bytes that change: [first, last].
  const uint64_t first = paddr + static_cast<unsigned>(__builtin_ctzll(diff)) / 8;
  const uint64_t last = paddr + (63 - static_cast<unsigned>(__builtin_clzll(diff))) / 8;
  bool zapped = false;
  for (uint64_t pfn = first >> kPageShift; pfn <= (last >> kPageShift); ++pfn) {
    auto it = rmap_.find(pfn);
    if (it == rmap_.end()) continue;
    std::vector<Record>& list = it->second;
    for (size_t i = 0; i < list.size();) {
      const Record& r = list[i];
      if (r.entry_paddr <= last && first < r.entry_paddr + r.entry_size) {
        Space& s = spaces_[r.space];
        if (s.valid && s.gen == r.gen) {
          drop_vpage(s, r.vpage);
          ++stats_.zaps;
          zapped = true;
        }
        list[i] = list.back();
        list.pop_back();
        --rmap_records_;
        continue;
      }
      ++i;
    }
    if (list.empty()) {
      rmap_.erase(it);
      mem.clear_table_page(pfn << kPageShift);
      ++stats_.table_pages_untraced;
    }
  }
  if (!zapped) ++stats_.tracing_writes_no_change;
}

void TranslationCache::revoke_write(CpuState& cpu, uint64_t page_paddr) {
  const uint8_t* host = cpu.memory->host_ptr(page_paddr & kPageMask);
  if (!host) return;
  auto revoke_in = [&](TlbEntry* t) {
    for (unsigned i = 0; i < kTlbSize; ++i) {
      TlbEntry& e = t[i];
      if (e.tag_write != kTlbInvalid &&
          reinterpret_cast<const uint8_t*>(e.tag_write + e.addend) == host) {
        e.tag_write = kTlbInvalid;
        ++stats_.write_revokes;
      }
    }
  };
  revoke_in(cpu.tlb);
  for (Space& s : spaces_) {
    if (!s.valid) continue;
    for (unsigned v = 0; v < kViews; ++v)
      if (s.used[v]) revoke_in(s.views[v].get());
  }
}

void TranslationCache::untrace_all(CpuState& cpu) {
  if (cpu.memory)
    for (const auto& [pfn, list] : rmap_) cpu.memory->clear_table_page(pfn << kPageShift);
  stats_.table_pages_untraced += rmap_.size();
  rmap_.clear();
  rmap_records_ = 0;
  prune_at_ = kPruneMin;
}

// Drops the records of translations no longer in any table (evicted by a conflicting fill,
// flushed, or of a dead address-space generation) and duplicates, and stops tracking pages no
// cached translation depends on any more. Live records are bounded by the tables' size times
// the walk depth, so the map stays bounded.
void TranslationCache::prune(CpuState& cpu) {
  ++stats_.rmap_prunes;
  rmap_records_ = 0;
  for (auto it = rmap_.begin(); it != rmap_.end();) {
    std::vector<Record>& list = it->second;
    std::erase_if(list, [&](const Record& r) { return !record_alive(r); });
    auto key = [](const Record& r) {
      return std::tie(r.entry_paddr, r.vpage, r.space, r.gen, r.entry_size);
    };
    std::sort(list.begin(), list.end(),
              [&](const Record& a, const Record& b) { return key(a) < key(b); });
    list.erase(std::unique(list.begin(), list.end(),
                           [&](const Record& a, const Record& b) { return key(a) == key(b); }),
               list.end());
    if (list.empty()) {
      cpu.memory->clear_table_page(it->first << kPageShift);
      ++stats_.table_pages_untraced;
      it = rmap_.erase(it);
      continue;
    }
    rmap_records_ += list.size();
    ++it;
  }
  prune_at_ = std::max(kPruneMin, 2 * rmap_records_);
}

std::vector<TranslationCache::SpaceInfo> TranslationCache::spaces() const {
  std::vector<SpaceInfo> out;
  for (unsigned i = 0; i < kSpaces; ++i) {
    const Space& s = spaces_[i];
    if (!s.valid) continue;
    SpaceInfo info{s.root, i == active_space_, 0, 0};
    for (unsigned v = 0; v < kViews; ++v) {
      if (!s.used[v]) continue;
      ++info.views;
      for (unsigned k = 0; k < kTlbSize; ++k) {
        const TlbEntry& e = s.views[v][k];
        if (e.tag_read != kTlbInvalid || e.tag_write != kTlbInvalid || e.tag_exec != kTlbInvalid)
          ++info.entries;
      }
    }
    out.push_back(info);
  }
  return out;
}

size_t TranslationCache::table_page_uses(uint64_t page_paddr) const {
  auto it = rmap_.find(page_paddr >> kPageShift);
  return it == rmap_.end() ? 0 : it->second.size();
}

}  // namespace umbra
