// The address-space layout shared by the native runner and the Umbra runner, and the plain-data
// records that carry a test case to both and bring the outcome back.
//
// Native and emulated runs see exactly the same linear addresses: one code page and a block of
// data pages (which also hold the stack). Everything else is unmapped on both sides, so a stray
// access faults identically instead of touching the harness.
#pragma once

#include <cstdint>

namespace difftest {

constexpr uint64_t kCodeBase = 0x400000;
constexpr uint64_t kCodeSize = 0x1000;  // one page: read + execute, never writable
constexpr uint64_t kDataBase = 0x500000;
constexpr uint64_t kDataSize = 0x8000;  // eight pages: read + write, not executable
constexpr uint64_t kDataEnd = kDataBase + kDataSize;

// Filler of the code page around the test sequence: every byte is a HLT, so execution that
// falls off the sequence or any branch into the sled stops exactly at its target (CPL 3 HLT
// raises #GP(0) on the host and in Umbra alike).
constexpr uint8_t kHltByte = 0xf4;

// Segment registers in the order of the Sreg field of ModRM (SDM vol. 2, 3.1.1.3).
enum SegIndex : uint8_t { kES, kCS, kSS, kDS, kFS, kGS, kNumSegs };

// Register file in ModRM order (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15). The
// trampoline (trampoline.S) addresses gpr, rip, rflags, fs_base and gs_base by offset.
struct RegFile {
  uint64_t gpr[16];
  uint64_t rip;
  uint64_t rflags;
  // FS/GS bases (the FS_BASE/GS_BASE MSRs). In a CaseInput they are the bases both sides start
  // with (natively written with WRFSBASE/WRGSBASE, which needs the kernel to have enabled
  // CR4.FSGSBASE); in a CaseOutput the bases at the end of the run.
  uint64_t fs_base;
  uint64_t gs_base;
  // Selectors at the end of the run (SegIndex order); ignored in a CaseInput: every run starts
  // with the harness process's own selectors.
  uint16_t seg[kNumSegs];
  uint16_t pad[2];
};

// The FPU/SIMD state travels as a 512-byte FXSAVE image in the 64-bit format (SDM vol. 2,
// FXSAVE, table 3-56): FCW, FSW, abridged FTW, FOP, FIP, FDP, MXCSR, ST0-ST7 (MM0-MM7) in
// stack order, XMM0-XMM15. The native side loads it with FXRSTOR64 right before the jump into
// the test and takes the final state from the signal frame; Umbra converts it to and from
// CpuState (docs/difftest.md, "FPU and SIMD state").
constexpr unsigned kFxSize = 512;
namespace fx {
constexpr unsigned kFcw = 0, kFsw = 2, kFtw = 4, kFop = 6, kFip = 8, kFdp = 16, kMxcsr = 24,
                   kMxcsrMask = 28, kSt = 32, kXmm = 160;
}  // namespace fx

struct CaseInput {
  RegFile regs;                     // regs.rip: entry point inside the code page
  alignas(16) uint8_t fx[kFxSize];  // initial FPU/SIMD state (FXRSTOR64 image)
  uint8_t code[kCodeSize];          // the whole code page (sequence + HLT sled)
  uint8_t data[kDataSize];          // initial contents of the data pages
};

// CaseOutput::flags: regs.fs_base and regs.gs_base hold the final bases (the native side can
// read them only when the kernel enabled CR4.FSGSBASE).
constexpr uint32_t kOutBasesValid = 1u << 0;
// The run ended outside 64-bit mode (a far transfer to compatibility mode): the upper 32 bits
// of the general registers are undefined (SDM vol. 1, 3.4.1.1).
constexpr uint32_t kOutNot64 = 1u << 1;

enum class RunStatus : uint32_t {
  kOk = 0,        // the run ended with an exception record (the normal case)
  kChildCrashed,  // native child died outside the test code (harness error)
  kTimeout,       // native child did not finish in time (harness error)
  kNoException,   // Umbra stopped without an exception (HLT exit, instruction limit, ...)
  kSetupFailed,   // could not map the fixed pages or start the child
};

struct CaseOutput {
  RegFile regs;
  RunStatus status;
  uint32_t vector;       // exception vector that ended the run
  uint32_t error_code;   // hardware error code (meaningful for #GP, #PF, #AC, ...)
  uint64_t fault_addr;   // CR2 for #PF
  uint32_t exit_reason;  // Umbra: RunResult::reason (diagnostics only)
  uint32_t flags;        // kOut* bits
  uint32_t pad2;
  alignas(16) uint8_t fx[kFxSize];  // final FPU/SIMD state (FXSAVE64 image)
  uint8_t data[kDataSize];
};

// RFLAGS bits (SDM vol. 1, 3.4.3), local so the generator does not depend on Umbra headers.
namespace fl {
constexpr uint64_t CF = 1u << 0;
constexpr uint64_t FIXED1 = 1u << 1;
constexpr uint64_t PF = 1u << 2;
constexpr uint64_t AF = 1u << 4;
constexpr uint64_t ZF = 1u << 6;
constexpr uint64_t SF = 1u << 7;
constexpr uint64_t TF = 1u << 8;
constexpr uint64_t IF = 1u << 9;
constexpr uint64_t DF = 1u << 10;
constexpr uint64_t OF = 1u << 11;
constexpr uint64_t IOPL = 3u << 12;
constexpr uint64_t NT = 1u << 14;
constexpr uint64_t RF = 1u << 16;
constexpr uint64_t AC = 1u << 18;
constexpr uint64_t ID = 1u << 21;
constexpr uint64_t STATUS = CF | PF | AF | ZF | SF | OF;
// Bits compared after a run. RF is left out: the host sets it in the RFLAGS image it saves for
// a fault (SDM vol. 3, 17.3.1.1), which says nothing about the instructions under test.
constexpr uint64_t COMPARED = STATUS | TF | IF | DF | IOPL | NT | AC | ID;
}  // namespace fl

}  // namespace difftest
