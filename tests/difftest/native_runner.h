// Runs test cases natively on the host CPU, in a forked child that owns the fixed code and data
// pages, so that whatever a random instruction does, the harness survives. Batches of cases go
// through shared memory; a pipe carries the "run [begin, end)" command and the reply.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "layout.h"

namespace difftest {

struct NativeShared;  // the shared-memory block (native_shared.h)

class NativeRunner {
 public:
  // `ldt`: the child gets an LDT with a fixed set of user descriptors (native_child.cpp).
  explicit NativeRunner(unsigned capacity, bool ldt = false);
  ~NativeRunner();
  NativeRunner(const NativeRunner&) = delete;
  NativeRunner& operator=(const NativeRunner&) = delete;

  unsigned capacity() const { return capacity_; }
  // Slots in shared memory: fill inputs, call run(), read outputs.
  CaseInput& input(unsigned i);
  CaseOutput& output(unsigned i);

  // Runs slots [0, n). Every output gets a status; a case that kills or hangs the child is
  // reported as kChildCrashed / kTimeout and the child is restarted for the rest.
  void run(unsigned n);

  uint64_t restarts() const { return restarts_; }
  // Set when the child could not even be started (e.g. the fixed addresses are taken).
  const std::string& setup_error() const { return setup_error_; }

 private:
  bool start_child();
  void stop_child();

  unsigned capacity_;
  NativeShared* shared_ = nullptr;
  size_t shared_bytes_ = 0;
  pid_t pid_ = -1;
  int cmd_fd_ = -1;  // parent -> child
  int ack_fd_ = -1;  // child -> parent
  uint64_t restarts_ = 0;
  std::string setup_error_;
};

}  // namespace difftest
