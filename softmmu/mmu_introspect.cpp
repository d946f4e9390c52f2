// The monitor's read-only view of the MMU caches (mmu_introspect.h), over the translation cache
// (translation_cache.h) and the page walker's side-effect-free probe.
#include "softmmu/mmu_introspect.h"

#include <cstdio>

#include "softmmu/guest_memory.h"
#include "softmmu/page_walk.h"
#include "softmmu/paging_translator.h"
#include "softmmu/translation_cache.h"

namespace umbra {

namespace {

PagingTranslator* paging_translator_of(CpuState& cpu) {
  return dynamic_cast<PagingTranslator*>(cpu.translator);
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

PageCacheState page_cache_state(CpuState& cpu, uint64_t linear) {
  PageCacheState s;
  const uint64_t page = linear & kPageMask;
  const TlbEntry& e = tlb_entry(cpu, linear);
  s.tlb_read = e.tag_read == page;
  s.tlb_write = e.tag_write == page;
  s.tlb_exec = e.tag_exec == page;
  if ((s.tlb_read || s.tlb_write || s.tlb_exec) && cpu.memory) {
    const uint8_t* host = reinterpret_cast<const uint8_t*>(page + e.addend);
    s.tlb_host_paddr = static_cast<uint64_t>(host - cpu.memory->ram());
  }
  PagingTranslator* pt = paging_translator_of(cpu);
  if (!pt || !cpu.memory) return s;
  s.has_shadow_mmu = true;
  if (!(cpu.cr0 & cr0::PG)) return s;
  TranslationCache& tc = pt->cache();
  const ShadowPath path = tc.shadow_path(cpu, linear);
  if (path.leaf) {
    s.shadow_present = true;
    const ShadowTable* leaf = path.table[path.depth - 1];
    const PagingControls c = paging_controls(cpu);
    s.shadow_detail =
        std::string("leaf ") + (path.rights.user ? "u" : "s") + (path.rights.writable ? "w" : "r") +
        (c.nx && path.rights.no_execute ? "-" : "x") + (path.dirty ? " dirty" : " clean") + " -> " +
        hex(path.paddr & kPageMask) + " (" + std::to_string(path.page_size >> 10) +
        " KiB page) in the shadow "
        "table of page " +
        hex(leaf->pfn << kPageShift) + " (level " + std::to_string(leaf->level()) + ")";
  } else if (path.depth > 0) {
    s.shadow_detail = "path cached down to level " +
                      std::to_string(path.table[path.depth - 1]->level()) + ", no leaf";
  }
  const WalkResult r =
      probe_walk(cpu, linear, explicit_intent(cpu, Access::Read), paging_features(cpu));
  for (unsigned i = 0; i < r.num_levels; ++i) {
    const WalkLevel& l = r.levels[i];
    if (l.from_register) continue;
    PageCacheState::TablePage t;
    t.paddr = l.entry_addr & kPageMask;
    t.write_tracked = cpu.memory->is_table_page(t.paddr);
    t.unsynced = false;  // tables are never unsynced (docs/softmmu.md, the unsync policy)
    t.level = l.level;
    t.entry_paddr = l.entry_addr;
    const uint64_t pfn = t.paddr >> kPageShift;
    const std::vector<const ShadowTable*> tables = tc.shadow_tables().tables_of(pfn);
    t.shadow_roles = static_cast<unsigned>(tables.size());
    for (const ShadowTable* st : tables) {
      if (st->role != shadow_role(r.mode, l.level)) continue;
      t.shadow_table = true;
      t.entry_cached = st->entry[(l.entry_addr & (kPageSize - 1)) / st->entry_size] != 0;
    }
    s.tables.push_back(t);
  }
  return s;
}

std::vector<MmuCounter> mmu_counters(CpuState& cpu) {
  std::vector<MmuCounter> out;
  PagingTranslator* pt = paging_translator_of(cpu);
  if (!pt) return out;
  const PagingStats& st = pt->stats();
  out.push_back({"translations (fast-TLB misses)", st.translations});
  out.push_back({"identity translations", st.identity});
  out.push_back({"guest walks", st.walks});
  out.push_back({"guest page faults", st.faults_total()});
  for (unsigned i = 1; i < kNumWalkStatus; ++i)
    out.push_back(
        {std::string("  #PF ") + walk_status_name(static_cast<WalkStatus>(i)), st.faults[i]});
  const TranslationCacheStats& c = pt->cache().stats();
  out.push_back({"privilege-view switches", c.view_switches});
  out.push_back({"address-space loads (CR3, INVPCID)", c.cr3_loads});
  out.push_back({"roots reused", c.roots_reused});
  out.push_back({"roots created", c.roots_created});
  out.push_back({"roots evicted", c.roots_evicted});
  out.push_back({"fills recorded", c.fills_recorded});
  out.push_back({"page-table pages traced", c.table_pages_traced});
  out.push_back({"page-table pages untraced", c.table_pages_untraced});
  out.push_back({"tracing writes", c.tracing_writes});
  out.push_back({"tracing writes changing nothing cached", c.tracing_writes_no_change});
  out.push_back({"zaps (TLB entries dropped by tracing)", c.zaps});
  out.push_back({"write grants revoked", c.write_revokes});
  out.push_back({"flushes: all (CR0/CR4/EFER, A20, reset)", c.flush_all});
  out.push_back({"flushes: page (INVLPG, INVPCID)", c.flush_page});
  out.push_back({"shadow hits (misses served without a guest walk)", c.shadow_hits});
  out.push_back({"hidden faults (misses needing a guest walk)", c.hidden_faults});
  out.push_back({"fast-TLB tables grown (capacity misses)", c.table_grows});
  const ShadowTableStats& sh = pt->cache().shadow_stats();
  out.push_back({"shadow tables live", pt->cache().shadow_tables_live()});
  out.push_back({"shadow tables created", sh.tables_created});
  out.push_back({"shadow shared links (child already cached)", sh.shared_links});
  out.push_back({"shadow entries cached", sh.entries_cached});
  out.push_back({"shadow entries zapped by guest writes", sh.entries_zapped});
  out.push_back({"shadow leaves dropped by INVLPG/INVPCID", sh.entries_invlpg});
  out.push_back({"shadow tables zapped: write flooding", sh.zapped_flood});
  out.push_back({"shadow tables zapped: unlinked, at the bound", sh.zapped_unlinked});
  out.push_back({"shadow tables zapped: reset at the bound", sh.zapped_reset});
  out.push_back({"shadow tables zapped: full flush", sh.zapped_flush});
  out.push_back({"shadow resets at the bound", sh.resets});
  out.push_back({"pages untraced after write flooding", c.flood_untraced});
  out.push_back({"shadow fills stopped at a non-RAM table", sh.not_ram});
  out.push_back({"reverse-map records", pt->cache().rmap_records()});
  out.push_back({"reverse-map prunes", c.rmap_prunes});
  return out;
}

std::vector<std::string> mmu_address_spaces(CpuState& cpu) {
  std::vector<std::string> out;
  PagingTranslator* pt = paging_translator_of(cpu);
  if (!pt) return out;
  for (const TranslationCache::SpaceInfo& s : pt->cache().spaces()) {
    std::string line = s.root == ~uint64_t{0} ? std::string("paging off") : "cr3=" + hex(s.root);
    line += " entries=" + std::to_string(s.entries) + " views=" + std::to_string(s.views) +
            " table=" + std::to_string(s.table_entries);
    if (s.active) line += " (active)";
    out.push_back(line);
  }
  return out;
}

}  // namespace umbra
