// Builds guest paging structures in a GuestMemory for the walker and translator tests: every
// paging mode, every page size, with direct access to each level's entry so a test can set any
// bit it wants. Written from the SDM's structure formats (vol. 3, 4.3-4.5), independently of
// softmmu/page_walk.cpp.
#pragma once

#include <gtest/gtest.h>

#include <csetjmp>
#include <cstdint>
#include <cstring>
#include <memory>

#include "frontend/cpu_state.h"
#include "frontend/system/mode.h"
#include "softmmu/guest_memory.h"
#include "softmmu/page_walk.h"

namespace umbra::test {

// A CPU with RAM and nothing else, all control registers zero (paging off).
class PagingCpu {
 public:
  static constexpr uint64_t kRamBytes = 32u << 20;

  PagingCpu() : mem_(kRamBytes), cpu_(std::make_unique<CpuState>()) {
    cpu_->memory = &mem_;
    cpu_->rflags = rf::FIXED1;
    for (TlbEntry& e : cpu_->tlb) e = TlbEntry{kTlbInvalid, kTlbInvalid, kTlbInvalid, 0};
  }

  CpuState& cpu() { return *cpu_; }
  GuestMemory& mem() { return mem_; }

  // Control registers for `mode` (CR0.PE|PG, CR4.PAE/PSE/LA57, EFER.LME|LMA), other bits clear.
  void enter(PagingMode mode, bool pse = true) {
    CpuState& c = *cpu_;
    c.cr0 = cr0::PE | cr0::ET;
    c.cr4 = 0;
    c.efer = 0;
    if (mode == PagingMode::kNone) return;
    c.cr0 |= cr0::PG;
    if (mode == PagingMode::k32Bit) {
      if (pse) c.cr4 |= cr4::PSE;
      return;
    }
    c.cr4 |= cr4::PAE;
    if (mode == PagingMode::kPae) return;
    c.efer |= efer::LME | efer::LMA;
    if (mode == PagingMode::k5Level) c.cr4 |= cr4::LA57;
  }

  template <typename T>
  T read(uint64_t paddr) {
    T v;
    std::memcpy(&v, mem_.ram() + paddr, sizeof(T));
    return v;
  }
  template <typename T>
  void write(uint64_t paddr, T v) {
    std::memcpy(mem_.ram() + paddr, &v, sizeof(T));
  }

  // Runs `f`, catching a raise_fault(). Returns true if it faulted.
  template <typename F>
  bool faults(F&& f) {
    std::jmp_buf jb;
    cpu_->fault_jmp = &jb;
    volatile bool faulted = false;  // survives the longjmp
    if (setjmp(jb) == 0) {
      f();
    } else {
      faulted = true;
    }
    cpu_->fault_jmp = nullptr;
    return faulted;
  }

 private:
  GuestMemory mem_;
  std::unique_ptr<CpuState> cpu_;
};

// The levels a mode's walk goes through: PAE has 3 (the PDPT of 4 entries), 32-bit 2, ...
inline unsigned top_level(PagingMode mode) {
  switch (mode) {
    case PagingMode::k32Bit:
      return 2;
    case PagingMode::kPae:
      return 3;
    case PagingMode::k4Level:
      return 4;
    case PagingMode::k5Level:
      return 5;
    default:
      return 0;
  }
}
inline unsigned entry_bytes(PagingMode mode) {
  return mode == PagingMode::k32Bit ? 4 : 8;
}

// Bit position of the lowest linear-address bit indexing a table at `level`.
inline unsigned level_shift(PagingMode mode, unsigned level) {
  if (mode == PagingMode::k32Bit) return level == 2 ? 22 : 12;
  return 12 + 9 * (level - 1);
}
inline uint64_t level_index(PagingMode mode, unsigned level, uint64_t linear) {
  unsigned bits =
      mode == PagingMode::k32Bit ? 10 : (mode == PagingMode::kPae && level == 3 ? 2 : 9);
  return (linear >> level_shift(mode, level)) & ((uint64_t{1} << bits) - 1);
}

// Paging structures for one mode, allocated bottom-up from a pool of zeroed RAM pages.
class PageTables {
 public:
  // Non-leaf entries the builder creates: present, writable, user.
  static constexpr uint64_t kTableFlags = pte::P | pte::RW | pte::US;

  PageTables(PagingCpu& pc, PagingMode mode, uint64_t pool_base = 0x100000)
      : pc_(pc), mode_(mode), next_(pool_base) {
    if (mode == PagingMode::kPae) {
      // The PDPT: 32 bytes anywhere 32-byte aligned; put it mid-page to exercise CR3 bits 11:5.
      root_ = alloc() + 0x7e0;
    } else {
      root_ = alloc();
    }
  }

  PagingMode mode() const { return mode_; }
  uint64_t cr3() const { return root_; }

  // Maps the page of `linear` with a leaf at `leaf_level` (1 = 4 KiB; 2 = 2/4 MiB; 3 = 1 GiB)
  // to `frame` (aligned to the page size by the caller), with `leaf_flags` (PS is added for a
  // large page). Missing tables on the way are created with kTableFlags (PAE PDPTEs: P only).
  void map(uint64_t linear, uint64_t frame, unsigned leaf_level, uint64_t leaf_flags) {
    uint64_t table = root_;
    for (unsigned level = top_level(mode_); level > leaf_level; --level) {
      uint64_t ea = table + entry_bytes(mode_) * level_index(mode_, level, linear);
      uint64_t e = read_entry(ea);
      if (!(e & pte::P)) {
        uint64_t t = alloc();
        e = t | (mode_ == PagingMode::kPae && level == 3 ? pte::P : kTableFlags);
        write_entry(ea, e);
      }
      table = e & 0x000ffffffffff000ull;
    }
    uint64_t ea = table + entry_bytes(mode_) * level_index(mode_, leaf_level, linear);
    write_entry(ea, frame | leaf_flags | (leaf_level > 1 ? pte::PS : 0));
  }

  // Physical address of the entry at `level` that translates `linear` (tables must exist).
  uint64_t entry_addr(uint64_t linear, unsigned level) {
    uint64_t table = root_;
    for (unsigned l = top_level(mode_); l > level; --l) {
      uint64_t e = read_entry(table + entry_bytes(mode_) * level_index(mode_, l, linear));
      table = e & (mode_ == PagingMode::k32Bit ? 0xfffff000ull : 0x000ffffffffff000ull);
    }
    return table + entry_bytes(mode_) * level_index(mode_, level, linear);
  }

  uint64_t read_entry(uint64_t ea) {
    return entry_bytes(mode_) == 4 ? pc_.read<uint32_t>(ea) : pc_.read<uint64_t>(ea);
  }
  void write_entry(uint64_t ea, uint64_t v) {
    if (entry_bytes(mode_) == 4)
      pc_.write<uint32_t>(ea, static_cast<uint32_t>(v));
    else
      pc_.write<uint64_t>(ea, v);
  }

 private:
  uint64_t alloc() {
    uint64_t p = next_;
    next_ += kPageSize;
    std::memset(pc_.mem().ram() + p, 0, kPageSize);
    return p;
  }

  PagingCpu& pc_;
  PagingMode mode_;
  uint64_t next_;
  uint64_t root_ = 0;
};

}  // namespace umbra::test
