// fpu_state, 64-bit part: FXSAVE in 64-bit mode with and without REX.W (SDM Vol. 2A, FXSAVE,
// tables 3-53/3-56: 64-bit FIP/FDP, or FIP/FCS/FDP/FDS; XMM8-15 saved), and the XSAVE family
// with XCR0 = x87|SSE (Vol. 1, chapter 13): CPUID leaf 0DH, XGETBV/XSETBV and their #UD/#GP
// cases, the XSAVE image (legacy region and header, XSTATE_BV), partial saves by the
// requested-feature bitmap, XRSTOR round trips and initialisation of components whose
// XSTATE_BV bit is clear, XRSTOR's #GP cases, XSAVEOPT.
#include "cpu64.h"
#include "trap.h"
#include "x86.h"

#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)
#define CR4_OSXSAVE (1u << 18)

uint8_t area[1024 + 64] ALIGNED(64);
uint8_t area2[1024] ALIGNED(64);
uint32_t xin[16][4] ALIGNED(16);
uint32_t xout[16][4] ALIGNED(16);
double one_f64 = 1.0;
uint16_t fcw_in = 0x027f, fcw_out;
uint32_t mxcsr_in = 0x1f80 | 0x6000, mxcsr_out;  // round toward zero
uint32_t fenv[7];
volatile uint64_t site;

static uint16_t rd16(const uint8_t* p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t* p) {
  return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr64(uint8_t* p, uint64_t v) {
  for (int k = 0; k < 8; ++k) p[k] = (uint8_t)(v >> (8 * k));
}

// Checks that the probe ended with #GP(0) at `ip`. QEMU TCG 7.2 does not check MXCSR's reserved
// bits in FXRSTOR/XRSTOR: under "tolerate=qemu-tcg" no event at all is a tolerated deviation.
// Returns whether the #GP happened.
static int expect_gp_sdm(const char* what, ureg ip) {
  if (!check_eq_sdm(trap.vector, 13, 0xffffffffu, "%s: vector #GP", what)) print_trap();
  if (trap.vector != 13) return 0;
  check_eq(trap.error_code, 0, "%s: error code", what);
  check_eq(trap.ip, ip, "%s: saved instruction pointer", what);
  return 1;
}

#define XMM_LOAD(n) "movups xin+" #n "*16(%%rip), %%xmm" #n "\n\t"
#define XMM_STORE(n) "movups %%xmm" #n ", xout+" #n "*16(%%rip)\n\t"
static void load_xmm(void) {
  __asm__ volatile(XMM_LOAD(0) XMM_LOAD(1) XMM_LOAD(2) XMM_LOAD(3) XMM_LOAD(4) XMM_LOAD(5)
                       XMM_LOAD(6) XMM_LOAD(7) XMM_LOAD(8) XMM_LOAD(9) XMM_LOAD(10) XMM_LOAD(11)
                           XMM_LOAD(12) XMM_LOAD(13) XMM_LOAD(14) XMM_LOAD(15)::
                               : "memory");
}
static void store_xmm(void) {
  __asm__ volatile(XMM_STORE(0) XMM_STORE(1) XMM_STORE(2) XMM_STORE(3) XMM_STORE(4) XMM_STORE(5)
                       XMM_STORE(6) XMM_STORE(7) XMM_STORE(8) XMM_STORE(9) XMM_STORE(10)
                           XMM_STORE(11) XMM_STORE(12) XMM_STORE(13) XMM_STORE(14) XMM_STORE(15)::
                               : "memory");
}
static void fill_xin(uint32_t seed) {
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 4; ++k) xin[r][k] = seed * (uint32_t)(r + 1) + 0x01000193u * (uint32_t)k;
}
static int xmm_area_is(const uint8_t* p, int count) {
  for (int r = 0; r < count; ++r)
    if (memcmp(p + 16 * r, xin[r], 16) != 0) return 0;
  return 1;
}
static int all_bytes(const uint8_t* p, int n, uint8_t v) {
  for (int k = 0; k < n; ++k)
    if (p[k] != v) return 0;
  return 1;
}

