// RDMSR/WRMSR and the MSR set (round trips, reserved bits, canonical checks, read-only MSRs,
// unknown MSRs), EFER mode rules, RDTSC/RDTSCP and the TSC, RDPMC.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "frontend/system/cpu_model.h"
#include "frontend/system/mode.h"
#include "frontend/system/msr.h"
#include "frontend/system/tsc.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

struct MsrCpu {
  TestCpu t;
  CpuState& c = t.cpu();
  MsrCpu() {
    enter_long_mode(c);
    reset_model_state(c, default_cpu_model());
  }
  Outcome wrmsr(uint32_t index, uint64_t v) {
    c.gpr[RCX] = index;
    c.gpr[RAX] = 0xdead000000000000ull | static_cast<uint32_t>(v);  // upper halves ignored
    c.gpr[RDX] = 0xbeef000000000000ull | (v >> 32);
    Insn i = simple_insn(Op::WRMSR);
    return t.run(i);
  }
  Outcome rdmsr(uint32_t index, uint64_t* v) {
    c.gpr[RCX] = index;
    c.gpr[RAX] = c.gpr[RDX] = ~uint64_t{0};
    Insn i = simple_insn(Op::RDMSR);
    Outcome o = t.run(i);
    if (!o.faulted) {
      EXPECT_EQ(c.gpr[RAX] >> 32, 0u);
      EXPECT_EQ(c.gpr[RDX] >> 32, 0u);
    }
    *v = (c.gpr[RDX] << 32) | static_cast<uint32_t>(c.gpr[RAX]);
    return o;
  }
  uint64_t read(uint32_t index) {
    uint64_t v = 0;
    EXPECT_FALSE(rdmsr(index, &v).faulted) << std::hex << index;
    return v;
  }
};

TEST(SysInsnMsr, RdmsrWrmsrNeedCpl0) {
  MsrCpu m;
  enter_long_mode(m.c, 3);
  uint64_t v;
  EXPECT_EQ(fault_of(m.rdmsr(msr::EFER, &v)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::LSTAR, 0x1000)), kGP);
  EXPECT_EQ(m.c.msr_lstar, 0u);
  EXPECT_EQ(m.c.rip, kSysRip);
  enter_v86(m.c, 3);
  EXPECT_EQ(fault_of(m.rdmsr(msr::TSC, &v)), kGP);
}

TEST(SysInsnMsr, RoundTripsAndNamedFields) {
  MsrCpu m;
  struct RoundTrip {
    uint32_t index;
    uint64_t value;
    uint64_t CpuState::*field;
  } cases[] = {
      {msr::STAR, 0x0023001000000000ull, &CpuState::msr_star},
      {msr::LSTAR, 0xffffffff81000000ull, &CpuState::msr_lstar},
      {msr::CSTAR, 0xffffffff81000100ull, &CpuState::msr_cstar},
      {msr::FMASK, 0x47700, &CpuState::msr_sfmask},
      {msr::KERNEL_GS_BASE, 0xffff888000001000ull, &CpuState::msr_kernel_gs_base},
      {msr::SYSENTER_CS, 0x10, &CpuState::msr_sysenter_cs},
      {msr::SYSENTER_ESP, 0xffffffff82000000ull, &CpuState::msr_sysenter_esp},
      {msr::SYSENTER_EIP, 0xffffffff81001000ull, &CpuState::msr_sysenter_eip},
      {msr::TSC_AUX, 0x12345678, &CpuState::msr_tsc_aux},
      {msr::PAT, 0x0007010600070106ull, &CpuState::msr_pat},
      {msr::APIC_BASE, 0xFEE00000ull | (1u << 11) | (1u << 8), &CpuState::msr_apic_base},
  };
  for (const RoundTrip& k : cases) {
    ASSERT_FALSE(m.wrmsr(k.index, k.value).faulted) << std::hex << k.index;
    EXPECT_EQ(m.c.*k.field, k.value) << std::hex << k.index;
    EXPECT_EQ(m.read(k.index), k.value) << std::hex << k.index;
  }
  EXPECT_EQ(m.c.rip, kSysRip + 2 * 2 * std::size(cases));
}

