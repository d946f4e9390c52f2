// SSE/SSE2/SSE3 data movement between XMM/MMX registers, memory and general-purpose registers
// (SDM vol. 2, MOVAPS..MOVQ2DQ; vol. 1, 10.4.1 and 11.4.1). Whole-vector moves differ only in
// the alignment rule, so one template covers MOVAPS/MOVAPD/MOVDQA (aligned), MOVUPS/MOVUPD/
// MOVDQU/LDDQU (unaligned) and the non-temporal stores (MOVNTPS/PD/DQ: aligned plain stores).
#include <limits>

#include "frontend/semantics/simd_move_vec.h"

namespace umbra {
namespace {

using namespace simd;

// ---- whole-vector moves ----
// Load: dst reg <- r/m.
template <unsigned N, Align A>
void run_load(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  write_reg<N>(cpu, i.dst.reg, read_src<N>(cpu, i, A));
  finish<N>(cpu);
  next_rip(cpu, i);
}
// Store: r/m <- src reg (the ModRM.reg register, in Insn::dst).
template <unsigned N, Align A>
void run_store(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  const Vec<N> v = read_reg<N>(cpu, i.dst.reg);
  if (i.src.kind == OpKind::Reg)
    write_reg<N>(cpu, i.src.reg, v);
  else
    write_mem_vec<N>(cpu, i, v, A);
  finish<N>(cpu);
  next_rip(cpu, i);
}
template <unsigned N, Align A>
Handler bind_load(const Insn&) {
  return &run_load<N, A>;
}
template <unsigned N, Align A>
Handler bind_store(const Insn&) {
  return &run_store<N, A>;
}
// Non-temporal stores exist only with a memory destination (the decoder's Mx form).
template <unsigned N>
Handler bind_nt_store(const Insn& i) {
  return i.src.kind == OpKind::Mem ? &run_store<N, Align::kVector> : nullptr;
}

// ---- scalar moves MOVSS/MOVSD (F3/F2 0F 10/11) ----
// Register to register merges the low element; a load from memory zeroes the rest of the
// register; a store writes only the element (SDM vol. 2, MOVSS/MOVSD).
template <typename T>
void run_scalar_load(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  Vec<16> d = read_reg<16>(cpu, i.dst.reg);
  if (i.src.kind == OpKind::Reg) {
    d.set<T>(0, read_reg<16>(cpu, i.src.reg).get<T>(0));
  } else {
    const T v = read_mem_scalar<T>(cpu, i);
    d = Vec<16>{};
    d.set<T>(0, v);
  }
  write_reg<16>(cpu, i.dst.reg, d);
  next_rip(cpu, i);
}
template <typename T>
void run_scalar_store(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const T v = read_reg<16>(cpu, i.dst.reg).get<T>(0);
  if (i.src.kind == OpKind::Reg) {
    Vec<16> d = read_reg<16>(cpu, i.src.reg);
    d.set<T>(0, v);
    write_reg<16>(cpu, i.src.reg, d);
  } else {
    write_mem_scalar<T>(cpu, i, v);
  }
  next_rip(cpu, i);
}
template <typename T>
Handler bind_scalar_load(const Insn&) {
  return &run_scalar_load<T>;
}
template <typename T>
Handler bind_scalar_store(const Insn&) {
  return &run_scalar_store<T>;
}

// ---- MOVD/MOVQ between general-purpose registers/memory and MMX/XMM (0F 6E/7E) ----
// REX.W selects the 64-bit form (MOVQ); the vector register is zero-extended on loads.
template <unsigned N, typename T>
void run_movd_load(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  const T v = i.src.kind == OpKind::Reg ? read_gpr<T>(cpu, i.src.reg) : read_mem_scalar<T>(cpu, i);
  Vec<N> d{};
  d.template set<T>(0, v);
  write_reg<N>(cpu, i.dst.reg, d);
  finish<N>(cpu);
  next_rip(cpu, i);
}
template <unsigned N, typename T>
void run_movd_store(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  const T v = read_reg<N>(cpu, i.dst.reg).template get<T>(0);
  if (i.src.kind == OpKind::Reg)
    write_gpr<T>(cpu, i.src.reg, v);
  else
    write_mem_scalar<T>(cpu, i, v);
  finish<N>(cpu);
  next_rip(cpu, i);
}
template <unsigned N>
Handler bind_movd_load(const Insn& i) {
  if (i.prefixes & pfx::kRexW) return &run_movd_load<N, uint64_t>;
  return &run_movd_load<N, uint32_t>;
}
template <unsigned N>
Handler bind_movd_store(const Insn& i) {
  if (i.prefixes & pfx::kRexW) return &run_movd_store<N, uint64_t>;
  return &run_movd_store<N, uint32_t>;
}

// MOVQ xmm, xmm/m64 (F3 0F 7E): low quadword, upper zeroed.
void run_movq_load_xmm(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const uint64_t v = i.src.kind == OpKind::Reg ? read_reg<16>(cpu, i.src.reg).get<uint64_t>(0)
                                               : read_mem_scalar<uint64_t>(cpu, i);
  Vec<16> d{};
  d.set<uint64_t>(0, v);
  write_reg<16>(cpu, i.dst.reg, d);
  next_rip(cpu, i);
}
// MOVQ xmm/m64, xmm (66 0F D6): a register destination gets its upper quadword zeroed.
void run_movq_store_xmm(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const uint64_t v = read_reg<16>(cpu, i.dst.reg).get<uint64_t>(0);
  if (i.src.kind == OpKind::Reg) {
    Vec<16> d{};
    d.set<uint64_t>(0, v);
    write_reg<16>(cpu, i.src.reg, d);
  } else {
    write_mem_scalar<uint64_t>(cpu, i, v);
  }
  next_rip(cpu, i);
}

// MOVQ2DQ xmm, mm (F3 0F D6) and MOVDQ2Q mm, xmm (F2 0F D6): an MMX state transition, with the
// SSE availability rules (SDM vol. 2, MOVQ2DQ: #UD on CR0.EM or !CR4.OSFXSR, #NM on CR0.TS).
void run_movq2dq(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  check_mmx_pending_mf(cpu);
  Vec<16> d{};
  d.set<uint64_t>(0, read_mm(cpu, i.src.reg));
  write_reg<16>(cpu, i.dst.reg, d);
  mmx_enter(cpu);
  next_rip(cpu, i);
}
void run_movdq2q(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  check_mmx_pending_mf(cpu);
  write_mm(cpu, i.dst.reg, read_reg<16>(cpu, i.src.reg).get<uint64_t>(0));
  mmx_enter(cpu);
  next_rip(cpu, i);
}

// MOVNTI m32/m64, r (0F C3): a plain store; SSE2 but not subject to CR0.EM/CR4.OSFXSR
// (SDM vol. 2, MOVNTI: no #NM/#UD conditions from CR0/CR4).
template <typename T>
void run_movnti(CpuState& cpu, const Insn& i) {
  write_mem_scalar<T>(cpu, i, read_gpr<T>(cpu, i.src.reg));
  next_rip(cpu, i);
}
Handler bind_movnti(const Insn& i) {
  if (i.dst.kind != OpKind::Mem || i.src.kind != OpKind::Reg) return nullptr;
  return i.opsize == 8 ? &run_movnti<uint64_t> : &run_movnti<uint32_t>;
}

// ---- half moves (0F 12/13/16/17) ----
// Loads: `high` selects the quadword written. Register forms: MOVHLPS (0F 12: low <- src high)
// and MOVLHPS (0F 16: high <- src low).
template <bool kHigh>
void run_half_load(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  Vec<16> d = read_reg<16>(cpu, i.dst.reg);
  const uint64_t v = i.src.kind == OpKind::Reg
                         ? read_reg<16>(cpu, i.src.reg).get<uint64_t>(kHigh ? 0 : 1)
                         : read_mem_scalar<uint64_t>(cpu, i);
  d.set<uint64_t>(kHigh ? 1 : 0, v);
  write_reg<16>(cpu, i.dst.reg, d);
  next_rip(cpu, i);
}
template <bool kHigh>
void run_half_store(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  write_mem_scalar<uint64_t>(cpu, i, read_reg<16>(cpu, i.dst.reg).get<uint64_t>(kHigh ? 1 : 0));
  next_rip(cpu, i);
}
template <bool kHigh>
Handler bind_half_load(const Insn&) {
  return &run_half_load<kHigh>;
}
// The 66 forms (MOVLPD/MOVHPD) have no register form.
template <bool kHigh>
Handler bind_half_load_mem(const Insn& i) {
  return i.src.kind == OpKind::Mem ? &run_half_load<kHigh> : nullptr;
}
template <bool kHigh>
Handler bind_half_store(const Insn& i) {
  return i.src.kind == OpKind::Mem ? &run_half_store<kHigh> : nullptr;
}

// ---- SSE3 duplicating loads ----
// MOVSLDUP (F3 0F 12) / MOVSHDUP (F3 0F 16): even / odd dwords duplicated; aligned m128.
template <unsigned kOdd>
struct DupDwords {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>&, const Vec<N>& s, uint8_t) {
    Vec<N> r;
    for (unsigned k = 0; k < N / 4; ++k)
      r.template set<uint32_t>(k, s.template get<uint32_t>((k & ~1u) + kOdd));
    return r;
  }
};
// MOVDDUP (F2 0F 12): low quadword of xmm/m64 into both halves.
void run_movddup(CpuState& cpu, const Insn& i) {
  check_sse_available(cpu);
  const uint64_t v = i.src.kind == OpKind::Reg ? read_reg<16>(cpu, i.src.reg).get<uint64_t>(0)
                                               : read_mem_scalar<uint64_t>(cpu, i);
  Vec<16> d;
  d.set<uint64_t>(0, v);
  d.set<uint64_t>(1, v);
  write_reg<16>(cpu, i.dst.reg, d);
  next_rip(cpu, i);
}

// ---- sign-bit masks to a general-purpose register ----
// MOVMSKPS/MOVMSKPD (0F 50) and PMOVMSKB (0F D7): the destination (ModRM.reg) is a GPR, zero-
// extended to 64 bits; the source is a register.
template <unsigned N, typename T>
void run_movmsk(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  const Vec<N> s = read_reg<N>(cpu, i.src.reg);
  uint64_t m = 0;
  for (unsigned k = 0; k < N / sizeof(T); ++k)
    m |= static_cast<uint64_t>(s.template get<T>(k) >> (8 * sizeof(T) - 1)) << k;
  cpu.gpr[i.dst.reg & 15] = m;
  finish<N>(cpu);
  next_rip(cpu, i);
}
template <unsigned N, typename T>
Handler bind_movmsk(const Insn& i) {
  return i.src.kind == OpKind::Reg ? &run_movmsk<N, T> : nullptr;
}

// ---- PINSRW / PEXTRW (0F C4 / C5) ----
template <unsigned N>
void run_pinsrw(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  const uint16_t v = i.src.kind == OpKind::Reg ? static_cast<uint16_t>(cpu.gpr[i.src.reg & 15])
                                               : read_mem_scalar<uint16_t>(cpu, i);
  Vec<N> d = read_reg<N>(cpu, i.dst.reg);
  d.template set<uint16_t>(i.imm & (N / 2 - 1), v);
  write_reg<N>(cpu, i.dst.reg, d);
  finish<N>(cpu);
  next_rip(cpu, i);
}
template <unsigned N>
void run_pextrw(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  cpu.gpr[i.dst.reg & 15] = read_reg<N>(cpu, i.src.reg).template get<uint16_t>(i.imm & (N / 2 - 1));
  finish<N>(cpu);
  next_rip(cpu, i);
}
template <unsigned N>
Handler bind_pinsrw(const Insn&) {
  return &run_pinsrw<N>;
}
template <unsigned N>
Handler bind_pextrw(const Insn& i) {
  return i.src.kind == OpKind::Reg ? &run_pextrw<N> : nullptr;
}

// ---- MASKMOVQ / MASKMOVDQU (0F F7): byte-masked store to DS:rDI ----
// Every selected byte's write permission is checked before any byte is written.
template <unsigned N>
void run_maskmov(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  const Vec<N> data = read_reg<N>(cpu, i.dst.reg);
  const Vec<N> mask = read_reg<N>(cpu, i.src.reg);
  const uint64_t ea = truncate_address(cpu.gpr[RDI], i.addr_size);
  MemRef refs[N]{};
  for (unsigned k = 0; k < N; ++k) {
    if (!(mask.b[k] & 0x80)) continue;
    const uint64_t la = seg_linear(cpu, i.seg, truncate_address(ea + k, i.addr_size), 1, true);
    refs[k] = prepare_rmw_seg<uint8_t>(cpu, la, i.seg);
  }
  for (unsigned k = 0; k < N; ++k)
    if (mask.b[k] & 0x80) store<uint8_t>(cpu, refs[k], data.b[k]);
  finish<N>(cpu);
  next_rip(cpu, i);
}
template <unsigned N>
Handler bind_maskmov(const Insn& i) {
  return i.src.kind == OpKind::Reg ? &run_maskmov<N> : nullptr;
}

// ---- shuffles, unpacks, packs, logic on whole vectors ----
// UNPCKL*/PUNPCKL* (kHigh = false) and UNPCKH*/PUNPCKH*: interleave the low/high halves.
template <typename T, bool kHigh>
struct Unpack {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    constexpr unsigned kLanes = N / sizeof(T), kBase = kHigh ? kLanes / 2 : 0;
    Vec<N> r;
    for (unsigned k = 0; k < kLanes / 2; ++k) {
      r.template set<T>(2 * k, d.template get<T>(kBase + k));
      r.template set<T>(2 * k + 1, s.template get<T>(kBase + k));
    }
    return r;
  }
};
// PACKSS*/PACKUS*: Wide lanes of dst then src, saturated to Narrow.
template <typename Wide, typename Narrow>
struct Pack {
  static Narrow sat(Wide v) {
    if (v < static_cast<Wide>(std::numeric_limits<Narrow>::min()))
      return std::numeric_limits<Narrow>::min();
    if (v > static_cast<Wide>(std::numeric_limits<Narrow>::max()))
      return std::numeric_limits<Narrow>::max();
    return static_cast<Narrow>(v);
  }
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    constexpr unsigned kIn = N / sizeof(Wide);
    Vec<N> r;
    for (unsigned k = 0; k < kIn; ++k) {
      r.template set<Narrow>(k, sat(d.template get<Wide>(k)));
      r.template set<Narrow>(kIn + k, sat(s.template get<Wide>(k)));
    }
    return r;
  }
};
// Bitwise logic on the whole vector (ANDPS..XORPD; the integer P* forms live in simd_int.cpp).
template <int kOp>  // 0 and, 1 andn, 2 or, 3 xor
struct Bitwise {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    Vec<N> r;
    for (unsigned k = 0; k < N / 8; ++k) {
      const uint64_t a = d.template get<uint64_t>(k), b = s.template get<uint64_t>(k);
      r.template set<uint64_t>(k, kOp == 0 ? a & b : kOp == 1 ? ~a & b : kOp == 2 ? a | b : a ^ b);
    }
    return r;
  }
};
// SHUFPS: two dwords from dst, two from src, selected by imm8 2-bit fields.
struct Shufps {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t imm) {
    Vec<N> r;
    r.template set<uint32_t>(0, d.template get<uint32_t>(imm & 3));
    r.template set<uint32_t>(1, d.template get<uint32_t>((imm >> 2) & 3));
    r.template set<uint32_t>(2, s.template get<uint32_t>((imm >> 4) & 3));
    r.template set<uint32_t>(3, s.template get<uint32_t>((imm >> 6) & 3));
    return r;
  }
};
struct Shufpd {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t imm) {
    Vec<N> r;
    r.template set<uint64_t>(0, d.template get<uint64_t>(imm & 1));
    r.template set<uint64_t>(1, s.template get<uint64_t>((imm >> 1) & 1));
    return r;
  }
};
// PSHUFW/PSHUFD (all lanes of type T from src by imm8), PSHUFLW/PSHUFHW (words of one half,
// kFirst = first shuffled word, the other half copied).
template <typename T, unsigned kFirst = 0, unsigned kCount = 0>
struct ShuffleImm {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>&, const Vec<N>& s, uint8_t imm) {
    constexpr unsigned kN = kCount ? kCount : 4;
    Vec<N> r = s;
    for (unsigned k = 0; k < kN; ++k)
      r.template set<T>(kFirst + k, s.template get<T>(kFirst + ((imm >> (2 * k)) & 3)));
    return r;
  }
};
// PSHUFB (SSSE3): bytes of dst selected by src bytes (bit 7 zeroes; index modulo N).
struct Pshufb {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t) {
    Vec<N> r;
    for (unsigned k = 0; k < N; ++k) r.b[k] = (s.b[k] & 0x80) ? 0 : d.b[s.b[k] & (N - 1)];
    return r;
  }
};
// PALIGNR (SSSE3): (dst:src) shifted right by imm8 bytes, low N bytes kept.
struct Palignr {
  template <unsigned N>
  static Vec<N> apply(const Vec<N>& d, const Vec<N>& s, uint8_t imm) {
    Vec<N> r;
    for (unsigned k = 0; k < N; ++k) {
      const unsigned from = k + imm;
      r.b[k] = from < N ? s.b[from] : (from < 2 * N ? d.b[from - N] : 0);
    }
    return r;
  }
};

