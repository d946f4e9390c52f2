// Registration entry points of the stack semantics, split by file (stack*.cpp).
#pragma once

#include "frontend/semantics/registry.h"

namespace umbra {

// PUSHF, POPF (stack_flags.cpp).
void register_stack_flags(BinderTable& t);

}  // namespace umbra
