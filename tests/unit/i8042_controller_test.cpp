// The i8042 keyboard controller through ports 0x60/0x64, replaying what Linux's i8042 and
// atkbd drivers do while probing, plus the reset line.
#include <gtest/gtest.h>

#include <vector>

#include "devices/i8042.h"
#include "devices/irq.h"
#include "devices/port_bus.h"
#include "tests/unit/device_test_util.h"

namespace umbra {
namespace {

using test::RecordingSink;

class I8042Test : public ::testing::Test {
 protected:
  I8042Test() : kbc(bus, IrqLine{&sink, 1}, IrqLine{&sink, 12}) {
    kbc.on_reset = [this] { ++resets; };
  }
  uint8_t status() { return static_cast<uint8_t>(bus.read(0x64, 1)); }
  void command(uint8_t c) { bus.write(0x64, 1, c); }
  void data(uint8_t d) { bus.write(0x60, 1, d); }
  // Reads every byte waiting in the output buffer.
  std::vector<uint8_t> drain() {
    std::vector<uint8_t> out;
    while (status() & 0x01) out.push_back(static_cast<uint8_t>(bus.read(0x60, 1)));
    return out;
  }

  PortBus bus;
  RecordingSink sink;
  I8042 kbc;
  unsigned resets = 0;
};

TEST_F(I8042Test, SelfTestAndCommandByte) {
  EXPECT_EQ(status() & 0x01, 0);
  EXPECT_EQ(status() & 0x04, 0);
  command(0xaa);
  EXPECT_EQ(status() & 0x09, 0x09);  // output full, last write was a command
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x55}));
  EXPECT_EQ(status() & 0x04, 0x04);  // system flag after a passed self test
  command(0x20);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x65}));
  command(0x60);
  data(0x44);
  EXPECT_EQ(status() & 0x08, 0);
  EXPECT_EQ(kbc.command_byte(), 0x44);
  command(0x20);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x44}));
  command(0xab);
  command(0xa9);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x00, 0x00}));
}

TEST_F(I8042Test, LinuxAuxPortChecks) {
  // Loopback through the aux output buffer: the byte comes back flagged as aux data.
  command(0xd3);
  data(0x5a);
  EXPECT_EQ(status() & 0x21, 0x21);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x5a}));
  // Bit assignment test.
  command(0xa7);
  command(0x20);
  EXPECT_EQ(drain()[0] & 0x20, 0x20);
  command(0xa8);
  command(0x20);
  EXPECT_EQ(drain()[0] & 0x20, 0x00);
  // IRQ12 delivery test: aux interrupts on, loop a byte.
  command(0x60);
  data(0x47);
  command(0xd3);
  data(0xa5);
  EXPECT_TRUE(sink.levels[12]);
  EXPECT_FALSE(sink.levels[1]);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xa5}));
  EXPECT_FALSE(sink.levels[12]);
  // No mouse: a command to the aux device fails fast with a timeout.
  command(0xd4);
  data(0xf2);
  EXPECT_EQ(status() & 0x61, 0x61);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfe}));
  EXPECT_EQ(status() & 0x40, 0);
}

TEST_F(I8042Test, AtkbdProbeSequence) {
  data(0xff);  // reset
  EXPECT_TRUE(sink.levels[1]);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xaa}));
  EXPECT_EQ(sink.rises[1], 2u);  // one interrupt per byte
  data(0xf2);                    // identify, translated
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x41}));
  command(0x60);
  data(0x01);  // translation off
  data(0xf2);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xab, 0x83}));
  data(0xf5);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa}));
  data(0xf0);
  data(0x02);
  data(0xf0);
  data(0x00);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xfa, 0xfa, 0xfa, 0x02}));
  data(0xed);
  data(0x07);
  data(0xf3);
  data(0x00);
  data(0xf4);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xfa, 0xfa, 0xfa, 0xfa, 0xfa}));
  data(0xee);
  data(0x12);  // not a command
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0xee, 0xfe}));
}

TEST_F(I8042Test, InterruptEnableAndPortDisable) {
  command(0x60);
  data(0x60);  // keyboard interrupt off
  data(0xf4);
  EXPECT_EQ(status() & 0x01, 0x01);
  EXPECT_FALSE(sink.levels[1]);
  drain();
  command(0xad);  // keyboard port disabled: its bytes wait
  kbc.inject_scancode(0x1e);
  EXPECT_EQ(status() & 0x01, 0);
  command(0x60);
  data(0x41);
  command(0xae);
  EXPECT_TRUE(sink.levels[1]);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x1e}));
  // Scanning off: injected keys are dropped.
  data(0xf5);
  drain();
  kbc.inject_scancode(0x1e);
  EXPECT_TRUE(drain().empty());
}

TEST_F(I8042Test, ResetLine) {
  command(0xfe);  // pulse the reset line
  EXPECT_EQ(resets, 1u);
  command(0xff);  // pulses nothing
  EXPECT_EQ(resets, 1u);
  command(0xd0);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x03}));
  command(0xd1);
  data(0x03);  // A20 on, reset line high: no reset
  EXPECT_EQ(resets, 1u);
  command(0xd1);
  data(0x02);  // reset line low
  EXPECT_EQ(resets, 2u);
  EXPECT_EQ(kbc.output_port(), 0x02);
}

TEST_F(I8042Test, KeyboardOutputBufferWriteRaisesIrq1) {
  command(0xd2);
  data(0x9c);
  EXPECT_TRUE(sink.levels[1]);
  EXPECT_EQ(status() & 0x20, 0);
  EXPECT_EQ(drain(), (std::vector<uint8_t>{0x9c}));
  EXPECT_FALSE(sink.levels[1]);
  // Reading with the buffer empty returns the last byte again.
  EXPECT_EQ(bus.read(0x60, 1), 0x9cu);
}

}  // namespace
}  // namespace umbra
