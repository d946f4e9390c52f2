// jit_bench_native: runs one workload of workloads.h on the host and prints the same result line
// as the guest kernel plus the CPU seconds of the workload alone (bench/jit_bench.sh).
//
//   jit_bench_native cpu ITERATIONS | mem PASSES
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native_work.h"
#include "workloads.h"

static double cpu_seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "cpu") != 0 && strcmp(argv[1], "mem") != 0)) {
    fprintf(stderr, "usage: %s cpu ITERATIONS | mem PASSES\n", argv[0]);
    return 2;
  }
  const uint64_t n = strtoull(argv[2], NULL, 10);
  uint64_t result;
  double t0;
  if (strcmp(argv[1], "cpu") == 0) {
    static struct cpu_scratch scratch;
    t0 = cpu_seconds();
    result = native_cpu_work(&scratch, n);
    printf("jit_bench cpu iters=%" PRIu64 " result=%016" PRIx64 "\n", n, result);
  } else {
    uint8_t* a = malloc(MEM_SIEVE_BYTES);
    if (!a) return 1;
    t0 = cpu_seconds();
    result = native_mem_work(a, n);
    printf("jit_bench mem passes=%" PRIu64 " result=%016" PRIx64 "\n", n, result);
    free(a);
  }
  printf("cpu_seconds %.6f\n", cpu_seconds() - t0);
  return 0;
}
