// Minimal runtime for bare-metal guest programs (freestanding, no libc).
#pragma once

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }

static inline void putc_dbg(char c) { outb(0xe9, (uint8_t)c); }
static inline void puts_dbg(const char* s) {
  while (*s) putc_dbg(*s++);
}
static inline void putu_dbg(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) putc_dbg(buf[--n]);
}
static inline void puthex_dbg(uint64_t v) {
  puts_dbg("0x");
  for (int i = 60; i >= 0; i -= 4) putc_dbg("0123456789abcdef"[(v >> i) & 15]);
}
// isa-debug-exit (when the machine has one at 0xf4): ends the emulator with status (v<<1)|1.
static inline void debug_exit(uint8_t v) { outb(0xf4, v); }
