// The interactive monitor (DESIGN.md section 6, docs/monitor.md): inspects and drives a machine.
// It reads the CPU state and guest memory directly and never changes them: linear addresses are
// translated with probe_walk() (no A/D update, no fast-TLB fill, no device access), and cache
// state comes only from softmmu/mmu_introspect.h. Running the guest (stop/cont/step/quit) goes
// through MonitorControl, which the machine implements.
//
// The monitor has no terminal of its own: execute() takes one command line and returns the text
// to print, so the console (ui/console.h), a socket or a unit test can drive it the same way.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "frontend/cpu_state.h"
#include "softmmu/guest_memory.h"

namespace umbra {

// What the monitor asks of the machine's run loop. All calls come from the thread that runs the
// machine's main loop (the console is polled from there), between slices of guest execution.
class MonitorControl {
 public:
  virtual ~MonitorControl() = default;
  // Pause the guest: the main loop stops running guest code until cont() (the console and the
  // timers keep being serviced). Idempotent.
  virtual void stop() = 0;
  // Resume a stopped guest. Idempotent.
  virtual void cont() = 0;
  // Execute up to `count` guest instructions now, synchronously, and leave the guest stopped.
  // Called only while stopped. Returns the number of instructions actually retired (fewer when
  // the guest halted, shut down or an exception ended the slice early).
  virtual uint64_t step(uint64_t count) = 0;
  // End the emulator (the main loop returns its exit status at its next check).
  virtual void quit() = 0;
  // Whether guest code is being run (false after stop(), before cont()).
  virtual bool running() const = 0;
};

class Monitor {
 public:
  // `control` may be null (a monitor over a CPU with no machine around it, as in unit tests):
  // stop/cont/step/quit then answer that there is no machine to control.
  Monitor(CpuState& cpu, GuestMemory& memory, MonitorControl* control);

  // Runs one command line and returns its output: zero or more lines, each ending in '\n'.
  // Never throws: bad input gives a one-line error ("unknown command 'foo'; try 'help'").
  std::string execute(std::string_view line);

  // The prompt a console shows before each command.
  static constexpr const char* kPrompt = "(umbra) ";

  // A quit command was executed (the console then shows no further prompt).
  bool quit_requested() const { return quit_; }

  // Names of every command, for help and completion.
  static std::vector<std::string> command_names();

 private:
  class Args;  // the tokenized arguments of one command (ui/monitor_args.h)

  std::string dispatch(std::string_view line);
  std::string cmd_help(Args& args);
  std::string cmd_info(Args& args);
  std::string cmd_info_registers();
  std::string cmd_info_tlb();
  std::string cmd_info_mem();
  std::string cmd_info_shadow();
  std::string cmd_examine(Args& args, bool physical);
  std::string cmd_walk(Args& args);
  std::string cmd_stop();
  std::string cmd_cont();
  std::string cmd_step(Args& args);
  std::string cmd_quit();

  // Reads `n` bytes at guest physical `paddr` from RAM only (never MMIO: reading a device
  // register can change it). False if any byte is outside RAM.
  bool read_physical(uint64_t paddr, void* out, size_t n) const;
  // Translates `linear` with probe_walk() for a supervisor read. False if there is no
  // translation (the page is not mapped).
  bool translate(uint64_t linear, uint64_t* paddr) const;
  // Whether `linear` is canonical for the current paging mode (always true outside IA-32e mode).
  bool canonical(uint64_t linear) const;
  // "rip=0x...: <instruction>" for the instruction at CS:RIP, for stop and step.
  std::string current_instruction() const;

  CpuState& cpu_;
  GuestMemory& memory_;
  MonitorControl* control_;
  bool quit_ = false;
};

}  // namespace umbra
