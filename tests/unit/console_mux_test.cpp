// The stdio console: ConsoleMux's routing of typed bytes (serial, Ctrl-A commands, the monitor's
// line editor) and StdioConsole over pipes (no terminal: no raw mode, no echo).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/unit/monitor_test_util.h"
#include "ui/console.h"

namespace umbra {
namespace {

using test::has_line;

class ConsoleMuxTest : public ::testing::Test {
 protected:
  ConsoleMuxTest() : monitor_(pc_.cpu(), pc_.mem(), nullptr) {}

  std::unique_ptr<ConsoleMux> make(ConsoleConfig config) {
    ConsoleMux::Hooks hooks;
    hooks.to_serial = [this](uint8_t b) { serial_ += static_cast<char>(b); };
    hooks.output = [this](std::string_view s) { output_ += s; };
    hooks.quit = [this] { ++quits_; };
    return std::make_unique<ConsoleMux>(config, &monitor_, hooks);
  }

  test::PagingCpu pc_;
  Monitor monitor_;
  std::string serial_, output_;
  int quits_ = 0;
};

TEST_F(ConsoleMuxTest, BytesGoToTheSerialPort) {
  auto mux = make({});
  mux->feed("ls -l\r");
  mux->feed(std::string("\x03\x04\x1b[A", 5));  // Ctrl-C, Ctrl-D, an arrow key: all the guest's
  EXPECT_EQ(serial_, std::string("ls -l\r\x03\x04\x1b[A", 11));
  EXPECT_EQ(output_, "");
  EXPECT_EQ(mux->focus(), ConsoleMux::Focus::kSerial);
}

TEST_F(ConsoleMuxTest, CtrlACtrlASendsOneCtrlA) {
  auto mux = make({});
  mux->feed("a\x01\x01z");
  EXPECT_EQ(serial_, "a\x01z");
}

TEST_F(ConsoleMuxTest, CtrlAXQuits) {
  auto mux = make({});
  mux->feed("ab\x01x");
  EXPECT_EQ(quits_, 1);
  EXPECT_EQ(serial_, "ab");
  EXPECT_TRUE(has_line(output_, {"terminated"})) << output_;
}

TEST_F(ConsoleMuxTest, CtrlAHPrintsHelpAndUnknownEscapesAreDropped) {
  auto mux = make({});
  mux->feed("\x01h");
  EXPECT_TRUE(has_line(output_, {"Ctrl-A x", "exit"})) << output_;
  EXPECT_TRUE(has_line(output_, {"Ctrl-A c", "monitor"})) << output_;
  output_.clear();
  mux->feed("\x01q1");
  EXPECT_EQ(serial_, "1");
  EXPECT_EQ(output_, "");
  EXPECT_EQ(quits_, 0);
}

TEST_F(ConsoleMuxTest, CtrlACSwitchesToTheMonitorAndBack) {
  auto mux = make({});
  mux->feed(
      "\x01"
      "c");
  EXPECT_EQ(mux->focus(), ConsoleMux::Focus::kMonitor);
  EXPECT_TRUE(has_line(output_, {"Umbra monitor", "help"})) << output_;
  EXPECT_EQ(output_.substr(output_.size() - 8), "(umbra) ");
  output_.clear();
  mux->feed("info registers\r");
  EXPECT_TRUE(has_line(output_, {"RAX=0000000000000000"})) << output_;
  EXPECT_EQ(output_.substr(output_.size() - 8), "(umbra) ");
  EXPECT_EQ(serial_, "");  // nothing typed at the monitor reaches the guest
  output_.clear();
  mux->feed(
      "\x01"
      "cecho\r");
  EXPECT_EQ(mux->focus(), ConsoleMux::Focus::kSerial);
  EXPECT_EQ(serial_, "echo\r");
  // The greeting is shown once; later switches only prompt.
  output_.clear();
  mux->feed(
      "\x01"
      "c");
  EXPECT_EQ(output_, "(umbra) ");
}

TEST_F(ConsoleMuxTest, MonitorLineEditing) {
  auto mux = make({.serial = true, .monitor = true, .escapes = true, .echo = true});
  mux->set_focus(ConsoleMux::Focus::kMonitor);
  output_.clear();
  // "foo", backspace twice, "x": "fx" -> unknown command 'fx'. CR LF runs the line once.
  mux->feed("foo\x7f\x08x\r\n");
  EXPECT_TRUE(has_line(output_, {"unknown command 'fx'"})) << output_;
  EXPECT_EQ(output_.find("unknown command", output_.find("unknown command") + 1),
            std::string::npos);
  EXPECT_NE(output_.find("foo\b \b\b \bx"), std::string::npos) << output_;  // the echo
  output_.clear();
  // Ctrl-C abandons the line.
  mux->feed("junk\x03help\n");
  EXPECT_NE(output_.find("junk^C\n(umbra) help"), std::string::npos) << output_;
  EXPECT_TRUE(has_line(output_, {"Commands:"})) << output_;
  EXPECT_FALSE(has_line(output_, {"unknown command"})) << output_;
  // Ctrl-A in the monitor: Ctrl-A Ctrl-A is ignored, Ctrl-A x still quits.
  mux->feed("\x01\x01\x01x");
  EXPECT_EQ(serial_, "");
  EXPECT_EQ(quits_, 1);
}

TEST_F(ConsoleMuxTest, MonitorOnlyConsoleReadsPlainLines) {
  auto mux = make({.serial = false, .monitor = true, .escapes = false, .echo = false});
  EXPECT_EQ(mux->focus(), ConsoleMux::Focus::kMonitor);
  mux->show_prompt();
  EXPECT_TRUE(has_line(output_, {"Umbra monitor"})) << output_;
  output_.clear();
  mux->feed("\x01xhelp walk\n");  // no escapes: Ctrl-A is an ignored control character
  EXPECT_EQ(quits_, 0);
  EXPECT_TRUE(has_line(output_, {"unknown command 'xhelp'"})) << output_;
  output_.clear();
  mux->feed("help walk\n");
  EXPECT_TRUE(has_line(output_, {"walk VADDR"})) << output_;
  EXPECT_EQ(serial_, "");
}

TEST_F(ConsoleMuxTest, SerialOnlyConsoleHasNoMonitor) {
  ConsoleMux::Hooks hooks;
  hooks.to_serial = [this](uint8_t b) { serial_ += static_cast<char>(b); };
  hooks.output = [this](std::string_view s) { output_ += s; };
  ConsoleMux mux({.serial = true, .monitor = false}, nullptr, hooks);
  mux.feed(
      "\x01"
      "cabc");
  EXPECT_EQ(mux.focus(), ConsoleMux::Focus::kSerial);
  EXPECT_TRUE(has_line(output_, {"no monitor on this console"})) << output_;
  EXPECT_EQ(serial_, "abc");
}

// StdioConsole over pipes, as `umbra -nographic < commands` sees them.
class StdioConsoleTest : public ConsoleMuxTest {
 protected:
  void SetUp() override {
    ASSERT_EQ(pipe(in_), 0);
    ASSERT_EQ(pipe(out_), 0);
    fcntl(out_[0], F_SETFL, O_NONBLOCK);
  }
  void TearDown() override {
    for (int fd : {in_[0], in_[1], out_[0], out_[1]})
      if (fd >= 0) close(fd);
  }
  std::string drain() {
    std::string s;
    char buf[4096];
    for (ssize_t n; (n = read(out_[0], buf, sizeof buf)) > 0;)
      s.append(buf, static_cast<size_t>(n));
    return s;
  }
  void type(std::string_view s) { ASSERT_EQ(write(in_[1], s.data(), s.size()), ssize_t(s.size())); }

