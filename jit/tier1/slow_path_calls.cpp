#include "jit/tier1/slow_path_calls.h"

#include <llvm/IR/CallingConv.h>
#include <llvm/IR/InstrTypes.h>
#include <llvm/IR/Module.h>

// The slow paths with a thunk each: its name's stem, the mangled name the semantics bitcode
// declares (a signature change in softmmu/access.h or segmentation_checks.h changes it; the
// declaration then matches none, and its calls keep the C convention, still correct), and
// whether it returns a value in RAX.
#define UMBRA_SLOW_PATHS(X)                                                  \
  X(read_slow, "_ZN5umbra9read_slowERNS_8CpuStateEmj", 1)                    \
  X(write_slow, "_ZN5umbra10write_slowERNS_8CpuStateEmjm", 0)                \
  X(prepare_write_slow, "_ZN5umbra18prepare_write_slowERNS_8CpuStateEmj", 1) \
  X(read_slow_seg, "_ZN5umbra13read_slow_segERNS_8CpuStateEmjj", 1)          \
  X(write_slow_seg, "_ZN5umbra14write_slow_segERNS_8CpuStateEmjmj", 0)       \
  X(prepare_write_slow_seg, "_ZN5umbra22prepare_write_slow_segERNS_8CpuStateEmjj", 1)

#define UMBRA_THUNK_ASM(stem, mangled, returns) \
  "  UMBRA_PRESERVE_MOST_THUNK umbra_pm_" #stem ", " mangled ", " #returns "\n"

// LLVM's preserve_most on x86-64 (LLVM Language Reference, "Calling Conventions"; the callee
// saves CSR_64_RT_MostRegs of X86CallingConv.td): the callee keeps RBX, RBP, R12-R15 as in the
// System V ABI and also RAX (unless it returns a value in it), RCX, RDX, RSI, RDI, R8, R9 and
// R10; R11 is its scratch register; arguments and stack alignment as in the C convention. The
// slow paths themselves are ordinary C++ functions, so each thunk saves what the C convention
// lets them clobber and calls them. On entry RSP + 8 is 16-byte aligned (System V ABI 3.2.2):
// seven pushes align it for the call, eight need 8 bytes more. A guest fault leaves the slow
// path by longjmp, past the thunk, as it leaves the block.
asm(R"(
  .macro UMBRA_SAVE reg
  push \reg
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset \reg, 0
  .endm
  .macro UMBRA_RESTORE reg
  pop \reg
  .cfi_adjust_cfa_offset -8
  .endm
  .macro UMBRA_PRESERVE_MOST_THUNK thunk, target, returns
  .pushsection .text
  .globl \thunk
  .type \thunk, @function
  .p2align 4
\thunk:
  .cfi_startproc
  .if \returns == 0
  UMBRA_SAVE %rax
  .endif
  UMBRA_SAVE %rcx
  UMBRA_SAVE %rdx
  UMBRA_SAVE %rsi
  UMBRA_SAVE %rdi
  UMBRA_SAVE %r8
  UMBRA_SAVE %r9
  UMBRA_SAVE %r10
  .if \returns == 0
  sub $8, %rsp
  .cfi_adjust_cfa_offset 8
  .endif
  call \target
  .if \returns == 0
  add $8, %rsp
  .cfi_adjust_cfa_offset -8
  .endif
  UMBRA_RESTORE %r10
  UMBRA_RESTORE %r9
  UMBRA_RESTORE %r8
  UMBRA_RESTORE %rdi
  UMBRA_RESTORE %rsi
  UMBRA_RESTORE %rdx
  UMBRA_RESTORE %rcx
  .if \returns == 0
  UMBRA_RESTORE %rax
  .endif
  ret
  .cfi_endproc
  .size \thunk, .-\thunk
  .popsection
  .endm

)" UMBRA_SLOW_PATHS(UMBRA_THUNK_ASM));

#define UMBRA_THUNK_DECLARATION(stem, mangled, returns) void umbra_pm_##stem();
extern "C" {
UMBRA_SLOW_PATHS(UMBRA_THUNK_DECLARATION)
}

namespace umbra::tier1 {
namespace {

struct SlowPath {
  const char* name;  // as the semantics bitcode declares it
  void (*thunk)();
};

#define UMBRA_SLOW_PATH_ENTRY(stem, mangled, returns) {mangled, umbra_pm_##stem},
constexpr SlowPath kSlowPaths[] = {UMBRA_SLOW_PATHS(UMBRA_SLOW_PATH_ENTRY)};

}  // namespace

void add_slow_path_thunks(std::unordered_map<std::string, uint64_t>& names) {
  // Every call from JIT code goes to the thunk, whatever its convention: the thunk keeps all
  // the C convention keeps, so a call left in the C convention is served as well.
  for (const SlowPath& s : kSlowPaths) names[s.name] = reinterpret_cast<uint64_t>(s.thunk);
}

bool is_guest_memory_slow_path(llvm::StringRef name) {
  for (const SlowPath& s : kSlowPaths)
    if (name == s.name) return true;
  return false;
}

void use_preserve_most_for_slow_paths(llvm::Module& m) {
  for (const SlowPath& s : kSlowPaths) {
    llvm::Function* f = m.getFunction(s.name);
    if (!f || !f->isDeclaration()) continue;
    f->setCallingConv(llvm::CallingConv::PreserveMost);
    for (llvm::User* u : f->users())
      if (auto* call = llvm::dyn_cast<llvm::CallBase>(u); call && call->getCalledOperand() == f)
        call->setCallingConv(llvm::CallingConv::PreserveMost);
  }
}

}  // namespace umbra::tier1
