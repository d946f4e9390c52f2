// The test-case generator's core: builds an instruction sequence (1..kMaxInsns instructions) at
// the start of the code page together with an initial state that keeps every memory access of
// the sequence inside the data pages (or, on purpose and rarely, on an unmapped or read-only
// page), and records per instruction boundary which status flags the SDM leaves undefined.
//
// Forms (forms_*.cpp) describe one instruction encoding each; they ask this class for registers,
// memory operands, immediates and branch targets, describe the instruction's effects, and emit.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "encoder.h"
#include "layout.h"
#include "rng.h"

namespace difftest {

// Capacity of a case: the native difftest runs up to kDefaultMaxLen instructions per case, the
// tier comparison (--compare-tiers) long streams of up to kMaxInsns. A rel8 branch whose target
// would end up out of reach is refused when the sequence grows (Gen::emit).
constexpr unsigned kMaxInsns = 40;
constexpr unsigned kDefaultMaxLen = 5;
constexpr unsigned kMaxSeqBytes = 600;
constexpr uint8_t RSP_ = 4;  // register numbers the forms refer to by name
constexpr uint8_t RAX_ = 0, RCX_ = 1, RDX_ = 2, RBX_ = 3, RBP_ = 5, RSI_ = 6, RDI_ = 7;

inline uint64_t size_mask(unsigned size) {
  return size >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1;
}
// The GPR a register operand of `size` lives in (AH..BH are bits 8..15 of RAX..RBX).
inline uint8_t gpr_of(uint8_t r) {
  return r >= kAH ? static_cast<uint8_t>(r - kAH) : r;
}

// Condition codes tttn (SDM vol. 1, B.1) and the status flags each one reads.
uint64_t cond_flags(unsigned cc);

// Generator variations that a known-failures entry can switch off (known_failures.txt,
// "variation: <name> | why"), for Umbra bugs that are not tied to one form.
enum Variation : uint32_t {
  // A null segment override (2E 36 3E 26) on an instruction whose memory operand is
  // non-canonical: decides nothing in 64-bit mode, so #GP/#SS follow the base register.
  kVarNullSegOnNoncanonical = 1u << 0,
  // A non-canonical memory operand based on RBP (an SS reference): #SS(0) instead of #GP(0).
  kVarNoncanonicalStackAccess = 1u << 1,
  // REP INS/OUTS with a zero count at CPL 3 and IOPL 0: the I/O permission check comes first
  // (the host raises #GP(0) although no element is transferred).
  kVarRepIoZeroCount = 1u << 2,
  // An FPU/SIMD memory operand placed where it faults (unmapped page, straddling into one,
  // read-only code page, non-canonical): forms_fp_common.cpp, fp_mem.
  kVarFpOperandFault = 1u << 3,
  // FXRSTOR/XRSTOR images with reserved FCW bits set/clear and FSW.B not mirroring ES.
  kVarFpReservedBits = 1u << 4,
};
struct VariationName {
  Variation v;
  const char* name;
};
inline constexpr VariationName kVariationNames[] = {
    {kVarNullSegOnNoncanonical, "null-segment-prefix-on-noncanonical-access"},
    {kVarNoncanonicalStackAccess, "noncanonical-stack-access"},
    {kVarRepIoZeroCount, "rep-string-io-zero-count"},
    {kVarFpOperandFault, "fp-operand-fault"},
    {kVarFpReservedBits, "fp-reserved-control-bits"},
};

// What the generator must know about the host to stay within what the host can be an oracle
// for (host_profile.h); the defaults suit a Linux x86-64 host.
struct HostTraits {
  // INT n vectors that may be generated. Never 0x80: on Linux it is a DPL-3 gate that makes an
  // IA-32 system call.
  uint64_t int_vectors[4] = {~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0} & ~uint64_t{1}, ~uint64_t{0}};
  // A null selector loaded into FS/GS clears the base (else such loads are not generated: AMD
  // before Zen 3 keeps the base, Intel clears it).
  bool null_fs_gs_clears_base = true;
  bool int_vector_ok(unsigned v) const { return (int_vectors[v >> 6] >> (v & 63)) & 1; }
};

// A random FS/GS base in the user half that no host mapping is near: above 16 TiB, below
// 80 TiB, away from where Linux puts a PIE binary (0x55..), its heap and the mmap area (0x7f..)
// and from Umbra's system pages (kSysLinear, umbra_system.h). A random address in the kernel
// half would fault with P = 1 or 0 depending on the host kernel's mappings.
uint64_t user_base(Rng& rng);

// Where a branch goes.
enum class TargetKind : uint8_t {
  kBoundary,      // start of a later instruction of the sequence (or its end)
  kSled,          // somewhere in the HLT sled after the sequence
  kPastCodePage,  // the unmapped page after the code page: #PF on fetch
  kDataPage,      // a data page: mapped but not executable, #PF on fetch
};
struct Target {
  TargetKind kind = TargetKind::kSled;
  uint8_t boundary = 0;
};

