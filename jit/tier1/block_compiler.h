// Tier 1's compiler: turns a decoded block into host code through LLVM (docs/jit.md).
//
// The block becomes one function `void tb(CpuState*)` that calls, for each guest
// instruction, the same semantic handler tier 0 calls, with that instruction's decoded Insn as
// a constant; the handlers' bodies come from the semantics bitcode (SemanticsLibrary) and are
// inlined, so the decoded fields fold away and LLVM optimizes across instructions. After each
// instruction the function returns early if CpuState::exit_request is set (exactly where tier 0
// stops); every exit adds the instructions completed to CpuState::insn_count, and a block that
// ran to its end may jump straight to a chained successor's code. A fault unwinds with longjmp,
// as in tier 0, leaving the state of the last completed instruction.
//
// Not thread-safe: one thread compiles (the background compiler, or the CPU thread in the
// compile-everything mode).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "frontend/insn.h"

namespace umbra::tier1 {

using BlockFn = void (*)(CpuState*);

// What the compiler needs to know about a block, or a region of blocks (docs/jit.md "Regions"):
// blocks on one physical page, in one decoding mode, compiled into one function that branches
// from block to block inside itself where the guest goes from one to another.
struct BlockJob {
  uint64_t id;        // names the code (release(id) frees it)
  uint32_t mode_key;  // decode_mode_key: bit 0 CS.L, bit 1 CS.D
  struct Member {
    const void* block;                  // the Block (CpuState::tier1_block while it runs)
    const void* chain_slots = nullptr;  // its ChainSlot[2] if it may chain to a successor
    // Its own chain exit (threaded/threaded_compiler.h), tail-called instead of the shared
    // one when set (64-bit mode).
    const void* chain_exit = nullptr;
    uint32_t page_offset = 0;  // of its first byte, in the page all members share
    std::vector<Insn> insns;
    // With a Jcc at its end: the exit of the taken path (chain_exit then the fall-through's),
    // taken when RIP is the member's entry RIP plus taken_delta.
    const void* chain_exit_taken = nullptr;
    int64_t taken_delta = 0;
  };
  std::vector<Member> blocks;  // blocks[0] is the entry
  bool region = false;         // members (even a single one) may branch to each other
  // The quick level: compiled cheaply (no state caching, a short cleanup, FastISel); else the
  // optimized level (docs/jit.md "Two levels").
  bool quick = false;
  // The code is specialized to the entry's linear address (64-bit mode): RIP is a constant
  // everywhere in it, and an entry at any other address runs nothing and leaves with
  // kExitRipMismatch (docs/jit.md "Code specialized to its address").
  bool fixed_rip = false;
  uint64_t entry_rip = 0;
  uint64_t* entry_counter = nullptr;  // incremented on every entry, if set ...
  uint64_t entry_limit = 0;           // ... and the code does not chain when it reaches this
  size_t insn_count() const {
    size_t n = 0;
    for (const Member& m : blocks) n += m.insns.size();
    return n;
  }
};

struct CompileStats {
  uint64_t blocks = 0;                // functions compiled (a block, or a region of blocks)
  uint64_t region_members = 0;        // blocks compiled as part of a region (beyond its entry)
  uint64_t quick = 0, optimized = 0;  // functions compiled at each level
  uint64_t batches = 0;               // modules they were compiled in
  uint64_t failures = 0;              // blocks that could not be compiled (they stay on tier 0)
  uint64_t guest_insns = 0;           // guest instructions in compiled blocks
  uint64_t handlers_inlinable = 0;    // handler calls with a bitcode body
  uint64_t handlers_native = 0;       // handler calls left as calls into the executable
  uint64_t ns_total = 0;              // wall time in the compiler
  uint64_t ns_ir = 0;                 // building and linking IR
  uint64_t ns_opt = 0;                // the optimization pipeline
  uint64_t ns_codegen = 0;            // instruction selection, emission, linking (JIT lookup)
  uint64_t freed = 0;                 // compiled blocks whose code was released
  uint64_t state_rewritten = 0;       // guest-state accesses moved to SSA values (state_cache.h)
  uint64_t state_barriers = 0;        // calls around which the guest state is written back
  uint64_t flags_dead = 0;            // instructions marked attr::kFlagsDead (flag_liveness.h)
};

class BlockCompiler {
 public:
  // Sets up LLVM and loads the semantics library; on failure returns null with *error set.
  static std::unique_ptr<BlockCompiler> create(std::string* error);
  ~BlockCompiler();

