// Control-register writes with every architectural check, and the one place that decides which
// translations to drop when paging state changes. MOV to CRn, LMSW, CLTS, WRMSR(EFER), INVLPG,
// INVPCID (and a task switch's CR3 load) all come through here.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

// Why translations may be stale.
enum class PagingChange : uint8_t {
  ControlBits,   // CR0/CR4/EFER bits that change how addresses translate or what they grant
  AddressSpace,  // MOV to CR3, INVPCID single-context / all-context
  Page,          // INVLPG, INVPCID individual-address: the page containing `linear`
};

// Drops the cached translations `why` invalidates. Today: the whole fast TLB, or the entries of
// one (possibly large) page. The shadow-MMU work replaces the body (global pages and PCIDs
// surviving CR3 loads); every caller already says why.
void on_paging_state_changed(CpuState& cpu, PagingChange why, uint64_t linear = 0);

// After CR0, CR4 or EFER changed (old values given): flushes if translation or rights may
// differ (paging_flush_needed(), or CR0.PE changing the privilege) and recomputes the derived
// mode (update_cpu_mode).
void control_registers_written(CpuState& cpu, uint64_t old_cr0, uint64_t old_cr4,
                               uint64_t old_efer);

// MOV to CRn (SDM vol. 2, MOV-Control Registers; vol. 3, 2.5, 4.1.2, 4.10.4.1, 9.8.5). Each
// raises #GP(0) for reserved bits and invalid combinations, loads the PAE PDPTE registers when
// the write requires it (#GP(0) if they are invalid), commits, then flushes and recomputes the
// mode. `value` is the full source operand (64 bits in 64-bit mode, zero-extended 32 bits
// elsewhere). The caller checks CPL.
void write_cr0(CpuState& cpu, uint64_t value);
void write_cr3(CpuState& cpu, uint64_t value);
void write_cr4(CpuState& cpu, uint64_t value);
void write_cr8(CpuState& cpu, uint64_t value);

// CR0 as MOV from CR0 / SMSW read it: ET (bit 4) is hardwired to 1 (SDM vol. 3, 2.5).
inline uint64_t read_cr0(const CpuState& cpu) {
  return cpu.cr0 | 0x10;
}

}  // namespace umbra
