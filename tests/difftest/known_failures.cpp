#include "known_failures.h"

#include <cstdio>
#include <fstream>

namespace difftest {

namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  const size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

size_t find_form(const std::vector<Form>& forms, const std::string& name) {
  for (size_t i = 0; i < forms.size(); ++i)
    if (forms[i].name == name) return i;
  return forms.size();
}

}  // namespace

// One entry per line ('#' starts a comment):
//   form: <form name> | why                      the form is not generated
//   variation: <name> | why                      the generator variation is off for every form
//   variation: <name> @ <form name> | why        ... only for that form
bool load_known_failures(const std::string& path, const std::vector<Form>& forms,
                         KnownFailures* out) {
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "umbra_difftest: cannot read %s\n", path.c_str());
    return false;
  }
  // Several lists may be loaded one after the other: only size the tables the first time.
  if (out->form_skipped.size() != forms.size()) out->form_skipped.assign(forms.size(), false);
  if (out->disabled_in_form.size() != forms.size()) out->disabled_in_form.assign(forms.size(), 0);
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
    const std::string entry = trim(line.substr(colon + 1, bar - colon - 1));
    const std::string why = trim(line.substr(bar + 1));
    if (kind == "form") {
      const size_t id = find_form(forms, entry);
      if (id == forms.size()) {
        std::fprintf(stderr, "%s:%u: no form named '%s'\n", path.c_str(), lineno, entry.c_str());
        return false;
      }
      out->form_skipped[id] = true;
    } else {
      const size_t at = entry.find('@');
      const std::string name = trim(entry.substr(0, at));
      const std::string form = at == std::string::npos ? "" : trim(entry.substr(at + 1));
      uint32_t bit = 0;
      for (const VariationName& v : kVariationNames)
        if (name == v.name) bit = v.v;
      const size_t id = form.empty() ? forms.size() : find_form(forms, form);
      if (!bit || (!form.empty() && id == forms.size())) {
        std::fprintf(stderr, "%s:%u: unknown variation or form in '%s'\n", path.c_str(), lineno,
                     entry.c_str());
        return false;
      }
      if (form.empty())
        out->disabled |= bit;
      else
        out->disabled_in_form[id] |= bit;
    }
    out->descriptions.push_back(kind + " " + entry + " -- " + why);
  }
  return true;
}

}  // namespace difftest
