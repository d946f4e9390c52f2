// Generator core: registers, memory operands, branch targets and the bookkeeping that keeps a
// sequence's memory accesses inside the data pages and its undefined flags unconsumed.
#include "gen.h"

#include <algorithm>
#include <cstring>

#include "fp_values.h"

namespace difftest {

namespace {

constexpr uint64_t kNearData = 0x100000;  // "pointer" = within this distance of the data area

bool near_data(uint64_t v) {
  return v + kNearData >= kDataBase && v < kDataEnd + kNearData;
}
bool fits8(int64_t v) {
  return v >= -128 && v <= 127;
}
bool fits32(int64_t v) {
  return v >= INT32_MIN && v <= INT32_MAX;
}
bool is_canonical(uint64_t a) {
  return static_cast<uint64_t>(static_cast<int64_t>(a << 16) >> 16) == a;
}

uint64_t bit(unsigned r) {
  return uint64_t{1} << r;
}

}  // namespace

uint64_t user_base(Rng& rng) {
  return 0x100000000000ull + rng.below(0x400000000000ull);
}

uint64_t cond_flags(unsigned cc) {
  switch (cc >> 1) {
    case 0:
      return fl::OF;
    case 1:
      return fl::CF;
    case 2:
      return fl::ZF;
    case 3:
      return fl::CF | fl::ZF;
    case 4:
      return fl::SF;
    case 5:
      return fl::PF;
    case 6:
      return fl::SF | fl::OF;
    default:
      return fl::ZF | fl::SF | fl::OF;
  }
}

void Flow::merge(const Flow& o) {
  if (!o.valid) return;
  if (!valid) {
    *this = o;
    return;
  }
  written |= o.written;
  written_ptr &= o.written_ptr;
  // A register written on one path only: on the other it keeps its (pointer or not) initial
  // value, so it is a pointer afterwards only if both say so; callers check fixed_ptr too.
  poison |= o.poison;
  mem_written |= o.mem_written;
  if (!o.rsp_exact || !rsp_exact || o.rsp_delta != rsp_delta) rsp_exact = false;
  rsp_ptr = rsp_ptr && o.rsp_ptr;
}

namespace {

void apply(Flow& f, const Effects& fx) {
  f.poison = (f.poison & ~fx.flags_def) | fx.flags_undef;
  f.written |= fx.regs_written;
  f.written_ptr = static_cast<uint16_t>((f.written_ptr & ~fx.regs_written) | fx.regs_written_ptr);
  f.mem_written |= fx.mem_write;
  if (fx.rsp_lost || (fx.regs_written & bit(RSP_))) {
    f.rsp_exact = false;
    f.rsp_ptr = false;
  } else if (fx.rsp_inexact) {
    f.rsp_exact = false;
  } else {
    f.rsp_delta += fx.rsp_delta;
  }
}

}  // namespace

Gen::Gen(Rng& r, unsigned planned_len, unsigned code_start)
    : rng(r), planned_(planned_len), start_(code_start) {
  st_.flow.valid = true;
  // The stack lives in the upper half of the data area; mostly 8-aligned, sometimes not, and
  // rarely so close to the bottom that a push faults.
  uint64_t rsp = kDataBase + 0x3000 + rng.below(0x4000);
  if (!rng.chance(1, 16)) rsp &= ~uint64_t{7};
  if (rng.chance(1, 64)) rsp = kDataBase + rng.below(24);
  st_.init[RSP_] = rsp;
  st_.fixed |= bit(RSP_);
  st_.fixed_ptr |= bit(RSP_);
}

Gen::Snapshot Gen::save() const {
  return Snapshot{st_};
}
void Gen::restore(const Snapshot& s) {
  st_ = s.st;
}

uint64_t Gen::value(unsigned size) {
  const unsigned bits = 8 * size;
  uint64_t v;
  const unsigned r = static_cast<unsigned>(rng.below(20));
  if (r < 6) {
    v = rng.next();
  } else {
    const uint64_t smax = size_mask(size) >> 1;
    const uint64_t smin = smax + 1;
    switch (rng.below(14)) {
      case 0:
        v = 0;
        break;
      case 1:
        v = 1;
        break;
      case 2:
        v = 2;
        break;
      case 3:
        v = ~uint64_t{0};
        break;
      case 4:
        v = ~uint64_t{1};
        break;
      case 5:
        v = smax;
        break;
      case 6:
        v = smin;
        break;
      case 7:
        v = smax - 1;
        break;
      case 8:
        v = smin + 1;
        break;
      case 9:
        v = 0x5555555555555555ull;
        break;
      case 10:
        v = 0xaaaaaaaaaaaaaaaaull;
        break;
      case 11:
        v = rng.below(256);
        break;
      case 12:
        v = uint64_t{1} << rng.below(bits);
        break;
      default:
        v = (uint64_t{1} << rng.below(bits)) - 1;
        break;
    }
    v &= size_mask(size);
    if (size < 8) {
      switch (rng.below(4)) {
        case 0:
        case 1:
          v |= rng.next() & ~size_mask(size);
          break;
        case 2:
          break;
        default:
          if (v & (uint64_t{1} << (bits - 1))) v |= ~size_mask(size);
          break;
      }
    }
  }
  return v;
}

// ---- instruction building ----

Ib Gen::begin(unsigned size, bool byte_regs) {
  Ib ib;
  if (size == 2) ib.s.add_prefix(0x66);
  if (size == 8) {
    ib.s.rex_w = true;
    // A redundant 66 next to REX.W: REX.W wins (SDM vol. 2, 2.2.1.2).
    if (rng.chance(1, 32)) ib.s.add_prefix(0x66);
  }
  if (byte_regs) {
    if (size == 8 || rng.coin()) {
      ib.byte_rex = true;
      ib.s.force_rex = true;
    } else {
      ib.rex_regs = false;
    }
  } else if (rng.chance(1, 32)) {
    ib.s.force_rex = true;  // a REX prefix with no bits set changes nothing here
  }
  return ib;
}

uint8_t Gen::reg(Ib& ib, unsigned size, Role role) {
  static constexpr uint8_t kLegacyBytes[] = {0, 1, 2, 3, kAH, kAH + 1, kAH + 2, kAH + 3};
  for (;;) {
    uint8_t r;
    if (size == 1 && !ib.byte_rex)
      r = rng.pick(kLegacyBytes);
    else
      r = static_cast<uint8_t>(rng.below(ib.rex_regs ? 16 : 8));
    const uint8_t g = gpr_of(r);
    if (role == Role::kDst) {
      // RSP as a destination leaves it anywhere; only the last instruction may do that (the
      // HLT that follows needs no stack, the signal handler runs on its own stack).
      if (g == RSP_ && !(is_last() && rng.chance(1, 4))) continue;
      ib.fx.regs_written |= static_cast<uint16_t>(bit(g));
    }
    return r;
  }
}

RmOp Gen::rm(Ib& ib, unsigned size, Role role, const MemReq& req, unsigned mem_pct) {
  RmOp op;
  if (rng.chance(mem_pct, 100)) {
    MemReq r = req;
    if (role == Role::kDst) r.write = true;
    if (mem(ib, size, r, &op)) return op;
  }
  op.is_mem = false;
  op.reg = reg(ib, size, role);
  return op;
}

bool Gen::is_free(uint8_t g) const {
  return !(st_.fixed & bit(g)) && !(st_.flow.written & bit(g)) && !(st_.deferred_regs & bit(g));
}

bool Gen::known(uint8_t g, uint64_t* v) const {
  if (g == RSP_) {
    if (!st_.flow.rsp_exact) return false;
    *v = st_.init[RSP_] + static_cast<uint64_t>(st_.flow.rsp_delta);
    return true;
  }
  if ((st_.fixed & bit(g)) && !(st_.flow.written & bit(g)) && !(st_.deferred_regs & bit(g))) {
    *v = st_.init[g];
    return true;
  }
  return false;
}

bool Gen::fix(uint8_t g, uint64_t v, bool is_ptr) {
  uint64_t cur;
  if (known(g, &cur) && g != RSP_) return cur == v;
  if (!is_free(g)) return false;
  st_.fixed |= static_cast<uint16_t>(bit(g));
  if (is_ptr || near_data(v)) st_.fixed_ptr |= static_cast<uint16_t>(bit(g));
  st_.init[g] = v;
  return true;
}

bool Gen::fix_or_known(uint8_t g, uint64_t want, uint64_t* actual) {
  if (known(g, actual)) return true;
  if (!fix(g, want)) return false;
  *actual = want;
  return true;
}

bool Gen::is_ptr_now(uint8_t g) const {
  if (g == RSP_) return st_.flow.rsp_ptr;
  if (st_.deferred_regs & bit(g)) return false;
  if (st_.flow.written & bit(g)) return st_.flow.written_ptr & bit(g);
  return (st_.fixed & bit(g)) && (st_.fixed_ptr & bit(g)) && near_data(st_.init[g]);
}

// ---- memory operands ----

uint64_t Gen::pick_data_addr(unsigned size, const MemReq& req) {
  const uint64_t lo = kDataBase + static_cast<uint64_t>(req.lo_slack);
  const uint64_t hi = kDataEnd - size - static_cast<uint64_t>(req.hi_slack);  // inclusive
  uint64_t a;
  if (hot_pct && rng.chance(hot_pct, 100)) {
    // The hot window (tier comparison): accesses of a long stream overlap.
    a = hot_lo + rng.below(kHotBytes);
  } else if (rng.chance(1, 8)) {
    // Near an inner page boundary: page-crossing accesses between two mapped pages.
    const uint64_t page = kDataBase + 0x1000 * static_cast<uint64_t>(rng.range(1, 7));
    a = page - rng.below(size + 1);
  } else {
    a = lo + rng.below(hi - lo + 1);
  }
  if (req.align) {
    a &= ~uint64_t{req.align - 1};
  } else if (rng.coin() && (size & (size - 1)) == 0) {
    a &= ~uint64_t{size - 1};
  }
  while (a < lo) a += req.align ? req.align : size;
  while (a > hi) a -= req.align ? req.align : size;
  return a;
}

bool Gen::pick_fault_addr(unsigned size, const MemReq& req, uint64_t* addr) {
  const uint64_t part = size > 1 ? static_cast<uint64_t>(rng.range(1, size - 1)) : 1;
  uint64_t a;
  switch (rng.below(5)) {
    case 0:
      a = kDataBase - part;
      break;  // starts below the data area
    case 1:
      a = kDataEnd - size + (size > 1 ? part : 1);
      break;  // runs past its end
    case 2:
      a = kDataBase - 0x1000 * static_cast<uint64_t>(rng.range(1, 16)) + rng.below(0xff0);
      break;
    case 3:
      a = kDataEnd + rng.below(0x4000);
      break;
    default:
      a = kCodeBase + rng.below(kCodeSize - size);  // readable, not writable
      break;
  }
  if (req.align) a &= ~uint64_t{req.align - 1};
  *addr = a;
  return true;
}

bool Gen::base_usable(const Ib& ib, uint8_t r, bool addr32) const {
  if (!ib.rex_regs && r >= 8) return false;
  if (st_.deferred_regs & bit(r)) return false;
  if (r == RSP_) return st_.flow.rsp_exact;
  if (st_.flow.written & bit(r)) return false;
  if (st_.fixed & bit(r)) return addr32 || near_data(st_.init[r]);
  return true;
}

bool Gen::index_usable(const Ib& ib, uint8_t r) const {
  if (r == RSP_) return false;
  if (!ib.rex_regs && r >= 8) return false;
  if (st_.deferred_regs & bit(r)) return false;
  return !(st_.flow.written & bit(r));
}

bool Gen::mem(Ib& ib, unsigned size, const MemReq& req, RmOp* out) {
  const bool fault = req.allow_fault && rng.chance(fault_pct, 100);
  const bool noncanon = fault && rng.chance(1, 4);
  const bool ss_ok = req.stack_base_ok && !(disabled & kVarNoncanonicalStackAccess) && rng.coin();
  uint64_t target;
  if (fault && !noncanon)
    pick_fault_addr(size, req, &target);
  else
    target = pick_data_addr(size, req);

  for (int attempt = 0; attempt < 12; ++attempt) {
    MemOp m;
    m.addr32 = !noncanon && rng.chance(1, 10);
    const uint64_t amask = m.addr32 ? 0xffffffffull : ~uint64_t{0};
    unsigned shape = static_cast<unsigned>(rng.below(noncanon ? 4 : 8));
    // 0: [base]  1: [base+disp8]  2: [base+disp32]  3: [base+index*s+disp]  4: [index*s+disp32]
    // 5: [disp32] (SIB, no base, no index)  6, 7: [rip+disp32]
    if (shape >= 6) {
      m.base = kRip;
      m.rip_target = target;
      *out = RmOp{true, 0, m};
      ib.is_mem = true;
      ib.mem_addr = target;
      ib.mem_addr_known = true;
      ib.fx.mem_write |= req.write;
      return true;
    }
    if (shape == 5) {
      m.disp = static_cast<int32_t>(target);
      m.disp_bytes = 4;
      *out = RmOp{true, 0, m};
      ib.is_mem = true;
      ib.mem_addr = target;
      ib.mem_addr_known = true;
      ib.fx.mem_write |= req.write;
      return true;
    }

    // Index register and its value.
    uint8_t idx = kNone;
    uint64_t idx_val = 0;
    bool idx_fix = false;
    if (shape >= 3) {
      idx = static_cast<uint8_t>(rng.below(ib.rex_regs ? 16 : 8));
      if (!index_usable(ib, idx)) continue;
      m.index = idx;
      m.scale = static_cast<uint8_t>(rng.below(4));
      if (!known(idx, &idx_val)) {
        idx_fix = true;
        idx_val = m.addr32 ? (rng.next() & ~0xffffull) | rng.below(0x100)
                           : static_cast<uint64_t>(rng.range(-64, 64));
      }
    }
    const uint64_t scaled = idx_val << m.scale;

    if (shape == 4) {
      // No base: mod=00 with SIB base=101, disp32.
      const uint64_t want = (target - scaled) & amask;
      const int64_t d =
          m.addr32 ? static_cast<int32_t>(static_cast<uint32_t>(want)) : static_cast<int64_t>(want);
      if (!fits32(d)) continue;
      m.disp = static_cast<int32_t>(d);
      m.disp_bytes = 4;
      if (idx_fix && !fix(idx, idx_val)) continue;
      *out = RmOp{true, 0, m};
      ib.is_mem = true;
      ib.mem_addr = target;
      ib.mem_addr_known = true;
      ib.fx.mem_write |= req.write;
      return true;
    }

    // Base register (+ displacement).
    const uint8_t base = static_cast<uint8_t>(rng.below(ib.rex_regs ? 16 : 8));
    if (!base_usable(ib, base, m.addr32)) continue;
    if (!req.stack_base_ok && (base == RSP_ || base == RBP_)) continue;
    // RSP/RBP-based accesses use SS: a non-canonical one raises #SS(0) rather than #GP(0)
    // (SDM vol. 3, 6.15 "Interrupt 12"). Half of the non-canonical cases go that way (RBP).
    if (noncanon && base == RSP_) continue;
    if (noncanon && base == RBP_ && !ss_ok) continue;
    m.base = base;
    m.force_sib = idx == kNone && rng.chance(1, 8);
    uint64_t base_val;
    const bool base_known = known(base, &base_val);
    if (base == idx) {
      // [r + r*s + disp]: the register's value v satisfies v * (1 + 2^s) + disp = target.
      if (base_known || !idx_fix) continue;
      const uint64_t mul = 1 + (uint64_t{1} << m.scale);
      const uint64_t v = (target & amask) / mul;
      m.disp = static_cast<int32_t>((target & amask) - v * mul);
      m.disp_bytes = 1;
      uint64_t val = v;
      if (m.addr32) val |= rng.next() & ~0xffffffffull;
      if (!fix(base, val)) continue;
    } else if (base_known) {
      const uint64_t want = (target - base_val - scaled) & amask;
      const int64_t d =
          m.addr32 ? static_cast<int32_t>(static_cast<uint32_t>(want)) : static_cast<int64_t>(want);
      if (!fits32(d)) continue;
      m.disp = static_cast<int32_t>(d);
      m.disp_bytes = d == 0 && rng.coin() ? 0 : fits8(d) ? 1 : 4;
      if (idx_fix && !fix(idx, idx_val)) continue;
    } else {
      int64_t d = 0;
      if (shape == 1 || (shape == 3 && rng.coin())) {
        d = rng.range(-128, 127);
        m.disp_bytes = 1;
      } else if (shape == 2 || shape == 3) {
        d = rng.chance(1, 8) ? static_cast<int32_t>(rng.next()) : rng.range(-0x8000, 0x8000);
        m.disp_bytes = 4;
      }
      m.disp = static_cast<int32_t>(d);
      uint64_t val = target - static_cast<uint64_t>(d) - scaled;
      if (m.addr32) val = (val & 0xffffffffull) | (rng.next() & ~0xffffffffull);
      if (noncanon) {
        val ^= uint64_t{1} << rng.range(48, 62);
        const uint64_t ea = val + static_cast<uint64_t>(d) + scaled;
        if (is_canonical(ea)) continue;
      }
      if (idx_fix && !fix(idx, idx_val)) continue;
      if (!fix(base, val)) continue;
    }
    *out = RmOp{true, 0, m};
    ib.is_mem = true;
    ib.mem_addr = target;
    ib.mem_addr_known = !noncanon;
    ib.noncanonical = noncanon;
    ib.fx.mem_write |= req.write;
    return true;
  }
  return false;
}

RmOp Gen::lea_mem(Ib& ib) {
  // LEA only computes the address: any registers and displacement are fine; register values
  // stay whatever they are.
  MemOp m;
  m.addr32 = rng.chance(1, 5);
  const unsigned shape = static_cast<unsigned>(rng.below(7));
  auto pick = [&] { return static_cast<uint8_t>(rng.below(ib.rex_regs ? 16 : 8)); };
  auto disp = [&](unsigned bytes) {
    m.disp_bytes = static_cast<uint8_t>(bytes);
    m.disp =
        bytes == 1 ? static_cast<int32_t>(rng.range(-128, 127)) : static_cast<int32_t>(value(4));
  };
  switch (shape) {
    case 0:
      m.base = pick();
      break;
    case 1:
      m.base = pick();
      disp(1);
      break;
    case 2:
      m.base = pick();
      disp(4);
      break;
    case 3:
      m.base = pick();
      do m.index = pick();
      while (m.index == RSP_);
      m.scale = static_cast<uint8_t>(rng.below(4));
      disp(rng.coin() ? 1 : rng.coin() ? 4 : 0);
      break;
    case 4:
      do m.index = pick();
      while (m.index == RSP_);
      m.scale = static_cast<uint8_t>(rng.below(4));
      disp(4);
      break;
    case 5:
      disp(4);
      break;
    default:
      m.base = kRip;
      m.rip_target = kCodeBase + rng.below(0x100000);
      break;
  }
  return RmOp{true, 0, m};
}

// ---- memory and register plants ----

bool Gen::plant(uint64_t addr, uint64_t value, unsigned size, bool critical) {
  if (st_.flow.mem_written) return false;
  if (addr < kDataBase || addr + size > kDataEnd) return false;
  for (const Plant& p : st_.plants)
    if ((p.critical || critical) && addr < p.addr + p.size && p.addr < addr + size) return false;
  st_.plants.push_back(Plant{addr, value, static_cast<uint8_t>(size), critical, false, {}});
  return true;
}

bool Gen::plant_target(uint64_t addr, Target t) {
  if (!plant(addr, 0, 8, true)) return false;
  st_.plants.back().is_target = true;
  st_.plants.back().target = t;
  return true;
}

bool Gen::fix_target(uint8_t g, Target t) {
  if (g == RSP_ || !is_free(g)) return false;
  st_.fixed |= static_cast<uint16_t>(bit(g));
  st_.deferred_regs |= static_cast<uint16_t>(bit(g));
  st_.deferred.push_back(Deferred{Deferred::kReg, 0, g, 0, 0, t});
  return true;
}

// ---- flags and branches ----

bool Gen::pick_cond(unsigned* cc) {
  const unsigned start = static_cast<unsigned>(rng.below(16));
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned c = (start + i) & 15;
    if (!(cond_flags(c) & st_.flow.poison)) {
      *cc = c;
      return true;
    }
  }
  return false;
}

