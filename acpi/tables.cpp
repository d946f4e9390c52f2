#include "acpi/tables.h"

#include <algorithm>
#include <stdexcept>

namespace umbra::acpi {

namespace {

uint64_t align_up(uint64_t v, uint64_t a) {
  return (v + a - 1) & ~(a - 1);
}

// FACS (ACPI 6.x section 5.2.10): no checksum, 64 bytes, 64-byte aligned. All zero but the
// signature, length and version: no S4BIOS, no waking vector (we never resume).
std::vector<uint8_t> build_facs() {
  TableWriter w;
  w.resize(64);
  w.put_chars(0, "FACS", 4);
  w.put32(4, 64);
  w.put8(32, 2);  // version
  return w.bytes();
}

std::vector<uint8_t> build_fadt(const AcpiConfig& c, uint64_t facs, uint64_t dsdt) {
  // Revision 6 (ACPI 6.0 layout, 276 bytes), minor version 0.
  TableWriter w("FACP", 6, c.oem);
  w.resize(fadt::kSize);
  const uint32_t base = c.pm_base;
  w.put32(fadt::kFirmwareCtrl, static_cast<uint32_t>(facs));
  w.put32(fadt::kDsdt, static_cast<uint32_t>(dsdt));
  w.put8(fadt::kPreferredPmProfile, 0);  // unspecified
  w.put16(fadt::kSciInt, c.sci_irq);
  // SMI_CMD = 0: no SMI mode-transition port; the machine is always in ACPI mode and SCI_EN
  // reads as 1 (section 4.8.2.5 / 5.2.9, SMI_CMD field).
  w.put32(fadt::kSmiCmd, 0);
  w.put32(fadt::kPm1aEvtBlk, base + kPm1EvtOffset);
  w.put32(fadt::kPm1aCntBlk, base + kPm1CntOffset);
  w.put32(fadt::kPmTmrBlk, base + kPmTmrOffset);
  w.put32(fadt::kGpe0Blk, base + kGpe0Offset);
  w.put8(fadt::kPm1EvtLen, kPm1EvtLen);
  w.put8(fadt::kPm1CntLen, kPm1CntLen);
  w.put8(fadt::kPmTmrLen, kPmTmrLen);
  w.put8(fadt::kGpe0BlkLen, kGpe0Len);
  // Latencies above 100 / 1000 us say C2 / C3 are not supported: C1 (HLT) only.
  w.put16(fadt::kPLvl2Lat, 0x0FFF);
  w.put16(fadt::kPLvl3Lat, 0x0FFF);
  w.put8(fadt::kCentury, c.rtc_century_index);
  uint16_t boot_arch = fadt::kLegacyDevices;
  if (c.have_i8042) boot_arch |= fadt::k8042;
  if (!c.have_vga) boot_arch |= fadt::kVgaNotPresent;
  w.put16(fadt::kIapcBootArch, boot_arch);
  // PWR_BUTTON clear: the power button is the fixed-feature one (PWRBTN_STS), which the monitor's
  // system_powerdown presses. SLP_BUTTON set: there is no sleep button. FIX_RTC set: RTC wake
  // status is not in the fixed registers. TMR_VAL_EXT: the PM timer is 32 bits wide.
  w.put32(fadt::kFlags, fadt::kWbinvd | fadt::kProcC1 | fadt::kSlpButton | fadt::kFixRtc |
                            fadt::kTmrValExt | fadt::kResetRegSup);
  put_gas(w, fadt::kResetReg, Gas{GasSpace::kSystemIo, 8, 0, 1, c.reset_port});
  w.put8(fadt::kResetValue, c.reset_value);
  w.put8(fadt::kMinorVersion, 0);
  // X_FIRMWARE_CTRL stays 0: "if the FIRMWARE_CTRL field contains a non zero value then this
  // field must be zero" (5.2.9); with both set Linux also installs the FACS twice.
  w.put64(fadt::kXDsdt, dsdt);
  // The X_ blocks repeat the 32-bit ones as Generic Address Structures; the bit widths must match
  // the *_LEN fields (an OS checks they agree).
  put_gas(w, fadt::kXPm1aEvtBlk,
          Gas{GasSpace::kSystemIo, kPm1EvtLen * 8, 0, 2, base + kPm1EvtOffset});
  put_gas(w, fadt::kXPm1aCntBlk,
          Gas{GasSpace::kSystemIo, kPm1CntLen * 8, 0, 2, base + kPm1CntOffset});
  put_gas(w, fadt::kXPmTmrBlk, Gas{GasSpace::kSystemIo, kPmTmrLen * 8, 0, 3, base + kPmTmrOffset});
  put_gas(w, fadt::kXGpe0Blk, Gas{GasSpace::kSystemIo, kGpe0Len * 8, 0, 1, base + kGpe0Offset});
  return w.finish();
}

// MADT (section 5.2.12), revision 4.
std::vector<uint8_t> build_madt(const AcpiConfig& c) {
  TableWriter w("APIC", 4, c.oem);
  w.put32(36, c.lapic_address);
  w.put32(40, c.have_8259 ? 1 : 0);  // PCAT_COMPAT: 8259s present, to be masked by the OS
  size_t at = 44;
  for (size_t uid = 0; uid < c.cpu_apic_ids.size() && uid < 256; ++uid) {
    // Processor Local APIC: type 0, length 8, UID, APIC id, flags (bit 0 enabled).
    w.put8(at, 0);
    w.put8(at + 1, 8);
    w.put8(at + 2, static_cast<uint8_t>(uid));
    w.put8(at + 3, c.cpu_apic_ids[uid]);
    w.put32(at + 4, 1);
    at += 8;
  }
  // I/O APIC: type 1, length 12.
  w.put8(at, 1);
  w.put8(at + 1, 12);
  w.put8(at + 2, c.ioapic_id);
  w.put8(at + 3, 0);
  w.put32(at + 4, c.ioapic_address);
  w.put32(at + 8, c.ioapic_gsi_base);
  at += 12;
  // Interrupt Source Overrides: type 2, length 10, bus 0 (ISA), source IRQ, GSI, MPS INTI flags
  // (bits 1-0 polarity: 0 conforms, 1 high, 3 low; bits 3-2 trigger: 0 conforms, 1 edge,
  // 3 level). IRQ0 (PIT) is wired to IOAPIC pin 2 and keeps the ISA edge/high conventions;
  // the SCI is level-triggered, active high.
  auto iso = [&](uint8_t irq, uint32_t gsi, uint16_t flags) {
    w.put8(at, 2);
    w.put8(at + 1, 10);
    w.put8(at + 2, 0);
    w.put8(at + 3, irq);
    w.put32(at + 4, gsi);
    w.put16(at + 8, flags);
    at += 10;
  };
  iso(0, c.ioapic_gsi_base + 2, 0x0000);
  iso(c.sci_irq, c.ioapic_gsi_base + c.sci_irq, 0x000D);  // level (3 << 2) | active high (1)
  // Local APIC NMI: type 4, length 6, all processors (UID 0xFF), flags conform, LINT1.
  w.put8(at, 4);
  w.put8(at + 1, 6);
  w.put8(at + 2, 0xFF);
  w.put16(at + 3, 0);
  w.put8(at + 5, 1);
  return w.finish();
}

std::vector<uint8_t> build_dsdt(const AcpiConfig& c) {
  TableWriter w("DSDT", 2, c.oem);  // revision 2: 64-bit AML integers
  w.append(build_dsdt_aml(c));
  return w.finish();
}

std::vector<uint8_t> build_xsdt(const AcpiConfig& c, const std::vector<uint64_t>& entries) {
  TableWriter w("XSDT", 1, c.oem);
  for (uint64_t e : entries) w.put64(w.size(), e);
  return w.finish();
}

std::vector<uint8_t> build_rsdt(const AcpiConfig& c, const std::vector<uint64_t>& entries) {
  TableWriter w("RSDT", 1, c.oem);
  for (uint64_t e : entries) w.put32(w.size(), static_cast<uint32_t>(e));
  return w.finish();
}

// RSDP (section 5.2.5.3), revision 2: a checksum over the first 20 bytes (the ACPI 1.0 part)
// and an extended checksum over all 36.
std::vector<uint8_t> build_rsdp(const AcpiConfig& c, uint64_t rsdt, uint64_t xsdt) {
  TableWriter w;
  w.resize(36);
  w.put_chars(0, "RSD PTR ", 8);
  w.put_chars(9, c.oem.oem_id, 6);
  w.put8(15, 2);
  w.put32(16, static_cast<uint32_t>(rsdt));
  w.put32(20, 36);
  w.put64(24, xsdt);
  std::vector<uint8_t> b = w.bytes();
  b[8] = checksum_byte(b.data(), 20);
  b[32] = checksum_byte(b.data(), 36);
  return b;
}

std::string signature_of(const std::vector<uint8_t>& table) {
  return table.size() >= 4 ? std::string(table.begin(), table.begin() + 4) : std::string("????");
}

}  // namespace

const AcpiPiece* AcpiTables::find(std::string_view signature) const {
  for (const AcpiPiece& p : pieces)
    if (p.signature == signature) return &p;
  return nullptr;
}

std::vector<uint8_t> AcpiTables::image() const {
  std::vector<uint8_t> out;
  for (const AcpiPiece& p : pieces) {
    const size_t at = p.paddr - image_base();
    if (out.size() < at + p.bytes.size()) out.resize(at + p.bytes.size(), 0);
    std::copy(p.bytes.begin(), p.bytes.end(), out.begin() + static_cast<ptrdiff_t>(at));
  }
  return out;
}

AcpiTables build_acpi_tables(const AcpiConfig& c) {
  AcpiTables out;
  uint64_t next = c.table_base;
  auto place = [&](std::string sig, std::vector<uint8_t> bytes, uint64_t align) {
    next = align_up(next, align);
    const uint64_t at = next;
    next += bytes.size();
    out.pieces.push_back(AcpiPiece{std::move(sig), at, std::move(bytes)});
    return at;
  };

  const uint64_t facs = place("FACS", build_facs(), 64);
  const uint64_t dsdt = place("DSDT", build_dsdt(c), 16);
  std::vector<uint64_t> entries;
  entries.push_back(place("FACP", build_fadt(c, facs, dsdt), 16));
  entries.push_back(place("APIC", build_madt(c), 16));
  for (const std::vector<uint8_t>& t : c.extra_tables)
    entries.push_back(place(signature_of(t), t, 16));
  const uint64_t xsdt = place("XSDT", build_xsdt(c, entries), 16);
  const uint64_t rsdt = place("RSDT", build_rsdt(c, entries), 16);
  out.rsdp_paddr = place("RSDP", build_rsdp(c, rsdt, xsdt), 16);

  if (next > c.table_base + c.table_area_size)
    throw std::runtime_error("ACPI tables do not fit in the table area");
  if (next > 0xFFFFFFFFu) throw std::runtime_error("ACPI tables must lie below 4 GiB");
  return out;
}

}  // namespace umbra::acpi
