// The guest page walker: linear -> physical through the guest's own paging structures, in every
// paging mode of the Intel SDM vol. 3, chapter 4 (no paging, 32-bit, PAE, 4-level, 5-level), with
// the access-rights rules of 4.6, the #PF error code of 4.7 and the accessed/dirty updates of 4.8.
//
// Two entry points share one implementation:
//  - walk():       the architectural walk a memory access performs. Sets A/D bits when (and only
//                  when) the access is permitted. Never raises: the caller turns a failed result
//                  into #PF (raise_page_fault() or PagingTranslator).
//  - probe_walk(): the same walk without any side effect (no A/D update, no MMIO read, no fault),
//                  for the monitor and for debugging. It reports every level's entry and the
//                  reason the access would fault.
//
// Canonical-address checks are the caller's (access.cpp raises #GP/#SS before translating).
// docs/softmmu.md describes how this fits into the access path.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"
#include "frontend/system/mode.h"
#include "softmmu/access.h"

namespace umbra {

// Properties of the CPU model that change how paging structures are interpreted. The CPU model
// (CPUID) and the walker must agree, so the system code never builds one by hand: it comes from
// paging_features_for(model) (frontend/system/cpu_model.h), which paging_features(cpu) in
// paging_translator.h applies to the CPU's model. walk() takes it as a parameter so tests can try
// any MAXPHYADDR.
struct PagingFeatures {
  // MAXPHYADDR, CPUID.80000008H:EAX[7:0]. Entry bits MAXPHYADDR..51 are reserved (SDM vol. 3,
  // 4.4.2, 4.5.4). Valid range 36..52; 32-bit paging's 4-MByte pages use min(this, 40) (4.3).
  uint8_t maxphyaddr = 40;
  // 1-GByte pages, CPUID.80000001H:EDX.Page1GB[bit 26]. When false, PS=1 in a 4-level PDPTE is a
  // reserved-bit violation (SDM vol. 3, 4.5.4).
  bool pages_1g = true;
  // PSE-36 (CPUID.01H:EDX[17]) is always supported: a 4-MByte PDE supplies physical address bits
  // 32..min(MAXPHYADDR,40)-1 from its bits 13.. (SDM vol. 3, 4.3, table 4-4).
  // Protection keys are not advertised: bits 62:59 of leaf entries are ignored (CR4.PKE cannot be
  // set). 5-level paging is implemented here, but the CPU model does not advertise LA57 yet.
};

// The paging mode selected by CR0.PG, CR4.PAE, EFER.LMA and CR4.LA57 (SDM vol. 3, 4.1.1).
enum class PagingMode : uint8_t { kNone, k32Bit, kPae, k4Level, k5Level };
// Inline: the TLB-miss path asks several times per miss.
inline PagingMode paging_mode(uint64_t cr0, uint64_t cr4, uint64_t efer) {
  if (!(cr0 & cr0::PG)) return PagingMode::kNone;
  if (!(cr4 & cr4::PAE)) return PagingMode::k32Bit;
  if (!(efer & efer::LMA)) return PagingMode::kPae;
  return (cr4 & cr4::LA57) ? PagingMode::k5Level : PagingMode::k4Level;
}
inline PagingMode paging_mode(const CpuState& cpu) {
  return paging_mode(cpu.cr0, cpu.cr4, cpu.efer);
}
const char* paging_mode_name(PagingMode mode);

// Who performs an access, in the terms of SDM vol. 3, 4.6.
enum class Privilege : uint8_t {
  kSupervisor,          // explicit access at CPL 0, 1 or 2
  kUser,                // explicit access at CPL 3 ("user-mode access")
  kImplicitSupervisor,  // implicit supervisor-mode access at any CPL: GDT/LDT/IDT/TSS references,
                        // the event-delivery stack of a privilege change. SMAP applies to it
                        // regardless of EFLAGS.AC, and its #PF error code has U/S = 0.
};

struct AccessIntent {
  Access access;
  Privilege privilege;
};

// The intent of an ordinary (explicit) access by the CPU at its current privilege.
inline AccessIntent explicit_intent(const CpuState& cpu, Access access) {
  return AccessIntent{access, cpu.cpl == 3 ? Privilege::kUser : Privilege::kSupervisor};
}
inline AccessIntent implicit_supervisor_intent(Access access) {
  return AccessIntent{access, Privilege::kImplicitSupervisor};
}

// Outcome of a walk. Everything but kOk is a #PF; the kind tells which rule failed.
enum class WalkStatus : uint8_t {
  kOk,
  kNotPresent,        // P = 0 in the entry at fault_level
  kReservedBit,       // a reserved bit is set in the (present) entry at fault_level
  kUserToSupervisor,  // user-mode access to a supervisor-mode address (U/S = 0 at some level)
  kReadOnly,          // write without R/W = 1 at every level (user, or supervisor with CR0.WP)
  kExecuteDisabled,   // fetch with XD = 1 at some level, EFER.NXE = 1
  kSmep,              // supervisor fetch from a user-mode address, CR4.SMEP = 1
  kSmap,              // supervisor data access to a user-mode address, CR4.SMAP = 1 and
                      // (EFLAGS.AC = 0 or an implicit access)
};
constexpr unsigned kNumWalkStatus = 8;
const char* walk_status_name(WalkStatus status);

// #PF error-code bits (SDM vol. 3, 4.7, figure 4-12).
namespace pf_error {
constexpr uint32_t P = 1u << 0;     // 0: not present; 1: protection or reserved-bit violation
constexpr uint32_t W = 1u << 1;     // the access was a write
constexpr uint32_t U = 1u << 2;     // the access was a user-mode access
constexpr uint32_t RSVD = 1u << 3;  // reserved bit set in a paging-structure entry
constexpr uint32_t ID = 1u << 4;    // instruction fetch, reported only with SMEP or PAE+NXE
constexpr uint32_t PK = 1u << 5;    // protection key (never: PKE is not advertised)
}  // namespace pf_error

// Paging-structure entry bits common to every mode (SDM vol. 3, tables 4-4 .. 4-20).
namespace pte {
constexpr uint64_t P = 1u << 0, RW = 1u << 1, US = 1u << 2, PWT = 1u << 3, PCD = 1u << 4,
                   A = 1u << 5, D = 1u << 6, PS = 1u << 7, G = 1u << 8;
constexpr uint64_t PAT_4K = 1u << 7;      // bit 7 of a PTE (4-KByte page)
constexpr uint64_t PAT_LARGE = 1u << 12;  // bit 12 of a PDE/PDPTE that maps a page
constexpr uint64_t XD = uint64_t{1} << 63;
}  // namespace pte

// Access rights of a translation: the combination over every paging-structure entry that
// controls it (SDM vol. 3, 4.6). PAE PDPTEs carry no rights and do not take part.
struct PageRights {
  bool user;        // U/S = 1 at every level: a user-mode address
  bool writable;    // R/W = 1 at every level
  bool no_execute;  // XD = 1 at some level (only meaningful with EFER.NXE = 1)
};

// The control bits that decide whether an access with given rights is allowed.
struct PagingControls {
  PagingMode mode;
  bool wp;    // CR0.WP
  bool nx;    // execute-disable in force: EFER.NXE and PAE/4-level/5-level paging
  bool smep;  // CR4.SMEP
  bool smap;  // CR4.SMAP
  bool ac;    // EFLAGS.AC
};
inline PagingControls paging_controls(const CpuState& cpu) {
  const PagingMode mode = paging_mode(cpu);
  return PagingControls{
      mode,
      (cpu.cr0 & cr0::WP) != 0,
      // 32-bit paging has no XD bit: EFER.NXE changes nothing there (4.6.1).
      mode != PagingMode::k32Bit && (cpu.efer & efer::NXE) != 0,
      (cpu.cr4 & cr4::SMEP) != 0,
      (cpu.cr4 & cr4::SMAP) != 0,
      (cpu.rflags & rf::AC) != 0,
  };
}

// Whether an access with `intent` is allowed on a translation with `rights` (SDM vol. 3, 4.6.1).
// Returns kOk or the protection status that forbids it.
WalkStatus check_access_rights(const PagingControls& controls, const PageRights& rights,
                               AccessIntent intent);

// The #PF error code for a walk that ended in `status` (SDM vol. 3, 4.7).
uint32_t page_fault_error_code(const CpuState& cpu, WalkStatus status, AccessIntent intent);

// One paging-structure entry used by a walk.
struct WalkLevel {
  uint64_t entry_addr;  // guest physical address of the entry
  uint64_t entry;       // its value as the walk read it (before this walk's A/D update)
  uint8_t level;        // 5 = PML5E, 4 = PML4E, 3 = PDPTE, 2 = PDE, 1 = PTE
  uint8_t entry_size;   // 4 (32-bit paging) or 8 bytes
  bool from_register;   // a PAE PDPTE register (loaded at the last CR write, SDM 4.4.1)
  bool maps_page;       // the leaf: maps the page rather than referencing a table
};

constexpr unsigned kMaxWalkLevels = 5;

struct WalkResult {
  WalkStatus status = WalkStatus::kOk;
  PagingMode mode = PagingMode::kNone;
  uint32_t error_code = 0;  // the #PF error code when status != kOk
  uint8_t fault_level = 0;  // level of the entry behind kNotPresent / kReservedBit
  uint8_t num_levels = 0;   // entries in levels[], root first
  bool dirty = false;       // the leaf's D bit after the walk
  uint64_t paddr = 0;       // physical address of `linear`, when a translation exists
  uint64_t page_size = 0;   // 4 KiB, 2 MiB, 4 MiB or 1 GiB, when a translation exists
  PageRights rights{true, true, false};
  WalkLevel levels[kMaxWalkLevels] = {};

