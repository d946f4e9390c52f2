// The native child: maps the fixed pages, installs the fault handler, locks itself down with
// seccomp strict mode (read, write, exit and sigreturn only) and then runs batches of cases.
// Strict mode also disables the time-stamp counter for the task (Linux sets CR4.TSD while it
// runs), so RDTSC and RDTSCP raise #GP(0) here; the host profile (host_profile.h) sees that and
// Umbra runs with CR4.TSD set too.
//
// A case ends when the CPU raises an exception: the HLT of the sled (#GP at CPL 3) or any
// fault of the sequence. The kernel turns it into a signal (#DE SIGFPE, #UD SIGILL, #GP/#PF
// SIGSEGV, #AC/#SS SIGBUS, #DB/#BP SIGTRAP) whose ucontext holds every register, RIP, RFLAGS,
// the trap number, the hardware error code and CR2.
#include <asm/ldt.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "native_shared.h"

extern "C" {
void difftest_enter(const difftest::RegFile* regs, const void* fx);
void difftest_resume();
void difftest_capture_segments(difftest::RegFile* out);
extern uint64_t difftest_saved_rsp;
extern volatile uint8_t difftest_in_test;
extern uint8_t difftest_fsgsbase;
extern uint16_t difftest_harness_sel[6];
extern uint64_t difftest_harness_fs_base;
extern uint64_t difftest_harness_gs_base;
}

namespace difftest {

namespace {

CaseOutput* g_out = nullptr;
alignas(16) uint8_t g_altstack[64 * 1024];

[[noreturn]] void raw_exit(int code) {
  syscall(SYS_exit, code);  // exit, not exit_group: the only exit seccomp strict mode allows
  __builtin_unreachable();
}

// The interrupted code's FPU/SIMD state is in the signal frame (the kernel saves it with XSAVE;
// its first 512 bytes are the FXSAVE64 image). It is copied out, and the frame's copy is then
// reset to a clean state (FNINIT's control and status, all registers empty, MXCSR 1F80H) so
// that sigreturn gives the harness an FPU without pending exceptions or unmasked MXCSR bits.
void capture_fp_state(ucontext_t* uc) {
  auto* fp = reinterpret_cast<uint8_t*>(uc->uc_mcontext.fpregs);
  if (!fp) {
    std::memset(g_out->fx, 0, kFxSize);
    return;
  }
  std::memcpy(g_out->fx, fp, kFxSize);
  const uint16_t fcw = 0x37f;
  const uint32_t mxcsr = 0x1f80;
  std::memset(fp, 0, 24);
  std::memcpy(fp + fx::kFcw, &fcw, 2);
  std::memcpy(fp + fx::kMxcsr, &mxcsr, 4);
}

void on_exception(int, siginfo_t*, void* ctx) {
  // The kernel enters a handler with the interrupted code's AC flag (it clears only DF, TF and
  // RF), and Linux runs user code with CR0.AM set: a POPF that set AC would turn any misaligned
  // access of this handler into #AC. Clear it first.
  asm volatile("pushfq; andq %0, (%%rsp); popfq" : : "i"(~(1l << 18)) : "memory", "cc");
  auto* uc = static_cast<ucontext_t*>(ctx);
  greg_t* g = uc->uc_mcontext.gregs;
  if (!difftest_in_test) {
    // A fault in the harness itself: die, the parent reports it and restarts us.
    raw_exit(101);
  }
  difftest_in_test = 0;
  RegFile& r = g_out->regs;
  // First the segment state (a test may have loaded FS/GS or written their bases; the
  // harness's FS base is its thread pointer), then everything else.
  difftest_capture_segments(&r);
  const uint64_t csgsfs = static_cast<uint64_t>(g[REG_CSGSFS]);
  r.seg[kCS] = static_cast<uint16_t>(csgsfs);
  r.seg[kSS] = static_cast<uint16_t>(csgsfs >> 48);  // saved by the kernel (UC_SIGCONTEXT_SS)
  g_out->flags = difftest_fsgsbase ? kOutBasesValid : 0;
  // CS.L of the interrupted code, from its descriptor (a DPL-3 code segment: LAR sees it).
  uint64_t rights = 0;
  asm volatile("lar %1, %0" : "+r"(rights) : "r"(uint64_t{r.seg[kCS]}) : "cc");
  if (!(rights & (1u << 21))) g_out->flags |= kOutNot64;
  r.gpr[0] = static_cast<uint64_t>(g[REG_RAX]);
  r.gpr[1] = static_cast<uint64_t>(g[REG_RCX]);
  r.gpr[2] = static_cast<uint64_t>(g[REG_RDX]);
  r.gpr[3] = static_cast<uint64_t>(g[REG_RBX]);
  r.gpr[4] = static_cast<uint64_t>(g[REG_RSP]);
  r.gpr[5] = static_cast<uint64_t>(g[REG_RBP]);
  r.gpr[6] = static_cast<uint64_t>(g[REG_RSI]);
  r.gpr[7] = static_cast<uint64_t>(g[REG_RDI]);
  r.gpr[8] = static_cast<uint64_t>(g[REG_R8]);
  r.gpr[9] = static_cast<uint64_t>(g[REG_R9]);
  r.gpr[10] = static_cast<uint64_t>(g[REG_R10]);
  r.gpr[11] = static_cast<uint64_t>(g[REG_R11]);
  r.gpr[12] = static_cast<uint64_t>(g[REG_R12]);
  r.gpr[13] = static_cast<uint64_t>(g[REG_R13]);
  r.gpr[14] = static_cast<uint64_t>(g[REG_R14]);
  r.gpr[15] = static_cast<uint64_t>(g[REG_R15]);
  r.rip = static_cast<uint64_t>(g[REG_RIP]);
  r.rflags = static_cast<uint64_t>(g[REG_EFL]);
  g_out->vector = static_cast<uint32_t>(g[REG_TRAPNO]);
  g_out->error_code = static_cast<uint32_t>(g[REG_ERR]);
  g_out->fault_addr = static_cast<uint64_t>(g[REG_CR2]);
  g_out->status = RunStatus::kOk;
  capture_fp_state(uc);
  // Continue in the harness: difftest_resume restores its registers from the saved stack.
  // A test may have loaded SS with another valid selector (an LDT data segment with --ldt) or
  // left 64-bit mode through a far transfer: the harness continues with its own CS and SS,
  // which sigreturn restores from the ucontext.
  g[REG_CSGSFS] =
      static_cast<greg_t>((csgsfs & ~(uint64_t{0xffff} << 48) & ~uint64_t{0xffff}) |
                          (uint64_t{difftest_harness_sel[kSS]} << 48) | difftest_harness_sel[kCS]);
  g[REG_RIP] = reinterpret_cast<greg_t>(&difftest_resume);
  g[REG_RSP] = static_cast<greg_t>(difftest_saved_rsp);
  g[REG_EFL] = 0x202;  // IF, DF=0 as the ABI requires, no TF/AC
}

[[noreturn]] void setup_failed(int ack_fd, uint32_t step) {
  const uint32_t msg[3] = {kChildSetupFailed, static_cast<uint32_t>(errno), step};
  if (write(ack_fd, msg, sizeof msg) < 0) raw_exit(102);
  raw_exit(102);
}

// Pins the child to one CPU, the lowest it may run on, so that what depends on the CPU is the
// same in every run and after a restart: LSL of Linux's per-CPU segment (GDT entry 15, whose
// limit encodes the CPU and node number, read by getcpu()) and RDTSCP's TSC_AUX.
void pin_to_one_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    sched_setaffinity(0, sizeof one, &one);
    return;
  }
}

