/* Multiboot v1 entry of every system test kernel.
   The loader enters in 32-bit protected mode with flat CS/DS, paging off, EAX = 0x2BADB002,
   EBX = multiboot information (Multiboot Specification 0.6.96, 3.2). Nothing else is
   guaranteed (no stack, no valid GDTR/IDTR), so this sets up a stack, clears .bss and calls
   boot32(magic, info), which installs the kernel's own GDT, IDT and TSS. */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, provide memory info */

    .section .multiboot, "a"
    .align 4
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)

    .section .text.entry, "ax"
    .code32
    .globl _start
_start:
    cli
    cld
    movl $boot_stack_top, %esp
    movl %eax, %esi            /* magic */
    movl %ebx, %edx            /* info */
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    xorl %eax, %eax
    rep stosb
    pushl $2                   /* EFLAGS: only the fixed bit */
    popfl
    pushl %edx
    pushl %esi
    call boot32
1:  cli
    hlt
    jmp 1b

    .section .bss
    .align 16
    .globl boot_stack_top
boot_stack:
    .space 32768
boot_stack_top:
