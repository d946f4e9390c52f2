// Segment-register loads: MOV Sreg, POP Sreg, LDS/LES/LSS/LFS/LGS, MOV r/m, Sreg in every mode,
// with the protection checks of SDM vol. 2 (MOV, POP, LxS) and vol. 3, 5.10.
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

using SysSegLoad = SysTest;

TEST_F(SysSegLoad, MovDsLoadsCacheAndSetsAccessedBit) {
  protected32(0);
  // A data segment with base 0x12345678, limit 0xabcd (byte granular), accessed bit clear.
  set_gdt(16, make_desc(0x12345678, 0xabcd, access(0x2, 0), kFlagDB));
  cpu().gpr[RAX] = sel_of(16);
  const Outcome o = exec({0x8e, 0xd8});  // mov ds, ax
  ASSERT_FALSE(o.faulted);
  EXPECT_EQ(cpu().seg[DS].selector, sel_of(16));
  EXPECT_EQ(cpu().seg[DS].base, 0x12345678u);
  EXPECT_EQ(cpu().seg[DS].limit, 0xabcdu);
  EXPECT_EQ(cpu().seg[DS].attrib, 0x3 | seg_attr::S | seg_attr::P | seg_attr::DB);
  EXPECT_EQ((gdt(16) >> 40) & 0xff, 0x93u);  // accessed bit written back
  EXPECT_EQ(cpu().rip, kCode + 2);
  EXPECT_EQ(cpu().seg_check >> DS & 1, 1);  // not flat: checked
}

TEST_F(SysSegLoad, PageGranularLimit) {
  protected32(0);
  set_gdt(16, make_desc(0, 0x0000f, access(0x3, 0), kFlagG | kFlagDB));
  cpu().gpr[RAX] = sel_of(16);
  ASSERT_FALSE(exec({0x8e, 0xc0}).faulted);  // mov es, ax
  EXPECT_EQ(cpu().seg[ES].limit, 0xffffu);
}

TEST_F(SysSegLoad, FlatSegmentsNeedNoChecks) {
  protected32(0);
  cpu().gpr[RAX] = kData0;
  ASSERT_FALSE(exec({0x8e, 0xd8}).faulted);
  EXPECT_EQ(cpu().seg_check & (1u << DS), 0);
  EXPECT_NE(cpu().seg_check & (1u << CS), 0);  // code is never "flat" for data accesses
}

TEST_F(SysSegLoad, NullDataSelectorLoadsThenFaultsOnUse) {
  protected32(0);
  cpu().gpr[RAX] = 3;  // null selector, RPL 3
  ASSERT_FALSE(exec({0x8e, 0xd8}).faulted);
  EXPECT_EQ(cpu().seg[DS].selector, 3);
  EXPECT_EQ(cpu().seg[DS].attrib & seg_attr::P, 0);
  cpu().gpr[RBX] = 0x100;
  expect_fault(exec({0x8b, 0x03}), kGP, 0);  // mov eax, [ebx]
}

TEST_F(SysSegLoad, NullSsIsGpInProtectedMode) {
  protected32(0);
  cpu().gpr[RAX] = 0;
  const Snapshot s = snapshot();
  expect_fault(exec({0x8e, 0xd0}), kGP, 0);
  expect_unchanged(s);
}

TEST_F(SysSegLoad, NullSsIn64BitModeAtCpl0WithMatchingRpl) {
  long64(0);
  cpu().gpr[RAX] = 0;
  ASSERT_FALSE(exec({0x8e, 0xd0}).faulted);
  EXPECT_EQ(cpu().seg[SS].selector, 0);
  cpu().gpr[RAX] = 1;  // RPL 1 != CPL 0
  expect_fault(exec({0x8e, 0xd0}), kGP, 0);
}

TEST_F(SysSegLoad, NullSsIn64BitModeAtCpl3IsGp) {
  long64(3);
  cpu().gpr[RAX] = 3;
  expect_fault(exec({0x8e, 0xd0}), kGP, 0);
}