// Facts that hold at an instruction boundary on every path reaching it.
struct Flow {
  uint16_t written = 0;      // registers some earlier instruction may have modified
  uint16_t written_ptr = 0;  // of those, the ones that still hold a data-area pointer
  uint64_t poison = 0;       // status flags that may be undefined (SDM) at this point
  bool mem_written = false;  // some earlier instruction may have written memory
  bool rsp_exact = true;     // RSP == initial RSP + rsp_delta
  bool rsp_ptr = true;       // RSP still points near the data area
  int64_t rsp_delta = 0;
  bool valid = false;  // for pending merges: some path arrives here
  void merge(const Flow& o);
};

// What one instruction does, as far as the generator's bookkeeping is concerned.
struct Effects {
  uint64_t flags_read = 0;        // status flags consumed (must not be undefined)
  uint64_t flags_def = 0;         // status flags written with defined values
  uint64_t flags_undef = 0;       // status flags the SDM leaves undefined
  uint16_t regs_written = 0;      // GPRs modified
  uint16_t regs_written_ptr = 0;  // of those, the ones left holding a data-area pointer
  uint16_t regs_undefined = 0;    // GPRs whose result the SDM leaves undefined (last insn only)
  bool mem_write = false;
  int64_t rsp_delta = 0;     // static RSP change (push/pop/call/ret)
  bool rsp_inexact = false;  // RSP changes by an amount not known here (stays a pointer)
  bool rsp_lost = false;     // RSP may no longer point into the data area
  bool ends_flow = false;    // unconditional transfer: the next instruction is not reached
};

// Requirements on a memory operand.
struct MemReq {
  bool write = false;         // the instruction writes it (read-modify-write included)
  bool allow_fault = true;    // may rarely point at an unmapped or read-only page
  unsigned align = 0;         // required alignment of the address (0: any)
  int64_t lo_slack = 0;       // bytes below the operand that must also be in the data area
  int64_t hi_slack = 0;       // bytes past its end that must also be in the data area
  bool stack_base_ok = true;  // RSP/RBP may be the base (they select SS: avoid for #SS cases)
};

// One instruction under construction.
struct Ib {
  InsnSpec s;
  Effects fx;
  bool rex_regs = true;   // registers 8..15 (and SPL..DIL) may be used
  bool byte_rex = false;  // byte registers use the REX numbering (SPL..DIL) instead of AH..BH
  bool no_seg_prefix = false;
  bool is_mem = false;        // has a memory operand (for LOCK decisions)
  bool expect_ud = false;     // deliberately invalid (#UD) variant of the form
  bool noncanonical = false;  // the memory operand is non-canonical on purpose
  // Memory the instruction may leave partially written when it faults (ENTER on the host writes
  // its pushes before the fault on the new stack top): [lo, hi), masked if it faults.
  uint64_t fault_mask_lo = 0, fault_mask_hi = 0;
  // Bits of a register result the SDM leaves undefined or that differ by design between the
  // host and Umbra (RDTSC, CPUID, bits 19:16 of LAR): not compared when the run gets past the
  // instruction, which must then be the last one.
  uint64_t undef_bits[16] = {};
  bool has_undef_bits = false;
  void mask_bits(uint8_t gpr, uint64_t bits) {
    undef_bits[gpr] |= bits;
    has_undef_bits = true;
  }
  // Two memory reads in an order the SDM leaves open (CMPS): element size and address size,
  // so the comparison can accept either read's fault address when both fault.
  uint8_t unordered_reads = 0;
  bool unordered_addr32 = false;
  // A stack frame of this many bytes at RSP read in an order the SDM leaves open (IRET, RETF:
  // the AMD host does not read the slots in pseudo-code order), so when the read faults any
  // unreadable address of the frame is a correct CR2.
  uint8_t frame_reads = 0;
  // The address of an FXSAVE/XSAVE image the instruction writes (0: none): the comparison
  // leaves out the bits of it that differ by design between the host and Umbra (compare.cpp).
  uint64_t fp_image = 0;
  // A multi-part FPU state operand (FLDENV, FNSAVE, FXRSTOR, XSAVE, ...) [lo, hi): the host
  // accesses its parts in an order of its own, so when it faults any unreadable byte of it is
  // an acceptable CR2 (compare.cpp, cr2_acceptable).
  uint64_t fp_span_lo = 0, fp_span_hi = 0;
  uint64_t mem_addr = 0;  // its address when known
  bool mem_addr_known = false;
  struct RelFix {
    bool used = false;
    uint8_t bytes = 0;  // 1 or 4
    Target target;
  } rel;
  bool has_target = false;  // indirect transfer (register, memory, RET) to `target`
  Target target;
};

