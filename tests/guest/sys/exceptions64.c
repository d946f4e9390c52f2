// exceptions64: the non-FPU exceptions in 64-bit mode, with vector, error code and the 64-bit
// frame (SDM Vol. 3A, 6.14: SS:RSP always pushed, stack aligned to 16 bytes, IST, null SS on a
// privilege change), plus 4-level paging faults (SDM Vol. 3A, 4.7).
#include "cpu64.h"
#include "trap.h"
#include "x86.h"

#define SEL_NP_DATA 0x48       // data, not present
#define SEL_BEYOND_GDT 0x1008  // index beyond the GDT limit

#define PROBE_FLAGS (EFL_FIXED | EFL_CF | EFL_ZF | EFL_OF)
#define SET_PROBE_FLAGS "pushq $0x843\n\tpopfq\n\t"
// Error code naming an IDT gate in IA-32e mode: the gate's byte offset (vector * 16) + IDT bit
// (SDM Vol. 2A, INT n pseudocode, IA-32E-MODE: "#GP((vector_number * 16) + 2 + EXT)").
// An IDT-referencing error code holds the vector in the selector-index field (bits 15:3) with
// the IDT flag (bit 1), also in 64-bit mode where gates are 16 bytes (SDM vol. 3, 6.13).
// QEMU 7.2 TCG reports vector*16+2 instead (fixed upstream later: QEMU issue 1382).
#define IDT_ERR(v) ((v)*8 + 2)
#define IDT_ERR_QEMU(v) ((v)*16 + 2)
#define NONCANONICAL_LOW 0x0000800000000000ull   // first address above the lower half
#define NONCANONICAL_HIGH 0x8000000000000000ull  // bit 63 set, bits 62:47 clear

uint64_t lock_target;
uint64_t misaligned_target[4];

static void setup_descriptors(void) {
  gdt[SEL_NP_DATA >> 3] = seg_desc(0, 0xfffff, ACC_S | TYPE_DATA_RW, FLG_G | FLG_DB);
}

// ---- frame checks ----
// Same privilege, no IST: RSP is aligned down to 16 bytes, then SS, RSP, RFLAGS, CS, RIP
// [, error code] are pushed (SDM Vol. 3A, 6.14.2 and 6.14.3).
static void expect_kernel_frame(const char* what, uint64_t rsp) {
  int size = trap.has_error ? 48 : 40;
  check_eq(trap.cs, SEL64_KCODE, "%s: saved CS", what);
  check_eq(trap.ss, SEL64_KDATA, "%s: saved SS", what);
  check_eq(trap.sp, rsp, "%s: saved RSP", what);
  check_eq(trap.entry_sp, (rsp & ~15ull) - size,
           "%s: %d-byte frame below the interrupted RSP aligned to 16", what, size);
}
// From CPL 3: the stack is TSS.RSP0 aligned to 16, and SS becomes a null selector.
static void expect_user_frame(const char* what, uint64_t rsp) {
  int size = trap.has_error ? 48 : 40;
  check_eq(trap.cs, SEL64_UCODE | 3, "%s: saved CS", what);
  check_eq(trap.ss, SEL64_UDATA | 3, "%s: saved SS", what);
  check_eq(trap.sp, rsp, "%s: saved RSP", what);
  check_eq(trap.entry_sp, (tss.rsp[0] & ~15ull) - size, "%s: %d-byte frame at TSS.RSP0", what,
           size);
  check_eq(trap.handler_ss, 0, "%s: SS is null in the handler (CPL change)", what);
}

