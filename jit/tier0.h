// Tier 0: runs decoded blocks by calling each instruction's semantic handler in turn
// (docs/engine.md). Blocks are decoded once, cached by (physical address, mode), found from the
// guest RIP through a small direct-mapped jump cache, and linked to their successors.
#pragma once

#include <cstdint>
#include <memory>

#include "frontend/cpu_state.h"
#include "jit/block_cache.h"
#include "jit/engine.h"

namespace umbra {

struct EngineStats {
  uint64_t blocks_built = 0;
  uint64_t blocks_invalidated = 0;
  uint64_t jump_cache_hits = 0;
  uint64_t jump_cache_misses = 0;
  uint64_t chain_hits = 0;
  uint64_t faults = 0;
};

class Tier0Engine {
 public:
  explicit Tier0Engine(CpuState& cpu);
  ~Tier0Engine();
  Tier0Engine(const Tier0Engine&) = delete;
  Tier0Engine& operator=(const Tier0Engine&) = delete;

  // Runs until HLT, an exception (there is no delivery mechanism yet: the run stops with
  // kExitFault and the CPU state as before the faulting instruction), an exit request, or
  // until at least `max_insns` instructions have retired (checked at block boundaries).
  RunResult run(uint64_t max_insns);

  // Drops every block whose code lies on the physical page at `page_paddr`.
  void invalidate_page(uint64_t page_paddr);
  // Drops every block (mode change of the whole machine, tests).
  void flush();

  // Print every block as it is decoded (Capstone disassembly) to stderr: --disas.
  void set_trace_blocks(bool on) { trace_blocks_ = on; }

  const EngineStats& stats() const { return stats_; }
  BlockCache& blocks() { return cache_; }

 private:
  const Block* find_block();
  const Block* build_block(uint64_t rip, uint32_t mode_key);

  CpuState& cpu_;
  BlockCache cache_;
  EngineStats stats_;
  const Block* running_ = nullptr;  // block currently executing (for SMC detection)
  uint64_t running_rip_ = 0;        // RIP at which running_ was entered
  bool trace_blocks_ = false;
};

}  // namespace umbra
