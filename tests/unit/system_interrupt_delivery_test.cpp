// Event delivery (deliver_event): the real-mode IVT, 16/32-bit protected-mode gates with and
// without a privilege change, from virtual-8086 mode, 64-bit IA-32e gates with the IST, every
// check with its vector and error code, and the frames written on the stack (SDM vol. 3, 6.12,
// 6.14, 20.1.4; vol. 2, INT n).
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

using SysIntReal = SysTest;
using SysIntProt = SysTest;
using SysIntLong = SysTest;

Event fault(uint8_t v, uint64_t rip) {
  return Event{v, EventKind::Fault, false, 0, 0, rip};
}
Event fault_err(uint8_t v, uint32_t err, uint64_t rip) {
  return Event{v, EventKind::Fault, true, err, 0, rip};
}
Event ext_int(uint8_t v, uint64_t rip) {
  return Event{v, EventKind::External, false, 0, 0, rip};
}
Event soft_int(uint8_t v, uint64_t rip) {
  return Event{v, EventKind::SoftwareInt, false, 0, 0, rip};
}

// ---- real mode ----

TEST_F(SysIntReal, IvtFrameAndFlags) {
  real_mode(0x100);                       // CS = SS = 0x100, base 0x1000
  poke<uint32_t>(0x21 * 4, 0xf000'1234);  // handler F000:1234
  cpu().rflags = rf::FIXED1 | rf::IF | rf::TF | rf::AC | rf::CF;
  const Outcome o = deliver(soft_int(0x21, 0x102));
  ASSERT_FALSE(o.faulted);
  EXPECT_EQ(cpu().seg[CS].selector, 0xf000);
  EXPECT_EQ(cpu().seg[CS].base, 0xf0000u);
  EXPECT_EQ(cpu().rip, 0x1234u);
  EXPECT_EQ(cpu().gpr[RSP], 0x2000u - 6);
  // Frame at SS:SP: IP, CS, FLAGS.
  EXPECT_EQ(mem<uint16_t>(0x1000 + 0x1ffa), 0x102);
  EXPECT_EQ(mem<uint16_t>(0x1000 + 0x1ffc), 0x100);
  EXPECT_EQ(mem<uint16_t>(0x1000 + 0x1ffe), rf::FIXED1 | rf::IF | rf::TF | rf::CF);
  EXPECT_EQ(cpu().rflags & (rf::IF | rf::TF | rf::AC), 0u);
  EXPECT_EQ(cpu().delivering, 0);
}

TEST_F(SysIntReal, NoErrorCodePushed) {
  real_mode();
  poke<uint32_t>(13 * 4, 0x0000'0500);
  ASSERT_FALSE(deliver(fault_err(kGP, 0x55, 0x100)).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x2000u - 6);
  EXPECT_EQ(mem<uint16_t>(0x1ffa), 0x100);
}

TEST_F(SysIntReal, IvtLimitIsGp) {
  real_mode();
  cpu().idtr.limit = 0x83;  // vectors 0..32
  EXPECT_FALSE(deliver(soft_int(0x20, 0)).faulted);
  real_mode();
  cpu().idtr.limit = 0x83;
  const Outcome o = deliver(soft_int(0x21, 0));
  expect_fault(o, kGP, 0);
  EXPECT_EQ(cpu().delivering, 1);  // the engine combines the nested fault
  EXPECT_EQ(cpu().delivering_vector, 0x21);
}

TEST_F(SysIntReal, StackWrapsAtSegmentLimit) {
  real_mode();
  cpu().gpr[RSP] = 2;  // the second and third slots wrap to 0xfffe, 0xfffc
  poke<uint32_t>(0x21 * 4, 0x0000'0500);
  ASSERT_FALSE(deliver(soft_int(0x21, 0x102)).faulted);
  EXPECT_EQ(cpu().gpr[RSP] & 0xffff, 0xfffcu);
  EXPECT_EQ(mem<uint16_t>(0xfffc), 0x102);
}

TEST_F(SysIntReal, PageFaultLoadsCr2) {
  real_mode();
  poke<uint32_t>(14 * 4, 0x0000'0500);
  Event ev = fault_err(kPF, 2, 0x100);
  ev.fault_addr = 0xdead000;
  ASSERT_FALSE(deliver(ev).faulted);
  EXPECT_EQ(cpu().cr2, 0xdead000u);
}

// ---- protected mode, 32-bit gates ----

TEST_F(SysIntProt, InterruptGateSamePrivilege) {
  protected32(0);
  set_idt32(0x40, gate(kCode0, 0x12345678, 0xe, 0));
  cpu().rflags = rf::FIXED1 | rf::IF | rf::TF | rf::NT | rf::AC;
  ASSERT_FALSE(deliver(ext_int(0x40, 0x10005)).faulted);
  EXPECT_EQ(cpu().rip, 0x12345678u);
  EXPECT_EQ(cpu().seg[CS].selector, kCode0);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u - 12);
  EXPECT_EQ(mem<uint32_t>(0x8ff4), 0x10005u);
  EXPECT_EQ(mem<uint32_t>(0x8ff8), kCode0);
  EXPECT_EQ(mem<uint32_t>(0x8ffc), rf::FIXED1 | rf::IF | rf::TF | rf::NT | rf::AC);
  // IF, TF, NT cleared; AC kept (SDM vol. 3, 6.12.1.3).
  EXPECT_EQ(cpu().rflags, rf::FIXED1 | rf::AC);
}

TEST_F(SysIntProt, TrapGateKeepsIfAndPushesErrorCode) {
  protected32(0);
  set_idt32(13, gate(kCode0, 0x4000, 0xf, 0));
  cpu().rflags = rf::FIXED1 | rf::IF;
  ASSERT_FALSE(deliver(fault_err(kGP, 0x1234, 0x10000)).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u - 16);
  EXPECT_EQ(mem<uint32_t>(0x8ff0), 0x1234u);  // error code
  EXPECT_EQ(mem<uint32_t>(0x8ff4), 0x10000u);
  // A fault pushes RF = 1 (SDM vol. 3, 17.3.1.1).
  EXPECT_EQ(mem<uint32_t>(0x8ffc), rf::FIXED1 | rf::IF | rf::RF);
  EXPECT_NE(cpu().rflags & rf::IF, 0u);
}

TEST_F(SysIntProt, InterPrivilegeFromCpl3) {
  protected32(3);
  set_idt32(0x80, gate(kCode0, 0x4000, 0xe, 3));
  poke<uint32_t>(kTss + 4, 0x7000);  // ESP0
  poke<uint16_t>(kTss + 8, kData0);  // SS0
  cpu().gpr[RSP] = 0x12345;
  cpu().rflags = rf::FIXED1 | rf::IF;
  ASSERT_FALSE(deliver(soft_int(0x80, 0x10002)).faulted);
  EXPECT_EQ(cpu().cpl, 0);
  EXPECT_EQ(cpu().seg[SS].selector, kData0);
  EXPECT_EQ(cpu().gpr[RSP], 0x7000u - 20);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 4), kData3);    // old SS
  EXPECT_EQ(mem<uint32_t>(0x7000 - 8), 0x12345u);  // old ESP
  EXPECT_EQ(mem<uint32_t>(0x7000 - 12), rf::FIXED1 | rf::IF);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 16), kCode3);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 20), 0x10002u);
  EXPECT_EQ(cpu().rflags & rf::IF, 0u);
}

