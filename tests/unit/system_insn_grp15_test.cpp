// Group 15 non-FPU members: RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE, CLFLUSH/CLFLUSHOPT/CLWB, the
// fences; the FPU members are bound to fp_state_*.cpp.
#include <gtest/gtest.h>

#include <cstdint>

#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

// F3 0F AE /ext with a register operand (RDFSBASE .. WRGSBASE).
Insn base_insn(unsigned ext, uint8_t reg, unsigned opsize) {
  Insn i = make_insn(Op::GRP15, opsize, 5);
  i.ext = static_cast<uint8_t>(ext);
  i.dst = reg_operand(reg);
  i.prefixes = pfx::kRep;
  return i;
}

// 0F AE /ext with a memory operand [RBX] (66 prefix when p66).
Insn mem_insn(unsigned ext, bool p66) {
  Insn i = make_insn(Op::GRP15, 1, 4);
  i.ext = static_cast<uint8_t>(ext);
  i.dst = mem_operand();
  set_mem(i, RBX, 0);
  if (p66) i.prefixes = pfx::kOpsize;
  return i;
}

// 0F AE E8/F0/F8: a fence (no operand).
Insn fence_insn(unsigned ext) {
  Insn i = make_insn(Op::GRP15, 4, 3);
  i.ext = static_cast<uint8_t>(ext);
  return i;
}

TEST(SysInsnGrp15, FsGsBaseNeedCr4Fsgsbase) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c, 3);
  for (unsigned ext = 0; ext < 4; ++ext) {
    Insn i = base_insn(ext, RAX, 8);
    EXPECT_EQ(fault_of(t.run(i)), kUD) << ext;
  }
}

TEST(SysInsnGrp15, ReadAndWriteBasesAtAnyCpl) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c, 3);
  c.cr4 |= cr4::FSGSBASE;
  c.gpr[RAX] = 0xffff800011112222ull;
  Insn wrfs = base_insn(2, RAX, 8);
  ASSERT_FALSE(t.run(wrfs).faulted);
  EXPECT_EQ(c.seg[FS].base, 0xffff800011112222ull);
  c.gpr[RCX] = 0xffffffff33334444ull;
  Insn wrgs32 = base_insn(3, RCX, 4);  // 32-bit form: zero-extended
  ASSERT_FALSE(t.run(wrgs32).faulted);
  EXPECT_EQ(c.seg[GS].base, 0x33334444u);
  Insn rdfs = base_insn(0, RDX, 8);
  ASSERT_FALSE(t.run(rdfs).faulted);
  EXPECT_EQ(c.gpr[RDX], 0xffff800011112222ull);
  c.gpr[RDX] = ~uint64_t{0};
  Insn rdfs32 = base_insn(0, RDX, 4);
  ASSERT_FALSE(t.run(rdfs32).faulted);
  EXPECT_EQ(c.gpr[RDX], 0x11112222u);
  Insn rdgs = base_insn(1, RSI, 8);
  ASSERT_FALSE(t.run(rdgs).faulted);
  EXPECT_EQ(c.gpr[RSI], 0x33334444u);
  EXPECT_EQ(c.rip, kSysRip + 5 * 5);
}

TEST(SysInsnGrp15, WriteBaseRejectsNonCanonical) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.cr4 |= cr4::FSGSBASE;
  c.seg[GS].base = 0x1000;
  c.gpr[RAX] = 0x0000800000000000ull;
  Insn wrgs = base_insn(3, RAX, 8);
  EXPECT_EQ(fault_of(t.run(wrgs)), kGP);
  EXPECT_EQ(c.seg[GS].base, 0x1000u);
}