  int in_[2] = {-1, -1}, out_[2] = {-1, -1};
};

TEST_F(StdioConsoleTest, PipeDrivesSerialAndMonitor) {
  StdioConsole console(
      {}, &monitor_, [this](uint8_t b) { serial_ += static_cast<char>(b); }, [this] { ++quits_; },
      in_[0], out_[1]);
  EXPECT_FALSE(console.raw());  // a pipe is not a terminal
  EXPECT_EQ(console.fd(), in_[0]);
  EXPECT_EQ(console.poll(0), 0u);  // nothing typed yet: returns at once
  type(
      "root\n\x01"
      "cinfo registers\n\x01"
      "c\x01x");
  size_t routed = 0;
  for (int i = 0; i < 100 && routed < 5 + 2 + 15 + 2 + 2; ++i) routed += console.poll(1000);
  EXPECT_EQ(routed, 26u);
  EXPECT_EQ(serial_, "root\n");
  const std::string out = drain();
  EXPECT_TRUE(has_line(out, {"RAX=0000000000000000"})) << out;
  EXPECT_FALSE(has_line(out, {"info registers"})) << out;  // no echo on a pipe
  EXPECT_EQ(quits_, 1);
  // Guest output goes straight to the descriptor.
  console.write_serial(reinterpret_cast<const uint8_t*>("login: "), 7);
  EXPECT_EQ(drain(), "login: ");
  // EOF ends input; poll then only waits.
  close(in_[1]);
  in_[1] = -1;
  console.poll(1000);
  EXPECT_EQ(console.fd(), -1);
  EXPECT_EQ(console.poll(1), 0u);
}

TEST_F(StdioConsoleTest, MonitorOnlyConsolePromptsAtOnce) {
  StdioConsole console({.serial = false, .monitor = true, .escapes = false}, &monitor_, nullptr,
                       nullptr, in_[0], out_[1]);
  EXPECT_TRUE(has_line(drain(), {"Umbra monitor"}));
  type("x /xb 0\n");
  console.poll(1000);
  EXPECT_EQ(drain(), "0x00000000: 0x00\n(umbra) ");
}

}  // namespace
}  // namespace umbra

namespace umbra {
namespace {

class QuitOnlyControl : public MonitorControl {
 public:
  void stop() override {}
  void cont() override {}
  uint64_t step(uint64_t) override { return 0; }
  void quit() override { ++quits; }
  bool running() const override { return true; }
  int quits = 0;
};

TEST(ConsoleMuxQuitTest, MonitorQuitEndsWithoutAnotherPrompt) {
  test::PagingCpu pc;
  QuitOnlyControl control;
  Monitor monitor(pc.cpu(), pc.mem(), &control);
  std::string output;
  ConsoleMux::Hooks hooks;
  hooks.output = [&](std::string_view s) { output += s; };
  ConsoleMux mux({.serial = false, .monitor = true, .escapes = false}, &monitor, hooks);
  mux.show_prompt();
  output.clear();
  mux.feed("quit\n");
  EXPECT_EQ(control.quits, 1);
  EXPECT_EQ(output, "");
}

}  // namespace
}  // namespace umbra
