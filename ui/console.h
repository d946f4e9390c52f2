// The stdio console: the terminal shared by the guest's serial port and the monitor, for
// -nographic, -serial stdio and -monitor stdio (docs/monitor.md, "The console").
//
//  - ConsoleMux routes input bytes: to the serial port's receive side, or, after Ctrl-A c, to the
//    monitor's line editor. Ctrl-A x quits, Ctrl-A h lists the keys, Ctrl-A Ctrl-A sends one
//    Ctrl-A to the guest. It is pure (no file descriptors), so tests feed it byte sequences.
//  - StdioConsole owns the file descriptors: puts a terminal in raw mode while the guest runs
//    (restored on every exit path, signals included: ui/console_terminal.h), reads what is
//    available without blocking from the machine's main loop (poll), and writes output.
//    A pipe on stdin works too (no raw mode, no echo): tests drive the monitor that way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "ui/monitor.h"

namespace umbra {

struct ConsoleConfig {
  bool serial = true;   // the guest's serial port is on this console (-nographic, -serial stdio)
  bool monitor = true;  // the monitor is on this console (-nographic, -monitor stdio)
  // Ctrl-A commands. On for a console that carries the serial port; a monitor-only console
  // (-monitor stdio alone) reads plain lines.
  bool escapes = true;
  // Echo what is typed into the monitor: a raw terminal does not echo by itself.
  bool echo = false;
};

constexpr uint8_t kConsoleEscape = 0x01;  // Ctrl-A

class ConsoleMux {
 public:
  enum class Focus : uint8_t { kSerial, kMonitor };

  struct Hooks {
    std::function<void(uint8_t)> to_serial;        // one byte for the guest's serial receiver
    std::function<void(std::string_view)> output;  // text for the user (echo, prompts, replies)
    std::function<void()> quit;                    // Ctrl-A x
  };

  // `monitor` may be null when config.monitor is false.
  ConsoleMux(ConsoleConfig config, Monitor* monitor, Hooks hooks);

  // Routes input bytes as typed.
  void feed(const uint8_t* data, size_t n);
  void feed(std::string_view bytes) {
    feed(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }

  Focus focus() const { return focus_; }
  // Switches focus and shows the monitor's greeting and prompt when it gets the console.
  void set_focus(Focus focus);
  // Prints the prompt if the monitor has the console (at startup of a monitor-only console).
  void show_prompt();

  // The Ctrl-A key list (Ctrl-A h).
  static std::string help_text();

 private:
  void byte(uint8_t b);
  void escape_command(uint8_t b);
  void monitor_byte(uint8_t b);
  void run_monitor_line();
  void out(std::string_view s) {
    if (hooks_.output) hooks_.output(s);
  }

  ConsoleConfig config_;
  Monitor* monitor_;
  Hooks hooks_;
  Focus focus_;
  bool got_escape_ = false;
  bool last_was_cr_ = false;  // swallow the '\n' of a "\r\n" pair
  bool greeted_ = false;
  std::string line_;
};

class TerminalRawMode;

class StdioConsole {
 public:
  // Takes over `in_fd`/`out_fd` (normally 0 and 1; not closed at the end). A terminal on
  // `in_fd` goes into raw mode when the serial port is on it (config.serial); a monitor-only
  // console leaves the terminal's line editing on. config.echo is set from that decision.
  StdioConsole(ConsoleConfig config, Monitor* monitor, std::function<void(uint8_t)> to_serial,
               std::function<void()> quit, int in_fd = 0, int out_fd = 1);
  ~StdioConsole();  // restores the terminal
  StdioConsole(const StdioConsole&) = delete;
  StdioConsole& operator=(const StdioConsole&) = delete;

  // The descriptor to wait on for input, or -1 once input has ended (EOF on a pipe).
  int fd() const { return in_fd_; }
  // Waits up to `timeout_ms` (0: just look; negative: until input arrives) for input and routes
  // what is available. Never blocks longer. Returns the number of bytes routed. With input
  // ended it only sleeps for the timeout (the caller may use it as its idle wait).
  size_t poll(int timeout_ms);
  // The guest's serial output, to the terminal (unbuffered, so it interleaves correctly with
  // the monitor's output).
  void write_serial(const uint8_t* data, size_t n);
  void write_text(std::string_view text);

  ConsoleMux& mux() { return *mux_; }
  bool raw() const { return raw_ != nullptr; }

 private:
  int in_fd_;
  int out_fd_;
  std::unique_ptr<TerminalRawMode> raw_;
  std::unique_ptr<ConsoleMux> mux_;
};

}  // namespace umbra
