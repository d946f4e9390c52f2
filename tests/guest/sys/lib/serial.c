// COM1 output and a small printf. Works in both parts: only port I/O, no state.
#include "ksys.h"
#include "x86.h"

#define COM1 0x3f8
#define COM1_LSR (COM1 + 5)
#define LSR_THR_EMPTY 0x20

void serial_putc(char c) {
  if (c == '\n') serial_putc('\r');
  // Bounded wait: a missing UART must not hang the kernel (the exit port still reports).
  for (int i = 0; i < 100000 && !(inb(COM1_LSR) & LSR_THR_EMPTY); ++i) {
  }
  outb(COM1, (uint8_t)c);
}

void serial_puts(const char* s) {
  while (*s) serial_putc(*s++);
}

// Output sink for the formatter: either the serial port or a bounded buffer.
struct sink {
  char* buf;
  size_t size, len;
};

static void sink_put(struct sink* s, char c) {
  if (s->buf) {
    if (s->len + 1 < s->size) s->buf[s->len] = c;
  } else {
    serial_putc(c);
  }
  s->len++;
}

// Unsigned 64-bit division by a small base without libgcc (the 32-bit part has no __udivdi3).
static unsigned div_small(uint64_t* v, unsigned base) {
  uint64_t q = 0, r = 0;
  for (int i = 63; i >= 0; --i) {
    r = (r << 1) | ((*v >> i) & 1);
    if (r >= base) {
      r -= base;
      q |= (uint64_t)1 << i;
    }
  }
  *v = q;
  return (unsigned)r;
}

static void put_number(struct sink* s, uint64_t v, unsigned base, int width, char pad, int neg) {
  char tmp[24];
  int n = 0;
  do {
    tmp[n++] = "0123456789abcdef"[div_small(&v, base)];
  } while (v);
  if (neg) tmp[n++] = '-';
  while (width-- > n) sink_put(s, pad);
  while (n) sink_put(s, tmp[--n]);
}

static int format(struct sink* s, const char* fmt, va_list ap) {
  for (; *fmt; ++fmt) {
    if (*fmt != '%') {
      sink_put(s, *fmt);
      continue;
    }
    ++fmt;
    char pad = ' ';
    int width = 0, longs = 0;
    if (*fmt == '0') pad = '0', ++fmt;
    while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
    while (*fmt == 'l') ++longs, ++fmt;
    uint64_t u;
    int64_t d;
    switch (*fmt) {
      case 'd':
        d = longs == 2 ? va_arg(ap, long long) : longs ? va_arg(ap, long) : va_arg(ap, int);
        put_number(s, d < 0 ? -(uint64_t)d : (uint64_t)d, 10, width, pad, d < 0);
        break;
      case 'u':
      case 'x':
        u = longs == 2 ? va_arg(ap, unsigned long long)
            : longs    ? va_arg(ap, unsigned long)
                       : va_arg(ap, unsigned);
        put_number(s, u, *fmt == 'u' ? 10 : 16, width, pad, 0);
        break;
      case 'p':
        sink_put(s, '0');
        sink_put(s, 'x');
        put_number(s, (uintptr_t)va_arg(ap, void*), 16, width, pad, 0);
        break;
      case 's': {
        const char* str = va_arg(ap, const char*);
        if (!str) str = "(null)";
        while (*str) sink_put(s, *str++);
        break;
      }
      case 'c':
        sink_put(s, (char)va_arg(ap, int));
        break;
      case '%':
        sink_put(s, '%');
        break;
      default:
        sink_put(s, '?');
        break;
    }
  }
  return (int)s->len;
}

int kvprintf(const char* fmt, va_list ap) {
  struct sink s = {0, 0, 0};
  return format(&s, fmt, ap);
}

int kprintf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = kvprintf(fmt, ap);
  va_end(ap);
  return n;
}

int kvsnprintf(char* buf, size_t size, const char* fmt, va_list ap) {
  struct sink s = {buf, size, 0};
  format(&s, fmt, ap);
  if (size) buf[s.len < size ? s.len : size - 1] = 0;
  return (int)s.len;
}

int ksnprintf(char* buf, size_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = kvsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}
