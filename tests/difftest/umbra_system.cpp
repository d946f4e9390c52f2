#include "umbra_system.h"

#include <cpuid.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "frontend/cpu_state.h"
#include "frontend/system/mode.h"
#include "frontend/system/segmentation_checks.h"
#include "machine/flat64.h"

namespace difftest {

namespace {

// CPUID.1:ECX.OSXSAVE (bit 27): the host kernel set CR4.OSXSAVE.
bool host_osxsave() {
  unsigned a, b, c, d;
  return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 27));
}

// Linux x86-64's fixed GDT layout (arch/x86/include/asm/segment.h): 1 kernel 32-bit code,
// 2 kernel code, 3 kernel data, 4 user 32-bit code (0x23), 5 user data (0x2b), 6 user code
// (0x33), 8-9 the TSS (0x40), 10-11 the LDT when a process has one, 12-14 TLS, 15 the per-CPU
// segment (0x7b). User code cannot see entries with DPL 0; these are the values Linux puts there.
constexpr uint64_t kKernelCode32 = 0x00cf9b000000ffffull;  // base 0, 4 GiB, execute/read, D
constexpr uint64_t kKernelCode64 = 0x00af9b000000ffffull;  // ... L
constexpr uint64_t kKernelData = 0x00cf93000000ffffull;    // read/write, B
constexpr unsigned kTssIndex = 8;
constexpr unsigned kLdtIndex = 10;
constexpr uint32_t kLdtLimit = 16 * 8 - 1;
constexpr uint16_t kKernelCodeSelector = 0x10;
constexpr uint32_t kTssLimit = 0x67;

// A code/data descriptor from what LAR, LSL and a segment load (with RDFSBASE) reported.
uint64_t descriptor_from_probe(const GdtProbe& g) {
  const uint64_t access = (g.rights >> 8) & 0xff;
  const uint64_t flags = (g.rights >> 20) & 0xf;  // AVL, L, D/B, G
  const uint32_t limit = g.lsl_ok ? ((flags & 8) ? g.limit >> 12 : g.limit) & 0xfffff : 0;
  const uint64_t base = static_cast<uint32_t>(g.base);
  return (limit & 0xffff) | ((base & 0xffffff) << 16) | (access << 40) |
         (uint64_t{limit >> 16} << 48) | (flags << 52) | ((base >> 24) << 56);
}

// A 16-byte system descriptor of `type` (DPL 0, present): a busy 64-bit TSS (0xB) or an LDT
// (0x2).
void system_descriptor(uint64_t base, uint32_t limit, unsigned type, uint64_t* lo, uint64_t* hi) {
  *lo = (limit & 0xffff) | ((base & 0xffffff) << 16) | (uint64_t{0x80 | type} << 40) |
        (uint64_t{(limit >> 16) & 0xf} << 48) | (((base >> 24) & 0xff) << 56);
  *hi = base >> 32;
}

// A 64-bit interrupt gate (type 0xE) to `offset` in the kernel code segment.
void interrupt_gate(uint64_t offset, unsigned dpl, uint64_t* lo, uint64_t* hi) {
  *lo = (offset & 0xffff) | (uint64_t{kKernelCodeSelector} << 16) |
        (uint64_t{0x8e | (dpl << 5)} << 40) | (((offset >> 16) & 0xffff) << 48);
  *hi = offset >> 32;
}

umbra::SegmentCache cache_from(uint16_t sel, uint64_t d) {
  if ((sel & 0xfffc) == 0) return umbra::SegmentCache{0, 0, sel, 0};  // null: unusable
  uint32_t limit = static_cast<uint32_t>((d & 0xffff) | ((d >> 32) & 0xf0000));
  if ((d >> 55) & 1) limit = (limit << 12) | 0xfff;
  const uint64_t base = ((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24);
  const uint16_t attrib = static_cast<uint16_t>(((d >> 40) & 0xff) | (((d >> 52) & 0xf) << 8));
  return umbra::SegmentCache{base, limit, sel, attrib};
}

uint8_t* sys_ram(umbra::Flat64Machine& m, uint64_t offset) {
  return m.memory().ram() + kSysPhys + offset;
}

}  // namespace

