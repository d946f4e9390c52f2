// A minimal COM port: enough 16550 register behaviour for polled output and input (THR/RBR,
// LSR, scratch and the divisor latch read back), no interrupts or FIFOs. The full 16550A with
// FIFOs and interrupt-driven TX/RX replaces it with the platform work.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>

#include "devices/port_bus.h"

namespace umbra {

class MinimalSerial {
 public:
  MinimalSerial(PortBus& bus, uint16_t base, std::FILE* out);
  // Bytes the guest will read from RBR.
  void push_input(uint8_t byte) { input_.push_back(byte); }

 private:
  uint32_t read(uint16_t port);
  void write(uint16_t port, uint32_t value);

  uint16_t base_;
  std::FILE* out_;
  std::deque<uint8_t> input_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, dll_ = 0x0c, dlm_ = 0;
};

}  // namespace umbra
