// Stack manipulation (SDM vol. 1, 6.2 and 7.3.1.5): PUSH, POP, PUSH Sreg, PUSHA/POPA, ENTER,
// LEAVE. PUSHF/POPF are in stack_flags.cpp; the push/pop primitives in stack_access.h.
//
// Operand size (Insn::opsize) is the size of each stack slot; the stack width (RSP, or ESP/SP by
// SS.B) is independent of it. Multi-slot instructions (PUSHA, POPA, ENTER) do every memory access
// that can fault before they change a register, and PUSHA/ENTER check every slot for write before
// storing any, so a fault leaves registers and memory as they were.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/semantics/stack_access.h"
#include "frontend/semantics/stack_internal.h"

namespace umbra {

namespace {

using K = OpKind;

// PUSH r/m/imm. The value is read before RSP moves, so PUSH RSP pushes the old RSP and
// PUSH [RSP+d] addresses with the old RSP.
template <typename T, OpKind S>
struct Push {
  static void run(CpuState& cpu, const Insn& i) {
    push_value<T>(cpu, read_operand<T, S>(cpu, i, i.dst));
    next_rip(cpu, i);
  }
};

// POP r/m. A register destination is written after RSP is incremented, so POP RSP loads the
// popped value. A memory destination is addressed with the incremented RSP (SDM vol. 2, POP);
// RSP is updated only after that write succeeded. The destination is an ordinary operand:
// segment-checked as a write of the operand size in legacy modes, and #SS(0) rather than
// #GP(0) when a non-canonical address is RSP/RBP-based in 64-bit mode (write_mem_seg).
template <typename T, OpKind D>
struct Pop {
  static void run(CpuState& cpu, const Insn& i) {
    const T v = peek_stack<T>(cpu);
    const uint64_t new_sp = sp_after_pop(cpu, sizeof(T));
    if constexpr (D == K::Reg) {
      write_sp(cpu, new_sp);
      write_gpr<T>(cpu, i.dst.reg, v);
    } else {
      const uint64_t old_rsp = cpu.gpr[RSP];
      write_sp(cpu, new_sp);
      // The address is computed with the new RSP; the old one is back before the segment
      // check and the write, so a fault leaves RSP as it was.
      const uint64_t ea = effective_address(cpu, i);
      cpu.gpr[RSP] = old_rsp;
      write_mem_seg<T>(cpu, seg_linear(cpu, i.seg, ea, sizeof(T), true), v, i.seg);
      write_sp(cpu, new_sp);
    }
    next_rip(cpu, i);
  }
};

template <typename T>
Handler select_push_kind(const Insn& i) {
  switch (i.dst.kind) {
    case K::Reg:
      return &Push<T, K::Reg>::run;
    case K::Mem:
      return &Push<T, K::Mem>::run;
    case K::Imm:
      return &Push<T, K::Imm>::run;
    default:
      return nullptr;
  }
}

Handler bind_push(const Insn& i) {
  switch (i.opsize) {
    case 2:
      return select_push_kind<uint16_t>(i);
    case 4:
      return select_push_kind<uint32_t>(i);
    case 8:
      return select_push_kind<uint64_t>(i);
    default:
      return nullptr;
  }
}

Handler bind_pop(const Insn& i) {
  if (i.opsize == 1) return nullptr;
  return select_unary<Pop>(i);
}

// PUSH Sreg: pushes the selector. With a 32/64-bit operand size the host (AMD) writes the whole
// slot, the selector zero-extended (some Intel processors write only the low word); we write the
// whole slot.
template <typename T>
struct PushSeg {
  static void run(CpuState& cpu, const Insn& i) {
    push_value<T>(cpu, static_cast<T>(cpu.seg[i.dst.reg].selector));
    next_rip(cpu, i);
  }
};

Handler bind_push_seg(const Insn& i) {
  if (i.dst.reg >= kNumSegRegs) return nullptr;
  switch (i.opsize) {
    case 2:
      return &PushSeg<uint16_t>::run;
    case 4:
      return &PushSeg<uint32_t>::run;
    case 8:
      return &PushSeg<uint64_t>::run;
    default:
      return nullptr;
  }
}

// A run of consecutive pushes below the current stack pointer, each slot checked for write
// before any is stored: slot k (k = 0..n-1) is at SP - (k + 1) * sizeof(T), wrapped to the stack
// width. Slots are checked as SS writes of the slot size: the SS limit in legacy modes, #SS(0)
// for a non-canonical address in 64-bit mode.
template <typename T, unsigned kMaxSlots>
class PushFrame {
 public:
  explicit PushFrame(CpuState& cpu) : cpu_(cpu), sp_(read_sp(cpu)) {}
  // Reserves the next slot, faulting now if it is not writable. Returns its index.
  unsigned reserve() {
    sp_ = sp_offset(cpu_, sp_, -static_cast<int64_t>(sizeof(T)));
    refs_[n_] = prepare_rmw_seg<T>(cpu_, stack_linear(cpu_, sp_, sizeof(T), true), SS);
    return n_++;
  }
  // Reserves the next slot for `value`, stored by commit().
  void add(T value) { values_[reserve()] = value; }
  uint64_t sp() const { return sp_; }
  // Stores every slot reserved with add(); cannot fault.
  void commit() {
    for (unsigned k = 0; k < n_; ++k) store<T>(cpu_, refs_[k], values_[k]);
  }
  // Stores `value` into reserved slot k; cannot fault.
  void store_slot(unsigned k, T value) { store<T>(cpu_, refs_[k], value); }

