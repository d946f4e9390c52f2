// paging_cr3_switch: the CR3-switch workload of bench/cr3_switch (docs/bench.md), also run as a
// guest test with small counts, checking every translation it uses.
//
//  - switch: SPACES address spaces sharing the kernel's tables (PML4 entry 0), each with PAGES
//    private pages at VA_BASE holding its own index; SWITCHES times: MOV CR3 to the next space
//    and read one word of each private page (a context switch that touches its working set).
//  - pti: a user address space and a kernel address space; SYSCALLS times from CPL 3: SYSCALL,
//    MOV CR3 to the kernel space, read KPAGES kernel-only pages, MOV CR3 back to the user space,
//    SYSRET (the two CR3 writes per system call of page-table isolation).
//
// Multiboot command line (all optional): spaces=N pages=N switches=N syscalls=N kpages=N.
#include "cpu64.h"
#include "trap.h"
#include "x86.h"

#define VA_BASE 0x0000008000000000ull   // PML4 entry 1: per-address-space pages
#define KVA_BASE 0x0000010000000000ull  // PML4 entry 2: kernel-only pages (pti)
#define PAGE(i) (SCRATCH_BASE + (uint64_t)(i)*4096)
#define TABLES_BASE (SCRATCH_BASE + 0x800000)
#define TABLES_END (SCRATCH_BASE + 0xF00000)
#define MAX_SPACES 128  // PAGE() of every space stays below TABLES_BASE
#define MAX_PAGES 16

static uint64_t next_table = TABLES_BASE;

static uint64_t* new_table(void) {
  if (next_table >= TABLES_END) fatal("out of page tables");
  uint64_t* t = (uint64_t*)next_table;
  next_table += 4096;
  memset(t, 0, 4096);
  return t;
}

static volatile uint64_t* pte_in(uint64_t* root, uint64_t va) {
  uint64_t* table = root;
  for (int shift = 39; shift > 12; shift -= 9) {
    uint64_t* e = &table[(va >> shift) & 511];
    if (!(*e & PTE_P)) *e = (uint64_t)new_table() | PTE_US | PTE_RW | PTE_P;
    table = (uint64_t*)(*e & PTE_ADDR);
  }
  return &table[(va >> 12) & 511];
}

// ---- parameters ----
static unsigned long param(const char* name, unsigned long dflt, unsigned long max) {
  const uint32_t* mbi = (const uint32_t*)(uint64_t)report_state.multiboot_info;
  if (!mbi || !(mbi[0] & (1u << 2))) return dflt;
  const char* s = (const char*)(uint64_t)mbi[4];
  const size_t n = strlen(name);
  for (const char* p = s; (p = strstr_k(p, name)) != 0; p += n) {
    if ((p != s && p[-1] != ' ') || p[n] != '=') continue;
    unsigned long v = 0;
    for (const char* q = p + n + 1; *q >= '0' && *q <= '9'; ++q)
      v = v * 10 + (unsigned long)(*q - '0');
    return v == 0 ? dflt : (v > max ? max : v);
  }
  return dflt;
}

// ---- switch ----
static uint64_t* spaces[MAX_SPACES];

static void bench_switch(unsigned nspaces, unsigned npages, unsigned long switches) {
  section("CR3 switches among address spaces");
  for (unsigned i = 0; i < nspaces; ++i) {
    spaces[i] = new_table();
    spaces[i][0] = pml4[0];
    for (unsigned k = 0; k < npages; ++k) {
      const uint64_t pa = PAGE(i * MAX_PAGES + k);
      *(volatile uint64_t*)pa = ((uint64_t)i << 16) | k;
      *pte_in(spaces[i], VA_BASE + (uint64_t)k * 4096) = pa | PTE_RW | PTE_P;
    }
  }
  const uint64_t kernel_cr3 = read_cr3();
  unsigned long bad = 0;
  unsigned i = 0;
  for (unsigned long s = 0; s < switches; ++s) {
    write_cr3((uint64_t)spaces[i]);
    for (unsigned k = 0; k < npages; ++k)
      if (*(volatile uint64_t*)(VA_BASE + (uint64_t)k * 4096) != (((uint64_t)i << 16) | k)) ++bad;
    if (++i == nspaces) i = 0;
  }
  write_cr3(kernel_cr3);
  check_eq(bad, 0, "%lu CR3 switches among %u spaces, %u pages each: every read correct", switches,
           nspaces, npages);
}

