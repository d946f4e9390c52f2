#include "machine/pc.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>

#include "acpi/pm.h"
#include "devices/debug_ports.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/isa_irq_router.h"
#include "devices/lapic.h"
#include "devices/pci_host.h"
#include "devices/pic.h"
#include "devices/pit.h"
#include "devices/port80.h"
#include "devices/rtc.h"
#include "devices/uart16550.h"
#include "frontend/flags.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "frontend/system/msr.h"
#include "frontend/system/tsc.h"
#include "jit/tier0.h"
#include "machine/linux_boot.h"
#include "machine/multiboot.h"
#include "softmmu/paging_translator.h"
#include "ui/console.h"

namespace umbra {

PcMachine::PcMachine(PcConfig config)
    : config_(std::move(config)),
      clock_(config_.icount_shift ? GuestClock::Source::kInstructions : GuestClock::Source::kHost,
             config_.icount_shift.value_or(0)),
      memory_(config_.ram_bytes),
      cpu_(std::make_unique<CpuState>()) {
  translator_ = std::make_unique<PagingTranslator>();
  cpu_->memory = &memory_;
  cpu_->translator = translator_.get();
  cpu_->ports = &ports_;
  cpu_->clock = &clock_;
  clock_.attach(cpu_.get());
  clock_.reset();
  engine_ = std::make_unique<Tier0Engine>(*cpu_);
  engine_->set_deliver_events(true);
  engine_->set_trace_blocks(config_.trace_blocks);

  build_devices();
  attach_debug_console(ports_, config_.debugcon_out);
  if (config_.debug_exit) {
    attach_debug_exit(ports_, config_.debug_exit->first, config_.debug_exit->second,
                      [this](int status) {
                        debug_exit_status_ = status;
                        cpu_->exit_request |= kExitShutdown;
                      });
  }
  // System control port A (0x92): bit 1 gates A20, writing bit 0 = 1 resets the machine
  // ("fast reset"; IBM PS/2 technical reference).
  PortHandler p92;
  p92.read = [this](uint16_t, unsigned) -> uint32_t { return port92_; };
  p92.write = [this](uint16_t, unsigned, uint32_t v) {
    const bool a20_was_on = port92_ & 2;
    port92_ = static_cast<uint8_t>(v & 0x02);
    if (a20_was_on != bool(v & 2)) {
      cpu_->a20_off = !(v & 2);
      tlb_flush_all(*cpu_);
    }
    if (v & 1) request_reset();
  };
  ports_.add(0x92, 1, std::move(p92), "port92");
}

PcMachine::~PcMachine() = default;

void PcMachine::request_reset() {
  reset_requested_ = true;
  cpu_->exit_request |= kExitShutdown;
}

// The state the multiboot specification (3.2) requires at the kernel's entry: 32-bit protected
// mode, flat 4 GiB code and data segments, paging off, A20 on, IF and VM clear. Everything
// else is the architectural reset state (SDM vol. 3, 9.1.1, table 9-1).
void PcMachine::reset_cpu() {
  CpuState& c = *cpu_;
  GuestMemory* mem = c.memory;
  AddressTranslator* tr = c.translator;
  PortBus* ports = c.ports;
  GuestClock* clock = c.clock;
  CpuPlatform* platform = c.platform;
  const uint64_t insns = c.insn_count;  // the instruction clock keeps counting across resets
  std::memset(static_cast<void*>(&c), 0, offsetof(CpuState, tlb));
  c.memory = mem;
  c.translator = tr;
  c.ports = ports;
  c.clock = clock;
  c.platform = platform;
  c.insn_count = insns;
  // Model-defined power-on state: CPUID model, PAT, MISC_ENABLE, APIC base, DR6/DR7, TSC.
  reset_model_state(c, config_.cpu_model ? *config_.cpu_model : default_cpu_model());
  c.rflags = rf::FIXED1;
  c.cr0 = cr0::PE | cr0::ET;
  c.mxcsr = 0x1f80;
  c.x87.fcw = 0x37f;
  c.gdtr = DescriptorTableReg{0, 0xffff};
  c.idtr = DescriptorTableReg{0, 0x3ff};
  constexpr uint16_t kS = 0x10;
  const uint16_t code = 0xB | kS | seg_attr::P | seg_attr::DB | seg_attr::G;
  const uint16_t data = 0x3 | kS | seg_attr::P | seg_attr::DB | seg_attr::G;
  for (int s = 0; s < kNumSegRegs; ++s) c.seg[s] = SegmentCache{0, 0xffffffff, 0x10, data};
  c.seg[CS] = SegmentCache{0, 0xffffffff, 0x08, code};
  c.ldtr = SegmentCache{0, 0xffff, 0, 0x2 | seg_attr::P};
  c.tr = SegmentCache{0, 0xffff, 0, 0xB | seg_attr::P};
  port92_ = 0x02;
  update_cpu_mode(c);
  tlb_flush_all(c);
  engine_->flush();
}

bool PcMachine::boot(std::string* error) {
  if (kernel_image_.empty()) {
    std::ifstream in(config_.kernel, std::ios::binary);
    if (!in) {
      *error = "cannot read kernel '" + config_.kernel + "': " + std::strerror(errno);
      return false;
    }
    kernel_image_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (kernel_image_.empty()) {
      *error = "kernel '" + config_.kernel + "' is empty";
      return false;
    }
  }
  reset_cpu();
  reset_devices();
  if (is_bzimage(kernel_image_)) return boot_linux(error);
  if (!is_multiboot(kernel_image_)) {
    *error = "kernel '" + config_.kernel + "' is neither a Linux bzImage nor a multiboot v1 kernel";
    return false;
  }
  MultibootImage mb;
  if (!load_multiboot(memory_, kernel_image_, config_.cmdline, config_.modules, &mb, error))
    return false;
  CpuState& c = *cpu_;
  c.gpr[RAX] = kMultibootBootloaderMagic;
  c.gpr[RBX] = mb.info_addr;
  c.gpr[RSP] = 0x7000;  // undefined by the specification; somewhere harmless
  c.rip = mb.entry;
  return true;
}

uint64_t PcMachine::service_devices() {
  // Between slices the guest is not running, so device callbacks may raise interrupt lines
  // freely; the engine sees cpu.irq_line at its next block boundary.
  const uint64_t now = clock_.now_ns();
  timers_.run_expired(now);
  // Instruction time: exactly up to the next deadline, so runs are reproducible. Host time: up
  // to the next deadline at the speed the guest has been running (measured over the previous
  // slices), so a timer interrupt is late by about one block rather than a whole slice; a guest
  // that counts timer ticks (Linux's jiffies before it has a better clocksource) then keeps up
  // with the TSC.
  constexpr uint64_t kMaxSlice = 100'000, kMinSlice = 200;
  const uint64_t next = timers_.next_deadline();
  if (next == TimerQueue::kNever) return kMaxSlice;
  if (!clock_.deterministic()) {
    if (next <= now) return kMinSlice;
    const double insns = static_cast<double>(next - now) * insns_per_ns_;
    return std::clamp<uint64_t>(static_cast<uint64_t>(insns), kMinSlice, kMaxSlice);
  }
  const unsigned shift = *config_.icount_shift;
  const uint64_t ns = next > now ? next - now : 0;
  return std::max<uint64_t>(1, (ns + (uint64_t{1} << shift) - 1) >> shift);
}

bool PcMachine::wait_for_input(uint64_t timeout_ns) {
  const bool forever = timeout_ns == TimerQueue::kNever;
  if (console_ && console_->fd() >= 0) {
    // poll() takes milliseconds: round up so a short wait does not become a busy loop.
    const int ms =
        forever ? -1
                : static_cast<int>(std::min<uint64_t>((timeout_ns + 999'999) / 1'000'000, 1000));
    console_->poll(ms);
    return true;
  }
  if (forever) return false;
  timespec ts{static_cast<time_t>(timeout_ns / 1'000'000'000u),
              static_cast<long>(timeout_ns % 1'000'000'000u)};
  nanosleep(&ts, nullptr);
  return true;
}

bool PcMachine::wait_while_halted() {
  const uint64_t next = timers_.next_deadline();
  const uint64_t now = clock_.now_ns();
  if (next != TimerQueue::kNever && next <= now) return true;
  if (clock_.deterministic() && next != TimerQueue::kNever) {
    if (console_) console_->poll(0);
    clock_.skip_to(next);
    return true;
  }
  return wait_for_input(next == TimerQueue::kNever ? TimerQueue::kNever : next - now);
}

void PcMachine::flush_serial() {
  if (serial_buffer_.empty()) return;
  if (console_) {
    console_->write_serial(reinterpret_cast<const uint8_t*>(serial_buffer_.data()),
                           serial_buffer_.size());
  } else if (config_.serial_out) {
    std::fwrite(serial_buffer_.data(), 1, serial_buffer_.size(), config_.serial_out);
    std::fflush(config_.serial_out);
  }
  serial_buffer_.clear();
}

void PcMachine::stop() {
  paused_ = true;
  cpu_->exit_request |= kExitRequested;
}

void PcMachine::cont() {
  paused_ = false;
}

uint64_t PcMachine::step(uint64_t count) {
  const RunResult r = engine_->run(count);
  cpu_->exit_request &= ~kExitRequested;
  flush_serial();
  return r.insns;
}

void PcMachine::quit() {
  quit_requested_ = true;
  cpu_->exit_request |= kExitRequested;
}

int PcMachine::run() {
  CpuState& c = *cpu_;
  uint64_t budget = config_.max_insns;
  bool dead = false;  // halted with nothing that can wake it, kept alive for the monitor
  for (;;) {
    const uint64_t slice = std::min(budget, service_devices());
    if (console_) console_->poll(0);
    if (!serial_input_.empty()) feed_serial_input();
    if (quit_requested_) {
      flush_serial();
      std::fprintf(stderr, "umbra: quit\n");
      return 0;
    }
    if (paused_ || dead) {
      // Stopped by the monitor: only the console and the device timers run.
      const uint64_t next = timers_.next_deadline();
      const uint64_t now = clock_.now_ns();
      wait_for_input(next == TimerQueue::kNever || clock_.deterministic()
                         ? 50'000'000
                         : std::min<uint64_t>(next > now ? next - now : 0, 50'000'000));
      continue;
    }
    const uint64_t t0 = host_monotonic_ns();
    RunResult r = engine_->run(slice);
    const uint64_t t1 = host_monotonic_ns();
    // The guest's speed, smoothed; slices that ended early (HLT, I/O exits) say little.
    if (r.insns >= 1000 && t1 > t0)
      insns_per_ns_ = 0.75 * insns_per_ns_ + 0.25 * (static_cast<double>(r.insns) / (t1 - t0));
    c.exit_request &= ~kExitRequested;
    flush_serial();
    if (powered_off_) {
      std::fprintf(stderr, "umbra: the guest powered the machine off\n");
      return 0;
    }
    budget -= std::min(budget, r.insns);
    if (r.reason & kExitShutdown) {
      if (debug_exit_status_ >= 0) return debug_exit_status_;
      const bool triple = r.reason & kExitTripleFault;
      if (config_.no_reboot) {
        if (triple) {
          std::fprintf(stderr,
                       "umbra: triple fault (vector %u while delivering a double fault) at "
                       "rip=%#llx; -no-reboot: exiting\n",
                       r.vector, static_cast<unsigned long long>(c.rip));
          return 1;
        }
        std::fprintf(stderr, "umbra: guest reset; -no-reboot: exiting\n");
        return 0;
      }
      std::fprintf(stderr, "umbra: %s: resetting the machine\n",
                   triple ? "triple fault" : "guest requested a reset");
      reset_requested_ = false;
      ++resets_;
      c.exit_request = 0;
      std::string error;
      if (!boot(&error)) {
        std::fprintf(stderr, "umbra: %s\n", error.c_str());
        return 2;
      }
      continue;
    }
    if (r.reason & kExitHalt) {
      // An interrupt wakes a halted CPU only if IF = 1 (NMIs aside); with IF = 0, or with no
      // timer armed and no input that could raise one, it would wait forever: report and stop
      // (or, with the monitor on the console, stay for inspection).
      if ((c.rflags & rf::IF) && wait_while_halted()) continue;
      std::fprintf(stderr, "umbra: guest halted at rip=%#llx with %s; nothing can wake it\n",
                   static_cast<unsigned long long>(c.rip),
                   (c.rflags & rf::IF) ? "interrupts enabled" : "interrupts disabled");
      if (console_ && config_.console_monitor && console_->fd() >= 0) {
        dead = true;
        continue;
      }
      return 0;
    }
    if ((r.reason & kExitInsnLimit) && budget == 0) {
      std::fprintf(stderr, "umbra: instruction limit reached at rip=%#llx\n",
                   static_cast<unsigned long long>(c.rip));
      return 1;
    }
  }
}

}  // namespace umbra
