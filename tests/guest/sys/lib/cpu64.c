// Boot, descriptor tables and paging of the 64-bit part.
#include "cpu64.h"

#include "trap.h"
#include "x86.h"

uint64_t gdt[GDT_ENTRIES] ALIGNED(16);
struct gate64 idt[256] ALIGNED(16);
uint8_t tss_area[TSS64_AREA_SIZE] ALIGNED(128);
static uint8_t stacks[8][8192] ALIGNED(16);
static uint8_t user_stack[16384] ALIGNED(16);
uint64_t ist_stack_top[8];
extern char trap_stubs64[];

uint64_t trap_stub64(int vector) {
  return (uint64_t)trap_stubs64 + 16u * (uint64_t)vector;
}

void set_idt_stub(int vector, uint32_t type, int dpl, int ist) {
  idt[vector] = make_gate64(trap_stub64(vector), SEL64_KCODE, type, dpl, ist);
}

void reload_tss(uint32_t limit) {
  // A 64-bit TSS descriptor is 16 bytes: the upper half holds base[63:32] (SDM Vol. 3A, 8.2.3).
  uint64_t base = (uint64_t)tss_area;
  gdt[SEL64_TSS >> 3] = seg_desc((uint32_t)base, limit, ACC_P | TYPE_TSS_AVAIL, 0);
  gdt[(SEL64_TSS >> 3) + 1] = base >> 32;
  ltr(SEL64_TSS);
}

// ---- paging ----
uint64_t pml4[512] ALIGNED(4096);
static uint64_t pdpt[512] ALIGNED(4096);
static uint64_t pd[512] ALIGNED(4096);
static uint64_t pt_pool[16][512] ALIGNED(4096);
static unsigned pt_used;

static uint64_t* alloc_table(void) {
  if (pt_used == ARRAY_SIZE(pt_pool)) fatal("out of page tables");
  uint64_t* t = pt_pool[pt_used++];
  memset(t, 0, 4096);
  return t;
}

static void paging64_init(void) {
  for (uint64_t i = 0; i < 512; ++i) pd[i] = (i << 21) | PTE_PS | PTE_US | PTE_RW | PTE_P;
  pdpt[0] = (uint64_t)pd | PTE_US | PTE_RW | PTE_P;
  pml4[0] = (uint64_t)pdpt | PTE_US | PTE_RW | PTE_P;
  write_cr3((uint64_t)pml4);
}

volatile uint64_t* pte_of(uint64_t va) {
  if (va >= (1ull << 30))
    fatal("pte_of(%llx): only the first 1 GiB is mapped", (unsigned long long)va);
  uint64_t* pde = &pd[va >> 21];
  if (*pde & PTE_PS) {
    uint64_t* pt = alloc_table();
    uint64_t base = *pde & 0xfffffffffe00000ull & ~PTE_NX;
    for (uint64_t i = 0; i < 512; ++i) pt[i] = (base + (i << 12)) | PTE_US | PTE_RW | PTE_P;
    *pde = (uint64_t)pt | PTE_US | PTE_RW | PTE_P;
    write_cr3(read_cr3());  // the 2 MiB translation may be cached: flush all
  }
  uint64_t* pt = (uint64_t*)(*pde & PTE_ADDR);
  return &pt[(va >> 12) & 511];
}

void map_page(uint64_t va, uint64_t pa, uint64_t flags) {
  if (va < (1ull << 30))
    fatal("map_page(%llx): inside the identity-mapped 1 GiB", (unsigned long long)va);
  uint64_t* table = pml4;
  for (int shift = 39; shift > 12; shift -= 9) {
    uint64_t* e = &table[(va >> shift) & 511];
    if (!(*e & PTE_P)) *e = (uint64_t)alloc_table() | PTE_US | PTE_RW | PTE_P;
    table = (uint64_t*)(*e & PTE_ADDR);
  }
  table[(va >> 12) & 511] = (pa & PTE_ADDR) | flags;
  invlpg(va);
}

void set_pte(uint64_t va, uint64_t pte) {
  *pte_of(va) = pte;
  invlpg(va);
}