// With --ldt the child gets a local descriptor table (modify_ldt, before seccomp) holding the
// kinds of user descriptor Linux's GDT has none of, so that segment loads, LAR, LSL, VERR and
// VERW meet them through TI = 1 selectors (index i: selector i*8 + 4 + RPL):
//   0 flat 32-bit read/write data         1 read-only expand-down data, base 0x1000, limit 0xfff
//   2 execute-only 32-bit code (4 KiB)    3 readable 32-bit code, base 0x2000
//   4 not-present 16-bit data (#NP)       5 not-present conforming readable code
//   6 64-bit code                         7 16-bit read/write data, base 0x3000, limit 0xffff
// Linux may refuse some (then the entry stays empty); the host profile finds what is there with
// LAR/LSL like every other descriptor, and Umbra's LDT mirrors that.
void install_ldt() {
  struct Entry {
    unsigned base, limit, seg_32bit, contents, read_exec_only, limit_in_pages, not_present, lm;
  };
  static constexpr Entry kEntries[] = {
      {0, 0xfffff, 1, 0, 0, 1, 0, 0},         {0x1000, 0xfff, 1, 1, 1, 0, 0, 0},
      {0, 0xfffff, 1, 2, 1, 1, 0, 0},         {0x2000, 0xfffff, 1, 2, 0, 1, 0, 0},
      {0x12345678, 0x1234, 0, 0, 0, 0, 1, 0}, {0, 0xfffff, 1, 3, 0, 1, 1, 0},
      {0, 0xfffff, 0, 2, 0, 1, 0, 1},         {0x3000, 0xffff, 0, 0, 0, 0, 0, 0},
  };
  for (unsigned i = 0; i < sizeof kEntries / sizeof kEntries[0]; ++i) {
    const Entry& e = kEntries[i];
    user_desc d{};
    d.entry_number = i;
    d.base_addr = e.base;
    d.limit = e.limit;
    d.seg_32bit = e.seg_32bit;
    d.contents = e.contents;
    d.read_exec_only = e.read_exec_only;
    d.limit_in_pages = e.limit_in_pages;
    d.seg_not_present = e.not_present;
    d.lm = e.lm;
    syscall(SYS_modify_ldt, 1, &d, sizeof d);
  }
}