static void test_divide_debug_breakpoint(void) {
  section("#DE divide error");
  trap_reset();
  TRY_ASM3(SET_PROBE_FLAGS FAULT_AT("divq %%rcx"), 1234, 0, 0);
  expect_trap("DIV r64 by zero", 0, NO_ERROR_CODE, probe_ip);
  // Fault-class exceptions push RF = 1 (SDM vol. 3, 17.3.1.1); QEMU TCG pushes RF = 0.
  check_eq_sdm(trap.flags, PROBE_FLAGS | EFL_RF, PROBE_FLAGS,
               "DIV by zero: saved RFLAGS are those before the DIV, with RF");
  check_eq(trap.gpr[0], 1234, "DIV by zero: RAX not written (fault)");
  expect_kernel_frame("DIV by zero", catch_sp);
  trap_reset();
  TRY_ASM3(FAULT_AT("idivq %%rcx"), 0x8000000000000000ull, -1ll, -1ll);
  expect_trap("IDIV r64: -2^63 / -1 overflows", 0, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM3(FAULT_AT("divl %%ecx"), 0, 1, 1);
  expect_trap("DIV r32: quotient 2^32 does not fit EAX", 0, NO_ERROR_CODE, probe_ip);
  // Misaligned RSP: the frame still starts at a 16-byte boundary.
  trap_reset();
  TRY_ASM3("subq $8, %%rsp\n\t" FAULT_AT("divq %%rcx"), 1, 0, 0);
  expect_trap("DIV by zero with RSP = 8 mod 16", 0, NO_ERROR_CODE, probe_ip);
  expect_kernel_frame("DIV by zero with RSP = 8 mod 16", catch_sp - 8);
  trap_reset();
  USER_ASM3(FAULT_AT("divq %%rcx"), 1, 0, 0);
  expect_trap("DIV by zero at CPL 3", 0, NO_ERROR_CODE, probe_ip);
  expect_user_frame("DIV by zero at CPL 3", user_sp);

  section("#DB debug");
  trap_reset();
  write_dr6(0);
  TRY_ASM(FAULT_AFTER("pushq $0x102\n\tpopfq", "movl $5, %%eax"));
  expect_trap("single step after POPFQ sets TF", 1, NO_ERROR_CODE, probe_next);
  check_eq(trap.gpr[0], 5, "single step: the stepped instruction completed");
  check_eq(trap.flags & EFL_TF, EFL_TF, "single step: saved RFLAGS.TF set");
  check_eq(trap.handler_flags & (EFL_TF | EFL_IF), 0, "handler runs with TF=IF=0");
  check_eq(trap.dr6 & (1u << 14), 1u << 14, "single step: DR6.BS set");
  trap_reset();
  TRY_ASM(FAULT_AT(".byte 0xf1"));
  check_eq_sdm(trap.vector, 1, 6, "INT1 (ICEBP, F1): #DB");
  if (trap.vector == 1) expect_trap("INT1 (ICEBP, F1)", 1, NO_ERROR_CODE, probe_next);

  section("#BP breakpoint");
  trap_reset();
  TRY_ASM(SET_PROBE_FLAGS FAULT_AT("int3"));
  expect_trap("INT3", 3, NO_ERROR_CODE, probe_next);
  check_eq(trap.flags, PROBE_FLAGS, "INT3: saved RFLAGS");
  expect_kernel_frame("INT3", catch_sp);
  trap_reset();
  TRY_ASM(FAULT_AT(".byte 0xcd, 0x03"));
  expect_trap("INT 3 (CD 03)", 3, NO_ERROR_CODE, probe_next);
  trap_reset();
  USER_ASM(FAULT_AT("int3"));
  expect_trap("INT3 at CPL 3", 3, NO_ERROR_CODE, probe_next);
  expect_user_frame("INT3 at CPL 3", user_sp);
  set_idt_stub(3, TYPE_INT_GATE, 0, 0);
  trap_reset();
  USER_ASM(FAULT_AT("int3"));
  expect_trap_sdm("INT3 at CPL 3 through a DPL 0 gate", 13, IDT_ERR(3), IDT_ERR_QEMU(3), probe_ip);
  set_idt_stub(3, TYPE_INT_GATE, 3, 0);
}

static void test_invalid_opcode(void) {
  section("#UD invalid opcode");
  trap_reset();
  TRY_ASM(SET_PROBE_FLAGS FAULT_AT("ud2"));
  expect_trap("UD2", 6, NO_ERROR_CODE, probe_ip);
  check_eq_sdm(trap.flags, PROBE_FLAGS | EFL_RF, PROBE_FLAGS, "UD2: saved RFLAGS (RF set: a fault)");
  expect_kernel_frame("UD2", catch_sp);
  // Opcodes that do not exist in 64-bit mode (SDM Vol. 2, opcode map footnote "i64").
  static const struct {
    const char* name;
    int index;
  } invalid64[] = {{"INTO (CE)", 0},       {"PUSH ES (06)", 1},           {"DAA (27)", 2},
                   {"AAM (D4 0A)", 3},     {"far CALL ptr16:32 (9A)", 4}, {"PUSHA (60)", 5},
                   {"LOCK NOP (F0 90)", 6}};
  for (unsigned i = 0; i < ARRAY_SIZE(invalid64); ++i) {
    trap_reset();
    switch (invalid64[i].index) {
      case 0:
        TRY_ASM("pushq $0x802\n\tpopfq\n\t" FAULT_AT(".byte 0xce"));
        break;
      case 1:
        TRY_ASM(FAULT_AT(".byte 0x06"));
        break;
      case 2:
        TRY_ASM(FAULT_AT(".byte 0x27"));
        break;
      case 3:
        TRY_ASM(FAULT_AT(".byte 0xd4, 0x0a"));
        break;
      case 4:
        TRY_ASM(FAULT_AT(".byte 0x9a, 0, 0, 0, 0, 0x08, 0"));
        break;
      case 5:
        TRY_ASM(FAULT_AT(".byte 0x60"));
        break;
      case 6:
        TRY_ASM(FAULT_AT(".byte 0xf0, 0x90"));
        break;
    }
    char what[64];
    ksnprintf(what, sizeof what, "%s in 64-bit mode", invalid64[i].name);
    expect_trap(what, 6, NO_ERROR_CODE, probe_ip);
  }
  trap_reset();
  TRY_ASM3(FAULT_AT(".byte 0xf0\n\taddq %%rcx, %%rax"), 1, 2, 0);
  expect_trap("LOCK ADD with a register destination", 6, NO_ERROR_CODE, probe_ip);
  lock_target = 40;
  check_eq(TRY_ASM3("lock addq %%rcx, lock_target(%%rip)", 0, 2, 0), 0, "LOCK ADD to memory");
  check_eq(lock_target, 42, "LOCK ADD to memory: result");
  trap_reset();
  USER_ASM(FAULT_AT("ud2"));
  expect_trap("UD2 at CPL 3", 6, NO_ERROR_CODE, probe_ip);
  expect_user_frame("UD2 at CPL 3", user_sp);
}

static void test_segment_faults(void) {
  section("#NP, #SS, #TS in 64-bit mode");
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ds"), SEL_NP_DATA);
  expect_trap("MOV DS, not-present data segment", 11, SEL_NP_DATA, probe_ip);
  expect_kernel_frame("MOV DS, not-present", catch_sp);
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ss"), SEL_NP_DATA);
  expect_trap("MOV SS, not-present data segment", 12, SEL_NP_DATA, probe_ip);
  idt[0x90].lo &= ~(1ull << 47);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x90"));
  expect_trap_sdm("INT 0x90 through a not-present gate", 11, IDT_ERR(0x90), IDT_ERR_QEMU(0x90), probe_ip);
  set_idt_stub(0x90, TYPE_INT_GATE, 0, 0);

  // A stack reference (base RSP/RBP) to a non-canonical address is #SS(0), not #GP(0) (SDM
  // Vol. 3A, 6.15 "Interrupt 12"). QEMU TCG raises #GP(0) for every non-canonical address. The
  // ES/CS/SS/DS overrides are ignored in 64-bit mode and change nothing; an FS/GS override makes
  // an RSP/RBP-based reference a non-stack one (SDM Vol. 1, 3.3.7.1).
  trap_reset();
  TRY_ASM1(FAULT_AT("movq (%%rsp, %%rax), %%rbx"), NONCANONICAL_HIGH);
  check_eq_sdm(trap.vector, 12, 13, "load from RSP-based non-canonical address: #SS");
  check_eq(trap.error_code, 0, "non-canonical stack reference: error code 0");
  check_eq(trap.ip, probe_ip, "non-canonical stack reference: saved RIP");
  trap_reset();
  TRY_ASM1(FAULT_AT("movq %%ds:(%%rsp, %%rax), %%rbx"), NONCANONICAL_HIGH);
  check_eq_sdm(trap.vector, 12, 13, "RSP-based load with an (ignored) DS override: #SS");
  trap_reset();
  TRY_ASM1(FAULT_AT("movq %%ss:(%%rax), %%rbx"), NONCANONICAL_LOW);
  check_eq(trap.vector, 13, "RAX-based load with an (ignored) SS override: #GP");
  trap_reset();
  TRY_ASM1(FAULT_AT("movq %%fs:(%%rsp, %%rax), %%rbx"), NONCANONICAL_HIGH);
  check_eq(trap.vector, 13, "RSP-based load with an FS override: #GP");
  trap_reset();
  USER_ASM1("movq %%rax, %%rsp\n\t" FAULT_AT("pushq %%rbx"), NONCANONICAL_LOW + 8);
  check_eq_sdm(trap.vector, 12, 13, "PUSH with a non-canonical RSP at CPL 3: #SS");
  if (trap.vector == 12 || trap.vector == 13) {
    check_eq(trap.error_code, 0, "PUSH with a non-canonical RSP: error code 0");
    check_eq(trap.ip, probe_ip, "PUSH with a non-canonical RSP: saved RIP");
    expect_user_frame("PUSH with a non-canonical RSP", NONCANONICAL_LOW + 8);
  }

  // #TS: reading the stack pointer for a gate's IST from beyond the TSS limit (SDM Vol. 2A, INT
  // n: "IF (TSSstackAddress + 7) > TSS limit THEN #TS(current TSS selector)"). Taken at CPL 0
  // through gate 10 without IST, so delivering the #TS needs no TSS read.
  set_idt_stub(0x84, TYPE_INT_GATE, 0, 7);
  reload_tss(0x50);  // IST7 lives at 0x54..0x5b
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x84"));
  reload_tss(sizeof(struct tss64) - 1);
  expect_trap("INT through an IST7 gate with the TSS limit below IST7", 10, SEL64_TSS, probe_ip);
  set_idt_stub(0x84, TYPE_INT_GATE, 0, 0);
}

static void test_general_protection(void) {
  section("#GP general protection");
  static const uint64_t addrs[] = {NONCANONICAL_LOW, NONCANONICAL_HIGH, 0xffff7fffffffffffull};
  for (unsigned i = 0; i < ARRAY_SIZE(addrs); ++i) {
    trap_reset();
    TRY_ASM1(FAULT_AT("movq (%%rax), %%rbx"), addrs[i]);
    char what[64];
    ksnprintf(what, sizeof what, "load from non-canonical 0x%llx", (unsigned long long)addrs[i]);
    expect_trap(what, 13, 0, probe_ip);
  }
  trap_reset();
  TRY_ASM1(FAULT_AT("movq %%rbx, (%%rax)"), NONCANONICAL_LOW);
  expect_trap("store to a non-canonical address", 13, 0, probe_ip);
  expect_kernel_frame("store to a non-canonical address", catch_sp);
  // A quadword that starts canonical (last mapped page of the lower half) and ends non-canonical.
  map_page(NONCANONICAL_LOW - 0x1000, SCRATCH_BASE, PTE_RW | PTE_P);
  check_eq(TRY_ASM1("movq (%%rax), %%rbx", NONCANONICAL_LOW - 8), 0,
           "the last quadword of the lower half is readable");
  trap_reset();
  TRY_ASM1(FAULT_AT("movq (%%rax), %%rbx"), NONCANONICAL_LOW - 4);
  expect_trap("load straddling the canonical boundary", 13, 0, probe_ip);
  // A near jump to a non-canonical target faults on the jump: RIP is the JMP (SDM Vol. 2A, JMP:
  // "#GP(0) If the target operand is non-canonical"). QEMU TCG faults on the fetch instead, with
  // RIP = the target.
  trap_reset();
  TRY_ASM1(FAULT_AT("jmp *%%rax"), NONCANONICAL_LOW);
  check_eq(trap.vector, 13, "JMP to a non-canonical address: #GP");
  check_eq_sdm(trap.ip, probe_ip, NONCANONICAL_LOW, "JMP to a non-canonical address: saved RIP");

  static const struct {
    const char* name;
    int index;
  } privileged[] = {{"HLT", 0},        {"CLI (IOPL 0)", 1}, {"LGDT", 2},   {"MOV CR3, r", 3},
                    {"MOV r, CR4", 4}, {"WRMSR", 5},        {"INVLPG", 6}, {"IN (IOPL 0)", 7},
                    {"LTR", 8},        {"MOV DR0, r", 9}};
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
        USER_ASM(FAULT_AT("lgdt (%%rsp)"));
        break;
      case 3:
        USER_ASM1(FAULT_AT("movq %%rax, %%cr3"), 0);
        break;
      case 4:
        USER_ASM(FAULT_AT("movq %%cr4, %%rax"));
        break;
      case 5:
        USER_ASM3(FAULT_AT("wrmsr"), 0, MSR_LSTAR, 0);
        break;
      case 6:
        USER_ASM(FAULT_AT("invlpg (%%rsp)"));
        break;
      case 7:
        USER_ASM(FAULT_AT("inb $0x80, %%al"));
        break;
      case 8:
        USER_ASM1(FAULT_AT("ltr %%ax"), SEL64_TSS);
        break;
      case 9:
        USER_ASM1(FAULT_AT("movq %%rax, %%dr0"), 0);
        break;
    }
    char what[48];
    ksnprintf(what, sizeof what, "%s at CPL 3", privileged[i].name);
    expect_trap(what, 13, 0, probe_ip);
  }
  expect_user_frame("MOV DR0 at CPL 3", user_sp);

  // Segment loads: 64-bit mode allows a null SS at CPL < 3 (SDM Vol. 2B, MOV: "#GP(0) if an
  // attempt is made to load SS register with NULL segment selector when CPL = 3").
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ds"), SEL_BEYOND_GDT);
  expect_trap("MOV DS, selector beyond the GDT limit", 13, SEL_BEYOND_GDT, probe_ip);
  trap_reset();
  TRY_ASM1(FAULT_AT("movw %%ax, %%ds"), SEL64_TSS);
  expect_trap("MOV DS, TSS descriptor", 13, SEL64_TSS, probe_ip);
  check_eq(TRY_ASM1("movw %%ax, %%ss\n\tmovw $0x10, %%bx\n\tmovw %%bx, %%ss", 0), 0,
           "MOV SS, null selector at CPL 0 in 64-bit mode is allowed");
  trap_reset();
  USER_ASM1(FAULT_AT("movw %%ax, %%ss"), 0);
  expect_trap("MOV SS, null selector at CPL 3", 13, 0, probe_ip);
  trap_reset();
  USER_ASM1(FAULT_AT("movw %%ax, %%ss"), SEL64_KDATA);
  expect_trap("MOV SS, DPL 0 data at CPL 3", 13, SEL64_KDATA, probe_ip);
  // Null DS/ES are fine in 64-bit mode: no segment checks on data references.
  check_eq(TRY_ASM1("movw %%ax, %%ds\n\tmovq lock_target(%%rip), %%rbx\n\t"
                    "movw $0x10, %%bx\n\tmovw %%bx, %%ds",
                    0),
           0, "data access with a null DS in 64-bit mode works");

  // Interrupt gates.
  trap_reset();
  USER_ASM(FAULT_AT("int $0x40"));
  expect_trap_sdm("INT 0x40 at CPL 3 through a DPL 0 gate", 13, IDT_ERR(0x40), IDT_ERR_QEMU(0x40), probe_ip);
  expect_user_frame("INT 0x40 at CPL 3", user_sp);
  lidt(idt, 0x50 * 16 - 1);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x60"));
  lidt(idt, sizeof idt - 1);
  expect_trap_sdm("INT 0x60 beyond the IDT limit (16-byte gates)", 13, IDT_ERR(0x60), IDT_ERR_QEMU(0x60), probe_ip);
  // A 32-bit-style descriptor type that is not a 64-bit interrupt/trap gate.
  struct gate64 saved = idt[0x91];
  idt[0x91] = make_gate64(trap_stub64(0x91), SEL64_KCODE, TYPE_CALL_GATE, 0, 0);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x91"));
  idt[0x91] = saved;
  expect_trap_sdm("INT 0x91 through a call gate in the IDT", 13, IDT_ERR(0x91), IDT_ERR_QEMU(0x91), probe_ip);
  // The gate's code segment must be a 64-bit code segment (SDM Vol. 3A, 6.14.1).
  idt[0x92] = make_gate64(trap_stub64(0x92), SEL64_KCODE32, TYPE_INT_GATE, 0, 0);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x92"));
  set_idt_stub(0x92, TYPE_INT_GATE, 0, 0);
  expect_trap("INT 0x92 through a gate to a 32-bit code segment", 13, SEL64_KCODE32, probe_ip);
}

