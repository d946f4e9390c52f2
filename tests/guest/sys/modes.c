// modes: round trips through the processor's operating modes (SDM Vol. 3A, chapter 10.8-10.9
// and 2.2): protected mode (multiboot entry) -> real mode -> protected mode -> IA-32e mode
// (compatibility, 64-bit, compatibility again) -> protected mode -> real mode again. The
// switching code is modes_asm.S; this file prepares and checks what it recorded.
#include "cpu32.h"
#include "trap.h"
#include "x86.h"

#define RM_SEG (LOW_BASE >> 4)
#define ALT_SEG (RM_SEG - 0x100)

void realmode_call(void);
void longmode_call(uint32_t pml4);
extern char rm_blob_start[], rm_blob_end[], rm_after_int[], rm_after_far_call[];
extern uint32_t rm_res_cr0, rm_res_eax32, rm_res_inc16;
extern uint16_t rm_hma_off, rm_res_seg_read, rm_res_sp_before, rm_res_sp_after, rm_res_ax_after,
    rm_res_flags_after, rm_res_int_sp, rm_res_int_ip, rm_res_int_cs, rm_res_int_flags,
    rm_res_int_handler_flags, rm_res_int_handler_cs, rm_res_sib, rm_res_far_sp_before,
    rm_res_far_sp_after, rm_res_far_cs, rm_res_far_ret_ip, rm_res_far_ret_cs, rm_res_far_calls,
    rm_res_far_ret4_sp, rm_res_cs_after_iret, rm_res_cs_at_iret_target;
extern volatile uint16_t hma_probe;
extern volatile uint64_t lm_res_r64, lm_res_r14, lm_res_riprel, lm_res_rsp_before, lm_res_rsp_after;
extern volatile uint32_t lm_res_efer_compat, lm_res_rex64, lm_res_dec_compat,
    lm_res_efer_in_compat_cs, lm_res_efer_after;
extern volatile uint16_t lm_res_cs64, lm_res_cs_back64, lm_res_cs_compat;

// The copy of a low-blob symbol at LOW_BASE, where the real-mode code ran.
#define LOW_OFF(sym) ((uint32_t)(sym) - (uint32_t)rm_blob_start)
#define RM(var) (*(volatile __typeof__(var)*)(LOW_BASE + LOW_OFF(&(var))))

static void check_protected_mode(const char* when) {
  check_eq(read_cr0() & (CR0_PE | CR0_PG), CR0_PE, "%s: CR0.PE=1, CR0.PG=0", when);
  check_eq(read_cs(), SEL32_KCODE, "%s: CS is the 32-bit kernel code", when);
  check_eq(rdmsr(MSR_EFER) & (EFER_LME | EFER_LMA), 0, "%s: EFER.LME=LMA=0", when);
  struct table_register idtr = sidt();
  check_eq(idtr.base, (uint32_t)idt, "%s: IDTR is the protected-mode IDT", when);
  // An exception is handled through it again.
  trap_reset();
  TRY_ASM(FAULT_AT("ud2"));
  expect_trap(when, 6, NO_ERROR_CODE, probe_ip);
}

static void check_a20(void) {
  section("A20 (port 0x92, bit 1)");
  uint8_t v = inb(0x92);
  outb(0x92, (uint8_t)((v & ~1u) | 2u));  // never bit 0: fast reset
  check_eq(inb(0x92) & 2, 2, "port 0x92 bit 1 (A20) reads back set");
  // With A20 on, 1 MiB + x and x are different bytes.
  volatile uint32_t* low = (volatile uint32_t*)0x90000;
  volatile uint32_t* high = (volatile uint32_t*)0x190000;
  *low = 0x11111111;
  *high = 0x22222222;
  check_eq(*low, 0x11111111, "A20 on: 0x190000 does not alias 0x90000");
  check_eq(*high, 0x22222222, "A20 on: 0x190000 keeps its own value");
}

