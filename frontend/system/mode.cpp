#include "frontend/system/mode.h"

namespace umbra {

void update_cpu_mode(CpuState& cpu) {
  const uint16_t cs = cpu.seg[CS].attrib, ss = cpu.seg[SS].attrib;
  if (!protected_mode(cpu)) {
    cpu.cpl = 0;
  } else if (cpu.rflags & rf::VM) {
    cpu.cpl = 3;
  } else {
    cpu.cpl = static_cast<uint8_t>(seg_attr::dpl(cs));
  }
  cpu.mode64 = long_mode_active(cpu) && (cs & seg_attr::L) && !(cpu.rflags & rf::VM);
  cpu.code32 = !cpu.mode64 && !(cpu.rflags & rf::VM) && (cs & seg_attr::DB);
  cpu.stack32 = !(cpu.rflags & rf::VM) && (ss & seg_attr::DB);
}

}  // namespace umbra