static void test_ist_and_double_fault(void) {
  section("IST and #DF");
  set_idt_stub(0x83, TYPE_INT_GATE, 0, 2);
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x83"));
  check_eq(trap.vector, 0x83, "INT 0x83 through an IST2 gate");
  check_eq(trap.entry_sp, (ist_stack_top[2] & ~15ull) - 40, "IST2: frame at the top of IST2");
  check_eq(trap.sp, catch_sp, "IST2: saved RSP is the interrupted one");
  // IST stacks are aligned too.
  tss.ist[1] = ist_stack_top[2] - 8;
  trap_reset();
  TRY_ASM(FAULT_AT("int $0x83"));
  tss.ist[1] = ist_stack_top[2];
  check_eq(trap.entry_sp, ((ist_stack_top[2] - 8) & ~15ull) - 40,
           "IST2 = 8 mod 16: frame aligned down to 16");
  trap_reset();
  USER_ASM(FAULT_AT("int $0x83"));
  check_eq(trap.vector, 13, "INT 0x83 (DPL 0) at CPL 3: #GP");
  set_idt_stub(0x83, TYPE_INT_GATE, 3, 2);
  trap_reset();
  USER_ASM(FAULT_AT("int $0x83"));
  check_eq(trap.vector, 0x83, "INT 0x83 (DPL 3, IST2) at CPL 3");
  check_eq(trap.entry_sp, (ist_stack_top[2] & ~15ull) - 40, "IST2 wins over RSP0 on a CPL change");
  check_eq(trap.handler_ss, 0, "CPL change: SS is null in the handler");
  set_idt_stub(0x83, TYPE_INT_GATE, 0, 0);

  // #GP with a not-present #GP gate: #NP during #GP delivery -> #DF(0), on IST1.
  struct gate64 saved = idt[13];
  idt[13].lo &= ~(1ull << 47);
  trap_reset();
  TRY_ASM1(FAULT_AT("movq (%%rax), %%rbx"), NONCANONICAL_LOW);
  idt[13] = saved;
  check_eq(trap.vector, 8, "#GP with a not-present #GP gate: #DF");
  check_eq(trap.error_code, 0, "#DF error code is 0");
  check_eq(trap.entry_sp, (ist_stack_top[1] & ~15ull) - 48, "#DF frame on IST1");
  saved = idt[0];
  idt[0].lo &= ~(1ull << 47);
  trap_reset();
  TRY_ASM3(FAULT_AT("divq %%rcx"), 1, 0, 0);
  idt[0] = saved;
  check_eq(trap.vector, 8, "#DE with a not-present #DE gate: #DF");
  // Benign first: INT3 with a not-present gate is just #NP.
  saved = idt[3];
  idt[3].lo &= ~(1ull << 47);
  trap_reset();
  TRY_ASM(FAULT_AT("int3"));
  idt[3] = saved;
  expect_trap_sdm("INT3 with a not-present gate", 11, IDT_ERR(3), IDT_ERR_QEMU(3), probe_ip);
}

