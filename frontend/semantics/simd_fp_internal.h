// Shared machinery of the SSE floating-point semantics (simd_fp*.cpp): source operand fetch with
// the legacy-SSE alignment rule, the generic "xmm = op(xmm, xmm/mem)" handler that runs the host
// instruction under the guest MXCSR (frontend/fpu/host_fp.h), and binders that pick the
// instantiation by operand kind and imm8.
#pragma once

#include <array>
#include <cstdint>
#include <utility>

#include "frontend/fpu/host_fp.h"
#include "frontend/operands.h"
#include "frontend/semantics/fp_checks.h"
#include "frontend/semantics/simd_dispatch.h"

namespace umbra::simdfp {

// Reads the r/m source of an SSE instruction: an XMM register, or `MemBytes` (4, 8 or 16) bytes
// of memory into the low bytes of a zeroed XmmReg. Legacy SSE 16-byte memory operands must be
// 16-byte aligned, else #GP(0) (SDM vol. 1, 11.4.1; vol. 2, each instruction's exceptions);
// smaller operands have no alignment requirement.
template <unsigned MemBytes, OpKind K>
inline XmmReg read_xmm_source(CpuState& cpu, const Insn& i) {
  if constexpr (K == OpKind::Reg) {
    return cpu.xmm[i.src.reg];
  } else {
    static_assert(K == OpKind::Mem);
    XmmReg v{};
    const uint64_t la = linear_address(cpu, i, MemBytes, false);
    if constexpr (MemBytes == 16) {
      if (la & 15) raise_fault(cpu, kGP, 0);
      const uint64_t lo = read_mem_seg<uint64_t>(cpu, la, i.seg);
      const uint64_t hi = read_mem_seg<uint64_t>(cpu, la + 8, i.seg);
      std::memcpy(v.b, &lo, 8);
      std::memcpy(v.b + 8, &hi, 8);
    } else if constexpr (MemBytes == 8) {
      const uint64_t x = read_mem_seg<uint64_t>(cpu, la, i.seg);
      std::memcpy(v.b, &x, 8);
    } else {
      static_assert(MemBytes == 4);
      const uint32_t x = read_mem_seg<uint32_t>(cpu, la, i.seg);
      std::memcpy(v.b, &x, 4);
    }
    return v;
  }
}

// Which result elements can underflow (see has_denormal_lane): element type and count; 0 lanes
// for operations that never underflow (SQRT, MIN/MAX, CMP, RCP, conversions to wider or to
// integers, ROUND).
struct NoUnderflow {
  static bool tiny(const XmmReg&) { return false; }
};
// Operations with intermediate results (DPPS/DPPD) whose tiny products need not show in the
// result: always take the exact path when UE is unmasked.
struct MayUnderflowInternally {
  static bool tiny(const XmmReg&) { return true; }
};
template <typename E, unsigned Lanes>
struct UnderflowLanes {
  static bool tiny(const XmmReg& r) { return has_denormal_lane<E>(r, Lanes); }
};

// xmm[dst] = HostOp(xmm[dst], src), with the source read as MemBytes of memory for memory
// forms. HostOp::run(HostXmm& a, HostXmm b) executes the host instruction in inline asm.
template <typename HostOp, unsigned MemBytes, typename Underflow, OpKind K>
struct XmmOp {
  static void run(CpuState& cpu, const Insn& i) {
    check_sse_available(cpu);
    const XmmReg src = read_xmm_source<MemBytes, K>(cpu, i);
    const HostXmm a = to_host(cpu.xmm[i.dst.reg]);
    const HostXmm b = to_host(src);
    XmmReg result;
    execute_sse_fp(
        cpu,
        [&] {
          HostXmm x = a;
          HostOp::run(x, b);
          result = from_host(x);
        },
        [&] { return Underflow::tiny(result); });
    cpu.xmm[i.dst.reg] = result;
    next_rip(cpu, i);
  }
};

template <typename HostOp, unsigned MemBytes, typename Underflow = NoUnderflow>
Handler bind_xmm_op(const Insn& i) {
  if (i.src.kind == OpKind::Reg) return &XmmOp<HostOp, MemBytes, Underflow, OpKind::Reg>::run;
  if (i.src.kind == OpKind::Mem) return &XmmOp<HostOp, MemBytes, Underflow, OpKind::Mem>::run;
  return nullptr;
}

// The same for operations with an imm8 that the host instruction needs as a constant: HostOpT<N>
// for N in [0, Count), selected by imm8 & (Count - 1) (the bits the instruction uses).
template <template <uint8_t> class HostOpT, unsigned Count, unsigned MemBytes, typename Underflow,
          size_t... N>
Handler bind_xmm_op_imm_impl(const Insn& i, std::index_sequence<N...>) {
  static constexpr std::array<Binder, Count> kBinders = {
      &bind_xmm_op<HostOpT<static_cast<uint8_t>(N)>, MemBytes, Underflow>...};
  return kBinders[i.imm & (Count - 1)](i);
}
template <template <uint8_t> class HostOpT, unsigned Count, unsigned MemBytes,
          typename Underflow = NoUnderflow>
Handler bind_xmm_op_imm(const Insn& i) {
  return bind_xmm_op_imm_impl<HostOpT, Count, MemBytes, Underflow>(
      i, std::make_index_sequence<Count>{});
}

// Defines a host operation `Name` executing `insn src, dst` on two XMM registers.
#define UMBRA_HOST_SSE_OP(Name, insn)                                                           \
  struct Name {                                                                                 \
    static void run(HostXmm& a, HostXmm b) { asm volatile(insn " %1, %0" : "+x"(a) : "x"(b)); } \
  }
// The same with an imm8 template parameter: `insn $imm, src, dst`.
#define UMBRA_HOST_SSE_OP_IMM(Name, insn)                            \
  template <uint8_t Imm>                                             \
  struct Name {                                                      \
    static void run(HostXmm& a, HostXmm b) {                         \
      asm volatile(insn " %2, %1, %0" : "+x"(a) : "x"(b), "i"(Imm)); \
    }                                                                \
  }

// Registration of each simd_fp*.cpp file, called from register_simd_fp().
void register_simd_fp_arith(SimdTable& t);
void register_simd_fp_compare(SimdTable& t);
void register_simd_fp_convert(SimdTable& t);
void register_simd_fp_convert_mmx(SimdTable& t);
void register_simd_fp_sse41(SimdTable& t);

}  // namespace umbra::simdfp
