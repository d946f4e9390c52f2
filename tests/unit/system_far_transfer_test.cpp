// JMP far, CALL far and RET far in real, virtual-8086, protected and IA-32e mode: direct code
// segments, call gates with and without a privilege change, returns to outer privilege levels
// (SDM vol. 2, JMP/CALL/RET; vol. 3, 5.8).
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

using SysFarReal = SysTest;
using SysFarProt = SysTest;
using SysFarGate = SysTest;
using SysFarRet = SysTest;
using SysFarLong = SysTest;

// ---- real and virtual-8086 mode ----

TEST_F(SysFarReal, JmpPtr16) {
  real_mode(0x100);
  ASSERT_FALSE(exec({0xea, 0x34, 0x12, 0x00, 0x20}).faulted);  // jmp 2000:1234
  EXPECT_EQ(cpu().seg[CS].selector, 0x2000);
  EXPECT_EQ(cpu().seg[CS].base, 0x20000u);
  EXPECT_EQ(cpu().seg[CS].limit, 0xffffu);
  EXPECT_EQ(cpu().rip, 0x1234u);
}

TEST_F(SysFarReal, CallAndRetFar) {
  real_mode(0);
  ASSERT_FALSE(exec({0x9a, 0x34, 0x12, 0x00, 0x20}).faulted);  // call 2000:1234
  EXPECT_EQ(cpu().gpr[RSP], 0x2000u - 4);
  EXPECT_EQ(mem<uint16_t>(0x1ffc), 0x105);         // return IP
  EXPECT_EQ(mem<uint16_t>(0x1ffe), 0x0000);        // return CS
  ASSERT_FALSE(exec({0xca, 0x04, 0x00}).faulted);  // retf 4
  EXPECT_EQ(cpu().seg[CS].selector, 0);
  EXPECT_EQ(cpu().rip, 0x105u);
  EXPECT_EQ(cpu().gpr[RSP], 0x2000u + 4);
}

TEST_F(SysFarReal, OffsetBeyondCsLimitIsGp) {
  real_mode(0);
  const Snapshot s = snapshot();
  expect_fault(exec({0x66, 0xea, 0x00, 0x00, 0x01, 0x00, 0x00, 0x20}), kGP, 0);
  expect_unchanged(s);
}

TEST_F(SysFarReal, JmpIndirectM16_16) {
  real_mode(0);
  poke<uint16_t>(0x600, 0x5678);
  poke<uint16_t>(0x602, 0x3000);
  cpu().gpr[RBX] = 0x600;
  ASSERT_FALSE(exec({0xff, 0x2f}).faulted);  // jmp far [bx]
  EXPECT_EQ(cpu().seg[CS].base, 0x30000u);
  EXPECT_EQ(cpu().rip, 0x5678u);
}

TEST_F(SysFarReal, V86FarJmpLoadsV86Cs) {
  v86(0x1000, 3);
  ASSERT_FALSE(exec({0xea, 0x00, 0x01, 0x00, 0x30}).faulted);
  EXPECT_EQ(cpu().seg[CS].base, 0x30000u);
  EXPECT_EQ(cpu().seg[CS].attrib, 0xf3);
  EXPECT_EQ(cpu().cpl, 3);
}

// ---- protected mode: direct code segments ----

TEST_F(SysFarProt, JmpSamePrivilegeForcesRplAndSetsAccessed) {
  protected32(0);
  set_gdt(16, code32(0, 0xa));                                             // accessed clear
  ASSERT_FALSE(exec({0xea, 0x00, 0x40, 0x00, 0x00, 0x80, 0x00}).faulted);  // jmp 0080:4000
  EXPECT_EQ(cpu().seg[CS].selector, sel_of(16));
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ((gdt(16) >> 40) & 1, 1u);
  EXPECT_EQ(cpu().cpl, 0);
}

