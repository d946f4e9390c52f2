// The 8254 driven through its ports on an instruction-count guest clock (1 instruction = 1 ns),
// with IRQ0 recorded and the timer queue run the way the machine's main loop does.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "devices/irq.h"
#include "devices/pit.h"
#include "devices/port80.h"
#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "frontend/cpu_state.h"
#include "frontend/system/guest_clock.h"
#include "tests/unit/device_test_util.h"

namespace umbra {
namespace {

using test::RecordingSink;
using test::zeroed_cpu;

class PitTest : public ::testing::Test {
 protected:
  PitTest()
      : cpu(zeroed_cpu()),
        clock(GuestClock::Source::kInstructions, 0),
        pit(bus, timers, clock, IrqLine{&sink, 0}) {
    clock.attach(cpu.get());
    clock.reset();
  }

  void set_tick(uint64_t tick) { cpu->insn_count = Pit8254::ns_at(tick); }
  uint64_t tick() const { return Pit8254::ticks_at(clock.now_ns()); }
  void out(uint16_t port, uint8_t v) { bus.write(port, 1, v); }
  uint8_t in(uint16_t port) { return static_cast<uint8_t>(bus.read(port, 1)); }
  uint16_t latch_read(unsigned channel) {
    out(0x43, static_cast<uint8_t>(channel << 6));
    const uint8_t lo = in(static_cast<uint16_t>(0x40 + channel));
    return static_cast<uint16_t>(lo | in(static_cast<uint16_t>(0x40 + channel)) << 8);
  }
  // Advances to the next timer deadline and runs it, as the halted main loop does.
  uint64_t step_to_next_deadline() {
    const uint64_t d = timers.next_deadline();
    EXPECT_NE(d, TimerQueue::kNever);
    cpu->insn_count = d;
    timers.run_expired(clock.now_ns());
    return d;
  }

