// Thin inline wrappers over x86 instructions, for both the 32-bit and the 64-bit parts.
#pragma once

#include <stdint.h>

typedef unsigned long ureg;  // a general register: 32 bits in the 32-bit part, 64 in 64-bit

static inline void outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v) {
  __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

#define DEFINE_CR_ACCESS(n)                                  \
  static inline ureg read_cr##n(void) {                      \
    ureg v;                                                  \
    __asm__ volatile("mov %%cr" #n ", %0" : "=r"(v));        \
    return v;                                                \
  }                                                          \
  static inline void write_cr##n(ureg v) {                   \
    __asm__ volatile("mov %0, %%cr" #n ::"r"(v) : "memory"); \
  }
DEFINE_CR_ACCESS(0)
DEFINE_CR_ACCESS(2)
DEFINE_CR_ACCESS(3)
DEFINE_CR_ACCESS(4)
#undef DEFINE_CR_ACCESS

static inline ureg read_dr6(void) {
  ureg v;
  __asm__ volatile("mov %%dr6, %0" : "=r"(v));
  return v;
}
static inline void write_dr6(ureg v) {
  __asm__ volatile("mov %0, %%dr6" ::"r"(v));
}

static inline uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}
static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}
struct cpuid_regs {
  uint32_t eax, ebx, ecx, edx;
};
static inline struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf) {
  struct cpuid_regs r;
  __asm__ volatile("cpuid"
                   : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                   : "a"(leaf), "c"(subleaf));
  return r;
}
static inline ureg read_flags(void) {
  ureg f;
  __asm__ volatile("pushf; pop %0" : "=r"(f));
  return f;
}
static inline void write_flags(ureg f) {
  __asm__ volatile("push %0; popf" ::"r"(f) : "memory", "cc");
}

#define DEFINE_SEG_READ(s)                          \
  static inline uint16_t read_##s(void) {           \
    uint16_t v;                                     \
    __asm__ volatile("mov %%" #s ", %0" : "=r"(v)); \
    return v;                                       \
  }
DEFINE_SEG_READ(cs)
DEFINE_SEG_READ(ds)
DEFINE_SEG_READ(es)
DEFINE_SEG_READ(fs)
DEFINE_SEG_READ(gs)
DEFINE_SEG_READ(ss)
#undef DEFINE_SEG_READ

static inline uint16_t read_tr(void) {
  uint16_t v;
  __asm__ volatile("str %0" : "=r"(v));
  return v;
}

struct __attribute__((packed)) table_register {
  uint16_t limit;
  ureg base;
};
static inline void lgdt(const void* base, uint16_t limit) {
  struct table_register r = {limit, (ureg)base};
  __asm__ volatile("lgdt %0" ::"m"(r) : "memory");
}
static inline void lidt(const void* base, uint16_t limit) {
  struct table_register r = {limit, (ureg)base};
  __asm__ volatile("lidt %0" ::"m"(r) : "memory");
}
static inline struct table_register sgdt(void) {
  struct table_register r;
  __asm__ volatile("sgdt %0" : "=m"(r));
  return r;
}
static inline struct table_register sidt(void) {
  struct table_register r;
  __asm__ volatile("sidt %0" : "=m"(r));
  return r;
}
static inline void ltr(uint16_t sel) {
  __asm__ volatile("ltr %0" ::"r"(sel) : "memory");
}
static inline void invlpg(ureg addr) {
  __asm__ volatile("invlpg (%0)" ::"r"(addr) : "memory");
}

// Architectural bit names (Intel SDM Vol. 3A, 2.5 Control Registers; 2.2.1 EFER; 3.4.3 EFLAGS).
#define CR0_PE (1u << 0)
#define CR0_MP (1u << 1)
#define CR0_EM (1u << 2)
#define CR0_TS (1u << 3)
#define CR0_NE (1u << 5)
#define CR0_WP (1u << 16)
#define CR0_AM (1u << 18)
#define CR0_PG (1u << 31)
#define CR4_PSE (1u << 4)
#define CR4_PAE (1u << 5)
#define CR4_PGE (1u << 7)
#define EFL_CF (1u << 0)
#define EFL_FIXED (1u << 1)
#define EFL_ZF (1u << 6)
#define EFL_TF (1u << 8)
#define EFL_IF (1u << 9)
#define EFL_DF (1u << 10)
#define EFL_OF (1u << 11)
#define EFL_IOPL3 (3u << 12)
#define EFL_NT (1u << 14)
#define EFL_RF (1u << 16)
#define EFL_VM (1u << 17)
#define EFL_AC (1u << 18)
#define MSR_TSC (0x10)
#define MSR_SYSENTER_CS (0x174)
#define MSR_SYSENTER_ESP (0x175)
#define MSR_SYSENTER_EIP (0x176)
#define MSR_EFER (0xC0000080)
#define MSR_STAR (0xC0000081)
#define MSR_LSTAR (0xC0000082)
#define MSR_CSTAR (0xC0000083)
#define MSR_SFMASK (0xC0000084)
#define MSR_FS_BASE (0xC0000100)
#define MSR_GS_BASE (0xC0000101)
#define MSR_KERNEL_GS_BASE (0xC0000102)
#define EFER_SCE (1u << 0)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)
#define EFER_NXE (1u << 11)
