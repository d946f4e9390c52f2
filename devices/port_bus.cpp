#include "devices/port_bus.h"

namespace umbra {

PortBus::PortBus() : index_(65536, -1) {}

void PortBus::add(uint16_t base, uint32_t count, PortHandler handler, std::string name) {
  ranges_.push_back(Range{base, count, std::move(handler), std::move(name)});
  const auto idx = static_cast<int16_t>(ranges_.size() - 1);
  for (uint32_t p = base; p < base + count && p < 65536; ++p) index_[p] = idx;
}

const std::string& PortBus::owner(uint16_t port) const {
  static const std::string kNone;
  return index_[port] < 0 ? kNone : ranges_[index_[port]].name;
}

// A multi-byte access is delivered whole to the device owning the first port when it owns all
// of them (devices such as the PCI data port take 2- and 4-byte accesses); otherwise it is split
// into byte accesses, each going to whoever owns that port.
uint32_t PortBus::read(uint16_t port, unsigned size) {
  const int16_t idx = index_[port];
  if (idx >= 0) {
    const Range& r = ranges_[idx];
    if (port + size <= r.base + r.count && r.handler.read) {
      uint32_t v = r.handler.read(port, size);
      return size == 4 ? v : v & ((1u << (8 * size)) - 1);
    }
  }
  if (size == 1) {
    if (idx < 0 || !ranges_[idx].handler.read) {
      ++unclaimed_reads_;
      return 0xff;
    }
    return ranges_[idx].handler.read(port, 1) & 0xff;
  }
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= read(static_cast<uint16_t>(port + i), 1) << (8 * i);
  return v;
}

void PortBus::write(uint16_t port, unsigned size, uint32_t value) {
  const int16_t idx = index_[port];
  if (idx >= 0) {
    const Range& r = ranges_[idx];
    if (port + size <= r.base + r.count && r.handler.write) {
      r.handler.write(port, size, size == 4 ? value : value & ((1u << (8 * size)) - 1));
      return;
    }
  }
  if (size == 1) {
    if (idx < 0 || !ranges_[idx].handler.write) {
      ++unclaimed_writes_;
      return;
    }
    ranges_[idx].handler.write(port, 1, value & 0xff);
    return;
  }
  for (unsigned i = 0; i < size; ++i)
    write(static_cast<uint16_t>(port + i), 1, (value >> (8 * i)) & 0xff);
}

}  // namespace umbra
