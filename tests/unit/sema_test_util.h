// Helpers shared by the arithmetic, logic, shift, bit and BMI semantics tests: a value source
// biased to edge cases, the host CPU as an oracle (inline asm on the same inputs: the build host
// is x86-64), a translator with read-only pages, and builders for the operand forms.
#pragma once

#include <cpuid.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "frontend/cpu_state.h"
#include "frontend/flags.h"
#include "frontend/insn.h"
#include "softmmu/access.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::sema {

constexpr uint64_t kArith = rf::ARITH;

inline uint64_t mask_of(unsigned size) {
  return size_mask(size);
}

// Sign-extends the low `size` bytes of v.
inline uint64_t sext(uint64_t v, unsigned size) {
  const unsigned shift = 64 - 8 * size;
  return static_cast<uint64_t>(static_cast<int64_t>(v << shift) >> shift);
}

// Values that exercise carries, sign boundaries and all-ones/zero patterns at every width.
inline const std::vector<uint64_t>& edge_values() {
  static const std::vector<uint64_t> v = {
      0,
      1,
      2,
      0x0f,
      0x10,
      0x7f,
      0x80,
      0xff,
      0x100,
      0x7fff,
      0x8000,
      0xffff,
      0x7fffffff,
      0x80000000,
      0xffffffff,
      0x100000000ull,
      0x7fffffffffffffffull,
      0x8000000000000000ull,
      0xffffffffffffffffull,
      0xfffffffffffffffeull,
      0x123456789abcdef0ull,
      0xfedcba9876543210ull,
  };
  return v;
}

// Deterministic pseudo-random values, mixed with edge values and short bit patterns.
class Values {
 public:
  explicit Values(uint64_t seed) : rng_(seed) {}
  uint64_t next() {
    const uint64_t r = rng_();
    switch (rng_() % 8) {
      case 0:
        return edge_values()[r % edge_values().size()];
      case 1:
        return r & 0xff;
      case 2:
        return uint64_t{1} << (r % 64);
      case 3:
        return (uint64_t{1} << (r % 64)) - 1;
      case 4:
        return ~(uint64_t{1} << (r % 64));
      default:
        return r;
    }
  }
  uint64_t below(uint64_t n) { return rng_() % n; }
  // A random status-flag state (the six arithmetic flags only).
  uint64_t flags() { return rng_() & kArith; }

 private:
  std::mt19937_64 rng_;
};

// ---- what the host is ----
//
// Umbra reproduces the reference host's (AMD EPYC, a family before 1Ah) values for
// flags the SDM leaves undefined (docs/semantics.md). On another vendor's CPU, or on a later AMD
// family, those flags may differ (family 1Ah, Zen 5, clears CF/OF/SF/AF after BSF/BSR and sets PF
// from the result instead of keeping them), so the tests compare them only when the host is the
// reference; the defined flags are compared everywhere.
inline bool host_is_reference() {
  static const bool reference = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return false;
    char vendor[13];
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    if (std::strcmp(vendor, "AuthenticAMD") != 0 || !__get_cpuid(1, &a, &b, &c, &d)) return false;
    // CPUID.1:EAX: base family in bits 11:8, extended family (added when base is 0Fh) in 27:20.
    const unsigned family = ((a >> 8) & 0xf) + (((a >> 8) & 0xf) == 0xf ? (a >> 20) & 0xff : 0);
    return family < 0x1a;
  }();
  return reference;
}

// The status flags to compare in a case where the SDM leaves `undefined` undefined.
inline uint64_t compared_flags(uint64_t undefined) {
  return host_is_reference() ? kArith : kArith & ~undefined;
}

// Host instruction-set extensions the oracles need (an instruction the host lacks would either
// trap or, for LZCNT/TZCNT, silently run as BSR/BSF).
enum class HostFeature { Popcnt, Lzcnt, Bmi1, Bmi2, Adx };
inline bool host_has(HostFeature f) {
  unsigned a, b, c, d;
  switch (f) {
    case HostFeature::Popcnt:
      return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 23));
    case HostFeature::Lzcnt:
      return __get_cpuid(0x80000001, &a, &b, &c, &d) && (c & (1u << 5));
    default:
      break;
  }
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const unsigned bit = f == HostFeature::Bmi1 ? 3 : f == HostFeature::Bmi2 ? 8 : 19;
  return b & (1u << bit);
}
#define SKIP_WITHOUT_HOST_FEATURE(f) \
  if (!::umbra::test::sema::host_has(f)) GTEST_SKIP() << "host CPU lacks " #f