TEST_F(SysFarProt, JmpChecks) {
  protected32(3);
  set_gdt(16, code32(0));  // DPL 0 non-conforming
  set_gdt(17, make_desc(0, 0xfffff, access(0xb, 3, true, false), kFlagG | kFlagDB));
  set_gdt(18, make_desc(0, 0xfff, access(0xb, 3), kFlagDB));  // 4 KiB limit
  set_gdt(19, code32(0, 0xf));                                // conforming DPL 0
  const Snapshot s = snapshot();
  expect_fault(exec({0xea, 0, 0x40, 0, 0, 0x00, 0x00}), kGP, 0);            // null
  expect_fault(exec({0xea, 0, 0x40, 0, 0, 0x23, 0x00}), kGP, kData3 & ~3);  // data
  expect_fault(exec({0xea, 0, 0x40, 0, 0, 0x83, 0x00}), kGP, sel_of(16));   // DPL != CPL
  expect_fault(exec({0xea, 0, 0x40, 0, 0, 0x8b, 0x00}), kNP, sel_of(17));   // not present
  expect_fault(exec({0xea, 0, 0x10, 0, 0, 0x93, 0x00}), kGP, 0);            // beyond limit
  expect_fault(exec({0xea, 0, 0x40, 0, 0, 0xfb, 0x0f}), kGP, 0x0ff8);       // beyond the GDT
  expect_unchanged(s);
  // Conforming DPL 0 from CPL 3: allowed, CPL stays 3.
  ASSERT_FALSE(exec({0xea, 0, 0x40, 0, 0, 0x9b, 0x00}).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().seg[CS].selector, sel_of(19, 3));
}

TEST_F(SysFarProt, JmpRplAboveCplIsGp) {
  protected32(0);
  expect_fault(exec({0xea, 0, 0x40, 0, 0, 0x0b, 0x00}), kGP, kCode0);  // selector 0x0b, RPL 3
}

TEST_F(SysFarProt, ConformingDplAboveCplIsGp) {
  protected32(0);
  set_gdt(16, code32(3, 0xf));
  expect_fault(exec({0xea, 0, 0x40, 0, 0, 0x80, 0x00}), kGP, sel_of(16));
}

TEST_F(SysFarProt, CallFarPushesCsEip) {
  protected32(0);
  ASSERT_FALSE(exec({0x9a, 0x00, 0x40, 0x00, 0x00, 0x08, 0x00}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u - 8);
  EXPECT_EQ(mem<uint32_t>(0x8ff8), kCode + 7);
  EXPECT_EQ(mem<uint32_t>(0x8ffc), kCode0);
  EXPECT_EQ(cpu().rip, 0x4000u);
}

TEST_F(SysFarProt, CallFarStackLimitIsSs) {
  protected32(0);
  set_gdt(16, make_desc(0, 0xfff, access(0x3, 0), kFlagDB));
  cpu().seg[SS] = cache(sel_of(16), gdt(16));
  refresh_segment_checks(cpu());
  cpu().gpr[RSP] = 4;
  const Snapshot s = snapshot();
  expect_fault(exec({0x9a, 0x00, 0x40, 0x00, 0x00, 0x08, 0x00}), kSS, 0);
  expect_unchanged(s);
}

TEST_F(SysFarProt, CallFarIndirect16BitOperand) {
  protected32(0);
  poke<uint16_t>(0x600, 0x1234);
  poke<uint16_t>(0x602, kCode0);
  cpu().gpr[RBX] = 0x600;
  ASSERT_FALSE(exec({0x66, 0xff, 0x1b}).faulted);  // call far word [ebx]
  EXPECT_EQ(cpu().rip, 0x1234u);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u - 4);
  EXPECT_EQ(mem<uint16_t>(0x8ffc), (kCode + 3) & 0xffff);  // IP truncated to 16 bits
  EXPECT_EQ(mem<uint16_t>(0x8ffe), kCode0);
}