SystemImage system_image_from(const HostProfile& hp) {
  SystemImage img;
  // GDT: every entry user code can see is rebuilt from the probe; the rest follows Linux's
  // layout (the probe saw them invisible at CPL 3, which is all that matters to user code, but
  // delivery through the IDT needs the kernel code segment, and TR names the TSS).
  for (unsigned i = 1; i < 16; ++i) {
    const GdtProbe& g = hp.gdt[i];
    if (g.lar_ok) {
      img.gdt[i] = descriptor_from_probe(g);
      continue;
    }
    switch (i) {
      case 1:
        img.gdt[i] = kKernelCode32;
        break;
      case 2:
        img.gdt[i] = kKernelCode64;
        break;
      case 3:
        img.gdt[i] = kKernelData;
        break;
      default:
        break;
    }
  }
  if (!hp.gdt[kTssIndex].lar_ok && !hp.gdt[kTssIndex + 1].lar_ok)
    system_descriptor(kSysLinear + kTssOffset, kTssLimit, 0xb, &img.gdt[kTssIndex],
                      &img.gdt[kTssIndex + 1]);
  // LDT: every entry the probe saw; the rest empty. Its limit covers the 16 probed entries: a
  // selector past the host's real limit and one naming an empty entry are the same to LAR, LSL,
  // VERR, VERW and segment loads.
  img.has_ldt = hp.has_ldt();
  if (img.has_ldt) {
    for (unsigned i = 0; i < 16; ++i)
      if (hp.ldt[i].lar_ok) img.ldt[i] = descriptor_from_probe(hp.ldt[i]);
    if (!hp.gdt[kLdtIndex].lar_ok && !hp.gdt[kLdtIndex + 1].lar_ok)
      system_descriptor(kSysLinear + kLdtOffset, kLdtLimit, 0x2, &img.gdt[kLdtIndex],
                        &img.gdt[kLdtIndex + 1]);
  }

  // IDT: DPL 3 exactly where INT n reached the kernel as vector n (3 and 4 on Linux), and at
  // 0x80, Linux's IA-32 system call gate, which is never probed nor generated.
  for (unsigned v = 0; v < 256; ++v)
    img.idt_dpl[v] = hp.int_outcome[v] == IntOutcome::kDelivered || v == 0x80 ? 3 : 0;

  // CR0: PE, PG (long mode), ET (always 1) and AM (the probe's misaligned load raised #AC) are
  // observed; MP, NE and WP are Linux's fixed setting (not observable at CPL 3 here: no FPU in
  // Umbra yet, and the difftest translator ignores WP).
  img.cr0 = umbra::cr0::PE | umbra::cr0::MP | umbra::cr0::ET | umbra::cr0::NE | umbra::cr0::WP |
            umbra::cr0::PG;
  if (hp.alignment_check) img.cr0 |= umbra::cr0::AM;
  // CR4: PAE (long mode); UMIP when SMSW/SGDT/SIDT/SLDT/STR fault or the kernel emulates them
  // (its emulation runs on the #GP); FSGSBASE when RDFSBASE works; TSD when RDTSC faults
  // (seccomp strict mode sets it for the task). PCE stays clear: Umbra has no counters, RDPMC
  // is always #GP(0). OSFXSR and OSXMMEXCPT: Linux sets both on every SSE CPU (SSE runs, an
  // unmasked SIMD exception is #XM, not #UD); OSXSAVE as CPUID.1:ECX.OSXSAVE reports it (XSAVE
  // runs at CPL 3). Other bits (PGE, SMEP, SMAP, ...) have no effect user code can see in this
  // harness and are left clear.
  img.cr4 = umbra::cr4::PAE | umbra::cr4::OSFXSR | umbra::cr4::OSXMMEXCPT;
  if (host_osxsave()) img.cr4 |= umbra::cr4::OSXSAVE;
  if (hp.umip_table_gp || hp.umip_selector_gp || hp.umip_emulated) img.cr4 |= umbra::cr4::UMIP;
  if (hp.fsgsbase) img.cr4 |= umbra::cr4::FSGSBASE;
  if (hp.rdtsc_gp) img.cr4 |= umbra::cr4::TSD;
  // EFER: LME/LMA (long mode), SCE (SYSRET is #GP(0) at CPL 3, not #UD), NXE (fetches from data
  // pages report I/D in the #PF error code).
  img.efer = umbra::efer::LME | umbra::efer::LMA;
  if (hp.sysret_gp) img.efer |= umbra::efer::SCE;
  if (hp.nx) img.efer |= umbra::efer::NXE;
  return img;
}

std::string SystemImage::describe() const {
  std::string s = "umbra system state:";
  char buf[96];
  for (unsigned i = 1; i < 16; ++i) {
    if (!gdt[i]) continue;
    std::snprintf(buf, sizeof buf, " gdt[%u]=%016" PRIx64, i, gdt[i]);
    s += buf;
  }
  for (unsigned i = 0; i < 16; ++i) {
    if (!ldt[i]) continue;
    std::snprintf(buf, sizeof buf, " ldt[%u]=%016" PRIx64, i, ldt[i]);
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "\n  cr0=%#" PRIx64 " cr4=%#" PRIx64 " efer=%#" PRIx64 "\n", cr0,
                cr4, efer);
  s += buf;
  return s;
}

