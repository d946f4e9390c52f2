#include "jit/tier0.h"

#include <algorithm>
#include <atomic>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "frontend/decoder.h"
#include "frontend/disasm.h"
#include "jit/code_entry.h"
#include "jit/profile.h"
#include "softmmu/access.h"
#include "softmmu/guest_memory.h"
#include "softmmu/paging_translator.h"

namespace umbra {

namespace {

constexpr unsigned kMaxBlockInsns = 64;

// An instruction longer than 15 bytes: #GP(0) (SDM vol. 2, 2.3.11).
void handler_too_long(CpuState& cpu, const Insn&) {
  raise_fault(cpu, kGP, 0);
}

bool is_rep_string(const Insn& i) {
  switch (i.op) {
    case Op::MOVS:
    case Op::CMPS:
    case Op::SCAS:
    case Op::LODS:
    case Op::STOS:
    case Op::INS:
    case Op::OUTS:
      return (i.prefixes & (pfx::kRep | pfx::kRepne)) != 0;
    default:
      return false;
  }
}

// Whether a compiled block may jump straight to its successor: it ends with a near control
// transfer (no change of mode, privilege or paging), or it simply stopped before its next
// instruction (the length cap, the end of its page, an instruction that straddles into the next
// page), and its instructions are all on one page.
bool ends_chainable(const Block& b) {
  if (b.page2 != ~uint64_t{0} || b.insns.empty()) return false;
  const Insn& last = b.insns.back();
  if (last.attrs & attr::kUnimplemented) return false;
  if (is_near_transfer(last.op)) return true;
  // Otherwise the next instruction simply follows (the block stopped at the length cap, at its
  // page's end, or after a REP string instruction, which leaves RIP at itself when it stops
  // after a chunk of its iterations: the chain exit compares RIP with the slots, so that
  // resumes through a slot too). A successor on the next page is chained in 64-bit mode only,
  // checked against the fast TLB like any other-page successor (Tier0Engine::chain).
  return !(last.attrs & attr::kEndsBlock);
}

}  // namespace

Tier0Engine::Tier0Engine(CpuState& cpu) : cpu_(cpu) {
  GuestMemory& mem = *cpu.memory;
  mem.on_code_write = [this](uint64_t page) { invalidate_page(page); };
  mem.on_code_write_range = [this](uint64_t paddr, unsigned size) {
    bool hit_running = false;
    stats_.blocks_invalidated +=
        cache_.invalidate_range(paddr, size, running_blocks(), &hit_running);
    if (hit_running) cpu_.exit_request |= kExitCodeChanged;
    GuestMemory& m = *cpu_.memory;
    for (uint64_t p = paddr & kPageMask; p < paddr + size; p += kPageSize)
      if (!cache_.page_has_blocks(p)) m.clear_code_page(p);
  };
  // A page that starts holding code loses direct write access in the fast TLB, so the next
  // write to it takes the slow path and reaches on_code_write.
  mem.on_code_page_marked = [this](uint64_t page) { tlb_revoke_write(cpu_, page); };
  cache_.set_on_free(&Tier0Engine::on_block_freed, this);
  cache_.set_on_retire(&Tier0Engine::on_block_retired, this);
  set_accel(default_accel_mode());
  // Measurement knob for the tier-up threshold (docs/jit.md "Tier-up policy").
  if (const char* hot = std::getenv("UMBRA_JIT_HOT"); hot && *hot)
    hot_threshold_ = static_cast<uint32_t>(std::strtoul(hot, nullptr, 10));
  // Testing: the first compile of a block at the optimized level (state caching), or as
  // threaded code only, so that the differential tests, which run most blocks once, check those
  // too. Anything else: the quick level.
  if (const char* first = std::getenv("UMBRA_JIT_FIRST_LEVEL"); first && *first) {
    const std::string_view level = first;
    first_level_ = level == "optimized"  ? FirstLevel::Optimized
                   : level == "threaded" ? FirstLevel::Threaded
                                         : FirstLevel::Quick;
  }
  if (const char* warm = std::getenv("UMBRA_JIT_WARM"); warm && *warm)
    warm_threshold_ = static_cast<uint32_t>(std::strtoul(warm, nullptr, 10));
  if (const char* optimize = std::getenv("UMBRA_JIT_OPTIMIZE"); optimize && *optimize)
    optimize_threshold_ = std::strtoull(optimize, nullptr, 10);
  // Measurement: quick code first for looping blocks too, as before session 13.
  if (const char* v = std::getenv("UMBRA_JIT_LOOPS_QUICK_FIRST"); v && *v == '1')
    loops_to_region_ = false;
  // Measurement: compile on the CPU thread when the tier-up policy asks, so that a run's work
  // does not depend on how the compiler thread was scheduled (callgrind, docs/jit.md "Knobs").
  if (const char* sync = std::getenv("UMBRA_JIT_SYNC"); sync && *sync == '1') sync_compile_ = true;
  if (const char* fixed = std::getenv("UMBRA_JIT_FIXED_RIP"); fixed && *fixed)
    fixed_rip_levels_ = static_cast<uint8_t>(std::strtoul(fixed, nullptr, 10));
  // Measurement: a region's limits (docs/jit.md "Regions").
  for (auto [name, limit] : {std::pair{"UMBRA_JIT_REGION_BLOCKS", &region_blocks_},
                             std::pair{"UMBRA_JIT_REGION_INSNS", &region_insns_}})
    if (const char* v = std::getenv(name))
      if (const size_t n = std::strtoull(v, nullptr, 10)) *limit = n;
}

Tier0Engine::~Tier0Engine() {
  // No compile may still be running for this engine, and every block's code is released.
  if (tier1_) {
    tier1_->cancel(tier1_results_);
    for (const tier1::ResultQueue::Result& r : tier1_results_->take())
      if (r.fn) tier1_->release(r.id);
    tier1_pending_.clear();
  }
  cache_.clear();
  cache_.reclaim();
  cpu_.memory->on_code_write = nullptr;
  cpu_.memory->on_code_write_range = nullptr;
  cpu_.memory->on_code_page_marked = nullptr;
}

void Tier0Engine::invalidate_page(uint64_t page_paddr) {
  bool hit_running = false;
  stats_.blocks_invalidated += cache_.invalidate_page(page_paddr, running_blocks(), &hit_running);
  // The running block's remaining instructions may be stale: leave it after this instruction.
  if (hit_running) cpu_.exit_request |= kExitCodeChanged;
}

void Tier0Engine::set_accel(AccelMode mode) {
  accel_ = mode;
}

namespace {
// Ids of compiled code: a block may get code more than once (as a block, then as a region).
std::atomic<uint64_t> g_next_code_id{1};
}  // namespace

// The blocks a region entered at `head` contains: the head, then the successors the chain slots
// have seen (breadth first) that are on the head's physical page, in its decoding mode, and
// entirely on that page.
std::vector<Block*> Tier0Engine::region_members(Block* head) const {
  std::vector<Block*> members{head};
  if (head->page2 != ~uint64_t{0}) return members;
  size_t insns = head->insns.size();
  for (size_t i = 0; i < members.size(); ++i) {
    for (const ChainSlot& slot : members[i]->chain) {
      Block* t = slot.target;
      // A block already compiled into another region (as its entry or a member) is left to
      // that region: compiling it again here costs as much and the region exits to it anyway.
      if (!t || !t->valid || t->page2 != ~uint64_t{0} || t->mode_key != head->mode_key ||
          (t != head && t->in_region) || (t->paddr & kPageMask) != (head->paddr & kPageMask) ||
          std::find(members.begin(), members.end(), t) != members.end() ||
          members.size() == region_blocks_ || insns + t->insns.size() > region_insns_)
        continue;
      members.push_back(t);
      insns += t->insns.size();
    }
  }
  return members;
}

// Quick code reached the optimize threshold. It is worth an optimized compile only if the block
// is a real share of what the CPU runs: its instructions at least 1/kOptimizeShare of those
// retired since its count started. Otherwise a new count starts (lukewarm code that adds up over
// a long boot is not worth three times its quick compile).
bool Tier0Engine::real_share(const Block* b) const {
  return b->exec_count * b->insns.size() * kOptimizeShare >= cpu_.insn_count - b->tier1_since;
}

void Tier0Engine::consider_optimizing(Block* b) {
  if (accel_ != AccelMode::CompileAll) {
    if (!real_share(b)) {
      b->exec_count = 0;
      b->tier1_since = cpu_.insn_count;
      return;
    }
  }
  tier_up(b, true, false);
}

// Tier 1 is set up on the first block that gets hot, so runs that never need it (and tier 0)
// pay nothing for LLVM. With `region`, the block's code also covers the successors it has been
// seen going to on its page (a loop becomes a loop in one function).
bool Tier0Engine::ensure_tier1() {
  if (tier1_) return true;
  std::string error;
  tier1_ = tier1::Tier1::get(&error);
  if (!tier1_) {
    static std::atomic<bool> said{false};
    if (!said.exchange(true))
      std::fprintf(stderr, "umbra: tier 1 is unavailable (%s); running on tier 0 only\n",
                   error.c_str());
    accel_ = AccelMode::Tier0;
    return false;
  }
  tier1_results_ = std::make_shared<tier1::ResultQueue>();
  tier1_results_->set_notify(&cpu_.tier1_ready);
  return true;
}

// Threaded code needs tier 1 only for its chain exits (chain_exit.h), so that threaded and
// LLVM code chain to each other through the same slots.
bool Tier0Engine::ensure_threaded() {
  if (threaded_) return true;
  if (!ensure_tier1()) return false;
  threaded_ = std::make_unique<threaded::ThreadedCompiler>(
      tier1_->chain_exit(false), tier1_->chain_exit(true), cache_.jump_cache());
  if (const char* v = std::getenv("UMBRA_JIT_NO_JUMP_PROBE"); v && *v == '1')
    threaded_->set_jump_probe(false);
  // 1: every instruction calls its handler; 2: memory accesses do; 3: branches do; 4: dead
  // flags are computed all the same; 5: a block ending in Jcc has one chain exit, not one per
  // path; 6: no direct links; 7: quick code of a block ending in Jcc has one exit.
  if (const char* v = std::getenv("UMBRA_JIT_NO_THREADED_INLINE"); v && *v) {
    if (*v == '1') threaded_->set_inline(false);
    if (*v == '2') threaded_->set_inline_memory(false);
    if (*v == '3') threaded_->set_inline_branch(false);
    if (*v == '4') threaded_->set_flags_dead(false);
    if (*v == '5') threaded_->set_split_exit(false);
    if (*v == '6') threaded_->set_direct_links(false);
    if (*v == '7') split_quick_exits_ = false;
  }
  if (const char* v = std::getenv("UMBRA_JIT_THREADED_SHARED_EXIT"); v && *v == '1') {
    threaded_->set_inline_exit(false);
    use_block_exits_ = false;
  }
  return true;
}

void Tier0Engine::install_threaded(Block* b) {
  b->threaded_tried = true;
  if (!ensure_threaded()) return;
  // In the tiered mode the code stops chaining once the block is hot, so that the dispatcher
  // sees it and asks tier 1 for quick code; threaded code is all there is in the testing mode.
  const uint64_t limit = accel_ == AccelMode::Jit ? hot_threshold_ : ~uint64_t{0};
  threaded::ThreadedCompiler::Code code;
  profile::set(profile::kCompile);
  const bool ok = threaded_->compile(*b, &b->exec_count, limit, &code);
  profile::set(profile::kDispatch);
  if (!ok) return;
  b->tier1 = code.fn;
  b->threaded_code = code.handle;
  b->direct_sites[0] = code.sites[0];
  b->direct_sites[1] = code.sites[1];
  relink(b);
  for (auto [from, k] : b->incoming) {
    from->chain[k].fn = code.fn;
    relink(from);
  }
  ++stats_.threaded_installed;
}

void Tier0Engine::release_threaded(Block* b) {
  if (b->threaded_code == Block::kNoThreadedCode) return;
  threaded_->release(b->threaded_code);
  b->threaded_code = Block::kNoThreadedCode;
  b->direct_sites[0] = b->direct_sites[1] = DirectSite{};  // gone with the code
}

void Tier0Engine::consider_tier_up(Block* b) {
  const bool all = accel_ == AccelMode::CompileAll;
  if (all && first_level_ == FirstLevel::Threaded) {
    if (!b->threaded_tried) install_threaded(b);
    return;
  }
  if (!b->tier1 && !b->threaded_tried && accel_ == AccelMode::Jit && warm_threshold_ &&
      b->exec_count >= warm_threshold_)
    install_threaded(b);
  // Hot: quick code. Still hot with quick code: optimized code, as a region with the successors
  // seen by then (docs/jit.md "Two levels"). Compile-everything does both, on a block's first
  // run and on its kCompileAllRegionAt-th.
  if (b->tier1_state == kTier1None && b->exec_count >= (all ? 1u : hot_threshold_)) {
    // A block seen looping back to itself through its region's blocks, and a real share of
    // what the CPU has run since the block was built, goes straight to its region: its quick
    // code would run only until the region replaced it, 20,000 runs later (docs/jit.md "Two
    // levels"). A lukewarm loop keeps quick code first. Not where optimized code is switched off
    // (tests of quick code).
    if (!all && loops_to_region_ && optimize_threshold_ != ~uint64_t{0} && real_share(b) &&
        seen_looping(b))
      tier_up(b, true, false);
    else
      tier_up(b, false, first_level_ != FirstLevel::Optimized);
  } else if (b->tier1_quick && !b->tier1_pending &&
             (all ? b->exec_count == kCompileAllRegionAt : b->exec_count >= optimize_threshold_)) {
    consider_optimizing(b);
  } else if (b->threaded_code != Block::kNoThreadedCode && b->exec_count >= hot_threshold_) {
    // Hot threaded code whose quick code is on its way, or failed: it chains again meanwhile.
    b->exec_count = 0;
  }
}

namespace {
// Whether the guest has been seen coming back to `head` from one of `members` (a chain slot of
// one names it).
bool loops_back_to(const std::vector<Block*>& members, const Block* head) {
  for (const Block* m : members)
    for (const ChainSlot& slot : m->chain)
      if (slot.target == head) return true;
  return false;
}
}  // namespace

// Whether the guest has been seen coming back to `head` from a block its region would hold.
bool Tier0Engine::seen_looping(Block* head) const {
  return loops_back_to(region_members(head), head);
}

void Tier0Engine::tier_up(Block* b, bool region, bool quick) {
  if (!ensure_tier1()) return;
  const std::vector<Block*> members = region ? region_members(b) : std::vector<Block*>{b};
  // Whether the guest has been seen coming back to the entry from inside the region.
  const bool loops = loops_back_to(members, b);
  // A region needs an edge inside it: to another member, or the entry's loop to itself.
  const bool is_region = region && (members.size() > 1 || loops);
  // Optimized code pays (it costs about three times as much to compile) where the guest loops:
  // only for a region with a way back to its entry. Other hot blocks keep their quick code.
  if (!quick && !loops && accel_ != AccelMode::CompileAll && b->tier1_state == kTier1Compiled) {
    b->tier1_quick = false;  // no further attempts
    return;
  }
  tier1::BlockJob job{g_next_code_id.fetch_add(1, std::memory_order_relaxed), b->mode_key, {}};
  for (Block* m : members)
    job.blocks.push_back(tier1::BlockJob::Member{m, m->chainable ? m->chain : nullptr, nullptr,
                                                 static_cast<uint32_t>(m->paddr & ~kPageMask),
                                                 m->insns});
  // Quick code of a chainable block in 64-bit mode ends in the block's own chain exit (docs/jit.md
  // "Threaded code"); regions keep the shared exit.
  if (quick && !is_region && b->chainable && (b->mode_key & 1) && ensure_threaded() &&
      use_block_exits_) {
    // A Jcc's two paths get an exit each, which knows its new RIP (docs/jit.md "Direct links").
    const Insn& last = b->insns.back();
    const bool two = last.op == Op::JCC && last.opsize == 8 && split_quick_exits_;
    if (!b->chain_exit) {
      threaded::ThreadedCompiler::Code exit;
      if (threaded_->compile_chain_exit(*b, &exit, two ? 0 : -1)) {
        b->chain_exit = exit.fn;
        b->chain_exit_code = exit.handle;
        b->exit_sites[0] = exit.sites[0];
      }
      if (two && b->chain_exit && threaded_->compile_chain_exit(*b, &exit, 1)) {
        b->chain_exit_taken = exit.fn;
        b->chain_exit_taken_code = exit.handle;
        b->exit_sites[1] = exit.sites[0];
      }
      relink(b);
    }
    job.blocks[0].chain_exit = reinterpret_cast<const void*>(b->chain_exit);
    if (b->chain_exit_taken) {
      job.blocks[0].chain_exit_taken = reinterpret_cast<const void*>(b->chain_exit_taken);
      int64_t delta = static_cast<int64_t>(last.imm);
      for (const Insn& insn : b->insns) delta += insn.len;
      job.blocks[0].taken_delta = delta;
    }
  }
  job.region = is_region;
  job.quick = quick;
  // In 64-bit mode (linear address = RIP) the code may be specialized to the address the block
  // was decoded at, or last recompiled for (docs/jit.md "Code specialized to its address").
  if ((b->mode_key & 1) && fixed_rip_levels_ >= (quick ? 2 : 1) &&
      b->respecialized <= kMaxRespecializations) {
    job.fixed_rip = true;
    job.entry_rip = b->rip;
  }
  b->rip_mismatches = 0;
  if (quick && accel_ != AccelMode::CompileAll) {
    job.entry_counter = &b->exec_count;
    job.entry_limit = optimize_threshold_;
  }
  if (is_region)
    for (Block* m : members) m->in_region = true;
  if (members.size() > 1) {
    // A change to any member's bytes must drop the region: widen the entry's extent over them.
    // The members will run inside this code from now on: they ask for code of their own only
    // if they get hot again on their own (entered from elsewhere), not because they were hot
    // together with the entry (which would compile the same loop once per block in it).
    for (Block* m : members) {
      if (m != b && !m->tier1_pending && (m->tier1_state == kTier1None || m->tier1_quick))
        m->exec_count = 0;
      const uint64_t begin = m->paddr, end = m->paddr + m->byte_len;
      b->extent_begin = b->extent_end ? std::min(b->extent_begin, begin) : begin;
      b->extent_end = std::max(b->extent_end, end);
    }
  }
  if (accel_ == AccelMode::CompileAll || sync_compile_) {
    profile::set(profile::kCompile);
    tier1::BlockFn fn = tier1_->compile_now(job);
    profile::set(profile::kDispatch);
    if (fn) {
      install_tier1(b, fn, job.id, is_region, quick);
    } else if (b->tier1_state != kTier1Compiled) {
      b->tier1_state = kTier1Failed;
      ++stats_.tier1_failed;
    }
    return;
  }
  if (b->tier1_state == kTier1None) b->tier1_state = kTier1Queued;
  // Its runs count again from here: threaded code returns to the dispatcher while the count is
  // at the hot threshold, which it need not do while the request is pending.
  if (quick) b->exec_count = 0;
  b->tier1_pending = job.id;
  tier1_pending_[job.id] = PendingCode{b, is_region, quick};
  tier1_->request(tier1_results_, std::move(job));
}

// Installs code the compiler thread finished. Blocks dropped meanwhile (self-modifying code,
// remapped pages, a flush) are no longer pending: their code is freed unused.
void Tier0Engine::install_tier1_results() {
  for (const tier1::ResultQueue::Result& r : tier1_results_->take()) {
    auto it = tier1_pending_.find(r.id);
    if (it == tier1_pending_.end()) {
      if (r.fn) tier1_->release(r.id);
      continue;
    }
    const PendingCode pending = it->second;
    Block* b = pending.block;
    tier1_pending_.erase(it);
    b->tier1_pending = 0;
    if (r.dropped) {
      // Not compiled (the compiler had a backlog): it may be requested again once hot again.
      if (b->tier1_state == kTier1Queued) b->tier1_state = kTier1None;
      b->exec_count = 0;
      continue;
    }
    if (r.fn && b->valid) {
      install_tier1(b, r.fn, r.id, pending.region, pending.quick);
    } else {
      if (r.fn) tier1_->release(r.id);
      if (!r.fn) ++stats_.tier1_failed;
      if (b->tier1_state == kTier1Queued) b->tier1_state = kTier1Failed;
      b->tier1_quick = false;  // an optimizing compile failed: keep the quick code, no retry
    }
  }
}

// A retired block must never be entered again: unlink every chain slot pointing to it, and its
// own slots from their targets' lists.
void Tier0Engine::on_block_retired(void* self, Block& b) {
  auto* e = static_cast<Tier0Engine*>(self);
  if (e->chain_from_ == &b) e->chain_from_ = nullptr;
  for (auto [from, k] : b.incoming) {
    if (from->chain[k].target == &b) from->chain[k] = ChainSlot{};
    e->relink(from);
  }
  b.incoming.clear();
  // Its code is never patched again.
  b.direct_sites[0] = b.direct_sites[1] = b.exit_sites[0] = b.exit_sites[1] = DirectSite{};
  for (uint8_t k = 0; k < 2; ++k) {
    Block* t = b.chain[k].target;
    if (!t) continue;
    std::erase(t->incoming, std::pair<Block*, uint8_t>{&b, k});
    b.chain[k] = ChainSlot{};
  }
}

// Links `from` (a block that just ran to its end, ending with a near control transfer) to `to`,
// the block the dispatcher found next, when it is on the physical page of `from` in the same
// decoding mode. Tier-1 code jumps through the slot itself when `to` is compiled (it checks at
// run time that the successor is on the linear page of its last instruction, so this page is
// where it is); the dispatcher uses the slot instead of a jump-cache lookup when the next PC is
// on the linear page `from` ran at (successor()).
void Tier0Engine::chain(Block* from, Block* to) {
  if (to->mode_key != from->mode_key || !to->valid || !from->valid || to->page2 != ~uint64_t{0})
    return;
  // A successor on another page is linked in 64-bit mode only (where the linear address is RIP),
  // with its host address: the code validates it against the fast TLB as find_block() does.
  const bool other_page = (to->paddr & kPageMask) != (from->paddr & kPageMask);
  if (other_page && !cpu_.mode64) return;
  const uint8_t* host = other_page ? to->host : nullptr;
  const uint64_t cs_base = cpu_.mode64 ? 0 : cpu_.seg[CS].base;
  for (const ChainSlot& s : from->chain)
    if (s.target == to && s.rip == cpu_.rip && s.cs_base == cs_base && s.host == host) return;
  const uint8_t k = from->chain_next;
  from->chain_next ^= 1;
  if (Block* old = from->chain[k].target)
    std::erase(old->incoming, std::pair<Block*, uint8_t>{from, k});
  // fn last: tier-1 code reads rip, then fn (same thread: no ordering issue).
  from->chain[k] = ChainSlot{cpu_.rip, cs_base, to->tier1, to, host};
  to->incoming.emplace_back(from, k);
  ++stats_.chains_linked;
  relink(from);
}

// A direct link site sits on a path whose successor follows from the bytes and is on the
// block's own page: whatever linear address the block runs at, the successor is the block at
// that offset of the block's physical page, in its mode. A slot that links that block (with no
// host address: on the same page) names it, and the site jumps to the slot's code without the
// slot's tests. Every change to `from`'s slots, or to the code they hold, comes through here
// (chain, install_threaded, install_tier1, on_block_retired), so a site never jumps to code
// that is not its successor's current code.
void Tier0Engine::relink(Block* from) {
  for (const DirectSite& site :
       {from->direct_sites[0], from->direct_sites[1], from->exit_sites[0], from->exit_sites[1]}) {
    if (!site.rel32) continue;
    const uint64_t successor = (from->paddr & kPageMask) | site.target_offset;
    const void* code = nullptr;
    bool threaded = false;  // the successor's code is threaded code: entered past its prologue
    for (const ChainSlot& s : from->chain)
      if (s.target && s.fn && !s.host && s.target->valid && s.target->paddr == successor) {
        code = reinterpret_cast<const void*>(s.fn);
        threaded = s.target->threaded_code != Block::kNoThreadedCode && s.fn == s.target->tier1;
      }
    if (threaded::ThreadedCompiler::link(site, code, threaded) && code) ++stats_.direct_links;
  }
}

// The successor of chain_from_ for the current RIP from its slots, if linked.
Block* Tier0Engine::successor(const Block* from) const {
  const uint64_t cs_base = cpu_.mode64 ? 0 : cpu_.seg[CS].base;
  for (const ChainSlot& s : from->chain)
    if (s.target && !s.host && s.rip == cpu_.rip && s.cs_base == cs_base) return s.target;
  return nullptr;
}

// Gives the block its tier-1 code; the chain slots pointing to it pick the code up, so chained
// code may jump here from now on. Code it had before (a block's, replaced by a region's) is
// released: no tier-1 code runs while the dispatcher installs.
void Tier0Engine::install_tier1(Block* b, tier1::BlockFn fn, uint64_t code, bool region,
                                bool quick) {
  if (b->threaded_code != Block::kNoThreadedCode)
    release_threaded(b);
  else if (b->tier1 && b->tier1_code != code)
    tier1_->release(b->tier1_code);
  b->tier1 = fn;
  b->tier1_code = code;
  b->tier1_region = region;
  b->tier1_quick = quick;
  b->tier1_since = cpu_.insn_count;
  b->exec_count = 0;  // quick code counts its own runs from here (docs/jit.md "Two levels")
  if (region) ++stats_.tier1_regions;
  b->tier1_state = kTier1Compiled;
  for (auto [from, k] : b->incoming) {
    from->chain[k].fn = fn;
    relink(from);
  }
  ++stats_.tier1_installed;
}

Block* Tier0Engine::rip_mismatch(Block* b) {
  ++stats_.rip_mismatches;
  if (++b->rip_mismatches >= kRespecializeAfter && !b->tier1_pending && b->valid &&
      b->tier1_state == kTier1Compiled) {
    // The block keeps running at this address: code for it (its kind of code again; after
    // kMaxRespecializations of these, code for any address).
    ++b->respecialized;
    ++stats_.respecialized;
    b->rip = cpu_.rip;  // 64-bit mode (the only one specialized): linear = RIP
    tier_up(b, b->tier1_region, b->tier1_quick);
  }
  return b;
}

void Tier0Engine::on_block_freed(void* self, const Block& b) {
  auto* e = static_cast<Tier0Engine*>(self);
  if (b.tier1_state == kTier1Compiled) e->tier1_->release(b.tier1_code);
  if (b.threaded_code != Block::kNoThreadedCode) e->threaded_->release(b.threaded_code);
  if (b.chain_exit_code != Block::kNoThreadedCode) e->threaded_->release(b.chain_exit_code);
  if (b.chain_exit_taken_code != Block::kNoThreadedCode)
    e->threaded_->release(b.chain_exit_taken_code);
  if (b.tier1_pending) e->tier1_pending_.erase(b.tier1_pending);
}

void Tier0Engine::flush() {
  cache_.clear();
  if (running_) cpu_.exit_request |= kExitCodeChanged;
}

const Block* Tier0Engine::build_block(uint64_t rip, uint32_t mode_key) {
  CpuState& cpu = cpu_;
  GuestMemory& mem = *cpu.memory;
  // Built in a block the engine owns until it is inserted: a fetch fault while decoding unwinds
  // with longjmp, which runs no destructors, so a local unique_ptr would leak.
  if (!scratch_) scratch_ = std::make_unique<Block>();
  std::unique_ptr<Block>& b = scratch_;
  *b = Block{};
  b->rip = rip;
  b->mode_key = mode_key;
  b->tier1_since = cpu.insn_count;  // its run count starts now
  b->page2 = ~uint64_t{0};
  b->host2 = nullptr;
  const DecodeMode mode{cpu.mode64 != 0, cpu.code32 != 0};

  uint64_t pc = rip;
  uint8_t buf[16];
  for (unsigned n = 0; n < kMaxBlockInsns; ++n) {
    uint64_t paddr = 0;
    unsigned got = fetch_code(cpu, pc, buf, 15, /*cross_page=*/false, &paddr);
    if (n == 0) b->paddr = paddr;
    Insn insn;
    DecodeStatus st = decode(buf, got, mode, &insn);
    if (st == DecodeStatus::NeedMore) {
      // The instruction continues on the next page. Only the block's first instruction may
      // fetch from there (a fault is then architecturally due); otherwise the next block
      // starts with it.
      if (n > 0) break;
      uint64_t first_page = paddr & kPageMask;
      got = fetch_code(cpu, pc, buf, 15, /*cross_page=*/true, nullptr);
      st = decode(buf, got, mode, &insn);
      uint64_t p2 = 0;
      uint8_t dummy;
      fetch_code(cpu, (pc + kPageSize) & kPageMask, &dummy, 1, false, &p2);
      if ((p2 & kPageMask) != first_page) {
        b->page2 = p2 & kPageMask;
        b->host2 = mem.host_ptr(b->page2);
      }
      if (st == DecodeStatus::NeedMore) st = DecodeStatus::TooLong;
    }
    if (st == DecodeStatus::TooLong) {
      insn.fn = &handler_too_long;
      insn.attrs |= attr::kEndsBlock;
    }
    if (st == DecodeStatus::Invalid) insn.attrs |= attr::kEndsBlock;
    b->insns.push_back(insn);
    pc += insn.len;
    if ((insn.attrs & attr::kEndsBlock) || is_rep_string(insn)) break;
    if (((pc ^ rip) & kPageMask) != 0) break;  // next instruction starts on another page
  }
  b->byte_len = static_cast<uint32_t>(pc - rip);
  b->host = mem.host_ptr(b->paddr);
  b->chainable = ends_chainable(*b);
  mem.mark_code_page(b->paddr);
  if (b->page2 != ~uint64_t{0}) mem.mark_code_page(b->page2);
  ++stats_.blocks_built;
  if (trace_blocks_) {
    std::fprintf(stderr, "block %#llx (phys %#llx), %zu insns\n",
                 static_cast<unsigned long long>(rip), static_cast<unsigned long long>(b->paddr),
                 b->insns.size());
    uint64_t a = rip;
    for (const Insn& i : b->insns) {
      uint8_t bytes[16] = {};
      fetch_code(cpu, a, bytes, i.len, true, nullptr);
      Disassembly d = disassemble_one(bytes, i.len, a, cpu.mode64 ? 64 : (cpu.code32 ? 32 : 16));
      std::fprintf(stderr, "  %#llx: %-8s %s%s\n", static_cast<unsigned long long>(a),
                   d.length ? d.mnemonic.c_str() : "(bad)", d.operands.c_str(),
                   (i.attrs & attr::kUnimplemented) ? "   [unimplemented: #UD]" : "");
      a += i.len;
    }
  }
  return cache_.insert(std::move(b));
}

// The linear address of the next instruction: CS.base + RIP outside 64-bit mode (where code
// addresses are 32 bits and wrap), RIP in 64-bit mode (CS.base is ignored there).
static inline uint64_t linear_pc(const CpuState& cpu) {
  return cpu.mode64 ? cpu.rip : static_cast<uint32_t>(cpu.seg[CS].base + cpu.rip);
}

// Finds (or builds) the block at the current PC. A jump-cache hit is validated against the
// current translation: the fast TLB's exec entry for the PC must still lead to the same host
// bytes, so a remapped code page never runs stale code.
const Block* Tier0Engine::find_block() {
  CpuState& cpu = cpu_;
  const uint64_t pc = linear_pc(cpu);
  const uint32_t mode_key = decode_mode_key(cpu);
  BlockCache::JumpEntry& je = cache_.jump_entry(pc);
  const TlbEntry& te = tlb_entry(cpu, pc);
  if (je.rip == pc && je.mode_key == mode_key && je.block->valid &&
      te.tag_exec == (pc & kPageMask) &&
      reinterpret_cast<const uint8_t*>(pc + te.addend) == je.block->host &&
      je.block->page2 == ~uint64_t{0}) {
    ++stats_.jump_cache_hits;
    return je.block;
  }
  ++stats_.jump_cache_misses;
  uint64_t paddr = 0;
  uint8_t byte;
  fetch_code(cpu, pc, &byte, 1, false, &paddr);  // translates (may fault) and fills the TLB
  Block* b = cache_.lookup(paddr, mode_key);
  if (b && b->page2 != ~uint64_t{0}) {
    // A block whose first instruction straddles pages: the second page must still be the same.
    uint64_t p2 = 0;
    fetch_code(cpu, (pc + kPageSize) & kPageMask, &byte, 1, false, &p2);
    if ((p2 & kPageMask) != b->page2) b = nullptr;
  }
  // The same physical code reached through another linear address reuses the block: decoded
  // instructions hold no linear addresses (RIP-relative operands use cpu.rip at run time).
  if (!b) b = const_cast<Block*>(build_block(pc, mode_key));
  je = BlockCache::JumpEntry{pc, mode_key, b};
  return b;
}

void Tier0Engine::deliver(const Event& ev) {
  ++stats_.events_delivered;
  cpu_.halted = 0;
  deliver_event(cpu_, ev);
  cpu_.delivering = 0;
}

// Runs exactly the instruction at the PC (single-step, interrupt shadow, RF), then raises the
// single-step trap when TF was set as it began (SDM vol. 3, 17.3.1.4).
void Tier0Engine::run_one_instruction() {
  CpuState& cpu = cpu_;
  const bool tf = cpu.rflags & rf::TF;
  const bool shadow = cpu.interrupt_shadow;
  const Block* b = find_block();
  running_ = b;
  running_rip_ = linear_pc(cpu);
  const Insn& insn = b->insns[0];
  insn.fn(cpu, insn);
  running_ = nullptr;
  ++cpu.insn_count;
  // RF suppresses instruction breakpoints for one instruction and is cleared once it completes
  // (SDM vol. 3, 17.3.1.1).
  cpu.rflags &= ~rf::RF;
  if (shadow) cpu.interrupt_shadow = 0;
  // Software interrupts clear TF on their way into the handler and report no single-step trap
  // for themselves; MOV SS / POP SS also hold off the trap for one instruction.
  const bool soft_int =
      insn.op == Op::INT || insn.op == Op::INT3 || insn.op == Op::INTO || insn.op == Op::INT1;
  if (tf && !soft_int && !cpu.interrupt_shadow && deliver_events_) {
    cpu.dr[6] |= 0x4000;  // DR6.BS
    deliver(Event{kDB, EventKind::Trap, false, 0, 0, cpu.rip});
  }
}

bool Tier0Engine::boundary_events() {
  CpuState& cpu = cpu_;
  if (deliver_events_ && !cpu.interrupt_shadow) {
    if (cpu.nmi_pending && !cpu.nmi_blocked) {
      cpu.nmi_pending = 0;
      cpu.nmi_blocked = 1;
      deliver(Event{kNMI, EventKind::Nmi, false, 0, 0, cpu.rip});
      return true;
    }
    if (cpu.irq_line && (cpu.rflags & rf::IF) && irq_ && irq_->has_interrupt()) {
      const uint8_t vector = irq_->acknowledge();
      cpu.irq_line = irq_->has_interrupt();
      deliver(Event{vector, EventKind::External, false, 0, 0, cpu.rip});
      return true;
    }
  }
  if (cpu.halted) return false;
  if (cpu.rflags & (rf::TF | rf::RF) || cpu.interrupt_shadow) {
    run_one_instruction();
    return true;
  }
  return false;
}

uint32_t Tier0Engine::run_blocks(uint64_t start, uint64_t max_insns) {
  CpuState& cpu = cpu_;
  cpu.insn_limit = max_insns > ~uint64_t{0} - start ? ~uint64_t{0} : start + max_insns;
  chain_from_ = nullptr;
  for (;;) {
    if (cpu.exit_request & ~(kExitCodeChanged | kExitInterrupt)) break;
    cpu.exit_request = 0;
    if (cpu.insn_count - start >= max_insns) {
      cpu.exit_request |= kExitInsnLimit;
      break;
    }
    cache_.reclaim();
    // The active fast-TLB table belongs to one privilege view (user / supervisor / supervisor
    // with SMAP override). Every instruction that can change CPL or EFLAGS.AC ends its block, so
    // checking here catches any change a handler did not switch tables for itself.
    if (const uint8_t view = tlb_privilege_view(cpu); __builtin_expect(view != tlb_view_, 0)) {
      tlb_select_view(cpu);
      tlb_view_ = view;
    }
    if (__builtin_expect(cpu.irq_line | cpu.nmi_pending | cpu.interrupt_shadow | cpu.halted, 0) ||
        __builtin_expect((cpu.rflags & (rf::TF | rf::RF)) != 0, 0)) {
      if (boundary_events()) {
        chain_from_ = nullptr;  // an event was delivered or one instruction stepped
        continue;
      }
      if (cpu.halted) {
        cpu.exit_request |= kExitHalt;
        break;
      }
    }
    if (tier1_results_ && tier1_results_->ready()) install_tier1_results();
    // The successor of a block that ended with a near branch on the same linear page is on the
    // same physical page: its chain slot names it without a jump-cache lookup and translation.
    Block* b = nullptr;
    if (chain_from_) {
      if (chain_from_pc_ != ~uint64_t{0} && ((linear_pc(cpu) ^ chain_from_pc_) & kPageMask) == 0) {
        b = successor(chain_from_);
        if (b) ++stats_.chain_hits;
      }
      if (!b) {
        b = const_cast<Block*>(find_block());
        chain(chain_from_, b);
      }
      chain_from_ = nullptr;
    } else {
      b = const_cast<Block*>(find_block());
    }
    ++b->exec_count;
    if (accel_ != AccelMode::Tier0) consider_tier_up(b);
    running_ = b;
    running_rip_ = linear_pc(cpu);
    if (b->tier1) {
      const uint64_t before = cpu.insn_count;
      tier1_entry_count_ = before;
      profile::set(profile::kTier1);
      umbra_enter_code(&cpu, b->tier1);
      profile::set(profile::kDispatch);
      // The last block that ran (chained code may have gone through several) is a chaining
      // candidate if it ran to its end with nothing to report.
      auto* last = static_cast<Block*>(const_cast<void*>(cpu.tier1_block));
      cpu.tier1_block = nullptr;
      cpu.tier1_region = nullptr;
      stats_.tier1_insns += cpu.insn_count - before;
      ++stats_.tier1_runs;
      if (__builtin_expect((cpu.exit_request & kExitRipMismatch) == 0, 1)) {
        if (cpu.exit_request == 0 && last->chainable && last->valid) {
          chain_from_ = last;
          // The linear page it ran at is known only if it is the block entered here.
          chain_from_pc_ = last == b ? running_rip_ : ~uint64_t{0};
        }
        // Code that counts its runs returns here when they make it hot: chained code may never
        // come through the dispatcher otherwise.
        if (last->valid && accel_ != AccelMode::Tier0) consider_tier_up(last);
        running_ = nullptr;
        continue;
      }
      // `last` is specialized to another linear address and ran nothing: tier 0 runs it.
      cpu.exit_request &= ~kExitRipMismatch;
      b = rip_mismatch(last);
      running_ = b;
      running_rip_ = linear_pc(cpu);
    }
    const Insn* i = b->insns.data();
    const Insn* const end = i + b->insns.size();
    profile::set(profile::kTier0);
    while (i != end) {
      i->fn(cpu, *i);
      ++i;
      if (__builtin_expect(cpu.exit_request != 0, 0)) break;
    }
    profile::set(profile::kDispatch);
    cpu.insn_count += static_cast<uint64_t>(i - b->insns.data());
    if (i == end && b->chainable && cpu.exit_request == 0) {
      chain_from_ = b;
      chain_from_pc_ = running_rip_;
    }
    running_ = nullptr;
  }
  return cpu.exit_request;
}

RunResult Tier0Engine::run(uint64_t max_insns) {
  CpuState& cpu = cpu_;
  std::jmp_buf jb;
  std::jmp_buf* const saved_jmp = cpu.fault_jmp;
  cpu.fault_jmp = &jb;
  const uint64_t start = cpu.insn_count;
  RunResult res{};

  for (;;) {
    if (setjmp(jb) == 0) {
      if (have_pending_event_) {
        have_pending_event_ = false;
        deliver(pending_event_);  // may fault again: back to the else branch below
      }
      res.reason = run_blocks(start, max_insns);
      cpu.exit_request &= ~(kExitHalt | kExitInsnLimit | kExitCodeChanged | kExitInterrupt);
      break;
    }
    // An exception unwound here. RIP points at the faulting instruction; count the
    // instructions of the block that completed before it.
    profile::set(profile::kDispatch);
    ++stats_.faults;
    chain_from_ = nullptr;
    const bool in_tier1 = cpu.tier1_block != nullptr;
    if (in_tier1) {
      // The fault came from tier-1 code, maybe a block reached by chaining: count that block's
      // completed instructions (its instructions are on the page of the faulting one).
      running_ = static_cast<const Block*>(cpu.tier1_block);
      running_rip_ = (linear_pc(cpu) & kPageMask) | (running_->paddr & ~kPageMask);
      cpu.tier1_block = nullptr;
      cpu.tier1_region = nullptr;
    }
    if (running_) {
      uint64_t a = running_rip_;
      const uint64_t pc = linear_pc(cpu);
      for (const Insn& i : running_->insns) {
        if (a == pc) break;
        a += i.len;
        ++cpu.insn_count;
      }
      running_ = nullptr;
    }
    if (in_tier1) {
      stats_.tier1_insns += cpu.insn_count - tier1_entry_count_;
      ++stats_.tier1_runs;
    }
    cpu.exit_request &= ~kExitCodeChanged;
    Event ev{static_cast<uint8_t>(cpu.pending_fault_vector),
             EventKind::Fault,
             cpu.pending_fault_has_error != 0,
             cpu.pending_fault_error,
             cpu.pending_fault_addr,
             cpu.rip};
    if (!ev.has_error) ev.error_code = 0;
    // CR2 takes the faulting address when the page fault is detected, so it is right even when
    // the fault turns into a double fault below (SDM vol. 3, 6.15, interrupt 14).
    if (deliver_events_ && ev.vector == kPF) cpu.cr2 = ev.fault_addr;
    if (!deliver_events_) {
      res.reason = kExitFault;
      res.vector = ev.vector;
      res.error_code = ev.has_error ? ev.error_code : kNoErrorCode;
      res.fault_addr = ev.fault_addr;
      cpu.exit_request = 0;
      break;
    }
    if (cpu.delivering) {
      // A fault while delivering another event (SDM vol. 3, 6.15, table 6-5).
      cpu.delivering = 0;
      switch (combine_nested_fault(cpu.delivering_vector,
                                   static_cast<EventKind>(cpu.delivering_kind), ev.vector)) {
        case NestedOutcome::DeliverSecond:
          break;
        case NestedOutcome::DoubleFault:
          ++stats_.double_faults;
          ev = Event{kDF, EventKind::Fault, true, 0, 0, cpu.rip};
          break;
        case NestedOutcome::TripleFault:
          res.reason = kExitShutdown | kExitTripleFault;
          res.vector = ev.vector;
          cpu.exit_request = 0;
          cpu.fault_jmp = saved_jmp;
          res.insns = cpu.insn_count - start;
          return res;
      }
    }
    pending_event_ = ev;
    have_pending_event_ = true;
  }
  cpu.fault_jmp = saved_jmp;
  res.insns = cpu.insn_count - start;
  return res;
}

}  // namespace umbra
