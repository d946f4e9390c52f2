// The guest page walker (softmmu/page_walk.h) against page tables built in guest memory: every
// paging mode and page size, the full access-rights matrix checked against an expected-value
// function written from the SDM's rules (vol. 3, 4.6 and 4.7), reserved bits per level and
// MAXPHYADDR, accessed/dirty updates (4.8), PSE-36, the PAE PDPTE registers (4.4.1), 5-level
// walks and the side-effect-free probe.
#include "softmmu/page_walk.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "tests/unit/page_table_builder.h"

namespace umbra {
namespace {

using test::level_shift;
using test::PageTables;
using test::PagingCpu;
using test::top_level;

constexpr Access kAccesses[] = {Access::Read, Access::Write, Access::Exec};
constexpr Privilege kPrivileges[] = {Privilege::kSupervisor, Privilege::kUser,
                                     Privilege::kImplicitSupervisor};

const char* access_name(Access a) {
  return a == Access::Read ? "read" : a == Access::Write ? "write" : "fetch";
}
const char* privilege_name(Privilege p) {
  return p == Privilege::kSupervisor ? "sup" : p == Privilege::kUser ? "user" : "implicit";
}

// ---------------------------------------------------------------------------------------------
// The expected outcome of an access, written straight from SDM vol. 3: 4.7 (when there is no
// translation: P = 0 or a reserved bit, in walk order), 4.6.1 (access rights, bullet by bullet)
// and figure 4-12 (error code). Deliberately structured differently from page_walk.cpp.

struct Controls {
  bool wp, nxe, smep, smap, ac;
};

struct EntryBits {
  bool present;
  bool rw, us, xd;
  bool carries_rights;  // false for PAE PDPTEs, which determine no access rights (4.4.2)
};

constexpr uint32_t kNoFault = ~uint32_t{0};

uint32_t expected_page_fault(PagingMode mode, const std::vector<EntryBits>& entries,
                             const Controls& c, Privilege who, Access what) {
  const bool user_mode_access = who == Privilege::kUser;
  const bool explicit_access = who != Privilege::kImplicitSupervisor;
  // CR4.PAE is 1 in every mode but 32-bit paging.
  const bool cr4_pae = mode != PagingMode::k32Bit;
  uint32_t ec = 0;
  if (what == Access::Write) ec |= 2;
  if (user_mode_access) ec |= 4;
  if (what == Access::Exec && (c.smep || (cr4_pae && c.nxe))) ec |= 16;

  for (const EntryBits& e : entries) {
    if (!e.present) return ec;                                             // P = 0: no translation
    if (cr4_pae && !c.nxe && e.carries_rights && e.xd) return ec | 1 | 8;  // bit 63 reserved
  }

  bool user_address = true, all_writable = true, any_xd = false;
  for (const EntryBits& e : entries) {
    if (!e.carries_rights) continue;
    user_address &= e.us;
    all_writable &= e.rw;
    any_xd |= e.xd;
  }
  // "For 32-bit paging or if IA32_EFER.NXE = 0, instructions may be fetched from any ...";
  // otherwise only where XD = 0 in every entry.
  const bool xd_forbids = cr4_pae && c.nxe && any_xd;

  bool allowed = false;
  if (user_mode_access) {
    // User-mode accesses: only user-mode addresses; writes need R/W everywhere; fetches obey XD.
    switch (what) {
      case Access::Read:
        allowed = user_address;
        break;
      case Access::Write:
        allowed = user_address && all_writable;
        break;
      case Access::Exec:
        allowed = user_address && !xd_forbids;
        break;
    }
  } else if (!user_address) {
    // Supervisor-mode accesses to supervisor-mode addresses.
    switch (what) {
      case Access::Read:
        allowed = true;
        break;
      case Access::Write:
        allowed = !c.wp || all_writable;
        break;
      case Access::Exec:
        allowed = !xd_forbids;
        break;
    }
  } else {
    // Supervisor-mode accesses to user-mode addresses.
    const bool smap_permits = !c.smap || (explicit_access && c.ac);
    switch (what) {
      case Access::Read:
        allowed = smap_permits;
        break;
      case Access::Write:
        allowed = smap_permits && (!c.wp || all_writable);
        break;
      case Access::Exec:
        allowed = !c.smep && !xd_forbids;
        break;
    }
  }
  return allowed ? kNoFault : ec | 1;
}

void apply_controls(CpuState& cpu, const Controls& c, Privilege who) {
  cpu.cr0 = (cpu.cr0 & ~cr0::WP) | (c.wp ? cr0::WP : 0);
  cpu.efer = (cpu.efer & ~efer::NXE) | (c.nxe ? efer::NXE : 0);
  cpu.cr4 =
      (cpu.cr4 & ~(cr4::SMEP | cr4::SMAP)) | (c.smep ? cr4::SMEP : 0) | (c.smap ? cr4::SMAP : 0);
  cpu.rflags = (cpu.rflags & ~rf::AC) | (c.ac ? rf::AC : 0);
  // Implicit supervisor accesses are exercised at CPL 3, where they differ most from explicit.
  cpu.cpl = who == Privilege::kSupervisor ? 0 : 3;
}

// ---------------------------------------------------------------------------------------------
// A mapping under test: a mode, a page size, a linear address and the frame it maps to.

struct Layout {
  PagingMode mode;
  unsigned leaf_level;
  uint64_t linear;
  uint64_t frame;
};

uint64_t page_bytes(const Layout& l) {
  return uint64_t{1} << level_shift(l.mode, l.leaf_level);
}

std::string layout_name(const Layout& l) {
  return std::string(paging_mode_name(l.mode)) + "/" + std::to_string(page_bytes(l) >> 10) + "K";
}

// Linear addresses that use non-zero indices at every level (and bits 56:48 for 5-level).
const Layout kLayouts[] = {
    {PagingMode::k32Bit, 1, 0x81234abcull, 0x00567000ull},
    {PagingMode::k32Bit, 2, 0x81234abcull, 0x00c00000ull},
    {PagingMode::kPae, 1, 0x81234abcull, 0x3456789000ull},
    {PagingMode::kPae, 2, 0x81234abcull, 0x3456600000ull},
    {PagingMode::k4Level, 1, 0x00007f8123456abcull, 0x3456789000ull},
    {PagingMode::k4Level, 2, 0x00007f8123456abcull, 0x3456600000ull},
    {PagingMode::k4Level, 3, 0x00007f8123456abcull, 0x3440000000ull},
    {PagingMode::k5Level, 1, 0x00ab7f8123456abcull, 0x3456789000ull},
    {PagingMode::k5Level, 2, 0x00ab7f8123456abcull, 0x3456600000ull},
    {PagingMode::k5Level, 3, 0x00ab7f8123456abcull, 0x3440000000ull},
};

// One layout mapped in fresh tables, with the entry addresses of every level, root first.
struct Mapped {
  Layout layout;
  PageTables tables;
  std::vector<uint64_t> entry_addrs;  // root first
  std::vector<uint64_t> initial;      // entry values as built
  Mapped(PagingCpu& pc, const Layout& l, uint64_t leaf_flags) : layout(l), tables(pc, l.mode) {
    pc.enter(l.mode);
    pc.cpu().cr3 = tables.cr3();
    tables.map(l.linear, l.frame, l.leaf_level, leaf_flags);
    for (unsigned level = top_level(l.mode); level >= l.leaf_level; --level) {
      uint64_t ea = tables.entry_addr(l.linear, level);
      entry_addrs.push_back(ea);
      initial.push_back(tables.read_entry(ea));
    }
    if (l.mode == PagingMode::kPae) {
      EXPECT_TRUE(load_pae_pdptes(pc.cpu(), tables.cr3(), {}));
    }
  }
  uint64_t expected_paddr() const {
    return layout.frame | (layout.linear & (page_bytes(layout) - 1));
  }
  bool level_carries_rights(size_t i) const { return !(layout.mode == PagingMode::kPae && i == 0); }
};

// ---------------------------------------------------------------------------------------------
// The permission matrix.

struct MatrixStats {
  uint64_t walks = 0, faults = 0, mismatches = 0;
};

// Tries every control setting, privilege and access type on the tables as they are, comparing
// fault/no fault, the error code, the physical address and the A/D bits left in memory.
void run_controls(PagingCpu& pc, Mapped& m, const std::vector<EntryBits>& bits, MatrixStats& st,
                  const PagingFeatures& f = {}) {
  CpuState& cpu = pc.cpu();
  std::vector<uint64_t> before(m.entry_addrs.size());
  for (size_t i = 0; i < before.size(); ++i) before[i] = m.tables.read_entry(m.entry_addrs[i]);
  for (unsigned ctl = 0; ctl < 32; ++ctl) {
    Controls c{(ctl & 1) != 0, (ctl & 2) != 0, (ctl & 4) != 0, (ctl & 8) != 0, (ctl & 16) != 0};
    for (Privilege who : kPrivileges) {
      apply_controls(cpu, c, who);
      for (Access what : kAccesses) {
        uint32_t expect = expected_page_fault(m.layout.mode, bits, c, who, what);
        WalkResult r = walk(cpu, m.layout.linear, AccessIntent{what, who}, f);
        ++st.walks;
        bool bad = false;
        if (expect == kNoFault) {
          bad = !r.ok() || r.paddr != m.expected_paddr();
        } else {
          ++st.faults;
          bad = r.ok() || r.error_code != expect;
        }
        // A/D: on success A in every entry used (not the PAE PDPTE register), D in the leaf on
        // a write; on a fault nothing changes (SDM 4.8; see page_walk.h for the choice).
        for (size_t i = 0; i < before.size(); ++i) {
          uint64_t now = m.tables.read_entry(m.entry_addrs[i]);
          uint64_t want = before[i];
          if (expect == kNoFault && m.level_carries_rights(i)) {
            want |= pte::A;
            if (i + 1 == before.size() && what == Access::Write) want |= pte::D;
          }
          if (now != want) bad = true;
          m.tables.write_entry(m.entry_addrs[i], before[i]);
        }
        if (bad && ++st.mismatches <= 10) {
          ADD_FAILURE() << layout_name(m.layout) << " " << privilege_name(who) << " "
                        << access_name(what) << " wp=" << c.wp << " nxe=" << c.nxe
                        << " smep=" << c.smep << " smap=" << c.smap << " ac=" << c.ac
                        << " expected ec=" << std::hex << expect << " got status "
                        << walk_status_name(r.status) << " ec=" << r.error_code;
        }
      }
    }
  }
}

// Every combination of R/W, U/S and XD (32-bit paging: R/W, U/S) in every entry of the walk,
// or `sample` deterministic pseudo-random combinations when the full set is larger.
MatrixStats run_rights_matrix(const Layout& l, uint64_t sample) {
  PagingCpu pc;
  Mapped m(pc, l, pte::P);
  const size_t n = m.entry_addrs.size();
  const unsigned bits_per_level = l.mode == PagingMode::k32Bit ? 2 : 3;
  std::vector<size_t> rights_levels;
  for (size_t i = 0; i < n; ++i)
    if (m.level_carries_rights(i)) rights_levels.push_back(i);
  const uint64_t total = uint64_t{1} << (bits_per_level * rights_levels.size());
  const uint64_t count = total < sample ? total : sample;

  MatrixStats st;
  uint64_t lcg = 12345;
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t combo = k;
    if (count < total) {
      lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
      combo = (lcg >> 20) % total;
    }
    std::vector<EntryBits> bits(n, EntryBits{true, true, true, false, false});
    for (size_t j = 0; j < rights_levels.size(); ++j) {
      size_t i = rights_levels[j];
      unsigned digit = (combo >> (bits_per_level * j)) & ((1u << bits_per_level) - 1);
      bits[i] = EntryBits{true, (digit & 1) != 0, (digit & 2) != 0, (digit & 4) != 0, true};
      uint64_t e = m.initial[i] & ~(pte::RW | pte::US | pte::XD | pte::A | pte::D);
      e |= (bits[i].rw ? pte::RW : 0) | (bits[i].us ? pte::US : 0) | (bits[i].xd ? pte::XD : 0);
      m.tables.write_entry(m.entry_addrs[i], e);
    }
    run_controls(pc, m, bits, st);
  }
  return st;
}

void report(const char* what, const MatrixStats& st) {
  std::printf("  [matrix] %-28s %8llu walks, %8llu expected faults\n", what,
              static_cast<unsigned long long>(st.walks),
              static_cast<unsigned long long>(st.faults));
}

void run_matrix_for(PagingMode mode, uint64_t sample = ~uint64_t{0}) {
  MatrixStats total;
  for (const Layout& l : kLayouts) {
    if (l.mode != mode) continue;
    MatrixStats st = run_rights_matrix(l, sample);
    report(layout_name(l).c_str(), st);
    EXPECT_EQ(st.mismatches, 0u) << layout_name(l);
    total.walks += st.walks;
    total.faults += st.faults;
  }
  EXPECT_GT(total.faults, 0u);
  EXPECT_LT(total.faults, total.walks);
}

TEST(PageWalkMatrix, Paging32Bit) {
  run_matrix_for(PagingMode::k32Bit);
}
TEST(PageWalkMatrix, Pae) {
  run_matrix_for(PagingMode::kPae);
}
TEST(PageWalkMatrix, FourLevel) {
  run_matrix_for(PagingMode::k4Level);
}
// 5-level: 2^15 combinations for 4-KiB pages; a deterministic sample of 4096 per page size.
TEST(PageWalkMatrix, FiveLevel) {
  run_matrix_for(PagingMode::k5Level, 4096);
}

// P = 0 at each level in turn, the other bits of that entry random (reserved bits included: they
// are not checked in a not-present entry), against every control setting and access.
TEST(PageWalkMatrix, NotPresentAtEachLevel) {
  MatrixStats st;
  uint64_t lcg = 99;
  for (const Layout& l : kLayouts) {
    for (size_t level_i = 0; level_i < top_level(l.mode) - l.leaf_level + 1; ++level_i) {
      for (unsigned trial = 0; trial < 8; ++trial) {
        PagingCpu pc;
        Mapped m(pc, l, pte::P | pte::RW | pte::US);
        lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
        uint64_t junk = lcg & ~pte::P;
        if (l.mode == PagingMode::k32Bit) junk &= 0xffffffffu;
        std::vector<EntryBits> bits(m.entry_addrs.size(), EntryBits{true, true, true, false, true});
        if (l.mode == PagingMode::kPae) bits[0].carries_rights = false;
        bits[level_i].present = false;
        if (l.mode == PagingMode::kPae && level_i == 0) {
          // The PDPTE register is what the walk uses: load a not-present one.
          pc.write<uint64_t>(m.entry_addrs[0], junk);
          ASSERT_TRUE(load_pae_pdptes(pc.cpu(), m.tables.cr3(), {}));
        } else {
          m.tables.write_entry(m.entry_addrs[level_i], junk);
        }
        run_controls(pc, m, bits, st);
        // The walk stops at the missing entry.
        WalkResult r = probe_walk(pc.cpu(), l.linear, {Access::Read, Privilege::kSupervisor}, {});
        EXPECT_EQ(r.status, WalkStatus::kNotPresent);
        EXPECT_EQ(r.fault_level, top_level(l.mode) - level_i);
        EXPECT_EQ(r.num_levels, level_i + 1);
      }
    }
  }
  report("not present, every level", st);
  EXPECT_EQ(st.mismatches, 0u);
  EXPECT_EQ(st.faults, st.walks);
}

// ---------------------------------------------------------------------------------------------
// Reserved bits.

enum class Bit { kReserved, kFree };

struct BitCase {
  unsigned level;
  unsigned bit;
  Bit kind;
};

// The reserved/free status of bits in each entry of a 4-/5-level walk, from SDM vol. 3 tables
// 4-14..4-20 (M = MAXPHYADDR). Address bits of non-leaf entries are left alone (they would
// redirect the walk); leaf address bits below M are checked as free and must show in paddr.
std::vector<BitCase> long_mode_bit_cases(unsigned top, unsigned leaf, unsigned m, bool nxe) {
  std::vector<BitCase> cases;
  for (unsigned level = top; level >= leaf; --level) {
    bool is_leaf = level == leaf;
    for (unsigned b = m; b <= 51; ++b) cases.push_back({level, b, Bit::kReserved});
    for (unsigned b = 52; b <= 62; ++b) cases.push_back({level, b, Bit::kFree});  // ignored / PK
    cases.push_back({level, 63, nxe ? Bit::kFree : Bit::kReserved});
    for (unsigned b : {3u, 4u, 9u, 10u, 11u}) cases.push_back({level, b, Bit::kFree});
    if (level >= 4) cases.push_back({level, 7, Bit::kReserved});  // PS in PML5E/PML4E
    if (is_leaf) {
      cases.push_back({level, 8, Bit::kFree});                 // G
      if (leaf == 1) cases.push_back({level, 7, Bit::kFree});  // PAT
      if (leaf == 2)
        for (unsigned b = 13; b <= 20; ++b) cases.push_back({level, b, Bit::kReserved});
      if (leaf == 3)
        for (unsigned b = 13; b <= 29; ++b) cases.push_back({level, b, Bit::kReserved});
      if (leaf >= 2) cases.push_back({level, 12, Bit::kFree});  // PAT of a large page
      cases.push_back({level, m - 1, Bit::kFree});              // the top physical address bit
    }
  }
  return cases;
}

// PAE PDEs and PTEs (tables 4-9..4-11): 62:M reserved, 63 reserved unless NXE.
std::vector<BitCase> pae_bit_cases(unsigned leaf, unsigned m, bool nxe) {
  std::vector<BitCase> cases;
  for (unsigned level = 2; level >= leaf; --level) {
    for (unsigned b = m; b <= 62; ++b) cases.push_back({level, b, Bit::kReserved});
    cases.push_back({level, 63, nxe ? Bit::kFree : Bit::kReserved});
    for (unsigned b : {3u, 4u, 9u, 10u, 11u}) cases.push_back({level, b, Bit::kFree});
    if (level == leaf) {
      if (leaf == 2)
        for (unsigned b = 13; b <= 20; ++b) cases.push_back({level, b, Bit::kReserved});
      if (leaf == 2) cases.push_back({level, 12, Bit::kFree});
      if (leaf == 1) cases.push_back({level, 7, Bit::kFree});
      cases.push_back({level, m - 1, Bit::kFree});
    }
  }
  return cases;
}

// 32-bit paging (tables 4-4..4-6): only a 4-MByte PDE has reserved bits, 21:(M'-19) with
// M' = min(MAXPHYADDR, 40); bits 13..(M'-20) are PSE-36 address bits.
std::vector<BitCase> bits32_cases(unsigned leaf, unsigned m) {
  unsigned mm = m < 40 ? m : 40;
  std::vector<BitCase> cases;
  if (leaf == 2) {
    for (unsigned b = mm - 19; b <= 21; ++b) cases.push_back({2, b, Bit::kReserved});
    for (unsigned b = 13; b <= mm - 20; ++b) cases.push_back({2, b, Bit::kFree});
    for (unsigned b : {3u, 4u, 8u, 9u, 10u, 11u, 12u}) cases.push_back({2, b, Bit::kFree});
  } else {
    // PDE referencing a page table: bit 6 and 8 ignored (7 is PS, which would make it a page).
    for (unsigned b : {3u, 4u, 6u, 8u, 9u, 10u, 11u}) cases.push_back({2, b, Bit::kFree});
    for (unsigned b : {3u, 4u, 7u, 8u, 9u, 10u, 11u}) cases.push_back({1, b, Bit::kFree});
  }
  return cases;
}

void check_bit_cases(const Layout& l, unsigned m, bool nxe, const std::vector<BitCase>& cases,
                     unsigned& checked) {
  PagingFeatures f;
  f.maxphyaddr = static_cast<uint8_t>(m);
  for (const BitCase& bc : cases) {
    PagingCpu pc;
    Mapped mp(pc, l, pte::P | pte::RW | pte::US);
    CpuState& cpu = pc.cpu();
    if (nxe) cpu.efer |= efer::NXE;
    size_t i = top_level(l.mode) - bc.level;
    uint64_t e = mp.initial[i] | (uint64_t{1} << bc.bit);
    mp.tables.write_entry(mp.entry_addrs[i], e);
    for (Access what : kAccesses) {
      for (Privilege who : {Privilege::kSupervisor, Privilege::kUser}) {
        cpu.cpl = who == Privilege::kUser ? 3 : 0;
        WalkResult r = walk(cpu, l.linear, {what, who}, f);
        ++checked;
        std::string where = layout_name(l) + " M=" + std::to_string(m) +
                            " nxe=" + std::to_string(nxe) + " level " + std::to_string(bc.level) +
                            " bit " + std::to_string(bc.bit) + " " + access_name(what);
        if (bc.kind == Bit::kReserved) {
          uint32_t ec =
              pf_error::P | pf_error::RSVD | (what == Access::Write ? pf_error::W : 0) |
              (who == Privilege::kUser ? pf_error::U : 0) |
              (what == Access::Exec && nxe && l.mode != PagingMode::k32Bit ? pf_error::ID : 0);
          ASSERT_EQ(r.status, WalkStatus::kReservedBit) << where;
          EXPECT_EQ(r.error_code, ec) << where;
          EXPECT_EQ(r.fault_level, bc.level) << where;
          // No A bit anywhere after a faulting walk.
          for (size_t k = 0; k < mp.entry_addrs.size(); ++k)
            EXPECT_EQ(mp.tables.read_entry(mp.entry_addrs[k]) & pte::A, 0u) << where;
        } else {
          bool xd = bc.bit == 63;
          if (xd && what == Access::Exec) {
            EXPECT_EQ(r.status, WalkStatus::kExecuteDisabled) << where;
            continue;
          }
          ASSERT_TRUE(r.ok()) << where << ": " << walk_status_name(r.status);
          uint64_t paddr = mp.expected_paddr();
          // A free bit inside the leaf's frame field is an address bit.
          unsigned page_shift = level_shift(l.mode, l.leaf_level);
          if (bc.level == l.leaf_level && bc.bit >= page_shift && bc.bit < m)
            paddr |= uint64_t{1} << bc.bit;
          if (l.mode == PagingMode::k32Bit && bc.level == 2 && l.leaf_level == 2 && bc.bit >= 13 &&
              bc.bit <= 20)
            paddr |= uint64_t{1} << (bc.bit - 13 + 32);  // PSE-36
          EXPECT_EQ(r.paddr, paddr) << where;
        }
      }
    }
  }
}

TEST(PageWalkReserved, EveryLevelEveryMaxPhyAddr) {
  unsigned checked = 0;
  for (unsigned m : {36u, 40u, 46u, 52u}) {
    for (bool nxe : {false, true}) {
      for (const Layout& l : kLayouts) {
        std::vector<BitCase> cases;
        switch (l.mode) {
          case PagingMode::k32Bit:
            cases = bits32_cases(l.leaf_level, m);
            break;
          case PagingMode::kPae:
            cases = pae_bit_cases(l.leaf_level, m, nxe);
            break;
          default:
            cases = long_mode_bit_cases(top_level(l.mode), l.leaf_level, m, nxe);
            break;
        }
        // Frames of the layouts use physical bits up to 37: only check them where they fit.
        if (m == 36 && l.mode != PagingMode::k32Bit) continue;
        check_bit_cases(l, m, nxe, cases, checked);
      }
    }
  }
  std::printf("  [reserved] %u walks\n", checked);
}

TEST(PageWalkReserved, MaxPhyAddr36) {
  // With M = 36, a frame below 2^36 and each of bits 36..51 (4-level) reserved.
  Layout l{PagingMode::k4Level, 1, 0x00007f8123456abcull, 0x0456789000ull};
  unsigned checked = 0;
  check_bit_cases(l, 36, true, long_mode_bit_cases(4, 1, 36, true), checked);
  Layout pae{PagingMode::kPae, 2, 0x81234abcull, 0x0456600000ull};
  check_bit_cases(pae, 36, false, pae_bit_cases(2, 36, false), checked);
  EXPECT_GT(checked, 0u);
}

TEST(PageWalkReserved, OneGigPagesUnsupported) {
  PagingCpu pc;
  Mapped m(pc, {PagingMode::k4Level, 3, 0x00007f8123456abcull, 0x3440000000ull}, pte::P | pte::RW);
  PagingFeatures f;
  f.pages_1g = false;
  WalkResult r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, f);
  EXPECT_EQ(r.status, WalkStatus::kReservedBit);
  EXPECT_EQ(r.fault_level, 3);
  EXPECT_EQ(r.error_code, pf_error::P | pf_error::RSVD);
  f.pages_1g = true;
  r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.page_size, uint64_t{1} << 30);
}

