#include "devices/pit.h"

#include <algorithm>

namespace umbra {

namespace {
constexpr uint64_t kNever = TimerQueue::kNever;
constexpr uint64_t kNsPerSecond = 1'000'000'000;
// Control word (8254 data sheet, "Control Word Format"): SC1-SC0 (bits 7-6) select the counter
// or the read-back command (11), RW1-RW0 (bits 5-4) the access (00 = counter latch command),
// M2-M0 (bits 3-1) the mode, bit 0 BCD.
constexpr uint8_t kReadBack = 3;
// Read-back command: bit 5 = 0 latches the count, bit 4 = 0 latches the status, bits 3-1
// select counters 2-0.
constexpr uint8_t kReadBackNoCount = 0x20, kReadBackNoStatus = 0x10;
// Port 0x61 (system control port B): bit 0 timer 2 gate, bit 1 speaker data, bit 4 refresh
// request toggle, bit 5 timer 2 OUT.
constexpr uint8_t kPort61Gate2 = 0x01, kPort61Writable = 0x0f, kPort61Refresh = 0x10,
                  kPort61Out2 = 0x20;
// The refresh request bit toggles with every DRAM refresh cycle, every 15.085 us on the AT.
constexpr uint64_t kRefreshPeriodNs = 15085;

uint32_t modulus(bool bcd) {
  return bcd ? 10000 : 65536;
}
uint32_t bcd_to_binary(uint32_t v) {
  return (v & 0xf) + ((v >> 4) & 0xf) * 10 + ((v >> 8) & 0xf) * 100 + ((v >> 12) & 0xf) * 1000;
}
uint16_t binary_to_bcd(uint32_t v) {
  return static_cast<uint16_t>((v % 10) | (v / 10 % 10) << 4 | (v / 100 % 10) << 8 |
                               (v / 1000 % 10) << 12);
}
// Modes 6 and 7 are aliases of 2 and 3 (data sheet, "Control Word Format").
uint8_t effective_mode(uint8_t m) {
  return m >= 6 ? m - 4 : m;
}
}  // namespace

uint64_t Pit8254::ticks_at(uint64_t ns) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(ns) * kFrequencyHz / kNsPerSecond);
}

uint64_t Pit8254::ns_at(uint64_t tick) {
  const unsigned __int128 scaled = static_cast<unsigned __int128>(tick) * kNsPerSecond;
  return static_cast<uint64_t>((scaled + kFrequencyHz - 1) / kFrequencyHz);
}

Pit8254::Pit8254(PortBus& bus, TimerQueue& timers, const GuestClock& clock, IrqLine irq0)
    : timers_(timers), clock_(clock), irq0_(irq0) {
  timer_ = timers_.add([this](uint64_t now) { on_irq0_timer(now); }, "pit-irq0");
  reset();
  PortHandler h;
  h.read = [this](uint16_t port, unsigned) { return read_port(port); };
  h.write = [this](uint16_t port, unsigned, uint32_t v) {
    write_port(port, static_cast<uint8_t>(v));
  };
  bus.add(0x40, 4, h, "pit");
  bus.add(0x61, 1, h, "port61");
}

void Pit8254::reset() {
  for (Channel& c : ch_) c = Channel{};
  // Counters 0 and 1 have their gates tied high on the PC; counter 2's is port 0x61 bit 0.
  ch_[0].gate = ch_[1].gate = true;
  port61_ = 0;
  timers_.disarm(timer_);
  set_irq0(false);
}

// ---- counter arithmetic: pure functions of the state and the tick ----

const Pit8254::Phase& Pit8254::phase_at(const Channel& c, uint64_t t) {
  return (c.has_next && t >= c.next.run_start) ? c.next : c.cur;
}

uint64_t Pit8254::elapsed(const Channel& c, const Phase& p, uint64_t t) {
  if (c.paused && &p == &c.cur) return p.accumulated;
  return p.accumulated + (t > p.run_start ? t - p.run_start : 0);
}

void Pit8254::settle(Channel& c, uint64_t t) {
  if (c.has_next && t >= c.next.run_start) {
    c.cur = c.next;
    c.has_next = false;
  }
}

