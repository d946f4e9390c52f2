// Segment registers with real selectors (SDM vol. 2, MOV, POP, LFS/LGS/LSS, RDFSBASE/WRFSBASE;
// vol. 3, 5.10): MOV Sreg, r/m and MOV r/m, Sreg for every segment register, POP FS/GS,
// LFS/LGS/LSS, the FS/GS base instructions, and FS/GS-relative accesses that show which base a
// load left behind. Umbra runs them against a GDT that mirrors the host's (umbra_system.h).
#include <string>

#include "forms_sys.h"

namespace difftest {

namespace {

const char* const kSegName[] = {"es", "cs", "ss", "ds", "fs", "gs"};

uint16_t pick_selector_for(Gen& g, unsigned seg) {
  // A null FS/GS load on a host that keeps the base would leave bases that differ from
  // Umbra's (which clears it, as Intel and AMD Zen 3 on do).
  const bool null_ok = !(seg == kFS || seg == kGS) || g.host.null_fs_gs_clears_base;
  return pick_selector(g, null_ok);
}

// 8E /r MOV Sreg, r/m16. The operand size only picks the register name: 16 bits are read.
bool gen_mov_sreg_load(Gen& g, unsigned seg, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x8e);
  const RmOp rm = g.rm(ib, 2, Role::kSrc, MemReq{}, 35);
  set_rm(ib, static_cast<uint8_t>(seg), rm);
  set_selector_operand(g, ib, rm, pick_selector_for(g, seg));
  return g.emit(ib);
}

// 8C /r MOV r/m, Sreg: a register destination takes the selector zero-extended to the operand
// size (16-bit: bits 16..63 kept); memory is always 16 bits.
bool gen_mov_sreg_store(Gen& g, unsigned seg, unsigned size, bool mem) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x8c);
  RmOp rm;
  if (mem) {
    MemReq req;
    req.write = true;
    if (!g.mem(ib, 2, req, &rm)) return false;
  } else {
    rm.reg = g.reg(ib, size, Role::kDst);
  }
  set_rm(ib, static_cast<uint8_t>(seg), rm);
  return g.emit(ib);
}

// Sreg numbers 6 and 7 do not exist, and MOV CS, r/m is not allowed: #UD.
bool gen_mov_sreg_invalid(Gen& g, bool load, unsigned reg_field) {
  Ib ib = g.begin(4);
  ib.s.set_opcode(load ? 0x8e : 0x8c);
  ib.expect_ud = true;
  RmOp rm;
  rm.reg = g.reg(ib, 4, Role::kSrc);
  set_rm(ib, static_cast<uint8_t>(reg_field), rm);
  return g.emit(ib);
}

// 0F A1 POP FS, 0F A9 POP GS (64-bit or, with 66, 16-bit slot): the selector is planted on
// the stack; a fault leaves RSP as it was.
bool gen_pop_seg(Gen& g, unsigned seg, unsigned size) {
  if (!g.flow().rsp_ptr) return false;
  Ib ib = g.begin(size == 2 ? 2 : 4);
  if (size == 8 && g.rng.chance(1, 8)) ib.s.rex_w = true;  // redundant
  ib.s.set_opcode(0x0f, seg == kFS ? 0xa1 : 0xa9);
  uint64_t rsp;
  if (g.known(RSP_, &rsp)) {
    const uint64_t v = (g.rng.next() & ~uint64_t{0xffff}) | pick_selector_for(g, seg);
    g.plant(rsp, v, size);
  }
  ib.fx.rsp_delta = static_cast<int64_t>(size);
  return g.emit(ib);
}

// 0F B2 LSS, 0F B4 LFS, 0F B5 LGS r, m16:16 / m16:32: the offset first, the selector after it.
// (With REX.W Intel reads m16:64 and AMD m16:32: not generated.)
bool gen_load_far_pointer(Gen& g, unsigned seg, unsigned size) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, seg == kSS ? 0xb2 : seg == kFS ? 0xb4 : 0xb5);
  RmOp m;
  if (!g.mem(ib, size + 2, MemReq{}, &m)) return false;
  const uint8_t r = g.reg(ib, size, Role::kDst);
  set_rm(ib, r, m);
  if (ib.mem_addr_known) {
    g.plant(ib.mem_addr, g.value(size), size);
    g.plant(ib.mem_addr + size, pick_selector_for(g, seg), 2);
  }
  return g.emit(ib);
}

// F3 0F AE /0../3 RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE r32/r64 (#UD unless CR4.FSGSBASE;
// WR*BASE with a non-canonical value: #GP(0); the 32-bit forms zero-extend).
bool gen_fsgsbase(Gen& g, unsigned which, unsigned size) {
  Ib ib = g.begin(4);
  ib.s.rex_w = size == 8;
  ib.s.add_prefix(0xf3);
  ib.s.set_opcode(0x0f, 0xae);
  const bool write = which >= 2;
  RmOp rm;
  rm.reg = g.reg(ib, size, write ? Role::kSrc : Role::kDst);
  set_rm(ib, static_cast<uint8_t>(which), rm);
  if (write) {
    uint64_t v;
    switch (g.rng.below(6)) {
      case 0:
        v = 0;
        break;
      case 1:
        v = static_cast<uint64_t>(g.rng.range(0, 16)) * 0x1000;
        break;
      case 2:
        v = user_base(g.rng);
        break;
      case 3:
        // Canonical in the kernel half: accepted; an access through it faults with the P bit
        // the host kernel's mappings decide (not compared, see compare.cpp).
        v = g.rng.next() | 0xffff800000000000ull;
        break;
      default:
        v = g.rng.next() ^ (uint64_t{1} << g.rng.range(47, 62));  // mostly non-canonical
        break;
    }
    uint64_t actual;
    fix_operand(g, rm.reg, 8, v, &actual);
  }
  ib.no_seg_prefix = true;
  return g.emit(ib);
}

