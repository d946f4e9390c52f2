#include "devices/pci_host.h"

#include "devices/port_bus.h"

namespace umbra {

namespace {

// Type-0 header offsets (PCI Local Bus Specification 3.0, 6.1).
constexpr uint16_t kVendorId = 0x00, kDeviceId = 0x02, kCommand = 0x04, kStatus = 0x06,
                   kRevision = 0x08, kCacheLineSize = 0x0C, kLatencyTimer = 0x0D,
                   kHeaderType = 0x0E, kInterruptLine = 0x3C, kDeviceSpecific = 0x40;
// Command: I/O space, memory space, bus master, parity error response (byte 0x04), SERR# enable
// (bit 8, byte 0x05) are what these bridges implement.
constexpr uint8_t kCommandLowMask = 0x47, kCommandHighMask = 0x01;
// Status: bits 15-11 and 8 are write-1-to-clear error bits (6.2.3); DEVSEL timing = medium.
constexpr uint8_t kStatusHighW1c = 0xF9;
constexpr uint16_t kStatusDevselMedium = 0x0200;

constexpr uint8_t kHeaderMultiFunction = 0x80;

// PIIX3 function 0 registers (82371SB datasheet): PIRQ[A-D] route control, 0x80 = routing off.
constexpr uint16_t kPirqRoute = 0x60;

constexpr uint32_t kAddressEnable = 0x80000000u;
// CONFIG_ADDRESS: enable (31), bus (23-16), device (15-11), function (10-8), register (7-2).
// Bits 30-24 are reserved and bits 1-0 read as zero.
constexpr uint32_t kAddressMask = 0x80FFFFFCu;
// Reset control (PIIX3 RC, port 0xCF9): SRST (bit 1) selects the reset kind, RCPU (bit 2)
// starts it; bit 3 (full reset on later PIIX parts) is kept as a plain bit.
constexpr uint8_t kResetCpu = 0x04, kResetControlMask = 0x0E;

uint8_t devfn_of(uint8_t device, uint8_t function) {
  return static_cast<uint8_t>(((device & 0x1F) << 3) | (function & 7));
}

}  // namespace

PciConfigSpace::PciConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_rev,
                               uint8_t header_type) {
  set16(kVendorId, vendor);
  set16(kDeviceId, device);
  regs_[kRevision] = static_cast<uint8_t>(class_rev);
  regs_[kRevision + 1] = static_cast<uint8_t>(class_rev >> 8);   // programming interface
  regs_[kRevision + 2] = static_cast<uint8_t>(class_rev >> 16);  // sub-class
  regs_[kRevision + 3] = static_cast<uint8_t>(class_rev >> 24);  // base class
  regs_[kHeaderType] = header_type;
  set16(kStatus, kStatusDevselMedium);
  make_writable(kCommand, 1, kCommandLowMask);
  make_writable(kCommand + 1, 1, kCommandHighMask);
  make_write1_clears(kStatus + 1, kStatusHighW1c);
  make_writable(kCacheLineSize, 1);
  make_writable(kLatencyTimer, 1);
  make_writable(kInterruptLine, 1);
  // BARs, expansion ROM, capabilities pointer, interrupt pin: none, read-only zero. A BAR that
  // reads back 0 after writing all ones is unimplemented (6.2.5.1), which is how the OS sees it.
}

void PciConfigSpace::set16(uint16_t offset, uint16_t v) {
  regs_[offset] = static_cast<uint8_t>(v);
  regs_[offset + 1] = static_cast<uint8_t>(v >> 8);
}

void PciConfigSpace::make_writable(uint16_t offset, uint16_t count, uint8_t mask) {
  for (uint16_t i = 0; i < count && offset + i < 256; ++i) writable_[offset + i] = mask;
}

void PciConfigSpace::make_write1_clears(uint16_t offset, uint8_t mask) {
  write1_clears_[offset] = mask;
}

uint32_t PciConfigSpace::read(uint16_t offset, unsigned size) const {
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) {
    const unsigned at = offset + i;
    v |= uint32_t{at < 256 ? regs_[at] : uint8_t{0xFF}} << (8 * i);
  }
  return v;
}

void PciConfigSpace::write(uint16_t offset, unsigned size, uint32_t value) {
  for (unsigned i = 0; i < size; ++i) {
    const unsigned at = offset + i;
    if (at >= 256) break;
    const uint8_t b = static_cast<uint8_t>(value >> (8 * i));
    regs_[at] = static_cast<uint8_t>((regs_[at] & ~writable_[at]) | (b & writable_[at]));
    regs_[at] &= static_cast<uint8_t>(~(b & write1_clears_[at]));
  }
}

PciHost::PciHost(std::function<void()> reset) : reset_(std::move(reset)) {
  build_bus();
}

