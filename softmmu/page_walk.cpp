// The guest page walker (SDM vol. 3, chapter 4). See page_walk.h for the contract.
#include "softmmu/page_walk.h"

#include <cstring>

#include "frontend/system/mode.h"
#include "softmmu/guest_memory.h"

namespace umbra {

namespace {

// Bits hi..lo inclusive; empty when hi < lo.
constexpr uint64_t bit_range(unsigned hi, unsigned lo) {
  if (hi < lo) return 0;
  uint64_t upto_hi = hi >= 63 ? ~uint64_t{0} : (uint64_t{1} << (hi + 1)) - 1;
  return upto_hi & ~((uint64_t{1} << lo) - 1);
}

unsigned clamp_maxphyaddr(const PagingFeatures& f) {
  unsigned m = f.maxphyaddr;
  return m < 36 ? 36 : (m > 52 ? 52 : m);
}

// ---- reading and updating paging-structure entries in guest physical memory ----

class EntryAccess {
 public:
  EntryAccess(GuestMemory& mem, bool side_effect_free) : mem_(mem), probe_(side_effect_free) {}

  uint64_t read(uint64_t paddr, unsigned size) const {
    if (uint8_t* host = ram(paddr, size)) {
      // Entries are naturally aligned (table base is page- or 32-byte-aligned, index * size), so
      // an atomic load sees either the old or the new value of a concurrent update.
      if (size == 4) return __atomic_load_n(reinterpret_cast<uint32_t*>(host), __ATOMIC_ACQUIRE);
      return __atomic_load_n(reinterpret_cast<uint64_t*>(host), __ATOMIC_ACQUIRE);
    }
    // Outside RAM. The monitor's probe never touches devices; the architectural walk reads
    // through the bus like the processor (unbacked addresses read as all ones).
    if (probe_) return size == 4 ? 0xffffffffu : ~uint64_t{0};
    return mem_.read_phys(paddr, size);
  }

  // Sets `bits` in the entry at `paddr` if it still holds `expected`. Returns false when the
  // entry changed since the walk read it (another vCPU or a device wrote it): the walk restarts.
  bool set_bits(uint64_t paddr, unsigned size, uint64_t expected, uint64_t bits) {
    uint64_t desired = expected | bits;
    if (uint8_t* host = ram(paddr, size)) {
      bool ok;
      if (size == 4) {
        uint32_t exp32 = static_cast<uint32_t>(expected);
        ok = __atomic_compare_exchange_n(reinterpret_cast<uint32_t*>(host), &exp32,
                                         static_cast<uint32_t>(desired), false, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE);
      } else {
        uint64_t exp64 = expected;
        ok = __atomic_compare_exchange_n(reinterpret_cast<uint64_t*>(host), &exp64, desired, false,
                                         __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
      }
      if (!ok) return false;
    } else {
      // Paging structures in MMIO space: no atomicity to be had, write through the bus.
      mem_.write_phys(paddr, size, desired);
    }
    // The update is a write to guest memory: translated code on the page must go (SDM vol. 3,
    // 4.8 allows either, dropping stale blocks is the safe choice).
    if (mem_.is_code_page(paddr)) {
      mem_.clear_code_page(paddr);
      if (mem_.on_code_write) mem_.on_code_write(paddr & kPageMask);
    }
    return true;
  }

 private:
  uint8_t* ram(uint64_t paddr, unsigned size) const {
    uint8_t* host = mem_.host_ptr(paddr);
    return host && mem_.host_ptr(paddr + size - 1) ? host : nullptr;
  }

  GuestMemory& mem_;
  bool probe_;
};

// ---- the walk ----

// Reserved bits of a present entry at `level` (SDM vol. 3, tables 4-4..4-6 for 32-bit paging,
// 4-8..4-11 for PAE, 4-14..4-20 for 4-/5-level paging). `maps_page` says PS = 1 where PS is
// honoured.
struct ReservedRules {
  PagingMode mode;
  unsigned maxphyaddr;
  bool nxe;
  bool pages_1g;

