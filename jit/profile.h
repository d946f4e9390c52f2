// Where the CPU thread's time goes (umbra --stats, docs/jit.md "Profile"): the engine and the
// MMU's slow paths record what the CPU thread is doing in one byte; a timer on the thread's CPU
// clock samples it every millisecond. A store per transition is all it costs when sampling is
// off, and the sampler needs no cooperation from the code it samples.
#pragma once

#include <atomic>
#include <cstdint>

namespace umbra::profile {

enum Activity : uint8_t {
  kDispatch = 0,  // the engine between blocks, devices, event delivery, the machine's loop
  kTier0,         // tier-0 handlers
  kTier1,         // tier-1 code (LLVM's)
  kThreaded,      // threaded code (jit/threaded): tier-0 handlers called from compiled blocks
  kMmu,           // fast-TLB misses and other MMU slow paths (incl. MMIO and write tracing)
  kCompile,       // tier-1 compilation on the CPU thread (compile-all mode)
  kActivities,
};

extern std::atomic<uint8_t> g_activity;

inline void set(Activity a) {
  g_activity.store(a, std::memory_order_relaxed);
}
inline Activity current() {
  return static_cast<Activity>(g_activity.load(std::memory_order_relaxed));
}

// Sets an activity for a scope and restores the previous one (a fault unwinding with longjmp
// skips the restore; the engine sets its own activity again when the fault reaches it).
class Scope {
 public:
  explicit Scope(Activity a) : prev_(current()) { set(a); }
  ~Scope() { set(prev_); }
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  Activity prev_;
};

// Samples g_activity on the calling thread's CPU-time clock (1 kHz) until stopped.
class Sampler {
 public:
  Sampler() = default;
  ~Sampler() { stop(); }
  // Starts sampling the calling thread; false if the timer cannot be created.
  bool start();
  void stop();
  uint64_t samples(Activity a) const { return counts_[a].load(std::memory_order_relaxed); }
  uint64_t total() const;

 private:
  bool running_ = false;
  void* timer_ = nullptr;  // timer_t
  std::atomic<uint64_t> counts_[kActivities] = {};
};

}  // namespace umbra::profile
