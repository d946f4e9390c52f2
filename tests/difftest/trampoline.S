// Entry into a native test run and the way back out (docs/difftest.md, "Native side").
//
// difftest_enter(const RegFile* regs, const void* fx) loads the case's FPU/SIMD state from the
// 16-byte aligned FXSAVE64 image `fx` (FXRSTOR64: the harness runs no x87 or SSE instruction
// after it, so a pending x87 exception or unmasked MXCSR state cannot fire in here), saves the harness's callee-saved registers and stack
// pointer, loads RFLAGS (POPFQ while the harness stack is still in use) and then all sixteen
// GPRs, RSP last but one and RDI (the pointer to the register file) last, and jumps to regs->rip
// through a memory operand so that no register is needed for the jump.
//
// The run always ends in an exception (at the latest the HLT of the sled, which raises #GP at
// CPL 3). The signal handler records the state from the ucontext and rewrites it to continue at
// difftest_resume on the saved harness stack, which returns to difftest_enter's caller.
//
// When the kernel has enabled CR4.FSGSBASE (difftest_fsgsbase, set by the child), the case's
// FS and GS bases are written with WRFSBASE/WRGSBASE before the jump, and
// difftest_capture_segments() (called first thing by the signal handler) records the final
// selectors and bases and puts the harness's own back: a test may have loaded FS or GS, and the
// harness's FS base is its thread pointer.
//
// RegFile layout: gpr[0..15] at 0..120, rip at 128, rflags at 136, fs_base at 144, gs_base at
// 152, seg[ES, CS, SS, DS, FS, GS] at 160..170.

        .text
        .globl  difftest_enter
        .type   difftest_enter, @function
difftest_enter:
        fxrstor64 (%rsi)
        push    %rbx
        push    %rbp
        push    %r12
        push    %r13
        push    %r14
        push    %r15
        mov     %rsp, difftest_saved_rsp(%rip)
        mov     128(%rdi), %rax
        mov     %rax, difftest_entry(%rip)
        cmpb    $0, difftest_fsgsbase(%rip)
        je      1f
        mov     144(%rdi), %rax
        wrfsbase %rax
        mov     152(%rdi), %rax
        wrgsbase %rax
1:      movb    $1, difftest_in_test(%rip)
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

        // void difftest_capture_segments(RegFile* out): the current DS, ES, FS, GS selectors
        // (and FS/GS bases when available) into *out, then the harness's own back.
        .globl  difftest_capture_segments
        .type   difftest_capture_segments, @function
difftest_capture_segments:
        mov     %es, %eax
        mov     %ax, 160(%rdi)
        mov     %ds, %eax
        mov     %ax, 166(%rdi)
        mov     %fs, %eax
        mov     %ax, 168(%rdi)
        mov     %gs, %eax
        mov     %ax, 170(%rdi)
        cmpb    $0, difftest_fsgsbase(%rip)
        je      1f
        rdfsbase %rax
        mov     %rax, 144(%rdi)
        rdgsbase %rax
        mov     %rax, 152(%rdi)
1:      movzwl  difftest_harness_sel+0(%rip), %eax
        mov     %eax, %es
        movzwl  difftest_harness_sel+6(%rip), %eax
        mov     %eax, %ds
        // FS and GS only when their bases can be written back: a selector load sets the base
        // from the descriptor or clears it (without FSGSBASE no form loads FS or GS).
        cmpb    $0, difftest_fsgsbase(%rip)
        je      2f
        movzwl  difftest_harness_sel+8(%rip), %eax
        mov     %eax, %fs
        movzwl  difftest_harness_sel+10(%rip), %eax
        mov     %eax, %gs
        mov     difftest_harness_fs_base(%rip), %rax
        wrfsbase %rax
        mov     difftest_harness_gs_base(%rip), %rax
        wrgsbase %rax
2:      ret
        .size   difftest_capture_segments, . - difftest_capture_segments

        .bss
        .align  8
        .globl  difftest_harness_fs_base
difftest_harness_fs_base:
        .quad   0
        .globl  difftest_harness_gs_base
difftest_harness_gs_base:
        .quad   0
        .globl  difftest_harness_sel
difftest_harness_sel:
        .zero   12
        .globl  difftest_fsgsbase
difftest_fsgsbase:
        .byte   0
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
