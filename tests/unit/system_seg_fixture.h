// A test fixture for the segmentation / far-transfer / interrupt semantics: a TestCpu whose
// guest memory holds a GDT, an LDT, an IDT and a TSS, helpers that build descriptors, put the
// CPU in real, protected (CPL 0..3), virtual-8086, IA-32e 64-bit or compatibility mode, and run
// instructions through the real decoder.
#pragma once

#include <gtest/gtest.h>

#include <csetjmp>
#include <cstring>
#include <initializer_list>

#include "frontend/decoder.h"
#include "frontend/flags.h"
#include "frontend/system/interrupts.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation.h"
#include "frontend/system/segmentation_checks.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {

// ---- descriptor builders (SDM vol. 3, figure 3-8 and 6-2, 6-8) ----

// access = P | DPL | S | type (byte 5), flags = G | D/B | L | AVL (high nibble of byte 6).
constexpr uint64_t make_desc(uint32_t base, uint32_t limit20, uint8_t access, uint8_t flags) {
  return (uint64_t{limit20} & 0xffff) | (uint64_t{base & 0xffffff} << 16) |
         (uint64_t{access} << 40) | (uint64_t{(limit20 >> 16) & 0xf} << 48) |
         (uint64_t{flags & 0xfu} << 52) | (uint64_t{base >> 24} << 56);
}
constexpr uint8_t kFlagG = 8, kFlagDB = 4, kFlagL = 2;
constexpr uint8_t access(unsigned type, unsigned dpl, bool s = true, bool present = true) {
  return static_cast<uint8_t>((present ? 0x80 : 0) | (dpl << 5) | (s ? 0x10 : 0) | type);
}
constexpr uint64_t code32(unsigned dpl, unsigned type = 0xb) {
  return make_desc(0, 0xfffff, access(type, dpl), kFlagG | kFlagDB);
}
constexpr uint64_t data32(unsigned dpl, unsigned type = 0x3) {
  return make_desc(0, 0xfffff, access(type, dpl), kFlagG | kFlagDB);
}
constexpr uint64_t code64(unsigned dpl, unsigned type = 0xb) {
  return make_desc(0, 0xfffff, access(type, dpl), kFlagG | kFlagL);
}
constexpr uint64_t code16(unsigned dpl, uint32_t base = 0) {
  return make_desc(base, 0xffff, access(0xb, dpl), 0);
}
constexpr uint64_t system_desc(uint32_t base, uint32_t limit, unsigned type, unsigned dpl = 0,
                               bool present = true) {
  return make_desc(base, limit, access(type, dpl, false, present), 0);
}
// A 16/32-bit gate: call (4, 0xC), task (5), interrupt (6, 0xE), trap (7, 0xF).
constexpr uint64_t gate(uint16_t sel, uint32_t offset, unsigned type, unsigned dpl,
                        unsigned params = 0, bool present = true) {
  return (uint64_t{offset} & 0xffff) | (uint64_t{sel} << 16) | (uint64_t{params & 0x1f} << 32) |
         (uint64_t{access(type, dpl, false, present)} << 40) | (uint64_t{offset >> 16} << 48);
}

// Guest memory layout.
constexpr uint64_t kGdt = 0x1000, kIdt = 0x3000, kTss = 0x5000, kTss2 = 0x5800, kLdt = 0x6000;
constexpr uint64_t kCode = 0x10000;

// Selectors of the standard GDT.
constexpr uint16_t kCode0 = 0x08, kData0 = 0x10, kCode3 = 0x18 | 3, kData3 = 0x20 | 3;
constexpr uint16_t kCode64_0 = 0x28, kCode64_3 = 0x30 | 3, kTssSel = 0x38, kLdtSel = 0x48;
constexpr uint16_t kTss2Sel = 0x58;
// Free GDT slots for tests: indexes 16..63.
constexpr uint16_t sel_of(unsigned index, unsigned rpl = 0) {
  return static_cast<uint16_t>(index * 8 + rpl);
}

class SysTest : public ::testing::Test {
 protected:
  TestCpu t;
  CpuState& cpu() { return t.cpu(); }