TEST_F(SysSegLoad, SsChecks) {
  protected32(0);
  set_gdt(16, data32(0, 0x1));  // read-only data
  set_gdt(17, data32(3));       // DPL 3
  set_gdt(18, make_desc(0, 0xfffff, access(0x3, 0, true, false), kFlagG | kFlagDB));  // not present
  set_gdt(19, code32(0, 0xb));                                                        // code
  const Snapshot s = snapshot();
  cpu().gpr[RAX] = sel_of(16);
  expect_fault(exec({0x8e, 0xd0}), kGP, sel_of(16));
  cpu().gpr[RAX] = sel_of(17, 0);
  expect_fault(exec({0x8e, 0xd0}), kGP, sel_of(17));
  cpu().gpr[RAX] = sel_of(2, 3);  // RPL 3 != CPL 0
  expect_fault(exec({0x8e, 0xd0}), kGP, sel_of(2));
  cpu().gpr[RAX] = sel_of(18);
  expect_fault(exec({0x8e, 0xd0}), kSS, sel_of(18));
  cpu().gpr[RAX] = sel_of(19);
  expect_fault(exec({0x8e, 0xd0}), kGP, sel_of(19));
  cpu().gpr[RAX] = s.gpr[RAX];
  expect_unchanged(s);
}

TEST_F(SysSegLoad, DataSegmentChecks) {
  protected32(3);
  set_gdt(16, code32(3, 0x9));  // execute-only code
  set_gdt(17, data32(0));       // DPL 0 < CPL 3
  set_gdt(18, make_desc(0, 0xfffff, access(0x3, 3, true, false), kFlagG | kFlagDB));
  set_gdt(19, code32(0, 0xf));           // conforming readable code, DPL 0
  set_gdt(20, system_desc(0, 0, 2, 3));  // an LDT descriptor
  cpu().gpr[RAX] = sel_of(16, 3);
  expect_fault(exec({0x8e, 0xd8}), kGP, sel_of(16));
  cpu().gpr[RAX] = sel_of(17, 3);
  expect_fault(exec({0x8e, 0xd8}), kGP, sel_of(17));
  cpu().gpr[RAX] = sel_of(18, 3);
  expect_fault(exec({0x8e, 0xd8}), kNP, sel_of(18));
  cpu().gpr[RAX] = sel_of(20, 3);
  expect_fault(exec({0x8e, 0xd8}), kGP, sel_of(20));
  cpu().gpr[RAX] = sel_of(19, 3);  // conforming: no privilege check
  EXPECT_FALSE(exec({0x8e, 0xd8}).faulted);
}

TEST_F(SysSegLoad, RplAboveDplIsGp) {
  protected32(0);
  cpu().gpr[RAX] = sel_of(2, 3);                     // DPL 0 data with RPL 3
  expect_fault(exec({0x8e, 0xe0}), kGP, sel_of(2));  // mov fs, ax
}

TEST_F(SysSegLoad, SelectorBeyondGdtLimit) {
  protected32(0);
  cpu().gdtr.limit = 0x5f;  // 12 entries
  cpu().gpr[RAX] = sel_of(12);
  expect_fault(exec({0x8e, 0xe8}), kGP, sel_of(12));  // mov gs, ax
}

TEST_F(SysSegLoad, LdtSelectors) {
  protected32(0);
  set_ldt(1, make_desc(0x4000, 0xfff, access(0x3, 0), kFlagDB));
  cpu().gpr[RAX] = 0x0c;  // LDT index 1
  ASSERT_FALSE(exec({0x8e, 0xd8}).faulted);
  EXPECT_EQ(cpu().seg[DS].base, 0x4000u);
  cpu().gpr[RAX] = 0xfff4;  // beyond the LDT limit
  expect_fault(exec({0x8e, 0xd8}), kGP, 0xfff4);
  cpu().ldtr = null_segment(0);  // unusable LDTR
  cpu().gpr[RAX] = 0x0c;
  expect_fault(exec({0x8e, 0xd8}), kGP, 0x0c);
}

TEST_F(SysSegLoad, MovSsSetsInterruptShadow) {
  protected32(0);
  cpu().gpr[RAX] = kData0;
  ASSERT_FALSE(exec({0x8e, 0xd0}).faulted);
  EXPECT_EQ(cpu().interrupt_shadow, 1);
}

TEST_F(SysSegLoad, MovDsFromMemory) {
  protected32(0);
  poke<uint16_t>(0x700, sel_of(4, 0) | 0);  // DPL-3 data, RPL 0
  cpu().gpr[RBX] = 0x700;
  ASSERT_FALSE(exec({0x8e, 0x1b}).faulted);  // mov ds, [ebx]
  EXPECT_EQ(cpu().seg[DS].selector, sel_of(4));
}

