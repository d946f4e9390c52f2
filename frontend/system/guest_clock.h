// The guest's single time base. The TSC (frontend/system/tsc.h), the PIT, the RTC's periodic
// interrupt, the local APIC timer and the ACPI PM timer all read the same clock, so they agree
// with each other the way they do on one board with one crystal.
//
// Two sources:
// - host: the host's monotonic clock (the default). Guest time passes while the guest is halted
//   and while the host is busy, as on real hardware.
// - instructions (-icount SHIFT): guest time = retired instructions << SHIFT nanoseconds, plus
//   the time skipped while the CPU was halted. Runs are reproducible to the instruction.
#pragma once

#include <cstdint>

namespace umbra {

struct CpuState;

class GuestClock {
 public:
  enum class Source { kHost, kInstructions };

  GuestClock() = default;
  GuestClock(Source source, unsigned insn_shift) : source_(source), shift_(insn_shift) {}

  // The CPU whose retired-instruction count drives the instruction clock.
  void attach(const CpuState* cpu) { cpu_ = cpu; }

  // Guest nanoseconds since the clock was reset. Never goes backwards.
  uint64_t now_ns() const;

  // Restarts guest time at 0 (machine reset).
  void reset();

  // Instruction clock only: the CPU is halted and nothing will happen before `deadline_ns`, so
  // time jumps there. With the host clock this does nothing (the caller sleeps instead).
  void skip_to(uint64_t deadline_ns);

  Source source() const { return source_; }
  bool deterministic() const { return source_ == Source::kInstructions; }

 private:
  Source source_ = Source::kHost;
  unsigned shift_ = 0;
  const CpuState* cpu_ = nullptr;
  uint64_t host_epoch_ns_ = 0;  // host clock: host_monotonic_ns() at reset
  uint64_t insn_epoch_ = 0;     // instruction clock: insn_count at reset
  uint64_t skipped_ns_ = 0;     // instruction clock: time skipped while halted
};

}  // namespace umbra
