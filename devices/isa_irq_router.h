// The PC board's ISA interrupt wiring: every ISA IRQ line goes both to the 8259 pair (pin n) and
// to the IOAPIC. ISA IRQ 0 (the PIT) reaches IOAPIC pin 2, as the MADT's interrupt source
// override says (ACPI 6.x, 5.2.12.5), because pin 0 of the IOAPIC carries the 8259's INTR on
// PC-compatible boards; every other ISA IRQ n reaches IOAPIC pin n.
#pragma once

#include "devices/irq.h"

namespace umbra {

class IsaIrqRouter final : public IrqSink {
 public:
  void connect(IrqSink* pic, IrqSink* ioapic) {
    pic_ = pic;
    ioapic_ = ioapic;
  }
  void set_irq(unsigned pin, bool level) override {
    if (pic_) pic_->set_irq(pin, level);
    if (ioapic_) ioapic_->set_irq(pin == 0 ? 2 : pin, level);
  }
  IrqLine line(unsigned isa_irq) { return IrqLine{this, isa_irq}; }

 private:
  IrqSink* pic_ = nullptr;
  IrqSink* ioapic_ = nullptr;
};

}  // namespace umbra
