// Shadow page tables keyed by (guest page, role), shared between address spaces. See
// shadow_tables.h and docs/softmmu.md section 5.6.
#include "softmmu/shadow_tables.h"

#include <algorithm>

namespace umbra {

namespace {

// Physical-address bits 51:12 of a PAE / 4-level / 5-level entry. The bits between MAXPHYADDR
// and 51 are reserved, so a cached (reserved-checked) entry has them clear.
constexpr uint64_t kAddrBits = 0x000FFFFFFFFFF000ull;
constexpr uint64_t kPageBytes = 4096;

unsigned top_level(PagingMode mode) {
  switch (mode) {
    case PagingMode::k32Bit:
    case PagingMode::kPae:  // below the PDPTE registers
      return 2;
    case PagingMode::k4Level:
      return 4;
    case PagingMode::k5Level:
      return 5;
    case PagingMode::kNone:
      break;
  }
  return 0;
}

// Index of `linear` in a table at `level` (SDM vol. 3, 4.3-4.5).
unsigned table_index(PagingMode mode, unsigned level, uint64_t linear) {
  if (mode == PagingMode::k32Bit) return (linear >> (level == 2 ? 22 : 12)) & 0x3ff;
  return (linear >> (12 + 9 * (level - 1))) & 0x1ff;
}

// Whether a present entry at `level` maps a page. The guest walk cached it only if its
// reserved bits were clear, so PS at levels 4/5 (reserved) never appears here.
bool maps_page(PagingMode mode, bool pse, unsigned level, uint64_t entry) {
  if (level == 1) return true;
  if (mode == PagingMode::k32Bit) return level == 2 && pse && (entry & pte::PS);
  return level <= 3 && (entry & pte::PS);
}

// The physical address of `linear` through a leaf `entry` at `level`, as the guest walk computes
// it (page_walk.cpp): PSE-36 for 4-MiB pages, the address bits below the page size masked off
// (that drops the PAT bit of large pages).
uint64_t leaf_paddr(PagingMode mode, unsigned level, uint64_t entry, uint64_t linear,
                    uint64_t* page_size) {
  if (mode == PagingMode::k32Bit) {
    if (level == 2) {
      *page_size = uint64_t{1} << 22;
      // Bits 20:13 give physical bits 39:32; the ones above min(MAXPHYADDR, 40) are reserved,
      // hence clear in a cached entry.
      return (entry & 0xffc00000u) | (((entry >> 13) & 0xff) << 32) | (linear & 0x3fffff);
    }
    *page_size = kPageBytes;
    return (entry & 0xfffff000u) | (linear & 0xfff);
  }
  const uint64_t size = uint64_t{1} << (12 + 9 * (level - 1));
  *page_size = size;
  return (entry & kAddrBits & ~(size - 1)) | (linear & (size - 1));
}

// Reserved bits of a present non-leaf entry at `level` (SDM vol. 3, tables 4-4, 4-9..4-11,
// 4-14..4-20). Leaves are never linked from guest memory, so their extra rules do not matter.
uint64_t nonleaf_reserved(PagingMode mode, unsigned level, const ShadowGuestLink& link) {
  auto bits = [](unsigned hi, unsigned lo) {
    return lo > hi ? 0
                   : ((hi >= 63 ? ~uint64_t{0} : (uint64_t{1} << (hi + 1)) - 1) &
                      ~((uint64_t{1} << lo) - 1));
  };
  const uint64_t nx = link.nxe ? 0 : pte::XD;
  switch (mode) {
    case PagingMode::k32Bit:
      return 0;
    case PagingMode::kPae:
      return bits(62, link.maxphyaddr) | nx;
    default:
      return bits(51, link.maxphyaddr) | nx | (level >= 4 ? pte::PS : 0);
  }
}

uint64_t read_guest_entry(GuestMemory& mem, uint64_t paddr, unsigned size) {
  uint8_t* host = mem.host_ptr(paddr);
  if (!host) return 0;
  if (size == 4) return __atomic_load_n(reinterpret_cast<uint32_t*>(host), __ATOMIC_ACQUIRE);
  return __atomic_load_n(reinterpret_cast<uint64_t*>(host), __ATOMIC_ACQUIRE);
}

}  // namespace

ShadowTables::ShadowTables(Hooks hooks) : hooks_(std::move(hooks)) {}
ShadowTables::~ShadowTables() = default;

ShadowTable* ShadowTables::find(uint64_t pfn, ShadowRole role) const {
  auto it = pages_.find(pfn);
  if (it == pages_.end()) return nullptr;
  for (const std::unique_ptr<ShadowTable>& t : it->second)
    if (t->role == role) return t.get();
  return nullptr;
}

std::vector<const ShadowTable*> ShadowTables::tables_of(uint64_t pfn) const {
  std::vector<const ShadowTable*> out;
  auto it = pages_.find(pfn);
  if (it != pages_.end())
    for (const std::unique_ptr<ShadowTable>& t : it->second) out.push_back(t.get());
  return out;
}

void ShadowTables::refresh_roots(ShadowRoots& roots, PagingMode mode, uint64_t root,
                                 const uint64_t* pdpte) const {
  if (roots.epoch == epoch_) return;
  roots = ShadowRoots{};
  roots.epoch = epoch_;
  if (mode == PagingMode::kPae) {
    for (unsigned i = 0; i < 4; ++i)
      if (pdpte[i] & pte::P)
        roots.table[i] = find((pdpte[i] & kAddrBits) >> 12, shadow_role(mode, 2));
    return;
  }
  if (mode == PagingMode::kNone) return;
  roots.table[0] = find((root & kAddrBits) >> 12, shadow_role(mode, top_level(mode)));
}

void ShadowTables::lookup_linking(ShadowRoots& roots, PagingMode mode, bool pse, uint64_t linear,
                                  const ShadowGuestLink& guest, ShadowPath* path) {
  // Reset only what is read back (this runs on every fast-TLB miss): entries below `depth` are
  // written before use, the link fields only where `fresh` is set.
  path->depth = 0;
  path->leaf = false;
  path->rights = PageRights{true, true, false};
  for (bool& f : path->fresh) f = false;
  if (mode == PagingMode::k32Bit || mode == PagingMode::kPae)
    linear = static_cast<uint32_t>(linear);
  const unsigned slot = mode == PagingMode::kPae ? (linear >> 30) & 3 : 0;
  if (!roots.table[slot]) {
    uint64_t root_paddr;
    if (mode == PagingMode::kPae) {
      if (!(guest.pdpte[slot] & pte::P)) return;
      root_paddr = guest.pdpte[slot] & kAddrBits;
    } else {
      root_paddr = mode == PagingMode::k32Bit ? guest.root & 0xfffff000u : guest.root & kAddrBits;
    }
    bool existed;
    roots.table[slot] =
        get_or_create(root_paddr >> 12, shadow_role(mode, top_level(mode)), &existed);
  }
  ShadowTable* t = roots.table[slot];
  for (unsigned level = top_level(mode); t && level >= 1; --level) {
    const unsigned idx = table_index(mode, level, linear);
    uint64_t e = t->entry[idx];
    ShadowTable* next = nullptr;
    const unsigned d = path->depth;
    if (e) {
      if (!maps_page(mode, pse, level, e)) {
        next = t->child[idx];
        if (!next) {
          // A cut link (the child was destroyed or reclaimed): relink by key if it is back.
          next = find((mode == PagingMode::k32Bit ? e & 0xfffff000u : e & kAddrBits) >> 12,
                      shadow_role(mode, level - 1));
          if (!next) return;
          link(t, idx, next);
          ++stats_.shared_links;
        }
      }
    } else {
      if (level == 1) return;
      const uint64_t g = read_guest_entry(*guest.memory, t->entry_paddr(idx), t->entry_size);
      if (!(g & pte::P) || maps_page(mode, pse, level, g) ||
          (g & nonleaf_reserved(mode, level, guest)))
        return;
      next = find((mode == PagingMode::k32Bit ? g & 0xfffff000u : g & kAddrBits) >> 12,
                  shadow_role(mode, level - 1));
      if (!next) return;
      path->fresh[d] = true;
      path->guest_entry[d] = g;
      path->link_to[d] = next;
      e = g | pte::A;
    }
    t->writes_since_use = 0;
    path->table[d] = t;
    path->index[d] = static_cast<uint16_t>(idx);
    ++path->depth;
    path->rights.user = path->rights.user && (e & pte::US);
    path->rights.writable = path->rights.writable && (e & pte::RW);
    path->rights.no_execute = path->rights.no_execute || (e & pte::XD);
    if (!next) {
      path->leaf = true;
      path->dirty = e & pte::D;
      path->paddr = leaf_paddr(mode, level, e, linear, &path->page_size);
      return;
    }
    t = next;
  }
}

bool ShadowTables::commit_links(ShadowPath* path, GuestMemory& memory) {
  // Root first, as the guest walk sets A bits (SDM vol. 3, 4.8).
  for (unsigned d = 0; d < path->depth; ++d) {
    if (!path->fresh[d]) continue;
    ShadowTable* t = path->table[d];
    const unsigned idx = path->index[d];
    const uint64_t paddr = t->entry_paddr(idx);
    const uint64_t g = path->guest_entry[d];
    if (!(g & pte::A)) {
      uint8_t* host = memory.host_ptr(paddr);
      bool ok;
      if (t->entry_size == 4) {
        uint32_t expected = static_cast<uint32_t>(g);
        ok = __atomic_compare_exchange_n(reinterpret_cast<uint32_t*>(host), &expected,
                                         static_cast<uint32_t>(g | pte::A), false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE);
      } else {
        uint64_t expected = g;
        ok = __atomic_compare_exchange_n(reinterpret_cast<uint64_t*>(host), &expected, g | pte::A,
                                         false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
      }
      if (!ok) return false;
      // The update is a write to guest memory: translated code on the page goes, as for the
      // guest walk's own A/D updates.
      if (memory.is_code_page(paddr)) {
        memory.clear_code_page(paddr);
        if (memory.on_code_write) memory.on_code_write(paddr & ~uint64_t{0xfff});
      }
    }
    t->entry[idx] = g | pte::A;
    ++stats_.entries_cached;
    if (t->child[idx] != path->link_to[d]) {
      unlink_child(t, idx);
      link(t, idx, path->link_to[d]);
    }
    ++stats_.shared_links;
    path->fresh[d] = false;
  }
  return true;
}

void ShadowTables::lookup(const ShadowRoots& roots, PagingMode mode, bool pse, uint64_t linear,
                          ShadowPath* path, bool touch) {
  path->depth = 0;
  path->leaf = false;
  path->rights = PageRights{true, true, false};
  if (mode == PagingMode::k32Bit || mode == PagingMode::kPae)
    linear = static_cast<uint32_t>(linear);
  ShadowTable* t = roots.table[mode == PagingMode::kPae ? (linear >> 30) & 3 : 0];
  for (unsigned level = top_level(mode); t && level >= 1; --level) {
    const unsigned idx = table_index(mode, level, linear);
    const uint64_t e = t->entry[idx];
    if (!e) return;
    if (touch) t->writes_since_use = 0;  // a walk through it: it is in use as a page table
    path->table[path->depth] = t;
    path->index[path->depth] = static_cast<uint16_t>(idx);
    ++path->depth;
    // Rights combined over the levels (SDM vol. 3, 4.6); 32-bit entries have no XD bit.
    path->rights.user = path->rights.user && (e & pte::US);
    path->rights.writable = path->rights.writable && (e & pte::RW);
    path->rights.no_execute = path->rights.no_execute || (e & pte::XD);
    if (maps_page(mode, pse, level, e)) {
      path->leaf = true;
      path->dirty = e & pte::D;
      path->paddr = leaf_paddr(mode, level, e, linear, &path->page_size);
      return;
    }
    t = t->child[idx];
  }
}

ShadowTable* ShadowTables::get_or_create(uint64_t pfn, ShadowRole role, bool* existed) {
  if (ShadowTable* t = find(pfn, role)) {
    *existed = true;
    return t;
  }
  *existed = false;
  if (!hooks_.is_ram(pfn)) {
    // MMIO/unbacked paging structure: it cannot be traced, so it is never cached.
    ++stats_.not_ram;
    return nullptr;
  }
  auto table = std::make_unique<ShadowTable>();
  ShadowTable* t = table.get();
  t->pfn = pfn;
  t->role = role;
  const bool legacy = shadow_role_mode(role) == PagingMode::k32Bit;
  t->entry_size = legacy ? 4 : 8;
  t->entries = legacy ? 1024 : 512;
  t->entry = std::make_unique<uint64_t[]>(t->entries);  // value-initialized: nothing cached
  if (shadow_role_level(role) > 1) t->child = std::make_unique<ShadowTable*[]>(t->entries);
  std::vector<std::unique_ptr<ShadowTable>>& list = pages_[pfn];
  const bool first = list.empty();
  list.push_back(std::move(table));
  ++live_;
  ++stats_.tables_created;
  if (first) hooks_.created(pfn);
  return t;
}

void ShadowTables::link(ShadowTable* parent, unsigned index, ShadowTable* child) {
  parent->child[index] = child;
  child->parents.push_back(ShadowTable::Link{parent, static_cast<uint16_t>(index)});
}

void ShadowTables::unlink_child(ShadowTable* parent, unsigned index) {
  ShadowTable* child = parent->child[index];
  if (!child) return;
  parent->child[index] = nullptr;
  std::vector<ShadowTable::Link>& ps = child->parents;
  for (size_t i = 0; i < ps.size(); ++i) {
    if (ps[i].parent == parent && ps[i].index == index) {
      ps[i] = ps.back();
      ps.pop_back();
      break;
    }
  }
}

void ShadowTables::fill(ShadowRoots& roots, const WalkResult& walk) {
  const PagingMode mode = walk.mode;
  ShadowTable* parent = nullptr;
  unsigned parent_index = 0;
  unsigned root_slot = 0;
  for (unsigned i = 0; i < walk.num_levels; ++i) {
    const WalkLevel& l = walk.levels[i];
    if (l.from_register) {
      // A PAE PDPTE register: it picks the root table (page directory) of this walk.
      root_slot = static_cast<unsigned>((l.entry_addr >> 3) & 3);
      continue;
    }
    const uint64_t pfn = l.entry_addr >> 12;
    const ShadowRole role = shadow_role(mode, l.level);
    ShadowTable* t;
    bool existed = false;
    if (!parent) {
      t = roots.table[root_slot];
      if (!t || t->pfn != pfn || t->role != role) {
        t = get_or_create(pfn, role, &existed);
        roots.table[root_slot] = t;
      }
    } else {
      t = parent->child[parent_index];
      if (t && (t->pfn != pfn || t->role != role)) {  // cannot happen while coherent
        unlink_child(parent, parent_index);
        t = nullptr;
      }
      if (!t) {
        t = get_or_create(pfn, role, &existed);
        if (!t) return;
        if (existed) ++stats_.shared_links;
        link(parent, parent_index, t);
      }
    }
    if (!t) return;
    const unsigned idx = static_cast<unsigned>((l.entry_addr & 0xfff) / l.entry_size);
    // The value the walk read with the A bit it set (and D on the leaf of a write): what the
    // guest's memory holds now.
    uint64_t value = l.entry | pte::A;
    if (l.maps_page && walk.dirty) value |= pte::D;
    if (t->entry[idx] != value) {
      if (t->child) unlink_child(t, idx);
      t->entry[idx] = value;
      ++stats_.entries_cached;
    }
    t->writes_since_use = 0;
    if (l.maps_page) return;
    parent = t;
    parent_index = idx;
  }
}

bool ShadowTables::on_write(uint64_t pfn, uint64_t first, uint64_t last, bool changed) {
  auto it = pages_.find(pfn);
  if (it == pages_.end()) return false;
  std::vector<ShadowTable*> flooded;
  for (const std::unique_ptr<ShadowTable>& tp : it->second) {
    ShadowTable* t = tp.get();
    if (changed) {
      // Entries overlapping the changed bytes [first, last] of this page.
      const uint64_t lo = std::max(first, pfn << 12) & 0xfff;
      const uint64_t hi = std::min(last, (pfn << 12) | 0xfff) & 0xfff;
      for (uint64_t i = lo / t->entry_size; i <= hi / t->entry_size; ++i) {
        if (!t->entry[i]) continue;
        t->entry[i] = 0;
        if (t->child) unlink_child(t, static_cast<unsigned>(i));
        ++stats_.entries_zapped;
      }
    }
    if (++t->writes_since_use >= flood_writes_) flooded.push_back(t);
  }
  for (ShadowTable* t : flooded) {
    ++stats_.zapped_flood;
    destroy(t);
  }
  return !flooded.empty();
}

void ShadowTables::invalidate_leaf(const ShadowRoots& roots, PagingMode mode, bool pse,
                                   uint64_t linear) {
  ShadowPath path;
  lookup(roots, mode, pse, linear, &path);
  if (!path.leaf) return;
  ShadowTable* t = path.table[path.depth - 1];
  t->entry[path.index[path.depth - 1]] = 0;
  ++stats_.entries_invlpg;
}

void ShadowTables::destroy(ShadowTable* t) {
  // Cut the links from parents (their entries stay cached: a later walk relinks by key) and to
  // children (which may become unlinked; they stay cached by key).
  for (const ShadowTable::Link& p : t->parents) p.parent->child[p.index] = nullptr;
  t->parents.clear();
  if (t->child)
    for (unsigned i = 0; i < t->entries; ++i) unlink_child(t, i);
  ++epoch_;  // address spaces' root pointers may point here: revalidate them
  --live_;
  const uint64_t pfn = t->pfn;
  auto it = pages_.find(pfn);
  std::vector<std::unique_ptr<ShadowTable>>& list = it->second;
  for (size_t i = 0; i < list.size(); ++i) {
    if (list[i].get() == t) {
      list[i] = std::move(list.back());
      list.pop_back();
      break;
    }
  }
  if (list.empty()) {
    pages_.erase(it);
    hooks_.released(pfn);
  }
}

void ShadowTables::enforce_bound(const std::vector<const ShadowTable*>& pinned) {
  if (live_ < kMaxTables) return;
  // Unlinked tables first (roots of address spaces no longer cached, subtrees cut off by
  // guest writes); destroying one may unlink its children, so repeat until none is left.
  for (bool progress = true; progress;) {
    progress = false;
    std::vector<ShadowTable*> unlinked;
    for (const auto& [pfn, list] : pages_)
      for (const std::unique_ptr<ShadowTable>& t : list)
        if (t->parents.empty() && std::find(pinned.begin(), pinned.end(), t.get()) == pinned.end())
          unlinked.push_back(t.get());
    for (ShadowTable* t : unlinked) {
      ++stats_.zapped_unlinked;
      destroy(t);
      progress = true;
    }
  }
  if (live_ > kMaxTables / 2) {
    ++stats_.resets;
    destroy_all(&stats_.zapped_reset);
  }
}

void ShadowTables::clear() {
  destroy_all(&stats_.zapped_flush);
}

void ShadowTables::destroy_all(uint64_t* counter) {
  if (pages_.empty()) return;
  std::vector<uint64_t> pfns;
  pfns.reserve(pages_.size());
  for (const auto& [pfn, list] : pages_) {
    pfns.push_back(pfn);
    *counter += list.size();
  }
  pages_.clear();  // every table at once: no links to cut one by one
  live_ = 0;
  ++epoch_;
  for (uint64_t pfn : pfns) hooks_.released(pfn);
}

}  // namespace umbra
