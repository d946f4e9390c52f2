// The CPU models and CPUID: leaf structure, vendor and brand strings, feature bits equal to the
// model table, the exact feature list of the default model, consistency with what the rest of
// Umbra derives from the model (CR4 mask, EFER mask, paging features), and the CPUID
// instruction.
#include "frontend/system/cpu_model.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "frontend/system/mode.h"
#include "softmmu/page_walk.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

std::string regs_string(const uint32_t* r, unsigned n) {
  std::string s(reinterpret_cast<const char*>(r), 4 * n);
  return s.substr(0, s.find('\0'));
}

std::set<std::string> advertised(const CpuModel& m) {
  std::set<std::string> s;
  unsigned n;
  const Feature* fs = all_features(&n);
  for (unsigned k = 0; k < n; ++k)
    if (m.has(fs[k])) s.insert(feature_name(fs[k]));
  return s;
}

TEST(CpuModel, FindAndList) {
  ASSERT_NE(find_cpu_model("umbra"), nullptr);
  ASSERT_NE(find_cpu_model("base"), nullptr);
  EXPECT_EQ(find_cpu_model("umbra"), &default_cpu_model());
  EXPECT_EQ(find_cpu_model("Umbra"), nullptr);
  EXPECT_EQ(find_cpu_model("qemu64"), nullptr);
  EXPECT_EQ(find_cpu_model(""), nullptr);
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  list_cpu_models(f);
  std::fclose(f);
  const std::string text(buf, len);
  std::free(buf);
  EXPECT_NE(text.find("umbra"), std::string::npos);
  EXPECT_NE(text.find("base"), std::string::npos);
  EXPECT_NE(text.find("fsgsbase"), std::string::npos);
}

// The exact list: a change here must be deliberate (and docs/cpu_model.md updated).
TEST(CpuModel, DefaultModelAdvertisesExactlyThis) {
  // clang-format off
  const std::set<std::string> expected = {
      "fpu", "de", "pse", "tsc", "msr", "pae", "cx8", "apic", "sep", "mtrr", "pge", "cmov",
      "pat", "pse36", "clflush", "mmx", "fxsr", "sse", "sse2", "pni", "ssse3", "cx16", "pcid",
      "sse4_1", "sse4_2", "movbe", "popcnt", "tsc_deadline_timer", "xsave", "fsgsbase", "tsc_adjust", "bmi1",
      "smep", "bmi2", "erms", "invpcid", "adx", "smap", "clflushopt", "clwb", "umip", "syscall",
      "nx", "pdpe1gb", "rdtscp", "lm", "lahf_lm", "abm", "3dnowprefetch", "constant_tsc",
      "rdpid"};
  // clang-format on
  EXPECT_EQ(advertised(default_cpu_model()), expected);
  // Not implemented: must not be advertised. (OSXSAVE is not static: cpuid_for reports CR4.)
  for (Feature f :
       {Feature::OSXSAVE, Feature::AVX, Feature::AVX2, Feature::FMA, Feature::F16C, Feature::AES,
        Feature::PCLMULQDQ, Feature::X2APIC, Feature::VME, Feature::MONITOR, Feature::LA57,
        Feature::PKU, Feature::RDRAND, Feature::HYPERVISOR, Feature::SPEC_CTRL,
        Feature::MCE, Feature::MCA})
    EXPECT_FALSE(default_cpu_model().has(f)) << feature_name(f);
}

// x86-64-v2 (the psABI's level 2: CMPXCHG16B, LAHF/SAHF, POPCNT, SSE3, SSE4.1, SSE4.2, SSSE3 on
// top of the baseline CMOV, CX8, FPU, FXSR, MMX, SYSCALL, SSE, SSE2) is a subset of the default
// model; the base model is exactly the baseline's FPU/SIMD part (no SSE3 and later, no XSAVE).
TEST(CpuModel, DefaultModelIsX8664V2AndBaseIsTheBaseline) {
  const Feature baseline[] = {Feature::CMOV, Feature::CX8,  Feature::FPU,
                              Feature::FXSR, Feature::MMX,  Feature::SYSCALL,
                              Feature::SSE,  Feature::SSE2, Feature::LM};
  const Feature v2[] = {Feature::CX16,   Feature::LAHF_LM, Feature::POPCNT, Feature::SSE3,
                        Feature::SSE4_1, Feature::SSE4_2,  Feature::SSSE3};
  for (Feature f : baseline) {
    EXPECT_TRUE(default_cpu_model().has(f)) << feature_name(f);
    EXPECT_TRUE(find_cpu_model("base")->has(f)) << feature_name(f);
  }
  for (Feature f : v2) EXPECT_TRUE(default_cpu_model().has(f)) << feature_name(f);
  for (Feature f : {Feature::SSE3, Feature::SSSE3, Feature::SSE4_1, Feature::SSE4_2, Feature::XSAVE,
                    Feature::POPCNT, Feature::CX16})
    EXPECT_FALSE(find_cpu_model("base")->has(f)) << feature_name(f);
}

