// Segmentation (SDM vol. 3, chapters 3 and 5): selectors, descriptors, descriptor-table access
// and segment-register loads with their protection checks.
//
// Loads are split into a check step that reads the descriptor and raises every fault, and a
// commit step that sets the descriptor's accessed bit (a memory write that may itself fault,
// e.g. on a read-only GDT page) and then writes the segment register. Instructions that load
// several things (far transfers, IRET, LSS) check everything first, then mark, then commit, so
// a fault leaves the registers as before the instruction (docs/system.md).
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

// ---- selectors (SDM vol. 3, 3.4.2) ----
inline unsigned selector_rpl(uint16_t s) {
  return s & 3u;
}
inline bool selector_in_ldt(uint16_t s) {
  return (s & 4u) != 0;
}
// Index 0 of the GDT with any RPL.
inline bool selector_is_null(uint16_t s) {
  return (s & 0xfffcu) == 0;
}
// Error code naming a selector (vol. 3, 6.13): index and TI, RPL bits replaced by IDT = 0 and
// EXT.
inline uint32_t selector_error(uint16_t s, bool ext) {
  return (s & 0xfffcu) | (ext ? 1u : 0u);
}
// Error code naming an IDT entry: vector index, IDT bit (1), EXT.
inline uint32_t idt_error(uint8_t vector, bool ext) {
  return (uint32_t{vector} << 3) | 2u | (ext ? 1u : 0u);
}

// ---- descriptor type field (vol. 3, tables 3-1 and 3-2) ----
namespace dtype {
// code and data segments (S = 1)
constexpr unsigned kAccessed = 1, kWritable = 2, kReadable = 2, kExpandDown = 4, kConforming = 4,
                   kCode = 8;
// system segments and gates (S = 0); in IA-32e mode the 32-bit names are the 64-bit types
constexpr unsigned kTss16 = 1, kLdt = 2, kTss16Busy = 3, kCallGate16 = 4, kTaskGate = 5,
                   kIntGate16 = 6, kTrapGate16 = 7, kTss32 = 9, kTss32Busy = 11, kCallGate32 = 12,
                   kIntGate32 = 14, kTrapGate32 = 15;
constexpr unsigned kTssBusy = 2;  // the busy bit of a TSS type
}  // namespace dtype

// A segment descriptor or gate as it sits in a descriptor table: `lo` is the 8-byte descriptor;
// `hi` the upper 8 bytes of a 16-byte system descriptor or gate in IA-32e mode (else 0).
struct Descriptor {
  uint64_t lo = 0;
  uint64_t hi = 0;

  unsigned type() const { return (lo >> 40) & 0xf; }
  bool system() const { return !((lo >> 44) & 1); }  // S = 0
  bool code() const { return !system() && (type() & dtype::kCode); }
  bool data() const { return !system() && !(type() & dtype::kCode); }
  bool conforming() const { return code() && (type() & dtype::kConforming); }
  bool readable() const { return data() || (type() & dtype::kReadable); }  // for code/data
  bool writable_data() const { return data() && (type() & dtype::kWritable); }
  unsigned dpl() const { return (lo >> 45) & 3; }
  bool present() const { return (lo >> 47) & 1; }
  bool long_code() const { return (lo >> 53) & 1; }    // L
  bool default_big() const { return (lo >> 54) & 1; }  // D/B
  uint32_t base32() const {
    return static_cast<uint32_t>(((lo >> 16) & 0xffffff) | ((lo >> 32) & 0xff000000));
  }
  // Base of a 16-byte system descriptor (LDT, TSS in IA-32e mode).
  uint64_t base64() const { return base32() | (uint64_t{static_cast<uint32_t>(hi)} << 32); }
  // Byte-granular limit (G scales the 20-bit field by 4 KiB, low 12 bits all ones).
  uint32_t limit() const {
    uint32_t l = static_cast<uint32_t>((lo & 0xffff) | ((lo >> 32) & 0xf0000));
    return ((lo >> 55) & 1) ? (l << 12) | 0xfff : l;
  }
  // The cached attribute word of SegmentCache (type|S|DPL|P|AVL|L|DB|G).
  uint16_t attrib() const {
    return static_cast<uint16_t>(((lo >> 40) & 0xff) | (((lo >> 52) & 0xf) << 8));
  }
  // Gates (call, interrupt, trap, task).
  uint16_t gate_selector() const { return static_cast<uint16_t>(lo >> 16); }
  uint32_t gate_offset32() const {
    return static_cast<uint32_t>((lo & 0xffff) | ((lo >> 32) & 0xffff0000));
  }
  uint64_t gate_offset64() const {
    return gate_offset32() | (uint64_t{static_cast<uint32_t>(hi)} << 32);
  }
  unsigned gate_param_count() const { return (lo >> 32) & 0x1f; }
  unsigned gate_ist() const { return (lo >> 32) & 7; }
  // The type field of the upper half of a 16-byte descriptor, which must be 0 (vol. 3, 5.8.3.1).
  unsigned upper_type() const { return (hi >> 40) & 0x1f; }
};

