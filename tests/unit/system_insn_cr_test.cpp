// MOV to/from CR0, CR2, CR3, CR4, CR8 and CLTS: privilege, reserved bits, invalid combinations,
// IA-32e mode activation and deactivation, PCID rules, PAE PDPTE loading and TLB flushes.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/semantics/system_control.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

// Runs MOV CRn, RAX with RAX = v.
Outcome write_cr(TestCpu& t, unsigned cr, uint64_t v, unsigned opsize = 8) {
  t.cpu().gpr[RAX] = v;
  Insn i = mov_to_cr(cr, RAX, opsize);
  return t.run(i);
}

uint64_t read_cr(TestCpu& t, unsigned cr, unsigned opsize = 8) {
  t.cpu().gpr[RBX] = 0xdeadbeefdeadbeefull;
  Insn i = mov_from_cr(RBX, cr, opsize);
  Outcome o = t.run(i);
  EXPECT_FALSE(o.faulted);
  return t.cpu().gpr[RBX];
}

TEST(SysInsnCr, EveryAccessNeedsCpl0) {
  for (unsigned cpl : {1u, 2u, 3u}) {
    for (unsigned cr : {0u, 2u, 3u, 4u, 8u}) {
      TestCpu t;
      auto& c = t.cpu();
      enter_long_mode(c, cpl);
      const uint64_t cr0 = c.cr0, cr4 = c.cr4;
      Outcome o = write_cr(t, cr, 0);
      EXPECT_EQ(fault_of(o), kGP) << "write CR" << cr << " at CPL " << cpl;
      EXPECT_EQ(o.error_code, 0u);
      EXPECT_EQ(c.rip, kSysRip);
      EXPECT_EQ(c.cr0, cr0);
      EXPECT_EQ(c.cr4, cr4);
      c.gpr[RBX] = 7;
      Insn r = mov_from_cr(RBX, cr);
      EXPECT_EQ(fault_of(t.run(r)), kGP) << "read CR" << cr << " at CPL " << cpl;
      EXPECT_EQ(c.gpr[RBX], 7u);
    }
  }
}

TEST(SysInsnCr, V86ModeIsCpl3) {
  TestCpu t;
  enter_v86(t.cpu(), 3);
  EXPECT_EQ(fault_of(write_cr(t, 0, cr0::PE | cr0::ET, 4)), kGP);
  Insn clts = simple_insn(Op::CLTS);
  EXPECT_EQ(fault_of(t.run(clts)), kGP);
}

TEST(SysInsnCr, ReadsAndWritesAdvanceRip) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  ASSERT_FALSE(write_cr(t, 2, 0xffff800012345678ull).faulted);
  EXPECT_EQ(c.cr2, 0xffff800012345678ull);
  EXPECT_EQ(c.rip, kSysRip + 3);
  EXPECT_EQ(read_cr(t, 2), 0xffff800012345678ull);
  EXPECT_EQ(c.rip, kSysRip + 6);
}

TEST(SysInsnCr, Cr0ReadsEtAsOneAnd32BitReadsZeroExtend) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  c.cr0 = cr0::PE;  // ET clear in the stored value: still reads as 1
  EXPECT_EQ(read_cr(t, 0, 4), cr0::PE | cr0::ET);
}

TEST(SysInsnCr, Cr0UpperHalfIsReserved) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  const uint64_t before = c.cr0;
  EXPECT_EQ(fault_of(write_cr(t, 0, before | (uint64_t{1} << 32))), kGP);
  EXPECT_EQ(c.cr0, before);
}

TEST(SysInsnCr, Cr0LowReservedBitsAreIgnoredAndEtStaysSet) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  // Bits 6..15, 17, 19..28 are reserved and ignored; ET cannot be cleared.
  ASSERT_FALSE(write_cr(t, 0, cr0::PE | 0x0ffaffc0u, 4).faulted);
  EXPECT_EQ(c.cr0, cr0::PE | cr0::ET);
  ASSERT_FALSE(
      write_cr(t, 0, cr0::PE | cr0::MP | cr0::TS | cr0::NE | cr0::WP | cr0::AM, 4).faulted);
  EXPECT_EQ(c.cr0, cr0::PE | cr0::MP | cr0::TS | cr0::NE | cr0::WP | cr0::AM | cr0::ET);
}

