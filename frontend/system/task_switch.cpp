// Hardware task switching (frontend/system/task_switch.h; SDM vol. 3, 7.3 steps 1-15).
#include "frontend/system/task_switch.h"

#include <initializer_list>

#include "frontend/flags.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation.h"
#include "frontend/system/segmentation_checks.h"
#include "frontend/system/segmentation_stack.h"
#include "softmmu/page_walk.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

// The dynamic state a TSS holds (vol. 3, figures 7-2 and 7-11).
struct TaskImage {
  uint32_t cr3 = 0;
  uint32_t eip = 0;
  uint32_t eflags = 0;
  uint32_t gpr[8] = {};
  uint16_t seg[kNumSegRegs] = {};  // ES, CS, SS, DS, FS, GS
  uint16_t ldt = 0;
};

// Field offsets: 32-bit TSS and 16-bit TSS.
struct TssLayout {
  unsigned eip, eflags, gpr, seg, ldt, slot, seg_count, min_limit;
};
constexpr TssLayout kTss32{0x20, 0x24, 0x28, 0x48, 0x60, 4, 6, 0x67};
constexpr TssLayout kTss16{0x0e, 0x10, 0x12, 0x22, 0x2a, 2, 4, 0x2b};

bool is_tss32(unsigned type) {
  return type == dtype::kTss32 || type == dtype::kTss32Busy;
}

uint64_t tss_read(CpuState& cpu, uint64_t base, unsigned off, unsigned size) {
  return read_system(cpu, system_linear(cpu, base, off), size);
}
void tss_write(CpuState& cpu, uint64_t base, unsigned off, unsigned size, uint64_t v) {
  write_system(cpu, system_linear(cpu, base, off), size, v);
}

TaskImage read_image(CpuState& cpu, uint64_t base, const TssLayout& l, bool tss32) {
  TaskImage t;
  if (tss32) t.cr3 = static_cast<uint32_t>(tss_read(cpu, base, 0x1c, 4));
  t.eip = static_cast<uint32_t>(tss_read(cpu, base, l.eip, l.slot));
  t.eflags = static_cast<uint32_t>(tss_read(cpu, base, l.eflags, l.slot));
  for (unsigned r = 0; r < 8; ++r)
    t.gpr[r] = static_cast<uint32_t>(tss_read(cpu, base, l.gpr + r * l.slot, l.slot));
  for (unsigned s = 0; s < l.seg_count; ++s)
    t.seg[s] = static_cast<uint16_t>(tss_read(cpu, base, l.seg + s * l.slot, 2));
  t.ldt = static_cast<uint16_t>(tss_read(cpu, base, l.ldt, 2));
  return t;
}

// Saves the outgoing task's dynamic state into its TSS (vol. 3, 7.3 step 7).
void save_image(CpuState& cpu, uint64_t base, const TssLayout& l, uint64_t eip, uint64_t eflags) {
  tss_write(cpu, base, l.eip, l.slot, eip);
  tss_write(cpu, base, l.eflags, l.slot, eflags);
  for (unsigned r = 0; r < 8; ++r) tss_write(cpu, base, l.gpr + r * l.slot, l.slot, cpu.gpr[r]);
  for (unsigned s = 0; s < l.seg_count; ++s)
    tss_write(cpu, base, l.seg + s * l.slot, 2, cpu.seg[s].selector);
}

// Sets or clears the busy bit in a TSS descriptor's type byte.
void set_busy(CpuState& cpu, uint64_t desc_linear, bool busy) {
  const uint64_t la = system_linear(cpu, desc_linear, 5);
  const uint64_t type_byte = read_system(cpu, la, 1);
  write_system(cpu, la, 1,
               busy ? (type_byte | dtype::kTssBusy) : (type_byte & ~uint64_t{dtype::kTssBusy}));
}

// ---- loading the new task's segments (after the commit point: faults belong to it) ----

