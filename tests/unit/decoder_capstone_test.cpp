// The decoder against an independent oracle: Capstone 4.0.2 (frontend/disasm.h) on random byte
// strings in 64-, 32- and 16-bit modes. Where both accept the bytes, lengths (and, for integer
// operations, mnemonics) must agree; every other outcome must fall into a documented category:
// an encoding we reject on purpose (architecturally #UD, or outside Umbra's CPU model), one
// Capstone 4.0.2 does not know, or one of the short list of Capstone errata below (each pinned
// by a test with specific bytes). Anything else fails the test. docs/decoder.md explains the
// categories.
//
// UMBRA_DECODER_FUZZ_N sets the number of 64-bit samples (default 1,000,000; the 32- and 16-bit
// runs use a fifth of it each), UMBRA_DECODER_FUZZ_SEED the random seed.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "frontend/decoder_internal.h"
#include "frontend/disasm.h"

namespace umbra {
namespace {

// ---- what the raw bytes say about prefixes (independently of the decoder) ----

struct PrefixScan {
  unsigned count = 0;  // prefix bytes before the opcode
  int last_rep = -1;   // position of the last F2/F3
  int last_66 = -1;
  int last_67 = -1;
  int rex_pos = -1;  // position of the effective REX (directly before the opcode)
  bool rex_w = false, rex_r = false;
};

PrefixScan scan_prefixes(const uint8_t* b, bool mode64) {
  PrefixScan p;
  for (unsigned i = 0; i < 15; ++i) {
    const uint8_t c = b[i];
    if (c == 0xF2 || c == 0xF3) {
      p.last_rep = static_cast<int>(i);
    } else if (c == 0x66) {
      p.last_66 = static_cast<int>(i);
    } else if (c == 0x67) {
      p.last_67 = static_cast<int>(i);
    } else if (c == 0xF0 || c == 0x26 || c == 0x2E || c == 0x36 || c == 0x3E || c == 0x64 ||
               c == 0x65) {
    } else if (mode64 && (c & 0xF0) == 0x40) {
      p.rex_pos = static_cast<int>(i);
      continue;
    } else {
      p.count = i;
      break;
    }
    p.rex_pos = -1;  // a legacy prefix after a REX cancels it
  }
  if (p.rex_pos >= 0) {
    p.rex_w = b[p.rex_pos] & 8;
    p.rex_r = b[p.rex_pos] & 4;
  }
  return p;
}

unsigned map_of(const Insn& i) {
  return (i.opcode >> 8) & 15;
}
unsigned opcode_byte_of(const Insn& i) {
  return i.opcode & 0xff;
}
bool is_vex(const Insn& i) {
  return i.prefixes & pfx::kVex;
}

// ---- Capstone 4.0.2 errata and vendor differences (docs/decoder.md, "Capstone errata") ----
// Each returns the erratum's name when it applies to these bytes, else nullptr. `op` is the
// operation the encoding names (also when we decode it as invalid).

const char* capstone_erratum(const uint8_t* b, const Insn& in, Op op, const PrefixScan& p,
                             int bits) {
  const unsigned map = map_of(in), opc = opcode_byte_of(in);
  const bool legacy = !is_vex(in) && map <= 3;
  const uint8_t first = b[p.count];
  // E1: UD0 (0F FF /r) decoded without its ModRM byte; rejected after some prefixes.
  if (op == Op::UD0) return "E1 ud0-without-modrm";
  // E2: UD1 (0F B9 /r) decoded as "ud2b" without its ModRM byte.
  if (op == Op::UD1) return "E2 ud1-without-modrm";
  // E3: 66/F2/F3 act as a mandatory prefix only when directly followed by the opcode or by a
  // single REX; otherwise Capstone decodes (or rejects) the opcode as if it were absent.
  if (legacy && map >= 1) {
    const int m = p.last_rep >= 0 ? p.last_rep : p.last_66;
    if (m >= 0) {
      const unsigned gap = p.count - static_cast<unsigned>(m) - 1;
      if (gap > 1 || (gap == 1 && p.rex_pos != static_cast<int>(p.count) - 1))
        return "E3 mandatory-prefix-position";
    }
  }
  // E4: 66 followed by F2/F3 before a one-byte opcode: the 66 is dropped (MOV moffs rejected,
  // PUSH imm / CALL rel read with the wrong size).
  if (legacy && map == 0 && p.last_66 >= 0 && p.last_rep > p.last_66) return "E4 66-then-f2-f3";
  // E5: 67 together with REX.W is taken as if 66 were present (0F-map 66 forms, 16-bit CALL
  // displacement); RET imm16 with REX.W and 66/67 reads a 4-byte immediate.
  if (legacy && p.rex_w && p.last_67 >= 0 && (map >= 1 || (map == 0 && opc == 0xE8)))
    return "E5 67-rex.w-as-66";
  if (legacy && map == 0 && opc == 0xC2 && p.rex_w && (p.last_66 >= 0 || p.last_67 >= 0))
    return "E5 67-rex.w-as-66";
  // E6: MOV to/from a segment register with REX.R (which the CPU ignores) is rejected.
  if ((op == Op::MOV_SEG_LOAD || op == Op::MOV_SEG_STORE) && p.rex_r) return "E6 sreg-rex.r";
  // E7: LFENCE/MFENCE/SFENCE accepted only with ModRM.rm = 0 (the CPU ignores ModRM.rm).
  if (op == Op::GRP15 && in.ext >= 5 && b[p.count + 2] >= 0xC0 && (b[p.count + 2] & 7) != 0)
    return "E7 fence-modrm";
  // E8: 3DNow! suffix 0E accepted (as FEMMS); it is not a 3DNow! operation.
  if (map == 4 && opc == 0x0E) return "E8 3dnow-suffix-0e";
  // E9: in 16-bit mode mandatory prefixes are not recognised at all.
  if (legacy && bits == 16 && map >= 1 && (p.last_66 >= 0 || p.last_rep >= 0))
    return "E9 16-bit-mandatory-prefix";
  // E10: EXTRQ imm8, imm8 (66 0F 78 /0) accepted with ModRM.reg != 0.
  if (legacy && map == 1 && opc == 0x78 && p.last_66 >= 0 && ((b[p.count + 2] >> 3) & 7) != 0)
    return "E10 extrq-reg-field";
  // E11: EVEX register forms are read one byte too long with embedded rounding (EVEX.b = 1) and
  // with W = 1, F3, an opmask and no zeroing; with 67 and EVEX.X = 1 the SIB byte is skipped.
  if (first == 0x62 && (bits == 64 || b[p.count + 1] >= 0xC0)) {
    const uint8_t p0 = b[p.count + 1], p1 = b[p.count + 2], p2 = b[p.count + 3];
    const bool reg_form = b[p.count + 5] >= 0xC0;
    const bool w1_f3_masked = (p1 & 0x80) && (p1 & 3) == 2 && (p2 & 7) && !(p2 & 0x80);
    if ((reg_form && ((p2 & 0x10) || w1_f3_masked)) || (p.last_67 >= 0 && !(p0 & 0x40)))
      return "E11 evex-length";
  }
  // E12: 90 with REX.B after 66 and another prefix is shown as NOP (mnemonic only).
  if (op == Op::XCHG && legacy && map == 0 && opc == 0x90 && p.last_66 >= 0)
    return "E12 xchg-r8-as-nop";
  // E13: RDPID (F3 0F C7 /7, register form) shown as RDSEED: the F3 is not taken as a
  // mandatory prefix for this opcode (same length).
  if (op == Op::RDPID) return "E13 rdpid-as-rdseed";
  // V1 (vendor difference): near relative JMP/CALL/Jcc with 66 in 64-bit mode. Intel (Umbra)
  // ignores the 66 and reads rel32; Capstone, like AMD, reads rel16.
  if (bits == 64 && p.last_66 >= 0 && (op == Op::JCC || op == Op::JMP || op == Op::CALL) &&
      !(map == 0 && (opc == 0xEB || (opc >= 0x70 && opc <= 0x7F))))
    return "V1 66-near-branch-intel-vs-amd";
  return nullptr;
}

// Valid encodings Capstone 4.0.2 does not know at all.
const char* capstone_lacks(const Insn& in) {
  const unsigned map = map_of(in), opc = opcode_byte_of(in);
  if (in.op == Op::NOP && map == 1 && (opc == 0x0D || (opc >= 0x18 && opc <= 0x1F)))
    return "hint NOPs (0F 0D, 0F 18-1F) other than the documented forms";
  if (in.op == Op::GRP7 && in.ext >= 0xFA && in.ext <= 0xFC) return "MONITORX MWAITX CLZERO";
  if (in.op == Op::ESCAPE_SSE &&
      ((map == 2 && opc == 0xCF) || (map == 3 && (opc == 0xCE || opc == 0xCF))))
    return "GFNI";
  if (in.op == Op::ESCAPE_SSE && is_vex(in) && map == 2 && opc == 0x5A) return "VBROADCASTI128";
  if (in.op == Op::ESCAPE_SSE && is_vex(in) && (in.opcode & 0x1000) &&
      ((map == 2 && opc >= 0xDC && opc <= 0xDF) || (map == 3 && opc == 0x44)))
    return "VAES/VPCLMULQDQ 256-bit";
  return nullptr;
}

// ---- mnemonics: Capstone's text for our operation ----

std::string strip_capstone_prefixes(std::string m) {
  static const char* const kPrefixes[] = {"lock ",     "rep ",      "repe ",   "repne ",
                                          "repz ",     "repnz ",    "bnd ",    "notrack ",
                                          "xacquire ", "xrelease ", "data16 ", "addr32 "};
  for (bool again = true; again;) {
    again = false;
    for (const char* p : kPrefixes) {
      if (m.rfind(p, 0) == 0) {
        m.erase(0, std::strlen(p));
        again = true;
      }
    }
  }
  return m;
}

bool mnemonic_matches(const Insn& in, const std::string& capstone) {
  static const char* const kCond[] = {"o", "no", "b", "ae", "e", "ne", "be", "a",
                                      "s", "ns", "p", "np", "l", "ge", "le", "g"};
  const std::string cs = strip_capstone_prefixes(capstone);
  auto one_of = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (cs == n) return true;
    return false;
  };
  switch (in.op) {
    // Decoded generically (or by ModRM byte) on purpose: nothing to compare.
    case Op::ESCAPE_X87:
    case Op::ESCAPE_SSE:
    case Op::NOP:
    case Op::GRP7:
    case Op::GRP15:
      return true;
    case Op::JCC:
      return cs == std::string("j") + kCond[in.cond];
    case Op::SETCC:
      return cs == std::string("set") + kCond[in.cond];
    case Op::CMOVCC:
      return cs == std::string("cmov") + kCond[in.cond];
    case Op::MOVS:
      return one_of({"movsb", "movsw", "movsd", "movsq"});
    case Op::CMPS:
      return one_of({"cmpsb", "cmpsw", "cmpsd", "cmpsq"});
    case Op::SCAS:
      return one_of({"scasb", "scasw", "scasd", "scasq"});
    case Op::LODS:
      return one_of({"lodsb", "lodsw", "lodsd", "lodsq"});
    case Op::STOS:
      return one_of({"stosb", "stosw", "stosd", "stosq"});
    case Op::INS:
      return one_of({"insb", "insw", "insd"});
    case Op::OUTS:
      return one_of({"outsb", "outsw", "outsd"});
    case Op::MOV:
      return one_of({"mov", "movabs"});
    case Op::CBW:
      return one_of({"cbw", "cwde", "cdqe"});
    case Op::CWD:
      return one_of({"cwd", "cdq", "cqo"});
    case Op::PUSHF:
      return one_of({"pushf", "pushfd", "pushfq"});
    case Op::POPF:
      return one_of({"popf", "popfd", "popfq"});
    case Op::PUSHA:
      return one_of({"pusha", "pushal", "pushaw"});
    case Op::POPA:
      return one_of({"popa", "popal", "popaw"});
    case Op::IRET:
      return one_of({"iret", "iretd", "iretq"});
    case Op::RET_FAR:
      return one_of({"retf", "retfq"});
    case Op::JMP_FAR:
      return one_of({"ljmp", "jmp"});
    case Op::CALL_FAR:
      return one_of({"lcall", "call"});
    case Op::SHL:
      return one_of({"shl", "sal"});
    case Op::XLAT:
      return one_of({"xlatb", "xlat"});
    case Op::JRCXZ:
      return one_of({"jrcxz", "jecxz", "jcxz"});
    case Op::CMPXCHG8B:
      return one_of({"cmpxchg8b", "cmpxchg16b"});
    case Op::SYSRET:
      return one_of({"sysret", "sysretl", "sysretq"});
    case Op::SYSEXIT:
      return one_of({"sysexit", "sysexitl", "sysexitq"});
    case Op::PUSH_SEG:
      return cs == "push";
    case Op::POP_SEG:
      return cs == "pop";
    case Op::MOV_SEG_LOAD:
    case Op::MOV_SEG_STORE:
    case Op::MOV_CR_LOAD:
    case Op::MOV_CR_STORE:
    case Op::MOV_DR_LOAD:
    case Op::MOV_DR_STORE:
      return cs == "mov";
    case Op::GRP6: {
      static const char* const kGrp6[] = {"sldt", "str", "lldt", "ltr", "verr", "verw"};
      return in.ext < 6 && cs == kGrp6[in.ext];
    }
    default:
      return cs == op_mnemonic(in.op);
  }
}

// ---- classification of one sample ----

struct Verdict {
  std::string category;
  bool unexplained;
};

// Capstone decodes an opcode whose prefixed form does not exist as another prefix form of the
// same opcode (F3 0F 54 as ANDPS; F2 66 0F 38 3C as PMAXSB), where the CPU raises #UD. Our
// length for the bytes with the selecting prefixes removed (plus the removed bytes), or -1.
int length_without_prefixes(const uint8_t* b, int bits, bool keep_66) {
  uint8_t s[15] = {};
  unsigned n = 0, removed = 0, i = 0;
  const PrefixScan p = scan_prefixes(b, bits == 64);
  for (; i < p.count; ++i) {
    if ((b[i] == 0x66 && !keep_66) || b[i] == 0xF2 || b[i] == 0xF3) {
      ++removed;
      continue;
    }
    s[n++] = b[i];
  }
  for (; i < 15; ++i) s[n++] = b[i];
  if (!removed) return -1;
  Insn in;
  DecodeDetail det;
  const DecodeStatus st = decode_ex(s, n, DecodeMode{bits == 64, bits != 16}, &in, &det);
  if (st == DecodeStatus::Ok || (st == DecodeStatus::Invalid && det.full_length))
    return static_cast<int>(in.len + removed);
  return -1;
}

bool capstone_ignores_prefix(const uint8_t* b, int bits, unsigned capstone_len) {
  return length_without_prefixes(b, bits, false) == static_cast<int>(capstone_len) ||
         length_without_prefixes(b, bits, true) == static_cast<int>(capstone_len);
}

Verdict classify(const uint8_t* b, int bits) {
  Insn in;
  DecodeDetail det;
  const DecodeStatus st = decode_ex(b, 15, DecodeMode{bits == 64, bits != 16}, &in, &det);
  const Disassembly cs = disassemble_one(b, 15, 0x1000, bits);
  const PrefixScan p = scan_prefixes(b, bits == 64);
  const char* erratum = capstone_erratum(b, in, det.op, p, bits);
  const bool ours = st == DecodeStatus::Ok;
  if (ours && cs.length) {
    const bool same_length = in.len == cs.length;
    if (same_length && mnemonic_matches(in, cs.mnemonic))
      return {"agree (length and mnemonic)", false};
    if (erratum) return {std::string("capstone erratum: ") + erratum, false};
    if (!same_length) return {"UNEXPLAINED: lengths differ", true};
    return {std::string("UNEXPLAINED: mnemonic ") + op_name(in.op) + " vs " + cs.mnemonic, true};
  }
  if (ours) {
    if (erratum) return {std::string("capstone erratum: ") + erratum, false};
    if (const char* lacks = capstone_lacks(in))
      return {std::string("rejected by Capstone, which lacks: ") + lacks, false};
    return {std::string("UNEXPLAINED: rejected by Capstone: ") + op_name(in.op), true};
  }
  if (cs.length) {
    const std::string why = std::string("rejected by us (") + invalid_reason_name(det.why) + "), ";
    if (erratum) return {why + "capstone erratum: " + erratum, false};
    if (det.full_length && in.len == cs.length) return {why + "same length", false};
    if (capstone_ignores_prefix(b, bits, cs.length))
      return {why + "Capstone decodes another prefix form", false};
    return {why + "UNEXPLAINED length", true};
  }
  return {std::string("rejected by both (ours: ") + invalid_reason_name(det.why) + ")", false};
}

// ---- random samples biased towards prefixes, escapes and VEX/EVEX ----

void random_sample(std::mt19937_64& rng, int bits, uint8_t* b) {
  static constexpr uint8_t kPrefixes[] = {0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x3E, 0x26, 0x36,
                                          0x64, 0x65, 0x40, 0x41, 0x44, 0x48, 0x4C, 0x49, 0x4F};
  for (unsigned i = 0; i < 15; ++i) b[i] = static_cast<uint8_t>(rng());
  unsigned pos = 0;
  const unsigned r = rng() % 16;
  const unsigned prefixes = r < 6 ? 0 : r < 11 ? 1 : r < 14 ? 2 : 3 + rng() % 3;
  for (unsigned i = 0; i < prefixes; ++i) {
    uint8_t c = kPrefixes[rng() % sizeof(kPrefixes)];
    if (bits != 64 && (c & 0xF0) == 0x40) c = 0x66;  // REX only exists in 64-bit mode
    b[pos++] = c;
  }
  const unsigned kind = rng() % 20;
  if (kind < 6) {  // 0F, sometimes 0F 38 / 0F 3A
    b[pos] = 0x0F;
    if (rng() % 4 == 0) b[pos + 1] = (rng() & 1) ? 0x38 : 0x3A;
  } else if (kind < 8) {  // VEX; outside 64-bit mode make most of them VEX rather than LES/LDS
    b[pos] = (rng() & 1) ? 0xC4 : 0xC5;
    if (bits != 64 && rng() % 4) b[pos + 1] |= 0xC0;
    if (b[pos] == 0xC4 && rng() % 8) b[pos + 1] = (b[pos + 1] & 0xE0) | (1 + rng() % 3);  // map
  } else if (kind < 9) {  // EVEX, mostly with a valid map and the fixed bits right
    b[pos] = 0x62;
    if (bits != 64 && rng() % 4) b[pos + 1] |= 0xC0;
    if (rng() % 8) {
      b[pos + 1] = (b[pos + 1] & 0xF0) | (1 + rng() % 3);
      b[pos + 2] |= 0x04;
    }
  }
}

uint64_t env_or(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 0) : fallback;
}

