// The few x86-64 instructions threaded code is made of (jit/threaded/threaded_compiler.cpp),
// encoded straight into executable memory. Encodings: Intel SDM vol. 2, chapter 2 (REX, ModRM,
// SIB) and the instruction pages of CALL, JMP, Jcc, MOV, ADD, CMP, INC, PUSH, POP, RET.
//
// Only what the threaded compiler needs: the CpuState pointer lives in RBX (callee-saved, so it
// survives the handler calls), RAX, RCX, RDX are scratch, RDI and RSI carry a handler's
// arguments. Only the eight legacy registers are used (no REX.R/X/B), and never RSP, RBP, R12
// or R13 as a base (their ModRM forms are special).
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>

namespace umbra::threaded {

enum class Reg64 : uint8_t { RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSI = 6, RDI = 7 };

// A memory operand [base + index + disp] (index optional, scale 1).
struct Mem {
  Reg64 base;
  int32_t disp = 0;
  bool has_index = false;
  Reg64 index = Reg64::RAX;
};
inline Mem at(Reg64 base, int32_t disp = 0) {
  return Mem{base, disp};
}
inline Mem at(Reg64 base, Reg64 index, int32_t disp) {
  return Mem{base, disp, true, index};
}

class X86Emitter {
 public:
  X86Emitter(uint8_t* begin, size_t capacity) : begin_(begin), end_(begin + capacity), p_(begin) {}

  uint8_t* pos() const { return p_; }
  size_t size() const { return static_cast<size_t>(p_ - begin_); }
  // False once an instruction did not fit (nothing beyond the capacity was written).
  bool ok() const { return ok_; }

  void push_rbx() { byte(0x53); }
  void pop_rbx() { byte(0x5b); }
  // pushfq (9C); pop rcx (59).
  void pushfq() { byte(0x9c); }
  void pop_rcx() { byte(0x59); }
  void ret() { byte(0xc3); }

