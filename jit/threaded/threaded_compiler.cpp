#include "jit/threaded/threaded_compiler.h"

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "frontend/cpu_state.h"
#include "jit/block_cache.h"
#include "jit/flag_liveness.h"
#include "jit/profile.h"
#include "jit/threaded/x86_emitter.h"

namespace umbra::threaded {

namespace {

// Upper bounds of the code emitted (x86_emitter.h's longest forms): the 64-bit chain exit (359
// bytes, 485 with the jump-cache probe), the rest of the entry and the end, and per instruction its
// call (mov rdi; mov rsi, imm64; mov rax, imm64; call rax), the last RIP's copy, the exit test and
// its out-of-line leave stub. ThreadedCode.SingleInstructionBlocksGetCode fails if a bound is
// short.
constexpr size_t kExitBytes = 600;
constexpr size_t kFixedBytes = kExitBytes + 160;
// An inline ALU instruction with an imm64 takes 74; a memory MOV with an index, a segment base
// and its handler call as the slow path, with the pending RIP advance added before the call and
// taken back after it, about 200.
constexpr size_t kPerInsnBytes = 256;

int32_t field(size_t offset) {
  return static_cast<int32_t>(offset);
}

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// UMBRA_JIT_PERF_MAP=1: name each block's code in /tmp/perf-PID.map for `perf report`, as tier 1
// does for LLVM's code (one write per line: the two writers append whole lines).
std::FILE* perf_map() {
  static std::FILE* f = [] {
    const char* v = std::getenv("UMBRA_JIT_PERF_MAP");
    if (!v || *v != '1') return static_cast<std::FILE*>(nullptr);
    const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    return std::fopen(path.c_str(), "a");
  }();
  return f;
}

// Names the code in /tmp/perf-PID.map (UMBRA_JIT_PERF_MAP=1), and with UMBRA_JIT_CODE_DIR
// writes its bytes to DIR/NAME_ADDRESS.bin, as tier 1 does for its code (docs/jit.md
// "Profiling compiled code").
void publish_code(const char* kind, uint64_t paddr, const uint8_t* mem, size_t size) {
  std::FILE* f = perf_map();
  if (!f) return;
  char name[64];
  std::snprintf(name, sizeof name, "umbra_%s_p%llx", kind, static_cast<unsigned long long>(paddr));
  std::fprintf(f, "%llx %zx %s\n",
               static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(mem)), size, name);
  std::fflush(f);
  static const char* dir = std::getenv("UMBRA_JIT_CODE_DIR");
  if (!dir || !*dir) return;
  const std::string path = std::string(dir) + "/" + name + "_" +
                           std::to_string(reinterpret_cast<uintptr_t>(mem)) + ".bin";
  if (std::FILE* out = std::fopen(path.c_str(), "wb")) {
    std::fwrite(mem, 1, size, out);
    std::fclose(out);
  }
}

// Where the jump-cache probe finds a Block's fields (Block is not standard-layout: offsetof is
// not for it, so they are measured on an instance).
const ThreadedCompiler::BlockOffsets& block_offsets() {
  static const ThreadedCompiler::BlockOffsets offsets = [] {
    static const Block probe{};
    auto at = [](const void* field) {
      return static_cast<int32_t>(static_cast<const char*>(field) -
                                  reinterpret_cast<const char*>(&probe));
    };
    return ThreadedCompiler::BlockOffsets{at(&probe.valid), at(&probe.page2), at(&probe.tier1),
                                          at(&probe.host)};
  }();
  return offsets;
}

// Blocks that end in an indirect control transfer: their successors are many.
bool ends_indirect(const Block& b) {
  switch (b.insns.back().op) {
    case Op::RET:
    case Op::JMP_IND:
    case Op::CALL_IND:
      return true;
    default:
      return false;
  }
}

// The page offset of a block's last instruction: the block's physical one plus the instructions
// before it (the linear and physical addresses of a byte share their low 12 bits).
uint32_t last_page_offset(const Block& b) {
  uint64_t offset = b.paddr;
  for (size_t i = 0; i + 1 < b.insns.size(); ++i) offset += b.insns[i].len;
  return static_cast<uint32_t>(offset & (kPageSize - 1));
}

// The page offset a block ending in a Jcc continues at on one of its paths (its last
// instruction's offset plus a constant), and whether that is still on the page.
int64_t jcc_path_offset(const Block& b, bool taken) {
  const Insn& jcc = b.insns.back();
  return static_cast<int64_t>(last_page_offset(b)) + jcc.len +
         (taken ? static_cast<int64_t>(jcc.imm) : 0);
}
bool on_page(int64_t offset) {
  return offset >= 0 && offset < int64_t{kPageSize};
}

// Whether the RIP a block ends with is on the page of its last instruction, when that follows
// from the instruction alone (64-bit mode): 1 or 0 after a direct near branch of 64-bit operand
// size whose targets agree, 1 after an instruction that goes on to the next one on its page (a
// REP string instruction may also stay at itself); -1 otherwise (RET, indirect branches, a
// 16-bit operand size that wraps the target), where the chain exit tests it.
int static_same_page(const Block& b) {
  const Insn& last = b.insns.back();
  const int64_t end = static_cast<int64_t>(last_page_offset(b)) + last.len;
  switch (last.op) {
    case Op::JMP:
    case Op::CALL:
      if (last.opsize != 8 || last.dst.kind != OpKind::Imm) return -1;
      return on_page(end + static_cast<int64_t>(last.imm)) ? 1 : 0;
    case Op::JCC: {
      if (last.opsize != 8) return -1;
      const bool taken = on_page(jcc_path_offset(b, true));
      return taken == on_page(jcc_path_offset(b, false)) ? (taken ? 1 : 0) : -1;
    }
    default:
      if (is_near_transfer(last.op) || (last.attrs & attr::kWritesRip)) return -1;
      return on_page(end) ? 1 : -1;
  }
}

// The page offset of the one RIP a block can end with, when it follows from the bytes: a direct
// JMP or CALL of 64-bit operand size, or an instruction that goes on to the next one (not a REP
// string instruction, which may stay at itself); -1 otherwise.
int64_t static_target_offset(const Block& b) {
  const Insn& last = b.insns.back();
  const int64_t end = static_cast<int64_t>(last_page_offset(b)) + last.len;
  switch (last.op) {
    case Op::JMP:
    case Op::CALL:
      if (last.opsize != 8 || last.dst.kind != OpKind::Imm) return -1;
      return end + static_cast<int64_t>(last.imm);
    default:
      if (is_near_transfer(last.op) || (last.attrs & attr::kWritesRip) ||
          (last.prefixes & (pfx::kRep | pfx::kRepne)))
        return -1;
      return end;
  }
}

int32_t gpr_at(uint8_t r) {
  return field(offsetof(CpuState, gpr) + 8u * r);
}

// Guest register r into `dst`: all 64 bits, or the low 32 zero-extended.
void load_gpr(X86Emitter& e, Reg64 dst, uint8_t r, bool wide) {
  if (wide)
    e.load_rbx(dst, gpr_at(r));
  else
    e.load_rbx32(dst, gpr_at(r));
}

// An instruction with a handler bound and no LOCK prefix (which makes the register forms #UD):
// only such may be emitted inline; the others keep their handler call.
bool may_inline(const Insn& insn) {
  return (insn.attrs & attr::kUnimplemented) == 0 && (insn.prefixes & pfx::kLock) == 0;
}

// Whether the instruction's memory operand can be computed inline: a general register or RIP as
// the base, a general register as the index, a 32- or 64-bit address size.
bool inline_address(const Insn& insn) {
  return (insn.addr_size == 8 || insn.addr_size == 4) &&
         (insn.base == kNoReg || insn.base == kRipReg || insn.base < 16) &&
         (insn.index == kNoReg || insn.index < 16);
}

// The effective address of the memory operand into RCX (frontend/operands.h effective_address:
// displacement, base or the next instruction's RIP, index << scale, truncated to the address
// size), clobbering RAX. `rip_pending`: what the code has not yet added to the CpuState's RIP.
void emit_effective_address(X86Emitter& e, const Insn& insn, int32_t rip_pending) {
  if (insn.base == kRipReg) {
    e.load_rbx(Reg64::RCX, field(offsetof(CpuState, rip)));
    e.add_imm(Reg64::RCX, static_cast<int32_t>(insn.disp + insn.len + rip_pending));
  } else {
    e.mov_imm(Reg64::RCX, static_cast<uint64_t>(insn.disp));
    if (insn.base != kNoReg) e.add(Reg64::RCX, at(Reg64::RBX, gpr_at(insn.base)));
  }
  if (insn.index != kNoReg) {
    e.load_rbx(Reg64::RAX, gpr_at(insn.index));
    if (insn.scale) e.shl(Reg64::RAX, insn.scale);
    e.add(Reg64::RCX, Reg64::RAX);
  }
  if (insn.addr_size == 4) e.mov32(Reg64::RCX, Reg64::RCX);
}

// MOVZX or MOVSX of a byte or word into a 32- or 64-bit register, MOVSXD of a doubleword into a
// 64-bit register (datamov.cpp MovExtend; MOVSXD without REX.W is a plain move and calls its
// handler).
bool is_inline_extension(const Insn& insn) {
  if (insn.dst.kind != OpKind::Reg || insn.dst.reg >= 16) return false;
  if (insn.op == Op::MOVSXD) return insn.src_size == 4 && insn.opsize == 8;
  return (insn.op == Op::MOVZX || insn.op == Op::MOVSX) &&
         (insn.src_size == 1 || insn.src_size == 2) && (insn.opsize == 4 || insn.opsize == 8);
}

// The two-operand instructions whose flags are a lazy record (frontend/semantics arith.cpp,
// logic.cpp): the host operation that computes the result, the record's operation, and whether
// the result is written (CMP and TEST only set flags).
struct LazyAlu {
  Op op;
  X86Emitter::Alu alu;
  LazyOp lazy;
  bool writes;
};
constexpr LazyAlu kLazyAlus[] = {
    {Op::ADD, X86Emitter::kAdd, kLazyAdd, true},     {Op::SUB, X86Emitter::kSub, kLazySub, true},
    {Op::CMP, X86Emitter::kSub, kLazySub, false},    {Op::AND, X86Emitter::kAnd, kLazyLogic, true},
    {Op::OR, X86Emitter::kOr, kLazyLogic, true},     {Op::XOR, X86Emitter::kXor, kLazyLogic, true},
    {Op::TEST, X86Emitter::kAnd, kLazyLogic, false},
};

bool lazy_alu(Op op, X86Emitter::Alu* alu, LazyOp* lazy, bool* writes) {
  for (const LazyAlu& a : kLazyAlus) {
    if (a.op != op) continue;
    *alu = a.alu, *lazy = a.lazy, *writes = a.writes;
    return true;
  }
  return false;
}

int32_t lazy_at(size_t member) {
  return field(offsetof(CpuState, lazy) + member);
}

// With the destination operand's value in RAX and the source's in RCX, both zero-extended from
// the operand size (1, 2, 4 or 8), the operation into RAX (zero-extended) and its lazy record as
// set_lazy (frontend/flags.h) writes it: result, both sources, the operation and size, and aux 0
// unless `keep_aux` (INC/DEC, whose aux the caller wrote).
void emit_alu_lazy(X86Emitter& e, X86Emitter::Alu alu, LazyOp lazy, unsigned size,
                   bool keep_aux = false) {
  e.store_rbx(lazy_at(offsetof(LazyFlags, src1)), Reg64::RAX);
  e.store_rbx(lazy_at(offsetof(LazyFlags, src2)), Reg64::RCX);
  e.alu(alu, Reg64::RAX, Reg64::RCX, size == 8);
  if (size < 4) e.movzx_reg(Reg64::RAX, Reg64::RAX, size);  // the record holds it at its size
  e.store_rbx(lazy_at(offsetof(LazyFlags, res)), Reg64::RAX);
  static_assert(offsetof(LazyFlags, size) == offsetof(LazyFlags, op) + 1);
  e.store_rbx16_imm(lazy_at(offsetof(LazyFlags, op)), static_cast<uint16_t>(lazy | size << 8));
  if (!keep_aux) e.store_rbx8_imm(lazy_at(offsetof(LazyFlags, aux)), 0);
}

// What the lazy-flags record holds at a point of a block, when the code knows it from the
// instructions before it in the block: the last flags producer's operation and size (4 or 8).
// op kLazyNone: not known (the block's start, or after an instruction that writes the flags some
// other way). A producer's handler records the same operation as its inline form, so this holds
// whichever path ran.
struct KnownFlags {
  LazyOp op = kLazyNone;
  uint8_t size = 0;
};

KnownFlags flags_after(const Insn& insn, KnownFlags before) {
  // Neither read nor written, or only read.
  if (flag_use(insn) == FlagUse::kNone || insn.op == Op::JCC || insn.op == Op::SETCC ||
      insn.op == Op::CMOVCC)
    return before;
  if (insn.opsize != 1 && insn.opsize != 2 && insn.opsize != 4 && insn.opsize != 8) return {};
  const uint8_t size = insn.opsize;
  switch (insn.op) {
    case Op::ADD:
      return {kLazyAdd, size};
    case Op::SUB:
    case Op::CMP:
    case Op::NEG:
      return {kLazySub, size};
    case Op::AND:
    case Op::OR:
    case Op::XOR:
    case Op::TEST:
      return {kLazyLogic, size};
    case Op::INC:
      return {kLazyInc, size};
    case Op::DEC:
      return {kLazyDec, size};
    default:
      return {};
  }
}

// CF as the known record defines it (get_cf in frontend/flags.h) into the record's aux, which INC
// and DEC keep: after ADD res < src1, after SUB src1 < src2 (the record holds both zero-extended,
// so 64-bit compares answer for either size), after a logical operation 0, after INC/DEC the aux
// already there. Clobbers RAX. False when the record is not known.
bool emit_cf_into_aux(X86Emitter& e, KnownFlags flags) {
  const int32_t aux = lazy_at(offsetof(LazyFlags, aux));
  switch (flags.op) {
    case kLazyAdd:
    case kLazySub: {
      const bool add = flags.op == kLazyAdd;
      e.load_rbx(Reg64::RAX, lazy_at(add ? offsetof(LazyFlags, res) : offsetof(LazyFlags, src1)));
      e.cmp(Reg64::RAX,
            at(Reg64::RBX, lazy_at(add ? offsetof(LazyFlags, src1) : offsetof(LazyFlags, src2))));
      e.setcc(X86Emitter::kB, Reg64::RAX);
      e.store_rbx8(aux, Reg64::RAX);
      return true;
    }
    case kLazyLogic:
      e.store_rbx8_imm(aux, 0);
      return true;
    case kLazyInc:
    case kLazyDec:
      return true;
    default:
      return false;
  }
}

// Sets the host's flags as the known lazy record defines the guest's, for condition `cc`, by
// doing the recorded operation again on the recorded operands at the recorded size: after ADD
// and SUB all six, after a logical operation the result tested (CF = OF = 0, as recorded), after
// INC and DEC all but CF (which they keep: conditions B, BE and their negations are refused).
// Clobbers RAX. False when the flags are not known or the condition needs what they lack.
bool emit_host_flags(X86Emitter& e, KnownFlags flags, uint8_t cc) {
  const bool wide = flags.size == 8;
  const bool needs_cf = (cc >> 1) == 1 || (cc >> 1) == 3;
  switch (flags.op) {
    case kLazyInc:
    case kLazyDec:
      if (needs_cf) return false;
      [[fallthrough]];
    case kLazyAdd:
    case kLazySub: {
      // INC/DEC record src2 = 1: ADD or SUB of it gives their ZF, SF, OF and PF.
      const bool add = flags.op == kLazyAdd || flags.op == kLazyInc;
      e.load_rbx(Reg64::RAX, lazy_at(offsetof(LazyFlags, src1)));
      const Mem src2 = at(Reg64::RBX, lazy_at(offsetof(LazyFlags, src2)));
      if (flags.size >= 4)
        e.alu_load(add ? static_cast<uint8_t>(X86Emitter::kAdd + 2) : X86Emitter::kCmpLoad,
                   Reg64::RAX, src2, wide);
      else
        e.alu_load_narrow(add ? 0x02 : 0x3a, Reg64::RAX, src2, flags.size);
      return true;
    }
    case kLazyLogic:
      e.load_rbx(Reg64::RAX, lazy_at(offsetof(LazyFlags, res)));
      if (flags.size >= 4)
        e.test(Reg64::RAX, Reg64::RAX, wide);
      else
        e.test_narrow(Reg64::RAX, Reg64::RAX, flags.size);
      return true;
    default:
      return false;
  }
}

// Branches to the returned label unless the 64-bit value in `r` is canonical (bits 63:47 all
// equal, SDM vol. 1, 3.3.7.1). Clobbers RDI.
X86Emitter::Label emit_canonical_check(X86Emitter& e, Reg64 r) {
  e.mov(Reg64::RDI, r);
  e.shl(Reg64::RDI, 16);
  e.sar(Reg64::RDI, 16);
  e.cmp(Reg64::RDI, r);
  return e.jcc(X86Emitter::kNE);
}

// SHL, SHR or SAR of a 16-, 32- or 64-bit register by an immediate whose masked count is below
// the width, as shift.cpp's ShiftOp does it: the host's own shift at the operand size, and
// unless the flags are dead, the status flags written eagerly (the lazy record's operation
// kLazyNone): CF, PF, ZF and SF from the host, which defines them for such a count (SDM vol. 2,
// SAL/SAR/SHL/SHR); AF set and OF as the handler has them where the SDM leaves them undefined
// (AF always; OF = MSB(result) XOR CF after SHL, the original MSB after SHR by 1 (the host's own
// OF then), 0 otherwise).
void emit_shift(X86Emitter& e, const Insn& insn, unsigned count, bool flags_dead) {
  const uint8_t ext = insn.op == Op::SHL ? 4 : insn.op == Op::SHR ? 5 : 7;
  const bool wide = insn.opsize == 8;
  const uint8_t n = static_cast<uint8_t>(count);
  if (insn.opsize == 2) {
    e.movx(Reg64::RAX, at(Reg64::RBX, gpr_at(insn.dst.reg)), false, 2, false);
    e.shift_imm16(ext, Reg64::RAX, n);
  } else {
    load_gpr(e, Reg64::RAX, insn.dst.reg, wide);
    e.shift_imm(ext, Reg64::RAX, n, wide);
  }
  if (!flags_dead) {
    e.pushfq();
    e.pop_rcx();
  }
  if (insn.opsize == 2)
    e.store_narrow(at(Reg64::RBX, gpr_at(insn.dst.reg)), Reg64::RAX, 2);
  else
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);  // a 32-bit result zero-extends
  if (flags_dead) return;
  const bool host_of = insn.op == Op::SHR && count == 1;
  e.and_imm(Reg64::RCX,
            static_cast<int32_t>(rf::CF | rf::PF | rf::ZF | rf::SF | (host_of ? rf::OF : 0)));
  if (insn.op == Op::SHL) {  // OF = SF ^ CF, into bit 11
    e.mov(Reg64::RDX, Reg64::RCX);
    e.shr(Reg64::RDX, 7);
    e.xor_(Reg64::RDX, Reg64::RCX);
    e.and_imm(Reg64::RDX, 1);
    e.shl(Reg64::RDX, 11);
    e.alu(X86Emitter::kOr, Reg64::RCX, Reg64::RDX, true);
  }
  e.mov_imm(Reg64::RDX, rf::AF);
  e.alu(X86Emitter::kOr, Reg64::RCX, Reg64::RDX, true);
  e.load_rbx(Reg64::RAX, field(offsetof(CpuState, rflags)));
  e.and_imm(Reg64::RAX, static_cast<int32_t>(~rf::ARITH));
  e.alu(X86Emitter::kOr, Reg64::RAX, Reg64::RCX, true);
  e.store_rbx(field(offsetof(CpuState, rflags)), Reg64::RAX);
  e.store_rbx8_imm(lazy_at(offsetof(LazyFlags, op)), kLazyNone);
}

