// IN/OUT/INS/OUTS: IOPL and the TSS I/O permission bit map (bit boundaries, multi-byte
// accesses straddling map bytes, the map limit), virtual-8086 mode, and INS/OUTS with REP,
// direction, address size and precise faults.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "devices/port_bus.h"
#include "frontend/system/mode.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kTss = 0x5000;
constexpr uint16_t kMapOffset = 0x88;  // the I/O map starts at TSS+88H in these tests

// A port device over all 64K ports that records accesses and reads back a counter.
struct IoCpu {
  TestCpu t;
  CpuState& c = t.cpu();
  PortBus bus;
  struct Access {
    bool write;
    uint16_t port;
    unsigned size;
    uint32_t value;
  };
  std::vector<Access> log;
  uint32_t next_read = 0x11;

  IoCpu() {
    PortHandler h;
    h.read = [this](uint16_t port, unsigned size) {
      log.push_back({false, port, size, next_read});
      return next_read++;
    };
    h.write = [this](uint16_t port, unsigned size, uint32_t v) {
      log.push_back({true, port, size, v});
    };
    bus.add(0, 0x10000, h, "recorder");
    c.ports = &bus;
  }

  // A 32-bit TSS (busy, type 11) with `limit` and the I/O map at kMapOffset, all ports denied.
  void tss(uint32_t limit, uint16_t map_offset = kMapOffset) {
    c.tr = SegmentCache{kTss, limit, 0x28, static_cast<uint16_t>(0xB | seg_attr::P)};
    t.write<uint16_t>(kTss + 0x66, map_offset);
    for (uint32_t k = 0; k < 0x2000 + 1; ++k) t.write<uint8_t>(kTss + map_offset + k, 0xff);
  }
  void allow(uint16_t port) {
    const uint64_t a = kTss + kMapOffset + port / 8;
    t.write<uint8_t>(a, static_cast<uint8_t>(t.read<uint8_t>(a) & ~(1u << (port % 8))));
  }

  // IN AL/AX/EAX, DX and OUT DX, AL/AX/EAX.
  Outcome in(uint16_t port, unsigned size) {
    c.gpr[RDX] = port;
    Insn i = make_insn(Op::IN, size, 1);
    i.dst = reg_operand(RAX);
    i.src = reg_operand(RDX);
    return t.run(i);
  }
  Outcome out(uint16_t port, unsigned size, uint32_t v) {
    c.gpr[RDX] = port;
    c.gpr[RAX] = v;
    Insn i = make_insn(Op::OUT, size, 1);
    i.dst = reg_operand(RDX);
    i.src = reg_operand(RAX);
    return t.run(i);
  }
};

// Protected mode, CPL 3, IOPL 0: the bit map decides.
std::unique_ptr<IoCpu> user_io() {
  auto k = std::make_unique<IoCpu>();
  enter_protected32(k->c, 3);
  return k;
}

TEST(SysInsnIo, RealModeAndCplWithinIoplNeedNoMap) {
  IoCpu k;
  enter_real_mode(k.c);
  EXPECT_FALSE(k.in(0x60, 1).faulted);
  enter_protected32(k.c, 0);  // CPL 0 <= IOPL 0
  EXPECT_FALSE(k.out(0x3f8, 1, 0x41).faulted);
  enter_protected32(k.c, 3);
  set_iopl(k.c, 3);
  EXPECT_FALSE(k.out(0x3f8, 4, 0x41).faulted);
  enter_long_mode(k.c, 3);
  set_iopl(k.c, 3);
  EXPECT_FALSE(k.in(0x80, 2).faulted);
  EXPECT_EQ(k.log.size(), 4u);
}

TEST(SysInsnIo, MapPermitsAndDeniesSinglePorts) {
  std::unique_ptr<IoCpu> k = user_io();
  k->tss(kMapOffset + 0x2000);
  k->allow(0x3f8);
  EXPECT_FALSE(k->out(0x3f8, 1, 0x41).faulted);
  EXPECT_EQ(fault_of(k->out(0x3f9, 1, 0x41)), kGP);
  EXPECT_EQ(fault_of(k->in(0x3f7, 1)), kGP);
  EXPECT_EQ(k->log.size(), 1u);
  // The first and last ports of the space.
  k->allow(0);
  k->allow(0xffff);
  EXPECT_FALSE(k->in(0, 1).faulted);
  EXPECT_FALSE(k->in(0xffff, 1).faulted);
  EXPECT_EQ(fault_of(k->in(0xfffe, 1)), kGP);
}

