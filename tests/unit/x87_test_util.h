// Test support for the x87 semantics: the host's own FPU as the oracle. A guest x87 state is
// built as a 108-byte FSAVE image (32-bit protected layout); the host runs the instruction's
// encoding between FRSTOR and FNSAVE on the full eight-register stack (a stub generated per
// encoding, memory operand [rsi]), while Umbra decodes and runs the same bytes on a TestCpu
// loaded with the same state. Results are compared register by register.
#pragma once

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "frontend/decoder.h"
#include "frontend/semantics/x87_internal.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test::x87t {

constexpr uint64_t kCodeAddr = 0x1000, kMemAddr = 0x2000;

struct F80 {
  uint64_t mant;
  uint16_t se;
};

struct State {
  uint8_t image[108];  // FSAVE image (32-bit protected layout)
  uint8_t mem[112];    // memory operand at [rsi]
  uint64_t rflags;     // status flags (FCMOVcc input, FCOMI output)
  uint16_t ax;
};

inline uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

// Runs `bytes` natively between FRSTOR and FNSAVE; the memory operand must be [rsi].
inline void run_host(const std::vector<uint8_t>& bytes, State& s) {
  static uint8_t* page = nullptr;
  if (!page) {
    void* p =
        mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(p, MAP_FAILED);
    page = static_cast<uint8_t*>(p);
  }
  // rdi = image, rsi = mem, rdx = &rflags, rcx = &ax
  std::vector<uint8_t> code = {0x50, 0xDD, 0x27, 0xFF, 0x32, 0x9D};  // push rax; frstor; flags
  code.insert(code.end(), bytes.begin(), bytes.end());
  const uint8_t tail[] = {0x9C, 0x8F, 0x02,             // pushfq; pop [rdx]
                          0x66, 0x89, 0x01,             // mov [rcx], ax
                          0xDD, 0x37,                   // fnsave [rdi]
                          0xD9, 0x2D, 0,    0,   0, 0,  // fldcw [rip+x] (patched below)
                          0x58, 0xC3, 0x7F, 0x03};      // pop rax; ret; .word 0x037F
  code.insert(code.end(), tail, tail + sizeof(tail));
  // fldcw [rip + 2]: the displacement is relative to the end of the FLDCW (two bytes before the
  // constant: pop rax, ret).
  const size_t disp_at = code.size() - 8;
  const int32_t disp = 2;
  std::memcpy(&code[disp_at], &disp, 4);
  std::memcpy(page, code.data(), code.size());
  constexpr uint64_t kStatus = 0x8D5;
  uint64_t flags = (__builtin_ia32_readeflags_u64() & ~kStatus) | (s.rflags & kStatus);
  uint16_t ax = s.ax;
  using Fn = void (*)(void*, void*, uint64_t*, uint16_t*);
  reinterpret_cast<Fn>(page)(s.image, s.mem, &flags, &ax);
  s.rflags = flags & kStatus;
  s.ax = ax;
}

// Loads the FSAVE image into the guest.
inline void load_guest(CpuState& c, const uint8_t* img) {
  auto& x = c.x87;
  x.fcw = rd16(img + 0);
  x.fsw = rd16(img + 4);
  umbra::x87::set_full_tag_word(c, rd16(img + 8));
  const unsigned top = (x.fsw >> 11) & 7;
  // The image's tag word is physical; set_full_tag_word takes it as such.
  for (unsigned k = 0; k < 8; ++k) {
    std::memset(x.st[(top + k) & 7], 0, 16);
    std::memcpy(x.st[(top + k) & 7], img + 28 + 10 * k, 10);
  }
}

