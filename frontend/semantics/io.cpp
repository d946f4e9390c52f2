// Port I/O: IN, OUT, INS, OUTS (SDM vol. 2; vol. 1, 19.5 "I/O privilege level" and 19.5.2
// "I/O permission bit map").
//
// Protection: real mode may access every port. In protected mode an access is allowed outright
// when CPL <= IOPL; otherwise (and always in virtual-8086 mode) the TSS's I/O permission bit map
// decides: every bit for ports port..port+size-1 must be 0. The map starts at the 16-bit offset
// stored at TSS+66H (32-bit and 64-bit TSS alike). The processor reads two bytes of the map for
// each access (an access of up to 4 bytes at any port spans at most two), and both must lie
// within the TSS limit; a map that is absent, truncated by the limit, or a TSS that is not a
// 32/64-bit TSS means #GP(0). The map is read with implicit supervisor-mode accesses.
//
// INS/OUTS follow the string-instruction conventions of string.cpp: rDI/rSI advance by the
// element size (down with DF), the count register is CX/ECX/RCX by address size, each element
// checks permission and completes its memory access before the registers advance (a fault
// leaves the state of the previous element), and a REP instruction yields to the engine every
// kRepChunk elements or when a device asks the CPU to stop (RIP stays on the instruction, so it
// resumes). INS writes ES:rDI (no segment override); OUTS reads seg:rSI (DS or the override).
// INS checks the destination is writable before it reads the port, so a page fault does not
// consume device data that the restarted instruction would then lose.
#include <cstdint>

#include "devices/port_bus.h"
#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/system/mode.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

constexpr uint64_t kRepChunk = 4096;
constexpr uint64_t kIoMapBaseOffset = 0x66;  // in the 32-bit and 64-bit TSS (SDM vol. 3, 8.7)

// Linear address of TSS byte `offset` (32-bit linear addresses outside IA-32e mode).
uint64_t tss_linear(const CpuState& cpu, uint64_t offset) {
  const uint64_t a = cpu.tr.base + offset;
  return long_mode_active(cpu) ? a : static_cast<uint32_t>(a);
}

void check_io_bitmap(CpuState& cpu, uint16_t port, unsigned size) {
  const SegmentCache& tr = cpu.tr;
  const unsigned type = tr.attrib & 0xF;  // 9: available, 11: busy 32/64-bit TSS
  if ((type != 9 && type != 11) || !(tr.attrib & seg_attr::P)) raise_fault(cpu, kGP, 0);
  if (tr.limit < kIoMapBaseOffset + 1) raise_fault(cpu, kGP, 0);
  const uint64_t map = read_implicit(cpu, tss_linear(cpu, kIoMapBaseOffset), 2);
  const uint64_t at = map + (port >> 3);
  if (at + 1 > tr.limit) raise_fault(cpu, kGP, 0);
  const uint64_t bits = read_implicit(cpu, tss_linear(cpu, at), 2);
  const uint64_t wanted = ((uint64_t{1} << size) - 1) << (port & 7);
  if (bits & wanted) raise_fault(cpu, kGP, 0);
}

inline void check_io_permission(CpuState& cpu, uint16_t port, unsigned size) {
  if (!protected_mode(cpu)) return;
  const unsigned iopl = static_cast<unsigned>((cpu.rflags & rf::IOPL) >> 12);
  if (cpu.cpl <= iopl && !v86_mode(cpu)) return;
  check_io_bitmap(cpu, port, size);
}

uint16_t port_of(const CpuState& cpu, const Insn& i, const Operand& o) {
  return o.kind == OpKind::Imm ? static_cast<uint16_t>(i.imm) : static_cast<uint16_t>(cpu.gpr[RDX]);
}

template <typename T>
struct In {
  // IN rAX, imm8 / IN rAX, DX: the port is the source operand.
  static void run(CpuState& cpu, const Insn& i) {
    const uint16_t port = port_of(cpu, i, i.src);
    check_io_permission(cpu, port, sizeof(T));
    write_gpr<T>(cpu, RAX, static_cast<T>(cpu.ports->read(port, sizeof(T))));
    next_rip(cpu, i);
  }
};

template <typename T>
struct Out {
  // OUT imm8, rAX / OUT DX, rAX: the port is the destination operand.
  static void run(CpuState& cpu, const Insn& i) {
    const uint16_t port = port_of(cpu, i, i.dst);
    check_io_permission(cpu, port, sizeof(T));
    cpu.ports->write(port, sizeof(T), read_gpr<T>(cpu, RAX));
    next_rip(cpu, i);
  }
};

