// Data-movement semantics: MOV, MOVZX/MOVSX/MOVSXD, LEA, XCHG, XADD, CMPXCHG, CMPXCHG8B/16B,
// BSWAP, CBW/CWD, XLAT, LAHF/SAHF, SETcc, CMOVcc, NOP, MOVBE. Where the host can serve as an
// oracle (register forms), random operands are run through both the host instruction (inline
// asm) and the handler, comparing full 64-bit registers and the status flags.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "tests/unit/semb_test_util.h"
#include "tests/unit/test_cpu.h"

namespace umbra::test {
namespace {

constexpr uint64_t kData = 0x10000;
constexpr uint64_t kRip = 0x1000;

// Reads the host's status flags right after an instruction (the red zone is stepped over).
#define HOST_FLAGS(f) "lea -128(%%rsp), %%rsp; pushfq; popq %" #f "; lea 128(%%rsp), %%rsp"

// ---------------------------------------------------------------- MOV

TEST(DatamovMov, RegRegAllSizes) {
  TestCpu t;
  auto& c = t.cpu();
  const uint64_t src = 0x8877665544332211ull, dst = 0xffeeddccbbaa9988ull;
  struct Case {
    unsigned size;
    uint64_t expect;
  } cases[] = {{1, 0xffeeddccbbaa9911ull},
               {2, 0xffeeddccbbaa2211ull},
               {4, 0x0000000044332211ull},
               {8, 0x8877665544332211ull}};
  for (const Case& k : cases) {
    c.gpr[RCX] = dst;
    c.gpr[RDX] = src;
    c.rip = kRip;
    Insn i = reg_reg(Op::MOV, k.size, RCX, RDX);
    ASSERT_FALSE(t.run(i).faulted);
    EXPECT_EQ(c.gpr[RCX], k.expect) << "size " << k.size;
    EXPECT_EQ(c.rip, kRip + 3);
  }
}

TEST(DatamovMov, HighByteRegisters) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RAX] = 0x1122;
  c.gpr[RBX] = 0xaabbccdd;
  Insn i = reg_reg(Op::MOV, 1, kRegAH + 3 /*BH*/, kRegAH /*AH*/);
  t.run(i);
  EXPECT_EQ(c.gpr[RBX], 0xaabb11ddu);
  Insn j = reg_reg(Op::MOV, 1, RAX /*AL*/, kRegAH + 3 /*BH*/);
  t.run(j);
  EXPECT_EQ(c.gpr[RAX], 0x1111u);
}

TEST(DatamovMov, MemoryAndImmediateForms) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RBX] = kData;
  c.gpr[RAX] = 0x1122334455667788ull;
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    t.write<uint64_t>(kData + 8, 0xa5a5a5a5a5a5a5a5ull);
    Insn st = mem_reg(Op::MOV, size, RBX, 8, RAX);
    ASSERT_FALSE(t.run(st).faulted);
    const uint64_t mask = size_mask(size);
    EXPECT_EQ(t.read<uint64_t>(kData + 8), (0xa5a5a5a5a5a5a5a5ull & ~mask) | (c.gpr[RAX] & mask));

    c.gpr[RDX] = ~uint64_t{0};
    Insn ld = reg_mem(Op::MOV, size, RDX, RBX, 8);
    t.run(ld);
    const uint64_t keep = size == 4 ? 0 : (~uint64_t{0} & ~mask);
    EXPECT_EQ(c.gpr[RDX], keep | (c.gpr[RAX] & mask)) << size;

    Insn mi = make_insn(Op::MOV, size);
    mi.dst = mem_operand();
    mi.src = imm_operand();
    set_mem(mi, RBX, 16);
    mi.imm = 0xfffffffffffffff0ull;  // sign-extended imm
    t.write<uint64_t>(kData + 16, 0);
    t.run(mi);
    EXPECT_EQ(t.read<uint64_t>(kData + 16), 0xfffffffffffffff0ull & mask);
  }
  // MOV r, imm for every size: 8/16-bit keep the rest of the register, 32-bit zero-extends.
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    Insn ri = make_insn(Op::MOV, size, 5);
    ri.dst = reg_operand(RDI);
    ri.src = imm_operand();
    ri.imm = 0x8badf00ddeadbeefull;
    c.gpr[RDI] = 0x1111111111111111ull;
    t.run(ri);
    const uint64_t m = size_mask(size);
    const uint64_t keep = size == 4 ? 0 : 0x1111111111111111ull & ~m;
    EXPECT_EQ(c.gpr[RDI], keep | (0x8badf00ddeadbeefull & m)) << size;
  }
  // MOV r64, imm64 keeps the full value.
  Insn ri = make_insn(Op::MOV, 8, 10);
  ri.dst = reg_operand(R9);
  ri.src = imm_operand();
  ri.imm = 0x123456789abcdef0ull;
  c.rip = kRip;
  t.run(ri);
  EXPECT_EQ(c.gpr[R9], 0x123456789abcdef0ull);
  EXPECT_EQ(c.rip, kRip + 10);
}

TEST(DatamovMov, MoffsAbsoluteAddressWithSegmentBase) {
  TestCpu t;
  auto& c = t.cpu();
  c.seg[FS].base = 0x2000;
  t.write<uint32_t>(0x2000 + 0x345, 0xdeadbeef);
  Insn i = make_insn(Op::MOV, 4, 7);
  i.dst = reg_operand(RAX);
  i.src = mem_operand();
  i.disp = 0x345;  // base = index = kNoReg
  i.seg = FS;
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 0xdeadbeefu);
}

