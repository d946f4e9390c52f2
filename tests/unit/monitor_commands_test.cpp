// The monitor's other commands: info registers, help, info shadow, the run-control commands
// through MonitorControl, and bad input (every line of a table must give one line of error and
// never crash or throw).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "frontend/flags.h"
#include "tests/unit/monitor_test_util.h"

namespace umbra {
namespace {

using test::has_line;
using test::MonitorFixture;
using test::PageTables;

class MonitorCommandsTest : public MonitorFixture {};

TEST_F(MonitorCommandsTest, InfoRegisters) {
  enter_long_mode();
  CpuState& c = pc_.cpu();
  for (unsigned i = 0; i < 16; ++i) c.gpr[i] = 0x1111111111111111ull * (i + 1) + i;
  c.gpr[R15] = 0xf;
  c.rip = 0xffffffff81000000;
  set_arith_flags(c, rf::ZF | rf::CF);
  c.rflags |= rf::IF;
  c.seg[SS] = SegmentCache{0, 0xffffffff, 0x10,
                           0x3 | seg_attr::S | seg_attr::P | seg_attr::DB | seg_attr::G};
  c.tr = SegmentCache{0x5000, 0x67, 0x28, 0xb | seg_attr::P};
  c.gdtr = DescriptorTableReg{0x1000, 0x37};
  c.cr2 = 0xdeadbeef;
  c.cr4 |= cr4::SMEP | cr4::OSFXSR;
  const std::string out = run("info registers");
  EXPECT_TRUE(has_line(out, {"RAX=1111111111111111", "RBX=4444444444444447", "RCX=2222222222222223",
                             "RDX=3333333333333335"}))
      << out;
  EXPECT_TRUE(has_line(out, {"R14=000000000000000d R15=000000000000000f"})) << out;
  EXPECT_TRUE(has_line(out, {"RIP=ffffffff81000000 RFLAGS=0000000000000243 [IF ZF CF] IOPL=0"}))
      << out;
  EXPECT_TRUE(has_line(out, {"CPL=0 64-bit mode, paging 4-level"})) << out;
  EXPECT_TRUE(has_line(out, {"CS  =0008", "attr=0a9b code r-x accessed dpl=0 L G"})) << out;
  EXPECT_TRUE(has_line(out, {"SS  =0010", "limit=ffffffff", "data rw- accessed dpl=0 DB G"}))
      << out;
  EXPECT_TRUE(has_line(out, {"TR  =0028 base=0000000000005000", "64-bit TSS (busy)"})) << out;
  EXPECT_TRUE(has_line(out, {"GDTR=", "base=0000000000001000 limit=00000037"})) << out;
  EXPECT_TRUE(has_line(out, {"CR0=0000000080010011 [PG WP ET PE]"})) << out;
  EXPECT_TRUE(has_line(out, {"CR2=00000000deadbeef CR3=0000000000100000"})) << out;
  EXPECT_TRUE(has_line(out, {"CR4=", "[SMEP OSFXSR PAE]"})) << out;
  EXPECT_TRUE(has_line(out, {"EFER=0000000000000d00 [NXE LMA LME]"})) << out;
}

TEST_F(MonitorCommandsTest, ModesInInfoRegisters) {
  pc_.enter(PagingMode::kNone);
  pc_.cpu().cr0 = 0;
  update_cpu_mode(pc_.cpu());
  EXPECT_TRUE(has_line(run("info registers"), {"CPL=0 real mode, paging none"}));
  pc_.enter(PagingMode::kPae);
  pc_.cpu().seg[CS].attrib = 0xb | seg_attr::S | seg_attr::P | seg_attr::DB;
  update_cpu_mode(pc_.cpu());
  EXPECT_TRUE(has_line(run("info registers"), {"protected mode, 32-bit code, paging PAE"}));
}

TEST_F(MonitorCommandsTest, HelpListsEveryCommand) {
  const std::string out = run("help");
  for (const char* c : {"info registers", "info tlb", "info mem", "info shadow", "x /Nfu",
                        "xp /Nfu", "walk VADDR", "stop", "cont", "step", "quit", "help"})
    EXPECT_NE(out.find(c), std::string::npos) << c;
  EXPECT_TRUE(has_line(run("help walk"), {"walk VADDR [CR3]"}));
  EXPECT_TRUE(has_line(run("help x"), {"/Nfu: N count"}));
  EXPECT_EQ(run("help x").find("xp /Nfu"), std::string::npos);
  EXPECT_EQ(run("help nosuch"), "no command 'nosuch'; try 'help'\n");
}

TEST_F(MonitorCommandsTest, InfoShadowPrintsCountersAndAddressSpaces) {
  const std::string out = run("info shadow");
  // Whatever the MMU reports; the structure is fixed.
  EXPECT_TRUE(out.find("MMU counters") != std::string::npos) << out;
  EXPECT_TRUE(has_line(out, {"cached address spaces: "})) << out;
}

// A machine that records what the monitor asks of it.
class FakeControl : public MonitorControl {
 public:
  void stop() override {
    calls.push_back("stop");
    running_ = false;
  }
  void cont() override {
    calls.push_back("cont");
    running_ = true;
  }
  uint64_t step(uint64_t count) override {
    calls.push_back("step " + std::to_string(count));
    return count;
  }
  void quit() override { calls.push_back("quit"); }
  bool running() const override { return running_; }

