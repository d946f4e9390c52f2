// The system instructions as the decoder delivers them: real encodings are decoded and run, so
// the operand conventions the handlers assume (CR/DR number slots, GRP7's ModRM byte, GRP15's
// operand kinds and prefixes, INS/OUTS sizes) are checked against the decoder itself.
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <vector>

#include "devices/port_bus.h"
#include "frontend/decoder.h"
#include "frontend/system/msr.h"
#include "tests/unit/system_insn_test_util.h"

namespace umbra::test {
namespace {

// Decodes `bytes` in 64-bit mode (or 32-bit) and runs the instruction once.
Outcome exec(TestCpu& t, std::initializer_list<uint8_t> bytes, bool mode64 = true) {
  return exec_decoded(t, std::vector<uint8_t>(bytes), mode64);
}

TEST(SysInsnDecoded, ControlAndDebugRegisters) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.gpr[RAX] = 0x30000;
  ASSERT_FALSE(exec(t, {0x0f, 0x22, 0xd8}).faulted);  // mov cr3, rax
  EXPECT_EQ(c.cr3, 0x30000u);
  ASSERT_FALSE(exec(t, {0x0f, 0x20, 0xc1}).faulted);  // mov rcx, cr0
  EXPECT_EQ(c.gpr[RCX], c.cr0);
  c.gpr[RDX] = 5;
  ASSERT_FALSE(exec(t, {0x44, 0x0f, 0x22, 0xc2}).faulted);  // mov cr8, rdx
  EXPECT_EQ(c.cr8, 5u);
  ASSERT_FALSE(exec(t, {0x44, 0x0f, 0x20, 0xc6}).faulted);  // mov rsi, cr8
  EXPECT_EQ(c.gpr[RSI], 5u);
  c.gpr[R9] = 0x1234;
  ASSERT_FALSE(exec(t, {0x41, 0x0f, 0x23, 0xc9}).faulted);  // mov dr1, r9
  EXPECT_EQ(c.dr[1], 0x1234u);
  ASSERT_FALSE(exec(t, {0x0f, 0x21, 0xf8}).faulted);  // mov rax, dr7
  EXPECT_EQ(c.gpr[RAX], 0x400u);
  c.cr0 |= cr0::TS;
  ASSERT_FALSE(exec(t, {0x0f, 0x06}).faulted);  // clts
  EXPECT_FALSE(c.cr0 & cr0::TS);
}

TEST(SysInsnDecoded, Group7) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.gpr[RBX] = 0x8000;
  t.write<uint16_t>(0x8000, 0x7ff);
  t.write<uint64_t>(0x8002, 0xffff800000010000ull);
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0x13}).faulted);  // lgdt [rbx]
  EXPECT_EQ(c.gdtr.base, 0xffff800000010000ull);
  EXPECT_EQ(c.gdtr.limit, 0x7ffu);
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0x1b}).faulted);  // lidt [rbx]
  EXPECT_EQ(c.idtr.base, 0xffff800000010000ull);
  c.gpr[RBX] = 0x8100;
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0x03}).faulted);  // sgdt [rbx]
  EXPECT_EQ(t.read<uint64_t>(0x8102), 0xffff800000010000ull);
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0xe0}).faulted);  // smsw eax
  EXPECT_EQ(c.gpr[RAX], c.cr0 & 0xffffffff);
  c.gpr[RAX] = cr0::MP;
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0xf0}).faulted);  // lmsw ax
  EXPECT_TRUE(c.cr0 & cr0::MP);
  plant(t, 0x200000);
  c.gpr[RBX] = 0x200000;
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0x3b}).faulted);  // invlpg [rbx]
  EXPECT_FALSE(tlb_holds(t, 0x200000));
  c.msr_kernel_gs_base = 0x77;
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0xf8}).faulted);  // swapgs
  EXPECT_EQ(c.seg[GS].base, 0x77u);
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0xcb}).faulted);  // stac
  EXPECT_TRUE(c.rflags & rf::AC);
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0xca}).faulted);  // clac
  EXPECT_FALSE(c.rflags & rf::AC);
  c.msr_tsc_aux = 3;
  ASSERT_FALSE(exec(t, {0x0f, 0x01, 0xf9}).faulted);  // rdtscp
  EXPECT_EQ(c.gpr[RCX], 3u);
  EXPECT_EQ(fault_of(exec(t, {0x0f, 0x01, 0xc8})), kUD);  // monitor
  EXPECT_EQ(fault_of(exec(t, {0x0f, 0x01, 0xc9})), kUD);  // mwait
}

