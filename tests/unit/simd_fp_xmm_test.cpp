// The SSE floating-point instructions of the form xmm = op(xmm, xmm/mem): every form decoded from
// real bytes and run against the host's own instruction (simd_fp_test_util.h) on random and
// hard-case operands, random rounding/DAZ/FTZ and exception masks: destination, MXCSR and the
// #XM decision must match bit for bit.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "tests/unit/simd_fp_test_util.h"

namespace umbra::test {
namespace {

using HostFn = void (*)(HostXmm&, HostXmm);

struct XmmCase {
  const char* name;
  std::vector<uint8_t> opcode;  // mandatory prefix, 0F [38|3A], opcode
  unsigned elem;                // element size of the operands (4 float, 8 double/int pairs)
  unsigned mem_bytes;           // size of the memory operand
  int imm;                      // imm8, or -1
  HostFn host;
};

#define HOP(insn) [](HostXmm& a, HostXmm b) { asm volatile(insn " %1, %0" : "+x"(a) : "x"(b)); }
#define HOPI(insn, imm) \
  [](HostXmm& a, HostXmm b) { asm volatile(insn " %2, %1, %0" : "+x"(a) : "x"(b), "i"(imm)); }

#define FOUR(op, name)                                                          \
  XmmCase{name "ps", {0x0f, op}, 4, 16, -1, HOP(name "ps")},                    \
      XmmCase{name "pd", {0x66, 0x0f, op}, 8, 16, -1, HOP(name "pd")},          \
      XmmCase{name "ss", {0xf3, 0x0f, op}, 4, 4, -1, HOP(name "ss")}, XmmCase { \
    name "sd", {0xf2, 0x0f, op}, 8, 8, -1, HOP(name "sd")                       \
  }
#define CMP8(pfx, elem, mem, name)                                   \
  XmmCase{name "0", pfx, elem, mem, 0, HOPI(name, 0)},               \
      XmmCase{name "1", pfx, elem, mem, 1, HOPI(name, 1)},           \
      XmmCase{name "2", pfx, elem, mem, 2, HOPI(name, 2)},           \
      XmmCase{name "3", pfx, elem, mem, 3, HOPI(name, 3)},           \
      XmmCase{name "4", pfx, elem, mem, 4, HOPI(name, 4)},           \
      XmmCase{name "5", pfx, elem, mem, 5, HOPI(name, 5)},           \
      XmmCase{name "6", pfx, elem, mem, 6, HOPI(name, 6)}, XmmCase { \
    name "7", pfx, elem, mem, 7, HOPI(name, 7)                       \
  }
#define ROUND(pfx, elem, mem, name, imm)       \
  XmmCase {                                    \
    name, pfx, elem, mem, imm, HOPI(name, imm) \
  }
#define ROUND6(opc, elem, mem, name)                                              \
  ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 0),       \
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 1),   \
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 2),   \
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 3),   \
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 4),   \
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 8),   \
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 0xb), \
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, opc}), elem, mem, name, 0xc)