TEST(PageWalkReserved, ReservedAboveWinsOverNotPresentBelow) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[4], pte::P | pte::RW);  // 4-level, 4 KiB
  // PTE not present, PDPTE with a reserved bit (bit 51): the walk never reaches the PTE.
  m.tables.write_entry(m.entry_addrs[3], 0);
  m.tables.write_entry(m.entry_addrs[1], m.initial[1] | (uint64_t{1} << 51));
  WalkResult r = walk(pc.cpu(), m.layout.linear, {Access::Write, Privilege::kUser}, {});
  EXPECT_EQ(r.status, WalkStatus::kReservedBit);
  EXPECT_EQ(r.fault_level, 3);
  EXPECT_EQ(r.error_code, pf_error::P | pf_error::RSVD | pf_error::W | pf_error::U);
}

TEST(PageWalkReserved, NotCheckedInNotPresentEntry) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[4], pte::P | pte::RW);
  m.tables.write_entry(m.entry_addrs[2], ~pte::P);  // every bit but P
  WalkResult r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {});
  EXPECT_EQ(r.status, WalkStatus::kNotPresent);
  EXPECT_EQ(r.error_code, 0u);
}

TEST(PageWalkReserved, PseOffIgnoresPsIn32BitPaging) {
  // CR4.PSE = 0: PS in a PDE is ignored, the PDE references a page table (SDM 4.3).
  PagingCpu pc;
  PageTables pt(pc, PagingMode::k32Bit);
  pc.enter(PagingMode::k32Bit, /*pse=*/false);
  pc.cpu().cr3 = pt.cr3();
  uint32_t linear = 0x81234abc;
  pt.map(linear, 0x00567000, 1, pte::P | pte::RW);
  uint64_t pde_addr = pt.entry_addr(linear, 2);
  pt.write_entry(pde_addr, pt.read_entry(pde_addr) | pte::PS);
  WalkResult r = walk(pc.cpu(), linear, {Access::Read, Privilege::kSupervisor}, {});
  ASSERT_TRUE(r.ok()) << walk_status_name(r.status);
  EXPECT_EQ(r.paddr, 0x00567abcu);
  EXPECT_EQ(r.page_size, kPageSize);
  EXPECT_EQ(r.num_levels, 2);
}

