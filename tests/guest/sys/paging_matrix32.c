// paging_matrix, 32-bit part: the permission matrix (paging_matrix.h) under 32-bit paging
// (4-KiB PTE and 4-MiB PSE PDE leaves; no XD) and PAE paging (4-KiB PTE and 2-MiB PDE leaves;
// XD in the leaf or the PDE; PDPTEs carry no rights), each followed by its reserved bits and
// implicit supervisor accesses; PAE also by the PDPTE reserved bits of MOV to CR3 / CR4. Then the
// 64-bit part runs 4-level paging.
// The kernel itself runs from an identity map of the first 64 MiB: user-accessible, as the test
// library needs for its ring-3 probes, except for the SMEP / SMAP / AC cases, which make it
// supervisor-only and run their ring-3 halves through a user alias of the low 4 MiB (kernel
// code, data and the library's user stack) at PM_USER_ALIAS.
#include "cpu32.h"
#include "paging_matrix.h"

#define VA (0x80000000u + PM_TARGET)  // 32-bit: PDE 522, PTE 0; PAE: PDPTE 2, PDE 20, PTE 0
#define IDENT_MB 64

// ---- 32-bit paging ----
static uint32_t pd32[1024] ALIGNED(4096);
static uint32_t pt32[1024] ALIGNED(4096);
static volatile uint32_t* const entries32[2] = {&pd32[VA >> 22], &pt32[(VA >> 12) & 1023]};

static void setup32(const struct pm_case* c) {
  const int n = c->levels;
  uint32_t e[2];
  e[0] = n == 1 ? PM_TARGET | 0x80 | 1 : (uint32_t)pt32 | 1;  // PS for the 4-MiB leaf
  e[1] = PM_TARGET | 1;
  for (int i = 0; i < n; ++i) {
    if (c->us & (1u << i)) e[i] |= 4;
    if (c->rw & (1u << i)) e[i] |= 2;
  }
  *entries32[0] = 0;
  *entries32[1] = 0;
  for (int i = n - 1; i >= 0; --i) *entries32[i] = e[i];
  invlpg(VA);
  invlpg(VA + PM_DATA_OFF);
}

static uint64_t entry32(const struct pm_case* c, int i) {
  (void)c;
  return *entries32[i];
}

static void modify32(int i, uint64_t set, uint64_t clear) {
  *entries32[i] = (*entries32[i] | (uint32_t)set) & ~(uint32_t)clear;
}

static void supervisor_kernel32(int on) {
  for (uint32_t i = 0; i < IDENT_MB / 4; ++i) pd32[i] = on ? pd32[i] & ~4u : pd32[i] | 4u;
  write_cr3(read_cr3());
}

// ---- PAE paging ----
static uint64_t pdpt_pae[4] ALIGNED(32);
static uint64_t pd_ident[512] ALIGNED(4096);
static uint64_t pd_alias[512] ALIGNED(4096);
static uint64_t pd_pae[512] ALIGNED(4096);
static uint64_t pt_pae[512] ALIGNED(4096);
static volatile uint64_t* const entries_pae[2] = {&pd_pae[(VA >> 21) & 511],
                                                  &pt_pae[(VA >> 12) & 511]};

static void setup_pae(const struct pm_case* c) {
  const int n = c->levels;
  uint64_t e[2];
  e[0] = n == 1 ? PM_TARGET | 0x80 | 1 : (uint32_t)pt_pae | 1;  // PS for the 2-MiB leaf
  e[1] = PM_TARGET | 1;
  for (int i = 0; i < n; ++i) {
    if (c->us & (1u << i)) e[i] |= 4;
    if (c->rw & (1u << i)) e[i] |= 2;
  }
  if (c->xd == 1) e[n - 1] |= 1ull << 63;
  if (c->xd == 2) e[0] |= 1ull << 63;
  *entries_pae[0] = 0;
  *entries_pae[1] = 0;
  for (int i = n - 1; i >= 0; --i) *entries_pae[i] = e[i];
  invlpg(VA);
  invlpg(VA + PM_DATA_OFF);
}

