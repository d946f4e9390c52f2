// Interrupt wiring between devices and interrupt controllers. A device owns IrqLine values that
// name an input pin of some controller (an IrqSink: the PIC pair, the IOAPIC, or the board's
// ISA router that feeds both). Lines carry levels; an edge-triggered input acts on the rising
// edge, so an edge-triggered device raises and then lowers its line (pulse()).
#pragma once

namespace umbra {

class IrqSink {
 public:
  virtual ~IrqSink() = default;
  // Input `pin` of this controller now has `level` (true = asserted).
  virtual void set_irq(unsigned pin, bool level) = 0;
};

struct IrqLine {
  IrqSink* sink = nullptr;
  unsigned pin = 0;

  void set(bool level) const {
    if (sink) sink->set_irq(pin, level);
  }
  void raise() const { set(true); }
  void lower() const { set(false); }
  void pulse() const {
    set(true);
    set(false);
  }
};

}  // namespace umbra