TEST(CpuModel, Leaf0DDescribesX87AndSseState) {
  uint32_t r[4];
  cpuid(default_cpu_model(), 0xD, 0, r);
  EXPECT_EQ(r[0], 3u);    // XCR0 may enable x87 and SSE
  EXPECT_EQ(r[1], 576u);  // legacy region + header
  EXPECT_EQ(r[2], 576u);
  EXPECT_EQ(r[3], 0u);
  cpuid(default_cpu_model(), 0xD, 1, r);
  EXPECT_EQ(r[0], 1u);  // XSAVEOPT
  cpuid(*find_cpu_model("base"), 0xD, 0, r);
  EXPECT_EQ(r[0] | r[1] | r[2] | r[3], 0u);
}

TEST(CpuModel, BaseModelIsASubsetOfTheDefault) {
  const std::set<std::string> def = advertised(default_cpu_model());
  for (const std::string& f : advertised(*find_cpu_model("base"))) EXPECT_TRUE(def.count(f)) << f;
  EXPECT_FALSE(find_cpu_model("base")->has(Feature::PDPE1GB));
  EXPECT_TRUE(find_cpu_model("base")->has(Feature::LM));
}

TEST(CpuModel, VendorMaxLeavesAndBrand) {
  unsigned count;
  const CpuModel* const* models = all_cpu_models(&count);
  for (unsigned k = 0; k < count; ++k) {
    const CpuModel& m = *models[k];
    SCOPED_TRACE(m.name);
    uint32_t r[4];
    cpuid(m, 0, 0, r);
    EXPECT_EQ(r[0], m.max_basic_leaf);
    const uint32_t vendor[3] = {r[1], r[3], r[2]};  // EBX, EDX, ECX
    EXPECT_EQ(regs_string(vendor, 3), "GenuineIntel");
    cpuid(m, 0x80000000, 0, r);
    EXPECT_EQ(r[0], m.max_extended_leaf);
    EXPECT_GE(r[0], 0x80000008u);
    uint32_t brand[12];
    for (unsigned l = 0; l < 3; ++l) cpuid(m, 0x80000002 + l, 0, brand + 4 * l);
    EXPECT_EQ(regs_string(brand, 12), m.brand);
    EXPECT_EQ(regs_string(brand, 12).rfind("Umbra virtual CPU", 0), 0u);
    EXPECT_LE(std::strlen(m.brand), 47u);  // NUL-terminated within 48 bytes
  }
}

TEST(CpuModel, FeatureLeavesEqualTheTable) {
  unsigned count;
  const CpuModel* const* models = all_cpu_models(&count);
  for (unsigned k = 0; k < count; ++k) {
    const CpuModel& m = *models[k];
    SCOPED_TRACE(m.name);
    uint32_t r[4];
    cpuid(m, 1, 0, r);
    EXPECT_EQ(r[2], m.features[kLeaf1Ecx]);
    EXPECT_EQ(r[3], m.features[kLeaf1Edx]);
    cpuid(m, 7, 0, r);
    EXPECT_EQ(r[0], 0u);  // highest subleaf
    EXPECT_EQ(r[1], m.features[kLeaf7Ebx]);
    EXPECT_EQ(r[2], m.features[kLeaf7Ecx]);
    EXPECT_EQ(r[3], m.features[kLeaf7Edx]);
    cpuid(m, 7, 1, r);
    EXPECT_EQ(r[0] | r[1] | r[2] | r[3], 0u);
    cpuid(m, 0x80000001, 0, r);
    EXPECT_EQ(r[2], m.features[kExt1Ecx]);
    EXPECT_EQ(r[3], m.features[kExt1Edx]);
    cpuid(m, 0x80000007, 0, r);
    EXPECT_EQ(r[3], m.features[kExt7Edx]);
    // Every named feature is reported in the leaf its word says.
    unsigned nf;
    const Feature* fs = all_features(&nf);
    for (unsigned j = 0; j < nf; ++j) {
      const uint32_t leaf[] = {1, 1, 7, 7, 7, 0x80000001, 0x80000001, 0x80000007};
      const unsigned reg[] = {3, 2, 1, 2, 3, 3, 2, 3};
      const unsigned w = feature_word(fs[j]);
      cpuid(m, leaf[w], 0, r);
      EXPECT_EQ(static_cast<bool>(r[reg[w]] & feature_mask(fs[j])), m.has(fs[j]))
          << feature_name(fs[j]);
    }
  }
}

