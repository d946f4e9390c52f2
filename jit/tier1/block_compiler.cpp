#include "jit/tier1/block_compiler.h"

#include <dlfcn.h>
#include <llvm/Analysis/ValueTracking.h>
#include <llvm/ExecutionEngine/JITLink/JITLink.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/IRCompileLayer.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/PassTimingInfo.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Linker/Linker.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Passes/StandardInstrumentations.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/Timer.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/IPO/ElimAvailExtern.h>
#include <llvm/Transforms/IPO/GlobalDCE.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/ADCE.h>
#include <llvm/Transforms/Scalar/DeadStoreElimination.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/GVN.h>
#include <llvm/Transforms/Scalar/SROA.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "jit/block_cache.h"
#include "jit/engine.h"
#include "jit/flag_liveness.h"
#include "jit/profile.h"
#include "jit/tier1/chain_exit.h"
#include "jit/tier1/native_symbols.h"
#include "jit/tier1/semantics_library.h"
#include "jit/tier1/slow_path_calls.h"
#include "jit/tier1/state_cache.h"

namespace umbra::tier1 {

namespace {

// A compiled block's symbol: its job id and the guest physical address of its entry, so that a
// profile with UMBRA_JIT_PERF_MAP=1 says which guest code the time went to.
std::string function_name(const BlockJob& job) {
  char name[64];
  std::snprintf(
      name, sizeof name, "umbra_tb_%llu_p%llx", static_cast<unsigned long long>(job.id),
      static_cast<unsigned long long>(static_cast<const Block*>(job.blocks[0].block)->paddr));
  return name;
}

uint64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Profiling support: with UMBRA_JIT_PERF_MAP=1 every function tier 1 links is appended to
// /tmp/perf-PID.map ("start size name", the format `perf report` reads for JIT code), so a
// profile of a guest run names the compiled blocks instead of showing bare addresses.
class PerfMapPlugin : public llvm::orc::ObjectLinkingLayer::Plugin {
 public:
  PerfMapPlugin() {
    const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    file_ = std::fopen(path.c_str(), "a");
    if (const char* dir = std::getenv("UMBRA_JIT_CODE_DIR"); dir && *dir) code_dir_ = dir;
  }
  ~PerfMapPlugin() override {
    if (file_) std::fclose(file_);
  }
  void modifyPassConfig(llvm::orc::MaterializationResponsibility&, llvm::jitlink::LinkGraph&,
                        llvm::jitlink::PassConfiguration& config) override {
    config.PostFixupPasses.push_back([this](llvm::jitlink::LinkGraph& graph) {
      if (!file_) return llvm::Error::success();
      for (const llvm::jitlink::Symbol* sym : graph.defined_symbols()) {
        if (!sym->hasName() || !sym->isCallable() || sym->getSize() == 0) continue;
        const unsigned long long addr = sym->getAddress().getValue();
        std::fprintf(file_, "%llx %llx %s\n", addr, static_cast<unsigned long long>(sym->getSize()),
                     sym->getName().str().c_str());
        if (!code_dir_.empty()) {
          // The machine code too, for `objdump -D -b binary -mi386:x86-64 --adjust-vma=ADDR`.
          const std::string path =
              code_dir_ + "/" + sym->getName().str() + "_" + std::to_string(addr) + ".bin";
          if (std::FILE* f = std::fopen(path.c_str(), "wb")) {
            const llvm::ArrayRef<char> bytes = sym->getBlock().getContent();
            const size_t off = sym->getOffset();
            std::fwrite(bytes.data() + off, 1, std::min<size_t>(sym->getSize(), bytes.size() - off),
                        f);
            std::fclose(f);
          }
        }
      }
      std::fflush(file_);
      return llvm::Error::success();
    });
  }
  llvm::Error notifyFailed(llvm::orc::MaterializationResponsibility&) override {
    return llvm::Error::success();
  }
  llvm::Error notifyRemovingResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey) override {
    return llvm::Error::success();
  }
  void notifyTransferringResources(llvm::orc::JITDylib&, llvm::orc::ResourceKey,
                                   llvm::orc::ResourceKey) override {}

 private:
  std::FILE* file_ = nullptr;
  std::string code_dir_;  // UMBRA_JIT_CODE_DIR, or empty
};

// Resolves what JIT code refers to outside itself: the executable's functions and variables
// (by the names the semantics library gave them, or their own global names), then the shared
// libraries of the process (libc, libm).
class NativeGenerator : public llvm::orc::DefinitionGenerator {
 public:
  NativeGenerator(const NativeSymbols& natives,
                  const std::unordered_map<std::string, uint64_t>& names)
      : natives_(natives), names_(names) {}

  llvm::Error tryToGenerate(llvm::orc::LookupState&, llvm::orc::LookupKind, llvm::orc::JITDylib& jd,
                            llvm::orc::JITDylibLookupFlags,
                            const llvm::orc::SymbolLookupSet& symbols) override {
    llvm::orc::SymbolMap found;
    for (const auto& [name, flags] : symbols) {
      const std::string s = (*name).str();
      uint64_t a = 0;
      if (auto it = names_.find(s); it != names_.end()) a = it->second;
      if (!a) a = natives_.global(s);
      if (!a) a = reinterpret_cast<uint64_t>(dlsym(RTLD_DEFAULT, s.c_str()));
      if (a)
        found[name] = llvm::orc::ExecutorSymbolDef(llvm::orc::ExecutorAddr(a),
                                                   llvm::JITSymbolFlags::Exported);
    }
    if (found.empty()) return llvm::Error::success();
    return jd.define(llvm::orc::absoluteSymbols(std::move(found)));
  }

