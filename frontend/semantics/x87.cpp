#include "frontend/semantics/registry.h"

namespace umbra {

void register_x87(BinderTable&) {}

}  // namespace umbra
