// The guest's time-stamp counter (SDM vol. 3, 18.17): the one place that says what "TSC now"
// is. It runs from the host's monotonic clock at the CPU model's nominal frequency (CPUID leaf
// 15H/16H), starting at 0 when the process starts, plus cpu.tsc_offset (set by writes to
// IA32_TSC). Values read by one CPU strictly increase, as on hardware with an invariant TSC.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

// Host monotonic time in nanoseconds since the first call in this process.
uint64_t host_monotonic_ns();

// The raw counter at the model's frequency (no offset): ns * tsc_hz / 1e9.
uint64_t tsc_ticks(const CpuState& cpu);

// The guest TSC as RDTSC/RDTSCP/RDMSR(IA32_TSC) return it. Updates cpu.msrs.tsc_last.
uint64_t read_guest_tsc(CpuState& cpu);

// WRMSR(IA32_TSC): the counter continues from `value` (SDM vol. 3, 18.17: "the TSC can be
// written with WRMSR").
void write_guest_tsc(CpuState& cpu, uint64_t value);

// WRMSR(IA32_TSC_ADJUST): the counter moves by the change of the adjust value; a TSC write moves
// the adjust value by the change of the counter (SDM vol. 3, 18.17.3).
void write_guest_tsc_adjust(CpuState& cpu, uint64_t value);

}  // namespace umbra
