// A CPU, a deterministic guest clock (1 ns per retired instruction) and a timer queue for local
// APIC / IOAPIC unit tests.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "devices/lapic.h"
#include "devices/timer_queue.h"
#include "frontend/cpu_state.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/guest_clock.h"
#include "frontend/system/msr.h"

namespace umbra::test {

class ApicTestBench {
 public:
  explicit ApicTestBench(bool tsc_deadline = true)
      : cpu_(std::make_unique<CpuState>()), clock_(GuestClock::Source::kInstructions, 0) {
    // The default model with (or without) TSC-deadline, independent of what the model table
    // advertises today.
    model_ = default_cpu_model();
    const unsigned w = feature_word(Feature::TSC_DEADLINE);
    if (tsc_deadline)
      model_.features[w] |= feature_mask(Feature::TSC_DEADLINE);
    else
      model_.features[w] &= ~feature_mask(Feature::TSC_DEADLINE);
    clock_.attach(cpu_.get());
    cpu_->clock = &clock_;
    reset_model_state(*cpu_, model_);
    lapic_ = std::make_unique<Lapic>(*cpu_, timers_);
    cpu_->platform = lapic_.get();
  }

  CpuState& cpu() { return *cpu_; }
  Lapic& lapic() { return *lapic_; }
  TimerQueue& timers() { return timers_; }
  const CpuModel& model() const { return model_; }
  uint64_t now() const { return clock_.now_ns(); }

  // Lets `ns` of guest time pass and runs the timers that expired, as the machine loop does.
  void advance(uint64_t ns) {
    cpu_->insn_count += ns;
    timers_.run_expired(clock_.now_ns());
  }
  // Advances to absolute guest time `ns`.
  void advance_to(uint64_t ns) {
    ASSERT_GE(ns, now());
    advance(ns - now());
  }

  void enable() { lapic_->write_register(Lapic::kSvr, 0x1FF); }

 private:
  std::unique_ptr<CpuState> cpu_;
  GuestClock clock_;
  CpuModel model_;
  TimerQueue timers_;
  std::unique_ptr<Lapic> lapic_;
};

// A stand-in for the 8259 pair's CPU side.
struct FakePic {
  bool output = false;
  uint8_t vector = 0x20;
  unsigned acks = 0;
  uint8_t acknowledge() {
    ++acks;
    output = false;
    return vector;
  }
};

}  // namespace umbra::test