// ---- the host as oracle ----
//
// HOST_FLAGS_IN / HOST_FLAGS_OUT bracket an instruction: load the status flags from operand
// %[f], run it, store RFLAGS back to %[f]. The red zone is stepped over because the compiler may
// keep locals there. Only register operands may be used inside (RSP moves).
#define HOST_FLAGS_IN "lea -128(%%rsp), %%rsp\n\tpushq %[f]\n\tpopfq\n\t"
#define HOST_FLAGS_OUT "\n\tpushfq\n\tpopq %[f]\n\tlea 128(%%rsp), %%rsp"

struct HostOut {
  uint64_t dst;
  uint64_t flags;  // the six status flags
};

// Input flags for the host: the status flags we want, plus the fixed bit 1.
inline uint64_t host_flags_in(uint64_t f) {
  return (f & kArith) | rf::FIXED1;
}

// Defines `HostOut name(unsigned size, uint64_t a, uint64_t b, uint64_t flags)` running
// "<mnem><size suffix> b, a" on the host with the full 64-bit registers a and b.
#define DEFINE_HOST_BINARY(name, mnem)                                         \
  inline HostOut name(unsigned size, uint64_t a, uint64_t b, uint64_t flags) { \
    uint64_t f = ::umbra::test::sema::host_flags_in(flags);                    \
    switch (size) {                                                            \
      case 1:                                                                  \
        asm volatile(HOST_FLAGS_IN mnem "b %b[b], %b[a]" HOST_FLAGS_OUT        \
                     : [a] "+r"(a), [f] "+r"(f)                                \
                     : [b] "r"(b)                                              \
                     : "cc");                                                  \
        break;                                                                 \
      case 2:                                                                  \
        asm volatile(HOST_FLAGS_IN mnem "w %w[b], %w[a]" HOST_FLAGS_OUT        \
                     : [a] "+r"(a), [f] "+r"(f)                                \
                     : [b] "r"(b)                                              \
                     : "cc");                                                  \
        break;                                                                 \
      case 4:                                                                  \
        asm volatile(HOST_FLAGS_IN mnem "l %k[b], %k[a]" HOST_FLAGS_OUT        \
                     : [a] "+r"(a), [f] "+r"(f)                                \
                     : [b] "r"(b)                                              \
                     : "cc");                                                  \
        break;                                                                 \
      default:                                                                 \
        asm volatile(HOST_FLAGS_IN mnem "q %q[b], %q[a]" HOST_FLAGS_OUT        \
                     : [a] "+r"(a), [f] "+r"(f)                                \
                     : [b] "r"(b)                                              \
                     : "cc");                                                  \
        break;                                                                 \
    }                                                                          \
    return {a, f & ::umbra::test::sema::kArith};                               \
  }

// Same for sizes 2/4/8 only (instructions without a byte form).
#define DEFINE_HOST_BINARY_WIDE(name, mnem)                                    \
  inline HostOut name(unsigned size, uint64_t a, uint64_t b, uint64_t flags) { \
    uint64_t f = ::umbra::test::sema::host_flags_in(flags);                    \
    switch (size) {                                                            \
      case 2:                                                                  \
        asm volatile(HOST_FLAGS_IN mnem "w %w[b], %w[a]" HOST_FLAGS_OUT        \
                     : [a] "+r"(a), [f] "+r"(f)                                \
                     : [b] "r"(b)                                              \
                     : "cc");                                                  \
        break;                                                                 \
      case 4:                                                                  \
        asm volatile(HOST_FLAGS_IN mnem "l %k[b], %k[a]" HOST_FLAGS_OUT        \
                     : [a] "+r"(a), [f] "+r"(f)                                \
                     : [b] "r"(b)                                              \
                     : "cc");                                                  \
        break;                                                                 \
      default:                                                                 \
        asm volatile(HOST_FLAGS_IN mnem "q %q[b], %q[a]" HOST_FLAGS_OUT        \
                     : [a] "+r"(a), [f] "+r"(f)                                \
                     : [b] "r"(b)                                              \
                     : "cc");                                                  \
        break;                                                                 \
    }                                                                          \
    return {a, f & ::umbra::test::sema::kArith};                               \
  }

