#include "ui/monitor_args.h"

#include <cctype>
#include <string>

#include "frontend/flags.h"

namespace umbra {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr const char* kGprNames[16] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                       "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};
constexpr const char* kGpr32Names[16] = {"eax",  "ecx",  "edx",  "ebx", "esp",  "ebp",
                                         "esi",  "edi",  "r8d",  "r9d", "r10d", "r11d",
                                         "r12d", "r13d", "r14d", "r15d"};
constexpr const char* kSegNames[kNumSegRegs] = {"es", "cs", "ss", "ds", "fs", "gs"};

// Parses an unsigned number: 0x-prefixed hex or decimal. nullopt on any bad digit or overflow.
std::optional<uint64_t> parse_number(std::string_view s) {
  unsigned base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9')
      d = static_cast<unsigned>(c - '0');
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = static_cast<unsigned>(c - 'a' + 10);
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = static_cast<unsigned>(c - 'A' + 10);
    else
      return std::nullopt;
    if (v > (~uint64_t{0} - d) / base) return std::nullopt;
    v = v * base + d;
  }
  return v;
}

}  // namespace

std::optional<uint64_t> monitor_register_value(const CpuState& cpu, std::string_view name) {
  const std::string n = lower(name);
  for (unsigned i = 0; i < 16; ++i) {
    if (n == kGprNames[i]) return cpu.gpr[i];
    if (n == kGpr32Names[i]) return cpu.gpr[i] & 0xffffffffu;
  }
  for (unsigned i = 0; i < kNumSegRegs; ++i)
    if (n == kSegNames[i]) return cpu.seg[i].selector;
  if (n == "rip" || n == "pc") return cpu.rip;
  if (n == "eip") return cpu.rip & 0xffffffffu;
  if (n == "rflags" || n == "eflags") return read_rflags(cpu);
  if (n == "cr0") return cpu.cr0;
  if (n == "cr2") return cpu.cr2;
  if (n == "cr3") return cpu.cr3;
  if (n == "cr4") return cpu.cr4;
  if (n == "cr8") return cpu.cr8;
  if (n == "efer") return cpu.efer;
  if (n == "fs_base") return cpu.seg[FS].base;
  if (n == "gs_base") return cpu.seg[GS].base;
  if (n == "gdt") return cpu.gdtr.base;
  if (n == "idt") return cpu.idtr.base;
  return std::nullopt;
}

ExamineFormat parse_examine_format(std::string_view text) {
  const std::string shown(text);
  auto bad = [&]() { return MonitorError("bad format '" + shown + "'; expected /Nfu"); };
  if (text.empty() || text[0] != '/') throw bad();
  text.remove_prefix(1);
  ExamineFormat f;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  bool unit_given = false, format_given = false;
  if (digits > 0) {
    std::optional<uint64_t> n = parse_number(text.substr(0, digits));
    if (!n || *n == 0 || *n > kMaxExamineCount)
      throw MonitorError("bad count in '" + shown + "': 1 to " + std::to_string(kMaxExamineCount));
    f.count = *n;
  }
  for (char c : text.substr(digits)) {
    switch (c) {
      case 'x':
      case 'd':
      case 'u':
      case 'c':
      case 'i':
        if (format_given) throw bad();
        f.format = c;
        format_given = true;
        break;
      case 'b':
      case 'h':
      case 'w':
      case 'g':
        if (unit_given) throw bad();
        f.unit = c == 'b' ? 1 : c == 'h' ? 2 : c == 'w' ? 4 : 8;
        unit_given = true;
        break;
      default:
        throw bad();
    }
  }
  // Characters are bytes unless the user asked for wider units.
  if (f.format == 'c' && !unit_given) f.unit = 1;
  return f;
}

void Monitor::Args::skip_blanks() {
  while (pos_ < text_.size() && is_blank(text_[pos_])) ++pos_;
}

bool Monitor::Args::at_end() {
  skip_blanks();
  return pos_ >= text_.size();
}

std::string_view Monitor::Args::rest_word() const {
  size_t end = pos_;
  while (end < text_.size() && !is_blank(text_[end])) ++end;
  return text_.substr(pos_, end - pos_);
}

std::optional<std::string_view> Monitor::Args::word() {
  if (at_end()) return std::nullopt;
  std::string_view w = rest_word();
  pos_ += w.size();
  return w;
}

std::optional<std::string_view> Monitor::Args::word_if_starts_with(char c) {
  if (at_end() || text_[pos_] != c) return std::nullopt;
  return word();
}

void Monitor::Args::expect_end() {
  if (!at_end())
    throw MonitorError("too many arguments: '" + std::string(text_.substr(pos_)) + "'");
}

uint64_t Monitor::Args::term() {
  skip_blanks();
  if (pos_ >= text_.size()) throw MonitorError("missing address");
  // A term runs to the next blank or operator.
  size_t end = pos_;
  while (end < text_.size() && !is_blank(text_[end]) && text_[end] != '+' && text_[end] != '-')
    ++end;
  std::string_view t = text_.substr(pos_, end - pos_);
  if (t.empty()) throw MonitorError("bad address '" + std::string(rest_word()) + "'");
  std::optional<uint64_t> v;
  if (t[0] == '$') {
    v = monitor_register_value(cpu_, t.substr(1));
    if (!v) throw MonitorError("unknown register '" + std::string(t) + "'");
  } else {
    v = parse_number(t);
    if (!v) throw MonitorError("bad address '" + std::string(t) + "'");
  }
  pos_ = end;
  return *v;
}

uint64_t Monitor::Args::expression() {
  uint64_t value = term();
  for (;;) {
    size_t save = pos_;
    skip_blanks();
    if (pos_ >= text_.size() || (text_[pos_] != '+' && text_[pos_] != '-')) {
      pos_ = save;
      return value;
    }
    const char op = text_[pos_++];
    const uint64_t rhs = term();
    value = op == '+' ? value + rhs : value - rhs;
  }
}

}  // namespace umbra
