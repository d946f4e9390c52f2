// Device timers on the guest clock (frontend/system/guest_clock.h). A device adds a timer once
// and then arms it with an absolute deadline in guest nanoseconds; the machine's main loop runs
// expired timers between slices of guest execution and, when the CPU is halted, waits until the
// earliest deadline (or, with the instruction clock, skips to it). A callback may re-arm its own
// timer (periodic modes) or arm others.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace umbra {

class TimerQueue {
 public:
  using TimerId = unsigned;
  static constexpr uint64_t kNever = ~uint64_t{0};

  TimerId add(std::function<void(uint64_t now_ns)> callback, std::string name);
  void arm(TimerId id, uint64_t deadline_ns);
  void disarm(TimerId id);
  bool armed(TimerId id) const { return timers_[id].deadline != kNever; }
  uint64_t deadline(TimerId id) const { return timers_[id].deadline; }

  // Earliest armed deadline, or kNever.
  uint64_t next_deadline() const;
  // Runs (in deadline order) every timer whose deadline is <= now_ns; a timer re-armed to a time
  // <= now_ns by its own callback runs again in the same call. Returns how many callbacks ran.
  unsigned run_expired(uint64_t now_ns);

  const std::string& name(TimerId id) const { return timers_[id].name; }
  uint64_t fired(TimerId id) const { return timers_[id].fired; }
  size_t size() const { return timers_.size(); }

 private:
  struct Timer {
    std::function<void(uint64_t)> callback;
    std::string name;
    uint64_t deadline = kNever;
    uint64_t fired = 0;
  };
  std::vector<Timer> timers_;  // a handful of devices: a linear scan beats a heap here
};

}  // namespace umbra