// ---------------------------------------------------------------------------------------------
// Page sizes, PSE-36, address formation.

TEST(PageWalkModes, EveryModeAndPageSize) {
  for (const Layout& l : kLayouts) {
    PagingCpu pc;
    Mapped m(pc, l, pte::P | pte::RW | pte::US);
    WalkResult r = walk(pc.cpu(), l.linear, {Access::Read, Privilege::kUser}, {});
    ASSERT_TRUE(r.ok()) << layout_name(l);
    EXPECT_EQ(r.mode, l.mode);
    EXPECT_EQ(r.paddr, m.expected_paddr()) << layout_name(l);
    EXPECT_EQ(r.page_size, page_bytes(l)) << layout_name(l);
    ASSERT_EQ(r.num_levels, m.entry_addrs.size()) << layout_name(l);
    for (unsigned i = 0; i < r.num_levels; ++i) {
      EXPECT_EQ(r.levels[i].entry_addr, m.entry_addrs[i]);
      EXPECT_EQ(r.levels[i].level, top_level(l.mode) - i);
      EXPECT_EQ(r.levels[i].maps_page, i + 1 == r.num_levels);
      EXPECT_EQ(r.levels[i].from_register, l.mode == PagingMode::kPae && i == 0);
    }
  }
}

TEST(PageWalkModes, PagingOffIsIdentity) {
  PagingCpu pc;
  pc.enter(PagingMode::kNone);
  WalkResult r = walk(pc.cpu(), 0x12345678, {Access::Write, Privilege::kUser}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.mode, PagingMode::kNone);
  EXPECT_EQ(r.paddr, 0x12345678u);
  EXPECT_EQ(r.num_levels, 0);
}