TEST(DatamovMov, FaultingLoadLeavesStateIntact) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x50000);
  c.gpr[RBX] = 0x50000;
  c.gpr[RAX] = 42;
  c.rip = kRip;
  Insn i = reg_mem(Op::MOV, 8, RAX, RBX, 0);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(c.gpr[RAX], 42u);
  EXPECT_EQ(c.rip, kRip);
}

// ---------------------------------------------------------------- MOVZX / MOVSX / MOVSXD

// Host MOVZX/MOVSX/MOVSXD on full registers.
template <unsigned Dst, unsigned Src, bool Signed>
uint64_t host_movx(uint64_t dst, uint64_t src) {
  if constexpr (Signed) {
    if constexpr (Dst == 2 && Src == 1) asm("movsbw %b1, %w0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 4 && Src == 1) asm("movsbl %b1, %k0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 8 && Src == 1) asm("movsbq %b1, %q0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 4 && Src == 2) asm("movswl %w1, %k0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 8 && Src == 2) asm("movswq %w1, %q0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 8 && Src == 4) asm("movslq %k1, %q0" : "+r"(dst) : "r"(src));
  } else {
    if constexpr (Dst == 2 && Src == 1) asm("movzbw %b1, %w0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 4 && Src == 1) asm("movzbl %b1, %k0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 8 && Src == 1) asm("movzbq %b1, %q0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 4 && Src == 2) asm("movzwl %w1, %k0" : "+r"(dst) : "r"(src));
    if constexpr (Dst == 8 && Src == 2) asm("movzwq %w1, %q0" : "+r"(dst) : "r"(src));
  }
  return dst;
}

template <unsigned Dst, unsigned Src, bool Signed>
void check_movx_against_host(Op op) {
  TestCpu t;
  auto& c = t.cpu();
  Rng rng(Dst * 100 + Src * 10 + Signed);
  for (int n = 0; n < 200; ++n) {
    const uint64_t dst = rng.edgy(), src = rng.edgy();
    const uint64_t expect = host_movx<Dst, Src, Signed>(dst, src);
    // Register source.
    c.gpr[RSI] = dst;
    c.gpr[RDI] = src;
    Insn i = reg_reg(op, Dst, RSI, RDI);
    i.src_size = Src;
    ASSERT_FALSE(t.run(i).faulted);
    ASSERT_EQ(c.gpr[RSI], expect) << "reg " << Dst << "<-" << Src << " src=" << std::hex << src;
    // Memory source.
    t.write<uint64_t>(kData, src);
    c.gpr[RSI] = dst;
    c.gpr[RBX] = kData;
    Insn m = reg_mem(op, Dst, RSI, RBX, 0);
    m.src_size = Src;
    ASSERT_FALSE(t.run(m).faulted);
    ASSERT_EQ(c.gpr[RSI], expect) << "mem " << Dst << "<-" << Src;
  }
}

TEST(DatamovMovx, ZeroExtendMatchesHost) {
  check_movx_against_host<2, 1, false>(Op::MOVZX);
  check_movx_against_host<4, 1, false>(Op::MOVZX);
  check_movx_against_host<8, 1, false>(Op::MOVZX);
  check_movx_against_host<4, 2, false>(Op::MOVZX);
  check_movx_against_host<8, 2, false>(Op::MOVZX);
}

TEST(DatamovMovx, SignExtendMatchesHost) {
  check_movx_against_host<2, 1, true>(Op::MOVSX);
  check_movx_against_host<4, 1, true>(Op::MOVSX);
  check_movx_against_host<8, 1, true>(Op::MOVSX);
  check_movx_against_host<4, 2, true>(Op::MOVSX);
  check_movx_against_host<8, 2, true>(Op::MOVSX);
}

TEST(DatamovMovx, HighByteSourceAndSameSizeForm) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RCX] = 0x80ff;  // CH = 0x80
  c.gpr[RDX] = ~uint64_t{0};
  Insn i = reg_reg(Op::MOVSX, 4, RDX, kRegAH + 1 /*CH*/);
  i.src_size = 1;
  t.run(i);
  EXPECT_EQ(c.gpr[RDX], 0xffffff80u);
  // MOVZX r16, r/m16 (src_size == opsize) is a plain 16-bit move.
  c.gpr[RDX] = 0x1111111111111111ull;
  c.gpr[RCX] = 0xabcd;
  Insn j = reg_reg(Op::MOVZX, 2, RDX, RCX);
  j.src_size = 2;
  t.run(j);
  EXPECT_EQ(c.gpr[RDX], 0x111111111111abcdull);
}

TEST(DatamovMovsxd, AllOperandSizes) {
  check_movx_against_host<8, 4, true>(Op::MOVSXD);
  TestCpu t;
  auto& c = t.cpu();
  // Without REX.W: host-observed plain moves (111111112222dddd, 00000000ccccdddd).
  c.gpr[RAX] = 0x1111111122222222ull;
  c.gpr[RCX] = 0xaaaabbbbccccddddull;
  Insn w = reg_reg(Op::MOVSXD, 2, RAX, RCX);
  w.src_size = 4;
  t.run(w);
  EXPECT_EQ(c.gpr[RAX], 0x111111112222ddddull);
  c.gpr[RAX] = 0x1111111122222222ull;
  Insn d = reg_reg(Op::MOVSXD, 4, RAX, RCX);
  d.src_size = 4;
  t.run(d);
  EXPECT_EQ(c.gpr[RAX], 0xccccddddull);
}

