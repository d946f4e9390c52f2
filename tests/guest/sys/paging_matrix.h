// The permission-matrix engine of the paging_matrix kernel, shared by its 32-bit part (32-bit and
// PAE paging) and its 64-bit part (4-level paging). A part describes its paging mode with
// struct pm_mode (how to build the entries of one case, where they are) and calls pm_run(),
// pm_run_reserved() and pm_run_implicit().
//
// Every case of pm_run(): the rights-carrying entries of the walk to VA (root first) get U/S and
// R/W from two bit masks and XD (where the mode has it) nowhere / in the leaf / in the top entry,
// then one access (read, write, fetch) at CPL 0 or 3 under CR0.WP, EFER.NXE, CR4.SMEP, CR4.SMAP
// and EFLAGS.AC. The model below is the SDM's (vol. 3, 4.6 rights, 4.7 error code, 4.8 A/D):
// fault or not, the error code, CR2, the saved instruction pointer, and afterwards A in every
// entry and D in the leaf exactly when a permitted write happened. Every case runs with a cold
// TLB, and under three SMEP / SMAP / AC settings again with a warm one (pm_case.warm).
//
// pm_run_reserved() sets one reserved bit (or one ignored bit) in one entry of an otherwise fully
// permissive walk: a reserved bit is #PF with RSVD and P, no A below that entry, D never.
// pm_run_implicit() makes the walk's target page an LDT and loads DS from it: an implicit
// supervisor-mode read, which SMAP forbids on a user page whatever EFLAGS.AC is, and (with the
// descriptor's accessed bit clear) an implicit supervisor-mode write, which honours CR0.WP.
//
// SMEP and SMAP would stop the kernel itself, which the test library maps user-accessible (its
// ring-3 probes run the kernel's own code and stack). With either of them (or EFLAGS.AC) the mode
// makes the identity map supervisor-only (pm_mode.supervisor_kernel) and the CPL-3 half of a case
// runs through PM_USER_ALIAS, a user-accessible alias of the kernel's code and user stack. The
// cases with SMEP = SMAP = AC = 0 keep the user-accessible identity map.
#pragma once

#include "trap.h"
#include "x86.h"

#define PM_TARGET 0x2800000u  // physical page every leaf maps (4 MiB aligned)
#define PM_DATA_OFF 0x100
#define PM_EFER_NXE (1ull << 11)
#define PM_CR4_SMEP (1u << 20)  // SDM vol. 3, 2.5
#define PM_CR4_SMAP (1u << 21)
// The linear offset of the user alias of the low 4 MiB (32-bit part) / 8 MiB (64-bit part). A
// string too, for the assembler.
#define PM_USER_ALIAS 0x40000000u
#define PM_USER_ALIAS_STR "0x40000000"

enum { PM_READ, PM_WRITE, PM_FETCH };
static const char* const pm_access_name[] = {"read", "write", "fetch"};

// The paging modes, for their reserved bits (SDM vol. 3, tables 4-4 .. 4-11 and 4-14 .. 4-20).
enum { PM_KIND_32BIT, PM_KIND_PAE, PM_KIND_4LEVEL };

// What a reserved-bit case does to its entry.
enum {
  PM_RSVD_NONE,
  PM_RSVD_SET,          // a reserved bit set: #PF with RSVD | P
  PM_RSVD_NOT_PRESENT,  // the same bit, and P = 0: #PF without P and RSVD (P = 0 wins, 4.7)
  PM_RSVD_IGNORED,      // a bit the mode ignores: the access behaves as without it
};
static const char* const pm_rsvd_name[] = {"", "reserved", "reserved+P=0", "ignored"};

struct pm_case {
  int levels;       // rights-carrying entries in the walk (root first; the last is the leaf)
  unsigned us, rw;  // bit i: U/S (R/W) set in entry i
  int xd;           // 0 none, 1 the leaf, 2 the top entry
  int access, cpl, wp, nxe;
  int smep, smap, ac;  // CR4.SMEP, CR4.SMAP, EFLAGS.AC (at CPL 3 too, where AC changes nothing)
  int rsvd;            // PM_RSVD_*: entry rsvd_entry gets bit rsvd_bit
  int rsvd_entry, rsvd_bit;
  // Warm TLB: before the access, a read at CPL 0 with EFLAGS.AC = 1 and one at CPL 3 (outcomes
  // ignored) may cache the translation. Rights come from the unchanged entries and the current
  // CR0/CR4/EFLAGS/CPL at every access, so the result must not change (SDM vol. 3, 4.10.2.2,
  // 4.10.4: CPL and AC changes need no invalidation), and a write after them must still set D.
  int warm;
};

