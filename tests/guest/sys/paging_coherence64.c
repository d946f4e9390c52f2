// paging_coherence: translation coherence under 4-level paging, checking only what the SDM
// guarantees (vol. 3, 4.10.4: invalidation of TLBs and paging-structure caches):
//  - a PTE changed from not present to present needs no invalidation (4.10.4.3);
//  - a changed PTE is seen after INVLPG of the page, or after MOV to CR3 for a non-global page;
//  - a global page survives nothing after INVLPG or a CR4.PGE toggle;
//  - A/D bits are set again after they are cleared and the page is invalidated (4.8);
//  - 64 address spaces sharing the kernel's tables: every translation right after each CR3
//    load, including after a change to a shared table made while another space was active;
//  - a fork-like storm: copy-on-write protection, child tables rebuilt in the same physical
//    pages every generation, COW breaks on both sides;
//  - self-modifying code through an alias mapping, and remapping the code page;
//  - page-crossing data accesses and fetches, with a fault on the second page leaving memory
//    unchanged (CR2 = the first byte of the faulting page).
#include "cpu64.h"
#include "trap.h"
#include "x86.h"

#define VA_BASE 0x0000008000000000ull                // PML4 entry 1: the per-address-space region
#define PAGE(i) (SCRATCH_BASE + (uint64_t)(i)*4096)  // data pages, 16 MiB .. 20 MiB
#define TABLES_BASE (SCRATCH_BASE + 0x400000)        // page tables, 20 MiB .. 31 MiB
#define TABLES_END (SCRATCH_BASE + 0xF00000)
#define RW_P (PTE_RW | PTE_P)
// The page the spaces share through one page table, at a fast-TLB index no kernel code, stack
// or data page of this kernel uses (so nothing but coherence can drop its cached translation).
#define SHARED_OFF 0x2F0000ull

static uint64_t next_table = TABLES_BASE;

static uint64_t* new_table(void) {
  if (next_table >= TABLES_END) fatal("out of page tables");
  uint64_t* t = (uint64_t*)next_table;
  next_table += 4096;
  memset(t, 0, 4096);
  return t;
}

// The PTE of `va` in the tables rooted at `root`, creating missing tables.
static volatile uint64_t* pte_in(uint64_t* root, uint64_t va) {
  uint64_t* table = root;
  for (int shift = 39; shift > 12; shift -= 9) {
    uint64_t* e = &table[(va >> shift) & 511];
    if (!(*e & PTE_P)) *e = (uint64_t)new_table() | PTE_US | PTE_RW | PTE_P;
    table = (uint64_t*)(*e & PTE_ADDR);
  }
  return &table[(va >> 12) & 511];
}

// A new address space sharing the kernel's identity map (PML4 entry 0: its PDPT and PD).
static uint64_t* new_space(void) {
  uint64_t* r = new_table();
  r[0] = pml4[0];
  return r;
}

static void fill_page(uint64_t pa, uint64_t value) {
  volatile uint64_t* p = (volatile uint64_t*)pa;
  for (int i = 0; i < 512; ++i) p[i] = value + (uint64_t)i;
}

#define RD(va) (*(volatile uint64_t*)(va))
#define WR(va, v) (*(volatile uint64_t*)(va) = (v))

static int faults_read(uint64_t va) {
  return TRY_ASM1(FAULT_AT("movq (%%rax), %%rbx"), va);
}
static int faults_write(uint64_t va) {
  return TRY_ASM1(FAULT_AT("movq $0x5a5a, (%%rax)"), va);
}

static void expect_pf(const char* what, int faulted, uint64_t cr2, uint32_t error) {
  check_true(faulted, "%s: faults", what);
  if (!faulted) return;
  check_eq(trap.vector, 14, "%s: #PF", what);
  check_eq(trap.error_code, error, "%s: error code", what);
  check_eq(trap.cr2, cr2, "%s: CR2", what);
}

