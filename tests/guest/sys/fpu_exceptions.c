// fpu_exceptions: the FPU/SIMD availability and exception rules an OS relies on, in 32-bit
// protected mode (SDM Vol. 3A, 2.5 CR0.EM/TS/MP/NE and CR4.OSFXSR/OSXMMEXCPT, 13.1 and table
// 13-1 "Action taken for combinations of EM, MP and TS"; Vol. 1, 8.7 and 11.5; Vol. 3A, 6.15
// #NM, #MF, #XM):
//   - lazy FPU switching: with CR0.TS set the first x87, MMX or SSE instruction of a "task"
//     raises #NM; the handler does CLTS, FXSAVE of the owner's state and FXRSTOR of the
//     current task's, and IRETs to the instruction, which then runs on the right state;
//   - CR0.EM: x87 -> #NM, MMX/SSE -> #UD; WAIT only with MP and TS; CR4.OSFXSR clear -> #UD
//     for SSE;
//   - #MF: an unmasked x87 exception is delivered at the next waiting x87 (or MMX) instruction,
//     with FSW, FIP, FCS, FOP and FDP describing the instruction that caused it;
//   - #XM: an unmasked SSE exception with CR4.OSXMMEXCPT = 1 is #XM (vector 19), with it clear
//     #UD; the MXCSR flag is set and the destination is left unchanged.
#include "cpu32.h"
#include "trap.h"
#include "x86.h"

#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)

#define MXCSR_MASKED 0x1F80u
#define MXCSR_IE 0x01u
#define MXCSR_ZE 0x04u
#define MXCSR_PE 0x20u
#define MXCSR_IM 0x80u
#define MXCSR_ZM 0x200u
#define MXCSR_PM 0x1000u

// Memory operands of the snippets (absolute addresses in the flat 32-bit kernel).
uint32_t pattern[3][4] ALIGNED(16) = {{0x11111111, 0x22222222, 0x33333333, 0x44444444},
                                      {0xa5a5a5a5, 0x5a5a5a5a, 0xdeadbeef, 0x01234567},
                                      {0x3f800000, 0x40000000, 0x40400000, 0x40800000}};
uint32_t ones4[4] ALIGNED(16) = {0x3f800000, 0x3f800000, 0x3f800000, 0x3f800000};  // 1.0f
uint32_t zeros4[4] ALIGNED(16) = {0, 0, 0, 0};
uint32_t threes4[4] ALIGNED(16) = {0x40400000, 0x40400000, 0x40400000, 0x40400000};  // 3.0f
uint32_t minus_one4[4] ALIGNED(16) = {0xbf800000, 0xbf800000, 0xbf800000, 0xbf800000};
uint32_t out4[4] ALIGNED(16);
uint32_t out4b[4] ALIGNED(16);
uint64_t out64;
int32_t ival[3] = {3, 5, 7};
int32_t out32;
uint32_t mxcsr_in, mxcsr_out;
uint16_t fcw_in;
double one_f64 = 1.0;
float zero_f32 = 0.0f;
uint32_t fenv[7];        // FNSTENV image, 32-bit protected-mode layout (SDM Vol. 1, figure 8-9)
volatile uint32_t site;  // the address of the instruction that raised an x87 exception

static int sdm_event(const char* what, uint32_t vector, uint32_t qemu_vector, ureg ip);

static uint8_t task_area[2][512] ALIGNED(16);
static volatile int fpu_owner, current_task;
static volatile uint32_t nm_count, nm_ip;

static void fxsave_to(void* p) {
  __asm__ volatile("fxsave (%0)" ::"r"(p) : "memory");
}
static void fxrstor_from(const void* p) {
  __asm__ volatile("fxrstor (%0)" ::"r"(p) : "memory");
}

// The #NM handler of a lazy-switching kernel: give the FPU to the current task.
static int lazy_fpu_hook(void* frame) {
  struct frame32* f = frame;
  if (f->vector != 7) return 0;
  ++nm_count;
  nm_ip = f->eip;
  __asm__ volatile("clts");
  if (fpu_owner != current_task) {
    fxsave_to(task_area[fpu_owner]);
    fxrstor_from(task_area[current_task]);
    fpu_owner = current_task;
  }
  return 1;
}

static void switch_to(int task) {
  current_task = task;
  write_cr0(read_cr0() | CR0_TS);  // the next FPU/SIMD instruction faults (#NM)
}

