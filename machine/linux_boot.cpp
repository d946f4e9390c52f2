#include "machine/linux_boot.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "frontend/cpu_state.h"
#include "frontend/semantics/system_control.h"
#include "frontend/system/mode.h"
#include "softmmu/guest_memory.h"

namespace umbra {

namespace {

// Setup header fields: offsets in the bzImage file and in boot_params alike (boot.rst, "The
// real-mode kernel header").
namespace hdr {
constexpr size_t kSetupSects = 0x1F1;
constexpr size_t kVidMode = 0x1FA;
constexpr size_t kBootFlag = 0x1FE;
constexpr size_t kJump = 0x200;  // byte 0x201 = length of the header past 0x202
constexpr size_t kMagic = 0x202;
constexpr size_t kVersion = 0x206;
constexpr size_t kTypeOfLoader = 0x210;
constexpr size_t kLoadflags = 0x211;
constexpr size_t kCode32Start = 0x214;
constexpr size_t kRamdiskImage = 0x218;
constexpr size_t kRamdiskSize = 0x21C;
constexpr size_t kCmdLinePtr = 0x228;
constexpr size_t kInitrdAddrMax = 0x22C;
constexpr size_t kKernelAlignment = 0x230;
constexpr size_t kRelocatable = 0x234;
constexpr size_t kXloadflags = 0x236;
constexpr size_t kCmdlineSize = 0x238;
constexpr size_t kPrefAddress = 0x258;
constexpr size_t kInitSize = 0x260;
constexpr size_t kEnd = 0x268;  // first byte past init_size; protocol 2.12 headers reach it

constexpr uint8_t kLoadedHigh = 1u << 0;    // loadflags: protected-mode code at 0x100000+
constexpr uint16_t kXlfKernel64 = 1u << 0;  // xloadflags: 64-bit entry at +0x200
}  // namespace hdr

// boot_params fields outside the setup header (zero-page.rst).
namespace bp {
constexpr size_t kAcpiRsdpAddr = 0x070;
constexpr size_t kExtRamdiskImage = 0x0C0;
constexpr size_t kExtRamdiskSize = 0x0C4;
constexpr size_t kExtCmdLinePtr = 0x0C8;
constexpr size_t kAltMemK = 0x1E0;
constexpr size_t kE820Entries = 0x1E8;
constexpr size_t kHdrLimit = 0x290;  // the setup header area ends here
constexpr size_t kE820Table = 0x2D0;
constexpr size_t kE820Max = 128;
constexpr size_t kSize = 0x1000;
}  // namespace bp

constexpr uint16_t kMinVersion = 0x020C;  // 2.12: xloadflags (XLF_KERNEL_64)
constexpr uint64_t kOneMiB = 0x100000;
constexpr uint64_t k4GiB = 0x100000000ull;

template <typename T>
T get(const std::vector<uint8_t>& v, size_t off) {
  T x;
  std::memcpy(&x, v.data() + off, sizeof(T));
  return x;
}
template <typename T>
void put(uint8_t* p, size_t off, T x) {
  std::memcpy(p + off, &x, sizeof(T));
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%#llx", static_cast<unsigned long long>(v));
  return buf;
}

// True if [addr, addr+size) lies inside one RAM entry of the map and inside guest RAM.
bool fits_in_ram(const std::vector<E820Entry>& e820, uint64_t ram_size, uint64_t addr,
                 uint64_t size) {
  if (addr > ram_size || size > ram_size - addr) return false;
  for (const E820Entry& e : e820)
    if (e.type == E820Type::kRam && addr >= e.addr && addr - e.addr <= e.size &&
        size <= e.size - (addr - e.addr))
      return true;
  return false;
}

// Lowest `align`-aligned address at or above 1 MiB (and, preferably, 16 MiB) where `size` bytes
// fit in RAM; 0 if none.
uint64_t find_kernel_slot(const std::vector<E820Entry>& e820, uint64_t ram_size, uint64_t align,
                          uint64_t size) {
  for (uint64_t floor : {16 * kOneMiB, kOneMiB}) {
    uint64_t best = 0;
    for (const E820Entry& e : e820) {
      if (e.type != E820Type::kRam) continue;
      uint64_t a = std::max(e.addr, floor);
      a = (a + align - 1) & ~(align - 1);
      if (fits_in_ram(e820, ram_size, a, size) && (best == 0 || a < best)) best = a;
    }
    if (best) return best;
  }
  return 0;
}

// Highest 4 KiB-aligned address for `size` bytes ending at or below `limit` (exclusive) inside a
// RAM entry and above `floor`; 0 if none.
uint64_t find_initrd_slot(const std::vector<E820Entry>& e820, uint64_t ram_size, uint64_t floor,
                          uint64_t limit, uint64_t size) {
  uint64_t best = 0;
  for (const E820Entry& e : e820) {
    if (e.type != E820Type::kRam) continue;
    const uint64_t end = std::min({e.addr + e.size, limit, ram_size});
    if (end < size) continue;
    const uint64_t a = (end - size) & ~uint64_t{0xfff};
    if (a < e.addr || a < floor) continue;
    best = std::max(best, a);
  }
  return best;
}

// 4-level identity map of 0-4 GiB with 2 MiB pages (present, writable, PS): PML4[0] -> PDPT,
// PDPT[0..3] -> four page directories of 512 entries (SDM vol. 3, 4.5).
void build_page_tables(GuestMemory& mem) {
  using namespace linux_layout;
  constexpr uint64_t kPresentRw = 0x3, kPageSize = 0x80;
  std::vector<uint64_t> pml4(512, 0), pdpt(512, 0), pds(4 * 512);
  pml4[0] = kPdpt | kPresentRw;
  for (uint64_t i = 0; i < 4; ++i) pdpt[i] = (kPageDirs + i * 0x1000) | kPresentRw;
  for (uint64_t i = 0; i < pds.size(); ++i) pds[i] = (i << 21) | kPresentRw | kPageSize;
  mem.copy_to(kPml4, pml4.data(), 0x1000);
  mem.copy_to(kPdpt, pdpt.data(), 0x1000);
  mem.copy_to(kPageDirs, pds.data(), pds.size() * 8);
}

// GDT with the flat descriptors the 64-bit entry requires (boot.rst, "64-bit Boot Protocol"):
// __BOOT_CS = 0x10 (64-bit code, execute/read) and __BOOT_DS = 0x18 (read/write data).
constexpr uint64_t kBootCsDescriptor = 0x00AF9B000000FFFFull;  // G, L, P, DPL 0, code ER accessed
constexpr uint64_t kBootDsDescriptor = 0x00CF93000000FFFFull;  // G, D/B, P, DPL 0, data RW accessed
constexpr uint16_t kBootCs = 0x10, kBootDs = 0x18;

void enter_long_mode(CpuState& c) {
  using namespace linux_layout;
  const uint64_t old_cr0 = c.cr0, old_cr4 = c.cr4, old_efer = c.efer;
  c.gdtr = DescriptorTableReg{kGdt, 4 * 8 - 1};
  c.idtr = DescriptorTableReg{0, 0};  // no IDT: the kernel loads its own before enabling events
  c.cr3 = kPml4;
  c.cr4 = (c.cr4 & ~(cr4::PCIDE | cr4::LA57)) | cr4::PAE;
  c.efer |= efer::LME | efer::LMA;
  c.cr0 = (c.cr0 & ~(cr0::NW | cr0::CD)) | cr0::PE | cr0::ET | cr0::PG;
  // Descriptor caches as if loaded from the GDT above (attrib = type | S | P | L/DB | G).
  constexpr uint16_t kCode = 0xB | seg_attr::S | seg_attr::P | seg_attr::L | seg_attr::G;
  constexpr uint16_t kData = 0x3 | seg_attr::S | seg_attr::P | seg_attr::DB | seg_attr::G;
  for (int s = 0; s < kNumSegRegs; ++s) c.seg[s] = SegmentCache{0, 0xffffffff, kBootDs, kData};
  c.seg[CS] = SegmentCache{0, 0xffffffff, kBootCs, kCode};
  c.rflags = rf::FIXED1;  // IF = 0, DF = 0
  control_registers_written(c, old_cr0, old_cr4, old_efer);
  on_paging_state_changed(c, PagingChange::AddressSpace);
  update_cpu_mode(c);
}

}  // namespace

bool is_bzimage(const std::vector<uint8_t>& image) {
  return image.size() >= hdr::kMagic + 4 && get<uint16_t>(image, hdr::kBootFlag) == 0xAA55 &&
         std::memcmp(image.data() + hdr::kMagic, "HdrS", 4) == 0;
}

bool load_linux(GuestMemory& mem, CpuState& cpu, const LinuxBootParams& params, std::string* error,
                LinuxBootInfo* info) {
  using namespace linux_layout;
  const std::vector<uint8_t>& img = params.kernel;
  auto fail = [&](std::string msg) {
    *error = std::move(msg);
    return false;
  };
  if (img.size() < 0x200 || get<uint16_t>(img, hdr::kBootFlag) != 0xAA55)
    return fail("kernel is not a Linux bzImage (no boot sector signature 0xAA55 at 0x1FE)");
  if (img.size() < hdr::kMagic + 4 || std::memcmp(img.data() + hdr::kMagic, "HdrS", 4) != 0)
    return fail("kernel is not a Linux bzImage (no \"HdrS\" setup header at 0x202)");
  if (img.size() < hdr::kEnd)
    return fail("Linux kernel image is truncated inside its setup header");
  const uint16_t version = get<uint16_t>(img, hdr::kVersion);
  if (version < kMinVersion)
    return fail("Linux boot protocol " + std::to_string(version >> 8) + "." +
                std::to_string(version & 0xff) + " is too old (the 64-bit entry needs 2.12+)");
  const uint8_t header_len = img[hdr::kJump + 1];
  const size_t header_end = std::min<size_t>(hdr::kMagic + header_len, bp::kHdrLimit);
  if (header_end < hdr::kEnd)
    return fail("Linux setup header is shorter than protocol 2.12 requires");
  if (!(get<uint16_t>(img, hdr::kXloadflags) & hdr::kXlfKernel64))
    return fail(
        "Linux kernel has no 64-bit entry point (XLF_KERNEL_64 clear): not an x86-64 kernel");
  if (!(img[hdr::kLoadflags] & hdr::kLoadedHigh))
    return fail("Linux kernel is a zImage (LOADED_HIGH clear); only bzImage is supported");

  unsigned setup_sects = img[hdr::kSetupSects];
  if (setup_sects == 0) setup_sects = 4;  // boot.rst: 0 means 4
  const size_t pm_offset = size_t{setup_sects + 1} * 512;
  if (pm_offset >= img.size())
    return fail("Linux kernel image is truncated: no protected-mode kernel after " +
                std::to_string(setup_sects) + " setup sectors");
  const uint64_t pm_size = img.size() - pm_offset;
  const uint64_t init_size = get<uint32_t>(img, hdr::kInitSize);
  const uint64_t alignment = get<uint32_t>(img, hdr::kKernelAlignment);
  const uint64_t pref_address = get<uint64_t>(img, hdr::kPrefAddress);
  const bool relocatable = img[hdr::kRelocatable] != 0;
  if (init_size < pm_size)
    return fail("Linux setup header is malformed: init_size " + hex(init_size) +
                " is smaller than the kernel (" + hex(pm_size) + " bytes)");
  if (alignment < 0x1000 || (alignment & (alignment - 1)))
    return fail("Linux setup header is malformed: kernel_alignment " + hex(alignment) +
                " is not a power of two >= 4 KiB");
  if (params.e820.empty() || params.e820.size() > bp::kE820Max)
    return fail("Linux boot: the e820 memory map must have 1 to 128 entries");
  if (!fits_in_ram(params.e820, mem.ram_size(), 0, kCmdline + kCmdlineMax + 1))
    return fail("Linux boot: the first 192 KiB of guest memory must be RAM");

  // The protected-mode kernel: at pref_address when it fits (the kernel's own preference, and
  // with KASLR the decompressor moves itself anyway), else at the lowest aligned RAM slot.
  uint64_t load = 0;
  if (pref_address >= kOneMiB && (pref_address & (alignment - 1)) == 0 &&
      fits_in_ram(params.e820, mem.ram_size(), pref_address, init_size)) {
    load = pref_address;
  } else if (!relocatable) {
    return fail("Linux kernel is not relocatable and does not fit at " + hex(pref_address) +
                " (needs " + hex(init_size) + " bytes of RAM there; use a larger -m)");
  } else {
    load = find_kernel_slot(params.e820, mem.ram_size(), alignment, init_size);
    if (!load)
      return fail("Linux kernel does not fit in guest RAM (needs " + hex(init_size) +
                  " bytes; use a larger -m)");
  }
  mem.copy_to(load, img.data() + pm_offset, pm_size);

  // Command line.
  const uint64_t cmdline_limit =
      std::min<uint64_t>(kCmdlineMax, get<uint32_t>(img, hdr::kCmdlineSize));
  if (params.cmdline.size() > cmdline_limit)
    return fail("kernel command line is too long (" + std::to_string(params.cmdline.size()) +
                " bytes; this kernel accepts " + std::to_string(cmdline_limit) + ")");
  mem.copy_to(kCmdline, params.cmdline.c_str(), params.cmdline.size() + 1);

  // Initrd: as high as allowed (below initrd_addr_max, inclusive per boot.rst, and RAM's end),
  // page-aligned, above the kernel's whole init_size footprint.
  uint64_t initrd_addr = 0;
  if (!params.initrd.empty()) {
    uint64_t initrd_max = get<uint32_t>(img, hdr::kInitrdAddrMax);
    if (initrd_max == 0) initrd_max = 0x37FFFFFF;  // boot.rst: the default before protocol 2.03
    initrd_addr = find_initrd_slot(params.e820, mem.ram_size(), load + init_size,
                                   std::min(initrd_max + 1, k4GiB), params.initrd.size());
    if (!initrd_addr)
      return fail("initrd (" + std::to_string(params.initrd.size() >> 10) +
                  " KiB) does not fit in guest RAM above the kernel and below initrd_addr_max " +
                  hex(initrd_max) + " (use a larger -m)");
    mem.copy_to(initrd_addr, params.initrd.data(), params.initrd.size());
  }

  // The zero page: a copy of the setup header, then what the real-mode setup would have filled.
  std::vector<uint8_t> zp(bp::kSize, 0);
  uint8_t* p = zp.data();
  std::memcpy(p + hdr::kSetupSects, img.data() + hdr::kSetupSects,
              std::min(header_end, img.size()) - hdr::kSetupSects);
  put<uint16_t>(p, hdr::kVidMode, 0xFFFF);  // "normal" video mode; screen_info stays zero
  p[hdr::kTypeOfLoader] = 0xFF;             // undefined loader ID (boot.rst)
  p[hdr::kLoadflags] &= ~uint8_t{0x20};     // QUIET_FLAG off: early messages wanted
  put<uint32_t>(p, hdr::kCode32Start, static_cast<uint32_t>(load));
  put<uint32_t>(p, hdr::kCmdLinePtr, static_cast<uint32_t>(kCmdline));
  put<uint32_t>(p, bp::kExtCmdLinePtr, 0);
  put<uint32_t>(p, hdr::kRamdiskImage, static_cast<uint32_t>(initrd_addr));
  put<uint32_t>(p, hdr::kRamdiskSize, static_cast<uint32_t>(params.initrd.size()));
  put<uint32_t>(p, bp::kExtRamdiskImage, static_cast<uint32_t>(initrd_addr >> 32));
  put<uint32_t>(p, bp::kExtRamdiskSize, static_cast<uint32_t>(params.initrd.size() >> 32));
  put<uint64_t>(p, bp::kAcpiRsdpAddr, params.acpi_rsdp_addr);
  uint64_t ram_above_1m = 0;
  for (const E820Entry& e : params.e820)
    if (e.type == E820Type::kRam && e.addr >= kOneMiB) ram_above_1m += e.size;
  put<uint32_t>(p, bp::kAltMemK,
                static_cast<uint32_t>(std::min<uint64_t>(ram_above_1m >> 10, ~0u)));
  p[bp::kE820Entries] = static_cast<uint8_t>(params.e820.size());
  for (size_t i = 0; i < params.e820.size(); ++i) {
    const E820Entry& e = params.e820[i];
    uint8_t* ent = p + bp::kE820Table + 20 * i;
    put<uint64_t>(ent, 0, e.addr);
    put<uint64_t>(ent, 8, e.size);
    put<uint32_t>(ent, 16, static_cast<uint32_t>(e.type));
  }
  mem.copy_to(kBootParams, zp.data(), zp.size());

  // GDT, page tables, CPU state.
  const uint64_t gdt[4] = {0, 0, kBootCsDescriptor, kBootDsDescriptor};
  mem.copy_to(kGdt, gdt, sizeof(gdt));
  build_page_tables(mem);
  enter_long_mode(cpu);
  cpu.gpr[RSI] = kBootParams;
  cpu.gpr[RSP] = kStackTop;
  cpu.rip = load + 0x200;

  if (info) {
    *info = LinuxBootInfo{load,        pm_size,  init_size, load + 0x200, initrd_addr,
                          kBootParams, kCmdline, kPml4,     version};
  }
  return true;
}

}  // namespace umbra