// Decodes `bytes` at kCodeAddr in 64-bit mode and runs them once on `t`.
inline Outcome run_guest(TestCpu& t, const std::vector<uint8_t>& bytes) {
  Insn i;
  const DecodeStatus st =
      decode(bytes.data(), static_cast<unsigned>(bytes.size()), DecodeMode{true, true}, &i);
  EXPECT_EQ(st, DecodeStatus::Ok);
  EXPECT_EQ(i.len, bytes.size());
  t.cpu().rip = kCodeAddr;
  std::jmp_buf jb;
  t.cpu().fault_jmp = &jb;
  Outcome o;
  if (setjmp(jb) == 0) {
    i.fn(t.cpu(), i);
  } else {
    o.faulted = true;
    o.vector = static_cast<uint8_t>(t.cpu().pending_fault_vector);
  }
  t.cpu().fault_jmp = nullptr;
  if (!o.faulted) {
    EXPECT_EQ(t.cpu().rip, kCodeAddr + bytes.size());
  }
  return o;
}

// Interesting 80-bit values: zeros, ones, infinities, NaNs (quiet and signalling with payloads),
// denormals, pseudo-denormals, unnormals, pseudo-NaN/infinity, extremes, and random normals.
inline F80 pick_value(std::mt19937_64& rng) {
  const uint16_t sign = (rng() & 1) ? 0x8000 : 0;
  const uint64_t r = rng();
  switch (rng() % 16) {
    case 0:
      return {0, sign};
    case 1:
      return {0x8000000000000000ull, static_cast<uint16_t>(sign | 0x3FFF)};
    case 2:
      return {0x8000000000000000ull, static_cast<uint16_t>(sign | 0x7FFF)};  // inf
    case 3:
      return {0xC000000000000000ull | (r >> 2), static_cast<uint16_t>(sign | 0x7FFF)};
    case 4:
      return {0x8000000000000000ull | ((r >> 2) | 1), static_cast<uint16_t>(sign | 0x7FFF)};
    case 5:
      return {r >> 1 | 1, sign};  // denormal
    case 6:
      return {r | 0x8000000000000000ull, sign};  // pseudo-denormal
    case 7:
      return {r >> 1, static_cast<uint16_t>(sign | (0x3FFF + rng() % 64))};  // unnormal
    case 8:
      return {0xFFFFFFFFFFFFFFFFull, static_cast<uint16_t>(sign | 0x7FFE)};  // max
    case 9:
      return {0x8000000000000000ull, static_cast<uint16_t>(sign | 1)};  // min normal
    case 10:
      return {r | 0x8000000000000000ull, static_cast<uint16_t>(sign | (rng() % 0x7FFF))};
    case 11:
      return {0xC90FDAA22168C235ull, static_cast<uint16_t>(sign | 0x4000)};  // pi
    default:
      return {r | 0x8000000000000000ull, static_cast<uint16_t>(sign | (0x3FFF - 70 + rng() % 140))};
  }
}

// Memory operand bytes: random, or special patterns for the float and integer formats.
inline void pick_memory(std::mt19937_64& rng, uint8_t* mem) {
  for (unsigned k = 0; k < 16; k += 8) {
    const uint64_t r = rng();
    std::memcpy(mem + k, &r, 8);
  }
  const uint32_t f32[] = {0,           0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00001u,
                          0x7F800001u, 0x00000001u, 0x807FFFFFu, 0x3F800000u, 0x7F7FFFFFu};
  const uint64_t f64[] = {0,
                          0x8000000000000000ull,
                          0x7FF0000000000000ull,
                          0x7FF8000000000123ull,
                          0x7FF0000000000123ull,
                          1,
                          0x000FFFFFFFFFFFFFull,
                          0x3FF0000000000000ull,
                          0x8000000000000000ull,
                          0x7FFFFFFFFFFFFFFFull};
  const uint16_t i16[] = {0x8000, 0x7FFF, 0, 0xFFFF, 1};
  switch (rng() % 6) {
    case 0:
      std::memcpy(mem, &f32[rng() % 10], 4);
      break;
    case 1:
      std::memcpy(mem, &f64[rng() % 10], 8);
      break;
    case 2:
      std::memcpy(mem, &i16[rng() % 5], 2);
      break;
    case 3: {
      const F80 v = pick_value(rng);
      std::memcpy(mem, &v.mant, 8);
      std::memcpy(mem + 8, &v.se, 2);
      break;
    }
    default:
      break;
  }
}

