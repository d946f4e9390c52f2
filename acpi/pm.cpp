#include "acpi/pm.h"

#include <algorithm>

namespace umbra::acpi {

namespace {

// PM1 enable bits that exist (writable): TMR_EN, GBL_EN, PWRBTN_EN, SLPBTN_EN, RTC_EN,
// PCIEXP_WAKE_DIS (ACPI 6.x table 4.13).
constexpr uint16_t kPm1EnWritable =
    kPm1TmrSts | kPm1GblSts | kPm1PwrbtnSts | kPm1SlpbtnSts | kPm1RtcSts | kPm1PciexpWakeSts;
// PM1 control bits that hold a value: BM_RLD and SLP_TYP. SCI_EN is hardwired to 1 (no SMI
// mode transition), GBL_RLS and SLP_EN are write-only and read as 0 (table 4.16).
constexpr uint16_t kPm1CntStored = kPm1CntBmRld | kPm1CntSlpTypMask;
constexpr unsigned kTimerMsbShift = 31;  // a 32-bit timer (FADT TMR_VAL_EXT)
constexpr uint64_t kNsPerSecond = 1000000000;

}  // namespace

AcpiPm::AcpiPm(const GuestClock& clock, TimerQueue& timers, IrqLine sci,
               std::function<void()> power_off, uint16_t base)
    : clock_(clock), timers_(timers), sci_(sci), power_off_(std::move(power_off)), base_(base) {
  overflow_timer_ = timers_.add([this](uint64_t now) { on_timer(now); }, "acpi-pm-timer");
  timer_half_periods_ = ticks_at(clock_.now_ns()) >> kTimerMsbShift;
}

void AcpiPm::attach(PortBus& bus) {
  PortHandler h{
      [this](uint16_t port, unsigned size) { return read(port - base_, size); },
      [this](uint16_t port, unsigned size, uint32_t value) { write(port - base_, size, value); }};
  bus.add(base_, kPmTmrOffset + kPmTmrLen, h, "acpi-pm");
  bus.add(base_ + kGpe0Offset, kGpe0Len, h, "acpi-gpe0");
}

uint64_t AcpiPm::ticks_at(uint64_t ns) {
  return static_cast<uint64_t>(static_cast<unsigned __int128>(ns) * kPmTimerHz / kNsPerSecond);
}

uint64_t AcpiPm::ns_at_tick(uint64_t ticks) {
  // Smallest ns with ticks_at(ns) >= ticks: ceil(ticks * 1e9 / f).
  const unsigned __int128 scaled = static_cast<unsigned __int128>(ticks) * kNsPerSecond;
  return static_cast<uint64_t>((scaled + kPmTimerHz - 1) / kPmTimerHz);
}

uint32_t AcpiPm::timer_value() const {
  return static_cast<uint32_t>(ticks_at(clock_.now_ns()));
}

void AcpiPm::sync_timer(uint64_t now_ns) {
  const uint64_t half_periods = ticks_at(now_ns) >> kTimerMsbShift;
  // ACPI 6.x 4.8.3.3: TMR_STS is set whenever the timer's top bit changes state. The clock only
  // moves backwards across a machine reset, which just resynchronises.
  if (half_periods > timer_half_periods_) pm1_sts_ |= kPm1TmrSts;
  timer_half_periods_ = half_periods;
}

uint16_t AcpiPm::pm1_status() {
  sync_timer(clock_.now_ns());
  update();
  return pm1_sts_;
}

uint16_t AcpiPm::pm1_control() const {
  return (pm1_cnt_ & kPm1CntStored) | kPm1CntSciEn;
}

uint8_t AcpiPm::read_byte(uint16_t offset, uint32_t timer) const {
  auto byte_of = [](uint32_t v, unsigned i) { return static_cast<uint8_t>(v >> (8 * i)); };
  if (offset < kPm1EvtOffset + 2) return byte_of(pm1_sts_, offset - kPm1EvtOffset);
  if (offset < kPm1EvtOffset + kPm1EvtLen) return byte_of(pm1_en_, offset - kPm1EvtOffset - 2);
  if (offset >= kPm1CntOffset && offset < kPm1CntOffset + kPm1CntLen)
    return byte_of(pm1_control(), offset - kPm1CntOffset);
  if (offset >= kPmTmrOffset && offset < kPmTmrOffset + kPmTmrLen)
    return byte_of(timer, offset - kPmTmrOffset);
  if (offset >= kGpe0Offset && offset < kGpe0Offset + kGpe0Len / 2)
    return byte_of(gpe_sts_, offset - kGpe0Offset);
  if (offset >= kGpe0Offset + kGpe0Len / 2 && offset < kGpe0Offset + kGpe0Len)
    return byte_of(gpe_en_, offset - kGpe0Offset - kGpe0Len / 2);
  return 0;  // the gap between PM1 control and the timer
}

void AcpiPm::write_byte(uint16_t offset, uint8_t value) {
  auto mask_at = [](uint8_t v, unsigned i) { return static_cast<uint32_t>(v) << (8 * i); };
  if (offset < kPm1EvtOffset + 2) {
    pm1_sts_ &= static_cast<uint16_t>(~mask_at(value, offset - kPm1EvtOffset));
  } else if (offset < kPm1EvtOffset + kPm1EvtLen) {
    const unsigned i = offset - kPm1EvtOffset - 2;
    pm1_en_ =
        static_cast<uint16_t>((pm1_en_ & ~mask_at(0xFF, i)) | (mask_at(value, i) & kPm1EnWritable));
  } else if (offset >= kPm1CntOffset && offset < kPm1CntOffset + kPm1CntLen) {
    const unsigned i = offset - kPm1CntOffset;
    const uint32_t bits = mask_at(value, i);
    pm1_cnt_ = static_cast<uint16_t>((pm1_cnt_ & ~mask_at(0xFF, i)) | (bits & kPm1CntStored));
    // SLP_TYP and SLP_EN share the high byte, so a byte write carries both.
    if (bits & kPm1CntSlpEn) sleep((pm1_cnt_ & kPm1CntSlpTypMask) >> kPm1CntSlpTypShift);
  } else if (offset >= kGpe0Offset && offset < kGpe0Offset + kGpe0Len / 2) {
    gpe_sts_ &= ~mask_at(value, offset - kGpe0Offset);
  } else if (offset >= kGpe0Offset + kGpe0Len / 2 && offset < kGpe0Offset + kGpe0Len) {
    const unsigned i = offset - kGpe0Offset - kGpe0Len / 2;
    gpe_en_ = (gpe_en_ & ~mask_at(0xFF, i)) | mask_at(value, i);
  }
  // The PM timer is read-only; the gap ignores writes.
}

uint32_t AcpiPm::read(uint16_t offset, unsigned size) {
  const uint64_t now = clock_.now_ns();
  sync_timer(now);
  update();
  const uint32_t timer = static_cast<uint32_t>(ticks_at(now));
  uint32_t value = 0;
  for (unsigned i = 0; i < size && i < 4; ++i)
    value |= static_cast<uint32_t>(read_byte(static_cast<uint16_t>(offset + i), timer)) << (8 * i);
  return value;
}

void AcpiPm::write(uint16_t offset, unsigned size, uint32_t value) {
  sync_timer(clock_.now_ns());
  for (unsigned i = 0; i < size && i < 4; ++i)
    write_byte(static_cast<uint16_t>(offset + i), static_cast<uint8_t>(value >> (8 * i)));
  update();
}

void AcpiPm::sleep(unsigned slp_typ) {
  if (slp_typ == kSlpTypS5) {
    if (power_off_) power_off_();
    return;
  }
  // No other sleep state is offered (no \_S1..\_S4 in the DSDT): wake at once.
  pm1_sts_ |= kPm1WakSts;
}

void AcpiPm::raise_gpe(unsigned bit) {
  if (bit >= kGpe0Count) return;
  gpe_sts_ |= 1u << bit;
  update();
}

void AcpiPm::press_power_button() {
  pm1_sts_ |= kPm1PwrbtnSts;
  update();
}

void AcpiPm::reset() {
  pm1_sts_ = 0;
  pm1_en_ = 0;
  pm1_cnt_ = 0;
  gpe_sts_ = 0;
  gpe_en_ = 0;
  timer_half_periods_ = ticks_at(clock_.now_ns()) >> kTimerMsbShift;
  timers_.disarm(overflow_timer_);
  sci_level_ = false;
  sci_.lower();
}

void AcpiPm::update() {
  const bool level = ((pm1_sts_ & pm1_en_ & kPm1EnWritable & ~kPm1PciexpWakeSts) != 0) ||
                     ((gpe_sts_ & gpe_en_) != 0);
  // SCI_EN is always 1 here, so every enabled event is an SCI (never an SMI).
  if (level != sci_level_) {
    sci_level_ = level;
    sci_.set(level);
  }
  // Wake up when the timer's top bit next changes, only while that event can interrupt.
  if (pm1_en_ & kPm1TmrSts) {
    timers_.arm(overflow_timer_, ns_at_tick((timer_half_periods_ + 1) << kTimerMsbShift));
  } else {
    timers_.disarm(overflow_timer_);
  }
}

void AcpiPm::on_timer(uint64_t now_ns) {
  sync_timer(std::max(now_ns, clock_.now_ns()));
  update();
}

}  // namespace umbra::acpi
