// privilege, 32-bit part: ring transitions in protected mode. IRET to ring 3, interrupt gates
// back with the TSS stack switch, a call gate with parameter copy and far RET back, SYSENTER/
// SYSEXIT, and IRET corner cases (SDM Vol. 3A, 5.8 Privilege Level Checking When Transferring
// Program Control Between Code Segments; 6.12.1; Vol. 2A/2B IRET, CALL, RET, SYSENTER, SYSEXIT).
// Then the 64-bit part (privilege64.c) runs.
#include "cpu32.h"
#include "trap.h"
#include "x86.h"

#define SEL_CALL_GATE 0x90       // 32-bit call gate, DPL 3, 3 parameters -> callgate_handler
#define SEL_CALL_GATE_DPL0 0x98  // the same gate with DPL 0
#define SEL_NP_CODE 0xa0         // code, not present
#define SEL_CONF_CODE 0xa8       // conforming readable code, DPL 0
#define SEL_SPARE_TSS 0xb0       // an available (not busy) 32-bit TSS

static uint8_t alt_stack[4096] ALIGNED(16);
static struct tss32 spare_tss;

// ---- ring-0 entry points reached from ring 3 (they record into these) ----
volatile uint32_t cg_frame[7], cg_entry_esp, cg_cs, cg_ss;
volatile uint32_t se_cs, se_ss, se_esp, se_eflags, se_eip_in;
uint8_t sysenter_stack[4096] ALIGNED(16);
void callgate_handler(void);
void sysenter_handler(void);
__asm__(
    ".text\n"
    // Entered through the call gate at CPL 0 on the TSS ESP0 stack, which holds (SDM Vol. 3A,
    // Figure 5-13) EIP, CS, the 3 copied parameters, ESP, SS of the caller.
    "callgate_handler:\n\t"
    "movl %esp, cg_entry_esp\n\t"
    "movw %cs, cg_cs\n\t"
    "movw %ss, cg_ss\n\t"
    "movl 0(%esp), %eax\n\tmovl %eax, cg_frame+0\n\t"
    "movl 4(%esp), %eax\n\tmovl %eax, cg_frame+4\n\t"
    "movl 8(%esp), %eax\n\tmovl %eax, cg_frame+8\n\t"
    "movl 12(%esp), %eax\n\tmovl %eax, cg_frame+12\n\t"
    "movl 16(%esp), %eax\n\tmovl %eax, cg_frame+16\n\t"
    "movl 20(%esp), %eax\n\tmovl %eax, cg_frame+20\n\t"
    "movl 24(%esp), %eax\n\tmovl %eax, cg_frame+24\n\t"
    // A DPL 0 data segment in ES: the far RET to CPL 3 must null it.
    "movw $0x10, %ax\n\tmovw %ax, %es\n\t"
    "lret $12\n"
    // SYSENTER: CS = SYSENTER_CS, SS = SYSENTER_CS + 8, ESP = SYSENTER_ESP, EIP = SYSENTER_EIP.
    "sysenter_handler:\n\t"
    "movw %cs, se_cs\n\t"
    "movw %ss, se_ss\n\t"
    "movl %esp, se_esp\n\t"
    "pushfl\n\tpopl se_eflags\n\t"
    "sysexit\n");

