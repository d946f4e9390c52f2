// Near control transfers (SDM vol. 1, 6.3 and 7.3.8): JMP, Jcc, CALL, RET, LOOP/LOOPE/LOOPNE,
// JCXZ/JECXZ/JRCXZ. Far transfers, INT and IRET belong to the system semantics.
//
// The operand size (Insn::opsize) is the width of the instruction pointer the transfer produces:
// a target is computed as RIP + length + displacement and truncated to it (IP or EIP); with a
// 64-bit operand size a non-canonical target, and outside 64-bit mode a target beyond the CS
// limit, raises #GP(0) before anything changes, so RIP still points at the branch (SDM vol. 2,
// JMP/Jcc/CALL/RET exceptions). Every handler here sets RIP itself; a CALL checks the target,
// pushes and then jumps, so a faulting push leaves RIP and RSP untouched.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/control_cond.h"
#include "frontend/semantics/registry.h"
#include "frontend/semantics/stack_access.h"

namespace umbra {

namespace {

using K = OpKind;

// A near branch target of operand size sizeof(T): IP/EIP wrap, RIP must be canonical. Outside
// 64-bit mode the target must lie within the CS limit, else #GP(0) (SDM vol. 2, JMP, Jcc, CALL,
// RET, LOOPcc, JrCXZ: "If the target operand is beyond the code segment limit"); code segments
// are never expand-down, so that is offset <= limit. The 64-bit operand size exists only in
// 64-bit mode, which has no limit, so that path does no new work; a 16/32-bit operand size in
// 64-bit mode (66 on JMP/CALL r/m or RET) skips the check with one test of mode64.
template <typename T>
inline uint64_t near_target(CpuState& cpu, uint64_t target) {
  if constexpr (sizeof(T) == 8) {
    if (__builtin_expect(!is_canonical48(target), 0)) raise_fault(cpu, kGP, 0);
    return target;
  } else {
    const uint64_t ip = static_cast<T>(target);
    if (__builtin_expect(!cpu.mode64 && ip > cpu.seg[CS].limit, 0)) raise_fault(cpu, kGP, 0);
    return ip;
  }
}

// Target of a relative branch: next instruction + sign-extended displacement.
template <typename T>
inline uint64_t relative_target(CpuState& cpu, const Insn& i) {
  return near_target<T>(cpu, cpu.rip + i.len + i.imm);
}

template <typename T>
struct Jmp {
  static void run(CpuState& cpu, const Insn& i) { cpu.rip = relative_target<T>(cpu, i); }
};

template <typename T>
struct JccOf {
  template <unsigned CC>
  struct F {
    static void run(CpuState& cpu, const Insn& i) {
      if (cond_holds<CC>(cpu))
        cpu.rip = relative_target<T>(cpu, i);
      else
        next_rip(cpu, i);
    }
  };
};

// JMP r/m: the operand is the new IP/EIP/RIP (zero-extended).
template <typename T, OpKind D>
struct JmpIndirect {
  static void run(CpuState& cpu, const Insn& i) {
    cpu.rip = near_target<T>(cpu, read_operand<T, D>(cpu, i, i.dst));
  }
};

// CALL rel: push the return address (the next instruction, truncated to the operand size), then
// jump.
template <typename T>
struct Call {
  static void run(CpuState& cpu, const Insn& i) {
    const uint64_t target = relative_target<T>(cpu, i);
    push_value<T>(cpu, static_cast<T>(cpu.rip + i.len));
    cpu.rip = target;
  }
};

// CALL r/m: the target is read before the push, so a memory operand based on RSP sees the old
// RSP.
template <typename T, OpKind D>
struct CallIndirect {
  static void run(CpuState& cpu, const Insn& i) {
    const uint64_t target = near_target<T>(cpu, read_operand<T, D>(cpu, i, i.dst));
    push_value<T>(cpu, static_cast<T>(cpu.rip + i.len));
    cpu.rip = target;
  }
};

// RET [imm16]: pop the return address, then release imm16 more bytes of stack.
template <typename T>
struct Ret {
  static void run(CpuState& cpu, const Insn& i) {
    const uint64_t target = near_target<T>(cpu, peek_stack<T>(cpu));
    write_sp(cpu, sp_after_pop(cpu, sizeof(T) + static_cast<uint16_t>(i.imm)));
    cpu.rip = target;
  }
};

// LOOP / LOOPE / LOOPNE: decrement the count register (CX, ECX or RCX by address size; ECX is
// written zero-extended, host-observed) and branch while it is not zero and, for LOOPE/LOOPNE,
// ZF is 1/0. The count is written only once the target is known to be valid.
enum class LoopKind { Always, WhileZero, WhileNotZero };

template <typename A, typename T, LoopKind L>
struct Loop {
  static void run(CpuState& cpu, const Insn& i) {
    const A count = static_cast<A>(read_gpr<A>(cpu, RCX) - 1);
    bool taken = count != 0;
    if constexpr (L == LoopKind::WhileZero) taken = taken && get_zf(cpu);
    if constexpr (L == LoopKind::WhileNotZero) taken = taken && !get_zf(cpu);
    if (taken) {
      const uint64_t target = relative_target<T>(cpu, i);
      write_gpr<A>(cpu, RCX, count);
      cpu.rip = target;
    } else {
      write_gpr<A>(cpu, RCX, count);
      next_rip(cpu, i);
    }
  }
};

// JCXZ / JECXZ / JRCXZ: branch if the count register of the address size is zero.
template <typename A, typename T>
struct Jrcxz {
  static void run(CpuState& cpu, const Insn& i) {
    if (read_gpr<A>(cpu, RCX) == 0)
      cpu.rip = relative_target<T>(cpu, i);
    else
      next_rip(cpu, i);
  }
};

// ---- binders ----

template <template <typename, OpKind> class F>
Handler select_ip_size_kind(const Insn& i) {
  if (i.opsize == 1) return nullptr;
  return select_unary<F>(i);
}

Handler bind_jcc(const Insn& i) {
  switch (i.opsize) {
    case 2:
      return select_cond<JccOf<uint16_t>::F>(i.cond);
    case 4:
      return select_cond<JccOf<uint32_t>::F>(i.cond);
    case 8:
      return select_cond<JccOf<uint64_t>::F>(i.cond);
    default:
      return nullptr;
  }
}

template <typename A, template <typename, typename> class F>
Handler select_count_ip(const Insn& i) {
  switch (i.opsize) {
    case 2:
      return &F<A, uint16_t>::run;
    case 4:
      return &F<A, uint32_t>::run;
    case 8:
      return &F<A, uint64_t>::run;
    default:
      return nullptr;
  }
}

template <template <typename, typename> class F>
Handler select_count(const Insn& i) {
  switch (i.addr_size) {
    case 2:
      return select_count_ip<uint16_t, F>(i);
    case 4:
      return select_count_ip<uint32_t, F>(i);
    case 8:
      return select_count_ip<uint64_t, F>(i);
    default:
      return nullptr;
  }
}

template <LoopKind L>
struct LoopOf {
  template <typename A, typename T>
  using F = Loop<A, T, L>;
};

}  // namespace

void register_control(BinderTable& t) {
  bind(t, Op::JMP, &select_size_wide<Jmp>);
  bind(t, Op::JCC, &bind_jcc);
  bind(t, Op::JMP_IND, &select_ip_size_kind<JmpIndirect>);
  bind(t, Op::CALL, &select_size_wide<Call>);
  bind(t, Op::CALL_IND, &select_ip_size_kind<CallIndirect>);
  bind(t, Op::RET, &select_size_wide<Ret>);
  bind(t, Op::LOOP, &select_count<LoopOf<LoopKind::Always>::F>);
  bind(t, Op::LOOPE, &select_count<LoopOf<LoopKind::WhileZero>::F>);
  bind(t, Op::LOOPNE, &select_count<LoopOf<LoopKind::WhileNotZero>::F>);
  bind(t, Op::JRCXZ, &select_count<Jrcxz>);
}

}  // namespace umbra
