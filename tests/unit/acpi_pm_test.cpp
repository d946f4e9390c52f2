// The ACPI PM register block (acpi/pm.h) through the port bus, on an instruction-count guest
// clock (1 instruction = 1 ns) with the SCI recorded and the timer queue run the way the
// machine's main loop does.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "acpi/pm.h"
#include "devices/irq.h"
#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "frontend/cpu_state.h"
#include "frontend/system/guest_clock.h"
#include "tests/unit/device_test_util.h"

namespace umbra::acpi {
namespace {

struct SciRecorder : IrqSink {
  void set_irq(unsigned pin, bool level) override {
    last_pin = pin;
    if (level && !this->level) ++rises;
    this->level = level;
    ++calls;
  }
  unsigned last_pin = 0;
  bool level = false;
  unsigned rises = 0;
  unsigned calls = 0;
};

using umbra::test::zeroed_cpu;

constexpr uint16_t kBase = kDefaultPmBase;
constexpr uint16_t kSts = kBase + kPm1EvtOffset, kEn = kBase + kPm1EvtOffset + 2,
                   kCnt = kBase + kPm1CntOffset, kTmr = kBase + kPmTmrOffset,
                   kGpeSts = kBase + kGpe0Offset, kGpeEn = kBase + kGpe0Offset + kGpe0Len / 2;

class AcpiPmTest : public ::testing::Test {
 protected:
  AcpiPmTest()
      : cpu(zeroed_cpu()),
        clock(GuestClock::Source::kInstructions, 0),
        pm(clock, timers, IrqLine{&sci, 9}, [this] { ++power_offs; }) {
    clock.attach(cpu.get());
    clock.reset();
    pm.reset();
    pm.attach(bus);
  }

  void set_ns(uint64_t ns) { cpu->insn_count = ns; }
  uint16_t sts() { return static_cast<uint16_t>(bus.read(kSts, 2)); }

