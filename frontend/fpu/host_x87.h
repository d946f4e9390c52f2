// Running one x87 instruction on the host's own FPU (the host is x86-64, so the host's x87 is
// the oracle for bit-exact results, exception flags and condition codes).
//
// The caller builds a host FPU image in the 32-bit protected-mode FSAVE layout (SDM vol. 1,
// 8.1.10, figure 8-10): control word, status word (TOP = 0), full tag word and the eight
// registers in stack order. host_x87_execute() loads it with FRSTOR, runs the instruction's own
// encoding (opcode byte + ModRM; a memory form addresses `mem`), and stores the result back with
// FNSAVE. FNSAVE does not wait, so an unmasked exception the instruction raised stays recorded
// in the image (ES set, destination left as the hardware leaves it, scaled results for unmasked
// overflow/underflow) without the host ever taking #MF; FNSAVE also reinitialises the host FPU.
// The host's own control word is saved and restored around it.
#pragma once

#include <cstdint>

namespace umbra {

// Offsets in the 108-byte FSAVE image.
constexpr unsigned kFsaveFcw = 0, kFsaveFsw = 4, kFsaveFtw = 8, kFsaveRegs = 28;
constexpr unsigned kFsaveSize = 108;

struct HostX87Frame {
  alignas(16) uint8_t image[kFsaveSize];  // in: state before; out: state after
  alignas(16) uint8_t mem[16];            // the memory operand (read and/or written)
  uint64_t rflags;  // in: the status flags FCMOVcc reads; out: after (FCOMI/FUCOMI set ZF PF CF)
};

// Executes the x87 instruction `opcode` (D8..DF) with ModRM byte `modrm` on the host. For memory
// forms (mod != 3) pass the ModRM's reg field with any mod/rm: the memory operand is `mem`.
void host_x87_execute(uint8_t opcode, uint8_t modrm, HostX87Frame& frame);

}  // namespace umbra
