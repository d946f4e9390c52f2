// The translation cache behind the fast TLB (DESIGN.md section 4, docs/softmmu.md section 5):
// a few address spaces, each with one fast-TLB table per privilege view, kept coherent with the
// guest's page tables by write-tracking every guest page a cached translation was derived from.
//
// - Per-privilege views: a CPL or EFLAGS.AC change switches the active table (CpuState::
//   tlb_offset) instead of flushing.
// - Per address space: a CR3 load (and INVPCID of a context) switches to the address space of
//   the new root, keyed by CR3's table address and, under PAE paging, the four PDPTE registers.
//   Its tables are reused as they are: no flush, no refill. A few spaces are kept, least
//   recently used evicted.
// - Write tracing: every fill records, per paging-structure entry the walk used, (entry address,
//   address space, linear page) in a reverse map keyed by the guest physical page of the entry.
//   That page is marked as a page-table page in GuestMemory, so the fast TLB never grants direct
//   writes to it (as for code pages); a guest write to it reaches the slow path, which calls
//   on_table_write(): if the written bytes change an entry, exactly the TLB entries derived from
//   that entry are dropped, in every address space and view.
// - Shadow page tables (shadow_tables.h) behind the fast TLB: one per guest paging-structure page
//   and role, shared by every address space that reaches the page (the kernel half), filled from
//   guest walks and zapped entry by entry by the same tracing. A fast-TLB miss walks them first;
//   only a miss there (a hidden fault) walks the guest's tables.
//
// Because every cached translation is dropped as soon as an entry it was derived from changes,
// the cache never holds a translation the guest's tables no longer give. That is stronger than
// the SDM requires of a TLB (vol. 3, 4.10.4.3), so CR3 loads, PCID switches and INVPCID of a
// context need no flush to be correct. Changes of CR0/CR4/EFER and the A20 gate still flush
// everything (flush_all()).
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "frontend/cpu_state.h"
#include "softmmu/shadow_tables.h"

namespace umbra {

struct TranslationCacheStats {
  uint64_t view_switches = 0;         // privilege-view changes served by switching tables
  uint64_t cr3_loads = 0;             // address-space changes (MOV CR3, task switch, INVPCID)
  uint64_t roots_reused = 0;          // ... that found the new root cached
  uint64_t roots_created = 0;         // ... that started an empty address space
  uint64_t roots_evicted = 0;         // address spaces dropped (least recently used)
  uint64_t fills_recorded = 0;        // successful walks recorded in the reverse map
  uint64_t table_pages_traced = 0;    // guest pages that became write-tracked page tables
  uint64_t table_pages_untraced = 0;  // ... and stopped being tracked (no translation uses them)
  uint64_t tracing_writes = 0;        // guest writes that hit a tracked page-table page
  uint64_t tracing_writes_no_change = 0;  // ... that changed no entry a translation came from
  uint64_t zaps = 0;                      // TLB entries dropped by tracing writes
  uint64_t write_revokes = 0;             // TLB write grants revoked when a page became tracked
  uint64_t flush_all = 0;                 // full flushes (CR0/CR4/EFER, A20, reset, task switch)
  uint64_t flush_page = 0;                // INVLPG / INVPCID individual address
  uint64_t rmap_prunes = 0;               // reverse-map garbage collections
  uint64_t shadow_hits = 0;     // fast-TLB misses served by the shadow tables (no guest walk)
  uint64_t hidden_faults = 0;   // fast-TLB misses the shadow tables could not serve: guest walks
  uint64_t flood_untraced = 0;  // pages untraced after write flooding destroyed their tables
  uint64_t table_grows = 0;     // an address space's tables made bigger (capacity misses)
  // The shadow tables' own counters (created, shared links, zaps by cause, resets) are in
  // ShadowTableStats: TranslationCache::shadow_stats().
};

class TranslationCache {
 public:
  static constexpr unsigned kSpaces = 16;  // address spaces kept (docs/bench.md: measured)
  static constexpr unsigned kViews = 4;    // tlb_privilege_view() values

  TranslationCache();
  ~TranslationCache();
  TranslationCache(const TranslationCache&) = delete;
  TranslationCache& operator=(const TranslationCache&) = delete;

