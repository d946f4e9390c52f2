#include "encoder_check.h"

#include <cstring>
#include <vector>

#include "forms.h"
#include "frontend/disasm.h"

namespace difftest {

namespace {

bool is_legacy_prefix(uint8_t b) {
  switch (b) {
    case 0xf0:
    case 0xf2:
    case 0xf3:
    case 0x2e:
    case 0x36:
    case 0x3e:
    case 0x26:
    case 0x64:
    case 0x65:
    case 0x66:
    case 0x67:
      return true;
    default:
      return false;
  }
}

// Capstone 4.0.2 erratum: it takes 66/F2/F3 as a mandatory prefix only right before the opcode
// (or REX), while the hardware accepts the legacy prefixes in any order (SDM vol. 2, 2.1.1).
// Reorders the prefix run so the mandatory candidates come last, for a second opinion.
std::vector<uint8_t> mandatory_prefix_last(const uint8_t* p, unsigned len) {
  std::vector<uint8_t> other, opsize, rep;
  unsigned i = 0;
  for (; i < len && is_legacy_prefix(p[i]); ++i)
    (p[i] == 0x66 ? opsize : (p[i] == 0xf2 || p[i] == 0xf3) ? rep : other).push_back(p[i]);
  std::vector<uint8_t> out = other;
  out.insert(out.end(), opsize.begin(), opsize.end());
  out.insert(out.end(), rep.begin(), rep.end());
  out.insert(out.end(), p + i, p + len);
  return out;
}

// Capstone 4.0.2 erratum: 0F 1F /0 with a register operand (a reserved NOP that the hardware
// executes as NOP) is rejected.
bool is_register_nop(const uint8_t* p, unsigned len) {
  unsigned i = 0;
  while (i < len && (is_legacy_prefix(p[i]) || (p[i] & 0xf0) == 0x40)) ++i;
  return i + 2 < len && p[i] == 0x0f && p[i + 1] == 0x1f && (p[i + 2] & 0xc0) == 0xc0;
}

bool agrees(const Form& f, const umbra::Disassembly& d, unsigned len) {
  return d.length == len &&
         (f.mnemonic.empty() || d.mnemonic.find(f.mnemonic) != std::string::npos);
}

}  // namespace

bool check_encoding(const CaseInput& in, const CaseMeta& meta, std::string* problem) {
  const std::vector<Form>& forms = all_forms();
  for (unsigned i = 0; i < meta.n; ++i) {
    const InsnRecord& r = meta.insns[i];
    const Form& f = forms[r.form];
    if (f.mnemonic == "(bad)" || r.expect_ud) continue;
    if (r.offset + r.len > kCodeSize) continue;  // straddles the end of the code page
    const uint8_t* bytes = in.code + r.offset;
    const uint64_t addr = kCodeBase + r.offset;
    umbra::Disassembly d =
        umbra::disassemble_one(bytes, static_cast<unsigned>(kCodeSize - r.offset), addr, 64);
    if (agrees(f, d, r.len)) continue;
    if (is_register_nop(bytes, r.len)) continue;
    std::vector<uint8_t> alt = mandatory_prefix_last(bytes, r.len);
    alt.resize(alt.size() + 16, kHltByte);
    const umbra::Disassembly d2 =
        umbra::disassemble_one(alt.data(), static_cast<unsigned>(alt.size()), addr, 64);
    if (agrees(f, d2, r.len)) continue;
    *problem =
        "form '" + f.name + "': encoded " + std::to_string(r.len) + " bytes, Capstone: " +
        (d.length ? d.mnemonic + " " + d.operands + " (" + std::to_string(d.length) + " bytes)"
                  : std::string("invalid"));
    return false;
  }
  return true;
}

}  // namespace difftest
