// Legacy-mode segment checks at the call sites that compute their own linear addresses instead
// of going through the ordinary operand accessors: BT/BTS/BTR/BTC with a memory operand, XLAT,
// PUSHA/POPA, ENTER, LEAVE, POP m, INS/OUTS and the group-7 descriptor-table instructions. Each
// checks the whole access (its size, read or write) against the segment (SDM vol. 3, 5.3 limit
// checking, 5.4 type checking): an access that starts inside the limit and ends beyond it
// faults, #SS(0) for SS and #GP(0) otherwise, before anything changes.
#include <cstdint>

#include "devices/port_bus.h"
#include "tests/unit/system_seg_fixture.h"

namespace umbra::test {
namespace {

// Data segments used below: base 0x4000, byte-granular limit 0xFFF, 32-bit.
constexpr uint32_t kBase = 0x4000;
constexpr uint32_t kLimit = 0xfff;
constexpr uint16_t kSmallSel = sel_of(16);

class SysSegLimits : public SysTest {
 protected:
  void SetUp() override { protected32(0); }

  // Loads `seg` with a small expand-up data segment of `type` (3: read/write, 1: read-only).
  void small(unsigned seg, unsigned type = 0x3) {
    cpu().seg[seg] = cache(kSmallSel, make_desc(kBase, kLimit, access(type, 0), kFlagDB));
    refresh_segment_checks(cpu());
    update_cpu_mode(cpu());
  }
};

// ---- BT/BTS/BTR/BTC (bit.cpp): the operand-sized word holding the bit ----

TEST_F(SysSegLimits, BitTestMemoryOperand) {
  small(DS);
  poke<uint32_t>(kBase + kLimit - 3, 0x80000000u);
  cpu().gpr[RBX] = kLimit - 3;  // the last dword of the segment
  cpu().gpr[RAX] = 31;
  ASSERT_FALSE(exec({0x0f, 0xa3, 0x03}).faulted);  // bt [ebx], eax
  EXPECT_TRUE(cpu().rflags & rf::CF);
  cpu().gpr[RBX] = kLimit - 1;  // a dword at limit-1 crosses the limit
  cpu().gpr[RAX] = 0;
  expect_fault(exec({0x0f, 0xa3, 0x03}), kGP, 0);        // bt [ebx], eax
  expect_fault(exec({0x0f, 0xba, 0x23, 0x00}), kGP, 0);  // bt dword [ebx], 0
  expect_fault(exec({0x0f, 0xab, 0x03}), kGP, 0);        // bts [ebx], eax
  expect_fault(exec({0x0f, 0xb3, 0x03}), kGP, 0);        // btr [ebx], eax
  expect_fault(exec({0x0f, 0xba, 0x3b, 0x00}), kGP, 0);  // btc dword [ebx], 0
  // A register offset moves the access: [ebx + 4 * (eax >> 5)].
  cpu().gpr[RBX] = kLimit - 7;
  cpu().gpr[RAX] = 32;  // the dword at limit-3: inside
  EXPECT_FALSE(exec({0x0f, 0xa3, 0x03}).faulted);
  cpu().gpr[RAX] = 64;  // the dword at limit+1: outside
  expect_fault(exec({0x0f, 0xa3, 0x03}), kGP, 0);
  // BTS/BTR/BTC write: a read-only segment faults, BT does not.
  small(DS, 0x1);
  cpu().gpr[RBX] = 0x100;
  cpu().gpr[RAX] = 0;
  EXPECT_FALSE(exec({0x0f, 0xa3, 0x03}).faulted);
  const uint32_t before = mem<uint32_t>(kBase + 0x100);
  expect_fault(exec({0x0f, 0xab, 0x03}), kGP, 0);
  EXPECT_EQ(mem<uint32_t>(kBase + 0x100), before);
}

TEST_F(SysSegLimits, BitTestStackSegmentIsSs) {
  small(SS);
  cpu().gpr[RBP] = kLimit - 1;
  cpu().gpr[RAX] = 0;
  expect_fault(exec({0x0f, 0xa3, 0x45, 0x00}), kSS, 0);  // bt [ebp], eax
}

// ---- XLAT (datamov.cpp): one byte at [seg: eBX + AL] ----

TEST_F(SysSegLimits, Xlat) {
  small(DS);
  poke<uint8_t>(kBase + kLimit, 0x5a);
  cpu().gpr[RBX] = kLimit - 0x10;
  cpu().gpr[RAX] = 0x10;  // the last byte
  ASSERT_FALSE(exec({0xd7}).faulted);
  EXPECT_EQ(cpu().gpr[RAX] & 0xff, 0x5au);
  cpu().gpr[RAX] = 0x11;  // one past it
  const Snapshot s = snapshot();
  expect_fault(exec({0xd7}), kGP, 0);
  expect_unchanged(s);
  // An override selects the segment that is checked.
  small(ES);
  cpu().seg[DS] = cache(kData0, data32(0));
  refresh_segment_checks(cpu());
  EXPECT_FALSE(exec({0xd7}).faulted);
  cpu().gpr[RAX] = 0x11;
  expect_fault(exec({0x26, 0xd7}), kGP, 0);
  // An execute-only code segment cannot be read.
  cpu().seg[CS] = cache(kCode0, code32(0, 0x9));
  update_cpu_mode(cpu());
  expect_fault(exec({0x2e, 0xd7}), kGP, 0);
}

// ---- PUSHA / POPA (stack.cpp): every slot against the SS limit ----

TEST_F(SysSegLimits, PushaChecksEverySlotAsAWrite) {
  small(SS);
  // The first slot (EAX) at limit-1..limit+2: its first byte is inside.
  cpu().gpr[RSP] = kLimit + 3;
  poke<uint32_t>(kBase + kLimit - 5, 0x77777777);
  const Snapshot s = snapshot();
  expect_fault(exec({0x60}), kSS, 0);  // pushad
  expect_unchanged(s);
  EXPECT_EQ(mem<uint32_t>(kBase + kLimit - 5), 0x77777777u);  // the ECX slot was not written
  cpu().gpr[RSP] = kLimit + 1;
  ASSERT_FALSE(exec({0x60}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], kLimit + 1 - 32);
  // 16-bit slots: PUSHA at SP = limit+2 writes AX at limit..limit+1.
  cpu().gpr[RSP] = kLimit + 2;
  expect_fault(exec({0x66, 0x60}), kSS, 0);
  // A read-only stack segment: SS must be writable for a push.
  small(SS, 0x1);
  cpu().gpr[RSP] = 0x800;
  expect_fault(exec({0x60}), kSS, 0);
}

TEST_F(SysSegLimits, PopaChecksEverySlot) {
  small(SS);
  // Slots from ESP = limit-29: the last one (EAX) at limit-1..limit+2.
  cpu().gpr[RSP] = kLimit - 29;
  const Snapshot s = snapshot();
  expect_fault(exec({0x61}), kSS, 0);  // popad
  expect_unchanged(s);
  cpu().gpr[RSP] = kLimit - 31;
  ASSERT_FALSE(exec({0x61}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], kLimit + 1);
  // 16-bit slots: the last (AX) at limit..limit+1.
  cpu().gpr[RSP] = kLimit - 14;
  expect_fault(exec({0x66, 0x61}), kSS, 0);
}

// ---- ENTER / LEAVE (stack.cpp) ----

TEST_F(SysSegLimits, EnterChecksPushesAndFramePointerReads) {
  small(SS);
  // The push of EBP at limit-1..limit+2.
  cpu().gpr[RSP] = kLimit + 3;
  cpu().gpr[RBP] = 0x800;
  Snapshot s = snapshot();
  expect_fault(exec({0xc8, 0x00, 0x00, 0x00}), kSS, 0);  // enter 0, 0
  expect_unchanged(s);
  // Level 2: the frame pointer read at [ebp - 4] = limit-1..limit+2.
  cpu().gpr[RSP] = 0x800;
  cpu().gpr[RBP] = kLimit + 3;
  poke<uint32_t>(kBase + 0x7fc, 0x12345678);
  s = snapshot();
  expect_fault(exec({0xc8, 0x00, 0x00, 0x02}), kSS, 0);  // enter 0, 2
  expect_unchanged(s);
  EXPECT_EQ(mem<uint32_t>(kBase + 0x7fc), 0x12345678u);  // the EBP push did not land
  cpu().gpr[RBP] = kLimit + 1;
  ASSERT_FALSE(exec({0xc8, 0x00, 0x00, 0x02}).faulted);
  EXPECT_EQ(cpu().gpr[RSP], 0x800u - 12);
}

TEST_F(SysSegLimits, LeaveReadsTheWholeSlot) {
  small(SS);
  cpu().gpr[RSP] = 0x100;
  cpu().gpr[RBP] = kLimit - 1;
  const Snapshot s = snapshot();
  expect_fault(exec({0xc9}), kSS, 0);  // leave: mov esp, ebp; pop ebp (limit-1..limit+2)
  expect_unchanged(s);
  cpu().gpr[RBP] = kLimit - 3;
  poke<uint32_t>(kBase + kLimit - 3, 0xabcd);
  ASSERT_FALSE(exec({0xc9}).faulted);
  EXPECT_EQ(cpu().gpr[RBP], 0xabcdu);
  EXPECT_EQ(cpu().gpr[RSP], kLimit + 1);
}

// ---- POP m (stack.cpp): the destination is a write of the operand size ----

TEST_F(SysSegLimits, PopToMemoryChecksTheDestination) {
  small(DS);
  cpu().gpr[RSP] = 0x800;
  poke<uint32_t>(0x800, 0xfeedf00d);
  cpu().gpr[RBX] = kLimit - 1;
  const Snapshot s = snapshot();
  expect_fault(exec({0x8f, 0x03}), kGP, 0);  // pop dword [ebx]
  expect_unchanged(s);
  cpu().gpr[RBX] = kLimit - 3;
  ASSERT_FALSE(exec({0x8f, 0x03}).faulted);
  EXPECT_EQ(mem<uint32_t>(kBase + kLimit - 3), 0xfeedf00du);
  EXPECT_EQ(cpu().gpr[RSP], 0x804u);
  // Read-only: the write is refused and ESP stays.
  small(DS, 0x1);
  cpu().gpr[RBX] = 0x10;
  expect_fault(exec({0x8f, 0x03}), kGP, 0);
  EXPECT_EQ(cpu().gpr[RSP], 0x804u);
  // ESP-based: addressed with the incremented ESP, checked against SS.
  small(SS);
  cpu().gpr[RSP] = kLimit - 5;  // pops limit-5..limit-2, then writes [esp] = limit-1..limit+2
  expect_fault(exec({0x8f, 0x04, 0x24}), kSS, 0);  // pop dword [esp]
  EXPECT_EQ(cpu().gpr[RSP], kLimit - 5);
}

// ---- INS / OUTS (io.cpp): ES:eDI written, seg:eSI read ----

class SysSegLimitsIo : public SysSegLimits {
 protected:
  PortBus bus;
  unsigned reads = 0, writes = 0;
  void SetUp() override {
    SysSegLimits::SetUp();
    PortHandler h;
    h.read = [this](uint16_t, unsigned) -> uint32_t {
      ++reads;
      return 0xa5a5a5a5u;
    };
    h.write = [this](uint16_t, unsigned, uint32_t) { ++writes; };
    bus.add(0, 0x10000, h, "test");
    cpu().ports = &bus;
    cpu().gpr[RDX] = 0x80;
  }
};

TEST_F(SysSegLimitsIo, InsWritesEsWithinTheLimit) {
  small(ES);
  cpu().gpr[RDI] = kLimit - 1;
  const Snapshot s = snapshot();
  expect_fault(exec({0x6d}), kGP, 0);  // insd
  expect_unchanged(s);
  EXPECT_EQ(reads, 0u);  // the port is not read when the store cannot happen
  cpu().gpr[RDI] = kLimit - 3;
  ASSERT_FALSE(exec({0x6d}).faulted);
  EXPECT_EQ(mem<uint32_t>(kBase + kLimit - 3), 0xa5a5a5a5u);
  // A DS override does not apply to INS, and a read-only ES refuses the store.
  small(ES, 0x1);
  cpu().gpr[RDI] = 0x10;
  expect_fault(exec({0x3e, 0x6d}), kGP, 0);
}

TEST_F(SysSegLimitsIo, OutsReadsTheSourceSegment) {
  small(DS);
  cpu().gpr[RSI] = kLimit - 1;
  const Snapshot s = snapshot();
  expect_fault(exec({0x6f}), kGP, 0);  // outsd
  expect_unchanged(s);
  EXPECT_EQ(writes, 0u);
  cpu().gpr[RSI] = kLimit - 3;
  ASSERT_FALSE(exec({0x6f}).faulted);
  EXPECT_EQ(writes, 1u);
  // With an SS override the stack segment is checked: #SS.
  small(SS);
  cpu().gpr[RSI] = kLimit - 1;
  expect_fault(exec({0x36, 0x6f}), kSS, 0);
}

// ---- Group 7 (system_grp7.cpp): SGDT/SIDT store 6 bytes, LGDT/LIDT read 6, SMSW m16 ----

TEST_F(SysSegLimits, DescriptorTableStoresAndLoads) {
  small(DS);
  cpu().gpr[RBX] = kLimit - 5;                     // the 6-byte image fits exactly
  ASSERT_FALSE(exec({0x0f, 0x01, 0x03}).faulted);  // sgdt [ebx]
  EXPECT_EQ(mem<uint16_t>(kBase + kLimit - 5), cpu().gdtr.limit);
  cpu().gpr[RBX] = kLimit - 4;  // the base dword ends at limit+1
  poke<uint16_t>(kBase + kLimit - 4, 0x1111);
  expect_fault(exec({0x0f, 0x01, 0x03}), kGP, 0);         // sgdt
  expect_fault(exec({0x0f, 0x01, 0x0b}), kGP, 0);         // sidt
  EXPECT_EQ(mem<uint16_t>(kBase + kLimit - 4), 0x1111u);  // the limit word was not written
  const DescriptorTableReg gdtr = cpu().gdtr;
  expect_fault(exec({0x0f, 0x01, 0x13}), kGP, 0);  // lgdt [ebx]
  expect_fault(exec({0x0f, 0x01, 0x1b}), kGP, 0);  // lidt [ebx]
  EXPECT_EQ(cpu().gdtr.base, gdtr.base);
  EXPECT_EQ(cpu().gdtr.limit, gdtr.limit);
  // SMSW m16: two bytes.
  cpu().gpr[RBX] = kLimit;
  expect_fault(exec({0x0f, 0x01, 0x23}), kGP, 0);  // smsw [ebx]
  cpu().gpr[RBX] = kLimit - 1;
  EXPECT_FALSE(exec({0x0f, 0x01, 0x23}).faulted);
  // Stores to a read-only segment fault; loads from it do not.
  small(DS, 0x1);
  cpu().gpr[RBX] = 0x100;
  expect_fault(exec({0x0f, 0x01, 0x03}), kGP, 0);  // sgdt
  expect_fault(exec({0x0f, 0x01, 0x23}), kGP, 0);  // smsw
  poke<uint16_t>(kBase + 0x100, 0x1ff);
  poke<uint32_t>(kBase + 0x102, kGdt);
  EXPECT_FALSE(exec({0x0f, 0x01, 0x13}).faulted);  // lgdt
}

TEST_F(SysSegLimits, DescriptorTableOnTheStackIsSs) {
  small(SS);
  cpu().gpr[RBP] = kLimit - 4;
  expect_fault(exec({0x0f, 0x01, 0x45, 0x00}), kSS, 0);  // sgdt [ebp]
}

}  // namespace
}  // namespace umbra::test
