// Memory operands of the x87 instructions: 2..108-byte blocks, read or written whole. A write
// first checks that every page of the block is writable, in address order (faulting as the
// write would, CR2 = the first byte of the first unwritable page, as the hardware reports), so
// that a fault leaves memory untouched (docs/semantics.md, precise exceptions).
#pragma once

#include <cstdint>
#include <cstring>

#include "frontend/operands.h"
#include "frontend/system/segmentation_checks.h"
#include "softmmu/access.h"

namespace umbra::x87 {

inline void read_block_at(CpuState& cpu, unsigned seg, uint64_t linear, uint8_t* out,
                          unsigned size) {
  unsigned off = 0;
  for (; off + 8 <= size; off += 8) {
    const uint64_t v = read_mem_seg<uint64_t>(cpu, linear + off, seg);
    std::memcpy(out + off, &v, 8);
  }
  for (; off + 2 <= size; off += 2) {
    const uint16_t v = read_mem_seg<uint16_t>(cpu, linear + off, seg);
    std::memcpy(out + off, &v, 2);
  }
}

// Checks that the `size` bytes at `linear` can be written: the first byte, then the first byte
// of the next page when the block crosses into it (blocks are at most 108 bytes).
inline void probe_block_writable(CpuState& cpu, unsigned seg, uint64_t linear, unsigned size) {
  prepare_rmw_seg<uint8_t>(cpu, linear, seg);
  const uint64_t last = linear + size - 1;
  if ((last >> 12) != (linear >> 12)) prepare_rmw_seg<uint8_t>(cpu, last & ~uint64_t{0xFFF}, seg);
}

inline void write_block_at(CpuState& cpu, unsigned seg, uint64_t linear, const uint8_t* in,
                           unsigned size) {
  probe_block_writable(cpu, seg, linear, size);
  unsigned off = 0;
  for (; off + 8 <= size; off += 8) {
    uint64_t v;
    std::memcpy(&v, in + off, 8);
    write_mem_seg<uint64_t>(cpu, linear + off, v, seg);
  }
  for (; off + 2 <= size; off += 2) {
    uint16_t v;
    std::memcpy(&v, in + off, 2);
    write_mem_seg<uint16_t>(cpu, linear + off, v, seg);
  }
}

inline void read_block(CpuState& cpu, const Insn& i, uint8_t* out, unsigned size) {
  read_block_at(cpu, i.seg, linear_address(cpu, i, size, false), out, size);
}

// The store operand's checks (segment, canonical form, paging) for a computational store: they
// come before the instruction runs, so they win over its unmasked exceptions (which suppress
// the write itself).
inline void probe_store(CpuState& cpu, const Insn& i, unsigned size) {
  probe_block_writable(cpu, i.seg, linear_address(cpu, i, size, true), size);
}

inline void write_block(CpuState& cpu, const Insn& i, const uint8_t* in, unsigned size) {
  write_block_at(cpu, i.seg, linear_address(cpu, i, size, true), in, size);
}

}  // namespace umbra::x87
