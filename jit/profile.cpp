#include "jit/profile.h"

#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

namespace umbra::profile {

std::atomic<uint8_t> g_activity{kDispatch};

namespace {
// The one running sampler (the signal handler's target).
std::atomic<std::atomic<uint64_t>*> g_counts{nullptr};

void on_sample(int) {
  if (std::atomic<uint64_t>* counts = g_counts.load(std::memory_order_relaxed)) {
    const uint8_t a = g_activity.load(std::memory_order_relaxed);
    if (a < kActivities) counts[a].fetch_add(1, std::memory_order_relaxed);
  }
}
}  // namespace

bool Sampler::start() {
  if (running_) return true;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sample;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGPROF, &sa, nullptr) != 0) return false;
  // A timer on this thread's CPU time, delivering SIGPROF to this thread only (the tier-1
  // compiler thread's time is counted by the compiler itself).
  struct sigevent sev;
  std::memset(&sev, 0, sizeof sev);
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGPROF;
  sev._sigev_un._tid = static_cast<pid_t>(syscall(SYS_gettid));
  timer_t t;
  if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &t) != 0) return false;
  g_counts.store(counts_, std::memory_order_relaxed);
  struct itimerspec its;
  std::memset(&its, 0, sizeof its);
  its.it_interval.tv_nsec = 1'000'000;
  its.it_value.tv_nsec = 1'000'000;
  if (timer_settime(t, 0, &its, nullptr) != 0) {
    timer_delete(t);
    g_counts.store(nullptr);
    return false;
  }
  timer_ = reinterpret_cast<void*>(t);
  running_ = true;
  return true;
}

void Sampler::stop() {
  if (!running_) return;
  timer_delete(reinterpret_cast<timer_t>(timer_));
  g_counts.store(nullptr);
  running_ = false;
}

uint64_t Sampler::total() const {
  uint64_t n = 0;
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

}  // namespace umbra::profile
