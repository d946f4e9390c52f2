// Tier-0 engine: block building, precise faults, instruction counting, self-modifying code,
// the instruction budget and port I/O, run on the flat 64-bit test machine.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "jit/tier0.h"
#include "machine/flat64.h"
#include "softmmu/access.h"

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

TEST_F(EngineTest, MemoryFaultMidBlockIsPrecise) {
  // mov rax, 5; mov rcx, 0x8000000000000000; mov rbx, [rcx]; mov rax, 6; hlt. The load's
  // non-canonical address misses the fast TLB and faults in the slow path: compiled code must
  // have RIP and the count of completed instructions in the CpuState before it calls out, even
  // where it keeps them in registers (docs/jit.md "Two levels").
  RunResult r = run({0x48, 0xc7, 0xc0, 5,    0,    0,    0,    0x48, 0xb9, 0, 0, 0, 0, 0,
                     0,    0,    0x80, 0x48, 0x8b, 0x19, 0x48, 0xc7, 0xc0, 6, 0, 0, 0, 0xf4});
  EXPECT_EQ(r.reason, kExitFault);
  EXPECT_EQ(r.vector, kGP);
  EXPECT_EQ(m_.cpu().rip, kCode + 17);
  EXPECT_EQ(m_.cpu().gpr[RAX], 5u);
  EXPECT_EQ(m_.cpu().gpr[RCX], 0x8000000000000000u);
  EXPECT_EQ(r.insns, 2u);
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
  // Found again without decoding: through the jump cache or the loop block's chain slot (or not
  // at all when tier-1 code jumps to itself).
  const EngineStats& s = m_.engine().stats();
  EXPECT_GE(s.jump_cache_hits + s.chain_hits + s.tier1_insns / 2, 990u);
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
  std::vector<uint8_t> code = {0xb9, 0x01, 0,    0,    0,    0xff, 0xc2, 0x83, 0xfa, 0x02, 0x74,
                               0x09, 0xc6, 0x05, 0xee, 0xff, 0xff, 0xff, 0x40, 0xeb, 0xeb, 0xf4};
  RunResult r = run(code);
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m_.cpu().gpr[RDX], 2u);
  EXPECT_EQ(m_.cpu().gpr[RCX], 0x40u);
}

// A loop that tier 1 compiles as a region (its blocks A and B in one function, at low
// thresholds) patches B's code halfway: from then on B must add 3, not 1. The run is sliced so
// the dispatcher installs code (and, in compile-everything mode, forms the region) often.
TEST_F(EngineTest, SelfModifyingCodeInsideARegion) {
  // 0x1000: mov ecx, 2000000
  // 0x1005: xor edx, edx
  // 0x1007: A: cmp ecx, 1000000
  // 0x100d: jne B (+7)
  // 0x100f: mov byte [rip + 2], 3   -> the imm8 of B's add at 0x1018
  // 0x1016: B: add edx, 1
  // 0x1019: dec ecx
  // 0x101b: jnz A (-0x16)
  // 0x101d: hlt
  std::vector<uint8_t> code = {0xb9, 0x80, 0x84, 0x1e, 0x00, 0x31, 0xd2, 0x81, 0xf9, 0x40,
                               0x42, 0x0f, 0x00, 0x75, 0x07, 0xc6, 0x05, 0x02, 0x00, 0x00,
                               0x00, 0x03, 0x83, 0xc2, 0x01, 0xff, 0xc9, 0x75, 0xea, 0xf4};
  m_.engine().set_hot_threshold(10);
  m_.engine().set_optimize_threshold(100);
  m_.load(kCode, code.data(), code.size());
  m_.reset64(kCode, 0x80000);
  RunResult r;
  uint64_t insns = 0;
  do {
    r = m_.run(997);
    insns += r.insns;
  } while (r.reason == kExitInsnLimit);
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m_.cpu().gpr[RDX], 1000000u + 3u * 1000000u);
  EXPECT_EQ(insns, 2u + 2000000u * 5u + 1u + 1u);  // the patching MOV runs once
  // (Not when compile-everything makes threaded code only: UMBRA_JIT_FIRST_LEVEL=threaded.)
  if (m_.engine().accel() == AccelMode::CompileAll && m_.engine().stats().threaded_installed == 0) {
    EXPECT_GE(m_.engine().stats().tier1_regions, 1u);
  }
}

