// Threaded code (jit/threaded, docs/jit.md "Threaded code"): the emitter's encodings against
// Capstone, the code arena's reuse of chunks, and warm blocks running as chained threaded code
// on the flat 64-bit machine.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "frontend/disasm.h"
#include "frontend/flags.h"
#include "jit/threaded/code_arena.h"
#include "jit/threaded/x86_emitter.h"
#include "jit/tier0.h"
#include "machine/flat64.h"

namespace umbra {
namespace {

using threaded::CodeArena;
using threaded::Reg64;
using threaded::X86Emitter;

// Emits one instruction into a buffer at `address` and disassembles it with Capstone: the
// emitter must produce exactly one instruction of the expected text, using all of its bytes.
template <typename F>
std::string emit_one(F&& emit) {
  uint8_t buf[32] = {};
  X86Emitter e(buf, sizeof buf);
  emit(e);
  EXPECT_TRUE(e.ok());
  const Disassembly d =
      disassemble_one(buf, static_cast<unsigned>(e.size()), reinterpret_cast<uint64_t>(buf), 64);
  EXPECT_EQ(d.length, e.size()) << d.mnemonic << " " << d.operands;
  return d.mnemonic + " " + d.operands;
}

TEST(ThreadedEmitter, EncodingsAgreeWithCapstone) {
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.push_rbx(); }), "push rbx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.pop_rbx(); }), "pop rbx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.mov(Reg64::RBX, Reg64::RDI); }), "mov rbx, rdi");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.mov(Reg64::RDI, Reg64::RBX); }), "mov rdi, rbx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.mov_imm(Reg64::RSI, 0x12345678); }),
            "mov esi, 0x12345678");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.mov_imm(Reg64::RAX, 0x123456789abcdef0); }),
            "movabs rax, 0x123456789abcdef0");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.mov_imm(Reg64::RCX, 0x100000000); }),
            "movabs rcx, 0x100000000");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.store_rbx(0x40, Reg64::RAX); }),
            "mov qword ptr [rbx + 0x40], rax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.store_rbx(0x1238, Reg64::RAX); }),
            "mov qword ptr [rbx + 0x1238], rax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.load_rbx(Reg64::RAX, 0x80); }),
            "mov rax, qword ptr [rbx + 0x80]");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.add_rbx_imm(0x2000, 17); }),
            "add qword ptr [rbx + 0x2000], 0x11");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.add_rbx(0x10, Reg64::RAX); }),
            "add qword ptr [rbx + 0x10], rax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.cmp_rbx32_zero(0x1a40); }),
            "cmp dword ptr [rbx + 0x1a40], 0");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.inc_at_rax(); }), "inc qword ptr [rax]");
  EXPECT_EQ(emit_one([](X86Emitter& e) {
              e.movx(Reg64::RAX, threaded::at(Reg64::RBX, 0x28), true, 4, true);
            }),
            "movsxd rax, dword ptr [rbx + 0x28]");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.cmp_at_rax(Reg64::RCX); }), "cmp qword ptr [rax], rcx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.cmp_at_rax_imm(200000); }),
            "cmp qword ptr [rax], 0x30d40");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.store8_at_rax(3); }), "mov byte ptr [rax], 3");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.cmp_imm8(threaded::at(Reg64::RSI, 0x48), -1); }),
            "cmp qword ptr [rsi + 0x48], -1");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.cmp32_imm(threaded::at(Reg64::RSI, 8), 3); }),
            "cmp dword ptr [rsi + 8], 3");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.cmp8_imm(threaded::at(Reg64::RSI, 0x99), 0); }),
            "cmp byte ptr [rsi + 0x99], 0");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.add(Reg64::RSI, Reg64::RAX); }), "add rsi, rax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.imul_imm8(Reg64::RAX, Reg64::RAX, 24); }),
            "imul rax, rax, 0x18");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.load(Reg64::RDX, threaded::at(Reg64::RSI)); }),
            "mov rdx, qword ptr [rsi]");
  EXPECT_EQ(emit_one([](X86Emitter& e) {
              e.cmp(Reg64::RDX, threaded::at(Reg64::RBX, Reg64::RDI, 0x1000));
            }),
            "cmp rdx, qword ptr [rbx + rdi + 0x1000]");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.and_imm(Reg64::RDX, -4096); }),
            "and rdx, 0xfffffffffffff000");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.shr(Reg64::RDI, 7); }), "shr rdi, 7");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.xor_(Reg64::RDX, Reg64::RCX); }), "xor rdx, rcx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.test(Reg64::RAX, Reg64::RAX); }), "test rax, rax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.test32_imm(threaded::at(Reg64::RBX, 0x200), 0x10100); }),
            "test dword ptr [rbx + 0x200], 0x10100");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.jmp(Reg64::RAX); }), "jmp rax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.load_rbx32(Reg64::RCX, 0x98); }),
            "mov ecx, dword ptr [rbx + 0x98]");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.store_rbx16_imm(0xa8, 0x0805); }),
            "mov word ptr [rbx + 0xa8], 0x805");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.store_rbx8_imm(0xaa, 0); }),
            "mov byte ptr [rbx + 0xaa], 0");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.alu(X86Emitter::kSub, Reg64::RAX, Reg64::RCX, true); }),
            "sub rax, rcx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.alu(X86Emitter::kXor, Reg64::RAX, Reg64::RCX, false); }),
            "xor eax, ecx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.alu(X86Emitter::kOr, Reg64::RAX, Reg64::RCX, true); }),
            "or rax, rcx");
  // Session 11's forms.
  EXPECT_EQ(emit_one([](X86Emitter& e) {
              e.alu_load(X86Emitter::kCmpLoad, Reg64::RAX, threaded::at(Reg64::RBX, 0x98), false);
            }),
            "cmp eax, dword ptr [rbx + 0x98]");
  EXPECT_EQ(emit_one([](X86Emitter& e) {
              e.alu_load(X86Emitter::kAdd + 2, Reg64::RAX, threaded::at(Reg64::RBX, 0x98), true);
            }),
            "add rax, qword ptr [rbx + 0x98]");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.test(Reg64::RAX, Reg64::RAX, false); }),
            "test eax, eax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.sar(Reg64::RDI, 16); }), "sar rdi, 0x10");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.setcc(X86Emitter::kB, Reg64::RAX); }), "setb al");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.store_rbx8(0xaa, Reg64::RAX); }),
            "mov byte ptr [rbx + 0xaa], al");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.shift_imm(1, Reg64::RAX, 7, false); }), "ror eax, 7");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.shift_imm(7, Reg64::RAX, 3, true); }), "sar rax, 3");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.load_narrow(Reg64::RAX, threaded::at(Reg64::RDX), 1); }),
            "mov al, byte ptr [rdx]");
  EXPECT_EQ(
      emit_one([](X86Emitter& e) { e.load_narrow(Reg64::RAX, threaded::at(Reg64::RBX, 8), 2); }),
      "mov ax, word ptr [rbx + 8]");
  EXPECT_EQ(
      emit_one([](X86Emitter& e) { e.store_narrow(threaded::at(Reg64::RDX), Reg64::RAX, 1); }),
      "mov byte ptr [rdx], al");
  EXPECT_EQ(
      emit_one([](X86Emitter& e) { e.store_narrow(threaded::at(Reg64::RBX, 8), Reg64::RAX, 2); }),
      "mov word ptr [rbx + 8], ax");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.store_narrow_imm(threaded::at(Reg64::RDX), 0x7f, 1); }),
            "mov byte ptr [rdx], 0x7f");
  EXPECT_EQ(
      emit_one([](X86Emitter& e) { e.store_narrow_imm(threaded::at(Reg64::RDX), 0x1234, 2); }),
      "mov word ptr [rdx], 0x1234");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.imul(Reg64::RAX, Reg64::RCX, false); }),
            "imul eax, ecx");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.imul_imm(Reg64::RAX, Reg64::RCX, -7, true); }),
            "imul rax, rcx, -7");
  EXPECT_EQ(emit_one([](X86Emitter& e) { e.ret(); }), "ret ");
}

TEST(ThreadedEmitter, BranchesReachTheirTargets) {
  uint8_t buf[64] = {};
  X86Emitter e(buf, sizeof buf);
  // A near call in reach is a 5-byte rel32 call to exactly the target.
  e.call(buf + 40);
  Disassembly d = disassemble_one(buf, 5, reinterpret_cast<uint64_t>(buf), 64);
  EXPECT_EQ(d.mnemonic, "call");
  EXPECT_EQ(std::stoull(d.operands, nullptr, 16), reinterpret_cast<uint64_t>(buf + 40));
  // A forward jne bound later lands where it was bound.
  const X86Emitter::Label l = e.jcc(X86Emitter::kNE);
  e.ret();
  e.ret();
  e.bind(l);
  d = disassemble_one(buf + 5, 6, reinterpret_cast<uint64_t>(buf + 5), 64);
  EXPECT_EQ(d.mnemonic, "jne");
  EXPECT_EQ(std::stoull(d.operands, nullptr, 16), reinterpret_cast<uint64_t>(buf + 13));
  // A target out of rel32 reach goes through RAX.
  uint8_t far_buf[16] = {};
  X86Emitter f(far_buf, sizeof far_buf);
  f.jmp(reinterpret_cast<const void*>(reinterpret_cast<uintptr_t>(far_buf) ^ (uint64_t{1} << 45)));
  EXPECT_EQ(f.size(), 12u);
  d = disassemble_one(far_buf + 10, 2, 0, 64);
  EXPECT_EQ(d.mnemonic + " " + d.operands, "jmp rax");
}

