// The conversions with an MMX operand: CVTPI2PS, CVTPS2PI, CVTTPS2PI, CVTPI2PD, CVTPD2PI,
// CVTTPD2PI (SDM vol. 2). The host computes them with the SSE2 forms that convert the same
// elements with the same rounding and exception rules (CVTDQ2PS on the two integers with zeroed
// upper elements, which cannot raise anything; CVT(T)PS2DQ / CVT(T)PD2DQ / CVTDQ2PD keeping the
// low 64 bits), so the host's MMX/x87 state is never touched.
//
// An MMX register is the low 64 bits of x87 physical register n (SDM vol. 1, 9.5); writing one
// sets bits 64-79 to ones. Forms with an MMX register operand make the x87 -> MMX transition
// (TOP = 0, all tags valid, SDM vol. 1, 9.5.1) and raise #MF first when an unmasked x87
// exception is pending (FSW.ES with CR0.NE); memory-source forms do neither.
#include "frontend/semantics/simd_fp_internal.h"

namespace umbra::simdfp {
namespace {

constexpr uint16_t kFswEs = 1u << 7;

uint64_t read_mm(const CpuState& cpu, unsigned r) {
  uint64_t v;
  std::memcpy(&v, cpu.x87.st[r & 7], 8);
  return v;
}
void write_mm(CpuState& cpu, unsigned r, uint64_t v) {
  std::memcpy(cpu.x87.st[r & 7], &v, 8);
  cpu.x87.st[r & 7][8] = 0xff;
  cpu.x87.st[r & 7][9] = 0xff;
}
// With CR0.NE clear the legacy FERR# path is not modelled, as in the x87 and MMX semantics.
void check_x87_pending(CpuState& cpu) {
  if ((cpu.x87.fsw & kFswEs) && (cpu.cr0 & cr0::NE)) raise_fault(cpu, kMF);
}
void mmx_transition(CpuState& cpu) {
  cpu.x87.fsw = static_cast<uint16_t>(cpu.x87.fsw & ~0x3800u);
  cpu.x87.ftw = 0;  // full tag word: 00 = valid for every register
}

UMBRA_HOST_SSE_OP(CvtDq2Ps, "cvtdq2ps");
UMBRA_HOST_SSE_OP(CvtDq2Pd, "cvtdq2pd");
UMBRA_HOST_SSE_OP(CvtPs2Dq, "cvtps2dq");
UMBRA_HOST_SSE_OP(CvttPs2Dq, "cvttps2dq");
UMBRA_HOST_SSE_OP(CvtPd2Dq, "cvtpd2dq");
UMBRA_HOST_SSE_OP(CvttPd2Dq, "cvttpd2dq");

// xmm = convert(mm/m64): CVTPI2PS replaces the low two floats, CVTPI2PD the whole register.
template <typename HostOp, bool WholeRegister, OpKind K>
struct FromMmx {
  static void run(CpuState& cpu, const Insn& i) {
    check_sse_available(cpu);
    uint64_t ints;
    if constexpr (K == OpKind::Reg) {
      check_x87_pending(cpu);
      ints = read_mm(cpu, i.src.reg);
    } else {
      ints = read_mem_seg<uint64_t>(cpu, linear_address(cpu, i, 8, false), i.seg);
    }
    XmmReg src{};
    std::memcpy(src.b, &ints, 8);
    const HostXmm b = to_host(src);
    // The x87 -> MMX transition happens before the conversion can raise #XM/#UD: the hardware
    // shows TOP = 0 and all tags valid in the state the exception handler sees.
    if constexpr (K == OpKind::Reg) mmx_transition(cpu);
    XmmReg converted;
    execute_sse_fp(
        cpu,
        [&] {
          HostXmm x = b;
          HostOp::run(x, b);
          converted = from_host(x);
        },
        [] { return false; });
    XmmReg& d = cpu.xmm[i.dst.reg];
    if constexpr (WholeRegister)
      d = converted;
    else
      std::memcpy(d.b, converted.b, 8);
    next_rip(cpu, i);
  }
};

// mm = convert(xmm/m64 or xmm/m128): the low 64 bits of the SSE2 conversion.
template <typename HostOp, unsigned MemBytes, OpKind K>
struct ToMmx {
  static void run(CpuState& cpu, const Insn& i) {
    check_sse_available(cpu);
    check_x87_pending(cpu);
    XmmReg src = read_xmm_source<MemBytes, K>(cpu, i);
    if constexpr (MemBytes == 8) std::memset(src.b + 8, 0, 8);  // only two floats take part
    const HostXmm b = to_host(src);
    mmx_transition(cpu);  // before a possible #XM, as the hardware does (see FromMmx)
    uint64_t ints = 0;
    execute_sse_fp(
        cpu,
        [&] {
          HostXmm x = b;
          HostOp::run(x, b);
          std::memcpy(&ints, &x, 8);
        },
        [] { return false; });
    write_mm(cpu, i.dst.reg, ints);
    next_rip(cpu, i);
  }
};

template <typename HostOp, bool WholeRegister>
Handler bind_from_mmx(const Insn& i) {
  if (i.src.kind == OpKind::Reg) return &FromMmx<HostOp, WholeRegister, OpKind::Reg>::run;
  if (i.src.kind == OpKind::Mem) return &FromMmx<HostOp, WholeRegister, OpKind::Mem>::run;
  return nullptr;
}
template <typename HostOp, unsigned MemBytes>
Handler bind_to_mmx(const Insn& i) {
  if (i.src.kind == OpKind::Reg) return &ToMmx<HostOp, MemBytes, OpKind::Reg>::run;
  if (i.src.kind == OpKind::Mem) return &ToMmx<HostOp, MemBytes, OpKind::Mem>::run;
  return nullptr;
}

}  // namespace

void register_simd_fp_convert_mmx(SimdTable& t) {
  register_simd(t, kMap0F, 0x2A, kColNone, false, &bind_from_mmx<CvtDq2Ps, false>);
  register_simd(t, kMap0F, 0x2A, kCol66, false, &bind_from_mmx<CvtDq2Pd, true>);
  register_simd(t, kMap0F, 0x2D, kColNone, false, &bind_to_mmx<CvtPs2Dq, 8>);
  register_simd(t, kMap0F, 0x2C, kColNone, false, &bind_to_mmx<CvttPs2Dq, 8>);
  register_simd(t, kMap0F, 0x2D, kCol66, false, &bind_to_mmx<CvtPd2Dq, 16>);
  register_simd(t, kMap0F, 0x2C, kCol66, false, &bind_to_mmx<CvttPd2Dq, 16>);
}

}  // namespace umbra::simdfp
