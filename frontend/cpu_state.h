// The architectural state of one x86-64 CPU, plus the per-CPU runtime fields that executing code
// (tier 0 handlers today, LLVM-compiled code later) reaches through the same pointer.
//
// Layout is stable: the JIT addresses fields by offsetof(), so fields are only ever appended
// within their group, never reordered. Everything is plain data (standard layout).
#pragma once

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "frontend/system/msr.h"

namespace umbra {

// General-purpose register numbers, in ModRM/REX encoding order.
enum Gpr : uint8_t {
  RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15,
};

// Segment register numbers, in the encoding order of the Sreg ModRM field (SDM vol. 2, 3.1.1.3).
enum SegReg : uint8_t { ES, CS, SS, DS, FS, GS, kNumSegRegs };

// RFLAGS bits (SDM vol. 1, 3.4.3).
namespace rf {
constexpr uint64_t CF = 1u << 0;
constexpr uint64_t FIXED1 = 1u << 1;  // reserved, always reads as 1
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
constexpr uint64_t VM = 1u << 17;
constexpr uint64_t AC = 1u << 18;
constexpr uint64_t VIF = 1u << 19;
constexpr uint64_t VIP = 1u << 20;
constexpr uint64_t ID = 1u << 21;
// The six status flags that arithmetic computes (and that the lazy-flags machinery tracks).
constexpr uint64_t ARITH = CF | PF | AF | ZF | SF | OF;
}  // namespace rf

// Exception vectors (SDM vol. 3, 6.3.1).
enum Vector : uint8_t {
  kDE = 0, kDB = 1, kNMI = 2, kBP = 3, kOF = 4, kBR = 5, kUD = 6, kNM = 7, kDF = 8,
  kTS = 10, kNP = 11, kSS = 12, kGP = 13, kPF = 14, kMF = 16, kAC = 17, kMC = 18, kXM = 19,
};

// A segment register: the visible selector and the hidden descriptor cache (SDM vol. 3, 3.4.3).
struct SegmentCache {
  uint64_t base;
  uint32_t limit;    // byte-granular effective limit
  uint16_t selector;
  uint16_t attrib;   // descriptor bits 40..47 (type, S, DPL, P) and 52..55 (AVL, L, D/B, G) as
                     // attrib = type | S<<4 | DPL<<5 | P<<7 | AVL<<8 | L<<9 | DB<<10 | G<<11
};
namespace seg_attr {
constexpr uint16_t S = 1u << 4;  // code/data (1) or system (0) descriptor
constexpr uint16_t P = 1u << 7;
constexpr uint16_t L = 1u << 9;
constexpr uint16_t DB = 1u << 10;
constexpr uint16_t G = 1u << 11;
inline constexpr unsigned dpl(uint16_t a) { return (a >> 5) & 3; }
}  // namespace seg_attr

struct DescriptorTableReg {
  uint64_t base;
  uint32_t limit;
};

// Lazy arithmetic flags (docs/semantics.md). The producer of the last flag-setting operation is
// recorded instead of six computed bits; readers materialize only what they need.
// `op` is one of LazyOp below; the operand size in bytes is in `size`.
enum LazyOp : uint8_t {
  kLazyNone = 0,  // flags live in CpuState::rflags (eagerly computed)
  kLazyAdd,       // res = src1 + src2
  kLazyAdc,       // res = src1 + src2 + carry_in; carry_in in `aux`
  kLazySub,       // res = src1 - src2 (SUB, CMP, NEG with src1 = 0)
  kLazySbb,       // res = src1 - src2 - borrow_in; borrow_in in `aux`
  kLazyLogic,     // AND/OR/XOR/TEST: CF=OF=0, AF=0 (host-observed, see docs), PF/ZF/SF from res
  kLazyInc,       // res = src1 + 1; CF preserved, held in `aux`
  kLazyDec,       // res = src1 - 1; CF preserved, held in `aux`
};

struct LazyFlags {
  uint64_t res;
  uint64_t src1;
  uint64_t src2;
  uint8_t op;    // LazyOp
  uint8_t size;  // operand size in bytes
  uint8_t aux;   // carry-in / preserved CF
  uint8_t pad[5];
};

// x87 register stack and environment (SDM vol. 1, 8.1). Registers stored in physical order.
struct X87State {
  alignas(16) uint8_t st[8][16];  // 80-bit values, 16-byte slots (FXSAVE layout)
  uint16_t fcw, fsw, ftw, fop;
  uint64_t fip, fdp;
  uint16_t fcs, fds;
};

struct alignas(16) XmmReg {
  uint8_t b[16];
};

class GuestMemory;
class AddressTranslator;
class PortBus;
struct CpuRuntime;
struct CpuModel;
class GuestClock;
class CpuPlatform;

// One fast-TLB entry: guest linear page -> host address (host = linear + addend). A tag of
// kTlbInvalid never matches. Separate tags per access type let one entry grant read but not
// write (write-tracked pages, read-only mappings).
struct TlbEntry {
  uint64_t tag_read;
  uint64_t tag_write;
  uint64_t tag_exec;
  int64_t addend;
};
static_assert(sizeof(TlbEntry) == 32);
constexpr uint64_t kTlbInvalid = ~uint64_t{0};
// The inline table's size, and the smallest table the translation cache uses
// (softmmu/translation_cache.h grows a table whose capacity misses cost time).
constexpr unsigned kTlbBits = 10;
constexpr unsigned kTlbSize = 1u << kTlbBits;
constexpr unsigned kPageShift = 12;
// A table of 2^bits entries is indexed by the byte offset (linear >> kTlbIndexShift) & mask, with
// mask = (2^bits - 1) << 5: the page number scaled by the entry size in one shift.
constexpr unsigned kTlbIndexShift = kPageShift - 5;
constexpr uint64_t tlb_mask_for_bits(unsigned bits) {
  return ((uint64_t{1} << bits) - 1) << 5;
}
constexpr uint64_t kPageSize = uint64_t{1} << kPageShift;
constexpr uint64_t kPageMask = ~(kPageSize - 1);

struct CpuState {
  // ---- general purpose state (hot: first cache lines) ----
  uint64_t gpr[16];
  uint64_t rip;
  uint64_t rflags;  // DF, IF, TF, ... always valid; the ARITH bits only when lazy.op==kLazyNone
  LazyFlags lazy;

