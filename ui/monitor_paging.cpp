#include "ui/monitor_paging.h"

#include <cstring>

#include "frontend/system/mode.h"

namespace umbra {

namespace {

// Bits hi..lo inclusive; empty when hi < lo.
uint64_t bits(unsigned hi, unsigned lo) {
  if (hi < lo) return 0;
  uint64_t upto_hi = hi >= 63 ? ~uint64_t{0} : (uint64_t{1} << (hi + 1)) - 1;
  return upto_hi & ~((uint64_t{1} << lo) - 1);
}

// Index bits a table at `level` consumes from the linear address.
unsigned level_shift(PagingMode mode, unsigned level) {
  if (mode == PagingMode::k32Bit) return level == 2 ? 22 : 12;
  return 12 + 9 * (level - 1);
}

}  // namespace

const char* paging_level_name(unsigned level) {
  switch (level) {
    case 5:
      return "PML5E";
    case 4:
      return "PML4E";
    case 3:
      return "PDPTE";
    case 2:
      return "PDE";
    case 1:
      return "PTE";
  }
  return "?";
}

std::string paging_entry_flags_header() {
  return "P RW US PWT PCD A D PS  G XD";
}

std::string paging_entry_flags(const WalkLevel& l) {
  const uint64_t e = l.entry;
  std::string out;
  auto column = [&](const char* name, bool set, bool last = false) {
    const size_t width = std::strlen(name);
    out += set ? std::string(name) : std::string(width, '-');
    if (!last) out += ' ';
  };
  column("P", e & pte::P);
  column("RW", e & pte::RW);
  column("US", e & pte::US);
  column("PWT", e & pte::PWT);
  column("PCD", e & pte::PCD);
  column("A", e & pte::A);
  column("D", e & pte::D);
  // Bit 7: PAT in a 4-KByte PTE, PS elsewhere (SDM vol. 3, tables 4-6, 4-11, 4-20).
  if (l.level == 1)
    column("PAT", e & pte::PAT_4K);
  else
    column("PS ", e & pte::PS);
  column("G", l.maps_page && (e & pte::G));
  column("XD", l.entry_size == 8 && (e & pte::XD), true);
  return out;
}

uint64_t paging_page_size(PagingMode mode, unsigned level) {
  if (level <= 1) return kPageSize;
  if (mode == PagingMode::k32Bit) return uint64_t{4} << 20;
  return uint64_t{1} << level_shift(mode, level);
}

std::string size_name(uint64_t b) {
  if (b >= (uint64_t{1} << 30) && b % (uint64_t{1} << 30) == 0)
    return std::to_string(b >> 30) + " GiB";
  if (b >= (uint64_t{1} << 20) && b % (uint64_t{1} << 20) == 0)
    return std::to_string(b >> 20) + " MiB";
  if (b >= 1024 && b % 1024 == 0) return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " bytes";
}

uint64_t paging_entry_address(PagingMode mode, const WalkLevel& l, unsigned maxphyaddr) {
  const uint64_t e = l.entry;
  if (mode == PagingMode::k32Bit) {
    if (l.level == 2 && l.maps_page) {
      // PSE-36 (SDM vol. 3, table 4-4): bits (M-20):13 are physical bits (M-1):32, M =
      // min(MAXPHYADDR, 40).
      const unsigned m = maxphyaddr < 40 ? maxphyaddr : 40;
      const uint64_t high = (e >> 13) & ((uint64_t{1} << (m - 32)) - 1);
      return (e & 0xffc00000u) | (high << 32);
    }
    return e & 0xfffff000u;
  }
  const unsigned low = l.maps_page ? level_shift(mode, l.level) : 12;
  return e & bits(maxphyaddr - 1, low);
}

uint64_t paging_reserved_mask(PagingMode mode, const WalkLevel& l, unsigned maxphyaddr, bool nxe,
                              bool pages_1g) {
  if (l.from_register) return 0;
  const uint64_t xd = nxe ? 0 : pte::XD;  // bit 63 is reserved unless EFER.NXE = 1
  switch (mode) {
    case PagingMode::kNone:
      return 0;
    case PagingMode::k32Bit:
      // Only a 4-MByte PDE has reserved bits: 21:(M-19), M = min(MAXPHYADDR, 40) (table 4-4).
      if (l.level == 2 && l.maps_page) return bits(21, (maxphyaddr < 40 ? maxphyaddr : 40) - 19);
      return 0;
    case PagingMode::kPae: {
      // PDEs and PTEs: 62:MAXPHYADDR; a 2-MByte PDE also 20:13 (tables 4-9..4-11).
      uint64_t r = bits(62, maxphyaddr) | xd;
      if (l.level == 2 && l.maps_page) r |= bits(20, 13);
      return r;
    }
    case PagingMode::k4Level:
    case PagingMode::k5Level: {
      // 51:MAXPHYADDR everywhere (62:52 are ignored); PS in a PML5E/PML4E; 29:13 of a 1-GByte
      // PDPTE, or PS itself without 1-GByte pages; 20:13 of a 2-MByte PDE (tables 4-14..4-20).
      uint64_t r = bits(51, maxphyaddr) | xd;
      if (l.level >= 4) return r | pte::PS;
      if (l.level == 3 && (l.entry & pte::PS)) return r | (pages_1g ? bits(29, 13) : pte::PS);
      if (l.level == 2 && l.maps_page) r |= bits(20, 13);
      return r;
    }
  }
  return 0;
}

namespace {

class MappingEnumerator {
 public:
  MappingEnumerator(const CpuState& cpu, const GuestMemory& memory, const PagingFeatures& f,
                    uint64_t budget)
      : cpu_(cpu), memory_(memory), budget_(budget) {
    mode_ = paging_mode(cpu);
    maxphyaddr_ = f.maxphyaddr < 36 ? 36 : (f.maxphyaddr > 52 ? 52 : f.maxphyaddr);
    nxe_ = cpu.efer & efer::NXE;
    pages_1g_ = f.pages_1g;
  }

