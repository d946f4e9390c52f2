// The ACPI tables of the PC machine: RSDP (revision 2), XSDT and RSDT, FADT (revision 6, not
// hardware-reduced), FACS, MADT and the DSDT (AML from acpi/aml.h). build_acpi_tables() lays them
// out from a physical base address the caller picks and returns each one with its address; the
// machine copies the pieces into guest RAM (the BIOS area 0xE0000-0xFFFFF, where an OS that is
// not told the RSDP address scans for it on 16-byte boundaries).
//
// The fixed-hardware registers the FADT describes are the PM device's (acpi/pm.h), at the port
// offsets in acpi/pm_layout.h from AcpiConfig::pm_base.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "acpi/aml.h"
#include "acpi/pm_layout.h"
#include "acpi/table_writer.h"

namespace umbra::acpi {

struct AcpiConfig {
  // Where the tables go: [table_base, table_base + table_area_size). The RSDP is placed after
  // the tables, 16-byte aligned, inside the same area; it must lie in 0xE0000-0xFFFFF for an OS
  // that scans for it.
  uint64_t table_base = 0xE0000;
  uint64_t table_area_size = 0x10000;

  // RAM below 4 GiB (bytes from 0): the PCI memory window runs from here to pci_mem_end.
  uint64_t ram_below_4g = 0;
  uint64_t pci_mem_end = 0xFEBFFFFF;  // inclusive; the IOAPIC page starts at 0xFEC00000

  // Fixed hardware (FADT) and SCI.
  uint16_t pm_base = kDefaultPmBase;
  uint8_t sci_irq = 9;
  // FADT RESET_REG (a byte written to an I/O port): the i8042's pulse-reset command.
  uint16_t reset_port = 0x64;
  uint8_t reset_value = 0xFE;
  // CMOS index of the RTC century byte, 0 = the RTC has none (FADT CENTURY).
  uint8_t rtc_century_index = 0;
  // IAPC_BOOT_ARCH: an 8042 is present; VGA is present unless told otherwise.
  bool have_i8042 = true;
  bool have_vga = true;

  // Interrupt controllers (MADT).
  uint32_t lapic_address = 0xFEE00000;
  std::vector<uint8_t> cpu_apic_ids = {0};  // processor UID i has local APIC id cpu_apic_ids[i]
  uint8_t ioapic_id = 0;
  uint32_t ioapic_address = 0xFEC00000;
  uint32_t ioapic_gsi_base = 0;
  bool have_8259 = true;  // MADT flag PCAT_COMPAT

  // DSDT contents beyond the base platform.
  // The PCI function of the ISA (LPC) bridge, as _ADR (device << 16 | function). The ISA
  // devices (RTC, COM1, keyboard) are described under it when `describe_isa_devices` is set.
  uint32_t isa_bridge_adr = 0x00010000;
  bool describe_isa_devices = true;
  // Extra top-level terms appended to the DSDT (e.g. \_SB memory devices, \_GPE methods).
  aml::AmlList dsdt_extra;
  // Extra complete tables (built with TableWriter::finish()) listed in the XSDT/RSDT.
  std::vector<std::vector<uint8_t>> extra_tables;

  OemIds oem;
};

struct AcpiPiece {
  std::string signature;  // "RSDP", "XSDT", "FACP", "DSDT", ...
  uint64_t paddr = 0;
  std::vector<uint8_t> bytes;
};

struct AcpiTables {
  std::vector<AcpiPiece> pieces;  // in address order, non-overlapping
  uint64_t rsdp_paddr = 0;

  // The piece with this signature, or nullptr.
  const AcpiPiece* find(std::string_view signature) const;
  // All pieces as one contiguous image starting at pieces.front().paddr (gaps zero-filled), for
  // a machine that copies one block into guest memory.
  uint64_t image_base() const { return pieces.empty() ? 0 : pieces.front().paddr; }
  std::vector<uint8_t> image() const;
};

// Throws std::runtime_error if the tables do not fit in the configured area.
AcpiTables build_acpi_tables(const AcpiConfig& config);

// The DSDT's AML body (everything after the header); exposed for tests and for tools that want
// to look at the namespace.
aml::AmlCode build_dsdt_aml(const AcpiConfig& config);

// FADT byte offsets used by the tests (ACPI 6.x table 5.9 "FADT Format").
namespace fadt {
constexpr unsigned kFirmwareCtrl = 36, kDsdt = 40, kPreferredPmProfile = 45, kSciInt = 46,
                   kSmiCmd = 48, kPm1aEvtBlk = 56, kPm1aCntBlk = 64, kPmTmrBlk = 76, kGpe0Blk = 80,
                   kPm1EvtLen = 88, kPm1CntLen = 89, kPmTmrLen = 91, kGpe0BlkLen = 92,
                   kPLvl2Lat = 96, kPLvl3Lat = 98, kCentury = 108, kIapcBootArch = 109,
                   kFlags = 112, kResetReg = 116, kResetValue = 128, kMinorVersion = 131,
                   kXFirmwareCtrl = 132, kXDsdt = 140, kXPm1aEvtBlk = 148, kXPm1aCntBlk = 172,
                   kXPmTmrBlk = 208, kXGpe0Blk = 220, kSize = 276;
// Flags (table 5.10).
constexpr uint32_t kWbinvd = 1u << 0, kProcC1 = 1u << 2, kPwrButton = 1u << 4, kSlpButton = 1u << 5,
                   kFixRtc = 1u << 6, kTmrValExt = 1u << 8, kResetRegSup = 1u << 10,
                   kHwReducedAcpi = 1u << 20;
// IAPC_BOOT_ARCH (table 5.11).
constexpr uint16_t kLegacyDevices = 1u << 0, k8042 = 1u << 1, kVgaNotPresent = 1u << 2,
                   kCmosRtcNotPresent = 1u << 5;
}  // namespace fadt

}  // namespace umbra::acpi
