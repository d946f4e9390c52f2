#include "softmmu/guest_memory.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace umbra {

GuestMemory::GuestMemory(uint64_t ram_bytes) : ram_size_(ram_bytes) {
  // MAP_NORESERVE: the host commits pages only when the guest first touches them, so a guest
  // with -m 16G costs what it uses.
  //
  // Transparent huge pages (MADV_HUGEPAGE on a 2 MiB-aligned mapping): with 4 KiB host pages a
  // guest that touches memory all over (a decompressor's dictionary, a page-table walk, a hash
  // over 64 MiB) spends much of its time in host TLB misses, on top of its own. With 2 MiB pages
  // the guest's RAM needs 512 times fewer host TLB entries (docs/softmmu.md "Guest RAM").
  // UMBRA_NO_HUGEPAGES=1 leaves the advice out (measurements).
  constexpr uint64_t kHuge = uint64_t{2} << 20;
  const uint64_t reserve = ram_bytes + kHuge;
  void* p = mmap(nullptr, reserve, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot reserve guest RAM");
  const uintptr_t start = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (start + kHuge - 1) & ~(kHuge - 1);
  // Give back the slack before and after the aligned range.
  if (aligned > start) munmap(p, aligned - start);
  if (const uint64_t tail = start + reserve - (aligned + ram_bytes); tail > 0)
    munmap(reinterpret_cast<void*>(aligned + ram_bytes), tail);
  ram_ = reinterpret_cast<uint8_t*>(aligned);
  const char* no_huge = std::getenv("UMBRA_NO_HUGEPAGES");
  if (!(no_huge && *no_huge == '1')) madvise(ram_, ram_bytes, MADV_HUGEPAGE);
  code_pages_.assign((ram_bytes + 4095) >> 12, 0);
}

void GuestMemory::mark_code_page(uint64_t paddr) {
  uint64_t pfn = paddr >> 12;
  if (pfn >= code_pages_.size() || (code_pages_[pfn] & kTrackCode)) return;
  code_pages_[pfn] |= kTrackCode;
  if (on_code_page_marked) on_code_page_marked(paddr & ~uint64_t{4095});
}

GuestMemory::~GuestMemory() {
  if (ram_) munmap(ram_, ram_size_);
}

void GuestMemory::add_mmio(uint64_t base, uint64_t size, MmioHandler handler, std::string name) {
  mmio_.push_back(Region{base, size, std::move(handler), std::move(name)});
}

const GuestMemory::Region* GuestMemory::find_mmio(uint64_t paddr) const {
  for (const Region& r : mmio_)
    if (paddr - r.base < r.size) return &r;
  return nullptr;
}

uint64_t GuestMemory::read_phys(uint64_t paddr, unsigned size) {
  uint64_t value = 0;
  for (unsigned i = 0; i < size;) {
    uint64_t a = paddr + i;
    if (a < ram_size_) {
      value |= uint64_t{ram_[a]} << (8 * i);
      ++i;
      continue;
    }
    if (const Region* r = find_mmio(a)) {
      // Largest piece that stays inside the region.
      unsigned n = size - i;
      while (a - r->base + n > r->size) n >>= 1;
      if (n == 0) n = 1;
      uint64_t v = r->handler.read ? r->handler.read(a - r->base, n) : ~uint64_t{0};
      if (n < 8) v &= (uint64_t{1} << (8 * n)) - 1;
      value |= v << (8 * i);
      i += n;
      continue;
    }
    ++unbacked_reads_;
    value |= uint64_t{0xff} << (8 * i);
    ++i;
  }
  return value;
}

void GuestMemory::write_phys(uint64_t paddr, unsigned size, uint64_t value) {
  for (unsigned i = 0; i < size;) {
    uint64_t a = paddr + i;
    if (a < ram_size_) {
      ram_[a] = static_cast<uint8_t>(value >> (8 * i));
      ++i;
      continue;
    }
    if (const Region* r = find_mmio(a)) {
      unsigned n = size - i;
      while (a - r->base + n > r->size) n >>= 1;
      if (n == 0) n = 1;
      uint64_t v = value >> (8 * i);
      if (n < 8) v &= (uint64_t{1} << (8 * n)) - 1;
      if (r->handler.write) r->handler.write(a - r->base, n, v);
      i += n;
      continue;
    }
    ++unbacked_writes_;
    ++i;
  }
}

bool GuestMemory::copy_to(uint64_t paddr, const void* src, size_t n) {
  if (paddr > ram_size_ || n > ram_size_ - paddr) return false;
  std::memcpy(ram_ + paddr, src, n);
  return true;
}

bool GuestMemory::copy_from(uint64_t paddr, void* dst, size_t n) const {
  if (paddr > ram_size_ || n > ram_size_ - paddr) return false;
  std::memcpy(dst, ram_ + paddr, n);
  return true;
}

}  // namespace umbra
