// fpu_state, 32-bit part: the FXSAVE/FXRSTOR image in the 32-bit format (SDM Vol. 2A, FXSAVE,
// table 3-53; Vol. 1, 10.5.1): every field at its offset with exact values, a round trip through
// a modified image, the tag word FXRSTOR rebuilds from the abridged one (Vol. 1, 8.1.7), and the
// #GP cases (misaligned image, reserved MXCSR bits). The 64-bit part (fpu_state64.c) does the
// 64-bit format and the XSAVE family.
#include "cpu32.h"
#include "trap.h"
#include "x86.h"

#define CR4_OSFXSR (1u << 9)
#define CR4_OSXMMEXCPT (1u << 10)

uint8_t image[512] ALIGNED(16);
uint8_t image2[512] ALIGNED(16);
uint8_t big[1024] ALIGNED(16);  // for the misaligned case
uint32_t xmm_in[8][4] ALIGNED(16);
uint32_t xmm_out[8][4] ALIGNED(16);
double one_f64 = 1.0;
uint16_t fcw_in = 0x027f, fcw_out;
uint32_t mxcsr_in = 0x9fc0, mxcsr_out;  // FZ, DAZ, all exceptions masked
uint32_t fenv[7];
int32_t out32;
volatile uint32_t site;

static uint16_t rd16(const uint8_t* p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static uint32_t rd32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t* p) {
  return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}