TEST_F(SysFarProt, ToSixteenBitCode) {
  protected32(0);
  set_gdt(16, code16(0, 0x20000));
  ASSERT_FALSE(exec({0xea, 0x00, 0x10, 0x00, 0x00, 0x80, 0x00}).faulted);
  EXPECT_EQ(cpu().code32, 0);
  EXPECT_EQ(cpu().seg[CS].base, 0x20000u);
}

// ---- call gates ----

TEST_F(SysFarGate, CallInwardWithParameters) {
  protected32(3);
  set_gdt(16, gate(kCode0, 0x4000, 0xc, 3, 2));  // 32-bit gate, 2 dword parameters
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  cpu().gpr[RSP] = 0x8ff8;
  poke<uint32_t>(0x8ff8, 0xaaaa0000);  // parameter 0 (last pushed by the caller)
  poke<uint32_t>(0x8ffc, 0xbbbb1111);  // parameter 1
  ASSERT_FALSE(exec({0x9a, 0, 0, 0, 0, 0x83, 0x00}).faulted);  // call 0083:0 (gate)
  EXPECT_EQ(cpu().cpl, 0);
  EXPECT_EQ(cpu().seg[CS].selector, kCode0);
  EXPECT_EQ(cpu().seg[SS].selector, kData0);
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ(cpu().gpr[RSP], 0x7000u - 24);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 4), kData3);   // caller SS
  EXPECT_EQ(mem<uint32_t>(0x7000 - 8), 0x8ff8u);  // caller ESP
  EXPECT_EQ(mem<uint32_t>(0x7000 - 12), 0xbbbb1111u);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 16), 0xaaaa0000u);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 20), kCode3);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 24), kCode + 7);
}

TEST_F(SysFarGate, SixteenBitGate) {
  protected32(3);
  set_gdt(16, gate(kCode0, 0x4000, 0x4, 3, 1));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  poke<uint16_t>(0x9000, 0x5555);
  ASSERT_FALSE(exec({0x9a, 0, 0, 0, 0, 0x83, 0x00}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x7000u - 10);
  EXPECT_EQ(mem<uint16_t>(0x7000 - 2), kData3);
  EXPECT_EQ(mem<uint16_t>(0x7000 - 4), 0x9000);
  EXPECT_EQ(mem<uint16_t>(0x7000 - 6), 0x5555);
  EXPECT_EQ(mem<uint16_t>(0x7000 - 8), kCode3);
  EXPECT_EQ(mem<uint16_t>(0x7000 - 10), (kCode + 7) & 0xffff);
}

TEST_F(SysFarGate, GateChecks) {
  protected32(3);
  set_gdt(16, gate(kCode0, 0x4000, 0xc, 0));  // DPL 0: not reachable from CPL 3
  set_gdt(17, gate(kCode0, 0x4000, 0xc, 3, 0, false));
  set_gdt(18, gate(kData0, 0x4000, 0xc, 3));
  set_gdt(19, gate(0, 0x4000, 0xc, 3));
  const Snapshot s = snapshot();
  expect_fault(exec({0x9a, 0, 0, 0, 0, 0x83, 0x00}), kGP, sel_of(16));
  expect_fault(exec({0x9a, 0, 0, 0, 0, 0x8b, 0x00}), kNP, sel_of(17));
  expect_fault(exec({0x9a, 0, 0, 0, 0, 0x93, 0x00}), kGP, kData0);
  expect_fault(exec({0x9a, 0, 0, 0, 0, 0x9b, 0x00}), kGP, 0);
  expect_unchanged(s);
}

TEST_F(SysFarGate, GateDplBelowRplIsGp) {
  protected32(0);
  set_gdt(16, gate(kCode0, 0x4000, 0xc, 2));
  expect_fault(exec({0x9a, 0, 0, 0, 0, 0x83, 0x00}), kGP, sel_of(16));  // RPL 3 > DPL 2
}

TEST_F(SysFarGate, JmpThroughGateNeedsSamePrivilege) {
  protected32(3);
  set_gdt(16, gate(kCode0, 0x4000, 0xc, 3));
  expect_fault(exec({0xea, 0, 0, 0, 0, 0x83, 0x00}), kGP, kCode0);
  set_gdt(17, gate(kCode3, 0x4000, 0xc, 3));
  ASSERT_FALSE(exec({0xea, 0, 0, 0, 0, 0x8b, 0x00}).faulted);
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
}

TEST_F(SysFarGate, InnerStackChecks) {
  protected32(3);
  set_gdt(16, gate(kCode0, 0x4000, 0xc, 3));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, 0);
  const Snapshot s = snapshot();
  expect_fault(exec({0x9a, 0, 0, 0, 0, 0x83, 0x00}), kTS, 0);
  set_gdt(17, make_desc(0, 0xfff, access(0x3, 0), kFlagDB));
  poke<uint16_t>(kTss + 8, sel_of(17));
  poke<uint32_t>(kTss + 4, 8);  // not enough room for the 16-byte frame
  expect_fault(exec({0x9a, 0, 0, 0, 0, 0x83, 0x00}), kSS, sel_of(17));
  expect_unchanged(s);
}

