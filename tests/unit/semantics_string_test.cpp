// String semantics: MOVS, CMPS, SCAS, LODS, STOS, with and without REP/REPE/REPNE.
//
// Single elements are checked against explicit expectations. The REP driver (with its bulk
// fast paths, chunking and termination rules) is additionally checked differentially: random
// cases run once through the REP handler and once as a plain loop of the non-REP handler on a
// second CPU, and memory and registers must agree.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "jit/engine.h"
#include "tests/unit/semb_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {
namespace {

constexpr uint64_t kRip = 0x3000;
constexpr uint64_t kSrc = 0x100000;
constexpr uint64_t kDst = 0x180000;

Insn string_insn(Op op, unsigned size, uint8_t prefixes = 0, unsigned addr_size = 8) {
  Insn i = make_insn(op, size, prefixes ? 2 : 1);
  i.prefixes = prefixes;
  i.addr_size = static_cast<uint8_t>(addr_size);
  return i;
}

// Runs a (possibly chunked) REP instruction until it completes (RIP moves on) or faults.
// Returns the number of handler calls.
unsigned run_to_completion(TestCpu& t, Insn& i, Outcome* last = nullptr) {
  auto& c = t.cpu();
  const uint64_t start = c.rip;
  unsigned calls = 0;
  for (;;) {
    Outcome o = t.run(i);
    ++calls;
    if (last) *last = o;
    if (o.faulted || c.rip != start || calls > 100000) return calls;
  }
}

// ---------------------------------------------------------------- single elements

TEST(StringMovs, SingleElementBothDirections) {
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    for (bool down : {false, true}) {
      TestCpu t;
      auto& c = t.cpu();
      t.write<uint64_t>(kSrc, 0x8877665544332211ull);
      c.gpr[RSI] = kSrc;
      c.gpr[RDI] = kDst;
      c.rflags = rf::FIXED1 | (down ? rf::DF : 0);
      c.rip = kRip;
      Insn i = string_insn(Op::MOVS, size);
      ASSERT_FALSE(t.run(i).faulted);
      EXPECT_EQ(t.read<uint64_t>(kDst), 0x8877665544332211ull & size_mask(size));
      const int64_t d = down ? -static_cast<int64_t>(size) : size;
      EXPECT_EQ(c.gpr[RSI], kSrc + d);
      EXPECT_EQ(c.gpr[RDI], kDst + d);
      EXPECT_EQ(c.rip, kRip + 1);
    }
  }
}

TEST(StringMovs, SourceSegmentOverrideDestinationAlwaysEs) {
  TestCpu t;
  auto& c = t.cpu();
  // 64-bit mode: FS has a base, ES does not.
  c.seg[FS].base = 0x1000;
  c.seg[ES].base = 0x5000;  // ignored in 64-bit mode
  t.write<uint32_t>(kSrc + 0x1000, 0xabcdef01);
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = kDst;
  Insn i = string_insn(Op::MOVS, 4);
  i.seg = FS;
  t.run(i);
  EXPECT_EQ(t.read<uint32_t>(kDst), 0xabcdef01u);
  // Legacy mode: ES base applies to the destination, DS base to the source.
  enter_legacy(c, true, true);
  c.seg[DS].base = 0x2000;
  c.seg[ES].base = 0x3000;
  t.write<uint32_t>(kSrc + 0x2000, 0x13572468);
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = kDst;
  i.seg = DS;
  i.addr_size = 4;
  t.run(i);
  EXPECT_EQ(t.read<uint32_t>(kDst + 0x3000), 0x13572468u);
}