TEST(SysInsnGrp15, CacheLineFlushesFaultLikeAByteRead) {
  struct Case {
    unsigned ext;
    bool p66;
  } cases[] = {{7, false} /* CLFLUSH */, {7, true} /* CLFLUSHOPT */, {6, true} /* CLWB */};
  for (const Case& k : cases) {
    TestCpu t;
    auto& c = t.cpu();
    enter_long_mode(c, 3);
    FaultingTranslator ft(0x7000);
    c.translator = &ft;
    tlb_flush_all(c);
    Insn i = mem_insn(k.ext, k.p66);
    c.gpr[RBX] = 0x6040;
    EXPECT_FALSE(t.run(i).faulted);
    EXPECT_EQ(c.rip, kSysRip + 4);
    c.gpr[RBX] = 0x7040;
    Outcome o = t.run(i);
    EXPECT_EQ(fault_of(o), kPF);
    EXPECT_EQ(o.error_code, 0u);  // a read
    c.gpr[RBX] = ~uint64_t{0} << 50;
    EXPECT_EQ(fault_of(t.run(i)), kGP);
    i.seg = SS;
    EXPECT_EQ(fault_of(t.run(i)), kSS);
  }
}

TEST(SysInsnGrp15, CacheLineFlushesFollowTheModel) {
  TestCpu t;
  auto& c = t.cpu();
  const CpuModel base = *find_cpu_model("base");
  c.cpu_model = &base;
  enter_long_mode(c);
  c.gpr[RBX] = 0x6000;
  Insn clflush = mem_insn(7, false);
  EXPECT_FALSE(t.run(clflush).faulted);
  Insn clflushopt = mem_insn(7, true);
  EXPECT_EQ(fault_of(t.run(clflushopt)), kUD);
  Insn clwb = mem_insn(6, true);
  EXPECT_EQ(fault_of(t.run(clwb)), kUD);
}

TEST(SysInsnGrp15, FencesNeedSseAndSse2) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c, 3);
  // A model without SSE/SSE2: LFENCE/MFENCE/SFENCE are #UD, as on a processor without them.
  const CpuModel no_sse = model_with({}, {Feature::SSE, Feature::SSE2});
  c.cpu_model = &no_sse;
  for (unsigned ext : {5u, 6u, 7u}) {
    Insn f = fence_insn(ext);
    EXPECT_EQ(fault_of(t.run(f)), kUD) << ext;
  }
  const CpuModel sse2 = default_cpu_model();  // has SSE and SSE2
  ASSERT_TRUE(sse2.has(Feature::SSE) && sse2.has(Feature::SSE2));
  c.cpu_model = &sse2;
  for (unsigned ext : {5u, 6u, 7u}) {
    Insn f = fence_insn(ext);
    c.rip = kSysRip;
    EXPECT_FALSE(t.run(f).faulted) << ext;
    EXPECT_EQ(c.rip, kSysRip + 3);
  }
  const CpuModel sse = model_with({}, {Feature::SSE2});
  c.cpu_model = &sse;
  Insn sfence = fence_insn(7);
  EXPECT_FALSE(t.run(sfence).faulted);
  Insn lfence = fence_insn(5);
  EXPECT_EQ(fault_of(t.run(lfence)), kUD);
}

TEST(SysInsnGrp15, FpuMembersAreBound) {
  // FXSAVE .. XSAVEOPT are bound (fp_state_*.cpp, tested in fp_state_*_test.cpp): on a model
  // without FXSR/SSE/XSAVE they raise #UD themselves, not through the unimplemented path.
  TestCpu t;
  enter_long_mode(t.cpu());
  t.cpu().gpr[RBX] = 0x6000;
  CpuModel bare = default_cpu_model();
  for (Feature f : {Feature::FXSR, Feature::SSE, Feature::XSAVE})
    bare.features[feature_word(f)] &= ~feature_mask(f);
  t.cpu().cpu_model = &bare;
  for (unsigned ext : {0u, 1u, 2u, 3u, 4u, 5u, 6u}) {
    Insn i = mem_insn(ext, false);  // FXSAVE FXRSTOR LDMXCSR STMXCSR XSAVE XRSTOR XSAVEOPT
    i.fn = bind_handler(i);
    const uint64_t before = unimplemented_count(Op::GRP15);
    EXPECT_EQ(fault_of(t.run(i)), kUD) << ext;
    EXPECT_EQ(unimplemented_count(Op::GRP15), before) << ext;
  }
}

}  // namespace
}  // namespace umbra::test
