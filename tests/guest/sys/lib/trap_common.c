// The event record and the checks over it, shared by the 32-bit and 64-bit parts.
#include "ksys.h"
#include "trap.h"

volatile struct trap_info trap;
volatile ureg probe_ip, probe_next;
volatile ureg catch_ip, catch_sp, catch_bp;
volatile ureg user_cs, user_ss, user_sp, user_flags = EFL_FIXED;
int (*volatile trap_hook)(void* frame);

void trap_reset(void) {
  memset((void*)&trap, 0, sizeof trap);
  trap.vector = ~0u;
  probe_ip = probe_next = 0;
}

const char* vector_name(uint32_t vector) {
  static const char* const names[32] = {"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
                                        "#DF", "CSO", "#TS", "#NP", "#SS", "#GP", "#PF", "15",
                                        "#MF", "#AC", "#MC", "#XM", "#VE", "#CP"};
  if (vector == VEC_USER_DONE) return "user-done";
  if (vector < 32 && names[vector]) return names[vector];
  return "int";
}

void expect_trap(const char* what, uint32_t vector, long long error_code, ureg ip) {
  if (!check_eq(trap.vector, vector, "%s: vector %s", what, vector_name(vector))) print_trap();
  if (error_code == NO_ERROR_CODE) {
    check_eq(trap.has_error, 0, "%s: no error code", what);
  } else {
    check_eq(trap.error_code, (uint64_t)error_code, "%s: error code", what);
  }
  check_eq(trap.ip, ip, "%s: saved instruction pointer", what);
}

void expect_trap_sdm(const char* what, uint32_t vector, long long sdm_error_code,
                     long long qemu_error_code, ureg ip) {
  if (!check_eq(trap.vector, vector, "%s: vector %s", what, vector_name(vector))) print_trap();
  check_eq_sdm(trap.error_code, (uint64_t)sdm_error_code, (uint64_t)qemu_error_code,
               "%s: error code", what);
  check_eq(trap.ip, ip, "%s: saved instruction pointer", what);
}

void expect_user_done(const char* what) {
  if (!check_eq(trap.vector, VEC_USER_DONE, "%s: ring-3 code ran to its end", what)) print_trap();
}

void print_trap(void) {
  kprintf("  event %u (%s) error %s0x%x at %llx:%llx flags %llx", trap.vector,
          vector_name(trap.vector), trap.has_error ? "" : "(none) ", trap.error_code,
          (unsigned long long)trap.cs, (unsigned long long)trap.ip, (unsigned long long)trap.flags);
  if (trap.stack_switched)
    kprintf(" stack %llx:%llx", (unsigned long long)trap.ss, (unsigned long long)trap.sp);
  kprintf(" cr2 %llx entry-sp %llx\n", (unsigned long long)trap.cr2,
          (unsigned long long)trap.entry_sp);
}
