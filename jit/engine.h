// Execution engine interface shared by tier 0 and (later) tier 1.
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

// Bits of CpuState::exit_request and reasons a run ends.
enum ExitReason : uint32_t {
  kExitNone = 0,
  kExitHalt = 1u << 0,        // HLT executed (RIP is past the HLT)
  kExitFault = 1u << 1,       // an exception was raised and no delivery mechanism is installed
  kExitInsnLimit = 1u << 2,   // the instruction budget of this run is used up
  kExitRequested = 1u << 3,   // someone (monitor, device, test) asked the CPU to stop
  kExitCodeChanged = 1u << 4, // the running block's code was overwritten: leave the block now
  kExitShutdown = 1u << 5,    // the machine powers off / resets (see the other bits)
  kExitTripleFault = 1u << 6, // with kExitShutdown: a triple fault (SDM vol. 3, 6.15, #DF)
  kExitInterrupt = 1u << 7,   // a device asserted an interrupt line: check at block boundary
  // Tier-1 code specialized to a linear address was entered at another one (the same physical
  // code through another mapping) and ran nothing; the dispatcher runs the block itself
  // (docs/jit.md "Code specialized to its address"). Never leaves the dispatcher.
  kExitRipMismatch = 1u << 8,
};

// The CPU's view of its interrupt controller (the PIC/APIC arrive with the platform work).
// cpu.irq_line mirrors has_interrupt() so the engine tests one byte at block boundaries; a
// controller sets it (and cpu.exit_request |= kExitInterrupt to cut the running block short)
// whenever its output changes.
class InterruptController {
 public:
  virtual ~InterruptController() = default;
  virtual bool has_interrupt() = 0;
  // INTA: returns the vector of the highest-priority pending interrupt and marks it in service.
  virtual uint8_t acknowledge() = 0;
};

struct RunResult {
  uint32_t reason;      // ExitReason bits
  uint8_t vector;       // for kExitFault
  uint32_t error_code;  // for kExitFault, kNoErrorCode if none
  uint64_t fault_addr;  // for #PF
  uint64_t insns;       // instructions retired during this run
};

}  // namespace umbra
