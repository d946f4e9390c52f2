// Stack frames and stack switches of far transfers and event delivery
// (frontend/system/segmentation_stack.h).
#include "frontend/system/segmentation_stack.h"

#include "frontend/operands.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation_checks.h"

namespace umbra {

StackCursor make_stack(const SegmentCache& ss, uint64_t sp, bool mode64, bool implicit) {
  const unsigned width = mode64 ? 8 : ((ss.attrib & seg_attr::DB) ? 4 : 2);
  return StackCursor{ss, truncate_address(sp, width), width, implicit};
}

StackCursor current_stack(const CpuState& cpu) {
  return make_stack(cpu.seg[SS], cpu.gpr[RSP], cpu.mode64, false);
}

uint64_t stack_offset(const StackCursor& st, int64_t delta) {
  return truncate_address(st.sp + static_cast<uint64_t>(delta), st.width);
}

namespace {

// The linear address of stack offset `off` and whether the `size` bytes there are allowed.
bool slot_ok(const StackCursor& st, uint64_t off, unsigned size) {
  if (st.width == 8) return is_canonical48(off) && is_canonical48(off + size - 1);
  return segment_range_ok(st.ss, off, size);
}

uint64_t slot_linear(const StackCursor& st, uint64_t off) {
  if (st.width == 8) return off;
  return static_cast<uint32_t>(st.ss.base + off);
}

}  // namespace

void check_frame(CpuState& cpu, const StackCursor& st, const StackFrame& f, uint8_t vector,
                 uint32_t error) {
  int64_t delta = 0;
  for (unsigned k = 0; k < f.n; ++k) {
    delta -= f.slots[k].size;
    if (!slot_ok(st, stack_offset(st, delta), f.slots[k].size)) raise_fault(cpu, vector, error);
  }
}

uint64_t write_frame(CpuState& cpu, const StackCursor& st, const StackFrame& f) {
  int64_t delta = 0;
  for (unsigned k = 0; k < f.n; ++k) {
    delta -= f.slots[k].size;
    const uint64_t la = slot_linear(st, stack_offset(st, delta));
    if (st.implicit)
      write_system(cpu, la, f.slots[k].size, f.slots[k].value);
    else
      write_slow(cpu, la, f.slots[k].size, f.slots[k].value);
  }
  return stack_offset(st, delta);
}

uint64_t stack_read(CpuState& cpu, const StackCursor& st, int64_t delta, unsigned size,
                    uint8_t vector, uint32_t error) {
  const uint64_t off = stack_offset(st, delta);
  if (!slot_ok(st, off, size)) raise_fault(cpu, vector, error);
  const uint64_t la = slot_linear(st, off);
  if (st.implicit) return read_system(cpu, la, size);
  switch (size) {
    case 2:
      return read_mem<uint16_t>(cpu, la);
    case 4:
      return read_mem<uint32_t>(cpu, la);
    default:
      return read_mem<uint64_t>(cpu, la);
  }
}

void write_stack_pointer(CpuState& cpu, uint64_t sp, unsigned width) {
  if (width == 8)
    cpu.gpr[RSP] = sp;
  else if (width == 4)
    cpu.gpr[RSP] = static_cast<uint32_t>(sp);
  else
    cpu.gpr[RSP] = (cpu.gpr[RSP] & ~uint64_t{0xffff}) | (sp & 0xffff);
}

// ---- stack switch ----

void read_tss_stack(CpuState& cpu, unsigned dpl, bool ext, uint16_t* ss, uint32_t* esp) {
  // 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n; 16-bit TSS: SPn at 2 + 4n, SSn at 4 + 4n
  // (SDM vol. 3, figures 7-2 and 7-11).
  const unsigned type = cpu.tr.attrib & 0xf;
  const bool tss32 = type == dtype::kTss32 || type == dtype::kTss32Busy;
  const uint32_t err = selector_error(cpu.tr.selector, ext);
  if (tss32) {
    const uint32_t off = dpl * 8 + 4;
    if (off + 7 > cpu.tr.limit) raise_fault(cpu, kTS, err);
    const uint64_t la = system_linear(cpu, cpu.tr.base, off);
    *esp = static_cast<uint32_t>(read_system(cpu, la, 4));
    *ss = static_cast<uint16_t>(read_system(cpu, system_linear(cpu, la, 4), 2));
  } else {
    const uint32_t off = dpl * 4 + 2;
    if (off + 3 > cpu.tr.limit) raise_fault(cpu, kTS, err);
    const uint64_t la = system_linear(cpu, cpu.tr.base, off);
    *esp = static_cast<uint16_t>(read_system(cpu, la, 2));
    *ss = static_cast<uint16_t>(read_system(cpu, system_linear(cpu, la, 2), 2));
  }
}

uint64_t read_tss64_stack(CpuState& cpu, unsigned dpl, unsigned ist, bool ext) {
  // 64-bit TSS: RSP0..2 at 4, 12, 20; IST1..7 at 0x24 + 8(n-1) (SDM vol. 3, figure 8-11).
  const uint32_t off = ist ? 0x24 + (ist - 1) * 8 : 4 + dpl * 8;
  if (off + 7 > cpu.tr.limit) raise_fault(cpu, kTS, selector_error(cpu.tr.selector, ext));
  return read_system(cpu, system_linear(cpu, cpu.tr.base, off), 8);
}

SegmentLoad check_inner_stack_segment(CpuState& cpu, uint16_t sel, unsigned dpl, bool ext) {
  if (selector_is_null(sel)) raise_fault(cpu, kTS, ext ? 1 : 0);
  const uint32_t err = selector_error(sel, ext);
  SegmentLoad ld;
  Descriptor d;
  if (!fetch_descriptor(cpu, sel, 8, &d, &ld.desc_linear)) raise_fault(cpu, kTS, err);
  if (selector_rpl(sel) != dpl || d.dpl() != dpl || !d.writable_data()) raise_fault(cpu, kTS, err);
  if (!d.present()) raise_fault(cpu, kSS, err);
  ld.cache = segment_from_descriptor(sel, d);
  ld.desc = d;
  ld.has_desc = true;
  return ld;
}

SegmentLoad check_outer_stack_segment(CpuState& cpu, uint16_t sel, unsigned rpl, bool null_ok) {
  SegmentLoad ld;
  if (selector_is_null(sel)) {
    // 64-bit mode may return to CPL 0..2 with a null SS (SDM vol. 2, IRET and RET).
    if (!null_ok || rpl == 3) raise_fault(cpu, kGP, 0);
    ld.cache = null_segment(sel);
    ld.cache.attrib = static_cast<uint16_t>(rpl << 5);
    return ld;
  }
  const uint32_t err = selector_error(sel, false);
  Descriptor d;
  if (!fetch_descriptor(cpu, sel, 8, &d, &ld.desc_linear)) raise_fault(cpu, kGP, err);
  if (selector_rpl(sel) != rpl || d.dpl() != rpl || !d.writable_data()) raise_fault(cpu, kGP, err);
  if (!d.present()) raise_fault(cpu, kSS, err);
  ld.cache = segment_from_descriptor(sel, d);
  ld.desc = d;
  ld.has_desc = true;
  return ld;
}

}  // namespace umbra