TEST(SysInsnCr, Cr0InvalidCombinations) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  EXPECT_EQ(fault_of(write_cr(t, 0, cr0::PG, 4)), kGP);            // PG without PE
  EXPECT_EQ(fault_of(write_cr(t, 0, cr0::PE | cr0::NW, 4)), kGP);  // NW without CD
  EXPECT_FALSE(write_cr(t, 0, cr0::PE | cr0::NW | cr0::CD, 4).faulted);
  EXPECT_EQ(c.cr0, cr0::PE | cr0::NW | cr0::CD | cr0::ET);
}

TEST(SysInsnCr, SettingPeEntersProtectedModeAndClearingItLeaves) {
  TestCpu t;
  auto& c = t.cpu();
  enter_real_mode(c);
  c.seg[CS].attrib = code_attrib(0, false, true);  // a 32-bit code cache, as after a far jump
  ASSERT_FALSE(write_cr(t, 0, cr0::PE, 4).faulted);
  EXPECT_TRUE(protected_mode(c));
  EXPECT_EQ(c.cpl, 0);
  EXPECT_EQ(c.code32, 1);
  ASSERT_FALSE(write_cr(t, 0, 0, 4).faulted);
  EXPECT_FALSE(protected_mode(c));
}

TEST(SysInsnCr, PagingWithLmeActivatesIa32eModeAndClearingPgLeavesIt) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  c.cr4 = cr4::PAE;
  c.efer = efer::LME;
  c.cr3 = 0x10000;
  ASSERT_FALSE(write_cr(t, 0, cr0::PE | cr0::PG, 4).faulted);
  EXPECT_TRUE(c.efer & efer::LMA);
  EXPECT_EQ(c.mode64, 0);  // compatibility mode until CS is loaded with a 64-bit segment
  EXPECT_EQ(c.code32, 1);
  EXPECT_EQ(c.rip, kSysRip + 3);
  // Out again (from compatibility mode): LMA clears.
  ASSERT_FALSE(write_cr(t, 0, cr0::PE, 4).faulted);
  EXPECT_FALSE(c.efer & efer::LMA);
  EXPECT_TRUE(c.efer & efer::LME);
}

TEST(SysInsnCr, PagingWithLmeNeedsPae) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  c.efer = efer::LME;
  EXPECT_EQ(fault_of(write_cr(t, 0, cr0::PE | cr0::PG, 4)), kGP);
  EXPECT_FALSE(c.cr0 & cr0::PG);
  EXPECT_EQ(c.efer, efer::LME);
}

TEST(SysInsnCr, ClearingPgIn64BitModeFaults) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  EXPECT_EQ(fault_of(write_cr(t, 0, cr0::PE)), kGP);
  EXPECT_TRUE(c.efer & efer::LMA);
  EXPECT_EQ(c.mode64, 1);
}

TEST(SysInsnCr, ClearingPgWithPcideFaults) {
  TestCpu t;
  auto& c = t.cpu();
  enter_compat_mode(c);
  c.cr4 |= cr4::PCIDE;
  EXPECT_EQ(fault_of(write_cr(t, 0, cr0::PE, 4)), kGP);
  EXPECT_TRUE(c.cr0 & cr0::PG);
}

