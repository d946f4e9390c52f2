// Exchanges (SDM vol. 1, 7.3.1.2): XCHG, XADD, CMPXCHG, CMPXCHG8B/CMPXCHG16B.
//
// A memory destination is prepared with Rmw<T, Mem> first, which checks write permission (and
// faults as a write) before anything is read or changed, so every register write below happens
// after the last check that can fault. There is one CPU today, so LOCK needs nothing more.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/datamov_internal.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

using K = OpKind;

// XCHG r/m, r. The decoder puts the r/m operand in dst; Mem is also accepted in src.
template <typename T, OpKind D, OpKind S>
struct Xchg {
  static void run(CpuState& cpu, const Insn& i) {
    if constexpr (S == K::Mem) {
      Rmw<T, K::Mem> mem(cpu, i, i.src);
      const T m = mem.get();
      mem.set(read_gpr<T>(cpu, i.dst.reg));
      write_gpr<T>(cpu, i.dst.reg, m);
    } else {
      Rmw<T, D> dst(cpu, i, i.dst);
      const T a = dst.get();
      const T b = read_gpr<T>(cpu, i.src.reg);
      dst.set(b);
      write_gpr<T>(cpu, i.src.reg, a);
    }
    next_rip(cpu, i);
  }
};

template <typename T>
Handler select_xchg_kinds(const Insn& i) {
  if (i.dst.kind == K::Reg && i.src.kind == K::Reg) return &Xchg<T, K::Reg, K::Reg>::run;
  if (i.dst.kind == K::Mem && i.src.kind == K::Reg) return &Xchg<T, K::Mem, K::Reg>::run;
  if (i.dst.kind == K::Reg && i.src.kind == K::Mem) return &Xchg<T, K::Reg, K::Mem>::run;
  return nullptr;
}

// XADD r/m, r: TEMP <- SRC + DEST; SRC <- DEST; DEST <- TEMP (so XADD r, r with the same
// register leaves the sum). Flags as ADD.
template <typename T, OpKind D>
struct Xadd {
  static void run(CpuState& cpu, const Insn& i) {
    Rmw<T, D> dst(cpu, i, i.dst);
    const T a = dst.get();
    const T b = read_gpr<T>(cpu, i.src.reg);
    const T sum = static_cast<T>(a + b);
    write_gpr<T>(cpu, i.src.reg, a);
    dst.set(sum);
    set_lazy<T>(cpu, kLazyAdd, sum, a, b);
    next_rip(cpu, i);
  }
};

// CMPXCHG r/m, r: compare the accumulator with DEST (flags as CMP accumulator, DEST). Equal:
// DEST <- SRC. Different: accumulator <- DEST, and a memory DEST is written back with its own
// value (SDM vol. 2, CMPXCHG: the processor never produces a locked read without a write).
// Host-observed (AMD), 32-bit forms in 64-bit mode: on success EAX is not written (the upper half
// of RAX survives); on failure a register DEST is not written (its upper half survives) while
// EAX is written and zero-extended.
template <typename T, OpKind D>
struct Cmpxchg {
  static void run(CpuState& cpu, const Insn& i) {
    Rmw<T, D> dst(cpu, i, i.dst);
    const T old = dst.get();
    const T acc = read_gpr<T>(cpu, RAX);
    if (acc == old) {
      dst.set(read_gpr<T>(cpu, i.src.reg));
    } else {
      if constexpr (D == K::Mem) dst.set(old);
      write_gpr<T>(cpu, RAX, old);
    }
    set_lazy<T>(cpu, kLazySub, static_cast<T>(acc - old), acc, old);
    next_rip(cpu, i);
  }
};

template <template <typename, OpKind> class F>
Handler select_rmw_reg_src(const Insn& i) {
  if (i.src.kind != K::Reg) return nullptr;
  return select_unary<F>(i);
}

