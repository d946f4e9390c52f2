// Local APIC registers, priorities, EOI, IPIs and the ExtINT path (SDM vol. 3, chapter 10).
#include <gtest/gtest.h>

#include "devices/lapic.h"
#include "frontend/system/msr.h"
#include "jit/engine.h"
#include "lapic_test_util.h"
#include "softmmu/guest_memory.h"

namespace umbra {
namespace {

using test::ApicTestBench;
using test::FakePic;

ApicMessage fixed(uint8_t vector, bool level = false) {
  ApicMessage m;
  m.vector = vector;
  m.level = level;
  return m;  // physical destination 0 = this APIC
}

TEST(LapicRegisters, PowerOnState) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  EXPECT_EQ(a.read_register(Lapic::kVersion), 0x00050014u);
  EXPECT_EQ(a.read_register(Lapic::kId), 0u);
  EXPECT_EQ(a.read_register(Lapic::kSvr), 0xFFu);
  EXPECT_EQ(a.read_register(Lapic::kDfr), 0xFFFFFFFFu);
  EXPECT_EQ(a.read_register(Lapic::kTpr), 0u);
  for (uint32_t r = Lapic::kLvtTimer; r <= Lapic::kLvtError; r += 0x10)
    EXPECT_EQ(a.read_register(r), 0x10000u) << std::hex << r;
  for (uint32_t r = 0; r < 8; ++r) {
    EXPECT_EQ(a.read_register(Lapic::kIrr + 0x10 * r), 0u);
    EXPECT_EQ(a.read_register(Lapic::kIsr + 0x10 * r), 0u);
  }
  EXPECT_TRUE(a.globally_enabled());
  EXPECT_FALSE(a.software_enabled());
  EXPECT_EQ(a.base(), Lapic::kDefaultBase);
}

TEST(LapicRegisters, WritableFieldsAndReadOnlyRegisters) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  a.write_register(Lapic::kId, 0xFFFFFFFF);
  EXPECT_EQ(a.read_register(Lapic::kId), 0xFF000000u);
  a.write_register(Lapic::kId, 0);
  a.write_register(Lapic::kLdr, 0x12345678);
  EXPECT_EQ(a.read_register(Lapic::kLdr), 0x12000000u);
  a.write_register(Lapic::kDfr, 0);
  EXPECT_EQ(a.read_register(Lapic::kDfr), 0x0FFFFFFFu);  // cluster model, low bits read as 1
  a.write_register(Lapic::kVersion, 0);
  EXPECT_EQ(a.read_register(Lapic::kVersion), 0x00050014u);
  b.enable();
  // LINT0: vector, delivery mode, polarity, trigger, mask are writable; status and remote IRR not.
  a.write_register(Lapic::kLvtLint0, 0xFFFFFFFF);
  EXPECT_EQ(a.read_register(Lapic::kLvtLint0), 0x0001A7FFu);
  a.write_register(Lapic::kLvtError, 0xFFFFFFFF);
  EXPECT_EQ(a.read_register(Lapic::kLvtError), 0x000100FFu);
  a.write_register(Lapic::kLvtTimer, 0xFFFFFFFF);
  EXPECT_EQ(a.read_register(Lapic::kLvtTimer), 0x000700FFu);
  a.write_register(Lapic::kTimerDivide, 0xFF);
  EXPECT_EQ(a.read_register(Lapic::kTimerDivide), 0xBu);
}

TEST(LapicRegisters, TimerModeBit18NeedsTscDeadline) {
  ApicTestBench b(/*tsc_deadline=*/false);
  b.enable();
  b.lapic().write_register(Lapic::kLvtTimer, 0x00040030);
  EXPECT_EQ(b.lapic().read_register(Lapic::kLvtTimer), 0x30u);
}

TEST(LapicRegisters, TprBitsSevenToFourAreCr8) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  a.write_register(Lapic::kTpr, 0x5A);
  EXPECT_EQ(b.cpu().cr8, 5u);
  EXPECT_EQ(a.read_register(Lapic::kTpr), 0x5Au);
  // MOV CR8 writes TPR[7:4] and clears TPR[3:0] (SDM 10.8.6.1).
  b.cpu().cr8 = 3;
  a.tpr_changed(b.cpu());
  EXPECT_EQ(a.read_register(Lapic::kTpr), 0x30u);
}

