// String instructions (SDM vol. 1, 7.3.9; vol. 2, MOVS/CMPS/SCAS/LODS/STOS and REP/REPE/REPNE):
// the REP driver and the binders. The single elements and bulk fast paths are in
// string_elements.h. INS/OUTS are I/O and belong to the system semantics.
//
// REP semantics (SDM vol. 2, "REP/REPE/REPZ/REPNE/REPNZ"):
//   - the count register is CX/ECX/RCX by address size; a zero count does nothing (no memory
//     access, flags unchanged) and the instruction completes;
//   - each iteration does one element, then decrements the count; the instruction completes when
//     the count reaches zero or, for REPE/REPNE CMPS/SCAS, when ZF is 0/1 after the element;
//   - F3 and F2 on MOVS/LODS/STOS both mean REP;
//   - a fault in iteration k leaves rCX/rSI/rDI (and the flags) as after iteration k-1 and RIP at
//     the instruction, so it restarts where it stopped.
// Chunking: one call does at most kRepChunk elements. If the instruction is not finished by then
// (or someone asked the CPU to leave its run loop), the handler returns without advancing RIP;
// the engine guarantees a REP string instruction is the last of its block, so the next block
// entry runs it again from the registers' current state, and interrupts can be taken in between.
#include <cstdint>
#include <type_traits>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/semantics/string_elements.h"

namespace umbra {

namespace {

using namespace string_ops;

// Elements per handler call before yielding to the engine: bounds interrupt latency (at most
// 128 KiB moved per call with MOVSQ).
constexpr uint64_t kRepChunk = 16384;

enum class Rep { None, Plain, WhileEqual, WhileNotEqual };

template <typename T>
inline int64_t direction_step(const CpuState& cpu) {
  return (cpu.rflags & rf::DF) ? -static_cast<int64_t>(sizeof(T)) : static_cast<int64_t>(sizeof(T));
}

// Bulk step for the operations that have one (forward REP MOVS/STOS); 0 = do one element.
template <typename T, typename A, template <typename, typename> class E>
inline uint64_t bulk_step(CpuState& cpu, const Insn& i, uint64_t max) {
  if constexpr (std::is_same_v<E<T, A>, Movs<T, A>>)
    return movs_forward_block<T, A>(cpu, i, max);
  else if constexpr (std::is_same_v<E<T, A>, Stos<T, A>>)
    return stos_forward_block<T, A>(cpu, i, max);
  else
    return 0;
}

template <typename T, typename A, template <typename, typename> class E, Rep R>
struct StringInsn {
  static void run(CpuState& cpu, const Insn& i) {
    const int64_t step = direction_step<T>(cpu);
    if constexpr (R == Rep::None) {
      E<T, A>::element(cpu, i, step);
      next_rip(cpu, i);
    } else {
      A count = read_gpr<A>(cpu, RCX);
      uint64_t budget = kRepChunk;
      while (count != 0) {
        uint64_t done = 0;
        if (step > 0) done = bulk_step<T, A, E>(cpu, i, count < budget ? count : budget);
        if (done == 0) {
          E<T, A>::element(cpu, i, step);
          done = 1;
        }
        count = static_cast<A>(count - done);
        write_gpr<A>(cpu, RCX, count);
        if constexpr (R == Rep::WhileEqual) {
          if (!get_zf(cpu)) break;
        } else if constexpr (R == Rep::WhileNotEqual) {
          if (get_zf(cpu)) break;
        }
        budget -= done;
        if (count != 0 && (budget == 0 || cpu.exit_request != 0)) return;  // resume later
      }
      next_rip(cpu, i);
    }
  }
};

template <typename T, typename A, template <typename, typename> class E>
Handler select_rep(const Insn& i) {
  const bool rep = i.prefixes & pfx::kRep;
  const bool repne = i.prefixes & pfx::kRepne;
  if (!rep && !repne) return &StringInsn<T, A, E, Rep::None>::run;
  if constexpr (E<T, A>::kCompares) {
    // The decoder keeps only the last of F2/F3; should both arrive, F3 (REPE) wins.
    return rep ? &StringInsn<T, A, E, Rep::WhileEqual>::run
               : &StringInsn<T, A, E, Rep::WhileNotEqual>::run;
  } else {
    return &StringInsn<T, A, E, Rep::Plain>::run;
  }
}

template <typename T, template <typename, typename> class E>
Handler select_address_size(const Insn& i) {
  switch (i.addr_size) {
    case 2:
      return select_rep<T, uint16_t, E>(i);
    case 4:
      return select_rep<T, uint32_t, E>(i);
    case 8:
      return select_rep<T, uint64_t, E>(i);
    default:
      return nullptr;
  }
}

template <template <typename, typename> class E>
Handler bind_string(const Insn& i) {
  switch (i.opsize) {
    case 1:
      return select_address_size<uint8_t, E>(i);
    case 2:
      return select_address_size<uint16_t, E>(i);
    case 4:
      return select_address_size<uint32_t, E>(i);
    case 8:
      return select_address_size<uint64_t, E>(i);
    default:
      return nullptr;
  }
}

}  // namespace

void register_string(BinderTable& t) {
  bind(t, Op::MOVS, &bind_string<Movs>);
  bind(t, Op::CMPS, &bind_string<Cmps>);
  bind(t, Op::SCAS, &bind_string<Scas>);
  bind(t, Op::LODS, &bind_string<Lods>);
  bind(t, Op::STOS, &bind_string<Stos>);
}

}  // namespace umbra