TEST_F(SysSegLoad, RealModeLoadKeepsLimitAndAttributes) {
  real_mode();
  cpu().seg[DS].limit = 0xffffffff;  // "unreal" mode
  cpu().seg[DS].attrib = 0x93 | seg_attr::DB;
  cpu().gpr[RAX] = 0x1234;
  ASSERT_FALSE(exec({0x8e, 0xd8}).faulted);
  EXPECT_EQ(cpu().seg[DS].selector, 0x1234);
  EXPECT_EQ(cpu().seg[DS].base, 0x12340u);
  EXPECT_EQ(cpu().seg[DS].limit, 0xffffffffu);
  EXPECT_EQ(cpu().seg[DS].attrib, 0x93 | seg_attr::DB);
  EXPECT_EQ(cpu().rip, 0x102u);
}

TEST_F(SysSegLoad, V86LoadSetsFixedAttributes) {
  v86(0x100, 3);
  cpu().gpr[RAX] = 0x2345;
  ASSERT_FALSE(exec({0x8e, 0xc0}).faulted);  // mov es, ax
  EXPECT_EQ(cpu().seg[ES].base, 0x23450u);
  EXPECT_EQ(cpu().seg[ES].limit, 0xffffu);
  EXPECT_EQ(cpu().seg[ES].attrib, 0xf3);
}

TEST_F(SysSegLoad, MovCsIsUd) {
  protected32(0);
  uint8_t buf[2] = {0x8e, 0xc8};
  Insn insn;
  EXPECT_EQ(decode(buf, 2, DecodeMode{false, true}, &insn), DecodeStatus::Invalid);
  expect_fault(t.run(insn), kUD, kNoErrorCode);
}

TEST_F(SysSegLoad, MovSregStore) {
  protected32(0);
  cpu().gpr[RAX] = 0xffffffffffffffffull;
  ASSERT_FALSE(exec({0x8c, 0xd8}).faulted);  // mov eax, ds: zero-extended
  EXPECT_EQ(cpu().gpr[RAX], kData0);
  cpu().gpr[RAX] = 0xffffffffffffffffull;
  ASSERT_FALSE(exec({0x66, 0x8c, 0xd8}).faulted);  // mov ax, ds: upper bits kept
  EXPECT_EQ(cpu().gpr[RAX], 0xffffffffffff0000ull | kData0);
  poke<uint32_t>(0x700, 0xaaaaaaaa);
  cpu().gpr[RBX] = 0x700;
  ASSERT_FALSE(exec({0x8c, 0x1b}).faulted);  // mov [ebx], ds: 16 bits only
  EXPECT_EQ(mem<uint32_t>(0x700), 0xaaaa0000u | kData0);
}

TEST_F(SysSegLoad, PopDs32) {
  protected32(0);
  poke<uint32_t>(0x8ffc, 0xabcd0000u | kData0);
  cpu().gpr[RSP] = 0x8ffc;
  ASSERT_FALSE(exec({0x1f}).faulted);  // pop ds
  EXPECT_EQ(cpu().seg[DS].selector, kData0);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
}

