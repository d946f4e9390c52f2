// The local APIC of the one CPU, in xAPIC mode (registers in a 4 KiB MMIO page at
// IA32_APIC_BASE, SDM vol. 3, chapter 10; x2APIC is not implemented or advertised).
//
// It sits between the CPU and everything that interrupts it:
// - it is the CPU's InterruptController (jit/engine.h): fixed interrupts from the IOAPIC, from
//   self IPIs and from the local vector table go through IRR -> ISR with the priority rules of
//   SDM 10.8; the 8259 PIC reaches the CPU through LINT0 programmed as ExtINT (the "virtual
//   wire"), or directly when the APIC is globally disabled in IA32_APIC_BASE (SDM 10.4.3);
// - it is the CPU's CpuPlatform (frontend/system/cpu_platform.h): IA32_TSC_DEADLINE, IA32_APIC_BASE
//   changes and CR8 (TPR[7:4], kept in cpu.cr8 so both views always agree, SDM 10.8.6.1);
// - its timer (one-shot, periodic, TSC-deadline, SDM 10.5.4) runs on the guest clock through
//   the machine's TimerQueue. The count-based modes tick at the model's core crystal clock
//   (CpuModel::crystal_hz, the value CPUID leaf 15H reports), as SDM 10.5.4 says they do on
//   processors that enumerate leaf 15H; the divide configuration register divides that.
//
// Whenever an interrupt becomes deliverable the APIC sets cpu.irq_line and
// cpu.exit_request |= kExitInterrupt, so the engine sees it at the next block boundary.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "devices/timer_queue.h"
#include "frontend/system/cpu_platform.h"
#include "jit/engine.h"

namespace umbra {

struct CpuState;
class GuestMemory;

// Delivery modes of the ICR, the LVT entries and the IOAPIC's redirection entries
// (SDM vol. 3, 10.6.1; 82093AA datasheet, 3.2.4).
enum class ApicDelivery : uint8_t {
  kFixed = 0,
  kLowestPriority = 1,
  kSmi = 2,
  kNmi = 4,
  kInit = 5,
  kStartup = 6,
  kExtInt = 7,
};

// An interrupt message on the APIC bus (from the IOAPIC, or an IPI).
struct ApicMessage {
  uint8_t vector = 0;
  ApicDelivery delivery = ApicDelivery::kFixed;
  bool logical = false;  // destination mode: logical (LDR/DFR match) or physical (APIC ID)
  uint8_t destination = 0;
  bool level = false;  // trigger mode: level-triggered interrupts set TMR and get an EOI broadcast
};

class Lapic final : public InterruptController, public CpuPlatform {
 public:
  static constexpr uint64_t kDefaultBase = 0xFEE00000;
  static constexpr uint64_t kMmioSize = 0x1000;

  // Register offsets in the xAPIC page (SDM vol. 3, table 10-1).
  enum Reg : uint32_t {
    kId = 0x020,
    kVersion = 0x030,
    kTpr = 0x080,
    kApr = 0x090,
    kPpr = 0x0A0,
    kEoi = 0x0B0,
    kRrd = 0x0C0,
    kLdr = 0x0D0,
    kDfr = 0x0E0,
    kSvr = 0x0F0,
    kIsr = 0x100,  // 8 registers, 0x10 apart
    kTmr = 0x180,
    kIrr = 0x200,
    kEsr = 0x280,
    kIcrLow = 0x300,
    kIcrHigh = 0x310,
    kLvtTimer = 0x320,
    kLvtThermal = 0x330,
    kLvtPerf = 0x340,
    kLvtLint0 = 0x350,
    kLvtLint1 = 0x360,
    kLvtError = 0x370,
    kTimerInitial = 0x380,
    kTimerCurrent = 0x390,
    kTimerDivide = 0x3E0,
  };
  // Version register: version 14H (integrated APIC), six LVT entries (max LVT entry 5: timer,
  // thermal, performance, LINT0, LINT1, error; no CMCI), no EOI-broadcast suppression.
  static constexpr uint32_t kVersionValue = 0x00050014;

