// Tier 0: runs decoded blocks by calling each instruction's semantic handler in turn
// (docs/engine.md). Blocks are decoded once, cached by (physical address, mode), found from the
// guest RIP through a small direct-mapped jump cache, and linked to their successors.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "frontend/cpu_state.h"
#include "frontend/system/interrupts.h"
#include "jit/block_cache.h"
#include "jit/engine.h"
#include "jit/threaded/threaded_compiler.h"
#include "jit/tier1/tier1.h"

namespace umbra {

struct EngineStats {
  uint64_t blocks_built = 0;
  uint64_t blocks_invalidated = 0;
  uint64_t jump_cache_hits = 0;
  uint64_t jump_cache_misses = 0;
  uint64_t chain_hits = 0;  // successors found through a chain slot (no jump-cache lookup)
  uint64_t faults = 0;
  uint64_t events_delivered = 0;
  uint64_t double_faults = 0;
  uint64_t tier1_runs = 0;          // entries from the dispatcher into compiled code (either kind)
  uint64_t tier1_insns = 0;         // instructions retired by compiled code (chained runs too)
  uint64_t tier1_installed = 0;     // compiled blocks installed
  uint64_t tier1_regions = 0;       // ... of which regions (docs/jit.md "Regions")
  uint64_t tier1_failed = 0;        // blocks tier 1 could not compile (they stay on tier 0)
  uint64_t threaded_installed = 0;  // blocks given threaded code (docs/jit.md "Threaded code")
  uint64_t chains_linked = 0;       // chain slots filled (docs/jit.md "Chaining")
  uint64_t direct_links = 0;        // direct link sites pointed at a successor's code
  // Entries into code specialized to another linear address, and the recompiles they caused
  // (docs/jit.md "Code specialized to its address").
  uint64_t rip_mismatches = 0;
  uint64_t respecialized = 0;
};

class Tier0Engine {
 public:
  explicit Tier0Engine(CpuState& cpu);
  ~Tier0Engine();
  Tier0Engine(const Tier0Engine&) = delete;
  Tier0Engine& operator=(const Tier0Engine&) = delete;

  // Runs until HLT, an exit request, or until at least `max_insns` instructions have retired
  // (checked at block boundaries). Exceptions are delivered to the guest (IVT/IDT) when event
  // delivery is on; otherwise the run stops with kExitFault and the CPU state as before the
  // faulting instruction (the flat test machine and the difftest work that way). A triple fault
  // ends the run with kExitShutdown | kExitTripleFault.
  RunResult run(uint64_t max_insns);

  void set_deliver_events(bool on) { deliver_events_ = on; }
  // Which tiers run code (docs/jit.md); the default is default_accel_mode(). If tier 1 cannot
  // start, the engine says why once on stderr and stays on tier 0.
  void set_accel(AccelMode mode);
  AccelMode accel() const { return accel_; }
  // Executions of a tier-0 block before it is queued for tier 1 (tiered mode).
  void set_hot_threshold(uint32_t n) { hot_threshold_ = n; }
  // Executions of a tier-0 block before it gets threaded code (tiered mode; 0: never).
  void set_warm_threshold(uint32_t n) { warm_threshold_ = n; }
  // Runs of quick tier-1 code before it is replaced by optimized code (docs/jit.md "Two
  // levels"; UMBRA_JIT_OPTIMIZE sets it too).
  void set_optimize_threshold(uint64_t n) { optimize_threshold_ = n; }
  // Tier-1 compiles on the CPU thread, at the point the tier-up policy asks (UMBRA_JIT_SYNC=1):
  // the same code runs in every run (tests, callgrind).
  void set_sync_compile(bool on) { sync_compile_ = on; }
  // A hot block seen looping back to itself gets its region as its first compile (default), or
  // quick code first as every other hot block (UMBRA_JIT_LOOPS_QUICK_FIRST=1).
  void set_loops_to_region(bool on) { loops_to_region_ = on; }
  void set_interrupt_controller(InterruptController* ic) { irq_ = ic; }

  // Drops every block whose code lies on the physical page at `page_paddr`.
  void invalidate_page(uint64_t page_paddr);
  // Drops every block (mode change of the whole machine, tests).
  void flush();

  // Print every block as it is decoded (Capstone disassembly) to stderr: --disas.
  void set_trace_blocks(bool on) { trace_blocks_ = on; }

  const EngineStats& stats() const { return stats_; }
  BlockCache& blocks() { return cache_; }
  // The threaded-code compiler, once a block has been compiled (null before).
  const threaded::ThreadedCompiler* threaded() const { return threaded_.get(); }

