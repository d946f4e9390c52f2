// MMX/SSE data movement, shuffles, unpacks and packs against the host CPU: each encoding is
// decoded by Umbra's decoder and compared with the host running the same bytes
// (tests/unit/simd_move_test_util.h), register and memory forms, random values with edge lanes.
#include <gtest/gtest.h>

#include "tests/unit/simd_move_test_util.h"

namespace umbra::test {
namespace {

using simdtest::Form;

constexpr int kIterations = 40;

void check_all(const std::vector<Form>& forms) {
  uint64_t seed = 1;
  for (const Form& f : forms) {
    SCOPED_TRACE(f.name);
    EXPECT_GT(simdtest::check_against_host(f, kIterations, seed++), 0);
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(SimdMoveHost, WholeVectorMoves) {
  check_all({
      {"movups load", {0x0F, 0x10}},           {"movups store", {0x0F, 0x11}},
      {"movupd load", {0x66, 0x0F, 0x10}},     {"movupd store", {0x66, 0x0F, 0x11}},
      {"movaps load", {0x0F, 0x28}},           {"movaps store", {0x0F, 0x29}},
      {"movapd load", {0x66, 0x0F, 0x28}},     {"movapd store", {0x66, 0x0F, 0x29}},
      {"movntps", {0x0F, 0x2B}, false},        {"movntpd", {0x66, 0x0F, 0x2B}, false},
      {"movq mm load", {0x0F, 0x6F}},          {"movq mm store", {0x0F, 0x7F}},
      {"movdqa load", {0x66, 0x0F, 0x6F}},     {"movdqa store", {0x66, 0x0F, 0x7F}},
      {"movdqu load", {0xF3, 0x0F, 0x6F}},     {"movdqu store", {0xF3, 0x0F, 0x7F}},
      {"lddqu", {0xF2, 0x0F, 0xF0}, false},    {"movntq", {0x0F, 0xE7}, false},
      {"movntdq", {0x66, 0x0F, 0xE7}, false},  {"movnti", {0x0F, 0xC3}, false},
      {"movnti64", {0x48, 0x0F, 0xC3}, false},
  });
}

TEST(SimdMoveHost, ScalarAndPartialMoves) {
  check_all({
      {"movss load", {0xF3, 0x0F, 0x10}},
      {"movss store", {0xF3, 0x0F, 0x11}},
      {"movsd load", {0xF2, 0x0F, 0x10}},
      {"movsd store", {0xF2, 0x0F, 0x11}},
      {"movlps/movhlps", {0x0F, 0x12}},
      {"movhps/movlhps", {0x0F, 0x16}},
      {"movlpd", {0x66, 0x0F, 0x12}, false},
      {"movhpd", {0x66, 0x0F, 0x16}, false},
      {"movlps store", {0x0F, 0x13}, false},
      {"movhps store", {0x0F, 0x17}, false},
      {"movlpd store", {0x66, 0x0F, 0x13}, false},
      {"movhpd store", {0x66, 0x0F, 0x17}, false},
      {"movsldup", {0xF3, 0x0F, 0x12}},
      {"movshdup", {0xF3, 0x0F, 0x16}},
      {"movddup", {0xF2, 0x0F, 0x12}},
  });
}

TEST(SimdMoveHost, MovdMovq) {
  check_all({
      {"movd mm, r/m32", {0x0F, 0x6E}},
      {"movq mm, r/m64", {0x48, 0x0F, 0x6E}},
      {"movd xmm, r/m32", {0x66, 0x0F, 0x6E}},
      {"movq xmm, r/m64", {0x66, 0x48, 0x0F, 0x6E}},
      {"movd r/m32, mm", {0x0F, 0x7E}},
      {"movq r/m64, mm", {0x48, 0x0F, 0x7E}},
      {"movd r/m32, xmm", {0x66, 0x0F, 0x7E}},
      {"movq r/m64, xmm", {0x66, 0x48, 0x0F, 0x7E}},
      {"movq xmm, xmm/m64", {0xF3, 0x0F, 0x7E}},
      {"movq xmm/m64, xmm", {0x66, 0x0F, 0xD6}},
      {"movq2dq", {0xF3, 0x0F, 0xD6}, true, false},
      {"movdq2q", {0xF2, 0x0F, 0xD6}, true, false},
  });
}

TEST(SimdMoveHost, MasksInsertExtract) {
  check_all({
      {"movmskps", {0x0F, 0x50}, true, false},
      {"movmskpd", {0x66, 0x0F, 0x50}, true, false},
      {"pmovmskb mm", {0x0F, 0xD7}, true, false},
      {"pmovmskb xmm", {0x66, 0x0F, 0xD7}, true, false},
      {"pinsrw mm", {0x0F, 0xC4}, true, true, true},
      {"pinsrw xmm", {0x66, 0x0F, 0xC4}, true, true, true},
      {"pextrw mm", {0x0F, 0xC5}, true, false, true},
      {"pextrw xmm", {0x66, 0x0F, 0xC5}, true, false, true},
      {"maskmovq", {0x0F, 0xF7}, true, false},
      {"maskmovdqu", {0x66, 0x0F, 0xF7}, true, false},
  });
}

TEST(SimdMoveHost, UnpacksAndPacks) {
  std::vector<Form> forms;
  for (uint8_t op : {0x60, 0x61, 0x62, 0x63, 0x67, 0x68, 0x69, 0x6A, 0x6B}) {
    forms.push_back({"mmx unpack/pack", {0x0F, op}});
    forms.push_back({"sse2 unpack/pack", {0x66, 0x0F, op}});
  }
  forms.push_back({"punpcklqdq", {0x66, 0x0F, 0x6C}});
  forms.push_back({"punpckhqdq", {0x66, 0x0F, 0x6D}});
  forms.push_back({"unpcklps", {0x0F, 0x14}});
  forms.push_back({"unpckhps", {0x0F, 0x15}});
  forms.push_back({"unpcklpd", {0x66, 0x0F, 0x14}});
  forms.push_back({"unpckhpd", {0x66, 0x0F, 0x15}});
  forms.push_back({"packusdw", {0x66, 0x0F, 0x38, 0x2B}});
  check_all(forms);
}

TEST(SimdMoveHost, LogicAndShuffles) {
  std::vector<Form> forms;
  for (uint8_t op : {0x54, 0x55, 0x56, 0x57}) {
    forms.push_back({"logic ps", {0x0F, op}});
    forms.push_back({"logic pd", {0x66, 0x0F, op}});
  }
  forms.push_back({"shufps", {0x0F, 0xC6}, true, true, true});
  forms.push_back({"shufpd", {0x66, 0x0F, 0xC6}, true, true, true});
  forms.push_back({"pshufw", {0x0F, 0x70}, true, true, true});
  forms.push_back({"pshufd", {0x66, 0x0F, 0x70}, true, true, true});
  forms.push_back({"pshufhw", {0xF3, 0x0F, 0x70}, true, true, true});
  forms.push_back({"pshuflw", {0xF2, 0x0F, 0x70}, true, true, true});
  forms.push_back({"pshufb mm", {0x0F, 0x38, 0x00}});
  forms.push_back({"pshufb xmm", {0x66, 0x0F, 0x38, 0x00}});
  forms.push_back({"palignr mm", {0x0F, 0x3A, 0x0F}, true, true, true});
  forms.push_back({"palignr xmm", {0x66, 0x0F, 0x3A, 0x0F}, true, true, true});
  check_all(forms);
}

}  // namespace
}  // namespace umbra::test
