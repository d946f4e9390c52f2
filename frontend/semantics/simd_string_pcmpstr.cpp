// PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM (SSE4.2; SDM vol. 2, 4.1 "Imm8 control byte
// operation for PCMPESTRI / PCMPESTRM / PCMPISTRI / PCMPISTRM", and the instructions):
// 66 0F 3A 60 (ESTRM), 61 (ESTRI), 62 (ISTRM), 63 (ISTRI).
//
// Operand 1 is the XMM register of ModRM.reg, operand 2 the XMM register or 128-bit memory
// operand of ModRM.r/m (no alignment requirement). imm8: [1:0] data format (unsigned bytes,
// unsigned words, signed bytes, signed words), [3:2] aggregation (equal any, ranges, equal
// each, equal ordered), [5:4] polarity, [6] output selection. The explicit-length forms take
// the lengths from EAX/EDX (RAX/RDX with REX.W) as absolute values saturated to the element
// count; the implicit forms end each string at its first zero element.
#include <cstdint>
#include <cstring>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/fp_checks.h"
#include "frontend/semantics/simd_string.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/segmentation_checks.h"

namespace umbra {

namespace {

struct Strings {
  int32_t a[16], b[16];  // operand 1, operand 2 elements (sign- or zero-extended)
  unsigned n;            // elements per operand: 16 bytes or 8 words
  unsigned la, lb;       // valid lengths
};

int32_t element(const uint8_t* v, unsigned k, unsigned fmt) {
  switch (fmt) {
    case 0:
      return v[k];
    case 1:
      return static_cast<uint16_t>(v[2 * k] | (v[2 * k + 1] << 8));
    case 2:
      return static_cast<int8_t>(v[k]);
    default:
      return static_cast<int16_t>(static_cast<uint16_t>(v[2 * k] | (v[2 * k + 1] << 8)));
  }
}

// Explicit length: |reg| saturated to n (the register read as a signed 32- or 64-bit value).
unsigned explicit_length(uint64_t reg, bool wide, unsigned n) {
  const int64_t s = wide ? static_cast<int64_t>(reg) : static_cast<int32_t>(reg);
  const uint64_t mag = s < 0 ? 0 - static_cast<uint64_t>(s) : static_cast<uint64_t>(s);
  return mag > n ? n : static_cast<unsigned>(mag);
}

unsigned implicit_length(const int32_t* e, unsigned n) {
  for (unsigned k = 0; k < n; ++k)
    if (e[k] == 0) return k;
  return n;
}

// IntRes1 per aggregation with the validity overrides of SDM vol. 2, table 4-7.
uint32_t aggregate(const Strings& s, unsigned agg) {
  const unsigned n = s.n;
  uint32_t res = 0;
  switch (agg) {
    case 0:  // equal any: operand-2 element j is in the set of operand 1
      for (unsigned j = 0; j < s.lb; ++j)
        for (unsigned i = 0; i < s.la; ++i)
          if (s.b[j] == s.a[i]) res |= 1u << j;
      break;
    case 1:  // ranges: operand 1 holds [low, high] pairs
      for (unsigned j = 0; j < s.lb; ++j)
        for (unsigned i = 0; i + 1 < n; i += 2) {
          const bool ge = i < s.la && s.b[j] >= s.a[i];
          const bool le = i + 1 < s.la && s.b[j] <= s.a[i + 1];
          if (ge && le) res |= 1u << j;
        }
      break;
    case 2:  // equal each: both invalid compares true, one invalid false
      for (unsigned k = 0; k < n; ++k) {
        const bool va = k < s.la, vb = k < s.lb;
        if ((!va && !vb) || (va && vb && s.a[k] == s.b[k])) res |= 1u << k;
      }
      break;
    default:  // equal ordered: operand 1 occurs in operand 2 at position j
      for (unsigned j = 0; j < n; ++j) {
        bool match = true;
        for (unsigned k = 0; j + k < n && match; ++k) {
          if (k >= s.la) break;  // operand 1 invalid: true
          if (j + k >= s.lb)
            match = false;  // operand 1 valid, operand 2 invalid: false
          else if (s.a[k] != s.b[j + k])
            match = false;
        }
        if (match) res |= 1u << j;
      }
      break;
  }
  return res;
}

uint32_t apply_polarity(uint32_t r, unsigned pol, unsigned n, unsigned lb) {
  const uint32_t all = (1u << n) - 1;
  switch (pol) {
    case 1:
      return ~r & all;
    case 3:
      return r ^ ((1u << lb) - 1);  // negate only the valid operand-2 positions
    default:
      return r;
  }
}

template <bool Explicit, bool Index>
void pcmpstr(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::SSE4_2) || (i.prefixes & pfx::kLock)) raise_fault(cpu, kUD);
  check_sse_available(cpu);
  uint8_t b2[16];
  if (i.src.kind == OpKind::Mem) {
    const uint64_t lin = linear_address(cpu, i, 16, false);
    const uint64_t lo = read_mem_seg<uint64_t>(cpu, lin, i.seg);
    const uint64_t hi =
        read_mem_seg<uint64_t>(cpu, cpu.mode64 ? lin + 8 : static_cast<uint32_t>(lin + 8), i.seg);
    std::memcpy(b2, &lo, 8);
    std::memcpy(b2 + 8, &hi, 8);
  } else {
    std::memcpy(b2, cpu.xmm[i.src.reg].b, 16);
  }
  const unsigned imm = static_cast<uint8_t>(i.imm);
  const unsigned fmt = imm & 3;
  Strings s;
  s.n = (fmt & 1) ? 8 : 16;
  for (unsigned k = 0; k < s.n; ++k) {
    s.a[k] = element(cpu.xmm[i.dst.reg].b, k, fmt);
    s.b[k] = element(b2, k, fmt);
  }
  if constexpr (Explicit) {
    const bool wide = i.prefixes & pfx::kRexW;
    s.la = explicit_length(cpu.gpr[RAX], wide, s.n);
    s.lb = explicit_length(cpu.gpr[RDX], wide, s.n);
  } else {
    s.la = implicit_length(s.a, s.n);
    s.lb = implicit_length(s.b, s.n);
  }
  const uint32_t res = apply_polarity(aggregate(s, (imm >> 2) & 3), (imm >> 4) & 3, s.n, s.lb);
  if constexpr (Index) {
    unsigned idx = s.n;
    if (res)
      idx = (imm & 0x40) ? 31 - static_cast<unsigned>(__builtin_clz(res))
                         : static_cast<unsigned>(__builtin_ctz(res));
    cpu.gpr[RCX] = idx;
  } else {
    XmmReg out{};
    if (imm & 0x40) {
      const unsigned w = 16 / s.n;
      for (unsigned k = 0; k < s.n; ++k)
        if ((res >> k) & 1) std::memset(out.b + w * k, 0xFF, w);
    } else {
      out.b[0] = static_cast<uint8_t>(res);
      out.b[1] = static_cast<uint8_t>(res >> 8);
    }
    cpu.xmm[0] = out;
  }
  uint64_t f = 0;
  if (res) f |= rf::CF;
  if (s.lb < s.n) f |= rf::ZF;
  if (s.la < s.n) f |= rf::SF;
  if (res & 1) f |= rf::OF;
  set_arith_flags(cpu, f);
  next_rip(cpu, i);
}

template <bool Explicit, bool Index>
Handler bind_pcmpstr(const Insn& i) {
  if (i.prefixes & pfx::kVex) return nullptr;  // VPCMPxSTRx: AVX, not implemented
  return &pcmpstr<Explicit, Index>;
}

}  // namespace

void register_pcmpstr(SimdTable& t) {
  register_simd(t, kMap0F3A, 0x60, kCol66, false, &bind_pcmpstr<true, false>);
  register_simd(t, kMap0F3A, 0x61, kCol66, false, &bind_pcmpstr<true, true>);
  register_simd(t, kMap0F3A, 0x62, kCol66, false, &bind_pcmpstr<false, false>);
  register_simd(t, kMap0F3A, 0x63, kCol66, false, &bind_pcmpstr<false, true>);
}

}  // namespace umbra
