// The semantics library of tier 1: the bitcode of frontend/semantics/*.cpp embedded in the
// binary (jit/tier1/bitcode.cmake), one lazily loaded LLVM module per source file, and the
// extraction of a handler (with everything it calls that has a body there) into a module of a
// block being compiled (docs/jit.md, "The semantics library").
#pragma once

#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace umbra::tier1 {

class NativeSymbols;

class SemanticsLibrary {
 public:
  // Loads the embedded bitcode's module headers into `ctx` (bodies stay unread until a handler
  // needs them). Check ok() afterwards.
  SemanticsLibrary(llvm::LLVMContext& ctx, const NativeSymbols& natives);
  ~SemanticsLibrary();

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  size_t modules() const { return tus_.size(); }

  // What the block module needs to call the native handler at `address` with its body inlinable.
  struct HandlerRef {
    unsigned tu = ~0u;  // library module holding the body
    const llvm::Function* fn = nullptr;
  };
  // Finds the bitcode definition of the native handler at `address`; false when there is none
  // (the block then calls the native handler, which is always correct, only not inlined).
  bool find_handler(uint64_t address, HandlerRef* out);

  // Clones the handlers (all from library module `tu`) and every definition they reach into a
  // new module in the library's context. In it, handler i is the external function named
  // handler_names[i]; every other definition that also exists natively is available_externally
  // under a unique name listed in `native_names` (name -> run-time address), so that only what
  // inlining did not absorb becomes a call into the executable; mutable variables are always
  // the executable's (declarations resolved through `native_names`).
  std::unique_ptr<llvm::Module> extract(unsigned tu,
                                        const std::vector<const llvm::Function*>& handlers,
                                        const std::vector<std::string>& handler_names,
                                        std::unordered_map<std::string, uint64_t>* native_names);

  const std::string& data_layout() const { return data_layout_; }
  const std::string& triple() const { return triple_; }

 private:
  struct Tu {
    std::string file;
    std::unique_ptr<llvm::Module> module;  // lazily materialized
  };
  // The definitions `root` reaches in its module (itself included), materialized; empty with
  // *unusable set when one of them needs a mutable variable the executable does not have.
  const std::vector<const llvm::GlobalValue*>& closure(unsigned tu, const llvm::Function* root,
                                                       bool* unusable);
  uint64_t native_address(unsigned tu, const llvm::GlobalValue& g) const;

  llvm::LLVMContext& ctx_;
  const NativeSymbols& natives_;
  std::string error_;
  std::string data_layout_, triple_;
  std::vector<Tu> tus_;
  std::unordered_map<std::string, unsigned> tu_by_file_;
  std::unordered_map<std::string, unsigned> tu_by_global_;  // a non-local definition's module
  std::unordered_map<uint64_t, HandlerRef> handlers_;       // native address -> bitcode
  struct Closure {
    std::vector<const llvm::GlobalValue*> values;
    bool unusable = false;
  };
  std::unordered_map<const llvm::Function*, Closure> closures_;
};

}  // namespace umbra::tier1
