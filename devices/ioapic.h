// The I/O APIC (Intel 82093AA datasheet): 24 interrupt input pins, each routed by a 64-bit
// redirection-table entry to a vector and destination on the APIC bus. Registers are reached
// indirectly through IOREGSEL (offset 0x00) and IOWIN (offset 0x10) in its MMIO page at
// 0xFEC00000; version 20H adds the EOI register (offset 0x40).
//
// Pins are IrqSink inputs carrying the asserted state (true = interrupt requested). The
// electrical polarity is the board's business: the pin's polarity bit is stored and read back
// but does not invert the level, so a guest that programs active-low for a PCI line (as the MADT
// or _PRT tells it) still sees asserted = interrupt.
#pragma once

#include <cstdint>
#include <functional>

#include "devices/irq.h"
#include "devices/lapic.h"

namespace umbra {

class GuestMemory;

class Ioapic final : public IrqSink {
 public:
  static constexpr uint64_t kDefaultBase = 0xFEC00000;
  static constexpr uint64_t kMmioSize = 0x1000;
  static constexpr unsigned kPins = 24;
  // Version 20H, maximum redirection entry 23 (datasheet 3.2.2).
  static constexpr uint32_t kVersionValue = 0x00170020;

  // MMIO offsets.
  static constexpr uint64_t kRegSelect = 0x00, kWindow = 0x10, kEoi = 0x40;
  // Indirect register indices.
  static constexpr uint8_t kId = 0x00, kVersion = 0x01, kArbitration = 0x02, kRedirBase = 0x10;

  // Redirection-entry fields (datasheet 3.2.4).
  static constexpr uint64_t kDeliveryStatus = 1u << 12, kPolarityLow = 1u << 13,
                            kRemoteIrr = 1u << 14, kLevelTriggered = 1u << 15, kMasked = 1u << 16;

  Ioapic();

  // Where accepted interrupts go: returns true if a local APIC accepted the message. See
  // connect_apic_bus() for the usual wiring.
  std::function<bool(const ApicMessage&)> deliver;

  // Power-on state: every entry masked, edge, vector 0; ID 0.
  void reset();
  void map(GuestMemory& memory, uint64_t base = kDefaultBase);
  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);

  // IrqSink: pin `pin` is now asserted (true) or not.
  void set_irq(unsigned pin, bool level) override;
  // A local APIC's EOI of a level-triggered `vector` (or a write to the EOI register): clears
  // remote IRR of the level entries with that vector, and re-delivers those still asserted.
  void eoi(uint8_t vector);

  // For the monitor and tests.
  uint64_t entry(unsigned pin) const { return redir_[pin]; }
  bool pin_level(unsigned pin) const { return levels_ & (1u << pin); }
  uint8_t id() const { return static_cast<uint8_t>((id_ >> 24) & 0xF); }

 private:
  uint32_t read_indirect(uint8_t index) const;
  void write_indirect(uint8_t index, uint32_t value);
  void service(unsigned pin);  // delivers a level pin that needs it
  bool send(unsigned pin);

  uint32_t select_ = 0;
  uint32_t id_ = 0;
  uint64_t redir_[kPins] = {};
  uint32_t levels_ = 0;  // current pin levels, one bit per pin
};

// Wires the one local APIC and the IOAPIC together: the IOAPIC delivers to the APIC, and the
// APIC's level-triggered EOIs reach the IOAPIC.
void connect_apic_bus(Lapic& lapic, Ioapic& ioapic);

}  // namespace umbra
