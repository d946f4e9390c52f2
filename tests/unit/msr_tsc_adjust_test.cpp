// IA32_TSC_ADJUST and the TSC move together (SDM vol. 3, 18.17.3), and IA32_FEATURE_CONTROL reads
// as locked with VMX off.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>

#include "frontend/cpu_state.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/guest_clock.h"
#include "frontend/system/msr.h"

namespace umbra {
namespace {

struct Cpu {
  std::unique_ptr<CpuState> cpu = std::make_unique<CpuState>();
  GuestClock clock{GuestClock::Source::kInstructions, 0};
  Cpu() {
    clock.attach(cpu.get());
    clock.reset();
    cpu->clock = &clock;  // the instruction clock: time does not move in these tests
    reset_model_state(*cpu, default_cpu_model());
  }
  uint64_t rd(uint32_t index) {
    uint64_t v = 0;
    EXPECT_TRUE(read_msr(*cpu, index, &v)) << std::hex << index;
    return v;
  }
};

TEST(MsrTscAdjust, WritingTheAdjustMovesTheTsc) {
  Cpu c;
  ASSERT_TRUE(default_cpu_model().has(Feature::TSC_ADJUST));
  EXPECT_EQ(c.rd(msr::TSC_ADJUST), 0u);
  const uint64_t t0 = c.rd(msr::TSC);
  ASSERT_TRUE(write_msr(*c.cpu, msr::TSC_ADJUST, 1'000'000));
  const uint64_t t1 = c.rd(msr::TSC);
  // + 1: consecutive reads of a stopped clock still increase by one (tsc.cpp).
  EXPECT_GE(t1 - t0, 1'000'000u);
  EXPECT_LE(t1 - t0, 1'000'001u);
  EXPECT_EQ(c.rd(msr::TSC_ADJUST), 1'000'000u);
}

TEST(MsrTscAdjust, WritingTheTscMovesTheAdjust) {
  Cpu c;
  const uint64_t before = c.rd(msr::TSC);
  ASSERT_TRUE(write_msr(*c.cpu, msr::TSC, before + 5'000));
  const int64_t adjust = static_cast<int64_t>(c.rd(msr::TSC_ADJUST));
  EXPECT_GE(adjust, 4'999);
  EXPECT_LE(adjust, 5'001);
  // Back to 0: the counter returns to where it would have been.
  ASSERT_TRUE(write_msr(*c.cpu, msr::TSC_ADJUST, 0));
  const int64_t moved = static_cast<int64_t>(c.rd(msr::TSC) - before);
  EXPECT_GE(moved, -2);
  EXPECT_LE(moved, 3);
}

TEST(MsrTscAdjust, AbsentWithoutTheFeature) {
  Cpu c;
  const CpuModel* base = find_cpu_model("base");
  ASSERT_NE(base, nullptr);
  ASSERT_FALSE(base->has(Feature::TSC_ADJUST));
  reset_model_state(*c.cpu, *base);
  uint64_t v = 0;
  EXPECT_FALSE(read_msr(*c.cpu, msr::TSC_ADJUST, &v));
  EXPECT_FALSE(write_msr(*c.cpu, msr::TSC_ADJUST, 0));
}

TEST(MsrFeatureControl, LockedWithVmxOff) {
  Cpu c;
  EXPECT_EQ(c.rd(msr::FEATURE_CONTROL), 1u);
  EXPECT_FALSE(write_msr(*c.cpu, msr::FEATURE_CONTROL, 5));
}

}  // namespace
}  // namespace umbra
