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
// Table sizes (docs/softmmu.md "Table size"): every table starts at kTlbSize entries; an address
// space whose capacity misses cost time grows its tables by kGrowBits at a time up to
// 2^kMaxTlbBits entries (2 MiB a table), and a reset returns it to the smallest size.
constexpr unsigned kMaxTlbBits = 16;
constexpr unsigned kGrowBits = 2;
static_assert(kMaxTlbBits <= 16, "Space::filled holds 16-bit indices");
// A table grows when a table's worth of fills that evicted another page's entry came within
// fewer than this many guest instructions per eviction: a miss rate at which the misses (a shadow
// walk each, some hundreds of nanoseconds) cost more than the guest's own work. Measured: the
// paged sieve of bench/jit_bench.sh evicts once per ~40 instructions and grows its table to the
// maximum; the Linux boot test grows 9 to 69 tables in all and takes the same time as with
// fixed 1,024-entry tables.
constexpr uint64_t kGrowInsnsPerEviction = 256;
// Linear pages per address space whose records are kept alive without a TLB entry (bounds the
// reverse map: beyond it the set is emptied and the records die at the next garbage collection).
constexpr size_t kMaxRecorded = size_t{1} << 16;

bool entry_maps(const TlbEntry& e, uint64_t vpage) {
  return e.tag_read == vpage || e.tag_write == vpage || e.tag_exec == vpage;
}

void clear_table(TlbEntry* t, size_t entries) {
  std::fill(t, t + entries, kEmptyEntry);
}

bool entry_valid(const TlbEntry& e) {
  return e.tag_read != kTlbInvalid || e.tag_write != kTlbInvalid || e.tag_exec != kTlbInvalid;
}

constexpr uint64_t kLargeSizes[] = {uint64_t{1} << 21, uint64_t{1} << 22, uint64_t{1} << 30};

// The key of a large page in Space::large: its base (aligned to at least 2 MiB) | a size code.
uint64_t large_key(uint64_t base, uint64_t size) {
  const uint64_t code = size == kLargeSizes[0] ? 1 : size == kLargeSizes[1] ? 2 : 3;
  return (base & ~(size - 1)) | code;
}

}  // namespace

TranslationCache::TranslationCache()
    : shadow_(ShadowTables::Hooks{[this](uint64_t pfn) {
                                    return hook_cpu_ && hook_cpu_->memory &&
                                           hook_cpu_->memory->host_ptr(pfn << kPageShift) !=
                                               nullptr;
                                  },
                                  [this](uint64_t pfn) {
                                    if (hook_cpu_) trace_page(*hook_cpu_, pfn);
                                  },
                                  [this](uint64_t pfn) { page_released(pfn); }}) {}
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
  s.evictions = 0;
  if (s.bits != kTlbBits) {
    // A grown table goes: the space's next tenant starts at the smallest size.
    s.bits = kTlbBits;
    for (unsigned v = 0; v < kViews; ++v) s.views[v].reset();
    s.filled_overflow = true;  // nothing left to clear
  }
  for (unsigned v = 0; v < kViews; ++v) {
    if (s.used[v] && s.views[v]) {
      if (s.filled_overflow || s.root == kNoPaging) {
        clear_table(s.views[v].get(), entries(s));
      } else {
        for (uint16_t idx : s.filled) s.views[v][idx] = kEmptyEntry;
      }
    }
    s.used[v] = false;
  }
  s.filled.clear();
  s.filled_overflow = false;
  clear_filter(s);
  s.roots = ShadowRoots{};
  s.recorded.clear();
  s.large.clear();
}

void TranslationCache::activate(CpuState& cpu, unsigned space, unsigned view) {
  Space& s = spaces_[space];
  if (!s.views[view]) {
    s.views[view] = std::make_unique<TlbEntry[]>(entries(s));
    clear_table(s.views[view].get(), entries(s));
  }
  // The table may be filled from now on (translate_and_fill writes the active table).
  s.used[view] = true;
  s.last_use = ++clock_;
  active_space_ = space;
  active_view_ = view;
  cpu.tlb_offset = static_cast<int64_t>(reinterpret_cast<uintptr_t>(s.views[view].get()) -
                                        reinterpret_cast<uintptr_t>(cpu.tlb));
  cpu.tlb_mask = tlb_mask_for_bits(s.bits);
}

