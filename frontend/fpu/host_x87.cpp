#include "frontend/fpu/host_x87.h"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace umbra {
namespace {

// One generated stub per (opcode, ModRM) pair. Calling convention (SysV): rdi = image,
// rsi = memory operand, rdx = rflags slot. The stub is:
//   fnstcw [rsp-16]; frstor [rdi]; push [rdx]; popfq; <opcode modrm>; pushfq; pop [rdx];
//   fnsave [rdi]; fldcw [rsp-16]; ret
// The memory form uses ModRM mod=00 rm=110 ([rsi]). The stub runs with the guest's control
// word; it is generated because the instruction must be the guest's own encoding.
using Stub = void (*)(void* image, void* mem, uint64_t* rflags);

constexpr size_t kStubSize = 32;
constexpr size_t kStubCount = 8 * 256;

struct StubArena {
  uint8_t* code = nullptr;
  std::array<std::atomic<bool>, kStubCount> built{};
  std::mutex lock;
};

StubArena& arena() {
  static StubArena a;
  return a;
}

Stub stub_for(uint8_t opcode, uint8_t modrm) {
  StubArena& a = arena();
  const size_t index = static_cast<size_t>(opcode & 7) * 256 + modrm;
  // Built stubs are never modified again: the common case needs no lock.
  if (a.built[index].load(std::memory_order_acquire))
    return reinterpret_cast<Stub>(a.code + index * kStubSize);
  std::lock_guard<std::mutex> g(a.lock);
  if (!a.code) {
    void* p = mmap(nullptr, kStubSize * kStubCount, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    a.code = static_cast<uint8_t*>(p);
  }
  uint8_t* s = a.code + index * kStubSize;
  if (!a.built[index].load(std::memory_order_relaxed)) {
    const uint8_t rm = (modrm >> 6) == 3 ? modrm : static_cast<uint8_t>((modrm & 0x38) | 0x06);
    const uint8_t bytes[] = {
        0xD9,   0x7C, 0x24, 0xF0,  // fnstcw [rsp-16] (red zone, below the pushes)
        0xDD,   0x27,              // frstor [rdi]
        0xFF,   0x32,              // push qword [rdx]
        0x9D,                      // popfq
        opcode, rm,                // the instruction
        0x9C,                      // pushfq
        0x8F,   0x02,              // pop qword [rdx]
        0xDD,   0x37,              // fnsave [rdi]
        0xD9,   0x6C, 0x24, 0xF0,  // fldcw [rsp-16]
        0xC3,                      // ret
    };
    static_assert(sizeof(bytes) <= kStubSize);
    std::memcpy(s, bytes, sizeof(bytes));
    a.built[index].store(true, std::memory_order_release);
  }
  return reinterpret_cast<Stub>(s);
}

}  // namespace

void host_x87_execute(uint8_t opcode, uint8_t modrm, HostX87Frame& frame) {
  // Only the status flags come from the guest; the host's own IF/DF/TF/AC stay as they are.
  constexpr uint64_t kStatus = 0x8D5;
  const uint64_t host = __builtin_ia32_readeflags_u64();
  uint64_t flags = (host & ~kStatus) | (frame.rflags & kStatus);
  stub_for(opcode, modrm)(frame.image, frame.mem, &flags);
  frame.rflags = flags;
}

}  // namespace umbra
