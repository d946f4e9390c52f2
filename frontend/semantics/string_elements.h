// One element of each string instruction (SDM vol. 1, 7.3.9), and the bulk fast paths used by
// REP MOVS / REP STOS (string.cpp drives them).
//
// T is the element (operand) size, A the address size: rSI, rDI and rCX are A-sized, so 16-bit
// index arithmetic wraps and keeps bits 16..63, and 32-bit arithmetic wraps and zero-extends
// (write_gpr<A>). The source is seg:rSI with seg = Insn::seg (overridable); the destination is
// always ES:rDI. Each element performs its memory accesses first and then advances the index
// registers, so a fault leaves the registers as after the previous element.
#pragma once

#include <cstdint>
#include <cstring>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "softmmu/access.h"

namespace umbra::string_ops {

// Outside 64-bit mode both addresses are checked against their segment's limit and type for
// an element of `size` bytes (frontend/system/segmentation_checks.h); the destination is always
// written, except by CMPS and SCAS.
template <typename A>
inline uint64_t source_linear(const CpuState& cpu, const Insn& i, unsigned size) {
  return seg_linear(cpu, i.seg, read_gpr<A>(cpu, RSI), size, false);
}
template <typename A>
inline uint64_t dest_linear(const CpuState& cpu, unsigned size, bool write) {
  return seg_linear(cpu, ES, read_gpr<A>(cpu, RDI), size, write);
}
template <typename A>
inline void advance(CpuState& cpu, uint8_t reg, int64_t delta) {
  write_gpr<A>(cpu, reg, static_cast<A>(read_gpr<A>(cpu, reg) + static_cast<uint64_t>(delta)));
}

// ---- single elements; `delta` is +sizeof(T) or -sizeof(T) by DF ----

template <typename T, typename A>
struct Movs {
  static constexpr bool kCompares = false;
  static void element(CpuState& cpu, const Insn& i, int64_t delta) {
    const T v = read_mem_seg<T>(cpu, source_linear<A>(cpu, i, sizeof(T)), i.seg);
    write_mem<T>(cpu, dest_linear<A>(cpu, sizeof(T), true), v);
    advance<A>(cpu, RSI, delta);
    advance<A>(cpu, RDI, delta);
  }
};

// CMPS: flags of [seg:rSI] - [ES:rDI].
template <typename T, typename A>
struct Cmps {
  static constexpr bool kCompares = true;
  static void element(CpuState& cpu, const Insn& i, int64_t delta) {
    const T a = read_mem_seg<T>(cpu, source_linear<A>(cpu, i, sizeof(T)), i.seg);
    const T b = read_mem<T>(cpu, dest_linear<A>(cpu, sizeof(T), false));
    set_lazy<T>(cpu, kLazySub, static_cast<T>(a - b), a, b);
    advance<A>(cpu, RSI, delta);
    advance<A>(cpu, RDI, delta);
  }
};

// SCAS: flags of rAX - [ES:rDI].
template <typename T, typename A>
struct Scas {
  static constexpr bool kCompares = true;
  static void element(CpuState& cpu, const Insn&, int64_t delta) {
    const T a = read_gpr<T>(cpu, RAX);
    const T b = read_mem<T>(cpu, dest_linear<A>(cpu, sizeof(T), false));
    set_lazy<T>(cpu, kLazySub, static_cast<T>(a - b), a, b);
    advance<A>(cpu, RDI, delta);
  }
};

template <typename T, typename A>
struct Lods {
  static constexpr bool kCompares = false;
  static void element(CpuState& cpu, const Insn& i, int64_t delta) {
    write_gpr<T>(cpu, RAX, read_mem_seg<T>(cpu, source_linear<A>(cpu, i, sizeof(T)), i.seg));
    advance<A>(cpu, RSI, delta);
  }
};

template <typename T, typename A>
struct Stos {
  static constexpr bool kCompares = false;
  static void element(CpuState& cpu, const Insn&, int64_t delta) {
    write_mem<T>(cpu, dest_linear<A>(cpu, sizeof(T), true), read_gpr<T>(cpu, RAX));
    advance<A>(cpu, RDI, delta);
  }
};

// ---- bulk fast paths (forward direction only) ----

// How many whole T elements fit from `linear` to the end of its page.
template <typename T>
inline uint64_t elements_in_page(uint64_t linear) {
  return (kPageSize - (linear & (kPageSize - 1))) / sizeof(T);
}

// How many whole T elements fit before an A-sized index wraps (unbounded for 64-bit).
template <typename T, typename A>
inline uint64_t elements_before_wrap(A index) {
  if constexpr (sizeof(A) == 8)
    return ~uint64_t{0};
  else
    return ((uint64_t{1} << (8 * sizeof(A))) - index) / sizeof(T);
}

inline uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

// Host pointer for a write of one T at `linear` when the fast TLB grants it, else the slow
// path's check (which faults as that write would and refills the TLB); nullptr when the page is
// not plain writable RAM (MMIO, a page holding translated code): then go element by element.
template <typename T>
inline uint8_t* writable_host(CpuState& cpu, uint64_t linear) {
  const TlbEntry& e = tlb_entry(cpu, linear);
  if (e.tag_write == (linear & kPageMask)) return reinterpret_cast<uint8_t*>(linear + e.addend);
  return prepare_write_slow(cpu, linear, sizeof(T));
}

// Copies n elements forward exactly as the element loop would: with an overlapping destination
// above the source the copy replicates, element by element.
template <typename T>
inline void copy_forward(uint8_t* dst, const uint8_t* src, uint64_t n) {
  const uint64_t bytes = n * sizeof(T);
  if (dst > src && dst < src + bytes) {
    for (uint64_t k = 0; k < bytes; k += sizeof(T)) {
      T v;
      std::memcpy(&v, src + k, sizeof(T));
      std::memcpy(dst + k, &v, sizeof(T));
    }
  } else {
    std::memmove(dst, src, bytes);
  }
}

// REP MOVS, forward: copies up to `max` elements that stay within one source page and one
// destination page (and do not wrap an index), directly between host pages. Returns the number
// of elements done (RSI/RDI advanced), or 0 when the caller should do one element the slow way.
// The first element's source is read through read_mem on a TLB miss (a real read of element 0,
// which also refills the TLB), and the destination page is checked (faulting as element 0's
// write) before anything is stored; the source host pointer is taken before that check, so a
// TLB conflict between the two pages cannot make the loop ping-pong.
template <typename T, typename A>
inline uint64_t movs_forward_block(CpuState& cpu, const Insn& i, uint64_t max) {
  // Segments that need limit checks go element by element (each element is checked).
  if (!cpu.mode64 && (((cpu.seg_check >> i.seg) | (cpu.seg_check >> ES)) & 1)) return 0;
  const A si = read_gpr<A>(cpu, RSI);
  const A di = read_gpr<A>(cpu, RDI);
  const uint64_t src = seg_linear(cpu, i.seg, si, sizeof(T), false);
  const uint64_t dst = seg_linear(cpu, ES, di, sizeof(T), true);
  uint64_t n = min_u64(max, min_u64(elements_in_page<T>(src), elements_in_page<T>(dst)));
  n = min_u64(n, min_u64(elements_before_wrap<T, A>(si), elements_before_wrap<T, A>(di)));
  if (n == 0) return 0;

  const TlbEntry& es = tlb_entry(cpu, src);
  const uint8_t* hs = nullptr;
  uint64_t first_done = 0;
  T first{};
  if (es.tag_read == (src & kPageMask)) {
    hs = reinterpret_cast<const uint8_t*>(src + es.addend);
  } else {
    first = read_mem<T>(cpu, src);  // element 0's read: may fault; refills the TLB
    first_done = 1;
    if (es.tag_read == (src & kPageMask)) hs = reinterpret_cast<const uint8_t*>(src + es.addend);
  }
  uint8_t* hd = writable_host<T>(cpu, dst);
  if (!hd || !hs) {
    if (!first_done) return 0;
    write_mem<T>(cpu, dst, first);  // MMIO or code page: finish element 0 the slow way
    n = 1;
  } else {
    if (first_done) std::memcpy(hd, &first, sizeof(T));
    copy_forward<T>(hd + first_done * sizeof(T), hs + first_done * sizeof(T), n - first_done);
  }
  const uint64_t bytes = n * sizeof(T);
  write_gpr<A>(cpu, RSI, static_cast<A>(si + bytes));
  write_gpr<A>(cpu, RDI, static_cast<A>(di + bytes));
  return n;
}

// REP STOS, forward: fills up to `max` elements within one destination page.
template <typename T, typename A>
inline uint64_t stos_forward_block(CpuState& cpu, const Insn&, uint64_t max) {
  if (!cpu.mode64 && ((cpu.seg_check >> ES) & 1)) return 0;  // checked element by element
  const A di = read_gpr<A>(cpu, RDI);
  const uint64_t dst = seg_linear(cpu, ES, di, sizeof(T), true);
  const uint64_t n =
      min_u64(max, min_u64(elements_in_page<T>(dst), elements_before_wrap<T, A>(di)));
  if (n == 0) return 0;
  uint8_t* hd = writable_host<T>(cpu, dst);
  if (!hd) return 0;
  const T v = read_gpr<T>(cpu, RAX);
  if constexpr (sizeof(T) == 1) {
    std::memset(hd, v, n);
  } else {
    for (uint64_t k = 0; k < n; ++k) std::memcpy(hd + k * sizeof(T), &v, sizeof(T));
  }
  write_gpr<A>(cpu, RDI, static_cast<A>(di + n * sizeof(T)));
  return n;
}

}  // namespace umbra::string_ops
