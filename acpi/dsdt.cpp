// The DSDT's namespace for the PC machine (ACPI 6.x chapter 6 device configuration objects):
//   \_SB.PCI0          PCI host bridge (PNP0A03) with the bus/I/O/memory windows it decodes
//   \_SB.PCI0.ISA      the ISA bridge function, holding the legacy devices' resources
//   \_SB.CPU0..        processor devices (ACPI0007), _UID = the MADT processor UID
//   \_S5               the soft-off sleep type the PM device acts on
#include <string>

#include "acpi/aml_resource.h"
#include "acpi/tables.h"

namespace umbra::acpi {

namespace {

using namespace umbra::aml;

AmlCode pci_host_crs(const AcpiConfig& c) {
  AmlList res = {
      word_bus_number(0x00, 0xFF),
      // The configuration mechanism's ports belong to the host bridge itself (consumed, so they
      // are not offered to devices below it).
      io(0xCF8, 0xCF8, 1, 8),
      word_io(0x0000, 0x0CF7),
      word_io(0x0D00, 0xFFFF),
      dword_memory(0x000A0000, 0x000BFFFF, MemCache::kCacheable),
  };
  if (c.ram_below_4g < c.pci_mem_end)
    res.push_back(dword_memory(static_cast<uint32_t>(c.ram_below_4g),
                               static_cast<uint32_t>(c.pci_mem_end), MemCache::kNonCacheable));
  return resource_template(res);
}

AmlCode isa_devices() {
  return cat({
      device("RTC", {name("_HID", eisa_id("PNP0B00")),
                     name("_CRS", resource_template({io(0x70, 0x70, 1, 2), irq_no_flags({8})}))}),
      device("KBD", {name("_HID", eisa_id("PNP0303")),
                     name("_CRS", resource_template({io(0x60, 0x60, 1, 1), io(0x64, 0x64, 1, 1),
                                                     irq_no_flags({1})}))}),
      device("COM1",
             {name("_HID", eisa_id("PNP0501")), name("_UID", integer(1)),
              name("_CRS", resource_template({io(0x3F8, 0x3F8, 1, 8), irq_no_flags({4})}))}),
  });
}

std::string cpu_device_name(size_t uid) {
  static const char kHex[] = "0123456789ABCDEF";
  if (uid < 16) return std::string("CPU") + kHex[uid];
  return std::string("CP") + kHex[(uid >> 4) & 0xF] + kHex[uid & 0xF];
}

}  // namespace

aml::AmlCode build_dsdt_aml(const AcpiConfig& c) {
  // No _ADR beside the _HID: the two are mutually exclusive (ACPI 6.x section 6.1; iasl warns).
  AmlList pci0;
  pci0.push_back(name("_HID", eisa_id("PNP0A03")));
  pci0.push_back(name("_UID", integer(0)));
  pci0.push_back(name("_BBN", integer(0)));
  pci0.push_back(name("_CRS", pci_host_crs(c)));
  if (c.describe_isa_devices)
    pci0.push_back(device("ISA", {name("_ADR", integer(c.isa_bridge_adr)), isa_devices()}));

  AmlList sb = {device("PCI0", pci0)};
  for (size_t uid = 0; uid < c.cpu_apic_ids.size() && uid < 256; ++uid)
    sb.push_back(device(cpu_device_name(uid),
                        {name("_HID", string("ACPI0007")), name("_UID", integer(uid))}));

  AmlList top = {
      scope("\\_SB", sb),
      // \_S5: {PM1a SLP_TYP, PM1b SLP_TYP, reserved, reserved} (ACPI 6.x section 7.4.2).
      name("\\_S5", package({integer(kSlpTypS5), integer(kSlpTypS5), zero(), zero()})),
  };
  for (const AmlCode& extra : c.dsdt_extra) top.push_back(extra);
  return cat(top);
}

}  // namespace umbra::acpi