TEST(StringMovs, SixteenAndThirtyTwoBitIndexWrap) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, false, false);
  c.seg[DS].base = 0x200000;
  c.seg[ES].base = 0x300000;
  t.write<uint8_t>(0x200000 + 0xffff, 0x5a);
  c.gpr[RSI] = 0xabcd0000ffffull;
  c.gpr[RDI] = 0x1234ffffull;
  Insn i = string_insn(Op::MOVS, 1, 0, 2);
  t.run(i);
  EXPECT_EQ(t.read<uint8_t>(0x300000 + 0xffff), 0x5a);
  EXPECT_EQ(c.gpr[RSI], 0xabcd00000000ull);  // SI wrapped, bits 16..63 kept
  EXPECT_EQ(c.gpr[RDI], 0x12340000ull);
  // 32-bit address size in 64-bit mode: ESI wraps and zero-extends.
  TestCpu u;
  auto& d = u.cpu();
  d.gpr[RSI] = 0xffffffff00000010ull;
  d.gpr[RDI] = 0xffffffff00000020ull;
  d.rflags = rf::FIXED1 | rf::DF;
  u.write<uint16_t>(0x10, 0x7777);
  Insn j = string_insn(Op::MOVS, 2, 0, 4);
  u.run(j);
  EXPECT_EQ(u.read<uint16_t>(0x20), 0x7777u);
  EXPECT_EQ(d.gpr[RSI], 0xeu);
  EXPECT_EQ(d.gpr[RDI], 0x1eu);
}

TEST(StringCmps, SingleElementFlags) {
  TestCpu t;
  auto& c = t.cpu();
  t.write<uint32_t>(kSrc, 3);
  t.write<uint32_t>(kDst, 5);
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = kDst;
  Insn i = string_insn(Op::CMPS, 4);
  t.run(i);
  // [rSI] - [rDI] = 3 - 5: CF, SF, AF set (as CMP 3, 5).
  set_lazy<uint32_t>(c, kLazySub, 3u - 5u, 3, 5);
  const uint64_t expect = arith_flags(c);
  EXPECT_EQ(expect & (rf::CF | rf::SF | rf::ZF), rf::CF | rf::SF);
  EXPECT_EQ(c.gpr[RSI], kSrc + 4);
  EXPECT_EQ(c.gpr[RDI], kDst + 4);
}

TEST(StringScasLodsStos, SingleElements) {
  TestCpu t;
  auto& c = t.cpu();
  // SCAS: flags of rAX - [ES:rDI].
  t.write<uint16_t>(kDst, 0x1234);
  c.gpr[RAX] = 0xffff1234;
  c.gpr[RDI] = kDst;
  Insn s = string_insn(Op::SCAS, 2);
  t.run(s);
  EXPECT_TRUE(status_flags(c) & rf::ZF);
  EXPECT_EQ(c.gpr[RDI], kDst + 2);
  // LODS: 32-bit loads zero-extend RAX; 8-bit keep the rest.
  t.write<uint32_t>(kSrc, 0x89abcdef);
  c.gpr[RSI] = kSrc;
  c.gpr[RAX] = ~uint64_t{0};
  Insn l = string_insn(Op::LODS, 4);
  t.run(l);
  EXPECT_EQ(c.gpr[RAX], 0x89abcdefu);
  EXPECT_EQ(c.gpr[RSI], kSrc + 4);
  c.gpr[RSI] = kSrc;
  c.gpr[RAX] = ~uint64_t{0};
  Insn lb = string_insn(Op::LODS, 1);
  t.run(lb);
  EXPECT_EQ(c.gpr[RAX], 0xffffffffffffffefull);
  // STOS.
  c.gpr[RAX] = 0x1122334455667788ull;
  c.gpr[RDI] = kDst + 0x100;
  Insn st = string_insn(Op::STOS, 8);
  t.run(st);
  EXPECT_EQ(t.read<uint64_t>(kDst + 0x100), 0x1122334455667788ull);
  EXPECT_EQ(c.gpr[RDI], kDst + 0x108);
}

// ---------------------------------------------------------------- REP basics

TEST(StringRep, ZeroCountDoesNothing) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(kSrc);
  p.unmap(kDst);
  for (Op op : {Op::MOVS, Op::CMPS, Op::SCAS, Op::LODS, Op::STOS}) {
    c.gpr[RCX] = 0xffffffff00000000ull;  // ECX = 0 with 32-bit addressing
    c.gpr[RSI] = kSrc;
    c.gpr[RDI] = kDst;
    c.rip = kRip;
    set_arith_flags(c, rf::OF | rf::CF);
    Insn i = string_insn(op, 1, pfx::kRep, 4);
    Outcome o = t.run(i);
    EXPECT_FALSE(o.faulted) << static_cast<int>(op);
    EXPECT_EQ(c.rip, kRip + 2);
    EXPECT_EQ(c.gpr[RCX], 0xffffffff00000000ull);
    EXPECT_EQ(c.gpr[RSI], kSrc);
    EXPECT_EQ(c.gpr[RDI], kDst);
    EXPECT_EQ(status_flags(c), rf::OF | rf::CF);
  }
}