  // Compiles the block; returns its entry point (null on failure, reason in last_error()).
  BlockFn compile(const BlockJob& job);
  // Compiles several blocks into one module (cheaper per block); entry points in order.
  std::vector<BlockFn> compile_batch(const std::vector<const BlockJob*>& jobs);
  // Frees the code of block `id` (the block is gone and nothing runs it any more).
  void release(uint64_t id);

  const CompileStats& stats() const { return stats_; }
  const std::string& last_error() const { return last_error_; }
  // The chain exits (chain_exit.h), compiled when the compiler is created: threaded code
  // (jit/threaded) jumps to them too.
  const void* chain_exit(bool legacy) const;

  // Debugging: print each block's optimized IR to stderr (UMBRA_JIT_DUMP=1).
  void set_dump_ir(bool on) { dump_ir_ = on; }
  // Testing: verify every module before optimizing it (UMBRA_JIT_VERIFY=1).
  void set_verify(bool on) { verify_ = on; }
  // Measurement: LLVM's whole -O2 module pipeline instead of the short one (UMBRA_JIT_O2=1).
  void set_full_pipeline(bool on) { full_pipeline_ = on; }
  // Debugging: leave out the alias scopes, or the chaining code, to bisect a suspected tier-1
  // bug (UMBRA_JIT_NO_SCOPES=1, UMBRA_JIT_NO_CHAIN=1).
  void set_no_alias_scopes(bool on) { no_alias_scopes_ = on; }
  void set_no_chain(bool on) { no_chain_ = on; }
  // Measurement: the chain exit's checks inline in every block instead of one shared function
  // (UMBRA_JIT_INLINE_CHAIN=1; chain_exit.h).
  void set_inline_chain(bool on) { inline_chain_ = on; }
  // Measurement and bisecting: leave the guest state in the CpuState at every instruction
  // instead of in SSA values (UMBRA_JIT_NO_STATE_CACHE=1; state_cache.h).
  void set_no_state_cache(bool on) { no_state_cache_ = on; }
  // Measurement: leave the stale status bits of rflags behind lazy producers in optimized code
  // (UMBRA_JIT_KEEP_STALE_FLAGS=1; clear_flags_behind_producers).
  void set_keep_stale_flags(bool on) { keep_stale_flags_ = on; }
  // Guest state in SSA values at the quick level too (UMBRA_JIT_QUICK_STATE_CACHE).
  void set_quick_state_cache(bool on) { quick_state_cache_ = on; }
  // Quick code keeps RIP, the instruction count, the fast TLB's table and the stop word in SSA
  // values (on by default; UMBRA_JIT_QUICK_CONTROL_CACHE=0 leaves them in memory).
  void set_quick_control_cache(bool on) { quick_control_cache_ = on; }
  // Measurement: every instruction's flags computed and an exit test after each, as before the
  // flags' liveness (UMBRA_JIT_NO_DEAD_FLAGS=1).
  void set_no_dead_flags(bool on) { no_dead_flags_ = on; }
  // Measurement: blocks save the host's callee-saved registers as C functions do, instead of
  // leaving that to the entry trampoline (UMBRA_JIT_CALLEE_SAVES=1; jit/code_entry.h).
  void set_callee_saves(bool on) { callee_saves_ = on; }
  // Measurement: the boundary test on every edge between region members, not only on those
  // that may close a loop (UMBRA_JIT_CHECK_EVERY_MEMBER=1).
  void set_check_every_member(bool on) { check_every_member_ = on; }
  // Measurement: one line per compiled block with its size and phase times (UMBRA_JIT_TRACE=1).
  void set_trace(bool on) { trace_ = on; }

  struct Impl;

 private:
  explicit BlockCompiler(std::unique_ptr<Impl> impl);
  std::vector<BlockFn> compile_module(const std::vector<const BlockJob*>& jobs, bool quick);
  std::unique_ptr<Impl> impl_;
  CompileStats stats_;
  std::string last_error_;
  bool dump_ir_ = false;
  bool verify_ = false;
  bool full_pipeline_ = false;
  bool trace_ = false;
  bool no_alias_scopes_ = false;
  bool no_chain_ = false;
  bool inline_chain_ = false;
  bool no_state_cache_ = false;
  bool keep_stale_flags_ = false;
  bool quick_state_cache_ = false;
  bool quick_control_cache_ = true;
  bool no_dead_flags_ = false;
  bool callee_saves_ = false;
  bool check_every_member_ = false;
};

}  // namespace umbra::tier1