TEST(SysInsnMsr, SegmentBaseMsrsAreTheSegmentCaches) {
  MsrCpu m;
  ASSERT_FALSE(m.wrmsr(msr::FS_BASE, 0x00007f0012345000ull).faulted);
  EXPECT_EQ(m.c.seg[FS].base, 0x00007f0012345000ull);
  m.c.seg[GS].base = 0xffff888000002000ull;
  EXPECT_EQ(m.read(msr::GS_BASE), 0xffff888000002000ull);
}

TEST(SysInsnMsr, NonCanonicalAddressesAreRejected) {
  for (uint32_t index : {msr::LSTAR, msr::CSTAR, msr::FS_BASE, msr::GS_BASE, msr::KERNEL_GS_BASE,
                         msr::SYSENTER_ESP, msr::SYSENTER_EIP}) {
    MsrCpu m;
    const uint64_t before = m.read(index);
    EXPECT_EQ(fault_of(m.wrmsr(index, 0x0000800000000000ull)), kGP) << std::hex << index;
    EXPECT_EQ(m.read(index), before);
  }
}

TEST(SysInsnMsr, ReservedBits) {
  MsrCpu m;
  EXPECT_EQ(fault_of(m.wrmsr(msr::FMASK, uint64_t{1} << 32)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::TSC_AUX, uint64_t{1} << 32)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::APIC_BASE, 0xFEE00000ull | (1u << 10) | (1u << 11))),
            kGP);  // x2APIC enable without x2APIC
  EXPECT_EQ(fault_of(m.wrmsr(msr::APIC_BASE, 0xFEE00000ull | 1)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::APIC_BASE, uint64_t{1} << 40)), kGP);  // above MAXPHYADDR
  // BSP is read-only: writing it clear keeps it.
  ASSERT_FALSE(m.wrmsr(msr::APIC_BASE, 0xFED00000ull).faulted);
  EXPECT_EQ(m.read(msr::APIC_BASE), 0xFED00000ull | (1u << 8));
}

TEST(SysInsnMsr, PatRejectsInvalidMemoryTypes) {
  MsrCpu m;
  const uint64_t reset = m.read(msr::PAT);
  EXPECT_EQ(reset, 0x0007040600070406ull);
  auto with_entry = [&](unsigned n, uint64_t type) {
    return (reset & ~(uint64_t{0xff} << (8 * n))) | (type << (8 * n));
  };
  // Types 2 and 3 are reserved; bits 7:3 of an entry are reserved.
  for (uint64_t bad : {with_entry(0, 2), with_entry(3, 3), with_entry(7, 8), with_entry(1, 0x16),
                       with_entry(5, 0x80)}) {
    EXPECT_EQ(fault_of(m.wrmsr(msr::PAT, bad)), kGP) << std::hex << bad;
    EXPECT_EQ(m.read(msr::PAT), reset);
  }
  EXPECT_FALSE(m.wrmsr(msr::PAT, 0x0706050401000001ull).faulted);
}

