// Descriptor tables, segment caches and segment-register loads (frontend/system/segmentation.h).
#include "frontend/system/segmentation.h"

#include "frontend/system/mode.h"
#include "frontend/system/segmentation_checks.h"
#include "softmmu/paging_translator.h"

namespace umbra {

// ---- system-structure memory ----

uint64_t system_linear(const CpuState& cpu, uint64_t base, uint64_t offset) {
  const uint64_t a = base + offset;
  return long_mode_active(cpu) ? a : static_cast<uint32_t>(a);
}

// Descriptor tables, the IDT and the TSS are reached through implicit supervisor-mode accesses
// (SDM vol. 3, 4.6.1): supervisor rights whatever the CPL, never cached in the fast TLB
// (softmmu/paging_translator.h).
uint64_t read_system(CpuState& cpu, uint64_t linear, unsigned size) {
  return read_implicit(cpu, linear, size);
}

void write_system(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value) {
  write_implicit(cpu, linear, size, value);
}

// ---- descriptor tables ----

bool descriptor_address(const CpuState& cpu, uint16_t sel, unsigned bytes, uint64_t* linear) {
  uint64_t base;
  uint32_t limit;
  if (selector_in_ldt(sel)) {
    // An LDTR loaded with a null selector is unusable: every TI=1 reference is out of range.
    if (!(cpu.ldtr.attrib & seg_attr::P)) return false;
    base = cpu.ldtr.base;
    limit = cpu.ldtr.limit;
  } else {
    base = cpu.gdtr.base;
    limit = cpu.gdtr.limit;
  }
  const uint64_t offset = sel & 0xfff8u;
  if (offset + bytes - 1 > limit) return false;
  *linear = system_linear(cpu, base, offset);
  return true;
}

Descriptor read_descriptor_at(CpuState& cpu, uint64_t linear, unsigned bytes) {
  Descriptor d;
  d.lo = read_system(cpu, linear, 8);
  if (bytes == 16) d.hi = read_system(cpu, system_linear(cpu, linear, 8), 8);
  return d;
}

bool fetch_descriptor(CpuState& cpu, uint16_t sel, unsigned bytes, Descriptor* d,
                      uint64_t* linear) {
  uint64_t where;
  if (!descriptor_address(cpu, sel, bytes, &where)) return false;
  *d = read_descriptor_at(cpu, where, bytes);
  if (linear) *linear = where;
  return true;
}

void mark_descriptor_accessed(CpuState& cpu, uint64_t linear, const Descriptor& d) {
  if (d.system() || (d.type() & dtype::kAccessed)) return;
  // The type byte is byte 5 of the descriptor.
  write_system(cpu, system_linear(cpu, linear, 5), 1, ((d.lo >> 40) & 0xff) | dtype::kAccessed);
}

// ---- segment caches ----

SegmentCache segment_from_descriptor(uint16_t sel, const Descriptor& d) {
  uint16_t attrib = d.attrib();
  if (!d.system()) attrib |= dtype::kAccessed;  // loading sets it in the descriptor too
  return SegmentCache{d.base32(), d.limit(), sel, attrib};
}

SegmentCache null_segment(uint16_t sel) {
  return SegmentCache{0, 0, sel, 0};
}

SegmentCache real_mode_segment(const SegmentCache& old, uint16_t sel) {
  return SegmentCache{uint64_t{sel} << 4, old.limit, sel, old.attrib};
}

SegmentCache v86_segment(uint16_t sel) {
  // Type 3 (read/write, accessed), S = 1, DPL 3, P = 1.
  constexpr uint16_t kAttrib = 0x3 | seg_attr::S | (3u << 5) | seg_attr::P;
  return SegmentCache{uint64_t{sel} << 4, 0xffff, sel, kAttrib};
}

SegmentCache code_segment_for_cpl(const SegmentCache& cs, unsigned cpl) {
  SegmentCache c = cs;
  c.selector = static_cast<uint16_t>((cs.selector & ~3u) | cpl);
  c.attrib = static_cast<uint16_t>((cs.attrib & ~(3u << 5)) | (cpl << 5));
  return c;
}

void install_segment(CpuState& cpu, unsigned seg, const SegmentCache& cache) {
  cpu.seg[seg] = cache;
  refresh_segment_checks(cpu);
  if (seg == SS) update_cpu_mode(cpu);
}

void install_code_segment(CpuState& cpu, const SegmentCache& cs) {
  cpu.seg[CS] = cs;
  refresh_segment_checks(cpu);
  update_cpu_mode(cpu);
}

// ---- data and stack segment loads ----

SegmentLoad check_segment_load(CpuState& cpu, unsigned seg, uint16_t sel) {
  SegmentLoad ld;
  if (!protected_mode(cpu)) {
    ld.cache = real_mode_segment(cpu.seg[seg], sel);
    return ld;
  }
  if (cpu.rflags & rf::VM) {
    ld.cache = v86_segment(sel);
    return ld;
  }
  const unsigned cpl = cpu.cpl, rpl = selector_rpl(sel);
  if (selector_is_null(sel)) {
    // A null SS is #GP(0), except in 64-bit mode at CPL < 3 with RPL = CPL (SDM vol. 2, MOV
    // and POP; vol. 3, 5.10 note). Null DS/ES/FS/GS load fine and fault on use.
    if (seg == SS && (!cpu.mode64 || cpl == 3 || rpl != cpl)) raise_fault(cpu, kGP, 0);
    ld.cache = null_segment(sel);
    // The null SS of 64-bit mode still carries the CPL in its DPL, which IRET and the
    // descriptor checks compare against.
    if (seg == SS) ld.cache.attrib = static_cast<uint16_t>(cpl << 5);
    return ld;
  }
  const uint32_t err = selector_error(sel, false);
  Descriptor d;
  if (!fetch_descriptor(cpu, sel, 8, &d, &ld.desc_linear)) raise_fault(cpu, kGP, err);
  if (seg == SS) {
    // SS: RPL = CPL, writable data, DPL = CPL; not present is #SS(selector).
    if (rpl != cpl || !d.writable_data() || d.dpl() != cpl) raise_fault(cpu, kGP, err);
    if (!d.present()) raise_fault(cpu, kSS, err);
  } else {
    // DS/ES/FS/GS: data or readable code; for data and non-conforming code both RPL and CPL
    // must be numerically <= DPL (SDM vol. 3, 5.6).
    if (d.system() || (d.code() && !(d.type() & dtype::kReadable))) raise_fault(cpu, kGP, err);
    if (!d.conforming() && (rpl > d.dpl() || cpl > d.dpl())) raise_fault(cpu, kGP, err);
    if (!d.present()) raise_fault(cpu, kNP, err);
  }
  ld.cache = segment_from_descriptor(sel, d);
  ld.desc = d;
  ld.has_desc = true;
  return ld;
}

void commit_segment_load(CpuState& cpu, unsigned seg, const SegmentLoad& ld) {
  if (ld.has_desc) mark_descriptor_accessed(cpu, ld.desc_linear, ld.desc);
  install_segment(cpu, seg, ld.cache);
}

void null_inaccessible_data_segments(CpuState& cpu) {
  static constexpr unsigned kSegs[] = {ES, DS, FS, GS};
  for (unsigned s : kSegs) {
    const uint16_t a = cpu.seg[s].attrib;
    if (!(a & seg_attr::P) || !(a & seg_attr::S)) continue;
    const bool conforming_code = (a & dtype::kCode) && (a & dtype::kConforming);
    if (!conforming_code && seg_attr::dpl(a) < cpu.cpl) cpu.seg[s] = null_segment(0);
  }
  refresh_segment_checks(cpu);
}

}  // namespace umbra
