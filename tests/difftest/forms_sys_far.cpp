// Far transfers at CPL 3 (SDM vol. 2 JMP, CALL, RET, IRET; vol. 3, 5.8): JMP/CALL far through
// a memory pointer, RETF and IRET with a planted frame, to the same privilege level only (the
// CPL cannot change from user code without a gate, and Linux has no call gates). Targets are
// Linux's 64-bit user code (0x33), its 32-bit user code (0x23: compatibility mode), the code
// segments of the --ldt LDT (32-bit readable with base 0x2000, execute-only, 16-bit), and every
// selector of pick_selector() (data, system, kernel, null, past the limit: #GP).
//
// The transfer is the last instruction and its target lies in the HLT sled (or, rarely, where
// the fetch faults), so the code that runs after a mode switch is a HLT whatever the mode. The
// native side reports the new CS and (E)IP in its signal. Forms with a 64-bit offset (m16:64
// pointers) are not generated: Intel reads them with REX.W, AMD ignores REX.W.
#include "forms_sys.h"

namespace difftest {

namespace {

// LDT code segments of native_child.cpp's install_ldt (used with --ldt; without they fault).
constexpr uint16_t kLdtExecOnlyCode = 2 * 8 + 4, kLdtCodeBase2000 = 3 * 8 + 4,
                   kLdtCode16 = 6 * 8 + 4;

struct FarTarget {
  uint16_t sel;
  uint64_t offset;
};

// `ret`: a return (RETF, IRET), whose CS RPL must not be below the CPL, so mostly RPL 3.
// `offset_bytes`: how much of the offset the pointer or frame holds.
FarTarget pick_far_target(Gen& g, bool ret, unsigned offset_bytes) {
  Rng& rng = g.rng;
  const uint16_t rpl = ret && !rng.chance(1, 8) ? 3 : static_cast<uint16_t>(rng.below(4));
  uint16_t sel;
  uint64_t base = 0;
  switch (rng.below(16)) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
      sel = 0x30 | rpl;
      break;
    case 6:
    case 7:
    case 8:
      sel = 0x20 | rpl;
      break;
    case 9:
      sel = kLdtCodeBase2000 | rpl;
      base = 0x2000;
      break;
    case 10:
      sel = kLdtExecOnlyCode | rpl;
      break;
    case 11:
      sel = kLdtCode16 | rpl;
      break;
    default:
      sel = pick_selector(g, true);
      break;
  }
  uint64_t linear;
  switch (rng.below(20)) {
    case 0:
      linear = kCodeBase + kCodeSize + rng.below(64);  // unmapped: #PF on the fetch
      break;
    case 1:
      linear = kDataBase + rng.below(kDataSize);  // not executable: #PF
      break;
    case 2:
      linear = rng.next();  // anywhere (non-canonical for 64-bit targets: #GP(0))
      break;
    default:
      linear = kCodeBase + 0x100 + rng.below(kCodeSize - 0x100);  // the HLT sled
      break;
  }
  return FarTarget{sel, (linear - base) & size_mask(offset_bytes)};
}

// The sled must start before the targets: the sequence begins at the page start (not one of
// the single instructions placed at the end of the page) and is short.
bool sled_reachable(Gen& g) {
  return g.is_last() && g.next_addr() - kCodeBase < 0x100 - 16;
}

// FF /5 JMP far m16:16/m16:32, FF /3 CALL far (pushes CS and the return offset, operand size).
bool gen_far_jmp_call(Gen& g, bool call, unsigned size) {
  if (!sled_reachable(g)) return false;
  if (call && !g.flow().rsp_ptr) return false;
  Ib ib = g.begin(size);
  ib.s.set_opcode(0xff);
  RmOp m;
  if (!g.mem(ib, size + 2, MemReq{}, &m)) return false;
  set_rm(ib, call ? 3 : 5, m);
  const FarTarget t = pick_far_target(g, false, size);
  if (ib.mem_addr_known) {
    g.plant(ib.mem_addr, t.offset, size);
    g.plant(ib.mem_addr + size, t.sel, 2);
  }
  if (call) {
    ib.fx.rsp_delta = -2 * static_cast<int64_t>(size);
    ib.fx.mem_write = true;
  }
  ib.fx.ends_flow = true;
  return g.emit(ib);
}

// CB RETF / CA iw RETF imm16 (32-bit default in 64-bit mode; 66: 16-bit; REX.W: 64-bit): pops
// the offset and CS, then releases imm16 bytes.
bool gen_retf(Gen& g, unsigned size, bool imm) {
  if (!sled_reachable(g)) return false;
  uint64_t rsp;
  if (!g.known(RSP_, &rsp)) return false;
  Ib ib = g.begin(size == 8 ? 4 : size);
  ib.s.rex_w = size == 8;
  ib.s.set_opcode(imm ? 0xca : 0xcb);
  ib.frame_reads = static_cast<uint8_t>(2 * size);
  // The release stays inside the data pages: the AMD host reads the stack at the released RSP
  // (a #PF there comes before the CS checks), which the SDM does not describe.
  uint64_t release = 0;
  if (imm) {
    const uint64_t choices[] = {0, 8, 16, g.rng.below(0x100), g.rng.below(0x10000)};
    release = g.rng.pick(choices);
    const uint64_t room = kDataEnd - 16 - (rsp + 2 * size);
    if (rsp + 2 * size + 16 > kDataEnd)
      release = 0;
    else if (release > room)
      release = room & ~uint64_t{7};
    ib.s.set_imm(release, 2);
  }
  const FarTarget t = pick_far_target(g, true, size);
  g.plant(rsp, t.offset, size);
  g.plant(rsp + size, (g.rng.next() << 16 | t.sel) & size_mask(size), size);
  ib.fx.rsp_delta = static_cast<int64_t>(2 * size + release);
  ib.fx.ends_flow = true;
  return g.emit(ib);
}

// CF IRET (66: IRETW, none: IRETD, REX.W: IRETQ). In 64-bit mode it always pops RIP, CS,
// RFLAGS, RSP and SS. At CPL 3 the popped RFLAGS cannot change IF, IOPL, VIF, VIP or VM; TF
// is never set (a single-step trap would follow), NT is random (the current NT decides).
bool gen_iret(Gen& g, unsigned size) {
  if (!sled_reachable(g)) return false;
  uint64_t rsp;
  if (!g.known(RSP_, &rsp)) return false;
  Ib ib = g.begin(size == 8 ? 4 : size);
  ib.s.rex_w = size == 8;
  ib.s.set_opcode(0xcf);
  ib.frame_reads = static_cast<uint8_t>(5 * size);
  const FarTarget t = pick_far_target(g, true, size);
  uint64_t flags = g.rng.next() & ~fl::TF;
  uint64_t new_rsp = kDataBase + g.rng.below(kDataSize);
  if (g.rng.chance(1, 8)) new_rsp = g.rng.next();
  static constexpr uint16_t kStack[] = {0x2b, 0x2b, 0x2b, 0x07, 0x3f, 0x28, 0x00, 0x03};
  uint16_t ss = g.rng.pick(kStack);
  if (g.rng.chance(1, 8)) ss = pick_selector(g, true);
  const uint64_t m = size_mask(size);
  const uint64_t hi = g.rng.next() << 16;
  g.plant(rsp, t.offset, size);
  g.plant(rsp + size, (hi | t.sel) & m, size);
  g.plant(rsp + 2 * size, flags & m, size);
  g.plant(rsp + 3 * size, new_rsp & m, size);
  g.plant(rsp + 4 * size, (hi | ss) & m, size);
  ib.fx.flags_def = fl::STATUS;
  ib.fx.rsp_lost = true;
  ib.fx.ends_flow = true;
  return g.emit(ib);
}

}  // namespace

void add_sys_far_forms(std::vector<Form>& out) {
  for (unsigned size : {2u, 4u}) {
    const std::string ptr = size == 2 ? "m16:16" : "m16:32";
    out.push_back({"sys: jmp far " + ptr, "ljmp", 0,
                   [=](Gen& g) { return gen_far_jmp_call(g, false, size); }});
    out.push_back({"sys: call far " + ptr, "lcall", 0,
                   [=](Gen& g) { return gen_far_jmp_call(g, true, size); }});
  }
  for (unsigned size : {2u, 4u, 8u}) {
    const std::string sfx = size == 2 ? "w" : size == 4 ? "" : "q";
    out.push_back({"sys: retf" + sfx, "ret", 0, [=](Gen& g) { return gen_retf(g, size, false); }});
    out.push_back(
        {"sys: retf" + sfx + " imm16", "ret", 0, [=](Gen& g) { return gen_retf(g, size, true); }});
    out.push_back({"sys: iret" + std::string(size == 2   ? "w"
                                             : size == 4 ? "d"
                                                         : "q"),
                   "iret", 0, [=](Gen& g) { return gen_iret(g, size); }});
  }
}

}  // namespace difftest