TEST(PageWalkModes, ModeSelection) {
  EXPECT_EQ(paging_mode(cr0::PE, cr4::PAE, efer::LME), PagingMode::kNone);
  EXPECT_EQ(paging_mode(cr0::PE | cr0::PG, cr4::PSE, 0), PagingMode::k32Bit);
  EXPECT_EQ(paging_mode(cr0::PE | cr0::PG, cr4::PAE, 0), PagingMode::kPae);
  // LME without LMA (not yet activated) is still PAE paging.
  EXPECT_EQ(paging_mode(cr0::PE | cr0::PG, cr4::PAE, efer::LME), PagingMode::kPae);
  EXPECT_EQ(paging_mode(cr0::PE | cr0::PG, cr4::PAE, efer::LME | efer::LMA), PagingMode::k4Level);
  EXPECT_EQ(paging_mode(cr0::PE | cr0::PG, cr4::PAE | cr4::LA57, efer::LME | efer::LMA),
            PagingMode::k5Level);
}

TEST(PageWalkModes, Pse36) {
  struct Case {
    unsigned m;
    uint32_t high;  // value of PDE bits 20:13
    bool reserved;
    uint64_t phys_high;
  };
  const Case cases[] = {
      {40, 0xab, false, 0xab},
      {36, 0x0b, false, 0x0b},
      {36, 0x1b, true, 0},
      {52, 0xff, false, 0xff},  // 32-bit paging's 4-MByte pages stop at 40 bits
  };
  for (const Case& c : cases) {
    PagingCpu pc;
    PageTables pt(pc, PagingMode::k32Bit);
    pc.enter(PagingMode::k32Bit);
    pc.cpu().cr3 = pt.cr3();
    uint32_t linear = 0x81234abc;
    pt.map(linear, 0x80400000, 2, pte::P | pte::RW | pte::PAT_LARGE);
    uint64_t pde_addr = pt.entry_addr(linear, 2);
    pt.write_entry(pde_addr, pt.read_entry(pde_addr) | (c.high << 13));
    PagingFeatures f;
    f.maxphyaddr = static_cast<uint8_t>(c.m);
    WalkResult r = walk(pc.cpu(), linear, {Access::Read, Privilege::kSupervisor}, f);
    if (c.reserved) {
      EXPECT_EQ(r.status, WalkStatus::kReservedBit) << c.m;
      continue;
    }
    ASSERT_TRUE(r.ok()) << c.m;
    EXPECT_EQ(r.paddr, (c.phys_high << 32) | 0x80634abcull) << c.m;
    EXPECT_EQ(r.page_size, 4u << 20);
  }
  // M = 52 is clamped to 40 for 4-MByte pages: bit 21 stays reserved.
  PagingCpu pc;
  PageTables pt(pc, PagingMode::k32Bit);
  pc.enter(PagingMode::k32Bit);
  pc.cpu().cr3 = pt.cr3();
  pt.map(0x81234abc, 0x80400000, 2, pte::P | (1u << 21));
  PagingFeatures f;
  f.maxphyaddr = 52;
  EXPECT_EQ(walk(pc.cpu(), 0x81234abc, {Access::Read, Privilege::kSupervisor}, f).status,
            WalkStatus::kReservedBit);
}

