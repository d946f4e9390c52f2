// Local APIC timer: one-shot, periodic and TSC-deadline modes on the instruction clock
// (1 ns per instruction), so every expiry time is exact (SDM vol. 3, 10.5.4).
#include <gtest/gtest.h>

#include "devices/lapic.h"
#include "frontend/system/msr.h"
#include "frontend/system/tsc.h"
#include "lapic_test_util.h"

namespace umbra {
namespace {

using test::ApicTestBench;

constexpr uint32_t kVector = 0x40;
constexpr uint32_t kDivideBy1 = 0xB, kDivideBy16 = 0x3, kDivideBy2 = 0x0;
constexpr uint32_t kPeriodic = 1u << 17, kTscDeadline = 2u << 17, kMasked = 1u << 16;

// The model's crystal (CPUID leaf 15H) clocks the timer.
uint64_t ns_per_tick(const ApicTestBench& b) {
  return 1'000'000'000 / b.model().crystal_hz;
}

// Takes the timer interrupt (acknowledge + EOI) if one is pending; returns whether it was.
bool take(Lapic& a) {
  if (!a.irr_bit(kVector)) return false;
  EXPECT_EQ(a.acknowledge(), kVector);
  a.write_register(Lapic::kEoi, 0);
  return true;
}

TEST(LapicTimer, CrystalIs25MHzAsCpuidReports) {
  ApicTestBench b;
  ASSERT_EQ(b.model().crystal_hz, 25'000'000u);  // the tests below assume 40 ns per tick
  EXPECT_EQ(ns_per_tick(b), 40u);
}

TEST(LapicTimer, OneShotFiresOnceAtTheExactTime) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kVector);
  a.write_register(Lapic::kTimerDivide, kDivideBy1);
  const uint64_t t0 = b.now();
  a.write_register(Lapic::kTimerInitial, 25000);  // 25000 ticks * 40 ns = 1 ms
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 25000u);
  b.advance_to(t0 + 500'000);
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 12500u);
  b.advance_to(t0 + 999'999);
  EXPECT_FALSE(a.irr_bit(kVector));
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 1u);
  b.advance_to(t0 + 1'000'000);
  EXPECT_TRUE(take(a));
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 0u);
  EXPECT_EQ(a.read_register(Lapic::kTimerInitial), 25000u);
  b.advance(10'000'000);
  EXPECT_FALSE(a.irr_bit(kVector));
  EXPECT_EQ(a.timer_fired(), 1u);
}

TEST(LapicTimer, PeriodicReloadsWithoutDrift) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kPeriodic | kVector);
  a.write_register(Lapic::kTimerDivide, kDivideBy2);
  const uint64_t t0 = b.now();
  a.write_register(Lapic::kTimerInitial, 1250);  // 2500 ticks = 100 us
  for (unsigned n = 1; n <= 50; ++n) {
    b.advance_to(t0 + n * 100'000 - 1);
    EXPECT_FALSE(a.irr_bit(kVector)) << n;
    b.advance_to(t0 + n * 100'000);
    EXPECT_TRUE(take(a)) << n;
    EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 1250u);
  }
  b.advance_to(t0 + 50 * 100'000 + 30'000);
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 1250u - 30'000 / 80);
  // A late host coalesces missed periods into one interrupt and stays on the grid.
  b.advance_to(t0 + 55 * 100'000 + 10);
  EXPECT_TRUE(take(a));
  EXPECT_EQ(b.timers().deadline(0), t0 + 56 * 100'000);
  // Writing 0 stops it.
  a.write_register(Lapic::kTimerInitial, 0);
  b.advance(1'000'000);
  EXPECT_FALSE(a.irr_bit(kVector));
}

TEST(LapicTimer, DivideConfiguration) {
  const struct {
    uint32_t config;
    unsigned divisor;
  } cases[] = {{0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xA, 128}, {0xB, 1}};
  for (const auto& c : cases) {
    ApicTestBench b;
    Lapic& a = b.lapic();
    b.enable();
    a.write_register(Lapic::kLvtTimer, kVector);
    a.write_register(Lapic::kTimerDivide, c.config);
    const uint64_t t0 = b.now();
    a.write_register(Lapic::kTimerInitial, 100);
    const uint64_t expiry = t0 + 100ull * c.divisor * 40;
    b.advance_to(expiry - 1);
    EXPECT_FALSE(a.irr_bit(kVector)) << c.config;
    b.advance_to(expiry);
    EXPECT_TRUE(a.irr_bit(kVector)) << c.config;
  }
}

TEST(LapicTimer, DivideChangeKeepsTheRemainingCount) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kVector);
  a.write_register(Lapic::kTimerDivide, kDivideBy1);
  const uint64_t t0 = b.now();
  a.write_register(Lapic::kTimerInitial, 1000);
  b.advance_to(t0 + 400 * 40);
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 600u);
  a.write_register(Lapic::kTimerDivide, kDivideBy16);
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 600u);
  const uint64_t expiry = b.now() + 600ull * 16 * 40;
  b.advance_to(expiry - 1);
  EXPECT_FALSE(a.irr_bit(kVector));
  b.advance_to(expiry);
  EXPECT_TRUE(a.irr_bit(kVector));
}