// RDPID (F3 0F C7 /7): IA32_TSC_AUX into a 64-bit register in 64-bit mode (the host clears the
// whole register, also with 66), a 32-bit one elsewhere; any CPL, CR4.TSD does not apply; #UD on
// a model without RDPID.
TEST(SysInsnDecoded, Rdpid) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c, 3);
  c.cr4 |= cr4::TSD;
  c.msr_tsc_aux = 0x8badf00d;
  c.gpr[RAX] = ~uint64_t{0};
  ASSERT_FALSE(exec(t, {0xf3, 0x0f, 0xc7, 0xf8}).faulted);  // rdpid rax
  EXPECT_EQ(c.gpr[RAX], 0x8badf00du);
  c.gpr[R9] = ~uint64_t{0};
  ASSERT_FALSE(exec(t, {0xf3, 0x41, 0x0f, 0xc7, 0xf9}).faulted);  // rdpid r9
  EXPECT_EQ(c.gpr[R9], 0x8badf00du);
  c.gpr[RDX] = ~uint64_t{0};
  ASSERT_FALSE(exec(t, {0x66, 0xf3, 0x0f, 0xc7, 0xfa}).faulted);  // 66: still 64 bits (host)
  EXPECT_EQ(c.gpr[RDX], 0x8badf00du);
  // The value written by WRMSR, as RDTSCP sees it.
  enter_long_mode(c, 0);
  c.gpr[RCX] = msr::TSC_AUX;
  c.gpr[RAX] = 7;
  c.gpr[RDX] = 0;
  ASSERT_FALSE(exec(t, {0x0f, 0x30}).faulted);              // wrmsr
  ASSERT_FALSE(exec(t, {0xf3, 0x0f, 0xc7, 0xfb}).faulted);  // rdpid rbx
  EXPECT_EQ(c.gpr[RBX], 7u);
  // 32-bit protected mode: r32.
  enter_protected32(c, 3);
  c.gpr[RSI] = ~uint64_t{0};
  ASSERT_FALSE(exec(t, {0xf3, 0x0f, 0xc7, 0xfe}, false).faulted);  // rdpid esi
  EXPECT_EQ(c.gpr[RSI], 7u);
  // A model without RDPID: #UD, nothing written.
  const CpuModel base = *find_cpu_model("base");
  c.cpu_model = &base;
  enter_long_mode(c, 0);
  c.gpr[RAX] = 0x1234;
  EXPECT_EQ(fault_of(exec(t, {0xf3, 0x0f, 0xc7, 0xf8})), kUD);
  EXPECT_EQ(c.gpr[RAX], 0x1234u);
}

TEST(SysInsnDecoded, InvpcidAndCacheControl) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  plant(t, 0x200000);
  c.gpr[RCX] = 2;
  c.gpr[RBX] = 0x8000;
  ASSERT_FALSE(exec(t, {0x66, 0x0f, 0x38, 0x82, 0x0b}).faulted);  // invpcid rcx, [rbx]
  EXPECT_FALSE(tlb_holds(t, 0x200000));
  c.gpr[RCX] = 4;
  EXPECT_EQ(fault_of(exec(t, {0x66, 0x0f, 0x38, 0x82, 0x0b})), kGP);
  ASSERT_FALSE(exec(t, {0x0f, 0x09}).faulted);  // wbinvd
  ASSERT_FALSE(exec(t, {0x0f, 0x08}).faulted);  // invd
}

