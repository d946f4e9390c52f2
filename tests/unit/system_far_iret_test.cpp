// IRET in every mode (SDM vol. 2, IRET; vol. 3, 6.14.3, 20.2.7) and the software-interrupt
// instructions INT n, INT3, INTO, INT1 and BOUND.
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

using SysFarIret = SysTest;
using SysIntInsn = SysTest;

TEST_F(SysFarIret, RealMode16) {
  real_mode(0);
  poke<uint16_t>(0x1ffa, 0x0456);  // IP
  poke<uint16_t>(0x1ffc, 0x3000);  // CS
  poke<uint16_t>(0x1ffe, 0x3202);  // FLAGS: IOPL 3, IF
  cpu().gpr[RSP] = 0x1ffa;
  cpu().nmi_blocked = 1;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_EQ(cpu().rip, 0x456u);
  EXPECT_EQ(cpu().seg[CS].base, 0x30000u);
  EXPECT_EQ(read_rflags(cpu()), 0x3202u);
  EXPECT_EQ(cpu().gpr[RSP], 0x2000u);
  EXPECT_EQ(cpu().nmi_blocked, 0);
}

TEST_F(SysFarIret, RealMode32KeepsVmVifVip) {
  real_mode(0);
  poke<uint32_t>(0x1ff4, 0x0456);
  poke<uint32_t>(0x1ff8, 0x3000);
  poke<uint32_t>(0x1ffc, 0x003e'0ad7);  // every flag, including VM/VIF/VIP/ID/AC
  cpu().gpr[RSP] = 0x1ff4;
  ASSERT_FALSE(exec({0x66, 0xcf}).faulted);
  EXPECT_EQ(read_rflags(cpu()), 0x0024'0ad7u);  // masked with 0x257FD5 (plus bit 1)
}

TEST_F(SysFarIret, ProtectedSamePrivilegeFlagRules) {
  protected32(3);
  cpu().rflags = rf::FIXED1;  // IOPL 0, IF 0
  poke<uint32_t>(0x8ff4, 0x4444);
  poke<uint32_t>(0x8ff8, kCode3);
  poke<uint32_t>(0x8ffc, rf::FIXED1 | rf::IF | rf::IOPL | rf::CF | rf::AC);
  cpu().gpr[RSP] = 0x8ff4;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_EQ(cpu().rip, 0x4444u);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
  // CPL 3 > IOPL 0: IF and IOPL unchanged; CF and AC loaded.
  EXPECT_EQ(read_rflags(cpu()), rf::FIXED1 | rf::CF | rf::AC);
}

TEST_F(SysFarIret, ToOuterPrivilege) {
  protected32(0);
  poke<uint32_t>(0x8fec, 0x4444);
  poke<uint32_t>(0x8ff0, kCode3);
  poke<uint32_t>(0x8ff4, rf::FIXED1 | rf::IF);
  poke<uint32_t>(0x8ff8, 0x6000);
  poke<uint32_t>(0x8ffc, kData3);
  cpu().gpr[RSP] = 0x8fec;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().gpr[RSP], 0x6000u);
  EXPECT_EQ(cpu().seg[SS].selector, kData3);
  EXPECT_EQ(cpu().seg[DS].selector, 0);  // DPL 0 data made null
  EXPECT_NE(cpu().rflags & rf::IF, 0u);
}

TEST_F(SysFarIret, OuterChecks) {
  protected32(0);
  poke<uint32_t>(0x8fec, 0x4444);
  poke<uint32_t>(0x8ff0, kCode3);
  poke<uint32_t>(0x8ff4, rf::FIXED1);
  poke<uint32_t>(0x8ff8, 0x6000);
  poke<uint32_t>(0x8ffc, kData0 | 3);  // DPL 0 stack for CPL 3
  cpu().gpr[RSP] = 0x8fec;
  const Snapshot s = snapshot();
  expect_fault(exec({0xcf}), kGP, kData0);
  set_gdt(16, make_desc(0, 0xfffff, access(0x3, 3, true, false), kFlagG | kFlagDB));
  poke<uint32_t>(0x8ffc, sel_of(16, 3));
  expect_fault(exec({0xcf}), kSS, sel_of(16));
  poke<uint32_t>(0x8ff0, kCode0 | 3);  // DPL 0 code with RPL 3
  expect_fault(exec({0xcf}), kGP, kCode0);
  expect_unchanged(s);
}

TEST_F(SysFarIret, ToV86Mode) {
  protected32(0);
  const uint32_t frame[9] = {0x12345, 0x2000, rf::FIXED1 | rf::VM | rf::IF | (3u << 12),
                             0x1800,  0x3000, 0x4000,
                             0x5000,  0x6000, 0x7000};
  for (unsigned k = 0; k < 9; ++k) poke<uint32_t>(0x8fdc + 4 * k, frame[k]);
  cpu().gpr[RSP] = 0x8fdc;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_NE(cpu().rflags & rf::VM, 0u);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().rip, 0x2345u);  // EIP & 0xFFFF
  EXPECT_EQ(cpu().seg[CS].base, 0x20000u);
  EXPECT_EQ(cpu().seg[SS].base, 0x30000u);
  EXPECT_EQ(cpu().seg[ES].base, 0x40000u);
  EXPECT_EQ(cpu().seg[DS].base, 0x50000u);
  EXPECT_EQ(cpu().seg[FS].base, 0x60000u);
  EXPECT_EQ(cpu().seg[GS].base, 0x70000u);
  EXPECT_EQ(cpu().gpr[RSP], 0x1800u);
  EXPECT_EQ(cpu().code32, 0);
}

