// Hardware task switches: JMP/CALL to a TSS or task gate, IRET with NT, interrupts through a
// task gate (SDM vol. 3, chapter 7).
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

class SysFarTask : public SysTest {
 protected:
  void SetUp() override {
    protected32(0);
    // The incoming task's 32-bit TSS at kTss2 (GDT index 11, available).
    poke<uint32_t>(kTss2 + 0x20, 0x4444);                        // EIP
    poke<uint32_t>(kTss2 + 0x24, rf::FIXED1 | rf::IF | rf::CF);  // EFLAGS
    for (unsigned r = 0; r < 8; ++r) poke<uint32_t>(kTss2 + 0x28 + 4 * r, 0x100 + r);
    const uint16_t segs[6] = {kData0, kCode0, kData0, kData0, 0, kData0};  // ES CS SS DS FS GS
    for (unsigned s = 0; s < 6; ++s) poke<uint32_t>(kTss2 + 0x48 + 4 * s, segs[s]);
    poke<uint32_t>(kTss2 + 0x60, kLdtSel);
    cpu().gpr[RAX] = 0xaaaa;
    cpu().gpr[RSP] = 0x9000;
  }
  unsigned gdt_type(unsigned index) { return (gdt(index) >> 40) & 0xf; }
};

TEST_F(SysFarTask, JmpToTss) {
  ASSERT_FALSE(exec({0xea, 0, 0, 0, 0, 0x58, 0x00}).faulted);
  EXPECT_EQ(cpu().rip, 0x4444u);
  EXPECT_EQ(cpu().gpr[RAX], 0x100u);
  EXPECT_EQ(cpu().gpr[RDI], 0x107u);
  EXPECT_EQ(read_rflags(cpu()), rf::FIXED1 | rf::IF | rf::CF);
  EXPECT_EQ(cpu().tr.selector, kTss2Sel);
  EXPECT_EQ(cpu().tr.base, kTss2);
  EXPECT_EQ(gdt_type(11), 0xbu);  // new task busy
  EXPECT_EQ(gdt_type(7), 0x9u);   // old task idle (JMP)
  EXPECT_NE(cpu().cr0 & cr0::TS, 0u);
  EXPECT_EQ(cpu().seg[FS].selector, 0);
  EXPECT_EQ(cpu().seg[CS].selector, kCode0);
  EXPECT_EQ(cpu().ldtr.selector, kLdtSel);
  // The outgoing task's state was saved: EIP after the JMP, EAX.
  EXPECT_EQ(mem<uint32_t>(kTss + 0x20), kCode + 7);
  EXPECT_EQ(mem<uint32_t>(kTss + 0x28), 0xaaaau);
  EXPECT_EQ(mem<uint32_t>(kTss + 0x38), 0x9000u);
}

TEST_F(SysFarTask, CallThroughTaskGateThenIretBack) {
  set_gdt(16, gate(kTss2Sel, 0, 5, 0));
  ASSERT_FALSE(exec({0x9a, 0, 0, 0, 0, 0x80, 0x00}).faulted);
  EXPECT_EQ(cpu().tr.selector, kTss2Sel);
  EXPECT_NE(cpu().rflags & rf::NT, 0u);
  EXPECT_EQ(mem<uint16_t>(kTss2), kTssSel);  // back link
  EXPECT_EQ(gdt_type(7), 0xbu);              // the caller stays busy
  cpu().gpr[RAX] = 0x5555;
  ASSERT_FALSE(exec({0xcf}).faulted);  // IRET with NT: back to the caller
  EXPECT_EQ(cpu().tr.selector, kTssSel);
  EXPECT_EQ(cpu().rip, kCode + 7);
  EXPECT_EQ(cpu().gpr[RAX], 0xaaaau);
  EXPECT_EQ(gdt_type(11), 0x9u);  // the returning task is idle again
  EXPECT_EQ(mem<uint32_t>(kTss2 + 0x28), 0x5555u);
  EXPECT_EQ(mem<uint32_t>(kTss2 + 0x24) & rf::NT, 0u);  // saved with NT cleared
}