void TranslationCache::grow(CpuState& cpu, Space& s) {
  ++stats_.table_grows;
  s.bits = std::min(s.bits + kGrowBits, kMaxTlbBits);
  // The space's tables start again empty at the new size (their entries refill from the shadow
  // tables; the reverse-map records of the dropped ones die at the next garbage collection).
  for (unsigned v = 0; v < kViews; ++v) {
    s.views[v].reset();
    s.used[v] = false;
  }
  s.filled.clear();
  s.filled_overflow = false;
  clear_filter(s);
  activate(cpu, static_cast<unsigned>(&s - spaces_), active_view_);
  current_.tlb_offset = cpu.tlb_offset;
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
  s.mode = paging_mode(cpu);
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
  const Space& active = spaces_[active_space_];
  const CurrentKey& k = current_;
  const bool same =
      cpu.tlb_offset != 0 && cpu.tlb_offset == k.tlb_offset && active_space_ == k.space &&
      active.valid && active.gen == k.gen && cpu.cr3 == k.cr3 && cpu.cr0 == k.cr0 &&
      cpu.cr4 == k.cr4 && cpu.efer == k.efer && cpu.pdpte[0] == k.pdpte[0] &&
      cpu.pdpte[1] == k.pdpte[1] && cpu.pdpte[2] == k.pdpte[2] && cpu.pdpte[3] == k.pdpte[3];
  if (!same) {
    if (cpu.tlb_offset == 0 || !matches(active, cpu)) {
      load_address_space(cpu);
    } else if (tlb_privilege_view(cpu) != active_view_) {
      select_view(cpu);
    }
  } else if (tlb_privilege_view(cpu) != active_view_) {
    select_view(cpu);
  } else {
    return;  // the common case on a TLB miss: nothing changed
  }
  // matches() depends only on the registers below and the space (its root is fixed for a
  // generation).
  const Space& now = spaces_[active_space_];
  current_ = CurrentKey{cpu.cr0,
                        cpu.cr3,
                        cpu.cr4,
                        cpu.efer,
                        {cpu.pdpte[0], cpu.pdpte[1], cpu.pdpte[2], cpu.pdpte[3]},
                        now.gen,
                        cpu.tlb_offset,
                        active_space_};
  if (!now.valid) current_.space = ~0u;
}

void TranslationCache::flush_all(CpuState& cpu) {
  ++stats_.flush_all;
  hook_cpu_ = &cpu;
  shadow_.clear();
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
  s.recorded.erase(vpage);
  const unsigned idx = index_of(s, vpage);
  for (unsigned v = 0; v < kViews; ++v) {
    if (!s.used[v]) continue;
    TlbEntry& e = s.views[v][idx];
    if (entry_maps(e, vpage)) e = kEmptyEntry;
  }
}

void TranslationCache::flush_range(CpuState& cpu, uint64_t base, uint64_t size) {
  ++stats_.flush_page;
  if (cpu.tlb_offset == 0) ensure_current(cpu);
  Space& s = spaces_[active_space_];
  drop_range(s, base, size);
  if (s.root == kNoPaging) return;
  const bool pse = cpu.cr4 & cr4::PSE;
  for (uint64_t a = base & kPageMask; a - base < size; a += kPageSize)
    shadow_.invalidate_leaf(current_roots(s), s.mode, pse, a);
}

void TranslationCache::drop_range(Space& s, uint64_t base, uint64_t size) {
  if (size == kPageSize) {
    drop_vpage(s, base & kPageMask);
    return;
  }
  std::erase_if(s.recorded, [&](uint64_t vpage) { return vpage - base < size; });
  auto inside = [&](uint64_t tag) { return tag != kTlbInvalid && tag - base < size; };
  auto drop_inside = [&](TlbEntry& e) {
    if (inside(e.tag_read) || inside(e.tag_write) || inside(e.tag_exec)) e = kEmptyEntry;
  };
  const uint64_t first = base & kPageMask;
  const uint64_t pages = (base + size - first + kPageSize - 1) >> kPageShift;
  for (unsigned v = 0; v < kViews; ++v) {
    if (!s.used[v]) continue;
    if (pages < entries(s)) {
      // Fewer pages than entries (a 2-MiB page in a grown table): look at their entries only.
      for (uint64_t i = 0; i < pages; ++i)
        drop_inside(s.views[v][index_of(s, first + (i << kPageShift))]);
    } else {
      for (size_t i = 0; i < entries(s); ++i) drop_inside(s.views[v][i]);
    }
  }
}