TEST(ThreadedEmitter, RefusesToOverrunItsBuffer) {
  uint8_t buf[12] = {};
  X86Emitter e(buf, 6);
  e.mov_imm(Reg64::RAX, 0x123456789abcdef0);  // 10 bytes
  e.ret();
  EXPECT_FALSE(e.ok());
  EXPECT_LE(e.size(), 6u);
  for (size_t i = 6; i < sizeof buf; ++i) EXPECT_EQ(buf[i], 0) << i;
}

TEST(ThreadedCodeArena, ReusesAChunkOnceAllItsCodeIsReleased) {
  CodeArena arena(4 * CodeArena::kChunkBytes);
  ASSERT_TRUE(arena.ok());
  std::vector<uint32_t> handles;
  // Fill more than one chunk with pieces of 1 KiB.
  for (int i = 0; i < 100; ++i) {
    uint8_t* p = arena.reserve(1024);
    ASSERT_NE(p, nullptr);
    p[0] = 0xc3;
    handles.push_back(arena.commit(1024));
  }
  EXPECT_EQ(arena.chunks_in_use(), 2u);
  // Releasing the first chunk's pieces empties it; the next new chunk reuses it.
  for (uint32_t h : handles)
    if (h == handles.front()) arena.release(h);
  EXPECT_EQ(arena.chunks_in_use(), 1u);
  // The arena is full after its four chunks: then reserve() says so.
  int pieces = 0;
  while (arena.reserve(CodeArena::kChunkBytes)) {
    arena.commit(CodeArena::kChunkBytes);
    ++pieces;
  }
  EXPECT_EQ(pieces, 3);  // the emptied chunk and the two never used
}

constexpr uint64_t kCode = 0x1000;

// Sums 1..1,000,000 into EDX, plus one for each odd counter value, over three blocks.
// 0x1000: mov ecx, 1000000
// 0x1005: xor edx, edx
// 0x1007: A: add edx, ecx
// 0x1009: test cl, 1
// 0x100c: jz B (+2)
// 0x100e: inc edx
// 0x1010: B: dec ecx
// 0x1012: jnz A (-0xd)
// 0x1014: hlt
const std::vector<uint8_t> kSumLoop = {0xb9, 0x40, 0x42, 0x0f, 0x00, 0x31, 0xd2,
                                       0x01, 0xca, 0xf6, 0xc1, 0x01, 0x74, 0x02,
                                       0xff, 0xc2, 0xff, 0xc9, 0x75, 0xf3, 0xf4};
constexpr uint64_t kSumLoopN = 1000000;
constexpr uint32_t kSumLoopEdx =
    static_cast<uint32_t>(kSumLoopN * (kSumLoopN + 1) / 2 + kSumLoopN / 2);

// The tiered mode with threaded code from a block's second run and LLVM code from its `hot`-th
// (never, by default); `code` loaded at kCode and entered there.
void run_threaded(Flat64Machine& m, const std::vector<uint8_t>& code, uint32_t hot = ~uint32_t{0}) {
  m.engine().set_accel(AccelMode::Jit);
  m.engine().set_warm_threshold(2);
  m.engine().set_hot_threshold(hot);
  m.load(kCode, code.data(), code.size());
  m.reset64(kCode, 0x80000);
}

// Warm blocks get threaded code and chain to each other (and to themselves) without the
// dispatcher: a loop of a million iterations over two blocks comes back to the dispatcher only
// at the run's slices, and computes what tier 0 computes.
TEST(ThreadedCode, WarmBlocksRunAsChainedThreadedCode) {
  Flat64Machine m(16u << 20);
  run_threaded(m, kSumLoop);
  RunResult r;
  uint64_t insns = 0, slices = 0;
  do {
    r = m.run(1000003);
    insns += r.insns;
    ++slices;
  } while (r.reason == kExitInsnLimit);
  ASSERT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m.cpu().gpr[RDX], kSumLoopEdx);
  EXPECT_EQ(insns, 2 + kSumLoopN * 5 + kSumLoopN / 2 + 1);
  const EngineStats& s = m.engine().stats();
  EXPECT_GE(s.threaded_installed, 3u);  // A, the inc block, B
  EXPECT_EQ(s.tier1_installed, 0u);
  ASSERT_NE(m.engine().threaded(), nullptr);
  EXPECT_GE(m.engine().threaded()->stats().blocks, 3u);
  // Without chaining, every one of the 2.5 million block runs would come from the dispatcher.
  EXPECT_LT(s.tier1_runs, 100 + 10 * slices);
  EXPECT_GE(s.tier1_insns, insns - 100);
}

// A block ending in an inline Jcc has a chain exit on each path, which knows at compile time
// whether the new RIP is on the last instruction's page. Here the taken path leads to the next
// page: told otherwise, its exit would look for a successor on this page, miss, and return to
// the dispatcher on every iteration.
// 0x1000: mov ecx, 100000
// 0x1005: L: dec ecx
// 0x1007: jnz F (+0xff3)
// 0x100d: hlt
// 0x2000: F: add eax, 2
// 0x2003: jmp L (-0x1003)
TEST(ThreadedCode, JccExitsChainToTheNextPage) {
  std::vector<uint8_t> code = {0xb9, 0xa0, 0x86, 0x01, 0x00, 0xff, 0xc9,
                               0x0f, 0x85, 0xf3, 0x0f, 0x00, 0x00, 0xf4};
  code.resize(0x1000);
  for (uint8_t byte : {0x83, 0xc0, 0x02, 0xe9, 0xfd, 0xef, 0xff, 0xff}) code.push_back(byte);
  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  const RunResult r = m.run(~uint64_t{0});
  ASSERT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m.cpu().gpr[RAX], 2u * 99999u);
  ASSERT_NE(m.engine().threaded(), nullptr);
  EXPECT_GE(m.engine().threaded()->stats().split_exits, 2u);
  EXPECT_LT(m.engine().stats().tier1_runs, 1000u);
}

// Blocks ending in a direct JMP to a block on their page jump straight to its code through a
// direct link site (docs/jit.md "Direct links"), past the slots' tests. The links must follow the
// successor: here a store rewrites the successor's immediate early on (its blocks are retired),
// and the blocks that jumped to the old code must not jump there again; with quick code from
// the 20th run, the links must follow the successor's new code too (every site still linked at
// the end is checked).
// 0x1000: mov ecx, 3000000; xor eax, eax
// 0x1007: L: dec ecx; jz D; cmp ecx, 2999990; jne S
// 0x1013: mov byte [rip + 0x68], 5     (B's immediate, at 0x1082)
// 0x101a: S: jmp B
// 0x101c: D: hlt
// 0x1080: B: add eax, 1; jmp L
TEST(ThreadedCode, DirectLinksFollowTheSuccessorsCode) {
  std::vector<uint8_t> code = {0xb9, 0xc0, 0xc6, 0x2d, 0x00, 0x31, 0xc0, 0xff, 0xc9, 0x74,
                               0x11, 0x81, 0xf9, 0xb6, 0xc6, 0x2d, 0x00, 0x75, 0x07, 0xc6,
                               0x05, 0x68, 0x00, 0x00, 0x00, 0x05, 0xeb, 0x64, 0xf4};
  code.resize(0x80);
  for (uint8_t byte : {0x83, 0xc0, 0x01, 0xeb, 0x82}) code.push_back(byte);
  for (const uint32_t hot : {~uint32_t{0}, 20u}) {
    Flat64Machine m(16u << 20);
    run_threaded(m, code, hot);
    m.engine().set_sync_compile(true);  // quick code on any machine, however loaded
    const RunResult r = m.run(~uint64_t{0});
    ASSERT_EQ(r.reason, kExitHalt);
    // 9 runs of B adding 1, then 2,999,990 adding 5.
    EXPECT_EQ(m.cpu().gpr[RAX], 9u + 2999990u * 5u) << "hot " << hot;
    ASSERT_NE(m.engine().threaded(), nullptr);
    EXPECT_GE(m.engine().threaded()->stats().direct_sites, 1u);
    EXPECT_GE(m.engine().stats().direct_links, 1u);
    if (hot == 20) {
      EXPECT_GE(m.engine().stats().tier1_installed, 1u);
    }
    // Every linked site jumps to its successor's current code.
    const Block* b = m.engine().blocks().lookup(0x1080, 1);
    ASSERT_NE(b, nullptr);
    unsigned linked = 0;
    for (const uint64_t from_paddr : {0x1013, 0x101a}) {
      const Block* from = m.engine().blocks().lookup(from_paddr, 1);
      if (!from) continue;
      for (const DirectSite& direct : from->direct_sites) {
        const uint8_t* site = direct.rel32;
        if (!site) continue;
        // The first jump enters threaded code past its prologue, the second any code.
        int32_t to_threaded, to_any;
        std::memcpy(&to_threaded, site, 4);
        std::memcpy(&to_any, site + threaded::ThreadedCompiler::kSecondJump, 4);
        if (to_threaded == 0 && to_any == 0) continue;
        ++linked;
        EXPECT_TRUE(to_threaded == 0 || to_any == 0);
        const uint8_t* target =
            to_threaded ? site + 4 + to_threaded - threaded::ThreadedCompiler::kLinkedEntry
                        : site + threaded::ThreadedCompiler::kSecondJump + 4 + to_any;
        EXPECT_EQ(reinterpret_cast<const void*>(target), reinterpret_cast<const void*>(b->tier1))
            << "hot " << hot << ", the block at " << from_paddr;
        EXPECT_EQ(to_threaded != 0, b->threaded_code != Block::kNoThreadedCode);
      }
    }
    // (With quick code the blocks that jump to B have no threaded code left, nor sites.)
    if (hot != 20) {
      EXPECT_GE(linked, 1u);
    }
  }
}

