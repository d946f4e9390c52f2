// Segment-register moves: MOV Sreg, r/m; MOV r/m, Sreg; POP Sreg; LDS/LES/LSS/LFS/LGS
// (SDM vol. 2, MOV, POP, LDS/LES/LFS/LGS/LSS; vol. 3, 5.10 and the loads of
// frontend/system/segmentation.h).
//
// Decoder conventions (frontend/opcode_forms.inc): MOV Sreg, r/m (Sw_Ew) has the segment number
// in dst.reg (kind None) and the selector in src (16-bit r/m); MOV r/m, Sreg (Ev_Sw) the other
// way round; POP Sreg (SegImplied) the segment number in dst.reg; LxS (Gv_M) the offset's
// register in dst and the far pointer m16:16/32/64 as the memory operand. The decoder already
// makes MOV CS, r/m and segment numbers above GS #UD.
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/semantics/stack_access.h"
#include "frontend/system/segmentation.h"
#include "frontend/system/segmentation_stack.h"

namespace umbra {

namespace {

// MOV Sreg, r/m16. Loading SS inhibits interrupts and debug traps until the next instruction
// has run (vol. 2, MOV: "MOV SS" note), so that MOV SS; MOV ESP is atomic.
template <OpKind K>
struct MovSegLoad {
  static void run(CpuState& cpu, const Insn& i) {
    const unsigned seg = i.dst.reg;
    const uint16_t sel = read_operand<uint16_t, K>(cpu, i, i.src);
    load_segment(cpu, seg, sel);
    if (seg == SS) cpu.interrupt_shadow = 1;
    next_rip(cpu, i);
  }
};

Handler bind_mov_seg_load(const Insn& i) {
  if (i.dst.reg >= kNumSegRegs || i.dst.reg == CS) return nullptr;
  if (i.src.kind == OpKind::Reg) return &MovSegLoad<OpKind::Reg>::run;
  if (i.src.kind == OpKind::Mem) return &MovSegLoad<OpKind::Mem>::run;
  return nullptr;
}

// MOV r/m, Sreg. A memory destination is always 16 bits; a register destination takes the
// selector zero-extended to the operand size (a 16-bit form keeps bits 16..63, as every 16-bit
// register write does). Processors from the P6 family on zero the upper bits of a 32-bit
// destination (vol. 2, MOV).
template <typename T>
void mov_seg_store_reg(CpuState& cpu, const Insn& i) {
  write_gpr<T>(cpu, i.dst.reg, static_cast<T>(cpu.seg[i.src.reg].selector));
  next_rip(cpu, i);
}

void mov_seg_store_mem(CpuState& cpu, const Insn& i) {
  write_mem_seg<uint16_t>(cpu, linear_address(cpu, i, 2, true), cpu.seg[i.src.reg].selector, i.seg);
  next_rip(cpu, i);
}

Handler bind_mov_seg_store(const Insn& i) {
  if (i.src.reg >= kNumSegRegs) return nullptr;
  if (i.dst.kind == OpKind::Mem) return &mov_seg_store_mem;
  if (i.dst.kind != OpKind::Reg) return nullptr;
  switch (i.opsize) {
    case 2:
      return &mov_seg_store_reg<uint16_t>;
    case 4:
      return &mov_seg_store_reg<uint32_t>;
    case 8:
      return &mov_seg_store_reg<uint64_t>;
    default:
      return nullptr;
  }
}

// POP Sreg: reads the selector (operand-size slot), loads the segment with every check, then
// releases the slot with the stack-address size that was in force when the pop began. POP SS
// sets the interrupt shadow like MOV SS. POP CS does not exist (0F is an escape).
template <typename T>
struct PopSeg {
  static void run(CpuState& cpu, const Insn& i) {
    const unsigned seg = i.dst.reg;
    const unsigned width = stack_width(cpu);
    const uint16_t sel = static_cast<uint16_t>(peek_stack<T>(cpu));
    const uint64_t sp = sp_after_pop(cpu, sizeof(T));
    load_segment(cpu, seg, sel);
    write_stack_pointer(cpu, sp, width);
    if (seg == SS) cpu.interrupt_shadow = 1;
    next_rip(cpu, i);
  }
};

Handler bind_pop_seg(const Insn& i) {
  if (i.dst.reg >= kNumSegRegs || i.dst.reg == CS) return nullptr;
  switch (i.opsize) {
    case 2:
      return &PopSeg<uint16_t>::run;
    case 4:
      return &PopSeg<uint32_t>::run;
    case 8:
      return &PopSeg<uint64_t>::run;
    default:
      return nullptr;
  }
}

// LDS/LES/LSS/LFS/LGS r, m16:16/32/64: the offset comes first in memory, the selector after it.
// Both are read and the segment fully checked before the segment register and the destination
// register are written.
template <typename T, unsigned Seg>
struct LoadFarPointer {
  static void run(CpuState& cpu, const Insn& i) {
    const uint64_t ea = effective_address(cpu, i);
    const T offset = read_mem_seg<T>(cpu, seg_linear(cpu, i.seg, ea, sizeof(T), false), i.seg);
    const uint64_t sel_ea = truncate_address(ea + sizeof(T), i.addr_size);
    const uint16_t sel =
        read_mem_seg<uint16_t>(cpu, seg_linear(cpu, i.seg, sel_ea, 2, false), i.seg);
    load_segment(cpu, Seg, sel);
    write_gpr<T>(cpu, i.dst.reg, offset);
    next_rip(cpu, i);
  }
};

template <unsigned Seg>
Handler bind_load_far_pointer(const Insn& i) {
  if (i.src.kind != OpKind::Mem || i.dst.kind != OpKind::Reg) return nullptr;
  switch (i.opsize) {
    case 2:
      return &LoadFarPointer<uint16_t, Seg>::run;
    case 4:
      return &LoadFarPointer<uint32_t, Seg>::run;
    case 8:
      return &LoadFarPointer<uint64_t, Seg>::run;
    default:
      return nullptr;
  }
}

}  // namespace

void register_segment_load(BinderTable& t) {
  bind(t, Op::MOV_SEG_LOAD, &bind_mov_seg_load);
  bind(t, Op::MOV_SEG_STORE, &bind_mov_seg_store);
  bind(t, Op::POP_SEG, &bind_pop_seg);
  bind(t, Op::LDS, &bind_load_far_pointer<DS>);
  bind(t, Op::LES, &bind_load_far_pointer<ES>);
  bind(t, Op::LSS, &bind_load_far_pointer<SS>);
  bind(t, Op::LFS, &bind_load_far_pointer<FS>);
  bind(t, Op::LGS, &bind_load_far_pointer<GS>);
}

}  // namespace umbra
