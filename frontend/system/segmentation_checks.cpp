// Segment limit, type and usability checks of ordinary memory accesses, and the 64-bit #SS(0)
// canonical rule (frontend/system/segmentation_checks.h).
#include "frontend/system/segmentation_checks.h"

#include "frontend/system/mode.h"
#include "frontend/system/segmentation.h"

namespace umbra {

bool segment_range_ok(const SegmentCache& s, uint64_t ea, unsigned size) {
  const uint64_t last = ea + size - 1;
  const unsigned type = s.attrib & 0xf;
  const bool expand_down =
      (s.attrib & seg_attr::S) && !(type & dtype::kCode) && (type & dtype::kExpandDown);
  if (!expand_down) return last <= s.limit;
  // Expand-down (SDM vol. 3, 3.4.5.1): valid offsets run from limit + 1 to the top, which the
  // B flag sets at 0xFFFFFFFF or 0xFFFF.
  const uint64_t top = (s.attrib & seg_attr::DB) ? 0xffffffffu : 0xffffu;
  return ea > s.limit && last <= top;
}

void check_segment_access(const CpuState& cpu, unsigned seg, uint64_t ea, unsigned size,
                          bool write) {
  // The accessors take the CPU as const (they only compute an address); raising a fault records
  // it in the CPU state.
  CpuState& c = const_cast<CpuState&>(cpu);
  const SegmentCache& s = cpu.seg[seg];
  const uint8_t vector = seg == SS ? kSS : kGP;
  if (protected_mode(cpu) && !(cpu.rflags & rf::VM)) {
    // A null selector leaves the register unusable (SDM vol. 3, 5.4.1): any use is #GP(0).
    if (!(s.attrib & seg_attr::P)) raise_fault(c, vector, 0);
    const unsigned type = s.attrib & 0xf;
    if (type & dtype::kCode) {
      // Code segments are never writable; execute-only ones are not readable (vol. 3, 5.4).
      if (write || !(type & dtype::kReadable)) raise_fault(c, vector, 0);
    } else if (write && !(type & dtype::kWritable)) {
      raise_fault(c, vector, 0);
    }
  }
  if (!segment_range_ok(s, ea, size)) raise_fault(c, vector, 0);
}

void refresh_segment_checks(CpuState& cpu) {
  uint8_t mask = 0;
  for (unsigned s = 0; s < kNumSegRegs; ++s) {
    const uint16_t a = cpu.seg[s].attrib;
    // Flat: present, S=1, data, writable, expand-up, 4 GiB limit. Reads and writes at any
    // 32-bit offset then pass every check in every mode.
    const bool flat = (a & seg_attr::P) && (a & seg_attr::S) && (a & 0xe) == dtype::kWritable &&
                      cpu.seg[s].limit == 0xffffffffu;
    if (!flat) mask |= static_cast<uint8_t>(1u << s);
  }
  cpu.seg_check = mask;
}

namespace {

// An SS-relative reference with a non-canonical first or last byte: #SS(0) (SDM vol. 1,
// 3.3.7.1). Other segments fall through to the slow path's own #GP(0).
inline void check_stack_canonical(CpuState& cpu, uint64_t linear, unsigned size, unsigned seg) {
  if (seg == SS && cpu.mode64 && (!is_canonical48(linear) || !is_canonical48(linear + size - 1)))
    raise_fault(cpu, kSS, 0);
}

}  // namespace

uint64_t read_slow_seg(CpuState& cpu, uint64_t linear, unsigned size, unsigned seg) {
  check_stack_canonical(cpu, linear, size, seg);
  return read_slow(cpu, linear, size);
}

void write_slow_seg(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value, unsigned seg) {
  check_stack_canonical(cpu, linear, size, seg);
  write_slow(cpu, linear, size, value);
}

uint8_t* prepare_write_slow_seg(CpuState& cpu, uint64_t linear, unsigned size, unsigned seg) {
  check_stack_canonical(cpu, linear, size, seg);
  return prepare_write_slow(cpu, linear, size);
}

}  // namespace umbra
