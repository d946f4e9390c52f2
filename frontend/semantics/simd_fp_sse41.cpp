// SSE4.1 floating point: ROUNDPS/ROUNDPD/ROUNDSS/ROUNDSD (imm8[3:0]: rounding mode, MXCSR.RC
// select, precision-exception suppression; SDM vol. 2, ROUNDPD) and the dot products DPPS/DPPD
// (imm8 condition and broadcast masks). The host instruction runs with the imm8 as a constant,
// one instantiation per used imm8 value.
#include "frontend/semantics/simd_fp_internal.h"

namespace umbra::simdfp {
namespace {

UMBRA_HOST_SSE_OP_IMM(RoundPs, "roundps");
UMBRA_HOST_SSE_OP_IMM(RoundPd, "roundpd");
UMBRA_HOST_SSE_OP_IMM(RoundSs, "roundss");
UMBRA_HOST_SSE_OP_IMM(RoundSd, "roundsd");
UMBRA_HOST_SSE_OP_IMM(DpPs, "dpps");
UMBRA_HOST_SSE_OP_IMM(DpPd, "dppd");

}  // namespace

void register_simd_fp_sse41(SimdTable& t) {
  // imm8[7:4] of ROUND* are reserved and ignored.
  register_simd(t, kMap0F3A, 0x08, kCol66, false, &bind_xmm_op_imm<RoundPs, 16, 16>);
  register_simd(t, kMap0F3A, 0x09, kCol66, false, &bind_xmm_op_imm<RoundPd, 16, 16>);
  register_simd(t, kMap0F3A, 0x0A, kCol66, false, &bind_xmm_op_imm<RoundSs, 16, 4>);
  register_simd(t, kMap0F3A, 0x0B, kCol66, false, &bind_xmm_op_imm<RoundSd, 16, 8>);
  // The dot products use all eight imm8 bits (DPPD: bits 5:4 and 1:0, the rest ignored by the
  // host). Their products can underflow without a denormal in the result.
  register_simd(t, kMap0F3A, 0x40, kCol66, false,
                &bind_xmm_op_imm<DpPs, 256, 16, MayUnderflowInternally>);
  register_simd(t, kMap0F3A, 0x41, kCol66, false,
                &bind_xmm_op_imm<DpPd, 256, 16, MayUnderflowInternally>);
}

}  // namespace umbra::simdfp