// ---- a PTE changed and re-accessed ----
static void test_pte_change(void) {
  section("PTE changes with and without invalidation");
  const uint64_t va = VA_BASE;
  volatile uint64_t* pte = pte_in(pml4, va);
  fill_page(PAGE(0), 0xA000);
  fill_page(PAGE(1), 0xB000);

  *pte = 0;
  invlpg(va);
  trap_reset();
  expect_pf("read, PTE not present", faults_read(va + 8), va + 8, 0);
  // P 0 -> 1: no invalidation needed (SDM vol. 3, 4.10.4.3).
  *pte = PAGE(0) | RW_P;
  check_eq(RD(va + 8), 0xA001, "P 0->1 without INVLPG: the new page is read");
  *pte = PAGE(1) | RW_P;
  invlpg(va);
  check_eq(RD(va + 8), 0xB001, "remapped with INVLPG: the new page is read");
  *pte = PAGE(0) | RW_P;
  write_cr3(read_cr3());
  check_eq(RD(va + 16), 0xA002, "remapped, MOV CR3: the new page is read");
  WR(va + 16, 0x1234);
  check_eq(RD(PAGE(0) + 16), 0x1234, "write through the new mapping lands in the new page");
  *pte = PAGE(1) | PTE_P;  // read-only
  invlpg(va);
  trap_reset();
  expect_pf("write to a page made read-only, INVLPG, CR0.WP=1", faults_write(va + 24), va + 24, 3);
  check_eq(RD(PAGE(1) + 24), 0xB003, "the faulting write changed nothing");
  check_eq(RD(va + 24), 0xB003, "the read-only page is still readable");

  // Accessed and dirty flags are set again once cleared and invalidated (SDM vol. 3, 4.8).
  *pte = PAGE(1) | RW_P;
  invlpg(va);
  (void)RD(va);
  check_eq(*pte & (PTE_A | PTE_D), PTE_A, "read: A set, D clear");
  WR(va, 7);
  check_eq(*pte & (PTE_A | PTE_D), PTE_A | PTE_D, "write: D set");
  *pte &= ~(PTE_A | PTE_D);
  invlpg(va);
  WR(va, 8);
  check_eq(*pte & (PTE_A | PTE_D), PTE_A | PTE_D, "A/D cleared, INVLPG, write: both set again");
  *pte &= ~(PTE_A | PTE_D);
  write_cr3(read_cr3());
  (void)RD(va);
  check_eq(*pte & (PTE_A | PTE_D), PTE_A, "A/D cleared, MOV CR3, read: A set again");

  // Present -> not present.
  *pte = 0;
  invlpg(va);
  trap_reset();
  expect_pf("PTE cleared, INVLPG: read", faults_read(va + 0x100), va + 0x100, 0);

  // A changed page-directory entry (non-leaf): a second page table.
  *pte = PAGE(0) | RW_P;
  invlpg(va);
  (void)RD(va);
  uint64_t* pd = (uint64_t*)(pml4[1] & PTE_ADDR);
  pd = (uint64_t*)(pd[0] & PTE_ADDR);
  uint64_t* pt2 = new_table();
  pt2[0] = PAGE(1) | RW_P;
  const uint64_t old_pde = pd[0];
  pd[0] = (uint64_t)pt2 | PTE_US | RW_P;
  invlpg(va);
  check_eq(RD(va + 8), 0xB001, "PDE switched to another page table, INVLPG: new translation");
  pd[0] = old_pde;
  write_cr3(read_cr3());
  check_eq(RD(va + 8), 0xA001, "PDE restored, MOV CR3: old translation");

  // Global pages (CR4.PGE): INVLPG and toggling CR4.PGE drop them (SDM vol. 3, 4.10.4.1).
  if (cpuid(1, 0).edx & (1u << 13)) {
    write_cr4(read_cr4() | CR4_PGE);
    *pte = PAGE(0) | RW_P | PTE_G;
    invlpg(va);
    check_eq(RD(va + 8), 0xA001, "global page: read");
    *pte = PAGE(1) | RW_P | PTE_G;
    write_cr3(read_cr3());
    uint64_t seen = RD(va + 8);  // either translation is allowed after MOV CR3
    check_true(seen == 0xA001 || seen == 0xB001, "global page after MOV CR3: old or new page");
    invlpg(va);
    check_eq(RD(va + 8), 0xB001, "global page remapped, INVLPG: the new page");
    *pte = PAGE(0) | RW_P | PTE_G;
    write_cr4(read_cr4() & ~CR4_PGE);
    write_cr4(read_cr4() | CR4_PGE);
    check_eq(RD(va + 8), 0xA001, "global page remapped, CR4.PGE toggled: the new page");
    write_cr4(read_cr4() & ~CR4_PGE);
  }
  *pte = 0;
  invlpg(va);
}