const std::vector<XmmCase>& cases() {
  static const std::vector<XmmCase> k = {
      FOUR(0x58, "add"),
      FOUR(0x59, "mul"),
      FOUR(0x5c, "sub"),
      FOUR(0x5d, "min"),
      FOUR(0x5e, "div"),
      FOUR(0x5f, "max"),
      FOUR(0x51, "sqrt"),
      XmmCase{"rsqrtps", {0x0f, 0x52}, 4, 16, -1, HOP("rsqrtps")},
      XmmCase{"rsqrtss", {0xf3, 0x0f, 0x52}, 4, 4, -1, HOP("rsqrtss")},
      XmmCase{"rcpps", {0x0f, 0x53}, 4, 16, -1, HOP("rcpps")},
      XmmCase{"rcpss", {0xf3, 0x0f, 0x53}, 4, 4, -1, HOP("rcpss")},
      XmmCase{"addsubpd", {0x66, 0x0f, 0xd0}, 8, 16, -1, HOP("addsubpd")},
      XmmCase{"addsubps", {0xf2, 0x0f, 0xd0}, 4, 16, -1, HOP("addsubps")},
      XmmCase{"haddpd", {0x66, 0x0f, 0x7c}, 8, 16, -1, HOP("haddpd")},
      XmmCase{"haddps", {0xf2, 0x0f, 0x7c}, 4, 16, -1, HOP("haddps")},
      XmmCase{"hsubpd", {0x66, 0x0f, 0x7d}, 8, 16, -1, HOP("hsubpd")},
      XmmCase{"hsubps", {0xf2, 0x0f, 0x7d}, 4, 16, -1, HOP("hsubps")},
      CMP8(std::vector<uint8_t>({0x0f, 0xc2}), 4, 16, "cmpps"),
      CMP8(std::vector<uint8_t>({0x66, 0x0f, 0xc2}), 8, 16, "cmppd"),
      CMP8(std::vector<uint8_t>({0xf3, 0x0f, 0xc2}), 4, 4, "cmpss"),
      CMP8(std::vector<uint8_t>({0xf2, 0x0f, 0xc2}), 8, 8, "cmpsd"),
      XmmCase{"cvtps2pd", {0x0f, 0x5a}, 4, 8, -1, HOP("cvtps2pd")},
      XmmCase{"cvtpd2ps", {0x66, 0x0f, 0x5a}, 8, 16, -1, HOP("cvtpd2ps")},
      XmmCase{"cvtss2sd", {0xf3, 0x0f, 0x5a}, 4, 4, -1, HOP("cvtss2sd")},
      XmmCase{"cvtsd2ss", {0xf2, 0x0f, 0x5a}, 8, 8, -1, HOP("cvtsd2ss")},
      XmmCase{"cvtdq2ps", {0x0f, 0x5b}, 4, 16, -1, HOP("cvtdq2ps")},
      XmmCase{"cvtps2dq", {0x66, 0x0f, 0x5b}, 4, 16, -1, HOP("cvtps2dq")},
      XmmCase{"cvttps2dq", {0xf3, 0x0f, 0x5b}, 4, 16, -1, HOP("cvttps2dq")},
      XmmCase{"cvtdq2pd", {0xf3, 0x0f, 0xe6}, 4, 8, -1, HOP("cvtdq2pd")},
      XmmCase{"cvtpd2dq", {0xf2, 0x0f, 0xe6}, 8, 16, -1, HOP("cvtpd2dq")},
      XmmCase{"cvttpd2dq", {0x66, 0x0f, 0xe6}, 8, 16, -1, HOP("cvttpd2dq")},
      ROUND6(0x08, 4, 16, "roundps"),
      ROUND6(0x09, 8, 16, "roundpd"),
      ROUND6(0x0a, 4, 4, "roundss"),
      ROUND6(0x0b, 8, 8, "roundsd"),
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, 0x40}), 4, 16, "dpps", 0xff),
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, 0x40}), 4, 16, "dpps", 0x31),
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, 0x40}), 4, 16, "dpps", 0xd6),
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, 0x40}), 4, 16, "dpps", 0x00),
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, 0x41}), 8, 16, "dppd", 0x33),
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, 0x41}), 8, 16, "dppd", 0x12),
      ROUND(std::vector<uint8_t>({0x66, 0x0f, 0x3a, 0x41}), 8, 16, "dppd", 0xff),
  };
  return k;
}

constexpr uint64_t kMemAddr = 0x20000;

// Bytes of "op xmm1, xmm2" (reg form) or "op xmm1, [rbx]" (memory form).
std::vector<uint8_t> encode(const XmmCase& k, bool mem) {
  std::vector<uint8_t> b = k.opcode;
  b.push_back(mem ? 0x0b : 0xca);
  if (k.imm >= 0) b.push_back(static_cast<uint8_t>(k.imm));
  return b;
}

// One instruction run in the emulator and on the host; returns whether it faulted.
bool check_one(TestCpu& t, const XmmCase& k, const XmmReg& a, const XmmReg& b, uint32_t m,
               bool mem) {
  auto& c = t.cpu();
  c.xmm[1] = a;
  c.xmm[2] = b;
  c.mxcsr = m;
  c.gpr[RBX] = kMemAddr;
  for (unsigned i = 0; i < 16; ++i) t.write<uint8_t>(kMemAddr + i, b.b[i]);
  const Outcome o = exec_bytes(t, encode(k, mem));

  // For memory forms the host sees the source the instruction reads: the low mem_bytes of b.
  XmmReg hb = b;
  if (mem) std::memset(hb.b + k.mem_bytes, 0, 16 - k.mem_bytes);
  HostXmm x = to_host(a);
  const HostXmm y = to_host(hb);
  XmmReg expect = a;
  const OracleRun r = host_oracle(m, [&] {
    k.host(x, y);
    expect = from_host(x);
  });
  SCOPED_TRACE(testing::Message() << k.name << (mem ? " mem" : " reg") << " mxcsr=" << std::hex << m
                                  << " a=" << hex_xmm(a) << " b=" << hex_xmm(b));
  EXPECT_EQ(o.faulted, r.fault);
  if (o.faulted) {
    EXPECT_EQ(o.vector, kXM);
  }
  EXPECT_EQ(c.mxcsr, r.mxcsr);
  EXPECT_TRUE(same_xmm(c.xmm[1], expect)) << hex_xmm(c.xmm[1]) << " vs " << hex_xmm(expect);
  EXPECT_TRUE(same_xmm(c.xmm[2], b));
  return o.faulted;
}

