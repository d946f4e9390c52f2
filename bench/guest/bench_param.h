// Reads NAME=DECIMAL from the multiboot command line of a bench kernel (64-bit part); DFLT when
// the command line has no such number (0 is a valid value: the setup-only run of a benchmark).
#pragma once

#include "cpu64.h"

static inline unsigned long bench_param(const char* name, unsigned long dflt) {
  const uint32_t* mbi = (const uint32_t*)(uint64_t)report_state.multiboot_info;
  if (!mbi || !(mbi[0] & (1u << 2))) return dflt;  // flags bit 2: cmdline present
  const char* s = (const char*)(uint64_t)mbi[4];
  const size_t n = strlen(name);
  for (const char* p = s; (p = strstr_k(p, name)) != 0; p += n) {
    if ((p != s && p[-1] != ' ') || p[n] != '=') continue;
    const char* q = p + n + 1;
    if (*q < '0' || *q > '9') return dflt;
    unsigned long v = 0;
    for (; *q >= '0' && *q <= '9'; ++q) v = v * 10 + (unsigned long)(*q - '0');
    return v;
  }
  return dflt;
}
