// Port 0x80, the POST code port: firmware writes progress codes there (shown on diagnostic
// cards) and Linux writes it as an I/O delay (io_delay). Writes are swallowed and the last
// value kept for the monitor; reads return it.
#pragma once

#include <cstdint>

#include "devices/port_bus.h"

namespace umbra {

class PostCodePort {
 public:
  explicit PostCodePort(PortBus& bus, uint16_t port = 0x80);
  uint8_t last() const { return last_; }
  uint64_t writes() const { return writes_; }

 private:
  uint8_t last_ = 0;
  uint64_t writes_ = 0;
};

}  // namespace umbra