TEST(SimdFpXmm, EveryFormMatchesTheHost) {
  TestCpu t;
  enter_sse_mode(t.cpu());
  std::mt19937_64 rng(0x5eed);
  unsigned faults = 0;
  for (const XmmCase& k : cases()) {
    for (int n = 0; n < 600; ++n) {
      const XmmReg a = hard_xmm(rng, k.elem);
      const XmmReg b = hard_xmm(rng, k.elem);
      faults += check_one(t, k, a, b, random_mxcsr(rng), n & 1) ? 1 : 0;
      if (HasFailure()) return;
    }
  }
  EXPECT_GT(faults, 100u);  // unmasked exceptions were really exercised
}

// Every rounding mode with DAZ/FTZ on and off and all exceptions masked, and each single
// exception unmasked alone.
TEST(SimdFpXmm, RoundingModesAndSingleUnmaskedExceptions) {
  TestCpu t;
  enter_sse_mode(t.cpu());
  std::mt19937_64 rng(42);
  for (const XmmCase& k : cases()) {
    for (uint32_t rc = 0; rc < 4; ++rc) {
      for (uint32_t dz = 0; dz < 4; ++dz) {
        const uint32_t base =
            (rc << 13) | ((dz & 1) ? mxcsr::DAZ : 0) | ((dz & 2) ? mxcsr::FTZ : 0);
        for (int e = -1; e < 6; ++e) {
          const uint32_t masks = e < 0 ? mxcsr::MASKS : mxcsr::MASKS & ~(1u << (7 + e));
          for (int n = 0; n < 4; ++n) {
            check_one(t, k, hard_xmm(rng, k.elem), hard_xmm(rng, k.elem), base | masks, n & 1);
            if (HasFailure()) return;
          }
        }
      }
    }
  }
}

TEST(SimdFpXmm, PackedMemoryOperandsMustBeAligned) {
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  for (const XmmCase& k : cases()) {
    c.gpr[RBX] = kMemAddr + 4;
    const XmmReg before = c.xmm[1];
    const uint32_t m = c.mxcsr;
    const Outcome o = exec_bytes(t, encode(k, true));
    SCOPED_TRACE(k.name);
    if (k.mem_bytes == 16) {
      EXPECT_TRUE(o.faulted);
      EXPECT_EQ(o.vector, kGP);
      EXPECT_EQ(o.error_code, 0u);
      EXPECT_TRUE(same_xmm(c.xmm[1], before));
      EXPECT_EQ(c.mxcsr, m);
    } else {
      EXPECT_FALSE(o.faulted);
    }
  }
}

TEST(SimdFpXmm, UnmaskedExceptionWithoutOsxmmexcptIsUd) {
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  c.cr4 &= ~cr4::OSXMMEXCPT;
  const XmmReg one{{0, 0, 0x80, 0x3f}};
  XmmReg zero{};
  c.xmm[1] = one;
  c.xmm[2] = zero;
  c.mxcsr = mxcsr::MASKS & ~(mxcsr::ZE << mxcsr::MASK_SHIFT);
  const Outcome o = exec_bytes(t, {0xf3, 0x0f, 0x5e, 0xca});  // divss xmm1, xmm2
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kUD);
  EXPECT_TRUE(c.mxcsr & mxcsr::ZE);
  EXPECT_TRUE(same_xmm(c.xmm[1], one));
}

TEST(SimdFpXmm, AvailabilityChecksComeFirst) {
  TestCpu t;
  auto& c = t.cpu();
  enter_sse_mode(c);
  c.cr4 &= ~cr4::OSFXSR;
  EXPECT_EQ(exec_bytes(t, {0x0f, 0x58, 0xca}).vector, kUD);
  c.cr4 |= cr4::OSFXSR;
  c.cr0 |= cr0::EM;
  EXPECT_EQ(exec_bytes(t, {0x0f, 0x58, 0xca}).vector, kUD);
  c.cr0 &= ~cr0::EM;
  c.cr0 |= cr0::TS;
  // #NM comes before the alignment check.
  c.gpr[RBX] = kMemAddr + 1;
  EXPECT_EQ(exec_bytes(t, {0x0f, 0x58, 0x0b}).vector, kNM);
}

}  // namespace
}  // namespace umbra::test
