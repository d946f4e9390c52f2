// The translation cache (softmmu/translation_cache.h): per-view and per-address-space fast-TLB
// tables, CR3 loads that reuse a cached root, and the write tracing that keeps every cached
// translation coherent with the guest's page tables without INVLPG or a flush.
#include <gtest/gtest.h>

#include <cstdint>

#include "softmmu/access.h"
#include "softmmu/guest_memory.h"
#include "softmmu/paging_translator.h"
#include "softmmu/translation_cache.h"
#include "tests/unit/page_table_builder.h"

namespace umbra {
namespace {

using test::PageTables;
using test::PagingCpu;

constexpr uint64_t kUserFlags = pte::P | pte::RW | pte::US | pte::A | pte::D;
constexpr uint64_t kLinA = 0x0000400000001000ull;       // data pages
constexpr uint64_t kLinB = 0x0000400000002000ull;       // same page table as kLinA
constexpr uint64_t kLinTables = 0x0000500000000000ull;  // where page-table pages are mapped
constexpr uint64_t kFrame1 = 0x01000000, kFrame2 = 0x01001000, kFrame3 = 0x01002000;

// A 4-level CPU with the paging translator and one address space.
struct FourLevel {
  FourLevel() : t(pc, PagingMode::k4Level) {
    pc.enter(PagingMode::k4Level);
    pc.cpu().translator = &tr;
  }
  // Loads the tables' root (once the mappings are in place).
  void start() {
    pc.cpu().cr3 = t.cr3();
    tlb_flush_all(pc.cpu());
  }
  // A traced guest write: the leaf PTE of `linear` rewritten through a window onto its table
  // mapped at `window`.
  void rewrite_pte(uint64_t linear, uint64_t window, uint64_t value) {
    const uint64_t pte = t.entry_addr(linear, 1);
    t.map(window, pte & kPageMask, 1, kUserFlags);
    write_mem<uint64_t>(pc.cpu(), window + (pte & (kPageSize - 1)), value);
  }
  PagingCpu pc;
  PagingTranslator tr;
  PageTables t;
};

// A 4-level CPU with the paging translator and two address spaces whose tables live in
// separate pools; each maps kLinA/kLinB and a window onto its own leaf page table.
struct TwoSpaces {
  PagingCpu pc;
  PagingTranslator translator;
  PageTables a{pc, PagingMode::k4Level, 0x100000};
  PageTables b{pc, PagingMode::k4Level, 0x200000};

