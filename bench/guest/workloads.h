// The benchmark workloads of bench/jit_bench.sh (docs/bench.md, "tier 1 vs QEMU"), as plain C
// with no library calls, so the same source runs as a bare-metal guest kernel (cpu_int64.c,
// mem_sieve64.c) and natively on the host (native.c). Every function returns a value the caller
// prints and the script compares across runs: a wrong emulation cannot report a time.
#pragma once

#include <stddef.h>
#include <stdint.h>

// ---- CPU-bound mix: sha256 of a buffer, crc32, a small sieve, multiply/divide chains ----

#define CPU_BUF_BYTES 4096
#define CPU_SIEVE_BYTES 16384

struct cpu_scratch {
  uint8_t buf[CPU_BUF_BYTES];
  uint8_t sieve[CPU_SIEVE_BYTES];
  uint32_t crc_table[256];
};

static inline uint32_t bench_ror32(uint32_t x, unsigned n) {
  return (x >> n) | (x << (32 - n));
}

static inline uint64_t bench_xorshift64(uint64_t* s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

// SHA-256 (FIPS 180-4) of a buffer whose length is a multiple of 64 bytes; the padding block is
// processed as well, so the digest is the standard one.
static inline void bench_sha256_block(uint32_t h[8], const uint8_t* p) {
  static const uint32_t k[64] = {
      0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
      0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
      0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
      0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
      0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
      0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
      0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
      0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
      0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
      0xc67178f2};
  uint32_t w[64];
  for (int i = 0; i < 16; ++i)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 64; ++i) {
    const uint32_t s0 = bench_ror32(w[i - 15], 7) ^ bench_ror32(w[i - 15], 18) ^ (w[i - 15] >> 3);
    const uint32_t s1 = bench_ror32(w[i - 2], 17) ^ bench_ror32(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int i = 0; i < 64; ++i) {
    const uint32_t t1 = hh + (bench_ror32(e, 6) ^ bench_ror32(e, 11) ^ bench_ror32(e, 25)) +
                        ((e & f) ^ (~e & g)) + k[i] + w[i];
    const uint32_t t2 = (bench_ror32(a, 2) ^ bench_ror32(a, 13) ^ bench_ror32(a, 22)) +
                        ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static inline void bench_sha256(const uint8_t* data, size_t len, uint32_t h[8]) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  for (int i = 0; i < 8; ++i) h[i] = iv[i];
  for (size_t off = 0; off < len; off += 64) bench_sha256_block(h, data + off);
  uint8_t pad[64] = {0x80};
  const uint64_t bits = (uint64_t)len * 8;
  for (int i = 0; i < 8; ++i) pad[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
  bench_sha256_block(h, pad);
}

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), table driven.
static inline void bench_crc32_init(uint32_t table[256]) {
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    table[i] = c;
  }
}

static inline uint32_t bench_crc32(const uint32_t table[256], const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Sieve of Eratosthenes over a[0..n), one byte per number; returns the count of primes < n.
static inline uint64_t bench_sieve(uint8_t* a, uint64_t n) {
  for (uint64_t i = 0; i < n; ++i) a[i] = 1;
  a[0] = 0;
  if (n > 1) a[1] = 0;
  for (uint64_t p = 2; p * p < n; ++p)
    if (a[p])
      for (uint64_t m = p * p; m < n; m += p) a[m] = 0;
  uint64_t count = 0;
  for (uint64_t i = 0; i < n; ++i) count += a[i];
  return count;
}

// Dependent chains of 64-bit multiplies, divides and remainders (DIV/IMUL latency bound).
static inline uint64_t bench_muldiv(uint64_t x, unsigned rounds) {
  uint64_t acc = 0;
  for (unsigned j = 0; j < rounds; ++j) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const uint64_t d = (x >> 40) | 3;
    acc += x / d;
    acc ^= (acc % (j + 7)) << (j & 31);
  }
  return acc;
}

// One iteration: fill the buffer from the running hash, digest it three ways, mix everything in.
static inline uint64_t cpu_work(struct cpu_scratch* s, uint64_t iterations) {
  uint64_t h = 0x243F6A8885A308D3ull;
  bench_crc32_init(s->crc_table);
  for (uint64_t it = 0; it < iterations; ++it) {
    uint64_t seed = h | 1;
    for (size_t i = 0; i < CPU_BUF_BYTES; i += 8) {
      const uint64_t v = bench_xorshift64(&seed);
      for (int b = 0; b < 8; ++b) s->buf[i + b] = (uint8_t)(v >> (8 * b));
    }
    uint32_t digest[8];
    bench_sha256(s->buf, CPU_BUF_BYTES, digest);
    for (int i = 0; i < 8; ++i) h = (h ^ digest[i]) * 0x100000001B3ull;
    h += bench_crc32(s->crc_table, s->buf, CPU_BUF_BYTES);
    h ^= bench_sieve(s->sieve, CPU_SIEVE_BYTES - (h & 4095)) << 7;
    h += bench_muldiv(h, 512);
  }
  return h;
}

// ---- memory-bound: the sieve over a large array (the guest maps it with 4-KiB pages) ----

#define MEM_SIEVE_BYTES 100000000ull  // the numbers below 10^8
#define MEM_SIEVE_PRIMES 5761455ull   // pi(10^8)

// PASSES complete sieves of the whole array; returns the prime count of each pass summed with
// the pass number mixed in, so a pass that went wrong changes the result.
static inline uint64_t mem_work(uint8_t* a, uint64_t passes) {
  uint64_t result = 0;
  for (uint64_t pass = 0; pass < passes; ++pass)
    result = result * 31 + bench_sieve(a, MEM_SIEVE_BYTES);
  return result;
}
