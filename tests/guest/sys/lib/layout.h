// GDT layout and fixed addresses shared by C and assembly (32-bit and 64-bit parts).
#pragma once

// ---- 32-bit part (multiboot entry, protected mode) ----
#define SEL32_KCODE 0x08       // flat 32-bit code, DPL 0
#define SEL32_KDATA 0x10       // flat data, DPL 0
#define SEL32_UCODE 0x18       // flat 32-bit code, DPL 3 (SYSEXIT: SYSENTER_CS + 16)
#define SEL32_UDATA 0x20       // flat data, DPL 3 (SYSEXIT: SYSENTER_CS + 24)
#define SEL32_TSS 0x28         // the 32-bit TSS
#define SEL32_KCODE64 0x30     // 64-bit code, DPL 0 (entering long mode)
#define SEL32_CODE16 0x38      // 16-bit code, base LOW_BASE, limit 0xffff (entering real mode)
#define SEL32_DATA16 0x40      // 16-bit data, base 0, limit 0xffff
#define SEL32_FIRST_FREE 0x48  // kernels use 0x48.. for their own test descriptors

// ---- 64-bit part (long mode) ----
#define SEL64_KCODE 0x08    // 64-bit code, DPL 0 (SYSCALL CS = STAR[47:32])
#define SEL64_KDATA 0x10    // data, DPL 0 (SYSCALL SS = STAR[47:32] + 8)
#define SEL64_UCODE32 0x18  // 32-bit (compatibility mode) code, DPL 3 (SYSRET CS for 32-bit)
#define SEL64_UDATA 0x20    // data, DPL 3 (SYSRET SS = STAR[63:48] + 8)
#define SEL64_UCODE 0x28    // 64-bit code, DPL 3 (SYSRET CS for 64-bit = STAR[63:48] + 16)
#define SEL64_TSS 0x30      // 64-bit TSS, two slots
#define SEL64_KCODE32 0x40  // 32-bit (compatibility mode) code, DPL 0
#define SEL64_FIRST_FREE 0x48

#define GDT_ENTRIES 32

// The 64-bit part of a kernel is linked separately at this address and included in the
// multiboot image as a blob (see CMakeLists.txt).
#define BLOB64_BASE 0x200000
// Where the modes kernel copies its real-mode code (must be below 1 MiB).
#define LOW_BASE 0x8000
// Scratch memory the kernels may use freely for test pages and tables (16 MiB .. 32 MiB).
#define SCRATCH_BASE 0x1000000

// Vector of the "user code finished" software interrupt (DPL 3 gate).
#define VEC_USER_DONE 0x80
