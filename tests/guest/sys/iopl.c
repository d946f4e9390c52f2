// iopl: I/O protection at CPL 3 (SDM Vol. 1, 19.5 Protected-Mode I/O: IOPL and the I/O
// permission bit map in the TSS; Vol. 3A, 8.2.1 and Vol. 2A, IN/OUT/INS/OUTS, CLI/STI, POPF).
// When CPL > IOPL, an I/O instruction is allowed only if every bit of the bitmap covering the
// accessed ports is 0; the processor reads two bitmap bytes, and bytes beyond the TSS limit
// count as 1s. Ports used here (0x80..0x8f, 0x500) have no side effects on the reads done.
#include "cpu32.h"
#include "trap.h"
#include "x86.h"

#define IOMAP_OFFSET 104u
static uint8_t* const iomap = tss_area + IOMAP_OFFSET;
uint8_t ins_buffer[16];

static void allow_port(uint32_t port) {
  iomap[port >> 3] &= (uint8_t) ~(1u << (port & 7));
}

static void set_tss_limit(uint32_t limit, uint16_t iomap_base) {
  tss.iomap_base = iomap_base;
  reload_tss(limit);
}

// Runs `snippet` at CPL 3 and expects either success or #GP(0) at the marked instruction.
static void expect_io(const char* what, int allowed) {
  if (allowed) {
    expect_user_done(what);
  } else {
    expect_trap(what, 13, 0, probe_ip);
  }
}

#define IO_CASE(what, allowed, snippet, dx) \
  do {                                      \
    trap_reset();                           \
    USER_ASM3(FAULT_AT(snippet), 0, 0, dx); \
    expect_io(what, allowed);               \
  } while (0)

static void test_bitmap(void) {
  section("I/O permission bitmap, IOPL 0, CPL 3");
  memset(iomap, 0xff, 8192 + 1);
  allow_port(0x80);
  allow_port(0x81);
  allow_port(0x84);
  allow_port(0x85);
  allow_port(0x86);
  allow_port(0x87);  // bit 7 of bitmap byte 0x10
  allow_port(0x88);  // bit 0 of bitmap byte 0x11
  allow_port(0x500);
  // The whole map plus the trailing 0xff byte lies within the limit.
  set_tss_limit(IOMAP_OFFSET + 8192, IOMAP_OFFSET);
  check_eq(user_flags & EFL_IOPL3, 0, "ring-3 code runs with IOPL 0");

  IO_CASE("IN AL, 0x80 (allowed)", 1, "inb $0x80, %%al", 0);
  IO_CASE("OUT 0x80, AL (allowed)", 1, "outb %%al, $0x80", 0);
  IO_CASE("IN AL, 0x82 (denied)", 0, "inb $0x82, %%al", 0);
  IO_CASE("OUT 0x83, AL (denied)", 0, "outb %%al, $0x83", 0);
  IO_CASE("IN AL, DX=0x81 (allowed)", 1, "inb %%dx, %%al", 0x81);
  IO_CASE("IN AL, DX=0x3f8 (denied)", 0, "inb %%dx, %%al", 0x3f8);
  IO_CASE("IN AX, 0x80 (0x80 and 0x81 allowed)", 1, "inw $0x80, %%ax", 0);
  IO_CASE("IN AX, 0x81 (0x81 allowed, 0x82 denied)", 0, "inw $0x81, %%ax", 0);
  IO_CASE("IN EAX, 0x84 (0x84..0x87 allowed)", 1, "inl $0x84, %%eax", 0);
  IO_CASE("IN EAX, 0x86 (0x86..0x88 allowed, 0x89 denied)", 0, "inl $0x86, %%eax", 0);
  IO_CASE("IN AX, 0x87 (bits in two bitmap bytes, both allowed)", 1, "inw $0x87, %%ax", 0);
  IO_CASE("IN EAX, 0x7f (0x7f denied, 0x80..0x82 mixed)", 0, "inl $0x7f, %%eax", 0);
  IO_CASE("IN AL, DX=0x500 (allowed)", 1, "inb %%dx, %%al", 0x500);

  // String forms are checked the same way.
  trap_reset();
  USER_ASM3("leal ins_buffer, %%edi\n\tcld\n\t" FAULT_AT("insb"), 0, 0, 0x80);
  expect_io("INSB from DX=0x80 (allowed)", 1);
  trap_reset();
  USER_ASM3("leal ins_buffer, %%edi\n\tcld\n\t" FAULT_AT("insb"), 0, 0, 0x82);
  expect_io("INSB from DX=0x82 (denied)", 0);
  trap_reset();
  USER_ASM3("leal ins_buffer, %%esi\n\tcld\n\t" FAULT_AT("outsw"), 0, 0, 0x81);
  expect_io("OUTSW to DX=0x81 (0x82 denied)", 0);

  // At CPL 0 the bitmap is not consulted.
  check_eq(TRY_ASM("inb $0x82, %%al"), 0, "IN AL, 0x82 at CPL 0 ignores the bitmap");

  section("I/O bitmap and the TSS limit");
  // Limit covering the bitmap bytes of ports 0..0x407 only (bytes 0..0x80): the byte of port
  // 0x500 (0xa0) is beyond the limit, so the access faults although its bit in memory is 0.
  set_tss_limit(IOMAP_OFFSET + 0x80, IOMAP_OFFSET);
  IO_CASE("IN AL, 0x80 with a short bitmap", 1, "inb $0x80, %%al", 0);
  IO_CASE("IN AL, DX=0x500: bitmap byte beyond the TSS limit", 0, "inb %%dx, %%al", 0x500);
  // I/O map base at or beyond the limit: no bitmap, every port denied.
  set_tss_limit(103, IOMAP_OFFSET);
  IO_CASE("IN AL, 0x80 with the map base beyond the TSS limit", 0, "inb $0x80, %%al", 0);
  set_tss_limit(IOMAP_OFFSET + 8192, IOMAP_OFFSET);
  IO_CASE("IN AL, 0x80 with the full bitmap again", 1, "inb $0x80, %%al", 0);
  // The map base can be anywhere: move it 16 bytes up, so the old byte 0x10 is now byte 0.
  set_tss_limit(IOMAP_OFFSET + 8192, IOMAP_OFFSET + 0x10);
  IO_CASE("IN AL, 0x00 with the map base moved onto port 0x80's byte", 1, "inb $0x00, %%al", 0);
  IO_CASE("IN AL, 0x80 with the map base moved", 0, "inb $0x80, %%al", 0);
  set_tss_limit(IOMAP_OFFSET + 8192, IOMAP_OFFSET);
}

