// Debug devices on the port bus:
// - the debug console (port 0xe9, as in Bochs and QEMU's isa-debugcon): bytes written appear on
//   the host's output; reads return 0xe9 so a guest can detect it;
// - isa-debug-exit (QEMU's device, same semantics): writing V ends the emulator with exit status
//   (V << 1) | 1, so a guest test can report pass/fail through the exit code.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>

#include "devices/port_bus.h"

namespace umbra {

void attach_debug_console(PortBus& bus, std::FILE* out, uint16_t port = 0xe9);

// `on_exit(status)` is called with (V << 1) | 1 when the guest writes V.
void attach_debug_exit(PortBus& bus, uint16_t iobase, uint16_t iosize,
                       std::function<void(int status)> on_exit);

}  // namespace umbra