// ---- 64 address spaces sharing the kernel's tables ----
#define NSPACES 64
static uint64_t* spaces[NSPACES];

static void test_address_spaces(void) {
  section("64 address spaces sharing kernel tables");
  const uint64_t kernel_cr3 = read_cr3();
  volatile uint64_t* shared_pte = 0;
  for (int i = 0; i < NSPACES; ++i) {
    spaces[i] = new_space();
    *pte_in(spaces[i], VA_BASE) = PAGE(100 + i) | RW_P;
    fill_page(PAGE(100 + i), (uint64_t)i << 32);
    // VA_BASE + 2 MiB: one page table shared by every space (PDE copied from space 0).
    if (i == 0) {
      shared_pte = pte_in(spaces[0], VA_BASE + SHARED_OFF);
      *shared_pte = PAGE(200) | RW_P;
    } else {
      uint64_t* pdpt = (uint64_t*)(spaces[i][1] & PTE_ADDR);
      uint64_t* pd = (uint64_t*)(pdpt[0] & PTE_ADDR);
      uint64_t* pdpt0 = (uint64_t*)(spaces[0][1] & PTE_ADDR);
      uint64_t* pd0 = (uint64_t*)(pdpt0[0] & PTE_ADDR);
      pd[1] = pd0[1];
    }
  }
  fill_page(PAGE(200), 0x5100);
  fill_page(PAGE(201), 0x5200);
  fill_page(PAGE(202), 0x6600);
  fill_page(PAGE(203), 0x7700);

  // Every translation after every CR3 load, several rounds, with writes.
  int bad = 0;
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < NSPACES; ++i) {
      write_cr3((uint64_t)spaces[i]);
      const uint64_t want = ((uint64_t)i << 32) + 3 + (uint64_t)round;
      if (RD(VA_BASE + 24) != want) ++bad;
      WR(VA_BASE + 24, want + 1);
      if (RD(VA_BASE + SHARED_OFF + 8) != 0x5101) ++bad;
      if (RD((uint64_t)&next_table) != next_table) ++bad;  // the shared kernel half
    }
  }
  write_cr3(kernel_cr3);
  check_eq(bad, 0, "8 rounds x 64 CR3 loads: private, shared and kernel translations");
  int bad_phys = 0;
  for (int i = 0; i < NSPACES; ++i)
    if (RD(PAGE(100 + i) + 24) != ((uint64_t)i << 32) + 3 + 8) ++bad_phys;
  check_eq(bad_phys, 0, "each space's writes landed in its own page");

  // A shared page table changed while space 0 is active (INVLPG there only): every other space
  // sees the change after its CR3 load (non-global translations do not survive MOV CR3). Done
  // for the first 4 spaces (a working set any TLB tagging scheme keeps cached) and for all 64.
  static const int subsets[] = {4, NSPACES};
  for (unsigned n = 0; n < ARRAY_SIZE(subsets); ++n) {
    const int count = subsets[n];
    for (int r = 0; r < 3; ++r)
      for (int i = 0; i < count; ++i) {
        write_cr3((uint64_t)spaces[i]);
        (void)RD(VA_BASE + SHARED_OFF);  // cache the current translation
      }
    write_cr3((uint64_t)spaces[0]);
    const uint64_t page = n == 0 ? 202 : 201;
    *shared_pte = PAGE(page) | RW_P;
    invlpg(VA_BASE + SHARED_OFF);
    bad = 0;
    for (int i = 0; i < count; ++i) {
      write_cr3((uint64_t)spaces[i]);
      if (RD(VA_BASE + SHARED_OFF + 8) != (page == 202 ? 0x6601 : 0x5201)) ++bad;
    }
    check_eq(bad, 0, "shared page table rewritten in space 0: all %d spaces see it", count);
  }

  // A shared kernel table (the identity map's PD, PML4 entry 0 of every space) changed from
  // space 7: the 2 MiB page at 38 MiB now maps 36 MiB, in every space (read at +1 MiB, a
  // fast-TLB index no code uses).
  for (int i = 0; i < NSPACES; ++i) {
    write_cr3((uint64_t)spaces[i]);
    (void)RD(0x2700000);  // cache the old translation everywhere
  }
  *(volatile uint64_t*)0x2500000 = 0x2828;
  *(volatile uint64_t*)0x2700000 = 0x3030;
  write_cr3((uint64_t)spaces[7]);
  uint64_t* kpdpt = (uint64_t*)(pml4[0] & PTE_ADDR);
  volatile uint64_t* kpd = (volatile uint64_t*)(kpdpt[0] & PTE_ADDR);
  const uint64_t old_kpde = kpd[19];
  kpd[19] = 0x2400000 | PTE_PS | PTE_US | RW_P;
  invlpg(0x2700000);
  bad = 0;
  for (int i = NSPACES - 1; i >= 0; --i) {  // most recently used first
    write_cr3((uint64_t)spaces[i]);
    if (RD(0x2700000) != 0x2828) ++bad;
  }
  check_eq(bad, 0, "shared kernel PDE rewritten in space 7: all 64 spaces see it");
  kpd[19] = old_kpde;
  write_cr3(kernel_cr3);
  check_eq(RD(0x2700000), 0x3030, "kernel PDE restored, MOV CR3");

  // Reverse order and a stride, so no fixed pattern of roots is the only one that works.
  bad = 0;
  for (int k = 0; k < 4 * NSPACES; ++k) {
    const int i = (k * 37 + 11) % NSPACES;
    write_cr3((uint64_t)spaces[i]);
    if ((RD(VA_BASE + 24) >> 32) != (uint64_t)i) ++bad;
    if (RD(VA_BASE + SHARED_OFF) != 0x5200) ++bad;
  }
  write_cr3(kernel_cr3);
  check_eq(bad, 0, "256 CR3 loads in a strided order");
}

