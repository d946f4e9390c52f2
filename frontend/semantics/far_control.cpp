// Far control transfers and software interrupts: JMP far, CALL far, RET far, IRET, INT n, INT3,
// INTO, INT1, BOUND (SDM vol. 2 instruction pages; vol. 3, 5.8 privilege changes and call gates,
// 6.12-6.14 interrupt returns, chapter 7 task switches, 20.1 real mode and 20.2 virtual-8086).
//
// Every handler reads and checks everything that can fault (descriptors, stack slots, the
// target offset) before it writes anything architectural; then it sets descriptor accessed bits
// and writes stack frames (memory writes that may still #PF), and only then commits registers.
//
// Decoder conventions: JMP/CALL ptr16:16/32 (form Ap) have the offset in Insn::imm and the
// selector in Insn::disp; JMP/CALL m16:16/32/64 (FF /5, FF /3) have a memory operand and the
// operand size of the offset; RET far has its release count in Insn::imm (0 for CB); INT n has
// the vector in Insn::imm.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/system/interrupts.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation.h"
#include "frontend/system/segmentation_checks.h"
#include "frontend/system/segmentation_stack.h"
#include "frontend/system/task_switch.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

// The address of the next instruction, wrapped to the code size.
uint64_t next_ip(const CpuState& cpu, const Insn& i) {
  const uint64_t r = cpu.rip + i.len;
  return cpu.mode64 ? r : (cpu.code32 ? static_cast<uint32_t>(r) : static_cast<uint16_t>(r));
}

uint64_t truncate_to(uint64_t v, unsigned size) {
  return truncate_address(v, size);
}

struct FarPointer {
  uint16_t sel;
  uint64_t offset;
};

// The far pointer operand: ptr16:16/32 immediate, or m16:16/32/64 with the offset first.
FarPointer far_operand(CpuState& cpu, const Insn& i) {
  if (i.dst.kind == OpKind::Imm)
    return FarPointer{static_cast<uint16_t>(i.disp), truncate_to(i.imm, i.opsize)};
  const uint64_t ea = effective_address(cpu, i);
  uint64_t offset;
  const uint64_t la = seg_linear(cpu, i.seg, ea, i.opsize, false);
  switch (i.opsize) {
    case 2:
      offset = read_mem_seg<uint16_t>(cpu, la, i.seg);
      break;
    case 4:
      offset = read_mem_seg<uint32_t>(cpu, la, i.seg);
      break;
    default:
      offset = read_mem_seg<uint64_t>(cpu, la, i.seg);
      break;
  }
  const uint64_t sel_ea = truncate_address(ea + i.opsize, i.addr_size);
  const uint16_t sel = read_mem_seg<uint16_t>(cpu, seg_linear(cpu, i.seg, sel_ea, 2, false), i.seg);
  return FarPointer{sel, offset};
}

// A valid entry point into the code segment described by `d`: canonical for 64-bit code in
// IA-32e mode, within the segment limit otherwise (#GP(0) when not).
void check_target(CpuState& cpu, const Descriptor& d, uint64_t rip) {
  const bool ok = (long_mode_active(cpu) && d.long_code()) ? is_canonical48(rip) : rip <= d.limit();
  if (!ok) raise_fault(cpu, kGP, 0);
}

// In IA-32e mode a code segment with both L and D set is reserved (vol. 3, 5.2.1).
bool bad_long_mode_code(const CpuState& cpu, const Descriptor& d) {
  return long_mode_active(cpu) && d.long_code() && d.default_big();
}

// ---- real-address and virtual-8086 mode ----

// JMP/CALL far in real or virtual-8086 mode: CS base = selector << 4; the offset must lie
// within the new CS limit (the cached limit in real mode, 0xFFFF in virtual-8086 mode).
void far_real(CpuState& cpu, const Insn& i, const FarPointer& p, bool call) {
  const SegmentCache cs =
      v86_mode(cpu) ? v86_segment(p.sel) : real_mode_segment(cpu.seg[CS], p.sel);
  const uint64_t target = truncate_to(p.offset, i.opsize == 2 ? 2 : 4);
  if (target > cs.limit) raise_fault(cpu, kGP, 0);
  if (call) {
    const StackCursor st = current_stack(cpu);
    StackFrame f;
    f.push(cpu.seg[CS].selector, i.opsize);
    f.push(next_ip(cpu, i), i.opsize);
    check_frame(cpu, st, f, kSS, 0);
    write_stack_pointer(cpu, write_frame(cpu, st, f), st.width);
  }
  install_code_segment(cpu, cs);
  cpu.rip = target;
}

