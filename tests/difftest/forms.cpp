// The form table and helpers shared by the forms_*.cpp files.
#include "forms.h"

#include "forms_fp.h"

namespace difftest {

const char* acc_name(unsigned size) {
  switch (size) {
    case 1:
      return "al";
    case 2:
      return "ax";
    case 4:
      return "eax";
    default:
      return "rax";
  }
}

bool fix_operand(Gen& g, uint8_t r, unsigned size, uint64_t want, uint64_t* actual) {
  const uint8_t gpr = gpr_of(r);
  const unsigned shift = (size == 1 && r >= kAH) ? 8 : 0;
  const uint64_t mask = size_mask(size) << shift;
  const uint64_t full = (g.rng.next() & ~mask) | ((want << shift) & mask);
  uint64_t v;
  if (!g.fix_or_known(gpr, full, &v)) return false;
  *actual = (v & mask) >> shift;
  return true;
}

const std::vector<Form>& all_forms() {
  static const std::vector<Form> forms = [] {
    std::vector<Form> f;
    add_alu_forms(f);
    add_muldiv_forms(f);
    add_shift_forms(f);
    add_bit_forms(f);
    add_bmi_forms(f);
    add_datamov_forms(f);
    add_control_forms(f);
    add_stack_forms(f);
    add_string_forms(f);
    add_misc_forms(f);
    add_loop_forms(f);
    add_sys_segment_forms(f);
    add_sys_descriptor_forms(f);
    add_sys_interrupt_forms(f);
    add_sys_privileged_forms(f);
    add_sys_far_forms(f);
    add_fp_simd_forms(f);
    add_fp_x87_forms(f);
    add_fp_state_forms(f);
    return f;
  }();
  return forms;
}

}  // namespace difftest