// The register and immediate forms of MOV and of the ALU instructions whose flags are a lazy
// record, at 32 or 64 bits in 64-bit mode, are emitted inline instead of as a handler call
// (docs/jit.md "Threaded code"): the same effects as their handlers (frontend/semantics arith.cpp,
// logic.cpp, data_move.cpp), guest registers and the lazy-flags record in the CpuState, RIP
// advanced by the caller. Such an instruction cannot fault or request an exit. Returns false for
// anything else (the instruction then calls its handler).
bool emit_inline(X86Emitter& e, const Insn& insn, int32_t rip_pending, KnownFlags flags,
                 bool flags_dead) {
  if (!may_inline(insn)) return false;
  if (insn.op == Op::NOP) return true;  // every NOP form (hint NOPs, PAUSE) only advances RIP
  if (insn.op == Op::LEA && (insn.opsize == 4 || insn.opsize == 8) &&
      insn.dst.kind == OpKind::Reg && insn.dst.reg < 16 && inline_address(insn)) {
    // The effective address, no segment, truncated to the operand size (datamov.cpp Lea).
    emit_effective_address(e, insn, rip_pending);
    if (insn.opsize == 4) e.mov32(Reg64::RCX, Reg64::RCX);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RCX);
    return true;
  }
  if (insn.op == Op::SETCC && insn.dst.kind == OpKind::Reg && insn.dst.reg < 16) {
    // datamov_cond.cpp SetccOf: the byte register (not AH..BH) from the known record.
    if (!emit_host_flags(e, flags, insn.cond)) return false;
    e.setcc(insn.cond, Reg64::RAX);
    e.store_rbx8(gpr_at(insn.dst.reg), Reg64::RAX);
    return true;
  }
  if ((insn.op == Op::SHL || insn.op == Op::SHR || insn.op == Op::SAR) &&
      (insn.opsize == 2 || insn.opsize == 4 || insn.opsize == 8) && insn.dst.kind == OpKind::Reg &&
      insn.dst.reg < 16 && insn.src.kind == OpKind::Imm && insn.src2.kind == OpKind::None) {
    const unsigned count = static_cast<unsigned>(insn.imm) & (insn.opsize == 8 ? 63 : 31);
    if (count != 0 && count < insn.opsize * 8u) {
      emit_shift(e, insn, count, flags_dead);
      return true;
    }
  }
  if ((insn.opsize == 1 || insn.opsize == 2) && insn.dst.kind == OpKind::Reg && insn.dst.reg < 16 &&
      (insn.src.kind == OpKind::Reg ? insn.src.reg < 16 : insn.src.kind == OpKind::Imm) &&
      insn.src2.kind == OpKind::None) {
    // The byte and word ALU forms (not AH..BH): computed at 32 bits on zero-extended operands,
    // the result cut to the size; only the register's low byte or word is written.
    X86Emitter::Alu alu;
    LazyOp lazy;
    bool writes;
    if (!lazy_alu(insn.op, &alu, &lazy, &writes)) return false;
    if (flags_dead && !writes) return true;
    const unsigned size = insn.opsize;
    e.movx(Reg64::RAX, at(Reg64::RBX, gpr_at(insn.dst.reg)), false, size, false);
    if (insn.src.kind == OpKind::Reg)
      e.movx(Reg64::RCX, at(Reg64::RBX, gpr_at(insn.src.reg)), false, size, false);
    else
      e.mov_imm(Reg64::RCX, insn.imm & (size == 1 ? 0xff : 0xffff));
    if (flags_dead)
      e.alu(alu, Reg64::RAX, Reg64::RCX, false);
    else
      emit_alu_lazy(e, alu, lazy, size);
    if (writes) e.store_narrow(at(Reg64::RBX, gpr_at(insn.dst.reg)), Reg64::RAX, size);
    return true;
  }
  if (insn.opsize != 4 && insn.opsize != 8) return false;
  if (insn.dst.kind != OpKind::Reg || insn.dst.reg >= 16) return false;
  if (insn.op == Op::CMOVCC && insn.src.kind == OpKind::Reg && insn.src.reg < 16) {
    // datamov_cond.cpp CmovOf: the destination written either way (a 32-bit one zero-extends
    // even when the condition is false), as the host's CMOVcc does.
    if (!emit_host_flags(e, flags, insn.cond)) return false;
    const bool wide64 = insn.opsize == 8;
    load_gpr(e, Reg64::RCX, insn.dst.reg, wide64);
    load_gpr(e, Reg64::RDX, insn.src.reg, wide64);
    e.cmov(insn.cond, Reg64::RCX, Reg64::RDX, wide64);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RCX);
    return true;
  }
  if (is_inline_extension(insn) && insn.src.kind == OpKind::Reg && insn.src.reg < 16) {
    // MOVZX/MOVSX from a byte or word register (not AH..BH: numbers 16-19), MOVSXD from a
    // doubleword register.
    e.movx(Reg64::RAX, at(Reg64::RBX, gpr_at(insn.src.reg)), insn.op != Op::MOVZX, insn.src_size,
           insn.opsize == 8);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
    return true;
  }
  const bool wide = insn.opsize == 8;
  auto load_dst = [&] { load_gpr(e, Reg64::RAX, insn.dst.reg, wide); };
  if (flags_dead && insn.src.kind == OpKind::Imm && insn.src2.kind == OpKind::None) {
    // Shifts and rotates by an immediate whose flags nobody sees: the host's own instruction
    // (it masks the count as the guest's does; a 32-bit result zero-extends, shift.cpp).
    // The /digit of C1 (shift or rotate by imm8), indexed like kShiftOps.
    constexpr Op kShiftOps[] = {Op::ROL, Op::ROR, Op::SHL, Op::SHR, Op::SAR};
    constexpr uint8_t kShiftExt[] = {0, 1, 4, 5, 7};
    uint8_t ext = 0xff;
    for (size_t k = 0; k < std::size(kShiftOps); ++k)
      if (insn.op == kShiftOps[k]) ext = kShiftExt[k];
    if (ext != 0xff) {
      load_dst();
      e.shift_imm(ext, Reg64::RAX, static_cast<uint8_t>(insn.imm), wide);
      e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
      return true;
    }
  }
  if (flags_dead && insn.op == Op::IMUL && insn.src.kind == OpKind::Reg && insn.src.reg < 16) {
    // IMUL r, r and IMUL r, r, imm (arith.cpp ImulReg) whose flags nobody sees: the host's own,
    // which truncates the product to the operand size as the guest's does.
    load_gpr(e, Reg64::RCX, insn.src.reg, wide);
    if (insn.src2.kind == OpKind::Imm) {
      e.imul_imm(Reg64::RAX, Reg64::RCX, static_cast<int32_t>(insn.imm), wide);
    } else {
      load_dst();
      e.imul(Reg64::RAX, Reg64::RCX, wide);
    }
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
    return true;
  }
  if ((insn.op == Op::INC || insn.op == Op::DEC) && insn.src.kind == OpKind::None) {
    const bool inc = insn.op == Op::INC;
    if (flags_dead) {  // no record to write
      load_dst();
      e.mov_imm(Reg64::RCX, 1);
      e.alu(inc ? X86Emitter::kAdd : X86Emitter::kSub, Reg64::RAX, Reg64::RCX, wide);
      e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
      return true;
    }
    // arith.cpp INC/DEC: CF kept in aux (from the known record), the source 1.
    if (!emit_cf_into_aux(e, flags)) return false;
    load_dst();
    e.mov_imm(Reg64::RCX, 1);
    emit_alu_lazy(e, inc ? X86Emitter::kAdd : X86Emitter::kSub, inc ? kLazyInc : kLazyDec,
                  insn.opsize, true);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
    return true;
  }
  if (insn.src.kind == OpKind::Reg ? insn.src.reg >= 16 : insn.src.kind != OpKind::Imm)
    return false;
  if (insn.src2.kind != OpKind::None) return false;
  const uint64_t imm = wide ? insn.imm : static_cast<uint32_t>(insn.imm);
  auto load_src = [&](Reg64 dst) {
    if (insn.src.kind == OpKind::Reg)
      load_gpr(e, dst, insn.src.reg, wide);
    else
      e.mov_imm(dst, imm);
  };
  if (insn.op == Op::MOV) {
    // SDM vol. 1, 3.4.1.1: a 32-bit result zero-extends into the 64-bit register.
    load_src(Reg64::RAX);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
    return true;
  }
  X86Emitter::Alu alu;
  LazyOp lazy;
  bool writes;
  if (!lazy_alu(insn.op, &alu, &lazy, &writes)) return false;
  if (flags_dead && !writes) return true;  // CMP or TEST whose flags nobody sees
  load_dst();
  load_src(Reg64::RCX);
  if (flags_dead)
    e.alu(alu, Reg64::RAX, Reg64::RCX, wide);
  else
    emit_alu_lazy(e, alu, lazy, insn.opsize);
  if (writes) e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
  return true;
}