// ---- protected mode: direct code segment ----

// JMP/CALL far to a code segment at the same privilege (vol. 3, 5.8.1-5.8.2): a conforming
// segment needs DPL <= CPL; a non-conforming one RPL <= CPL and DPL = CPL. CPL never changes.
void far_to_code(CpuState& cpu, const Insn& i, const FarPointer& p, const Descriptor& d,
                 uint64_t where, bool call) {
  const uint32_t err = selector_error(p.sel, false);
  if (d.conforming()) {
    if (d.dpl() > cpu.cpl) raise_fault(cpu, kGP, err);
  } else if (selector_rpl(p.sel) > cpu.cpl || d.dpl() != cpu.cpl) {
    raise_fault(cpu, kGP, err);
  }
  if (bad_long_mode_code(cpu, d)) raise_fault(cpu, kGP, err);
  if (!d.present()) raise_fault(cpu, kNP, err);
  const StackCursor st = current_stack(cpu);
  StackFrame f;
  if (call) {
    f.push(cpu.seg[CS].selector, i.opsize);
    f.push(next_ip(cpu, i), i.opsize);
    check_frame(cpu, st, f, kSS, 0);
  }
  check_target(cpu, d, p.offset);
  mark_descriptor_accessed(cpu, where, d);
  if (call) write_stack_pointer(cpu, write_frame(cpu, st, f), st.width);
  install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(p.sel, d), cpu.cpl));
  cpu.rip = p.offset;
}

// ---- protected mode: call gates (vol. 3, 5.8.3-5.8.6) ----

