// The monitor's `walk` command over page tables built in guest memory: every level's row, the
// access-rights matrix with the failing rule and #PF error code (expected values worked out by
// hand from SDM vol. 3, 4.6 and 4.7), large pages, other paging modes, another CR3, the cache
// state, and that looking changes nothing.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "softmmu/access.h"
#include "softmmu/paging_translator.h"
#include "tests/unit/monitor_test_util.h"

namespace umbra {
namespace {

using test::has_line;
using test::MonitorFixture;
using test::PageTables;
using test::PagingCpu;

class MonitorWalkTest : public MonitorFixture {};

constexpr uint64_t kUserPage = 0x7fffffffe000;
constexpr uint64_t kKernelPage = 0xffffffff80000000;

TEST_F(MonitorWalkTest, MappedPageShowsEveryLevelAndThePhysicalAddress) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US | pte::A | pte::D);
  const std::string out = run("walk 0x7fffffffe123");
  EXPECT_TRUE(has_line(out, {"walk 0x00007fffffffe123", "4-level paging", "cr3=0x100000"})) << out;
  const char* names[] = {"PML4E", "PDPTE", "PDE", "PTE"};
  for (unsigned level = 4; level >= 1; --level) {
    const uint64_t ea = t.entry_addr(kUserPage, level);
    const uint64_t raw = t.read_entry(ea);
    EXPECT_TRUE(has_line(out, {names[4 - level], hex(ea, 16), hex(raw, 16)})) << out;
  }
  EXPECT_TRUE(has_line(out, {"PTE", "P RW US --- --- A D --- - --", "4 KiB page 0x200000"})) << out;
  EXPECT_TRUE(has_line(out, {"physical: 0x0000000000200123", "4 KiB page at 0x200000"})) << out;
  for (const char* who : {"supervisor", "user"})
    for (const char* what : {"read", "write", "execute"})
      EXPECT_TRUE(has_line(out, {std::string(who) + " " + what, "allowed"})) << out;
}

TEST_F(MonitorWalkTest, NotPresentLevelStopsTheWalk) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US);
  t.write_entry(t.entry_addr(kUserPage, 2), 0x103006);  // PDE: P = 0
  const std::string out = run("walk 0x7fffffffe000");
  EXPECT_TRUE(has_line(out, {"PDE", "- RW US", "not present"})) << out;
  EXPECT_FALSE(has_line(out, {"  PTE  "})) << out;
  EXPECT_TRUE(has_line(out, {"physical: none", "P=0 in PDE (level 2)"})) << out;
  // Not present: P = 0 in the error code; W and U describe the access; ID with PAE + NXE.
  EXPECT_TRUE(has_line(out, {"supervisor read", "#PF error 0x00", "P=0 in PDE (level 2)"}));
  EXPECT_TRUE(has_line(out, {"supervisor write", "#PF error 0x02 [W]"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor execute", "#PF error 0x10 [ID]"})) << out;
  EXPECT_TRUE(has_line(out, {"user read", "#PF error 0x04 [U]"})) << out;
  EXPECT_TRUE(has_line(out, {"user write", "#PF error 0x06 [W U]"})) << out;
  EXPECT_TRUE(has_line(out, {"user execute", "#PF error 0x14 [U ID]"})) << out;
}

TEST_F(MonitorWalkTest, UserAccessToSupervisorPageNamesTheLevel) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US);
  // U/S = 0 in the PDPTE only.
  const uint64_t ea = t.entry_addr(kUserPage, 3);
  t.write_entry(ea, t.read_entry(ea) & ~pte::US);
  const std::string out = run("walk 0x7fffffffe000");
  EXPECT_TRUE(has_line(out, {"supervisor read", "allowed"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor write", "allowed"})) << out;
  EXPECT_TRUE(has_line(out, {"user read", "#PF error 0x05 [P U]", "U/S=0 in PDPTE (level 3)"}))
      << out;
  EXPECT_TRUE(has_line(out, {"user write", "#PF error 0x07 [P W U]", "U/S"})) << out;
  EXPECT_TRUE(has_line(out, {"user execute", "#PF error 0x15 [P U ID]", "U/S"})) << out;
}

TEST_F(MonitorWalkTest, ReservedBitIsNamedWithItsLevel) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US);
  const uint64_t ea = t.entry_addr(kUserPage, 1);
  // MAXPHYADDR is 40 on the default model: bit 45 of a PTE is reserved (SDM vol. 3, table 4-20).
  t.write_entry(ea, t.read_entry(ea) | (uint64_t{1} << 45));
  const std::string out = run("walk 0x7fffffffe000");
  EXPECT_TRUE(has_line(out, {"PTE", "invalid: reserved bit set"})) << out;
  EXPECT_TRUE(has_line(
      out, {"supervisor read", "#PF error 0x09 [P RSVD]", "reserved bit 45 set in PTE (level 1)"}))
      << out;
  EXPECT_TRUE(has_line(out, {"user write", "#PF error 0x0f [P W U RSVD]", "reserved bit 45"}))
      << out;
}

TEST_F(MonitorWalkTest, XdIsReservedWithoutNxe) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US | pte::XD);
  pc_.cpu().efer &= ~efer::NXE;
  const std::string out = run("walk 0x7fffffffe000");
  EXPECT_TRUE(has_line(
      out, {"supervisor read", "#PF error 0x09", "reserved bit 63 set in PTE", "EFER.NXE=1"}))
      << out;
  // Without NXE there is no I/D bit in the error code (SDM vol. 3, 4.7).
  EXPECT_TRUE(has_line(out, {"supervisor execute", "#PF error 0x09 [P RSVD]"})) << out;
}

