#include "jit/block_cache.h"

#include <algorithm>
#include <atomic>

namespace umbra {

BlockCache::BlockCache() : jump_cache_(kJumpCacheSize, JumpEntry{~uint64_t{0}, 0, nullptr}) {}

namespace {
std::atomic<uint64_t> g_next_block_id{1};
}

Block* BlockCache::insert(std::unique_ptr<Block> b) {
  Block* raw = b.get();
  raw->id = g_next_block_id.fetch_add(1, std::memory_order_relaxed);
  by_page_[raw->paddr & kPageMask].push_back(raw);
  if (raw->page2 != ~uint64_t{0}) by_page_[raw->page2].push_back(raw);
  auto& slot = map_[key(raw->paddr, raw->mode_key)];
  if (slot) retire(slot.release());
  slot.reset(b.release());
  return raw;
}

// A retired block is only marked invalid (jump-cache hits check `valid`); it is freed by
// reclaim(), once nothing runs it.
void BlockCache::retire(Block* b) {
  b->valid = false;
  if (on_retire_) on_retire_(on_retire_ctx_, *b);
  graveyard_.emplace_back(b);
}

void BlockCache::reclaim_retired() {
  for (JumpEntry& e : jump_cache_)
    if (e.block && !e.block->valid) e = JumpEntry{~uint64_t{0}, 0, nullptr};
  if (on_free_)
    for (const auto& b : graveyard_) on_free_(on_free_ctx_, *b);
  graveyard_.clear();
}

size_t BlockCache::invalidate_page(uint64_t page_paddr, Running running, bool* hit_running) {
  auto it = by_page_.find(page_paddr);
  if (it == by_page_.end()) return 0;
  const std::vector<Block*> victims = it->second;
  for (Block* b : victims) {
    if ((b == running.first || b == running.second) && hit_running) *hit_running = true;
    unlink(b);
  }
  return victims.size();
}

// Drops `b` from the page lists and the map and retires it.
void BlockCache::unlink(Block* b) {
  for (uint64_t p : {b->paddr & kPageMask, b->page2}) {
    if (p == ~uint64_t{0}) continue;
    auto o = by_page_.find(p);
    if (o == by_page_.end()) continue;
    std::erase(o->second, b);
    if (o->second.empty()) by_page_.erase(o);
  }
  auto m = map_.find(key(b->paddr, b->mode_key));
  if (m != map_.end() && m->second.get() == b) {
    retire(m->second.release());
    map_.erase(m);
  }
}

size_t BlockCache::invalidate_range(uint64_t paddr, unsigned size, Running running,
                                    bool* hit_running) {
  const uint64_t end = paddr + size;
  std::vector<Block*> victims;
  for (uint64_t page = paddr & kPageMask; page < end; page += kPageSize) {
    auto it = by_page_.find(page);
    if (it == by_page_.end()) continue;
    for (Block* b : it->second) {
      // The block's bytes: [paddr, paddr + byte_len) when on one page; a block spanning two
      // pages covers the rest of its first page and the start of page2.
      const uint64_t first_end =
          std::min(b->paddr + b->byte_len, (b->paddr & kPageMask) + kPageSize);
      bool overlap = paddr < first_end && b->paddr < end;
      // A region's entry also covers its members (all on this page).
      if (b->extent_end) overlap = overlap || (paddr < b->extent_end && b->extent_begin < end);
      if (!overlap && b->page2 != ~uint64_t{0}) {
        const uint64_t rest = b->byte_len - (first_end - b->paddr);
        overlap = paddr < b->page2 + rest && b->page2 < end;
      }
      if (overlap) victims.push_back(b);
    }
  }
  std::sort(victims.begin(), victims.end());
  victims.erase(std::unique(victims.begin(), victims.end()), victims.end());
  for (Block* b : victims) {
    if ((b == running.first || b == running.second) && hit_running) *hit_running = true;
    unlink(b);
  }
  return victims.size();
}

void BlockCache::clear() {
  for (auto& [k, b] : map_) retire(b.release());
  map_.clear();
  by_page_.clear();
}

}  // namespace umbra