void install_system_tables(umbra::Flat64Machine& m, const SystemImage& img) {
  std::memset(sys_ram(m, 0), 0, kSysSize);
  std::memcpy(sys_ram(m, kGdtOffset), img.gdt, sizeof img.gdt);
  for (unsigned v = 0; v < 256; ++v) {
    uint64_t gate[2];
    interrupt_gate(kSysLinear + kHandlerOffset + v, img.idt_dpl[v], &gate[0], &gate[1]);
    std::memcpy(sys_ram(m, kIdtOffset + 16 * v), gate, sizeof gate);
  }
  // 64-bit TSS (SDM vol. 3, 8.7): RSP0 at offset 4; the I/O map base at 0x66 points past the
  // limit, so every port is denied to CPL 3 (Linux's TSS does the same unless a process asked
  // for ioperm()).
  const uint64_t rsp0 = kSysLinear + kStackTopOffset;
  std::memcpy(sys_ram(m, kTssOffset + 4), &rsp0, 8);
  const uint16_t iomap = kTssLimit + 1;
  std::memcpy(sys_ram(m, kTssOffset + 0x66), &iomap, 2);
  std::memset(sys_ram(m, kHandlerOffset), 0xf4, 0x1000);
}

void enter_case_state(umbra::Flat64Machine& m, const SystemImage& img, const uint16_t sel[6],
                      uint64_t fs_base, uint64_t gs_base) {
  umbra::CpuState& cpu = m.cpu();
  std::memcpy(sys_ram(m, kGdtOffset), img.gdt, sizeof img.gdt);
  std::memcpy(sys_ram(m, kLdtOffset), img.ldt, sizeof img.ldt);
  cpu.gdtr = umbra::DescriptorTableReg{kSysLinear + kGdtOffset, 16 * 8 - 1};
  cpu.idtr = umbra::DescriptorTableReg{kSysLinear + kIdtOffset, 256 * 16 - 1};
  cpu.tr = umbra::SegmentCache{kSysLinear + kTssOffset, kTssLimit, kTssIndex * 8, 0x8b};
  // Without an LDT the LDTR is null (unusable): every TI=1 selector is out of range.
  cpu.ldtr = img.has_ldt
                 ? umbra::SegmentCache{kSysLinear + kLdtOffset, kLdtLimit, kLdtIndex * 8, 0x82}
                 : umbra::SegmentCache{0, 0, 0, 0};
  cpu.cr0 = img.cr0;
  cpu.cr4 = img.cr4;
  cpu.efer = img.efer;
  // XCR0: x87 and SSE, the components Umbra implements. The host's XCR0 has more (AVX, ...);
  // XSAVE/XRSTOR forms ask only for bits 0 and 1 (forms_fp_state.cpp), and XGETBV is not
  // generated, so the difference is not visible.
  cpu.xcr0 = 3;
  // The case's x87/MMX/SSE state is loaded by the runner (umbra_runner.cpp).
  // The segment registers as the harness process has them: reset64 built flat CPL-3 caches
  // for CS and SS, which are what the mirror's user code and data descriptors say too.
  cpu.seg[umbra::CS].selector = sel[kCS];
  cpu.seg[umbra::SS].selector = sel[kSS];
  for (unsigned s : {kES, kDS, kFS, kGS})
    cpu.seg[s] = cache_from(sel[s], ((sel[s] & 4) ? img.ldt : img.gdt)[(sel[s] >> 3) & 15]);
  cpu.seg[umbra::FS].base = fs_base;
  cpu.seg[umbra::GS].base = gs_base;
  umbra::refresh_segment_checks(cpu);
}

bool delivered_event(umbra::Flat64Machine& m, DeliveredEvent* ev) {
  umbra::CpuState& cpu = m.cpu();
  const uint64_t handler = cpu.rip - 1 - (kSysLinear + kHandlerOffset);
  if (cpu.cpl != 0 || handler >= 256) return false;
  // The frame (SDM vol. 3, 6.14.2): [error code,] RIP, CS, RFLAGS, RSP, SS, below RSP0.
  const uint64_t rsp = cpu.gpr[umbra::RSP];
  const uint64_t top = kSysLinear + kStackTopOffset;
  if (rsp > top || top - rsp < 40 || top - rsp > 48) return false;
  uint64_t f[6];
  std::memcpy(f, sys_ram(m, rsp - kSysLinear), top - rsp);
  const bool err = top - rsp == 48;
  const uint64_t* p = err ? f + 1 : f;
  ev->vector = static_cast<uint8_t>(handler);
  ev->error_code = err ? static_cast<uint32_t>(f[0]) : 0;
  ev->rip = p[0];
  ev->cs = static_cast<uint16_t>(p[1]);
  ev->rflags = p[2];
  ev->rsp = p[3];
  ev->ss = static_cast<uint16_t>(p[4]);
  return true;
}

}  // namespace difftest