// ---- a fork-like storm ----
#define NPAGES 64
static void test_fork_storm(void) {
  section("fork-like storm of page-table rewrites");
  const uint64_t kernel_cr3 = read_cr3();
  uint64_t* parent = new_space();
  uint64_t parent_val[NPAGES], parent_pa[NPAGES];
  volatile uint64_t* ppte[NPAGES];
  for (int k = 0; k < NPAGES; ++k) {
    parent_pa[k] = PAGE(300 + k);
    parent_val[k] = 0xF0000 + (uint64_t)k;
    WR(parent_pa[k], parent_val[k]);
    ppte[k] = pte_in(parent, VA_BASE + (uint64_t)k * 4096);
    *ppte[k] = parent_pa[k] | RW_P;
  }
  // The child's four tables are rebuilt in the same physical pages every generation, as a
  // process's freed page tables get reused: every rebuild is a write to a traced table.
  uint64_t* child = new_space();
  volatile uint64_t* cpte0 = pte_in(child, VA_BASE);
  uint64_t* child_pt = (uint64_t*)((uint64_t)cpte0 & ~0xFFFull);
  uint64_t* child_pd = (uint64_t*)(((uint64_t*)(child[1] & PTE_ADDR))[0] & PTE_ADDR);
  uint64_t* child_pdpt = (uint64_t*)(child[1] & PTE_ADDR);

  int bad = 0, fault_bad = 0;
  const int generations = 150;
  for (int gen = 0; gen < generations; ++gen) {
    // fork: write-protect the parent (copy on write), copy its PTEs into the child.
    write_cr3((uint64_t)parent);
    for (int k = 0; k < NPAGES; ++k) *ppte[k] &= ~(uint64_t)PTE_RW;
    write_cr3((uint64_t)parent);
    memset(child_pt, 0, 4096);
    memset(child_pd, 0, 4096);
    memset(child_pdpt, 0, 4096);
    memset(child, 0, 4096);
    child[0] = pml4[0];
    child[1] = (uint64_t)child_pdpt | PTE_US | RW_P;
    child_pdpt[0] = (uint64_t)child_pd | PTE_US | RW_P;
    child_pd[0] = (uint64_t)child_pt | PTE_US | RW_P;
    for (int k = 0; k < NPAGES; ++k) child_pt[k] = *ppte[k] & ~(uint64_t)(PTE_A | PTE_D);

    // The child sees the parent's pages, read-only.
    write_cr3((uint64_t)child);
    for (int k = 0; k < NPAGES; ++k)
      if (RD(VA_BASE + (uint64_t)k * 4096) != parent_val[k]) ++bad;
    const int k0 = gen % NPAGES;
    const uint64_t va0 = VA_BASE + (uint64_t)k0 * 4096;
    trap_reset();
    if (!faults_write(va0) || trap.error_code != 3 || trap.cr2 != va0) ++fault_bad;
    // Child COW break: a private copy.
    const uint64_t copy = PAGE(400 + (gen & 1) * NPAGES + k0);
    WR(copy, RD(va0));
    child_pt[k0] = copy | RW_P;
    invlpg(va0);
    WR(va0, 0xC0000 + (uint64_t)gen);
    if (RD(va0) != 0xC0000 + (uint64_t)gen) ++bad;
    if (RD(parent_pa[k0]) != parent_val[k0]) ++bad;

    // Parent COW break on another page, then the child exits: the parent gets RW back.
    write_cr3((uint64_t)parent);
    const int k1 = (gen * 7 + 3) % NPAGES;
    const uint64_t va1 = VA_BASE + (uint64_t)k1 * 4096;
    trap_reset();
    if (!faults_write(va1) || trap.error_code != 3 || trap.cr2 != va1) ++fault_bad;
    *ppte[k1] |= PTE_RW;
    invlpg(va1);
    parent_val[k1] += 0x100;
    WR(va1, parent_val[k1]);
    for (int k = 0; k < NPAGES; ++k) *ppte[k] |= PTE_RW;
    write_cr3((uint64_t)parent);
    for (int k = 0; k < NPAGES; ++k)
      if (RD(VA_BASE + (uint64_t)k * 4096) != parent_val[k]) ++bad;
  }
  write_cr3(kernel_cr3);
  check_eq(bad, 0, "%d generations: parent and child contents after every rewrite", generations);
  check_eq(fault_bad, 0, "%d generations: COW writes fault (error 3, CR2) on both sides",
           2 * generations);
}

