// The PC board: which devices sit where, how their interrupt lines are wired, the physical
// memory map, the ACPI tables, and the Linux boot path. (pc.cpp has the CPU reset, the
// multiboot path and the main loop.)
#include <cstring>
#include <fstream>
#include <iterator>

#include "acpi/pm.h"
#include "acpi/tables.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/isa_irq_router.h"
#include "devices/lapic.h"
#include "devices/pci_host.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/port80.h"
#include "devices/rtc.h"
#include "devices/uart16550.h"
#include "frontend/cpu_state.h"
#include "jit/tier0.h"
#include "machine/linux_boot.h"
#include "machine/pc.h"
#include "ui/console.h"
#include "ui/monitor.h"

namespace umbra {

namespace {

// The legacy region: 0x9FC00-0x9FFFF is the extended BIOS data area on a PC, 0xA0000-0xBFFFF
// the VGA window and 0xC0000-0xFFFFF option ROMs and the BIOS; the ACPI tables live at
// 0xE0000-0xEFFFF with the RSDP among them, where an OS scans for it (ACPI 6.x, 5.2.5.1).
constexpr uint64_t kLowRamEnd = 0x9FC00;
constexpr uint64_t kHighRamStart = 0x100000;
constexpr uint64_t kAcpiTableBase = 0xE0000;
constexpr uint64_t kAcpiTableSize = 0x10000;

}  // namespace

void PcMachine::build_devices() {
  // Interrupts: ISA IRQs reach both the 8259 pair and the IOAPIC; the IOAPIC talks to the
  // local APIC over the APIC bus; the 8259's INT output is the APIC's LINT0 (ExtINT, the
  // "virtual wire"); the local APIC is the CPU's interrupt controller and its CpuPlatform.
  isa_irqs_ = std::make_unique<IsaIrqRouter>();
  pic_ = std::make_unique<Pic8259Pair>(ports_);
  ioapic_ = std::make_unique<Ioapic>();
  lapic_ = std::make_unique<Lapic>(*cpu_, timers_);
  isa_irqs_->connect(pic_.get(), ioapic_.get());
  connect_apic_bus(*lapic_, *ioapic_);
  lapic_->connect_pic([this] { return pic_->output(); }, [this] { return pic_->acknowledge(); });
  pic_->on_output = [this](bool level) { lapic_->set_lint0(level); };
  lapic_->map(memory_);
  ioapic_->map(memory_);
  cpu_->platform = lapic_.get();
  engine_->set_interrupt_controller(lapic_.get());

  pit_ = std::make_unique<Pit8254>(ports_, timers_, clock_, isa_irqs_->line(0));
  rtc_ =
      std::make_unique<Rtc146818>(ports_, isa_irqs_->line(8), timers_, clock_, config_.ram_bytes);
  com1_ = std::make_unique<Uart16550>(ports_, 0x3f8, isa_irqs_->line(4), timers_, clock_);
  com1_->on_transmit = [this](uint8_t byte) {
    if (console_ || config_.serial_out) serial_buffer_.push_back(static_cast<char>(byte));
  };
  acpi_pm_ = std::make_unique<acpi::AcpiPm>(clock_, timers_, isa_irqs_->line(9), [this] {
    powered_off_ = true;
    cpu_->exit_request |= kExitRequested;
  });
  acpi_pm_->attach(ports_);

  i8042_ = std::make_unique<I8042>(ports_, isa_irqs_->line(1), isa_irqs_->line(12));
  i8042_->on_reset = [this] { request_reset(); };
  port80_ = std::make_unique<PostCodePort>(ports_);
  pci_ = std::make_unique<PciHost>([this] { request_reset(); });
  pci_->attach(ports_);
  FwCfgConfig fw;
  fw.ram_size = config_.ram_bytes;
  fw_cfg_ = std::make_unique<FwCfg>(fw);
  fw_cfg_->attach(ports_);

  if (config_.console_serial || config_.console_monitor) {
    monitor_ = std::make_unique<Monitor>(*cpu_, memory_, this);
    ConsoleConfig cc;
    cc.serial = config_.console_serial;
    cc.monitor = config_.console_monitor;
    cc.escapes = config_.console_serial;
    console_ = std::make_unique<StdioConsole>(
        cc, config_.console_monitor ? monitor_.get() : nullptr,
        [this](uint8_t byte) {
          // Held until the UART's receive FIFO has room (flow control, as a terminal program
          // would do), so a paste or a script piped into stdin is not lost.
          serial_input_.push_back(byte);
          feed_serial_input();
        },
        [this] { quit(); });
  }
}

void PcMachine::reset_devices() {
  pic_->reset();
  ioapic_->reset();
  lapic_->reset();
  // No BIOS runs before the kernel: leave the APIC the way a BIOS hands it to an OS.
  lapic_->setup_virtual_wire();
  pit_->reset();
  rtc_->reset();
  com1_->reset();
  acpi_pm_->reset();
  i8042_->reset();
  pci_->reset();
  powered_off_ = false;
}

void PcMachine::feed_serial_input() {
  while (!serial_input_.empty() && com1_->can_receive()) {
    com1_->receive(serial_input_.front());
    serial_input_.pop_front();
  }
}

std::vector<E820Entry> PcMachine::memory_map() const {
  std::vector<E820Entry> map;
  const uint64_t ram = config_.ram_bytes;
  map.push_back({0, std::min(ram, kLowRamEnd), E820Type::kRam});
  map.push_back({kLowRamEnd, kHighRamStart - kLowRamEnd, E820Type::kReserved});
  if (ram > kHighRamStart) map.push_back({kHighRamStart, ram - kHighRamStart, E820Type::kRam});
  return map;
}

bool PcMachine::load_acpi_tables(std::string* error) {
  acpi::AcpiConfig cfg;
  cfg.table_base = kAcpiTableBase;
  cfg.table_area_size = kAcpiTableSize;
  cfg.ram_below_4g = config_.ram_bytes;
  cfg.rtc_century_index = 0x32;
  cfg.have_vga = false;
  acpi::AcpiTables tables;
  try {
    tables = acpi::build_acpi_tables(cfg);
  } catch (const std::exception& e) {
    *error = std::string("cannot build the ACPI tables: ") + e.what();
    return false;
  }
  for (const acpi::AcpiPiece& p : tables.pieces) {
    if (!memory_.copy_to(p.paddr, p.bytes.data(), p.bytes.size())) {
      *error = "the ACPI tables do not fit in guest RAM";
      return false;
    }
  }
  acpi_rsdp_ = tables.rsdp_paddr;
  return true;
}

bool PcMachine::boot_linux(std::string* error) {
  if (config_.ram_bytes < (64ull << 20)) {
    *error = "a Linux guest needs at least 64 MiB of RAM (-m)";
    return false;
  }
  LinuxBootParams params;
  params.kernel = kernel_image_;
  params.cmdline = config_.cmdline;
  params.e820 = memory_map();
  if (config_.modules.size() > 1) {
    *error = "a Linux kernel takes one -initrd file";
    return false;
  }
  if (!config_.modules.empty()) {
    const std::string& path = config_.modules[0];
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      *error = "cannot read initrd '" + path + "': " + std::strerror(errno);
      return false;
    }
    params.initrd.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (params.initrd.empty()) {
      *error = "initrd '" + path + "' is empty";
      return false;
    }
  }
  if (!load_acpi_tables(error)) return false;
  params.acpi_rsdp_addr = acpi_rsdp_;
  return load_linux(memory_, *cpu_, params, error);
}

}  // namespace umbra
