// The local APIC timer (SDM vol. 3, 10.5.4): one-shot and periodic modes counting down at the
// core crystal clock divided by the divide configuration register, and TSC-deadline mode
// (10.5.4.1) firing when the guest TSC reaches IA32_TSC_DEADLINE. Nothing is done per tick: the
// count is computed from the guest clock when read, and one TimerQueue timer is armed for the
// next expiry.
#include <algorithm>

#include "devices/lapic.h"
#include "frontend/cpu_state.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/guest_clock.h"
#include "frontend/system/tsc.h"

namespace umbra {

namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000;

uint64_t mul_div_floor(uint64_t a, uint64_t b, uint64_t c) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(a) * b / c);
}

uint64_t mul_div_ceil(uint64_t a, uint64_t b, uint64_t c) {
  const unsigned __int128 q = (static_cast<unsigned __int128>(a) * b + c - 1) / c;
  return q >= TimerQueue::kNever ? TimerQueue::kNever - 1 : static_cast<uint64_t>(q);
}

}  // namespace

uint64_t Lapic::now_ns() const {
  return cpu_.clock ? cpu_.clock->now_ns() : host_monotonic_ns();
}

uint64_t Lapic::crystal_tick(uint64_t ns) const {
  return mul_div_floor(ns, model_of(cpu_).crystal_hz, kNsPerSecond);
}

// The first nanosecond at which the crystal has completed `tick` ticks.
uint64_t Lapic::ns_of_crystal_tick(uint64_t tick) const {
  return mul_div_ceil(tick, kNsPerSecond, model_of(cpu_).crystal_hz);
}

// Divide configuration register bits 3, 1:0 (SDM 10.5.4, figure 10-10): 000 = 2, 001 = 4, ...,
// 110 = 128, 111 = 1.
unsigned Lapic::divisor() const {
  const unsigned code = (timer_divide_ & 3) | ((timer_divide_ >> 1) & 4);
  return code == 7 ? 1 : 2u << code;
}

Lapic::TimerMode Lapic::timer_mode() const {
  const unsigned mode = (lvt(kLvtTimer) >> 17) & 3;
  if (mode == 2 && tsc_deadline_supported()) return TimerMode::kTscDeadline;
  return mode == 1 ? TimerMode::kPeriodic : TimerMode::kOneShot;  // 11b is reserved
}

bool Lapic::tsc_deadline_supported() const {
  return model_of(cpu_).has(Feature::TSC_DEADLINE);
}

uint32_t Lapic::timer_current_count() const {
  if (!timer_running_ || timer_mode() == TimerMode::kTscDeadline) return 0;
  const uint64_t period = uint64_t{timer_initial_} * divisor();  // in crystal ticks
  uint64_t elapsed = crystal_tick(now_ns()) - timer_start_tick_;
  if (timer_mode() == TimerMode::kPeriodic)
    elapsed %= period;
  else if (elapsed >= period)
    return 0;
  return static_cast<uint32_t>(timer_initial_ - elapsed / divisor());
}

void Lapic::timer_stop() {
  timer_running_ = false;
  timers_.disarm(timer_);
}

void Lapic::timer_arm_count() {
  const uint64_t period = uint64_t{timer_initial_} * divisor();
  timers_.arm(timer_, ns_of_crystal_tick(timer_start_tick_ + period));
}

// A write to the initial count starts the count-down from it (SDM 10.5.4); 0 stops the timer.
// In TSC-deadline mode writes to the initial count are ignored.
void Lapic::timer_write_initial(uint32_t count) {
  if (timer_mode() == TimerMode::kTscDeadline) return;
  timer_initial_ = count;
  if (count == 0) {
    timer_stop();
    return;
  }
  timer_start_tick_ = crystal_tick(now_ns());
  timer_running_ = true;
  timer_arm_count();
}

void Lapic::timer_write_divide(uint32_t value) {
  const uint32_t remaining = timer_current_count();
  timer_divide_ = value & 0xB;
  if (!timer_running_ || timer_mode() == TimerMode::kTscDeadline) return;
  // The count continues from where it is at the new rate: move the start so the remaining
  // count takes remaining * divisor ticks from now.
  const uint64_t now_tick = crystal_tick(now_ns());
  const uint64_t done = uint64_t{timer_initial_ - remaining};
  timer_start_tick_ = now_tick - done * divisor();
  timer_arm_count();
}

void Lapic::timer_write_lvt(uint32_t old_value) {
  const unsigned old_mode = (old_value >> 17) & 3, new_mode = (lvt(kLvtTimer) >> 17) & 3;
  if (old_mode == new_mode) return;
  const bool was_deadline = old_mode == 2 && tsc_deadline_supported();
  if (was_deadline || timer_mode() == TimerMode::kTscDeadline) {
    // Moving into or out of TSC-deadline mode disarms the timer (SDM 10.5.4.1).
    timer_stop();
    tsc_deadline_ = 0;
    timer_initial_ = 0;
    return;
  }
  // One-shot <-> periodic while counting: the count goes on under the new mode; the armed
  // expiry applies the new mode when it runs. A one-shot count that already ended stays at 0.
}

void Lapic::timer_expired(uint64_t now) {
  if (timer_mode() == TimerMode::kTscDeadline) {
    if (tsc_deadline_ == 0) return;
    // IA32_TSC may have been written since the deadline was armed: check the guest TSC.
    if (static_cast<int64_t>(guest_tsc_now() - tsc_deadline_) < 0) {
      arm_tsc_deadline();
      return;
    }
    tsc_deadline_ = 0;  // the timer disarms itself and clears the MSR (SDM 10.5.4.1)
    local_interrupt(kLvtTimer);
    return;
  }
  if (!timer_running_) return;
  const uint64_t period = uint64_t{timer_initial_} * divisor();
  if (timer_mode() == TimerMode::kPeriodic) {
    // Next period starts where this one ended (no drift). If the host fell behind by several
    // periods they coalesce into one interrupt, as IRR would merge them anyway.
    const uint64_t now_tick = std::max(crystal_tick(now), timer_start_tick_ + period);
    timer_start_tick_ += (now_tick - timer_start_tick_) / period * period;
    timer_arm_count();
  } else {
    timer_running_ = false;  // one-shot: the count stays at zero
  }
  local_interrupt(kLvtTimer);
}

uint64_t Lapic::guest_tsc_now() const {
  return tsc_ticks(cpu_) + cpu_.tsc_offset;
}

void Lapic::arm_tsc_deadline() {
  // Guest TSC = ns * tsc_hz / 1e9 + tsc_offset (frontend/system/tsc.h): the deadline's
  // nanosecond is the first one at which the counter has reached it.
  const uint64_t ticks = tsc_deadline_ - cpu_.tsc_offset;
  timers_.arm(timer_, mul_div_ceil(ticks, kNsPerSecond, model_of(cpu_).tsc_hz));
}

// WRMSR IA32_TSC_DEADLINE (SDM 10.5.4.1): ignored outside TSC-deadline mode; 0 disarms; a
// deadline already passed fires at once.
void Lapic::write_tsc_deadline(uint64_t deadline) {
  if (timer_mode() != TimerMode::kTscDeadline) return;
  tsc_deadline_ = deadline;
  if (deadline == 0) {
    timers_.disarm(timer_);
    return;
  }
  if (static_cast<int64_t>(guest_tsc_now() - deadline) >= 0) {
    timers_.disarm(timer_);
    tsc_deadline_ = 0;
    local_interrupt(kLvtTimer);
    return;
  }
  arm_tsc_deadline();
}

}  // namespace umbra
