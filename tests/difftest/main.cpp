// umbra_difftest: differential testing of Umbra's integer instruction set against the host CPU.
// See docs/difftest.md.
#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
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
#include "native_runner.h"
#include "umbra_runner.h"

namespace difftest {
namespace {

struct Options {
  uint64_t seed = 1;
  uint64_t count = 10000;
  std::string forms_regex;
  bool verbose = false;
  int64_t only_case = -1;
  unsigned max_len = kMaxInsns;
  std::string known_failures;
  bool list_forms = false;
  bool check_encoder = false;
  bool native_only = false;
  bool form_table = true;
  unsigned batch = 64;
  unsigned max_reports = 25;
  unsigned fault_pct = 3;
  // Reproducer mode: run these bytes instead of a generated sequence, with register overrides.
  std::vector<uint8_t> code;
  std::vector<std::pair<int, uint64_t>> sets;  // register index (16 = rflags), value
};

const char* const kRegNames[] = {"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",   "r8",
                                 "r9",  "r10", "r11", "r12", "r13", "r14", "r15", "rflags"};

bool parse_hex_bytes(const char* s, std::vector<uint8_t>* out) {
  std::string digits;
  for (const char* p = s; *p; ++p)
    if (std::isxdigit(static_cast<unsigned char>(*p)))
      digits += *p;
    else if (*p != ' ' && *p != ',' && *p != ':')
      return false;
  if (digits.empty() || digits.size() % 2 || digits.size() / 2 > kMaxSeqBytes) return false;
  for (size_t i = 0; i < digits.size(); i += 2)
    out->push_back(static_cast<uint8_t>(std::stoul(digits.substr(i, 2), nullptr, 16)));
  return true;
}

bool parse_set(const char* s, std::vector<std::pair<int, uint64_t>>* out) {
  const char* eq = std::strchr(s, '=');
  if (!eq) return false;
  const std::string name(s, eq);
  for (int r = 0; r < 17; ++r) {
    if (name == kRegNames[r]) {
      char* end;
      const uint64_t v = std::strtoull(eq + 1, &end, 0);
      if (*end) return false;
      out->emplace_back(r, v);
      return true;
    }
  }
  return false;
}

void usage() {
  std::fprintf(stderr,
               "usage: umbra_difftest [options]\n"
               "  --seed S             run seed (default 1); case i uses a seed derived from S, i\n"
               "  --count N            number of cases (default 10000)\n"
               "  --forms REGEX        only forms whose name matches (ECMAScript, searched)\n"
               "  --max-len L          longest instruction sequence, 1..%u (default %u)\n"
               "  --case I             run only case I of the seed and describe it\n"
               "  --verbose            describe every mismatch (disassembly, states, differences)\n"
               "  --max-reports N      describe at most N mismatches (default 25)\n"
               "  --fault-pct P        place P%% of memory operands where they fault (default 3)\n"
               "  --known-failures F   skip the forms listed in F (see known_failures.txt)\n"
               "  --list-forms         print the form names and exit\n"
               "  --check-encoder      only check the generator's encodings against Capstone\n"
               "  --native-only        run every case natively twice and compare (harness check)\n"
               "  --no-form-table      leave the per-form table out of the summary\n"
               "  --code HEX           reproducer: run these bytes (state from --seed/--case)\n"
               "  --set REG=VALUE      reproducer: initial value of rax..r15 or rflags\n",
               kMaxInsns, kMaxInsns);
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&](const char* what) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "umbra_difftest: %s needs a value\n", what);
        return nullptr;
      }
      return argv[++i];
    };
    auto number = [&](const char* what, uint64_t* out) {
      const char* v = next(what);
      if (!v) return false;
      char* end;
      *out = std::strtoull(v, &end, 0);
      if (*end) {
        std::fprintf(stderr, "umbra_difftest: bad number for %s: %s\n", what, v);
        return false;
      }
      return true;
    };
    uint64_t n;
    if (a == "--seed") {
      if (!number("--seed", &o->seed)) return false;
    } else if (a == "--count") {
      if (!number("--count", &o->count)) return false;
    } else if (a == "--forms") {
      const char* v = next("--forms");
      if (!v) return false;
      o->forms_regex = v;
    } else if (a == "--max-len") {
      if (!number("--max-len", &n) || n < 1 || n > kMaxInsns) return false;
      o->max_len = static_cast<unsigned>(n);
    } else if (a == "--case") {
      if (!number("--case", &n)) return false;
      o->only_case = static_cast<int64_t>(n);
    } else if (a == "--fault-pct") {
      if (!number("--fault-pct", &n) || n > 100) return false;
      o->fault_pct = static_cast<unsigned>(n);
    } else if (a == "--max-reports") {
      if (!number("--max-reports", &n)) return false;
      o->max_reports = static_cast<unsigned>(n);
    } else if (a == "--known-failures") {
      const char* v = next("--known-failures");
      if (!v) return false;
      o->known_failures = v;
    } else if (a == "--verbose" || a == "-v") {
      o->verbose = true;
    } else if (a == "--list-forms") {
      o->list_forms = true;
    } else if (a == "--check-encoder") {
      o->check_encoder = true;
    } else if (a == "--native-only") {
      o->native_only = true;
    } else if (a == "--no-form-table") {
      o->form_table = false;
    } else if (a == "--code") {
      const char* v = next("--code");
      if (!v || !parse_hex_bytes(v, &o->code)) {
        std::fprintf(stderr, "umbra_difftest: --code wants hex bytes\n");
        return false;
      }
    } else if (a == "--set") {
      const char* v = next("--set");
      if (!v || !parse_set(v, &o->sets)) {
        std::fprintf(stderr, "umbra_difftest: --set wants REG=VALUE\n");
        return false;
      }
    } else {
      std::fprintf(stderr, "umbra_difftest: unknown option %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

// known_failures.txt, one entry per line ('#' starts a comment):
//   form: <form name> | why                      the form is not generated
//   variation: <name> | why                      the generator variation is off for every form
//   variation: <name> @ <form name> | why        ... only for that form
struct KnownFailures {
  std::map<std::string, std::string> forms;
  std::map<std::string, std::string> variations;
};

bool read_known_failures(const std::string& path, KnownFailures* out) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "umbra_difftest: cannot read %s\n", path.c_str());
    return false;
  }
  auto trim = [](const std::string& s) {
    const size_t b = s.find_first_not_of(" \t");
    const size_t e = s.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
  };
  std::string line;
  for (unsigned lineno = 1; std::getline(f, line); ++lineno) {
    if (const size_t h = line.find('#'); h != std::string::npos) line.resize(h);
    line = trim(line);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    const size_t bar = line.find('|');
    const std::string kind = colon == std::string::npos ? "" : trim(line.substr(0, colon));
    if ((kind != "form" && kind != "variation") || bar == std::string::npos || bar < colon) {
      std::fprintf(stderr, "%s:%u: expected 'form: NAME | why' or 'variation: NAME | why'\n",
                   path.c_str(), lineno);
      return false;
    }
    const std::string name = trim(line.substr(colon + 1, bar - colon - 1));
    (kind == "form" ? out->forms : out->variations)[name] = trim(line.substr(bar + 1));
  }
  return true;
}

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
  return std::string(vector_name(nat.vector)) + (in_sled ? " in the sled" : " inside the sequence");
}

