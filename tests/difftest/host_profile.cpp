#include "host_profile.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "forms.h"
#include "native_runner.h"

namespace difftest {

namespace {

constexpr uint8_t kGP = 13, kAC = 17, kPF = 14, kDB = 1;
constexpr uint64_t kFill = 0x5a5a5a5a5a5a5a5aull;
constexpr uint64_t kProbeFsBase = 0x12345000;  // recognisable; cleared or kept by a null load

// One probe: code at the start of the code page, RCX as given, every other GPR kFill; the run
// ends at the first exception, at the latest the HLT after the code.
struct Probe {
  std::vector<uint8_t> code;
  uint64_t rcx = 0;
  std::function<void(const CaseOutput&)> take;
};

void fill_input(const Probe& p, CaseInput* in) {
  std::memset(in, 0, sizeof *in);
  std::memset(in->code, kHltByte, kCodeSize);
  std::memcpy(in->code, p.code.data(), p.code.size());
  for (uint64_t& r : in->regs.gpr) r = kFill;
  in->regs.gpr[1] = p.rcx;
  in->regs.gpr[4] = kDataBase + 0x4000;
  in->regs.rip = kCodeBase;
  in->regs.rflags = fl::FIXED1 | fl::IF;
  in->regs.fs_base = kProbeFsBase;
}

bool run_probes(NativeRunner& runner, std::vector<Probe>& probes, std::string* error) {
  for (size_t base = 0; base < probes.size();) {
    const unsigned n =
        static_cast<unsigned>(std::min<size_t>(runner.capacity(), probes.size() - base));
    for (unsigned i = 0; i < n; ++i) fill_input(probes[base + i], &runner.input(i));
    runner.run(n);
    for (unsigned i = 0; i < n; ++i) {
      const CaseOutput& o = runner.output(i);
      if (o.status != RunStatus::kOk) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "probe %zu did not run natively (status %u)", base + i,
                      static_cast<unsigned>(o.status));
        *error = buf;
        return false;
      }
      probes[base + i].take(o);
    }
    base += n;
  }
  return true;
}

// The run went through the whole probe (it stopped at the HLT after `len` code bytes).
bool completed(const CaseOutput& o, size_t len) {
  return o.vector == kGP && o.error_code == 0 && o.regs.rip == kCodeBase + len;
}
bool gp0_at_start(const CaseOutput& o) {
  return o.vector == kGP && o.error_code == 0 && o.regs.rip == kCodeBase;
}

}  // namespace