TEST_F(SysFarIret, InV86Mode) {
  v86(0x1000, 3);
  poke<uint16_t>(0x10000 + 0x1ffa, 0x0456);
  poke<uint16_t>(0x10000 + 0x1ffc, 0x3000);
  poke<uint16_t>(0x10000 + 0x1ffe, 0x0002);  // tries to clear IOPL: ignored
  cpu().gpr[RSP] = 0x1ffa;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_EQ(cpu().seg[CS].base, 0x30000u);
  EXPECT_EQ((cpu().rflags >> 12) & 3, 3u);
  EXPECT_NE(cpu().rflags & rf::VM, 0u);
  v86(0x1000, 0);
  expect_fault(exec({0xcf}), kGP, 0);  // IOPL < 3, no VME
}

TEST_F(SysFarIret, NestedTaskInIa32eIsGp) {
  long64(0);
  cpu().rflags |= rf::NT;
  expect_fault(exec({0x48, 0xcf}), kGP, 0);
}

TEST_F(SysFarIret, Iretq64SamePrivilegePopsSsRsp) {
  long64(0);
  poke<uint64_t>(0x8fd8, 0x5555);
  poke<uint64_t>(0x8fe0, kCode64_0);
  poke<uint64_t>(0x8fe8, rf::FIXED1 | rf::IF);
  poke<uint64_t>(0x8ff0, 0x7777);
  poke<uint64_t>(0x8ff8, kData0);
  cpu().gpr[RSP] = 0x8fd8;
  cpu().nmi_blocked = 1;
  ASSERT_FALSE(exec({0x48, 0xcf}).faulted);
  EXPECT_EQ(cpu().rip, 0x5555u);
  EXPECT_EQ(cpu().gpr[RSP], 0x7777u);
  EXPECT_EQ(cpu().nmi_blocked, 0);
}

TEST_F(SysFarIret, Iretq64NullSsRules) {
  long64(0);
  poke<uint64_t>(0x8fd8, 0x5555);
  poke<uint64_t>(0x8fe0, kCode64_0);
  poke<uint64_t>(0x8fe8, rf::FIXED1);
  poke<uint64_t>(0x8ff0, 0x7777);
  poke<uint64_t>(0x8ff8, 0);  // null SS, back to CPL 0: allowed
  cpu().gpr[RSP] = 0x8fd8;
  ASSERT_FALSE(exec({0x48, 0xcf}).faulted);
  EXPECT_EQ(cpu().seg[SS].selector, 0);
  long64(0);
  poke<uint64_t>(0x8fe0, kCode64_3);
  poke<uint64_t>(0x8ff8, 3);  // null SS for CPL 3: #GP(0)
  cpu().gpr[RSP] = 0x8fd8;
  expect_fault(exec({0x48, 0xcf}), kGP, 0);
}

TEST_F(SysFarIret, Iretq64ToUserAndCompat) {
  long64(0);
  poke<uint64_t>(0x8fd8, 0x1234);
  poke<uint64_t>(0x8fe0, kCode3);  // 32-bit user code: compatibility mode
  poke<uint64_t>(0x8fe8, rf::FIXED1 | rf::IF);
  poke<uint64_t>(0x8ff0, 0x6000);
  poke<uint64_t>(0x8ff8, kData3);
  cpu().gpr[RSP] = 0x8fd8;
  ASSERT_FALSE(exec({0x48, 0xcf}).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().mode64, 0);
  EXPECT_EQ(cpu().code32, 1);
  EXPECT_EQ(cpu().gpr[RSP], 0x6000u);
}

TEST_F(SysFarIret, IretdIn64BitMode) {
  long64(0);
  poke<uint32_t>(0x8fec, 0x1234);
  poke<uint32_t>(0x8ff0, kCode64_0);
  poke<uint32_t>(0x8ff4, rf::FIXED1);
  poke<uint32_t>(0x8ff8, 0x6000);
  poke<uint32_t>(0x8ffc, kData0);
  cpu().gpr[RSP] = 0x8fec;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_EQ(cpu().rip, 0x1234u);
  EXPECT_EQ(cpu().gpr[RSP], 0x6000u);
}