TEST(SysInsnCr, Cr4BitsTheModelLacksAreReserved) {
  for (uint64_t bit :
       {uint64_t{1} << 13 /* VMXE */, uint64_t{1} << 14 /* SMXE */, cr4::PKE, cr4::VME, cr4::PVI,
        cr4::LA57, uint64_t{1} << 23 /* CET */, uint64_t{1} << 32, uint64_t{1} << 63}) {
    TestCpu t;
    auto& c = t.cpu();
    enter_long_mode(c);
    EXPECT_EQ(fault_of(write_cr(t, 4, c.cr4 | bit)), kGP) << std::hex << bit;
    EXPECT_EQ(c.cr4, cr4::PAE);
  }
  // OSFXSR, OSXMMEXCPT and OSXSAVE on a model without FXSR, SSE and XSAVE.
  const CpuModel no_fp = model_with({}, {Feature::FXSR, Feature::SSE, Feature::XSAVE});
  for (uint64_t bit : {cr4::OSFXSR, cr4::OSXMMEXCPT, cr4::OSXSAVE}) {
    TestCpu t;
    auto& c = t.cpu();
    c.cpu_model = &no_fp;
    enter_long_mode(c);
    EXPECT_EQ(fault_of(write_cr(t, 4, c.cr4 | bit)), kGP) << std::hex << bit;
    EXPECT_EQ(c.cr4, cr4::PAE);
  }
  // The default model has them.
  TestCpu t;
  enter_long_mode(t.cpu());
  EXPECT_FALSE(write_cr(t, 4, cr4::PAE | cr4::OSFXSR | cr4::OSXMMEXCPT | cr4::OSXSAVE).faulted);
}

TEST(SysInsnCr, Cr4SupportedBitsAreWritable) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  const uint64_t v = cr4::PAE | cr4::TSD | cr4::DE | cr4::PSE | cr4::PGE | cr4::PCE |
                     cr4::UMIP | cr4::FSGSBASE | cr4::SMEP | cr4::SMAP;
  ASSERT_FALSE(write_cr(t, 4, v).faulted);
  EXPECT_EQ(read_cr(t, 4), v);
  // No machine-check architecture in the model: CR4.MCE is reserved.
  EXPECT_EQ(fault_of(write_cr(t, 4, v | cr4::MCE)), kGP);
}

TEST(SysInsnCr, Cr4WritableMaskFollowsTheModel) {
  TestCpu t;
  auto& c = t.cpu();
  const CpuModel base = *find_cpu_model("base");
  c.cpu_model = &base;
  enter_long_mode(c);
  EXPECT_EQ(fault_of(write_cr(t, 4, cr4::PAE | cr4::SMEP)), kGP);
  EXPECT_EQ(fault_of(write_cr(t, 4, cr4::PAE | cr4::FSGSBASE)), kGP);
  EXPECT_FALSE(write_cr(t, 4, cr4::PAE | cr4::PGE).faulted);
  // A model with FXSR/SSE (as the FPU work will add) makes OSFXSR/OSXMMEXCPT writable.
  const CpuModel fpu = model_with({Feature::FXSR, Feature::SSE});
  c.cpu_model = &fpu;
  EXPECT_FALSE(write_cr(t, 4, cr4::PAE | cr4::OSFXSR | cr4::OSXMMEXCPT).faulted);
}

TEST(SysInsnCr, ClearingPaeInIa32eModeFaults) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  EXPECT_EQ(fault_of(write_cr(t, 4, 0)), kGP);
  enter_compat_mode(c);
  EXPECT_EQ(fault_of(write_cr(t, 4, cr4::PGE, 4)), kGP);
  EXPECT_EQ(c.cr4, cr4::PAE);
}

TEST(SysInsnCr, La57CannotChangeInIa32eMode) {
  TestCpu t;
  auto& c = t.cpu();
  const CpuModel la57 = model_with({Feature::LA57});
  c.cpu_model = &la57;
  enter_long_mode(c);
  EXPECT_EQ(fault_of(write_cr(t, 4, cr4::PAE | cr4::LA57)), kGP);
  // Outside IA-32e mode it may change.
  enter_protected32(c);
  EXPECT_FALSE(write_cr(t, 4, cr4::PAE | cr4::LA57, 4).faulted);
  EXPECT_EQ(c.cr4, cr4::PAE | cr4::LA57);
}

