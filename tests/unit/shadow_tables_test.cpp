// Shadow page tables (softmmu/shadow_tables.h) behind the translation cache: one shadow table per
// (guest table page, role), shared by every address space reaching that page; zapped entry by
// entry by traced guest writes, destroyed by write flooding, bounded in number.
#include "softmmu/shadow_tables.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "softmmu/access.h"
#include "softmmu/guest_memory.h"
#include "softmmu/mmu_introspect.h"
#include "softmmu/paging_translator.h"
#include "softmmu/translation_cache.h"
#include "tests/unit/page_table_builder.h"

namespace umbra {
namespace {

using test::PageTables;
using test::PagingCpu;

constexpr uint64_t kKernelFlags = pte::P | pte::RW | pte::A | pte::D;  // supervisor page
constexpr uint64_t kUserFlags = pte::P | pte::RW | pte::US | pte::A | pte::D;
constexpr uint64_t kFrame1 = 0x01000000, kFrame2 = 0x01001000, kFrame3 = 0x01002000;
constexpr uint64_t kFarFrame = 0x01f00000;  // above the large table pools of the bound tests

// A CPU in `mode` with the paging translator (and so the translation cache) installed.
struct Machine {
  PagingCpu pc;
  PagingTranslator tr;

  explicit Machine(PagingMode mode) {
    pc.enter(mode);
    cpu().translator = &tr;
    pc.write<uint64_t>(kFrame1, 0x1111);
    pc.write<uint64_t>(kFrame2, 0x2222);
    pc.write<uint64_t>(kFrame3, 0x3333);
  }
  CpuState& cpu() { return pc.cpu(); }
  TranslationCache& cache() { return tr.cache(); }
  const ShadowTableStats& shadow() { return tr.cache().shadow_stats(); }
  uint64_t walks() const { return tr.stats().walks; }
  uint64_t read(uint64_t linear) { return read_mem<uint64_t>(cpu(), linear); }
  void start(uint64_t cr3) {
    cpu().cr3 = cr3;
    if (paging_mode(cpu()) == PagingMode::kPae) {
      EXPECT_TRUE(load_pae_pdptes(cpu(), cr3));
    }
    tlb_flush_all(cpu());
  }
  void load_cr3(uint64_t cr3) {
    cpu().cr3 = cr3;
    tlb_address_space_changed(cpu());
  }
  void set_cpl(uint8_t cpl) {
    const uint8_t before = tlb_privilege_view(cpu());
    cpu().cpl = cpl;
    tlb_flush_for_privilege_change(cpu(), before);
  }
  size_t tables_on(uint64_t paddr) { return cache().shadow_tables().tables_of(paddr >> 12).size(); }
  const ShadowTable* table(uint64_t paddr, PagingMode mode, unsigned level) {
    return cache().shadow_tables().find(paddr >> 12, shadow_role(mode, level));
  }
};

// Two 4-level address spaces with their own PML4s whose kernel PML4 entry points at one PDPT,
// as every Linux process's PML4 shares the kernel's tables.
constexpr uint64_t kK0 = 0xffff800000000000ull;    // kernel pages: kK0 and kK1 share a page table,
constexpr uint64_t kK1 = 0xffff800000001000ull;    // kK2 is under another page table of the same
constexpr uint64_t kK2 = 0xffff800000200000ull;    // page directory
constexpr uint64_t kUser = 0x0000000000400000ull;  // each space's own user page
constexpr uint64_t kWindow = 0x0000500000000000ull;  // where space a maps table pages as data

struct SharedKernel : Machine {
  PageTables a{pc, PagingMode::k4Level, 0x100000};
  PageTables b{pc, PagingMode::k4Level, 0x200000};

