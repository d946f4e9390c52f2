// umbra_difftest: differential testing of Umbra's integer instruction set against the host CPU.
// See docs/difftest.md.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "case_builder.h"
#include "compare.h"
#include "cpu_features.h"
#include "encoder_check.h"
#include "forms.h"
#include "frontend/disasm.h"
#include "host_profile.h"
#include "known_failures.h"
#include "native_runner.h"
#include "options.h"
#include "tier_compare.h"
#include "umbra_runner.h"
#include "umbra_system.h"

namespace difftest {
namespace {

struct FormStats {
  uint64_t runs = 0;
  uint64_t fails = 0;
};

// How a native run ended, for the summary: at the HLT after the sequence (or a branch target
// in the sled), or with which exception inside the sequence.
std::string outcome_name(const CaseMeta& meta, const CaseOutput& nat) {
  if (nat.status != RunStatus::kOk) return "harness error";
  const bool in_sled =
      nat.regs.rip >= meta.boundary_addr[meta.n] && nat.regs.rip < kCodeBase + kCodeSize;
  if (nat.vector == 13 && in_sled) return "HLT (sequence completed)";
  // #DB (ICEBP), #BP and #OF (INT3, INT n) are traps: RIP is past the instruction.
  if (nat.vector == 1 || nat.vector == 3 || nat.vector == 4)
    return std::string(vector_name(nat.vector)) + " trap";
  return std::string(vector_name(nat.vector)) + (in_sled ? " in the sled" : " inside the sequence");
}

// The outcome of a tier-0 run, named like a native one.
std::string fmt_outcome(const CaseMeta& meta, const CaseOutput& out) {
  if (out.status == RunStatus::kNoException) return "no exception";
  return outcome_name(meta, out);
}

// Generates case `index`, then applies the reproducer overrides (--code, --set).
bool make_case(const Options& opt, uint64_t index, const std::vector<uint16_t>& allowed,
               const BuildOptions& bopt, CaseInput* in, CaseMeta* meta) {
  if (opt.sweep && !allowed.empty()) {
    // `allowed` here holds each form `weight` times: sweep over the distinct forms.
    static std::vector<uint16_t> distinct;
    if (distinct.empty())
      for (uint16_t f : allowed)
        if (distinct.empty() || distinct.back() != f) distinct.push_back(f);
    BuildOptions b = bopt;
    b.first_form = distinct[index % distinct.size()];
    if (!build_case(case_seed(opt.seed, index), allowed, b, in, meta)) return false;
  } else if (!build_case(case_seed(opt.seed, index), allowed, bopt, in, meta)) {
    return false;
  }
  if (!opt.code.empty()) {
    std::memset(in->code, kHltByte, kCodeSize);
    std::memcpy(in->code, opt.code.data(), opt.code.size());
    const uint64_t seed = meta->seed;
    *meta = CaseMeta{};
    meta->seed = seed;
    // Instruction boundaries as Capstone sees them; no undefined-flag masks.
    unsigned off = 0;
    while (off < opt.code.size() && meta->n < kMaxInsns) {
      const umbra::Disassembly d =
          umbra::disassemble_one(in->code + off, kCodeSize - off, kCodeBase + off, 64);
      const unsigned len = d.length ? d.length : 1;
      meta->insns[meta->n] = InsnRecord{
          static_cast<uint16_t>(off), static_cast<uint8_t>(len), false, kNoForm, 0, false, 0};
      meta->boundary_addr[meta->n++] = kCodeBase + off;
      off += len;
    }
    meta->boundary_addr[meta->n] = kCodeBase + off;
  }
  for (const auto& [r, v] : opt.sets) {
    if (r == 16)
      in->regs.rflags = v | fl::FIXED1;
    else if (r == 17)
      in->regs.fs_base = v;
    else if (r == 18)
      in->regs.gs_base = v;
    else
      in->regs.gpr[r] = v;
  }
  return true;
}

int run(const Options& opt) {
  const std::vector<Form>& forms = all_forms();
  if (opt.list_forms) {
    for (const Form& f : forms) std::printf("%s\n", f.name.c_str());
    return 0;
  }
  KnownFailures known;
  known.form_skipped.assign(forms.size(), false);
  known.disabled_in_form.assign(forms.size(), 0);
  for (const std::string& path : opt.known_failures)
    if (!load_known_failures(path, forms, &known)) return 2;
  for (const std::string& d : known.descriptions)
    std::printf("skipped (known failure): %s\n", d.c_str());

  // The native runner and the host profile: what the host lets user code see of its system
  // state, which decides both the forms it can be an oracle for and Umbra's system state.
  std::unique_ptr<NativeRunner> native_runner;
  HostProfile profile;
  uint32_t have = host_features();
  if (opt.check_encoder) {
    have = ~uint32_t{0};  // nothing runs: check every form's encoding
  } else {
    native_runner = std::make_unique<NativeRunner>(opt.batch, opt.ldt);
    if (!native_runner->setup_error().empty()) {
      std::fprintf(stderr, "umbra_difftest: %s\n", native_runner->setup_error().c_str());
      return 2;
    }
    profile = probe_host(*native_runner);
    if (!profile.ok) {
      std::fprintf(stderr, "umbra_difftest: probing the host failed: %s\n", profile.error.c_str());
      return 2;
    }
    have |= profile.feature_bits();
  }
  const SystemImage system = system_image_from(profile);
  if (opt.verbose && !opt.check_encoder)
    std::printf("%s%s", profile.describe().c_str(), system.describe().c_str());
  std::regex re;
  try {
    re = std::regex(opt.forms_regex.empty() ? std::string(".") : opt.forms_regex);
  } catch (const std::regex_error& e) {
    std::fprintf(stderr, "umbra_difftest: bad --forms regex: %s\n", e.what());
    return 2;
  }
  std::vector<uint16_t> allowed;
  unsigned skipped_feature = 0;
  uint32_t missing = 0;
  for (size_t i = 0; i < forms.size(); ++i) {
    const Form& f = forms[i];
    if (!std::regex_search(f.name, re)) continue;
    // Without --forms the FPU/SIMD forms are left out (they have a run of their own,
    // `--forms '^fp: '`), so the integer and system runs keep their form mix.
    // The tier comparison mixes them in: streams of integer and FPU/SIMD instructions.
    if (opt.forms_regex.empty() && !opt.compare_tiers && f.name.rfind("fp: ", 0) == 0) continue;
    if ((f.features & have) != f.features) {
      ++skipped_feature;
      missing |= f.features & ~have;
      continue;
    }
    if (known.form_skipped[i]) continue;
    allowed.push_back(static_cast<uint16_t>(i));
  }
  // The generator picks uniformly from `picks`: each form appears `weight` times.
  std::vector<uint16_t> picks;
  // The tier comparison picks the system forms (most of which fault at CPL 3 and so end the
  // stream) a quarter as often, so that most streams run long, and the loop blocks (backward
  // branches inside the stream) more often.
  for (uint16_t f : allowed) {
    const bool sys = forms[f].name.rfind("sys: ", 0) == 0;
    const bool loop = forms[f].name.rfind("loop block", 0) == 0;
    unsigned w = forms[f].weight;
    if (opt.compare_tiers && sys) w = std::max(1u, w / 4);
    if (opt.compare_tiers && loop) w *= 16;  // they need a free RCX: most attempts fail
    picks.insert(picks.end(), w, f);
  }
  if (skipped_feature)
    std::printf("skipped %u forms: the host lacks %s\n", skipped_feature,
                feature_names(missing).c_str());
  if (allowed.empty()) {
    std::fprintf(stderr, "umbra_difftest: no forms selected\n");
    return 2;
  }

  BuildOptions bopt;
  bopt.max_len = opt.max_len;
  bopt.min_len = opt.min_len;
  bopt.hot_pct = static_cast<unsigned>(opt.hot_pct);
  bopt.ud_last_only = opt.compare_tiers;
  bopt.loops_anywhere = opt.compare_tiers;
  bopt.disabled = known.disabled;
  bopt.fault_pct = static_cast<unsigned>(opt.fault_pct);
  bopt.single_pct = static_cast<unsigned>(opt.single_pct);
  bopt.disabled_in_form = known.disabled_in_form;
  if (profile.ok) {
    // INT n only for vectors whose outcome the host reports as an exception (never 0x80).
    for (uint64_t& w : bopt.host.int_vectors) w = 0;
    for (unsigned v = 0; v < 256; ++v)
      if (profile.int_outcome[v] == IntOutcome::kGateDpl0 ||
          profile.int_outcome[v] == IntOutcome::kDelivered)
        bopt.host.int_vectors[v >> 6] |= uint64_t{1} << (v & 63);
    bopt.host.null_fs_gs_clears_base = profile.null_load_clears_base;
  }
  const bool single = opt.only_case >= 0 || !opt.code.empty();
  const uint64_t first = opt.only_case >= 0 ? static_cast<uint64_t>(opt.only_case) : 0;
  const uint64_t total = single ? 1 : opt.count;
  std::printf("umbra_difftest: seed %" PRIu64 ", %" PRIu64 " cases, %zu forms selected%s\n",
              opt.seed, total, allowed.size(),
              opt.check_encoder   ? " (encoder check only)"
              : opt.native_only   ? " (native only)"
              : opt.compare_tiers ? " (tier 0 against compile-all tier 1, no host)"
                                  : "");
  std::fflush(stdout);

  std::vector<FormStats> stats(forms.size());
  std::map<std::string, uint64_t> outcomes;  // how the native runs ended
  uint64_t passed = 0, failed = 0, harness_errors = 0, reports = 0;
  // Tier-1 activity of the Umbra side (the compile-all side with --compare-tiers).
  std::optional<TierCounts> tier_counts;
  umbra::AccelMode tier_mode = umbra::AccelMode::Tier0;

  if (opt.check_encoder) {
    CaseInput in;
    CaseMeta meta;
    for (uint64_t i = first; i < first + total; ++i) {
      if (!make_case(opt, i, picks, bopt, &in, &meta)) continue;
      std::string problem;
      const bool ok = check_encoding(in, meta, &problem);
      std::set<uint16_t> seen;
      for (unsigned k = 0; k < meta.n; ++k)
        if (meta.insns[k].form != kNoForm) seen.insert(meta.insns[k].form);
      for (uint16_t f : seen) ++stats[f].runs, stats[f].fails += !ok;
      if (ok) {
        ++passed;
        continue;
      }
      ++failed;
      if (reports++ < opt.max_reports)
        std::printf("encoding: %s\n%s", problem.c_str(),
                    describe_case(i, in, meta, nullptr, nullptr, nullptr).c_str());
    }
  } else if (opt.compare_tiers) {
    // No native side: each case on a tier-0 engine and on a compile-all engine (every block
    // compiled by tier 1 before it first runs), compared bit for bit.
    UmbraRunner tier0(system, umbra::AccelMode::Tier0);
    UmbraRunner tier1(system, umbra::AccelMode::CompileAll);
    auto in = std::make_unique<CaseInput>();
    CaseMeta meta;
    auto r0 = std::make_unique<TierRun>(), r1 = std::make_unique<TierRun>();
    auto f0 = std::make_unique<TierRun>(), f1 = std::make_unique<TierRun>();
    for (uint64_t i = first; i < first + total; ++i) {
      if (!make_case(opt, i, picks, bopt, in.get(), &meta)) continue;
      tier0.run(*in, &r0->out, false, &r0->snap);
      tier1.run(*in, &r1->out, false, &r1->snap);
      Verdict v = compare_tier_runs(*r0, *r1);
      if (v.mismatch) {
        tier0.run(*in, &f0->out, /*fresh=*/true, &f0->snap);
        tier1.run(*in, &f1->out, /*fresh=*/true, &f1->snap);
        if (!compare_tier_runs(*f0, *f1).mismatch)
          v.details += "note: fresh machines agree: state leaks between runs\n";
      }
      if (opt.progress && (i - first + 1) % opt.progress == 0) {
        std::printf("progress: %" PRIu64 " cases, %" PRIu64 " mismatches\n", i - first + 1,
                    failed + v.mismatch);
        std::fflush(stdout);
      }
      std::set<uint16_t> seen;
      for (unsigned k = 0; k < meta.n; ++k)
        if (meta.insns[k].form != kNoForm) seen.insert(meta.insns[k].form);
      for (uint16_t f : seen) ++stats[f].runs, stats[f].fails += v.mismatch;
      ++outcomes[fmt_outcome(meta, r0->out)];
      if (!v.mismatch) {
        ++passed;
        if (single)
          std::printf(
              "%s  result: match\n",
              describe_case(i, *in, meta, &r0->out, &r1->out, &v, "tier 0", "tier 1").c_str());
        continue;
      }
      ++failed;
      if (reports++ < opt.max_reports || single) {
        if (opt.verbose || single)
          std::printf(
              "MISMATCH %s\n",
              describe_case(i, *in, meta, &r0->out, &r1->out, &v, "tier 0", "tier 1").c_str());
        else
          std::printf("mismatch: case %" PRIu64 " (%u instructions): %s", i, meta.n,
                      v.details.c_str());
      }
      std::fflush(stdout);
    }
    tier_counts = tier1.counts();
    tier_mode = tier1.accel();
  } else {
    NativeRunner& native = *native_runner;
    std::unique_ptr<UmbraRunner> umbra;
    if (!opt.native_only) umbra = std::make_unique<UmbraRunner>(system, opt.accel);
    std::vector<CaseMeta> metas(opt.batch);
    std::vector<uint64_t> indices(opt.batch);
    auto emu = std::make_unique<CaseOutput>();
    auto emu_fresh = std::make_unique<CaseOutput>();
    std::vector<CaseOutput> first_native;  // --native-only: the first of the two runs
    if (opt.native_only) first_native.resize(opt.batch);

    for (uint64_t base = first; base < first + total;) {
      unsigned n = 0;
      for (; n < opt.batch && base < first + total; ++base) {
        if (!make_case(opt, base, picks, bopt, &native.input(n), &metas[n])) continue;
        indices[n++] = base;
      }
      native.run(n);
      for (unsigned i = 0; i < n; ++i) profile.normalize(native.input(i), &native.output(i));
      if (opt.native_only) {
        for (unsigned i = 0; i < n; ++i) first_native[i] = native.output(i);
        native.run(n);
        for (unsigned i = 0; i < n; ++i) profile.normalize(native.input(i), &native.output(i));
      }
      for (unsigned i = 0; i < n; ++i) {
        const CaseInput& in = native.input(i);
        const CaseOutput& nat = native.output(i);
        const CaseOutput* got;
        if (opt.native_only) {
          got = &first_native[i];
        } else {
          umbra->run(in, emu.get());
          got = emu.get();
        }
        Verdict v = compare_case(in, metas[i], nat, *got);
        if (v.mismatch && umbra) {
          // Same case on a brand-new machine: tells a real semantic difference from state left
          // behind by earlier cases (which is a bug too, but a different one).
          umbra->run(in, emu_fresh.get(), /*fresh=*/true);
          const Verdict fresh = compare_case(in, metas[i], nat, *emu_fresh);
          if (!fresh.mismatch)
            v.details += "note: a fresh machine gets this case right: state leaks between runs\n";
        }
        std::set<uint16_t> seen;
        for (unsigned k = 0; k < metas[i].n; ++k)
          if (metas[i].insns[k].form != kNoForm) seen.insert(metas[i].insns[k].form);
        ++outcomes[outcome_name(metas[i], nat)];
        const bool bad = v.mismatch || v.harness_error;
        for (uint16_t f : seen) ++stats[f].runs, stats[f].fails += bad;
        if (!bad) {
          ++passed;
          if (single)
            std::printf("%s  result: match\n",
                        describe_case(indices[i], in, metas[i], &nat, got, &v).c_str());
          continue;
        }
        ++failed;
        harness_errors += v.harness_error;
        if (opt.verbose || single) {
          if (reports++ < opt.max_reports || single)
            std::printf("%s%s\n", v.harness_error ? "HARNESS ERROR " : "MISMATCH ",
                        describe_case(indices[i], in, metas[i], &nat, got, &v).c_str());
        } else if (reports++ < opt.max_reports) {
          std::printf("mismatch: case %" PRIu64 " {%s}: %s", indices[i],
                      metas[i].insns[0].form == kNoForm
                          ? "--code"
                          : all_forms()[metas[i].insns[0].form].name.c_str(),
                      v.details.c_str());
        }
      }
      if (opt.progress && (base - first) % opt.progress < n)
        std::printf("progress: %" PRIu64 " cases, %" PRIu64 " failed\n", base - first, failed);
      std::fflush(stdout);
    }
    if (native.restarts()) std::printf("native child restarts: %" PRIu64 "\n", native.restarts());
    if (umbra) {
      tier_counts = umbra->counts();
      tier_mode = umbra->accel();
    }
  }

  unsigned covered = 0;
  for (uint16_t f : allowed) covered += stats[f].runs > 0;
  if (opt.form_table && !single) {
    std::printf("\nper form: cases that contain it, of which failed\n");
    for (uint16_t f : allowed)
      std::printf("  %-44s %8" PRIu64 " %6" PRIu64 "\n", forms[f].name.c_str(), stats[f].runs,
                  stats[f].fails);
  } else {
    for (uint16_t f : allowed)
      if (stats[f].fails)
        std::printf("  failing form: %-44s %8" PRIu64 " of %" PRIu64 "\n", forms[f].name.c_str(),
                    stats[f].fails, stats[f].runs);
  }
  if (!outcomes.empty()) {
    std::printf("\nnative outcomes:");
    for (const auto& [what, n] : outcomes) std::printf("  %s: %" PRIu64 ";", what.c_str(), n);
    std::printf("\n");
  }
  std::printf("\nexecutions: %" PRIu64 ", mismatches: %" PRIu64 ", harness errors: %" PRIu64
              ", forms covered: %u of %zu selected (%zu forms in all)\n",
              passed + failed, failed - harness_errors, harness_errors, covered, allowed.size(),
              forms.size());
  bool tier1_missing = false;
  if (tier_counts) {
    const TierCounts& c = *tier_counts;
    std::printf("umbra: accel %s; tier 1: %" PRIu64 " blocks installed, %" PRIu64
                " failed to compile; %" PRIu64 " blocks as threaded code; %" PRIu64
                " block runs, %" PRIu64 " of %" PRIu64
                " instructions retired by compiled code (%" PRIu64 " blocks built)\n",
                umbra::accel_mode_name(tier_mode), c.tier1_installed, c.tier1_failed,
                c.threaded_installed, c.tier1_runs, c.tier1_insns, c.insns, c.blocks_built);
    // A run that asked for compiled code must have had some: otherwise it tested tier 0 only.
    // In compile-all mode a block is compiled and installed before its first run, so every
    // block installed ran as tier-1 code (EngineStats counts tier-1 runs that end in an
    // exception too).
    const bool wants_tier1 =
        opt.compare_tiers || (opt.accel && *opt.accel == umbra::AccelMode::CompileAll);
    if (wants_tier1 && c.tier1_installed + c.threaded_installed == 0 && passed + failed > 0) {
      std::printf("error: tier 1 was asked for but ran no code\n");
      tier1_missing = true;
    }
  }
  std::printf("%" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
  return failed || tier1_missing ? 1 : 0;
}

}  // namespace
}  // namespace difftest

int main(int argc, char** argv) {
  difftest::Options opt;
  if (!difftest::parse_options(argc, argv, &opt)) {
    difftest::print_usage();
    return 2;
  }
  return difftest::run(opt);
}
