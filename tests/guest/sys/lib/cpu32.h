// The 32-bit part's descriptor tables and helpers.
#pragma once

#include <stdint.h>

#include "desc.h"
#include "ksys.h"
#include "layout.h"

extern uint64_t gdt[GDT_ENTRIES];
extern uint64_t idt[256];
// The TSS, followed by room for a full I/O permission bitmap (8 KiB + the final 0xff byte).
#define TSS32_AREA_SIZE (104 + 8192 + 16)
extern uint8_t tss_area[TSS32_AREA_SIZE];
#define tss (*(struct tss32*)tss_area)

struct frame32 {
  uint32_t gs, fs, es, ds;
  uint32_t edi, esi, ebp, esp_at_pushal, ebx, edx, ecx, eax;
  uint32_t vector, error_code;
  uint32_t eip, cs, eflags, esp, ss;  // esp/ss only after a privilege change
};

// Address of the IDT stub for `vector`.
uint32_t trap_stub32(int vector);
// Points `vector` at its standard stub with the given gate type and DPL.
void set_idt_stub(int vector, uint32_t type, int dpl);
// Reloads TR from SEL32_TSS with the given limit (clears the busy bit first).
void reload_tss(uint32_t limit);
// Sets up GDT, IDT, TSS, segment registers (called by boot32 before kmain32).
void cpu32_init(void);
// Kernel entry points: kmain32 is the kernel's; it returns to report_finish().
void kmain32(void);
// Builds 4-level tables identity-mapping the first 1 GiB (2 MiB pages); returns the PML4.
uint32_t identity_pml4(void);
// Enters long mode with identity-mapped paging and runs the kernel's 64-bit part (never returns).
NORETURN void run_64bit_part(void);