bool Pit8254::out_at(const Channel& c, uint64_t t) {
  const uint8_t mode = effective_mode(c.mode);
  const Phase& p = phase_at(c, t);
  const uint64_t d = elapsed(c, p, t);
  const uint64_t n = p.n;
  switch (mode) {
    case 0:  // interrupt on terminal count: low from the count write until it reaches zero
      return c.counting && d >= n;
    case 1:  // hardware one-shot: low from the trigger until terminal count
      return !(c.counting && c.triggered && d < n);
    case 2: {  // rate generator: low for the one clock where the count is 1
      if (!c.counting || c.paused) return true;
      const uint64_t period = std::max<uint64_t>(n, 2);
      return d % period != period - 1;
    }
    case 3: {  // square wave: high for ceil(N/2) clocks, low for floor(N/2)
      if (!c.counting || c.paused) return true;
      const uint64_t period = std::max<uint64_t>(n, 2);
      return d % period < (period + 1) / 2;
    }
    case 4:  // software strobe: one low clock at terminal count
      return !(c.counting && t >= p.run_start && d == n);
    case 5:  // hardware strobe
      return !(c.counting && c.triggered && t >= p.run_start && d == n);
  }
  return true;
}

uint32_t Pit8254::value_at(const Channel& c, uint64_t t) {
  const uint32_t mod = modulus(c.bcd);
  if (!c.counting) return c.reload % mod;
  const uint8_t mode = effective_mode(c.mode);
  const Phase& p = phase_at(c, t);
  const uint64_t d = elapsed(c, p, t);
  const uint64_t n = p.n;
  uint64_t v;
  switch (mode) {
    case 2: {
      const uint64_t period = std::max<uint64_t>(n, 2);
      v = period - d % period;
      break;
    }
    case 3: {
      // The counting element decrements by two, reloading at each half period.
      const uint64_t period = std::max<uint64_t>(n, 2);
      const uint64_t high = (period + 1) / 2;
      const uint64_t phase = d % period;
      const uint64_t in_half = phase < high ? phase : phase - high;
      v = (period & ~uint64_t{1}) - 2 * in_half;
      break;
    }
    default:
      if ((mode == 1 || mode == 5) && !c.triggered) {
        v = n;
      } else {
        // Counts down through zero and wraps (modes 0, 1, 4, 5 keep counting after TC).
        v = (n + mod - d % mod) % mod;
      }
      break;
  }
  return static_cast<uint32_t>(v % mod);
}

uint64_t Pit8254::next_transition(const Channel& c, uint64_t t) {
  if (!c.counting || c.paused) return kNever;
  const uint8_t mode = effective_mode(c.mode);
  if ((mode == 1 || mode == 5) && !c.triggered) return kNever;
  const Phase& p = phase_at(c, t);
  const uint64_t d = elapsed(c, p, t);
  const uint64_t n = p.n;
  uint64_t target;  // elapsed count at which OUT changes next
  switch (mode) {
    case 0:
    case 1:
      if (d >= n) return kNever;
      target = n;
      break;
    case 4:
    case 5:
      if (d < n)
        target = n;
      else if (d == n)
        target = n + 1;
      else
        return kNever;
      break;
    case 2: {
      const uint64_t period = std::max<uint64_t>(n, 2);
      const uint64_t phase = d % period;
      target = phase < period - 1 ? d + (period - 1 - phase) : d + 1;
      break;
    }
    default: {  // 3
      const uint64_t period = std::max<uint64_t>(n, 2);
      const uint64_t high = (period + 1) / 2;
      const uint64_t phase = d % period;
      target = phase < high ? d + (high - phase) : d + (period - phase);
      break;
    }
  }
  uint64_t tick = p.run_start + (target - p.accumulated);
  if (tick <= t) tick = t + 1;
  // A pending count (modes 2/3) starts a new phase at the period boundary.
  if (&p == &c.cur && c.has_next) tick = std::min(tick, c.next.run_start);
  return tick;
}

// ---- programming ----

