// Catching exceptions in test kernels.
//
// Every IDT vector has a stub that records the event in `trap` (vector, error code, the saved
// frame, CR2, DR6, the stack pointer right after the processor pushed the frame, the segment
// and general registers of the interrupted code). If a probe is armed (TRY_ASM), the handler then
// resumes the kernel right after the probe, at CPL 0 on the probe's stack, with flat data
// segments and EFLAGS = 2, and the probe returns 1. An event with no armed probe is a failure
// of the kernel: it is printed and the kernel exits with FAIL.
//
// Probes are inline assembly snippets. EAX/ECX/EDX (RAX/RCX/RDX) carry three inputs; every
// other general register except ESP/EBP is clobbered. Snippets must not use the local labels
// 7, 8 and 9 (the wrappers' own). FAULT_AT("insn") marks an instruction: probe_ip gets its
// address and probe_next the address after it, so a check can compare the saved instruction
// pointer with the faulting instruction (faults) or the next one (traps).
#pragma once

#include <stdint.h>

#include "layout.h"
#include "x86.h"

struct trap_info {
  uint32_t count;  // events recorded since trap_reset()
  uint32_t vector;
  uint32_t has_error;  // the vector is one that pushes an error code
  uint32_t error_code;
  uint64_t ip, cs, flags;   // from the frame
  uint32_t stack_switched;  // the frame holds SS:(E/R)SP (always in 64-bit mode)
  uint64_t sp, ss;          // from the frame (when stack_switched)
  uint64_t entry_sp;        // stack pointer just after the processor pushed the frame
  uint64_t cr2, dr6;
  uint64_t handler_flags;   // EFLAGS inside the handler (interrupt gates clear IF, all clear TF)
  uint16_t handler_ss;      // SS inside the handler (64-bit mode: null after a CPL change)
  uint16_t ds, es, fs, gs;  // segment registers of the interrupted code
  uint64_t gpr[16];         // rax rcx rdx rbx (rsp) rbp rsi rdi r8..r15 of the interrupted code
};

extern volatile struct trap_info trap;
extern volatile ureg probe_ip, probe_next;                   // set by FAULT_AT
extern volatile ureg catch_ip, catch_sp, catch_bp;           // the armed probe
extern volatile ureg user_cs, user_ss, user_sp, user_flags;  // the ring-3 context of USER_ASM
// Called for every event before the default handling; return nonzero to resume the interrupted
// code (IRET with the frame as the hook left it) instead.
extern int (*volatile trap_hook)(void* frame);

#define NO_ERROR_CODE (-1LL)

// Restores the default ring-3 context (flat user segments, the library's user stack, EFLAGS=2).
void user_reset(void);

void trap_reset(void);
// Checks the last event: vector, error code (NO_ERROR_CODE: none pushed) and saved instruction
// pointer; one check each, named after `what`.
void expect_trap(const char* what, uint32_t vector, long long error_code, ureg ip);
// The same where QEMU TCG reports a different error code than the SDM (see check_eq_sdm).
void expect_trap_sdm(const char* what, uint32_t vector, long long sdm_error_code,
                     long long qemu_error_code, ureg ip);
// Checks that the last ring-3 probe ended at its INT VEC_USER_DONE (no fault on the way).
void expect_user_done(const char* what);
// Prints the last event (for diagnostics).
void print_trap(void);
const char* vector_name(uint32_t vector);

#ifndef __x86_64__

#define MARK_PROBE "movl $1f, probe_ip\n\tmovl $2f, probe_next\n\t"

#define TRY_ASM3(snippet, a, c, d)                       \
  ({                                                     \
    ureg a_ = (ureg)(a), c_ = (ureg)(c), d_ = (ureg)(d); \
    __asm__ volatile(                                    \
        "movl %%esp, catch_sp\n\t"                       \
        "movl %%ebp, catch_bp\n\t"                       \
        "movl $8f, catch_ip\n\t" snippet                 \
        "\n\tmovl $0, catch_ip\n\t"                      \
        "xorl %%eax, %%eax\n\t"                          \
        "jmp 9f\n"                                       \
        "8:\tmovl $1, %%eax\n"                           \
        "9:\n"                                           \
        : "+a"(a_), "+c"(c_), "+d"(d_)                   \
        :                                                \
        : "ebx", "esi", "edi", "memory", "cc");          \
    (int)a_;                                             \
  })

// Runs `snippet` at CPL 3 (IRET to user_cs:snippet with user_ss:user_sp and user_flags; DS = ES
// = user data), then INT VEC_USER_DONE returns to the kernel.
#define USER_ENTRY                                                                       \
  "pushl user_ss\n\tpushl user_sp\n\tpushl user_flags\n\tpushl user_cs\n\tpushl $7f\n\t" \
  "iret\n7:\tmovw $0x23, %%bx\n\tmovw %%bx, %%ds\n\tmovw %%bx, %%es\n\t"
#define USER_ASM3(snippet, a, c, d) TRY_ASM3(USER_ENTRY snippet "\n\tint $0x80\n\t", a, c, d)

#else  // __x86_64__

#define MARK_PROBE "movq $1f, probe_ip(%%rip)\n\tmovq $2f, probe_next(%%rip)\n\t"

#define TRY_ASM3(snippet, a, c, d)                                                             \
  ({                                                                                           \
    ureg a_ = (ureg)(a), c_ = (ureg)(c), d_ = (ureg)(d);                                       \
    __asm__ volatile(                                                                          \
        "movq %%rsp, catch_sp(%%rip)\n\t"                                                      \
        "movq %%rbp, catch_bp(%%rip)\n\t"                                                      \
        "movq $8f, catch_ip(%%rip)\n\t" snippet                                                \
        "\n\tmovq $0, catch_ip(%%rip)\n\t"                                                     \
        "xorl %%eax, %%eax\n\t"                                                                \
        "jmp 9f\n"                                                                             \
        "8:\tmovl $1, %%eax\n"                                                                 \
        "9:\n"                                                                                 \
        : "+a"(a_), "+c"(c_), "+d"(d_)                                                         \
        :                                                                                      \
        : "rbx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "memory", \
          "cc");                                                                               \
    (int)a_;                                                                                   \
  })

// Runs `snippet` at CPL 3 (IRETQ to user_cs:snippet with user_ss:user_sp and user_flags), then
// INT VEC_USER_DONE returns to the kernel.
#define USER_ENTRY                                                              \
  "pushq user_ss(%%rip)\n\tpushq user_sp(%%rip)\n\tpushq user_flags(%%rip)\n\t" \
  "pushq user_cs(%%rip)\n\tpushq $7f\n\tiretq\n7:\t"
#define USER_ASM3(snippet, a, c, d) TRY_ASM3(USER_ENTRY snippet "\n\tint $0x80\n\t", a, c, d)

#endif

// FAULT_AT("insn"): marks `insn` (labels 1 and 2 around it). FAULT_AFTER("prefix", "insn") runs
// `prefix` between the marking and `insn`: needed when `prefix` sets TF, since the marking
// stores are instructions too.
#define FAULT_AT(insn) MARK_PROBE "1:\t" insn "\n2:\n\t"
#define FAULT_AFTER(prefix, insn) MARK_PROBE prefix "\n1:\t" insn "\n2:\n\t"

#define TRY_ASM(snippet) TRY_ASM3(snippet, 0, 0, 0)
#define TRY_ASM1(snippet, a) TRY_ASM3(snippet, a, 0, 0)
#define USER_ASM(snippet) USER_ASM3(snippet, 0, 0, 0)
#define USER_ASM1(snippet, a) USER_ASM3(snippet, a, 0, 0)
