// Runs test cases in Umbra: a Flat64Machine at CPL 3 whose address translator maps exactly the
// pages the native child maps, with the same permissions, and raises #PF like the host would.
#pragma once

#include <cstdint>
#include <memory>

#include "layout.h"
#include "umbra_system.h"

namespace umbra {
class Flat64Machine;
}

namespace difftest {

class DifftestTranslator;

class UmbraRunner {
 public:
  // `system`: the GDT, IDT, TSS and control registers that mirror the host (umbra_system.h).
  explicit UmbraRunner(const SystemImage& system);
  ~UmbraRunner();
  UmbraRunner(const UmbraRunner&) = delete;
  UmbraRunner& operator=(const UmbraRunner&) = delete;

  // Runs one case. `fresh`: build a new machine for it instead of reusing the previous one
  // (used to confirm mismatches are not an artefact of state left over from earlier cases).
  void run(const CaseInput& in, CaseOutput* out, bool fresh = false);

 private:
  std::unique_ptr<DifftestTranslator> translator_;
  std::unique_ptr<umbra::Flat64Machine> machine_;
  SystemImage system_;
  uint16_t host_sel_[kNumSegs] = {};  // the harness process's selectors (SegIndex order)
};

}  // namespace difftest