// x87: ST(1) = pi, ST(0) = 1.0 from memory (the last x87 instruction is at `site`).
static void set_fpu_state(void) {
  __asm__ volatile(
      "fninit\n\tfldcw fcw_in(%%rip)\n\tldmxcsr mxcsr_in(%%rip)\n\tfldpi\n\t"
      "leaq 3f(%%rip), %%rax\n\tmovq %%rax, site(%%rip)\n3:\tfldl one_f64(%%rip)" ::
          : "rax", "memory");
  load_xmm();
}

static void check_legacy_region(const uint8_t* img, const char* what) {
  check_eq(rd16(img + 0), 0x027f, "%s: FCW", what);
  check_eq(rd16(img + 2) & 0xb8ff, 0x3000, "%s: FSW (TOP = 6)", what);
  check_eq(img[4], 0xc0, "%s: abridged FTW", what);
  check_eq(rd32(img + 24), mxcsr_in, "%s: MXCSR", what);
  check_eq(rd64(img + 32), 0x8000000000000000ull, "%s: ST(0) significand", what);
  check_eq(rd16(img + 40), 0x3fff, "%s: ST(0) exponent", what);
  check_eq(rd64(img + 48), 0xc90fdaa22168c235ull, "%s: ST(1) significand", what);
  check_true(xmm_area_is(img + 160, 16), "%s: XMM0-15 (bytes 160-415)", what);
}

static void test_fxsave64(void) {
  section("FXSAVE in 64-bit mode: REX.W (64-bit FIP/FDP) and without (FIP/FCS/FDP/FDS)");
  write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
  write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
  fill_xin(0x11111111u);
  set_fpu_state();
  memset(area, 0xcc, 512);
  __asm__ volatile("fxsave64 area(%%rip)" ::: "memory");
  check_legacy_region(area, "FXSAVE64");
  // QEMU TCG 7.2 saves 0 for the x87 instruction and data pointers.
  check_eq_sdm(rd64(area + 8), site, 0, "FXSAVE64: FIP (bytes 8-15, 64 bits)");
  check_eq_sdm(rd64(area + 16), (uint64_t)&one_f64, 0, "FXSAVE64: FDP (bytes 16-23, 64 bits)");
  check_eq(rd32(area + 28), 0xffff, "FXSAVE64: MXCSR_MASK");
  check_true(all_bytes(area + 464, 48, 0xcc), "FXSAVE64: bytes 464-511 not written");
  set_fpu_state();
  memset(area, 0xcc, 512);
  __asm__ volatile("fxsave area(%%rip)" ::: "memory");
  check_legacy_region(area, "FXSAVE (no REX.W)");
  check_eq_sdm(rd32(area + 8), (uint32_t)site, 0, "FXSAVE: FIP[31:0] (bytes 8-11)");
  check_eq_sdm(rd16(area + 12), read_cs(), 0, "FXSAVE: FCS (bytes 12-13)");
  check_eq_sdm(rd32(area + 16), (uint32_t)(uint64_t)&one_f64, 0, "FXSAVE: FDP[31:0] (bytes 16-19)");
  // FXRSTOR64 of a modified image: XMM8-15 too.
  fill_xin(0x2468ace1u);
  for (int r = 0; r < 16; ++r) memcpy(area + 160 + 16 * r, xin[r], 16);
  __asm__ volatile("fxrstor64 area(%%rip)" ::: "memory");
  store_xmm();
  check_true(memcmp(xout, xin, sizeof xin) == 0, "FXRSTOR64 loaded XMM0-15");
}