  // ESR bits (SDM vol. 3, figure 10-9).
  static constexpr uint32_t kEsrSendIllegalVector = 1u << 5;
  static constexpr uint32_t kEsrReceiveIllegalVector = 1u << 6;
  static constexpr uint32_t kEsrIllegalRegister = 1u << 7;

  static constexpr uint32_t kIa32TscDeadline = 0x6E0;

  // `cpu` must have its model set (reset_model_state) before the APIC is used; the clock is
  // cpu.clock (host monotonic when null), the same one the TSC reads.
  Lapic(CpuState& cpu, TimerQueue& timers);
  ~Lapic() override;
  Lapic(const Lapic&) = delete;
  Lapic& operator=(const Lapic&) = delete;

  // Power-on / RESET state (SDM vol. 3, 10.4.7.1): SVR 0xFF (software-disabled), every LVT
  // masked, IRR/ISR/TMR clear, timer stopped, DFR all ones. cpu.cr8 is the CPU's (reset by the
  // CPU reset).
  void reset();
  // What a BIOS leaves before it boots an OS (Umbra boots kernels without one): the APIC
  // software-enabled in virtual-wire mode, LINT0 = ExtINT (the 8259's INTR), LINT1 = NMI
  // (MP specification 1.4, 3.6.2.2). Multiboot kernels that only program the PIC rely on it.
  void setup_virtual_wire();

  // Registers the MMIO window at the default base 0xFEE00000 (and at the current base; later at
  // a new base when the guest moves it). A window answers only while it is the current base and
  // the APIC is globally enabled. May be called before the CPU reset sets IA32_APIC_BASE.
  void map(GuestMemory& memory);
  // MMIO accesses at `offset` in the APIC page (what map() registers).
  uint64_t mmio_read(uint64_t offset, unsigned size);
  void mmio_write(uint64_t offset, unsigned size, uint64_t value);
  // One 32-bit register (offset aligned to 16).
  uint32_t read_register(uint32_t offset);
  void write_register(uint32_t offset, uint32_t value);

  // ---- interrupt inputs ----
  // The 8259 PIC's output, consulted for ExtINT: pending() = INT asserted, acknowledge() = INTA
  // cycle returning the vector. Without them LINT0's ExtINT never fires.
  void connect_pic(std::function<bool()> pending, std::function<uint8_t()> acknowledge);
  // LINT0 / LINT1 pin levels. LINT0 normally carries the PIC's INT (call set_lint0 from the
  // PIC's output callback); LINT1 normally carries NMI.
  void set_lint0(bool level);
  void set_lint1(bool level);
  // A message from the APIC bus (IOAPIC). Returns true if this APIC accepted it (destination
  // matched and the delivery mode is one it acts on).
  bool accept_message(const ApicMessage& message);
  // Level-triggered EOI (SDM 10.8.5): called with the vector when the guest EOIs an interrupt
  // whose TMR bit is set; the board connects it to the IOAPIC (Ioapic::eoi).
  std::function<void(uint8_t vector)> on_level_eoi;

  // ---- InterruptController ----
  bool has_interrupt() override;
  uint8_t acknowledge() override;

  // ---- CpuPlatform ----
  bool read_msr(CpuState& cpu, uint32_t index, uint64_t* value) override;
  bool write_msr(CpuState& cpu, uint32_t index, uint64_t value) override;
  void apic_base_changed(CpuState& cpu) override;
  void tpr_changed(CpuState& cpu) override;

  // ---- state, for the monitor and tests ----
  bool globally_enabled() const;
  bool software_enabled() const { return svr_ & kSvrEnable; }
  uint64_t base() const;
  uint8_t id() const { return static_cast<uint8_t>(id_ >> 24); }
  uint8_t tpr() const;
  uint8_t ppr() const;
  bool irr_bit(uint8_t vector) const { return test(irr_, vector); }
  bool isr_bit(uint8_t vector) const { return test(isr_, vector); }
  bool tmr_bit(uint8_t vector) const { return test(tmr_, vector); }
  uint64_t timer_fired() const { return timers_.fired(timer_); }

