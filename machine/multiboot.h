// Multiboot v1 loader (Multiboot Specification 0.6.96): loads an ELF32 kernel (or one using the
// header's a.out-kludge addresses), its modules (-initrd "file args,file args"), builds the
// multiboot information structure with a memory map and the command line, and describes the
// machine state the specification requires at entry.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace umbra {

class GuestMemory;

struct MultibootImage {
  uint32_t entry = 0;       // physical entry point (32-bit protected mode)
  uint32_t info_addr = 0;   // EBX at entry
  uint64_t kernel_end = 0;  // first byte after the kernel's highest segment
};

// Returns true if `image` carries a multiboot v1 header in its first 8192 bytes.
bool is_multiboot(const std::vector<uint8_t>& image);

// Loads kernel and modules into `mem`. `modules` are "path [args]" strings as given to -initrd.
// On failure returns false and sets *error to one line.
bool load_multiboot(GuestMemory& mem, const std::vector<uint8_t>& image,
                    const std::string& cmdline, const std::vector<std::string>& modules,
                    MultibootImage* out, std::string* error);

constexpr uint32_t kMultibootBootloaderMagic = 0x2BADB002;

}  // namespace umbra
