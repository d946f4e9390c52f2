// Group 7 (SGDT SIDT LGDT LIDT SMSW LMSW INVLPG SWAPGS CLAC STAC MONITOR MWAIT), INVPCID, INVD,
// WBINVD: privilege and UMIP checks, operand layouts per mode, TLB effects.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kBuf = 0x8000;
constexpr unsigned kSgdt = 0, kSidt = 1, kLgdt = 2, kLidt = 3, kSmsw = 4, kLmsw = 6, kInvlpg = 7;

TEST(SysInsnGrp7, SgdtSidt64BitStoreTenBytes) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.gdtr = DescriptorTableReg{0xffff800012345678ull, 0x1237};
  c.idtr = DescriptorTableReg{0xffff8000abcdef00ull, 0xfff};
  t.write<uint64_t>(kBuf + 10, 0xcccccccccccccccc);
  c.gpr[RBX] = kBuf;
  Insn s = grp7_mem(kSgdt, RBX, 0);
  ASSERT_FALSE(t.run(s).faulted);
  EXPECT_EQ(t.read<uint16_t>(kBuf), 0x1237);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 2), 0xffff800012345678ull);
  EXPECT_EQ(t.read<uint16_t>(kBuf + 10), 0xcccc);  // nothing beyond the 10 bytes
  Insn si = grp7_mem(kSidt, RBX, 0x20);
  ASSERT_FALSE(t.run(si).faulted);
  EXPECT_EQ(t.read<uint16_t>(kBuf + 0x20), 0xfff);
  EXPECT_EQ(t.read<uint64_t>(kBuf + 0x22), 0xffff8000abcdef00ull);
  EXPECT_EQ(c.rip, kSysRip + 6);
}

TEST(SysInsnGrp7, Sgdt32BitStoresSixBytesWhateverTheOperandSize) {
  for (unsigned opsize : {2u, 4u}) {
    TestCpu t;
    auto& c = t.cpu();
    enter_protected32(c);
    c.gdtr = DescriptorTableReg{0x89abcdef, 0x3ff};
    t.write<uint64_t>(kBuf, ~uint64_t{0});
    c.gpr[RBX] = kBuf;
    Insn s = grp7_mem(kSgdt, RBX, 0, opsize);
    s.addr_size = 4;
    ASSERT_FALSE(t.run(s).faulted);
    EXPECT_EQ(t.read<uint16_t>(kBuf), 0x3ff);
    EXPECT_EQ(t.read<uint32_t>(kBuf + 2), 0x89abcdefu);  // the full 32-bit base
    EXPECT_EQ(t.read<uint16_t>(kBuf + 6), 0xffff);
  }
}

TEST(SysInsnGrp7, SgdtFaultLeavesMemoryUntouched) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  FaultingTranslator ft(0xA000);
  c.translator = &ft;
  tlb_flush_all(c);
  c.gdtr = DescriptorTableReg{0x1000, 0x17};
  t.write<uint16_t>(0x9ffe, 0x5a5a);
  // The limit fits at 9FFEH; the base crosses onto the faulting page.
  c.gpr[RBX] = 0x9ffe;
  Insn s = grp7_mem(kSgdt, RBX, 0);
  Outcome o = t.run(s);
  EXPECT_EQ(fault_of(o), kPF);
  EXPECT_EQ(o.error_code, 2u);
  EXPECT_EQ(t.read<uint16_t>(0x9ffe), 0x5a5a);
  EXPECT_EQ(c.rip, kSysRip);
}

TEST(SysInsnGrp7, UmipMakesStoresPrivileged) {
  for (bool umip : {false, true}) {
    TestCpu t;
    auto& c = t.cpu();
    enter_long_mode(c, 3);
    if (umip) c.cr4 |= cr4::UMIP;
    c.gpr[RBX] = kBuf;
    for (unsigned reg : {kSgdt, kSidt, kSmsw}) {
      Insn s = grp7_mem(reg, RBX, 0);
      if (reg == kSmsw) s.opsize = 2;
      EXPECT_EQ(fault_of(t.run(s)), umip ? kGP : -1) << reg;
    }
    Insn r = grp7_reg(kSmsw, RAX, 8);
    EXPECT_EQ(fault_of(t.run(r)), umip ? kGP : -1);
  }
  // UMIP does not restrict CPL 0.
  TestCpu t;
  enter_long_mode(t.cpu(), 0);
  t.cpu().cr4 |= cr4::UMIP;
  t.cpu().gpr[RBX] = kBuf;
  Insn s = grp7_mem(kSgdt, RBX, 0);
  EXPECT_FALSE(t.run(s).faulted);
}