TEST(StringRep, MovsOneAndMany) {
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    TestCpu t;
    auto& c = t.cpu();
    for (unsigned k = 0; k < 8192; ++k) t.write<uint8_t>(kSrc + k, static_cast<uint8_t>(k * 7));
    for (uint64_t count : {uint64_t{1}, uint64_t{3}, uint64_t{1000}}) {
      std::memset(t.mem().ram() + kDst, 0, 16384);
      c.gpr[RCX] = count;
      c.gpr[RSI] = kSrc;
      c.gpr[RDI] = kDst;
      c.rip = kRip;
      Insn i = string_insn(Op::MOVS, size, pfx::kRep);
      run_to_completion(t, i);
      EXPECT_EQ(c.rip, kRip + 2);
      EXPECT_EQ(c.gpr[RCX], 0u);
      EXPECT_EQ(c.gpr[RSI], kSrc + count * size);
      EXPECT_EQ(c.gpr[RDI], kDst + count * size);
      EXPECT_EQ(std::memcmp(t.mem().ram() + kSrc, t.mem().ram() + kDst, count * size), 0);
      EXPECT_EQ(t.read<uint8_t>(kDst + count * size), 0);
    }
  }
}

TEST(StringRep, F2OnMovsStosLodsIsPlainRep) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RCX] = 10;
  c.gpr[RDI] = kDst;
  c.gpr[RAX] = 0xab;
  set_arith_flags(c, rf::ZF);  // REPNE semantics would stop after one element
  Insn i = string_insn(Op::STOS, 1, pfx::kRepne);
  run_to_completion(t, i);
  EXPECT_EQ(c.gpr[RCX], 0u);
  EXPECT_EQ(t.read<uint8_t>(kDst + 9), 0xab);
}

TEST(StringRep, OverlappingForwardMovsbReplicates) {
  TestCpu t;
  auto& c = t.cpu();
  const char pattern[] = "abc";
  std::memcpy(t.mem().ram() + kSrc, pattern, 3);
  // dst = src + 3: an element-wise forward copy repeats "abc" (LZ77-style).
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = kSrc + 3;
  c.gpr[RCX] = 27;
  Insn i = string_insn(Op::MOVS, 1, pfx::kRep);
  run_to_completion(t, i);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(t.mem().ram() + kSrc), 30),
            "abcabcabcabcabcabcabcabcabcabc");
  // Overlapping by less than an element: MOVSQ with dst = src + 3.
  for (unsigned k = 0; k < 64; ++k) t.write<uint8_t>(kDst + k, static_cast<uint8_t>(k));
  std::vector<uint8_t> ref(t.mem().ram() + kDst, t.mem().ram() + kDst + 64);
  for (unsigned e = 0; e < 4; ++e) std::memmove(&ref[3 + 8 * e], &ref[8 * e], 8);
  c.gpr[RSI] = kDst;
  c.gpr[RDI] = kDst + 3;
  c.gpr[RCX] = 4;
  c.rip = kRip;
  Insn q = string_insn(Op::MOVS, 8, pfx::kRep);
  run_to_completion(t, q);
  EXPECT_EQ(std::memcmp(ref.data(), t.mem().ram() + kDst, 64), 0);
}

