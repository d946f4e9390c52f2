// Tier-0 engine: block building, precise faults, instruction counting, self-modifying code,
// the instruction budget and port I/O, run on the flat 64-bit test machine.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jit/tier0.h"
#include "machine/flat64.h"

namespace umbra {
namespace {

constexpr uint64_t kCode = 0x1000;

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : m_(16u << 20) {}
  RunResult run(const std::vector<uint8_t>& code, uint64_t limit = ~uint64_t{0}) {
    m_.load(kCode, code.data(), code.size());
    m_.reset64(kCode, 0x80000);
    return m_.run(limit);
  }
  Flat64Machine m_;
};

TEST_F(EngineTest, HaltStopsWithRipPastHlt) {
  // mov eax, 7; hlt
  RunResult r = run({0xb8, 7, 0, 0, 0, 0xf4});
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(r.insns, 2u);
  EXPECT_EQ(m_.cpu().rip, kCode + 6);
  EXPECT_EQ(m_.cpu().gpr[RAX], 7u);
}

TEST_F(EngineTest, FaultMidBlockIsPrecise) {
  // mov rax, 5; ud2; mov rax, 6
  RunResult r = run({0x48, 0xc7, 0xc0, 5, 0, 0, 0, 0x0f, 0x0b, 0x48, 0xc7, 0xc0, 6, 0, 0, 0});
  EXPECT_EQ(r.reason, kExitFault);
  EXPECT_EQ(r.vector, kUD);
  EXPECT_EQ(m_.cpu().rip, kCode + 7);
  EXPECT_EQ(m_.cpu().gpr[RAX], 5u);
  EXPECT_EQ(r.insns, 1u);
}

TEST_F(EngineTest, DivideErrorLeavesStateUntouched) {
  // mov eax, 10; xor ecx, ecx; div ecx; hlt
  RunResult r = run({0xb8, 10, 0, 0, 0, 0x31, 0xc9, 0xf7, 0xf1, 0xf4});
  EXPECT_EQ(r.reason, kExitFault);
  EXPECT_EQ(r.vector, kDE);
  EXPECT_EQ(m_.cpu().rip, kCode + 7);
  EXPECT_EQ(m_.cpu().gpr[RAX], 10u);
}

TEST_F(EngineTest, LoopRunsFromCachedBlocks) {
  // mov ecx, 1000; L: dec ecx; jnz L; hlt
  RunResult r = run({0xb9, 0xe8, 0x03, 0, 0, 0xff, 0xc9, 0x75, 0xfc, 0xf4});
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(r.insns, 1u + 2 * 1000 + 1);
  EXPECT_LE(m_.engine().stats().blocks_built, 4u);
  EXPECT_GE(m_.engine().stats().jump_cache_hits, 990u);
}

TEST_F(EngineTest, SelfModifyingCodeInSameBlock) {
  // mov byte [rip+1], 2  (patches the immediate of the next instruction); mov ecx, 1; hlt
  RunResult r = run({0xc6, 0x05, 0x01, 0, 0, 0, 0x02, 0xb9, 0x01, 0, 0, 0, 0xf4});
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m_.cpu().gpr[RCX], 2u);
  EXPECT_GE(m_.engine().stats().blocks_invalidated, 1u);
}

TEST_F(EngineTest, SelfModifyingCodeAcrossBlocks) {
  // 0x1000: mov ecx, 1          (patched below)
  // 0x1005: inc edx
  // 0x1007: cmp edx, 2
  // 0x100a: je done (+9)
  // 0x100c: mov byte [rip - 0x12], 0x40  -> the immediate at 0x1001 becomes 0x40
  // 0x1013: jmp 0x1000 (-0x15)
  // 0x1015: done: hlt
  std::vector<uint8_t> code = {0xb9, 0x01, 0, 0, 0,     0xff, 0xc2, 0x83, 0xfa, 0x02, 0x74,
                               0x09, 0xc6, 0x05, 0xee,  0xff, 0xff, 0xff, 0x40, 0xeb, 0xeb,
                               0xf4};
  RunResult r = run(code);
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m_.cpu().gpr[RDX], 2u);
  EXPECT_EQ(m_.cpu().gpr[RCX], 0x40u);
}

TEST_F(EngineTest, InstructionBudgetStopsAnEndlessLoop) {
  RunResult r = run({0xeb, 0xfe}, 1000);  // jmp $
  EXPECT_EQ(r.reason, kExitInsnLimit);
  EXPECT_GE(r.insns, 1000u);
  EXPECT_EQ(m_.cpu().rip, kCode);
}

TEST_F(EngineTest, PortOutputReachesTheBus) {
  std::string out;
  PortHandler h;
  h.write = [&](uint16_t, unsigned, uint32_t v) { out.push_back(static_cast<char>(v)); };
  m_.ports().add(0xe9, 1, h, "capture");
  // mov al, 'o'; out 0xe9, al; mov al, 'k'; mov dx, 0xe9; out dx, al; hlt
  RunResult r = run({0xb0, 'o', 0xe6, 0xe9, 0xb0, 'k', 0x66, 0xba, 0xe9, 0x00, 0xee, 0xf4});
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(out, "ok");
}

TEST_F(EngineTest, HaltAtUserPrivilegeIsGeneralProtection) {
  std::vector<uint8_t> code = {0xf4};
  m_.load(kCode, code.data(), code.size());
  m_.reset64(kCode, 0x80000, /*cpl=*/3);
  RunResult r = m_.run();
  EXPECT_EQ(r.reason, kExitFault);
  EXPECT_EQ(r.vector, kGP);
  EXPECT_EQ(r.error_code, 0u);
  EXPECT_EQ(m_.cpu().rip, kCode);
}

}  // namespace
}  // namespace umbra