  uint64_t mask(unsigned level, uint64_t entry, bool maps_page) const {
    uint64_t nx = nxe ? 0 : pte::XD;  // XD is reserved unless EFER.NXE = 1
    switch (mode) {
      case PagingMode::k32Bit: {
        // Only a 4-MByte PDE has reserved bits: 21:(M-19), M = min(MAXPHYADDR, 40) (table 4-4).
        if (level == 2 && maps_page) {
          unsigned m = maxphyaddr < 40 ? maxphyaddr : 40;
          return bit_range(21, m - 19);
        }
        return 0;
      }
      case PagingMode::kPae: {
        // PAE PDEs and PTEs: bits 62:MAXPHYADDR reserved (tables 4-9..4-11).
        uint64_t r = bit_range(62, maxphyaddr) | nx;
        if (level == 2 && maps_page) r |= bit_range(20, 13);
        return r;
      }
      case PagingMode::k4Level:
      case PagingMode::k5Level: {
        // Bits 51:MAXPHYADDR reserved; 62:52 ignored (tables 4-14..4-20).
        uint64_t r = bit_range(51, maxphyaddr) | nx;
        if (level >= 4) return r | pte::PS;  // PS is reserved in PML5Es and PML4Es
        if (level == 3 && (entry & pte::PS)) {
          if (!pages_1g) return r | pte::PS;  // no 1-GByte pages: PS itself is reserved
          return r | bit_range(29, 13);
        }
        if (level == 2 && maps_page) r |= bit_range(20, 13);
        return r;
      }
      case PagingMode::kNone:
        break;
    }
    return 0;
  }
};

// The walk itself, shared by walk() and probe_walk(). Returns false if an A/D update lost a race
// and the walk must start over.
class Walker {
 public:
  Walker(const CpuState& cpu, const PagingFeatures& f, AccessIntent intent, EntryAccess& entries)
      : cpu_(cpu), intent_(intent), entries_(entries) {
    mode_ = paging_mode(cpu);
    rules_ = ReservedRules{mode_, clamp_maxphyaddr(f), (cpu.efer & efer::NXE) != 0, f.pages_1g};
  }

  // Translates `linear` into r (levels, status, paddr, rights). No A/D update.
  void translate(uint64_t linear, WalkResult& r) const {
    r = WalkResult{};
    r.mode = mode_;
    switch (mode_) {
      case PagingMode::kNone:
        r.paddr = linear;
        r.page_size = kPageSize;
        return;
      case PagingMode::k32Bit:
        walk_32bit(static_cast<uint32_t>(linear), r);
        return;
      case PagingMode::kPae:
        walk_pae(static_cast<uint32_t>(linear), r);
        return;
      case PagingMode::k4Level:
        walk_long(linear, 4, r);
        return;
      case PagingMode::k5Level:
        walk_long(linear, 5, r);
        return;
    }
  }

  // Sets the A bit of every entry the walk used and, for a write, the leaf's D bit (SDM vol. 3,
  // 4.8), root first. PAE PDPTEs live in registers and have no A bit (bit 5 is reserved there).
  bool update_accessed_dirty(WalkResult& r) {
    for (unsigned i = 0; i < r.num_levels; ++i) {
      WalkLevel& l = r.levels[i];
      if (l.from_register) continue;
      uint64_t needed = pte::A;
      if (l.maps_page && intent_.access == Access::Write) needed |= pte::D;
      if ((l.entry & needed) == needed) continue;
      if (!entries_.set_bits(l.entry_addr, l.entry_size, l.entry, needed)) return false;
    }
    if (intent_.access == Access::Write) r.dirty = true;
    return true;
  }

