// Segment limit, type and usability checks of data, stack and string accesses in legacy modes,
// and the 64-bit canonical rule with #SS(0) for stack references (SDM vol. 3, 5.3-5.4; vol. 1,
// 3.3.7.1).
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

class SysSegLimit : public SysTest {
 protected:
  void load(unsigned seg, uint16_t sel, uint64_t desc) {
    cpu().seg[seg] = cache(sel, desc);
    refresh_segment_checks(cpu());
  }
};

TEST_F(SysSegLimit, ExpandUpData) {
  protected32(0);
  load(DS, sel_of(16), make_desc(0x4000, 0xfff, access(0x3, 0), kFlagDB));
  poke<uint32_t>(0x4ffc, 0xdeadbeef);
  cpu().gpr[RBX] = 0xffc;
  ASSERT_FALSE(exec({0x8b, 0x03}).faulted);  // mov eax, [ebx]
  EXPECT_EQ(cpu().gpr[RAX], 0xdeadbeefu);
  cpu().gpr[RBX] = 0xffd;
  expect_fault(exec({0x8b, 0x03}), kGP, 0);
  cpu().gpr[RBX] = 0xfff;
  EXPECT_FALSE(exec({0x8a, 0x03}).faulted);  // mov al, [ebx]: the last byte
}

TEST_F(SysSegLimit, StackSegmentReferencesAreSs) {
  protected32(0);
  load(SS, kData0, make_desc(0, 0xfff, access(0x3, 0), kFlagDB));
  cpu().gpr[RBP] = 0xffe;
  expect_fault(exec({0x8b, 0x45, 0x00}), kSS, 0);  // mov eax, [ebp]
  cpu().gpr[RSP] = 0x1002;
  const Snapshot s = snapshot();
  expect_fault(exec({0x50}), kSS, 0);  // push eax: writes 0xffe..0x1001
  expect_unchanged(s);
  cpu().gpr[RSP] = 0x1000;
  EXPECT_FALSE(exec({0x50}).faulted);
}

TEST_F(SysSegLimit, ExpandDown) {
  protected32(0);
  // Expand-down, B = 1: valid offsets 0x1000..0xFFFFFFFF.
  load(ES, sel_of(16), make_desc(0, 0xfff, access(0x7, 0), kFlagDB));
  cpu().gpr[RBX] = 0xfff;
  expect_fault(exec({0x26, 0x8b, 0x03}), kGP, 0);  // mov eax, es:[ebx]
  cpu().gpr[RBX] = 0x1000;
  EXPECT_FALSE(exec({0x26, 0x8b, 0x03}).faulted);
  cpu().gpr[RBX] = 0xfffffffe;
  expect_fault(exec({0x26, 0x8b, 0x03}), kGP, 0);
  // B = 0: the top is 0xFFFF.
  load(ES, sel_of(16), make_desc(0, 0xfff, access(0x7, 0), 0));
  cpu().gpr[RBX] = 0xfffe;
  expect_fault(exec({0x26, 0x8b, 0x03}), kGP, 0);
  cpu().gpr[RBX] = 0xfffc;
  EXPECT_FALSE(exec({0x26, 0x8b, 0x03}).faulted);
}

TEST_F(SysSegLimit, TypeChecks) {
  protected32(0);
  load(DS, sel_of(16), data32(0, 0x1));  // read-only
  cpu().gpr[RBX] = 0x700;
  EXPECT_FALSE(exec({0x8b, 0x03}).faulted);
  expect_fault(exec({0x89, 0x03}), kGP, 0);        // mov [ebx], eax
  expect_fault(exec({0x83, 0x03, 0x01}), kGP, 0);  // add dword [ebx], 1 (RMW)
  // CS override: readable code reads fine, never writes.
  EXPECT_FALSE(exec({0x2e, 0x8b, 0x03}).faulted);
  expect_fault(exec({0x2e, 0x89, 0x03}), kGP, 0);
  load(CS, kCode0, code32(0, 0x9));  // execute-only
  update_cpu_mode(cpu());
  expect_fault(exec({0x2e, 0x8b, 0x03}), kGP, 0);
}