  std::unique_ptr<CpuState> cpu;
  GuestClock clock;
  PortBus bus;
  TimerQueue timers;
  RecordingSink sink;
  Pit8254 pit;
};

TEST_F(PitTest, TickConversionRoundTrips) {
  for (uint64_t t : {0ull, 1ull, 1193181ull, 1193182ull, 123456789ull}) {
    EXPECT_EQ(Pit8254::ticks_at(Pit8254::ns_at(t)), t);
    if (t > 0) {
      EXPECT_EQ(Pit8254::ticks_at(Pit8254::ns_at(t) - 1), t - 1);
    }
  }
  EXPECT_EQ(Pit8254::ticks_at(1'000'000'000), Pit8254::kFrequencyHz);
}

TEST_F(PitTest, RateGeneratorInterruptsEveryPeriodWithoutDrift) {
  constexpr uint32_t n = 1193;  // Linux's LATCH for HZ=1000
  out(0x43, 0x34);              // counter 0, LSB then MSB, mode 2
  out(0x40, n & 0xff);
  out(0x40, n >> 8);
  // Loaded on the next clock (tick 1); OUT low for the clock where the count is 1 (tick n),
  // rising again at tick n + 1 and then every n clocks.
  EXPECT_EQ(timers.next_deadline(), Pit8254::ns_at(n));
  EXPECT_TRUE(sink.levels[0]);  // OUT goes high on the mode 2 control word
  EXPECT_EQ(sink.rises[0], 1u);
  for (unsigned period = 1; period <= 500; ++period) {
    EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(period * n));  // falling edge
    EXPECT_FALSE(sink.levels[0]);
    EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(period * n + 1));  // rising edge
    EXPECT_TRUE(sink.levels[0]);
  }
  EXPECT_EQ(sink.rises[0], 501u);
}

TEST_F(PitTest, LateMainLoopCollapsesMissedPeriods) {
  out(0x43, 0x34);
  out(0x40, 100);
  out(0x40, 0);
  const unsigned before = sink.rises[0];
  cpu->insn_count = Pit8254::ns_at(1000 + 50);  // ten periods late
  timers.run_expired(clock.now_ns());
  EXPECT_EQ(sink.rises[0] - before, 1u);  // one interrupt, not ten
  EXPECT_GT(timers.next_deadline(), clock.now_ns());
  // Back on the period grid: the next falling edge is at tick 1100.
  EXPECT_EQ(timers.next_deadline(), Pit8254::ns_at(1100));
}

TEST_F(PitTest, OneShotMode0) {
  out(0x43, 0x30);  // mode 0: interrupt on terminal count
  out(0x40, 100);
  EXPECT_FALSE(sink.levels[0]);
  out(0x40, 0);
  EXPECT_EQ(timers.next_deadline(), Pit8254::ns_at(101));
  set_tick(51);
  EXPECT_EQ(latch_read(0), 50);
  set_tick(100);
  EXPECT_FALSE(pit.out(0));
  step_to_next_deadline();
  EXPECT_TRUE(sink.levels[0]);
  EXPECT_EQ(sink.rises[0], 1u);
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
  // The counter wraps and keeps counting; OUT stays high.
  set_tick(103);
  EXPECT_EQ(latch_read(0), 0xfffe);
  // Writing the first byte of a new count drives OUT low again.
  out(0x40, 10);
  EXPECT_FALSE(sink.levels[0]);
}

TEST_F(PitTest, Channel2GateAndOut2AsLinuxTscCalibrationUsesThem) {
  out(0x61, (in(0x61) & ~0x02) | 0x01);  // gate 2 high, speaker off
  EXPECT_EQ(in(0x61) & 0x03, 0x01);
  out(0x43, 0xb0);  // counter 2, LSB/MSB, mode 0
  out(0x42, 0xff);
  out(0x42, 0xff);
  EXPECT_EQ(in(0x61) & 0x20, 0);
  // quick_pit_calibrate reads the MSB as it falls.
  set_tick(1 + 256);
  in(0x42);
  EXPECT_EQ(in(0x42), 0xfe);
  set_tick(65535);
  EXPECT_EQ(in(0x61) & 0x20, 0);
  set_tick(65536);
  EXPECT_EQ(in(0x61) & 0x20, 0x20);  // exactly N + 1 clocks after the write
}

TEST_F(PitTest, GateLowSuspendsMode0) {
  out(0x61, 0x01);
  out(0x43, 0xb0);
  out(0x42, 0x10);
  out(0x42, 0x00);
  set_tick(6);
  out(0x61, 0x00);  // gate low at count 11
  set_tick(500);
  EXPECT_EQ(latch_read(2), 11);
  out(0x61, 0x01);
  set_tick(505);
  EXPECT_EQ(latch_read(2), 6);
  set_tick(511);
  EXPECT_EQ(in(0x61) & 0x20, 0x20);
}

TEST_F(PitTest, SquareWaveOnChannel2) {
  out(0x61, 0x01);
  out(0x43, 0xb6);  // counter 2, LSB/MSB, mode 3
  out(0x42, 10);
  out(0x42, 0);
  for (uint64_t t = 1; t < 41; ++t) {
    set_tick(t);
    const bool high = ((t - 1) % 10) < 5;
    EXPECT_EQ((in(0x61) & 0x20) != 0, high) << "tick " << t;
  }
  set_tick(3);
  EXPECT_EQ(latch_read(2), 6);  // decrements by two
  // Gate low forces OUT high.
  set_tick(8);
  EXPECT_EQ(in(0x61) & 0x20, 0);
  out(0x61, 0x00);
  EXPECT_EQ(in(0x61) & 0x20, 0x20);
}

TEST_F(PitTest, ReadBackStatusAndCount) {
  out(0x43, 0x34);
  out(0x40, 0x00);
  out(0x40, 0x10);                          // 4096
  out(0x43, 0xc2);                          // read-back: latch count and status of counter 0
  EXPECT_EQ(in(0x40), 0x80 | 0x40 | 0x34);  // OUT high, null count (not loaded yet), RW 3, mode 2
  set_tick(200);
  EXPECT_EQ(in(0x40), 0x00);  // the count latched at the command
  EXPECT_EQ(in(0x40), 0x10);
  out(0x43, 0xe2);  // status only
  EXPECT_EQ(in(0x40), 0x80 | 0x34);
  EXPECT_EQ(in(0x40), 0x39);  // live count 4096 - 199 = 3897 = 0x0f39: LSB
}

TEST_F(PitTest, LatchHoldsUntilRead) {
  out(0x43, 0x34);
  out(0x40, 0);
  out(0x40, 0);  // 65536
  set_tick(11);
  out(0x43, 0x00);
  set_tick(500);
  out(0x43, 0x00);  // ignored: the first latch is not read yet
  EXPECT_EQ(in(0x40), 0xf6);
  EXPECT_EQ(in(0x40), 0xff);
}

TEST_F(PitTest, BcdCounting) {
  out(0x43, 0x31);  // counter 0, LSB/MSB, mode 0, BCD
  out(0x40, 0x00);
  out(0x40, 0x10);  // 1000 decimal
  set_tick(11);
  EXPECT_EQ(latch_read(0), 0x0990);
}

TEST_F(PitTest, NewCountInMode2TakesEffectAtThePeriodEnd) {
  out(0x43, 0x34);
  out(0x40, 100);
  out(0x40, 0);
  set_tick(31);
  out(0x40, 50);
  out(0x40, 0);
  EXPECT_EQ(latch_read(0), 70);  // the current period continues
  // IRQ0 edges: the old period ends (low at 100, high at 101), then periods of 50.
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(100));
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(101));
  EXPECT_EQ(latch_read(0), 50);
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(150));
  EXPECT_FALSE(pit.out(0));
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(151));
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(200));
  set_tick(226);
  EXPECT_EQ(latch_read(0), 25);
}

