#include "softmmu/guest_memory.h"

#include <sys/mman.h>

#include <cstring>
#include <stdexcept>

namespace umbra {

GuestMemory::GuestMemory(uint64_t ram_bytes) : ram_size_(ram_bytes) {
  // MAP_NORESERVE: the host commits pages only when the guest first touches them, so a guest
  // with -m 16G costs what it uses.
  void* p = mmap(nullptr, ram_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::runtime_error("cannot reserve guest RAM");
  ram_ = static_cast<uint8_t*>(p);
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