void run_oracle(int bits, uint64_t samples) {
  std::mt19937_64 rng(env_or("UMBRA_DECODER_FUZZ_SEED", 20240611) + static_cast<unsigned>(bits));
  std::map<std::string, uint64_t> counts;
  uint64_t unexplained = 0;
  unsigned printed = 0;
  uint8_t b[15];
  for (uint64_t n = 0; n < samples; ++n) {
    random_sample(rng, bits, b);
    const Verdict v = classify(b, bits);
    ++counts[v.category];
    if (v.unexplained) {
      ++unexplained;
      if (printed++ < 20) {
        std::string hex;
        char h[4];
        for (uint8_t x : b) {
          std::snprintf(h, sizeof h, "%02x ", x);
          hex += h;
        }
        const Disassembly cs = disassemble_one(b, 15, 0x1000, bits);
        Insn in;
        decode(b, 15, DecodeMode{bits == 64, bits != 16}, &in);
        ADD_FAILURE() << bits << "-bit " << v.category << ": " << hex << "| ours: len "
                      << unsigned{in.len} << " " << op_name(in.op) << " | capstone: len "
                      << cs.length << " " << cs.mnemonic << " " << cs.operands;
      }
    }
  }
  std::printf("decoder vs Capstone 4.0.2, %d-bit mode, %llu samples:\n", bits,
              static_cast<unsigned long long>(samples));
  for (const auto& [category, count] : counts)
    std::printf("  %9llu  %s\n", static_cast<unsigned long long>(count), category.c_str());
  EXPECT_EQ(unexplained, 0u);
  // The comparison must be meaningful: most samples are decoded by both.
  EXPECT_GT(counts["agree (length and mnemonic)"], samples / 2);
}