  TwoSpaces() {
    pc.enter(PagingMode::k4Level);
    cpu().translator = &translator;
    cpu().cr3 = a.cr3();
    for (PageTables* t : {&a, &b}) {
      t->map(kLinA, t == &a ? kFrame1 : kFrame2, 1, kUserFlags);
      t->map(kLinB, kFrame3, 1, kUserFlags);
    }
    // Each space maps the other's leaf page table and its own, writable, for the guest-side
    // page-table writes the tests make.
    a.map(kLinTables, leaf_table(a), 1, kUserFlags);
    a.map(kLinTables + kPageSize, leaf_table(b), 1, kUserFlags);
    b.map(kLinTables, leaf_table(b), 1, kUserFlags);
    pc.write<uint64_t>(kFrame1, 0x1111);
    pc.write<uint64_t>(kFrame2, 0x2222);
    pc.write<uint64_t>(kFrame3, 0x3333);
    tlb_flush_all(cpu());
  }
  CpuState& cpu() { return pc.cpu(); }
  TranslationCache& cache() { return translator.cache(); }
  static uint64_t leaf_table(PageTables& t) { return t.entry_addr(kLinA, 1) & kPageMask; }
  void load_cr3(uint64_t cr3) {
    cpu().cr3 = cr3;
    tlb_address_space_changed(cpu());
  }
  uint64_t walks() const { return translator.stats().walks; }
  uint64_t read(uint64_t linear) { return read_mem<uint64_t>(cpu(), linear); }
};

TEST(MmuTranslationCache, PrivilegeViewSwitchKeepsTheOtherView) {
  TwoSpaces m;
  EXPECT_EQ(m.read(kLinA), 0x1111u);
  const uint64_t w = m.walks();
  EXPECT_EQ(m.read(kLinA), 0x1111u);
  EXPECT_EQ(m.walks(), w) << "second read hits the fast TLB";

  uint8_t before = tlb_privilege_view(m.cpu());
  m.cpu().cpl = 3;
  tlb_flush_for_privilege_change(m.cpu(), before);
  EXPECT_NE(tlb_entry(m.cpu(), kLinA).tag_read, kLinA) << "the user view has its own table";
  const uint64_t hits = m.cache().stats().shadow_hits;
  EXPECT_EQ(m.read(kLinA), 0x1111u);
  EXPECT_EQ(m.walks(), w) << "the user view's miss is served by the shadow tables";
  EXPECT_EQ(m.cache().stats().shadow_hits, hits + 1);
  EXPECT_EQ(tlb_entry(m.cpu(), kLinA).tag_read, kLinA);

  before = tlb_privilege_view(m.cpu());
  m.cpu().cpl = 0;
  tlb_flush_for_privilege_change(m.cpu(), before);
  EXPECT_EQ(tlb_entry(m.cpu(), kLinA).tag_read, kLinA) << "the supervisor view survived";
  EXPECT_EQ(m.read(kLinA), 0x1111u);
  EXPECT_EQ(m.cache().stats().shadow_hits, hits + 1) << "no refill after returning to CPL 0";
  EXPECT_GE(m.cache().stats().view_switches, 2u);
}

TEST(MmuTranslationCache, Cr3LoadReusesTheCachedRootWithoutRefill) {
  TwoSpaces m;
  EXPECT_EQ(m.read(kLinA), 0x1111u);
  EXPECT_EQ(m.read(kLinB), 0x3333u);
  m.load_cr3(m.b.cr3());
  EXPECT_EQ(m.read(kLinA), 0x2222u) << "the other space's translation";
  EXPECT_EQ(m.read(kLinB), 0x3333u);
  const uint64_t w = m.walks();
  const uint64_t reused = m.cache().stats().roots_reused;
  for (int i = 0; i < 100; ++i) {
    m.load_cr3(m.a.cr3());
    EXPECT_EQ(m.read(kLinA), 0x1111u);
    EXPECT_EQ(m.read(kLinB), 0x3333u);
    m.load_cr3(m.b.cr3());
    EXPECT_EQ(m.read(kLinA), 0x2222u);
    EXPECT_EQ(m.read(kLinB), 0x3333u);
  }
  EXPECT_EQ(m.walks(), w) << "200 CR3 loads, no refill";
  EXPECT_EQ(m.cache().stats().roots_reused, reused + 200);
}

TEST(MmuTranslationCache, GuestWriteToAPteDropsExactlyItsTranslation) {
  TwoSpaces m;
  EXPECT_EQ(m.read(kLinA), 0x1111u);
  EXPECT_EQ(m.read(kLinB), 0x3333u);
  const uint64_t pte_a = m.a.entry_addr(kLinA, 1);
  const uint64_t pte_window = kLinTables + (pte_a & (kPageSize - 1));
  EXPECT_TRUE(m.pc.mem().is_table_page(pte_a));
  const uint64_t zaps = m.cache().stats().zaps;
  // The guest rewrites kLinA's PTE through its window (a traced page: slow path), no INVLPG.
  write_mem<uint64_t>(m.cpu(), pte_window, kFrame2 | kUserFlags);
  EXPECT_EQ(m.cache().stats().zaps, zaps + 1);
  EXPECT_NE(tlb_entry(m.cpu(), kLinA).tag_read, kLinA) << "kLinA's entry dropped";
  EXPECT_EQ(tlb_entry(m.cpu(), kLinB).tag_read, kLinB) << "kLinB's entry kept";
  EXPECT_EQ(m.read(kLinA), 0x2222u) << "the new translation, without INVLPG";
  // Rewriting the same value changes nothing and drops nothing.
  const uint64_t unchanged = m.cache().stats().tracing_writes_no_change;
  write_mem<uint64_t>(m.cpu(), pte_window, kFrame2 | kUserFlags);
  EXPECT_EQ(tlb_entry(m.cpu(), kLinA).tag_read, kLinA);
  EXPECT_EQ(m.cache().stats().tracing_writes_no_change, unchanged + 1);
  EXPECT_EQ(m.read(kLinA), 0x2222u);
}

TEST(MmuTranslationCache, WriteToAnInactiveSpacesTableIsSeenAfterItsCr3Load) {
  TwoSpaces m;
  m.load_cr3(m.b.cr3());
  EXPECT_EQ(m.read(kLinA), 0x2222u);  // cached in space b
  m.load_cr3(m.a.cr3());
  // From space a, rewrite b's PTE of kLinA (b's leaf table is mapped at kLinTables + 4 KiB).
  const uint64_t pte_b = m.b.entry_addr(kLinA, 1);
  write_mem<uint64_t>(m.cpu(), kLinTables + kPageSize + (pte_b & (kPageSize - 1)),
                      kFrame3 | kUserFlags);
  m.load_cr3(m.b.cr3());
  EXPECT_EQ(m.read(kLinA), 0x3333u) << "space b's cached translation was dropped while inactive";
}

TEST(MmuTranslationCache, PageTablePagesAreNeverWrittenDirectly) {
  TwoSpaces m;
  // Map a's leaf table writable and touch it first, so the TLB grants a direct write to it...
  const uint64_t pte_a = m.a.entry_addr(kLinA, 1);
  const uint64_t window = kLinTables + (pte_a & (kPageSize - 1));
  (void)read_mem<uint64_t>(m.cpu(), window);
  // ... then make it a page-table page by using it in a walk: the grant must be revoked.
  (void)m.read(kLinA);
  EXPECT_NE(tlb_entry(m.cpu(), window).tag_write, window & kPageMask);
  EXPECT_TRUE(m.pc.mem().is_write_tracked(pte_a));
  write_mem<uint64_t>(m.cpu(), window, kFrame3 | kUserFlags);
  EXPECT_EQ(m.read(kLinA), 0x3333u);
}

TEST(MmuTranslationCache, ManyRootsEvictLeastRecentlyUsedAndStayCorrect) {
  PagingCpu pc;
  PagingTranslator tr;
  pc.enter(PagingMode::k4Level);
  pc.cpu().translator = &tr;
  constexpr int kRoots = 3 * TranslationCache::kSpaces;
  std::vector<std::unique_ptr<PageTables>> spaces;
  for (int i = 0; i < kRoots; ++i) {
    spaces.push_back(std::make_unique<PageTables>(pc, PagingMode::k4Level, 0x100000 + i * 0x10000));
    spaces.back()->map(kLinA, 0x01000000 + i * kPageSize, 1, kUserFlags);
    pc.write<uint64_t>(0x01000000 + i * kPageSize, 1000 + i);
  }
  pc.cpu().cr3 = spaces[0]->cr3();
  tlb_flush_all(pc.cpu());
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kRoots; ++i) {
      pc.cpu().cr3 = spaces[(i * 5) % kRoots]->cr3();
      tlb_address_space_changed(pc.cpu());
      EXPECT_EQ(read_mem<uint64_t>(pc.cpu(), kLinA), 1000u + (i * 5) % kRoots);
    }
  }
  EXPECT_GT(tr.cache().stats().roots_evicted, 0u);
  EXPECT_LE(tr.cache().spaces().size(), TranslationCache::kSpaces);
}