void Pit8254::load_count(Channel& c, uint32_t n, uint64_t t) {
  const uint8_t mode = effective_mode(c.mode);
  c.reload = n;
  switch (mode) {
    case 0:
    case 4:
      // The count is loaded on the next clock pulse and counting (re)starts there.
      c.cur = Phase{n, t + 1, 0};
      c.has_next = false;
      c.counting = true;
      c.paused = !c.gate;
      if (c.paused) c.cur.accumulated = 0;
      break;
    case 1:
    case 5:
      // Takes effect at the next gate trigger; the current one-shot is not affected.
      c.counting = true;
      break;
    default:  // 2, 3
      if (!c.counting || c.paused) {
        c.cur = Phase{n, t + 1, 0};
        c.has_next = false;
        c.counting = true;
        c.paused = !c.gate;
      } else {
        // A new count written while counting is loaded at the end of the current period
        // (data sheet, modes 2 and 3).
        settle(c, t);
        const uint64_t d = elapsed(c, c.cur, t);
        const uint64_t period = std::max<uint64_t>(c.cur.n, 2);
        const uint64_t boundary = (d / period + 1) * period;
        c.next = Phase{n, c.cur.run_start + (boundary - c.cur.accumulated), 0};
        c.has_next = true;
      }
      break;
  }
}

void Pit8254::write_count(Channel& c, uint8_t value, uint64_t t) {
  uint32_t raw;
  switch (c.access) {
    case 1:
      raw = value;
      break;
    case 2:
      raw = uint32_t{value} << 8;
      break;
    default:
      if (!c.write_msb_next) {
        c.write_lsb = value;
        c.write_msb_next = true;
        // Mode 0: writing the first byte stops the count and drives OUT low.
        if (effective_mode(c.mode) == 0) {
          c.counting = false;
          c.has_next = false;
        }
        return;
      }
      c.write_msb_next = false;
      raw = c.write_lsb | uint32_t{value} << 8;
      break;
  }
  uint32_t n = c.bcd ? bcd_to_binary(raw) : raw;
  if (n == 0) n = modulus(c.bcd);
  load_count(c, n, t);
}

void Pit8254::latch_count(Channel& c, uint64_t t) {
  // A second latch before the first is read is ignored (data sheet, "Counter Latch Command").
  if (c.count_latched) return;
  const uint32_t v = value_at(c, t);
  c.latched_count = c.bcd ? binary_to_bcd(v) : static_cast<uint16_t>(v);
  c.count_latched = true;
  c.latch_msb_next = false;
}

void Pit8254::latch_status(Channel& c, uint64_t t) {
  if (c.status_latched) return;
  // Status byte: OUT, NULL COUNT (the last count written has not reached the counting
  // element), RW1-RW0, M2-M0, BCD (data sheet, "Read-Back Command").
  const bool null_count = !c.counting || t < phase_at(c, t).run_start;
  c.latched_status = static_cast<uint8_t>((out_at(c, t) ? 0x80 : 0) | (null_count ? 0x40 : 0) |
                                          c.access << 4 | c.mode << 1 | (c.bcd ? 1 : 0));
  c.status_latched = true;
}

void Pit8254::write_control(uint8_t v, uint64_t t) {
  const unsigned select = v >> 6;
  if (select == kReadBack) {
    for (unsigned i = 0; i < 3; ++i) {
      if (!(v >> (i + 1) & 1)) continue;
      settle(ch_[i], t);
      if (!(v & kReadBackNoStatus)) latch_status(ch_[i], t);
      if (!(v & kReadBackNoCount)) latch_count(ch_[i], t);
    }
    return;
  }
  Channel& c = ch_[select];
  settle(c, t);
  const uint8_t access = (v >> 4) & 3;
  if (access == 0) {
    latch_count(c, t);
    return;
  }
  // A control word resets the counter's logic: OUT goes to its initial state (low in mode 0,
  // high otherwise) and counting waits for a new count.
  c.access = access;
  c.mode = (v >> 1) & 7;
  c.bcd = v & 1;
  c.counting = false;
  c.triggered = false;
  c.paused = false;
  c.has_next = false;
  c.write_msb_next = false;
  c.read_msb_next = false;
  c.count_latched = false;
  c.status_latched = false;
}

uint8_t Pit8254::read_counter(Channel& c, uint64_t t) {
  if (c.status_latched) {
    c.status_latched = false;
    return c.latched_status;
  }
  auto pick = [&](uint16_t v, bool& msb_next) -> uint8_t {
    switch (c.access) {
      case 1:
        return static_cast<uint8_t>(v);
      case 2:
        return static_cast<uint8_t>(v >> 8);
      default: {
        const bool msb = msb_next;
        msb_next = !msb_next;
        return static_cast<uint8_t>(msb ? v >> 8 : v);
      }
    }
  };
  if (c.count_latched) {
    const uint8_t b = pick(c.latched_count, c.latch_msb_next);
    if (c.access != 3 || !c.latch_msb_next) c.count_latched = false;
    return b;
  }
  const uint32_t v = value_at(c, t);
  return pick(c.bcd ? binary_to_bcd(v) : static_cast<uint16_t>(v), c.read_msb_next);
}

