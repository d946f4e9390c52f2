// The CPU model: what the guest is told about the processor (CPUID) and which optional
// architectural features exist (CR4 bits, MSRs, instructions). One table per model; the
// default model "umbra" advertises exactly what Umbra implements (docs/cpu_model.md).
//
// Feature bits live in the same words CPUID returns them in, so a model is a list of set bits
// and CPUID is a table lookup. Work that implements a new feature (the FPU/SSE work, the APIC)
// flips its bits in kUmbraFeatures (cpu_model.cpp); everything that depends on the bit (CR4's
// writable mask, instruction #UD checks, MSRs) follows from the table.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string_view>

#include "frontend/cpu_state.h"

namespace umbra {

// The CPUID output registers a feature bit is reported in.
enum FeatureWord : uint8_t {
  kLeaf1Edx,  // CPUID.01H:EDX
  kLeaf1Ecx,  // CPUID.01H:ECX
  kLeaf7Ebx,  // CPUID.(EAX=07H,ECX=0):EBX
  kLeaf7Ecx,  // CPUID.(EAX=07H,ECX=0):ECX
  kLeaf7Edx,  // CPUID.(EAX=07H,ECX=0):EDX
  kExt1Edx,   // CPUID.80000001H:EDX
  kExt1Ecx,   // CPUID.80000001H:ECX
  kExt7Edx,   // CPUID.80000007H:EDX
  kNumFeatureWords
};

// A feature: word * 32 + bit (SDM vol. 2, CPUID, tables 3-10, 3-11 and the leaf 07H/80000001H
// descriptions).
// clang-format off
enum class Feature : uint16_t {
#define F(word, bit) ((word) * 32 + (bit))
  // CPUID.01H:EDX
  FPU = F(kLeaf1Edx, 0), VME = F(kLeaf1Edx, 1), DE = F(kLeaf1Edx, 2), PSE = F(kLeaf1Edx, 3),
  TSC = F(kLeaf1Edx, 4), MSR = F(kLeaf1Edx, 5), PAE = F(kLeaf1Edx, 6), MCE = F(kLeaf1Edx, 7),
  CX8 = F(kLeaf1Edx, 8), APIC = F(kLeaf1Edx, 9), SEP = F(kLeaf1Edx, 11),
  MTRR = F(kLeaf1Edx, 12), PGE = F(kLeaf1Edx, 13), MCA = F(kLeaf1Edx, 14),
  CMOV = F(kLeaf1Edx, 15), PAT = F(kLeaf1Edx, 16), PSE36 = F(kLeaf1Edx, 17),
  CLFSH = F(kLeaf1Edx, 19), MMX = F(kLeaf1Edx, 23), FXSR = F(kLeaf1Edx, 24),
  SSE = F(kLeaf1Edx, 25), SSE2 = F(kLeaf1Edx, 26), HTT = F(kLeaf1Edx, 28),
  // CPUID.01H:ECX
  SSE3 = F(kLeaf1Ecx, 0), PCLMULQDQ = F(kLeaf1Ecx, 1), MONITOR = F(kLeaf1Ecx, 3),
  VMX = F(kLeaf1Ecx, 5), SSSE3 = F(kLeaf1Ecx, 9), FMA = F(kLeaf1Ecx, 12),
  CX16 = F(kLeaf1Ecx, 13), PCID = F(kLeaf1Ecx, 17), SSE4_1 = F(kLeaf1Ecx, 19),
  SSE4_2 = F(kLeaf1Ecx, 20), X2APIC = F(kLeaf1Ecx, 21), MOVBE = F(kLeaf1Ecx, 22),
  POPCNT = F(kLeaf1Ecx, 23), TSC_DEADLINE = F(kLeaf1Ecx, 24), AES = F(kLeaf1Ecx, 25),
  XSAVE = F(kLeaf1Ecx, 26), OSXSAVE = F(kLeaf1Ecx, 27), AVX = F(kLeaf1Ecx, 28),
  F16C = F(kLeaf1Ecx, 29), RDRAND = F(kLeaf1Ecx, 30), HYPERVISOR = F(kLeaf1Ecx, 31),
  // CPUID.(EAX=07H,ECX=0):EBX
  FSGSBASE = F(kLeaf7Ebx, 0), TSC_ADJUST = F(kLeaf7Ebx, 1), BMI1 = F(kLeaf7Ebx, 3),
  AVX2 = F(kLeaf7Ebx, 5), FDP_EXCPTN_ONLY = F(kLeaf7Ebx, 6), SMEP = F(kLeaf7Ebx, 7),
  BMI2 = F(kLeaf7Ebx, 8), ERMS = F(kLeaf7Ebx, 9), INVPCID = F(kLeaf7Ebx, 10),
  FPU_CSDS_DEPRECATED = F(kLeaf7Ebx, 13), RDSEED = F(kLeaf7Ebx, 18), ADX = F(kLeaf7Ebx, 19),
  SMAP = F(kLeaf7Ebx, 20), CLFLUSHOPT = F(kLeaf7Ebx, 23), CLWB = F(kLeaf7Ebx, 24),
  // CPUID.(EAX=07H,ECX=0):ECX
  UMIP = F(kLeaf7Ecx, 2), PKU = F(kLeaf7Ecx, 3), OSPKE = F(kLeaf7Ecx, 4),
  LA57 = F(kLeaf7Ecx, 16), RDPID = F(kLeaf7Ecx, 22),
  // CPUID.(EAX=07H,ECX=0):EDX
  SPEC_CTRL = F(kLeaf7Edx, 26), ARCH_CAPABILITIES = F(kLeaf7Edx, 29),
  // CPUID.80000001H:EDX
  SYSCALL = F(kExt1Edx, 11), NX = F(kExt1Edx, 20), PDPE1GB = F(kExt1Edx, 26),
  RDTSCP = F(kExt1Edx, 27), LM = F(kExt1Edx, 29),
  // CPUID.80000001H:ECX
  LAHF_LM = F(kExt1Ecx, 0), LZCNT = F(kExt1Ecx, 5), PREFETCHW = F(kExt1Ecx, 8),
  // CPUID.80000007H:EDX
  INVARIANT_TSC = F(kExt7Edx, 8),
#undef F
};
// clang-format on

constexpr unsigned feature_word(Feature f) {
  return static_cast<unsigned>(f) / 32;
}
constexpr uint32_t feature_mask(Feature f) {
  return uint32_t{1} << (static_cast<unsigned>(f) % 32);
}

struct CpuModel {
  const char* name;         // -cpu NAME
  const char* description;  // one line for -cpu help
  const char* vendor;       // 12 characters (CPUID.0:EBX,EDX,ECX)
  const char* brand;        // up to 47 characters (CPUID.80000002H-80000004H)
  uint8_t family, model, stepping;
  uint32_t max_basic_leaf;      // CPUID.0:EAX
  uint32_t max_extended_leaf;   // CPUID.80000000H:EAX
  uint8_t phys_addr_bits;       // MAXPHYADDR (CPUID.80000008H:EAX[7:0])
  uint8_t linear_addr_bits;     // CPUID.80000008H:EAX[15:8]
  uint64_t tsc_hz;              // nominal TSC frequency (CPUID.15H/16H; frontend/system/tsc.h)
  uint32_t crystal_hz;          // core crystal clock (CPUID.15H:ECX); tsc_hz is a multiple of it
  uint32_t microcode_revision;  // IA32_BIOS_SIGN_ID[63:32]
  uint8_t mtrr_variable_count;  // IA32_MTRRCAP.VCNT
  uint32_t features[kNumFeatureWords];