const uint64_t kSamples64 = env_or("UMBRA_DECODER_FUZZ_N", 1000000);

TEST(DecoderCapstone, Random64) {
  run_oracle(64, kSamples64);
}
TEST(DecoderCapstone, Random32) {
  run_oracle(32, kSamples64 / 5);
}
TEST(DecoderCapstone, Random16) {
  run_oracle(16, kSamples64 / 5);
}

// ---- each erratum, pinned with specific bytes: Capstone's behaviour and ours ----

struct Pair {
  Insn ours;
  DecodeStatus status;
  DecodeDetail detail;
  Disassembly capstone;
};

Pair both(int bits, std::initializer_list<uint8_t> bytes) {
  uint8_t b[15] = {};
  unsigned n = 0;
  for (uint8_t x : bytes) b[n++] = x;
  Pair p;
  p.status = decode_ex(b, n, DecodeMode{bits == 64, bits != 16}, &p.ours, &p.detail);
  p.capstone = disassemble_one(b, n, 0x1000, bits);
  return p;
}

TEST(DecoderCapstoneErrata, E1Ud0WithoutModrm) {
  Pair p = both(64, {0x0F, 0xFF, 0xC0});  // UD0 eax, eax (SDM: 0F FF /r)
  EXPECT_EQ(p.ours.op, Op::UD0);
  EXPECT_EQ(p.ours.len, 3);
  EXPECT_EQ(p.capstone.length, 2u);
  EXPECT_EQ(both(64, {0x26, 0x0F, 0xFF, 0xC0}).capstone.length, 0u);
}

