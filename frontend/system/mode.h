// The CPU's operating mode, derived from CR0, EFER and the CS/SS descriptor caches
// (SDM vol. 3, 2.2 and 9.8.5). Whoever changes CR0.PE/PG, EFER.LME/LMA, CS or SS calls
// update_cpu_mode() so the derived fields in CpuState (cpl, mode64, code32, stack32) stay true.
#pragma once

#include "frontend/cpu_state.h"

namespace umbra {

namespace cr0 {
constexpr uint64_t PE = 1u << 0, MP = 1u << 1, EM = 1u << 2, TS = 1u << 3, ET = 1u << 4,
                   NE = 1u << 5, WP = 1u << 16, AM = 1u << 18, NW = 1u << 29, CD = 1u << 30,
                   PG = 1u << 31;
}
namespace cr4 {
constexpr uint64_t VME = 1u << 0, PVI = 1u << 1, TSD = 1u << 2, DE = 1u << 3, PSE = 1u << 4,
                   PAE = 1u << 5, MCE = 1u << 6, PGE = 1u << 7, PCE = 1u << 8,
                   OSFXSR = 1u << 9, OSXMMEXCPT = 1u << 10, UMIP = 1u << 11, LA57 = 1u << 12,
                   FSGSBASE = 1u << 16, PCIDE = 1u << 17, OSXSAVE = 1u << 18, SMEP = 1u << 20,
                   SMAP = 1u << 21, PKE = 1u << 22;
}
namespace efer {
constexpr uint64_t SCE = 1u << 0, LME = 1u << 8, LMA = 1u << 10, NXE = 1u << 11;
}

inline bool protected_mode(const CpuState& cpu) { return cpu.cr0 & cr0::PE; }
inline bool v86_mode(const CpuState& cpu) { return protected_mode(cpu) && (cpu.rflags & rf::VM); }
inline bool long_mode_active(const CpuState& cpu) { return cpu.efer & efer::LMA; }

// Recomputes cpl, mode64, code32, stack32 from CR0, EFER, RFLAGS.VM and the CS/SS caches.
// Real mode: CPL 0, 16-bit unless the cached CS.D says otherwise ("unreal"/big-real code).
// Virtual-8086: CPL 3, 16-bit. Protected/long: CPL = CS.DPL as cached at the last CS load
// (equal to CS.RPL there), 64-bit code when EFER.LMA and CS.L.
void update_cpu_mode(CpuState& cpu);

}  // namespace umbra
