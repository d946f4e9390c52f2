// The monitor's x and xp in every format and unit, /i disassembly in each CPU mode, address
// expressions, unmapped and out-of-RAM addresses, info mem's coalesced ranges and info tlb.
#include <gtest/gtest.h>

#include <cstring>

#include "softmmu/access.h"
#include "tests/unit/monitor_test_util.h"

namespace umbra {
namespace {

using test::has_line;
using test::MonitorFixture;
using test::PageTables;

constexpr uint64_t kLinear = 0x7fffffffe000;
constexpr uint64_t kPhys = 0x200000;

class MonitorMemoryTest : public MonitorFixture {
 protected:
  void SetUp() override {
    PageTables& t = enter_long_mode();
    t.map(kLinear, kPhys, 1, pte::P | pte::RW | pte::US);
    const uint8_t bytes[16] = {0x01, 0x02, 0x03, 0x04, 0xfe, 0xff, 0xff, 0xff,
                               'H',  'i',  '\n', 0x00, 0x90, 0xc3, 0x48, 0x89};
    std::memcpy(pc_.mem().ram() + kPhys, bytes, sizeof bytes);
  }
};

TEST_F(MonitorMemoryTest, HexInEveryUnit) {
  EXPECT_EQ(run("xp /4xb 0x200000"), "0x0000000000200000: 0x01 0x02 0x03 0x04\n");
  EXPECT_EQ(run("xp /2xh 0x200000"), "0x0000000000200000: 0x0201 0x0403\n");
  EXPECT_EQ(run("xp /xw 0x200000"), "0x0000000000200000: 0x04030201\n");
  EXPECT_EQ(run("xp /xg 0x200000"), "0x0000000000200000: 0xfffffffe04030201\n");
  // Defaults: one hex word.
  EXPECT_EQ(run("xp 0x200000"), "0x0000000000200000: 0x04030201\n");
  // Line breaks: 4 words per line.
  EXPECT_EQ(run("xp /5x 0x200000"),
            "0x0000000000200000: 0x04030201 0xfffffffe 0x000a6948 0x8948c390\n"
            "0x0000000000200010: 0x00000000\n");
}

TEST_F(MonitorMemoryTest, DecimalUnsignedAndCharacters) {
  EXPECT_EQ(run("xp /2dw 0x200000"), "0x0000000000200000: 67305985 -2\n");
  EXPECT_EQ(run("xp /ub 0x200004"), "0x0000000000200004: 254\n");
  EXPECT_EQ(run("xp /db 0x200004"), "0x0000000000200004: -2\n");
  EXPECT_EQ(run("xp /uw 0x200004"), "0x0000000000200004: 4294967294\n");
  EXPECT_EQ(run("xp /dg 0x200004"), "0x0000000000200004: 2930512020635646\n");
  EXPECT_EQ(run("xp /dh 0x200004"), "0x0000000000200004: -2\n");
  EXPECT_EQ(run("xp /4c 0x200008"), "0x0000000000200008: Hi\\n\\x00\n");
}

TEST_F(MonitorMemoryTest, LinearGoesThroughThePageTables) {
  EXPECT_EQ(run("x /xg 0x7fffffffe000"), "0x00007fffffffe000: 0xfffffffe04030201\n");
  pc_.cpu().gpr[RSP] = kLinear + 0x10;
  EXPECT_EQ(run("x /2xb $rsp - 8"), "0x00007fffffffe008: 0x48 0x69\n");
  EXPECT_EQ(run("x /xb $rsp-0x10+1"), "0x00007fffffffe001: 0x02\n");
  // gdb's spelling.
  EXPECT_EQ(run("x/xb 0x7fffffffe001"), "0x00007fffffffe001: 0x02\n");
}

TEST_F(MonitorMemoryTest, UnmappedAndOutsideRam) {
  EXPECT_EQ(run("x /xg 0x1000"), "0x0000000000001000: cannot access\n");
  // The read stops at the first unmapped unit: the last bytes of the page, then the next page.
  EXPECT_EQ(run("x /3xw 0x7fffffffeffc"),
            "0x00007fffffffeffc: 0x00000000 cannot access at 0x00007ffffffff000\n");
  EXPECT_EQ(run("xp /xb 0x40000000"), "0x0000000040000000: cannot access\n");
  EXPECT_TRUE(has_line(run("x /xb 0x0000900000000000"), {"cannot access (non-canonical"}));
}

TEST_F(MonitorMemoryTest, DisassemblesInTheCurrentMode) {
  // 90 nop; c3 ret; 48 89 e5 mov rbp, rsp (64-bit); in 32-bit code 48 is dec eax.
  uint8_t code[] = {0x90, 0xc3, 0x48, 0x89, 0xe5};
  std::memcpy(pc_.mem().ram() + kPhys + 0x100, code, sizeof code);
  std::string out = run("x /3i 0x7fffffffe100");
  EXPECT_TRUE(has_line(out, {"0x00007fffffffe100: 90", "nop"})) << out;
  EXPECT_TRUE(has_line(out, {"0x00007fffffffe101: c3", "ret"})) << out;
  EXPECT_TRUE(has_line(out, {"0x00007fffffffe102: 48 89 e5", "mov rbp, rsp"})) << out;
  out = run("xp /3i 0x200100");
  EXPECT_TRUE(has_line(out, {"0x0000000000200102: 48 89 e5", "mov rbp, rsp"})) << out;

  // Compatibility-mode 32-bit code: the same bytes decode differently.
  pc_.cpu().seg[CS].attrib =
      static_cast<uint16_t>((pc_.cpu().seg[CS].attrib & ~seg_attr::L) | seg_attr::DB);
  update_cpu_mode(pc_.cpu());
  out = run("xp /4i 0x200100");
  EXPECT_TRUE(has_line(out, {"0x0000000000200102: 48", "dec eax"})) << out;
  EXPECT_TRUE(has_line(out, {"0x0000000000200103: 89 e5", "mov ebp, esp"})) << out;
}

TEST_F(MonitorMemoryTest, InfoMemCoalescesRanges) {
  tables_->map(kLinear + 0x1000, 0x201000, 1, pte::P | pte::RW | pte::US);
  tables_->map(kLinear - 0x1000, 0x202000, 1, pte::P | pte::US | pte::XD);
  tables_->map(0xffffffff80000000, 0x400000, 2, pte::P | pte::RW);
  const std::string out = run("info mem");
  EXPECT_TRUE(has_line(out, {"4-level paging", "3 ranges"})) << out;
  EXPECT_TRUE(has_line(out, {"00007fffffffe000-0000800000000000 0000000000002000 urwx"})) << out;
  EXPECT_TRUE(has_line(out, {"00007fffffffd000-00007fffffffe000 0000000000001000 ur--"})) << out;
  EXPECT_TRUE(has_line(out, {"ffffffff80000000-ffffffff80200000 0000000000200000 -rwx"})) << out;
  // Without EFER.NXE, bit 63 is reserved: the XD page maps nothing (SDM vol. 3, table 4-20).
  pc_.cpu().efer &= ~efer::NXE;
  EXPECT_TRUE(has_line(run("info mem"), {"2 ranges"}));
}

TEST_F(MonitorMemoryTest, InfoMemWithPagingOff) {
  pc_.enter(PagingMode::kNone);
  EXPECT_EQ(run("info mem"), "paging is off: linear addresses are physical\n");
}

TEST_F(MonitorMemoryTest, InfoTlbListsValidEntries) {
  EXPECT_EQ(run("info tlb"), "fast TLB (active table): 0 valid pages of 1024 entries\n");
  TlbEntry& e = tlb_entry(pc_.cpu(), kLinear);
  e.tag_read = kLinear;
  e.tag_write = kLinear;
  e.addend = reinterpret_cast<int64_t>(pc_.mem().ram() + kPhys) - int64_t{kLinear};
  const std::string out = run("info tlb");
  EXPECT_TRUE(has_line(out, {"1 valid page"})) << out;
  EXPECT_TRUE(has_line(out, {"0x00007fffffffe000  0x0000000000200000", "rw-"})) << out;
}

}  // namespace
}  // namespace umbra

