#include "case_builder.h"

#include <algorithm>

#include "forms.h"

namespace difftest {

uint64_t case_seed(uint64_t run_seed, uint64_t index) {
  uint64_t s = run_seed ^ (index * 0xd1342543de82ef95ull);
  return splitmix64(s);
}

namespace {

// `single`: a one-instruction case whatever the options say.
bool build(uint64_t seed, const std::vector<uint16_t>& allowed, const BuildOptions& opt,
           bool single, CaseInput* in, CaseMeta* meta) {
  const std::vector<Form>& forms = all_forms();
  Rng rng(seed);
  unsigned len = 1;
  if (opt.max_len > 1 && !rng.chance(opt.single_pct, 100) && !single)
    len = static_cast<unsigned>(rng.range(std::min(opt.min_len, opt.max_len), opt.max_len));
  // Rarely, a single instruction placed so that it ends at, or straddles, the end of the code
  // page: the fetch of the next (unmapped) page then faults.
  const unsigned start =
      len == 1 && rng.chance(1, 64) ? static_cast<unsigned>(kCodeSize - rng.range(1, 15)) : 0;
  Gen g(rng, len, start);
  g.disabled = opt.disabled;
  g.fault_pct = opt.fault_pct;
  g.host = opt.host;
  g.ud_last_only = opt.ud_last_only;
  g.loops_anywhere = opt.loops_anywhere;
  if (opt.hot_pct) {
    // The hot window: half of the time right below the initial stack pointer, so that pushes
    // and pops alias the stream's memory operands too.
    g.hot_pct = opt.hot_pct;
    const uint64_t lo = kDataBase, hi = kDataEnd - Gen::kHotBytes;
    uint64_t w = rng.coin() ? g.init_rsp() - 24 : kDataBase + rng.below(kDataSize);
    g.hot_lo = std::clamp(w, lo, hi);
  }
  // A form may emit several instructions (the loop blocks): count what was placed.
  while (g.position() < len) {
    const unsigned pos = g.position();
    g.enter_boundary();
    bool placed = false;
    for (int attempt = 0; attempt < 40 && !placed; ++attempt) {
      const uint16_t f = pos == 0 && attempt < 20 && opt.first_form != kNoForm
                             ? opt.first_form
                             : allowed[rng.below(allowed.size())];
      const Gen::Snapshot snap = g.save();
      g.form_index = f;
      g.disabled = opt.disabled | (f < opt.disabled_in_form.size() ? opt.disabled_in_form[f] : 0);
      placed = forms[f].gen(g);
      if (!placed) g.restore(snap);
    }
    if (!placed || g.position() == pos) break;
  }
  *meta = CaseMeta{};
  g.finish(in, meta);
  meta->seed = seed;
  return meta->n > 0;
}

}  // namespace

bool build_case(uint64_t seed, const std::vector<uint16_t>& allowed, const BuildOptions& opt,
                CaseInput* in, CaseMeta* meta) {
  if (allowed.empty()) return false;
  const bool ok = build(seed, allowed, opt, false, in, meta);
  // A swept form that only fits as the last instruction of a case (far transfers, IRET, the
  // loop blocks) gets a case of its own.
  if (opt.first_form == kNoForm || (ok && meta->insns[0].form == opt.first_form)) return ok;
  // A few seeds derived from the case's: some forms need a random draw to fit (a far pointer
  // that must not overlap another plant, ...).
  for (uint64_t k = 0; k < 8; ++k) {
    uint64_t state = seed ^ k;
    const uint64_t s = k ? splitmix64(state) : seed;
    if (build(s, allowed, opt, true, in, meta) && meta->insns[0].form == opt.first_form)
      return true;
  }
  return build(seed, allowed, opt, false, in, meta);
}

}  // namespace difftest
