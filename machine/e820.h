// The BIOS INT 15h E820 memory map as the boot protocols pass it (ACPI spec 6.5, 15 "System
// Address Map Interfaces"; Linux zero-page.rst e820_table).
#pragma once

#include <cstdint>

namespace umbra {

enum class E820Type : uint32_t {
  kRam = 1,
  kReserved = 2,
  kAcpiReclaimable = 3,
  kAcpiNvs = 4,
  kUnusable = 5,
};

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  E820Type type;
};

}  // namespace umbra
