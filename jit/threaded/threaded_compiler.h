// Threaded code: the first compile of a warm block (docs/jit.md "Threaded code").
//
// A block becomes a short x86-64 function `void fn(CpuState*)` that does what tier 0 does for
// it, written out: for each instruction, a direct call of its semantic handler with its decoded
// Insn; after each, a test of CpuState::exit_request; at every exit the completed instructions
// added to insn_count. It follows the same protocol as tier-1 code (tier1_block, tier1_region,
// the entry counter, the chain exit), so a chain slot may hold either kind, and chaining goes
// from threaded code to LLVM code and back without the dispatcher. Compiling costs a few
// microseconds per block on the CPU thread, so warm blocks get it long before LLVM (which
// costs milliseconds on a background thread) gets to them.
//
// A fault unwinds from the handler with longjmp as in tier 0: the code keeps no state of its
// own but RBX (callee-saved, restored by longjmp with the engine's frame).
#pragma once

#include <cstdint>
#include <vector>

#include "jit/block_cache.h"
#include "jit/threaded/code_arena.h"
#include "jit/threaded/x86_emitter.h"

namespace umbra::threaded {

using BlockFn = void (*)(CpuState*);

struct ThreadedStats {
  uint64_t blocks = 0;        // blocks compiled
  uint64_t insns = 0;         // guest instructions in them
  uint64_t bytes = 0;         // host code emitted
  uint64_t released = 0;      // blocks whose code was released
  uint64_t ns = 0;            // time spent compiling
  uint64_t arena_full = 0;    // blocks not compiled for want of code space
  uint64_t chain_exits = 0;   // per-block chain exits made for tier-1 quick code
  uint64_t jump_probes = 0;   // exits with a jump-cache probe (blocks ending in RET, JMP/CALL r/m)
  uint64_t split_exits = 0;   // chain exits of their own on the paths of a block-ending Jcc
  uint64_t direct_sites = 0;  // direct link sites emitted
  uint64_t exit_tests = 0;    // exit_request tests emitted after an instruction
  uint64_t exit_tests_left_out = 0;     // after instructions that cannot request an exit
  uint64_t inlined = 0;                 // instructions emitted inline instead of a handler call
  uint64_t inlined_memory = 0;          // memory accesses with their TLB hit inline
  uint64_t inlined_branches = 0;        // near branches with their fast path inline
  uint64_t branches_flags_unknown = 0;  // Jcc calling its handler: the flags' producer unknown
  uint64_t flags_dead = 0;  // flag producers inline without their flags (dead within the block)
};

class ThreadedCompiler {
 public:
  // The chain exits of tier 1 (jit/tier1/chain_exit.h), for 64-bit mode and the legacy modes
  // (null: blocks never chain), and the engine's jump cache (BlockCache::jump_cache; null: not
  // probed).
  ThreadedCompiler(const void* chain_exit64, const void* chain_exit_legacy,
                   const void* jump_cache = nullptr);

  bool ok() const { return arena_.ok(); }

