// privilege, 64-bit part: IRETQ to ring 3 and interrupts back (RSP0, IST, alignment, null SS),
// a 64-bit call gate and far RET, SYSCALL/SYSRET to 64-bit and compatibility mode (RCX, R11,
// IA32_FMASK), and IRETQ corner cases (SDM Vol. 3A, 5.8.7, 6.14; Vol. 2A/2B IRET, SYSCALL, SYSRET).
#include "cpu64.h"
#include "trap.h"
#include "x86.h"

#define SEL_CALL_GATE64 0x48  // 64-bit call gate (16 bytes: 0x48 and 0x50), DPL 3
#define SEL_NP_CODE64 0x58    // 64-bit code, not present

// SFMASK used by the SYSCALL tests: TF | IF | DF | NT | AC.
#define SYSCALL_FMASK (EFL_TF | EFL_IF | EFL_DF | EFL_NT | EFL_AC)
// RFLAGS the ring-3 code sets before SYSCALL: AC | DF | CF.
#define USER_SYSCALL_FLAGS (EFL_AC | EFL_DF | EFL_CF | EFL_FIXED)

volatile uint64_t sc_rcx, sc_r11, sc_rflags, sc_rsp, sc_return32;
volatile uint16_t sc_cs, sc_ss;
volatile uint64_t cg64_frame[4], cg64_entry_rsp;
volatile uint16_t cg64_cs, cg64_ss;
volatile uint16_t iret_ss;
void syscall_entry(void);
void callgate64_handler(void);
void compat_user_code(void);
void compat_user_code_end(void);
__asm__(
    ".text\n"
    // SYSCALL: CS = STAR[47:32], SS = STAR[47:32] + 8, RCX = next RIP, R11 = RFLAGS, RFLAGS &=
    // ~FMASK, RSP unchanged.
    "syscall_entry:\n\t"
    "movq %rcx, sc_rcx(%rip)\n\t"
    "movq %r11, sc_r11(%rip)\n\t"
    "movq %rsp, sc_rsp(%rip)\n\t"
    "movw %cs, sc_cs(%rip)\n\t"
    "movw %ss, sc_ss(%rip)\n\t"
    "pushfq\n\tpopq sc_rflags(%rip)\n\t"
    "cmpq $0, sc_return32(%rip)\n\t"
    "jne 1f\n\t"
    "sysretq\n"
    "1:\tleaq compat_user_code(%rip), %rcx\n\t"
    "sysretl\n"
    // Entered through the 64-bit call gate at CPL 0: RIP, CS, RSP, SS of the caller as 8-byte
    // values on the TSS.RSP0 stack (SDM Vol. 3A, 5.8.7 and Figure 5-14). Far RET returns.
    "callgate64_handler:\n\t"
    "movq %rsp, cg64_entry_rsp(%rip)\n\t"
    "movw %cs, cg64_cs(%rip)\n\t"
    "movw %ss, cg64_ss(%rip)\n\t"
    "movq 0(%rsp), %rax\n\tmovq %rax, cg64_frame+0(%rip)\n\t"
    "movq 8(%rsp), %rax\n\tmovq %rax, cg64_frame+8(%rip)\n\t"
    "movq 16(%rsp), %rax\n\tmovq %rax, cg64_frame+16(%rip)\n\t"
    "movq 24(%rsp), %rax\n\tmovq %rax, cg64_frame+24(%rip)\n\t"
    "lretq\n"
    // Compatibility-mode code at CPL 3 (reached with CS = 0x1b, a 32-bit segment).
    ".code32\n"
    "compat_user_code:\n\t"
    "movw %cs, %ax\n\t"
    "movw %ss, %bx\n\t"
    "int $0x80\n"
    "compat_user_code_end:\n"
    ".code64\n");

struct __attribute__((packed)) far_ptr32 {
  uint32_t offset;
  uint16_t sel;
};
struct far_ptr32 callgate64_ptr = {0, SEL_CALL_GATE64 | 3};