// The linear address of the memory operand into RCX (seg_linear: in 64-bit mode only FS and GS
// have a base), clobbering RAX. `rip_pending` as for emit_effective_address.
void emit_linear_address(X86Emitter& e, const Insn& insn, int32_t rip_pending) {
  emit_effective_address(e, insn, rip_pending);
  if (insn.seg == FS || insn.seg == GS)
    e.add(Reg64::RCX,
          at(Reg64::RBX, field(offsetof(CpuState, seg) + insn.seg * sizeof(SegmentCache) +
                               offsetof(SegmentCache, base))));
}

// The fast TLB's hit test for a `size`-byte access at the linear address in RCX
// (softmmu/access.h tlb_entry, tlb_grants: the entry of the first byte's page, its tag compared
// with the last byte's page): on a hit the host address is in RDX; on a miss (or a page
// crossing, which never matches) the code branches to the returned label. Clobbers RDI.
X86Emitter::Label emit_tlb_hit(X86Emitter& e, unsigned size, bool write) {
  const int32_t tlb = field(offsetof(CpuState, tlb));
  e.mov(Reg64::RDI, Reg64::RCX);
  e.shr(Reg64::RDI, kTlbIndexShift);
  e.and_(Reg64::RDI, at(Reg64::RBX, field(offsetof(CpuState, tlb_mask))));
  e.add(Reg64::RDI, at(Reg64::RBX, field(offsetof(CpuState, tlb_offset))));
  e.lea(Reg64::RDX, at(Reg64::RCX, static_cast<int32_t>(size - 1)));
  e.and_imm(Reg64::RDX, static_cast<int32_t>(kPageMask));
  const size_t tag = write ? offsetof(TlbEntry, tag_write) : offsetof(TlbEntry, tag_read);
  e.cmp(Reg64::RDX, at(Reg64::RBX, Reg64::RDI, tlb + field(tag)));
  const X86Emitter::Label miss = e.jcc(X86Emitter::kNE);
  e.mov(Reg64::RDX, Reg64::RCX);
  e.add(Reg64::RDX, at(Reg64::RBX, Reg64::RDI, tlb + field(offsetof(TlbEntry, addend))));
  return miss;
}

