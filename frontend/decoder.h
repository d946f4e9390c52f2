// The x86 instruction decoder: bytes -> Insn, driven by one declarative opcode table
// (docs/decoder.md).
#pragma once

#include <cstdint>

#include "frontend/insn.h"

namespace umbra {

// What decides decoding: CS.L (64-bit code) and CS.D (default 32-bit operands/addresses).
struct DecodeMode {
  bool mode64;
  bool code32;  // ignored when mode64
};

enum class DecodeStatus : uint8_t {
  Ok,        // *out is a valid instruction (possibly one whose op has no implementation)
  NeedMore,  // the instruction continues past `avail` bytes: fetch more and decode again
  Invalid,   // invalid encoding: *out has op INVALID, fn raises #UD, len is the decoded length
             // as far as it could be determined (at least 1)
  TooLong,   // longer than 15 bytes: #GP(0) (SDM vol. 2, 2.3.11); *out.len = 15
};

// Decodes one instruction from `bytes[0..avail)`. Fills every field of *out, including the
// bound semantic handler (out->fn) and block attributes (out->attrs).
DecodeStatus decode(const uint8_t* bytes, unsigned avail, DecodeMode mode, Insn* out);

}  // namespace umbra
