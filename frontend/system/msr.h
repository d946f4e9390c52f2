// Model-specific registers (SDM vol. 4, table 2-2 "IA-32 Architectural MSRs"; vol. 3, 11.11
// MTRRs, 11.12 PAT). RDMSR/WRMSR (frontend/semantics/system_msr.cpp) and anything else that
// needs an MSR (the monitor, a future VM-entry-like state loader) go through read_msr() and
// write_msr(), which apply every reserved-bit and canonical-address rule.
//
// The common MSRs live in named CpuState fields (msr_star, msr_pat, ...); the rest (MTRRs, ...)
// in MsrFile, which CpuState holds inline. This header is included by cpu_state.h, so it
// depends on nothing but <cstdint>.
#pragma once

#include <cstdint>

namespace umbra {

struct CpuState;
struct CpuModel;

// MSR numbers (SDM vol. 4, table 2-2).
namespace msr {
constexpr uint32_t TSC = 0x10;
constexpr uint32_t PLATFORM_ID = 0x17;
constexpr uint32_t APIC_BASE = 0x1B;
constexpr uint32_t FEATURE_CONTROL = 0x3A;  // IA32_FEATURE_CONTROL
constexpr uint32_t TSC_ADJUST = 0x3B;       // IA32_TSC_ADJUST
constexpr uint32_t BIOS_SIGN_ID = 0x8B;  // microcode update signature (IA32_BIOS_SIGN_ID)
constexpr uint32_t MTRRCAP = 0xFE;
constexpr uint32_t SYSENTER_CS = 0x174;
constexpr uint32_t SYSENTER_ESP = 0x175;
constexpr uint32_t SYSENTER_EIP = 0x176;
constexpr uint32_t MISC_ENABLE = 0x1A0;
constexpr uint32_t MTRR_PHYSBASE0 = 0x200;  // PHYSBASEn = 0x200 + 2n, PHYSMASKn = 0x201 + 2n
constexpr uint32_t MTRR_FIX64K_00000 = 0x250;
constexpr uint32_t MTRR_FIX16K_80000 = 0x258;
constexpr uint32_t MTRR_FIX16K_A0000 = 0x259;
constexpr uint32_t MTRR_FIX4K_C0000 = 0x268;  // .. 0x26F (FIX4K_F8000)
constexpr uint32_t PAT = 0x277;
constexpr uint32_t MTRR_DEF_TYPE = 0x2FF;
constexpr uint32_t EFER = 0xC0000080;
constexpr uint32_t STAR = 0xC0000081;
constexpr uint32_t LSTAR = 0xC0000082;
constexpr uint32_t CSTAR = 0xC0000083;
constexpr uint32_t FMASK = 0xC0000084;
constexpr uint32_t FS_BASE = 0xC0000100;
constexpr uint32_t GS_BASE = 0xC0000101;
constexpr uint32_t KERNEL_GS_BASE = 0xC0000102;
constexpr uint32_t TSC_AUX = 0xC0000103;
}  // namespace msr

// IA32_MISC_ENABLE bits that Umbra models (SDM vol. 4, table 2-2).
namespace misc_enable {
constexpr uint64_t FAST_STRINGS = 1ull << 0;
constexpr uint64_t AUTO_THERMAL = 1ull << 3;
constexpr uint64_t BTS_UNAVAILABLE = 1ull << 11;   // read-only 1: no branch trace store
constexpr uint64_t PEBS_UNAVAILABLE = 1ull << 12;  // read-only 1: no PEBS
constexpr uint64_t LIMIT_CPUID = 1ull << 22;       // CPUID.0:EAX reports at most 2
constexpr uint64_t XTPR_DISABLE = 1ull << 23;
constexpr uint64_t XD_DISABLE = 1ull << 34;  // hides CPUID.80000001H:EDX.NX, EFER.NXE reserved
}  // namespace misc_enable

constexpr unsigned kMaxVariableMtrrs = 10;  // IA32_MTRRCAP.VCNT can address 0x200..0x213
constexpr unsigned kNumFixedMtrrs = 11;

// The MSRs without a named CpuState field.
struct MsrFile {
  uint64_t mtrr_def_type;
  uint64_t mtrr_physbase[kMaxVariableMtrrs];
  uint64_t mtrr_physmask[kMaxVariableMtrrs];
  uint64_t mtrr_fixed[kNumFixedMtrrs];  // 64K_00000, 16K_80000, 16K_A0000, 4K_C0000 .. 4K_F8000
  uint64_t tsc_last;  // last TSC value returned: keeps RDTSC strictly increasing (tsc.cpp)
  uint64_t tsc_adjust;  // IA32_TSC_ADJUST (tsc.cpp)
};

// Reads MSR `index` into *value. Returns false when RDMSR must raise #GP(0) (unknown MSR, or
// one the CPU model does not have); unknown MSRs are logged once per number on stderr.
bool read_msr(CpuState& cpu, uint32_t index, uint64_t* value);

// Writes MSR `index`. Returns false when WRMSR must raise #GP(0): unknown or read-only MSR,
// reserved bits set, a non-canonical address in a base/entry-point MSR, an invalid memory type
// in PAT or an MTRR, or an EFER change the architecture forbids (LME while paging is on).
// Side effects (mode recompute, TLB flushes for EFER.NXE) happen here.
bool write_msr(CpuState& cpu, uint32_t index, uint64_t value);

// Power-on/reset values of the MSRs Umbra models and of DR6/DR7 (SDM vol. 3, 10.1.1 table
// 10-1): PAT = 0007040600070406H, MTRRs disabled, MISC_ENABLE with fast strings, APIC base
// FEE00000H enabled (BSP), TSC = 0. Attaches `model` to the CPU (cpu.cpu_model).
void reset_model_state(CpuState& cpu, const CpuModel& model);

// Memory types valid in PAT entries and MTRRs (SDM vol. 3, table 11-8 and 11.12.2).
inline bool valid_mtrr_type(uint64_t t) {
  return t == 0 || t == 1 || t == 4 || t == 5 || t == 6;
}
inline bool valid_pat_type(uint64_t t) {
  return valid_mtrr_type(t) || t == 7;
}

}  // namespace umbra