TEST(MmuTranslationCache, PaeRootsAreKeyedByTheirPdpteRegisters) {
  PagingCpu pc;
  PagingTranslator tr;
  pc.enter(PagingMode::kPae);
  pc.cpu().translator = &tr;
  PageTables t(pc, PagingMode::kPae);
  t.map(0x00401000, kFrame1, 1, pte::P | pte::RW | pte::A | pte::D);
  pc.write<uint64_t>(kFrame1, 0x1111);
  pc.write<uint64_t>(kFrame2, 0x2222);
  pc.cpu().cr3 = t.cr3();
  ASSERT_TRUE(load_pae_pdptes(pc.cpu(), t.cr3()));
  tlb_flush_all(pc.cpu());
  EXPECT_EQ(read_mem<uint64_t>(pc.cpu(), 0x00401000), 0x1111u);
  // A second page directory for PDPTE 0, written to memory: not used until CR3 is reloaded.
  const uint64_t pd2 = 0x300000;
  for (uint64_t i = 0; i < kPageSize; i += 8) pc.write<uint64_t>(pd2 + i, 0);
  const uint64_t pt2 = 0x301000;
  for (uint64_t i = 0; i < kPageSize; i += 8) pc.write<uint64_t>(pt2 + i, 0);
  pc.write<uint64_t>(pd2 + 2 * 8, pt2 | pte::P | pte::RW);
  pc.write<uint64_t>(pt2 + 1 * 8, kFrame2 | pte::P | pte::RW | pte::A | pte::D);
  const uint64_t old_pdpte = pc.read<uint64_t>(t.cr3());
  pc.write<uint64_t>(t.cr3(), pd2 | pte::P);
  ASSERT_TRUE(load_pae_pdptes(pc.cpu(), t.cr3()));
  tlb_address_space_changed(pc.cpu());
  EXPECT_EQ(read_mem<uint64_t>(pc.cpu(), 0x00401000), 0x2222u) << "same CR3, new PDPTEs";
  pc.write<uint64_t>(t.cr3(), old_pdpte);
  ASSERT_TRUE(load_pae_pdptes(pc.cpu(), t.cr3()));
  tlb_address_space_changed(pc.cpu());
  EXPECT_EQ(read_mem<uint64_t>(pc.cpu(), 0x00401000), 0x1111u) << "old PDPTEs, old root";
}

