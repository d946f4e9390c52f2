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
  // A write to the TSC moves IA32_TSC_ADJUST by the same amount (SDM vol. 3, 18.17.3).
  const uint64_t before = tsc_ticks(cpu) + cpu.tsc_offset;
  cpu.msrs.tsc_adjust += value - before;
  cpu.tsc_offset = value - tsc_ticks(cpu);
  cpu.msrs.tsc_last = value - 1;
}

void write_guest_tsc_adjust(CpuState& cpu, uint64_t value) {
  // The TSC moves by the change of IA32_TSC_ADJUST (SDM vol. 3, 18.17.3).
  const uint64_t delta = value - cpu.msrs.tsc_adjust;
  cpu.msrs.tsc_adjust = value;
  cpu.tsc_offset += delta;
  if (static_cast<int64_t>(delta) < 0) cpu.msrs.tsc_last += delta;
}

}  // namespace umbra
