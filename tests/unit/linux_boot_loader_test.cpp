// The Linux bzImage loader (64-bit boot protocol) on synthetic bzImages: header checks, where the
// kernel, initrd, command line and zero page land, the zero page's fields, the entry CPU state.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>

#include "frontend/cpu_state.h"
#include "frontend/system/mode.h"
#include "machine/linux_boot.h"
#include "softmmu/access.h"
#include "softmmu/guest_memory.h"
#include "softmmu/page_walk.h"

namespace umbra {
namespace {

constexpr uint64_t kMiB = 1ull << 20;
constexpr unsigned kSetupSects = 3;
constexpr size_t kPmOffset = (kSetupSects + 1) * 512;

template <typename T>
void put(std::vector<uint8_t>& v, size_t off, T x) {
  std::memcpy(v.data() + off, &x, sizeof(T));
}

// A bzImage as the kernel build lays it out: boot sector + setup sectors, the setup header at
// 0x1F1, then `pm_bytes` of protected-mode kernel (a recognisable byte pattern).
std::vector<uint8_t> make_bzimage(size_t pm_bytes = 0x3000) {
  std::vector<uint8_t> img(kPmOffset + pm_bytes, 0);
  img[0x1EF] = 0xFF;  // the sentinel a real image carries: must not reach the zero page
  img[0x1F1] = kSetupSects;
  put<uint16_t>(img, 0x1FE, 0xAA55);
  img[0x200] = 0xEB;  // jmp short
  img[0x201] = 0x6A;  // header length past 0x202 (as in 6.1 kernels)
  std::memcpy(img.data() + 0x202, "HdrS", 4);
  put<uint16_t>(img, 0x206, 0x020F);
  img[0x211] = 0x01 | 0x20;               // LOADED_HIGH | QUIET
  put<uint32_t>(img, 0x22C, 0x7FFFFFFF);  // initrd_addr_max
  put<uint32_t>(img, 0x230, 0x200000);    // kernel_alignment
  img[0x234] = 1;                         // relocatable
  put<uint16_t>(img, 0x236, 0x7F);        // xloadflags: XLF_KERNEL_64 and friends
  put<uint32_t>(img, 0x238, 2047);        // cmdline_size
  put<uint64_t>(img, 0x258, 16 * kMiB);   // pref_address
  put<uint32_t>(img, 0x260, 0x100000);    // init_size
  put<uint32_t>(img, 0x264, 0x190);       // handover_offset (copied through untouched)
  for (size_t i = 0; i < pm_bytes; ++i) img[kPmOffset + i] = static_cast<uint8_t>(i * 7 + 1);
  return img;
}

std::vector<E820Entry> pc_e820(uint64_t ram) {
  return {{0, 0x9FC00, E820Type::kRam},
          {0x9FC00, 0x100000 - 0x9FC00, E820Type::kReserved},
          {0x100000, ram - 0x100000, E820Type::kRam}};
}

class LinuxBootTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kRam = 64 * kMiB;
  LinuxBootTest() : mem_(kRam), cpu_(std::make_unique<CpuState>()) {
    cpu_->memory = &mem_;
    cpu_->translator = &identity_;
    cpu_->cr0 = cr0::PE | cr0::ET;
    cpu_->rflags = rf::FIXED1 | rf::IF;
    tlb_flush_all(*cpu_);
    params_.kernel = make_bzimage();
    params_.cmdline = "console=ttyS0 root=/dev/ram0";
    params_.e820 = pc_e820(kRam);
    params_.acpi_rsdp_addr = 0xF0000;
  }
  template <typename T>
  T rd(uint64_t addr) {
    T v;
    mem_.copy_from(addr, &v, sizeof(T));
    return v;
  }
  bool load() { return load_linux(mem_, *cpu_, params_, &error_, &info_); }
  std::string load_error() {
    EXPECT_FALSE(load());
    EXPECT_EQ(error_.find('\n'), std::string::npos);
    return error_;
  }