TEST(StringRep, OverlappingBackwardMovsb) {
  TestCpu t;
  auto& c = t.cpu();
  std::memcpy(t.mem().ram() + kSrc, "0123456789", 10);
  // DF = 1, copying the 8 bytes "01234567" up by two, highest first (memmove semantics).
  c.rflags = rf::FIXED1 | rf::DF;
  c.gpr[RSI] = kSrc + 7;
  c.gpr[RDI] = kSrc + 9;
  c.gpr[RCX] = 8;
  Insn i = string_insn(Op::MOVS, 1, pfx::kRep);
  run_to_completion(t, i);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(t.mem().ram() + kSrc), 10), "0101234567");
  EXPECT_EQ(c.gpr[RSI], kSrc - 1);
  EXPECT_EQ(c.gpr[RDI], kSrc + 1);
  // DF = 1 with the destination below: replicates downwards element by element.
  std::memcpy(t.mem().ram() + kSrc, "0123456789", 10);
  c.gpr[RSI] = kSrc + 9;
  c.gpr[RDI] = kSrc + 8;
  c.gpr[RCX] = 5;
  c.rip = kRip;
  run_to_completion(t, i);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(t.mem().ram() + kSrc), 10), "0123999999");
}

TEST(StringRep, RepeCmpsStopsAtFirstDifference) {
  TestCpu t;
  auto& c = t.cpu();
  std::memcpy(t.mem().ram() + kSrc, "hello world", 11);
  std::memcpy(t.mem().ram() + kDst, "hello there", 11);
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = 11;
  c.rip = kRip;
  Insn i = string_insn(Op::CMPS, 1, pfx::kRep);
  run_to_completion(t, i);
  // Stops after comparing 'w' with 't' (the 7th element).
  EXPECT_EQ(c.gpr[RCX], 4u);
  EXPECT_EQ(c.gpr[RSI], kSrc + 7);
  EXPECT_EQ(c.gpr[RDI], kDst + 7);
  EXPECT_FALSE(status_flags(c) & rf::ZF);
  EXPECT_EQ(c.rip, kRip + 2);
  // 'w' (0x77) > 't' (0x74): no borrow.
  EXPECT_FALSE(status_flags(c) & rf::CF);
  // All equal: runs out with ZF = 1.
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = 6;
  c.rip = kRip;
  run_to_completion(t, i);
  EXPECT_EQ(c.gpr[RCX], 0u);
  EXPECT_TRUE(status_flags(c) & rf::ZF);
}

TEST(StringRep, RepneScasFindsByte) {
  TestCpu t;
  auto& c = t.cpu();
  std::memcpy(t.mem().ram() + kDst, "abcdef\0gh", 9);
  c.gpr[RAX] = 0xffffff00;  // AL = 0
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = ~uint64_t{0};  // strlen idiom
  Insn i = string_insn(Op::SCAS, 1, pfx::kRepne);
  run_to_completion(t, i);
  EXPECT_EQ(c.gpr[RDI], kDst + 7);
  EXPECT_EQ(~c.gpr[RCX] - 1, 6u);  // the length
  EXPECT_TRUE(status_flags(c) & rf::ZF);
  // Not found: the count runs out, ZF = 0.
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = 5;
  c.rip = kRip;
  run_to_completion(t, i);
  EXPECT_EQ(c.gpr[RCX], 0u);
  EXPECT_EQ(c.gpr[RDI], kDst + 5);
  EXPECT_FALSE(status_flags(c) & rf::ZF);
  // REPE SCASW: skip equal words.
  for (unsigned k = 0; k < 4; ++k) t.write<uint16_t>(kDst + 2 * k, k < 3 ? 0x4141 : 0x4142);
  c.gpr[RAX] = 0x4141;
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = 100;
  c.rip = kRip;
  Insn e = string_insn(Op::SCAS, 2, pfx::kRep);
  run_to_completion(t, e);
  EXPECT_EQ(c.gpr[RCX], 96u);
  EXPECT_EQ(c.gpr[RDI], kDst + 8);
}

TEST(StringRep, LodsLeavesLastElement) {
  TestCpu t;
  auto& c = t.cpu();
  for (unsigned k = 0; k < 5; ++k) t.write<uint32_t>(kSrc + 4 * k, 100 + k);
  c.gpr[RSI] = kSrc;
  c.gpr[RCX] = 5;
  c.gpr[RAX] = ~uint64_t{0};
  Insn i = string_insn(Op::LODS, 4, pfx::kRep);
  run_to_completion(t, i);
  EXPECT_EQ(c.gpr[RAX], 104u);
  EXPECT_EQ(c.gpr[RSI], kSrc + 20);
}