SegmentCache load_task_code(CpuState& cpu, uint16_t sel, bool ext) {
  const uint32_t err = selector_error(sel, ext);
  if (selector_is_null(sel)) raise_fault(cpu, kTS, err);
  Descriptor d;
  uint64_t where;
  if (!fetch_descriptor(cpu, sel, 8, &d, &where) || !d.code()) raise_fault(cpu, kTS, err);
  const unsigned rpl = selector_rpl(sel);
  if (d.conforming() ? d.dpl() > rpl : d.dpl() != rpl) raise_fault(cpu, kTS, err);
  if (!d.present()) raise_fault(cpu, kNP, err);
  mark_descriptor_accessed(cpu, where, d);
  return code_segment_for_cpl(segment_from_descriptor(sel, d), rpl);
}

SegmentCache load_task_stack(CpuState& cpu, uint16_t sel, unsigned cpl, bool ext) {
  const uint32_t err = selector_error(sel, ext);
  if (selector_is_null(sel)) raise_fault(cpu, kTS, err);
  Descriptor d;
  uint64_t where;
  if (!fetch_descriptor(cpu, sel, 8, &d, &where) || !d.writable_data() ||
      selector_rpl(sel) != cpl || d.dpl() != cpl)
    raise_fault(cpu, kTS, err);
  if (!d.present()) raise_fault(cpu, kSS, err);
  mark_descriptor_accessed(cpu, where, d);
  return segment_from_descriptor(sel, d);
}

SegmentCache load_task_data(CpuState& cpu, uint16_t sel, unsigned cpl, bool ext) {
  if (selector_is_null(sel)) return null_segment(sel);
  const uint32_t err = selector_error(sel, ext);
  Descriptor d;
  uint64_t where;
  if (!fetch_descriptor(cpu, sel, 8, &d, &where) || d.system() ||
      (d.code() && !(d.type() & dtype::kReadable)))
    raise_fault(cpu, kTS, err);
  if (!d.conforming() && (d.dpl() < cpl || d.dpl() < selector_rpl(sel))) raise_fault(cpu, kTS, err);
  if (!d.present()) raise_fault(cpu, kNP, err);
  mark_descriptor_accessed(cpu, where, d);
  return segment_from_descriptor(sel, d);
}

void load_task_ldt(CpuState& cpu, uint16_t sel, bool ext) {
  if (selector_is_null(sel)) {
    cpu.ldtr = null_segment(sel);
    return;
  }
  const uint32_t err = selector_error(sel, ext);
  Descriptor d;
  if (selector_in_ldt(sel) || !fetch_descriptor(cpu, sel, 8, &d) || !d.system() ||
      d.type() != dtype::kLdt)
    raise_fault(cpu, kTS, err);
  if (!d.present()) raise_fault(cpu, kTS, err);
  cpu.ldtr = SegmentCache{d.base32(), d.limit(), sel, d.attrib()};
}

}  // namespace