// ---- self-modifying code through an alias mapping ----
static void test_smc_alias(void) {
  section("self-modifying code through an alias mapping");
  const uint64_t code_va = VA_BASE + 0x600000, alias_va = VA_BASE + 0x601000;
  *pte_in(pml4, code_va) = PAGE(500) | RW_P;
  *pte_in(pml4, alias_va) = PAGE(500) | RW_P;
  invlpg(code_va);
  invlpg(alias_va);
  volatile uint8_t* alias = (volatile uint8_t*)alias_va;
  uint32_t (*fn)(void) = (uint32_t(*)(void))code_va;
  alias[0] = 0xB8;  // mov eax, imm32
  alias[5] = 0xC3;  // ret
  int bad = 0;
  for (uint32_t n = 0; n < 200; ++n) {
    const uint32_t v = 0x10000 * n + 0x55;
    *(volatile uint32_t*)(alias_va + 1) = v;
    if (fn() != v) ++bad;
  }
  check_eq(bad, 0, "200 rewrites of an immediate through the alias, each one executed");
  // Remap the code page to another physical page holding other code.
  volatile uint8_t* other = (volatile uint8_t*)PAGE(501);
  other[0] = 0xB8;
  *(volatile uint32_t*)(PAGE(501) + 1) = 0xC0DE;
  other[5] = 0xC3;
  *pte_in(pml4, code_va) = PAGE(501) | RW_P;
  invlpg(code_va);
  check_eq(fn(), 0xC0DE, "code page remapped, INVLPG: the new code runs");
  *pte_in(pml4, code_va) = PAGE(500) | RW_P;
  invlpg(code_va);
  check_eq(fn(), 0x10000 * 199 + 0x55, "remapped back: the old code runs");
}

