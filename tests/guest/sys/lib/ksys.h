// Freestanding runtime shared by the system test kernels (tests/guest/sys). The same sources are
// compiled for the 32-bit part (-m32) and for the 64-bit part (-m64) of a kernel.
#pragma once

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define NORETURN __attribute__((noreturn))
#define ALIGNED(n) __attribute__((aligned(n)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

// ---- COM1 output (port 0x3f8; polls LSR bit 5 "THR empty") ----
void serial_putc(char c);
void serial_puts(const char* s);
int kvprintf(const char* fmt, va_list ap);
// %s %c %d %u %x %p, with optional '0' and a width, and l / ll length modifiers.
int kprintf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
int kvsnprintf(char* buf, size_t size, const char* fmt, va_list ap);
int ksnprintf(char* buf, size_t size, const char* fmt, ...) __attribute__((format(printf, 3, 4)));

// ---- checks and the verdict ----
// State handed from the 32-bit part of a kernel to its 64-bit part (pointer in EDI/RDI), so the
// final verdict covers both.
struct handoff {
  uint32_t checks;
  uint32_t failures;
  uint32_t tolerated;
  uint32_t tolerate_qemu;  // the multiboot command line asked to tolerate known QEMU deviations
  uint32_t multiboot_info;
};

extern const char kernel_name[];
extern struct handoff report_state;

// Records one check; prints "ok ..." or "FAIL <kernel>: ... expected X got Y". Returns 1 if it
// passed. `what` is a printf format.
int check_eq(uint64_t got, uint64_t expected, const char* what, ...)
    __attribute__((format(printf, 3, 4)));
int check_true(int cond, const char* what, ...) __attribute__((format(printf, 2, 3)));
// A check where QEMU TCG is known to deviate from the Intel SDM. The SDM value is what is
// checked; when the runner told the kernel it runs on QEMU (command line "tolerate=qemu-tcg"),
// a mismatch equal to `qemu_value` is printed as "deviation" and not counted as a failure.
int check_eq_sdm(uint64_t got, uint64_t sdm_expected, uint64_t qemu_value, const char* what, ...)
    __attribute__((format(printf, 4, 5)));
// The same for a predicate: on QEMU (see above) a false `cond` is tolerated as a deviation.
int check_true_sdm(int cond, const char* what, ...) __attribute__((format(printf, 2, 3)));
// Prints "PASS <kernel>" or "FAIL <kernel>: ..." and leaves through isa-debug-exit.
NORETURN void report_finish(void);
// Unrecoverable problem: prints "FAIL <kernel>: <message>" and exits with failure.
NORETURN void fatal(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// isa-debug-exit at 0xf4: the emulator exits with status (code << 1) | 1.
NORETURN void debug_exit(uint8_t code);
// Parses the multiboot command line (32-bit side only).
void report_parse_cmdline(const char* cmdline);
void section(const char* title);

// ---- string helpers the compiler may call ----
void* memset(void* d, int c, size_t n);
void* memcpy(void* d, const void* s, size_t n);
void* memmove(void* d, const void* s, size_t n);
int memcmp(const void* a, const void* b, size_t n);
size_t strlen(const char* s);
const char* strstr_k(const char* hay, const char* needle);

enum { DEBUG_EXIT_PASS = 0x10, DEBUG_EXIT_FAIL = 0x11 };
