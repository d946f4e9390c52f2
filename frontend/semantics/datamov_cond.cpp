// Conditional data movement: SETcc and CMOVcc (SDM vol. 1, 7.3.1.1 and 7.3.13), specialised per
// condition code (control_cond.h).
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/control_cond.h"
#include "frontend/semantics/datamov_internal.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

using K = OpKind;

// SETcc r/m8.
template <OpKind D>
struct SetccOf {
  template <unsigned CC>
  struct F {
    static void run(CpuState& cpu, const Insn& i) {
      write_operand<uint8_t, D>(cpu, i, i.dst, cond_holds<CC>(cpu) ? 1 : 0);
      next_rip(cpu, i);
    }
  };
};

Handler bind_setcc(const Insn& i) {
  switch (i.dst.kind) {
    case K::Reg:
      return select_cond<SetccOf<K::Reg>::F>(i.cond);
    case K::Mem:
      return select_cond<SetccOf<K::Mem>::F>(i.cond);
    default:
      return nullptr;
  }
}

// CMOVcc r, r/m. The source is read whatever the condition (a memory source faults even when the
// condition is false: host-observed, and SDM vol. 2 CMOVcc), and the destination is written either
// way, so the 32-bit form zero-extends the destination even when the condition is false.
template <typename T, OpKind S>
struct CmovOf {
  template <unsigned CC>
  struct F {
    static void run(CpuState& cpu, const Insn& i) {
      const T v = read_operand<T, S>(cpu, i, i.src);
      write_gpr<T>(cpu, i.dst.reg, cond_holds<CC>(cpu) ? v : read_gpr<T>(cpu, i.dst.reg));
      next_rip(cpu, i);
    }
  };
};

template <typename T>
Handler select_cmov_kind(const Insn& i) {
  switch (i.src.kind) {
    case K::Reg:
      return select_cond<CmovOf<T, K::Reg>::template F>(i.cond);
    case K::Mem:
      return select_cond<CmovOf<T, K::Mem>::template F>(i.cond);
    default:
      return nullptr;
  }
}

Handler bind_cmovcc(const Insn& i) {
  if (i.dst.kind != K::Reg) return nullptr;
  switch (i.opsize) {
    case 2:
      return select_cmov_kind<uint16_t>(i);
    case 4:
      return select_cmov_kind<uint32_t>(i);
    case 8:
      return select_cmov_kind<uint64_t>(i);
    default:
      return nullptr;
  }
}

}  // namespace

void register_datamov_cond(BinderTable& t) {
  bind(t, Op::SETCC, &bind_setcc);
  bind(t, Op::CMOVCC, &bind_cmovcc);
}

}  // namespace umbra
