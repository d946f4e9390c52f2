#include "devices/port80.h"

namespace umbra {

PostCodePort::PostCodePort(PortBus& bus, uint16_t port) {
  PortHandler h;
  h.read = [this](uint16_t, unsigned) -> uint32_t { return last_; };
  h.write = [this](uint16_t, unsigned, uint32_t v) {
    last_ = static_cast<uint8_t>(v);
    ++writes_;
  };
  bus.add(port, 1, std::move(h), "post-code");
}

}  // namespace umbra