void far_through_call_gate(CpuState& cpu, const Insn& i, const FarPointer& p, Descriptor gate,
                           bool call) {
  const uint32_t gate_err = selector_error(p.sel, false);
  const bool lma = long_mode_active(cpu);
  if (gate.dpl() < cpu.cpl || gate.dpl() < selector_rpl(p.sel)) raise_fault(cpu, kGP, gate_err);
  if (!gate.present()) raise_fault(cpu, kNP, gate_err);
  if (lma) {
    // IA-32e call gates are 16 bytes; the upper half's type field must be 0 (vol. 3, 5.8.3.1).
    uint64_t where16;
    if (!descriptor_address(cpu, p.sel, 16, &where16)) raise_fault(cpu, kGP, gate_err);
    gate = read_descriptor_at(cpu, where16, 16);
    if (gate.upper_type() != 0) raise_fault(cpu, kGP, gate_err);
  }
  const unsigned gate_type = gate.type();
  const unsigned slot = lma ? 8 : (gate_type == dtype::kCallGate32 ? 4 : 2);
  const uint64_t offset = lma ? gate.gate_offset64()
                              : (slot == 4 ? gate.gate_offset32() : gate.gate_offset32() & 0xffff);

  const uint16_t cs_sel = gate.gate_selector();
  if (selector_is_null(cs_sel)) raise_fault(cpu, kGP, 0);
  const uint32_t cs_err = selector_error(cs_sel, false);
  Descriptor cs;
  uint64_t cs_where;
  if (!fetch_descriptor(cpu, cs_sel, 8, &cs, &cs_where)) raise_fault(cpu, kGP, cs_err);
  if (!cs.code() || cs.dpl() > cpu.cpl) raise_fault(cpu, kGP, cs_err);
  if (!call && !cs.conforming() && cs.dpl() != cpu.cpl) raise_fault(cpu, kGP, cs_err);
  // An IA-32e call gate leads to 64-bit code only.
  if (lma && (!cs.long_code() || cs.default_big())) raise_fault(cpu, kGP, cs_err);
  if (!cs.present()) raise_fault(cpu, kNP, cs_err);

  const bool inward = call && !cs.conforming() && cs.dpl() < cpu.cpl;
  if (!inward) {
    // JMP through a gate, or CALL at the same privilege: the return address goes on the current
    // stack in the gate's size (IA-32e: 8-byte slots, also from compatibility mode).
    const StackCursor st =
        lma ? make_stack(cpu.seg[SS],
                         cpu.mode64 ? cpu.gpr[RSP] : static_cast<uint32_t>(cpu.gpr[RSP]), true,
                         false)
            : current_stack(cpu);
    StackFrame f;
    if (call) {
      f.push(cpu.seg[CS].selector, slot);
      f.push(next_ip(cpu, i), slot);
      check_frame(cpu, st, f, kSS, 0);
    }
    check_target(cpu, cs, offset);
    mark_descriptor_accessed(cpu, cs_where, cs);
    if (call) {
      const uint64_t sp = write_frame(cpu, st, f);
      write_stack_pointer(cpu, sp, st.width);
    }
    install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(cs_sel, cs), cpu.cpl));
    cpu.rip = offset;
    return;
  }

  // CALL to a more privileged non-conforming segment: switch to the inner stack from the TSS,
  // push the caller's SS:ESP, copy the gate's parameters (16/32-bit gates), push CS:EIP.
  const unsigned dpl = cs.dpl();
  const bool implicit = cpu.cpl == 3;
  StackFrame f;
  SegmentLoad ss;
  StackCursor st;
  if (lma) {
    // The new SS is null with RPL = the new CPL (vol. 3, 5.8.5.1).
    ss.cache = null_segment(static_cast<uint16_t>(dpl));
    ss.cache.attrib = static_cast<uint16_t>(dpl << 5);
    st = make_stack(ss.cache, read_tss64_stack(cpu, dpl, 0, false), true, implicit);
    f.push(cpu.seg[SS].selector, 8);
    f.push(cpu.gpr[RSP], 8);
    f.push(cpu.seg[CS].selector, 8);
    f.push(next_ip(cpu, i), 8);
    check_frame(cpu, st, f, kSS, 0);
  } else {
    uint16_t ss_sel;
    uint32_t esp;
    read_tss_stack(cpu, dpl, false, &ss_sel, &esp);
    ss = check_inner_stack_segment(cpu, ss_sel, dpl, false);
    st = make_stack(ss.cache, esp, false, implicit);
    const unsigned params = gate.gate_param_count();
    f.push(cpu.seg[SS].selector, slot);
    f.push(cpu.gpr[RSP], slot);
    // The parameters keep their order: the one at the highest address on the caller's stack
    // is pushed first.
    const StackCursor old = current_stack(cpu);
    for (unsigned k = params; k-- > 0;)
      f.push(stack_read(cpu, old, static_cast<int64_t>(k * slot), slot, kSS, 0), slot);
    f.push(cpu.seg[CS].selector, slot);
    f.push(next_ip(cpu, i), slot);
    check_frame(cpu, st, f, kSS, selector_error(ss_sel, false));
  }
  check_target(cpu, cs, offset);
  mark_descriptor_accessed(cpu, cs_where, cs);
  if (ss.has_desc) mark_descriptor_accessed(cpu, ss.desc_linear, ss.desc);
  const uint64_t sp = write_frame(cpu, st, f);

  const uint8_t view = tlb_privilege_view(cpu);
  cpu.seg[SS] = ss.cache;
  write_stack_pointer(cpu, sp, st.width);
  install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(cs_sel, cs), dpl));
  cpu.rip = offset;
  tlb_flush_for_privilege_change(cpu, view);
}

// JMP/CALL far in protected or IA-32e mode: the selector names a code segment, a call gate, a
// task gate or a TSS (vol. 2, JMP and CALL).
void far_protected(CpuState& cpu, const Insn& i, const FarPointer& p, bool call) {
  if (selector_is_null(p.sel)) raise_fault(cpu, kGP, 0);
  const uint32_t err = selector_error(p.sel, false);
  Descriptor d;
  uint64_t where;
  if (!fetch_descriptor(cpu, p.sel, 8, &d, &where)) raise_fault(cpu, kGP, err);
  if (d.code()) return far_to_code(cpu, i, p, d, where, call);
  if (!d.system()) raise_fault(cpu, kGP, err);  // a data segment
  const bool lma = long_mode_active(cpu);
  switch (d.type()) {
    case dtype::kCallGate32:
      return far_through_call_gate(cpu, i, p, d, call);
    case dtype::kCallGate16:
      if (lma) break;
      return far_through_call_gate(cpu, i, p, d, call);
    case dtype::kTaskGate:
    case dtype::kTss16:
    case dtype::kTss32:
    case dtype::kTss16Busy:
    case dtype::kTss32Busy: {
      // No task switches in IA-32e mode (vol. 3, 8.7).
      if (lma) break;
      // The TSS descriptor or task gate must be reachable from the CPL and the RPL.
      if (d.dpl() < cpu.cpl || d.dpl() < selector_rpl(p.sel)) raise_fault(cpu, kGP, err);
      uint16_t tss_sel = p.sel;
      if (d.type() == dtype::kTaskGate) {
        if (!d.present()) raise_fault(cpu, kNP, err);
        tss_sel = d.gate_selector();
      }
      task_switch(cpu, tss_sel, call ? TaskSwitchSource::Call : TaskSwitchSource::Jmp,
                  next_ip(cpu, i), false);
      return;
    }
    default:
      break;
  }
  raise_fault(cpu, kGP, err);
}

