// Capstone-backed disassembly for humans (--disas, the monitor's x/i, trace logs) and as the
// independent oracle of the decoder tests. Never used to execute anything.
#pragma once

#include <cstdint>
#include <string>

namespace umbra {

struct Disassembly {
  unsigned length;       // 0 when Capstone rejects the bytes
  std::string mnemonic;  // e.g. "add"
  std::string operands;  // e.g. "rax, qword ptr [rbx + 8]"
};

// bits: 16, 32 or 64.
Disassembly disassemble_one(const uint8_t* bytes, unsigned avail, uint64_t address, int bits);

}  // namespace umbra
