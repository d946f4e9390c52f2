#include "frontend/system/guest_clock.h"

#include "frontend/cpu_state.h"
#include "frontend/system/tsc.h"

namespace umbra {

uint64_t GuestClock::now_ns() const {
  if (source_ == Source::kHost) return host_monotonic_ns() - host_epoch_ns_;
  const uint64_t insns = cpu_ ? cpu_->insn_count - insn_epoch_ : 0;
  return (insns << shift_) + skipped_ns_;
}

void GuestClock::reset() {
  host_epoch_ns_ = host_monotonic_ns();
  insn_epoch_ = cpu_ ? cpu_->insn_count : 0;
  skipped_ns_ = 0;
}

void GuestClock::skip_to(uint64_t deadline_ns) {
  if (source_ != Source::kInstructions) return;
  const uint64_t now = now_ns();
  if (deadline_ns > now) skipped_ns_ += deadline_ns - now;
}

}  // namespace umbra
