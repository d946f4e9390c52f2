// Binary arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP in all eight encodings, TEST, NEG,
// NOT, INC, DEC (SDM vol. 2; flags per each instruction's "Flags Affected").
#include "forms.h"

namespace difftest {

namespace {

struct AluOp {
  const char* name;
  uint8_t k;  // opcode group index: ADD OR ADC SBB AND SUB XOR CMP
};
constexpr AluOp kAluOps[] = {{"add", 0}, {"or", 1},  {"adc", 2}, {"sbb", 3},
                             {"and", 4}, {"sub", 5}, {"xor", 6}, {"cmp", 7}};

bool is_logic(unsigned k) {
  return k == 1 || k == 4 || k == 6;
}

// AND/OR/XOR/TEST: OF and CF cleared, SF ZF PF from the result, AF undefined. The others set
// all six; ADC and SBB read CF.
void alu_flags(Effects& fx, unsigned k) {
  if (is_logic(k)) {
    fx.flags_def = fl::CF | fl::OF | fl::SF | fl::ZF | fl::PF;
    fx.flags_undef = fl::AF;
  } else {
    fx.flags_def = fl::STATUS;
    if (k == 2 || k == 3) fx.flags_read = fl::CF;
  }
}

const unsigned kSizes[] = {2, 4, 8};

// op r/m, r  (and the byte form)
bool gen_rm_reg(Gen& g, uint8_t opcode, unsigned size, unsigned k, bool writes, bool lockable) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(opcode);
  const RmOp rm = g.rm(ib, size, writes ? Role::kDst : Role::kSrc, MemReq{});
  const uint8_t r = g.reg(ib, size, Role::kSrc);
  set_rm(ib, r, rm);
  alu_flags(ib.fx, k);
  if (writes && lockable) g.maybe_lock(ib);
  return g.emit(ib);
}

// op r, r/m
bool gen_reg_rm(Gen& g, uint8_t opcode, unsigned size, unsigned k, bool writes) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(opcode);
  const uint8_t r = g.reg(ib, size, writes ? Role::kDst : Role::kSrc);
  const RmOp rm = g.rm(ib, size, Role::kSrc, MemReq{});
  set_rm(ib, r, rm);
  alu_flags(ib.fx, k);
  return g.emit(ib);
}

// op al/ax/eax/rax, imm
bool gen_acc_imm(Gen& g, uint8_t opcode, unsigned size, unsigned k, bool writes) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(opcode);
  ib.s.set_imm(g.imm(iz_bytes(size)), iz_bytes(size));
  if (writes) ib.fx.regs_written = 1u << RAX_;
  alu_flags(ib.fx, k);
  return g.emit(ib);
}

// op r/m, imm (80/81 /k, 83 /k with a sign-extended imm8, F6/F7 /0 for TEST)
bool gen_rm_imm(Gen& g, uint8_t opcode, uint8_t ext, unsigned size, unsigned imm_bytes, unsigned k,
                bool writes, bool lockable) {
  Ib ib = g.begin(size, size == 1);
  ib.s.set_opcode(opcode);
  const RmOp rm = g.rm(ib, size, writes ? Role::kDst : Role::kSrc, MemReq{});
  set_rm(ib, ext, rm);
  ib.s.set_imm(g.imm(imm_bytes), imm_bytes);
  alu_flags(ib.fx, k);
  if (writes && lockable) g.maybe_lock(ib);
  return g.emit(ib);
}

// NEG NOT INC DEC: one r/m operand.
enum class Unary { kNeg, kNot, kInc, kDec };
bool gen_unary(Gen& g, Unary op, unsigned size) {
  Ib ib = g.begin(size, size == 1);
  uint8_t ext = 0;
  switch (op) {
    case Unary::kNeg:
      ib.s.set_opcode(size == 1 ? 0xf6 : 0xf7), ext = 3;
      ib.fx.flags_def = fl::STATUS;  // CF = (operand != 0)
      break;
    case Unary::kNot:
      ib.s.set_opcode(size == 1 ? 0xf6 : 0xf7), ext = 2;
      break;
    case Unary::kInc:
    case Unary::kDec:
      ib.s.set_opcode(size == 1 ? 0xfe : 0xff), ext = op == Unary::kInc ? 0 : 1;
      ib.fx.flags_def = fl::STATUS & ~fl::CF;  // CF is not affected
      break;
  }
  const RmOp rm = g.rm(ib, size, Role::kDst, MemReq{});
  set_rm(ib, ext, rm);
  g.maybe_lock(ib);
  return g.emit(ib);
}