template <bool Call>
void far_transfer(CpuState& cpu, const Insn& i) {
  const FarPointer p = far_operand(cpu, i);
  if (!protected_mode(cpu) || v86_mode(cpu))
    far_real(cpu, i, p, Call);
  else
    far_protected(cpu, i, p, Call);
}

Handler bind_far(const Insn& i) {
  if (i.dst.kind != OpKind::Imm && i.dst.kind != OpKind::Mem) return nullptr;
  if (i.opsize != 2 && i.opsize != 4 && i.opsize != 8) return nullptr;
  return i.op == Op::CALL_FAR ? &far_transfer<true> : &far_transfer<false>;
}

// ---- RET far (vol. 2, RET; vol. 3, 5.8.6) ----

void ret_far(CpuState& cpu, const Insn& i) {
  const unsigned size = i.opsize;
  const int64_t release = static_cast<int64_t>(i.imm & 0xffff);
  const StackCursor st = current_stack(cpu);
  const uint64_t offset = stack_read(cpu, st, 0, size, kSS, 0);
  const uint16_t sel = static_cast<uint16_t>(stack_read(cpu, st, size, size, kSS, 0));
  const int64_t popped = 2 * static_cast<int64_t>(size);

  if (!protected_mode(cpu) || v86_mode(cpu)) {
    const SegmentCache cs = v86_mode(cpu) ? v86_segment(sel) : real_mode_segment(cpu.seg[CS], sel);
    if (offset > cs.limit) raise_fault(cpu, kGP, 0);
    write_stack_pointer(cpu, stack_offset(st, popped + release), st.width);
    install_code_segment(cpu, cs);
    cpu.rip = offset;
    return;
  }

  // The returned-to code segment: RPL >= CPL; conforming: DPL <= RPL; else DPL = RPL.
  if (selector_is_null(sel)) raise_fault(cpu, kGP, 0);
  const uint32_t err = selector_error(sel, false);
  Descriptor cs;
  uint64_t cs_where;
  if (!fetch_descriptor(cpu, sel, 8, &cs, &cs_where)) raise_fault(cpu, kGP, err);
  const unsigned rpl = selector_rpl(sel);
  if (!cs.code() || rpl < cpu.cpl) raise_fault(cpu, kGP, err);
  if (cs.conforming() ? cs.dpl() > rpl : cs.dpl() != rpl) raise_fault(cpu, kGP, err);
  if (bad_long_mode_code(cpu, cs)) raise_fault(cpu, kGP, err);
  if (!cs.present()) raise_fault(cpu, kNP, err);

  if (rpl == cpu.cpl) {
    check_target(cpu, cs, offset);
    mark_descriptor_accessed(cpu, cs_where, cs);
    write_stack_pointer(cpu, stack_offset(st, popped + release), st.width);
    install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(sel, cs), rpl));
    cpu.rip = offset;
    return;
  }

  // Return to an outer privilege level: the caller's SS:ESP follow the released parameters.
  const uint64_t new_sp = stack_read(cpu, st, popped + release, size, kSS, 0);
  const uint16_t ss_sel =
      static_cast<uint16_t>(stack_read(cpu, st, popped + release + size, size, kSS, 0));
  const bool target64 = long_mode_active(cpu) && cs.long_code();
  const SegmentLoad ss = check_outer_stack_segment(cpu, ss_sel, rpl, target64);
  check_target(cpu, cs, offset);
  mark_descriptor_accessed(cpu, cs_where, cs);
  if (ss.has_desc) mark_descriptor_accessed(cpu, ss.desc_linear, ss.desc);

  const uint8_t view = tlb_privilege_view(cpu);
  const StackCursor outer = make_stack(ss.cache, new_sp, target64, false);
  cpu.seg[SS] = ss.cache;
  write_stack_pointer(cpu, stack_offset(outer, release), outer.width);
  install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(sel, cs), rpl));
  cpu.rip = offset;
  null_inaccessible_data_segments(cpu);
  tlb_flush_for_privilege_change(cpu, view);
}

