// Data transfer (SDM vol. 1, 7.3.1): MOV, MOVZX/MOVSX/MOVSXD, LEA, BSWAP, MOVBE, CBW/CWD and
// their wider forms, XLAT, LAHF/SAHF, NOP. Exchanges are in datamov_exchange.cpp, conditional
// moves in datamov_cond.cpp. None of these touch the arithmetic flags except SAHF.
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/datamov_internal.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

using K = OpKind;

// Byte-order reversal of a 2, 4 or 8-byte value.
template <typename T>
inline T byte_swap(T v) {
  if constexpr (sizeof(T) == 2)
    return static_cast<T>(__builtin_bswap16(v));
  else if constexpr (sizeof(T) == 4)
    return static_cast<T>(__builtin_bswap32(v));
  else
    return static_cast<T>(__builtin_bswap64(v));
}

template <typename T, OpKind D, OpKind S>
struct Mov {
  static void run(CpuState& cpu, const Insn& i) {
    write_operand<T, D>(cpu, i, i.dst, read_operand<T, S>(cpu, i, i.src));
    next_rip(cpu, i);
  }
};

// MOVZX / MOVSX / MOVSXD: the source of type S (its size from Insn::src_size) is zero- or
// sign-extended (Signed) to the destination register of type T. With S as wide as T the value
// is moved unchanged (MOVSXD without REX.W, MOVZX/MOVSX r16, r/m16).
template <typename T, typename S, bool Signed, OpKind SK>
struct MovExtend {
  static void run(CpuState& cpu, const Insn& i) {
    const S v = read_operand<S, SK>(cpu, i, i.src);
    T r;
    if constexpr (Signed)
      r = static_cast<T>(static_cast<SignedOf<T>>(static_cast<SignedOf<S>>(v)));
    else
      r = static_cast<T>(v);
    write_gpr<T>(cpu, i.dst.reg, r);
    next_rip(cpu, i);
  }
};

template <typename T, typename S, bool Signed>
Handler select_extend_kind(const Insn& i) {
  switch (i.src.kind) {
    case K::Reg:
      return &MovExtend<T, S, Signed, K::Reg>::run;
    case K::Mem:
      return &MovExtend<T, S, Signed, K::Mem>::run;
    default:
      return nullptr;
  }
}

template <typename T, bool Signed>
Handler select_extend_src(const Insn& i) {
  switch (i.src_size) {
    case 1:
      return select_extend_kind<T, uint8_t, Signed>(i);
    case 2:
      return select_extend_kind<T, uint16_t, Signed>(i);
    default:
      return nullptr;
  }
}

template <bool Signed>
Handler bind_movx(const Insn& i) {
  if (i.dst.kind != K::Reg || i.src_size > i.opsize) return nullptr;
  switch (i.opsize) {
    case 2:
      return select_extend_src<uint16_t, Signed>(i);
    case 4:
      return select_extend_src<uint32_t, Signed>(i);
    case 8:
      return select_extend_src<uint64_t, Signed>(i);
    default:
      return nullptr;
  }
}

// MOVSXD (63 /r). With REX.W it sign-extends a doubleword. Without, it is a plain move of the
// operand size; for the 16-bit form the host (AMD) reads a whole doubleword from memory (a read
// ending two bytes before an unmapped page faults) and keeps its low word, so we do the same.
Handler bind_movsxd(const Insn& i) {
  if (i.dst.kind != K::Reg) return nullptr;
  switch (i.opsize) {
    case 2:
      return select_extend_kind<uint16_t, uint32_t, false>(i);
    case 4:
      return select_extend_kind<uint32_t, uint32_t, false>(i);
    case 8:
      return select_extend_kind<uint64_t, uint32_t, true>(i);
    default:
      return nullptr;
  }
}

// LEA: the effective address (no segment base), already wrapped to the address size, then
// truncated or zero-extended to the operand size (SDM vol. 2, LEA table).
template <typename T>
struct Lea {
  static void run(CpuState& cpu, const Insn& i) {
    write_gpr<T>(cpu, i.dst.reg, static_cast<T>(effective_address(cpu, i)));
    next_rip(cpu, i);
  }
};

Handler bind_lea(const Insn& i) {
  if (i.dst.kind != K::Reg || i.src.kind != K::Mem) return nullptr;
  switch (i.opsize) {
    case 2:
      return &Lea<uint16_t>::run;
    case 4:
      return &Lea<uint32_t>::run;
    case 8:
      return &Lea<uint64_t>::run;
    default:
      return nullptr;
  }
}

// BSWAP r32/r64. The 16-bit form is undefined in the SDM; the host (AMD) clears the low word and
// leaves the rest of the register alone, and so do we.
template <typename T>
struct Bswap {
  static void run(CpuState& cpu, const Insn& i) {
    if constexpr (sizeof(T) == 2)
      write_gpr<uint16_t>(cpu, i.dst.reg, 0);
    else
      write_gpr<T>(cpu, i.dst.reg, byte_swap(read_gpr<T>(cpu, i.dst.reg)));
    next_rip(cpu, i);
  }
};

