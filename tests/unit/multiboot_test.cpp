// The multiboot v1 loader: ELF32 and a.out-kludge kernels, modules, the information structure.
#include "machine/multiboot.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>

#include "softmmu/guest_memory.h"

namespace umbra {
namespace {

void put32(std::vector<uint8_t>& v, size_t off, uint32_t x) {
  if (v.size() < off + 4) v.resize(off + 4);
  std::memcpy(v.data() + off, &x, 4);
}
void put16(std::vector<uint8_t>& v, size_t off, uint16_t x) {
  if (v.size() < off + 2) v.resize(off + 2);
  std::memcpy(v.data() + off, &x, 2);
}
uint32_t rd32(GuestMemory& m, uint64_t a) {
  uint32_t x;
  m.copy_from(a, &x, 4);
  return x;
}

// A minimal ELF32 with one PT_LOAD segment at 1 MiB: 0x100 bytes of file data (holding the
// multiboot header at file offset 0x80) and 0x1000 bytes in memory.
std::vector<uint8_t> make_elf(uint32_t header_flags) {
  std::vector<uint8_t> e(0x200, 0);
  std::memcpy(e.data(), "\x7f" "ELF", 4);
  e[4] = 1;  // ELFCLASS32
  e[5] = 1;  // little endian
  e[6] = 1;
  put16(e, 16, 2);         // ET_EXEC
  put16(e, 18, 3);         // EM_386
  put32(e, 24, 0x100080);  // entry
  put32(e, 28, 52);        // phoff
  put16(e, 42, 32);        // phentsize
  put16(e, 44, 1);         // phnum
  put32(e, 52, 1);         // PT_LOAD
  put32(e, 56, 0x100);     // offset
  put32(e, 64, 0x100000);  // paddr
  put32(e, 68, 0x100);     // filesz
  put32(e, 72, 0x1000);    // memsz
  put32(e, 0x80, 0x1BADB002);
  put32(e, 0x84, header_flags);
  put32(e, 0x88, static_cast<uint32_t>(0u - 0x1BADB002u - header_flags));
  for (int i = 0; i < 0x100; ++i) e[0x100 + i] = static_cast<uint8_t>(i);
  return e;
}

TEST(Multiboot, LoadsElfAndBuildsInfo) {
  GuestMemory mem(16u << 20);
  // Dirty the bss range first: the loader must zero it.
  std::vector<uint8_t> junk(0x1000, 0xcc);
  mem.copy_to(0x100100, junk.data(), junk.size());
  std::string path = testing::TempDir() + "/umbra_mb_module.bin";
  {
    std::ofstream f(path, std::ios::binary);
    f << "module-data";
  }
  auto elf = make_elf(0x3);
  ASSERT_TRUE(is_multiboot(elf));
  MultibootImage mb;
  std::string err;
  ASSERT_TRUE(load_multiboot(mem, elf, "console=ttyS0", {path + " arg1"}, &mb, &err)) << err;
  EXPECT_EQ(mb.entry, 0x100080u);
  EXPECT_EQ(mb.kernel_end, 0x101000u);
  uint8_t b[2];
  mem.copy_from(0x1000ff, b, 2);
  EXPECT_EQ(b[0], 0xff);  // last file byte
  EXPECT_EQ(b[1], 0x00);  // bss zeroed
  const uint32_t info = mb.info_addr;
  const uint32_t flags = rd32(mem, info);
  EXPECT_TRUE(flags & 1);  // mem_lower/mem_upper
  EXPECT_EQ(rd32(mem, info + 4), 639u);
  EXPECT_EQ(rd32(mem, info + 8), (15u << 20) / 1024);
  char s[64] = {};
  mem.copy_from(rd32(mem, info + 16), s, sizeof(s) - 1);
  EXPECT_STREQ(s, "console=ttyS0");
  ASSERT_EQ(rd32(mem, info + 20), 1u);  // mods_count
  const uint32_t mod = rd32(mem, info + 24);
  const uint32_t mod_start = rd32(mem, mod), mod_end = rd32(mem, mod + 4);
  EXPECT_EQ(mod_start % 4096, 0u);
  EXPECT_GE(mod_start, 0x101000u);
  EXPECT_EQ(mod_end - mod_start, 11u);
  mem.copy_from(mod_start, s, 11);
  EXPECT_EQ(std::string(s, 11), "module-data");
  mem.copy_from(rd32(mem, mod + 8), s, sizeof(s) - 1);
  EXPECT_EQ(std::string(s), path + " arg1");
  // Memory map: the last entry covers RAM above 1 MiB.
  const uint32_t mmap_len = rd32(mem, info + 44), mmap = rd32(mem, info + 48);
  ASSERT_EQ(mmap_len % 24, 0u);
  uint64_t base, len;
  mem.copy_from(mmap + mmap_len - 24 + 4, &base, 8);
  mem.copy_from(mmap + mmap_len - 24 + 12, &len, 8);
  EXPECT_EQ(base, 0x100000u);
  EXPECT_EQ(base + len, 16u << 20);
  std::remove(path.c_str());
}

TEST(Multiboot, AoutKludge) {
  // Header at file offset 0 says: load the file at 0x200000, bss to 0x202000, enter at 0x200020.
  std::vector<uint8_t> img(0x40, 0x90);
  const uint32_t flags = 0x10000;
  put32(img, 0, 0x1BADB002);
  put32(img, 4, flags);
  put32(img, 8, static_cast<uint32_t>(0u - 0x1BADB002u - flags));
  put32(img, 12, 0x200000);  // header_addr
  put32(img, 16, 0x200000);  // load_addr
  put32(img, 20, 0);         // load_end_addr: whole file
  put32(img, 24, 0x202000);  // bss_end_addr
  put32(img, 28, 0x200020);  // entry
  GuestMemory mem(16u << 20);
  MultibootImage mb;
  std::string err;
  ASSERT_TRUE(load_multiboot(mem, img, "", {}, &mb, &err)) << err;
  EXPECT_EQ(mb.entry, 0x200020u);
  EXPECT_EQ(mb.kernel_end, 0x202000u);
  EXPECT_EQ(rd32(mem, 0x200000), 0x1BADB002u);
}

TEST(Multiboot, RejectsBadImagesWithOneLine) {
  GuestMemory mem(16u << 20);
  MultibootImage mb;
  std::string err;
  std::vector<uint8_t> none(64, 0);
  EXPECT_FALSE(is_multiboot(none));
  EXPECT_FALSE(load_multiboot(mem, none, "", {}, &mb, &err));
  EXPECT_NE(err.find("not a multiboot"), std::string::npos);

  auto elf64 = make_elf(0);
  elf64[4] = 2;  // ELFCLASS64
  EXPECT_FALSE(load_multiboot(mem, elf64, "", {}, &mb, &err));
  EXPECT_NE(err.find("64-bit"), std::string::npos);

  auto truncated = make_elf(0);
  put32(truncated, 68, 0x10000);  // filesz past the end of the file
  put32(truncated, 72, 0x10000);
  EXPECT_FALSE(load_multiboot(mem, truncated, "", {}, &mb, &err));

  auto needs_feature = make_elf(1u << 5);
  EXPECT_FALSE(load_multiboot(mem, needs_feature, "", {}, &mb, &err));

  auto missing_module = make_elf(0);
  EXPECT_FALSE(load_multiboot(mem, missing_module, "", {"/nonexistent/module"}, &mb, &err));
  EXPECT_EQ(err.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace umbra
