// Host entry points to the benchmark workloads (native_work.c).
#pragma once

#include <stdint.h>

struct cpu_scratch;
uint64_t native_cpu_work(struct cpu_scratch* s, uint64_t iterations);
uint64_t native_mem_work(uint8_t* a, uint64_t passes);