  std::unique_ptr<CpuState> cpu;
  GuestClock clock;
  TimerQueue timers;
  SciRecorder sci;
  PortBus bus;
  unsigned power_offs = 0;
  AcpiPm pm;
};

TEST_F(AcpiPmTest, PortsAreClaimed) {
  EXPECT_EQ(bus.owner(kSts), "acpi-pm");
  EXPECT_EQ(bus.owner(kTmr + 3), "acpi-pm");
  EXPECT_EQ(bus.owner(kGpeSts), "acpi-gpe0");
  EXPECT_EQ(bus.owner(kGpeEn + 3), "acpi-gpe0");
  EXPECT_EQ(bus.owner(kGpeEn + 4), "");
}

TEST_F(AcpiPmTest, SciEnReadsSetAndSleepBitsReadZero) {
  EXPECT_EQ(bus.read(kCnt, 2), kPm1CntSciEn);
  bus.write(kCnt, 2, 0);  // an OS cannot turn ACPI mode off: there is no SMI handler
  EXPECT_EQ(bus.read(kCnt, 2), kPm1CntSciEn);
  bus.write(kCnt, 2, (3u << kPm1CntSlpTypShift) | kPm1CntGblRls | kPm1CntBmRld);
  EXPECT_EQ(bus.read(kCnt, 2), kPm1CntSciEn | kPm1CntBmRld | (3u << kPm1CntSlpTypShift));
}

TEST_F(AcpiPmTest, SlpEnWithS5PowersOff) {
  bus.write(kCnt, 2, (kSlpTypS5 << kPm1CntSlpTypShift) | kPm1CntSciEn);  // no SLP_EN yet
  EXPECT_EQ(power_offs, 0u);
  bus.write(kCnt, 2, (kSlpTypS5 << kPm1CntSlpTypShift) | kPm1CntSlpEn | kPm1CntSciEn);
  EXPECT_EQ(power_offs, 1u);
  EXPECT_EQ(bus.read(kCnt, 2) & kPm1CntSlpEn, 0u);  // write-only
}

TEST_F(AcpiPmTest, SlpEnByteWriteToHighByteWorks) {
  // Linux writes SLP_TYP and then SLP_EN with 16-bit accesses, but a byte write of the high
  // byte carries both fields too.
  bus.write(kCnt + 1, 1, static_cast<uint8_t>((kSlpTypS5 << 2) | 0x20));
  EXPECT_EQ(power_offs, 1u);
}

TEST_F(AcpiPmTest, OtherSleepTypesWakeImmediately) {
  bus.write(kCnt, 2, (1u << kPm1CntSlpTypShift) | kPm1CntSlpEn);
  EXPECT_EQ(power_offs, 0u);
  EXPECT_TRUE(sts() & kPm1WakSts);
  bus.write(kSts, 2, kPm1WakSts);
  EXPECT_FALSE(sts() & kPm1WakSts);
}

TEST_F(AcpiPmTest, PowerButtonIsWriteOneToClearAndDrivesSci) {
  pm.press_power_button();
  EXPECT_TRUE(sts() & kPm1PwrbtnSts);
  EXPECT_FALSE(sci.level);  // not enabled
  bus.write(kEn, 2, kPm1PwrbtnSts);
  EXPECT_TRUE(sci.level);
  EXPECT_EQ(sci.last_pin, 9u);
  EXPECT_TRUE(pm.sci_asserted());
  bus.write(kSts, 2, 0);  // writing 0 changes nothing
  EXPECT_TRUE(sts() & kPm1PwrbtnSts);
  bus.write(kSts, 2, kPm1PwrbtnSts);
  EXPECT_FALSE(sts() & kPm1PwrbtnSts);
  EXPECT_FALSE(sci.level);
  EXPECT_EQ(sci.rises, 1u);
}

TEST_F(AcpiPmTest, EnableRegisterKeepsOnlyDefinedBits) {
  bus.write(kEn, 2, 0xFFFF);
  EXPECT_EQ(bus.read(kEn, 2), 0x4721u);
  EXPECT_EQ(pm.pm1_enable(), 0x4721);
  bus.write(kEn + 1, 1, 0x00);  // byte write of the high half only
  EXPECT_EQ(bus.read(kEn, 2), 0x0021u);
}

TEST_F(AcpiPmTest, DwordReadOfEventBlockIsStatusThenEnable) {
  pm.press_power_button();
  bus.write(kEn, 2, kPm1TmrSts);
  EXPECT_EQ(bus.read(kSts, 4), uint32_t{kPm1PwrbtnSts} | (uint32_t{kPm1TmrSts} << 16));
  bus.write(kSts, 4, 0xFFFF | (uint32_t{kPm1TmrSts} << 16));  // clear status, keep enable
  EXPECT_EQ(bus.read(kSts, 4), uint32_t{kPm1TmrSts} << 16);
}

TEST_F(AcpiPmTest, TimerCountsAt3579545HzFromTheGuestClock) {
  set_ns(0);
  EXPECT_EQ(bus.read(kTmr, 4), 0u);
  set_ns(1000000000);  // one second
  EXPECT_EQ(bus.read(kTmr, 4), 3579545u);
  set_ns(279);  // 279 ns = 0.998 ticks
  EXPECT_EQ(bus.read(kTmr, 4), 0u);
  set_ns(280);
  EXPECT_EQ(bus.read(kTmr, 4), 1u);
  // Byte reads see the same counter.
  set_ns(1000000000);
  EXPECT_EQ(bus.read(kTmr, 1), 3579545u & 0xFF);
  EXPECT_EQ(bus.read(kTmr + 2, 1), (3579545u >> 16) & 0xFF);
  bus.write(kTmr, 4, 0);  // read-only
  EXPECT_EQ(bus.read(kTmr, 4), 3579545u);
}

TEST_F(AcpiPmTest, TimerWrapsAt32Bits) {
  const uint64_t wrap_ns = AcpiPm::ns_at_tick(uint64_t{1} << 32);
  set_ns(wrap_ns - 1);
  EXPECT_EQ(bus.read(kTmr, 4), 0xFFFFFFFFu);
  set_ns(wrap_ns);
  EXPECT_EQ(bus.read(kTmr, 4), 0u);
  EXPECT_EQ(AcpiPm::ticks_at(AcpiPm::ns_at_tick(12345)), 12345u);
  EXPECT_EQ(AcpiPm::ticks_at(AcpiPm::ns_at_tick(12345) - 1), 12344u);
}

TEST_F(AcpiPmTest, TmrStsSetWhenBit31Changes) {
  const uint64_t half = AcpiPm::ns_at_tick(uint64_t{1} << 31);
  set_ns(half - 1);
  EXPECT_FALSE(sts() & kPm1TmrSts);
  set_ns(half);
  EXPECT_TRUE(sts() & kPm1TmrSts);  // bit 31 0 -> 1
  bus.write(kSts, 2, kPm1TmrSts);
  EXPECT_FALSE(sts() & kPm1TmrSts);
  set_ns(AcpiPm::ns_at_tick(uint64_t{1} << 32) - 1);
  EXPECT_FALSE(sts() & kPm1TmrSts);
  set_ns(AcpiPm::ns_at_tick(uint64_t{1} << 32));
  EXPECT_TRUE(sts() & kPm1TmrSts);  // bit 31 1 -> 0 (wrap)
}

TEST_F(AcpiPmTest, TimerOverflowRaisesSciOnTimeWhenEnabled) {
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
  bus.write(kEn, 2, kPm1TmrSts);
  const uint64_t half = AcpiPm::ns_at_tick(uint64_t{1} << 31);
  ASSERT_EQ(timers.next_deadline(), half);
  // The main loop reaches the deadline without the guest touching the registers.
  set_ns(half);
  timers.run_expired(clock.now_ns());
  EXPECT_TRUE(sci.level);
  EXPECT_TRUE(pm.pm1_status() & kPm1TmrSts);
  // The next deadline is the next change of bit 31.
  EXPECT_EQ(timers.next_deadline(), AcpiPm::ns_at_tick(uint64_t{2} << 31));
  bus.write(kSts, 2, kPm1TmrSts);
  EXPECT_FALSE(sci.level);
  bus.write(kEn, 2, 0);
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
}

TEST_F(AcpiPmTest, GpeRaiseEnableClear) {
  pm.raise_gpe(3);
  pm.raise_gpe(17);
  pm.raise_gpe(40);  // out of range: ignored
  EXPECT_EQ(bus.read(kGpeSts, 4), (1u << 3) | (1u << 17));
  EXPECT_FALSE(sci.level);
  bus.write(kGpeEn + 2, 1, 0x02);  // GPE 17 enable, by byte
  EXPECT_EQ(pm.gpe0_enable(), 1u << 17);
  EXPECT_TRUE(sci.level);
  bus.write(kGpeSts + 2, 1, 0x02);  // clear GPE 17
  EXPECT_FALSE(sci.level);
  EXPECT_EQ(bus.read(kGpeSts, 4), 1u << 3);
  EXPECT_EQ(bus.read(kGpeEn, 4), 1u << 17);
  bus.write(kGpeSts, 1, 0xFF);
  EXPECT_EQ(pm.gpe0_status(), 0u);
}

TEST_F(AcpiPmTest, SciOnlyChangesTheLineOnTransitions) {
  bus.write(kGpeEn, 1, 0x01);
  const unsigned calls = sci.calls;
  pm.raise_gpe(0);
  pm.raise_gpe(0);
  bus.read(kSts, 2);
  EXPECT_EQ(sci.calls, calls + 1);
  EXPECT_EQ(sci.rises, 1u);
}

TEST_F(AcpiPmTest, ResetClearsEverything) {
  pm.press_power_button();
  pm.raise_gpe(1);
  bus.write(kEn, 2, 0xFFFF);
  bus.write(kGpeEn, 4, 0xFFFFFFFF);
  bus.write(kCnt, 2, 5u << kPm1CntSlpTypShift);
  EXPECT_TRUE(sci.level);
  pm.reset();
  EXPECT_FALSE(sci.level);
  EXPECT_EQ(bus.read(kSts, 4), 0u);
  EXPECT_EQ(bus.read(kCnt, 2), kPm1CntSciEn);
  EXPECT_EQ(bus.read(kGpeSts, 4), 0u);
  EXPECT_EQ(bus.read(kGpeEn, 4), 0u);
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
}

TEST_F(AcpiPmTest, GapBetweenControlAndTimerReadsZero) {
  EXPECT_EQ(bus.read(kBase + 6, 2), 0u);
  bus.write(kBase + 6, 2, 0xFFFF);
  EXPECT_EQ(bus.read(kBase + 6, 2), 0u);
}

}  // namespace
}  // namespace umbra::acpi
