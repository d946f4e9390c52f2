// CRC32 and PCMPESTRI/PCMPESTRM/PCMPISTRI/PCMPISTRM through the real decoder against the host's
// own instructions (inline asm): every operand size of CRC32, every imm8 (bits 0-6) of the four
// string instructions on random and crafted strings, lengths in 32- and 64-bit (REX.W) form.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <random>
#include <utility>

#include "frontend/flags.h"
#include "tests/unit/fp_state_test_util.h"

namespace umbra::test {
namespace {

constexpr uint64_t kData = 0xA000;
constexpr uint64_t kStatus = rf::CF | rf::PF | rf::AF | rf::ZF | rf::SF | rf::OF;

// ---- CRC32 ----

uint64_t host_crc32(unsigned size, uint64_t acc, uint64_t v) {
  switch (size) {
    case 1: {
      uint32_t a = static_cast<uint32_t>(acc);
      asm("crc32b %1, %0" : "+r"(a) : "q"(static_cast<uint8_t>(v)));
      return a;
    }
    case 2: {
      uint32_t a = static_cast<uint32_t>(acc);
      asm("crc32w %1, %0" : "+r"(a) : "r"(static_cast<uint16_t>(v)));
      return a;
    }
    case 4: {
      uint32_t a = static_cast<uint32_t>(acc);
      asm("crc32l %1, %0" : "+r"(a) : "r"(static_cast<uint32_t>(v)));
      return a;
    }
    default: {
      uint64_t a = acc;
      asm("crc32q %1, %0" : "+r"(a) : "r"(v));
      return a;
    }
  }
}

class SimdStringCrc32 : public ::testing::Test {
 protected:
  void SetUp() override { enter_fp_long_mode(t.cpu()); }
  TestCpu t;
};

TEST_F(SimdStringCrc32, AllFormsMatchHost) {
  auto& c = t.cpu();
  std::mt19937_64 rng(32);
  struct Form {
    std::vector<uint8_t> reg, mem;  // crc32 ecx/rcx, edx  |  crc32 ecx/rcx, [rbx]
    unsigned size;
    bool dst64;
  };
  const Form forms[] = {
      {{0xf2, 0x0f, 0x38, 0xf0, 0xca}, {0xf2, 0x0f, 0x38, 0xf0, 0x0b}, 1, false},
      {{0xf2, 0x48, 0x0f, 0x38, 0xf0, 0xca}, {0xf2, 0x48, 0x0f, 0x38, 0xf0, 0x0b}, 1, true},
      {{0x66, 0xf2, 0x0f, 0x38, 0xf1, 0xca}, {0x66, 0xf2, 0x0f, 0x38, 0xf1, 0x0b}, 2, false},
      {{0xf2, 0x0f, 0x38, 0xf1, 0xca}, {0xf2, 0x0f, 0x38, 0xf1, 0x0b}, 4, false},
      {{0xf2, 0x48, 0x0f, 0x38, 0xf1, 0xca}, {0xf2, 0x48, 0x0f, 0x38, 0xf1, 0x0b}, 8, true},
  };
  for (const Form& f : forms) {
    for (int iter = 0; iter < 500; ++iter) {
      const uint64_t acc = rng(), v = rng();
      const uint64_t want = host_crc32(f.size, f.dst64 ? acc : static_cast<uint32_t>(acc), v);
      const uint64_t flags = rng() & kStatus;
      set_arith_flags(c, flags);
      c.gpr[RCX] = acc;
      c.gpr[RDX] = v;
      ASSERT_FALSE(exec_bytes(t, f.reg).faulted);
      EXPECT_EQ(c.gpr[RCX], want) << f.size << " " << iter;
      EXPECT_EQ(arith_flags(c) & kStatus, flags);
      c.gpr[RCX] = acc;
      c.gpr[RBX] = kData;
      t.write<uint64_t>(kData, v);
      ASSERT_FALSE(exec_bytes(t, f.mem).faulted);
      EXPECT_EQ(c.gpr[RCX], want) << f.size << " mem " << iter;
    }
  }
}

TEST_F(SimdStringCrc32, ByteRegistersAndFaults) {
  auto& c = t.cpu();
  c.gpr[RAX] = 0x1234;
  c.gpr[RCX] = 0xFFFFFFFF12345678;
  ASSERT_FALSE(exec_bytes(t, {0xf2, 0x0f, 0x38, 0xf0, 0xcc}).faulted);  // crc32 ecx, ah
  EXPECT_EQ(c.gpr[RCX], host_crc32(1, 0x12345678, 0x12));
  c.gpr[RSP] = 0x99;
  c.gpr[RCX] = 7;
  ASSERT_FALSE(exec_bytes(t, {0xf2, 0x40, 0x0f, 0x38, 0xf0, 0xcc}).faulted);  // crc32 ecx, spl
  EXPECT_EQ(c.gpr[RCX], host_crc32(1, 7, 0x99));
  c.gpr[R9] = 0xABCD;
  c.gpr[R10] = 5;
  ASSERT_FALSE(exec_bytes(t, {0xf2, 0x45, 0x0f, 0x38, 0xf1, 0xd1}).faulted);  // crc32 r10d, r9d
  EXPECT_EQ(c.gpr[R10], host_crc32(4, 5, 0xABCD));
  // No SSE availability checks (a GPR instruction); only CPUID.SSE4_2.
  c.cr4 &= ~cr4::OSFXSR;
  c.cr0 |= cr0::TS | cr0::EM;
  EXPECT_FALSE(exec_bytes(t, {0xf2, 0x0f, 0x38, 0xf1, 0xca}).faulted);
  c.cpu_model = &fp_bare_model();  // no SSE4.2
  EXPECT_EQ(fault_of(exec_bytes(t, {0xf2, 0x0f, 0x38, 0xf1, 0xca})), kUD);
}

// ---- PCMPxSTRx ----

struct StrResult {
  uint32_t ecx;
  uint64_t flags;
  uint8_t xmm0[16];
};

// Runs 66 [REX.W] 0F 3A <op> CA ib (xmm1, xmm2) on the host.
template <uint8_t Op, bool W, int Imm>
void host_pcmpstr(const uint8_t* a, const uint8_t* b, uint64_t rax, uint64_t rdx, StrResult* r) {
  uint64_t rcx = 0x5555555555555555;
  uint8_t ah, of;
  alignas(16) uint8_t x0[16];
  if constexpr (W) {
    asm volatile(
        "movdqu (%[a]), %%xmm1\n\t"
        "movdqu (%[b]), %%xmm2\n\t"
        "pxor %%xmm0, %%xmm0\n\t"
        ".byte 0x66, 0x48, 0x0f, 0x3a, %c[op], 0xca, %c[imm]\n\t"
        "lahf\n\t"
        "seto %[of]\n\t"
        "movdqu %%xmm0, (%[x0])\n\t"
        : "+c"(rcx), "=&Q"(ah), [of] "=&r"(of), "+a"(rax)
        : [a] "r"(a), [b] "r"(b), "d"(rdx), [op] "i"(Op), [imm] "i"(Imm), [x0] "r"(x0)
        : "xmm0", "xmm1", "xmm2", "cc", "memory");
  } else {
    asm volatile(
        "movdqu (%[a]), %%xmm1\n\t"
        "movdqu (%[b]), %%xmm2\n\t"
        "pxor %%xmm0, %%xmm0\n\t"
        ".byte 0x66, 0x0f, 0x3a, %c[op], 0xca, %c[imm]\n\t"
        "lahf\n\t"
        "seto %[of]\n\t"
        "movdqu %%xmm0, (%[x0])\n\t"
        : "+c"(rcx), "=&Q"(ah), [of] "=&r"(of), "+a"(rax)
        : [a] "r"(a), [b] "r"(b), "d"(rdx), [op] "i"(Op), [imm] "i"(Imm), [x0] "r"(x0)
        : "xmm0", "xmm1", "xmm2", "cc", "memory");
  }
  ah = static_cast<uint8_t>(rax >> 8);
  r->ecx = static_cast<uint32_t>(rcx);
  r->flags = (ah & (rf::CF | rf::PF | rf::AF | rf::ZF | rf::SF)) | (of ? rf::OF : 0);
  std::memcpy(r->xmm0, x0, 16);
}

using HostFn = void (*)(const uint8_t*, const uint8_t*, uint64_t, uint64_t, StrResult*);

template <uint8_t Op, bool W, size_t... I>
constexpr std::array<HostFn, 128> host_table(std::index_sequence<I...>) {
  return {&host_pcmpstr<Op, W, static_cast<int>(I)>...};
}

// [op - 0x60][W]
const std::array<HostFn, 128> kHost[4][2] = {
    {host_table<0x60, false>(std::make_index_sequence<128>{}),
     host_table<0x60, true>(std::make_index_sequence<128>{})},
    {host_table<0x61, false>(std::make_index_sequence<128>{}),
     host_table<0x61, true>(std::make_index_sequence<128>{})},
    {host_table<0x62, false>(std::make_index_sequence<128>{}),
     host_table<0x62, true>(std::make_index_sequence<128>{})},
    {host_table<0x63, false>(std::make_index_sequence<128>{}),
     host_table<0x63, true>(std::make_index_sequence<128>{})},
};

// Random strings over a small alphabet (so elements match), with zero elements sometimes, and
// crafted cases: all equal, all zero, one the prefix of the other, ranges bounds.
void make_strings(std::mt19937_64& rng, uint8_t* a, uint8_t* b) {
  const unsigned kind = rng() % 6;
  const unsigned alpha = kind == 0 ? 256 : 2 + rng() % 6;
  for (unsigned k = 0; k < 16; ++k) {
    a[k] = static_cast<uint8_t>(rng() % alpha + (kind == 1 ? 0x7E : 0x20));
    b[k] = static_cast<uint8_t>(rng() % alpha + (kind == 1 ? 0x7E : 0x20));
  }
  if (kind == 2) std::memcpy(b, a, 16);
  if (kind == 3) {
    std::memcpy(b + rng() % 8, a, 4);
  }
  if (kind == 4) {
    std::memset(a, 0, 16);
    if (rng() & 1) std::memset(b, 0, 16);
  }
  if (rng() % 3 == 0) a[rng() % 16] = 0;
  if (rng() % 3 == 0) b[rng() % 16] = 0;
  if (rng() % 4 == 0) a[rng() % 16] = 0x80;  // sign boundary for the signed formats
}

uint64_t random_length(std::mt19937_64& rng) {
  switch (rng() % 5) {
    case 0:
      return rng();  // anything (saturates, or INT_MIN-like magnitudes)
    case 1:
      return static_cast<uint64_t>(-static_cast<int64_t>(rng() % 20));
    case 2:
      return (rng() % 3) << 32 | (rng() % 20);  // upper half matters only with REX.W
    default:
      return rng() % 20;
  }
}

class SimdStringPcmpstr : public ::testing::Test {
 protected:
  void SetUp() override { enter_fp_long_mode(t.cpu()); }
  TestCpu t;
};

TEST_F(SimdStringPcmpstr, EveryImm8MatchesHost) {
  auto& c = t.cpu();
  std::mt19937_64 rng(42);
  unsigned checked = 0;
  for (unsigned op = 0x60; op <= 0x63; ++op) {
    for (unsigned w = 0; w < 2; ++w) {
      if (w && op >= 0x62) continue;  // REX.W only matters to the explicit-length forms
      for (unsigned imm = 0; imm < 128; ++imm) {
        for (int iter = 0; iter < 60; ++iter) {
          alignas(16) uint8_t a[16], b[16];
          make_strings(rng, a, b);
          const uint64_t rax = random_length(rng), rdx = random_length(rng);
          StrResult want;
          kHost[op - 0x60][w][imm](a, b, rax, rdx, &want);
          std::memcpy(c.xmm[1].b, a, 16);
          std::memcpy(c.xmm[2].b, b, 16);
          std::memset(c.xmm[0].b, 0xCC, 16);
          c.gpr[RAX] = rax;
          c.gpr[RDX] = rdx;
          c.gpr[RCX] = 0x5555555555555555;
          set_arith_flags(c, kStatus);
          std::vector<uint8_t> enc = {
              0x66, 0x0f, 0x3a, static_cast<uint8_t>(op), 0xca, static_cast<uint8_t>(imm)};
          if (w) enc.insert(enc.begin() + 1, 0x48);
          ASSERT_FALSE(exec_bytes(t, enc).faulted);
          const bool index = op & 1;
          const uint64_t got_flags = arith_flags(c) & kStatus;
          ASSERT_EQ(got_flags, want.flags) << std::hex << "op " << op << " w " << w << " imm "
                                           << imm << " iter " << std::dec << iter;
          if (index) {
            ASSERT_EQ(c.gpr[RCX], want.ecx) << std::hex << "op " << op << " imm " << imm;
          } else {
            ASSERT_EQ(std::memcmp(c.xmm[0].b, want.xmm0, 16), 0)
                << std::hex << "op " << op << " w " << w << " imm " << imm;
            ASSERT_EQ(c.gpr[RCX], 0x5555555555555555u);
          }
          // The memory form gives the same answer.
          if (iter % 8 == 0) {
            std::memcpy(t.mem().ram() + kData + 3, b, 16);  // unaligned is fine
            c.gpr[RBX] = kData + 3;
            c.gpr[RCX] = 0x5555555555555555;
            std::vector<uint8_t> m = {
                0x66, 0x0f, 0x3a, static_cast<uint8_t>(op), 0x0b, static_cast<uint8_t>(imm)};
            if (w) m.insert(m.begin() + 1, 0x48);
            ASSERT_FALSE(exec_bytes(t, m).faulted);
            ASSERT_EQ(arith_flags(c) & kStatus, want.flags);
            if (index)
              ASSERT_EQ(c.gpr[RCX], want.ecx);
            else
              ASSERT_EQ(std::memcmp(c.xmm[0].b, want.xmm0, 16), 0);
          }
          ++checked;
        }
      }
    }
  }
  EXPECT_EQ(checked, 6u * 128 * 60);
}

TEST_F(SimdStringPcmpstr, AvailabilityFaults) {
  auto& c = t.cpu();
  const std::vector<uint8_t> enc = {0x66, 0x0f, 0x3a, 0x63, 0xca, 0x00};
  c.cr0 |= cr0::TS;
  EXPECT_EQ(fault_of(exec_bytes(t, enc)), kNM);
  c.cr0 &= ~cr0::TS;
  c.cr4 &= ~cr4::OSFXSR;
  EXPECT_EQ(fault_of(exec_bytes(t, enc)), kUD);
  c.cr4 |= cr4::OSFXSR;
  c.cpu_model = &fp_bare_model();  // no SSE4.2
  EXPECT_EQ(fault_of(exec_bytes(t, enc)), kUD);
}

}  // namespace
}  // namespace umbra::test
