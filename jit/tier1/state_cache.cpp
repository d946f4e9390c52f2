#include "jit/tier1/state_cache.h"

#include <llvm/Analysis/ValueTracking.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/Module.h>

#include <cstddef>
#include <map>
#include <set>
#include <vector>

#include "frontend/cpu_state.h"
#include "jit/tier1/slow_path_calls.h"

namespace umbra::tier1 {

namespace {

// The cached fields: byte ranges of CpuState. The first is the general registers, RIP, RFLAGS
// and the lazy-flags record, which are contiguous.
struct Range {
  uint64_t offset, size;
};
constexpr Range kRanges[] = {
    {offsetof(CpuState, gpr), offsetof(CpuState, lazy) + sizeof(LazyFlags)},
    {offsetof(CpuState, insn_count), sizeof(uint64_t)},
    {offsetof(CpuState, tlb_offset), sizeof(int64_t) + sizeof(uint64_t)},  // and tlb_mask
    {offsetof(CpuState, tier1_block), sizeof(void*)},
    // The stop word (exit_request and the flags that share its 8 bytes), read-only: see
    // kStopWord below.
    {offsetof(CpuState, exit_request), sizeof(uint64_t)},
};
// The word of exit_request. The checks after each instruction read the function's copy, which
// is reloaded after every call (a slow path that writes to code sets exit_request); what another
// thread sets meanwhile (an interrupt, the monitor) is seen by the volatile load at each block
// boundary (emit_clean_boundary), which reads memory. A function that stores to the word itself
// (an inlined handler) does not cache it: writing the copy back could undo another thread's
// request. Volatile accesses to it are left to memory.
constexpr uint64_t kStopWord = offsetof(CpuState, exit_request) / 8;
static_assert(offsetof(CpuState, exit_request) % 8 == 0);
static_assert(offsetof(CpuState, gpr) == 0 && offsetof(CpuState, rip) == 128 &&
              offsetof(CpuState, lazy) == 144);

constexpr int kNoRange = -1, kOverlaps = -2;

// Which cached range [offset, offset + size) lies in; kOverlaps if it straddles or covers part
// of one; kNoRange if it touches none.
int range_of(uint64_t offset, uint64_t size, bool control_only) {
  // Only RIP of the first range: the general registers, RFLAGS and the lazy-flags record are
  // left to memory like any field the pass does not know.
  if (control_only && offset / 8 != offsetof(CpuState, rip) / 8 &&
      offset < kRanges[0].offset + kRanges[0].size)
    return offset + size <= kRanges[0].offset + kRanges[0].size &&
                   (offset + size <= offsetof(CpuState, rip) ||
                    offset >= offsetof(CpuState, rip) + 8)
               ? kNoRange
               : kOverlaps;
  for (int r = 0; r < static_cast<int>(std::size(kRanges)); ++r) {
    const Range& R = kRanges[r];
    if (offset >= R.offset && offset + size <= R.offset + R.size) return r;
    if (offset < R.offset + R.size && R.offset < offset + size) return kOverlaps;
  }
  return kNoRange;
}

class Rewriter {
 public:
  Rewriter(llvm::Function& fn, llvm::Argument* cpu, llvm::MDNode* scope, llvm::MDNode* noalias,
           bool control_only)
      : fn_(fn),
        cpu_(cpu),
        dl_(fn.getParent()->getDataLayout()),
        scope_(scope),
        noalias_(noalias),
        control_only_(control_only) {}

  StateCacheStats run() {
    std::vector<llvm::Instruction*> work;
    for (llvm::BasicBlock& bb : fn_)
      for (llvm::Instruction& ins : bb) work.push_back(&ins);
    // Only the 8-byte words the function accesses are copied: one stack slot each. Words it
    // only reads are never written back: the copy equals the CpuState at every exit (a barrier
    // reloads it after anything that may change the CpuState).
    for (llvm::Instruction* ins : work) {
      uint64_t offset, size;
      if (cacheable_access(ins, &offset, &size)) {
        words_.try_emplace(offset / 8, nullptr);
        if (llvm::isa<llvm::StoreInst>(ins) && !copy_only(ins)) written_.insert(offset / 8);
      }
    }
    if (written_.count(kStopWord)) {
      words_.erase(kStopWord);
      written_.erase(kStopWord);
      stop_word_uncached_ = true;
    }
    llvm::IRBuilder<> b(&*fn_.getEntryBlock().getFirstInsertionPt());
    for (auto& [word, slot] : words_) slot = b.CreateAlloca(b.getInt64Ty(), nullptr, "cached");
    reload(b);  // load the copy at entry (after the slots)
    for (llvm::Instruction* ins : work) {
      if (copy_only(ins) && !words_.count(kStopWord)) {
        ins->eraseFromParent();  // a statement about the copy, and there is none
        continue;
      }
      visit(ins);
    }
    return stats_;
  }

