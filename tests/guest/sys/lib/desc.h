// Segment, gate and TSS descriptor encodings (Intel SDM Vol. 3A, 3.4.5 Segment Descriptors,
// 6.11 IDT Descriptors, 6.14.1 64-Bit Mode IDT, 8.2 Task Management Data Structures).
#pragma once

#include <stdint.h>

// Access byte: P | DPL | S | type.
#define ACC_P 0x80u
#define ACC_DPL(n) ((uint32_t)(n) << 5)
#define ACC_S 0x10u  // code or data (clear: system descriptor)
// Code/data types (with S set).
#define TYPE_DATA_R 0x0u    // read-only
#define TYPE_DATA_RW 0x2u   // read/write
#define TYPE_DATA_RWD 0x6u  // read/write, expand-down
#define TYPE_ACCESSED 0x1u
#define TYPE_CODE_X 0x8u    // execute-only
#define TYPE_CODE_XR 0xAu   // execute/read
#define TYPE_CODE_XRC 0xEu  // execute/read, conforming
// System types (S clear).
#define TYPE_LDT 0x2u
#define TYPE_TASK_GATE 0x5u
#define TYPE_TSS_AVAIL 0x9u  // 32-bit TSS, or 64-bit TSS in IA-32e mode
#define TYPE_TSS_BUSY 0xBu
#define TYPE_CALL_GATE 0xCu  // 32-bit call gate, or 64-bit call gate in IA-32e mode
#define TYPE_INT_GATE 0xEu
#define TYPE_TRAP_GATE 0xFu
// Flags nibble: G | D/B | L | AVL.
#define FLG_G 0x8u
#define FLG_DB 0x4u
#define FLG_L 0x2u

static inline uint64_t seg_desc(uint32_t base, uint32_t limit, uint32_t access, uint32_t flags) {
  return (uint64_t)(limit & 0xffff) | ((uint64_t)(base & 0xffffff) << 16) |
         ((uint64_t)(access & 0xff) << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
         ((uint64_t)(flags & 0xf) << 52) | ((uint64_t)(base >> 24) << 56);
}
// Flat 4 GiB code/data segments.
static inline uint64_t flat_code32(int dpl) {
  return seg_desc(0, 0xfffff, ACC_P | ACC_DPL(dpl) | ACC_S | TYPE_CODE_XR, FLG_G | FLG_DB);
}
static inline uint64_t flat_data32(int dpl) {
  return seg_desc(0, 0xfffff, ACC_P | ACC_DPL(dpl) | ACC_S | TYPE_DATA_RW, FLG_G | FLG_DB);
}
static inline uint64_t code64(int dpl) {
  return seg_desc(0, 0xfffff, ACC_P | ACC_DPL(dpl) | ACC_S | TYPE_CODE_XR, FLG_G | FLG_L);
}
// A 32-bit gate (interrupt, trap, call or task): offset, selector, parameter count.
static inline uint64_t gate32(uint32_t offset, uint16_t sel, uint32_t type, int dpl, int params) {
  return (uint64_t)(offset & 0xffff) | ((uint64_t)sel << 16) | ((uint64_t)(params & 0x1f) << 32) |
         ((uint64_t)(ACC_P | ACC_DPL(dpl) | type) << 40) | ((uint64_t)(offset >> 16) << 48);
}
// 64-bit gate: two quadwords.
struct gate64 {
  uint64_t lo, hi;
};
static inline struct gate64 make_gate64(uint64_t offset, uint16_t sel, uint32_t type, int dpl,
                                        int ist) {
  struct gate64 g;
  g.lo = (offset & 0xffff) | ((uint64_t)sel << 16) | ((uint64_t)(ist & 7) << 32) |
         ((uint64_t)(ACC_P | ACC_DPL(dpl) | type) << 40) | (((offset >> 16) & 0xffff) << 48);
  g.hi = offset >> 32;
  return g;
}

// 32-bit TSS (SDM Vol. 3A, Figure 8-2).
struct __attribute__((packed)) tss32 {
  uint16_t link, r0;
  uint32_t esp0;
  uint16_t ss0, r1;
  uint32_t esp1;
  uint16_t ss1, r2;
  uint32_t esp2;
  uint16_t ss2, r3;
  uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
  uint16_t es, r4, cs, r5, ss, r6, ds, r7, fs, r8, gs, r9, ldt, r10;
  uint16_t trap, iomap_base;
};
// 64-bit TSS (SDM Vol. 3A, Figure 8-11).
struct __attribute__((packed)) tss64 {
  uint32_t r0;
  uint64_t rsp[3];
  uint64_t r1;
  uint64_t ist[7];  // ist[n - 1] is ISTn
  uint64_t r2;
  uint16_t r3, iomap_base;
};
_Static_assert(sizeof(struct tss32) == 104, "32-bit TSS layout");
_Static_assert(sizeof(struct tss64) == 104, "64-bit TSS layout");