static void test_xgetbv_xsetbv(void) {
  section("CPUID leaf 0DH, CR4.OSXSAVE, XGETBV/XSETBV");
  struct cpuid_regs r1 = cpuid(1, 0);
  check_eq((r1.ecx >> 26) & 1, 1, "CPUID.1:ECX.XSAVE");
  check_eq((r1.ecx >> 27) & 1, 0, "CPUID.1:ECX.OSXSAVE = 0 while CR4.OSXSAVE = 0");
  struct cpuid_regs d0 = cpuid(0xd, 0);
  check_eq(d0.eax, 3, "CPUID.(0DH,0):EAX = supported XCR0 bits: x87 | SSE");
  check_eq(d0.edx, 0, "CPUID.(0DH,0):EDX = 0");
  check_eq(d0.ebx, 576, "CPUID.(0DH,0):EBX = 576 (legacy region + header)");
  check_eq(d0.ecx, 576, "CPUID.(0DH,0):ECX = 576");
  struct cpuid_regs d1 = cpuid(0xd, 1);
  check_eq(d1.eax & 1, 1, "CPUID.(0DH,1):EAX.XSAVEOPT");
  trap_reset();
  TRY_ASM3(FAULT_AT("xgetbv"), 0, 0, 0);
  expect_trap("XGETBV with CR4.OSXSAVE = 0", 6, NO_ERROR_CODE, probe_ip);
  trap_reset();
  TRY_ASM3(FAULT_AT("xsetbv"), 3, 0, 0);
  expect_trap("XSETBV with CR4.OSXSAVE = 0", 6, NO_ERROR_CODE, probe_ip);

  write_cr4(read_cr4() | CR4_OSXSAVE);
  r1 = cpuid(1, 0);
  check_eq((r1.ecx >> 27) & 1, 1, "CPUID.1:ECX.OSXSAVE = 1 with CR4.OSXSAVE = 1");
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  check_eq(lo, 1, "XCR0 after reset: x87 only");
  check_eq(hi, 0, "XCR0[63:32] = 0");
  static const struct {
    uint32_t eax, ecx, edx;
    const char* what;
  } bad[] = {{0, 0, 0, "XSETBV XCR0 = 0 (x87 bit clear)"},
             {2, 0, 0, "XSETBV XCR0 = 2 (x87 bit clear)"},
             {7, 0, 0, "XSETBV XCR0 = 7 (AVX, not supported)"},
             {5, 0, 0, "XSETBV XCR0 = 5 (AVX without SSE)"},
             {3, 0, 1, "XSETBV XCR0 = 1_00000003H (reserved high bit)"},
             {3, 1, 0, "XSETBV ECX = 1 (no such XCR)"}};
  for (unsigned i = 0; i < ARRAY_SIZE(bad); ++i) {
    trap_reset();
    TRY_ASM3(FAULT_AT("xsetbv"), bad[i].eax, bad[i].ecx, bad[i].edx);
    expect_trap(bad[i].what, 13, 0, probe_ip);
  }
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  check_eq(lo, 1, "XCR0 unchanged by the faulting XSETBVs");
  trap_reset();
  USER_ASM3(FAULT_AT("xsetbv"), 3, 0, 0);
  expect_trap("XSETBV at CPL 3", 13, 0, probe_ip);
  trap_reset();
  check_eq(USER_ASM3("xgetbv", 0, 0, 0), 1, "XGETBV at CPL 3 runs");
  expect_user_done("XGETBV at CPL 3");
  __asm__ volatile("xsetbv" ::"a"(3), "c"(0), "d"(0));
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  check_eq(lo, 3, "XSETBV XCR0 = 3, XGETBV reads 3");
}

static void prepare_area(uint64_t xstate_bv) {
  memset(area, 0xcc, 576);
  memset(area + 512, 0, 64);
  wr64(area + 512, xstate_bv);
}