// A random full state: TOP, tags (some empty), registers, control word (masks, precision,
// rounding), condition codes and masked sticky flags.
inline void random_state(std::mt19937_64& rng, State& s) {
  std::memset(&s, 0, sizeof(s));
  const bool all_masked = rng() & 1;
  const uint16_t masks = all_masked ? 0x3F : static_cast<uint16_t>(rng() & 0x3F);
  const uint16_t fcw =
      static_cast<uint16_t>(0x40 | masks | ((rng() % 4) << 8) | ((rng() % 4) << 10));
  const unsigned top = rng() % 8;
  const uint16_t flags = static_cast<uint16_t>(rng() & masks & 0x3F & -(rng() % 4 == 0));
  const uint16_t fsw = static_cast<uint16_t>((top << 11) | (rng() & 0x4700) | flags);
  uint16_t tags = 0;
  const bool full_stack = rng() % 4 == 0;
  for (unsigned k = 0; k < 8; ++k) {
    const F80 v = pick_value(rng);
    std::memcpy(s.image + 28 + 10 * k, &v.mant, 8);
    std::memcpy(s.image + 28 + 10 * k + 8, &v.se, 2);
    const bool empty = !full_stack && rng() % 5 == 0;
    // The tag is physical: stack slot k is physical register (top + k) & 7. Non-empty tags are
    // written as "valid"; both FRSTOR and Umbra derive the rest from the contents.
    if (empty) tags = static_cast<uint16_t>(tags | (3u << (2 * ((top + k) & 7))));
  }
  std::memcpy(s.image + 0, &fcw, 2);
  std::memcpy(s.image + 4, &fsw, 2);
  std::memcpy(s.image + 8, &tags, 2);
  pick_memory(rng, s.mem);
  s.rflags = rng() & 0x8D5;
  s.ax = static_cast<uint16_t>(rng());
}

// Compares the guest's state after the instruction with the host's FNSAVE image (FCW, FSW,
// empty/non-empty tags, the eight registers in stack order) and the memory operand.
inline ::testing::AssertionResult same_state(TestCpu& t, const State& host) {
  const CpuState& c = t.cpu();
  const uint16_t fcw = rd16(host.image + 0), fsw = rd16(host.image + 4), ftw = rd16(host.image + 8);
  if (c.x87.fcw != fcw)
    return ::testing::AssertionFailure() << std::hex << "fcw " << c.x87.fcw << " host " << fcw;
  if (c.x87.fsw != fsw)
    return ::testing::AssertionFailure() << std::hex << "fsw " << c.x87.fsw << " host " << fsw;
  for (unsigned p = 0; p < 8; ++p) {
    const bool host_valid = ((ftw >> (2 * p)) & 3) != 3;
    if (umbra::x87::phys_valid(c, p) != host_valid)
      return ::testing::AssertionFailure()
             << "tag of physical " << p << " host valid " << host_valid;
  }
  const unsigned top = (fsw >> 11) & 7;
  for (unsigned k = 0; k < 8; ++k) {
    if (std::memcmp(c.x87.st[(top + k) & 7], host.image + 28 + 10 * k, 10) != 0) {
      uint64_t gm, hm;
      uint16_t ge, he;
      std::memcpy(&gm, c.x87.st[(top + k) & 7], 8);
      std::memcpy(&ge, c.x87.st[(top + k) & 7] + 8, 2);
      std::memcpy(&hm, host.image + 28 + 10 * k, 8);
      std::memcpy(&he, host.image + 28 + 10 * k + 8, 2);
      return ::testing::AssertionFailure()
             << std::hex << "ST(" << k << ") " << ge << ":" << gm << " host " << he << ":" << hm;
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace umbra::test::x87t
