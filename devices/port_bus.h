// The I/O port address space (64 KiB of ports). Devices register handlers for port ranges;
// accesses are 1, 2 or 4 bytes. Unclaimed ports read as all ones and ignore writes, as on a PC
// where nothing decodes the address; such accesses are counted (the monitor shows them).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace umbra {

struct PortHandler {
  std::function<uint32_t(uint16_t port, unsigned size)> read;
  std::function<void(uint16_t port, unsigned size, uint32_t value)> write;
};

class PortBus {
 public:
  PortBus();
  // Claims ports [base, base+count). Later registrations take precedence over earlier ones.
  void add(uint16_t base, uint32_t count, PortHandler handler, std::string name);

  uint32_t read(uint16_t port, unsigned size);
  void write(uint16_t port, unsigned size, uint32_t value);

  uint64_t unclaimed_reads() const { return unclaimed_reads_; }
  uint64_t unclaimed_writes() const { return unclaimed_writes_; }
  // Name of the device owning `port`, or "" if none.
  const std::string& owner(uint16_t port) const;

 private:
  struct Range {
    uint16_t base;
    uint32_t count;
    PortHandler handler;
    std::string name;
  };
  std::vector<Range> ranges_;
  uint32_t read_untraced(uint16_t port, unsigned size);
  void write_untraced(uint16_t port, unsigned size, uint32_t value);

  std::vector<int16_t> index_;
  uint32_t trace_lo_ = 1, trace_hi_ = 0;  // UMBRA_TRACE_PORTS range (empty by default)  // port ->
                                          // index into ranges_, or -1
  uint64_t unclaimed_reads_ = 0, unclaimed_writes_ = 0;
};

}  // namespace umbra