static void test_xsave(void) {
  section("XSAVE: image layout, XSTATE_BV, partial saves");
  fill_xin(0x13579bdfu);
  set_fpu_state();
  prepare_area(0);
  __asm__ volatile("xsave64 area(%%rip)" ::"a"(3), "d"(0) : "memory");
  check_legacy_region(area, "XSAVE64 RFBM=3");
  check_eq_sdm(rd64(area + 8), site, 0, "XSAVE64: FIP (64 bits)");
  check_eq(rd64(area + 512), 3, "XSAVE64: XSTATE_BV = 3 (both components in use)");
  check_true(all_bytes(area + 520, 56, 0), "XSAVE: header bytes 520-575 not written");
  check_true(all_bytes(area + 464, 48, 0xcc), "XSAVE: bytes 464-511 not written");

  // RFBM = 1 (x87 only): MXCSR, MXCSR_MASK and the XMM registers are not written, XSTATE_BV
  // bit 1 keeps what memory had.
  prepare_area(2);
  __asm__ volatile("xsave64 area(%%rip)" ::"a"(1), "d"(0) : "memory");
  check_eq(rd16(area + 0), 0x027f, "XSAVE RFBM=1: FCW");
  check_eq(rd64(area + 32), 0x8000000000000000ull, "XSAVE RFBM=1: ST(0)");
  check_true(all_bytes(area + 24, 8, 0xcc), "XSAVE RFBM=1: MXCSR/MXCSR_MASK not written");
  check_true(all_bytes(area + 160, 256, 0xcc), "XSAVE RFBM=1: XMM area not written");
  check_eq(rd64(area + 512), 3, "XSAVE RFBM=1: XSTATE_BV bit 0 set, bit 1 kept from memory");
  // RFBM = 2 (SSE only): the x87 area is not written; MXCSR is.
  prepare_area(0);
  __asm__ volatile("xsave64 area(%%rip)" ::"a"(2), "d"(0) : "memory");
  check_true(all_bytes(area + 0, 24, 0xcc) && all_bytes(area + 32, 128, 0xcc),
             "XSAVE RFBM=2: x87 area (bytes 0-23, 32-159) not written");
  check_eq(rd32(area + 24), mxcsr_in, "XSAVE RFBM=2: MXCSR");
  check_true(xmm_area_is(area + 160, 16), "XSAVE RFBM=2: XMM0-15");
  check_eq(rd64(area + 512), 2, "XSAVE RFBM=2: XSTATE_BV = 2");
  // EDX:EAX = all ones: RFBM = XCR0.
  prepare_area(0);
  __asm__ volatile("xsave64 area(%%rip)" ::"a"(~0u), "d"(~0u) : "memory");
  check_eq(rd64(area + 512), 3, "XSAVE EDX:EAX = -1: XSTATE_BV = XCR0 = 3");
  trap_reset();
  TRY_ASM3(FAULT_AT("xsave64 area+32(%%rip)"), 3, 0, 0);
  expect_trap("XSAVE to an address that is not 64-byte aligned", 13, 0, probe_ip);
}