 private:
  const Block* find_block();
  // Runs blocks until an exit; returns the exit reason bits. Called inside the fault-catching
  // region of run().
  uint32_t run_blocks(uint64_t start, uint64_t max_insns);
  // Interrupts, NMI, single-step, interrupt shadow at a block boundary; true if it did
  // something (delivered an event or ran one instruction).
  bool boundary_events();
  void run_one_instruction();
  void deliver(const Event& ev);
  const Block* build_block(uint64_t rip, uint32_t mode_key);
  // The next step up for a block the dispatcher is about to run or that code just returned
  // from: threaded code, a tier-1 request, an optimized region (docs/jit.md "Tier-up policy").
  void consider_tier_up(Block* b);
  // Gives a block threaded code (docs/jit.md "Threaded code").
  void install_threaded(Block* b);
  void release_threaded(Block* b);
  // Tier 1, set up on first use; false (and tier 0 only from then on) if it cannot be.
  bool ensure_tier1();
  // The threaded-code compiler, set up on first use (it needs tier 1's chain exits).
  bool ensure_threaded();
  // Tier 1: queue (or, in compile-everything mode, compile) a block; install finished code.
  std::vector<Block*> region_members(Block* head) const;
  bool seen_looping(Block* head) const;
  // Whether the block's runs since tier1_since are at least 1/kOptimizeShare of the
  // instructions retired since then.
  bool real_share(const Block* b) const;
  void tier_up(Block* b, bool region, bool quick);
  void consider_optimizing(Block* b);
  // Code specialized to one linear address was entered at another (kExitRipMismatch): counts
  // it, asks for code for the new address when it keeps happening; returns the block to run on
  // tier 0 this time.
  Block* rip_mismatch(Block* b);
  // Mismatches before a block's code is recompiled for the address it runs at, and recompiles
  // before its code stops being specialized at all (two mappings in turn).
  static constexpr uint32_t kRespecializeAfter = 64;
  static constexpr uint8_t kMaxRespecializations = 2;
  static constexpr uint64_t kOptimizeShare = 64;
  void install_tier1_results();
  void install_tier1(Block* b, tier1::BlockFn fn, uint64_t code, bool region, bool quick);
  static void on_block_freed(void* self, const Block& b);
  static void on_block_retired(void* self, Block& b);
  void chain(Block* from, Block* to);
  // Points the direct link sites of `from`'s threaded code at the code its slots hold for their
  // successors, or back at the slot tests (docs/jit.md "Direct links").
  void relink(Block* from);
  Block* successor(const Block* from) const;
  // The block executing now: tier-1 code records itself (chaining moves between blocks without
  // the dispatcher), tier 0 in running_.
  const Block* running_block() const {
    return cpu_.tier1_block ? static_cast<const Block*>(cpu_.tier1_block) : running_;
  }
  // The running block and the region whose code runs it (a write to either stops the code).
  BlockCache::Running running_blocks() const {
    return {running_block(), static_cast<const Block*>(cpu_.tier1_region)};
  }
  // In the compile-everything mode, a block is compiled on its first run and again, as a region
  // with the successors seen by then, on this run (so the tests run region code too).
  static constexpr uint64_t kCompileAllRegionAt = 8;

  CpuState& cpu_;
  BlockCache cache_;
  EngineStats stats_;
  const Block* running_ = nullptr;  // block currently executing (for SMC detection)
  uint64_t running_rip_ = 0;        // RIP at which running_ was entered
  bool trace_blocks_ = false;
  std::unique_ptr<Block> scratch_;  // the block being built
  bool deliver_events_ = false;
  uint8_t tlb_view_ = 0;  // privilege view the fast TLB was filled under
  InterruptController* irq_ = nullptr;
  AccelMode accel_ = AccelMode::Tier0;
  uint32_t hot_threshold_ = 200000;  // docs/jit.md "Tier-up policy": measured on the Linux boot
  uint32_t warm_threshold_ = 16;     // ... and the threshold for threaded code
  std::unique_ptr<threaded::ThreadedCompiler> threaded_;
  bool use_block_exits_ = true;  // tier-1 quick code ends in its block's own chain exit
  // Quick code of a block ending in Jcc has an exit per path (UMBRA_JIT_NO_THREADED_INLINE=7: no).
  bool split_quick_exits_ = true;
  // Which levels of tier-1 code are specialized to their linear address (docs/jit.md "Code
  // specialized to its address"; UMBRA_JIT_FIXED_RIP: 0 none, 1 regions, 2 quick code too).
  uint8_t fixed_rip_levels_ = 1;
  bool sync_compile_ = false;    // UMBRA_JIT_SYNC=1: tier-1 compiles on the CPU thread
  bool loops_to_region_ = true;  // a hot looping block's first compile is its region
  // A region (docs/jit.md "Regions") holds at most this many blocks and instructions
  // (UMBRA_JIT_REGION_BLOCKS, UMBRA_JIT_REGION_INSNS). Session 15: 12 and 64 ran the boot's
  // first 3,000M guest instructions in 4.6% fewer host instructions (callgrind, compiling on the
  // CPU thread), but the boot took 3-6% longer in three alternating pairs of runs: the bigger
  // regions arrive later from the compiler thread, busy for the decompressor's first second.
  size_t region_blocks_ = 8;
  size_t region_insns_ = 48;
  tier1::Tier1* tier1_ = nullptr;
  std::shared_ptr<tier1::ResultQueue> tier1_results_;
  struct PendingCode {
    Block* block;
    bool region, quick;
  };
  std::unordered_map<uint64_t, PendingCode> tier1_pending_;  // requested code by its id
  // Runs (dispatched or chained) after which quick code is replaced by optimized code.
  uint64_t optimize_threshold_ = 20000;
  // The first code a block gets in the compile-everything mode (UMBRA_JIT_FIRST_LEVEL, testing):
  // tier 1's quick level (default), its optimized level, or threaded code only.
  enum class FirstLevel : uint8_t { Quick, Optimized, Threaded };
  FirstLevel first_level_ = FirstLevel::Quick;
  Block* chain_from_ = nullptr;     // block that just ran to its end with a near branch
  uint64_t chain_from_pc_ = 0;      // the linear PC it was entered at (~0: unknown)
  uint64_t tier1_entry_count_ = 0;  // insn_count when tier-1 code was last entered
  // The event to deliver when the fault-catching region is re-entered (members, not locals,
  // because they change between setjmp and longjmp).
  Event pending_event_{};
  bool have_pending_event_ = false;
};

}  // namespace umbra
