#include "softmmu/mmu_introspect.h"

#include "softmmu/guest_memory.h"
#include "softmmu/paging_translator.h"

namespace umbra {

PageCacheState page_cache_state(CpuState& cpu, uint64_t linear) {
  PageCacheState s;
  const uint64_t page = linear & kPageMask;
  const TlbEntry& e = cpu.tlb[(linear >> kPageShift) & (kTlbSize - 1)];
  s.tlb_read = e.tag_read == page;
  s.tlb_write = e.tag_write == page;
  s.tlb_exec = e.tag_exec == page;
  if ((s.tlb_read || s.tlb_write || s.tlb_exec) && cpu.memory) {
    const uint8_t* host = reinterpret_cast<const uint8_t*>(page + e.addend);
    s.tlb_host_paddr = static_cast<uint64_t>(host - cpu.memory->ram());
  }
  return s;
}

std::vector<MmuCounter> mmu_counters(CpuState& cpu) {
  std::vector<MmuCounter> out;
  if (auto* pt = dynamic_cast<PagingTranslator*>(cpu.translator)) {
    const PagingStats& st = pt->stats();
    out.push_back({"translations", st.translations});
    out.push_back({"identity translations", st.identity});
    out.push_back({"guest walks", st.walks});
    out.push_back({"guest page faults", st.faults_total()});
  }
  return out;
}

std::vector<std::string> mmu_address_spaces(CpuState&) { return {}; }

}  // namespace umbra