// Instructions whose fast path is inline but which may need their handler (a guest-memory access
// that misses the fast TLB), in 64-bit mode: MOV between a register (or, for a store, an
// immediate) and memory at 32 or 64 bits, and PUSH of a register or immediate and POP into a
// register (other than RSP) at 64 bits. The fast path neither faults nor requests an exit; on a
// miss the code branches to *miss, where the caller emits the handler call as for any
// instruction: it redoes the whole instruction through the slow path, faults included. The fast
// path leaves RIP alone: `rip_pending` is what the code has yet to add to the CpuState's RIP to
// reach this instruction, and the caller adds it before the handler call (which reads RIP).
// Returns false (nothing emitted) for anything else.
bool emit_inline_memory(X86Emitter& e, const Insn& insn, KnownFlags flags, int32_t rip_pending,
                        X86Emitter::Label* miss) {
  if (!may_inline(insn)) return false;
  if (insn.src2.kind != OpKind::None) return false;
  const int32_t rsp = gpr_at(RSP);
  if (insn.op == Op::PUSH && insn.opsize == 8 &&
      (insn.dst.kind == OpKind::Imm || (insn.dst.kind == OpKind::Reg && insn.dst.reg < 16))) {
    // frontend/semantics/stack_access.h push_value: the slot below RSP, written before RSP moves
    // (PUSH RSP stores the old value).
    e.load_rbx(Reg64::RCX, rsp);
    e.add_imm(Reg64::RCX, -8);
    *miss = emit_tlb_hit(e, 8, true);
    if (insn.dst.kind == OpKind::Reg)
      e.load_rbx(Reg64::RAX, gpr_at(insn.dst.reg));
    else
      e.mov_imm(Reg64::RAX, insn.imm);
    e.store(at(Reg64::RDX), Reg64::RAX);
    e.store_rbx(rsp, Reg64::RCX);
    return true;
  }
  if (insn.op == Op::POP && insn.opsize == 8 && insn.dst.kind == OpKind::Reg && insn.dst.reg < 16 &&
      insn.dst.reg != RSP) {
    e.load_rbx(Reg64::RCX, rsp);
    *miss = emit_tlb_hit(e, 8, false);
    e.load(Reg64::RAX, at(Reg64::RDX));
    e.add_imm(Reg64::RCX, 8);
    e.store_rbx(rsp, Reg64::RCX);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
    return true;
  }
  if (is_inline_extension(insn) && insn.src.kind == OpKind::Mem && inline_address(insn)) {
    emit_linear_address(e, insn, rip_pending);
    *miss = emit_tlb_hit(e, insn.src_size, false);
    e.movx(Reg64::RAX, at(Reg64::RDX), insn.op != Op::MOVZX, insn.src_size, insn.opsize == 8);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
    return true;
  }
  X86Emitter::Alu alu;
  LazyOp lazy;
  bool writes;
  if ((insn.opsize == 1 || insn.opsize == 2) && inline_address(insn) &&
      lazy_alu(insn.op, &alu, &lazy, &writes)) {
    // The byte and word ALU forms with a memory operand, as the register forms in emit_inline.
    const unsigned size = insn.opsize;
    const uint64_t imm = insn.imm & (size == 1 ? 0xff : 0xffff);
    if (insn.dst.kind == OpKind::Mem &&
        (insn.src.kind == OpKind::Reg ? insn.src.reg < 16 : insn.src.kind == OpKind::Imm)) {
      emit_linear_address(e, insn, rip_pending);
      *miss = emit_tlb_hit(e, size, writes);
      e.movx(Reg64::RAX, at(Reg64::RDX), false, size, false);
      if (insn.src.kind == OpKind::Reg)
        e.movx(Reg64::RCX, at(Reg64::RBX, gpr_at(insn.src.reg)), false, size, false);
      else
        e.mov_imm(Reg64::RCX, imm);
      emit_alu_lazy(e, alu, lazy, size);
      if (writes) e.store_narrow(at(Reg64::RDX), Reg64::RAX, size);
      return true;
    }
    if (insn.dst.kind == OpKind::Reg && insn.dst.reg < 16 && insn.src.kind == OpKind::Mem) {
      emit_linear_address(e, insn, rip_pending);
      *miss = emit_tlb_hit(e, size, false);
      e.movx(Reg64::RCX, at(Reg64::RDX), false, size, false);
      e.movx(Reg64::RAX, at(Reg64::RBX, gpr_at(insn.dst.reg)), false, size, false);
      emit_alu_lazy(e, alu, lazy, size);
      if (writes) e.store_narrow(at(Reg64::RBX, gpr_at(insn.dst.reg)), Reg64::RAX, size);
      return true;
    }
    return false;
  }
  if (insn.op == Op::MOV && (insn.opsize == 1 || insn.opsize == 2) && inline_address(insn)) {
    // A byte or word between a register (not AH..BH, numbers 16-19) or an immediate and memory:
    // the register's other bytes stay (SDM vol. 1, 3.4.1.1: only 32-bit results zero-extend).
    const bool load = insn.src.kind == OpKind::Mem;
    const Operand& other = load ? insn.dst : insn.src;
    if (load ? insn.dst.kind != OpKind::Reg : insn.dst.kind != OpKind::Mem) return false;
    if (other.kind == OpKind::Reg ? other.reg >= 16 : (load || other.kind != OpKind::Imm))
      return false;
    const unsigned size = insn.opsize;
    emit_linear_address(e, insn, rip_pending);
    *miss = emit_tlb_hit(e, size, !load);
    if (load) {
      e.load_narrow(Reg64::RAX, at(Reg64::RDX), size);
      e.store_narrow(at(Reg64::RBX, gpr_at(insn.dst.reg)), Reg64::RAX, size);
    } else if (other.kind == OpKind::Reg) {
      e.load_narrow(Reg64::RAX, at(Reg64::RBX, gpr_at(other.reg)), size);
      e.store_narrow(at(Reg64::RDX), Reg64::RAX, size);
    } else {
      e.store_narrow_imm(at(Reg64::RDX), static_cast<uint16_t>(insn.imm), size);
    }
    return true;
  }
  if ((insn.opsize != 4 && insn.opsize != 8) || !inline_address(insn)) return false;
  const bool wide = insn.opsize == 8;
  auto load_host = [&](Reg64 dst) {  // the operand at the host address in RDX
    if (wide)
      e.load(dst, at(Reg64::RDX));
    else
      e.load32(dst, at(Reg64::RDX));
  };
  auto store_host = [&](Reg64 src) {
    if (wide)
      e.store(at(Reg64::RDX), src);
    else
      e.store32(at(Reg64::RDX), src);
  };
  if ((insn.op == Op::INC || insn.op == Op::DEC) && insn.dst.kind == OpKind::Mem &&
      insn.src.kind == OpKind::None && flags.op != kLazyNone) {
    // A read-modify-write: the write entry's hit grants the read too.
    emit_linear_address(e, insn, rip_pending);
    *miss = emit_tlb_hit(e, insn.opsize, true);
    emit_cf_into_aux(e, flags);
    load_host(Reg64::RAX);
    e.mov_imm(Reg64::RCX, 1);
    const bool inc = insn.op == Op::INC;
    emit_alu_lazy(e, inc ? X86Emitter::kAdd : X86Emitter::kSub, inc ? kLazyInc : kLazyDec,
                  insn.opsize, true);
    store_host(Reg64::RAX);
    return true;
  }
  if (lazy_alu(insn.op, &alu, &lazy, &writes)) {
    const uint64_t imm = wide ? insn.imm : static_cast<uint32_t>(insn.imm);
    if (insn.dst.kind == OpKind::Mem &&
        (insn.src.kind == OpKind::Reg ? insn.src.reg < 16 : insn.src.kind == OpKind::Imm)) {
      // ALU [m], r/imm: read, operate, write back unless CMP/TEST.
      emit_linear_address(e, insn, rip_pending);
      *miss = emit_tlb_hit(e, insn.opsize, writes);
      load_host(Reg64::RAX);
      if (insn.src.kind == OpKind::Reg)
        load_gpr(e, Reg64::RCX, insn.src.reg, wide);
      else
        e.mov_imm(Reg64::RCX, imm);
      emit_alu_lazy(e, alu, lazy, insn.opsize);
      if (writes) store_host(Reg64::RAX);
      return true;
    }
    if (insn.dst.kind == OpKind::Reg && insn.dst.reg < 16 && insn.src.kind == OpKind::Mem) {
      // ALU r, [m].
      emit_linear_address(e, insn, rip_pending);
      *miss = emit_tlb_hit(e, insn.opsize, false);
      load_host(Reg64::RCX);
      load_gpr(e, Reg64::RAX, insn.dst.reg, wide);
      emit_alu_lazy(e, alu, lazy, insn.opsize);
      if (writes) e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);
      return true;
    }
    return false;
  }
  if (insn.op != Op::MOV) return false;
  const bool load = insn.src.kind == OpKind::Mem;
  const Operand& other = load ? insn.dst : insn.src;
  if (load ? insn.dst.kind != OpKind::Reg : insn.dst.kind != OpKind::Mem) return false;
  if (other.kind == OpKind::Reg ? other.reg >= 16 : (load || other.kind != OpKind::Imm))
    return false;
  emit_linear_address(e, insn, rip_pending);
  *miss = emit_tlb_hit(e, insn.opsize, !load);
  if (load) {
    load_host(Reg64::RAX);
    e.store_rbx(gpr_at(insn.dst.reg), Reg64::RAX);  // 32 bits zero-extend (SDM vol. 1, 3.4.1.1)
  } else {
    if (other.kind == OpKind::Reg)
      e.load_rbx(Reg64::RAX, gpr_at(other.reg));
    else
      e.mov_imm(Reg64::RAX, insn.imm);
    store_host(Reg64::RAX);
  }
  return true;
}