TEST(SysInsnIo, EveryBitOfAMultiByteAccessMustBeClear) {
  std::unique_ptr<IoCpu> k = user_io();
  k->tss(kMapOffset + 0x2000);
  // Ports 6..9 straddle map bytes 0 and 1.
  k->allow(6);
  k->allow(7);
  k->allow(8);
  EXPECT_FALSE(k->in(6, 2).faulted);      // 6, 7
  EXPECT_FALSE(k->in(7, 2).faulted);      // 7, 8: two map bytes
  EXPECT_EQ(fault_of(k->in(6, 4)), kGP);  // 9 denied
  EXPECT_EQ(fault_of(k->in(8, 2)), kGP);
  k->allow(9);
  EXPECT_FALSE(k->in(6, 4).faulted);
  EXPECT_EQ(fault_of(k->out(5, 2, 0)), kGP);  // 5 denied
  // A dword at FFFDH covers bits FFFDH..10000H: the last one is in the byte after the map
  // (all ones by convention), so the access is denied.
  k->allow(0xfffd);
  k->allow(0xfffe);
  k->allow(0xffff);
  EXPECT_FALSE(k->in(0xfffd, 2).faulted);
  EXPECT_EQ(fault_of(k->in(0xfffd, 4)), kGP);
}

// The processor reads two map bytes for every access; both must lie within the TSS limit
// (SDM vol. 1, 19.5.2: hence the extra FFH byte after a full map).
TEST(SysInsnIo, TwoByteMapReadMustFitTheLimit) {
  std::unique_ptr<IoCpu> k = user_io();
  // The limit ends at map byte 80H: ports up to 3FFH read bytes 7FH and 80H.
  k->tss(kMapOffset + 0x80);
  for (uint16_t p : {uint16_t{0x3f0}, uint16_t{0x3ff}, uint16_t{0x400}, uint16_t{0x408}})
    k->allow(p);
  EXPECT_FALSE(k->in(0x3f0, 1).faulted);
  EXPECT_FALSE(k->in(0x3ff, 1).faulted);
  EXPECT_EQ(fault_of(k->in(0x400, 1)), kGP);  // bytes 80H, 81H: 81H is beyond the limit
  EXPECT_EQ(fault_of(k->in(0x408, 1)), kGP);
  // One more byte of limit admits port 400H, not 408H (byte 82H).
  k->c.tr.limit = kMapOffset + 0x81;
  EXPECT_FALSE(k->in(0x400, 1).faulted);
  EXPECT_EQ(fault_of(k->in(0x408, 1)), kGP);
}

TEST(SysInsnIo, MissingOrTruncatedTssFaults) {
  std::unique_ptr<IoCpu> k = user_io();
  k->tss(kMapOffset + 0x2000);
  k->allow(0x80);
  // Map offset beyond the limit: no map.
  k->tss(0x200, 0x300);
  EXPECT_EQ(fault_of(k->in(0x80, 1)), kGP);
  // Limit too small to hold the map-base field.
  k->c.tr.limit = 0x66;
  EXPECT_EQ(fault_of(k->in(0x80, 1)), kGP);
  // A 16-bit TSS has no map.
  k->tss(kMapOffset + 0x2000);
  k->allow(0x80);
  EXPECT_FALSE(k->in(0x80, 1).faulted);
  k->c.tr.attrib = static_cast<uint16_t>(0x3 | seg_attr::P);
  EXPECT_EQ(fault_of(k->in(0x80, 1)), kGP);
}

TEST(SysInsnIo, LongModeUsesTheSameMap) {
  IoCpu k;
  enter_long_mode(k.c, 3);
  k.tss(kMapOffset + 0x2000);
  k.allow(0x70);
  EXPECT_FALSE(k.in(0x70, 1).faulted);
  EXPECT_EQ(fault_of(k.in(0x71, 1)), kGP);
  // IOPL 3 at CPL 3: no map needed.
  set_iopl(k.c, 3);
  EXPECT_FALSE(k.in(0x71, 1).faulted);
}

TEST(SysInsnIo, Virtual8086ModeAlwaysConsultsTheMap) {
  IoCpu k;
  enter_v86(k.c, 3);  // IOPL 3 does not grant I/O in v86 mode
  k.tss(kMapOffset + 0x2000);
  EXPECT_EQ(fault_of(k.in(0x60, 1)), kGP);
  k.allow(0x60);
  EXPECT_FALSE(k.in(0x60, 1).faulted);
}