// Generates case `index`, then applies the reproducer overrides (--code, --set).
bool make_case(const Options& opt, uint64_t index, const std::vector<uint16_t>& allowed,
               const BuildOptions& bopt, CaseInput* in, CaseMeta* meta) {
  if (!build_case(case_seed(opt.seed, index), allowed, bopt, in, meta)) return false;
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
          static_cast<uint16_t>(off), static_cast<uint8_t>(len), false, kNoForm, 0, false};
      meta->boundary_addr[meta->n++] = kCodeBase + off;
      off += len;
    }
    meta->boundary_addr[meta->n] = kCodeBase + off;
  }
  for (const auto& [r, v] : opt.sets) {
    if (r == 16)
      in->regs.rflags = v | fl::FIXED1;
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
  if (!opt.known_failures.empty() && !read_known_failures(opt.known_failures, &known)) return 2;
  for (const auto& [name, why] : known.forms) {
    bool found = false;
    for (const Form& f : forms) found |= f.name == name;
    if (!found) {
      std::fprintf(stderr, "umbra_difftest: known-failures entry names no form: '%s'\n",
                   name.c_str());
      return 2;
    }
  }
  uint32_t disabled = 0;
  std::vector<uint32_t> disabled_in_form(forms.size(), 0);
  for (const auto& [entry, why] : known.variations) {
    const size_t at = entry.find('@');
    auto trim = [](const std::string& x) {
      const size_t b = x.find_first_not_of(" \t"), e = x.find_last_not_of(" \t");
      return b == std::string::npos ? std::string() : x.substr(b, e - b + 1);
    };
    const std::string name = trim(entry.substr(0, at));
    const std::string form = at == std::string::npos ? "" : trim(entry.substr(at + 1));
    uint32_t bit = 0;
    for (const VariationName& v : kVariationNames)
      if (name == v.name) bit = v.v;
    size_t form_id = forms.size();
    for (size_t i = 0; i < forms.size(); ++i)
      if (forms[i].name == form) form_id = i;
    if (!bit || (!form.empty() && form_id == forms.size())) {
      std::fprintf(stderr, "umbra_difftest: known-failures entry names no variation/form: '%s'\n",
                   entry.c_str());
      return 2;
    }
    if (form.empty())
      disabled |= bit;
    else
      disabled_in_form[form_id] |= bit;
    std::printf("skipped (known failure): variation %s -- %s\n", entry.c_str(), why.c_str());
  }

  const uint32_t have = host_features();
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
    if ((f.features & have) != f.features) {
      ++skipped_feature;
      missing |= f.features & ~have;
      continue;
    }
    if (known.forms.count(f.name)) {
      std::printf("skipped (known failure): form %s -- %s\n", f.name.c_str(),
                  known.forms[f.name].c_str());
      continue;
    }
    allowed.push_back(static_cast<uint16_t>(i));
  }
  // The generator picks uniformly from `picks`: each form appears `weight` times.
  std::vector<uint16_t> picks;
  for (uint16_t f : allowed) picks.insert(picks.end(), forms[f].weight, f);
  if (skipped_feature)
    std::printf("skipped %u forms: the host lacks %s\n", skipped_feature,
                feature_names(missing).c_str());
  if (allowed.empty()) {
    std::fprintf(stderr, "umbra_difftest: no forms selected\n");
    return 2;
  }

  BuildOptions bopt;
  bopt.max_len = opt.max_len;
  bopt.disabled = disabled;
  bopt.fault_pct = opt.fault_pct;
  bopt.disabled_in_form = disabled_in_form;
  const bool single = opt.only_case >= 0 || !opt.code.empty();
  const uint64_t first = opt.only_case >= 0 ? static_cast<uint64_t>(opt.only_case) : 0;
  const uint64_t total = single ? 1 : opt.count;
  std::printf("umbra_difftest: seed %" PRIu64 ", %" PRIu64 " cases, %zu forms selected%s\n",
              opt.seed, total, allowed.size(),
              opt.check_encoder ? " (encoder check only)"
              : opt.native_only ? " (native only)"
                                : "");
  std::fflush(stdout);

  std::vector<FormStats> stats(forms.size());
  std::map<std::string, uint64_t> outcomes;  // how the native runs ended
  uint64_t passed = 0, failed = 0, harness_errors = 0, reports = 0;

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
  } else {
    NativeRunner native(opt.batch);
    if (!native.setup_error().empty()) {
      std::fprintf(stderr, "umbra_difftest: %s\n", native.setup_error().c_str());
      return 2;
    }
    std::unique_ptr<UmbraRunner> umbra;
    if (!opt.native_only) umbra = std::make_unique<UmbraRunner>();
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
      if (opt.native_only) {
        for (unsigned i = 0; i < n; ++i) first_native[i] = native.output(i);
        native.run(n);
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
      std::fflush(stdout);
    }
    if (native.restarts()) std::printf("native child restarts: %" PRIu64 "\n", native.restarts());
  }

  unsigned covered = 0;
  for (uint16_t f : allowed) covered += stats[f].runs > 0;
  if (opt.form_table && !single) {
    std::printf("\nper form: executions, failures\n");
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
  std::printf("%" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace difftest

int main(int argc, char** argv) {
  difftest::Options opt;
  if (!difftest::parse(argc, argv, &opt)) {
    difftest::usage();
    return 2;
  }
  return difftest::run(opt);
}
