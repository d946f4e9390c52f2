// x87 control instructions (SDM vol. 1, 8.3.10 and 8.1.10): FNINIT, FNCLEX, FLDCW, FNSTCW,
// FNSTSW, FLDENV/FNSTENV and FRSTOR/FNSAVE in their four environment layouts (16/32-bit operand
// size x real/protected mode, SDM vol. 1, figures 8-9 .. 8-12). These do not update FIP/FDP/FOP
// (SDM vol. 1, 8.1.8). The FN forms do not check for a pending exception; FLDCW, FLDENV and
// FRSTOR do (their FWAIT-prefixed spellings get the check from the separate WAIT).
#include <cstring>

#include "frontend/operands.h"
#include "frontend/semantics/x87_internal.h"
#include "frontend/semantics/x87_memory.h"
#include "frontend/system/mode.h"

namespace umbra::x87 {
namespace {

constexpr unsigned kRegBytes = 80;

bool real_layout(const CpuState& cpu) {
  return !protected_mode(cpu) || v86_mode(cpu);
}

void put16(uint8_t* p, uint16_t v) {
  std::memcpy(p, &v, 2);
}
void put32(uint8_t* p, uint32_t v) {
  std::memcpy(p, &v, 4);
}
uint16_t get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

unsigned env_size(const Insn& i) {
  return i.opsize == 2 ? 14 : 28;
}

// Builds the environment image (14 or 28 bytes) for FNSTENV/FNSAVE.
void store_env(const CpuState& cpu, const Insn& i, uint8_t* out) {
  const auto& x = cpu.x87;
  const uint16_t ftw = full_tag_word(cpu);
  const bool real = real_layout(cpu);
  // In real mode the pointers are 20/32-bit linear addresses (segment * 16 + offset).
  const uint32_t ip =
      real ? static_cast<uint32_t>(x.fip + (uint32_t{x.fcs} << 4)) : static_cast<uint32_t>(x.fip);
  const uint32_t dp =
      real ? static_cast<uint32_t>(x.fdp + (uint32_t{x.fds} << 4)) : static_cast<uint32_t>(x.fdp);
  const uint16_t fop = x.fop & 0x7FF;
  if (i.opsize == 2) {
    put16(out + 0, x.fcw);
    put16(out + 2, x.fsw);
    put16(out + 4, ftw);
    put16(out + 6, static_cast<uint16_t>(ip));
    if (real) {
      put16(out + 8, static_cast<uint16_t>(((ip >> 16) & 0xF) << 12 | fop));
      put16(out + 10, static_cast<uint16_t>(dp));
      put16(out + 12, static_cast<uint16_t>(((dp >> 16) & 0xF) << 12));
    } else {
      put16(out + 8, x.fcs);
      put16(out + 10, static_cast<uint16_t>(dp));
      put16(out + 12, x.fds);
    }
    return;
  }
  // Reserved upper halves are stored as ones, as the hardware does.
  put32(out + 0, 0xFFFF0000u | x.fcw);
  put32(out + 4, 0xFFFF0000u | x.fsw);
  put32(out + 8, 0xFFFF0000u | ftw);
  if (real) {
    put32(out + 12, 0xFFFF0000u | (ip & 0xFFFF));
    put32(out + 16, ((ip >> 16) << 12) | fop);
    put32(out + 20, 0xFFFF0000u | (dp & 0xFFFF));
    put32(out + 24, (dp >> 16) << 12);
  } else {
    put32(out + 12, ip);
    put32(out + 16, (uint32_t{fop} << 16) | x.fcs);
    put32(out + 20, dp);
    put32(out + 24, 0xFFFF0000u | x.fds);
  }
}

void load_env(CpuState& cpu, const Insn& i, const uint8_t* in) {
  auto& x = cpu.x87;
  const bool real = real_layout(cpu);
  uint16_t ftw;
  if (i.opsize == 2) {
    x.fcw = loaded_fcw(get16(in + 0));
    x.fsw = get16(in + 2);
    ftw = get16(in + 4);
    x.fip = get16(in + 6);
    if (real) {
      const uint16_t w = get16(in + 8);
      x.fip |= uint64_t{static_cast<uint16_t>(w >> 12)} << 16;
      x.fop = w & 0x7FF;
      x.fdp = get16(in + 10) | (uint64_t{static_cast<uint16_t>(get16(in + 12) >> 12)} << 16);
      x.fcs = x.fds = 0;
    } else {
      // The 16-bit protected-mode environment has no opcode field (SDM vol. 1, figure 8-11):
      // FOP is cleared, as the hardware does.
      x.fcs = get16(in + 8);
      x.fdp = get16(in + 10);
      x.fds = get16(in + 12);
      x.fop = 0;
    }
  } else {
    x.fcw = loaded_fcw(get16(in + 0));
    x.fsw = get16(in + 4);
    ftw = get16(in + 8);
    if (real) {
      const uint32_t w = get32(in + 16);
      x.fip = (get32(in + 12) & 0xFFFF) | ((w >> 12) << 16);
      x.fop = w & 0x7FF;
      x.fdp = (get32(in + 20) & 0xFFFF) | ((get32(in + 24) >> 12) << 16);
      x.fcs = x.fds = 0;
    } else {
      x.fip = get32(in + 12);
      const uint32_t w = get32(in + 16);
      x.fcs = static_cast<uint16_t>(w);
      x.fop = (w >> 16) & 0x7FF;
      x.fdp = get32(in + 20);
      x.fds = get16(in + 24);
    }
  }
  set_full_tag_word(cpu, ftw);
  update_summary(cpu);
}

void fninit(CpuState& cpu) {
  auto& x = cpu.x87;
  x.fcw = 0x037F;
  x.fsw = 0;
  x.ftw = 0xFFFF;  // all empty
  x.fop = 0;
  x.fip = x.fdp = 0;
  x.fcs = x.fds = 0;
}

void fnstenv(CpuState& cpu, const Insn& i) {
  uint8_t img[28];
  const unsigned n = env_size(i);
  store_env(cpu, i, img);
  write_block(cpu, i, img, n);
  cpu.x87.fcw |= fsw::kExceptions;  // FSTENV masks all exceptions afterwards
  update_summary(cpu);
}

void fldenv(CpuState& cpu, const Insn& i) {
  check_pending_mf(cpu);
  uint8_t img[28];
  read_block(cpu, i, img, env_size(i));
  load_env(cpu, i, img);
}

void fnsave(CpuState& cpu, const Insn& i) {
  uint8_t img[28 + kRegBytes];
  const unsigned n = env_size(i);
  store_env(cpu, i, img);
  for (unsigned k = 0; k < 8; ++k) std::memcpy(img + n + 10 * k, cpu.x87.st[phys(cpu, k)], 10);
  write_block(cpu, i, img, n + kRegBytes);
  fninit(cpu);
}

void frstor(CpuState& cpu, const Insn& i) {
  check_pending_mf(cpu);
  uint8_t img[28 + kRegBytes];
  const unsigned n = env_size(i);
  read_block(cpu, i, img, n + kRegBytes);
  load_env(cpu, i, img);
  for (unsigned k = 0; k < 8; ++k) {
    uint8_t* r = cpu.x87.st[phys(cpu, k)];
    std::memcpy(r, img + n + 10 * k, 10);
    std::memset(r + 10, 0, 6);
  }
}

}  // namespace

bool run_control(CpuState& cpu, const Insn& i) {
  const uint8_t opcode = static_cast<uint8_t>(i.opcode & 0xFF);
  const uint8_t modrm = i.ext;
  const unsigned reg = (modrm >> 3) & 7;
  const bool is_mem = (modrm >> 6) != 3;
  if (opcode == 0xD9 && is_mem) {
    switch (reg) {
      case 4:
        fldenv(cpu, i);
        return true;
      case 5: {  // FLDCW
        check_pending_mf(cpu);
        cpu.x87.fcw =
            loaded_fcw(read_mem_seg<uint16_t>(cpu, linear_address(cpu, i, 2, false), i.seg));
        update_summary(cpu);
        return true;
      }
      case 6:
        fnstenv(cpu, i);
        return true;
      case 7: {  // FNSTCW
        const uint16_t v = cpu.x87.fcw;
        write_mem_seg<uint16_t>(cpu, linear_address(cpu, i, 2, true), v, i.seg);
        return true;
      }
      default:
        return false;
    }
  }
  if (opcode == 0xDD && is_mem) {
    switch (reg) {
      case 4:
        frstor(cpu, i);
        return true;
      case 6:
        fnsave(cpu, i);
        return true;
      case 7: {  // FNSTSW m16
        const uint16_t v = cpu.x87.fsw;
        write_mem_seg<uint16_t>(cpu, linear_address(cpu, i, 2, true), v, i.seg);
        return true;
      }
      default:
        return false;
    }
  }
  if (opcode == 0xDB && modrm == 0xE2) {  // FNCLEX: exception flags, SF, ES and B
    cpu.x87.fsw &= 0x7F00;
    return true;
  }
  if (opcode == 0xDB && modrm == 0xE3) {
    fninit(cpu);
    return true;
  }
  if (opcode == 0xDF && modrm == 0xE0) {  // FNSTSW AX
    cpu.gpr[RAX] = (cpu.gpr[RAX] & ~uint64_t{0xFFFF}) | cpu.x87.fsw;
    return true;
  }
  return false;
}

}  // namespace umbra::x87
