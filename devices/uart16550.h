// A National Semiconductor PC16550D-compatible UART (the PC's COM ports): receive and transmit
// FIFOs of 16 bytes, the divisor latch, line and modem status, loopback, and the four
// prioritised interrupt sources of the data sheet (receiver line status, received data
// available / character timeout, transmitter holding register empty, modem status). On PCs the
// chip's INTR pin reaches the IRQ line through the OUT2 modem control output, so IRQs are only
// seen with MCR.OUT2 set (and not in loopback, where OUT2 is forced inactive).
//
// Transmission is instant (no baud-rate delay): a byte written to THR goes to on_transmit (or,
// in loopback, back into the receiver) at once and THR is empty again. Reception comes from the
// host side through receive(); the character timeout interrupt fires on the guest clock after
// four character times at the programmed baud rate.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include "devices/irq.h"
#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "frontend/system/guest_clock.h"

namespace umbra {

class Uart16550 {
 public:
  static constexpr unsigned kFifoSize = 16;

  // Registers the 8 ports at `base` (COM1: 0x3F8, IRQ4).
  Uart16550(PortBus& bus, uint16_t base, IrqLine irq, TimerQueue& timers, const GuestClock& clock);

  void reset();

  // Each byte the guest transmits (not called in loopback mode).
  std::function<void(uint8_t)> on_transmit;

  // Host side input: true if the receiver can take a byte now without overrun.
  bool can_receive() const;
  // A byte arrives on the serial input (ignored in loopback mode, where the input is
  // disconnected). With the receiver full it is lost and the overrun error is flagged.
  void receive(uint8_t byte);

  // The IRQ output as the board sees it (INTR gated by OUT2).
  bool irq_asserted() const { return irq_level_; }

 private:
  uint32_t read(unsigned offset);
  void write(unsigned offset, uint8_t value);
  void transmit(uint8_t byte);
  void receive_internal(uint8_t byte);
  // Interrupt identification code (IIR bits 3-0) of the highest-priority pending source.
  uint8_t interrupt_id() const;
  void update_irq();
  void update_modem_status();
  void restart_rx_timeout();
  void on_rx_timeout();
  unsigned rx_capacity() const { return fifo_enabled_ ? kFifoSize : 1; }
  unsigned rx_trigger() const;
  uint64_t rx_timeout_ns() const;

  uint16_t base_;
  IrqLine irq_;
  TimerQueue& timers_;
  const GuestClock& clock_;
  TimerQueue::TimerId timeout_timer_;

  std::deque<uint8_t> rx_;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, scr_ = 0, msr_ = 0, fcr_trigger_ = 0;
  uint8_t lsr_errors_ = 0;  // OE, PE, FE, BI: cleared by reading LSR
  uint16_t divisor_ = 12;
  bool fifo_enabled_ = false;
  bool thre_pending_ = false;     // the THRE interrupt source (cleared by IIR read or THR write)
  bool timeout_pending_ = false;  // the character timeout source
  bool irq_level_ = false;
};

}  // namespace umbra
