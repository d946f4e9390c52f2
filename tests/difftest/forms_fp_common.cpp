// Helpers shared by the FPU/SIMD form files (forms_fp.h).
#include <cstring>

#include "forms_fp.h"

namespace difftest {

uint8_t fp_xmm(Gen& g, Lane lane) {
  const uint8_t r = static_cast<uint8_t>(g.rng.below(16));
  uint8_t* fx = g.fp_state();
  if (g.rng.chance(3, 4)) fill_lanes(g.rng, lane, fx + fx::kXmm + 16 * r, 16);
  return r;
}

uint8_t fp_mm(Gen& g) {
  const uint8_t r = static_cast<uint8_t>(g.rng.below(8));
  uint8_t* fx = g.fp_state();
  // MMn is the significand of physical register Rn, which the FXSAVE image holds in the slot
  // of ST((n - TOP) mod 8) (SDM vol. 1, 9.5.1).
  const unsigned top = (fx[fx::kFsw + 1] >> 3) & 7;
  if (g.rng.chance(3, 4)) fill_lanes(g.rng, Lane::kInt, fx + fx::kSt + 16 * ((r - top) & 7), 8);
  return r;
}

void fp_maybe_lock(Gen& g, Ib& ib) {
  if (!g.rng.chance(1, 64)) return;
  ib.s.add_prefix(0xf0);
  ib.expect_ud = true;
}

void fp_span(Ib& ib, unsigned size) {
  if (!ib.mem_addr_known) return;
  ib.fp_span_lo = ib.mem_addr;
  ib.fp_span_hi = ib.mem_addr + size;
}

bool fp_plant(Gen& g, uint64_t addr, const uint8_t* bytes, unsigned n, bool critical) {
  // Only the part inside the data pages can be planted (an operand placed where it faults
  // lies partly or wholly outside).
  for (unsigned i = 0; i < n; i += 8) {
    uint64_t lo = addr + i, hi = addr + i + (n - i < 8 ? n - i : 8);
    if (lo < kDataBase) lo = kDataBase;
    if (hi > kDataEnd) hi = kDataEnd;
    if (lo >= hi) continue;
    uint64_t v = 0;
    std::memcpy(&v, bytes + (lo - addr), hi - lo);
    if (!g.plant(lo, v, static_cast<unsigned>(hi - lo), critical)) return false;
  }
  return true;
}

bool fp_mem(Gen& g, Ib& ib, unsigned size, bool write, unsigned align, Lane lane, RmOp* rm,
            bool plant) {
  MemReq req;
  req.write = write;
  req.allow_fault = !(g.disabled & kVarFpOperandFault);
  // Aligned forms get a misaligned operand (#GP(0)) now and then: the address is then random.
  req.align = align && g.rng.chance(15, 16) ? align : 0;
  if (!g.mem(ib, size, req, rm)) return false;
  if (ib.mem_addr_known && !write && plant) {
    uint8_t buf[512];
    const unsigned n = size < sizeof buf ? size : sizeof buf;
    fill_lanes(g.rng, lane, buf, n);
    fp_plant(g, ib.mem_addr, buf, n);
  }
  return true;
}

}  // namespace difftest