  bool ok() const { return status == WalkStatus::kOk; }
  // A translation exists (the walk reached a leaf) even if the access is not permitted.
  bool has_translation() const {
    return status != WalkStatus::kNotPresent && status != WalkStatus::kReservedBit;
  }
};

// The architectural walk of `linear` for `intent`. On success sets the accessed flag of every
// entry used and, for a write, the dirty flag of the leaf (SDM vol. 3, 4.8), each with an atomic
// compare-exchange on guest memory; if an entry changed under the walk, the walk starts over.
// A walk that fails (not present, reserved bit, or access not permitted) changes nothing: Intel
// processors complete the walk and check rights before writing A/D bits, which KVM's walker also
// models. Linear addresses outside IA-32e mode are 32 bits: the upper half of `linear` is ignored.
WalkResult walk(CpuState& cpu, uint64_t linear, AccessIntent intent,
                const PagingFeatures& features);

// The same walk with no side effect at all: A/D bits are not written, paging-structure entries
// outside RAM read as all ones (MMIO is never touched), nothing is raised. For the monitor.
WalkResult probe_walk(const CpuState& cpu, uint64_t linear, AccessIntent intent,
                      const PagingFeatures& features);

// Raises the #PF a failed walk describes: error code as computed, CR2 = `linear`. Never returns.
[[noreturn]] void raise_page_fault(CpuState& cpu, const WalkResult& result, uint64_t linear);

// ---- PAE PDPTE registers (SDM vol. 3, 4.4.1) ----

// PAE paging is in use with these control-register values (CR0.PG = 1, CR4.PAE = 1, EFER.LMA = 0).
bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer);