TEST_F(PitTest, HardwareOneShotMode1OnChannel2) {
  out(0x43, 0xb2);  // counter 2, mode 1
  out(0x42, 20);
  out(0x42, 0);
  set_tick(10);
  EXPECT_EQ(in(0x61) & 0x20, 0x20);  // waits for a trigger
  out(0x61, 0x01);                   // rising gate
  set_tick(11);
  EXPECT_EQ(in(0x61) & 0x20, 0);
  set_tick(30);
  EXPECT_EQ(in(0x61) & 0x20, 0);
  set_tick(31);
  EXPECT_EQ(in(0x61) & 0x20, 0x20);
}

TEST_F(PitTest, SoftwareStrobeMode4) {
  out(0x43, 0x38);  // counter 0, mode 4
  out(0x40, 5);
  out(0x40, 0);
  EXPECT_TRUE(sink.levels[0]);
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(6));
  EXPECT_FALSE(sink.levels[0]);
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(7));
  EXPECT_TRUE(sink.levels[0]);
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
}

TEST_F(PitTest, LinuxOneShotClockeventInMode4) {
  // pit_set_oneshot writes 0x38 (mode 4); each pit_next_event writes a new count, loaded on the
  // next clock; the interrupt is the rising edge after the one-clock strobe.
  out(0x43, 0x38);
  out(0x40, 100);
  out(0x40, 0);
  set_tick(40);
  out(0x40, 50);
  out(0x40, 0);
  EXPECT_EQ(timers.next_deadline(), Pit8254::ns_at(91));
  const unsigned before = sink.rises[0];
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(91));
  EXPECT_EQ(step_to_next_deadline(), Pit8254::ns_at(92));
  EXPECT_EQ(sink.rises[0] - before, 1u);
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
}

TEST_F(PitTest, RefreshBitToggles) {
  cpu->insn_count = 1000;
  const uint8_t a = in(0x61) & 0x10;
  cpu->insn_count = 1000 + 15085;
  const uint8_t b = in(0x61) & 0x10;
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace umbra

namespace umbra {
namespace {

// Port 0x80 sits next to the PIT's port 0x61 among the board's system ports.
TEST(PostCodePortTest, SwallowsWritesAndRemembersTheLast) {
  PortBus bus;
  PostCodePort post(bus);
  bus.write(0x80, 1, 0x12);
  bus.write(0x80, 1, 0x34);
  EXPECT_EQ(post.last(), 0x34);
  EXPECT_EQ(post.writes(), 2u);
  EXPECT_EQ(bus.read(0x80, 1), 0x34u);
  EXPECT_EQ(bus.owner(0x80), "post-code");
  EXPECT_EQ(bus.unclaimed_writes(), 0u);
}

}  // namespace
}  // namespace umbra