  // Drops every cached translation and every trace, then activates the address space and view
  // of the CPU's current state.
  void flush_all(CpuState& cpu);
  // The CPU's CR3 (or PDPTEs) changed: activate the address space of the new root, reusing it
  // when cached.
  void load_address_space(CpuState& cpu);
  // The CPU's privilege view (tlb_privilege_view) may have changed: activate its table.
  void select_view(CpuState& cpu);
  // Drops the current address space's entries (every view) whose linear page lies in
  // [base, base + size).
  void flush_range(CpuState& cpu, uint64_t base, uint64_t size);
  // INVLPG / INVPCID type 0: drops the translations of the page containing `linear`, whatever
  // its size: the 4-KiB piece, and the whole large page when a translation from a large page
  // containing `linear` was filled (so INVLPG of a 4-KiB page costs no table scan).
  void invalidate_page(CpuState& cpu, uint64_t linear);
  // Makes sure the active table belongs to the CPU's current root and view (slow-path check).
  void ensure_current(CpuState& cpu);

  // A successful walk of `linear` by an explicit access that may fill the active table: records
  // the entries it used (write tracing) and caches them in the shadow tables.
  void note_walk(CpuState& cpu, uint64_t linear, const WalkResult& walk);

  // The shadow page tables (shadow_tables.h) behind the fast TLB: a shadow walk of `linear`
  // from the active address space's root. A cached leaf whose rights allow `intent` (and that is
  // not clean for a write) is a shadow hit: `out` gets the translation (paddr, rights, dirty), the
  // TLB fill is recorded for write tracing, and no guest walk or A/D update is needed (A is set
  // in every cached entry; a guest write clearing it is traced and zaps the entry). Otherwise a
  // hidden fault is counted and false returned: the caller walks the guest tables.
  bool shadow_translate(CpuState& cpu, uint64_t linear, AccessIntent intent, WalkResult* out);
  // A guest write of `size` bytes of `value` at `paddr` on a tracked page-table page, called
  // BEFORE the write lands: drops every translation derived from an entry the write changes.
  void on_table_write(CpuState& cpu, uint64_t paddr, unsigned size, uint64_t value);
  // The fill just made grants direct writes to the host page `host` (access.cpp
  // translate_and_fill): recorded for revoke_write.
  void note_write_grant(const CpuState& cpu, const uint8_t* host);
  // Revokes every cached direct-write grant to the physical page (it became write-tracked).
  void revoke_write(CpuState& cpu, uint64_t page_paddr);

  // ---- introspection (softmmu/mmu_introspect.cpp) ----
  const TranslationCacheStats& stats() const { return stats_; }
  struct SpaceInfo {
    uint64_t root;
    bool active;
    unsigned entries;        // valid TLB entries over every view
    unsigned views;          // views with a table
    unsigned table_entries;  // the size of each of its tables
  };
  std::vector<SpaceInfo> spaces() const;
  // Whether the guest physical page is traced, and how many recorded translations use it.
  size_t table_page_uses(uint64_t page_paddr) const;
  size_t rmap_records() const { return rmap_records_; }
  const ShadowTableStats& shadow_stats() const { return shadow_.stats(); }
  size_t shadow_tables_live() const { return shadow_.live(); }
  const ShadowTables& shadow_tables() const { return shadow_; }
  ShadowTables& shadow_tables() { return shadow_; }
  // The shadow path of `linear` in the active address space (monitor `walk`), side-effect free
  // apart from the flooding counts of the tables passed.
  ShadowPath shadow_path(const CpuState& cpu, uint64_t linear);

