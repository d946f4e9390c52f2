// What the CPU core asks of the board it sits on. The core implements the architectural MSRs
// itself (frontend/system/msr.cpp); the local APIC lives on the platform side (devices/), so the
// few places where the core and the APIC meet go through this interface: APIC MSRs, the APIC
// base, and CR8 (the task-priority register's architectural alias, SDM vol. 3, 10.8.6.1).
// CpuState::platform is null on machines without one (the flat test machine, the difftest).
#pragma once

#include <cstdint>

namespace umbra {

struct CpuState;

class CpuPlatform {
 public:
  virtual ~CpuPlatform() = default;
  // RDMSR/WRMSR of an index the core does not implement (IA32_TSC_DEADLINE, the x2APIC range):
  // true if the platform implements it (value filled in / write accepted), false -> #GP(0).
  virtual bool read_msr(CpuState& cpu, uint32_t index, uint64_t* value) = 0;
  virtual bool write_msr(CpuState& cpu, uint32_t index, uint64_t value) = 0;
  // IA32_APIC_BASE was written (after the core validated it): the APIC moves, or is enabled or
  // disabled.
  virtual void apic_base_changed(CpuState& cpu) = 0;
  // MOV to CR8 wrote cpu.cr8: the APIC's TPR follows, and an interrupt may become deliverable.
  virtual void tpr_changed(CpuState& cpu) = 0;
};

}  // namespace umbra