 private:
  const NativeSymbols& natives_;
  const std::unordered_map<std::string, uint64_t>& names_;
};

// Handlers and helpers up to this many IR instructions are inlined into the block; bigger ones
// (PCMPxSTRx, FXSAVE, far transfers ...) stay calls into the executable's copy, which is the
// same code: inlining them buys little and costs compile time.
constexpr unsigned kInlineLimit = 600;
// Chosen by measurement (docs/jit.md "Compile cost"). The first part folds the decoded operand
// fields into constants, so that the guest-state accesses have constant offsets for
// cache_cpu_state; the second promotes the cached state to SSA values and cleans up.
constexpr const char* kDefaultFoldPipeline =
    "sroa<modify-cfg>,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg";
// The quick level's cleanup after the fold (docs/jit.md "Two levels"): without GVN and a second
// instcombine, which cost 20% more optimizing time for 1% less IR (bench/jit_bench.sh cpu).
constexpr const char* kDefaultQuickPipeline = "early-cse<memssa>,dse,simplifycfg";
// The same after caching the fields of control (RIP, the count, the TLB's table, the stop word):
// SROA makes the copies SSA values, jump threading sends the paths that called nothing past the
// next exit_request check (docs/jit.md "Two levels").
constexpr const char* kDefaultQuickControlPipeline =
    "sroa<modify-cfg>,early-cse<memssa>,dse,simplifycfg,jump-threading,simplifycfg";
// The optimized level's, after state caching: no GVN or DSE; InstCombine once more after
// SimplifyCFG has turned the branches' phis into selects; loops peeled where an iteration makes
// a phi invariant (the guest state a loop enters with is unknown, what its latch carries often a
// constant: RIP, the lazy-flags operation); jump threading last, which sends the paths that
// called nothing (a TLB hit) past the next instruction's exit_request check (state_cache.cpp
// kStopWord). docs/jit.md "The pipeline": on the cpu kernel 17% fewer host instructions in
// region code and 10% less compiling than with GVN and DSE.
constexpr const char* kDefaultFunctionPipeline =
    "sroa<modify-cfg>,early-cse<memssa>,instcombine<no-verify-fixpoint>,simplifycfg,"
    "loop-unroll<O1;peeling;no-partial;no-runtime;no-upperbound>,instcombine<no-verify-fixpoint>,"
    "simplifycfg,jump-threading,simplifycfg";
// Helpers the handlers call (internal copies, or available_externally ones such as
// compute_lazy_flags, which clang left out of line): inlined up to this size, because after
// inlining their arguments are often constants of the block (a lazy-flags operation known from
// the producer, an operand size) and most of their body folds away. Measured on bench/tier0_mips
// and the demo (docs/jit.md): the lazy-flags helper alone was 11.6% of a tier-1 profile.
constexpr unsigned kHelperInlineLimit = 200;

// Whether an integer (the operand of an int-to-pointer) is computed from a pointer: the fast TLB's
// table address (CpuState::tlb + tlb_offset) is, guest memory addresses (linear + addend) are not.
bool derived_from_pointer(const llvm::Value* v, int depth = 0) {
  if (llvm::isa<llvm::PtrToIntInst>(v)) return true;
  if (auto* ce = llvm::dyn_cast<llvm::ConstantExpr>(v);
      ce && ce->getOpcode() == llvm::Instruction::PtrToInt)
    return true;
  const auto* ins = llvm::dyn_cast<llvm::Instruction>(v);
  if (!ins || depth > 8) return false;
  if (llvm::isa<llvm::LoadInst>(ins) || llvm::isa<llvm::CallBase>(ins)) return false;
  for (const llvm::Use& op : ins->operands())
    if (derived_from_pointer(op.get(), depth + 1)) return true;
  return false;
}

bool is_guest_memory(const llvm::Value* obj) {
  auto* i2p = llvm::dyn_cast<llvm::IntToPtrInst>(obj);
  return i2p && !derived_from_pointer(i2p->getOperand(0));
}

// Guest memory (reached through the fast TLB: a host pointer made from an integer) never
// overlaps the CpuState: tell LLVM, so guest loads and stores do not force guest registers
// and flags back to memory and back. Accesses whose underlying object is the `cpu` argument
// get scope "cpu", those through an int-to-pointer get scope "guest", each noalias with the
// other; anything else (pointers loaded from memory) gets no claim at all.
struct AliasScopes {
  llvm::MDNode* cpu_list;
  llvm::MDNode* guest_list;
};

AliasScopes make_alias_scopes(llvm::LLVMContext& ctx) {
  llvm::MDBuilder md(ctx);
  llvm::MDNode* domain = md.createAnonymousAliasScopeDomain("umbra");
  llvm::MDNode* cpu_scope = md.createAnonymousAliasScope(domain, "cpu");
  llvm::MDNode* guest_scope = md.createAnonymousAliasScope(domain, "guest");
  return {llvm::MDNode::get(ctx, {cpu_scope}), llvm::MDNode::get(ctx, {guest_scope})};
}

void annotate_alias_scopes(llvm::Function& fn, llvm::Argument* cpu, const AliasScopes& scopes) {
  llvm::MDNode* cpu_list = scopes.cpu_list;
  llvm::MDNode* guest_list = scopes.guest_list;
  for (llvm::BasicBlock& bb : fn) {
    for (llvm::Instruction& ins : bb) {
      llvm::Value* p = nullptr;
      if (auto* ld = llvm::dyn_cast<llvm::LoadInst>(&ins))
        p = ld->getPointerOperand();
      else if (auto* st = llvm::dyn_cast<llvm::StoreInst>(&ins))
        p = st->getPointerOperand();
      else if (auto* mi = llvm::dyn_cast<llvm::MemTransferInst>(&ins)) {
        // A copy between guest memory and the CPU state (or within one) has two objects.
        const llvm::Value* d = llvm::getUnderlyingObject(mi->getRawDest(), 16);
        const llvm::Value* src = llvm::getUnderlyingObject(mi->getRawSource(), 16);
        const bool d_cpu = d == cpu, s_cpu = src == cpu;
        const bool d_guest = is_guest_memory(d), s_guest = is_guest_memory(src);
        if ((d_cpu || d_guest) && (s_cpu || s_guest) && d_cpu == s_cpu) {
          ins.setMetadata(llvm::LLVMContext::MD_alias_scope, d_cpu ? cpu_list : guest_list);
          ins.setMetadata(llvm::LLVMContext::MD_noalias, d_cpu ? guest_list : cpu_list);
        }
        continue;
      } else if (auto* ms = llvm::dyn_cast<llvm::MemSetInst>(&ins)) {
        p = ms->getRawDest();
      }
      if (!p) continue;
      const llvm::Value* obj = llvm::getUnderlyingObject(p, 16);
      if (obj == cpu) {
        ins.setMetadata(llvm::LLVMContext::MD_alias_scope, cpu_list);
        ins.setMetadata(llvm::LLVMContext::MD_noalias, guest_list);
      } else if (is_guest_memory(obj)) {
        ins.setMetadata(llvm::LLVMContext::MD_alias_scope, guest_list);
        ins.setMetadata(llvm::LLVMContext::MD_noalias, cpu_list);
      }
    }
  }
}

// The block's key fixes CS.L and CS.D (CpuState::mode64, code32) for its whole run: no
// instruction inside a block changes them, and a call that returns (a slow path) does not
// either. Replace every load of them with the constant, so the handlers' mode checks fold even
// after calls (an llvm.assume would be forgotten at the first call).
void fold_mode_loads(llvm::Function& fn, llvm::Argument* cpu, uint32_t mode_key) {
  const llvm::DataLayout& dl = fn.getParent()->getDataLayout();
  std::vector<llvm::LoadInst*> loads;
  for (llvm::BasicBlock& bb : fn)
    for (llvm::Instruction& ins : bb)
      if (auto* ld = llvm::dyn_cast<llvm::LoadInst>(&ins); ld && ld->getType()->isIntegerTy(8))
        loads.push_back(ld);
  for (llvm::LoadInst* ld : loads) {
    llvm::APInt offset(64, 0);
    const llvm::Value* base =
        ld->getPointerOperand()->stripAndAccumulateConstantOffsets(dl, offset, true);
    if (base != cpu) continue;
    uint8_t value;
    if (offset == offsetof(CpuState, mode64))
      value = mode_key & 1;
    else if (offset == offsetof(CpuState, code32))
      value = (mode_key >> 1) & 1;
    else
      continue;
    ld->replaceAllUsesWith(llvm::ConstantInt::get(ld->getType(), value));
    ld->eraseFromParent();
  }
}

// Optimized level only: after every store of a lazy-flags operation other than kLazyNone the
// status bits of rflags mean nothing (arith_flags reads the record, frontend/flags.h), so they
// are cleared there. Once state caching makes rflags an SSA value, an earlier eager flag
// computation (a shift's, or a rotate's, which materializes the flags it keeps) is then dead as
// soon as a producer follows, instead of staying live to the next exit. Tier 0, threaded code
// and the quick level keep the stale bits: clearing them would cost each producer a memory
// read-modify-write there.
void clear_flags_behind_producers(llvm::Function& fn, llvm::Argument* cpu) {
  const llvm::DataLayout& dl = fn.getParent()->getDataLayout();
  std::vector<llvm::StoreInst*> producers;
  for (llvm::BasicBlock& bb : fn)
    for (llvm::Instruction& ins : bb) {
      auto* st = llvm::dyn_cast<llvm::StoreInst>(&ins);
      if (!st) continue;
      auto* op = llvm::dyn_cast<llvm::ConstantInt>(st->getValueOperand());
      if (!op || !op->getType()->isIntegerTy(8) || op->getZExtValue() == kLazyNone) continue;
      llvm::APInt offset(64, 0);
      const llvm::Value* base =
          st->getPointerOperand()->stripAndAccumulateConstantOffsets(dl, offset, true);
      if (base == cpu && offset == offsetof(CpuState, lazy) + offsetof(LazyFlags, op))
        producers.push_back(st);
    }
  for (llvm::StoreInst* st : producers) {
    llvm::IRBuilder<> b(st->getNextNode());
    llvm::Value* rflags =
        b.CreateConstInBoundsGEP1_64(b.getInt8Ty(), cpu, offsetof(CpuState, rflags));
    b.CreateStore(b.CreateAnd(b.CreateLoad(b.getInt64Ty(), rflags), b.getInt64(~rf::ARITH)),
                  rflags);
  }
}

// Compiles each module with one of two target machines: the quick level's for modules marked
// "umbra.quick", the optimized level's otherwise. Both generate code at Less by default (measured,
// docs/jit.md "Two levels"); UMBRA_JIT_QUICK_CG and UMBRA_JIT_CG set them apart.
class TwoLevelCompiler : public llvm::orc::IRCompileLayer::IRCompiler {
 public:
  TwoLevelCompiler(std::unique_ptr<llvm::TargetMachine> quick,
                   std::unique_ptr<llvm::TargetMachine> optimized)
      : IRCompiler(llvm::orc::irManglingOptionsFromTargetOptions(optimized->Options)),
        quick_(std::move(quick)),
        optimized_(std::move(optimized)) {}
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>> operator()(llvm::Module& m) override {
    const bool quick = m.getModuleFlag("umbra.quick") != nullptr;
    return llvm::orc::SimpleCompiler(quick ? *quick_ : *optimized_)(m);
  }

