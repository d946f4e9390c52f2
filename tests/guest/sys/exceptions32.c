// exceptions32: every exception that can be raised without the FPU, in 32-bit protected mode,
// with its vector, error code and saved frame (SDM Vol. 3A, 6.15 Exception and Interrupt
// Reference; 6.12.1 for the frame; 6.13 for error codes; Table 6-5 for double faults).
#include "cpu32.h"
#include "trap.h"
#include "x86.h"

// ---- test descriptors (GDT indices from SEL32_FIRST_FREE) ----
#define SEL_NP_DATA 0x48        // data, not present
#define SEL_XO_CODE 0x50        // execute-only code
#define SEL_RO_DATA 0x58        // read-only data, DPL 0
#define SEL_SMALL_DATA 0x60     // read/write data, base small_area, limit 0xfff
#define SEL_USER_SMALL_SS 0x68  // DPL 3 read/write data, base user_ss_area, limit 0xfff
#define SEL_CONF_CODE 0x70      // conforming code, DPL 0 (runs handlers at the current CPL)
#define SEL_NP_CODE 0x78        // code, not present
#define SEL_EXPDOWN_DATA 0x80   // expand-down data, base small_area, limit 0xfff, B=1
#define SEL_NP_TSS 0x88         // available 32-bit TSS, not present
#define SEL_BEYOND_GDT 0x1008   // index beyond the GDT limit

static uint8_t small_area[8192] ALIGNED(4096);
static uint8_t user_ss_area[8192] ALIGNED(4096);
int32_t bound_pair[2] = {10, 20};  // referenced from inline assembly
uint32_t lock_target;
uint32_t misaligned_target[4];

// EFLAGS the probes load right before the faulting instruction: a fault must save exactly this.
#define PROBE_FLAGS (EFL_FIXED | EFL_CF | EFL_ZF | EFL_OF)
#define SET_PROBE_FLAGS "pushl $0x843\n\tpopfl\n\t"
// Puts flat kernel data back in DS/ES/FS/GS when a segment-load probe did not fault.
#define RESTORE_SEGS                                                                             \
  "\n\tmovw $0x10, %%bx\n\tmovw %%bx, %%ds\n\tmovw %%bx, %%es\n\tmovw %%bx, %%fs\n\tmovw %%bx, " \
  "%%gs"

static void setup_descriptors(void) {
  // A null LDTR: every LDT reference faults (SDM Vol. 2A, LLDT). After reset LDTR has base 0 and
  // limit 0xffff, so this must be explicit.
  __asm__ volatile("lldt %w0" ::"r"(0));
  gdt[SEL_NP_DATA >> 3] = seg_desc(0, 0xfffff, ACC_S | TYPE_DATA_RW, FLG_G | FLG_DB);
  gdt[SEL_XO_CODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_S | TYPE_CODE_X, FLG_G | FLG_DB);
  gdt[SEL_RO_DATA >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_S | TYPE_DATA_R, FLG_G | FLG_DB);
  gdt[SEL_SMALL_DATA >> 3] =
      seg_desc((uint32_t)small_area, 0xfff, ACC_P | ACC_S | TYPE_DATA_RW, FLG_DB);
  gdt[SEL_USER_SMALL_SS >> 3] =
      seg_desc((uint32_t)user_ss_area, 0xfff, ACC_P | ACC_DPL(3) | ACC_S | TYPE_DATA_RW, FLG_DB);
  gdt[SEL_CONF_CODE >> 3] = seg_desc(0, 0xfffff, ACC_P | ACC_S | TYPE_CODE_XRC, FLG_G | FLG_DB);
  gdt[SEL_NP_CODE >> 3] = seg_desc(0, 0xfffff, ACC_S | TYPE_CODE_XR, FLG_G | FLG_DB);
  gdt[SEL_EXPDOWN_DATA >> 3] =
      seg_desc((uint32_t)small_area, 0xfff, ACC_P | ACC_S | TYPE_DATA_RWD, FLG_DB);
  gdt[SEL_NP_TSS >> 3] = seg_desc((uint32_t)tss_area, 103, TYPE_TSS_AVAIL, 0);
}

// ---- frame checks ----
// An event at CPL 0 handled at CPL 0: EFLAGS, CS, EIP [, error code] pushed on the interrupted
// stack (SDM Vol. 3A, Figure 6-4, "no privilege-level change").
static void expect_kernel_frame(const char* what) {
  check_eq(trap.cs, SEL32_KCODE, "%s: saved CS", what);
  check_eq(trap.stack_switched, 0, "%s: no stack switch", what);
  check_eq(trap.entry_sp, catch_sp - (trap.has_error ? 16 : 12),
           "%s: frame of %d bytes on the interrupted stack", what, trap.has_error ? 16 : 12);
}
// An event at CPL 3 handled at CPL 0: SS, ESP, EFLAGS, CS, EIP [, error code] on the TSS ESP0
// stack (Figure 6-4, "privilege-level change").
static void expect_user_frame(const char* what, uint32_t ss, uint32_t esp) {
  check_eq(trap.cs, user_cs, "%s: saved CS is the ring-3 code selector", what);
  check_eq(trap.stack_switched, 1, "%s: stack switched", what);
  check_eq(trap.ss, ss, "%s: saved SS", what);
  check_eq(trap.sp, esp, "%s: saved ESP", what);
  check_eq(trap.entry_sp, tss.esp0 - (trap.has_error ? 24 : 20),
           "%s: frame of %d bytes at the top of the TSS ESP0 stack", what,
           trap.has_error ? 24 : 20);
}

