// The status flags' liveness within a block, and which instructions can leave a block early
// (docs/jit.md "Dead flags"). Threaded code (jit/threaded) and tier 1 (jit/tier1) both use it:
// threaded code emits no flags for a producer whose flags are dead, tier 1 marks the producer
// attr::kFlagsDead so that its handler skips them.
#pragma once

#include <cstdint>
#include <vector>

#include "frontend/insn.h"

namespace umbra {

// Whether an instruction's handler can set exit_request itself. Only guest memory accesses (a
// write into code, docs/engine.md; a device's registers), port I/O, HLT and system instructions
// do. A register-only data movement, arithmetic, logic, shift or bit instruction cannot: after
// one the exit test is left out, and a request another thread made meanwhile is seen after the
// next instruction instead. A fault it raises leaves through the fault path, not this test.
bool cannot_request_exit(const Insn& insn);

// How an instruction uses the status flags, for the liveness of the flags within a block.
enum class FlagUse : uint8_t {
  kNone,       // neither reads nor writes them
  kWritesAll,  // writes all six without reading any
  kPasses,     // writes some or none, keeps the others (INC/DEC, rotates, a count that may be 0)
  kReads,      // reads them (or is not known not to)
};

// The instruction's use of the status flags (conservative: kReads where not known).
FlagUse flag_use(const Insn& insn);

// For each instruction of a block, whether the flags it leaves are dead: overwritten by a later
// instruction of the block before anything reads them, and unobservable meanwhile. Where an
// instruction can fault or request an exit, the state around it is observable (an exception
// handler or interrupt sees RFLAGS; a fault restarts nothing before it), so the flags before
// and after it are live; so they are at the block's end (the successor may read them).
std::vector<bool> dead_flags(const std::vector<Insn>& insns);

}  // namespace umbra