  static bool copy_only(const llvm::Instruction* ins) {
    return llvm::isa<llvm::StoreInst>(ins) && ins->getMetadata(kCopyOnlyMetadata);
  }

 private:
  // A load or store of one cached word (or part of it) at a constant offset.
  bool cacheable_access(llvm::Instruction* ins, uint64_t* offset, uint64_t* size) {
    llvm::Value* ptr;
    if (auto* ld = llvm::dyn_cast<llvm::LoadInst>(ins)) {
      ptr = ld->getPointerOperand();
      *size = dl_.getTypeStoreSize(ld->getType());
    } else if (auto* st = llvm::dyn_cast<llvm::StoreInst>(ins)) {
      ptr = st->getPointerOperand();
      *size = dl_.getTypeStoreSize(st->getValueOperand()->getType());
    } else {
      return false;
    }
    if (llvm::cast<llvm::Instruction>(ins)->isAtomic()) return false;
    if (classify(ptr, *size, offset) < 0 || *offset / 8 != (*offset + *size - 1) / 8) return false;
    return *offset / 8 != kStopWord || (!stop_word_uncached_ && !is_volatile(ins));
  }

  static bool is_volatile(const llvm::Instruction* ins) {
    if (auto* ld = llvm::dyn_cast<llvm::LoadInst>(ins)) return ld->isVolatile();
    if (auto* st = llvm::dyn_cast<llvm::StoreInst>(ins)) return st->isVolatile();
    return false;
  }

  // An access to the stop word that stays in memory (volatile, or the word is not cached).
  bool stop_word_in_memory(llvm::Instruction* ins, llvm::Value* ptr, uint64_t size) {
    uint64_t off;
    const int r = classify(ptr, size, &off);
    return r >= 0 && off / 8 == kStopWord && (off + size - 1) / 8 == kStopWord &&
           (stop_word_uncached_ || is_volatile(ins));
  }

  // Where a pointer points in the CpuState: its cached range and offset, kNoRange when it is
  // not the CpuState at all (guest memory, constants, the stack), kOverlaps when it may be a
  // cached field but the offset is unknown or the access straddles a range.
  int classify(llvm::Value* ptr, uint64_t size, uint64_t* offset) {
    llvm::APInt off(64, 0);
    const llvm::Value* base = ptr->stripAndAccumulateConstantOffsets(dl_, off, true);
    if (base == cpu_) {
      *offset = off.getZExtValue();
      return range_of(*offset, size, control_only_);
    }
    // A pointer into the CpuState with a variable offset, or chosen among several by a select or
    // phi: any cached field may be behind it.
    llvm::SmallVector<const llvm::Value*, 4> objects;
    llvm::getUnderlyingObjects(ptr, objects, nullptr, 16);
    for (const llvm::Value* o : objects)
      if (o == cpu_) return kOverlaps;
    return kNoRange;
  }

  void visit(llvm::Instruction* ins) {
    if (auto* ld = llvm::dyn_cast<llvm::LoadInst>(ins)) {
      access(ins, ld->getPointerOperandIndex(), dl_.getTypeStoreSize(ld->getType()));
    } else if (auto* st = llvm::dyn_cast<llvm::StoreInst>(ins)) {
      access(ins, st->getPointerOperandIndex(),
             dl_.getTypeStoreSize(st->getValueOperand()->getType()));
    } else if (auto* mi = llvm::dyn_cast<llvm::MemIntrinsic>(ins)) {
      // memcpy/memmove/memset: left alone unless one side may be a cached field.
      auto* len = llvm::dyn_cast<llvm::ConstantInt>(mi->getLength());
      const uint64_t n = len ? len->getZExtValue() : ~uint64_t{0} >> 1;
      uint64_t off;
      bool touches = classify(mi->getRawDest(), n, &off) != kNoRange;
      if (auto* mt = llvm::dyn_cast<llvm::MemTransferInst>(mi))
        touches = touches || classify(mt->getRawSource(), n, &off) != kNoRange;
      if (touches) barrier(ins);
    } else if (auto* call = llvm::dyn_cast<llvm::CallBase>(ins)) {
      // llvm.assume, llvm.ctpop, pure functions: they touch no guest state.
      if (!call->mayReadOrWriteMemory() || call->onlyAccessesInaccessibleMemory()) return;
      if (auto* ci = llvm::dyn_cast<llvm::CallInst>(call); ci && ci->isMustTailCall()) {
        write_back_before(ins);  // a chained jump: nothing follows it but the return
        return;
      }
      if (preserves_cached_state(call)) {
        // A memory slow path reads the state (a fault reports it) but changes none of it, except
        // that translating may select the fast-TLB table (tlb_offset) on first use or replace
        // it with a bigger one (tlb_mask).
        ++stats_.barriers;
        write_back_before(ins);
        llvm::IRBuilder<> after(ins->getNextNode());
        reload(after, offsetof(CpuState, tlb_offset) / 8);
        reload(after, offsetof(CpuState, tlb_mask) / 8);
        reload(after, kStopWord);  // a write into code sets exit_request
        return;
      }
      barrier(ins);
    } else if (llvm::isa<llvm::ReturnInst>(ins)) {
      // After a musttail call the state is already written back (and nothing may come between).
      if (auto* prev = ins->getPrevNode(); prev)
        if (auto* ci = llvm::dyn_cast<llvm::CallInst>(prev); ci && ci->isMustTailCall()) return;
      write_back_before(ins);
    } else if (ins->mayReadOrWriteMemory()) {
      // Atomic read-modify-writes and cmpxchg (LOCK-prefixed guest instructions on guest memory,
      // never on the CpuState, but be safe).
      uint64_t off;
      if (!llvm::isa<llvm::AtomicRMWInst>(ins) && !llvm::isa<llvm::AtomicCmpXchgInst>(ins))
        barrier(ins);  // (not produced by the handlers; be safe)
      else if (classify(ins->getOperand(0), 16, &off) != kNoRange)
        barrier(ins);
    }
  }