namespace umbra {
namespace {

class MonitorLegacyMemoryTest : public test::MonitorFixture {};

TEST_F(MonitorLegacyMemoryTest, ThirtyTwoBitPaging) {
  pc_.enter(PagingMode::k32Bit);
  PageTables t(pc_, PagingMode::k32Bit);
  pc_.cpu().cr3 = t.cr3();
  t.map(0xc0000000, 0x00400000, 2, pte::P | pte::RW);  // 4 MiB
  t.map(0xc0400000, 0x00001000, 1, pte::P | pte::RW);  // coalesces with it
  t.map(0x08048000, 0x00002000, 1, pte::P | pte::US);
  pc_.mem().ram()[0x2010] = 0xab;
  std::string out = run("info mem");
  EXPECT_TRUE(has_line(out, {"32-bit paging", "2 ranges"})) << out;
  EXPECT_TRUE(has_line(out, {"08048000-08049000 00001000 ur-x"})) << out;
  EXPECT_TRUE(has_line(out, {"c0000000-c0401000 00401000 -rwx"})) << out;
  // Legacy-mode addresses are 32 bits wide.
  EXPECT_EQ(run("x /xb 0x8048010"), "0x08048010: 0xab\n");
  pc_.cpu().gpr[RAX] = 0xffffffff08048000;
  EXPECT_EQ(run("x /xb $eax + 0x10"), "0x08048010: 0xab\n");
  // Without CR4.PSE, PS is ignored in a PDE: the "4 MiB page" is a page table.
  pc_.cpu().cr4 &= ~cr4::PSE;
  out = run("info mem");
  EXPECT_FALSE(has_line(out, {"c0000000-c0401000"})) << out;
}

TEST_F(MonitorLegacyMemoryTest, PaePaging) {
  pc_.enter(PagingMode::kPae);
  PageTables t(pc_, PagingMode::kPae);
  pc_.cpu().cr3 = t.cr3();
  pc_.cpu().efer |= efer::NXE;
  t.map(0xc0000000, 0x00400000, 2, pte::P | pte::RW | pte::XD);
  t.map(0x00001000, 0x00002000, 1, pte::P | pte::US);
  for (unsigned i = 0; i < 4; ++i)
    pc_.cpu().pdpte[i] = t.read_entry((t.cr3() & ~uint64_t{31}) + 8 * i);
  const std::string out = run("info mem");
  EXPECT_TRUE(has_line(out, {"PAE paging", "2 ranges"})) << out;
  EXPECT_TRUE(has_line(out, {"00001000-00002000 00001000 ur-x"})) << out;
  EXPECT_TRUE(has_line(out, {"c0000000-c0200000 00200000 -rw-"})) << out;
}

}  // namespace
}  // namespace umbra