TEST(DecoderCapstoneErrata, E2Ud1WithoutModrm) {
  Pair p = both(64, {0x0F, 0xB9, 0xC0});  // UD1 eax, eax (0F B9 /r)
  EXPECT_EQ(p.ours.op, Op::UD1);
  EXPECT_EQ(p.ours.len, 3);
  EXPECT_EQ(p.capstone.length, 2u);
  EXPECT_EQ(p.capstone.mnemonic, "ud2b");
}

TEST(DecoderCapstoneErrata, E3MandatoryPrefixMustBeAdjacent) {
  // F3 26 0F B8: POPCNT (the CPU accepts the segment prefix in between).
  Pair p = both(64, {0xF3, 0x26, 0x0F, 0xB8, 0xC1});
  EXPECT_EQ(p.ours.op, Op::POPCNT);
  EXPECT_EQ(p.capstone.length, 0u);
  // With the F3 next to the opcode, Capstone agrees.
  EXPECT_EQ(both(64, {0x26, 0xF3, 0x0F, 0xB8, 0xC1}).capstone.mnemonic, "popcnt");
  // 66 26 0F 38 00: PSHUFB xmm; Capstone decodes the MMX form.
  Pair q = both(64, {0x66, 0x26, 0x0F, 0x38, 0x00, 0xC1});
  EXPECT_EQ(q.capstone.operands, "mm0, mm1");
}

