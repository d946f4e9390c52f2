// walk VADDR [CR3]: the guest page walk of one linear address, level by level, with the access
// rights for every kind of access and the page's state in Umbra's caches; and info shadow.
// Everything comes from probe_walk() (no side effects) and softmmu/mmu_introspect.h.
#include <cstring>
#include <memory>
#include <string>

#include "frontend/system/mode.h"
#include "softmmu/mmu_introspect.h"
#include "softmmu/page_walk.h"
#include "softmmu/paging_translator.h"
#include "ui/monitor.h"
#include "ui/monitor_args.h"
#include "ui/monitor_paging.h"
#include "ui/monitor_text.h"

namespace umbra {

namespace {

// "[P W U RSVD ID]" for a #PF error code (SDM vol. 3, 4.7, figure 4-12).
std::string error_code_bits(uint32_t ec) {
  static const struct {
    uint32_t bit;
    const char* name;
  } kBits[] = {{pf_error::P, "P"},       {pf_error::W, "W"},   {pf_error::U, "U"},
               {pf_error::RSVD, "RSVD"}, {pf_error::ID, "ID"}, {pf_error::PK, "PK"}};
  std::string out;
  for (const auto& b : kBits) {
    if (!(ec & b.bit)) continue;
    if (!out.empty()) out += ' ';
    out += b.name;
  }
  return "[" + out + "]";
}

std::string level_label(unsigned level) {
  return strfmt("%s (level %u)", paging_level_name(level), level);
}

// The first entry, root first, that satisfies `pred` and takes part in access rights (PAE PDPTE
// registers do not, SDM vol. 3, 4.4.2). 0 when none does.
template <typename Pred>
unsigned first_level(const WalkResult& r, Pred&& pred) {
  for (unsigned i = 0; i < r.num_levels; ++i)
    if (!r.levels[i].from_register && pred(r.levels[i].entry)) return r.levels[i].level;
  return 0;
}

struct WalkContext {
  const CpuState& cpu;
  PagingFeatures features;
  unsigned maxphyaddr;
};

// Why a walk for one access fails: the rule and where it applies.
std::string explain_fault(const WalkContext& ctx, const WalkResult& r, AccessIntent intent) {
  const CpuState& cpu = ctx.cpu;
  switch (r.status) {
    case WalkStatus::kOk:
      return "allowed";
    case WalkStatus::kNotPresent:
      return "not present: P=0 in " + level_label(r.fault_level);
    case WalkStatus::kReservedBit: {
      const WalkLevel* l = nullptr;
      for (unsigned i = 0; i < r.num_levels; ++i)
        if (r.levels[i].level == r.fault_level) l = &r.levels[i];
      uint64_t set = 0;
      if (l)
        set = l->entry & paging_reserved_mask(r.mode, *l, ctx.maxphyaddr, cpu.efer & efer::NXE,
                                              ctx.features.pages_1g);
      if (!set) return "reserved bit set in " + level_label(r.fault_level);
      std::string bits;
      unsigned n = 0;
      for (int b = 63; b >= 0; --b) {
        if (!(set >> b & 1)) continue;
        bits += (n++ ? ", " : "") + std::to_string(b);
      }
      return std::string(n > 1 ? "reserved bits " : "reserved bit ") + bits + " set in " +
             level_label(r.fault_level) +
             ((set & pte::XD) && !(cpu.efer & efer::NXE) ? " (bit 63 is XD only with EFER.NXE=1)"
                                                         : "");
    }
    case WalkStatus::kUserToSupervisor: {
      unsigned lv = first_level(r, [](uint64_t e) { return !(e & pte::US); });
      return "U/S: supervisor page, U/S=0 in " + level_label(lv);
    }
    case WalkStatus::kReadOnly: {
      unsigned lv = first_level(r, [](uint64_t e) { return !(e & pte::RW); });
      return "R/W: read-only, R/W=0 in " + level_label(lv) +
             (intent.privilege == Privilege::kUser ? "" : ", CR0.WP=1");
    }
    case WalkStatus::kExecuteDisabled: {
      unsigned lv = first_level(r, [](uint64_t e) { return (e & pte::XD) != 0; });
      return "NX: XD=1 in " + level_label(lv) + ", EFER.NXE=1";
    }
    case WalkStatus::kSmep:
      return "SMEP: supervisor fetch from a user page, CR4.SMEP=1";
    case WalkStatus::kSmap:
      return "SMAP: supervisor data access to a user page, CR4.SMAP=1, EFLAGS.AC=0";
  }
  return "?";
}

std::string maps_column(const WalkContext& ctx, PagingMode mode, const WalkResult& r,
                        const WalkLevel& l) {
  std::string s;
  if (!(l.entry & pte::P)) {
    s = "not present";
  } else if (r.status == WalkStatus::kReservedBit && l.level == r.fault_level) {
    s = "invalid: reserved bit set";
  } else if (l.maps_page) {
    s = size_name(paging_page_size(mode, l.level)) + " page " +
        hex(paging_entry_address(mode, l, ctx.maxphyaddr));
  } else {
    s = "table " + hex(paging_entry_address(mode, l, ctx.maxphyaddr));
  }
  if (l.from_register) s += " (PDPTE register)";
  return s;
}

std::string on_off(uint64_t v) {
  return v ? "1" : "0";
}

}  // namespace

std::string Monitor::cmd_walk(Args& args) {
  if (args.at_end()) throw MonitorError("usage: walk VADDR [CR3]");
  uint64_t linear = args.expression();
  std::optional<uint64_t> cr3;
  if (!args.at_end()) cr3 = args.expression();
  args.expect_end();

  // Walking another address space: a copy of the CPU with that CR3 (and, for PAE, the PDPTEs
  // read from it as a MOV CR3 would load them; SDM vol. 3, 4.4.1).
  std::unique_ptr<CpuState> other;
  std::string notes;
  if (cr3 && *cr3 != cpu_.cr3) {
    other = std::make_unique<CpuState>(cpu_);
    other->cr3 = *cr3;
    if (paging_mode(*other) == PagingMode::kPae) {
      const uint64_t base = *cr3 & 0xffffffe0u;
      if (!read_physical(base, other->pdpte, sizeof other->pdpte))
        throw MonitorError("the PDPT at " + hex(base) + " is not in RAM");
      notes +=
          "  (PAE: PDPTEs read from memory at " + hex(base) + ", as MOV CR3 would load them)\n";
    }
  }
  const CpuState& cpu = other ? *other : cpu_;
  const PagingFeatures features = paging_features(cpu);
  const WalkContext ctx{cpu, features,
                        features.maxphyaddr < 36   ? 36u
                        : features.maxphyaddr > 52 ? 52u
                                                   : features.maxphyaddr};
  const PagingMode mode = paging_mode(cpu);
  const bool long_mode = cpu.efer & efer::LMA;
  std::string out;
  if (!long_mode && linear > 0xffffffffu) {
    notes += "  (linear addresses are 32 bits outside IA-32e mode: walking " +
             hex(linear & 0xffffffffu, 8) + ")\n";
    linear &= 0xffffffffu;
  }
  const int aw = long_mode ? 16 : 8;
  out += "walk " + hex(linear, aw) + ": ";
  if (mode == PagingMode::kNone)
    out += "paging off";
  else
    out += std::string(paging_mode_name(mode)) + " paging, cr3=" + hex(cpu.cr3);
  out += "\n" + notes;
  out += "  CPL=" + std::to_string(cpu.cpl) + " CR0.WP=" + on_off(cpu.cr0 & cr0::WP) +
         " CR4.SMEP=" + on_off(cpu.cr4 & cr4::SMEP) + " CR4.SMAP=" + on_off(cpu.cr4 & cr4::SMAP) +
         " EFLAGS.AC=" + on_off(cpu.rflags & rf::AC) + " EFER.NXE=" + on_off(cpu.efer & efer::NXE) +
         "\n";

  static const Access kAccesses[] = {Access::Read, Access::Write, Access::Exec};
  static const char* const kAccessNames[] = {"read", "write", "execute"};

  if (!canonical(linear)) {
    // SDM vol. 3, 6.15 (#GP, #SS): a non-canonical linear address faults before any walk.
    out += "\nnon-canonical address (bits 63:" + std::to_string((cpu.cr4 & cr4::LA57) ? 57 : 48) +
           " must equal bit " + std::to_string((cpu.cr4 & cr4::LA57) ? 56 : 47) + "): no walk\n";
    out += "\naccess rights:\n";
    for (const char* who : {"supervisor", "user"})
      for (const char* what : kAccessNames)
        out += "  " + pad(std::string(who) + " " + what, 20) +
               "#GP(0) non-canonical (#SS(0) for a stack access)\n";
    return out;
  }

  const WalkResult shape =
      probe_walk(cpu, linear, AccessIntent{Access::Read, Privilege::kSupervisor}, features);
  if (mode != PagingMode::kNone) {
    const bool wide = mode != PagingMode::k32Bit;
    const int ew = wide ? 16 : 8;  // entry address and raw value widths
    const size_t cw = wide ? 20 : 16;
    out += "\n  " + pad("level", 7) + pad("entry address", cw) + pad("raw value", cw) +
           pad(paging_entry_flags_header(), 30) + "maps\n";
    for (unsigned i = 0; i < shape.num_levels; ++i) {
      const WalkLevel& l = shape.levels[i];
      out += "  " + pad(paging_level_name(l.level), 7) + pad(hex(l.entry_addr, ew), cw) +
             pad(hex(l.entry, l.entry_size * 2), cw) + pad(paging_entry_flags(l), 30) +
             maps_column(ctx, mode, shape, l) + "\n";
    }
  }
  out += "\n";
  if (shape.has_translation()) {
    uint64_t page = shape.paddr & ~(shape.page_size - 1);
    out += "physical: " + hex(shape.paddr, 16) + " (" + size_name(shape.page_size) + " page at " +
           hex(page) + (mode == PagingMode::kNone ? ", paging off" : "") + ")\n";
  } else {
    out += "physical: none, " + explain_fault(ctx, shape, {Access::Read, Privilege::kSupervisor}) +
           "\n";
  }

  out += "\naccess rights:\n";
  for (Privilege who : {Privilege::kSupervisor, Privilege::kUser}) {
    for (unsigned k = 0; k < 3; ++k) {
      const AccessIntent intent{kAccesses[k], who};
      const WalkResult r = probe_walk(cpu, linear, intent, features);
      std::string label =
          std::string(who == Privilege::kUser ? "user " : "supervisor ") + kAccessNames[k];
      std::string verdict = r.ok() ? "allowed"
                                   : strfmt("#PF error 0x%02x %-15s ", r.error_code,
                                            error_code_bits(r.error_code).c_str()) +
                                         explain_fault(ctx, r, intent);
      out += "  " + pad(label, 20) + verdict + "\n";
    }
  }

  out += "\ncache:\n";
  if (other) {
    out += "  (shown for the current address space only, cr3=" + hex(cpu_.cr3) + ")\n";
    return out;
  }
  const PageCacheState cs = page_cache_state(cpu_, linear);
  std::string tlb =
      std::string(cs.tlb_read ? "r" : "-") + (cs.tlb_write ? "w" : "-") + (cs.tlb_exec ? "x" : "-");
  if (cs.tlb_read || cs.tlb_write || cs.tlb_exec)
    out += "  fast TLB      " + tlb + " -> " + hex(cs.tlb_host_paddr, 16) + "\n";
  else
    out += "  fast TLB      not present\n";
  if (!cs.has_shadow_mmu) {
    out += "  shadow        (the MMU has no shadow page tables)\n";
    return out;
  }
  out += "  shadow        " +
         (cs.shadow_present ? std::string("present") : std::string("not present")) +
         (cs.shadow_detail.empty() ? "" : ": " + cs.shadow_detail) + "\n";
  for (const PageCacheState::TablePage& t : cs.tables) {
    out += "  table page    " + hex(t.paddr, 16) +
           (t.write_tracked ? " write-tracked" : " not tracked") +
           (t.unsynced ? ", unsynced" : "") + strfmt(", level %u: ", t.level) +
           (!t.shadow_table  ? std::string("no shadow table")
            : t.entry_cached ? std::string("shadow table, entry cached")
                             : std::string("shadow table, entry not cached")) +
           (t.shadow_roles > 1 ? strfmt(" (%u shadow tables on the page)", t.shadow_roles) : "") +
           "\n";
  }
  return out;
}

std::string Monitor::cmd_info_shadow() {
  std::string out;
  std::vector<MmuCounter> counters = mmu_counters(cpu_);
  size_t width = 0;
  for (const MmuCounter& c : counters) width = std::max(width, c.name.size());
  out += counters.empty() ? "MMU counters: none\n" : "MMU counters:\n";
  for (const MmuCounter& c : counters)
    out += "  " + pad(c.name, width) + "  " + std::to_string(c.value) + "\n";
  std::vector<std::string> spaces = mmu_address_spaces(cpu_);
  out += strfmt("cached address spaces: %zu\n", spaces.size());
  for (const std::string& s : spaces) out += "  " + s + "\n";
  return out;
}

}  // namespace umbra
