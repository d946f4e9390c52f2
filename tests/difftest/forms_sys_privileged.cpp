// System instructions executed at CPL 3 (SDM vol. 2 instruction pages; vol. 3, 2.8 and 19.5):
//   - privileged: #GP(0) above CPL 0 (MOV CR/DR, LGDT, LIDT, LLDT, LTR, LMSW, INVLPG, INVPCID,
//     WBINVD, INVD, RDMSR, WRMSR, CLTS, SWAPGS, SYSRET, SYSEXIT), or #UD where the encoding is
//     invalid (CR1, CR5-7, CR9-15, DR8-15; CLAC and STAC above CPL 0);
//   - IOPL-sensitive: CLI, STI, IN, OUT, INS, OUTS: #GP(0) at IOPL 0 (Linux's TSS I/O bitmap
//     denies every port too);
//   - UMIP-covered (SMSW, SGDT, SIDT, SLDT, STR): #GP(0) at CPL 3 with CR4.UMIP, generated only
//     when the host raises it instead of emulating the instruction (host_profile.h);
//   - RDPMC: #GP(0) with CR4.PCE clear (only when the host says so);
//   - RDTSC, RDTSCP, CPUID: the values differ by design; EAX/EBX/ECX/EDX's low halves are
//     masked (the upper halves must still be zero), so they come last in a sequence. In the
//     native child seccomp strict mode sets CR4.TSD: RDTSC/RDTSCP are then #GP(0) on both sides.
// SYSCALL and SYSENTER are never generated: SYSCALL would make a real system call, and
// SYSENTER in 64-bit mode is #UD on AMD but enters the kernel on Intel (Umbra models Intel).
#include "forms_sys.h"

namespace difftest {

namespace {

bool emit_raw(Gen& g, std::initializer_list<uint8_t> bytes, bool ud = false) {
  Ib ib = raw_insn(g, bytes);
  ib.expect_ud = ud;
  return g.emit(ib);
}

// MOV r64, CRn / DRn (0F 20 / 0F 21) and MOV CRn / DRn, r64 (0F 22 / 0F 23); the register
// operand is always in ModRM.rm (mod is ignored; 11b generated), REX.R selects n >= 8.
bool gen_mov_cr_dr(Gen& g, bool dr, bool to, bool valid) {
  unsigned n;
  if (dr) {
    n = valid ? static_cast<unsigned>(g.rng.below(8)) : 8 + static_cast<unsigned>(g.rng.below(8));
  } else {
    static constexpr unsigned kValid[] = {0, 2, 3, 4, 8};
    static constexpr unsigned kInvalid[] = {1, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15};
    n = valid ? g.rng.pick(kValid) : g.rng.pick(kInvalid);
  }
  Ib ib = g.begin(4);
  ib.s.set_opcode(0x0f, static_cast<uint8_t>((dr ? 0x21 : 0x20) | (to ? 2 : 0)));
  ib.expect_ud = !valid;
  ib.no_seg_prefix = true;
  RmOp rm;
  rm.reg = g.reg(ib, 8, to ? Role::kSrc : Role::kDst);
  set_rm(ib, static_cast<uint8_t>(n), rm);
  return g.emit(ib);
}

// Group 6/7 forms with a ModRM operand: 0F 00 /digit or 0F 01 /digit. `mem`: memory only (LGDT,
// LIDT, SGDT, SIDT, INVLPG), else register or memory (16-bit operand; with `size`, a register
// destination of that size).
bool gen_grp67(Gen& g, uint8_t second, unsigned digit, bool mem_only, unsigned mem_size,
               unsigned size, bool write) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(0x0f, second);
  MemReq req;
  req.write = write;
  RmOp rm;
  if (mem_only) {
    if (!g.mem(ib, mem_size, req, &rm)) return false;
  } else {
    rm = g.rm(ib, size, write ? Role::kDst : Role::kSrc, req, 35);
  }
  set_rm(ib, static_cast<uint8_t>(digit), rm);
  if (!write && !rm.is_mem) set_selector_operand(g, ib, rm, pick_selector(g, true));
  return g.emit(ib);
}

// IN/OUT with an immediate port (E4-E7) or DX (EC-EF); 8, 16 (66) or 32 bits.
bool gen_in_out(Gen& g, bool out, bool dx, unsigned size) {
  Ib ib = g.begin(size == 1 ? 4 : size);
  ib.s.force_rex = false;
  const uint8_t op = static_cast<uint8_t>((dx ? 0xec : 0xe4) | (out ? 2 : 0) | (size > 1 ? 1 : 0));
  ib.s.set_opcode(op);
  if (dx) {
    uint64_t actual;
    fix_operand(g, RDX_, 2, g.rng.below(0x10000), &actual);
  } else {
    ib.s.set_imm(g.rng.below(256), 1);
  }
  if (!out) ib.fx.regs_written = 1u << RAX_;
  return g.emit(ib);
}

// INS (6C/6D) and OUTS (6E/6F), optionally with REP and a zero count. The I/O permission check
// comes before the memory access, so the pointers only need to be plausible.
bool gen_ins_outs(Gen& g, bool outs, unsigned size, bool rep) {
  Ib ib = g.begin(size == 1 ? 4 : size);
  ib.s.force_rex = false;
  ib.s.set_opcode(static_cast<uint8_t>((outs ? 0x6e : 0x6c) | (size > 1 ? 1 : 0)));
  if (rep) {
    ib.s.add_prefix(0xf3);
    // A zero count (a quarter of the time) still checks the I/O permission on the host.
    const bool zero_ok = !(g.disabled & kVarRepIoZeroCount);
    const uint64_t want =
        zero_ok && g.rng.chance(1, 4) ? 0 : static_cast<uint64_t>(g.rng.range(1, 8));
    uint64_t count;
    const bool known = fix_operand(g, RCX_, 8, want, &count);
    if (!zero_ok && (!known || count == 0)) return false;
  }
  uint64_t actual;
  const uint8_t ptr = outs ? RSI_ : RDI_;
  g.fix_or_known(ptr, kDataBase + 0x100 + g.rng.below(kDataSize - 0x200), &actual);
  fix_operand(g, RDX_, 2, g.rng.below(0x10000), &actual);
  ib.fx.regs_written = static_cast<uint16_t>((1u << ptr) | (rep ? 1u << RCX_ : 0));
  ib.fx.regs_written_ptr = static_cast<uint16_t>(1u << ptr);
  ib.fx.mem_write = !outs;
  return g.emit(ib);
}

// INVPCID r64, m128 (66 0F 38 82 /r): #GP(0) above CPL 0.
bool gen_invpcid(Gen& g) {
  Ib ib = g.begin(2);
  ib.s.set_opcode(0x0f, 0x38, 0x82);
  RmOp m;
  if (!g.mem(ib, 16, MemReq{}, &m)) return false;
  set_rm(ib, g.reg(ib, 8, Role::kSrc), m);
  return g.emit(ib);
}

// RDTSC, RDTSCP, CPUID: the results differ by design (Umbra's TSC and CPU model are its own);
// the low 32 bits of each result register are not compared, the upper ones must be zero.
bool gen_masked(Gen& g, std::initializer_list<uint8_t> bytes, std::initializer_list<uint8_t> regs) {
  if (!g.is_last()) return false;
  Ib ib = raw_insn(g, bytes);
  for (uint8_t r : regs) {
    ib.mask_bits(r, 0xffffffffull);
    ib.fx.regs_written |= static_cast<uint16_t>(1u << r);
  }
  return g.emit(ib);
}

bool gen_cpuid(Gen& g) {
  static constexpr uint32_t kLeaves[] = {0, 1, 7, 0xd, 0x16, 0x80000000u, 0x80000001u, 0x80000008u};
  uint64_t actual;
  fix_operand(g, RAX_, 4,
              g.rng.chance(1, 4) ? static_cast<uint32_t>(g.rng.next()) : g.rng.pick(kLeaves),
              &actual);
  fix_operand(g, RCX_, 4, g.rng.below(3), &actual);
  return gen_masked(g, {0x0f, 0xa2}, {RAX_, RBX_, RCX_, RDX_});
}

}  // namespace