  SharedKernel() : Machine(PagingMode::k4Level) {
    a.map(kK0, kFrame1, 1, kKernelFlags);
    a.map(kK1, kFrame2, 1, kKernelFlags);
    a.map(kK2, kFrame3, 1, kKernelFlags);
    a.map(kUser, kFrame1, 1, kUserFlags);
    b.map(kUser, kFrame2, 1, kUserFlags);
    // b's kernel half: the same PML4 entry as a's (no A bit yet: b has never used it).
    b.write_entry(b.entry_addr(kK0, 4), a.read_entry(a.entry_addr(kK0, 4)) & ~pte::A);
    // Space a sees the page directory of the kernel pages as data at kWindow.
    a.map(kWindow, pd_page(), 1, kUserFlags);
    start(a.cr3());
  }
  uint64_t pd_page() { return a.entry_addr(kK0, 2) & kPageMask; }
  uint64_t pdpt_page() { return a.entry_addr(kK0, 3) & kPageMask; }
};

TEST(ShadowTables, SecondSpaceReachesSharedKernelTablesWithoutAGuestWalk) {
  SharedKernel m;
  EXPECT_EQ(m.read(kK0), 0x1111u);
  EXPECT_EQ(m.read(kK1), 0x2222u);
  EXPECT_EQ(m.read(kK2), 0x3333u);
  EXPECT_EQ(m.walks(), 3u) << "space a walks each kernel page once";
  EXPECT_EQ(m.tables_on(m.pdpt_page()), 1u);

  m.load_cr3(m.b.cr3());
  const uint64_t hits = m.cache().stats().shadow_hits;
  const uint64_t links = m.shadow().shared_links;
  const size_t live = m.cache().shadow_tables_live();
  EXPECT_EQ(m.read(kK0), 0x1111u);
  EXPECT_EQ(m.read(kK1), 0x2222u);
  EXPECT_EQ(m.read(kK2), 0x3333u);
  EXPECT_EQ(m.walks(), 3u) << "space b's first kernel accesses need no guest walk";
  EXPECT_EQ(m.cache().stats().shadow_hits, hits + 3);
  EXPECT_EQ(m.shadow().shared_links, links + 1) << "b's PML4 entry linked to a's shadow PDPT";
  EXPECT_EQ(m.cache().shadow_tables_live(), live + 1) << "only b's own root is new";
  EXPECT_EQ(m.tables_on(m.pdpt_page()), 1u) << "one shadow PDPT for both spaces";
  const ShadowTable* pdpt = m.table(m.pdpt_page(), PagingMode::k4Level, 3);
  ASSERT_NE(pdpt, nullptr);
  EXPECT_EQ(pdpt->parents.size(), 2u) << "linked from both roots";
  // The entry b used now has its accessed flag, as a guest walk would have set it.
  EXPECT_TRUE(m.b.read_entry(m.b.entry_addr(kK0, 4)) & pte::A);
  // b's own user page was never walked: that is a hidden fault and a guest walk.
  EXPECT_EQ(m.read(kUser), 0x2222u);
  EXPECT_EQ(m.walks(), 4u);
}

TEST(ShadowTables, LinkingChecksTheGuestEntryItReads) {
  SharedKernel m;
  EXPECT_EQ(m.read(kK0), 0x1111u);
  // b's kernel PML4 entry with a reserved bit (PS is reserved in a PML4E): the linking lookup
  // must not use it; the guest walk raises #PF with RSVD.
  const uint64_t e = m.b.entry_addr(kK0, 4);
  m.b.write_entry(e, m.b.read_entry(e) | pte::PS);
  m.load_cr3(m.b.cr3());
  EXPECT_TRUE(m.pc.faults([&] { (void)m.read(kK0); }));
  EXPECT_EQ(m.cpu().pending_fault_addr, kK0);
  EXPECT_EQ(m.cpu().pending_fault_error, pf_error::P | pf_error::RSVD);
  // Not present: #PF too, P = 0.
  m.b.write_entry(e, 0);
  EXPECT_TRUE(m.pc.faults([&] { (void)m.read(kK0); }));
  EXPECT_EQ(m.cpu().pending_fault_error, 0u);
  EXPECT_EQ(m.walks(), 3u) << "both faults came from guest walks";
}

TEST(ShadowTables, LinkingSetsNoAccessedBitWhenTheAccessFaults) {
  SharedKernel m;
  EXPECT_EQ(m.read(kK0), 0x1111u);
  m.load_cr3(m.b.cr3());
  m.set_cpl(3);
  // A user read of a supervisor page: the shadow path exists (through a's tables) but the access
  // is not allowed; the guest walk raises #PF and, like the processor, sets no A bit.
  EXPECT_TRUE(m.pc.faults([&] { (void)m.read(kK0); }));
  EXPECT_EQ(m.cpu().pending_fault_error, pf_error::P | pf_error::U);
  EXPECT_FALSE(m.b.read_entry(m.b.entry_addr(kK0, 4)) & pte::A);
  m.set_cpl(0);
  EXPECT_EQ(m.read(kK0), 0x1111u);
  EXPECT_TRUE(m.b.read_entry(m.b.entry_addr(kK0, 4)) & pte::A);
}

TEST(ShadowTables, ConflictRefillsFromTheShadowAddNoRecords) {
  // Two pages with the same fast-TLB index evict each other on every access; the refills come
  // from the shadow tables and must not grow the reverse map.
  Machine m(PagingMode::k4Level);
  PageTables t(m.pc, PagingMode::k4Level);
  constexpr uint64_t kA = 0x0000400000000000ull;
  constexpr uint64_t kB = kA + kTlbSize * kPageSize;
  t.map(kA, kFrame1, 1, kUserFlags);
  t.map(kB, kFrame2, 1, kUserFlags);
  m.start(t.cr3());
  EXPECT_EQ(m.read(kA), 0x1111u);
  EXPECT_EQ(m.read(kB), 0x2222u);
  const size_t records = m.cache().rmap_records();
  for (int i = 0; i < 1000; ++i) {
    m.cpu().insn_count += 1000;  // rare misses: the table does not grow
    ASSERT_EQ(m.read(kA), 0x1111u);
    ASSERT_EQ(m.read(kB), 0x2222u);
  }
  EXPECT_EQ(m.walks(), 2u);
  EXPECT_EQ(m.cache().stats().shadow_hits, 2000u);
  EXPECT_EQ(m.cache().rmap_records(), records);
  // And they stay coherent: a traced write to kA's PTE is seen while kA is not in the TLB.
  t.map(kWindow, t.entry_addr(kA, 1) & kPageMask, 1, kUserFlags);
  write_mem<uint64_t>(m.cpu(), kWindow + (t.entry_addr(kA, 1) & (kPageSize - 1)),
                      kFrame3 | kUserFlags);
  EXPECT_EQ(m.read(kB), 0x2222u);
  EXPECT_EQ(m.read(kA), 0x3333u);
}

TEST(ShadowTables, IntrospectionShowsTheShadowStateOfEveryLevel) {
  SharedKernel m;
  EXPECT_EQ(m.read(kK0), 0x1111u);
  m.load_cr3(m.b.cr3());
  // Before b touches kK0: b's root has no cached entry for it; the tables below are a's.
  PageCacheState st = page_cache_state(m.cpu(), kK0);
  ASSERT_TRUE(st.has_shadow_mmu);
  EXPECT_FALSE(st.shadow_present);
  ASSERT_EQ(st.tables.size(), 4u);
  EXPECT_EQ(st.tables[0].level, 4u);
  EXPECT_FALSE(st.tables[0].shadow_table) << "b's root: no shadow table yet";
  for (unsigned i = 1; i < 4; ++i) {
    EXPECT_TRUE(st.tables[i].shadow_table) << i;
    EXPECT_TRUE(st.tables[i].entry_cached) << i;
    EXPECT_TRUE(st.tables[i].write_tracked) << i;
  }
  EXPECT_EQ(m.read(kK0), 0x1111u);
  st = page_cache_state(m.cpu(), kK0);
  EXPECT_TRUE(st.shadow_present);
  EXPECT_NE(st.shadow_detail.find("-> 0x1000000 (4 KiB page)"), std::string::npos)
      << st.shadow_detail;
  EXPECT_TRUE(st.tables[0].shadow_table);
  EXPECT_TRUE(st.tables[0].entry_cached);
  // Nothing has read kK1: its page table is shadowed (kK0 is in it), its PTE is not cached.
  st = page_cache_state(m.cpu(), kK1);
  EXPECT_FALSE(st.shadow_present);
  EXPECT_TRUE(st.tables[3].shadow_table);
  EXPECT_FALSE(st.tables[3].entry_cached) << "kK1's PTE was never walked";
}

TEST(ShadowTables, GuestWriteToASharedPdeIsSeenByBothSpaces) {
  SharedKernel m;
  EXPECT_EQ(m.read(kK0), 0x1111u);
  m.load_cr3(m.b.cr3());
  EXPECT_EQ(m.read(kK0), 0x1111u);
  m.load_cr3(m.a.cr3());
  // A new page table for kK0's 2-MiB region, mapping it to kFrame3.
  const uint64_t new_pt = 0x00300000;
  for (uint64_t i = 0; i < kPageSize; i += 8) m.pc.write<uint64_t>(new_pt + i, 0);
  m.pc.write<uint64_t>(new_pt, kFrame3 | kKernelFlags);
  const uint64_t pde = m.a.entry_addr(kK0, 2);
  const uint64_t zapped = m.shadow().entries_zapped;
  // Space a rewrites the shared PDE through its window (a traced page: slow path), no INVLPG.
  write_mem<uint64_t>(m.cpu(), kWindow + (pde & (kPageSize - 1)), new_pt | PageTables::kTableFlags);
  EXPECT_EQ(m.shadow().entries_zapped, zapped + 1) << "one cached entry, in the one shared table";
  EXPECT_NE(tlb_entry(m.cpu(), kK0).tag_read, kK0);
  EXPECT_EQ(m.read(kK0), 0x3333u) << "space a sees the new table";
  m.load_cr3(m.b.cr3());
  EXPECT_NE(tlb_entry(m.cpu(), kK0).tag_read, kK0) << "b's TLB entry was dropped while inactive";
  const uint64_t walks = m.walks();
  EXPECT_EQ(m.read(kK0), 0x3333u) << "space b sees it too";
  EXPECT_EQ(m.walks(), walks) << "a's walk refilled the shared shadow entry";
}

TEST(ShadowTables, WriteFloodingZapsATableReusedAsDataAndUntracesIt) {
  Machine m(PagingMode::k4Level);
  PageTables t(m.pc, PagingMode::k4Level);
  constexpr uint64_t kLin = 0x0000400000001000ull;
  constexpr uint64_t kWin = 0x0000400040000000ull;  // another page table
  t.map(kLin, kFrame1, 1, kUserFlags);
  const uint64_t pt = t.entry_addr(kLin, 1) & kPageMask;
  t.map(kWin, pt, 1, kUserFlags);
  m.start(t.cr3());
  EXPECT_EQ(m.read(kLin), 0x1111u);
  ASSERT_NE(m.table(pt, PagingMode::k4Level, 1), nullptr);
  EXPECT_TRUE(m.pc.mem().is_table_page(pt));

  // Writes to unused entries with a walk through the table in between: an active page table,
  // never flooded.
  for (unsigned i = 0; i < 3 * ShadowTables::kFloodWrites; ++i) {
    write_mem<uint64_t>(m.cpu(), kWin + 8 * (100 + i), 0x1000 * i);
    tlb_invlpg(m.cpu(), kLin);
    EXPECT_EQ(m.read(kLin), 0x1111u);
  }
  EXPECT_EQ(m.shadow().zapped_flood, 0u);
  ASSERT_NE(m.table(pt, PagingMode::k4Level, 1), nullptr);

  // Now data writes with no walk through the table: after kFloodWrites it is dropped.
  const uint64_t tracing = m.cache().stats().tracing_writes;
  for (unsigned i = 0; i < ShadowTables::kFloodWrites; ++i)
    write_mem<uint64_t>(m.cpu(), kWin + 8 * (200 + i), 0xabc0 + i);
  EXPECT_EQ(m.cache().stats().tracing_writes, tracing + ShadowTables::kFloodWrites);
  EXPECT_EQ(m.shadow().zapped_flood, 1u);
  EXPECT_EQ(m.table(pt, PagingMode::k4Level, 1), nullptr);
  EXPECT_FALSE(m.pc.mem().is_table_page(pt)) << "untraced: writes to it are fast again";
  EXPECT_EQ(m.cache().stats().flood_untraced, 1u);
  EXPECT_NE(tlb_entry(m.cpu(), kLin).tag_read, kLin) << "TLB entries derived from it dropped";
  write_mem<uint64_t>(m.cpu(), kWin + 8 * 300, 1);
  write_mem<uint64_t>(m.cpu(), kWin + 8 * 301, 1);
  EXPECT_EQ(m.cache().stats().tracing_writes, tracing + ShadowTables::kFloodWrites)
      << "no longer traced";
  // Used as a page table again: walked, shadowed and traced again, and coherent.
  const uint64_t walks = m.walks();
  EXPECT_EQ(m.read(kLin), 0x1111u);
  EXPECT_EQ(m.walks(), walks + 1);
  EXPECT_NE(m.table(pt, PagingMode::k4Level, 1), nullptr);
  EXPECT_TRUE(m.pc.mem().is_table_page(pt));
  write_mem<uint64_t>(m.cpu(), kWin + (t.entry_addr(kLin, 1) & (kPageSize - 1)),
                      kFrame2 | kUserFlags);
  EXPECT_EQ(m.read(kLin), 0x2222u);
}

// Each mode's tables get shadows in their own roles, with the mode's entry size, and serve TLB
// misses (here: the user view's first access, and another 4-KiB piece of a large page).
void check_roles(PagingMode mode, const std::vector<unsigned>& levels) {
  SCOPED_TRACE(paging_mode_name(mode));
  Machine m(mode);
  PageTables t(m.pc, mode);
  constexpr uint64_t kSmall = 0x00401000;
  constexpr uint64_t kLarge = 0x00800000;  // 4 MiB (32-bit) / 2 MiB page
  const uint64_t large_frame = 0x00c00000;
  t.map(kSmall, kFrame1, 1, kUserFlags);
  t.map(kLarge, large_frame, 2, kUserFlags);
  m.pc.write<uint64_t>(large_frame + 0x3008, 0x4444);
  m.start(t.cr3());
  EXPECT_EQ(m.read(kSmall), 0x1111u);
  EXPECT_EQ(m.read(kLarge + 8), 0u);
  for (unsigned level : levels) {
    const ShadowTable* st = m.table(t.entry_addr(kSmall, level), mode, level);
    ASSERT_NE(st, nullptr) << "level " << level;
    EXPECT_EQ(st->entry_size, mode == PagingMode::k32Bit ? 4 : 8);
    EXPECT_EQ(st->entries, mode == PagingMode::k32Bit ? 1024 : 512);
    EXPECT_NE(st->entry[(t.entry_addr(kSmall, level) & (kPageSize - 1)) / st->entry_size], 0u);
  }
  if (mode == PagingMode::kPae) {
    EXPECT_EQ(m.tables_on(t.cr3()), 0u) << "the PDPT is registers, not a shadowed table";
  }
  const uint64_t walks = m.walks();
  EXPECT_EQ(m.read(kLarge + 0x3008), 0x4444u) << "another piece of the large page";
  m.set_cpl(3);
  EXPECT_EQ(m.read(kSmall), 0x1111u) << "the user view's first access";
  EXPECT_EQ(m.walks(), walks) << "both from the shadow tables";
  tlb_flush_all(m.cpu());
  EXPECT_EQ(m.cache().shadow_tables_live(), 0u) << "a full flush drops every table";
  EXPECT_FALSE(m.pc.mem().is_table_page(t.entry_addr(kSmall, 1)));
}

TEST(ShadowTables, RolesOf32BitPaeAnd4LevelPaging) {
  check_roles(PagingMode::k32Bit, {2, 1});
  check_roles(PagingMode::kPae, {2, 1});
  check_roles(PagingMode::k4Level, {4, 3, 2, 1});
  check_roles(PagingMode::k5Level, {5, 4, 3, 2, 1});
}

TEST(ShadowTables, SelfMappedDirectoryHasOneShadowTablePerRole) {
  // 32-bit paging with the classic recursive entry: PDE 1023 points at the page directory, so
  // 0xffc00000 + i * 4 KiB shows page table i and 0xfffff000 the directory itself.
  Machine m(PagingMode::k32Bit);
  PageTables t(m.pc, PagingMode::k32Bit);
  constexpr uint64_t kLin = 0x00401000;  // PDE 1, PTE 1
  t.map(kLin, kFrame1, 1, kUserFlags);
  const uint64_t pd = t.cr3();
  t.write_entry(pd + 4 * 1023, pd | pte::P | pte::RW | pte::US);
  m.start(pd);
  EXPECT_EQ(m.read(kLin), 0x1111u);
  const uint64_t pte_kLin = t.entry_addr(kLin, 1);
  // Page table 1 as data (the PD used as a page table), and the PD as data.
  EXPECT_EQ(read_mem<uint32_t>(m.cpu(), 0xffc01000 + 4 * 1), m.pc.read<uint32_t>(pte_kLin));
  EXPECT_EQ(read_mem<uint32_t>(m.cpu(), 0xfffff000 + 4 * 1), m.pc.read<uint32_t>(pd + 4));
  EXPECT_EQ(m.tables_on(pd), 2u) << "the directory is a PD and a PT at once";
  EXPECT_NE(m.table(pd, PagingMode::k32Bit, 2), nullptr);
  EXPECT_NE(m.table(pd, PagingMode::k32Bit, 1), nullptr);

  // Rewrite PDE 1 through the recursive window: the entry changes in both roles.
  const uint64_t zapped = m.shadow().entries_zapped;
  const uint64_t new_pt = 0x00300000;
  for (uint64_t i = 0; i < kPageSize; i += 4) m.pc.write<uint32_t>(new_pt + i, 0);
  m.pc.write<uint32_t>(new_pt + 4, static_cast<uint32_t>(kFrame2 | kUserFlags));
  write_mem<uint32_t>(m.cpu(), 0xfffff000 + 4 * 1,
                      static_cast<uint32_t>(new_pt | pte::P | pte::RW | pte::US));
  EXPECT_EQ(m.shadow().entries_zapped, zapped + 2)
      << "PDE 1 in the PD role and PTE 1 in the PT role";
  EXPECT_EQ(m.read(kLin), 0x2222u);
  EXPECT_EQ(read_mem<uint32_t>(m.cpu(), 0xffc01000 + 4 * 1),
            static_cast<uint32_t>(kFrame2 | kUserFlags))
      << "the window onto page table 1 shows the new table";
}

TEST(ShadowTables, PagingStructuresOutsideRamAreNeverShadowed) {
  Machine m(PagingMode::k4Level);
  PageTables t(m.pc, PagingMode::k4Level);
  constexpr uint64_t kLin = 0x0000400000000000ull;
  t.map(kLin, kFrame1, 1, kUserFlags);
  // Point the PDE at a "page table" in MMIO space that maps every page to kFrame2.
  constexpr uint64_t kMmioTable = 0x04000000;  // above the 32 MiB of RAM
  unsigned mmio_reads = 0;
  m.pc.mem().add_mmio(kMmioTable, kPageSize,
                      MmioHandler{[&](uint64_t, unsigned) -> uint64_t {
                                    ++mmio_reads;
                                    return kFrame2 | kUserFlags;
                                  },
                                  [](uint64_t, unsigned, uint64_t) {}},
                      "table");
  t.write_entry(t.entry_addr(kLin, 2), kMmioTable | PageTables::kTableFlags | pte::A);
  m.start(t.cr3());
  EXPECT_EQ(m.read(kLin), 0x2222u);
  EXPECT_EQ(m.tables_on(kMmioTable), 0u);
  EXPECT_GE(m.shadow().not_ram, 1u);
  EXPECT_EQ(mmio_reads, 1u);
  // Another page under the MMIO table, and the same page in another view: guest walks.
  EXPECT_EQ(m.read(kLin + kPageSize), 0x2222u);
  m.set_cpl(3);
  EXPECT_EQ(m.read(kLin), 0x2222u);
  EXPECT_EQ(m.walks(), 3u);
  EXPECT_EQ(mmio_reads, 3u) << "walked every time";
  EXPECT_EQ(m.cache().stats().shadow_hits, 0u);
}

TEST(ShadowTables, UnlinkedRootsAreReclaimedAtTheBound) {
  // More address spaces than the bound: each has its own PML4 sharing one PDPT. The roots of
  // address spaces no longer cached have no parent: they are reclaimed, nothing is reset.
  Machine m(PagingMode::k4Level);
  PageTables shared(m.pc, PagingMode::k4Level, 0x100000);
  shared.map(kK0, kFarFrame, 1, kKernelFlags);
  m.pc.write<uint64_t>(kFarFrame, 0x5555);
  const uint64_t pml4e = shared.read_entry(shared.entry_addr(kK0, 4));
  const uint64_t index = (shared.entry_addr(kK0, 4) & (kPageSize - 1));
  constexpr size_t kRoots = ShadowTables::kMaxTables + 100;
  const uint64_t roots = 0x00200000;
  for (size_t i = 0; i < kRoots; ++i) {
    const uint64_t root = roots + i * kPageSize;
    for (uint64_t o = 0; o < kPageSize; o += 8) m.pc.write<uint64_t>(root + o, 0);
    m.pc.write<uint64_t>(root + index, pml4e);
  }
  m.start(shared.cr3());
  for (size_t i = 0; i < kRoots; ++i) {
    m.load_cr3(roots + i * kPageSize);
    ASSERT_EQ(m.read(kK0), 0x5555u) << i;
  }
  EXPECT_EQ(m.walks(), 1u) << "every other root linked to the shared PDPT";
  EXPECT_GT(m.shadow().zapped_unlinked, kRoots - ShadowTables::kMaxTables);
  EXPECT_EQ(m.shadow().resets, 0u);
  EXPECT_LE(m.cache().shadow_tables_live(), ShadowTables::kMaxTables);
}

TEST(ShadowTables, TheTotalIsBoundedByAReset) {
  // More linked page tables than the bound: one 4-KiB page in each of 4,200 2-MiB regions.
  Machine m(PagingMode::k4Level);
  PageTables t(m.pc, PagingMode::k4Level, 0x100000);
  constexpr uint64_t kBase = 0x0000600000000000ull;
  constexpr uint64_t kRegions = ShadowTables::kMaxTables + 104;
  for (uint64_t i = 0; i < kRegions; ++i) t.map(kBase + (i << 21), kFarFrame, 1, kUserFlags);
  m.pc.write<uint64_t>(kFarFrame, 0x5555);
  m.pc.write<uint64_t>(kFarFrame + kPageSize, 0x6666);
  m.start(t.cr3());
  for (int round = 0; round < 2; ++round)
    for (uint64_t i = 0; i < kRegions; ++i) ASSERT_EQ(m.read(kBase + (i << 21)), 0x5555u) << i;
  EXPECT_GE(m.shadow().resets, 1u);
  EXPECT_GT(m.shadow().zapped_reset, 0u);
  EXPECT_LE(m.cache().shadow_tables_live(), ShadowTables::kMaxTables);
  // Still coherent after the reset: a traced write to a cached PTE is seen.
  const uint64_t last = kBase + ((kRegions - 1) << 21);
  const uint64_t pte = t.entry_addr(last, 1);
  t.map(0x0000700000000000ull, pte & kPageMask, 1, kUserFlags);
  write_mem<uint64_t>(m.cpu(), 0x0000700000000000ull + (pte & (kPageSize - 1)),
                      (kFarFrame + kPageSize) | kUserFlags);
  EXPECT_EQ(m.read(last), 0x6666u);
}

}  // namespace
}  // namespace umbra
