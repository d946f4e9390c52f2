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
  kExitShutdown = 1u << 5,    // the machine powers off / triple fault with -no-reboot
};

struct RunResult {
  uint32_t reason;      // ExitReason bits
  uint8_t vector;       // for kExitFault
  uint32_t error_code;  // for kExitFault, kNoErrorCode if none
  uint64_t fault_addr;  // for #PF
  uint64_t insns;       // instructions retired during this run
};

}  // namespace umbra