static void test_iopl(void) {
  section("IOPL");
  // CPL <= IOPL: everything is allowed, the bitmap is not consulted.
  user_flags = EFL_FIXED | EFL_IOPL3;
  IO_CASE("IOPL 3: IN AL, 0x82 (denied in the bitmap)", 1, "inb $0x82, %%al", 0);
  IO_CASE("IOPL 3: IN AL, DX=0x3f8", 1, "inb %%dx, %%al", 0x3f8);
  set_tss_limit(103, IOMAP_OFFSET);
  IO_CASE("IOPL 3: IN AL, 0x80 without a bitmap", 1, "inb $0x80, %%al", 0);
  set_tss_limit(IOMAP_OFFSET + 8192, IOMAP_OFFSET);
  IO_CASE("IOPL 3: CLI at CPL 3", 1, "cli", 0);
  IO_CASE("IOPL 3: STI at CPL 3", 1, "sti\n\tcli", 0);
  // IOPL 1 < CPL 3: the bitmap applies again.
  user_flags = EFL_FIXED | (1u << 12);
  IO_CASE("IOPL 1: IN AL, 0x80 (allowed)", 1, "inb $0x80, %%al", 0);
  IO_CASE("IOPL 1: IN AL, 0x82 (denied)", 0, "inb $0x82, %%al", 0);
  IO_CASE("IOPL 1: CLI at CPL 3", 0, "cli", 0);
  user_flags = EFL_FIXED;
  IO_CASE("IOPL 0: CLI at CPL 3", 0, "cli", 0);
  IO_CASE("IOPL 0: STI at CPL 3", 0, "sti", 0);

  // POPF at CPL 3 cannot change IOPL, nor IF when CPL > IOPL; no fault (SDM Vol. 2B, POPF).
  trap_reset();
  USER_ASM("pushl $0x3202\n\tpopfl\n\tpushfl\n\tpopl %%esi");
  expect_user_done("POPF with IOPL=3 and IF=1 at CPL 3");
  check_eq(trap.gpr[6] & (EFL_IOPL3 | EFL_IF), 0, "POPF at CPL 3 left IOPL and IF unchanged");
  // With IOPL 3, POPF at CPL 3 may change IF (but still not IOPL).
  user_flags = EFL_FIXED | EFL_IOPL3;
  trap_reset();
  USER_ASM("pushl $0x0202\n\tpopfl\n\tpushfl\n\tpopl %%esi\n\tcli");
  expect_user_done("POPF with IF=1 at CPL 3, IOPL 3");
  check_eq(trap.gpr[6] & (EFL_IOPL3 | EFL_IF), EFL_IOPL3 | EFL_IF,
           "POPF at CPL 3 with IOPL 3 set IF and kept IOPL 3");
  user_reset();
}

void kmain32(void) {
  test_bitmap();
  test_iopl();
}
