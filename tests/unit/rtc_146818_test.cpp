// The MC146818A RTC/CMOS through ports 0x70/0x71 on an instruction-count guest clock
// (1 instruction = 1 ns): time formats, UIP timing, setting the time, the three interrupts and
// the memory size bytes.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "devices/irq.h"
#include "devices/port_bus.h"
#include "devices/rtc.h"
#include "devices/timer_queue.h"
#include "frontend/cpu_state.h"
#include "frontend/system/guest_clock.h"
#include "tests/unit/device_test_util.h"

namespace umbra {
namespace {

using test::RecordingSink;
using test::zeroed_cpu;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kSecond = 1'000'000'000;
constexpr int64_t kSat20261121_034605 = 1795232765;  // Saturday 2026-11-21 03:46:05 UTC

class RtcTest : public ::testing::Test {
 protected:
  RtcTest()
      : cpu(zeroed_cpu()),
        clock(GuestClock::Source::kInstructions, 0),
        rtc(bus, IrqLine{&sink, 8}, timers, clock, 512 * kMiB) {
    clock.attach(cpu.get());
    clock.reset();
    cpu->insn_count = 1000;
    rtc.set_time(kSat20261121_034605);  // the next update at guest time 1000 + 1 s
  }
  uint8_t reg(uint8_t index) {
    bus.write(0x70, 1, index);
    return static_cast<uint8_t>(bus.read(0x71, 1));
  }
  void set_reg(uint8_t index, uint8_t v) {
    bus.write(0x70, 1, index);
    bus.write(0x71, 1, v);
  }
  void advance_to(uint64_t ns) {
    cpu->insn_count = ns;
    timers.run_expired(clock.now_ns());
  }
  bool irq8() const { return sink.levels[8]; }

