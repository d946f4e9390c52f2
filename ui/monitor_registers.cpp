// info registers: the architectural state, with RFLAGS, the segment descriptor caches and the
// control registers decoded (SDM vol. 1, 3.4.3; vol. 3, 2.5, 3.4.5, 3.5).
#include <string>

#include "frontend/flags.h"
#include "frontend/system/mode.h"
#include "softmmu/page_walk.h"
#include "ui/monitor.h"
#include "ui/monitor_text.h"

namespace umbra {

namespace {

struct NamedBit {
  uint64_t mask;
  const char* name;
};

// Names of the set bits, highest first, e.g. "[PG WP NE ET PE]"; "[]" when none is set.
template <size_t N>
std::string bit_names(uint64_t value, const NamedBit (&table)[N]) {
  std::string out = "[";
  for (size_t i = 0; i < N; ++i) {
    if (!(value & table[i].mask)) continue;
    if (out.size() > 1) out += ' ';
    out += table[i].name;
  }
  return out + "]";
}

constexpr NamedBit kRflagsBits[] = {
    {rf::ID, "ID"}, {rf::VIP, "VIP"}, {rf::VIF, "VIF"}, {rf::AC, "AC"},
    {rf::VM, "VM"}, {rf::RF, "RF"},   {rf::NT, "NT"},   {rf::OF, "OF"},
    {rf::DF, "DF"}, {rf::IF, "IF"},   {rf::TF, "TF"},   {rf::SF, "SF"},
    {rf::ZF, "ZF"}, {rf::AF, "AF"},   {rf::PF, "PF"},   {rf::CF, "CF"},
};
constexpr NamedBit kCr0Bits[] = {
    {cr0::PG, "PG"}, {cr0::CD, "CD"}, {cr0::NW, "NW"}, {cr0::AM, "AM"},
    {cr0::WP, "WP"}, {cr0::NE, "NE"}, {cr0::ET, "ET"}, {cr0::TS, "TS"},
    {cr0::EM, "EM"}, {cr0::MP, "MP"}, {cr0::PE, "PE"},
};
constexpr NamedBit kCr4Bits[] = {
    {cr4::PKE, "PKE"},         {cr4::SMAP, "SMAP"},   {cr4::SMEP, "SMEP"},
    {cr4::OSXSAVE, "OSXSAVE"}, {cr4::PCIDE, "PCIDE"}, {cr4::FSGSBASE, "FSGSBASE"},
    {cr4::LA57, "LA57"},       {cr4::UMIP, "UMIP"},   {cr4::OSXMMEXCPT, "OSXMMEXCPT"},
    {cr4::OSFXSR, "OSFXSR"},   {cr4::PCE, "PCE"},     {cr4::PGE, "PGE"},
    {cr4::MCE, "MCE"},         {cr4::PAE, "PAE"},     {cr4::PSE, "PSE"},
    {cr4::DE, "DE"},           {cr4::TSD, "TSD"},     {cr4::PVI, "PVI"},
    {cr4::VME, "VME"},
};
constexpr NamedBit kEferBits[] = {
    {efer::NXE, "NXE"}, {efer::LMA, "LMA"}, {efer::LME, "LME"}, {efer::SCE, "SCE"}};

// The descriptor type of a cached segment, in words (SDM vol. 3, 3.4.5.1 and table 3-2).
std::string describe_attributes(uint16_t attr, bool long_mode) {
  if (!(attr & seg_attr::P)) return "not present";
  const unsigned type = attr & 0xf;
  std::string out;
  if (attr & seg_attr::S) {
    if (type & 8) {
      out = "code ";
      out += (type & 2) ? "r-x" : "--x";
      if (type & 4) out += " conforming";
    } else {
      out = "data ";
      out += (type & 2) ? "rw-" : "r--";
      if (type & 4) out += " expand-down";
    }
    if (type & 1) out += " accessed";
  } else {
    static const char* const kSystemTypes[16] = {"reserved",
                                                 "16-bit TSS (available)",
                                                 "LDT",
                                                 "16-bit TSS (busy)",
                                                 "16-bit call gate",
                                                 "task gate",
                                                 "16-bit int gate",
                                                 "16-bit trap gate",
                                                 "reserved",
                                                 "TSS (available)",
                                                 "reserved",
                                                 "TSS (busy)",
                                                 "call gate",
                                                 "reserved",
                                                 "interrupt gate",
                                                 "trap gate"};
    out = kSystemTypes[type];
    if (type == 9 || type == 11) out = std::string(long_mode ? "64-bit " : "32-bit ") + out;
  }
  out += strfmt(" dpl=%u", seg_attr::dpl(attr));
  if (attr & seg_attr::L) out += " L";
  if (attr & seg_attr::DB) out += " DB";
  if (attr & seg_attr::G) out += " G";
  return out;
}

std::string segment_line(const char* name, const SegmentCache& s, bool long_mode) {
  return strfmt("%-4s=%04x base=%016llx limit=%08x attr=%04x %s\n", name, s.selector,
                static_cast<unsigned long long>(s.base), s.limit, s.attrib,
                describe_attributes(s.attrib, long_mode).c_str());
}

std::string cpu_mode_name(const CpuState& cpu) {
  if (!(cpu.cr0 & cr0::PE)) return cpu.code32 ? "real mode (32-bit code)" : "real mode";
  if (cpu.rflags & rf::VM) return "virtual-8086 mode";
  if (cpu.efer & efer::LMA) {
    if (cpu.mode64) return "64-bit mode";
    return cpu.code32 ? "compatibility mode, 32-bit code" : "compatibility mode, 16-bit code";
  }
  return cpu.code32 ? "protected mode, 32-bit code" : "protected mode, 16-bit code";
}

}  // namespace

std::string Monitor::cmd_info_registers() {
  const CpuState& c = cpu_;
  static const char* const kNames[16] = {"RAX", "RBX", "RCX", "RDX", "RSI", "RDI", "RBP", "RSP",
                                         "R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15"};
  static const Gpr kOrder[16] = {RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP,
                                 R8,  R9,  R10, R11, R12, R13, R14, R15};
  std::string out;
  for (unsigned i = 0; i < 16; ++i) {
    out += strfmt("%-3s=%016llx", kNames[i], static_cast<unsigned long long>(c.gpr[kOrder[i]]));
    out += (i % 4 == 3) ? "\n" : " ";
  }
  const uint64_t rflags = read_rflags(c);
  out += strfmt("RIP=%016llx RFLAGS=%016llx %s IOPL=%u\n", static_cast<unsigned long long>(c.rip),
                static_cast<unsigned long long>(rflags), bit_names(rflags, kRflagsBits).c_str(),
                static_cast<unsigned>((rflags & rf::IOPL) >> 12));
  out += strfmt("CPL=%u %s, paging %s%s\n", c.cpl, cpu_mode_name(c).c_str(),
                paging_mode_name(paging_mode(c)), c.halted ? ", halted" : "");
  const bool long_mode = c.efer & efer::LMA;
  static const char* const kSegNames[kNumSegRegs] = {"ES", "CS", "SS", "DS", "FS", "GS"};
  for (unsigned i = 0; i < kNumSegRegs; ++i) out += segment_line(kSegNames[i], c.seg[i], long_mode);
  out += segment_line("LDTR", c.ldtr, long_mode);
  out += segment_line("TR", c.tr, long_mode);
  out += strfmt("GDTR=     base=%016llx limit=%08x\n", static_cast<unsigned long long>(c.gdtr.base),
                c.gdtr.limit);
  out += strfmt("IDTR=     base=%016llx limit=%08x\n", static_cast<unsigned long long>(c.idtr.base),
                c.idtr.limit);
  out += strfmt("CR0=%016llx %s\n", static_cast<unsigned long long>(c.cr0),
                bit_names(c.cr0, kCr0Bits).c_str());
  out += strfmt("CR2=%016llx CR3=%016llx CR8=%016llx\n", static_cast<unsigned long long>(c.cr2),
                static_cast<unsigned long long>(c.cr3), static_cast<unsigned long long>(c.cr8));
  out += strfmt("CR4=%016llx %s\n", static_cast<unsigned long long>(c.cr4),
                bit_names(c.cr4, kCr4Bits).c_str());
  out += strfmt("EFER=%016llx %s\n", static_cast<unsigned long long>(c.efer),
                bit_names(c.efer, kEferBits).c_str());
  return out;
}

}  // namespace umbra
