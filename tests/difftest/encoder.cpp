// x86-64 encoding (SDM vol. 2, 2.1-2.3 and 2.4 for REX, 2.3.5 for VEX).
#include "encoder.h"

namespace difftest {

namespace {

struct ModrmBytes {
  uint8_t bytes[6];  // ModRM, optional SIB, displacement
  unsigned len;
  unsigned disp_offset;  // offset of the displacement within bytes (for RIP-relative)
  unsigned disp_len;
  uint8_t rex_x, rex_b;
};

// Register operand number as encoded (AH..BH are 4..7 without REX).
uint8_t reg_code(uint8_t r) {
  return r >= 16 ? static_cast<uint8_t>(r - 12) : r;
}

ModrmBytes encode_modrm(uint8_t reg_field, const RmOp& rm) {
  ModrmBytes m{};
  const uint8_t reg3 = static_cast<uint8_t>((reg_field & 7) << 3);
  if (!rm.is_mem) {
    const uint8_t r = reg_code(rm.reg);
    m.bytes[0] = static_cast<uint8_t>(0xc0 | reg3 | (r & 7));
    m.len = 1;
    m.rex_b = r >> 3;
    return m;
  }
  const MemOp& mem = rm.mem;
  auto put_disp = [&](unsigned n) {
    m.disp_offset = m.len;
    m.disp_len = n;
    for (unsigned i = 0; i < n; ++i)
      m.bytes[m.len++] = static_cast<uint8_t>(static_cast<uint32_t>(mem.disp) >> (8 * i));
  };
  if (mem.base == kRip) {
    // mod=00 rm=101: RIP-relative disp32 (SDM vol. 2, 2.2.1.6).
    m.bytes[m.len++] = static_cast<uint8_t>(0x05 | reg3);
    put_disp(4);
    return m;
  }
  if (mem.base == kNone) {
    // SIB with base=101 and mod=00: no base, disp32; index=100 (without REX.X) means no index,
    // which gives the absolute [disp32] form that is not RIP-relative.
    const uint8_t idx = mem.index == kNone ? 4 : mem.index;
    m.bytes[m.len++] = static_cast<uint8_t>(0x04 | reg3);
    m.bytes[m.len++] = static_cast<uint8_t>((mem.scale << 6) | ((idx & 7) << 3) | 5);
    m.rex_x = mem.index == kNone ? 0 : (idx >> 3);
    put_disp(4);
    return m;
  }
  unsigned disp_bytes = mem.disp_bytes;
  // [rbp]/[r13] with mod=00 would mean RIP-relative or no-base: they need a disp8 of zero.
  if (disp_bytes == 0 && (mem.base & 7) == 5) disp_bytes = 1;
  const uint8_t mod = disp_bytes == 0 ? 0 : disp_bytes == 1 ? 1 : 2;
  const bool sib = mem.index != kNone || (mem.base & 7) == 4 || mem.force_sib;
  if (sib) {
    const uint8_t idx = mem.index == kNone ? 4 : mem.index;
    m.bytes[m.len++] = static_cast<uint8_t>((mod << 6) | reg3 | 4);
    m.bytes[m.len++] = static_cast<uint8_t>((mem.scale << 6) | ((idx & 7) << 3) | (mem.base & 7));
    m.rex_x = mem.index == kNone ? 0 : (idx >> 3);
  } else {
    m.bytes[m.len++] = static_cast<uint8_t>((mod << 6) | reg3 | (mem.base & 7));
  }
  m.rex_b = mem.base >> 3;
  if (disp_bytes) put_disp(disp_bytes);
  return m;
}

}  // namespace

size_t encode(const InsnSpec& s, uint64_t addr, uint8_t* out) {
  size_t n = 0;
  for (unsigned i = 0; i < s.num_prefixes; ++i) out[n++] = s.prefixes[i];
  if (s.has_modrm && s.rm.is_mem && s.rm.mem.addr32) out[n++] = 0x67;

  ModrmBytes m{};
  const uint8_t modrm_reg = reg_code(s.modrm_reg);
  if (s.has_modrm) m = encode_modrm(modrm_reg, s.rm);
  const uint8_t rex_r = (modrm_reg >> 3) & 1;
  uint8_t rex_b = m.rex_b;
  uint8_t opreg = 0;
  if (s.opcode_reg != kNone) {
    opreg = reg_code(s.opcode_reg);
    rex_b = opreg >> 3;
  }

  if (s.vex != Vex::kNone) {
    const uint8_t map = s.vex == Vex::kMap0F38 ? 2 : 3;
    out[n++] = 0xc4;
    out[n++] = static_cast<uint8_t>(((!rex_r) << 7) | ((!m.rex_x) << 6) | ((!rex_b) << 5) | map);
    out[n++] = static_cast<uint8_t>((s.vex_w << 7) | ((~s.vex_vvvv & 15) << 3) | (s.vex_l << 2) |
                                    s.vex_pp);
  } else {
    const uint8_t rex =
        static_cast<uint8_t>(0x40 | (s.rex_w << 3) | (rex_r << 2) | (m.rex_x << 1) | rex_b);
    if (rex != 0x40 || s.force_rex) out[n++] = rex;
  }
  for (unsigned i = 0; i < s.opcode_len; ++i) out[n++] = s.opcode[i];
  if (s.opcode_reg != kNone) out[n - 1] = static_cast<uint8_t>(out[n - 1] + (opreg & 7));
  const size_t modrm_at = n;
  for (unsigned i = 0; i < m.len; ++i) out[n++] = m.bytes[i];
  for (unsigned i = 0; i < s.imm_len; ++i) out[n++] = s.imm[i];

  if (s.has_modrm && s.rm.is_mem && s.rm.mem.base == kRip) {
    // disp32 = target - (address of the next instruction); the immediate follows the disp.
    const int64_t d = static_cast<int64_t>(s.rm.mem.rip_target) - static_cast<int64_t>(addr + n);
    const uint32_t v = static_cast<uint32_t>(d);
    for (unsigned i = 0; i < 4; ++i)
      out[modrm_at + m.disp_offset + i] = static_cast<uint8_t>(v >> (8 * i));
  }
  return n;
}

}  // namespace difftest