  std::unique_ptr<CpuState> cpu;
  GuestClock clock;
  PortBus bus;
  TimerQueue timers;
  RecordingSink sink;
  Rtc146818 rtc;
};

TEST_F(RtcTest, ReadsTimeInBcd24Hour) {
  EXPECT_EQ(reg(0x0b), 0x02);  // BCD, 24-hour
  EXPECT_EQ(reg(0x00), 0x05);
  EXPECT_EQ(reg(0x02), 0x46);
  EXPECT_EQ(reg(0x04), 0x03);
  EXPECT_EQ(reg(0x06), 0x07);  // Saturday (1 = Sunday)
  EXPECT_EQ(reg(0x07), 0x21);
  EXPECT_EQ(reg(0x08), 0x11);
  EXPECT_EQ(reg(0x09), 0x26);
  EXPECT_EQ(reg(0x32), 0x20);
  EXPECT_EQ(reg(0x0d), 0x80);
}

TEST_F(RtcTest, BinaryAnd12HourFormats) {
  set_reg(0x0b, 0x04);  // binary, 12-hour
  EXPECT_EQ(reg(0x00), 5);
  EXPECT_EQ(reg(0x02), 46);
  EXPECT_EQ(reg(0x04), 3);  // 3 AM
  EXPECT_EQ(reg(0x09), 26);
  rtc.set_time(kSat20261121_034605 + 12 * 3600);
  EXPECT_EQ(reg(0x04), 0x80 | 3);  // 3 PM
  rtc.set_time(kSat20261121_034605 - 3 * 3600);
  EXPECT_EQ(reg(0x04), 12);  // 00:46 is 12:46 AM
  set_reg(0x0b, 0x00);       // BCD, 12-hour
  rtc.set_time(kSat20261121_034605 + 20 * 3600);
  EXPECT_EQ(reg(0x04), 0x80 | 0x11);  // 23:46 is 11 PM
}

TEST_F(RtcTest, TimeRunsOnTheGuestClock) {
  cpu->insn_count = 1000 + kSecond - 1;
  EXPECT_EQ(reg(0x00), 0x05);
  cpu->insn_count = 1000 + kSecond;
  EXPECT_EQ(reg(0x00), 0x06);
  cpu->insn_count = 1000 + 55 * kSecond;
  EXPECT_EQ(reg(0x00), 0x00);
  EXPECT_EQ(reg(0x02), 0x47);
  EXPECT_EQ(rtc.time(), kSat20261121_034605 + 55);
}

TEST_F(RtcTest, UpdateInProgressPrecedesTheUpdate) {
  // UIP is set 244 us before the 1984 us update cycle and the time changes at its end.
  const uint64_t update = 1000 + kSecond;
  cpu->insn_count = update - 2228000 - 1;
  EXPECT_EQ(reg(0x0a), 0x26);
  cpu->insn_count = update - 2228000;
  EXPECT_EQ(reg(0x0a), 0xa6);
  cpu->insn_count = update - 1;
  EXPECT_EQ(reg(0x0a), 0xa6);
  EXPECT_EQ(reg(0x00), 0x05);
  cpu->insn_count = update;
  EXPECT_EQ(reg(0x0a), 0x26);
  EXPECT_EQ(reg(0x00), 0x06);
}

TEST_F(RtcTest, SettingTheTimeWithTheSetBit) {
  // Linux's mc146818_set_time: SET, divider reset, write the registers, restore A and B.
  set_reg(0x0b, 0x82);
  set_reg(0x0a, 0x76);
  EXPECT_EQ(reg(0x0a) & 0x80, 0);  // SET clears UIP
  set_reg(0x00, 0x59);
  set_reg(0x02, 0x59);
  set_reg(0x04, 0x23);
  set_reg(0x07, 0x31);
  set_reg(0x08, 0x12);
  set_reg(0x09, 0x99);
  set_reg(0x32, 0x20);
  cpu->insn_count = 1000 + 5 * kSecond;  // stands still while SET
  EXPECT_EQ(reg(0x00), 0x59);
  set_reg(0x0a, 0x26);
  set_reg(0x0b, 0x02);
  EXPECT_EQ(rtc.time(), 4102444799);  // 2099-12-31 23:59:59
  cpu->insn_count = 1000 + 5 * kSecond + kSecond;
  EXPECT_EQ(reg(0x09), 0x00);
  EXPECT_EQ(reg(0x32), 0x21);
  EXPECT_EQ(reg(0x08), 0x01);
  EXPECT_EQ(reg(0x07), 0x01);
}

TEST_F(RtcTest, WritingATimeRegisterWhileRunning) {
  set_reg(0x02, 0x10);  // minutes
  EXPECT_EQ(rtc.time(), kSat20261121_034605 - 36 * 60);
  // Leap day in binary mode.
  set_reg(0x0b, 0x06);
  rtc.set_time(951868799);  // 2000-02-29 23:59:59
  EXPECT_EQ(reg(0x07), 29);
  EXPECT_EQ(reg(0x08), 2);
  cpu->insn_count += kSecond;
  EXPECT_EQ(reg(0x07), 1);
  EXPECT_EQ(reg(0x08), 3);
}

TEST_F(RtcTest, PeriodicInterrupt) {
  set_reg(0x0a, 0x26);  // 1024 Hz
  set_reg(0x0b, 0x42);  // PIE
  const uint64_t first = timers.next_deadline();
  ASSERT_NE(first, TimerQueue::kNever);
  EXPECT_LE(first - 1000, 976563u);
  advance_to(first - 1);
  EXPECT_FALSE(irq8());
  advance_to(first);
  EXPECT_TRUE(irq8());
  // Level until register C is read, as IRQF on the chip.
  EXPECT_EQ(reg(0x0c), 0xc0);
  EXPECT_FALSE(irq8());
  const uint64_t second = timers.next_deadline();
  EXPECT_GE(second - first, 976562u);
  EXPECT_LE(second - first, 976563u);
  // 1024 periods take exactly one second (no drift).
  for (int i = 0; i < 1023; ++i) {
    advance_to(timers.next_deadline());
    reg(0x0c);
  }
  EXPECT_EQ(timers.next_deadline() - first, kSecond);
  EXPECT_EQ(sink.rises[8], 1024u);
  // A slower rate: RS = 15 is 2 Hz.
  set_reg(0x0a, 0x2f);
  const uint64_t t = timers.next_deadline();
  EXPECT_LE(t - clock.now_ns(), kSecond / 2);
}

TEST_F(RtcTest, UpdateEndedInterrupt) {
  set_reg(0x0b, 0x12);  // UIE
  EXPECT_EQ(timers.next_deadline(), 1000 + kSecond);
  advance_to(1000 + kSecond);
  EXPECT_TRUE(irq8());
  EXPECT_EQ(reg(0x0c) & 0xb0, 0x90);  // IRQF + UF (PF runs too, not enabled)
}

TEST_F(RtcTest, AlarmInterrupt) {
  set_reg(0x01, 0x07);  // 03:46:07
  set_reg(0x03, 0x46);
  set_reg(0x05, 0xc0);  // any hour
  set_reg(0x0b, 0x22);  // AIE
  advance_to(1000 + kSecond);
  EXPECT_FALSE(irq8());
  EXPECT_EQ(reg(0x0c) & 0x30, 0x10);  // UF only
  advance_to(1000 + 2 * kSecond);
  EXPECT_TRUE(irq8());
  EXPECT_EQ(reg(0x0c) & 0xb0, 0xb0);  // IRQF, AF, UF
  EXPECT_FALSE(irq8());
}

TEST_F(RtcTest, FlagsWithoutInterruptsAreComputedOnRead) {
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
  EXPECT_EQ(reg(0x0c), 0x00);
  cpu->insn_count = 1000 + kSecond / 512;
  EXPECT_EQ(reg(0x0c), 0x40);  // PF without IRQF
  cpu->insn_count = 1000 + kSecond;
  EXPECT_EQ(reg(0x0c) & 0x10, 0x10);
  EXPECT_FALSE(irq8());
}

TEST_F(RtcTest, MemorySizeBytes) {
  EXPECT_EQ(reg(0x10), 0x00);
  EXPECT_EQ(reg(0x15) | reg(0x16) << 8, 640);
  EXPECT_EQ(reg(0x17) | reg(0x18) << 8, 0xffff);  // capped at 65535 KiB
  EXPECT_EQ(reg(0x30) | reg(0x31) << 8, 0xffff);
  EXPECT_EQ(reg(0x34) | reg(0x35) << 8, (512 - 16) * 16);
  EXPECT_EQ(reg(0x5b) | reg(0x5c) << 8 | reg(0x5d) << 16, 0);
  unsigned sum = 0;
  for (uint8_t i = 0x10; i <= 0x2d; ++i) sum += reg(i);
  EXPECT_EQ(reg(0x2e) << 8 | reg(0x2f), sum);

  PortBus bus2;
  Rtc146818 small(bus2, IrqLine{}, timers, clock, 32 * kMiB, 3ull << 30);
  auto r = [&](uint8_t i) {
    bus2.write(0x70, 1, i);
    return static_cast<unsigned>(bus2.read(0x71, 1));
  };
  EXPECT_EQ(r(0x17) | r(0x18) << 8, 31 * 1024u);
  EXPECT_EQ(r(0x34) | r(0x35) << 8, 16 * 16u);
  EXPECT_EQ(r(0x5b) | r(0x5c) << 8 | r(0x5d) << 16, 3u << 14);
}

TEST_F(RtcTest, ResetClearsInterruptsAndTakesTheHostTime) {
  set_reg(0x0b, 0x52);  // PIE, UIE
  set_reg(0x40, 0x77);
  rtc.reset();
  EXPECT_EQ(reg(0x0b), 0x02);
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
  EXPECT_EQ(reg(0x40), 0x77);
  EXPECT_GT(rtc.time(), kSat20261121_034605 - 86400 * 365 * 5);  // the host's clock, roughly now
}

TEST_F(RtcTest, NmiMaskAndRam) {
  bus.write(0x70, 1, 0x80 | 0x40);
  EXPECT_TRUE(rtc.nmi_masked());
  bus.write(0x71, 1, 0x5a);
  bus.write(0x70, 1, 0x40);
  EXPECT_FALSE(rtc.nmi_masked());
  EXPECT_EQ(bus.read(0x71, 1), 0x5au);
  EXPECT_EQ(rtc.cmos(0x40), 0x5a);
}

}  // namespace
}  // namespace umbra
