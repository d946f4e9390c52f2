// Decoded blocks and their cache (docs/engine.md).
//
// A block is straight-line guest code decoded once: it ends at a control transfer, a
// mode-changing or otherwise block-ending instruction, a REP string instruction, a page
// boundary, or a length cap. Blocks are keyed by the physical address of their first byte and
// the mode bits that change decoding; a per-CPU direct-mapped jump cache finds them from RIP.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "frontend/insn.h"

namespace umbra {

// Mode bits that change how bytes decode (part of the block key).
inline uint32_t decode_mode_key(const CpuState& cpu) {
  return (cpu.mode64 ? 1u : 0u) | (cpu.code32 ? 2u : 0u);
}

// Near control transfers (JMP, Jcc, CALL, RET, LOOPcc, JrCXZ; direct or through a register or
// memory): they change RIP, RSP and memory, never the mode, the privilege level, paging or
// TF/RF. A block that ends with one may chain to its successor, and a region member that ends
// with one needs no TF/RF test.
inline bool is_near_transfer(Op op) {
  switch (op) {
    case Op::JMP:
    case Op::JMP_IND:
    case Op::JCC:
    case Op::CALL:
    case Op::CALL_IND:
    case Op::RET:
    case Op::LOOP:
    case Op::LOOPE:
    case Op::LOOPNE:
    case Op::JRCXZ:
      return true;
    default:
      return false;
  }
}

// Whether a block (or region member) that ends with `last` leaves TF and RF as they were. Only
// instructions that end their block can set them (POPF, IRET, SYSRET, a task switch ...: SDM vol.
// 3, 17.3.1.1 for RF), so a block ending in a near branch, or in no control transfer at all,
// cannot: compiled code is entered with both clear (the dispatcher steps one instruction at a
// time otherwise), and they are still clear at its end.
inline bool trap_flags_unchanged(const Insn& last) {
  return !(last.attrs & attr::kEndsBlock) || is_near_transfer(last.op);
}

// A direct link site in a block's threaded code or chain exit (ThreadedCompiler, docs/jit.md
// "Direct links"): the first jump's displacement to patch (null: no site), and the page offset
// of the successor it jumps to.
struct DirectSite {
  uint8_t* rel32 = nullptr;
  uint32_t target_offset = 0;
  // The jump for any code comes first and the one into threaded code second (a quick block's own
  // exit, which makes its checks with the CpuState in RDI and saves RBX only on the way into
  // threaded code); otherwise the other way round.
  bool any_first = false;
};

// A direct link from one compiled block to the next (docs/jit.md "Chaining"): when the block
// ends with RIP == rip (and, outside 64-bit mode, CS.base == cs_base), its code jumps straight
// to fn if the successor is on the same page as its last instruction (host null), or, for a
// successor on another page (64-bit mode only), if the fast TLB's exec entry for RIP leads to
// `host`. Filled by the engine, read by tier-1 code.
struct ChainSlot {
  uint64_t rip = ~uint64_t{0};
  uint64_t cs_base = 0;
  void (*fn)(CpuState*) = nullptr;
  struct Block* target = nullptr;
  const uint8_t* host = nullptr;  // the target's first byte, when it is on another page
};

struct Block {
  uint64_t rip;          // guest linear address of the first instruction
  uint64_t paddr;        // guest physical address of the first byte
  uint64_t page2;        // physical page of the last byte if the block spans two pages, else ~0
  const uint8_t* host;   // host address of the first byte (validates jump-cache hits)
  const uint8_t* host2;  // host address of the start of the second page, when page2 is set
  uint32_t mode_key;
  uint32_t byte_len;        // guest bytes covered
  uint64_t exec_count = 0;  // times entered (tier-up heuristics, statistics)
  uint64_t id = 0;          // process-unique (names its tier-1 code)
  // Tier 1's code for this block (docs/jit.md): runs the whole block and returns how many
  // instructions it completed. Installed by the CPU thread only, between blocks.
  void (*tier1)(CpuState*) = nullptr;
  uint8_t tier1_state = 0;    // Tier1State
  bool tier1_region = false;  // its code is a region's (it and successors on its page)
  bool tier1_quick = false;   // its code is of the quick level (docs/jit.md "Two levels")
  // A region holds it, or is being compiled to (as its entry or a member; docs/jit.md
  // "Regions"): other regions leave it out.
  bool in_region = false;
  uint64_t tier1_code = 0;     // the compiler's id of that code
  uint64_t tier1_pending = 0;  // the compiler's id of code being compiled for it (0: none)
  uint64_t tier1_since = 0;    // CpuState::insn_count when its run count started (built, quick)
  // Threaded code (jit/threaded, docs/jit.md "Threaded code"): when `tier1` is the block's
  // threaded code, the handle that frees it; kNoThreadedCode otherwise.
  static constexpr uint32_t kNoThreadedCode = ~uint32_t{0};
  uint32_t threaded_code = kNoThreadedCode;
  bool threaded_tried = false;  // compiled (or tried) once: never again
  // The block's own chain exit (ThreadedCompiler::compile_chain_exit), made when its quick code
  // is requested; lives as long as the block.
  void (*chain_exit)(CpuState*) = nullptr;
  uint32_t chain_exit_code = kNoThreadedCode;
  // A block ending in a Jcc: the exit of its fall-through path is chain_exit, this its taken
  // path's (ThreadedCompiler::compile_chain_exit).
  void (*chain_exit_taken)(CpuState*) = nullptr;
  uint32_t chain_exit_taken_code = kNoThreadedCode;
  // The direct link sites of chain_exit and chain_exit_taken.
  DirectSite exit_sites[2];
  // Guest bytes whose change drops the block: its own, widened to cover every member when its
  // code is a region (docs/jit.md "Regions"). Physical addresses on the block's first page;
  // extent_end == 0: just the block's own bytes.
  uint64_t extent_begin = 0, extent_end = 0;
  // The block ends with a near control transfer (or runs into its length cap): its successor
  // may be chained. Slots to successors, and the slots of other blocks that point here.
  bool chainable = false;
  uint8_t chain_next = 0;  // the slot the next new successor replaces
  ChainSlot chain[2];
  // Direct link sites in its threaded code (none when it has no threaded code).
  DirectSite direct_sites[2];
  std::vector<std::pair<Block*, uint8_t>> incoming;
  bool valid = true;
  // Code specialized to `rip` (docs/jit.md "Code specialized to its address"): entries at
  // other linear addresses since it was installed, and how often it was recompiled for one.
  uint8_t respecialized = 0;
  uint32_t rip_mismatches = 0;
  std::vector<Insn> insns;
};

enum Tier1State : uint8_t {
  kTier1None = 0,
  kTier1Queued = 1,    // a compile request is outstanding
  kTier1Compiled = 2,  // `tier1` is set
  kTier1Failed = 3,    // tier 1 could not compile it: stays on tier 0
};

class BlockCache {
 public:
  static constexpr unsigned kJumpCacheBits = 12;
  static constexpr unsigned kJumpCacheSize = 1u << kJumpCacheBits;

