// run_64bit_part(): identity-maps the first 1 GiB with 2 MiB pages and enters the 64-bit blob.
#include "cpu32.h"

static uint64_t lm_pml4[512] ALIGNED(4096);
static uint64_t lm_pdpt[512] ALIGNED(4096);
static uint64_t lm_pd[512] ALIGNED(4096);

void enter_long_mode32(uint32_t pml4, struct handoff* h) __attribute__((noreturn));

uint32_t identity_pml4(void) {
  // Bits: P | RW | US, and PS for 2 MiB pages (SDM Vol. 3A, 4.5 4-Level Paging).
  for (uint32_t i = 0; i < 512; ++i) lm_pd[i] = ((uint64_t)i << 21) | 0x87;
  lm_pdpt[0] = (uint32_t)lm_pd | 0x7;
  lm_pml4[0] = (uint32_t)lm_pdpt | 0x7;
  return (uint32_t)lm_pml4;
}

NORETURN void run_64bit_part(void) {
  uint32_t pml4 = identity_pml4();
  kprintf("entering long mode for the 64-bit part\n");
  enter_long_mode32(pml4, &report_state);
}
