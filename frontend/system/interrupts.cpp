// Exception and interrupt delivery (frontend/system/interrupts.h): the real-mode IVT, the
// protected-mode IDT with 16/32-bit interrupt, trap and task gates, the IA-32e IDT with 64-bit
// gates and the IST, and the double/triple-fault rules (SDM vol. 3, chapter 6; vol. 2, INT n).
//
// Every check that can fault is made before anything architectural is written; the frame is
// then written to the (new) stack, and only then are the registers committed. A fault raised
// on the way unwinds to the engine with cpu.delivering set, which combines it with the event
// being delivered (combine_nested_fault).
#include "frontend/system/interrupts.h"

#include <initializer_list>

#include "frontend/flags.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation.h"
#include "frontend/system/segmentation_checks.h"
#include "frontend/system/segmentation_stack.h"
#include "frontend/system/task_switch.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

bool is_software(EventKind k) {
  return k == EventKind::SoftwareInt || k == EventKind::SoftwareException;
}

// The RFLAGS image the frame holds (SDM vol. 3, 17.3.1.1): RF = 1 for fault-class exceptions
// other than #DB (an instruction breakpoint), RF = 0 for software interrupts (INT n, INT3, INTO,
// INT1 clear it when they start), otherwise RF as it is.
uint64_t pushed_flags(const CpuState& cpu, const Event& ev) {
  uint64_t f = read_rflags(cpu);
  if (ev.kind == EventKind::Fault && ev.vector != kDB) f |= rf::RF;
  if (is_software(ev.kind) || ev.kind == EventKind::PrivSoftwareException) f &= ~rf::RF;
  return f;
}

// RFLAGS on entry to a protected-mode or IA-32e handler (vol. 3, 6.12.1.3): TF, NT, RF and VM
// cleared; IF cleared too through an interrupt gate (not a trap gate). AC is left alone.
void enter_handler_flags(CpuState& cpu, bool interrupt_gate) {
  cpu.rflags &= ~(rf::TF | rf::NT | rf::RF | rf::VM | (interrupt_gate ? rf::IF : 0));
}

// ---- real-address mode: the IVT (vol. 3, 20.1.4; vol. 2, INT n real-address mode) ----

void deliver_real(CpuState& cpu, const Event& ev) {
  const uint32_t entry = uint32_t{ev.vector} * 4;
  if (entry + 3 > cpu.idtr.limit) raise_fault(cpu, kGP, 0);
  const uint32_t vec =
      static_cast<uint32_t>(read_system(cpu, system_linear(cpu, cpu.idtr.base, entry), 4));
  const StackCursor st = current_stack(cpu);
  StackFrame f;
  f.push(pushed_flags(cpu, ev) & 0xffff, 2);
  f.push(cpu.seg[CS].selector, 2);
  f.push(ev.return_rip & 0xffff, 2);  // no error code in real mode
  check_frame(cpu, st, f, kSS, 0);
  const uint64_t sp = write_frame(cpu, st, f);
  write_stack_pointer(cpu, sp, st.width);
  cpu.rflags &= ~(rf::IF | rf::TF | rf::AC);
  install_code_segment(cpu, real_mode_segment(cpu.seg[CS], static_cast<uint16_t>(vec >> 16)));
  cpu.rip = vec & 0xffff;
}

// ---- protected mode (EFER.LMA = 0) ----

