// SLDT, STR, LLDT, LTR, VERR, VERW, LAR, LSL, ARPL (SDM vol. 2; vol. 3, 5.10, 7.2.4).
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

using SysSegDesc = SysTest;

TEST_F(SysSegDesc, SldtStr) {
  protected32(0);
  cpu().gpr[RAX] = ~uint64_t{0};
  ASSERT_FALSE(exec({0x0f, 0x00, 0xc0}).faulted);  // sldt eax
  EXPECT_EQ(cpu().gpr[RAX], kLdtSel);
  cpu().gpr[RAX] = ~uint64_t{0};
  ASSERT_FALSE(exec({0x66, 0x0f, 0x00, 0xc8}).faulted);  // str ax
  EXPECT_EQ(cpu().gpr[RAX], 0xffffffffffff0000ull | kTssSel);
  poke<uint32_t>(0x700, 0xaaaaaaaa);
  cpu().gpr[RBX] = 0x700;
  ASSERT_FALSE(exec({0x0f, 0x00, 0x0b}).faulted);  // str [ebx]: 16 bits
  EXPECT_EQ(mem<uint32_t>(0x700), 0xaaaa0000u | kTssSel);
}

TEST_F(SysSegDesc, UmipAndModes) {
  protected32(3);
  EXPECT_FALSE(exec({0x0f, 0x00, 0xc0}).faulted);
  cpu().cr4 |= cr4::UMIP;
  expect_fault(exec({0x0f, 0x00, 0xc0}), kGP, 0);
  expect_fault(exec({0x0f, 0x00, 0xc8}), kGP, 0);
  real_mode();
  expect_fault(exec({0x0f, 0x00, 0xc0}), kUD, kNoErrorCode);
  v86(0x1000, 3);
  expect_fault(exec({0x0f, 0x00, 0xd0}), kUD, kNoErrorCode);
}

TEST_F(SysSegDesc, Lldt) {
  protected32(0);
  set_gdt(16, system_desc(0x20000, 0x3ff, 2));
  cpu().gpr[RAX] = sel_of(16);
  ASSERT_FALSE(exec({0x0f, 0x00, 0xd0}).faulted);  // lldt ax
  EXPECT_EQ(cpu().ldtr.selector, sel_of(16));
  EXPECT_EQ(cpu().ldtr.base, 0x20000u);
  EXPECT_EQ(cpu().ldtr.limit, 0x3ffu);
  cpu().gpr[RAX] = 0;
  ASSERT_FALSE(exec({0x0f, 0x00, 0xd0}).faulted);
  EXPECT_EQ(cpu().ldtr.attrib & seg_attr::P, 0);  // unusable
}

TEST_F(SysSegDesc, LldtChecks) {
  protected32(0);
  set_gdt(16, system_desc(0x20000, 0x3ff, 9));  // a TSS
  set_gdt(17, system_desc(0x20000, 0x3ff, 2, 0, false));
  cpu().gpr[RAX] = sel_of(16);
  expect_fault(exec({0x0f, 0x00, 0xd0}), kGP, sel_of(16));
  cpu().gpr[RAX] = sel_of(17);
  expect_fault(exec({0x0f, 0x00, 0xd0}), kNP, sel_of(17));
  cpu().gpr[RAX] = 0x0c;  // TI = 1
  expect_fault(exec({0x0f, 0x00, 0xd0}), kGP, 0x0c);
  protected32(3);
  cpu().gpr[RAX] = kLdtSel;
  expect_fault(exec({0x0f, 0x00, 0xd0}), kGP, 0);
}

TEST_F(SysSegDesc, LtrMarksBusy) {
  protected32(0);
  cpu().gpr[RAX] = kTss2Sel;
  ASSERT_FALSE(exec({0x0f, 0x00, 0xd8}).faulted);  // ltr ax
  EXPECT_EQ(cpu().tr.selector, kTss2Sel);
  EXPECT_EQ(cpu().tr.base, kTss2);
  EXPECT_EQ(cpu().tr.attrib & 0xf, 0xbu);
  EXPECT_EQ((gdt(11) >> 40) & 0xf, 0xbu);
  // Loading it again: it is busy now.
  expect_fault(exec({0x0f, 0x00, 0xd8}), kGP, kTss2Sel);
  cpu().gpr[RAX] = 0;
  expect_fault(exec({0x0f, 0x00, 0xd8}), kGP, 0);
  cpu().gpr[RAX] = kData0;
  expect_fault(exec({0x0f, 0x00, 0xd8}), kGP, kData0);
}