  // mov dst, src (64-bit registers): REX.W 89 /r.
  void mov(Reg64 dst, Reg64 src) { bytes({0x48, 0x89, modrm(3, r(src), r(dst))}); }
  // mov dst, imm64 (REX.W B8+r), or the shorter mov r32, imm32 (zero-extends) when it fits.
  void mov_imm(Reg64 dst, uint64_t imm) {
    if (imm <= 0xffffffffu) {
      byte(static_cast<uint8_t>(0xb8 + r(dst)));
      u32(static_cast<uint32_t>(imm));
    } else {
      bytes({0x48, static_cast<uint8_t>(0xb8 + r(dst))});
      u64(imm);
    }
  }
  // mov [rbx + disp], src / mov dst, [rbx + disp] (64-bit).
  void store_rbx(int32_t disp, Reg64 src) { rbx_rm({0x48, 0x89}, r(src), disp); }
  void load_rbx(Reg64 dst, int32_t disp) { rbx_rm({0x48, 0x8b}, r(dst), disp); }
  // mov dst32, [rbx + disp]: 8B /r without REX.W (zero-extends into the 64-bit register).
  void load_rbx32(Reg64 dst, int32_t disp) { rbx_rm({0x8b}, r(dst), disp); }
  // mov word [rbx + disp], imm16 (66 C7 /0 iw) and mov byte [rbx + disp], imm8 (C6 /0 ib).
  void store_rbx16_imm(int32_t disp, uint16_t imm) {
    rbx_rm({0x66, 0xc7}, 0, disp);
    bytes({static_cast<uint8_t>(imm), static_cast<uint8_t>(imm >> 8)});
  }
  void store_rbx8_imm(int32_t disp, uint8_t imm) {
    rbx_rm({0xc6}, 0, disp);
    byte(imm);
  }
  // Two-register ALU operations in the "op r/m, r" direction (dst = dst op src), 64-bit with
  // REX.W or 32-bit without (which zero-extends dst): ADD 01, OR 09, AND 21, SUB 29, XOR 31.
  enum Alu : uint8_t { kAdd = 0x01, kOr = 0x09, kAnd = 0x21, kSub = 0x29, kXor = 0x31 };
  void alu(Alu op, Reg64 dst, Reg64 src, bool wide) {
    if (wide) byte(0x48);
    bytes({static_cast<uint8_t>(op), modrm(3, r(src), r(dst))});
  }
  // ALU operations in the "op r, r/m" direction with a memory source, 64-bit with REX.W or
  // 32-bit without: ADD 03, OR 0B, AND 23, SUB 2B, XOR 33, CMP 3B (the Alu code + 2, and CMP).
  static constexpr uint8_t kCmpLoad = 0x3b;
  void alu_load(uint8_t opcode, Reg64 dst, Mem m, bool wide) {
    if (wide)
      mem_op({0x48, opcode}, r(dst), m);
    else
      mem_op({opcode}, r(dst), m);
  }
  // test a, b at 64 or 32 bits (85 /r).
  void test(Reg64 a, Reg64 b, bool wide) {
    if (wide) byte(0x48);
    bytes({0x85, modrm(3, r(b), r(a))});
  }
  // Shift or rotate by an immediate, 64-bit with REX.W or 32-bit without (zero-extends):
  // C1 /ext ib, ext 0 ROL, 1 ROR, 4 SHL, 5 SHR, 7 SAR.
  // The same at 16 bits: 66 C1 /ext ib.
  void shift_imm16(uint8_t ext, Reg64 dst, uint8_t n) {
    bytes({0x66, 0xc1, modrm(3, ext, r(dst)), n});
  }
  void shift_imm(uint8_t ext, Reg64 dst, uint8_t n, bool wide) {
    if (wide) byte(0x48);
    bytes({0xc1, modrm(3, ext, r(dst)), n});
  }
  // sar dst, n (REX.W C1 /7 ib).
  void sar(Reg64 dst, uint8_t n) { bytes({0x48, 0xc1, modrm(3, 7, r(dst)), n}); }
  // setcc dst8 (0F 90+cc /0): AL, CL, DL, BL only (no REX).
  void setcc(uint8_t cc, Reg64 dst) {
    bytes({0x0f, static_cast<uint8_t>(0x90 | cc), modrm(3, 0, r(dst))});
  }
  // movzx dst32, src8/src16 (0F B6 /r, 0F B7 /r): src AL, CL, DL or BL for bytes.
  void movzx_reg(Reg64 dst, Reg64 src, unsigned from_size) {
    bytes({0x0f, static_cast<uint8_t>(from_size == 1 ? 0xb6 : 0xb7), modrm(3, r(dst), r(src))});
  }
  // The 8- or 16-bit forms of "op r, r/m" (`opcode8`: CMP 3A, ADD 02; the word form is 66 and
  // opcode8 + 1) and of test r, r (84 /r, 66 85 /r).
  void alu_load_narrow(uint8_t opcode8, Reg64 dst, Mem m, unsigned size) {
    if (size == 1)
      mem_op({opcode8}, r(dst), m);
    else
      mem_op({0x66, static_cast<uint8_t>(opcode8 + 1)}, r(dst), m);
  }
  void test_narrow(Reg64 a, Reg64 b, unsigned size) {
    if (size == 2) byte(0x66);
    bytes({static_cast<uint8_t>(size == 1 ? 0x84 : 0x85), modrm(3, r(b), r(a))});
  }
  // imul dst, src ([REX.W] 0F AF /r) and imul dst, src, imm32 ([REX.W] 69 /r id), at 64 or 32
  // bits (the 32-bit forms zero-extend dst).
  void imul(Reg64 dst, Reg64 src, bool wide) {
    if (wide) byte(0x48);
    bytes({0x0f, 0xaf, modrm(3, r(dst), r(src))});
  }
  void imul_imm(Reg64 dst, Reg64 src, int32_t imm, bool wide) {
    if (wide) byte(0x48);
    bytes({0x69, modrm(3, r(dst), r(src))});
    u32(static_cast<uint32_t>(imm));
  }
  // cmovcc dst, src at 64 or 32 bits (0F 40+cc /r; the 32-bit form zero-extends dst either way).
  void cmov(uint8_t cc, Reg64 dst, Reg64 src, bool wide) {
    if (wide) byte(0x48);
    bytes({0x0f, static_cast<uint8_t>(0x40 | (cc & 0xf)), modrm(3, r(dst), r(src))});
  }
  // mov byte [rbx + disp], src8 (88 /r): AL, CL, DL, BL only.
  void store_rbx8(int32_t disp, Reg64 src) { rbx_rm({0x88}, r(src), disp); }
  // Guest-memory accesses through a host address: mov dst32, [m] (8B, zero-extends) and
  // mov [m], src32 (89), without REX.W.
  void load32(Reg64 dst, Mem m) { mem_op({0x8b}, r(dst), m); }
  void store32(Mem m, Reg64 src) { mem_op({0x89}, r(src), m); }
  // Byte and word moves (8A/88, 66 8B/66 89: only the low byte or word of the register; AL, CL,
  // DL or BL for bytes, which need no REX) and stores of an immediate (C6 /0 ib, 66 C7 /0 iw).
  void load_narrow(Reg64 dst, Mem m, unsigned size) {
    if (size == 1)
      mem_op({0x8a}, r(dst), m);
    else
      mem_op({0x66, 0x8b}, r(dst), m);
  }
  void store_narrow(Mem m, Reg64 src, unsigned size) {
    if (size == 1)
      mem_op({0x88}, r(src), m);
    else
      mem_op({0x66, 0x89}, r(src), m);
  }
  void store_narrow_imm(Mem m, uint16_t imm, unsigned size) {
    if (size == 1) {
      mem_op({0xc6}, 0, m);
      byte(static_cast<uint8_t>(imm));
    } else {
      mem_op({0x66, 0xc7}, 0, m);
      bytes({static_cast<uint8_t>(imm), static_cast<uint8_t>(imm >> 8)});
    }
  }
  // movzx dst32, byte/word [m] (0F B6 / 0F B7: zero-extends to 64 bits), movsx dst, byte/word
  // [m] (0F BE / 0F BF; with REX.W to 64 bits, else to 32 bits, zero-extended above).
  void movx(Reg64 dst, Mem m, bool sign, unsigned from_size, bool wide) {
    if (from_size == 4) {  // movsxd dst, dword [m] (REX.W 63 /r)
      mem_op({0x48, 0x63}, r(dst), m);
      return;
    }
    const uint8_t op = static_cast<uint8_t>((sign ? 0xbe : 0xb6) + (from_size == 2 ? 1 : 0));
    if (sign && wide)
      mem_op({0x48, 0x0f, op}, r(dst), m);
    else
      mem_op({0x0f, op}, r(dst), m);
  }
  // lea dst, [m] (REX.W 8D); mov dst32, src32 (89, zero-extends: truncates to 32 bits);
  // shl dst, n (REX.W C1 /4 ib); add dst, imm32 (REX.W 81 /0 id).
  void lea(Reg64 dst, Mem m) { mem_op({0x48, 0x8d}, r(dst), m); }
  void mov32(Reg64 dst, Reg64 src) { bytes({0x89, modrm(3, r(src), r(dst))}); }
  void shl(Reg64 dst, uint8_t n) { bytes({0x48, 0xc1, modrm(3, 4, r(dst)), n}); }
  void add_imm(Reg64 dst, int32_t imm) {
    bytes({0x48, 0x81, modrm(3, 0, r(dst))});
    u32(static_cast<uint32_t>(imm));
  }
  // add qword [rbx + disp], imm32 (sign-extended): REX.W 81 /0 id.
  void add_rbx_imm(int32_t disp, int32_t imm) {
    rbx_rm({0x48, 0x81}, 0, disp);
    u32(static_cast<uint32_t>(imm));
  }
  // add qword [rbx + disp], src: REX.W 01 /r.
  void add_rbx(int32_t disp, Reg64 src) { rbx_rm({0x48, 0x01}, r(src), disp); }
  // cmp dword [rbx + disp], 0: 83 /7 ib.
  void cmp_rbx32_zero(int32_t disp) {
    rbx_rm({0x83}, 7, disp);
    byte(0);
  }
  // Loads, stores and ALU operations on 64-bit registers and memory (REX.W forms):
  // mov r, m (8B); mov m, r (89); add/and/xor/cmp r, m (03/23/33/3B).
  void load(Reg64 dst, Mem m) { mem_op({0x48, 0x8b}, r(dst), m); }
  void store(Mem m, Reg64 src) { mem_op({0x48, 0x89}, r(src), m); }
  void add(Reg64 dst, Mem m) { mem_op({0x48, 0x03}, r(dst), m); }
  void and_(Reg64 dst, Mem m) { mem_op({0x48, 0x23}, r(dst), m); }
  void cmp(Reg64 dst, Mem m) { mem_op({0x48, 0x3b}, r(dst), m); }
  // xor r, r (31 /r); test r, r (85 /r); cmp r, r (39 /r).
  void xor_(Reg64 dst, Reg64 src) { bytes({0x48, 0x31, modrm(3, r(src), r(dst))}); }
  void test(Reg64 a, Reg64 b) { bytes({0x48, 0x85, modrm(3, r(b), r(a))}); }
  void cmp(Reg64 a, Reg64 b) { bytes({0x48, 0x39, modrm(3, r(b), r(a))}); }
  // shr r, imm8 (C1 /5 ib); and r, simm32 (81 /4 id).
  void shr(Reg64 dst, uint8_t n) { bytes({0x48, 0xc1, modrm(3, 5, r(dst)), n}); }
  void and_imm(Reg64 dst, int32_t imm) {
    bytes({0x48, 0x81, modrm(3, 4, r(dst))});
    u32(static_cast<uint32_t>(imm));
  }
  // cmp qword m, simm8 (REX.W 83 /7 ib); cmp dword m, imm32 (81 /7 id); cmp byte m, imm8
  // (80 /7 ib); test dword m, imm32 (F7 /0 id).
  void cmp_zero(Mem m) { cmp_imm8(m, 0); }
  void cmp_imm8(Mem m, int8_t imm) {
    mem_op({0x48, 0x83}, 7, m);
    byte(static_cast<uint8_t>(imm));
  }
  void cmp32_imm(Mem m, uint32_t imm) {
    mem_op({0x81}, 7, m);
    u32(imm);
  }
  void cmp8_imm(Mem m, uint8_t imm) {
    mem_op({0x80}, 7, m);
    byte(imm);
  }
  // add r, r (REX.W 01 /r); imul dst, src, simm8 (REX.W 6B /r ib).
  void add(Reg64 dst, Reg64 src) { bytes({0x48, 0x01, modrm(3, r(src), r(dst))}); }
  void imul_imm8(Reg64 dst, Reg64 src, int8_t imm) {
    bytes({0x48, 0x6b, modrm(3, r(dst), r(src)), static_cast<uint8_t>(imm)});
  }
  void test32_imm(Mem m, uint32_t imm) {
    mem_op({0xf7}, 0, m);
    u32(imm);
  }
  // jmp r (FF /4).
  void jmp(Reg64 target) { bytes({0xff, modrm(3, 4, r(target))}); }

