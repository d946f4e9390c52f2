// Binding decoded instructions to semantic handlers.
//
// Each semantics file (one per SDM instruction class) implements its operations as templates
// over operand size and operand kinds and registers one Binder per operation. A Binder looks at
// a decoded Insn (opsize, operand kinds, ...) and returns the matching instantiation, or nullptr
// for a combination it does not implement (which then raises #UD, counted and logged once).
#pragma once

#include <array>
#include <cstdint>

#include "frontend/insn.h"

namespace umbra {

using Binder = Handler (*)(const Insn&);
using BinderTable = std::array<Binder, static_cast<size_t>(Op::kCount)>;

// The handler for a decoded instruction; never null (falls back to the #UD handler).
Handler bind_handler(const Insn& insn);

// Whether bind_handler() fell back to the unimplemented-operation handler for `h`.
bool handler_is_unimplemented(Handler h);

// Handler that raises #UD (invalid encodings and unimplemented operations).
void handler_ud(CpuState& cpu, const Insn& insn);

// Counts of #UD raised because an operation decodes but has no implementation, per Op.
uint64_t unimplemented_count(Op op);

// Registration entry points, one per semantics file.
void register_datamov(BinderTable& t);
void register_arith(BinderTable& t);
void register_logic(BinderTable& t);
void register_shift(BinderTable& t);
void register_bit(BinderTable& t);
void register_bmi(BinderTable& t);
void register_control(BinderTable& t);
void register_stack(BinderTable& t);
void register_flagctl(BinderTable& t);
void register_string(BinderTable& t);
void register_system(BinderTable& t);
void register_io(BinderTable& t);
void register_x87(BinderTable& t);    // ESCAPE_X87 (frontend/semantics/x87*.cpp)
void register_simd(BinderTable& t);   // ESCAPE_SSE (frontend/semantics/simd_dispatch.h)
// Segmentation, far transfers, interrupts, fast system calls (system issue, "syscore").
void register_far_control(BinderTable& t);
void register_segment_load(BinderTable& t);
void register_fast_syscall(BinderTable& t);
void register_descriptor_ops(BinderTable& t);

inline void bind(BinderTable& t, Op op, Binder b) { t[static_cast<size_t>(op)] = b; }

// ---- selection helpers: pick F<...>::run by operand size and kinds ----
// F is a class template with a static `void run(CpuState&, const Insn&)`.

// Two-operand forms F<T, DstKind, SrcKind>: dst is Reg or Mem; src is Reg, Mem or Imm, never
// Mem with a Mem dst.
template <typename T, template <typename, OpKind, OpKind> class F>
Handler select_kinds2(const Insn& i) {
  using K = OpKind;
  if (i.dst.kind == K::Reg) {
    switch (i.src.kind) {
      case K::Reg: return &F<T, K::Reg, K::Reg>::run;
      case K::Mem: return &F<T, K::Reg, K::Mem>::run;
      case K::Imm: return &F<T, K::Reg, K::Imm>::run;
      default: return nullptr;
    }
  }
  if (i.dst.kind == K::Mem) {
    switch (i.src.kind) {
      case K::Reg: return &F<T, K::Mem, K::Reg>::run;
      case K::Imm: return &F<T, K::Mem, K::Imm>::run;
      default: return nullptr;
    }
  }
  return nullptr;
}

template <template <typename, OpKind, OpKind> class F>
Handler select_binary(const Insn& i) {
  switch (i.opsize) {
    case 1: return select_kinds2<uint8_t, F>(i);
    case 2: return select_kinds2<uint16_t, F>(i);
    case 4: return select_kinds2<uint32_t, F>(i);
    case 8: return select_kinds2<uint64_t, F>(i);
    default: return nullptr;
  }
}

// Same, for operations with no byte form (e.g. IMUL r, r/m; BSF; CMOVcc).
template <template <typename, OpKind, OpKind> class F>
Handler select_binary_wide(const Insn& i) {
  switch (i.opsize) {
    case 2: return select_kinds2<uint16_t, F>(i);
    case 4: return select_kinds2<uint32_t, F>(i);
    case 8: return select_kinds2<uint64_t, F>(i);
    default: return nullptr;
  }
}

// One-operand forms F<T, Kind> where the operand (dst) is Reg or Mem (or Imm when allowed).
template <typename T, template <typename, OpKind> class F>
Handler select_kinds1(const Insn& i) {
  using K = OpKind;
  switch (i.dst.kind) {
    case K::Reg: return &F<T, K::Reg>::run;
    case K::Mem: return &F<T, K::Mem>::run;
    default: return nullptr;
  }
}

template <template <typename, OpKind> class F>
Handler select_unary(const Insn& i) {
  switch (i.opsize) {
    case 1: return select_kinds1<uint8_t, F>(i);
    case 2: return select_kinds1<uint16_t, F>(i);
    case 4: return select_kinds1<uint32_t, F>(i);
    case 8: return select_kinds1<uint64_t, F>(i);
    default: return nullptr;
  }
}

// Size-only forms F<T> (string instructions, CBW, ...).
template <template <typename> class F>
Handler select_size(const Insn& i) {
  switch (i.opsize) {
    case 1: return &F<uint8_t>::run;
    case 2: return &F<uint16_t>::run;
    case 4: return &F<uint32_t>::run;
    case 8: return &F<uint64_t>::run;
    default: return nullptr;
  }
}

// Size-only forms without a byte size (near branches, stack slots, CBW/CWD, ...): F<T> for
// operand sizes 2, 4 and 8.
template <template <typename> class F>
Handler select_size_wide(const Insn& i) {
  switch (i.opsize) {
    case 2: return &F<uint16_t>::run;
    case 4: return &F<uint32_t>::run;
    case 8: return &F<uint64_t>::run;
    default: return nullptr;
  }
}

}  // namespace umbra