// Near branches with a 64-bit operand size (64-bit mode; frontend/semantics/control.cpp), their
// fast path inline: Jcc when the known lazy record answers its condition (emit_host_flags), JMP
// and CALL rel32, RET [imm16] with the stack slot's TLB hit inline. Each sets RIP itself. On the
// way to anything the fast path does not handle (a non-canonical target, which is #GP(0); a TLB
// miss) the code branches to one of `slow` before changing any state, where the caller emits the
// handler call, which redoes the instruction. `rip_pending`: what the code has yet to add to the
// CpuState's RIP to reach the branch (the caller adds it on the way to the handler); the fast
// path leaves RIP exact.
bool emit_inline_branch(X86Emitter& e, const Insn& insn, KnownFlags flags, int32_t rip_pending,
                        std::vector<X86Emitter::Label>* slow,
                        const std::function<void(bool taken)>& tail = {}) {
  if (!may_inline(insn) || insn.opsize != 8) return false;
  const int32_t rip = field(offsetof(CpuState, rip));
  const int32_t rsp = gpr_at(RSP);
  // RIP + length + displacement into r, to the handler (#GP(0)) unless canonical (near_target).
  auto relative_target = [&](Reg64 r) {
    e.load_rbx(r, rip);
    e.add_imm(r, static_cast<int32_t>(insn.len + insn.imm + rip_pending));
    slow->push_back(emit_canonical_check(e, r));
  };
  switch (insn.op) {
    case Op::JCC: {
      if (!emit_host_flags(e, flags, insn.cond)) return false;
      const X86Emitter::Label taken = e.jcc(insn.cond);
      e.add_rbx_imm(rip, insn.len + rip_pending);
      // With `tail`, each path ends the block itself (its own chain exit: each path's slot
      // tests and indirect jump then see one successor, which the host predicts; through one
      // shared exit the first slot test mispredicted whenever the branch went the other way).
      X86Emitter::Label done{};
      if (tail)
        tail(false);
      else
        done = e.jmp_forward();
      e.bind(taken);
      relative_target(Reg64::RCX);
      e.store_rbx(rip, Reg64::RCX);
      if (tail)
        tail(true);
      else
        e.bind(done);
      return true;
    }
    case Op::JMP:
      if (insn.dst.kind != OpKind::Imm) return false;
      relative_target(Reg64::RCX);
      e.store_rbx(rip, Reg64::RCX);
      return true;
    case Op::CALL:
      if (insn.dst.kind != OpKind::Imm) return false;
      // The target checked, then the return address pushed (stack_access.h push_value: the slot
      // below RSP, written before RSP moves).
      relative_target(Reg64::RSI);
      e.load_rbx(Reg64::RCX, rsp);
      e.add_imm(Reg64::RCX, -8);
      slow->push_back(emit_tlb_hit(e, 8, true));
      e.load_rbx(Reg64::RAX, rip);
      e.add_imm(Reg64::RAX, insn.len + rip_pending);
      e.store(at(Reg64::RDX), Reg64::RAX);
      e.store_rbx(rsp, Reg64::RCX);
      e.store_rbx(rip, Reg64::RSI);
      return true;
    case Op::RET:
      // The return address read and checked, then RSP released by 8 + imm16.
      e.load_rbx(Reg64::RCX, rsp);
      slow->push_back(emit_tlb_hit(e, 8, false));
      e.load(Reg64::RAX, at(Reg64::RDX));
      slow->push_back(emit_canonical_check(e, Reg64::RAX));
      e.add_imm(Reg64::RCX, 8 + static_cast<uint16_t>(insn.imm));
      e.store_rbx(rsp, Reg64::RCX);
      e.store_rbx(rip, Reg64::RAX);
      return true;
    default:
      return false;
  }
}

}  // namespace

