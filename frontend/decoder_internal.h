// Decoder internals exposed for tests and diagnostics: why an encoding decoded as Invalid.
#pragma once

#include <cstdint>

#include "frontend/decoder.h"

namespace umbra {

enum class InvalidReason : uint8_t {
  None,
  Undefined,     // no instruction at this opcode / prefix column / ModRM in the tables
  Unsupported,   // a real instruction outside Umbra's CPU model (VMX, SVM, SGX, TSX, CET, ...)
  NotIn64,       // invalid in 64-bit mode (06, 27, 60, 9A, D4, ...)
  OnlyIn64,      // valid only in 64-bit mode (SWAPGS, RDFSBASE, ...)
  Lock,          // LOCK on a non-lockable instruction or a register destination
  RegisterForm,  // ModRM.mod = 11 where only memory is allowed (LEA, CMPXCHG8B, LDS, ...)
  MemoryForm,    // ModRM.mod != 11 where only a register is allowed
  BadRegister,   // nonexistent segment/control/debug register, MOV to CS
  VexPrefix,     // 66/F2/F3/F0/REX before a VEX/EVEX/XOP prefix
  VexMap,        // reserved VEX.mmmmm / EVEX.mmm map, or EVEX reserved bits
  VexField,      // VEX.L or VEX.vvvv not as the instruction requires (L0/L1/NV)
  Evex,          // EVEX (AVX-512): decoded for length, not supported
  Xop,           // AMD XOP: decoded for length, not supported
  TooLong,       // more than 15 bytes
  kCount
};

const char* invalid_reason_name(InvalidReason r);

// What decode_ex() reports beyond the Insn.
struct DecodeDetail {
  InvalidReason why;  // None unless the status is Invalid / TooLong
  Op op;              // the operation the encoding names, also when it is invalid (else INVALID)
  bool full_length;   // Insn::len is the complete length of the encoding (false when decoding
                      // stopped early: undefined opcode, reserved VEX map, input ran out)
};

// decode() that also reports why an encoding is invalid. For most invalid encodings the length
// is still decoded in full, which lets the tests compare it against another decoder.
DecodeStatus decode_ex(const uint8_t* bytes, unsigned avail, DecodeMode mode, Insn* out,
                       DecodeDetail* detail);

}  // namespace umbra