TEST(DatamovMovsxd, SixteenBitFormReadsADoubleword) {
  // Host (AMD): movsxd ax, [rsi] with rsi two bytes below an unmapped page faults.
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x51000);
  c.gpr[RSI] = 0x51000 - 2;
  c.gpr[RAX] = 7;
  Insn i = reg_mem(Op::MOVSXD, 2, RAX, RSI, 0);
  i.src_size = 4;
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(c.gpr[RAX], 7u);
}

// ---------------------------------------------------------------- LEA

TEST(DatamovLea, AddressAndOperandSizes) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RBX] = 0xfffffffffffffff0ull;
  c.gpr[RSI] = 0x20;
  c.gpr[RDI] = 0x5555555555555555ull;
  Insn i = make_insn(Op::LEA, 8);
  i.dst = reg_operand(RDI);
  i.src = mem_operand();
  i.base = RBX;
  i.index = RSI;
  i.scale = 2;
  i.disp = 4;
  t.run(i);
  EXPECT_EQ(c.gpr[RDI], 0x74u);  // -0x10 + 0x80 + 4
  // 32-bit address size wraps to 32 bits, then zero-extends into a 64-bit destination.
  i.addr_size = 4;
  c.gpr[RBX] = 0xfffffff0;
  c.gpr[RSI] = 0;
  i.disp = 0x20;
  t.run(i);
  EXPECT_EQ(c.gpr[RDI], 0x10u);
  // 16-bit operand size truncates and keeps the rest of the register.
  Insn w = i;
  w.addr_size = 8;
  w.opsize = 2;
  c.gpr[RDI] = 0x5555555555555555ull;
  c.gpr[RBX] = 0x123456789;
  w.disp = 0;
  t.run(w);
  EXPECT_EQ(c.gpr[RDI], 0x5555555555556789ull);
  // 32-bit operand size from a 64-bit address zero-extends.
  Insn d = w;
  d.opsize = 4;
  t.run(d);
  EXPECT_EQ(c.gpr[RDI], 0x23456789u);
}

TEST(DatamovLea, RipRelativeDoesNotTouchMemory) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x100000);
  c.rip = 0x100000 - 7;
  Insn i = make_insn(Op::LEA, 8, 7);
  i.dst = reg_operand(RAX);
  i.src = mem_operand();
  i.base = kRipReg;
  i.disp = 0x10;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.gpr[RAX], 0x100010u);
  EXPECT_EQ(c.rip, 0x100000u);
}

// ---------------------------------------------------------------- XCHG

TEST(DatamovXchg, RegisterAndMemoryForms) {
  TestCpu t;
  auto& c = t.cpu();
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    const uint64_t a = 0x1111111111111111ull * 3, b = 0x0123456789abcdefull;
    c.gpr[R8] = a;
    c.gpr[R9] = b;
    Insn rr = reg_reg(Op::XCHG, size, R8, R9);
    t.run(rr);
    const uint64_t m = size_mask(size);
    const uint64_t hi_a = size == 4 ? 0 : a & ~m, hi_b = size == 4 ? 0 : b & ~m;
    EXPECT_EQ(c.gpr[R8], hi_a | (b & m)) << size;
    EXPECT_EQ(c.gpr[R9], hi_b | (a & m)) << size;

    c.gpr[RBX] = kData;
    c.gpr[R9] = b;
    t.write<uint64_t>(kData, a);
    Insn mr = mem_reg(Op::XCHG, size, RBX, 0, R9);
    t.run(mr);
    EXPECT_EQ(t.read<uint64_t>(kData), (a & ~m) | (b & m));
    EXPECT_EQ(c.gpr[R9], hi_b | (a & m));

    // The decoder might also give the memory operand second.
    t.write<uint64_t>(kData, a);
    c.gpr[R9] = b;
    Insn rm = reg_mem(Op::XCHG, size, R9, RBX, 0);
    t.run(rm);
    EXPECT_EQ(t.read<uint64_t>(kData), (a & ~m) | (b & m));
    EXPECT_EQ(c.gpr[R9], hi_b | (a & m));
  }
}

TEST(DatamovXchg, SameRegisterAndHighBytes) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RAX] = 0xffffffff12345678ull;
  Insn same = reg_reg(Op::XCHG, 4, RAX, RAX);  // 87 C0: zero-extends
  t.run(same);
  EXPECT_EQ(c.gpr[RAX], 0x12345678u);
  c.gpr[RAX] = 0xaabb;
  Insn hl = reg_reg(Op::XCHG, 1, RAX, kRegAH);
  t.run(hl);
  EXPECT_EQ(c.gpr[RAX], 0xbbaau);
}

TEST(DatamovXchg, ReadOnlyMemoryFaultsBeforeAnyChange) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.readonly(kData);
  t.write<uint32_t>(kData, 5);
  c.gpr[RBX] = kData;
  c.gpr[RCX] = 9;
  Insn i = mem_reg(Op::XCHG, 4, RBX, 0, RCX);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(o.error_code, 3u);  // present, write
  EXPECT_EQ(c.gpr[RCX], 9u);
  EXPECT_EQ(t.read<uint32_t>(kData), 5u);
}

// ---------------------------------------------------------------- XADD

template <unsigned N>
uint64_t host_xadd(uint64_t& dst, uint64_t& src) {
  uint64_t f;
  if constexpr (N == 1) asm("xaddb %b1, %b0; " HOST_FLAGS(2) : "+r"(dst), "+r"(src), "=r"(f)::"cc");
  if constexpr (N == 2) asm("xaddw %w1, %w0; " HOST_FLAGS(2) : "+r"(dst), "+r"(src), "=r"(f)::"cc");
  if constexpr (N == 4) asm("xaddl %k1, %k0; " HOST_FLAGS(2) : "+r"(dst), "+r"(src), "=r"(f)::"cc");
  if constexpr (N == 8) asm("xaddq %q1, %q0; " HOST_FLAGS(2) : "+r"(dst), "+r"(src), "=r"(f)::"cc");
  return f & rf::ARITH;
}

