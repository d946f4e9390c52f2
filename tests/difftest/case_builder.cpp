#include "case_builder.h"

#include "forms.h"

namespace difftest {

uint64_t case_seed(uint64_t run_seed, uint64_t index) {
  uint64_t s = run_seed ^ (index * 0xd1342543de82ef95ull);
  return splitmix64(s);
}

bool build_case(uint64_t seed, const std::vector<uint16_t>& allowed, const BuildOptions& opt,
                CaseInput* in, CaseMeta* meta) {
  if (allowed.empty()) return false;
  const std::vector<Form>& forms = all_forms();
  Rng rng(seed);
  unsigned len = 1;
  if (opt.max_len > 1 && !rng.chance(opt.single_pct, 100))
    len = static_cast<unsigned>(rng.range(2, opt.max_len));
  // Rarely, a single instruction placed so that it ends at, or straddles, the end of the code
  // page: the fetch of the next (unmapped) page then faults.
  const unsigned start =
      len == 1 && rng.chance(1, 64) ? static_cast<unsigned>(kCodeSize - rng.range(1, 15)) : 0;
  Gen g(rng, len, start);
  g.disabled = opt.disabled;
  g.fault_pct = opt.fault_pct;
  g.host = opt.host;
  for (unsigned pos = 0; pos < len; ++pos) {
    g.enter_boundary();
    bool placed = false;
    for (int attempt = 0; attempt < 40 && !placed; ++attempt) {
      const uint16_t f = allowed[rng.below(allowed.size())];
      const Gen::Snapshot snap = g.save();
      g.form_index = f;
      g.disabled = opt.disabled | (f < opt.disabled_in_form.size() ? opt.disabled_in_form[f] : 0);
      placed = forms[f].gen(g);
      if (!placed) g.restore(snap);
    }
    if (!placed) break;
  }
  *meta = CaseMeta{};
  g.finish(in, meta);
  meta->seed = seed;
  return meta->n > 0;
}

}  // namespace difftest
