// The decoder engine: generic code driven by the tables of decoder_table.h. It reads prefixes,
// finds the opcode's table entry (one-byte, 0F, 0F38, 0F3A, VEX maps, ModRM groups), then lets
// the entry's operand form drive ModRM/SIB/displacement/immediate decoding and the operand
// layout of the Insn. Conventions and rules: docs/decoder.md.
#include "frontend/decoder.h"

#include <cstring>

#include "frontend/decoder_internal.h"
#include "frontend/decoder_table.h"
#include "frontend/semantics/registry.h"

namespace umbra {

namespace {

using namespace dec;

constexpr unsigned kMaxInsnLen = 15;  // SDM vol. 2, 2.3.11

enum class Enc : uint8_t { Legacy, Vex, Evex, Xop, Amd3DNow };

// An entry for encodings decoded by rule rather than by table (3DNow!, EVEX, XOP).
constexpr OpcodeEntry synthetic(Op op, Form form, uint32_t flags) {
  return OpcodeEntry{static_cast<uint8_t>(op), form, G_NONE, 0, flags};
}

class Decoder {
 public:
  Decoder(const uint8_t* bytes, unsigned avail, DecodeMode mode)
      : b_(bytes), avail_(avail), mode64_(mode.mode64), mode16_(!mode.mode64 && !mode.code32) {}

  DecodeStatus run(Insn* out);
  InvalidReason reason() const { return reason_; }
  Op named_op() const { return named_op_; }
  bool full_length() const { return full_length_; }

 private:
  // True when bytes [pos_, pos_ + n) may be read; otherwise records why not (more than 15 bytes
  // wins over running out of input: such an instruction can never be valid).
  bool need(unsigned n) {
    if (pos_ + n > kMaxInsnLen) {
      short_ = DecodeStatus::TooLong;
      return false;
    }
    if (pos_ + n > avail_) {
      short_ = DecodeStatus::NeedMore;
      return false;
    }
    return true;
  }
  // Reads n bytes, little-endian (after need(n)). Fixed sizes compile to single loads; a
  // variable-size memcpy would be a library call.
  uint64_t read(unsigned n) {
    const uint8_t* p = b_ + pos_;
    pos_ += n;
    switch (n) {
      case 1:
        return p[0];
      case 2:
        return load<uint16_t>(p);
      case 4:
        return load<uint32_t>(p);
      case 8:
        return load<uint64_t>(p);
      default: {  // 3 (ENTER) and 6 (far pointer)
        uint64_t v = 0;
        for (unsigned k = 0; k < n; ++k) v |= uint64_t{p[k]} << (8 * k);
        return v;
      }
    }
  }
  template <typename T>
  static uint64_t load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  void set_reason(InvalidReason r) {
    if (reason_ == InvalidReason::None) reason_ = r;
  }

  bool parse_prefixes();
  DecodeStatus decode_vex(Insn* out, uint8_t escape);
  DecodeStatus decode_evex(Insn* out);
  DecodeStatus decode_xop(Insn* out);
  DecodeStatus decode_entry(Insn* out, const OpcodeEntry& e);
  void check_encoding(Insn* out, const FormInfo& fi, Op op, unsigned flags, unsigned rm_mask,
                      bool mem);
  unsigned operand_size(Size s, unsigned flags) const;
  bool decode_memory(Insn* out);
  bool decode_immediate(Insn* out, Imm kind);
  Operand operand(Loc loc, bool byte_reg, bool mem) const;
  Operand gpr(unsigned n, bool byte_reg) const {
    // Without a REX prefix, byte registers 4..7 are AH, CH, DH, BH (SDM vol. 1, 3.4.1.1).
    if (byte_reg && !rex_ && n >= 4 && n <= 7) n = n - 4 + kRegAH;
    return Operand{OpKind::Reg, static_cast<uint8_t>(n)};
  }
  uint8_t prefix_bits() const;
  DecodeStatus incomplete(Insn* out);
  DecodeStatus invalid(Insn* out);

