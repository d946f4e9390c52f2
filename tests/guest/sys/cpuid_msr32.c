// cpuid_msr, 32-bit part: CPUID leaves the kernels rely on, MSR access rules, the TSC.
// Only behaviour QEMU's default CPU and an SDM-correct CPU agree on is checked (vendor-neutral).
#include "cpu32.h"
#include "trap.h"
#include "x86.h"

static int printable(const char* s, int n) {
  for (int i = 0; i < n; ++i)
    if (s[i] < 0x20 || s[i] > 0x7e) return 0;
  return 1;
}

static void check_cpuid(void) {
  section("CPUID");
  struct cpuid_regs r0 = cpuid(0, 0);
  char vendor[13];
  memcpy(vendor + 0, &r0.ebx, 4);
  memcpy(vendor + 4, &r0.edx, 4);
  memcpy(vendor + 8, &r0.ecx, 4);
  vendor[12] = 0;
  kprintf("vendor '%s', max basic leaf 0x%x\n", vendor, r0.eax);
  check_true(printable(vendor, 12), "leaf 0: vendor string is 12 printable characters");
  check_true(r0.eax >= 1, "leaf 0: max basic leaf >= 1");

  // Leaf 1 EDX: the features the kernels use (SDM Vol. 2A, CPUID, Table 3-11).
  struct cpuid_regs r1 = cpuid(1, 0);
  static const struct {
    int bit;
    const char* name;
  } edx1[] = {{3, "PSE"}, {4, "TSC"}, {5, "MSR"}, {6, "PAE"}, {8, "CX8"}, {11, "SEP"}};
  for (unsigned i = 0; i < ARRAY_SIZE(edx1); ++i)
    check_eq((r1.edx >> edx1[i].bit) & 1, 1, "leaf 1: EDX.%s (bit %d)", edx1[i].name, edx1[i].bit);
  check_true(((r1.eax >> 8) & 0xf) != 0, "leaf 1: EAX family is nonzero (EAX=0x%x)", r1.eax);

  struct cpuid_regs e0 = cpuid(0x80000000, 0);
  kprintf("max extended leaf 0x%x\n", e0.eax);
  check_true(e0.eax >= 0x80000004, "leaf 0x80000000: max extended leaf >= 0x80000004");
  struct cpuid_regs e1 = cpuid(0x80000001, 0);
  check_eq((e1.edx >> 11) & 1, 1, "leaf 0x80000001: EDX.SYSCALL (bit 11)");
  check_eq((e1.edx >> 20) & 1, 1, "leaf 0x80000001: EDX.NX (bit 20)");
  check_eq((e1.edx >> 29) & 1, 1, "leaf 0x80000001: EDX.LM (bit 29)");

  char brand[49];
  for (uint32_t i = 0; i < 3; ++i) {
    struct cpuid_regs b = cpuid(0x80000002 + i, 0);
    memcpy(brand + 16 * i + 0, &b.eax, 4);
    memcpy(brand + 16 * i + 4, &b.ebx, 4);
    memcpy(brand + 16 * i + 8, &b.ecx, 4);
    memcpy(brand + 16 * i + 12, &b.edx, 4);
  }
  brand[48] = 0;
  size_t len = strlen(brand);
  kprintf("brand string '%s'\n", brand);
  check_true(len > 0 && len < 48, "brand string is NUL-terminated within 48 bytes (length %u)",
             (unsigned)len);
  check_true(printable(brand, (int)len), "brand string is printable");

  // CPUID is not privileged (no CPUID faulting enabled).
  int caught = USER_ASM("movl $0, %%eax\n\tcpuid");
  check_eq(caught, 1, "CPUID at CPL 3 returns to the kernel");
  expect_user_done("CPUID at CPL 3");
}

static void check_msr_rules(void) {
  section("MSR access rules");
  // RDMSR/WRMSR of an unimplemented MSR: #GP(0) (SDM Vol. 2B, RDMSR "Protected Mode Exceptions").
  // QEMU TCG reads unknown MSRs as 0 and ignores writes to them.
  trap_reset();
  int caught = TRY_ASM1("movl $0x12345678, %%ecx\n\t" FAULT_AT("rdmsr"), 0);
  check_eq_sdm(caught ? trap.vector : 0xff, 13, 0xff, "RDMSR of unimplemented MSR 0x12345678: #GP");
  if (caught) expect_trap("RDMSR of unimplemented MSR", 13, 0, probe_ip);
  trap_reset();
  caught = TRY_ASM3("movl $0x12345678, %%ecx\n\t" FAULT_AT("wrmsr"), 0, 0, 0);
  check_eq_sdm(caught ? trap.vector : 0xff, 13, 0xff, "WRMSR of unimplemented MSR 0x12345678: #GP");
  if (caught) expect_trap("WRMSR of unimplemented MSR", 13, 0, probe_ip);

  // RDMSR/WRMSR are privileged: #GP(0) at CPL > 0.
  trap_reset();
  caught = USER_ASM("movl $0x10, %%ecx\n\t" FAULT_AT("rdmsr"));
  expect_trap("RDMSR at CPL 3", 13, 0, probe_ip);
  check_eq(trap.cs, SEL32_UCODE | 3, "RDMSR at CPL 3: saved CS is the user code selector");
  trap_reset();
  caught = USER_ASM("movl $0x174, %%ecx\n\txorl %%eax, %%eax\n\txorl %%edx, %%edx\n\t" FAULT_AT("wrmsr"));
  expect_trap("WRMSR at CPL 3", 13, 0, probe_ip);
}

