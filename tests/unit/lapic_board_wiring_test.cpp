// The local APIC wired to the real 8259 pair and the IOAPIC the way the PC board wires them
// (ISA IRQs to both controllers, IRQ0 to IOAPIC pin 2, the PIC's INT on LINT0): the PIC through
// the virtual wire, then the APIC mode a Linux kernel switches to.
#include <gtest/gtest.h>

#include "devices/ioapic.h"
#include "devices/isa_irq_router.h"
#include "devices/lapic.h"
#include "devices/pic.h"
#include "devices/port_bus.h"
#include "lapic_test_util.h"

namespace umbra {
namespace {

using test::ApicTestBench;

class LapicBoardWiring : public ::testing::Test {
 protected:
  LapicBoardWiring() : pic(ports) {
    router.connect(&pic, &io);
    connect_apic_bus(b.lapic(), io);
    b.lapic().connect_pic([this] { return pic.output(); }, [this] { return pic.acknowledge(); });
    pic.on_output = [this](bool level) { b.lapic().set_lint0(level); };
    b.lapic().setup_virtual_wire();
  }

  // The usual PC initialisation: master at vector 0x20, slave at 0x28, cascade on IRQ2.
  void init_pics(uint8_t master_mask, uint8_t slave_mask) {
    ports.write(0x20, 1, 0x11);
    ports.write(0x21, 1, 0x20);
    ports.write(0x21, 1, 0x04);
    ports.write(0x21, 1, 0x01);
    ports.write(0xA0, 1, 0x11);
    ports.write(0xA1, 1, 0x28);
    ports.write(0xA1, 1, 0x02);
    ports.write(0xA1, 1, 0x01);
    ports.write(0x21, 1, master_mask);
    ports.write(0xA1, 1, slave_mask);
  }
  void route(unsigned pin, uint64_t entry) {
    io.mmio_write(Ioapic::kRegSelect, 4, 0x11 + 2 * pin);
    io.mmio_write(Ioapic::kWindow, 4, static_cast<uint32_t>(entry >> 32));
    io.mmio_write(Ioapic::kRegSelect, 4, 0x10 + 2 * pin);
    io.mmio_write(Ioapic::kWindow, 4, static_cast<uint32_t>(entry));
  }

  ApicTestBench b;
  PortBus ports;
  Pic8259Pair pic;
  Ioapic io;
  IsaIrqRouter router;
};

TEST_F(LapicBoardWiring, PicInterruptsThroughTheVirtualWire) {
  init_pics(0xFD, 0xFF);  // IRQ1 only
  EXPECT_FALSE(b.cpu().irq_line);
  router.line(1).raise();
  EXPECT_TRUE(b.cpu().irq_line);
  EXPECT_TRUE(b.cpu().exit_request & kExitInterrupt);
  EXPECT_EQ(b.lapic().acknowledge(), 0x21);
  EXPECT_FALSE(b.cpu().irq_line);
  router.line(1).lower();
  ports.write(0x20, 1, 0x20);  // non-specific EOI to the PIC
  // The IOAPIC saw the line too, but every entry is masked: nothing from that side.
  EXPECT_FALSE(b.lapic().has_interrupt());
  EXPECT_FALSE(b.lapic().irr_bit(0x21));
}

TEST_F(LapicBoardWiring, PicPassesStraightThroughAGloballyDisabledApic) {
  init_pics(0xFE, 0xFF);                                       // IRQ0 only
  ASSERT_TRUE(write_msr(b.cpu(), 0x1B, Lapic::kDefaultBase));  // clear the global enable
  router.line(0).pulse();
  EXPECT_TRUE(b.cpu().irq_line);
  EXPECT_EQ(b.lapic().acknowledge(), 0x20);
}

TEST_F(LapicBoardWiring, ApicModeTimerOnIoapicPin2) {
  init_pics(0xFF, 0xFF);  // Linux masks the 8259s once the IOAPIC is set up
  b.lapic().write_register(Lapic::kLvtLint0, 0x10700);
  route(2, 0x30);  // ISA IRQ0 (the PIT) arrives on pin 2: edge, vector 0x30, APIC 0
  route(9, Ioapic::kLevelTriggered | 0x39);  // the ACPI SCI: level
  router.line(0).pulse();
  EXPECT_TRUE(b.cpu().irq_line);
  EXPECT_EQ(b.lapic().acknowledge(), 0x30);
  b.lapic().write_register(Lapic::kEoi, 0);
  EXPECT_FALSE(b.cpu().irq_line);
  EXPECT_FALSE(pic.output());  // masked at the PIC
  router.line(9).raise();
  EXPECT_EQ(b.lapic().acknowledge(), 0x39);
  router.line(9).lower();
  b.lapic().write_register(Lapic::kEoi, 0);
  EXPECT_FALSE(io.entry(9) & Ioapic::kRemoteIrr);
  EXPECT_FALSE(b.lapic().has_interrupt());
}

}  // namespace
}  // namespace umbra