static void test_rings_and_stacks(void) {
  section("IRETQ to ring 3, interrupts back: RSP0, IST, alignment");
  trap_reset();
  USER_ASM("movw %%cs, %%ax\n\tmovw %%ss, %%cx\n\tmovq %%rsp, %%rdx");
  expect_user_done("IRETQ to CPL 3");
  check_eq(trap.gpr[0] & 0xffff, SEL64_UCODE | 3, "at CPL 3: CS is the 64-bit user code, RPL 3");
  check_eq(trap.gpr[1] & 0xffff, SEL64_UDATA | 3, "at CPL 3: SS from the IRETQ frame");
  check_eq(trap.gpr[2], user_sp, "at CPL 3: RSP from the IRETQ frame");
  check_eq(trap.ss, SEL64_UDATA | 3, "INT 0x80 from CPL 3: saved SS");
  check_eq(trap.sp, user_sp, "INT 0x80 from CPL 3: saved RSP");
  check_eq(trap.entry_sp, (tss.rsp[0] & ~15ull) - 40, "INT 0x80 from CPL 3: frame at TSS.RSP0");
  check_eq(trap.handler_ss, 0, "INT 0x80 from CPL 3: SS null in the handler");

  uint64_t rsp0 = tss.rsp[0];
  tss.rsp[0] = rsp0 - 8;
  trap_reset();
  USER_ASM("nop");
  tss.rsp[0] = rsp0;
  check_eq(trap.entry_sp, ((rsp0 - 8) & ~15ull) - 40,
           "TSS.RSP0 = 8 mod 16: the frame is aligned down to 16");

  set_idt_stub(0x85, TYPE_INT_GATE, 3, 3);
  trap_reset();
  USER_ASM(FAULT_AT("int $0x85"));
  expect_trap("INT 0x85 (IST3) from CPL 3", 0x85, NO_ERROR_CODE, probe_next);
  check_eq(trap.entry_sp, (ist_stack_top[3] & ~15ull) - 40, "IST3 is used instead of RSP0");
  check_eq(trap.sp, user_sp, "IST3 frame: saved RSP is the ring-3 one");
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x85"));
  check_eq(trap.entry_sp, (ist_stack_top[3] & ~15ull) - 40, "IST3 is used at CPL 0 too");
  check_eq(trap.ss, SEL64_KDATA, "IST3 from CPL 0: saved SS");
  set_idt_stub(0x85, TYPE_INT_GATE, 0, 0);
}

static void test_call_gate64(void) {
  section("64-bit call gate, far RET to ring 3");
  struct gate64 g = make_gate64((uint64_t)callgate64_handler, SEL64_KCODE, TYPE_CALL_GATE, 3, 0);
  gdt[SEL_CALL_GATE64 >> 3] = g.lo;
  gdt[(SEL_CALL_GATE64 >> 3) + 1] = g.hi;  // type bits of the upper half must be 0
  trap_reset();
  USER_ASM(
      "movq %%rsp, %%rsi\n\tlcall *callgate64_ptr(%%rip)\n3:\tmovq %%rsp, %%rdi\n\t"
      "leaq 3b(%%rip), %%r8\n\tmovw %%cs, %%r9w");
  expect_user_done("CALL through a 64-bit call gate and far RET back");
  check_eq(cg64_cs, SEL64_KCODE, "call gate: handler CS");
  check_eq(cg64_ss, 0, "call gate to CPL 0: SS is null");
  check_eq(cg64_entry_rsp, tss.rsp[0] - 32, "call gate: 4 quadwords on the TSS.RSP0 stack");
  check_eq(cg64_frame[0], trap.gpr[8], "call gate frame: return RIP");
  check_eq(cg64_frame[1] & 0xffff, SEL64_UCODE | 3, "call gate frame: caller CS");
  check_eq(cg64_frame[2], trap.gpr[6], "call gate frame: caller RSP");
  check_eq(cg64_frame[3] & 0xffff, SEL64_UDATA | 3, "call gate frame: caller SS");
  check_eq(trap.gpr[7], trap.gpr[6], "far RET restored the ring-3 RSP");
  check_eq(trap.gpr[9] & 0xffff, SEL64_UCODE | 3, "far RET returned to CPL 3");
}