TEST_F(SysFarTask, BusyTargetIsGp) {
  const Snapshot s = snapshot();
  expect_fault(exec({0xea, 0, 0, 0, 0, 0x38, 0x00}), kGP, kTssSel);
  expect_unchanged(s);
}

TEST_F(SysFarTask, TssLimitTooSmallIsTs) {
  set_gdt(11, system_desc(kTss2, 0x60, 9));
  expect_fault(exec({0xea, 0, 0, 0, 0, 0x58, 0x00}), kTS, kTss2Sel);
  EXPECT_EQ(cpu().tr.selector, kTssSel);
}

TEST_F(SysFarTask, TssDplBelowCplIsGp) {
  protected32(3);
  expect_fault(exec({0xea, 0, 0, 0, 0, 0x5b, 0x00}), kGP, kTss2Sel);
}

TEST_F(SysFarTask, BadSegmentAfterCommitFaultsInNewTask) {
  poke<uint32_t>(kTss2 + 0x4c, kData0);  // CS = a data segment
  expect_fault(exec({0xea, 0, 0, 0, 0, 0x58, 0x00}), kTS, kData0);
  EXPECT_EQ(cpu().tr.selector, kTss2Sel);  // the switch committed
  EXPECT_EQ(cpu().rip, 0x4444u);
}

TEST_F(SysFarTask, InterruptThroughTaskGatePushesErrorCode) {
  set_idt32(13, gate(kTss2Sel, 0, 5, 0));
  poke<uint32_t>(kTss2 + 0x38, 0x7000);  // the new task's ESP
  ASSERT_FALSE(deliver(Event{kGP, EventKind::Fault, true, 0x1234, 0, kCode}).faulted);
  EXPECT_EQ(cpu().tr.selector, kTss2Sel);
  EXPECT_EQ(cpu().gpr[RSP], 0x7000u - 4);
  EXPECT_EQ(mem<uint32_t>(0x7000 - 4), 0x1234u);
  EXPECT_NE(cpu().rflags & rf::NT, 0u);
  EXPECT_EQ(mem<uint32_t>(kTss + 0x20), kCode);  // faulting EIP saved
}

}  // namespace
}  // namespace umbra::test

namespace umbra::test {
namespace {

// A 16-bit TSS (type 1, limit 0x2B): IP, FLAGS, the 16-bit registers and ES/CS/SS/DS; the
// upper words of the GPRs and FS/GS are left alone.
TEST_F(SysFarTask, SixteenBitTss) {
  set_gdt(16, system_desc(0x5c00, 0x2b, 1));
  poke<uint16_t>(0x5c00 + 0x0e, 0x1234);               // IP
  poke<uint16_t>(0x5c00 + 0x10, rf::FIXED1 | rf::ZF);  // FLAGS
  for (unsigned r = 0; r < 8; ++r) poke<uint16_t>(0x5c00 + 0x12 + 2 * r, 0x10 + r);
  const uint16_t segs[4] = {kData0, kCode0, kData0, kData0};
  for (unsigned s = 0; s < 4; ++s) poke<uint16_t>(0x5c00 + 0x22 + 2 * s, segs[s]);
  poke<uint16_t>(0x5c00 + 0x2a, 0);  // no LDT
  cpu().gpr[RBX] = 0xdead0000;
  cpu().seg[FS] = cache(kData0, data32(0));
  cpu().seg[FS].base = 0x777;
  ASSERT_FALSE(exec({0xea, 0, 0, 0, 0, 0x80, 0x00}).faulted);
  EXPECT_EQ(cpu().rip, 0x1234u);
  EXPECT_EQ(cpu().gpr[RBX], 0xdead0013u);
  EXPECT_TRUE(get_zf(cpu()));
  EXPECT_EQ(cpu().seg[FS].base, 0x777u);
  EXPECT_EQ(cpu().tr.selector, sel_of(16));
  EXPECT_EQ((gdt(16) >> 40) & 0xf, 0x3u);  // 16-bit busy TSS
  EXPECT_EQ(cpu().ldtr.attrib & seg_attr::P, 0);
}

}  // namespace
}  // namespace umbra::test
