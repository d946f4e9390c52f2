#include "compare.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "forms.h"
#include "frontend/disasm.h"

namespace difftest {

namespace {

const char* const kRegNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
                                 "r8",  "r9",  "r10", "r11", "r12", "r13", "r14", "r15"};

std::string fmt(const char* f, ...) __attribute__((format(printf, 1, 2)));
std::string fmt(const char* f, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  return buf;
}

// First byte of [a, a+size) that is not readable in the test address space, or ~0.
uint64_t first_unreadable(uint64_t a, unsigned size) {
  for (unsigned i = 0; i < size; ++i) {
    const uint64_t p = a + i;
    const bool ok =
        (p >= kDataBase && p < kDataEnd) || (p >= kCodeBase && p < kCodeBase + kCodeSize);
    if (!ok) return p;
  }
  return ~uint64_t{0};
}

// CMPS reads [rSI] and [rDI] in an order the SDM does not define (the AMD host reads [rDI]
// first, Umbra [rSI]). When both reads fault, either address is a correct CR2. Likewise the
// slots of an IRET/RETF frame: any unreadable address in the frame.
bool cr2_acceptable(const CaseMeta& meta, const CaseOutput& nat, uint64_t cr2) {
  for (unsigned k = 0; k < meta.n; ++k) {
    const InsnRecord& r = meta.insns[k];
    if (meta.boundary_addr[k] != nat.regs.rip) continue;
    if (meta.fp_span_hi[k]) {
      // Inside the operand and not writable data (the code page faults for writes only).
      auto in_span = [&](uint64_t a) {
        return a >= meta.fp_span_lo[k] && a < meta.fp_span_hi[k] &&
               !(a >= kDataBase && a < kDataEnd);
      };
      return in_span(cr2) && in_span(nat.fault_addr);
    }
    if (r.frame_reads) {
      const uint64_t sp = nat.regs.gpr[4];
      auto in_frame = [&](uint64_t a) {
        return a >= sp && a < sp + r.frame_reads && first_unreadable(a, 1) == a;
      };
      return in_frame(cr2) && in_frame(nat.fault_addr);
    }
    if (!r.unordered_reads) continue;
    const uint64_t amask = r.unordered_addr32 ? 0xffffffffull : ~uint64_t{0};
    const uint64_t si = first_unreadable(nat.regs.gpr[6] & amask, r.unordered_reads);
    const uint64_t di = first_unreadable(nat.regs.gpr[7] & amask, r.unordered_reads);
    return si != ~uint64_t{0} && di != ~uint64_t{0} && (cr2 == si || cr2 == di);
  }
  return false;
}

bool has_error_code(uint32_t v) {
  return v == 8 || (v >= 10 && v <= 14) || v == 17 || v == 21;
}

// Which undefined-flag set and register masks apply, given where the native run stopped.
void masks_for(const CaseMeta& meta, uint64_t rip, uint64_t* poison, uint16_t* regs,
               const uint64_t** bits) {
  static const uint64_t kNoBits[16] = {};
  for (unsigned k = 0; k < meta.n; ++k) {
    if (meta.boundary_addr[k] == rip) {
      *poison = meta.poison_at[k];
      *regs = 0;
      *bits = kNoBits;
      return;
    }
  }
  *poison = meta.poison_end | meta.poison_at[meta.n];
  *regs = meta.masked_regs_end;
  *bits = meta.masked_bits_end;
}

const char* const kSegNames[kNumSegs] = {"es", "cs", "ss", "ds", "fs", "gs"};

// The native side reads the selectors in its signal handler, after the kernel took the
// exception and returned to the process with IRET, which leaves a null selector in ES, DS, FS
// or GS as 0 whatever its RPL was (the register is unusable at CPL 3: SDM vol. 2, IRET,
// "return to outer privilege level"). The RPL bits of a null selector are visible only to an
// instruction of the sequence (MOV r/m, Sreg; PUSH FS/GS), which the registers show.
uint16_t final_selector(unsigned seg, uint16_t sel) {
  const bool data_seg = seg != kCS && seg != kSS;
  return data_seg && (sel & 0xfffc) == 0 ? 0 : sel;
}

std::string hex_bytes(const uint8_t* p, size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) s += fmt("%s%02x", i ? " " : "", p[i]);
  return s;
}