static void test_syscall(void) {
  section("SYSCALL / SYSRET");
  wrmsr(MSR_STAR, ((uint64_t)SEL64_UCODE32 << 48) | ((uint64_t)SEL64_KCODE << 32));
  wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
  wrmsr(MSR_SFMASK, SYSCALL_FMASK);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
  sc_return32 = 0;
  trap_reset();
  USER_ASM(
      "pushq $0x40403\n\tpopfq\n\tleaq 3f(%%rip), %%r9\n\tmovq %%rsp, %%r10\n\t"
      "syscall\n"
      "3:\tpushfq\n\tpopq %%rsi\n\tcld\n\tmovw %%cs, %%ax\n\tmovw %%ss, %%bx\n\t"
      "movq %%rcx, %%rdi\n\tmovq %%r11, %%r8\n\tpushq $2\n\tpopfq");
  expect_user_done("SYSCALL then SYSRETQ");
  check_eq(sc_rcx, trap.gpr[9], "SYSCALL: RCX = address of the next instruction");
  check_eq(sc_r11, USER_SYSCALL_FLAGS, "SYSCALL: R11 = RFLAGS");
  // QEMU 7.2 TCG loses the arithmetic flags (CF here) when it applies IA32_FMASK.
  check_eq_sdm(sc_rflags, USER_SYSCALL_FLAGS & ~SYSCALL_FMASK,
               USER_SYSCALL_FLAGS & ~SYSCALL_FMASK & ~(uint64_t)EFL_CF,
               "SYSCALL: RFLAGS &= ~IA32_FMASK (CF kept, DF and AC cleared)");
  check_eq(sc_cs, SEL64_KCODE, "SYSCALL: CS = STAR[47:32]");
  check_eq(sc_ss, SEL64_KCODE + 8, "SYSCALL: SS = STAR[47:32] + 8");
  check_eq(sc_rsp, trap.gpr[10], "SYSCALL: RSP unchanged");
  check_eq(trap.gpr[0] & 0xffff, (SEL64_UCODE32 + 16) | 3, "SYSRETQ: CS = STAR[63:48] + 16, RPL 3");
  check_eq(trap.gpr[3] & 0xffff, (SEL64_UCODE32 + 8) | 3, "SYSRETQ: SS = STAR[63:48] + 8, RPL 3");
  check_eq(trap.gpr[6], USER_SYSCALL_FLAGS, "SYSRETQ: RFLAGS = R11");
  check_eq(trap.gpr[7], trap.gpr[9], "SYSRETQ: RIP was RCX (RCX still holds it)");

  sc_return32 = 1;
  trap_reset();
  USER_ASM("syscall");
  sc_return32 = 0;
  check_eq(trap.vector, VEC_USER_DONE, "SYSCALL then SYSRETL to compatibility mode");
  check_eq(trap.cs, SEL64_UCODE32 | 3, "SYSRETL: CS = STAR[63:48], RPL 3 (32-bit code)");
  check_eq(trap.gpr[0] & 0xffff, SEL64_UCODE32 | 3, "SYSRETL: compatibility-mode code ran");
  check_eq(trap.gpr[3] & 0xffff, (SEL64_UCODE32 + 8) | 3, "SYSRETL: SS = STAR[63:48] + 8, RPL 3");
  check_eq(trap.ip, (uint64_t)compat_user_code_end, "SYSRETL: EIP = ECX");

  trap_reset();
  USER_ASM(FAULT_AT("sysretq"));
  expect_trap("SYSRET at CPL 3", 13, 0, probe_ip);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(uint64_t)EFER_SCE);
  trap_reset();
  USER_ASM(FAULT_AT("syscall"));
  expect_trap("SYSCALL with EFER.SCE = 0", 6, NO_ERROR_CODE, probe_ip);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