TEST(SysInsnGrp7, LgdtLidtLoadPerMode) {
  TestCpu t;
  auto& c = t.cpu();
  t.write<uint16_t>(kBuf, 0x4ff);
  t.write<uint64_t>(kBuf + 2, 0xffff8000fedcba98ull);
  c.gpr[RBX] = kBuf;
  // 64-bit mode: 8-byte base.
  enter_long_mode(c);
  Insn l = grp7_mem(kLgdt, RBX, 0);
  ASSERT_FALSE(t.run(l).faulted);
  EXPECT_EQ(c.gdtr.limit, 0x4ffu);
  EXPECT_EQ(c.gdtr.base, 0xffff8000fedcba98ull);
  // 32-bit operand size: 4 bytes.
  enter_protected32(c);
  Insn li = grp7_mem(kLidt, RBX, 0, 4);
  li.addr_size = 4;
  ASSERT_FALSE(t.run(li).faulted);
  EXPECT_EQ(c.idtr.limit, 0x4ffu);
  EXPECT_EQ(c.idtr.base, 0xfedcba98u);
  // 16-bit operand size: 24 bits.
  Insn l16 = grp7_mem(kLgdt, RBX, 0, 2);
  l16.addr_size = 4;
  ASSERT_FALSE(t.run(l16).faulted);
  EXPECT_EQ(c.gdtr.base, 0xdcba98u);
}

TEST(SysInsnGrp7, LgdtLidtNeedCpl0) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c, 3);
  c.gpr[RBX] = ~uint64_t{0} << 50;  // a non-canonical operand: the CPL check comes first
  for (unsigned reg : {kLgdt, kLidt}) {
    Insn l = grp7_mem(reg, RBX, 0);
    Outcome o = t.run(l);
    EXPECT_EQ(fault_of(o), kGP);
    EXPECT_EQ(o.error_code, 0u);
  }
  EXPECT_EQ(c.gdtr.base, 0u);
}

TEST(SysInsnGrp7, SmswRegisterSizesAndMemoryWord) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.cr0 |= cr0::TS | cr0::NE;
  const uint64_t cr0v = c.cr0;
  c.gpr[RCX] = 0x1111111111111111ull;
  Insn r16 = grp7_reg(kSmsw, RCX, 2);
  ASSERT_FALSE(t.run(r16).faulted);
  EXPECT_EQ(c.gpr[RCX], 0x1111111111110000ull | (cr0v & 0xffff));
  Insn r32 = grp7_reg(kSmsw, RCX, 4);
  ASSERT_FALSE(t.run(r32).faulted);
  EXPECT_EQ(c.gpr[RCX], cr0v & 0xffffffff);
  Insn r64 = grp7_reg(kSmsw, RCX, 8);
  ASSERT_FALSE(t.run(r64).faulted);
  EXPECT_EQ(c.gpr[RCX], cr0v);
  t.write<uint32_t>(kBuf, 0xaaaaaaaa);
  c.gpr[RBX] = kBuf;
  Insn m = grp7_mem(kSmsw, RBX, 0, 4);  // memory form stores 16 bits
  ASSERT_FALSE(t.run(m).faulted);
  EXPECT_EQ(t.read<uint32_t>(kBuf), 0xaaaa0000u | (cr0v & 0xffff));
}

TEST(SysInsnGrp7, LmswSetsPeButNeverClearsIt) {
  TestCpu t;
  auto& c = t.cpu();
  enter_real_mode(c);
  c.gpr[RAX] = 0xfff1;  // PE plus bits above 3, which LMSW ignores
  Insn l = grp7_reg(kLmsw, RAX, 2);
  ASSERT_FALSE(t.run(l).faulted);
  EXPECT_EQ(c.cr0, cr0::ET | cr0::PE);
  EXPECT_TRUE(protected_mode(c));
  c.gpr[RAX] = cr0::MP | cr0::TS;  // PE clear in the source: PE stays
  ASSERT_FALSE(t.run(l).faulted);
  EXPECT_EQ(c.cr0, cr0::ET | cr0::PE | cr0::MP | cr0::TS);
  // Memory form.
  t.write<uint16_t>(kBuf, cr0::EM);
  c.gpr[RBX] = kBuf;
  Insn m = grp7_mem(kLmsw, RBX, 0, 2);
  m.addr_size = 4;
  ASSERT_FALSE(t.run(m).faulted);
  EXPECT_EQ(c.cr0, cr0::ET | cr0::PE | cr0::EM);
  // Privileged.
  enter_long_mode(c, 3);
  EXPECT_EQ(fault_of(t.run(l)), kGP);
}