TEST(DecoderCapstoneErrata, E4OperandSizeThenRep) {
  Pair p = both(64, {0x66, 0xF3, 0xA1, 1, 2, 3, 4, 5, 6, 7, 8});  // MOV ax, [moffs64]
  EXPECT_EQ(p.ours.op, Op::MOV);
  EXPECT_EQ(p.ours.len, 11);
  EXPECT_EQ(p.capstone.length, 0u);
  Pair q = both(64, {0x66, 0xF2, 0x68, 0x34, 0x12, 0x90, 0x90});  // PUSH imm16 (host: 5 bytes)
  EXPECT_EQ(q.ours.len, 5);
  EXPECT_EQ(q.capstone.length, 7u);
}

TEST(DecoderCapstoneErrata, E5AddressSizeWithRexWActsAsOperandSize) {
  Pair p = both(64, {0x67, 0x48, 0xE8, 1, 2, 3, 4});  // CALL rel32
  EXPECT_EQ(p.ours.len, 7);
  EXPECT_EQ(p.capstone.length, 5u);
  Pair q = both(64, {0x67, 0x48, 0x0F, 0x38, 0x39, 0xE3});  // 0F 38 39 has no NP form: #UD
  EXPECT_EQ(q.status, DecodeStatus::Invalid);
  EXPECT_EQ(q.capstone.mnemonic, "pminsd");
  Pair r = both(64, {0x66, 0x48, 0xC2, 0x08, 0x00, 0x90, 0x90});  // RET imm16
  EXPECT_EQ(r.ours.len, 5);
  EXPECT_EQ(r.capstone.length, 7u);
}