TEST_F(SysSegLimit, RealModeWordAtSegmentEnd) {
  real_mode(0);
  cpu().gpr[RBX] = 0xffff;
  expect_fault(exec({0x8b, 0x07}), kGP, 0);  // mov ax, [bx]
  cpu().gpr[RBX] = 0xfffe;
  EXPECT_FALSE(exec({0x8b, 0x07}).faulted);
  // Big real mode: a 4 GiB cached limit allows 32-bit offsets.
  cpu().seg[DS].limit = 0xffffffff;
  refresh_segment_checks(cpu());
  cpu().gpr[RBX] = 0x123456;
  EXPECT_FALSE(exec({0x67, 0x8b, 0x03}).faulted);  // mov ax, [ebx]
}

TEST_F(SysSegLimit, RealModeIgnoresTypeAndUsability) {
  real_mode(0);
  cpu().seg[DS].attrib = 0x91;  // read-only in the cache
  refresh_segment_checks(cpu());
  cpu().gpr[RBX] = 0x700;
  EXPECT_FALSE(exec({0x89, 0x07}).faulted);  // mov [bx], ax
}

TEST_F(SysSegLimit, StringElementsStopAtTheLimit) {
  protected32(0);
  load(ES, sel_of(16), make_desc(0, 0xfff, access(0x3, 0), kFlagDB));
  cpu().gpr[RSI] = 0x2000;
  cpu().gpr[RDI] = 0xff0;
  cpu().gpr[RCX] = 0x20;
  const Outcome o = exec({0xf3, 0xa4});  // rep movsb
  expect_fault(o, kGP, 0);
  EXPECT_EQ(cpu().gpr[RCX], 0x10u);
  EXPECT_EQ(cpu().gpr[RDI], 0x1000u);
  EXPECT_EQ(cpu().gpr[RSI], 0x2010u);
}

TEST_F(SysSegLimit, NullSegmentUse) {
  protected32(0);
  cpu().seg[FS] = null_segment(0);
  refresh_segment_checks(cpu());
  expect_fault(exec({0x64, 0x8b, 0x03}), kGP, 0);  // mov eax, fs:[ebx]
}

TEST_F(SysSegLimit, SixtyFourBitIgnoresLimits) {
  long64(0);
  cpu().seg[DS] = SegmentCache{0x5000, 0, 0, 0};  // a tiny, unusable DS: no effect
  refresh_segment_checks(cpu());
  poke<uint64_t>(0x900, 0x1122334455667788ull);
  cpu().gpr[RBX] = 0x900;
  ASSERT_FALSE(exec({0x48, 0x8b, 0x03}).faulted);
  EXPECT_EQ(cpu().gpr[RAX], 0x1122334455667788ull);
}

