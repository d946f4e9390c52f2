#include "frontend/semantics/registry.h"

#include <atomic>
#include <cstdio>

#include "frontend/operands.h"

namespace umbra {

namespace {

const char* const kMnemonics[] = {
#define X(name, mnem) mnem,
#include "frontend/ops.inc"
#undef X
};
const char* const kNames[] = {
#define X(name, mnem) #name,
#include "frontend/ops.inc"
#undef X
};

const BinderTable& binders() {
  static const BinderTable table = [] {
    BinderTable t{};
    register_datamov(t);
    register_arith(t);
    register_logic(t);
    register_shift(t);
    register_bit(t);
    register_bmi(t);
    register_control(t);
    register_stack(t);
    register_flagctl(t);
    register_string(t);
    register_system(t);
    register_io(t);
    register_x87(t);
    register_simd(t);
    register_far_control(t);
    register_segment_load(t);
    register_fast_syscall(t);
    register_descriptor_ops(t);
    return t;
  }();
  return table;
}

std::atomic<uint64_t> g_unimplemented[static_cast<size_t>(Op::kCount)];

// An operation that decodes but has no implementation: #UD in the guest, counted, and logged
// once per operation so a missing instruction is never silent.
void handler_unimplemented(CpuState& cpu, const Insn& insn) {
  size_t k = static_cast<size_t>(insn.op);
  if (g_unimplemented[k].fetch_add(1) == 0)
    std::fprintf(stderr, "umbra: unimplemented instruction %s (%s) at rip=%#llx: raising #UD\n",
                 kNames[k], kMnemonics[k], static_cast<unsigned long long>(cpu.rip));
  raise_fault(cpu, kUD);
}

}  // namespace

const char* op_mnemonic(Op op) { return kMnemonics[static_cast<size_t>(op)]; }
const char* op_name(Op op) { return kNames[static_cast<size_t>(op)]; }

void handler_ud(CpuState& cpu, const Insn&) { raise_fault(cpu, kUD); }

bool handler_is_unimplemented(Handler h) { return h == &handler_unimplemented; }

uint64_t unimplemented_count(Op op) { return g_unimplemented[static_cast<size_t>(op)].load(); }

Handler bind_handler(const Insn& insn) {
  if (insn.op == Op::INVALID) return &handler_ud;
  Binder b = binders()[static_cast<size_t>(insn.op)];
  Handler h = b ? b(insn) : nullptr;
  return h ? h : &handler_unimplemented;
}

}  // namespace umbra
