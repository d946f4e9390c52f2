// Segment checks on ordinary memory accesses (SDM vol. 3, 5.3 limit checking and 5.4 type
// checking; vol. 1, 3.3.7.1 canonical addresses).
//
// Legacy modes (everything but 64-bit mode): every data, stack and string access is checked
// against its segment's limit (expand-up or expand-down), type (no writes to code or read-only
// data, no reads of execute-only code) and usability (a null selector in DS/ES/FS/GS faults on
// use). The check is precomputed per segment: CpuState::seg_check has bit s set only when
// segment s is not flat, so a flat 32-bit OS pays one bit test per access and 64-bit mode pays
// nothing (seg_linear() in frontend/operands.h tests mode64 first).
//
// 64-bit mode: only the canonical check applies. A non-canonical address faults with #SS(0)
// when the reference is SS-relative (stack operations, [rSP]/[rBP]-based operands without an
// FS/GS override) and #GP(0) otherwise. ES/CS/SS/DS overrides are ignored in 64-bit mode: the
// decoder leaves Insn::seg at the default there, so an SS prefix does not make [rAX] a stack
// reference and a DS prefix does not make [rBP] a data one (SDM vol. 1, 3.3.7.1). The fast TLB
// never holds a non-canonical page, so these accesses always reach the slow path; the *_seg
// accessors below differ from read_mem and friends only there, where they know the segment.
#pragma once

#include <cstdint>
#include <cstring>

#include "frontend/cpu_state.h"
#include "softmmu/access.h"

namespace umbra {

// Raises #GP(0), or #SS(0) when seg is SS, if a legacy-mode access of `size` bytes at offset
// `ea` through segment `seg` violates the segment's usability, type or limit. Protected mode
// checks all three; real and virtual-8086 mode only the limit (docs/system.md). Returns
// normally when the access is allowed. Called only for segments marked in cpu.seg_check.
void check_segment_access(const CpuState& cpu, unsigned seg, uint64_t ea, unsigned size,
                          bool write);

// Whether `size` bytes at offset `ea` lie within the limit of `s` (expand-up: 0..limit;
// expand-down data: limit+1..0xFFFF or 0xFFFFFFFF by the B flag).
bool segment_range_ok(const SegmentCache& s, uint64_t ea, unsigned size);

// Recomputes cpu.seg_check from the six segment caches. Whoever writes cpu.seg[] directly
// (loaders, tests) calls it; the segment-load paths of frontend/system do it themselves.
void refresh_segment_checks(CpuState& cpu);

// Slow paths that report a non-canonical SS-relative address in 64-bit mode as #SS(0).
uint64_t read_slow_seg(CpuState& cpu, uint64_t linear, unsigned size, unsigned seg);
void write_slow_seg(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value, unsigned seg);
uint8_t* prepare_write_slow_seg(CpuState& cpu, uint64_t linear, unsigned size, unsigned seg);

// read_mem / write_mem / prepare_rmw with the segment known to the slow path.
template <typename T>
inline T read_mem_seg(CpuState& cpu, uint64_t linear, unsigned seg) {
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (__builtin_expect(tlb_grants(e.tag_read, linear, sizeof(T)), 1)) {
    T v;
    std::memcpy(&v, reinterpret_cast<const void*>(linear + e.addend), sizeof(T));
    return v;
  }
  return static_cast<T>(read_slow_seg(cpu, linear, sizeof(T), seg));
}

template <typename T>
inline void write_mem_seg(CpuState& cpu, uint64_t linear, T value, unsigned seg) {
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (__builtin_expect(tlb_grants(e.tag_write, linear, sizeof(T)), 1)) {
    std::memcpy(reinterpret_cast<void*>(linear + e.addend), &value, sizeof(T));
    return;
  }
  write_slow_seg(cpu, linear, sizeof(T), static_cast<uint64_t>(value), seg);
}

template <typename T>
inline MemRef prepare_rmw_seg(CpuState& cpu, uint64_t linear, unsigned seg) {
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (__builtin_expect(tlb_grants(e.tag_write, linear, sizeof(T)), 1))
    return MemRef{reinterpret_cast<uint8_t*>(linear + e.addend), linear};
  return MemRef{prepare_write_slow_seg(cpu, linear, sizeof(T), seg), linear};
}

}  // namespace umbra