TEST_F(SysIntProt, SixteenBitGate) {
  protected32(0);
  set_idt32(0x41, gate(kCode0, 0xabcd1234, 0x6, 0));  // 16-bit: offset truncated
  ASSERT_FALSE(deliver(fault_err(0x41, 0x7777, 0x10005)).faulted);
  EXPECT_EQ(cpu().rip, 0x1234u);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u - 8);
  EXPECT_EQ(mem<uint16_t>(0x8ff8), 0x7777);
  EXPECT_EQ(mem<uint16_t>(0x8ffa), 0x0005);
  EXPECT_EQ(mem<uint16_t>(0x8ffc), kCode0);
}

TEST_F(SysIntProt, FromV86PushesDataSegmentsAndNullsThem) {
  v86(0x2000, 3);
  set_idt32(0x21, gate(kCode0, 0x4000, 0xe, 3));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  cpu().seg[DS] = v86_segment(0x1111);
  cpu().seg[ES] = v86_segment(0x2222);
  cpu().seg[FS] = v86_segment(0x3333);
  cpu().seg[GS] = v86_segment(0x4444);
  ASSERT_FALSE(deliver(soft_int(0x21, 0x102)).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x7000u - 36);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 4), 0x4444u);   // GS
  EXPECT_EQ(mem<uint32_t>(0x7000 - 8), 0x3333u);   // FS
  EXPECT_EQ(mem<uint32_t>(0x7000 - 12), 0x1111u);  // DS
  EXPECT_EQ(mem<uint32_t>(0x7000 - 16), 0x2222u);  // ES
  EXPECT_EQ(mem<uint32_t>(0x7000 - 20), 0x2000u);  // SS
  EXPECT_EQ(mem<uint32_t>(0x7000 - 24), 0x2000u);  // ESP
  EXPECT_NE(mem<uint32_t>(0x7000 - 28) & rf::VM, 0u);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 32), 0x2000u);  // CS
  EXPECT_EQ(mem<uint32_t>(0x7000 - 36), 0x102u);
  EXPECT_EQ(cpu().rflags & rf::VM, 0u);
  EXPECT_EQ(cpu().cpl, 0);
  for (unsigned s : {ES, DS, FS, GS}) {
    EXPECT_EQ(cpu().seg[s].selector, 0) << s;
    EXPECT_EQ(cpu().seg[s].attrib & seg_attr::P, 0) << s;
  }
}

