// The bundled demo (scripts/run): an integer-only Mandelbrot set drawn in ASCII, a prime sieve
// and a CRC-32, printed on the debug console. Exercises the integer ISA: arithmetic, shifts,
// multiplies, divides, branches, calls, string stores and byte loads.
#include "guest.h"

static uint8_t sieve[1 << 20];

static void mandelbrot(void) {
  const char* shades = " .:-=+*#%@";
  for (int y = -12; y <= 12; ++y) {
    for (int x = -39; x <= 20; ++x) {
      // Fixed point with 12 fractional bits: c = (x/20, y/10)
      int64_t cr = (int64_t)x * 4096 / 20, ci = (int64_t)y * 4096 / 10;
      int64_t zr = 0, zi = 0;
      int i = 0;
      while (i < 64 && zr * zr + zi * zi < ((int64_t)4 << 24)) {
        int64_t t = ((zr * zr - zi * zi) >> 12) + cr;
        zi = ((2 * zr * zi) >> 12) + ci;
        zr = t;
        ++i;
      }
      putc_dbg(shades[i >= 64 ? 9 : i % 9]);
    }
    putc_dbg('\n');
  }
}

static uint32_t count_primes(uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) sieve[i] = 1;
  sieve[0] = sieve[1] = 0;
  for (uint32_t i = 2; (uint64_t)i * i < n; ++i)
    if (sieve[i])
      for (uint32_t j = i * i; j < n; j += i) sieve[j] = 0;
  uint32_t count = 0;
  for (uint32_t i = 0; i < n; ++i) count += sieve[i];
  return count;
}

static uint32_t crc32(const uint8_t* p, uint64_t n) {
  uint32_t crc = 0xffffffffu;
  while (n--) {
    crc ^= *p++;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
  }
  return ~crc;
}

int main(void) {
  puts_dbg("Umbra bare-metal demo (64-bit, tier 0)\n\n");
  mandelbrot();
  puts_dbg("\nprimes below 1048576: ");
  putu_dbg(count_primes(1u << 20));
  puts_dbg("\ncrc32(\"123456789\"): ");
  puthex_dbg(crc32((const uint8_t*)"123456789", 9));
  puts_dbg("\n");
  return 0;
}