 private:
  // Records the entry, checks P and reserved bits, folds its rights in. Returns false if the
  // walk ends here with a fault.
  bool use_entry(WalkResult& r, unsigned level, uint64_t entry_addr, unsigned size, bool maps_page,
                 uint64_t entry, bool from_register) const {
    WalkLevel& l = r.levels[r.num_levels++];
    l.entry_addr = entry_addr;
    l.entry = entry;
    l.level = static_cast<uint8_t>(level);
    l.entry_size = static_cast<uint8_t>(size);
    l.from_register = from_register;
    l.maps_page = maps_page;
    // Not present: nothing else in the entry is looked at, reserved bits included (4.7).
    if (!(entry & pte::P)) return fail(r, WalkStatus::kNotPresent, level);
    // PAE PDPTE registers were checked when loaded (4.4.1).
    if (!from_register && (entry & rules_.mask(level, entry, maps_page)))
      return fail(r, WalkStatus::kReservedBit, level);
    if (!from_register) {
      r.rights.user = r.rights.user && (entry & pte::US);
      r.rights.writable = r.rights.writable && (entry & pte::RW);
      r.rights.no_execute = r.rights.no_execute || (entry & pte::XD);
    }
    if (maps_page) r.dirty = entry & pte::D;
    return true;
  }

  static bool fail(WalkResult& r, WalkStatus s, unsigned level) {
    r.status = s;
    r.fault_level = static_cast<uint8_t>(level);
    return false;
  }

  // 32-bit paging (SDM vol. 3, 4.3): PDE from CR3[31:12] + linear[31:22]; with CR4.PSE a PDE
  // with PS = 1 maps a 4-MByte page, otherwise it references a page table.
  void walk_32bit(uint32_t linear, WalkResult& r) const {
    uint64_t pde_addr = (cpu_.cr3 & 0xfffff000u) | ((linear >> 22) << 2);
    uint64_t pde = entries_.read(pde_addr, 4);
    bool large = (cpu_.cr4 & cr4::PSE) && (pde & pte::PS);
    if (!use_entry(r, 2, pde_addr, 4, large, pde, false)) return;
    if (large) {
      // PSE-36: PDE bits (M-20):13 are physical address bits (M-1):32, M = min(MAXPHYADDR, 40).
      unsigned m = rules_.maxphyaddr < 40 ? rules_.maxphyaddr : 40;
      uint64_t high = (pde >> 13) & ((uint64_t{1} << (m - 32)) - 1);
      finish(r, (pde & 0xffc00000u) | (high << 32), linear, 22);
      return;
    }
    uint64_t pte_addr = (pde & 0xfffff000u) | (((linear >> 12) & 0x3ff) << 2);
    uint64_t pte = entries_.read(pte_addr, 4);
    if (!use_entry(r, 1, pte_addr, 4, true, pte, false)) return;
    finish(r, pte & 0xfffff000u, linear, 12);
  }

  // PAE paging (SDM vol. 3, 4.4): PDPTE register linear[31:30], then PD and PT with 8-byte
  // entries; a PDE with PS = 1 maps a 2-MByte page regardless of CR4.PSE.
  void walk_pae(uint32_t linear, WalkResult& r) const {
    unsigned i = linear >> 30;
    uint64_t pdpte_addr = (cpu_.cr3 & 0xffffffe0u) + 8 * i;
    uint64_t pdpte = cpu_.pdpte[i];
    if (!use_entry(r, 3, pdpte_addr, 8, false, pdpte, true)) return;
    uint64_t addr_mask = bit_range(rules_.maxphyaddr - 1, 12);
    uint64_t table = pdpte & addr_mask;
    for (unsigned level = 2; level >= 1; --level) {
      unsigned shift = 12 + 9 * (level - 1);
      uint64_t entry_addr = table + 8 * ((linear >> shift) & 0x1ff);
      uint64_t entry = entries_.read(entry_addr, 8);
      bool maps_page = level == 1 || (entry & pte::PS);
      if (!use_entry(r, level, entry_addr, 8, maps_page, entry, false)) return;
      if (maps_page) {
        finish(r, entry & bit_range(rules_.maxphyaddr - 1, shift), linear, shift);
        return;
      }
      table = entry & addr_mask;
    }
  }

