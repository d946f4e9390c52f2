// A CPU and memory for unit tests of instruction semantics: 64-bit mode, flat segments,
// identity-mapped memory, handlers called directly (no decoder, no engine).
#pragma once

#include <gtest/gtest.h>

#include <csetjmp>
#include <cstring>
#include <memory>
#include <vector>

#include "frontend/cpu_state.h"
#include "frontend/decoder.h"
#include "frontend/flags.h"
#include "frontend/insn.h"
#include "frontend/semantics/registry.h"
#include "softmmu/access.h"
#include "softmmu/guest_memory.h"

namespace umbra::test {

// Result of running one handler: no fault, or the raised vector/error code.
struct Outcome {
  bool faulted = false;
  uint8_t vector = 0;
  uint32_t error_code = kNoErrorCode;
};

class TestCpu {
 public:
  static constexpr uint64_t kRamBytes = 16u << 20;

  TestCpu() : mem_(kRamBytes), cpu_(std::make_unique<CpuState>()) {
    cpu_->memory = &mem_;
    cpu_->translator = &identity_;
    cpu_->mode64 = 1;
    cpu_->code32 = 1;
    cpu_->rflags = rf::FIXED1;
    cpu_->seg[CS].attrib = seg_attr::P | seg_attr::L;
    tlb_flush_all(*cpu_);
  }

  CpuState& cpu() { return *cpu_; }
  GuestMemory& mem() { return mem_; }

  // Binds `insn` (fills fn) and runs it once, catching a raised fault.
  Outcome run(Insn& insn) {
    insn.fn = bind_handler(insn);
    std::jmp_buf jb;
    cpu_->fault_jmp = &jb;
    Outcome o;
    if (setjmp(jb) == 0) {
      insn.fn(*cpu_, insn);
    } else {
      o.faulted = true;
      o.vector = static_cast<uint8_t>(cpu_->pending_fault_vector);
      o.error_code = cpu_->pending_fault_error;
    }
    cpu_->fault_jmp = nullptr;
    return o;
  }

  template <typename T>
  T read(uint64_t addr) {
    T v;
    std::memcpy(&v, mem_.ram() + addr, sizeof(T));
    return v;
  }
  template <typename T>
  void write(uint64_t addr, T v) {
    std::memcpy(mem_.ram() + addr, &v, sizeof(T));
  }

 private:
  GuestMemory mem_;
  IdentityTranslator identity_;
  std::unique_ptr<CpuState> cpu_;
};

// Builders for decoded instructions, following the decoder's operand conventions
// (docs/decoder.md).
inline Insn make_insn(Op op, unsigned opsize, unsigned len = 3) {
  Insn i{};
  i.op = op;
  i.opsize = static_cast<uint8_t>(opsize);
  i.len = static_cast<uint8_t>(len);
  i.addr_size = 8;
  i.seg = DS;
  i.base = kNoReg;
  i.index = kNoReg;
  return i;
}
inline Operand reg_operand(uint8_t r) { return Operand{OpKind::Reg, r}; }
inline Operand imm_operand() { return Operand{OpKind::Imm, 0}; }
inline Operand mem_operand() { return Operand{OpKind::Mem, 0}; }
// Memory operand [base + disp].
inline void set_mem(Insn& i, uint8_t base, int64_t disp) {
  i.base = base;
  i.disp = disp;
}

// Decodes `bytes` (64-bit mode, or 32-bit when `mode64` is false) and runs the instruction once,
// catching a fault. Expects the encoding to decode whole, and RIP to advance past it when the
// instruction completes.
inline Outcome exec_decoded(TestCpu& t, const std::vector<uint8_t>& bytes, bool mode64 = true) {
  Insn i;
  const DecodeStatus st =
      decode(bytes.data(), static_cast<unsigned>(bytes.size()), DecodeMode{mode64, true}, &i);
  EXPECT_EQ(st, DecodeStatus::Ok);
  EXPECT_EQ(i.len, bytes.size());
  const uint64_t rip = t.cpu().rip;
  std::jmp_buf jb;
  t.cpu().fault_jmp = &jb;
  Outcome o;
  if (setjmp(jb) == 0) {
    i.fn(t.cpu(), i);
  } else {
    o.faulted = true;
    o.vector = static_cast<uint8_t>(t.cpu().pending_fault_vector);
    o.error_code = t.cpu().pending_fault_error;
  }
  t.cpu().fault_jmp = nullptr;
  if (!o.faulted) {
    EXPECT_EQ(t.cpu().rip, rip + bytes.size());
  }
  return o;
}

}  // namespace umbra::test