  void access(llvm::Instruction* ins, unsigned ptr_index, uint64_t size) {
    uint64_t off = 0, sz = 0;
    if (cacheable_access(ins, &off, &sz)) {
      llvm::IRBuilder<> b(ins);
      ins->setOperand(ptr_index,
                      b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), words_.at(off / 8), off % 8));
      // The access is to the stack now: the CpuState's alias scope no longer describes it.
      ins->setMetadata(llvm::LLVMContext::MD_alias_scope, nullptr);
      ins->setMetadata(llvm::LLVMContext::MD_noalias, nullptr);
      ++stats_.rewritten;
      return;
    }
    if (stop_word_in_memory(ins, ins->getOperand(ptr_index), size)) return;
    if (classify(ins->getOperand(ptr_index), size, &off) != kNoRange) barrier(ins);
  }

  // The CpuState is up to date before `ins` and the copy is reloaded after it.
  void barrier(llvm::Instruction* ins) {
    ++stats_.barriers;
    write_back_before(ins);
    if (auto* call = llvm::dyn_cast<llvm::CallBase>(ins); call && call->doesNotReturn()) return;
    if (ins->isTerminator()) return;
    llvm::IRBuilder<> b(ins->getNextNode());
    reload(b);
  }

  void write_back_before(llvm::Instruction* ins) {
    llvm::IRBuilder<> b(ins);
    for (auto& [word, slot] : words_)
      if (written_.count(word))
        tag(b.CreateStore(b.CreateLoad(b.getInt64Ty(), slot), field(b, word * 8)));
  }

  // Reloads every cached word, or only `only`.
  void reload(llvm::IRBuilder<>& b, uint64_t only = ~uint64_t{0}) {
    for (auto& [word, slot] : words_)
      if (only == ~uint64_t{0} || word == only)
        b.CreateStore(tag(b.CreateLoad(b.getInt64Ty(), field(b, word * 8))), slot);
  }

  // The guest-memory slow paths (softmmu/access.h, frontend/system/segmentation_checks.h).
  static bool preserves_cached_state(const llvm::CallBase* call) {
    const llvm::Function* f = call->getCalledFunction();
    if (!f) return false;
    return is_guest_memory_slow_path(f->getName());
  }

  llvm::Value* field(llvm::IRBuilder<>& b, uint64_t offset) {
    return b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), cpu_, offset);
  }

  template <typename I>
  I* tag(I* ins) {
    if (scope_) ins->setMetadata(llvm::LLVMContext::MD_alias_scope, scope_);
    if (noalias_) ins->setMetadata(llvm::LLVMContext::MD_noalias, noalias_);
    return ins;
  }

  llvm::Function& fn_;
  llvm::Argument* cpu_;
  const llvm::DataLayout& dl_;
  llvm::MDNode* scope_;
  llvm::MDNode* noalias_;
  bool control_only_;
  // Cached 8-byte words of the CpuState (by offset / 8) and their stack slots, in offset order.
  std::map<uint64_t, llvm::AllocaInst*> words_;
  // The cached words the function stores to (the others are written back nowhere).
  std::set<uint64_t> written_;
  // The function stores to the stop word: it stays in memory (kStopWord).
  bool stop_word_uncached_ = false;
  StateCacheStats stats_;
};

}  // namespace

StateCacheStats cache_cpu_state(llvm::Function& fn, llvm::Argument* cpu, llvm::MDNode* scope,
                                llvm::MDNode* noalias, bool control_only) {
  return Rewriter(fn, cpu, scope, noalias, control_only).run();
}

}  // namespace umbra::tier1