TEST(PageWalkModes, LegacyModesUseLow32BitsOfLinear) {
  for (PagingMode mode : {PagingMode::k32Bit, PagingMode::kPae}) {
    PagingCpu pc;
    Mapped m(pc, {mode, 1, 0x81234abcull, 0x00567000ull}, pte::P);
    WalkResult r =
        walk(pc.cpu(), 0xffff000081234abcull, {Access::Read, Privilege::kSupervisor}, {});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.paddr, 0x00567abcu);
  }
}

TEST(PageWalkModes, FiveLevelUsesBits56To48) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[7], pte::P | pte::RW);  // 5-level, 4 KiB, linear bits 56:48 = 0xab
  WalkResult r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.num_levels, 5);
  EXPECT_EQ(r.levels[0].entry_addr, m.tables.cr3() + 8 * 0xab);
  EXPECT_EQ(r.paddr, m.expected_paddr());
  // The same linear address with a different PML5 index is unmapped.
  r = walk(pc.cpu(), m.layout.linear ^ (uint64_t{1} << 48), {Access::Read, Privilege::kSupervisor},
           {});
  EXPECT_EQ(r.status, WalkStatus::kNotPresent);
  EXPECT_EQ(r.fault_level, 5);
  // Without CR4.LA57 the same tables are a 4-level hierarchy rooted at the PML5 page: the walk
  // starts with PML4 index linear[47:39] and finds nothing there.
  pc.cpu().cr4 &= ~cr4::LA57;
  r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {});
  EXPECT_EQ(r.status, WalkStatus::kNotPresent);
  EXPECT_EQ(r.fault_level, 4);
}