// ---- 4-level paging ----
#define PAGE_NP 0xC00000ull                  // not present
#define PAGE_RO 0xC01000ull                  // user, read-only
#define PAGE_SUP 0xC02000ull                 // supervisor, read/write
#define PAGE_NX 0xC03000ull                  // user, read/write, execute-disable; holds a RET
#define PAGE_RSVD 0xC04000ull                // bit 51 set (reserved: above MAXPHYADDR)
#define PAGE_AD 0xC05000ull                  // user, read/write, A and D clear
#define PAGE_STACK_NP 0xC06000ull            // not present: the TSS.RSP0 stack of the #DF test
#define UNMAPPED_PML4 0x0000008000000000ull  // PML4 entry 1: not present

static void test_page_fault(void) {
  section("#PF page fault (4-level paging)");
  set_pte(PAGE_NP, 0);
  set_pte(PAGE_RO, PAGE_RO | PTE_US | PTE_P);
  set_pte(PAGE_SUP, PAGE_SUP | PTE_RW | PTE_P);
  *(volatile uint8_t*)PAGE_NX = 0xc3;  // RET
  set_pte(PAGE_NX, PAGE_NX | PTE_NX | PTE_US | PTE_RW | PTE_P);
  set_pte(PAGE_RSVD, PAGE_RSVD | (1ull << 51) | PTE_US | PTE_RW | PTE_P);
  set_pte(PAGE_AD, PAGE_AD | PTE_US | PTE_RW | PTE_P);
  set_pte(PAGE_STACK_NP, 0);
  write_cr0(read_cr0() | CR0_WP);

  static const struct {
    const char* name;
    int user, write;
    uint64_t addr;
    uint32_t error;
  } cases[] = {
      {"CPL 0 read, not present", 0, 0, PAGE_NP + 0x123, 0},
      {"CPL 0 write, not present", 0, 1, PAGE_NP + 0x456, 2},
      {"CPL 0 write, read-only page, CR0.WP=1", 0, 1, PAGE_RO + 0x10, 3},
      {"CPL 0 read, PML4 entry not present", 0, 0, UNMAPPED_PML4 + 0x40, 0},
      {"CPL 3 read, not present", 1, 0, PAGE_NP + 0x8, 4},
      {"CPL 3 read, supervisor page", 1, 0, PAGE_SUP + 0x20, 5},
      {"CPL 3 write, supervisor page", 1, 1, PAGE_SUP + 0x24, 7},
      {"CPL 3 write, read-only page", 1, 1, PAGE_RO + 0x30, 7},
  };
  for (unsigned i = 0; i < ARRAY_SIZE(cases); ++i) {
    trap_reset();
    uint64_t a = cases[i].addr;
    if (cases[i].user) {
      if (cases[i].write)
        USER_ASM1(FAULT_AT("movq %%rbx, (%%rax)"), a);
      else
        USER_ASM1(FAULT_AT("movq (%%rax), %%rbx"), a);
    } else {
      if (cases[i].write)
        TRY_ASM1(FAULT_AT("movq %%rbx, (%%rax)"), a);
      else
        TRY_ASM1(FAULT_AT("movq (%%rax), %%rbx"), a);
    }
    expect_trap(cases[i].name, 14, cases[i].error, probe_ip);
    check_eq(trap.cr2, a, "%s: CR2 is the faulting address", cases[i].name);
  }
  expect_user_frame("#PF at CPL 3", user_sp);

  // Reserved bits: RSVD=1, and P=1 since reserved bits are only checked in present entries
  // (SDM Vol. 3A, 4.7: "bit 3 of the error code can be set only if bit 0 is also set"). QEMU
  // 7.2 TCG reports P=0 with RSVD=1.
  static const struct {
    const char* name;
    int user, write;
    uint32_t error;
  } rsvd[] = {{"CPL 0 read", 0, 0, 0x9}, {"CPL 0 write", 0, 1, 0xb}, {"CPL 3 read", 1, 0, 0xd}};
  for (unsigned i = 0; i < ARRAY_SIZE(rsvd); ++i) {
    trap_reset();
    if (rsvd[i].user)
      USER_ASM1(FAULT_AT("movq (%%rax), %%rbx"), PAGE_RSVD + 0x10);
    else if (rsvd[i].write)
      TRY_ASM1(FAULT_AT("movq %%rbx, (%%rax)"), PAGE_RSVD + 0x10);
    else
      TRY_ASM1(FAULT_AT("movq (%%rax), %%rbx"), PAGE_RSVD + 0x10);
    check_eq(trap.vector, 14, "%s, PTE bit 51 (reserved) set: #PF", rsvd[i].name);
    check_eq_sdm(trap.error_code, rsvd[i].error, rsvd[i].error & ~1u,
                 "%s, PTE bit 51 set: error code RSVD|P", rsvd[i].name);
    check_eq(trap.cr2, PAGE_RSVD + 0x10, "%s, PTE bit 51 set: CR2", rsvd[i].name);
  }

  // Execute-disable (EFER.NXE=1): fetch faults with I/D set; the page is readable.
  check_eq(TRY_ASM1("movq (%%rax), %%rbx", PAGE_NX), 0, "read of an NX page works");
  trap_reset();
  TRY_ASM1("call *%%rax", PAGE_NX);
  expect_trap("CPL 0 fetch from an NX page", 14, 0x11, PAGE_NX);
  check_eq(trap.cr2, PAGE_NX, "NX fetch: CR2 is the target");
  trap_reset();
  USER_ASM1("call *%%rax", PAGE_NX);
  expect_trap("CPL 3 fetch from an NX page", 14, 0x15, PAGE_NX);
  trap_reset();
  TRY_ASM1("jmp *%%rax", PAGE_NP + 0x40);
  expect_trap("CPL 0 fetch from a not-present page (I/D set with NXE)", 14, 0x10, PAGE_NP + 0x40);
  set_pte(PAGE_NX, PAGE_NX | PTE_US | PTE_RW | PTE_P);
  check_eq(TRY_ASM1("call *%%rax", PAGE_NX), 0, "the same page without NX executes");
  // With EFER.NXE=0, bit 63 is a reserved bit (SDM Vol. 3A, 4.5.4 and Table 4-20 notes).
  set_pte(PAGE_NX, PAGE_NX | PTE_NX | PTE_US | PTE_RW | PTE_P);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) & ~(uint64_t)EFER_NXE);
  trap_reset();
  TRY_ASM1(FAULT_AT("movq (%%rax), %%rbx"), PAGE_NX + 0x18);
  wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_NXE);
  check_eq(trap.vector, 14, "read with bit 63 set and EFER.NXE=0: #PF");
  check_eq_sdm(trap.error_code, 0x9, 0x8, "read with bit 63 set and EFER.NXE=0: error RSVD|P");

  write_cr0(read_cr0() & ~CR0_WP);
  check_eq(TRY_ASM1("movq $0x1234, (%%rax)", PAGE_RO + 0x10), 0,
           "CPL 0 write to a read-only page with CR0.WP=0 works");
  check_eq(*(volatile uint64_t*)(PAGE_RO + 0x10), 0x1234, "the write with CR0.WP=0 landed");
  write_cr0(read_cr0() | CR0_WP);

  check_eq(*pte_of(PAGE_AD) & (PTE_A | PTE_D), 0, "A and D clear before any access");
  (void)*(volatile uint64_t*)(PAGE_AD + 8);
  check_eq(*pte_of(PAGE_AD) & (PTE_A | PTE_D), PTE_A, "a read sets A, not D");
  *(volatile uint64_t*)(PAGE_AD + 8) = 1;
  check_eq(*pte_of(PAGE_AD) & (PTE_A | PTE_D), PTE_A | PTE_D, "a write sets D");

  // #PF while pushing the frame of a #PF from CPL 3 (TSS.RSP0 in a not-present page): #PF during
  // #PF delivery is #DF (SDM Vol. 3A, Table 6-5), delivered on IST1.
  uint64_t rsp0 = tss.rsp[0];
  tss.rsp[0] = PAGE_STACK_NP + 0x1000;
  trap_reset();
  USER_ASM1(FAULT_AT("movq (%%rax), %%rbx"), PAGE_NP);
  tss.rsp[0] = rsp0;
  check_eq(trap.vector, 8, "#PF at CPL 3 with TSS.RSP0 not mapped: #DF");
  check_eq(trap.error_code, 0, "#DF error code is 0");
  check_eq(trap.cr2 >> 12, PAGE_STACK_NP >> 12, "CR2 points into the unmapped RSP0 stack");
  check_eq(trap.entry_sp, (ist_stack_top[1] & ~15ull) - 48, "#DF frame on IST1");
}

static void test_alignment_check(void) {
  section("#AC alignment check");
  write_cr0(read_cr0() | CR0_AM);
  user_flags = EFL_FIXED | EFL_AC;
  trap_reset();
  USER_ASM(FAULT_AT("movq misaligned_target+1(%%rip), %%rbx"));
  check_eq_sdm(trap.vector, 17, VEC_USER_DONE,
               "misaligned qword read at CPL 3 with AM=1 AC=1: #AC");
  if (trap.vector == 17) {
    expect_trap("misaligned read with alignment checking", 17, 0, probe_ip);
    expect_user_frame("#AC", user_sp);
  }
  user_flags = EFL_FIXED;
  trap_reset();
  USER_ASM("movq misaligned_target+1(%%rip), %%rbx");
  expect_user_done("misaligned read at CPL 3 with AC=0");
  write_cr0(read_cr0() & ~CR0_AM);
  user_reset();
}

void kmain64(void) {
  setup_descriptors();
  test_divide_debug_breakpoint();
  test_invalid_opcode();
  test_segment_faults();
  test_general_protection();
  test_ist_and_double_fault();
  test_page_fault();
  test_alignment_check();
}
