// Runs test cases in Umbra: a Flat64Machine at CPL 3 whose address translator maps exactly the
// pages the native child maps, with the same permissions, and raises #PF like the host would.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "frontend/cpu_state.h"
#include "jit/tier1/tier1.h"
#include "layout.h"
#include "umbra_system.h"

namespace umbra {
class Flat64Machine;
}

namespace difftest {

class DifftestTranslator;

// The architectural state after a run, beyond what a CaseOutput carries (the tier comparison,
// --compare-tiers, wants all of it): the whole segment caches, descriptor-table registers,
// control registers, mode bits and the raw x87/SSE registers, plus how the run ended.
struct ArchSnapshot {
  uint64_t rflags = 0;  // read_rflags: every bit, the undefined status flags included
  umbra::SegmentCache seg[umbra::kNumSegRegs] = {};
  umbra::SegmentCache ldtr = {}, tr = {};
  umbra::DescriptorTableReg gdtr = {}, idtr = {};
  uint64_t cr0 = 0, cr2 = 0, cr3 = 0, cr4 = 0, efer = 0;
  uint8_t cpl = 0, mode64 = 0, code32 = 0, stack32 = 0, halted = 0;
  umbra::X87State x87 = {};
  uint32_t mxcsr = 0;
  umbra::XmmReg xmm[16] = {};
  uint32_t reason = 0;  // RunResult
  uint8_t vector = 0;
  uint32_t error_code = 0;
  uint64_t fault_addr = 0;
  uint64_t insns = 0;
  uint8_t sys_pages[kSysSize];  // the system pages (kernel stack with a delivered event's frame)
};

// Tier-1 activity summed over every machine a runner used.
struct TierCounts {
  uint64_t tier1_installed = 0;
  uint64_t threaded_installed = 0;  // blocks given threaded code (docs/jit.md "Threaded code")
  uint64_t tier1_runs = 0;
  uint64_t tier1_insns = 0;
  uint64_t tier1_failed = 0;
  uint64_t blocks_built = 0;
  uint64_t insns = 0;  // instructions retired in all (either tier)
};

class UmbraRunner {
 public:
  // `system`: the GDT, IDT, TSS and control registers that mirror the host (umbra_system.h).
  // `accel`: the engines' mode (the process default, UMBRA_ACCEL, when not given).
  explicit UmbraRunner(const SystemImage& system,
                       std::optional<umbra::AccelMode> accel = std::nullopt);
  ~UmbraRunner();
  UmbraRunner(const UmbraRunner&) = delete;
  UmbraRunner& operator=(const UmbraRunner&) = delete;

  // Runs one case. `fresh`: build a new machine for it instead of reusing the previous one
  // (used to confirm mismatches are not an artefact of state left over from earlier cases).
  // `snap`: also capture the whole architectural state.
  void run(const CaseInput& in, CaseOutput* out, bool fresh = false, ArchSnapshot* snap = nullptr);

  // The mode the engines actually run in (tier 1 may have failed to start).
  umbra::AccelMode accel() const;
  TierCounts counts() const;

 private:
  std::unique_ptr<DifftestTranslator> translator_;
  std::unique_ptr<umbra::Flat64Machine> machine_;
  SystemImage system_;
  std::optional<umbra::AccelMode> accel_;
  TierCounts retired_;  // counts of machines already replaced
  uint64_t insns_ = 0;
  uint16_t host_sel_[kNumSegs] = {};  // the harness process's selectors (SegIndex order)
};

}  // namespace difftest
