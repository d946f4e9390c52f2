// Every computational x87 encoding (D8..DF, memory and register forms) against the host's FPU:
// random full states (TOP, empty slots, hard values, masks, precision and rounding control) and
// memory operands, compared bit for bit (FCW, FSW, tags, registers, memory, FCOMI's EFLAGS).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "frontend/system/cpu_model.h"
#include "tests/unit/x87_test_util.h"

namespace umbra::test {
namespace {

using namespace x87t;

// Forms Umbra treats as control instructions or does not implement (tested elsewhere).
bool skipped_memory_form(uint8_t op, unsigned reg) {
  if (op == 0xD9) return reg == 1 || reg >= 4;
  if (op == 0xDB) return reg == 4 || reg == 6;
  if (op == 0xDD) return reg >= 4;
  return false;
}

bool skipped_register_form(uint8_t op, uint8_t modrm) {
  switch (op) {
    case 0xD9:
      if (modrm >= 0xD1 && modrm <= 0xD7) return true;
      return modrm == 0xE2 || modrm == 0xE3 || modrm == 0xE6 || modrm == 0xE7 || modrm == 0xEF;
    case 0xDA:
      return modrm >= 0xE0 && modrm != 0xE9;
    case 0xDB:
      return (modrm >= 0xE0 && modrm <= 0xE7) || modrm >= 0xF8;  // control, invalid
    case 0xDD:
      return modrm >= 0xF0;
    case 0xDE:
      return modrm >= 0xD8 && modrm <= 0xDF && modrm != 0xD9;
    case 0xDF:
      return (modrm >= 0xE0 && modrm <= 0xE7) || modrm >= 0xF8;  // FNSTSW AX, invalid
    default:
      return false;
  }
}

void check_form(uint8_t op, uint8_t modrm, unsigned cases, uint64_t seed) {
  std::mt19937_64 rng(seed * 1000003 + op * 256 + modrm);
  const std::vector<uint8_t> bytes = {op, modrm};
  for (unsigned n = 0; n < cases; ++n) {
    State host;
    random_state(rng, host);
    TestCpu t;
    auto& c = t.cpu();
    load_guest(c, host.image);
    c.gpr[RSI] = kMemAddr;
    std::memcpy(t.mem().ram() + kMemAddr, host.mem, 16);
    set_arith_flags(c, host.rflags);
    run_host(bytes, host);
    const Outcome o = run_guest(t, bytes);
    ASSERT_FALSE(o.faulted) << std::hex << unsigned(op) << " " << unsigned(modrm);
    ASSERT_TRUE(same_state(t, host)) << std::hex << "form " << unsigned(op) << " "
                                     << unsigned(modrm) << " case " << std::dec << n;
    ASSERT_EQ(std::memcmp(t.mem().ram() + kMemAddr, host.mem, 16), 0)
        << std::hex << "memory, form " << unsigned(op) << " " << unsigned(modrm);
    ASSERT_EQ(arith_flags(c) & 0x8D5, host.rflags)
        << std::hex << "eflags, form " << unsigned(op) << " " << unsigned(modrm);
  }
}

TEST(X87Compute, MemoryFormsMatchHost) {
  for (uint8_t op = 0xD8; op <= 0xDF && op >= 0xD8; ++op)
    for (unsigned reg = 0; reg < 8; ++reg)
      if (!skipped_memory_form(op, reg))
        check_form(op, static_cast<uint8_t>(reg << 3 | 6), 1500, 1);
}

// FISTTP (SSE3; DF /1 m16, DB /1 m32, DD /1 m64): truncation whatever the rounding control, at
// and around the integer limits of each width (the invalid-operation boundary) and for
// fractional values, with IE/PE masked and unmasked (an unmasked IE leaves memory unchanged).
TEST(X87Compute, FisttpTruncatesLikeTheHost) {
  std::mt19937_64 rng(77);
  const struct {
    uint8_t op;
    int bits;
  } forms[] = {{0xDF, 16}, {0xDB, 32}, {0xDD, 64}};
  unsigned checked = 0;
  for (const auto& form : forms) {
    const std::vector<uint8_t> bytes = {form.op, 0x0E};  // /1, [rsi]
    for (unsigned n = 0; n < 3000; ++n) {
      State host;
      random_state(rng, host);
      // ST(0) = +-(2^(bits-1) + delta) or a small fractional value, as an 80-bit normal.
      const uint16_t sign = (rng() & 1) ? 0x8000 : 0;
      F80 v;
      if (rng() & 1) {
        const int e = form.bits - 1 - static_cast<int>(rng() % 3);  // 2^(bits-1), /2, /4
        const uint64_t frac = (rng() % 4 == 0) ? 0 : (rng() >> (rng() % 64));
        v = {0x8000000000000000ull | (frac >> 1), static_cast<uint16_t>(sign | (0x3FFF + e))};
      } else {
        v = {0x8000000000000000ull | (rng() >> 1),
             static_cast<uint16_t>(sign | (0x3FFF - 2 + rng() % 8))};
      }
      const unsigned top = (rd16(host.image + 4) >> 11) & 7;
      std::memcpy(host.image + 28, &v.mant, 8);
      std::memcpy(host.image + 36, &v.se, 2);
      uint16_t tags = rd16(host.image + 8);
      tags = static_cast<uint16_t>(tags & ~(3u << (2 * top)));  // ST(0) not empty
      std::memcpy(host.image + 8, &tags, 2);
      TestCpu t;
      auto& c = t.cpu();
      load_guest(c, host.image);
      c.gpr[RSI] = kMemAddr;
      std::memcpy(t.mem().ram() + kMemAddr, host.mem, 16);
      run_host(bytes, host);
      const Outcome o = run_guest(t, bytes);
      ASSERT_FALSE(o.faulted);
      ASSERT_TRUE(same_state(t, host)) << std::hex << unsigned(form.op) << " case " << n;
      ASSERT_EQ(std::memcmp(t.mem().ram() + kMemAddr, host.mem, 16), 0)
          << std::hex << "memory, form " << unsigned(form.op) << " case " << std::dec << n;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 9000u);
}

// FISTTP is SSE3: #UD on a model without it (the "base" model), nothing stored or popped; the
// other /1 memory forms (FMUL) are unaffected.
TEST(X87Compute, FisttpNeedsSse3) {
  const CpuModel* base = find_cpu_model("base");
  ASSERT_NE(base, nullptr);
  ASSERT_FALSE(base->has(Feature::SSE3));
  for (uint8_t op : {0xDB, 0xDD, 0xDF}) {
    TestCpu t;
    auto& c = t.cpu();
    c.cpu_model = base;
    c.x87.fcw = 0x037F;
    c.x87.fsw = 0;
    umbra::x87::set_full_tag_word(c, 0xFFFC);  // physical 0 = ST(0) valid
    const uint64_t one = 0x8000000000000000ull;
    const uint16_t exp = 0x3FFF;
    std::memcpy(c.x87.st[0], &one, 8);
    std::memcpy(c.x87.st[0] + 8, &exp, 2);
    c.gpr[RSI] = kMemAddr;
    std::memset(t.mem().ram() + kMemAddr, 0xAA, 16);
    const Outcome o = run_guest(t, {op, 0x0E});
    EXPECT_TRUE(o.faulted && o.vector == kUD) << std::hex << unsigned(op);
    EXPECT_EQ(t.mem().ram()[kMemAddr], 0xAA);
    EXPECT_EQ(c.x87.fsw, 0);
  }
  TestCpu t;
  t.cpu().cpu_model = base;
  t.cpu().gpr[RSI] = kMemAddr;
  EXPECT_FALSE(run_guest(t, {0xDC, 0x0E}).faulted);  // FMUL m64fp
}

TEST(X87Compute, RegisterFormsMatchHost) {
  for (uint8_t op = 0xD8; op <= 0xDF && op >= 0xD8; ++op)
    for (unsigned m = 0xC0; m <= 0xFF; ++m)
      if (!skipped_register_form(op, static_cast<uint8_t>(m)))
        check_form(op, static_cast<uint8_t>(m), 200, 2);
}

}  // namespace
}  // namespace umbra::test