static void check_msr_round_trips(void) {
  section("MSR round trips (32-bit)");
  const uint64_t saved_cs = rdmsr(MSR_SYSENTER_CS);
  wrmsr(MSR_SYSENTER_CS, 0x0008);
  check_eq(rdmsr(MSR_SYSENTER_CS), 0x0008, "IA32_SYSENTER_CS round trip");
  wrmsr(MSR_SYSENTER_ESP, 0x12345670);
  check_eq(rdmsr(MSR_SYSENTER_ESP), 0x12345670, "IA32_SYSENTER_ESP round trip");
  wrmsr(MSR_SYSENTER_EIP, 0x00abcdef);
  check_eq(rdmsr(MSR_SYSENTER_EIP), 0x00abcdef, "IA32_SYSENTER_EIP round trip");
  wrmsr(MSR_SYSENTER_CS, saved_cs);

  const uint64_t efer = rdmsr(MSR_EFER);
  check_eq(efer & (EFER_LME | EFER_LMA), 0, "EFER.LME and LMA clear in protected mode");
  wrmsr(MSR_EFER, efer | EFER_NXE | EFER_SCE);
  check_eq(rdmsr(MSR_EFER) & (EFER_NXE | EFER_SCE), EFER_NXE | EFER_SCE, "EFER.NXE|SCE set");
  wrmsr(MSR_EFER, efer & ~(uint64_t)(EFER_NXE | EFER_SCE));
  check_eq(rdmsr(MSR_EFER) & (EFER_NXE | EFER_SCE), 0, "EFER.NXE|SCE cleared");
  wrmsr(MSR_EFER, efer);
  check_eq(rdmsr(MSR_EFER), efer, "EFER restored");

  wrmsr(MSR_STAR, 0x0023001000000000ull | 0x12345678);
  check_eq(rdmsr(MSR_STAR), 0x0023001012345678ull, "IA32_STAR round trip");
}

static void check_tsc(void) {
  section("time-stamp counter");
  uint64_t a = rdtsc();
  for (volatile int i = 0; i < 1000; ++i) {
  }
  uint64_t b = rdtsc();
  check_true(b > a, "RDTSC increases (0x%llx then 0x%llx)", (unsigned long long)a,
             (unsigned long long)b);
  // RDMSR of IA32_TSC reads the counter RDTSC reads, and WRMSR to it sets the counter (SDM
  // Vol. 3B, 18.17 Time-Stamp Counter). QEMU TCG keeps a separate variable for the MSR: RDMSR
  // returns what was last written and WRMSR does not move RDTSC.
  uint64_t m = rdmsr(MSR_TSC);
  check_true_sdm(m >= b && m - b < 0x100000000ull,
                 "RDMSR IA32_TSC (0x%llx) reads the counter RDTSC reads", (unsigned long long)m);
  const uint64_t target = 0x0000100000000000ull;
  wrmsr(MSR_TSC, target);
  uint64_t c = rdtsc();
  check_true_sdm(c >= target && c - target < 0x100000000ull,
                 "after WRMSR IA32_TSC=0x%llx, RDTSC=0x%llx is just above it",
                 (unsigned long long)target, (unsigned long long)c);
  // Going backwards works too: the counter drops below the value read before the write.
  wrmsr(MSR_TSC, 0x1000);
  uint64_t d = rdtsc();
  check_true_sdm(d >= 0x1000 && d < c, "after WRMSR IA32_TSC=0x1000, RDTSC=0x%llx is below 0x%llx",
                 (unsigned long long)d, (unsigned long long)c);
  uint64_t e = rdtsc();
  check_true(e > d, "RDTSC still increases after the write");

  // CR4.TSD: RDTSC is privileged when set (SDM Vol. 2B, RDTSC).
  int caught = USER_ASM("rdtsc");
  check_eq(caught, 1, "RDTSC at CPL 3 with CR4.TSD=0 returns");
  expect_user_done("RDTSC at CPL 3 with CR4.TSD=0");
  write_cr4(read_cr4() | (1u << 2));
  trap_reset();
  USER_ASM(FAULT_AT("rdtsc"));
  expect_trap("RDTSC at CPL 3 with CR4.TSD=1", 13, 0, probe_ip);
  write_cr4(read_cr4() & ~(1u << 2));
}

void kmain32(void) {
  check_cpuid();
  check_msr_rules();
  check_msr_round_trips();
  check_tsc();
  run_64bit_part();
}