void TranslationCache::invalidate_page(CpuState& cpu, uint64_t linear) {
  if (cpu.tlb_offset == 0) ensure_current(cpu);
  Space& s = spaces_[active_space_];
  drop_vpage(s, linear & kPageMask);
  // The cached leaf on the path (whatever its page size) goes too.
  if (s.root != kNoPaging)
    shadow_.invalidate_leaf(current_roots(s), s.mode, (cpu.cr4 & cr4::PSE) != 0, linear);
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
  hook_cpu_ = &cpu;
  const uint64_t vpage = linear & kPageMask;
  Space& s = spaces_[active_space_];
  note_fill(cpu, s, vpage);
  if (walk.page_size > kPageSize) s.large[large_key(vpage, walk.page_size)] = true;
  for (unsigned i = 0; i < walk.num_levels; ++i) {
    const WalkLevel& l = walk.levels[i];
    // PAE PDPTE registers are part of the address space's key, not read from memory.
    if (l.from_register) continue;
    record(s, vpage, l.entry_addr, l.entry_size);
  }
  note_recorded(s, vpage);
  if (s.root != kNoPaging) {
    keep_bounded();
    shadow_.fill(current_roots(s), walk);
  }
  if (rmap_records_ > prune_at_) prune(cpu);
}

void TranslationCache::record(Space& s, uint64_t vpage, uint64_t entry_paddr, uint8_t entry_size) {
  const uint64_t pfn = entry_paddr >> kPageShift;
  std::vector<Record>& list = rmap_[pfn];
  const bool first = list.empty();
  list.push_back(Record{entry_paddr, vpage, s.gen, static_cast<uint8_t>(&s - spaces_), entry_size});
  ++rmap_records_;
  if (first && hook_cpu_) trace_page(*hook_cpu_, pfn);
}

void TranslationCache::keep_bounded() {
  if (shadow_.live() < ShadowTables::kMaxTables) return;
  // Keep the roots of the cached address spaces; reclaim what nothing links to.
  std::vector<const ShadowTable*> pinned;
  for (Space& other : spaces_) {
    if (!other.valid || other.root == kNoPaging) continue;
    for (const ShadowTable* t : current_roots(other).table)
      if (t) pinned.push_back(t);
  }
  shadow_.enforce_bound(pinned);
}

void TranslationCache::note_recorded(Space& s, uint64_t vpage) {
  if (s.recorded.size() >= kMaxRecorded) s.recorded.clear();
  s.recorded.insert(vpage);
}

ShadowRoots& TranslationCache::current_roots(Space& s) {
  shadow_.refresh_roots(s.roots, s.mode, s.root, s.pdpte);
  return s.roots;
}

void TranslationCache::page_released(uint64_t pfn) {
  // The page's last shadow table is gone; it stays traced while TLB entries depend on it.
  if (rmap_.count(pfn) || !hook_cpu_ || !hook_cpu_->memory) return;
  if (!hook_cpu_->memory->is_table_page(pfn << kPageShift)) return;
  hook_cpu_->memory->clear_table_page(pfn << kPageShift);
  ++stats_.table_pages_untraced;
}

void TranslationCache::untrace_flooded(CpuState& cpu, uint64_t pfn) {
  // Write flooding destroyed the page's tables: it is data now. Drop the TLB entries recorded
  // on it so it can stop being traced and the guest's writes to it are fast again.
  auto it = rmap_.find(pfn);
  if (it != rmap_.end()) {
    for (const Record& r : it->second) {
      Space& s = spaces_[r.space];
      if (s.valid && s.gen == r.gen) {
        drop_vpage(s, r.vpage);
        ++stats_.zaps;
      }
    }
    rmap_records_ -= it->second.size();
    rmap_.erase(it);
  }
  if (cpu.memory->is_table_page(pfn << kPageShift)) {
    cpu.memory->clear_table_page(pfn << kPageShift);
    ++stats_.table_pages_untraced;
  }
  ++stats_.flood_untraced;
}

bool TranslationCache::may_grant_write(const Space& s, const uint8_t* host) const {
  if (s.pages_filter.empty()) return true;
  const size_t bit = filter_bit(s, host);
  return (s.pages_filter[bit / 64] >> (bit % 64)) & 1;
}