void PciHost::reset() {
  address_ = 0;
  reset_control_ = 0;
  build_bus();
}

void PciHost::build_bus() {
  slots_.clear();
  // 00:00.0 host bridge (i440FX PMC: 8086:1237 revision 2, class 06 00 00).
  Slot host{devfn_of(kHostBridgeDevice, 0), PciConfigSpace(0x8086, 0x1237, 0x06000002, 0x00)};
  host.space.set16(kCommand, 0x0006);  // memory space and bus master, as after firmware
  host.space.make_writable(kDeviceSpecific, 256 - kDeviceSpecific);
  slots_.push_back(host);
  // 00:01.0 PCI-to-ISA bridge (PIIX3: 8086:7000, class 06 01 00, multi-function device).
  Slot isa{devfn_of(kIsaBridgeDevice, 0),
           PciConfigSpace(0x8086, 0x7000, 0x06010000, kHeaderMultiFunction)};
  isa.space.set16(kCommand, 0x0007);  // I/O, memory, bus master: forwards ISA cycles
  isa.space.make_writable(kDeviceSpecific, 256 - kDeviceSpecific);
  for (uint16_t i = 0; i < 4; ++i) isa.space.set8(kPirqRoute + i, 0x80);
  slots_.push_back(isa);
}

void PciHost::attach(PortBus& ports) {
  ports.add(pci_ports::kConfigAddress, 8,
            PortHandler{[this](uint16_t port, unsigned size) { return port_read(port, size); },
                        [this](uint16_t port, unsigned size, uint32_t value) {
                          port_write(port, size, value);
                        }},
            "pci-host");
}

PciConfigSpace* PciHost::find(uint8_t bus, uint8_t devfn) {
  if (bus != 0) return nullptr;
  for (Slot& s : slots_)
    if (s.devfn == devfn) return &s.space;
  return nullptr;
}

const PciConfigSpace* PciHost::find(uint8_t bus, uint8_t devfn) const {
  return const_cast<PciHost*>(this)->find(bus, devfn);
}

const PciConfigSpace* PciHost::function(uint8_t device, uint8_t function) const {
  return find(0, devfn_of(device, function));
}

uint32_t PciHost::config_read(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset,
                              unsigned size) const {
  const PciConfigSpace* f = find(bus, devfn_of(device, function));
  if (!f) return size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
  return f->read(offset, size);
}

void PciHost::config_write(uint8_t bus, uint8_t device, uint8_t function, uint16_t offset,
                           unsigned size, uint32_t value) {
  if (PciConfigSpace* f = find(bus, devfn_of(device, function))) f->write(offset, size, value);
}

uint32_t PciHost::port_read(uint16_t port, unsigned size) const {
  const uint32_t ones = size >= 4 ? 0xFFFFFFFFu : (1u << (8 * size)) - 1;
  if (port == pci_ports::kConfigAddress && size == 4) return address_;
  if (port == pci_ports::kResetControl && size == 1) return reset_control_;
  if (port < pci_ports::kConfigData) return ones;  // narrow accesses to 0xCF8/0xCFA/0xCFB
  if (!(address_ & kAddressEnable)) return ones;
  const unsigned lane = port - pci_ports::kConfigData;
  if (lane + size > 4) return ones;  // would cross the dword: not a valid data-port access
  const uint8_t bus = static_cast<uint8_t>(address_ >> 16);
  const uint8_t devfn = static_cast<uint8_t>(address_ >> 8);
  return config_read(bus, devfn >> 3, devfn & 7, static_cast<uint16_t>((address_ & 0xFC) + lane),
                     size);
}

void PciHost::port_write(uint16_t port, unsigned size, uint32_t value) {
  if (port == pci_ports::kConfigAddress && size == 4) {
    address_ = value & kAddressMask;
    return;
  }
  if (port == pci_ports::kResetControl && size == 1) {
    const bool start = (value & kResetCpu) && !(reset_control_ & kResetCpu);
    // RCPU reads back as written until the reset happens; the reset itself clears the register.
    reset_control_ = static_cast<uint8_t>(value & kResetControlMask);
    if (start && reset_) {
      reset_control_ = 0;
      reset_();
    }
    return;
  }
  if (port < pci_ports::kConfigData || !(address_ & kAddressEnable)) return;
  const unsigned lane = port - pci_ports::kConfigData;
  if (lane + size > 4) return;
  const uint8_t bus = static_cast<uint8_t>(address_ >> 16);
  const uint8_t devfn = static_cast<uint8_t>(address_ >> 8);
  config_write(bus, devfn >> 3, devfn & 7, static_cast<uint16_t>((address_ & 0xFC) + lane), size,
               value);
}

}  // namespace umbra