// ---- system-structure memory: implicit supervisor accesses (vol. 3, 4.6.1) ----
// Linear addresses of descriptor tables and the TSS are 32-bit outside IA-32e mode.
uint64_t system_linear(const CpuState& cpu, uint64_t base, uint64_t offset);
uint64_t read_system(CpuState& cpu, uint64_t linear, unsigned size);
void write_system(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value);

// ---- descriptor tables ----
// Where a selector's descriptor lives: false when the index is beyond the table limit (GDT, or
// the LDT for TI = 1, an unusable LDTR counting as empty). `bytes` is 8, or 16 for IA-32e
// system descriptors and gates.
bool descriptor_address(const CpuState& cpu, uint16_t sel, unsigned bytes, uint64_t* linear);
// Reads the descriptor at `linear` (8 or 16 bytes).
Descriptor read_descriptor_at(CpuState& cpu, uint64_t linear, unsigned bytes);
// Both: false when out of the table (nothing read).
bool fetch_descriptor(CpuState& cpu, uint16_t sel, unsigned bytes, Descriptor* d,
                      uint64_t* linear = nullptr);
// Sets the accessed bit of a code/data descriptor at `linear` when it is clear (vol. 3,
// 3.4.5.1). A write through the implicit supervisor path; may fault.
void mark_descriptor_accessed(CpuState& cpu, uint64_t linear, const Descriptor& d);

// ---- segment caches ----
SegmentCache segment_from_descriptor(uint16_t sel, const Descriptor& d);
// A null selector loaded in protected mode: the register is unusable (P = 0, vol. 3, 3.4.3).
SegmentCache null_segment(uint16_t sel);
// Real mode: only the selector and base (selector << 4) change; the cached limit and attributes
// stay (vol. 3, 20.1.1 and 9.9.2 "unreal" mode; docs/system.md).
SegmentCache real_mode_segment(const SegmentCache& old, uint16_t sel);
// Virtual-8086 mode: base = selector << 4, limit 0xFFFF, present DPL-3 read/write data
// (vol. 3, 20.1.1; the values VM entry requires of a virtual-8086 guest).
SegmentCache v86_segment(uint16_t sel);
// A code segment's cache as installed for privilege level `cpl`: a conforming segment keeps
// the caller's CPL, which update_cpu_mode() reads from the cached CS.DPL, so the cached DPL is
// set to the CPL (docs/system.md).
SegmentCache code_segment_for_cpl(const SegmentCache& cs, unsigned cpl);

// Installs segment register `seg` (not CS) and refreshes the per-segment check mask; SS also
// refreshes the derived stack size.
void install_segment(CpuState& cpu, unsigned seg, const SegmentCache& cache);
// Installs CS and the new CPL (through the cached DPL), updates the derived mode and flushes
// the fast TLB when the privilege view changes (softmmu/paging_translator.h).
void install_code_segment(CpuState& cpu, const SegmentCache& cs);

// ---- data and stack segment loads: MOV Sreg, POP Sreg, LDS/LES/LFS/LGS/LSS ----
// A checked load ready to commit.
struct SegmentLoad {
  SegmentCache cache;
  Descriptor desc;
  uint64_t desc_linear = 0;
  bool has_desc = false;  // protected mode, non-null: the accessed bit may need setting
};
// Checks a load of `sel` into `seg` (ES, SS, DS, FS or GS) in the current mode with all of the
// SDM's rules (vol. 2, MOV; vol. 3, 5.10): raises #GP(sel), #SS(sel), #NP(sel) or #GP(0).
SegmentLoad check_segment_load(CpuState& cpu, unsigned seg, uint16_t sel);
// Sets the accessed bit (may fault) and installs the register. SS sets no interrupt shadow
// here: MOV SS and POP SS do that themselves, LSS does not.
void commit_segment_load(CpuState& cpu, unsigned seg, const SegmentLoad& ld);
inline void load_segment(CpuState& cpu, unsigned seg, uint16_t sel) {
  commit_segment_load(cpu, seg, check_segment_load(cpu, seg, sel));
}

// After a return to an outer privilege level (RET far, IRET): ES, DS, FS and GS that hold a
// data or non-conforming code segment with DPL < the new CPL are made null (vol. 3, 5.8.6;
// vol. 2, RET and IRET).
void null_inaccessible_data_segments(CpuState& cpu);

}  // namespace umbra
