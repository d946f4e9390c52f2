// Logical instructions (SDM vol. 1, 7.3.3): AND OR XOR TEST NOT.
//
// AND/OR/XOR/TEST clear CF and OF and set SF, ZF, PF from the result (SDM vol. 2, AND); AF is
// undefined and this host clears it (the lazy kLazyLogic record computes exactly that). NOT
// changes no flags.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

enum class Logic : uint8_t { And, Or, Xor, Test };

template <Logic O>
struct LogicOp {
  template <typename T>
  static T apply(T a, T b) {
    if constexpr (O == Logic::Or)
      return static_cast<T>(a | b);
    else if constexpr (O == Logic::Xor)
      return static_cast<T>(a ^ b);
    else
      return static_cast<T>(a & b);
  }

  template <typename T, OpKind D, OpKind S>
  struct Form {
    static void run(CpuState& cpu, const Insn& i) {
      if constexpr (O == Logic::Test) {
        // TEST only reads its first operand (no write-permission check on memory).
        const T a = read_operand<T, D>(cpu, i, i.dst);
        const T b = read_operand<T, S>(cpu, i, i.src);
        if (!flags_dead(i)) set_lazy<T>(cpu, kLazyLogic, apply<T>(a, b), a, b);
      } else {
        Rmw<T, D> dst(cpu, i, i.dst);
        const T b = read_operand<T, S>(cpu, i, i.src);
        const T a = dst.get();
        const T r = apply<T>(a, b);
        dst.set(r);
        if (!flags_dead(i)) set_lazy<T>(cpu, kLazyLogic, r, a, b);
      }
      next_rip(cpu, i);
    }
  };
};

template <typename T, OpKind K>
struct Not {
  static void run(CpuState& cpu, const Insn& i) {
    Rmw<T, K> dst(cpu, i, i.dst);
    dst.set(static_cast<T>(~dst.get()));
    next_rip(cpu, i);
  }
};

}  // namespace

void register_logic(BinderTable& t) {
  bind(t, Op::AND, &select_binary<LogicOp<Logic::And>::Form>);
  bind(t, Op::OR, &select_binary<LogicOp<Logic::Or>::Form>);
  bind(t, Op::XOR, &select_binary<LogicOp<Logic::Xor>::Form>);
  bind(t, Op::TEST, &select_binary<LogicOp<Logic::Test>::Form>);
  bind(t, Op::NOT, &select_unary<Not>);
}

}  // namespace umbra
