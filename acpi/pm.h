// The ACPI fixed-hardware register block (ACPI 6.x section 4.8): PM1 event and control
// registers, the PM timer and the GPE0 block, on the I/O port bus at the offsets of
// acpi/pm_layout.h, with the SCI as a level-triggered, active-high interrupt line.
//
// - PM1 status: TMR_STS (the PM timer's top bit changed), PWRBTN_STS (press_power_button()),
//   WAK_STS; write 1 to clear. PM1 enable: TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN.
// - PM1 control: SCI_EN reads 1 always (there is no SMI_CMD port, so the machine is always in
//   ACPI mode); SLP_TYP read/write; writing SLP_EN with SLP_TYP = kSlpTypS5 calls `power_off`.
//   Other sleep types are not offered by the DSDT; if written anyway the machine "wakes" at once
//   (WAK_STS set) so an OS polling for the wake does not hang.
// - PM timer: 32-bit up-counter at 3.579545 MHz computed from the GuestClock (never stored), so
//   it agrees with the TSC, PIT and APIC timer. TMR_STS is set each time bit 31 changes
//   (every 2^31 ticks, about 600 s); with TMR_EN set a timer on the TimerQueue wakes the device
//   at that moment so the SCI is raised on time.
// - GPE0: 32 status bits (write 1 to clear) and 32 enable bits; raise_gpe(bit) sets a status bit
//   (the memory hotplug controller uses it).
// - SCI: asserted while SCI_EN and any (status & enable) bit is set in PM1 or GPE0.
//
// Accesses of 1, 2 or 4 bytes at any offset act byte by byte (a 16-bit write to PM1 status
// clears bits in both bytes), except that a multi-byte read of the PM timer is one snapshot.
#pragma once

#include <cstdint>
#include <functional>

#include "acpi/pm_layout.h"
#include "devices/irq.h"
#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "frontend/system/guest_clock.h"

namespace umbra::acpi {

class AcpiPm {
 public:
  AcpiPm(const GuestClock& clock, TimerQueue& timers, IrqLine sci, std::function<void()> power_off,
         uint16_t base = kDefaultPmBase);
  AcpiPm(const AcpiPm&) = delete;
  AcpiPm& operator=(const AcpiPm&) = delete;

  // Claims [base, base + 0x0C) (PM1 event, PM1 control, PM timer) and the GPE0 block.
  void attach(PortBus& bus);

  // Register access by offset from the base port (what the port handlers call).
  uint32_t read(uint16_t offset, unsigned size);
  void write(uint16_t offset, unsigned size, uint32_t value);

  // Events from the board.
  void raise_gpe(unsigned bit);
  void press_power_button();

  // Machine reset: all status and enable bits clear, SLP_TYP 0, SCI lowered.
  void reset();

  // State, for tests and the monitor.
  uint16_t base() const { return base_; }
  uint32_t timer_value() const;  // the PM timer now (32 bits)
  uint16_t pm1_status();         // after accounting for PM timer overflows up to now
  uint16_t pm1_enable() const { return pm1_en_; }
  uint16_t pm1_control() const;
  uint32_t gpe0_status() const { return gpe_sts_; }
  uint32_t gpe0_enable() const { return gpe_en_; }
  bool sci_asserted() const { return sci_level_; }

  // PM timer ticks since guest time 0 at `ns`, and the first guest ns at which `ticks` is
  // reached (for scheduling the bit-31 toggle).
  static uint64_t ticks_at(uint64_t ns);
  static uint64_t ns_at_tick(uint64_t ticks);

 private:
  uint8_t read_byte(uint16_t offset, uint32_t timer) const;
  void write_byte(uint16_t offset, uint8_t value);
  void sleep(unsigned slp_typ);
  // Sets TMR_STS if bit 31 of the timer changed since the last look.
  void sync_timer(uint64_t now_ns);
  void update();  // SCI level and the overflow timer after any state change
  void on_timer(uint64_t now_ns);

  const GuestClock& clock_;
  TimerQueue& timers_;
  TimerQueue::TimerId overflow_timer_;
  IrqLine sci_;
  std::function<void()> power_off_;
  uint16_t base_;

  uint16_t pm1_sts_ = 0;
  uint16_t pm1_en_ = 0;
  uint16_t pm1_cnt_ = 0;  // BM_RLD and SLP_TYP; SCI_EN is added on read
  uint32_t gpe_sts_ = 0;
  uint32_t gpe_en_ = 0;
  uint64_t timer_half_periods_ = 0;  // (ticks >> 31) when TMR_STS was last accounted
  bool sci_level_ = false;
};

}  // namespace umbra::acpi
