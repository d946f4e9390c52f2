// The PCI host bridge's I/O-port configuration access (PCI Local Bus Specification 3.0, 3.2.2.3.2
// "Configuration Mechanism #1") and bus 0 of the PC: the i440FX-style host bridge at 00:00.0
// (8086:1237, class 0600) and the PIIX3-style PCI-to-ISA bridge at 00:01.0 (8086:7000, class
// 0601, multi-function header as on the PIIX3). No device has BARs: the legacy devices of the PC
// sit at their fixed ISA ports. Also the PIIX3 reset control register at port 0xCF9.
//
// Ports: 0xCF8 CONFIG_ADDRESS (only 32-bit accesses latch it; narrower accesses are not the
// address register, as on real chipsets), 0xCF9 reset control (byte), 0xCFC-0xCFF CONFIG_DATA
// (byte/word/dword at the byte offset given by the port).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

namespace umbra {

class PortBus;

// One function's 256-byte type-0 configuration space with per-byte write masks: a bit is
// writable when set in `writable`, write-1-to-clear when set in `write1_clears` (status bits).
class PciConfigSpace {
 public:
  PciConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_rev, uint8_t header_type);

  uint32_t read(uint16_t offset, unsigned size) const;
  void write(uint16_t offset, unsigned size, uint32_t value);

  // Set-up helpers (raw access, ignoring the masks).
  void set8(uint16_t offset, uint8_t v) { regs_[offset] = v; }
  void set16(uint16_t offset, uint16_t v);
  void make_writable(uint16_t offset, uint16_t count, uint8_t mask = 0xFF);
  void make_write1_clears(uint16_t offset, uint8_t mask);
  uint8_t raw8(uint16_t offset) const { return regs_[offset]; }

 private:
  std::array<uint8_t, 256> regs_{};
  std::array<uint8_t, 256> writable_{};
  std::array<uint8_t, 256> write1_clears_{};
};

namespace pci_ports {
constexpr uint16_t kConfigAddress = 0xCF8;
constexpr uint16_t kResetControl = 0xCF9;
constexpr uint16_t kConfigData = 0xCFC;
}  // namespace pci_ports

class PciHost {
 public:
  // `reset` is called when the guest writes the reset control register with RCPU (bit 2) going
  // from 0 to 1 (PIIX3 datasheet, RC register); null: such writes only update the register.
  explicit PciHost(std::function<void()> reset = {});

  // Back to the power-on state (machine reset): address register, reset control, every
  // function's registers.
  void reset();

  // Claims 0xCF8-0xCFF on `ports`.
  void attach(PortBus& ports);

  // Configuration access by bus/device/function; absent functions read as all ones.
  uint32_t config_read(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset,
                       unsigned size) const;
  void config_write(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset, unsigned size,
                    uint32_t value);

  // Port-level access (what attach() registers).
  uint32_t port_read(uint16_t port, unsigned size) const;
  void port_write(uint16_t port, unsigned size, uint32_t value);

  uint32_t config_address() const { return address_; }
  uint8_t reset_control() const { return reset_control_; }
  // The function at 00:dev.fn, or null.
  const PciConfigSpace* function(uint8_t device, uint8_t function) const;

  static constexpr uint8_t kHostBridgeDevice = 0;
  static constexpr uint8_t kIsaBridgeDevice = 1;

 private:
  struct Slot {
    uint8_t devfn;
    PciConfigSpace space;
  };
  void build_bus();
  PciConfigSpace* find(uint8_t bus, uint8_t devfn);
  const PciConfigSpace* find(uint8_t bus, uint8_t devfn) const;

  std::vector<Slot> slots_;
  uint32_t address_ = 0;
  uint8_t reset_control_ = 0;
  std::function<void()> reset_;
};

}  // namespace umbra
