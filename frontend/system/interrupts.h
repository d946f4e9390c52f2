// Exception and interrupt delivery (SDM vol. 3, chapter 6; real mode: vol. 3, 20.1.4).
//
// The engine turns a raised fault into an Event and calls deliver_event(); instruction handlers
// for INT n / INT3 / INTO / INT1 / BOUND call it directly. Delivery itself may fault (a bad IDT
// entry, a not-present stack): the nested fault unwinds to the engine like any other, which
// combines it with the event being delivered (double fault, triple fault) using
// combine_nested_fault().
#pragma once

#include <cstdint>

#include "frontend/cpu_state.h"

namespace umbra {

enum class EventKind : uint8_t {
  Fault,            // exception reported on the faulting instruction (RIP = that instruction)
  Trap,             // exception reported after the instruction (#DB data breakpoint, single step)
  External,         // maskable hardware interrupt (INTR)
  Nmi,
  SoftwareInt,      // INT n: DPL check against CPL, return to the next instruction
  SoftwareException,// INT3, INTO: DPL check, return to the next instruction
  PrivSoftwareException,  // INT1 (ICEBP): no DPL check
};

struct Event {
  uint8_t vector;
  EventKind kind;
  bool has_error;
  uint32_t error_code;
  uint64_t fault_addr;  // #PF: loaded into CR2 when delivered
  uint64_t return_rip;  // RIP pushed in the frame
};

// Delivers `ev` through the IVT (real mode), the IDT (protected, long mode) with gate, privilege,
// stack-switch (TSS, IST) and frame rules, or raises the nested fault. On return the CPU is at
// the handler's first instruction. Sets cpu.delivering while in progress.
void deliver_event(CpuState& cpu, const Event& ev);

// Result of a fault raised while delivering another event (SDM vol. 3, 6.15, table 6-5).
enum class NestedOutcome : uint8_t { DeliverSecond, DoubleFault, TripleFault };
NestedOutcome combine_nested_fault(uint8_t first_vector, EventKind first_kind,
                                   uint8_t second_vector);

// Whether `vector` pushes an error code when delivered as an exception (vol. 3, table 6-1).
bool exception_has_error_code(uint8_t vector);

}  // namespace umbra