  bool has(Feature f) const { return features[feature_word(f)] & feature_mask(f); }
};

// The model `-cpu NAME` selects, or nullptr if there is none of that name.
const CpuModel* find_cpu_model(std::string_view name);
// The model used when no -cpu option is given (and by a CpuState whose cpu_model is null).
const CpuModel& default_cpu_model();
// Prints every model (name and description) and the features of each, for `-cpu help`.
void list_cpu_models(FILE* out);
// Every defined model, for tests and listings.
const CpuModel* const* all_cpu_models(unsigned* count);

// CPUID as the model defines it, independent of any CPU's run-time state: out = EAX, EBX, ECX,
// EDX. Leaves above the maximum (basic or extended) return the highest basic leaf, as Intel
// processors do (SDM vol. 2, CPUID, "INPUT EAX = 0").
void cpuid(const CpuModel& model, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

// CPUID as executed by `cpu`: the model's values plus the bits that reflect run-time state
// (CR4.OSXSAVE, CR4.PKE -> OSPKE, IA32_MISC_ENABLE's limit-CPUID-maxval and XD-disable bits).
void cpuid_for(const CpuState& cpu, uint32_t leaf, uint32_t subleaf, uint32_t out[4]);

// The CPU's model (the default model when none has been attached).
inline const CpuModel& model_of(const CpuState& cpu) {
  return cpu.cpu_model ? *cpu.cpu_model : default_cpu_model();
}
inline bool cpu_has(const CpuState& cpu, Feature f) {
  return model_of(cpu).has(f);
}

// The CR4 bits a MOV to CR4 may set on this model (the others are reserved: #GP(0)), and the
// IA32_EFER bits WRMSR may set (SDM vol. 3, 2.5 and 2.2.1). Both follow from the feature bits.
uint64_t cr4_valid_bits(const CpuModel& model);
uint64_t efer_valid_bits(const CpuModel& model);

// What the page walker must assume for this model (MAXPHYADDR, 1-GByte pages): pass it to the
// PagingTranslator so that CPUID and the walker agree (softmmu/page_walk.h).
struct PagingFeatures;
PagingFeatures paging_features_for(const CpuModel& model);

// The name of a feature as Linux's /proc/cpuinfo spells it ("fsgsbase", "lm", ...).
const char* feature_name(Feature f);
// Every named feature, in CPUID order.
const Feature* all_features(unsigned* count);

}  // namespace umbra