 private:
  CpuState& cpu_;
  uint64_t sp_;
  unsigned n_ = 0;
  MemRef refs_[kMaxSlots];
  T values_[kMaxSlots];
};

// PUSHA/PUSHAD: AX CX DX BX (original SP) BP SI DI (16/32-bit modes only; the decoder makes it
// #UD in 64-bit mode).
template <typename T>
struct Pusha {
  static void run(CpuState& cpu, const Insn& i) {
    PushFrame<T, 8> frame(cpu);
    for (uint8_t r = RAX; r <= RDI; ++r) frame.add(read_gpr<T>(cpu, r));
    frame.commit();
    write_sp(cpu, frame.sp());
    next_rip(cpu, i);
  }
};

// POPA/POPAD: DI SI BP (the SP slot is skipped, not read) BX DX CX AX; every slot is read
// (and checked against the SS limit as a read of the slot size) before any register changes.
template <typename T>
struct Popa {
  static void run(CpuState& cpu, const Insn& i) {
    T values[8];
    uint64_t sp = read_sp(cpu);
    for (int r = RDI; r >= RAX; --r) {
      if (r != RSP) values[r] = read_mem_seg<T>(cpu, stack_linear(cpu, sp, sizeof(T), false), SS);
      sp = sp_offset(cpu, sp, sizeof(T));
    }
    for (uint8_t r = RAX; r <= RDI; ++r)
      if (r != RSP) write_gpr<T>(cpu, r, values[r]);
    write_sp(cpu, sp);
    next_rip(cpu, i);
  }
};

// The frame-pointer register in the stack width (RBP, EBP or BP).
inline uint64_t read_bp(const CpuState& cpu) {
  return truncate_address(cpu.gpr[RBP], stack_width(cpu));
}

// ENTER imm16, imm8 (SDM vol. 2 ENTER; AMD APM vol. 3 ENTER):
//   push rBP; FrameTemp <- rSP;
//   level = imm8 mod 32; for k = 1..level-1: push the operand-size word at [SS: rBP - k * opsize];
//   if level > 0: push FrameTemp;
//   rSP <- rSP - imm16; rBP <- FrameTemp.
// Slots are operand-size wide; rBP/rSP arithmetic is in the stack width. Only the operand-size
// part of RBP receives FrameTemp (host: a 16-bit ENTER in 64-bit mode writes BP and keeps
// RBP[63:16]). Like the host, ENTER checks that the final stack pointer is writable (a write
// probe at [SS: final rSP] that faults when the allocated frame reaches an unmapped page).
//
// The reads and pushes are interleaved in that order, and the order matters: when the frame
// overlaps the bytes just pushed (rBP close to rSP), a frame-pointer read sees what the pushes
// before it wrote. Faults stay precise by doing the work in two passes: the first performs
// every check in the SDM's order (each push slot for write, each frame-pointer slot by reading
// it) without storing anything, so the first fault is the one the SDM order reaches first and
// nothing has changed; the second does the push/read/push sequence for real, and cannot fault
// because every access in it has just passed its check.
template <typename T>
struct Enter {
  static constexpr unsigned kMaxLevel = 31;