static void test_iret_to_ring3_and_back(void) {
  section("IRET to ring 3, interrupt gate back to ring 0");
  trap_reset();
  USER_ASM(
      "movw %%cs, %%ax\n\tmovw %%ss, %%cx\n\tmovl %%esp, %%edx\n\t"
      "pushfl\n\tpopl %%esi");
  expect_user_done("IRET to CPL 3");
  check_eq(trap.gpr[0] & 0xffff, SEL32_UCODE | 3, "at CPL 3: CS is the user code, RPL 3");
  check_eq(trap.gpr[1] & 0xffff, SEL32_UDATA | 3, "at CPL 3: SS from the IRET frame");
  check_eq(trap.gpr[2], user_sp, "at CPL 3: ESP from the IRET frame");
  check_eq(trap.gpr[6] & 0xffff, EFL_FIXED, "at CPL 3: EFLAGS from the IRET frame");
  check_eq(trap.cs, SEL32_UCODE | 3, "INT 0x80 from CPL 3: saved CS");
  check_eq(trap.stack_switched, 1, "INT 0x80 from CPL 3: stack switched");
  check_eq(trap.ss, SEL32_UDATA | 3, "INT 0x80 from CPL 3: saved SS");
  check_eq(trap.sp, user_sp, "INT 0x80 from CPL 3: saved ESP");
  check_eq(trap.entry_sp, tss.esp0 - 20, "INT 0x80 from CPL 3: frame at TSS.ESP0");
  check_eq(trap.handler_ss, SEL32_KDATA, "INT 0x80 from CPL 3: SS = TSS.SS0 in the handler");

  // Another ESP0: the frame follows it.
  uint32_t esp0 = tss.esp0;
  tss.esp0 = (uint32_t)(alt_stack + sizeof alt_stack);
  trap_reset();
  USER_ASM("nop");
  check_eq(trap.entry_sp, (uint32_t)(alt_stack + sizeof alt_stack) - 20,
           "INT 0x80 from CPL 3: frame at the new TSS.ESP0");
  tss.esp0 = esp0;

  // IRET within CPL 0 pops only EIP, CS, EFLAGS.
  uint32_t before, after;
  __asm__ volatile(
      "movl %%esp, %0\n\tpushfl\n\tpushl %%cs\n\tpushl $1f\n\tiret\n1:\n\tmovl %%esp, %1"
      : "=&r"(before), "=r"(after)
      :
      : "memory");
  check_eq(after, before, "IRET to the same privilege pops 12 bytes");
}

static void test_call_gate(void) {
  section("32-bit call gate with parameter copy, far RET to ring 3");
  gdt[SEL_CALL_GATE >> 3] = gate32((uint32_t)callgate_handler, SEL32_KCODE, TYPE_CALL_GATE, 3, 3);
  gdt[SEL_CALL_GATE_DPL0 >> 3] =
      gate32((uint32_t)callgate_handler, SEL32_KCODE, TYPE_CALL_GATE, 0, 3);
  trap_reset();
  USER_ASM(
      "pushl $0x11111111\n\tpushl $0x22222222\n\tpushl $0x33333333\n\t"
      "movl %%esp, %%esi\n\t"
      "lcall $0x93, $0x12345678\n\t"  // the offset is ignored: the gate supplies it
      "movl %%esp, %%edi");
  expect_user_done("CALL through the call gate and far RET back");
  uint32_t caller_esp = user_sp - 12;
  check_eq(trap.gpr[6], caller_esp, "caller ESP after pushing 3 parameters");
  check_eq(cg_cs, SEL32_KCODE, "call gate: handler runs with CS = the gate's selector, CPL 0");
  check_eq(cg_ss, SEL32_KDATA, "call gate: SS = TSS.SS0");
  check_eq(cg_entry_esp, tss.esp0 - 28, "call gate: 7 dwords on the TSS.ESP0 stack");
  check_eq(cg_frame[1] & 0xffff, SEL32_UCODE | 3, "call gate frame: caller CS");
  check_eq(cg_frame[2], 0x33333333, "call gate frame: parameter 3 (last pushed) copied");
  check_eq(cg_frame[3], 0x22222222, "call gate frame: parameter 2 copied");
  check_eq(cg_frame[4], 0x11111111, "call gate frame: parameter 1 copied");
  check_eq(cg_frame[5], caller_esp, "call gate frame: caller ESP");
  check_eq(cg_frame[6] & 0xffff, SEL32_UDATA | 3, "call gate frame: caller SS");
  check_eq(trap.gpr[7], user_sp, "RET 12 popped the parameters from the ring-3 stack too");
  check_eq(trap.cs, SEL32_UCODE | 3, "back at CPL 3 after the far RET");
  check_eq(trap.es, 0, "far RET to CPL 3 nulled ES (it held a DPL 0 data segment)");
  check_eq(trap.ds, SEL32_UDATA | 3, "far RET to CPL 3 kept DS (DPL 3 data)");

  trap_reset();
  USER_ASM(FAULT_AT("lcall $0x98, $0"));
  expect_trap("CALL through a DPL 0 call gate from CPL 3", 13, SEL_CALL_GATE_DPL0, probe_ip);
  // JMP through a call gate only reaches code of the same privilege (SDM Vol. 2A, JMP:
  // "IF code segment is non-conforming and DPL != CPL THEN #GP(code segment selector)").
  trap_reset();
  USER_ASM(FAULT_AT("ljmp $0x93, $0"));
  expect_trap("JMP through a call gate to a more privileged code segment", 13, SEL32_KCODE,
              probe_ip);
}

