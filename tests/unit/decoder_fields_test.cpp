// Explicit encodings -> every decoded field the semantics rely on (docs/decoder.md, "Operand
// conventions"), in 64-, 32- and 16-bit modes.
#include <gtest/gtest.h>

#include <climits>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "frontend/decoder_internal.h"
#include "frontend/semantics/registry.h"

namespace umbra {
namespace {

constexpr int64_t kUnchecked = INT64_MIN;

// One expectation. Unset fields are not checked. Operand specs: "-" (None), "m" (Mem),
// "i" (Imm), a register name ("rax".."r15", "ah".."bh", "r0".."r15" numbers), or "n<k>"
// (kind None with reg = k: segment/control/debug register numbers). `mem` lists
// "base index scale disp seg addr_size" with "-" for kNoReg and "rip" for kRipReg.
struct Expect {
  const char* hex;
  Op op;
  int bits = 64;
  int len = 0;  // 0: all bytes of `hex`
  int opsize = 0;
  const char* dst = nullptr;
  const char* src = nullptr;
  const char* src2 = nullptr;
  int64_t imm = kUnchecked;
  int64_t imm2 = kUnchecked;
  const char* mem = nullptr;
  int seg = -1;
  int cond = -1;
  int ext = -1;
  int src_size = -1;
  int vreg = -1;
  int prefixes = -1;
  int attrs = -1;
};

std::vector<uint8_t> parse_hex(const char* hex) {
  std::vector<uint8_t> out;
  for (const char* p = hex; *p;) {
    if (*p == ' ') {
      ++p;
      continue;
    }
    char two[3] = {p[0], p[1], 0};
    out.push_back(static_cast<uint8_t>(std::strtoul(two, nullptr, 16)));
    p += 2;
  }
  return out;
}

int reg_number(const std::string& name) {
  static const char* const k64[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi"};
  static const char* const kHigh[] = {"ah", "ch", "dh", "bh"};
  for (int i = 0; i < 8; ++i)
    if (name == k64[i]) return i;
  for (int i = 0; i < 4; ++i)
    if (name == kHigh[i]) return kRegAH + i;
  if (name == "-") return kNoReg;
  if (name == "rip") return kRipReg;
  if (name.size() >= 2 && name[0] == 'r') return std::atoi(name.c_str() + 1);
  ADD_FAILURE() << "bad register name " << name;
  return -1;
}

void check_operand(const char* what, const Operand& o, const char* spec) {
  if (!spec) return;
  const std::string s = spec;
  SCOPED_TRACE(what);
  if (s == "-") {
    EXPECT_EQ(o.kind, OpKind::None);
  } else if (s == "m") {
    EXPECT_EQ(o.kind, OpKind::Mem);
  } else if (s == "i") {
    EXPECT_EQ(o.kind, OpKind::Imm);
  } else if (s[0] == 'n') {
    EXPECT_EQ(o.kind, OpKind::None);
    EXPECT_EQ(o.reg, std::atoi(s.c_str() + 1));
  } else {
    EXPECT_EQ(o.kind, OpKind::Reg);
    EXPECT_EQ(o.reg, reg_number(s));
  }
}

void check_memory(const Insn& i, const char* spec) {
  if (!spec) return;
  char base[8], index[8], disp[24];
  int scale = 0, seg = 0, asize = 0;
  ASSERT_EQ(std::sscanf(spec, "%7s %7s %d %23s %d %d", base, index, &scale, disp, &seg, &asize), 6)
      << spec;
  // The displacement may be written as a negative number or as a 64-bit pattern.
  const int64_t d = disp[0] == '-' ? std::strtoll(disp, nullptr, 0)
                                   : static_cast<int64_t>(std::strtoull(disp, nullptr, 0));
  EXPECT_EQ(i.base, reg_number(base)) << "base";
  EXPECT_EQ(i.index, reg_number(index)) << "index";
  EXPECT_EQ(i.scale, scale) << "scale";
  EXPECT_EQ(i.disp, d) << "disp";
  EXPECT_EQ(i.seg, seg) << "seg";
  EXPECT_EQ(i.addr_size, asize) << "addr_size";
}

void check(const Expect& e) {
  SCOPED_TRACE(std::string(e.hex) + " (" + std::to_string(e.bits) + "-bit)");
  const std::vector<uint8_t> bytes = parse_hex(e.hex);
  Insn i;
  const DecodeStatus st = decode(bytes.data(), static_cast<unsigned>(bytes.size()),
                                 DecodeMode{e.bits == 64, e.bits != 16}, &i);
  ASSERT_EQ(st, DecodeStatus::Ok);
  EXPECT_EQ(op_name(i.op), std::string(op_name(e.op)));
  EXPECT_EQ(i.len, e.len ? e.len : static_cast<int>(bytes.size())) << "len";
  if (e.opsize) {
    EXPECT_EQ(i.opsize, e.opsize) << "opsize";
  }
  check_operand("dst", i.dst, e.dst);
  check_operand("src", i.src, e.src);
  check_operand("src2", i.src2, e.src2);
  if (e.imm != kUnchecked) {
    EXPECT_EQ(i.imm, static_cast<uint64_t>(e.imm)) << "imm";
  }
  if (e.imm2 != kUnchecked) {
    EXPECT_EQ(i.imm2, e.imm2) << "imm2";
  }
  check_memory(i, e.mem);
  if (e.seg >= 0) {
    EXPECT_EQ(i.seg, e.seg) << "seg";
  }
  if (e.cond >= 0) {
    EXPECT_EQ(i.cond, e.cond) << "cond";
  }
  if (e.ext >= 0) {
    EXPECT_EQ(i.ext, e.ext) << "ext";
  }
  if (e.src_size >= 0) {
    EXPECT_EQ(i.src_size, e.src_size) << "src_size";
  }
  if (e.vreg >= 0) {
    EXPECT_EQ(i.vreg, e.vreg) << "vreg";
  }
  if (e.prefixes >= 0) {
    EXPECT_EQ(i.prefixes, e.prefixes) << "prefixes";
  }
  if (e.attrs >= 0) {
    EXPECT_EQ(i.attrs, e.attrs) << "attrs";
  }
  EXPECT_NE(i.fn, nullptr);  // bound (UD0/UD1/UD2 may bind to handler_ud itself)
}

void check_all(const std::vector<Expect>& cases) {
  for (const Expect& e : cases) check(e);
}

constexpr int kEnds = attr::kEndsBlock;
constexpr int kBranch = attr::kEndsBlock | attr::kWritesRip;

TEST(DecoderFields, BinaryAluForms) {
  check_all({
      {.hex = "00 d8", .op = Op::ADD, .opsize = 1, .dst = "rax", .src = "rbx", .attrs = 0},
      {.hex = "00 e0", .op = Op::ADD, .opsize = 1, .dst = "rax", .src = "ah"},
      {.hex = "40 00 e0",
       .op = Op::ADD,
       .opsize = 1,
       .dst = "rax",
       .src = "rsp",
       .prefixes = pfx::kRex},  // SPL with any REX
      {.hex = "44 00 e0", .op = Op::ADD, .dst = "rax", .src = "r12"},
      {.hex = "41 02 c4", .op = Op::ADD, .dst = "rax", .src = "r12"},  // Gb, Eb
      {.hex = "01 d8", .op = Op::ADD, .opsize = 4, .dst = "rax", .src = "rbx"},
      {.hex = "48 01 d8", .op = Op::ADD, .opsize = 8, .prefixes = pfx::kRex | pfx::kRexW},
      {.hex = "66 01 d8", .op = Op::ADD, .opsize = 2, .prefixes = pfx::kOpsize},
      {.hex = "66 48 01 d8", .op = Op::ADD, .opsize = 8},  // REX.W wins over 66
      {.hex = "48 66 01 d8", .op = Op::ADD, .opsize = 2, .prefixes = pfx::kOpsize},  // REX lost
      {.hex = "48 41 01 d8", .op = Op::ADD, .opsize = 4, .dst = "r8"},  // the last REX counts
      {.hex = "03 c3", .op = Op::ADD, .dst = "rax", .src = "rbx"},
      {.hex = "04 7f", .op = Op::ADD, .opsize = 1, .dst = "rax", .src = "i", .imm = 0x7f},
      {.hex = "05 ff ff ff ff", .op = Op::ADD, .opsize = 4, .dst = "rax", .imm = -1},
      {.hex = "66 05 34 12", .op = Op::ADD, .opsize = 2, .imm = 0x1234},
      {.hex = "48 05 00 00 00 80", .op = Op::ADD, .opsize = 8, .imm = -0x80000000LL},
      {.hex = "80 c0 ff", .op = Op::ADD, .opsize = 1, .dst = "rax", .src = "i", .imm = -1},
      {.hex = "83 c1 ff", .op = Op::ADD, .opsize = 4, .dst = "rcx", .src = "i", .imm = -1},
      {.hex = "48 83 c1 80", .op = Op::ADD, .opsize = 8, .imm = -128},
      {.hex = "81 c0 78 56 34 12", .op = Op::ADD, .imm = 0x12345678},
      {.hex = "66 81 c0 34 12", .op = Op::ADD, .opsize = 2, .imm = 0x1234},
      {.hex = "80 c8 01", .op = Op::OR},
      {.hex = "80 d0 01", .op = Op::ADC},
      {.hex = "80 d8 01", .op = Op::SBB},
      {.hex = "80 e0 01", .op = Op::AND},
      {.hex = "80 e8 01", .op = Op::SUB},
      {.hex = "80 f0 01", .op = Op::XOR},
      {.hex = "80 f8 01", .op = Op::CMP},
      {.hex = "3c 05", .op = Op::CMP, .dst = "rax"},
      {.hex = "08 c1", .op = Op::OR},
      {.hex = "13 c1", .op = Op::ADC},
      {.hex = "1a c1", .op = Op::SBB},
      {.hex = "21 c1", .op = Op::AND},
      {.hex = "29 c1", .op = Op::SUB},
      {.hex = "31 c1", .op = Op::XOR},
      {.hex = "39 c1", .op = Op::CMP},
      {.hex = "84 c1", .op = Op::TEST, .opsize = 1},
      {.hex = "85 c1", .op = Op::TEST, .dst = "rcx", .src = "rax"},
      {.hex = "a8 12", .op = Op::TEST, .opsize = 1, .dst = "rax", .src = "i", .imm = 0x12},
      {.hex = "48 a9 ff ff ff ff", .op = Op::TEST, .opsize = 8, .imm = -1},
      {.hex = "f6 c0 12", .op = Op::TEST, .opsize = 1, .dst = "rax", .imm = 0x12},
      {.hex = "f6 c8 12", .op = Op::TEST, .opsize = 1},  // F6 /1: alias of /0
      {.hex = "f7 c0 78 56 34 12", .op = Op::TEST, .opsize = 4, .imm = 0x12345678},
      {.hex = "f0 01 18", .op = Op::ADD, .dst = "m", .src = "rbx", .prefixes = pfx::kLock},
      {.hex = "f0 80 08 01", .op = Op::OR, .dst = "m", .prefixes = pfx::kLock},
      {.hex = "f0 66 83 00 01", .op = Op::ADD, .opsize = 2},
  });
}

TEST(DecoderFields, MemoryOperands64) {
  check_all({
      {.hex = "03 04 24", .op = Op::ADD, .src = "m", .mem = "rsp - 0 0 2 8"},
      {.hex = "03 45 08", .op = Op::ADD, .mem = "rbp - 0 8 2 8"},
      {.hex = "03 44 8d f0", .op = Op::ADD, .mem = "rbp rcx 2 -16 2 8"},
      {.hex = "03 04 c8", .op = Op::ADD, .mem = "rax rcx 3 0 3 8"},
      {.hex = "03 05 10 00 00 00", .op = Op::ADD, .mem = "rip - 0 16 3 8"},
      {.hex = "41 03 05 10 00 00 00", .op = Op::ADD, .mem = "rip - 0 16 3 8"},  // REX.B too
      {.hex = "67 03 05 f0 ff ff ff", .op = Op::ADD, .mem = "rip - 0 -16 3 4"},
      {.hex = "03 04 25 78 56 34 12", .op = Op::ADD, .mem = "- - 0 0x12345678 3 8"},
      {.hex = "42 03 04 25 00 01 00 00", .op = Op::ADD, .mem = "- r12 0 256 3 8"},
      {.hex = "41 03 04 24", .op = Op::ADD, .mem = "r12 - 0 0 3 8"},
      {.hex = "41 03 45 00", .op = Op::ADD, .mem = "r13 - 0 0 3 8"},
      {.hex = "43 03 44 ed 7f", .op = Op::ADD, .mem = "r13 r13 3 127 3 8"},
      {.hex = "03 84 24 00 00 00 80", .op = Op::ADD, .mem = "rsp - 0 -0x80000000 2 8"},
      {.hex = "67 8b 44 24 08", .op = Op::MOV, .mem = "rsp - 0 8 2 4"},
      {.hex = "64 8b 04 25 28 00 00 00", .op = Op::MOV, .mem = "- - 0 40 4 8"},
      {.hex = "65 48 8b 03", .op = Op::MOV, .mem = "rbx - 0 0 5 8"},
      // 64-bit mode ignores ES/CS/SS/DS overrides: seg stays the default of the addressing form,
      // which decides #SS against #GP for a non-canonical address (SDM vol. 1, 3.3.7.1).
      {.hex = "26 2e 3e 8b 00", .op = Op::MOV, .mem = "rax - 0 0 3 8"},
      {.hex = "2e 8b 04 24", .op = Op::MOV, .mem = "rsp - 0 0 2 8"},
      {.hex = "36 8b 00", .op = Op::MOV, .mem = "rax - 0 0 3 8"},
      {.hex = "3e 8b 45 00", .op = Op::MOV, .mem = "rbp - 0 0 2 8"},
      {.hex = "64 8b 45 00", .op = Op::MOV, .mem = "rbp - 0 0 4 8"},  // FS/GS do apply
      {.hex = "80 3d 10 00 00 00 05",
       .op = Op::CMP,
       .opsize = 1,
       .dst = "m",
       .imm = 5,
       .mem = "rip - 0 16 3 8"},
  });
}

TEST(DecoderFields, MemoryOperands32And16) {
  check_all({
      {.hex = "8b 05 78 56 34 12",
       .op = Op::MOV,
       .bits = 32,
       .opsize = 4,
       .mem = "- - 0 0x12345678 3 4"},  // no RIP-relative outside 64-bit mode
      {.hex = "8b 44 24 04", .op = Op::MOV, .bits = 32, .mem = "rsp - 0 4 2 4"},
      {.hex = "26 2e 3e 8b 00", .op = Op::MOV, .bits = 32, .mem = "rax - 0 0 3 4"},  // last wins
      {.hex = "2e 8b 04 24", .op = Op::MOV, .bits = 32, .mem = "rsp - 0 0 1 4"},
      {.hex = "36 8b 00", .op = Op::MOV, .bits = 32, .mem = "rax - 0 0 2 4"},
      {.hex = "3e 8b 45 00", .op = Op::MOV, .bits = 32, .mem = "rbp - 0 0 3 4"},
      {.hex = "66 8b 00", .op = Op::MOV, .bits = 32, .opsize = 2},
      {.hex = "67 8b 02", .op = Op::MOV, .bits = 32, .mem = "rbp rsi 0 0 2 2"},
      {.hex = "8b 00", .op = Op::MOV, .bits = 16, .opsize = 2, .mem = "rbx rsi 0 0 3 2"},
      {.hex = "8b 01", .op = Op::MOV, .bits = 16, .mem = "rbx rdi 0 0 3 2"},
      {.hex = "8b 02", .op = Op::MOV, .bits = 16, .mem = "rbp rsi 0 0 2 2"},
      {.hex = "8b 03", .op = Op::MOV, .bits = 16, .mem = "rbp rdi 0 0 2 2"},
      {.hex = "8b 04", .op = Op::MOV, .bits = 16, .mem = "rsi - 0 0 3 2"},
      {.hex = "8b 05", .op = Op::MOV, .bits = 16, .mem = "rdi - 0 0 3 2"},
      {.hex = "8b 06 34 12", .op = Op::MOV, .bits = 16, .mem = "- - 0 0x1234 3 2"},
      {.hex = "8b 07", .op = Op::MOV, .bits = 16, .mem = "rbx - 0 0 3 2"},
      {.hex = "8b 46 08", .op = Op::MOV, .bits = 16, .mem = "rbp - 0 8 2 2"},
      {.hex = "8b 47 fe", .op = Op::MOV, .bits = 16, .mem = "rbx - 0 -2 3 2"},
      {.hex = "8b 87 34 12", .op = Op::MOV, .bits = 16, .mem = "rbx - 0 0x1234 3 2"},
      {.hex = "66 8b 00", .op = Op::MOV, .bits = 16, .opsize = 4},
      {.hex = "67 8b 04 24", .op = Op::MOV, .bits = 16, .opsize = 2, .mem = "rsp - 0 0 2 4"},
      {.hex = "26 8b 46 00", .op = Op::MOV, .bits = 16, .mem = "rbp - 0 0 0 2"},
  });
}

TEST(DecoderFields, MovForms) {
  check_all({
      {.hex = "88 c4", .op = Op::MOV, .opsize = 1, .dst = "ah", .src = "rax"},
      {.hex = "8a 27", .op = Op::MOV, .opsize = 1, .dst = "ah", .src = "m"},
      {.hex = "48 89 c8", .op = Op::MOV, .opsize = 8, .dst = "rax", .src = "rcx"},
      {.hex = "8b 0c 24", .op = Op::MOV, .dst = "rcx", .src = "m"},
      {.hex = "b0 12", .op = Op::MOV, .opsize = 1, .dst = "rax", .src = "i", .imm = 0x12},
      {.hex = "b4 12", .op = Op::MOV, .opsize = 1, .dst = "ah"},
      {.hex = "40 b4 12", .op = Op::MOV, .dst = "rsp"},
      {.hex = "41 b7 12", .op = Op::MOV, .dst = "r15"},
      {.hex = "b0 ff", .op = Op::MOV, .imm = -1},
      {.hex = "b8 78 56 34 12", .op = Op::MOV, .opsize = 4, .dst = "rax", .imm = 0x12345678},
      {.hex = "66 bb 34 12", .op = Op::MOV, .opsize = 2, .dst = "rbx", .imm = 0x1234},
      {.hex = "48 b8 88 77 66 55 44 33 22 11",
       .op = Op::MOV,
       .opsize = 8,
       .dst = "rax",
       .imm = 0x1122334455667788},
      {.hex = "49 bf ff ff ff ff ff ff ff ff", .op = Op::MOV, .dst = "r15", .imm = -1},
      {.hex = "c6 00 12", .op = Op::MOV, .opsize = 1, .dst = "m", .src = "i", .imm = 0x12},
      {.hex = "48 c7 c0 ff ff ff ff", .op = Op::MOV, .opsize = 8, .dst = "rax", .imm = -1},
      {.hex = "66 c7 00 34 12", .op = Op::MOV, .opsize = 2, .imm = 0x1234},
      // moffs: absolute offset of the address size, zero-extended, no base/index
      {.hex = "a0 88 77 66 55 44 33 22 11",
       .op = Op::MOV,
       .opsize = 1,
       .dst = "rax",
       .src = "m",
       .mem = "- - 0 0x1122334455667788 3 8"},
      {.hex = "48 a3 08 07 06 05 04 03 02 81",
       .op = Op::MOV,
       .opsize = 8,
       .dst = "m",
       .src = "rax",
       .mem = "- - 0 0x8102030405060708 3 8"},
      {.hex = "67 a1 f0 ff ff ff", .op = Op::MOV, .opsize = 4, .mem = "- - 0 0xfffffff0 3 4"},
      {.hex = "64 a1 00 00 00 00 00 00 00 00", .op = Op::MOV, .seg = FS},
      {.hex = "a1 78 56 34 12", .op = Op::MOV, .bits = 32, .mem = "- - 0 0x12345678 3 4"},
      {.hex = "a2 34 12", .op = Op::MOV, .bits = 16, .dst = "m", .mem = "- - 0 0x1234 3 2"},
      {.hex = "8c d8", .op = Op::MOV_SEG_STORE, .opsize = 4, .dst = "rax", .src = "n3", .ext = 3},
      {.hex = "8c 20", .op = Op::MOV_SEG_STORE, .dst = "m", .src = "n4"},
      {.hex = "8e d0",
       .op = Op::MOV_SEG_LOAD,
       .opsize = 2,
       .dst = "n2",
       .src = "rax",
       .ext = 2,
       .attrs = kEnds},
      {.hex = "8e 2b", .op = Op::MOV_SEG_LOAD, .dst = "n5", .src = "m"},
      {.hex = "8d 04 8d 00 00 00 00",
       .op = Op::LEA,
       .dst = "rax",
       .src = "m",
       .mem = "- rcx 2 0 3 8"},
      {.hex = "67 48 8d 40 01", .op = Op::LEA, .opsize = 8, .mem = "rax - 0 1 3 4"},
      {.hex = "86 e0", .op = Op::XCHG, .opsize = 1, .dst = "rax", .src = "ah"},
      {.hex = "87 0b", .op = Op::XCHG, .dst = "m", .src = "rcx"},
      {.hex = "f0 87 0b", .op = Op::XCHG, .prefixes = pfx::kLock},
      {.hex = "91", .op = Op::XCHG, .opsize = 4, .dst = "rax", .src = "rcx"},
      {.hex = "41 90", .op = Op::XCHG, .opsize = 4, .dst = "rax", .src = "r8"},
      {.hex = "0f c0 c1", .op = Op::XADD, .opsize = 1, .dst = "rcx", .src = "rax"},
      {.hex = "f0 48 0f c1 03", .op = Op::XADD, .opsize = 8, .dst = "m", .src = "rax"},
      {.hex = "0f b0 0b", .op = Op::CMPXCHG, .opsize = 1, .dst = "m", .src = "rcx"},
      {.hex = "f0 0f b1 0b", .op = Op::CMPXCHG, .opsize = 4, .dst = "m"},
      {.hex = "0f c7 0e", .op = Op::CMPXCHG8B, .opsize = 8, .dst = "m"},
      {.hex = "f0 48 0f c7 0e", .op = Op::CMPXCHG8B, .opsize = 16, .dst = "m"},
      {.hex = "0f c7 0e", .op = Op::CMPXCHG8B, .bits = 32, .opsize = 8},
      {.hex = "0f c8", .op = Op::BSWAP, .opsize = 4, .dst = "rax"},
      {.hex = "49 0f cf", .op = Op::BSWAP, .opsize = 8, .dst = "r15"},
      {.hex = "0f 38 f0 01", .op = Op::MOVBE, .opsize = 4, .dst = "rax", .src = "m"},
      {.hex = "66 0f 38 f1 01", .op = Op::MOVBE, .opsize = 2, .dst = "m", .src = "rax"},
      {.hex = "48 0f 38 f1 01", .op = Op::MOVBE, .opsize = 8},
  });
}

TEST(DecoderFields, ExtendAndConvert) {
  check_all({
      {.hex = "0f b6 c4", .op = Op::MOVZX, .opsize = 4, .dst = "rax", .src = "ah", .src_size = 1},
      {.hex = "40 0f b6 c4", .op = Op::MOVZX, .src = "rsp", .src_size = 1},
      {.hex = "44 0f b6 c4", .op = Op::MOVZX, .dst = "r8", .src = "rsp"},
      {.hex = "66 0f b6 00", .op = Op::MOVZX, .opsize = 2, .src = "m", .src_size = 1},
      {.hex = "0f b7 c1", .op = Op::MOVZX, .opsize = 4, .src = "rcx", .src_size = 2},
      {.hex = "48 0f be c5", .op = Op::MOVSX, .opsize = 8, .src = "rbp", .src_size = 1},
      {.hex = "48 0f bf 01", .op = Op::MOVSX, .opsize = 8, .src = "m", .src_size = 2},
      {.hex = "48 63 c1", .op = Op::MOVSXD, .opsize = 8, .dst = "rax", .src = "rcx", .src_size = 4},
      {.hex = "63 01", .op = Op::MOVSXD, .opsize = 4, .src = "m", .src_size = 4},
      {.hex = "63 c1", .op = Op::ARPL, .bits = 32, .opsize = 2, .dst = "rcx", .src = "rax"},
      {.hex = "98", .op = Op::CBW, .opsize = 4},
      {.hex = "48 98", .op = Op::CBW, .opsize = 8},
      {.hex = "66 98", .op = Op::CBW, .opsize = 2},
      {.hex = "98", .op = Op::CBW, .bits = 16, .opsize = 2},
      {.hex = "48 99", .op = Op::CWD, .opsize = 8},
      {.hex = "9e", .op = Op::SAHF},
      {.hex = "9f", .op = Op::LAHF},
      {.hex = "d7", .op = Op::XLAT, .opsize = 1, .seg = DS},
      {.hex = "2e d7", .op = Op::XLAT, .seg = DS},  // ignored in 64-bit mode
      {.hex = "2e d7", .op = Op::XLAT, .bits = 32, .seg = CS},
      {.hex = "65 d7", .op = Op::XLAT, .seg = GS},
      {.hex = "67 d7", .op = Op::XLAT, .prefixes = pfx::kAddrsize},
  });
}

TEST(DecoderFields, ShiftsAndRotates) {
  check_all({
      {.hex = "d0 e0", .op = Op::SHL, .opsize = 1, .dst = "rax", .src = "i", .imm = 1},
      {.hex = "d1 f8", .op = Op::SAR, .opsize = 4, .dst = "rax", .src = "i", .imm = 1},
      {.hex = "d3 e0", .op = Op::SHL, .opsize = 4, .dst = "rax", .src = "rcx"},
      {.hex = "48 d3 28", .op = Op::SHR, .opsize = 8, .dst = "m", .src = "rcx"},
      {.hex = "c1 e0 05", .op = Op::SHL, .dst = "rax", .src = "i", .imm = 5},
      {.hex = "c0 f0 ff", .op = Op::SHL, .opsize = 1, .imm = 0xff},  // /6: SAL alias
      {.hex = "c0 c0 01", .op = Op::ROL},
      {.hex = "c0 c8 01", .op = Op::ROR},
      {.hex = "c0 d0 01", .op = Op::RCL},
      {.hex = "c0 d8 01", .op = Op::RCR},
      {.hex = "d2 e8", .op = Op::SHR, .opsize = 1, .src = "rcx"},
      {.hex = "0f a4 c3 04",
       .op = Op::SHLD,
       .opsize = 4,
       .dst = "rbx",
       .src = "rax",
       .src2 = "i",
       .imm = 4},
      {.hex = "66 0f a5 c3", .op = Op::SHLD, .opsize = 2, .src2 = "rcx"},
      {.hex = "48 0f ac 03 3f",
       .op = Op::SHRD,
       .opsize = 8,
       .dst = "m",
       .src = "rax",
       .src2 = "i",
       .imm = 63},
      {.hex = "0f ad c3", .op = Op::SHRD, .src2 = "rcx"},
  });
}

TEST(DecoderFields, MultiplyDivideUnary) {
  check_all({
      {.hex = "0f af c3", .op = Op::IMUL, .opsize = 4, .dst = "rax", .src = "rbx"},
      {.hex = "69 c3 10 00 00 00",
       .op = Op::IMUL,
       .dst = "rax",
       .src = "rbx",
       .src2 = "i",
       .imm = 16},
      {.hex = "6b 03 ff", .op = Op::IMUL, .dst = "rax", .src = "m", .src2 = "i", .imm = -1},
      {.hex = "66 69 c3 34 12", .op = Op::IMUL, .opsize = 2, .imm = 0x1234},
      {.hex = "f7 eb", .op = Op::IMUL1, .opsize = 4, .dst = "rbx", .src = "-"},
      {.hex = "f6 e4", .op = Op::MUL, .opsize = 1, .dst = "ah"},
      {.hex = "48 f7 33", .op = Op::DIV, .opsize = 8, .dst = "m"},
      {.hex = "f6 ff", .op = Op::IDIV, .opsize = 1, .dst = "bh"},
      {.hex = "f6 d8", .op = Op::NEG, .opsize = 1, .dst = "rax"},
      {.hex = "f0 f7 10", .op = Op::NOT, .dst = "m", .prefixes = pfx::kLock},
      {.hex = "fe c4", .op = Op::INC, .opsize = 1, .dst = "ah"},
      {.hex = "fe 08", .op = Op::DEC, .opsize = 1, .dst = "m"},
      {.hex = "ff c0", .op = Op::INC, .opsize = 4, .dst = "rax"},
      {.hex = "66 ff c8", .op = Op::DEC, .opsize = 2},
      {.hex = "40", .op = Op::INC, .bits = 32, .opsize = 4, .dst = "rax"},
      {.hex = "4f", .op = Op::DEC, .bits = 32, .dst = "rdi"},
      {.hex = "66 47", .op = Op::INC, .bits = 32, .opsize = 2, .dst = "rdi"},
  });
}

TEST(DecoderFields, StackForms) {
  check_all({
      {.hex = "50", .op = Op::PUSH, .opsize = 8, .dst = "rax", .attrs = 0},
      {.hex = "41 57", .op = Op::PUSH, .opsize = 8, .dst = "r15"},
      {.hex = "66 50", .op = Op::PUSH, .opsize = 2},
      {.hex = "48 50", .op = Op::PUSH, .opsize = 8},
      {.hex = "5d", .op = Op::POP, .opsize = 8, .dst = "rbp"},
      {.hex = "50", .op = Op::PUSH, .bits = 32, .opsize = 4},
      {.hex = "50", .op = Op::PUSH, .bits = 16, .opsize = 2},
      {.hex = "6a ff", .op = Op::PUSH, .opsize = 8, .dst = "i", .imm = -1},
      {.hex = "68 78 56 34 12", .op = Op::PUSH, .opsize = 8, .dst = "i", .imm = 0x12345678},
      {.hex = "68 00 00 00 80", .op = Op::PUSH, .imm = -0x80000000LL},
      {.hex = "66 68 34 12", .op = Op::PUSH, .opsize = 2, .imm = 0x1234},
      {.hex = "ff 30", .op = Op::PUSH, .opsize = 8, .dst = "m"},
      {.hex = "8f c0", .op = Op::POP, .opsize = 8, .dst = "rax"},
      {.hex = "8f 00", .op = Op::POP, .dst = "m"},
      {.hex = "06", .op = Op::PUSH_SEG, .bits = 32, .opsize = 4, .dst = "n0"},
      {.hex = "0e", .op = Op::PUSH_SEG, .bits = 32, .dst = "n1"},
      {.hex = "16", .op = Op::PUSH_SEG, .bits = 16, .opsize = 2, .dst = "n2"},
      {.hex = "1f", .op = Op::POP_SEG, .bits = 32, .dst = "n3", .attrs = kEnds},
      {.hex = "17", .op = Op::POP_SEG, .bits = 32, .dst = "n2", .attrs = kEnds},
      {.hex = "0f a0", .op = Op::PUSH_SEG, .opsize = 8, .dst = "n4"},
      {.hex = "0f a9", .op = Op::POP_SEG, .opsize = 8, .dst = "n5", .attrs = kEnds},
      {.hex = "66 0f a8", .op = Op::PUSH_SEG, .opsize = 2, .dst = "n5"},
      {.hex = "60", .op = Op::PUSHA, .bits = 32, .opsize = 4},
      {.hex = "66 61", .op = Op::POPA, .bits = 32, .opsize = 2},
      {.hex = "9c", .op = Op::PUSHF, .opsize = 8},
      {.hex = "66 9c", .op = Op::PUSHF, .opsize = 2},
      {.hex = "9d", .op = Op::POPF, .opsize = 8, .attrs = kEnds},
      {.hex = "9d", .op = Op::POPF, .bits = 32, .opsize = 4},
      {.hex = "c8 10 00 02", .op = Op::ENTER, .opsize = 8, .dst = "i", .imm = 16, .imm2 = 2},
      {.hex = "c8 ff ff 00", .op = Op::ENTER, .imm = 0xffff, .imm2 = 0},
      {.hex = "66 c8 08 00 01", .op = Op::ENTER, .opsize = 2},
      {.hex = "c9", .op = Op::LEAVE, .opsize = 8},
      {.hex = "c9", .op = Op::LEAVE, .bits = 16, .opsize = 2},
  });
}

TEST(DecoderFields, ControlTransfer) {
  check_all({
      {.hex = "70 05",
       .op = Op::JCC,
       .opsize = 8,
       .dst = "i",
       .imm = 5,
       .cond = 0,
       .attrs = kBranch},
      {.hex = "7f fe", .op = Op::JCC, .imm = -2, .cond = 15},
      {.hex = "0f 84 00 01 00 00", .op = Op::JCC, .opsize = 8, .imm = 0x100, .cond = 4},
      {.hex = "0f 8c fa ff ff ff", .op = Op::JCC, .imm = -6, .cond = 12},
      {.hex = "66 0f 85 10 00 00 00", .op = Op::JCC, .opsize = 8, .imm = 16, .cond = 5},
      {.hex = "66 0f 85 10 00", .op = Op::JCC, .bits = 32, .opsize = 2, .imm = 16},
      {.hex = "0f 85 10 00", .op = Op::JCC, .bits = 16, .opsize = 2, .imm = 16},
      {.hex = "e8 00 00 00 00", .op = Op::CALL, .opsize = 8, .imm = 0, .attrs = kBranch},
      {.hex = "e8 fb ff ff ff", .op = Op::CALL, .bits = 32, .opsize = 4, .imm = -5},
      {.hex = "e8 fd ff", .op = Op::CALL, .bits = 16, .opsize = 2, .imm = -3},
      {.hex = "66 e8 78 56 34 12", .op = Op::CALL, .bits = 16, .opsize = 4, .imm = 0x12345678},
      {.hex = "e9 fb ff ff ff", .op = Op::JMP, .opsize = 8, .imm = -5, .attrs = kBranch},
      {.hex = "66 e9 34 12 00 00", .op = Op::JMP, .opsize = 8, .imm = 0x1234},  // Intel
      {.hex = "48 e9 00 00 00 00", .op = Op::JMP, .opsize = 8},
      {.hex = "66 e9 34 12", .op = Op::JMP, .bits = 32, .opsize = 2, .imm = 0x1234},
      {.hex = "eb 80", .op = Op::JMP, .opsize = 8, .imm = -128},
      {.hex = "e2 fe", .op = Op::LOOP, .opsize = 8, .imm = -2, .attrs = kBranch},
      {.hex = "e1 00", .op = Op::LOOPE},
      {.hex = "e0 00", .op = Op::LOOPNE},
      {.hex = "e3 10", .op = Op::JRCXZ, .imm = 16},
      {.hex = "67 e3 10", .op = Op::JRCXZ, .prefixes = pfx::kAddrsize},
      {.hex = "ff d0", .op = Op::CALL_IND, .opsize = 8, .dst = "rax", .attrs = kBranch},
      {.hex = "66 ff d0", .op = Op::CALL_IND, .opsize = 2},
      {.hex = "41 ff 24 24",
       .op = Op::JMP_IND,
       .opsize = 8,
       .dst = "m",
       .mem = "r12 - 0 0 3 8",
       .attrs = kBranch},
      {.hex = "ff e0", .op = Op::JMP_IND, .bits = 32, .opsize = 4},
      {.hex = "c3", .op = Op::RET, .opsize = 8, .imm = 0, .attrs = kBranch},
      {.hex = "66 c3", .op = Op::RET, .opsize = 2},
      {.hex = "c2 08 00", .op = Op::RET, .opsize = 8, .dst = "i", .imm = 8},
      {.hex = "c2 ff ff", .op = Op::RET, .imm = 0xffff},  // zero-extended
      {.hex = "c3", .op = Op::RET, .bits = 16, .opsize = 2},
      {.hex = "ca 04 00", .op = Op::RET_FAR, .opsize = 4, .imm = 4, .attrs = kBranch},
      {.hex = "48 cb", .op = Op::RET_FAR, .opsize = 8},
      {.hex = "cf", .op = Op::IRET, .opsize = 4, .attrs = kBranch},
      {.hex = "48 cf", .op = Op::IRET, .opsize = 8},
      {.hex = "ea 78 56 34 12 08 00",
       .op = Op::JMP_FAR,
       .bits = 32,
       .opsize = 4,
       .dst = "i",
       .imm = 0x12345678,
       .attrs = kBranch},
      {.hex = "9a 34 12 00 f0", .op = Op::CALL_FAR, .bits = 16, .opsize = 2, .imm = 0x1234},
      {.hex = "ff 18", .op = Op::CALL_FAR, .opsize = 4, .dst = "m", .attrs = kBranch},
      {.hex = "48 ff 28", .op = Op::JMP_FAR, .opsize = 8, .dst = "m"},
      {.hex = "cc", .op = Op::INT3, .attrs = kBranch},
      {.hex = "cd 80", .op = Op::INT, .dst = "i", .imm = 0x80, .attrs = kBranch},
      {.hex = "ce", .op = Op::INTO, .bits = 32, .attrs = kBranch},
      {.hex = "f1", .op = Op::INT1, .attrs = kBranch},
      {.hex = "0f 05", .op = Op::SYSCALL, .attrs = kBranch},
      {.hex = "48 0f 07", .op = Op::SYSRET, .opsize = 8, .attrs = kBranch},
      {.hex = "0f 34", .op = Op::SYSENTER, .bits = 32, .attrs = kBranch},
      {.hex = "0f 35", .op = Op::SYSEXIT, .bits = 32, .attrs = kBranch},
  });
  // Far pointer: offset in imm, selector in disp.
  Insn i;
  const uint8_t far[] = {0xEA, 0x78, 0x56, 0x34, 0x12, 0x08, 0x00};
  ASSERT_EQ(decode(far, sizeof far, DecodeMode{false, true}, &i), DecodeStatus::Ok);
  EXPECT_EQ(i.disp, 8);
}

TEST(DecoderFields, StringAndIo) {
  check_all({
      {.hex = "a4", .op = Op::MOVS, .opsize = 1, .seg = DS, .prefixes = 0},
      {.hex = "f3 a4", .op = Op::MOVS, .opsize = 1, .prefixes = pfx::kRep},
      {.hex = "f3 48 a5",
       .op = Op::MOVS,
       .opsize = 8,
       .prefixes = pfx::kRep | pfx::kRex | pfx::kRexW},
      {.hex = "66 a5", .op = Op::MOVS, .opsize = 2},
      {.hex = "26 a4", .op = Op::MOVS, .seg = DS},  // ignored in 64-bit mode
      {.hex = "36 a4", .op = Op::MOVS, .seg = DS},
      {.hex = "26 a4", .op = Op::MOVS, .bits = 32, .seg = ES},
      {.hex = "64 a6", .op = Op::CMPS, .opsize = 1, .seg = FS},
      {.hex = "f2 ae", .op = Op::SCAS, .opsize = 1, .prefixes = pfx::kRepne},
      {.hex = "f2 f3 a4", .op = Op::MOVS, .prefixes = pfx::kRep},  // the last of F2/F3
      {.hex = "f3 f2 a4", .op = Op::MOVS, .prefixes = pfx::kRepne},
      {.hex = "67 aa", .op = Op::STOS, .opsize = 1, .prefixes = pfx::kAddrsize},
      {.hex = "ab", .op = Op::STOS, .bits = 16, .opsize = 2},
      {.hex = "ad", .op = Op::LODS, .opsize = 4},
      {.hex = "f3 6c", .op = Op::INS, .opsize = 1, .prefixes = pfx::kRep},
      {.hex = "48 6d", .op = Op::INS, .opsize = 4},  // REX.W ignored: at most a doubleword
      {.hex = "66 6f", .op = Op::OUTS, .opsize = 2, .seg = DS},
      {.hex = "2e 6e", .op = Op::OUTS, .bits = 16, .seg = CS},
      {.hex = "e4 60", .op = Op::IN, .opsize = 1, .dst = "rax", .src = "i", .imm = 0x60},
      {.hex = "e5 60", .op = Op::IN, .opsize = 4},
      {.hex = "66 e5 60", .op = Op::IN, .opsize = 2},
      {.hex = "ec", .op = Op::IN, .opsize = 1, .dst = "rax", .src = "rdx"},
      {.hex = "ed", .op = Op::IN, .bits = 16, .opsize = 2},
      {.hex = "ef", .op = Op::OUT, .opsize = 4, .dst = "rdx", .src = "rax"},
      {.hex = "e6 80", .op = Op::OUT, .opsize = 1, .dst = "i", .src = "rax", .imm = 0x80},
  });
}

TEST(DecoderFields, BitsFlagsCondition) {
  check_all({
      {.hex = "0f a3 c3", .op = Op::BT, .dst = "rbx", .src = "rax"},
      {.hex = "0f ba e0 05", .op = Op::BT, .dst = "rax", .src = "i", .imm = 5},
      {.hex = "f0 0f ba 28 05", .op = Op::BTS, .dst = "m", .prefixes = pfx::kLock},
      {.hex = "0f ba f0 05", .op = Op::BTR},
      {.hex = "0f ba f8 ff", .op = Op::BTC, .imm = 0xff},
      {.hex = "f0 0f ab 03", .op = Op::BTS},
      {.hex = "0f b3 03", .op = Op::BTR},
      {.hex = "0f bb 03", .op = Op::BTC},
      {.hex = "0f bc c1", .op = Op::BSF, .dst = "rax", .src = "rcx"},
      {.hex = "0f bd c1", .op = Op::BSR},
      {.hex = "f3 0f bc c1", .op = Op::TZCNT, .opsize = 4, .prefixes = pfx::kRep},
      {.hex = "f3 48 0f bd c1", .op = Op::LZCNT, .opsize = 8},
      {.hex = "f3 0f b8 c1", .op = Op::POPCNT, .opsize = 4, .dst = "rax", .src = "rcx"},
      {.hex = "66 f3 0f b8 c1", .op = Op::POPCNT, .opsize = 2},  // 66 still an operand size
      {.hex = "f3 66 0f b8 c1", .op = Op::POPCNT, .opsize = 2},
      {.hex = "0f 90 c0", .op = Op::SETCC, .opsize = 1, .dst = "rax", .cond = 0},
      {.hex = "0f 9f c4", .op = Op::SETCC, .dst = "ah", .cond = 15},
      {.hex = "41 0f 94 00", .op = Op::SETCC, .dst = "m", .cond = 4},
      {.hex = "0f 4c c1", .op = Op::CMOVCC, .opsize = 4, .dst = "rax", .src = "rcx", .cond = 12},
      {.hex = "48 0f 43 01", .op = Op::CMOVCC, .opsize = 8, .src = "m", .cond = 3},
      {.hex = "f8", .op = Op::CLC},
      {.hex = "f9", .op = Op::STC},
      {.hex = "f5", .op = Op::CMC},
      {.hex = "fc", .op = Op::CLD},
      {.hex = "fd", .op = Op::STD},
      {.hex = "fa", .op = Op::CLI, .attrs = 0},
      {.hex = "fb", .op = Op::STI, .attrs = kEnds},
      {.hex = "27", .op = Op::DAA, .bits = 32},
      {.hex = "2f", .op = Op::DAS, .bits = 32},
      {.hex = "37", .op = Op::AAA, .bits = 16},
      {.hex = "3f", .op = Op::AAS, .bits = 16},
      {.hex = "d4 0a", .op = Op::AAM, .bits = 32, .dst = "i", .imm = 10},
      {.hex = "d5 10", .op = Op::AAD, .bits = 32, .imm = 16},
      {.hex = "d6", .op = Op::SALC, .bits = 32},
      {.hex = "62 01", .op = Op::BOUND, .bits = 32, .dst = "rax", .src = "m"},
      {.hex = "66 0f 38 f6 c1", .op = Op::ADCX, .opsize = 4, .dst = "rax", .src = "rcx"},
      {.hex = "66 48 0f 38 f6 01", .op = Op::ADCX, .opsize = 8, .src = "m"},
      {.hex = "f3 0f 38 f6 c1", .op = Op::ADOX, .opsize = 4},
  });
}

TEST(DecoderFields, Bmi) {
  check_all({
      // VEX.vvvv = 2 (edx); ModRM reg = eax, rm = ecx
      {.hex = "c4 e2 68 f2 c1",
       .op = Op::ANDN,
       .opsize = 4,
       .dst = "rax",
       .src = "rcx",
       .src2 = "rdx",
       .vreg = 2,
       .prefixes = pfx::kVex},
      {.hex = "c4 e2 e8 f2 01",
       .op = Op::ANDN,
       .opsize = 8,
       .src = "m",
       .prefixes = pfx::kVex | pfx::kRexW},
      {.hex = "c4 62 68 f2 c1", .op = Op::ANDN, .dst = "r8"},  // VEX.R
      {.hex = "c4 c2 68 f2 c1", .op = Op::ANDN, .src = "r9"},  // VEX.B
      {.hex = "c4 e2 28 f2 c1", .op = Op::ANDN, .src2 = "r10", .vreg = 10},
      {.hex = "c4 e2 68 f7 c1", .op = Op::BEXTR, .dst = "rax", .src = "rcx", .src2 = "rdx"},
      {.hex = "c4 e2 69 f7 c1", .op = Op::SHLX, .prefixes = pfx::kVex | pfx::kOpsize},
      {.hex = "c4 e2 6a f7 c1", .op = Op::SARX, .prefixes = pfx::kVex | pfx::kRep},
      {.hex = "c4 e2 6b f7 c1", .op = Op::SHRX, .prefixes = pfx::kVex | pfx::kRepne},
      {.hex = "c4 e2 68 f5 c1", .op = Op::BZHI, .src2 = "rdx"},
      {.hex = "c4 e2 6a f5 c1", .op = Op::PEXT},
      {.hex = "c4 e2 6b f5 c1", .op = Op::PDEP},
      {.hex = "c4 e2 eb f6 c1", .op = Op::MULX, .opsize = 8, .src2 = "rdx"},
      {.hex = "c4 e2 68 f3 c9",
       .op = Op::BLSR,
       .opsize = 4,
       .dst = "rdx",
       .src = "rcx",
       .src2 = "-",
       .vreg = 2},
      {.hex = "c4 e2 e8 f3 d1", .op = Op::BLSMSK, .opsize = 8, .dst = "rdx"},
      {.hex = "c4 e2 68 f3 19", .op = Op::BLSI, .dst = "rdx", .src = "m"},
      {.hex = "c4 e3 7b f0 c1 05",
       .op = Op::RORX,
       .opsize = 4,
       .dst = "rax",
       .src = "rcx",
       .src2 = "i",
       .imm = 5},
      {.hex = "c4 e3 fb f0 01 3f", .op = Op::RORX, .opsize = 8, .src = "m", .imm = 63},
      // outside 64-bit mode: VEX.W ignored for the operand size, 8 registers
      {.hex = "c4 e2 e8 f2 c1", .op = Op::ANDN, .bits = 32, .opsize = 4, .src2 = "rdx"},
      {.hex = "c4 e2 68 f7 c1", .op = Op::BEXTR, .bits = 16, .opsize = 4},
  });
}

TEST(DecoderFields, SystemOps) {
  check_all({
      // XGETBV (fp_state_xsave.cpp).
      {.hex = "0f 01 d0", .op = Op::GRP7, .ext = 0xd0, .attrs = kEnds},
      {.hex = "0f 01 10", .op = Op::GRP7, .dst = "m", .ext = 0x10, .attrs = kEnds},  // LGDT
      {.hex = "0f 01 38", .op = Op::GRP7, .dst = "m", .ext = 0x38},                  // INVLPG
      {.hex = "0f 01 e0", .op = Op::GRP7, .opsize = 4, .dst = "rax", .ext = 0xe0},   // SMSW
      {.hex = "0f 01 f0", .op = Op::GRP7, .opsize = 2, .dst = "rax", .ext = 0xf0},   // LMSW
      {.hex = "0f 01 f8", .op = Op::GRP7, .ext = 0xf8},                              // SWAPGS
      {.hex = "0f 01 f9", .op = Op::RDTSCP},
      {.hex = "0f 01 ca", .op = Op::GRP7, .ext = 0xca},  // CLAC
      {.hex = "0f 00 d8", .op = Op::GRP6, .opsize = 2, .dst = "rax", .ext = 3, .attrs = kEnds},
      {.hex = "0f 00 00", .op = Op::GRP6, .dst = "m", .ext = 0},
      {.hex = "48 0f 00 c8", .op = Op::GRP6, .opsize = 8, .ext = 1},  // STR r64
      {.hex = "0f 20 c0", .op = Op::MOV_CR_STORE, .opsize = 8, .dst = "rax", .src = "n0", .ext = 0},
      {.hex = "0f 20 00", .op = Op::MOV_CR_STORE, .dst = "rax", .src = "n0"},  // mod ignored
      {.hex = "0f 22 d8",
       .op = Op::MOV_CR_LOAD,
       .opsize = 8,
       .dst = "n3",
       .src = "rax",
       .attrs = kEnds},
      {.hex = "44 0f 22 c1", .op = Op::MOV_CR_LOAD, .dst = "n8", .src = "rcx"},
      {.hex = "41 0f 22 e7", .op = Op::MOV_CR_LOAD, .dst = "n4", .src = "r15"},
      {.hex = "0f 20 e0", .op = Op::MOV_CR_STORE, .bits = 32, .opsize = 4, .src = "n4"},
      {.hex = "0f 23 f8", .op = Op::MOV_DR_LOAD, .dst = "n7", .src = "rax"},
      {.hex = "0f 21 f0", .op = Op::MOV_DR_STORE, .dst = "rax", .src = "n6"},
      {.hex = "0f 30", .op = Op::WRMSR, .attrs = kEnds},
      {.hex = "0f 32", .op = Op::RDMSR, .attrs = 0},
      {.hex = "0f 31", .op = Op::RDTSC},
      {.hex = "0f 33", .op = Op::RDPMC},
      {.hex = "0f a2", .op = Op::CPUID, .attrs = kEnds},
      {.hex = "0f 06", .op = Op::CLTS, .attrs = kEnds},
      {.hex = "0f 08", .op = Op::INVD},
      {.hex = "0f 09", .op = Op::WBINVD},
      {.hex = "f4", .op = Op::HLT, .attrs = kEnds},
      {.hex = "0f 0b", .op = Op::UD2, .attrs = kEnds},
      {.hex = "0f b9 c0", .op = Op::UD1, .attrs = kEnds},
      {.hex = "0f ff 04 24", .op = Op::UD0, .attrs = kEnds},
      {.hex = "0f 02 c1", .op = Op::LAR, .dst = "rax", .src = "rcx", .src_size = 2},
      {.hex = "0f 03 01", .op = Op::LSL, .src = "m"},
      {.hex = "0f b2 01", .op = Op::LSS, .dst = "rax", .src = "m", .attrs = kEnds},
      {.hex = "0f b4 01", .op = Op::LFS},
      {.hex = "48 0f b5 01", .op = Op::LGS, .opsize = 8},
      {.hex = "c5 01", .op = Op::LDS, .bits = 32, .dst = "rax", .src = "m"},
      {.hex = "c4 01", .op = Op::LES, .bits = 16, .opsize = 2},
      {.hex = "0f ae f8", .op = Op::GRP15, .ext = 7},              // SFENCE
      {.hex = "0f ae ef", .op = Op::GRP15, .ext = 5},              // LFENCE (rm ignored)
      {.hex = "0f ae 00", .op = Op::GRP15, .dst = "m", .ext = 0},  // FXSAVE
      {.hex = "0f ae 10", .op = Op::GRP15, .ext = 2},              // LDMXCSR
      {.hex = "66 0f ae 38", .op = Op::GRP15, .ext = 7, .prefixes = pfx::kOpsize},  // CLFLUSHOPT
      {.hex = "f3 48 0f ae c0",
       .op = Op::GRP15,
       .opsize = 8,
       .dst = "rax",
       .ext = 0,
       .prefixes = pfx::kRep | pfx::kRex | pfx::kRexW},                              // RDFSBASE
      {.hex = "f3 0f ae d1", .op = Op::GRP15, .opsize = 4, .dst = "rcx", .ext = 2},  // WRFSBASE
      {.hex = "0f c7 f0", .op = Op::RDRAND, .opsize = 4, .dst = "rax"},
      {.hex = "66 0f c7 f1", .op = Op::RDRAND, .opsize = 2, .dst = "rcx"},
      {.hex = "48 0f c7 f8", .op = Op::RDSEED, .opsize = 8, .dst = "rax"},
      // RDPID (F3 0F C7 /7, register form): r64 in 64-bit mode whatever 66/REX.W say, else r32.
      {.hex = "f3 0f c7 f8", .op = Op::RDPID, .opsize = 8, .dst = "rax", .src = "-", .attrs = 0},
      {.hex = "f3 41 0f c7 f9", .op = Op::RDPID, .opsize = 8, .dst = "r9"},
      {.hex = "66 f3 0f c7 fa", .op = Op::RDPID, .opsize = 8, .dst = "rdx"},
      {.hex = "f3 48 0f c7 fb", .op = Op::RDPID, .opsize = 8, .dst = "rbx"},
      {.hex = "f3 0f c7 fe", .op = Op::RDPID, .bits = 32, .opsize = 4, .dst = "rsi"},
      {.hex = "66 f3 0f c7 ff", .op = Op::RDPID, .bits = 16, .opsize = 4, .dst = "rdi"},
      {.hex = "66 0f 38 82 08", .op = Op::INVPCID, .opsize = 8, .dst = "rcx", .src = "m"},
      {.hex = "66 0f 38 82 08", .op = Op::INVPCID, .bits = 32, .opsize = 4},
  });
}

TEST(DecoderFields, NopsAndHints) {
  check_all({
      {.hex = "90", .op = Op::NOP, .dst = "-", .src = "-"},
      {.hex = "48 90", .op = Op::NOP},
      {.hex = "f3 90", .op = Op::NOP, .prefixes = pfx::kRep},  // PAUSE
      {.hex = "66 90", .op = Op::NOP},
      {.hex = "0f 1f 00", .op = Op::NOP, .dst = "-"},
      {.hex = "0f 1f 44 00 00", .op = Op::NOP},
      {.hex = "66 0f 1f 84 00 00 00 00 00", .op = Op::NOP},
      {.hex = "66 2e 0f 1f 84 00 00 00 00 00", .op = Op::NOP},
      {.hex = "f3 0f 1e fa", .op = Op::NOP},              // ENDBR64
      {.hex = "f3 0f 1e fb", .op = Op::NOP, .bits = 32},  // ENDBR32
      {.hex = "0f 18 08", .op = Op::NOP},                 // PREFETCHT0
      {.hex = "0f 19 c0", .op = Op::NOP},                 // reserved hint NOP
      {.hex = "0f 0d 08", .op = Op::NOP},                 // PREFETCHW
  });
}

TEST(DecoderFields, X87AndSimdLengths) {
  check_all({
      {.hex = "d9 c0", .op = Op::ESCAPE_X87, .ext = 0xc0},
      {.hex = "dd 04 24", .op = Op::ESCAPE_X87, .dst = "m", .mem = "rsp - 0 0 2 8", .ext = 4},
      {.hex = "db 2d 00 01 00 00", .op = Op::ESCAPE_X87, .mem = "rip - 0 256 3 8"},
      {.hex = "df e0", .op = Op::ESCAPE_X87},  // FNSTSW AX
      {.hex = "9b", .op = Op::ESCAPE_X87},     // FWAIT
      {.hex = "0f 58 c1", .op = Op::ESCAPE_SSE},
      {.hex = "66 0f 58 c1", .op = Op::ESCAPE_SSE},
      {.hex = "f3 0f 58 04 24", .op = Op::ESCAPE_SSE, .src = "m"},
      {.hex = "f2 44 0f 10 7c 24 08", .op = Op::ESCAPE_SSE},
      {.hex = "0f 70 c1 05", .op = Op::ESCAPE_SSE, .imm = 5},
      {.hex = "66 0f 73 d8 04", .op = Op::ESCAPE_SSE},  // PSRLDQ
      {.hex = "0f c2 c1 00", .op = Op::ESCAPE_SSE},
      {.hex = "0f 77", .op = Op::ESCAPE_SSE},  // EMMS
      {.hex = "66 0f 3a 0f c1 08", .op = Op::ESCAPE_SSE},
      {.hex = "66 0f 38 00 c1", .op = Op::ESCAPE_SSE},
      {.hex = "66 0f 78 c1 04 08", .op = Op::ESCAPE_SSE, .imm = 4, .imm2 = 8},  // EXTRQ
      {.hex = "0f 0f c1 9e", .op = Op::ESCAPE_SSE},                             // PFADD (3DNow!)
      {.hex = "0f 0f 44 24 08 b4", .op = Op::ESCAPE_SSE},
      {.hex = "c5 f8 58 c1", .op = Op::ESCAPE_SSE, .prefixes = pfx::kVex},
      {.hex = "c4 e1 78 58 c1", .op = Op::ESCAPE_SSE},
      {.hex = "c5 fc 77", .op = Op::ESCAPE_SSE},  // VZEROALL
      {.hex = "c4 e3 79 0f c1 08", .op = Op::ESCAPE_SSE},
      {.hex = "c4 e2 7d 5a 00", .op = Op::ESCAPE_SSE},  // VBROADCASTI128
      {.hex = "c5 f9 6e c0", .op = Op::ESCAPE_SSE},
      {.hex = "c5 f9 6e c0", .op = Op::ESCAPE_SSE, .bits = 32},
      {.hex = "f2 0f 38 f1 c1", .op = Op::ESCAPE_SSE},  // CRC32 (F2 over the MOVBE column)
  });
  // Insn::opcode carries the map and opcode for the FPU/SIMD semantics.
  Insn i;
  const uint8_t pshufb[] = {0x66, 0x0F, 0x38, 0x00, 0xC1};
  ASSERT_EQ(decode(pshufb, sizeof pshufb, DecodeMode{true, true}, &i), DecodeStatus::Ok);
  EXPECT_EQ(i.opcode, 0x200);
  const uint8_t fld[] = {0xDD, 0x04, 0x24};
  ASSERT_EQ(decode(fld, sizeof fld, DecodeMode{true, true}, &i), DecodeStatus::Ok);
  EXPECT_EQ(i.opcode, 0x0DD);
  const uint8_t vzeroall[] = {0xC5, 0xFC, 0x77};
  ASSERT_EQ(decode(vzeroall, sizeof vzeroall, DecodeMode{true, true}, &i), DecodeStatus::Ok);
  EXPECT_EQ(i.opcode, 0x1177);  // VEX.L, map 1, 77
  const uint8_t pfadd[] = {0x0F, 0x0F, 0xC1, 0x9E};
  ASSERT_EQ(decode(pfadd, sizeof pfadd, DecodeMode{true, true}, &i), DecodeStatus::Ok);
  EXPECT_EQ(i.opcode, 0x49E);
}

TEST(DecoderFields, LengthLimitAndTruncatedInput) {
  Insn i;
  // 14 prefixes + NOP: exactly 15 bytes.
  uint8_t b[16];
  std::memset(b, 0x66, sizeof b);
  b[14] = 0x90;
  ASSERT_EQ(decode(b, 15, DecodeMode{true, true}, &i), DecodeStatus::Ok);
  EXPECT_EQ(i.len, 15);
  // 15 prefixes + NOP: 16 bytes.
  b[14] = 0x66;
  b[15] = 0x90;
  EXPECT_EQ(decode(b, 16, DecodeMode{true, true}, &i), DecodeStatus::TooLong);
  EXPECT_EQ(i.len, 15);
  EXPECT_EQ(i.fn, &handler_ud);
  EXPECT_TRUE(i.attrs & attr::kEndsBlock);
  // The 16th byte is needed: too long even though only 15 are available.
  EXPECT_EQ(decode(b, 15, DecodeMode{true, true}, &i), DecodeStatus::TooLong);
  // 10 prefixes + MOV rax, imm64 = 20 bytes.
  uint8_t m[20];
  std::memset(m, 0x2E, 10);
  m[10] = 0x48;
  m[11] = 0xB8;
  std::memset(m + 12, 0x11, 8);
  EXPECT_EQ(decode(m, 20, DecodeMode{true, true}, &i), DecodeStatus::TooLong);
  // Truncated input.
  const uint8_t movabs[] = {0x48, 0xB8, 1, 2, 3};
  EXPECT_EQ(decode(movabs, sizeof movabs, DecodeMode{true, true}, &i), DecodeStatus::NeedMore);
  EXPECT_EQ(i.fn, &handler_ud);
  const uint8_t esc[] = {0x0F};
  EXPECT_EQ(decode(esc, 1, DecodeMode{true, true}, &i), DecodeStatus::NeedMore);
  const uint8_t sib[] = {0x8B, 0x04};
  EXPECT_EQ(decode(sib, 2, DecodeMode{true, true}, &i), DecodeStatus::NeedMore);
  const uint8_t vex[] = {0xC5};  // outside 64-bit mode the next byte decides LDS vs VEX
  EXPECT_EQ(decode(vex, 1, DecodeMode{false, true}, &i), DecodeStatus::NeedMore);
  EXPECT_EQ(decode(b, 0, DecodeMode{true, true}, &i), DecodeStatus::NeedMore);
  EXPECT_GE(i.len, 1);
}

}  // namespace
}  // namespace umbra