  static void run(CpuState& cpu, const Insn& i) {
    const unsigned level = i.imm2 & 31;
    const uint64_t alloc = static_cast<uint16_t>(i.imm);
    // Pass 1: checks only.
    PushFrame<T, kMaxLevel + 2> frame(cpu);
    frame.reserve();  // slot 0: rBP
    const uint64_t frame_temp = frame.sp();
    uint64_t read_at[kMaxLevel];  // linear addresses of the frame pointers to copy
    const uint64_t bp = read_bp(cpu);
    for (unsigned k = 1; k < level; ++k) {
      const uint64_t slot = sp_offset(cpu, bp, -static_cast<int64_t>(k * sizeof(T)));
      read_at[k - 1] = stack_linear(cpu, slot, sizeof(T), false);
      read_mem_seg<T>(cpu, read_at[k - 1], SS);  // faults as the read would
      frame.reserve();                           // slot k
    }
    if (level > 0) frame.reserve();  // slot level: FrameTemp
    const uint64_t final_sp = sp_offset(cpu, frame.sp(), -static_cast<int64_t>(alloc));
    prepare_rmw_seg<T>(cpu, stack_linear(cpu, final_sp, sizeof(T), true), SS);
    // Pass 2: the SDM's sequence; nothing faults from here on.
    frame.store_slot(0, read_gpr<T>(cpu, RBP));
    for (unsigned k = 1; k < level; ++k)
      frame.store_slot(k, read_mem_seg<T>(cpu, read_at[k - 1], SS));
    if (level > 0) frame.store_slot(level, static_cast<T>(frame_temp));
    write_sp(cpu, final_sp);
    write_gpr<T>(cpu, RBP, static_cast<T>(frame_temp));
    next_rip(cpu, i);
  }
};

// LEAVE: rSP <- rBP (stack width), then pop rBP (operand size). The pop reads [SS: rBP]: the
// SS limit applies in legacy modes, and a non-canonical RBP is #SS(0) in 64-bit mode.
template <typename T>
struct Leave {
  static void run(CpuState& cpu, const Insn& i) {
    const uint64_t bp = read_bp(cpu);
    const T v = read_mem_seg<T>(cpu, stack_linear(cpu, bp, sizeof(T), false), SS);
    write_sp(cpu, sp_offset(cpu, bp, sizeof(T)));
    write_gpr<T>(cpu, RBP, v);
    next_rip(cpu, i);
  }
};

template <template <typename> class F>
Handler select_legacy_slot_size(const Insn& i) {
  switch (i.opsize) {
    case 2:
      return &F<uint16_t>::run;
    case 4:
      return &F<uint32_t>::run;
    default:
      return nullptr;
  }
}

}  // namespace

void register_stack(BinderTable& t) {
  bind(t, Op::PUSH, &bind_push);
  bind(t, Op::POP, &bind_pop);
  bind(t, Op::PUSH_SEG, &bind_push_seg);
  bind(t, Op::PUSHA, &select_legacy_slot_size<Pusha>);
  bind(t, Op::POPA, &select_legacy_slot_size<Popa>);
  bind(t, Op::ENTER, &select_size_wide<Enter>);
  bind(t, Op::LEAVE, &select_size_wide<Leave>);
  register_stack_flags(t);
}

}  // namespace umbra