enum class Role : uint8_t { kSrc, kDst };

constexpr uint16_t kNoForm = 0xffff;  // InsnRecord::form of bytes given with --code

struct InsnRecord {
  uint16_t offset;
  uint8_t len;
  bool expect_ud;  // generated as an invalid encoding on purpose
  uint16_t form;
  uint8_t unordered_reads;  // see Ib::unordered_reads
  bool unordered_addr32;
  uint8_t frame_reads;  // see Ib::frame_reads
};

// Everything the comparison needs to know about a case besides its input.
struct CaseMeta {
  uint64_t seed = 0;
  bool fp = false;  // some instruction uses the FPU/SIMD state (reports show it)
  uint8_t n = 0;
  InsnRecord insns[kMaxInsns] = {};
  uint64_t poison_at[kMaxInsns + 1] = {};  // undefined flags when the run stops at boundary k
  uint64_t poison_end = 0;                 // ... when it stops anywhere else (end, sled, outside)
  uint16_t masked_regs_end = 0;            // undefined register results, when past the sequence
  uint64_t masked_bits_end[16] = {};       // ... and undefined bits of register results
  uint64_t boundary_addr[kMaxInsns + 1] = {};
  uint64_t fault_mask_lo[kMaxInsns] = {};  // memory masked when instruction k faults
  uint64_t fault_mask_hi[kMaxInsns] = {};
  uint64_t fp_image[kMaxInsns] = {};                                // see Ib::fp_image
  uint64_t fp_span_lo[kMaxInsns] = {}, fp_span_hi[kMaxInsns] = {};  // see Ib::fp_span_lo
};

class Gen;
struct Form {
  std::string name;       // e.g. "add r/m32, imm8"
  std::string mnemonic;   // Capstone's mnemonic (encoder self-check), "" to skip the check
  uint32_t features = 0;  // host features required (cpu_features.h)
  std::function<bool(Gen&)> gen;
  unsigned weight = 4;  // relative frequency (the #UD forms are picked less often)
};

class Gen {
 public:
  // `code_start`: page offset of the first instruction (normally 0; near the page end to test
  // instructions that end at or straddle the end of the code page).
  Gen(Rng& rng, unsigned planned_len, unsigned code_start = 0);

  Rng& rng;
  unsigned position() const { return st_.pos; }
  // Linear address where the next instruction will be placed.
  uint64_t next_addr() const { return kCodeBase + start_ + st_.code_len; }
  bool is_last() const { return st_.pos + 1 >= planned_; }
  unsigned planned() const { return planned_; }

  // ---- instruction building ----
  // Starts an instruction with operand size `size` (66 for 2, REX.W for 8). `byte_regs`: the
  // instruction has byte register operands, which decides between REX and AH..BH numbering.
  Ib begin(unsigned size, bool byte_regs = false);
  // A register operand of `size` (byte numbering for size 1). kDst registers are recorded as
  // written; RSP is a destination only for the last instruction.
  uint8_t reg(Ib& ib, unsigned size, Role role);
  // Register operand or (with probability mem_pct %) memory operand.
  RmOp rm(Ib& ib, unsigned size, Role role, const MemReq& req, unsigned mem_pct = 45);
  // A memory operand of `size` bytes; false if no shape fits the current constraints.
  bool mem(Ib& ib, unsigned size, const MemReq& req, RmOp* out);
  // ModRM memory operand for instructions that compute an address without accessing memory
  // (LEA): any registers, any displacement.
  RmOp lea_mem(Ib& ib);
  // Immediate value with edge cases mixed in.
  uint64_t value(unsigned size);
  uint64_t imm(unsigned bytes) { return value(bytes); }

  // ---- register constraints (initial values) ----
  bool is_free(uint8_t gpr) const;  // not yet constrained and not written before this insn
  // Current value if known statically (fixed and not written on any path so far).
  bool known(uint8_t gpr, uint64_t* v) const;
  // Constrains a free register's initial value (false if already constrained/written).
  bool fix(uint8_t gpr, uint64_t v, bool is_ptr = false);
  // fix() if free, else report the known value; false if the value is unknown.
  bool fix_or_known(uint8_t gpr, uint64_t want, uint64_t* actual);
  // The register holds a data-area pointer now (fixed pointer, or written but still a pointer).
  bool is_ptr_now(uint8_t gpr) const;
  // Initial RSP.
  uint64_t init_rsp() const { return st_.init[RSP_]; }
  const Flow& flow() const { return st_.flow; }