TEST(SysInsnMsr, MtrrCapabilityAndRanges) {
  MsrCpu m;
  const uint64_t cap = m.read(msr::MTRRCAP);
  const unsigned vcnt = cap & 0xff;
  EXPECT_EQ(vcnt, default_cpu_model().mtrr_variable_count);
  EXPECT_TRUE(cap & (1u << 8));                          // fixed ranges
  EXPECT_TRUE(cap & (1u << 10));                         // write combining
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRRCAP, cap)), kGP);  // read-only
  for (unsigned n = 0; n < vcnt; ++n) {
    const uint32_t base = msr::MTRR_PHYSBASE0 + 2 * n;
    ASSERT_FALSE(m.wrmsr(base, 0x80000006ull + (uint64_t{n} << 20)).faulted);
    ASSERT_FALSE(m.wrmsr(base + 1, 0xFFF0000800ull).faulted);
    EXPECT_EQ(m.read(base), 0x80000006ull + (uint64_t{n} << 20));
    EXPECT_EQ(m.read(base + 1), 0xFFF0000800ull);
  }
  // Beyond VCNT: no such MSR.
  uint64_t v;
  EXPECT_EQ(fault_of(m.rdmsr(msr::MTRR_PHYSBASE0 + 2 * vcnt, &v)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_PHYSBASE0 + 2 * vcnt + 1, 0)), kGP);
  // PHYSBASE: invalid type, reserved 11:8, bits above MAXPHYADDR.
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_PHYSBASE0, 0x2)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_PHYSBASE0, 0x100)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_PHYSBASE0, uint64_t{1} << 40)), kGP);
  // PHYSMASK: reserved 10:0, bits above MAXPHYADDR.
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_PHYSBASE0 + 1, 0x400)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_PHYSBASE0 + 1, uint64_t{1} << 45)), kGP);
  // Default type: E, FE, type; reserved bits and invalid types.
  ASSERT_FALSE(m.wrmsr(msr::MTRR_DEF_TYPE, 0xC06).faulted);
  EXPECT_EQ(m.read(msr::MTRR_DEF_TYPE), 0xC06u);
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_DEF_TYPE, 0x1006)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::MTRR_DEF_TYPE, 0xC07)), kGP);
  // Fixed ranges: every byte a valid type.
  for (uint32_t f : {msr::MTRR_FIX64K_00000, msr::MTRR_FIX16K_80000, msr::MTRR_FIX16K_A0000,
                     msr::MTRR_FIX4K_C0000, msr::MTRR_FIX4K_C0000 + 7}) {
    ASSERT_FALSE(m.wrmsr(f, 0x0606060605050000ull).faulted) << std::hex << f;
    EXPECT_EQ(m.read(f), 0x0606060605050000ull);
    EXPECT_EQ(fault_of(m.wrmsr(f, 0x0606060605050007ull)), kGP);
  }
}

TEST(SysInsnMsr, UnknownMsrFaultsAndIsLoggedOnce) {
  MsrCpu m;
  testing::internal::CaptureStderr();
  uint64_t v;
  EXPECT_EQ(fault_of(m.rdmsr(0x12345678, &v)), kGP);
  EXPECT_EQ(fault_of(m.rdmsr(0x12345678, &v)), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(0x12345679, 1)), kGP);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("rdmsr of unknown MSR 0x12345678: #GP"), std::string::npos) << err;
  EXPECT_EQ(err.find("0x12345678"), err.rfind("0x12345678")) << "logged twice: " << err;
  EXPECT_NE(err.find("wrmsr of unknown MSR 0x12345679: #GP"), std::string::npos) << err;
  // MSRs of features the model lacks do not exist.
  const CpuModel base = *find_cpu_model("base");
  m.c.cpu_model = &base;
  EXPECT_EQ(fault_of(m.rdmsr(msr::TSC_AUX, &v)), kGP);
  EXPECT_EQ(m.c.rip, kSysRip);
}

TEST(SysInsnMsr, EferBitsAndRules) {
  MsrCpu m;
  // Reserved bits.
  EXPECT_EQ(fault_of(m.wrmsr(msr::EFER, m.c.efer | (1u << 1))), kGP);
  EXPECT_EQ(fault_of(m.wrmsr(msr::EFER, m.c.efer | (1u << 12))), kGP);  // SVME (AMD)
  EXPECT_EQ(fault_of(m.wrmsr(msr::EFER, m.c.efer | (uint64_t{1} << 32))), kGP);
  // LMA is read-only: a write without it keeps it.
  ASSERT_FALSE(m.wrmsr(msr::EFER, efer::LME | efer::SCE).faulted);
  EXPECT_EQ(m.c.efer, efer::LME | efer::LMA | efer::SCE);
  // LME cannot change while paging is on.
  EXPECT_EQ(fault_of(m.wrmsr(msr::EFER, efer::SCE)), kGP);
  EXPECT_TRUE(m.c.efer & efer::LME);
  // With paging off it can; LMA stays as the mode says.
  enter_protected32(m.c);
  ASSERT_FALSE(m.wrmsr(msr::EFER, efer::LME | efer::NXE).faulted);
  EXPECT_EQ(m.read(msr::EFER), efer::LME | efer::NXE);
}

