// jit_bench "mem": the sieve of Eratosthenes over 100 MB (workloads.h, MEM_SIEVE_BYTES) mapped
// with 4-KiB pages under 4-level paging, so every access goes through the TLB and the strided
// marking of large primes touches a new page on almost every store. Needs 256 MiB of RAM.
// Command line: passes=N (default 1). Prints "jit_bench mem passes=N result=HEX".
#include "bench_param.h"
#include "cpu64.h"
#include "workloads.h"
#include "x86.h"

// Not identity mapped: PML4 entry 1 (the library's identity map of the first GiB is entry 0).
#define SIEVE_VA 0x0000008000000000ull
#define SIEVE_PA 0x2000000ull   // 32 MiB .. 32 MiB + 100 MB
#define TABLES_PA SCRATCH_BASE  // 16 MiB: the PDPT, the PD and the page tables
#define SIEVE_PAGES ((MEM_SIEVE_BYTES + 4095) / 4096)

static uint64_t* table(unsigned index) {
  uint64_t* t = (uint64_t*)(TABLES_PA + (uint64_t)index * 4096);
  memset(t, 0, 4096);
  return t;
}

// PDPT -> one PD -> SIEVE_PAGES / 512 page tables of 4-KiB leaves (SDM Vol. 3A, 4.5).
static void map_sieve(void) {
  uint64_t* pdpt = table(0);
  uint64_t* pd = table(1);
  pdpt[0] = (uint64_t)pd | PTE_RW | PTE_P;
  for (uint64_t page = 0; page < SIEVE_PAGES; ++page) {
    const uint64_t pde = page / 512;
    if (pde >= 512) fatal("sieve larger than one page directory");
    if (!(pd[pde] & PTE_P)) pd[pde] = (uint64_t)table(2 + (unsigned)pde) | PTE_RW | PTE_P;
    uint64_t* pt = (uint64_t*)(pd[pde] & PTE_ADDR);
    pt[page % 512] = (SIEVE_PA + page * 4096) | PTE_RW | PTE_P;
  }
  pml4[1] = (uint64_t)pdpt | PTE_RW | PTE_P;
  write_cr3(read_cr3());
}

void kmain64(void) {
  const unsigned long passes = bench_param("passes", 1);
  map_sieve();
  const uint64_t result = mem_work((uint8_t*)SIEVE_VA, passes);
  uint64_t expected = 0;
  for (unsigned long pass = 0; pass < passes; ++pass) expected = expected * 31 + MEM_SIEVE_PRIMES;
  check_eq(result, expected, "%lu sieves of 10^8 numbers, %llu primes each", passes,
           (unsigned long long)MEM_SIEVE_PRIMES);
  kprintf("jit_bench mem passes=%lu result=%016llx\n", passes, (unsigned long long)result);
  report_finish();
}