Target Gen::pick_target(bool allow_fault) {
  Target t;
  const unsigned r = static_cast<unsigned>(rng.below(100));
  if (allow_fault && r < 3) {
    t.kind = rng.coin() ? TargetKind::kPastCodePage : TargetKind::kDataPage;
  } else if (r < 55 && st_.pos + 1 < planned_) {
    t.kind = TargetKind::kBoundary;
    t.boundary = static_cast<uint8_t>(rng.range(st_.pos + 1, planned_));
  } else {
    t.kind = TargetKind::kSled;
  }
  return t;
}

void Gen::set_rel(Ib& ib, unsigned bytes, Target t) {
  ib.s.set_imm(0, bytes);
  ib.rel.used = true;
  ib.rel.bytes = static_cast<uint8_t>(bytes);
  // rel8 cannot leave the code page from the start of the sequence.
  if (bytes == 1 && t.kind != TargetKind::kBoundary) t.kind = TargetKind::kSled;
  ib.rel.target = t;
}

void Gen::maybe_lock(Ib& ib) {
  if (ib.is_mem ? rng.chance(1, 4) : rng.chance(1, 64)) {
    ib.s.add_prefix(0xf0);
    ib.expect_ud |= !ib.is_mem;
  }
}

bool Gen::emit(Ib& ib) {
  if (ib.fx.flags_read & st_.flow.poison) return false;
  if ((ib.fx.regs_undefined || ib.has_undef_bits) && !is_last()) return false;
  if (ib.expect_ud && ud_last_only && !is_last()) return false;
  InsnSpec s = ib.s;
  // Null segment overrides (CS/DS/ES/SS) are ignored in 64-bit mode (SDM vol. 1, 3.3.7.1).
  const bool seg_ok =
      !ib.no_seg_prefix && !(ib.noncanonical && (disabled & kVarNullSegOnNoncanonical));
  if (seg_ok && s.num_prefixes < 5 && rng.chance(1, 32)) {
    static constexpr uint8_t kNullSeg[] = {0x2e, 0x3e, 0x26, 0x36};
    s.add_prefix(rng.pick(kNullSeg));
  }
  for (unsigned i = s.num_prefixes; i > 1; --i)  // prefix order carries no meaning
    std::swap(s.prefixes[i - 1], s.prefixes[rng.below(i)]);
  uint8_t buf[32];
  const size_t len = encode(s, kCodeBase + start_ + st_.code_len, buf);
  if (len > 15 || st_.code_len + len > kMaxSeqBytes) return false;
  // An invalid encoding cut by the end of the code page: whether #UD or the #PF of fetching
  // the rest comes first is the implementation's choice (AMD raises #UD for 0F B9 without its
  // ModRM byte), so such cases are not generated.
  if (ib.expect_ud && start_ + st_.code_len + len > kCodeSize) return false;
  // A rel8 branch (or one into the sled) emitted earlier whose target lies at or past the end
  // of this instruction must still reach it: refuse the instruction otherwise.
  const uint64_t new_end = start_ + st_.code_len + len;
  for (const Deferred& d : st_.deferred) {
    if (d.kind != Deferred::kRel || d.bytes != 1) continue;
    if (d.target.kind == TargetKind::kBoundary && d.target.boundary <= st_.pos) continue;
    if (new_end - d.insn_end > 127) return false;
  }
  std::memcpy(st_.code + st_.code_len, buf, len);
  st_.insns[st_.pos] = InsnRecord{static_cast<uint16_t>(start_ + st_.code_len),
                                  static_cast<uint8_t>(len),
                                  ib.expect_ud,
                                  form_index,
                                  ib.unordered_reads,
                                  ib.unordered_addr32,
                                  ib.frame_reads};
  const unsigned end = static_cast<unsigned>(st_.code_len + len);
  apply(st_.flow, ib.fx);
  auto arrive = [&](const Target& t) {
    if (t.kind == TargetKind::kBoundary)
      st_.pending[std::min<unsigned>(t.boundary, planned_)].merge(st_.flow);
    else
      st_.end.merge(st_.flow);
  };
  if (ib.rel.used) {
    st_.deferred.push_back(Deferred{Deferred::kRel, ib.rel.bytes, 0,
                                    static_cast<uint16_t>(start_ + end - ib.rel.bytes),
                                    static_cast<uint16_t>(start_ + end), ib.rel.target});
    arrive(ib.rel.target);
  }
  if (ib.has_target) arrive(ib.target);
  st_.masked_regs |= ib.fx.regs_undefined;
  for (unsigned r = 0; r < 16; ++r) st_.masked_bits[r] |= ib.undef_bits[r];
  st_.fault_mask_lo[st_.pos] = ib.fault_mask_lo;
  st_.fault_mask_hi[st_.pos] = ib.fault_mask_hi;
  st_.fp_image[st_.pos] = ib.fp_image;
  st_.fp_span_lo[st_.pos] = ib.fp_span_lo;
  st_.fp_span_hi[st_.pos] = ib.fp_span_hi;
  st_.code_len = end;
  ++st_.pos;
  return true;
}