TEST(StringRep, StosAllSizesAndBackward) {
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    for (bool down : {false, true}) {
      TestCpu t;
      auto& c = t.cpu();
      const uint64_t count = 3000;
      const uint64_t start = down ? kDst + (count - 1) * size : kDst;
      c.gpr[RDI] = start;
      c.gpr[RCX] = count;
      c.gpr[RAX] = 0xa1b2c3d4e5f60718ull;
      c.rflags = rf::FIXED1 | (down ? rf::DF : 0);
      Insn i = string_insn(Op::STOS, size, pfx::kRep);
      run_to_completion(t, i);
      for (uint64_t k = 0; k < count * size; k += size) {
        uint64_t v = 0;
        std::memcpy(&v, t.mem().ram() + kDst + k, size);
        ASSERT_EQ(v, 0xa1b2c3d4e5f60718ull & size_mask(size)) << size << " " << k;
      }
      EXPECT_EQ(t.read<uint8_t>(kDst + count * size), 0);
      EXPECT_EQ(t.read<uint8_t>(kDst - 1), 0);
      EXPECT_EQ(c.gpr[RDI], down ? kDst - size : kDst + count * size);
    }
  }
}

// ---------------------------------------------------------------- faults mid-REP

TEST(StringRepFault, SourceFaultLeavesRegistersAfterLastElement) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(kSrc + 0x1000);
  for (unsigned k = 0; k < 0x1000; ++k) t.write<uint8_t>(kSrc + k, static_cast<uint8_t>(k));
  c.gpr[RSI] = kSrc + 0xff0;
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = 100;
  c.rip = kRip;
  Insn i = string_insn(Op::MOVS, 4, pfx::kRep);
  Outcome o;
  run_to_completion(t, i, &o);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  // Four doublewords fit before the unmapped page.
  EXPECT_EQ(c.gpr[RCX], 96u);
  EXPECT_EQ(c.gpr[RSI], kSrc + 0x1000);
  EXPECT_EQ(c.gpr[RDI], kDst + 16);
  EXPECT_EQ(c.rip, kRip);
  EXPECT_EQ(std::memcmp(t.mem().ram() + kSrc + 0xff0, t.mem().ram() + kDst, 16), 0);
  EXPECT_EQ(t.read<uint32_t>(kDst + 16), 0u);
}

TEST(StringRepFault, DestinationFaultAndPageCrossingElement) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.readonly(kDst + 0x1000);
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = kDst + 0xff4;  // the second quadword straddles into the read-only page
  c.gpr[RCX] = 10;
  t.write<uint64_t>(kSrc, 0x1111);
  t.write<uint64_t>(kSrc + 8, 0x2222);
  c.rip = kRip;
  Insn i = string_insn(Op::MOVS, 8, pfx::kRep);
  Outcome o;
  run_to_completion(t, i, &o);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(o.error_code, 3u);
  EXPECT_EQ(c.gpr[RCX], 9u);
  EXPECT_EQ(c.gpr[RDI], kDst + 0xffc);
  EXPECT_EQ(c.gpr[RSI], kSrc + 8);
  EXPECT_EQ(t.read<uint64_t>(kDst + 0xff4), 0x1111u);
  EXPECT_EQ(t.read<uint32_t>(kDst + 0xffc), 0u);  // nothing of the straddling element landed
  EXPECT_EQ(c.rip, kRip);
}

TEST(StringRepFault, CompareFaultKeepsPreviousFlags) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(kDst + 0x1000);
  std::memset(t.mem().ram() + kSrc, 'x', 0x2000);
  std::memset(t.mem().ram() + kDst, 'x', 0x1000);
  c.gpr[RSI] = kSrc + 0xffe;
  c.gpr[RDI] = kDst + 0xffe;
  c.gpr[RCX] = 10;
  set_arith_flags(c, rf::CF);
  Insn i = string_insn(Op::CMPS, 1, pfx::kRep);
  Outcome o;
  run_to_completion(t, i, &o);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(c.gpr[RCX], 8u);
  EXPECT_EQ(status_flags(c), rf::ZF | rf::PF);  // from the second (equal) comparison
}

