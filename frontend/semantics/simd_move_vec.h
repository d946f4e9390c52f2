// Vector operand access shared by the MMX/SSE data-movement and integer semantics
// (simd_move*.cpp, simd_int*.cpp): N-byte vectors (N = 8: an MMX register, N = 16: an XMM
// register), availability checks, 16-byte alignment, MMX aliasing onto the x87 registers, and
// the generic handlers that run one lane-wise operation per element type.
#pragma once

#include <cstdint>
#include <cstring>

#include "frontend/cpu_state.h"
#include "frontend/insn.h"
#include "frontend/operands.h"
#include "frontend/semantics/fp_checks.h"
#include "frontend/semantics/simd_dispatch.h"
#include "frontend/system/segmentation_checks.h"
#include "softmmu/access.h"

namespace umbra::simd {

template <unsigned N>
struct Vec {
  alignas(16) uint8_t b[N];
  template <typename T>
  T get(unsigned k) const {
    T v;
    std::memcpy(&v, b + k * sizeof(T), sizeof(T));
    return v;
  }
  template <typename T>
  void set(unsigned k, T v) {
    std::memcpy(b + k * sizeof(T), &v, sizeof(T));
  }
  static constexpr unsigned kBytes = N;
};

// Whether a 16-byte memory operand must be 16-byte aligned (SDM vol. 1, 11.4.1 / 11.6.4:
// legacy SSE instructions with a 128-bit memory operand raise #GP(0) when it is misaligned,
// except the explicitly unaligned forms MOVUPS/MOVUPD/MOVDQU/LDDQU).
enum class Align : uint8_t { kAny, kVector };

// ---- availability (SDM vol. 3, 2.5; vol. 1, 9.6.x, 11.6.2) ----
// Instructions that touch MMX state report a pending unmasked x87 exception first: FSW.ES with
// CR0.NE -> #MF (SDM vol. 2, the "#MF" row of each MMX instruction's exception table; with
// CR0.NE clear the legacy FERR# path is not modelled), as the x87 semantics do.
inline void check_mmx_pending_mf(CpuState& cpu) {
  if ((cpu.x87.fsw & 0x80) && (cpu.cr0 & cr0::NE)) raise_fault(cpu, kMF);
}

template <unsigned N>
inline void check_available(CpuState& cpu) {
  if constexpr (N == 8) {
    check_mmx_available(cpu);
    check_mmx_pending_mf(cpu);
  } else {
    check_sse_available(cpu);
  }
}

// MMX state transition (SDM vol. 1, 9.5.1): every MMX instruction except EMMS sets TOP = 0 and
// every tag to valid. `ftw` holds the full 16-bit tag word (2 bits per physical register,
// 00 = valid, 11 = empty). Called after the last check that can fault.
inline void mmx_enter(CpuState& cpu) {
  cpu.x87.fsw = static_cast<uint16_t>(cpu.x87.fsw & ~0x3800u);
  cpu.x87.ftw = 0;
}
// EMMS: every tag empty and TOP = 0 (SDM vol. 1, table 9-1, "EMMS" row: TOP 000B).
inline void mmx_empty(CpuState& cpu) {
  cpu.x87.fsw = static_cast<uint16_t>(cpu.x87.fsw & ~0x3800u);
  cpu.x87.ftw = 0xffff;
}

template <unsigned N>
inline void finish(CpuState& cpu) {
  if constexpr (N == 8) mmx_enter(cpu);
}

// ---- registers ----
// MMX register r is the low 64 bits (mantissa) of x87 physical register r (SDM vol. 1, 9.5).
inline uint64_t read_mm(const CpuState& cpu, unsigned r) {
  uint64_t v;
  std::memcpy(&v, cpu.x87.st[r & 7], 8);
  return v;
}
// Writing an MMX register also sets bits 64-79 (sign and exponent) to all ones.
inline void write_mm(CpuState& cpu, unsigned r, uint64_t v) {
  std::memcpy(cpu.x87.st[r & 7], &v, 8);
  cpu.x87.st[r & 7][8] = 0xff;
  cpu.x87.st[r & 7][9] = 0xff;
}

template <unsigned N>
inline Vec<N> read_reg(const CpuState& cpu, unsigned r) {
  Vec<N> v;
  if constexpr (N == 8)
    std::memcpy(v.b, cpu.x87.st[r & 7], 8);
  else
    std::memcpy(v.b, cpu.xmm[r & 15].b, 16);
  return v;
}

template <unsigned N>
inline void write_reg(CpuState& cpu, unsigned r, const Vec<N>& v) {
  if constexpr (N == 8)
    write_mm(cpu, r, v.template get<uint64_t>(0));
  else
    std::memcpy(cpu.xmm[r & 15].b, v.b, 16);
}

// ---- memory ----
// Linear address of the memory operand of `size` bytes, with the 16-byte alignment check when
// required (#GP(0), raised before any access).
inline uint64_t vec_linear(CpuState& cpu, const Insn& i, unsigned size, bool write, Align a) {
  const uint64_t la = linear_address(cpu, i, size, write);
  if (a == Align::kVector && size == 16 && (la & 15)) raise_fault(cpu, kGP, 0);
  return la;
}

template <unsigned N>
inline Vec<N> read_mem_vec(CpuState& cpu, const Insn& i, Align a) {
  const uint64_t la = vec_linear(cpu, i, N, false, a);
  Vec<N> v;
  v.template set<uint64_t>(0, read_mem_seg<uint64_t>(cpu, la, i.seg));
  if constexpr (N == 16) v.template set<uint64_t>(1, read_mem_seg<uint64_t>(cpu, la + 8, i.seg));
  return v;
}

// Stores check every byte's write permission before the first byte is written.
template <unsigned N>
inline void write_mem_vec(CpuState& cpu, const Insn& i, const Vec<N>& v, Align a) {
  const uint64_t la = vec_linear(cpu, i, N, true, a);
  const MemRef lo = prepare_rmw_seg<uint64_t>(cpu, la, i.seg);
  if constexpr (N == 16) {
    const MemRef hi = prepare_rmw_seg<uint64_t>(cpu, la + 8, i.seg);
    store<uint64_t>(cpu, lo, v.template get<uint64_t>(0));
    store<uint64_t>(cpu, hi, v.template get<uint64_t>(1));
  } else {
    store<uint64_t>(cpu, lo, v.template get<uint64_t>(0));
  }
}

// A scalar memory operand of type T (no alignment requirement).
template <typename T>
inline T read_mem_scalar(CpuState& cpu, const Insn& i) {
  return read_mem_seg<T>(cpu, linear_address(cpu, i, sizeof(T), false), i.seg);
}
template <typename T>
inline void write_mem_scalar(CpuState& cpu, const Insn& i, T v) {
  write_mem_seg<T>(cpu, linear_address(cpu, i, sizeof(T), true), v, i.seg);
}

// The r/m source: a register of the same kind, or M bytes of memory (M < N: forms such as
// PUNPCKLBW mm, mm/m32 that read only part of a vector; the rest reads as zero).
template <unsigned N, unsigned M = N>
inline Vec<N> read_src(CpuState& cpu, const Insn& i, Align a) {
  if (i.src.kind == OpKind::Reg) return read_reg<N>(cpu, i.src.reg);
  if constexpr (M == N) {
    return read_mem_vec<N>(cpu, i, a);
  } else {
    Vec<N> v{};
    v.template set<typename UintOf<M>::type>(0, read_mem_scalar<typename UintOf<M>::type>(cpu, i));
    return v;
  }
}

// ---- lane-wise helpers ----
template <typename T, unsigned N, typename F>
inline Vec<N> lanewise(const Vec<N>& a, const Vec<N>& b, F f) {
  Vec<N> r;
  for (unsigned k = 0; k < N / sizeof(T); ++k)
    r.template set<T>(k, f(a.template get<T>(k), b.template get<T>(k)));
  return r;
}

// A binary operation Op (static template `apply<N>(dst, src, imm)`) on dst = reg, src = r/m.
template <unsigned N, class Op, Align A = Align::kVector, unsigned M = N>
void run_binary(CpuState& cpu, const Insn& i) {
  check_available<N>(cpu);
  const Vec<N> s = read_src<N, M>(cpu, i, A);
  const Vec<N> d = read_reg<N>(cpu, i.dst.reg);
  write_reg<N>(cpu, i.dst.reg, Op::template apply<N>(d, s, static_cast<uint8_t>(i.imm)));
  finish<N>(cpu);
  next_rip(cpu, i);
}

template <unsigned N, class Op, Align A = Align::kVector, unsigned M = N>
Handler bind_binary(const Insn&) {
  return &run_binary<N, Op, A, M>;
}

// Registers Op for its MMX (no prefix, 8 bytes) and SSE2 (66, 16 bytes) encodings.
template <class Op>
inline void register_mmx_sse2(SimdTable& t, SimdMap m, uint8_t opcode) {
  register_simd(t, m, opcode, kColNone, false, &bind_binary<8, Op>);
  register_simd(t, m, opcode, kCol66, false, &bind_binary<16, Op>);
}
// Registers Op for its 66-prefixed XMM encoding only (SSE2-only, SSE4.1).
template <class Op>
inline void register_sse_only(SimdTable& t, SimdMap m, uint8_t opcode, SimdColumn c = kCol66) {
  register_simd(t, m, opcode, c, false, &bind_binary<16, Op>);
}

}  // namespace umbra::simd
