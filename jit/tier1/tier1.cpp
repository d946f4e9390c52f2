#include "jit/tier1/tier1.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace umbra {

namespace {
std::atomic<int> g_default_mode{-1};
}

bool parse_accel_mode(const std::string& s, AccelMode* out) {
  if (s == "tier0")
    *out = AccelMode::Tier0;
  else if (s == "jit")
    *out = AccelMode::Jit;
  else if (s == "compile-all")
    *out = AccelMode::CompileAll;
  else
    return false;
  return true;
}

const char* accel_mode_name(AccelMode mode) {
  switch (mode) {
    case AccelMode::Tier0:
      return "tier0";
    case AccelMode::Jit:
      return "jit";
    case AccelMode::CompileAll:
      return "compile-all";
  }
  return "?";
}

AccelMode default_accel_mode() {
  int m = g_default_mode.load();
  if (m >= 0) return static_cast<AccelMode>(m);
  AccelMode mode = AccelMode::Jit;
  if (const char* env = std::getenv("UMBRA_ACCEL"); env && *env) {
    if (!parse_accel_mode(env, &mode)) {
      std::fprintf(stderr, "umbra: UMBRA_ACCEL='%s' is not tier0, jit or compile-all; using jit\n",
                   env);
      mode = AccelMode::Jit;
    }
  }
  g_default_mode.store(static_cast<int>(mode));
  return mode;
}

void set_default_accel_mode(AccelMode mode) {
  g_default_mode.store(static_cast<int>(mode));
}

namespace tier1 {

std::vector<ResultQueue::Result> ResultQueue::take() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Result> out;
  out.swap(results_);
  ready_.store(false, std::memory_order_release);
  if (notify_) std::atomic_ref<uint8_t>(*notify_).store(0, std::memory_order_relaxed);
  return out;
}

void ResultQueue::push(const Result& r) {
  std::lock_guard<std::mutex> lock(mu_);
  results_.push_back(r);
  ready_.store(true, std::memory_order_release);
  if (notify_) std::atomic_ref<uint8_t>(*notify_).store(1, std::memory_order_relaxed);
}

Tier1* Tier1::get(std::string* error) {
  static std::mutex mu;
  static Tier1* instance = nullptr;
  static std::string failure;
  std::lock_guard<std::mutex> lock(mu);
  if (instance) return instance;
  if (!failure.empty()) {
    *error = failure;
    return nullptr;
  }
  std::unique_ptr<BlockCompiler> c = BlockCompiler::create(&failure);
  if (!c) {
    *error = failure;
    return nullptr;
  }
  auto env_on = [](const char* name) {
    const char* v = std::getenv(name);
    return v && *v == '1';
  };
  c->set_dump_ir(env_on("UMBRA_JIT_DUMP"));
  c->set_verify(env_on("UMBRA_JIT_VERIFY"));
  c->set_full_pipeline(env_on("UMBRA_JIT_O2"));
  c->set_trace(env_on("UMBRA_JIT_TRACE"));
  c->set_no_alias_scopes(env_on("UMBRA_JIT_NO_SCOPES"));
  c->set_no_chain(env_on("UMBRA_JIT_NO_CHAIN"));
  c->set_inline_chain(env_on("UMBRA_JIT_INLINE_CHAIN"));
  c->set_no_state_cache(env_on("UMBRA_JIT_NO_STATE_CACHE"));
  c->set_keep_stale_flags(env_on("UMBRA_JIT_KEEP_STALE_FLAGS"));
  c->set_quick_state_cache(env_on("UMBRA_JIT_QUICK_STATE_CACHE"));
  if (const char* v = std::getenv("UMBRA_JIT_QUICK_CONTROL_CACHE"); v && *v == '0')
    c->set_quick_control_cache(false);
  c->set_no_dead_flags(env_on("UMBRA_JIT_NO_DEAD_FLAGS"));
  c->set_callee_saves(env_on("UMBRA_JIT_CALLEE_SAVES"));
  c->set_check_every_member(env_on("UMBRA_JIT_CHECK_EVERY_MEMBER"));
  instance = new Tier1(std::move(c));
  // Never destroyed (LLVM's own statics may already be gone at that point); the compiler
  // thread is stopped before static destructors run.
  std::atexit([] { instance->stop(); });
  return instance;
}

