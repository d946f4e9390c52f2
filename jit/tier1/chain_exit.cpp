#include "jit/tier1/chain_exit.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/Function.h>
#include <llvm/IR/Instructions.h>

#include <cstddef>

#include "frontend/cpu_state.h"
#include "jit/block_cache.h"

namespace umbra::tier1 {

namespace {

llvm::Value* cpu_field(llvm::IRBuilder<>& b, llvm::Value* cpu, size_t offset) {
  return b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), cpu, offset);
}

}  // namespace

llvm::Value* emit_clean_boundary(llvm::IRBuilder<>& b, llvm::Value* cpu, bool check_trap_flags) {
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Value* clean =
      b.CreateICmpULT(b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, insn_count))),
                      b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, insn_limit))));
  // exit_request, interrupt_shadow, nmi_pending, irq_line and tier1_ready share one aligned word
  // (CpuState): one load tests them all. HLT sets exit_request, which covers `halted`. The load
  // is volatile: other threads set these (an interrupt, the monitor, the compiler), and it is
  // the one read of the word that state caching must leave to memory (state_cache.cpp).
  llvm::LoadInst* stop = b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, exit_request)));
  stop->setVolatile(true);
  clean = b.CreateAnd(clean, b.CreateICmpEQ(stop, b.getInt64(0)));
  if (!check_trap_flags) return clean;
  llvm::Value* flags = b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, rflags)));
  return b.CreateAnd(
      clean, b.CreateICmpEQ(b.CreateAnd(flags, b.getInt64(rf::TF | rf::RF)), b.getInt64(0)));
}

llvm::Value* emit_same_page(llvm::IRBuilder<>& b, llvm::Value* lin, llvm::Value* lin_last) {
  llvm::Value* from_page =
      b.CreateAdd(b.CreateAnd(lin_last, b.getInt64(kPageSize - 1)), b.CreateSub(lin, lin_last));
  return b.CreateICmpULT(from_page, b.getInt64(kPageSize));
}

void emit_chain_slots(llvm::IRBuilder<>& b, llvm::Value* cpu, llvm::Value* slots, llvm::Value* rip,
                      llvm::Value* cs_base, llvm::Value* same_page) {
  llvm::LLVMContext& ctx = b.getContext();
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  llvm::Type* i8 = b.getInt8Ty();
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* ptr = b.getPtrTy();
  llvm::FunctionType* block_ty = llvm::FunctionType::get(b.getVoidTy(), {ptr}, false);
  auto slot_field = [&](int k, size_t offset) {
    return b.CreateConstInBoundsGEP1_64(i8, slots, k * sizeof(ChainSlot) + offset);
  };
  // Whether the fast TLB's exec entry for the new RIP leads to `host` (the check find_block
  // makes of a jump-cache hit): the successor's page is still mapped where it was linked.
  auto tlb_leads_to = [&](llvm::Value* host) {
    llvm::Value* table =
        b.CreateGEP(i8, cpu_field(b, cpu, offsetof(CpuState, tlb)),
                    b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, tlb_offset))));
    llvm::Value* mask = b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, tlb_mask)));
    llvm::Value* entry =
        b.CreateGEP(i8, table, b.CreateAnd(b.CreateLShr(rip, kTlbIndexShift), mask));
    llvm::Value* tag =
        b.CreateLoad(i64, b.CreateConstInBoundsGEP1_64(i8, entry, offsetof(TlbEntry, tag_exec)));
    llvm::Value* addend =
        b.CreateLoad(i64, b.CreateConstInBoundsGEP1_64(i8, entry, offsetof(TlbEntry, addend)));
    llvm::Value* mapped = b.CreateICmpEQ(tag, b.CreateAnd(rip, b.getInt64(kPageMask)));
    return b.CreateAnd(mapped,
                       b.CreateICmpEQ(b.CreateAdd(rip, addend), b.CreatePtrToInt(host, i64)));
  };
  for (int k = 0; k < 2; ++k) {
    llvm::Value* match =
        b.CreateICmpEQ(rip, b.CreateLoad(i64, slot_field(k, offsetof(ChainSlot, rip))));
    if (cs_base)
      match = b.CreateAnd(
          match,
          b.CreateICmpEQ(cs_base, b.CreateLoad(i64, slot_field(k, offsetof(ChainSlot, cs_base)))));
    auto* hit = llvm::BasicBlock::Create(ctx, "slot_match", fn);
    auto* miss = llvm::BasicBlock::Create(ctx, "slot_miss", fn);
    b.CreateCondBr(match, hit, miss);
    b.SetInsertPoint(hit);
    llvm::Value* target = b.CreateLoad(ptr, slot_field(k, offsetof(ChainSlot, fn)));
    auto* linked = llvm::BasicBlock::Create(ctx, "slot_linked", fn);
    auto* jump = llvm::BasicBlock::Create(ctx, "jump", fn);
    b.CreateCondBr(b.CreateIsNotNull(target), linked, miss);
    b.SetInsertPoint(linked);
    // A successor on this page is linked with no host; one on another page (64-bit mode only)
    // with its host address, checked against the fast TLB.
    llvm::Value* host = b.CreateLoad(ptr, slot_field(k, offsetof(ChainSlot, host)));
    auto* here = llvm::BasicBlock::Create(ctx, "slot_same_page", fn);
    auto* elsewhere = llvm::BasicBlock::Create(ctx, "slot_other_page", fn);
    b.CreateCondBr(same_page, here, elsewhere);
    b.SetInsertPoint(here);
    b.CreateCondBr(b.CreateIsNull(host), jump, miss);
    b.SetInsertPoint(elsewhere);
    if (cs_base) {
      b.CreateBr(miss);
    } else {
      auto* check = llvm::BasicBlock::Create(ctx, "slot_tlb", fn);
      b.CreateCondBr(b.CreateIsNotNull(host), check, miss);
      b.SetInsertPoint(check);
      b.CreateCondBr(tlb_leads_to(host), jump, miss);
    }
    b.SetInsertPoint(jump);
    llvm::CallInst* tail = b.CreateCall(block_ty, target, {cpu});
    tail->setTailCallKind(llvm::CallInst::TCK_MustTail);
    b.CreateRetVoid();
    b.SetInsertPoint(miss);
  }
}

