// Local APIC registers: the xAPIC MMIO page, the CPU-platform hooks (IA32_APIC_BASE, CR8,
// IA32_TSC_DEADLINE) and reset. Interrupt acceptance and priority are in lapic_irq.cpp, the
// timer in lapic_timer.cpp.
#include "devices/lapic.h"

#include <algorithm>

#include "frontend/cpu_state.h"
#include "frontend/system/cpu_model.h"
#include "softmmu/guest_memory.h"

namespace umbra {

namespace {

// IA32_APIC_BASE fields (SDM vol. 3, 10.4.4).
constexpr uint64_t kApicBaseEnable = 1u << 11;

// Writable bits of each LVT entry (SDM vol. 3, figure 10-8). Delivery status (bit 12) and
// remote IRR (bit 14) are read-only; the timer has mode bits 18:17 (bit 18 only with
// TSC-deadline), thermal/perf/LINT have a delivery mode, LINT0/1 polarity and trigger mode.
constexpr uint32_t kLvtWritable[6] = {
    0x000700FF,  // timer: vector, mask, mode (bit 18 dropped without TSC-deadline)
    0x000107FF,  // thermal: vector, delivery mode, mask
    0x000107FF,  // performance counters
    0x0001A7FF,  // LINT0: vector, delivery mode, polarity, trigger mode, mask
    0x0001A7FF,  // LINT1
    0x000100FF,  // error: vector, mask
};

}  // namespace

Lapic::Lapic(CpuState& cpu, TimerQueue& timers) : cpu_(cpu), timers_(timers) {
  timer_ = timers_.add([this](uint64_t now) { timer_expired(now); }, "lapic-timer");
  reset();
}

Lapic::~Lapic() = default;

void Lapic::reset() {
  timer_stop();
  tsc_deadline_ = 0;
  id_ = 0;  // APIC ID 0: the bootstrap processor, as CPUID.01H:EBX[31:24] reports
  tpr_low_ = 0;
  ldr_ = 0;
  dfr_ = 0xFFFFFFFF;
  svr_ = 0xFF;
  std::fill(std::begin(isr_), std::end(isr_), 0);
  std::fill(std::begin(tmr_), std::end(tmr_), 0);
  std::fill(std::begin(irr_), std::end(irr_), 0);
  esr_ = esr_pending_ = 0;
  icr_low_ = icr_high_ = 0;
  std::fill(std::begin(lvt_), std::end(lvt_), kLvtMask);
  timer_initial_ = 0;
  timer_divide_ = 0;
  extint_message_ = false;
  update();
}

void Lapic::setup_virtual_wire() {
  svr_ = kSvrEnable | 0xFF;
  lvt(kLvtLint0) = static_cast<uint32_t>(ApicDelivery::kExtInt) << 8;
  lvt(kLvtLint1) = static_cast<uint32_t>(ApicDelivery::kNmi) << 8;
  update();
}

bool Lapic::globally_enabled() const {
  return cpu_.msr_apic_base & kApicBaseEnable;
}

uint64_t Lapic::base() const {
  const uint64_t phys_mask = (uint64_t{1} << model_of(cpu_).phys_addr_bits) - 1;
  return cpu_.msr_apic_base & phys_mask & ~uint64_t{0xFFF};
}

uint8_t Lapic::tpr() const {
  return static_cast<uint8_t>(((cpu_.cr8 & 0xF) << 4) | tpr_low_);
}

// ---- MMIO ----

void Lapic::map(GuestMemory& memory) {
  memory_ = &memory;
  // The board may map the APIC before the CPU's reset has set IA32_APIC_BASE: the window at the
  // architectural default is always there; a relocated base gets its own window.
  map_window(kDefaultBase);
  if (globally_enabled()) map_window(base());
}

void Lapic::map_window(uint64_t b) {
  if (!memory_ || std::find(mapped_bases_.begin(), mapped_bases_.end(), b) != mapped_bases_.end())
    return;
  mapped_bases_.push_back(b);
  MmioHandler h;
  // A window answers only while it is the current base and the APIC is globally enabled; the
  // other windows read as an unbacked bus (all ones) and drop writes, as nothing decodes them.
  h.read = [this, b](uint64_t offset, unsigned size) -> uint64_t {
    if (base() != b || !globally_enabled()) return ~uint64_t{0};
    return mmio_read(offset, size);
  };
  h.write = [this, b](uint64_t offset, unsigned size, uint64_t value) {
    if (base() != b || !globally_enabled()) return;
    mmio_write(offset, size, value);
  };
  memory_->add_mmio(b, kMmioSize, std::move(h), "lapic");
}

// Registers are 32 bits wide at 16-byte strides; bytes 4..15 of each slot are reserved and read
// as zero. Software must use aligned 32-bit accesses (SDM vol. 3, 10.4.1); narrower reads return
// the addressed bytes, narrower writes merge into the register, 64-bit accesses also touch the
// reserved upper half.
uint64_t Lapic::mmio_read(uint64_t offset, unsigned size) {
  uint64_t v = 0;
  for (unsigned i = 0; i < size;) {
    const uint64_t a = offset + i;
    const unsigned in_slot = a & 0xF;
    if (in_slot >= 4) {
      ++i;
      continue;
    }
    const uint32_t reg = read_register(static_cast<uint32_t>(a & 0xFF0));
    const unsigned n = std::min(4 - in_slot, size - i);
    const uint64_t bytes = (uint64_t{reg} >> (8 * in_slot)) & ((uint64_t{1} << (8 * n)) - 1);
    v |= bytes << (8 * i);
    i += n;
  }
  return v;
}

void Lapic::mmio_write(uint64_t offset, unsigned size, uint64_t value) {
  const unsigned in_slot = offset & 0xF;
  if (in_slot >= 4) return;
  const uint32_t reg = static_cast<uint32_t>(offset & 0xFF0);
  const unsigned n = std::min(4 - in_slot, size);
  uint32_t v = static_cast<uint32_t>(value << (8 * in_slot));
  if (n < 4) {
    // Partial write: keep the other bytes (for EOI and the ICR a partial write still acts).
    const uint32_t mask = static_cast<uint32_t>(((uint64_t{1} << (8 * n)) - 1) << (8 * in_slot));
    const uint32_t old = reg == kEoi ? 0 : read_register(reg);
    v = (old & ~mask) | (v & mask);
  }
  write_register(reg, v);
}

uint32_t Lapic::read_register(uint32_t offset) {
  if (offset >= kIsr && offset < kIsr + 0x80) return isr_[(offset - kIsr) >> 4];
  if (offset >= kTmr && offset < kTmr + 0x80) return tmr_[(offset - kTmr) >> 4];
  if (offset >= kIrr && offset < kIrr + 0x80) return irr_[(offset - kIrr) >> 4];
  if (offset >= kLvtTimer && offset <= kLvtError) return lvt(offset);
  switch (offset) {
    case kId:
      return id_;
    case kVersion:
      return kVersionValue;
    case kTpr:
      return tpr();
    case kApr:
      return apr();
    case kPpr:
      return ppr();
    case kEoi:
      return 0;  // write-only
    case kRrd:
      return 0;  // remote read is not supported on integrated APICs: status "invalid"
    case kLdr:
      return ldr_;
    case kDfr:
      return dfr_;
    case kSvr:
      return svr_;
    case kEsr:
      return esr_;
    case kIcrLow:
      return icr_low_;  // delivery status (bit 12) is always idle: IPIs are delivered at once
    case kIcrHigh:
      return icr_high_;
    case kTimerInitial:
      return timer_initial_;
    case kTimerCurrent:
      return timer_current_count();
    case kTimerDivide:
      return timer_divide_;
    default:
      signal_error(kEsrIllegalRegister);
      return 0;
  }
}

void Lapic::write_register(uint32_t offset, uint32_t value) {
  if (offset >= kLvtTimer && offset <= kLvtError) {
    write_lvt(offset, value);
    return;
  }
  switch (offset) {
    case kId:
      id_ = value & 0xFF000000;  // writable on integrated APICs (SDM 10.4.6)
      return;
    case kTpr:
      // TPR[7:4] is CR8[3:0] (SDM 10.8.6.1); the low bits only affect APR/PPR's low nibble.
      cpu_.cr8 = (value >> 4) & 0xF;
      tpr_low_ = value & 0xF;
      update();
      return;
    case kEoi:
      eoi();
      return;
    case kLdr:
      ldr_ = value & 0xFF000000;
      return;
    case kDfr:
      dfr_ = value | 0x0FFFFFFF;  // bits 27:0 read as ones
      return;
    case kSvr:
      write_svr(value);
      return;
    case kEsr:
      // A write latches the errors detected since the previous write and clears them
      // (SDM 10.5.3): software writes ESR before reading it.
      esr_ = esr_pending_;
      esr_pending_ = 0;
      return;
    case kIcrHigh:
      icr_high_ = value & 0xFF000000;
      return;
    case kIcrLow:
      write_icr(value);
      return;
    case kTimerInitial:
      timer_write_initial(value);
      return;
    case kTimerDivide:
      timer_write_divide(value);
      return;
    case kVersion:
    case kApr:
    case kPpr:
    case kRrd:
    case kTimerCurrent:
      return;  // read-only: writes are ignored
    default:
      if ((offset >= kIsr && offset < kIrr + 0x80)) return;  // ISR/TMR/IRR are read-only
      signal_error(kEsrIllegalRegister);
      return;
  }
}

void Lapic::write_svr(uint32_t value) {
  // Vector (7:0), APIC software enable (8), focus processor checking (9). EOI-broadcast
  // suppression (12) is reserved: the version register does not advertise it.
  svr_ = value & 0x3FF;
  if (!software_enabled()) {
    // Software disable masks every LVT entry (SDM 10.4.7.2); IRR and ISR are kept.
    for (uint32_t& e : lvt_) e |= kLvtMask;
  }
  update();
}

void Lapic::write_lvt(uint32_t offset, uint32_t value) {
  const unsigned index = (offset - kLvtTimer) >> 4;
  uint32_t writable = kLvtWritable[index];
  if (offset == kLvtTimer && !tsc_deadline_supported()) writable &= ~(1u << 18);
  uint32_t& e = lvt_[index];
  const uint32_t old = e;
  // Read-only bits keep their value (remote IRR, delivery status).
  e = (value & writable) | (old & ~writable & ((1u << 12) | (1u << 14)));
  // While software-disabled the mask bits cannot be cleared (SDM 10.4.7.2).
  if (!software_enabled()) e |= kLvtMask;
  if (offset == kLvtTimer) timer_write_lvt(old);
  if (offset == kLvtLint0 || offset == kLvtLint1) update();
}

// ---- CpuPlatform ----

bool Lapic::read_msr(CpuState&, uint32_t index, uint64_t* value) {
  if (index == kIa32TscDeadline && tsc_deadline_supported()) {
    // In the count-based modes the MSR reads as zero (SDM 10.5.4.1).
    *value = timer_mode() == TimerMode::kTscDeadline ? tsc_deadline_ : 0;
    return true;
  }
  return false;  // x2APIC MSRs: xAPIC only (CPUID does not advertise x2APIC) -> #GP
}

bool Lapic::write_msr(CpuState&, uint32_t index, uint64_t value) {
  if (index == kIa32TscDeadline && tsc_deadline_supported()) {
    write_tsc_deadline(value);
    return true;
  }
  return false;
}

void Lapic::apic_base_changed(CpuState&) {
  if (!globally_enabled()) {
    // Clearing IA32_APIC_BASE[11] puts the APIC in its power-up state; when it is enabled
    // again it starts from there (SDM 10.4.3; figure 10-28's disabled state). Meanwhile the
    // PIC's INTR and LINT1's NMI reach the CPU directly.
    reset();
  }
  if (globally_enabled()) map_window(base());  // the guest may have moved the page
  update();
}

void Lapic::tpr_changed(CpuState&) {
  // MOV to CR8 writes TPR[7:4] and clears TPR[3:0] (SDM 10.8.6.1).
  tpr_low_ = 0;
  update();
}

}  // namespace umbra
