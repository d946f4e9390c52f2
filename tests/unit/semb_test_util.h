// Helpers shared by the data-movement, control, stack, flag-control and string semantics tests:
// a translator with unmapped and read-only pages (to provoke faults), MMIO recording, a small
// deterministic random source, and instruction builders for the forms these tests use.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "frontend/cpu_state.h"
#include "frontend/flags.h"
#include "frontend/insn.h"
#include "softmmu/access.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {

// Identity translation except for pages marked unmapped (#PF on any access) or read-only (#PF
// on writes). Error codes follow SDM vol. 3, 4.7 (P, W/R bits).
class PagedTranslator final : public AddressTranslator {
 public:
  Translation translate(CpuState& cpu, uint64_t linear, Access access) override {
    const uint64_t page = linear & kPageMask;
    const uint32_t write_bit = access == Access::Write ? 2 : 0;
    if (unmapped.count(page)) raise_fault(cpu, kPF, write_bit, linear);
    if (access == Access::Write && readonly.count(page))
      raise_fault(cpu, kPF, 1 | write_bit, linear);
    ++translations;
    return Translation{linear, !readonly.count(page), true};
  }
  std::set<uint64_t> unmapped;
  std::set<uint64_t> readonly;
  uint64_t translations = 0;
};

// Installs a PagedTranslator on a TestCpu for the lifetime of this object.
class PagedCpu {
 public:
  explicit PagedCpu(TestCpu& t) : t_(t) {
    t_.cpu().translator = &translator_;
    tlb_flush_all(t_.cpu());
  }
  ~PagedCpu() {
    t_.cpu().translator = saved_;
    tlb_flush_all(t_.cpu());
  }
  void unmap(uint64_t page) {
    translator_.unmapped.insert(page & kPageMask);
    tlb_flush_all(t_.cpu());
  }
  void readonly(uint64_t page) {
    translator_.readonly.insert(page & kPageMask);
    tlb_flush_all(t_.cpu());
  }
  PagedTranslator& translator() { return translator_; }

 private:
  TestCpu& t_;
  PagedTranslator translator_;
  AddressTranslator* saved_ = t_.cpu().translator;
};

// xorshift64*: deterministic values for oracle comparisons.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ? seed : 1) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545F4914F6CDD1Dull;
  }
  // Values biased towards edge cases (0, all ones, sign bits, small numbers).
  uint64_t edgy() {
    switch (next() % 8) {
      case 0:
        return 0;
      case 1:
        return ~uint64_t{0};
      case 2:
        return uint64_t{1} << (next() % 64);
      case 3:
        return next() % 4;
      case 4:
        return (uint64_t{1} << (next() % 64)) - 1;
      default:
        return next();
    }
  }

 private:
  uint64_t s_;
};

// The instruction's own register operand forms.
inline Insn reg_reg(Op op, unsigned size, uint8_t dst, uint8_t src) {
  Insn i = make_insn(op, size);
  i.dst = reg_operand(dst);
  i.src = reg_operand(src);
  return i;
}
// op size dst=[base+disp], src=reg
inline Insn mem_reg(Op op, unsigned size, uint8_t base, int64_t disp, uint8_t src) {
  Insn i = make_insn(op, size);
  i.dst = mem_operand();
  i.src = reg_operand(src);
  set_mem(i, base, disp);
  return i;
}
// op size dst=reg, src=[base+disp]
inline Insn reg_mem(Op op, unsigned size, uint8_t dst, uint8_t base, int64_t disp) {
  Insn i = make_insn(op, size);
  i.dst = reg_operand(dst);
  i.src = mem_operand();
  set_mem(i, base, disp);
  return i;
}

// Puts the CPU in 32-bit protected mode (flat, CPL 0) with a 32- or 16-bit stack.
inline void enter_legacy(CpuState& cpu, bool code32, bool stack32) {
  cpu.mode64 = 0;
  cpu.code32 = code32;
  cpu.stack32 = stack32;
  cpu.cr0 |= 1;  // PE
  // Flat: near branches check their target against the CS limit outside 64-bit mode.
  cpu.seg[CS].limit = 0xffffffff;
}

inline uint64_t status_flags(const CpuState& cpu) {
  return arith_flags(cpu);
}

}  // namespace umbra::test