  // 4-level and 5-level paging (SDM vol. 3, 4.5): 9 index bits per level from linear[47:39]
  // (PML4) or linear[56:48] (PML5) down; PS = 1 maps a 1-GByte page in a PDPTE, a 2-MByte page
  // in a PDE.
  void walk_long(uint64_t linear, unsigned top, WalkResult& r) const {
    uint64_t addr_mask = bit_range(rules_.maxphyaddr - 1, 12);
    uint64_t table = cpu_.cr3 & addr_mask;
    for (unsigned level = top; level >= 1; --level) {
      unsigned shift = 12 + 9 * (level - 1);
      uint64_t entry_addr = table + 8 * ((linear >> shift) & 0x1ff);
      uint64_t entry = entries_.read(entry_addr, 8);
      // PS at levels 5 and 4 is a reserved bit, and at level 3 without 1-GByte pages: such an
      // entry fails the reserved check in use_entry() before its PS could matter.
      bool maps_page = level == 1 || (level <= 3 && (entry & pte::PS));
      if (!use_entry(r, level, entry_addr, 8, maps_page, entry, false)) return;
      if (maps_page) {
        finish(r, entry & bit_range(rules_.maxphyaddr - 1, shift), linear, shift);
        return;
      }
      table = entry & addr_mask;
    }
  }

  void finish(WalkResult& r, uint64_t frame, uint64_t linear, unsigned page_shift) const {
    uint64_t size = uint64_t{1} << page_shift;
    r.page_size = size;
    r.paddr = frame | (linear & (size - 1));
  }