// ---------------------------------------------------------------------------------------------
// Accessed and dirty flags.

TEST(PageWalkAccessedDirty, ReadSetsAccessedEverywhereWriteSetsDirtyInLeaf) {
  for (const Layout& l : kLayouts) {
    PagingCpu pc;
    Mapped m(pc, l, pte::P | pte::RW | pte::US);
    size_t n = m.entry_addrs.size();
    ASSERT_TRUE(walk(pc.cpu(), l.linear, {Access::Exec, Privilege::kSupervisor}, {}).ok());
    for (size_t i = 0; i < n; ++i) {
      uint64_t e = m.tables.read_entry(m.entry_addrs[i]);
      // PAE PDPTEs have no A bit (bit 5 reserved); the walk uses the register.
      EXPECT_EQ((e & pte::A) != 0, m.level_carries_rights(i)) << layout_name(l) << " " << i;
      EXPECT_EQ(e & pte::D, 0u) << layout_name(l);
      EXPECT_EQ(e & ~(pte::A), m.initial[i]) << layout_name(l);
    }
    WalkResult r = walk(pc.cpu(), l.linear, {Access::Read, Privilege::kUser}, {});
    EXPECT_FALSE(r.dirty);
    r = walk(pc.cpu(), l.linear, {Access::Write, Privilege::kUser}, {});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.dirty);
    EXPECT_NE(m.tables.read_entry(m.entry_addrs[n - 1]) & pte::D, 0u) << layout_name(l);
    for (size_t i = 0; i + 1 < n; ++i)
      EXPECT_EQ(m.tables.read_entry(m.entry_addrs[i]) & pte::D, 0u) << layout_name(l);
    // The result reports entries as read: the second walk saw A already set.
    EXPECT_NE(r.levels[n - 1].entry & pte::A, 0u);
    EXPECT_EQ(r.levels[n - 1].entry & pte::D, 0u);
  }
}

TEST(PageWalkAccessedDirty, NoUpdateOnProtectionFault) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[4], pte::P | pte::US);  // read-only user page
  pc.cpu().cr0 |= cr0::WP;
  WalkResult r = walk(pc.cpu(), m.layout.linear, {Access::Write, Privilege::kUser}, {});
  EXPECT_EQ(r.status, WalkStatus::kReadOnly);
  EXPECT_EQ(r.error_code, pf_error::P | pf_error::W | pf_error::U);
  for (size_t i = 0; i < m.entry_addrs.size(); ++i)
    EXPECT_EQ(m.tables.read_entry(m.entry_addrs[i]), m.initial[i]);
}

TEST(PageWalkAccessedDirty, ThirtyTwoBitEntriesUpdateOnlyTheirFourBytes) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[0], pte::P | pte::RW);  // 32-bit paging, 4 KiB
  uint64_t pte_addr = m.entry_addrs[1];
  pc.write<uint32_t>(pte_addr + 4, 0xdeadbe00u);  // the neighbouring PTE (not present)
  ASSERT_TRUE(walk(pc.cpu(), m.layout.linear, {Access::Write, Privilege::kSupervisor}, {}).ok());
  EXPECT_EQ(pc.read<uint32_t>(pte_addr), m.initial[1] | pte::A | pte::D);
  EXPECT_EQ(pc.read<uint32_t>(pte_addr + 4), 0xdeadbe00u);
}

TEST(PageWalkAccessedDirty, UpdateOfCodePageDropsTranslatedCode) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[4], pte::P | pte::RW);
  GuestMemory& mem = pc.mem();
  uint64_t pt_page = m.entry_addrs[3] & kPageMask;
  mem.mark_code_page(pt_page);
  std::vector<uint64_t> dropped;
  mem.on_code_write = [&](uint64_t p) { dropped.push_back(p); };
  ASSERT_TRUE(walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {}).ok());
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0], pt_page);
  EXPECT_FALSE(mem.is_code_page(pt_page));
  // A bits already set: no further write, no further notification.
  mem.mark_code_page(pt_page);
  ASSERT_TRUE(walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {}).ok());
  EXPECT_EQ(dropped.size(), 1u);
}

TEST(PageWalkAccessedDirty, SelfReferencingEntryConverges) {
  // A recursive mapping: PML4 entry 0x1ff points at the PML4 itself. Walking an address through
  // it uses the same entry at several levels; the second update sees the first one's A bit and
  // restarts, and the walk ends with the entry accessed.
  PagingCpu pc;
  PageTables pt(pc, PagingMode::k4Level);
  pc.enter(PagingMode::k4Level);
  pc.cpu().cr3 = pt.cr3();
  uint64_t self = pt.cr3() + 8 * 0x1ff;
  pc.write<uint64_t>(self, pt.cr3() | pte::P | pte::RW);
  // linear with PML4 = PDPT = PD = PT index 0x1ff maps the PML4 page itself.
  uint64_t linear = 0xfffffffffffff000ull;
  WalkResult r = walk(pc.cpu(), linear, {Access::Write, Privilege::kSupervisor}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.paddr, pt.cr3());
  EXPECT_EQ(pc.read<uint64_t>(self), pt.cr3() | pte::P | pte::RW | pte::A | pte::D);
}

