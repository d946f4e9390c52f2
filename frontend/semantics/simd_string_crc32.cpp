// CRC32 (SSE4.2; SDM vol. 2, CRC32): F2 0F 38 F0 /r (r/m8) and F2 0F 38 F1 /r (r/m16 with 66,
// r/m32, r/m64 with REX.W). The operands are general-purpose registers although the encoding
// is an SSE escape: the decoder gives dst = Reg(ModRM.reg + REX.R) and src = the r/m operand
// with its raw register number (so a byte register 4-7 without REX is AH..BH). The destination
// is 32 bits (zero-extended into the 64-bit register) or, with REX.W, 64 bits whose upper half
// becomes 0. Flags are unaffected. CR0.EM/TS and CR4.OSFXSR do not matter: only
// CPUID.01H:ECX.SSE4_2 and LOCK (#UD).
#include <cstdint>

#include "frontend/operands.h"
#include "frontend/semantics/simd_dispatch.h"
#include "frontend/semantics/simd_string.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/segmentation_checks.h"

namespace umbra {

// The CRC-32C (Castagnoli) polynomial 11EDC6F41H, bit-reflected, as CRC32 uses it: the data
// and the accumulator are processed least-significant bit first, without pre- or
// post-inversion (SDM vol. 2, CRC32, "Operation").
uint32_t crc32c_update(uint32_t crc, uint64_t data, unsigned bytes) {
  for (unsigned b = 0; b < bytes; ++b) {
    crc ^= static_cast<uint8_t>(data >> (8 * b));
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78u : 0u);
  }
  return crc;
}

namespace {

template <typename Src, OpKind K>
void crc32(CpuState& cpu, const Insn& i) {
  if (!cpu_has(cpu, Feature::SSE4_2) || (i.prefixes & pfx::kLock)) raise_fault(cpu, kUD);
  Src v;
  if constexpr (K == OpKind::Mem) {
    v = read_mem_seg<Src>(cpu, linear_address(cpu, i, sizeof(Src), false), i.seg);
  } else {
    uint8_t r = i.src.reg;
    if (sizeof(Src) == 1 && !(i.prefixes & pfx::kRex) && r >= 4 && r < 8)
      r = static_cast<uint8_t>(kRegAH + (r - 4));
    v = read_gpr<Src>(cpu, r);
  }
  const uint32_t crc = crc32c_update(static_cast<uint32_t>(cpu.gpr[i.dst.reg]), v, sizeof(Src));
  cpu.gpr[i.dst.reg] = crc;  // 32- or 64-bit destination: the upper bits become 0
  next_rip(cpu, i);
}

template <typename Src>
Handler select_crc32(const Insn& i) {
  return i.src.kind == OpKind::Mem ? &crc32<Src, OpKind::Mem> : &crc32<Src, OpKind::Reg>;
}

Handler bind_crc32_byte(const Insn& i) {
  if (i.prefixes & pfx::kVex) return nullptr;
  return select_crc32<uint8_t>(i);
}

Handler bind_crc32(const Insn& i) {
  if (i.prefixes & pfx::kVex) return nullptr;
  if (i.prefixes & pfx::kRexW) return select_crc32<uint64_t>(i);
  if (i.prefixes & pfx::kOpsize) return select_crc32<uint16_t>(i);
  return select_crc32<uint32_t>(i);
}

}  // namespace

void register_crc32(SimdTable& t) {
  register_simd(t, kMap0F38, 0xF0, kColF2, false, &bind_crc32_byte);
  register_simd(t, kMap0F38, 0xF1, kColF2, false, &bind_crc32);
}

}  // namespace umbra
