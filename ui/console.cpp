#include "ui/console.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>

#include "ui/console_terminal.h"

namespace umbra {

namespace {

constexpr size_t kMaxLine = 4096;

constexpr uint8_t kCtrlC = 0x03;
constexpr uint8_t kCtrlU = 0x15;
constexpr uint8_t kBackspace = 0x08;
constexpr uint8_t kDelete = 0x7f;

}  // namespace

ConsoleMux::ConsoleMux(ConsoleConfig config, Monitor* monitor, Hooks hooks)
    : config_(config), monitor_(monitor), hooks_(std::move(hooks)) {
  if (!monitor_) config_.monitor = false;
  focus_ = config_.serial || !config_.monitor ? Focus::kSerial : Focus::kMonitor;
}

std::string ConsoleMux::help_text() {
  return "Ctrl-A h    print this help\n"
         "Ctrl-A x    exit the emulator\n"
         "Ctrl-A c    switch between the serial console and the monitor\n"
         "Ctrl-A Ctrl-A  send Ctrl-A to the guest\n";
}

void ConsoleMux::feed(const uint8_t* data, size_t n) {
  for (size_t i = 0; i < n; ++i) byte(data[i]);
}

void ConsoleMux::byte(uint8_t b) {
  if (config_.escapes) {
    if (got_escape_) {
      got_escape_ = false;
      escape_command(b);
      return;
    }
    if (b == kConsoleEscape) {
      got_escape_ = true;
      return;
    }
  }
  if (focus_ == Focus::kMonitor) {
    monitor_byte(b);
  } else if (config_.serial && hooks_.to_serial) {
    hooks_.to_serial(b);
  }
}

void ConsoleMux::escape_command(uint8_t b) {
  switch (b) {
    case 'x':
    case 'X':
      out("\numbra: terminated (Ctrl-A x)\n");
      if (hooks_.quit) hooks_.quit();
      return;
    case 'c':
    case 'C':
      if (!config_.monitor) {
        out("\n(no monitor on this console)\n");
        return;
      }
      if (!config_.serial) return;  // the monitor has the console for good
      set_focus(focus_ == Focus::kSerial ? Focus::kMonitor : Focus::kSerial);
      return;
    case 'h':
    case 'H':
    case '?':
      out("\n" + help_text());
      if (focus_ == Focus::kMonitor) show_prompt();
      return;
    case kConsoleEscape:
      // Ctrl-A Ctrl-A: one Ctrl-A for whoever has the console (the monitor ignores it).
      if (focus_ == Focus::kSerial && config_.serial && hooks_.to_serial)
        hooks_.to_serial(kConsoleEscape);
      return;
    default:
      return;  // an unknown escape is dropped, as QEMU's mux does
  }
}

void ConsoleMux::set_focus(Focus focus) {
  if (focus == Focus::kMonitor && !config_.monitor) return;
  if (focus == Focus::kSerial && !config_.serial) return;
  if (focus == focus_) return;
  focus_ = focus;
  if (focus_ == Focus::kMonitor) {
    line_.clear();
    last_was_cr_ = false;
    show_prompt();
  } else {
    out("\n");
  }
}

void ConsoleMux::show_prompt() {
  if (focus_ != Focus::kMonitor) return;
  if (!greeted_) {
    greeted_ = true;
    out("\nUmbra monitor: type 'help' for commands" +
        std::string(config_.serial ? ", Ctrl-A c to return to the guest" : "") + "\n");
  }
  out(Monitor::kPrompt);
}

void ConsoleMux::monitor_byte(uint8_t b) {
  if (b == '\n' && last_was_cr_) {
    last_was_cr_ = false;
    return;
  }
  last_was_cr_ = b == '\r';
  if (b == '\r' || b == '\n') {
    if (config_.echo) out("\n");
    run_monitor_line();
    return;
  }
  if (b == kBackspace || b == kDelete) {
    if (!line_.empty()) {
      line_.pop_back();
      if (config_.echo) out("\b \b");
    }
    return;
  }
  if (b == kCtrlC || b == kCtrlU) {
    // Abandon the line being typed.
    line_.clear();
    out(config_.echo ? "^C\n" : "\n");
    out(Monitor::kPrompt);
    return;
  }
  if (b < 0x20 && b != '\t') return;  // other control characters (arrow-key escapes) ignored
  if (line_.size() >= kMaxLine) return;
  line_ += static_cast<char>(b);
  if (config_.echo) out(std::string_view(reinterpret_cast<const char*>(&b), 1));
}

void ConsoleMux::run_monitor_line() {
  std::string line;
  line.swap(line_);
  out(monitor_->execute(line));
  // No prompt after quit: the emulator is ending.
  if (focus_ == Focus::kMonitor && !monitor_->quit_requested()) out(Monitor::kPrompt);
}

// ---- StdioConsole ----

StdioConsole::StdioConsole(ConsoleConfig config, Monitor* monitor,
                           std::function<void(uint8_t)> to_serial, std::function<void()> quit,
                           int in_fd, int out_fd)
    : in_fd_(in_fd), out_fd_(out_fd) {
  if (config.serial) {
    raw_ = std::make_unique<TerminalRawMode>(in_fd);
    if (!raw_->active()) raw_.reset();
  }
  // A raw terminal does not echo: the monitor's line editor does. A cooked terminal or a pipe
  // needs no echo.
  config.echo = raw_ != nullptr;
  ConsoleMux::Hooks hooks;
  hooks.to_serial = std::move(to_serial);
  hooks.output = [this](std::string_view s) { write_text(s); };
  hooks.quit = std::move(quit);
  mux_ = std::make_unique<ConsoleMux>(config, monitor, std::move(hooks));
  mux_->show_prompt();
}

StdioConsole::~StdioConsole() = default;

size_t StdioConsole::poll(int timeout_ms) {
  if (in_fd_ < 0) {
    if (timeout_ms > 0) ::poll(nullptr, 0, timeout_ms);
    return 0;
  }
  struct pollfd p {
    in_fd_, POLLIN, 0
  };
  int n = ::poll(&p, 1, timeout_ms);
  if (n <= 0) return 0;  // timeout, or EINTR: the caller polls again
  if (!(p.revents & (POLLIN | POLLHUP | POLLERR))) return 0;
  uint8_t buf[4096];
  ssize_t got = ::read(in_fd_, buf, sizeof buf);
  if (got < 0) {
    if (errno == EINTR || errno == EAGAIN) return 0;
    in_fd_ = -1;  // a read error ends input like EOF does
    return 0;
  }
  if (got == 0) {
    in_fd_ = -1;  // EOF: stdin is not closed (it is not ours), just no longer read
    return 0;
  }
  mux_->feed(buf, static_cast<size_t>(got));
  return static_cast<size_t>(got);
}

void StdioConsole::write_serial(const uint8_t* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(out_fd_, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        // Someone made the descriptor non-blocking: wait until it drains.
        struct pollfd p {
          out_fd_, POLLOUT, 0
        };
        if (::poll(&p, 1, 1000) > 0) continue;
      }
      return;  // the terminal is gone: drop the output rather than stop the guest
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void StdioConsole::write_text(std::string_view text) {
  write_serial(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

}  // namespace umbra