// ---- a translator with read-only pages (write-permission checks) ----

class ReadOnlyPagesTranslator final : public AddressTranslator {
 public:
  Translation translate(CpuState& cpu, uint64_t linear, Access access) override {
    const bool ro = readonly.count(linear & kPageMask) != 0;
    if (access == Access::Write && ro) raise_fault(cpu, kPF, 1 | 2, linear);
    return Translation{linear, !ro, true};
  }
  std::set<uint64_t> readonly;
};

// ---- building and running instructions ----

constexpr uint64_t kStartRip = 0x1000;
constexpr uint64_t kDataBase = 0x20000;  // memory operands live around here
constexpr uint8_t kBaseReg = RBP;        // memory operands are [RBP + disp]

// Turns operand slot `o` of `i` into a memory operand [RBP + disp] and points RBP at base.
inline void use_memory(TestCpu& t, Insn& i, Operand& o, uint64_t base, int64_t disp) {
  o = mem_operand();
  t.cpu().gpr[kBaseReg] = base;
  set_mem(i, kBaseReg, disp);
}

inline void write_sized(TestCpu& t, uint64_t addr, unsigned size, uint64_t v) {
  for (unsigned k = 0; k < size; ++k) t.write<uint8_t>(addr + k, static_cast<uint8_t>(v >> 8 * k));
}
inline uint64_t read_sized(TestCpu& t, uint64_t addr, unsigned size) {
  uint64_t v = 0;
  for (unsigned k = 0; k < size; ++k) v |= uint64_t{t.read<uint8_t>(addr + k)} << 8 * k;
  return v;
}

// A fresh CPU state for one instruction: RIP at kStartRip, status flags as given, every GPR
// filled with a recognisable pattern.
inline void reset_cpu(TestCpu& t, uint64_t flags) {
  CpuState& cpu = t.cpu();
  for (unsigned r = 0; r < 16; ++r) cpu.gpr[r] = 0x5a5a5a5a00000000ull | (r * 0x01010101u);
  cpu.rip = kStartRip;
  set_arith_flags(cpu, flags);
}

// Human-readable context for a failure.
inline std::string describe(const char* what, unsigned size, uint64_t a, uint64_t b,
                            uint64_t flags) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s size=%u a=%#llx b=%#llx flags_in=%#llx", what, size,
                static_cast<unsigned long long>(a), static_cast<unsigned long long>(b),
                static_cast<unsigned long long>(flags));
  return buf;
}

// Caps the number of reported mismatches in randomized loops.
class FailureBudget {
 public:
  bool exhausted() const { return failures_ >= 8; }
  void count() { ++failures_; }

 private:
  int failures_ = 0;
};

// ---- two-operand forms (ADD..CMP, AND..TEST) ----

enum class BinForm { RegReg, RegMem, RegImm, MemReg, MemImm };
constexpr BinForm kBinForms[] = {BinForm::RegReg, BinForm::RegMem, BinForm::RegImm, BinForm::MemReg,
                                 BinForm::MemImm};
inline const char* form_name(BinForm f) {
  switch (f) {
    case BinForm::RegReg:
      return "reg,reg";
    case BinForm::RegMem:
      return "reg,mem";
    case BinForm::RegImm:
      return "reg,imm";
    case BinForm::MemReg:
      return "mem,reg";
    default:
      return "mem,imm";
  }
}
inline bool has_imm(BinForm f) {
  return f == BinForm::RegImm || f == BinForm::MemImm;
}
inline bool dst_is_mem(BinForm f) {
  return f == BinForm::MemReg || f == BinForm::MemImm;
}

struct UmbraOut {
  uint64_t dst;    // full register, or the operand-sized memory value
  uint64_t flags;  // the six status flags
  Outcome outcome;
  uint64_t rip;
  bool guards_ok;  // the bytes around a memory operand are untouched
};

constexpr uint8_t kDstReg = RBX;
constexpr uint8_t kSrcReg = RSI;
constexpr uint8_t kGuard = 0xa5;

