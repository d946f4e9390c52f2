/* 64-bit exception/interrupt stubs (SDM Vol. 3A, 6.14 Exception and Interrupt Handling in 64-bit
   Mode: the frame is always SS, RSP, RFLAGS, CS, RIP [, error code], on a 16-byte aligned stack).
   Each stub pushes a dummy error code when the processor pushes none, then the vector, and
   joins trap_common64, which saves the registers and calls trap_dispatch64(frame). A zero
   return means "recover into the armed probe"; nonzero means "IRETQ". */
#include "layout.h"

    .code64
    .text

.macro STUB vec
    .align 16
    .if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq $0
    .endif
    pushq $\vec
    jmp trap_common64
.endm

    .altmacro
.macro STUB_N n
    STUB %n
.endm

    .align 16
    .globl trap_stubs64
trap_stubs64:                  /* stub of vector v at trap_stubs64 + 16 * v */
    .set vec, 0
    .rept 256
    STUB_N vec
    .set vec, vec + 1
    .endr
    .noaltmacro

trap_common64:
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rbx
    pushq %rbp
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    xorl %eax, %eax
    movw %ds, %ax
    pushq %rax
    movw %es, %ax
    pushq %rax
    movw %fs, %ax
    pushq %rax
    movw %gs, %ax
    pushq %rax
    cld
    movq %rsp, %rdi
    movq %rsp, %rbx            /* keep the frame; align the stack for the call regardless */
    andq $-16, %rsp
    call trap_dispatch64
    movq %rbx, %rsp
    testl %eax, %eax
    jz trap_recover64
    addq $32, %rsp             /* segment registers (not changed by the handler) */
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rbp
    popq %rbx
    popq %rdx
    popq %rcx
    popq %rax
    addq $16, %rsp             /* vector and error code */
    iretq

    .globl trap_recover64
trap_recover64:                /* back into the armed probe: CPL 0, its stack */
    movl $SEL64_KDATA, %eax
    movw %ax, %ss
    movq catch_sp(%rip), %rsp
    movq catch_bp(%rip), %rbp
    movw %ax, %ds
    movw %ax, %es
    pushq $2
    popfq
    movq catch_ip(%rip), %rax
    movq $0, catch_ip(%rip)
    jmp *%rax