template <typename T>
T get(const uint8_t* p, unsigned off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}

// The x87 status word's exception summary (ES, bit 7): set while an unmasked exception is
// pending (SDM vol. 1, 8.1.3.1).
constexpr uint16_t kFswEs = 1u << 7;

// The FPU/SIMD state of both images (layout.h: FXSAVE64 layout). FOP, FIP and FDP are compared
// only while an exception is pending (FSW.ES): the AMD host's FXSAVE and XSAVE store them only
// then (AMD APM vol. 5, FXSAVE), so the signal frame shows the pointers of some earlier
// instruction otherwise. MXCSR_MASK and the reserved bytes are no state.
void compare_fp(const CaseOutput& nat, const CaseOutput& emu, std::string& d) {
  const uint8_t* n = nat.fx;
  const uint8_t* e = emu.fx;
  auto cmp16 = [&](const char* what, unsigned off, uint16_t mask) {
    const uint16_t a = get<uint16_t>(n, off) & mask, b = get<uint16_t>(e, off) & mask;
    if (a != b) d += fmt("%s: expected %#06x, got %#06x\n", what, a, b);
  };
  cmp16("fcw", fx::kFcw, 0xffff);
  cmp16("fsw", fx::kFsw, 0xffff);
  cmp16("ftw (abridged)", fx::kFtw, 0x00ff);
  if (get<uint16_t>(n, fx::kFsw) & kFswEs) {
    cmp16("fop", fx::kFop, 0x07ff);
    for (unsigned off : {fx::kFip, fx::kFdp})
      if (get<uint64_t>(n, off) != get<uint64_t>(e, off))
        d += fmt("%s: expected %#" PRIx64 ", got %#" PRIx64 "\n", off == fx::kFip ? "fip" : "fdp",
                 get<uint64_t>(n, off), get<uint64_t>(e, off));
  }
  if (get<uint32_t>(n, fx::kMxcsr) != get<uint32_t>(e, fx::kMxcsr))
    d += fmt("mxcsr: expected %#x, got %#x\n", get<uint32_t>(n, fx::kMxcsr),
             get<uint32_t>(e, fx::kMxcsr));
  for (unsigned i = 0; i < 8; ++i) {
    const unsigned off = fx::kSt + 16 * i;
    if (std::memcmp(n + off, e + off, 10) != 0)
      d += fmt("st%u/mm%u: expected %04x:%016" PRIx64 ", got %04x:%016" PRIx64 "\n", i, i,
               get<uint16_t>(n, off + 8), get<uint64_t>(n, off), get<uint16_t>(e, off + 8),
               get<uint64_t>(e, off));
  }
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned off = fx::kXmm + 16 * i;
    if (std::memcmp(n + off, e + off, 16) != 0)
      d += fmt("xmm%u: expected %016" PRIx64 "%016" PRIx64 ", got %016" PRIx64 "%016" PRIx64 "\n",
               i, get<uint64_t>(n, off + 8), get<uint64_t>(n, off), get<uint64_t>(e, off + 8),
               get<uint64_t>(e, off));
  }
}