TEST(SysInsnGrp7, InvlpgDropsThePageOnly) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  // 4-level paging: INVLPG drops the 1-GByte region around the page (the fast TLB does not
  // know page sizes); another region survives.
  plant(t, 0x200000);
  plant(t, 0x80000000);
  c.gpr[RBX] = 0x200000;
  Insn i = grp7_mem(kInvlpg, RBX, 0x10, 1);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_FALSE(tlb_holds(t, 0x200000));
  EXPECT_TRUE(tlb_holds(t, 0x80000000));
  EXPECT_EQ(c.rip, kSysRip + 3);
  // Non-canonical: no fault, nothing invalidated.
  c.gpr[RBX] = ~uint64_t{0} << 50;
  EXPECT_FALSE(t.run(i).faulted);
  EXPECT_TRUE(tlb_holds(t, 0x80000000));
  // Privileged.
  enter_long_mode(c, 3);
  EXPECT_EQ(fault_of(t.run(i)), kGP);
}

TEST(SysInsnGrp7, InvlpgUsesTheSegmentBaseIn32BitMode) {
  TestCpu t;
  auto& c = t.cpu();
  enter_protected32(c);
  c.cr0 |= cr0::PG;  // 32-bit paging: 4-MByte regions
  c.seg[DS].base = 0x400000;
  plant(t, 0x401000);
  plant(t, 0x001000);
  c.gpr[RBX] = 0x1000;
  Insn i = grp7_mem(kInvlpg, RBX, 0, 1);
  i.addr_size = 4;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_FALSE(tlb_holds(t, 0x401000));
  EXPECT_TRUE(tlb_holds(t, 0x001000));
}

TEST(SysInsnGrp7, SwapgsExchangesBases) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.seg[GS].base = 0x1111;
  c.msr_kernel_gs_base = 0xffff800000002222ull;
  Insn i = grp7_reg(7, 0);
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.seg[GS].base, 0xffff800000002222ull);
  EXPECT_EQ(c.msr_kernel_gs_base, 0x1111u);
  enter_long_mode(c, 3);
  c.seg[GS].base = 0x1111;
  EXPECT_EQ(fault_of(t.run(i)), kGP);
  EXPECT_EQ(c.seg[GS].base, 0x1111u);
  EXPECT_EQ(c.msr_kernel_gs_base, 0x1111u);
}

TEST(SysInsnGrp7, ClacStac) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  Insn stac = grp7_reg(1, 3);
  Insn clac = grp7_reg(1, 2);
  ASSERT_FALSE(t.run(stac).faulted);
  EXPECT_TRUE(c.rflags & rf::AC);
  ASSERT_FALSE(t.run(clac).faulted);
  EXPECT_FALSE(c.rflags & rf::AC);
  // CPL > 0: #UD (not #GP).
  enter_long_mode(c, 3);
  EXPECT_EQ(fault_of(t.run(stac)), kUD);
  // A model without SMAP: #UD.
  const CpuModel base = *find_cpu_model("base");
  c.cpu_model = &base;
  enter_long_mode(c, 0);
  EXPECT_EQ(fault_of(t.run(clac)), kUD);
}

TEST(SysInsnGrp7, AcChangeUnderSmapFlushesTheTlb) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.cr4 |= cr4::SMAP;
  touch(t, 0x3000);
  Insn stac = grp7_reg(1, 3);
  ASSERT_FALSE(t.run(stac).faulted);
  EXPECT_FALSE(tlb_holds(t, 0x3000));
}