static void test_sysenter(void) {
  section("SYSENTER / SYSEXIT");
  wrmsr(MSR_SYSENTER_CS, SEL32_KCODE);
  wrmsr(MSR_SYSENTER_ESP, (uint32_t)(sysenter_stack + sizeof sysenter_stack));
  wrmsr(MSR_SYSENTER_EIP, (uint32_t)sysenter_handler);
  user_flags = EFL_FIXED | EFL_IF;  // the 8259s are masked
  trap_reset();
  USER_ASM(
      "movl %%esp, %%ecx\n\tsubl $64, %%ecx\n\tmovl $3f, %%edx\n\tsysenter\n"
      "3:\tmovw %%cs, %%ax\n\tmovw %%ss, %%bx\n\tmovl %%esp, %%esi\n\tpushfl\n\tpopl %%edi");
  user_reset();
  expect_user_done("SYSENTER then SYSEXIT");
  check_eq(se_cs, SEL32_KCODE, "SYSENTER: CS = IA32_SYSENTER_CS");
  check_eq(se_ss, SEL32_KCODE + 8, "SYSENTER: SS = IA32_SYSENTER_CS + 8");
  check_eq(se_esp, (uint32_t)(sysenter_stack + sizeof sysenter_stack),
           "SYSENTER: ESP = IA32_SYSENTER_ESP");
  check_eq(se_eflags & (EFL_IF | EFL_VM | EFL_RF), 0, "SYSENTER: IF, VM, RF cleared");
  check_eq(trap.gpr[0] & 0xffff, (SEL32_KCODE + 16) | 3,
           "SYSEXIT: CS = IA32_SYSENTER_CS + 16, RPL 3");
  check_eq(trap.gpr[3] & 0xffff, (SEL32_KCODE + 24) | 3,
           "SYSEXIT: SS = IA32_SYSENTER_CS + 24, RPL 3");
  check_eq(trap.gpr[6], user_sp - 64, "SYSEXIT: ESP = ECX");
  check_eq(trap.gpr[7] & EFL_IF, 0, "SYSEXIT leaves EFLAGS alone (IF still clear)");

  trap_reset();
  USER_ASM(FAULT_AT("sysexit"));
  expect_trap("SYSEXIT at CPL 3", 13, 0, probe_ip);
  wrmsr(MSR_SYSENTER_CS, 0);
  trap_reset();
  USER_ASM(FAULT_AT("sysenter"));
  expect_trap("SYSENTER with IA32_SYSENTER_CS = 0", 13, 0, probe_ip);
  wrmsr(MSR_SYSENTER_CS, SEL32_KCODE);
}

