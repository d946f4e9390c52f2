// The 16550A through its ports: the probe and startup sequences of Linux's 8250 driver,
// FIFOs, trigger levels, the character timeout on the guest clock, and IRQ gating by OUT2.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "devices/irq.h"
#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "devices/uart16550.h"
#include "frontend/cpu_state.h"
#include "frontend/system/guest_clock.h"
#include "tests/unit/device_test_util.h"

namespace umbra {
namespace {

using test::RecordingSink;
using test::zeroed_cpu;

constexpr uint16_t kCom1 = 0x3f8;
enum : uint16_t { THR = kCom1, IER, IIR, LCR, MCR, LSR, MSR, SCR };
constexpr uint16_t FCR = IIR, DLL = THR, DLM = IER;

class UartTest : public ::testing::Test {
 protected:
  UartTest()
      : cpu(zeroed_cpu()),
        clock(GuestClock::Source::kInstructions, 0),
        uart(bus, kCom1, IrqLine{&sink, 4}, timers, clock) {
    clock.attach(cpu.get());
    clock.reset();
    uart.on_transmit = [this](uint8_t b) { sent.push_back(b); };
  }
  void out(uint16_t port, uint8_t v) { bus.write(port, 1, v); }
  uint8_t in(uint16_t port) { return static_cast<uint8_t>(bus.read(port, 1)); }
  bool irq() const { return sink.levels[4]; }
  // 115200 8N1 with interrupts routed (OUT2), as Linux programs a console port.
  void setup(uint8_t fcr) {
    out(LCR, 0x80);
    out(DLL, 1);
    out(DLM, 0);
    out(LCR, 0x03);
    out(FCR, fcr);
    out(MCR, 0x0b);  // DTR, RTS, OUT2
  }