TEST(CpuModel, Leaf1Signature) {
  const CpuModel& m = default_cpu_model();
  uint32_t r[4];
  cpuid(m, 1, 0, r);
  const unsigned stepping = r[0] & 0xf, model = (r[0] >> 4) & 0xf, family = (r[0] >> 8) & 0xf,
                 ext_model = (r[0] >> 16) & 0xf, ext_family = (r[0] >> 20) & 0xff;
  EXPECT_EQ(family, 6u);
  EXPECT_EQ(ext_family, 0u);
  EXPECT_EQ((ext_model << 4) | model, m.model);
  EXPECT_EQ(stepping, m.stepping);
  EXPECT_EQ((r[1] >> 8) & 0xff, 8u);   // CLFLUSH line: 8 * 8 = 64 bytes
  EXPECT_EQ((r[1] >> 16) & 0xff, 1u);  // one logical processor
  EXPECT_EQ(r[1] >> 24, 0u);           // initial APIC ID 0
}

TEST(CpuModel, AddressSizesAndTscLeaves) {
  const CpuModel& m = default_cpu_model();
  uint32_t r[4];
  cpuid(m, 0x80000008, 0, r);
  EXPECT_EQ(r[0] & 0xff, m.phys_addr_bits);
  EXPECT_EQ((r[0] >> 8) & 0xff, 48u);
  cpuid(m, 0x15, 0, r);
  ASSERT_NE(r[0], 0u);
  EXPECT_EQ(uint64_t{r[2]} * r[1] / r[0], m.tsc_hz);
  cpuid(m, 0x16, 0, r);
  EXPECT_EQ(uint64_t{r[0]} * 1'000'000, m.tsc_hz);
  EXPECT_EQ(m.tsc_hz % m.crystal_hz, 0u);
}

TEST(CpuModel, LeavesInRangeWithoutContentAreZeroAndBeyondRangeRepeatTheLast) {
  const CpuModel& m = default_cpu_model();
  uint32_t r[4], last[4];
  for (uint32_t leaf : {2u, 3u, 4u, 5u, 6u, 0xAu, 0xBu, 0x14u, 0x80000005u, 0x80000006u}) {
    cpuid(m, leaf, 0, r);
    EXPECT_EQ(r[0] | r[1] | r[2] | r[3], 0u) << std::hex << leaf;
  }
  cpuid(m, m.max_basic_leaf, 0, last);
  for (uint32_t leaf :
       {m.max_basic_leaf + 1, 0x40000000u, 0x7fffffffu, m.max_extended_leaf + 1, 0xffffffffu}) {
    cpuid(m, leaf, 0, r);
    EXPECT_EQ(std::memcmp(r, last, sizeof r), 0) << std::hex << leaf;
  }
}