TEST(SysInsnCr, PcideRules) {
  TestCpu t;
  auto& c = t.cpu();
  // Only in IA-32e mode.
  enter_protected32(c);
  c.cr4 = cr4::PAE;
  EXPECT_EQ(fault_of(write_cr(t, 4, cr4::PAE | cr4::PCIDE, 4)), kGP);
  // Only with CR3[11:0] = 0.
  enter_long_mode(c);
  c.cr3 = 0x10008;
  EXPECT_EQ(fault_of(write_cr(t, 4, cr4::PAE | cr4::PCIDE)), kGP);
  c.cr3 = 0x10000;
  ASSERT_FALSE(write_cr(t, 4, cr4::PAE | cr4::PCIDE).faulted);
  EXPECT_TRUE(c.cr4 & cr4::PCIDE);
  // Clearing it is always allowed (and flushes).
  touch(t, 0x7000);
  ASSERT_FALSE(write_cr(t, 4, cr4::PAE).faulted);
  EXPECT_FALSE(tlb_holds(t, 0x7000));
}

TEST(SysInsnCr, Cr3ReservedBitsAboveMaxPhyAddr) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  const unsigned m = default_cpu_model().phys_addr_bits;
  EXPECT_EQ(fault_of(write_cr(t, 3, uint64_t{1} << m)), kGP);
  EXPECT_EQ(fault_of(write_cr(t, 3, uint64_t{1} << 63)), kGP);  // no-flush bit needs PCIDE
  EXPECT_EQ(c.cr3, 0u);
  ASSERT_FALSE(write_cr(t, 3, (uint64_t{1} << m) - 0x1000).faulted);
  EXPECT_EQ(c.cr3, (uint64_t{1} << m) - 0x1000);
  // PWT/PCD and the other low bits are kept.
  ASSERT_FALSE(write_cr(t, 3, 0x20018).faulted);
  EXPECT_EQ(read_cr(t, 3), 0x20018u);
}

TEST(SysInsnCr, Cr3In32BitModeTakes32Bits) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  ASSERT_FALSE(write_cr(t, 3, 0xfffff000u, 4).faulted);
  EXPECT_EQ(c.cr3, 0xfffff000u);
  EXPECT_EQ(read_cr(t, 3, 4), 0xfffff000u);
}

TEST(SysInsnCr, Cr3LoadFlushesTheTlb) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  touch(t, 0x5000);
  ASSERT_TRUE(tlb_holds(t, 0x5000));
  ASSERT_FALSE(write_cr(t, 3, 0x30000).faulted);
  EXPECT_FALSE(tlb_holds(t, 0x5000));
}

TEST(SysInsnCr, Cr3NoFlushBitWithPcid) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.cr4 |= cr4::PCIDE;
  c.cr3 = 0x30005;  // PCID 5
  const uint64_t no_flush = uint64_t{1} << 63;
  // Same PCID, bit 63 set: the translations stay; bit 63 is not stored.
  touch(t, 0x5000);
  ASSERT_FALSE(write_cr(t, 3, no_flush | 0x30005).faulted);
  EXPECT_EQ(c.cr3, 0x30005u);
  EXPECT_TRUE(tlb_holds(t, 0x5000));
  // Another PCID, bit 63 set: the fast TLB holds only the old PCID's entries; flushed.
  ASSERT_FALSE(write_cr(t, 3, no_flush | 0x40006).faulted);
  EXPECT_EQ(c.cr3, 0x40006u);
  EXPECT_FALSE(tlb_holds(t, 0x5000));
  // Same PCID without bit 63: flushed.
  touch(t, 0x5000);
  ASSERT_FALSE(write_cr(t, 3, 0x40006).faulted);
  EXPECT_FALSE(tlb_holds(t, 0x5000));
}