// ---------------------------------------------------------------- chunking

TEST(StringRepChunk, LongMovsResumesFromRegisters) {
  TestCpu t;
  auto& c = t.cpu();
  const uint64_t count = 100000;
  for (uint64_t k = 0; k < count; ++k) t.write<uint8_t>(kSrc + k, static_cast<uint8_t>(k * 13 + 1));
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = 0x400000;
  c.gpr[RCX] = count;
  c.rip = kRip;
  Insn i = string_insn(Op::MOVS, 1, pfx::kRep);
  ASSERT_FALSE(t.run(i).faulted);
  // First chunk: not finished, RIP unchanged, registers consistent.
  EXPECT_EQ(c.rip, kRip);
  const uint64_t done = count - c.gpr[RCX];
  EXPECT_GT(done, 0u);
  EXPECT_LT(done, count);
  EXPECT_EQ(c.gpr[RSI], kSrc + done);
  EXPECT_EQ(c.gpr[RDI], 0x400000 + done);
  EXPECT_EQ(std::memcmp(t.mem().ram() + kSrc, t.mem().ram() + 0x400000, done), 0);
  EXPECT_EQ(t.read<uint8_t>(0x400000 + done), 0);
  const unsigned calls = run_to_completion(t, i) + 1;
  EXPECT_GE(calls, 3u);
  EXPECT_EQ(c.rip, kRip + 2);
  EXPECT_EQ(c.gpr[RCX], 0u);
  EXPECT_EQ(std::memcmp(t.mem().ram() + kSrc, t.mem().ram() + 0x400000, count), 0);
}

TEST(StringRepChunk, LongRepeCmpsResumes) {
  TestCpu t;
  auto& c = t.cpu();
  std::memset(t.mem().ram() + kSrc, 7, 50000);
  std::memset(t.mem().ram() + 0x400000, 7, 50000);
  t.write<uint8_t>(0x400000 + 40000, 8);
  c.gpr[RSI] = kSrc;
  c.gpr[RDI] = 0x400000;
  c.gpr[RCX] = 50000;
  c.rip = kRip;
  Insn i = string_insn(Op::CMPS, 1, pfx::kRep);
  t.run(i);
  EXPECT_EQ(c.rip, kRip);
  EXPECT_TRUE(status_flags(c) & rf::ZF);
  run_to_completion(t, i);
  EXPECT_EQ(c.rip, kRip + 2);
  EXPECT_EQ(c.gpr[RCX], 50000u - 40001);
  EXPECT_FALSE(status_flags(c) & rf::ZF);
}

TEST(StringRepChunk, ExitRequestEndsTheChunkEarly) {
  TestCpu t;
  auto& c = t.cpu();
  c.exit_request = kExitRequested;
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = 10000;
  c.rip = kRip;
  Insn i = string_insn(Op::STOS, 1, pfx::kRep);
  t.run(i);
  EXPECT_EQ(c.rip, kRip);
  EXPECT_LT(c.gpr[RCX], 10000u);         // progress is always made
  EXPECT_GE(c.gpr[RCX], 10000u - 4096);  // at most one page
  c.exit_request = 0;
  run_to_completion(t, i);
  EXPECT_EQ(c.gpr[RCX], 0u);
}

// ---------------------------------------------------------------- memory kinds

