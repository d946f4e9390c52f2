// Host-oracle harness for the MMX/SSE data-movement and integer tests (simd_move_*_test.cpp,
// simd_int_*_test.cpp). One encoding (prefixes, escape, opcode; ModRM and imm8 appended here)
// is decoded by Umbra's decoder and run on the guest CPU, and the very same bytes are run on the
// host inside a small generated stub: the host CPU is the oracle for every form.
//
// Operand conventions: ModRM.reg = 0 (xmm0/mm0/RAX), ModRM.rm = 1 (xmm1/mm1/RCX) for register
// forms, [rsi] for memory forms; RDI also points at the memory buffer (MASKMOVQ/MASKMOVDQU).
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "frontend/decoder.h"
#include "frontend/system/mode.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::simdtest {

// Register and memory state seen by both the guest and the host stub.
struct State {
  alignas(16) uint8_t xmm0[16];
  uint8_t xmm1[16];
  uint64_t rcx;
  uint64_t mm0;
  uint64_t mm1;
  uint64_t rax;
  alignas(16) uint8_t mem[64];  // the memory operand lives at mem[0] (16-byte aligned)
};
static_assert(offsetof(State, rcx) == 32 && offsetof(State, mm0) == 40 &&
              offsetof(State, mm1) == 48 && offsetof(State, rax) == 56 &&
              offsetof(State, mem) == 64);

enum class Rm { kReg, kMem };

// Encoded instruction: `opcode` bytes, then ModRM (reg 0, rm 1 or [rsi]), then imm8 if `has_imm`.
// `modrm_reg` replaces ModRM.reg for group encodings (0F 71-73 /digit).
inline std::vector<uint8_t> encode(const std::vector<uint8_t>& opcode, Rm rm, bool has_imm,
                                   uint8_t imm, uint8_t modrm_reg = 0) {
  std::vector<uint8_t> b = opcode;
  b.push_back(static_cast<uint8_t>((rm == Rm::kReg ? 0xC1 : 0x06) | modrm_reg << 3));
  if (has_imm) b.push_back(imm);
  return b;
}

// Runs `insn` on the host with the registers and memory of `s`.
inline void run_host(const std::vector<uint8_t>& insn, State& s) {
  static uint8_t* code = [] {
    void* p =
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return static_cast<uint8_t*>(p);
  }();
  std::vector<uint8_t> c = {
      0x48, 0x89, 0xFA,              // mov rdx, rdi      (state)
      0x48, 0x8D, 0x72, 0x40,        // lea rsi, [rdx+64] (memory operand)
      0x48, 0x89, 0xF7,              // mov rdi, rsi
      0x48, 0x8B, 0x4A, 0x20,        // mov rcx, [rdx+32]
      0x48, 0x8B, 0x42, 0x38,        // mov rax, [rdx+56]
      0xF3, 0x0F, 0x6F, 0x02,        // movdqu xmm0, [rdx]
      0xF3, 0x0F, 0x6F, 0x4A, 0x10,  // movdqu xmm1, [rdx+16]
      0x0F, 0x6F, 0x42, 0x28,        // movq mm0, [rdx+40]
      0x0F, 0x6F, 0x4A, 0x30,        // movq mm1, [rdx+48]
  };
  c.insert(c.end(), insn.begin(), insn.end());
  const uint8_t tail[] = {
      0xF3, 0x0F, 0x7F, 0x02,        // movdqu [rdx], xmm0
      0xF3, 0x0F, 0x7F, 0x4A, 0x10,  // movdqu [rdx+16], xmm1
      0x0F, 0x7F, 0x42, 0x28,        // movq [rdx+40], mm0
      0x0F, 0x7F, 0x4A, 0x30,        // movq [rdx+48], mm1
      0x0F, 0x77,                    // emms
      0x48, 0x89, 0x4A, 0x20,        // mov [rdx+32], rcx
      0x48, 0x89, 0x42, 0x38,        // mov [rdx+56], rax
      0xC3,                          // ret
  };
  c.insert(c.end(), std::begin(tail), std::end(tail));
  std::memcpy(code, c.data(), c.size());
  __builtin___clear_cache(reinterpret_cast<char*>(code), reinterpret_cast<char*>(code + c.size()));
  reinterpret_cast<void (*)(State*)>(code)(&s);
}

constexpr uint64_t kMemAddr = 0x10000;

// A TestCpu with SSE enabled (CR4.OSFXSR) in 64-bit mode.
inline void enable_sse(TestCpu& t) {
  t.cpu().cr4 |= cr4::OSFXSR;
}

// Decodes `bytes` in 64-bit mode and runs them once on the guest.
inline Outcome exec_guest(TestCpu& t, const std::vector<uint8_t>& bytes) {
  return exec_decoded(t, bytes);
}