ThreadedCompiler::ThreadedCompiler(const void* chain_exit64, const void* chain_exit_legacy,
                                   const void* jump_cache)
    : chain_exit64_(chain_exit64), chain_exit_legacy_(chain_exit_legacy), jump_cache_(jump_cache) {}

// The code of a block of n instructions (RBX holds the CpuState throughout):
//
//   push rbx; mov rbx, rdi
//   tier1_region = tier1_block = block; profile activity = threaded; ++*entry_counter
//   for each instruction i:
//     (the last one, in a chainable block: tier1_last_rip = rip)
//     mov rdi, rbx; mov rsi, &insn[i]; call handler
//     (all but the last, unless it cannot request an exit: cannot_request_exit)
//       cmp dword [rbx + exit_request], 0; jne leave[i + 1]
//   insn_count += n
//   chainable: if *entry_counter < entry_limit: in 64-bit mode the block's own copy of the chain
//     exit's checks (emit_chain_exit64), else tier1_chain = slots; pop rbx; jmp chain_exit
//   pop rbx; ret
//   leave[k]: mov eax, k; insn_count += rax; pop rbx; ret
//
// exactly what the tier-1 quick level's IR does around its inlined handlers (block_compiler.cpp),
// and what tier 0 does: the same handlers, the same Insn, the same exit tests.
bool ThreadedCompiler::compile(const Block& b, uint64_t* entry_counter, uint64_t entry_limit,
                               Code* out) {
  const uint64_t t0 = now_ns();
  *out = Code{};
  const std::vector<Insn>& insns = b.insns;
  const size_t n = insns.size();
  if (n == 0) return false;
  const bool legacy = (b.mode_key & 1) == 0;
  const void* chain_exit = legacy ? chain_exit_legacy_ : chain_exit64_;
  const bool chains = b.chainable && chain_exit;
  // A block that ends in an inline Jcc may end twice (emit_inline_branch).
  const bool split = chains && !legacy && inline_exit_ && split_exit_ && inline_ &&
                     inline_branch_ && insns.back().op == Op::JCC;
  const size_t max_bytes = kFixedBytes * (split ? 2 : 1) + kPerInsnBytes * n;
  uint8_t* mem = arena_.reserve(max_bytes);
  if (!mem) {
    ++stats_.arena_full;
    return false;
  }
  X86Emitter e(mem, max_bytes);

  // The block's end: the instructions counted, then (chainable, not yet hot) the chain exit;
  // back to the dispatcher if nothing chains. same_page as for emit_chain_exit64.
  // The successor's page offset when a path's successor is on the block's page and follows from
  // the bytes (target_offset >= 0): that path gets a direct link site (DirectSite). Blocks on two
  // pages get none (their last instruction may be on the second page).
  int nsites = 0;
  auto emit_end = [&](int same_page, int64_t target_offset = -1) {
    e.add_rbx_imm(field(offsetof(CpuState, insn_count)), static_cast<int32_t>(n));
    if (chains) {
      X86Emitter::Label counted{};
      // A counter that cannot reach its limit (compile-everything: ~0) needs no test.
      if (entry_counter && entry_limit != ~uint64_t{0}) {
        e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(entry_counter));
        if (entry_limit <= 0x7fffffff) {
          e.cmp_at_rax_imm(static_cast<int32_t>(entry_limit));
        } else {
          e.mov_imm(Reg64::RCX, entry_limit);
          e.cmp_at_rax(Reg64::RCX);
        }
        counted = e.jcc(X86Emitter::kAE);
      }
      if (!legacy && inline_exit_) {
        DirectSite* site = nullptr;
        if (direct_links_ && same_page == 1 && target_offset >= 0 && nsites < 2 &&
            b.page2 == ~uint64_t{0}) {
          site = &out->sites[nsites++];
          site->target_offset = static_cast<uint32_t>(target_offset);
        }
        emit_chain_exit64(e, b, same_page, site);
      } else {
        e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(b.chain));
        e.store_rbx(field(offsetof(CpuState, tier1_chain)), Reg64::RAX);
        e.mov(Reg64::RDI, Reg64::RBX);
        e.pop_rbx();
        e.jmp(chain_exit);
      }
      e.bind(counted);
    }
    e.pop_rbx();
    e.ret();
  };
  // A split Jcc's two ends know whether the new RIP is on the last instruction's page.
  bool split_done = false;
  auto split_end = [&](bool taken) {
    split_done = true;
    const int64_t next = jcc_path_offset(b, taken);
    emit_end(on_page(next) ? 1 : 0, on_page(next) ? next : -1);
    ++stats_.split_exits;
  };

  e.push_rbx();
  e.mov(Reg64::RBX, Reg64::RDI);
  // Direct links from threaded code enter here, with RBX set and saved (DirectSite).
  if (e.size() != kLinkedEntry) return false;
  e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(&b));
  e.store_rbx(field(offsetof(CpuState, tier1_region)), Reg64::RAX);
  e.store_rbx(field(offsetof(CpuState, tier1_block)), Reg64::RAX);
  e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(&profile::g_activity));
  e.store8_at_rax(profile::kThreaded);
  if (entry_counter) {
    e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(entry_counter));
    e.inc_at_rax();
  }
  std::vector<X86Emitter::Label> leave(n);
  // Inline instructions advance RIP together: the sum is added before the next handler call
  // (handlers read RIP) and at the end.
  int32_t rip_pending = 0;
  auto flush_rip = [&] {
    if (rip_pending) e.add_rbx_imm(field(offsetof(CpuState, rip)), rip_pending);
    rip_pending = 0;
  };
  KnownFlags flags;  // the lazy record, where the block's own instructions tell
  const std::vector<bool> flags_dead = dead_flags(insns);
  std::vector<X86Emitter::Label> slow;
  for (size_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    const Insn& insn = insns[i];
    const KnownFlags flags_before = flags;
    // A producer whose flags are dead may leave the record as it was.
    flags = flags_dead[i] ? KnownFlags{} : flags_after(insn, flags);
    if (last && chains) {
      flush_rip();
      e.load_rbx(Reg64::RAX, field(offsetof(CpuState, rip)));
      e.store_rbx(field(offsetof(CpuState, tier1_last_rip)), Reg64::RAX);
    }
    if (!legacy && inline_ &&
        emit_inline(e, insn, rip_pending, flags_before, flags_dead_ && flags_dead[i])) {
      rip_pending += insn.len;
      ++stats_.inlined;
      if (flags_dead_ && flags_dead[i] && flag_use(insn) != FlagUse::kNone) ++stats_.flags_dead;
      continue;
    }
    // A memory access's TLB hit or a branch inline; on a miss (or what else the fast path
    // leaves out) its handler runs, below. Neither fast path writes RIP before its end: a memory
    // access's leaves the advance pending (one add per block instead of a read-modify-write of
    // RIP per access, each waiting for the last one's store), a branch's writes the final RIP.
    // The way to the handler adds what is pending first.
    X86Emitter::Label miss{}, hit{};
    slow.clear();
    bool fast = false, memory_fast = false;
    const int32_t pending_before = rip_pending;
    if (!legacy && inline_ && inline_memory_ &&
        emit_inline_memory(e, insn, flags_before, rip_pending, &miss)) {
      slow.push_back(miss);
      fast = memory_fast = true;
      ++stats_.inlined_memory;
    } else if (!legacy && inline_ && inline_branch_ &&
               emit_inline_branch(e, insn, flags_before, rip_pending, &slow,
                                  last && split ? std::function<void(bool)>(split_end)
                                                : std::function<void(bool)>())) {
      fast = true;
      rip_pending = 0;  // the fast path wrote the branch's RIP
      ++stats_.inlined_branches;
    } else {
      if (insn.op == Op::JCC) ++stats_.branches_flags_unknown;
      flush_rip();
    }
    if (fast) {
      hit = e.jmp_forward();
      for (const X86Emitter::Label& l : slow) e.bind(l);
      if (pending_before) e.add_rbx_imm(field(offsetof(CpuState, rip)), pending_before);
    }
    e.mov(Reg64::RDI, Reg64::RBX);
    e.mov_imm(Reg64::RSI, reinterpret_cast<uint64_t>(&insn));
    e.call(reinterpret_cast<const void*>(insn.fn));
    if (!last) {
      if (cannot_request_exit(insn)) {
        ++stats_.exit_tests_left_out;
      } else {
        ++stats_.exit_tests;
        e.cmp_rbx32_zero(field(offsetof(CpuState, exit_request)));
        leave[i + 1] = e.jcc(X86Emitter::kNE);
      }
    }
    if (memory_fast) {
      // The handler left RIP past the instruction; the fast path left it where it was, with
      // the advance pending. Join as the fast path: take the handler's path's advance back.
      const int32_t advance = pending_before + insn.len;
      e.add_rbx_imm(field(offsetof(CpuState, rip)), -advance);
      rip_pending = advance;
    }
    if (fast) e.bind(hit);
  }
  flush_rip();
  if (split_done) {
    // Only the branch's handler comes here (its target was not canonical, so it raised #GP
    // and does not return in practice): back to the dispatcher, without a chain exit.
    e.add_rbx_imm(field(offsetof(CpuState, insn_count)), static_cast<int32_t>(n));
    e.pop_rbx();
    e.ret();
  } else {
    emit_end(legacy ? -1 : static_same_page(b), legacy ? -1 : static_target_offset(b));
  }
  // The early exits: after instruction k - 1 set exit_request, k instructions completed.
  uint8_t* leave_common = nullptr;
  for (size_t k = 1; k < n; ++k) {
    if (!leave[k].rel32) continue;  // no test after instruction k - 1
    e.bind(leave[k]);
    e.mov_imm(Reg64::RAX, k);
    if (!leave_common) {
      leave_common = e.pos();
      e.add_rbx(field(offsetof(CpuState, insn_count)), Reg64::RAX);
      e.pop_rbx();
      e.ret();
    } else {
      e.bind_to(e.jmp_forward(), leave_common);
    }
  }
  if (!e.ok()) {  // cannot happen with the bounds above; never run half-written code
    ++stats_.arena_full;
    return false;
  }
  out->fn = reinterpret_cast<BlockFn>(mem);
  out->handle = arena_.commit(e.size());
  ++stats_.blocks;
  stats_.insns += n;
  stats_.bytes += e.size();
  publish_code("th", b.paddr, mem, e.size());
  stats_.ns += now_ns() - t0;
  return true;
}

