// The 32-bit part of kernels that only test long mode: go there at once.
#include "cpu32.h"

void kmain32(void) {
  run_64bit_part();
}
