// String instructions: MOVS CMPS SCAS LODS STOS in all four sizes, without a repeat prefix, with
// REP (MOVS LODS STOS) and with REPE/REPNE (CMPS SCAS), in both directions (DF is random in the
// initial state and CLD/STD may change it), with 64- and 32-bit (67) addressing (SDM vol. 2).
// Counts are kept small so the strings stay inside the data pages.
#include "forms.h"

namespace difftest {

namespace {

enum StrOp : uint8_t { kMovs, kCmps, kStos, kLods, kScas };
constexpr uint8_t kOpcode[] = {0xa4, 0xa6, 0xaa, 0xac, 0xae};
const char* const kName[] = {"movs", "cmps", "stos", "lods", "scas"};
enum class Rep { kNone, kRep, kRepne };

// Longest string generated, in bytes (both directions must fit in the data area).
constexpr uint64_t kMaxSpan = 12000;

// Makes `gpr` point at `span` bytes either side of some address inside the data area, or, for
// `at_edge`, closer than `span` to an edge of it, so that a long string runs off the end (in one
// of the two directions) and faults part-way.
bool string_pointer(Gen& g, uint8_t gpr, uint64_t span, bool addr32, bool at_edge) {
  uint64_t v;
  if (g.is_free(gpr)) {
    uint64_t a = kDataBase + span + g.rng.below(kDataSize - 2 * span);
    if (at_edge)
      a = g.rng.coin() ? kDataBase + g.rng.below(span) : kDataEnd - 1 - g.rng.below(span);
    return g.fix(gpr, addr32 ? (g.rng.next() & ~0xffffffffull) | a : a);
  }
  if (g.known(gpr, &v)) {
    const uint64_t a = addr32 ? (v & 0xffffffffull) : v;
    return a + 0x1000 >= kDataBase && a < kDataEnd + 0x1000;
  }
  return !addr32 && g.is_ptr_now(gpr);
}

bool gen_string(Gen& g, StrOp op, unsigned size, Rep rep) {
  Ib ib = g.begin(size);
  ib.s.set_opcode(static_cast<uint8_t>(kOpcode[op] + (size == 1 ? 0 : 1)));
  if (rep == Rep::kRep) ib.s.add_prefix(0xf3);
  if (rep == Rep::kRepne) ib.s.add_prefix(0xf2);
  const bool addr32 = g.rng.chance(1, 6);
  if (addr32) ib.s.add_prefix(0x67);

  bool count_known = true;
  uint64_t count = 1;
  const uint64_t max_count = kMaxSpan / size - 1;
  if (rep != Rep::kNone) {
    // Mostly short strings; sometimes long ones (the engine may run those in chunks).
    const uint64_t picks[] = {
        0,
        1,
        2,
        3,
        g.rng.below(8),
        g.rng.below(41),
        static_cast<uint64_t>(g.rng.range(64, static_cast<int64_t>(max_count)))};
    uint64_t want = g.rng.pick(picks);
    if (addr32) want |= g.rng.next() & ~0xffffffffull;  // ECX only: the upper half is ignored
    uint64_t v;
    count_known = g.fix_or_known(RCX_, want, &v);
    count = addr32 ? (v & 0xffffffffull) : v;
    if (count_known && count > max_count) count_known = false;
  }
  // Both directions must stay inside the data area (DF may change before this instruction),
  // except for the deliberate runs off an edge.
  const uint64_t span = (count_known ? count + 1 : 41) * size;
  const bool at_edge = rep != Rep::kNone && count_known && count > 1 && g.rng.chance(1, 12);
  const bool uses_si = op == kMovs || op == kCmps || op == kLods;
  const bool uses_di = op != kLods;
  if (uses_si && !string_pointer(g, RSI_, span, addr32, at_edge && g.rng.coin())) return false;
  if (uses_di && !string_pointer(g, RDI_, span, addr32, at_edge && g.rng.coin())) return false;
  if (!count_known && rep != Rep::kNone) {
    // An unknown count may be huge: the pointers then walk until they leave the data area and
    // fault, which is bounded and the same on both sides. Only allowed with known pointers.
    uint64_t v;
    if (uses_si && !g.known(RSI_, &v)) return false;
    if (uses_di && !g.known(RDI_, &v)) return false;
  }

  uint16_t written = 0, ptrs = 0;
  if (uses_si) written |= 1u << RSI_;
  if (uses_di) written |= 1u << RDI_;
  if (!addr32) ptrs = written;
  if (rep != Rep::kNone) written |= 1u << RCX_;
  if (op == kLods) written |= 1u << RAX_;
  ib.fx.regs_written = written;
  ib.fx.regs_written_ptr = ptrs;
  ib.fx.mem_write = op == kMovs || op == kStos;
  if (op == kCmps) {
    ib.unordered_reads = static_cast<uint8_t>(size);
    ib.unordered_addr32 = addr32;
  }
  if (op == kCmps || op == kScas) {
    // A repeated compare with count 0 leaves the flags alone.
    if (rep == Rep::kNone || (count_known && count != 0)) ib.fx.flags_def = fl::STATUS;
  }
  return g.emit(ib);
}

}  // namespace

void add_string_forms(std::vector<Form>& out) {
  const char kSuffix[] = {'b', 'w', 'd', 'q'};
  for (uint8_t op = kMovs; op <= kScas; ++op) {
    for (unsigned si = 0; si < 4; ++si) {
      const unsigned s = 1u << si;
      const std::string base = std::string(kName[op]) + kSuffix[si];
      const StrOp o = static_cast<StrOp>(op);
      out.push_back({base, kName[op], 0, [=](Gen& g) { return gen_string(g, o, s, Rep::kNone); }});
      if (o == kCmps || o == kScas) {
        out.push_back(
            {"repe " + base, kName[op], 0, [=](Gen& g) { return gen_string(g, o, s, Rep::kRep); }});
        out.push_back({"repne " + base, kName[op], 0,
                       [=](Gen& g) { return gen_string(g, o, s, Rep::kRepne); }});
      } else {
        out.push_back(
            {"rep " + base, kName[op], 0, [=](Gen& g) { return gen_string(g, o, s, Rep::kRep); }});
      }
    }
  }
}

}  // namespace difftest