TEST_F(SysSegDesc, LtrIa32eSixteenByteDescriptor) {
  long64(0);
  set_gdt(16, system_desc(0x12345000, 0x67, 9));
  set_gdt(17, 0xffff'8000ull);  // base bits 63:32
  cpu().gpr[RAX] = sel_of(16);
  ASSERT_FALSE(exec({0x0f, 0x00, 0xd8}).faulted);
  EXPECT_EQ(cpu().tr.base, 0xffff'8000'1234'5000ull);
  set_gdt(18, system_desc(0, 0x67, 1));  // a 16-bit TSS: not in IA-32e mode
  set_gdt(19, 0);
  cpu().gpr[RAX] = sel_of(18);
  expect_fault(exec({0x0f, 0x00, 0xd8}), kGP, sel_of(18));
}

TEST_F(SysSegDesc, VerrVerw) {
  protected32(3);
  set_gdt(16, code32(3, 0x9));  // execute-only
  set_gdt(17, data32(3, 0x1));  // read-only
  set_gdt(18, code32(0, 0xf));  // conforming readable, DPL 0
  set_gdt(19, data32(0));       // DPL 0
  auto verr = [&](uint16_t sel) {
    cpu().gpr[RAX] = sel;
    EXPECT_FALSE(exec({0x0f, 0x00, 0xe0}).faulted);
    return get_zf(cpu());
  };
  auto verw = [&](uint16_t sel) {
    cpu().gpr[RAX] = sel;
    EXPECT_FALSE(exec({0x0f, 0x00, 0xe8}).faulted);
    return get_zf(cpu());
  };
  EXPECT_TRUE(verr(kData3));
  EXPECT_TRUE(verw(kData3));
  EXPECT_TRUE(verr(kCode3));
  EXPECT_FALSE(verw(kCode3));
  EXPECT_FALSE(verr(sel_of(16, 3)));
  EXPECT_TRUE(verr(sel_of(17, 3)));
  EXPECT_FALSE(verw(sel_of(17, 3)));
  EXPECT_TRUE(verr(sel_of(18, 3)));  // conforming: no privilege check
  EXPECT_FALSE(verr(sel_of(19, 3)));
  EXPECT_FALSE(verr(0));
  EXPECT_FALSE(verr(0xfff8));
  EXPECT_FALSE(verr(kTssSel | 3));
}

TEST_F(SysSegDesc, LarLsl) {
  protected32(3);
  set_gdt(16, make_desc(0, 0x12345, access(0x3, 3), kFlagG | kFlagDB));
  cpu().gpr[RBX] = sel_of(16, 3);
  cpu().gpr[RAX] = 0;
  ASSERT_FALSE(exec({0x0f, 0x02, 0xc3}).faulted);  // lar eax, bx
  EXPECT_TRUE(get_zf(cpu()));
  EXPECT_EQ(cpu().gpr[RAX], 0x00c0f300u);          // G, D/B | P DPL3 S type 3
  ASSERT_FALSE(exec({0x0f, 0x03, 0xc3}).faulted);  // lsl eax, bx
  EXPECT_TRUE(get_zf(cpu()));
  EXPECT_EQ(cpu().gpr[RAX], 0x12345fffu);
  cpu().gpr[RAX] = 0xffffffff;
  ASSERT_FALSE(exec({0x66, 0x0f, 0x02, 0xc3}).faulted);  // lar ax, bx
  EXPECT_EQ(cpu().gpr[RAX], 0xffff'f300u);
  // DPL 0 data from CPL 3: invisible, ZF = 0, destination unchanged.
  cpu().gpr[RBX] = kData0 | 3;
  cpu().gpr[RAX] = 0x77;
  ASSERT_FALSE(exec({0x0f, 0x02, 0xc3}).faulted);
  EXPECT_FALSE(get_zf(cpu()));
  EXPECT_EQ(cpu().gpr[RAX], 0x77u);
}

TEST_F(SysSegDesc, LarLslSystemTypes) {
  protected32(0);
  set_gdt(16, gate(kCode0, 0, 0xc, 0));  // call gate: LAR yes, LSL no
  set_gdt(17, gate(kCode0, 0, 0xe, 0));  // interrupt gate: neither
  cpu().gpr[RBX] = sel_of(16);
  ASSERT_FALSE(exec({0x0f, 0x02, 0xc3}).faulted);
  EXPECT_TRUE(get_zf(cpu()));
  ASSERT_FALSE(exec({0x0f, 0x03, 0xc3}).faulted);
  EXPECT_FALSE(get_zf(cpu()));
  cpu().gpr[RBX] = sel_of(17);
  ASSERT_FALSE(exec({0x0f, 0x02, 0xc3}).faulted);
  EXPECT_FALSE(get_zf(cpu()));
  cpu().gpr[RBX] = kTssSel;
  ASSERT_FALSE(exec({0x0f, 0x03, 0xc3}).faulted);
  EXPECT_TRUE(get_zf(cpu()));
  EXPECT_EQ(cpu().gpr[RAX], 0x67u);
}

TEST_F(SysSegDesc, LarIn64BitModeRejectsLegacyGates) {
  long64(0);
  set_gdt(16, system_desc(0, 0x67, 1));  // 16-bit TSS type
  cpu().gpr[RBX] = sel_of(16);
  ASSERT_FALSE(exec({0x0f, 0x02, 0xc3}).faulted);
  EXPECT_FALSE(get_zf(cpu()));
  cpu().gpr[RBX] = kCode64_0;
  ASSERT_FALSE(exec({0x48, 0x0f, 0x02, 0xc3}).faulted);
  EXPECT_TRUE(get_zf(cpu()));
  EXPECT_EQ(cpu().gpr[RAX], 0x00a09b00u);
}

TEST_F(SysSegDesc, Arpl) {
  protected32(3);
  cpu().gpr[RAX] = 0x1230;
  cpu().gpr[RBX] = 0x0003;
  ASSERT_FALSE(exec({0x63, 0xd8}).faulted);  // arpl ax, bx
  EXPECT_EQ(cpu().gpr[RAX], 0x1233u);
  EXPECT_TRUE(get_zf(cpu()));
  ASSERT_FALSE(exec({0x63, 0xd8}).faulted);
  EXPECT_EQ(cpu().gpr[RAX], 0x1233u);
  EXPECT_FALSE(get_zf(cpu()));
  real_mode();
  expect_fault(exec({0x63, 0xd8}), kUD, kNoErrorCode);
}

}  // namespace
}  // namespace umbra::test