// ---- RET far ----

TEST_F(SysFarRet, ToOuterPrivilegeNullsDataSegments) {
  protected32(0);
  cpu().seg[ES] = cache(kData3, data32(3));  // stays (DPL 3)
  // Frame: EIP, CS, 8 bytes of parameters, ESP, SS.
  poke<uint32_t>(0x8fe8, 0x4444);
  poke<uint32_t>(0x8fec, kCode3);
  poke<uint32_t>(0x8ff8, 0x6000);
  poke<uint32_t>(0x8ffc, kData3);
  cpu().gpr[RSP] = 0x8fe8;
  ASSERT_FALSE(exec({0xca, 0x08, 0x00}).faulted);  // retf 8
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().rip, 0x4444u);
  EXPECT_EQ(cpu().seg[SS].selector, kData3);
  EXPECT_EQ(cpu().gpr[RSP], 0x6008u);
  EXPECT_EQ(cpu().seg[DS].selector, 0);  // DPL 0 data nulled
  EXPECT_EQ(cpu().seg[DS].attrib & seg_attr::P, 0);
  EXPECT_EQ(cpu().seg[ES].selector, kData3);
}

TEST_F(SysFarRet, SamePrivilege) {
  protected32(0);
  poke<uint32_t>(0x8ff8, 0x4444);
  poke<uint32_t>(0x8ffc, kCode0);
  cpu().gpr[RSP] = 0x8ff8;
  ASSERT_FALSE(exec({0xcb}).faulted);
  EXPECT_EQ(cpu().rip, 0x4444u);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
  EXPECT_EQ(cpu().seg[DS].selector, kData0);
}

TEST_F(SysFarRet, Checks) {
  protected32(3);
  poke<uint32_t>(0x8ff8, 0x4444);
  cpu().gpr[RSP] = 0x8ff8;
  const Snapshot s = snapshot();
  poke<uint32_t>(0x8ffc, kCode0);  // RPL 0 < CPL 3
  expect_fault(exec({0xcb}), kGP, kCode0);
  poke<uint32_t>(0x8ffc, 3);  // null
  expect_fault(exec({0xcb}), kGP, 0);
  poke<uint32_t>(0x8ffc, kData3);  // not code
  expect_fault(exec({0xcb}), kGP, kData3 & ~3);
  expect_unchanged(s);
}

TEST_F(SysFarRet, OuterBadStackSegment) {
  protected32(0);
  poke<uint32_t>(0x8ff0, 0x4444);
  poke<uint32_t>(0x8ff4, kCode3);
  poke<uint32_t>(0x8ff8, 0x6000);
  poke<uint32_t>(0x8ffc, kData0);  // RPL 0 != 3
  cpu().gpr[RSP] = 0x8ff0;
  const Snapshot s = snapshot();
  expect_fault(exec({0xcb}), kGP, kData0);
  poke<uint32_t>(0x8ffc, 3);
  expect_fault(exec({0xcb}), kGP, 0);
  expect_unchanged(s);
}