// CMPXCHG8B m64: compare EDX:EAX with m64; equal: m64 <- ECX:EBX, ZF = 1; else EDX:EAX <- m64
// (zero-extended in 64-bit mode), m64 written back, ZF = 0. Host-observed: on success RAX and RDX
// are not written at all. Only ZF changes.
void cmpxchg8b(CpuState& cpu, const Insn& i) {
  Rmw<uint64_t, K::Mem> mem(cpu, i, i.dst);
  const uint64_t old = mem.get();
  const uint64_t expected = (cpu.gpr[RDX] << 32) | static_cast<uint32_t>(cpu.gpr[RAX]);
  const bool equal = old == expected;
  if (equal) {
    mem.set((cpu.gpr[RCX] << 32) | static_cast<uint32_t>(cpu.gpr[RBX]));
  } else {
    mem.set(old);
    write_gpr<uint32_t>(cpu, RAX, static_cast<uint32_t>(old));
    write_gpr<uint32_t>(cpu, RDX, static_cast<uint32_t>(old >> 32));
  }
  update_arith_flags(cpu, rf::ZF, equal ? rf::ZF : 0);
  next_rip(cpu, i);
}

// CMPXCHG16B m128: the 128-bit analogue with RDX:RAX and RCX:RBX. The operand must be 16-byte
// aligned (#GP(0) otherwise, checked first: the host gives #GP for a misaligned non-canonical
// [rBP]), so it never crosses a page: both halves are checked for write before either is
// touched. A non-canonical stack reference ([rSP]/[rBP] base) is #SS(0), as for any operand
// (SDM vol. 2, CMPXCHG8B/CMPXCHG16B, 64-bit mode exceptions): the _seg accessors know SS.
void cmpxchg16b(CpuState& cpu, const Insn& i) {
  const uint64_t linear = linear_address(cpu, i, 16, true);
  if (linear & 15) raise_fault(cpu, kGP, 0);
  const MemRef lo_ref = prepare_rmw_seg<uint64_t>(cpu, linear, i.seg);
  const MemRef hi_ref = prepare_rmw_seg<uint64_t>(cpu, linear + 8, i.seg);
  const uint64_t lo = load<uint64_t>(cpu, lo_ref);
  const uint64_t hi = load<uint64_t>(cpu, hi_ref);
  const bool equal = lo == cpu.gpr[RAX] && hi == cpu.gpr[RDX];
  if (equal) {
    store<uint64_t>(cpu, lo_ref, cpu.gpr[RBX]);
    store<uint64_t>(cpu, hi_ref, cpu.gpr[RCX]);
  } else {
    store<uint64_t>(cpu, lo_ref, lo);
    store<uint64_t>(cpu, hi_ref, hi);
    cpu.gpr[RAX] = lo;
    cpu.gpr[RDX] = hi;
  }
  update_arith_flags(cpu, rf::ZF, equal ? rf::ZF : 0);
  next_rip(cpu, i);
}

Handler bind_cmpxchg8b(const Insn& i) {
  if (i.dst.kind != K::Mem) return nullptr;
  switch (i.opsize) {
    case 8:
      return &cmpxchg8b;
    case 16:
      return &cmpxchg16b;
    default:
      return nullptr;
  }
}

Handler bind_xchg(const Insn& i) {
  switch (i.opsize) {
    case 1:
      return select_xchg_kinds<uint8_t>(i);
    case 2:
      return select_xchg_kinds<uint16_t>(i);
    case 4:
      return select_xchg_kinds<uint32_t>(i);
    case 8:
      return select_xchg_kinds<uint64_t>(i);
    default:
      return nullptr;
  }
}

}  // namespace

void register_datamov_exchange(BinderTable& t) {
  bind(t, Op::XCHG, &bind_xchg);
  bind(t, Op::XADD, &select_rmw_reg_src<Xadd>);
  bind(t, Op::CMPXCHG, &select_rmw_reg_src<Cmpxchg>);
  bind(t, Op::CMPXCHG8B, &bind_cmpxchg8b);
}

}  // namespace umbra