// ---------------------------------------------------------------------------------------------
// Error code details that the matrix covers only implicitly.

TEST(PageWalkErrorCode, InstructionFetchFlag) {
  // 32-bit paging: I/D only with SMEP (NXE does not count without CR4.PAE).
  PagingCpu pc;
  Mapped m(pc, kLayouts[0], 0);  // PTE not present
  pc.cpu().efer |= efer::NXE;
  WalkResult r = walk(pc.cpu(), m.layout.linear, {Access::Exec, Privilege::kSupervisor}, {});
  EXPECT_EQ(r.error_code, 0u);
  pc.cpu().cr4 |= cr4::SMEP;
  r = walk(pc.cpu(), m.layout.linear, {Access::Exec, Privilege::kSupervisor}, {});
  EXPECT_EQ(r.error_code, pf_error::ID);
  // PAE with NXE: I/D set; without NXE and SMEP: clear.
  PagingCpu pc2;
  Mapped m2(pc2, kLayouts[2], 0);
  r = walk(pc2.cpu(), m2.layout.linear, {Access::Exec, Privilege::kUser}, {});
  EXPECT_EQ(r.error_code, pf_error::U);
  pc2.cpu().efer |= efer::NXE;
  r = walk(pc2.cpu(), m2.layout.linear, {Access::Exec, Privilege::kUser}, {});
  EXPECT_EQ(r.error_code, pf_error::U | pf_error::ID);
}

TEST(PageWalkErrorCode, ImplicitSupervisorAccessAtCpl3ReportsSupervisor) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[4], pte::P | pte::RW);  // supervisor page
  pc.cpu().cpl = 3;
  WalkResult r = walk(pc.cpu(), m.layout.linear, explicit_intent(pc.cpu(), Access::Read), {});
  EXPECT_EQ(r.status, WalkStatus::kUserToSupervisor);
  EXPECT_EQ(r.error_code, pf_error::P | pf_error::U);
  r = walk(pc.cpu(), m.layout.linear, implicit_supervisor_intent(Access::Read), {});
  EXPECT_TRUE(r.ok());
  // SMAP on a user page: the implicit access faults even with AC = 1, U/S = 0.
  m.tables.write_entry(m.entry_addrs[3], m.initial[3] | pte::US);
  for (size_t i = 0; i < 3; ++i) m.tables.write_entry(m.entry_addrs[i], m.initial[i] | pte::US);
  pc.cpu().cr4 |= cr4::SMAP;
  pc.cpu().rflags |= rf::AC;
  r = walk(pc.cpu(), m.layout.linear, implicit_supervisor_intent(Access::Write), {});
  EXPECT_EQ(r.status, WalkStatus::kSmap);
  EXPECT_EQ(r.error_code, pf_error::P | pf_error::W);
}

// ---------------------------------------------------------------------------------------------
// PAE PDPTE registers.

TEST(PageWalkPdpte, LoadChecksReservedBitsOfPresentEntries) {
  for (unsigned m : {36u, 40u, 52u}) {
    PagingFeatures f;
    f.maxphyaddr = static_cast<uint8_t>(m);
    std::vector<unsigned> reserved = {1, 2, 5, 6, 7, 8};
    for (unsigned b = m; b <= 63; ++b) reserved.push_back(b);
    for (unsigned b : reserved) {
      for (unsigned slot = 0; slot < 4; ++slot) {
        PagingCpu pc;
        CpuState& cpu = pc.cpu();
        uint64_t pdpt = 0x2000 + 0x7e0;
        for (unsigned i = 0; i < 4; ++i) pc.write<uint64_t>(pdpt + 8 * i, 0x10000 * (i + 1) | 1);
        cpu.pdpte[0] = 0x1111;  // stale register contents that a failed load must keep
        pc.write<uint64_t>(pdpt + 8 * slot,
                           pc.read<uint64_t>(pdpt + 8 * slot) | (uint64_t{1} << b));
        EXPECT_FALSE(load_pae_pdptes(cpu, pdpt, f)) << "M=" << m << " bit " << b;
        EXPECT_EQ(cpu.pdpte[0], 0x1111u);
        // The same bit in a not-present PDPTE is not checked.
        pc.write<uint64_t>(pdpt + 8 * slot, uint64_t{1} << b);
        EXPECT_TRUE(load_pae_pdptes(cpu, pdpt, f)) << "M=" << m << " bit " << b;
        EXPECT_EQ(cpu.pdpte[slot], uint64_t{1} << b);
      }
    }
    // Free bits: PWT, PCD, ignored 11:9, address bits up to M-1.
    PagingCpu pc;
    uint64_t e = 1 | pte::PWT | pte::PCD | (7u << 9) | (uint64_t{1} << (m - 1));
    for (unsigned i = 0; i < 4; ++i) pc.write<uint64_t>(0x3000 + 8 * i, e + (i << 12));
    EXPECT_TRUE(load_pae_pdptes(pc.cpu(), 0x3000, f));
    for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(pc.cpu().pdpte[i], e + (i << 12));
  }
}

TEST(PageWalkPdpte, Cr3BitsUsedAreThirtyOneToFive) {
  PagingCpu pc;
  for (unsigned i = 0; i < 4; ++i) pc.write<uint64_t>(0x5fe0 + 8 * i, 0x100000 * (i + 1) | 1);
  // Bits 4:0 and 63:32 of CR3 are ignored with PAE paging.
  ASSERT_TRUE(load_pae_pdptes(pc.cpu(), 0xabcd00000000ull | 0x5fe0 | 0x1f, {}));
  for (unsigned i = 0; i < 4; ++i) EXPECT_EQ(pc.cpu().pdpte[i], 0x100000 * (i + 1) | 1);
}

TEST(PageWalkPdpte, WalkUsesRegistersNotMemory) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[2], pte::P | pte::RW);  // PAE 4 KiB, PDPTE index 2
  uint64_t pdpte_addr = m.entry_addrs[0];
  // Changing the in-memory PDPTE after the load has no effect until the next load.
  pc.write<uint64_t>(pdpte_addr, 0);
  WalkResult r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.levels[0].entry_addr, pdpte_addr);
  EXPECT_TRUE(r.levels[0].from_register);
  // The PDPTE in memory is never written (no A bit in PAE PDPTEs).
  EXPECT_EQ(pc.read<uint64_t>(pdpte_addr), 0u);
  ASSERT_TRUE(load_pae_pdptes(pc.cpu(), m.tables.cr3(), {}));
  r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {});
  EXPECT_EQ(r.status, WalkStatus::kNotPresent);
  EXPECT_EQ(r.fault_level, 3);
  EXPECT_EQ(r.error_code, 0u);
}