  struct JumpEntry {
    uint64_t rip;
    uint32_t mode_key;
    Block* block;
  };

  BlockCache();

  Block* lookup(uint64_t paddr, uint32_t mode_key) const {
    auto it = map_.find(key(paddr, mode_key));
    return it == map_.end() ? nullptr : it->second.get();
  }
  Block* insert(std::unique_ptr<Block> b);

  static size_t jump_index(uint64_t rip) {
    return (rip ^ (rip >> kJumpCacheBits)) & (kJumpCacheSize - 1);
  }
  JumpEntry& jump_entry(uint64_t rip) { return jump_cache_[jump_index(rip)]; }
  // The jump cache's entries (kJumpCacheSize of them, never moved): threaded code probes it
  // after an indirect branch (docs/jit.md "Threaded code").
  const JumpEntry* jump_cache() const { return jump_cache_.data(); }

  // Removes every block with code on the physical page; returns how many. Removed blocks stay
  // allocated until reclaim() so a block that is running can finish its current instruction.
  // `running` are the blocks that may be executing (the block, and the region it runs in):
  // *hit_running is set if one of them is removed.
  using Running = std::pair<const Block*, const Block*>;
  size_t invalidate_page(uint64_t page_paddr, Running running, bool* hit_running);
  // Removes the blocks whose guest bytes (their extent) overlap [paddr, paddr + size); returns
  // how many.
  size_t invalidate_range(uint64_t paddr, unsigned size, Running running, bool* hit_running);
  // Whether any block has code on the physical page.
  bool page_has_blocks(uint64_t page_paddr) const {
    auto it = by_page_.find(page_paddr);
    return it != by_page_.end() && !it->second.empty();
  }
  void clear();
  // Frees retired blocks (call only when no block is running). Inline: it runs between blocks.
  void reclaim() {
    if (!graveyard_.empty()) reclaim_retired();
  }
  // Called for each block as it is retired (dropped from the cache; it may still be running).
  void set_on_retire(void (*fn)(void* ctx, Block& b), void* ctx) {
    on_retire_ = fn;
    on_retire_ctx_ = ctx;
  }
  // Called for each block as reclaim() frees it (tier 1 frees the block's code).
  void set_on_free(void (*fn)(void* ctx, const Block& b), void* ctx) {
    on_free_ = fn;
    on_free_ctx_ = ctx;
  }
  size_t size() const { return map_.size(); }

 private:
  static uint64_t key(uint64_t paddr, uint32_t mode_key) { return (paddr << 2) | mode_key; }
  void retire(Block* b);
  void reclaim_retired();
  void unlink(Block* b);

  std::unordered_map<uint64_t, std::unique_ptr<Block>> map_;
  std::unordered_map<uint64_t, std::vector<Block*>> by_page_;
  std::vector<std::unique_ptr<Block>> graveyard_;
  std::vector<JumpEntry> jump_cache_;
  void (*on_free_)(void*, const Block&) = nullptr;
  void (*on_retire_)(void*, Block&) = nullptr;
  void* on_retire_ctx_ = nullptr;
  void* on_free_ctx_ = nullptr;
};

}  // namespace umbra
