// Argument parsing for monitor commands: words, numbers and address expressions, the /Nfu format
// of x and xp. Every parse error throws MonitorError with the one line the user will see;
// Monitor::execute() turns it into the command's output.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "frontend/cpu_state.h"
#include "ui/monitor.h"

namespace umbra {

// A user error in a monitor command. what() is the whole message, without a newline.
class MonitorError : public std::runtime_error {
 public:
  explicit MonitorError(const std::string& message) : std::runtime_error(message) {}
};

// The value of a register named in an expression as $name (rax..r15, eax..r15d, rip/pc, rflags,
// cr0/cr2/cr3/cr4/cr8, efer, es..gs selectors, fs_base/gs_base, gdt/idt bases). Case-insensitive.
std::optional<uint64_t> monitor_register_value(const CpuState& cpu, std::string_view name);

// What x and xp print: /Nfu (SDM-free: the conventions of every debugger since gdb).
struct ExamineFormat {
  uint64_t count = 1;  // N: how many units (or instructions, for /i)
  char format = 'x';   // x hex, d signed decimal, u unsigned decimal, c character, i instruction
  unsigned unit = 4;   // bytes per unit: b 1, h 2, w 4, g 8
};

// Parses "/Nfu" (the leading '/' included); N, f and u are each optional, f and u in any order.
// A count of 0 or above kMaxExamineCount is an error.
ExamineFormat parse_examine_format(std::string_view text);
constexpr uint64_t kMaxExamineCount = 4096;

class Monitor::Args {
 public:
  Args(std::string_view text, const CpuState& cpu) : text_(text), cpu_(cpu) {}

  // Nothing but blanks left.
  bool at_end();
  // The next blank-separated word, or nullopt at the end.
  std::optional<std::string_view> word();
  // The next word if it starts with `c` (not consumed otherwise).
  std::optional<std::string_view> word_if_starts_with(char c);
  // An address/number expression: terms (0x hex, decimal, $reg) joined by + and -, with or
  // without blanks around the operators. Wraps modulo 2^64 like address arithmetic does.
  uint64_t expression();
  // Fails with "too many arguments: '<rest>'" unless at the end.
  void expect_end();

 private:
  void skip_blanks();
  uint64_t term();
  std::string_view rest_word() const;  // the text from the cursor to the next blank

  std::string_view text_;
  size_t pos_ = 0;
  const CpuState& cpu_;
};

}  // namespace umbra