// Threaded code counts its runs, chained ones included, and stops chaining once the count
// reaches the hot threshold, so that the dispatcher sees the block and asks for quick code: in
// one run with no slices, the loop's blocks, which otherwise always chain to each other, must
// get quick code before the loop ends.
TEST(ThreadedCode, ChainedBlocksComeBackToTheDispatcherWhenHot) {
  Flat64Machine m(16u << 20);
  run_threaded(m, kSumLoop, 20);
  m.engine().set_optimize_threshold(~uint64_t{0});  // quick code only
  m.engine().set_sync_compile(true);
  ASSERT_EQ(m.run(~uint64_t{0}).reason, kExitHalt);
  EXPECT_EQ(m.cpu().gpr[RDX], kSumLoopEdx);
  EXPECT_GE(m.engine().stats().tier1_installed, 3u);  // A, the inc block, B
}

// A hot block the guest has been seen looping back to (through blocks its region would hold)
// gets its region as its first tier-1 code: the sum loop's head A compiles once, as a region of
// A, the inc block and B, and the loop runs there; with quick code first, A, the inc block and B
// each get quick code before A's region replaces A's.
TEST(ThreadedCode, LoopingBlocksGoStraightToTheirRegion) {
  for (const bool straight : {true, false}) {
    Flat64Machine m(16u << 20);
    run_threaded(m, kSumLoop, 20);
    m.engine().set_sync_compile(true);
    m.engine().set_loops_to_region(straight);
    ASSERT_EQ(m.run(~uint64_t{0}).reason, kExitHalt);
    EXPECT_EQ(m.cpu().gpr[RDX], kSumLoopEdx);
    EXPECT_EQ(m.engine().stats().tier1_regions, 1u) << "straight " << straight;
    if (straight) {
      EXPECT_EQ(m.engine().stats().tier1_installed, 1u);
    } else {
      EXPECT_GE(m.engine().stats().tier1_installed, 4u);
    }
  }
}

// Tier-1 quick code of a chainable 64-bit block ends in the block's own chain exit, made by the
// threaded compiler when the quick code is requested (one per path after a Jcc, taken by the
// RIP the block ends with); the loop must come out the same through threaded code, quick code
// and the exits.
TEST(ThreadedCode, QuickCodeChainsThroughTheBlocksOwnExit) {
  Flat64Machine m(16u << 20);
  run_threaded(m, kSumLoop, 20);
  m.engine().set_optimize_threshold(~uint64_t{0});  // quick code only
  m.engine().set_sync_compile(true);  // installed before the loop ends, on any machine
  RunResult r;
  do r = m.run(100003);
  while (r.reason == kExitInsnLimit);
  ASSERT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m.cpu().gpr[RDX], kSumLoopEdx);
  ASSERT_NE(m.engine().threaded(), nullptr);
  EXPECT_GE(m.engine().threaded()->stats().chain_exits, 3u);  // one per block asking for code
  EXPECT_EQ(m.engine().threaded()->stats().arena_full, 0u);
  EXPECT_GE(m.engine().stats().tier1_installed, 3u);
  // The blocks ending in Jcc have an exit per path, whose direct links are made.
  EXPECT_GE(m.engine().stats().direct_links, 2u);
}

// Every warm block gets threaded code, the shortest too: a lone JMP, whose code is nearly all
// entry, end and chain exit (the size bounds of the compiler must cover them).
TEST(ThreadedCode, SingleInstructionBlocksGetCode) {
  // 0x1000: mov ecx, 1000
  // 0x1005: L: jmp M (+0)
  // 0x1007: M: dec ecx
  // 0x1009: jnz L (-6)
  // 0x100b: hlt
  const std::vector<uint8_t> code = {0xb9, 0xe8, 0x03, 0,    0,    0xeb,
                                     0x00, 0xff, 0xc9, 0x75, 0xfa, 0xf4};
  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  const RunResult r = m.run(~uint64_t{0});
  ASSERT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(r.insns, 1u + 3u * 1000u + 1u);
  ASSERT_NE(m.engine().threaded(), nullptr);
  EXPECT_EQ(m.engine().threaded()->stats().arena_full, 0u);
  EXPECT_EQ(m.engine().stats().threaded_installed, 2u);  // the JMP, and DEC/JNZ
  EXPECT_LT(m.engine().stats().tier1_runs, 20u);
}

// A function called from three places returns to three places; its RET's two chain slots hold
// two of them. The third is found in the jump cache by the RET's threaded code itself, so the
// loop does not go back to the dispatcher once per call.
TEST(ThreadedCode, ReturnsToManyCallersStayInCompiledCode) {
  // 0x1000: mov ecx, 10000
  // 0x1005: L: call F
  // 0x100a: call F
  // 0x100f: call F
  // 0x1014: dec ecx
  // 0x1016: jnz L (-0x13)
  // 0x1018: hlt
  // 0x1100: F: add edx, 1
  // 0x1103: ret
  const std::vector<uint8_t> code = {0xb9, 0x10, 0x27, 0,    0,    0xe8, 0xf6, 0,    0,
                                     0,    0xe8, 0xf1, 0,    0,    0,    0xe8, 0xec, 0,
                                     0,    0,    0xff, 0xc9, 0x75, 0xed, 0xf4};
  const std::vector<uint8_t> function = {0x83, 0xc2, 0x01, 0xc3};
  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  m.load(kCode + 0x100, function.data(), function.size());
  const RunResult r = m.run(~uint64_t{0});
  ASSERT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m.cpu().gpr[RDX], 30000u);
  EXPECT_EQ(r.insns, 1u + 10000u * 11u + 1u);
  ASSERT_NE(m.engine().threaded(), nullptr);
  EXPECT_GE(m.engine().threaded()->stats().jump_probes, 1u);
  // Without the probe, about one return in three comes back to the dispatcher: 10,000 or more.
  EXPECT_LT(m.engine().stats().tier1_runs, 500u);
}

// A block that ends with a REP string instruction chains on to its successor: a loop around
// REP STOSB stays in compiled code.
TEST(ThreadedCode, BlocksEndingInRepStringsChain) {
  // 0x1000: mov edx, 1000
  // 0x1005: L: mov edi, 0x20000
  // 0x100a: mov ecx, 64
  // 0x100f: mov al, dl
  // 0x1011: rep stosb
  // 0x1013: dec edx
  // 0x1015: jnz L (-0x12)
  // 0x1017: hlt
  const std::vector<uint8_t> code = {0xba, 0xe8, 0x03, 0,    0,    0xbf, 0,    0,
                                     0x02, 0,    0xb9, 0x40, 0,    0,    0,    0x88,
                                     0xd0, 0xf3, 0xaa, 0xff, 0xca, 0x75, 0xee, 0xf4};
  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  const RunResult r = m.run(~uint64_t{0});
  ASSERT_EQ(r.reason, kExitHalt);
  EXPECT_EQ(m.cpu().gpr[RDX], 0u);
  EXPECT_EQ(m.cpu().gpr[RCX], 0u);
  EXPECT_EQ(m.cpu().gpr[RDI], 0x20040u);
  const uint8_t* filled = m.memory().host_ptr(0x20000);
  ASSERT_NE(filled, nullptr);
  EXPECT_EQ(filled[0], 1);
  EXPECT_EQ(filled[63], 1);
  EXPECT_EQ(filled[64], 0);
  // Unchained, every iteration would come back to the dispatcher after its REP STOSB.
  EXPECT_LT(m.engine().stats().tier1_runs, 100u);
}

// A fault in the middle of a threaded block is precise: the instructions before it completed
// and are counted, RIP is at the faulting one.
TEST(ThreadedCode, FaultInsideThreadedCodeIsPrecise) {
  // 0x1000: mov ecx, 50
  // 0x1005: L: mov eax, ecx
  // 0x1007: sub eax, 10
  // 0x100a: mov ebx, eax       (zero on the 41st iteration)
  // 0x100c: mov esi, 7
  // 0x1011: xor edx, edx
  // 0x1013: mov eax, 1000
  // 0x1018: div ebx            (#DE when ebx == 0)
  // 0x101a: dec ecx
  // 0x101c: jnz L (-0x19)
  // 0x101e: hlt
  const std::vector<uint8_t> code = {
      0xb9, 0x32, 0,    0,    0,    0x89, 0xc8, 0x83, 0xe8, 0x0a, 0x89, 0xc3, 0xbe, 7,    0,   0,
      0,    0x31, 0xd2, 0xb8, 0xe8, 0x03, 0,    0,    0xf7, 0xf3, 0xff, 0xc9, 0x75, 0xe7, 0xf4};
  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  const RunResult r = m.run(~uint64_t{0});
  EXPECT_EQ(r.reason, kExitFault);
  EXPECT_EQ(r.vector, kDE);
  EXPECT_EQ(m.cpu().rip, kCode + 0x18);
  EXPECT_EQ(m.cpu().gpr[RCX], 10u);
  EXPECT_EQ(m.cpu().gpr[RAX], 1000u);
  // 1 + 40 iterations of 9, then 6 of the 41st.
  EXPECT_EQ(r.insns, 1u + 40u * 9u + 6u);
  EXPECT_GE(m.engine().stats().threaded_installed, 1u);
}