TEST(LapicTimer, MaskedTimerCountsButDoesNotInterrupt) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kMasked | kPeriodic | kVector);
  a.write_register(Lapic::kTimerDivide, kDivideBy1);
  a.write_register(Lapic::kTimerInitial, 100);
  for (int i = 0; i < 3; ++i) b.advance(100 * 40);
  EXPECT_FALSE(a.irr_bit(kVector));
  EXPECT_EQ(a.timer_fired(), 3u);
  a.write_register(Lapic::kLvtTimer, kPeriodic | kVector);
  b.advance(100 * 40);
  EXPECT_TRUE(a.irr_bit(kVector));
}

TEST(LapicTimer, TimerInterruptRaisesTheCpuLine) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kVector);
  a.write_register(Lapic::kTimerInitial, 10);
  b.cpu().exit_request = 0;
  b.advance(10 * 2 * 40);
  EXPECT_TRUE(b.cpu().irq_line);
  EXPECT_TRUE(b.cpu().exit_request & kExitInterrupt);
}

TEST(LapicTimer, TscDeadlineThroughTheMsr) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  CpuState& cpu = b.cpu();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kTscDeadline | kVector);
  // The count registers are inert in TSC-deadline mode.
  a.write_register(Lapic::kTimerInitial, 5);
  EXPECT_EQ(a.read_register(Lapic::kTimerInitial), 0u);
  EXPECT_EQ(a.read_register(Lapic::kTimerCurrent), 0u);
  // 2 GHz TSC: 2000 ticks from now = 1000 ns.
  ASSERT_EQ(b.model().tsc_hz, 2'000'000'000u);
  const uint64_t t0 = b.now();
  const uint64_t deadline = tsc_ticks(cpu) + cpu.tsc_offset + 2000;
  ASSERT_TRUE(write_msr(cpu, Lapic::kIa32TscDeadline, deadline));
  uint64_t v = 0;
  ASSERT_TRUE(read_msr(cpu, Lapic::kIa32TscDeadline, &v));
  EXPECT_EQ(v, deadline);
  b.advance_to(t0 + 999);
  EXPECT_FALSE(a.irr_bit(kVector));
  b.advance_to(t0 + 1000);
  EXPECT_TRUE(take(a));
  ASSERT_TRUE(read_msr(cpu, Lapic::kIa32TscDeadline, &v));
  EXPECT_EQ(v, 0u);  // the timer disarms itself and clears the MSR
  b.advance(1'000'000);
  EXPECT_FALSE(a.irr_bit(kVector));
  // A deadline already passed fires at once.
  ASSERT_TRUE(write_msr(cpu, Lapic::kIa32TscDeadline, 1));
  EXPECT_TRUE(take(a));
  // Writing 0 disarms.
  ASSERT_TRUE(write_msr(cpu, Lapic::kIa32TscDeadline, tsc_ticks(cpu) + cpu.tsc_offset + 100));
  ASSERT_TRUE(write_msr(cpu, Lapic::kIa32TscDeadline, 0));
  b.advance(1000);
  EXPECT_FALSE(a.irr_bit(kVector));
}

TEST(LapicTimer, TscDeadlineFollowsTscWrites) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  CpuState& cpu = b.cpu();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kTscDeadline | kVector);
  ASSERT_TRUE(write_msr(cpu, 0x10, 1'000'000));  // IA32_TSC
  const uint64_t t0 = b.now();
  ASSERT_TRUE(write_msr(cpu, Lapic::kIa32TscDeadline, 1'000'000 + 4000));  // 2000 ns away
  b.advance_to(t0 + 1999);
  EXPECT_FALSE(a.irr_bit(kVector));
  b.advance_to(t0 + 2000);
  EXPECT_TRUE(a.irr_bit(kVector));
}

TEST(LapicTimer, LeavingTscDeadlineModeDisarms) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  CpuState& cpu = b.cpu();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kTscDeadline | kVector);
  ASSERT_TRUE(write_msr(cpu, Lapic::kIa32TscDeadline, tsc_ticks(cpu) + cpu.tsc_offset + 1000));
  a.write_register(Lapic::kLvtTimer, kVector);  // one-shot
  uint64_t v = 1;
  ASSERT_TRUE(read_msr(cpu, Lapic::kIa32TscDeadline, &v));
  EXPECT_EQ(v, 0u);
  b.advance(10'000);
  EXPECT_FALSE(a.irr_bit(kVector));
  // And a count-based timer does not survive the switch into TSC-deadline mode.
  a.write_register(Lapic::kTimerInitial, 100);
  a.write_register(Lapic::kLvtTimer, kTscDeadline | kVector);
  b.advance(1'000'000);
  EXPECT_FALSE(a.irr_bit(kVector));
}

TEST(LapicTimer, ModeChangeWhileCounting) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kLvtTimer, kVector);  // one-shot
  a.write_register(Lapic::kTimerDivide, kDivideBy1);
  const uint64_t t0 = b.now();
  a.write_register(Lapic::kTimerInitial, 100);
  b.advance_to(t0 + 2000);
  a.write_register(Lapic::kLvtTimer, kPeriodic | kVector);  // now periodic: it reloads
  b.advance_to(t0 + 4000);
  EXPECT_TRUE(take(a));
  b.advance_to(t0 + 8000);
  EXPECT_TRUE(take(a));
}

}  // namespace
}  // namespace umbra