TEST(SysInsnIo, DeniedAccessChangesNothing) {
  std::unique_ptr<IoCpu> k = user_io();
  k->tss(kMapOffset + 0x2000);
  k->c.gpr[RAX] = 0x12345678;
  EXPECT_EQ(fault_of(k->in(0x60, 1)), kGP);
  EXPECT_EQ(k->c.gpr[RAX], 0x12345678u);
  EXPECT_EQ(k->c.rip, kSysRip);
  EXPECT_TRUE(k->log.empty());
}

// ---- INS / OUTS ----

Insn string_io(Op op, unsigned size, bool rep, unsigned addr_size = 8) {
  Insn i = make_insn(op, size, rep ? 2 : 1);
  i.addr_size = static_cast<uint8_t>(addr_size);
  if (rep) i.prefixes = pfx::kRep;
  return i;
}

// Runs a REP instruction until it completes or faults.
Outcome run_to_completion(TestCpu& t, Insn& i) {
  const uint64_t start = t.cpu().rip;
  for (int calls = 0; calls < 100000; ++calls) {
    Outcome o = t.run(i);
    if (o.faulted || t.cpu().rip != start) return o;
  }
  ADD_FAILURE() << "did not complete";
  return Outcome{};
}

TEST(SysInsnStringIo, InsSingleElements) {
  for (unsigned size : {1u, 2u, 4u}) {
    for (bool down : {false, true}) {
      IoCpu k;
      enter_long_mode(k.c);
      if (down) k.c.rflags |= rf::DF;
      k.c.gpr[RDX] = 0x1f0;
      k.c.gpr[RDI] = 0x9000;
      k.t.write<uint64_t>(0x9000, 0xaaaaaaaaaaaaaaaaull);
      Insn i = string_io(Op::INS, size, false);
      ASSERT_FALSE(k.t.run(i).faulted);
      const uint64_t mask = (uint64_t{1} << (8 * size)) - 1;
      EXPECT_EQ(k.t.read<uint64_t>(0x9000), (0xaaaaaaaaaaaaaaaaull & ~mask) | 0x11);
      EXPECT_EQ(k.c.gpr[RDI], down ? 0x9000 - size : 0x9000 + size);
      ASSERT_EQ(k.log.size(), 1u);
      EXPECT_EQ(k.log[0].port, 0x1f0);
      EXPECT_EQ(k.log[0].size, size);
      EXPECT_EQ(k.c.rip, kSysRip + 1);
    }
  }
}

TEST(SysInsnStringIo, RepInsFillsABufferFromThePort) {
  IoCpu k;
  enter_long_mode(k.c);
  k.c.gpr[RDX] = 0x1f0;
  k.c.gpr[RDI] = 0x9000;
  k.c.gpr[RCX] = 256;
  Insn i = string_io(Op::INS, 2, true);
  ASSERT_FALSE(run_to_completion(k.t, i).faulted);
  EXPECT_EQ(k.c.gpr[RCX], 0u);
  EXPECT_EQ(k.c.gpr[RDI], 0x9000u + 512);
  for (unsigned n = 0; n < 256; ++n) EXPECT_EQ(k.t.read<uint16_t>(0x9000 + 2 * n), 0x11 + n);
  EXPECT_EQ(k.c.rip, kSysRip + 2);
}

TEST(SysInsnStringIo, RepOutsDownwardWithSegmentOverride) {
  IoCpu k;
  enter_long_mode(k.c);
  k.c.rflags |= rf::DF;
  k.c.seg[FS].base = 0x1000;
  for (unsigned n = 0; n < 4; ++n) k.t.write<uint32_t>(0x9000 + 4 * n, 0x100 + n);
  k.c.gpr[RDX] = 0xcfc;
  k.c.gpr[RSI] = 0x8000 + 12;  // FS:RSI = 0x900C
  k.c.gpr[RCX] = 4;
  Insn i = string_io(Op::OUTS, 4, true);
  i.seg = FS;
  ASSERT_FALSE(run_to_completion(k.t, i).faulted);
  ASSERT_EQ(k.log.size(), 4u);
  for (unsigned n = 0; n < 4; ++n) {
    EXPECT_TRUE(k.log[n].write);
    EXPECT_EQ(k.log[n].value, 0x103 - n);
  }
  EXPECT_EQ(k.c.gpr[RSI], 0x8000u - 4);
}