struct pm_mode {
  const char* name;
  int kind;    // PM_KIND_*
  ureg va;     // the linear address whose walk the cases build (VA + PM_DATA_OFF for data)
  int has_xd;  // XD exists (PAE and 4-level paging); with NXE = 0 it is a reserved bit
  // Rights-level counts to test (largest first, one per leaf size) and their names.
  int level_options[3];
  const char* level_names[3];
  int num_options;
  // Writes the entries of the case (A/D clear), then invalidates VA.
  void (*setup)(const struct pm_case* c);
  // The value of rights entry i (0 = root) after the access.
  uint64_t (*entry)(const struct pm_case* c, int i);
  // Sets and clears bits of rights entry i (no invalidation).
  void (*modify)(int i, uint64_t set, uint64_t clear);
  // Makes the kernel's identity map supervisor-only (1) or user-accessible again (0) and
  // flushes the TLB; the user alias at PM_USER_ALIAS stays.
  void (*supervisor_kernel)(int on);
};

static unsigned long pm_cases, pm_mismatches, pm_rsvd_without_p;
// A bits found after a reserved-bit fault in the bad entry and above it (not specified).
static unsigned long pm_bad_entry_a_after_rsvd, pm_upper_a_after_rsvd;

static uint32_t pm_fetch_id(const struct pm_mode* m, const struct pm_case* c) {
  // I/D: fetches, when SMEP or PAE-type paging with NXE (SDM vol. 3, 4.7).
  return c->access == PM_FETCH && (c->smep || (m->has_xd && c->nxe)) ? 0x10 : 0;
}

// 0 = allowed, else 0x10000 | the #PF error code.
static uint32_t pm_expected(const struct pm_mode* m, const struct pm_case* c) {
  const unsigned all = (1u << c->levels) - 1;
  const uint32_t err =
      (c->access == PM_WRITE ? 2u : 0u) | (c->cpl == 3 ? 4u : 0u) | pm_fetch_id(m, c);
  if (c->rsvd == PM_RSVD_NOT_PRESENT) return 0x10000 | err;
  if (c->rsvd == PM_RSVD_SET) return 0x10000 | 1 | 8 | err;
  if (c->xd && !c->nxe) return 0x10000 | 1 | 8 | err;  // XD without NXE: reserved
  const int user = (c->us & all) == all;
  const int writable = (c->rw & all) == all;
  const int nx = c->xd && c->nxe;
  int ok;
  if (c->cpl == 3) {
    // User-mode accesses: SMEP, SMAP and AC play no part (SDM vol. 3, 4.6.1).
    ok = user && (c->access == PM_READ || (c->access == PM_WRITE && writable) ||
                  (c->access == PM_FETCH && !nx));
  } else if (c->access == PM_FETCH) {
    // Supervisor fetches: not from a user-mode address with SMEP; not with XD and NXE.
    ok = !(user && c->smep) && !nx;
  } else {
    // Explicit supervisor data accesses: a user-mode address only with SMAP off or AC = 1;
    // writes need R/W at every level only with CR0.WP.
    const int smap_blocks = user && c->smap && !c->ac;
    ok = !smap_blocks && (c->access == PM_READ || writable || !c->wp);
  }
  return ok ? 0 : (0x10000 | 1 | err);
}

#ifdef __x86_64__
#define PM_LOAD "movq (%%rax), %%rbx"
#define PM_STORE "movq %%rbx, (%%rax)"
#define PM_CALL "callq *%%rax"
#define PM_SET_AC "pushfq\n\torl $0x40000, (%%rsp)\n\tpopfq"
#define PM_CLEAR_AC "pushfq\n\tandl $0xfffbffff, (%%rsp)\n\tpopfq\n\t"
// USER_ENTRY (trap.h) entering the user alias of the code that follows it.
#define PM_USER_ENTRY_ALIAS                                                     \
  "pushq user_ss(%%rip)\n\tpushq user_sp(%%rip)\n\tpushq user_flags(%%rip)\n\t" \
  "pushq user_cs(%%rip)\n\tpushq $7f+" PM_USER_ALIAS_STR "\n\tiretq\n7:\t"
#else
#define PM_LOAD "movl (%%eax), %%ebx"
#define PM_STORE "movl %%ebx, (%%eax)"
#define PM_CALL "call *%%eax"
#define PM_SET_AC "pushfl\n\torl $0x40000, (%%esp)\n\tpopfl"
#define PM_CLEAR_AC "pushfl\n\tandl $0xfffbffff, (%%esp)\n\tpopfl\n\t"
#define PM_USER_ENTRY_ALIAS                                                 \
  "pushl user_ss\n\tpushl user_sp\n\tpushl user_flags\n\tpushl user_cs\n\t" \
  "pushl $7f+" PM_USER_ALIAS_STR                                            \
  "\n\tiret\n7:\tmovw $0x23, %%bx\n\tmovw %%bx, %%ds\n\t"                   \
  "movw %%bx, %%es\n\t"
#endif

