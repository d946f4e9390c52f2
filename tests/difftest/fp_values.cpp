#include "fp_values.h"

#include <cstring>

#include "layout.h"

namespace difftest {

namespace {

// Single precision (SDM vol. 1, 4.2.2 and 4.8): zeros, denormal min/max, normal min/max,
// infinities, 1.0, halfway and integer-limit values for CVT*2SI/CVTT*2SI (2^31, 2^63 and their
// neighbours), 16-bit limits, 2^23 (where fractions end) and the machine epsilon.
constexpr uint32_t kF32[] = {
    0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00400000, 0x00800000,
    0x80800000, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x3f800000, 0xbf800000, 0x3f000000,
    0xbf000000, 0x3fc00000, 0xbfc00000, 0x40200000, 0xc0200000, 0x4f000000, 0xcf000000, 0x4effffff,
    0xceffffff, 0xcf000001, 0x5f000000, 0xdf000000, 0x5effffff, 0xdf000001, 0x47000000, 0xc7000000,
    0x46fffe00, 0x477fff00, 0x4b000000, 0x4b7fffff, 0x34000000, 0x7f000000, 0x00000003, 0x3effffff};

// Double precision: the same kinds of value, plus the float limits seen as doubles (CVTSD2SS
// overflow, underflow and denormal results) and 2^52/2^53.
constexpr uint64_t kF64[] = {
    0x0000000000000000, 0x8000000000000000, 0x0000000000000001, 0x8000000000000001,
    0x000fffffffffffff, 0x800fffffffffffff, 0x0010000000000000, 0x8010000000000000,
    0x7fefffffffffffff, 0xffefffffffffffff, 0x7ff0000000000000, 0xfff0000000000000,
    0x3ff0000000000000, 0xbff0000000000000, 0x3fe0000000000000, 0xbfe0000000000000,
    0x3ff8000000000000, 0x4004000000000000, 0xc004000000000000, 0x41e0000000000000,
    0xc1e0000000000000, 0x41dfffffffc00000, 0x41dfffffffe00000, 0xc1e0000000100000,
    0xc1e0000000200000, 0x43e0000000000000, 0xc3e0000000000000, 0x43dfffffffffffff,
    0xc3e0000000000001, 0x41f0000000000000, 0x4330000000000000, 0x4340000000000000,
    0x40dfffe000000000, 0xc0e0001000000000, 0x47efffffe0000000, 0x47efffffffffffff,
    0x47f0000000000000, 0x3810000000000000, 0x380fffffffffffff, 0x36a0000000000000,
    0x3690000000000000, 0x3ca0000000000000, 0x3fdfffffffffffff};

// Integers whose x87 images are conversion limits: 16, 32 and 64-bit signed limits, 2^64-1 and
// the packed-BCD limit 10^18.
constexpr uint64_t kIntLimits[] = {0x7fff,
                                   0x8000,
                                   0x7fffffff,
                                   0x80000000,
                                   0x7fffffffffffffff,
                                   0x8000000000000000,
                                   0xffffffffffffffff,
                                   999999999999999999ull,
                                   1000000000000000000ull,
                                   1,
                                   2,
                                   3};

int clz64(uint64_t v) {
  return v ? __builtin_clzll(v) : 64;
}

// m * 2^e2 as an 80-bit value (m != 0).
void f80_from_fixed(uint64_t m, int e2, bool neg, uint64_t* sig, uint16_t* se) {
  const int lz = clz64(m);
  *sig = m << lz;
  *se = static_cast<uint16_t>((0x3fff + 63 - lz + e2) | (neg ? 0x8000 : 0));
}

}  // namespace

uint32_t f32_value(Rng& rng) {
  const uint32_t sign = rng.coin() ? 0x80000000u : 0;
  switch (rng.below(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return rng.pick(kF32) ^ (rng.chance(1, 4) ? 0x80000000u : 0);
    case 4:  // quiet NaN with a payload
      return sign | 0x7fc00000u | static_cast<uint32_t>(rng.chance(1, 3) ? 0 : rng.below(1u << 22));
    case 5:  // signalling NaN: quiet bit clear, payload not zero
      return sign | 0x7f800000u | static_cast<uint32_t>(1 + rng.below((1u << 22) - 1));
    case 6:
      return static_cast<uint32_t>(rng.next());
    case 7:  // denormal
      return sign | static_cast<uint32_t>(rng.below(1u << 23));
    default:  // a moderate normal number
      return sign | static_cast<uint32_t>(rng.range(100, 160) << 23) |
             static_cast<uint32_t>(rng.below(1u << 23));
  }
}

uint64_t f64_value(Rng& rng) {
  const uint64_t sign = rng.coin() ? 0x8000000000000000ull : 0;
  constexpr uint64_t kFrac = (uint64_t{1} << 52) - 1;
  switch (rng.below(10)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return rng.pick(kF64) ^ (rng.chance(1, 4) ? 0x8000000000000000ull : 0);
    case 4:
      return sign | 0x7ff8000000000000ull | (rng.chance(1, 3) ? 0 : rng.next() & (kFrac >> 1));
    case 5:
      return sign | 0x7ff0000000000000ull | (1 + rng.below((kFrac >> 1) - 1));
    case 6:
      return rng.next();
    case 7:
      return sign | (rng.next() & kFrac);
    default:
      return sign | (static_cast<uint64_t>(rng.range(900, 1150)) << 52) | (rng.next() & kFrac);
  }
}

void f80_value(Rng& rng, uint64_t* sig, uint16_t* se) {
  const uint16_t sign = rng.coin() ? 0x8000 : 0;
  constexpr uint64_t kJ = 0x8000000000000000ull;
  switch (rng.below(16)) {
    case 0:  // zero
      *sig = 0, *se = sign;
      return;
    case 1:  // denormal (exponent 0, J clear) or pseudo-denormal (J set)
      *sig = (rng.next() >> 1) | (rng.chance(1, 4) ? kJ : 0);
      *se = sign;
      return;
    case 2:  // the normal limits
      *sig = rng.coin() ? kJ : ~uint64_t{0};
      *se = static_cast<uint16_t>(sign | (rng.coin() ? 1 : 0x7ffe));
      return;
    case 3:  // infinity, or (rarely) pseudo-infinity: J clear, an unsupported encoding
      *sig = rng.chance(1, 6) ? 0 : kJ;
      *se = sign | 0x7fff;
      return;
    case 4:  // quiet NaN with a payload (the real indefinite among them)
      *sig = kJ | (uint64_t{1} << 62) | (rng.chance(1, 3) ? 0 : rng.next() >> 2);
      *se = sign | 0x7fff;
      return;
    case 5:  // signalling NaN, or (rarely) pseudo-NaN (J clear)
      *sig = (rng.chance(1, 6) ? 0 : kJ) | (1 + (rng.next() >> 3));
      *se = sign | 0x7fff;
      return;
    case 6:  // unnormal: J clear with a non-zero exponent (unsupported, #IA on use)
      *sig = rng.next() >> 1;
      *se = static_cast<uint16_t>(sign | rng.range(1, 0x7ffe));
      return;
    case 7:
    case 8: {  // integer conversion limits, exact or +-0.5 off
      const uint64_t m = rng.pick(kIntLimits);
      if (rng.coin() || (m >> 62))
        f80_from_fixed(m, 0, sign, sig, se);
      else
        f80_from_fixed(2 * m + (rng.coin() ? 1 : ~uint64_t{0}), -1, sign, sig, se);
      return;
    }
    case 9:  // 1.0, 0.5, 1.5, 2.5
      f80_from_fixed(rng.pick({2ull, 1ull, 3ull, 5ull}), -1, sign, sig, se);
      return;
    case 10:
      *sig = rng.next();
      *se = static_cast<uint16_t>(rng.next());
      return;
    case 11:  // near the single/double limits (precision-control overflow and underflow)
      *sig = kJ | (rng.next() >> 1);
      *se = static_cast<uint16_t>(
          sign | rng.pick({0x3fff + 127, 0x3fff + 128, 0x3fff - 126, 0x3fff - 150, 0x3fff + 1023,
                           0x3fff + 1024, 0x3fff - 1022, 0x3fff - 1075}));
      return;
    default:  // a moderate normal number
      *sig = kJ | (rng.next() >> 1);
      *se = static_cast<uint16_t>(sign | rng.range(0x3fff - 70, 0x3fff + 70));
      return;
  }
}

uint64_t int_value(Rng& rng, unsigned bytes) {
  const unsigned bits = 8 * bytes;
  const uint64_t mask = bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
  const uint64_t min = uint64_t{1} << (bits - 1);
  switch (rng.below(12)) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
      return mask;  // -1
    case 3:
      return min;
    case 4:
      return min - 1;
    case 5:
      return (min + 1) & mask;
    case 6:
      return rng.below(256) & mask;
    case 7:
      return (0 - rng.below(256)) & mask;
    default:
      return rng.next() & mask;
  }
}

void bcd_value(Rng& rng, uint64_t* lo, uint16_t* hi) {
  // Valid digits only: FBLD of a non-decimal digit gives an undefined result (SDM vol. 2, FBLD).
  const unsigned digits = rng.chance(1, 4) ? static_cast<unsigned>(rng.below(19)) : 18;
  uint64_t v = 0;
  for (unsigned d = 0; d < 16 && d < digits; ++d) v |= rng.below(10) << (4 * d);
  uint16_t h = 0;
  if (digits > 16)
    h = static_cast<uint16_t>(rng.below(10) | (digits > 17 ? rng.below(10) << 4 : 0));
  if (rng.chance(1, 8)) v = 0x9999999999999999ull, h = 0x99;
  *lo = v;
  *hi = static_cast<uint16_t>(h | (rng.coin() ? 0x8000 : 0));
}

void fill_lanes(Rng& rng, Lane lane, uint8_t* p, unsigned n) {
  switch (lane) {
    case Lane::kF32:
      for (unsigned i = 0; i + 4 <= n; i += 4) {
        const uint32_t v = f32_value(rng);
        std::memcpy(p + i, &v, 4);
      }
      return;
    case Lane::kF64:
      for (unsigned i = 0; i + 8 <= n; i += 8) {
        const uint64_t v = f64_value(rng);
        std::memcpy(p + i, &v, 8);
      }
      return;
    case Lane::kF80:
    case Lane::kBcd:
      for (unsigned i = 0; i + 10 <= n; i += 10) {
        uint64_t sig;
        uint16_t se;
        if (lane == Lane::kF80)
          f80_value(rng, &sig, &se);
        else
          bcd_value(rng, &sig, &se);
        std::memcpy(p + i, &sig, 8);
        std::memcpy(p + i + 8, &se, 2);
      }
      return;
    case Lane::kI16:
    case Lane::kI32:
    case Lane::kI64: {
      const unsigned b = lane == Lane::kI16 ? 2 : lane == Lane::kI32 ? 4 : 8;
      for (unsigned i = 0; i + b <= n; i += b) {
        const uint64_t v = int_value(rng, b);
        std::memcpy(p + i, &v, b);
      }
      return;
    }
    case Lane::kInt:
    default: {
      // Per element size: random bytes, or edge values of 1, 2, 4 or 8-byte elements.
      unsigned b = 1u << rng.below(4);
      while (b > n) b >>= 1;
      for (unsigned i = 0; i + b <= n; i += b) {
        const uint64_t v = rng.chance(1, 3) ? rng.next() : int_value(rng, b);
        std::memcpy(p + i, &v, b);
      }
      return;
    }
  }
}

namespace {

// Exception masks (6 bits): mostly all masked, often some unmasked, sometimes none.
unsigned random_masks(Rng& rng) {
  switch (rng.below(10)) {
    case 0:
      return 0;
    case 1:
    case 2:
    case 3:
      return static_cast<unsigned>(rng.below(64));
    default:
      return 0x3f;
  }
}

}  // namespace

uint32_t random_mxcsr(Rng& rng) {
  uint32_t m = random_masks(rng) << 7;
  m |= static_cast<uint32_t>(rng.below(4)) << 13;             // RC
  if (rng.chance(1, 3)) m |= 1u << 15;                        // FTZ
  if (rng.chance(1, 3)) m |= 1u << 6;                         // DAZ
  if (rng.coin()) m |= static_cast<uint32_t>(rng.below(64));  // sticky flags
  return m;
}

uint16_t random_fcw(Rng& rng) {
  // PC: 00 single, 10 double, 11 extended (01 is reserved).
  static constexpr unsigned kPc[] = {0, 2, 3, 3};
  unsigned c = random_masks(rng) | 0x40;  // bit 6 reads as set (FNINIT: 037FH)
  c |= rng.pick(kPc) << 8;
  c |= static_cast<unsigned>(rng.below(4)) << 10;
  return static_cast<uint16_t>(c);
}

void initial_fp_state(uint8_t* fx) {
  std::memset(fx, 0, kFxSize);
  const uint16_t fcw = 0x37f;
  const uint32_t mxcsr = 0x1f80;
  std::memcpy(fx + fx::kFcw, &fcw, 2);
  std::memcpy(fx + fx::kMxcsr, &mxcsr, 4);
}

void random_fp_state(Rng& rng, uint8_t* fx) {
  std::memset(fx, 0, kFxSize);
  const uint16_t fcw = random_fcw(rng);
  const unsigned top = static_cast<unsigned>(rng.below(8));
  // Sticky exception flags: only masked ones, except in a few cases that start with a pending
  // unmasked exception (ES and B set), which the next waiting x87 instruction must report.
  unsigned flags = rng.coin() ? 0 : static_cast<unsigned>(rng.below(64));
  if (!rng.chance(1, 16)) flags &= fcw & 0x3f;
  if (flags & 0x40) flags &= ~0x40u;
  uint16_t fsw = static_cast<uint16_t>(flags | (top << 11));
  fsw |= static_cast<uint16_t>(rng.next() & 0x4700);  // C0 C1 C2 C3
  if (flags & ~fcw & 0x3f) fsw |= 0x8080;             // ES and B
  std::memcpy(fx + fx::kFcw, &fcw, 2);
  std::memcpy(fx + fx::kFsw, &fsw, 2);
  // Tag: ST(0)..ST(k-1) in use (a stack filled by loads), or any physical registers.
  uint8_t tag = 0;
  if (rng.chance(3, 4)) {
    const unsigned k = static_cast<unsigned>(rng.below(9));
    for (unsigned i = 0; i < k; ++i) tag |= static_cast<uint8_t>(1u << ((top + i) & 7));
  } else {
    tag = static_cast<uint8_t>(rng.next());
  }
  fx[fx::kFtw] = tag;
  for (unsigned i = 0; i < 8; ++i) fill_lanes(rng, Lane::kF80, fx + fx::kSt + 16 * i, 10);
  const uint32_t mxcsr = random_mxcsr(rng);
  std::memcpy(fx + fx::kMxcsr, &mxcsr, 4);
  static constexpr Lane kXmmLanes[] = {Lane::kInt, Lane::kF32, Lane::kF64, Lane::kF32, Lane::kF64};
  for (unsigned i = 0; i < 16; ++i)
    fill_lanes(rng, rng.pick(kXmmLanes), fx + fx::kXmm + 16 * i, 16);
}

}  // namespace difftest
