#include "jit/threaded/code_arena.h"

#include <sys/mman.h>

namespace umbra::threaded {

namespace {

// Any function of the executable: the semantic handlers are near it.
void anchor() {}

constexpr size_t kEntryAlign = 16;

bool within_rel32(uintptr_t a, uintptr_t b, size_t span) {
  const uintptr_t lo = a < b ? a : b, hi = a < b ? b : a;
  return hi + span - lo < (uintptr_t{1} << 31);
}

}  // namespace

// The reservation is placed a few hundred MiB from the executable's code (tried below it first,
// where a PIE's neighbourhood is empty), so every handler is within a rel32 call from any code
// in it. If no such place is free, anywhere will do: the emitter then calls through a register.
CodeArena::CodeArena(size_t reserve_bytes) : reserve_bytes_(reserve_bytes) {
  const auto near = reinterpret_cast<uintptr_t>(&anchor);
  constexpr uintptr_t kAlign = uintptr_t{2} << 20;
  const intptr_t offsets[] = {-(intptr_t{512} << 20), -(intptr_t{1} << 30), intptr_t{512} << 20,
                              intptr_t{1} << 30};
  const int prot = PROT_READ | PROT_WRITE | PROT_EXEC;
  const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  for (intptr_t off : offsets) {
    if (off < 0 && near < static_cast<uintptr_t>(-off) + reserve_bytes) continue;
    const uintptr_t hint = (near + static_cast<uintptr_t>(off)) & ~(kAlign - 1);
    void* p = mmap(reinterpret_cast<void*>(hint), reserve_bytes, prot, flags | MAP_FIXED_NOREPLACE,
                   -1, 0);
    if (p == MAP_FAILED) continue;
    if (within_rel32(reinterpret_cast<uintptr_t>(p), near, reserve_bytes)) {
      base_ = static_cast<uint8_t*>(p);
      return;
    }
    munmap(p, reserve_bytes);  // an old kernel took the hint as a hint only
  }
  void* p = mmap(nullptr, reserve_bytes, prot, flags, -1, 0);
  if (p != MAP_FAILED) base_ = static_cast<uint8_t*>(p);
}

CodeArena::~CodeArena() {
  if (base_) munmap(base_, reserve_bytes_);
}

uint8_t* CodeArena::reserve(size_t max_bytes) {
  if (!base_ || max_bytes > kChunkBytes) return nullptr;
  if (current_ != UINT32_MAX && chunks_[current_].used + max_bytes <= kChunkBytes)
    return base_ + size_t{current_} * kChunkBytes + chunks_[current_].used;
  uint32_t next;
  if (!free_chunks_.empty()) {
    next = free_chunks_.back();
    free_chunks_.pop_back();
  } else if ((chunks_.size() + 1) * kChunkBytes <= reserve_bytes_) {
    next = static_cast<uint32_t>(chunks_.size());
    chunks_.emplace_back();
  } else {
    return nullptr;
  }
  // The chunk left behind is emptied when its last piece is released (or now, if it has none).
  if (current_ != UINT32_MAX && chunks_[current_].live == 0) empty_chunk(current_);
  current_ = next;
  return base_ + size_t{current_} * kChunkBytes;
}

uint32_t CodeArena::commit(size_t used) {
  Chunk& c = chunks_[current_];
  c.used += (used + kEntryAlign - 1) & ~(kEntryAlign - 1);
  ++c.live;
  return current_;
}

void CodeArena::release(uint32_t handle) {
  Chunk& c = chunks_[handle];
  if (--c.live != 0) return;
  if (handle == current_)
    c.used = 0;  // nothing in it is reachable: append from its start again
  else
    empty_chunk(handle);
}

void CodeArena::empty_chunk(uint32_t index) {
  madvise(base_ + size_t{index} * kChunkBytes, kChunkBytes, MADV_DONTNEED);
  chunks_[index].used = 0;
  free_chunks_.push_back(index);
}

}  // namespace umbra::threaded
