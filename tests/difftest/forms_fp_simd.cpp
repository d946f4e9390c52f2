// MMX, SSE, SSE2, SSE3, SSSE3, SSE4.1 and SSE4.2 instructions with register and memory operands
// (SDM vol. 2, opcode map in appendix A; one table entry per encoding), and CRC32.
#include <string>

#include "forms_fp.h"

namespace difftest {

namespace {

// Operand kinds: an XMM register, an MMX register, a general register (32 bits, 64 with
// REX.W), or none (ModRM.reg holds an opcode extension /digit).
enum Kind : uint8_t { X, M, G, N };

// Op::fl bits.
constexpr uint16_t kA16 = 1u << 0;      // a 16-byte memory operand must be aligned (#GP(0))
constexpr uint16_t kImm = 1u << 1;      // imm8
constexpr uint16_t kW = 1u << 2;        // also a REX.W form (64-bit general register / m64)
constexpr uint16_t kEfl = 1u << 3;      // writes the six status flags
constexpr uint16_t kMemOnly = 1u << 4;  // ModRM.rm must be memory (register form is another insn)
constexpr uint16_t kRegOnly = 1u << 5;  // ModRM.rm must be a register
constexpr uint16_t kRmDst = 1u << 6;    // ModRM.rm is the destination (stores)
constexpr uint16_t kEcx = 1u << 7;      // writes ECX (PCMPxSTRI)
constexpr uint16_t kLen = 1u << 8;      // reads the lengths in EAX/RAX and EDX/RDX (PCMPESTRx)
constexpr uint16_t kCmp = 1u << 9;      // imm8 is a CMPPS-style predicate (bits 2:0)
constexpr uint16_t kShift = 1u << 10;   // imm8 is a shift count

struct Op {
  std::string mn;  // mnemonic
  uint8_t pfx;     // mandatory prefix: 0, 66, F3, F2
  uint8_t map;     // 1: 0F, 2: 0F 38, 3: 0F 3A
  uint8_t op;
  Kind reg, rm;
  uint8_t msize;  // memory operand bytes (G operands with REX.W: 8)
  uint16_t fl;
  Lane lane;
  uint32_t feat;
  uint8_t digit = 0;     // ModRM.reg for N
  std::string wmn = "";  // mnemonic of the REX.W form when it differs
  // What Capstone's mnemonic must contain when not the mnemonic itself: CMPccPS and friends
  // are printed with the predicate ("cmpltps"), and Capstone 4 names MOVQ mm, r/m64 "movd".
  std::string cs = "";
};

const char* kind_name(Kind k, bool w) {
  switch (k) {
    case X:
      return "xmm";
    case M:
      return "mm";
    case G:
      return w ? "r64" : "r32";
    default:
      return "";
  }
}

uint8_t shift_count(Rng& rng) {
  static constexpr uint8_t kCounts[] = {0,  1,  2,  7,  8,  9,  15,  16, 17,
                                        31, 32, 33, 63, 64, 65, 127, 255};
  return rng.chance(3, 4) ? rng.pick(kCounts) : static_cast<uint8_t>(rng.next());
}

bool gen_simd(Gen& g, const Op& o, bool w) {
  Ib ib;
  if (o.pfx) ib.s.add_prefix(o.pfx);
  ib.s.rex_w = w;
  if (o.map == 1)
    ib.s.set_opcode(0x0f, o.op);
  else
    ib.s.set_opcode(0x0f, o.map == 2 ? 0x38 : 0x3a, o.op);
  g.fp_state();
  const unsigned gsize = w ? 8 : 4;
  const bool rm_dst = o.fl & kRmDst;
  uint8_t regf = o.digit;
  switch (o.reg) {
    case X:
      regf = fp_xmm(g, o.lane);
      break;
    case M:
      regf = fp_mm(g);
      break;
    case G:
      regf = g.reg(ib, gsize, Role::kDst);
      break;
    default:
      break;
  }
  const unsigned msize = (o.rm == G && w) ? 8 : o.msize;
  const bool use_mem = !(o.fl & kRegOnly) && ((o.fl & kMemOnly) || g.rng.chance(2, 5));
  RmOp rm;
  if (use_mem) {
    if (!fp_mem(g, ib, msize, rm_dst, (o.fl & kA16) && msize == 16 ? 16 : 0, o.lane, &rm))
      return false;
  } else {
    rm.is_mem = false;
    switch (o.rm) {
      case X:
        rm.reg = fp_xmm(g, o.lane);
        break;
      case M:
        rm.reg = fp_mm(g);
        break;
      default:
        rm.reg = g.reg(ib, gsize, rm_dst ? Role::kDst : Role::kSrc);
        break;
    }
  }
  set_rm(ib, regf, rm);
  if (o.fl & kImm) {
    uint8_t imm = static_cast<uint8_t>(g.rng.next());
    if ((o.fl & kCmp) && g.rng.chance(7, 8)) imm &= 7;
    if (o.fl & kShift) imm = shift_count(g.rng);
    ib.s.set_imm(imm, 1);
  }
  fp_maybe_lock(g, ib);
  if (o.fl & kEfl) ib.fx.flags_def = fl::STATUS;
  if (o.fl & kEcx) ib.fx.regs_written |= 1u << RCX_;
  if (o.fl & kLen) {
    // Explicit lengths: mostly within the operand (0..16), sometimes negative or huge (they
    // saturate, SDM vol. 2, 4.1.2); RAX/RDX with REX.W.
    for (uint8_t r : {RAX_, RDX_}) {
      uint64_t v = g.rng.chance(3, 4) ? g.rng.below(20) : g.value(8);
      if (g.rng.chance(1, 8)) v = 0 - g.rng.below(20);
      uint64_t got;
      g.fix_or_known(r, v, &got);
    }
  }
  return g.emit(ib);
}

std::vector<Op> simd_table() {
  const Lane I = Lane::kInt, S = Lane::kF32, D = Lane::kF64;
  const uint32_t S3 = feat::kSse3, SS3 = feat::kSsse3, S41 = feat::kSse41, S42 = feat::kSse42;
  std::vector<Op> t = {
      // ---- SSE: packed/scalar single (np / F3 0F) ----
      {"movups", 0, 1, 0x10, X, X, 16, 0, S, 0},
      {"movups", 0, 1, 0x11, X, X, 16, kRmDst, S, 0},
      {"movss", 0xf3, 1, 0x10, X, X, 4, 0, S, 0},
      {"movss", 0xf3, 1, 0x11, X, X, 4, kRmDst, S, 0},
      {"movlps", 0, 1, 0x12, X, X, 8, kMemOnly, S, 0},
      {"movhlps", 0, 1, 0x12, X, X, 16, kRegOnly, S, 0},
      {"movlps", 0, 1, 0x13, X, X, 8, kMemOnly | kRmDst, S, 0},
      {"unpcklps", 0, 1, 0x14, X, X, 16, kA16, S, 0},
      {"unpckhps", 0, 1, 0x15, X, X, 16, kA16, S, 0},
      {"movhps", 0, 1, 0x16, X, X, 8, kMemOnly, S, 0},
      {"movlhps", 0, 1, 0x16, X, X, 16, kRegOnly, S, 0},
      {"movhps", 0, 1, 0x17, X, X, 8, kMemOnly | kRmDst, S, 0},
      {"movaps", 0, 1, 0x28, X, X, 16, kA16, S, 0},
      {"movaps", 0, 1, 0x29, X, X, 16, kA16 | kRmDst, S, 0},
      {"cvtpi2ps", 0, 1, 0x2a, X, M, 8, 0, I, 0},
      {"cvtsi2ss", 0xf3, 1, 0x2a, X, G, 4, kW, I, 0},
      {"movntps", 0, 1, 0x2b, X, X, 16, kA16 | kRmDst | kMemOnly, S, 0},
      {"cvttps2pi", 0, 1, 0x2c, M, X, 8, 0, S, 0},
      {"cvttss2si", 0xf3, 1, 0x2c, G, X, 4, kW, S, 0},
      {"cvtps2pi", 0, 1, 0x2d, M, X, 8, 0, S, 0},
      {"cvtss2si", 0xf3, 1, 0x2d, G, X, 4, kW, S, 0},
      {"ucomiss", 0, 1, 0x2e, X, X, 4, kEfl, S, 0},
      {"comiss", 0, 1, 0x2f, X, X, 4, kEfl, S, 0},
      {"movmskps", 0, 1, 0x50, G, X, 16, kRegOnly, S, 0},
      {"sqrtps", 0, 1, 0x51, X, X, 16, kA16, S, 0},
      {"sqrtss", 0xf3, 1, 0x51, X, X, 4, 0, S, 0},
      {"rsqrtps", 0, 1, 0x52, X, X, 16, kA16, S, 0},
      {"rsqrtss", 0xf3, 1, 0x52, X, X, 4, 0, S, 0},
      {"rcpps", 0, 1, 0x53, X, X, 16, kA16, S, 0},
      {"rcpss", 0xf3, 1, 0x53, X, X, 4, 0, S, 0},
      {"andps", 0, 1, 0x54, X, X, 16, kA16, S, 0},
      {"andnps", 0, 1, 0x55, X, X, 16, kA16, S, 0},
      {"orps", 0, 1, 0x56, X, X, 16, kA16, S, 0},
      {"xorps", 0, 1, 0x57, X, X, 16, kA16, S, 0},
      {"cmpps", 0, 1, 0xc2, X, X, 16, kA16 | kImm | kCmp, S, 0, 0, "", "ps"},
      {"cmpss", 0xf3, 1, 0xc2, X, X, 4, kImm | kCmp, S, 0, 0, "", "ss"},
      {"shufps", 0, 1, 0xc6, X, X, 16, kA16 | kImm, S, 0},
      // ---- SSE2: packed/scalar double (66 / F2 0F) and conversions ----
      {"movupd", 0x66, 1, 0x10, X, X, 16, 0, D, 0},
      {"movupd", 0x66, 1, 0x11, X, X, 16, kRmDst, D, 0},
      {"movsd", 0xf2, 1, 0x10, X, X, 8, 0, D, 0},
      {"movsd", 0xf2, 1, 0x11, X, X, 8, kRmDst, D, 0},
      {"movlpd", 0x66, 1, 0x12, X, X, 8, kMemOnly, D, 0},
      {"movlpd", 0x66, 1, 0x13, X, X, 8, kMemOnly | kRmDst, D, 0},
      {"unpcklpd", 0x66, 1, 0x14, X, X, 16, kA16, D, 0},
      {"unpckhpd", 0x66, 1, 0x15, X, X, 16, kA16, D, 0},
      {"movhpd", 0x66, 1, 0x16, X, X, 8, kMemOnly, D, 0},
      {"movhpd", 0x66, 1, 0x17, X, X, 8, kMemOnly | kRmDst, D, 0},
      {"movapd", 0x66, 1, 0x28, X, X, 16, kA16, D, 0},
      {"movapd", 0x66, 1, 0x29, X, X, 16, kA16 | kRmDst, D, 0},
      {"cvtpi2pd", 0x66, 1, 0x2a, X, M, 8, 0, I, 0},
      {"cvtsi2sd", 0xf2, 1, 0x2a, X, G, 4, kW, I, 0},
      {"movntpd", 0x66, 1, 0x2b, X, X, 16, kA16 | kRmDst | kMemOnly, D, 0},
      {"cvttpd2pi", 0x66, 1, 0x2c, M, X, 16, kA16, D, 0},
      {"cvttsd2si", 0xf2, 1, 0x2c, G, X, 8, kW, D, 0},
      {"cvtpd2pi", 0x66, 1, 0x2d, M, X, 16, kA16, D, 0},
      {"cvtsd2si", 0xf2, 1, 0x2d, G, X, 8, kW, D, 0},
      {"ucomisd", 0x66, 1, 0x2e, X, X, 8, kEfl, D, 0},
      {"comisd", 0x66, 1, 0x2f, X, X, 8, kEfl, D, 0},
      {"movmskpd", 0x66, 1, 0x50, G, X, 16, kRegOnly, D, 0},
      {"sqrtpd", 0x66, 1, 0x51, X, X, 16, kA16, D, 0},
      {"sqrtsd", 0xf2, 1, 0x51, X, X, 8, 0, D, 0},
      {"andpd", 0x66, 1, 0x54, X, X, 16, kA16, D, 0},
      {"andnpd", 0x66, 1, 0x55, X, X, 16, kA16, D, 0},
      {"orpd", 0x66, 1, 0x56, X, X, 16, kA16, D, 0},
      {"xorpd", 0x66, 1, 0x57, X, X, 16, kA16, D, 0},
      {"cvtps2pd", 0, 1, 0x5a, X, X, 8, 0, S, 0},
      {"cvtpd2ps", 0x66, 1, 0x5a, X, X, 16, kA16, D, 0},
      {"cvtss2sd", 0xf3, 1, 0x5a, X, X, 4, 0, S, 0},
      {"cvtsd2ss", 0xf2, 1, 0x5a, X, X, 8, 0, D, 0},
      {"cvtdq2ps", 0, 1, 0x5b, X, X, 16, kA16, I, 0},
      {"cvtps2dq", 0x66, 1, 0x5b, X, X, 16, kA16, S, 0},
      {"cvttps2dq", 0xf3, 1, 0x5b, X, X, 16, kA16, S, 0},
      {"cmppd", 0x66, 1, 0xc2, X, X, 16, kA16 | kImm | kCmp, D, 0, 0, "", "pd"},
      {"cmpsd", 0xf2, 1, 0xc2, X, X, 8, kImm | kCmp, D, 0, 0, "", "sd"},
      {"shufpd", 0x66, 1, 0xc6, X, X, 16, kA16 | kImm, D, 0},
      {"cvttpd2dq", 0x66, 1, 0xe6, X, X, 16, kA16, D, 0},
      {"cvtpd2dq", 0xf2, 1, 0xe6, X, X, 16, kA16, D, 0},
      {"cvtdq2pd", 0xf3, 1, 0xe6, X, X, 8, 0, I, 0},
      // ---- SSE2 integer moves and MMX/XMM transfers ----
      {"movd", 0x66, 1, 0x6e, X, G, 4, kW, I, 0, 0, "movq"},
      {"movd", 0x66, 1, 0x7e, X, G, 4, kW | kRmDst, I, 0, 0, "movq"},
      {"movdqa", 0x66, 1, 0x6f, X, X, 16, kA16, I, 0},
      {"movdqa", 0x66, 1, 0x7f, X, X, 16, kA16 | kRmDst, I, 0},
      {"movdqu", 0xf3, 1, 0x6f, X, X, 16, 0, I, 0},
      {"movdqu", 0xf3, 1, 0x7f, X, X, 16, kRmDst, I, 0},
      {"movq", 0xf3, 1, 0x7e, X, X, 8, 0, I, 0},
      {"movq", 0x66, 1, 0xd6, X, X, 8, kRmDst, I, 0},
      {"movq2dq", 0xf3, 1, 0xd6, X, M, 8, kRegOnly, I, 0},
      {"movdq2q", 0xf2, 1, 0xd6, M, X, 8, kRegOnly, I, 0},
      {"movntdq", 0x66, 1, 0xe7, X, X, 16, kA16 | kRmDst | kMemOnly, I, 0},
      {"pshufd", 0x66, 1, 0x70, X, X, 16, kA16 | kImm, I, 0},
      {"pshufhw", 0xf3, 1, 0x70, X, X, 16, kA16 | kImm, I, 0},
      {"pshuflw", 0xf2, 1, 0x70, X, X, 16, kA16 | kImm, I, 0},
      {"pinsrw", 0x66, 1, 0xc4, X, G, 2, kImm, I, 0},
      {"pextrw", 0x66, 1, 0xc5, G, X, 16, kImm | kRegOnly, I, 0},
      {"pmovmskb", 0x66, 1, 0xd7, G, X, 16, kRegOnly, I, 0},
      {"punpcklqdq", 0x66, 1, 0x6c, X, X, 16, kA16, I, 0},
      {"punpckhqdq", 0x66, 1, 0x6d, X, X, 16, kA16, I, 0},
      // ---- MMX-only encodings and the SSE additions to MMX ----
      {"movd", 0, 1, 0x6e, M, G, 4, kW, I, 0, 0, "movq", "movd"},
      {"movd", 0, 1, 0x7e, M, G, 4, kW | kRmDst, I, 0, 0, "movq", "movd"},
      {"movq", 0, 1, 0x6f, M, M, 8, 0, I, 0},
      {"movq", 0, 1, 0x7f, M, M, 8, kRmDst, I, 0},
      {"movntq", 0, 1, 0xe7, M, M, 8, kRmDst | kMemOnly, I, 0},
      {"pshufw", 0, 1, 0x70, M, M, 8, kImm, I, 0},
      {"pinsrw", 0, 1, 0xc4, M, G, 2, kImm, I, 0},
      {"pextrw", 0, 1, 0xc5, G, M, 8, kImm | kRegOnly, I, 0},
      {"pmovmskb", 0, 1, 0xd7, G, M, 8, kRegOnly, I, 0},
      // ---- SSE3 ----
      {"addsubps", 0xf2, 1, 0xd0, X, X, 16, kA16, S, S3},
      {"addsubpd", 0x66, 1, 0xd0, X, X, 16, kA16, D, S3},
      {"haddps", 0xf2, 1, 0x7c, X, X, 16, kA16, S, S3},
      {"haddpd", 0x66, 1, 0x7c, X, X, 16, kA16, D, S3},
      {"hsubps", 0xf2, 1, 0x7d, X, X, 16, kA16, S, S3},
      {"hsubpd", 0x66, 1, 0x7d, X, X, 16, kA16, D, S3},
      {"lddqu", 0xf2, 1, 0xf0, X, X, 16, kMemOnly, I, S3},
      {"movsldup", 0xf3, 1, 0x12, X, X, 16, kA16, S, S3},
      {"movshdup", 0xf3, 1, 0x16, X, X, 16, kA16, S, S3},
      {"movddup", 0xf2, 1, 0x12, X, X, 8, 0, D, S3},
      // ---- SSE4.1 (66 0F 38 / 66 0F 3A) ----
      {"pblendvb", 0x66, 2, 0x10, X, X, 16, kA16, I, S41},
      {"blendvps", 0x66, 2, 0x14, X, X, 16, kA16, S, S41},
      {"blendvpd", 0x66, 2, 0x15, X, X, 16, kA16, D, S41},
      {"ptest", 0x66, 2, 0x17, X, X, 16, kA16 | kEfl, I, S41},
      {"pmovsxbw", 0x66, 2, 0x20, X, X, 8, 0, I, S41},
      {"pmovsxbd", 0x66, 2, 0x21, X, X, 4, 0, I, S41},
      {"pmovsxbq", 0x66, 2, 0x22, X, X, 2, 0, I, S41},
      {"pmovsxwd", 0x66, 2, 0x23, X, X, 8, 0, I, S41},
      {"pmovsxwq", 0x66, 2, 0x24, X, X, 4, 0, I, S41},
      {"pmovsxdq", 0x66, 2, 0x25, X, X, 8, 0, I, S41},
      {"pmuldq", 0x66, 2, 0x28, X, X, 16, kA16, I, S41},
      {"pcmpeqq", 0x66, 2, 0x29, X, X, 16, kA16, I, S41},
      {"movntdqa", 0x66, 2, 0x2a, X, X, 16, kA16 | kMemOnly, I, S41},
      {"packusdw", 0x66, 2, 0x2b, X, X, 16, kA16, I, S41},
      {"pmovzxbw", 0x66, 2, 0x30, X, X, 8, 0, I, S41},
      {"pmovzxbd", 0x66, 2, 0x31, X, X, 4, 0, I, S41},
      {"pmovzxbq", 0x66, 2, 0x32, X, X, 2, 0, I, S41},
      {"pmovzxwd", 0x66, 2, 0x33, X, X, 8, 0, I, S41},
      {"pmovzxwq", 0x66, 2, 0x34, X, X, 4, 0, I, S41},
      {"pmovzxdq", 0x66, 2, 0x35, X, X, 8, 0, I, S41},
      {"pcmpgtq", 0x66, 2, 0x37, X, X, 16, kA16, I, S42},
      {"pminsb", 0x66, 2, 0x38, X, X, 16, kA16, I, S41},
      {"pminsd", 0x66, 2, 0x39, X, X, 16, kA16, I, S41},
      {"pminuw", 0x66, 2, 0x3a, X, X, 16, kA16, I, S41},
      {"pminud", 0x66, 2, 0x3b, X, X, 16, kA16, I, S41},
      {"pmaxsb", 0x66, 2, 0x3c, X, X, 16, kA16, I, S41},
      {"pmaxsd", 0x66, 2, 0x3d, X, X, 16, kA16, I, S41},
      {"pmaxuw", 0x66, 2, 0x3e, X, X, 16, kA16, I, S41},
      {"pmaxud", 0x66, 2, 0x3f, X, X, 16, kA16, I, S41},
      {"pmulld", 0x66, 2, 0x40, X, X, 16, kA16, I, S41},
      {"phminposuw", 0x66, 2, 0x41, X, X, 16, kA16, I, S41},
      {"roundps", 0x66, 3, 0x08, X, X, 16, kA16 | kImm, S, S41},
      {"roundpd", 0x66, 3, 0x09, X, X, 16, kA16 | kImm, D, S41},
      {"roundss", 0x66, 3, 0x0a, X, X, 4, kImm, S, S41},
      {"roundsd", 0x66, 3, 0x0b, X, X, 8, kImm, D, S41},
      {"blendps", 0x66, 3, 0x0c, X, X, 16, kA16 | kImm, S, S41},
      {"blendpd", 0x66, 3, 0x0d, X, X, 16, kA16 | kImm, D, S41},
      {"pblendw", 0x66, 3, 0x0e, X, X, 16, kA16 | kImm, I, S41},
      {"pextrb", 0x66, 3, 0x14, X, G, 1, kImm | kRmDst, I, S41},
      {"pextrw", 0x66, 3, 0x15, X, G, 2, kImm | kRmDst, I, S41},
      {"pextrd", 0x66, 3, 0x16, X, G, 4, kImm | kRmDst | kW, I, S41, 0, "pextrq"},
      {"extractps", 0x66, 3, 0x17, X, G, 4, kImm | kRmDst, S, S41},
      {"pinsrb", 0x66, 3, 0x20, X, G, 1, kImm, I, S41},
      {"insertps", 0x66, 3, 0x21, X, X, 4, kImm, S, S41},
      {"pinsrd", 0x66, 3, 0x22, X, G, 4, kImm | kW, I, S41, 0, "pinsrq"},
      {"dpps", 0x66, 3, 0x40, X, X, 16, kA16 | kImm, S, S41},
      {"dppd", 0x66, 3, 0x41, X, X, 16, kA16 | kImm, D, S41},
      {"mpsadbw", 0x66, 3, 0x42, X, X, 16, kA16 | kImm, I, S41},
      // ---- SSE4.2 string compares (no alignment requirement, SDM vol. 2, 4.1) ----
      {"pcmpestrm", 0x66, 3, 0x60, X, X, 16, kImm | kEfl | kLen | kW, I, S42},
      {"pcmpestri", 0x66, 3, 0x61, X, X, 16, kImm | kEfl | kLen | kEcx | kW, I, S42},
      {"pcmpistrm", 0x66, 3, 0x62, X, X, 16, kImm | kEfl, I, S42},
      {"pcmpistri", 0x66, 3, 0x63, X, X, 16, kImm | kEfl | kEcx, I, S42},
  };
  // MMX integer operations (np 0F) and their SSE2 XMM forms (66 0F), SDM vol. 2 appendix A.
  // `s`: first available with SSE (the MMX form) or SSE2 (paddq, pmuludq, psubq).
  struct IntOp {
    const char* mn;
    uint8_t op;
  };
  static constexpr IntOp kInt[] = {
      {"punpcklbw", 0x60}, {"punpcklwd", 0x61}, {"punpckldq", 0x62}, {"packsswb", 0x63},
      {"pcmpgtb", 0x64},   {"pcmpgtw", 0x65},   {"pcmpgtd", 0x66},   {"packuswb", 0x67},
      {"punpckhbw", 0x68}, {"punpckhwd", 0x69}, {"punpckhdq", 0x6a}, {"packssdw", 0x6b},
      {"pcmpeqb", 0x74},   {"pcmpeqw", 0x75},   {"pcmpeqd", 0x76},   {"psrlw", 0xd1},
      {"psrld", 0xd2},     {"psrlq", 0xd3},     {"paddq", 0xd4},     {"pmullw", 0xd5},
      {"psubusb", 0xd8},   {"psubusw", 0xd9},   {"pminub", 0xda},    {"pand", 0xdb},
      {"paddusb", 0xdc},   {"paddusw", 0xdd},   {"pmaxub", 0xde},    {"pandn", 0xdf},
      {"pavgb", 0xe0},     {"psraw", 0xe1},     {"psrad", 0xe2},     {"pavgw", 0xe3},
      {"pmulhuw", 0xe4},   {"pmulhw", 0xe5},    {"psubsb", 0xe8},    {"psubsw", 0xe9},
      {"pminsw", 0xea},    {"por", 0xeb},       {"paddsb", 0xec},    {"paddsw", 0xed},
      {"pmaxsw", 0xee},    {"pxor", 0xef},      {"psllw", 0xf1},     {"pslld", 0xf2},
      {"psllq", 0xf3},     {"pmuludq", 0xf4},   {"pmaddwd", 0xf5},   {"psadbw", 0xf6},
      {"psubb", 0xf8},     {"psubw", 0xf9},     {"psubd", 0xfa},     {"psubq", 0xfb},
      {"paddb", 0xfc},     {"paddw", 0xfd},     {"paddd", 0xfe},
  };
  for (const IntOp& k : kInt) {
    t.push_back({k.mn, 0, 1, k.op, M, M, 8, 0, I, 0});
    t.push_back({k.mn, 0x66, 1, k.op, X, X, 16, kA16, I, 0});
  }
  // Shifts by imm8: 0F 71/72/73 /digit (psrlq/psllq only for MMX; psrldq/pslldq XMM only).
  struct ShiftOp {
    const char* mn;
    uint8_t op, digit;
    bool mmx;
  };
  static constexpr ShiftOp kShifts[] = {
      {"psrlw", 0x71, 2, true},   {"psraw", 0x71, 4, true}, {"psllw", 0x71, 6, true},
      {"psrld", 0x72, 2, true},   {"psrad", 0x72, 4, true}, {"pslld", 0x72, 6, true},
      {"psrlq", 0x73, 2, true},   {"psllq", 0x73, 6, true}, {"psrldq", 0x73, 3, false},
      {"pslldq", 0x73, 7, false},
  };
  for (const ShiftOp& k : kShifts) {
    if (k.mmx) t.push_back({k.mn, 0, 1, k.op, N, M, 8, kImm | kRegOnly | kShift, I, 0, k.digit});
    t.push_back({k.mn, 0x66, 1, k.op, N, X, 16, kImm | kRegOnly | kShift, I, 0, k.digit});
  }
  // SSSE3: 0F 38 00-0B, 1C-1E and 0F 3A 0F, MMX (np) and XMM (66) forms.
  static constexpr IntOp kSsse3[] = {
      {"pshufb", 0x00},    {"phaddw", 0x01}, {"phaddd", 0x02}, {"phaddsw", 0x03},
      {"pmaddubsw", 0x04}, {"phsubw", 0x05}, {"phsubd", 0x06}, {"phsubsw", 0x07},
      {"psignb", 0x08},    {"psignw", 0x09}, {"psignd", 0x0a}, {"pmulhrsw", 0x0b},
      {"pabsb", 0x1c},     {"pabsw", 0x1d},  {"pabsd", 0x1e},
  };
  for (const IntOp& k : kSsse3) {
    t.push_back({k.mn, 0, 2, k.op, M, M, 8, 0, I, SS3});
    t.push_back({k.mn, 0x66, 2, k.op, X, X, 16, kA16, I, SS3});
  }
  t.push_back({"palignr", 0, 3, 0x0f, M, M, 8, kImm, I, SS3});
  t.push_back({"palignr", 0x66, 3, 0x0f, X, X, 16, kA16 | kImm, I, SS3});
  return t;
}

std::string operand(Kind k, bool w, unsigned msize, uint16_t fl) {
  const std::string m = "m" + std::to_string(8 * msize);
  if (fl & kMemOnly) return m;
  if (fl & kRegOnly) return kind_name(k, w);
  return std::string(kind_name(k, w)) + "/" + m;
}

// CRC32 r32/r64, r/m8/16/32/64 (F2 0F 38 F0/F1, SDM vol. 2): flags unaffected.
bool gen_crc32(Gen& g, unsigned dsize, unsigned ssize) {
  Ib ib;
  ib.s.add_prefix(0xf2);
  if (ssize == 2) ib.s.add_prefix(0x66);
  ib.s.rex_w = dsize == 8;
  ib.s.set_opcode(0x0f, 0x38, ssize == 1 ? 0xf0 : 0xf1);
  if (ssize == 1 && !ib.s.rex_w && g.rng.coin()) {
    ib.byte_rex = true;
    ib.s.force_rex = true;
  } else if (ssize == 1) {
    ib.byte_rex = ib.s.rex_w;
    ib.rex_regs = ib.s.rex_w;
  }
  const uint8_t d = g.reg(ib, dsize, Role::kDst);
  MemReq req;
  const RmOp rm = g.rm(ib, ssize, Role::kSrc, req);
  set_rm(ib, d, rm);
  return g.emit(ib);
}

// MASKMOVQ mm1, mm2 (np 0F F7) and MASKMOVDQU xmm1, xmm2 (66 0F F7): the bytes of the first
// operand whose mask byte (second operand) has bit 7 set are stored to DS:[RDI] (SDM vol. 2).
bool gen_maskmov(Gen& g, bool xmm) {
  Ib ib;
  if (xmm) ib.s.add_prefix(0x66);
  ib.s.set_opcode(0x0f, 0xf7);
  g.fp_state();
  const unsigned size = xmm ? 16 : 8;
  const uint64_t want = kDataBase + g.rng.below(kDataSize - size + 1);
  if (!g.is_free(RDI_) || !g.fix(RDI_, want, /*is_ptr=*/true)) return false;
  RmOp rm;
  rm.is_mem = false;
  rm.reg = xmm ? fp_xmm(g, Lane::kInt) : fp_mm(g);
  set_rm(ib, xmm ? fp_xmm(g, Lane::kInt) : fp_mm(g), rm);
  ib.fx.mem_write = true;
  return g.emit(ib);
}

}  // namespace

void add_fp_simd_forms(std::vector<Form>& out) {
  static const std::vector<Op> table = simd_table();
  for (const Op& o : table) {
    for (bool w : {false, true}) {
      if (w && !(o.fl & kW)) continue;
      std::string ops;
      const std::string rm = operand(o.rm, w, (o.rm == G && w) ? 8 : o.msize, o.fl);
      const std::string reg = o.reg == N ? "" : kind_name(o.reg, w);
      if (o.reg == N)
        ops = rm;
      else if (o.fl & kRmDst)
        ops = rm + ", " + reg;
      else
        ops = reg + ", " + rm;
      if (o.fl & kImm) ops += ", imm8";
      const std::string mn = w && !o.wmn.empty() ? o.wmn : o.mn;
      std::string name = std::string(kFpPrefix) + mn + " " + ops;
      if (w && o.wmn.empty() && o.reg != G && o.rm != G) name += " (rex.w)";
      out.push_back(
          {name, o.cs.empty() ? mn : o.cs, o.feat, [&o, w](Gen& g) { return gen_simd(g, o, w); }});
    }
  }
  out.push_back({std::string(kFpPrefix) + "maskmovq mm, mm", "maskmovq", 0,
                 [](Gen& g) { return gen_maskmov(g, false); }});
  out.push_back({std::string(kFpPrefix) + "maskmovdqu xmm, xmm", "maskmovdqu", 0,
                 [](Gen& g) { return gen_maskmov(g, true); }});
  for (unsigned d : {4u, 8u})
    for (unsigned s : {1u, 2u, 4u, 8u}) {
      if ((s == 8) != (d == 8) && s != 1) continue;
      out.push_back({std::string(kFpPrefix) + "crc32 r" + size_suffix(d) + ", r/m" + size_suffix(s),
                     "crc32", feat::kSse42, [=](Gen& g) { return gen_crc32(g, d, s); }});
    }
}

}  // namespace difftest