// Bits of byte `off` of an FXSAVE/XSAVE image that are not compared: MXCSR_MASK bit 17 (byte
// 30, bit 1), AMD's misaligned-exception mask (the host reports MXCSR_MASK 2FFFFH; Umbra models
// an Intel CPU: 0FFFFH).
// Bytes 6-23 (FOP, FIP, FDP) when the image's FSW.ES is clear: the AMD host's FXSAVE and XSAVE
// store them as 0 then (AMD APM vol. 5, FXSAVE: the pointers are saved only while an exception
// is pending); Intel stores the last non-control instruction's, as Umbra does.
// XSTATE_BV bits 0 and 1 (byte 512) that the host sets and Umbra does not: the component is in
// its initial configuration, and a processor may report XINUSE[i] = 1 for a component in that
// state (SDM vol. 1, 13.6; the AMD host does so for SSE when MXCSR is not 1F80H).
// `has_header`: the XSAVE header's XSTATE_BV (bytes 512-519) lies inside the data pages too (an
// FXSAVE image may end at the last byte of the data pages; an XSAVE image then faults).
uint8_t ignored_image_bits(unsigned off, const uint8_t* native_image, const uint8_t* umbra_image,
                           bool has_header) {
  if (off == fx::kMxcsrMask + 2) return 0x02;
  if (off == kFxSize) return native_image[off] & ~umbra_image[off] & 3;
  // Such a component: XSAVEOPT on the host writes its (initial) values, Umbra's init
  // optimization skips it and leaves memory as it was. The registers are compared anyway.
  const uint8_t host_only = has_header ? native_image[kFxSize] & ~umbra_image[kFxSize] : 0;
  if ((host_only & 1) && (off < fx::kMxcsr || (off >= fx::kSt && off < fx::kXmm))) return 0xff;
  if ((host_only & 2) && off >= fx::kXmm && off < fx::kXmm + 256) return 0xff;
  const bool es = native_image[fx::kFsw] & kFswEs;
  if (!es && off >= fx::kFop && off < fx::kMxcsr) return 0xff;
  return 0;
}

// One line per piece of FPU/SIMD state, for the case descriptions.
std::string describe_fp(const uint8_t* f) {
  std::string s =
      fmt("fcw=%#06x fsw=%#06x (top %u) ftw=%#04x fop=%#05x fip=%#" PRIx64 " fdp=%#" PRIx64
          " mxcsr=%#x\n",
          get<uint16_t>(f, fx::kFcw), get<uint16_t>(f, fx::kFsw),
          (get<uint16_t>(f, fx::kFsw) >> 11) & 7, f[fx::kFtw], get<uint16_t>(f, fx::kFop),
          get<uint64_t>(f, fx::kFip), get<uint64_t>(f, fx::kFdp), get<uint32_t>(f, fx::kMxcsr));
  for (unsigned i = 0; i < 8; ++i)
    s += fmt("%sst%u=%04x:%016" PRIx64, i % 4 == 0 ? "      " : "  ", i,
             get<uint16_t>(f, fx::kSt + 16 * i + 8), get<uint64_t>(f, fx::kSt + 16 * i)) +
         (i % 4 == 3 ? "\n" : "");
  for (unsigned i = 0; i < 16; ++i)
    s += fmt("%sxmm%-2u=%016" PRIx64 "%016" PRIx64, i % 3 == 0 ? "      " : "  ", i,
             get<uint64_t>(f, fx::kXmm + 16 * i + 8), get<uint64_t>(f, fx::kXmm + 16 * i)) +
         (i % 3 == 2 || i == 15 ? "\n" : "");
  return s;
}

}  // namespace

const char* vector_name(uint32_t v) {
  static const char* const kNames[] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD",
                                       "#NM", "#DF", "?9",  "#TS", "#NP", "#SS", "#GP",
                                       "#PF", "?15", "#MF", "#AC", "#MC", "#XM"};
  if (v < 20) return kNames[v];
  return v == 0xff ? "none" : "?";
}