void task_switch(CpuState& cpu, uint16_t tss_sel, TaskSwitchSource source, uint64_t return_rip,
                 bool ext, bool push_error, uint32_t error_code) {
  // ---- checks before the commit point: the old task stays intact if any fails ----
  const bool iret = source == TaskSwitchSource::Iret;
  const uint32_t err = selector_error(tss_sel, ext);
  // IRET reports a bad back link as #TS, the others a bad target as #GP (vol. 2, IRET; CALL).
  const uint8_t bad = iret ? kTS : kGP;
  Descriptor d;
  uint64_t where;
  if (selector_in_ldt(tss_sel) || !fetch_descriptor(cpu, tss_sel, 8, &d, &where))
    raise_fault(cpu, bad, err);
  const unsigned type = d.type();
  const bool want_busy = iret;  // IRET returns to a busy task; the others need an idle one
  const bool tss_type = d.system() && (type == dtype::kTss16 || type == dtype::kTss32 ||
                                       type == dtype::kTss16Busy || type == dtype::kTss32Busy);
  if (!tss_type || ((type & dtype::kTssBusy) != 0) != want_busy) raise_fault(cpu, bad, err);
  if (!d.present()) raise_fault(cpu, kNP, err);
  const bool new32 = is_tss32(type);
  const TssLayout& nl = new32 ? kTss32 : kTss16;
  if (d.limit() < nl.min_limit) raise_fault(cpu, kTS, err);
  const bool old32 = is_tss32(cpu.tr.attrib & 0xf);
  const TssLayout& ol = old32 ? kTss32 : kTss16;
  if (cpu.tr.limit < ol.ldt - 1) raise_fault(cpu, kTS, selector_error(cpu.tr.selector, ext));

  const uint64_t new_base = d.base32();
  TaskImage img = read_image(cpu, new_base, nl, new32);
  uint64_t old_desc = 0;
  const bool have_old_desc = descriptor_address(cpu, cpu.tr.selector, 8, &old_desc);

  // Save the old task (its EFLAGS with NT cleared on IRET), update busy bits and the link.
  uint64_t old_flags = read_rflags(cpu);
  if (iret) old_flags &= ~rf::NT;
  save_image(cpu, cpu.tr.base, ol, return_rip, old_flags);
  if ((source == TaskSwitchSource::Jmp || iret) && have_old_desc) set_busy(cpu, old_desc, false);
  const bool nest = source == TaskSwitchSource::Call || source == TaskSwitchSource::Gate;
  if (nest) {
    tss_write(cpu, new_base, 0, 2, cpu.tr.selector);
    img.eflags |= rf::NT;
  }
  if (!iret) set_busy(cpu, where, true);
  // CR3 of a 32-bit TSS is loaded only with paging on; PAE's PDPTEs are read now (page_walk.h).
  const bool load_cr3 = new32 && (cpu.cr0 & cr0::PG);
  if (load_cr3 && pae_paging(cpu.cr0, cpu.cr4, cpu.efer) && !load_pae_pdptes(cpu, img.cr3))
    raise_fault(cpu, kGP, 0);

  // ---- commit: from here on the new task is current ----
  const uint8_t view = tlb_privilege_view(cpu);
  cpu.tr = SegmentCache{new_base, d.limit(), tss_sel,
                        static_cast<uint16_t>(d.attrib() | dtype::kTssBusy)};
  cpu.cr0 |= cr0::TS;
  if (load_cr3) {
    cpu.cr3 = img.cr3;
    tlb_flush_all(cpu);
  }
  // A 16-bit TSS holds IP, FLAGS and the 16-bit registers: the upper words of the GPRs are
  // left as they were.
  cpu.rip = img.eip;
  write_rflags(cpu, img.eflags | rf::FIXED1, new32 ? 0xffffffffu : 0xffffu);
  for (unsigned r = 0; r < 8; ++r) {
    if (new32)
      cpu.gpr[r] = img.gpr[r];
    else
      cpu.gpr[r] = (cpu.gpr[r] & ~uint64_t{0xffff}) | img.gpr[r];
  }
  // Selectors first (with unusable caches), so a fault below leaves the new task's selectors
  // visible to its handler; then each register with its checks.
  for (unsigned s = 0; s < nl.seg_count; ++s) cpu.seg[s] = null_segment(img.seg[s]);
  const bool v86 = new32 && (img.eflags & rf::VM);
  if (v86) {
    for (unsigned s = 0; s < kNumSegRegs; ++s) cpu.seg[s] = v86_segment(img.seg[s]);
    load_task_ldt(cpu, img.ldt, ext);
  } else {
    load_task_ldt(cpu, img.ldt, ext);
    const SegmentCache cs = load_task_code(cpu, img.seg[CS], ext);
    const unsigned cpl = selector_rpl(img.seg[CS]);
    const SegmentCache ss = load_task_stack(cpu, img.seg[SS], cpl, ext);
    cpu.seg[CS] = cs;
    cpu.seg[SS] = ss;
    for (const unsigned s : {ES, DS, FS, GS}) {
      if (!new32 && (s == FS || s == GS)) continue;  // a 16-bit TSS has no FS/GS
      cpu.seg[s] = load_task_data(cpu, img.seg[s], cpl, ext);
    }
  }
  refresh_segment_checks(cpu);
  update_cpu_mode(cpu);
  tlb_flush_for_privilege_change(cpu, view);

  // An exception with an error code delivered through a task gate pushes it on the new task's
  // stack (vol. 3, 6.12.2).
  if (push_error) {
    const StackCursor st = current_stack(cpu);
    StackFrame f;
    f.push(error_code, new32 ? 4 : 2);
    check_frame(cpu, st, f, kSS, ext ? 1 : 0);
    write_stack_pointer(cpu, write_frame(cpu, st, f), st.width);
  }
  if (cpu.rip > cpu.seg[CS].limit) raise_fault(cpu, kGP, ext ? 1 : 0);
}

}  // namespace umbra
