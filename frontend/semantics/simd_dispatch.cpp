#include "frontend/semantics/simd_dispatch.h"

#include <array>

namespace umbra {

struct SimdTable {
  // [vex][map 1..3][column][opcode]
  std::array<Binder, 2 * 4 * 4 * 256> binders{};
  static size_t index(bool vex, unsigned map, unsigned col, unsigned opcode) {
    return ((static_cast<size_t>(vex) * 4 + (map & 3)) * 4 + (col & 3)) * 256 + (opcode & 0xff);
  }
};

void register_simd(SimdTable& t, SimdMap map, uint8_t opcode, SimdColumn col, bool vex, Binder b) {
  t.binders[SimdTable::index(vex, map, col, opcode)] = b;
}

namespace {

const SimdTable& simd_table() {
  static const SimdTable table = [] {
    SimdTable t;
    register_simd_move(t);
    register_simd_int(t);
    register_simd_fp(t);
    register_simd_string(t);
    return t;
  }();
  return table;
}

}  // namespace

void register_simd(BinderTable& t) { bind(t, Op::ESCAPE_SSE, &bind_simd); }

Handler bind_simd(const Insn& insn) {
  const unsigned map = (insn.opcode >> 8) & 0xf;
  if (map < kMap0F || map > kMap0F3A) return nullptr;  // 3DNow!, EVEX, XOP: not implemented
  const bool vex = insn.prefixes & pfx::kVex;
  Binder b = simd_table().binders[SimdTable::index(vex, map, insn.ext, insn.opcode & 0xff)];
  return b ? b(insn) : nullptr;
}

}  // namespace umbra