  // ---- segmentation and descriptor tables ----
  SegmentCache seg[kNumSegRegs];
  SegmentCache ldtr, tr;
  DescriptorTableReg gdtr, idtr;

  // ---- control, debug and model-specific registers ----
  uint64_t cr0, cr2, cr3, cr4, cr8;
  uint64_t dr[8];
  uint64_t efer;
  uint64_t xcr0;
  uint64_t msr_star, msr_lstar, msr_cstar, msr_sfmask;
  uint64_t msr_kernel_gs_base;
  uint64_t msr_sysenter_cs, msr_sysenter_esp, msr_sysenter_eip;
  uint64_t msr_tsc_aux, msr_pat, msr_apic_base, msr_misc_enable;
  uint64_t tsc_offset;
  // PAE paging's four PDPTE registers (SDM vol. 3, 4.4.1): loaded from memory only at MOV CR3 /
  // MOV CR0 / MOV CR4 / task switch time by softmmu/page_walk.h load_pae_pdptes(), then used by
  // every PAE walk in place of the in-memory PDPT.
  uint64_t pdpte[4];

  // ---- FPU / SIMD ----
  X87State x87;
  uint32_t mxcsr;
  uint32_t mxcsr_pad;
  XmmReg xmm[16];

  // ---- derived mode, kept in sync by whoever changes CS/CR0/EFER ----
  uint8_t cpl;
  uint8_t mode64;     // CS.L with EFER.LMA: 64-bit code
  uint8_t code32;     // CS.D: default operand/address size 32 (when not mode64)
  uint8_t stack32;    // SS.B (when not mode64)
  uint8_t halted;
  uint8_t pad_mode[3];
  // Bit s set: accesses through segment register s need the legacy-mode limit/type check
  // (frontend/system/segmentation_checks.h); clear for flat segments. Ignored in 64-bit mode.
  // Recomputed by refresh_segment_checks() whenever a segment cache changes.
  uint8_t seg_check;

  // ---- runtime (not architectural) ----
  // The reasons chained code must stop at a block boundary share one aligned 8-byte word, so
  // tier-1 code tests them with a single load (jit/tier1/block_compiler.cpp; HLT also sets
  // exit_request, so `halted` needs no test there).
  //
  // Set by any handler or device to make the engine leave its run loop at the next block
  // boundary; the reason says why (ExitReason in jit/engine.h).
  alignas(8) uint32_t exit_request;
  uint8_t interrupt_shadow;  // after STI (IF 0->1), MOV SS, POP SS: one instruction with
                             // maskable interrupts (and, for MOV/POP SS, #DB) inhibited
  uint8_t nmi_pending;
  uint8_t irq_line;          // the interrupt controller has a pending interrupt (INTR)
  uint8_t tier1_ready;       // tier-1 code is ready to install: chained code returns (jit/)
  uint32_t pending_fault_vector;  // set by raise_fault() before unwinding
  uint32_t pending_fault_error;   // error code (or kNoErrorCode)
  uint32_t pending_fault_has_error;
  uint64_t pending_fault_addr;     // CR2 candidate for #PF
  uint64_t insn_count;             // retired instructions (updated at block granularity)
  std::jmp_buf* fault_jmp;         // where raise_fault() unwinds to (the engine's run loop)
  GuestMemory* memory;             // physical address space
  AddressTranslator* translator;   // linear -> physical (paging, or identity)
  PortBus* ports;                  // I/O port space (IN/OUT/INS/OUTS)