template <unsigned N>
void check_xadd() {
  TestCpu t;
  auto& c = t.cpu();
  Rng rng(N + 7);
  for (int n = 0; n < 300; ++n) {
    uint64_t d = rng.edgy(), s = rng.edgy();
    const uint64_t d0 = d, s0 = s;
    const uint64_t f = host_xadd<N>(d, s);
    c.gpr[RDX] = d0;
    c.gpr[RSI] = s0;
    Insn i = reg_reg(Op::XADD, N, RDX, RSI);
    t.run(i);
    ASSERT_EQ(c.gpr[RDX], d) << N;
    ASSERT_EQ(c.gpr[RSI], s) << N;
    ASSERT_EQ(status_flags(c), f) << N << " " << std::hex << d0 << " " << s0;
    // Memory destination.
    t.write<uint64_t>(kData, d0);
    c.gpr[RSI] = s0;
    c.gpr[RBX] = kData;
    Insn m = mem_reg(Op::XADD, N, RBX, 0, RSI);
    t.run(m);
    ASSERT_EQ(t.read<uint64_t>(kData), (d0 & ~size_mask(N)) | (d & size_mask(N)));
    ASSERT_EQ(c.gpr[RSI], s);
    ASSERT_EQ(status_flags(c), f);
  }
}

TEST(DatamovXadd, MatchesHostAllSizes) {
  check_xadd<1>();
  check_xadd<2>();
  check_xadd<4>();
  check_xadd<8>();
}

TEST(DatamovXadd, SameRegisterLeavesTheSum) {
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RAX] = 5;
  Insn i = reg_reg(Op::XADD, 8, RAX, RAX);
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 10u);
}

// ---------------------------------------------------------------- CMPXCHG

template <unsigned N>
uint64_t host_cmpxchg(uint64_t& rax, uint64_t& dst, uint64_t src) {
  uint64_t f;
  if constexpr (N == 1)
    asm("cmpxchgb %b3, %b1; " HOST_FLAGS(2) : "+a"(rax), "+r"(dst), "=r"(f) : "r"(src) : "cc");
  if constexpr (N == 2)
    asm("cmpxchgw %w3, %w1; " HOST_FLAGS(2) : "+a"(rax), "+r"(dst), "=r"(f) : "r"(src) : "cc");
  if constexpr (N == 4)
    asm("cmpxchgl %k3, %k1; " HOST_FLAGS(2) : "+a"(rax), "+r"(dst), "=r"(f) : "r"(src) : "cc");
  if constexpr (N == 8)
    asm("cmpxchgq %q3, %q1; " HOST_FLAGS(2) : "+a"(rax), "+r"(dst), "=r"(f) : "r"(src) : "cc");
  return f & rf::ARITH;
}

template <unsigned N>
void check_cmpxchg() {
  TestCpu t;
  auto& c = t.cpu();
  Rng rng(N * 31);
  for (int n = 0; n < 300; ++n) {
    const uint64_t rax0 = rng.edgy(), src = rng.edgy();
    // Half the cases compare equal (in the operand size).
    const uint64_t dst0 =
        (n & 1) ? rng.edgy() : ((rng.next() & ~size_mask(N)) | (rax0 & size_mask(N)));
    uint64_t rax = rax0, dst = dst0;
    const uint64_t f = host_cmpxchg<N>(rax, dst, src);
    c.gpr[RAX] = rax0;
    c.gpr[RBX] = dst0;
    c.gpr[RCX] = src;
    Insn i = reg_reg(Op::CMPXCHG, N, RBX, RCX);
    t.run(i);
    ASSERT_EQ(c.gpr[RAX], rax) << N << " " << std::hex << rax0 << " " << dst0;
    ASSERT_EQ(c.gpr[RBX], dst) << N << " " << std::hex << rax0 << " " << dst0;
    ASSERT_EQ(status_flags(c), f);
    // Memory destination: the same, and memory holds what the register would.
    c.gpr[RAX] = rax0;
    c.gpr[RDX] = kData;
    t.write<uint64_t>(kData, dst0);
    Insn m = mem_reg(Op::CMPXCHG, N, RDX, 0, RCX);
    t.run(m);
    ASSERT_EQ(c.gpr[RAX], rax);
    ASSERT_EQ(t.read<uint64_t>(kData) & size_mask(N), dst & size_mask(N));
    ASSERT_EQ(status_flags(c), f);
  }
}

TEST(DatamovCmpxchg, MatchesHostAllSizes) {
  check_cmpxchg<1>();
  check_cmpxchg<2>();
  check_cmpxchg<4>();
  check_cmpxchg<8>();
}

TEST(DatamovCmpxchg, ThirtyTwoBitUpperHalves) {
  // Host-observed: success leaves RAX whole, failure leaves the register destination whole.
  TestCpu t;
  auto& c = t.cpu();
  c.gpr[RAX] = 0xffffffff00000005ull;
  c.gpr[RBX] = 0xffffffff00000005ull;
  c.gpr[RCX] = 0xeeeeeeee00000009ull;
  Insn i = reg_reg(Op::CMPXCHG, 4, RBX, RCX);
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 0xffffffff00000005ull);
  EXPECT_EQ(c.gpr[RBX], 9u);
  c.gpr[RBX] = 0xffffffff00000006ull;
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 6u);
  EXPECT_EQ(c.gpr[RBX], 0xffffffff00000006ull);
}