template <unsigned N, class Op, Align A = Align::kVector, unsigned M = N>
void reg_op(SimdTable& t, SimdMap m, uint8_t opcode, SimdColumn c) {
  register_simd(t, m, opcode, c, false, &bind_binary<N, Op, A, M>);
}

void register_unpacks(SimdTable& t) {
  // MMX low unpacks read only 32 bits of memory (PUNPCKLBW mm, mm/m32).
  reg_op<8, Unpack<uint8_t, false>, Align::kAny, 4>(t, kMap0F, 0x60, kColNone);
  reg_op<8, Unpack<uint16_t, false>, Align::kAny, 4>(t, kMap0F, 0x61, kColNone);
  reg_op<8, Unpack<uint32_t, false>, Align::kAny, 4>(t, kMap0F, 0x62, kColNone);
  reg_op<16, Unpack<uint8_t, false>>(t, kMap0F, 0x60, kCol66);
  reg_op<16, Unpack<uint16_t, false>>(t, kMap0F, 0x61, kCol66);
  reg_op<16, Unpack<uint32_t, false>>(t, kMap0F, 0x62, kCol66);
  register_mmx_sse2<Unpack<uint8_t, true>>(t, kMap0F, 0x68);
  register_mmx_sse2<Unpack<uint16_t, true>>(t, kMap0F, 0x69);
  register_mmx_sse2<Unpack<uint32_t, true>>(t, kMap0F, 0x6A);
  reg_op<16, Unpack<uint64_t, false>>(t, kMap0F, 0x6C, kCol66);
  reg_op<16, Unpack<uint64_t, true>>(t, kMap0F, 0x6D, kCol66);
  reg_op<16, Unpack<uint32_t, false>>(t, kMap0F, 0x14, kColNone);  // UNPCKLPS
  reg_op<16, Unpack<uint64_t, false>>(t, kMap0F, 0x14, kCol66);    // UNPCKLPD
  reg_op<16, Unpack<uint32_t, true>>(t, kMap0F, 0x15, kColNone);   // UNPCKHPS
  reg_op<16, Unpack<uint64_t, true>>(t, kMap0F, 0x15, kCol66);     // UNPCKHPD
  register_mmx_sse2<Pack<int16_t, int8_t>>(t, kMap0F, 0x63);       // PACKSSWB
  register_mmx_sse2<Pack<int16_t, uint8_t>>(t, kMap0F, 0x67);      // PACKUSWB
  register_mmx_sse2<Pack<int32_t, int16_t>>(t, kMap0F, 0x6B);      // PACKSSDW
  reg_op<16, Pack<int32_t, uint16_t>>(t, kMap0F38, 0x2B, kCol66);  // PACKUSDW (SSE4.1)
}