Handler bind_ret_far(const Insn& i) {
  if (i.opsize != 2 && i.opsize != 4 && i.opsize != 8) return nullptr;
  return &ret_far;
}

// ---- IRET (vol. 2, IRET; vol. 3, 6.14.3, 7.4.2, 20.2.7) ----

constexpr uint64_t kIopl3 = rf::IOPL;

// The RFLAGS bits an IRET writes from the popped image in protected or IA-32e mode, given the
// privilege it started at: the status flags, TF, DF, NT always; RF, AC, ID for 32/64-bit
// forms; IF only when CPL <= IOPL; IOPL, VIF and VIP only at CPL 0. VM never (the return to
// virtual-8086 mode is handled separately).
uint64_t iret_writable(const CpuState& cpu, unsigned size) {
  uint64_t w = rf::ARITH | rf::TF | rf::DF | rf::NT;
  if (size > 2) w |= rf::RF | rf::AC | rf::ID;
  const unsigned iopl = (cpu.rflags >> 12) & 3;
  if (cpu.cpl <= iopl) w |= rf::IF;
  if (cpu.cpl == 0) {
    w |= rf::IOPL;
    if (size > 2) w |= rf::VIF | rf::VIP;
  }
  return w;
}

// Real mode: pop IP, CS, FLAGS; the 32-bit form keeps VM, VIF and VIP.
void iret_real(CpuState& cpu, const Insn& i) {
  const unsigned size = i.opsize;
  const StackCursor st = current_stack(cpu);
  const uint64_t ip = stack_read(cpu, st, 0, size, kSS, 0);
  const uint16_t sel = static_cast<uint16_t>(stack_read(cpu, st, size, size, kSS, 0));
  const uint64_t flags = stack_read(cpu, st, 2 * size, size, kSS, 0);
  const SegmentCache cs = real_mode_segment(cpu.seg[CS], sel);
  if (ip > cs.limit) raise_fault(cpu, kGP, 0);
  const uint64_t writable = size == 2 ? 0xffffu : 0x257fd5u;
  write_stack_pointer(cpu, stack_offset(st, 3 * static_cast<int64_t>(size)), st.width);
  write_rflags(cpu, flags, writable);
  install_code_segment(cpu, cs);
  cpu.rip = ip;
  cpu.nmi_blocked = 0;
}

// Virtual-8086 mode with IOPL = 3: a real-mode style return that cannot change VM, IOPL, VIP
// or VIF. With IOPL < 3 it is #GP(0), except the 16-bit form under CR4.VME, which returns with
// the popped IF going to VIF (#GP(0) if that would unmask a pending virtual interrupt, or if it
// sets TF) and IOPL and IF kept (SDM vol. 2, IRET; vol. 3, 20.3).
void iret_v86(CpuState& cpu, const Insn& i) {
  const unsigned iopl = (cpu.rflags >> 12) & 3;
  const unsigned size = i.opsize;
  const bool virtual_if = iopl < 3;
  if (virtual_if && (!(cpu.cr4 & cr4::VME) || size != 2)) raise_fault(cpu, kGP, 0);
  const StackCursor st = current_stack(cpu);
  const uint64_t ip = stack_read(cpu, st, 0, size, kSS, 0);
  const uint16_t sel = static_cast<uint16_t>(stack_read(cpu, st, size, size, kSS, 0));
  const uint64_t flags = stack_read(cpu, st, 2 * size, size, kSS, 0);
  if (ip > 0xffff) raise_fault(cpu, kGP, 0);
  uint64_t writable = rf::ARITH | rf::TF | rf::IF | rf::DF | rf::NT;
  if (size > 2) writable |= rf::RF | rf::AC | rf::ID;
  if (virtual_if) {
    if ((flags & rf::TF) || ((flags & rf::IF) && (cpu.rflags & rf::VIP))) raise_fault(cpu, kGP, 0);
    writable = 0xffff & ~(rf::IOPL | rf::IF);
  }
  write_stack_pointer(cpu, stack_offset(st, 3 * static_cast<int64_t>(size)), st.width);
  write_rflags(cpu, flags, writable);
  if (virtual_if) cpu.rflags = (cpu.rflags & ~rf::VIF) | ((flags & rf::IF) ? rf::VIF : 0);
  install_code_segment(cpu, v86_segment(sel));
  cpu.rip = ip;
  cpu.nmi_blocked = 0;
}