TEST(SysInsnDecoded, Group15) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.cr4 |= cr4::FSGSBASE;
  c.gpr[RAX] = 0x00007f0000001000ull;
  ASSERT_FALSE(exec(t, {0xf3, 0x48, 0x0f, 0xae, 0xd0}).faulted);  // wrfsbase rax
  EXPECT_EQ(c.seg[FS].base, 0x00007f0000001000ull);
  ASSERT_FALSE(exec(t, {0xf3, 0x48, 0x0f, 0xae, 0xc1}).faulted);  // rdfsbase rcx
  EXPECT_EQ(c.gpr[RCX], 0x00007f0000001000ull);
  c.gpr[RDX] = 0xffffffff12345678ull;
  ASSERT_FALSE(exec(t, {0xf3, 0x0f, 0xae, 0xda}).faulted);  // wrgsbase edx
  EXPECT_EQ(c.seg[GS].base, 0x12345678u);
  c.gpr[RBX] = 0x8000;
  ASSERT_FALSE(exec(t, {0x0f, 0xae, 0x3b}).faulted);        // clflush [rbx]
  ASSERT_FALSE(exec(t, {0x66, 0x0f, 0xae, 0x3b}).faulted);  // clflushopt [rbx]
  ASSERT_FALSE(exec(t, {0x66, 0x0f, 0xae, 0x33}).faulted);  // clwb [rbx]
  ASSERT_FALSE(exec(t, {0x0f, 0xae, 0xe8}).faulted);        // lfence
  ASSERT_FALSE(exec(t, {0x0f, 0xae, 0xf0}).faulted);        // mfence
  ASSERT_FALSE(exec(t, {0x0f, 0xae, 0xf8}).faulted);        // sfence
  const CpuModel no_sse2 = model_with({}, {Feature::SSE2});
  c.cpu_model = &no_sse2;
  EXPECT_EQ(fault_of(exec(t, {0x0f, 0xae, 0xe8})), kUD);  // lfence without SSE2
}

TEST(SysInsnDecoded, MsrTscCpuidFlags) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  c.gpr[RCX] = msr::LSTAR;
  c.gpr[RDX] = 0xffffffff;
  c.gpr[RAX] = 0x81000000;
  ASSERT_FALSE(exec(t, {0x0f, 0x30}).faulted);  // wrmsr
  EXPECT_EQ(c.msr_lstar, 0xffffffff81000000ull);
  c.gpr[RAX] = c.gpr[RDX] = 0;
  ASSERT_FALSE(exec(t, {0x0f, 0x32}).faulted);  // rdmsr
  EXPECT_EQ(c.gpr[RDX], 0xffffffffu);
  ASSERT_FALSE(exec(t, {0x0f, 0x31}).faulted);  // rdtsc
  c.gpr[RAX] = 0;
  ASSERT_FALSE(exec(t, {0x0f, 0xa2}).faulted);      // cpuid
  EXPECT_EQ(c.gpr[RBX], 0x756e6547u);               // "Genu"
  EXPECT_EQ(fault_of(exec(t, {0x0f, 0x33})), kGP);  // rdpmc
  ASSERT_FALSE(exec(t, {0xfb}).faulted);            // sti
  EXPECT_TRUE(c.rflags & rf::IF);
  ASSERT_FALSE(exec(t, {0xfa}).faulted);  // cli
  EXPECT_FALSE(c.rflags & rf::IF);
  EXPECT_EQ(fault_of(exec(t, {0x0f, 0x0b})), kUD);              // ud2
  EXPECT_EQ(fault_of(exec(t, {0x0f, 0xb9, 0xc0})), kUD);        // ud1 eax, eax
  EXPECT_EQ(fault_of(exec(t, {0x0f, 0xff, 0x04, 0x24})), kUD);  // ud0 eax, [rsp]
}

TEST(SysInsnDecoded, PortIo) {
  TestCpu t;
  auto& c = t.cpu();
  enter_long_mode(c);
  PortBus bus;
  std::vector<uint32_t> written;
  PortHandler h;
  h.read = [](uint16_t port, unsigned size) { return 0xabcd0000u | port; };
  h.write = [&](uint16_t, unsigned size, uint32_t v) { written.push_back(v | (size << 24)); };
  bus.add(0, 0x10000, h, "test");
  c.ports = &bus;
  ASSERT_FALSE(exec(t, {0xe4, 0x60}).faulted);  // in al, 0x60
  EXPECT_EQ(c.gpr[RAX] & 0xff, 0x60u);
  c.gpr[RDX] = 0x1f0;
  c.gpr[RDI] = 0x9000;
  c.gpr[RCX] = 2;
  ASSERT_FALSE(exec(t, {0xf3, 0x6d}).faulted);  // rep insd
  EXPECT_EQ(t.read<uint32_t>(0x9000), 0xabcd01f0u);
  EXPECT_EQ(t.read<uint32_t>(0x9004), 0xabcd01f0u);
  EXPECT_EQ(c.gpr[RDI], 0x9008u);
  c.gpr[RSI] = 0x9000;
  ASSERT_FALSE(exec(t, {0x66, 0x6f}).faulted);  // outsw
  ASSERT_FALSE(exec(t, {0x6e}).faulted);        // outsb
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0], 0x020001f0u);
  EXPECT_EQ(written[1], 0x010000cdu);
  EXPECT_EQ(c.gpr[RSI], 0x9003u);
}

}  // namespace
}  // namespace umbra::test