void register_shuffles(SimdTable& t) {
  for (SimdColumn c : {kColNone, kCol66}) {
    reg_op<16, Bitwise<0>>(t, kMap0F, 0x54, c);
    reg_op<16, Bitwise<1>>(t, kMap0F, 0x55, c);
    reg_op<16, Bitwise<2>>(t, kMap0F, 0x56, c);
    reg_op<16, Bitwise<3>>(t, kMap0F, 0x57, c);
  }
  reg_op<16, Shufps>(t, kMap0F, 0xC6, kColNone);
  reg_op<16, Shufpd>(t, kMap0F, 0xC6, kCol66);
  reg_op<8, ShuffleImm<uint16_t>>(t, kMap0F, 0x70, kColNone);       // PSHUFW
  reg_op<16, ShuffleImm<uint32_t>>(t, kMap0F, 0x70, kCol66);        // PSHUFD
  reg_op<16, ShuffleImm<uint16_t, 4, 4>>(t, kMap0F, 0x70, kColF3);  // PSHUFHW
  reg_op<16, ShuffleImm<uint16_t, 0, 4>>(t, kMap0F, 0x70, kColF2);  // PSHUFLW
  register_mmx_sse2<Pshufb>(t, kMap0F38, 0x00);
  register_mmx_sse2<Palignr>(t, kMap0F3A, 0x0F);
  reg_op<16, DupDwords<0>>(t, kMap0F, 0x12, kColF3);  // MOVSLDUP
  reg_op<16, DupDwords<1>>(t, kMap0F, 0x16, kColF3);  // MOVSHDUP
}

