#include "ui/console_terminal.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>

namespace umbra {

namespace {

// State the signal handler reads: plain data, written before the handlers are installed.
struct termios g_saved;
volatile sig_atomic_t g_raw_fd = -1;

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS};
constexpr int kNumSignals = sizeof kSignals / sizeof kSignals[0];
struct sigaction g_previous[kNumSignals];
bool g_handlers_installed = false;

void restore_terminal() {
  const int fd = g_raw_fd;
  if (fd < 0) return;
  tcsetattr(fd, TCSANOW, &g_saved);  // async-signal-safe (POSIX.1-2008, 2.4.3)
  g_raw_fd = -1;
}

void on_signal(int sig) {
  restore_terminal();
  // Hand the signal to whoever had it before (normally the default action: terminate or dump
  // core). It is blocked while this handler runs, so it is delivered when the handler returns.
  for (int i = 0; i < kNumSignals; ++i) {
    if (kSignals[i] == sig) sigaction(sig, &g_previous[i], nullptr);
  }
  raise(sig);
}

void install_handlers() {
  if (g_handlers_installed) return;
  g_handlers_installed = true;
  std::atexit(restore_terminal);
  for (int i = 0; i < kNumSignals; ++i) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(kSignals[i], &sa, &g_previous[i]);
    // Keep an ignored signal ignored (nohup, or a parent that set SIGINT to SIG_IGN).
    if (g_previous[i].sa_handler == SIG_IGN) sigaction(kSignals[i], &g_previous[i], nullptr);
  }
}

}  // namespace

TerminalRawMode::TerminalRawMode(int fd) {
  if (g_raw_fd >= 0 || !isatty(fd)) return;
  struct termios t;
  if (tcgetattr(fd, &t) != 0) return;
  g_saved = t;
  // Input: bytes as typed (no CR->NL, no XON/XOFF, no break or parity processing, 8 bits).
  t.c_iflag &=
      ~static_cast<tcflag_t>(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  // Output: keep post-processing so '\n' from the guest and the monitor moves to column 0.
  t.c_oflag |= OPOST;
  // No echo, no line editing, no signal keys, no extended input processing.
  t.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
  t.c_cflag &= ~static_cast<tcflag_t>(CSIZE | PARENB);
  t.c_cflag |= CS8;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  g_raw_fd = fd;
  install_handlers();
  if (tcsetattr(fd, TCSANOW, &t) != 0) {
    g_raw_fd = -1;
    return;
  }
  active_ = true;
}

TerminalRawMode::~TerminalRawMode() {
  if (active_) restore_terminal();
}

void TerminalRawMode::restore() {
  restore_terminal();
}

}  // namespace umbra
