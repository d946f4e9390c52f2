/* modes: the mode-switching code. Results are stored in memory and checked by modes.c.

   realmode_call():  protected mode -> 16-bit protected mode -> real mode (SDM Vol. 3A, 10.9.2
                     Switching Back to Real-Address Mode) -> real-mode work -> protected mode.
   The real-mode part ("the low blob", rm_blob_start..rm_blob_end) is copied by modes.c to
   LOW_BASE and runs with CS = LOW_BASE >> 4, so all its references are offsets from
   rm_blob_start.

   longmode_call(pml4): protected mode -> IA-32e mode (compatibility, then 64-bit; SDM Vol. 3A,
                     10.8.5) -> compatibility-mode code segment and back -> protected mode
                     (10.8.5.4 Switching Out of IA-32e Mode Operation). */
#include "layout.h"

#define RM_SEG (LOW_BASE >> 4)
#define ALT_SEG (RM_SEG - 0x100)          /* the same memory seen from a segment 4 KiB lower */
#define OFF(label) ((label) - rm_blob_start)
#define ALT_OFF(label) (OFF(label) + 0x1000)

    .text
    .code32

/* ---------------------------------------------------------------- real mode */
    .globl realmode_call
realmode_call:
    pushal
    movl %esp, saved_esp32
    sidt saved_idtr32
    /* 16-bit protected mode first: a code segment with a 64 KiB limit and 16-bit default, so
       the real-mode CS is entered from a sane state; data segments get 64 KiB limits too. */
    ljmp $SEL32_CODE16, $OFF(rm_pm16)

    .globl rm_blob_start, rm_blob_end
    .code16
rm_blob_start:
rm_pm16:
    movw $SEL32_DATA16, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl %cr0, %eax
    andl $~1, %eax                 /* CR0.PE = 0 */
    movl %eax, %cr0
    ljmp $RM_SEG, $OFF(rm_entry)   /* loads CS the real-mode way: base = selector * 16 */

rm_entry:
    xorw %ax, %ax
    movw %ax, %ss
    movw $0x7c00, %sp
    movw $RM_SEG, %ax
    movw %ax, %ds
    lidtw OFF(rm_idtr)             /* the IVT at 0 */

    movl %cr0, %eax
    movl %eax, OFF(rm_res_cr0)

    /* Segment * 16 + offset: ES = 0x1234, offset 0x10 -> linear 0x12350; read it back through
       FS = 0x1235, offset 0. */
    movw $0x1234, %ax
    movw %ax, %es
    movw $0xbeef, %es:0x0010
    movw $0x1235, %ax
    movw %ax, %fs
    movw %fs:0x0000, %bx
    movw %bx, OFF(rm_res_seg_read)
    /* Above 1 MiB with A20 on: 0xffff:off is linear 0xffff0 + off. */
    movw $0xffff, %ax
    movw %ax, %es
    movw OFF(rm_hma_off), %bx      /* set by modes.c: hma_probe - 0xffff0 */
    movw $0x5a5a, %es:(%bx)

    /* INT through the IVT to a handler in another segment. */
    xorw %ax, %ax
    movw %ax, %es
    movw $ALT_OFF(rm_int42), %es:(0x42 * 4)
    movw $ALT_SEG, %es:(0x42 * 4 + 2)
    pushw $0x0003                  /* FLAGS = CF | bit 1 */
    popfw
    movw %sp, OFF(rm_res_sp_before)
    movw $0, %ax
    int $0x42
rm_after_int:
    pushfw
    popw OFF(rm_res_flags_after)
    movw %ax, OFF(rm_res_ax_after)
    movw %sp, OFF(rm_res_sp_after)

    /* Operand- and address-size overrides (66, 67) in 16-bit code. */
    movl $0x12345678, %eax         /* 66 B8 imm32 */
    addl $0x11111111, %eax
    movl %eax, OFF(rm_res_eax32)
    movl $0xaaaaffff, %eax
    incw %ax                       /* 16-bit: the upper half stays */
    movl %eax, OFF(rm_res_inc16)
    movl $OFF(rm_table), %ebx
    movl $2, %ecx
    addr32 movw (%ebx,%ecx,2), %dx /* 67: SIB addressing exists only with 32-bit addresses */
    movw %dx, OFF(rm_res_sib)

    /* Far CALL / RET across segments, direct and indirect, and a far RET with an immediate. */
    movw %sp, OFF(rm_res_far_sp_before)
    lcall $ALT_SEG, $ALT_OFF(rm_far_proc)
