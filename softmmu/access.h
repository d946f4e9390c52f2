// Guest linear-memory accesses as instruction semantics perform them.
//
// Fast path: one direct-mapped TLB probe (CpuState::tlb) and a host load/store; this is the path
// translated code will inline. Everything else (TLB miss, page-crossing access, MMIO, faults)
// goes to the out-of-line slow path in access.cpp, which asks the CPU's AddressTranslator.
#pragma once

#include <cstdint>
#include <cstring>

#include "frontend/cpu_state.h"

namespace umbra {

enum class Access : uint8_t { Read = 0, Write = 1, Exec = 2 };

// What a translation grants for the page containing the address.
struct Translation {
  uint64_t paddr;
  bool writable;
  bool executable;
  // Whether a data read by the same privilege is allowed (a fetch may be allowed where a read is
  // not: SMAP with SMEP off, supervisor fetching from a user page).
  bool readable = true;
};

// Linear -> physical. The identity translator serves paging-off and the tier-0 test entry point;
// the MMU issue provides the page walker with shadow page tables.
class TranslationCache;

class AddressTranslator {
 public:
  virtual ~AddressTranslator() = default;
  // Translates `linear` for `access` at the CPU's current privilege, or raises the guest fault
  // (raise_fault) when the access is not permitted.
  virtual Translation translate(CpuState& cpu, uint64_t linear, Access access) = 0;
  // The translation cache that owns the fast-TLB tables (softmmu/translation_cache.h), or null
  // when the single table CpuState::tlb is used (identity translation).
  virtual TranslationCache* translation_cache() { return nullptr; }
};

class IdentityTranslator final : public AddressTranslator {
 public:
  Translation translate(CpuState& cpu, uint64_t linear, Access access) override;
};

// Alignment checking (SDM vol. 3, 6.15 "Interrupt 17"): at CPL 3 with CR0.AM and EFLAGS.AC set,
// a misaligned data access raises #AC(0). While it is active the fast TLB is never filled (the
// privilege view changes, see paging_translator.h), so every access reaches the slow path, which
// checks alignment: the fast path pays nothing for it.
inline bool alignment_check_active(const CpuState& cpu) {
  return cpu.cpl == 3 && (cpu.cr0 & (uint64_t{1} << 18)) && (cpu.rflags & rf::AC);
}

// Flush every fast-TLB entry of every address space and view (CR0/CR4/EFER changes, the A20
// gate, reset, task switches).
void tlb_flush_all(CpuState& cpu);
// Flush the entry for one linear page (every view of the current address space).
void tlb_flush_page(CpuState& cpu, uint64_t linear);
// Revokes every cached direct-write grant to the guest physical page `page_paddr`, in every
// table (the page just became write-tracked: code or page table).
void tlb_revoke_write(CpuState& cpu, uint64_t page_paddr);

// ---- slow paths (access.cpp) ----
uint64_t read_slow(CpuState& cpu, uint64_t linear, unsigned size);
void write_slow(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value);
// Checks that `size` bytes at `linear` are writable (faulting as the write would) and returns
// the host pointer when the access can be done directly, or nullptr for MMIO/crossing accesses.
uint8_t* prepare_write_slow(CpuState& cpu, uint64_t linear, unsigned size);

// Does a `size`-byte access at `linear` stay within one page? (Page-crossing accesses take the
// slow path, which checks both pages before touching either.)
inline bool within_page(uint64_t linear, unsigned size) {
  return (linear & (kPageSize - 1)) <= kPageSize - size;
}

// Whether a fast-TLB entry's tag grants a `size`-byte access at `linear`: one compare that also
// says the access stays within the page. The tag is compared with the page of the access's
// last byte, while the entry is the one of its first byte's page: for an access that crosses
// into the next page the two differ (consecutive pages have different entries, and no tag is
// kTlbInvalid's value), so it takes the slow path like a miss, as within_page would send it.
inline bool tlb_grants(uint64_t tag, uint64_t linear, unsigned size) {
  return tag == ((linear + size - 1) & kPageMask);
}

// The active fast-TLB table (current address space and privilege view).
inline TlbEntry* tlb_table(CpuState& cpu) {
  return reinterpret_cast<TlbEntry*>(reinterpret_cast<uintptr_t>(cpu.tlb) +
                                     static_cast<uintptr_t>(cpu.tlb_offset));
}

// Entries in the active table.
inline unsigned tlb_entries(const CpuState& cpu) {
  return static_cast<unsigned>(cpu.tlb_mask >> 5) + 1;
}

inline TlbEntry& tlb_entry(CpuState& cpu, uint64_t linear) {
  return *reinterpret_cast<TlbEntry*>(reinterpret_cast<uintptr_t>(tlb_table(cpu)) +
                                      ((linear >> kTlbIndexShift) & cpu.tlb_mask));
}

template <typename T>
inline T read_mem(CpuState& cpu, uint64_t linear) {
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (__builtin_expect(tlb_grants(e.tag_read, linear, sizeof(T)), 1)) {
    T v;
    std::memcpy(&v, reinterpret_cast<const void*>(linear + e.addend), sizeof(T));
    return v;
  }
  return static_cast<T>(read_slow(cpu, linear, sizeof(T)));
}

template <typename T>
inline void write_mem(CpuState& cpu, uint64_t linear, T value) {
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (__builtin_expect(tlb_grants(e.tag_write, linear, sizeof(T)), 1)) {
    std::memcpy(reinterpret_cast<void*>(linear + e.addend), &value, sizeof(T));
    return;
  }
  write_slow(cpu, linear, sizeof(T), static_cast<uint64_t>(value));
}

// A memory operand prepared for read-modify-write: the write permission is checked (and a fault
// raised, reporting a write) before the old value is read, as the SDM specifies for RMW
// instructions. `host` is null when the access must go through the slow path.
struct MemRef {
  uint8_t* host;
  uint64_t linear;
};

template <typename T>
inline MemRef prepare_rmw(CpuState& cpu, uint64_t linear) {
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (__builtin_expect(tlb_grants(e.tag_write, linear, sizeof(T)), 1))
    return MemRef{reinterpret_cast<uint8_t*>(linear + e.addend), linear};
  return MemRef{prepare_write_slow(cpu, linear, sizeof(T)), linear};
}

template <typename T>
inline T load(CpuState& cpu, const MemRef& r) {
  if (__builtin_expect(r.host != nullptr, 1)) {
    T v;
    std::memcpy(&v, r.host, sizeof(T));
    return v;
  }
  return static_cast<T>(read_slow(cpu, r.linear, sizeof(T)));
}

template <typename T>
inline void store(CpuState& cpu, const MemRef& r, T value) {
  if (__builtin_expect(r.host != nullptr, 1)) {
    std::memcpy(r.host, &value, sizeof(T));
    return;
  }
  write_slow(cpu, r.linear, sizeof(T), static_cast<uint64_t>(value));
}

// Reads `n` bytes of code at `linear` into `buf` for the decoder. Reads stop at the end of the
// page unless `cross_page` is set (the decoder asks again only when an instruction really
// continues on the next page, so a fault on it is reported only when architecturally due).
// Returns the number of bytes read; *paddr receives the physical address of the first byte.
unsigned fetch_code(CpuState& cpu, uint64_t linear, uint8_t* buf, unsigned n, bool cross_page,
                    uint64_t* paddr);

}  // namespace umbra