std::string flag_names(uint64_t mask) {
  static const struct {
    uint64_t bit;
    const char* name;
  } kFlags[] = {{fl::CF, "CF"}, {fl::PF, "PF"}, {fl::AF, "AF"}, {fl::ZF, "ZF"}, {fl::SF, "SF"},
                {fl::TF, "TF"}, {fl::IF, "IF"}, {fl::DF, "DF"}, {fl::OF, "OF"}, {fl::IOPL, "IOPL"},
                {fl::NT, "NT"}, {fl::RF, "RF"}, {fl::AC, "AC"}, {fl::ID, "ID"}};
  std::string s;
  for (const auto& f : kFlags)
    if (mask & f.bit) s += (s.empty() ? "" : " ") + std::string(f.name);
  return s.empty() ? "-" : s;
}

Verdict compare_case(const CaseInput& in, const CaseMeta& meta, const CaseOutput& nat,
                     const CaseOutput& emu) {
  Verdict v;
  if (nat.status != RunStatus::kOk) {
    v.harness_error = true;
    v.details = nat.status == RunStatus::kTimeout       ? "native run timed out (child restarted)\n"
                : nat.status == RunStatus::kSetupFailed ? "native child could not be started\n"
                                                        : "native child died (restarted)\n";
    return v;
  }
  std::string& d = v.details;
  if (emu.status != RunStatus::kOk) {
    d += fmt("umbra: run ended without an exception (exit reason %#x), expected %s\n",
             emu.exit_reason, vector_name(nat.vector));
  } else if (emu.vector != nat.vector) {
    d += fmt("vector: expected %u %s, got %u %s\n", nat.vector, vector_name(nat.vector), emu.vector,
             vector_name(emu.vector));
  } else if (has_error_code(nat.vector)) {
    // The host's kernel half is partly mapped (supervisor pages: P = 1 for a user access),
    // which Umbra's difftest translator does not model: there P is not compared.
    const bool kernel_half_pf = nat.vector == 14 && (nat.fault_addr >> 47) == 0x1ffff;
    const uint32_t ec_mask = kernel_half_pf ? ~uint32_t{1} : ~uint32_t{0};
    if ((emu.error_code ^ nat.error_code) & ec_mask)
      d += fmt("error code (%s): expected %#x, got %#x\n", vector_name(nat.vector), nat.error_code,
               emu.error_code);
    if (nat.vector == 14 && emu.fault_addr != nat.fault_addr &&
        !cr2_acceptable(meta, nat, emu.fault_addr))
      d += fmt("CR2: expected %#" PRIx64 ", got %#" PRIx64 "\n", nat.fault_addr, emu.fault_addr);
  }
  uint64_t poison;
  uint16_t masked_regs;
  const uint64_t* masked_bits;
  masks_for(meta, nat.regs.rip, &poison, &masked_regs, &masked_bits);
  if (emu.regs.rip != nat.regs.rip)
    d += fmt("rip: expected %#" PRIx64 ", got %#" PRIx64 "\n", nat.regs.rip, emu.regs.rip);
  // After a switch to compatibility mode the upper halves of the GPRs are undefined (SDM vol. 1,
  // 3.4.1.1: not preserved across a switch from 64-bit mode to a 32-bit mode).
  const uint64_t upper = (nat.flags & kOutNot64) ? 0xffffffff00000000ull : 0;
  if ((nat.flags ^ emu.flags) & kOutNot64)
    d += fmt("mode: expected %s, got %s\n", upper ? "not 64-bit" : "64-bit",
             upper ? "64-bit" : "not 64-bit");
  for (unsigned r = 0; r < 16; ++r) {
    if (masked_regs & (1u << r)) continue;
    if ((emu.regs.gpr[r] ^ nat.regs.gpr[r]) & ~(masked_bits[r] | upper))
      d += fmt("%s: expected %#" PRIx64 ", got %#" PRIx64 "%s\n", kRegNames[r], nat.regs.gpr[r],
               emu.regs.gpr[r], masked_bits[r] ? " (masked bits not compared)" : "");
  }
  for (unsigned s = 0; s < kNumSegs; ++s)
    if (final_selector(s, emu.regs.seg[s]) != final_selector(s, nat.regs.seg[s]))
      d += fmt("%s: expected selector %#x, got %#x\n", kSegNames[s], nat.regs.seg[s],
               emu.regs.seg[s]);
  if (nat.flags & kOutBasesValid) {
    if (emu.regs.fs_base != nat.regs.fs_base)
      d += fmt("fs base: expected %#" PRIx64 ", got %#" PRIx64 "\n", nat.regs.fs_base,
               emu.regs.fs_base);
    if (emu.regs.gs_base != nat.regs.gs_base)
      d += fmt("gs base: expected %#" PRIx64 ", got %#" PRIx64 "\n", nat.regs.gs_base,
               emu.regs.gs_base);
  }
  const uint64_t fmask = fl::COMPARED & ~poison;
  const uint64_t fdiff = (nat.regs.rflags ^ emu.regs.rflags) & fmask;
  if (fdiff)
    d += fmt("rflags: expected %#" PRIx64 ", got %#" PRIx64
             " (differ: %s; undefined, not compared: %s)\n",
             nat.regs.rflags, emu.regs.rflags, flag_names(fdiff).c_str(),
             flag_names(poison).c_str());
  // Memory an instruction may leave partially written when it faults (see CaseMeta).
  uint64_t mask_lo = 0, mask_hi = 0;
  for (unsigned k = 0; k < meta.n; ++k)
    if (meta.boundary_addr[k] == nat.regs.rip)
      mask_lo = meta.fault_mask_lo[k], mask_hi = meta.fault_mask_hi[k];
  // Bits of FXSAVE/XSAVE images that differ by design (see ignored_image_bits).
  auto ignored = [&](uint64_t a) -> uint8_t {
    uint8_t bits = 0;
    for (unsigned k = 0; k < meta.n; ++k)
      // (An image that does not fit in the data pages faulted and was not written.)
      if (meta.fp_image[k] >= kDataBase && meta.fp_image[k] + kFxSize <= kDataEnd) {
        const bool has_header = meta.fp_image[k] + kFxSize + 8 <= kDataEnd;
        if (a >= meta.fp_image[k] && a < meta.fp_image[k] + kFxSize + (has_header ? 8 : 0))
          bits |= ignored_image_bits(static_cast<unsigned>(a - meta.fp_image[k]),
                                     nat.data + (meta.fp_image[k] - kDataBase),
                                     emu.data + (meta.fp_image[k] - kDataBase), has_header);
      }
    return bits;
  };
  auto differs = [&](size_t i) {
    const uint64_t a = kDataBase + i;
    if (nat.data[i] == emu.data[i] || (a >= mask_lo && a < mask_hi)) return false;
    return ((nat.data[i] ^ emu.data[i]) & ~ignored(a)) != 0;
  };
  bool any = false;
  if (std::memcmp(nat.data, emu.data, kDataSize) != 0)
    for (size_t i = 0; i < kDataSize && !any; ++i) any = differs(i);
  if (any) {
    unsigned shown = 0;
    for (size_t i = 0; i < kDataSize && shown < 4;) {
      if (!differs(i)) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < kDataSize && j - i < 16 && differs(j)) ++j;
      d += fmt("memory %#" PRIx64 "..%#" PRIx64 ": expected %s, got %s (initially %s)\n",
               kDataBase + i, kDataBase + j - 1, hex_bytes(nat.data + i, j - i).c_str(),
               hex_bytes(emu.data + i, j - i).c_str(), hex_bytes(in.data + i, j - i).c_str());
      ++shown;
      i = j;
    }
    if (shown == 4) d += "memory: more differences not shown\n";
  }
  compare_fp(nat, emu, d);
  v.mismatch = !d.empty();
  return v;
}

