// SSE/SSE2 floating-point arithmetic (ADD SUB MUL DIV MIN MAX SQRT in PS/SS/PD/SD forms,
// RCPPS/RCPSS/RSQRTPS/RSQRTSS) and the SSE3 ADDSUBPS/PD, HADDPS/PD, HSUBPS/PD. Each result comes
// from the host's own instruction under the guest MXCSR (simd_fp_internal.h), which also gives
// the SDM's MIN/MAX operand-order rule (a NaN or two zeros return the second operand, SDM
// vol. 2, MINPS/MAXPS) and the host's RCP/RSQRT approximation tables (docs/simd-fp.md).
#include "frontend/semantics/simd_fp_internal.h"

namespace umbra::simdfp {
namespace {

UMBRA_HOST_SSE_OP(AddPs, "addps");
UMBRA_HOST_SSE_OP(AddSs, "addss");
UMBRA_HOST_SSE_OP(AddPd, "addpd");
UMBRA_HOST_SSE_OP(AddSd, "addsd");
UMBRA_HOST_SSE_OP(SubPs, "subps");
UMBRA_HOST_SSE_OP(SubSs, "subss");
UMBRA_HOST_SSE_OP(SubPd, "subpd");
UMBRA_HOST_SSE_OP(SubSd, "subsd");
UMBRA_HOST_SSE_OP(MulPs, "mulps");
UMBRA_HOST_SSE_OP(MulSs, "mulss");
UMBRA_HOST_SSE_OP(MulPd, "mulpd");
UMBRA_HOST_SSE_OP(MulSd, "mulsd");
UMBRA_HOST_SSE_OP(DivPs, "divps");
UMBRA_HOST_SSE_OP(DivSs, "divss");
UMBRA_HOST_SSE_OP(DivPd, "divpd");
UMBRA_HOST_SSE_OP(DivSd, "divsd");
UMBRA_HOST_SSE_OP(MinPs, "minps");
UMBRA_HOST_SSE_OP(MinSs, "minss");
UMBRA_HOST_SSE_OP(MinPd, "minpd");
UMBRA_HOST_SSE_OP(MinSd, "minsd");
UMBRA_HOST_SSE_OP(MaxPs, "maxps");
UMBRA_HOST_SSE_OP(MaxSs, "maxss");
UMBRA_HOST_SSE_OP(MaxPd, "maxpd");
UMBRA_HOST_SSE_OP(MaxSd, "maxsd");
UMBRA_HOST_SSE_OP(SqrtPs, "sqrtps");
UMBRA_HOST_SSE_OP(SqrtSs, "sqrtss");
UMBRA_HOST_SSE_OP(SqrtPd, "sqrtpd");
UMBRA_HOST_SSE_OP(SqrtSd, "sqrtsd");
UMBRA_HOST_SSE_OP(RcpPs, "rcpps");
UMBRA_HOST_SSE_OP(RcpSs, "rcpss");
UMBRA_HOST_SSE_OP(RsqrtPs, "rsqrtps");
UMBRA_HOST_SSE_OP(RsqrtSs, "rsqrtss");
UMBRA_HOST_SSE_OP(AddSubPs, "addsubps");
UMBRA_HOST_SSE_OP(AddSubPd, "addsubpd");
UMBRA_HOST_SSE_OP(HAddPs, "haddps");
UMBRA_HOST_SSE_OP(HAddPd, "haddpd");
UMBRA_HOST_SSE_OP(HSubPs, "hsubps");
UMBRA_HOST_SSE_OP(HSubPd, "hsubpd");

using F4 = UnderflowLanes<uint32_t, 4>;
using F1 = UnderflowLanes<uint32_t, 1>;
using D2 = UnderflowLanes<uint64_t, 2>;
using D1 = UnderflowLanes<uint64_t, 1>;

// The four forms of one 0F opcode: PS (no prefix), PD (66), SS (F3), SD (F2).
template <typename Ps, typename Pd, typename Ss, typename Sd, bool CanUnderflow>
void register_four(SimdTable& t, uint8_t opcode) {
  if constexpr (CanUnderflow) {
    register_simd(t, kMap0F, opcode, kColNone, false, &bind_xmm_op<Ps, 16, F4>);
    register_simd(t, kMap0F, opcode, kCol66, false, &bind_xmm_op<Pd, 16, D2>);
    register_simd(t, kMap0F, opcode, kColF3, false, &bind_xmm_op<Ss, 4, F1>);
    register_simd(t, kMap0F, opcode, kColF2, false, &bind_xmm_op<Sd, 8, D1>);
  } else {
    register_simd(t, kMap0F, opcode, kColNone, false, &bind_xmm_op<Ps, 16>);
    register_simd(t, kMap0F, opcode, kCol66, false, &bind_xmm_op<Pd, 16>);
    register_simd(t, kMap0F, opcode, kColF3, false, &bind_xmm_op<Ss, 4>);
    register_simd(t, kMap0F, opcode, kColF2, false, &bind_xmm_op<Sd, 8>);
  }
}

}  // namespace

void register_simd_fp_arith(SimdTable& t) {
  register_four<AddPs, AddPd, AddSs, AddSd, true>(t, 0x58);
  register_four<MulPs, MulPd, MulSs, MulSd, true>(t, 0x59);
  register_four<SubPs, SubPd, SubSs, SubSd, true>(t, 0x5C);
  register_four<MinPs, MinPd, MinSs, MinSd, false>(t, 0x5D);
  register_four<DivPs, DivPd, DivSs, DivSd, true>(t, 0x5E);
  register_four<MaxPs, MaxPd, MaxSs, MaxSd, false>(t, 0x5F);
  register_four<SqrtPs, SqrtPd, SqrtSs, SqrtSd, false>(t, 0x51);
  register_simd(t, kMap0F, 0x52, kColNone, false, &bind_xmm_op<RsqrtPs, 16>);
  register_simd(t, kMap0F, 0x52, kColF3, false, &bind_xmm_op<RsqrtSs, 4>);
  register_simd(t, kMap0F, 0x53, kColNone, false, &bind_xmm_op<RcpPs, 16>);
  register_simd(t, kMap0F, 0x53, kColF3, false, &bind_xmm_op<RcpSs, 4>);
  // SSE3 (SDM vol. 2): 66 = PD, F2 = PS.
  register_simd(t, kMap0F, 0xD0, kCol66, false, &bind_xmm_op<AddSubPd, 16, D2>);
  register_simd(t, kMap0F, 0xD0, kColF2, false, &bind_xmm_op<AddSubPs, 16, F4>);
  register_simd(t, kMap0F, 0x7C, kCol66, false, &bind_xmm_op<HAddPd, 16, D2>);
  register_simd(t, kMap0F, 0x7C, kColF2, false, &bind_xmm_op<HAddPs, 16, F4>);
  register_simd(t, kMap0F, 0x7D, kCol66, false, &bind_xmm_op<HSubPd, 16, D2>);
  register_simd(t, kMap0F, 0x7D, kColF2, false, &bind_xmm_op<HSubPs, 16, F4>);
}

}  // namespace umbra::simdfp