static uint64_t entry_pae(const struct pm_case* c, int i) {
  (void)c;
  return *entries_pae[i];
}

static void modify_pae(int i, uint64_t set, uint64_t clear) {
  *entries_pae[i] = (*entries_pae[i] | set) & ~clear;
}

static void supervisor_kernel_pae(int on) {
  for (uint32_t i = 0; i < 512; ++i) pd_ident[i] = on ? pd_ident[i] & ~4ull : pd_ident[i] | 4u;
  write_cr3(read_cr3());  // also reloads the PDPTEs (SDM vol. 3, 4.4.1)
}

// PAE PDPTEs live in registers, loaded by MOV to CR3 (and by the MOV to CR0/CR4 that change
// PG, PAE, PGE, PSE, SMEP, CD or NW under PAE paging). One with P = 1 and a reserved bit (2:1,
// 8:5, 63:MAXPHYADDR; table 4-8) makes that MOV #GP(0), and the PDPTEs are not loaded: the old
// ones stay in use (SDM vol. 3, 4.4.1). Ignored bits (11:9) and reserved bits with P = 0 load.
// Runs under PAE paging with the matrix's tables; one check per case.
static void pdpte_reserved(void) {
  section("PAE paging: PDPTE reserved bits (MOV to CR3, MOV to CR4)");
  const int maxphyaddr =
      (int)(cpuid(0x80000000, 0).eax >= 0x80000008 ? cpuid(0x80000008, 0).eax & 0xff : 36);
  const int has_pge = (cpuid(1, 0).edx >> 13) & 1;
  // A permissive 4-KiB walk to VA through PDPTE 2.
  const struct pm_case c = {.levels = 2, .us = 3, .rw = 3, .access = PM_READ};
  setup_pae(&c);
  const uint64_t good = pdpt_pae[2];
  const uint32_t cr3 = (uint32_t)pdpt_pae;
  const int bits[] = {1, 2, 5, 6, 7, 8, maxphyaddr, 51, 63, 9, 10, 11};
  const ureg cr4 = read_cr4();
  for (unsigned b = 0; b < ARRAY_SIZE(bits); ++b) {
    const int bit = bits[b], reserved = bit < 9 || bit > 11;
    for (int present = 1; present >= (reserved ? 0 : 1); --present) {
      pdpt_pae[2] = (good | (1ull << bit)) & ~(uint64_t)(present ? 0 : 1);
      const int want_gp = reserved && present;
      const char* what = reserved ? (present ? "reserved" : "reserved, P = 0") : "ignored";
      trap_reset();
      int faulted = TRY_ASM1(FAULT_AT("movl %%eax, %%cr3"), cr3);
      // The event as one value: vector << 16 | error code, or ~0 for none.
      uint32_t event = faulted ? trap.vector << 16 | trap.error_code : ~0u;
      // QEMU 7.2 TCG does not load PDPTEs at MOV to CR3 (it reads them at each walk): no #GP.
      if (want_gp) {
        check_eq_sdm(event, 13u << 16, ~0u, "MOV CR3 with PDPTE bit %d (%s): #GP(0)", bit, what);
        if (faulted) check_eq(trap.ip, probe_ip, "MOV CR3 #GP: saved IP = the MOV");
      } else {
        check_eq(event, ~0u, "MOV CR3 with PDPTE bit %d (%s): loads", bit, what);
      }
      // After the #GP the old PDPTEs stay in use: VA translates (no TLB entry left for it).
      invlpg(VA + PM_DATA_OFF);
      trap_reset();
      faulted = TRY_ASM1(FAULT_AT(PM_LOAD), VA + PM_DATA_OFF);
      event = faulted ? trap.vector << 16 | trap.error_code : ~0u;
      if (want_gp)
        check_eq_sdm(faulted, 0, 1, "PDPTE bit %d (%s): after the #GP the old PDPTEs translate VA",
                     bit, what);
      else if (!present)
        check_eq(event, 14u << 16, "PDPTE bit %d (%s): VA not present, #PF error code 0 (no RSVD)",
                 bit, what);
      else
        check_eq(event, ~0u, "PDPTE bit %d (%s): VA translates", bit, what);
      if (want_gp && has_pge) {
        // MOV to CR4 changing PGE under PAE paging loads the PDPTEs too: the same #GP, CR4 kept.
        trap_reset();
        faulted = TRY_ASM1(FAULT_AT("movl %%eax, %%cr4"), cr4 ^ CR4_PGE);
        event = faulted ? trap.vector << 16 | trap.error_code : ~0u;
        check_eq_sdm(event, 13u << 16, ~0u, "MOV CR4 (PGE) with PDPTE bit %d (%s): #GP(0)", bit,
                     what);
        check_eq_sdm(read_cr4(), cr4, cr4 ^ CR4_PGE,
                     "MOV CR4 (PGE) with PDPTE bit %d (%s): CR4 unchanged", bit, what);
        write_cr4(cr4);
      }
      pdpt_pae[2] = good;
      write_cr3(cr3);
    }
  }
}

