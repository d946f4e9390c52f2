// The 8259A pair driven through its ports the way Linux's i8259 driver and the data sheet's
// programming sequences do.
#include <gtest/gtest.h>

#include <vector>

#include "devices/pic.h"
#include "devices/port_bus.h"

namespace umbra {
namespace {

class PicTest : public ::testing::Test {
 protected:
  PicTest() : pic(bus) {
    pic.on_output = [this](bool level) { outputs.push_back(level); };
  }

  void out(uint16_t port, uint8_t v) { bus.write(port, 1, v); }
  uint8_t in(uint16_t port) { return static_cast<uint8_t>(bus.read(port, 1)); }

  // Linux's init_8259A: ICW1 edge + ICW4, vectors 0x30/0x38, slave on IR2, 8086 mode.
  void init(bool auto_eoi = false) {
    out(0x21, 0xff);
    out(0xa1, 0xff);
    out(0x20, 0x11);
    out(0x21, 0x30);
    out(0x21, 0x04);
    out(0x21, auto_eoi ? 0x03 : 0x01);
    out(0xa0, 0x11);
    out(0xa1, 0x38);
    out(0xa1, 0x02);
    out(0xa1, 0x01);
    out(0x21, 0x00);
    out(0xa1, 0x00);
  }
  uint8_t master_isr() {
    out(0x20, 0x0b);
    return in(0x20);
  }
  uint8_t slave_isr() {
    out(0xa0, 0x0b);
    return in(0xa0);
  }
  uint8_t master_irr() {
    out(0x20, 0x0a);
    return in(0x20);
  }

  PortBus bus;
  Pic8259Pair pic;
  std::vector<bool> outputs;
};

TEST_F(PicTest, PowerOnAllMaskedAndUninitialised) {
  EXPECT_EQ(in(0x21), 0xff);
  EXPECT_EQ(in(0xa1), 0xff);
  pic.set_irq(1, true);
  EXPECT_FALSE(pic.output());
  EXPECT_TRUE(outputs.empty());
}

TEST_F(PicTest, DeliversAcknowledgesAndEndsAnInterrupt) {
  init();
  pic.set_irq(1, true);
  pic.set_irq(1, false);  // an edge pulse stays latched in IRR
  ASSERT_TRUE(pic.output());
  EXPECT_EQ(outputs, (std::vector<bool>{true}));
  EXPECT_EQ(master_irr(), 0x02);
  EXPECT_EQ(pic.acknowledge(), 0x31);
  EXPECT_FALSE(pic.output());
  EXPECT_EQ(master_isr(), 0x02);
  EXPECT_EQ(master_irr(), 0x00);
  out(0x20, 0x20);  // non-specific EOI
  EXPECT_EQ(master_isr(), 0x00);
  EXPECT_FALSE(pic.output());
}

TEST_F(PicTest, PriorityAndNesting) {
  init();
  pic.set_irq(3, true);
  pic.set_irq(1, true);
  EXPECT_EQ(pic.acknowledge(), 0x31);
  // IR3 waits behind IR1 in service; IR0 (higher) preempts.
  EXPECT_FALSE(pic.output());
  pic.set_irq(0, true);
  ASSERT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x30);
  EXPECT_EQ(master_isr(), 0x03);
  out(0x20, 0x20);  // ends IR0 (highest in service)
  EXPECT_EQ(master_isr(), 0x02);
  EXPECT_FALSE(pic.output());
  out(0x20, 0x61);  // specific EOI for IR1
  ASSERT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x33);
}

TEST_F(PicTest, MaskBlocksAndUnmaskDelivers) {
  init();
  out(0x21, 0x10);
  EXPECT_EQ(in(0x21), 0x10);
  pic.set_irq(4, true);
  EXPECT_FALSE(pic.output());
  out(0x21, 0x00);
  EXPECT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x34);
}

TEST_F(PicTest, SlaveThroughCascade) {
  init();
  pic.set_irq(12, true);
  ASSERT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x3c);
  EXPECT_EQ(master_isr(), 0x04);
  EXPECT_EQ(slave_isr(), 0x10);
  // Linux's EOI order: the slave, then the master's cascade input.
  out(0xa0, 0x64);
  out(0x20, 0x62);
  EXPECT_EQ(master_isr(), 0x00);
  EXPECT_EQ(slave_isr(), 0x00);
  EXPECT_FALSE(pic.output());
  // A slave request while the cascade is in service waits for the master's EOI.
  pic.set_irq(8, true);
  EXPECT_EQ(pic.acknowledge(), 0x38);
  pic.set_irq(9, true);
  out(0xa0, 0x60);
  EXPECT_FALSE(pic.output());
  out(0x20, 0x62);
  ASSERT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x39);
}

TEST_F(PicTest, EdgeNeedsANewRisingEdge) {
  init();
  pic.set_irq(5, true);
  EXPECT_EQ(pic.acknowledge(), 0x35);
  out(0x20, 0x20);
  EXPECT_FALSE(pic.output());  // the line is still high but no new edge came
  pic.set_irq(5, false);
  pic.set_irq(5, true);
  EXPECT_TRUE(pic.output());
}

