#include "devices/pic.h"

namespace umbra {

namespace {
// Command word decoding (8259A data sheet, "Programming the 8259A"): with A0 = 0, D4 = 1 is
// ICW1; otherwise D3 = 1 is OCW3 and D3 = 0 is OCW2.
constexpr uint8_t kIcw1 = 0x10, kIcw1Ic4 = 0x01, kIcw1Single = 0x02, kIcw1Ltim = 0x08;
constexpr uint8_t kOcw3 = 0x08, kOcw3Poll = 0x04, kOcw3ReadRegister = 0x02, kOcw3Ris = 0x01,
                  kOcw3Esmm = 0x40, kOcw3Smm = 0x20;
constexpr uint8_t kIcw4AutoEoi = 0x02, kIcw4Sfnm = 0x10;
// OCW2 R/SL/EOI field (bits 7-5).
enum Ocw2 : uint8_t {
  kRotateAutoEoiClear = 0,
  kNonSpecificEoi = 1,
  kNop = 2,
  kSpecificEoi = 3,
  kRotateAutoEoiSet = 4,
  kRotateNonSpecificEoi = 5,
  kSetPriority = 6,
  kRotateSpecificEoi = 7,
};
// ISA IRQ 0 (timer), 1 (keyboard), 2 (cascade), 8 (RTC) and 13 (FPU) are edge-only; their ELCR
// bits are reserved and read as 0 (PIIX4 data sheet, ELCR1/ELCR2).
constexpr uint8_t kElcrMask[2] = {0xf8, 0xde};
}  // namespace

void I8259::reset() {
  const bool master = is_master;
  *this = I8259{};
  is_master = master;
}

unsigned I8259::priority_of(uint8_t bits) const {
  for (unsigned i = 0; i < 8; ++i) {
    const unsigned irq = (lowest_priority_ + 1 + i) & 7;
    if (bits >> irq & 1) return i;
  }
  return 8;
}

int I8259::highest_in_service() const {
  const unsigned p = priority_of(isr_);
  return p == 8 ? -1 : static_cast<int>((lowest_priority_ + 1 + p) & 7);
}

int I8259::pending() const {
  if (init_step_ != 0) return -1;
  const uint8_t requests = irr_ & ~imr_;
  const unsigned p = priority_of(requests);
  if (p == 8) return -1;
  const int irq = static_cast<int>((lowest_priority_ + 1 + p) & 7);
  // Special mask mode: masked levels do not block lower priorities (data sheet, OCW3 ESMM/SMM).
  const uint8_t blocking = special_mask_ ? (isr_ & ~imr_) : isr_;
  const unsigned s = priority_of(blocking);
  if (p < s) return irq;
  // Special fully nested mode: the master lets a slave request through while the cascade input
  // is in service, so higher priorities inside the slave are recognised (data sheet, "Special
  // Fully Nest Mode").
  const bool cascade = !single_ && (icw3_ >> irq & 1);
  if (is_master && special_fully_nested_ && cascade && p == s) return irq;
  return -1;
}

uint8_t I8259::acknowledge(int irq) {
  const uint8_t bit = static_cast<uint8_t>(1u << irq);
  // An edge request is consumed by INTA; a level request stays while the input is high.
  if (!level_triggered(static_cast<unsigned>(irq))) irr_ &= ~bit;
  if (auto_eoi_) {
    if (rotate_on_auto_eoi_) lowest_priority_ = static_cast<uint8_t>(irq);
  } else {
    isr_ |= bit;
  }
  return static_cast<uint8_t>(vector_base_ | irq);
}

void I8259::end_of_interrupt(int irq, bool rotate) {
  isr_ &= static_cast<uint8_t>(~(1u << irq));
  if (rotate) lowest_priority_ = static_cast<uint8_t>(irq);
}

void I8259::set_input(unsigned pin, bool level) {
  const uint8_t bit = static_cast<uint8_t>(1u << pin);
  if (level_triggered(pin)) {
    irr_ = level ? (irr_ | bit) : (irr_ & ~bit);
  } else if (level && !(levels_ & bit)) {
    irr_ |= bit;
  }
  levels_ = level ? (levels_ | bit) : (levels_ & ~bit);
}

void I8259::set_elcr(uint8_t elcr) {
  elcr_ = elcr;
  // Inputs now level-triggered reflect their current level at once.
  irr_ = (irr_ & ~elcr_) | (levels_ & elcr_);
}

void I8259::write_command(uint8_t v) {
  if (v & kIcw1) {
    // ICW1 starts the initialization sequence: IMR cleared, IR7 lowest priority, special mask
    // mode off, status read set to IRR, edge sense latches reset (an edge input must go low
    // and high again), ICW4 functions zero unless IC4 (data sheet, "Initialization Command
    // Words").
    icw4_needed_ = v & kIcw1Ic4;
    single_ = v & kIcw1Single;
    ltim_ = v & kIcw1Ltim;
    imr_ = 0;
    isr_ = 0;
    const uint8_t level_pins = ltim_ ? 0xff : elcr_;
    irr_ = levels_ & level_pins;
    lowest_priority_ = 7;
    special_mask_ = false;
    read_isr_ = false;
    poll_pending_ = false;
    auto_eoi_ = false;
    rotate_on_auto_eoi_ = false;
    special_fully_nested_ = false;
    init_step_ = 2;
    return;
  }
  if (v & kOcw3) {
    if (v & kOcw3Poll) poll_pending_ = true;
    if (v & kOcw3ReadRegister) read_isr_ = v & kOcw3Ris;
    if (v & kOcw3Esmm) special_mask_ = v & kOcw3Smm;
    return;
  }
  const int level = v & 7;
  switch (v >> 5) {
    case kRotateAutoEoiClear:
      rotate_on_auto_eoi_ = false;
      break;
    case kRotateAutoEoiSet:
      rotate_on_auto_eoi_ = true;
      break;
    case kNonSpecificEoi:
    case kRotateNonSpecificEoi: {
      const int irq = highest_in_service();
      if (irq >= 0) end_of_interrupt(irq, (v >> 5) == kRotateNonSpecificEoi);
      break;
    }
    case kSpecificEoi:
      end_of_interrupt(level, false);
      break;
    case kRotateSpecificEoi:
      end_of_interrupt(level, true);
      break;
    case kSetPriority:
      lowest_priority_ = static_cast<uint8_t>(level);
      break;
    case kNop:
      break;
  }
}

void I8259::write_data(uint8_t v) {
  switch (init_step_) {
    case 2:  // ICW2: vector bits T7-T3 (8086 mode)
      vector_base_ = v & 0xf8;
      init_step_ = !single_ ? 3 : (icw4_needed_ ? 4 : 0);
      break;
    case 3:  // ICW3: master: which IRs have slaves; slave: its ID
      icw3_ = v;
      init_step_ = icw4_needed_ ? 4 : 0;
      break;
    case 4:  // ICW4: uPM (8086 mode assumed), AEOI, buffered mode (ignored), SFNM
      auto_eoi_ = v & kIcw4AutoEoi;
      special_fully_nested_ = v & kIcw4Sfnm;
      init_step_ = 0;
      break;
    default:  // OCW1: the interrupt mask
      imr_ = v;
      break;
  }
  if (init_step_ == 0) ever_initialized_ = true;
}

uint8_t I8259::poll() {
  // The poll command turns the next read into an INTA: bit 7 = a request is pending, bits 2-0
  // its level (data sheet, "The Poll Command").
  poll_pending_ = false;
  const int irq = pending();
  if (irq < 0) return 0;
  acknowledge(irq);
  return static_cast<uint8_t>(0x80 | irq);
}

uint8_t I8259::read_command() {
  if (poll_pending_) return poll();
  return read_isr_ ? isr_ : irr_;
}

uint8_t I8259::read_data() {
  if (poll_pending_) return poll();
  return imr_;
}

Pic8259Pair::Pic8259Pair(PortBus& bus) {
  chips_[0].is_master = true;
  reset();
  PortHandler h;
  h.read = [this](uint16_t port, unsigned size) {
    uint32_t v = read_port(port);
    if (size >= 2 && (port == 0x4d0)) v |= read_port(0x4d1) << 8;
    return v;
  };
  h.write = [this](uint16_t port, unsigned size, uint32_t v) {
    write_port(port, v & 0xff);
    if (size >= 2 && port == 0x4d0) write_port(0x4d1, (v >> 8) & 0xff);
  };
  bus.add(0x20, 2, h, "pic-master");
  bus.add(0xa0, 2, h, "pic-slave");
  bus.add(0x4d0, 2, h, "elcr");
}

void Pic8259Pair::reset() {
  chips_[0].reset();
  chips_[1].reset();
  update();
}

void Pic8259Pair::set_irq(unsigned pin, bool level) {
  // IRQ2 on the ISA bus is the cascade on AT-class machines; nothing external drives it.
  if (pin >= 16 || pin == kCascadePin) return;
  chips_[pin >> 3].set_input(pin & 7, level);
  update();
}

void Pic8259Pair::update() {
  // The slave's INT drives the master's IR2 input (edge-triggered on the PC: its ELCR bit is
  // reserved), so a slave request that goes away after the master latched it still reaches
  // INTA and comes out as the slave's spurious IRQ15.
  chips_[0].set_input(kCascadePin, chips_[1].pending() >= 0);
  const bool out = chips_[0].pending() >= 0;
  if (out != output_) {
    output_ = out;
    if (on_output) on_output(out);
  }
}

uint8_t Pic8259Pair::acknowledge() {
  I8259& master = chips_[0];
  I8259& slave = chips_[1];
  const int irq = master.pending();
  uint8_t vector;
  if (irq < 0) {
    // The request went away before INTA: the 8259A answers with IR7's vector and sets no ISR
    // bit (data sheet, "Interrupt Sequence").
    vector = master.spurious_vector();
  } else if (irq == static_cast<int>(kCascadePin)) {
    master.acknowledge(irq);
    const int s = slave.pending();
    vector = s < 0 ? slave.spurious_vector() : slave.acknowledge(s);
    // The slave drops INT during the INTA sequence; if another request is still pending it
    // raises INT again, a new edge for the master.
    master.set_input(kCascadePin, false);
  } else {
    vector = master.acknowledge(irq);
  }
  update();
  return vector;
}

uint32_t Pic8259Pair::read_port(uint16_t port) {
  uint8_t v = 0xff;
  switch (port) {
    case 0x20:
      v = chips_[0].read_command();
      break;
    case 0x21:
      v = chips_[0].read_data();
      break;
    case 0xa0:
      v = chips_[1].read_command();
      break;
    case 0xa1:
      v = chips_[1].read_data();
      break;
    case 0x4d0:
      return chips_[0].elcr();
    case 0x4d1:
      return chips_[1].elcr();
  }
  update();  // a poll read acknowledges
  return v;
}

void Pic8259Pair::write_port(uint16_t port, uint32_t value) {
  const uint8_t v = static_cast<uint8_t>(value);
  switch (port) {
    case 0x20:
      chips_[0].write_command(v);
      break;
    case 0x21:
      chips_[0].write_data(v);
      break;
    case 0xa0:
      chips_[1].write_command(v);
      break;
    case 0xa1:
      chips_[1].write_data(v);
      break;
    case 0x4d0:
      chips_[0].set_elcr(v & kElcrMask[0]);
      break;
    case 0x4d1:
      chips_[1].set_elcr(v & kElcrMask[1]);
      break;
  }
  update();
}

}  // namespace umbra