// The harness's own segment state, which difftest_capture_segments() restores after each case.
// WRFSBASE/WRGSBASE are usable at CPL 3 when the kernel set CR4.FSGSBASE, which it reports with
// HWCAP2_FSGSBASE (bit 1 of AT_HWCAP2).
void save_harness_segments() {
  difftest_fsgsbase = (getauxval(AT_HWCAP2) & 2) != 0;
  uint16_t s;
  asm volatile("mov %%es, %0" : "=r"(s));
  difftest_harness_sel[kES] = s;
  asm volatile("mov %%ss, %0" : "=r"(s));
  difftest_harness_sel[kSS] = s;
  asm volatile("mov %%cs, %0" : "=r"(s));
  difftest_harness_sel[kCS] = s;
  asm volatile("mov %%ds, %0" : "=r"(s));
  difftest_harness_sel[kDS] = s;
  asm volatile("mov %%fs, %0" : "=r"(s));
  difftest_harness_sel[kFS] = s;
  asm volatile("mov %%gs, %0" : "=r"(s));
  difftest_harness_sel[kGS] = s;
  if (difftest_fsgsbase) {
    asm volatile("rdfsbase %0" : "=r"(difftest_harness_fs_base));
    asm volatile("rdgsbase %0" : "=r"(difftest_harness_gs_base));
  }
}

}  // namespace

void native_child_main(NativeShared* shared, int cmd_fd, int ack_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  pin_to_one_cpu();
  if (shared->options & kChildLdt) install_ldt();
  save_harness_segments();

  // Code page: one memfd mapped twice, read+execute at the fixed address and read+write at
  // a harness address, so the test code cannot write it but the harness can.
  const int code_fd = static_cast<int>(syscall(SYS_memfd_create, "difftest-code", 0u));
  if (code_fd < 0 || ftruncate(code_fd, kCodeSize) != 0) setup_failed(ack_fd, 1);
  void* code = mmap(reinterpret_cast<void*>(kCodeBase), kCodeSize, PROT_READ | PROT_EXEC,
                    MAP_SHARED | MAP_FIXED_NOREPLACE, code_fd, 0);
  if (code != reinterpret_cast<void*>(kCodeBase)) setup_failed(ack_fd, 2);
  void* code_rw = mmap(nullptr, kCodeSize, PROT_READ | PROT_WRITE, MAP_SHARED, code_fd, 0);
  if (code_rw == MAP_FAILED) setup_failed(ack_fd, 3);
  void* data = mmap(reinterpret_cast<void*>(kDataBase), kDataSize, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  if (data != reinterpret_cast<void*>(kDataBase)) setup_failed(ack_fd, 4);

  stack_t ss{};
  ss.ss_sp = g_altstack;
  ss.ss_size = sizeof g_altstack;
  if (sigaltstack(&ss, nullptr) != 0) setup_failed(ack_fd, 5);
  struct sigaction sa {};
  sa.sa_sigaction = on_exception;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP})
    if (sigaction(sig, &sa, nullptr) != 0) setup_failed(ack_fd, 6);

  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0) setup_failed(ack_fd, 7);
  const uint32_t ready = kChildReady;
  if (write(ack_fd, &ready, sizeof ready) != sizeof ready) raw_exit(103);

  CaseInput* in = shared_inputs(shared);
  CaseOutput* out = shared_outputs(shared);
  for (;;) {
    uint32_t cmd[2];
    if (read(cmd_fd, cmd, sizeof cmd) != sizeof cmd) raw_exit(0);
    for (uint32_t i = cmd[0]; i < cmd[1] && i < shared->capacity; ++i) {
      shared->progress = i;
      std::memcpy(code_rw, in[i].code, kCodeSize);
      std::memcpy(data, in[i].data, kDataSize);
      g_out = &out[i];
      g_out->status = RunStatus::kChildCrashed;  // overwritten by the handler
      difftest_enter(&in[i].regs, in[i].fx);
      std::memcpy(out[i].data, data, kDataSize);
    }
    if (write(ack_fd, &cmd[1], sizeof cmd[1]) != sizeof cmd[1]) raw_exit(104);
  }
}

}  // namespace difftest