// A ring-3 probe that runs from the user alias: the probe marks are stored at CPL 0 before the
// IRET (the kernel's variables are supervisor-only), so probe_ip is the identity address of the
// instruction and the saved IP of a fault is probe_ip + PM_USER_ALIAS.
#define PM_USER_ALIAS_ASM1(insn, a) \
  TRY_ASM1(MARK_PROBE PM_USER_ENTRY_ALIAS "1:\t" insn "\n2:\n\tint $0x80\n\t", a)

// Whether the case runs with the supervisor-only identity map and the user alias.
static int pm_uses_alias(const struct pm_case* c) {
  return c->smep || c->smap || c->ac;
}

// trap_reset() for the hot path: clears what the checks read before the event record rewrites
// it (the library's version clears the whole record byte by byte, the bulk of a case's work).
static void pm_trap_reset(void) {
  trap.count = 0;
  trap.vector = ~0u;
  trap.error_code = 0;
  probe_ip = probe_next = 0;
}

// Runs the access; returns 1 if an event other than the user-done interrupt happened.
static int pm_access(const struct pm_mode* m, const struct pm_case* c) {
  pm_trap_reset();
  const ureg data = m->va + PM_DATA_OFF;
  if (c->cpl == 0 && !c->ac) {
    if (c->access == PM_READ) return TRY_ASM1(FAULT_AT(PM_LOAD), data);
    if (c->access == PM_WRITE) return TRY_ASM1(FAULT_AT(PM_STORE), data);
    return TRY_ASM1(FAULT_AT(PM_CALL), m->va);
  }
  if (c->cpl == 0) {  // AC = 1 around the access only (a fault returns with EFLAGS = 2)
    if (c->access == PM_READ) return TRY_ASM1(FAULT_AFTER(PM_SET_AC, PM_LOAD) PM_CLEAR_AC, data);
    if (c->access == PM_WRITE) return TRY_ASM1(FAULT_AFTER(PM_SET_AC, PM_STORE) PM_CLEAR_AC, data);
    return TRY_ASM1(FAULT_AFTER(PM_SET_AC, PM_CALL) PM_CLEAR_AC, m->va);
  }
  if (!pm_uses_alias(c)) {
    if (c->access == PM_READ)
      USER_ASM1(FAULT_AT(PM_LOAD), data);
    else if (c->access == PM_WRITE)
      USER_ASM1(FAULT_AT(PM_STORE), data);
    else
      USER_ASM1(FAULT_AT(PM_CALL), m->va);
    return trap.vector != VEC_USER_DONE;
  }
  user_sp += PM_USER_ALIAS;
  if (c->ac) user_flags |= EFL_AC;
  if (c->access == PM_READ)
    PM_USER_ALIAS_ASM1(PM_LOAD, data);
  else if (c->access == PM_WRITE)
    PM_USER_ALIAS_ASM1(PM_STORE, data);
  else
    PM_USER_ALIAS_ASM1(PM_CALL, m->va);
  user_reset();
  return trap.vector != VEC_USER_DONE;
}

static void pm_mismatch(const struct pm_mode* m, const struct pm_case* c, const char* what,
                        uint64_t got, uint64_t want) {
  if (++pm_mismatches > 12) return;
  kprintf(
      "mismatch: %s %s: %d levels us=%x rw=%x xd=%d %s CPL%d WP=%d NXE=%d SMEP=%d SMAP=%d "
      "AC=%d",
      m->name, what, c->levels, c->us, c->rw, c->xd, pm_access_name[c->access], c->cpl, c->wp,
      c->nxe, c->smep, c->smap, c->ac);
  if (c->warm) kprintf(" warm TLB");
  if (c->rsvd) kprintf(" %s bit %d in entry %d", pm_rsvd_name[c->rsvd], c->rsvd_bit, c->rsvd_entry);
  kprintf(": got %llx want %llx\n", (unsigned long long)got, (unsigned long long)want);
}

