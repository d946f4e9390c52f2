// Internal to the native runner: the shared-memory block and the child's entry point.
#pragma once

#include <cstdint>

#include "layout.h"
#include "native_runner.h"

namespace difftest {

struct NativeShared {
  volatile uint32_t progress;  // index of the case the child is running (for crash reports)
  uint32_t capacity;
  uint32_t options;  // kChild* bits
  uint32_t pad;
  // Followed by CaseInput[capacity] and CaseOutput[capacity] (page aligned).
};

// NativeShared::options: give the child an LDT (native_child.cpp, install_ldt).
constexpr uint32_t kChildLdt = 1u << 0;

// Reply codes on the ack pipe besides "batch done" (which echoes the batch end).
constexpr uint32_t kChildReady = 0x52454459;        // "READY"
constexpr uint32_t kChildSetupFailed = 0x4641494c;  // followed by an errno and a step number

CaseInput* shared_inputs(NativeShared* s);
CaseOutput* shared_outputs(NativeShared* s);

// Runs in the forked child; never returns.
[[noreturn]] void native_child_main(NativeShared* shared, int cmd_fd, int ack_fd);

}  // namespace difftest