// Places a memory operand of `size` bytes at `addr` with guard bytes on either side.
inline void place_mem(TestCpu& t, uint64_t addr, unsigned size, uint64_t v) {
  write_sized(t, addr - 8, 8, 0xa5a5a5a5a5a5a5a5ull);
  write_sized(t, addr + size, 8, 0xa5a5a5a5a5a5a5a5ull);
  write_sized(t, addr, size, v);
}
inline bool guards_intact(TestCpu& t, uint64_t addr, unsigned size) {
  return read_sized(t, addr - 8, 8) == 0xa5a5a5a5a5a5a5a5ull &&
         read_sized(t, addr + size, 8) == 0xa5a5a5a5a5a5a5a5ull;
}

// The immediate as the decoder stores it: sign-extended from min(size, 4) bytes.
inline uint64_t imm_for(unsigned size, uint64_t b) {
  return sext(b, size < 4 ? size : 4);
}

// Runs `op` dst, src in the given form. dst = a, src = b (for imm forms, Insn::imm = b as given,
// which the caller makes a valid sign-extended immediate). Memory operands are at mem_addr.
inline UmbraOut run_binary(TestCpu& t, Op op, unsigned size, BinForm form, uint64_t a, uint64_t b,
                           uint64_t flags, uint64_t mem_addr = kDataBase + 0x40) {
  reset_cpu(t, flags);
  CpuState& cpu = t.cpu();
  Insn i = make_insn(op, size, 4);
  if (dst_is_mem(form)) {
    use_memory(t, i, i.dst, mem_addr - 0x40, 0x40);
    place_mem(t, mem_addr, size, a);
  } else {
    i.dst = reg_operand(kDstReg);
    cpu.gpr[kDstReg] = a;
  }
  if (has_imm(form)) {
    i.src = imm_operand();
    i.imm = b;
  } else if (form == BinForm::RegMem) {
    use_memory(t, i, i.src, mem_addr - 0x40, 0x40);
    place_mem(t, mem_addr, size, b);
  } else {
    i.src = reg_operand(kSrcReg);
    cpu.gpr[kSrcReg] = b;
  }
  UmbraOut out;
  out.outcome = t.run(i);
  out.dst = dst_is_mem(form) ? read_sized(t, mem_addr, size) : cpu.gpr[kDstReg];
  out.flags = arith_flags(cpu);
  out.rip = cpu.rip;
  out.guards_ok =
      (dst_is_mem(form) || form == BinForm::RegMem) ? guards_intact(t, mem_addr, size) : true;
  return out;
}

using HostBinary = HostOut (*)(unsigned size, uint64_t a, uint64_t b, uint64_t flags);

// Compares `op` in every form against the host on edge-value pairs and random pairs, with
// random input flags. (For CMP/TEST the host leaves its destination unchanged too.) `undefined`:
// the flags the SDM leaves undefined for `op` (compared only on the reference host).
inline void check_binary_op(Op op, HostBinary host, std::initializer_list<unsigned> sizes,
                            uint64_t seed, uint64_t undefined = 0, int random_cases = 1500) {
  TestCpu t;
  Values vals(seed);
  FailureBudget budget;
  auto check = [&](unsigned size, uint64_t a, uint64_t b, uint64_t flags) {
    for (BinForm form : kBinForms) {
      const uint64_t bb = has_imm(form) ? imm_for(size, b) : b;
      const HostOut h = host(size, a, bb, flags);
      const UmbraOut u = run_binary(t, op, size, form, a, bb, flags);
      const uint64_t expect_dst = dst_is_mem(form) ? h.dst & mask_of(size) : h.dst;
      const uint64_t cmp = compared_flags(undefined);
      const bool ok = !u.outcome.faulted && u.dst == expect_dst &&
                      (u.flags & cmp) == (h.flags & cmp) && u.rip == kStartRip + 4 && u.guards_ok;
      if (!ok && !budget.exhausted()) {
        budget.count();
        ADD_FAILURE() << describe(op_name(op), size, a, bb, flags) << " form=" << form_name(form)
                      << std::hex << ": dst " << u.dst << " want " << expect_dst << ", flags "
                      << u.flags << " want " << h.flags << ", faulted " << u.outcome.faulted
                      << ", rip " << u.rip << ", guards " << u.guards_ok;
      }
    }
  };
  for (unsigned size : sizes) {
    for (uint64_t a : edge_values())
      for (uint64_t b : edge_values()) check(size, a, b, vals.flags());
    for (int k = 0; k < random_cases; ++k) check(size, vals.next(), vals.next(), vals.flags());
  }
}

