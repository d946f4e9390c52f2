// The PC machine: RAM, the port bus with the devices Umbra has so far (COM1, the debug console,
// isa-debug-exit, system control port A), one CPU with exception delivery, and boot by the
// multiboot loader. The platform work grows this into the full PC (PIC, PIT, RTC, APIC, ACPI,
// Linux boot protocol).
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "devices/port_bus.h"
#include "devices/timer_queue.h"
#include "frontend/cpu_state.h"
#include "frontend/system/guest_clock.h"
#include "machine/e820.h"
#include "softmmu/access.h"
#include "softmmu/guest_memory.h"
#include "ui/monitor.h"

namespace umbra {

class Tier0Engine;
class Pic8259Pair;
class Pit8254;
class Rtc146818;
class Uart16550;
class IsaIrqRouter;
class Lapic;
class Ioapic;
class I8042;
class PostCodePort;
class PciHost;
class FwCfg;
class Monitor;
class StdioConsole;
namespace acpi {
class AcpiPm;
}

struct PcConfig {
  uint64_t ram_bytes = 128ull << 20;
  std::string kernel;                // path
  std::vector<std::string> modules;  // -initrd "file args" entries (multiboot modules; for a
                                     // Linux kernel the one entry is the initrd file)
  std::string cmdline;               // -append
  bool no_reboot = false;
  std::optional<std::pair<uint16_t, uint16_t>> debug_exit;  // iobase, iosize
  std::FILE* serial_out = stdout;  // COM1 output (nullptr: discarded) without a console
  // The terminal (stdin/stdout) as a console: COM1 input and output (console_serial) and/or the
  // monitor (console_monitor), multiplexed with Ctrl-A like QEMU's -nographic.
  bool console_serial = false;
  bool console_monitor = false;
  std::FILE* debugcon_out = stdout;  // port 0xe9 output
  uint64_t max_insns = ~uint64_t{0};
  bool trace_blocks = false;
  const CpuModel* cpu_model = nullptr;  // -cpu; null: the default model
  // -icount SHIFT: guest time = instructions << SHIFT ns (deterministic); unset: host time.
  std::optional<unsigned> icount_shift;
};

class PcMachine : public MonitorControl {
 public:
  explicit PcMachine(PcConfig config);
  ~PcMachine() override;

  // MonitorControl: the monitor's run control (called between slices of guest execution).
  void stop() override;
  void cont() override;
  uint64_t step(uint64_t count) override;
  void quit() override;
  bool running() const override { return !paused_; }

  // Loads the kernel and puts the CPU at its entry. Returns false with a one-line *error.
  bool boot(std::string* error);
  // Runs the guest until it ends; returns the emulator's exit status and prints why it ended
  // (one line on stderr).
  int run();

  // The machine powered off through ACPI (S5) or the guest asked to quit.
  bool powered_off() const { return powered_off_; }

  CpuState& cpu() { return *cpu_; }
  GuestMemory& memory() { return memory_; }
  PortBus& ports() { return ports_; }
  Tier0Engine& engine() { return *engine_; }
  unsigned resets() const { return resets_; }
  GuestClock& clock() { return clock_; }
  TimerQueue& timers() { return timers_; }

 private:
  void reset_cpu();
  void reset_devices();
  void request_reset();
  void build_devices();
  // The guest physical memory map as the firmware-less loaders report it (e820 / multiboot).
  std::vector<E820Entry> memory_map() const;
  bool boot_linux(std::string* error);
  bool load_acpi_tables(std::string* error);
  // One pass of the main loop's housekeeping between slices of guest execution: expired device
  // timers. Returns the number of guest instructions the next slice may run before the next
  // timer is due (the instruction clock only; otherwise a fixed slice).
  uint64_t service_devices();
  // The CPU is halted: wait for the next timer or input. False if nothing can ever wake it.
  bool wait_while_halted();
  // Waits up to `timeout_ns` (kNever: until input) for console input, routing what arrives;
  // without a console it just sleeps for the timeout. False if it would wait forever.
  bool wait_for_input(uint64_t timeout_ns);
  void flush_serial();
  // Moves held console input into COM1's receiver while its FIFO has room.
  void feed_serial_input();

  PcConfig config_;
  GuestClock clock_;
  TimerQueue timers_;
  std::vector<uint8_t> kernel_image_;
  GuestMemory memory_;
  PortBus ports_;
  std::unique_ptr<AddressTranslator> translator_;
  std::unique_ptr<CpuState> cpu_;
  std::unique_ptr<Tier0Engine> engine_;
  std::unique_ptr<IsaIrqRouter> isa_irqs_;
  std::unique_ptr<Pic8259Pair> pic_;
  std::unique_ptr<Pit8254> pit_;
  std::unique_ptr<Rtc146818> rtc_;
  std::unique_ptr<Uart16550> com1_;
  std::unique_ptr<acpi::AcpiPm> acpi_pm_;
  std::unique_ptr<Lapic> lapic_;
  std::unique_ptr<Ioapic> ioapic_;
  std::unique_ptr<I8042> i8042_;
  std::unique_ptr<PostCodePort> port80_;
  std::unique_ptr<PciHost> pci_;
  std::unique_ptr<FwCfg> fw_cfg_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<StdioConsole> console_;
  std::string serial_buffer_;         // COM1 output not yet written to the console
  std::deque<uint8_t> serial_input_;  // console input COM1 could not take yet
  bool paused_ = false;               // stopped by the monitor
  double insns_per_ns_ = 0.1;         // measured guest speed (service_devices sizes slices with it)
  bool quit_requested_ = false;
  uint64_t acpi_rsdp_ = 0;
  bool powered_off_ = false;
  uint8_t port92_ = 0x02;  // system control port A: bit 1 = A20 enabled
  bool reset_requested_ = false;
  int debug_exit_status_ = -1;
  unsigned resets_ = 0;
};

}  // namespace umbra