// MOV r, fs:m / MOV fs:m, r (and GS): which base the segment register holds now. The operand is
// aimed at the data pages as if the base were 0 (the initial base is 0 half of the time, and a
// load of a Linux user selector sets it to 0); any other base sends it elsewhere, usually to an
// unmapped page, which faults the same way on both sides.
bool gen_seg_relative_mov(Gen& g, unsigned seg, unsigned size, bool store) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(store ? 0x89 : 0x8b);
  ib.s.add_prefix(seg == kFS ? 0x64 : 0x65);
  ib.no_seg_prefix = true;
  MemReq req;
  req.write = store;
  RmOp m;
  if (!g.mem(ib, size, req, &m)) return false;
  const uint8_t r = g.reg(ib, size, store ? Role::kSrc : Role::kDst);
  set_rm(ib, r, m);
  return g.emit(ib);
}

std::string sreg_size_name(unsigned size) {
  return size == 2 ? "r/m16" : size == 4 ? "r/m32" : "r/m64";
}

}  // namespace

void add_sys_segment_forms(std::vector<Form>& out) {
  // MOV Sreg, r/m. FS and GS need the harness to restore its own FS/GS afterwards (WRFSBASE).
  for (unsigned seg : {kES, kSS, kDS, kFS, kGS}) {
    const uint32_t f = seg == kFS || seg == kGS ? feat::kFsgsbase : 0;
    for (unsigned size : {2u, 4u, 8u})
      out.push_back({"sys: mov " + std::string(kSegName[seg]) + ", " + sreg_size_name(size), "mov",
                     f, [=](Gen& g) { return gen_mov_sreg_load(g, seg, size); }});
  }
  for (unsigned seg = 0; seg < kNumSegs; ++seg) {
    const std::string name = kSegName[seg];
    out.push_back({"sys: mov r16, " + name, "mov", 0,
                   [=](Gen& g) { return gen_mov_sreg_store(g, seg, 2, false); }});
    out.push_back({"sys: mov r32, " + name, "mov", 0,
                   [=](Gen& g) { return gen_mov_sreg_store(g, seg, 4, false); }});
    out.push_back({"sys: mov r64, " + name, "mov", 0,
                   [=](Gen& g) { return gen_mov_sreg_store(g, seg, 8, false); }});
    out.push_back({"sys: mov m16, " + name, "mov", 0,
                   [=](Gen& g) { return gen_mov_sreg_store(g, seg, 2, true); }});
  }
  const struct {
    const char* name;
    bool load;
    unsigned field;
  } kInvalid[] = {{"sys: invalid: 8e /1 (mov cs, r/m)", true, 1},
                  {"sys: invalid: 8e /6", true, 6},
                  {"sys: invalid: 8e /7", true, 7},
                  {"sys: invalid: 8c /6", false, 6},
                  {"sys: invalid: 8c /7", false, 7}};
  for (const auto& inv : kInvalid) {
    const bool load = inv.load;
    const unsigned field = inv.field;
    out.push_back(
        {inv.name, "(bad)", 0, [=](Gen& g) { return gen_mov_sreg_invalid(g, load, field); }});
    out.back().weight = 1;
  }

  for (unsigned seg : {kFS, kGS}) {
    const std::string name = kSegName[seg];
    out.push_back({"sys: pop " + name, "pop", feat::kFsgsbase,
                   [=](Gen& g) { return gen_pop_seg(g, seg, 8); }});
    out.push_back({"sys: pop " + name + " (16-bit)", "pop", feat::kFsgsbase,
                   [=](Gen& g) { return gen_pop_seg(g, seg, 2); }});
  }
  for (unsigned seg : {kSS, kFS, kGS}) {
    const std::string mn = std::string("l") + kSegName[seg];
    const uint32_t f = seg == kSS ? 0 : feat::kFsgsbase;
    out.push_back({"sys: " + mn + " r16, m16:16", mn, f,
                   [=](Gen& g) { return gen_load_far_pointer(g, seg, 2); }});
    out.push_back({"sys: " + mn + " r32, m16:32", mn, f,
                   [=](Gen& g) { return gen_load_far_pointer(g, seg, 4); }});
  }

  // The base instructions need no harness support when the host has them off: both sides #UD.
  static const char* const kBaseNames[] = {"rdfsbase", "rdgsbase", "wrfsbase", "wrgsbase"};
  for (unsigned which = 0; which < 4; ++which) {
    for (unsigned size : {4u, 8u})
      out.push_back({std::string("sys: ") + kBaseNames[which] + (size == 4 ? " r32" : " r64"),
                     kBaseNames[which], 0, [=](Gen& g) { return gen_fsgsbase(g, which, size); }});
  }
  for (unsigned seg : {kFS, kGS}) {
    const std::string name = kSegName[seg];
    out.push_back({"sys: mov r64, " + name + ":m64", "mov", feat::kFsgsbase,
                   [=](Gen& g) { return gen_seg_relative_mov(g, seg, 8, false); }});
    out.push_back({"sys: mov " + name + ":m32, r32", "mov", feat::kFsgsbase,
                   [=](Gen& g) { return gen_seg_relative_mov(g, seg, 4, true); }});
  }
}

}  // namespace difftest
