#include "jit/flag_liveness.h"

namespace umbra {

bool cannot_request_exit(const Insn& insn) {
  // LOCK on anything but a memory destination raises #UD (SDM vol. 2, LOCK).
  if (insn.prefixes & pfx::kLock) return false;
  const bool lea = insn.op == Op::LEA;  // an address computation, no access
  for (const Operand* o : {&insn.dst, &insn.src, &insn.src2})
    if (o->kind == OpKind::Mem && !lea) return false;
  switch (insn.op) {
    case Op::MOV:
    case Op::MOVZX:
    case Op::MOVSX:
    case Op::MOVSXD:
    case Op::LEA:
    case Op::XCHG:
    case Op::BSWAP:
    case Op::CBW:
    case Op::CWD:
    case Op::LAHF:
    case Op::SAHF:
    case Op::SETCC:
    case Op::CMOVCC:
    case Op::ADD:
    case Op::ADC:
    case Op::SUB:
    case Op::SBB:
    case Op::CMP:
    case Op::INC:
    case Op::DEC:
    case Op::NEG:
    case Op::MUL:
    case Op::IMUL1:
    case Op::IMUL:
    case Op::DIV:
    case Op::IDIV:
    case Op::AND:
    case Op::OR:
    case Op::XOR:
    case Op::TEST:
    case Op::NOT:
    case Op::ROL:
    case Op::ROR:
    case Op::RCL:
    case Op::RCR:
    case Op::SHL:
    case Op::SHR:
    case Op::SAR:
    case Op::SHLD:
    case Op::SHRD:
    case Op::BT:
    case Op::BTS:
    case Op::BTR:
    case Op::BTC:
    case Op::BSF:
    case Op::BSR:
    case Op::POPCNT:
    case Op::LZCNT:
    case Op::TZCNT:
    case Op::ANDN:
    case Op::BEXTR:
    case Op::BLSI:
    case Op::BLSMSK:
    case Op::BLSR:
    case Op::BZHI:
    case Op::MULX:
    case Op::PDEP:
    case Op::PEXT:
    case Op::RORX:
    case Op::SARX:
    case Op::SHLX:
    case Op::SHRX:
    case Op::ADCX:
    case Op::ADOX:
      return (insn.attrs & attr::kUnimplemented) == 0;
    default:
      return false;
  }
}

FlagUse flag_use(const Insn& insn) {
  switch (insn.op) {
    case Op::MOV:
    case Op::MOVZX:
    case Op::MOVSX:
    case Op::MOVSXD:
    case Op::LEA:
    case Op::NOP:
    case Op::XCHG:
    case Op::BSWAP:
    case Op::NOT:
    case Op::PUSH:
    case Op::POP:
    case Op::JMP:
    case Op::CALL:
    case Op::RET:
      return FlagUse::kNone;
    case Op::ADD:
    case Op::SUB:
    case Op::CMP:
    case Op::AND:
    case Op::OR:
    case Op::XOR:
    case Op::TEST:
    case Op::NEG:
      return FlagUse::kWritesAll;
    case Op::SHL:
    case Op::SHR:
    case Op::SAR:
      // A nonzero masked count writes all six (shift.cpp); a count of 0 (or CL) may keep them.
      return insn.src.kind == OpKind::Imm && (insn.imm & (insn.opsize == 8 ? 63 : 31)) != 0
                 ? FlagUse::kWritesAll
                 : FlagUse::kPasses;
    case Op::INC:
    case Op::DEC:
    case Op::ROL:
    case Op::ROR:
    case Op::IMUL:
    case Op::IMUL1:
    case Op::MUL:
    case Op::BT:
    case Op::BSF:
    case Op::BSR:
      return FlagUse::kPasses;
    default:
      return FlagUse::kReads;
  }
}

std::vector<bool> dead_flags(const std::vector<Insn>& insns) {
  std::vector<bool> dead(insns.size());
  bool live = true;
  for (size_t k = insns.size(); k-- > 0;) {
    const Insn& insn = insns[k];
    const bool observable = !cannot_request_exit(insn) || insn.op == Op::DIV || insn.op == Op::IDIV;
    if (observable) live = true;
    dead[k] = !live;
    switch (observable ? FlagUse::kReads : flag_use(insn)) {
      case FlagUse::kNone:
      case FlagUse::kPasses:
        break;
      case FlagUse::kWritesAll:
        live = false;
        break;
      case FlagUse::kReads:
        live = true;
        break;
    }
  }
  return dead;
}

}  // namespace umbra
