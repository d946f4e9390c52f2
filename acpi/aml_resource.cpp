#include "acpi/aml_resource.h"

#include <stdexcept>

namespace umbra::aml {

namespace {

// Small descriptor tag: bits 6-3 item name, bits 2-0 length (6.4.2).
constexpr uint8_t small_tag(unsigned item, unsigned length) {
  return static_cast<uint8_t>((item << 3) | length);
}
constexpr unsigned kSmallIrq = 0x04, kSmallIo = 0x08, kSmallEnd = 0x0F;
// Large descriptor tag: bit 7 set, bits 6-0 item name (6.4.3).
constexpr uint8_t kLargeMemory32Fixed = 0x86, kLargeDWordAddr = 0x87, kLargeWordAddr = 0x88,
                  kLargeExtIrq = 0x89, kLargeQWordAddr = 0x8A;
// Address space resource types (6.4.3.5).
constexpr uint8_t kAddrMemory = 0, kAddrIo = 1, kAddrBus = 2;
// General flags: bit 0 consumer, bit 1 subtractive decode, bit 2 MinFixed, bit 3 MaxFixed.
constexpr uint8_t kMinMaxFixed = 0x0C;
// I/O type-specific flags: bits 1-0 = 3, EntireRange (both ISA and non-ISA addresses).
constexpr uint8_t kIoEntireRange = 0x03;

void append_le(AmlCode& out, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

AmlCode address_space(uint8_t tag, unsigned width, uint8_t type, Producer p, uint8_t type_flags,
                      uint64_t min, uint64_t max) {
  if (max < min) throw std::invalid_argument("resource window with max < min");
  AmlCode out{tag};
  append_le(out, 3 + 5 * width, 2);  // bytes after the length field
  out.push_back(type);
  out.push_back(static_cast<uint8_t>(kMinMaxFixed | static_cast<uint8_t>(p)));
  out.push_back(type_flags);
  append_le(out, 0, width);  // granularity: 0 for fixed windows (decode all address bits)
  append_le(out, min, width);
  append_le(out, max, width);
  append_le(out, 0, width);  // translation offset
  append_le(out, max - min + 1, width);
  return out;
}

uint8_t memory_flags(MemCache cache, bool read_write) {
  // Bit 0 read/write, bits 2-1 cacheability, bits 4-3 AddressRangeMemory (0), bit 5 TypeStatic.
  return static_cast<uint8_t>((read_write ? 1 : 0) | (static_cast<unsigned>(cache) << 1));
}

uint16_t irq_mask(std::initializer_list<unsigned> irqs) {
  uint16_t mask = 0;
  for (unsigned irq : irqs) {
    if (irq > 15) throw std::invalid_argument("ISA IRQ descriptors hold IRQ 0..15");
    mask = static_cast<uint16_t>(mask | (1u << irq));
  }
  return mask;
}

}  // namespace

AmlCode end_tag(const AmlCode& descriptors) {
  AmlCode out{small_tag(kSmallEnd, 1), 0};
  uint8_t sum = out[0];
  for (uint8_t b : descriptors) sum = static_cast<uint8_t>(sum + b);
  out[1] = static_cast<uint8_t>(-sum);
  return out;
}

AmlCode resource_template(const AmlList& descriptors) {
  AmlCode data = cat(descriptors);
  const AmlCode end = end_tag(data);
  data.insert(data.end(), end.begin(), end.end());
  return buffer(data);
}

AmlCode io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length, bool decode16) {
  AmlCode out{small_tag(kSmallIo, 7), static_cast<uint8_t>(decode16 ? 1 : 0)};
  append_le(out, min, 2);
  append_le(out, max, 2);
  out.push_back(alignment);
  out.push_back(length);
  return out;
}

AmlCode irq_no_flags(std::initializer_list<unsigned> irqs) {
  AmlCode out{small_tag(kSmallIrq, 2)};
  append_le(out, irq_mask(irqs), 2);
  return out;
}

AmlCode irq(std::initializer_list<unsigned> irqs, bool edge, bool active_low, bool shared) {
  AmlCode out{small_tag(kSmallIrq, 3)};
  append_le(out, irq_mask(irqs), 2);
  // Bit 0 edge, bit 3 active low, bit 4 shared (6.4.2.1).
  out.push_back(
      static_cast<uint8_t>((edge ? 0x01 : 0) | (active_low ? 0x08 : 0) | (shared ? 0x10 : 0)));
  return out;
}

AmlCode word_bus_number(uint16_t min, uint16_t max, Producer p) {
  return address_space(kLargeWordAddr, 2, kAddrBus, p, 0, min, max);
}

AmlCode word_io(uint16_t min, uint16_t max, Producer p) {
  return address_space(kLargeWordAddr, 2, kAddrIo, p, kIoEntireRange, min, max);
}

AmlCode dword_io(uint32_t min, uint32_t max, Producer p) {
  return address_space(kLargeDWordAddr, 4, kAddrIo, p, kIoEntireRange, min, max);
}

AmlCode dword_memory(uint32_t min, uint32_t max, MemCache cache, bool read_write, Producer p) {
  return address_space(kLargeDWordAddr, 4, kAddrMemory, p, memory_flags(cache, read_write), min,
                       max);
}

AmlCode qword_memory(uint64_t min, uint64_t max, MemCache cache, bool read_write, Producer p) {
  return address_space(kLargeQWordAddr, 8, kAddrMemory, p, memory_flags(cache, read_write), min,
                       max);
}

AmlCode memory32_fixed(uint32_t base, uint32_t length, bool read_write) {
  AmlCode out{kLargeMemory32Fixed};
  append_le(out, 9, 2);
  out.push_back(read_write ? 1 : 0);
  append_le(out, base, 4);
  append_le(out, length, 4);
  return out;
}

AmlCode interrupt(std::initializer_list<uint32_t> gsis, bool edge, bool active_low, bool shared) {
  if (gsis.size() == 0 || gsis.size() > 255) throw std::invalid_argument("bad Interrupt list");
  AmlCode out{kLargeExtIrq};
  append_le(out, 2 + 4 * gsis.size(), 2);
  // Bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared (6.4.3.6).
  out.push_back(static_cast<uint8_t>(0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0) |
                                     (shared ? 0x08 : 0)));
  out.push_back(static_cast<uint8_t>(gsis.size()));
  for (uint32_t gsi : gsis) append_le(out, gsi, 4);
  return out;
}

}  // namespace umbra::aml