  std::vector<std::string> calls;
  bool running_ = true;
};

TEST_F(MonitorCommandsTest, RunControl) {
  enter_long_mode();
  tables_->map(0x400000, 0x200000, 1, pte::P | pte::RW);
  pc_.mem().ram()[0x200000] = 0x90;  // nop
  pc_.cpu().rip = 0x400000;
  FakeControl control;
  Monitor m(pc_.cpu(), pc_.mem(), &control);
  EXPECT_EQ(m.execute("step"), "the guest is running; 'stop' it first\n");
  EXPECT_EQ(m.execute("stop"), "stopped at rip=0x400000\n");
  EXPECT_EQ(m.execute("stop"), "already stopped\n");
  const std::string out = m.execute("step");
  EXPECT_TRUE(has_line(out, {"stepped 1 instruction"})) << out;
  EXPECT_TRUE(has_line(out, {"rip=0x400000: nop"})) << out;
  EXPECT_TRUE(has_line(m.execute("s 0x10"), {"stepped 16 instructions"}));
  EXPECT_EQ(m.execute("step 0"), "bad step count; 1 to 1000000000\n");
  EXPECT_EQ(m.execute("cont"), "");
  EXPECT_EQ(m.execute("c"), "already running\n");
  EXPECT_FALSE(m.quit_requested());
  EXPECT_EQ(m.execute("quit"), "");
  EXPECT_TRUE(m.quit_requested());
  const std::vector<std::string> expected = {"stop", "step 1", "step 16", "cont", "quit"};
  EXPECT_EQ(control.calls, expected);
}

TEST_F(MonitorCommandsTest, NoMachineToControl) {
  EXPECT_EQ(run("stop"), "no machine to control\n");
  EXPECT_EQ(run("quit"), "no machine to control\n");
}

TEST_F(MonitorCommandsTest, BadInputGivesOneLineAndNeverCrashes) {
  enter_long_mode();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"foo", "unknown command 'foo'; try 'help'"},
      {"x", "usage: x /Nfu ADDR"},
      {"xp /4x", "usage: xp /Nfu ADDR"},
      {"x /4q 0x1000", "bad format '/4q'; expected /Nfu"},
      {"x /0x 0x1000", "bad count in '/0x': 1 to 4096"},
      {"x /99999999999999999999x 0", "bad count in '/99999999999999999999x': 1 to 4096"},
      {"x /xx 0", "bad format '/xx'; expected /Nfu"},
      {"x /bb 0", "bad format '/bb'; expected /Nfu"},
      {"x /4x zzz", "bad address 'zzz'"},
      {"x /4x 0x", "bad address '0x'"},
      {"x /4x 0x12g", "bad address '0x12g'"},
      {"x /4x 99999999999999999999", "bad address '99999999999999999999'"},
      {"x /4x $nosuch", "unknown register '$nosuch'"},
      {"x /4x 0x1000 +", "missing address"},
      {"x /4x 0x1000 0x2000", "too many arguments: '0x2000'"},
      {"walk", "usage: walk VADDR [CR3]"},
      {"walk 0x1000 0x2000 0x3000", "too many arguments: '0x3000'"},
      {"walk -", "bad address '-'"},
      {"walk $", "unknown register '$'"},
      {"info", "info what? registers, tlb, mem or shadow"},
      {"info nosuch", "unknown info 'nosuch'; try registers, tlb, mem or shadow"},
      {"info registers now", "too many arguments: 'now'"},
      {"step -1", "bad address '-1'"},
      {"step abc", "bad address 'abc'"},
      {"cont now", "too many arguments: 'now'"},
      {"help x y", "too many arguments: 'y'"},
  };
  for (const auto& [line, error] : cases) {
    std::string out;
    EXPECT_NO_THROW(out = run(line)) << line;
    EXPECT_EQ(out, error + "\n") << line;
    EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << line;
  }
  // Noise: control characters, huge lines, odd spacing. Any output, but one line and no crash.
  const std::vector<std::string> noise = {std::string(10000, 'x'),
                                          std::string("\x01\x02\x7f\xff", 4),
                                          "x /4x $rsp ++ 8",
                                          "x/",
                                          "xp/",
                                          "x /",
                                          "x //4x 0",
                                          "info\tmem\textra",
                                          "$rax",
                                          "0x1000",
                                          std::string("walk \0 1", 8)};
  for (const std::string& line : noise) {
    std::string out;
    EXPECT_NO_THROW(out = run(line));
    EXPECT_LE(std::count(out.begin(), out.end(), '\n'), 1) << line.substr(0, 40);
  }
  // Blank lines do nothing.
  EXPECT_EQ(run(""), "");
  EXPECT_EQ(run("   \t "), "");
}

}  // namespace
}  // namespace umbra