void Pit8254::set_gate(Channel& c, bool level, uint64_t t) {
  if (c.gate == level) return;
  settle(c, t);
  c.gate = level;
  switch (effective_mode(c.mode)) {
    case 0:
    case 4:
      // Gate low suspends counting; high resumes it where it stopped.
      if (!c.counting) break;
      if (!level) {
        c.cur.accumulated = elapsed(c, c.cur, t);
        c.has_next = false;  // the rising edge reloads from the count register anyway
        c.paused = true;
      } else {
        c.cur.run_start = t;
        c.paused = false;
      }
      break;
    case 1:
    case 5:
      // A rising gate (re)triggers with the count register's value.
      if (level && c.counting) {
        c.triggered = true;
        c.cur = Phase{c.reload, t + 1, 0};
      }
      break;
    default:  // 2, 3: gate low forces OUT high and stops; the rising edge reloads
      if (!c.counting) break;
      if (!level) {
        c.cur.accumulated = elapsed(c, c.cur, t);
        c.paused = true;
      } else {
        c.cur = Phase{c.reload, t + 1, 0};
        c.has_next = false;
        c.paused = false;
      }
      break;
  }
}

// ---- ports ----

uint32_t Pit8254::read_port(uint16_t port) {
  const uint64_t t = now_tick();
  if (port == 0x61) {
    Channel& c2 = ch_[2];
    settle(c2, t);
    const bool refresh = (clock_.now_ns() / kRefreshPeriodNs) & 1;
    return port61_ | (refresh ? kPort61Refresh : 0) | (out_at(c2, t) ? kPort61Out2 : 0);
  }
  if (port == 0x43) return 0xff;  // the control word register is write-only
  Channel& c = ch_[port - 0x40];
  settle(c, t);
  return read_counter(c, t);
}

void Pit8254::write_port(uint16_t port, uint8_t value) {
  const uint64_t t = now_tick();
  if (port == 0x61) {
    port61_ = value & kPort61Writable;
    set_gate(ch_[2], value & kPort61Gate2, t);
    return;
  }
  if (port == 0x43) {
    write_control(value, t);
    if ((value >> 6) == 0 && ((value >> 4) & 3) != 0) update_irq0(t);
    return;
  }
  Channel& c = ch_[port - 0x40];
  settle(c, t);
  write_count(c, value, t);
  if (port == 0x40) update_irq0(t);
}

bool Pit8254::out(unsigned channel) {
  const uint64_t t = now_tick();
  settle(ch_[channel], t);
  return out_at(ch_[channel], t);
}

uint16_t Pit8254::count(unsigned channel) {
  const uint64_t t = now_tick();
  settle(ch_[channel], t);
  return static_cast<uint16_t>(value_at(ch_[channel], t));
}

// ---- IRQ0 ----

void Pit8254::set_irq0(bool level) {
  if (level == irq0_level_) return;
  irq0_level_ = level;
  irq0_.set(level);
}

void Pit8254::schedule_irq0(uint64_t from_tick) {
  const uint64_t next = next_transition(ch_[0], from_tick);
  if (next == kNever) {
    timers_.disarm(timer_);
    return;
  }
  sched_tick_ = next;
  sched_level_ = out_at(ch_[0], next);
  timers_.arm(timer_, ns_at(next));
}

void Pit8254::update_irq0(uint64_t t) {
  set_irq0(out_at(ch_[0], t));
  schedule_irq0(t);
}

void Pit8254::on_irq0_timer(uint64_t now_ns) {
  Channel& c = ch_[0];
  const uint64_t t = ticks_at(now_ns);
  // The edge we were armed for happens even if the timer runs late, so no interrupt is lost
  // to a late main loop; edges further behind than that collapse into the present level.
  set_irq0(sched_level_);
  uint64_t from = sched_tick_;
  settle(c, from);
  if (next_transition(c, from) <= t) {
    from = t;
    settle(c, t);
    set_irq0(out_at(c, t));
  }
  schedule_irq0(from);
}

}  // namespace umbra