// The exit test is left out after an instruction that cannot request an exit (a register-only
// ADD, XOR, CMP) and kept after one that can: a store that rewrites the next instruction of its
// own block must stop the block before that instruction runs with its old bytes.
TEST(ThreadedCode, ExitTestsOnlyAfterInstructionsThatCanRequestOne) {
  // 0x1000: mov ecx, 100
  // 0x1005: xor eax, eax
  // 0x1007: mov ebx, 0x1100    (a data byte on the code's page)
  // 0x100c: L: mov [rbx], cl
  // 0x100e: add eax, 0         (its immediate at 0x1010)
  // 0x1011: xor edx, edx
  // 0x1013: dec ecx
  // 0x1015: jz D (+0xc)
  // 0x1017: cmp ecx, 50
  // 0x101a: jne L (-0x10)
  // 0x101c: mov ebx, 0x1010    (from now on the store rewrites the ADD's immediate)
  // 0x1021: jmp L (-0x17)
  // 0x1023: D: hlt
  const std::vector<uint8_t> code = {0xb9, 0x64, 0,    0,    0,    0x31, 0xc0, 0xbb, 0,
                                     0x11, 0,    0,    0x88, 0x0b, 0x83, 0xc0, 0,    0x31,
                                     0xd2, 0xff, 0xc9, 0x74, 0x0c, 0x83, 0xf9, 0x32, 0x75,
                                     0xf0, 0xbb, 0x10, 0x10, 0,    0,    0xeb, 0xe9, 0xf4};
  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  const RunResult r = m.run(~uint64_t{0});
  ASSERT_EQ(r.reason, kExitHalt);
  // The ADD adds the counter from the 50th iteration on: 50 + 49 + ... + 1. Without the exit
  // test after the store, the stale ADD of each rewritten block would add the previous value.
  EXPECT_EQ(m.cpu().gpr[RAX], 1275u);
  ASSERT_NE(m.engine().threaded(), nullptr);
  const threaded::ThreadedStats& t = m.engine().threaded()->stats();
  EXPECT_GE(m.engine().stats().threaded_installed, 2u);
  EXPECT_GE(t.exit_tests, 1u);  // after the store
  // No test after L's ADD, XOR and DEC and the next block's CMP: they run inline, or (DEC, when
  // the flags before it are not known) call a handler that cannot request an exit.
  EXPECT_GE(t.exit_tests_left_out + t.inlined, 4u);
  EXPECT_GE(t.inlined, 3u);
}

// Tier 0 only, `code` loaded at kCode and entered there: the reference the tests compare with.
void load_on_tier0(Flat64Machine& m, const std::vector<uint8_t>& code) {
  m.engine().set_accel(AccelMode::Tier0);
  m.load(kCode, code.data(), code.size());
  m.reset64(kCode, 0x80000);
}

// Runs `code` to its HLT on tier 0 and as threaded code (run_threaded), each on a machine with
// the translator `pages` (null: identity) that `prepare` then sets up, and expects the same
// general registers and the same bytes in [check_begin, check_end). Returns the threaded code's
// statistics.
threaded::ThreadedStats expect_threaded_matches_tier0(
    const std::vector<uint8_t>& code, AddressTranslator* pages = nullptr,
    const std::function<void(Flat64Machine&)>& prepare = {}, uint64_t check_begin = 0,
    uint64_t check_end = 0) {
  Flat64Machine reference(16u << 20, pages);
  load_on_tier0(reference, code);
  if (prepare) prepare(reference);
  EXPECT_EQ(reference.run(~uint64_t{0}).reason, kExitHalt);

  Flat64Machine m(16u << 20, pages);
  run_threaded(m, code);
  if (prepare) prepare(m);
  EXPECT_EQ(m.run(~uint64_t{0}).reason, kExitHalt);
  for (unsigned r = 0; r < 16; ++r)
    EXPECT_EQ(m.cpu().gpr[r], reference.cpu().gpr[r]) << "register " << r;
  std::vector<uint8_t> got(check_end - check_begin), want(check_end - check_begin);
  EXPECT_TRUE(m.memory().copy_from(check_begin, got.data(), got.size()));
  EXPECT_TRUE(reference.memory().copy_from(check_begin, want.data(), want.size()));
  EXPECT_EQ(got, want);
  EXPECT_NE(m.engine().threaded(), nullptr);
  return m.engine().threaded() ? m.engine().threaded()->stats() : threaded::ThreadedStats{};
}

// MOV and the lazy-flags ALU instructions in register and immediate forms, 32 and 64 bits, run
// inline in threaded code (emit_inline): every register, and the flags each leaves (PUSHFQ reads
// them back through the lazy record), must come out as tier 0 computes them.
// 0x1000: mov ecx, 50
// 0x1005: L: mov rax, 0x0123456789abcdef; mov edx, 0xfffffff0;
//            add rax, rdx; pushfq; pop r15; add r14, r15;
//            sub edx, eax; pushfq; pop r15; add r14, r15;
//            xor r8, r8; or r8, rax; pushfq; pop r15; add r14, r15;
//            and r8d, 0x7f7f7f7f; cmp rdx, rax; pushfq; pop r9;
//            test eax, edx; pushfq; pop r10; mov r11, rdx; sub r11, 0x1234; add r11d, -1;
//            pushfq; pop r12; add r13, r11; xor r14, r12; add r14, r9; add r14, r10;
//            mov edi, -1; add edi, 1; pushfq; pop r15; add r14, r15;   (CF, ZF: a carry out)
//            mov rbp, 0x7fffffffffffffff; add rbp, rbp; pushfq; pop r15; add r14, r15; (OF)
//            mov esi, ecx; xor rsi, r13; add rsi, r14; dec ecx; jnz L
// 0x1091: hlt
TEST(ThreadedCode, InlineInstructionsMatchTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x32, 0x00, 0x00, 0x00, 0x48, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
      0xba, 0xf0, 0xff, 0xff, 0xff, 0x48, 0x01, 0xd0, 0x9c, 0x41, 0x5f, 0x4d, 0x01, 0xfe, 0x29,
      0xc2, 0x9c, 0x41, 0x5f, 0x4d, 0x01, 0xfe, 0x4d, 0x31, 0xc0, 0x49, 0x09, 0xc0, 0x9c, 0x41,
      0x5f, 0x4d, 0x01, 0xfe, 0x41, 0x81, 0xe0, 0x7f, 0x7f, 0x7f, 0x7f, 0x48, 0x39, 0xc2, 0x9c,
      0x41, 0x59, 0x85, 0xd0, 0x9c, 0x41, 0x5a, 0x49, 0x89, 0xd3, 0x49, 0x81, 0xeb, 0x34, 0x12,
      0x00, 0x00, 0x41, 0x83, 0xc3, 0xff, 0x9c, 0x41, 0x5c, 0x4d, 0x01, 0xdd, 0x4d, 0x31, 0xe6,
      0x4d, 0x01, 0xce, 0x4d, 0x01, 0xd6, 0xbf, 0xff, 0xff, 0xff, 0xff, 0x83, 0xc7, 0x01, 0x9c,
      0x41, 0x5f, 0x4d, 0x01, 0xfe, 0x48, 0xbd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
      0x48, 0x01, 0xed, 0x9c, 0x41, 0x5f, 0x4d, 0x01, 0xfe, 0x89, 0xce, 0x4c, 0x31, 0xee, 0x4c,
      0x01, 0xf6, 0xff, 0xc9, 0x0f, 0x85, 0x74, 0xff, 0xff, 0xff, 0xf4};
  const threaded::ThreadedStats t = expect_threaded_matches_tier0(code);
  EXPECT_GE(t.inlined, 28u);  // all of L's but PUSHFQ, POP, DEC, JNZ
}

// Identity, except that one linear page maps to another physical page.
class OnePageMoved final : public AddressTranslator {
 public:
  OnePageMoved(uint64_t linear_page, uint64_t physical_page)
      : linear_(linear_page), physical_(physical_page) {}
  Translation translate(CpuState&, uint64_t linear, Access) override {
    if ((linear & ~uint64_t{0xfff}) == linear_) return {physical_ | (linear & 0xfff), true, true};
    return {linear, true, true};
  }

 private:
  uint64_t linear_, physical_;
};

// Data with bytes of every value at physical 0x3000-0x4fff, and at 0x9000 (where
// OnePageMoved(0x4000, 0x9000) maps linear 0x4000) a copy of its last 0x800 bytes.
void load_data_with_moved_page(Flat64Machine& machine) {
  std::vector<uint8_t> data(0x2000);
  for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<uint8_t>(k * 37 + (k >> 8));
  machine.load(0x3000, data.data(), data.size());
  machine.load(0x9000, data.data() + 0x1800, 0x800);
}

