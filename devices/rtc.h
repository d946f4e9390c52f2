// The MC146818A real-time clock and CMOS RAM of the PC (index port 0x70 with the NMI mask in
// bit 7, data port 0x71, IRQ8). The time of day starts from the host's UTC time and then runs on
// the guest clock; the guest reads it in BCD or binary and 12- or 24-hour format per register B,
// and can set it (register B's SET bit). Register A's UIP bit, the periodic interrupt (rate
// from register A), the update-ended and the alarm interrupts follow the data sheet's timing;
// flags are computed from the clock when read, and a timer runs only while an interrupt is
// enabled. The CMOS RAM holds the memory sizes and equipment bytes a BIOS would set up.
#pragma once

#include <cstdint>

#include "devices/irq.h"
#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "frontend/system/guest_clock.h"

namespace umbra {

class Rtc146818 {
 public:
  static constexpr unsigned kCmosSize = 128;

  // Calendar fields in binary, 24-hour.
  struct Fields {
    int64_t year;
    unsigned month, day, hour, minute, second;
  };

  // Registers ports 0x70-0x71. The RAM sizes fill the CMOS memory bytes.
  Rtc146818(PortBus& bus, IrqLine irq8, TimerQueue& timers, const GuestClock& clock,
            uint64_t ram_below_4g, uint64_t ram_above_4g = 0);

  // The RESET pin (machine reset): interrupt enables and flags cleared, RAM kept. Call it after
  // the guest clock was reset: the time of day is re-read from the host.
  void reset();
  // Sets the time of day from the host's real-time clock (UTC), keeping the second's fraction.
  void set_host_time();

  // Sets the time of day (seconds since 1970-01-01 UTC), the next update one second from now.
  // The constructor uses the host's real-time clock.
  void set_time(int64_t unix_seconds);
  // The time of day as the RTC counts it now.
  int64_t time() const;

  // Bit 7 of the last index written to port 0x70: NMIs disabled.
  bool nmi_masked() const { return nmi_masked_; }

  uint8_t cmos(unsigned index) const { return ram_[index & 0x7f]; }
  void set_cmos(unsigned index, uint8_t value) { ram_[index & 0x7f] = value; }

 private:
  uint32_t read_data();
  void write_data(uint8_t value);

  uint64_t now() const { return clock_.now_ns(); }
  int64_t unix_ns(uint64_t t) const { return static_cast<int64_t>(t) + offset_ns_; }
  Fields fields_at(uint64_t t) const;
  bool update_inhibited() const;      // SET bit or divider chain in reset: the time stands still
  unsigned periodic_divider() const;  // 32.768 kHz clocks per periodic interrupt, 0 = off
  int64_t periodic_index(uint64_t t) const;

  // Sets the flags of every update, alarm and periodic event since the last call.
  void sync_flags(uint64_t t);
  bool alarm_matches(int64_t unix_seconds) const;
  void update_irq();
  void schedule(uint64_t t);
  void on_timer(uint64_t now_ns);
  // Re-times the clock to `unix_seconds` at guest time t, keeping or resetting the fraction.
  void retime(uint64_t t, int64_t unix_seconds, int64_t fraction_ns);
  void set_inhibit(uint64_t t, bool old_inhibited, bool divider_released);

  uint8_t encode(unsigned value) const;  // binary -> register format (BCD per register B)
  unsigned decode(uint8_t value) const;
  uint8_t encode_hour(unsigned hour) const;
  unsigned decode_hour(uint8_t value) const;
  uint8_t read_time_register(unsigned index, const Fields& f) const;
  void write_time_register(unsigned index, uint8_t value, uint64_t t);
  void fill_memory_bytes(uint64_t ram_below_4g, uint64_t ram_above_4g);

  IrqLine irq_;
  TimerQueue& timers_;
  const GuestClock& clock_;
  TimerQueue::TimerId timer_;
  uint8_t ram_[kCmosSize] = {};  // registers A-D live at 0x0a-0x0d; time bytes are computed
  uint8_t index_ = 0;
  bool nmi_masked_ = false;
  int64_t offset_ns_ = 0;  // Unix time in ns minus guest time in ns, while running
  Fields held_{};          // the time while updates are inhibited (fields set one by one)
  int wday_adjust_ = 0;    // day-of-week register as written minus the computed one (mod 7)
  uint8_t flags_ = 0;      // register C: PF, AF, UF (IRQF computed)
  uint64_t last_sync_ns_ = 0;
  bool irq_level_ = false;
};

}  // namespace umbra