static void pm_case_run(const struct pm_mode* m, const struct pm_case* c) {
  ++pm_cases;
  m->setup(c);
  if (c->rsvd) {
    const uint64_t bit = 1ull << c->rsvd_bit;
    m->modify(c->rsvd_entry, bit, c->rsvd == PM_RSVD_NOT_PRESENT ? 1 : 0);
    invlpg(m->va);
    invlpg(m->va + PM_DATA_OFF);
  }
  const uint32_t want = pm_expected(m, c);
  if (c->warm) {
    struct pm_case w = *c;
    w.access = PM_READ;
    w.cpl = 0;
    w.ac = 1;
    pm_access(m, &w);
    w.cpl = 3;
    w.ac = c->ac;  // the same kernel map and alias choice as the case
    pm_access(m, &w);
  }
  const int faulted = pm_access(m, c);
  const uint64_t leaf = m->entry(c, c->levels - 1);
  if (faulted != (want != 0)) {
    pm_mismatch(m, c, "fault", faulted, want != 0);
    if (faulted) print_trap();
    return;
  }
  if (faulted) {
    const ureg addr = c->access == PM_FETCH ? m->va : m->va + PM_DATA_OFF;
    if (trap.vector != 14) pm_mismatch(m, c, "vector", trap.vector, 14);
    if (trap.error_code != (want & 0xFFFF)) {
      // QEMU TCG reports reserved-bit faults with P = 0 (docs/guest-tests.md, known
      // deviations): counted apart, tolerated on QEMU only.
      if ((want & 8) && trap.error_code == ((want & 0xFFFF) & ~1u))
        ++pm_rsvd_without_p;
      else
        pm_mismatch(m, c, "error code", trap.error_code, want & 0xFFFF);
    }
    if (trap.cr2 != addr) pm_mismatch(m, c, "CR2", trap.cr2, addr);
    const ureg alias = c->cpl == 3 && pm_uses_alias(c) ? PM_USER_ALIAS : 0;
    const ureg ip = c->access == PM_FETCH ? m->va : probe_ip + alias;
    if (trap.ip != ip) pm_mismatch(m, c, "saved IP", trap.ip, ip);
    if (leaf & (1u << 6)) pm_mismatch(m, c, "D after a fault", 1, 0);
    if (c->rsvd == PM_RSVD_SET || c->rsvd == PM_RSVD_NOT_PRESENT) {
      // The walk stops at the entry with the reserved bit (or P = 0): the entries below it are
      // never read, so they get no A. Whether the bad entry itself and those above it get A on
      // such a fault the SDM leaves open (vol. 3, 4.8 sets A in entries "used" for a
      // translation, and there is none): counted for the report only.
      for (int i = c->rsvd_entry + 1; i < c->levels; ++i)
        if (m->entry(c, i) & (1u << 5)) pm_mismatch(m, c, "A below the bad entry", i, 0);
      if (m->entry(c, c->rsvd_entry) & (1u << 5)) ++pm_bad_entry_a_after_rsvd;
      for (int i = 0; i < c->rsvd_entry; ++i)
        if (m->entry(c, i) & (1u << 5)) ++pm_upper_a_after_rsvd;
    }
    return;
  }
  for (int i = 0; i < c->levels; ++i)
    if (!(m->entry(c, i) & (1u << 5))) pm_mismatch(m, c, "A after the access", i, 1);
  const int dirty = (leaf & (1u << 6)) != 0;
  if (dirty != (c->access == PM_WRITE))
    pm_mismatch(m, c, "D after the access", dirty, c->access == PM_WRITE);
}

// Writes the fetch target: "mov eax, 0x600d; ret" at offset 0, data at PM_DATA_OFF.
static void pm_write_target(void) {
  volatile uint8_t* code = (volatile uint8_t*)(ureg)PM_TARGET;
  const uint8_t bytes[] = {0xB8, 0x0D, 0x60, 0x00, 0x00, 0xC3};
  for (unsigned i = 0; i < sizeof bytes; ++i) code[i] = bytes[i];
}

// CPUID.(EAX=07H, ECX=0):EBX bit 7 (SMEP) and bit 20 (SMAP).
static uint32_t pm_leaf7_ebx(void) {
  return cpuid(0, 0).eax >= 7 ? cpuid(7, 0).ebx : 0;
}

// The full matrix under one SMEP / SMAP / AC setting (CR4 and the identity map already set).
static void pm_run_protection(const struct pm_mode* m, uint64_t efer0, ureg cr0_0, int smep,
                              int smap, int ac, int warm) {
  const unsigned long cases0 = pm_cases, mism0 = pm_mismatches;
  unsigned long per_option[3] = {0, 0, 0};
  for (int nxe = 0; nxe < 2; ++nxe) {
    wrmsr(MSR_EFER, nxe ? efer0 | PM_EFER_NXE : efer0 & ~PM_EFER_NXE);
    for (int wp = 0; wp < 2; ++wp) {
      write_cr0(wp ? cr0_0 | CR0_WP : cr0_0 & ~(ureg)CR0_WP);
      for (int o = 0; o < m->num_options; ++o) {
        const int levels = m->level_options[o];
        const unsigned combos = 1u << levels;
        for (unsigned us = 0; us < combos; ++us)
          for (unsigned rw = 0; rw < combos; ++rw)
            for (int xd = 0; xd < (m->has_xd ? 3 : 1); ++xd)
              for (int access = 0; access < 3; ++access)
                for (int cpl = 0; cpl <= 3; cpl += 3) {
                  const struct pm_case c = {.levels = levels,
                                            .us = us,
                                            .rw = rw,
                                            .xd = xd,
                                            .access = access,
                                            .cpl = cpl,
                                            .wp = wp,
                                            .nxe = nxe,
                                            .smep = smep,
                                            .smap = smap,
                                            .ac = ac,
                                            .warm = warm};
                  pm_case_run(m, &c);
                  ++per_option[o];
                }
      }
    }
  }
  wrmsr(MSR_EFER, efer0);
  write_cr0(cr0_0);
  char sizes[128];
  int n = 0;
  for (int o = 0; o < m->num_options; ++o)
    n += ksnprintf(sizes + n, sizeof sizes - (size_t)n, "%s%lu with %s leaves", o ? ", " : "",
                   per_option[o], m->level_names[o]);
  const char* tlb = warm ? ", warm TLB (reads at CPL 0 with AC = 1 and at CPL 3 first)" : "";
  if (!smep && !smap && !ac)
    check_eq(pm_mismatches - mism0, 0, "%s%s: %lu cases (%s): fault, error code, CR2, IP, A/D",
             m->name, tlb, pm_cases - cases0, sizes);
  else
    check_eq(pm_mismatches - mism0, 0,
             "%s, SMEP=%d SMAP=%d AC=%d (supervisor-only kernel)%s: %lu cases (%s): fault, "
             "error code, CR2, IP, A/D",
             m->name, smep, smap, ac, tlb, pm_cases - cases0, sizes);
}