TEST(DatamovCmpxchg, FailingCompareStillWritesMemory) {
  // Host: cmpxchg on a read-only page faults even when the compare fails.
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.readonly(kData);
  t.write<uint32_t>(kData, 7);
  c.gpr[RAX] = 5;
  c.gpr[RBX] = kData;
  c.rip = kRip;
  Insn i = mem_reg(Op::CMPXCHG, 4, RBX, 0, RCX);
  c.lazy.op = kLazyNone;
  c.rflags = rf::FIXED1;
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(c.gpr[RAX], 5u);
  EXPECT_EQ(status_flags(c), 0u);
  EXPECT_EQ(c.rip, kRip);
}

// ---------------------------------------------------------------- CMPXCHG8B / 16B

Insn cmpxchg8b_insn(unsigned opsize, uint64_t addr) {
  Insn i = make_insn(Op::CMPXCHG8B, opsize);
  i.dst = mem_operand();
  i.disp = static_cast<int64_t>(addr);
  return i;
}

TEST(DatamovCmpxchg8b, SuccessAndFailureMatchHost) {
  TestCpu t;
  auto& c = t.cpu();
  // Host: success m=4444444433333333 with RAX/RDX untouched; failure loads zero-extended.
  t.write<uint64_t>(kData, 0x0000000200000001ull);
  c.gpr[RAX] = 0xffffffff00000001ull;
  c.gpr[RDX] = 0xffffffff00000002ull;
  c.gpr[RBX] = 0xaaaaaaaa33333333ull;
  c.gpr[RCX] = 0xbbbbbbbb44444444ull;
  c.rflags = rf::FIXED1 | rf::CF | rf::SF;
  c.lazy.op = kLazyNone;
  Insn i = cmpxchg8b_insn(8, kData);
  t.run(i);
  EXPECT_EQ(t.read<uint64_t>(kData), 0x4444444433333333ull);
  EXPECT_EQ(c.gpr[RAX], 0xffffffff00000001ull);
  EXPECT_EQ(c.gpr[RDX], 0xffffffff00000002ull);
  EXPECT_EQ(status_flags(c), rf::ZF | rf::CF | rf::SF);  // only ZF changes
  c.gpr[RAX] = 0xffffffff00000009ull;
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 0x33333333u);
  EXPECT_EQ(c.gpr[RDX], 0x44444444u);
  EXPECT_EQ(t.read<uint64_t>(kData), 0x4444444433333333ull);
  EXPECT_EQ(status_flags(c), rf::CF | rf::SF);
}

TEST(DatamovCmpxchg8b, PageCrossingOperandChecksBothPages) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.readonly(0x21000);
  t.write<uint64_t>(0x21000 - 4, 0x1234);
  c.gpr[RAX] = 0;  // compare fails: still a write of both halves
  c.gpr[RDX] = 0;
  Insn i = cmpxchg8b_insn(8, 0x21000 - 4);
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(c.gpr[RAX], 0u);
}

TEST(DatamovCmpxchg16b, SuccessFailureAndAlignment) {
  TestCpu t;
  auto& c = t.cpu();
  t.write<uint64_t>(kData, 1);
  t.write<uint64_t>(kData + 8, 2);
  c.gpr[RAX] = 1;
  c.gpr[RDX] = 2;
  c.gpr[RBX] = 0x1111222233334444ull;
  c.gpr[RCX] = 0x5555666677778888ull;
  Insn i = cmpxchg8b_insn(16, kData);
  t.run(i);
  EXPECT_EQ(t.read<uint64_t>(kData), 0x1111222233334444ull);
  EXPECT_EQ(t.read<uint64_t>(kData + 8), 0x5555666677778888ull);
  EXPECT_TRUE(status_flags(c) & rf::ZF);
  t.run(i);  // now RDX:RAX differs
  EXPECT_EQ(c.gpr[RAX], 0x1111222233334444ull);
  EXPECT_EQ(c.gpr[RDX], 0x5555666677778888ull);
  EXPECT_FALSE(status_flags(c) & rf::ZF);

  c.rip = kRip;
  Insn bad = cmpxchg8b_insn(16, kData + 8);
  Outcome o = t.run(bad);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kGP);
  EXPECT_EQ(o.error_code, 0u);
  EXPECT_EQ(c.rip, kRip);
}

// ---------------------------------------------------------------- BSWAP, MOVBE

TEST(DatamovBswap, AllSizesMatchHost) {
  TestCpu t;
  auto& c = t.cpu();
  Rng rng(99);
  for (int n = 0; n < 100; ++n) {
    const uint64_t v = rng.next();
    uint64_t h32 = v, h64 = v, h16 = v;
    asm("bswapl %k0" : "+r"(h32));
    asm("bswapq %q0" : "+r"(h64));
    asm(".byte 0x66, 0x0f, 0xc8" : "+a"(h16));  // bswap ax (undefined; host clears AX)
    for (auto [size, expect] : {std::pair{4u, h32}, std::pair{8u, h64}, std::pair{2u, h16}}) {
      c.gpr[RAX] = v;
      Insn i = make_insn(Op::BSWAP, size, 2);
      i.dst = reg_operand(RAX);
      t.run(i);
      ASSERT_EQ(c.gpr[RAX], expect) << size;
    }
  }
}

