// Raw mode on a real terminal (a pseudo-terminal pair): entered for a serial console, restored by
// the destructor and by a terminating signal; left alone for a monitor-only console.
#include "ui/console_terminal.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "tests/unit/page_table_builder.h"
#include "ui/console.h"

namespace umbra {
namespace {

class ConsoleTerminalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = posix_openpt(O_RDWR | O_NOCTTY);
    ASSERT_GE(master_, 0);
    ASSERT_EQ(grantpt(master_), 0);
    ASSERT_EQ(unlockpt(master_), 0);
    slave_ = open(ptsname(master_), O_RDWR | O_NOCTTY);
    ASSERT_GE(slave_, 0);
    ASSERT_EQ(tcgetattr(slave_, &initial_), 0);
    ASSERT_TRUE(initial_.c_lflag & ICANON);  // a fresh pty is cooked
  }
  void TearDown() override {
    if (slave_ >= 0) close(slave_);
    if (master_ >= 0) close(master_);
  }
  bool cooked() {
    struct termios t;
    if (tcgetattr(slave_, &t) != 0) return false;
    return (t.c_lflag & (ICANON | ECHO | ISIG)) == (initial_.c_lflag & (ICANON | ECHO | ISIG)) &&
           t.c_iflag == initial_.c_iflag;
  }

  int master_ = -1, slave_ = -1;
  struct termios initial_;
};

TEST_F(ConsoleTerminalTest, SerialConsoleIsRawUntilDestroyed) {
  {
    StdioConsole console(
        {}, nullptr, [](uint8_t) {}, [] {}, slave_, slave_);
    EXPECT_TRUE(console.raw());
    struct termios t;
    ASSERT_EQ(tcgetattr(slave_, &t), 0);
    EXPECT_FALSE(t.c_lflag & ICANON);
    EXPECT_FALSE(t.c_lflag & ECHO);
    EXPECT_FALSE(t.c_lflag & ISIG);  // Ctrl-C goes to the guest
    EXPECT_FALSE(t.c_iflag & ICRNL);
    EXPECT_TRUE(t.c_oflag & OPOST);
  }
  EXPECT_TRUE(cooked());
}

TEST_F(ConsoleTerminalTest, RawTerminalEchoesMonitorInputAndPassesCtrlC) {
  std::string serial;
  StdioConsole console(
      {}, nullptr, [&](uint8_t b) { serial += static_cast<char>(b); }, [] {}, slave_, slave_);
  ASSERT_TRUE(console.raw());
  // Ctrl-C reaches the guest as a byte (no SIGINT), CR is not turned into LF.
  ASSERT_EQ(write(master_, "a\x03\r", 3), 3);
  for (int i = 0; i < 20 && serial.size() < 3; ++i) console.poll(100);
  EXPECT_EQ(serial, "a\x03\r");
}

TEST_F(ConsoleTerminalTest, RawTerminalMonitorEcho) {
  test::PagingCpu pc;
  Monitor monitor(pc.cpu(), pc.mem(), nullptr);
  StdioConsole console(
      {}, &monitor, [](uint8_t) {}, [] {}, slave_, slave_);
  ASSERT_TRUE(console.raw());
  ASSERT_EQ(write(master_,
                  "\x01"
                  "chelp x\r",
                  10),
            10);
  for (int i = 0; i < 20 && console.mux().focus() != ConsoleMux::Focus::kMonitor; ++i)
    console.poll(100);
  console.poll(100);
  std::string seen;
  char buf[4096];
  fcntl(master_, F_SETFL, O_NONBLOCK);
  for (int i = 0; i < 50 && seen.find("/Nfu: N count") == std::string::npos; ++i) {
    ssize_t n = read(master_, buf, sizeof buf);
    if (n > 0)
      seen.append(buf, static_cast<size_t>(n));
    else
      usleep(10000);
  }
  // The typed command is echoed (a raw terminal does not), then the reply.
  EXPECT_NE(seen.find("(umbra) help x"), std::string::npos) << seen;
  EXPECT_NE(seen.find("/Nfu: N count"), std::string::npos) << seen;
}

TEST_F(ConsoleTerminalTest, MonitorOnlyConsoleKeepsLineEditing) {
  StdioConsole console({.serial = false, .monitor = true, .escapes = false}, nullptr, nullptr,
                       nullptr, slave_, slave_);
  EXPECT_FALSE(console.raw());
  EXPECT_TRUE(cooked());
}

TEST_F(ConsoleTerminalTest, SignalRestoresTheTerminal) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    TerminalRawMode raw(slave_);
    if (!raw.active()) _exit(3);
    raise(SIGTERM);  // the handler restores the terminal, then the default action ends us
    _exit(4);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << status;
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_TRUE(cooked());
}

TEST_F(ConsoleTerminalTest, ExitRestoresTheTerminal) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Never destroyed: exit() must restore. Held by a static so leak checkers see it reachable.
    static TerminalRawMode* raw = new TerminalRawMode(slave_);
    if (!raw->active()) _exit(3);
    exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_TRUE(cooked());
}

}  // namespace
}  // namespace umbra