TEST(MmuTranslationCache, FlushAllDropsEverythingAndUntracesTables) {
  TwoSpaces m;
  (void)m.read(kLinA);
  const uint64_t pte_a = m.a.entry_addr(kLinA, 1);
  EXPECT_TRUE(m.pc.mem().is_table_page(pte_a));
  tlb_flush_all(m.cpu());
  EXPECT_FALSE(m.pc.mem().is_table_page(pte_a));
  EXPECT_EQ(m.cache().rmap_records(), 0u);
  EXPECT_NE(tlb_entry(m.cpu(), kLinA).tag_read, kLinA);
}

TEST(MmuTranslationCache, ShadowTablesServeConflictMissesWithoutAWalk) {
  FourLevel m;
  PagingCpu& pc = m.pc;
  PagingTranslator& tr = m.tr;
  // 8192 pages: eight times the table size, so fills keep evicting each other.
  constexpr uint64_t kBase = 0x0000600000000000ull;
  constexpr uint64_t kPages = 8192;
  for (uint64_t i = 0; i < kPages; ++i) m.t.map(kBase + i * kPageSize, kFrame1, 1, kUserFlags);
  m.start();
  // A guest doing a thousand instructions of work per access: the misses are too rare to
  // make the table grow.
  for (int round = 0; round < 4; ++round) {
    for (uint64_t i = 0; i < kPages; ++i) {
      pc.cpu().insn_count += 1000;
      (void)read_mem<uint64_t>(pc.cpu(), kBase + i * kPageSize);
    }
  }
  EXPECT_EQ(tr.cache().stats().table_grows, 0u);
  EXPECT_EQ(tr.stats().walks, kPages) << "only the first round walks the guest tables";
  EXPECT_EQ(tr.cache().stats().shadow_hits, 3 * kPages);
  // A traced write to one PTE drops its shadow entry too: the next miss walks.
  m.rewrite_pte(kBase + 5 * kPageSize, kBase + kPages * kPageSize, kFrame2 | kUserFlags);
  const uint64_t walks = tr.stats().walks;
  pc.write<uint64_t>(kFrame2, 0x2222);
  EXPECT_EQ(read_mem<uint64_t>(pc.cpu(), kBase + 5 * kPageSize), 0x2222u);
  EXPECT_EQ(tr.stats().walks, walks + 1);
}

