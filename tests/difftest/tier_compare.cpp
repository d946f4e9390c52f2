#include "tier_compare.h"

#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <string>

namespace difftest {

namespace {

constexpr const char* kGprNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
constexpr const char* kSegNames[6] = {"es", "cs", "ss", "ds", "fs", "gs"};

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  std::vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

std::string hex(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += fmt("%02x", p[i]);
  return s;
}

// One line per differing scalar: "what: tier 0 X, tier 1 Y".
struct Diff {
  std::string text;
  void value(const char* what, uint64_t a, uint64_t b) {
    if (a != b) text += fmt("%s: tier 0 %#" PRIx64 ", tier 1 %#" PRIx64 "\n", what, a, b);
  }
  void segment(const char* what, const umbra::SegmentCache& a, const umbra::SegmentCache& b) {
    if (a.selector != b.selector || a.base != b.base || a.limit != b.limit || a.attrib != b.attrib)
      text +=
          fmt("%s: tier 0 sel %#x base %#" PRIx64
              " limit %#x attr %#x, tier 1 sel %#x base "
              "%#" PRIx64 " limit %#x attr %#x\n",
              what, a.selector, a.base, a.limit, a.attrib, b.selector, b.base, b.limit, b.attrib);
  }
  void bytes(const char* what, uint64_t addr0, const uint8_t* a, const uint8_t* b, size_t n) {
    unsigned shown = 0;
    for (size_t i = 0; i < n && shown < 4;) {
      if (a[i] == b[i]) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < n && j - i < 16 && a[j] != b[j]) ++j;
      text += fmt("%s %#" PRIx64 "..%#" PRIx64 ": tier 0 %s, tier 1 %s\n", what, addr0 + i,
                  addr0 + j - 1, hex(a + i, j - i).c_str(), hex(b + i, j - i).c_str());
      ++shown;
      i = j;
    }
    if (shown == 4) text += fmt("%s: more differences not shown\n", what);
  }
};

}  // namespace

Verdict compare_tier_runs(const TierRun& t0, const TierRun& t1) {
  Diff d;
  const CaseOutput& a = t0.out;
  const CaseOutput& b = t1.out;
  const ArchSnapshot& x = t0.snap;
  const ArchSnapshot& y = t1.snap;
  // How the run ended.
  d.value("exit reason", x.reason, y.reason);
  d.value("status", static_cast<uint32_t>(a.status), static_cast<uint32_t>(b.status));
  d.value("vector", a.vector, b.vector);
  d.value("error code", a.error_code, b.error_code);
  d.value("fault address", a.fault_addr, b.fault_addr);
  d.value("instructions retired", x.insns, y.insns);
  // Registers as reported (for an event delivered through the IDT: the interrupted state).
  for (unsigned r = 0; r < 16; ++r) d.value(kGprNames[r], a.regs.gpr[r], b.regs.gpr[r]);
  d.value("rip", a.regs.rip, b.regs.rip);
  d.value("rflags (reported)", a.regs.rflags, b.regs.rflags);
  d.value("rflags (cpu)", x.rflags, y.rflags);
  for (unsigned s = 0; s < 6; ++s) d.segment(kSegNames[s], x.seg[s], y.seg[s]);
  d.segment("ldtr", x.ldtr, y.ldtr);
  d.segment("tr", x.tr, y.tr);
  d.value("gdtr base", x.gdtr.base, y.gdtr.base);
  d.value("gdtr limit", x.gdtr.limit, y.gdtr.limit);
  d.value("idtr base", x.idtr.base, y.idtr.base);
  d.value("idtr limit", x.idtr.limit, y.idtr.limit);
  d.value("cr0", x.cr0, y.cr0);
  d.value("cr2", x.cr2, y.cr2);
  d.value("cr3", x.cr3, y.cr3);
  d.value("cr4", x.cr4, y.cr4);
  d.value("efer", x.efer, y.efer);
  d.value("cpl", x.cpl, y.cpl);
  d.value("mode64", x.mode64, y.mode64);
  d.value("code32", x.code32, y.code32);
  d.value("stack32", x.stack32, y.stack32);
  d.value("halted", x.halted, y.halted);
  // x87: the 80-bit registers (the rest of each 16-byte slot is padding) and the environment.
  for (unsigned i = 0; i < 8; ++i)
    if (std::memcmp(x.x87.st[i], y.x87.st[i], 10))
      d.text += fmt("x87 R%u: tier 0 %s, tier 1 %s\n", i, hex(x.x87.st[i], 10).c_str(),
                    hex(y.x87.st[i], 10).c_str());
  d.value("fcw", x.x87.fcw, y.x87.fcw);
  d.value("fsw", x.x87.fsw, y.x87.fsw);
  d.value("ftw", x.x87.ftw, y.x87.ftw);
  d.value("fop", x.x87.fop, y.x87.fop);
  d.value("fip", x.x87.fip, y.x87.fip);
  d.value("fdp", x.x87.fdp, y.x87.fdp);
  d.value("fcs", x.x87.fcs, y.x87.fcs);
  d.value("fds", x.x87.fds, y.x87.fds);
  d.value("mxcsr", x.mxcsr, y.mxcsr);
  for (unsigned i = 0; i < 16; ++i)
    if (std::memcmp(x.xmm[i].b, y.xmm[i].b, 16))
      d.text += fmt("xmm%u: tier 0 %s, tier 1 %s\n", i, hex(x.xmm[i].b, 16).c_str(),
                    hex(y.xmm[i].b, 16).c_str());
  d.bytes("memory", kDataBase, a.data, b.data, kDataSize);
  d.bytes("system page", kSysLinear, x.sys_pages, y.sys_pages, kSysSize);
  Verdict v;
  v.details = d.text;
  v.mismatch = !d.text.empty();
  return v;
}

}  // namespace difftest
