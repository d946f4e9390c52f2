// Stack: PUSH/POP (register, r/m, immediates, FS/GS), PUSHF/POPF, ENTER, LEAVE (SDM vol. 2),
// in 64-bit and (with 66) 16-bit operand size.
#include "forms.h"

namespace difftest {

namespace {

std::string sz(unsigned size) {
  return size_suffix(size);
}

// Operand size of a stack operation: 64-bit by default, 16-bit with 66 (32 is not encodable).
Ib stack_begin(Gen& g, unsigned size) {
  Ib ib = g.begin(size == 2 ? 2 : 4);
  if (size == 8 && g.rng.chance(1, 8)) ib.s.rex_w = true;  // REX.W is redundant here
  return ib;
}

bool push_fx(Gen& g, Ib& ib, unsigned size) {
  if (!g.flow().rsp_ptr) return false;
  ib.fx.rsp_delta = -static_cast<int64_t>(size);
  ib.fx.mem_write = true;
  return true;
}
bool pop_fx(Gen& g, Ib& ib, unsigned size) {
  if (!g.flow().rsp_ptr) return false;
  ib.fx.rsp_delta = static_cast<int64_t>(size);
  return true;
}

// 50+r / 58+r
bool gen_push_pop_reg(Gen& g, unsigned size, bool pop) {
  Ib ib = stack_begin(g, size);
  ib.s.set_opcode(pop ? 0x58 : 0x50);
  if (!(pop ? pop_fx(g, ib, size) : push_fx(g, ib, size))) return false;
  ib.s.opcode_reg = g.reg(ib, size, pop ? Role::kDst : Role::kSrc);
  return g.emit(ib);
}

// 6A ib (sign-extended), 68 iw/id
bool gen_push_imm(Gen& g, unsigned size, bool imm8) {
  Ib ib = stack_begin(g, size);
  ib.s.set_opcode(imm8 ? 0x6a : 0x68);
  if (!push_fx(g, ib, size)) return false;
  const unsigned bytes = imm8 ? 1 : size == 2 ? 2 : 4;
  ib.s.set_imm(g.imm(bytes), bytes);
  return g.emit(ib);
}

// FF /6 PUSH r/m, 8F /0 POP r/m. (POP to a memory operand based on RSP computes the address
// with the incremented RSP; the operand then may straddle the data area's end and fault.)
bool gen_push_pop_rm(Gen& g, unsigned size, bool pop) {
  Ib ib = stack_begin(g, size);
  ib.s.set_opcode(pop ? 0x8f : 0xff);
  if (!(pop ? pop_fx(g, ib, size) : push_fx(g, ib, size))) return false;
  const RmOp rm = g.rm(ib, size, pop ? Role::kDst : Role::kSrc, MemReq{});
  set_rm(ib, pop ? 0 : 6, rm);
  if (pop && rm.is_mem) ib.fx.mem_write = true;
  return g.emit(ib);
}

// 0F A0 PUSH FS, 0F A8 PUSH GS.
bool gen_push_seg(Gen& g, unsigned size, bool gs) {
  Ib ib = stack_begin(g, size);
  ib.s.set_opcode(0x0f, gs ? 0xa8 : 0xa0);
  if (!push_fx(g, ib, size)) return false;
  return g.emit(ib);
}

// 9C PUSHF: reads every flag.
bool gen_pushf(Gen& g, unsigned size) {
  Ib ib = stack_begin(g, size);
  ib.s.set_opcode(0x9c);
  if (!push_fx(g, ib, size)) return false;
  ib.fx.flags_read = fl::STATUS;
  return g.emit(ib);
}

// 9D POPF: the image popped is planted. At CPL 3 with IOPL 0, IF and IOPL are not changed
// (SDM vol. 2, POPF). TF is never set (a single-step trap would follow); AC only in the last
// instruction (with the host's CR0.AM set, AC=1 makes later misaligned accesses fault).
bool gen_popf(Gen& g, unsigned size) {
  if (!g.flow().rsp_exact) return false;
  Ib ib = stack_begin(g, size);
  ib.s.set_opcode(0x9d);
  if (!pop_fx(g, ib, size)) return false;
  uint64_t v = g.rng.next();
  v &= ~fl::TF;
  if (!g.is_last() || g.rng.coin()) v &= ~fl::AC;
  const uint64_t rsp = g.init_rsp() + static_cast<uint64_t>(g.flow().rsp_delta);
  if (!g.plant(rsp, v, size, true)) return false;
  ib.fx.flags_def = fl::STATUS;
  return g.emit(ib);
}

// C8 iw ib ENTER size, level, 64-bit or (66) 16-bit frame slots. Level (mod 32) > 1 copies
// level-1 frame pointers from [RBP-slot..], so RBP must point into the data area then. The
// stack address size stays 64 (SDM vol. 2, ENTER): a 16-bit ENTER replaces only BP.
bool gen_enter(Gen& g, unsigned slot) {
  Ib ib = stack_begin(g, slot);
  ib.s.set_opcode(0xc8);
  if (!g.flow().rsp_ptr) return false;
  const uint64_t sizes[] = {0, slot, 2 * slot, 3 * slot, g.rng.below(0x200), g.rng.below(0x10000)};
  const uint64_t frame = g.rng.pick(sizes);
  const uint8_t levels[] = {0,
                            1,
                            2,
                            3,
                            4,
                            static_cast<uint8_t>(g.rng.below(32)),
                            static_cast<uint8_t>(32 + g.rng.below(8)),
                            static_cast<uint8_t>(g.rng.below(256))};
  const uint8_t level = g.rng.pick(levels);
  const unsigned nest = level & 31;
  if (nest > 1) {
    uint64_t v;
    if (g.is_free(RBP_)) {
      // Often a frame right above the stack pointer (as after an earlier ENTER or a
      // "mov rbp, rsp"): the frame-pointer copies then read what the pushes just wrote.
      uint64_t rbp = kDataBase + 8 * 32 + (g.rng.below(kDataSize - 8 * 40) & ~uint64_t{7});
      if (g.flow().rsp_exact && g.rng.coin()) {
        const uint64_t rsp = g.init_rsp() + static_cast<uint64_t>(g.flow().rsp_delta);
        const uint64_t near = rsp + static_cast<uint64_t>(g.rng.range(-4, 40) * slot);
        if (near >= kDataBase + 8 * 32 && near < kDataEnd) rbp = near;
      }
      g.fix(RBP_, rbp);
    } else if (g.known(RBP_, &v)) {
      if (v < kDataBase + 8 * 32 || v > kDataEnd) return false;
    } else if (!g.is_ptr_now(RBP_)) {
      return false;
    }
  }
  ib.s.set_imm(frame | (uint64_t{level} << 16), 3);
  // The host (AMD) writes ENTER's pushes and then faults on the new stack top when the frame
  // does not fit; the SDM promises nothing about memory written by a faulting instruction, and
  // Umbra checks before writing. Mask the pushes' bytes for the faulting case.
  if (g.flow().rsp_exact) {
    const uint64_t rsp = g.init_rsp() + static_cast<uint64_t>(g.flow().rsp_delta);
    ib.fault_mask_lo = rsp - slot * (nest + 1);
    ib.fault_mask_hi = rsp;
  } else {
    ib.fault_mask_lo = kDataBase;
    ib.fault_mask_hi = kDataEnd;
  }
  ib.fx.rsp_delta = -static_cast<int64_t>(slot + (nest ? slot * nest : 0) + frame);
  ib.fx.mem_write = true;
  ib.fx.regs_written = 1u << RBP_;
  // The new RBP is the frame (a data pointer); after a 16-bit ENTER only BP is.
  if (slot == 8) ib.fx.regs_written_ptr = 1u << RBP_;
  return g.emit(ib);
}

// C9 LEAVE: RSP <- RBP, then pop RBP (66: pop BP). RBP must point into the data area.
bool gen_leave(Gen& g, unsigned slot) {
  Ib ib = stack_begin(g, slot);
  ib.s.set_opcode(0xc9);
  uint64_t v;
  if (g.is_free(RBP_)) {
    const int64_t off = g.rng.range(-0x100, 0x100) * 8;
    uint64_t rbp = g.init_rsp() + static_cast<uint64_t>(off);
    if (rbp < kDataBase || rbp + 8 > kDataEnd) rbp = kDataBase + 0x4000;
    g.fix(RBP_, rbp);
  } else if (g.known(RBP_, &v)) {
    if (v < kDataBase - 0x1000 || v > kDataEnd + 0x1000) return false;
  } else if (!g.is_ptr_now(RBP_)) {
    return false;
  }
  ib.fx.rsp_inexact = true;
  ib.fx.regs_written = 1u << RBP_;
  return g.emit(ib);
}

}  // namespace

void add_stack_forms(std::vector<Form>& out) {
  for (unsigned s : {2u, 8u}) {
    out.push_back(
        {"push r" + sz(s), "push", 0, [=](Gen& g) { return gen_push_pop_reg(g, s, false); }});
    out.push_back(
        {"pop r" + sz(s), "pop", 0, [=](Gen& g) { return gen_push_pop_reg(g, s, true); }});
    out.push_back(
        {"push r/m" + sz(s), "push", 0, [=](Gen& g) { return gen_push_pop_rm(g, s, false); }});
    out.push_back(
        {"pop r/m" + sz(s), "pop", 0, [=](Gen& g) { return gen_push_pop_rm(g, s, true); }});
    out.push_back({"push" + std::string(s == 2 ? "w" : "") + " imm8", "push", 0,
                   [=](Gen& g) { return gen_push_imm(g, s, true); }});
    out.push_back({"push" + std::string(s == 2 ? "w imm16" : " imm32"), "push", 0,
                   [=](Gen& g) { return gen_push_imm(g, s, false); }});
    out.push_back({"push fs" + std::string(s == 2 ? " (16-bit)" : ""), "push", 0,
                   [=](Gen& g) { return gen_push_seg(g, s, false); }});
    out.push_back({"push gs" + std::string(s == 2 ? " (16-bit)" : ""), "push", 0,
                   [=](Gen& g) { return gen_push_seg(g, s, true); }});
    out.push_back(
        {s == 2 ? "pushfw" : "pushfq", "pushf", 0, [=](Gen& g) { return gen_pushf(g, s); }});
    out.push_back({s == 2 ? "popfw" : "popfq", "popf", 0, [=](Gen& g) { return gen_popf(g, s); }});
  }
  out.push_back({"enter imm16, imm8", "enter", 0, [](Gen& g) { return gen_enter(g, 8); }});
  out.push_back({"enter imm16, imm8 (16-bit)", "enter", 0, [](Gen& g) { return gen_enter(g, 2); }});
  out.push_back({"leave", "leave", 0, [](Gen& g) { return gen_leave(g, 8); }});
  out.push_back({"leave (16-bit)", "leave", 0, [](Gen& g) { return gen_leave(g, 2); }});
}

}  // namespace difftest