  std::unique_ptr<CpuState> cpu;
  GuestClock clock;
  PortBus bus;
  TimerQueue timers;
  RecordingSink sink;
  Uart16550 uart;
  std::vector<uint8_t> sent;
};

TEST_F(UartTest, Linux8250AutoconfigSeesA16550A) {
  // IER: the low four bits are read/write, the high four read as zero.
  out(IER, 0);
  EXPECT_EQ(in(IER)&0x0f, 0);
  out(IER, 0x0f);
  EXPECT_EQ(in(IER), 0x0f);
  out(IER, 0xff);
  EXPECT_EQ(in(IER), 0x0f);
  out(IER, 0);
  // Scratch register.
  out(SCR, 0xa5);
  EXPECT_EQ(in(SCR), 0xa5);
  // Loopback: RTS -> CTS and OUT2 -> DCD.
  out(MCR, 0x10 | 0x0a);
  EXPECT_EQ(in(MSR)&0xf0, 0x90);
  out(MCR, 0);
  // FIFO detection: IIR bits 7-6 read 11 once FCR enables the FIFOs.
  EXPECT_EQ(in(IIR), 0x01);
  out(FCR, 0x01);
  EXPECT_EQ(in(IIR) >> 6, 3);
  // Not a 16750: bit 5 (64-byte FIFO) never reads back.
  out(FCR, 0x21);
  EXPECT_EQ(in(IIR) >> 5, 6);
  // Divisor latch.
  out(LCR, 0x80);
  out(DLL, 0x34);
  out(DLM, 0x12);
  EXPECT_EQ(in(DLL), 0x34);
  EXPECT_EQ(in(DLM), 0x12);
  out(LCR, 0x03);
  EXPECT_EQ(in(IER), 0x00);
  EXPECT_EQ(in(LCR), 0x03);
}

TEST_F(UartTest, ThreInterruptOnEnableAsLinuxStartupTests) {
  setup(0xc7);
  EXPECT_FALSE(irq());
  EXPECT_EQ(in(LSR)&0x60, 0x60);
  out(IER, 0x02);
  EXPECT_TRUE(irq());
  EXPECT_EQ(in(IIR), 0xc2);
  // Reading IIR cleared the THRE source.
  EXPECT_FALSE(irq());
  EXPECT_EQ(in(IIR), 0xc1);
  // Disable and re-enable: raised again (the driver's second check).
  out(IER, 0);
  out(IER, 0x02);
  EXPECT_EQ(in(IIR), 0xc2);
}

TEST_F(UartTest, TransmitIsInstantAndReassertsThre) {
  setup(0xc7);
  out(IER, 0x02);
  EXPECT_EQ(in(IIR), 0xc2);
  out(THR, 'h');
  out(THR, 'i');
  EXPECT_EQ(sent, (std::vector<uint8_t>{'h', 'i'}));
  EXPECT_EQ(in(LSR)&0x60, 0x60);
  EXPECT_TRUE(irq());  // THR empty again: the driver gets its next THRE interrupt
  EXPECT_EQ(in(IIR), 0xc2);
  out(IER, 0);  // the driver stops TX when its buffer is empty
  EXPECT_FALSE(irq());
}

TEST_F(UartTest, ReceiveTriggerLevel) {
  setup(0x81);  // FIFO, trigger level 8
  out(IER, 0x01);
  for (uint8_t i = 0; i < 7; ++i) uart.receive(static_cast<uint8_t>('a' + i));
  EXPECT_EQ(in(LSR)&0x01, 0x01);
  EXPECT_FALSE(irq());
  uart.receive('h');
  EXPECT_TRUE(irq());
  EXPECT_EQ(in(IIR), 0xc4);
  for (uint8_t i = 0; i < 8; ++i) EXPECT_EQ(in(THR), 'a' + i);
  EXPECT_EQ(in(LSR)&0x01, 0x00);
  EXPECT_FALSE(irq());
  EXPECT_EQ(in(IIR), 0xc1);
}

TEST_F(UartTest, CharacterTimeoutBelowTriggerLevel) {
  setup(0x81);
  out(IER, 0x01);
  uart.receive('x');
  EXPECT_FALSE(irq());
  // Four character times at 115200 baud, 10 bits per character.
  const uint64_t timeout = 4 * 10 * 1'000'000'000ull / 115200;
  EXPECT_EQ(timers.next_deadline(), timeout);
  cpu->insn_count = timeout - 1;
  timers.run_expired(clock.now_ns());
  EXPECT_FALSE(irq());
  cpu->insn_count = timeout;
  timers.run_expired(clock.now_ns());
  EXPECT_TRUE(irq());
  EXPECT_EQ(in(IIR), 0xcc);
  EXPECT_EQ(in(THR), 'x');
  EXPECT_FALSE(irq());
  EXPECT_EQ(in(IIR), 0xc1);
  EXPECT_EQ(timers.next_deadline(), TimerQueue::kNever);
}

TEST_F(UartTest, OverrunAndLineStatusInterrupt) {
  setup(0x01);  // trigger level 1
  out(IER, 0x05);
  for (unsigned i = 0; i < 16; ++i) {
    ASSERT_TRUE(uart.can_receive());
    uart.receive(static_cast<uint8_t>(i));
  }
  EXPECT_FALSE(uart.can_receive());
  EXPECT_EQ(in(IIR), 0xc4);
  uart.receive(99);          // lost
  EXPECT_EQ(in(IIR), 0xc6);  // line status outranks received data
  EXPECT_EQ(in(LSR)&0x03, 0x03);
  EXPECT_EQ(in(LSR)&0x02, 0x00);  // OE clears on read
  EXPECT_EQ(in(IIR), 0xc4);
  for (unsigned i = 0; i < 16; ++i) EXPECT_EQ(in(THR), i);
}

TEST_F(UartTest, Out2GatesTheIrqAndLoopbackDisconnects) {
  setup(0xc7);
  out(MCR, 0x03);  // no OUT2
  out(IER, 0x02);
  EXPECT_EQ(in(IIR)&0x0f, 0x02);  // pending inside the chip
  EXPECT_FALSE(irq());
  out(IER, 0);
  out(MCR, 0x1b);  // loopback: transmitted bytes come back, nothing leaves
  out(IER, 0x01);
  out(THR, 'L');
  EXPECT_TRUE(sent.empty());
  EXPECT_FALSE(uart.can_receive());
  uart.receive('Z');              // the serial input is disconnected
  EXPECT_EQ(in(IIR)&0x0f, 0x01);  // one byte, below trigger level 14: waits for a timeout
  EXPECT_FALSE(irq());
  EXPECT_EQ(in(THR), 'L');
  EXPECT_EQ(in(LSR)&0x01, 0);
}

TEST_F(UartTest, ModemStatusInterruptInLoopback) {
  out(MCR, 0x10);
  in(MSR);
  out(IER, 0x08);
  out(MCR, 0x12);  // RTS -> CTS rises
  EXPECT_EQ(in(IIR), 0x00);
  EXPECT_EQ(in(MSR), 0x11);  // CTS + DCTS
  EXPECT_EQ(in(IIR), 0x01);
  out(MCR, 0x14);  // OUT1 -> RI on, CTS off
  in(MSR);
  out(MCR, 0x10);  // RI trailing edge
  EXPECT_EQ(in(MSR)&0x04, 0x04);
}

TEST_F(UartTest, NonFifoModeHoldsOneByte) {
  out(MCR, 0x08);
  out(IER, 0x01);
  EXPECT_EQ(in(IIR), 0x01);  // no FIFO bits
  uart.receive('a');
  EXPECT_FALSE(uart.can_receive());
  EXPECT_TRUE(irq());
  EXPECT_EQ(in(IIR), 0x04);
  uart.receive('b');  // overruns the holding register
  EXPECT_EQ(in(LSR)&0x03, 0x03);
  EXPECT_EQ(in(THR), 'b');
  EXPECT_FALSE(irq());
}

}  // namespace
}  // namespace umbra