HostProfile probe_host(NativeRunner& runner) {
  HostProfile hp;
  std::vector<Probe> probes;
  bool fsgsbase_probe = false;

  // FS/GS base instructions first: the GDT probes read the FS base only when they work.
  probes.push_back({{0xf3, 0x48, 0x0f, 0xae, 0xc0}, 0, [&](const CaseOutput& o) {
                      fsgsbase_probe = completed(o, 5) && o.regs.gpr[0] == kProbeFsBase;
                    }});
  if (!run_probes(runner, probes, &hp.error)) return hp;
  probes.clear();
  // The harness writes and restores the bases only when the kernel reports FSGSBASE.
  hp.fsgsbase = fsgsbase_probe && (runner.output(0).flags & kOutBasesValid) != 0;

  // GDT and LDT entries: lar rax, rcx; setz bl; lsl rdx, rcx; setz bh; mov fs, ecx;
  // rdfsbase rsi. Without FSGSBASE the harness could not restore its FS base (its thread
  // pointer) after the load: then mov es, ecx, which has the same checks, and no base.
  const uint8_t load_modrm = hp.fsgsbase ? 0xe1 : 0xc1;
  for (unsigned t = 0; t < 2; ++t) {
    GdtProbe* table = t ? hp.ldt : hp.gdt;
    for (unsigned i = 0; i < 16; ++i) {
      std::vector<uint8_t> code = {0x48, 0x0f, 0x02, 0xc1, 0x0f, 0x94, 0xc3, 0x48,
                                   0x0f, 0x03, 0xd1, 0x0f, 0x94, 0xc7, 0x8e, load_modrm};
      if (hp.fsgsbase) code.insert(code.end(), {0xf3, 0x48, 0x0f, 0xae, 0xc6});
      const size_t len = code.size();
      const bool null_sel = t == 0 && i == 0;
      probes.push_back(
          {code, i * 8 + (t ? 7u : 3u), [&hp, table, i, len, null_sel](const CaseOutput& o) {
             GdtProbe& g = table[i];
             const uint64_t rbx = o.regs.gpr[3];
             g.lar_ok = (rbx & 0xff) == 1;
             g.lsl_ok = ((rbx >> 8) & 0xff) == 1;
             g.rights = static_cast<uint32_t>(o.regs.gpr[0]);
             g.limit = static_cast<uint32_t>(o.regs.gpr[2]);
             g.loads = completed(o, len);
             if (g.loads && hp.fsgsbase) g.base = o.regs.gpr[6];
             if (!g.loads) {
               g.load_vector = static_cast<uint8_t>(o.vector);
               g.load_error = o.error_code;
             }
             if (null_sel && hp.fsgsbase) hp.null_load_clears_base = g.base == 0;
           }});
    }
  }

  // INT n for every vector except 0x80, Linux's IA-32 system call gate (DPL 3): executing it
  // would make a system call.
  for (unsigned v = 0; v < 256; ++v) {
    if (v == 0x80) continue;
    probes.push_back({{0xcd, static_cast<uint8_t>(v)}, 0, [&hp, v](const CaseOutput& o) {
                        if (o.vector == kGP && o.error_code == v * 8 + 2 && o.regs.rip == kCodeBase)
                          hp.int_outcome[v] = IntOutcome::kGateDpl0;
                        else if (o.vector == v && o.regs.rip == kCodeBase + 2)
                          hp.int_outcome[v] = IntOutcome::kDelivered;
                        else
                          hp.int_outcome[v] = IntOutcome::kOther;
                      }});
  }
  probes.push_back({{0xf1}, 0, [&hp](const CaseOutput& o) {
                      hp.icebp_trap = o.vector == kDB;
                      hp.icebp_rip_at_insn = hp.icebp_trap && o.regs.rip == kCodeBase;
                    }});

  // UMIP-covered instructions: SMSW eax, SGDT [rcx], SIDT [rcx], SLDT eax, STR eax.
  const uint64_t scratch = kDataBase + 0x100;
  bool table_gp = true, selector_gp = true, emulated = false;
  const struct {
    std::vector<uint8_t> code;
    bool selector;
  } kUmip[] = {{{0x0f, 0x01, 0xe0}, false},
               {{0x0f, 0x01, 0x01}, false},
               {{0x0f, 0x01, 0x09}, false},
               {{0x0f, 0x00, 0xc0}, true},
               {{0x0f, 0x00, 0xc8}, true}};
  for (const auto& u : kUmip) {
    const size_t len = u.code.size();
    const bool sel = u.selector;
    const bool sgdt = u.code[2] == 0x01;
    probes.push_back({u.code, scratch, [&, len, sel, sgdt](const CaseOutput& o) {
                        const bool gp = gp0_at_start(o);
                        (sel ? selector_gp : table_gp) &= gp;
                        // Linux's emulation stores a GDT limit of 0; the hardware without
                        // UMIP would store the real one (at least 0x7f).
                        if (sgdt && completed(o, len))
                          emulated =
                              (o.data[scratch - kDataBase] | o.data[scratch - kDataBase + 1]) == 0;
                      }});
  }
  probes.push_back(
      {{0x0f, 0x33}, 0, [&hp](const CaseOutput& o) { hp.rdpmc_gp = gp0_at_start(o); }});
  probes.push_back(
      {{0x0f, 0x31}, 0, [&hp](const CaseOutput& o) { hp.rdtsc_gp = gp0_at_start(o); }});
  probes.push_back(
      {{0x48, 0x0f, 0x07}, 0, [&hp](const CaseOutput& o) { hp.sysret_gp = gp0_at_start(o); }});
  // push 0x40202; popfq; mov eax, [rcx] with RCX misaligned.
  probes.push_back({{0x68, 0x02, 0x02, 0x04, 0x00, 0x9d, 0x8b, 0x01},
                    kDataBase + 0x201,
                    [&hp](const CaseOutput& o) { hp.alignment_check = o.vector == kAC; }});
  // jmp rcx into a data page.
  probes.push_back({{0xff, 0xe1}, kDataBase + 0x300, [&hp](const CaseOutput& o) {
                      hp.nx = o.vector == kPF && (o.error_code & 0x10);
                    }});
  if (!run_probes(runner, probes, &hp.error)) return hp;
  hp.umip_table_gp = table_gp;
  hp.umip_selector_gp = selector_gp;
  hp.umip_emulated = emulated;
  hp.ok = true;
  return hp;
}