static void run_real_mode(const char* when) {
  section(when);
  memcpy((void*)LOW_BASE, rm_blob_start, (size_t)(rm_blob_end - rm_blob_start));
  *(volatile uint16_t*)0x12350 = 0;
  hma_probe = 0;
  RM(rm_hma_off) = (uint16_t)((uint32_t)&hma_probe - 0xffff0);
  realmode_call();
  check_protected_mode("back from real mode");

  check_eq(RM(rm_res_cr0) & CR0_PE, 0, "real mode: CR0.PE=0");
  check_eq(RM(rm_res_seg_read), 0xbeef, "real mode: 1234:0010 and 1235:0000 are the same byte");
  check_eq(*(volatile uint16_t*)0x12350, 0xbeef, "real mode: 1234:0010 is linear 0x12350");
  check_eq(hma_probe, 0x5a5a, "real mode: ffff:%04x reaches linear 0x%x above 1 MiB",
           (unsigned)((uint32_t)&hma_probe - 0xffff0), (unsigned)(uint32_t)&hma_probe);

  uint16_t sp = RM(rm_res_sp_before);
  check_eq(RM(rm_res_int_handler_cs), ALT_SEG, "INT 0x42: CS from the IVT entry");
  check_eq(RM(rm_res_int_sp), sp - 6, "INT 0x42: 6 bytes pushed (FLAGS, CS, IP)");
  check_eq(RM(rm_res_int_ip), LOW_OFF(rm_after_int), "INT 0x42: pushed IP is after the INT");
  check_eq(RM(rm_res_int_cs), RM_SEG, "INT 0x42: pushed CS");
  check_eq(RM(rm_res_int_flags), 0x0003, "INT 0x42: pushed FLAGS");
  check_eq(RM(rm_res_int_handler_flags), 0x0003, "INT 0x42: handler runs with IF=TF=0, CF kept");
  check_eq(RM(rm_res_ax_after), 0x4242, "IRET back from the handler: AX it set");
  check_eq(RM(rm_res_sp_after), sp, "IRET popped 6 bytes");
  check_eq(RM(rm_res_flags_after), 0x0003, "IRET restored FLAGS");

  check_eq(RM(rm_res_eax32), 0x23456789, "66 prefix: 32-bit MOV and ADD in 16-bit code");
  check_eq(RM(rm_res_inc16), 0xaaaa0000, "16-bit INC AX leaves EAX[31:16]");
  check_eq(RM(rm_res_sib), 0x3333, "67 prefix: [EBX+ECX*2] addressing in 16-bit code");

  check_eq(RM(rm_res_far_cs), ALT_SEG, "far CALL: CS of the called procedure");
  check_eq(RM(rm_res_far_ret_ip), LOW_OFF(rm_after_far_call), "far CALL: pushed IP");
  check_eq(RM(rm_res_far_ret_cs), RM_SEG, "far CALL: pushed CS");
  check_eq(RM(rm_res_far_sp_after), RM(rm_res_far_sp_before), "far RET popped CS:IP");
  check_eq(RM(rm_res_far_calls), 3, "direct, indirect (m16:16) and RET 4 far calls all ran");
  check_eq(RM(rm_res_far_ret4_sp), RM(rm_res_far_sp_before), "far RET 4 popped the arguments");
  check_eq(RM(rm_res_cs_at_iret_target), ALT_SEG, "IRET loaded CS:IP from the stack");
  check_eq(RM(rm_res_cs_after_iret), RM_SEG, "far JMP back to the first segment");
}

static void run_long_mode(void) {
  section("IA-32e mode: compatibility -> 64-bit -> compatibility -> protected");
  uint32_t pml4 = identity_pml4();
  longmode_call(pml4);
  check_protected_mode("back from long mode");
  check_eq(read_cr4() & CR4_PAE, 0, "back from long mode: CR4.PAE cleared");

  check_eq(lm_res_efer_compat & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA,
           "CR0.PG=1 with EFER.LME=1: EFER.LMA=1 (compatibility mode, CS still 32-bit)");
  check_eq(lm_res_cs64, SEL32_KCODE64, "far JMP to a 64-bit code segment");
  check_eq(lm_res_r64, 0x123456789abcdef0ull, "64-bit mode: MOVABS of a 64-bit immediate");
  check_eq(lm_res_r14, 21, "64-bit mode: R14 = R15 * 3 through REX.R/REX.B");
  check_eq(lm_res_riprel, (uint32_t)&lm_res_r64, "64-bit mode: RIP-relative LEA");
  check_eq(lm_res_rex64, 5, "64-bit mode: 48 90 is REX.W NOP");
  check_eq(lm_res_cs_compat, SEL32_KCODE, "far CALL to a 32-bit segment: compatibility mode");
  check_eq(lm_res_dec_compat, 4, "compatibility mode: 48 is DEC EAX");
  check_eq(lm_res_efer_in_compat_cs & EFER_LMA, EFER_LMA, "compatibility mode: EFER.LMA=1");
  check_eq(lm_res_rsp_after, lm_res_rsp_before, "32-bit far RET back to 64-bit mode");
  check_eq(lm_res_cs_back64, SEL32_KCODE64, "back in 64-bit mode");
  check_eq(lm_res_efer_after & (EFER_LME | EFER_LMA), 0,
           "CR0.PG=0 in compatibility mode then EFER.LME=0: IA-32e mode off");
}

void kmain32(void) {
  section("protected mode (multiboot entry)");
  check_protected_mode("at entry");
  check_a20();
  run_real_mode("real mode, first visit");
  run_long_mode();
  run_real_mode("real mode, second visit (after long mode)");
}
