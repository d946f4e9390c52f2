// The legacy-region (FXSAVE) image of the x87 and SSE state, shared by FXSAVE/FXRSTOR and the
// XSAVE family, and the guest-memory block accesses of those instructions.
//
// X87State keeps the registers in physical order (st[r] is R<r>) and the full 16-bit tag word
// (two bits per physical register, 11 = empty), as FSTENV stores it. The image stores ST(i) =
// R<(TOP + i) mod 8> and the abridged tag word, one bit per physical register (SDM vol. 1,
// 10.5.1.1; vol. 2, FXSAVE).
#include <cstring>

#include "frontend/semantics/fp_state.h"
#include "frontend/system/segmentation_checks.h"

namespace umbra::fpimg {

namespace {

template <typename T>
void put(uint8_t* img, unsigned off, T v) {
  std::memcpy(img + off, &v, sizeof(T));
}

template <typename T>
T get(const uint8_t* img, unsigned off) {
  T v;
  std::memcpy(&v, img + off, sizeof(T));
  return v;
}

unsigned top_of(uint16_t fsw) {
  return (fsw >> 11) & 7;
}

// Linear address `off` bytes into a block: 32-bit linear addresses wrap outside 64-bit mode.
uint64_t at(const CpuState& cpu, uint64_t linear, unsigned off) {
  const uint64_t a = linear + off;
  return cpu.mode64 ? a : static_cast<uint32_t>(a);
}

}  // namespace

uint8_t abridged_tag(uint16_t ftw) {
  uint8_t t = 0;
  for (unsigned r = 0; r < 8; ++r)
    if (((ftw >> (2 * r)) & 3) != 3) t |= static_cast<uint8_t>(1u << r);
  return t;
}

// SDM vol. 1, 8.1.7 (x87 FPU tag word): zero for +-0, special for NaN, infinity, denormal and
// the unsupported encodings (pseudo-denormal, unnormal), valid otherwise.
unsigned tag_of_contents(const uint8_t* reg80) {
  const uint64_t sig = get<uint64_t>(reg80, 0);
  const unsigned exp = get<uint16_t>(reg80, 8) & 0x7FFF;
  if (exp == 0x7FFF) return 2;
  if (exp == 0) return sig == 0 ? 1 : 2;
  return (sig >> 63) ? 0 : 2;
}

void store_x87(const CpuState& cpu, uint8_t* img, bool fmt64) {
  const X87State& x = cpu.x87;
  std::memset(img, 0, 24);
  put<uint16_t>(img, kFcw, x.fcw);
  put<uint16_t>(img, kFsw, x.fsw);
  img[kFtw] = abridged_tag(x.ftw);
  put<uint16_t>(img, kFop, static_cast<uint16_t>(x.fop & 0x7FF));
  if (fmt64) {
    put<uint64_t>(img, kFip, x.fip);
    put<uint64_t>(img, kFdp, x.fdp);
  } else {
    put<uint32_t>(img, kFip, static_cast<uint32_t>(x.fip));
    put<uint16_t>(img, kFcs, x.fcs);
    put<uint32_t>(img, kFdp, static_cast<uint32_t>(x.fdp));
    put<uint16_t>(img, kFds, x.fds);
  }
  const unsigned top = top_of(x.fsw);
  for (unsigned i = 0; i < 8; ++i) {
    uint8_t* slot = img + kSt + 16 * i;
    std::memset(slot, 0, 16);
    std::memcpy(slot, x.st[(top + i) & 7], 10);
  }
}

void load_x87(CpuState& cpu, const uint8_t* img, bool fmt64) {
  X87State& x = cpu.x87;
  // FCW's reserved bits load as FLDCW loads them (bit 6 reads 1, bits 13-15 read 0), and FSW.ES
  // and FSW.B are recomputed from the loaded flags and masks (ES = an unmasked exception flag
  // is set, B = ES), as the host's FXRSTOR/XRSTOR do (fp_bugs.md entry 8).
  x.fcw = static_cast<uint16_t>((get<uint16_t>(img, kFcw) & 0x1F3F) | 0x0040);
  const uint16_t fsw = get<uint16_t>(img, kFsw);
  const bool es = fsw & ~x.fcw & 0x3F;
  x.fsw = static_cast<uint16_t>((fsw & 0x7F7F) | (es ? 0x8080 : 0));
  x.fop = get<uint16_t>(img, kFop) & 0x7FF;
  if (fmt64) {
    x.fip = get<uint64_t>(img, kFip);
    x.fdp = get<uint64_t>(img, kFdp);
    x.fcs = 0;
    x.fds = 0;
  } else {
    x.fip = get<uint32_t>(img, kFip);
    x.fcs = get<uint16_t>(img, kFcs);
    x.fdp = get<uint32_t>(img, kFdp);
    x.fds = get<uint16_t>(img, kFds);
  }
  const unsigned top = top_of(x.fsw);
  for (unsigned i = 0; i < 8; ++i) {
    uint8_t* reg = x.st[(top + i) & 7];
    std::memset(reg, 0, 16);
    std::memcpy(reg, img + kSt + 16 * i, 10);
  }
  const uint8_t abridged = img[kFtw];
  uint16_t ftw = 0;
  for (unsigned r = 0; r < 8; ++r) {
    const unsigned tag = (abridged >> r) & 1 ? tag_of_contents(x.st[r]) : 3;
    ftw = static_cast<uint16_t>(ftw | (tag << (2 * r)));
  }
  x.ftw = ftw;
}

// SDM vol. 1, 13.6: FCW 037FH, FSW 0, all registers empty (FTW FFFFH), FOP, FIP, FDP (and the
// selectors) 0, and the data registers 0.
void init_x87(CpuState& cpu) {
  X87State& x = cpu.x87;
  std::memset(x.st, 0, sizeof(x.st));
  x.fcw = 0x037F;
  x.fsw = 0;
  x.ftw = 0xFFFF;
  x.fop = 0;
  x.fip = x.fdp = 0;
  x.fcs = x.fds = 0;
}

bool x87_is_init(const CpuState& cpu) {
  const X87State& x = cpu.x87;
  if (x.fcw != 0x037F || x.fsw != 0 || x.ftw != 0xFFFF || x.fop != 0 || x.fip != 0 || x.fdp != 0 ||
      x.fcs != 0 || x.fds != 0)
    return false;
  for (const auto& r : x.st)
    for (unsigned b = 0; b < 10; ++b)
      if (r[b]) return false;
  return true;
}

unsigned xmm_count(const CpuState& cpu) {
  return cpu.mode64 ? 16 : 8;
}

bool xmm_is_init(const CpuState& cpu) {
  for (unsigned r = 0; r < 16; ++r)
    for (uint8_t b : cpu.xmm[r].b)
      if (b) return false;
  return true;
}

void probe_writable(CpuState& cpu, uint64_t linear, unsigned size, unsigned seg) {
  prepare_rmw_seg<uint8_t>(cpu, linear, seg);
  prepare_rmw_seg<uint8_t>(cpu, at(cpu, linear, size - 1), seg);
}

void read_block(CpuState& cpu, uint64_t linear, unsigned seg, uint8_t* buf, unsigned size) {
  for (unsigned off = 0; off < size; off += 8)
    put<uint64_t>(buf, off, read_mem_seg<uint64_t>(cpu, at(cpu, linear, off), seg));
}

void write_block(CpuState& cpu, uint64_t linear, unsigned seg, const uint8_t* buf, unsigned begin,
                 unsigned end) {
  for (unsigned off = begin; off < end; off += 8)
    write_mem_seg<uint64_t>(cpu, at(cpu, linear, off), get<uint64_t>(buf, off), seg);
}

}  // namespace umbra::fpimg