TEST(LapicRegisters, SoftwareDisableMasksEveryLvt) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  // Disabled at power-on: the mask bit cannot be cleared.
  a.write_register(Lapic::kLvtLint1, 0x400);
  EXPECT_EQ(a.read_register(Lapic::kLvtLint1), 0x10400u);
  b.enable();
  a.write_register(Lapic::kLvtLint1, 0x400);
  a.write_register(Lapic::kLvtTimer, 0x40);
  EXPECT_EQ(a.read_register(Lapic::kLvtLint1), 0x400u);
  a.write_register(Lapic::kSvr, 0xFF);
  EXPECT_EQ(a.read_register(Lapic::kLvtLint1), 0x10400u);
  EXPECT_EQ(a.read_register(Lapic::kLvtTimer), 0x10040u);
  // Enabling again leaves them masked until software unmasks them.
  b.enable();
  EXPECT_EQ(a.read_register(Lapic::kLvtTimer), 0x10040u);
}

TEST(LapicPriority, InterruptDeliverableOnlyAboveProcessorPriority) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kTpr, 0x40);
  ASSERT_TRUE(a.accept_message(fixed(0x45)));
  EXPECT_TRUE(a.irr_bit(0x45));
  EXPECT_FALSE(a.has_interrupt());  // same class as the TPR
  EXPECT_FALSE(b.cpu().irq_line);
  ASSERT_TRUE(a.accept_message(fixed(0x51)));
  EXPECT_TRUE(a.has_interrupt());
  EXPECT_TRUE(b.cpu().irq_line);
  EXPECT_TRUE(b.cpu().exit_request & kExitInterrupt);
  // Raising CR8 hides it again; lowering it makes both deliverable, highest first.
  b.cpu().cr8 = 0xF;
  a.tpr_changed(b.cpu());
  EXPECT_FALSE(a.has_interrupt());
  EXPECT_FALSE(b.cpu().irq_line);
  b.cpu().exit_request = 0;
  b.cpu().cr8 = 0;
  a.tpr_changed(b.cpu());
  EXPECT_TRUE(b.cpu().irq_line);
  EXPECT_TRUE(b.cpu().exit_request & kExitInterrupt);
  EXPECT_EQ(a.acknowledge(), 0x51);
  EXPECT_EQ(a.read_register(Lapic::kPpr), 0x50u);
  EXPECT_FALSE(a.has_interrupt());  // 0x45 is below the in-service class
}

TEST(LapicPriority, PprAndApr) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.accept_message(fixed(0x45));
  EXPECT_EQ(a.acknowledge(), 0x45);
  EXPECT_TRUE(a.isr_bit(0x45));
  EXPECT_FALSE(a.irr_bit(0x45));
  a.write_register(Lapic::kTpr, 0x23);
  EXPECT_EQ(a.read_register(Lapic::kPpr), 0x40u);  // ISR class wins, sub-class reads 0
  a.write_register(Lapic::kTpr, 0x53);
  EXPECT_EQ(a.read_register(Lapic::kPpr), 0x53u);  // TPR wins whole
  EXPECT_EQ(a.read_register(Lapic::kApr), 0x53u);
  a.write_register(Lapic::kTpr, 0x10);
  a.accept_message(fixed(0x72));
  EXPECT_EQ(a.read_register(Lapic::kApr), 0x70u);  // highest of TPR, IRR and ISR classes
}

TEST(LapicPriority, NestedInServiceInterruptsAndEoiOrder) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.accept_message(fixed(0x30));
  EXPECT_EQ(a.acknowledge(), 0x30);
  a.accept_message(fixed(0x31));
  EXPECT_FALSE(a.has_interrupt());  // same class as the one in service
  a.accept_message(fixed(0x60));
  EXPECT_TRUE(a.has_interrupt());
  EXPECT_EQ(a.acknowledge(), 0x60);
  EXPECT_TRUE(a.isr_bit(0x30));
  EXPECT_TRUE(a.isr_bit(0x60));
  EXPECT_EQ(a.read_register(Lapic::kIsr + 0x30), 1u);  // vector 0x60 = bit 0 of ISR[3]
  a.write_register(Lapic::kEoi, 0);                    // ends the highest: 0x60
  EXPECT_FALSE(a.isr_bit(0x60));
  EXPECT_TRUE(a.isr_bit(0x30));
  EXPECT_FALSE(a.has_interrupt());
  a.write_register(Lapic::kEoi, 0);
  EXPECT_FALSE(a.isr_bit(0x30));
  EXPECT_TRUE(a.has_interrupt());
  EXPECT_EQ(a.acknowledge(), 0x31);
  EXPECT_FALSE(b.cpu().irq_line);
}

