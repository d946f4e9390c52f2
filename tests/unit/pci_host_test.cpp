// PCI configuration mechanism #1 and the PC's bus 0 (host bridge, PIIX3 ISA bridge), through the
// port bus as the guest sees them.
#include "devices/pci_host.h"

#include <gtest/gtest.h>

#include "devices/port_bus.h"

namespace umbra {
namespace {

uint32_t cfg_addr(unsigned bus, unsigned dev, unsigned fn, unsigned reg) {
  return 0x80000000u | (bus << 16) | (dev << 11) | (fn << 8) | reg;
}

class PciHostTest : public ::testing::Test {
 protected:
  PciHostTest() : pci_([this] { ++resets_; }) { pci_.attach(ports_); }
  uint32_t read(unsigned dev, unsigned fn, unsigned reg, unsigned size = 4, unsigned bus = 0) {
    ports_.write(0xCF8, 4, cfg_addr(bus, dev, fn, reg & 0xFC));
    return ports_.read(static_cast<uint16_t>(0xCFC + (reg & 3)), size);
  }
  void write(unsigned dev, unsigned fn, unsigned reg, unsigned size, uint32_t v) {
    ports_.write(0xCF8, 4, cfg_addr(0, dev, fn, reg & 0xFC));
    ports_.write(static_cast<uint16_t>(0xCFC + (reg & 3)), size, v);
  }
  PortBus ports_;
  int resets_ = 0;
  PciHost pci_;
};

TEST_F(PciHostTest, AddressRegisterLatchesOnlyDwordWrites) {
  ports_.write(0xCF8, 4, 0x80001234u | 0x7F000003u);
  EXPECT_EQ(ports_.read(0xCF8, 4), 0x80001234u) << "reserved bits 30-24 and 1-0 read as zero";
  // Linux's probe (pci_check_type1): a byte write to 0xCFB must not disturb the address, and the
  // enable bit reads back.
  ports_.write(0xCFB, 1, 0x01);
  ports_.write(0xCF8, 4, 0x80000000u);
  EXPECT_EQ(ports_.read(0xCF8, 4), 0x80000000u);
  ports_.write(0xCF8, 2, 0x1111);
  ports_.write(0xCFA, 2, 0x2222);
  EXPECT_EQ(ports_.read(0xCF8, 4), 0x80000000u);
  EXPECT_EQ(ports_.read(0xCF8, 2), 0xFFFFu) << "narrow reads are not the address register";
}

TEST_F(PciHostTest, HostBridgeIdentity) {
  EXPECT_EQ(read(0, 0, 0x00), 0x12378086u);
  EXPECT_EQ(read(0, 0, 0x08) >> 8, 0x060000u) << "class: host bridge";
  EXPECT_EQ(read(0, 0, 0x0E, 1), 0x00u) << "single-function type-0 header";
  EXPECT_EQ(read(0, 0, 0x02, 2), 0x1237u) << "word access at byte offset 2";
  EXPECT_EQ(read(0, 0, 0x01, 1), 0x80u) << "byte access at byte offset 1";
}

TEST_F(PciHostTest, IsaBridgeIdentityAndMultiFunctionHeader) {
  EXPECT_EQ(read(1, 0, 0x00), 0x70008086u);
  EXPECT_EQ(read(1, 0, 0x0A, 2), 0x0601u) << "class: ISA bridge";
  EXPECT_EQ(read(1, 0, 0x0E, 1), 0x80u) << "multi-function bit, as on the PIIX3";
  EXPECT_EQ(read(1, 0, 0x60), 0x80808080u) << "PIRQ routing disabled at reset";
}

TEST_F(PciHostTest, AbsentDevicesReadAllOnes) {
  EXPECT_EQ(read(2, 0, 0x00), 0xFFFFFFFFu);
  EXPECT_EQ(read(1, 1, 0x00), 0xFFFFFFFFu);
  EXPECT_EQ(read(0, 1, 0x00), 0xFFFFFFFFu);
  EXPECT_EQ(read(31, 7, 0x00), 0xFFFFFFFFu);
  EXPECT_EQ(read(0, 0, 0x00, 4, /*bus=*/1), 0xFFFFFFFFu);
  EXPECT_EQ(read(2, 0, 0x00, 2), 0xFFFFu);
  write(2, 0, 0x04, 2, 0x0007);  // ignored, no crash
  // Enable bit clear: the data port is not a configuration access.
  ports_.write(0xCF8, 4, 0x00000000u);
  EXPECT_EQ(ports_.read(0xCFC, 4), 0xFFFFFFFFu);
}

TEST_F(PciHostTest, ReadOnlyAndWritableHeaderFields) {
  write(0, 0, 0x00, 4, 0);
  EXPECT_EQ(read(0, 0, 0x00), 0x12378086u) << "IDs are read-only";
  write(0, 0, 0x08, 4, 0);
  EXPECT_EQ(read(0, 0, 0x08) >> 8, 0x060000u) << "class is read-only";
  // Command: I/O, memory, bus master, parity, SERR writable; other bits stay 0.
  write(1, 0, 0x04, 2, 0xFFFF);
  EXPECT_EQ(read(1, 0, 0x04, 2), 0x0147u);
  write(1, 0, 0x04, 2, 0x0000);
  EXPECT_EQ(read(1, 0, 0x04, 2), 0x0000u);
  // Latency timer, cache line size and interrupt line are plain registers.
  write(0, 0, 0x0D, 1, 0x40);
  EXPECT_EQ(read(0, 0, 0x0D, 1), 0x40u);
  write(0, 0, 0x3C, 1, 0x0B);
  EXPECT_EQ(read(0, 0, 0x3C, 1), 0x0Bu);
  EXPECT_EQ(read(0, 0, 0x3D, 1), 0x00u) << "no interrupt pin";
}

TEST_F(PciHostTest, NoBars) {
  for (unsigned bar = 0x10; bar <= 0x24; bar += 4) {
    write(0, 0, bar, 4, 0xFFFFFFFF);
    EXPECT_EQ(read(0, 0, bar), 0u) << "BAR " << bar << " is unimplemented";
    write(1, 0, bar, 4, 0xFFFFFFFF);
    EXPECT_EQ(read(1, 0, bar), 0u);
  }
  write(0, 0, 0x30, 4, 0xFFFFFFFF);
  EXPECT_EQ(read(0, 0, 0x30), 0u) << "no expansion ROM";
}

TEST_F(PciHostTest, StatusErrorBitsAreWriteOneToClear) {
  const uint16_t status = static_cast<uint16_t>(read(0, 0, 0x06, 2));
  EXPECT_EQ(status, 0x0200u) << "DEVSEL medium, no capabilities";
  write(0, 0, 0x06, 2, 0xFFFF);
  EXPECT_EQ(read(0, 0, 0x06, 2), 0x0200u) << "read-only bits unchanged, clear bits stay clear";
}

TEST_F(PciHostTest, PirqRouteRegistersArePlainRegisters) {
  write(1, 0, 0x60, 1, 0x0B);
  write(1, 0, 0x61, 1, 0x0A);
  write(1, 0, 0x62, 2, 0x8005);
  EXPECT_EQ(read(1, 0, 0x60), 0x80050A0Bu);
  EXPECT_EQ(read(1, 0, 0x62, 1), 0x05u);
}

TEST_F(PciHostTest, DataPortAccessMayNotCrossTheDword) {
  ports_.write(0xCF8, 4, cfg_addr(0, 0, 0, 0));
  EXPECT_EQ(pci_.port_read(0xCFF, 2), 0xFFFFu);
  EXPECT_EQ(pci_.port_read(0xCFE, 2), 0x1237u);
  // Through the bus, the byte past 0xCFF belongs to nobody: 0xFF above the device's byte.
  EXPECT_EQ(ports_.read(0xCFF, 2), 0xFF12u);
}

TEST_F(PciHostTest, ResetControlRegister) {
  ports_.write(0xCF9, 1, 0x02);
  EXPECT_EQ(ports_.read(0xCF9, 1), 0x02u);
  EXPECT_EQ(resets_, 0);
  ports_.write(0xCF9, 1, 0x06);  // SRST | RCPU: Linux's reboot=pci sequence
  EXPECT_EQ(resets_, 1);
  ports_.write(0xCF9, 1, 0x0E);
  EXPECT_EQ(resets_, 2);
  // The dword address register at 0xCF8 does not touch 0xCF9.
  ports_.write(0xCF8, 4, 0x80000400u);
  EXPECT_EQ(resets_, 2);
}

TEST_F(PciHostTest, ResetRestoresPowerOnState) {
  write(1, 0, 0x60, 1, 0x0B);
  write(0, 0, 0x04, 2, 0);
  pci_.reset();
  EXPECT_EQ(pci_.config_address(), 0u);
  EXPECT_EQ(read(1, 0, 0x60, 1), 0x80u);
  EXPECT_EQ(read(0, 0, 0x04, 2), 0x0006u);
}

TEST_F(PciHostTest, LinuxStyleBusScanFindsTwoFunctions) {
  int found = 0;
  for (unsigned dev = 0; dev < 32; ++dev) {
    for (unsigned fn = 0; fn < 8; ++fn) {
      if ((read(dev, fn, 0x00) & 0xFFFF) == 0xFFFF) {
        if (fn == 0) break;
        continue;
      }
      ++found;
      if (fn == 0 && !(read(dev, 0, 0x0E, 1) & 0x80)) break;
    }
  }
  EXPECT_EQ(found, 2);
}

}  // namespace
}  // namespace umbra