void Gen::enter_boundary() {
  st_.flow.merge(st_.pending[st_.pos]);
  st_.poison_at[st_.pos] = st_.flow.poison;
}

uint64_t Gen::resolve(const Target& t, uint64_t from_end, unsigned rel_bytes) {
  const uint64_t seq_end = kCodeBase + start_ + st_.code_len;
  switch (t.kind) {
    case TargetKind::kBoundary:
      return t.boundary < st_.pos ? kCodeBase + st_.insns[t.boundary].offset : seq_end;
    case TargetKind::kPastCodePage:
      if (rel_bytes != 1) return kCodeBase + kCodeSize + rng.below(64);
      break;
    case TargetKind::kDataPage:
      if (rel_bytes != 1) return kDataBase + rng.below(kDataSize);
      break;
    case TargetKind::kSled:
      break;
  }
  uint64_t hi = kCodeBase + kCodeSize - 1;
  if (rel_bytes == 1) hi = std::min(hi, from_end + 127);
  if (hi < seq_end) return seq_end;  // no sled: the sequence ends at the end of the page
  return seq_end + rng.below(hi - seq_end + 1);
}

uint8_t* Gen::fp_state() {
  if (!st_.fp) {
    st_.fp = true;
    random_fp_state(rng, st_.fx);
  }
  return st_.fx;
}

