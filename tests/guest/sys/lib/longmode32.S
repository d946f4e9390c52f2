/* Entering long mode from the 32-bit part and jumping to the 64-bit blob.
   SDM Vol. 3A, 10.8.5 Initializing IA-32e Mode: with paging off, set CR4.PAE, load CR3 with
   the PML4, set EFER.LME, then set CR0.PG (EFER.LMA becomes 1; the CPU is in compatibility
   mode until a far jump loads a 64-bit code segment). */
#include "layout.h"

    .code32
    .text
    .globl enter_long_mode32
/* void enter_long_mode32(uint32_t pml4, struct handoff* h) -- does not return */
enter_long_mode32:
    movl 4(%esp), %ebx
    movl 8(%esp), %esi
    movl %cr4, %eax
    orl $(1 << 5), %eax            /* CR4.PAE */
    movl %eax, %cr4
    movl %ebx, %cr3
    movl $0xC0000080, %ecx         /* IA32_EFER */
    rdmsr
    orl $(1 << 8), %eax            /* LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax          /* PG */
    movl %eax, %cr0
    ljmp $SEL32_KCODE64, $1f
    .code64
1:  movl $SEL32_KDATA, %eax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl %esi, %edi                /* handoff pointer: first argument of _start64 */
    movl $BLOB64_BASE, %eax
    jmp *%rax
    .code32