TEST(StringRepMemory, MmioTakesTheElementPath) {
  TestCpu t;
  auto& c = t.cpu();
  std::vector<std::pair<uint64_t, uint64_t>> writes;
  uint64_t reads = 0;
  constexpr uint64_t kMmio = 0x2000000;
  t.mem().add_mmio(
      kMmio, 0x1000,
      MmioHandler{[&](uint64_t off, unsigned) { return 0x40 + (reads++) + off * 0; },
                  [&](uint64_t off, unsigned, uint64_t v) { writes.emplace_back(off, v); }},
      "test");
  c.gpr[RDI] = kMmio;
  c.gpr[RCX] = 4;
  c.gpr[RAX] = 0x12345678;
  Insn s = string_insn(Op::STOS, 4, pfx::kRep);
  run_to_completion(t, s);
  ASSERT_EQ(writes.size(), 4u);
  for (unsigned k = 0; k < 4; ++k) {
    EXPECT_EQ(writes[k].first, 4u * k);
    EXPECT_EQ(writes[k].second, 0x12345678u);
  }
  // REP MOVSB from MMIO reads each element once, in order.
  c.gpr[RSI] = kMmio;
  c.gpr[RDI] = kDst;
  c.gpr[RCX] = 3;
  c.rip = kRip;
  Insn m = string_insn(Op::MOVS, 1, pfx::kRep);
  run_to_completion(t, m);
  EXPECT_EQ(reads, 3u);
  EXPECT_EQ(t.read<uint8_t>(kDst), 0x40);
  EXPECT_EQ(t.read<uint8_t>(kDst + 2), 0x42);
}

TEST(StringRepMemory, CodePageWritesReachTheSmcHook) {
  TestCpu t;
  auto& c = t.cpu();
  std::vector<uint64_t> hits;
  t.mem().on_code_write = [&](uint64_t page) { hits.push_back(page); };
  t.mem().mark_code_page(kDst);
  tlb_flush_all(c);
  c.gpr[RDI] = kDst + 0x10;
  c.gpr[RCX] = 64;
  c.gpr[RAX] = 0x90;
  Insn s = string_insn(Op::STOS, 1, pfx::kRep);
  run_to_completion(t, s);
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0], kDst);
  EXPECT_EQ(t.read<uint8_t>(kDst + 0x10), 0x90);
  EXPECT_EQ(t.read<uint8_t>(kDst + 0x10 + 63), 0x90);
}

TEST(StringRepMemory, ConflictingTlbSlotsStayFast) {
  // Source and destination pages 4 MiB apart share a fast-TLB slot; the copy must not fall back
  // to translating every element.
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  const uint64_t src = 0x200000, dst = src + (uint64_t{kTlbSize} << kPageShift);
  for (unsigned k = 0; k < 0x4000; ++k) t.write<uint8_t>(src + k, static_cast<uint8_t>(k ^ 0x3c));
  c.gpr[RSI] = src;
  c.gpr[RDI] = dst;
  c.gpr[RCX] = 0x4000 / 8;
  Insn i = string_insn(Op::MOVS, 8, pfx::kRep);
  run_to_completion(t, i);
  EXPECT_EQ(std::memcmp(t.mem().ram() + src, t.mem().ram() + dst, 0x4000), 0);
  EXPECT_LE(p.translator().translations, 16u);
}

// ---------------------------------------------------------------- differential

// Reference: the same instruction without a REP prefix, run once per element with the SDM's
// termination rules applied by hand.
void reference_rep(TestCpu& t, const Insn& rep) {
  auto& c = t.cpu();
  Insn e = rep;
  e.prefixes = 0;
  const uint64_t mask = size_mask(rep.addr_size);
  const uint64_t start = c.rip;
  const bool compares = rep.op == Op::CMPS || rep.op == Op::SCAS;
  while ((c.gpr[RCX] & mask) != 0) {
    c.rip = start;
    ASSERT_FALSE(t.run(e).faulted);
    const uint64_t count = ((c.gpr[RCX] & mask) - 1) & mask;
    c.gpr[RCX] = rep.addr_size == 2 ? (c.gpr[RCX] & ~mask) | count : count;
    if (compares && (rep.prefixes & pfx::kRep) && !(status_flags(c) & rf::ZF)) break;
    if (compares && (rep.prefixes & pfx::kRepne) && (status_flags(c) & rf::ZF)) break;
  }
  c.rip = rep.addr_size == 8 ? start + rep.len : (start + rep.len) & 0xffffffff;
}