 private:
  static constexpr uint32_t kSvrEnable = 1u << 8;
  static constexpr uint32_t kLvtMask = 1u << 16;
  static constexpr unsigned kLvtCount = 6;  // timer, thermal, perf, LINT0, LINT1, error

  enum class TimerMode : uint8_t { kOneShot = 0, kPeriodic = 1, kTscDeadline = 2 };

  static bool test(const uint32_t (&bits)[8], uint8_t v) { return (bits[v >> 5] >> (v & 31)) & 1; }
  static void set(uint32_t (&bits)[8], uint8_t v) { bits[v >> 5] |= 1u << (v & 31); }
  static void clear(uint32_t (&bits)[8], uint8_t v) { bits[v >> 5] &= ~(1u << (v & 31)); }
  static int highest(const uint32_t (&bits)[8]);  // -1 if none

  uint32_t& lvt(uint32_t offset) { return lvt_[(offset - kLvtTimer) >> 4]; }
  uint32_t lvt(uint32_t offset) const { return lvt_[(offset - kLvtTimer) >> 4]; }
  void write_lvt(uint32_t offset, uint32_t value);
  void write_svr(uint32_t value);
  void write_icr(uint32_t low);
  void eoi();
  uint8_t apr() const;
  void map_window(uint64_t base);

  // Interrupt acceptance (IRR) and the CPU-side line.
  void accept_fixed(uint8_t vector, bool level);
  void raise_nmi();
  void local_interrupt(uint32_t lvt_offset);  // an LVT source fired
  void lint_edge(uint32_t lvt_offset);
  void signal_error(uint32_t esr_bits);
  bool destination_matches(bool logical, uint8_t destination) const;
  bool extint_pending() const;
  void update();  // recomputes cpu.irq_line, requests an exit if deliverable

  // Timer (lapic_timer.cpp).
  uint64_t now_ns() const;
  uint64_t crystal_tick(uint64_t ns) const;
  uint64_t ns_of_crystal_tick(uint64_t tick) const;
  unsigned divisor() const;
  TimerMode timer_mode() const;
  void timer_write_lvt(uint32_t old_value);
  void timer_write_initial(uint32_t count);
  void timer_write_divide(uint32_t value);
  uint32_t timer_current_count() const;
  void timer_arm_count();
  void timer_expired(uint64_t now);
  void timer_stop();
  bool tsc_deadline_supported() const;
  void write_tsc_deadline(uint64_t deadline);
  void arm_tsc_deadline();
  uint64_t guest_tsc_now() const;

  CpuState& cpu_;
  TimerQueue& timers_;
  TimerQueue::TimerId timer_;
  GuestMemory* memory_ = nullptr;
  std::vector<uint64_t> mapped_bases_;

  uint32_t id_ = 0;
  uint8_t tpr_low_ = 0;  // TPR[3:0]; TPR[7:4] lives in cpu.cr8
  uint32_t ldr_ = 0;
  uint32_t dfr_ = 0xFFFFFFFF;
  uint32_t svr_ = 0xFF;
  uint32_t isr_[8] = {}, tmr_[8] = {}, irr_[8] = {};
  uint32_t esr_ = 0;          // what ESR reads (latched by the last ESR write)
  uint32_t esr_pending_ = 0;  // errors since then (SDM 10.5.3: a write latches and clears)
  uint32_t icr_low_ = 0, icr_high_ = 0;
  uint32_t lvt_[kLvtCount] = {};
  bool lint0_level_ = false, lint1_level_ = false;
  bool extint_message_ = false;  // an ExtINT message from the IOAPIC awaits INTA

  // Count-based timer: the count started at crystal tick `timer_start_tick_` with
  // `timer_initial_`; it reaches zero after initial * divisor crystal ticks.
  uint32_t timer_initial_ = 0;
  uint32_t timer_divide_ = 0;  // divide configuration register (bits 0, 1, 3)
  bool timer_running_ = false;
  uint64_t timer_start_tick_ = 0;
  uint64_t tsc_deadline_ = 0;  // IA32_TSC_DEADLINE (0: disarmed)

  std::function<bool()> pic_pending_;
  std::function<uint8_t()> pic_acknowledge_;
};

}  // namespace umbra