TEST(SysInsnMsr, EferNxeChangeFlushesTheTlb) {
  MsrCpu m;
  touch(m.t, 0x5000);
  ASSERT_FALSE(m.wrmsr(msr::EFER, m.c.efer & ~efer::NXE).faulted);
  EXPECT_FALSE(tlb_holds(m.t, 0x5000));
  touch(m.t, 0x5000);
  ASSERT_FALSE(m.wrmsr(msr::EFER, m.c.efer & ~efer::SCE).faulted);  // SCE: no flush
  EXPECT_TRUE(tlb_holds(m.t, 0x5000));
}

TEST(SysInsnMsr, MiscEnable) {
  MsrCpu m;
  const uint64_t reset = m.read(msr::MISC_ENABLE);
  EXPECT_EQ(reset, misc_enable::FAST_STRINGS | misc_enable::BTS_UNAVAILABLE |
                       misc_enable::PEBS_UNAVAILABLE);
  EXPECT_EQ(fault_of(m.wrmsr(msr::MISC_ENABLE, reset | (1u << 16))), kGP);  // EIST: no
  // LIMIT_CPUID: leaf 0 reports 2.
  ASSERT_FALSE(m.wrmsr(msr::MISC_ENABLE, reset | misc_enable::LIMIT_CPUID).faulted);
  uint32_t out[4];
  cpuid_for(m.c, 0, 0, out);
  EXPECT_EQ(out[0], 2u);
  // XD_DISABLE cannot be set while EFER.NXE is set; without NXE it hides NX and makes NXE
  // reserved.
  EXPECT_EQ(fault_of(m.wrmsr(msr::MISC_ENABLE, reset | misc_enable::XD_DISABLE)), kGP);
  ASSERT_FALSE(m.wrmsr(msr::EFER, m.c.efer & ~efer::NXE).faulted);
  ASSERT_FALSE(m.wrmsr(msr::MISC_ENABLE, reset | misc_enable::XD_DISABLE).faulted);
  cpuid_for(m.c, 0x80000001, 0, out);
  EXPECT_FALSE(out[3] & feature_mask(Feature::NX));
  EXPECT_EQ(fault_of(m.wrmsr(msr::EFER, m.c.efer | efer::NXE)), kGP);
  ASSERT_FALSE(m.wrmsr(msr::MISC_ENABLE, reset).faulted);
  cpuid_for(m.c, 0x80000001, 0, out);
  EXPECT_TRUE(out[3] & feature_mask(Feature::NX));
}

TEST(SysInsnMsr, MicrocodeSignatureAndPlatformId) {
  MsrCpu m;
  ASSERT_FALSE(m.wrmsr(msr::BIOS_SIGN_ID, 0).faulted);
  EXPECT_EQ(m.read(msr::BIOS_SIGN_ID), uint64_t{default_cpu_model().microcode_revision} << 32);
  EXPECT_EQ(m.read(msr::PLATFORM_ID), 0u);
  EXPECT_EQ(fault_of(m.wrmsr(msr::PLATFORM_ID, 0)), kGP);
}

// ---- time stamp counter ----

uint64_t run_rdtsc(MsrCpu& m, Op op = Op::RDTSC) {
  Insn i = simple_insn(op, op == Op::RDTSC ? 2 : 3);
  Outcome o = m.t.run(i);
  EXPECT_FALSE(o.faulted);
  return (m.c.gpr[RDX] << 32) | static_cast<uint32_t>(m.c.gpr[RAX]);
}

