// TEMPORARY (lead): weak stand-ins so the tree links while frontend/system/interrupts.cpp is
// being written; the real definitions override these. Deleted when that file lands.
#include <cstdio>
#include <cstdlib>

#include "frontend/system/interrupts.h"

namespace umbra {

__attribute__((weak)) void deliver_event(CpuState&, const Event& ev) {
  std::fprintf(stderr, "umbra: event delivery not linked (vector %u)\n", ev.vector);
  std::abort();
}

__attribute__((weak)) NestedOutcome combine_nested_fault(uint8_t, EventKind, uint8_t) {
  return NestedOutcome::DeliverSecond;
}

}  // namespace umbra
