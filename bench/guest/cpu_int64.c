// jit_bench "cpu": the CPU-bound integer mix of workloads.h (sha256, crc32, a small sieve,
// multiply/divide chains) as a bare-metal 64-bit guest. Command line: iters=N (default 100).
// Prints "jit_bench cpu iters=N result=HEX"; bench/jit_bench.sh compares HEX with the host's.
#include "bench_param.h"
#include "cpu64.h"
#include "workloads.h"

static struct cpu_scratch scratch;

// Known answers first, so a kernel whose building blocks are wrong fails on its own too.
static void self_test(void) {
  static const uint8_t zeros[64];
  static const uint32_t sha256_of_64_zero_bytes[8] = {0xf5a5fd42, 0xd16a2030, 0x2798ef6e,
                                                      0xd309979b, 0x43003d23, 0x20d9f0e8,
                                                      0xea9831a9, 0x2759fb4b};
  uint32_t h[8];
  bench_sha256(zeros, sizeof zeros, h);
  unsigned same = 0;
  for (int i = 0; i < 8; ++i) same += h[i] == sha256_of_64_zero_bytes[i];
  check_eq(same, 8, "sha256 of 64 zero bytes");
  bench_crc32_init(scratch.crc_table);
  check_eq(bench_crc32(scratch.crc_table, (const uint8_t*)"123456789", 9), 0xCBF43926,
           "crc32 of \"123456789\"");
  check_eq(bench_sieve(scratch.sieve, 10000), 1229, "primes below 10000");
}

void kmain64(void) {
  self_test();
  const unsigned long iters = bench_param("iters", 100);
  const uint64_t result = cpu_work(&scratch, iters);
  kprintf("jit_bench cpu iters=%lu result=%016llx\n", iters, (unsigned long long)result);
  report_finish();
}