TEST(LapicPriority, RepeatedRequestMergesInIrr) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.accept_message(fixed(0x40));
  a.accept_message(fixed(0x40));
  EXPECT_EQ(a.acknowledge(), 0x40);
  EXPECT_FALSE(a.has_interrupt());
}

TEST(LapicPriority, SpuriousVectorWhenTheInterruptWentAway) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  a.write_register(Lapic::kSvr, 0x1EF);
  a.accept_message(fixed(0x40));
  a.write_register(Lapic::kTpr, 0xF0);
  EXPECT_EQ(a.acknowledge(), 0xEF);
  EXPECT_FALSE(a.isr_bit(0xEF));
  EXPECT_FALSE(a.isr_bit(0x40));
  EXPECT_TRUE(a.irr_bit(0x40));
}

TEST(LapicPriority, LevelTriggeredEoiIsBroadcast) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  std::vector<uint8_t> eois;
  a.on_level_eoi = [&](uint8_t v) { eois.push_back(v); };
  a.accept_message(fixed(0x41, /*level=*/true));
  EXPECT_TRUE(a.tmr_bit(0x41));
  a.accept_message(fixed(0x52));
  EXPECT_FALSE(a.tmr_bit(0x52));
  EXPECT_EQ(a.acknowledge(), 0x52);
  a.write_register(Lapic::kEoi, 0);
  EXPECT_TRUE(eois.empty());
  EXPECT_EQ(a.acknowledge(), 0x41);
  a.write_register(Lapic::kEoi, 0);
  ASSERT_EQ(eois.size(), 1u);
  EXPECT_EQ(eois[0], 0x41);
  a.write_register(Lapic::kEoi, 0);  // nothing in service: no effect
  EXPECT_EQ(eois.size(), 1u);
}

TEST(LapicPriority, SoftwareDisabledApicRefusesFixedButKeepsPending) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  EXPECT_FALSE(a.accept_message(fixed(0x40)));
  b.enable();
  EXPECT_TRUE(a.accept_message(fixed(0x40)));
  a.write_register(Lapic::kSvr, 0xFF);
  EXPECT_TRUE(a.has_interrupt());  // IRR is held (SDM 10.4.7.2)
  ApicMessage nmi;
  nmi.delivery = ApicDelivery::kNmi;
  EXPECT_TRUE(a.accept_message(nmi));
  EXPECT_TRUE(b.cpu().nmi_pending);
}

TEST(LapicErrors, IllegalVectorsAndEsrLatching) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.accept_message(fixed(0x05));
  EXPECT_FALSE(a.irr_bit(0x05));
  EXPECT_EQ(a.read_register(Lapic::kEsr), 0u);  // not latched yet
  a.write_register(Lapic::kEsr, 0);
  EXPECT_EQ(a.read_register(Lapic::kEsr), Lapic::kEsrReceiveIllegalVector);
  a.write_register(Lapic::kEsr, 0);
  EXPECT_EQ(a.read_register(Lapic::kEsr), 0u);
  // With the error LVT unmasked, an error raises its vector.
  a.write_register(Lapic::kLvtError, 0xFE);
  a.write_register(Lapic::kIcrLow, 0x00040003);  // self IPI, vector 3
  EXPECT_TRUE(a.irr_bit(0xFE));
  a.write_register(Lapic::kEsr, 0);
  EXPECT_EQ(a.read_register(Lapic::kEsr), Lapic::kEsrSendIllegalVector);
  a.read_register(0x3F0);  // reserved register
  a.write_register(Lapic::kEsr, 0);
  EXPECT_EQ(a.read_register(Lapic::kEsr), Lapic::kEsrIllegalRegister);
}

