// SSE/SSE2 floating-point comparisons: CMPPS/CMPSS/CMPPD/CMPSD with the imm8 predicates 0-7
// (legacy encodings use imm8[2:0], SDM vol. 2, CMPPS) and COMISS/COMISD/UCOMISS/UCOMISD, which
// set ZF PF CF from the unordered/less/equal result and clear OF SF AF (SDM vol. 2, COMISS).
// COMIS* signal IE for any NaN, UCOMIS* only for SNaN; the host instruction decides both.
#include "frontend/flags.h"
#include "frontend/semantics/simd_fp_internal.h"

namespace umbra::simdfp {
namespace {

UMBRA_HOST_SSE_OP_IMM(CmpPs, "cmpps");
UMBRA_HOST_SSE_OP_IMM(CmpPd, "cmppd");
UMBRA_HOST_SSE_OP_IMM(CmpSs, "cmpss");
UMBRA_HOST_SSE_OP_IMM(CmpSd, "cmpsd");

#define UMBRA_HOST_COMI(Name, insn)                                                       \
  struct Name {                                                                           \
    static uint64_t run(HostXmm a, HostXmm b) {                                           \
      bool z, p, c;                                                                       \
      asm volatile(insn " %4, %3" : "=@ccz"(z), "=@ccp"(p), "=@ccc"(c) : "x"(a), "x"(b)); \
      return (z ? rf::ZF : 0) | (p ? rf::PF : 0) | (c ? rf::CF : 0);                      \
    }                                                                                     \
  }
UMBRA_HOST_COMI(ComiSs, "comiss");
UMBRA_HOST_COMI(ComiSd, "comisd");
UMBRA_HOST_COMI(UcomiSs, "ucomiss");
UMBRA_HOST_COMI(UcomiSd, "ucomisd");
#undef UMBRA_HOST_COMI

// COMIS*/UCOMIS* xmm, xmm/m32|m64: only EFLAGS and MXCSR change. On an unmasked exception the
// flags are not written (the instruction faults before completing, SDM vol. 1, 11.5.3).
template <typename HostOp, unsigned MemBytes, OpKind K>
struct CompareToFlags {
  static void run(CpuState& cpu, const Insn& i) {
    check_sse_available(cpu);
    const HostXmm b = to_host(read_xmm_source<MemBytes, K>(cpu, i));
    const HostXmm a = to_host(cpu.xmm[i.dst.reg]);
    uint64_t flags = 0;
    execute_sse_fp(
        cpu, [&] { flags = HostOp::run(a, b); }, [] { return false; });
    set_arith_flags(cpu, flags);
    next_rip(cpu, i);
  }
};

template <typename HostOp, unsigned MemBytes>
Handler bind_compare_to_flags(const Insn& i) {
  if (i.src.kind == OpKind::Reg) return &CompareToFlags<HostOp, MemBytes, OpKind::Reg>::run;
  if (i.src.kind == OpKind::Mem) return &CompareToFlags<HostOp, MemBytes, OpKind::Mem>::run;
  return nullptr;
}

}  // namespace

void register_simd_fp_compare(SimdTable& t) {
  register_simd(t, kMap0F, 0xC2, kColNone, false, &bind_xmm_op_imm<CmpPs, 8, 16>);
  register_simd(t, kMap0F, 0xC2, kCol66, false, &bind_xmm_op_imm<CmpPd, 8, 16>);
  register_simd(t, kMap0F, 0xC2, kColF3, false, &bind_xmm_op_imm<CmpSs, 8, 4>);
  register_simd(t, kMap0F, 0xC2, kColF2, false, &bind_xmm_op_imm<CmpSd, 8, 8>);
  register_simd(t, kMap0F, 0x2E, kColNone, false, &bind_compare_to_flags<UcomiSs, 4>);
  register_simd(t, kMap0F, 0x2E, kCol66, false, &bind_compare_to_flags<UcomiSd, 8>);
  register_simd(t, kMap0F, 0x2F, kColNone, false, &bind_compare_to_flags<ComiSs, 4>);
  register_simd(t, kMap0F, 0x2F, kCol66, false, &bind_compare_to_flags<ComiSd, 8>);
}

}  // namespace umbra::simdfp
