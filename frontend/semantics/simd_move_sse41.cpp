// SSE4.1 data movement and the SSE4.1 integer forms outside the lane-wise families (SDM vol. 2:
// PMOVSX/PMOVZX, PBLENDW/BLENDPS/BLENDPD, PBLENDVB/BLENDVPS/BLENDVPD, PINSRB/D/Q, PEXTRB/W/D/Q,
// EXTRACTPS, INSERTPS, PTEST, PHMINPOSUW, MPSADBW, MOVNTDQA). All are 66-prefixed XMM forms.
#include "frontend/flags.h"
#include "frontend/semantics/simd_move_vec.h"

namespace umbra {
namespace {

using namespace simd;

// PMOVSX/PMOVZX: the low lanes of type From (sign- or zero-extended) widened to To. The memory
// operand is only as wide as the lanes read (16 * sizeof(From) / sizeof(To) bytes, unaligned).
template <typename From, typename To>
void run_pmovx(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  constexpr unsigned kLanes = 16 / sizeof(To), kBytes = kLanes * sizeof(From);
  const Vec<16> s = read_src<16, kBytes>(cpu, i, Align::kAny);
  Vec<16> r;
  for (unsigned k = 0; k < kLanes; ++k) r.set<To>(k, static_cast<To>(s.get<From>(k)));
  write_reg<16>(cpu, i.dst.reg, r);
  next_rip(cpu, i);
}
template <typename From, typename To>
Handler bind_pmovx(const Insn&) {
  return &run_pmovx<From, To>;
}

// Blends by imm8 bit per lane of type T (PBLENDW: bit k & 7 for word k).
template <typename T>
struct BlendImm {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t imm) {
    Vec<N> r;
    for (unsigned k = 0; k < N / sizeof(T); ++k)
      r.template set<T>(k, ((imm >> (k & 7)) & 1) ? s.template get<T>(k) : d.template get<T>(k));
    return r;
  }
};

// Blends by the sign bit of each lane of the implicit XMM0 (PBLENDVB/BLENDVPS/BLENDVPD).
template <typename T>
void run_blendv(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const Vec<16> s = read_src<16>(cpu, i, Align::kVector);
  const Vec<16> mask = read_reg<16>(cpu, 0);
  Vec<16> r = read_reg<16>(cpu, i.dst.reg);
  for (unsigned k = 0; k < 16 / sizeof(T); ++k)
    if (mask.get<T>(k) >> (8 * sizeof(T) - 1)) r.set<T>(k, s.get<T>(k));
  write_reg<16>(cpu, i.dst.reg, r);
  next_rip(cpu, i);
}
template <typename T>
Handler bind_blendv(const Insn&) {
  return &run_blendv<T>;
}

// PHMINPOSUW: the minimum unsigned word and its (lowest) index; the rest zeroed.
struct Phminposuw {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>&, const Vec<N>& s, uint8_t) {
    unsigned best = 0;
    for (unsigned k = 1; k < 8; ++k)
      if (s.template get<uint16_t>(k) < s.template get<uint16_t>(best)) best = k;
    Vec<N> r{};
    r.template set<uint16_t>(0, s.template get<uint16_t>(best));
    r.template set<uint16_t>(1, static_cast<uint16_t>(best));
    return r;
  }
};

// MPSADBW: eight sums of absolute differences of 4-byte groups; imm8[2] selects the dst byte
// offset (0 or 4), imm8[1:0] the src dword.
struct Mpsadbw {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t imm) {
    const unsigned doff = (imm & 4) ? 4 : 0, soff = (imm & 3) * 4;
    Vec<N> r;
    for (unsigned k = 0; k < 8; ++k) {
      unsigned sum = 0;
      for (unsigned j = 0; j < 4; ++j) {
        const int x = d.b[doff + k + j], y = s.b[soff + j];
        sum += static_cast<unsigned>(x > y ? x - y : y - x);
      }
      r.template set<uint16_t>(k, static_cast<uint16_t>(sum));
    }
    return r;
  }
};

// PTEST: ZF = (dst AND src) == 0, CF = (NOT dst AND src) == 0; AF, OF, PF, SF cleared.
void run_ptest(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const Vec<16> s = read_src<16>(cpu, i, Align::kVector);
  const Vec<16> d = read_reg<16>(cpu, i.dst.reg);
  uint64_t and_bits = 0, andn_bits = 0;
  for (unsigned k = 0; k < 2; ++k) {
    and_bits |= d.get<uint64_t>(k) & s.get<uint64_t>(k);
    andn_bits |= ~d.get<uint64_t>(k) & s.get<uint64_t>(k);
  }
  set_arith_flags(cpu, (and_bits ? 0 : rf::ZF) | (andn_bits ? 0 : rf::CF));
  next_rip(cpu, i);
}

// PINSRB/PINSRD/PINSRQ (3A 20/22, REX.W: Q): a GPR or memory element into lane imm8.
template <typename T>
void run_pinsr(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const T v = i.src.kind == OpKind::Reg ? static_cast<T>(cpu.gpr[i.src.reg & 15])
                                        : read_mem_scalar<T>(cpu, i);
  Vec<16> d = read_reg<16>(cpu, i.dst.reg);
  d.set<T>(i.imm & (16 / sizeof(T) - 1), v);
  write_reg<16>(cpu, i.dst.reg, d);
  next_rip(cpu, i);
}
Handler bind_pinsrd(const Insn& i) {
  return (i.prefixes & pfx::kRexW) ? &run_pinsr<uint64_t> : &run_pinsr<uint32_t>;
}