TEST(DatamovMovbe, LoadsAndStores) {
  TestCpu t;
  auto& c = t.cpu();
  t.write<uint64_t>(kData, 0x0102030405060708ull);
  c.gpr[RBX] = kData;
  // Host-observed: movbe ax keeps the upper bits; movbe eax zero-extends.
  c.gpr[RAX] = 0x1111111122222222ull;
  Insn w = reg_mem(Op::MOVBE, 2, RAX, RBX, 0);
  t.run(w);
  EXPECT_EQ(c.gpr[RAX], 0x1111111122220807ull);
  Insn d = reg_mem(Op::MOVBE, 4, RAX, RBX, 0);
  t.run(d);
  EXPECT_EQ(c.gpr[RAX], 0x08070605u);
  Insn q = reg_mem(Op::MOVBE, 8, RAX, RBX, 0);
  t.run(q);
  EXPECT_EQ(c.gpr[RAX], 0x0807060504030201ull);
  c.gpr[RCX] = 0xaabbccdd11223344ull;
  Insn s = mem_reg(Op::MOVBE, 4, RBX, 8, RCX);
  t.run(s);
  EXPECT_EQ(t.read<uint32_t>(kData + 8), 0x44332211u);
  Insn s2 = mem_reg(Op::MOVBE, 2, RBX, 8, RCX);
  t.run(s2);
  EXPECT_EQ(t.read<uint32_t>(kData + 8), 0x44334433u);
  Insn s8 = mem_reg(Op::MOVBE, 8, RBX, 16, RCX);
  t.run(s8);
  EXPECT_EQ(t.read<uint64_t>(kData + 16), 0x44332211ddccbbaaull);
}

// ---------------------------------------------------------------- CBW / CWD

TEST(DatamovCbwCwd, AllSizesMatchHost) {
  TestCpu t;
  auto& c = t.cpu();
  Rng rng(5);
  for (int n = 0; n < 200; ++n) {
    const uint64_t a = rng.edgy(), d = rng.edgy();
    uint64_t ha[3] = {a, a, a}, hd[3] = {d, d, d};
    asm("cbtw" : "+a"(ha[0]));
    asm("cwtl" : "+a"(ha[1]));
    asm("cltq" : "+a"(ha[2]));
    asm("cwtd" : "+a"(ha[0]), "+d"(hd[0]));
    asm("cltd" : "+a"(ha[1]), "+d"(hd[1]));
    asm("cqto" : "+a"(ha[2]), "+d"(hd[2]));
    const unsigned sizes[3] = {2, 4, 8};
    for (int k = 0; k < 3; ++k) {
      c.gpr[RAX] = a;
      c.gpr[RDX] = d;
      Insn cbw = make_insn(Op::CBW, sizes[k], 1);
      t.run(cbw);
      Insn cwd = make_insn(Op::CWD, sizes[k], 1);
      t.run(cwd);
      ASSERT_EQ(c.gpr[RAX], ha[k]) << sizes[k];
      ASSERT_EQ(c.gpr[RDX], hd[k]) << sizes[k];
    }
  }
}

// ---------------------------------------------------------------- XLAT

TEST(DatamovXlat, AddressSizesAndSegment) {
  TestCpu t;
  auto& c = t.cpu();
  for (int k = 0; k < 256; ++k) t.write<uint8_t>(kData + k, static_cast<uint8_t>(k ^ 0x5a));
  c.gpr[RBX] = kData;
  c.gpr[RAX] = 0xff03;
  Insn i = make_insn(Op::XLAT, 1, 1);
  t.run(i);
  EXPECT_EQ(c.gpr[RAX], 0xff59u);  // host: ff59
  // 16-bit address size: BX + AL wraps at 64 KiB.
  c.gpr[RBX] = 0x1234ffff;
  c.gpr[RAX] = 0x02;
  t.write<uint8_t>(0x1, 0x77);
  i.addr_size = 2;
  t.run(i);
  EXPECT_EQ(c.gpr[RAX] & 0xff, 0x77u);
  // 32-bit address size with an FS base (64-bit mode: FS has a base).
  c.seg[FS].base = 0x3000;
  c.gpr[RBX] = 0xffffffff00000010ull;
  c.gpr[RAX] = 0x05;
  t.write<uint8_t>(0x3015, 0x99);
  i.addr_size = 4;
  i.seg = FS;
  t.run(i);
  EXPECT_EQ(c.gpr[RAX] & 0xff, 0x99u);
}

// ---------------------------------------------------------------- LAHF / SAHF

TEST(DatamovLahfSahf, RoundTripAndReservedBits) {
  TestCpu t;
  auto& c = t.cpu();
  // Lazy flags from a SUB that sets SF, AF, PF, CF: 0x10 - 0x21 = 0xef.
  set_lazy<uint8_t>(c, kLazySub, 0xef, 0x10, 0x21);
  const uint64_t expect = arith_flags(c) & (rf::SF | rf::ZF | rf::AF | rf::PF | rf::CF);
  c.gpr[RAX] = 0xffffffffffff00ffull;
  Insn lahf = make_insn(Op::LAHF, 1, 1);
  t.run(lahf);
  EXPECT_EQ((c.gpr[RAX] >> 8) & 0xff, expect | 2);
  EXPECT_EQ(c.gpr[RAX] & ~uint64_t{0xff00}, 0xffffffffffff00ffull);
  // SAHF with AH = 0xff sets exactly SF ZF AF PF CF (host: flags 0x2d7), keeping OF.
  set_arith_flags(c, rf::OF);
  c.gpr[RAX] = 0xff00;
  Insn sahf = make_insn(Op::SAHF, 1, 1);
  t.run(sahf);
  EXPECT_EQ(status_flags(c), rf::OF | rf::SF | rf::ZF | rf::AF | rf::PF | rf::CF);
  EXPECT_EQ(read_rflags(c) & 0xfff, 0x8d7u);
  c.gpr[RAX] = 0x0000;
  t.run(sahf);
  EXPECT_EQ(status_flags(c), rf::OF);
  // LAHF with every flag set gives 0xD7 (host).
  set_arith_flags(c, rf::ARITH);
  t.run(lahf);
  EXPECT_EQ((c.gpr[RAX] >> 8) & 0xff, 0xd7u);
}

