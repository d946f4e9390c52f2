// Guest physical memory, the port bus, and the linear-access paths (fast TLB, page-crossing
// slow path, MMIO, faults raised by the translator).
#include <gtest/gtest.h>

#include <csetjmp>
#include <cstring>
#include <memory>

#include "devices/port_bus.h"
#include "softmmu/access.h"
#include "softmmu/guest_memory.h"

namespace umbra {
namespace {

TEST(GuestMemory, RamAndUnbackedAndMmio) {
  GuestMemory mem(1u << 20);
  mem.write_phys(0x1000, 4, 0x11223344);
  EXPECT_EQ(mem.read_phys(0x1000, 4), 0x11223344u);
  EXPECT_EQ(mem.read_phys(0x1001, 2), 0x2233u);
  // Past RAM, nothing decodes the address: all ones, writes ignored and counted.
  EXPECT_EQ(mem.read_phys(2u << 20, 4), 0xffffffffu);
  mem.write_phys(2u << 20, 1, 0);
  EXPECT_EQ(mem.unbacked_reads(), 4u);
  EXPECT_EQ(mem.unbacked_writes(), 1u);

  uint64_t last_off = 0, last_val = 0;
  unsigned last_size = 0;
  MmioHandler h;
  h.read = [](uint64_t off, unsigned) { return 0xa0 + off; };
  h.write = [&](uint64_t off, unsigned size, uint64_t v) {
    last_off = off;
    last_size = size;
    last_val = v;
  };
  mem.add_mmio(0xfee00000, 0x1000, h, "test");
  EXPECT_EQ(mem.read_phys(0xfee00010, 4), 0xb0u);
  mem.write_phys(0xfee00020, 4, 0xdeadbeef);
  EXPECT_EQ(last_off, 0x20u);
  EXPECT_EQ(last_size, 4u);
  EXPECT_EQ(last_val, 0xdeadbeefu);
}

TEST(PortBus, ClaimedUnclaimedAndSplit) {
  PortBus bus;
  uint32_t written = 0;
  PortHandler h;
  h.read = [](uint16_t port, unsigned size) -> uint32_t { return size == 1 ? port & 0xff : 0x12345678; };
  h.write = [&](uint16_t, unsigned, uint32_t v) { written = v; };
  bus.add(0x60, 1, h, "kbd");
  bus.add(0xcfc, 4, h, "pci-data");
  EXPECT_EQ(bus.read(0x60, 1), 0x60u);
  EXPECT_EQ(bus.read(0xcfc, 4), 0x12345678u);  // whole access to the owner of all 4 ports
  EXPECT_EQ(bus.read(0x70, 1), 0xffu);         // unclaimed
  EXPECT_EQ(bus.read(0x5f, 2), 0x60ffu);       // split: 0x5f unclaimed, 0x60 claimed
  bus.write(0x80, 1, 0x42);
  EXPECT_EQ(bus.unclaimed_writes(), 1u);
  bus.write(0x60, 1, 0x1ab);
  EXPECT_EQ(written, 0xabu);
  EXPECT_EQ(bus.owner(0x60), "kbd");
}

// A translator that maps only [0, 0x3000) and raises #PF elsewhere.
class ThreePages final : public AddressTranslator {
 public:
  Translation translate(CpuState& cpu, uint64_t linear, Access access) override {
    if (linear >= 0x3000) raise_fault(cpu, kPF, access == Access::Write ? 6 : 4, linear);
    return Translation{linear + 0x10000, true, true};  // linear page N -> physical 0x10000 + N
  }
};

class AccessTest : public ::testing::Test {
 protected:
  AccessTest() : mem_(1u << 20), cpu_(std::make_unique<CpuState>()) {
    cpu_->memory = &mem_;
    cpu_->translator = &tr_;
    cpu_->mode64 = 1;
    tlb_flush_all(*cpu_);
  }
  // Runs f, returning the vector it raised or -1.
  template <typename F>
  int catch_fault(F f) {
    std::jmp_buf jb;
    cpu_->fault_jmp = &jb;
    if (setjmp(jb) == 0) {
      f();
      return -1;
    }
    return static_cast<int>(cpu_->pending_fault_vector);
  }
  GuestMemory mem_;
  ThreePages tr_;
  std::unique_ptr<CpuState> cpu_;
};

TEST_F(AccessTest, FastPathAfterFillAndTranslationApplied) {
  CpuState& c = *cpu_;
  mem_.write_phys(0x10100, 8, 0x0102030405060708);
  EXPECT_EQ(catch_fault([&] { EXPECT_EQ(read_mem<uint64_t>(c, 0x100), 0x0102030405060708u); }), -1);
  EXPECT_EQ(tlb_entry(c, 0x100).tag_read, 0u);  // filled
  EXPECT_EQ(catch_fault([&] { write_mem<uint32_t>(c, 0x200, 0xcafef00d); }), -1);
  EXPECT_EQ(mem_.read_phys(0x10200, 4), 0xcafef00du);
}

TEST_F(AccessTest, PageCrossingAccessChecksBothPagesFirst) {
  CpuState& c = *cpu_;
  // Crossing from mapped page 2 into unmapped page 3: the write faults and writes nothing.
  mem_.write_phys(0x12ffc, 4, 0x11111111);
  EXPECT_EQ(catch_fault([&] { write_mem<uint64_t>(c, 0x2ffc, ~uint64_t{0}); }), kPF);
  EXPECT_EQ(c.pending_fault_addr, 0x3000u);
  EXPECT_EQ(mem_.read_phys(0x12ffc, 4), 0x11111111u);
  // Crossing between two mapped pages works in both directions.
  EXPECT_EQ(catch_fault([&] { write_mem<uint32_t>(c, 0xffe, 0xaabbccdd); }), -1);
  EXPECT_EQ(mem_.read_phys(0x10ffe, 2), 0xccddu);
  EXPECT_EQ(mem_.read_phys(0x11000, 2), 0xaabbu);
  EXPECT_EQ(catch_fault([&] { EXPECT_EQ(read_mem<uint32_t>(c, 0xffe), 0xaabbccddu); }), -1);
}

TEST_F(AccessTest, NonCanonicalIsGeneralProtection) {
  EXPECT_EQ(catch_fault([&] { read_mem<uint8_t>(*cpu_, 0x0000800000000000ull); }), kGP);
}

TEST_F(AccessTest, CodePagesAreNotWrittenDirectly) {
  CpuState& c = *cpu_;
  uint64_t invalidated = ~uint64_t{0};
  mem_.on_code_write = [&](uint64_t page) { invalidated = page; };
  mem_.mark_code_page(0x11000);
  EXPECT_EQ(catch_fault([&] { write_mem<uint8_t>(c, 0x1010, 0x90); }), -1);
  EXPECT_EQ(invalidated, 0x11000u);
  EXPECT_EQ(mem_.read_phys(0x11010, 1), 0x90u);
  EXPECT_FALSE(mem_.is_code_page(0x11000));
}

}  // namespace
}  // namespace umbra
