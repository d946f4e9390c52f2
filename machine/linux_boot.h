// Linux x86 boot protocol loader, 64-bit entry (kernel Documentation/arch/x86/boot.rst and
// zero-page.rst): checks a bzImage's setup header, loads the protected-mode kernel, the initrd,
// the command line and the zero page (struct boot_params), builds identity page tables and a GDT,
// and puts the CPU in long mode at the kernel's 64-bit entry point. No real-mode setup code runs:
// the loader does what the kernel's setup would have done with BIOS services. See
// docs/linux-boot.md for the memory layout.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "machine/e820.h"

namespace umbra {

class GuestMemory;
struct CpuState;

struct LinuxBootParams {
  std::vector<uint8_t> kernel;  // the whole bzImage file
  std::vector<uint8_t> initrd;  // empty: no initrd
  std::string cmdline;
  std::vector<E820Entry> e820;  // the machine's memory map, handed to the kernel as is
  uint64_t acpi_rsdp_addr = 0;  // boot_params.acpi_rsdp_addr; 0: the kernel scans for the RSDP
};

// Where the loader put things (for the monitor, tests and diagnostics).
struct LinuxBootInfo {
  uint64_t kernel_addr = 0;  // protected-mode kernel load address
  uint64_t kernel_size = 0;  // bytes of the protected-mode kernel in the file
  uint64_t init_size = 0;    // memory the kernel needs from kernel_addr while decompressing
  uint64_t entry = 0;        // 64-bit entry point (kernel_addr + 0x200)
  uint64_t initrd_addr = 0;  // 0 without an initrd
  uint64_t boot_params_addr = 0;
  uint64_t cmdline_addr = 0;
  uint64_t page_table_addr = 0;  // CR3
  uint16_t protocol_version = 0;
};

// Fixed low-memory layout (below 0x9FC00, all in the first e820 RAM range; the kernel keeps the
// first 1 MiB reserved, so none of it is reused while the kernel still reads it).
namespace linux_layout {
constexpr uint64_t kGdt = 0x1000;         // GDT: null, null, __BOOT_CS (0x10), __BOOT_DS (0x18)
constexpr uint64_t kStackTop = 0x7000;    // RSP at entry (the kernel sets its own at once)
constexpr uint64_t kBootParams = 0x7000;  // the zero page (4 KiB)
constexpr uint64_t kPml4 = 0x9000;        // PML4, PDPT, then 4 page directories (2 MiB pages)
constexpr uint64_t kPdpt = 0xA000;
constexpr uint64_t kPageDirs = 0xB000;  // 4 pages: identity map of 0-4 GiB
constexpr uint64_t kCmdline = 0x20000;  // kernel command line (up to kCmdlineMax bytes + NUL)
constexpr uint64_t kCmdlineMax = 0xFFFF;
}  // namespace linux_layout

// True if `image` looks like a bzImage: boot_flag 0xAA55 at 0x1FE and "HdrS" at 0x202.
bool is_bzimage(const std::vector<uint8_t>& image);

// Loads the kernel per `params` and sets `cpu` for the 64-bit entry (long mode, paging on,
// CS = 0x10 64-bit, DS/ES/SS = 0x18 flat, RSI = boot_params, interrupts off). The caller has reset
// the CPU (control registers, segments, model state) before. On failure returns false and sets
// *error to one line; `info` (optional) receives the addresses used.
bool load_linux(GuestMemory& mem, CpuState& cpu, const LinuxBootParams& params, std::string* error,
                LinuxBootInfo* info = nullptr);

}  // namespace umbra
