// Every computational x87 encoding (D8..DF, memory and register forms) against the host's FPU:
// random full states (TOP, empty slots, hard values, masks, precision and rounding control) and
// memory operands, compared bit for bit (FCW, FSW, tags, registers, memory, FCOMI's EFLAGS).
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "tests/unit/x87_test_util.h"

namespace umbra::test {
namespace {

using namespace x87t;

// Forms Umbra treats as control instructions or does not implement (tested elsewhere).
bool skipped_memory_form(uint8_t op, unsigned reg) {
  if (op == 0xD9) return reg == 1 || reg >= 4;
  if (op == 0xDB) return reg == 1 || reg == 4 || reg == 6;
  if (op == 0xDD) return reg == 1 || reg >= 4;
  if (op == 0xDF) return reg == 1;
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

TEST(X87Compute, RegisterFormsMatchHost) {
  for (uint8_t op = 0xD8; op <= 0xDF && op >= 0xD8; ++op)
    for (unsigned m = 0xC0; m <= 0xFF; ++m)
      if (!skipped_register_form(op, static_cast<uint8_t>(m)))
        check_form(op, static_cast<uint8_t>(m), 200, 2);
}

}  // namespace
}  // namespace umbra::test
