// Resource descriptors, the contents of a ResourceTemplate () (a _CRS / _PRS buffer), per ACPI 6.x
// section 6.4 ("Resource Data Types for ACPI"): small descriptors (6.4.2: IRQ, I/O, End Tag) and
// large ones (6.4.3: address space descriptors, extended interrupt, 32-bit fixed memory).
//
// Each function returns the descriptor's bytes; resource_template() wraps a list of them in an
// AML Buffer with the End Tag and its checksum. Address space descriptors are emitted with
// MinFixed/MaxFixed set and Length = Max - Min + 1, the form a fixed window or a fixed device
// range takes; the byte offsets of their fields (kAddr*Offset) let AML code patch a template at
// run time with CreateDWordField/CreateQWordField (the memory hotplug _CRS does that).
#pragma once

#include <cstdint>
#include <initializer_list>

#include "acpi/aml.h"

namespace umbra::aml {

// Buffer { descriptors..., EndTag(checksum) }.
AmlCode resource_template(const AmlList& descriptors);
// The End Tag alone, with the checksum that makes the given descriptors plus the tag sum to 0.
AmlCode end_tag(const AmlCode& descriptors);

// IO (Decode16 or Decode10, min, max, alignment, length): small descriptor type 0x08.
AmlCode io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length, bool decode16 = true);
// IRQNoFlags () {irqs}: edge, active-high, exclusive ISA interrupts.
AmlCode irq_no_flags(std::initializer_list<unsigned> irqs);
// IRQ (Edge/Level, ActiveHigh/ActiveLow, Exclusive/Shared) {irqs}.
AmlCode irq(std::initializer_list<unsigned> irqs, bool edge, bool active_low, bool shared);

enum class Producer : uint8_t { kProducer = 0, kConsumer = 1 };

// WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, len).
AmlCode word_bus_number(uint16_t min, uint16_t max, Producer p = Producer::kProducer);
// WordIO / DWordIO (..., EntireRange): an I/O window.
AmlCode word_io(uint16_t min, uint16_t max, Producer p = Producer::kProducer);
AmlCode dword_io(uint32_t min, uint32_t max, Producer p = Producer::kProducer);

enum class MemCache : uint8_t {
  kNonCacheable = 0,
  kCacheable = 1,
  kWriteCombining = 2,
  kPrefetchable = 3,
};
// DWordMemory / QWordMemory (..., cache, ReadWrite or ReadOnly, 0, min, max, 0, len).
AmlCode dword_memory(uint32_t min, uint32_t max, MemCache cache, bool read_write = true,
                     Producer p = Producer::kProducer);
AmlCode qword_memory(uint64_t min, uint64_t max, MemCache cache, bool read_write = true,
                     Producer p = Producer::kProducer);
// Memory32Fixed (ReadWrite or ReadOnly, base, length).
AmlCode memory32_fixed(uint32_t base, uint32_t length, bool read_write = true);
// Interrupt (ResourceConsumer, Edge/Level, ActiveHigh/ActiveLow, Exclusive/Shared) {gsis}.
AmlCode interrupt(std::initializer_list<uint32_t> gsis, bool edge, bool active_low, bool shared);

// Byte offsets of fields inside an address space descriptor (from its first byte), for run-time
// patching: general layout of 6.4.3.5 (the tag and 2-byte length, then type, general flags,
// type-specific flags, then granularity, min, max, translation, length each of the
// descriptor's width).
constexpr unsigned kAddrHeaderBytes = 6;
constexpr unsigned addr_min_offset(unsigned width) {
  return kAddrHeaderBytes + width;
}
constexpr unsigned addr_max_offset(unsigned width) {
  return kAddrHeaderBytes + 2 * width;
}
constexpr unsigned addr_len_offset(unsigned width) {
  return kAddrHeaderBytes + 4 * width;
}

}  // namespace umbra::aml
