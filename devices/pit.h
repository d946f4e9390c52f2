// The Intel 8254 programmable interval timer (ports 0x40-0x43) and the PC's system control
// port B (0x61). Three 16-bit down counters clocked at 1.193182 MHz; counter 0's OUT drives
// IRQ0, counter 2's gate is port 0x61 bit 0 and its OUT is readable at port 0x61 bit 5 (the
// speaker path, used by Linux to calibrate the TSC).
//
// Nothing runs per clock tick: every counter value and OUT level is a function of the guest
// clock (GuestClock), and counter 0's OUT edges are scheduled on the TimerQueue at the exact
// tick where they occur, computed from the absolute start of counting (no drift).
#pragma once

#include <cstdint>

#include "devices/irq.h"
#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "frontend/system/guest_clock.h"

namespace umbra {

class Pit8254 {
 public:
  static constexpr uint64_t kFrequencyHz = 1193182;

  // Registers ports 0x40-0x43 and 0x61. `irq0` receives counter 0's OUT level.
  Pit8254(PortBus& bus, TimerQueue& timers, const GuestClock& clock, IrqLine irq0);

  // Power-on: counters unprogrammed, OUT low, gate 2 low, IRQ0 low.
  void reset();

  // OUT and current count of `channel` at the present guest time.
  bool out(unsigned channel);
  uint16_t count(unsigned channel);

  // Guest clock <-> counter ticks.
  static uint64_t ticks_at(uint64_t ns);
  static uint64_t ns_at(uint64_t tick);  // the first nanosecond at which `tick` has begun

 private:
  // A stretch of counting with one count value in the counting element. `elapsed` ticks at
  // tick t are `accumulated + (t - run_start)` while running.
  struct Phase {
    uint32_t n = 0;  // 1..65536 (binary) or 1..10000 (BCD); a written 0 is the maximum
    uint64_t run_start = 0;
    uint64_t accumulated = 0;
  };
  struct Channel {
    uint8_t mode = 0, access = 3;  // access: 1 LSB, 2 MSB, 3 LSB then MSB
    bool bcd = false;
    uint32_t reload = 0;     // the count register (CR) as last written
    bool counting = false;   // a count has been loaded since the control word
    bool triggered = false;  // modes 1/5: the gate has triggered counting
    bool paused = false;     // gate low stops counting (modes 0, 2, 3, 4)
    bool gate = false;
    Phase cur;
    bool has_next = false;  // modes 2/3: a new count takes over at the end of the period
    Phase next;
    bool write_msb_next = false, read_msb_next = false;
    uint8_t write_lsb = 0;
    bool count_latched = false, latch_msb_next = false;
    uint16_t latched_count = 0;
    bool status_latched = false;
    uint8_t latched_status = 0;
  };

  uint32_t read_port(uint16_t port);
  void write_port(uint16_t port, uint8_t value);
  void write_control(uint8_t value, uint64_t t);
  void write_count(Channel& c, uint8_t value, uint64_t t);
  void load_count(Channel& c, uint32_t n, uint64_t t);
  uint8_t read_counter(Channel& c, uint64_t t);
  void latch_count(Channel& c, uint64_t t);
  void latch_status(Channel& c, uint64_t t);
  void set_gate(Channel& c, bool level, uint64_t t);

  // Pure functions of the channel state at tick t.
  static const Phase& phase_at(const Channel& c, uint64_t t);
  static uint64_t elapsed(const Channel& c, const Phase& p, uint64_t t);
  static bool out_at(const Channel& c, uint64_t t);
  static uint32_t value_at(const Channel& c, uint64_t t);
  static uint64_t next_transition(const Channel& c, uint64_t t);  // tick, or kNever
  static void settle(Channel& c, uint64_t t);

  uint64_t now_tick() const { return ticks_at(clock_.now_ns()); }
  // Counter 0 changed: drive IRQ0 to its OUT level and schedule the next edge.
  void update_irq0(uint64_t t);
  void on_irq0_timer(uint64_t now_ns);
  void set_irq0(bool level);
  void schedule_irq0(uint64_t from_tick);

  TimerQueue& timers_;
  const GuestClock& clock_;
  IrqLine irq0_;
  TimerQueue::TimerId timer_;
  Channel ch_[3];
  bool irq0_level_ = false;
  uint64_t sched_tick_ = 0;
  bool sched_level_ = false;
  uint8_t port61_ = 0;  // bits 0-3 as written (gate 2, speaker data, parity/IOCHK enables)
};

}  // namespace umbra