  MappedRanges run() {
    const PageRights all{true, true, false};
    switch (mode_) {
      case PagingMode::kNone:
        break;
      case PagingMode::k32Bit:
        table(2, cpu_.cr3 & 0xfffff000u, 0, all);
        break;
      case PagingMode::kPae:
        // The PDPTE registers, not memory (SDM vol. 3, 4.4.1). They carry no rights.
        for (unsigned i = 0; i < 4; ++i) {
          WalkLevel l{(cpu_.cr3 & 0xffffffe0u) + 8 * i, cpu_.pdpte[i], 3, 8, true, false};
          if (!(l.entry & pte::P)) continue;
          table(2, paging_entry_address(mode_, l, maxphyaddr_), uint64_t{i} << 30, all);
        }
        break;
      case PagingMode::k4Level:
        table(4, cpu_.cr3 & bits(maxphyaddr_ - 1, 12), 0, all);
        break;
      case PagingMode::k5Level:
        table(5, cpu_.cr3 & bits(maxphyaddr_ - 1, 12), 0, all);
        break;
    }
    return std::move(out_);
  }

 private:
  bool read_entry(uint64_t paddr, unsigned size, uint64_t* value) const {
    const uint8_t* host = memory_.host_ptr(paddr);
    if (!host || !memory_.host_ptr(paddr + size - 1)) return false;
    uint64_t v = 0;
    std::memcpy(&v, host, size);
    *value = v;
    return true;
  }

  // The linear address of index `i` at `level`, under the range `base` of the parent entry.
  uint64_t linear_of(unsigned level, uint64_t base, uint64_t i) const {
    uint64_t a = base | (i << level_shift(mode_, level));
    // 4-/5-level: the top level's high half is the upper canonical half (SDM vol. 1, 3.3.7.1).
    if (mode_ == PagingMode::k4Level)
      return static_cast<uint64_t>(static_cast<int64_t>(a << 16) >> 16);
    if (mode_ == PagingMode::k5Level)
      return static_cast<uint64_t>(static_cast<int64_t>(a << 7) >> 7);
    return a;
  }

  void table(unsigned level, uint64_t table_paddr, uint64_t base, PageRights rights) {
    const bool wide = mode_ != PagingMode::k32Bit;
    const unsigned size = wide ? 8 : 4;
    const unsigned count = wide ? 512 : 1024;
    for (uint64_t i = 0; i < count; ++i) {
      if (budget_ == 0) {
        out_.truncated = true;
        return;
      }
      --budget_;
      WalkLevel l{table_paddr + size * i,     0,     static_cast<uint8_t>(level),
                  static_cast<uint8_t>(size), false, false};
      if (!read_entry(l.entry_addr, size, &l.entry) || !(l.entry & pte::P)) continue;
      if (level == 1) {
        l.maps_page = true;
      } else if (level <= 3 || mode_ == PagingMode::k32Bit) {
        // 32-bit paging honours PS only with CR4.PSE (SDM vol. 3, 4.3).
        l.maps_page = (l.entry & pte::PS) && (mode_ != PagingMode::k32Bit || (cpu_.cr4 & cr4::PSE));
      }
      if (l.entry & paging_reserved_mask(mode_, l, maxphyaddr_, nxe_, pages_1g_)) continue;
      PageRights r = rights;
      r.user = r.user && (l.entry & pte::US);
      r.writable = r.writable && (l.entry & pte::RW);
      r.no_execute = r.no_execute || (nxe_ && (l.entry & pte::XD));
      const uint64_t linear = linear_of(level, base, i);
      if (l.maps_page) {
        emit(linear, paging_page_size(mode_, level), r);
      } else {
        table(level - 1, paging_entry_address(mode_, l, maxphyaddr_), linear, r);
        if (out_.truncated) return;
      }
    }
  }

  void emit(uint64_t start, uint64_t size, const PageRights& r) {
    if (!out_.ranges.empty()) {
      MappedRange& last = out_.ranges.back();
      if (last.start + last.size == start && last.user == r.user && last.writable == r.writable &&
          last.no_execute == r.no_execute) {
        last.size += size;
        return;
      }
    }
    out_.ranges.push_back(MappedRange{start, size, r.user, r.writable, r.no_execute});
  }

  const CpuState& cpu_;
  const GuestMemory& memory_;
  uint64_t budget_;
  PagingMode mode_;
  unsigned maxphyaddr_;
  bool nxe_;
  bool pages_1g_;
  MappedRanges out_;
};

}  // namespace

MappedRanges enumerate_mappings(const CpuState& cpu, const GuestMemory& memory,
                                const PagingFeatures& features, uint64_t entry_budget) {
  return MappingEnumerator(cpu, memory, features, entry_budget).run();
}

}  // namespace umbra