// Runs the whole matrix of the mode (paging must be on with the mode's tables): first with
// SMEP = SMAP = AC = 0, then every other SMEP / SMAP / AC combination the CPU supports, each with
// a cold TLB and three of them also with a warm one; one check per combination and TLB state.
static void pm_run(const struct pm_mode* m, uint64_t efer0, ureg cr0_0) {
  section(m->name);
  pm_write_target();
  const uint32_t leaf7 = pm_leaf7_ebx();
  const int has_smep = (leaf7 >> 7) & 1, has_smap = (leaf7 >> 20) & 1;
  const ureg cr4_0 = read_cr4();
  for (int p = 0; p < 8; ++p) {
    const int smep = p & 1, smap = (p >> 1) & 1, ac = (p >> 2) & 1;
    if ((smep && !has_smep) || (smap && !has_smap)) continue;
    if (p) m->supervisor_kernel(1);
    write_cr4(cr4_0 | (smep ? PM_CR4_SMEP : 0) | (smap ? PM_CR4_SMAP : 0));
    // The warm half where the cached rights could go stale: no SMEP/SMAP, and SMEP with SMAP at
    // either AC (the supervisor, user and AC=1 views of a translation all differ there).
    const int warm_too = p == 0 || (smep && smap);
    for (int warm = 0; warm <= warm_too; ++warm)
      pm_run_protection(m, efer0, cr0_0, smep, smap, ac, warm);
    write_cr4(cr4_0);
    if (p) m->supervisor_kernel(0);
  }
  if (!has_smep || !has_smap)
    kprintf("note: CPUID does not advertise%s%s: those cases skipped\n", has_smep ? "" : " SMEP",
            has_smap ? "" : " SMAP");
}

// The bits of rights entry i (of a walk with `levels` rights entries) that are reserved or
// ignored for the mode, at most PM_MAX_BITS; returns the count. SDM vol. 3: 32-bit paging tables
// 4-4 .. 4-6 (bit 21 of a 4-MiB PDE reserved); PAE paging tables 4-8 .. 4-11 (bits 62:MAXPHYADDR
// of a PDE or PTE, bits 20:13 of a 2-MiB PDE reserved; PDPTE reserved bits are #GP at the CR3
// load, not #PF: pdpte_reserved() in the 32-bit part); 4-level paging tables 4-14 .. 4-20 (bits
// 51:MAXPHYADDR everywhere, PS in a PML4E, bits 20:13 of a 2-MiB PDE and 29:13 of a 1-GiB PDPTE
// reserved; bits 62:52 ignored with CR4.PKE = 0). Bits 11:9 are ignored in every mode; the PAT
// bit of a leaf is tested with them (no fault).
#define PM_MAX_BITS 12
static int pm_reserved_bits(const struct pm_mode* m, int levels, int i, int maxphyaddr,
                            int bits[PM_MAX_BITS], int kinds[PM_MAX_BITS]) {
  int n = 0;
  const int leaf = i == levels - 1;
#define PM_ADD(b, k) (bits[n] = (b), kinds[n] = (k), ++n)
  PM_ADD(9, PM_RSVD_IGNORED);
  PM_ADD(11, PM_RSVD_IGNORED);
  // PAT (CPUID.01H:EDX bit 16): bit 7 of a 4-KiB PTE, bit 12 of a large leaf select the memory
  // type, they are no reserved bits (tables 4-4 .. 4-20).
  if (leaf && (cpuid(1, 0).edx >> 16) & 1)
    PM_ADD(i == m->level_options[0] - 1 ? 7 : 12, PM_RSVD_IGNORED);
  if (m->kind == PM_KIND_32BIT) {
    if (leaf && levels == 1) PM_ADD(21, PM_RSVD_SET);  // 4-MiB leaf
    return n;
  }
  if (maxphyaddr < 52) PM_ADD(maxphyaddr, PM_RSVD_SET);
  if (maxphyaddr < 51) PM_ADD(51, PM_RSVD_SET);
  if (m->kind == PM_KIND_PAE) {
    PM_ADD(62, PM_RSVD_SET);
    if (leaf && levels == 1) {  // 2-MiB leaf
      PM_ADD(13, PM_RSVD_SET);
      PM_ADD(20, PM_RSVD_SET);
    }
    return n;
  }
  if (i == 0) PM_ADD(7, PM_RSVD_SET);  // PS in a PML4E
  if (leaf && levels == 3) {           // 2-MiB leaf
    PM_ADD(13, PM_RSVD_SET);
    PM_ADD(20, PM_RSVD_SET);
  }
  if (leaf && levels == 2) {  // 1-GiB leaf
    PM_ADD(13, PM_RSVD_SET);
    PM_ADD(29, PM_RSVD_SET);
  }
  PM_ADD(52, PM_RSVD_IGNORED);
  PM_ADD(62, PM_RSVD_IGNORED);
#undef PM_ADD
  return n;
}

