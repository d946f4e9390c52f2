#include "jit/code_entry.h"

// System V AMD64 ABI 3.2.1: RBX, RBP, R12-R15 belong to the caller. On entry RSP + 8 is 16-byte
// aligned; six pushes leave it 8 off again, so 8 more bytes make the call's frame aligned.
asm(R"(
  .pushsection .text
  .globl umbra_enter_code
  .type umbra_enter_code, @function
  .p2align 4
umbra_enter_code:
  .cfi_startproc
  push %rbp
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %rbp, 0
  push %rbx
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %rbx, 0
  push %r12
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r12, 0
  push %r13
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r13, 0
  push %r14
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r14, 0
  push %r15
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %r15, 0
  sub $8, %rsp
  .cfi_adjust_cfa_offset 8
  call *%rsi
  add $8, %rsp
  .cfi_adjust_cfa_offset -8
  pop %r15
  .cfi_adjust_cfa_offset -8
  pop %r14
  .cfi_adjust_cfa_offset -8
  pop %r13
  .cfi_adjust_cfa_offset -8
  pop %r12
  .cfi_adjust_cfa_offset -8
  pop %rbx
  .cfi_adjust_cfa_offset -8
  pop %rbp
  .cfi_adjust_cfa_offset -8
  ret
  .cfi_endproc
  .size umbra_enter_code, .-umbra_enter_code
  .popsection
)");