// ---------------------------------------------------------------- SETcc / CMOVcc

// Host SETcc for condition `cc` with the status flags `flags` loaded by POPF.
uint8_t host_setcc(unsigned cc, uint64_t flags) {
  uint8_t r = 0;
  uint64_t image = flags | rf::FIXED1;
#define SETCC_CASE(n, insn)                                                           \
  case n:                                                                             \
    asm("lea -128(%%rsp), %%rsp; pushq %1; popfq; " insn " %0; lea 128(%%rsp), %%rsp" \
        : "=r"(r)                                                                     \
        : "r"(image)                                                                  \
        : "cc");                                                                      \
    break;
  switch (cc) {
    SETCC_CASE(0, "seto")
    SETCC_CASE(1, "setno")
    SETCC_CASE(2, "setb")
    SETCC_CASE(3, "setae")
    SETCC_CASE(4, "sete")
    SETCC_CASE(5, "setne")
    SETCC_CASE(6, "setbe")
    SETCC_CASE(7, "seta")
    SETCC_CASE(8, "sets")
    SETCC_CASE(9, "setns")
    SETCC_CASE(10, "setp")
    SETCC_CASE(11, "setnp")
    SETCC_CASE(12, "setl")
    SETCC_CASE(13, "setge")
    SETCC_CASE(14, "setle")
    SETCC_CASE(15, "setg")
  }
#undef SETCC_CASE
  return r;
}

// Every combination of OF SF ZF PF CF (AF does not matter to any condition).
std::vector<uint64_t> flag_combinations() {
  std::vector<uint64_t> v;
  const uint64_t bits[] = {rf::OF, rf::SF, rf::ZF, rf::PF, rf::CF};
  for (unsigned m = 0; m < 32; ++m) {
    uint64_t f = 0;
    for (unsigned b = 0; b < 5; ++b)
      if (m & (1u << b)) f |= bits[b];
    v.push_back(f);
  }
  return v;
}

TEST(DatamovSetcc, AllConditionsMatchHost) {
  TestCpu t;
  auto& c = t.cpu();
  for (unsigned cc = 0; cc < 16; ++cc) {
    for (uint64_t f : flag_combinations()) {
      set_arith_flags(c, f);
      c.gpr[RDX] = 0xffffffffffffffffull;
      Insn i = make_insn(Op::SETCC, 1);
      i.dst = reg_operand(RDX);
      i.cond = static_cast<uint8_t>(cc);
      t.run(i);
      ASSERT_EQ(c.gpr[RDX], 0xffffffffffffff00ull | host_setcc(cc, f)) << cc << " " << f;
      // Memory form, and DH.
      t.write<uint16_t>(kData, 0xeeee);
      c.gpr[RBX] = kData;
      Insn m = make_insn(Op::SETCC, 1);
      m.dst = mem_operand();
      m.cond = static_cast<uint8_t>(cc);
      set_mem(m, RBX, 0);
      t.run(m);
      ASSERT_EQ(t.read<uint16_t>(kData), 0xee00 | host_setcc(cc, f));
      Insn h = make_insn(Op::SETCC, 1);
      h.dst = reg_operand(kRegAH + 2);
      h.cond = static_cast<uint8_t>(cc);
      t.run(h);
      ASSERT_EQ(c.gpr[RDX], 0xffffffffffff0000ull | (uint64_t{host_setcc(cc, f)} * 0x101));
    }
  }
}

TEST(DatamovSetcc, LazyFlagsFromCompare) {
  TestCpu t;
  auto& c = t.cpu();
  // After CMP 3, 5 (32-bit): B, BE, L, LE, NE hold.
  set_lazy<uint32_t>(c, kLazySub, 3u - 5u, 3, 5);
  const bool expect[16] = {0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 0};
  for (unsigned cc = 0; cc < 16; ++cc) {
    Insn i = make_insn(Op::SETCC, 1);
    i.dst = reg_operand(RAX);
    i.cond = static_cast<uint8_t>(cc);
    t.run(i);
    EXPECT_EQ(c.gpr[RAX] & 1, expect[cc]) << cc;
  }
}

// SETcc reads single flags straight from the lazy record for E/NE, B/AE, S/NS: it must agree
// with the full materialisation for every producer kind and size.
TEST(DatamovSetcc, LazyProducersAgreeWithMaterializedFlags) {
  TestCpu t;
  auto& c = t.cpu();
  Rng rng(77);
  const LazyOp ops[] = {kLazyAdd, kLazyAdc, kLazySub, kLazySbb, kLazyLogic, kLazyInc, kLazyDec};
  for (int n = 0; n < 2000; ++n) {
    const unsigned size = 1u << (rng.next() % 4);
    const uint64_t m = size_mask(size);
    const LazyOp op = ops[rng.next() % 7];
    const uint64_t a = rng.edgy() & m, b = rng.edgy() & m;
    const uint8_t aux = rng.next() & 1;
    uint64_t res = 0;
    switch (op) {
      case kLazyAdd:
        res = a + b;
        break;
      case kLazyAdc:
        res = a + b + aux;
        break;
      case kLazySub:
        res = a - b;
        break;
      case kLazySbb:
        res = a - b - aux;
        break;
      case kLazyLogic:
        res = a & b;
        break;
      case kLazyInc:
        res = a + 1;
        break;
      default:
        res = a - 1;
        break;
    }
    c.lazy =
        LazyFlags{res & m, a, b, static_cast<uint8_t>(op), static_cast<uint8_t>(size), aux, {}};
    const uint64_t f = compute_lazy_flags(c.lazy);
    for (unsigned cc = 0; cc < 16; ++cc) {
      Insn i = make_insn(Op::SETCC, 1);
      i.dst = reg_operand(RAX);
      i.cond = static_cast<uint8_t>(cc);
      t.run(i);
      ASSERT_EQ(c.gpr[RAX] & 0xff, host_setcc(cc, f))
          << "op " << int(op) << " size " << size << " cc " << cc << std::hex << " a " << a << " b "
          << b;
    }
  }
}