Handler bind_bswap(const Insn& i) {
  if (i.dst.kind != K::Reg) return nullptr;
  switch (i.opsize) {
    case 2:
      return &Bswap<uint16_t>::run;
    case 4:
      return &Bswap<uint32_t>::run;
    case 8:
      return &Bswap<uint64_t>::run;
    default:
      return nullptr;
  }
}

// MOVBE: a load or store with the bytes reversed; one operand is memory, the other a register.
template <typename T, OpKind D, OpKind S>
struct Movbe {
  static void run(CpuState& cpu, const Insn& i) {
    write_operand<T, D>(cpu, i, i.dst, byte_swap(read_operand<T, S>(cpu, i, i.src)));
    next_rip(cpu, i);
  }
};

template <typename T>
Handler select_movbe_kinds(const Insn& i) {
  if (i.dst.kind == K::Reg && i.src.kind == K::Mem) return &Movbe<T, K::Reg, K::Mem>::run;
  if (i.dst.kind == K::Mem && i.src.kind == K::Reg) return &Movbe<T, K::Mem, K::Reg>::run;
  return nullptr;
}

Handler bind_movbe(const Insn& i) {
  switch (i.opsize) {
    case 2:
      return select_movbe_kinds<uint16_t>(i);
    case 4:
      return select_movbe_kinds<uint32_t>(i);
    case 8:
      return select_movbe_kinds<uint64_t>(i);
    default:
      return nullptr;
  }
}

// CBW / CWDE / CDQE: sign-extend the low half of the accumulator into the whole of it.
template <typename T>
struct Cbw {
  static void run(CpuState& cpu, const Insn& i) {
    using Half = typename UintOf<sizeof(T) / 2>::type;
    const auto low = static_cast<SignedOf<Half>>(read_gpr<Half>(cpu, RAX));
    write_gpr<T>(cpu, RAX, static_cast<T>(static_cast<SignedOf<T>>(low)));
    next_rip(cpu, i);
  }
};

// CWD / CDQ / CQO: fill rDX with the sign of rAX.
template <typename T>
struct Cwd {
  static void run(CpuState& cpu, const Insn& i) {
    const T sign =
        static_cast<T>(static_cast<SignedOf<T>>(read_gpr<T>(cpu, RAX)) >> (sizeof(T) * 8 - 1));
    write_gpr<T>(cpu, RDX, sign);
    next_rip(cpu, i);
  }
};

// XLAT: AL <- [seg:rBX + zero-extended AL], the sum wrapped to the address size: a one-byte
// read through seg (limit and type checked in legacy modes).
void xlat(CpuState& cpu, const Insn& i) {
  const uint64_t ea = truncate_address(cpu.gpr[RBX] + (cpu.gpr[RAX] & 0xff), i.addr_size);
  write_gpr<uint8_t>(cpu, RAX,
                     read_mem_seg<uint8_t>(cpu, seg_linear(cpu, i.seg, ea, 1, false), i.seg));
  next_rip(cpu, i);
}

// LAHF / SAHF move SF ZF AF PF CF (RFLAGS bits 7, 6, 4, 2, 0) between AH and the flags; LAHF
// sets bit 1 and clears bits 3 and 5 of AH (host: AH = 0xD7 with all five set).
constexpr uint64_t kAhFlags = rf::SF | rf::ZF | rf::AF | rf::PF | rf::CF;

void lahf(CpuState& cpu, const Insn& i) {
  write_gpr<uint8_t>(cpu, kRegAH, static_cast<uint8_t>((arith_flags(cpu) & kAhFlags) | rf::FIXED1));
  next_rip(cpu, i);
}

void sahf(CpuState& cpu, const Insn& i) {
  update_arith_flags(cpu, kAhFlags, read_gpr<uint8_t>(cpu, kRegAH));
  next_rip(cpu, i);
}

// NOP in all its forms (90, PAUSE, 0F 1F /0 with a memory operand that is never accessed, hint
// NOPs, ENDBR).
void nop(CpuState& cpu, const Insn& i) {
  next_rip(cpu, i);
}

Handler bind_nop(const Insn&) {
  return &nop;
}
Handler bind_xlat(const Insn&) {
  return &xlat;
}
Handler bind_lahf(const Insn&) {
  return &lahf;
}
Handler bind_sahf(const Insn&) {
  return &sahf;
}

}  // namespace

void register_datamov(BinderTable& t) {
  bind(t, Op::MOV, &select_binary<Mov>);
  bind(t, Op::MOVZX, &bind_movx<false>);
  bind(t, Op::MOVSX, &bind_movx<true>);
  bind(t, Op::MOVSXD, &bind_movsxd);
  bind(t, Op::LEA, &bind_lea);
  bind(t, Op::BSWAP, &bind_bswap);
  bind(t, Op::MOVBE, &bind_movbe);
  bind(t, Op::CBW, &select_size_wide<Cbw>);
  bind(t, Op::CWD, &select_size_wide<Cwd>);
  bind(t, Op::XLAT, &bind_xlat);
  bind(t, Op::LAHF, &bind_lahf);
  bind(t, Op::SAHF, &bind_sahf);
  bind(t, Op::NOP, &bind_nop);
  register_datamov_exchange(t);
  register_datamov_cond(t);
}

}  // namespace umbra
