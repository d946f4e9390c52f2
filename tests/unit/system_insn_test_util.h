// Helpers for the system-instruction tests (system_insn_*_test.cpp): put a TestCpu in a given
// operating mode and privilege, build the decoded forms of system instructions, and observe
// fast-TLB flushes.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/cpu_state.h"
#include "frontend/flags.h"
#include "frontend/insn.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "softmmu/access.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {

constexpr uint64_t kSysRip = 0x4000;

// Segment cache attributes: code (execute/read, accessed) and data (read/write, accessed).
inline uint16_t code_attrib(unsigned dpl, bool l, bool d) {
  return static_cast<uint16_t>(0xB | 0x10 | (dpl << 5) | seg_attr::P | (l ? seg_attr::L : 0) |
                               (d ? seg_attr::DB : 0) | seg_attr::G);
}
inline uint16_t data_attrib(unsigned dpl) {
  return static_cast<uint16_t>(0x3 | 0x10 | (dpl << 5) | seg_attr::P | seg_attr::DB | seg_attr::G);
}

inline void flat_segments(CpuState& c, unsigned cpl, bool l, bool d) {
  for (int s = 0; s < kNumSegRegs; ++s)
    c.seg[s] = SegmentCache{0, 0xffffffff, static_cast<uint16_t>(0x10 | cpl), data_attrib(cpl)};
  c.seg[CS] =
      SegmentCache{0, 0xffffffff, static_cast<uint16_t>(0x08 | cpl), code_attrib(cpl, l, d)};
}

// 64-bit mode at `cpl`: CR0.PE/PG, CR4.PAE, EFER.LME/LMA/SCE/NXE, a 64-bit code segment.
inline void enter_long_mode(CpuState& c, unsigned cpl = 0) {
  c.cr0 = cr0::PE | cr0::ET | cr0::PG;
  c.cr4 = cr4::PAE;
  c.efer = efer::LME | efer::LMA | efer::SCE | efer::NXE;
  c.rflags = rf::FIXED1;
  flat_segments(c, cpl, true, false);
  update_cpu_mode(c);
  c.rip = kSysRip;
}

// Compatibility mode (IA-32e mode with a 32-bit code segment) at `cpl`.
inline void enter_compat_mode(CpuState& c, unsigned cpl = 0) {
  enter_long_mode(c, cpl);
  c.seg[CS].attrib = code_attrib(cpl, false, true);
  update_cpu_mode(c);
}

// 32-bit protected mode without paging at `cpl`.
inline void enter_protected32(CpuState& c, unsigned cpl = 0) {
  c.cr0 = cr0::PE | cr0::ET;
  c.cr4 = 0;
  c.efer = 0;
  c.rflags = rf::FIXED1;
  flat_segments(c, cpl, false, true);
  update_cpu_mode(c);
  c.rip = kSysRip;
}

// Real mode with 16-bit segments at base 0.
inline void enter_real_mode(CpuState& c) {
  c.cr0 = cr0::ET;
  c.cr4 = 0;
  c.efer = 0;
  c.rflags = rf::FIXED1;
  for (int s = 0; s < kNumSegRegs; ++s)
    c.seg[s] = SegmentCache{0, 0xffff, 0, static_cast<uint16_t>(0x3 | 0x10 | seg_attr::P)};
  c.seg[CS].attrib = static_cast<uint16_t>(0xB | 0x10 | seg_attr::P);
  update_cpu_mode(c);
  c.rip = kSysRip;
}

// Virtual-8086 mode (32-bit protected mode with EFLAGS.VM) with the given IOPL.
inline void enter_v86(CpuState& c, unsigned iopl) {
  enter_protected32(c, 3);
  c.rflags = rf::FIXED1 | rf::VM | (uint64_t{iopl} << 12);
  update_cpu_mode(c);
}

inline void set_iopl(CpuState& c, unsigned iopl) {
  c.rflags = (c.rflags & ~rf::IOPL) | (uint64_t{iopl} << 12);
}

// ---- instruction builders (decoder conventions: frontend/opcode_forms.inc) ----