std::unique_ptr<llvm::Module> build_chain_exits(llvm::LLVMContext& ctx, const std::string& layout,
                                                const std::string& triple,
                                                const std::string& cpu_name,
                                                const std::string& cpu_features) {
  auto m = std::make_unique<llvm::Module>("umbra_chain_exits", ctx);
  m->setDataLayout(layout);
  m->setTargetTriple(triple);
  llvm::Type* ptr = llvm::PointerType::get(ctx, 0);
  llvm::FunctionType* block_ty = llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr}, false);
  for (const bool legacy : {false, true}) {
    llvm::Function* fn = llvm::Function::Create(block_ty, llvm::GlobalValue::ExternalLinkage,
                                                legacy ? kChainExitLegacy : kChainExit64, *m);
    fn->addFnAttr("target-cpu", cpu_name);
    if (!cpu_features.empty()) fn->addFnAttr("target-features", cpu_features);
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    llvm::Argument* cpu = fn->getArg(0);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
    llvm::Type* i64 = b.getInt64Ty();
    llvm::Value* rip = b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, rip)));
    llvm::Value* last_rip =
        b.CreateLoad(i64, cpu_field(b, cpu, offsetof(CpuState, tier1_last_rip)));
    llvm::Value* cs_base = nullptr;
    llvm::Value* lin = rip;
    llvm::Value* lin_last = last_rip;
    if (legacy) {
      cs_base = b.CreateLoad(i64, cpu_field(b, cpu,
                                            offsetof(CpuState, seg) + CS * sizeof(SegmentCache) +
                                                offsetof(SegmentCache, base)));
      lin = b.CreateAdd(cs_base, rip);
      lin_last = b.CreateAdd(cs_base, last_rip);
    }
    llvm::Value* same_page = emit_same_page(b, lin, lin_last);
    auto* slots_bb = llvm::BasicBlock::Create(ctx, "slots", fn);
    auto* done = llvm::BasicBlock::Create(ctx, "done", fn);
    b.CreateCondBr(emit_clean_boundary(b, cpu), slots_bb, done);
    b.SetInsertPoint(slots_bb);
    llvm::Value* slots = b.CreateLoad(ptr, cpu_field(b, cpu, offsetof(CpuState, tier1_chain)));
    emit_chain_slots(b, cpu, slots, rip, cs_base, same_page);
    b.CreateBr(done);
    b.SetInsertPoint(done);
    b.CreateRetVoid();
  }
  return m;
}

}  // namespace umbra::tier1