 private:
  std::unique_ptr<llvm::TargetMachine> quick_, optimized_;
};

}  // namespace

struct BlockCompiler::Impl {
  llvm::orc::ThreadSafeContext tsc{std::make_unique<llvm::LLVMContext>()};
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unique_ptr<llvm::TargetMachine> tm;
  std::unique_ptr<SemanticsLibrary> library;
  std::string cpu_name, cpu_features;
  // Names JIT code may refer to -> run-time addresses in the executable (grows as handlers are
  // extracted; the addresses never change).
  std::unordered_map<std::string, uint64_t> native_names;
  // Compiled code is released per batch, when its last block is gone.
  struct Batch {
    llvm::orc::ResourceTrackerSP rt;
    size_t live;
  };
  std::unordered_map<uint64_t, std::shared_ptr<Batch>> code;  // block id -> its batch
  // The scalar cleanup after inlining (LLVM pass-pipeline syntax; UMBRA_JIT_PIPELINE overrides
  // it for measurements).
  std::string function_pipeline = kDefaultFunctionPipeline;
  std::string quick_pipeline = kDefaultQuickPipeline;
  std::string quick_control_pipeline = kDefaultQuickControlPipeline;
  std::string fold_pipeline = kDefaultFoldPipeline;
  const void* chain_exit64 = nullptr;
  const void* chain_exit_legacy = nullptr;
  // Calls to the guest-memory slow paths in preserve_most (slow_path_calls.h);
  // UMBRA_JIT_PRESERVE_MOST=0 leaves them in the C convention, to measure.
  bool preserve_most_slow_paths = true;
};

namespace {

// The page offsets a member's last instruction continues at when it is a direct control
// transfer or no control transfer at all (the next instruction); empty when it cannot be known
// from the bytes (indirect branches, returns, instructions that set RIP themselves). Offsets that
// leave the page are left out: no member is there.
std::vector<uint32_t> successor_offsets(const BlockJob::Member& member) {
  uint64_t end = member.page_offset;
  for (const Insn& i : member.insns) end += i.len;
  const Insn& last = member.insns.back();
  std::vector<uint64_t> next;
  switch (last.op) {
    case Op::JMP:
    case Op::CALL:
      next = {end + last.imm};
      break;
    case Op::JCC:
    case Op::LOOP:
    case Op::LOOPE:
    case Op::LOOPNE:
    case Op::JRCXZ:
      next = {end, end + last.imm};
      break;
    default:
      if (last.attrs & attr::kWritesRip) return {};
      next = {end};
  }
  std::vector<uint32_t> offsets;
  for (uint64_t n : next)
    if (n < kPageSize) offsets.push_back(static_cast<uint32_t>(n));
  if (offsets.empty()) offsets.push_back(kPageSize);  // no member can follow: no case
  return offsets;
}
}  // namespace