// MOV CRn, reg (0F 22) and MOV reg, CRn (0F 20); DRn likewise.
inline Insn mov_to_cr(unsigned cr, uint8_t gpr, unsigned opsize = 8) {
  Insn i = make_insn(Op::MOV_CR_LOAD, opsize, 3);
  i.dst = Operand{OpKind::None, static_cast<uint8_t>(cr)};
  i.src = reg_operand(gpr);
  return i;
}
inline Insn mov_from_cr(uint8_t gpr, unsigned cr, unsigned opsize = 8) {
  Insn i = make_insn(Op::MOV_CR_STORE, opsize, 3);
  i.dst = reg_operand(gpr);
  i.src = Operand{OpKind::None, static_cast<uint8_t>(cr)};
  return i;
}
inline Insn mov_to_dr(unsigned dr, uint8_t gpr, unsigned opsize = 8) {
  Insn i = make_insn(Op::MOV_DR_LOAD, opsize, 3);
  i.dst = Operand{OpKind::None, static_cast<uint8_t>(dr)};
  i.src = reg_operand(gpr);
  return i;
}
inline Insn mov_from_dr(uint8_t gpr, unsigned dr, unsigned opsize = 8) {
  Insn i = make_insn(Op::MOV_DR_STORE, opsize, 3);
  i.dst = reg_operand(gpr);
  i.src = Operand{OpKind::None, static_cast<uint8_t>(dr)};
  return i;
}

// A group-7 instruction with a memory operand [base + disp]: ext = ModRM (mod 00, reg, rm 0).
inline Insn grp7_mem(unsigned reg, uint8_t base, int64_t disp, unsigned opsize = 8) {
  Insn i = make_insn(Op::GRP7, opsize, 3);
  i.ext = static_cast<uint8_t>(reg << 3);
  i.dst = mem_operand();
  set_mem(i, base, disp);
  return i;
}
// A group-7 register form 0F 01 (C0 | reg<<3 | rm); `dst` is the register operand if any.
inline Insn grp7_reg(unsigned reg, unsigned rm, unsigned opsize = 8) {
  Insn i = make_insn(Op::GRP7, opsize, 3);
  i.ext = static_cast<uint8_t>(0xC0 | (reg << 3) | rm);
  i.dst = reg_operand(static_cast<uint8_t>(rm));
  return i;
}

inline Insn simple_insn(Op op, unsigned len = 2, unsigned opsize = 4) {
  return make_insn(op, opsize, len);
}

// ---- observing the fast TLB ----

// Fills the fast-TLB entry for `linear` through an ordinary read (identity translator).
inline void touch(TestCpu& t, uint64_t linear) {
  (void)read_mem<uint8_t>(t.cpu(), linear);
}
// Plants a fast-TLB entry for any linear page (never used for an access: only observed).
inline void plant(TestCpu& t, uint64_t linear) {
  TlbEntry& e = tlb_entry(t.cpu(), linear);
  e.tag_read = e.tag_write = e.tag_exec = linear & kPageMask;
  e.addend = 0;
}
inline bool tlb_holds(TestCpu& t, uint64_t linear) {
  return tlb_entry(t.cpu(), linear).tag_read == (linear & kPageMask);
}

// A translator that maps identically but raises #PF on one page (the access path's faults).
class FaultingTranslator final : public AddressTranslator {
 public:
  explicit FaultingTranslator(uint64_t bad_page) : bad_page_(bad_page & kPageMask) {}
  Translation translate(CpuState& cpu, uint64_t linear, Access access) override {
    if ((linear & kPageMask) == bad_page_)
      raise_fault(cpu, kPF, access == Access::Write ? 2u : 0u, linear);
    return Translation{linear, true, true};
  }

 private:
  uint64_t bad_page_;
};

// The fault a handler raised, for EXPECT_EQ.
inline int fault_of(const Outcome& o) {
  return o.faulted ? o.vector : -1;
}

// A model derived from the default one, with features added or removed.
inline CpuModel model_with(std::initializer_list<Feature> add,
                           std::initializer_list<Feature> remove = {}) {
  CpuModel m = default_cpu_model();
  for (Feature f : add) m.features[feature_word(f)] |= feature_mask(f);
  for (Feature f : remove) m.features[feature_word(f)] &= ~feature_mask(f);
  return m;
}

}  // namespace umbra::test