// Memory MOVs run their TLB hit inline in threaded code (emit_inline_memory) and fall back to
// their handlers on a miss: loads and stores at 32 and 64 bits, an immediate store, base + index
// * scale + displacement, a 32-bit address (67h: RBX above 4 GiB must wrap), RIP-relative ones,
// FS-relative ones, and an 8-byte access across a page boundary (always the slow path). Registers
// and memory must come out as on tier 0. The pages a wrong address would reach are in the fast
// TLB too (0x100003000 through another access, page 0), so a wrong address would hit, not miss
// into the handler that gets it right.
// 0x1000: mov ecx, 40
// 0x1005: L: mov rbx, 0x100003000; mov eax, [ebx + 0x10]; mov rsi, 0x3000;
//            mov rdx, [rsi + rcx*8 + 8]; add rdx, rax; mov [rsi + rcx*4 + 0x400], edx;
//            mov qword [rsi + 0xffc], -5; mov r8, [rsi + 0xffc]; add r9, r8;
//            mov dword [rsi + rcx*4 + 0x800], 0x12345678;
//            mov r10, [rip + 0x30b0]; add r10, rcx; mov [rip + 0x30a6], r10;   (both 0x4100)
//            mov r11, fs:[0x20]; add r11, rcx; mov fs:[0x28], r11d;
//            mov r12d, [rsi + rcx*4 + 0x400]; add r13, r12; mov r14, [rsi + 0x800];
//            mov rdi, [rbx + 0x18]; add r15, rdi; mov rdi, [rsi - 0x2fe0]; add r15, rdi;
//            dec ecx; jnz L
// 0x109a: hlt
TEST(ThreadedCode, InlineMemoryMovesMatchTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x28, 0x00, 0x00, 0x00, 0x48, 0xbb, 0x00, 0x30, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
      0x67, 0x8b, 0x43, 0x10, 0x48, 0xc7, 0xc6, 0x00, 0x30, 0x00, 0x00, 0x48, 0x8b, 0x54, 0xce,
      0x08, 0x48, 0x01, 0xc2, 0x89, 0x94, 0x8e, 0x00, 0x04, 0x00, 0x00, 0x48, 0xc7, 0x86, 0xfc,
      0x0f, 0x00, 0x00, 0xfb, 0xff, 0xff, 0xff, 0x4c, 0x8b, 0x86, 0xfc, 0x0f, 0x00, 0x00, 0x4d,
      0x01, 0xc1, 0xc7, 0x84, 0x8e, 0x00, 0x08, 0x00, 0x00, 0x78, 0x56, 0x34, 0x12, 0x4c, 0x8b,
      0x15, 0xb0, 0x30, 0x00, 0x00, 0x49, 0x01, 0xca, 0x4c, 0x89, 0x15, 0xa6, 0x30, 0x00, 0x00,
      0x64, 0x4c, 0x8b, 0x1c, 0x25, 0x20, 0x00, 0x00, 0x00, 0x49, 0x01, 0xcb, 0x64, 0x44, 0x89,
      0x1c, 0x25, 0x28, 0x00, 0x00, 0x00, 0x44, 0x8b, 0xa4, 0x8e, 0x00, 0x04, 0x00, 0x00, 0x4d,
      0x01, 0xe5, 0x4c, 0x8b, 0xb6, 0x00, 0x08, 0x00, 0x00, 0x48, 0x8b, 0x7b, 0x18, 0x49, 0x01,
      0xff, 0x48, 0x8b, 0xbe, 0x20, 0xd0, 0xff, 0xff, 0x49, 0x01, 0xff, 0xff, 0xc9, 0x0f, 0x85,
      0x6b, 0xff, 0xff, 0xff, 0xf4};
  auto prepare = [&](Flat64Machine& machine) {
    std::vector<uint8_t> data(0x5000);
    for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<uint8_t>(k * 37 + (k >> 8));
    machine.load(0x3000, data.data(), data.size());  // 0x3000-0x7fff: the loop's data
    machine.cpu().seg[FS].base = 0x5000;
  };
  OnePageMoved pages(0x100003000, 0x7000);
  const threaded::ThreadedStats t =
      expect_threaded_matches_tier0(code, &pages, prepare, 0x3000, 0x8000);
  EXPECT_GE(t.inlined_memory, 13u);  // every memory MOV of L
}

// LEA (RIP-relative ones behind inline instructions whose RIP advance is still pending), NOPs,
// PUSH of a register, an immediate and RSP itself, and POPs, inline in threaded code, against
// tier 0.
// 0x1000: mov ecx, 30
// 0x1005: L: mov rax, rcx; lea rdx, [rip + 0x100]; lea r8, [rax + rcx*4 + 7]; lea r9d, [rax -
// 0x100];
//            nop; push rdx; push 0x1234; push rsp; pop r10; pop r11; pop r12;
//            add r13, r10; add r13, r11; add r13, r12; add r13, r8; add r13, r9;
//            lea rsi, [rip]; add r13, rsi; xchg ax, ax; nop dword [rax]; dec ecx; jnz L
// 0x104b: hlt
TEST(ThreadedCode, InlineStackAndAddressInstructionsMatchTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x1e, 0x00, 0x00, 0x00, 0x48, 0x89, 0xc8, 0x48, 0x8d, 0x15, 0x00, 0x01,
      0x00, 0x00, 0x4c, 0x8d, 0x44, 0x88, 0x07, 0x44, 0x8d, 0x88, 0x00, 0xff, 0xff,
      0xff, 0x90, 0x52, 0x68, 0x34, 0x12, 0x00, 0x00, 0x54, 0x41, 0x5a, 0x41, 0x5b,
      0x41, 0x5c, 0x4d, 0x01, 0xd5, 0x4d, 0x01, 0xdd, 0x4d, 0x01, 0xe5, 0x4d, 0x01,
      0xc5, 0x4d, 0x01, 0xcd, 0x48, 0x8d, 0x35, 0x00, 0x00, 0x00, 0x00, 0x49, 0x01,
      0xf5, 0x66, 0x90, 0x0f, 0x1f, 0x00, 0xff, 0xc9, 0x75, 0xba, 0xf4};
  const threaded::ThreadedStats t =
      expect_threaded_matches_tier0(code, nullptr, {}, 0x7f000, 0x80000);
  EXPECT_GE(t.inlined, 13u);        // MOV, LEAs, NOPs, ADDs
  EXPECT_GE(t.inlined_memory, 6u);  // the PUSHes and POPs
}

// MOVZX and MOVSX of bytes and words, from registers and from memory (one word across a page
// boundary into a page mapped elsewhere: the slow path), into 32- and 64-bit registers, inline
// in threaded code, against tier 0; the data has bytes with the sign bit set.
// 0x1000: mov ecx, 30; mov rsi, 0x3000
// 0x100c: L: movzx eax, byte [rsi + rcx]; movsx rdx, byte [rsi + rcx*2 + 0x80];
//            movzx r8d, word [rsi + rcx*2 + 0x100]; movsx r9d, word [rsi + rcx*4 + 0x200];
//            movsx r10, word [rsi + 0xfff]; movzx r11d, dl; movsx r12, r8w; movsx r13d, al;
//            add r15, rax; add r15, rdx; ... add r15, r13; dec ecx; jnz L
TEST(ThreadedCode, InlineExtensionsMatchTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x1e, 0x00, 0x00, 0x00, 0x48, 0xc7, 0xc6, 0x00, 0x30, 0x00, 0x00, 0x0f, 0xb6,
      0x04, 0x0e, 0x48, 0x0f, 0xbe, 0x94, 0x4e, 0x80, 0x00, 0x00, 0x00, 0x44, 0x0f, 0xb7,
      0x84, 0x4e, 0x00, 0x01, 0x00, 0x00, 0x44, 0x0f, 0xbf, 0x8c, 0x8e, 0x00, 0x02, 0x00,
      0x00, 0x4c, 0x0f, 0xbf, 0x96, 0xff, 0x0f, 0x00, 0x00, 0x44, 0x0f, 0xb6, 0xda, 0x4d,
      0x0f, 0xbf, 0xe0, 0x44, 0x0f, 0xbe, 0xe8, 0x49, 0x01, 0xc7, 0x49, 0x01, 0xd7, 0x4d,
      0x01, 0xc7, 0x4d, 0x01, 0xcf, 0x4d, 0x01, 0xd7, 0x4d, 0x01, 0xdf, 0x4d, 0x01, 0xe7,
      0x4d, 0x01, 0xef, 0xff, 0xc9, 0x75, 0xb1, 0xf4};
  OnePageMoved pages(0x4000, 0x9000);
  const threaded::ThreadedStats t =
      expect_threaded_matches_tier0(code, &pages, load_data_with_moved_page);
  EXPECT_GE(t.inlined, 11u);        // the register extensions and the ADDs
  EXPECT_GE(t.inlined_memory, 5u);  // the memory extensions
}

