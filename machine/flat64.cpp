#include "machine/flat64.h"

#include <cstring>

#include "frontend/flags.h"
#include "jit/tier0.h"

namespace umbra {

Flat64Machine::Flat64Machine(uint64_t ram_bytes, AddressTranslator* translator)
    : memory_(ram_bytes), cpu_(std::make_unique<CpuState>()) {
  cpu_->memory = &memory_;
  cpu_->translator = translator ? translator : &identity_;
  cpu_->ports = &ports_;
  engine_ = std::make_unique<Tier0Engine>(*cpu_);
  reset64(0, 0);
}

Flat64Machine::~Flat64Machine() = default;

void Flat64Machine::reset64(uint64_t rip, uint64_t rsp, uint8_t cpl) {
  CpuState& c = *cpu_;
  for (uint64_t& g : c.gpr) g = 0;
  c.gpr[RSP] = rsp;
  c.rip = rip;
  c.rflags = rf::FIXED1 | rf::IF;
  c.lazy = LazyFlags{};
  // Flat 64-bit segments (SDM vol. 3, 3.4.5): code = execute/read accessed (type 0xB), S=1,
  // present, L=1; data = read/write accessed (type 3), S=1, present, B=1.
  const uint16_t dpl = static_cast<uint16_t>(cpl) << 5;
  for (int s = 0; s < kNumSegRegs; ++s) {
    c.seg[s] = SegmentCache{0, 0xffffffff, static_cast<uint16_t>(0x10 | cpl),
                            static_cast<uint16_t>(0x3 | 0x10 | dpl | seg_attr::P | seg_attr::DB |
                                                  seg_attr::G)};
  }
  c.seg[CS] = SegmentCache{0, 0xffffffff, static_cast<uint16_t>(0x08 | cpl),
                           static_cast<uint16_t>(0xB | 0x10 | dpl | seg_attr::P | seg_attr::L |
                                                 seg_attr::G)};
  c.cr0 = 0x80000011;  // PG | ET | PE
  c.cr4 = 0x20;        // PAE
  c.efer = 0x500;      // LME | LMA
  c.cpl = cpl;
  c.mode64 = 1;
  c.code32 = 0;
  c.stack32 = 1;
  c.halted = 0;
  c.exit_request = 0;
  c.mxcsr = 0x1f80;
  c.x87.fcw = 0x37f;
  tlb_flush_all(c);
}

RunResult Flat64Machine::run(uint64_t max_insns) { return engine_->run(max_insns); }

}  // namespace umbra
