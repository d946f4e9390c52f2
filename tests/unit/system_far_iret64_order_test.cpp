// IRET from 64-bit mode to 16/32-bit code: how much of RSP the popped stack pointer replaces,
// and which of the return RIP and the stack segment is checked first (SDM vol. 2, IRET,
// IA-32e-MODE-RETURN). Both were found by the differential tester against an AMD host
// (docs/difftest.md, "sys: iret*" forms).
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

// A 16-bit user data segment (B = 0) as a stack for the compatibility-mode code.
constexpr unsigned kData16Index = 12;
constexpr uint16_t kData16_3 = (kData16Index << 3) | 3;

class SysFarIret64 : public SysTest {
 protected:
  // The IRETQ frame at `at` (RIP, CS, RFLAGS, RSP, SS), RSP pointing at it.
  void frame(uint64_t rip, uint16_t cs, uint64_t rsp, uint16_t ss, uint64_t at = 0x8fd8) {
    poke<uint64_t>(at, rip);
    poke<uint64_t>(at + 8, cs);
    poke<uint64_t>(at + 16, rf::FIXED1 | rf::IF);
    poke<uint64_t>(at + 24, rsp);
    poke<uint64_t>(at + 32, ss);
    cpu().gpr[RSP] = at;
  }
};

// The upper half of RSP is undefined in compatibility mode (SDM vol. 1, 3.4.1.1); Umbra writes
// ESP zero-extended, as the stack-pointer width of a 32-bit stack says (and as the host does).
TEST_F(SysFarIret64, ToCompatWith32BitStackZeroExtendsEsp) {
  long64(3);
  frame(0x1234, kCode3, 0xabcdef0012345678ull, kData3);
  ASSERT_FALSE(exec({0x48, 0xcf}).faulted);
  EXPECT_EQ(cpu().mode64, 0);
  EXPECT_EQ(cpu().gpr[RSP], 0x12345678u);
}

TEST_F(SysFarIret64, ToCompatWith16BitStackReplacesSpOnly) {
  long64(3);
  set_gdt(kData16Index, make_desc(0, 0xffff, access(0x3, 3), 0));
  // The frame at 0x18fd8: RSP[63:16] = 1 before the IRET, and it stays.
  frame(0x1234, kCode3, 0xffff5678, kData16_3, 0x18fd8);
  ASSERT_FALSE(exec({0x48, 0xcf}).faulted);
  EXPECT_EQ(cpu().seg[SS].selector, kData16_3);
  EXPECT_EQ(cpu().gpr[RSP], 0x15678u);
}

TEST_F(SysFarIret64, To64BitCodeTakesTheWholeSlot) {
  long64(3);
  frame(0x1234, kCode64_3, 0x0000123456789abcull, kData3);
  ASSERT_FALSE(exec({0x48, 0xcf}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x0000123456789abcull);
}

TEST_F(SysFarIret64, ReturnRipCheckedBeforeStackSegment) {
  // Non-canonical RIP for 64-bit code and an SS with the wrong RPL: #GP(0), not #GP(SS).
  long64(3);
  frame(0x8000000000001234ull, kCode64_3, 0x6000, kData3 & ~3u);
  expect_fault(exec({0x48, 0xcf}), kGP, 0);
  // RIP past the 4-GiB limit of 32-bit code: the same.
  long64(3);
  frame(0x100001234ull, kCode3, 0x6000, kData3 & ~3u);
  expect_fault(exec({0x48, 0xcf}), kGP, 0);
  // The code segment still comes first.
  long64(3);
  frame(0x8000000000001234ull, kData3, 0x6000, kData3 & ~3u);
  expect_fault(exec({0x48, 0xcf}), kGP, kData3 & ~3u);
}

}  // namespace
}  // namespace umbra::test