static void test_xrstor(void) {
  section("XRSTOR: round trip, initialisation by XSTATE_BV, #GP cases");
  fill_xin(0x0badf00du);
  set_fpu_state();
  prepare_area(0);
  __asm__ volatile("xsave64 area(%%rip)" ::"a"(3), "d"(0) : "memory");
  memcpy(area2, area, 576);
  // Modify: FCW, MXCSR, XMM0-15; restore and read back.
  area[0] = 0x7f;
  area[1] = 0x0c;
  area[24] = 0x80;
  area[25] = 0x1f;
  fill_xin(0x5a5a5a5au);
  for (int r = 0; r < 16; ++r) memcpy(area + 160 + 16 * r, xin[r], 16);
  __asm__ volatile(
      "xrstor64 area(%%rip)\n\tfnstcw fcw_out(%%rip)\n\tstmxcsr mxcsr_out(%%rip)" ::"a"(3), "d"(0)
      : "memory");
  check_eq(fcw_out, 0x0c7f, "XRSTOR: FCW loaded");
  check_eq(mxcsr_out, 0x1f80, "XRSTOR: MXCSR loaded");
  store_xmm();
  check_true(memcmp(xout, xin, sizeof xin) == 0, "XRSTOR: XMM0-15 loaded");

  // XSTATE_BV = 1: SSE is initialised (XMM = 0) but MXCSR still comes from memory.
  memcpy(area, area2, 576);
  wr64(area + 512, 1);
  area[24] = 0x80;
  area[25] = 0x3f;  // MXCSR 3F80H
  __asm__ volatile("xrstor64 area(%%rip)\n\tstmxcsr mxcsr_out(%%rip)" ::"a"(3), "d"(0) : "memory");
  store_xmm();
  int zero = 1;
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 4; ++k)
      if (xout[r][k]) zero = 0;
  check_true(zero, "XRSTOR XSTATE_BV=1: XMM0-15 initialised to 0");
  check_eq(mxcsr_out, 0x3f80, "XRSTOR XSTATE_BV=1: MXCSR loaded from memory");
  __asm__ volatile("fnstcw fcw_out(%%rip)" ::: "memory");
  check_eq(fcw_out, 0x027f, "XRSTOR XSTATE_BV=1: x87 loaded");

  // XSAVEOPT now: SSE is in its initial configuration. XSTATE_BV[1] may be 0 (and then the XMM
  // area is not written) or 1 (then it holds zeros); x87 is in use.
  prepare_area(0);
  __asm__ volatile("xsaveopt64 area(%%rip)" ::"a"(3), "d"(0) : "memory");
  const uint64_t bv = rd64(area + 512);
  check_eq(bv & 1, 1, "XSAVEOPT: XSTATE_BV[0] = 1 (x87 in use)");
  check_true((bv & 2) ? all_bytes(area + 160, 256, 0) : all_bytes(area + 160, 256, 0xcc),
             "XSAVEOPT: XMM area consistent with XSTATE_BV[1] = %u", (unsigned)(bv >> 1) & 1);
  check_eq(rd32(area + 24), 0x3f80, "XSAVEOPT: MXCSR written");
  check_eq(rd16(area + 0), 0x027f, "XSAVEOPT: FCW");

  // XSTATE_BV = 2: x87 initialised (FCW 037FH, empty stack); SSE loaded.
  memcpy(area, area2, 576);
  wr64(area + 512, 2);
  __asm__ volatile("xrstor64 area(%%rip)\n\tfnstenv fenv(%%rip)" ::"a"(3), "d"(0) : "memory");
  check_eq(fenv[0] & 0xffff, 0x037f, "XRSTOR XSTATE_BV=2: FCW initialised");
  check_eq(fenv[1] & 0xffff, 0, "XRSTOR XSTATE_BV=2: FSW initialised");
  check_eq(fenv[2] & 0xffff, 0xffff, "XRSTOR XSTATE_BV=2: all registers empty");

  // #GP(0): XSTATE_BV bit not in XCR0; compacted-form bit in XCOMP_BV (no XSAVEC); misaligned;
  // reserved MXCSR bits. Nothing is loaded.
  __asm__ volatile("fldcw fcw_in(%%rip)" ::: "memory");
  memcpy(area, area2, 576);
  wr64(area + 512, 7);
  trap_reset();
  TRY_ASM3(FAULT_AT("xrstor64 area(%%rip)"), 3, 0, 0);
  expect_trap("XRSTOR with XSTATE_BV bit 2 (not in XCR0)", 13, 0, probe_ip);
  memcpy(area, area2, 576);
  wr64(area + 520, 0x8000000000000003ull);
  trap_reset();
  TRY_ASM3(FAULT_AT("xrstor64 area(%%rip)"), 3, 0, 0);
  expect_trap("XRSTOR with XCOMP_BV[63] set", 13, 0, probe_ip);
  memcpy(area, area2, 576);
  area[26] = 0x01;  // MXCSR bit 16
  trap_reset();
  TRY_ASM3(FAULT_AT("xrstor64 area(%%rip)"), 3, 0, 0);
  expect_gp_sdm("XRSTOR with a reserved MXCSR bit", probe_ip);
  __asm__ volatile("fldcw fcw_in(%%rip)\n\tldmxcsr mxcsr_in(%%rip)" ::: "memory");
  trap_reset();
  TRY_ASM3(FAULT_AT("xrstor64 area+16(%%rip)"), 3, 0, 0);
  expect_trap("XRSTOR from an address that is not 64-byte aligned", 13, 0, probe_ip);
  __asm__ volatile("fnstcw fcw_out(%%rip)" ::: "memory");
  check_eq(fcw_out, 0x027f, "the faulting XRSTORs loaded nothing (FCW unchanged)");
}

void kmain64(void) {
  test_fxsave64();
  test_xgetbv_xsetbv();
  test_xsave();
  test_xrstor();
  __asm__ volatile("fninit");
}