  void set_gdt(unsigned index, uint64_t desc) { t.write<uint64_t>(kGdt + index * 8, desc); }
  uint64_t gdt(unsigned index) { return t.read<uint64_t>(kGdt + index * 8); }
  void set_ldt(unsigned index, uint64_t desc) { t.write<uint64_t>(kLdt + index * 8, desc); }
  void set_idt32(unsigned vector, uint64_t g) { t.write<uint64_t>(kIdt + vector * 8, g); }
  void set_idt64(unsigned vector, uint16_t sel, uint64_t offset, unsigned type, unsigned dpl,
                 unsigned ist = 0, bool present = true) {
    const uint64_t lo =
        gate(sel, static_cast<uint32_t>(offset), type, dpl, 0, present) | (uint64_t{ist & 7} << 32);
    t.write<uint64_t>(kIdt + vector * 16, lo);
    t.write<uint64_t>(kIdt + vector * 16 + 8, offset >> 32);
  }

  // The standard GDT: flat code/data at DPL 0 and 3, 64-bit code at DPL 0 and 3, a TSS, an LDT.
  void build_gdt(bool long_mode) {
    set_gdt(1, code32(0));
    set_gdt(2, data32(0));
    set_gdt(3, code32(3));
    set_gdt(4, data32(3));
    set_gdt(5, code64(0));
    set_gdt(6, code64(3));
    set_gdt(7, system_desc(kTss, 0x67, long_mode ? 0xb : 0xb));  // busy TSS (loaded in TR)
    set_gdt(8, 0);                                               // upper half (IA-32e)
    set_gdt(9, system_desc(kLdt, 0xff, 2));
    set_gdt(10, 0);
    set_gdt(11, system_desc(kTss2, 0x67, 9));  // an available 32-bit TSS
    cpu().gdtr = DescriptorTableReg{kGdt, 0x1ff};
    cpu().ldtr = SegmentCache{kLdt, 0xff, kLdtSel, 0x82};
    cpu().tr = SegmentCache{kTss, 0x67, kTssSel, 0x8b};
  }

  SegmentCache cache(uint16_t sel, uint64_t desc) {
    Descriptor d;
    d.lo = desc;
    return segment_from_descriptor(sel, d);
  }

  // Flat protected mode at `cpl` (32-bit code and stack), IDT with room for 256 gates.
  void protected32(unsigned cpl) {
    CpuState& c = cpu();
    c.cr0 = cr0::PE | cr0::ET;
    c.cr4 = 0;
    c.efer = 0;
    c.rflags = rf::FIXED1;
    build_gdt(false);
    const bool user = cpl == 3;
    c.seg[CS] = cache(user ? kCode3 : kCode0, code32(cpl));
    if (cpl != 0 && cpl != 3) c.seg[CS] = code_segment_for_cpl(c.seg[CS], cpl);
    for (unsigned s : {ES, SS, DS, FS, GS}) c.seg[s] = cache(user ? kData3 : kData0, data32(cpl));
    c.idtr = DescriptorTableReg{kIdt, 0x7ff};
    c.rip = kCode;
    c.gpr[RSP] = 0x9000;
    update_cpu_mode(c);
    refresh_segment_checks(c);
  }

  // IA-32e 64-bit mode at `cpl` (flat data, 64-bit TSS at kTss).
  void long64(unsigned cpl) {
    CpuState& c = cpu();
    c.cr0 = cr0::PE | cr0::ET | cr0::PG;
    c.cr4 = cr4::PAE;
    c.efer = efer::LME | efer::LMA | efer::SCE;
    c.rflags = rf::FIXED1;
    build_gdt(true);
    const bool user = cpl == 3;
    c.seg[CS] = cache(user ? kCode64_3 : kCode64_0, code64(cpl));
    for (unsigned s : {ES, SS, DS, FS, GS}) c.seg[s] = cache(user ? kData3 : kData0, data32(cpl));
    c.idtr = DescriptorTableReg{kIdt, 0xfff};
    c.rip = kCode;
    c.gpr[RSP] = 0x9000;
    update_cpu_mode(c);
    refresh_segment_checks(c);
  }

  // Compatibility mode at `cpl`: IA-32e with 32-bit code.
  void compat32(unsigned cpl) {
    long64(cpl);
    cpu().seg[CS] = cache(cpl == 3 ? kCode3 : kCode0, code32(cpl));
    update_cpu_mode(cpu());
  }