// Reserved and ignored bits in every entry of the walk, for every leaf size: each reserved bit
// with P = 1 and with P = 0, each ignored bit with P = 1; x read / write / fetch x CPL 0 / 3 x
// EFER.NXE, on a walk with U/S and R/W set everywhere. One check for the mode.
static void pm_run_reserved(const struct pm_mode* m, uint64_t efer0, ureg cr0_0) {
  char title[64];
  ksnprintf(title, sizeof title, "%s: reserved bits", m->name);
  section(title);
  pm_write_target();
  // MAXPHYADDR: CPUID.80000008H:EAX[7:0], else 36 (SDM vol. 3, 4.1.4).
  const int maxphyaddr =
      (int)(cpuid(0x80000000, 0).eax >= 0x80000008 ? cpuid(0x80000008, 0).eax & 0xff : 36);
  const int has_smep = (pm_leaf7_ebx() >> 7) & 1;
  const ureg cr4_0 = read_cr4();
  const unsigned long cases0 = pm_cases, mism0 = pm_mismatches;
  unsigned long reserved = 0, ignored = 0;
  const int wp = (cr0_0 & CR0_WP) != 0;
  // SMEP too: it sets I/D in the error code of every fetch fault, also in 32-bit paging.
  for (int smep = 0; smep <= has_smep; ++smep) {
    if (smep) {
      m->supervisor_kernel(1);
      write_cr4(cr4_0 | PM_CR4_SMEP);
    }
    for (int nxe = 0; nxe < 2; ++nxe) {
      wrmsr(MSR_EFER, nxe ? efer0 | PM_EFER_NXE : efer0 & ~PM_EFER_NXE);
      for (int o = 0; o < m->num_options; ++o) {
        const int levels = m->level_options[o];
        const unsigned all = (1u << levels) - 1;
        for (int i = 0; i < levels; ++i) {
          int bits[PM_MAX_BITS], kinds[PM_MAX_BITS];
          const int nbits = pm_reserved_bits(m, levels, i, maxphyaddr, bits, kinds);
          for (int b = 0; b < nbits; ++b)
            for (int np = 0; np < (kinds[b] == PM_RSVD_SET ? 2 : 1); ++np)
              for (int access = 0; access < 3; ++access)
                for (int cpl = 0; cpl <= 3; cpl += 3) {
                  const int rsvd = np ? PM_RSVD_NOT_PRESENT : kinds[b];
                  const struct pm_case c = {.levels = levels,
                                            .us = all,
                                            .rw = all,
                                            .access = access,
                                            .cpl = cpl,
                                            .wp = wp,
                                            .nxe = nxe,
                                            .smep = smep,
                                            .rsvd = rsvd,
                                            .rsvd_entry = i,
                                            .rsvd_bit = bits[b]};
                  pm_case_run(m, &c);
                  if (rsvd == PM_RSVD_IGNORED)
                    ++ignored;
                  else
                    ++reserved;
                }
        }
      }
    }
    if (smep) {
      write_cr4(cr4_0);
      m->supervisor_kernel(0);
    }
  }
  wrmsr(MSR_EFER, efer0);
  check_eq(pm_mismatches - mism0, 0,
           "%s: %lu reserved-bit cases (%lu reserved, with P = 1 and P = 0; %lu ignored; "
           "MAXPHYADDR %d; SMEP %s): fault, error code (RSVD, I/D), CR2, IP, no A below the "
           "entry, no D",
           m->name, pm_cases - cases0, reserved, ignored, maxphyaddr,
           has_smep ? "off and on" : "off (not advertised)");
}

