// MMX/SSE2/SSSE3/SSE4.1 packed-integer instructions against the host CPU: every encoding is
// decoded by Umbra's decoder and compared with the host running the same bytes
// (tests/unit/simd_move_test_util.h), register and memory forms, random values with edge lanes.
#include <gtest/gtest.h>

#include "tests/unit/simd_move_test_util.h"

namespace umbra::test {
namespace {

using simdtest::Form;

constexpr int kIterations = 40;

void check_all(const std::vector<Form>& forms) {
  uint64_t seed = 100;
  for (const Form& f : forms) {
    SCOPED_TRACE(f.name);
    EXPECT_GT(simdtest::check_against_host(f, kIterations, seed++), 0);
    if (::testing::Test::HasFailure()) return;
  }
}

// Both the MMX (no prefix) and the SSE2 (66) encodings of 0F `op`.
void add_both(std::vector<Form>& forms, const char* name, std::vector<uint8_t> op) {
  std::vector<uint8_t> mmx = {0x0F};
  mmx.insert(mmx.end(), op.begin(), op.end());
  std::vector<uint8_t> xmm = {0x66, 0x0F};
  xmm.insert(xmm.end(), op.begin(), op.end());
  forms.push_back({name, mmx});
  forms.push_back({name, xmm});
}

TEST(SimdIntHost, AddSubMul) {
  std::vector<Form> f;
  for (uint8_t op : {0xFC, 0xFD, 0xFE, 0xD4, 0xF8, 0xF9, 0xFA, 0xFB,  // wrapping
                     0xEC, 0xED, 0xDC, 0xDD, 0xE8, 0xE9, 0xD8, 0xD9,  // saturating
                     0xD5, 0xE5, 0xE4, 0xF4, 0xF5, 0xF6})             // multiplies, PSADBW
    add_both(f, "add/sub/mul", {op});
  f.push_back({"pmulld", {0x66, 0x0F, 0x38, 0x40}});
  f.push_back({"pmuldq", {0x66, 0x0F, 0x38, 0x28}});
  check_all(f);
}

TEST(SimdIntHost, AvgMinMaxCompareLogic) {
  std::vector<Form> f;
  for (uint8_t op : {0xE0, 0xE3, 0xDA, 0xDE, 0xEA, 0xEE, 0x74, 0x75, 0x76, 0x64, 0x65, 0x66, 0xDB,
                     0xDF, 0xEB, 0xEF})
    add_both(f, "avg/min/max/cmp/logic", {op});
  for (uint8_t op : {0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x29, 0x37})
    f.push_back({"sse4 min/max/cmp", {0x66, 0x0F, 0x38, op}});
  check_all(f);
}

TEST(SimdIntHost, Shifts) {
  std::vector<Form> f;
  for (uint8_t op : {0xD1, 0xD2, 0xD3, 0xE1, 0xE2, 0xF1, 0xF2, 0xF3}) add_both(f, "shift", {op});
  // Groups 12/13/14 by imm8: register forms only, ModRM.reg selects the operation.
  for (uint8_t op : {0x71, 0x72, 0x73}) {
    for (uint8_t digit : {2, 4, 6, 3, 7}) {
      if (digit == 4 && op == 0x73) continue;
      const bool bytes_only = digit == 3 || digit == 7;
      if (bytes_only && op != 0x73) continue;
      if (!bytes_only) f.push_back({"shift imm mm", {0x0F, op}, true, false, true, digit});
      f.push_back({"shift imm xmm", {0x66, 0x0F, op}, true, false, true, digit});
    }
  }
  check_all(f);
}

TEST(SimdIntHost, Ssse3) {
  std::vector<Form> f;
  for (uint8_t op :
       {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x1C, 0x1D, 0x1E})
    add_both(f, "ssse3", {0x38, op});
  check_all(f);
}

}  // namespace
}  // namespace umbra::test