void Gen::finish(CaseInput* in, CaseMeta* meta) {
  const unsigned n = st_.pos;
  for (unsigned k = n; k <= planned_ && k <= kMaxInsns; ++k) st_.flow.merge(st_.pending[k]);
  st_.poison_at[n] = st_.flow.poison;
  st_.end.merge(st_.flow);

  // Code page: the sequence, then HLT to the end of the page.
  std::memset(in->code, kHltByte, kCodeSize);
  // Bytes past the end of the page lie on the unmapped page: they do not exist.
  std::memcpy(in->code + start_, st_.code, std::min<size_t>(st_.code_len, kCodeSize - start_));

  // Registers not constrained by any instruction: edge values and random ones.
  for (unsigned r = 0; r < 16; ++r)
    if (!(st_.fixed & bit(r))) st_.init[r] = value(static_cast<unsigned>(1u << rng.below(4)));

  for (const Deferred& d : st_.deferred) {
    if (d.kind == Deferred::kRel) {
      const uint64_t from = kCodeBase + d.insn_end;
      const uint64_t to = resolve(d.target, from, d.bytes);
      const uint64_t rel = to - from;
      for (unsigned i = 0; i < d.bytes && d.field_off + i < kCodeSize; ++i)
        in->code[d.field_off + i] = static_cast<uint8_t>(rel >> (8 * i));
    } else {
      st_.init[d.reg] = resolve(d.target, 0, 8);
    }
  }

  rng.fill(in->data, kDataSize);
  for (const Plant& p : st_.plants) {
    const uint64_t v = p.is_target ? resolve(p.target, 0, 8) : p.value;
    for (unsigned i = 0; i < p.size; ++i)
      in->data[p.addr - kDataBase + i] = static_cast<uint8_t>(v >> (8 * i));
  }

  std::memcpy(in->regs.gpr, st_.init, sizeof st_.init);
  in->regs.rip = kCodeBase + start_;
  uint64_t flags = fl::FIXED1 | fl::IF | (rng.next() & fl::STATUS);
  if (rng.coin()) flags |= fl::DF;
  if (rng.chance(1, 8)) flags |= fl::ID;
  in->regs.rflags = flags;

  meta->n = static_cast<uint8_t>(n);
  meta->fp = st_.fp;
  if (st_.fp)
    std::memcpy(in->fx, st_.fx, kFxSize);
  else
    initial_fp_state(in->fx);
  for (unsigned i = 0; i < n; ++i) {
    meta->insns[i] = st_.insns[i];
    meta->boundary_addr[i] = kCodeBase + st_.insns[i].offset;
    meta->fault_mask_lo[i] = st_.fault_mask_lo[i];
    meta->fault_mask_hi[i] = st_.fault_mask_hi[i];
    meta->fp_image[i] = st_.fp_image[i];
    meta->fp_span_lo[i] = st_.fp_span_lo[i];
    meta->fp_span_hi[i] = st_.fp_span_hi[i];
  }
  meta->boundary_addr[n] = kCodeBase + start_ + st_.code_len;
  for (unsigned i = 0; i <= n; ++i) meta->poison_at[i] = st_.poison_at[i];
  meta->poison_end = st_.end.poison;
  meta->masked_regs_end = st_.masked_regs;
  for (unsigned r = 0; r < 16; ++r) meta->masked_bits_end[r] = st_.masked_bits[r];

  // FS and GS bases to start with (written natively with WRFSBASE/WRGSBASE, so canonical). Drawn
  // last so that the rest of the case does not depend on them. Zero half of the time: then
  // FS/GS-relative operands reach the data pages, as after loading a Linux user selector.
  for (uint64_t* b : {&in->regs.fs_base, &in->regs.gs_base}) {
    switch (rng.below(8)) {
      case 0:
      case 1:
      case 2:
      case 3:
        *b = 0;
        break;
      case 4:
      case 5:
        *b =
            static_cast<uint64_t>(rng.range(0, 16)) * 0x1000 + (rng.coin() ? 0 : rng.below(0x1000));
        break;
      case 6:
      case 7:
        *b = user_base(rng);
        break;
    }
  }
}

}  // namespace difftest