// MOVSXD of a doubleword into a 64-bit register, from memory (one across a page boundary into a
// page mapped elsewhere: the slow path) and from registers, inline in threaded code, against
// tier 0; values with the sign bit set and clear.
// 0x1000: mov ecx, 30; mov rsi, 0x3000
// 0x100c: L: movsxd rax, [rsi + rcx*4]; movsxd rdx, [rsi + rcx*8 + 0x100];
//            movsxd r8, [rsi + 0xffe]; movsxd r9, eax; movsxd r10, edx; mov r11d, 0x80000000;
//            or r11d, ecx; movsxd r12, r11d; add r15, rax; ... add r15, r12; dec ecx; jnz L
TEST(ThreadedCode, InlineMovsxdMatchesTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x1e, 0x00, 0x00, 0x00, 0x48, 0xc7, 0xc6, 0x00, 0x30, 0x00, 0x00, 0x48, 0x63, 0x04,
      0x8e, 0x48, 0x63, 0x94, 0xce, 0x00, 0x01, 0x00, 0x00, 0x4c, 0x63, 0x86, 0xfe, 0x0f, 0x00,
      0x00, 0x4c, 0x63, 0xc8, 0x4c, 0x63, 0xd2, 0x41, 0xbb, 0x00, 0x00, 0x00, 0x80, 0x41, 0x09,
      0xcb, 0x4d, 0x63, 0xe3, 0x49, 0x01, 0xc7, 0x49, 0x01, 0xd7, 0x4d, 0x01, 0xc7, 0x4d, 0x01,
      0xcf, 0x4d, 0x01, 0xd7, 0x4d, 0x01, 0xe7, 0xff, 0xc9, 0x75, 0xc5, 0xf4};
  OnePageMoved pages(0x4000, 0x9000);
  const threaded::ThreadedStats t =
      expect_threaded_matches_tier0(code, &pages, load_data_with_moved_page);
  EXPECT_GE(t.inlined, 3u);         // the register MOVSXDs
  EXPECT_GE(t.inlined_memory, 3u);  // the memory ones
}

// SHL, SHR and SAR of 16-, 32- and 64-bit registers by an immediate, with flags that PUSHFQ reads
// right after, inline in threaded code (emit_shift): the host's CF, PF, ZF and SF, AF and OF as
// the handler has them (OF after SHL by 63, SHR by 1 and 31, SAR), against tier 0.
// 0x1000: mov ecx, 40; mov rsi, 0x8000000000000001
// 0x100f: L: mov rax, rsi; shl rax, 1; pushfq; pop r8; add r15, r8; add r15, rax;
//            ... shl rax, 63 ...; mov edx, esi; shr edx, 1 ...; shr edx, 31 ...; mov rdx, rsi;
//            sar rdx, 5 ...; mov ebx, esi; sar ebx, 1 ...; mov r9, rsi; shr r9w, 1 ...;
//            shl r9w, 15 ...; sar r9w, 3 ...; mov r10, rsi; shl r10d, 7 ...;
//            shr rsi, 2; shl rsi, 2; rol rsi, 13; add rsi, rcx; dec ecx; jnz L
// 0x10b9: hlt
TEST(ThreadedCode, InlineShiftsWithLiveFlagsMatchTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x28, 0x00, 0x00, 0x00, 0x48, 0xbe, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80,
      0x48, 0x89, 0xf0, 0x48, 0xd1, 0xe0, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x49, 0x01, 0xc7,
      0x48, 0x89, 0xf0, 0x48, 0xc1, 0xe0, 0x3f, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x49, 0x01,
      0xc7, 0x89, 0xf2, 0xd1, 0xea, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x49, 0x01, 0xd7, 0x89,
      0xf2, 0xc1, 0xea, 0x1f, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x49, 0x01, 0xd7, 0x48, 0x89,
      0xf2, 0x48, 0xc1, 0xfa, 0x05, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x49, 0x01, 0xd7, 0x89,
      0xf3, 0xd1, 0xfb, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x49, 0x01, 0xdf, 0x49, 0x89, 0xf1,
      0x66, 0x41, 0xd1, 0xe9, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x4d, 0x01, 0xcf, 0x66, 0x41,
      0xc1, 0xe1, 0x0f, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x4d, 0x01, 0xcf, 0x66, 0x41, 0xc1,
      0xf9, 0x03, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x4d, 0x01, 0xcf, 0x49, 0x89, 0xf2, 0x41,
      0xc1, 0xe2, 0x07, 0x9c, 0x41, 0x58, 0x4d, 0x01, 0xc7, 0x4d, 0x01, 0xd7, 0x48, 0xc1, 0xee,
      0x02, 0x48, 0xc1, 0xe6, 0x02, 0x48, 0xc1, 0xc6, 0x0d, 0x48, 0x01, 0xce, 0xff, 0xc9, 0x0f,
      0x85, 0x56, 0xff, 0xff, 0xff, 0xf4};
  const threaded::ThreadedStats t = expect_threaded_matches_tier0(code);
  EXPECT_GE(t.inlined, 40u);  // the ten shifts among them (33 without)
}

// Jcc inline in threaded code (emit_inline_branch), answered from the flags' producer the block
// itself shows (a known lazy record), and INC/DEC and the ALU instructions with a memory operand
// inline, against tier 0. Each case is a block "producer; Jcc over one ADD of a marker to R12", for
// every condition code after every producer: CMP, ADD, AND, TEST at 8, 16, 32 and 64 bits (the
// byte and word forms in registers and memory), INC and DEC
// after CMP, TEST and ADD (their CF kept in the record, which the conditions that read CF take
// from the handler), CMP and SUB with a memory operand, INC of memory, NEG (a handler, whose record
// is known too), XOR and ADD into memory; each producer also before SETcc and CMOVcc (64- and
// 32-bit) of every condition; and once per producer PUSHFQ reads all six flags back.
// The operands come from a table with the values at which the flags change (0, 1, -1, the signed
// and unsigned limits of every size) and random ones, so each condition goes both ways. A CALL and
// RET (inline) close each iteration.
TEST(ThreadedCode, InlineBranchesAfterKnownFlagsMatchTier0) {
  constexpr uint32_t kTable = 0x20000;
  const std::vector<std::vector<uint8_t>> producers = {
      {0x48, 0x39, 0xd0},                                      // cmp rax, rdx
      {0x39, 0xd0},                                            // cmp eax, edx
      {0x49, 0x89, 0xc0, 0x49, 0x01, 0xd0},                    // mov r8, rax; add r8, rdx
      {0x41, 0x89, 0xc0, 0x41, 0x01, 0xd0},                    // mov r8d, eax; add r8d, edx
      {0x48, 0x85, 0xd0},                                      // test rax, rdx
      {0x41, 0x89, 0xc0, 0x41, 0x21, 0xd0},                    // mov r8d, eax; and r8d, edx
      {0x48, 0x39, 0xd0, 0x49, 0x89, 0xc0, 0x49, 0xff, 0xc0},  // cmp rax, rdx; mov r8, rax; inc r8
      {0x85, 0xd0, 0x41, 0x89, 0xc0, 0x41, 0xff, 0xc8},  // test eax, edx; mov r8d, eax; dec r8d
      {0x49, 0x89, 0xc0, 0x49, 0x01, 0xd0, 0x49, 0xff, 0xc8},  // mov r8, rax; add r8, rdx; dec r8
      {0x48, 0x39, 0x14, 0x1e},                                // cmp [rsi + rbx], rdx
      {0x41, 0x89, 0xd0, 0x44, 0x2b, 0x04, 0x1e},              // mov r8d, edx; sub r8d, [rsi + rbx]
      {0x39, 0xd0, 0xff, 0x44, 0x1e, 0x08},              // cmp eax, edx; inc dword [rsi + rbx + 8]
      {0x49, 0x89, 0xc0, 0x49, 0xf7, 0xd8},              // mov r8, rax; neg r8
      {0x48, 0x31, 0x44, 0x1e, 0x08},                    // xor [rsi + rbx + 8], rax
      {0x81, 0x44, 0x1e, 0x08, 0xff, 0xff, 0xff, 0x7f},  // add dword [rsi + rbx + 8], 0x7fffffff
      {0x49, 0x89, 0xc0, 0x49, 0x83, 0xc0, 0x01},        // mov r8, rax; add r8, 1
      // Bytes and words (session 11).
      {0x38, 0xd0},                                      // cmp al, dl
      {0x66, 0x39, 0xd0},                                // cmp ax, dx
      {0x41, 0x89, 0xc0, 0x41, 0x00, 0xd0},              // mov r8d, eax; add r8b, dl
      {0x41, 0x89, 0xc0, 0x66, 0x41, 0x01, 0xd0},        // mov r8d, eax; add r8w, dx
      {0x84, 0xd0},                                      // test al, dl
      {0x41, 0x89, 0xd0, 0x66, 0x41, 0x21, 0xc0},        // mov r8d, edx; and r8w, ax
      {0x38, 0x14, 0x1e},                                // cmp byte [rsi + rbx], dl
      {0x66, 0xf7, 0x44, 0x1e, 0x08, 0x01, 0x80},        // test word [rsi + rbx + 8], 0x8001
      {0x41, 0x89, 0xd0, 0x44, 0x2a, 0x04, 0x1e},        // mov r8d, edx; sub r8b, [rsi + rbx]
      {0x3c, 0x80},                                      // cmp al, 0x80
      {0x66, 0x3d, 0xff, 0x7f},                          // cmp ax, 0x7fff
      {0x39, 0xd0, 0x49, 0x89, 0xc0, 0x41, 0xfe, 0xc0},  // cmp eax, edx; mov r8, rax; inc r8b
      {0x30, 0x44, 0x1e, 0x09},                          // xor byte [rsi + rbx + 9], al
  };
  // mov ecx, 64; mov esi, kTable
  std::vector<uint8_t> code = {0xb9, 0x40, 0, 0, 0, 0xbe, 0, 0, 0x02, 0};
  const size_t loop = code.size();
  // L: mov rbx, rcx; shl rbx, 4; mov rax, [rsi + rbx]; mov rdx, [rsi + rbx + 8]
  code.insert(code.end(), {0x48, 0x89, 0xcb, 0x48, 0xc1, 0xe3, 0x04, 0x48, 0x8b, 0x04, 0x1e, 0x48,
                           0x8b, 0x54, 0x1e, 0x08});
  uint32_t marker = 1;
  for (const std::vector<uint8_t>& p : producers) {
    for (uint8_t cc = 0; cc < 16; ++cc) {
      code.insert(code.end(), p.begin(), p.end());
      code.insert(code.end(), {static_cast<uint8_t>(0x70 | cc), 7});  // jcc over the ADD
      marker = marker * 2654435761u + 12345u;
      const uint32_t m = marker & 0x7fffffff;  // add r12, m
      code.insert(code.end(),
                  {0x49, 0x81, 0xc4, static_cast<uint8_t>(m), static_cast<uint8_t>(m >> 8),
                   static_cast<uint8_t>(m >> 16), static_cast<uint8_t>(m >> 24)});
    }
    for (uint8_t cc = 0; cc < 16; ++cc) {
      // setcc bl; cmovcc r14, rdx (odd cc: cmovcc r14d, edx); add r13, rbx; add r12, r14;
      // add r12, r8 (what a byte or word producer left in R8's other bytes)
      code.insert(code.end(), p.begin(), p.end());
      code.insert(code.end(), {0x0f, static_cast<uint8_t>(0x90 | cc), 0xc3,
                               static_cast<uint8_t>(cc & 1 ? 0x44 : 0x4c), 0x0f,
                               static_cast<uint8_t>(0x40 | cc), 0xf2, 0x49, 0x01, 0xdd, 0x4d, 0x01,
                               0xf4, 0x4d, 0x01, 0xc4});
    }
    code.insert(code.end(), p.begin(), p.end());
    code.insert(code.end(), {0x9c, 0x41, 0x5f, 0x4d, 0x01, 0xfe});  // pushfq; pop r15; add r14, r15
    code.insert(code.end(), {0x4d, 0x31, 0xfd});                    // xor r13, r15
  }
  // call F; dec ecx; jnz L; hlt; F: add r13, rcx; ret
  code.insert(code.end(), {0xe8, 9, 0, 0, 0, 0xff, 0xc9, 0x0f, 0x85});
  const int32_t back = static_cast<int32_t>(loop) - static_cast<int32_t>(code.size() + 4);
  for (int k = 0; k < 4; ++k)
    code.push_back(static_cast<uint8_t>(static_cast<uint32_t>(back) >> 8 * k));
  code.insert(code.end(), {0xf4, 0x49, 0x01, 0xcd, 0xc3});
  ASSERT_LT(kCode + code.size(), kTable);

  auto prepare = [&](Flat64Machine& machine) {
    const uint64_t edges[] = {0,
                              1,
                              ~uint64_t{0},
                              0x7fffffff,
                              0x80000000,
                              0xffffffff,
                              0x7fffffffffffffff,
                              0x8000000000000000,
                              0x100000000,
                              0x0123456789abcdef,
                              0xfedcba9876543210,
                              0x7f,
                              0x80,
                              0x7fff,
                              0x8000};
    constexpr size_t kEdges = std::size(edges);
    std::vector<uint64_t> table(2 * 65);
    for (size_t k = 0; k < 65; ++k) {
      table[2 * k] = edges[k % kEdges];
      table[2 * k + 1] = edges[(k * 7 / 3 + k / kEdges) % kEdges];
    }
    machine.load(kTable, table.data(), table.size() * 8);
  };
  const threaded::ThreadedStats t =
      expect_threaded_matches_tier0(code, nullptr, prepare, kTable, kTable + 65 * 16);
  // The Jcc after every producer whose condition its record answers (all but 4 of 16 after INC
  // and DEC), and the CALL and RET.
  EXPECT_GE(t.inlined_branches, 29u * 16u - 4u * 4u + 2u);
  EXPECT_GE(t.inlined, 2u * (29u * 16u - 4u * 4u));  // the SETcc and CMOVcc among them
  EXPECT_GE(t.inlined_memory, 2u + 16u * 5u);        // the table loads, each memory producer
}

