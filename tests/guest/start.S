/* Entry of a flat 64-bit guest program: umbra --flat enters here in 64-bit mode with RSP at
   the top of RAM. Clears .bss, calls main(), then halts. */
    .section .text.start, "ax"
    .globl _start
_start:
    lea __bss_start(%rip), %rdi
    lea _end(%rip), %rcx
    sub %rdi, %rcx
    xor %eax, %eax
    cld
    rep stosb
    and $-16, %rsp
    call main
    hlt
1:  jmp 1b
    .section .note.GNU-stack, "", @progbits
