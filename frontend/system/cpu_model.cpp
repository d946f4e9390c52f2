// CPU model tables and CPUID (SDM vol. 2, CPUID). docs/cpu_model.md explains every choice.
#include "frontend/system/cpu_model.h"

#include <array>
#include <cstring>
#include <iterator>

#include "frontend/system/mode.h"
#include "frontend/system/msr.h"
#include "softmmu/page_walk.h"

namespace umbra {

namespace {

constexpr uint32_t bits(std::initializer_list<Feature> fs, FeatureWord w) {
  uint32_t v = 0;
  for (Feature f : fs)
    if (feature_word(f) == w) v |= feature_mask(f);
  return v;
}

// Builds a feature-word array from a list of features.
struct FeatureSet {
  uint32_t w[kNumFeatureWords];
};
constexpr FeatureSet feature_set(std::initializer_list<Feature> fs) {
  FeatureSet s{};
  for (unsigned w = 0; w < kNumFeatureWords; ++w) s.w[w] = bits(fs, static_cast<FeatureWord>(w));
  return s;
}

using F = Feature;

// "umbra": exactly what Umbra implements: x86-64-v2 (SSE3, SSSE3, SSE4.1, SSE4.2, POPCNT, CX16,
// LAHF/SAHF) plus XSAVE for x87|SSE state and the system and integer extensions below. Not
// advertised, and why:
//   AVX AVX2 FMA F16C AES PCLMULQDQ : no VEX encodings, no AES-NI/PCLMULQDQ handlers (#UD).
//   X2APIC                    : the local APIC is xAPIC only (devices/lapic.h).
//   VME                       : virtual-8086 interrupt redirection and VIF in PUSHF/POPF/INT n
//                               are not implemented (CLI/STI honour CR4.VME/PVI if ever set).
//   MCE MCA                   : no machine-check architecture: #MC is never raised and there
//                               are no banks. (MCE without MCA is worse than neither: Linux's
//                               machine-check driver then logs "Unable to init MCE device".)
//   LA57 PKU                  : the page walker implements 5-level paging but linear
//                               addresses are checked for 48-bit canonical form everywhere;
//                               protection keys are not implemented.
//   MONITOR                   : MONITOR/MWAIT are #UD.
//   RDRAND RDSEED             : no handlers bound (#UD).
//   HYPERVISOR                : no paravirtual interface behind leaf 40000000H.
//   OSXSAVE                   : not a static bit: cpuid_for() reports CR4.OSXSAVE.
// clang-format off
constexpr FeatureSet kUmbraFeatures = feature_set({
    // The local APIC (xAPIC) with its TSC-deadline timer (devices/lapic.h).
    F::APIC, F::TSC_DEADLINE,
    // CPUID.01H:EDX
    F::FPU, F::DE, F::PSE, F::TSC, F::MSR, F::PAE, F::CX8, F::SEP, F::MTRR, F::PGE,
    F::CMOV, F::PAT, F::PSE36, F::CLFSH, F::MMX, F::FXSR, F::SSE, F::SSE2,
    // CPUID.01H:ECX
    F::SSE3, F::SSSE3, F::CX16, F::PCID, F::SSE4_1, F::SSE4_2, F::MOVBE, F::POPCNT, F::XSAVE,
    // CPUID.(EAX=07H,ECX=0):EBX, ECX
    F::FSGSBASE, F::TSC_ADJUST, F::BMI1, F::SMEP, F::BMI2, F::ERMS, F::INVPCID, F::ADX, F::SMAP,
    F::CLFLUSHOPT, F::CLWB, F::UMIP, F::RDPID,
    // CPUID.80000001H:EDX, ECX; CPUID.80000007H:EDX
    F::SYSCALL, F::NX, F::PDPE1GB, F::RDTSCP, F::LM, F::LAHF_LM, F::LZCNT, F::PREFETCHW,
    F::INVARIANT_TSC,
});
// clang-format on

// "base": a first-generation x86-64 processor (the x86-64 baseline: x87, MMX, FXSR, SSE, SSE2):
// no CR4 extensions after OSXMMEXCPT, no PCID/FSGSBASE/SMEP/SMAP/UMIP, no RDTSCP, no XSAVE.
// Integer instructions newer than that (POPCNT, LZCNT, BMI, ADX, MOVBE, CMPXCHG16B) and SSE3 and
// later are not advertised, but the decoder does not make them #UD (docs/cpu_model.md), except
// FISTTP; system instructions and XSAVE/XGETBV tied to a hidden feature are #UD.
// clang-format off
constexpr FeatureSet kBaseFeatures = feature_set({
    F::APIC,
    F::FPU, F::DE, F::PSE, F::TSC, F::MSR, F::PAE, F::CX8, F::SEP, F::MTRR, F::PGE,
    F::CMOV, F::PAT, F::PSE36, F::CLFSH, F::MMX, F::FXSR, F::SSE, F::SSE2,
    F::SYSCALL, F::NX, F::LM,
    F::INVARIANT_TSC,
});
// clang-format on

constexpr CpuModel make_model(const char* name, const char* description, const char* brand,
                              const FeatureSet& fs) {
  CpuModel m{};
  m.name = name;
  m.description = description;
  m.vendor = "GenuineIntel";
  m.brand = brand;
  // Family 6, model 0xFE: a P6-family number no Intel processor uses, so guests apply no
  // model-specific quirks and read no model-specific MSRs (docs/cpu_model.md).
  m.family = 6;
  m.model = 0xFE;
  m.stepping = 1;
  m.max_basic_leaf = 0x16;
  m.max_extended_leaf = 0x80000008;
  m.phys_addr_bits = 40;
  m.linear_addr_bits = 48;
  m.tsc_hz = 2'000'000'000;
  m.crystal_hz = 25'000'000;
  m.microcode_revision = 1;
  m.mtrr_variable_count = 8;
  for (unsigned w = 0; w < kNumFeatureWords; ++w) m.features[w] = fs.w[w];
  return m;
}

constexpr CpuModel kUmbraModel = make_model("umbra", "every feature Umbra implements (default)",
                                            "Umbra virtual CPU", kUmbraFeatures);
constexpr CpuModel kBaseModel = make_model(
    "base", "a first-generation x86-64 CPU (SSE2): no SSE3+, XSAVE, PCID, SMEP/SMAP, RDTSCP",
    "Umbra virtual CPU (base)", kBaseFeatures);

constexpr const CpuModel* kModels[] = {&kUmbraModel, &kBaseModel};

struct NamedFeature {
  Feature f;
  const char* name;
};
constexpr NamedFeature kFeatureNames[] = {
    {F::FPU, "fpu"},
    {F::VME, "vme"},
    {F::DE, "de"},
    {F::PSE, "pse"},
    {F::TSC, "tsc"},
    {F::MSR, "msr"},
    {F::PAE, "pae"},
    {F::MCE, "mce"},
    {F::CX8, "cx8"},
    {F::APIC, "apic"},
    {F::SEP, "sep"},
    {F::MTRR, "mtrr"},
    {F::PGE, "pge"},
    {F::MCA, "mca"},
    {F::CMOV, "cmov"},
    {F::PAT, "pat"},
    {F::PSE36, "pse36"},
    {F::CLFSH, "clflush"},
    {F::MMX, "mmx"},
    {F::FXSR, "fxsr"},
    {F::SSE, "sse"},
    {F::SSE2, "sse2"},
    {F::HTT, "ht"},
    {F::SSE3, "pni"},
    {F::PCLMULQDQ, "pclmulqdq"},
    {F::MONITOR, "monitor"},
    {F::VMX, "vmx"},
    {F::SSSE3, "ssse3"},
    {F::FMA, "fma"},
    {F::CX16, "cx16"},
    {F::PCID, "pcid"},
    {F::SSE4_1, "sse4_1"},
    {F::SSE4_2, "sse4_2"},
    {F::X2APIC, "x2apic"},
    {F::MOVBE, "movbe"},
    {F::POPCNT, "popcnt"},
    {F::TSC_DEADLINE, "tsc_deadline_timer"},
    {F::AES, "aes"},
    {F::XSAVE, "xsave"},
    {F::OSXSAVE, "osxsave"},
    {F::AVX, "avx"},
    {F::F16C, "f16c"},
    {F::RDRAND, "rdrand"},
    {F::HYPERVISOR, "hypervisor"},
    {F::FSGSBASE, "fsgsbase"},
    {F::TSC_ADJUST, "tsc_adjust"},
    {F::BMI1, "bmi1"},
    {F::AVX2, "avx2"},
    {F::FDP_EXCPTN_ONLY, "fdp_excptn_only"},
    {F::SMEP, "smep"},
    {F::BMI2, "bmi2"},
    {F::ERMS, "erms"},
    {F::INVPCID, "invpcid"},
    {F::FPU_CSDS_DEPRECATED, "fpu_csds_deprecated"},
    {F::RDSEED, "rdseed"},
    {F::ADX, "adx"},
    {F::SMAP, "smap"},
    {F::CLFLUSHOPT, "clflushopt"},
    {F::CLWB, "clwb"},
    {F::UMIP, "umip"},
    {F::PKU, "pku"},
    {F::OSPKE, "ospke"},
    {F::LA57, "la57"},
    {F::RDPID, "rdpid"},
    {F::SPEC_CTRL, "spec_ctrl"},
    {F::ARCH_CAPABILITIES, "arch_capabilities"},
    {F::SYSCALL, "syscall"},
    {F::NX, "nx"},
    {F::PDPE1GB, "pdpe1gb"},
    {F::RDTSCP, "rdtscp"},
    {F::LM, "lm"},
    {F::LAHF_LM, "lahf_lm"},
    {F::LZCNT, "abm"},
    {F::PREFETCHW, "3dnowprefetch"},
    {F::INVARIANT_TSC, "constant_tsc"},
};

constexpr auto kAllFeatures = [] {
  std::array<Feature, std::size(kFeatureNames)> a{};
  for (size_t k = 0; k < a.size(); ++k) a[k] = kFeatureNames[k].f;
  return a;
}();

// Four characters of a string as a little-endian register value (vendor and brand strings).
uint32_t chars4(const char* s, size_t n, size_t at) {
  uint32_t v = 0;
  for (size_t k = 0; k < 4; ++k)
    v |= uint32_t{at + k < n ? static_cast<uint8_t>(s[at + k]) : 0u} << (8 * k);
  return v;
}

void set(uint32_t out[4], uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  out[0] = a;
  out[1] = b;
  out[2] = c;
  out[3] = d;
}

}  // namespace

const CpuModel* find_cpu_model(std::string_view name) {
  for (const CpuModel* m : kModels)
    if (name == m->name) return m;
  return nullptr;
}

const CpuModel& default_cpu_model() {
  return kUmbraModel;
}

const CpuModel* const* all_cpu_models(unsigned* count) {
  *count = static_cast<unsigned>(std::size(kModels));
  return kModels;
}

const char* feature_name(Feature f) {
  for (const NamedFeature& n : kFeatureNames)
    if (n.f == f) return n.name;
  return "?";
}

const Feature* all_features(unsigned* count) {
  *count = static_cast<unsigned>(kAllFeatures.size());
  return kAllFeatures.data();
}

void list_cpu_models(FILE* out) {
  std::fprintf(out, "Available CPU models (-cpu NAME):\n");
  for (const CpuModel* m : kModels) {
    std::fprintf(out, "  %-8s %s\n", m->name, m->description);
    std::fprintf(out, "           features:");
    unsigned col = 20;
    for (const Feature f : kAllFeatures) {
      if (!m->has(f)) continue;
      const char* n = feature_name(f);
      const unsigned len = static_cast<unsigned>(std::strlen(n)) + 1;
      if (col + len > 98) {
        std::fprintf(out, "\n                    ");
        col = 20;
      }
      std::fprintf(out, " %s", n);
      col += len;
    }
    std::fprintf(out, "\n");
  }
}

uint64_t cr4_valid_bits(const CpuModel& m) {
  // CR4.PCE is always writable: RDPMC exists on every P6-family processor (it faults anyway,
  // there are no counters). VMXE, SMXE, KL, CET, PKS and the LAM/FRED bits are never supported.
  uint64_t v = cr4::PCE;
  const struct {
    Feature f;
    uint64_t bits;
  } rules[] = {
      {Feature::VME, cr4::VME | cr4::PVI},
      {Feature::TSC, cr4::TSD},
      {Feature::DE, cr4::DE},
      {Feature::PSE, cr4::PSE},
      {Feature::PAE, cr4::PAE},
      {Feature::MCE, cr4::MCE},
      {Feature::PGE, cr4::PGE},
      {Feature::FXSR, cr4::OSFXSR},
      {Feature::SSE, cr4::OSXMMEXCPT},
      {Feature::UMIP, cr4::UMIP},
      {Feature::LA57, cr4::LA57},
      {Feature::FSGSBASE, cr4::FSGSBASE},
      {Feature::PCID, cr4::PCIDE},
      {Feature::XSAVE, cr4::OSXSAVE},
      {Feature::SMEP, cr4::SMEP},
      {Feature::SMAP, cr4::SMAP},
      {Feature::PKU, cr4::PKE},
  };
  for (const auto& r : rules)
    if (m.has(r.f)) v |= r.bits;
  return v;
}

uint64_t efer_valid_bits(const CpuModel& m) {
  uint64_t v = 0;
  if (m.has(Feature::SYSCALL)) v |= efer::SCE;
  if (m.has(Feature::LM)) v |= efer::LME | efer::LMA;
  if (m.has(Feature::NX)) v |= efer::NXE;
  return v;
}

PagingFeatures paging_features_for(const CpuModel& m) {
  PagingFeatures p;
  p.maxphyaddr = m.phys_addr_bits;
  p.pages_1g = m.has(Feature::PDPE1GB);
  return p;
}

void cpuid(const CpuModel& m, uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  const bool extended = leaf >= 0x80000000u;
  if ((!extended && leaf > m.max_basic_leaf) || (extended && leaf > m.max_extended_leaf))
    leaf = m.max_basic_leaf;  // SDM vol. 2, CPUID: data of the highest basic leaf
  const uint32_t* f = m.features;
  const size_t vlen = std::strlen(m.vendor);
  const size_t blen = std::strlen(m.brand);
  switch (leaf) {
    case 0:
      set(out, m.max_basic_leaf, chars4(m.vendor, vlen, 0), chars4(m.vendor, vlen, 8),
          chars4(m.vendor, vlen, 4));
      return;
    case 1: {
      // EAX: stepping[3:0] model[7:4] family[11:8] extended model[19:16] extended family[27:20]
      // (SDM vol. 2, figure 3-6). EBX: brand index 0, CLFLUSH line size in 8-byte units
      // (8 = 64 bytes), one logical processor, initial APIC ID 0.
      const uint32_t fam = m.family, mod = m.model;
      uint32_t eax = (m.stepping & 0xF) | ((mod & 0xF) << 4) | ((fam < 0xF ? fam : 0xF) << 8);
      if (fam == 6 || fam == 0xF) eax |= ((mod >> 4) & 0xF) << 16;
      if (fam >= 0xF) eax |= ((fam - 0xF) & 0xFF) << 20;
      const uint32_t ebx = (m.has(Feature::CLFSH) ? 8u << 8 : 0) | (1u << 16);
      set(out, eax, ebx, f[kLeaf1Ecx], f[kLeaf1Edx]);
      return;
    }
    case 7:
      // Subleaf 0 only: EAX = the highest subleaf (0).
      if (subleaf == 0)
        set(out, 0, f[kLeaf7Ebx], f[kLeaf7Ecx], f[kLeaf7Edx]);
      else
        set(out, 0, 0, 0, 0);
      return;
    case 0xD:
      // XSAVE state enumeration (SDM vol. 1, 13.2): x87 and SSE only, so the area is always the
      // 512-byte legacy region plus the 64-byte header whatever XCR0 enables. Sub-leaf 0: EAX =
      // supported XCR0 bits, EBX = size for the enabled ones, ECX = size for all. Sub-leaf 1:
      // EAX bit 0 = XSAVEOPT (XSAVEC, XGETBV ECX=1 and XSAVES are not implemented).
      if (!m.has(Feature::XSAVE))
        set(out, 0, 0, 0, 0);
      else if (subleaf == 0)
        set(out, 0x3, 576, 576, 0);
      else if (subleaf == 1)
        set(out, 0x1, 0, 0, 0);
      else
        set(out, 0, 0, 0, 0);
      return;
    case 0x15:
      // TSC = crystal * EBX / EAX (SDM vol. 2, CPUID leaf 15H).
      set(out, 1, static_cast<uint32_t>(m.tsc_hz / m.crystal_hz), m.crystal_hz, 0);
      return;
    case 0x16: {
      // Base and maximum frequency in MHz (the TSC's nominal frequency), bus 100 MHz.
      const uint32_t mhz = static_cast<uint32_t>(m.tsc_hz / 1'000'000);
      set(out, mhz, mhz, 100, 0);
      return;
    }
    case 0x80000000:
      set(out, m.max_extended_leaf, 0, 0, 0);
      return;
    case 0x80000001:
      set(out, 0, 0, f[kExt1Ecx], f[kExt1Edx]);
      return;
    case 0x80000002:
    case 0x80000003:
    case 0x80000004: {
      // The brand string, 16 bytes per leaf, NUL-padded (SDM vol. 2, CPUID, 3.2 "brand string").
      const size_t at = (leaf - 0x80000002u) * 16;
      set(out, chars4(m.brand, blen, at), chars4(m.brand, blen, at + 4),
          chars4(m.brand, blen, at + 8), chars4(m.brand, blen, at + 12));
      return;
    }
    case 0x80000007:
      set(out, 0, 0, 0, f[kExt7Edx]);
      return;
    case 0x80000008:
      set(out, m.phys_addr_bits | (uint32_t{m.linear_addr_bits} << 8), 0, 0, 0);
      return;
    default:
      // Leaves inside the range that describe nothing Umbra has (cache and topology
      // enumeration, power management, performance monitoring, XSAVE, ...): all zero, which
      // each leaf's definition reads as "not present".
      set(out, 0, 0, 0, 0);
      return;
  }
}

void cpuid_for(const CpuState& cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
  const CpuModel& m = model_of(cpu);
  const uint64_t misc = cpu.msr_misc_enable;
  cpuid(m, leaf, subleaf, out);
  // IA32_MISC_ENABLE.LIMIT_CPUID: leaf 0 reports a maximum of 2 (SDM vol. 4, table 2-2). Only
  // the reported maximum changes; the leaves above still answer.
  if (leaf == 0 && (misc & misc_enable::LIMIT_CPUID) && out[0] > 2) out[0] = 2;
  if (leaf == 1) {
    if ((cpu.cr4 & cr4::OSXSAVE) && m.has(Feature::XSAVE)) out[2] |= feature_mask(Feature::OSXSAVE);
  } else if (leaf == 7 && subleaf == 0) {
    if ((cpu.cr4 & cr4::PKE) && m.has(Feature::PKU)) out[2] |= feature_mask(Feature::OSPKE);
  } else if (leaf == 0x80000001) {
    if (misc & misc_enable::XD_DISABLE) out[3] &= ~feature_mask(Feature::NX);
  }
}

}  // namespace umbra