TEST_F(MonitorWalkTest, TwoMegabytePage) {
  PageTables& t = enter_long_mode();
  t.map(0x400000, 0x600000, 2, pte::P | pte::G | pte::XD);
  const std::string out = run("walk 0x400000 + 0x1234");
  EXPECT_TRUE(has_line(out, {"PDE", "P -- -- --- --- - - PS  G XD", "2 MiB page 0x600000"})) << out;
  EXPECT_FALSE(has_line(out, {"  PTE  "})) << out;
  EXPECT_TRUE(has_line(out, {"physical: 0x0000000000601234", "2 MiB page at 0x600000"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor read", "allowed"})) << out;
  EXPECT_TRUE(has_line(
      out, {"supervisor write", "#PF error 0x03 [P W]", "R/W=0 in PDE (level 2), CR0.WP=1"}))
      << out;
  EXPECT_TRUE(
      has_line(out, {"supervisor execute", "#PF error 0x11 [P ID]", "XD=1 in PDE (level 2)"}))
      << out;
  EXPECT_TRUE(has_line(out, {"user read", "#PF error 0x05", "U/S=0 in PDE (level 2)"})) << out;
  // A 2-MByte PDE with bit 13 set: reserved (bits 20:13, SDM vol. 3, table 4-18).
  const uint64_t ea = t.entry_addr(0x400000, 2);
  t.write_entry(ea, t.read_entry(ea) | (1u << 13));
  EXPECT_TRUE(has_line(run("walk 0x400000"), {"reserved bit 13 set in PDE (level 2)"}));
}

TEST_F(MonitorWalkTest, SupervisorWriteToReadOnlyPageDependsOnWp) {
  PageTables& t = enter_long_mode();
  t.map(kKernelPage, 0x300000, 1, pte::P);
  EXPECT_TRUE(has_line(run("walk 0xffffffff80000000"),
                       {"supervisor write", "#PF error 0x03", "R/W=0 in PTE (level 1), CR0.WP=1"}));
  pc_.cpu().cr0 &= ~cr0::WP;
  EXPECT_TRUE(has_line(run("walk 0xffffffff80000000"), {"supervisor write", "allowed"}));
}

TEST_F(MonitorWalkTest, SmepAndSmap) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US);
  pc_.cpu().cr4 |= cr4::SMEP | cr4::SMAP;
  std::string out = run("walk 0x7fffffffe000");
  EXPECT_TRUE(has_line(out, {"CR4.SMEP=1 CR4.SMAP=1 EFLAGS.AC=0"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor execute", "#PF error 0x11 [P ID]", "SMEP"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor read", "#PF error 0x01 [P]", "SMAP"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor write", "#PF error 0x03 [P W]", "SMAP"})) << out;
  EXPECT_TRUE(has_line(out, {"user execute", "allowed"})) << out;
  // EFLAGS.AC = 1 lifts SMAP for explicit supervisor data accesses (SDM vol. 3, 4.6.1).
  pc_.cpu().rflags |= rf::AC;
  out = run("walk 0x7fffffffe000");
  EXPECT_TRUE(has_line(out, {"supervisor read", "allowed"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor execute", "SMEP"})) << out;
}

TEST_F(MonitorWalkTest, NonCanonicalAddressHasNoWalk) {
  enter_long_mode();
  const std::string out = run("walk 0x0000800000000000");
  EXPECT_TRUE(has_line(out, {"non-canonical address", "no walk"})) << out;
  EXPECT_TRUE(has_line(out, {"user read", "#GP(0) non-canonical"})) << out;
  EXPECT_FALSE(has_line(out, {"PML4E"})) << out;
}

TEST_F(MonitorWalkTest, AnotherCr3) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US);
  PageTables other(pc_, PagingMode::k4Level, 0x800000);
  other.map(kUserPage, 0x340000, 1, pte::P | pte::US);
  const std::string out = run("walk 0x7fffffffe010 0x800000");
  EXPECT_TRUE(has_line(out, {"cr3=0x800000"})) << out;
  EXPECT_TRUE(has_line(out, {"physical: 0x0000000000340010"})) << out;
  EXPECT_TRUE(has_line(out, {"user write", "R/W=0 in PTE (level 1)"})) << out;
  EXPECT_TRUE(has_line(out, {"current address space only"})) << out;
  // The CPU's own CR3 is untouched.
  EXPECT_EQ(pc_.cpu().cr3, 0x100000u);
  EXPECT_TRUE(has_line(run("walk 0x7fffffffe010"), {"physical: 0x0000000000200010"}));
}

TEST_F(MonitorWalkTest, WalkHasNoSideEffects) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US);
  std::vector<uint64_t> before;
  for (unsigned level = 4; level >= 1; --level)
    before.push_back(t.read_entry(t.entry_addr(kUserPage, level)));
  const CpuState snapshot = pc_.cpu();
  run("walk 0x7fffffffe000");
  run("x /4xg 0x7fffffffe000");
  run("x /2i 0x7fffffffe000");
  run("info mem");
  for (unsigned level = 4; level >= 1; --level)
    EXPECT_EQ(t.read_entry(t.entry_addr(kUserPage, level)), before[4 - level]) << level;
  EXPECT_EQ(std::memcmp(&snapshot, &pc_.cpu(), sizeof(CpuState)), 0);
}

TEST_F(MonitorWalkTest, CacheStateShowsTheFastTlbEntry) {
  PageTables& t = enter_long_mode();
  t.map(kUserPage, 0x200000, 1, pte::P | pte::RW | pte::US);
  EXPECT_TRUE(has_line(run("walk 0x7fffffffe000"), {"fast TLB", "not present"}));
  // A read-and-execute entry, as the access path would fill it.
  TlbEntry& e = tlb_entry(pc_.cpu(), kUserPage);
  e.tag_read = kUserPage;
  e.tag_exec = kUserPage;
  e.addend = reinterpret_cast<int64_t>(pc_.mem().ram() + 0x200000) - int64_t{kUserPage};
  const std::string out = run("walk 0x7fffffffe000");
  EXPECT_TRUE(has_line(out, {"fast TLB", "r-x -> 0x0000000000200000"})) << out;
  EXPECT_TRUE(has_line(run("info tlb"), {"0x00007fffffffe000", "0x0000000000200000", "r-x"}));
}

TEST_F(MonitorWalkTest, PagingOff) {
  pc_.enter(PagingMode::kNone);
  const std::string out = run("walk 0x12345");
  EXPECT_TRUE(has_line(out, {"walk 0x00012345: paging off"})) << out;
  EXPECT_TRUE(has_line(out, {"physical: 0x0000000000012345", "paging off"})) << out;
  EXPECT_TRUE(has_line(out, {"user write", "allowed"})) << out;
}

TEST_F(MonitorWalkTest, ThirtyTwoBitPagingFourMegabytePage) {
  pc_.enter(PagingMode::k32Bit);
  PageTables t(pc_, PagingMode::k32Bit);
  pc_.cpu().cr3 = t.cr3();
  t.map(0x00c00000, 0x01000000, 2, pte::P | pte::RW);
  t.map(0x00001000, 0x00005000, 1, pte::P | pte::US);
  std::string out = run("walk 0xc00abc");
  EXPECT_TRUE(has_line(out, {"walk 0x00c00abc: 32-bit paging"})) << out;
  EXPECT_TRUE(has_line(out, {"PDE", hex(t.entry_addr(0xc00000, 2), 8), "0x01000083",
                             "P RW -- --- --- - - PS  - --", "4 MiB page 0x1000000"}))
      << out;
  EXPECT_TRUE(has_line(out, {"physical: 0x0000000001000abc", "4 MiB page"})) << out;
  // 32-bit paging has no XD: fetches are allowed wherever reads are, with no I/D bit.
  EXPECT_TRUE(has_line(out, {"supervisor execute", "allowed"})) << out;
  EXPECT_TRUE(has_line(out, {"user execute", "#PF error 0x05 [P U]"})) << out;
  out = run("walk 0x1010");
  EXPECT_TRUE(has_line(out, {"PTE", "4 KiB page 0x5000"})) << out;
  EXPECT_TRUE(has_line(out, {"user write", "#PF error 0x07", "R/W=0 in PTE (level 1)"})) << out;
}

TEST_F(MonitorWalkTest, PaeWalkUsesThePdpteRegisters) {
  pc_.enter(PagingMode::kPae);
  PageTables t(pc_, PagingMode::kPae);
  pc_.cpu().cr3 = t.cr3();
  t.map(0x80001000, 0x00400000, 1, pte::P | pte::RW | pte::US);
  for (unsigned i = 0; i < 4; ++i)
    pc_.cpu().pdpte[i] = t.read_entry((t.cr3() & ~uint64_t{31}) + 8 * i);
  std::string out = run("walk 0x80001008");
  EXPECT_TRUE(has_line(out, {"PDPTE", "(PDPTE register)"})) << out;
  EXPECT_TRUE(has_line(out, {"physical: 0x0000000000400008"})) << out;
  // The registers are what counts: clear the in-memory PDPTE, the walk still succeeds.
  t.write_entry(t.entry_addr(0x80001000, 3), 0);
  EXPECT_TRUE(has_line(run("walk 0x80001008"), {"physical: 0x0000000000400008"}));
  // Clear the register: not present at level 3.
  pc_.cpu().pdpte[2] = 0;
  out = run("walk 0x80001008");
  EXPECT_TRUE(has_line(out, {"supervisor read", "P=0 in PDPTE (level 3)"})) << out;
}

}  // namespace
}  // namespace umbra

namespace umbra {
namespace {

// With the machine's translator installed, an access through the CPU's path fills the fast TLB
// and the translation cache; walk and info shadow show it (softmmu/mmu_introspect.h).
TEST_F(MonitorWalkTest, CacheStateAfterARealAccess) {
  PageTables& t = enter_long_mode();
  t.map(kKernelPage, 0x300000, 1, pte::P | pte::RW | pte::A | pte::D);
  PagingTranslator translator;
  CpuState& c = pc_.cpu();
  c.translator = &translator;
  EXPECT_FALSE(pc_.faults([&] { (void)read_mem<uint64_t>(c, kKernelPage + 8); }));
  const std::string out = run("walk 0xffffffff80000008");
  EXPECT_TRUE(has_line(out, {"fast TLB", "r", "-> 0x0000000000300000"})) << out;
  EXPECT_TRUE(has_line(out, {"table page", hex(t.cr3(), 16)})) << out;
  const std::string shadow = run("info shadow");
  EXPECT_TRUE(has_line(shadow, {"guest walks", "1"})) << shadow;
  EXPECT_TRUE(has_line(shadow, {"cached address spaces: 1"})) << shadow;
  c.translator = nullptr;
}

}  // namespace
}  // namespace umbra
