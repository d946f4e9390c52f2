#include "machine/multiboot.h"

#include <cstring>
#include <fstream>
#include <iterator>

#include "softmmu/guest_memory.h"

namespace umbra {

namespace {

constexpr uint32_t kHeaderMagic = 0x1BADB002;
constexpr uint32_t kSearchBytes = 8192;
// Header flags (spec 3.1.2).
constexpr uint32_t kFlagAoutKludge = 1u << 16;
// Info flags (spec 3.3).
constexpr uint32_t kInfoMemory = 1u << 0;
constexpr uint32_t kInfoCmdline = 1u << 2;
constexpr uint32_t kInfoMods = 1u << 3;
constexpr uint32_t kInfoMmap = 1u << 6;
constexpr uint32_t kInfoLoaderName = 1u << 9;

// Where the loader puts its structures: below the EBDA, above the real-mode IVT/BDA.
constexpr uint32_t kInfoAddr = 0x9000;      // multiboot_info (0x58 bytes)
constexpr uint32_t kMmapAddr = 0x9100;      // memory map entries
constexpr uint32_t kModsAddr = 0x9200;      // module list (16 bytes each, up to 32)
constexpr uint32_t kStringsAddr = 0x9400;   // loader name, command line, module strings
constexpr uint32_t kStringsEnd = 0x10000;

constexpr uint64_t kLowMemEnd = 0x9fc00;    // 639 KiB of conventional memory
constexpr uint64_t kHighMemStart = 0x100000;

struct Header {
  uint32_t offset;  // file offset of the header
  uint32_t magic, flags, checksum;
  uint32_t header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr;
};

bool find_header(const std::vector<uint8_t>& image, Header* h) {
  const size_t limit = std::min<size_t>(image.size(), kSearchBytes);
  for (size_t off = 0; off + 12 <= limit; off += 4) {
    uint32_t w[3];
    std::memcpy(w, image.data() + off, 12);
    if (w[0] != kHeaderMagic || static_cast<uint32_t>(w[0] + w[1] + w[2]) != 0) continue;
    *h = Header{static_cast<uint32_t>(off), w[0], w[1], w[2], 0, 0, 0, 0, 0};
    if ((w[1] & kFlagAoutKludge) && off + 32 <= image.size())
      std::memcpy(&h->header_addr, image.data() + off + 12, 20);
    return true;
  }
  return false;
}

template <typename T>
T get(const std::vector<uint8_t>& v, size_t off) {
  T x;
  std::memcpy(&x, v.data() + off, sizeof(T));
  return x;
}

bool zero_range(GuestMemory& mem, uint64_t addr, uint64_t n) {
  if (addr > mem.ram_size() || n > mem.ram_size() - addr) return false;
  std::memset(mem.ram() + addr, 0, n);
  return true;
}

// ELF32 program headers (System V ABI, i386 supplement).
bool load_elf32(GuestMemory& mem, const std::vector<uint8_t>& img, MultibootImage* out,
                std::string* error) {
  if (img.size() < 52 || std::memcmp(img.data(), "\x7f" "ELF", 4) != 0) {
    *error = "multiboot kernel is neither ELF nor uses the header's load addresses";
    return false;
  }
  if (img[4] != 1) {
    *error = "multiboot kernel is a 64-bit ELF; multiboot v1 needs an ELF32 image";
    return false;
  }
  if (img[5] != 1 || get<uint16_t>(img, 18) != 3) {
    *error = "multiboot kernel is not a little-endian i386 ELF";
    return false;
  }
  const uint32_t phoff = get<uint32_t>(img, 28);
  const uint16_t phentsize = get<uint16_t>(img, 42), phnum = get<uint16_t>(img, 44);
  if (phentsize < 32 || phoff > img.size() || uint64_t{phnum} * phentsize > img.size() - phoff) {
    *error = "multiboot kernel has a malformed ELF program header table";
    return false;
  }
  out->entry = get<uint32_t>(img, 24);
  bool loaded = false;
  for (unsigned i = 0; i < phnum; ++i) {
    const size_t ph = phoff + size_t{i} * phentsize;
    if (get<uint32_t>(img, ph) != 1) continue;  // PT_LOAD
    const uint32_t offset = get<uint32_t>(img, ph + 4), paddr = get<uint32_t>(img, ph + 12);
    const uint32_t filesz = get<uint32_t>(img, ph + 16), memsz = get<uint32_t>(img, ph + 20);
    if (filesz > memsz || offset > img.size() || filesz > img.size() - offset) {
      *error = "multiboot kernel has a malformed ELF segment";
      return false;
    }
    if (!mem.copy_to(paddr, img.data() + offset, filesz) ||
        !zero_range(mem, uint64_t{paddr} + filesz, memsz - filesz)) {
      *error = "multiboot kernel segment does not fit in guest RAM (use a larger -m)";
      return false;
    }
    out->kernel_end = std::max<uint64_t>(out->kernel_end, uint64_t{paddr} + memsz);
    loaded = true;
  }
  if (!loaded) {
    *error = "multiboot kernel has no loadable segment";
    return false;
  }
  return true;
}

bool load_aout_kludge(GuestMemory& mem, const std::vector<uint8_t>& img, const Header& h,
                      MultibootImage* out, std::string* error) {
  // The file offset of load_addr follows from where the header sits (spec 3.1.3).
  if (h.load_addr > h.header_addr || h.header_addr - h.load_addr > h.offset) {
    *error = "multiboot header load addresses are inconsistent";
    return false;
  }
  const uint64_t file_start = h.offset - (h.header_addr - h.load_addr);
  const uint64_t load_end = h.load_end_addr ? h.load_end_addr : h.load_addr + (img.size() - file_start);
  if (load_end < h.load_addr || load_end - h.load_addr > img.size() - file_start) {
    *error = "multiboot header load_end_addr is past the end of the file";
    return false;
  }
  if (!mem.copy_to(h.load_addr, img.data() + file_start, load_end - h.load_addr)) {
    *error = "multiboot kernel does not fit in guest RAM (use a larger -m)";
    return false;
  }
  uint64_t end = load_end;
  if (h.bss_end_addr > load_end) {
    if (!zero_range(mem, load_end, h.bss_end_addr - load_end)) {
      *error = "multiboot kernel bss does not fit in guest RAM";
      return false;
    }
    end = h.bss_end_addr;
  }
  out->entry = h.entry_addr;
  out->kernel_end = end;
  return true;
}

}  // namespace

bool is_multiboot(const std::vector<uint8_t>& image) {
  Header h;
  return find_header(image, &h);
}

bool load_multiboot(GuestMemory& mem, const std::vector<uint8_t>& image,
                    const std::string& cmdline, const std::vector<std::string>& modules,
                    MultibootImage* out, std::string* error) {
  Header h;
  if (!find_header(image, &h)) {
    *error = "not a multiboot kernel (no multiboot header in the first 8 KiB)";
    return false;
  }
  // Bits 0-15 are requirements (spec 3.1.2): modules are always page-aligned here (bit 0), memory
  // information is always given (bit 1), and a video-mode request (bit 2) is ignored as QEMU
  // does (the text console stays). Any other required feature cannot be provided.
  if (h.flags & 0xfff8u) {
    *error = "multiboot kernel requires unsupported features (header flags " +
             std::to_string(h.flags & 0xffffu) + ")";
    return false;
  }
  if (mem.ram_size() < 2 * kHighMemStart) {
    *error = "multiboot needs at least 2 MiB of guest RAM";
    return false;
  }
  *out = MultibootImage{};
  bool ok = (h.flags & kFlagAoutKludge) ? load_aout_kludge(mem, image, h, out, error)
                                        : load_elf32(mem, image, out, error);
  if (!ok) return false;

  // Strings area.
  uint32_t str = kStringsAddr;
  auto put_string = [&](const std::string& s) -> uint32_t {
    if (str + s.size() + 1 > kStringsEnd) return 0;
    const uint32_t at = str;
    mem.copy_to(at, s.c_str(), s.size() + 1);
    str += static_cast<uint32_t>(s.size() + 1);
    return at;
  };

  // Modules, page-aligned after the kernel.
  if (modules.size() > 32) {
    *error = "too many multiboot modules (at most 32)";
    return false;
  }
  uint64_t next = (out->kernel_end + 0xfff) & ~uint64_t{0xfff};
  for (size_t i = 0; i < modules.size(); ++i) {
    const std::string& spec = modules[i];
    const std::string path = spec.substr(0, spec.find(' '));
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      *error = "cannot read multiboot module '" + path + "'";
      return false;
    }
    std::vector<char> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (!mem.copy_to(next, data.data(), data.size())) {
      *error = "multiboot module '" + path + "' does not fit in guest RAM (use a larger -m)";
      return false;
    }
    const uint32_t name = put_string(spec);
    const uint32_t entry[4] = {static_cast<uint32_t>(next),
                               static_cast<uint32_t>(next + data.size()), name, 0};
    mem.copy_to(kModsAddr + 16 * i, entry, sizeof(entry));
    next = (next + data.size() + 0xfff) & ~uint64_t{0xfff};
  }

