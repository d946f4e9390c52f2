#include "devices/port_bus.h"

#include <cstdio>
#include <cstdlib>

namespace umbra {

// UMBRA_TRACE_PORTS=LO-HI (hex) prints every guest access to ports LO..HI on stderr: a
// debugging aid for device bring-up.
PortBus::PortBus() : index_(65536, -1) {
  if (const char* t = std::getenv("UMBRA_TRACE_PORTS")) {
    unsigned lo = 0, hi = 0;
    if (std::sscanf(t, "%x-%x", &lo, &hi) == 2 && lo <= hi && hi < 65536) {
      trace_lo_ = lo;
      trace_hi_ = hi;
    }
  }
}

uint32_t PortBus::read(uint16_t port, unsigned size) {
  const uint32_t v = read_untraced(port, size);
  if (port >= trace_lo_ && port <= trace_hi_)
    std::fprintf(stderr, "port: in%c %#06x -> %#x\n", "?bw?d"[size], port, v);
  return v;
}

void PortBus::write(uint16_t port, unsigned size, uint32_t value) {
  if (port >= trace_lo_ && port <= trace_hi_)
    std::fprintf(stderr, "port: out%c %#06x <- %#x\n", "?bw?d"[size], port, value);
  write_untraced(port, size, value);
}

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
uint32_t PortBus::read_untraced(uint16_t port, unsigned size) {
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
  for (unsigned i = 0; i < size; ++i)
    v |= read_untraced(static_cast<uint16_t>(port + i), 1) << (8 * i);
  return v;
}

void PortBus::write_untraced(uint16_t port, unsigned size, uint32_t value) {
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
    write_untraced(static_cast<uint16_t>(port + i), 1, (value >> (8 * i)) & 0xff);
}

}  // namespace umbra