// A zero count runs no element, but the I/O permission is still checked: the host raises
// #GP(0) for REP INS/OUTS with RCX = 0 at CPL 3, IOPL 0 and the port denied (difftest
// reproducer: umbra_difftest --code 'f3 6c' --set rcx=0).
TEST(SysInsnStringIo, RepWithZeroCountChecksPermissionOnly) {
  for (Op op : {Op::INS, Op::OUTS}) {
    std::unique_ptr<IoCpu> k = user_io();
    k->tss(kMapOffset + 0x2000);  // every port denied
    k->c.gpr[RCX] = 0;
    k->c.gpr[RDX] = 0x378;
    k->c.gpr[RSI] = 0x9000;
    k->c.gpr[RDI] = 0x9000;
    Insn i = string_io(op, 2, true, 4);
    EXPECT_EQ(fault_of(k->t.run(i)), kGP);
    EXPECT_EQ(k->c.rip, kSysRip);
    k->allow(0x378);
    k->allow(0x379);
    ASSERT_FALSE(k->t.run(i).faulted);
    EXPECT_TRUE(k->log.empty());
    EXPECT_EQ(k->c.gpr[RSI], 0x9000u);
    EXPECT_EQ(k->c.gpr[RDI], 0x9000u);
    EXPECT_EQ(k->c.rip, kSysRip + 2);
  }
}

TEST(SysInsnStringIo, SixteenBitAddressSizeWraps) {
  IoCpu k;
  enter_real_mode(k.c);
  k.c.seg[ES].base = 0x20000;
  k.c.gpr[RDI] = 0xabcd0000ffffull;  // DI = FFFF; the upper bits are not DI
  k.c.gpr[RCX] = 0x12340002;         // CX = 2
  k.c.gpr[RDX] = 0x60;
  Insn i = string_io(Op::INS, 1, true, 2);
  ASSERT_FALSE(run_to_completion(k.t, i).faulted);
  EXPECT_EQ(k.t.read<uint8_t>(0x2ffff), 0x11);
  EXPECT_EQ(k.t.read<uint8_t>(0x20000), 0x12);
  EXPECT_EQ(k.c.gpr[RDI], 0xabcd00000001ull);
  EXPECT_EQ(k.c.gpr[RCX], 0x12340000u);
}

TEST(SysInsnStringIo, FaultMidwayIsPreciseAndRestartable) {
  IoCpu k;
  enter_long_mode(k.c);
  FaultingTranslator ft(0xA000);
  k.c.translator = &ft;
  tlb_flush_all(k.c);
  k.c.gpr[RDX] = 0x1f0;
  k.c.gpr[RDI] = 0x9ff8;
  k.c.gpr[RCX] = 8;
  Insn i = string_io(Op::INS, 2, true);
  Outcome o = run_to_completion(k.t, i);
  EXPECT_EQ(fault_of(o), kPF);
  EXPECT_EQ(o.error_code, 2u);  // a write
  // Four words landed below the faulting page; the fifth element faulted before reading the
  // port, so no device data was consumed.
  EXPECT_EQ(k.c.gpr[RCX], 4u);
  EXPECT_EQ(k.c.gpr[RDI], 0xa000u);
  EXPECT_EQ(k.log.size(), 4u);
  EXPECT_EQ(k.c.rip, kSysRip);
  // The guest maps the page: the instruction resumes where it stopped.
  IdentityTranslator id;
  k.c.translator = &id;
  ASSERT_FALSE(run_to_completion(k.t, i).faulted);
  EXPECT_EQ(k.c.gpr[RCX], 0u);
  EXPECT_EQ(k.log.size(), 8u);
  for (unsigned n = 0; n < 8; ++n) EXPECT_EQ(k.t.read<uint16_t>(0x9ff8 + 2 * n), 0x11 + n);
}

TEST(SysInsnStringIo, PermissionCheckedPerElement) {
  std::unique_ptr<IoCpu> k = user_io();
  k->tss(kMapOffset + 0x2000);
  k->allow(0x378);
  k->c.gpr[RDX] = 0x378;
  k->c.gpr[RSI] = 0x9000;
  k->c.gpr[RCX] = 3;
  Insn i = string_io(Op::OUTS, 1, true, 4);
  ASSERT_FALSE(run_to_completion(k->t, i).faulted);
  EXPECT_EQ(k->log.size(), 3u);
  k->c.gpr[RDX] = 0x379;
  k->c.gpr[RCX] = 3;
  Insn j = string_io(Op::OUTS, 2, true, 4);  // 0x379..0x37A: denied
  EXPECT_EQ(fault_of(run_to_completion(k->t, j)), kGP);
  EXPECT_EQ(k->c.gpr[RCX], 3u);
  EXPECT_EQ(k->log.size(), 3u);
}

}  // namespace
}  // namespace umbra::test
