// Boot and descriptor tables of the 32-bit part.
#include "cpu32.h"

#include "trap.h"
#include "x86.h"

uint64_t gdt[GDT_ENTRIES] ALIGNED(16);
uint64_t idt[256] ALIGNED(16);
uint8_t tss_area[TSS32_AREA_SIZE] ALIGNED(128);
static uint8_t ring0_stack[16384] ALIGNED(16);
static uint8_t user_stack[16384] ALIGNED(16);
extern char trap_stubs32[];

uint32_t trap_stub32(int vector) {
  return (uint32_t)trap_stubs32 + 16u * (uint32_t)vector;
}

void set_idt_stub(int vector, uint32_t type, int dpl) {
  idt[vector] = gate32(trap_stub32(vector), SEL32_KCODE, type, dpl, 0);
}

void reload_tss(uint32_t limit) {
  gdt[SEL32_TSS >> 3] = seg_desc((uint32_t)tss_area, limit, ACC_P | TYPE_TSS_AVAIL, 0);
  ltr(SEL32_TSS);
}

void cpu32_init(void) {
  // Mask both 8259s: a firmware may have left them programmed, and some tests set EFLAGS.IF.
  outb(0x21, 0xff);
  outb(0xa1, 0xff);
  gdt[0] = 0;
  gdt[SEL32_KCODE >> 3] = flat_code32(0);
  gdt[SEL32_KDATA >> 3] = flat_data32(0);
  gdt[SEL32_UCODE >> 3] = flat_code32(3);
  gdt[SEL32_UDATA >> 3] = flat_data32(3);
  gdt[SEL32_KCODE64 >> 3] = code64(0);
  gdt[SEL32_CODE16 >> 3] = seg_desc(LOW_BASE, 0xffff, ACC_P | ACC_S | TYPE_CODE_XR, 0);
  gdt[SEL32_DATA16 >> 3] = seg_desc(0, 0xffff, ACC_P | ACC_S | TYPE_DATA_RW, 0);
  lgdt(gdt, sizeof gdt - 1);
  __asm__ volatile(
      "ljmp %0, $1f\n1:\n\t"
      "movw %w1, %%ds\n\tmovw %w1, %%es\n\tmovw %w1, %%fs\n\tmovw %w1, %%gs\n\tmovw %w1, %%ss" ::
          "i"(SEL32_KCODE),
      "r"(SEL32_KDATA)
      : "memory");

  for (int v = 0; v < 256; ++v) set_idt_stub(v, TYPE_INT_GATE, 0);
  // Software interrupts ring-3 code may raise on purpose (SDM Vol. 3A, 6.12.1.1: INT n, INT3
  // and INTO check the gate's DPL against CPL).
  set_idt_stub(3, TYPE_INT_GATE, 3);
  set_idt_stub(4, TYPE_INT_GATE, 3);
  set_idt_stub(VEC_USER_DONE, TYPE_INT_GATE, 3);
  lidt(idt, sizeof idt - 1);

  memset(tss_area, 0, sizeof tss_area);
  tss.ss0 = SEL32_KDATA;
  tss.esp0 = (uint32_t)(ring0_stack + sizeof ring0_stack);
  tss.iomap_base = sizeof(struct tss32);  // beyond the limit: no I/O bitmap
  reload_tss(sizeof(struct tss32) - 1);

  user_reset();
}

void user_reset(void) {
  user_cs = SEL32_UCODE | 3;
  user_ss = SEL32_UDATA | 3;
  user_sp = (ureg)(user_stack + sizeof user_stack);
  user_flags = EFL_FIXED;
}

static void record(const struct frame32* f) {
  trap.count++;
  trap.vector = f->vector;
  trap.has_error = f->vector == 8 || (f->vector >= 10 && f->vector <= 14) || f->vector == 17 ||
                   f->vector == 21 || f->vector == 29 || f->vector == 30;
  trap.error_code = trap.has_error ? f->error_code : 0;
  trap.ip = f->eip;
  trap.cs = f->cs & 0xffff;
  trap.flags = f->eflags;
  // The handlers run at CPL 0 (or, for a conforming handler, at the interrupted CPL); a frame
  // from another privilege level carries SS:ESP (SDM Vol. 3A, 6.12.1, Figure 6-4).
  trap.stack_switched = (f->cs & 3) != (read_cs() & 3);
  trap.sp = trap.stack_switched ? f->esp : 0;
  trap.ss = trap.stack_switched ? (f->ss & 0xffff) : 0;
  trap.entry_sp = trap.has_error ? (uint32_t)&f->error_code : (uint32_t)&f->eip;
  trap.cr2 = read_cr2();
  trap.dr6 = read_dr6();
  trap.handler_flags = read_flags();
  trap.handler_ss = read_ss();
  trap.ds = (uint16_t)f->ds;
  trap.es = (uint16_t)f->es;
  trap.fs = (uint16_t)f->fs;
  trap.gs = (uint16_t)f->gs;
  const uint32_t gprs[8] = {f->eax, f->ecx, f->edx, f->ebx, 0, f->ebp, f->esi, f->edi};
  for (int i = 0; i < 8; ++i) trap.gpr[i] = gprs[i];
}

// Called by trap_common32. Returns 0 to recover into the armed probe, 1 to IRET.
uint32_t trap_dispatch32(struct frame32* f) {
  record(f);
  if (trap_hook && trap_hook(f)) return 1;
  if (catch_ip) return 0;
  kprintf("unexpected event:\n");
  print_trap();
  fatal("unexpected %s (vector %u) at %x:%x", vector_name(f->vector), f->vector, f->cs, f->eip);
}

// Called by _start.
void boot32(uint32_t magic, uint32_t info) {
  kprintf("\n%s: multiboot entry, magic 0x%x\n", kernel_name, magic);
  // The multiboot state guarantees only PE=1, PG=0 (Multiboot 0.6.96, 3.2): start from known
  // control registers (no alignment checking, no write protection, no debug breakpoints).
  write_cr0(read_cr0() & ~(CR0_AM | CR0_WP | CR0_TS | CR0_EM | CR0_PG));
  write_cr4(0);
  __asm__ volatile("mov %0, %%dr7" ::"r"(0x400u));
  report_state.multiboot_info = info;
  if (magic == 0x2BADB002 && (*(uint32_t*)info & (1u << 2)))
    report_parse_cmdline((const char*)((uint32_t*)info)[4]);
  cpu32_init();
  trap_reset();
  check_eq(magic, 0x2BADB002, "multiboot magic in EAX");
  kmain32();
  report_finish();
}