// ---- #DE ----
static void test_divide_error(void) {
  section("#DE divide error");
  trap_reset();
  TRY_ASM3(SET_PROBE_FLAGS FAULT_AT("divl %%ecx"), 1234, 0, 0);
  expect_trap("DIV r32 by zero", 0, NO_ERROR_CODE, probe_ip);
  // Fault-class exceptions push RF = 1 (SDM vol. 3, 17.3.1.1); QEMU TCG pushes RF = 0.
  check_eq_sdm(trap.flags, PROBE_FLAGS | EFL_RF, PROBE_FLAGS,
               "DIV by zero: saved EFLAGS are those before the DIV, with RF");
  check_eq(trap.gpr[0], 1234, "DIV by zero: EAX not written (fault)");
  check_eq(trap.handler_flags & (EFL_IF | EFL_TF), 0, "interrupt gate: handler runs with IF=TF=0");
  expect_kernel_frame("DIV by zero");

  trap_reset();
  TRY_ASM3(FAULT_AT("idivl %%ecx"), 0x80000000u, 0xffffffffu, 0xffffffffu);
  expect_trap("IDIV r32: -2^31 / -1 overflows", 0, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM3(FAULT_AT("divb %%cl"), 0x1000, 1, 0);
  expect_trap("DIV r8: quotient 0x1000 does not fit AL", 0, NO_ERROR_CODE, probe_ip);
  // (Not DX:AX = -2^31 / -1 for IDIV r16: QEMU 7.2 TCG computes that in a host int and dies of
  // SIGFPE, so the 16-bit overflow case uses a positive quotient.)
  trap_reset();
  TRY_ASM3(FAULT_AT("idivw %%cx"), 0x0000, 1, 0x0001);
  expect_trap("IDIV r16: 65536 / 1 overflows", 0, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM3(FAULT_AT("idivb %%cl"), 0x8000, 0xff, 0);
  expect_trap("IDIV r8: -32768 / -1 overflows", 0, NO_ERROR_CODE, probe_ip);
  check_eq(TRY_ASM3("divl %%ecx", 100, 7, 0), 0, "DIV 100 / 7 does not fault");

  trap_reset();
  USER_ASM3(FAULT_AT("divl %%ecx"), 1, 0, 0);
  expect_trap("DIV by zero at CPL 3", 0, NO_ERROR_CODE, probe_ip);
  expect_user_frame("DIV by zero at CPL 3", SEL32_UDATA | 3, user_sp);
}

// ---- #DB ----
static void test_debug(void) {
  section("#DB debug");
  trap_reset();
  write_dr6(0);
  // POPF sets TF: the instruction after POPF runs, then the single-step trap is taken (SDM Vol.
  // 3B, 17.3.1.4: no trap after the instruction that sets TF).
  TRY_ASM(FAULT_AFTER("pushl $0x102\n\tpopfl", "movl $5, %%eax"));
  expect_trap("single step after POPF sets TF", 1, NO_ERROR_CODE, probe_next);
  check_eq(trap.gpr[0], 5, "single step: the stepped instruction completed (trap)");
  check_eq(trap.flags & EFL_TF, EFL_TF, "single step: saved EFLAGS.TF is set");
  check_eq(trap.handler_flags & EFL_TF, 0, "single step: the handler runs with TF clear");
  check_eq(trap.dr6 & (1u << 14), 1u << 14, "single step: DR6.BS set");
  expect_kernel_frame("single step");

  // INT1 (ICEBP, F1) is a #DB trap. QEMU 7.2 TCG decodes F1 as #UD (ICEBP support is compiled
  // out there).
  trap_reset();
  TRY_ASM(FAULT_AT(".byte 0xf1"));
  check_eq_sdm(trap.vector, 1, 6, "INT1 (ICEBP, F1): #DB");
  if (trap.vector == 1) expect_trap("INT1 (ICEBP, F1)", 1, NO_ERROR_CODE, probe_next);
  // INT1 skips the gate DPL check that INT n / INT3 / INTO make (SDM Vol. 2A, INT n pseudocode).
  trap_reset();
  USER_ASM(FAULT_AT(".byte 0xf1"));
  check_eq_sdm(trap.vector, 1, 6, "INT1 at CPL 3 through a DPL 0 gate: #DB");
  if (trap.vector == 1) {
    expect_trap("INT1 at CPL 3 through a DPL 0 gate", 1, NO_ERROR_CODE, probe_next);
    expect_user_frame("INT1 at CPL 3", SEL32_UDATA | 3, user_sp);
  }
}

// ---- #BP, #OF, #BR ----
static void test_breakpoint_overflow_bound(void) {
  section("#BP breakpoint");
  trap_reset();
  TRY_ASM(SET_PROBE_FLAGS FAULT_AT("int3"));
  expect_trap("INT3 (CC)", 3, NO_ERROR_CODE, probe_next);
  check_eq(probe_next - probe_ip, 1, "INT3 is one byte");
  check_eq(trap.flags, PROBE_FLAGS, "INT3: saved EFLAGS");
  expect_kernel_frame("INT3");
  trap_reset();
  TRY_ASM(FAULT_AT(".byte 0xcd, 0x03"));
  expect_trap("INT 3 (CD 03)", 3, NO_ERROR_CODE, probe_next);
  trap_reset();
  USER_ASM(FAULT_AT("int3"));
  expect_trap("INT3 at CPL 3 (gate DPL 3)", 3, NO_ERROR_CODE, probe_next);
  expect_user_frame("INT3 at CPL 3", SEL32_UDATA | 3, user_sp);
  // Gate DPL < CPL for a software interrupt: #GP(vector * 8 + 2), saved EIP = the INT3
  // (SDM Vol. 3A, 6.12.1.1).
  set_idt_stub(3, TYPE_INT_GATE, 0);
  trap_reset();
  USER_ASM(FAULT_AT("int3"));
  expect_trap("INT3 at CPL 3 through a DPL 0 gate", 13, 3 * 8 + 2, probe_ip);
  set_idt_stub(3, TYPE_INT_GATE, 3);

  section("#OF overflow");
  trap_reset();
  TRY_ASM("pushl $0x802\n\tpopfl\n\t" FAULT_AT("into"));
  expect_trap("INTO with OF=1", 4, NO_ERROR_CODE, probe_next);
  check_eq(trap.flags & EFL_OF, EFL_OF, "INTO: saved EFLAGS.OF");
  check_eq(TRY_ASM("pushl $0x002\n\tpopfl\n\tinto"), 0, "INTO with OF=0 does nothing");
  trap_reset();
  USER_ASM("pushl $0x802\n\tpopfl\n\t" FAULT_AT("into"));
  expect_trap("INTO at CPL 3", 4, NO_ERROR_CODE, probe_next);

  section("#BR bound range");
  trap_reset();
  TRY_ASM1(FAULT_AT("boundl %%eax, bound_pair"), 5);
  expect_trap("BOUND 5 in [10, 20]", 5, NO_ERROR_CODE, probe_ip);
  expect_kernel_frame("BOUND");
  trap_reset();
  TRY_ASM1(FAULT_AT("boundl %%eax, bound_pair"), 21);
  expect_trap("BOUND 21 in [10, 20]", 5, NO_ERROR_CODE, probe_ip);
  check_eq(TRY_ASM1("boundl %%eax, bound_pair", 10), 0, "BOUND 10 in [10, 20]: no fault");
  check_eq(TRY_ASM1("boundl %%eax, bound_pair", 20), 0, "BOUND 20 in [10, 20]: no fault");
  trap_reset();
  TRY_ASM1(FAULT_AT("boundw %%ax, bound_pair"), 0x0005);
  expect_trap("BOUND r16 5 in [10, 0]", 5, NO_ERROR_CODE, probe_ip);
}

// ---- #UD ----
static void test_invalid_opcode(void) {
  section("#UD invalid opcode");
  trap_reset();
  TRY_ASM(SET_PROBE_FLAGS FAULT_AT("ud2"));
  expect_trap("UD2", 6, NO_ERROR_CODE, probe_ip);
  check_eq_sdm(trap.flags, PROBE_FLAGS | EFL_RF, PROBE_FLAGS, "UD2: saved EFLAGS (RF set: a fault)");
  expect_kernel_frame("UD2");
  trap_reset();
  TRY_ASM(FAULT_AT(".byte 0x0f, 0xb9, 0xc0"));
  expect_trap("UD1 (0F B9 /r)", 6, NO_ERROR_CODE, probe_ip);
  // LOCK on an instruction that cannot be locked, or on a register destination (SDM Vol. 2A,
  // LOCK: "#UD if the LOCK prefix is used with an instruction not listed").
  trap_reset();
  TRY_ASM(FAULT_AT(".byte 0xf0, 0x90"));
  expect_trap("LOCK NOP", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM3(FAULT_AT(".byte 0xf0\n\taddl %%ecx, %%eax"), 1, 2, 0);
  expect_trap("LOCK ADD with a register destination", 6, NO_ERROR_CODE, probe_ip);
  check_eq(trap.gpr[0], 1, "LOCK ADD reg: EAX not written");
  // QEMU 7.2 TCG ignores LOCK on MOV.
  trap_reset();
  TRY_ASM1(FAULT_AT(".byte 0xf0\n\tmovl %%eax, lock_target"), 7);
  check_eq_sdm(trap.vector, 6, ~0u, "LOCK MOV to memory: #UD");
  if (trap.vector == 6) expect_trap("LOCK MOV to memory", 6, NO_ERROR_CODE, probe_ip);
  lock_target = 40;
  check_eq(TRY_ASM3("lock addl %%ecx, lock_target", 0, 2, 0), 0, "LOCK ADD to memory is valid");
  check_eq(lock_target, 42, "LOCK ADD to memory: result");
  // MOV to CS does not exist (SDM Vol. 2B, MOV: "#UD if an attempt is made to load CS").
  trap_reset();
  TRY_ASM1(FAULT_AT(".byte 0x8e, 0xc8"), SEL32_KCODE);
  expect_trap("MOV CS, r16 (8E C8)", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  USER_ASM(FAULT_AT("ud2"));
  expect_trap("UD2 at CPL 3", 6, NO_ERROR_CODE, probe_ip);
  expect_user_frame("UD2 at CPL 3", SEL32_UDATA | 3, user_sp);
}

// ---- #NP ----
static void test_not_present(void) {
  section("#NP segment not present");
  static const char* const names[4] = {"DS", "ES", "FS", "GS"};
  for (int i = 0; i < 4; ++i) {
    trap_reset();
    switch (i) {
      case 0:
        TRY_ASM1(FAULT_AT("movw %%ax, %%ds") RESTORE_SEGS, SEL_NP_DATA);
        break;
      case 1:
        TRY_ASM1(FAULT_AT("movw %%ax, %%es") RESTORE_SEGS, SEL_NP_DATA);
        break;
      case 2:
        TRY_ASM1(FAULT_AT("movw %%ax, %%fs") RESTORE_SEGS, SEL_NP_DATA);
        break;
      case 3:
        TRY_ASM1(FAULT_AT("movw %%ax, %%gs") RESTORE_SEGS, SEL_NP_DATA);
        break;
    }
    char what[48];
    ksnprintf(what, sizeof what, "MOV %s, not-present data segment", names[i]);
    expect_trap(what, 11, SEL_NP_DATA, probe_ip);
  }
  expect_kernel_frame("MOV GS, not-present");
  // Privilege is checked before presence; the error code has the index and TI, not the RPL
  // (SDM Vol. 2B, MOV pseudocode).
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ds") RESTORE_SEGS, SEL_NP_DATA | 3);
  expect_trap("MOV DS, not-present DPL 0 segment with RPL 3: #GP first", 13, SEL_NP_DATA, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("lcall $0x78, $0"));
  expect_trap("far CALL to a not-present code segment", 11, SEL_NP_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("ljmp $0x78, $0"));
  expect_trap("far JMP to a not-present code segment", 11, SEL_NP_CODE, probe_ip);
  trap_reset();
  TRY_ASM1(FAULT_AT("ltr %%ax"), SEL_NP_TSS);
  expect_trap("LTR of a not-present TSS", 11, SEL_NP_TSS, probe_ip);
  // A not-present IDT gate: #NP(vector * 8 + 2 + EXT); EXT = 0 for INT n (SDM Vol. 3A, 6.13).
  idt[0x90] &= ~(1ull << 47);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x90"));
  expect_trap("INT 0x90 through a not-present gate", 11, 0x90 * 8 + 2, probe_ip);
  set_idt_stub(0x90, TYPE_INT_GATE, 0);
}

// ---- #SS ----
static void test_stack_fault(void) {
  section("#SS stack fault");
  // Loading SS with a not-present segment is #SS(selector), not #NP (SDM Vol. 2B, MOV).
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ss"), SEL_NP_DATA);
  expect_trap("MOV SS, not-present data segment", 12, SEL_NP_DATA, probe_ip);
  expect_kernel_frame("MOV SS, not-present");

  // A ring-3 stack segment with limit 0xfff (base user_ss_area): references beyond the limit
  // through SS are #SS(0) (SDM Vol. 3A, 6.15 "Interrupt 12").
  user_ss = SEL_USER_SMALL_SS | 3;
  user_sp = 0x800;
  trap_reset();
  USER_ASM(FAULT_AT("movl 0x1000(%%esp), %%ebx"));
  check_eq_sdm(trap.vector, 12, VEC_USER_DONE,
               "read 0x1800(SS) beyond the stack segment limit 0xfff: #SS");
  if (trap.vector == 12) {
    expect_trap("read beyond the SS limit", 12, 0, probe_ip);
    expect_user_frame("read beyond the SS limit", SEL_USER_SMALL_SS | 3, 0x800);
  }
  trap_reset();
  USER_ASM("movl $2, %%esp\n\t" FAULT_AT("pushl %%eax"));
  check_eq_sdm(trap.vector, 12, VEC_USER_DONE, "PUSH with ESP=2 wraps beyond the SS limit: #SS");
  if (trap.vector == 12) {
    expect_trap("PUSH below the stack segment", 12, 0, probe_ip);
    expect_user_frame("PUSH below the stack segment", SEL_USER_SMALL_SS | 3, 2);
  }
  check_eq(USER_ASM("pushl %%eax\n\tpopl %%eax\n\tmovl 0x7fc(%%esp), %%ebx"), 1,
           "accesses inside the small stack segment work");
  expect_user_done("accesses inside the small stack segment");
  user_reset();
}

// ---- #GP ----
static void test_general_protection(void) {
  section("#GP general protection: privileged instructions at CPL 3");
  static const struct {
    const char* name;
    int index;
  } privileged[] = {{"HLT", 0},          {"CLI (IOPL 0)", 1},
                    {"STI (IOPL 0)", 2}, {"LGDT", 3},
                    {"LIDT", 4},         {"MOV CR0, r", 5},
                    {"MOV r, CR0", 6},   {"MOV DR7, r", 7},
                    {"CLTS", 8},         {"INVLPG", 9},
                    {"LTR", 10},         {"LLDT", 11},
                    {"WBINVD", 12},      {"IN AL, 0x80 (IOPL 0)", 13},
                    {"LMSW", 14}};
  for (unsigned i = 0; i < ARRAY_SIZE(privileged); ++i) {
    trap_reset();
    switch (privileged[i].index) {
      case 0:
        USER_ASM(FAULT_AT("hlt"));
        break;
      case 1:
        USER_ASM(FAULT_AT("cli"));
        break;
      case 2:
        USER_ASM(FAULT_AT("sti"));
        break;
      case 3:
        USER_ASM(FAULT_AT("lgdt (%%esp)"));
        break;
      case 4:
        USER_ASM(FAULT_AT("lidt (%%esp)"));
        break;
      case 5:
        USER_ASM1(FAULT_AT("movl %%eax, %%cr0"), CR0_PE);
        break;
      case 6:
        USER_ASM(FAULT_AT("movl %%cr0, %%eax"));
        break;
      case 7:
        USER_ASM1(FAULT_AT("movl %%eax, %%dr7"), 0);
        break;
      case 8:
        USER_ASM(FAULT_AT("clts"));
        break;
      case 9:
        USER_ASM(FAULT_AT("invlpg (%%esp)"));
        break;
      case 10:
        USER_ASM1(FAULT_AT("ltr %%ax"), SEL32_TSS);
        break;
      case 11:
        USER_ASM1(FAULT_AT("lldt %%ax"), 0);
        break;
      case 12:
        USER_ASM(FAULT_AT("wbinvd"));
        break;
      case 13:
        USER_ASM(FAULT_AT("inb $0x80, %%al"));
        break;
      case 14:
        USER_ASM1(FAULT_AT("lmsw %%ax"), CR0_PE);
        break;
    }
    char what[64];
    ksnprintf(what, sizeof what, "%s at CPL 3", privileged[i].name);
    expect_trap(what, 13, 0, probe_ip);
  }
  expect_user_frame("LMSW at CPL 3", SEL32_UDATA | 3, user_sp);

  section("#GP: segment register loads (error code = selector)");
  static const struct {
    const char* name;
    uint16_t sel;
    uint16_t error;
  } ds_loads[] = {
      {"selector beyond the GDT limit", SEL_BEYOND_GDT, SEL_BEYOND_GDT},
      {"LDT selector with a null LDTR", 0x000c | 0, 0x000c},
      {"execute-only code segment", SEL_XO_CODE, SEL_XO_CODE},
      {"TSS descriptor (system segment)", SEL32_TSS, SEL32_TSS},
      {"DPL 0 data with RPL 3 at CPL 0", SEL32_KDATA | 3, SEL32_KDATA},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(ds_loads); ++i) {
    trap_reset();
    TRY_ASM1(FAULT_AT("movw %%ax, %%ds") RESTORE_SEGS, ds_loads[i].sel);
    char what[80];
    ksnprintf(what, sizeof what, "MOV DS, %s", ds_loads[i].name);
    expect_trap(what, 13, ds_loads[i].error, probe_ip);
  }
  check_eq(TRY_ASM1("movw %%ax, %%ds" RESTORE_SEGS, 0), 0, "MOV DS, null selector is allowed");
  // Using a null data segment is #GP(0) (SDM Vol. 3A, 3.4.2). QEMU TCG does not check it.
  trap_reset();
  TRY_ASM1("movw %%ax, %%es\n\t" FAULT_AT("movl %%es:lock_target, %%ebx") RESTORE_SEGS, 0);
  check_eq_sdm(trap.vector, 13, ~0u, "memory access through a null ES: #GP");
  if (trap.vector == 13) expect_trap("memory access through a null ES", 13, 0, probe_ip);
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ss"), 0);
  expect_trap("MOV SS, null selector (32-bit mode)", 13, 0, probe_ip);
  static const struct {
    const char* name;
    uint16_t sel;
    uint16_t error;
  } ss_loads[] = {
      {"RPL 3 != CPL 0", SEL32_KDATA | 3, SEL32_KDATA},
      {"DPL 3 data at CPL 0", SEL32_UDATA | 0, SEL32_UDATA},
      {"read-only data segment", SEL_RO_DATA, SEL_RO_DATA},
      {"code segment", SEL32_KCODE, SEL32_KCODE},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(ss_loads); ++i) {
    trap_reset();
    TRY_ASM1(FAULT_AT("movw %%ax, %%ss"), ss_loads[i].sel);
    char what[80];
    ksnprintf(what, sizeof what, "MOV SS, %s", ss_loads[i].name);
    expect_trap(what, 13, ss_loads[i].error, probe_ip);
  }
  trap_reset();
  TRY_ASM(FAULT_AT("ljmp $0x10, $0"));
  expect_trap("far JMP to a data segment", 13, SEL32_KDATA, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("ljmp $0x18, $0"));
  expect_trap("far JMP to a DPL 3 non-conforming code segment at CPL 0", 13, SEL32_UCODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("lcall $0x1008, $0"));
  expect_trap("far CALL beyond the GDT limit", 13, SEL_BEYOND_GDT, probe_ip);
  trap_reset();
  USER_ASM1(FAULT_AT("movw %%ax, %%ds"), SEL32_KDATA | 3);
  expect_trap("MOV DS, DPL 0 data at CPL 3", 13, SEL32_KDATA, probe_ip);

  section("#GP: segment limits and types");
  // Writing a read-only data segment (SDM Vol. 3A, 5.4.1... and 6.15 "Interrupt 13").
  trap_reset();
  TRY_ASM1("movw %%ax, %%es\n\t" FAULT_AT("movl %%ebx, %%es:lock_target") RESTORE_SEGS,
           SEL_RO_DATA);
  check_eq_sdm(trap.vector, 13, ~0u, "write through a read-only data segment: #GP");
  if (trap.vector == 13) expect_trap("write through a read-only segment", 13, 0, probe_ip);
  check_eq(TRY_ASM1("movw %%ax, %%es\n\tmovl %%es:lock_target, %%ebx" RESTORE_SEGS, SEL_RO_DATA), 0,
           "read through a read-only data segment works");
  // Beyond the limit of an expand-up segment: #GP(0) for DS/ES/FS/GS.
  trap_reset();
  TRY_ASM1("movw %%ax, %%es\n\t" FAULT_AT("movl %%es:0xffe, %%ebx") RESTORE_SEGS, SEL_SMALL_DATA);
  check_eq_sdm(trap.vector, 13, ~0u, "dword at offset 0xffe of a segment with limit 0xfff: #GP");
  if (trap.vector == 13) expect_trap("dword across the ES limit", 13, 0, probe_ip);
  small_area[0xffc] = 0x5a;
  check_eq(TRY_ASM1("movw %%ax, %%es\n\tmovl %%es:0xffc, %%ebx" RESTORE_SEGS, SEL_SMALL_DATA), 0,
           "dword at offset 0xffc of a segment with limit 0xfff works");
  // Expand-down: valid offsets are limit+1 .. 0xffffffff (B=1).
  trap_reset();
  TRY_ASM1("movw %%ax, %%es\n\t" FAULT_AT("movl %%es:0x800, %%ebx") RESTORE_SEGS, SEL_EXPDOWN_DATA);
  check_eq_sdm(trap.vector, 13, ~0u,
               "offset 0x800 of an expand-down segment with limit 0xfff: #GP");
  check_eq(TRY_ASM1("movw %%ax, %%es\n\tmovl %%es:0x1000, %%ebx" RESTORE_SEGS, SEL_EXPDOWN_DATA), 0,
           "offset 0x1000 of an expand-down segment with limit 0xfff works");

  section("#GP: interrupt gates");
  // Software interrupt through a gate with DPL < CPL.
  trap_reset();
  USER_ASM(FAULT_AT("int $0x40"));
  expect_trap("INT 0x40 at CPL 3 through a DPL 0 gate", 13, 0x40 * 8 + 2, probe_ip);
  expect_user_frame("INT 0x40 at CPL 3", SEL32_UDATA | 3, user_sp);
  // A vector beyond the IDT limit: #GP(vector * 8 + 2).
  lidt(idt, 0x50 * 8 - 1);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x60"));
  lidt(idt, sizeof idt - 1);
  expect_trap("INT 0x60 beyond the IDT limit", 13, 0x60 * 8 + 2, probe_ip);
  // A descriptor of the wrong type in the IDT (a data segment descriptor).
  uint64_t saved = idt[0x91];
  idt[0x91] = flat_data32(0);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x91"));
  idt[0x91] = saved;
  expect_trap("INT 0x91 through a data-segment descriptor in the IDT", 13, 0x91 * 8 + 2, probe_ip);
}

// ---- #AC ----
static void test_alignment_check(void) {
  section("#AC alignment check");
  write_cr0(read_cr0() | CR0_AM);
  user_flags = EFL_FIXED | EFL_AC;
  trap_reset();
  USER_ASM(FAULT_AT("movl misaligned_target+1, %%ebx"));
  check_eq_sdm(trap.vector, 17, VEC_USER_DONE,
               "misaligned dword read at CPL 3 with CR0.AM=1, EFLAGS.AC=1: #AC");
  if (trap.vector == 17) {
    expect_trap("misaligned read with alignment checking", 17, 0, probe_ip);
    expect_user_frame("#AC", SEL32_UDATA | 3, user_sp);
  }
  // No alignment checking at CPL 0, nor when EFLAGS.AC or CR0.AM is clear.
  check_eq(
      TRY_ASM("pushl $0x40002\n\tpopfl\n\tmovl misaligned_target+1, %%ebx\n\tpushl $2\n\tpopfl"), 0,
      "misaligned read at CPL 0 with AM=1, AC=1: no #AC");
  user_flags = EFL_FIXED;
  trap_reset();
  USER_ASM("movl misaligned_target+1, %%ebx");
  expect_user_done("misaligned read at CPL 3 with AC=0");
  write_cr0(read_cr0() & ~CR0_AM);
  user_flags = EFL_FIXED | EFL_AC;
  trap_reset();
  USER_ASM("movl misaligned_target+1, %%ebx");
  expect_user_done("misaligned read at CPL 3 with CR0.AM=0");
  user_reset();
}

// ---- #TS and a handler in a conforming segment ----
// An interrupt from CPL 3 through a gate to a DPL 0 non-conforming segment takes SS0:ESP0 from
// the TSS and checks it (SDM Vol. 2A, INT n: "INTER-PRIVILEGE-LEVEL-INTERRUPT"). A bad SS0 is
// #TS(SS0 selector + EXT), EXT = 0 for INT n. The #TS itself cannot go to a ring-0 handler
// (that needs the same bad SS0: #DF, then a triple fault), so vectors 10 and 12 point at a
// conforming code segment while this runs: the handler then runs at CPL 3 on the user stack
// (SDM Vol. 3A, 6.12.1.1: conforming segment, no privilege change), records the frame, repairs
// SS0 and leaves with INT VEC_USER_DONE.
volatile uint32_t conf_count, conf_vector, conf_error, conf_eip, conf_cs, conf_eflags, conf_esp;
volatile uint32_t conf_handler_cs;
void conf_handler_ts(void);
void conf_handler_ss(void);
__asm__(
    ".text\n"
    "conf_handler_ts:\n\t"
    "movl $10, conf_vector\n\t"
    "jmp conf_common\n"
    "conf_handler_ss:\n\t"
    "movl $12, conf_vector\n"
    "conf_common:\n\t"
    "incl conf_count\n\t"
    "movl %esp, conf_esp\n\t"
    "movw %cs, conf_handler_cs\n\t"
    "popl conf_error\n\t"
    "popl conf_eip\n\t"
    "popl conf_cs\n\t"
    "popl conf_eflags\n\t"
    "movw $0x10, tss_area+8\n\t"  // TSS.SS0 (offset 8) = kernel data again
    "int $0x80\n");

static void test_invalid_tss(void) {
  section("#TS invalid TSS (stack switch from CPL 3)");
  idt[10] = gate32((uint32_t)conf_handler_ts, SEL_CONF_CODE, TYPE_INT_GATE, 0, 0);
  idt[12] = gate32((uint32_t)conf_handler_ss, SEL_CONF_CODE, TYPE_INT_GATE, 0, 0);
  set_idt_stub(0x81, TYPE_INT_GATE, 3);
  static const struct {
    const char* name;
    uint16_t ss0;
    uint32_t vector;
    uint32_t error;
    uint32_t qemu_vector;
  } cases[] = {
      {"SS0 null", 0, 10, 0, 10},
      {"SS0 RPL 3", SEL32_KDATA | 3, 10, SEL32_KDATA, 10},
      {"SS0 beyond the GDT limit", SEL_BEYOND_GDT, 10, SEL_BEYOND_GDT, 10},
      {"SS0 a code segment", SEL32_KCODE, 10, SEL32_KCODE, 10},
      {"SS0 a read-only data segment", SEL_RO_DATA, 10, SEL_RO_DATA, 10},
      {"SS0 a DPL 3 data segment", SEL32_UDATA, 10, SEL32_UDATA, 10},
      // Not present: #SS(selector), not #TS. QEMU TCG raises #TS here.
      {"SS0 not present", SEL_NP_DATA, 12, SEL_NP_DATA, 10},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(cases); ++i) {
    conf_count = 0;
    conf_vector = ~0u;
    trap_reset();
    tss.ss0 = cases[i].ss0;
    USER_ASM(FAULT_AT("int $0x81"));
    tss.ss0 = SEL32_KDATA;
    char what[64];
    ksnprintf(what, sizeof what, "INT 0x81 at CPL 3 with %s", cases[i].name);
    expect_user_done(what);
    check_eq(conf_count, 1, "%s: one fault during delivery", what);
    if (cases[i].qemu_vector != cases[i].vector)
      check_eq_sdm(conf_vector, cases[i].vector, cases[i].qemu_vector, "%s: vector", what);
    else
      check_eq(conf_vector, cases[i].vector, "%s: vector", what);
    check_eq(conf_error, cases[i].error, "%s: error code", what);
    check_eq(conf_eip, probe_ip, "%s: saved EIP is the INT instruction", what);
    check_eq(conf_cs & 0xffff, SEL32_UCODE | 3, "%s: saved CS is the ring-3 code", what);
    check_eq(conf_handler_cs & 0xffff, SEL_CONF_CODE | 3,
             "%s: handler ran in the conforming segment at CPL 3", what);
    check_eq(conf_esp, user_sp - 16, "%s: frame of 16 bytes on the ring-3 stack", what);
  }
  set_idt_stub(10, TYPE_INT_GATE, 0);
  set_idt_stub(12, TYPE_INT_GATE, 0);
  set_idt_stub(0x81, TYPE_INT_GATE, 0);
}

// ---- #DF ----
static void test_double_fault(void) {
  section("#DF double fault (SDM Vol. 3A, Table 6-5)");
  // Contributory during contributory: #GP, whose gate is not present -> #NP -> #DF(0).
  uint64_t saved = idt[13];
  idt[13] &= ~(1ull << 47);
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ds") RESTORE_SEGS, SEL_BEYOND_GDT);
  idt[13] = saved;
  check_eq(trap.vector, 8, "#GP with a not-present #GP gate: #DF");
  check_eq(trap.error_code, 0, "#DF error code is 0");
  check_eq(trap.count, 1, "#DF: one event reached a handler");
  check_eq(trap.entry_sp, catch_sp - 16, "#DF: frame with error code on the interrupted stack");

  saved = idt[0];
  idt[0] &= ~(1ull << 47);
  trap_reset();
  TRY_ASM3(FAULT_AT("divl %%ecx"), 1, 0, 0);
  idt[0] = saved;
  check_eq(trap.vector, 8, "#DE with a not-present #DE gate: #DF");
  check_eq(trap.error_code, 0, "#DF error code is 0");

  saved = idt[11];
  idt[11] &= ~(1ull << 47);
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ds") RESTORE_SEGS, SEL_NP_DATA);
  idt[11] = saved;
  check_eq(trap.vector, 8, "#NP with a not-present #NP gate: #DF");

  // Benign first event: the #NP is delivered normally. For an exception the error code has
  // EXT = 1 (SDM Vol. 3A, 6.13); for INT3 (a software interrupt) EXT = 0.
  saved = idt[1];
  idt[1] &= ~(1ull << 47);
  trap_reset();
  TRY_ASM(FAULT_AFTER("pushl $0x102\n\tpopfl", "nop"));
  idt[1] = saved;
  check_eq(trap.vector, 11, "single-step #DB with a not-present #DB gate: #NP, not #DF");
  check_eq_sdm(trap.error_code, 1 * 8 + 2 + 1, 1 * 8 + 2, "#NP error code: vector 1, IDT, EXT");
  check_eq(trap.ip, probe_next, "#NP while delivering the #DB trap: saved EIP after the step");
  saved = idt[3];
  idt[3] &= ~(1ull << 47);
  trap_reset();
  TRY_ASM(FAULT_AT("int3"));
  idt[3] = saved;
  expect_trap("INT3 with a not-present gate", 11, 3 * 8 + 2, probe_ip);
}

// ---- #PF (32-bit paging, SDM Vol. 3A, 4.3 and 4.7) ----
static uint32_t page_dir[1024] ALIGNED(4096);
static uint32_t page_tables[4][1024] ALIGNED(4096);  // 0 .. 16 MiB in 4 KiB pages
#define PG_P 0x1u
#define PG_RW 0x2u
#define PG_US 0x4u
#define PG_A 0x20u
#define PG_D 0x40u
#define PAGE_NP 0xC00000u         // not present
#define PAGE_RO 0xC01000u         // user, read-only
#define PAGE_SUP 0xC02000u        // supervisor, read/write
#define PAGE_SUP_RO 0xC03000u     // supervisor, read-only
#define PAGE_AD 0xC04000u         // user, read/write, A and D clear
#define IDT_SPLIT_PAGE 0xC07000u  // not present; the IDT copy straddles into it
#define UNMAPPED_PDE 0x2000000u   // 32 MiB: its page-directory entry is not present

static volatile uint32_t* pte32(uint32_t va) {
  return &page_tables[va >> 22][(va >> 12) & 1023];
}

static void test_page_fault(void) {
  section("#PF page fault (32-bit paging)");
  for (uint32_t t = 0; t < 4; ++t) {
    for (uint32_t i = 0; i < 1024; ++i)
      page_tables[t][i] = ((t << 22) | (i << 12)) | PG_US | PG_RW | PG_P;
    page_dir[t] = (uint32_t)page_tables[t] | PG_US | PG_RW | PG_P;
  }
  *pte32(PAGE_NP) = 0;
  *pte32(PAGE_RO) = PAGE_RO | PG_US | PG_P;
  *pte32(PAGE_SUP) = PAGE_SUP | PG_RW | PG_P;
  *pte32(PAGE_SUP_RO) = PAGE_SUP_RO | PG_P;
  *pte32(PAGE_AD) = PAGE_AD | PG_US | PG_RW | PG_P;
  *pte32(IDT_SPLIT_PAGE) = 0;
  write_cr3((uint32_t)page_dir);
  write_cr0(read_cr0() | CR0_PG | CR0_WP);
  check_eq(read_cr0() & CR0_PG, CR0_PG, "paging enabled");

  static const struct {
    const char* name;
    int user, write;
    uint32_t addr;
    uint32_t error;
  } cases[] = {
      {"CPL 0 read, not present", 0, 0, PAGE_NP + 0x123, 0},
      {"CPL 0 write, not present", 0, 1, PAGE_NP + 0x456, 2},
      {"CPL 0 write, read-only page, CR0.WP=1", 0, 1, PAGE_RO + 0x10, 3},
      {"CPL 0 read, page-directory entry not present", 0, 0, UNMAPPED_PDE + 0x20, 0},
      {"CPL 3 read, not present", 1, 0, PAGE_NP + 0x8, 4},
      {"CPL 3 write, not present", 1, 1, PAGE_NP + 0xffc, 6},
      {"CPL 3 read, supervisor page", 1, 0, PAGE_SUP + 0x20, 5},
      {"CPL 3 write, supervisor page", 1, 1, PAGE_SUP + 0x24, 7},
      {"CPL 3 write, read-only user page", 1, 1, PAGE_RO + 0x30, 7},
      {"CPL 3 write, read-only supervisor page", 1, 1, PAGE_SUP_RO + 0x40, 7},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(cases); ++i) {
    trap_reset();
    uint32_t a = cases[i].addr;
    if (cases[i].user) {
      if (cases[i].write)
        USER_ASM1(FAULT_AT("movl %%ebx, (%%eax)"), a);
      else
        USER_ASM1(FAULT_AT("movl (%%eax), %%ebx"), a);
    } else {
      if (cases[i].write)
        TRY_ASM1(FAULT_AT("movl %%ebx, (%%eax)"), a);
      else
        TRY_ASM1(FAULT_AT("movl (%%eax), %%ebx"), a);
    }
    expect_trap(cases[i].name, 14, cases[i].error, probe_ip);
    check_eq(trap.cr2, a, "%s: CR2 is the faulting address", cases[i].name);
    if (cases[i].user && i == ARRAY_SIZE(cases) - 1)
      expect_user_frame(cases[i].name, SEL32_UDATA | 3, user_sp);
  }
  check_eq(TRY_ASM1("movl (%%eax), %%ebx", PAGE_RO), 0, "CPL 0 read of a read-only page works");
  check_eq(USER_ASM1("movl (%%eax), %%ebx", PAGE_RO), 1, "CPL 3 read of a read-only user page");
  expect_user_done("CPL 3 read of a read-only user page");
  write_cr0(read_cr0() & ~CR0_WP);
  check_eq(TRY_ASM1("movl $0x1234, (%%eax)", PAGE_RO + 0x10), 0,
           "CPL 0 write to a read-only page with CR0.WP=0 works");
  check_eq(*(volatile uint32_t*)(PAGE_RO + 0x10), 0x1234, "the write with CR0.WP=0 landed");
  write_cr0(read_cr0() | CR0_WP);

  // Instruction fetch from a not-present page: the fault is on the fetch, EIP = CR2 = target.
  // I/D (bit 4) is set only with PAE/4-level paging and EFER.NXE, or CR4.SMEP (SDM Vol. 3A,
  // 4.7): 32-bit paging here, so it stays clear.
  trap_reset();
  TRY_ASM1("jmp *%%eax", PAGE_NP + 0x40);
  expect_trap("instruction fetch from a not-present page", 14, 0, PAGE_NP + 0x40);
  check_eq(trap.cr2, PAGE_NP + 0x40, "instruction fetch: CR2");

  // Accessed and dirty flags (SDM Vol. 3A, 4.8).
  check_eq(*pte32(PAGE_AD) & (PG_A | PG_D), 0, "A and D clear before any access");
  (void)*(volatile uint32_t*)(PAGE_AD + 8);
  check_eq(*pte32(PAGE_AD) & (PG_A | PG_D), PG_A, "a read sets A, not D");
  check_eq(((volatile uint32_t*)page_dir)[PAGE_AD >> 22] & PG_A, PG_A,
           "the page-directory entry's A is set");
  *(volatile uint32_t*)(PAGE_AD + 8) = 1;
  check_eq(*pte32(PAGE_AD) & (PG_A | PG_D), PG_A | PG_D, "a write sets D");

  // #PF while delivering a #PF: #DF. The IDT copy starts 72 bytes before a not-present page,
  // so gates 0..8 are readable and gate 14 is not: reading it faults (CR2 = the gate's
  // address) during delivery of the first #PF (SDM Vol. 3A, Table 6-5: page fault, then page
  // fault -> double fault).
  uint8_t* split_idt = (uint8_t*)(IDT_SPLIT_PAGE - 72);
  memcpy(split_idt, idt, 72);
  lidt(split_idt, sizeof idt - 1);
  trap_reset();
  TRY_ASM1(FAULT_AT("movl (%%eax), %%ebx"), PAGE_NP);
  lidt(idt, sizeof idt - 1);
  check_eq(trap.vector, 8, "#PF while reading the #PF gate: #DF");
  check_eq(trap.error_code, 0, "#DF error code is 0");
  check_eq(trap.cr2, (uint32_t)split_idt + 14 * 8, "CR2 is the address of the #PF gate");

  write_cr0(read_cr0() & ~CR0_PG);
  check_eq(read_cr0() & CR0_PG, 0, "paging disabled again");
}

// An interrupt through a trap gate leaves IF alone; an interrupt gate clears it (SDM Vol. 3A,
// 6.12.1.3). The 8259s are masked, so IF=1 is safe here.
static void test_gate_kinds(void) {
  section("interrupt gate vs trap gate");
  set_idt_stub(0x82, TYPE_TRAP_GATE, 0);
  trap_reset();
  TRY_ASM("pushl $0x202\n\tpopfl\n\t" FAULT_AT("int $0x82"));
  check_eq(trap.vector, 0x82, "INT 0x82 through a trap gate");
  check_eq(trap.ip, probe_next, "INT n: saved EIP after the instruction");
  check_eq(trap.handler_flags & EFL_IF, EFL_IF, "trap gate: IF stays set in the handler");
  set_idt_stub(0x82, TYPE_INT_GATE, 0);
  trap_reset();
  TRY_ASM("pushl $0x202\n\tpopfl\n\t" FAULT_AT("int $0x82"));
  check_eq(trap.handler_flags & EFL_IF, 0, "interrupt gate: IF clear in the handler");
  check_eq(trap.flags & EFL_IF, EFL_IF, "interrupt gate: saved EFLAGS.IF set");
}

void kmain32(void) {
  setup_descriptors();
  test_divide_error();
  test_debug();
  test_breakpoint_overflow_bound();
  test_invalid_opcode();
  test_not_present();
  test_stack_fault();
  test_general_protection();
  test_alignment_check();
  test_invalid_tss();
  test_double_fault();
  test_page_fault();
  test_gate_kinds();
}