// Identity, except that linear page 0x5000 maps to physical 0x5000 or 0x6000.
class SwitchablePage final : public AddressTranslator {
 public:
  Translation translate(CpuState&, uint64_t linear, Access) override {
    if ((linear & ~uint64_t{0xfff}) == 0x5000 && to_second_) return {linear + 0x1000, true, true};
    return {linear, true, true};
  }
  bool to_second_ = false;
};

// Chained tier-1 code links a successor on another page (a CALL from page 1 to page 5 and the
// RET back) with that page's host address, and must check it against the fast TLB on every
// jump: after page 5 is remapped to other code (and the TLB flushed, as INVLPG or a CR3 load
// does), the same CALL must reach the new code.
TEST(EngineChainTest, ChainToAnotherPageFollowsARemap) {
  SwitchablePage pages;
  Flat64Machine m(16u << 20, &pages);
  // 0x1000: mov ecx, 1000
  // 0x1005: L: call 0x5000
  // 0x100a: dec ecx
  // 0x100c: jnz L (-9)
  // 0x100e: hlt
  const std::vector<uint8_t> main = {0xb9, 0xe8, 0x03, 0x00, 0x00, 0xe8, 0xf6, 0x3f,
                                     0x00, 0x00, 0xff, 0xc9, 0x75, 0xf7, 0xf4};
  const std::vector<uint8_t> first = {0x83, 0xc2, 0x01, 0xc3};   // add edx, 1; ret
  const std::vector<uint8_t> second = {0x83, 0xc2, 0x64, 0xc3};  // add edx, 100; ret
  m.load(0x1000, main.data(), main.size());
  m.load(0x5000, first.data(), first.size());
  m.load(0x6000, second.data(), second.size());
  m.engine().set_hot_threshold(10);
  for (int round = 0; round < 2; ++round) {
    m.reset64(0x1000, 0x80000);
    RunResult r;
    do r = m.run(997);
    while (r.reason == kExitInsnLimit);
    EXPECT_EQ(r.reason, kExitHalt);
    EXPECT_EQ(m.cpu().gpr[RDX], round == 0 ? 1000u : 100000u) << "round " << round;
    pages.to_second_ = true;
    tlb_flush_all(m.cpu());
  }
}

// Identity, except that linear page 0x9000 is a second mapping of physical page 0x1000.
class AliasedCodePage final : public AddressTranslator {
 public:
  Translation translate(CpuState&, uint64_t linear, Access) override {
    if ((linear & ~uint64_t{0xfff}) == 0x9000) return {linear - 0x8000, true, true};
    return {linear, true, true};
  }
};

// The same physical code run hot at two linear addresses: its blocks (keyed by physical
// address) are shared, but tier-1 code specialized to one address (docs/jit.md "Code specialized
// to its address") must not run at the other. The loop reads RIP (LEA RAX, [RIP]), so code that
// ran with the first mapping's RIP would sum the wrong addresses.
TEST(EngineAliasTest, CodeAtTwoLinearAddressesSeesItsOwnRip) {
  AliasedCodePage pages;
  Flat64Machine m(16u << 20, &pages);
  // 0x1000: mov ecx, 100
  // 0x1005: L: lea rax, [rip]     -> 0x100c, or 0x900c through the alias
  // 0x100c: add rdx, rax
  // 0x100f: dec ecx
  // 0x1011: jnz L
  // 0x1013: ret
  const std::vector<uint8_t> fn = {0xb9, 0x64, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x05, 0x00, 0x00,
                                   0x00, 0x00, 0x48, 0x01, 0xc2, 0xff, 0xc9, 0x75, 0xf2, 0xc3};
  // 0x2000: mov esi, 200;  M1: call 0x1000; dec esi; jnz M1
  // 0x200e: mov esi, 200;  M2: call 0x9000; dec esi; jnz M2
  // 0x201c: hlt
  const std::vector<uint8_t> main = {0xbe, 0xc8, 0x00, 0x00, 0x00, 0xe8, 0xf6, 0xef, 0xff, 0xff,
                                     0xff, 0xce, 0x75, 0xf7, 0xbe, 0xc8, 0x00, 0x00, 0x00, 0xe8,
                                     0xe8, 0x6f, 0x00, 0x00, 0xff, 0xce, 0x75, 0xf7, 0xf4};
  m.load(0x1000, fn.data(), fn.size());
  m.load(0x2000, main.data(), main.size());
  m.engine().set_hot_threshold(10);
  m.engine().set_optimize_threshold(100);
  m.reset64(0x2000, 0x80000);
  RunResult r;
  do r = m.run(997);
  while (r.reason == kExitInsnLimit);
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m.cpu().gpr[RDX], 200u * 100u * 0x100cu + 200u * 100u * 0x900cu);
  // Compile-everything compiles the loop's region at once, for the first address: the second
  // mapping's entries miss it until it is recompiled for that one.
  if (m.engine().accel() == AccelMode::CompileAll && m.engine().stats().threaded_installed == 0) {
    EXPECT_GE(m.engine().stats().rip_mismatches, 1u);
    EXPECT_GE(m.engine().stats().respecialized, 1u);
  }
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