// PEXTRB/W/D/Q, EXTRACTPS (3A 14-17): lane imm8 of the ModRM.reg XMM to a GPR (zero-extended)
// or to memory of the lane's size.
template <typename T>
void run_pextr(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const T v = read_reg<16>(cpu, i.dst.reg).get<T>(i.imm & (16 / sizeof(T) - 1));
  if (i.src.kind == OpKind::Reg)
    cpu.gpr[i.src.reg & 15] = v;
  else
    write_mem_scalar<T>(cpu, i, v);
  next_rip(cpu, i);
}
Handler bind_pextrd(const Insn& i) {
  return (i.prefixes & pfx::kRexW) ? &run_pextr<uint64_t> : &run_pextr<uint32_t>;
}

// INSERTPS (3A 21): source dword imm8[7:6] (register) or the m32, into lane imm8[5:4], then
// lanes in imm8[3:0] zeroed.
void run_insertps(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const uint8_t imm = static_cast<uint8_t>(i.imm);
  const uint32_t v = i.src.kind == OpKind::Reg
                         ? read_reg<16>(cpu, i.src.reg).get<uint32_t>((imm >> 6) & 3)
                         : read_mem_scalar<uint32_t>(cpu, i);
  Vec<16> d = read_reg<16>(cpu, i.dst.reg);
  d.set<uint32_t>((imm >> 4) & 3, v);
  for (unsigned k = 0; k < 4; ++k)
    if ((imm >> k) & 1) d.set<uint32_t>(k, 0);
  write_reg<16>(cpu, i.dst.reg, d);
  next_rip(cpu, i);
}

// MOVNTDQA (38 2A): an aligned 16-byte load (memory only).
Handler bind_movntdqa(const Insn& i) {
  if (i.src.kind != OpKind::Mem) return nullptr;
  return [](CpuState& cpu, const Insn& insn) {
    check_sse_available(cpu);
    write_reg<16>(cpu, insn.dst.reg, read_mem_vec<16>(cpu, insn, Align::kVector));
    next_rip(cpu, insn);
  };
}

template <Handler H>
Handler always(const Insn&) {
  return H;
}

}  // namespace

void register_simd_move_sse41(SimdTable& t) {
  constexpr SimdMap m38 = kMap0F38, m3a = kMap0F3A;
  register_simd(t, m38, 0x20, kCol66, false, &bind_pmovx<int8_t, int16_t>);
  register_simd(t, m38, 0x21, kCol66, false, &bind_pmovx<int8_t, int32_t>);
  register_simd(t, m38, 0x22, kCol66, false, &bind_pmovx<int8_t, int64_t>);
  register_simd(t, m38, 0x23, kCol66, false, &bind_pmovx<int16_t, int32_t>);
  register_simd(t, m38, 0x24, kCol66, false, &bind_pmovx<int16_t, int64_t>);
  register_simd(t, m38, 0x25, kCol66, false, &bind_pmovx<int32_t, int64_t>);
  register_simd(t, m38, 0x30, kCol66, false, &bind_pmovx<uint8_t, uint16_t>);
  register_simd(t, m38, 0x31, kCol66, false, &bind_pmovx<uint8_t, uint32_t>);
  register_simd(t, m38, 0x32, kCol66, false, &bind_pmovx<uint8_t, uint64_t>);
  register_simd(t, m38, 0x33, kCol66, false, &bind_pmovx<uint16_t, uint32_t>);
  register_simd(t, m38, 0x34, kCol66, false, &bind_pmovx<uint16_t, uint64_t>);
  register_simd(t, m38, 0x35, kCol66, false, &bind_pmovx<uint32_t, uint64_t>);
  register_simd(t, m38, 0x10, kCol66, false, &bind_blendv<uint8_t>);
  register_simd(t, m38, 0x14, kCol66, false, &bind_blendv<uint32_t>);
  register_simd(t, m38, 0x15, kCol66, false, &bind_blendv<uint64_t>);
  register_simd(t, m38, 0x17, kCol66, false, &always<&run_ptest>);
  register_simd(t, m38, 0x2A, kCol66, false, &bind_movntdqa);
  register_sse_only<Phminposuw>(t, m38, 0x41);
  register_sse_only<BlendImm<uint32_t>>(t, m3a, 0x0C);  // BLENDPS
  register_sse_only<BlendImm<uint64_t>>(t, m3a, 0x0D);  // BLENDPD
  register_sse_only<BlendImm<uint16_t>>(t, m3a, 0x0E);  // PBLENDW
  register_sse_only<Mpsadbw>(t, m3a, 0x42);
  register_simd(t, m3a, 0x20, kCol66, false, &always<&run_pinsr<uint8_t>>);
  register_simd(t, m3a, 0x22, kCol66, false, &bind_pinsrd);
  register_simd(t, m3a, 0x21, kCol66, false, &always<&run_insertps>);
  register_simd(t, m3a, 0x14, kCol66, false, &always<&run_pextr<uint8_t>>);
  register_simd(t, m3a, 0x15, kCol66, false, &always<&run_pextr<uint16_t>>);
  register_simd(t, m3a, 0x16, kCol66, false, &bind_pextrd);
  register_simd(t, m3a, 0x17, kCol66, false, &always<&run_pextr<uint32_t>>);  // EXTRACTPS
}

}  // namespace umbra