template <typename A>
inline void advance(CpuState& cpu, uint8_t reg, int64_t delta) {
  write_gpr<A>(cpu, reg, static_cast<A>(read_gpr<A>(cpu, reg) + static_cast<uint64_t>(delta)));
}

// One INS element: [ES:rDI] <- port DX.
template <typename T, typename A>
struct InsElement {
  static void element(CpuState& cpu, const Insn&, int64_t delta) {
    const uint16_t port = static_cast<uint16_t>(cpu.gpr[RDX]);
    check_io_permission(cpu, port, sizeof(T));
    const MemRef dst =
        prepare_rmw_seg<T>(cpu, seg_linear(cpu, ES, read_gpr<A>(cpu, RDI), sizeof(T), true), ES);
    store<T>(cpu, dst, static_cast<T>(cpu.ports->read(port, sizeof(T))));
    advance<A>(cpu, RDI, delta);
  }
};

// One OUTS element: port DX <- [seg:rSI].
template <typename T, typename A>
struct OutsElement {
  static void element(CpuState& cpu, const Insn& i, int64_t delta) {
    const uint16_t port = static_cast<uint16_t>(cpu.gpr[RDX]);
    check_io_permission(cpu, port, sizeof(T));
    const T v = read_mem_seg<T>(
        cpu, seg_linear(cpu, i.seg, read_gpr<A>(cpu, RSI), sizeof(T), false), i.seg);
    cpu.ports->write(port, sizeof(T), v);
    advance<A>(cpu, RSI, delta);
  }
};

template <typename T, typename A, template <typename, typename> class E, bool Rep>
struct StringIo {
  static void run(CpuState& cpu, const Insn& i) {
    const int64_t delta =
        (cpu.rflags & rf::DF) ? -static_cast<int64_t>(sizeof(T)) : static_cast<int64_t>(sizeof(T));
    if constexpr (!Rep) {
      E<T, A>::element(cpu, i, delta);
    } else {
      A count = read_gpr<A>(cpu, RCX);
      // The I/O permission (IOPL, the TSS bitmap) is checked even when the count is zero and no
      // element runs: the SDM's REP loop would skip it, but the host faults with #GP(0) (as does
      // QEMU), so the check belongs to the instruction, not to each element.
      if (count == 0) check_io_permission(cpu, static_cast<uint16_t>(cpu.gpr[RDX]), sizeof(T));
      uint64_t budget = kRepChunk;
      while (count != 0) {
        E<T, A>::element(cpu, i, delta);
        count = static_cast<A>(count - 1);
        write_gpr<A>(cpu, RCX, count);
        if (count != 0 && (--budget == 0 || cpu.exit_request != 0)) return;  // resume later
      }
    }
    next_rip(cpu, i);
  }
};

template <typename T, template <typename, typename> class E>
Handler select_string_io(const Insn& i) {
  // F2 and F3 both mean REP for INS/OUTS.
  const bool rep = i.prefixes & (pfx::kRep | pfx::kRepne);
  switch (i.addr_size) {
    case 2:
      return rep ? &StringIo<T, uint16_t, E, true>::run : &StringIo<T, uint16_t, E, false>::run;
    case 4:
      return rep ? &StringIo<T, uint32_t, E, true>::run : &StringIo<T, uint32_t, E, false>::run;
    case 8:
      return rep ? &StringIo<T, uint64_t, E, true>::run : &StringIo<T, uint64_t, E, false>::run;
    default:
      return nullptr;
  }
}

template <template <typename, typename> class E>
Handler bind_string_io(const Insn& i) {
  switch (i.opsize) {
    case 1:
      return select_string_io<uint8_t, E>(i);
    case 2:
      return select_string_io<uint16_t, E>(i);
    case 4:
      return select_string_io<uint32_t, E>(i);
    default:
      return nullptr;
  }
}

template <template <typename> class F>
Handler select_io(const Insn& i) {
  switch (i.opsize) {
    case 1:
      return &F<uint8_t>::run;
    case 2:
      return &F<uint16_t>::run;
    case 4:
    case 8:
      return &F<uint32_t>::run;  // no 64-bit I/O: REX.W is ignored (SDM vol. 2, IN)
    default:
      return nullptr;
  }
}

}  // namespace

void register_io(BinderTable& t) {
  bind(t, Op::IN, &select_io<In>);
  bind(t, Op::OUT, &select_io<Out>);
  bind(t, Op::INS, &bind_string_io<InsElement>);
  bind(t, Op::OUTS, &bind_string_io<OutsElement>);
}

}  // namespace umbra
