// The x87 instruction set (SDM vol. 2; opcode map D8-DF in appendix A.4): every memory format
// (m32fp, m64fp, m80fp, m16int, m32int, m64int, m80bcd, the environment and state images in the
// 16- and 32-bit formats), every register form, and FWAIT, which reports a pending unmasked
// exception (#MF, SDM vol. 1, 8.6).
#include <cstring>
#include <string>

#include "forms_fp.h"

namespace difftest {

namespace {

enum class Img : uint8_t { kNone, kCw, kEnv, kSave };  // special memory contents

struct X87Mem {
  const char* mn;
  uint8_t op, digit, size;
  Lane lane;
  bool write;
  Img img;
  uint32_t feat;
  const char* what;  // operand name
};

// A random x87 status word (TOP, condition codes, sticky flags) consistent with `fcw`: ES and
// B are set exactly when an unmasked exception flag is (SDM vol. 1, 8.1.3).
uint16_t random_fsw(Rng& rng, uint16_t fcw) {
  uint16_t fsw = static_cast<uint16_t>(rng.next() & 0x7f7f);
  if (rng.coin()) fsw &= ~0x7fu;
  if (fsw & ~fcw & 0x3f) fsw |= 0x8080;
  return fsw;
}

// The FLDENV/FRSTOR image (SDM vol. 1, 8.1.10, figures 8-9/8-10 and 8-11/8-12): the
// environment in the 32-bit (28 bytes) or 16-bit (14 bytes) protected-mode format, then for
// FRSTOR the eight registers ST(0)..ST(7), ten bytes each.
void make_env(Rng& rng, bool o16, bool save, uint8_t* img, unsigned* size) {
  const unsigned slot = o16 ? 2 : 4;
  const unsigned env = 7 * slot;
  uint8_t* p = img;
  std::memset(img, 0, 108);
  rng.fill(img, env);
  const uint16_t fcw = random_fcw(rng);
  const uint16_t fsw = random_fsw(rng, fcw);
  std::memcpy(p, &fcw, 2);
  std::memcpy(p + slot, &fsw, 2);
  // Tag word: random two-bit tags, often all empty or all valid.
  uint16_t ftw = static_cast<uint16_t>(rng.next());
  if (rng.chance(1, 4)) ftw = rng.coin() ? 0xffff : 0;
  std::memcpy(p + 2 * slot, &ftw, 2);
  if (save) fill_lanes(rng, Lane::kF80, img + env, 80);
  *size = env + (save ? 80 : 0);
}

bool gen_mem(Gen& g, const X87Mem& o, bool o16) {
  Ib ib;
  if (o16) ib.s.add_prefix(0x66);
  ib.s.set_opcode(o.op);
  g.fp_state();
  RmOp rm;
  unsigned size = o.size;
  if (o.img == Img::kEnv || o.img == Img::kSave)
    size = (o.img == Img::kSave ? 80 : 0) + (o16 ? 14 : 28);
  if (!fp_mem(g, ib, size, o.write, 0, o.lane, &rm, o.img == Img::kNone)) return false;
  if (o.img == Img::kEnv || o.img == Img::kSave) fp_span(ib, size);
  if (!o.write && ib.mem_addr_known && o.img != Img::kNone) {
    uint8_t img[108];
    unsigned n = 2;
    if (o.img == Img::kCw) {
      const uint16_t cw =
          g.rng.chance(7, 8) ? random_fcw(g.rng) : static_cast<uint16_t>(g.rng.next());
      std::memcpy(img, &cw, 2);
    } else {
      make_env(g.rng, o16, o.img == Img::kSave, img, &n);
    }
    if (!fp_plant(g, ib.mem_addr, img, n, true)) return false;
  }
  set_rm(ib, o.digit, rm);
  fp_maybe_lock(g, ib);
  return g.emit(ib);
}

struct X87Reg {
  const char* mn;
  uint8_t op, modrm;
  bool has_i;  // ModRM.rm selects ST(i)
  uint64_t flags_read, flags_def;
  bool writes_ax;  // FNSTSW AX
  uint32_t feat;
  const char* ops;  // operand text for the form name
};

bool gen_reg(Gen& g, const X87Reg& o) {
  Ib ib;
  ib.s.set_opcode(o.op);
  g.fp_state();
  RmOp rm;
  rm.is_mem = false;
  rm.reg = static_cast<uint8_t>((o.modrm & 7) | (o.has_i ? g.rng.below(8) : 0));
  set_rm(ib, (o.modrm >> 3) & 7, rm);
  fp_maybe_lock(g, ib);
  ib.fx.flags_read = o.flags_read;
  ib.fx.flags_def = o.flags_def;
  if (o.writes_ax) ib.fx.regs_written |= 1u << RAX_;
  return g.emit(ib);
}

bool gen_fwait(Gen& g) {
  Ib ib;
  ib.s.set_opcode(0x9b);
  g.fp_state();
  return g.emit(ib);
}

}  // namespace

void add_fp_x87_forms(std::vector<Form>& out) {
  constexpr Lane S = Lane::kF32, D = Lane::kF64, E = Lane::kF80, W = Lane::kI16, L = Lane::kI32,
                 Q = Lane::kI64, B = Lane::kBcd, I = Lane::kInt;
  constexpr uint32_t S3 = feat::kSse3;
  static const X87Mem kMem[] = {
      // D8/DC/DA/DE: arithmetic and compares with m32fp, m64fp, m32int, m16int.
      {"fadd", 0xd8, 0, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fmul", 0xd8, 1, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fcom", 0xd8, 2, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fcomp", 0xd8, 3, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fsub", 0xd8, 4, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fsubr", 0xd8, 5, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fdiv", 0xd8, 6, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fdivr", 0xd8, 7, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fadd", 0xdc, 0, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fmul", 0xdc, 1, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fcom", 0xdc, 2, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fcomp", 0xdc, 3, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fsub", 0xdc, 4, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fsubr", 0xdc, 5, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fdiv", 0xdc, 6, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fdivr", 0xdc, 7, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fiadd", 0xda, 0, 4, L, false, Img::kNone, 0, "m32int"},
      {"fimul", 0xda, 1, 4, L, false, Img::kNone, 0, "m32int"},
      {"ficom", 0xda, 2, 4, L, false, Img::kNone, 0, "m32int"},
      {"ficomp", 0xda, 3, 4, L, false, Img::kNone, 0, "m32int"},
      {"fisub", 0xda, 4, 4, L, false, Img::kNone, 0, "m32int"},
      {"fisubr", 0xda, 5, 4, L, false, Img::kNone, 0, "m32int"},
      {"fidiv", 0xda, 6, 4, L, false, Img::kNone, 0, "m32int"},
      {"fidivr", 0xda, 7, 4, L, false, Img::kNone, 0, "m32int"},
      {"fiadd", 0xde, 0, 2, W, false, Img::kNone, 0, "m16int"},
      {"fimul", 0xde, 1, 2, W, false, Img::kNone, 0, "m16int"},
      {"ficom", 0xde, 2, 2, W, false, Img::kNone, 0, "m16int"},
      {"ficomp", 0xde, 3, 2, W, false, Img::kNone, 0, "m16int"},
      {"fisub", 0xde, 4, 2, W, false, Img::kNone, 0, "m16int"},
      {"fisubr", 0xde, 5, 2, W, false, Img::kNone, 0, "m16int"},
      {"fidiv", 0xde, 6, 2, W, false, Img::kNone, 0, "m16int"},
      {"fidivr", 0xde, 7, 2, W, false, Img::kNone, 0, "m16int"},
      // Loads and stores of every format.
      {"fld", 0xd9, 0, 4, S, false, Img::kNone, 0, "m32fp"},
      {"fst", 0xd9, 2, 4, S, true, Img::kNone, 0, "m32fp"},
      {"fstp", 0xd9, 3, 4, S, true, Img::kNone, 0, "m32fp"},
      {"fld", 0xdd, 0, 8, D, false, Img::kNone, 0, "m64fp"},
      {"fst", 0xdd, 2, 8, D, true, Img::kNone, 0, "m64fp"},
      {"fstp", 0xdd, 3, 8, D, true, Img::kNone, 0, "m64fp"},
      {"fld", 0xdb, 5, 10, E, false, Img::kNone, 0, "m80fp"},
      {"fstp", 0xdb, 7, 10, E, true, Img::kNone, 0, "m80fp"},
      {"fild", 0xdf, 0, 2, W, false, Img::kNone, 0, "m16int"},
      {"fild", 0xdb, 0, 4, L, false, Img::kNone, 0, "m32int"},
      {"fild", 0xdf, 5, 8, Q, false, Img::kNone, 0, "m64int"},
      {"fist", 0xdf, 2, 2, W, true, Img::kNone, 0, "m16int"},
      {"fistp", 0xdf, 3, 2, W, true, Img::kNone, 0, "m16int"},
      {"fist", 0xdb, 2, 4, L, true, Img::kNone, 0, "m32int"},
      {"fistp", 0xdb, 3, 4, L, true, Img::kNone, 0, "m32int"},
      {"fistp", 0xdf, 7, 8, Q, true, Img::kNone, 0, "m64int"},
      {"fisttp", 0xdf, 1, 2, W, true, Img::kNone, S3, "m16int"},
      {"fisttp", 0xdb, 1, 4, L, true, Img::kNone, S3, "m32int"},
      {"fisttp", 0xdd, 1, 8, Q, true, Img::kNone, S3, "m64int"},
      {"fbld", 0xdf, 4, 10, B, false, Img::kNone, 0, "m80bcd"},
      {"fbstp", 0xdf, 6, 10, B, true, Img::kNone, 0, "m80bcd"},
      // Control and environment.
      {"fldcw", 0xd9, 5, 2, I, false, Img::kCw, 0, "m2byte"},
      {"fnstcw", 0xd9, 7, 2, I, true, Img::kNone, 0, "m2byte"},
      {"fnstsw", 0xdd, 7, 2, I, true, Img::kNone, 0, "m2byte"},
      {"fldenv", 0xd9, 4, 28, I, false, Img::kEnv, 0, "m28byte"},
      {"fnstenv", 0xd9, 6, 28, I, true, Img::kEnv, 0, "m28byte"},
      {"frstor", 0xdd, 4, 108, I, false, Img::kSave, 0, "m108byte"},
      {"fnsave", 0xdd, 6, 108, I, true, Img::kSave, 0, "m108byte"},
  };
  for (const X87Mem& o : kMem) {
    const bool has16 = o.img == Img::kEnv || o.img == Img::kSave;
    for (bool o16 : {false, true}) {
      if (o16 && !has16) continue;
      std::string what = o.what;
      if (o16) what = o.img == Img::kSave ? "m94byte" : "m14byte";
      out.push_back({std::string(kFpPrefix) + o.mn + " " + what, o.mn, o.feat,
                     [&o, o16](Gen& g) { return gen_mem(g, o, o16); }});
    }
  }

  constexpr uint64_t CF = fl::CF, ZF = fl::ZF, PF = fl::PF, ALL = fl::STATUS;
  static const X87Reg kReg[] = {
      {"fadd", 0xd8, 0xc0, true, 0, 0, false, 0, "st(0), st(i)"},
      {"fmul", 0xd8, 0xc8, true, 0, 0, false, 0, "st(0), st(i)"},
      {"fcom", 0xd8, 0xd0, true, 0, 0, false, 0, "st(i)"},
      {"fcomp", 0xd8, 0xd8, true, 0, 0, false, 0, "st(i)"},
      {"fsub", 0xd8, 0xe0, true, 0, 0, false, 0, "st(0), st(i)"},
      {"fsubr", 0xd8, 0xe8, true, 0, 0, false, 0, "st(0), st(i)"},
      {"fdiv", 0xd8, 0xf0, true, 0, 0, false, 0, "st(0), st(i)"},
      {"fdivr", 0xd8, 0xf8, true, 0, 0, false, 0, "st(0), st(i)"},
      {"fld", 0xd9, 0xc0, true, 0, 0, false, 0, "st(i)"},
      {"fxch", 0xd9, 0xc8, true, 0, 0, false, 0, "st(i)"},
      {"fnop", 0xd9, 0xd0, false, 0, 0, false, 0, ""},
      {"fchs", 0xd9, 0xe0, false, 0, 0, false, 0, ""},
      {"fabs", 0xd9, 0xe1, false, 0, 0, false, 0, ""},
      {"ftst", 0xd9, 0xe4, false, 0, 0, false, 0, ""},
      {"fxam", 0xd9, 0xe5, false, 0, 0, false, 0, ""},
      {"fld1", 0xd9, 0xe8, false, 0, 0, false, 0, ""},
      {"fldl2t", 0xd9, 0xe9, false, 0, 0, false, 0, ""},
      {"fldl2e", 0xd9, 0xea, false, 0, 0, false, 0, ""},
      {"fldpi", 0xd9, 0xeb, false, 0, 0, false, 0, ""},
      {"fldlg2", 0xd9, 0xec, false, 0, 0, false, 0, ""},
      {"fldln2", 0xd9, 0xed, false, 0, 0, false, 0, ""},
      {"fldz", 0xd9, 0xee, false, 0, 0, false, 0, ""},
      {"f2xm1", 0xd9, 0xf0, false, 0, 0, false, 0, ""},
      {"fyl2x", 0xd9, 0xf1, false, 0, 0, false, 0, ""},
      {"fptan", 0xd9, 0xf2, false, 0, 0, false, 0, ""},
      {"fpatan", 0xd9, 0xf3, false, 0, 0, false, 0, ""},
      {"fxtract", 0xd9, 0xf4, false, 0, 0, false, 0, ""},
      {"fprem1", 0xd9, 0xf5, false, 0, 0, false, 0, ""},
      {"fdecstp", 0xd9, 0xf6, false, 0, 0, false, 0, ""},
      {"fincstp", 0xd9, 0xf7, false, 0, 0, false, 0, ""},
      {"fprem", 0xd9, 0xf8, false, 0, 0, false, 0, ""},
      {"fyl2xp1", 0xd9, 0xf9, false, 0, 0, false, 0, ""},
      {"fsqrt", 0xd9, 0xfa, false, 0, 0, false, 0, ""},
      {"fsincos", 0xd9, 0xfb, false, 0, 0, false, 0, ""},
      {"frndint", 0xd9, 0xfc, false, 0, 0, false, 0, ""},
      {"fscale", 0xd9, 0xfd, false, 0, 0, false, 0, ""},
      {"fsin", 0xd9, 0xfe, false, 0, 0, false, 0, ""},
      {"fcos", 0xd9, 0xff, false, 0, 0, false, 0, ""},
      {"fcmovb", 0xda, 0xc0, true, CF, 0, false, 0, "st(0), st(i)"},
      {"fcmove", 0xda, 0xc8, true, ZF, 0, false, 0, "st(0), st(i)"},
      {"fcmovbe", 0xda, 0xd0, true, CF | ZF, 0, false, 0, "st(0), st(i)"},
      {"fcmovu", 0xda, 0xd8, true, PF, 0, false, 0, "st(0), st(i)"},
      {"fucompp", 0xda, 0xe9, false, 0, 0, false, 0, ""},
      {"fcmovnb", 0xdb, 0xc0, true, CF, 0, false, 0, "st(0), st(i)"},
      {"fcmovne", 0xdb, 0xc8, true, ZF, 0, false, 0, "st(0), st(i)"},
      {"fcmovnbe", 0xdb, 0xd0, true, CF | ZF, 0, false, 0, "st(0), st(i)"},
      {"fcmovnu", 0xdb, 0xd8, true, PF, 0, false, 0, "st(0), st(i)"},
      {"fnclex", 0xdb, 0xe2, false, 0, 0, false, 0, ""},
      {"fninit", 0xdb, 0xe3, false, 0, 0, false, 0, ""},
      {"fucomi", 0xdb, 0xe8, true, 0, ALL, false, 0, "st(0), st(i)"},
      {"fcomi", 0xdb, 0xf0, true, 0, ALL, false, 0, "st(0), st(i)"},
      {"fadd", 0xdc, 0xc0, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fmul", 0xdc, 0xc8, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fsubr", 0xdc, 0xe0, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fsub", 0xdc, 0xe8, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fdivr", 0xdc, 0xf0, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fdiv", 0xdc, 0xf8, true, 0, 0, false, 0, "st(i), st(0)"},
      {"ffree", 0xdd, 0xc0, true, 0, 0, false, 0, "st(i)"},
      {"fst", 0xdd, 0xd0, true, 0, 0, false, 0, "st(i)"},
      {"fstp", 0xdd, 0xd8, true, 0, 0, false, 0, "st(i)"},
      {"fucom", 0xdd, 0xe0, true, 0, 0, false, 0, "st(i)"},
      {"fucomp", 0xdd, 0xe8, true, 0, 0, false, 0, "st(i)"},
      {"faddp", 0xde, 0xc0, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fmulp", 0xde, 0xc8, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fcompp", 0xde, 0xd9, false, 0, 0, false, 0, ""},
      {"fsubrp", 0xde, 0xe0, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fsubp", 0xde, 0xe8, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fdivrp", 0xde, 0xf0, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fdivp", 0xde, 0xf8, true, 0, 0, false, 0, "st(i), st(0)"},
      {"fnstsw", 0xdf, 0xe0, false, 0, 0, true, 0, "ax"},
      {"fucomip", 0xdf, 0xe8, true, 0, ALL, false, 0, "st(0), st(i)"},
      {"fcomip", 0xdf, 0xf0, true, 0, ALL, false, 0, "st(0), st(i)"},
  };
  for (const X87Reg& o : kReg) {
    const std::string ops = o.ops[0] ? std::string(" ") + o.ops : std::string();
    out.push_back({std::string(kFpPrefix) + o.mn + ops, o.mn, o.feat,
                   [&o](Gen& g) { return gen_reg(g, o); }});
  }
  // FWAIT: checks for a pending unmasked x87 exception (#MF); weighted up so that most x87
  // sequences get one.
  out.push_back({std::string(kFpPrefix) + "fwait", "wait", 0, gen_fwait, 16});
}

}  // namespace difftest
