// Encodings that must decode as Invalid (#UD), with the reason and, where the encoding is
// otherwise well formed, the full length.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "frontend/decoder_internal.h"
#include "frontend/semantics/registry.h"

namespace umbra {
namespace {

struct InvalidCase {
  const char* hex;
  InvalidReason why;
  int bits = 64;
  int len = 0;  // 0: all bytes of `hex` (the decoder measured the whole encoding)
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

void check_invalid(const InvalidCase& c) {
  SCOPED_TRACE(std::string(c.hex) + " (" + std::to_string(c.bits) + "-bit)");
  const std::vector<uint8_t> b = parse_hex(c.hex);
  Insn i;
  DecodeDetail det;
  const DecodeStatus st = decode_ex(b.data(), static_cast<unsigned>(b.size()),
                                    DecodeMode{c.bits == 64, c.bits != 16}, &i, &det);
  ASSERT_EQ(st, DecodeStatus::Invalid);
  EXPECT_EQ(invalid_reason_name(det.why), std::string(invalid_reason_name(c.why)));
  EXPECT_EQ(i.op, Op::INVALID);
  EXPECT_EQ(i.fn, &handler_ud);
  EXPECT_TRUE(i.attrs & attr::kEndsBlock);
  EXPECT_EQ(i.len, c.len ? c.len : static_cast<int>(b.size()));
  // decode() agrees with decode_ex().
  Insn j;
  EXPECT_EQ(
      decode(b.data(), static_cast<unsigned>(b.size()), DecodeMode{c.bits == 64, c.bits != 16}, &j),
      DecodeStatus::Invalid);
  EXPECT_EQ(j.len, i.len);
}

void check_all(const std::vector<InvalidCase>& cases) {
  for (const InvalidCase& c : cases) check_invalid(c);
}

using R = InvalidReason;

TEST(DecoderInvalid, NotIn64BitMode) {
  // SDM vol. 2, appendix A, table A-2: opcodes marked i64.
  check_all({
      {"06", R::NotIn64},
      {"07", R::NotIn64},
      {"0e", R::NotIn64},
      {"16", R::NotIn64},
      {"17", R::NotIn64},
      {"1e", R::NotIn64},
      {"1f", R::NotIn64},
      {"27", R::NotIn64},
      {"2f", R::NotIn64},
      {"37", R::NotIn64},
      {"3f", R::NotIn64},
      {"60", R::NotIn64},
      {"61", R::NotIn64},
      {"82 c0 01", R::NotIn64},
      {"ce", R::NotIn64},
      {"d4 0a", R::NotIn64},
      {"d5 0a", R::NotIn64},
      {"d6", R::NotIn64},
      {"9a 00 00 00 00 08 00", R::NotIn64},
      {"ea 00 00 00 00 08 00", R::NotIn64},
      {"66 ea 00 00 08 00", R::NotIn64},
  });
  // The same bytes are valid in 32-bit mode.
  for (const char* hex : {"06", "1f", "27", "60", "82 c0 01", "d4 0a", "d6", "ce"}) {
    const std::vector<uint8_t> b = parse_hex(hex);
    Insn i;
    EXPECT_EQ(decode(b.data(), static_cast<unsigned>(b.size()), DecodeMode{false, true}, &i),
              DecodeStatus::Ok)
        << hex;
  }
}

TEST(DecoderInvalid, OnlyIn64BitMode) {
  check_all({
      {"0f 01 f8", R::OnlyIn64, 32},     // SWAPGS
      {"f3 0f ae c0", R::OnlyIn64, 32},  // RDFSBASE
      {"f3 0f ae d8", R::OnlyIn64, 16},  // WRGSBASE
  });
}

TEST(DecoderInvalid, LockRules) {
  // SDM vol. 2, LOCK: only ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B/16B DEC INC NEG NOT OR SBB
  // SUB XOR XADD XCHG, and only with a memory destination.
  check_all({
      {"f0 01 d8", R::Lock},             // register destination
      {"f0 38 18", R::Lock},             // CMP
      {"f0 80 38 01", R::Lock},          // CMP via group 1
      {"f0 85 18", R::Lock},             // TEST
      {"f0 89 18", R::Lock},             // MOV
      {"f0 8b 18", R::Lock},             // MOV to register
      {"f0 03 18", R::Lock},             // ADD with a register destination (Gv, Ev)
      {"f0 f6 00 01", R::Lock},          // TEST imm (F6 /0)
      {"f0 90", R::Lock},                // NOP
      {"f0 0f a3 18", R::Lock},          // BT
      {"f0 0f ba 20 01", R::Lock},       // BT imm
      {"f0 0f c7 c8", R::RegisterForm},  // CMPXCHG8B register form (#UD regardless)
      {"f0 0f af 00", R::Lock},          // IMUL
      {"f0 0f 58 00", R::Lock},          // ADDPS
      {"f0 c6 00 01", R::Lock},          // MOV imm
      {"f0 fe c0", R::Lock},             // INC register
      {"f0 ff 10", R::Lock},             // CALL
      {"f0 a4", R::Lock},                // MOVSB
  });
}

TEST(DecoderInvalid, MemoryAndRegisterOnlyForms) {
  check_all({
      {"8d c0", R::RegisterForm},        // LEA
      {"0f c7 c8", R::RegisterForm},     // CMPXCHG8B
      {"48 0f c7 c8", R::RegisterForm},  // CMPXCHG16B
      {"0f b2 c0", R::RegisterForm},     // LSS
      {"0f b4 c0", R::RegisterForm},     // LFS
      {"0f b5 c0", R::RegisterForm},     // LGS
      {"ff d8", R::RegisterForm},        // far CALL m16:xx
      {"ff e8", R::RegisterForm},        // far JMP
      {"0f 38 f0 c1", R::RegisterForm},  // MOVBE
      {"0f 0d c0", R::RegisterForm},     // PREFETCHW
      {"0f 2b c1", R::RegisterForm},     // MOVNTPS
      {"0f c3 c1", R::RegisterForm},     // MOVNTI
      {"0f 50 00", R::MemoryForm},       // MOVMSKPS
      {"0f 71 10 04", R::MemoryForm},    // PSRLW imm
      {"0f c7 30", R::Unsupported},      // VMPTRLD (VMX), but RDRAND in the register form
  });
}

TEST(DecoderInvalid, BadRegisters) {
  check_all({
      {"8e c8", R::BadRegister},        // MOV CS, ax
      {"8e f0", R::BadRegister},        // Sreg 6
      {"8c f8", R::BadRegister},        // Sreg 7
      {"0f 22 c8", R::BadRegister},     // CR1
      {"0f 20 e8", R::BadRegister},     // CR5
      {"0f 22 f8", R::BadRegister},     // CR7
      {"44 0f 22 c8", R::BadRegister},  // CR9
      {"44 0f 21 c0", R::BadRegister},  // DR8
  });
}

TEST(DecoderInvalid, UndefinedOpcodes) {
  check_all({
      {"0f 04", R::Undefined},
      {"0f 0a", R::Undefined},
      {"0f 0c", R::Undefined},
      {"0f 24", R::Undefined},
      {"0f 36", R::Undefined},
      {"0f 39", R::Undefined},
      {"0f b8 c1", R::Undefined, 64, 2},  // JMPE without F3
      {"0f 38 ff c1", R::Undefined, 64, 3},
      {"0f 3a ff c1 00", R::Undefined, 64, 3},
      {"fe d0", R::Undefined},                     // FE /2
      {"ff f8", R::Undefined},                     // FF /7
      {"8f e1 78 00 00", R::VexMap, 32, 3},        // 8F with ModRM.reg != 0 is XOP; map 1 reserved
      {"c6 c8 01", R::Undefined, 64, 2},           // C6 /1
      {"0f ba c0 01", R::Undefined},               // 0F BA /0
      {"0f 00 f0", R::Undefined},                  // 0F 00 /6
      {"0f 01 cc", R::Undefined},                  // 0F 01 /1 rm 4
      {"d9 d1", R::Undefined},                     // x87 hole
      {"d9 08", R::Undefined},                     // D9 /1 memory
      {"de d8", R::Undefined},                     // DE /3 only D9 (FCOMPP)
      {"df e1", R::Undefined},                     // DF /4 only E0 (FNSTSW AX)
      {"f3 0f 54 e4", R::Undefined, 64, 3},        // no F3 form of ANDPS
      {"f2 66 0f 38 00 c1", R::Undefined, 64, 5},  // F2 selects the column over 66
      {"66 0f 78 d8 01 02", R::Undefined, 64, 4},  // EXTRQ imm form is /0 only
      {"0f 0f c1 00", R::Undefined},               // 3DNow! suffix 00
  });
}

TEST(DecoderInvalid, UnsupportedExtensions) {
  check_all({
      {"0f 01 c1", R::Unsupported},            // VMCALL
      {"0f 01 d8", R::Unsupported},            // VMRUN
      {"0f 01 d6", R::Unsupported},            // XTEST
      {"c7 f8 00 00 00 00", R::Unsupported},   // XBEGIN
      {"c6 f8 01", R::Unsupported},            // XABORT
      {"0f 37", R::Unsupported},               // GETSEC
      {"0f aa", R::Unsupported},               // RSM
      {"0f 78 c1", R::Unsupported},            // VMREAD
      {"66 0f 38 80 08", R::Unsupported},      // INVEPT
      {"f3 0f c7 38", R::Undefined},           // F3 0F C7 /7 memory form (RDPID: register only)
      {"c5 f8 47 c1", R::Unsupported},         // KXORW (AVX-512 mask register)
      {"c4 e3 79 68 c1 20", R::Unsupported},   // VFMADDPS (FMA4)
      {"62 f1 7c 48 58 c1", R::Evex},          // VADDPS zmm
      {"62 f1 7c 48 58 44 24 01", R::Evex},    // disp8*N is one byte
      {"62 f3 7d 48 0f c1 08", R::Evex},       // map 3: imm8
      {"62 f1 7d 48 70 c1 08", R::Evex},       // map 1, 70: imm8
      {"62 f1 7c 48 58 c1", R::Evex, 32},      // 32-bit mode: 62 with mod 11 is EVEX
      {"8f e9 78 81 c1", R::Xop},              // VFRCZPS (XOP map 9)
      {"8f e8 78 c0 c1 05", R::Xop},           // VPROTB imm (XOP map 8)
      {"8f ea 78 10 c1 01 00 00 00", R::Xop},  // BEXTR imm32 (XOP map 0A)
  });
}

TEST(DecoderInvalid, VexRules) {
  check_all({
      {"66 c5 f8 58 c1", R::VexPrefix},  // SDM vol. 2, 2.3.2: 66/F2/F3/F0/REX before VEX
      {"f3 c5 f8 58 c1", R::VexPrefix},
      {"f0 c5 f8 58 c1", R::VexPrefix},
      {"48 c5 f8 58 c1", R::VexPrefix},
      {"66 62 f1 7c 48 58 c1", R::VexPrefix},
      {"c4 e0 78 58 c1", R::VexMap, 64, 3},     // mmmmm = 0
      {"c4 e4 78 58 c1", R::VexMap, 64, 3},     // mmmmm = 4
      {"62 f4 7c 48 58 c1", R::VexMap, 64, 4},  // EVEX map 4
      {"62 f1 78 48 58 c1", R::VexMap, 64, 4},  // EVEX P1 bit 2 clear
      {"c4 e2 6c f2 c1", R::VexField},          // ANDN with VEX.L = 1
      {"c4 e3 7f f0 c1 05", R::VexField},       // RORX with VEX.L = 1
      {"c4 e3 6b f0 c1 05", R::VexField},       // RORX with vvvv != 1111b
      {"c5 f0 77", R::VexField},                // VZEROUPPER with vvvv != 1111b
      {"c5 fd 6e c0", R::VexField},             // VMOVD with VEX.L = 1
      {"c4 e2 79 5a 00", R::VexField},          // VBROADCASTI128 with VEX.L = 0
      {"c5 ea 10 00", R::VexField},             // VMOVSS load with vvvv != 1111b
      {"c4 e2 fd 18 c1", R::VexField},          // VBROADCASTSS with VEX.W = 1 (W0 only)
      {"c4 e3 7d 00 c1 00", R::VexField},       // VPERMQ with VEX.W = 0 (W1 only)
      {"c5 f9 12 c1", R::RegisterForm},         // VMOVLPD register form
      {"c5 f8 4f c1", R::Undefined, 64, 3},
  });
  // VMOVSS register form uses vvvv.
  const uint8_t movss[] = {0xC5, 0xEA, 0x10, 0xC1};
  Insn i;
  EXPECT_EQ(decode(movss, sizeof movss, DecodeMode{true, true}, &i), DecodeStatus::Ok);
}

TEST(DecoderInvalid, FullyDecodedLengthOfInvalidEncodings) {
  // LOCK MOV [rip+disp32], imm32: #UD, but 11 bytes long.
  check_invalid({"f0 c7 05 00 00 00 00 01 00 00 00", R::Lock});
  // LEA with a register operand and an operand-size prefix.
  check_invalid({"66 48 8d c0", R::RegisterForm});
}

}  // namespace
}  // namespace umbra