  // inc qword [rax]: REX.W FF /0.
  void inc_at_rax() { bytes({0x48, 0xff, modrm(0, 0, 0)}); }
  // cmp qword [rax], rcx: REX.W 39 /r.
  void cmp_at_rax(Reg64 src) { bytes({0x48, 0x39, modrm(0, r(src), 0)}); }
  // cmp qword [rax], imm32 (sign-extended): REX.W 81 /7 id.
  void cmp_at_rax_imm(int32_t imm) {
    bytes({0x48, 0x81, modrm(0, 7, 0)});
    u32(static_cast<uint32_t>(imm));
  }
  // mov byte [rax], imm8: C6 /0 ib.
  void store8_at_rax(uint8_t imm) { bytes({0xc6, modrm(0, 0, 0), imm}); }

  // A call or jump to an absolute address: rel32 when in reach from here, else through RAX
  // (mov rax, imm64; call/jmp rax), which the callee may clobber anyway.
  void call(const void* target) { transfer(0xe8, 2, target); }
  void jmp(const void* target) { transfer(0xe9, 4, target); }

  // Forward branches: emit with a placeholder, bind the label once its target is known.
  struct Label {
    uint8_t* rel32 = nullptr;  // where the displacement goes
  };
  // Conditions in the tttn encoding (SDM vol. 1, appendix B.1), the guest's and the host's.
  enum Cond : uint8_t { kB = 0x2, kAE = 0x3, kE = 0x4, kNE = 0x5 };
  Label jcc(uint8_t cc) {
    bytes({0x0f, static_cast<uint8_t>(0x80 | (cc & 0xf))});
    return placeholder();
  }
  Label jmp_forward() {
    byte(0xe9);
    return placeholder();
  }
  // Points the branch at the current position.
  void bind(Label l) {
    if (!l.rel32 || !ok_) return;
    const int32_t rel = static_cast<int32_t>(p_ - (l.rel32 + 4));
    std::memcpy(l.rel32, &rel, 4);
  }
  // Points the branch at `target`, an earlier position in this code.
  void bind_to(Label l, const uint8_t* target) {
    if (!l.rel32 || !ok_) return;
    const int32_t rel = static_cast<int32_t>(target - (l.rel32 + 4));
    std::memcpy(l.rel32, &rel, 4);
  }