  const CpuState& cpu_;
  AccessIntent intent_;
  EntryAccess& entries_;
  PagingMode mode_;
  ReservedRules rules_;
};

// Applies the access-rights check and the error code to a walk that reached a leaf.
void judge(const CpuState& cpu, AccessIntent intent, WalkResult& r) {
  if (r.mode != PagingMode::kNone && r.has_translation())
    r.status = check_access_rights(paging_controls(cpu), r.rights, intent);
  if (!r.ok()) r.error_code = page_fault_error_code(cpu, r.status, intent);
}

}  // namespace

const char* paging_mode_name(PagingMode mode) {
  switch (mode) {
    case PagingMode::kNone:
      return "none";
    case PagingMode::k32Bit:
      return "32-bit";
    case PagingMode::kPae:
      return "PAE";
    case PagingMode::k4Level:
      return "4-level";
    case PagingMode::k5Level:
      return "5-level";
  }
  return "?";
}

const char* walk_status_name(WalkStatus status) {
  switch (status) {
    case WalkStatus::kOk:
      return "ok";
    case WalkStatus::kNotPresent:
      return "not present";
    case WalkStatus::kReservedBit:
      return "reserved bit set";
    case WalkStatus::kUserToSupervisor:
      return "user access to supervisor page";
    case WalkStatus::kReadOnly:
      return "write to read-only page";
    case WalkStatus::kExecuteDisabled:
      return "fetch from execute-disabled page";
    case WalkStatus::kSmep:
      return "SMEP: supervisor fetch from user page";
    case WalkStatus::kSmap:
      return "SMAP: supervisor data access to user page";
  }
  return "?";
}

// SDM vol. 3, 4.6.1 (determination of access rights), item by item.
WalkStatus check_access_rights(const PagingControls& c, const PageRights& rights,
                               AccessIntent intent) {
  if (intent.privilege == Privilege::kUser) {
    // User-mode accesses reach only user-mode addresses.
    if (!rights.user) return WalkStatus::kUserToSupervisor;
    if (intent.access == Access::Write && !rights.writable) return WalkStatus::kReadOnly;
    if (intent.access == Access::Exec && c.nx && rights.no_execute)
      return WalkStatus::kExecuteDisabled;
    return WalkStatus::kOk;
  }
  if (intent.access == Access::Exec) {
    // Supervisor fetches: never from user-mode addresses with SMEP; XD with NXE.
    if (rights.user && c.smep) return WalkStatus::kSmep;
    if (c.nx && rights.no_execute) return WalkStatus::kExecuteDisabled;
    return WalkStatus::kOk;
  }
  // Supervisor data accesses to user-mode addresses with SMAP: allowed only for explicit
  // accesses with EFLAGS.AC = 1.
  if (rights.user && c.smap && !(intent.privilege == Privilege::kSupervisor && c.ac))
    return WalkStatus::kSmap;
  // Supervisor writes honour R/W only with CR0.WP = 1.
  if (intent.access == Access::Write && c.wp && !rights.writable) return WalkStatus::kReadOnly;
  return WalkStatus::kOk;
}

uint32_t page_fault_error_code(const CpuState& cpu, WalkStatus status, AccessIntent intent) {
  uint32_t ec = 0;
  if (status != WalkStatus::kNotPresent) ec |= pf_error::P;
  if (intent.access == Access::Write) ec |= pf_error::W;
  // U/S describes the access, not CPL: an implicit supervisor access at CPL 3 reports 0.
  if (intent.privilege == Privilege::kUser) ec |= pf_error::U;
  if (status == WalkStatus::kReservedBit) ec |= pf_error::RSVD;
  // I/D only when SMEP or (CR4.PAE and EFER.NXE) is in force.
  if (intent.access == Access::Exec &&
      ((cpu.cr4 & cr4::SMEP) || ((cpu.cr4 & cr4::PAE) && (cpu.efer & efer::NXE))))
    ec |= pf_error::ID;
  return ec;
}

WalkResult walk(CpuState& cpu, uint64_t linear, AccessIntent intent,
                const PagingFeatures& features) {
  EntryAccess entries(*cpu.memory, false);
  Walker walker(cpu, features, intent, entries);
  WalkResult r;
  for (;;) {
    walker.translate(linear, r);
    judge(cpu, intent, r);
    if (!r.ok() || r.mode == PagingMode::kNone) return r;
    if (walker.update_accessed_dirty(r)) return r;
    // An entry changed between the read and the update: walk again with the new values.
  }
}

WalkResult probe_walk(const CpuState& cpu, uint64_t linear, AccessIntent intent,
                      const PagingFeatures& features) {
  EntryAccess entries(*cpu.memory, true);
  Walker walker(cpu, features, intent, entries);
  WalkResult r;
  walker.translate(linear, r);
  judge(cpu, intent, r);
  return r;
}

void raise_page_fault(CpuState& cpu, const WalkResult& result, uint64_t linear) {
  raise_fault(cpu, kPF, result.error_code, linear);
}

// ---- PAE PDPTE registers ----

bool pae_paging(uint64_t cr0, uint64_t cr4, uint64_t efer) {
  return paging_mode(cr0, cr4, efer) == PagingMode::kPae;
}

bool mov_cr_loads_pdptes(uint64_t old_cr0, uint64_t old_cr4, uint64_t new_cr0, uint64_t new_cr4,
                         uint64_t efer) {
  if (!pae_paging(new_cr0, new_cr4, efer)) return false;
  constexpr uint64_t kCr0Bits = cr0::CD | cr0::NW | cr0::PG;
  constexpr uint64_t kCr4Bits = cr4::PAE | cr4::PGE | cr4::PSE | cr4::SMEP;
  return ((old_cr0 ^ new_cr0) & kCr0Bits) || ((old_cr4 ^ new_cr4) & kCr4Bits);
}

bool load_pae_pdptes(CpuState& cpu, uint64_t cr3, const PagingFeatures& features) {
  // PDPTE format with PAE paging (SDM vol. 3, table 4-8): 2:1, 8:5 and 63:MAXPHYADDR reserved.
  // No XD bit here: bit 63 is reserved even with EFER.NXE = 1.
  const uint64_t reserved =
      bit_range(2, 1) | bit_range(8, 5) | bit_range(63, clamp_maxphyaddr(features));
  EntryAccess entries(*cpu.memory, false);
  uint64_t base = cr3 & 0xffffffe0u;  // CR3 bits 31:5; 63:32 are ignored with PAE paging
  uint64_t loaded[4];
  for (unsigned i = 0; i < 4; ++i) {
    loaded[i] = entries.read(base + 8 * i, 8);
    if ((loaded[i] & pte::P) && (loaded[i] & reserved)) return false;
  }
  std::memcpy(cpu.pdpte, loaded, sizeof loaded);
  return true;
}

}  // namespace umbra