TEST(DecoderCapstoneErrata, E6SegmentRegisterWithRexR) {
  Pair p = both(64, {0x44, 0x8C, 0xC0});  // MOV eax, es (REX.R ignored)
  EXPECT_EQ(p.ours.op, Op::MOV_SEG_STORE);
  EXPECT_EQ(p.ours.src.reg, ES);
  EXPECT_EQ(p.capstone.length, 0u);
}

TEST(DecoderCapstoneErrata, E7FenceModrm) {
  EXPECT_EQ(both(64, {0x0F, 0xAE, 0xEC}).ours.op, Op::GRP15);  // LFENCE, rm = 4
  EXPECT_EQ(both(64, {0x0F, 0xAE, 0xEC}).capstone.length, 0u);
  EXPECT_EQ(both(64, {0x0F, 0xAE, 0xF9}).capstone.length, 0u);  // SFENCE, rm = 1
  EXPECT_EQ(both(64, {0x0F, 0xAE, 0xF8}).capstone.mnemonic, "sfence");
}

TEST(DecoderCapstoneErrata, E8ThreeDNowSuffix0E) {
  Pair p = both(64, {0x0F, 0x0F, 0xC1, 0x0E});
  EXPECT_EQ(p.status, DecodeStatus::Invalid);
  EXPECT_EQ(p.capstone.mnemonic, "femms");
}

