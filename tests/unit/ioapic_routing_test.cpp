// IOAPIC (82093AA): registers through IOREGSEL/IOWIN, edge and level pins, remote IRR and the
// local APIC's EOI broadcast, masking, destinations, ExtINT.
#include <gtest/gtest.h>

#include "devices/ioapic.h"
#include "devices/lapic.h"
#include "lapic_test_util.h"
#include "softmmu/guest_memory.h"

namespace umbra {
namespace {

using test::ApicTestBench;
using test::FakePic;

class IoapicTest : public ::testing::Test {
 protected:
  IoapicTest() {
    connect_apic_bus(b.lapic(), io);
    b.enable();
  }

  uint32_t read(uint8_t index) {
    io.mmio_write(Ioapic::kRegSelect, 4, index);
    return static_cast<uint32_t>(io.mmio_read(Ioapic::kWindow, 4));
  }
  void write(uint8_t index, uint32_t value) {
    io.mmio_write(Ioapic::kRegSelect, 4, index);
    io.mmio_write(Ioapic::kWindow, 4, value);
  }
  void route(unsigned pin, uint64_t entry) {
    write(static_cast<uint8_t>(0x11 + 2 * pin), static_cast<uint32_t>(entry >> 32));
    write(static_cast<uint8_t>(0x10 + 2 * pin), static_cast<uint32_t>(entry));
  }
  // Services the interrupt the CPU would take: INTA + EOI.
  uint8_t take() {
    const uint8_t v = b.lapic().acknowledge();
    b.lapic().write_register(Lapic::kEoi, 0);
    return v;
  }