TEST(SysInsnCr, PagingControlChangesFlushAndOthersDoNot) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  touch(t, 0x6000);
  ASSERT_FALSE(write_cr(t, 4, cr4::PAE | cr4::TSD).faulted);  // TSD: no translation change
  EXPECT_TRUE(tlb_holds(t, 0x6000));
  ASSERT_FALSE(write_cr(t, 4, cr4::PAE | cr4::TSD | cr4::PGE).faulted);
  EXPECT_FALSE(tlb_holds(t, 0x6000));
  touch(t, 0x6000);
  ASSERT_FALSE(write_cr(t, 0, c.cr0 | cr0::TS).faulted);  // TS: no flush
  EXPECT_TRUE(tlb_holds(t, 0x6000));
  ASSERT_FALSE(write_cr(t, 0, c.cr0 | cr0::WP).faulted);  // WP: cached rights change
  EXPECT_FALSE(tlb_holds(t, 0x6000));
}

// PAE paging (not IA-32e mode): CR3 and paging-control writes load the four PDPTEs and refuse
// reserved bits in a present one (SDM vol. 3, 4.4.1).
TEST(SysInsnCr, PaePdptesAreLoadedAndChecked) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  c.cr4 = cr4::PAE;
  const uint64_t pdpt = 0x9000;
  t.write<uint64_t>(pdpt + 0, 0x11001);
  t.write<uint64_t>(pdpt + 8, 0x12001);
  t.write<uint64_t>(pdpt + 16, 0);
  t.write<uint64_t>(pdpt + 24, 0x13001);
  c.cr3 = pdpt;
  ASSERT_FALSE(write_cr(t, 0, cr0::PE | cr0::PG, 4).faulted);  // enabling PAE paging loads them
  EXPECT_EQ(c.pdpte[0], 0x11001u);
  EXPECT_EQ(c.pdpte[3], 0x13001u);
  // A CR3 whose table has a reserved bit (bit 1) in a present entry: #GP, nothing changes.
  const uint64_t bad = 0xA000;
  t.write<uint64_t>(bad + 0, 0x21003);
  EXPECT_EQ(fault_of(write_cr(t, 3, bad, 4)), kGP);
  EXPECT_EQ(c.cr3, pdpt);
  EXPECT_EQ(c.pdpte[0], 0x11001u);
  // A good one loads.
  t.write<uint64_t>(bad + 0, 0x21001);
  ASSERT_FALSE(write_cr(t, 3, bad, 4).faulted);
  EXPECT_EQ(c.cr3, bad);
  EXPECT_EQ(c.pdpte[0], 0x21001u);
}

TEST(SysInsnCr, Cr8IsTheTaskPriority) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  ASSERT_FALSE(write_cr(t, 8, 0xA).faulted);
  EXPECT_EQ(c.cr8, 0xAu);
  EXPECT_EQ(read_cr(t, 8), 0xAu);
  EXPECT_EQ(fault_of(write_cr(t, 8, 0x10)), kGP);
  EXPECT_EQ(fault_of(write_cr(t, 8, uint64_t{1} << 63)), kGP);
  EXPECT_EQ(c.cr8, 0xAu);
}

TEST(SysInsnCr, CltsClearsTsOnlyAtCpl0) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.cr0 |= cr0::TS | cr0::MP;
  Insn i = simple_insn(Op::CLTS);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.cr0, cr0::PE | cr0::ET | cr0::PG | cr0::MP);
  EXPECT_EQ(c.rip, kSysRip + 2);
  enter_long_mode(c, 3);
  c.cr0 |= cr0::TS;
  EXPECT_EQ(fault_of(t.run(i)), kGP);
  EXPECT_TRUE(c.cr0 & cr0::TS);
}

TEST(SysInsnCr, WriteHelpersAreUsableOutsideInstructions) {
  // write_cr3 is what a task switch uses: check it directly too.
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  write_cr3(c, 0x12345000);
  EXPECT_EQ(c.cr3, 0x12345000u);
}

}  // namespace
}  // namespace umbra::test