static void test_iret_corner_cases(void) {
  section("IRET corner cases (32-bit)");
  gdt[SEL_NP_CODE >> 3] = seg_desc(0, 0xfffff, ACC_S | TYPE_CODE_XR, FLG_G | FLG_DB);
  gdt[SEL_CONF_CODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_S | TYPE_CODE_XRC, FLG_G | FLG_DB);
  gdt[SEL_SPARE_TSS >> 3] = seg_desc((uint32_t)&spare_tss, 103, ACC_P | TYPE_TSS_AVAIL, 0);

  // IRET to CPL 3 nulls DS/ES/FS/GS holding data or non-conforming code with DPL < 3; it keeps
  // DPL 3 data and conforming code (SDM Vol. 2A, IRET: RETURN-TO-OUTER-PRIVILEGE-LEVEL).
  trap_reset();
  TRY_ASM(
      "movw $0x10, %%ax\n\tmovw %%ax, %%ds\n\t"
      "movw $0x23, %%ax\n\tmovw %%ax, %%es\n\t"
      "movw $0x10, %%ax\n\tmovw %%ax, %%fs\n\t"
      "movw $0xa8, %%ax\n\tmovw %%ax, %%gs\n\t"
      "pushl $0x23\n\tpushl user_sp\n\tpushl $2\n\tpushl $0x1b\n\tpushl $3f\n\tiret\n"
      "3:\tint $0x80");
  check_eq(trap.vector, VEC_USER_DONE, "IRET to CPL 3 with kernel segments loaded");
  check_eq(trap.ds, 0, "IRET to CPL 3 nulled DS (DPL 0 data)");
  check_eq(trap.es, SEL32_UDATA | 3, "IRET to CPL 3 kept ES (DPL 3 data)");
  check_eq(trap.fs, 0, "IRET to CPL 3 nulled FS (DPL 0 data)");
  check_eq(trap.gs, SEL_CONF_CODE, "IRET to CPL 3 kept GS (conforming code)");

  // A not-present code segment in the IRET frame: #NP(CS selector), EIP = the IRET.
  trap_reset();
  TRY_ASM(FAULT_AFTER("pushfl\n\tpushl $0xa0\n\tpushl $0", "iret"));
  expect_trap("IRET to a not-present code segment", 11, SEL_NP_CODE, probe_ip);
  // Return CS with RPL < CPL: #GP(CS selector).
  trap_reset();
  USER_ASM(FAULT_AFTER("pushfl\n\tpushl $0x08\n\tpushl $0", "iret"));
  expect_trap("IRET at CPL 3 to CPL 0 code", 13, SEL32_KCODE, probe_ip);
  // Return SS RPL != return CS RPL: #GP(SS selector).
  trap_reset();
  TRY_ASM(
      FAULT_AFTER("pushl $0x10\n\tpushl user_sp\n\tpushl $2\n\tpushl $0x1b\n\tpushl $0", "iret"));
  expect_trap("IRET to CPL 3 with a CPL 0 stack segment", 13, SEL32_KDATA, probe_ip);
  // IRET at CPL 3 cannot change IOPL, nor IF when CPL > IOPL (SDM Vol. 2A, IRET:
  // RETURN-TO-SAME-PRIVILEGE-LEVEL, EFLAGS update).
  trap_reset();
  USER_ASM("pushl $0x3202\n\tpushl %%cs\n\tpushl $3f\n\tiret\n3:\tpushfl\n\tpopl %%esi");
  expect_user_done("IRET within CPL 3");
  check_eq(trap.gpr[6] & (EFL_IOPL3 | EFL_IF), 0, "IRET at CPL 3 left IOPL and IF unchanged");

  // NT=1: IRET is a task return through the TSS back link (SDM Vol. 2A, IRET: TASK-RETURN). The
  // link must name a busy TSS; an available one is #TS(link selector), EIP = the IRET.
  tss.link = SEL_SPARE_TSS;
  trap_reset();
  TRY_ASM(FAULT_AFTER("pushfl\n\torl $0x4000, (%%esp)\n\tpopfl", "iret"));
  expect_trap("IRET with NT=1, back link to an available TSS", 10, SEL_SPARE_TSS, probe_ip);
  tss.link = SEL_SPARE_TSS | 4;  // TI=1: "local/global bit set to local"
  trap_reset();
  TRY_ASM(FAULT_AFTER("pushfl\n\torl $0x4000, (%%esp)\n\tpopfl", "iret"));
  expect_trap("IRET with NT=1, back link in the LDT", 10, SEL_SPARE_TSS | 4, probe_ip);
  tss.link = 0;
}

void kmain32(void) {
  test_iret_to_ring3_and_back();
  test_call_gate();
  test_sysenter();
  test_iret_corner_cases();
  run_64bit_part();
}
