// The 64-bit part's descriptor tables, paging and helpers.
#pragma once

#include <stdint.h>

#include "desc.h"
#include "ksys.h"
#include "layout.h"

extern uint64_t gdt[GDT_ENTRIES];
extern struct gate64 idt[256];
#define TSS64_AREA_SIZE (104 + 8192 + 16)
extern uint8_t tss_area[TSS64_AREA_SIZE];
#define tss (*(struct tss64*)tss_area)
// Stacks the library sets up: TSS RSP0 and IST1..IST7 (IST1 serves #DF).
extern uint64_t ist_stack_top[8];  // [n] = top of ISTn's stack; [0] = RSP0's

struct frame64 {
  uint64_t gs, fs, es, ds;
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;
};

uint64_t trap_stub64(int vector);
void set_idt_stub(int vector, uint32_t type, int dpl, int ist);
void reload_tss(uint32_t limit);
void kmain64(void);

// ---- paging (4-level, identity map of the first 1 GiB; SDM Vol. 3A, 4.5) ----
#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_PWT (1ull << 3)
#define PTE_PCD (1ull << 4)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_G (1ull << 8)
#define PTE_NX (1ull << 63)
#define PTE_ADDR 0x000ffffffffff000ull
extern uint64_t pml4[512];
// The 4 KiB page-table entry mapping `va` (< 1 GiB); splits its 2 MiB page on first use.
volatile uint64_t* pte_of(uint64_t va);
// Maps the 4 KiB page at `va` (any canonical address outside the first 1 GiB) to `pa`.
void map_page(uint64_t va, uint64_t pa, uint64_t flags);
// Sets the PTE of `va` and invalidates the TLB entry.
void set_pte(uint64_t va, uint64_t pte);
