// The x87 instructions (SDM vol. 1, chapter 8; vol. 2, F*): ESCAPE_X87 dispatch and the
// computational instructions, which run on the host's own FPU (frontend/fpu/host_x87.h).
//
// A computational instruction involves at most three stack slots: ST(0), one ST(i) and, for
// instructions that push, the slot that becomes the new ST(0) (ST(7) before the push). The host
// image places those at host stack positions 0, 1 and 7 (TOP = 0) with their tags, every other
// slot empty, and the instruction runs with ST(i) re-encoded as ST(1). Afterwards the host's
// physical slots 0, 1 and 7 map back onto the guest's physical registers and the guest's TOP
// moves by as much as the host's did. Stack faults, masked and unmasked exceptions, condition
// codes and FCOMI's EFLAGS are therefore the hardware's own (docs/x87.md).
#include <cstring>

#include "frontend/flags.h"
#include "frontend/fpu/host_x87.h"
#include "frontend/operands.h"
#include "frontend/semantics/fp_checks.h"
#include "frontend/semantics/registry.h"
#include "frontend/semantics/x87_internal.h"
#include "frontend/semantics/x87_memory.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"

namespace umbra {
namespace x87 {

void check_pending_mf(CpuState& cpu) {
  if ((cpu.x87.fsw & fsw::ES) && (cpu.cr0 & cr0::NE)) raise_fault(cpu, kMF);
}

void record_last_instruction(CpuState& cpu, const Insn& i) {
  cpu.x87.fip = cpu.rip;
  cpu.x87.fcs = cpu.seg[CS].selector;
  cpu.x87.fop = static_cast<uint16_t>(((i.opcode & 7) << 8) | i.ext);
  if ((i.ext >> 6) != 3) {
    cpu.x87.fdp = effective_address(cpu, i);
    cpu.x87.fds = cpu.seg[i.seg].selector;
  }
}

namespace {

// Memory operand of a computational form: size in bytes, and whether it is written (stores)
// rather than read. Size 0: not a computational memory form (control, invalid).
struct MemForm {
  uint8_t size;
  bool store;
};

MemForm mem_form(uint8_t opcode, unsigned reg) {
  switch (opcode) {
    case 0xD8:
      return {4, false};
    case 0xDA:
      return {4, false};
    case 0xDC:
      return {8, false};
    case 0xDE:
      return {2, false};
    case 0xD9:
      if (reg == 0) return {4, false};
      if (reg == 2 || reg == 3) return {4, true};
      return {0, false};
    case 0xDB:
      if (reg == 0) return {4, false};
      if (reg == 1 || reg == 2 || reg == 3) return {4, true};  // FISTTP m32int, FIST, FISTP
      if (reg == 5) return {10, false};
      if (reg == 7) return {10, true};
      return {0, false};
    case 0xDD:
      if (reg == 0) return {8, false};
      if (reg == 1 || reg == 2 || reg == 3) return {8, true};  // FISTTP m64int, FST, FSTP
      return {0, false};
    case 0xDF:
      if (reg == 0) return {2, false};
      if (reg == 1 || reg == 2 || reg == 3) return {2, true};  // FISTTP m16int, FIST, FISTP
      if (reg == 4) return {10, false};
      if (reg == 5) return {8, false};
      if (reg == 6) return {10, true};
      if (reg == 7) return {8, true};
      return {0, false};
    default:
      return {0, false};
  }
}

// Register forms whose low ModRM bits name ST(i) (the others are fixed encodings such as
// D9 E0..FF, DA E9, DB E0..E7, DE D9, DF E0, which use ST(0) and ST(1) implicitly).
bool names_sti(uint8_t opcode, uint8_t modrm) {
  const unsigned reg = (modrm >> 3) & 7;
  switch (opcode) {
    case 0xD9:
      return reg == 0 || reg == 1 || reg == 3;
    case 0xDA:
      return reg < 4;
    case 0xDB:
      return reg != 4;
    case 0xDE:
      return reg != 3;
    case 0xDF:
      return reg != 4;
    default:
      return true;
  }
}

// Register forms the decoder lets through but that do not exist (SDM vol. 2, tables A-7..A-22).
bool invalid_register_form(uint8_t opcode, uint8_t modrm) {
  switch (opcode) {
    case 0xD9:
      if (modrm >= 0xD1 && modrm <= 0xD7) return true;
      return modrm == 0xE2 || modrm == 0xE3 || modrm == 0xE6 || modrm == 0xE7 || modrm == 0xEF;
    case 0xDA:
      return modrm >= 0xE0 && modrm != 0xE9;
    case 0xDB:
      return (modrm >= 0xE5 && modrm <= 0xE7) || modrm >= 0xF8;
    case 0xDD:
      return modrm >= 0xF0;
    case 0xDE:
      return modrm >= 0xD8 && modrm <= 0xDF && modrm != 0xD9;
    case 0xDF:
      return (modrm >= 0xE1 && modrm <= 0xE7) || modrm >= 0xF8;
    default:
      return false;
  }
}

void copy_reg(uint8_t* dst, const uint8_t* src) {
  std::memcpy(dst, src, 10);
}

void run_computational(CpuState& cpu, const Insn& i, uint8_t opcode, uint8_t modrm) {
  const bool is_mem = (modrm >> 6) != 3;
  const MemForm mf = is_mem ? mem_form(opcode, (modrm >> 3) & 7) : MemForm{0, false};
  if (is_mem && mf.size == 0) raise_fault(cpu, kUD);
  // FISTTP (DB/DD/DF /1) belongs to SSE3 (SDM vol. 2, FISTTP: #UD if CPUID.01H:ECX.SSE3 = 0).
  const bool fisttp =
      is_mem && ((modrm >> 3) & 7) == 1 && (opcode == 0xDB || opcode == 0xDD || opcode == 0xDF);
  if (fisttp && !cpu_has(cpu, Feature::SSE3)) raise_fault(cpu, kUD);
  if (!is_mem && invalid_register_form(opcode, modrm)) raise_fault(cpu, kUD);
  check_pending_mf(cpu);

  HostX87Frame f{};
  if (is_mem && !mf.store) read_block(cpu, i, f.mem, mf.size);
  if (is_mem && mf.store) probe_store(cpu, i, mf.size);

  const bool sti = !is_mem && names_sti(opcode, modrm);
  const unsigned si = sti ? (modrm & 7) : 1;  // the guest ST(i) at host position 1
  const uint8_t host_modrm = sti ? static_cast<uint8_t>((modrm & 0xF8) | (si == 0 ? 0 : 1)) : modrm;

  // Host image: TOP = 0, guest ST(0) / ST(si) / ST(7) at host physical 0 / 1 / 7.
  const uint16_t guest_fsw = cpu.x87.fsw;
  const uint16_t masked_flags = guest_fsw & cpu.x87.fcw & fsw::kExceptions;
  const uint16_t host_fsw = static_cast<uint16_t>(
      (guest_fsw & (fsw::C0 | fsw::C1 | fsw::C2 | fsw::C3 | fsw::SF)) | masked_flags);
  uint16_t tags = 0xFFFF;
  const unsigned g[8] = {phys(cpu, 0), phys(cpu, si), 0, 0, 0, 0, 0, phys(cpu, 7)};
  for (unsigned k : {0u, 1u, 7u}) {
    if (k == 1 && si == 0) continue;
    tags = static_cast<uint16_t>((tags & ~(3u << (2 * k))) | (full_tag(cpu, g[k]) << (2 * k)));
    copy_reg(f.image + kFsaveRegs + 10 * k, cpu.x87.st[g[k]]);
  }
  std::memcpy(f.image + kFsaveFcw, &cpu.x87.fcw, 2);
  std::memcpy(f.image + kFsaveFsw, &host_fsw, 2);
  std::memcpy(f.image + kFsaveFtw, &tags, 2);
  f.rflags = arith_flags(cpu);

  host_x87_execute(opcode, host_modrm, f);

  uint16_t out_fsw, out_tags;
  std::memcpy(&out_fsw, f.image + kFsaveFsw, 2);
  std::memcpy(&out_tags, f.image + kFsaveFtw, 2);
  const unsigned host_top = (out_fsw >> 11) & 7;

  // Stores: the hardware leaves memory unchanged when an unmasked invalid-operation, overflow or
  // underflow exception occurs (SDM vol. 1, 8.5.1.2, 8.5.3, 8.5.4); the write happens before any
  // register state changes so a memory fault leaves the FPU untouched.
  if (is_mem && mf.store) {
    const uint16_t unmasked = out_fsw & ~cpu.x87.fcw & (fsw::IE | fsw::OE | fsw::UE);
    if (!unmasked) write_block(cpu, i, f.mem, mf.size);
  }

  // Registers and tags back, in an order that lets the aliased cases (ST(i) = ST(0) or ST(7))
  // end with the value the instruction produced.
  const bool pushed = host_top == 7;
  auto write_back = [&](unsigned k) {
    const unsigned pos = (k - host_top) & 7;  // FSAVE stores registers in stack order
    copy_reg(cpu.x87.st[g[k]], f.image + kFsaveRegs + 10 * pos);
    std::memset(cpu.x87.st[g[k]] + 10, 0, 6);
    set_phys_valid(cpu, g[k], ((out_tags >> (2 * k)) & 3) != 3);
  };
  if (si != 0 && !(si == 7 && pushed)) write_back(1);
  if (si != 7 || pushed) write_back(7);
  write_back(0);

  const unsigned new_top = (top(cpu) + host_top) & 7;
  cpu.x87.fsw =
      static_cast<uint16_t>((out_fsw & ~(fsw::ES | fsw::B)) | (guest_fsw & fsw::kExceptions));
  set_top(cpu, new_top);
  update_summary(cpu);
  record_last_instruction(cpu, i);

  // FCOMI/FCOMIP/FUCOMI/FUCOMIP set ZF, PF, CF and clear OF, SF, AF (SDM vol. 2, FCOMI);
  // FCMOVcc only reads them.
  const bool sets_eflags = (opcode == 0xDB || opcode == 0xDF) && !is_mem &&
                           (((modrm >> 3) & 7) == 5 || ((modrm >> 3) & 7) == 6);
  if (sets_eflags) set_arith_flags(cpu, f.rflags & rf::ARITH);
}

void x87_escape(CpuState& cpu, const Insn& i) {
  if (i.opcode == 0x9B) {  // WAIT/FWAIT
    check_wait_available(cpu);
    check_pending_mf(cpu);
    next_rip(cpu, i);
    return;
  }
  check_x87_available(cpu);
  const uint8_t opcode = static_cast<uint8_t>(i.opcode & 0xFF);
  if (!run_control(cpu, i)) run_computational(cpu, i, opcode, i.ext);
  next_rip(cpu, i);
}

Handler bind_x87(const Insn& i) {
  const unsigned op = i.opcode & 0xFF;
  if (op == 0x9B || (op >= 0xD8 && op <= 0xDF)) return &x87_escape;
  return nullptr;
}

}  // namespace
}  // namespace x87

void register_x87(BinderTable& t) {
  bind(t, Op::ESCAPE_X87, &x87::bind_x87);
}

}  // namespace umbra
