#include "jit/block_cache.h"

#include <algorithm>

namespace umbra {

BlockCache::BlockCache() : jump_cache_(kJumpCacheSize, JumpEntry{~uint64_t{0}, 0, nullptr}) {}

Block* BlockCache::insert(std::unique_ptr<Block> b) {
  Block* raw = b.get();
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
  graveyard_.emplace_back(b);
}

void BlockCache::reclaim() {
  if (graveyard_.empty()) return;
  for (JumpEntry& e : jump_cache_)
    if (e.block && !e.block->valid) e = JumpEntry{~uint64_t{0}, 0, nullptr};
  graveyard_.clear();
}

size_t BlockCache::invalidate_page(uint64_t page_paddr, const Block* running, bool* hit_running) {
  auto it = by_page_.find(page_paddr);
  if (it == by_page_.end()) return 0;
  std::vector<Block*> victims = std::move(it->second);
  by_page_.erase(it);
  size_t n = 0;
  for (Block* b : victims) {
    if (!b->valid) continue;
    // Unlink from the other page's list too.
    for (uint64_t p : {b->paddr & kPageMask, b->page2}) {
      if (p == page_paddr || p == ~uint64_t{0}) continue;
      auto o = by_page_.find(p);
      if (o != by_page_.end()) std::erase(o->second, b);
    }
    auto m = map_.find(key(b->paddr, b->mode_key));
    if (m != map_.end() && m->second.get() == b) {
      if (b == running && hit_running) *hit_running = true;
      retire(m->second.release());
      map_.erase(m);
      ++n;
    }
  }
  return n;
}

void BlockCache::clear() {
  for (auto& [k, b] : map_) retire(b.release());
  map_.clear();
  by_page_.clear();
}

}  // namespace umbra