TEST_F(SysIntProt, FromV86ToNonZeroDplHandlerIsGp) {
  v86(0x2000, 3);
  set_gdt(16, code32(3));
  set_idt32(0x21, gate(sel_of(16), 0x4000, 0xe, 3));
  expect_fault(deliver(ext_int(0x21, 0x102)), kGP, sel_of(16) | 1);
}

TEST_F(SysIntProt, IdtLimitErrorCodeWithExt) {
  protected32(0);
  cpu().idtr.limit = 8 * 0x20 - 1;
  expect_fault(deliver(ext_int(0x20, 0)), kGP, 0x20 * 8 + 2 + 1);
  protected32(0);
  cpu().idtr.limit = 8 * 0x20 - 1;
  expect_fault(deliver(soft_int(0x20, 0)), kGP, 0x20 * 8 + 2);
}

TEST_F(SysIntProt, BadGateTypeIsGp) {
  protected32(0);
  set_idt32(0x30, gate(kCode0, 0x4000, 0xc, 0));  // a call gate in the IDT
  expect_fault(deliver(fault(0x30, 0)), kGP, 0x30 * 8 + 3);
  set_idt32(0x31, data32(0));  // not a system descriptor
  expect_fault(deliver(fault(0x31, 0)), kGP, 0x31 * 8 + 3);
}

TEST_F(SysIntProt, SoftwareIntDplCheck) {
  protected32(3);
  set_idt32(0x30, gate(kCode0, 0x4000, 0xe, 0));
  const Snapshot s = snapshot();
  expect_fault(deliver(soft_int(0x30, 0)), kGP, 0x30 * 8 + 2);
  expect_unchanged(s);
  // INT3/INTO are software exceptions: checked too.
  set_idt32(3, gate(kCode0, 0x4000, 0xe, 0));
  expect_fault(deliver(Event{kBP, EventKind::SoftwareException, false, 0, 0, 0}), kGP, 3 * 8 + 2);
}

TEST_F(SysIntProt, Int1AndHardwareSkipDplCheck) {
  protected32(3);
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  set_idt32(1, gate(kCode0, 0x4000, 0xe, 0));
  EXPECT_FALSE(deliver(Event{kDB, EventKind::PrivSoftwareException, false, 0, 0, 0}).faulted);
  EXPECT_EQ(cpu().rip, 0x4000u);
}

TEST_F(SysIntProt, GateNotPresentIsNp) {
  protected32(0);
  set_idt32(0x50, gate(kCode0, 0x4000, 0xe, 0, 0, false));
  expect_fault(deliver(ext_int(0x50, 0)), kNP, 0x50 * 8 + 3);
  expect_fault(deliver(soft_int(0x50, 0)), kNP, 0x50 * 8 + 2);
}

TEST_F(SysIntProt, HandlerSegmentChecks) {
  protected32(0);
  set_idt32(0x50, gate(0, 0x4000, 0xe, 0));
  expect_fault(deliver(ext_int(0x50, 0)), kGP, 1);  // null selector: #GP(EXT)
  set_idt32(0x50, gate(kData0, 0x4000, 0xe, 0));
  expect_fault(deliver(ext_int(0x50, 0)), kGP, kData0 | 1);
  set_gdt(16, make_desc(0, 0xfffff, access(0xb, 0, true, false), kFlagG | kFlagDB));
  set_idt32(0x50, gate(sel_of(16), 0x4000, 0xe, 0));
  expect_fault(deliver(ext_int(0x50, 0)), kNP, sel_of(16) | 1);
  set_idt32(0x50, gate(sel_of(200), 0x4000, 0xe, 0));  // beyond the GDT
  expect_fault(deliver(soft_int(0x50, 0)), kGP, sel_of(200));
}

