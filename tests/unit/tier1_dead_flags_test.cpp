// Tier 1's use of the flags' liveness (jit/flag_liveness.h, docs/jit.md "Dead flags"): an
// instruction whose status flags nobody sees is marked attr::kFlagsDead and its handler skips
// them; every flag something does read must still come out as tier 0 computes it.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "frontend/insn.h"
#include "jit/flag_liveness.h"
#include "jit/tier0.h"
#include "jit/tier1/tier1.h"
#include "machine/flat64.h"

namespace umbra {
namespace {

constexpr uint64_t kCode = 0x1000;

// A loop of 60 iterations mixing producers whose flags are dead with ones whose flags are read,
// some of them only in part (INC and BT pass CF through, ROR's CF and ROL's OF are read):
//   mov ecx, 60; mov rbx, 0x9e3779b97f4a7c15; mov r12, 0x5bd1e995; xor r15, r15
// L: mov rax, rcx; imul rax, rbx; add rax, rbx; inc rsi; adc rdx, 0   (ADD's CF through INC)
//    add r15, rdx
//    ror eax, 3; xor edx, eax                                        (ROR's flags dead)
//    mov esi, eax; shr esi, 11; imul esi, r12d; cmp eax, esi; jb 1f  (SHR's, IMUL's dead)
//    add r15, 7
// 1: ror r8, 7; jc 2f; add r15, 3                                    (ROR's CF read)
// 2: add r8, rax; dec r9; bt r9, 3; pushfq; pop r10; add r15, r10    (DEC's flags under BT's CF)
//    mov r11, rax; sub r11, rbx; sbb r13, r13; add r15, r13          (SUB's CF read by SBB)
//    imul r14, rbx; pushfq; pop r10; add r15, r10                    (IMUL's flags read)
//    imul r14, rbx; add r14, 1                                       (IMUL's dead)
//    mov rdi, rax; neg rdi; setc al; neg rdi; test rdi, rdi          (NEG's CF read, then dead)
//    rol rbp, 1; seto dl; add rbp, rdx; bsf rdi, rax; pushfq; pop r10; add r15, r10
//    dec ecx; jnz L
//   hlt
const std::vector<uint8_t> kMixedFlags = {
    0xb9, 0x3c, 0x00, 0x00, 0x00, 0x48, 0xbb, 0x15, 0x7c, 0x4a, 0x7f, 0xb9, 0x79, 0x37, 0x9e, 0x49,
    0xc7, 0xc4, 0x95, 0xe9, 0xd1, 0x5b, 0x4d, 0x31, 0xff, 0x48, 0x89, 0xc8, 0x48, 0x0f, 0xaf, 0xc3,
    0x48, 0x01, 0xd8, 0x48, 0xff, 0xc6, 0x48, 0x83, 0xd2, 0x00, 0x49, 0x01, 0xd7, 0xc1, 0xc8, 0x03,
    0x31, 0xc2, 0x89, 0xc6, 0xc1, 0xee, 0x0b, 0x41, 0x0f, 0xaf, 0xf4, 0x39, 0xf0, 0x72, 0x04, 0x49,
    0x83, 0xc7, 0x07, 0x49, 0xc1, 0xc8, 0x07, 0x72, 0x04, 0x49, 0x83, 0xc7, 0x03, 0x49, 0x01, 0xc0,
    0x49, 0xff, 0xc9, 0x49, 0x0f, 0xba, 0xe1, 0x03, 0x9c, 0x41, 0x5a, 0x4d, 0x01, 0xd7, 0x49, 0x89,
    0xc3, 0x49, 0x29, 0xdb, 0x4d, 0x19, 0xed, 0x4d, 0x01, 0xef, 0x4c, 0x0f, 0xaf, 0xf3, 0x9c, 0x41,
    0x5a, 0x4d, 0x01, 0xd7, 0x4c, 0x0f, 0xaf, 0xf3, 0x49, 0x83, 0xc6, 0x01, 0x48, 0x89, 0xc7, 0x48,
    0xf7, 0xdf, 0x0f, 0x92, 0xc0, 0x48, 0xf7, 0xdf, 0x48, 0x85, 0xff, 0x48, 0xd1, 0xc5, 0x0f, 0x90,
    0xc2, 0x48, 0x01, 0xd5, 0x48, 0x0f, 0xbc, 0xf8, 0x9c, 0x41, 0x5a, 0x4d, 0x01, 0xd7, 0xff, 0xc9,
    0x0f, 0x85, 0x73, 0xff, 0xff, 0xff, 0xf4};

CpuState run_on(AccelMode mode, uint64_t* flags_dead_marked) {
  Flat64Machine m(16u << 20);
  m.engine().set_accel(mode);
  m.engine().set_sync_compile(true);  // every block's quick code, then its region, on any machine
  m.load(kCode, kMixedFlags.data(), kMixedFlags.size());
  m.reset64(kCode, 0x80000);
  std::string error;
  tier1::Tier1* t = mode == AccelMode::Tier0 ? nullptr : tier1::Tier1::get(&error);
  const uint64_t before = t ? t->stats().compile.flags_dead : 0;
  EXPECT_EQ(m.run(~uint64_t{0}).reason, kExitHalt);
  if (flags_dead_marked) *flags_dead_marked = t ? t->stats().compile.flags_dead - before : 0;
  if (mode != AccelMode::Tier0) {
    EXPECT_GE(m.engine().stats().tier1_installed, 4u);
  }
  return m.cpu();
}

TEST(JitDeadFlags, ProducersWhoseFlagsNobodySeesAreSkippedAndTheRestMatchTier0) {
  const CpuState want = run_on(AccelMode::Tier0, nullptr);
  uint64_t marked = 0;
  const CpuState got = run_on(AccelMode::CompileAll, &marked);
  for (unsigned r = 0; r < 16; ++r) EXPECT_EQ(got.gpr[r], want.gpr[r]) << "register " << r;
  // Each block compiled at both levels: ROR+XOR's ROR, SHR, IMUL (the 32-bit one), ADD r15 and
  // the other IMUL, the first NEG... at least the loop body's six, twice.
  EXPECT_GE(marked, 12u);
}

// The liveness itself, on one block: what each instruction leaves is dead exactly where a later
// producer that writes all six overwrites it with nothing able to look in between.
TEST(JitDeadFlags, LivenessFollowsReadersPassersAndFaultingInstructions) {
  auto insn = [](Op op, OpKind dst, OpKind src, uint64_t imm = 0) {
    Insn i{};
    i.op = op;
    i.opsize = 4;
    i.dst = {dst, dst == OpKind::Reg ? uint8_t{0} : kNoReg};
    i.src = {src, src == OpKind::Reg ? uint8_t{1} : kNoReg};
    i.imm = imm;
    return i;
  };
  const std::vector<Insn> block = {
      insn(Op::ADD, OpKind::Reg, OpKind::Reg),     // 0: dead (SUB overwrites it)
      insn(Op::SUB, OpKind::Reg, OpKind::Reg),     // 1: live (INC passes CF to ADC)
      insn(Op::INC, OpKind::Reg, OpKind::None),    // 2: live (ADC reads)
      insn(Op::ADC, OpKind::Reg, OpKind::Reg),     // 3: dead (ROR passes, SHL by 4 overwrites)
      insn(Op::ROR, OpKind::Reg, OpKind::Imm, 3),  // 4: dead
      insn(Op::SHL, OpKind::Reg, OpKind::Imm, 4),  // 5: live (a memory access may fault next)
      insn(Op::ADD, OpKind::Reg, OpKind::Mem),     // 6: live (the block's end)
      insn(Op::XOR, OpKind::Reg, OpKind::Reg),     // 7: live (the block's end)
  };
  const std::vector<bool> dead = dead_flags(block);
  EXPECT_EQ(dead, (std::vector<bool>{true, false, false, true, true, false, false, false}));
  EXPECT_EQ(flag_use(block[2]), FlagUse::kPasses);
  EXPECT_EQ(flag_use(block[5]), FlagUse::kWritesAll);
  EXPECT_FALSE(cannot_request_exit(block[6]));
  Insn locked = block[0];
  locked.prefixes |= pfx::kLock;  // #UD: an exception handler would see the flags before it
  EXPECT_FALSE(cannot_request_exit(locked));
}

}  // namespace
}  // namespace umbra
