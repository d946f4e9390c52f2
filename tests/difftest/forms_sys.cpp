#include "forms_sys.h"

namespace difftest {

uint16_t pick_selector(Gen& g, bool allow_null) {
  Rng& rng = g.rng;
  const uint16_t rpl = static_cast<uint16_t>(rng.below(4));
  static constexpr uint16_t kKernel[] = {0x08, 0x10, 0x18};
  static constexpr uint16_t kSystem[] = {0x40, 0x48, 0x50, 0x58};
  static constexpr uint16_t kUnused[] = {0x38, 0x60, 0x68, 0x70};
  switch (rng.below(20)) {
    case 0:
    case 1:
    case 2:
    case 3:
      return 0x28 | rpl;  // user data (0x2b)
    case 4:
    case 5:
      return 0x30 | rpl;  // user code, 64-bit (0x33)
    case 6:
    case 7:
      return 0x20 | rpl;  // user code, 32-bit (0x23)
    case 8:
    case 9:
      return 0x78 | rpl;  // per-CPU segment (0x7b): read-only data, limit = CPU number
    case 10:
    case 11:
      return allow_null ? rpl : 0x2b;
    case 12:
    case 13:
      return rng.pick(kKernel) | rpl;
    case 14:
      return rng.pick(kSystem) | rpl;
    case 15:
      return rng.pick(kUnused) | rpl;
    case 16:
    case 17:
      return static_cast<uint16_t>((0x80 + rng.below(0x10000 - 0x80)) & ~4u);  // past the GDT
    case 18:
      // LDT entries: with --ldt the first eight hold user descriptors (native_child.cpp),
      // the next ones are past its limit; without, there is no LDT.
      return static_cast<uint16_t>(rng.below(10) * 8 | 4 | rpl);
    default:
      return static_cast<uint16_t>(rng.below(0x10000) | 4);  // TI = 1, anywhere
  }
}

void set_selector_operand(Gen& g, const Ib& ib, const RmOp& rm, uint16_t sel) {
  if (rm.is_mem) {
    if (ib.mem_addr_known) g.plant(ib.mem_addr, sel, 2);
    return;
  }
  uint64_t actual;
  fix_operand(g, rm.reg, 2, sel, &actual);
}

Ib raw_insn(Gen& g, std::initializer_list<uint8_t> bytes) {
  Ib ib = g.begin(4);
  ib.s.force_rex = false;
  ib.no_seg_prefix = true;
  auto it = bytes.begin();
  ib.s.set_opcode(*it++);
  unsigned n = 0;
  uint64_t imm = 0;
  for (; it != bytes.end(); ++it, ++n) imm |= uint64_t{*it} << (8 * n);
  ib.s.set_imm(imm, n);
  return ib;
}

}  // namespace difftest
