/* Entry of the 64-bit part (first byte of the blob at BLOB64_BASE). The 32-bit part jumps here
   in 64-bit mode with identity paging and RDI = the handoff record. */
    .section .text.entry, "ax"
    .code64
    .globl _start64
_start64:
    leaq boot64_stack_top(%rip), %rsp
    pushq $2
    popfq
    call boot64
1:  cli
    hlt
    jmp 1b

    .section .bss
    .align 16
boot64_stack:
    .space 32768
boot64_stack_top:
