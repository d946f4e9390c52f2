// The monitor on a real, stopped guest: a multiboot kernel turns on 32-bit paging (a 4 MiB
// identity page and a read-only user page), reads through it and halts; then walk, x, info mem
// and info shadow must describe exactly what the guest built and what the MMU cached.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "machine/pc.h"
#include "tests/unit/monitor_test_util.h"

namespace umbra {
namespace {

using test::has_line;

// A multiboot image with the header's load addresses: loaded at 1 MiB, entered at 0x100020 in
// 32-bit protected mode with paging off.
std::string write_kernel(const std::vector<uint8_t>& code) {
  std::vector<uint8_t> img(32, 0);
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(img.data() + off, &v, 4); };
  const uint32_t flags = 0x10000;  // the address fields are valid
  put32(0, 0x1BADB002);
  put32(4, flags);
  put32(8, static_cast<uint32_t>(0u - 0x1BADB002u - flags));
  put32(12, 0x100000);  // header_addr
  put32(16, 0x100000);  // load_addr
  put32(20, 0);         // load_end_addr: the whole file
  put32(24, 0);         // bss_end_addr
  put32(28, 0x100020);  // entry
  img.insert(img.end(), code.begin(), code.end());
  std::string path = testing::TempDir() + "/umbra_monitor_" +
                     testing::UnitTest::GetInstance()->current_test_info()->name() + ".bin";
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
  return path;
}

// Page directory at 0x200000: PDE 0 maps 0-4 MiB (4 MiB page, supervisor, writable); PDE 1
// points to a page table at 0x201000 whose PTE 0 maps linear 0x400000 to 0x300000, user,
// read-only. CR4.PSE, CR0.PG|WP on; read [0x400000]; cli; hlt.
std::vector<uint8_t> paging_kernel() {
  return {
      0xc7, 0x05, 0x00, 0x00, 0x20, 0x00, 0x83, 0x00, 0x00, 0x00,  // mov [0x200000], 0x83
      0xc7, 0x05, 0x04, 0x00, 0x20, 0x00, 0x07, 0x10, 0x20, 0x00,  // mov [0x200004], 0x201007
      0xc7, 0x05, 0x00, 0x10, 0x20, 0x00, 0x05, 0x00, 0x30, 0x00,  // mov [0x201000], 0x300005
      0xc7, 0x05, 0x00, 0x00, 0x30, 0x00, 0x78, 0x56, 0x34, 0x12,  // mov [0x300000], 0x12345678
      0xb8, 0x00, 0x00, 0x20, 0x00,                                // mov eax, 0x200000
      0x0f, 0x22, 0xd8,                                            // mov cr3, eax
      0x0f, 0x20, 0xe0,                                            // mov eax, cr4
      0x83, 0xc8, 0x10,                                            // or eax, 0x10 (PSE)
      0x0f, 0x22, 0xe0,                                            // mov cr4, eax
      0x0f, 0x20, 0xc0,                                            // mov eax, cr0
      0x0d, 0x00, 0x00, 0x01, 0x80,                                // or eax, PG|WP
      0x0f, 0x22, 0xc0,                                            // mov cr0, eax
      0xa1, 0x00, 0x00, 0x40, 0x00,                                // mov eax, [0x400000]
      0xfa,                                                        // cli
      0xf4,                                                        // hlt
  };
}

TEST(MonitorMachineTest, DescribesWhatAStoppedGuestBuilt) {
  PcConfig cfg;
  cfg.ram_bytes = 16ull << 20;
  cfg.kernel = write_kernel(paging_kernel());
  cfg.serial_out = nullptr;
  cfg.debugcon_out = nullptr;
  PcMachine pc(cfg);
  std::string err;
  ASSERT_TRUE(pc.boot(&err)) << err;
  pc.run();  // halts with interrupts disabled
  ASSERT_EQ(pc.cpu().gpr[RAX], 0x12345678u) << "the guest did not run as expected";

  Monitor m(pc.cpu(), pc.memory(), nullptr);
  std::string out = m.execute("walk 0x400010");
  EXPECT_TRUE(has_line(out, {"walk 0x00400010: 32-bit paging, cr3=0x200000"})) << out;
  EXPECT_TRUE(has_line(out, {"CR0.WP=1"})) << out;
  EXPECT_TRUE(has_line(out, {"PDE", "0x00200004", "0x00201027", "table 0x201000"})) << out;
  // The guest's read set A in both entries.
  EXPECT_TRUE(has_line(
      out, {"PTE", "0x00201000", "0x00300025", "P -- US --- --- A", "4 KiB page 0x300000"}))
      << out;
  EXPECT_TRUE(has_line(out, {"physical: 0x0000000000300010"})) << out;
  EXPECT_TRUE(has_line(out, {"supervisor write", "#PF error 0x03", "CR0.WP=1"})) << out;
  EXPECT_TRUE(has_line(out, {"user read", "allowed"})) << out;
  EXPECT_TRUE(has_line(out, {"user write", "#PF error 0x07", "R/W=0 in PTE (level 1)"})) << out;
  EXPECT_TRUE(has_line(out, {"fast TLB", "r", "-> 0x0000000000300000"})) << out;

  out = m.execute("walk $eip");
  EXPECT_TRUE(has_line(out, {"PDE", "0x000000a3", "A - PS", "4 MiB page 0x0"})) << out;
  EXPECT_TRUE(has_line(out, {"user execute", "U/S=0 in PDE (level 2)"})) << out;
  EXPECT_TRUE(has_line(m.execute("walk 0x800000"), {"not present: P=0 in PDE (level 2)"}));

  EXPECT_EQ(m.execute("x /xw 0x400000"), "0x00400000: 0x12345678\n");
  EXPECT_EQ(m.execute("xp /xw 0x300000"), "0x0000000000300000: 0x12345678\n");
  EXPECT_TRUE(has_line(m.execute("x /i $eip - 1"), {"f4", "hlt"}));

  out = m.execute("info mem");
  EXPECT_TRUE(has_line(out, {"00000000-00400000 00400000 -rwx"})) << out;
  EXPECT_TRUE(has_line(out, {"00400000-00401000 00001000 ur-x"})) << out;

  out = m.execute("info shadow");
  EXPECT_TRUE(has_line(out, {"MMU counters:"})) << out;
  EXPECT_TRUE(has_line(out, {"cached address spaces: ", "1"})) << out;
  EXPECT_TRUE(has_line(out, {"cr3=0x200000"})) << out;

  out = m.execute("info registers");
  EXPECT_TRUE(has_line(out, {"RAX=0000000012345678"})) << out;
  EXPECT_TRUE(has_line(out, {"protected mode, 32-bit code, paging 32-bit, halted"})) << out;
}

}  // namespace
}  // namespace umbra