TEST_F(SysSegLimit, SixtyFourBitNonCanonical) {
  long64(0);
  const uint64_t bad = 0x0000'8000'0000'0000ull;
  cpu().gpr[RBX] = bad;
  expect_fault(exec({0x48, 0x8b, 0x03}), kGP, 0);  // mov rax, [rbx]
  cpu().gpr[RBP] = bad;
  expect_fault(exec({0x48, 0x8b, 0x45, 0x00}), kSS, 0);  // mov rax, [rbp]
  // ES/CS/SS/DS overrides are ignored in 64-bit mode: only the base register makes a stack
  // reference (SDM vol. 1, 3.3.7.1; the host agrees). An FS/GS override is never one.
  expect_fault(exec({0x36, 0x48, 0x8b, 0x03}), kGP, 0);        // mov rax, ss:[rbx]
  expect_fault(exec({0x3e, 0x48, 0x8b, 0x45, 0x00}), kSS, 0);  // mov rax, ds:[rbp]
  expect_fault(exec({0x26, 0x48, 0x8b, 0x45, 0x00}), kSS, 0);  // mov rax, es:[rbp]
  expect_fault(exec({0x64, 0x48, 0x8b, 0x45, 0x00}), kGP, 0);  // mov rax, fs:[rbp]
  // Instructions with their own access paths follow the same rule.
  expect_fault(exec({0x48, 0x0f, 0xc7, 0x4d, 0x00}), kSS, 0);  // cmpxchg16b [rbp]
  expect_fault(exec({0x48, 0x0f, 0xc7, 0x4d, 0x01}), kGP, 0);  // misaligned first: #GP
  expect_fault(exec({0x48, 0x0f, 0xc7, 0x0b}), kGP, 0);        // cmpxchg16b [rbx]
  cpu().gpr[RSP] = 0x8000;
  poke<uint64_t>(0x8000, 0x55);
  poke<uint64_t>(0x7ff8, 0x1234);
  expect_fault(exec({0x8f, 0x45, 0x00}), kSS, 0);        // pop qword [rbp]
  expect_fault(exec({0x66, 0x8f, 0x45, 0x00}), kSS, 0);  // pop word [rbp]
  expect_fault(exec({0x8f, 0x03}), kGP, 0);              // pop qword [rbx]
  EXPECT_EQ(cpu().gpr[RSP], 0x8000u);
  expect_fault(exec({0xc9}), kSS, 0);  // leave: reads [rbp]
  expect_fault(exec({0x66, 0xc9}), kSS, 0);
  cpu().gpr[RBP] = bad + 8;
  expect_fault(exec({0xc8, 0x00, 0x00, 0x02}), kSS, 0);  // enter 0, 2: reads [rbp - 8]
  EXPECT_EQ(cpu().gpr[RSP], 0x8000u);
  EXPECT_EQ(mem<uint64_t>(0x7ff8), 0x1234u);  // the push of RBP did not land
  cpu().gpr[RSP] = bad + 8;
  const Snapshot s = snapshot();
  expect_fault(exec({0x50}), kSS, 0);                    // push rax
  expect_fault(exec({0x58}), kSS, 0);                    // pop rax
  expect_fault(exec({0xc8, 0x00, 0x00, 0x00}), kSS, 0);  // enter 0, 0: push rbp
  expect_unchanged(s);
}

}  // namespace
}  // namespace umbra::test

namespace umbra::test {
namespace {

TEST_F(SysSegLimit, ExpandDownStack) {
  protected32(0);
  // A 16-bit expand-down stack: valid offsets 0x1000..0xFFFF.
  load(SS, kData0, make_desc(0, 0xfff, access(0x7, 0), 0));
  update_cpu_mode(cpu());
  cpu().gpr[RSP] = 0x1002;
  expect_fault(exec({0x50}), kSS, 0);  // push eax: 0xffe..0x1001
  cpu().gpr[RSP] = 0x1004;
  EXPECT_FALSE(exec({0x50}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x1000u);
}

TEST_F(SysSegLimit, CompatibilityModeChecksLimits) {
  compat32(0);
  load(DS, sel_of(16), make_desc(0, 0xfff, access(0x3, 0), kFlagDB));
  cpu().gpr[RBX] = 0x1000;
  expect_fault(exec({0x8b, 0x03}), kGP, 0);
}

TEST_F(SysSegLimit, SixteenBitStackWrapsInPush) {
  protected32(0);
  load(SS, kData0, make_desc(0x20000, 0xffff, access(0x3, 0), 0));  // B = 0: SP
  update_cpu_mode(cpu());
  cpu().gpr[RSP] = 0xabcd0000;
  cpu().gpr[RAX] = 0x11223344;
  ASSERT_FALSE(exec({0x50}).faulted);  // push eax wraps SP to 0xFFFC
  EXPECT_EQ(cpu().gpr[RSP], 0xabcdfffcu);
  EXPECT_EQ(mem<uint32_t>(0x2fffc), 0x11223344u);
}

}  // namespace
}  // namespace umbra::test
