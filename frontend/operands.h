// Operand accessors shared by all instruction semantics: registers (with the AH..BH byte
// registers and the 32-bit zero-extension rule), effective and linear addresses, and generic
// read / write / read-modify-write over an operand whose kind is a template parameter, so each
// instruction is written once and instantiated per size and operand kind.
#pragma once

#include <cstdint>
#include <type_traits>

#include "frontend/cpu_state.h"
#include "frontend/insn.h"
#include "frontend/system/segmentation_checks.h"
#include "softmmu/access.h"

namespace umbra {

template <typename T>
inline T read_gpr(const CpuState& cpu, uint8_t r) {
  if constexpr (sizeof(T) == 1) {
    if (r >= kRegAH) return static_cast<T>(cpu.gpr[r - kRegAH] >> 8);
  }
  return static_cast<T>(cpu.gpr[r]);
}

// Writes follow SDM vol. 1, 3.4.1.1: 32-bit results zero-extend into the full 64-bit register;
// 8- and 16-bit results leave the other bits unchanged.
template <typename T>
inline void write_gpr(CpuState& cpu, uint8_t r, T v) {
  if constexpr (sizeof(T) == 1) {
    if (r >= kRegAH) {
      uint64_t& g = cpu.gpr[r - kRegAH];
      g = (g & ~uint64_t{0xff00}) | (uint64_t{static_cast<uint8_t>(v)} << 8);
    } else {
      cpu.gpr[r] = (cpu.gpr[r] & ~uint64_t{0xff}) | static_cast<uint8_t>(v);
    }
  } else if constexpr (sizeof(T) == 2) {
    cpu.gpr[r] = (cpu.gpr[r] & ~uint64_t{0xffff}) | static_cast<uint16_t>(v);
  } else if constexpr (sizeof(T) == 4) {
    cpu.gpr[r] = static_cast<uint32_t>(v);
  } else {
    cpu.gpr[r] = static_cast<uint64_t>(v);
  }
}

// Address-size truncation (SDM vol. 1, 3.3.7): 16/32-bit address computations wrap.
inline uint64_t truncate_address(uint64_t ea, unsigned addr_size) {
  if (addr_size == 8) return ea;
  if (addr_size == 4) return static_cast<uint32_t>(ea);
  return static_cast<uint16_t>(ea);
}

inline uint64_t effective_address(const CpuState& cpu, const Insn& i) {
  uint64_t ea = static_cast<uint64_t>(static_cast<int64_t>(i.disp));
  if (i.base == kRipReg)
    ea += cpu.rip + i.len;  // RIP-relative: relative to the next instruction
  else if (i.base != kNoReg)
    ea += cpu.gpr[i.base];
  if (i.index != kNoReg) ea += cpu.gpr[i.index] << i.scale;
  return truncate_address(ea, i.addr_size);
}

// Segment base added to an effective address. In 64-bit mode only FS and GS have bases
// (SDM vol. 3, 3.4.4) and nothing else is checked here (the canonical check is the access
// path's). Elsewhere linear addresses are 32 bits and the access of `size` bytes (a write when
// `write`) is checked against the segment's limit, type and usability when the segment is not
// flat (frontend/system/segmentation_checks.h); callers that do not pass the size get a one-byte
// read check.
inline uint64_t seg_linear(const CpuState& cpu, unsigned seg, uint64_t ea, unsigned size = 1,
                           bool write = false) {
  if (__builtin_expect(cpu.mode64, 1)) return seg >= FS ? ea + cpu.seg[seg].base : ea;
  if (__builtin_expect((cpu.seg_check >> seg) & 1, 0))
    check_segment_access(cpu, seg, ea, size, write);
  return static_cast<uint32_t>(ea + cpu.seg[seg].base);
}

inline uint64_t linear_address(const CpuState& cpu, const Insn& i, unsigned size = 1,
                               bool write = false) {
  return seg_linear(cpu, i.seg, effective_address(cpu, i), size, write);
}

template <typename T, OpKind K>
inline T read_operand(CpuState& cpu, const Insn& i, const Operand& o) {
  if constexpr (K == OpKind::Reg) {
    return read_gpr<T>(cpu, o.reg);
  } else if constexpr (K == OpKind::Mem) {
    return read_mem_seg<T>(cpu, linear_address(cpu, i, sizeof(T), false), i.seg);
  } else {
    static_assert(K == OpKind::Imm);
    return static_cast<T>(i.imm);
  }
}

template <typename T, OpKind K>
inline void write_operand(CpuState& cpu, const Insn& i, const Operand& o, T v) {
  if constexpr (K == OpKind::Reg) {
    write_gpr<T>(cpu, o.reg, v);
  } else {
    static_assert(K == OpKind::Mem);
    write_mem_seg<T>(cpu, linear_address(cpu, i, sizeof(T), true), v, i.seg);
  }
}

// A destination operand for read-modify-write. For memory, construction checks write
// permission (faulting as a write) before anything is read.
template <typename T, OpKind K>
class Rmw;

template <typename T>
class Rmw<T, OpKind::Reg> {
 public:
  Rmw(CpuState& cpu, const Insn&, const Operand& o) : cpu_(cpu), reg_(o.reg) {}
  T get() const { return read_gpr<T>(cpu_, reg_); }
  void set(T v) { write_gpr<T>(cpu_, reg_, v); }

 private:
  CpuState& cpu_;
  uint8_t reg_;
};

template <typename T>
class Rmw<T, OpKind::Mem> {
 public:
  Rmw(CpuState& cpu, const Insn& i, const Operand&)
      : cpu_(cpu), ref_(prepare_rmw_seg<T>(cpu, linear_address(cpu, i, sizeof(T), true), i.seg)) {}
  T get() const { return load<T>(cpu_, ref_); }
  void set(T v) { store<T>(cpu_, ref_, v); }

 private:
  CpuState& cpu_;
  MemRef ref_;
};

// Finish a non-branching instruction: advance RIP past it (wrapping to the code size outside
// 64-bit mode, SDM vol. 1, 3.5).
inline void next_rip(CpuState& cpu, const Insn& i) {
  uint64_t r = cpu.rip + i.len;
  cpu.rip = cpu.mode64 ? r : (cpu.code32 ? static_cast<uint32_t>(r) : static_cast<uint16_t>(r));
}

// Unsigned type for an operand size in bytes.
template <unsigned N> struct UintOf;
template <> struct UintOf<1> { using type = uint8_t; };
template <> struct UintOf<2> { using type = uint16_t; };
template <> struct UintOf<4> { using type = uint32_t; };
template <> struct UintOf<8> { using type = uint64_t; };
template <typename T> using SignedOf = std::make_signed_t<T>;

}  // namespace umbra