  // Real-address mode: 64 KiB segments at `seg` << 4, IVT at 0.
  void real_mode(uint16_t seg = 0) {
    CpuState& c = cpu();
    c.cr0 = cr0::ET;
    c.cr4 = 0;
    c.efer = 0;
    c.rflags = rf::FIXED1;
    for (unsigned s = 0; s < kNumSegRegs; ++s)
      c.seg[s] = SegmentCache{uint64_t{seg} << 4, 0xffff, seg, 0x93};
    c.seg[CS].attrib = 0x9b;
    c.idtr = DescriptorTableReg{0, 0x3ff};
    c.rip = 0x100;
    c.gpr[RSP] = 0x2000;
    update_cpu_mode(c);
    refresh_segment_checks(c);
  }

  // Virtual-8086 mode (protected mode, VM = 1, IOPL as given), segments at `seg` << 4.
  void v86(uint16_t seg, unsigned iopl) {
    protected32(0);
    CpuState& c = cpu();
    c.rflags = rf::FIXED1 | rf::VM | (uint64_t{iopl} << 12);
    for (unsigned s = 0; s < kNumSegRegs; ++s) c.seg[s] = v86_segment(seg);
    c.rip = 0x100;
    c.gpr[RSP] = 0x2000;
    update_cpu_mode(c);
    refresh_segment_checks(c);
  }

  // Runs `f` catching a raised fault.
  template <typename F>
  Outcome guarded(F&& f) {
    std::jmp_buf jb;
    cpu().fault_jmp = &jb;
    Outcome o;
    if (setjmp(jb) == 0) {
      f();
    } else {
      o.faulted = true;
      o.vector = static_cast<uint8_t>(cpu().pending_fault_vector);
      o.error_code = cpu().pending_fault_has_error ? cpu().pending_fault_error : kNoErrorCode;
    }
    cpu().fault_jmp = nullptr;
    return o;
  }

  Outcome deliver(const Event& ev) {
    return guarded([&] { deliver_event(cpu(), ev); });
  }

  // Decodes `bytes` in the current mode and runs the instruction once.
  Outcome exec(std::initializer_list<uint8_t> bytes) {
    uint8_t buf[16] = {};
    unsigned n = 0;
    for (uint8_t b : bytes) buf[n++] = b;
    const DecodeMode m{cpu().mode64 != 0, cpu().code32 != 0};
    EXPECT_EQ(decode(buf, n, m, &last_), DecodeStatus::Ok);
    EXPECT_EQ(last_.len, n);
    return t.run(last_);
  }

  // Architectural registers that a faulting instruction must leave untouched.
  struct Snapshot {
    uint64_t gpr[16];
    uint64_t rip, rflags;
    SegmentCache seg[kNumSegRegs], ldtr, tr;
    uint8_t cpl;
  };
  Snapshot snapshot() {
    Snapshot s;
    std::memcpy(s.gpr, cpu().gpr, sizeof s.gpr);
    s.rip = cpu().rip;
    s.rflags = read_rflags(cpu());
    std::memcpy(s.seg, cpu().seg, sizeof s.seg);
    s.ldtr = cpu().ldtr;
    s.tr = cpu().tr;
    s.cpl = cpu().cpl;
    return s;
  }
  void expect_unchanged(const Snapshot& s) {
    for (unsigned r = 0; r < 16; ++r) EXPECT_EQ(cpu().gpr[r], s.gpr[r]) << "gpr " << r;
    EXPECT_EQ(cpu().rip, s.rip);
    EXPECT_EQ(read_rflags(cpu()), s.rflags);
    for (unsigned g = 0; g < kNumSegRegs; ++g) {
      EXPECT_EQ(cpu().seg[g].selector, s.seg[g].selector) << "seg " << g;
      EXPECT_EQ(cpu().seg[g].base, s.seg[g].base) << "seg " << g;
      EXPECT_EQ(cpu().seg[g].limit, s.seg[g].limit) << "seg " << g;
      EXPECT_EQ(cpu().seg[g].attrib, s.seg[g].attrib) << "seg " << g;
    }
    EXPECT_EQ(cpu().cpl, s.cpl);
  }

  template <typename T>
  T mem(uint64_t a) {
    return t.read<T>(a);
  }
  template <typename T>
  void poke(uint64_t a, T v) {
    t.write<T>(a, v);
  }

  Insn last_{};
};

// Expects a fault with `vector` and `error` (kNoErrorCode: none).
inline void expect_fault(const Outcome& o, uint8_t vector, uint32_t error) {
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, vector);
  EXPECT_EQ(o.error_code, error);
}

}  // namespace umbra::test