// Runs `bytes` on the guest with the state `s` (memory operand at kMemAddr, RSI = RDI = it).
inline Outcome run_guest(TestCpu& t, const std::vector<uint8_t>& bytes, State& s) {
  CpuState& c = t.cpu();
  std::memcpy(c.xmm[0].b, s.xmm0, 16);
  std::memcpy(c.xmm[1].b, s.xmm1, 16);
  std::memcpy(c.x87.st[0], &s.mm0, 8);
  std::memcpy(c.x87.st[1], &s.mm1, 8);
  c.gpr[RCX] = s.rcx;
  c.gpr[RAX] = s.rax;
  c.gpr[RSI] = c.gpr[RDI] = kMemAddr;
  std::memcpy(t.mem().ram() + kMemAddr, s.mem, sizeof(s.mem));
  const Outcome o = exec_guest(t, bytes);
  std::memcpy(s.xmm0, c.xmm[0].b, 16);
  std::memcpy(s.xmm1, c.xmm[1].b, 16);
  std::memcpy(&s.mm0, c.x87.st[0], 8);
  std::memcpy(&s.mm1, c.x87.st[1], 8);
  s.rcx = c.gpr[RCX];
  s.rax = c.gpr[RAX];
  std::memcpy(s.mem, t.mem().ram() + kMemAddr, sizeof(s.mem));
  return o;
}

// Random bytes with edge lanes: each 8-byte chunk is random, or made of one edge byte pattern
// (0x00, 0x7f, 0x80, 0xff, 0x01) or alternating edge words/dwords.
inline void fill_random(std::mt19937_64& rng, uint8_t* p, size_t n) {
  static const uint64_t kEdges[] = {0,
                                    ~uint64_t{0},
                                    0x7f7f7f7f7f7f7f7full,
                                    0x8080808080808080ull,
                                    0x0101010101010101ull,
                                    0x7fff80007fff8000ull,
                                    0x800000007fffffffull,
                                    0x8000000000000000ull,
                                    0x7fffffffffffffffull,
                                    0x00ff00ff00ff00ffull};
  for (size_t k = 0; k < n; k += 8) {
    uint64_t v = rng();
    if ((rng() & 3) == 0) v = kEdges[rng() % std::size(kEdges)];
    std::memcpy(p + k, &v, 8);
  }
}

inline State random_state(std::mt19937_64& rng) {
  State s{};
  fill_random(rng, s.xmm0, 16);
  fill_random(rng, s.xmm1, 16);
  fill_random(rng, s.mem, 64);
  s.rcx = rng();
  s.rax = rng();
  s.mm0 = rng();
  s.mm1 = rng();
  // Shift counts: often small so that shifts by register/memory do something.
  if (rng() & 1) {
    const uint64_t small = rng() % 70;
    std::memcpy(s.xmm1, &small, 8);
    std::memcpy(s.mem, &small, 8);
    s.mm1 = small;
  }
  return s;
}

inline std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string r;
  for (size_t k = n; k-- > 0;) {
    r += d[p[k] >> 4];
    r += d[p[k] & 15];
  }
  return r;
}

// An encoding to check against the host: `opcode` bytes (prefixes, 0F, map, opcode), which
// operand kinds exist, and whether an imm8 follows.
struct Form {
  const char* name;
  std::vector<uint8_t> opcode;
  bool reg_form = true;
  bool mem_form = true;
  bool has_imm = false;
  uint8_t modrm_reg = 0;
};

// Compares guest and host over `iterations` random states for the register and memory forms
// (imm8: random, plus 0 and 0xff). Returns the number of comparisons made.
inline int check_against_host(const Form& f, int iterations, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TestCpu t;
  enable_sse(t);
  int checks = 0;
  for (int it = 0; it < iterations; ++it) {
    for (Rm rm : {Rm::kReg, Rm::kMem}) {
      if ((rm == Rm::kReg && !f.reg_form) || (rm == Rm::kMem && !f.mem_form)) continue;
      const uint8_t imm = it == 0 ? 0 : it == 1 ? 0xff : static_cast<uint8_t>(rng());
      const std::vector<uint8_t> bytes = encode(f.opcode, rm, f.has_imm, imm, f.modrm_reg);
      State host = random_state(rng);
      State guest = host;
      run_host(bytes, host);
      const Outcome o = run_guest(t, bytes, guest);
      const std::string what =
          std::string(f.name) + (rm == Rm::kReg ? " reg" : " mem") + " imm=" + std::to_string(imm) +
          " bytes " + hex(std::vector<uint8_t>(bytes.rbegin(), bytes.rend()).data(), bytes.size());
      EXPECT_FALSE(o.faulted) << what << " vector " << int(o.vector);
      EXPECT_EQ(hex(guest.xmm0, 16), hex(host.xmm0, 16)) << what;
      EXPECT_EQ(hex(guest.xmm1, 16), hex(host.xmm1, 16)) << what;
      EXPECT_EQ(guest.mm0, host.mm0) << what;
      EXPECT_EQ(guest.mm1, host.mm1) << what;
      EXPECT_EQ(guest.rax, host.rax) << what;
      EXPECT_EQ(guest.rcx, host.rcx) << what;
      EXPECT_EQ(hex(guest.mem, 64), hex(host.mem, 64)) << what;
      ++checks;
      if (::testing::Test::HasFailure()) return checks;
    }
  }
  return checks;
}

}  // namespace umbra::test::simdtest