  // ---- event delivery and interrupt state (frontend/system/interrupts.h, jit/tier0.cpp) ----
  uint8_t delivering;          // an event is being delivered (nested faults -> #DF rules)
  uint8_t delivering_vector;
  uint8_t delivering_kind;     // EventKind
  // interrupt_shadow, nmi_pending and irq_line are next to exit_request above.
  uint8_t nmi_blocked;         // from NMI delivery until the next IRET
  uint8_t a20_off;             // A20 gate closed: physical address bit 20 forced to 0

  // ---- CPU model and the MSRs without a named field (frontend/system/cpu_model.h, msr.h) ----
  const CpuModel* cpu_model;   // what CPUID reports and which features exist; null = default
  MsrFile msrs;

  // ---- the board (null on machines without one) ----
  GuestClock* clock;           // the guest time base (null: the host's monotonic clock)
  CpuPlatform* platform;       // local APIC MSRs, APIC base, CR8 (frontend/system/cpu_platform.h)

  alignas(64) TlbEntry tlb[kTlbSize];
  // The active fast-TLB table is at byte offset tlb_offset from `tlb` (softmmu/access.h
  // tlb_table()): 0 selects the table above; the translation cache (softmmu/translation_cache.h)
  // points it at the table of the current address space and privilege view. An offset rather
  // than a pointer so a zero-filled CpuState is valid.
  int64_t tlb_offset;
  // The active table's index mask (tlb_mask_for_bits): tables differ in size. Next to
  // tlb_offset: tier-1 code caches and reloads the two words together (jit/tier1/state_cache.cpp).
  uint64_t tlb_mask = tlb_mask_for_bits(kTlbBits);

  // ---- tier 1 (jit/tier1, docs/jit.md) ----
  // Chained tier-1 code stops at a block boundary once insn_count reaches insn_limit (the run's
  // instruction budget; set by the engine's run()).
  uint64_t insn_limit;
  // The Block whose tier-1 code is running (each compiled block stores itself on entry), so a
  // fault inside chained code counts the right block's completed instructions; null otherwise.
  const void* tier1_block;
  // The Block whose compiled function is running: tier1_block itself, or the entry of the
  // region tier1_block is a member of (docs/jit.md "Regions"). A write to its code must stop it.
  const void* tier1_region;
  // Handed by a compiled block that ran to its end to the chain exit (jit/tier1/chain_exit.h):
  // the RIP of its last instruction and its ChainSlot[2].
  uint64_t tier1_last_rip;
  const void* tier1_chain;
};

static_assert(std::is_standard_layout_v<CpuState>);
// The block-boundary stop word (see exit_request).
static_assert(offsetof(CpuState, exit_request) % 8 == 0);
static_assert(offsetof(CpuState, interrupt_shadow) == offsetof(CpuState, exit_request) + 4);
static_assert(offsetof(CpuState, nmi_pending) == offsetof(CpuState, exit_request) + 5);
static_assert(offsetof(CpuState, irq_line) == offsetof(CpuState, exit_request) + 6);
static_assert(offsetof(CpuState, tier1_ready) == offsetof(CpuState, exit_request) + 7);
static_assert(offsetof(CpuState, tlb_mask) == offsetof(CpuState, tlb_offset) + 8);

constexpr uint32_t kNoErrorCode = ~uint32_t{0};

// Raise an architectural exception from inside an instruction: record it in the CPU state and
// unwind to the engine's run loop. State must be exactly as before the instruction (handlers
// write architectural state only after every check that can fault), so RIP still points at the
// faulting instruction. Never returns.
[[noreturn]] void raise_fault(CpuState& cpu, uint8_t vector, uint32_t error_code = kNoErrorCode,
                              uint64_t fault_addr = 0);

// Canonical-address check for 48-bit linear addresses (SDM vol. 1, 3.3.7.1).
inline bool is_canonical48(uint64_t a) {
  return static_cast<uint64_t>(static_cast<int64_t>(a << 16) >> 16) == a;
}

}  // namespace umbra