TEST_F(PicTest, ElcrLevelTriggering) {
  init();
  out(0x4d0, 0xff);
  out(0x4d1, 0xff);
  EXPECT_EQ(in(0x4d0), 0xf8);  // IRQ 0, 1, 2 cannot be level
  EXPECT_EQ(in(0x4d1), 0xde);  // IRQ 8, 13 cannot be level
  EXPECT_EQ(bus.read(0x4d0, 2), 0xdef8u);
  out(0x4d0, 0x00);
  out(0x4d1, 0x04);  // IRQ10 level
  pic.set_irq(10, true);
  EXPECT_EQ(pic.acknowledge(), 0x3a);
  out(0xa0, 0x20);
  out(0x20, 0x20);
  // Still asserted: delivered again after EOI.
  ASSERT_TRUE(pic.output());
  // Linux's mask_and_ack_8259A: mask, EOI slave and cascade; the handler quiets the device;
  // unmask. No further (or spurious) interrupt.
  EXPECT_EQ(pic.acknowledge(), 0x3a);
  out(0xa1, 0x04);
  out(0xa0, 0x62);
  out(0x20, 0x62);
  EXPECT_FALSE(pic.output());
  pic.set_irq(10, false);
  out(0xa1, 0x00);
  EXPECT_FALSE(pic.output());
}

TEST_F(PicTest, SpuriousIrq7) {
  init();
  out(0x4d0, 0x20);  // IRQ5 level
  pic.set_irq(5, true);
  EXPECT_TRUE(pic.output());
  pic.set_irq(5, false);
  EXPECT_FALSE(pic.output());
  EXPECT_EQ(outputs, (std::vector<bool>{true, false}));
  EXPECT_EQ(pic.acknowledge(), 0x37);
  EXPECT_EQ(master_isr(), 0x00);  // no ISR bit for a spurious IRQ7
}

TEST_F(PicTest, SpuriousIrq15FromTheSlave) {
  init();
  out(0x4d1, 0x02);  // IRQ9 level
  pic.set_irq(9, true);
  ASSERT_TRUE(pic.output());
  // The request goes away after the master latched its cascade input: INTA reaches the slave,
  // which answers IR7 without setting ISR; the master's cascade is in service.
  pic.set_irq(9, false);
  EXPECT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x3f);
  EXPECT_EQ(slave_isr(), 0x00);
  EXPECT_EQ(master_isr(), 0x04);
  out(0x20, 0x62);  // Linux's answer to a spurious IRQ15: EOI the cascade on the master
  EXPECT_EQ(master_isr(), 0x00);
  EXPECT_FALSE(pic.output());
}

TEST_F(PicTest, SlaveAutoEoiDeliversQueuedRequests) {
  init(/*auto_eoi=*/true);
  out(0xa0, 0x11);  // the slave in automatic EOI mode too
  out(0xa1, 0x38);
  out(0xa1, 0x02);
  out(0xa1, 0x03);
  pic.set_irq(10, true);
  pic.set_irq(11, true);
  EXPECT_EQ(pic.acknowledge(), 0x3a);
  // The slave still has IRQ11: its INT rises again after INTA, a new edge for the master.
  ASSERT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x3b);
  EXPECT_FALSE(pic.output());
}

TEST_F(PicTest, AutoEoi) {
  init(/*auto_eoi=*/true);
  pic.set_irq(3, true);
  EXPECT_EQ(pic.acknowledge(), 0x33);
  EXPECT_EQ(master_isr(), 0x00);
  pic.set_irq(4, true);
  EXPECT_TRUE(pic.output());  // nothing in service blocks it
}

TEST_F(PicTest, SetPriorityAndRotation) {
  init();
  out(0x20, 0xc3);  // set priority: IR3 lowest, so IR4 highest
  pic.set_irq(1, true);
  pic.set_irq(5, true);
  EXPECT_EQ(pic.acknowledge(), 0x35);
  out(0x20, 0xa0);  // rotate on non-specific EOI: IR5 becomes lowest, IR6 highest
  EXPECT_EQ(master_isr(), 0x00);
  pic.set_irq(7, true);
  EXPECT_EQ(pic.acknowledge(), 0x37);
  out(0x20, 0xe7);  // rotate on specific EOI for IR7: IR0 highest
  EXPECT_EQ(pic.acknowledge(), 0x31);
}

TEST_F(PicTest, PollCommand) {
  init();
  out(0x21, 0xff);  // polled systems mask INT
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x20), 0x00);  // nothing pending
  out(0x21, 0x00);
  pic.set_irq(6, true);
  out(0x20, 0x0c);
  EXPECT_EQ(in(0x20), 0x86);
  EXPECT_EQ(master_isr(), 0x40);
  EXPECT_FALSE(pic.output());
}

TEST_F(PicTest, SpecialMaskMode) {
  init();
  pic.set_irq(1, true);
  EXPECT_EQ(pic.acknowledge(), 0x31);
  pic.set_irq(5, true);
  EXPECT_FALSE(pic.output());
  out(0x21, 0x02);  // mask the in-service level
  out(0x20, 0x68);  // OCW3: set special mask mode
  ASSERT_TRUE(pic.output());
  EXPECT_EQ(pic.acknowledge(), 0x35);
  out(0x20, 0x48);  // reset special mask mode
  EXPECT_EQ(master_isr(), 0x22);
}

TEST_F(PicTest, Icw1ResetsStateAndIcw2SetsVectors) {
  init();
  pic.set_irq(3, true);
  EXPECT_EQ(pic.acknowledge(), 0x33);
  out(0x20, 0x11);  // re-initialise: ISR and IMR cleared, IRR edge latches reset
  EXPECT_EQ(in(0x21), 0x00);
  out(0x21, 0x20);
  out(0x21, 0x04);
  out(0x21, 0x01);
  EXPECT_EQ(master_isr(), 0x00);
  EXPECT_FALSE(pic.output());
  pic.set_irq(4, true);
  EXPECT_EQ(pic.acknowledge(), 0x24);
}

}  // namespace
}  // namespace umbra
