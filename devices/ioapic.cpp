// 82093AA I/O APIC: indirect register access, redirection table, edge and level pins with
// remote IRR.
#include "devices/ioapic.h"

#include "softmmu/guest_memory.h"

namespace umbra {

namespace {

// Writable bits of a redirection entry: vector (7:0), delivery mode (10:8), destination mode
// (11), polarity (13), trigger mode (15), mask (16), destination (63:56). Delivery status (12)
// and remote IRR (14) are read-only (datasheet 3.2.4).
constexpr uint64_t kRedirWritable = 0xFF000000'0001AFFFull;

}  // namespace

Ioapic::Ioapic() {
  reset();
}

void Ioapic::reset() {
  select_ = 0;
  id_ = 0;
  for (uint64_t& e : redir_) e = kMasked;
  // levels_ is kept: the wires into the pins do not change because the IOAPIC was reset.
}

void Ioapic::map(GuestMemory& memory, uint64_t base) {
  MmioHandler h;
  h.read = [this](uint64_t offset, unsigned size) { return mmio_read(offset, size); };
  h.write = [this](uint64_t offset, unsigned size, uint64_t value) {
    mmio_write(offset, size, value);
  };
  memory.add_mmio(base, kMmioSize, std::move(h), "ioapic");
}

// IOREGSEL and IOWIN are 32-bit registers (datasheet 3.1); narrower accesses see the addressed
// bytes, anything else in the page reads as zero.
uint64_t Ioapic::mmio_read(uint64_t offset, unsigned size) {
  uint32_t reg;
  const uint64_t slot = offset & ~uint64_t{3};
  if (slot == kRegSelect)
    reg = select_;
  else if (slot == kWindow)
    reg = read_indirect(static_cast<uint8_t>(select_));
  else
    return 0;
  const unsigned shift = 8 * (offset & 3);
  const uint64_t v = uint64_t{reg} >> shift;
  return size >= 4 ? v : v & ((uint64_t{1} << (8 * size)) - 1);
}

void Ioapic::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  const uint64_t slot = offset & ~uint64_t{3};
  const unsigned shift = 8 * (offset & 3);
  auto merge = [&](uint32_t old) {
    if (size >= 4 && shift == 0) return static_cast<uint32_t>(value);
    const uint32_t mask = static_cast<uint32_t>(
        ((size >= 4 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1)) << shift);
    return (old & ~mask) | (static_cast<uint32_t>(value << shift) & mask);
  };
  if (slot == kRegSelect) {
    select_ = merge(select_) & 0xFF;  // IOREGSEL bits 7:0 name the register
  } else if (slot == kWindow) {
    const uint8_t index = static_cast<uint8_t>(select_);
    write_indirect(index, merge(read_indirect(index)));
  } else if (slot == kEoi) {
    eoi(static_cast<uint8_t>(value));  // version 20H's EOI register: the vector, bits 7:0
  }
}

uint32_t Ioapic::read_indirect(uint8_t index) const {
  switch (index) {
    case kId:
      return id_;
    case kVersion:
      return kVersionValue;
    case kArbitration:
      return id_;  // the arbitration ID is loaded from the APIC ID (datasheet 3.2.3)
    default:
      break;
  }
  if (index >= kRedirBase && index < kRedirBase + 2 * kPins) {
    const uint64_t e = redir_[(index - kRedirBase) / 2];
    return static_cast<uint32_t>(index & 1 ? e >> 32 : e);
  }
  return 0;
}

void Ioapic::write_indirect(uint8_t index, uint32_t value) {
  if (index == kId) {
    id_ = value & 0x0F000000;  // ID in bits 27:24
    return;
  }
  if (index < kRedirBase || index >= kRedirBase + 2 * kPins) return;  // read-only or absent
  const unsigned pin = (index - kRedirBase) / 2;
  uint64_t& e = redir_[pin];
  const uint64_t half = index & 1 ? uint64_t{value} << 32 : uint64_t{value};
  const uint64_t half_mask = index & 1 ? 0xFFFFFFFF'00000000ull : 0x00000000'FFFFFFFFull;
  const uint64_t writable = kRedirWritable & half_mask;
  e = (e & ~writable) | (half & writable);
  // An edge entry has no remote IRR (it is only meaningful for level-triggered interrupts).
  if (!(e & kLevelTriggered)) e &= ~kRemoteIrr;
  // Unmasking (or reprogramming) a level entry whose line is asserted delivers it.
  service(pin);
}

void Ioapic::set_irq(unsigned pin, bool level) {
  if (pin >= kPins) return;
  const uint32_t bit = 1u << pin;
  const bool was = levels_ & bit;
  if (level)
    levels_ |= bit;
  else
    levels_ &= ~bit;
  const uint64_t e = redir_[pin];
  if (e & kLevelTriggered) {
    service(pin);
  } else if (level && !was && !(e & kMasked)) {
    send(pin);  // edge: the rising edge is the request; an edge while masked is lost
  }
}

void Ioapic::service(unsigned pin) {
  const uint64_t e = redir_[pin];
  if (!(e & kLevelTriggered) || (e & kMasked) || (e & kRemoteIrr)) return;
  if (!(levels_ & (1u << pin))) return;
  // Remote IRR: set when a local APIC accepts the level interrupt, cleared by its EOI; until
  // then the asserted pin is not sent again (datasheet 3.2.4).
  // Only fixed and lowest-priority interrupts are EOIed; the other modes must be programmed
  // edge-triggered (datasheet 3.2.4), so a level entry of theirs is simply sent.
  const auto mode = static_cast<ApicDelivery>((e >> 8) & 7);
  const bool eoi_expected = mode == ApicDelivery::kFixed || mode == ApicDelivery::kLowestPriority;
  if (send(pin) && eoi_expected) redir_[pin] |= kRemoteIrr;
}

bool Ioapic::send(unsigned pin) {
  if (!deliver) return false;
  const uint64_t e = redir_[pin];
  ApicMessage m;
  m.vector = static_cast<uint8_t>(e);
  m.delivery = static_cast<ApicDelivery>((e >> 8) & 7);
  m.logical = e & (1u << 11);
  m.destination = static_cast<uint8_t>(e >> 56);
  m.level = e & kLevelTriggered;
  return deliver(m);
}

void Ioapic::eoi(uint8_t vector) {
  for (unsigned pin = 0; pin < kPins; ++pin) {
    uint64_t& e = redir_[pin];
    if ((e & kLevelTriggered) && (e & kRemoteIrr) && static_cast<uint8_t>(e) == vector) {
      e &= ~kRemoteIrr;
      service(pin);  // still asserted: the device wants service again
    }
  }
}

void connect_apic_bus(Lapic& lapic, Ioapic& ioapic) {
  ioapic.deliver = [&lapic](const ApicMessage& m) { return lapic.accept_message(m); };
  lapic.on_level_eoi = [&ioapic](uint8_t vector) { ioapic.eoi(vector); };
}

}  // namespace umbra
