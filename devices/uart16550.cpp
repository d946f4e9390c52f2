#include "devices/uart16550.h"

namespace umbra {

namespace {
// Register offsets (PC16550D data sheet, Table II). With LCR.DLAB set, offsets 0 and 1 are the
// divisor latch.
enum Offset : unsigned {
  kRbrThr = 0,
  kIer = 1,
  kIirFcr = 2,
  kLcr = 3,
  kMcr = 4,
  kLsr = 5,
  kMsr = 6,
  kScr = 7
};
constexpr uint8_t kIerRda = 0x01, kIerThre = 0x02, kIerRls = 0x04, kIerMsi = 0x08;
// IIR: bit 0 = no interrupt pending, bits 3-1 the source, bits 7-6 set when FIFOs are enabled.
constexpr uint8_t kIirNone = 0x01, kIirRls = 0x06, kIirRda = 0x04, kIirTimeout = 0x0c,
                  kIirThre = 0x02, kIirMsi = 0x00, kIirFifos = 0xc0;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kLsrErrors = 0x1e;  // OE, PE, FE, BI
// MSR: bits 3-0 deltas (DCTS, DDSR, TERI, DDCD), bits 7-4 the lines (CTS, DSR, RI, DCD).
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
constexpr uint8_t kMsrTeri = 0x04;
// Without loopback the host side is a connected, ready terminal: CTS, DSR and DCD asserted.
constexpr uint8_t kMsrIdleLines = kMsrCts | kMsrDsr | kMsrDcd;
// The data sheet's reference clock: 1.8432 MHz / 16 = 115200 baud with divisor 1.
constexpr uint64_t kBaseBaud = 115200;
}  // namespace

Uart16550::Uart16550(PortBus& bus, uint16_t base, IrqLine irq, TimerQueue& timers,
                     const GuestClock& clock)
    : base_(base), irq_(irq), timers_(timers), clock_(clock) {
  timeout_timer_ = timers_.add([this](uint64_t) { on_rx_timeout(); }, "uart-rx-timeout");
  reset();
  PortHandler h;
  h.read = [this](uint16_t port, unsigned) { return read(port - base_); };
  h.write = [this](uint16_t port, unsigned, uint32_t v) {
    write(port - base_, static_cast<uint8_t>(v));
  };
  bus.add(base, 8, std::move(h), "uart16550");
}

void Uart16550::reset() {
  // Master reset (data sheet, Table IV): IER, IIR, FCR, LCR, MCR and the LSR errors cleared,
  // THR empty; the divisor latch and scratch register are not affected.
  rx_.clear();
  ier_ = lcr_ = mcr_ = 0;
  fcr_trigger_ = 0;
  lsr_errors_ = 0;
  fifo_enabled_ = false;
  thre_pending_ = false;
  timeout_pending_ = false;
  msr_ = kMsrIdleLines;
  timers_.disarm(timeout_timer_);
  update_irq();
}

unsigned Uart16550::rx_trigger() const {
  static constexpr unsigned kLevels[4] = {1, 4, 8, 14};
  return fifo_enabled_ ? kLevels[fcr_trigger_ & 3] : 1;
}

uint64_t Uart16550::rx_timeout_ns() const {
  // Four characters of start bit + 5-8 data bits + optional parity + 1 or 2 stop bits, at
  // 115200 / divisor baud.
  const unsigned bits = 1 + 5 + (lcr_ & 3) + ((lcr_ & 0x08) ? 1 : 0) + ((lcr_ & 0x04) ? 2 : 1);
  const uint64_t divisor = divisor_ ? divisor_ : 65536;
  return 4 * bits * divisor * 1'000'000'000ull / kBaseBaud;
}

bool Uart16550::can_receive() const {
  return !(mcr_ & kMcrLoop) && rx_.size() < rx_capacity();
}

void Uart16550::receive(uint8_t byte) {
  if (mcr_ & kMcrLoop) return;
  receive_internal(byte);
}

void Uart16550::receive_internal(uint8_t byte) {
  if (rx_.size() >= rx_capacity()) {
    // Overrun: in FIFO mode the new character is lost and the FIFO kept; without FIFOs the
    // holding register is overwritten (data sheet, LSR bit 1).
    lsr_errors_ |= kLsrOe;
    if (!fifo_enabled_) rx_.back() = byte;
  } else {
    rx_.push_back(byte);
  }
  restart_rx_timeout();
  update_irq();
}

void Uart16550::restart_rx_timeout() {
  // The character timeout: characters sit in the FIFO and none was received or read for four
  // character times (data sheet, IIR, "Character Timeout Indication").
  timeout_pending_ = false;
  if (fifo_enabled_ && !rx_.empty()) {
    timers_.arm(timeout_timer_, clock_.now_ns() + rx_timeout_ns());
  } else {
    timers_.disarm(timeout_timer_);
  }
}

void Uart16550::on_rx_timeout() {
  if (fifo_enabled_ && !rx_.empty()) timeout_pending_ = true;
  update_irq();
}

void Uart16550::transmit(uint8_t byte) {
  if (mcr_ & kMcrLoop) {
    receive_internal(byte);  // the transmitter output is looped back to the receiver
  } else if (on_transmit) {
    on_transmit(byte);
  }
  // The byte leaves at once, so THR (and the transmit FIFO) is empty again.
  thre_pending_ = true;
}

uint8_t Uart16550::interrupt_id() const {
  if ((ier_ & kIerRls) && (lsr_errors_ & kLsrErrors)) return kIirRls;
  if (ier_ & kIerRda) {
    if (!rx_.empty() && rx_.size() >= rx_trigger()) return kIirRda;
    if (timeout_pending_) return kIirTimeout;
  }
  if ((ier_ & kIerThre) && thre_pending_) return kIirThre;
  if ((ier_ & kIerMsi) && (msr_ & 0x0f)) return kIirMsi;
  return kIirNone;
}

void Uart16550::update_irq() {
  const bool intr = interrupt_id() != kIirNone;
  // PCs route INTR through OUT2; loopback forces OUT2 inactive.
  const bool level = intr && (mcr_ & kMcrOut2) && !(mcr_ & kMcrLoop);
  if (level != irq_level_) {
    irq_level_ = level;
    irq_.set(level);
  }
}

void Uart16550::update_modem_status() {
  uint8_t lines = kMsrIdleLines;
  if (mcr_ & kMcrLoop) {
    // Loopback connects DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD (data sheet, MCR bit 4).
    lines =
        static_cast<uint8_t>(((mcr_ & kMcrRts) ? kMsrCts : 0) | ((mcr_ & kMcrDtr) ? kMsrDsr : 0) |
                             ((mcr_ & kMcrOut1) ? kMsrRi : 0) | ((mcr_ & kMcrOut2) ? kMsrDcd : 0));
  }
  const uint8_t old = msr_ & 0xf0;
  const uint8_t changed = old ^ lines;
  uint8_t deltas = msr_ & 0x0f;
  if (changed & kMsrCts) deltas |= 0x01;
  if (changed & kMsrDsr) deltas |= 0x02;
  if ((old & kMsrRi) && !(lines & kMsrRi)) deltas |= kMsrTeri;  // trailing edge of RI
  if (changed & kMsrDcd) deltas |= 0x08;
  msr_ = lines | deltas;
}

uint32_t Uart16550::read(unsigned offset) {
  uint8_t v = 0xff;
  switch (offset) {
    case kRbrThr:
      if (lcr_ & kLcrDlab) return divisor_ & 0xff;
      v = 0;
      if (!rx_.empty()) {
        v = rx_.front();
        rx_.pop_front();
      }
      restart_rx_timeout();
      break;
    case kIer:
      if (lcr_ & kLcrDlab) return divisor_ >> 8;
      return ier_;
    case kIirFcr: {
      const uint8_t id = interrupt_id();
      // Reading IIR clears a THRE interrupt it reports (data sheet, Table IV).
      if (id == kIirThre) thre_pending_ = false;
      v = static_cast<uint8_t>(id | (fifo_enabled_ ? kIirFifos : 0));
      break;
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:
      v = static_cast<uint8_t>((rx_.empty() ? 0 : kLsrDr) | lsr_errors_ | kLsrThre | kLsrTemt);
      lsr_errors_ = 0;
      break;
    case kMsr:
      v = msr_;
      msr_ &= 0xf0;
      break;
    case kScr:
      return scr_;
  }
  update_irq();
  return v;
}

void Uart16550::write(unsigned offset, uint8_t v) {
  switch (offset) {
    case kRbrThr:
      if (lcr_ & kLcrDlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0xff00) | v);
        return;
      }
      thre_pending_ = false;
      transmit(v);
      break;
    case kIer:
      if (lcr_ & kLcrDlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00ff) | v << 8);
        return;
      }
      // Enabling the THRE interrupt while THR is empty raises it at once; Linux's 8250 driver
      // tests for exactly this at startup.
      if ((v & kIerThre) && !(ier_ & kIerThre)) thre_pending_ = true;
      ier_ = v & 0x0f;
      break;
    case kIirFcr: {
      const bool enable = v & kFcrEnable;
      if (enable != fifo_enabled_) rx_.clear();  // changing the FIFO mode empties the FIFOs
      fifo_enabled_ = enable;
      if (enable) {
        if (v & kFcrClearRx) rx_.clear();
        // Bit 2 clears the transmit FIFO, which is always empty here.
        fcr_trigger_ = v >> 6;
      }
      restart_rx_timeout();
      break;
    }
    case kLcr:
      lcr_ = v;
      break;
    case kMcr:
      mcr_ = v & 0x1f;
      update_modem_status();
      break;
    case kLsr:
      break;  // factory test only
    case kMsr:
      break;
    case kScr:
      scr_ = v;
      break;
  }
  update_irq();
}

}  // namespace umbra