TEST(StringRepDifferential, RandomCasesMatchElementLoop) {
  Rng rng(2024);
  const Op ops[] = {Op::MOVS, Op::MOVS, Op::MOVS, Op::STOS, Op::STOS, Op::CMPS, Op::SCAS, Op::LODS};
  constexpr uint64_t kWindow = 0x300000, kWindowSize = 0x30000;
  auto fast = std::make_unique<TestCpu>();
  auto slow = std::make_unique<TestCpu>();
  for (int n = 0; n < 400; ++n) {
    const Op op = ops[rng.next() % 8];
    const unsigned size = 1u << (rng.next() % 4);
    const unsigned addr_size = (n % 5 == 0) ? 2 : (n % 5 == 1) ? 4 : 8;
    const bool down = rng.next() % 4 == 0;
    uint8_t prefixes = pfx::kRep;
    if ((op == Op::CMPS || op == Op::SCAS) && rng.next() % 2) prefixes = pfx::kRepne;
    uint64_t count = rng.next() % 3000;
    if (rng.next() % 10 == 0) count = rng.next() % 40000;
    if (addr_size == 2) count = rng.next() % 0x3000;

    // Operands: in a 0x30000-byte window, overlapping often. 16-bit addressing runs in legacy
    // mode with DS/ES bases pointing into the window and wraps at 64 KiB.
    uint64_t si, di;
    if (addr_size == 2) {
      si = rng.next() & 0xffff;
      di = (rng.next() % 3 == 0) ? ((si + rng.next() % 64) & 0xffff) : rng.next() & 0xffff;
    } else {
      si = 0x8000 + rng.next() % 0x18000;
      di = (rng.next() % 3 == 0) ? si + (rng.next() % 64) - 32 : 0x8000 + rng.next() % 0x18000;
      si += kWindow;
      di += kWindow;
    }
    const uint64_t rax = rng.next();
    // Memory content: mostly equal runs so REPE/REPNE run a while.
    std::vector<uint8_t> content(kWindowSize);
    const uint8_t fill = static_cast<uint8_t>(rng.next());
    for (auto& b : content) b = rng.next() % 50 == 0 ? static_cast<uint8_t>(rng.next()) : fill;
    const uint64_t flags = rng.next() & rf::ARITH;

    for (TestCpu* cpu : {fast.get(), slow.get()}) {
      auto& c = cpu->cpu();
      std::memcpy(cpu->mem().ram() + kWindow, content.data(), kWindowSize);
      std::memset(&c.gpr, 0, sizeof(c.gpr));
      c.mode64 = 1;
      c.stack32 = 0;
      c.seg[DS].base = c.seg[ES].base = 0;
      if (addr_size == 2) {
        enter_legacy(c, false, false);
        // Bases off page boundaries, so the 64 KiB index wrap falls inside a page.
        c.seg[DS].base = kWindow + 0x123;
        c.seg[ES].base = kWindow + 0x10456;
      }
      c.gpr[RSI] = si | 0xabcd000000000000ull;  // upper bits: kept (16-bit) or cleared (32-bit)
      c.gpr[RDI] = di | 0x1234000000000000ull;
      if (addr_size == 8) {
        c.gpr[RSI] = si;
        c.gpr[RDI] = di;
      }
      c.gpr[RCX] = count | (addr_size == 8 ? 0 : 0x5555000000000000ull);
      c.gpr[RAX] = rax;
      c.rflags = rf::FIXED1 | (down ? rf::DF : 0);
      set_arith_flags(c, flags);
      c.rip = kRip;
      tlb_flush_all(c);
    }
    Insn i = string_insn(op, size, prefixes, addr_size);
    run_to_completion(*fast, i);
    reference_rep(*slow, i);

    auto& a = fast->cpu();
    auto& b = slow->cpu();
    SCOPED_TRACE(testing::Message()
                 << "case " << n << " op " << static_cast<int>(op) << " size " << size << " addr "
                 << addr_size << " down " << down << " count " << count << std::hex << " si " << si
                 << " di " << di);
    ASSERT_EQ(a.rip, b.rip);
    for (unsigned r = 0; r < 16; ++r) ASSERT_EQ(a.gpr[r], b.gpr[r]) << "gpr " << r;
    ASSERT_EQ(arith_flags(a), arith_flags(b));
    ASSERT_EQ(std::memcmp(fast->mem().ram() + kWindow, slow->mem().ram() + kWindow, kWindowSize),
              0);
  }
}

}  // namespace
}  // namespace umbra::test