TEST_F(SysIntProt, HandlerDplAboveCplIsGp) {
  protected32(0);
  set_idt32(0x50, gate(kCode3, 0x4000, 0xe, 0));
  expect_fault(deliver(ext_int(0x50, 0)), kGP, (kCode3 & 0xfffc) | 1);
}

TEST_F(SysIntProt, OffsetBeyondLimitIsGpExt) {
  protected32(0);
  set_gdt(16, make_desc(0, 0xfff, access(0xb, 0), kFlagDB));
  set_idt32(0x50, gate(sel_of(16), 0x1000, 0xe, 0));
  expect_fault(deliver(ext_int(0x50, 0)), kGP, 1);
}

TEST_F(SysIntProt, TssStackChecks) {
  protected32(3);
  set_idt32(0x80, gate(kCode0, 0x4000, 0xe, 3));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, 0);  // null SS0
  const Snapshot s = snapshot();
  expect_fault(deliver(ext_int(0x80, 0)), kTS, 1);
  poke<uint16_t>(kTss + 8, kData3);  // RPL 3 != 0
  expect_fault(deliver(ext_int(0x80, 0)), kTS, (kData3 & 0xfffc) | 1);
  set_gdt(16, data32(0, 0x1));  // read-only
  poke<uint16_t>(kTss + 8, sel_of(16));
  expect_fault(deliver(soft_int(0x80, 0)), kTS, sel_of(16));
  set_gdt(16, make_desc(0, 0xfffff, access(0x3, 0, true, false), kFlagG | kFlagDB));
  expect_fault(deliver(ext_int(0x80, 0)), kSS, sel_of(16) | 1);
  cpu().tr.limit = 8;  // SS0:ESP0 beyond the TSS limit
  expect_fault(deliver(ext_int(0x80, 0)), kTS, kTssSel | 1);
  expect_unchanged(s);
}

TEST_F(SysIntProt, NewStackTooSmallIsSs) {
  protected32(3);
  set_idt32(0x80, gate(kCode0, 0x4000, 0xe, 3));
  set_gdt(16, make_desc(0, 0xfff, access(0x3, 0), kFlagDB));  // 4 KiB stack segment
  poke<uint32_t>(kTss + 4, 0x10);                             // room for 16 bytes only
  poke<uint16_t>(kTss + 8, sel_of(16));
  const Snapshot s = snapshot();
  expect_fault(deliver(ext_int(0x80, 0)), kSS, sel_of(16) | 1);
  expect_unchanged(s);
}

TEST_F(SysIntProt, SamePrivilegeStackLimitIsSsExt) {
  protected32(0);
  set_gdt(16, make_desc(0, 0xfff, access(0x3, 0), kFlagDB));
  cpu().seg[SS] = cache(sel_of(16), gdt(16));
  cpu().gpr[RSP] = 8;
  set_idt32(0x50, gate(kCode0, 0x4000, 0xe, 0));
  expect_fault(deliver(ext_int(0x50, 0)), kSS, 1);
}

TEST_F(SysIntProt, ConformingHandlerKeepsCpl) {
  protected32(3);
  set_gdt(16, code32(0, 0xf));  // conforming, DPL 0
  set_idt32(0x60, gate(sel_of(16), 0x4000, 0xe, 3));
  ASSERT_FALSE(deliver(soft_int(0x60, 0x10002)).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().seg[CS].selector, sel_of(16, 3));
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u - 12);  // no stack switch
}

TEST_F(SysIntProt, NmiSetsBlocking) {
  protected32(0);
  set_idt32(2, gate(kCode0, 0x4000, 0xe, 0));
  ASSERT_FALSE(deliver(Event{kNMI, EventKind::Nmi, false, 0, 0, 0x10000}).faulted);
  EXPECT_EQ(cpu().nmi_blocked, 1);
}

TEST_F(SysIntProt, AccessedBitOfHandlerSegment) {
  protected32(0);
  set_gdt(16, code32(0, 0xa));  // accessed clear
  set_idt32(0x50, gate(sel_of(16), 0x4000, 0xe, 0));
  ASSERT_FALSE(deliver(ext_int(0x50, 0)).faulted);
  EXPECT_EQ((gdt(16) >> 40) & 1, 1u);
}

// ---- IA-32e mode ----

