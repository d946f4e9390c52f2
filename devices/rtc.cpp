#include "devices/rtc.h"

#include <time.h>

#include <algorithm>

namespace umbra {

namespace {
constexpr int64_t kNsPerSecond = 1'000'000'000;
// Register indexes and bits (MC146818A data sheet, "Registers").
enum : unsigned {
  kSeconds = 0x00,
  kSecondsAlarm = 0x01,
  kMinutes = 0x02,
  kMinutesAlarm = 0x03,
  kHours = 0x04,
  kHoursAlarm = 0x05,
  kDayOfWeek = 0x06,
  kDayOfMonth = 0x07,
  kMonth = 0x08,
  kYear = 0x09,
  kRegA = 0x0a,
  kRegB = 0x0b,
  kRegC = 0x0c,
  kRegD = 0x0d,
  kCentury = 0x32,  // the IBM PC/AT's century byte in CMOS RAM
};
constexpr uint8_t kAUip = 0x80, kADividerMask = 0x70, kARateMask = 0x0f;
constexpr uint8_t kBSet = 0x80, kBPie = 0x40, kBAie = 0x20, kBUie = 0x10, kBBinary = 0x04,
                  kB24Hour = 0x02;
constexpr uint8_t kCIrqf = 0x80, kCPf = 0x40, kCAf = 0x20, kCUf = 0x10;
constexpr uint8_t kDVrt = 0x80;
constexpr uint8_t kAlarmDontCare = 0xc0;  // alarm bytes 0xC0-0xFF match any value
constexpr uint8_t kNmiDisable = 0x80;
// UIP rises 244 us before the update cycle, which lasts 1984 us with the 32.768 kHz time base
// (data sheet, Table 6 and Figure 9); the time registers show the new second when it ends.
constexpr int64_t kUipLeadNs = (244 + 1984) * 1000;
constexpr uint64_t kTimeBaseHz = 32768;

// Days since 1970-01-01 of a proleptic Gregorian date, and back (the usual era arithmetic:
// 400-year eras of 146097 days, years starting in March so the leap day comes last).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t mp = (m + 9) % 12;  // March = 0
  const int64_t doy = (153 * mp + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Date {
  int64_t year;
  unsigned month, day;
};

Date civil_from_days(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const unsigned d = static_cast<unsigned>(doy - (153 * mp + 2) / 5 + 1);
  const unsigned m = static_cast<unsigned>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (m <= 2), m, d};
}

int64_t floor_div(int64_t a, int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

using DateTime = Rtc146818::Fields;

DateTime to_datetime(int64_t s) {
  const int64_t days = floor_div(s, 86400);
  const int64_t sod = s - days * 86400;
  const Date d = civil_from_days(days);
  return {d.year,
          d.month,
          d.day,
          static_cast<unsigned>(sod / 3600),
          static_cast<unsigned>(sod / 60 % 60),
          static_cast<unsigned>(sod % 60)};
}

// Out-of-range days roll over into the next month, as the guest may set fields one at a time.
int64_t from_datetime(const DateTime& dt) {
  const unsigned month = std::clamp(dt.month, 1u, 12u);
  return days_from_civil(dt.year, month, std::max(dt.day, 1u)) * 86400 + dt.hour * 3600 +
         dt.minute * 60 + dt.second;
}

unsigned weekday(int64_t s) {  // 0 = Sunday; 1970-01-01 was a Thursday
  return static_cast<unsigned>(((floor_div(s, 86400) + 4) % 7 + 7) % 7);
}
}  // namespace

Rtc146818::Rtc146818(PortBus& bus, IrqLine irq8, TimerQueue& timers, const GuestClock& clock,
                     uint64_t ram_below_4g, uint64_t ram_above_4g)
    : irq_(irq8), timers_(timers), clock_(clock) {
  timer_ = timers_.add([this](uint64_t t) { on_timer(t); }, "rtc");
  // What a PC BIOS leaves: 32.768 kHz time base, 1024 Hz periodic rate; BCD, 24-hour mode.
  ram_[kRegA] = 0x26;
  ram_[kRegB] = kB24Hour;
  ram_[kRegD] = kDVrt;
  fill_memory_bytes(ram_below_4g, ram_above_4g);
  set_host_time();
  PortHandler h;
  h.read = [this](uint16_t port, unsigned) -> uint32_t {
    return port == 0x71 ? read_data() : 0xff;  // the index register is write-only
  };
  h.write = [this](uint16_t port, unsigned, uint32_t v) {
    if (port == 0x70) {
      index_ = v & 0x7f;
      nmi_masked_ = v & kNmiDisable;
    } else {
      write_data(static_cast<uint8_t>(v));
    }
  };
  bus.add(0x70, 2, std::move(h), "rtc");
}

void Rtc146818::fill_memory_bytes(uint64_t below, uint64_t above) {
  constexpr uint64_t kMiB = 1 << 20;
  ram_[0x10] = 0x00;  // no floppy drives
  ram_[0x12] = 0x00;  // no fixed disks
  ram_[0x14] = 0x02;  // equipment: no floppy, math coprocessor, EGA/VGA display
  ram_[0x15] = 0x80;  // base memory 640 KiB
  ram_[0x16] = 0x02;
  // Extended memory above 1 MiB in KiB, 16 bits (so at most 65535 KiB).
  const uint64_t ext_kb = below > kMiB ? std::min<uint64_t>((below - kMiB) / 1024, 0xffff) : 0;
  ram_[0x17] = ram_[0x30] = static_cast<uint8_t>(ext_kb);
  ram_[0x18] = ram_[0x31] = static_cast<uint8_t>(ext_kb >> 8);
  // Memory between 16 MiB and 4 GiB in 64 KiB units.
  const uint64_t above16 =
      below > 16 * kMiB ? std::min<uint64_t>((below - 16 * kMiB) >> 16, 0xffff) : 0;
  ram_[0x34] = static_cast<uint8_t>(above16);
  ram_[0x35] = static_cast<uint8_t>(above16 >> 8);
  // Memory above 4 GiB in 64 KiB units, 24 bits.
  const uint64_t high = std::min<uint64_t>(above >> 16, 0xffffff);
  ram_[0x5b] = static_cast<uint8_t>(high);
  ram_[0x5c] = static_cast<uint8_t>(high >> 8);
  ram_[0x5d] = static_cast<uint8_t>(high >> 16);
  // The AT checksum over 0x10-0x2d, stored big-endian at 0x2e.
  unsigned sum = 0;
  for (unsigned i = 0x10; i <= 0x2d; ++i) sum += ram_[i];
  ram_[0x2e] = static_cast<uint8_t>(sum >> 8);
  ram_[0x2f] = static_cast<uint8_t>(sum);
}

void Rtc146818::set_host_time() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  const uint64_t t = now();
  last_sync_ns_ = t;
  offset_ns_ =
      static_cast<int64_t>(ts.tv_sec) * kNsPerSecond + ts.tv_nsec - static_cast<int64_t>(t);
  held_ = to_datetime(ts.tv_sec);
  schedule(t);
}

void Rtc146818::reset() {
  // The guest clock restarts with the machine, so the time of day is taken from the host again
  // (a time the guest set is not kept across a reset).
  set_host_time();
  const uint64_t t = now();
  // RESET clears PIE, AIE, UIE, SQWE and the flags (data sheet, "RESET").
  ram_[kRegB] &= static_cast<uint8_t>(~(kBPie | kBAie | kBUie | 0x08));
  flags_ = 0;
  update_irq();
  schedule(t);
}

// ---- time keeping ----

bool Rtc146818::update_inhibited() const {
  // SET stops updates; divider bits 11x hold the divider chain in reset.
  return (ram_[kRegB] & kBSet) || ((ram_[kRegA] & 0x60) == 0x60);
}

Rtc146818::Fields Rtc146818::fields_at(uint64_t t) const {
  return update_inhibited() ? held_ : to_datetime(floor_div(unix_ns(t), kNsPerSecond));
}

int64_t Rtc146818::time() const {
  return from_datetime(fields_at(now()));
}

void Rtc146818::retime(uint64_t t, int64_t unix_seconds, int64_t fraction_ns) {
  sync_flags(t);
  offset_ns_ = unix_seconds * kNsPerSecond + fraction_ns - static_cast<int64_t>(t);
  held_ = to_datetime(unix_seconds);
  schedule(t);
}

void Rtc146818::set_time(int64_t unix_seconds) {
  retime(now(), unix_seconds, 0);
}

unsigned Rtc146818::periodic_divider() const {
  // Rate select (data sheet, Table 5, 32.768 kHz time base): 1 and 2 give 256 and 128 Hz,
  // 3-15 give 32768 >> (RS - 1) Hz; 0 is off. Only the 32.768 kHz divider (010) runs it.
  const unsigned rs = ram_[kRegA] & kARateMask;
  if (rs == 0 || (ram_[kRegA] & kADividerMask) != 0x20) return 0;
  if (rs <= 2) return 1u << (rs + 6);
  return 1u << (rs - 1);
}

int64_t Rtc146818::periodic_index(uint64_t t) const {
  const unsigned div = periodic_divider();
  const __int128 clocks = static_cast<__int128>(unix_ns(t)) * kTimeBaseHz / kNsPerSecond;
  return static_cast<int64_t>(clocks / div);
}

bool Rtc146818::alarm_matches(int64_t s) const {
  const DateTime dt = to_datetime(s);
  auto match = [](uint8_t alarm, uint8_t value) {
    return (alarm & kAlarmDontCare) == kAlarmDontCare || alarm == value;
  };
  return match(ram_[kSecondsAlarm], encode(dt.second)) &&
         match(ram_[kMinutesAlarm], encode(dt.minute)) &&
         match(ram_[kHoursAlarm], encode_hour(dt.hour));
}

void Rtc146818::sync_flags(uint64_t t) {
  if (t <= last_sync_ns_) return;
  const uint64_t last = last_sync_ns_;
  last_sync_ns_ = t;
  if (periodic_divider() && periodic_index(t) > periodic_index(last)) flags_ |= kCPf;
  if (update_inhibited()) return;
  const int64_t s0 = floor_div(unix_ns(last), kNsPerSecond);
  const int64_t s1 = floor_div(unix_ns(t), kNsPerSecond);
  if (s1 <= s0) return;
  flags_ |= kCUf;
  // Every alarm pattern matches at least once a day, so a day of updates is enough to look at.
  for (int64_t s = s1; s > s0 && s1 - s <= 86400; --s) {
    if (alarm_matches(s)) {
      flags_ |= kCAf;
      break;
    }
  }
}

void Rtc146818::update_irq() {
  const uint8_t enables = ram_[kRegB];
  const bool irqf = ((flags_ & kCPf) && (enables & kBPie)) ||
                    ((flags_ & kCAf) && (enables & kBAie)) ||
                    ((flags_ & kCUf) && (enables & kBUie));
  if (irqf != irq_level_) {
    irq_level_ = irqf;
    irq_.set(irqf);
  }
}

void Rtc146818::schedule(uint64_t t) {
  // Only an enabled interrupt needs a timer; flags are otherwise computed when read.
  uint64_t deadline = TimerQueue::kNever;
  const uint8_t b = ram_[kRegB];
  if ((b & kBPie) && periodic_divider()) {
    const int64_t k = periodic_index(t) + 1;
    const __int128 boundary_clocks = static_cast<__int128>(k) * periodic_divider();
    const int64_t unix_boundary =
        static_cast<int64_t>((boundary_clocks * kNsPerSecond + kTimeBaseHz - 1) / kTimeBaseHz);
    deadline = std::min(deadline, static_cast<uint64_t>(unix_boundary - offset_ns_));
  }
  if ((b & (kBUie | kBAie)) && !update_inhibited()) {
    const int64_t next_second = (floor_div(unix_ns(t), kNsPerSecond) + 1) * kNsPerSecond;
    deadline = std::min(deadline, static_cast<uint64_t>(next_second - offset_ns_));
  }
  if (deadline == TimerQueue::kNever) {
    timers_.disarm(timer_);
  } else {
    timers_.arm(timer_, deadline);
  }
}

void Rtc146818::on_timer(uint64_t now_ns) {
  sync_flags(now_ns);
  update_irq();
  schedule(now_ns);
}

// ---- register formats ----

uint8_t Rtc146818::encode(unsigned v) const {
  if (ram_[kRegB] & kBBinary) return static_cast<uint8_t>(v);
  return static_cast<uint8_t>((v / 10 % 10) << 4 | v % 10);
}

unsigned Rtc146818::decode(uint8_t v) const {
  if (ram_[kRegB] & kBBinary) return v;
  return (v >> 4) * 10 + (v & 0xf);
}

uint8_t Rtc146818::encode_hour(unsigned hour) const {
  if (ram_[kRegB] & kB24Hour) return encode(hour);
  // 12-hour mode: 1-12 with bit 7 set for PM.
  const unsigned h12 = hour % 12 == 0 ? 12 : hour % 12;
  return static_cast<uint8_t>(encode(h12) | (hour >= 12 ? 0x80 : 0));
}

unsigned Rtc146818::decode_hour(uint8_t v) const {
  if (ram_[kRegB] & kB24Hour) return decode(v);
  const unsigned h12 = decode(v & 0x7f);
  return h12 % 12 + ((v & 0x80) ? 12 : 0);
}

uint8_t Rtc146818::read_time_register(unsigned index, const Fields& dt) const {
  const int64_t s = from_datetime(dt);
  switch (index) {
    case kSeconds:
      return encode(dt.second);
    case kMinutes:
      return encode(dt.minute);
    case kHours:
      return encode_hour(dt.hour);
    case kDayOfWeek:
      return encode((weekday(s) + wday_adjust_) % 7 + 1);  // 1 = Sunday
    case kDayOfMonth:
      return encode(dt.day);
    case kMonth:
      return encode(dt.month);
    case kYear:
      return encode(static_cast<unsigned>(dt.year % 100));
    case kCentury:
      return encode(static_cast<unsigned>(dt.year / 100));
  }
  return 0;
}

void Rtc146818::write_time_register(unsigned index, uint8_t value, uint64_t t) {
  const bool inhibited = update_inhibited();
  DateTime dt = fields_at(t);
  const int64_t s = from_datetime(dt);
  switch (index) {
    case kSeconds:
      dt.second = decode(value) % 60;
      break;
    case kMinutes:
      dt.minute = decode(value) % 60;
      break;
    case kHours:
      dt.hour = decode_hour(value) % 24;
      break;
    case kDayOfMonth:
      dt.day = decode(value);
      break;
    case kMonth:
      dt.month = decode(value);
      break;
    case kYear:
      dt.year = dt.year / 100 * 100 + decode(value) % 100;
      break;
    case kCentury:
      dt.year = dt.year % 100 + decode(value) * 100;
      break;
    case kDayOfWeek: {
      // An independent counter on the chip: remember how far the guest set it off the date.
      const int written = static_cast<int>(decode(value)) - 1;
      wday_adjust_ = ((written - static_cast<int>(weekday(s))) % 7 + 7) % 7;
      return;
    }
  }
  if (inhibited) {
    held_ = dt;  // fields are combined when counting resumes
    return;
  }
  const int64_t ns = unix_ns(t);
  const int64_t fraction = ns - floor_div(ns, kNsPerSecond) * kNsPerSecond;
  retime(t, from_datetime(dt), fraction);
}

// ---- ports ----

uint32_t Rtc146818::read_data() {
  const uint64_t t = now();
  switch (index_) {
    case kSeconds:
    case kMinutes:
    case kHours:
    case kDayOfWeek:
    case kDayOfMonth:
    case kMonth:
    case kYear:
    case kCentury:
      return read_time_register(index_, fields_at(t));
    case kRegA: {
      bool uip = false;
      if (!update_inhibited()) {
        const int64_t ns = unix_ns(t);
        const int64_t into_second = ns - floor_div(ns, kNsPerSecond) * kNsPerSecond;
        uip = into_second >= kNsPerSecond - kUipLeadNs;
      }
      return (ram_[kRegA] & ~kAUip) | (uip ? kAUip : 0);
    }
    case kRegC: {
      // Reading C returns and clears the flags, which drops IRQ8.
      sync_flags(t);
      const uint8_t v = flags_ | (irq_level_ ? kCIrqf : 0);
      flags_ = 0;
      update_irq();
      return v;
    }
    case kRegD:
      return kDVrt;  // valid RAM and time: the battery is good
  }
  return ram_[index_];
}

void Rtc146818::write_data(uint8_t v) {
  const uint64_t t = now();
  switch (index_) {
    case kSeconds:
    case kMinutes:
    case kHours:
    case kDayOfWeek:
    case kDayOfMonth:
    case kMonth:
    case kYear:
    case kCentury:
      write_time_register(index_, v, t);
      return;
    case kRegA: {
      sync_flags(t);
      const bool was_inhibited = update_inhibited();
      const bool divider_was_reset = (ram_[kRegA] & 0x60) == 0x60;
      ram_[kRegA] = v & ~kAUip;
      set_inhibit(t, was_inhibited, divider_was_reset && (ram_[kRegA] & 0x60) != 0x60);
      break;
    }
    case kRegB: {
      sync_flags(t);
      const bool was_inhibited = update_inhibited();
      // Setting SET clears UIE (data sheet, register B bit 4).
      if (v & kBSet) v &= static_cast<uint8_t>(~kBUie);
      ram_[kRegB] = v;
      set_inhibit(t, was_inhibited, false);
      break;
    }
    case kRegC:
    case kRegD:
      return;  // read-only
    default:
      ram_[index_] = v;
      return;
  }
  update_irq();
  schedule(t);
}

void Rtc146818::set_inhibit(uint64_t t, bool was_inhibited, bool divider_released) {
  const bool inhibited = update_inhibited();
  if (inhibited && !was_inhibited) {
    held_ = to_datetime(floor_div(unix_ns(t), kNsPerSecond));
  } else if (!inhibited && was_inhibited) {
    // Counting resumes from the held time; after a divider reset the first update comes half a
    // second later (data sheet, "Divider Control"), otherwise a full second.
    const int64_t fraction = divider_released ? kNsPerSecond / 2 : 0;
    offset_ns_ = from_datetime(held_) * kNsPerSecond + fraction - static_cast<int64_t>(t);
  }
}

}  // namespace umbra
