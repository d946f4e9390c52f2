// Local APIC interrupt handling: acceptance into IRR, priorities (TPR/PPR/APR), INTA, EOI, the
// local vector table's sources, IPIs and the ExtINT path to the 8259 (SDM vol. 3, 10.6-10.9).
#include "devices/lapic.h"
#include "frontend/cpu_state.h"

namespace umbra {

namespace {

ApicDelivery delivery_of(uint32_t entry) {
  return static_cast<ApicDelivery>((entry >> 8) & 7);
}
bool masked(uint32_t entry) {
  return entry & (1u << 16);
}

}  // namespace

int Lapic::highest(const uint32_t (&bits)[8]) {
  for (int w = 7; w >= 0; --w)
    if (bits[w]) return w * 32 + 31 - __builtin_clz(bits[w]);
  return -1;
}

// PPR (SDM 10.8.3.1): the task priority, or the class of the highest interrupt in service if
// that is higher (then the sub-class bits read as zero).
uint8_t Lapic::ppr() const {
  const int isrv = highest(isr_);
  const uint8_t t = tpr();
  if (isrv < 0 || (t >> 4) >= (isrv >> 4)) return t;
  return static_cast<uint8_t>(isrv & 0xF0);
}

// APR (SDM 10.8.3.1, figure 10-15's rule for P6-family APICs): TPR when it is at least the
// classes of the highest requested and the highest in-service vector, else the highest of the
// three classes.
uint8_t Lapic::apr() const {
  const uint8_t t = tpr();
  const int irrv = highest(irr_), isrv = highest(isr_);
  const int irr_class = irrv < 0 ? 0 : irrv >> 4, isr_class = isrv < 0 ? 0 : isrv >> 4;
  if ((t >> 4) >= irr_class && (t >> 4) >= isr_class) return t;
  int c = t >> 4;
  if (irr_class > c) c = irr_class;
  if (isr_class > c) c = isr_class;
  return static_cast<uint8_t>(c << 4);
}

void Lapic::connect_pic(std::function<bool()> pending, std::function<uint8_t()> acknowledge) {
  pic_pending_ = std::move(pending);
  pic_acknowledge_ = std::move(acknowledge);
  update();
}

// The 8259's INT reaches the CPU's INTR when the APIC is globally disabled (no APIC in the
// path, SDM 10.4.3), when LINT0 is an unmasked ExtINT entry (virtual wire), or when the
// IOAPIC sent an ExtINT message (virtual wire through the IOAPIC, MP spec. 3.6.2.3).
bool Lapic::extint_pending() const {
  const bool pic = pic_pending_ ? pic_pending_() : lint0_level_;
  if (!pic) return false;
  if (!globally_enabled()) return true;
  const uint32_t lint0 = lvt(kLvtLint0);
  if (!masked(lint0) && delivery_of(lint0) == ApicDelivery::kExtInt) return true;
  return extint_message_;
}

bool Lapic::has_interrupt() {
  if (extint_pending()) return true;
  if (!globally_enabled()) return false;
  const int v = highest(irr_);
  // Only a class above the processor priority interrupts (SDM 10.8.3.1).
  return v >= 0 && (v >> 4) > (ppr() >> 4);
}

uint8_t Lapic::acknowledge() {
  uint8_t vector;
  if (extint_pending()) {
    // The PIC answers the INTA cycle itself; nothing is recorded in ISR (SDM 10.6.1, ExtINT).
    extint_message_ = false;
    vector = pic_acknowledge_ ? pic_acknowledge_() : 0;
  } else if (const int v = highest(irr_); globally_enabled() && v >= 0 && (v >> 4) > (ppr() >> 4)) {
    clear(irr_, static_cast<uint8_t>(v));
    set(isr_, static_cast<uint8_t>(v));
    vector = static_cast<uint8_t>(v);
  } else {
    // The interrupt went away between INTR and INTA (e.g. the TPR was raised): the spurious
    // vector, with no ISR bit and no EOI expected (SDM 10.9).
    vector = static_cast<uint8_t>(svr_ & 0xFF);
  }
  update();
  return vector;
}

void Lapic::eoi() {
  const int v = highest(isr_);
  if (v < 0) return;
  clear(isr_, static_cast<uint8_t>(v));
  // A level-triggered interrupt's EOI goes on to the IOAPIC, which clears the entry's remote IRR
  // (SDM 10.8.5).
  if (test(tmr_, static_cast<uint8_t>(v)) && on_level_eoi) on_level_eoi(static_cast<uint8_t>(v));
  update();
}

void Lapic::accept_fixed(uint8_t vector, bool level) {
  // Vectors 0-15 are reserved for exceptions: the interrupt is dropped and reported in ESR
  // (SDM 10.5.2, 10.5.3).
  if (vector < 16) {
    signal_error(kEsrReceiveIllegalVector);
    return;
  }
  // A second request for a vector already in IRR merges with it (SDM 10.8.4).
  set(irr_, vector);
  if (level)
    set(tmr_, vector);
  else
    clear(tmr_, vector);
  update();
}

void Lapic::raise_nmi() {
  cpu_.nmi_pending = 1;
  cpu_.exit_request |= kExitInterrupt;
}

void Lapic::signal_error(uint32_t esr_bits) {
  esr_pending_ |= esr_bits;
  const uint32_t e = lvt(kLvtError);
  if (masked(e)) return;
  const uint8_t vector = e & 0xFF;
  if (vector < 16) {
    esr_pending_ |= kEsrReceiveIllegalVector;  // no second error interrupt for the error vector
    return;
  }
  accept_fixed(vector, false);
}

// A local interrupt source (timer, error, LINT pin) fired: deliver per its LVT entry
// (SDM 10.5.1). Masked entries deliver nothing.
void Lapic::local_interrupt(uint32_t lvt_offset) {
  const uint32_t e = lvt(lvt_offset);
  if (masked(e) || !globally_enabled()) return;
  const bool lint = lvt_offset == kLvtLint0 || lvt_offset == kLvtLint1;
  const ApicDelivery mode = lint || lvt_offset == kLvtThermal || lvt_offset == kLvtPerf
                                ? delivery_of(e)
                                : ApicDelivery::kFixed;
  switch (mode) {
    case ApicDelivery::kFixed:
      accept_fixed(e & 0xFF, lint && (e & (1u << 15)));
      break;
    case ApicDelivery::kNmi:
      raise_nmi();
      break;
    case ApicDelivery::kExtInt:
      update();  // level-sensitive, consulted by has_interrupt()
      break;
    default:
      break;  // SMI / INIT: no SMM, and INIT through an LVT is not a supported combination
  }
}

void Lapic::set_lint0(bool level) {
  const bool rising = level && !lint0_level_;
  lint0_level_ = level;
  if (rising) local_interrupt(kLvtLint0);
  update();
}

void Lapic::set_lint1(bool level) {
  const bool rising = level && !lint1_level_;
  lint1_level_ = level;
  if (!rising) return;
  if (!globally_enabled())
    raise_nmi();  // no APIC in the way: LINT1 is the processor's NMI pin (SDM 10.4.3)
  else
    local_interrupt(kLvtLint1);
}

bool Lapic::destination_matches(bool logical, uint8_t destination) const {
  if (!logical) return destination == 0xFF || destination == id();  // physical; 0xFF = broadcast
  if (destination == 0xFF) return true;                             // logical broadcast
  const uint8_t logical_id = static_cast<uint8_t>(ldr_ >> 24);
  if ((dfr_ >> 28) == 0xF) return (logical_id & destination) != 0;  // flat model (SDM 10.6.2.2)
  // Cluster model: the high nibble names the cluster (0xF = all), the low nibble is a bit mask.
  const uint8_t cluster = destination >> 4;
  return (cluster == 0xF || cluster == (logical_id >> 4)) && (logical_id & destination & 0xF);
}

bool Lapic::accept_message(const ApicMessage& m) {
  if (!globally_enabled() || !destination_matches(m.logical, m.destination)) return false;
  switch (m.delivery) {
    case ApicDelivery::kFixed:
    case ApicDelivery::kLowestPriority:  // one CPU: it is always the lowest-priority one
      // A software-disabled APIC holds what it has but accepts no new fixed interrupts; it
      // still takes NMI, INIT, SMI and start-up messages (SDM 10.4.7.2).
      if (!software_enabled()) return false;
      accept_fixed(m.vector, m.level);
      return true;
    case ApicDelivery::kNmi:
      raise_nmi();
      return true;
    case ApicDelivery::kExtInt:
      extint_message_ = true;
      update();
      return true;
    default:
      return false;  // SMI (no SMM), INIT / start-up (one CPU, never in wait-for-SIPI)
  }
}

// ICR (SDM 10.6.1): writing the low half sends the IPI. One CPU: "self" and "all including
// self" reach this APIC, "all excluding self" reaches nobody, an explicit destination reaches it
// when it matches. The delivery completes at once, so the delivery status bit reads idle.
void Lapic::write_icr(uint32_t low) {
  icr_low_ = low & 0x000CCFFF;  // vector, delivery mode, dest mode, level, trigger, shorthand
  const uint8_t vector = low & 0xFF;
  const auto mode = static_cast<ApicDelivery>((low >> 8) & 7);
  const unsigned shorthand = (low >> 18) & 3;
  const bool level_trigger = low & (1u << 15);
  const bool assert_level = low & (1u << 14);
  if (mode == ApicDelivery::kInit && level_trigger && !assert_level)
    return;  // INIT level de-assert: only resynchronises arbitration IDs (SDM 10.6.1)
  if ((mode == ApicDelivery::kFixed || mode == ApicDelivery::kLowestPriority) && vector < 16) {
    signal_error(kEsrSendIllegalVector);
    return;
  }
  bool to_self;
  switch (shorthand) {
    case 1:  // self
    case 2:  // all including self
      to_self = true;
      break;
    case 3:  // all excluding self
      to_self = false;
      break;
    default:
      to_self = destination_matches(low & (1u << 11), static_cast<uint8_t>(icr_high_ >> 24));
      break;
  }
  if (!to_self) return;
  switch (mode) {
    case ApicDelivery::kFixed:
    case ApicDelivery::kLowestPriority:
      // IPIs are edge-triggered: the TMR bit stays clear (SDM 10.6.1, trigger mode).
      if (software_enabled()) accept_fixed(vector, false);
      break;
    case ApicDelivery::kNmi:
      raise_nmi();
      break;
    default:
      // SMI: no SMM. INIT / start-up to the only CPU: not supported (it would reset the CPU
      // that is running the OS); ignored.
      break;
  }
}

void Lapic::update() {
  const bool pending = has_interrupt();
  cpu_.irq_line = pending;
  if (pending) cpu_.exit_request |= kExitInterrupt;
}

}  // namespace umbra