std::unique_ptr<BlockCompiler> BlockCompiler::create(std::string* error) {
  static const bool targets = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    // LLVM 19's X86FixupBWInsts miscompiles a 16-bit load into the low half of a register that
    // is also the load's address (`movw (%rax,%rsi), %si` becomes `movzwl (%rax,%rsi), %esi`
    // although bits 63:16 of %rsi are stored right after): exactly what `mov cx, [rcx]` inlines
    // to. Found by the tier-0/tier-1 fuzzer (docs/difftest.md); the pass only shortens
    // encodings, so it is switched off for all tier-1 code.
    std::vector<const char*> args = {"umbra", "-fixup-byte-word-insts=false"};
    // No machine scheduling before register allocation (docs/jit.md "Compile cost", session
    // 15): on an out-of-order host its reordering buys nothing measurable, and it lengthens live
    // ranges in code that already keeps the guest registers in host registers. Callgrind, the
    // boot's first 3,000M guest instructions: 4.7% less compiling, 1.0% less elsewhere; the cpu
    // kernel 3.1% less compiling for code as fast. UMBRA_JIT_MISCHED=1 schedules again.
    if (const char* v = std::getenv("UMBRA_JIT_MISCHED"); !v || *v != '1')
      args.push_back("-enable-misched=false");
    // Measurement: extra LLVM options (UMBRA_JIT_LLVM_ARGS, space-separated).
    static std::string extra =
        std::getenv("UMBRA_JIT_LLVM_ARGS") ? std::getenv("UMBRA_JIT_LLVM_ARGS") : "";
    for (char* tok = std::strtok(extra.data(), " "); tok; tok = std::strtok(nullptr, " "))
      args.push_back(tok);
    llvm::cl::ParseCommandLineOptions(static_cast<int>(args.size()), args.data(), "",
                                      &llvm::nulls());
    // Measurement: `UMBRA_JIT_LLVM_ARGS=-time-passes` reports at exit (the compiler is never
    // destroyed, so LLVM's own report would not appear).
    if (llvm::TimePassesIsEnabled) std::atexit([] { llvm::TimerGroup::printAll(llvm::errs()); });
    return true;
  }();
  (void)targets;
  const NativeSymbols& natives = NativeSymbols::get();
  if (!natives.ok()) {
    *error = natives.error();
    return nullptr;
  }
  auto impl = std::make_unique<Impl>();
  // Local values need no names (every instruction the inliner clones and every block it splits
  // would carry one through to code generation); the dumped IR keeps them for reading
  // (UMBRA_JIT_DUMP=1), and a measurement can too (UMBRA_JIT_VALUE_NAMES=1).
  if (!std::getenv("UMBRA_JIT_DUMP") && !std::getenv("UMBRA_JIT_VALUE_NAMES"))
    impl->tsc.getContext()->setDiscardValueNames(true);
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) {
    *error = llvm::toString(jtmb.takeError());
    return nullptr;
  }
  // Code generation level: measured in docs/jit.md "Compile cost" (UMBRA_JIT_CG=0..3 overrides).
  // Less rather than Default: about 30% less time per IR instruction for code within ~10% of
  // Default's speed on the integer loops of bench/tier0_mips.
  llvm::CodeGenOptLevel cg = llvm::CodeGenOptLevel::Less;
  if (const char* v = std::getenv("UMBRA_JIT_CG"); v && *v >= '0' && *v <= '3')
    cg = static_cast<llvm::CodeGenOptLevel>(*v - '0');
  jtmb->setCodeGenOptLevel(cg);
  impl->cpu_name = jtmb->getCPU();
  impl->cpu_features = jtmb->getFeatures().getString();
  auto tm = jtmb->createTargetMachine();
  if (!tm) {
    *error = llvm::toString(tm.takeError());
    return nullptr;
  }
  impl->tm = std::move(*tm);
  // The quick level's code generation: the Less pipeline (greedy register allocation, the
  // coalescer, the machine scheduler) with FastISel instead of SelectionDAG for instruction
  // selection. SelectionDAG is about half of the code generation time; with FastISel the boot
  // test's code generation took 3.95 ms per block instead of 6.40, and with the Less pipeline
  // behind it the code stays close to SelectionDAG's.
  // (Level None, which also uses FastISel, allocates registers block by block and spills every
  // live value at block ends: its code ran the boot test's sha256 phase 1.6 times slower.)
  // Measured on the boot test in docs/jit.md "Two levels". UMBRA_JIT_QUICK_CG=0..3 overrides the
  // level, UMBRA_JIT_QUICK_FASTISEL=0 selects SelectionDAG.
  llvm::CodeGenOptLevel quick_cg = llvm::CodeGenOptLevel::Less;
  if (const char* v = std::getenv("UMBRA_JIT_QUICK_CG"); v && *v >= '0' && *v <= '3')
    quick_cg = static_cast<llvm::CodeGenOptLevel>(*v - '0');
  const char* fast_isel_env = std::getenv("UMBRA_JIT_QUICK_FASTISEL");
  const bool quick_fast_isel = !(fast_isel_env && *fast_isel_env == '0');
  auto jit = llvm::orc::LLJITBuilder()
                 .setJITTargetMachineBuilder(std::move(*jtmb))
                 .setCompileFunctionCreator(
                     [quick_cg, quick_fast_isel](llvm::orc::JITTargetMachineBuilder optimized)
                         -> llvm::Expected<std::unique_ptr<llvm::orc::IRCompileLayer::IRCompiler>> {
                       // The quick level's machine is the optimized one's builder as LLJIT
                       // prepared it (JITLink's small code model, PIC) at another level: with
                       // the JIT default, the large code model, FastISel cannot lower a single
                       // call, and every block fell back to SelectionDAG at its first call.
                       llvm::orc::JITTargetMachineBuilder quick_jtmb = optimized;
                       quick_jtmb.setCodeGenOptLevel(quick_cg);
                       auto quick_tm = quick_jtmb.createTargetMachine();
                       if (!quick_tm) return quick_tm.takeError();
                       if (quick_fast_isel) (*quick_tm)->setFastISel(true);
                       auto optimized_tm = optimized.createTargetMachine();
                       if (!optimized_tm) return optimized_tm.takeError();
                       return std::make_unique<TwoLevelCompiler>(std::move(*quick_tm),
                                                                 std::move(*optimized_tm));
                     })
                 .create();
  if (!jit) {
    *error = llvm::toString(jit.takeError());
    return nullptr;
  }
  impl->jit = std::move(*jit);
  if (const char* v = std::getenv("UMBRA_JIT_PERF_MAP"); v && *v == '1')
    if (auto* linker =
            llvm::dyn_cast<llvm::orc::ObjectLinkingLayer>(&impl->jit->getObjLinkingLayer()))
      linker->addPlugin(std::make_unique<PerfMapPlugin>());
  add_slow_path_thunks(impl->native_names);
  if (const char* v = std::getenv("UMBRA_JIT_PRESERVE_MOST"); v && *v == '0')
    impl->preserve_most_slow_paths = false;
  impl->jit->getMainJITDylib().addGenerator(
      std::make_unique<NativeGenerator>(natives, impl->native_names));
  if (const char* p = std::getenv("UMBRA_JIT_PIPELINE"); p && *p) impl->function_pipeline = p;
  if (const char* p = std::getenv("UMBRA_JIT_QUICK_PIPELINE"); p && *p)
    impl->quick_pipeline = impl->quick_control_pipeline = p;
  if (const char* p = std::getenv("UMBRA_JIT_FOLD_PIPELINE"); p && *p) impl->fold_pipeline = p;
  impl->library = std::make_unique<SemanticsLibrary>(*impl->tsc.getContext(), natives);
  if (!impl->library->ok()) {
    *error = impl->library->error();
    return nullptr;
  }
  // The chain exits every block tail-calls (chain_exit.h): compiled once, when first linked.
  if (llvm::Error e = impl->jit->addIRModule(llvm::orc::ThreadSafeModule(
          build_chain_exits(*impl->tsc.getContext(), impl->library->data_layout(),
                            impl->library->triple(), impl->cpu_name, impl->cpu_features),
          impl->tsc))) {
    *error = llvm::toString(std::move(e));
    return nullptr;
  }
  for (const bool legacy : {false, true}) {
    auto sym = impl->jit->lookup(legacy ? kChainExitLegacy : kChainExit64);
    if (!sym) {
      *error = llvm::toString(sym.takeError());
      return nullptr;
    }
    (legacy ? impl->chain_exit_legacy : impl->chain_exit64) = sym->toPtr<const void*>();
  }
  return std::unique_ptr<BlockCompiler>(new BlockCompiler(std::move(impl)));
}