TEST(PageWalkPdpte, WhenMovToCr0OrCr4Reloads) {
  const uint64_t pg = cr0::PE | cr0::PG, pe = cr0::PE;
  // Entering PAE paging by setting CR0.PG or CR4.PAE.
  EXPECT_TRUE(mov_cr_loads_pdptes(pe, cr4::PAE, pg, cr4::PAE, 0));
  EXPECT_TRUE(mov_cr_loads_pdptes(pg, 0, pg, cr4::PAE, 0));
  // Already in PAE paging: changing CD, NW, PGE, PSE or SMEP reloads.
  for (uint64_t c0 : {uint64_t{cr0::CD}, uint64_t{cr0::NW}})
    EXPECT_TRUE(mov_cr_loads_pdptes(pg, cr4::PAE, pg | c0, cr4::PAE, 0));
  for (uint64_t c4 : {cr4::PGE, cr4::PSE, cr4::SMEP})
    EXPECT_TRUE(mov_cr_loads_pdptes(pg, cr4::PAE, pg, cr4::PAE | c4, 0));
  // Other bits do not; nor does anything that ends outside PAE paging.
  EXPECT_FALSE(mov_cr_loads_pdptes(pg, cr4::PAE, pg | cr0::WP, cr4::PAE, 0));
  EXPECT_FALSE(mov_cr_loads_pdptes(pg, cr4::PAE, pg, cr4::PAE | cr4::SMAP, 0));
  EXPECT_FALSE(mov_cr_loads_pdptes(pg, cr4::PAE, pg, cr4::PAE, 0));
  EXPECT_FALSE(mov_cr_loads_pdptes(pg, cr4::PAE, pe, cr4::PAE, 0));
  EXPECT_FALSE(mov_cr_loads_pdptes(pg, cr4::PAE, pg, 0, 0));
  EXPECT_FALSE(mov_cr_loads_pdptes(pe, cr4::PAE, pg, cr4::PAE, efer::LME | efer::LMA));
  EXPECT_TRUE(pae_paging(pg, cr4::PAE, efer::LME));
  EXPECT_FALSE(pae_paging(pg, cr4::PAE, efer::LME | efer::LMA));
}

// ---------------------------------------------------------------------------------------------
// The side-effect-free probe.

TEST(PageWalkProbe, ReportsLevelsWithoutSideEffects) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[5], pte::P | pte::US);  // 4-level, 2 MiB, read-only user
  CpuState& cpu = pc.cpu();
  cpu.cr0 |= cr0::WP;
  WalkResult r = probe_walk(cpu, m.layout.linear, {Access::Read, Privilege::kUser}, {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.num_levels, 3);
  EXPECT_EQ(r.page_size, 2u << 20);
  EXPECT_EQ(r.paddr, m.expected_paddr());
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_EQ(r.levels[i].entry_addr, m.entry_addrs[i]);
    EXPECT_EQ(r.levels[i].entry, m.initial[i]);
    EXPECT_EQ(r.levels[i].entry_size, 8);
  }
  // Would-fault reasons, each with its error code, and still nothing written.
  r = probe_walk(cpu, m.layout.linear, {Access::Write, Privilege::kUser}, {});
  EXPECT_EQ(r.status, WalkStatus::kReadOnly);
  EXPECT_EQ(r.error_code, pf_error::P | pf_error::W | pf_error::U);
  EXPECT_TRUE(r.has_translation());
  EXPECT_EQ(r.paddr, m.expected_paddr());
  cpu.cr4 |= cr4::SMEP | cr4::SMAP;
  EXPECT_EQ(probe_walk(cpu, m.layout.linear, {Access::Exec, Privilege::kSupervisor}, {}).status,
            WalkStatus::kSmep);
  EXPECT_EQ(probe_walk(cpu, m.layout.linear, {Access::Read, Privilege::kSupervisor}, {}).status,
            WalkStatus::kSmap);
  m.tables.write_entry(m.entry_addrs[2], m.initial[2] | pte::XD);
  cpu.efer |= efer::NXE;
  EXPECT_EQ(probe_walk(cpu, m.layout.linear, {Access::Exec, Privilege::kUser}, {}).status,
            WalkStatus::kExecuteDisabled);
  m.tables.write_entry(m.entry_addrs[1], m.initial[1] & ~pte::US);
  EXPECT_EQ(probe_walk(cpu, m.layout.linear, {Access::Read, Privilege::kUser}, {}).status,
            WalkStatus::kUserToSupervisor);
  for (unsigned i = 0; i < 3; ++i)
    EXPECT_EQ(m.tables.read_entry(m.entry_addrs[i]) & (pte::A | pte::D), 0u);
}

TEST(PageWalkProbe, NeverTouchesMmio) {
  PagingCpu pc;
  Mapped m(pc, kLayouts[4], pte::P | pte::RW);
  unsigned mmio_reads = 0;
  MmioHandler h;
  h.read = [&](uint64_t, unsigned) -> uint64_t {
    ++mmio_reads;
    return 0;
  };
  h.write = [](uint64_t, unsigned, uint64_t) {};
  pc.mem().add_mmio(0xfee00000, 0x1000, h, "apic");
  // The PD entry points at a "page table" inside the MMIO window.
  m.tables.write_entry(m.entry_addrs[2], 0xfee00000 | pte::P | pte::RW);
  WalkResult r = probe_walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {});
  EXPECT_EQ(mmio_reads, 0u);
  EXPECT_EQ(r.status, WalkStatus::kReservedBit);  // read as all ones
  EXPECT_EQ(r.levels[3].entry, ~uint64_t{0});
  // The architectural walk reads through the bus, as the processor does.
  r = walk(pc.cpu(), m.layout.linear, {Access::Read, Privilege::kSupervisor}, {});
  EXPECT_GT(mmio_reads, 0u);
  EXPECT_EQ(r.status, WalkStatus::kNotPresent);
}

TEST(PageWalkProbe, Names) {
  for (unsigned s = 0; s < kNumWalkStatus; ++s)
    EXPECT_STRNE(walk_status_name(static_cast<WalkStatus>(s)), "?");
  EXPECT_STREQ(paging_mode_name(PagingMode::k5Level), "5-level");
}

}  // namespace
}  // namespace umbra