TEST(DecoderCapstoneErrata, E9SixteenBitMandatoryPrefix) {
  Pair p = both(16, {0xF3, 0x0F, 0xB8, 0xC1});  // POPCNT ax, cx
  EXPECT_EQ(p.ours.op, Op::POPCNT);
  EXPECT_EQ(p.ours.opsize, 2);
  EXPECT_EQ(p.capstone.length, 0u);
  EXPECT_EQ(both(16, {0x66, 0x0F, 0x58, 0xC1}).capstone.mnemonic, "addps");  // is ADDPD
}

TEST(DecoderCapstoneErrata, E10ExtrqRegField) {
  Pair p = both(64, {0x66, 0x0F, 0x78, 0xDB, 0x62, 0x56});  // /3: #UD on the host CPU
  EXPECT_EQ(p.status, DecodeStatus::Invalid);
  EXPECT_EQ(p.capstone.mnemonic, "extrq");
}

TEST(DecoderCapstoneErrata, E11EvexLength) {
  // VDIVSS with {rz-sae}: 6 bytes; Capstone reads 7.
  Pair p = both(64, {0x62, 0xE1, 0x3E, 0x16, 0x5E, 0xF6, 0x83, 0x2D});
  EXPECT_EQ(p.status, DecodeStatus::Invalid);
  EXPECT_EQ(p.detail.why, InvalidReason::Evex);
  EXPECT_EQ(p.ours.len, 6);
  EXPECT_EQ(p.capstone.length, 7u);
  // VADDSS with W = 1, F3 and opmask k3 (not zeroing): 6 bytes; Capstone reads 7.
  EXPECT_EQ(both(64, {0x62, 0xF1, 0xFE, 0x03, 0x58, 0xC1, 0, 0}).capstone.length, 7u);
  EXPECT_EQ(both(64, {0x62, 0xF1, 0xFE, 0x83, 0x58, 0xC1, 0, 0}).capstone.length, 6u);
  // 67 with EVEX.X = 1: [esp + r12d*1] has a SIB byte (8 bytes); Capstone skips it.
  Pair q = both(64, {0x67, 0x62, 0x12, 0x95, 0x62, 0xA7, 0x04, 0x24, 0x7F});
  EXPECT_EQ(q.ours.len, 8);
  EXPECT_EQ(q.capstone.length, 7u);
}

