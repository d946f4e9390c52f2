// SSE4.1 data movement and special integer forms against the host CPU (decoded bytes, same bytes
// on the host; tests/unit/simd_move_test_util.h), plus PTEST's flags.
#include <gtest/gtest.h>

#include "frontend/flags.h"
#include "tests/unit/simd_move_test_util.h"

namespace umbra::test {
namespace {

using simdtest::Form;

TEST(SimdMoveSse41, AgainstHost) {
  std::vector<Form> forms;
  for (uint8_t op : {0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35})
    forms.push_back({"pmovsx/zx", {0x66, 0x0F, 0x38, op}});
  for (uint8_t op : {0x10, 0x14, 0x15, 0x41})
    forms.push_back({"blendv/phminposuw", {0x66, 0x0F, 0x38, op}});
  forms.push_back({"movntdqa", {0x66, 0x0F, 0x38, 0x2A}, false});
  for (uint8_t op : {0x0C, 0x0D, 0x0E, 0x42, 0x20, 0x21, 0x22, 0x14, 0x15, 0x16, 0x17})
    forms.push_back({"sse4.1 imm", {0x66, 0x0F, 0x3A, op}, true, true, true});
  forms.push_back({"pinsrq", {0x66, 0x48, 0x0F, 0x3A, 0x22}, true, true, true});
  forms.push_back({"pextrq", {0x66, 0x48, 0x0F, 0x3A, 0x16}, true, true, true});
  uint64_t seed = 500;
  for (const Form& f : forms) {
    SCOPED_TRACE(f.name);
    EXPECT_GT(simdtest::check_against_host(f, 40, seed++), 0);
    if (HasFailure()) return;
  }
}

TEST(SimdMoveSse41, PtestFlags) {
  TestCpu t;
  simdtest::enable_sse(t);
  CpuState& c = t.cpu();
  struct Case {
    uint64_t d, s;
    bool zf, cf;
  } cases[] = {{0, 0, true, true},
               {0xf0, 0x0f, true, false},
               {0xff, 0x0f, false, true},
               {0x0f, 0xff, false, false}};
  for (const Case& k : cases) {
    std::memset(c.xmm[0].b, 0, 16);
    std::memset(c.xmm[1].b, 0, 16);
    std::memcpy(c.xmm[0].b + 8, &k.d, 8);  // high quadword: both halves take part
    std::memcpy(c.xmm[1].b + 8, &k.s, 8);
    c.rflags = rf::FIXED1 | rf::ARITH;
    c.lazy.op = kLazyNone;
    c.rip = 0;
    ASSERT_FALSE(simdtest::exec_guest(t, {0x66, 0x0F, 0x38, 0x17, 0xC1}).faulted);
    const uint64_t f = read_rflags(c);
    EXPECT_EQ(bool(f & rf::ZF), k.zf);
    EXPECT_EQ(bool(f & rf::CF), k.cf);
    EXPECT_EQ(f & (rf::AF | rf::OF | rf::PF | rf::SF), 0u);
  }
}

}  // namespace
}  // namespace umbra::test