  GuestMemory mem_;
  IdentityTranslator identity_;
  std::unique_ptr<CpuState> cpu_;
  LinuxBootParams params_;
  LinuxBootInfo info_;
  std::string error_;
};

TEST(LinuxBootDetect, RecognisesBzImage) {
  EXPECT_TRUE(is_bzimage(make_bzimage()));
  std::vector<uint8_t> img = make_bzimage();
  img[0x202] = 'X';
  EXPECT_FALSE(is_bzimage(img));
  img = make_bzimage();
  img[0x1FE] = 0;
  EXPECT_FALSE(is_bzimage(img));
  EXPECT_FALSE(is_bzimage(std::vector<uint8_t>(0x100, 0)));
  EXPECT_FALSE(is_bzimage({}));
}

TEST_F(LinuxBootTest, LoadsKernelAtPrefAddress) {
  ASSERT_TRUE(load()) << error_;
  EXPECT_EQ(info_.kernel_addr, 16 * kMiB);
  EXPECT_EQ(info_.entry, 16 * kMiB + 0x200);
  EXPECT_EQ(info_.protocol_version, 0x020F);
  EXPECT_EQ(info_.kernel_size, 0x3000u);
  std::vector<uint8_t> loaded(0x3000);
  mem_.copy_from(16 * kMiB, loaded.data(), loaded.size());
  EXPECT_EQ(0, std::memcmp(loaded.data(), params_.kernel.data() + kPmOffset, loaded.size()));
}

TEST_F(LinuxBootTest, ZeroPageHoldsHeaderCmdlineE820AndRsdp) {
  ASSERT_TRUE(load()) << error_;
  const uint64_t zp = info_.boot_params_addr;
  EXPECT_EQ(zp, linux_layout::kBootParams);
  // Setup header copied (magic, version, handover_offset), loader fields filled in.
  EXPECT_EQ(rd<uint32_t>(zp + 0x202), 0x53726448u);  // "HdrS"
  EXPECT_EQ(rd<uint16_t>(zp + 0x206), 0x020F);
  EXPECT_EQ(rd<uint16_t>(zp + 0x1FE), 0xAA55);
  EXPECT_EQ(rd<uint32_t>(zp + 0x264), 0x190u);
  EXPECT_EQ(rd<uint8_t>(zp + 0x1EF), 0) << "sentinel must be zero";
  EXPECT_EQ(rd<uint8_t>(zp + 0x210), 0xFF) << "type_of_loader";
  EXPECT_EQ(rd<uint8_t>(zp + 0x211), 0x01) << "loadflags: LOADED_HIGH kept, QUIET cleared";
  EXPECT_EQ(rd<uint16_t>(zp + 0x1FA), 0xFFFF) << "vid_mode";
  EXPECT_EQ(rd<uint8_t>(zp + 0x0F), 0) << "orig_video_isVGA";
  EXPECT_EQ(rd<uint32_t>(zp + 0x214), 16 * kMiB) << "code32_start";
  // Command line.
  const uint32_t cmd = rd<uint32_t>(zp + 0x228);
  EXPECT_EQ(cmd, linux_layout::kCmdline);
  EXPECT_EQ(rd<uint32_t>(zp + 0x0C8), 0u);
  char buf[64] = {};
  mem_.copy_from(cmd, buf, params_.cmdline.size() + 1);
  EXPECT_STREQ(buf, params_.cmdline.c_str());
  // e820.
  ASSERT_EQ(rd<uint8_t>(zp + 0x1E8), 3);
  EXPECT_EQ(rd<uint64_t>(zp + 0x2D0 + 0), 0u);
  EXPECT_EQ(rd<uint64_t>(zp + 0x2D0 + 8), 0x9FC00u);
  EXPECT_EQ(rd<uint32_t>(zp + 0x2D0 + 16), 1u);
  EXPECT_EQ(rd<uint64_t>(zp + 0x2D0 + 20), 0x9FC00u);
  EXPECT_EQ(rd<uint32_t>(zp + 0x2D0 + 36), 2u);
  EXPECT_EQ(rd<uint64_t>(zp + 0x2D0 + 40), 0x100000u);
  EXPECT_EQ(rd<uint64_t>(zp + 0x2D0 + 48), kRam - 0x100000);
  EXPECT_EQ(rd<uint32_t>(zp + 0x2D0 + 56), 1u);
  EXPECT_EQ(rd<uint32_t>(zp + 0x1E0), (kRam - kMiB) >> 10) << "alt_mem_k";
  EXPECT_EQ(rd<uint64_t>(zp + 0x070), 0xF0000u) << "acpi_rsdp_addr";
  // No initrd.
  EXPECT_EQ(rd<uint32_t>(zp + 0x218), 0u);
  EXPECT_EQ(rd<uint32_t>(zp + 0x21C), 0u);
}

TEST_F(LinuxBootTest, InitrdGoesHighAndAligned) {
  params_.initrd.assign(0x12345, 0x5A);
  ASSERT_TRUE(load()) << error_;
  const uint64_t zp = info_.boot_params_addr;
  const uint64_t addr = rd<uint32_t>(zp + 0x218);
  EXPECT_EQ(addr, info_.initrd_addr);
  EXPECT_EQ(rd<uint32_t>(zp + 0x21C), 0x12345u);
  EXPECT_EQ(rd<uint32_t>(zp + 0x0C0), 0u);
  EXPECT_EQ(addr % 4096, 0u);
  EXPECT_LE(addr + 0x12345, kRam);
  EXPECT_GT(addr + 0x12345 + 4096, kRam) << "as high as possible";
  EXPECT_EQ(rd<uint8_t>(addr), 0x5A);
  EXPECT_EQ(rd<uint8_t>(addr + 0x12344), 0x5A);
}

TEST_F(LinuxBootTest, InitrdStaysBelowInitrdAddrMax) {
  put<uint32_t>(params_.kernel, 0x22C, 40 * kMiB - 1);
  params_.initrd.assign(0x3000, 1);
  ASSERT_TRUE(load()) << error_;
  EXPECT_EQ(info_.initrd_addr, 40 * kMiB - 0x3000);
}

TEST_F(LinuxBootTest, InitrdAvoidsReservedRangesAndKernel) {
  // RAM ends with a reserved range (e.g. ACPI tables): the initrd goes below it.
  params_.e820.back().size -= 4 * kMiB;
  params_.e820.push_back({kRam - 4 * kMiB, 4 * kMiB, E820Type::kReserved});
  params_.initrd.assign(0x2000, 1);
  ASSERT_TRUE(load()) << error_;
  EXPECT_EQ(info_.initrd_addr, kRam - 4 * kMiB - 0x2000);
  // An initrd that only fits over the kernel's init_size footprint is refused.
  params_.initrd.assign(kRam - 4 * kMiB - 16 * kMiB - 0x100000 + 0x1000, 1);
  EXPECT_NE(load_error().find("initrd"), std::string::npos);
}

TEST_F(LinuxBootTest, EntryStateIsLongModeAtEntryPoint) {
  ASSERT_TRUE(load()) << error_;
  CpuState& c = *cpu_;
  EXPECT_EQ(c.rip, 16 * kMiB + 0x200);
  EXPECT_EQ(c.gpr[RSI], linux_layout::kBootParams);
  EXPECT_FALSE(c.rflags & rf::IF);
  EXPECT_TRUE(c.cr0 & cr0::PE);
  EXPECT_TRUE(c.cr0 & cr0::PG);
  EXPECT_TRUE(c.cr4 & cr4::PAE);
  EXPECT_TRUE(c.efer & efer::LME);
  EXPECT_TRUE(c.efer & efer::LMA);
  EXPECT_EQ(c.cr3, linux_layout::kPml4);
  EXPECT_TRUE(c.mode64);
  EXPECT_EQ(c.cpl, 0);
  EXPECT_EQ(c.seg[CS].selector, 0x10);
  EXPECT_TRUE(c.seg[CS].attrib & seg_attr::L);
  for (int s : {DS, ES, SS}) {
    EXPECT_EQ(c.seg[s].selector, 0x18);
    EXPECT_EQ(c.seg[s].base, 0u);
    EXPECT_EQ(c.seg[s].limit, 0xFFFFFFFFu);
  }
  // The GDT holds the descriptors the selectors name.
  EXPECT_EQ(c.gdtr.base, linux_layout::kGdt);
  EXPECT_GE(c.gdtr.limit, 0x1Fu);
  const uint64_t cs_desc = rd<uint64_t>(c.gdtr.base + 0x10);
  const uint64_t ds_desc = rd<uint64_t>(c.gdtr.base + 0x18);
  EXPECT_EQ((cs_desc >> 40) & 0xFF, 0x9Bu) << "present, DPL 0, code execute/read";
  EXPECT_TRUE((cs_desc >> 53) & 1) << "L";
  EXPECT_EQ((ds_desc >> 40) & 0xFF, 0x93u) << "present, DPL 0, data read/write";
  EXPECT_EQ(ds_desc & 0xFFFF, 0xFFFFu);
  EXPECT_TRUE((ds_desc >> 55) & 1) << "G";
}

TEST_F(LinuxBootTest, PageTablesIdentityMapFirst4GiB) {
  ASSERT_TRUE(load()) << error_;
  const PagingFeatures features{};
  for (uint64_t linear : {0x0ull, 0x7000ull, 0x1000200ull, 0x3FFF000ull, 0x7FFFFFFFull,
                          0xFEE00000ull, 0xFFFFFFFFull}) {
    WalkResult w = probe_walk(*cpu_, linear, implicit_supervisor_intent(Access::Write), features);
    ASSERT_TRUE(w.ok()) << std::hex << linear;
    EXPECT_EQ(w.paddr, linear);
    EXPECT_EQ(w.mode, PagingMode::k4Level);
  }
  WalkResult above =
      probe_walk(*cpu_, 0x100000000ull, implicit_supervisor_intent(Access::Read), features);
  EXPECT_FALSE(above.ok());
}

TEST_F(LinuxBootTest, FallsBackToAlignedSlotWhenPrefAddressDoesNotFit) {
  put<uint64_t>(params_.kernel, 0x258, 0x40000000);  // 1 GiB: beyond 64 MiB of RAM
  ASSERT_TRUE(load()) << error_;
  EXPECT_EQ(info_.kernel_addr, 16 * kMiB);
  put<uint32_t>(params_.kernel, 0x230, 0x1000000);  // 16 MiB alignment
  put<uint32_t>(params_.kernel, 0x260, 40 * kMiB);  // too big to start at 16 MiB... fits
  ASSERT_TRUE(load()) << error_;
  EXPECT_EQ(info_.kernel_addr, 16 * kMiB);
  put<uint32_t>(params_.kernel, 0x260, 50 * kMiB);  // 16 MiB + 50 MiB > 64 MiB; 1 MiB floor
  put<uint32_t>(params_.kernel, 0x230, 0x100000);
  ASSERT_TRUE(load()) << error_;
  EXPECT_EQ(info_.kernel_addr, 1 * kMiB);
}

TEST_F(LinuxBootTest, NonRelocatableKernelMustFitAtPrefAddress) {
  put<uint64_t>(params_.kernel, 0x258, 0x40000000);
  params_.kernel[0x234] = 0;
  EXPECT_NE(load_error().find("not relocatable"), std::string::npos);
}

TEST_F(LinuxBootTest, KernelTooBigForRam) {
  put<uint32_t>(params_.kernel, 0x260, 80 * kMiB);
  EXPECT_NE(load_error().find("does not fit"), std::string::npos);
}

TEST_F(LinuxBootTest, RejectsMalformedImages) {
  const std::vector<uint8_t> good = make_bzimage();
  struct Case {
    const char* what;
    std::function<void(std::vector<uint8_t>&)> mutate;
    const char* expect;
  };
  const Case cases[] = {
      {"no boot flag", [](auto& v) { v[0x1FE] = 0; }, "0xAA55"},
      {"no HdrS", [](auto& v) { v[0x203] = 'x'; }, "HdrS"},
      {"truncated in header", [](auto& v) { v.resize(0x230); }, "truncated"},
      {"tiny file", [](auto& v) { v.resize(0x100); }, "not a Linux bzImage"},
      {"old protocol", [](auto& v) { put<uint16_t>(v, 0x206, 0x020A); }, "2.10 is too old"},
      {"short header", [](auto& v) { v[0x201] = 0x40; }, "shorter"},
      {"32-bit only", [](auto& v) { put<uint16_t>(v, 0x236, 0); }, "XLF_KERNEL_64"},
      {"zImage", [](auto& v) { v[0x211] = 0; }, "zImage"},
      {"no protected-mode part", [](auto& v) { v.resize(kPmOffset); }, "truncated"},
      {"init_size too small", [](auto& v) { put<uint32_t>(v, 0x260, 0x100); }, "init_size"},
      {"alignment not power of 2", [](auto& v) { put<uint32_t>(v, 0x230, 0x300000); },
       "kernel_alignment"},
      {"alignment zero", [](auto& v) { put<uint32_t>(v, 0x230, 0); }, "kernel_alignment"},
  };
  for (const Case& c : cases) {
    params_.kernel = good;
    c.mutate(params_.kernel);
    EXPECT_NE(load_error().find(c.expect), std::string::npos) << c.what << ": " << error_;
  }
}

TEST_F(LinuxBootTest, RejectsOverlongCommandLine) {
  params_.cmdline.assign(2048, 'x');
  EXPECT_NE(load_error().find("command line is too long"), std::string::npos);
  params_.cmdline.assign(2047, 'x');
  EXPECT_TRUE(load()) << error_;
}

TEST_F(LinuxBootTest, RejectsBadE820) {
  params_.e820.clear();
  EXPECT_NE(load_error().find("e820"), std::string::npos);
  params_.e820.assign(129, E820Entry{0, 0x1000, E820Type::kRam});
  EXPECT_NE(load_error().find("e820"), std::string::npos);
}

}  // namespace
}  // namespace umbra