TEST(LapicIpi, SelfAndDestinationShorthands) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kIcrLow, 0x00040041);  // self
  EXPECT_TRUE(a.irr_bit(0x41));
  EXPECT_EQ(a.read_register(Lapic::kIcrLow) & (1u << 12), 0u);  // delivery status idle
  a.write_register(Lapic::kIcrLow, 0x00080042);                 // all including self
  EXPECT_TRUE(a.irr_bit(0x42));
  a.write_register(Lapic::kIcrLow, 0x000C0043);  // all excluding self: nobody
  EXPECT_FALSE(a.irr_bit(0x43));
  a.write_register(Lapic::kIcrHigh, 0x03000000);  // physical destination 3: not us
  a.write_register(Lapic::kIcrLow, 0x00000044);
  EXPECT_FALSE(a.irr_bit(0x44));
  a.write_register(Lapic::kIcrHigh, 0x00000000);  // physical 0: us
  a.write_register(Lapic::kIcrLow, 0x00000045);
  EXPECT_TRUE(a.irr_bit(0x45));
  EXPECT_FALSE(a.tmr_bit(0x45));
  a.write_register(Lapic::kIcrHigh, 0xFF000000);  // broadcast
  a.write_register(Lapic::kIcrLow, 0x00000046);
  EXPECT_TRUE(a.irr_bit(0x46));
  // Logical, flat model: LDR bit 2; destination mask 0x04 matches, 0x08 does not.
  a.write_register(Lapic::kLdr, 0x04000000);
  a.write_register(Lapic::kIcrHigh, 0x08000000);
  a.write_register(Lapic::kIcrLow, 0x00000847);
  EXPECT_FALSE(a.irr_bit(0x47));
  a.write_register(Lapic::kIcrHigh, 0x0C000000);
  a.write_register(Lapic::kIcrLow, 0x00000848);
  EXPECT_TRUE(a.irr_bit(0x48));
  // Cluster model: cluster 2, member bit 1.
  a.write_register(Lapic::kDfr, 0x0FFFFFFF);
  a.write_register(Lapic::kLdr, 0x21000000);
  a.write_register(Lapic::kIcrHigh, 0x11000000);  // cluster 1
  a.write_register(Lapic::kIcrLow, 0x00000849);
  EXPECT_FALSE(a.irr_bit(0x49));
  a.write_register(Lapic::kIcrHigh, 0x23000000);
  a.write_register(Lapic::kIcrLow, 0x0000084A);
  EXPECT_TRUE(a.irr_bit(0x4A));
}

TEST(LapicIpi, NmiAndInitDeassert) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kIcrLow, 0x00040400);  // NMI to self
  EXPECT_TRUE(b.cpu().nmi_pending);
  EXPECT_TRUE(b.cpu().exit_request & kExitInterrupt);
  b.cpu().nmi_pending = 0;
  a.write_register(Lapic::kIcrLow, 0x000C8500);  // INIT level de-assert, all including self
  EXPECT_FALSE(b.cpu().nmi_pending);
  EXPECT_FALSE(a.has_interrupt());
  a.write_register(Lapic::kEsr, 0);
  EXPECT_EQ(a.read_register(Lapic::kEsr), 0u);
}

TEST(LapicExtInt, PicPassesThroughWhenGloballyDisabled) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  FakePic pic;
  a.connect_pic([&] { return pic.output; }, [&] { return pic.acknowledge(); });
  pic.output = true;
  a.set_lint0(true);
  // Enabled in IA32_APIC_BASE but software-disabled, LINT0 masked: the PIC is cut off.
  EXPECT_FALSE(a.has_interrupt());
  // Clear the global enable through WRMSR: the APIC leaves the path (SDM 10.4.3).
  uint64_t base;
  ASSERT_TRUE(read_msr(b.cpu(), 0x1B, &base));
  ASSERT_TRUE(write_msr(b.cpu(), 0x1B, base & ~uint64_t{1u << 11}));
  EXPECT_FALSE(a.globally_enabled());
  EXPECT_TRUE(a.has_interrupt());
  EXPECT_TRUE(b.cpu().irq_line);
  pic.vector = 0x08;
  EXPECT_EQ(a.acknowledge(), 0x08);
  EXPECT_EQ(pic.acks, 1u);
  EXPECT_FALSE(b.cpu().irq_line);
  // LINT1 is the NMI pin then.
  a.set_lint1(true);
  EXPECT_TRUE(b.cpu().nmi_pending);
}

