// Checks and the final verdict: every check prints one line; the kernel ends through
// isa-debug-exit with PASS (0x10) or FAIL (0x11).
#include "ksys.h"
#include "x86.h"

struct handoff report_state;
const char kernel_name[] = KERNEL_NAME;

void section(const char* title) {
  kprintf("--- %s\n", title);
}

NORETURN void debug_exit(uint8_t code) {
  outb(0xf4, code);
  // Without an exit device: stop here. HLT with IF clear never resumes.
  for (;;) __asm__ volatile("cli; hlt");
}

static void vformat_what(char* buf, size_t size, const char* what, va_list ap) {
  kvsnprintf(buf, size, what, ap);
}

int check_eq(uint64_t got, uint64_t expected, const char* what, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, what);
  vformat_what(buf, sizeof buf, what, ap);
  va_end(ap);
  report_state.checks++;
  if (got == expected) {
    kprintf("ok   %s\n", buf);
    return 1;
  }
  report_state.failures++;
  kprintf("FAIL %s: %s: expected 0x%llx got 0x%llx\n", kernel_name, buf,
          (unsigned long long)expected, (unsigned long long)got);
  return 0;
}

int check_true(int cond, const char* what, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, what);
  vformat_what(buf, sizeof buf, what, ap);
  va_end(ap);
  report_state.checks++;
  if (cond) {
    kprintf("ok   %s\n", buf);
    return 1;
  }
  report_state.failures++;
  kprintf("FAIL %s: %s\n", kernel_name, buf);
  return 0;
}

int check_eq_sdm(uint64_t got, uint64_t sdm_expected, uint64_t qemu_value, const char* what, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, what);
  vformat_what(buf, sizeof buf, what, ap);
  va_end(ap);
  report_state.checks++;
  if (got == sdm_expected) {
    kprintf("ok   %s\n", buf);
    return 1;
  }
  if (report_state.tolerate_qemu && got == qemu_value) {
    report_state.tolerated++;
    kprintf("deviation (known QEMU TCG behaviour, tolerated) %s: SDM says 0x%llx, got 0x%llx\n",
            buf, (unsigned long long)sdm_expected, (unsigned long long)got);
    return 1;
  }
  report_state.failures++;
  kprintf("FAIL %s: %s: expected 0x%llx got 0x%llx\n", kernel_name, buf,
          (unsigned long long)sdm_expected, (unsigned long long)got);
  return 0;
}

int check_true_sdm(int cond, const char* what, ...) {
  char buf[160];
  va_list ap;
  va_start(ap, what);
  vformat_what(buf, sizeof buf, what, ap);
  va_end(ap);
  report_state.checks++;
  if (cond) {
    kprintf("ok   %s\n", buf);
    return 1;
  }
  if (report_state.tolerate_qemu) {
    report_state.tolerated++;
    kprintf("deviation (known QEMU TCG behaviour, tolerated) %s\n", buf);
    return 1;
  }
  report_state.failures++;
  kprintf("FAIL %s: %s\n", kernel_name, buf);
  return 0;
}

NORETURN void report_finish(void) {
  if (report_state.failures == 0 && report_state.checks > 0) {
    kprintf("PASS %s (%u checks", kernel_name, report_state.checks);
    if (report_state.tolerated)
      kprintf(", %u known QEMU deviations tolerated", report_state.tolerated);
    kprintf(")\n");
    debug_exit(DEBUG_EXIT_PASS);
  }
  kprintf("FAIL %s: %u of %u checks failed\n", kernel_name, report_state.failures,
          report_state.checks);
  debug_exit(DEBUG_EXIT_FAIL);
}

NORETURN void fatal(const char* fmt, ...) {
  kprintf("FAIL %s: ", kernel_name);
  va_list ap;
  va_start(ap, fmt);
  kvprintf(fmt, ap);
  va_end(ap);
  kprintf("\n");
  debug_exit(DEBUG_EXIT_FAIL);
}

void report_parse_cmdline(const char* cmdline) {
  // Copy at most 255 bytes: a bad pointer from a broken loader must not send us scanning.
  char line[256];
  size_t n = 0;
  while (cmdline && n + 1 < sizeof line && cmdline[n]) {
    line[n] = cmdline[n];
    ++n;
  }
  line[n] = 0;
  if (n) kprintf("command line: %s\n", line);
  if (strstr_k(line, "tolerate=qemu-tcg")) {
    report_state.tolerate_qemu = 1;
    kprintf("command line asks to tolerate known QEMU TCG deviations from the SDM\n");
  }
}
