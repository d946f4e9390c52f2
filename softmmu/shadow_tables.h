// Shadow page tables (DESIGN.md section 4, docs/softmmu.md section 5.6): one shadow table per
// guest paging-structure page and role, shared by every address space whose walks reach that
// page, so the kernel half of every process has one set of shadows.
//
// - Role = (paging mode, level). Rights are not part of the role: U/S, R/W and XD are combined
//   while descending, as the guest walker does (SDM vol. 3, 4.6), so one guest page in one role
//   is one shadow table whatever the path that reached it.
// - Entry i of a shadow table caches guest entry i: the value the guest walk read with A set
//   (the walker set it in memory too), 0 = not cached. A non-leaf entry also points to the shadow
//   table of the page it references (found or created by key when linking, so two roots whose
//   entries reference one table share one shadow of it and everything below).
// - Coherence: the owner (TranslationCache) write-tracks every guest page holding a shadow table
//   and calls zap_written() before a traced write lands. Entries whose bytes change are dropped
//   in every role (and their child links cut; the child stays cached by key).
// - Lifetime: a table written kFloodWrites times with no shadow walk through it in between is
//   a page reused as data ("write flooding") and is destroyed; unlinked tables are reclaimed when
//   the total reaches kMaxTables, and if that is not enough every table is dropped.
// Under PAE paging the root is the four PDPTE registers, not a table: an address space has up to
// four root tables (page directories).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "softmmu/guest_memory.h"
#include "softmmu/page_walk.h"

namespace umbra {

// (paging mode, level) in one byte: mode << 3 | level.
using ShadowRole = uint8_t;
constexpr ShadowRole shadow_role(PagingMode mode, unsigned level) {
  return static_cast<ShadowRole>(static_cast<unsigned>(mode) << 3 | level);
}
constexpr PagingMode shadow_role_mode(ShadowRole role) {
  return static_cast<PagingMode>(role >> 3);
}
constexpr unsigned shadow_role_level(ShadowRole role) {
  return role & 7;
}

struct ShadowTable {
  struct Link {
    ShadowTable* parent;
    uint16_t index;
  };
  uint64_t pfn = 0;  // guest physical page of the paging structure
  ShadowRole role = 0;
  uint8_t entry_size = 8;  // 4 (32-bit paging) or 8 bytes
  uint16_t entries = 512;  // 1024 (32-bit paging) or 512
  // Traced writes to the page since the last shadow walk through this table (write flooding).
  uint32_t writes_since_use = 0;
  std::unique_ptr<uint64_t[]> entry;      // cached guest entry (A set), 0 = not cached
  std::unique_ptr<ShadowTable*[]> child;  // shadow of the referenced table (levels > 1)
  std::vector<Link> parents;              // every (table, index) whose child is this table

  unsigned level() const { return shadow_role_level(role); }
  PagingMode mode() const { return shadow_role_mode(role); }
  uint64_t entry_paddr(unsigned index) const { return (pfn << 12) + uint64_t{index} * entry_size; }
};

// An address space's root tables: [0] for 32-bit/4-level/5-level paging, [0..3] per PDPTE
// register under PAE paging. Validated against ShadowTables::epoch() (bumped whenever a table is
// destroyed) so a CR3 load costs no hash lookup while nothing was destroyed.
struct ShadowRoots {
  ShadowTable* table[4] = {};
  uint64_t epoch = ~uint64_t{0};
};

// What a shadow walk found: the path (tables and indices, root first) and, when a leaf is cached,
// the translation and the rights combined over the path.
// Only the entries below `depth` (and the link fields where `fresh`) are meaningful: the arrays
// are left uninitialized because a path is built on every fast-TLB miss.
struct ShadowPath {
  unsigned depth = 0;
  ShadowTable* table[kMaxWalkLevels];
  uint16_t index[kMaxWalkLevels];
  // Entries read from guest memory by a linking lookup (not cached yet): their value as read and
  // the already-cached shadow table they reference. commit_links() caches them.
  uint64_t guest_entry[kMaxWalkLevels];
  ShadowTable* link_to[kMaxWalkLevels];
  bool fresh[kMaxWalkLevels] = {};
  bool leaf = false;  // the path ends in a cached leaf entry
  uint64_t paddr = 0;
  uint64_t page_size = 0;
  PageRights rights{true, true, false};
  bool dirty = false;
};

struct ShadowTableStats {
  uint64_t tables_created = 0;
  uint64_t shared_links = 0;     // links to a child that was already cached (found by key)
  uint64_t entries_cached = 0;   // guest entries written into shadow tables by fills
  uint64_t entries_zapped = 0;   // cached entries dropped by guest writes
  uint64_t entries_invlpg = 0;   // cached leaf entries dropped by INVLPG / INVPCID type 0
  uint64_t zapped_flood = 0;     // tables destroyed by write flooding (page reused as data)
  uint64_t zapped_unlinked = 0;  // unlinked tables reclaimed at the bound
  uint64_t zapped_reset = 0;     // tables destroyed by a reset at the bound
  uint64_t zapped_flush = 0;     // tables destroyed by full flushes (CR0/CR4/EFER, A20, reset)
  uint64_t resets = 0;           // resets at the bound
  uint64_t not_ram = 0;          // fills that stopped at a paging structure outside RAM
};

// What a linking lookup needs to resolve an uncached non-leaf entry from the guest's memory: a
// new address space whose PML4 entries point at kernel tables another space already shadows
// reaches them without a guest walk.
struct ShadowGuestLink {
  GuestMemory* memory;
  unsigned maxphyaddr;    // MAXPHYADDR, clamped to 36..52 (reserved bits 51/62:MAXPHYADDR)
  bool nxe;               // EFER.NXE (XD reserved otherwise)
  uint64_t root;          // the address space's root key (CR3's table address)
  const uint64_t* pdpte;  // PAE PDPTE registers
};

class ShadowTables {
 public:
  // Total tables kept: 4096 tables are 16-32 MiB of host memory.
  static constexpr size_t kMaxTables = 4096;
  // Traced writes with no shadow walk through the table in between after which the table is
  // taken for a page reused as data (docs/softmmu.md 5.6 has the measurement).
  static constexpr uint32_t kFloodWrites = 4;
  // The threshold in use (kFloodWrites unless changed, for measuring: bench/cr3_switch_umbra).
  void set_flood_writes(uint32_t n) { flood_writes_ = n < 1 ? 1 : n; }
  uint32_t flood_writes() const { return flood_writes_; }

