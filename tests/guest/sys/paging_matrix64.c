// paging_matrix, 64-bit part: the permission matrix of 4-level paging (paging_matrix.h): leaf
// size (4 KiB PTE, 2 MiB PDE, 1 GiB PDPTE when CPUID advertises 1-GiB pages) x U/S and R/W at
// every level x XD nowhere / in the leaf / in the PML4E x read, write, fetch x CPL 0, 3 x CR0.WP
// x EFER.NXE x CR4.SMEP x CR4.SMAP x EFLAGS.AC (as CPUID advertises SMEP and SMAP) x cold / warm
// TLB, then the reserved and ignored bits of every entry and the implicit supervisor accesses
// (an LDT on the target page). The SMEP / SMAP / AC cases make the library's
// identity map supervisor-only (U/S = 0 in its PDPTE 0) and run their ring-3 halves through a
// user alias of the low 8 MiB (the 64-bit part's code, data and the library's user stack) at
// PM_USER_ALIAS (PDPTE 1 of the same PML4E).
#include "cpu64.h"
#include "paging_matrix.h"

#define VA (0x0000008000000000ull + PM_TARGET)  // PML4 index 1, PDPT 0, PD 20, PT 0

static uint64_t pdpt[512] ALIGNED(4096);
static uint64_t pd[512] ALIGNED(4096);
static uint64_t pt[512] ALIGNED(4096);
static uint64_t pd_alias[512] ALIGNED(4096);

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

static void modify(int i, uint64_t set, uint64_t clear) {
  *entries[i] = (*entries[i] | set) & ~clear;
}

// The library's identity map: PML4E 0 -> its PDPT, whose entry 0 maps the first 1 GiB.
static uint64_t* identity_pdpt(void) {
  return (uint64_t*)(pml4[0] & PTE_ADDR);
}

static void supervisor_kernel(int on) {
  uint64_t* p = identity_pdpt();
  p[0] = on ? p[0] & ~PTE_US : p[0] | PTE_US;
  write_cr3(read_cr3());
}

void kmain64(void) {
  const int pages_1g = (cpuid(0x80000001, 0).edx >> 26) & 1;
  for (uint64_t i = 0; i < 4; ++i) pd_alias[i] = (i << 21) | PTE_PS | PTE_US | PTE_RW | PTE_P;
  identity_pdpt()[PM_USER_ALIAS >> 30] = (uint64_t)pd_alias | PTE_US | PTE_RW | PTE_P;
  const struct pm_mode m = {.name = "4-level paging",
                            .kind = PM_KIND_4LEVEL,
                            .va = VA,
                            .has_xd = 1,
                            .level_options = {4, 3, 2},
                            .level_names = {"4-KiB", "2-MiB", "1-GiB"},
                            .num_options = pages_1g ? 3 : 2,
                            .setup = setup,
                            .entry = entry,
                            .modify = modify,
                            .supervisor_kernel = supervisor_kernel};
  pm_run(&m, rdmsr(MSR_EFER), read_cr0());
  pm_run_reserved(&m, rdmsr(MSR_EFER), read_cr0());
  pm_run_implicit(&m);
  for (int i = 0; i < 4; ++i) *entries[i] = 0;
  invlpg(VA);
  pm_finish();
  report_finish();
}
