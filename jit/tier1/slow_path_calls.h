#pragma once

#include <llvm/ADT/StringRef.h>

#include <string>
#include <unordered_map>

namespace llvm {
class Module;
}

namespace umbra::tier1 {

// The guest-memory slow paths (softmmu/access.h, frontend/system/segmentation_checks.h) as
// compiled code calls them: through thunks that keep every general register but R11, LLVM's
// preserve_most convention, so a value the block keeps in a caller-saved register survives
// the call without a spill on the fast path (docs/jit.md "Slow paths keep the registers").

// Adds, for each slow path, its mangled name -> its thunk's address.
void add_slow_path_thunks(std::unordered_map<std::string, uint64_t>& names);

// Whether `name` is one of those slow paths (state caching keeps the cached guest state across
// their calls: state_cache.cpp).
bool is_guest_memory_slow_path(llvm::StringRef name);

// Gives every declaration of a slow path in `m`, and every call to one, the preserve_most
// convention.
void use_preserve_most_for_slow_paths(llvm::Module& m);

}  // namespace umbra::tier1
