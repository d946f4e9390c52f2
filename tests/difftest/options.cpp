#include "options.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace difftest {

const char* const kSetRegNames[kNumSetRegs] = {
    "rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi",    "rdi",     "r8",     "r9",
    "r10", "r11", "r12", "r13", "r14", "r15", "rflags", "fs_base", "gs_base"};

namespace {

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
  for (int r = 0; r < kNumSetRegs; ++r) {
    if (name == kSetRegNames[r]) {
      char* end;
      const uint64_t v = std::strtoull(eq + 1, &end, 0);
      if (*end) return false;
      out->emplace_back(r, v);
      return true;
    }
  }
  return false;
}

}  // namespace

void print_usage() {
  std::fprintf(stderr,
               "usage: umbra_difftest [options]\n"
               "  --seed S             run seed (default 1); case i uses a seed derived from S, i\n"
               "  --count N            number of cases (default 10000)\n"
               "  --forms REGEX        only forms whose name matches (ECMAScript, searched)\n"
               "  --max-len L          longest instruction sequence, 1..%u (default %u;\n"
               "                       %u with --compare-tiers)\n"
               "  --min-len L          shortest sequence of more than one instruction\n"
               "                       (default 2; 10 with --compare-tiers)\n"
               "  --case I             run only case I of the seed and describe it\n"
               "  --verbose            describe every mismatch (disassembly, states, differences)\n"
               "  --max-reports N      describe at most N mismatches (default 25)\n"
               "  --fault-pct P        place P%% of memory operands where they fault (default 3;\n"
               "                       1 with --compare-tiers)\n"
               "  --single-pct P       P%% of the cases are single instructions (default 55;\n"
               "                       0 with --compare-tiers)\n"
               "  --hot-pct P          P%% of the data addresses fall in a 48-byte window, so\n"
               "                       that accesses alias (default 0; 35 with --compare-tiers)\n"
               "  --accel MODE         Umbra's engines run in MODE: tier0, jit or compile-all\n"
               "                       (default: UMBRA_ACCEL, else jit)\n"
               "  --progress N         print a progress line every N cases\n"
               "  --sweep              case i starts with the (i mod N)th of the N selected\n"
               "                       forms: N cases cover every form\n"
               "  --compare-tiers      no host: run every case on tier 0 and compiled by tier 1\n"
               "                       (compile-all) and compare the whole state bit for bit\n"
               "  --known-failures F   skip the forms listed in F (see known_failures.txt);\n"
               "                       may be given more than once\n"
               "  --list-forms         print the form names and exit\n"
               "  --check-encoder      only check the generator's encodings against Capstone\n"
               "  --native-only        run every case natively twice and compare (harness check)\n"
               "  --ldt                give the native process an LDT of user descriptors (Umbra\n"
               "                       mirrors it); without, TI=1 selectors find no LDT\n"
               "  --no-form-table      leave the per-form table out of the summary\n"
               "  --code HEX           reproducer: run these bytes (state from --seed/--case)\n"
               "  --set REG=VALUE      reproducer: initial value of rax..r15, rflags, fs_base or\n"
               "                       gs_base\n",
               kMaxInsns, kDefaultMaxLen, kMaxInsns);
}

bool parse_options(int argc, char** argv, Options* o) {
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
    } else if (a == "--min-len") {
      if (!number("--min-len", &n) || n < 2 || n > kMaxInsns) return false;
      o->min_len = static_cast<unsigned>(n);
    } else if (a == "--single-pct") {
      if (!number("--single-pct", &n) || n > 100) return false;
      o->single_pct = static_cast<int>(n);
    } else if (a == "--hot-pct") {
      if (!number("--hot-pct", &n) || n > 100) return false;
      o->hot_pct = static_cast<int>(n);
    } else if (a == "--accel") {
      const char* v = next("--accel");
      umbra::AccelMode m;
      if (!v || !umbra::parse_accel_mode(v, &m)) {
        std::fprintf(stderr, "umbra_difftest: --accel wants tier0, jit or compile-all\n");
        return false;
      }
      o->accel = m;
    } else if (a == "--progress") {
      if (!number("--progress", &o->progress)) return false;
    } else if (a == "--sweep") {
      o->sweep = true;
    } else if (a == "--compare-tiers") {
      o->compare_tiers = true;
    } else if (a == "--fault-pct") {
      if (!number("--fault-pct", &n) || n > 100) return false;
      o->fault_pct = static_cast<int>(n);
    } else if (a == "--max-reports") {
      if (!number("--max-reports", &n)) return false;
      o->max_reports = static_cast<unsigned>(n);
    } else if (a == "--ldt") {
      o->ldt = true;
    } else if (a == "--known-failures") {
      const char* v = next("--known-failures");
      if (!v) return false;
      o->known_failures.push_back(v);
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
  // Mode-dependent defaults.
  if (!o->max_len) o->max_len = o->compare_tiers ? kMaxInsns : kDefaultMaxLen;
  if (!o->min_len) o->min_len = o->compare_tiers ? std::min(10u, o->max_len) : 2;
  if (o->single_pct < 0) o->single_pct = o->compare_tiers ? 0 : 55;
  if (o->fault_pct < 0) o->fault_pct = o->compare_tiers ? 1 : 3;
  if (o->hot_pct < 0) o->hot_pct = o->compare_tiers ? 35 : 0;
  if (o->compare_tiers && (o->native_only || o->check_encoder)) {
    std::fprintf(stderr, "umbra_difftest: --compare-tiers runs no native side\n");
    return false;
  }
  return true;
}

}  // namespace difftest
