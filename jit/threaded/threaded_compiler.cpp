#include "jit/threaded/threaded_compiler.h"

#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "frontend/cpu_state.h"
#include "jit/block_cache.h"
#include "jit/profile.h"
#include "jit/threaded/x86_emitter.h"

namespace umbra::threaded {

namespace {

// Upper bounds of the code emitted (x86_emitter.h's longest forms): the entry and the end, and
// per instruction its call (mov rdi; mov rsi, imm64; mov rax, imm64; call rax), the last RIP's
// copy, the exit test and its out-of-line leave stub.
constexpr size_t kFixedBytes = 160;
constexpr size_t kPerInsnBytes = 64;

int32_t field(size_t offset) {
  return static_cast<int32_t>(offset);
}

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// UMBRA_JIT_PERF_MAP=1: name each block's code in /tmp/perf-PID.map for `perf report`, as tier 1
// does for LLVM's code (one write per line: the two writers append whole lines).
std::FILE* perf_map() {
  static std::FILE* f = [] {
    const char* v = std::getenv("UMBRA_JIT_PERF_MAP");
    if (!v || *v != '1') return static_cast<std::FILE*>(nullptr);
    const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    return std::fopen(path.c_str(), "a");
  }();
  return f;
}

}  // namespace

ThreadedCompiler::ThreadedCompiler(const void* chain_exit64, const void* chain_exit_legacy)
    : chain_exit64_(chain_exit64), chain_exit_legacy_(chain_exit_legacy) {}

// The code of a block of n instructions (RBX holds the CpuState throughout):
//
//   push rbx; mov rbx, rdi
//   tier1_region = tier1_block = block; profile activity = threaded; ++*entry_counter
//   for each instruction i:
//     (the last one, in a chainable block: tier1_last_rip = rip)
//     mov rdi, rbx; mov rsi, &insn[i]; call handler
//     (all but the last) cmp dword [rbx + exit_request], 0; jne leave[i + 1]
//   insn_count += n
//   chainable: if *entry_counter < entry_limit: tier1_chain = slots; pop rbx; jmp chain_exit
//   pop rbx; ret
//   leave[k]: mov eax, k; insn_count += rax; pop rbx; ret
//
// exactly what the tier-1 quick level's IR does around its inlined handlers (block_compiler.cpp),
// and what tier 0 does: the same handlers, the same Insn, the same exit tests.
bool ThreadedCompiler::compile(const Block& b, uint64_t* entry_counter, uint64_t entry_limit,
                               Code* out) {
  const uint64_t t0 = now_ns();
  const std::vector<Insn>& insns = b.insns;
  const size_t n = insns.size();
  const size_t max_bytes = kFixedBytes + kPerInsnBytes * n;
  uint8_t* mem = arena_.reserve(max_bytes);
  if (!mem || n == 0) {
    ++stats_.arena_full;
    return false;
  }
  X86Emitter e(mem, max_bytes);
  const bool legacy = (b.mode_key & 1) == 0;
  const void* chain_exit = legacy ? chain_exit_legacy_ : chain_exit64_;
  const bool chains = b.chainable && chain_exit;

  e.push_rbx();
  e.mov(Reg64::RBX, Reg64::RDI);
  e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(&b));
  e.store_rbx(field(offsetof(CpuState, tier1_region)), Reg64::RAX);
  e.store_rbx(field(offsetof(CpuState, tier1_block)), Reg64::RAX);
  e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(&profile::g_activity));
  e.store8_at_rax(profile::kThreaded);
  if (entry_counter) {
    e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(entry_counter));
    e.inc_at_rax();
  }
  std::vector<X86Emitter::Label> leave(n);
  for (size_t i = 0; i < n; ++i) {
    const bool last = i + 1 == n;
    if (last && chains) {
      e.load_rbx(Reg64::RAX, field(offsetof(CpuState, rip)));
      e.store_rbx(field(offsetof(CpuState, tier1_last_rip)), Reg64::RAX);
    }
    e.mov(Reg64::RDI, Reg64::RBX);
    e.mov_imm(Reg64::RSI, reinterpret_cast<uint64_t>(&insns[i]));
    e.call(reinterpret_cast<const void*>(insns[i].fn));
    if (last) break;
    e.cmp_rbx32_zero(field(offsetof(CpuState, exit_request)));
    leave[i + 1] = e.jcc(X86Emitter::kNE);
  }
  e.add_rbx_imm(field(offsetof(CpuState, insn_count)), static_cast<int32_t>(n));
  if (chains) {
    X86Emitter::Label counted{};
    if (entry_counter) {
      e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(entry_counter));
      e.mov_imm(Reg64::RCX, entry_limit);
      e.cmp_at_rax(Reg64::RCX);
      counted = e.jcc(X86Emitter::kAE);
    }
    e.mov_imm(Reg64::RAX, reinterpret_cast<uint64_t>(b.chain));
    e.store_rbx(field(offsetof(CpuState, tier1_chain)), Reg64::RAX);
    e.mov(Reg64::RDI, Reg64::RBX);
    e.pop_rbx();
    e.jmp(chain_exit);
    e.bind(counted);
  }
  e.pop_rbx();
  e.ret();
  // The early exits: after instruction k - 1 set exit_request, k instructions completed.
  uint8_t* leave_common = nullptr;
  for (size_t k = 1; k < n; ++k) {
    e.bind(leave[k]);
    e.mov_imm(Reg64::RAX, k);
    if (!leave_common) {
      leave_common = e.pos();
      e.add_rbx(field(offsetof(CpuState, insn_count)), Reg64::RAX);
      e.pop_rbx();
      e.ret();
    } else {
      e.bind_to(e.jmp_forward(), leave_common);
    }
  }
  if (!e.ok()) {  // cannot happen with the bounds above; never run half-written code
    ++stats_.arena_full;
    return false;
  }
  out->fn = reinterpret_cast<BlockFn>(mem);
  out->handle = arena_.commit(e.size());
  ++stats_.blocks;
  stats_.insns += n;
  stats_.bytes += e.size();
  if (std::FILE* f = perf_map()) {
    char line[96];
    const int len = std::snprintf(line, sizeof line, "%llx %zx umbra_th_p%llx\n",
                                  static_cast<unsigned long long>(reinterpret_cast<uintptr_t>(mem)),
                                  e.size(), static_cast<unsigned long long>(b.paddr));
    std::fwrite(line, 1, static_cast<size_t>(len), f);
    std::fflush(f);
  }
  stats_.ns += now_ns() - t0;
  return true;
}

void ThreadedCompiler::release(uint32_t handle) {
  arena_.release(handle);
  ++stats_.released;
}

}  // namespace umbra::threaded