TEST(MmuTranslationCache, CostlyCapacityMissesGrowTheTableAndAFlushShrinksIt) {
  FourLevel m;
  PagingCpu& pc = m.pc;
  PagingTranslator& tr = m.tr;
  // 4096 pages, each on its own frame, read over and over with no other work in between: every
  // access of a 1024-entry table evicts another page, as in a sieve striding over a big array.
  constexpr uint64_t kBase = 0x0000600000000000ull;
  constexpr uint64_t kPages = 4096;
  constexpr uint64_t kFrames = 0x01000000;  // 16 MiB of frames: the top half of the RAM
  for (uint64_t i = 0; i < kPages; ++i) {
    m.t.map(kBase + i * kPageSize, kFrames + i * kPageSize, 1, kUserFlags);
    pc.write<uint64_t>(kFrames + i * kPageSize, i);
  }
  m.start();
  EXPECT_EQ(tlb_entries(pc.cpu()), kTlbSize);
  for (int round = 0; round < 3; ++round)
    for (uint64_t i = 0; i < kPages; ++i)
      ASSERT_EQ(read_mem<uint64_t>(pc.cpu(), kBase + i * kPageSize), i);
  EXPECT_GE(tr.cache().stats().table_grows, 1u);
  EXPECT_GE(tlb_entries(pc.cpu()), kPages);
  // Now every page has its own entry: a round misses nowhere.
  const uint64_t hits = tr.cache().stats().shadow_hits, walks = tr.stats().walks;
  for (uint64_t i = 0; i < kPages; ++i)
    ASSERT_EQ(read_mem<uint64_t>(pc.cpu(), kBase + i * kPageSize), i);
  EXPECT_EQ(tr.cache().stats().shadow_hits, hits);
  EXPECT_EQ(tr.stats().walks, walks);
  // Revoking the write grants to one frame finds its entry in the grown table (the revocation
  // scans only the tables whose page filter may hold the frame).
  const uint64_t kLin3 = kBase + 3 * kPageSize;
  write_mem<uint64_t>(pc.cpu(), kLin3, 3);
  ASSERT_EQ(tlb_entry(pc.cpu(), kLin3).tag_write, kLin3);
  tlb_revoke_write(pc.cpu(), kFrames + 3 * kPageSize);
  EXPECT_NE(tlb_entry(pc.cpu(), kLin3).tag_write, kLin3);
  EXPECT_EQ(tlb_entry(pc.cpu(), kLin3).tag_read, kLin3) << "only the write grant goes";
  // The grown table stays coherent: a traced write to one PTE drops that page's entry.
  m.rewrite_pte(kBase + 5 * kPageSize, kBase + kPages * kPageSize,
                (kFrames + 7 * kPageSize) | kUserFlags);
  EXPECT_EQ(read_mem<uint64_t>(pc.cpu(), kBase + 5 * kPageSize), 7u);
  // A full flush returns the space to the smallest table.
  tlb_flush_all(pc.cpu());
  EXPECT_EQ(tlb_entries(pc.cpu()), kTlbSize);
  EXPECT_EQ(read_mem<uint64_t>(pc.cpu(), kBase + 9 * kPageSize), 9u);
}