void add_sys_privileged_forms(std::vector<Form>& out) {
  out.push_back({"sys: cli", "cli", 0, [](Gen& g) { return emit_raw(g, {0xfa}); }});
  out.push_back({"sys: sti", "sti", 0, [](Gen& g) { return emit_raw(g, {0xfb}); }});
  for (bool o : {false, true})
    for (bool dx : {false, true})
      for (unsigned size : {1u, 2u, 4u})
        out.push_back({std::string("sys: ") + (o ? "out " : "in ") + (dx ? "dx" : "imm8") + ", " +
                           size_suffix(size),
                       o ? "out" : "in", 0, [=](Gen& g) { return gen_in_out(g, o, dx, size); }});
  for (bool o : {false, true})
    for (bool rep : {false, true})
      for (unsigned size : {1u, 2u, 4u}) {
        const char* sfx = size == 1 ? "b" : size == 2 ? "w" : "d";
        // Capstone 4 names REP INSW/OUTSW (66 and F3 together) with the 32-bit mnemonic.
        out.push_back({std::string("sys: ") + (rep ? "rep " : "") + (o ? "outs" : "ins") + sfx,
                       std::string(o ? "outs" : "ins") + (rep ? "" : sfx), 0,
                       [=](Gen& g) { return gen_ins_outs(g, o, size, rep); }});
      }

  for (bool dr : {false, true})
    for (bool to : {false, true})
      for (bool valid : {true, false}) {
        const std::string reg = dr ? "dr" : "cr";
        const std::string name = to ? "mov " + reg + ", r64" : "mov r64, " + reg;
        out.push_back({"sys: " + name + (valid ? "" : " (invalid register)"), valid ? "mov" : "", 0,
                       [=](Gen& g) { return gen_mov_cr_dr(g, dr, to, valid); }});
        if (!valid) out.back().weight = 2;
      }

  // Group 6 and 7 (0F 00, 0F 01) with operands.
  out.push_back(
      {"sys: lgdt m", "lgdt", 0, [](Gen& g) { return gen_grp67(g, 0x01, 2, true, 10, 4, false); }});
  out.push_back(
      {"sys: lidt m", "lidt", 0, [](Gen& g) { return gen_grp67(g, 0x01, 3, true, 10, 4, false); }});
  out.push_back({"sys: invlpg m", "invlpg", 0,
                 [](Gen& g) { return gen_grp67(g, 0x01, 7, true, 1, 4, false); }});
  out.push_back({"sys: lmsw r/m16", "lmsw", 0,
                 [](Gen& g) { return gen_grp67(g, 0x01, 6, false, 2, 2, false); }});
  out.push_back({"sys: lldt r/m16", "lldt", 0,
                 [](Gen& g) { return gen_grp67(g, 0x00, 2, false, 2, 2, false); }});
  out.push_back({"sys: ltr r/m16", "ltr", 0,
                 [](Gen& g) { return gen_grp67(g, 0x00, 3, false, 2, 2, false); }});
  out.push_back({"sys: sgdt m", "sgdt", feat::kUmipTableGp,
                 [](Gen& g) { return gen_grp67(g, 0x01, 0, true, 10, 4, true); }});
  out.push_back({"sys: sidt m", "sidt", feat::kUmipTableGp,
                 [](Gen& g) { return gen_grp67(g, 0x01, 1, true, 10, 4, true); }});
  for (unsigned size : {2u, 4u, 8u}) {
    out.push_back({std::string("sys: smsw r/m") + size_suffix(size), "smsw", feat::kUmipTableGp,
                   [=](Gen& g) { return gen_grp67(g, 0x01, 4, false, 2, size, true); }});
    out.push_back({std::string("sys: sldt r/m") + size_suffix(size), "sldt", feat::kUmipSelectorGp,
                   [=](Gen& g) { return gen_grp67(g, 0x00, 0, false, 2, size, true); }});
    out.push_back({std::string("sys: str r/m") + size_suffix(size), "str", feat::kUmipSelectorGp,
                   [=](Gen& g) { return gen_grp67(g, 0x00, 1, false, 2, size, true); }});
  }
  out.push_back(
      {"sys: invpcid r64, m128", "invpcid", feat::kInvpcid, [](Gen& g) { return gen_invpcid(g); }});

  const struct {
    const char* name;
    const char* mnemonic;
    std::initializer_list<uint8_t> bytes;
    bool ud;
    uint32_t features;
  } kFixed[] = {
      {"sys: swapgs", "swapgs", {0x0f, 0x01, 0xf8}, false, 0},
      {"sys: wbinvd", "wbinvd", {0x0f, 0x09}, false, 0},
      {"sys: invd", "invd", {0x0f, 0x08}, false, 0},
      {"sys: rdmsr", "rdmsr", {0x0f, 0x32}, false, 0},
      {"sys: wrmsr", "wrmsr", {0x0f, 0x30}, false, 0},
      {"sys: clts", "clts", {0x0f, 0x06}, false, 0},
      {"sys: sysret", "sysret", {0x0f, 0x07}, false, 0},
      {"sys: sysretq", "sysret", {0x48, 0x0f, 0x07}, false, 0},
      {"sys: sysexit", "sysexit", {0x0f, 0x35}, false, 0},
      {"sys: sysexitq", "sysexit", {0x48, 0x0f, 0x35}, false, 0},
      {"sys: rdpmc", "rdpmc", {0x0f, 0x33}, false, feat::kRdpmcGp},
      {"sys: clac", "clac", {0x0f, 0x01, 0xca}, true, 0},
      {"sys: stac", "stac", {0x0f, 0x01, 0xcb}, true, 0},
  };
  for (const auto& f : kFixed) {
    const std::vector<uint8_t> bytes(f.bytes);
    const bool ud = f.ud;
    out.push_back({f.name, f.mnemonic, f.features, [bytes, ud](Gen& g) {
                     Ib ib = raw_insn(g, {bytes[0]});
                     uint64_t imm = 0;
                     for (size_t i = 1; i < bytes.size(); ++i)
                       imm |= uint64_t{bytes[i]} << (8 * (i - 1));
                     ib.s.set_imm(imm, static_cast<unsigned>(bytes.size() - 1));
                     ib.expect_ud = ud;
                     return g.emit(ib);
                   }});
  }

  out.push_back({"sys: rdtsc", "rdtsc", 0, [](Gen& g) {
                   return gen_masked(g, {0x0f, 0x31}, {RAX_, RDX_});
                 }});
  out.push_back({"sys: rdtscp", "rdtscp", feat::kRdtscp, [](Gen& g) {
                   return gen_masked(g, {0x0f, 0x01, 0xf9}, {RAX_, RCX_, RDX_});
                 }});
  out.push_back({"sys: cpuid", "cpuid", 0, [](Gen& g) { return gen_cpuid(g); }});
}

}  // namespace difftest