// The inline branches leave to their handlers where these fault: a RET to a non-canonical address
// raises #GP(0) with RSP and RIP unchanged, after running inline to canonical ones.
// 0x1000: mov ecx, 40
// 0x1005: L: lea rax, [rip + B]; cmp ecx, 1; jne P; mov rax, 0x800000000000
// 0x101b: P: push rax; ret
// 0x101d: B: dec ecx; jnz L; hlt
TEST(ThreadedCode, InlineReturnToNonCanonicalAddressFaults) {
  const std::vector<uint8_t> code = {0xb9, 0x28, 0x00, 0x00, 0x00, 0x48, 0x8d, 0x05, 0x11,
                                     0x00, 0x00, 0x00, 0x83, 0xf9, 0x01, 0x75, 0x0a, 0x48,
                                     0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00,
                                     0x50, 0xc3, 0xff, 0xc9, 0x75, 0xe4, 0xf4};
  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  const RunResult r = m.run(~uint64_t{0});
  EXPECT_EQ(r.reason, kExitFault);
  EXPECT_EQ(r.vector, kGP);
  EXPECT_EQ(m.cpu().rip, kCode + 0x1c);
  EXPECT_EQ(m.cpu().gpr[RSP], 0x80000u - 8);
  EXPECT_EQ(m.cpu().gpr[RCX], 1u);
  ASSERT_NE(m.engine().threaded(), nullptr);
  EXPECT_GE(m.engine().threaded()->stats().inlined_branches, 1u);
}

// Flags that a later instruction of the block overwrites before anything can see them are not
// computed in threaded code: the shifts, rotates, INC, CMP and TEST before an ADD here run as bare
// host instructions (not the ROR before a PUSHFQ, nor the ADD, CMP and DEC before SETS, ADC and
// CMOVS, which read them). Where an instruction that can fault stands between a producer and the
// next one, the flags are seen (the exception reports RFLAGS), so the SHL before the load that
// faults in the last iteration must leave its flags: registers and flags at the fault are
// compared with tier 0's.
// 0x1000: mov ecx, 40; mov esi, 0x3000; xor edi, edi; mov rbp, 0x800000000000
// 0x1016: L: mov eax, ecx; imul eax, eax, 0x9e3779b1; ror eax, 7; rol rax, 13; shl eax, 3;
//            shr rax, 2; sar eax, 1; inc edx; cmp eax, ecx; test eax, eax; add r8, rax;
//            pushfq; pop r9; add r10, r9; ror eax, 3; pushfq; pop r9; add r11, r9;
//            add r12d, 0x9e3779b9; sets bl; cmp r12d, 0x60000000; adc r14, rbx; dec r12d;
//            cmovs r15, r12; xor r13d, r12d; cmp ecx, 1; cmove rdi, rbp (non-canonical in the
//            last iteration); shl eax, 5; mov edx, [rsi + rdi]; add eax, 1; dec ecx; jnz L
// 0x1078: hlt
TEST(ThreadedCode, DeadFlagsAreLeftOutOnlyWhereNothingSeesThem) {
  const std::vector<uint8_t> code = {
      0xb9, 0x28, 0x00, 0x00, 0x00, 0xbe, 0x00, 0x30, 0x00, 0x00, 0x31, 0xff, 0x48, 0xbd,
      0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x89, 0xc8, 0x69, 0xc0, 0xb1, 0x79,
      0x37, 0x9e, 0xc1, 0xc8, 0x07, 0x48, 0xc1, 0xc0, 0x0d, 0xc1, 0xe0, 0x03, 0x48, 0xc1,
      0xe8, 0x02, 0xd1, 0xf8, 0xff, 0xc2, 0x39, 0xc8, 0x85, 0xc0, 0x49, 0x01, 0xc0, 0x9c,
      0x41, 0x59, 0x4d, 0x01, 0xca, 0xc1, 0xc8, 0x03, 0x9c, 0x41, 0x59, 0x4d, 0x01, 0xcb,
      0x41, 0x81, 0xc4, 0xb9, 0x79, 0x37, 0x9e, 0x0f, 0x98, 0xc3, 0x41, 0x81, 0xfc, 0x00,
      0x00, 0x00, 0x60, 0x49, 0x11, 0xde, 0x41, 0xff, 0xcc, 0x4d, 0x0f, 0x48, 0xfc, 0x45,
      0x31, 0xe5, 0x83, 0xf9, 0x01, 0x48, 0x0f, 0x44, 0xfd, 0xc1, 0xe0, 0x05, 0x8b, 0x14,
      0x3e, 0x83, 0xc0, 0x01, 0xff, 0xc9, 0x75, 0x9e, 0xf4};
  Flat64Machine reference(16u << 20);
  load_on_tier0(reference, code);
  const RunResult want = reference.run(~uint64_t{0});
  ASSERT_EQ(want.reason, kExitFault);
  ASSERT_EQ(reference.cpu().rip, kCode + 0x6e);

  Flat64Machine m(16u << 20);
  run_threaded(m, code);
  const RunResult got = m.run(~uint64_t{0});
  EXPECT_EQ(got.reason, kExitFault);
  EXPECT_EQ(got.vector, want.vector);
  EXPECT_EQ(got.insns, want.insns);
  EXPECT_EQ(m.cpu().rip, reference.cpu().rip);
  for (unsigned r = 0; r < 16; ++r)
    EXPECT_EQ(m.cpu().gpr[r], reference.cpu().gpr[r]) << "register " << r;
  EXPECT_EQ(arith_flags(m.cpu()), arith_flags(reference.cpu()));
  ASSERT_NE(m.engine().threaded(), nullptr);
  // ROR, ROL, SHL, SHR, SAR, INC, CMP, TEST of L.
  EXPECT_GE(m.engine().threaded()->stats().flags_dead, 8u);
}