TEST(SysInsnGrp7, MonitorMwaitAndAmdMembersAreUd) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  const uint64_t before = unimplemented_count(Op::GRP7);
  for (auto [reg, rm] : {std::pair{1u, 0u}, {1u, 1u}, {7u, 2u}, {7u, 3u}, {7u, 4u}}) {
    Insn i = grp7_reg(reg, rm);
    EXPECT_EQ(fault_of(t.run(i)), kUD) << reg << "/" << rm;
  }
  EXPECT_EQ(unimplemented_count(Op::GRP7), before);
  // XGETBV (fp_state_xsave.cpp) is #UD while CR4.OSXSAVE is clear, not unimplemented.
  Insn x = grp7_reg(2, 0);
  EXPECT_EQ(fault_of(t.run(x)), kUD);
  EXPECT_EQ(unimplemented_count(Op::GRP7), before);
}

// ---- INVPCID ----

// INVPCID RCX, [RBX]
Insn invpcid_insn() {
  Insn i = make_insn(Op::INVPCID, 8, 5);
  i.dst = reg_operand(RCX);
  i.src = mem_operand();
  set_mem(i, RBX, 0);
  return i;
}

struct InvpcidCase {
  TestCpu t;
  Insn i = invpcid_insn();
  Outcome run(uint64_t type, uint64_t pcid, uint64_t address) {
    t.write<uint64_t>(kBuf, pcid);
    t.write<uint64_t>(kBuf + 8, address);
    t.cpu().gpr[RCX] = type;
    t.cpu().gpr[RBX] = kBuf;
    return t.run(i);
  }
};

TEST(SysInsnInvpcid, TypesAndFlushes) {
  InvpcidCase k;
  auto& c = k.t.cpu();
  enter_long_mode(c);
  c.cr4 |= cr4::PCIDE;
  plant(k.t, 0x200000);
  plant(k.t, 0x80000000);
  ASSERT_FALSE(k.run(0, 3, 0x200000).faulted);  // individual address
  EXPECT_FALSE(tlb_holds(k.t, 0x200000));
  EXPECT_TRUE(tlb_holds(k.t, 0x80000000));
  for (uint64_t type : {1u, 2u, 3u}) {
    plant(k.t, 0x80000000);
    ASSERT_FALSE(k.run(type, type == 1 ? 7 : 0, 0).faulted) << type;
    EXPECT_FALSE(tlb_holds(k.t, 0x80000000)) << type;
  }
  EXPECT_EQ(c.rip, kSysRip + 4 * 5);
}

TEST(SysInsnInvpcid, Faults) {
  InvpcidCase k;
  auto& c = k.t.cpu();
  enter_long_mode(c);
  c.cr4 |= cr4::PCIDE;
  EXPECT_EQ(fault_of(k.run(4, 0, 0)), kGP);                   // invalid type
  EXPECT_EQ(fault_of(k.run(1, 0x1000, 0)), kGP);              // descriptor bits 63:12
  EXPECT_EQ(fault_of(k.run(0, 1, ~uint64_t{0} << 50)), kGP);  // non-canonical address
  EXPECT_EQ(fault_of(k.run(2, 0x1000, 0)), kGP);              // ... for every type
  EXPECT_FALSE(k.run(2, 0, ~uint64_t{0} << 50).faulted);      // types 2/3: no address
  c.cr4 &= ~cr4::PCIDE;
  EXPECT_EQ(fault_of(k.run(0, 1, 0x1000)), kGP);  // PCID != 0 without PCIDE
  EXPECT_EQ(fault_of(k.run(1, 1, 0)), kGP);
  EXPECT_FALSE(k.run(1, 0, 0).faulted);
  enter_long_mode(c, 3);
  EXPECT_EQ(fault_of(k.run(2, 0, 0)), kGP);  // privileged
  const CpuModel base = *find_cpu_model("base");
  c.cpu_model = &base;
  enter_long_mode(c, 0);
  EXPECT_EQ(fault_of(k.run(2, 0, 0)), kUD);  // not on this model
}

TEST(SysInsnCache, InvdWbinvdArePrivilegedNoOps) {
  for (Op op : {Op::INVD, Op::WBINVD}) {
    TestCpu t;
    auto& c = t.cpu();
    enter_long_mode(c);
    Insn i = simple_insn(op);
    ASSERT_FALSE(t.run(i).faulted);
    EXPECT_EQ(c.rip, kSysRip + 2);
    enter_long_mode(c, 3);
    EXPECT_EQ(fault_of(t.run(i)), kGP);
  }
}

}  // namespace
}  // namespace umbra::test