void register_moves(SimdTable& t) {
  constexpr Align kA = Align::kVector, kU = Align::kAny;
  for (SimdColumn c : {kColNone, kCol66}) {
    register_simd(t, kMap0F, 0x10, c, false, &bind_load<16, kU>);  // MOVUPS/MOVUPD
    register_simd(t, kMap0F, 0x11, c, false, &bind_store<16, kU>);
    register_simd(t, kMap0F, 0x28, c, false, &bind_load<16, kA>);  // MOVAPS/MOVAPD
    register_simd(t, kMap0F, 0x29, c, false, &bind_store<16, kA>);
    register_simd(t, kMap0F, 0x2B, c, false, &bind_nt_store<16>);  // MOVNTPS/MOVNTPD
  }
  register_simd(t, kMap0F, 0x10, kColF3, false, &bind_scalar_load<uint32_t>);  // MOVSS
  register_simd(t, kMap0F, 0x11, kColF3, false, &bind_scalar_store<uint32_t>);
  register_simd(t, kMap0F, 0x10, kColF2, false, &bind_scalar_load<uint64_t>);  // MOVSD
  register_simd(t, kMap0F, 0x11, kColF2, false, &bind_scalar_store<uint64_t>);
  register_simd(t, kMap0F, 0x6F, kColNone, false, &bind_load<8, kU>);  // MOVQ mm, mm/m64
  register_simd(t, kMap0F, 0x7F, kColNone, false, &bind_store<8, kU>);
  register_simd(t, kMap0F, 0x6F, kCol66, false, &bind_load<16, kA>);  // MOVDQA
  register_simd(t, kMap0F, 0x7F, kCol66, false, &bind_store<16, kA>);
  register_simd(t, kMap0F, 0x6F, kColF3, false, &bind_load<16, kU>);  // MOVDQU
  register_simd(t, kMap0F, 0x7F, kColF3, false, &bind_store<16, kU>);
  register_simd(t, kMap0F, 0xF0, kColF2, false, &bind_load<16, kU>);   // LDDQU (Mx: memory only)
  register_simd(t, kMap0F, 0xE7, kColNone, false, &bind_nt_store<8>);  // MOVNTQ
  register_simd(t, kMap0F, 0xE7, kCol66, false, &bind_nt_store<16>);   // MOVNTDQ
  register_simd(t, kMap0F, 0xC3, kColNone, false, &bind_movnti);
  register_simd(t, kMap0F, 0x6E, kColNone, false, &bind_movd_load<8>);
  register_simd(t, kMap0F, 0x6E, kCol66, false, &bind_movd_load<16>);
  register_simd(t, kMap0F, 0x7E, kColNone, false, &bind_movd_store<8>);
  register_simd(t, kMap0F, 0x7E, kCol66, false, &bind_movd_store<16>);
  register_simd(t, kMap0F, 0x7E, kColF3, false,
                [](const Insn&) -> Handler { return &run_movq_load_xmm; });
  register_simd(t, kMap0F, 0xD6, kCol66, false,
                [](const Insn&) -> Handler { return &run_movq_store_xmm; });
  register_simd(t, kMap0F, 0xD6, kColF3, false,
                [](const Insn&) -> Handler { return &run_movq2dq; });
  register_simd(t, kMap0F, 0xD6, kColF2, false,
                [](const Insn&) -> Handler { return &run_movdq2q; });
  register_simd(t, kMap0F, 0x12, kColNone, false, &bind_half_load<false>);    // MOVLPS/MOVHLPS
  register_simd(t, kMap0F, 0x16, kColNone, false, &bind_half_load<true>);     // MOVHPS/MOVLHPS
  register_simd(t, kMap0F, 0x12, kCol66, false, &bind_half_load_mem<false>);  // MOVLPD
  register_simd(t, kMap0F, 0x16, kCol66, false, &bind_half_load_mem<true>);   // MOVHPD
  for (SimdColumn c : {kColNone, kCol66}) {
    register_simd(t, kMap0F, 0x13, c, false, &bind_half_store<false>);  // MOVLPS/MOVLPD store
    register_simd(t, kMap0F, 0x17, c, false, &bind_half_store<true>);   // MOVHPS/MOVHPD store
  }
  register_simd(t, kMap0F, 0x12, kColF2, false,
                [](const Insn&) -> Handler { return &run_movddup; });
  register_simd(t, kMap0F, 0x50, kColNone, false, &bind_movmsk<16, uint32_t>);  // MOVMSKPS
  register_simd(t, kMap0F, 0x50, kCol66, false, &bind_movmsk<16, uint64_t>);    // MOVMSKPD
  register_simd(t, kMap0F, 0xD7, kColNone, false, &bind_movmsk<8, uint8_t>);    // PMOVMSKB
  register_simd(t, kMap0F, 0xD7, kCol66, false, &bind_movmsk<16, uint8_t>);
  register_simd(t, kMap0F, 0xC4, kColNone, false, &bind_pinsrw<8>);
  register_simd(t, kMap0F, 0xC4, kCol66, false, &bind_pinsrw<16>);
  register_simd(t, kMap0F, 0xC5, kColNone, false, &bind_pextrw<8>);
  register_simd(t, kMap0F, 0xC5, kCol66, false, &bind_pextrw<16>);
  register_simd(t, kMap0F, 0xF7, kColNone, false, &bind_maskmov<8>);
  register_simd(t, kMap0F, 0xF7, kCol66, false, &bind_maskmov<16>);
}

}  // namespace

// SSE4.1 data movement (simd_move_sse41.cpp).
void register_simd_move_sse41(SimdTable& t);

void register_simd_move(SimdTable& t) {
  register_simd_move_sse41(t);
  register_moves(t);
  register_unpacks(t);
  register_shuffles(t);
}

}  // namespace umbra