// ---- IA-32e mode ----

TEST_F(SysFarLong, CallThrough64BitGateFromCpl3) {
  long64(3);
  set_gdt(16, gate(kCode64_0, 0x5000, 0xc, 3));
  set_gdt(17, 0x0000'0000'ffff'ffffull);  // upper half: offset 63:32 = 0xffffffff, type 0
  poke<uint64_t>(kTss + 4, 0xa000);
  poke<uint64_t>(0x700, 0);
  poke<uint16_t>(0x708, sel_of(16, 3));
  cpu().gpr[RBX] = 0x700;
  ASSERT_FALSE(exec({0x48, 0xff, 0x1b}).faulted);  // call far m16:64 [rbx]
  EXPECT_EQ(cpu().rip, 0xffff'ffff'0000'5000ull);
  EXPECT_EQ(cpu().cpl, 0);
  EXPECT_EQ(cpu().seg[SS].selector, 0);
  EXPECT_EQ(cpu().gpr[RSP], 0xa000u - 32);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 8), kData3);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 16), 0x9000u);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 24), kCode64_3);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 32), kCode + 3);
}

TEST_F(SysFarLong, GateUpperTypeMustBeZero) {
  long64(3);
  set_gdt(16, gate(kCode64_0, 0x5000, 0xc, 3));
  set_gdt(17, uint64_t{0xc} << 40);
  poke<uint64_t>(0x700, 0);
  poke<uint16_t>(0x708, sel_of(16, 3));
  cpu().gpr[RBX] = 0x700;
  expect_fault(exec({0x48, 0xff, 0x1b}), kGP, sel_of(16));
}

TEST_F(SysFarLong, Retf64ToOuterPrivilege) {
  long64(0);
  poke<uint64_t>(0x8fe0, 0x0000'7fff'0000'1000ull);
  poke<uint64_t>(0x8fe8, kCode64_3);
  poke<uint64_t>(0x8ff0, 0x0000'7fff'ffff'f000ull);
  poke<uint64_t>(0x8ff8, kData3);
  cpu().gpr[RSP] = 0x8fe0;
  ASSERT_FALSE(exec({0x48, 0xcb}).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().rip, 0x0000'7fff'0000'1000ull);
  EXPECT_EQ(cpu().gpr[RSP], 0x0000'7fff'ffff'f000ull);
  EXPECT_EQ(cpu().mode64, 1);
}

TEST_F(SysFarLong, JmpToCompatibilityMode) {
  long64(0);
  poke<uint32_t>(0x700, 0x4000);
  poke<uint16_t>(0x704, kCode0);
  cpu().gpr[RBX] = 0x700;
  ASSERT_FALSE(exec({0xff, 0x2b}).faulted);  // jmp far m16:32
  EXPECT_EQ(cpu().mode64, 0);
  EXPECT_EQ(cpu().code32, 1);
  EXPECT_EQ(cpu().rip, 0x4000u);
}

TEST_F(SysFarLong, NonCanonicalTargetIsGp) {
  long64(0);
  poke<uint64_t>(0x700, 0x0000'8000'0000'0000ull);
  poke<uint16_t>(0x708, kCode64_0);
  cpu().gpr[RBX] = 0x700;
  expect_fault(exec({0x48, 0xff, 0x2b}), kGP, 0);
}

TEST_F(SysFarLong, TaskSwitchIsGp) {
  long64(0);
  set_gdt(16, system_desc(kTss2, 0x67, 9));
  poke<uint64_t>(0x700, 0);
  poke<uint16_t>(0x708, sel_of(16));
  cpu().gpr[RBX] = 0x700;
  expect_fault(exec({0x48, 0xff, 0x2b}), kGP, sel_of(16));
}

}  // namespace
}  // namespace umbra::test
