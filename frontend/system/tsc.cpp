#include "frontend/system/tsc.h"

#include <time.h>

#include "frontend/system/cpu_model.h"
#include "frontend/system/guest_clock.h"

namespace umbra {

namespace {

uint64_t raw_monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

uint64_t host_monotonic_ns() {
  static const uint64_t epoch = raw_monotonic_ns();
  return raw_monotonic_ns() - epoch;
}

uint64_t tsc_ticks(const CpuState& cpu) {
  const unsigned __int128 ns = cpu.clock ? cpu.clock->now_ns() : host_monotonic_ns();
  return static_cast<uint64_t>(ns * model_of(cpu).tsc_hz / 1'000'000'000u);
}

uint64_t read_guest_tsc(CpuState& cpu) {
  uint64_t v = tsc_ticks(cpu) + cpu.tsc_offset;
  // Two reads within one host clock tick would otherwise return the same value; a TSC never
  // does. (After a WRMSR that moves the counter backwards, tsc_last was reset by the write.)
  if (static_cast<int64_t>(v - cpu.msrs.tsc_last) <= 0) v = cpu.msrs.tsc_last + 1;
  cpu.msrs.tsc_last = v;
  return v;
}

void write_guest_tsc(CpuState& cpu, uint64_t value) {
  cpu.tsc_offset = value - tsc_ticks(cpu);
  cpu.msrs.tsc_last = value - 1;
}

}  // namespace umbra