// The fast TLB's exec entry for the RIP in RCX (softmmu/access.h): branches to the returned
// label unless it maps RIP's page, else leaves the host address of RIP in RDX (clobbers RDI).
// A clean boundary: budget left, the stop word clear, neither TF nor RF (which only the block's
// last instruction can have set: trap_flags_unchanged). `cpu` holds the CpuState; each failed
// check is a jump added to *fail.
void ThreadedCompiler::emit_clean_boundary_checks(X86Emitter& e, const Block& b, Reg64 cpu,
                                                  std::vector<X86Emitter::Label>* fail) {
  e.load(Reg64::RAX, at(cpu, field(offsetof(CpuState, insn_count))));
  e.cmp(Reg64::RAX, at(cpu, field(offsetof(CpuState, insn_limit))));
  fail->push_back(e.jcc(X86Emitter::kAE));
  e.cmp_zero(at(cpu, field(offsetof(CpuState, exit_request))));
  fail->push_back(e.jcc(X86Emitter::kNE));
  if (!trap_flags_unchanged(b.insns.back())) {
    e.test32_imm(at(cpu, field(offsetof(CpuState, rflags))),
                 static_cast<uint32_t>(rf::TF | rf::RF));
    fail->push_back(e.jcc(X86Emitter::kNE));
  }
}

X86Emitter::Label ThreadedCompiler::emit_exec_translation(X86Emitter& e) {
  const int32_t tlb = field(offsetof(CpuState, tlb));
  e.mov(Reg64::RDI, Reg64::RCX);
  e.shr(Reg64::RDI, kTlbIndexShift);
  e.and_(Reg64::RDI, at(Reg64::RBX, field(offsetof(CpuState, tlb_mask))));
  e.add(Reg64::RDI, at(Reg64::RBX, field(offsetof(CpuState, tlb_offset))));
  e.mov(Reg64::RDX, Reg64::RCX);
  e.and_imm(Reg64::RDX, static_cast<int32_t>(kPageMask));
  e.cmp(Reg64::RDX, at(Reg64::RBX, Reg64::RDI, tlb + field(offsetof(TlbEntry, tag_exec))));
  const X86Emitter::Label unmapped = e.jcc(X86Emitter::kNE);
  e.mov(Reg64::RDX, Reg64::RCX);
  e.add(Reg64::RDX, at(Reg64::RBX, Reg64::RDI, tlb + field(offsetof(TlbEntry, addend))));
  return unmapped;
}

// The chain exit of jit/tier1/chain_exit.cpp for 64-bit mode, written into the block with its
// slots' address as a constant (docs/jit.md "Threaded code"): the same checks, but each block
// has its own indirect jump to its successor, which the host's branch predictor learns per
// block; through the one shared exit, every block end was the same jump with a thousand targets.
// Falls through (to the block's return) when the boundary is not clean or no slot matches.
void ThreadedCompiler::emit_chain_exit64(X86Emitter& e, const Block& b, int same_page,
                                         DirectSite* site, bool checks) {
  std::vector<X86Emitter::Label> done;
  if (checks) emit_clean_boundary_checks(e, b, Reg64::RBX, &done);
  if (site) {
    // The direct link: into a successor's threaded code past its prologue, or as below into any
    // code, once the engine links one of the two jumps (displacement 0: on to the next).
    const X86Emitter::Label to_threaded = e.jmp_forward();
    e.bind(to_threaded);
    e.mov(Reg64::RDI, Reg64::RBX);
    e.pop_rbx();
    const X86Emitter::Label to_any = e.jmp_forward();
    e.bind(to_any);
    if (to_any.rel32 == to_threaded.rel32 + kSecondJump) {
      site->rel32 = to_threaded.rel32;
      ++stats_.direct_sites;
    }
    e.push_rbx();
    e.mov(Reg64::RBX, Reg64::RDI);
  }
  e.load(Reg64::RCX, at(Reg64::RBX, field(offsetof(CpuState, rip))));
  for (int k = 0; k < 2; ++k) {
    std::vector<X86Emitter::Label> miss;
    // RCX: the new RIP; RSI: the slot; RAX: its code; RDX: nonzero when RIP left the page of
    // the last instruction.
    e.mov_imm(Reg64::RSI, reinterpret_cast<uint64_t>(&b.chain[k]));
    e.cmp(Reg64::RCX, at(Reg64::RSI, field(offsetof(ChainSlot, rip))));
    miss.push_back(e.jcc(X86Emitter::kNE));
    e.load(Reg64::RAX, at(Reg64::RSI, field(offsetof(ChainSlot, fn))));
    e.test(Reg64::RAX, Reg64::RAX);
    miss.push_back(e.jcc(X86Emitter::kE));
    X86Emitter::Label other_page{};
    if (same_page < 0) {
      e.load(Reg64::RDX, at(Reg64::RBX, field(offsetof(CpuState, tier1_last_rip))));
      e.xor_(Reg64::RDX, Reg64::RCX);
      e.shr(Reg64::RDX, kPageShift);
    }
    e.load(Reg64::RSI, at(Reg64::RSI, field(offsetof(ChainSlot, host))));
    if (same_page < 0) {
      e.test(Reg64::RDX, Reg64::RDX);
      other_page = e.jcc(X86Emitter::kNE);
    }
    // A successor on this page is linked with no host address.
    uint8_t* jump = nullptr;
    if (same_page != 0) {
      e.test(Reg64::RSI, Reg64::RSI);
      miss.push_back(e.jcc(X86Emitter::kNE));
      jump = e.pos();
      e.mov(Reg64::RDI, Reg64::RBX);
      e.pop_rbx();
      e.jmp(Reg64::RAX);
    }
    if (same_page == 1) {
      for (const X86Emitter::Label& l : miss) e.bind(l);
      continue;
    }
    // One on another page, with the host address the fast TLB's exec entry for RIP must still
    // lead to (as find_block checks a jump-cache hit).
    if (same_page < 0) e.bind(other_page);
    e.test(Reg64::RSI, Reg64::RSI);
    miss.push_back(e.jcc(X86Emitter::kE));
    miss.push_back(emit_exec_translation(e));
    e.cmp(Reg64::RDX, Reg64::RSI);
    if (jump) {
      e.bind_to(e.jcc(X86Emitter::kE), jump);
    } else {
      const X86Emitter::Label mismatch = e.jcc(X86Emitter::kNE);
      e.mov(Reg64::RDI, Reg64::RBX);
      e.pop_rbx();
      e.jmp(Reg64::RAX);
      e.bind(mismatch);
    }
    for (const X86Emitter::Label& l : miss) e.bind(l);
  }
  if (jump_cache_ && jump_probe_ && ends_indirect(b)) emit_jump_cache_probe(e, b);
  for (const X86Emitter::Label& l : done) e.bind(l);
}