rm_after_far_call:
    movw %sp, OFF(rm_res_far_sp_after)
    lcall *OFF(rm_far_ptr)
    pushw $0x1111
    pushw $0x2222
    lcall $ALT_SEG, $ALT_OFF(rm_far_proc_ret4)
    movw %sp, OFF(rm_res_far_ret4_sp)
    /* IRET by hand: FLAGS, CS, IP. */
    pushw $0x0002
    pushw $ALT_SEG
    pushw $ALT_OFF(rm_iret_target)
    iret

rm_back_from_iret:
    movw %cs, %ax
    movw %ax, OFF(rm_res_cs_after_iret)

    /* Back to protected mode: PE = 1, then a far jump loads a protected-mode CS. */
    cli
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $SEL32_KCODE, $rm_back32

/* Handler of INT 0x42, entered with CS = ALT_SEG: records the frame (IP, CS, FLAGS on the stack)
   and its own FLAGS and CS. */
rm_int42:
    movw %sp, OFF(rm_res_int_sp)
    movw %sp, %bp
    movw 0(%bp), %ax
    movw %ax, OFF(rm_res_int_ip)
    movw 2(%bp), %ax
    movw %ax, OFF(rm_res_int_cs)
    movw 4(%bp), %ax
    movw %ax, OFF(rm_res_int_flags)
    pushfw
    popw OFF(rm_res_int_handler_flags)
    movw %cs, OFF(rm_res_int_handler_cs)
    movw $0x4242, %ax
    iret

rm_far_proc:                       /* records its frame on the first (direct) call only */
    cmpw $0, OFF(rm_res_far_calls)
    jne 1f
    movw %cs, OFF(rm_res_far_cs)
    movw %sp, %bp
    movw 0(%bp), %ax
    movw %ax, OFF(rm_res_far_ret_ip)
    movw 2(%bp), %ax
    movw %ax, OFF(rm_res_far_ret_cs)
1:  incw OFF(rm_res_far_calls)
    lret

rm_far_proc_ret4:
    incw OFF(rm_res_far_calls)
    lret $4

rm_iret_target:
    movw %cs, OFF(rm_res_cs_at_iret_target)
    ljmp $RM_SEG, $OFF(rm_back_from_iret)

    .balign 4
rm_idtr:
    .word 0x3ff
    .long 0
rm_far_ptr:
    .word ALT_OFF(rm_far_proc)
    .word ALT_SEG
    .globl rm_hma_off
rm_hma_off:
    .word 0
rm_table:
    .word 0x1111, 0x2222, 0x3333, 0x4444, 0x5555
    .balign 4
    .globl rm_res_cr0, rm_res_seg_read, rm_res_sp_before, rm_res_sp_after, rm_res_ax_after
    .globl rm_res_flags_after, rm_res_int_sp, rm_res_int_ip, rm_res_int_cs, rm_res_int_flags
    .globl rm_res_int_handler_flags, rm_res_int_handler_cs, rm_res_eax32, rm_res_inc16
    .globl rm_res_sib, rm_res_far_sp_before, rm_res_far_sp_after, rm_res_far_cs
    .globl rm_res_far_ret_ip, rm_res_far_ret_cs, rm_res_far_calls, rm_res_far_ret4_sp
    .globl rm_res_cs_after_iret, rm_res_cs_at_iret_target, rm_after_int, rm_after_far_call
    .globl rm_results_start, rm_results_end
rm_results_start:
rm_res_cr0: .long 0
rm_res_eax32: .long 0
rm_res_inc16: .long 0
rm_res_seg_read: .word 0
rm_res_sp_before: .word 0
rm_res_sp_after: .word 0
rm_res_ax_after: .word 0
rm_res_flags_after: .word 0
rm_res_int_sp: .word 0
rm_res_int_ip: .word 0
rm_res_int_cs: .word 0
rm_res_int_flags: .word 0
rm_res_int_handler_flags: .word 0
rm_res_int_handler_cs: .word 0
rm_res_sib: .word 0
rm_res_far_sp_before: .word 0
rm_res_far_sp_after: .word 0
rm_res_far_cs: .word 0
rm_res_far_ret_ip: .word 0
rm_res_far_ret_cs: .word 0
rm_res_far_calls: .word 0
rm_res_far_ret4_sp: .word 0
rm_res_cs_after_iret: .word 0
rm_res_cs_at_iret_target: .word 0
rm_results_end:
rm_blob_end:

    .code32
rm_back32:
    movw $SEL32_KDATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %fs
    movw %ax, %gs
    movw %ax, %ss
    movl saved_esp32, %esp
    lidt saved_idtr32
    popal
    ret

