// Entry into a native test run and the way back out (docs/difftest.md, "Native side").
//
// difftest_enter(const RegFile* regs) saves the harness's callee-saved registers and stack
// pointer, loads RFLAGS (POPFQ while the harness stack is still in use) and then all sixteen
// GPRs, RSP last but one and RDI (the pointer to the register file) last, and jumps to regs->rip
// through a memory operand so that no register is needed for the jump.
//
// The run always ends in an exception (at the latest the HLT of the sled, which raises #GP at
// CPL 3). The signal handler records the state from the ucontext and rewrites it to continue at
// difftest_resume on the saved harness stack, which returns to difftest_enter's caller.
//
// RegFile layout: gpr[0..15] at 0..120, rip at 128, rflags at 136.

        .text
        .globl  difftest_enter
        .type   difftest_enter, @function
difftest_enter:
        push    %rbx
        push    %rbp
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        mov     %rsp, difftest_saved_rsp(%rip)
        mov     128(%rdi), %rax
        mov     %rax, difftest_entry(%rip)
        movb    $1, difftest_in_test(%rip)
        pushq   136(%rdi)
        popfq
        mov     0(%rdi), %rax
        mov     8(%rdi), %rcx
        mov     16(%rdi), %rdx
        mov     24(%rdi), %rbx
        mov     40(%rdi), %rbp
        mov     48(%rdi), %rsi
        mov     64(%rdi), %r8
        mov     72(%rdi), %r9
        mov     80(%rdi), %r10
        mov     88(%rdi), %r11
        mov     96(%rdi), %r12
        mov     104(%rdi), %r13
        mov     112(%rdi), %r14
        mov     120(%rdi), %r15
        mov     32(%rdi), %rsp
        mov     56(%rdi), %rdi
        jmp     *difftest_entry(%rip)
        .size   difftest_enter, . - difftest_enter

        .globl  difftest_resume
        .type   difftest_resume, @function
difftest_resume:
        mov     difftest_saved_rsp(%rip), %rsp
        pop     %r15
        pop     %r14
        pop     %r13
        pop     %r12
        pop     %rbp
        pop     %rbx
        ret
        .size   difftest_resume, . - difftest_resume

        .bss
        .align  8
        .globl  difftest_saved_rsp
difftest_saved_rsp:
        .quad   0
        .globl  difftest_entry
difftest_entry:
        .quad   0
        .globl  difftest_in_test
difftest_in_test:
        .byte   0

        .section .note.GNU-stack, "", @progbits