TEST_F(SysIntLong, SamePrivilegeFrameAligned) {
  long64(0);
  set_idt64(0x40, kCode64_0, 0xffff'8000'0000'1000ull, 0xe, 0);
  cpu().gpr[RSP] = 0x9008;  // not 16-byte aligned
  cpu().rflags = rf::FIXED1 | rf::IF;
  ASSERT_FALSE(deliver(ext_int(0x40, 0x10005)).faulted);
  EXPECT_EQ(cpu().rip, 0xffff'8000'0000'1000ull);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u - 40);
  EXPECT_EQ(mem<uint64_t>(0x9000 - 8), kData0);    // SS
  EXPECT_EQ(mem<uint64_t>(0x9000 - 16), 0x9008u);  // RSP
  EXPECT_EQ(mem<uint64_t>(0x9000 - 24), rf::FIXED1 | rf::IF);
  EXPECT_EQ(mem<uint64_t>(0x9000 - 32), kCode64_0);
  EXPECT_EQ(mem<uint64_t>(0x9000 - 40), 0x10005u);
  EXPECT_EQ(cpu().seg[SS].selector, kData0);  // no privilege change: SS kept
  EXPECT_EQ(cpu().rflags & rf::IF, 0u);
}

TEST_F(SysIntLong, PrivilegeChangeNullSsAndErrorCode) {
  long64(3);
  set_idt64(14, kCode64_0, 0x5000, 0xe, 0);
  poke<uint64_t>(kTss + 4, 0xa008);  // RSP0
  cpu().gpr[RSP] = 0x12345;
  Event ev = fault_err(kPF, 0x7, 0x10000);
  ev.fault_addr = 0x123;
  ASSERT_FALSE(deliver(ev).faulted);
  EXPECT_EQ(cpu().cpl, 0);
  EXPECT_EQ(cpu().seg[SS].selector, 0);
  EXPECT_EQ(cpu().gpr[RSP], 0xa000u - 48);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 8), kData3);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 16), 0x12345u);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 32), kCode64_3);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 40), 0x10000u);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 48), 7u);
  EXPECT_EQ(cpu().cr2, 0x123u);
  EXPECT_EQ(cpu().mode64, 1);
}

