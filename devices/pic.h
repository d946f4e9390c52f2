// The PC's pair of 8259A programmable interrupt controllers: the master at ports 0x20/0x21 takes
// IRQ 0-7, the slave at 0xA0/0xA1 takes IRQ 8-15 and is cascaded into the master's IR2. The
// edge/level control registers (ELCR, ports 0x4D0/0x4D1, as on the PIIX/ICH south bridges)
// select level triggering per IRQ line. Behaviour follows the Intel 8259A data sheet
// (initialization command words ICW1-4, operation command words OCW1-3, priority rotation,
// special mask mode, poll command, automatic EOI, special fully nested mode, cascade).
//
// Input pins 0-15 are the ISA IRQ lines (IrqSink). The master's INT output goes to the CPU (or
// the local APIC's LINT0): output() / acknowledge() (the INTA cycle) / on_output.
#pragma once

#include <cstdint>
#include <functional>

#include "devices/irq.h"
#include "devices/port_bus.h"
#include "jit/engine.h"

namespace umbra {

// One 8259A chip. Pins are 0-7; the pair wires the slave's INT into the master's IR2.
class I8259 {
 public:
  void reset();

  void write_command(uint8_t value);  // A0 = 0: ICW1, OCW2, OCW3
  void write_data(uint8_t value);     // A0 = 1: ICW2-4 during initialization, else OCW1 (IMR)
  uint8_t read_command();             // IRR or ISR (OCW3 RR/RIS), or the poll word
  uint8_t read_data();                // IMR, or the poll word after a poll command

  // A request input changed level. Level-triggered inputs follow the level; edge-triggered
  // ones latch a request on the rising edge (the edge sense latch, data sheet "ICW1 LTIM").
  void set_input(unsigned pin, bool level);
  // Edge/level selection from the ELCR (bit set = level).
  void set_elcr(uint8_t elcr);
  uint8_t elcr() const { return elcr_; }

  // The highest-priority request that would be delivered now, or -1 (INT is asserted iff >= 0).
  int pending() const;
  // INTA for this chip: marks `irq` in service (unless automatic EOI) and clears its edge
  // request. Returns the vector.
  uint8_t acknowledge(int irq);
  uint8_t spurious_vector() const { return vector_base_ | 7; }

  uint8_t irr() const { return irr_; }
  uint8_t isr() const { return isr_; }
  uint8_t imr() const { return imr_; }
  uint8_t vector_base() const { return vector_base_; }
  bool initialized() const { return init_step_ == 0 && ever_initialized_; }

  // Set by the pair: this chip is the master (special fully nested mode applies to its cascade
  // input) and which pin the slave is cascaded on.
  bool is_master = false;

 private:
  bool level_triggered(unsigned pin) const { return ltim_ || (elcr_ >> pin & 1); }
  // Index (0 = highest) of the highest-priority set bit of `bits` under the current rotation,
  // or 8 if none.
  unsigned priority_of(uint8_t bits) const;
  int highest_in_service() const;
  void end_of_interrupt(int irq, bool rotate);
  uint8_t poll();

  uint8_t irr_ = 0, isr_ = 0, imr_ = 0xff, elcr_ = 0;
  uint8_t levels_ = 0;           // current level of each request input
  uint8_t vector_base_ = 0;      // ICW2 (bits 7-3)
  uint8_t lowest_priority_ = 7;  // the IR with the lowest priority (rotation, data sheet OCW2)
  uint8_t icw3_ = 0;
  unsigned init_step_ = 0;  // 0: operational, 2/3/4: expecting ICW2/ICW3/ICW4
  bool ever_initialized_ = false;
  bool icw4_needed_ = false, single_ = false, ltim_ = false;
  bool auto_eoi_ = false, rotate_on_auto_eoi_ = false, special_fully_nested_ = false;
  bool read_isr_ = false, special_mask_ = false, poll_pending_ = false;
};

class Pic8259Pair : public IrqSink, public InterruptController {
 public:
  static constexpr unsigned kCascadePin = 2;

  // Registers ports 0x20/0x21, 0xA0/0xA1 and the ELCR at 0x4D0/0x4D1.
  explicit Pic8259Pair(PortBus& bus);

  // Power-on state: both chips un-initialised, all inputs masked, no request latched.
  void reset();

  // IrqSink: ISA IRQ `pin` (0-15) has `level`.
  void set_irq(unsigned pin, bool level) override;

  // The master's INT output.
  bool output() const { return output_; }
  // The INTA cycle: the vector of the highest-priority request (the slave's through the
  // cascade), IRR/ISR updated on both chips; a spurious IRQ7 (or IRQ15) vector if the request
  // went away.
  uint8_t acknowledge() override;
  bool has_interrupt() override { return output_; }

  // Called whenever the INT output changes.
  std::function<void(bool)> on_output;

  const I8259& master() const { return chips_[0]; }
  const I8259& slave() const { return chips_[1]; }

 private:
  uint32_t read_port(uint16_t port);
  void write_port(uint16_t port, uint32_t value);
  // Re-evaluates the cascade (slave INT -> master IR2) and the master's INT.
  void update();

  I8259 chips_[2];
  bool output_ = false;
};

}  // namespace umbra