  // Memory map: conventional memory, the EBDA/ROM hole, and RAM above 1 MiB (type 1 = RAM,
  // type 2 = reserved). Entries are {size, base, length, type} with size = 20 (spec 3.3).
  struct __attribute__((packed)) MmapEntry {
    uint32_t size;
    uint64_t base, length;
    uint32_t type;
  };
  const MmapEntry mmap[] = {
      {20, 0, kLowMemEnd, 1},
      {20, kLowMemEnd, 0xa0000 - kLowMemEnd, 2},
      {20, 0xf0000, 0x10000, 2},
      {20, kHighMemStart, mem.ram_size() - kHighMemStart, 1},
  };
  mem.copy_to(kMmapAddr, mmap, sizeof(mmap));

  const uint32_t cmdline_addr = put_string(cmdline);
  const uint32_t loader_name = put_string("Umbra");
  if (!cmdline_addr || !loader_name) {
    *error = "kernel command line and module strings are too long";
    return false;
  }
  uint32_t info[22] = {};
  info[0] = kInfoMemory | kInfoCmdline | kInfoMods | kInfoMmap | kInfoLoaderName;
  info[1] = static_cast<uint32_t>(kLowMemEnd / 1024);                                // mem_lower
  const uint64_t upper_kb = (mem.ram_size() - kHighMemStart) / 1024;
  info[2] = static_cast<uint32_t>(upper_kb > 0xffffffffu ? 0xffffffffu : upper_kb);  // mem_upper
  info[3] = 0xffffffffu;                                                              // boot_device
  info[4] = cmdline_addr;
  info[5] = static_cast<uint32_t>(modules.size());
  info[6] = kModsAddr;
  info[11] = sizeof(mmap);  // mmap_length
  info[12] = kMmapAddr;     // mmap_addr
  info[16] = loader_name;   // boot_loader_name (offset 64)
  mem.copy_to(kInfoAddr, info, sizeof(info));
  out->info_addr = kInfoAddr;
  return true;
}

}  // namespace umbra