TEST(SysInsnTsc, StrictlyIncreasing) {
  MsrCpu m;
  uint64_t last = run_rdtsc(m);
  for (int k = 0; k < 1000; ++k) {
    const uint64_t v = run_rdtsc(m);
    ASSERT_GT(v, last);
    last = v;
  }
  EXPECT_GT(m.read(msr::TSC), last);
}

TEST(SysInsnTsc, RunsAtTheModelFrequency) {
  MsrCpu m;
  const uint64_t t0 = run_rdtsc(m);
  const uint64_t ns0 = host_monotonic_ns();
  while (host_monotonic_ns() - ns0 < 20'000'000) {
  }
  const uint64_t t1 = run_rdtsc(m);
  const uint64_t ns1 = host_monotonic_ns();
  const double hz = static_cast<double>(t1 - t0) * 1e9 / static_cast<double>(ns1 - ns0);
  const double nominal = static_cast<double>(default_cpu_model().tsc_hz);
  EXPECT_GT(hz, nominal * 0.9);
  EXPECT_LT(hz, nominal * 1.1);
}

TEST(SysInsnTsc, WriteSetsTheCounter) {
  MsrCpu m;
  const uint64_t target = uint64_t{1} << 50;
  ASSERT_FALSE(m.wrmsr(msr::TSC, target).faulted);
  const uint64_t v = run_rdtsc(m);
  EXPECT_GE(v, target);
  EXPECT_LT(v, target + default_cpu_model().tsc_hz);  // well within a second
  // Backwards works too.
  ASSERT_FALSE(m.wrmsr(msr::TSC, 1000).faulted);
  EXPECT_LT(run_rdtsc(m), target);
}

TEST(SysInsnTsc, TimeStampDisableRestrictsToCpl0) {
  for (Op op : {Op::RDTSC, Op::RDTSCP}) {  // allowed at CPL 3 without TSD
    MsrCpu m;
    enter_long_mode(m.c, 3);
    Insn i = simple_insn(op, 3);
    EXPECT_FALSE(m.t.run(i).faulted);
  }
  MsrCpu m;
  enter_long_mode(m.c, 3);
  m.c.cr4 |= cr4::TSD;
  Insn rdtsc = simple_insn(Op::RDTSC);
  EXPECT_EQ(fault_of(m.t.run(rdtsc)), kGP);
  Insn rdtscp = simple_insn(Op::RDTSCP, 3);
  EXPECT_EQ(fault_of(m.t.run(rdtscp)), kGP);
  enter_long_mode(m.c, 0);
  m.c.cr4 |= cr4::TSD;
  EXPECT_FALSE(m.t.run(rdtsc).faulted);
}

TEST(SysInsnTsc, RdtscpReturnsTscAux) {
  MsrCpu m;
  ASSERT_FALSE(m.wrmsr(msr::TSC_AUX, 0x8badf00d).faulted);
  m.c.gpr[RCX] = ~uint64_t{0};
  const uint64_t a = run_rdtsc(m);
  const uint64_t b = run_rdtsc(m, Op::RDTSCP);
  EXPECT_GT(b, a);
  EXPECT_EQ(m.c.gpr[RCX], 0x8badf00du);
  const CpuModel base = *find_cpu_model("base");
  m.c.cpu_model = &base;
  Insn i = simple_insn(Op::RDTSCP, 3);
  EXPECT_EQ(fault_of(m.t.run(i)), kUD);
}

TEST(SysInsnPmc, RdpmcAlwaysFaults) {
  for (unsigned cpl : {0u, 3u}) {
    MsrCpu m;
    enter_long_mode(m.c, cpl);
    m.c.cr4 |= cr4::PCE;
    for (uint64_t ecx : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 30}) {
      m.c.gpr[RCX] = ecx;
      Insn i = simple_insn(Op::RDPMC);
      EXPECT_EQ(fault_of(m.t.run(i)), kGP);
    }
  }
}

}  // namespace
}  // namespace umbra::test