void TranslationCache::set_filter(Space& s, const uint8_t* host) {
  const size_t bit = filter_bit(s, host);
  s.pages_filter[bit / 64] |= uint64_t{1} << (bit % 64);
}

void TranslationCache::rebuild_filter(Space& s) {
  clear_filter(s);
  for (unsigned v = 0; v < kViews; ++v) {
    if (!s.used[v] || !s.views[v]) continue;
    const TlbEntry* t = s.views[v].get();
    for (size_t i = 0; i < entries(s); ++i)
      if (t[i].tag_write != kTlbInvalid)
        set_filter(s, reinterpret_cast<const uint8_t*>(t[i].tag_write + t[i].addend));
  }
}

void TranslationCache::note_write_grant(const CpuState& cpu, const uint8_t* host) {
  if (cpu.tlb_offset == 0) return;  // the inline table: always scanned while active
  Space& s = spaces_[active_space_];
  // The bitmap only gains bits as grants replace each other, so after a table's worth of them it
  // is rebuilt from the grants the tables hold (this one included: the entry is filled).
  if (++s.filter_fills > entries(s)) rebuild_filter(s);
  set_filter(s, host);
}

void TranslationCache::note_fill(CpuState& cpu, Space& s, uint64_t vpage) {
  // The fill about to happen replaces the active table's entry at the page's index: if that
  // entry maps another page, it is a capacity (or conflict) miss, counted towards growing.
  if (const TlbEntry* table = s.views[active_view_].get()) {
    const TlbEntry& e = table[index_of(s, vpage)];
    if (entry_valid(e) && !entry_maps(e, vpage)) {
      if (s.evictions++ == 0) s.window_start = cpu.insn_count;
      if (s.evictions >= entries(s)) {
        const bool costly = cpu.insn_count - s.window_start < entries(s) * kGrowInsnsPerEviction;
        s.evictions = 0;
        if (costly && s.bits < kMaxTlbBits) grow(cpu, s);
      }
    }
  }
  if (s.filled_overflow) return;
  if (s.filled.size() < entries(s) / 4)
    s.filled.push_back(static_cast<uint16_t>(index_of(s, vpage)));
  else
    s.filled_overflow = true;
}

bool TranslationCache::shadow_translate(CpuState& cpu, uint64_t linear, AccessIntent intent,
                                        WalkResult* out) {
  Space& s = spaces_[active_space_];
  ShadowPath path;
  if (s.root != kNoPaging && cpu.tlb_offset != 0) {
    hook_cpu_ = &cpu;
    keep_bounded();
    const PagingFeatures f = paging_features(cpu);
    const ShadowGuestLink link{cpu.memory, std::clamp<unsigned>(f.maxphyaddr, 36, 52),
                               (cpu.efer & efer::NXE) != 0, s.root, s.pdpte};
    shadow_.lookup_linking(current_roots(s), s.mode, (cpu.cr4 & cr4::PSE) != 0, linear, link,
                           &path);
  }
  // Usable when the access is allowed under the current privilege and controls and needs no
  // A/D update: A is set in every cached entry; D matters for a write (SDM vol. 3, 4.8). Entries
  // linked from guest memory on the way get their A bit now, as a guest walk would set it.
  if (!path.leaf ||
      check_access_rights(paging_controls(cpu), path.rights, intent) != WalkStatus::kOk ||
      (intent.access == Access::Write && !path.dirty) ||
      !shadow_.commit_links(&path, *cpu.memory)) {
    ++stats_.hidden_faults;
    return false;
  }
  ++stats_.shadow_hits;
  const uint64_t vpage = linear & kPageMask;
  note_fill(cpu, s, vpage);
  if (path.page_size > kPageSize) s.large[large_key(vpage, path.page_size)] = true;
  // The TLB fill that follows depends on every entry of the path, in this address space. If
  // the page's records are current (no entry of its path changed since they were made: that
  // would have dropped the page from `recorded`), they already cover this path.
  hook_cpu_ = &cpu;
  if (!s.recorded.count(vpage)) {
    for (unsigned i = 0; i < path.depth; ++i) {
      const ShadowTable* t = path.table[i];
      record(s, vpage, t->entry_paddr(path.index[i]), t->entry_size);
    }
    note_recorded(s, vpage);
  }
  *out = WalkResult{};
  out->mode = s.mode;
  out->paddr = path.paddr;
  out->page_size = path.page_size;
  out->rights = path.rights;
  out->dirty = path.dirty;
  if (rmap_records_ > prune_at_) prune(cpu);
  return true;
}

