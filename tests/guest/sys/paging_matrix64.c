// paging_matrix, 64-bit part: the permission matrix of 4-level paging (paging_matrix.h): leaf
// size (4 KiB PTE, 2 MiB PDE, 1 GiB PDPTE when CPUID advertises 1-GiB pages) x U/S and R/W at
// every level x XD nowhere / in the leaf / in the PML4E x read, write, fetch x CPL 0, 3 x CR0.WP
// x EFER.NXE x CR4.SMEP x CR4.SMAP x EFLAGS.AC (as CPUID advertises SMEP and SMAP) x cold / warm
// TLB, then the reserved and ignored bits of every entry, the implicit supervisor accesses (an
// LDT on the target page) and accesses across a page boundary. The SMEP / SMAP / AC cases make the
// library's identity map supervisor-only (U/S = 0 in its PDPTE 0) and run their ring-3 halves
// through a user alias of the low 8 MiB (the 64-bit part's code, data and the library's user stack)
// at PM_USER_ALIAS (PDPTE 1 of the same PML4E).
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

// ---- accesses across a page boundary ----
// An 8-byte access at VA + 4092 touches the target page (PTE 0) and the next one (PTE 1, the
// next physical page): it is allowed only if both pages allow it, a fault writes neither page
// and sets no D in a page that forbids it, and CR2 is in the first page that forbids it (SDM
// vol. 3, 4.6: the rights of every byte's translation; 4.7, 4.8). Pages: supervisor or user each;
// read or write; CPL 0 without SMAP, CPL 0 with SMAP at AC 0 and 1, CPL 3.
#define CROSS_AT (VA + 4096 - 4)
#define CROSS_STORE "movq %%rcx, (%%rax)"
#define CROSS_OLD 0x1111111111111111ull
#define CROSS_NEW 0x2222222222222222ull

static int cross_access(int write, int cpl, int ac) {
  pm_trap_reset();
  if (cpl == 0 && !ac)
    return write ? TRY_ASM3(FAULT_AT(CROSS_STORE), CROSS_AT, CROSS_NEW, 0)
                 : TRY_ASM1(FAULT_AT(PM_LOAD), CROSS_AT);
  if (cpl == 0)
    return write ? TRY_ASM3(FAULT_AFTER(PM_SET_AC, CROSS_STORE) PM_CLEAR_AC, CROSS_AT, CROSS_NEW, 0)
                 : TRY_ASM1(FAULT_AFTER(PM_SET_AC, PM_LOAD) PM_CLEAR_AC, CROSS_AT);
  user_sp += PM_USER_ALIAS;
  if (write)
    TRY_ASM3(MARK_PROBE PM_USER_ENTRY_ALIAS "1:\t" CROSS_STORE "\n2:\n\tint $0x80\n\t", CROSS_AT,
             CROSS_NEW, 0);
  else
    PM_USER_ALIAS_ASM1(PM_LOAD, CROSS_AT);
  user_reset();
  return trap.vector != VEC_USER_DONE;
}