 private:
  static uint8_t r(Reg64 reg) { return static_cast<uint8_t>(reg); }
  static uint8_t modrm(uint8_t mod, uint8_t reg, uint8_t rm) {
    return static_cast<uint8_t>((mod << 6) | ((reg & 7) << 3) | (rm & 7));
  }
  bool room(size_t n) {
    if (ok_ && static_cast<size_t>(end_ - p_) >= n) return true;
    ok_ = false;
    return false;
  }
  void byte(uint8_t b) {
    if (room(1)) *p_++ = b;
  }
  void bytes(std::initializer_list<uint8_t> bs) {
    if (!room(bs.size())) return;
    for (uint8_t b : bs) *p_++ = b;
  }
  void u32(uint32_t v) {
    if (!room(4)) return;
    std::memcpy(p_, &v, 4);
    p_ += 4;
  }
  void u64(uint64_t v) {
    if (!room(8)) return;
    std::memcpy(p_, &v, 8);
    p_ += 8;
  }
  // An instruction with a [rbx + disp] memory operand.
  void rbx_rm(std::initializer_list<uint8_t> opcode, uint8_t reg, int32_t disp) {
    mem_op(opcode, reg, at(Reg64::RBX, disp));
  }
  // ModRM (and SIB with an index) for [base + index + disp]: mod 00 without a displacement, 01
  // with a disp8, 10 with a disp32; rm 100 announces a SIB byte (scale 1, index, base).
  void mem_op(std::initializer_list<uint8_t> opcode, uint8_t reg, Mem m) {
    bytes(opcode);
    const uint8_t mod = m.disp == 0 ? 0 : (m.disp >= -128 && m.disp <= 127) ? 1 : 2;
    if (m.has_index) {
      bytes({modrm(mod, reg, 4), modrm(0, r(m.index), r(m.base))});
    } else {
      byte(modrm(mod, reg, r(m.base)));
    }
    if (mod == 1) byte(static_cast<uint8_t>(m.disp));
    if (mod == 2) u32(static_cast<uint32_t>(m.disp));
  }
  Label placeholder() {
    Label l;
    if (room(4)) {
      l.rel32 = p_;
      std::memset(p_, 0, 4);
      p_ += 4;
    }
    return l;
  }
  // E8/E9 rel32 from the end of the 5-byte instruction if it reaches, else mov rax, imm64 and
  // FF /2 (call) or FF /4 (jmp) with rm = RAX.
  void transfer(uint8_t rel_opcode, uint8_t ff_ext, const void* target) {
    const auto t = reinterpret_cast<intptr_t>(target);
    const intptr_t rel = t - reinterpret_cast<intptr_t>(p_ + 5);
    if (rel >= INT32_MIN && rel <= INT32_MAX) {
      byte(rel_opcode);
      u32(static_cast<uint32_t>(static_cast<int32_t>(rel)));
    } else {
      mov_imm(Reg64::RAX, static_cast<uint64_t>(t));
      bytes({0xff, modrm(3, ff_ext, 0)});
    }
  }

  uint8_t* begin_;
  uint8_t* end_;
  uint8_t* p_;
  bool ok_ = true;
};

}  // namespace umbra::threaded