void deliver_protected(CpuState& cpu, const Event& ev, bool ext) {
  const uint8_t v = ev.vector;
  const bool soft = is_software(ev.kind);
  if (uint32_t{v} * 8 + 7 > cpu.idtr.limit) raise_fault(cpu, kGP, idt_error(v, ext));
  Descriptor gate;
  gate.lo = read_system(cpu, system_linear(cpu, cpu.idtr.base, uint64_t{v} * 8), 8);
  const unsigned type = gate.type();
  const bool known = gate.system() && (type == dtype::kTaskGate || type == dtype::kIntGate16 ||
                                       type == dtype::kTrapGate16 || type == dtype::kIntGate32 ||
                                       type == dtype::kTrapGate32);
  if (!known) raise_fault(cpu, kGP, idt_error(v, ext));
  // INT n, INT3 and INTO may only use gates with DPL >= CPL; INT1 and hardware events skip the
  // check (vol. 3, 6.12.1.1).
  if (soft && gate.dpl() < cpu.cpl) raise_fault(cpu, kGP, idt_error(v, false));
  if (!gate.present()) raise_fault(cpu, kNP, idt_error(v, ext));

  if (type == dtype::kTaskGate) {
    task_switch(cpu, gate.gate_selector(), TaskSwitchSource::Gate, ev.return_rip, ext, ev.has_error,
                ev.error_code);
    return;
  }

  const bool gate32 = (type & 8) != 0;
  const bool interrupt_gate = !(type & 1);
  const unsigned slot = gate32 ? 4 : 2;
  const uint16_t sel = gate.gate_selector();
  if (selector_is_null(sel)) raise_fault(cpu, kGP, ext ? 1 : 0);
  const uint32_t cs_err = selector_error(sel, ext);
  Descriptor cs;
  uint64_t cs_where;
  if (!fetch_descriptor(cpu, sel, 8, &cs, &cs_where)) raise_fault(cpu, kGP, cs_err);
  if (!cs.code() || cs.dpl() > cpu.cpl) raise_fault(cpu, kGP, cs_err);
  if (!cs.present()) raise_fault(cpu, kNP, cs_err);
  const uint32_t offset = gate32 ? gate.gate_offset32() : (gate.gate_offset32() & 0xffff);
  const bool from_v86 = (cpu.rflags & rf::VM) != 0;
  const uint64_t flags = pushed_flags(cpu, ev);

  if (!cs.conforming() && cs.dpl() < cpu.cpl) {
    // Inter-privilege: stack from the TSS (vol. 3, 6.12.1, figure 6-4). From virtual-8086 mode
    // the handler must run at privilege 0, and the data segment registers are saved and nulled.
    const unsigned dpl = cs.dpl();
    if (from_v86 && dpl != 0) raise_fault(cpu, kGP, cs_err);
    uint16_t ss_sel;
    uint32_t esp;
    read_tss_stack(cpu, dpl, ext, &ss_sel, &esp);
    const SegmentLoad ss = check_inner_stack_segment(cpu, ss_sel, dpl, ext);
    const StackCursor st = make_stack(ss.cache, esp, false, cpu.cpl == 3);
    StackFrame f;
    if (from_v86) {
      f.push(cpu.seg[GS].selector, slot);
      f.push(cpu.seg[FS].selector, slot);
      f.push(cpu.seg[DS].selector, slot);
      f.push(cpu.seg[ES].selector, slot);
    }
    f.push(cpu.seg[SS].selector, slot);
    f.push(cpu.gpr[RSP], slot);
    f.push(flags, slot);
    f.push(cpu.seg[CS].selector, slot);
    f.push(ev.return_rip, slot);
    if (ev.has_error) f.push(ev.error_code, slot);
    check_frame(cpu, st, f, kSS, selector_error(ss_sel, ext));
    if (offset > cs.limit()) raise_fault(cpu, kGP, ext ? 1 : 0);
    mark_descriptor_accessed(cpu, cs_where, cs);
    mark_descriptor_accessed(cpu, ss.desc_linear, ss.desc);
    const uint64_t sp = write_frame(cpu, st, f);

    const uint8_t view = tlb_privilege_view(cpu);
    cpu.seg[SS] = ss.cache;
    write_stack_pointer(cpu, sp, st.width);
    if (from_v86) {
      for (const unsigned s : {ES, DS, FS, GS}) cpu.seg[s] = null_segment(0);
    }
    enter_handler_flags(cpu, interrupt_gate);
    install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(sel, cs), dpl));
    cpu.rip = offset;
    tlb_flush_for_privilege_change(cpu, view);
    return;
  }

  // Same privilege (conforming handler, or DPL = CPL). Not allowed from virtual-8086 mode.
  if (from_v86) raise_fault(cpu, kGP, cs_err);
  const StackCursor st = current_stack(cpu);
  StackFrame f;
  f.push(flags, slot);
  f.push(cpu.seg[CS].selector, slot);
  f.push(ev.return_rip, slot);
  if (ev.has_error) f.push(ev.error_code, slot);
  check_frame(cpu, st, f, kSS, ext ? 1 : 0);
  if (offset > cs.limit()) raise_fault(cpu, kGP, ext ? 1 : 0);
  mark_descriptor_accessed(cpu, cs_where, cs);
  const uint64_t sp = write_frame(cpu, st, f);

  const uint8_t view = tlb_privilege_view(cpu);
  write_stack_pointer(cpu, sp, st.width);
  enter_handler_flags(cpu, interrupt_gate);
  install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(sel, cs), cpu.cpl));
  cpu.rip = offset;
  tlb_flush_for_privilege_change(cpu, view);
}