  // ---- memory constraints ----
  // Plants initial memory contents (only possible before any write of the sequence). Critical
  // plants (branch targets, POPF images) may not be overlapped by later plants.
  bool plant(uint64_t addr, uint64_t value, unsigned size, bool critical = false);
  // Plants a code address (the resolved target) as a 64-bit value at `addr`.
  bool plant_target(uint64_t addr, Target t);
  // Fixes a register to the resolved address of a target.
  bool fix_target(uint8_t gpr, Target t);

  // ---- FPU/SIMD state ----
  // The case's initial FPU/SIMD state (FXSAVE64 image, layout.h). The first call draws a random
  // state (fp_values.h); forms may then set registers in it. Cases of integer forms only start
  // in the FNINIT state with MXCSR 1F80H.
  uint8_t* fp_state();

  // ---- flags ----
  // Picks a condition code whose flags are all defined here (false if none).
  bool pick_cond(unsigned* cc);

  // ---- branches ----
  // Random forward target: a later boundary, the sled, or (rarely, if allowed) a faulting one.
  Target pick_target(bool allow_fault);
  // Emits with a rel8/rel32 field at the end of the immediate bytes pointing at `t`.
  void set_rel(Ib& ib, unsigned bytes, Target t);

  // LOCK prefix decision for read-modify-write instructions (SDM vol. 2, LOCK): usually on
  // memory forms; very rarely on register forms, where it must raise #UD.
  void maybe_lock(Ib& ib);

  // Encodes and appends the instruction; false if it cannot be placed (poisoned flag read,
  // out of space). Applies the instruction's effects to the flow.
  bool emit(Ib& ib);
  uint16_t form_index = 0;  // recorded with each emitted instruction (set by the case builder)
  HostTraits host;          // set by the case builder
  uint32_t disabled = 0;    // Variation bits switched off
  unsigned fault_pct = 3;   // share of memory operands placed on purpose where they fault
  // Share of data addresses drawn from a small "hot" window (hot_lo, kHotBytes) so that the
  // stores and loads of a long stream alias each other (0: off; the native cases never use it).
  unsigned hot_pct = 0;
  // Deliberately invalid encodings (#UD) only as the last instruction, so that long streams
  // mostly run to their end (tier comparison).
  bool ud_last_only = false;
  // The loop blocks (forms_loop.cpp) may sit anywhere in a long stream, not only as a case of
  // their own (tier comparison).
  bool loops_anywhere = false;
  uint64_t hot_lo = 0;
  static constexpr uint64_t kHotBytes = 48;

  // ---- finishing ----
  // Merges pending flows at the current boundary (call before each instruction).
  void enter_boundary();
  // Builds the final case: initial registers, flags, data, code page with resolved targets.
  void finish(CaseInput* in, CaseMeta* meta);

  // Snapshot/rollback around a form that fails half-way.
  struct Snapshot;
  Snapshot save() const;
  void restore(const Snapshot& s);

 private:
  struct Plant {
    uint64_t addr;
    uint64_t value;
    uint8_t size;
    bool critical;
    bool is_target;
    Target target;
  };
  struct Deferred {
    enum Kind : uint8_t { kRel, kReg } kind;
    uint8_t bytes;  // rel field size
    uint8_t reg;
    uint16_t field_off;  // page offset of the rel field
    uint16_t insn_end;   // page offset of the next instruction
    Target target;
  };
  uint64_t pick_data_addr(unsigned size, const MemReq& req);
  bool pick_fault_addr(unsigned size, const MemReq& req, uint64_t* addr);
  uint64_t resolve(const Target& t, uint64_t from_end, unsigned rel_bytes);
  bool base_usable(const Ib& ib, uint8_t r, bool addr32) const;
  bool index_usable(const Ib& ib, uint8_t r) const;

 public:
  struct State {
    unsigned pos = 0;
    Flow flow;
    Flow pending[kMaxInsns + 1];
    Flow end;  // merged flow of every exit into the sled / outside
    uint16_t fixed = 0, fixed_ptr = 0, deferred_regs = 0;
    uint64_t init[16] = {};
    std::vector<Plant> plants;
    std::vector<Deferred> deferred;
    uint8_t code[kMaxSeqBytes + 16] = {};
    unsigned code_len = 0;
    InsnRecord insns[kMaxInsns] = {};
    uint64_t poison_at[kMaxInsns + 1] = {};
    uint16_t masked_regs = 0;
    uint64_t masked_bits[16] = {};
    uint64_t fault_mask_lo[kMaxInsns] = {}, fault_mask_hi[kMaxInsns] = {};
    bool fp = false;
    uint64_t fp_image[kMaxInsns] = {};
    uint64_t fp_span_lo[kMaxInsns] = {}, fp_span_hi[kMaxInsns] = {};
    alignas(16) uint8_t fx[kFxSize] = {};
  };

 private:
  State st_;
  unsigned planned_;
  unsigned start_;  // page offset of the sequence
};

struct Gen::Snapshot {
  State st;
};

}  // namespace difftest
