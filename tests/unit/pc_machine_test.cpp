// The PC machine: multiboot entry state, triple fault with and without -no-reboot, debug exit.
#include "machine/pc.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

namespace umbra {
namespace {

// A multiboot image using the header's load addresses (no ELF): loaded and entered at 1 MiB in
// 32-bit protected mode; `code` follows the 32-byte header.
std::string write_kernel(const std::vector<uint8_t>& code) {
  std::vector<uint8_t> img(32, 0);
  auto put32 = [&](size_t off, uint32_t v) { std::memcpy(img.data() + off, &v, 4); };
  const uint32_t flags = 0x10000;
  put32(0, 0x1BADB002);
  put32(4, flags);
  put32(8, static_cast<uint32_t>(0u - 0x1BADB002u - flags));
  put32(12, 0x100000);  // header_addr
  put32(16, 0x100000);  // load_addr
  put32(20, 0);         // load_end_addr: whole file
  put32(24, 0);         // bss_end_addr
  put32(28, 0x100020);  // entry: right after the header
  img.insert(img.end(), code.begin(), code.end());
  // One file per test: CTest runs the tests of this suite in parallel processes.
  std::string path = testing::TempDir() + "/umbra_pc_" +
                     testing::UnitTest::GetInstance()->current_test_info()->name() + ".bin";
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(img.data()),
                                              static_cast<std::streamsize>(img.size()));
  return path;
}

// lidt [0x100040] (an IDT with limit 0), int3: #GP reading the gate, #GP again delivering it
// (contributory + contributory = #DF), #GP delivering the #DF: triple fault.
std::vector<uint8_t> triple_fault_code() {
  std::vector<uint8_t> c = {0x0f, 0x01, 0x1d, 0x40, 0x00, 0x10, 0x00, 0xcc};
  c.resize(0x20, 0x90);
  c.insert(c.end(), 6, 0x00);  // at 0x100040: limit 0, base 0
  return c;
}

PcConfig config_for(const std::string& kernel) {
  PcConfig cfg;
  cfg.ram_bytes = 16ull << 20;
  cfg.kernel = kernel;
  cfg.serial_out = nullptr;
  cfg.debugcon_out = nullptr;
  return cfg;
}

TEST(PcMachine, MultibootEntryState) {
  // hlt at the entry: look at the state the loader left.
  PcMachine pc(config_for(write_kernel({0xf4})));
  std::string err;
  ASSERT_TRUE(pc.boot(&err)) << err;
  const CpuState& c = pc.cpu();
  EXPECT_EQ(c.gpr[RAX], 0x2BADB002u);
  EXPECT_EQ(c.rip, 0x100020u);
  EXPECT_TRUE(c.cr0 & 1);            // PE
  EXPECT_FALSE(c.cr0 & 0x80000000);  // PG
  EXPECT_FALSE(c.rflags & (1u << 9));
  EXPECT_EQ(c.code32, 1);
  EXPECT_EQ(c.cpl, 0);
  EXPECT_EQ(pc.run(), 0);  // halted with interrupts disabled: reported, exit 0
}

TEST(PcMachine, TripleFaultWithNoRebootExitsNonZero) {
  PcConfig cfg = config_for(write_kernel(triple_fault_code()));
  cfg.no_reboot = true;
  PcMachine pc(cfg);
  std::string err;
  ASSERT_TRUE(pc.boot(&err)) << err;
  EXPECT_EQ(pc.run(), 1);
  EXPECT_EQ(pc.resets(), 0u);
}

TEST(PcMachine, TripleFaultWithoutNoRebootResetsAndBootsAgain) {
  PcConfig cfg = config_for(write_kernel(triple_fault_code()));
  cfg.max_insns = 100;  // each boot runs 2 instructions before the triple fault
  PcMachine pc(cfg);
  std::string err;
  ASSERT_TRUE(pc.boot(&err)) << err;
  EXPECT_EQ(pc.run(), 1);  // ends at the instruction limit
  EXPECT_GE(pc.resets(), 10u);
}

TEST(PcMachine, DebugExitStatus) {
  // mov al, 0x10; out 0xf4, al
  PcConfig cfg = config_for(write_kernel({0xb0, 0x10, 0xe6, 0xf4, 0xf4}));
  cfg.debug_exit = std::make_pair(uint16_t{0xf4}, uint16_t{4});
  PcMachine pc(cfg);
  std::string err;
  ASSERT_TRUE(pc.boot(&err)) << err;
  EXPECT_EQ(pc.run(), 33);
}

TEST(PcMachine, MissingOrMalformedKernelIsAnError) {
  std::string err;
  PcMachine missing(config_for("/nonexistent/kernel"));
  EXPECT_FALSE(missing.boot(&err));
  EXPECT_EQ(err.find('\n'), std::string::npos);
  std::string junk = testing::TempDir() + "/umbra_pc_junk_kernel.bin";
  std::ofstream(junk) << "not a kernel";
  PcMachine bad(config_for(junk));
  EXPECT_FALSE(bad.boot(&err));
  EXPECT_NE(err.find("not a multiboot"), std::string::npos);
}

}  // namespace
}  // namespace umbra