// ---- implicit supervisor-mode accesses (SDM vol. 3, 4.6) ----
// A segment load reads its descriptor from the GDT or LDT: an implicit supervisor-mode access at
// any CPL. The LDT here lies on the case's target page, its descriptor PM_LDT_INDEX at
// VA + PM_DATA_OFF, so MOV DS reads the target page as a supervisor. With SMAP that faults on a
// user page whatever EFLAGS.AC and CPL are (4.6.1: "If EFLAGS.AC = 0 or the access is implicit,
// data may not be read from any user-mode address"), with U/S = 0 in the error code even at
// CPL 3 (4.7: U/S describes the access, and an implicit access is a supervisor-mode one).
#define PM_LDT_INDEX (PM_DATA_OFF / 8)
#define PM_LDT_SEL ((PM_LDT_INDEX << 3) | 4 | 3)  // TI = 1, RPL 3
#ifdef __x86_64__
#define PM_LDT_GDT_SEL SEL64_FIRST_FREE
#define PM_KDATA_SEL SEL64_KDATA
#else
#define PM_LDT_GDT_SEL SEL32_FIRST_FREE
#define PM_KDATA_SEL SEL32_KDATA
#endif
#define PM_LOAD_DS "movw %%ax, %%ds"

// Points LDTR at an LDT at linear `base` (limit one page), or makes it null (base 0).
static void pm_load_ldt(ureg base) {
  gdt[PM_LDT_GDT_SEL >> 3] = seg_desc((uint32_t)base, 0xfff, ACC_P | TYPE_LDT, 0);
#ifdef __x86_64__
  gdt[(PM_LDT_GDT_SEL >> 3) + 1] = (uint64_t)base >> 32;  // 16-byte LDT descriptor (8.2.3)
#endif
  const uint16_t sel = base ? PM_LDT_GDT_SEL : 0;
  __asm__ volatile("lldt %0" ::"r"(sel) : "memory");
  if (!base) gdt[PM_LDT_GDT_SEL >> 3] = 0;
}

// MOV DS, PM_LDT_SEL at the case's CPL (and EFLAGS.AC); returns 1 if it faulted.
static int pm_implicit_access(const struct pm_case* c) {
  trap_reset();
  if (c->cpl == 0 && !c->ac)
    return TRY_ASM3(FAULT_AT(PM_LOAD_DS) "movw %%cx, %%ds\n\t", PM_LDT_SEL, PM_KDATA_SEL, 0);
  if (c->cpl == 0)
    return TRY_ASM3(FAULT_AFTER(PM_SET_AC, PM_LOAD_DS) "movw %%cx, %%ds\n\t" PM_CLEAR_AC,
                    PM_LDT_SEL, PM_KDATA_SEL, 0);
  user_sp += PM_USER_ALIAS;
  if (c->ac) user_flags |= EFL_AC;
  TRY_ASM1(MARK_PROBE PM_USER_ENTRY_ALIAS "1:\t" PM_LOAD_DS "\n2:\n\tint $0x80\n\t", PM_LDT_SEL);
  user_reset();
  return trap.vector != VEC_USER_DONE;
}