static void wr16(uint8_t* p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static void wr32(uint8_t* p, uint32_t v) {
  wr16(p, (uint16_t)v);
  wr16(p + 2, (uint16_t)(v >> 16));
}
static void wr64(uint8_t* p, uint64_t v) {
  wr32(p, (uint32_t)v);
  wr32(p + 4, (uint32_t)(v >> 32));
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

static void load_xmm0_7(void) {
  __asm__ volatile(
      "movups xmm_in, %%xmm0\n\tmovups xmm_in+16, %%xmm1\n\tmovups xmm_in+32, %%xmm2\n\t"
      "movups xmm_in+48, %%xmm3\n\tmovups xmm_in+64, %%xmm4\n\tmovups xmm_in+80, %%xmm5\n\t"
      "movups xmm_in+96, %%xmm6\n\tmovups xmm_in+112, %%xmm7" ::
          : "memory");
}
static void store_xmm0_7(void) {
  __asm__ volatile(
      "movups %%xmm0, xmm_out\n\tmovups %%xmm1, xmm_out+16\n\tmovups %%xmm2, xmm_out+32\n\t"
      "movups %%xmm3, xmm_out+48\n\tmovups %%xmm4, xmm_out+64\n\tmovups %%xmm5, xmm_out+80\n\t"
      "movups %%xmm6, xmm_out+96\n\tmovups %%xmm7, xmm_out+112" ::
          : "memory");
}

static void test_fxsave_layout(void) {
  section("FXSAVE, 32-bit format: field offsets and values");
  write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
  write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
  for (int r = 0; r < 8; ++r)
    for (int k = 0; k < 4; ++k) xmm_in[r][k] = 0x01010101u * (uint32_t)(r + 1) + (uint32_t)k;
  memset(image, 0xcc, sizeof image);
  // x87: ST(1) = pi, ST(0) = 1.0 from memory (FIP, FDP, FOP describe that FLD m64fp).
  __asm__ volatile(
      "fninit\n\tfldcw fcw_in\n\tldmxcsr mxcsr_in\n\tfldpi\n\t"
      "movl $3f, site\n3:\tfldl one_f64" ::
          : "memory");
  load_xmm0_7();
  __asm__ volatile("fxsave image" ::: "memory");
  check_eq(rd16(image + 0), 0x027f, "FCW (bytes 0-1)");
  check_eq(rd16(image + 2) & 0xb8ff, 0x3000, "FSW (bytes 2-3): TOP = 6, no exception flags");
  check_eq(image[4], 0xc0, "abridged FTW (byte 4): R6 and R7 in use");
  check_eq(image[5], 0, "byte 5 reserved, 0");
  // QEMU TCG 7.2 saves 0 for the x87 instruction and data pointers.
  check_eq_sdm(rd32(image + 8), site, 0, "FIP (bytes 8-11) = the FLD m64fp");
  check_eq_sdm(rd16(image + 12), read_cs(), 0, "FCS (bytes 12-13)");
  check_eq_sdm(rd32(image + 16), (uint32_t)&one_f64, 0, "FDP (bytes 16-19) = the memory operand");
  check_eq_sdm(rd16(image + 20), read_ds(), 0, "FDS (bytes 20-21)");
  check_eq(rd32(image + 24), 0x9fc0, "MXCSR (bytes 24-27)");
  check_eq(rd32(image + 28), 0xffff, "MXCSR_MASK (bytes 28-31): every bit incl. DAZ");
  check_eq(rd64(image + 32), 0x8000000000000000ull, "ST(0) significand (bytes 32-39): 1.0");
  check_eq(rd16(image + 40), 0x3fff, "ST(0) sign and exponent (bytes 40-41)");
  check_eq(rd64(image + 48), 0xc90fdaa22168c235ull, "ST(1) significand (bytes 48-55): pi");
  check_eq(rd16(image + 56), 0x4000, "ST(1) sign and exponent (bytes 56-57)");
  int xmm_ok = 1;
  for (int r = 0; r < 8; ++r)
    if (memcmp(image + 160 + 16 * r, xmm_in[r], 16) != 0) xmm_ok = 0;
  check_true(xmm_ok, "XMM0-7 (bytes 160-287)");
  int tail_ok = 1;
  for (int b = 464; b < 512; ++b)
    if (image[b] != 0xcc) tail_ok = 0;
  check_true(tail_ok, "bytes 464-511 (available to software) not written");
}

static void test_fxrstor_round_trip(void) {
  section("FXRSTOR of a modified image, FXSAVE again");
  memcpy(image2, image, sizeof image);
  wr16(image2 + 0, 0x0c7f);                  // round toward zero, 64-bit precision
  wr16(image2 + 6, 0x0505);                  // FOP (11 bits)
  wr32(image2 + 24, 0x3f80);                 // MXCSR: round toward zero
  wr64(image2 + 32, 0xa000000000000000ull);  // ST(0) = 2.5 (exponent 0x4000)
  wr16(image2 + 40, 0x4000);
  for (int r = 0; r < 8; ++r)
    for (int k = 0; k < 4; ++k) wr32(image2 + 160 + 16 * r + 4 * k, ~xmm_in[r][k]);
  __asm__ volatile("fxrstor image2\n\tfnstcw fcw_out\n\tstmxcsr mxcsr_out" ::: "memory");
  check_eq(fcw_out, 0x0c7f, "FCW loaded");
  check_eq(mxcsr_out, 0x3f80, "MXCSR loaded");
  store_xmm0_7();
  int ok = 1;
  for (int r = 0; r < 8; ++r)
    for (int k = 0; k < 4; ++k)
      if (xmm_out[r][k] != ~xmm_in[r][k]) ok = 0;
  check_true(ok, "XMM0-7 loaded");
  memset(image, 0, sizeof image);
  __asm__ volatile("fxsave image" ::: "memory");
  check_eq(rd16(image + 0), rd16(image2 + 0), "FCW saved again as loaded");
  check_eq(rd16(image + 2), rd16(image2 + 2), "FSW saved again as loaded");
  check_eq(image[4], image2[4], "abridged FTW saved again as loaded");
  check_eq_sdm(rd16(image + 6), 0x0505, 0, "FOP saved again as loaded (QEMU: not kept)");
  check_eq(rd32(image + 24), rd32(image2 + 24), "MXCSR saved again as loaded");
  check_eq(rd32(image + 28), rd32(image2 + 28), "MXCSR_MASK saved again");
  check_true_sdm(memcmp(image + 8, image2 + 8, 16) == 0,
                 "FIP/FCS/FDP/FDS (bytes 8-23) saved again as loaded");
  check_true(memcmp(image + 32, image2 + 32, 10) == 0 && memcmp(image + 48, image2 + 48, 10) == 0,
             "ST(0), ST(1) saved again as loaded");
  check_true(memcmp(image + 160, image2 + 160, 128) == 0, "XMM0-7 saved again as loaded");
  // ST(0) = 2.5 under round toward zero: FISTP gives 2.
  __asm__ volatile("fistpl out32" ::: "memory");
  check_eq((uint32_t)out32, 2, "FISTP of the loaded ST(0) (2.5, chop) = 2");
}

// The full tag word FXRSTOR rebuilds: 00 valid, 01 zero, 10 special (NaN, infinity, denormal,
// unnormal), 11 empty (SDM Vol. 1, 8.1.7 and FXRSTOR).
static void test_tag_rebuild(void) {
  section("FXRSTOR: the tag word rebuilt from the abridged tags and the register contents");
  static const struct {
    uint64_t mant;
    uint16_t se;
    unsigned tag;  // expected 2-bit tag when in use
  } regs[8] = {
      {0, 0, 1},                           // +0: zero
      {0x8000000000000000ull, 0x3fff, 0},  // 1.0: valid
      {0x8000000000000000ull, 0x7fff, 2},  // +inf: special
      {0xc000000000000000ull, 0xffff, 2},  // -QNaN: special
      {0x0000000000000001ull, 0x0000, 2},  // denormal: special
      {0x4000000000000000ull, 0x3fff, 2},  // unnormal: special
      {0x8000000000000000ull, 0x8000, 2},  // pseudo-denormal (exponent 0, J set): special
      {0x8000000000000000ull, 0xc000, 0},  // -2.0: valid
  };
  memset(image2, 0, sizeof image2);
  wr16(image2 + 0, 0x037f);
  const unsigned top = 3;
  wr16(image2 + 2, (uint16_t)(top << 11));
  image2[4] = 0x7f;  // R7 empty, the others in use
  wr32(image2 + 24, 0x1f80);
  for (int i = 0; i < 8; ++i) {  // ST(i) is physical register (top + i) & 7
    wr64(image2 + 32 + 16 * i, regs[(top + i) & 7].mant);
    wr16(image2 + 40 + 16 * i, regs[(top + i) & 7].se);
  }
  __asm__ volatile("fxrstor image2\n\tfnstenv fenv" ::: "memory");
  unsigned expected = 0;
  for (unsigned r = 0; r < 8; ++r) {
    const unsigned t = r == 7 ? 3 : regs[r].tag;
    expected |= t << (2 * r);
  }
  check_eq(fenv[2] & 0xffff, expected, "FNSTENV tag word after FXRSTOR");
  check_eq((fenv[1] >> 11) & 7, top, "TOP loaded");
  __asm__ volatile("fninit");
}

static void test_fxsave_faults(void) {
  section("FXSAVE/FXRSTOR faults");
  __asm__ volatile("fnstcw fcw_out" ::: "memory");
  const uint16_t fcw_before = fcw_out;
  trap_reset();
  TRY_ASM1(FAULT_AT("fxsave (%%eax)"), big + 8);
  expect_trap("FXSAVE to an address that is not 16-byte aligned", 13, 0, probe_ip);
  trap_reset();
  TRY_ASM1(FAULT_AT("fxrstor (%%eax)"), big + 8);
  expect_trap("FXRSTOR from an address that is not 16-byte aligned", 13, 0, probe_ip);
  memcpy(big, image, 512);
  wr16(big + 0, 0x0000);
  wr32(big + 24, 0x10000 | 0x1f80);  // MXCSR bit 16: reserved
  trap_reset();
  TRY_ASM1(FAULT_AT("fxrstor (%%eax)"), big);
  if (expect_gp_sdm("FXRSTOR of an image with a reserved MXCSR bit", probe_ip)) {
    __asm__ volatile("fnstcw fcw_out" ::: "memory");
    check_eq(fcw_out, fcw_before, "the faulting FXRSTOR loaded nothing (FCW unchanged)");
  }
}

void kmain32(void) {
  test_fxsave_layout();
  test_fxrstor_round_trip();
  test_tag_rebuild();
  test_fxsave_faults();
  __asm__ volatile("fninit");
  run_64bit_part();
}