  ApicTestBench b;
  Ioapic io;
};

TEST_F(IoapicTest, IdentificationRegisters) {
  EXPECT_EQ(read(Ioapic::kVersion), 0x00170020u);  // 24 entries
  EXPECT_EQ(read(Ioapic::kId), 0u);
  write(Ioapic::kId, 0xFFFFFFFF);
  EXPECT_EQ(read(Ioapic::kId), 0x0F000000u);
  EXPECT_EQ(read(Ioapic::kArbitration), 0x0F000000u);
  write(Ioapic::kVersion, 0);
  EXPECT_EQ(read(Ioapic::kVersion), 0x00170020u);
  EXPECT_EQ(io.mmio_read(Ioapic::kRegSelect, 4), Ioapic::kVersion);
  EXPECT_EQ(read(0x40), 0u);  // past the table
}

TEST_F(IoapicTest, RedirectionEntriesResetMaskedAndKeepReadOnlyBits) {
  for (unsigned pin = 0; pin < Ioapic::kPins; ++pin) {
    EXPECT_EQ(read(static_cast<uint8_t>(0x10 + 2 * pin)), 0x10000u) << pin;
    EXPECT_EQ(read(static_cast<uint8_t>(0x11 + 2 * pin)), 0u) << pin;
  }
  write(0x10 + 2 * 5, 0xFFFFFFFF);
  write(0x11 + 2 * 5, 0xFFFFFFFF);
  // Delivery status (12) and remote IRR (14) are read-only, bits 55:17 reserved.
  EXPECT_EQ(read(0x10 + 2 * 5), 0x0001AFFFu);
  EXPECT_EQ(read(0x11 + 2 * 5), 0xFF000000u);
}

TEST_F(IoapicTest, ThroughGuestMemory) {
  GuestMemory mem(1u << 20);
  io.map(mem);
  mem.write_phys(0xFEC00000, 4, Ioapic::kVersion);
  EXPECT_EQ(mem.read_phys(0xFEC00010, 4), 0x00170020u);
  EXPECT_EQ(mem.read_phys(0xFEC00012, 1), 0x17u);
}

TEST_F(IoapicTest, EdgePinLatchesRisingEdges) {
  route(4, 0x34);  // fixed, physical destination 0, edge, unmasked
  io.set_irq(4, true);
  EXPECT_TRUE(b.lapic().irr_bit(0x34));
  EXPECT_TRUE(b.cpu().irq_line);
  EXPECT_EQ(take(), 0x34);
  EXPECT_FALSE(b.lapic().tmr_bit(0x34));
  io.set_irq(4, true);  // still high: no new edge
  EXPECT_FALSE(b.lapic().irr_bit(0x34));
  io.set_irq(4, false);
  io.set_irq(4, true);
  EXPECT_TRUE(b.lapic().irr_bit(0x34));
}

TEST_F(IoapicTest, EdgeWhileMaskedIsLost) {
  route(3, Ioapic::kMasked | 0x33);
  io.set_irq(3, true);
  io.set_irq(3, false);
  route(3, 0x33);
  EXPECT_FALSE(b.lapic().irr_bit(0x33));
  EXPECT_FALSE(b.lapic().has_interrupt());
}

TEST_F(IoapicTest, LevelPinRedeliversAfterEoiWhileAsserted) {
  route(9, Ioapic::kLevelTriggered | 0x39);
  io.set_irq(9, true);
  EXPECT_TRUE(b.lapic().irr_bit(0x39));
  EXPECT_TRUE(b.lapic().tmr_bit(0x39));
  EXPECT_TRUE(io.entry(9) & Ioapic::kRemoteIrr);
  EXPECT_TRUE(read(0x10 + 2 * 9) & Ioapic::kRemoteIrr);
  EXPECT_EQ(b.lapic().acknowledge(), 0x39);
  io.set_irq(9, true);  // remote IRR holds it back
  EXPECT_FALSE(b.lapic().irr_bit(0x39));
  // EOI with the line still asserted: the device still wants service.
  b.lapic().write_register(Lapic::kEoi, 0);
  EXPECT_TRUE(b.lapic().irr_bit(0x39));
  EXPECT_TRUE(io.entry(9) & Ioapic::kRemoteIrr);
  // The handler quiets the device before its EOI: no new interrupt.
  EXPECT_EQ(b.lapic().acknowledge(), 0x39);
  io.set_irq(9, false);
  b.lapic().write_register(Lapic::kEoi, 0);
  EXPECT_FALSE(b.lapic().irr_bit(0x39));
  EXPECT_FALSE(io.entry(9) & Ioapic::kRemoteIrr);
  EXPECT_FALSE(b.lapic().has_interrupt());
}

TEST_F(IoapicTest, UnmaskingAnAssertedLevelPinDelivers) {
  route(10, Ioapic::kMasked | Ioapic::kLevelTriggered | 0x3A);
  io.set_irq(10, true);
  EXPECT_FALSE(b.lapic().irr_bit(0x3A));
  route(10, Ioapic::kLevelTriggered | 0x3A);
  EXPECT_TRUE(b.lapic().irr_bit(0x3A));
}

TEST_F(IoapicTest, EoiRegisterClearsRemoteIrr) {
  route(11, Ioapic::kLevelTriggered | 0x3B);
  io.set_irq(11, true);
  EXPECT_EQ(b.lapic().acknowledge(), 0x3B);
  io.set_irq(11, false);
  io.mmio_write(Ioapic::kEoi, 4, 0x3C);  // another vector: no effect
  EXPECT_TRUE(io.entry(11) & Ioapic::kRemoteIrr);
  io.mmio_write(Ioapic::kEoi, 4, 0x3B);
  EXPECT_FALSE(io.entry(11) & Ioapic::kRemoteIrr);
}

TEST_F(IoapicTest, DestinationMustMatch) {
  route(5, (uint64_t{3} << 56) | Ioapic::kLevelTriggered | 0x35);  // physical APIC 3
  io.set_irq(5, true);
  EXPECT_FALSE(b.lapic().irr_bit(0x35));
  EXPECT_FALSE(io.entry(5) & Ioapic::kRemoteIrr);  // nobody accepted it: nobody will EOI it
  route(5, (uint64_t{0xFF} << 56) | Ioapic::kLevelTriggered | 0x35);  // broadcast
  EXPECT_TRUE(b.lapic().irr_bit(0x35));
  // Logical (flat): LDR bit 0.
  b.lapic().write_register(Lapic::kLdr, 0x01000000);
  route(6, (uint64_t{0x02} << 56) | (1u << 11) | 0x36);
  io.set_irq(6, true);
  EXPECT_FALSE(b.lapic().irr_bit(0x36));
  io.set_irq(6, false);
  route(6, (uint64_t{0x01} << 56) | (1u << 11) | (1u << 8) | 0x36);  // lowest priority
  io.set_irq(6, true);
  EXPECT_TRUE(b.lapic().irr_bit(0x36));
}

TEST_F(IoapicTest, NmiDelivery) {
  route(7, (4u << 8) | 0x00);
  io.set_irq(7, true);
  EXPECT_TRUE(b.cpu().nmi_pending);
  EXPECT_FALSE(b.lapic().has_interrupt());
}

TEST_F(IoapicTest, ExtIntReachesThePic) {
  FakePic pic;
  b.lapic().connect_pic([&] { return pic.output; }, [&] { return pic.acknowledge(); });
  route(0, 7u << 8);  // ExtINT, edge
  pic.output = true;
  io.set_irq(0, true);
  EXPECT_TRUE(b.lapic().has_interrupt());
  pic.vector = 0x30;
  EXPECT_EQ(b.lapic().acknowledge(), 0x30);
  EXPECT_EQ(pic.acks, 1u);
  EXPECT_FALSE(b.lapic().isr_bit(0x30));
  EXPECT_FALSE(b.lapic().has_interrupt());
}

TEST_F(IoapicTest, TwoLevelPinsSharingAVector) {
  route(16, Ioapic::kLevelTriggered | 0x50);
  route(17, Ioapic::kLevelTriggered | 0x50);
  io.set_irq(16, true);
  io.set_irq(17, true);
  EXPECT_TRUE(io.entry(16) & Ioapic::kRemoteIrr);
  EXPECT_TRUE(io.entry(17) & Ioapic::kRemoteIrr);
  EXPECT_EQ(b.lapic().acknowledge(), 0x50);
  io.set_irq(16, false);
  b.lapic().write_register(Lapic::kEoi, 0);  // both entries' remote IRR clear; pin 17 resends
  EXPECT_FALSE(io.entry(16) & Ioapic::kRemoteIrr);
  EXPECT_TRUE(io.entry(17) & Ioapic::kRemoteIrr);
  EXPECT_TRUE(b.lapic().irr_bit(0x50));
}

}  // namespace
}  // namespace umbra