TEST_F(SysSegLoad, PopSsFaultLeavesEspAndSetsShadowOnSuccess) {
  protected32(0);
  cpu().gpr[RSP] = 0x8ffc;
  poke<uint32_t>(0x8ffc, sel_of(4, 3));  // DPL 3 data: wrong for SS at CPL 0
  const Snapshot s = snapshot();
  expect_fault(exec({0x17}), kGP, sel_of(4));
  expect_unchanged(s);
  poke<uint32_t>(0x8ffc, kData0);
  ASSERT_FALSE(exec({0x17}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
  EXPECT_EQ(cpu().interrupt_shadow, 1);
}

TEST_F(SysSegLoad, PopFsIn64BitMode) {
  long64(0);
  cpu().seg[FS].base = 0x1234;  // FS_BASE
  poke<uint64_t>(0x8ff8, 0);
  cpu().gpr[RSP] = 0x8ff8;
  ASSERT_FALSE(exec({0x0f, 0xa1}).faulted);  // pop fs (64-bit slot)
  EXPECT_EQ(cpu().gpr[RSP], 0x9000u);
  EXPECT_EQ(cpu().seg[FS].selector, 0);
  EXPECT_EQ(cpu().seg[FS].base, 0u);  // Intel: a null load clears the base
}

TEST_F(SysSegLoad, FsLoadIn64BitModeTakesLow32BitBase) {
  long64(0);
  set_gdt(16, make_desc(0xfedc0000, 0xfffff, access(0x3, 0), kFlagG | kFlagDB));
  cpu().gpr[RAX] = sel_of(16);
  ASSERT_FALSE(exec({0x8e, 0xe0}).faulted);
  EXPECT_EQ(cpu().seg[FS].base, 0xfedc0000u);
}

TEST_F(SysSegLoad, LdsLoadsPointer) {
  protected32(0);
  set_gdt(16, make_desc(0x4000, 0xffff, access(0x3, 0), kFlagDB));
  poke<uint32_t>(0x700, 0x11223344);
  poke<uint16_t>(0x704, sel_of(16));
  cpu().gpr[RBX] = 0x700;
  ASSERT_FALSE(exec({0xc5, 0x03}).faulted);  // lds eax, [ebx]
  EXPECT_EQ(cpu().gpr[RAX], 0x11223344u);
  EXPECT_EQ(cpu().seg[DS].base, 0x4000u);
}

TEST_F(SysSegLoad, LssFaultLeavesDestination) {
  protected32(0);
  poke<uint32_t>(0x700, 0x11223344);
  poke<uint16_t>(0x704, 0);  // null SS
  cpu().gpr[RBX] = 0x700;
  cpu().gpr[RAX] = 0x55;
  const Snapshot s = snapshot();
  expect_fault(exec({0x0f, 0xb2, 0x03}), kGP, 0);  // lss eax, [ebx]
  expect_unchanged(s);
}

TEST_F(SysSegLoad, LssDoesNotSetShadow16BitForm) {
  protected32(0);
  poke<uint16_t>(0x700, 0x8000);
  poke<uint16_t>(0x702, kData0);
  cpu().gpr[RBX] = 0x700;
  cpu().gpr[RSP] = 0x12340000;
  ASSERT_FALSE(exec({0x66, 0x0f, 0xb2, 0x23}).faulted);  // lss sp, [ebx]
  EXPECT_EQ(cpu().gpr[RSP], 0x12348000u);
  EXPECT_EQ(cpu().interrupt_shadow, 0);
}

TEST_F(SysSegLoad, LgsIn64BitModeWithRexW) {
  long64(0);
  poke<uint64_t>(0x700, 0x1122334455667788ull);
  poke<uint16_t>(0x708, kData0);
  cpu().gpr[RBX] = 0x700;
  ASSERT_FALSE(exec({0x48, 0x0f, 0xb5, 0x03}).faulted);  // lgs rax, [rbx]
  EXPECT_EQ(cpu().gpr[RAX], 0x1122334455667788ull);
  EXPECT_EQ(cpu().seg[GS].selector, kData0);
}

TEST_F(SysSegLoad, LoadFromCpl3UsesImplicitSupervisorTableReads) {
  protected32(3);
  cpu().gpr[RAX] = kData3;
  ASSERT_FALSE(exec({0x8e, 0xd8}).faulted);
  EXPECT_EQ(cpu().seg[DS].selector, kData3);
}

}  // namespace
}  // namespace umbra::test

namespace umbra::test {
namespace {

// POP SS releases its slot with the stack size in force before SS changed: from a 32-bit stack
// to a 16-bit SS, ESP is incremented as a 32-bit value.
TEST_F(SysSegLoad, PopSsUsesOldStackSize) {
  protected32(0);
  set_gdt(16, make_desc(0, 0xffff, access(0x3, 0), 0));  // 16-bit data
  cpu().gpr[RSP] = 0x1fffc;
  poke<uint32_t>(0x1fffc, sel_of(16));
  ASSERT_FALSE(exec({0x17}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x20000u);
  EXPECT_EQ(cpu().stack32, 0);
}

TEST_F(SysSegLoad, LldtIa32eSixteenByteDescriptor) {
  long64(0);
  set_gdt(16, system_desc(0x00345000, 0xfff, 2));
  set_gdt(17, 0xffff'8000ull);
  cpu().gpr[RAX] = sel_of(16);
  ASSERT_FALSE(exec({0x0f, 0x00, 0xd0}).faulted);
  EXPECT_EQ(cpu().ldtr.base, 0xffff'8000'0034'5000ull);
  set_gdt(17, 0x0000'8000ull);  // non-canonical base
  expect_fault(exec({0x0f, 0x00, 0xd0}), kGP, sel_of(16));
}

}  // namespace
}  // namespace umbra::test
