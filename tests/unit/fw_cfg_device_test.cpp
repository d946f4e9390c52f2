// The fw_cfg I/O interface (selector 0x510, data 0x511) as a guest reads it.
#include <gtest/gtest.h>

#include "devices/fw_cfg.h"
#include "devices/port_bus.h"

namespace umbra {
namespace {

class FwCfgTest : public ::testing::Test {
 protected:
  FwCfgTest() : cfg_(FwCfgConfig{512ull << 20, 1, 4, true}) { cfg_.attach(ports_); }
  std::vector<uint8_t> read_item(uint16_t key, size_t n) {
    ports_.write(0x510, 2, key);
    std::vector<uint8_t> out(n);
    for (auto& b : out) b = static_cast<uint8_t>(ports_.read(0x511, 1));
    return out;
  }
  uint64_t read_le(uint16_t key, unsigned n) {
    std::vector<uint8_t> b = read_item(key, n);
    uint64_t v = 0;
    for (unsigned i = 0; i < n; ++i) v |= uint64_t{b[i]} << (8 * i);
    return v;
  }
  PortBus ports_;
  FwCfg cfg_;
};

TEST_F(FwCfgTest, Signature) {
  std::vector<uint8_t> sig = read_item(fw_cfg_key::kSignature, 4);
  EXPECT_EQ(std::string(sig.begin(), sig.end()), "QEMU");
  // Past the end of the item: zeros.
  EXPECT_EQ(ports_.read(0x511, 1), 0u);
  // Selecting again restarts at offset 0.
  EXPECT_EQ(read_item(fw_cfg_key::kSignature, 1)[0], 'Q');
}

TEST_F(FwCfgTest, IdAdvertisesTraditionalInterfaceOnly) {
  EXPECT_EQ(read_le(fw_cfg_key::kId, 4), 1u) << "bit 1 (DMA) must be clear";
}

TEST_F(FwCfgTest, RamSizeAndCpuCounts) {
  EXPECT_EQ(read_le(fw_cfg_key::kRamSize, 8), 512ull << 20);
  EXPECT_EQ(read_le(fw_cfg_key::kNbCpus, 2), 1u);
  EXPECT_EQ(read_le(fw_cfg_key::kMaxCpus, 2), 4u);
  EXPECT_EQ(read_le(fw_cfg_key::kNographic, 2), 1u);
}

TEST_F(FwCfgTest, UnknownKeyReadsZero) {
  EXPECT_EQ(read_le(0x1234, 4), 0u);
}

TEST_F(FwCfgTest, WriteChannelBitIsNotPartOfTheKey) {
  EXPECT_EQ(read_le(fw_cfg_key::kRamSize | 0x4000, 8), 512ull << 20);
  // Data writes are ignored.
  ports_.write(0x510, 2, fw_cfg_key::kRamSize);
  ports_.write(0x511, 1, 0xAA);
  EXPECT_EQ(read_le(fw_cfg_key::kRamSize, 8), 512ull << 20);
}

TEST_F(FwCfgTest, EmptyFileDirectory) {
  EXPECT_EQ(read_le(fw_cfg_key::kFileDir, 4), 0u);
}

TEST_F(FwCfgTest, FileDirectoryListsFilesBigEndianSortedByName) {
  const uint16_t b = cfg_.add_file("etc/zeta", {1, 2, 3});
  const uint16_t a = cfg_.add_file("etc/alpha", std::vector<uint8_t>(300, 7));
  EXPECT_EQ(b, 0x20);
  EXPECT_EQ(a, 0x21);
  std::vector<uint8_t> dir = read_item(fw_cfg_key::kFileDir, 4 + 2 * 64);
  EXPECT_EQ(dir[3], 2) << "big-endian count";
  // First entry: etc/alpha, size 300 = 0x12C, select 0x21.
  EXPECT_EQ(dir[4 + 2], 0x01);
  EXPECT_EQ(dir[4 + 3], 0x2C);
  EXPECT_EQ(dir[4 + 4], 0x00);
  EXPECT_EQ(dir[4 + 5], 0x21);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&dir[4 + 8])), "etc/alpha");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(&dir[4 + 64 + 8])), "etc/zeta");
  EXPECT_EQ(read_item(b, 3), (std::vector<uint8_t>{1, 2, 3}));
  // Replacing keeps the selector.
  EXPECT_EQ(cfg_.add_file("etc/zeta", {9}), b);
  EXPECT_EQ(read_item(b, 2), (std::vector<uint8_t>{9, 0}));
}

TEST_F(FwCfgTest, WideDataReadsReturnConsecutiveBytes) {
  ports_.write(0x510, 2, fw_cfg_key::kSignature);
  EXPECT_EQ(cfg_.port_read(0x511, 2), 0x4551u);  // "QE" little-endian
  EXPECT_EQ(cfg_.port_read(0x511, 2), 0x554Du);  // "MU"
  EXPECT_EQ(cfg_.port_read(0x510, 2), 0u) << "the selector is write-only";
}

}  // namespace
}  // namespace umbra
