// The instruction forms the generator knows: one entry per encoding and operand size, each with
// a generator function that builds one instance (operands, immediates, initial-state
// constraints, flag effects per the Intel SDM) through the Gen interface.
#pragma once

#include <string>
#include <vector>

#include "gen.h"

namespace difftest {

// Host features a form may require (checked with CPUID, cpu_features.h).
namespace feat {
constexpr uint32_t kBmi1 = 1u << 0;
constexpr uint32_t kBmi2 = 1u << 1;
constexpr uint32_t kAdx = 1u << 2;
constexpr uint32_t kLzcnt = 1u << 3;
constexpr uint32_t kPopcnt = 1u << 4;
constexpr uint32_t kLahf64 = 1u << 5;
constexpr uint32_t kCx16 = 1u << 6;
constexpr uint32_t kMovbe = 1u << 7;
constexpr uint32_t kInvpcid = 1u << 8;
constexpr uint32_t kRdtscp = 1u << 9;
// Not CPU features but what the host kernel lets a process do (host_profile.h):
constexpr uint32_t kFsgsbase = 1u << 10;        // CR4.FSGSBASE: the harness saves FS/GS
constexpr uint32_t kUmipTableGp = 1u << 11;     // SMSW/SGDT/SIDT raise #GP(0), not emulated
constexpr uint32_t kUmipSelectorGp = 1u << 12;  // SLDT/STR raise #GP(0), not emulated
constexpr uint32_t kRdpmcGp = 1u << 13;         // RDPMC raises #GP(0) (CR4.PCE clear)
constexpr uint32_t kIcebpTrap = 1u << 14;       // ICEBP is reported as a #DB trap
constexpr uint32_t kSse3 = 1u << 15;
constexpr uint32_t kSsse3 = 1u << 16;
constexpr uint32_t kSse41 = 1u << 17;
constexpr uint32_t kSse42 = 1u << 18;
constexpr uint32_t kXsave = 1u << 19;  // XSAVE with CR4.OSXSAVE set by the kernel
constexpr unsigned kNumFeatures = 20;
}  // namespace feat

// Every form, in a stable order (the index is the form id used in reports).
const std::vector<Form>& all_forms();

// Registration, one per instruction class (forms_*.cpp).
void add_alu_forms(std::vector<Form>& out);
void add_muldiv_forms(std::vector<Form>& out);
void add_shift_forms(std::vector<Form>& out);
void add_bit_forms(std::vector<Form>& out);
void add_bmi_forms(std::vector<Form>& out);
void add_datamov_forms(std::vector<Form>& out);
void add_control_forms(std::vector<Form>& out);
void add_stack_forms(std::vector<Form>& out);
void add_string_forms(std::vector<Form>& out);
void add_misc_forms(std::vector<Form>& out);
void add_loop_forms(std::vector<Form>& out);
// System instructions user code may execute (forms_sys_*.cpp); their names start with "sys: ".
void add_sys_segment_forms(std::vector<Form>& out);
void add_sys_descriptor_forms(std::vector<Form>& out);
void add_sys_interrupt_forms(std::vector<Form>& out);
void add_sys_privileged_forms(std::vector<Form>& out);
void add_sys_far_forms(std::vector<Form>& out);

// ---- helpers shared by the form files ----

// Operand-size names used in form names.
inline const char* size_suffix(unsigned size) {
  switch (size) {
    case 1:
      return "8";
    case 2:
      return "16";
    case 4:
      return "32";
    default:
      return "64";
  }
}
// "ax"/"eax"/"rax"-style accumulator names.
const char* acc_name(unsigned size);

// Immediate bytes of an "iz" immediate (16 for 16-bit operands, else 32, sign-extended to 64).
inline unsigned iz_bytes(unsigned size) {
  return size == 2 ? 2 : size == 1 ? 1 : 4;
}

// Sign-extends the low `size` bytes of v.
inline int64_t sext(uint64_t v, unsigned size) {
  const unsigned sh = 64 - 8 * size;
  return static_cast<int64_t>(v << sh) >> sh;
}

// Constrains the value a register operand of `size` holds (byte numbering for size 1, AH..BH
// included), filling bits outside the operand randomly. Returns the operand's value in *actual
// (which differs from `want` when the register was already constrained); false when unknown.
bool fix_operand(Gen& g, uint8_t r, unsigned size, uint64_t want, uint64_t* actual);

// The ModRM r/m operand as an encoder field.
inline void set_rm(Ib& ib, uint8_t reg_field, const RmOp& rm) {
  ib.s.has_modrm = true;
  ib.s.modrm_reg = reg_field;
  ib.s.rm = rm;
}

}  // namespace difftest