// IRET from CPL 0 with VM = 1 in the popped EFLAGS (32-bit form, outside IA-32e mode): the
// frame continues with ESP, SS, ES, DS, FS, GS; all six segments load as virtual-8086 segments
// and the CPU enters virtual-8086 mode at CPL 3.
void iret_to_v86(CpuState& cpu, const StackCursor& st, uint64_t eip, uint16_t cs_sel,
                 uint64_t flags) {
  uint64_t v[6];
  for (unsigned k = 0; k < 6; ++k) v[k] = stack_read(cpu, st, 12 + 4 * k, 4, kSS, 0);
  const uint8_t view = tlb_privilege_view(cpu);
  write_rflags(cpu, flags, ~uint64_t{0});
  cpu.rflags |= rf::VM;
  cpu.seg[SS] = v86_segment(static_cast<uint16_t>(v[1]));
  cpu.seg[ES] = v86_segment(static_cast<uint16_t>(v[2]));
  cpu.seg[DS] = v86_segment(static_cast<uint16_t>(v[3]));
  cpu.seg[FS] = v86_segment(static_cast<uint16_t>(v[4]));
  cpu.seg[GS] = v86_segment(static_cast<uint16_t>(v[5]));
  cpu.gpr[RSP] = static_cast<uint32_t>(v[0]);
  install_code_segment(cpu, v86_segment(cs_sel));
  cpu.rip = eip & 0xffff;
  cpu.nmi_blocked = 0;
  tlb_flush_for_privilege_change(cpu, view);
}

void iret_protected(CpuState& cpu, const Insn& i) {
  const bool lma = long_mode_active(cpu);
  if (cpu.rflags & rf::NT) {
    // Return from a nested task through the TSS back link (vol. 3, 7.4.2). IA-32e mode has no
    // task switching: #GP(0).
    if (lma) raise_fault(cpu, kGP, 0);
    if (cpu.tr.limit < 1) raise_fault(cpu, kTS, selector_error(cpu.tr.selector, false));
    const uint16_t link =
        static_cast<uint16_t>(read_system(cpu, system_linear(cpu, cpu.tr.base, 0), 2));
    task_switch(cpu, link, TaskSwitchSource::Iret, next_ip(cpu, i), false);
    cpu.nmi_blocked = 0;
    return;
  }
  const unsigned size = i.opsize;
  const StackCursor st = current_stack(cpu);
  const uint64_t rip = stack_read(cpu, st, 0, size, kSS, 0);
  const uint16_t sel = static_cast<uint16_t>(stack_read(cpu, st, size, size, kSS, 0));
  const uint64_t flags = stack_read(cpu, st, 2 * size, size, kSS, 0);
  if ((flags & rf::VM) && cpu.cpl == 0 && size == 4 && !lma)
    return iret_to_v86(cpu, st, rip, sel, flags);

  if (selector_is_null(sel)) raise_fault(cpu, kGP, 0);
  const uint32_t err = selector_error(sel, false);
  Descriptor cs;
  uint64_t cs_where;
  if (!fetch_descriptor(cpu, sel, 8, &cs, &cs_where)) raise_fault(cpu, kGP, err);
  const unsigned rpl = selector_rpl(sel);
  if (!cs.code() || rpl < cpu.cpl) raise_fault(cpu, kGP, err);
  if (cs.conforming() ? cs.dpl() > rpl : cs.dpl() != rpl) raise_fault(cpu, kGP, err);
  if (bad_long_mode_code(cpu, cs)) raise_fault(cpu, kGP, err);
  if (!cs.present()) raise_fault(cpu, kNP, err);

  // 64-bit mode always pops SS:RSP; elsewhere only on a return to an outer level. From 64-bit
  // mode the return RIP is checked (canonical, or within the limit of 16/32-bit code) before
  // the stack segment, as IA-32e-MODE-RETURN lists it (vol. 2, IRET); a return to an outer
  // level outside it checks SS first.
  const bool pop_stack = cpu.mode64 || rpl > cpu.cpl;
  const bool target64 = lma && cs.long_code();
  if (cpu.mode64) check_target(cpu, cs, rip);
  SegmentLoad ss;
  uint64_t new_sp = 0;
  if (pop_stack) {
    new_sp = stack_read(cpu, st, 3 * static_cast<int64_t>(size), size, kSS, 0);
    const uint16_t ss_sel =
        static_cast<uint16_t>(stack_read(cpu, st, 4 * static_cast<int64_t>(size), size, kSS, 0));
    ss = check_outer_stack_segment(cpu, ss_sel, rpl, cpu.mode64 && target64);
  }
  if (!cpu.mode64) check_target(cpu, cs, rip);
  mark_descriptor_accessed(cpu, cs_where, cs);
  if (ss.has_desc) mark_descriptor_accessed(cpu, ss.desc_linear, ss.desc);

  const uint8_t view = tlb_privilege_view(cpu);
  const bool outer = rpl > cpu.cpl;
  const uint64_t writable = iret_writable(cpu, size);
  if (pop_stack) {
    cpu.seg[SS] = ss.cache;
    if (target64) {
      cpu.gpr[RSP] = truncate_to(new_sp, size);  // RSP <- the popped slot, zero-extended
    } else {
      // Back to 16/32-bit code the new SS's B flag sets the stack-pointer width (vol. 3, 3.4.5,
      // "D/B"): ESP zero-extended into RSP, or SP alone with RSP[63:16] kept, whichever mode
      // the IRET started in.
      const StackCursor outer = make_stack(ss.cache, new_sp, false, false);
      write_stack_pointer(cpu, outer.sp, outer.width);
    }
  } else {
    write_stack_pointer(cpu, stack_offset(st, 3 * static_cast<int64_t>(size)), st.width);
  }
  // The 16-bit form writes only FLAGS[15:0].
  write_rflags(cpu, flags, size == 2 ? (writable & 0xffff) : writable);
  install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(sel, cs), rpl));
  cpu.rip = rip;
  if (outer) null_inaccessible_data_segments(cpu);
  cpu.nmi_blocked = 0;
  tlb_flush_for_privilege_change(cpu, view);
}