Tier1::Tier1(std::unique_ptr<BlockCompiler> compiler) : compiler_(std::move(compiler)) {
  if (const char* v = std::getenv("UMBRA_JIT_NO_GATHER"); v && *v == '1') gather_ = false;
  thread_ = std::thread([this] { thread_main(); });
}

Tier1::~Tier1() {
  stop();
}

void Tier1::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

BlockFn Tier1::compile_now(const BlockJob& job) {
  std::lock_guard<std::mutex> c(compiler_mu_);
  BlockFn fn = compiler_->compile(job);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.compile = compiler_->stats();
  return fn;
}

void Tier1::request(std::shared_ptr<ResultQueue> to, BlockJob job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::deque<Request>& queue = job.quick ? requests_ : optimize_requests_;
    queue.push_back(Request{std::move(to), std::move(job), std::chrono::steady_clock::now()});
    ++stats_.requests;
    if (queue.size() > kMaxQueued) {
      Request& old = queue.front();
      old.to->push(ResultQueue::Result{old.job.id, nullptr, true});
      queue.pop_front();
      ++stats_.dropped;
    }
  }
  cv_.notify_one();
}

void Tier1::release(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    releases_.push_back(id);
  }
  cv_.notify_one();
}

void Tier1::cancel(const std::shared_ptr<ResultQueue>& q) {
  std::unique_lock<std::mutex> lock(mu_);
  std::erase_if(requests_, [&](const Request& r) { return r.to == q; });
  std::erase_if(optimize_requests_, [&](const Request& r) { return r.to == q; });
  idle_cv_.wait(lock, [&] {
    return std::find(in_flight_.begin(), in_flight_.end(), q.get()) == in_flight_.end();
  });
}

Tier1Stats Tier1::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

// The compiler thread: frees released code first (so memory stays bounded), then compiles the
// oldest request. A request whose block died meanwhile is compiled anyway; the engine frees the
// code when it finds the block gone.
void Tier1::thread_main() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] {
      return stop_ || !requests_.empty() || !optimize_requests_.empty() || !releases_.empty();
    });
    if (stop_) return;
    std::vector<uint64_t> releases;
    releases.swap(releases_);
    // The newest quick requests, several at once when there is a backlog (one module: cheaper
    // per block; docs/jit.md "Compile cost"); else the oldest optimize request (tier1.h).
    std::vector<Request> batch;
    size_t insns = 0;
    size_t queued_insns = 0;
    for (const Request& r : requests_) queued_insns += r.job.insn_count();
    // Too few quick requests to fill a module yet, and the oldest has not waited kGather: wait
    // for more, unless an optimize request can use the time.
    const bool gather = !requests_.empty() && requests_.size() < kBatch &&
                        queued_insns < kBatchInsns && gather_ &&
                        std::chrono::steady_clock::now() < requests_.front().queued + kGather;
    if (gather && optimize_requests_.empty()) {
      if (releases.empty()) {
        cv_.wait_until(lock, requests_.front().queued + kGather, [this] {
          return stop_ || requests_.size() >= kBatch || !releases_.empty() ||
                 !optimize_requests_.empty();
        });
        continue;
      }
    } else if (gather) {
      batch.push_back(std::move(optimize_requests_.front()));
      optimize_requests_.pop_front();
    } else if (!requests_.empty()) {
      while (!requests_.empty() && batch.size() < kBatch && insns < kBatchInsns) {
        insns += requests_.back().job.insn_count();
        batch.push_back(std::move(requests_.back()));
        requests_.pop_back();
      }
    } else if (!optimize_requests_.empty()) {
      batch.push_back(std::move(optimize_requests_.front()));
      optimize_requests_.pop_front();
    }
    std::vector<const ResultQueue*> owners;
    for (const Request& r : batch) owners.push_back(r.to.get());
    in_flight_ = std::move(owners);
    lock.unlock();
    std::vector<BlockFn> fns;
    {
      std::lock_guard<std::mutex> c(compiler_mu_);
      for (uint64_t id : releases) compiler_->release(id);
      if (!batch.empty()) {
        std::vector<const BlockJob*> jobs;
        for (const Request& r : batch) jobs.push_back(&r.job);
        fns = compiler_->compile_batch(jobs);
      }
    }
    for (size_t i = 0; i < batch.size(); ++i)
      batch[i].to->push(ResultQueue::Result{batch[i].job.id, fns[i]});
    lock.lock();
    stats_.compile = compiler_->stats();
    in_flight_.clear();
    idle_cv_.notify_all();
  }
}

}  // namespace tier1
}  // namespace umbra
