// paging_matrix, 64-bit part: the permission matrix of 4-level paging (paging_matrix.h): leaf
// size (4 KiB PTE, 2 MiB PDE, 1 GiB PDPTE when CPUID advertises 1-GiB pages) x U/S and R/W at
// every level x XD nowhere / in the leaf / in the PML4E x read, write, fetch x CPL 0, 3 x CR0.WP
// x EFER.NXE. SMEP and SMAP are not in the matrix: the test library maps the kernel's own code
// and stacks user-accessible, which SMEP/SMAP would forbid to the kernel itself; the walker's
// unit matrix (tests/unit/page_walk_test.cpp) covers them.
#include "cpu64.h"
#include "paging_matrix.h"

#define VA (0x0000008000000000ull + PM_TARGET)  // PML4 index 1, PDPT 0, PD 20, PT 0

static uint64_t pdpt[512] ALIGNED(4096);
static uint64_t pd[512] ALIGNED(4096);
static uint64_t pt[512] ALIGNED(4096);

// The walk's entries, root first: PML4E, PDPTE, PDE, PTE.
static volatile uint64_t* const entries[4] = {&pml4[1], &pdpt[0], &pd[20], &pt[0]};

static void setup(const struct pm_case* c) {
  const int n = c->levels;
  uint64_t e[4];
  e[0] = (uint64_t)pdpt | PTE_P;
  e[1] = n == 2 ? PTE_PS | PTE_P : (uint64_t)pd | PTE_P;  // 1 GiB leaf: physical 0
  e[2] = n == 3 ? PM_TARGET | PTE_PS | PTE_P : (uint64_t)pt | PTE_P;
  e[3] = PM_TARGET | PTE_P;
  for (int i = 0; i < n; ++i) {
    if (c->us & (1u << i)) e[i] |= PTE_US;
    if (c->rw & (1u << i)) e[i] |= PTE_RW;
  }
  if (c->xd == 1) e[n - 1] |= PTE_NX;
  if (c->xd == 2) e[0] |= PTE_NX;
  for (int i = 0; i < 4; ++i) *entries[i] = 0;
  for (int i = n - 1; i >= 0; --i) *entries[i] = e[i];
  invlpg(VA);
  invlpg(VA + PM_DATA_OFF);
}

static uint64_t entry(const struct pm_case* c, int i) {
  (void)c;
  return *entries[i];
}

void kmain64(void) {
  const int pages_1g = (cpuid(0x80000001, 0).edx >> 26) & 1;
  struct pm_mode m = {"4-level paging", VA,    1,    {4, 3, 2}, {"4-KiB", "2-MiB", "1-GiB"},
                      pages_1g ? 3 : 2, setup, entry};
  pm_run(&m, rdmsr(MSR_EFER), read_cr0());
  for (int i = 0; i < 4; ++i) *entries[i] = 0;
  invlpg(VA);
  pm_finish();
  report_finish();
}