static void test_iretq_corner_cases(void) {
  section("IRETQ corner cases");
  gdt[SEL_NP_CODE64 >> 3] = seg_desc(0, 0xfffff, ACC_S | TYPE_CODE_XR, FLG_G | FLG_L);
  // In 64-bit mode IRETQ to CPL 0-2 may load a null SS (SDM Vol. 2A, IRET: "IF new SS is NULL
  // and (new CS RPL = 3 or not 64-bit) THEN #GP(0)").
  iret_ss = 0xffff;
  check_eq(TRY_ASM("movq %%rsp, %%rbx\n\tpushq $0\n\tpushq %%rbx\n\tpushfq\n\tpushq $0x08\n\t"
                   "pushq $3f\n\tiretq\n"
                   "3:\tmovw %%ss, iret_ss(%%rip)\n\tmovw $0x10, %%bx\n\tmovw %%bx, %%ss"),
           0, "IRETQ to CPL 0 with a null SS does not fault");
  check_eq(iret_ss, 0, "IRETQ to CPL 0 loaded the null SS");
  trap_reset();
  TRY_ASM(FAULT_AFTER("pushq $0\n\tpushq user_sp(%%rip)\n\tpushq $2\n\tpushq $0x2b\n\tpushq $0",
                      "iretq"));
  expect_trap("IRETQ to CPL 3 with a null SS", 13, 0, probe_ip);
  trap_reset();
  TRY_ASM(
      FAULT_AFTER("movq %%rsp, %%rbx\n\tpushq $0x10\n\tpushq %%rbx\n\tpushfq\n\t"
                  "pushq $0x58\n\tpushq $0",
                  "iretq"));
  expect_trap("IRETQ to a not-present code segment", 11, SEL_NP_CODE64, probe_ip);
  // NT=1 in IA-32e mode: no task return, #GP(0).
  trap_reset();
  TRY_ASM(
      FAULT_AFTER("pushfq\n\torq $0x4000, (%%rsp)\n\tpopfq\n\tmovq %%rsp, %%rbx\n\t"
                  "pushq $0x10\n\tpushq %%rbx\n\tpushq $2\n\tpushq $0x08\n\tpushq $0",
                  "iretq"));
  expect_trap("IRETQ with NT=1", 13, 0, probe_ip);
  // IRETQ to CPL 3 in compatibility mode.
  trap_reset();
  TRY_ASM(
      "pushq $0x23\n\tpushq user_sp(%%rip)\n\tpushq $2\n\tpushq $0x1b\n\t"
      "leaq compat_user_code(%%rip), %%rax\n\tpushq %%rax\n\tiretq");
  check_eq(trap.vector, VEC_USER_DONE, "IRETQ to 32-bit code at CPL 3");
  check_eq(trap.cs, SEL64_UCODE32 | 3, "IRETQ to compatibility mode: CS");
  check_eq(trap.sp, user_sp, "IRETQ to compatibility mode: RSP");
  // IRETQ to CPL 3 nulls DS/ES/FS/GS with DPL < 3 (SDM Vol. 2A, IRET:
  // RETURN-TO-OUTER-PRIVILEGE-LEVEL), in 64-bit mode too.
  trap_reset();
  TRY_ASM(
      "movw $0x10, %%ax\n\tmovw %%ax, %%ds\n\tmovw $0x23, %%ax\n\tmovw %%ax, %%es\n\t"
      "movw $0x10, %%ax\n\tmovw %%ax, %%gs\n\t"
      "pushq $0x23\n\tpushq user_sp(%%rip)\n\tpushq $2\n\tpushq $0x2b\n\tpushq $3f\n\tiretq\n"
      "3:\tint $0x80");
  __asm__ volatile("movw %w0, %%gs" ::"r"(0));
  check_eq(trap.vector, VEC_USER_DONE, "IRETQ to CPL 3 with kernel segments loaded");
  check_eq(trap.ds, 0, "IRETQ to CPL 3 nulled DS (DPL 0 data)");
  check_eq(trap.es, SEL64_UDATA | 3, "IRETQ to CPL 3 kept ES (DPL 3 data)");
  check_eq(trap.gs, 0, "IRETQ to CPL 3 nulled GS (DPL 0 data)");
}

void kmain64(void) {
  test_rings_and_stacks();
  test_call_gate64();
  test_syscall();
  test_iretq_corner_cases();
}
