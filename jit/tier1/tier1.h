// Tier 1 as the engine sees it (docs/jit.md): a compiler of hot blocks running on a background
// thread (or, in the compile-everything mode, inline on the CPU thread), a queue of requests and
// a queue of finished code that the CPU thread installs at block boundaries.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "jit/tier1/block_compiler.h"

namespace umbra {

// Which engines run guest code (-accel).
enum class AccelMode : uint8_t {
  Tier0,       // tier 0 only
  Jit,         // tiered: tier 0, hot blocks compiled by tier 1 in the background (default)
  CompileAll,  // every block compiled by tier 1 before it first runs (testing)
};

// The process-wide default: -accel sets it; else the environment variable UMBRA_ACCEL
// (tier0 / jit / compile-all), so that every test binary can run on each mode; else Jit.
AccelMode default_accel_mode();
void set_default_accel_mode(AccelMode mode);
// Parses "tier0", "jit", "compile-all"; false for anything else.
bool parse_accel_mode(const std::string& s, AccelMode* out);
const char* accel_mode_name(AccelMode mode);

namespace tier1 {

struct Tier1Stats {
  CompileStats compile;
  uint64_t requests = 0;  // blocks queued for background compilation
  uint64_t dropped = 0;   // ... dropped unserved (queue full)
};

// Where the compiler thread leaves finished code for one engine; the engine installs it at a
// block boundary (so a block never changes tier while it runs).
class ResultQueue {
 public:
  struct Result {
    uint64_t id;
    BlockFn fn;            // null: compilation failed, or dropped
    bool dropped = false;  // not compiled: the queue was full (the block may ask again)
  };
  // Cheap enough for every block boundary: one acquire load.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  std::vector<Result> take();
  void push(const Result& r);
  // A byte set to 1 (from the compiler thread) whenever a result arrives and cleared by take():
  // CpuState::tier1_ready, which chained tier-1 code checks so that it returns to the dispatcher
  // and the code is installed promptly.
  void set_notify(uint8_t* flag) { notify_ = flag; }

 private:
  std::mutex mu_;
  std::vector<Result> results_;
  std::atomic<bool> ready_{false};
  uint8_t* notify_ = nullptr;
};

// The process's tier-1 compiler (one LLVM JIT shared by every engine: compiled code depends
// only on the decoded instructions, and blocks have process-unique ids).
class Tier1 {
 public:
  // Created on first use; null (with *error) when LLVM or the semantics library cannot be set
  // up. Lives until the process exits (its thread is stopped at exit).
  static Tier1* get(std::string* error);

  // Compiles now, on the calling thread (compile-everything mode).
  BlockFn compile_now(const BlockJob& job);
  // Queues the block for the background thread; the result goes to `to`. Quick requests come
  // first, the newest first (what became hot last is most likely still hot). Optimize requests
  // are compiled one at a time, the oldest first: the first block to reach the optimize
  // threshold is the hottest, and a region costs tens of milliseconds, which a batch would
  // multiply before any of its code is installed. Beyond kMaxQueued the oldest are dropped
  // (reported as such) so a queue never holds a backlog of cold blocks.
  static constexpr size_t kMaxQueued = 256;
  // Requests compiled together in one module when there is a backlog.
  static constexpr size_t kBatch = 8;
  // ... and up to about this many guest instructions (code generation costs more than linearly
  // in the size of a module).
  static constexpr size_t kBatchInsns = 128;
  // A quick request waits up to this long for others to share its module (a module's fixed
  // costs are about half of a lone block's; docs/jit.md "Compile cost"), or until a batch is
  // full; meanwhile the block runs as threaded code, and the compiler takes an optimize request
  // if there is one.
  static constexpr std::chrono::milliseconds kGather{10};
  void request(std::shared_ptr<ResultQueue> to, BlockJob job);
  // The block is gone: free its code (on the compiler thread if it runs).
  void release(uint64_t id);
  // The engine owning `q` goes away: drops its queued requests and waits until the compiler is
  // not working for it (so nothing compiles for a dead engine, and nothing at process exit).
  void cancel(const std::shared_ptr<ResultQueue>& q);

  Tier1Stats stats() const;
  // The chain exits every compiled block jumps to (chain_exit.h): fixed once tier 1 is up.
  const void* chain_exit(bool legacy) const { return compiler_->chain_exit(legacy); }

  ~Tier1();

 private:
  explicit Tier1(std::unique_ptr<BlockCompiler> compiler);
  void thread_main();
  void stop();

  std::unique_ptr<BlockCompiler> compiler_;
  std::mutex compiler_mu_;  // the compiler is used by one thread at a time
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool gather_ = true;  // UMBRA_JIT_NO_GATHER=1: compile quick requests as they come (kGather)
  struct Request {
    std::shared_ptr<ResultQueue> to;
    BlockJob job;
    std::chrono::steady_clock::time_point queued{};
  };
  // Quick-level requests are served before optimizing ones (docs/jit.md "Two levels").
  std::deque<Request> requests_, optimize_requests_;
  std::vector<uint64_t> releases_;
  std::vector<const ResultQueue*> in_flight_;  // whose requests are being compiled
  std::condition_variable idle_cv_;
  Tier1Stats stats_;  // guarded by mu_
};

}  // namespace tier1
}  // namespace umbra