static void paging_off(void) {
  write_cr0(read_cr0() & ~(ureg)CR0_PG);
  write_cr4(read_cr4() & ~(ureg)(CR4_PSE | CR4_PAE));
  write_cr3(0);
}

void kmain32(void) {
  const uint64_t efer0 = rdmsr(MSR_EFER);

  for (uint32_t i = 0; i < IDENT_MB / 4; ++i) pd32[i] = (i << 22) | 0x80 | 4 | 2 | 1;
  pd32[PM_USER_ALIAS >> 22] = 0x80 | 4 | 2 | 1;  // the user alias: one 4-MiB page at 0
  write_cr4(read_cr4() | CR4_PSE);
  write_cr3((uint32_t)pd32);
  write_cr0(read_cr0() | CR0_PG);
  const struct pm_mode m32 = {.name = "32-bit paging",
                              .kind = PM_KIND_32BIT,
                              .va = VA,
                              .has_xd = 0,
                              .level_options = {2, 1},
                              .level_names = {"4-KiB", "4-MiB"},
                              .num_options = 2,
                              .setup = setup32,
                              .entry = entry32,
                              .modify = modify32,
                              .supervisor_kernel = supervisor_kernel32};
  pm_run(&m32, efer0, read_cr0());
  pm_run_reserved(&m32, efer0, read_cr0());
  pm_run_implicit(&m32);
  paging_off();

  for (uint32_t i = 0; i < 512; ++i) pd_ident[i] = ((uint64_t)i << 21) | 0x80 | 4 | 2 | 1;
  for (uint32_t i = 0; i < 2; ++i) pd_alias[i] = ((uint64_t)i << 21) | 0x80 | 4 | 2 | 1;
  pdpt_pae[0] = (uint32_t)pd_ident | 1;
  pdpt_pae[PM_USER_ALIAS >> 30] = (uint32_t)pd_alias | 1;  // the user alias of the low 4 MiB
  pdpt_pae[2] = (uint32_t)pd_pae | 1;
  write_cr4(read_cr4() | CR4_PAE);
  write_cr3((uint32_t)pdpt_pae);
  write_cr0(read_cr0() | CR0_PG);
  const struct pm_mode mpae = {.name = "PAE paging",
                               .kind = PM_KIND_PAE,
                               .va = VA,
                               .has_xd = 1,
                               .level_options = {2, 1},
                               .level_names = {"4-KiB", "2-MiB"},
                               .num_options = 2,
                               .setup = setup_pae,
                               .entry = entry_pae,
                               .modify = modify_pae,
                               .supervisor_kernel = supervisor_kernel_pae};
  pm_run(&mpae, efer0, read_cr0());
  pm_run_reserved(&mpae, efer0, read_cr0());
  pm_run_implicit(&mpae);
  pdpte_reserved();
  paging_off();

  pm_finish();
  run_64bit_part();
}