// Target page supervisor or user x CR4.SMAP x EFLAGS.AC x CPL 0 / 3, on the mode's smallest
// leaf, with the supervisor-only kernel map: one check per case (fault and error code), one for
// CR2, the saved IP and A of the whole set.
static void pm_run_implicit(const struct pm_mode* m) {
  char title[80];
  ksnprintf(title, sizeof title, "%s: implicit supervisor accesses (LDT on the page)", m->name);
  section(title);
  const int has_smap = (pm_leaf7_ebx() >> 20) & 1;
  const ureg cr4_0 = read_cr4();
  const int levels = m->level_options[0];
  const unsigned all = (1u << levels) - 1;
  unsigned long other_mismatches = 0, n = 0;
  m->supervisor_kernel(1);
  for (int user = 0; user < 2; ++user)
    for (int smap = 0; smap <= has_smap; ++smap)
      for (int ac = 0; ac < 2; ++ac)
        for (int cpl = 0; cpl <= 3; cpl += 3) {
          const struct pm_case c = {.levels = levels,
                                    .us = user ? all : 0,
                                    .rw = all,
                                    .access = PM_READ,
                                    .cpl = cpl,
                                    .smap = smap,
                                    .ac = ac};
          m->setup(&c);
          // A flat DPL-3 data descriptor, accessed already so that loading it only reads it.
          *(volatile uint64_t*)(ureg)(PM_TARGET + PM_DATA_OFF) =
              flat_data32(3) | ((uint64_t)TYPE_ACCESSED << 40);
          pm_load_ldt(m->va);
          write_cr4(cr4_0 | (smap ? PM_CR4_SMAP : 0));
          const int faulted = pm_implicit_access(&c);
          write_cr4(cr4_0);
          pm_load_ldt(0);
          ++n;
          const uint32_t want = user && smap ? 0x10000 | 1 : 0;  // P, read, U/S = 0
          const uint32_t got =
              faulted ? 0x10000 | (trap.vector == 14 ? trap.error_code : 0xFFFF) : 0;
          // QEMU 7.2 TCG lets implicit accesses at CPL < 3 with EFLAGS.AC = 1 through, as if
          // they were explicit (docs/guest-tests.md, known deviations).
          const uint32_t qemu = cpl == 0 && ac ? 0 : want;
          check_eq_sdm(got, want, qemu,
                       "%s: MOV DS from an LDT on a %s page, CPL %d, SMAP=%d AC=%d: %s", m->name,
                       user ? "user" : "supervisor", cpl, smap, ac,
                       want ? "#PF, error code P (U/S = 0: implicit supervisor read)" : "no fault");
          if (faulted) {
            if (!want) print_trap();
            const ureg ip = probe_ip + (cpl == 3 ? PM_USER_ALIAS : 0);
            if (trap.cr2 != m->va + PM_DATA_OFF || trap.ip != ip) ++other_mismatches;
          } else {
            for (int i = 0; i < levels; ++i)
              if (!(m->entry(&c, i) & (1u << 5))) ++other_mismatches;
          }
        }
  check_eq(other_mismatches, 0,
           "%s: %lu implicit-read cases: CR2 = the descriptor, saved IP = MOV DS, A after a "
           "read that did not fault",
           m->name, n);

  // Implicit writes: loading a descriptor whose accessed bit is clear makes the processor set
  // it (vol. 3, 3.4.5.1), a supervisor-mode write even at CPL 3. On a read-only page (R/W = 0 at
  // every level) it faults only with CR0.WP = 1, with error code P | W (U/S = 0); a user-mode
  // write would fault at CPL 3 whatever WP is. SMAP off.
  const ureg cr0_0 = read_cr0();
  other_mismatches = n = 0;
  for (int user = 0; user < 2; ++user)
    for (int wp = 0; wp < 2; ++wp)
      for (int cpl = 0; cpl <= 3; cpl += 3) {
        const struct pm_case c = {
            .levels = levels, .us = user ? all : 0, .access = PM_WRITE, .cpl = cpl, .wp = wp};
        m->setup(&c);
        volatile uint64_t* desc = (volatile uint64_t*)(ureg)(PM_TARGET + PM_DATA_OFF);
        *desc = flat_data32(3);  // accessed bit clear
        pm_load_ldt(m->va);
        write_cr0(wp ? cr0_0 | CR0_WP : cr0_0 & ~(ureg)CR0_WP);
        const int faulted = pm_implicit_access(&c);
        write_cr0(cr0_0);
        pm_load_ldt(0);
        ++n;
        const uint32_t want = wp ? 0x10000 | 1 | 2 : 0;  // P, W, U/S = 0
        const uint32_t got = faulted ? 0x10000 | (trap.vector == 14 ? trap.error_code : 0xFFFF) : 0;
        check_eq(got, want,
                 "%s: MOV DS from an LDT on a read-only %s page, descriptor not accessed, CPL %d, "
                 "WP=%d: %s",
                 m->name, user ? "user" : "supervisor", cpl, wp,
                 want ? "#PF, error code P | W (implicit supervisor write)" : "no fault");
        const int accessed = (*desc >> 40) & TYPE_ACCESSED;
        const int dirty = (m->entry(&c, levels - 1) >> 6) & 1;
        if (faulted) {
          if (!want) print_trap();
          // The write's address within the descriptor is not architectural: CR2 must point
          // into it.
          const ureg ip = probe_ip + (cpl == 3 ? PM_USER_ALIAS : 0);
          if (trap.cr2 < m->va + PM_DATA_OFF || trap.cr2 > m->va + PM_DATA_OFF + 7 ||
              trap.ip != ip || accessed || dirty)
            ++other_mismatches;
        } else if (!accessed || !dirty) {
          ++other_mismatches;
        }
      }
  m->supervisor_kernel(0);
  check_eq(other_mismatches, 0,
           "%s: %lu implicit-write cases: after a fault CR2 in the descriptor, saved IP = MOV DS, "
           "descriptor A and leaf D clear; else both set",
           m->name, n);
}

static void pm_finish(void) {
  check_true_sdm(pm_rsvd_without_p == 0,
                 "reserved-bit #PF error codes have P = 1 (SDM vol. 3, 4.7): %lu cases without",
                 pm_rsvd_without_p);
  kprintf(
      "note: after reserved-bit faults, %lu A bits set in the entry with the reserved bit and %lu "
      "above it (the SDM does not specify these; below it: checked, none)\n",
      pm_bad_entry_a_after_rsvd, pm_upper_a_after_rsvd);
  pm_bad_entry_a_after_rsvd = pm_upper_a_after_rsvd = 0;
}
