// The workloads of workloads.h compiled for the host with the guest kernels' code generation
// options (general registers only, no library calls), for bench/jit_bench.sh's native column.
#include "native_work.h"

#include "workloads.h"

uint64_t native_cpu_work(struct cpu_scratch* s, uint64_t iterations) {
  return cpu_work(s, iterations);
}

uint64_t native_mem_work(uint8_t* a, uint64_t passes) {
  return mem_work(a, passes);
}