static int equal4(const uint32_t* a, const uint32_t* b) {
  return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

static void fpu_on(void) {
  write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
  write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
  __asm__ volatile("fninit");
  mxcsr_in = MXCSR_MASKED;
  __asm__ volatile("ldmxcsr mxcsr_in");
}

static void test_lazy_switch(void) {
  section("#NM: lazy FPU switching between two tasks (CR0.TS)");
  fpu_on();
  // Task t: XMM0 = pattern[t], ST(0) = ival[t]. The hardware ends up holding task 1.
  for (int t = 0; t < 2; ++t) {
    __asm__ volatile("fninit\n\tmovups (%0), %%xmm0\n\tfildl (%1)" ::"r"(pattern[t]), "r"(&ival[t])
                     : "memory");
    fxsave_to(task_area[t]);
  }
  fpu_owner = 1;
  nm_count = 0;
  trap_hook = lazy_fpu_hook;

  // Task 0, first instruction SSE.
  switch_to(0);
  trap_reset();
  TRY_ASM(FAULT_AT("movups %%xmm0, out4"));
  check_eq(nm_count, 1, "task 0: the first SSE instruction raised #NM");
  check_eq(nm_ip, probe_ip, "task 0: #NM points at the SSE instruction");
  check_eq(read_cr0() & CR0_TS, 0, "the handler's CLTS cleared CR0.TS");
  check_true(equal4(out4, pattern[0]), "task 0: MOVUPS after #NM read task 0's XMM0");
  // More work of task 0: no further #NM.
  __asm__ volatile("fildl ival+8\n\tmovups pattern+32, %%xmm1" ::: "memory");
  check_eq(nm_count, 1, "task 0: later instructions run without #NM");

  // Task 1, first instruction x87.
  switch_to(1);
  TRY_ASM(FAULT_AT("fistpl out32"));
  check_eq(nm_count, 2, "task 1: the first x87 instruction raised #NM");
  check_eq(nm_ip, probe_ip, "task 1: #NM points at the x87 instruction");
  check_eq((uint32_t)out32, 5, "task 1: FISTP after #NM stored task 1's ST(0)");
  __asm__ volatile("movups %%xmm0, out4" ::: "memory");
  check_true(equal4(out4, pattern[1]), "task 1: XMM0 is task 1's");
  check_eq(nm_count, 2, "task 1: later instructions run without #NM");

  // Task 0 again, x87 first: its state (two x87 values, XMM0, XMM1) was saved by FXSAVE.
  switch_to(0);
  TRY_ASM(FAULT_AT("fistpl out32"));
  check_eq(nm_count, 3, "task 0 again: #NM");
  check_eq((uint32_t)out32, 7, "task 0 again: ST(0) is the value task 0 pushed last");
  __asm__ volatile("fistpl out32" ::: "memory");
  check_eq((uint32_t)out32, 3, "task 0 again: ST(1) is task 0's first value");
  __asm__ volatile("movups %%xmm0, out4\n\tmovups %%xmm1, out4b" ::: "memory");
  check_true(equal4(out4, pattern[0]), "task 0 again: XMM0 kept");
  check_true(equal4(out4b, pattern[2]), "task 0 again: XMM1 kept");

  // Task 1 again, MMX first: MM7 aliases the physical register task 1's value was loaded into
  // (after FNINIT, one push lands in R7; FISTP only freed it).
  switch_to(1);
  TRY_ASM(FAULT_AT("movq %%mm7, out64"));
  check_eq(nm_count, 4, "task 1 again: the first MMX instruction raised #NM");
  check_eq(nm_ip, probe_ip, "task 1 again: #NM points at the MMX instruction");
  check_eq(out64, 0xa000000000000000ull, "task 1 again: MM7 holds the significand of 5.0");
  __asm__ volatile("emms");
  trap_hook = 0;
}

static void test_cr0_rules(void) {
  section("CR0.TS / MP / EM and CR4.OSFXSR (SDM Vol. 3A, table 13-1)");
  fpu_on();
  // WAIT: #NM only when MP and TS are both set.
  write_cr0(read_cr0() | CR0_TS | CR0_MP);
  trap_reset();
  TRY_ASM(FAULT_AT("fwait"));
  expect_trap("FWAIT with TS=1 MP=1", 7, NO_ERROR_CODE, probe_ip);
  write_cr0(read_cr0() & ~CR0_MP);
  trap_reset();
  check_eq(TRY_ASM("fwait"), 0, "FWAIT with TS=1 MP=0 runs");
  trap_reset();
  TRY_ASM(FAULT_AT("fld1"));
  expect_trap("FLD1 with TS=1 MP=0", 7, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("fxsave task_area"));
  expect_trap("FXSAVE with TS=1", 7, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("stmxcsr mxcsr_out"));
  expect_trap("STMXCSR with TS=1", 7, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("fnstcw fcw_in"));
  expect_trap("FNSTCW with TS=1 (no-wait forms check TS too)", 7, NO_ERROR_CODE, probe_ip);

  // EM=1 (TS=0): x87 #NM, MMX and SSE #UD; WAIT runs.
  write_cr0((read_cr0() | CR0_EM | CR0_MP) & ~CR0_TS);
  trap_reset();
  TRY_ASM(FAULT_AT("fld1"));
  expect_trap("FLD1 with EM=1", 7, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("movups %%xmm0, %%xmm1"));
  expect_trap("MOVUPS with EM=1", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("paddb %%mm1, %%mm0"));
  expect_trap("PADDB mm with EM=1", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("ldmxcsr mxcsr_in"));
  expect_trap("LDMXCSR with EM=1", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  check_eq(TRY_ASM("fwait"), 0, "FWAIT with EM=1 TS=0 runs");
  // EM=1 and TS=1: #UD wins for SSE, x87 is #NM.
  write_cr0(read_cr0() | CR0_TS);
  trap_reset();
  TRY_ASM(FAULT_AT("addps %%xmm1, %%xmm0"));
  sdm_event("ADDPS with EM=1 TS=1", 6, 7, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("fadd %%st(1), %%st"));
  expect_trap("FADD with EM=1 TS=1", 7, NO_ERROR_CODE, probe_ip);
  write_cr0(read_cr0() & ~(CR0_EM | CR0_TS));

  // CR4.OSFXSR clear: SSE #UD; x87 and MMX unaffected.
  write_cr4(read_cr4() & ~CR4_OSFXSR);
  trap_reset();
  TRY_ASM(FAULT_AT("xorps %%xmm0, %%xmm0"));
  expect_trap("XORPS with CR4.OSFXSR=0", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM(FAULT_AT("ldmxcsr mxcsr_in"));
  expect_trap("LDMXCSR with CR4.OSFXSR=0", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  check_eq(TRY_ASM("pxor %%mm0, %%mm0\n\temms\n\tfld1\n\tfstp %%st(0)"), 0,
           "MMX and x87 run with CR4.OSFXSR=0");
  write_cr4(read_cr4() | CR4_OSFXSR);
}

// FNSTENV fields: FCW, FSW, FTW, FIP, FCS and FOP (bits 26:16 of the FCS dword), FDP, FDS.
static void read_env(void) {
  __asm__ volatile("fnstenv fenv" ::: "memory");
}

// Checks that the probe ended with the exception `vector` (no error code) at `ip`. QEMU TCG
// 7.2 does not raise #XM, raises #MF only at FWAIT, and gives #NM for SSE with CR0.EM=1 and
// CR0.TS=1: under "tolerate=qemu-tcg" seeing `qemu_vector` instead is a tolerated deviation.
// Returns whether the SDM's event happened.
static int sdm_event(const char* what, uint32_t vector, uint32_t qemu_vector, ureg ip) {
  if (!check_eq_sdm(trap.vector, vector, qemu_vector, "%s: vector %s", what, vector_name(vector)))
    print_trap();
  if (trap.vector != vector) return 0;
  check_eq(trap.has_error, 0, "%s: no error code", what);
  check_eq(trap.ip, ip, "%s: saved instruction pointer", what);
  return 1;
}
#define NO_EVENT 0xffffffffu

uint16_t fcw_masked = 0x037f;

static void test_mf(void) {
  section("#MF: unmasked x87 exceptions with CR0.NE=1");
  fpu_on();
  // Invalid operation (square root of -1) with IM clear: pending, delivered at FWAIT.
  fcw_in = 0x037e;
  __asm__ volatile("fldcw fcw_in");
  trap_reset();
  TRY_ASM("fld1\n\tfchs\n\tmovl $3f, site\n3:\tfsqrt\n\t" FAULT_AT("fwait"));
  expect_trap("FSQRT(-1), IM=0: #MF at the next FWAIT", 16, NO_ERROR_CODE, probe_ip);
  read_env();
  const uint16_t fsw = (uint16_t)fenv[1];
  check_eq(fsw & 0x80ff, 0x8081, "FSW: B, ES and IE set (FSW=0x%x)", fsw);
  check_eq((fsw >> 11) & 7, 7, "FSW: TOP = 7 (one value pushed, none popped)");
  check_eq(fenv[3], site, "FIP = the FSQRT");
  check_eq(fenv[4] & 0xffff, read_cs(), "FCS = CS");
  check_eq_sdm((fenv[4] >> 16) & 0x7ff, 0x1fa, 0, "FOP = 1FAH (D9 FA)");
  // An unmasked invalid operation leaves the destination unchanged: ST(0) is still -1.
  __asm__ volatile("fnclex\n\tfldcw fcw_masked\n\tfistpl out32" ::: "memory");
  check_eq_sdm((uint32_t)out32, (uint32_t)-1, 0x80000000u,
               "ST(0) unchanged (-1) by the unmasked #IA");
  trap_reset();
  check_eq(TRY_ASM("fwait"), 0, "after FNCLEX, FWAIT runs");

  // Zero divide with ZM clear, memory operand: non-waiting instructions do not fault, the next
  // waiting x87 instruction (FLD1, not FWAIT) does; FDP is the operand's address.
  __asm__ volatile("fninit");
  fcw_in = 0x037b;
  __asm__ volatile("fldcw fcw_in");
  trap_reset();
  TRY_ASM(
      "fldl one_f64\n\tmovl $3f, site\n3:\tfdivs zero_f32\n\t"
      "fnstsw %%ax\n\tmovl %%eax, out32\n\t" FAULT_AT("fld1"));
  check_eq(out32 & 0x8084, 0x8084, "FNSTSW (no wait) ran and saw B, ES, ZE");
  if (sdm_event("FDIV by zero, ZM=0: #MF at the next waiting x87 instruction (FLD1)", 16, NO_EVENT,
                probe_ip)) {
    // A pending exception makes MMX instructions fault too (SDM Vol. 1, 12.5.1), not SSE.
    trap_reset();
    check_eq(TRY_ASM("movups %%xmm0, %%xmm1"), 0,
             "SSE instruction with an x87 exception pending runs");
    trap_reset();
    TRY_ASM(FAULT_AT("movq %%mm0, %%mm1"));
    expect_trap("MMX instruction with an x87 exception pending", 16, NO_ERROR_CODE, probe_ip);
    // (FNSTENV masks every exception afterwards, so it comes last.)
    read_env();
    check_eq(fenv[1] & 0x80ff, 0x8084, "FSW: B, ES and ZE set");
    check_eq((fenv[1] >> 11) & 7, 7, "FSW: TOP = 7 (FLD1 did not execute)");
    check_eq(fenv[3], site, "FIP = the FDIV");
    check_eq((fenv[4] >> 16) & 0x7ff, 0x035, "FOP = 035H (D8 /6, ModRM 35H)");
    check_eq(fenv[5], (uint32_t)&zero_f32, "FDP = the memory operand");
    check_eq(fenv[6] & 0xffff, read_ds(), "FDS = DS");
  }
  // FNCLEX (no wait) ends the pending state.
  trap_reset();
  check_eq(TRY_ASM("fnclex\n\tfld1\n\tfwait\n\tfninit"), 0, "FNCLEX ends the pending state");
}

// Runs `insn` under MXCSR = `mxcsr`, XMM0 = `a`, XMM1 = `b`; XMM0 back to out4, MXCSR to
// mxcsr_out. Returns whether an exception was caught (trap holds it).
#define SSE_CASE(insn, mxcsr, a, b)                                                        \
  ({                                                                                       \
    mxcsr_in = (mxcsr);                                                                    \
    trap_reset();                                                                          \
    int caught_ = TRY_ASM("movups " a ", %%xmm0\n\tmovups " b                              \
                          ", %%xmm1\n\tldmxcsr mxcsr_in\n\t" FAULT_AT(insn));              \
    __asm__ volatile("stmxcsr mxcsr_out\n\tmovups %%xmm0, out4\n\tldmxcsr mxcsr_masked" :: \
                         : "memory");                                                      \
    caught_;                                                                               \
  })
uint32_t mxcsr_masked = MXCSR_MASKED;

static void test_xm(void) {
  section("#XM: unmasked SSE exceptions (CR4.OSXMMEXCPT)");
  fpu_on();
  // Masked: no fault, the flag is set, the result written.
  check_eq(SSE_CASE("divps %%xmm1, %%xmm0", MXCSR_MASKED, "ones4", "zeros4"), 0,
           "DIVPS 1/0, ZM=1: no exception");
  check_eq(mxcsr_out, MXCSR_MASKED | MXCSR_ZE, "MXCSR.ZE set");
  check_eq(out4[0], 0x7f800000, "result +inf");
  // Unmasked zero divide: #XM, no error code, at the instruction; ZE set; XMM0 unchanged.
  SSE_CASE("divps %%xmm1, %%xmm0", MXCSR_MASKED & ~MXCSR_ZM, "ones4", "zeros4");
  check_eq(mxcsr_out, (MXCSR_MASKED & ~MXCSR_ZM) | MXCSR_ZE, "MXCSR.ZE set by DIVPS 1/0, ZM=0");
  if (sdm_event("DIVPS 1/0, ZM=0", 19, NO_EVENT, probe_ip))
    check_true(equal4(out4, ones4), "XMM0 unchanged by the faulting DIVPS");
  // Unmasked invalid (square root of -1), scalar.
  SSE_CASE("sqrtss %%xmm1, %%xmm0", MXCSR_MASKED & ~MXCSR_IM, "ones4", "minus_one4");
  check_eq(mxcsr_out, (MXCSR_MASKED & ~MXCSR_IM) | MXCSR_IE, "MXCSR.IE set by SQRTSS(-1)");
  if (sdm_event("SQRTSS(-1), IM=0", 19, NO_EVENT, probe_ip))
    check_true(equal4(out4, ones4), "XMM0 unchanged by the faulting SQRTSS");
  // Unmasked precision (1/3, a post-computation exception).
  SSE_CASE("divss %%xmm1, %%xmm0", MXCSR_MASKED & ~MXCSR_PM, "ones4", "threes4");
  check_eq(mxcsr_out, (MXCSR_MASKED & ~MXCSR_PM) | MXCSR_PE, "MXCSR.PE set by DIVSS 1/3");
  if (sdm_event("DIVSS 1/3, PM=0", 19, NO_EVENT, probe_ip))
    check_true(equal4(out4, ones4), "XMM0 unchanged by the faulting DIVSS");
  // An exact operation with every exception unmasked: nothing.
  check_eq(SSE_CASE("addps %%xmm1, %%xmm0", 0, "ones4", "ones4"), 0,
           "ADDPS 1+1 with all exceptions unmasked: no exception");
  check_eq(out4[0], 0x40000000, "ADDPS result 2.0");
  // LDMXCSR of an unmasked flag that is already set does not fault, nor does the next SSE
  // instruction that raises nothing (unlike the x87's pending exceptions).
  check_eq(SSE_CASE("addps %%xmm1, %%xmm0", MXCSR_ZE, "ones4", "ones4"), 0,
           "MXCSR with ZE set and unmasked: no exception for an exact ADDPS");
  // CR4.OSXMMEXCPT=0: the same unmasked exception is #UD; the flag is still set.
  write_cr4(read_cr4() & ~CR4_OSXMMEXCPT);
  SSE_CASE("divps %%xmm1, %%xmm0", MXCSR_MASKED & ~MXCSR_ZM, "ones4", "zeros4");
  check_eq(mxcsr_out, (MXCSR_MASKED & ~MXCSR_ZM) | MXCSR_ZE, "MXCSR.ZE set (OSXMMEXCPT=0)");
  if (sdm_event("DIVPS 1/0, ZM=0, CR4.OSXMMEXCPT=0", 6, NO_EVENT, probe_ip))
    check_true(equal4(out4, ones4), "XMM0 unchanged (OSXMMEXCPT=0)");
  write_cr4(read_cr4() | CR4_OSXMMEXCPT);
}

void kmain32(void) {
  struct cpuid_regs r1 = cpuid(1, 0);
  check_eq(r1.edx & ((1u << 0) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26)),
           (1u << 0) | (1u << 23) | (1u << 24) | (1u << 25) | (1u << 26),
           "CPUID.1:EDX: FPU, MMX, FXSR, SSE, SSE2");
  test_lazy_switch();
  test_cr0_rules();
  test_mf();
  test_xm();
  __asm__ volatile("fninit");
  write_cr0(read_cr0() & ~CR0_NE);
}