TEST(DecoderCapstoneErrata, E12XchgR8ShownAsNop) {
  Pair p = both(64, {0x66, 0x40, 0x4F, 0x90});  // effective REX 4F: XCHG r8, rax
  EXPECT_EQ(p.ours.op, Op::XCHG);
  EXPECT_EQ(p.capstone.mnemonic, "nop");
}

TEST(DecoderCapstoneErrata, E13RdpidShownAsRdseed) {
  Pair p = both(64, {0xF3, 0x0F, 0xC7, 0xF8});  // RDPID rax (the host executes it as RDPID)
  EXPECT_EQ(p.ours.op, Op::RDPID);
  EXPECT_EQ(p.ours.len, 4);
  EXPECT_EQ(p.capstone.length, 4u);
  EXPECT_EQ(p.capstone.mnemonic, "rdseed");
}

TEST(DecoderCapstoneErrata, V1OperandSizeOnNearBranch) {
  Pair p = both(64, {0x66, 0xE9, 0x34, 0x12, 0x00, 0x00});
  EXPECT_EQ(p.ours.len, 6);  // Intel: 66 ignored, rel32
  EXPECT_EQ(p.ours.opsize, 8);
  EXPECT_EQ(p.capstone.length, 4u);  // AMD: rel16
}

TEST(DecoderCapstoneErrata, CapstoneDecodesAnotherPrefixForm) {
  Pair p = both(64, {0xF3, 0x0F, 0x54, 0xE4});  // no F3 form of ANDPS: #UD on the host CPU
  EXPECT_EQ(p.status, DecodeStatus::Invalid);
  EXPECT_EQ(p.detail.why, InvalidReason::Undefined);
  EXPECT_EQ(p.capstone.mnemonic, "andps");
}

}  // namespace
}  // namespace umbra
