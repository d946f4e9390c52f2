// Command-line parsing. Options follow qemu-system-x86_64 where the meaning is the same
// (DESIGN.md section 5); options of Umbra's own start with two dashes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace umbra {

struct DebugExitConfig {
  uint16_t iobase = 0xf4;
  uint16_t iosize = 4;
};

struct Options {
  uint64_t ram_bytes = 128ull << 20;
  std::string flat_image;          // --flat FILE: bare-metal 64-bit flat binary
  std::string kernel;              // -kernel FILE (multiboot v1 ELF for now)
  std::string initrd;              // -initrd "file [args][,file [args]...]"
  std::string append;              // -append "command line"
  bool no_reboot = false;          // -no-reboot
  std::string serial = "stdio";    // -serial stdio|none
  std::string cpu_model;           // -cpu NAME (empty: the default model)
  uint64_t load_addr = 0x100000;   // --load-addr
  std::optional<uint64_t> entry;   // --entry (default: load address)
  std::optional<DebugExitConfig> debug_exit;
  std::string accel;  // empty: default_accel_mode() (UMBRA_ACCEL, else jit)
  std::optional<unsigned> icount_shift;  // -icount shift=N: deterministic instruction clock
  std::string monitor = "none";          // -monitor stdio|none
  bool nographic = false;                // -nographic: serial and monitor share stdio
  uint64_t max_insns = ~uint64_t{0};
  bool disas = false;
  bool stats = false;
  bool help = false;
  bool version = false;
};

// Parses argv. On bad input returns nullopt and sets *error to one line saying what is wrong.
std::optional<Options> parse_command_line(const std::vector<std::string>& args,
                                          std::string* error);

// Parses a memory size like QEMU's -m: a number with an optional K/M/G/T suffix (no suffix
// means MiB). Returns nullopt when malformed, zero, or absurdly large.
std::optional<uint64_t> parse_memory_size(const std::string& s);

const char* usage_text();

}  // namespace umbra