namespace umbra {
namespace {

// A one-vector interrupt controller for the engine's interrupt path.
class OneShotController final : public InterruptController {
 public:
  explicit OneShotController(uint8_t vector) : vector_(vector) {}
  bool has_interrupt() override { return pending_; }
  uint8_t acknowledge() override {
    pending_ = false;
    ++acks_;
    return vector_;
  }
  bool pending_ = true;
  int acks_ = 0;

 private:
  uint8_t vector_;
};

// 64-bit mode with a GDT (code at 0x08) and an IDT whose vector 0x20 gate enters `handler`.
void install_idt(Flat64Machine& m, uint64_t handler) {
  const uint64_t gdt[3] = {0, 0x00209A0000000000ull, 0x0000920000000000ull};
  m.load(0x2000, gdt, sizeof(gdt));
  uint64_t gate[2];
  gate[0] = (handler & 0xffff) | (uint64_t{0x08} << 16) | (uint64_t{0x8E} << 40) |
            (((handler >> 16) & 0xffff) << 48);
  gate[1] = handler >> 32;
  m.load(0x3000 + 0x20 * 16, gate, sizeof(gate));
  m.cpu().gdtr = DescriptorTableReg{0x2000, sizeof(gdt) - 1};
  m.cpu().idtr = DescriptorTableReg{0x3000, 0xfff};
}

TEST_F(EngineTest, ExternalInterruptWaitsForTheStiShadow) {
  // sti; mov eax, 1; mov eax, 2; hlt  -- handler at 0x5000: mov ebx, eax; hlt
  const std::vector<uint8_t> code = {0xfb, 0xb8, 1, 0, 0, 0, 0xb8, 2, 0, 0, 0, 0xf4};
  const std::vector<uint8_t> handler = {0x89, 0xc3, 0xf4};
  m_.load(kCode, code.data(), code.size());
  m_.load(0x5000, handler.data(), handler.size());
  m_.reset64(kCode, 0x80000);
  install_idt(m_, 0x5000);
  m_.cpu().rflags &= ~rf::IF;
  OneShotController pic(0x20);
  m_.engine().set_deliver_events(true);
  m_.engine().set_interrupt_controller(&pic);
  m_.cpu().irq_line = 1;
  RunResult r = m_.run(1000);
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(pic.acks_, 1);
  // The instruction after STI ran in the shadow; the interrupt came right after it.
  EXPECT_EQ(m_.cpu().gpr[RBX], 1u);
  EXPECT_EQ(m_.cpu().rip, 0x5003u);
  // The frame: RIP of the next instruction (the second mov), CS, RFLAGS with IF set.
  uint64_t frame[3];
  m_.memory().copy_from(0x80000 - 40, frame, sizeof(frame));
  EXPECT_EQ(frame[0], kCode + 6);
  EXPECT_EQ(frame[1], 0x08u);
  EXPECT_TRUE(frame[2] & rf::IF);
  EXPECT_FALSE(m_.cpu().rflags & rf::IF);  // interrupt gate clears IF
}

TEST_F(EngineTest, HaltWakesOnAnInterrupt) {
  // sti; hlt; mov ecx, 7; hlt -- the handler returns with IRETQ.
  const std::vector<uint8_t> code = {0xfb, 0xf4, 0xb9, 7, 0, 0, 0, 0xf4};
  const std::vector<uint8_t> handler = {0x48, 0xcf};  // iretq
  m_.load(kCode, code.data(), code.size());
  m_.load(0x5000, handler.data(), handler.size());
  m_.reset64(kCode, 0x80000);
  install_idt(m_, 0x5000);
  OneShotController pic(0x20);
  pic.pending_ = false;
  m_.engine().set_deliver_events(true);
  m_.engine().set_interrupt_controller(&pic);
  RunResult r = m_.run(1000);
  ASSERT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m_.cpu().rip, kCode + 2);
  // A device raises its line: the halted CPU takes the interrupt and continues after the HLT.
  pic.pending_ = true;
  m_.cpu().irq_line = 1;
  r = m_.run(1000);
  EXPECT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(pic.acks_, 1);
  EXPECT_EQ(m_.cpu().gpr[RCX], 7u);
  EXPECT_EQ(m_.cpu().rip, kCode + 8);
}

// Another thread's request (the monitor's stop, a device's interrupt) reaches a loop running in
// region code. The checks after each instruction read exit_request from the function's own copy
// of its word, which only calls refresh (docs/jit.md "Guest state in SSA values"), and a TLB hit
// skips them altogether; the check at a block boundary that may close a loop, here the loop's
// back edge, reads memory. With that read cached too, or that boundary unchecked, the loop would
// never stop.
void expect_request_stops_region_loop(const std::vector<uint8_t>& code) {
  Flat64Machine m(16u << 20);
  m.engine().set_accel(AccelMode::Jit);
  m.engine().set_hot_threshold(10);
  m.engine().set_optimize_threshold(100);
  m.load(kCode, code.data(), code.size());
  m.reset64(kCode, 0x80000);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (m.engine().stats().tier1_regions == 0 && std::chrono::steady_clock::now() < deadline)
    ASSERT_EQ(m.run(100000).reason, kExitInsnLimit);
  ASSERT_GE(m.engine().stats().tier1_regions, 1u);  // (tier 1 is unavailable otherwise)
  std::atomic<bool> returned{false}, fell_back{false};
  std::thread stopper([&m, &returned, &fell_back] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    __atomic_fetch_or(&m.cpu().exit_request, kExitRequested, __ATOMIC_SEQ_CST);
    // Should the request go unseen, end the run through its budget instead of hanging: the
    // test then fails on the reason. (Code that never tests the boundary hangs either way.)
    for (int i = 0; i < 100 && !returned; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (returned) return;
    fell_back = true;
    __atomic_store_n(&m.cpu().insn_limit, uint64_t{0}, __ATOMIC_SEQ_CST);
  });
  const RunResult r = m.run(~uint64_t{0});
  returned = true;
  stopper.join();
  EXPECT_FALSE(fell_back);
  EXPECT_NE(r.reason & kExitRequested, 0u);
  EXPECT_EQ(m.cpu().rip & ~uint64_t{0x1f}, kCode);
}

TEST(EngineStopTest, AnotherThreadStopsALoopInRegionCode) {
  // 0x1000: L: mov rax, [0x3000]; add rax, 1; mov [0x3000], rax; jmp L
  expect_request_stops_region_loop({0x48, 0x8b, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00,
                                    0x48, 0x83, 0xc0, 0x01, 0x48, 0x89, 0x04, 0x25,
                                    0x00, 0x30, 0x00, 0x00, 0xeb, 0xea});
}

// The same loop over two blocks, one region with two members: the edge A -> B is forward in
// member order and goes straight on, so only B -> A tests the boundary (docs/jit.md "Regions").
TEST(EngineStopTest, AnotherThreadStopsATwoBlockLoopInRegionCode) {
  // 0x1000: A: mov rax, [0x3000]; add rax, 1; jmp B; nop; nop
  // 0x1010: B: mov [0x3000], rax; jmp A
  expect_request_stops_region_loop({0x48, 0x8b, 0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0x48,
                                    0x83, 0xc0, 0x01, 0xeb, 0x02, 0x90, 0x90, 0x48, 0x89,
                                    0x04, 0x25, 0x00, 0x30, 0x00, 0x00, 0xeb, 0xe6});
}

}  // namespace
}  // namespace umbra