// ---- boot ----
static void cpu64_init(void) {
  gdt[0] = 0;
  gdt[SEL64_KCODE >> 3] = code64(0);
  gdt[SEL64_KDATA >> 3] = flat_data32(0);
  gdt[SEL64_UCODE32 >> 3] = flat_code32(3);
  gdt[SEL64_UDATA >> 3] = flat_data32(3);
  gdt[SEL64_UCODE >> 3] = code64(3);
  gdt[SEL64_KCODE32 >> 3] = flat_code32(0);
  lgdt(gdt, sizeof gdt - 1);
  // Reload CS with a far return (there is no far JMP ptr16:64).
  __asm__ volatile(
      "pushq %0\n\tleaq 1f(%%rip), %%rax\n\tpushq %%rax\n\tlretq\n1:\n\t"
      "movw %w1, %%ds\n\tmovw %w1, %%es\n\tmovw %w1, %%ss\n\t"
      "xorl %%eax, %%eax\n\tmovw %%ax, %%fs\n\tmovw %%ax, %%gs" ::"i"(SEL64_KCODE),
      "r"(SEL64_KDATA)
      : "rax", "memory");

  for (int i = 0; i < 8; ++i) ist_stack_top[i] = (uint64_t)(stacks[i] + sizeof stacks[i]);
  memset(tss_area, 0, sizeof tss_area);
  tss.rsp[0] = ist_stack_top[0];
  for (int i = 1; i < 8; ++i) tss.ist[i - 1] = ist_stack_top[i];
  tss.iomap_base = sizeof(struct tss64);
  reload_tss(sizeof(struct tss64) - 1);

  for (int v = 0; v < 256; ++v) set_idt_stub(v, TYPE_INT_GATE, 0, 0);
  set_idt_stub(8, TYPE_INT_GATE, 0, 1);  // #DF on its own stack
  set_idt_stub(3, TYPE_INT_GATE, 3, 0);
  set_idt_stub(4, TYPE_INT_GATE, 3, 0);
  set_idt_stub(VEC_USER_DONE, TYPE_INT_GATE, 3, 0);
  lidt(idt, sizeof idt - 1);

  paging64_init();
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  user_reset();
}

void user_reset(void) {
  user_cs = SEL64_UCODE | 3;
  user_ss = SEL64_UDATA | 3;
  user_sp = (ureg)(user_stack + sizeof user_stack);
  user_flags = EFL_FIXED;
}

static void record(const struct frame64* f) {
  trap.count++;
  trap.vector = (uint32_t)f->vector;
  trap.has_error = f->vector == 8 || (f->vector >= 10 && f->vector <= 14) || f->vector == 17 ||
                   f->vector == 21 || f->vector == 29 || f->vector == 30;
  trap.error_code = trap.has_error ? (uint32_t)f->error_code : 0;
  trap.ip = f->rip;
  trap.cs = f->cs & 0xffff;
  trap.flags = f->rflags;
  trap.stack_switched = 1;  // 64-bit mode always pushes SS:RSP
  trap.sp = f->rsp;
  trap.ss = f->ss & 0xffff;
  trap.entry_sp = trap.has_error ? (uint64_t)&f->error_code : (uint64_t)&f->rip;
  trap.cr2 = read_cr2();
  trap.dr6 = read_dr6();
  trap.handler_flags = read_flags();
  trap.handler_ss = read_ss();
  trap.ds = (uint16_t)f->ds;
  trap.es = (uint16_t)f->es;
  trap.fs = (uint16_t)f->fs;
  trap.gs = (uint16_t)f->gs;
  const uint64_t gprs[16] = {f->rax, f->rcx, f->rdx, f->rbx, 0,      f->rbp, f->rsi, f->rdi,
                             f->r8,  f->r9,  f->r10, f->r11, f->r12, f->r13, f->r14, f->r15};
  for (int i = 0; i < 16; ++i) trap.gpr[i] = gprs[i];
}

// Called by trap_common64. Returns 0 to recover into the armed probe, 1 to IRETQ.
uint32_t trap_dispatch64(struct frame64* f) {
  record(f);
  if (trap_hook && trap_hook(f)) return 1;
  if (catch_ip) return 0;
  kprintf("unexpected event:\n");
  print_trap();
  fatal("unexpected %s (vector %u) at %llx:%llx", vector_name((uint32_t)f->vector),
        (unsigned)f->vector, (unsigned long long)f->cs, (unsigned long long)f->rip);
}

void boot64(struct handoff* h) {
  report_state = *h;
  cpu64_init();
  trap_reset();
  check_eq(rdmsr(MSR_EFER) & EFER_LMA, EFER_LMA, "64-bit part: EFER.LMA set");
  kmain64();
  report_finish();
}
