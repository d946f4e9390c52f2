#include "frontend/cpu_state.h"

namespace umbra {

void raise_fault(CpuState& cpu, uint8_t vector, uint32_t error_code, uint64_t fault_addr) {
  cpu.pending_fault_vector = vector;
  cpu.pending_fault_error = error_code;
  cpu.pending_fault_has_error = error_code != kNoErrorCode;
  cpu.pending_fault_addr = fault_addr;
  // Unwind to the engine's run loop. No destructors run between here and there: semantic
  // handlers hold no resources, only plain values.
  std::longjmp(*cpu.fault_jmp, 1);
}

}  // namespace umbra