static void cross_page(void) {
  section("4-level paging: accesses across a page boundary (U/S, SMAP)");
  const int has_smap = (pm_leaf7_ebx() >> 20) & 1;
  const ureg cr4_0 = read_cr4();
  volatile uint64_t* const phys = (volatile uint64_t*)(ureg)(PM_TARGET + 4096 - 4);  // unaligned
  unsigned long n = 0, bad_fault = 0, bad_other = 0;
  supervisor_kernel(1);
  // how: 0 CPL 0 without SMAP, 1 CPL 0 with SMAP and AC = 0, 2 the same with AC = 1, 3 CPL 3.
  for (int how = 0; how < 4; ++how) {
    const int cpl = how == 3 ? 3 : 0, smap = how == 1 || how == 2, ac = how == 2;
    if (smap && !has_smap) continue;
    for (int us = 0; us < 4; ++us)  // bit 0: the first page is a user page, bit 1: the second
      for (int write = 0; write < 2; ++write) {
        pml4[1] = (uint64_t)pdpt | PTE_US | PTE_RW | PTE_P;
        pdpt[0] = (uint64_t)pd | PTE_US | PTE_RW | PTE_P;
        pd[20] = (uint64_t)pt | PTE_US | PTE_RW | PTE_P;
        pt[0] = PM_TARGET | PTE_RW | PTE_P | (us & 1 ? PTE_US : 0);
        pt[1] = (PM_TARGET + 4096) | PTE_RW | PTE_P | (us & 2 ? PTE_US : 0);
        invlpg(VA + 4096 - 4);
        invlpg(VA + 4096);
        *phys = CROSS_OLD;
        write_cr4(cr4_0 | (smap ? PM_CR4_SMAP : 0));
        const int faulted = cross_access(write, cpl, ac);
        write_cr4(cr4_0);
        ++n;
        // A page forbids the access: CPL 3 and a supervisor page, or SMAP, AC = 0 and a user
        // page at CPL 0.
        const int forbid_a = cpl == 3 ? !(us & 1) : smap && !ac && (us & 1);
        const int forbid_b = cpl == 3 ? !(us & 2) : smap && !ac && (us & 2);
        const uint32_t want =
            forbid_a || forbid_b ? 0x10000 | 1 | (write ? 2 : 0) | (cpl == 3 ? 4 : 0) : 0;
        const uint32_t got = faulted ? 0x10000 | (trap.vector == 14 ? trap.error_code : 0xFFFF) : 0;
        if (got != want) {
          if (++bad_fault <= 8)
            kprintf("mismatch: cross-page %s CPL%d SMAP=%d AC=%d pages %s/%s: got %x want %x\n",
                    write ? "write" : "read", cpl, smap, ac, us & 1 ? "user" : "supervisor",
                    us & 2 ? "user" : "supervisor", got, want);
          continue;
        }
        const uint64_t d = PTE_D, a = PTE_A;
        int ok;
        if (faulted) {
          const ureg cr2_lo = forbid_a ? CROSS_AT : VA + 4096;
          const ureg cr2_hi = forbid_a ? CROSS_AT : VA + 4096 + 3;
          const ureg ip = probe_ip + (cpl == 3 ? PM_USER_ALIAS : 0);
          // No D in a page that forbids the write. The page that allows it may get D from the
          // translation made for the write before the other page faulted (Umbra and QEMU both
          // set it; the SDM does not say), so it is not checked.
          ok = trap.cr2 >= cr2_lo && trap.cr2 <= cr2_hi && trap.ip == ip && *phys == CROSS_OLD &&
               !(forbid_a && (pt[0] & d)) && !(forbid_b && (pt[1] & d));
        } else {
          ok = *phys == (write ? CROSS_NEW : CROSS_OLD) && (pt[0] & a) && (pt[1] & a) &&
               !!(pt[0] & d) == write && !!(pt[1] & d) == write;
        }
        if (!ok && ++bad_other <= 8)
          kprintf(
              "mismatch: cross-page %s CPL%d SMAP=%d AC=%d pages %s/%s: cr2 %llx ip %llx "
              "memory %llx PTEs %llx %llx\n",
              write ? "write" : "read", cpl, smap, ac, us & 1 ? "user" : "supervisor",
              us & 2 ? "user" : "supervisor", (unsigned long long)trap.cr2,
              (unsigned long long)trap.ip, (unsigned long long)*phys, (unsigned long long)pt[0],
              (unsigned long long)pt[1]);
      }
  }
  supervisor_kernel(0);
  pt[1] = 0;
  invlpg(VA + 4096);
  check_eq(bad_fault, 0,
           "%lu page-crossing accesses: fault exactly when a page forbids it, error "
           "code P | W | U",
           n);
  check_eq(bad_other, 0,
           "%lu page-crossing accesses: CR2 in the first forbidding page, saved IP; "
           "a fault writes nothing and sets no D in a forbidding page; else the bytes of both "
           "pages, A in both PTEs, D in both after a write",
           n);
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
  cross_page();
  for (int i = 0; i < 4; ++i) *entries[i] = 0;
  invlpg(VA);
  pm_finish();
  report_finish();
}
