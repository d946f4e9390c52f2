// What the host lets user code see of its system state, measured at start-up by running small
// probe sequences in the native child (docs/difftest.md, "The host profile").
//
// The system forms compare Umbra's Flat64Machine with the host, so Umbra must be given the same
// system state the host process runs under: the GDT entries user code can observe (LAR, LSL,
// segment loads), which IDT gates user code may use (INT n), and the control-register bits whose
// effects user code can see (CR0.AM, CR4.UMIP/FSGSBASE/TSD, EFER.SCE/NXE). None of that can be
// read at CPL 3 directly; every item here is derived from what an instruction did.
#pragma once

#include <cstdint>
#include <string>

#include "layout.h"

namespace difftest {

class NativeRunner;

// What user code learns about descriptor-table entry i (GDT: selector i*8 + 3, LDT: i*8 + 7).
struct GdtProbe {
  bool lar_ok = false;  // LAR set ZF: the descriptor is visible at CPL 3
  uint32_t rights = 0;  // LAR r64 result: descriptor bits 63:32 masked with 0x00FFFF00
  bool lsl_ok = false;
  uint32_t limit = 0;       // LSL result (byte-granular)
  bool loads = false;       // MOV FS, sel (MOV ES without FSGSBASE) succeeded
  uint64_t base = 0;        // ... and RDFSBASE read this base afterwards (when fsgsbase)
  uint8_t load_vector = 0;  // otherwise the exception it raised
  uint32_t load_error = 0;
};

// How INT n ended for vector n.
enum class IntOutcome : uint8_t {
  kNotProbed,  // never executed (0x80, a system call gate on Linux)
  kGateDpl0,   // #GP(n*8+2): the gate's DPL is below 3
  kDelivered,  // the kernel reported vector n with RIP after the instruction: a DPL-3 gate
  kOther,      // anything else: the vector is not generated
};

struct HostProfile {
  bool ok = false;
  std::string error;  // why probing failed

  bool fsgsbase = false;  // RDFSBASE works at CPL 3 (CR4.FSGSBASE) and the harness uses it
  GdtProbe gdt[16];
  GdtProbe ldt[16];  // selectors i*8 + 7 (all invisible when the process has no LDT)
  bool has_ldt() const {
    for (const GdtProbe& p : ldt)
      if (p.lar_ok) return true;
    return false;
  }
  bool null_load_clears_base = true;  // MOV FS, 0 clears the FS base (Intel; AMD Zen 3 on)
  IntOutcome int_outcome[256] = {};
  bool icebp_trap = false;         // F1 is reported as vector 1
  bool icebp_rip_at_insn = false;  // ... with RIP at the F1 instead of after it (see below)
  bool umip_table_gp = false;      // SMSW, SGDT, SIDT raise #GP(0) (UMIP, no kernel emulation)
  bool umip_selector_gp = false;   // SLDT, STR raise #GP(0)
  bool umip_emulated = false;      // some of them complete: Linux's UMIP emulation answered
  bool rdpmc_gp = false;           // RDPMC raises #GP(0) (CR4.PCE clear)
  bool rdtsc_gp = false;           // RDTSC raises #GP(0) (CR4.TSD set: seccomp strict mode)
  bool sysret_gp = false;          // SYSRET is #GP(0), not #UD: EFER.SCE is set
  bool alignment_check = false;    // POPF AC=1 then a misaligned load: #AC (CR0.AM set)
  bool nx = false;                 // a fetch from a data page reports I/D in the #PF error code

  // Bits of feat:: (forms.h) that this profile enables.
  uint32_t feature_bits() const;
  // A few lines for the run's header.
  std::string describe() const;
  // Corrects a native outcome for a known host quirk, so that it states what the hardware
  // architecturally did: with `icebp_rip_at_insn`, an ICEBP (INT1) trap reported at the F1
  // itself is moved past it (a trap's RIP is that of the next instruction, SDM vol. 3, 6.5;
  // this VM host's hypervisor reports the instruction's own address).
  void normalize(const CaseInput& in, CaseOutput* out) const;
};

// Runs the probes in the runner's child. On failure returns a profile with ok = false.
HostProfile probe_host(NativeRunner& runner);

}  // namespace difftest
