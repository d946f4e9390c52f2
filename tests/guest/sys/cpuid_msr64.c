// cpuid_msr, 64-bit part: the long-mode MSRs (EFER, STAR, LSTAR, CSTAR, SFMASK, FS/GS bases,
// KERNEL_GS_BASE) and SWAPGS.
#include "cpu64.h"
#include "trap.h"
#include "x86.h"

static uint64_t gs_area_a[4] = {0x1111111111111111ull, 0, 0, 0};
static uint64_t gs_area_b[4] = {0x2222222222222222ull, 0, 0, 0};

static uint64_t read_gs0(void) {
  uint64_t v;
  __asm__ volatile("movq %%gs:0, %0" : "=r"(v));
  return v;
}

static void check_long_mode_msrs(void) {
  section("long-mode MSRs");
  uint64_t efer = rdmsr(MSR_EFER);
  check_eq(efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA, "EFER.LME and EFER.LMA set");

  static const struct {
    uint32_t msr;
    const char* name;
    uint64_t value;
  } trips[] = {
      {MSR_STAR, "IA32_STAR", 0x001b000800000000ull},
      {MSR_LSTAR, "IA32_LSTAR", 0xffff800012345678ull},
      {MSR_CSTAR, "IA32_CSTAR", 0x00007fff87654320ull},
      {MSR_SFMASK, "IA32_FMASK", 0x00047700ull},
      {MSR_KERNEL_GS_BASE, "IA32_KERNEL_GS_BASE", 0xffffffff80001000ull},
      {MSR_FS_BASE, "IA32_FS_BASE", 0x00007f0000001000ull},
      {MSR_GS_BASE, "IA32_GS_BASE", 0x0000000000402000ull},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(trips); ++i) {
    uint64_t old = rdmsr(trips[i].msr);
    wrmsr(trips[i].msr, trips[i].value);
    check_eq(rdmsr(trips[i].msr), trips[i].value, "%s round trip", trips[i].name);
    wrmsr(trips[i].msr, old);
  }

  // FS/GS bases are also the hidden bases of FS and GS in 64-bit mode.
  wrmsr(MSR_GS_BASE, (uint64_t)gs_area_a);
  check_eq(read_gs0(), gs_area_a[0], "GS-relative load uses IA32_GS_BASE");
}

static void check_swapgs(void) {
  section("SWAPGS");
  wrmsr(MSR_GS_BASE, (uint64_t)gs_area_a);
  wrmsr(MSR_KERNEL_GS_BASE, (uint64_t)gs_area_b);
  __asm__ volatile("swapgs" ::: "memory");
  check_eq(rdmsr(MSR_GS_BASE), (uint64_t)gs_area_b, "SWAPGS: GS base takes KERNEL_GS_BASE");
  check_eq(rdmsr(MSR_KERNEL_GS_BASE), (uint64_t)gs_area_a, "SWAPGS: KERNEL_GS_BASE takes GS base");
  check_eq(read_gs0(), gs_area_b[0], "SWAPGS: GS-relative load reads the new base");
  __asm__ volatile("swapgs" ::: "memory");
  check_eq(rdmsr(MSR_GS_BASE), (uint64_t)gs_area_a, "second SWAPGS restores GS base");
  check_eq(read_gs0(), gs_area_a[0], "second SWAPGS: GS-relative load reads the old base");

  // SWAPGS is privileged (SDM Vol. 2B, SWAPGS: #GP(0) if CPL != 0).
  trap_reset();
  USER_ASM(FAULT_AT("swapgs"));
  expect_trap("SWAPGS at CPL 3", 13, 0, probe_ip);
  check_eq(rdmsr(MSR_GS_BASE), (uint64_t)gs_area_a, "faulting SWAPGS left GS base alone");
  wrmsr(MSR_GS_BASE, 0);
  wrmsr(MSR_KERNEL_GS_BASE, 0);
}

static void check_canonical_msr_writes(void) {
  section("non-canonical MSR writes");
  // WRMSR of a non-canonical address to LSTAR / KERNEL_GS_BASE: #GP(0) (SDM Vol. 2B, WRMSR:
  // "If the source register contains a non-canonical address and ECX specifies one of the
  // following MSRs: IA32_DS_AREA, IA32_FS_BASE, IA32_GS_BASE, IA32_KERNEL_GS_BASE, IA32_LSTAR,
  // IA32_SYSENTER_EIP, IA32_SYSENTER_ESP").
  static const struct {
    uint32_t msr;
    const char* name;
  } msrs[] = {{MSR_LSTAR, "IA32_LSTAR"},
              {MSR_KERNEL_GS_BASE, "IA32_KERNEL_GS_BASE"},
              {MSR_FS_BASE, "IA32_FS_BASE"}};
  for (unsigned i = 0; i < ARRAY_SIZE(msrs); ++i) {
    uint64_t old = rdmsr(msrs[i].msr);
    trap_reset();
    int caught = TRY_ASM3(FAULT_AT("wrmsr"), 0x00000000u, msrs[i].msr, 0x00008000u);
    check_eq_sdm(caught ? trap.vector : 0xff, 13, 0xff, "WRMSR %s = 0x0000800000000000: #GP",
                 msrs[i].name);
    if (caught) check_eq(trap.error_code, 0, "WRMSR %s non-canonical: error code", msrs[i].name);
    wrmsr(msrs[i].msr, old);
  }
}

void kmain64(void) {
  check_long_mode_msrs();
  check_swapgs();
  check_canonical_msr_writes();
}
