// Registration entry points of the data-movement semantics, split by file (datamov*.cpp).
#pragma once

#include "frontend/semantics/registry.h"

namespace umbra {

// XCHG, XADD, CMPXCHG, CMPXCHG8B/16B (datamov_exchange.cpp).
void register_datamov_exchange(BinderTable& t);
// SETcc, CMOVcc (datamov_cond.cpp).
void register_datamov_cond(BinderTable& t);

}  // namespace umbra
