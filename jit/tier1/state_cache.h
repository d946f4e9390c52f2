// Keeps the guest state that nearly every instruction touches in SSA values inside tier-1 code
// (docs/jit.md "Guest state in SSA values").
//
// After inlining, the handlers read and write guest registers, RIP, RFLAGS and the lazy-flags
// record as fields of the CpuState. Any call that is not inlined (a TLB-miss slow path, a big
// handler, a device access) may read or write any of those fields, so LLVM has to keep every
// store in program order before each such call, even when the call is on a cold path; and across
// a loop it can keep nothing in registers. This pass gives each function a private copy of
// those fields (a stack object that SROA turns into SSA values): the function loads the copy
// from the CpuState at entry, writes it back before every call and every return, and reloads it
// after every call. All accesses with a known offset then use the copy. A write-back of a field
// the code did not change stores the value just loaded and is deleted by the scalar cleanup, so
// what remains is exactly the stores a block owes the CpuState on each path: at its exits and on
// the cold paths that call out.
#pragma once

namespace llvm {
class Argument;
class Function;
class MDNode;
}  // namespace llvm

namespace umbra::tier1 {

struct StateCacheStats {
  unsigned rewritten = 0;  // loads and stores moved to the private copy
  unsigned barriers = 0;   // calls and unknown accesses around which the copy is written back
};

// Rewrites `fn` (whose CpuState pointer is `cpu`). Run it after inlining and a first constant
// folding round (operand fields of the decoded instructions must have folded into constant
// offsets), before SROA. The write-backs and reloads it adds get `scope`/`noalias` metadata (the
// CpuState's alias scope; null for none). `control_only` caches only the fields of control:
// RIP, the instruction count, the fast TLB's table and mask, the running block and the stop
// word; the general registers and the flags stay in memory (quick code: docs/jit.md "Two
// levels").
StateCacheStats cache_cpu_state(llvm::Function& fn, llvm::Argument* cpu, llvm::MDNode* scope,
                                llvm::MDNode* noalias, bool control_only = false);

// Metadata kind of a store of 0 to exit_request that states what the function knows (the check
// before it passed) and must reach the private copy only, never the CpuState: the pass moves it
// to the copy, or deletes it where exit_request's word is not cached.
inline constexpr const char* kCopyOnlyMetadata = "umbra.copy_only";

}  // namespace umbra::tier1