// After a return or an indirect jump or call whose target no slot holds (a function returns to
// many callers; two slots hold two), the successor is looked up where the dispatcher would find
// it: the engine's jump cache, validated the same way (find_block): same RIP and mode, a valid
// block on one page, with code, and the fast TLB's exec entry for RIP leading to its bytes.
// Without it, these block ends were most of the returns to the dispatcher in the Linux boot
// test (10.5 of 18 million, nearly all RET). The jump cache itself is filled by the dispatcher.
// RCX holds the new RIP.
void ThreadedCompiler::emit_jump_cache_probe(X86Emitter& e, const Block& b) {
  std::vector<X86Emitter::Label> miss;
  // RSI = &jump_cache[(rip ^ (rip >> 12)) & 4095] (BlockCache::jump_index).
  static_assert(sizeof(BlockCache::JumpEntry) == 24);
  e.mov(Reg64::RAX, Reg64::RCX);
  e.shr(Reg64::RAX, BlockCache::kJumpCacheBits);
  e.xor_(Reg64::RAX, Reg64::RCX);
  e.and_imm(Reg64::RAX, BlockCache::kJumpCacheSize - 1);
  e.imul_imm8(Reg64::RAX, Reg64::RAX, sizeof(BlockCache::JumpEntry));
  e.mov_imm(Reg64::RSI, reinterpret_cast<uint64_t>(jump_cache_));
  e.add(Reg64::RSI, Reg64::RAX);
  e.cmp(Reg64::RCX, at(Reg64::RSI, field(offsetof(BlockCache::JumpEntry, rip))));
  miss.push_back(e.jcc(X86Emitter::kNE));
  e.cmp32_imm(at(Reg64::RSI, field(offsetof(BlockCache::JumpEntry, mode_key))), b.mode_key);
  miss.push_back(e.jcc(X86Emitter::kNE));
  e.load(Reg64::RSI, at(Reg64::RSI, field(offsetof(BlockCache::JumpEntry, block))));
  const BlockOffsets& o = block_offsets();
  e.cmp8_imm(at(Reg64::RSI, o.valid), 0);
  miss.push_back(e.jcc(X86Emitter::kE));
  e.cmp_imm8(at(Reg64::RSI, o.page2), -1);
  miss.push_back(e.jcc(X86Emitter::kNE));
  e.load(Reg64::RAX, at(Reg64::RSI, o.code));
  e.test(Reg64::RAX, Reg64::RAX);
  miss.push_back(e.jcc(X86Emitter::kE));
  miss.push_back(emit_exec_translation(e));
  e.cmp(Reg64::RDX, at(Reg64::RSI, o.host));
  miss.push_back(e.jcc(X86Emitter::kNE));
  e.mov(Reg64::RDI, Reg64::RBX);
  e.pop_rbx();
  e.jmp(Reg64::RAX);
  for (const X86Emitter::Label& l : miss) e.bind(l);
  ++stats_.jump_probes;
}

bool ThreadedCompiler::compile_chain_exit(const Block& b, Code* out, int path) {
  *out = Code{};
  constexpr size_t kMaxBytes = kExitBytes + 32;
  uint8_t* mem = arena_.reserve(kMaxBytes);
  if (!mem) {
    ++stats_.arena_full;
    return false;
  }
  X86Emitter e(mem, kMaxBytes);
  int same_page = static_same_page(b);
  int64_t target = same_page == 1 ? static_target_offset(b) : -1;
  if (path >= 0) {
    target = jcc_path_offset(b, path == 1);
    same_page = on_page(target) ? 1 : 0;
  }
  DirectSite* site = nullptr;
  if (direct_links_ && same_page == 1 && target >= 0 && b.page2 == ~uint64_t{0}) {
    site = &out->sites[0];
    site->target_offset = static_cast<uint32_t>(target);
  }
  // The clean-boundary checks with the CpuState still in RDI: a successor that is not threaded
  // code (quick code, a region) is then one jump away, and RBX is saved only on the way into
  // threaded code (entered past its prologue) or to the slot tests.
  std::vector<X86Emitter::Label> leave;
  emit_clean_boundary_checks(e, b, Reg64::RDI, &leave);
  if (site) {
    const X86Emitter::Label to_any = e.jmp_forward();
    e.bind(to_any);
    e.push_rbx();
    e.mov(Reg64::RBX, Reg64::RDI);
    const X86Emitter::Label to_threaded = e.jmp_forward();
    e.bind(to_threaded);
    if (to_threaded.rel32 == to_any.rel32 + kSecondJump) {
      site->rel32 = to_any.rel32;
      site->any_first = true;
      ++stats_.direct_sites;
    } else {
      *site = DirectSite{};
    }
  } else {
    e.push_rbx();
    e.mov(Reg64::RBX, Reg64::RDI);
  }
  emit_chain_exit64(e, b, same_page, nullptr, false);
  e.pop_rbx();
  e.ret();
  for (const X86Emitter::Label& l : leave) e.bind(l);
  e.ret();
  if (!e.ok()) {
    ++stats_.arena_full;
    return false;
  }
  out->fn = reinterpret_cast<BlockFn>(mem);
  out->handle = arena_.commit(e.size());
  publish_code(path == 1 ? "exit_taken" : "exit", b.paddr, mem, e.size());
  ++stats_.chain_exits;
  return true;
}

bool ThreadedCompiler::link(const DirectSite& site, const void* target, bool threaded) {
  uint8_t* const rel32 = site.rel32;
  const bool first = threaded != site.any_first;  // which of the two jumps this target takes
  uint8_t* const patched = first ? rel32 : rel32 + kSecondJump;
  uint8_t* const other = first ? rel32 + kSecondJump : rel32;
  int64_t rel = 0;
  if (target) {
    const uint8_t* entry = static_cast<const uint8_t*>(target) + (threaded ? kLinkedEntry : 0);
    rel = reinterpret_cast<intptr_t>(entry) - reinterpret_cast<intptr_t>(patched + 4);
    if (rel != static_cast<int32_t>(rel)) rel = 0;
  }
  const int32_t rel32_value = static_cast<int32_t>(rel), zero = 0;
  // The CPU thread patches its own code between blocks: nothing runs it meanwhile, and the
  // processor sees its own stores to code (SDM vol. 3, 11.6).
  std::memcpy(other, &zero, 4);
  std::memcpy(patched, &rel32_value, 4);
  return rel != 0 || !target;
}

void ThreadedCompiler::release(uint32_t handle) {
  arena_.release(handle);
  ++stats_.released;
}

}  // namespace umbra::threaded
