// The tier-0 test entry point: a bare machine with one CPU already in 64-bit mode, flat
// segments, and guest linear addresses identity-mapped onto guest physical memory (the real
// MMU arrives with its own issue). Runs guest code until HLT or an exception.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "devices/port_bus.h"
#include "frontend/cpu_state.h"
#include "jit/engine.h"
#include "softmmu/access.h"
#include "softmmu/guest_memory.h"

namespace umbra {

class Tier0Engine;

class Flat64Machine {
 public:
  // `ram_bytes` of guest RAM at physical 0. `translator` replaces the identity mapping (the
  // difftest uses one that maps only its code and data pages); it must outlive the machine.
  explicit Flat64Machine(uint64_t ram_bytes, AddressTranslator* translator = nullptr);
  ~Flat64Machine();

  // Puts the CPU in 64-bit mode at privilege `cpl` with flat segments, RIP = rip, RSP = rsp,
  // all other GPRs zero, RFLAGS = 0x202 (IF set, as in a user process) and an empty TLB.
  void reset64(uint64_t rip, uint64_t rsp, uint8_t cpl = 0);

  bool load(uint64_t paddr, const void* bytes, size_t n) { return memory_.copy_to(paddr, bytes, n); }

  RunResult run(uint64_t max_insns = ~uint64_t{0});

  CpuState& cpu() { return *cpu_; }
  GuestMemory& memory() { return memory_; }
  PortBus& ports() { return ports_; }
  Tier0Engine& engine() { return *engine_; }

 private:
  GuestMemory memory_;
  PortBus ports_;
  IdentityTranslator identity_;
  std::unique_ptr<CpuState> cpu_;
  std::unique_ptr<Tier0Engine> engine_;
};

}  // namespace umbra