TEST_F(SysIntLong, IstStackEvenWithoutPrivilegeChange) {
  long64(0);
  set_idt64(2, kCode64_0, 0x5000, 0xe, 0, 3);  // IST3
  poke<uint64_t>(kTss + 0x24 + 2 * 8, 0xc000);
  ASSERT_FALSE(deliver(Event{kNMI, EventKind::Nmi, false, 0, 0, 0x10000}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0xc000u - 40);
  EXPECT_EQ(mem<uint64_t>(0xc000 - 16), 0x9000u);
}

TEST_F(SysIntLong, IstPrivilegeChangeLoadsNullSsWithRpl) {
  long64(3);
  set_gdt(16, code64(1));
  set_idt64(0x30, sel_of(16), 0x5000, 0xe, 3, 1);
  poke<uint64_t>(kTss + 0x24, 0xc000);
  ASSERT_FALSE(deliver(soft_int(0x30, 0)).faulted);
  EXPECT_EQ(cpu().cpl, 1);
  EXPECT_EQ(cpu().seg[SS].selector, 1);
  EXPECT_EQ(cpu().seg[CS].selector, sel_of(16, 1));
}

TEST_F(SysIntLong, GateTypeAndTargetChecks) {
  long64(0);
  set_idt64(0x30, kCode64_0, 0x5000, 0x6, 0);  // 16-bit interrupt gate: invalid in IA-32e
  expect_fault(deliver(ext_int(0x30, 0)), kGP, 0x30 * 8 + 3);
  set_idt64(0x30, kCode64_0, 0x5000, 0x5, 0);  // task gate
  expect_fault(deliver(ext_int(0x30, 0)), kGP, 0x30 * 8 + 3);
  set_idt64(0x30, kCode0, 0x5000, 0xe, 0);  // 32-bit code segment as handler
  expect_fault(deliver(ext_int(0x30, 0)), kGP, kCode0 | 1);
  set_idt64(0x30, kCode64_0, 0x0000'8000'0000'0000ull, 0xe, 0);  // non-canonical RIP
  expect_fault(deliver(ext_int(0x30, 0)), kGP, 1);
  cpu().idtr.limit = 0x30 * 16 + 14;
  expect_fault(deliver(ext_int(0x30, 0)), kGP, 0x30 * 8 + 3);
}

TEST_F(SysIntLong, NonCanonicalStackIsSs) {
  long64(3);
  set_idt64(0x30, kCode64_0, 0x5000, 0xe, 3);
  poke<uint64_t>(kTss + 4, 0x0000'8000'0000'0010ull);
  const Snapshot s = snapshot();
  expect_fault(deliver(ext_int(0x30, 0)), kSS, 1);
  expect_unchanged(s);
}

TEST_F(SysIntLong, FromCompatibilityMode) {
  compat32(3);
  set_idt64(0x80, kCode64_0, 0x5000, 0xe, 3);
  poke<uint64_t>(kTss + 4, 0xa000);
  cpu().gpr[RSP] = 0x8000;
  ASSERT_FALSE(deliver(soft_int(0x80, 0x10002)).faulted);
  EXPECT_EQ(cpu().mode64, 1);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 32), kCode3);
  EXPECT_EQ(mem<uint64_t>(0xa000 - 16), 0x8000u);
}

// ---- the nested-fault table (SDM vol. 3, table 6-5) and error-code vectors ----

TEST(SysIntNested, Table65) {
  using K = EventKind;
  using N = NestedOutcome;
  EXPECT_EQ(combine_nested_fault(kGP, K::Fault, kNP), N::DoubleFault);
  EXPECT_EQ(combine_nested_fault(kDE, K::Fault, kTS), N::DoubleFault);
  EXPECT_EQ(combine_nested_fault(kGP, K::Fault, kPF), N::DeliverSecond);
  EXPECT_EQ(combine_nested_fault(kPF, K::Fault, kPF), N::DoubleFault);
  EXPECT_EQ(combine_nested_fault(kPF, K::Fault, kGP), N::DoubleFault);
  EXPECT_EQ(combine_nested_fault(kPF, K::Fault, kUD), N::DeliverSecond);
  EXPECT_EQ(combine_nested_fault(kDF, K::Fault, kGP), N::TripleFault);
  EXPECT_EQ(combine_nested_fault(kDF, K::Fault, kPF), N::TripleFault);
  EXPECT_EQ(combine_nested_fault(kDF, K::Fault, kNM), N::DeliverSecond);
  EXPECT_EQ(combine_nested_fault(kDB, K::Trap, kGP), N::DeliverSecond);
  EXPECT_EQ(combine_nested_fault(kUD, K::Fault, kGP), N::DeliverSecond);
  // Interrupts are benign whatever their vector.
  EXPECT_EQ(combine_nested_fault(13, K::External, kGP), N::DeliverSecond);
  EXPECT_EQ(combine_nested_fault(14, K::SoftwareInt, kPF), N::DeliverSecond);
  EXPECT_EQ(combine_nested_fault(kNMI, K::Nmi, kGP), N::DeliverSecond);
}

TEST(SysIntNested, ErrorCodeVectors) {
  for (unsigned v = 0; v < 32; ++v) {
    const bool expected =
        v == 8 || v == 10 || v == 11 || v == 12 || v == 13 || v == 14 || v == 17 || v == 21;
    EXPECT_EQ(exception_has_error_code(static_cast<uint8_t>(v)), expected) << v;
  }
}

}  // namespace
}  // namespace umbra::test

namespace umbra::test {
namespace {

TEST_F(SysIntProt, SixteenBitStackWraps) {
  protected32(0);
  set_gdt(16, make_desc(0x30000, 0xffff, access(0x3, 0), 0));  // 16-bit stack
  cpu().seg[SS] = cache(sel_of(16), gdt(16));
  refresh_segment_checks(cpu());
  update_cpu_mode(cpu());
  cpu().gpr[RSP] = 0x55550004;  // 12 bytes wrap below 0
  set_idt32(0x50, gate(kCode0, 0x4000, 0xe, 0));
  ASSERT_FALSE(deliver(ext_int(0x50, 0x10005)).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x5555fff8u);
  EXPECT_EQ(mem<uint32_t>(0x3fff8), 0x10005u);
  EXPECT_EQ(mem<uint32_t>(0x30000), rf::FIXED1);  // EFLAGS at offset 0
}

TEST_F(SysIntLong, SamePrivilegeUserHandler) {
  long64(3);
  set_idt64(0x30, kCode64_3, 0x5000, 0xe, 3);
  cpu().gpr[RSP] = 0x8000;
  ASSERT_FALSE(deliver(soft_int(0x30, 0x10002)).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().gpr[RSP], 0x8000u - 40);
  EXPECT_EQ(cpu().seg[SS].selector, kData3);
}

}  // namespace
}  // namespace umbra::test
