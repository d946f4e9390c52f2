// The running executable's own symbol table (ELF .symtab of /proc/self/exe), for tier 1.
//
// Tier 0 binds each decoded instruction to a native handler (a function pointer). Tier 1 needs
// the bitcode definition of that same handler to inline it, and run-time addresses for every
// function and variable its JIT code keeps calling or using natively (slow paths, counters).
// Both come from the executable's static symbol table: address -> (name, source file), and
// name -> address. ELF lists local symbols after an STT_FILE entry naming their source file,
// which is how a handler in an anonymous namespace is told apart from a namesake in another
// file (docs/jit.md, "Finding a handler's bitcode").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace umbra::tier1 {

class NativeSymbols {
 public:
  struct Symbol {
    std::string name;
    std::string file;  // source file (basename) of a local symbol; empty for a global one
    uint64_t address;  // run-time address
  };

  // Parsed once, on first use (thread-safe).
  static const NativeSymbols& get();

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // The function symbol starting exactly at `address`, or null.
  const Symbol* function_at(uint64_t address) const;
  // The address of a global (or weak) symbol, or 0.
  uint64_t global(std::string_view name) const;
  // The address of a local symbol of the source file `file`, or 0 (also 0 when the file has
  // two local symbols of that name).
  uint64_t local(std::string_view file, std::string_view name) const;

  size_t size() const { return symbols_.size(); }

 private:
  NativeSymbols();
  std::string error_;
  std::vector<Symbol> symbols_;
  std::unordered_map<uint64_t, size_t> functions_by_address_;
  std::unordered_map<std::string, uint64_t> globals_;
  std::unordered_map<std::string, uint64_t> locals_;  // key: file + '\0' + name; 0 = ambiguous
};

}  // namespace umbra::tier1