  // A direct link site (DirectSite, block_cache.h; docs/jit.md "Direct links"): on a path out of
  // the block whose successor is known from the bytes and on the block's own page, after the
  // chain exit's clean-boundary checks, two jumps whose displacements are 0 (on to the slot
  // tests) until the engine points one at the successor's code (link()). The first, with RBX
  // still the CpuState and the block's saved RBX on the stack, for a successor whose code is
  // threaded code (it enters past that code's own `push rbx; mov rbx, rdi`: kLinkedEntry); the
  // second, kSecondJump bytes on, after `mov rdi, rbx; pop rbx`, for any other code.
  static constexpr size_t kLinkedEntry = 4;
  static constexpr size_t kSecondJump = 9;
  struct Code {
    BlockFn fn = nullptr;
    uint32_t handle = 0;  // release(handle) frees it
    DirectSite sites[2];
  };
  // Points a site at `target` (a block's code; `threaded`: threaded code, entered past its
  // prologue), or back at the slot tests (null). False, and the site unlinked, when the target
  // is out of a rel32's reach.
  static bool link(const DirectSite& site, const void* target, bool threaded);
  // Compiles `b`. The code increments *entry_counter on every entry and, once the counter is at
  // or above entry_limit, returns to the dispatcher instead of chaining (so the dispatcher sees
  // that the block is hot). False when the code space is full.
  bool compile(const Block& b, uint64_t* entry_counter, uint64_t entry_limit, Code* out);
  // The block's own chain exit (64-bit mode, a chainable block): a function `void(CpuState*)`
  // that makes the checks of tier 1's shared umbra_chain_exit64 for this block's slots and
  // jumps to the successor's code or returns. Tier-1 quick code of the block tail-calls it
  // (docs/jit.md "Threaded code"). False when the code space is full.
  // path: -1 for the block's one exit; for a block ending in a Jcc (64-bit operand size), 0 for
  // the exit of its fall-through path and 1 for its taken path's, which know the new RIP's page
  // offset and carry a direct link site (DirectSite) when it is on the block's page.
  bool compile_chain_exit(const Block& b, Code* out, int path = -1);
  // The block is gone or has other code: nothing runs `handle`'s code any more.
  void release(uint32_t handle);

  const ThreadedStats& stats() const { return stats_; }
  const CodeArena& arena() const { return arena_; }
  // Measurement: jump to tier 1's shared chain exit instead of the block's own copy of its
  // checks (UMBRA_JIT_THREADED_SHARED_EXIT=1).
  void set_inline_exit(bool on) { inline_exit_ = on; }
  // Measurement: no jump-cache probe after indirect branches (UMBRA_JIT_NO_JUMP_PROBE=1).
  void set_jump_probe(bool on) { jump_probe_ = on; }
  // Register and immediate MOV and ALU forms inline (emit_inline) instead of handler calls.
  void set_inline(bool on) { inline_ = on; }
  // Memory accesses' TLB hits inline (emit_inline_memory).
  void set_inline_memory(bool on) { inline_memory_ = on; }
  // Near branches' fast paths inline (emit_inline_branch).
  void set_inline_branch(bool on) { inline_branch_ = on; }
  // Flags that the block overwrites before anything can see them are not computed.
  void set_flags_dead(bool on) { flags_dead_ = on; }
  // A block ending in an inline Jcc gets a chain exit of its own on each path (emit_inline_branch).
  void set_split_exit(bool on) { split_exit_ = on; }
  // Direct link sites on the exits whose successor is known (DirectSite).
  void set_direct_links(bool on) { direct_links_ = on; }

 private:
  // same_page: -1 when the code must find out whether RIP left the page of the last instruction,
  // else the answer known at compile time (0 or 1).
  // site: where to put a direct link site (after the clean-boundary checks), or null.
  // checks: false when the caller made the clean-boundary checks already.
  void emit_chain_exit64(X86Emitter& e, const Block& b, int same_page = -1,
                         DirectSite* site = nullptr, bool checks = true);
  static void emit_clean_boundary_checks(X86Emitter& e, const Block& b, Reg64 cpu,
                                         std::vector<X86Emitter::Label>* fail);
  void emit_jump_cache_probe(X86Emitter& e, const Block& b);
  static X86Emitter::Label emit_exec_translation(X86Emitter& e);

 public:
  struct BlockOffsets {
    int32_t valid, page2, code, host;
  };

 private:
  CodeArena arena_;
  const void* chain_exit64_;
  const void* chain_exit_legacy_;
  const void* jump_cache_;
  bool inline_exit_ = true;
  bool inline_ = true;
  bool inline_memory_ = true;
  bool inline_branch_ = true;
  bool flags_dead_ = true;
  bool jump_probe_ = true;
  bool split_exit_ = true;
  bool direct_links_ = true;
  ThreadedStats stats_;
};

}  // namespace umbra::threaded
