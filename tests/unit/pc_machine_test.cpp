// The PC machine: multiboot entry state, triple fault with and without -no-reboot, debug exit.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "machine/pc.h"

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
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(img.data()), static_cast<std::streamsize>(img.size()));
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
  EXPECT_NE(err.find("neither a Linux bzImage nor a multiboot"), std::string::npos);
  // A bzImage header (boot flag, "HdrS") with nothing behind it: the Linux loader's one-line
  // error, not a crash.
  std::vector<uint8_t> hdr(0x400, 0);
  hdr[0x1fe] = 0x55;
  hdr[0x1ff] = 0xaa;
  std::memcpy(&hdr[0x202], "HdrS", 4);
  hdr[0x1f1] = 60;  // setup_sects: far beyond the file
  std::string trunc = testing::TempDir() + "/umbra_pc_truncated_bzimage.bin";
  std::ofstream(trunc, std::ios::binary)
      .write(reinterpret_cast<const char*>(hdr.data()), static_cast<std::streamsize>(hdr.size()));
  PcConfig cfg = config_for(trunc);
  cfg.ram_bytes = 128ull << 20;
  PcMachine linux_bad(cfg);
  err.clear();
  EXPECT_FALSE(linux_bad.boot(&err));
  EXPECT_FALSE(err.empty());
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

// The board's timers wake a halted CPU: a multiboot kernel programs the PIT (channel 0, mode 2,
// about 1 kHz) and the master 8259 (IRQ0 -> vector 0x20), enables interrupts and halts; the
// handler counts ticks and exits through isa-debug-exit after 5. With the instruction clock the
// run is deterministic. The local APIC is in virtual-wire mode, as the board leaves it.
TEST(PcMachine, PitInterruptWakesHaltedCpu) {
  // 32-bit code at 0x100020 (after the multiboot header), IDT at 0x100200, handler at 0x100100.
  std::vector<uint8_t> c(0x300, 0x90);
  const uint8_t main_code[] = {
      0xb0, 0x11, 0xe6, 0x20,  // ICW1: edge, cascade, ICW4
      0xb0, 0x20, 0xe6, 0x21,  // ICW2: vectors 0x20..0x27
      0xb0, 0x04, 0xe6, 0x21,  // ICW3: slave on IR2
      0xb0, 0x01, 0xe6, 0x21,  // ICW4: 8086 mode
      0xb0, 0xfe, 0xe6, 0x21,  // OCW1: only IRQ0 unmasked
      0xb0, 0x34, 0xe6, 0x43,  // PIT: channel 0, lobyte/hibyte, mode 2
      0xb0, 0xa9, 0xe6, 0x40,  // count 0x04a9 = 1193: ~1 ms
      0xb0, 0x04, 0xe6, 0x40, 0x0f, 0x01, 0x15,
      0xe8, 0x01, 0x10, 0x00,  // lgdt [0x1001e8] (multiboot leaves GDTR undefined)
      0x0f, 0x01, 0x1d, 0xf8, 0x01, 0x10, 0x00,  // lidt [0x1001f8]
      0x31, 0xdb,                                // xor ebx, ebx
      0xfb,                                      // sti
      0xf4,                                      // 1: hlt
      0xeb, 0xfd,                                // jmp 1b
  };
  std::memcpy(c.data(), main_code, sizeof(main_code));
  const uint8_t handler[] = {
      0x43,                    // inc ebx
      0xb0, 0x20, 0xe6, 0x20,  // EOI
      0x83, 0xfb, 0x05,        // cmp ebx, 5
      0x75, 0x04,              // jne +4
      0xb0, 0x10, 0xe6, 0xf4,  // out 0xf4, 0x10: exit status 0x21
      0xcf,                    // iret
  };
  std::memcpy(c.data() + 0xe0, handler, sizeof(handler));  // at 0x100100
  // GDT at 0x1001c0: null, flat 32-bit code (0x08), flat data (0x10); its GDTR image at 0x1001e8.
  const uint8_t gdt[] = {0, 0,    0,    0, 0,    0,    0, 0, 0xff, 0xff, 0,    0,
                         0, 0x9a, 0xcf, 0, 0xff, 0xff, 0, 0, 0,    0x92, 0xcf, 0};
  std::memcpy(c.data() + 0x1a0, gdt, sizeof(gdt));
  const uint8_t gdtr[] = {0x17, 0x00, 0xc0, 0x01, 0x10, 0x00};
  std::memcpy(c.data() + 0x1c8, gdtr, sizeof(gdtr));
  // IDTR image at 0x1001f8 (limit, base), IDT at 0x100200: gate 0x20 -> 0x08:0x100100.
  const uint8_t idtr[] = {0xff, 0x01, 0x00, 0x02, 0x10, 0x00};
  std::memcpy(c.data() + 0x1d8, idtr, sizeof(idtr));
  const uint8_t gate[] = {0x00, 0x01, 0x08, 0x00, 0x00, 0x8e, 0x10, 0x00};
  std::memcpy(c.data() + 0x1e0 + 0x20 * 8, gate, sizeof(gate));
  PcConfig cfg = config_for(write_kernel(c));
  cfg.debug_exit = std::make_pair(uint16_t{0xf4}, uint16_t{4});
  cfg.icount_shift = 3;
  PcMachine pc(cfg);
  std::string err;
  ASSERT_TRUE(pc.boot(&err)) << err;
  EXPECT_EQ(pc.run(), 0x21);
  EXPECT_EQ(pc.cpu().gpr[RBX], 5u);
  // Five 1-ms periods of guest time have passed (the CPU slept through them on the
  // instruction clock).
  EXPECT_GE(pc.clock().now_ns(), 4'000'000u);
}

}  // namespace
}  // namespace umbra