std::string describe_case(uint64_t index, const CaseInput& in, const CaseMeta& meta,
                          const CaseOutput* nat, const CaseOutput* emu, const Verdict* v,
                          const char* first_name, const char* second_name) {
  const std::vector<Form>& forms = all_forms();
  std::string s = fmt("case %" PRIu64 " (case seed %#" PRIx64 "), %u instruction%s:\n", index,
                      meta.seed, meta.n, meta.n == 1 ? "" : "s");
  for (unsigned i = 0; i < meta.n; ++i) {
    const InsnRecord& r = meta.insns[i];
    const uint64_t addr = kCodeBase + r.offset;
    const umbra::Disassembly dis = umbra::disassemble_one(
        in.code + r.offset, static_cast<unsigned>(kCodeSize - r.offset), addr, 64);
    std::string text = dis.length ? dis.mnemonic + " " + dis.operands : "(capstone: invalid)";
    if (dis.length && dis.length != r.len) text += fmt(" [capstone length %u]", dis.length);
    // Bytes past the end of the code page do not exist (the fetch of that page faults).
    const size_t shown = std::min<size_t>(r.len, kCodeSize - r.offset);
    const std::string bytes = hex_bytes(in.code + r.offset, shown) + (shown < r.len ? " |" : "");
    s += fmt("  %#" PRIx64 ": %-32s %-44s {%s}\n", addr, bytes.c_str(), text.c_str(),
             r.form == kNoForm ? "--code" : forms[r.form].name.c_str());
  }
  s += "  initial:";
  for (unsigned r = 0; r < 16; ++r)
    s += fmt("%s%s=%#" PRIx64, r % 4 == 0 ? "\n    " : "  ", kRegNames[r], in.regs.gpr[r]);
  s += fmt("\n    rflags=%#" PRIx64 " (%s)  fs base=%#" PRIx64 "  gs base=%#" PRIx64 "\n",
           in.regs.rflags, flag_names(in.regs.rflags).c_str(), in.regs.fs_base, in.regs.gs_base);
  // The top of the initial stack (planted return addresses, far pointers, IRET frames).
  const uint64_t rsp = in.regs.gpr[4];
  if (rsp >= kDataBase && rsp + 48 <= kDataEnd) {
    s += "    stack:";
    for (unsigned k = 0; k < 6; ++k) {
      uint64_t q;
      std::memcpy(&q, in.data + (rsp - kDataBase) + 8 * k, 8);
      s += fmt(" %#" PRIx64, q);
    }
    s += "\n";
  }
  auto outcome = [&](const char* who, const CaseOutput* o) {
    if (!o) return;
    s +=
        fmt("  %s: %s", who, o->status == RunStatus::kOk ? vector_name(o->vector) : "no exception");
    if (has_error_code(o->vector)) s += fmt(" error %#x", o->error_code);
    if (o->vector == 14) s += fmt(" cr2 %#" PRIx64, o->fault_addr);
    s += fmt(" at rip %#" PRIx64 ", rflags %#" PRIx64 " (%s)\n", o->regs.rip, o->regs.rflags,
             flag_names(o->regs.rflags).c_str());
    s += fmt("          selectors");
    for (unsigned g = 0; g < kNumSegs; ++g) s += fmt(" %s=%#x", kSegNames[g], o->regs.seg[g]);
    if (o->flags & kOutBasesValid)
      s += fmt("  fs base=%#" PRIx64 " gs base=%#" PRIx64, o->regs.fs_base, o->regs.gs_base);
    s += "\n";
  };
  if (meta.fp) s += "    fpu: " + describe_fp(in.fx);
  outcome(first_name, nat);
  if (nat && meta.fp) s += "          fpu: " + describe_fp(nat->fx);
  outcome(second_name, emu);
  if (emu && meta.fp) s += "          fpu: " + describe_fp(emu->fx);
  if (v && !v->details.empty()) {
    s += "  differences:\n";
    size_t pos = 0;
    while (pos < v->details.size()) {
      const size_t nl = v->details.find('\n', pos);
      s += "    " + v->details.substr(pos, nl - pos) + "\n";
      pos = nl == std::string::npos ? v->details.size() : nl + 1;
    }
  }
  return s;
}

}  // namespace difftest