// ---- IA-32e mode: 16-byte gates, IST, SS:RSP always pushed (vol. 3, 6.14) ----

void deliver_long(CpuState& cpu, const Event& ev, bool ext) {
  const uint8_t v = ev.vector;
  const bool soft = is_software(ev.kind);
  if (uint32_t{v} * 16 + 15 > cpu.idtr.limit) raise_fault(cpu, kGP, idt_error(v, ext));
  const Descriptor gate =
      read_descriptor_at(cpu, system_linear(cpu, cpu.idtr.base, uint64_t{v} * 16), 16);
  const unsigned type = gate.type();
  // Only 64-bit interrupt and trap gates exist in IA-32e mode (vol. 3, 6.14.1).
  if (!gate.system() || (type != dtype::kIntGate32 && type != dtype::kTrapGate32))
    raise_fault(cpu, kGP, idt_error(v, ext));
  if (soft && gate.dpl() < cpu.cpl) raise_fault(cpu, kGP, idt_error(v, false));
  if (!gate.present()) raise_fault(cpu, kNP, idt_error(v, ext));

  const bool interrupt_gate = type == dtype::kIntGate32;
  const uint16_t sel = gate.gate_selector();
  if (selector_is_null(sel)) raise_fault(cpu, kGP, ext ? 1 : 0);
  const uint32_t cs_err = selector_error(sel, ext);
  Descriptor cs;
  uint64_t cs_where;
  if (!fetch_descriptor(cpu, sel, 8, &cs, &cs_where)) raise_fault(cpu, kGP, cs_err);
  if (!cs.code() || cs.dpl() > cpu.cpl) raise_fault(cpu, kGP, cs_err);
  // The handler must be 64-bit code: L = 1, D = 0.
  if (!cs.long_code() || cs.default_big()) raise_fault(cpu, kGP, cs_err);
  if (!cs.present()) raise_fault(cpu, kNP, cs_err);

  const unsigned new_cpl = cs.conforming() ? cpu.cpl : cs.dpl();
  const bool privilege_change = new_cpl < cpu.cpl;
  const unsigned ist = gate.gate_ist();
  uint64_t rsp = cpu.gpr[RSP];
  if (privilege_change || ist != 0) rsp = read_tss64_stack(cpu, new_cpl, ist, ext);
  rsp &= ~uint64_t{0xf};  // the frame is 16-byte aligned (vol. 3, 6.14.2)
  const uint64_t target = gate.gate_offset64();

  // From CPL 3 the inner stack is written with supervisor rights.
  const StackCursor st = make_stack(cpu.seg[SS], rsp, /*mode64=*/true, cpu.cpl == 3 && new_cpl < 3);
  StackFrame f;
  f.push(cpu.seg[SS].selector, 8);
  f.push(cpu.gpr[RSP], 8);
  f.push(pushed_flags(cpu, ev), 8);
  f.push(cpu.seg[CS].selector, 8);
  f.push(ev.return_rip, 8);
  if (ev.has_error) f.push(ev.error_code, 8);
  check_frame(cpu, st, f, kSS, ext ? 1 : 0);
  if (!is_canonical48(target)) raise_fault(cpu, kGP, ext ? 1 : 0);
  mark_descriptor_accessed(cpu, cs_where, cs);
  const uint64_t sp = write_frame(cpu, st, f);

  const uint8_t view = tlb_privilege_view(cpu);
  // A privilege change loads SS with a null selector whose RPL is the new CPL.
  // (Its cached DPL holds the CPL as for a null SS loaded by MOV in 64-bit mode.)
  if (privilege_change) {
    SegmentCache ss = null_segment(static_cast<uint16_t>(new_cpl));
    ss.attrib = static_cast<uint16_t>(new_cpl << 5);
    install_segment(cpu, SS, ss);
  }
  cpu.gpr[RSP] = sp;
  enter_handler_flags(cpu, interrupt_gate);
  install_code_segment(cpu, code_segment_for_cpl(segment_from_descriptor(sel, cs), new_cpl));
  cpu.rip = target;
  tlb_flush_for_privilege_change(cpu, view);
}