BlockCompiler::BlockCompiler(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

BlockCompiler::~BlockCompiler() = default;

const void* BlockCompiler::chain_exit(bool legacy) const {
  return legacy ? impl_->chain_exit_legacy : impl_->chain_exit64;
}

BlockFn BlockCompiler::compile(const BlockJob& job) {
  return compile_batch({&job})[0];
}

// Quick and optimized jobs go into separate modules (docs/jit.md "Two levels").
std::vector<BlockFn> BlockCompiler::compile_batch(const std::vector<const BlockJob*>& jobs) {
  std::vector<BlockFn> result(jobs.size(), nullptr);
  for (const bool quick : {true, false}) {
    std::vector<const BlockJob*> group;
    std::vector<size_t> where;
    for (size_t i = 0; i < jobs.size(); ++i)
      if (jobs[i]->quick == quick) {
        group.push_back(jobs[i]);
        where.push_back(i);
      }
    if (group.empty()) continue;
    const std::vector<BlockFn> fns = compile_module(group, quick);
    for (size_t i = 0; i < fns.size(); ++i) result[where[i]] = fns[i];
  }
  return result;
}

// Several blocks go into one module: the per-module costs of extraction, linking, the pass
// managers and code generation are paid once (docs/jit.md "Compile cost").
std::vector<BlockFn> BlockCompiler::compile_module(const std::vector<const BlockJob*>& jobs,
                                                   bool quick) {
  Impl& im = *impl_;
  const uint64_t t0 = now_ns();
  llvm::LLVMContext& ctx = *im.tsc.getContext();
  SemanticsLibrary& lib = *im.library;
  std::vector<BlockFn> result(jobs.size(), nullptr);
  // Whether state caching (state_cache.h) runs on these functions: always for optimized code,
  // for quick code on the fields of control only (control_only) unless all of it is asked for.
  const bool caches_state =
      (!quick || quick_state_cache_ || quick_control_cache_) && !no_state_cache_;
  const bool control_only = quick && !quick_state_cache_;
  auto m = std::make_unique<llvm::Module>("umbra_batch_" + std::to_string(jobs[0]->id), ctx);
  m->setDataLayout(lib.data_layout());
  m->setTargetTriple(lib.triple());
  if (quick) m->addModuleFlag(llvm::Module::Warning, "umbra.quick", 1);

  llvm::Type* void_ty = llvm::Type::getVoidTy(ctx);
  llvm::Type* i32 = llvm::Type::getInt32Ty(ctx);
  llvm::Type* ptr = llvm::PointerType::get(ctx, 0);
  llvm::FunctionType* handler_ty = llvm::FunctionType::get(void_ty, {ptr, ptr}, false);

  // The handlers: one declaration per distinct handler, named by its native address; those
  // with a bitcode body are grouped by library module for extraction.
  struct TuHandlers {
    std::vector<const llvm::Function*> fns;
    std::vector<std::string> names;
  };
  std::unordered_map<unsigned, TuHandlers> by_tu;
  std::unordered_map<uint64_t, llvm::Function*> declared;
  std::vector<llvm::Function*> block_fns;
  size_t total_insns = 0;
  // The handler of every instruction: one declaration per distinct handler, named by its native
  // address.
  auto handler_of = [&](const Insn& insn) {
    const uint64_t addr = reinterpret_cast<uint64_t>(insn.fn);
    auto [it, fresh] = declared.try_emplace(addr, nullptr);
    if (fresh) {
      char name[48];
      std::snprintf(name, sizeof name, "umbra.handler.%llx", static_cast<unsigned long long>(addr));
      it->second = llvm::Function::Create(handler_ty, llvm::GlobalValue::ExternalLinkage, name, *m);
      SemanticsLibrary::HandlerRef ref;
      if (lib.find_handler(addr, &ref)) {
        TuHandlers& t = by_tu[ref.tu];
        t.fns.push_back(ref.fn);
        t.names.push_back(name);
        ++stats_.handlers_inlinable;
      } else {
        im.native_names[name] = addr;
        ++stats_.handlers_native;
      }
    }
    return it->second;
  };

  llvm::Type* i64 = llvm::Type::getInt64Ty(ctx);
  llvm::Type* i8 = llvm::Type::getInt8Ty(ctx);
  llvm::FunctionType* block_ty = llvm::FunctionType::get(void_ty, {ptr}, false);
  for (const BlockJob* jp : jobs) {
    const BlockJob& job = *jp;
    total_insns += job.insn_count();
    stats_.region_members += job.blocks.size() - 1;

    // void tb(CpuState* cpu): each member block's handlers in order; after each instruction,
    // leave if exit_request is set; at every exit add the completed instructions to insn_count.
    // A member that ran to its end goes on to the member the guest continues at, if there is
    // one, else jumps to a chained successor's code if one matches (docs/jit.md "Chaining",
    // "Regions").
    llvm::Function* fn = llvm::Function::Create(block_ty, llvm::GlobalValue::ExternalLinkage,
                                                function_name(job), *m);
    fn->addFnAttr("target-cpu", im.cpu_name);
    if (!im.cpu_features.empty()) fn->addFnAttr("target-features", im.cpu_features);
    fn->addFnAttr(llvm::Attribute::NoUnwind);
    // Entered only through umbra_enter_code, which saves the registers the C ABI asks a callee
    // to preserve, and left by jumps to other blocks or a return to it: pushing and popping
    // them in every block of a chain would be wasted (jit/code_entry.h).
    if (!callee_saves_) fn->addFnAttr("no_callee_saved_registers");
    llvm::Argument* cpu = fn->getArg(0);
    cpu->setName("cpu");
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
    auto field = [&](size_t offset, const char* name = "") {
      return b.CreateConstInBoundsGEP1_64(i8, cpu, offset, name);
    };
    auto constant_ptr = [&](const void* p) {
      return llvm::ConstantExpr::getIntToPtr(b.getInt64(reinterpret_cast<uint64_t>(p)), ptr);
    };
    llvm::Value* exit_req_ptr = field(offsetof(CpuState, exit_request), "exit_request");
    llvm::Value* count_ptr = field(offsetof(CpuState, insn_count), "insn_count");
    llvm::Value* rip_ptr = field(offsetof(CpuState, rip), "rip");
    llvm::Value* block_ptr = field(offsetof(CpuState, tier1_block));
    b.CreateStore(constant_ptr(job.blocks[0].block), field(offsetof(CpuState, tier1_region)));
    if (job.fixed_rip) {
      // Code specialized to its linear address (docs/jit.md "Code specialized to its
      // address"): entered at any other (the same physical page through another mapping), it
      // runs nothing and hands the block back to the dispatcher. Past the test RIP is a
      // constant, and with it every RIP the code computes: canonical-address checks of branch
      // targets, RIP-relative addresses, the same-page tests and the switch to the next
      // region member all fold.
      b.CreateStore(constant_ptr(job.blocks[0].block), block_ptr);
      auto* mismatch = llvm::BasicBlock::Create(ctx, "rip_mismatch", fn);
      auto* matched = llvm::BasicBlock::Create(ctx, "rip_matched", fn);
      b.CreateCondBr(b.CreateICmpEQ(b.CreateLoad(i64, rip_ptr), b.getInt64(job.entry_rip)), matched,
                     mismatch, llvm::MDBuilder(ctx).createBranchWeights(1000, 1));
      b.SetInsertPoint(mismatch);
      b.CreateStore(b.getInt32(kExitRipMismatch), exit_req_ptr)->setVolatile(true);
      b.CreateRetVoid();
      b.SetInsertPoint(matched);  // the entry member stores its constant RIP (below)
    }
    // The CPU thread's profile (jit/profile.h): chaining moves between LLVM's code and threaded
    // code without the dispatcher, so each says what runs on entry.
    b.CreateStore(b.getInt8(profile::kTier1), constant_ptr(&profile::g_activity));
    llvm::Value* entries = nullptr;
    if (job.entry_counter) {
      // Quick code counts its runs, chained ones included, and returns to the dispatcher instead
      // of chaining on the run that makes it hot enough to optimize (docs/jit.md "Two levels").
      llvm::Value* counter = constant_ptr(job.entry_counter);
      entries = b.CreateAdd(b.CreateLoad(i64, counter), b.getInt64(1));
      b.CreateStore(entries, counter);
    }
    // A block is entered only with exit_request clear (the dispatcher clears it; chaining checks
    // it). Saying so lets LLVM drop the checks that no call precedes, and with them the early
    // exits that kept each instruction's flags and registers stored.
    b.CreateAssumption(b.CreateICmpEQ(b.CreateLoad(i32, exit_req_ptr), b.getInt32(0)));
    auto retire_insns = [&](size_t n) {
      b.CreateStore(b.CreateAdd(b.CreateLoad(i64, count_ptr), b.getInt64(n)), count_ptr);
    };
    const bool legacy = (job.mode_key & 1) == 0;
    llvm::Value* cs_base_ptr =
        field(offsetof(CpuState, seg) + CS * sizeof(SegmentCache) + offsetof(SegmentCache, base));
    std::vector<llvm::BasicBlock*> member_bbs;
    for (size_t j = 0; j < job.blocks.size(); ++j)
      member_bbs.push_back(llvm::BasicBlock::Create(ctx, "member", fn));
    b.CreateBr(member_bbs[0]);

    for (size_t j = 0; j < job.blocks.size(); ++j) {
      const BlockJob::Member& member = job.blocks[j];
      const std::vector<Insn>& insns = member.insns;
      b.SetInsertPoint(member_bbs[j]);
      llvm::Value* entry_rip = nullptr;  // the member's RIP at its start
      // For fault accounting and chaining: the block whose instructions run now.
      b.CreateStore(constant_ptr(member.block), block_ptr);
      // The member starts at this page offset, whatever linear address its page is mapped at
      // (pages are 4 KiB-aligned in both spaces). Telling LLVM so lets it compute the page offset
      // of every RIP the member produces: the branch to the next member and the same-page test
      // of chaining fold to constants on each path out of a direct branch.
      if (job.fixed_rip) {
        // Code specialized to its address: the member's whole RIP is known, since it is entered
        // only at its offset on the entry's linear page. Stored, it is a constant on every path
        // through a loop too (a phi of the values each member computes would not fold).
        entry_rip = b.getInt64((job.entry_rip & kPageMask) | member.page_offset);
        b.CreateStore(entry_rip, rip_ptr);
      } else {
        entry_rip = b.CreateLoad(i64, rip_ptr);
        llvm::Value* entry_lin =
            legacy ? b.CreateAdd(b.CreateLoad(i64, cs_base_ptr), entry_rip) : entry_rip;
        b.CreateAssumption(b.CreateICmpEQ(b.CreateAnd(entry_lin, b.getInt64(kPageSize - 1)),
                                          b.getInt64(member.page_offset)));
      }
      llvm::Value* last_rip = nullptr;
      // The status flags' liveness within the member (jit/flag_liveness.h): an instruction whose
      // flags nobody sees is marked so, and its handler's flag computation folds away (a rotate's
      // or INC's materialization of the lazy record, a multiply's or shift's eager flags, any
      // producer's record that a later one overwrites outside the state cache's reach).
      const std::vector<bool> dead = dead_flags(insns);
      for (size_t i = 0; i < insns.size(); ++i) {
        Insn insn = insns[i];
        if (dead[i] && !no_dead_flags_) {
          insn.attrs |= attr::kFlagsDead;
          ++stats_.flags_dead;
        }
        auto* bytes = llvm::ConstantDataArray::get(
            ctx, llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t*>(&insn), sizeof(Insn)));
        auto* g = new llvm::GlobalVariable(*m, bytes->getType(), true,
                                           llvm::GlobalValue::PrivateLinkage, bytes, "insn");
        g->setAlignment(llvm::Align(alignof(Insn)));
        g->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
        if (i + 1 == insns.size()) last_rip = b.CreateLoad(i64, rip_ptr, "last_rip");
        b.CreateCall(handler_ty, handler_of(insns[i]), {cpu, g});
        if (i + 1 == insns.size()) break;
        // No exit test after an instruction that cannot request one: a request made meanwhile
        // by another thread is seen at the next test (as in threaded code), and the flags an
        // instruction marked dead skipped are never stored by an exit between it and their
        // overwriter.
        if (cannot_request_exit(insns[i]) && !no_dead_flags_) continue;
        llvm::Value* req = b.CreateLoad(i32, exit_req_ptr);
        auto* leave = llvm::BasicBlock::Create(ctx, "leave", fn);
        auto* next = llvm::BasicBlock::Create(ctx, "next", fn);
        b.CreateCondBr(b.CreateICmpNE(req, b.getInt32(0)), leave, next);
        b.SetInsertPoint(leave);
        retire_insns(i + 1);
        b.CreateRetVoid();
        b.SetInsertPoint(next);
        if (caches_state) {
          // exit_request is 0 here, and only a call can change what the next check sees (state
          // caching keeps exit_request's word as a copy, state_cache.cpp kStopWord): saying so
          // in the copy lets LLVM drop the next check on every path without a call (a TLB hit).
          // The store goes to the copy only; state caching drops it otherwise.
          llvm::StoreInst* known = b.CreateStore(b.getInt32(0), exit_req_ptr);
          known->setMetadata(kCopyOnlyMetadata, llvm::MDNode::get(ctx, {}));
        }
      }
      retire_insns(insns.size());
      if (!member.chain_slots || no_chain_) {
        b.CreateRetVoid();
        continue;
      }
      // Go on only at a clean block boundary, where the dispatcher would have nothing to do
      // (emit_clean_boundary), to a member of the region, or through the chain exit to a chained
      // successor: one on the page of the last instruction through a slot that links one on
      // this physical page (whatever linear address this runs at, this page is where it is), or
      // one on another page through a slot whose host address the fast TLB confirms for the new
      // RIP (docs/jit.md "Chaining").
      llvm::Value* rip = b.CreateLoad(i64, rip_ptr, "next_rip");
      llvm::Value* cs_base = legacy ? b.CreateLoad(i64, cs_base_ptr, "cs_base") : nullptr;
      llvm::Value* lin = legacy ? b.CreateAdd(cs_base, rip) : rip;
      llvm::Value* lin_last = legacy ? b.CreateAdd(cs_base, last_rip) : last_rip;
      auto* done = llvm::BasicBlock::Create(ctx, "done", fn);
      auto* leave_for_slots = llvm::BasicBlock::Create(ctx, "chain", fn);
      if (entries) {
        // Quick code that just got hot enough to optimize goes back to the dispatcher.
        auto* go_on = llvm::BasicBlock::Create(ctx, "counted", fn);
        b.CreateCondBr(b.CreateICmpNE(entries, b.getInt64(job.entry_limit)), go_on, done);
        b.SetInsertPoint(go_on);
      }
      if (job.region) {
        // Another member of the region, found by the offset in the page: the members are on
        // this physical page and the successor is on this linear page, which maps to it.
        // Only the members the last instruction can lead to are cases: every member as a case
        // would join every member's state at every other member, a web of phis that costs the
        // register allocator more than the rest of the region. Any other offset (a wrapped
        // 16-bit target, an indirect branch's surprise) takes the default: the chain slots.
        const std::vector<uint32_t> next = successor_offsets(member);
        const bool check_trap_flags = !trap_flags_unchanged(insns.back());
        // Code specialized to its address switches on the whole RIP, a select of constants after
        // a conditional branch, which SimplifyCFG turns into a branch on its condition.
        const uint64_t case_base = job.fixed_rip ? job.entry_rip & kPageMask : 0;
        auto* same_page = llvm::BasicBlock::Create(ctx, "region", fn);
        b.CreateCondBr(emit_same_page(b, lin, lin_last), same_page, leave_for_slots);
        // The boundary test (instruction budget, interrupts, monitor stops) only where the
        // region may loop: every cycle of members passes an edge to a member not after this one
        // in member order, so a pending event waits at most one pass through the members in
        // order. Edges to later members go straight on, unless the last instruction may have
        // changed TF or RF (docs/jit.md "Regions").
        b.SetInsertPoint(same_page);
        llvm::SwitchInst* sw =
            b.CreateSwitch(job.fixed_rip ? lin : b.CreateAnd(lin, b.getInt64(kPageSize - 1)),
                           leave_for_slots, job.blocks.size());
        for (size_t k = 0; k < job.blocks.size(); ++k) {
          if (!next.empty() &&
              std::find(next.begin(), next.end(), job.blocks[k].page_offset) == next.end())
            continue;
          llvm::BasicBlock* target = member_bbs[k];
          if (k <= j || check_trap_flags || check_every_member_) {
            target = llvm::BasicBlock::Create(ctx, "region_back", fn);
            b.SetInsertPoint(target);
            b.CreateCondBr(emit_clean_boundary(b, cpu, check_trap_flags), member_bbs[k],
                           leave_for_slots);
          }
          sw->addCase(b.getInt64(case_base | job.blocks[k].page_offset), target);
        }
      } else {
        b.CreateBr(leave_for_slots);
      }
      b.SetInsertPoint(leave_for_slots);
      if (inline_chain_) {
        // Measurement (UMBRA_JIT_INLINE_CHAIN=1): the chain exit's checks inline, with the slot
        // addresses as constants.
        auto* slots = llvm::BasicBlock::Create(ctx, "slots", fn);
        b.CreateCondBr(emit_clean_boundary(b, cpu), slots, done);
        b.SetInsertPoint(slots);
        emit_chain_slots(b, cpu, constant_ptr(member.chain_slots), rip, cs_base,
                         emit_same_page(b, lin, lin_last));
        b.CreateBr(done);
      } else {
        // The chain exit (chain_exit.h) makes the checks, out of line: one tail call, so in a
        // region one write-back of the guest state per member end.
        // The block's own exit, when it has one (threaded_compiler.h): the same checks with its
        // slots built in, and its own indirect jump for the branch predictor.
        b.CreateStore(last_rip, field(offsetof(CpuState, tier1_last_rip)));
        llvm::CallInst* tail;
        if (member.chain_exit && member.chain_exit_taken && !legacy) {
          // A Jcc's paths have an exit each, which knows its new RIP (docs/jit.md "Direct
          // links"): the taken path's when RIP is the taken target. The compare folds into the
          // branch's own condition.
          auto* taken_bb = llvm::BasicBlock::Create(ctx, "exit_taken", fn);
          auto* fall_bb = llvm::BasicBlock::Create(ctx, "exit_fall", fn);
          b.CreateCondBr(
              b.CreateICmpEQ(rip, b.CreateAdd(entry_rip, b.getInt64(member.taken_delta))), taken_bb,
              fall_bb);
          b.SetInsertPoint(taken_bb);
          llvm::CallInst* taken =
              b.CreateCall(block_ty, constant_ptr(member.chain_exit_taken), {cpu});
          taken->setTailCallKind(llvm::CallInst::TCK_MustTail);
          b.CreateRetVoid();
          b.SetInsertPoint(fall_bb);
          tail = b.CreateCall(block_ty, constant_ptr(member.chain_exit), {cpu});
        } else if (member.chain_exit && !legacy) {
          tail = b.CreateCall(block_ty, constant_ptr(member.chain_exit), {cpu});
        } else {
          b.CreateStore(constant_ptr(member.chain_slots), field(offsetof(CpuState, tier1_chain)));
          llvm::FunctionCallee exit_fn =
              m->getOrInsertFunction(legacy ? kChainExitLegacy : kChainExit64, block_ty);
          tail = b.CreateCall(exit_fn, {cpu});
        }
        tail->setTailCallKind(llvm::CallInst::TCK_MustTail);
        b.CreateRetVoid();
      }
      b.SetInsertPoint(done);
      b.CreateRetVoid();
    }
    block_fns.push_back(fn);
  }

  for (auto& [tu, t] : by_tu) {
    std::unique_ptr<llvm::Module> part = lib.extract(tu, t.fns, t.names, &im.native_names);
    if (llvm::Linker::linkModules(*m, std::move(part), llvm::Linker::LinkOnlyNeeded)) {
      last_error_ = "linking the semantics of a block failed";
      stats_.failures += jobs.size();
      return result;
    }
  }
  if (verify_) {
    std::string verify;
    llvm::raw_string_ostream vs(verify);
    if (llvm::verifyModule(*m, &vs)) {
      last_error_ = "invalid block IR: " + vs.str().substr(0, 400);
      stats_.failures += jobs.size();
      return result;
    }
  }
  // Inline what is worth it: handlers called by the blocks, small helpers with no native copy.
  for (llvm::Function* fn : block_fns)
    for (llvm::BasicBlock& bb : *fn)
      for (llvm::Instruction& ins : bb)
        if (auto* call = llvm::dyn_cast<llvm::CallInst>(&ins))
          if (llvm::Function* f = call->getCalledFunction();
              f && !f->isDeclaration() && f->getInstructionCount() <= kInlineLimit)
            call->addFnAttr(llvm::Attribute::AlwaysInline);
  for (llvm::Function& f : *m)
    if ((f.hasLocalLinkage() || f.hasAvailableExternallyLinkage()) && !f.isDeclaration() &&
        f.getInstructionCount() <= kHelperInlineLimit &&
        !f.hasFnAttribute(llvm::Attribute::NoInline))
      f.addFnAttr(llvm::Attribute::AlwaysInline);
  const uint64_t t1 = now_ns();

  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    // Measurement: with -time-passes (UMBRA_JIT_LLVM_ARGS) the optimization passes are timed
    // too, not only code generation.
    llvm::PassInstrumentationCallbacks pic;
    std::optional<llvm::StandardInstrumentations> si;
    if (llvm::TimePassesIsEnabled) {
      si.emplace(ctx, false);
      si->registerCallbacks(pic, &mam);
    }
    llvm::PassBuilder pb(im.tm.get(), llvm::PipelineTuningOptions(), std::nullopt,
                         si ? &pic : nullptr);
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm;
    if (full_pipeline_) {
      mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O2);
      mpm.run(*m, mam);
    } else {
      // A short pipeline chosen by measurement (docs/jit.md "Compile cost"): inline, drop the
      // library bodies nothing uses any more, then one round of scalar cleanup over what is
      // left (the block and the few helpers compiled here).
      mpm.addPass(llvm::AlwaysInlinerPass(/*InsertLifetimeIntrinsics=*/false));
      mpm.addPass(llvm::EliminateAvailableExternallyPass());
      mpm.addPass(llvm::GlobalDCEPass());
      mpm.run(*m, mam);
      const AliasScopes scopes = make_alias_scopes(ctx);
      for (size_t j = 0; j < jobs.size(); ++j) {
        fold_mode_loads(*block_fns[j], block_fns[j]->getArg(0), jobs[j]->mode_key);
        if (!no_alias_scopes_)
          annotate_alias_scopes(*block_fns[j], block_fns[j]->getArg(0), scopes);
      }
      auto run_functions = [&](const std::string& pipeline) {
        llvm::FunctionPassManager fpm;
        if (llvm::Error err = pb.parsePassPipeline(fpm, pipeline)) {
          last_error_ = "bad function pipeline: " + llvm::toString(std::move(err));
          return false;
        }
        llvm::ModulePassManager mpm2;
        mpm2.addPass(llvm::createModuleToFunctionPassAdaptor(std::move(fpm)));
        mpm2.run(*m, mam);
        return true;
      };
      bool ok = run_functions(im.fold_pipeline);
      // Quick code caches only the fields of control: the general registers and flags too cost
      // more compiling than quick code wins back (docs/jit.md "Two levels").
      if (ok && caches_state) {
        for (llvm::Function* f : block_fns) {
          if (!keep_stale_flags_ && !control_only) clear_flags_behind_producers(*f, f->getArg(0));
          const StateCacheStats sc =
              cache_cpu_state(*f, f->getArg(0), no_alias_scopes_ ? nullptr : scopes.cpu_list,
                              no_alias_scopes_ ? nullptr : scopes.guest_list, control_only);
          stats_.state_rewritten += sc.rewritten;
          stats_.state_barriers += sc.barriers;
        }
        // The functions changed outside the pass managers: forget what was computed.
        fam.clear();
        mam.clear();
      }
      const std::string& cleanup =
          !control_only ? im.function_pipeline
                        : (caches_state ? im.quick_control_pipeline : im.quick_pipeline);
      ok = ok && run_functions(cleanup);
      if (!ok) {
        stats_.failures += jobs.size();
        return result;
      }
    }
  }
  if (im.preserve_most_slow_paths) use_preserve_most_for_slow_paths(*m);
  if (dump_ir_) m->print(llvm::errs(), nullptr);
  unsigned ir_size = 0;
  if (trace_)
    for (const llvm::Function& f : *m) ir_size += f.getInstructionCount();
  const uint64_t t2 = now_ns();
  (void)t1;

  llvm::orc::ResourceTrackerSP rt = im.jit->getMainJITDylib().createResourceTracker();
  if (llvm::Error e = im.jit->addIRModule(rt, llvm::orc::ThreadSafeModule(std::move(m), im.tsc))) {
    last_error_ = llvm::toString(std::move(e));
    stats_.failures += jobs.size();
    return result;
  }
  auto batch = std::make_shared<Impl::Batch>(Impl::Batch{rt, 0});
  for (size_t j = 0; j < jobs.size(); ++j) {
    auto sym = im.jit->lookup(function_name(*jobs[j]));
    if (!sym) {
      last_error_ = llvm::toString(sym.takeError());
      ++stats_.failures;
      continue;
    }
    result[j] = sym->toPtr<BlockFn>();
    ++batch->live;
    im.code.emplace(jobs[j]->id, batch);
  }
  if (batch->live == 0) llvm::consumeError(rt->remove());
  const uint64_t t3 = now_ns();
  if (trace_)
    std::fprintf(stderr,
                 "tier1: batch of %zu %s: %zu insns, %u IR instructions, IR %.2f ms, opt "
                 "%.2f ms, codegen %.2f ms\n",
                 jobs.size(), quick ? "quick" : "optimized", total_insns, ir_size, (t1 - t0) / 1e6,
                 (t2 - t1) / 1e6, (t3 - t2) / 1e6);
  if (trace_ && !quick)
    for (const BlockJob* job : jobs) {
      // Which blocks each region holds (page offsets, the entry first): overlapping regions
      // compile the same guest code twice.
      std::fprintf(stderr, "tier1:   region %s:", function_name(*job).c_str());
      for (const BlockJob::Member& member : job->blocks)
        std::fprintf(stderr, " %03x(%zu)", member.page_offset, member.insns.size());
      std::fprintf(stderr, "\n");
    }
  stats_.blocks += batch->live;
  (quick ? stats_.quick : stats_.optimized) += batch->live;
  ++stats_.batches;
  stats_.guest_insns += total_insns;
  stats_.ns_ir += t1 - t0;
  stats_.ns_opt += t2 - t1;
  stats_.ns_codegen += t3 - t2;
  stats_.ns_total += t3 - t0;
  return result;
}

void BlockCompiler::release(uint64_t id) {
  auto it = impl_->code.find(id);
  if (it == impl_->code.end()) return;
  std::shared_ptr<Impl::Batch> batch = std::move(it->second);
  impl_->code.erase(it);
  ++stats_.freed;
  if (--batch->live == 0) llvm::consumeError(batch->rt->remove());
}

}  // namespace umbra::tier1