// ---- software interrupts ----

TEST_F(SysIntInsn, IntNFromUserMode) {
  protected32(3);
  set_idt32(0x80, gate(kCode0, 0x4000, 0xe, 3));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  ASSERT_FALSE(exec({0xcd, 0x80}).faulted);
  EXPECT_EQ(cpu().cpl, 0);
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 20), kCode + 2);  // return to the next instruction
}

TEST_F(SysIntInsn, IntNInV86NeedsIopl3) {
  v86(0x1000, 0);
  const Snapshot s = snapshot();
  expect_fault(exec({0xcd, 0x21}), kGP, 0);
  expect_unchanged(s);
}

TEST_F(SysIntInsn, Int3InV86GoesToProtectedHandler) {
  v86(0x1000, 0);
  set_idt32(3, gate(kCode0, 0x4000, 0xe, 3));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  ASSERT_FALSE(exec({0xcc}).faulted);
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ(cpu().rflags & rf::VM, 0u);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 36), 0x101u);
}

TEST_F(SysIntInsn, IntoOnlyWithOverflow) {
  protected32(0);
  set_idt32(4, gate(kCode0, 0x4000, 0xe, 0));
  set_arith_flags(cpu(), 0);
  ASSERT_FALSE(exec({0xce}).faulted);
  EXPECT_EQ(cpu().rip, kCode + 1);
  set_arith_flags(cpu(), rf::OF);
  ASSERT_FALSE(exec({0xce}).faulted);
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ(mem<uint32_t>(0x9000 - 12), kCode + 2);
}

TEST_F(SysIntInsn, Int1SkipsDplCheck) {
  protected32(3);
  set_idt32(1, gate(kCode0, 0x4000, 0xe, 0));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  ASSERT_FALSE(exec({0xf1}).faulted);
  EXPECT_EQ(cpu().rip, 0x4000u);
}

TEST_F(SysIntInsn, IntNIn64BitMode) {
  long64(3);
  set_idt64(0x80, kCode64_0, 0x5000, 0xf, 3);
  poke<uint64_t>(kTss + 4, 0xa000);
  cpu().rflags |= rf::IF;
  ASSERT_FALSE(exec({0xcd, 0x80}).faulted);
  EXPECT_EQ(cpu().rip, 0x5000u);
  EXPECT_NE(cpu().rflags & rf::IF, 0u);  // trap gate
  EXPECT_EQ(mem<uint64_t>(0xa000 - 40), kCode + 2);
}

TEST_F(SysIntInsn, Bound) {
  protected32(0);
  poke<int32_t>(0x700, -5);
  poke<int32_t>(0x704, 10);
  cpu().gpr[RBX] = 0x700;
  cpu().gpr[RAX] = static_cast<uint32_t>(-5);
  ASSERT_FALSE(exec({0x62, 0x03}).faulted);
  cpu().gpr[RAX] = 10;
  ASSERT_FALSE(exec({0x62, 0x03}).faulted);
  cpu().gpr[RAX] = 11;
  expect_fault(exec({0x62, 0x03}), kBR, kNoErrorCode);
  cpu().gpr[RAX] = static_cast<uint32_t>(-6);
  expect_fault(exec({0x62, 0x03}), kBR, kNoErrorCode);
  poke<int16_t>(0x700, 3);
  poke<int16_t>(0x702, 4);
  cpu().gpr[RAX] = 5;
  expect_fault(exec({0x66, 0x62, 0x03}), kBR, kNoErrorCode);
}

}  // namespace
}  // namespace umbra::test

namespace umbra::test {
namespace {

TEST_F(SysFarIret, IretwProtectedWritesLowFlagsOnly) {
  protected32(0);
  cpu().rflags = rf::FIXED1 | rf::AC;
  poke<uint16_t>(0x8ffa, 0x4444);
  poke<uint16_t>(0x8ffc, kCode0);
  poke<uint16_t>(0x8ffe, rf::FIXED1 | rf::CF);
  cpu().gpr[RSP] = 0x8ffa;
  ASSERT_FALSE(exec({0x66, 0xcf}).faulted);
  EXPECT_EQ(cpu().rip, 0x4444u);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
  EXPECT_EQ(read_rflags(cpu()), rf::FIXED1 | rf::AC | rf::CF);  // AC (bit 18) untouched
}

TEST_F(SysFarIret, ConformingTargetRunsAtRpl) {
  protected32(0);
  set_gdt(16, code32(0, 0xf));  // conforming, DPL 0
  poke<uint32_t>(0x8fec, 0x4444);
  poke<uint32_t>(0x8ff0, sel_of(16, 3));
  poke<uint32_t>(0x8ff4, rf::FIXED1);
  poke<uint32_t>(0x8ff8, 0x6000);
  poke<uint32_t>(0x8ffc, kData3);
  cpu().gpr[RSP] = 0x8fec;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_EQ(cpu().cpl, 3);
  EXPECT_EQ(cpu().seg[CS].selector, sel_of(16, 3));
}

}  // namespace
}  // namespace umbra::test