// ---- pti ----
uint64_t pti_kernel_cr3, pti_user_cr3, pti_syscalls, pti_kpages, pti_bad;

// SYSCALL entry (IA32_LSTAR): switch to the kernel space, read the kernel pages, switch back,
// SYSRET. RCX and R11 carry the return RIP and RFLAGS; no stack is used.
__asm__(
    ".text\n"
    ".globl pti_entry\n"
    "pti_entry:\n\t"
    "movq pti_kernel_cr3(%rip), %rax\n\t"
    "movq %rax, %cr3\n\t"
    "incq pti_syscalls(%rip)\n\t"
    "movq pti_kpages(%rip), %rdx\n\t"
    "movabsq $0x0000010000000000, %rsi\n"
    "1:\n\t"
    "cmpq %rsi, (%rsi)\n\t"  // each kernel page holds its own address
    "je 2f\n\t"
    "incq pti_bad(%rip)\n"
    "2:\n\t"
    "addq $4096, %rsi\n\t"
    "decq %rdx\n\t"
    "jnz 1b\n\t"
    "movq pti_user_cr3(%rip), %rax\n\t"
    "movq %rax, %cr3\n\t"
    "sysretq\n");
void pti_entry(void);

static void bench_pti(unsigned kpages, unsigned long syscalls) {
  section("system calls with a CR3 switch each way (PTI style)");
  // The kernel space: the kernel's own tables plus kernel-only pages at KVA_BASE.
  uint64_t* kroot = new_table();
  kroot[0] = pml4[0];
  for (unsigned k = 0; k < kpages; ++k) {
    const uint64_t pa = 0x2000000 + (uint64_t)k * 4096;  // 32 MiB..
    *(volatile uint64_t*)pa = KVA_BASE + (uint64_t)k * 4096;
    *pte_in(kroot, KVA_BASE + (uint64_t)k * 4096) = pa | PTE_RW | PTE_P;
  }
  // The user space: the identity map (the kernel's code, the user stack) but no KVA_BASE.
  uint64_t* uroot = new_table();
  uroot[0] = pml4[0];
  pti_kernel_cr3 = (uint64_t)kroot;
  pti_user_cr3 = (uint64_t)uroot;
  pti_kpages = kpages;
  pti_syscalls = 0;
  pti_bad = 0;

  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1);  // SCE
  wrmsr(MSR_STAR, ((uint64_t)SEL64_UCODE32 << 48) | ((uint64_t)SEL64_KCODE << 32));
  wrmsr(MSR_LSTAR, (uint64_t)pti_entry);
  wrmsr(MSR_SFMASK, EFL_TF | EFL_IF | EFL_DF | EFL_AC);

  const uint64_t kernel_cr3 = read_cr3();
  write_cr3(pti_user_cr3);
  trap_reset();
  USER_ASM1("movq %%rax, %%r12\n3:\n\tsyscall\n\tdecq %%r12\n\tjnz 3b\n\t", syscalls);
  write_cr3(kernel_cr3);
  expect_user_done("system-call loop");
  check_eq(pti_syscalls, syscalls, "every SYSCALL reached the kernel");
  check_eq(pti_bad, 0, "every kernel-page read in the kernel space correct");
}

void kmain64(void) {
  const unsigned nspaces = (unsigned)param("spaces", 16, MAX_SPACES);
  const unsigned npages = (unsigned)param("pages", 4, MAX_PAGES);
  const unsigned long switches = param("switches", 4000, ~0ul);
  const unsigned kpages = (unsigned)param("kpages", 4, 64);
  const unsigned long syscalls = param("syscalls", 4000, ~0ul);
  bench_switch(nspaces, npages, switches);
  bench_pti(kpages, syscalls);
  report_finish();
}
