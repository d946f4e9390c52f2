#include "machine/cmdline.h"

#include <gtest/gtest.h>

namespace umbra {
namespace {

TEST(Cmdline, MemorySizes) {
  EXPECT_EQ(parse_memory_size("512M"), 512ull << 20);
  EXPECT_EQ(parse_memory_size("512"), 512ull << 20);  // QEMU: no suffix means MiB
  EXPECT_EQ(parse_memory_size("2G"), 2ull << 30);
  EXPECT_EQ(parse_memory_size("4096K"), 4ull << 20);
  EXPECT_FALSE(parse_memory_size(""));
  EXPECT_FALSE(parse_memory_size("0"));
  EXPECT_FALSE(parse_memory_size("12X"));
  EXPECT_FALSE(parse_memory_size("-5M"));
  EXPECT_FALSE(parse_memory_size("512K"));       // below 1 MiB
  EXPECT_FALSE(parse_memory_size("99999999T"));  // absurd
}

TEST(Cmdline, ParsesFlatRun) {
  std::string err;
  auto o = parse_command_line({"-m", "64M", "--flat", "x.bin", "-device",
                               "isa-debug-exit,iobase=0x501,iosize=2", "--disas"},
                              &err);
  ASSERT_TRUE(o) << err;
  EXPECT_EQ(o->ram_bytes, 64ull << 20);
  EXPECT_EQ(o->flat_image, "x.bin");
  ASSERT_TRUE(o->debug_exit);
  EXPECT_EQ(o->debug_exit->iobase, 0x501);
  EXPECT_EQ(o->debug_exit->iosize, 2);
  EXPECT_TRUE(o->disas);
}

TEST(Cmdline, RejectsBadInputWithOneLine) {
  const std::vector<std::vector<std::string>> bad = {
      {"--flat"},                                  // missing value
      {"--bogus"},                                 // unknown option
      {"-m", "lots", "--flat", "x"},               // bad size
      {"--flat", "x", "-device", "e1000"},         // unsupported device
      {"--flat", "x", "-device", "isa-debug-exit,iobase=zz"},
      {"--flat", "x", "-accel", "kvm"},
      {"--flat", "x", "--max-insns", "-1"},
      {},                                          // nothing to run
  };
  for (const auto& args : bad) {
    std::string err;
    EXPECT_FALSE(parse_command_line(args, &err));
    EXPECT_FALSE(err.empty());
    EXPECT_EQ(err.find('\n'), std::string::npos) << err;
  }
}

}  // namespace
}  // namespace umbra