TEST(CpuModel, DerivedMasksFollowTheFeatures) {
  const CpuModel& m = default_cpu_model();
  const uint64_t cr4v = cr4_valid_bits(m);
  EXPECT_TRUE(cr4v & cr4::PAE);
  EXPECT_TRUE(cr4v & cr4::FSGSBASE);
  EXPECT_TRUE(cr4v & cr4::PCIDE);
  EXPECT_TRUE(cr4v & cr4::SMEP);
  EXPECT_TRUE(cr4v & cr4::OSFXSR);
  EXPECT_TRUE(cr4v & cr4::OSXMMEXCPT);
  EXPECT_TRUE(cr4v & cr4::OSXSAVE);
  EXPECT_FALSE(cr4v & cr4::VME);
  EXPECT_FALSE(cr4v & cr4::LA57);
  EXPECT_EQ(cr4v >> 32, 0u);
  EXPECT_FALSE(cr4_valid_bits(*find_cpu_model("base")) & cr4::PCIDE);
  // The FPU bits follow the features: absent on a model without FXSR, SSE, XSAVE.
  const CpuModel no_fp = model_with({}, {Feature::FXSR, Feature::SSE, Feature::XSAVE});
  EXPECT_FALSE(cr4_valid_bits(no_fp) & cr4::OSFXSR);
  EXPECT_FALSE(cr4_valid_bits(no_fp) & cr4::OSXMMEXCPT);
  EXPECT_FALSE(cr4_valid_bits(no_fp) & cr4::OSXSAVE);
  EXPECT_TRUE(cr4_valid_bits(model_with({Feature::FXSR}, {Feature::SSE})) & cr4::OSFXSR);
  EXPECT_TRUE(cr4_valid_bits(*find_cpu_model("base")) & cr4::OSFXSR);
  EXPECT_FALSE(cr4_valid_bits(*find_cpu_model("base")) & cr4::OSXSAVE);
  EXPECT_EQ(efer_valid_bits(m), efer::SCE | efer::LME | efer::LMA | efer::NXE);
  const PagingFeatures p = paging_features_for(m);
  EXPECT_EQ(p.maxphyaddr, m.phys_addr_bits);
  EXPECT_TRUE(p.pages_1g);
  EXPECT_FALSE(paging_features_for(*find_cpu_model("base")).pages_1g);
  // The walker's defaults (used when no model-specific features are given) agree with the
  // default model.
  const PagingFeatures defaults{};
  EXPECT_EQ(defaults.maxphyaddr, p.maxphyaddr);
  EXPECT_EQ(defaults.pages_1g, p.pages_1g);
}

TEST(CpuModel, CpuidForReflectsRunTimeState) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  uint32_t a[4], b[4];
  cpuid_for(c, 1, 0, a);
  cpuid(default_cpu_model(), 1, 0, b);
  EXPECT_EQ(std::memcmp(a, b, sizeof a), 0);
  // A CPU's own model, not the default.
  const CpuModel base = *find_cpu_model("base");
  c.cpu_model = &base;
  cpuid_for(c, 7, 0, a);
  EXPECT_EQ(a[1], 0u);
  // OSXSAVE reflects CR4.OSXSAVE only on a model with XSAVE.
  const CpuModel xsave = model_with({Feature::XSAVE});
  c.cpu_model = &xsave;
  c.cr4 |= cr4::OSXSAVE;
  cpuid_for(c, 1, 0, a);
  EXPECT_TRUE(a[2] & feature_mask(Feature::OSXSAVE));
  c.cr4 &= ~cr4::OSXSAVE;
  cpuid_for(c, 1, 0, a);
  EXPECT_FALSE(a[2] & feature_mask(Feature::OSXSAVE));
}

TEST(CpuModel, CpuidInstructionWritesZeroExtendedRegisters) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c, 3);  // not privileged
  c.gpr[RAX] = 0xffffffff00000000ull | 0x80000002u;
  c.gpr[RCX] = 0xffffffff00000000ull;
  c.gpr[RBX] = c.gpr[RDX] = ~uint64_t{0};
  Insn i = simple_insn(Op::CPUID);
  ASSERT_FALSE(t.run(i).faulted);
  uint32_t r[4];
  cpuid(default_cpu_model(), 0x80000002, 0, r);
  EXPECT_EQ(c.gpr[RAX], r[0]);
  EXPECT_EQ(c.gpr[RBX], r[1]);
  EXPECT_EQ(c.gpr[RCX], r[2]);
  EXPECT_EQ(c.gpr[RDX], r[3]);
  EXPECT_EQ(c.rip, kSysRip + 2);
  // ECX selects the subleaf.
  c.gpr[RAX] = 7;
  c.gpr[RCX] = 0;
  ASSERT_FALSE(t.run(i).faulted);
  EXPECT_EQ(c.gpr[RBX], default_cpu_model().features[kLeaf7Ebx]);
}

}  // namespace
}  // namespace umbra::test