ShadowPath TranslationCache::shadow_path(const CpuState& cpu, uint64_t linear) {
  ShadowPath path;
  Space& s = spaces_[active_space_];
  if (s.valid && s.root != kNoPaging && cpu.tlb_offset != 0)
    shadow_.lookup(current_roots(s), s.mode, (cpu.cr4 & cr4::PSE) != 0, linear, &path, false);
  return path;
}

bool TranslationCache::record_alive(const Record& r) const {
  const Space& s = spaces_[r.space];
  if (!s.valid || s.gen != r.gen) return false;
  if (s.recorded.count(r.vpage)) return true;
  const unsigned idx = index_of(s, r.vpage);
  for (unsigned v = 0; v < kViews; ++v)
    if (s.used[v] && entry_maps(s.views[v][idx], r.vpage)) return true;
  return false;
}

void TranslationCache::on_table_write(CpuState& cpu, uint64_t paddr, unsigned size,
                                      uint64_t value) {
  ++stats_.tracing_writes;
  hook_cpu_ = &cpu;
  GuestMemory& mem = *cpu.memory;
  const uint64_t mask = size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
  const uint64_t diff = (mem.read_phys(paddr, size) ^ value) & mask;
  const uint64_t shadow_zaps = shadow_.stats().entries_zapped;
  bool zapped = false;
  // The bytes that change: [first, last].
  uint64_t first = 0, last = 0;
  if (diff != 0) {
    first = paddr + static_cast<unsigned>(__builtin_ctzll(diff)) / 8;
    last = paddr + (63 - static_cast<unsigned>(__builtin_clzll(diff))) / 8;
  }
  for (uint64_t pfn = paddr >> kPageShift; pfn <= ((paddr + size - 1) >> kPageShift); ++pfn) {
    const bool changed = diff != 0 && pfn >= (first >> kPageShift) && pfn <= (last >> kPageShift);
    auto it = changed ? rmap_.find(pfn) : rmap_.end();
    if (it != rmap_.end()) {
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
        if (!shadow_.has_tables(pfn)) {
          mem.clear_table_page(pfn << kPageShift);
          ++stats_.table_pages_untraced;
        }
      }
    }
    // The page's shadow tables, every role: drop the changed entries; count the write towards
    // write flooding (a page table reused as data).
    if (shadow_.on_write(pfn, first, last, changed) && !shadow_.has_tables(pfn))
      untrace_flooded(cpu, pfn);
  }
  if (!zapped && shadow_.stats().entries_zapped == shadow_zaps) ++stats_.tracing_writes_no_change;
}

void TranslationCache::revoke_write(CpuState& cpu, uint64_t page_paddr) {
  const uint8_t* host = cpu.memory->host_ptr(page_paddr & kPageMask);
  if (!host) return;
  auto revoke_in = [&](TlbEntry* t, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      TlbEntry& e = t[i];
      if (e.tag_write != kTlbInvalid &&
          reinterpret_cast<const uint8_t*>(e.tag_write + e.addend) == host) {
        e.tag_write = kTlbInvalid;
        ++stats_.write_revokes;
      }
    }
  };
  // The inline table is filled only while it is the active one (no space activated yet); an
  // inactive one is never used again before flush_all() clears it.
  if (cpu.tlb_offset == 0) revoke_in(cpu.tlb, kTlbSize);
  for (Space& s : spaces_) {
    if (!s.valid || !may_grant_write(s, host)) continue;
    for (unsigned v = 0; v < kViews; ++v)
      if (s.used[v]) revoke_in(s.views[v].get(), entries(s));
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
      if (!shadow_.has_tables(it->first)) {
        cpu.memory->clear_table_page(it->first << kPageShift);
        ++stats_.table_pages_untraced;
      }
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
    SpaceInfo info{s.root, i == active_space_, 0, 0, static_cast<unsigned>(entries(s))};
    for (unsigned v = 0; v < kViews; ++v) {
      if (!s.used[v]) continue;
      ++info.views;
      for (size_t k = 0; k < entries(s); ++k)
        if (entry_valid(s.views[v][k])) ++info.entries;
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
