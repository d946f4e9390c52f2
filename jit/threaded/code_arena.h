// Executable memory for threaded code (docs/jit.md "Threaded code"): one reservation of address
// space, close to the executable so that calls to the semantic handlers are 5-byte rel32 calls,
// carved into chunks that hold many blocks' code each. Code is appended to the current chunk; a
// chunk whose blocks have all been released is emptied (its pages given back to the kernel) and
// used again. Owned by one engine and used by its CPU thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace umbra::threaded {

class CodeArena {
 public:
  static constexpr size_t kChunkBytes = size_t{64} << 10;
  static constexpr size_t kDefaultReserve = size_t{64} << 20;

  explicit CodeArena(size_t reserve_bytes = kDefaultReserve);
  ~CodeArena();
  CodeArena(const CodeArena&) = delete;
  CodeArena& operator=(const CodeArena&) = delete;

  bool ok() const { return base_ != nullptr; }

  // Room for up to `max_bytes` (at most kChunkBytes) of code; null when the reservation is full.
  // The caller writes its code there and then calls commit() with what it used (or nothing, to
  // give the room back).
  uint8_t* reserve(size_t max_bytes);
  // Keeps the first `used` bytes of the last reserve(); returns the handle that releases them.
  uint32_t commit(size_t used);
  // The code of `handle` is no longer reachable: its chunk is reused once all of its code is.
  void release(uint32_t handle);

  // Chunks holding live code (statistics, tests).
  size_t chunks_in_use() const { return chunks_.size() - free_chunks_.size(); }

 private:
  struct Chunk {
    size_t used = 0;    // bytes appended so far
    uint32_t live = 0;  // committed pieces not yet released
  };
  void empty_chunk(uint32_t index);

  uint8_t* base_ = nullptr;
  size_t reserve_bytes_ = 0;
  std::vector<Chunk> chunks_;          // chunks handed out so far
  std::vector<uint32_t> free_chunks_;  // emptied chunks, ready for reuse
  uint32_t current_ = UINT32_MAX;      // the chunk code is appended to
};

}  // namespace umbra::threaded
