// The instruction-set audit of the default model: every legacy (non-VEX) encoding of the
// instruction sets it advertises (MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CX16,
// LAHF/SAHF, FXSR, XSAVE) decodes and binds to a real handler, in its register and memory forms
// where the form exists. The results of each instruction are checked against the host by the
// family's own tests (docs/cpu_model.md, "How the advertised instruction sets are verified");
// this test makes sure nothing advertised falls through to the unimplemented-operation #UD.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/decoder.h"
#include "frontend/semantics/registry.h"
#include "frontend/system/cpu_model.h"

namespace umbra::test {
namespace {

enum Forms : uint8_t { kRegOnly = 1, kMemOnly = 2, kBoth = 3 };

struct Encoding {
  const char* name;
  std::vector<uint8_t> bytes;  // prefixes, escape, opcode (ModRM and imm8 appended)
  Forms forms = kBoth;
  bool imm = false;
  uint8_t reg = 0;  // ModRM.reg (group /digit)
};

// Binds `bytes` + ModRM (+ imm8) and returns "" or a description of what is wrong.
std::string check_binds(const Encoding& e, bool mem) {
  std::vector<uint8_t> b = e.bytes;
  b.push_back(static_cast<uint8_t>((mem ? 0x06 : 0xC1) | (e.reg << 3)));
  if (e.imm) b.push_back(0x01);
  Insn i;
  const DecodeStatus st =
      decode(b.data(), static_cast<unsigned>(b.size()), DecodeMode{true, true}, &i);
  const std::string what = std::string(e.name) + (mem ? " (memory)" : " (register)");
  if (st != DecodeStatus::Ok) return what + ": does not decode";
  if (i.len != b.size()) return what + ": wrong length";
  if (handler_is_unimplemented(i.fn) || i.fn == &handler_ud) return what + ": not implemented";
  return "";
}

void add(std::vector<Encoding>& v, const char* name, std::vector<uint8_t> bytes, Forms f = kBoth,
         bool imm = false, uint8_t reg = 0) {
  v.push_back({name, std::move(bytes), f, imm, reg});
}

std::vector<Encoding> mmx_sse_sse2() {
  std::vector<Encoding> v;
  // MMX and their SSE2 (66) forms.
  for (uint8_t op :
       {0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6E, 0x6F, 0x74,
        0x75, 0x76, 0x7E, 0x7F, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD,
        0xDE, 0xDF, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE,
        0xEF, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE}) {
    add(v, "mmx", {0x0F, op});
    add(v, "sse2 integer", {0x66, 0x0F, op});
  }
  add(v, "pshufw", {0x0F, 0x70}, kBoth, true);
  add(v, "pshufd", {0x66, 0x0F, 0x70}, kBoth, true);
  add(v, "pshufhw", {0xF3, 0x0F, 0x70}, kBoth, true);
  add(v, "pshuflw", {0xF2, 0x0F, 0x70}, kBoth, true);
  for (uint8_t op : {0x71, 0x72, 0x73})
    for (uint8_t d : {2, 4, 6}) {
      if (op == 0x73 && d == 4) continue;
      add(v, "shift imm mm", {0x0F, op}, kRegOnly, true, d);
      add(v, "shift imm xmm", {0x66, 0x0F, op}, kRegOnly, true, d);
    }
  add(v, "psrldq", {0x66, 0x0F, 0x73}, kRegOnly, true, 3);
  add(v, "pslldq", {0x66, 0x0F, 0x73}, kRegOnly, true, 7);
  add(v, "punpcklqdq", {0x66, 0x0F, 0x6C});
  add(v, "punpckhqdq", {0x66, 0x0F, 0x6D});
  add(v, "movdqu", {0xF3, 0x0F, 0x6F});
  add(v, "movdqu store", {0xF3, 0x0F, 0x7F});
  add(v, "movq xmm", {0xF3, 0x0F, 0x7E});
  add(v, "movq store", {0x66, 0x0F, 0xD6});
  add(v, "movq2dq", {0xF3, 0x0F, 0xD6}, kRegOnly);
  add(v, "movdq2q", {0xF2, 0x0F, 0xD6}, kRegOnly);
  add(v, "pinsrw", {0x0F, 0xC4}, kBoth, true);
  add(v, "pinsrw xmm", {0x66, 0x0F, 0xC4}, kBoth, true);
  add(v, "pextrw", {0x0F, 0xC5}, kRegOnly, true);
  add(v, "pextrw xmm", {0x66, 0x0F, 0xC5}, kRegOnly, true);
  add(v, "pmovmskb", {0x0F, 0xD7}, kRegOnly);
  add(v, "pmovmskb xmm", {0x66, 0x0F, 0xD7}, kRegOnly);
  add(v, "movntq", {0x0F, 0xE7}, kMemOnly);
  add(v, "movntdq", {0x66, 0x0F, 0xE7}, kMemOnly);
  add(v, "maskmovq", {0x0F, 0xF7}, kRegOnly);
  add(v, "maskmovdqu", {0x66, 0x0F, 0xF7}, kRegOnly);
  add(v, "movnti", {0x0F, 0xC3}, kMemOnly);
  // SSE/SSE2 floating point: PS, PD (66), SS (F3), SD (F2).
  for (uint8_t op : {0x51, 0x58, 0x59, 0x5C, 0x5D, 0x5E, 0x5F, 0x10})
    for (uint8_t p : {0x00, 0x66, 0xF3, 0xF2}) {
      std::vector<uint8_t> b = {0x0F, op};
      if (p) b.insert(b.begin(), p);
      add(v, "sse fp", b);
    }
  add(v, "movups/movss/movupd/movsd store", {0x0F, 0x11});
  for (uint8_t p : {0x66, 0xF3, 0xF2}) add(v, "store", {p, 0x0F, 0x11});
  for (uint8_t p : {0x00, 0x66, 0xF3, 0xF2}) {
    std::vector<uint8_t> b = {0x0F, 0xC2};
    if (p) b.insert(b.begin(), p);
    add(v, "cmpps/pd/ss/sd", b, kBoth, true);
  }
  for (uint8_t op : {0x52, 0x53}) {
    add(v, "rsqrt/rcp ps", {0x0F, op});
    add(v, "rsqrt/rcp ss", {0xF3, 0x0F, op});
  }
  for (uint8_t op : {0x14, 0x15, 0x28, 0x54, 0x55, 0x56, 0x57, 0x2E, 0x2F, 0x5A, 0x5B}) {
    add(v, "ps", {0x0F, op});
    add(v, "pd", {0x66, 0x0F, op});
  }
  add(v, "movaps store", {0x0F, 0x29});
  add(v, "movapd store", {0x66, 0x0F, 0x29});
  add(v, "shufps", {0x0F, 0xC6}, kBoth, true);
  add(v, "shufpd", {0x66, 0x0F, 0xC6}, kBoth, true);
  add(v, "movhlps/movlps", {0x0F, 0x12});
  add(v, "movlhps/movhps", {0x0F, 0x16});
  add(v, "movlps store", {0x0F, 0x13}, kMemOnly);
  add(v, "movhps store", {0x0F, 0x17}, kMemOnly);
  add(v, "movlpd", {0x66, 0x0F, 0x12}, kMemOnly);
  add(v, "movhpd", {0x66, 0x0F, 0x16}, kMemOnly);
  add(v, "movlpd store", {0x66, 0x0F, 0x13}, kMemOnly);
  add(v, "movhpd store", {0x66, 0x0F, 0x17}, kMemOnly);
  add(v, "movntps", {0x0F, 0x2B}, kMemOnly);
  add(v, "movntpd", {0x66, 0x0F, 0x2B}, kMemOnly);
  add(v, "movmskps", {0x0F, 0x50}, kRegOnly);
  add(v, "movmskpd", {0x66, 0x0F, 0x50}, kRegOnly);
  for (uint8_t op : {0x2A, 0x2C, 0x2D})
    for (uint8_t p : {0x00, 0x66, 0xF3, 0xF2}) {
      std::vector<uint8_t> b = {0x0F, op};
      if (p) b.insert(b.begin(), p);
      add(v, "conversions", b);
    }
  for (uint8_t p : {0xF3, 0xF2}) {
    add(v, "cvtsi2ss/sd 64", {p, 0x48, 0x0F, 0x2A});
    add(v, "cvt(t)ss/sd2si 64", {p, 0x48, 0x0F, 0x2C});
    add(v, "cvt(t)ss/sd2si 64", {p, 0x48, 0x0F, 0x2D});
  }
  add(v, "cvtss2sd", {0xF3, 0x0F, 0x5A});
  add(v, "cvtsd2ss", {0xF2, 0x0F, 0x5A});
  add(v, "cvttps2dq", {0xF3, 0x0F, 0x5B});
  for (uint8_t p : {0x66, 0xF3, 0xF2}) add(v, "cvt e6", {p, 0x0F, 0xE6});
  add(v, "movq from gpr", {0x66, 0x48, 0x0F, 0x6E});
  add(v, "movq to gpr", {0x66, 0x48, 0x0F, 0x7E});
  // FXSAVE/FXRSTOR/LDMXCSR/STMXCSR/XSAVE/XRSTOR/XSAVEOPT (0F AE /0../6 memory), the fences,
  // CLFLUSH; XGETBV/XSETBV.
  for (uint8_t d = 0; d <= 7; ++d) add(v, "group 15", {0x0F, 0xAE}, kMemOnly, false, d);
  add(v, "fxsave64", {0x48, 0x0F, 0xAE}, kMemOnly, false, 0);
  add(v, "fxrstor64", {0x48, 0x0F, 0xAE}, kMemOnly, false, 1);
  add(v, "xsave64", {0x48, 0x0F, 0xAE}, kMemOnly, false, 4);
  add(v, "xrstor64", {0x48, 0x0F, 0xAE}, kMemOnly, false, 5);
  add(v, "xsaveopt64", {0x48, 0x0F, 0xAE}, kMemOnly, false, 6);
  for (uint8_t d : {5, 6, 7}) add(v, "fence", {0x0F, 0xAE}, kRegOnly, false, d);
  return v;
}

std::vector<Encoding> sse3_to_sse42() {
  std::vector<Encoding> v;
  // SSE3 (FISTTP is x87: checked by X87Compute.FisttpTruncatesLikeTheHost).
  for (uint8_t op : {0xD0, 0x7C, 0x7D}) {
    add(v, "addsub/hadd/hsub pd", {0x66, 0x0F, op});
    add(v, "addsub/hadd/hsub ps", {0xF2, 0x0F, op});
  }
  add(v, "lddqu", {0xF2, 0x0F, 0xF0}, kMemOnly);
  add(v, "movddup", {0xF2, 0x0F, 0x12});
  add(v, "movsldup", {0xF3, 0x0F, 0x12});
  add(v, "movshdup", {0xF3, 0x0F, 0x16});
  // SSSE3: MMX and XMM forms.
  for (uint8_t op :
       {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x1C, 0x1D, 0x1E}) {
    add(v, "ssse3 mm", {0x0F, 0x38, op});
    add(v, "ssse3 xmm", {0x66, 0x0F, 0x38, op});
  }
  add(v, "palignr mm", {0x0F, 0x3A, 0x0F}, kBoth, true);
  add(v, "palignr xmm", {0x66, 0x0F, 0x3A, 0x0F}, kBoth, true);
  // SSE4.1 and PCMPGTQ (SSE4.2), 66 0F 38.
  for (uint8_t op :
       {0x10, 0x14, 0x15, 0x17, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x28, 0x29, 0x2B, 0x30, 0x31,
        0x32, 0x33, 0x34, 0x35, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F, 0x40, 0x41})
    add(v, "sse4 0f38", {0x66, 0x0F, 0x38, op});
  add(v, "movntdqa", {0x66, 0x0F, 0x38, 0x2A}, kMemOnly);
  // SSE4.1 and SSE4.2 (PCMPxSTRx), 66 0F 3A imm8.
  for (uint8_t op : {0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x14, 0x15, 0x16, 0x17,
                     0x20, 0x21, 0x22, 0x40, 0x41, 0x42, 0x60, 0x61, 0x62, 0x63})
    add(v, "sse4 0f3a", {0x66, 0x0F, 0x3A, op}, kBoth, true);
  add(v, "pextrq", {0x66, 0x48, 0x0F, 0x3A, 0x16}, kBoth, true);
  add(v, "pinsrq", {0x66, 0x48, 0x0F, 0x3A, 0x22}, kBoth, true);
  // SSE4.2 CRC32, POPCNT, CMPXCHG16B (CX16), LAHF/SAHF in 64-bit mode (LAHF_LM) are below.
  add(v, "crc32 r/m8", {0xF2, 0x0F, 0x38, 0xF0});
  add(v, "crc32 r/m32", {0xF2, 0x0F, 0x38, 0xF1});
  add(v, "crc32 r/m16", {0x66, 0xF2, 0x0F, 0x38, 0xF1});
  add(v, "crc32 r/m64", {0xF2, 0x48, 0x0F, 0x38, 0xF1});
  add(v, "popcnt", {0xF3, 0x0F, 0xB8});
  add(v, "popcnt 64", {0xF3, 0x48, 0x0F, 0xB8});
  add(v, "popcnt 16", {0x66, 0xF3, 0x0F, 0xB8});
  add(v, "cmpxchg16b", {0x48, 0x0F, 0xC7}, kMemOnly, false, 1);
  return v;
}

void check_all(const std::vector<Encoding>& v, unsigned* count) {
  for (const Encoding& e : v) {
    if (e.forms & kRegOnly) {
      EXPECT_EQ(check_binds(e, false), "");
      ++*count;
    }
    if (e.forms & kMemOnly) {
      EXPECT_EQ(check_binds(e, true), "");
      ++*count;
    }
  }
}

TEST(CpuModelIsa, X8664BaselineEncodingsAreImplemented) {
  const CpuModel& m = default_cpu_model();
  for (Feature f : {Feature::FPU, Feature::MMX, Feature::FXSR, Feature::SSE, Feature::SSE2})
    ASSERT_TRUE(m.has(f)) << feature_name(f);
  unsigned count = 0;
  check_all(mmx_sse_sse2(), &count);
  EXPECT_GT(count, 250u);
}

TEST(CpuModelIsa, X8664V2EncodingsAreImplemented) {
  const CpuModel& m = default_cpu_model();
  for (Feature f : {Feature::SSE3, Feature::SSSE3, Feature::SSE4_1, Feature::SSE4_2,
                    Feature::POPCNT, Feature::CX16, Feature::LAHF_LM})
    ASSERT_TRUE(m.has(f)) << feature_name(f);
  unsigned count = 0;
  check_all(sse3_to_sse42(), &count);
  EXPECT_GT(count, 130u);
  // LAHF and SAHF in 64-bit mode (no ModRM).
  for (uint8_t op : {0x9F, 0x9E}) {
    Insn i;
    ASSERT_EQ(decode(&op, 1, DecodeMode{true, true}, &i), DecodeStatus::Ok);
    EXPECT_FALSE(handler_is_unimplemented(i.fn) || i.fn == &handler_ud) << std::hex << unsigned(op);
  }
}

TEST(CpuModelIsa, EmmsIsImplemented) {
  const uint8_t emms[] = {0x0F, 0x77};
  Insn i;
  ASSERT_EQ(decode(emms, 2, DecodeMode{true, true}, &i), DecodeStatus::Ok);
  EXPECT_EQ(i.len, 2u);
  EXPECT_FALSE(handler_is_unimplemented(i.fn) || i.fn == &handler_ud);
}

}  // namespace
}  // namespace umbra::test