std::string sz(unsigned size) {
  return size_suffix(size);
}

}  // namespace

void add_alu_forms(std::vector<Form>& out) {
  for (const AluOp& op : kAluOps) {
    const std::string n = op.name;
    const unsigned k = op.k;
    const bool writes = k != 7;
    const bool lockable = k != 7;
    const uint8_t base = static_cast<uint8_t>(k * 8);
    out.push_back({n + " r/m8, r8", n, 0,
                   [=](Gen& g) { return gen_rm_reg(g, base + 0, 1, k, writes, lockable); }});
    for (unsigned s : kSizes)
      out.push_back({n + " r/m" + sz(s) + ", r" + sz(s), n, 0,
                     [=](Gen& g) { return gen_rm_reg(g, base + 1, s, k, writes, lockable); }});
    out.push_back(
        {n + " r8, r/m8", n, 0, [=](Gen& g) { return gen_reg_rm(g, base + 2, 1, k, writes); }});
    for (unsigned s : kSizes)
      out.push_back({n + " r" + sz(s) + ", r/m" + sz(s), n, 0,
                     [=](Gen& g) { return gen_reg_rm(g, base + 3, s, k, writes); }});
    out.push_back(
        {n + " al, imm8", n, 0, [=](Gen& g) { return gen_acc_imm(g, base + 4, 1, k, writes); }});
    for (unsigned s : kSizes)
      out.push_back({n + " " + acc_name(s) + ", imm" + sz(s == 8 ? 4 : s), n, 0,
                     [=](Gen& g) { return gen_acc_imm(g, base + 5, s, k, writes); }});
    out.push_back({n + " r/m8, imm8", n, 0, [=](Gen& g) {
                     return gen_rm_imm(g, 0x80, static_cast<uint8_t>(k), 1, 1, k, writes, lockable);
                   }});
    for (unsigned s : kSizes)
      out.push_back({n + " r/m" + sz(s) + ", imm" + sz(s == 8 ? 4 : s), n, 0, [=](Gen& g) {
                       return gen_rm_imm(g, 0x81, static_cast<uint8_t>(k), s, iz_bytes(s), k,
                                         writes, lockable);
                     }});
    for (unsigned s : kSizes)
      out.push_back({n + " r/m" + sz(s) + ", imm8", n, 0, [=](Gen& g) {
                       return gen_rm_imm(g, 0x83, static_cast<uint8_t>(k), s, 1, k, writes,
                                         lockable);
                     }});
  }

  // TEST: flags as AND, nothing written, not lockable.
  out.push_back(
      {"test r/m8, r8", "test", 0, [](Gen& g) { return gen_rm_reg(g, 0x84, 1, 4, false, false); }});
  for (unsigned s : kSizes)
    out.push_back({"test r/m" + sz(s) + ", r" + sz(s), "test", 0,
                   [=](Gen& g) { return gen_rm_reg(g, 0x85, s, 4, false, false); }});
  out.push_back(
      {"test al, imm8", "test", 0, [](Gen& g) { return gen_acc_imm(g, 0xa8, 1, 4, false); }});
  for (unsigned s : kSizes)
    out.push_back({std::string("test ") + acc_name(s) + ", imm" + sz(s == 8 ? 4 : s), "test", 0,
                   [=](Gen& g) { return gen_acc_imm(g, 0xa9, s, 4, false); }});
  out.push_back({"test r/m8, imm8", "test", 0,
                 [](Gen& g) { return gen_rm_imm(g, 0xf6, 0, 1, 1, 4, false, false); }});
  for (unsigned s : kSizes)
    out.push_back({"test r/m" + sz(s) + ", imm" + sz(s == 8 ? 4 : s), "test", 0, [=](Gen& g) {
                     return gen_rm_imm(g, 0xf7, 0, s, iz_bytes(s), 4, false, false);
                   }});

  const struct {
    const char* name;
    Unary op;
  } kUnary[] = {
      {"neg", Unary::kNeg}, {"not", Unary::kNot}, {"inc", Unary::kInc}, {"dec", Unary::kDec}};
  for (const auto& u : kUnary)
    for (unsigned s : {1u, 2u, 4u, 8u})
      out.push_back({std::string(u.name) + " r/m" + sz(s), u.name, 0,
                     [op = u.op, s](Gen& g) { return gen_unary(g, op, s); }});
}

}  // namespace difftest