/* ---------------------------------------------------------------- long mode */
    .globl longmode_call
/* void longmode_call(uint32_t pml4) */
longmode_call:
    pushal
    movl %esp, saved_esp32
    movl 36(%esp), %ebx            /* pml4 (after 8 pushed registers and the return address) */
    movl %cr4, %eax
    orl $(1 << 5), %eax            /* CR4.PAE */
    movl %eax, %cr4
    movl %ebx, %cr3
    movl $0xC0000080, %ecx         /* IA32_EFER */
    rdmsr
    orl $(1 << 8), %eax            /* LME */
    wrmsr
    movl %cr0, %eax
    orl $0x80000000, %eax          /* PG: IA-32e mode active, still 32-bit code (compatibility) */
    movl %eax, %cr0
    movl $0xC0000080, %ecx
    rdmsr
    movl %eax, lm_res_efer_compat
    ljmp $SEL32_KCODE64, $lm_64

    .code64
lm_64:
    movl %esp, %esp                /* RSP = ESP, upper half zero */
    movw %cs, lm_res_cs64(%rip)
    movabsq $0x123456789abcdef0, %rax
    movq %rax, lm_res_r64(%rip)
    movq $7, %r15
    leaq (%r15,%r15,2), %r14       /* REX.R/REX.B registers: 21 */
    movq %r14, lm_res_r14(%rip)
    leaq lm_res_r64(%rip), %rax    /* RIP-relative addressing */
    movq %rax, lm_res_riprel(%rip)
    movl $5, %eax
    .byte 0x48, 0x90               /* REX.W NOP in 64-bit mode: EAX stays 5 */
    movl %eax, lm_res_rex64(%rip)
    /* Far call into a 32-bit code segment: compatibility mode. Operand size 32: pushes CS and
       EIP as 4 bytes each; the 32-bit far RET there pops them back. */
    movq %rsp, lm_res_rsp_before(%rip)
    lcall *lm_compat_ptr(%rip)
    movq %rsp, lm_res_rsp_after(%rip)
    movw %cs, lm_res_cs_back64(%rip)
    /* Leave: far jump to 32-bit code, then turn paging off there. */
    ljmp *lm_leave_ptr(%rip)

    .code32
lm_compat:
    movw %cs, lm_res_cs_compat
    movl $5, %eax
    .byte 0x48, 0x90               /* DEC EAX; NOP in compatibility mode: EAX = 4 */
    movl %eax, lm_res_dec_compat
    movl $0xC0000080, %ecx
    rdmsr
    movl %eax, lm_res_efer_in_compat_cs
    lret

lm_leave:
    movl %cr0, %eax
    andl $0x7fffffff, %eax         /* PG = 0: IA-32e mode off (EFER.LMA = 0) */
    movl %eax, %cr0
    movl $0xC0000080, %ecx
    rdmsr
    andl $~(1 << 8), %eax          /* LME = 0 */
    wrmsr
    rdmsr
    movl %eax, lm_res_efer_after
    movl %cr4, %eax
    andl $~(1 << 5), %eax
    movl %eax, %cr4
    movw $SEL32_KDATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl saved_esp32, %esp
    popal
    ret

    .data
    .balign 8
lm_compat_ptr:
    .long lm_compat
    .word SEL32_KCODE
lm_leave_ptr:
    .long lm_leave
    .word SEL32_KCODE
    .balign 8
    .globl lm_res_efer_compat, lm_res_cs64, lm_res_r64, lm_res_r14, lm_res_riprel
    .globl lm_res_rex64, lm_res_rsp_before, lm_res_rsp_after, lm_res_cs_back64
    .globl lm_res_cs_compat, lm_res_dec_compat, lm_res_efer_in_compat_cs, lm_res_efer_after
lm_res_r64: .quad 0
lm_res_r14: .quad 0
lm_res_riprel: .quad 0
lm_res_rsp_before: .quad 0
lm_res_rsp_after: .quad 0
lm_res_efer_compat: .long 0
lm_res_rex64: .long 0
lm_res_dec_compat: .long 0
lm_res_efer_in_compat_cs: .long 0
lm_res_efer_after: .long 0
lm_res_cs64: .word 0
lm_res_cs_back64: .word 0
lm_res_cs_compat: .word 0
saved_esp32: .long 0
saved_idtr32: .word 0
    .long 0

/* A word the real-mode code writes through 0xffff:offset (linear address above 1 MiB). It must
   lie below 0x10ffef, so it lives in the first section of the image. */
    .section .hma, "aw"
    .balign 4
    .globl hma_probe
hma_probe:
    .word 0
