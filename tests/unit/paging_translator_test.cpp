// The paging translator (softmmu/paging_translator.h): what it grants the fast TLB, the #PF it
// raises, the access path through access.cpp with it installed, implicit supervisor accesses,
// and the TLB rules the system code follows.
#include "softmmu/paging_translator.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/system/cpu_model.h"
#include "softmmu/access.h"
#include "tests/unit/page_table_builder.h"

namespace umbra {
namespace {

using test::PageTables;
using test::PagingCpu;

// A 4-level machine with the translator installed and one 4-KiB page mapped.
struct Machine {
  static constexpr uint64_t kLinear = 0x00007f8123456000ull;
  static constexpr uint64_t kFrame = 0x00400000ull;  // in RAM

  PagingCpu pc;
  PagingTranslator translator;
  PageTables tables{pc, PagingMode::k4Level};

  explicit Machine(uint64_t leaf_flags) {
    pc.enter(PagingMode::k4Level);
    cpu().cr3 = tables.cr3();
    cpu().translator = &translator;
    tables.map(kLinear, kFrame, 1, leaf_flags);
  }
  CpuState& cpu() { return pc.cpu(); }
  uint64_t pte_addr() { return tables.entry_addr(kLinear, 1); }
  uint64_t pte() { return tables.read_entry(pte_addr()); }
};

TEST(PagingTranslator, IdentityWhenPagingOff) {
  PagingCpu pc;
  PagingTranslator t;
  pc.enter(PagingMode::kNone);
  pc.cpu().cpl = 3;
  Translation tr = t.translate(pc.cpu(), 0x12345678, Access::Write);
  EXPECT_EQ(tr.paddr, 0x12345678u);
  EXPECT_TRUE(tr.writable);
  EXPECT_TRUE(tr.executable);
  EXPECT_EQ(t.stats().identity, 1u);
  EXPECT_EQ(t.stats().walks, 0u);
}

TEST(PagingTranslator, RaisesPageFaultWithErrorCodeAndCr2) {
  Machine m(pte::P | pte::RW);  // supervisor page
  CpuState& cpu = m.cpu();
  cpu.cpl = 3;
  uint64_t addr = Machine::kLinear + 0x123;
  EXPECT_TRUE(m.pc.faults([&] { m.translator.translate(cpu, addr, Access::Write); }));
  EXPECT_EQ(cpu.pending_fault_vector, kPF);
  EXPECT_EQ(cpu.pending_fault_error, pf_error::P | pf_error::W | pf_error::U);
  EXPECT_EQ(cpu.pending_fault_addr, addr);
  // Not present one page further.
  EXPECT_TRUE(m.pc.faults([&] { m.translator.translate(cpu, addr + kPageSize, Access::Read); }));
  EXPECT_EQ(cpu.pending_fault_error, pf_error::U);
  EXPECT_EQ(cpu.pending_fault_addr, addr + kPageSize);
  const PagingStats& st = m.translator.stats();
  EXPECT_EQ(st.walks, 2u);
  EXPECT_EQ(st.faults[static_cast<unsigned>(WalkStatus::kUserToSupervisor)], 1u);
  EXPECT_EQ(st.faults[static_cast<unsigned>(WalkStatus::kNotPresent)], 1u);
  EXPECT_EQ(st.faults_total(), 2u);
  // No A bit was set by either faulting walk.
  EXPECT_EQ(m.pte() & pte::A, 0u);
}

TEST(PagingTranslator, WritableOnlyOnceDirty) {
  Machine m(pte::P | pte::RW | pte::US);
  CpuState& cpu = m.cpu();
  cpu.cpl = 3;
  Translation tr = m.translator.translate(cpu, Machine::kLinear, Access::Read);
  EXPECT_EQ(tr.paddr, Machine::kFrame);
  EXPECT_FALSE(tr.writable);  // D clear: the first write must come back to set it
  EXPECT_TRUE(tr.executable);
  EXPECT_EQ(m.pte() & (pte::A | pte::D), pte::A);
  tr = m.translator.translate(cpu, Machine::kLinear, Access::Write);
  EXPECT_TRUE(tr.writable);
  EXPECT_EQ(m.pte() & (pte::A | pte::D), pte::A | pte::D);
  tr = m.translator.translate(cpu, Machine::kLinear, Access::Read);
  EXPECT_TRUE(tr.writable);
  // A dirty but read-only page is not writable; nor for a supervisor once CR0.WP = 1. The entry
  // is rewritten behind the translation cache's back (not a traced guest write) and CR0 is
  // changed directly, so the test flushes as the system code would (paging_translator.h).
  m.tables.write_entry(m.pte_addr(), m.pte() & ~pte::RW);
  tlb_flush_all(cpu);
  EXPECT_FALSE(m.translator.translate(cpu, Machine::kLinear, Access::Read).writable);
  cpu.cpl = 0;
  EXPECT_TRUE(m.translator.translate(cpu, Machine::kLinear, Access::Read).writable);
  cpu.cr0 |= cr0::WP;
  tlb_flush_all(cpu);
  EXPECT_FALSE(m.translator.translate(cpu, Machine::kLinear, Access::Read).writable);
}

TEST(PagingTranslator, ExecutableFollowsFetchRights) {
  Machine m(pte::P | pte::RW | pte::US | pte::XD);
  CpuState& cpu = m.cpu();
  cpu.efer |= efer::NXE;
  cpu.cpl = 3;
  EXPECT_FALSE(m.translator.translate(cpu, Machine::kLinear, Access::Read).executable);
  EXPECT_TRUE(m.pc.faults([&] { m.translator.translate(cpu, Machine::kLinear, Access::Exec); }));
  EXPECT_EQ(cpu.pending_fault_error, pf_error::P | pf_error::U | pf_error::ID);
  // Untraced entry and CR4 changes: flushed as the system code would (paging_translator.h).
  m.tables.write_entry(m.pte_addr(), m.pte() & ~pte::XD);
  tlb_flush_all(cpu);
  EXPECT_TRUE(m.translator.translate(cpu, Machine::kLinear, Access::Read).executable);
  // SMEP: the user page is not executable for the supervisor.
  cpu.cr4 |= cr4::SMEP;
  tlb_flush_all(cpu);
  cpu.cpl = 0;
  EXPECT_FALSE(m.translator.translate(cpu, Machine::kLinear, Access::Read).executable);
}

TEST(PagingTranslator, AccessPathFillsTlbAndFirstWriteSetsDirty) {
  Machine m(pte::P | pte::RW | pte::US);
  CpuState& cpu = m.cpu();
  m.pc.write<uint32_t>(Machine::kFrame + 0x10, 0xcafef00d);
  bool faulted = m.pc.faults(
      [&] { EXPECT_EQ(read_mem<uint32_t>(cpu, Machine::kLinear + 0x10), 0xcafef00du); });
  ASSERT_FALSE(faulted);
  const TlbEntry& e = tlb_entry(cpu, Machine::kLinear);
  EXPECT_EQ(e.tag_read, Machine::kLinear);
  EXPECT_EQ(e.tag_write, kTlbInvalid);  // clean page: writes go to the slow path
  EXPECT_EQ(e.tag_exec, Machine::kLinear);
  EXPECT_EQ(m.translator.stats().walks, 1u);
  EXPECT_EQ(m.pte() & pte::D, 0u);

  faulted = m.pc.faults([&] { write_mem<uint32_t>(cpu, Machine::kLinear + 0x20, 0x11223344); });
  ASSERT_FALSE(faulted);
  EXPECT_EQ(m.translator.stats().walks, 2u);
  EXPECT_NE(m.pte() & pte::D, 0u);
  EXPECT_EQ(e.tag_write, Machine::kLinear);
  EXPECT_EQ(m.pc.read<uint32_t>(Machine::kFrame + 0x20), 0x11223344u);
  // Now on the fast path: no more walks.
  faulted = m.pc.faults([&] {
    write_mem<uint32_t>(cpu, Machine::kLinear + 0x24, 1);
    EXPECT_EQ(read_mem<uint32_t>(cpu, Machine::kLinear + 0x20), 0x11223344u);
  });
  ASSERT_FALSE(faulted);
  EXPECT_EQ(m.translator.stats().walks, 2u);
}

TEST(PagingTranslator, ImplicitSupervisorAccesses) {
  Machine m(pte::P | pte::RW);  // a supervisor page, e.g. holding the GDT
  CpuState& cpu = m.cpu();
  m.pc.write<uint64_t>(Machine::kFrame + 8, 0x00cf9a000000ffffull);
  cpu.cpl = 3;
  uint64_t v = 0;
  ASSERT_FALSE(m.pc.faults([&] { v = read_implicit(cpu, Machine::kLinear + 8, 8); }));
  EXPECT_EQ(v, 0x00cf9a000000ffffull);
  ASSERT_FALSE(m.pc.faults([&] { write_implicit(cpu, Machine::kLinear + 13, 1, 0x9b); }));
  EXPECT_EQ(m.pc.read<uint8_t>(Machine::kFrame + 13), 0x9b);
  EXPECT_NE(m.pte() & pte::D, 0u);
  // The same read as an explicit user access faults.
  EXPECT_TRUE(m.pc.faults([&] { read_mem<uint64_t>(cpu, Machine::kLinear + 8); }));
  EXPECT_EQ(cpu.pending_fault_error, pf_error::P | pf_error::U);
  // Nothing was cached for the implicit accesses.
  EXPECT_EQ(tlb_entry(cpu, Machine::kLinear).tag_read, kTlbInvalid);

  // SMAP on a user page: explicit supervisor access with AC = 1 passes, implicit faults (U/S=0).
  m.tables.write_entry(m.pte_addr(), m.pte() | pte::US);
  cpu.cpl = 0;
  cpu.cr4 |= cr4::SMAP;
  cpu.rflags |= rf::AC;
  EXPECT_FALSE(m.pc.faults([&] { read_mem<uint64_t>(cpu, Machine::kLinear + 8); }));
  EXPECT_TRUE(m.pc.faults([&] { read_implicit(cpu, Machine::kLinear + 8, 8); }));
  EXPECT_EQ(cpu.pending_fault_error, pf_error::P);
  EXPECT_EQ(cpu.pending_fault_addr, Machine::kLinear + 8);
}

TEST(PagingTranslator, ImplicitPageCrossingChecksBothPagesFirst) {
  Machine m(pte::P | pte::RW);
  CpuState& cpu = m.cpu();
  uint64_t last = Machine::kLinear + kPageSize - 4;
  m.pc.write<uint32_t>(Machine::kFrame + kPageSize - 4, 0xaaaaaaaa);
  // The next page is not mapped: an 8-byte access across the boundary faults on it, with CR2 at
  // its first byte, and writes nothing.
  EXPECT_TRUE(m.pc.faults([&] { write_implicit(cpu, last, 8, 0x1111111122222222ull); }));
  EXPECT_EQ(cpu.pending_fault_addr, Machine::kLinear + kPageSize);
  EXPECT_EQ(cpu.pending_fault_error, pf_error::W);
  EXPECT_EQ(m.pc.read<uint32_t>(Machine::kFrame + kPageSize - 4), 0xaaaaaaaau);
  // Mapped (to a discontiguous frame), the access is split across the frames.
  m.tables.map(Machine::kLinear + kPageSize, 0x00800000, 1, pte::P | pte::RW);
  m.pc.write<uint32_t>(0x00800000, 0xbbbbbbbb);
  uint64_t v = 0;
  ASSERT_FALSE(m.pc.faults([&] { v = read_implicit(cpu, last, 8); }));
  EXPECT_EQ(v, 0xbbbbbbbbaaaaaaaaull);
  ASSERT_FALSE(m.pc.faults([&] { write_implicit(cpu, last, 8, 0x1111111122222222ull); }));
  EXPECT_EQ(m.pc.read<uint32_t>(Machine::kFrame + kPageSize - 4), 0x22222222u);
  EXPECT_EQ(m.pc.read<uint32_t>(0x00800000), 0x11111111u);
}

TEST(PagingTranslator, ImplicitWithOtherTranslator) {
  PagingCpu pc;
  IdentityTranslator identity;
  pc.cpu().translator = &identity;
  pc.write<uint32_t>(0x5000, 0x12345678);
  uint64_t v = 0;
  ASSERT_FALSE(pc.faults([&] { v = read_implicit(pc.cpu(), 0x5000, 4); }));
  EXPECT_EQ(v, 0x12345678u);
  // With the A20 gate closed, 1 MiB + x wraps to x, as for explicit accesses.
  pc.cpu().a20_off = 1;
  ASSERT_FALSE(pc.faults([&] { v = read_implicit(pc.cpu(), 0x105000, 4); }));
  EXPECT_EQ(v, 0x12345678u);
  ASSERT_FALSE(pc.faults([&] { write_implicit(pc.cpu(), 0x105004, 2, 0xabcd); }));
  EXPECT_EQ(pc.read<uint16_t>(0x5004), 0xabcd);
}

TEST(PagingTranslator, PrivilegeChangeFlush) {
  Machine m(pte::P | pte::RW);  // supervisor page
  CpuState& cpu = m.cpu();
  EXPECT_EQ(tlb_privilege_view(cpu), 0);
  ASSERT_FALSE(m.pc.faults([&] { read_mem<uint32_t>(cpu, Machine::kLinear); }));
  // Dropping to CPL 3 without the flush would leave the supervisor translation usable: the rule
  // exists because the fast TLB is one table for every privilege.
  uint8_t before = tlb_privilege_view(cpu);
  cpu.cpl = 3;
  EXPECT_FALSE(m.pc.faults([&] { read_mem<uint32_t>(cpu, Machine::kLinear); }));
  tlb_flush_for_privilege_change(cpu, before);
  EXPECT_EQ(tlb_entry(cpu, Machine::kLinear).tag_read, kTlbInvalid);
  EXPECT_TRUE(m.pc.faults([&] { read_mem<uint32_t>(cpu, Machine::kLinear); }));
  EXPECT_EQ(tlb_privilege_view(cpu), 1);

  // AC matters only with SMAP at CPL < 3.
  cpu.cpl = 0;
  cpu.rflags |= rf::AC;
  EXPECT_EQ(tlb_privilege_view(cpu), 0);
  cpu.cr4 |= cr4::SMAP;
  EXPECT_EQ(tlb_privilege_view(cpu), 2);
  cpu.cpl = 3;
  EXPECT_EQ(tlb_privilege_view(cpu), 1);

  // Unchanged view: no flush.
  cpu.cpl = 0;
  cpu.rflags &= ~rf::AC;
  ASSERT_FALSE(m.pc.faults([&] { read_mem<uint32_t>(cpu, Machine::kLinear); }));
  before = tlb_privilege_view(cpu);
  cpu.cpl = 1;
  tlb_flush_for_privilege_change(cpu, before);
  EXPECT_EQ(tlb_entry(cpu, Machine::kLinear).tag_read, Machine::kLinear);
}

TEST(PagingTranslator, InvlpgDropsTheLargestPageRegion) {
  struct Case {
    PagingMode mode;
    uint64_t region;
  };
  for (Case c : {Case{PagingMode::k32Bit, 4u << 20}, Case{PagingMode::kPae, 2u << 20},
                 Case{PagingMode::k4Level, 1u << 30}}) {
    PagingCpu pc;
    pc.enter(c.mode);
    CpuState& cpu = pc.cpu();
    uint64_t base = 0x40000000;  // aligned for every region size
    // Distinct fast-TLB slots for all five addresses, whatever the region size.
    uint64_t inside[] = {base + 0x1000, base + c.region / 2 + 0x5000, base + c.region - 0x2000};
    uint64_t outside[] = {base - 0x3000, base + c.region + 0x7000};
    for (uint64_t a : inside) tlb_entry(cpu, a) = TlbEntry{a, a, a, 1};
    for (uint64_t a : outside) tlb_entry(cpu, a) = TlbEntry{a, kTlbInvalid, a, 1};
    tlb_invlpg(cpu, base + c.region / 2 + 0x123);
    for (uint64_t a : inside) EXPECT_EQ(tlb_entry(cpu, a).tag_read, kTlbInvalid) << std::hex << a;
    for (uint64_t a : outside) EXPECT_EQ(tlb_entry(cpu, a).tag_read, a) << std::hex << a;
  }
}

TEST(PagingTranslator, PagingFlushNeeded) {
  const uint64_t cr0v = cr0::PE | cr0::PG, cr4v = cr4::PAE, eferv = efer::LME | efer::LMA;
  EXPECT_FALSE(paging_flush_needed(cr0v, cr4v, eferv, cr0v, cr4v, eferv));
  EXPECT_FALSE(paging_flush_needed(cr0v, cr4v, eferv, cr0v | cr0::TS, cr4v | cr4::OSFXSR,
                                   eferv | efer::SCE));
  EXPECT_TRUE(paging_flush_needed(cr0v, cr4v, eferv, cr0v | cr0::WP, cr4v, eferv));
  EXPECT_TRUE(paging_flush_needed(cr0v, cr4v, eferv, cr0::PE, cr4v, eferv));
  for (uint64_t bit : {cr4::PSE, cr4::PGE, cr4::SMEP, cr4::SMAP, cr4::PCIDE, cr4::LA57})
    EXPECT_TRUE(paging_flush_needed(cr0v, cr4v, eferv, cr0v, cr4v | bit, eferv));
  EXPECT_TRUE(paging_flush_needed(cr0v, cr4v, eferv, cr0v, cr4v, eferv | efer::NXE));
}

TEST(PagingTranslator, FeaturesComeFromTheCpuModel) {
  // The default model: MAXPHYADDR and 1-GByte pages as its CPUID says.
  PagingCpu pc;
  const CpuModel& def = default_cpu_model();
  EXPECT_EQ(paging_features(pc.cpu()).maxphyaddr, def.phys_addr_bits);
  EXPECT_EQ(paging_features(pc.cpu()).pages_1g, def.has(Feature::PDPE1GB));

  // A model with MAXPHYADDR 36: bit 38 of a present PDPTE becomes reserved for the PDPTE load.
  CpuModel narrow = def;
  narrow.phys_addr_bits = 36;
  pc.write<uint64_t>(0x2000, (uint64_t{1} << 38) | 0x10000 | 1);
  EXPECT_TRUE(load_pae_pdptes(pc.cpu(), 0x2000));
  pc.cpu().cpu_model = &narrow;
  EXPECT_EQ(paging_features(pc.cpu()).maxphyaddr, 36);
  EXPECT_FALSE(load_pae_pdptes(pc.cpu(), 0x2000));
}

TEST(PagingTranslator, OneGigPagesFollowTheModel) {
  PagingCpu pc;
  PagingTranslator t;
  PageTables pt(pc, PagingMode::k4Level);
  pc.enter(PagingMode::k4Level);
  CpuState& cpu = pc.cpu();
  cpu.translator = &t;
  cpu.cr3 = pt.cr3();
  pt.map(0x40000000, 0x40000000, 3, pte::P | pte::RW);
  CpuModel with = default_cpu_model(), without = default_cpu_model();
  with.features[feature_word(Feature::PDPE1GB)] |= feature_mask(Feature::PDPE1GB);
  without.features[feature_word(Feature::PDPE1GB)] &= ~feature_mask(Feature::PDPE1GB);
  cpu.cpu_model = &with;
  ASSERT_FALSE(
      pc.faults([&] { EXPECT_EQ(t.translate(cpu, 0x40123456, Access::Read).paddr, 0x40123456u); }));
  cpu.cpu_model = &without;  // another CPU model: as after a reset, nothing cached survives
  tlb_flush_all(cpu);
  EXPECT_TRUE(pc.faults([&] { t.translate(cpu, 0x40123456, Access::Read); }));
  EXPECT_EQ(cpu.pending_fault_error, pf_error::P | pf_error::RSVD);
}

TEST(PagingTranslator, PaeMachineEndToEnd) {
  // A PAE guest: PDPTEs loaded as MOV CR3 would, a 2-MiB page, reads and writes through
  // access.cpp.
  PagingCpu pc;
  PagingTranslator t;
  PageTables pt(pc, PagingMode::kPae);
  pc.enter(PagingMode::kPae);
  CpuState& cpu = pc.cpu();
  cpu.translator = &t;
  pt.map(0xc0000000, 0x00600000, 2, pte::P | pte::RW);
  ASSERT_TRUE(load_pae_pdptes(cpu, pt.cr3()));
  cpu.cr3 = pt.cr3();
  ASSERT_FALSE(pc.faults([&] { write_mem<uint16_t>(cpu, 0xc0123456, 0xbeef); }));
  EXPECT_EQ(pc.read<uint16_t>(0x00723456), 0xbeef);
  uint64_t pde = pt.read_entry(pt.entry_addr(0xc0000000, 2));
  EXPECT_EQ(pde & (pte::A | pte::D), pte::A | pte::D);
}

}  // namespace
}  // namespace umbra