void iret(CpuState& cpu, const Insn& i) {
  if (!protected_mode(cpu))
    iret_real(cpu, i);
  else if (cpu.rflags & rf::VM)
    iret_v86(cpu, i);
  else
    iret_protected(cpu, i);
}

Handler bind_iret(const Insn& i) {
  if (i.opsize != 2 && i.opsize != 4 && i.opsize != 8) return nullptr;
  return &iret;
}

// ---- software interrupts (vol. 2, INT n/INTO/INT3/INT1; BOUND) ----

// Whether CR4.VME redirects INT `vector` in virtual-8086 mode to the 8086 handler: its bit in
// the interrupt redirection bitmap, the 32 bytes just below the I/O permission bitmap of the
// TSS, is clear (SDM vol. 3, 20.3.3). A bitmap outside the TSS limit is #GP(0).
bool v86_redirected(CpuState& cpu, uint8_t vector) {
  if (cpu.tr.limit < 0x67) raise_fault(cpu, kGP, 0);
  const uint32_t io_base =
      static_cast<uint16_t>(read_system(cpu, system_linear(cpu, cpu.tr.base, 0x66), 2));
  const uint32_t byte = io_base - 32 + vector / 8;
  if (io_base < 32 || byte > cpu.tr.limit) raise_fault(cpu, kGP, 0);
  const uint64_t bits = read_system(cpu, system_linear(cpu, cpu.tr.base, byte), 1);
  return ((bits >> (vector & 7)) & 1) == 0;
}

// INT n redirected to the virtual-8086 task's own handler (SDM vol. 3, 20.3.3, methods 5 and
// 6): CS:IP from the 8086 vector table at linear address vector * 4, FLAGS, CS and IP pushed on
// the v86 stack, TF cleared. With IOPL = 3 IF is cleared; with IOPL < 3 the pushed FLAGS carry
// VIF in place of IF and IOPL = 3, and VIF is cleared instead.
void int_v86_redirected(CpuState& cpu, const Insn& i, uint8_t vector, unsigned iopl) {
  const uint32_t entry = read_mem<uint32_t>(cpu, uint64_t{vector} * 4);
  uint64_t image = read_rflags(cpu) & 0xffff;
  if (iopl < 3) image = (image & ~rf::IF) | ((cpu.rflags & rf::VIF) ? rf::IF : 0) | rf::IOPL;
  const StackCursor st = current_stack(cpu);
  StackFrame f;
  f.push(image, 2);
  f.push(cpu.seg[CS].selector, 2);
  f.push(next_ip(cpu, i), 2);
  check_frame(cpu, st, f, kSS, 0);
  write_stack_pointer(cpu, write_frame(cpu, st, f), st.width);
  cpu.rflags &= ~(rf::TF | (iopl < 3 ? rf::VIF : rf::IF));
  install_code_segment(cpu, v86_segment(static_cast<uint16_t>(entry >> 16)));
  cpu.rip = entry & 0xffff;
}

