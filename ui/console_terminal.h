// Raw mode for the terminal the guest's serial console runs on, restored however Umbra ends:
// normal return (destructor), exit() (atexit), and fatal or terminating signals (SIGINT,
// SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGSEGV, SIGBUS: the handler restores the terminal, puts
// the previous action back and re-raises). One terminal at a time.
#pragma once

namespace umbra {

class TerminalRawMode {
 public:
  // Puts the terminal on `fd` in raw mode: no line editing, no echo, no signal keys (Ctrl-C and
  // Ctrl-Z go to the guest, as with qemu -nographic), no CR/LF or flow-control translation on
  // input. Output post-processing stays on, so "\n" still starts a new line on the screen.
  // Does nothing (active() false) when `fd` is not a terminal.
  explicit TerminalRawMode(int fd);
  ~TerminalRawMode();
  TerminalRawMode(const TerminalRawMode&) = delete;
  TerminalRawMode& operator=(const TerminalRawMode&) = delete;

  bool active() const { return active_; }
  // Restores the saved settings now (idempotent; also what the signal and exit paths call).
  static void restore();

 private:
  bool active_ = false;
};

}  // namespace umbra