  const uint8_t* b_;
  unsigned avail_;
  unsigned pos_ = 0;
  bool mode64_;
  bool mode16_;  // 16-bit default operand and address size
  DecodeStatus short_ = DecodeStatus::Ok;
  InvalidReason reason_ = InvalidReason::None;
  bool bad_vex_prefix_ = false;  // 66/F2/F3/F0/REX before VEX/EVEX/XOP (SDM vol. 2, 2.3.2)
  Op named_op_ = Op::INVALID;
  bool full_length_ = false;

  // Prefixes.
  int seg_ = -1;      // segment override, or -1
  bool p66_ = false;  // operand-size override present
  bool p67_ = false;  // address-size override present
  bool lock_ = false;
  uint8_t rep_ = 0;                          // the last of F2/F3, or 0
  uint8_t rex_ = 0;                          // the effective REX byte, or 0
  unsigned w_ = 0, r_ = 0, x_ = 0, bb_ = 0;  // REX (or VEX/EVEX) W, R, X, B
  unsigned col_ = 0;  // mandatory-prefix column: 0 none, 1 66, 2 F3, 3 F2 (or VEX.pp)

  // Opcode.
  Enc enc_ = Enc::Legacy;
  uint8_t map_ = kMapLegacy;
  uint8_t opc_ = 0;
  uint8_t modrm_ = 0;
  uint8_t vvvv_ = 0;
  uint8_t vex_l_ = 0;
  unsigned opsize_ = 4;
  unsigned addr_size_ = 8;
};

// Legacy prefixes (SDM vol. 2, 2.1.1) and REX (2.2.1). Returns false when input runs out.
bool Decoder::parse_prefixes() {
  for (;;) {
    if (!need(1)) return false;
    const uint8_t c = b_[pos_];
    switch (c) {
      case 0x26:
      case 0x2E:
      case 0x36:
      case 0x3E:
        seg_ = (c >> 3) & 3;  // ES, CS, SS, DS
        break;
      case 0x64:
      case 0x65:
        seg_ = FS + (c - 0x64);
        break;
      case 0x66:
        p66_ = true;
        break;
      case 0x67:
        p67_ = true;
        break;
      case 0xF0:
        lock_ = true;
        break;
      case 0xF2:
      case 0xF3:
        rep_ = c;
        break;
      default:
        if (mode64_ && (c & 0xF0) == 0x40) {
          rex_ = c;  // a later REX replaces an earlier one
          ++pos_;
          continue;
        }
        return true;
    }
    rex_ = 0;  // REX counts only immediately before the opcode; otherwise it is ignored
    ++pos_;
  }
}

DecodeStatus Decoder::run(Insn* out) {
  if (!parse_prefixes()) return incomplete(out);
  if (rex_) {
    w_ = (rex_ >> 3) & 1;
    r_ = (rex_ >> 2) & 1;
    x_ = (rex_ >> 1) & 1;
    bb_ = rex_ & 1;
  }
  // F2/F3 select the mandatory-prefix column over 66; the last of F2/F3 wins.
  col_ = rep_ == 0xF3 ? 2 : rep_ == 0xF2 ? 3 : p66_ ? 1 : 0;

  const uint8_t c = b_[pos_++];
  if (c == 0x0F) {
    if (!need(1)) return incomplete(out);
    const uint8_t c2 = b_[pos_++];
    if (c2 == 0x0F) {
      enc_ = Enc::Amd3DNow;
      map_ = 4;
      return decode_entry(out, synthetic(Op::ESCAPE_SSE, Form::Wx_Ib, NONE));
    }
    if (c2 == 0x38 || c2 == 0x3A) {
      map_ = c2 == 0x38 ? kMap0F38 : kMap0F3A;
      if (!need(1)) return incomplete(out);
      opc_ = b_[pos_++];
    } else {
      map_ = kMap0F;
      opc_ = c2;
    }
    return decode_entry(out, kTables.escaped[map_ - 1][col_][opc_]);
  }
  opc_ = c;
  // C4/C5 (VEX), 62 (EVEX) and 8F (XOP) are escapes in 64-bit mode, and in other modes when
  // the next byte could not be a ModRM of LES/LDS/BOUND (mod = 11) or of POP (reg != 0).
  if (c == 0xC4 || c == 0xC5 || c == 0x62 || c == 0x8F) {
    if (!need(1)) return incomplete(out);
    const uint8_t n = b_[pos_];
    if (c == 0x8F) {
      if ((n & 0x38) != 0) return decode_xop(out);
    } else if (mode64_ || n >= 0xC0) {
      return c == 0x62 ? decode_evex(out) : decode_vex(out, c);
    }
  }
  return decode_entry(out, kTables.legacy[mode64_][c]);
}

// VEX (SDM vol. 2, 2.3.5): C5 R vvvv L pp | C4 R X B mmmmm, W vvvv L pp.
DecodeStatus Decoder::decode_vex(Insn* out, uint8_t escape) {
  enc_ = Enc::Vex;
  bad_vex_prefix_ = p66_ || rep_ || lock_ || rex_;
  unsigned map = 1;
  uint8_t last;
  if (escape == 0xC5) {
    if (!need(2)) return incomplete(out);
    last = b_[pos_++];
    r_ = !(last & 0x80);
    x_ = bb_ = w_ = 0;
  } else {
    if (!need(3)) return incomplete(out);
    const uint8_t p0 = b_[pos_++];
    last = b_[pos_++];
    r_ = !(p0 & 0x80);
    x_ = !(p0 & 0x40);
    bb_ = !(p0 & 0x20);
    map = p0 & 0x1F;
    w_ = last >> 7;
  }
  vvvv_ = (~last >> 3) & 15;
  vex_l_ = (last >> 2) & 1;
  col_ = last & 3;
  rex_ = 0;
  if (!mode64_) {  // outside 64-bit mode only 8 registers: R, X, B and vvvv[3] are ignored
    r_ = x_ = bb_ = 0;
    vvvv_ &= 7;
  }
  if (map < 1 || map > 3) {
    set_reason(InvalidReason::VexMap);
    return invalid(out);
  }
  map_ = static_cast<uint8_t>(map);
  opc_ = b_[pos_++];
  return decode_entry(out, kTables.vex[map - 1][col_][opc_]);
}

// EVEX (SDM vol. 2, 2.7): 62 P0 P1 P2 opcode. AVX-512 is outside Umbra's CPU model; the
// encoding is decoded for its length only (ModRM, SIB, disp8*N is one byte, imm8 by map).
DecodeStatus Decoder::decode_evex(Insn* out) {
  enc_ = Enc::Evex;
  bad_vex_prefix_ = p66_ || rep_ || lock_ || rex_;
  if (!need(4)) return incomplete(out);
  const uint8_t p0 = b_[pos_], p1 = b_[pos_ + 1];
  pos_ += 3;
  const unsigned map = p0 & 7;
  // P0 bit 3 must be 0 and P1 bit 2 must be 1; maps 1-3 (and 5-6, AVX512-FP16) exist.
  if ((p0 & 0x08) || !(p1 & 0x04) || map == 0 || map == 4 || map == 7) {
    set_reason(InvalidReason::VexMap);
    return invalid(out);
  }
  r_ = !(p0 & 0x80);
  x_ = !(p0 & 0x40);
  bb_ = !(p0 & 0x20);
  w_ = p1 >> 7;
  rex_ = 0;
  if (!mode64_) r_ = x_ = bb_ = 0;
  map_ = static_cast<uint8_t>(map);
  opc_ = b_[pos_++];
  const bool imm8 = map == 3 || (map == 1 && ((opc_ >= 0x70 && opc_ <= 0x73) ||
                                              (opc_ >= 0xC4 && opc_ <= 0xC6) || opc_ == 0xC2));
  return decode_entry(out, synthetic(Op::INVALID, imm8 ? Form::Wx_Ib : Form::Wx, UNS));
}

// AMD XOP (8F with ModRM.reg != 0): maps 8 (imm8), 9 (none), 0A (imm32). Not supported by
// current CPUs (Zen dropped it); decoded for its length only.
DecodeStatus Decoder::decode_xop(Insn* out) {
  enc_ = Enc::Xop;
  bad_vex_prefix_ = p66_ || rep_ || lock_ || rex_;
  if (!need(4)) return incomplete(out);
  const unsigned map = b_[pos_] & 0x1F;
  r_ = !(b_[pos_] & 0x80);
  x_ = !(b_[pos_] & 0x40);
  bb_ = !(b_[pos_] & 0x20);
  w_ = b_[pos_ + 1] >> 7;
  rex_ = 0;
  if (!mode64_) r_ = x_ = bb_ = 0;
  pos_ += 2;
  if (map < 8 || map > 10) {
    set_reason(InvalidReason::VexMap);
    return invalid(out);
  }
  map_ = static_cast<uint8_t>(map);
  opc_ = b_[pos_++];
  const Form f = map == 8 ? Form::Wx_Ib : map == 9 ? Form::Wx : Form::Wx_Id;
  return decode_entry(out, synthetic(Op::INVALID, f, UNS));
}

unsigned Decoder::operand_size(Size s, unsigned flags) const {
  // 66 used as a mandatory prefix does not change the operand size (SDM vol. 2, 2.1.2).
  const bool o16 = p66_ && !(flags & M66);
  switch (s) {
    case Size::B:
      return 1;
    case Size::W:
      return 2;
    case Size::V:
      // SDM vol. 1, 3.6.1 and vol. 2, 2.2.1.2: REX.W wins over 66; some operations default to
      // (or are fixed at) 64 bits in 64-bit mode.
      if (mode64_) {
        if (w_ || (flags & F64)) return 8;
        if (flags & D64) return o16 ? 2 : 8;
        return o16 ? 2 : 4;
      }
      return mode16_ != o16 ? 2 : 4;
    case Size::Z:
      if (mode64_) return o16 ? 2 : 4;
      return mode16_ != o16 ? 2 : 4;
    case Size::Y:
      return mode64_ && w_ ? 8 : 4;
    case Size::Q64:
      return mode64_ ? 8 : 4;
    case Size::DQ:
      return mode64_ && w_ ? 16 : 8;
  }
  return 4;
}

// ModRM memory operand with SIB and displacement (SDM vol. 2, 2.1.5 tables 2-1 .. 2-3 and
// 2.2.1.6 for RIP-relative). Returns false when input runs out.
bool Decoder::decode_memory(Insn* out) {
  const unsigned mod = modrm_ >> 6, rm = modrm_ & 7;
  unsigned disp_bytes = mod == 1 ? 1 : 0;
  if (addr_size_ == 2) {
    static constexpr uint8_t kBase16[8] = {RBX, RBX, RBP, RBP, RSI, RDI, RBP, RBX};
    static constexpr uint8_t kIndex16[8] = {RSI, RDI, RSI, RDI, kNoReg, kNoReg, kNoReg, kNoReg};
    out->base = kBase16[rm];
    out->index = kIndex16[rm];
    if (mod == 0 && rm == 6) {
      out->base = kNoReg;
      disp_bytes = 2;
    } else if (mod == 2) {
      disp_bytes = 2;
    }
  } else {
    if (mod == 2) disp_bytes = 4;
    if (rm == 4) {
      if (!need(1)) return false;
      const uint8_t sib = b_[pos_++];
      const unsigned index = ((sib >> 3) & 7) | (x_ << 3);
      out->scale = sib >> 6;
      out->index = index == 4 ? kNoReg : static_cast<uint8_t>(index);  // no index (REX.X=0)
      if ((sib & 7) == 5 && mod == 0) {
        out->base = kNoReg;  // [index*scale + disp32], whatever REX.B says
        disp_bytes = 4;
      } else {
        out->base = static_cast<uint8_t>((sib & 7) | (bb_ << 3));
      }
    } else if (rm == 5 && mod == 0) {
      // 64-bit mode: RIP-relative (EIP-relative with 67, truncated by the address size).
      out->base = mode64_ ? kRipReg : kNoReg;
      disp_bytes = 4;
    } else {
      out->base = static_cast<uint8_t>(rm | (bb_ << 3));
    }
  }
  if (disp_bytes) {
    if (!need(disp_bytes)) return false;
    const uint64_t d = read(disp_bytes);
    out->disp = disp_bytes == 1   ? static_cast<int8_t>(d)
                : disp_bytes == 2 ? static_cast<int16_t>(d)
                                  : static_cast<int32_t>(d);
  }
  // Default segment: SS for rBP/rSP-based addressing, else DS (SDM vol. 1, 3.7.4.1).
  out->seg = (out->base == RSP || out->base == RBP) ? SS : DS;
  return true;
}

bool Decoder::decode_immediate(Insn* out, Imm kind) {
  unsigned n = 0;
  switch (kind) {
    case Imm::None:
      return true;
    case Imm::Ib:
    case Imm::Ibu:
    case Imm::Jb:
      n = 1;
      break;
    case Imm::Iw:
      n = 2;
      break;
    case Imm::Iz:
    case Imm::Jz:
      n = opsize_ == 2 ? 2 : 4;
      break;
    case Imm::Iv:
      n = opsize_;
      break;
    case Imm::Ap:
      n = (opsize_ == 2 ? 2 : 4) + 2;
      break;
    case Imm::O:
      n = addr_size_;
      break;
    case Imm::IwIb:
      n = 3;
      break;
    case Imm::IbIb:
      n = 2;
      break;
    case Imm::Id:
      n = 4;
      break;
  }
  if (!need(n)) return false;
  const uint64_t v = read(n);
  switch (kind) {
    case Imm::None:
      break;
    case Imm::Ib:
    case Imm::Jb:
      out->imm = static_cast<uint64_t>(int64_t{static_cast<int8_t>(v)});
      break;
    case Imm::Iz:
    case Imm::Jz:
      out->imm = static_cast<uint64_t>(n == 2 ? int64_t{static_cast<int16_t>(v)}
                                              : int64_t{static_cast<int32_t>(v)});
      break;
    case Imm::Ibu:
    case Imm::Iw:
    case Imm::Iv:
    case Imm::Id:
      out->imm = v;
      break;
    case Imm::Ap:  // offset, then the selector (kept in disp: a far pointer has no memory operand)
      out->imm = n == 4 ? (v & 0xffff) : (v & 0xffffffff);
      out->disp = static_cast<int64_t>(v >> ((n - 2) * 8));
      break;
    case Imm::O:  // moffs: an absolute offset of the address size, zero-extended
      out->disp = static_cast<int64_t>(v);
      out->base = out->index = kNoReg;
      out->seg = DS;
      break;
    case Imm::IwIb:
      out->imm = v & 0xffff;
      out->imm2 = static_cast<uint8_t>(v >> 16);
      break;
    case Imm::IbIb:
      out->imm = v & 0xff;
      out->imm2 = static_cast<uint8_t>(v >> 8);
      break;
  }
  return true;
}

Operand Decoder::operand(Loc loc, bool byte_reg, bool mem) const {
  const unsigned reg = (modrm_ >> 3) & 7, rm = modrm_ & 7;
  switch (loc) {
    case Loc::None:
      return Operand{OpKind::None, 0};
    case Loc::E:
    case Loc::M:
    case Loc::R:
      return mem ? Operand{OpKind::Mem, 0} : gpr(rm | (bb_ << 3), byte_reg);
    case Loc::Rf:
      return gpr(rm | (bb_ << 3), false);
    case Loc::G:
      return gpr(reg | (r_ << 3), byte_reg);
    case Loc::Z:
      return gpr((opc_ & 7) | (bb_ << 3), byte_reg);
    case Loc::Acc:
      return Operand{OpKind::Reg, RAX};
    case Loc::Cnt:
      return Operand{OpKind::Reg, RCX};
    case Loc::Dx:
      return Operand{OpKind::Reg, RDX};
    case Loc::Imm:
    case Loc::One:
      return Operand{OpKind::Imm, 0};
    case Loc::Moffs:
      return Operand{OpKind::Mem, 0};
    case Loc::V:
      return Operand{OpKind::Reg, vvvv_};
    case Loc::S:
      return Operand{OpKind::None, static_cast<uint8_t>(reg)};
    case Loc::Cr:
    case Loc::Dr:
      return Operand{OpKind::None, static_cast<uint8_t>(reg | (r_ << 3))};
    case Loc::Seg:
      return Operand{OpKind::None, static_cast<uint8_t>((opc_ >> 3) & 7)};
  }
  return Operand{OpKind::None, 0};
}

DecodeStatus Decoder::decode_entry(Insn* out, const OpcodeEntry& entry) {
  Form form = entry.form;
  Op op = entry.op();
  unsigned flags = entry.flags;
  unsigned rm_mask = entry.rm_mask;
  bool undefined = op == Op::INVALID && !(flags & UNS) && entry.group == G_NONE;

  // ModRM group dispatch: by ModRM.reg, then (nested groups) by ModRM.rm. Members of form
  // Same take the form of the entry that dispatched to them.
  if (entry.group != G_NONE) {
    if (!need(1)) return incomplete(out);
    const uint8_t modrm = b_[pos_];
    const unsigned isreg = modrm >= 0xC0;
    unsigned group = entry.group;
    unsigned index = (modrm >> 3) & 7;
    while (group != G_NONE) {
      const OpcodeEntry& m = kTables.group[group][col_][index][isreg];
      if (m.op() == Op::INVALID && !(m.flags & UNS) && m.group == G_NONE) {
        undefined = true;  // keep the parent's form: its ModRM/immediate still give the length
        op = Op::INVALID;
        break;
      }
      if (m.form != Form::Same) form = m.form;
      op = m.op();
      flags |= m.flags;
      rm_mask = m.rm_mask;
      group = m.group;
      index = modrm & 7;
    }
  }

  const FormInfo& fi = kForms[static_cast<size_t>(form)];
  named_op_ = op;
  if (undefined || bad_vex_prefix_ || enc_ == Enc::Evex || enc_ == Enc::Xop ||
      (flags & (UNS | I64 | O64))) {
    if (undefined) set_reason(InvalidReason::Undefined);
    if (bad_vex_prefix_) set_reason(InvalidReason::VexPrefix);
    if (enc_ == Enc::Evex) set_reason(InvalidReason::Evex);
    if (enc_ == Enc::Xop) set_reason(InvalidReason::Xop);
    if (flags & UNS) set_reason(InvalidReason::Unsupported);
    if (mode64_ && (flags & I64)) set_reason(InvalidReason::NotIn64);
    if (!mode64_ && (flags & O64)) set_reason(InvalidReason::OnlyIn64);
  }

  opsize_ = operand_size(fi.size, flags);
  addr_size_ = mode64_ ? (p67_ ? 4 : 8) : (mode16_ != p67_ ? 2 : 4);
  out->seg = DS;

  bool mem = false;
  if (fi.modrm) {
    if (!need(1)) return incomplete(out);
    modrm_ = b_[pos_++];
    // MOV to/from CR/DR ignore ModRM.mod: always a register (SDM vol. 2, MOV-Control Regs).
    if (modrm_ < 0xC0 && !(fi.checks & form_check::kForceReg)) {
      mem = true;
      if (!decode_memory(out)) return incomplete(out);
    }
  }
  if (!decode_immediate(out, fi.imm)) return incomplete(out);
  full_length_ = !undefined;
  // In 64-bit mode the ES, CS, SS and DS overrides are ignored (SDM vol. 1, 3.3.7.1): the
  // segment stays the default of the addressing form, so Insn::seg = SS keeps meaning "a stack
  // reference" for the canonical rule (#SS(0) for an RSP/RBP base, #GP(0) otherwise, whatever
  // the prefix; the host agrees). FS and GS overrides keep their bases and make the reference a
  // non-stack one (#GP(0)).
  if (seg_ >= 0 && (!mode64_ || seg_ >= FS)) out->seg = static_cast<uint8_t>(seg_);

  const unsigned reg = (modrm_ >> 3) & 7;
  out->opcode = static_cast<uint16_t>(opc_ | (map_ << 8) | (vex_l_ << 12));
  // Most instructions need none of the encoding checks; test that with one branch.
  // (The VEX flags L0/L1/NV/NVM/W0/W1 only occur on VEX entries: enc_ != Legacy.)
  if (fi.checks | rm_mask | lock_ | (enc_ != Enc::Legacy))
    check_encoding(out, fi, op, flags, rm_mask, mem);
  if (reason_ != InvalidReason::None) return invalid(out);

  if ((flags & NOP90) && !bb_) op = Op::NOP;  // 90 (and F3 90, PAUSE) without REX.B

  out->op = op;
  out->len = static_cast<uint8_t>(pos_);
  out->opsize = static_cast<uint8_t>(opsize_);
  out->src_size = fi.src_size;
  out->addr_size = static_cast<uint8_t>(addr_size_);
  if (op != Op::NOP) {
    const bool byte_ops = fi.size == Size::B;
    out->dst = operand(fi.dst, byte_ops, mem);
    out->src = operand(fi.src, byte_ops || fi.src_size == 1, mem);
    out->src2 = operand(fi.src2, byte_ops, mem);
    if (fi.src == Loc::One) out->imm = 1;
  }
  if (op == Op::JCC || op == Op::SETCC || op == Op::CMOVCC) out->cond = opc_ & 15;
  if (flags & EXT) out->ext = static_cast<uint8_t>(reg);
  if (flags & EXTM) out->ext = modrm_;
  // Escapes: the SIMD semantics dispatch on (map, opcode, mandatory-prefix column), x87 on the
  // opcode and the whole ModRM byte.
  if (op == Op::ESCAPE_SSE) out->ext = static_cast<uint8_t>(col_);
  if (op == Op::ESCAPE_X87) out->ext = static_cast<uint8_t>(modrm_);
  out->vreg = vvvv_;
  out->attrs = ((flags & END) ? attr::kEndsBlock : 0) | ((flags & RIP) ? attr::kWritesRip : 0);
  out->prefixes = prefix_bits();
  out->fn = bind_handler(*out);
  if (handler_is_unimplemented(out->fn)) out->attrs |= attr::kUnimplemented;
  return DecodeStatus::Ok;
}

// Encoding rules that make an otherwise decodable instruction #UD.
void Decoder::check_encoding(Insn* out, const FormInfo& fi, Op op, unsigned flags, unsigned rm_mask,
                             bool mem) {
  using namespace form_check;
  const unsigned reg = (modrm_ >> 3) & 7;
  if (enc_ == Enc::Amd3DNow) {  // the suffix byte, read like an imm8, selects the operation
    if (kTables.amd3dnow[out->imm & 0xff].op() == Op::INVALID) set_reason(InvalidReason::Undefined);
    opc_ = static_cast<uint8_t>(out->imm);
    out->opcode = static_cast<uint16_t>(opc_ | (map_ << 8));
  }
  if (fi.modrm && !mem && (fi.checks & kMemOnly)) set_reason(InvalidReason::RegisterForm);
  if (mem && (fi.checks & kRegOnly)) set_reason(InvalidReason::MemoryForm);
  if (fi.modrm && !mem && rm_mask && !((rm_mask >> (modrm_ & 7)) & 1))
    set_reason(InvalidReason::Undefined);
  if (lock_ && !((flags & LOCK) && mem && (fi.dst == Loc::E || fi.dst == Loc::M)))
    set_reason(InvalidReason::Lock);  // SDM vol. 2, LOCK: only these, only a memory destination
  if (enc_ == Enc::Vex) {
    // VEX.L and VEX.vvvv constraints (SDM vol. 2, 2.3.6; vvvv is 1111b when it is unused).
    const bool vvvv_used = vvvv_ != 0;
    if (((flags & L0) && vex_l_) || ((flags & L1) && !vex_l_) || ((flags & NV) && vvvv_used) ||
        ((flags & NVM) && mem && vvvv_used) || ((flags & W0) && w_) || ((flags & W1) && !w_))
      set_reason(InvalidReason::VexField);
  }
  if ((fi.checks & kSreg) && (reg > GS || (op == Op::MOV_SEG_LOAD && reg == CS)))
    set_reason(InvalidReason::BadRegister);
  if (fi.checks & kCr) {
    const unsigned cr = reg | (r_ << 3);
    if (cr != 0 && cr != 2 && cr != 3 && cr != 4 && cr != 8) set_reason(InvalidReason::BadRegister);
  }
  if ((fi.checks & kDr) && r_) set_reason(InvalidReason::BadRegister);
}

// Insn::prefixes. For VEX/EVEX/XOP, VEX.pp is reported as the prefix it stands for and VEX.W
// as kRexW.
uint8_t Decoder::prefix_bits() const {
  uint8_t p = 0;
  if (lock_) p |= pfx::kLock;
  if (rep_ == 0xF3) p |= pfx::kRep;
  if (rep_ == 0xF2) p |= pfx::kRepne;
  if (p66_) p |= pfx::kOpsize;
  if (p67_) p |= pfx::kAddrsize;
  if (rex_) p |= pfx::kRex;
  if (w_) p |= pfx::kRexW;
  if (enc_ == Enc::Vex || enc_ == Enc::Evex || enc_ == Enc::Xop) {
    p |= pfx::kVex;
    if (col_ == 1) p |= pfx::kOpsize;
    if (col_ == 2) p |= pfx::kRep;
    if (col_ == 3) p |= pfx::kRepne;
  }
  return p;
}

// The input ended (NeedMore) or the instruction exceeds 15 bytes (TooLong): an INVALID insn
// that ends the block, with the length consumed so far (15 for TooLong).
DecodeStatus Decoder::incomplete(Insn* out) {
  out->op = Op::INVALID;
  out->len =
      static_cast<uint8_t>(short_ == DecodeStatus::TooLong ? kMaxInsnLen : (pos_ ? pos_ : 1));
  out->attrs = attr::kEndsBlock;
  out->prefixes = prefix_bits();
  out->fn = &handler_ud;
  if (short_ == DecodeStatus::TooLong) reason_ = InvalidReason::TooLong;
  return short_;
}

DecodeStatus Decoder::invalid(Insn* out) {
  out->op = Op::INVALID;
  out->len = static_cast<uint8_t>(pos_ ? pos_ : 1);
  out->dst = out->src = out->src2 = Operand{OpKind::None, 0};
  out->attrs = attr::kEndsBlock;
  out->prefixes = prefix_bits();
  out->fn = &handler_ud;
  return DecodeStatus::Invalid;
}

}  // namespace

const char* invalid_reason_name(InvalidReason r) {
  static constexpr const char* kNames[] = {
      "none",    "undefined",     "unsupported", "not-in-64-bit", "only-in-64-bit",
      "lock",    "register-form", "memory-form", "bad-register",  "vex-prefix",
      "vex-map", "vex-field",     "evex",        "xop",           "too-long",
  };
  static_assert(sizeof(kNames) / sizeof(kNames[0]) == static_cast<size_t>(InvalidReason::kCount));
  return kNames[static_cast<size_t>(r)];
}

DecodeStatus decode_ex(const uint8_t* bytes, unsigned avail, DecodeMode mode, Insn* out,
                       DecodeDetail* detail) {
  std::memset(out, 0, sizeof(*out));
  out->base = out->index = kNoReg;
  Decoder d(bytes, avail, mode);
  const DecodeStatus st = d.run(out);
  if (detail) {
    detail->why = st == DecodeStatus::Ok ? InvalidReason::None : d.reason();
    detail->op = st == DecodeStatus::Ok ? out->op : d.named_op();
    detail->full_length =
        st == DecodeStatus::Ok || (st == DecodeStatus::Invalid && d.full_length());
  }
  return st;
}

DecodeStatus decode(const uint8_t* bytes, unsigned avail, DecodeMode mode, Insn* out) {
  return decode_ex(bytes, avail, mode, out, nullptr);
}

}  // namespace umbra
