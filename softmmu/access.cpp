// Slow paths of guest memory access: TLB refill, page-crossing accesses, MMIO, faults.
#include "softmmu/access.h"

#include <cstring>

#include "jit/profile.h"
#include "softmmu/guest_memory.h"
#include "softmmu/translation_cache.h"

namespace umbra {

Translation IdentityTranslator::translate(CpuState&, uint64_t linear, Access) {
  return Translation{linear, true, true};
}

namespace {

constexpr TlbEntry kEmptyEntry{kTlbInvalid, kTlbInvalid, kTlbInvalid, 0};

TranslationCache* cache_of(CpuState& cpu) {
  return cpu.translator ? cpu.translator->translation_cache() : nullptr;
}

}  // namespace

void tlb_flush_all(CpuState& cpu) {
  if (TranslationCache* tc = cache_of(cpu)) {
    tc->flush_all(cpu);
    return;
  }
  cpu.tlb_offset = 0;
  cpu.tlb_mask = tlb_mask_for_bits(kTlbBits);
  for (TlbEntry& e : cpu.tlb) e = kEmptyEntry;
}

void tlb_flush_page(CpuState& cpu, uint64_t linear) {
  if (TranslationCache* tc = cache_of(cpu)) {
    tc->flush_range(cpu, linear & kPageMask, kPageSize);
    return;
  }
  TlbEntry& e = tlb_entry(cpu, linear);
  if (((e.tag_read ^ linear) & kPageMask) == 0 || ((e.tag_write ^ linear) & kPageMask) == 0 ||
      ((e.tag_exec ^ linear) & kPageMask) == 0)
    e = kEmptyEntry;
}

void tlb_revoke_write(CpuState& cpu, uint64_t page_paddr) {
  if (TranslationCache* tc = cache_of(cpu)) {
    tc->revoke_write(cpu, page_paddr);
    return;
  }
  const uint8_t* host = cpu.memory->host_ptr(page_paddr & kPageMask);
  for (TlbEntry& e : cpu.tlb)
    if (e.tag_write != kTlbInvalid &&
        reinterpret_cast<const uint8_t*>(e.tag_write + e.addend) == host)
      e.tag_write = kTlbInvalid;
}

namespace {

// Non-canonical linear addresses in 64-bit mode raise #GP(0) (SDM vol. 1, 3.3.7.1; the #SS
// case for stack references is refined with segmentation in the system issue).
void check_canonical(CpuState& cpu, uint64_t linear) {
  if (cpu.mode64 && !is_canonical48(linear)) raise_fault(cpu, kGP, 0);
}

// #AC for a misaligned operand of a naturally aligned size (word, dword, qword).
void check_alignment(CpuState& cpu, uint64_t linear, unsigned size) {
  if (__builtin_expect(alignment_check_active(cpu), 0) && (size & (size - 1)) == 0 &&
      (linear & (size - 1)) != 0)
    raise_fault(cpu, kAC, 0);
}

// Translates one page's worth of an access and, when the page is ordinary RAM, fills the fast
// TLB so the next access to it stays on the fast path.
Translation translate_and_fill(CpuState& cpu, uint64_t linear, Access access) {
  check_canonical(cpu, linear);
  Translation t = cpu.translator->translate(cpu, linear, access);
  // The A20 gate (port 0x92, the keyboard controller) masks physical address bit 20, as the
  // 8086's 1 MiB wrap-around requires.
  if (__builtin_expect(cpu.a20_off, 0)) t.paddr &= ~(uint64_t{1} << 20);
  GuestMemory& mem = *cpu.memory;
  uint64_t ppage = t.paddr & kPageMask;
  uint8_t* host = mem.host_ptr(ppage);
  if (host && mem.host_ptr(ppage + kPageSize - 1) && !alignment_check_active(cpu)) {
    TlbEntry& e = tlb_entry(cpu, linear);
    uint64_t vpage = linear & kPageMask;
    int64_t addend = reinterpret_cast<int64_t>(host) - static_cast<int64_t>(vpage);
    // One entry per linear page: if it held another page, start afresh.
    if (e.addend != addend ||
        ((e.tag_read != vpage) && (e.tag_write != vpage) && (e.tag_exec != vpage)))
      e = TlbEntry{kTlbInvalid, kTlbInvalid, kTlbInvalid, addend};
    if (t.readable) e.tag_read = vpage;
    // Write-tracked pages (translated code, page tables) are never written directly.
    if (t.writable && !mem.is_write_tracked(ppage)) {
      e.tag_write = vpage;
      if (TranslationCache* tc = cache_of(cpu)) tc->note_write_grant(cpu, host);
    }
    if (t.executable) e.tag_exec = vpage;
  }
  return t;
}

void write_phys_checked(CpuState& cpu, uint64_t paddr, unsigned size, uint64_t value) {
  GuestMemory& mem = *cpu.memory;
  // A write to a page-table page some cached translation came from: the translation cache drops
  // what the write changes, before it lands (it compares the old and new entry values).
  if (mem.is_table_page(paddr) || mem.is_table_page(paddr + size - 1)) {
    if (TranslationCache* tc = cache_of(cpu)) tc->on_table_write(cpu, paddr, size, value);
  }
  // A write to a page holding translated code: drop the affected blocks first (SMC detection).
  if (mem.is_code_page(paddr) || mem.is_code_page(paddr + size - 1)) {
    if (mem.on_code_write_range) {
      mem.on_code_write_range(paddr, size);
    } else {
      for (uint64_t p = paddr & kPageMask; p <= ((paddr + size - 1) & kPageMask); p += kPageSize) {
        if (mem.is_code_page(p)) {
          mem.clear_code_page(p);
          if (mem.on_code_write) mem.on_code_write(p);
        }
      }
    }
  }
  mem.write_phys(paddr, size, value);
}

}  // namespace

uint64_t read_slow(CpuState& cpu, uint64_t linear, unsigned size) {
  const profile::Scope in_mmu(profile::kMmu);
  GuestMemory& mem = *cpu.memory;
  check_alignment(cpu, linear, size);
  if (within_page(linear, size)) {
    Translation t = translate_and_fill(cpu, linear, Access::Read);
    return mem.read_phys(t.paddr, size);
  }
  // Page-crossing read: translate both pages (either may fault) before reading.
  unsigned first = static_cast<unsigned>(kPageSize - (linear & (kPageSize - 1)));
  Translation t0 = translate_and_fill(cpu, linear, Access::Read);
  Translation t1 = translate_and_fill(cpu, linear + first, Access::Read);
  uint64_t lo = mem.read_phys(t0.paddr, first);
  uint64_t hi = mem.read_phys(t1.paddr, size - first);
  return lo | (hi << (8 * first));
}

void write_slow(CpuState& cpu, uint64_t linear, unsigned size, uint64_t value) {
  const profile::Scope in_mmu(profile::kMmu);
  check_alignment(cpu, linear, size);
  if (within_page(linear, size)) {
    Translation t = translate_and_fill(cpu, linear, Access::Write);
    // If the fast TLB now grants the write (RAM, writable and dirty, not code, not a traced page
    // table), it is exactly the fast path's store; otherwise the checked physical write.
    const TlbEntry& e = tlb_entry(cpu, linear);
    if (e.tag_write == (linear & kPageMask)) {
      uint8_t* host = reinterpret_cast<uint8_t*>(linear + e.addend);
      switch (size) {  // fixed sizes: no call to memmove for one byte
        case 1:
          *host = static_cast<uint8_t>(value);
          return;
        case 2:
          std::memcpy(host, &value, 2);
          return;
        case 4:
          std::memcpy(host, &value, 4);
          return;
        case 8:
          std::memcpy(host, &value, 8);
          return;
        default:
          std::memcpy(host, &value, size);
          return;
      }
    }
    write_phys_checked(cpu, t.paddr, size, value);
    return;
  }
  // Page-crossing write: both pages are checked before either is written (SDM vol. 3, 4.7 makes
  // no partial-write promise; real processors check both, and a fault must leave memory intact).
  unsigned first = static_cast<unsigned>(kPageSize - (linear & (kPageSize - 1)));
  Translation t0 = translate_and_fill(cpu, linear, Access::Write);
  Translation t1 = translate_and_fill(cpu, linear + first, Access::Write);
  write_phys_checked(cpu, t0.paddr, first, value);
  write_phys_checked(cpu, t1.paddr, size - first, value >> (8 * first));
}

uint8_t* prepare_write_slow(CpuState& cpu, uint64_t linear, unsigned size) {
  const profile::Scope in_mmu(profile::kMmu);
  check_alignment(cpu, linear, size);
  if (within_page(linear, size)) {
    translate_and_fill(cpu, linear, Access::Write);
  } else {
    unsigned first = static_cast<unsigned>(kPageSize - (linear & (kPageSize - 1)));
    translate_and_fill(cpu, linear, Access::Write);
    translate_and_fill(cpu, linear + first, Access::Write);
    return nullptr;
  }
  // Direct access only if the TLB now grants it (RAM, writable, not a code page).
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (e.tag_write == (linear & kPageMask)) return reinterpret_cast<uint8_t*>(linear + e.addend);
  return nullptr;
}

unsigned fetch_code(CpuState& cpu, uint64_t linear, uint8_t* buf, unsigned n, bool cross_page,
                    uint64_t* paddr) {
  GuestMemory& mem = *cpu.memory;
  unsigned done = 0;
  while (done < n) {
    uint64_t la = linear + done;
    if (done > 0 && (la & (kPageSize - 1)) == 0 && !cross_page) break;
    Translation t = translate_and_fill(cpu, la, Access::Exec);
    if (done == 0 && paddr) *paddr = t.paddr;
    unsigned in_page = static_cast<unsigned>(kPageSize - (la & (kPageSize - 1)));
    unsigned chunk = n - done < in_page ? n - done : in_page;
    if (uint8_t* host = mem.host_ptr(t.paddr); host && mem.host_ptr(t.paddr + chunk - 1)) {
      for (unsigned i = 0; i < chunk; ++i) buf[done + i] = host[i];
    } else {
      for (unsigned i = 0; i < chunk; ++i)
        buf[done + i] = static_cast<uint8_t>(mem.read_phys(t.paddr + i, 1));
    }
    done += chunk;
  }
  return done;
}

}  // namespace umbra