TEST(LapicExtInt, VirtualWireThroughLint0) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  FakePic pic;
  a.connect_pic([&] { return pic.output; }, [&] { return pic.acknowledge(); });
  a.setup_virtual_wire();
  EXPECT_EQ(a.read_register(Lapic::kLvtLint0), 0x700u);
  EXPECT_EQ(a.read_register(Lapic::kLvtLint1), 0x400u);
  EXPECT_FALSE(a.has_interrupt());
  pic.output = true;
  a.set_lint0(true);
  EXPECT_TRUE(b.cpu().irq_line);
  // The TPR does not filter ExtINT, and no ISR bit is set (the PIC does its own EOI).
  a.write_register(Lapic::kTpr, 0xF0);
  EXPECT_TRUE(a.has_interrupt());
  pic.vector = 0x21;
  EXPECT_EQ(a.acknowledge(), 0x21);
  EXPECT_FALSE(a.isr_bit(0x21));
  a.set_lint0(false);
  EXPECT_FALSE(b.cpu().irq_line);
  // Masking LINT0 cuts the PIC off.
  a.write_register(Lapic::kLvtLint0, 0x10700);
  pic.output = true;
  a.set_lint0(true);
  EXPECT_FALSE(a.has_interrupt());
  // LINT1 as NMI.
  a.set_lint1(true);
  EXPECT_TRUE(b.cpu().nmi_pending);
}

TEST(LapicExtInt, Lint0FixedModeLatchesRisingEdges) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  b.enable();
  a.write_register(Lapic::kLvtLint0, 0x0053);  // fixed, edge, vector 0x53
  a.set_lint0(true);
  EXPECT_TRUE(a.irr_bit(0x53));
  EXPECT_EQ(a.acknowledge(), 0x53);
  a.set_lint0(true);  // no new edge
  EXPECT_FALSE(a.irr_bit(0x53));
}

TEST(LapicPlatform, MmioWindowFollowsApicBase) {
  ApicTestBench b;
  Lapic& a = b.lapic();
  GuestMemory mem(1u << 20);
  a.map(mem);
  EXPECT_EQ(mem.read_phys(0xFEE00030, 4), 0x00050014u);
  EXPECT_EQ(mem.read_phys(0xFEE00032, 1), 0x05u);  // narrow read: the addressed byte
  EXPECT_EQ(mem.read_phys(0xFEE00034, 4), 0u);     // reserved bytes of the slot
  mem.write_phys(0xFEE00080, 4, 0x70);
  EXPECT_EQ(b.cpu().cr8, 7u);
  // Move the APIC: the new page answers, the old one reads as an unbacked bus.
  ASSERT_TRUE(write_msr(b.cpu(), 0x1B, 0xFED00000 | (1u << 11)));
  EXPECT_EQ(a.base(), 0xFED00000u);
  EXPECT_EQ(mem.read_phys(0xFED00030, 4), 0x00050014u);
  EXPECT_EQ(mem.read_phys(0xFEE00030, 4), 0xFFFFFFFFu);
  EXPECT_EQ(mem.read_phys(0xFED00080, 4), 0x70u);
  // Globally disabled: no window at all.
  ASSERT_TRUE(write_msr(b.cpu(), 0x1B, 0xFED00000));
  EXPECT_EQ(mem.read_phys(0xFED00030, 4), 0xFFFFFFFFu);
  // Enabled again: the power-on state (SDM 10.4.3).
  ASSERT_TRUE(write_msr(b.cpu(), 0x1B, 0xFEE00000 | (1u << 11)));
  EXPECT_EQ(mem.read_phys(0xFEE000F0, 4), 0xFFu);
}

TEST(LapicPlatform, MappedBeforeTheCpuResetSetsTheBase) {
  ApicTestBench b;
  const uint64_t reset_value = b.cpu().msr_apic_base;
  b.cpu().msr_apic_base = 0;  // a board maps its devices before it resets the CPU
  GuestMemory mem(1u << 20);
  b.lapic().map(mem);
  b.cpu().msr_apic_base = reset_value;
  EXPECT_EQ(mem.read_phys(0xFEE00030, 4), 0x00050014u);
}

TEST(LapicPlatform, MsrHooksGoThroughThePlatform) {
  ApicTestBench b;
  uint64_t v = 1;
  ASSERT_TRUE(read_msr(b.cpu(), Lapic::kIa32TscDeadline, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(write_msr(b.cpu(), Lapic::kIa32TscDeadline, 1234));  // ignored: one-shot mode
  ASSERT_TRUE(read_msr(b.cpu(), Lapic::kIa32TscDeadline, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_FALSE(read_msr(b.cpu(), 0x802, &v));  // x2APIC ID: xAPIC only -> #GP
  EXPECT_FALSE(write_msr(b.cpu(), 0x80B, 0));
  ApicTestBench without(/*tsc_deadline=*/false);
  EXPECT_FALSE(read_msr(without.cpu(), Lapic::kIa32TscDeadline, &v));
  EXPECT_FALSE(write_msr(without.cpu(), Lapic::kIa32TscDeadline, 1));
}

}  // namespace
}  // namespace umbra