// Vol. 3, table 6-4: the exception classes that matter for double faults.
enum class FaultClass : uint8_t { Benign, Contributory, PageFault, DoubleFault };

FaultClass classify(uint8_t vector) {
  switch (vector) {
    case kDE:
    case kTS:
    case kNP:
    case kSS:
    case kGP:
    case 21:  // #CP
      return FaultClass::Contributory;
    case kPF:
    case 20:  // #VE
      return FaultClass::PageFault;
    case kDF:
      return FaultClass::DoubleFault;
    default:
      return FaultClass::Benign;
  }
}

}  // namespace

void deliver_event(CpuState& cpu, const Event& ev) {
  cpu.delivering = 1;
  cpu.delivering_vector = ev.vector;
  cpu.delivering_kind = static_cast<uint8_t>(ev.kind);
  // CR2 is loaded when the page fault is recognized, before its delivery can fail (vol. 3,
  // 6.15 interrupt 14).
  if (ev.vector == kPF && (ev.kind == EventKind::Fault || ev.kind == EventKind::Trap))
    cpu.cr2 = ev.fault_addr;
  // EXT (vol. 3, 6.13): set for faults raised while delivering anything but INT n, INT3, INTO.
  const bool ext = !is_software(ev.kind);
  if (!protected_mode(cpu))
    deliver_real(cpu, ev);
  else if (long_mode_active(cpu))
    deliver_long(cpu, ev, ext);
  else
    deliver_protected(cpu, ev, ext);
  if (ev.kind == EventKind::Nmi) cpu.nmi_blocked = 1;
  cpu.halted = 0;
  cpu.delivering = 0;
}

NestedOutcome combine_nested_fault(uint8_t first_vector, EventKind first_kind,
                                   uint8_t second_vector) {
  // Interrupts (hardware, NMI, INT n) are benign whatever their vector; so are INT3/INTO/INT1.
  const bool first_is_exception = first_kind == EventKind::Fault || first_kind == EventKind::Trap;
  const FaultClass first = first_is_exception ? classify(first_vector) : FaultClass::Benign;
  const FaultClass second = classify(second_vector);
  const bool second_bad = second == FaultClass::Contributory || second == FaultClass::PageFault;
  switch (first) {
    case FaultClass::Contributory:
      return second == FaultClass::Contributory ? NestedOutcome::DoubleFault
                                                : NestedOutcome::DeliverSecond;
    case FaultClass::PageFault:
      return second_bad ? NestedOutcome::DoubleFault : NestedOutcome::DeliverSecond;
    case FaultClass::DoubleFault:
      return second_bad ? NestedOutcome::TripleFault : NestedOutcome::DeliverSecond;
    case FaultClass::Benign:
      break;
  }
  return NestedOutcome::DeliverSecond;
}

bool exception_has_error_code(uint8_t vector) {
  switch (vector) {
    case kDF:
    case kTS:
    case kNP:
    case kSS:
    case kGP:
    case kPF:
    case kAC:
    case 21:  // #CP (CET is not advertised, but the vector's format is fixed)
      return true;
    default:
      return false;
  }
}

}  // namespace umbra
