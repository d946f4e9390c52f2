#include "devices/debug_ports.h"

namespace umbra {

void attach_debug_console(PortBus& bus, std::FILE* out, uint16_t port) {
  PortHandler h;
  h.read = [port](uint16_t, unsigned) -> uint32_t { return port; };
  h.write = [out](uint16_t, unsigned size, uint32_t value) {
    for (unsigned i = 0; i < size; ++i) std::fputc(static_cast<int>((value >> (8 * i)) & 0xff), out);
    std::fflush(out);
  };
  bus.add(port, 1, std::move(h), "debugcon");
}

void attach_debug_exit(PortBus& bus, uint16_t iobase, uint16_t iosize,
                       std::function<void(int status)> on_exit) {
  PortHandler h;
  h.read = [](uint16_t, unsigned) -> uint32_t { return 0; };
  h.write = [on_exit = std::move(on_exit)](uint16_t, unsigned, uint32_t value) {
    on_exit(static_cast<int>(((value << 1) | 1) & 0xff));
  };
  bus.add(iobase, iosize, std::move(h), "isa-debug-exit");
}

}  // namespace umbra
