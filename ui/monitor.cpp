// The monitor's command table, help and the run-control commands. The inspection commands live
// in monitor_registers.cpp, monitor_memory.cpp and monitor_walk.cpp.
#include "ui/monitor.h"

#include <exception>
#include <string>

#include "softmmu/paging_translator.h"
#include "ui/monitor_args.h"
#include "ui/monitor_text.h"

namespace umbra {

namespace {

struct CommandHelp {
  const char* names;  // the words `help NAME` accepts for this line
  const char* usage;
  const char* summary;
};

constexpr CommandHelp kHelp[] = {
    {"help ?", "help [COMMAND]", "list the commands, or explain one"},
    {"info registers", "info registers",
     "CPU registers: GPRs, RIP, RFLAGS, segments, control and table registers"},
    {"info tlb", "info tlb",
     "the valid entries of the fast TLB (linear page -> physical page, r/w/x)"},
    {"info mem", "info mem",
     "the mapped linear ranges of the current address space, with permissions"},
    {"info shadow", "info shadow", "the MMU's counters and cached address spaces"},
    {"x", "x /Nfu ADDR", "examine memory at linear ADDR (through the guest's page tables)"},
    {"xp", "xp /Nfu ADDR", "examine memory at physical ADDR"},
    {"walk", "walk VADDR [CR3]", "the page walk of VADDR: levels, rights, faults, cache state"},
    {"stop", "stop", "pause the guest"},
    {"cont c", "cont | c", "resume the guest"},
    {"step s", "step [N] | s [N]", "execute N instructions (default 1) of a stopped guest"},
    {"quit q", "quit | q", "end the emulator"},
};

constexpr const char* kFormatHelp =
    "  /Nfu: N count (default 1); f format: x hex (default), d signed, u unsigned, c char,\n"
    "        i instruction (disassembled in the CPU's current mode); u unit: b byte, h 2 bytes,\n"
    "        w 4 bytes (default), g 8 bytes.\n"
    "  Numbers and addresses: 0x1f (hex), 31 (decimal), $rsp (a register), joined by + and -.\n";

bool names_contain(std::string_view names, std::string_view word) {
  for (size_t start = 0; start <= names.size();) {
    size_t end = names.find(' ', start);
    if (end == std::string_view::npos) end = names.size();
    if (names.substr(start, end - start) == word) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

Monitor::Monitor(CpuState& cpu, GuestMemory& memory, MonitorControl* control)
    : cpu_(cpu), memory_(memory), control_(control) {}

std::vector<std::string> Monitor::command_names() {
  return {"help", "info", "x", "xp", "walk", "stop", "cont", "c", "step", "s", "quit", "q"};
}

std::string Monitor::execute(std::string_view line) {
  try {
    return dispatch(line);
  } catch (const MonitorError& e) {
    return std::string(e.what()) + "\n";
  } catch (const std::exception& e) {
    // Not expected: every user error is a MonitorError. Still never let one escape.
    return std::string("internal error: ") + e.what() + "\n";
  } catch (...) {
    return "internal error\n";
  }
}

std::string Monitor::dispatch(std::string_view line) {
  Args args(line, cpu_);
  std::optional<std::string_view> word = args.word();
  if (!word) return "";
  const std::string cmd(*word);
  if (cmd == "help" || cmd == "?") return cmd_help(args);
  if (cmd == "info") return cmd_info(args);
  if (cmd == "x") return cmd_examine(args, false);
  if (cmd == "xp") return cmd_examine(args, true);
  if (cmd == "walk") return cmd_walk(args);
  if (cmd == "stop") {
    args.expect_end();
    return cmd_stop();
  }
  if (cmd == "cont" || cmd == "c") {
    args.expect_end();
    return cmd_cont();
  }
  if (cmd == "step" || cmd == "s") return cmd_step(args);
  if (cmd == "quit" || cmd == "q") {
    args.expect_end();
    return cmd_quit();
  }
  // "x/4x ADDR" without a blank, as gdb users type it.
  if (cmd.size() > 1 && cmd[0] == 'x' &&
      (cmd[1] == '/' || (cmd[1] == 'p' && cmd.size() > 2 && cmd[2] == '/'))) {
    const bool physical = cmd[1] == 'p';
    std::string rewritten = cmd.substr(physical ? 2 : 1);
    std::string rest(line.substr(line.find(cmd) + cmd.size()));
    std::string joined = rewritten + " " + rest;
    Args inner(joined, cpu_);
    return cmd_examine(inner, physical);
  }
  throw MonitorError("unknown command '" + cmd + "'; try 'help'");
}

std::string Monitor::cmd_help(Args& args) {
  std::optional<std::string_view> topic = args.word();
  args.expect_end();
  std::string out;
  size_t width = 0;
  for (const CommandHelp& h : kHelp) width = std::max(width, std::string_view(h.usage).size());
  for (const CommandHelp& h : kHelp) {
    if (topic && !names_contain(h.names, *topic)) continue;
    out += "  " + pad(h.usage, width) + "  " + h.summary + "\n";
  }
  if (out.empty()) throw MonitorError("no command '" + std::string(*topic) + "'; try 'help'");
  if (!topic || *topic == "x" || *topic == "xp") out += kFormatHelp;
  if (!topic) {
    out = "Commands:\n" + out +
          "  The console: Ctrl-A c switches between the serial console and this monitor,\n"
          "  Ctrl-A x quits, Ctrl-A h lists the console keys.\n";
  }
  return out;
}

std::string Monitor::cmd_info(Args& args) {
  std::optional<std::string_view> what = args.word();
  if (!what) throw MonitorError("info what? registers, tlb, mem or shadow");
  args.expect_end();
  if (*what == "registers" || *what == "reg" || *what == "r") return cmd_info_registers();
  if (*what == "tlb") return cmd_info_tlb();
  if (*what == "mem") return cmd_info_mem();
  if (*what == "shadow") return cmd_info_shadow();
  throw MonitorError("unknown info '" + std::string(*what) +
                     "'; try registers, tlb, mem or shadow");
}

std::string Monitor::cmd_stop() {
  if (!control_) throw MonitorError("no machine to control");
  if (!control_->running()) return "already stopped\n";
  control_->stop();
  return "stopped at rip=" + hex(cpu_.rip) + "\n";
}

std::string Monitor::cmd_cont() {
  if (!control_) throw MonitorError("no machine to control");
  if (control_->running()) return "already running\n";
  control_->cont();
  return "";
}

std::string Monitor::cmd_step(Args& args) {
  uint64_t count = 1;
  if (!args.at_end()) count = args.expression();
  args.expect_end();
  constexpr uint64_t kMaxStep = 1000000000;
  if (count == 0 || count > kMaxStep)
    throw MonitorError("bad step count; 1 to " + std::to_string(kMaxStep));
  if (!control_) throw MonitorError("no machine to control");
  if (control_->running()) throw MonitorError("the guest is running; 'stop' it first");
  const uint64_t done = control_->step(count);
  std::string out = strfmt("stepped %llu instruction%s%s\n", static_cast<unsigned long long>(done),
                           done == 1 ? "" : "s", cpu_.halted ? " (the CPU is halted)" : "");
  return out + current_instruction();
}

std::string Monitor::cmd_quit() {
  if (!control_) throw MonitorError("no machine to control");
  control_->quit();
  quit_ = true;
  return "";
}

bool Monitor::read_physical(uint64_t paddr, void* out, size_t n) const {
  if (n == 0) return true;
  if (paddr + n < paddr) return false;
  return memory_.copy_from(paddr, out, n);
}

bool Monitor::translate(uint64_t linear, uint64_t* paddr) const {
  WalkResult r = probe_walk(cpu_, linear, AccessIntent{Access::Read, Privilege::kSupervisor},
                            paging_features(cpu_));
  if (!r.has_translation() || !canonical(linear)) return false;
  uint64_t p = r.paddr;
  if (cpu_.a20_off) p &= ~(uint64_t{1} << 20);  // the A20 gate applies to the physical result
  *paddr = p;
  return true;
}

}  // namespace umbra
