// PUSHF/PUSHFD/PUSHFQ and POPF/POPFD/POPFQ (SDM vol. 2, PUSHF and POPF; vol. 1, 3.4.3).
//
// Which RFLAGS bits POPF may change depends on the mode, CPL and IOPL:
//   protected/long mode, real mode: the status flags, TF, DF, NT, and (32/64-bit forms) AC, ID;
//     IF only when CPL <= IOPL, IOPL only at CPL 0; VM, VIP, VIF never; RF is cleared.
//   virtual-8086 mode, IOPL = 3: as above but never IOPL; IF may change.
//   virtual-8086 mode, IOPL < 3: #GP(0), except the 16-bit form with CR4.VME = 1, which sets VIF
//     from the popped IF (and faults if that would unmask a pending virtual interrupt, or sets TF).
// The 16-bit forms touch only RFLAGS[15:0]. Reserved bits keep their values (bit 1 reads as 1).
#include <cstdint>

#include "frontend/flags.h"
#include "frontend/operands.h"
#include "frontend/semantics/registry.h"
#include "frontend/semantics/stack_access.h"
#include "frontend/semantics/stack_internal.h"

namespace umbra {

namespace {

constexpr uint64_t kCr4Vme = 1u << 0;

inline unsigned iopl_of(uint64_t rflags) {
  return (rflags >> 12) & 3;
}

// PUSHF: the flags image with VM and RF cleared (SDM vol. 2, PUSHF); the 16-bit form pushes the
// low word. In virtual-8086 mode with IOPL < 3 only the 16-bit form under CR4.VME is allowed,
// and it pushes VIF in place of IF and IOPL as 3.
template <typename T>
struct Pushf {
  static void run(CpuState& cpu, const Insn& i) {
    uint64_t image = read_rflags(cpu) & ~(rf::VM | rf::RF);
    if ((cpu.rflags & rf::VM) && iopl_of(cpu.rflags) < 3) {
      if (sizeof(T) != 2 || !(cpu.cr4 & kCr4Vme)) raise_fault(cpu, kGP, 0);
      image = (image & ~rf::IF) | ((cpu.rflags & rf::VIF) ? rf::IF : 0) | rf::IOPL;
    }
    push_value<T>(cpu, static_cast<T>(image));
    next_rip(cpu, i);
  }
};

template <typename T>
struct Popf {
  static void run(CpuState& cpu, const Insn& i) {
    constexpr bool kWide = sizeof(T) > 2;
    const uint64_t old = cpu.rflags;
    uint64_t value = peek_stack<T>(cpu);
    uint64_t writable = rf::ARITH | rf::TF | rf::DF | rf::NT;
    // RF is cleared by the 32/64-bit forms; the 16-bit form does not reach it.
    if constexpr (kWide) writable |= rf::AC | rf::ID | rf::RF;
    value &= ~rf::RF;
    bool set_vif = false;
    if (!(old & rf::VM)) {
      // Real mode runs at CPL 0.
      if (cpu.cpl == 0)
        writable |= rf::IF | rf::IOPL;
      else if (cpu.cpl <= iopl_of(old))
        writable |= rf::IF;
    } else if (iopl_of(old) == 3) {
      writable |= rf::IF;
    } else {
      if (kWide || !(cpu.cr4 & kCr4Vme)) raise_fault(cpu, kGP, 0);
      if ((value & rf::TF) || ((value & rf::IF) && (old & rf::VIP))) raise_fault(cpu, kGP, 0);
      set_vif = true;
    }
    write_sp(cpu, sp_after_pop(cpu, sizeof(T)));
    write_rflags(cpu, value, writable);
    if (set_vif) cpu.rflags = (cpu.rflags & ~rf::VIF) | ((value & rf::IF) ? rf::VIF : 0);
    next_rip(cpu, i);
  }
};

}  // namespace

void register_stack_flags(BinderTable& t) {
  bind(t, Op::PUSHF, &select_size_wide<Pushf>);
  bind(t, Op::POPF, &select_size_wide<Popf>);
}

}  // namespace umbra
