// What the monitor may ask the MMU about its caches (`walk`, `info tlb`, `info shadow`). The
// monitor (ui/) only reads through this interface; the MMU (softmmu/) implements it, so the
// cache's internals can change without touching the monitor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/cpu_state.h"

namespace umbra {

// The state of one linear page in Umbra's translation caches, for the CPU's current address
// space.
struct PageCacheState {
  // Fast TLB, current privilege view: which tags match the page.
  bool tlb_read = false, tlb_write = false, tlb_exec = false;
  uint64_t tlb_host_paddr = 0;  // physical address the TLB entry maps to (if any tag matches)
  // Shadow page tables (false/empty when the MMU has none).
  bool has_shadow_mmu = false;
  bool shadow_present = false;  // a shadow leaf entry maps the page
  std::string shadow_detail;    // e.g. "leaf r-x in shadow page 0x1234000 (level 1)"
  // The guest page-table pages on the walk path: physical page, write-tracked?, unsynced?, and
  // the shadow table of that page in the walk's role (paging mode, level).
  struct TablePage {
    uint64_t paddr = 0;
    bool write_tracked = false;
    bool unsynced = false;
    unsigned level = 0;         // the level of the walk's entry on this page (5..1)
    uint64_t entry_paddr = 0;   // the walk's entry
    bool shadow_table = false;  // a shadow table exists for (page, role)
    bool entry_cached = false;  // ... and caches the walk's entry
    unsigned shadow_roles = 0;  // shadow tables on the page, every role (a self-map: several)
  };
  std::vector<TablePage> tables;  // filled when has_shadow_mmu
};

PageCacheState page_cache_state(CpuState& cpu, uint64_t linear);

struct MmuCounter {
  std::string name;
  uint64_t value;
};
// Every counter of the MMU (TLB hits/misses when counted, walks, hidden faults, guest faults,
// tracing faults, zaps, unsync/resync, roots reused, flushes by cause ...), in a fixed order.
std::vector<MmuCounter> mmu_counters(CpuState& cpu);

// One line per cached address space (shadow root): e.g. "cr3=0x1000 mode=4-level pages=12".
std::vector<std::string> mmu_address_spaces(CpuState& cpu);

}  // namespace umbra