 private:
  struct Space {
    bool valid = false;
    uint64_t root = 0;       // CR3 table address (paging off: kNoPaging)
    uint64_t pdpte[4] = {};  // PAE PDPTE registers (PAE paging only)
    bool pae = false;
    uint32_t gen = 1;  // bumped on every flush: reverse-map records of older gens die
    uint64_t last_use = 0;
    std::unique_ptr<TlbEntry[]> views[kViews];
    bool used[kViews] = {};    // the table may hold valid entries
    unsigned bits = kTlbBits;  // every view's table has 2^bits entries
    // Fills that evicted another page's entry since the window began at guest instruction
    // window_start (the growth policy, translation_cache.cpp note_fill()).
    uint64_t evictions = 0;
    uint64_t window_start = 0;
    // The host pages its tables may grant writes to (a bitmap of 2 bits per entry, hashed by
    // page: set by note_write_grant, rebuilt from the tables after every table's worth of
    // grants, cleared when they are emptied), so that revoking the write grants to a page scans
    // only the tables that may hold one (revoke_write).
    std::vector<uint64_t> pages_filter;
    size_t filter_fills = 0;  // grants since the filter was last rebuilt or cleared
    // Table indices filled since the last reset (walks recorded by note_walk), so an eviction
    // clears a few entries instead of whole tables; `filled_overflow`: too many, or fills that
    // are not recorded (paging off), clear everything.
    std::vector<uint16_t> filled;
    bool filled_overflow = false;
    PagingMode mode = PagingMode::kNone;  // paging mode at creation (a change flushes)
    ShadowRoots roots;                    // its root shadow tables (revalidated by epoch)
    // Linear pages whose reverse-map records (5.2) are complete and current in this space: a
    // shadow hit on one adds no records (they would duplicate), and its records stay alive while
    // no TLB entry holds the page. Dropped with the page (tracing write, INVLPG, eviction).
    std::unordered_set<uint64_t> recorded;
    // Large pages translations were filled from: region base | size code (1: 2 MiB, 2: 4 MiB,
    // 3: 1 GiB), so INVLPG knows when it must drop a whole region.
    std::unordered_map<uint64_t, bool> large;
  };
  // One translation's dependence on one paging-structure entry.
  struct Record {
    uint64_t entry_paddr;
    uint64_t vpage;
    uint32_t gen;
    uint8_t space;
    uint8_t entry_size;
  };

  static uint64_t root_of(const CpuState& cpu);
  bool matches(const Space& s, const CpuState& cpu) const;
  void activate(CpuState& cpu, unsigned space, unsigned view);
  void reset_space(Space& s);
  void drop_vpage(Space& s, uint64_t vpage);
  void drop_range(Space& s, uint64_t base, uint64_t size);
  void note_fill(CpuState& cpu, Space& s, uint64_t vpage);
  static size_t filter_bit(const Space& s, const uint8_t* host) {
    const uint64_t page = reinterpret_cast<uintptr_t>(host) >> kPageShift;
    return static_cast<size_t>((page * 0x9E3779B97F4A7C15ull) >> (63 - s.bits));
  }
  bool may_grant_write(const Space& s, const uint8_t* host) const;
  static void set_filter(Space& s, const uint8_t* host);
  void rebuild_filter(Space& s);
  static void clear_filter(Space& s) {
    s.pages_filter.assign(entries(s) * 2 / 64, 0);
    s.filter_fills = 0;
  }
  void grow(CpuState& cpu, Space& s);
  static size_t entries(const Space& s) { return size_t{1} << s.bits; }
  static unsigned index_of(const Space& s, uint64_t vpage) {
    return static_cast<unsigned>(vpage >> kPageShift) & ((1u << s.bits) - 1);
  }
  bool record_alive(const Record& r) const;
  void trace_page(CpuState& cpu, uint64_t pfn);
  void untrace_all(CpuState& cpu);
  void prune(CpuState& cpu);
  void record(Space& s, uint64_t vpage, uint64_t entry_paddr, uint8_t entry_size);
  ShadowRoots& current_roots(Space& s);
  void keep_bounded();
  void note_recorded(Space& s, uint64_t vpage);
  void page_released(uint64_t pfn);
  void untrace_flooded(CpuState& cpu, uint64_t pfn);

  Space spaces_[kSpaces];
  unsigned active_space_ = 0;
  unsigned active_view_ = 0;
  // What ensure_current last found current: while the registers that choose the address space
  // and the active space's generation are unchanged, it still is (no matches() per TLB miss).
  struct CurrentKey {
    uint64_t cr0 = ~uint64_t{0}, cr3 = 0, cr4 = 0, efer = 0, pdpte[4] = {};
    uint64_t gen = 0;
    int64_t tlb_offset = 0;
    unsigned space = ~0u;
  } current_;
  uint64_t clock_ = 0;
  std::unordered_map<uint64_t, std::vector<Record>> rmap_;  // page-table pfn -> records
  size_t rmap_records_ = 0;
  size_t prune_at_ = kPruneMin;
  static constexpr size_t kPruneMin = size_t{1} << 16;
  TranslationCacheStats stats_;
  ShadowTables shadow_;
  CpuState* hook_cpu_ = nullptr;  // the CPU of the call in progress (shadow-table hooks)
};

}  // namespace umbra