TEST(MmuTranslationCache, InvlpgDropsAWholeLargePageButOnlyOneSmallPage) {
  PagingCpu pc;
  PagingTranslator tr;
  pc.enter(PagingMode::k4Level);
  pc.cpu().translator = &tr;
  PageTables t(pc, PagingMode::k4Level);
  constexpr uint64_t kLarge = 0x0000700000000000ull;  // a 2-MiB page
  constexpr uint64_t kSmall = 0x0000700040000000ull;  // 4-KiB pages
  t.map(kLarge, 0x00800000, 2, kUserFlags);
  t.map(kSmall, kFrame1, 1, kUserFlags);
  t.map(kSmall + kPageSize, kFrame2, 1, kUserFlags);
  pc.cpu().cr3 = t.cr3();
  tlb_flush_all(pc.cpu());
  const uint64_t pieces[] = {kLarge + 0x3000, kLarge + 0x101000, kLarge + 0x1ff000};
  for (uint64_t a : pieces) (void)read_mem<uint64_t>(pc.cpu(), a);
  (void)read_mem<uint64_t>(pc.cpu(), kSmall);
  (void)read_mem<uint64_t>(pc.cpu(), kSmall + kPageSize);
  // INVLPG of a 4-KiB page: that page only.
  tlb_invlpg(pc.cpu(), kSmall + 0x10);
  EXPECT_NE(tlb_entry(pc.cpu(), kSmall).tag_read, kSmall);
  EXPECT_EQ(tlb_entry(pc.cpu(), kSmall + kPageSize).tag_read, kSmall + kPageSize);
  for (uint64_t a : pieces) EXPECT_EQ(tlb_entry(pc.cpu(), a).tag_read, a);
  // INVLPG anywhere in the 2-MiB page: every 4-KiB piece of it in the TLB, and its shadow leaf.
  tlb_invlpg(pc.cpu(), kLarge + 0x77123);
  for (uint64_t a : pieces) EXPECT_NE(tlb_entry(pc.cpu(), a).tag_read, a) << std::hex << a;
  EXPECT_EQ(tlb_entry(pc.cpu(), kSmall + kPageSize).tag_read, kSmall + kPageSize);
  const uint64_t walks = tr.stats().walks;
  for (uint64_t a : pieces) (void)read_mem<uint64_t>(pc.cpu(), a);
  EXPECT_EQ(tr.stats().walks, walks + 1)
      << "the 2-MiB page's shadow leaf was dropped: one walk refills it for all three pieces";
}

TEST(MmuTranslationCache, ReverseMapAndShadowTablesStayBounded) {
  PagingCpu pc;
  PagingTranslator tr;
  pc.enter(PagingMode::k4Level);
  pc.cpu().translator = &tr;
  PageTables t(pc, PagingMode::k4Level);
  // 70,000 pages: far more than the fast TLB holds, so fills keep evicting each other and the
  // reverse map keeps growing with records of evicted entries.
  constexpr uint64_t kBase = 0x0000600000000000ull;
  constexpr uint64_t kPages = 70000;
  for (uint64_t i = 0; i < kPages; ++i) t.map(kBase + i * kPageSize, kFrame1, 1, kUserFlags);
  pc.cpu().cr3 = t.cr3();
  tlb_flush_all(pc.cpu());
  for (int round = 0; round < 3; ++round)
    for (uint64_t i = 0; i < kPages; ++i) (void)read_mem<uint64_t>(pc.cpu(), kBase + i * kPageSize);
  EXPECT_EQ(tr.stats().walks, kPages) << "rounds 2 and 3 are served by the shadow tables";
  EXPECT_GT(tr.cache().stats().rmap_prunes, 0u);
  // One shadow table per guest table: 137 page tables, a PD, a PDPT and the PML4.
  EXPECT_EQ(tr.cache().shadow_tables_live(), (kPages + 511) / 512 + 3);
  // Live records: four levels for each valid TLB entry, twice that between two collections.
  EXPECT_LE(tr.cache().rmap_records(),
            size_t{2} * 4 * ((size_t{1} << 16) + kTlbSize * TranslationCache::kViews));
}

}  // namespace
}  // namespace umbra