// ---- page-crossing accesses ----
static void test_page_crossing(void) {
  section("page-crossing accesses");
  const uint64_t va = VA_BASE + 0x800000;
  volatile uint64_t* pte0 = pte_in(pml4, va);
  volatile uint64_t* pte1 = pte_in(pml4, va + 0x1000);
  fill_page(PAGE(600), 0);
  fill_page(PAGE(602), 0);
  *pte0 = PAGE(600) | RW_P;
  *pte1 = PAGE(602) | RW_P;  // not physically contiguous
  invlpg(va);
  invlpg(va + 0x1000);
  WR(va + 0xFFC, 0x1122334455667788ull);
  check_eq(*(volatile uint32_t*)(PAGE(600) + 0xFFC), 0x55667788, "crossing write: first page");
  check_eq(*(volatile uint32_t*)PAGE(602), 0x11223344, "crossing write: second page");
  check_eq(RD(va + 0xFFC), 0x1122334455667788ull, "crossing read");

  *pte1 = 0;
  invlpg(va + 0x1000);
  trap_reset();
  expect_pf("crossing write, second page not present", faults_write(va + 0xFFA), va + 0x1000, 2);
  check_eq(*(volatile uint32_t*)(PAGE(600) + 0xFFC), 0x55667788,
           "the faulting crossing write left the first page unchanged");
  *pte1 = PAGE(602) | PTE_P;
  invlpg(va + 0x1000);
  trap_reset();
  expect_pf("crossing write, second page read-only", faults_write(va + 0xFFA), va + 0x1000, 3);
  check_eq(*(volatile uint32_t*)(PAGE(600) + 0xFFC), 0x55667788,
           "the faulting crossing write left the first page unchanged (read-only)");
  *pte1 = 0;
  invlpg(va + 0x1000);
  trap_reset();
  expect_pf("crossing read, second page not present", faults_read(va + 0xFFE), va + 0x1000, 0);

  // An instruction straddling the pages: mov eax, imm32 (5 bytes) at 0xFFD, then ret.
  volatile uint8_t* code = (volatile uint8_t*)(PAGE(600) + 0xFFD);
  code[0] = 0xB8;
  code[1] = 0x78;
  code[2] = 0x56;
  *(volatile uint8_t*)(PAGE(602) + 0) = 0x34;
  *(volatile uint8_t*)(PAGE(602) + 1) = 0x12;
  *(volatile uint8_t*)(PAGE(602) + 2) = 0xC3;
  *pte1 = PAGE(602) | RW_P;
  invlpg(va + 0x1000);
  uint32_t (*fn)(void) = (uint32_t(*)(void))(va + 0xFFD);
  check_eq(fn(), 0x12345678, "instruction fetched across the page boundary");
  *pte1 = 0;
  invlpg(va + 0x1000);
  trap_reset();
  int f = TRY_ASM1(FAULT_AT("callq *%%rax"), va + 0xFFD);
  check_true(f, "fetch across into a not-present page: faults");
  check_eq(trap.vector, 14, "fetch across: #PF");
  check_eq(trap.cr2, va + 0x1000, "fetch across: CR2 is the first byte of the second page");
  check_eq(trap.error_code & ~0x10u, 0, "fetch across: error code (not present, read)");
  check_eq(trap.ip, va + 0xFFD, "fetch across: saved RIP is the straddling instruction");
}

void kmain64(void) {
  write_cr0(read_cr0() | CR0_WP);
  test_pte_change();
  test_address_spaces();
  test_fork_storm();
  test_smc_alias();
  test_page_crossing();
  report_finish();
}
