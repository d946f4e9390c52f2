// The system state Umbra's Flat64Machine runs the cases under: a GDT, IDT and TSS in guest
// memory and control-register values that mirror what the host process runs under, as far as
// user code can tell (host_profile.h, docs/difftest.md "Umbra's system state").
#pragma once

#include <cstdint>
#include <string>

#include "host_profile.h"

namespace umbra {
class Flat64Machine;
struct CpuState;
}  // namespace umbra

namespace difftest {

// Umbra's system structures live at a linear address nothing the generator produces comes near
// (the native side has nothing mapped there); the DifftestTranslator maps these pages for every
// access, as the host kernel's tables are mapped for the supervisor accesses that read them.
constexpr uint64_t kSysLinear = 0x700000000000ull;
constexpr uint64_t kSysPhys = 0x600000;  // in the machine's RAM
constexpr uint64_t kSysSize = 0x5000;
constexpr uint64_t kGdtOffset = 0x0000;       // 16 descriptors, limit 0x7f
constexpr uint64_t kLdtOffset = 0x0800;       // 16 descriptors, limit 0x7f (with --ldt)
constexpr uint64_t kIdtOffset = 0x1000;       // 256 16-byte gates, limit 0xfff
constexpr uint64_t kTssOffset = 0x2000;       // 64-bit TSS, limit 0x67
constexpr uint64_t kHandlerOffset = 0x3000;   // handler for vector v at +v: a HLT (CPL 0)
constexpr uint64_t kStackTopOffset = 0x5000;  // RSP0: the page below is the kernel stack

struct SystemImage {
  uint64_t gdt[16] = {};
  uint64_t ldt[16] = {};
  bool has_ldt = false;  // LDTR names the LDT (GDT entry 10, selector 0x50, as Linux does)
  uint8_t idt_dpl[256] = {};
  uint64_t cr0 = 0, cr4 = 0, efer = 0;
  // Where each part came from, for the run's header.
  std::string describe() const;
};

// Derives the mirror from the host profile (every rule is documented in the .cpp).
SystemImage system_image_from(const HostProfile& hp);

// Writes the GDT, IDT, TSS and the handler page into the machine's RAM (once per machine; the
// GDT is rewritten per case by enter_case_state since a segment load may set accessed bits).
void install_system_tables(umbra::Flat64Machine& m, const SystemImage& img);

// Per case, after reset64: GDTR, IDTR, TR, LDTR, CR0, CR4, EFER and the segment registers as
// the host process has them (selectors sel[SegIndex], FS/GS bases given).
void enter_case_state(umbra::Flat64Machine& m, const SystemImage& img, const uint16_t sel[6],
                      uint64_t fs_base, uint64_t gs_base);

// An event delivered through the mirror IDT ends at the handler's HLT at CPL 0. Reads the frame
// the delivery pushed and describes the event as the host kernel reports it to the process:
// vector, and the interrupted RIP, RSP, RFLAGS, CS and SS. False if the machine is not there.
struct DeliveredEvent {
  uint8_t vector;
  uint32_t error_code;  // 0 when the vector pushes none
  uint64_t rip, rsp, rflags;
  uint16_t cs, ss;
};
bool delivered_event(umbra::Flat64Machine& m, DeliveredEvent* ev);

}  // namespace difftest