namespace umbra::test {
namespace {

// CR4.VME (SDM vol. 3, 20.3): INT n redirection through the TSS bitmap, and the virtual-IF IRET.
class SysIntVme : public SysTest {
 protected:
  void vme(unsigned iopl) {
    v86(0x1000, iopl);
    cpu().cr4 |= cr4::VME;
    cpu().tr.limit = 0x88;
    poke<uint16_t>(kTss + 0x66, 0x88);  // I/O bitmap at 0x88: redirection bitmap 0x68..0x87
    for (unsigned k = 0; k < 32; ++k) poke<uint8_t>(kTss + 0x68 + k, 0);
    poke<uint32_t>(0x21 * 4, 0x2000'0100);  // 8086 handler 2000:0100
  }
};

TEST_F(SysIntVme, RedirectedWithVirtualIf) {
  vme(0);
  cpu().rflags |= rf::VIF | rf::TF;
  ASSERT_FALSE(exec({0xcd, 0x21}).faulted);
  EXPECT_EQ(cpu().seg[CS].base, 0x20000u);
  EXPECT_EQ(cpu().rip, 0x100u);
  EXPECT_EQ(cpu().gpr[RSP], 0x2000u - 6);
  EXPECT_EQ(mem<uint16_t>(0x11ffa), 0x102);
  EXPECT_EQ(mem<uint16_t>(0x11ffc), 0x1000);
  EXPECT_EQ(mem<uint16_t>(0x11ffe), rf::FIXED1 | rf::IF | rf::TF | rf::IOPL);
  EXPECT_EQ(cpu().rflags & (rf::VIF | rf::TF), 0u);
  EXPECT_NE(cpu().rflags & rf::VM, 0u);
}

TEST_F(SysIntVme, RedirectedWithIopl3ClearsIf) {
  vme(3);
  cpu().rflags |= rf::IF;
  ASSERT_FALSE(exec({0xcd, 0x21}).faulted);
  EXPECT_EQ(mem<uint16_t>(0x11ffe), rf::FIXED1 | rf::IF | rf::IOPL);
  EXPECT_EQ(cpu().rflags & rf::IF, 0u);
}

TEST_F(SysIntVme, BitmapBitSetGoesToProtectedMode) {
  vme(0);
  poke<uint8_t>(kTss + 0x68 + 4, 0x02);  // vector 0x21
  expect_fault(exec({0xcd, 0x21}), kGP, 0);
  vme(3);
  poke<uint8_t>(kTss + 0x68 + 4, 0x02);
  set_idt32(0x21, gate(kCode0, 0x4000, 0xe, 3));
  poke<uint32_t>(kTss + 4, 0x7000);
  poke<uint16_t>(kTss + 8, kData0);
  ASSERT_FALSE(exec({0xcd, 0x21}).faulted);
  EXPECT_EQ(cpu().rip, 0x4000u);
  EXPECT_EQ(cpu().rflags & rf::VM, 0u);
}

TEST_F(SysIntVme, VirtualInterruptIret) {
  vme(0);
  cpu().rflags |= rf::IF;
  poke<uint16_t>(0x11ffa, 0x0456);
  poke<uint16_t>(0x11ffc, 0x3000);
  poke<uint16_t>(0x11ffe, rf::FIXED1 | rf::IF | rf::CF);
  cpu().gpr[RSP] = 0x1ffa;
  ASSERT_FALSE(exec({0xcf}).faulted);
  EXPECT_EQ(cpu().rip, 0x456u);
  EXPECT_NE(cpu().rflags & rf::VIF, 0u);
  EXPECT_NE(cpu().rflags & rf::IF, 0u);  // IF and IOPL kept
  EXPECT_EQ((cpu().rflags >> 12) & 3, 0u);
  EXPECT_TRUE(get_cf(cpu()));
}

TEST_F(SysIntVme, VirtualInterruptIretFaults) {
  vme(0);
  cpu().gpr[RSP] = 0x1ffa;
  poke<uint16_t>(0x11ffe, rf::FIXED1 | rf::TF);
  expect_fault(exec({0xcf}), kGP, 0);
  poke<uint16_t>(0x11ffe, rf::FIXED1 | rf::IF);
  cpu().rflags |= rf::VIP;
  expect_fault(exec({0xcf}), kGP, 0);
  cpu().rflags &= ~rf::VIP;
  expect_fault(exec({0x66, 0xcf}), kGP, 0);  // only the 16-bit form
}

}  // namespace
}  // namespace umbra::test