// INT n. In virtual-8086 mode it is IOPL-sensitive (#GP(0) when IOPL < 3) unless CR4.VME is
// set, when the redirection bitmap decides between the task's 8086 handler and the
// protected-mode handler (SDM vol. 3, table 20-2).
void int_n(CpuState& cpu, const Insn& i) {
  const uint8_t vector = static_cast<uint8_t>(i.imm);
  if (v86_mode(cpu)) {
    const unsigned iopl = (cpu.rflags >> 12) & 3;
    if ((cpu.cr4 & cr4::VME) && v86_redirected(cpu, vector))
      return int_v86_redirected(cpu, i, vector, iopl);
    if (iopl < 3) raise_fault(cpu, kGP, 0);
  }
  deliver_event(cpu, Event{vector, EventKind::SoftwareInt, false, 0, 0, next_ip(cpu, i)});
}

void int3(CpuState& cpu, const Insn& i) {
  deliver_event(cpu, Event{kBP, EventKind::SoftwareException, false, 0, 0, next_ip(cpu, i)});
}

// INTO: #OF when OF = 1 (the decoder makes it #UD in 64-bit mode).
void into(CpuState& cpu, const Insn& i) {
  if (!(arith_flags(cpu) & rf::OF)) return next_rip(cpu, i);
  deliver_event(cpu, Event{kOF, EventKind::SoftwareException, false, 0, 0, next_ip(cpu, i)});
}

// INT1 (ICEBP): #DB without the gate DPL check, as a privileged software exception.
void int1(CpuState& cpu, const Insn& i) {
  deliver_event(cpu, Event{kDB, EventKind::PrivSoftwareException, false, 0, 0, next_ip(cpu, i)});
}

// BOUND r, m16&16 / m32&32: #BR (a fault, reported on BOUND) when the signed index lies outside
// [lower, upper].
template <typename T>
void bound(CpuState& cpu, const Insn& i) {
  using S = SignedOf<T>;
  const uint64_t ea = effective_address(cpu, i);
  const S lower =
      static_cast<S>(read_mem_seg<T>(cpu, seg_linear(cpu, i.seg, ea, sizeof(T), false), i.seg));
  const uint64_t upper_ea = truncate_address(ea + sizeof(T), i.addr_size);
  const S upper = static_cast<S>(
      read_mem_seg<T>(cpu, seg_linear(cpu, i.seg, upper_ea, sizeof(T), false), i.seg));
  const S index = static_cast<S>(read_gpr<T>(cpu, i.dst.reg));
  if (index < lower || index > upper) raise_fault(cpu, kBR);
  next_rip(cpu, i);
}

Handler bind_bound(const Insn& i) {
  if (i.src.kind != OpKind::Mem || i.dst.kind != OpKind::Reg) return nullptr;
  if (i.opsize == 2) return &bound<uint16_t>;
  if (i.opsize == 4) return &bound<uint32_t>;
  return nullptr;
}

Handler bind_int(const Insn&) {
  return &int_n;
}
Handler bind_int3(const Insn&) {
  return &int3;
}
Handler bind_into(const Insn&) {
  return &into;
}
Handler bind_int1(const Insn&) {
  return &int1;
}

}  // namespace

void register_far_control(BinderTable& t) {
  bind(t, Op::JMP_FAR, &bind_far);
  bind(t, Op::CALL_FAR, &bind_far);
  bind(t, Op::RET_FAR, &bind_ret_far);
  bind(t, Op::IRET, &bind_iret);
  bind(t, Op::INT, &bind_int);
  bind(t, Op::INT3, &bind_int3);
  bind(t, Op::INTO, &bind_into);
  bind(t, Op::INT1, &bind_int1);
  bind(t, Op::BOUND, &bind_bound);
}

}  // namespace umbra
