// Engine speed: guest MIPS on small integer loops on tier 0 and on tier 1 (every block compiled
// before it first runs), and the same machine code run natively in this process, side by side
// in one run (docs/bench.md). Timings are never asserted; the
// figures are printed for the record.
#include <sys/mman.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "jit/tier0.h"
#include "machine/flat64.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Workload {
  const char* name;
  std::vector<uint8_t> code;  // ends with HLT (F4); natively replaced by RET (C3)
  uint64_t iterations;
  unsigned insns_per_iteration;
  unsigned fixed_insns;  // outside the loop, including the final HLT
  bool needs_buffer;     // RSI points at an 8-byte-per-iteration buffer
};

void put_imm32(std::vector<uint8_t>& v, uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<uint8_t>(x >> (8 * i)));
}

Workload alu_loop(uint32_t n) {
  // mov rcx, n; xor eax, eax; L: add rax, rcx; xor rax, 0x55; dec rcx; jnz L; hlt
  std::vector<uint8_t> c = {0x48, 0xc7, 0xc1};
  put_imm32(c, n);
  c.insert(c.end(), {0x31, 0xc0, 0x48, 0x01, 0xc8, 0x48, 0x83, 0xf0, 0x55, 0x48, 0xff, 0xc9, 0x75,
                     0xf4, 0xf4});
  return {"alu loop (add/xor/dec/jnz)", c, n, 4, 3, false};
}

Workload memory_loop(uint32_t n) {
  // mov rcx, n; xor eax, eax;
  // L: mov rdx, [rsi+rcx*8-8]; add rdx, rax; mov [rsi+rcx*8-8], rdx; inc rax; dec rcx; jnz L
  std::vector<uint8_t> c = {0x48, 0xc7, 0xc1};
  put_imm32(c, n);
  c.insert(c.end(), {0x31, 0xc0,                    // xor eax, eax
                     0x48, 0x8b, 0x54, 0xce, 0xf8,  // mov rdx, [rsi+rcx*8-8]
                     0x48, 0x01, 0xc2,              // add rdx, rax
                     0x48, 0x89, 0x54, 0xce, 0xf8,  // mov [rsi+rcx*8-8], rdx
                     0x48, 0xff, 0xc0,              // inc rax
                     0x48, 0xff, 0xc9,              // dec rcx
                     0x75, 0xeb,                    // jnz L (-21)
                     0xf4});
  return {"memory loop (load/add/store/inc/dec/jnz)", c, n, 6, 3, true};
}

double run_native(const Workload& w, uint8_t* buffer) {
  void* page =
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 0;
  std::memcpy(page, w.code.data(), w.code.size());
  static_cast<uint8_t*>(page)[w.code.size() - 1] = 0xc3;  // RET instead of HLT
  auto t0 = Clock::now();
  // The loops clobber rax, rcx, rdx and read rsi.
  __asm__ volatile("call *%0" ::"r"(page), "S"(buffer) : "rax", "rcx", "rdx", "memory", "cc");
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  munmap(page, 4096);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace umbra;
  uint32_t n = argc > 1 ? static_cast<uint32_t>(std::strtoul(argv[1], nullptr, 0)) : 50'000'000;
  const uint64_t kBuffer = 0x400000, kCode = 0x100000;
  std::printf("%-42s %-8s %12s %10s %10s %10s %12s\n", "workload", "engine", "guest insns",
              "seconds", "MIPS", "native s", "x native");
  for (const Workload& w : {alu_loop(n), memory_loop(n / 4)}) {
    uint64_t buf_bytes = w.needs_buffer ? w.iterations * 8 : 0;
    std::vector<uint8_t> native_buf(buf_bytes + 8);
    const double ns = run_native(w, native_buf.data());
    for (AccelMode mode : {AccelMode::Tier0, AccelMode::Jit}) {
      Flat64Machine m(64ull << 20 > kBuffer + buf_bytes ? 64ull << 20 : kBuffer + buf_bytes + 4096);
      m.engine().set_accel(mode);
      m.load(kCode, w.code.data(), w.code.size());
      m.reset64(kCode, 0x80000);
      m.cpu().gpr[RSI] = kBuffer;
      auto t0 = Clock::now();
      RunResult r = m.run();
      double s = std::chrono::duration<double>(Clock::now() - t0).count();
      const uint64_t expected = w.iterations * w.insns_per_iteration + w.fixed_insns;
      if (!(r.reason & kExitHalt) || r.insns != expected) {
        std::fprintf(stderr, "%s: unexpected end (reason %#x, %llu insns, expected %llu)\n", w.name,
                     r.reason, static_cast<unsigned long long>(r.insns),
                     static_cast<unsigned long long>(expected));
        return 1;
      }
      std::printf("%-42s %-8s %12llu %10.3f %10.1f %10.3f %11.1fx\n", w.name,
                  mode == AccelMode::Tier0 ? "tier0" : "jit",
                  static_cast<unsigned long long>(r.insns), s, r.insns / s / 1e6, ns,
                  ns > 0 ? s / ns : 0.0);
    }
  }
  return 0;
}