// Identity below `limit`; an access at or above it is a page fault.
class UnmappedAbove final : public AddressTranslator {
 public:
  explicit UnmappedAbove(uint64_t limit) : limit_(limit) {}
  Translation translate(CpuState& cpu, uint64_t linear, Access) override {
    if (linear >= limit_) raise_fault(cpu, kPF, 0, linear);
    return {linear, true, true};
  }

 private:
  uint64_t limit_;
};

// Inline memory accesses leave the RIP advance pending (the fast path writes RIP only at the
// block's end); the way to the handler on a TLB miss adds it, and the code after the handler
// takes the handler's advance back. Each new page is a miss here, taken inside threaded code,
// with RIP-relative LEAs after it, until a load faults: the fault must name the load, with the
// instructions before it (an inline ADD whose advance was pending) done.
// 0x1000: mov ecx, 50; mov rsi, 0x3000
// 0x100c: L: add eax, 3; mov rdx, [rsi]; add edx, ecx; lea rdi, [rip]; mov [rsi + 8], rdx;
//            add rsi, 0x800; dec ecx; jnz L
// 0x102a: hlt
TEST(ThreadedCode, FaultOnTheSlowPathBehindPendingRipIsPrecise) {
  const std::vector<uint8_t> code = {
      0xb9, 0x32, 0x00, 0x00, 0x00, 0x48, 0xc7, 0xc6, 0x00, 0x30, 0x00, 0x00, 0x83, 0xc0, 0x03,
      0x48, 0x8b, 0x16, 0x01, 0xca, 0x48, 0x8d, 0x3d, 0x00, 0x00, 0x00, 0x00, 0x48, 0x89, 0x56,
      0x08, 0x48, 0x81, 0xc6, 0x00, 0x08, 0x00, 0x00, 0xff, 0xc9, 0x75, 0xe2, 0xf4};
  UnmappedAbove pages(0x10000);
  Flat64Machine reference(16u << 20, &pages);
  load_on_tier0(reference, code);
  const RunResult want = reference.run(~uint64_t{0});
  ASSERT_EQ(want.reason, kExitFault);
  ASSERT_EQ(reference.cpu().rip, kCode + 0xf);  // the 27th iteration's load, from 0x10000

  Flat64Machine m(16u << 20, &pages);
  run_threaded(m, code);
  const RunResult got = m.run(~uint64_t{0});
  EXPECT_EQ(got.reason, kExitFault);
  EXPECT_EQ(got.vector, kPF);
  EXPECT_EQ(got.insns, want.insns);
  EXPECT_EQ(m.cpu().rip, reference.cpu().rip);
  for (unsigned r = 0; r < 16; ++r)
    EXPECT_EQ(m.cpu().gpr[r], reference.cpu().gpr[r]) << "register " << r;
  EXPECT_EQ(m.cpu().gpr[RAX], 27u * 3u);
  EXPECT_EQ(m.cpu().gpr[RDI], kCode + 0x1b);
  ASSERT_NE(m.engine().threaded(), nullptr);
  EXPECT_GE(m.engine().threaded()->stats().inlined_memory, 2u);
}

// Byte and word MOVs between registers or immediates and memory, inline in threaded code (the
// register's other bytes must stay), against tier 0; a word across a page boundary into a page
// mapped elsewhere takes the slow path, and AH is left to the handler.
// 0x1000: mov ecx, 30; mov rsi, 0x3000; mov rax, 0x1122334455667788; mov rbx, 0x99aabbccddeeff00;
//         mov r8, 0x0123456789abcdef; mov rdi, 0xfedcba9876543210
// 0x1034: L: mov al, [rsi + rcx]; mov bx, [rsi + rcx*2 + 0x100]; mov r8b, [rsi + rcx + 0x200];
//            mov dil, [rsi + 0x300]; mov [rsi + rcx + 0x400], al; mov [rsi + rcx*2 + 0x500], bx;
//            mov byte [rsi + rcx + 0x600], 0x5a; mov word [rsi + rcx*2 + 0x700], 0x1234;
//            mov [rsi + 0xfff], bx; mov dx, [rsi + 0xfff]; mov ah, [rsi + rcx + 0x20];
//            mov [rsi + rcx + 0x800], ah; add r15, rax; add r15, rbx; add r15, r8; add r15, rdi;
//            add r15, rdx; dec ecx; jnz L
// 0x109f: hlt
TEST(ThreadedCode, InlineByteAndWordMovesMatchTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x1e, 0x00, 0x00, 0x00, 0x48, 0xc7, 0xc6, 0x00, 0x30, 0x00, 0x00, 0x48, 0xb8, 0x88,
      0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x48, 0xbb, 0x00, 0xff, 0xee, 0xdd, 0xcc, 0xbb,
      0xaa, 0x99, 0x49, 0xb8, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0x48, 0xbf, 0x10,
      0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x8a, 0x04, 0x0e, 0x66, 0x8b, 0x9c, 0x4e, 0x00,
      0x01, 0x00, 0x00, 0x44, 0x8a, 0x84, 0x0e, 0x00, 0x02, 0x00, 0x00, 0x40, 0x8a, 0xbe, 0x00,
      0x03, 0x00, 0x00, 0x88, 0x84, 0x0e, 0x00, 0x04, 0x00, 0x00, 0x66, 0x89, 0x9c, 0x4e, 0x00,
      0x05, 0x00, 0x00, 0xc6, 0x84, 0x0e, 0x00, 0x06, 0x00, 0x00, 0x5a, 0x66, 0xc7, 0x84, 0x4e,
      0x00, 0x07, 0x00, 0x00, 0x34, 0x12, 0x66, 0x89, 0x9e, 0xff, 0x0f, 0x00, 0x00, 0x66, 0x8b,
      0x96, 0xff, 0x0f, 0x00, 0x00, 0x8a, 0x64, 0x0e, 0x20, 0x88, 0xa4, 0x0e, 0x00, 0x08, 0x00,
      0x00, 0x49, 0x01, 0xc7, 0x49, 0x01, 0xdf, 0x4d, 0x01, 0xc7, 0x49, 0x01, 0xff, 0x49, 0x01,
      0xd7, 0xff, 0xc9, 0x75, 0x99, 0xf4};
  OnePageMoved pages(0x4000, 0x9000);
  const threaded::ThreadedStats t =
      expect_threaded_matches_tier0(code, &pages, load_data_with_moved_page, 0x3000, 0xa000);
  EXPECT_GE(t.inlined_memory, 10u);  // all of L's but those with AH
}

// IMUL r, r and IMUL r, r, imm (32 and 64 bits, imm8 and imm32) whose flags a later ADD overwrites
// run as the host's own IMUL in threaded code; the one before PUSHFQ keeps its handler and flags.
// Registers and flags against tier 0.
// 0x1000: mov ecx, 50; mov edx, 3
// 0x100a: L: mov eax, ecx; imul eax, eax, 0x9e3779b1; imul rdx, rax; imul r8, rdx, -7;
//            imul edx, r8d; add r10, rax; add r10, rdx; add r10, r8; add r10, r9; imul r11, r10;
//            pushfq; pop r12; add r13, r12; dec ecx; jnz L
// 0x1038: hlt
TEST(ThreadedCode, InlineMultipliesWithDeadFlagsMatchTier0) {
  const std::vector<uint8_t> code = {
      0xb9, 0x32, 0x00, 0x00, 0x00, 0xba, 0x03, 0x00, 0x00, 0x00, 0x89, 0xc8, 0x69, 0xc0, 0xb1,
      0x79, 0x37, 0x9e, 0x48, 0x0f, 0xaf, 0xd0, 0x4c, 0x6b, 0xc2, 0xf9, 0x41, 0x0f, 0xaf, 0xd0,
      0x49, 0x01, 0xc2, 0x49, 0x01, 0xd2, 0x4d, 0x01, 0xc2, 0x4d, 0x01, 0xca, 0x4d, 0x0f, 0xaf,
      0xda, 0x9c, 0x41, 0x5c, 0x4d, 0x01, 0xe5, 0xff, 0xc9, 0x75, 0xd2, 0xf4};
  const threaded::ThreadedStats t = expect_threaded_matches_tier0(code);
  EXPECT_GE(t.flags_dead, 4u);  // the first four IMULs
}

}  // namespace
}  // namespace umbra