TEST(DatamovCmov, TakenAndNotTakenAllSizes) {
  TestCpu t;
  auto& c = t.cpu();
  for (unsigned size : {2u, 4u, 8u}) {
    for (bool taken : {false, true}) {
      set_arith_flags(c, taken ? rf::ZF : 0);
      c.gpr[RAX] = 0x1111111122222222ull;
      c.gpr[RCX] = 0xaaaaaaaabbbbbbbbull;
      Insn i = reg_reg(Op::CMOVCC, size, RAX, RCX);
      i.cond = 4;  // E
      t.run(i);
      uint64_t expect = taken ? 0xaaaaaaaabbbbbbbbull : 0x1111111122222222ull;
      if (size == 2) expect = 0x1111111122220000ull | (expect & 0xffff);
      if (size == 4) expect &= 0xffffffff;  // zero-extends even when not taken (host)
      EXPECT_EQ(c.gpr[RAX], expect) << size << taken;
    }
  }
}

TEST(DatamovCmov, MemorySourceAllSizes) {
  TestCpu t;
  auto& c = t.cpu();
  t.write<uint64_t>(kData, 0xaaaaaaaabbbbbbbbull);
  c.gpr[RBX] = kData;
  for (unsigned size : {2u, 4u, 8u}) {
    for (bool taken : {false, true}) {
      set_arith_flags(c, taken ? rf::CF : 0);
      c.gpr[RAX] = 0x1111111122222222ull;
      Insn i = reg_mem(Op::CMOVCC, size, RAX, RBX, 0);
      i.cond = 2;  // B
      t.run(i);
      uint64_t expect = taken ? 0xaaaaaaaabbbbbbbbull : 0x1111111122222222ull;
      if (size == 2) expect = 0x1111111122220000ull | (expect & 0xffff);
      if (size == 4) expect &= 0xffffffff;
      EXPECT_EQ(c.gpr[RAX], expect) << size << taken;
    }
  }
}

TEST(DatamovCmov, MemorySourceIsReadEvenWhenFalse) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x60000);
  set_arith_flags(c, 0);  // E is false
  c.gpr[RBX] = 0x60000;
  c.gpr[RAX] = 1;
  c.rip = kRip;
  Insn i = reg_mem(Op::CMOVCC, 8, RAX, RBX, 0);
  i.cond = 4;
  Outcome o = t.run(i);
  EXPECT_TRUE(o.faulted);
  EXPECT_EQ(o.vector, kPF);
  EXPECT_EQ(c.rip, kRip);
  // A readable source with a true condition loads it.
  t.write<uint64_t>(kData, 0x55);
  c.gpr[RBX] = kData;
  i.cond = 5;  // NE
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.gpr[RAX], 0x55u);
}

TEST(DatamovCmov, AllConditionsMatchHostSetcc) {
  TestCpu t;
  auto& c = t.cpu();
  for (unsigned cc = 0; cc < 16; ++cc)
    for (uint64_t f : flag_combinations()) {
      set_arith_flags(c, f);
      c.gpr[RAX] = 1;
      c.gpr[RCX] = 2;
      Insn i = reg_reg(Op::CMOVCC, 8, RAX, RCX);
      i.cond = static_cast<uint8_t>(cc);
      t.run(i);
      ASSERT_EQ(c.gpr[RAX], host_setcc(cc, f) ? 2u : 1u) << cc << " " << f;
    }
}

// ---------------------------------------------------------------- NOP

TEST(DatamovNop, AdvancesRipWithoutTouchingMemory) {
  TestCpu t;
  PagedCpu p(t);
  auto& c = t.cpu();
  p.unmap(0x70000);
  c.rip = kRip;
  Insn i = make_insn(Op::NOP, 4, 5);  // 0F 1F 40 00 ... with an unmapped memory operand
  i.dst = mem_operand();
  set_mem(i, RBX, 0);
  c.gpr[RBX] = 0x70000;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.rip, kRip + 5);
  Insn plain = make_insn(Op::NOP, 4, 1);
  t.run(plain);
  EXPECT_EQ(c.rip, kRip + 6);
}

TEST(DatamovRip, WrapsToCodeSizeOutsideLongMode) {
  TestCpu t;
  auto& c = t.cpu();
  enter_legacy(c, true, true);
  c.rip = 0xfffffffe;
  Insn i = reg_reg(Op::MOV, 4, RAX, RCX);
  t.run(i);
  EXPECT_EQ(c.rip, 1u);
  enter_legacy(c, false, false);
  c.rip = 0xffff;
  t.run(i);
  EXPECT_EQ(c.rip, 2u);
}

}  // namespace
}  // namespace umbra::test
