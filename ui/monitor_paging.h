// Paging-structure knowledge the monitor needs beyond what probe_walk() reports: level names,
// decoded entry flags, the address field, which reserved bit made an entry invalid, and the
// enumeration of every mapped range of an address space (info mem). Written from the SDM's
// entry formats (vol. 3, 4.3-4.5, tables 4-4..4-20); nothing here changes guest state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/cpu_state.h"
#include "softmmu/guest_memory.h"
#include "softmmu/page_walk.h"

namespace umbra {

// "PML5E", "PML4E", "PDPTE", "PDE", "PTE".
const char* paging_level_name(unsigned level);

// The flags of an entry as fixed-width columns "P RW US PWT PCD A D PS G XD": a flag's name when
// set, dashes of the same width when clear, so rows of a walk line up. Bit 7 is PAT in a PTE
// (shown as "PAT"), G only means something in an entry that maps a page, XD exists only in
// 8-byte entries.
std::string paging_entry_flags(const WalkLevel& level);
// The header line matching paging_entry_flags()'s columns.
std::string paging_entry_flags_header();

// The physical address an entry holds: the next table's base, or the page frame it maps (with
// PSE-36 for a 32-bit 4-MByte page).
uint64_t paging_entry_address(PagingMode mode, const WalkLevel& level, unsigned maxphyaddr);

// The bits of a present entry that are reserved (must be 0) under `mode`, MAXPHYADDR and
// EFER.NXE, per SDM vol. 3 tables 4-4..4-20. `maps_page` as in WalkLevel. PAE PDPTE registers
// are not covered (they were checked when loaded, SDM 4.4.1): returns 0 for them.
uint64_t paging_reserved_mask(PagingMode mode, const WalkLevel& level, unsigned maxphyaddr,
                              bool nxe, bool pages_1g);

// Size of the page a leaf at `level` maps: 4 KiB, 2 MiB (4 MiB with 32-bit paging), 1 GiB.
uint64_t paging_page_size(PagingMode mode, unsigned level);
// "4 KiB", "2 MiB", "4 MiB", "1 GiB".
std::string size_name(uint64_t bytes);

// One run of linear addresses mapped with the same rights.
struct MappedRange {
  uint64_t start;
  uint64_t size;
  bool user, writable, no_execute;
};

struct MappedRanges {
  std::vector<MappedRange> ranges;  // ascending, adjacent runs with equal rights coalesced
  bool truncated = false;           // the entry budget ran out (e.g. a self-referencing table)
};

// Every linear range the paging structures rooted at cpu.cr3 map, reading entries from RAM only
// (entries outside RAM count as not present). Entries with reserved bits set map nothing (a walk
// through them faults). Visits at most `entry_budget` entries.
MappedRanges enumerate_mappings(const CpuState& cpu, const GuestMemory& memory,
                                const PagingFeatures& features,
                                uint64_t entry_budget = uint64_t{1} << 22);

}  // namespace umbra