namespace umbra {
namespace {

// Random lines built from the monitor's own vocabulary: whatever they mean, execute() returns
// text ending in a newline (or nothing) and never throws.
TEST_F(MonitorCommandsTest, RandomLinesNeverCrash) {
  PageTables& t = enter_long_mode();
  t.map(0x7fffffffe000, 0x200000, 1, pte::P | pte::RW | pte::US);
  t.map(0xfffffffffffff000, 0x201000, 1, pte::P | pte::RW);  // the very top page
  static const char* const kTokens[] = {"x",
                                        "xp",
                                        "walk",
                                        "info",
                                        "registers",
                                        "tlb",
                                        "mem",
                                        "shadow",
                                        "help",
                                        "/",
                                        "/4",
                                        "/i",
                                        "/xg",
                                        "/16c",
                                        "/4096xb",
                                        "/2dw",
                                        "$rsp",
                                        "$rip",
                                        "$cr3",
                                        "+",
                                        "-",
                                        "0x",
                                        "0",
                                        "8",
                                        "0xfffffffffffffff8",
                                        "0x7fffffffeffc",
                                        "0xffff800000000000",
                                        "$",
                                        "$eax",
                                        "0x1000",
                                        "step",
                                        "stop",
                                        "cont",
                                        "quit",
                                        "\t",
                                        "zz"};
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  auto next = [&] {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
  };
  for (int i = 0; i < 3000; ++i) {
    std::string line;
    const unsigned n = 1 + next() % 5;
    for (unsigned k = 0; k < n; ++k) {
      line += kTokens[next() % (sizeof kTokens / sizeof kTokens[0])];
      if (next() % 3) line += ' ';
    }
    std::string out;
    ASSERT_NO_THROW(out = run(line)) << line;
    EXPECT_TRUE(out.empty() || out.back() == '\n') << line;
  }
}

}  // namespace
}  // namespace umbra