// ---- one-operand forms (INC DEC NEG NOT) ----

using HostUnary = HostOut (*)(unsigned size, uint64_t a, uint64_t flags);

#define DEFINE_HOST_UNARY(name, mnem)                              \
  inline HostOut name(unsigned size, uint64_t a, uint64_t flags) { \
    uint64_t f = ::umbra::test::sema::host_flags_in(flags);        \
    switch (size) {                                                \
      case 1:                                                      \
        asm volatile(HOST_FLAGS_IN mnem "b %b[a]" HOST_FLAGS_OUT   \
                     : [a] "+r"(a), [f] "+r"(f)                    \
                     :                                             \
                     : "cc");                                      \
        break;                                                     \
      case 2:                                                      \
        asm volatile(HOST_FLAGS_IN mnem "w %w[a]" HOST_FLAGS_OUT   \
                     : [a] "+r"(a), [f] "+r"(f)                    \
                     :                                             \
                     : "cc");                                      \
        break;                                                     \
      case 4:                                                      \
        asm volatile(HOST_FLAGS_IN mnem "l %k[a]" HOST_FLAGS_OUT   \
                     : [a] "+r"(a), [f] "+r"(f)                    \
                     :                                             \
                     : "cc");                                      \
        break;                                                     \
      default:                                                     \
        asm volatile(HOST_FLAGS_IN mnem "q %q[a]" HOST_FLAGS_OUT   \
                     : [a] "+r"(a), [f] "+r"(f)                    \
                     :                                             \
                     : "cc");                                      \
        break;                                                     \
    }                                                              \
    return {a, f & ::umbra::test::sema::kArith};                   \
  }

// Runs a one-operand `op` on a register (RBX) or a memory operand.
inline UmbraOut run_unary(TestCpu& t, Op op, unsigned size, bool mem, uint64_t a, uint64_t flags,
                          uint64_t mem_addr = kDataBase + 0x40) {
  reset_cpu(t, flags);
  CpuState& cpu = t.cpu();
  Insn i = make_insn(op, size, 2);
  if (mem) {
    use_memory(t, i, i.dst, mem_addr, 0);
    place_mem(t, mem_addr, size, a);
  } else {
    i.dst = reg_operand(kDstReg);
    cpu.gpr[kDstReg] = a;
  }
  UmbraOut out;
  out.outcome = t.run(i);
  out.dst = mem ? read_sized(t, mem_addr, size) : cpu.gpr[kDstReg];
  out.flags = arith_flags(cpu);
  out.rip = cpu.rip;
  out.guards_ok = mem ? guards_intact(t, mem_addr, size) : true;
  return out;
}

inline void check_unary_op(Op op, HostUnary host, uint64_t seed, int random_cases = 3000) {
  TestCpu t;
  Values vals(seed);
  FailureBudget budget;
  auto check = [&](unsigned size, uint64_t a, uint64_t flags) {
    const HostOut h = host(size, a, flags);
    for (bool mem : {false, true}) {
      const UmbraOut u = run_unary(t, op, size, mem, a, flags);
      const uint64_t expect_dst = mem ? h.dst & mask_of(size) : h.dst;
      const bool ok = !u.outcome.faulted && u.dst == expect_dst && u.flags == h.flags &&
                      u.rip == kStartRip + 2 && u.guards_ok;
      if (!ok && !budget.exhausted()) {
        budget.count();
        ADD_FAILURE() << describe(op_name(op), size, a, 0, flags) << (mem ? " mem" : " reg")
                      << std::hex << ": dst " << u.dst << " want " << expect_dst << ", flags "
                      << u.flags << " want " << h.flags << ", faulted " << u.outcome.faulted;
      }
    }
  };
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    for (uint64_t a : edge_values())
      for (uint64_t f : {uint64_t{0}, kArith}) check(size, a, f);
    for (int k = 0; k < random_cases; ++k) check(size, vals.next(), vals.flags());
  }
}

}  // namespace umbra::test::sema