  // `is_ram(pfn)`: whether the guest page is RAM (only RAM pages get tables: they can be
  // traced). `released(pfn)`: the last table of the page was destroyed (the owner may untrace).
  // `created(pfn)`: a page got its first table (the owner traces it).
  struct Hooks {
    std::function<bool(uint64_t pfn)> is_ram;
    std::function<void(uint64_t pfn)> created;
    std::function<void(uint64_t pfn)> released;
  };
  explicit ShadowTables(Hooks hooks);
  ~ShadowTables();
  ShadowTables(const ShadowTables&) = delete;
  ShadowTables& operator=(const ShadowTables&) = delete;

  uint64_t epoch() const { return epoch_; }
  size_t live() const { return live_; }
  const ShadowTableStats& stats() const { return stats_; }

  ShadowTable* find(uint64_t pfn, ShadowRole role) const;
  bool has_tables(uint64_t pfn) const { return pages_.count(pfn) != 0; }
  // The tables on a guest page (every role), for introspection and tests.
  std::vector<const ShadowTable*> tables_of(uint64_t pfn) const;

  // Points `roots` at the cached root tables of an address space of `mode` with root key
  // `root` (CR3's table address) or, under PAE paging, the PDPTE registers `pdpte`. Creates
  // nothing. No-op while roots.epoch is current.
  void refresh_roots(ShadowRoots& roots, PagingMode mode, uint64_t root,
                     const uint64_t* pdpte) const;

  // Shadow walk of `linear` from `roots`: follows cached entries and child links; `pse` is
  // CR4.PSE (4-MiB pages under 32-bit paging). With `touch`, resets the flooding count of every
  // table passed (a walk through it: it is in use as a page table); the monitor passes false.
  void lookup(const ShadowRoots& roots, PagingMode mode, bool pse, uint64_t linear,
              ShadowPath* path, bool touch = true);
  // The same, and where the path meets an uncached non-leaf entry (or a cut child link) in a
  // shadowed table, reads that entry from guest memory: if it is present, has no reserved bit
  // set and references a table that already has a shadow in the next role, the path goes on
  // through that shadow (the entry is marked fresh, not cached yet). Creates the root table when
  // the address space has none. A fresh path is usable only after commit_links().
  void lookup_linking(ShadowRoots& roots, PagingMode mode, bool pse, uint64_t linear,
                      const ShadowGuestLink& link, ShadowPath* path);
  // Sets the A bit of every fresh entry of `path` in guest memory (atomically, as the guest walk
  // does: SDM vol. 3, 4.8) and caches and links them. False if an entry changed under us (the
  // caller walks the guest tables instead).
  bool commit_links(ShadowPath* path, GuestMemory& memory);

  // A successful guest walk: caches every entry it used (except PAE PDPTE registers) in the
  // tables of their pages and roles, creating and linking tables along the path.
  void fill(ShadowRoots& roots, const WalkResult& walk);

  // A traced guest write of bytes [first, last] of page `pfn` (called before it lands): drops the
  // cached entries overlapping changed bytes when `changed`, in every table of the page, and
  // counts the write towards flooding. Returns true if a table was destroyed by flooding.
  bool on_write(uint64_t pfn, uint64_t first, uint64_t last, bool changed);

  // INVLPG: drops the cached leaf entry of `linear` on the path from `roots`.
  void invalidate_leaf(const ShadowRoots& roots, PagingMode mode, bool pse, uint64_t linear);

  // Keeps the total bounded: at kMaxTables, destroys tables no other table links to (except
  // `pinned` roots), and if that leaves more than half, every table. Call only while no
  // ShadowTable pointer is held outside ShadowRoots (they are revalidated by epoch).
  void enforce_bound(const std::vector<const ShadowTable*>& pinned);
  // Destroys every table (full flush).
  void clear();

 private:
  ShadowTable* get_or_create(uint64_t pfn, ShadowRole role, bool* existed);
  void link(ShadowTable* parent, unsigned index, ShadowTable* child);
  void unlink_child(ShadowTable* parent, unsigned index);
  void destroy(ShadowTable* t);
  void destroy_all(uint64_t* counter);

  Hooks hooks_;
  // Guest page -> its tables (one per role; usually one). Owns the tables.
  std::unordered_map<uint64_t, std::vector<std::unique_ptr<ShadowTable>>> pages_;
  size_t live_ = 0;
  uint64_t epoch_ = 0;
  uint32_t flood_writes_ = kFloodWrites;
  ShadowTableStats stats_;
};

}  // namespace umbra
