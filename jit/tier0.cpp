#include "jit/tier0.h"

#include <csetjmp>
#include <cstdio>

#include "frontend/decoder.h"
#include "frontend/disasm.h"
#include "softmmu/access.h"
#include "softmmu/guest_memory.h"

namespace umbra {

namespace {

constexpr unsigned kMaxBlockInsns = 64;

// An instruction longer than 15 bytes: #GP(0) (SDM vol. 2, 2.3.11).
void handler_too_long(CpuState& cpu, const Insn&) { raise_fault(cpu, kGP, 0); }

bool is_rep_string(const Insn& i) {
  switch (i.op) {
    case Op::MOVS: case Op::CMPS: case Op::SCAS: case Op::LODS: case Op::STOS:
    case Op::INS: case Op::OUTS:
      return (i.prefixes & (pfx::kRep | pfx::kRepne)) != 0;
    default:
      return false;
  }
}

}  // namespace

Tier0Engine::Tier0Engine(CpuState& cpu) : cpu_(cpu) {
  GuestMemory& mem = *cpu.memory;
  mem.on_code_write = [this](uint64_t page) { invalidate_page(page); };
  // A page that starts holding code loses direct write access in the fast TLB, so the next
  // write to it takes the slow path and reaches on_code_write.
  mem.on_code_page_marked = [this](uint64_t page) {
    const uint8_t* host = cpu_.memory->host_ptr(page);
    for (TlbEntry& e : cpu_.tlb)
      if (e.tag_write != kTlbInvalid &&
          reinterpret_cast<const uint8_t*>(e.tag_write + e.addend) == host)
        e.tag_write = kTlbInvalid;
  };
}

Tier0Engine::~Tier0Engine() {
  cpu_.memory->on_code_write = nullptr;
  cpu_.memory->on_code_page_marked = nullptr;
}

void Tier0Engine::invalidate_page(uint64_t page_paddr) {
  bool hit_running = false;
  stats_.blocks_invalidated += cache_.invalidate_page(page_paddr, running_, &hit_running);
  // The running block's remaining instructions may be stale: leave it after this instruction.
  if (hit_running) cpu_.exit_request |= kExitCodeChanged;
}

void Tier0Engine::flush() {
  cache_.clear();
  if (running_) cpu_.exit_request |= kExitCodeChanged;
}

const Block* Tier0Engine::build_block(uint64_t rip, uint32_t mode_key) {
  CpuState& cpu = cpu_;
  GuestMemory& mem = *cpu.memory;
  auto b = std::make_unique<Block>();
  b->rip = rip;
  b->mode_key = mode_key;
  b->page2 = ~uint64_t{0};
  b->host2 = nullptr;
  const DecodeMode mode{cpu.mode64 != 0, cpu.code32 != 0};

  uint64_t pc = rip;
  uint8_t buf[16];
  for (unsigned n = 0; n < kMaxBlockInsns; ++n) {
    uint64_t paddr = 0;
    unsigned got = fetch_code(cpu, pc, buf, 15, /*cross_page=*/false, &paddr);
    if (n == 0) b->paddr = paddr;
    Insn insn;
    DecodeStatus st = decode(buf, got, mode, &insn);
    if (st == DecodeStatus::NeedMore) {
      // The instruction continues on the next page. Only the block's first instruction may
      // fetch from there (a fault is then architecturally due); otherwise the next block
      // starts with it.
      if (n > 0) break;
      uint64_t first_page = paddr & kPageMask;
      got = fetch_code(cpu, pc, buf, 15, /*cross_page=*/true, nullptr);
      st = decode(buf, got, mode, &insn);
      uint64_t p2 = 0;
      uint8_t dummy;
      fetch_code(cpu, (pc + kPageSize) & kPageMask, &dummy, 1, false, &p2);
      if ((p2 & kPageMask) != first_page) {
        b->page2 = p2 & kPageMask;
        b->host2 = mem.host_ptr(b->page2);
      }
      if (st == DecodeStatus::NeedMore) st = DecodeStatus::TooLong;
    }
    if (st == DecodeStatus::TooLong) {
      insn.fn = &handler_too_long;
      insn.attrs |= attr::kEndsBlock;
    }
    if (st == DecodeStatus::Invalid) insn.attrs |= attr::kEndsBlock;
    b->insns.push_back(insn);
    pc += insn.len;
    if ((insn.attrs & attr::kEndsBlock) || is_rep_string(insn)) break;
    if (((pc ^ rip) & kPageMask) != 0) break;  // next instruction starts on another page
  }
  b->byte_len = static_cast<uint32_t>(pc - rip);
  b->host = mem.host_ptr(b->paddr);
  mem.mark_code_page(b->paddr);
  if (b->page2 != ~uint64_t{0}) mem.mark_code_page(b->page2);
  ++stats_.blocks_built;
  if (trace_blocks_) {
    std::fprintf(stderr, "block %#llx (phys %#llx), %zu insns\n",
                 static_cast<unsigned long long>(rip), static_cast<unsigned long long>(b->paddr),
                 b->insns.size());
    uint64_t a = rip;
    for (const Insn& i : b->insns) {
      uint8_t bytes[16] = {};
      fetch_code(cpu, a, bytes, i.len, true, nullptr);
      Disassembly d = disassemble_one(bytes, i.len, a, cpu.mode64 ? 64 : (cpu.code32 ? 32 : 16));
      std::fprintf(stderr, "  %#llx: %-8s %s%s\n", static_cast<unsigned long long>(a),
                   d.length ? d.mnemonic.c_str() : "(bad)", d.operands.c_str(),
                   (i.attrs & attr::kUnimplemented) ? "   [unimplemented: #UD]" : "");
      a += i.len;
    }
  }
  return cache_.insert(std::move(b));
}

// Finds (or builds) the block at the current RIP. A jump-cache hit is validated against the
// current translation: the fast TLB's exec entry for RIP must still lead to the same host bytes,
// so a remapped code page never runs stale code.
const Block* Tier0Engine::find_block() {
  CpuState& cpu = cpu_;
  const uint64_t rip = cpu.rip;
  const uint32_t mode_key = decode_mode_key(cpu);
  BlockCache::JumpEntry& je = cache_.jump_entry(rip);
  const TlbEntry& te = tlb_entry(cpu, rip);
  if (je.rip == rip && je.mode_key == mode_key && je.block->valid &&
      te.tag_exec == (rip & kPageMask) &&
      reinterpret_cast<const uint8_t*>(rip + te.addend) == je.block->host &&
      je.block->page2 == ~uint64_t{0}) {
    ++stats_.jump_cache_hits;
    return je.block;
  }
  ++stats_.jump_cache_misses;
  uint64_t paddr = 0;
  uint8_t byte;
  fetch_code(cpu, rip, &byte, 1, false, &paddr);  // translates (may fault) and fills the TLB
  Block* b = cache_.lookup(paddr, mode_key);
  if (b && b->page2 != ~uint64_t{0}) {
    // A block whose first instruction straddles pages: the second page must still be the same.
    uint64_t p2 = 0;
    fetch_code(cpu, (rip + kPageSize) & kPageMask, &byte, 1, false, &p2);
    if ((p2 & kPageMask) != b->page2) b = nullptr;
  }
  if (!b || b->rip != rip) {
    // Same physical code reached through another linear address: blocks embed RIP-relative
    // state only through cpu.rip at run time, so reuse is safe; rebuild only when absent.
    if (!b) b = const_cast<Block*>(build_block(rip, mode_key));
  }
  je = BlockCache::JumpEntry{rip, mode_key, b};
  return b;
}

RunResult Tier0Engine::run(uint64_t max_insns) {
  CpuState& cpu = cpu_;
  std::jmp_buf jb;
  std::jmp_buf* const saved_jmp = cpu.fault_jmp;
  cpu.fault_jmp = &jb;
  const uint64_t start = cpu.insn_count;
  RunResult res{};

  for (;;) {
    if (setjmp(jb) == 0) {
      for (;;) {
        if (cpu.exit_request & ~kExitCodeChanged) break;
        cpu.exit_request = 0;
        if (cpu.insn_count - start >= max_insns) {
          cpu.exit_request |= kExitInsnLimit;
          break;
        }
        cache_.reclaim();
        const Block* b = find_block();
        ++const_cast<Block*>(b)->exec_count;
        running_ = b;
        running_rip_ = cpu.rip;
        const Insn* i = b->insns.data();
        const Insn* const end = i + b->insns.size();
        while (i != end) {
          i->fn(cpu, *i);
          ++i;
          if (__builtin_expect(cpu.exit_request != 0, 0)) break;
        }
        cpu.insn_count += static_cast<uint64_t>(i - b->insns.data());
        running_ = nullptr;
      }
      res.reason = cpu.exit_request;
      cpu.exit_request &= ~(kExitHalt | kExitInsnLimit | kExitCodeChanged);
      break;
    }
    // An exception unwound here. RIP points at the faulting instruction; count the
    // instructions of the block that completed before it.
    ++stats_.faults;
    if (running_) {
      uint64_t a = running_rip_;
      for (const Insn& i : running_->insns) {
        if (a == cpu.rip) break;
        a += i.len;
        ++cpu.insn_count;
      }
      running_ = nullptr;
    }
    // No delivery mechanism yet (the system issue adds IDT delivery): stop and report.
    res.reason = kExitFault;
    res.vector = static_cast<uint8_t>(cpu.pending_fault_vector);
    res.error_code = cpu.pending_fault_has_error ? cpu.pending_fault_error : kNoErrorCode;
    res.fault_addr = cpu.pending_fault_addr;
    cpu.exit_request = 0;
    break;
  }
  cpu.fault_jmp = saved_jmp;
  res.insns = cpu.insn_count - start;
  return res;
}

}  // namespace umbra
