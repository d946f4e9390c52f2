// x, xp, info tlb, info mem: guest memory and its mappings as the monitor sees them. Linear
// addresses go through probe_walk() (Monitor::translate), never through the CPU's access path:
// looking must not set accessed/dirty bits, fill the fast TLB or touch a device.
#include <algorithm>
#include <map>
#include <string>

#include "frontend/disasm.h"
#include "frontend/system/mode.h"
#include "softmmu/access.h"
#include "softmmu/paging_translator.h"
#include "ui/monitor.h"
#include "ui/monitor_args.h"
#include "ui/monitor_paging.h"
#include "ui/monitor_text.h"

namespace umbra {

namespace {

constexpr unsigned kMaxInsnBytes = 15;  // SDM vol. 2, 2.3.11

// Items per output line for each unit size.
unsigned items_per_line(const ExamineFormat& f) {
  if (f.format == 'c') return 16;
  return f.unit >= 8 ? 2 : f.unit == 4 ? 4 : 8;
}

std::string format_item(const ExamineFormat& f, uint64_t v) {
  const unsigned bits = f.unit * 8;
  switch (f.format) {
    case 'd': {
      int64_t s = bits == 64 ? static_cast<int64_t>(v)
                             : static_cast<int64_t>(v << (64 - bits)) >> (64 - bits);
      return std::to_string(s);
    }
    case 'u':
      return std::to_string(v);
    case 'c': {
      const unsigned char ch = static_cast<unsigned char>(v);
      if (ch == '\n') return "\\n";
      if (ch == '\r') return "\\r";
      if (ch == '\t') return "\\t";
      if (ch == '\\') return "\\\\";
      if (ch >= 0x20 && ch < 0x7f) return std::string(1, static_cast<char>(ch));
      return strfmt("\\x%02x", ch);
    }
    default:
      return hex(v, static_cast<int>(f.unit * 2));
  }
}

}  // namespace

bool Monitor::canonical(uint64_t linear) const {
  if (!(cpu_.efer & efer::LMA)) return true;
  const unsigned bits = (cpu_.cr4 & cr4::LA57) ? 57 : 48;
  const unsigned shift = 64 - bits;
  return static_cast<uint64_t>(static_cast<int64_t>(linear << shift) >> shift) == linear;
}

namespace {

// Reads guest bytes at a linear (through probe walks, page by page) or physical address, up to
// the first byte that cannot be read. Returns how many were read.
template <typename Translate, typename ReadPhys>
size_t read_guest(uint64_t addr, bool physical, bool wrap32, uint8_t* out, size_t n,
                  Translate&& translate, ReadPhys&& read_phys) {
  size_t done = 0;
  while (done < n) {
    uint64_t a = addr + done;
    if (wrap32 && !physical) a &= 0xffffffffu;
    const size_t in_page = std::min<uint64_t>(n - done, kPageSize - (a & (kPageSize - 1)));
    uint64_t paddr = a;
    if (!physical && !translate(a, &paddr)) break;
    if (!read_phys(paddr, out + done, in_page)) {
      // Part of the page may be RAM (the end of RAM inside the page): take what is readable.
      size_t k = 0;
      while (k < in_page && read_phys(paddr + k, out + done + k, 1)) ++k;
      done += k;
      break;
    }
    done += in_page;
  }
  return done;
}

}  // namespace

std::string Monitor::cmd_examine(Args& args, bool physical) {
  ExamineFormat f;
  if (std::optional<std::string_view> fmt = args.word_if_starts_with('/'))
    f = parse_examine_format(*fmt);
  if (args.at_end()) throw MonitorError(physical ? "usage: xp /Nfu ADDR" : "usage: x /Nfu ADDR");
  uint64_t addr = args.expression();
  args.expect_end();

  const bool long_mode = cpu_.efer & efer::LMA;
  const bool wrap32 = !long_mode;  // legacy-mode linear addresses are 32 bits
  if (wrap32 && !physical) addr &= 0xffffffffu;
  const int width = (long_mode || physical || addr > 0xffffffffu) ? 16 : 8;
  auto tr = [this](uint64_t linear, uint64_t* paddr) { return translate(linear, paddr); };
  auto rd = [this](uint64_t paddr, void* out, size_t n) { return read_physical(paddr, out, n); };
  auto read = [&](uint64_t a, uint8_t* out, size_t n) {
    return read_guest(a, physical, wrap32, out, n, tr, rd);
  };
  auto address = [&](uint64_t a) {
    if (wrap32 && !physical) a &= 0xffffffffu;
    return hex(a, width);
  };

  if (!physical && !canonical(addr))
    throw MonitorError(address(addr) + ": cannot access (non-canonical address)");

  std::string out;
  if (f.format == 'i') {
    const int bits = cpu_.mode64 ? 64 : cpu_.code32 ? 32 : 16;
    uint64_t a = addr;
    for (uint64_t i = 0; i < f.count; ++i) {
      uint8_t bytes[kMaxInsnBytes];
      const size_t got = read(a, bytes, kMaxInsnBytes);
      if (got == 0) {
        out += address(a) + ": cannot access\n";
        break;
      }
      Disassembly d = disassemble_one(bytes, static_cast<unsigned>(got), a, bits);
      const unsigned len = d.length ? d.length : 1;
      std::string raw;
      for (unsigned k = 0; k < len; ++k) raw += strfmt("%02x ", bytes[k]);
      std::string text = d.length ? d.mnemonic + (d.operands.empty() ? "" : " " + d.operands)
                                  : (got < kMaxInsnBytes ? "(cannot access the rest)" : "(bad)");
      out += address(a) + ": " + pad(raw, 3 * 10) + " " + text + "\n";
      if (!d.length && got < kMaxInsnBytes) break;
      a += len;
    }
    return out;
  }

  const unsigned per_line = items_per_line(f);
  for (uint64_t i = 0; i < f.count; ++i) {
    const uint64_t a = addr + i * f.unit;
    if (i % per_line == 0) {
      if (i) out += "\n";
      out += address(a) + ":";
    }
    uint8_t bytes[8] = {};
    if (read(a, bytes, f.unit) != f.unit) {
      out += " cannot access";
      if (i % per_line != 0) out += " at " + address(a);
      break;
    }
    uint64_t v = 0;
    for (unsigned k = 0; k < f.unit; ++k) v |= uint64_t{bytes[k]} << (8 * k);
    // Characters run together after one blank; numbers are blank-separated.
    out += (f.format == 'c' && i % per_line != 0 ? "" : " ") + format_item(f, v);
  }
  return out + "\n";
}

std::string Monitor::current_instruction() const {
  const bool long64 = cpu_.mode64;
  uint64_t linear = long64 ? cpu_.rip : cpu_.seg[CS].base + cpu_.rip;
  if (!(cpu_.efer & efer::LMA)) linear &= 0xffffffffu;
  std::string out = "rip=" + hex(cpu_.rip);
  if (!long64) out += " (linear " + hex(linear) + ")";
  uint8_t bytes[kMaxInsnBytes];
  auto tr = [this](uint64_t l, uint64_t* p) { return translate(l, p); };
  auto rd = [this](uint64_t p, void* o, size_t n) { return read_physical(p, o, n); };
  const size_t got =
      read_guest(linear, false, !(cpu_.efer & efer::LMA), bytes, kMaxInsnBytes, tr, rd);
  Disassembly d{0, {}, {}};
  if (got)
    d = disassemble_one(bytes, static_cast<unsigned>(got), linear,
                        long64        ? 64
                        : cpu_.code32 ? 32
                                      : 16);
  if (!got)
    out += ": cannot access";
  else if (!d.length)
    out += ": (bad)";
  else
    out += ": " + d.mnemonic + (d.operands.empty() ? "" : " " + d.operands);
  return out + "\n";
}

std::string Monitor::cmd_info_tlb() {
  // One line per (linear page, rights): a TLB entry's three tags name the page each kind of
  // access may use it for (CpuState::tlb, softmmu/access.cpp).
  struct Line {
    bool r = false, w = false, x = false;
    int64_t addend = 0;
  };
  std::map<uint64_t, Line> pages;
  const TlbEntry* table = tlb_table(cpu_);  // the active table: this address space and view
  const unsigned entries = tlb_entries(cpu_);
  for (unsigned i = 0; i < entries; ++i) {
    const TlbEntry& e = table[i];
    const uint64_t tags[3] = {e.tag_read, e.tag_write, e.tag_exec};
    for (unsigned k = 0; k < 3; ++k) {
      if (tags[k] == kTlbInvalid) continue;
      Line& l = pages[tags[k]];
      l.addend = e.addend;
      (k == 0 ? l.r : k == 1 ? l.w : l.x) = true;
    }
  }
  std::string out = strfmt("fast TLB (active table): %zu valid page%s of %u entries\n",
                           pages.size(), pages.size() == 1 ? "" : "s", entries);
  if (pages.empty()) return out;
  out += "  linear page         physical page       rights\n";
  const uintptr_t ram = reinterpret_cast<uintptr_t>(memory_.ram());
  for (const auto& [page, l] : pages) {
    const uintptr_t host = static_cast<uintptr_t>(page + static_cast<uint64_t>(l.addend));
    std::string phys = host >= ram && host - ram < memory_.ram_size() ? hex(host - ram, 16)
                                                                      : "host " + hex(host, 12);
    out += "  " + hex(page, 16) + "  " + pad(phys, 18) + "  " + (l.r ? "r" : "-") +
           (l.w ? "w" : "-") + (l.x ? "x" : "-") + "\n";
  }
  return out;
}

std::string Monitor::cmd_info_mem() {
  const PagingMode mode = paging_mode(cpu_);
  if (mode == PagingMode::kNone) return "paging is off: linear addresses are physical\n";
  MappedRanges m = enumerate_mappings(cpu_, memory_, paging_features(cpu_));
  const bool wide = mode == PagingMode::k4Level || mode == PagingMode::k5Level;
  const int w = wide ? 16 : 8;
  std::string out = strfmt("%s paging, cr3=%s: %zu range%s\n", paging_mode_name(mode),
                           hex(cpu_.cr3).c_str(), m.ranges.size(), m.ranges.size() == 1 ? "" : "s");
  for (const MappedRange& r : m.ranges) {
    const uint64_t end = r.start + r.size;  // 0 for a range ending at the top of memory
    out += strfmt("%0*llx-%0*llx %0*llx %c%c%c%c\n", w, static_cast<unsigned long long>(r.start), w,
                  static_cast<unsigned long long>(end), w, static_cast<unsigned long long>(r.size),
                  r.user ? 'u' : '-', 'r', r.writable ? 'w' : '-', r.no_execute ? '-' : 'x');
  }
  if (m.truncated) out += "(stopped: too many paging-structure entries)\n";
  return out;
}

}  // namespace umbra
