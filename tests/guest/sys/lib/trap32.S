/* 32-bit exception/interrupt stubs. Each vector's stub pushes a dummy error code when the
   processor pushes none (SDM Vol. 3A, 6.13: vectors 8, 10-14, 17, 21, 29, 30 push one), then the
   vector, and joins trap_common32, which saves the registers and calls trap_dispatch32(frame).
   A zero return means "recover into the armed probe"; nonzero means "IRET". */
#include "layout.h"

    .code32
    .text

.macro STUB vec
    .align 16
    .if (\vec == 8) || ((\vec >= 10) && (\vec <= 14)) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushl $0
    .endif
    pushl $\vec
    jmp trap_common32
.endm

    .altmacro
.macro STUB_N n
    STUB %n
.endm

    .align 16
    .globl trap_stubs32
trap_stubs32:                  /* stub of vector v at trap_stubs32 + 16 * v */
    .set vec, 0
    .rept 256
    STUB_N vec
    .set vec, vec + 1
    .endr
    .noaltmacro

trap_common32:
    pushal
    pushl %ds
    pushl %es
    pushl %fs
    pushl %gs
    movl $SEL32_KDATA, %eax
    movw %ax, %ds
    movw %ax, %es
    cld
    pushl %esp
    call trap_dispatch32
    addl $4, %esp
    testl %eax, %eax
    jz trap_recover32
    popl %gs
    popl %fs
    popl %es
    popl %ds
    popal
    addl $8, %esp              /* vector and error code */
    iret

    .globl trap_recover32
trap_recover32:                /* back into the armed probe: CPL 0, its stack, flat segments */
    movl $SEL32_KDATA, %eax
    movw %ax, %ss
    movl catch_sp, %esp
    movl catch_bp, %ebp
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    pushl $2
    popfl
    movl catch_ip, %eax
    movl $0, catch_ip
    jmp *%eax