uint32_t HostProfile::feature_bits() const {
  uint32_t f = 0;
  if (fsgsbase) f |= feat::kFsgsbase;
  if (umip_table_gp) f |= feat::kUmipTableGp;
  if (umip_selector_gp) f |= feat::kUmipSelectorGp;
  if (rdpmc_gp) f |= feat::kRdpmcGp;
  if (icebp_trap) f |= feat::kIcebpTrap;
  return f;
}

std::string HostProfile::describe() const {
  std::string s = "host profile:";
  char buf[256];
  for (unsigned t = 0; t < 2; ++t) {
    for (unsigned i = t ? 0 : 1; i < 16; ++i) {
      const GdtProbe& g = t ? ldt[i] : gdt[i];
      if (!g.lar_ok) continue;
      std::snprintf(buf, sizeof buf, " %s[%#x] rights %#x limit %#x%s;", t ? "ldt" : "gdt",
                    i * 8 + (t ? 7 : 3), g.rights, g.limit, g.loads ? "" : " (not loadable)");
      s += buf;
    }
  }
  std::string delivered;
  for (unsigned v = 0; v < 256; ++v) {
    if (int_outcome[v] != IntOutcome::kDelivered) continue;
    std::snprintf(buf, sizeof buf, "%s%u", delivered.empty() ? "" : ",", v);
    delivered += buf;
  }
  std::snprintf(buf, sizeof buf, "\n  user-callable IDT gates: %s (INT 0x80 not probed);",
                delivered.c_str());
  s += buf;
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  std::snprintf(buf, sizeof buf, " FSGSBASE %s; null FS load clears base %s; ICEBP trap %s%s;",
                yn(fsgsbase), yn(null_load_clears_base), yn(icebp_trap),
                icebp_rip_at_insn ? " (RIP reported at the F1)" : "");
  s += buf;
  std::snprintf(buf, sizeof buf,
                "\n  UMIP: SMSW/SGDT/SIDT %s, SLDT/STR %s; RDPMC #GP %s; RDTSC #GP (TSD) %s; "
                "SYSRET #GP (SCE) %s; #AC (CR0.AM) %s; NX %s\n",
                umip_table_gp   ? "#GP"
                : umip_emulated ? "emulated by the kernel"
                                : "allowed",
                umip_selector_gp ? "#GP"
                : umip_emulated  ? "emulated by the kernel"
                                 : "allowed",
                yn(rdpmc_gp), yn(rdtsc_gp), yn(sysret_gp), yn(alignment_check), yn(nx));
  s += buf;
  return s;
}

void HostProfile::normalize(const CaseInput& in, CaseOutput* out) const {
  if (!icebp_rip_at_insn || out->status != RunStatus::kOk || out->vector != kDB) return;
  const uint64_t off = out->regs.rip - kCodeBase;
  if (off < kCodeSize && in.code[off] == 0xf1) out->regs.rip += 1;
}

}  // namespace difftest
