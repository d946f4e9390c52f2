#include "devices/timer_queue.h"

namespace umbra {

TimerQueue::TimerId TimerQueue::add(std::function<void(uint64_t)> callback, std::string name) {
  timers_.push_back(Timer{std::move(callback), std::move(name)});
  return static_cast<TimerId>(timers_.size() - 1);
}

void TimerQueue::arm(TimerId id, uint64_t deadline_ns) {
  timers_[id].deadline = deadline_ns;
}

void TimerQueue::disarm(TimerId id) {
  timers_[id].deadline = kNever;
}

uint64_t TimerQueue::next_deadline() const {
  uint64_t next = kNever;
  for (const Timer& t : timers_) next = t.deadline < next ? t.deadline : next;
  return next;
}

unsigned TimerQueue::run_expired(uint64_t now_ns) {
  unsigned ran = 0;
  // Bounded so a timer that keeps re-arming itself in the past cannot hang the host.
  for (unsigned guard = 0; guard < 100000; ++guard) {
    Timer* first = nullptr;
    for (Timer& t : timers_)
      if (t.deadline <= now_ns && (!first || t.deadline < first->deadline)) first = &t;
    if (!first) break;
    first->deadline = kNever;
    ++first->fired;
    ++ran;
    first->callback(now_ns);
  }
  return ran;
}

}  // namespace umbra