// Whether a MOV to CR0 or CR4 from (old_cr0, old_cr4) to (new_cr0, new_cr4) must load the PDPTE
// registers: PAE paging is in use afterwards and the write changes CR0.CD, CR0.NW, CR0.PG,
// CR4.PAE, CR4.PGE, CR4.PSE or CR4.SMEP (SDM vol. 3, 4.4.1; earlier editions list the first six).
bool mov_cr_loads_pdptes(uint64_t old_cr0, uint64_t old_cr4, uint64_t new_cr0, uint64_t new_cr4,
                         uint64_t efer);

// Reads the four PDPTEs of the 32-byte-aligned table at `cr3` bits 31:5 and checks them. If a
// present PDPTE sets a reserved bit (2:1, 8:5, 63:MAXPHYADDR) returns false and leaves
// cpu.pdpte unchanged: the caller raises #GP(0) and does not perform the CR write. Otherwise
// loads cpu.pdpte and returns true. Call it BEFORE committing the new CR value:
//  - MOV to CR3 while PAE paging is in use: load_pae_pdptes(cpu, new_cr3)
//  - MOV to CR0/CR4 when mov_cr_loads_pdptes(...): load_pae_pdptes(cpu, cpu.cr3)
//  - a task switch that loads CR3 while PAE paging is in use: the new CR3.
bool load_pae_pdptes(CpuState& cpu, uint64_t cr3, const PagingFeatures& features);

}  // namespace umbra
