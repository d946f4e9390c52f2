// The guest physical address space: RAM (reserved up front, committed lazily by the host kernel
// as the guest touches it) and a map of MMIO regions that devices register into.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace umbra {

// A device's MMIO window. Accesses are 1, 2, 4 or 8 bytes, naturally split by the caller when a
// guest access straddles the region's end.
struct MmioHandler {
  std::function<uint64_t(uint64_t offset, unsigned size)> read;
  std::function<void(uint64_t offset, unsigned size, uint64_t value)> write;
};

class GuestMemory {
 public:
  // Reserves `ram_bytes` of host address space for guest RAM at guest physical address 0.
  // The PC hole (below 4 GiB) arrives with the platform issue; until then RAM is one flat range.
  explicit GuestMemory(uint64_t ram_bytes);
  ~GuestMemory();
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;

  uint64_t ram_size() const { return ram_size_; }
  uint8_t* ram() const { return ram_; }

  // Host pointer for guest physical `paddr` when it is RAM, else nullptr (MMIO or unbacked).
  uint8_t* host_ptr(uint64_t paddr) const {
    return paddr < ram_size_ ? ram_ + paddr : nullptr;
  }

  void add_mmio(uint64_t base, uint64_t size, MmioHandler handler, std::string name);

  // Slow-path physical accesses (any size up to 8, any region). Unbacked addresses read as all
  // ones and ignore writes, as on a PC bus with nothing decoding the address.
  uint64_t read_phys(uint64_t paddr, unsigned size);
  void write_phys(uint64_t paddr, unsigned size, uint64_t value);

  // Bulk copies for loaders and the monitor; return false if any byte is outside RAM.
  bool copy_to(uint64_t paddr, const void* src, size_t n);
  bool copy_from(uint64_t paddr, void* dst, size_t n) const;

  // Write tracking (DESIGN.md sections 3 and 4): one flag byte per RAM page says why the fast
  // TLB must never grant direct writes to it, so every guest write to it reaches write_slow():
  //  - kTrackCode: the page holds translated code; the code-write hooks drop the stale blocks
  //    before the write lands (self-modifying code).
  //  - kTrackPageTable: a cached translation was derived from a paging-structure entry on the
  //    page; the translation cache drops what the write changes (softmmu/translation_cache.h).
  static constexpr uint8_t kTrackCode = 1, kTrackPageTable = 2;
  uint8_t track_flags(uint64_t paddr) const {
    uint64_t pfn = paddr >> 12;
    return pfn < code_pages_.size() ? code_pages_[pfn] : 0;
  }
  bool is_write_tracked(uint64_t paddr) const { return track_flags(paddr) != 0; }
  bool is_code_page(uint64_t paddr) const { return track_flags(paddr) & kTrackCode; }
  bool is_table_page(uint64_t paddr) const { return track_flags(paddr) & kTrackPageTable; }
  void mark_code_page(uint64_t paddr);
  void clear_code_page(uint64_t paddr) {
    uint64_t pfn = paddr >> 12;
    if (pfn < code_pages_.size()) code_pages_[pfn] &= ~kTrackCode;
  }
  // Returns true when the page was not a tracked page table before (the caller revokes cached
  // write grants). Only the translation cache marks and clears page tables.
  bool mark_table_page(uint64_t paddr) {
    uint64_t pfn = paddr >> 12;
    if (pfn >= code_pages_.size() || (code_pages_[pfn] & kTrackPageTable)) return false;
    code_pages_[pfn] |= kTrackPageTable;
    return true;
  }
  void clear_table_page(uint64_t paddr) {
    uint64_t pfn = paddr >> 12;
    if (pfn < code_pages_.size()) code_pages_[pfn] &= ~kTrackPageTable;
  }
  std::function<void(uint64_t page_paddr)> on_code_write;
  // Finer-grained form used by the CPU's store path when set: [paddr, paddr+size) is about to be
  // written on a code page; the hook drops only the blocks whose bytes overlap the write and
  // clears the page's mark itself when no block is left on it, so data that shares a page with
  // code does not keep throwing the code away.
  std::function<void(uint64_t paddr, unsigned size)> on_code_write_range;
  // Called when a page first becomes a code page, so cached write permissions can be revoked.
  std::function<void(uint64_t page_paddr)> on_code_page_marked;

  uint64_t unbacked_reads() const { return unbacked_reads_; }
  uint64_t unbacked_writes() const { return unbacked_writes_; }

 private:
  struct Region {
    uint64_t base, size;
    MmioHandler handler;
    std::string name;
  };
  const Region* find_mmio(uint64_t paddr) const;

  uint8_t* ram_ = nullptr;
  uint64_t ram_size_ = 0;
  std::vector<Region> mmio_;
  std::vector<uint8_t> code_pages_;  // one byte of kTrack* flags per RAM page
  uint64_t unbacked_reads_ = 0, unbacked_writes_ = 0;
};

}  // namespace umbra
