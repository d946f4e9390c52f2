// SSE/SSE2 conversions between floating-point formats and to/from integers: CVTSI2SS/SD,
// CVT(T)SS2SI, CVT(T)SD2SI (32-bit, or 64-bit with REX.W), CVTPS2PD, CVTPD2PS, CVTSS2SD,
// CVTSD2SS, CVTDQ2PS, CVT(T)PS2DQ, CVTDQ2PD, CVT(T)PD2DQ. Out-of-range and NaN sources give the
// integer indefinite value with IE (SDM vol. 1, 4.8.3.7 and 11.5.2.1); the host instruction
// produces both, under the guest MXCSR.
#include "frontend/semantics/simd_fp_internal.h"

namespace umbra::simdfp {
namespace {

UMBRA_HOST_SSE_OP(CvtPs2Pd, "cvtps2pd");
UMBRA_HOST_SSE_OP(CvtPd2Ps, "cvtpd2ps");
UMBRA_HOST_SSE_OP(CvtSs2Sd, "cvtss2sd");
UMBRA_HOST_SSE_OP(CvtSd2Ss, "cvtsd2ss");
UMBRA_HOST_SSE_OP(CvtDq2Ps, "cvtdq2ps");
UMBRA_HOST_SSE_OP(CvtPs2Dq, "cvtps2dq");
UMBRA_HOST_SSE_OP(CvttPs2Dq, "cvttps2dq");
UMBRA_HOST_SSE_OP(CvtDq2Pd, "cvtdq2pd");
UMBRA_HOST_SSE_OP(CvtPd2Dq, "cvtpd2dq");
UMBRA_HOST_SSE_OP(CvttPd2Dq, "cvttpd2dq");

// Scalar float -> integer: r32/r64 = op(xmm/m32|m64). The GPR is written only when no unmasked
// exception is raised.
#define UMBRA_HOST_CVT_TO_INT(Name, insn)              \
  struct Name {                                        \
    template <typename T>                              \
    static T run(HostXmm b) {                          \
      T r;                                             \
      asm volatile(insn " %1, %0" : "=r"(r) : "x"(b)); \
      return r;                                        \
    }                                                  \
  }
UMBRA_HOST_CVT_TO_INT(CvtSs2Si, "cvtss2si");
UMBRA_HOST_CVT_TO_INT(CvttSs2Si, "cvttss2si");
UMBRA_HOST_CVT_TO_INT(CvtSd2Si, "cvtsd2si");
UMBRA_HOST_CVT_TO_INT(CvttSd2Si, "cvttsd2si");
#undef UMBRA_HOST_CVT_TO_INT

template <typename HostOp, unsigned MemBytes, typename T, OpKind K>
struct FloatToInt {
  static void run(CpuState& cpu, const Insn& i) {
    check_sse_available(cpu);
    const HostXmm b = to_host(read_xmm_source<MemBytes, K>(cpu, i));
    T r = 0;
    execute_sse_fp(
        cpu, [&] { r = HostOp::template run<T>(b); }, [] { return false; });
    write_gpr<T>(cpu, i.dst.reg, r);
    next_rip(cpu, i);
  }
};

// REX.W selects the 64-bit integer (SDM vol. 2, CVTSS2SI); otherwise 32 bits (a 66 prefix next
// to the mandatory F2/F3 does not make it 16).
template <typename HostOp, unsigned MemBytes>
Handler bind_float_to_int(const Insn& i) {
  const bool w = i.opsize == 8;
  if (i.src.kind == OpKind::Reg)
    return w ? &FloatToInt<HostOp, MemBytes, uint64_t, OpKind::Reg>::run
             : &FloatToInt<HostOp, MemBytes, uint32_t, OpKind::Reg>::run;
  if (i.src.kind == OpKind::Mem)
    return w ? &FloatToInt<HostOp, MemBytes, uint64_t, OpKind::Mem>::run
             : &FloatToInt<HostOp, MemBytes, uint32_t, OpKind::Mem>::run;
  return nullptr;
}

// Scalar integer -> float: the low element of xmm = op(r/m32|r/m64), the rest unchanged.
struct CvtSi2Ss {
  static void run(HostXmm& a, uint32_t v) { asm volatile("cvtsi2ssl %1, %0" : "+x"(a) : "r"(v)); }
  static void run(HostXmm& a, uint64_t v) { asm volatile("cvtsi2ssq %1, %0" : "+x"(a) : "r"(v)); }
};
struct CvtSi2Sd {
  static void run(HostXmm& a, uint32_t v) { asm volatile("cvtsi2sdl %1, %0" : "+x"(a) : "r"(v)); }
  static void run(HostXmm& a, uint64_t v) { asm volatile("cvtsi2sdq %1, %0" : "+x"(a) : "r"(v)); }
};

template <typename HostOp, typename T, OpKind K>
struct IntToFloat {
  static void run(CpuState& cpu, const Insn& i) {
    check_sse_available(cpu);
    const T v = read_operand<T, K>(cpu, i, i.src);
    const HostXmm a = to_host(cpu.xmm[i.dst.reg]);
    XmmReg result;
    execute_sse_fp(
        cpu,
        [&] {
          HostXmm x = a;
          HostOp::run(x, v);
          result = from_host(x);
        },
        [] { return false; });
    cpu.xmm[i.dst.reg] = result;
    next_rip(cpu, i);
  }
};

template <typename HostOp>
Handler bind_int_to_float(const Insn& i) {
  const bool w = i.opsize == 8;
  if (i.src.kind == OpKind::Reg)
    return w ? &IntToFloat<HostOp, uint64_t, OpKind::Reg>::run
             : &IntToFloat<HostOp, uint32_t, OpKind::Reg>::run;
  if (i.src.kind == OpKind::Mem)
    return w ? &IntToFloat<HostOp, uint64_t, OpKind::Mem>::run
             : &IntToFloat<HostOp, uint32_t, OpKind::Mem>::run;
  return nullptr;
}

}  // namespace

void register_simd_fp_convert(SimdTable& t) {
  register_simd(t, kMap0F, 0x2A, kColF3, false, &bind_int_to_float<CvtSi2Ss>);
  register_simd(t, kMap0F, 0x2A, kColF2, false, &bind_int_to_float<CvtSi2Sd>);
  register_simd(t, kMap0F, 0x2C, kColF3, false, &bind_float_to_int<CvttSs2Si, 4>);
  register_simd(t, kMap0F, 0x2C, kColF2, false, &bind_float_to_int<CvttSd2Si, 8>);
  register_simd(t, kMap0F, 0x2D, kColF3, false, &bind_float_to_int<CvtSs2Si, 4>);
  register_simd(t, kMap0F, 0x2D, kColF2, false, &bind_float_to_int<CvtSd2Si, 8>);
  // Narrowing conversions can underflow; widening and integer ones cannot.
  register_simd(t, kMap0F, 0x5A, kColNone, false, &bind_xmm_op<CvtPs2Pd, 8>);
  register_simd(t, kMap0F, 0x5A, kCol66, false,
                &bind_xmm_op<CvtPd2Ps, 16, UnderflowLanes<uint32_t, 2>>);
  register_simd(t, kMap0F, 0x5A, kColF3, false, &bind_xmm_op<CvtSs2Sd, 4>);
  register_simd(t, kMap0F, 0x5A, kColF2, false,
                &bind_xmm_op<CvtSd2Ss, 8, UnderflowLanes<uint32_t, 1>>);
  register_simd(t, kMap0F, 0x5B, kColNone, false, &bind_xmm_op<CvtDq2Ps, 16>);
  register_simd(t, kMap0F, 0x5B, kCol66, false, &bind_xmm_op<CvtPs2Dq, 16>);
  register_simd(t, kMap0F, 0x5B, kColF3, false, &bind_xmm_op<CvttPs2Dq, 16>);
  register_simd(t, kMap0F, 0xE6, kColF3, false, &bind_xmm_op<CvtDq2Pd, 8>);
  register_simd(t, kMap0F, 0xE6, kColF2, false, &bind_xmm_op<CvtPd2Dq, 16>);
  register_simd(t, kMap0F, 0xE6, kCol66, false, &bind_xmm_op<CvttPd2Dq, 16>);
}

}  // namespace umbra::simdfp
