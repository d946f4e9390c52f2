// The chain exit: how compiled code that ran a block to its end goes on to the compiled code of
// the guest's next block without returning to the dispatcher (docs/jit.md "Chaining").
//
// The checks (a clean block boundary; a chain slot of the block that matches the new RIP, on
// the same linear page or confirmed by the fast TLB) are the same for every block, so they live
// in two functions compiled once, one for 64-bit mode and one for the legacy modes (where the
// linear address adds CS.base). A block hands them the RIP of its last instruction and its slots
// through the CpuState (tier1_last_rip, tier1_chain) and tail-calls them. Compiled inline in
// every block they were a fifth of a quick block's IR, and in a region, where the guest state
// lives in SSA values, each of their tail calls needed its own write-back of that state.
#pragma once

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Module.h>

#include <memory>
#include <string>

namespace umbra::tier1 {

inline constexpr const char* kChainExit64 = "umbra_chain_exit64";
inline constexpr const char* kChainExitLegacy = "umbra_chain_exit_legacy";

// Whether the dispatcher would have nothing to do at this block boundary: instruction budget
// left, the stop word clear (exit request, interrupt shadow, NMI, IRQ line, new code to install,
// HLT), no single-stepping (TF) or resume flag (RF). Reads the CpuState. Compiled code is
// entered with TF and RF clear (the dispatcher single-steps otherwise), so `check_trap_flags`
// may be false after code none of whose instructions can set them (trap_flags_unchanged).
llvm::Value* emit_clean_boundary(llvm::IRBuilder<>& b, llvm::Value* cpu,
                                 bool check_trap_flags = true);

// Whether linear address `lin` is on the page of `lin_last`. Written as a difference (not
// lin ^ lin_last) so that LLVM folds it where both are the same entry address plus constants
// and the entry's page offset is known.
llvm::Value* emit_same_page(llvm::IRBuilder<>& b, llvm::Value* lin, llvm::Value* lin_last);

// Jumps (tail calls) through the ChainSlot[2] at `slots` when one links the new RIP `rip`
// (and `cs_base`, null in 64-bit mode): a successor on this page when `same_page`, one on
// another page when the fast TLB's exec entry for `rip` leads to the host address it was linked
// with. Leaves the builder in the block reached when no slot matches.
void emit_chain_slots(llvm::IRBuilder<>& b, llvm::Value* cpu, llvm::Value* slots, llvm::Value* rip,
                      llvm::Value* cs_base, llvm::Value* same_page);

// A module defining both chain exits, `void exit(CpuState*)`, for the given target.
std::unique_ptr<llvm::Module> build_chain_exits(llvm::LLVMContext& ctx, const std::string& layout,
                                                const std::string& triple,
                                                const std::string& cpu_name,
                                                const std::string& cpu_features);

}  // namespace umbra::tier1
