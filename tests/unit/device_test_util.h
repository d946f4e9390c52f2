// Shared pieces of the device unit tests: an interrupt controller stand-in that records what the
// device under test does to its lines, and a zeroed CPU whose instruction count drives an
// instruction-source GuestClock (so device time moves only when a test says so).
#pragma once

#include <cstring>
#include <memory>

#include "devices/irq.h"
#include "frontend/cpu_state.h"

namespace umbra::test {

struct RecordingSink : IrqSink {
  void set_irq(unsigned pin, bool level) override {
    if (level && !levels[pin]) ++rises[pin];
    levels[pin] = level;
  }
  bool levels[16] = {};
  unsigned rises[16] = {};
};

inline std::unique_ptr<CpuState> zeroed_cpu() {
  auto cpu = std::make_unique<CpuState>();
  return cpu;
}

}  // namespace umbra::test
