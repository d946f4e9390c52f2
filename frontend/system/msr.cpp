// Model-specific registers: the set Umbra implements and their rules (SDM vol. 4, table 2-2;
// vol. 3, 11.11 MTRRs, 11.12 PAT, 2.2.1 EFER; vol. 2, WRMSR). docs/cpu_model.md lists them.
#include "frontend/system/msr.h"

#include <cstdio>
#include <mutex>
#include <unordered_set>

#include "frontend/cpu_state.h"
#include "frontend/semantics/system_control.h"
#include "frontend/system/cpu_model.h"
#include "frontend/system/cpu_platform.h"
#include "frontend/system/mode.h"
#include "frontend/system/tsc.h"

namespace umbra {

namespace {

// Bits MAXPHYADDR..63 of a physical-address field.
uint64_t above_maxphyaddr(const CpuModel& m) {
  return ~uint64_t{0} << m.phys_addr_bits;
}

// IA32_MTRRCAP (read-only): VCNT variable ranges, FIX (fixed ranges), WC (write-combining
// type). No SMRR (SDM vol. 3, 11.11.1).
uint64_t mtrrcap(const CpuModel& m) {
  return m.mtrr_variable_count | (1u << 8) | (1u << 10);
}

// Index into MsrFile::mtrr_fixed, or -1 (SDM vol. 3, table 11-9).
int fixed_mtrr_index(uint32_t index) {
  if (index == msr::MTRR_FIX64K_00000) return 0;
  if (index == msr::MTRR_FIX16K_80000) return 1;
  if (index == msr::MTRR_FIX16K_A0000) return 2;
  if (index >= msr::MTRR_FIX4K_C0000 && index <= msr::MTRR_FIX4K_C0000 + 7)
    return 3 + static_cast<int>(index - msr::MTRR_FIX4K_C0000);
  return -1;
}

bool every_byte(uint64_t v, bool (*valid)(uint64_t)) {
  for (unsigned k = 0; k < 8; ++k)
    if (!valid((v >> (8 * k)) & 0xff)) return false;
  return true;
}

// IA32_MISC_ENABLE: the writable bits, and the read-only bits that always read as 1.
constexpr uint64_t kMiscWritable = misc_enable::FAST_STRINGS | misc_enable::AUTO_THERMAL |
                                   misc_enable::LIMIT_CPUID | misc_enable::XTPR_DISABLE |
                                   misc_enable::XD_DISABLE;
constexpr uint64_t kMiscFixedOnes = misc_enable::BTS_UNAVAILABLE | misc_enable::PEBS_UNAVAILABLE;

// IA32_APIC_BASE: BSP (bit 8, read-only), x2APIC enable (bit 10, only with x2APIC), global
// enable (bit 11), base (bits 12..MAXPHYADDR-1) (SDM vol. 3, 11.4.4).
constexpr uint64_t kApicBsp = 1u << 8, kApicX2 = 1u << 10, kApicEnable = 1u << 11;

void log_unknown(const char* what, uint32_t index) {
  static std::mutex mu;
  static std::unordered_set<uint64_t> seen;
  std::lock_guard<std::mutex> lock(mu);
  const uint64_t key = (uint64_t{what[0] == 'w'} << 32) | index;
  if (seen.insert(key).second)
    std::fprintf(stderr, "umbra: %s of unknown MSR %#x: #GP\n", what, index);
}

}  // namespace

bool read_msr(CpuState& cpu, uint32_t index, uint64_t* value) {
  const CpuModel& m = model_of(cpu);
  MsrFile& f = cpu.msrs;
  uint64_t v = 0;
  switch (index) {
    case msr::TSC:
      v = read_guest_tsc(cpu);
      break;
    case msr::PLATFORM_ID:
      v = 0;  // platform ID 0 (bits 52:50)
      break;
    case msr::FEATURE_CONTROL:
      // Locked (bit 0) with VMX and SMX disabled, as firmware leaves it on a processor whose
      // VMX is off (SDM vol. 3, 23.7): the model has neither VMX nor SMX.
      v = 1;
      break;
    case msr::TSC_ADJUST:
      if (!m.has(Feature::TSC_ADJUST)) goto unknown;
      v = f.tsc_adjust;
      break;
    case msr::APIC_BASE:
      v = cpu.msr_apic_base;
      break;
    case msr::BIOS_SIGN_ID:
      v = uint64_t{m.microcode_revision} << 32;
      break;
    case msr::MTRRCAP:
      if (!m.has(Feature::MTRR)) goto unknown;
      v = mtrrcap(m);
      break;
    case msr::SYSENTER_CS:
    case msr::SYSENTER_ESP:
    case msr::SYSENTER_EIP:
      if (!m.has(Feature::SEP)) goto unknown;
      v = index == msr::SYSENTER_CS    ? cpu.msr_sysenter_cs
          : index == msr::SYSENTER_ESP ? cpu.msr_sysenter_esp
                                       : cpu.msr_sysenter_eip;
      break;
    case msr::MISC_ENABLE:
      v = cpu.msr_misc_enable | kMiscFixedOnes;
      break;
    case msr::PAT:
      if (!m.has(Feature::PAT)) goto unknown;
      v = cpu.msr_pat;
      break;
    case msr::MTRR_DEF_TYPE:
      if (!m.has(Feature::MTRR)) goto unknown;
      v = f.mtrr_def_type;
      break;
    case msr::EFER:
      if (!m.has(Feature::LM) && !m.has(Feature::NX) && !m.has(Feature::SYSCALL)) goto unknown;
      v = cpu.efer;
      break;
    case msr::STAR:
    case msr::LSTAR:
    case msr::CSTAR:
    case msr::FMASK:
    case msr::FS_BASE:
    case msr::GS_BASE:
    case msr::KERNEL_GS_BASE:
      if (!m.has(Feature::LM)) goto unknown;
      switch (index) {
        case msr::STAR:
          v = cpu.msr_star;
          break;
        case msr::LSTAR:
          v = cpu.msr_lstar;
          break;
        case msr::CSTAR:
          v = cpu.msr_cstar;
          break;
        case msr::FMASK:
          v = cpu.msr_sfmask;
          break;
        case msr::FS_BASE:
          v = cpu.seg[FS].base;
          break;
        case msr::GS_BASE:
          v = cpu.seg[GS].base;
          break;
        default:
          v = cpu.msr_kernel_gs_base;
          break;
      }
      break;
    case msr::TSC_AUX:  // exists with RDTSCP or RDPID (SDM vol. 4, table 2-2)
      if (!m.has(Feature::RDTSCP) && !m.has(Feature::RDPID)) goto unknown;
      v = cpu.msr_tsc_aux;
      break;
    default: {
      if (m.has(Feature::MTRR) && index >= msr::MTRR_PHYSBASE0 &&
          index < msr::MTRR_PHYSBASE0 + 2u * m.mtrr_variable_count) {
        const unsigned n = (index - msr::MTRR_PHYSBASE0) / 2;
        v = (index & 1) ? f.mtrr_physmask[n] : f.mtrr_physbase[n];
        break;
      }
      const int fixed = fixed_mtrr_index(index);
      if (m.has(Feature::MTRR) && fixed >= 0) {
        v = f.mtrr_fixed[fixed];
        break;
      }
      goto unknown;
    }
  }
  *value = v;
  return true;
unknown:
  // The board implements the rest of the APIC's MSRs (IA32_TSC_DEADLINE, the x2APIC range).
  if (cpu.platform && cpu.platform->read_msr(cpu, index, value)) return true;
  log_unknown("rdmsr", index);
  return false;
}

bool write_msr(CpuState& cpu, uint32_t index, uint64_t v) {
  const CpuModel& m = model_of(cpu);
  MsrFile& f = cpu.msrs;
  switch (index) {
    case msr::TSC:
      write_guest_tsc(cpu, v);
      return true;
    case msr::PLATFORM_ID:
      return false;  // read-only
    case msr::FEATURE_CONTROL:
      return false;  // locked: writes #GP (SDM vol. 4, table 2-2)
    case msr::TSC_ADJUST:
      if (!m.has(Feature::TSC_ADJUST)) break;
      write_guest_tsc_adjust(cpu, v);
      return true;
    case msr::APIC_BASE: {
      const uint64_t writable = kApicEnable | (m.has(Feature::X2APIC) ? kApicX2 : 0) |
                                (~above_maxphyaddr(m) & ~uint64_t{0xfff});
      if (v & ~(writable | kApicBsp)) return false;
      // x2APIC mode requires the xAPIC global enable (SDM vol. 3, 11.12.5 table 11-5).
      if ((v & kApicX2) && !(v & kApicEnable)) return false;
      cpu.msr_apic_base = (v & writable) | (cpu.msr_apic_base & kApicBsp);
      if (cpu.platform) cpu.platform->apic_base_changed(cpu);  // the APIC moves or is disabled
      return true;
    }
    case msr::BIOS_SIGN_ID:
      // Software writes 0 before CPUID leaf 1 to read the revision back (SDM vol. 3, 9.11.7.1);
      // there is no microcode to update, so the write has no effect.
      return true;
    case msr::MTRRCAP:
      if (!m.has(Feature::MTRR)) break;
      return false;  // read-only
    case msr::SYSENTER_CS:
      if (!m.has(Feature::SEP)) break;
      cpu.msr_sysenter_cs = v;
      return true;
    case msr::SYSENTER_ESP:
    case msr::SYSENTER_EIP:
      if (!m.has(Feature::SEP)) break;
      // On processors with Intel 64 these hold linear addresses and must be canonical
      // (SDM vol. 2, WRMSR).
      if (m.has(Feature::LM) && !is_canonical48(v)) return false;
      (index == msr::SYSENTER_ESP ? cpu.msr_sysenter_esp : cpu.msr_sysenter_eip) = v;
      return true;
    case msr::MISC_ENABLE:
      // Read-only bits may be written with their current value (software writes back what it
      // read); any other change outside the writable set is reserved.
      if ((v & ~(kMiscWritable | kMiscFixedOnes)) != 0) return false;
      if ((v & misc_enable::XD_DISABLE) && (cpu.efer & efer::NXE)) {
        // Hiding NX while EFER.NXE is set would leave NXE set on a CPU without NX; the SDM does
        // not define it. Refuse, as KVM-style hypervisors do.
        return false;
      }
      cpu.msr_misc_enable = v & kMiscWritable;
      return true;
    case msr::PAT:
      if (!m.has(Feature::PAT)) break;
      // Eight entries, each a valid memory type in bits 2:0 and zero in bits 7:3
      // (SDM vol. 3, 11.12.2: reserved encodings 2 and 3 and any bit above raise #GP).
      if (!every_byte(v, valid_pat_type)) return false;
      cpu.msr_pat = v;  // memory types have no effect in Umbra: nothing to flush
      return true;
    case msr::MTRR_DEF_TYPE:
      if (!m.has(Feature::MTRR)) break;
      // Type (7:0), FE (10), E (11); everything else reserved (SDM vol. 3, 11.11.2.1).
      if ((v & ~uint64_t{0xCFF}) || !valid_mtrr_type(v & 0xff)) return false;
      f.mtrr_def_type = v;
      return true;
    case msr::EFER: {
      const uint64_t valid = efer_valid_bits(m);
      if (!valid) break;
      if (v & ~valid) return false;
      if ((v & efer::NXE) && (cpu.msr_misc_enable & misc_enable::XD_DISABLE)) return false;
      // LMA is read-only: a write keeps the current value (SDM vol. 3, 2.2.1, "IA32_EFER").
      const uint64_t nv = (v & ~efer::LMA) | (cpu.efer & efer::LMA);
      // LME cannot change while paging is enabled (SDM vol. 3, 4.1.2; vol. 2, WRMSR).
      if (((nv ^ cpu.efer) & efer::LME) && (cpu.cr0 & cr0::PG)) return false;
      const uint64_t old = cpu.efer;
      cpu.efer = nv;
      control_registers_written(cpu, cpu.cr0, cpu.cr4, old);
      return true;
    }
    case msr::STAR:
      if (!m.has(Feature::LM)) break;
      cpu.msr_star = v;
      return true;
    case msr::LSTAR:
    case msr::CSTAR:
    case msr::FS_BASE:
    case msr::GS_BASE:
    case msr::KERNEL_GS_BASE:
      if (!m.has(Feature::LM)) break;
      if (!is_canonical48(v)) return false;  // SDM vol. 2, WRMSR: #GP on non-canonical
      switch (index) {
        case msr::LSTAR:
          cpu.msr_lstar = v;
          break;
        case msr::CSTAR:
          cpu.msr_cstar = v;
          break;
        case msr::FS_BASE:
          cpu.seg[FS].base = v;
          break;
        case msr::GS_BASE:
          cpu.seg[GS].base = v;
          break;
        default:
          cpu.msr_kernel_gs_base = v;
          break;
      }
      return true;
    case msr::FMASK:
      if (!m.has(Feature::LM)) break;
      if (v >> 32) return false;  // IA32_FMASK bits 63:32 are reserved
      cpu.msr_sfmask = v;
      return true;
    case msr::TSC_AUX:
      if (!m.has(Feature::RDTSCP) && !m.has(Feature::RDPID)) break;
      if (v >> 32) return false;  // IA32_TSC_AUX bits 63:32 are reserved
      cpu.msr_tsc_aux = v;
      return true;
    default: {
      if (m.has(Feature::MTRR) && index >= msr::MTRR_PHYSBASE0 &&
          index < msr::MTRR_PHYSBASE0 + 2u * m.mtrr_variable_count) {
        const unsigned n = (index - msr::MTRR_PHYSBASE0) / 2;
        if (index & 1) {
          // IA32_MTRR_PHYSMASKn: valid (11), mask (12..MAXPHYADDR-1) (SDM vol. 3, 11.11.2.3).
          if (v & (above_maxphyaddr(m) | 0x7FF)) return false;
          f.mtrr_physmask[n] = v;
        } else {
          // IA32_MTRR_PHYSBASEn: type (7:0), base (12..MAXPHYADDR-1).
          if ((v & (above_maxphyaddr(m) | 0xF00)) || !valid_mtrr_type(v & 0xff)) return false;
          f.mtrr_physbase[n] = v;
        }
        return true;
      }
      const int fixed = fixed_mtrr_index(index);
      if (m.has(Feature::MTRR) && fixed >= 0) {
        if (!every_byte(v, valid_mtrr_type)) return false;  // eight memory-type fields
        f.mtrr_fixed[fixed] = v;
        return true;
      }
      break;
    }
  }
  if (cpu.platform && cpu.platform->write_msr(cpu, index, v)) return true;
  log_unknown("wrmsr", index);
  return false;
}

void reset_model_state(CpuState& cpu, const CpuModel& model) {
  cpu.cpu_model = &model;
  cpu.msrs = MsrFile{};
  cpu.msr_pat = 0x0007040600070406ull;
  cpu.msr_misc_enable = misc_enable::FAST_STRINGS;
  cpu.msr_apic_base = 0xFEE00000ull | kApicEnable | kApicBsp;
  cpu.msr_tsc_aux = 0;
  cpu.dr[6] = 0xFFFF0FF0;
  cpu.dr[7] = 0x400;
  write_guest_tsc(cpu, 0);
  cpu.msrs.tsc_adjust = 0;  // both start at 0 (SDM vol. 3, 18.17.3)
}

}  // namespace umbra
