// Parent side of the native runner: shared memory, starting/restarting the child, batches.
#include "native_runner.h"

#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "native_shared.h"

namespace difftest {

namespace {

constexpr size_t kHeaderBytes = 4096;

size_t round_page(size_t n) {
  return (n + 4095) & ~size_t{4095};
}
size_t inputs_bytes(unsigned cap) {
  return round_page(sizeof(CaseInput) * cap);
}

// Reads exactly n bytes or fails (EOF, error, or no data within timeout_ms).
bool read_full(int fd, void* buf, size_t n, int timeout_ms, bool* timed_out) {
  auto* p = static_cast<uint8_t*>(buf);
  size_t done = 0;
  *timed_out = false;
  while (done < n) {
    pollfd pfd{fd, POLLIN, 0};
    const int r = poll(&pfd, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) {
      *timed_out = true;
      return false;
    }
    if (r < 0) return false;
    const ssize_t got = read(fd, p + done, n - done);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

}  // namespace

CaseInput* shared_inputs(NativeShared* s) {
  return reinterpret_cast<CaseInput*>(reinterpret_cast<uint8_t*>(s) + kHeaderBytes);
}
CaseOutput* shared_outputs(NativeShared* s) {
  return reinterpret_cast<CaseOutput*>(reinterpret_cast<uint8_t*>(s) + kHeaderBytes +
                                       inputs_bytes(s->capacity));
}

NativeRunner::NativeRunner(unsigned capacity, bool ldt) : capacity_(capacity) {
  // A child that dies while we write a command must not kill the harness with SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  shared_bytes_ = kHeaderBytes + inputs_bytes(capacity) + round_page(sizeof(CaseOutput) * capacity);
  void* p = mmap(nullptr, shared_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    setup_error_ = std::string("mmap of the shared area failed: ") + strerror(errno);
    return;
  }
  shared_ = static_cast<NativeShared*>(p);
  shared_->capacity = capacity;
  shared_->options = ldt ? kChildLdt : 0;
}

NativeRunner::~NativeRunner() {
  stop_child();
  if (shared_) munmap(shared_, shared_bytes_);
}

CaseInput& NativeRunner::input(unsigned i) {
  return shared_inputs(shared_)[i];
}
CaseOutput& NativeRunner::output(unsigned i) {
  return shared_outputs(shared_)[i];
}

bool NativeRunner::start_child() {
  int cmd[2], ack[2];
  if (pipe(cmd) != 0) return false;
  if (pipe(ack) != 0) {
    close(cmd[0]);
    close(cmd[1]);
    return false;
  }
  const pid_t pid = fork();
  if (pid < 0) {
    for (int fd : {cmd[0], cmd[1], ack[0], ack[1]}) close(fd);
    setup_error_ = std::string("fork failed: ") + strerror(errno);
    return false;
  }
  if (pid == 0) {
    close(cmd[1]);
    close(ack[0]);
    native_child_main(shared_, cmd[0], ack[1]);
  }
  close(cmd[0]);
  close(ack[1]);
  pid_ = pid;
  cmd_fd_ = cmd[1];
  ack_fd_ = ack[0];

  uint32_t reply = 0;
  bool timed_out = false;
  if (!read_full(ack_fd_, &reply, sizeof reply, 10000, &timed_out) || reply != kChildReady) {
    if (reply == kChildSetupFailed) {
      uint32_t detail[2] = {0, 0};
      read_full(ack_fd_, detail, sizeof detail, 1000, &timed_out);
      static const char* const kSteps[] = {"?",
                                           "memfd",
                                           "map code page at 0x400000",
                                           "map code alias",
                                           "map data pages at 0x500000",
                                           "sigaltstack",
                                           "sigaction",
                                           "seccomp"};
      setup_error_ = std::string("native child setup failed at step '") +
                     kSteps[detail[1] < 8 ? detail[1] : 0] +
                     "': " + strerror(static_cast<int>(detail[0]));
    } else {
      setup_error_ = "native child did not start";
    }
    stop_child();
    return false;
  }
  return true;
}

void NativeRunner::stop_child() {
  if (cmd_fd_ >= 0) close(cmd_fd_);
  if (ack_fd_ >= 0) close(ack_fd_);
  cmd_fd_ = ack_fd_ = -1;
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
}

void NativeRunner::run(unsigned n) {
  if (!shared_) return;  // setup_error() says why; there are no slots to report into
  unsigned begin = 0;
  while (begin < n) {
    if (pid_ <= 0) {
      if (!setup_error_.empty() || !start_child()) {
        for (unsigned i = begin; i < n; ++i) output(i).status = RunStatus::kSetupFailed;
        return;
      }
    }
    shared_->progress = begin;
    const uint32_t cmd[2] = {begin, n};
    bool timed_out = false;
    uint32_t reply = 0;
    // Generous: a case takes microseconds, but the machine may be heavily loaded.
    const int timeout_ms = 30000 + 20 * static_cast<int>(n - begin);
    if (write(cmd_fd_, cmd, sizeof cmd) == sizeof cmd &&
        read_full(ack_fd_, &reply, sizeof reply, timeout_ms, &timed_out) && reply == n)
      return;
    // The child died or hung in the middle of case `progress`: blame that case, restart.
    const unsigned bad = shared_->progress;
    stop_child();
    ++restarts_;
    output(bad).status = timed_out ? RunStatus::kTimeout : RunStatus::kChildCrashed;
    begin = bad + 1;
  }
}

}  // namespace difftest
