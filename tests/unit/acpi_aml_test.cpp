// AML encodings of acpi/aml.h and acpi/aml_resource.h, byte for byte against the ACPI 6.x
// specification (chapter 20 for AML, section 6.4 for resource descriptors).
#include <gtest/gtest.h>

#include <stdexcept>

#include "acpi/aml.h"
#include "acpi/aml_resource.h"

namespace umbra::aml {
namespace {

AmlCode bytes(std::initializer_list<uint8_t> b) {
  return AmlCode(b);
}
AmlCode ascii(std::string_view s) {
  return AmlCode(s.begin(), s.end());
}
AmlCode join(std::initializer_list<AmlCode> parts) {
  return cat(AmlList(parts));
}

TEST(AcpiAml, PkgLengthOneByteUpTo63) {
  EXPECT_EQ(pkg_length(0), bytes({0x01}));
  EXPECT_EQ(pkg_length(62), bytes({0x3F}));  // 62 + 1 = 63, the largest one-byte value
}

TEST(AcpiAml, PkgLengthTwoBytes) {
  // 63 bytes of body + 2 bytes of PkgLength = 65 = 0x41: lead 0x40 | low nibble 1, then 0x04.
  EXPECT_EQ(pkg_length(63), bytes({0x41, 0x04}));
  EXPECT_EQ(pkg_length(4093), bytes({0x4F, 0xFF}));  // 4095: the largest 2-byte value
}

TEST(AcpiAml, PkgLengthThreeAndFourBytes) {
  EXPECT_EQ(pkg_length(4094), bytes({0x81, 0x00, 0x01}));  // 4097
  EXPECT_EQ(pkg_length((1u << 20) - 4), bytes({0x8F, 0xFF, 0xFF}));
  EXPECT_EQ(pkg_length((1u << 20) - 3), bytes({0xC1, 0x00, 0x00, 0x01}));
  EXPECT_EQ(pkg_length((1u << 28) - 5), bytes({0xCF, 0xFF, 0xFF, 0xFF}));
  EXPECT_THROW(pkg_length((1u << 28) - 4), std::length_error);
}

TEST(AcpiAml, PkgLengthRawHasNoSelfInclusion) {
  EXPECT_EQ(pkg_length_raw(1), bytes({0x01}));
  EXPECT_EQ(pkg_length_raw(63), bytes({0x3F}));
  EXPECT_EQ(pkg_length_raw(64), bytes({0x40, 0x04}));
  EXPECT_EQ(pkg_length_raw(0x123), bytes({0x43, 0x12}));
}

TEST(AcpiAml, IntegersUseTheSmallestEncoding) {
  EXPECT_EQ(integer(0), bytes({0x00}));
  EXPECT_EQ(integer(1), bytes({0x01}));
  EXPECT_EQ(integer(2), bytes({0x0A, 0x02}));
  EXPECT_EQ(integer(0xFF), bytes({0x0A, 0xFF}));
  EXPECT_EQ(integer(0x100), bytes({0x0B, 0x00, 0x01}));
  EXPECT_EQ(integer(0xFFFF), bytes({0x0B, 0xFF, 0xFF}));
  EXPECT_EQ(integer(0x10000), bytes({0x0C, 0x00, 0x00, 0x01, 0x00}));
  EXPECT_EQ(integer(0xFFFFFFFF), bytes({0x0C, 0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(integer(0x100000000), bytes({0x0E, 0, 0, 0, 0, 1, 0, 0, 0}));
  EXPECT_EQ(integer(0xFFFFFFFFFFFFFFFE),
            bytes({0x0E, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}));
  EXPECT_EQ(integer(~uint64_t{0}), bytes({0xFF}));  // OnesOp
  EXPECT_EQ(dword(1), bytes({0x0C, 0x01, 0x00, 0x00, 0x00}));
}

TEST(AcpiAml, NameSegsArePaddedAndChecked) {
  EXPECT_EQ(name_seg("_HID"), ascii("_HID"));
  EXPECT_EQ(name_seg("CPU"), ascii("CPU_"));
  EXPECT_EQ(name_seg("A"), ascii("A___"));
  EXPECT_THROW(name_seg("1ABC"), std::invalid_argument);
  EXPECT_THROW(name_seg("ABCDE"), std::invalid_argument);
  EXPECT_THROW(name_seg("abc"), std::invalid_argument);
  EXPECT_THROW(name_seg(""), std::invalid_argument);
}

TEST(AcpiAml, NameStringsWithPrefixes) {
  EXPECT_EQ(name_string("_S5"), ascii("_S5_"));
  EXPECT_EQ(name_string("\\_S5"), join({bytes({0x5C}), ascii("_S5_")}));
  EXPECT_EQ(name_string("\\_SB.PCI0"), join({bytes({0x5C, 0x2E}), ascii("_SB_PCI0")}));
  EXPECT_EQ(name_string("\\_SB.PCI0.ISA"),
            join({bytes({0x5C, 0x2F, 0x03}), ascii("_SB_PCI0ISA_")}));
  EXPECT_EQ(name_string("^^FOO"), join({bytes({0x5E, 0x5E}), ascii("FOO_")}));
  EXPECT_EQ(name_string("^A.B"), join({bytes({0x5E, 0x2E}), ascii("A___B___")}));
  EXPECT_EQ(name_string("\\"), bytes({0x5C, 0x00}));  // the root: RootChar NullName
  EXPECT_THROW(name_string("\\_SB."), std::invalid_argument);
  EXPECT_THROW(name_string("\\_SB..X"), std::invalid_argument);
}

TEST(AcpiAml, EisaIds) {
  EXPECT_EQ(eisa_id_value("PNP0A03"), 0x030AD041u);
  EXPECT_EQ(eisa_id_value("PNP0C80"), 0x800CD041u);
  EXPECT_EQ(eisa_id("PNP0501"), bytes({0x0C, 0x41, 0xD0, 0x05, 0x01}));
  EXPECT_THROW(eisa_id_value("PNP0A0"), std::invalid_argument);
  EXPECT_THROW(eisa_id_value("pnp0A03"), std::invalid_argument);
  EXPECT_THROW(eisa_id_value("PNP0G03"), std::invalid_argument);
}

TEST(AcpiAml, StringsBuffersPackages) {
  EXPECT_EQ(string("AB"), bytes({0x0D, 'A', 'B', 0x00}));
  EXPECT_THROW(string("\xC3\xA9"), std::invalid_argument);
  const uint8_t data[] = {0xAA, 0xBB};
  // BufferOp PkgLength(1 + BytePrefix 4 + 2 data... ) : body = 0A 04 AA BB 00 00 (6 bytes).
  EXPECT_EQ(buffer(4, data), bytes({0x11, 0x07, 0x0A, 0x04, 0xAA, 0xBB, 0x00, 0x00}));
  EXPECT_EQ(buffer(data), bytes({0x11, 0x05, 0x0A, 0x02, 0xAA, 0xBB}));
  EXPECT_EQ(package({integer(7), zero()}), bytes({0x12, 0x05, 0x02, 0x0A, 0x07, 0x00}));
  AmlList many(300, zero());
  const AmlCode var = package(many);
  EXPECT_EQ(var[0], 0x13);    // VarPackageOp: more than 255 elements
  EXPECT_EQ(var[1] >> 6, 1);  // 2-byte PkgLength: 3 (NumElements) + 300 + 2 = 305
  EXPECT_EQ(var.size(), 1u + 2u + 3u + 300u);
  EXPECT_THROW(buffer(1, data), std::invalid_argument);
}

TEST(AcpiAml, NamedObjectsAndScopes) {
  EXPECT_EQ(name("_UID", one()), join({bytes({0x08}), ascii("_UID"), bytes({0x01})}));
  EXPECT_EQ(scope("\\_SB", {}), join({bytes({0x10, 0x06, 0x5C}), ascii("_SB_")}));
  EXPECT_EQ(device("DEV", {name("_UID", zero())}),
            join({bytes({0x5B, 0x82, 0x0B}), ascii("DEV_"), bytes({0x08}), ascii("_UID"),
                  bytes({0x00})}));
}

TEST(AcpiAml, MethodFlags) {
  // MethodOp PkgLength Name Flags(argc 2 | serialized 0x08 | sync 3 << 4) Return(Arg1)
  EXPECT_EQ(method("MTH", 2, true, {return_(arg(1))}, 3),
            join({bytes({0x14, 0x08}), ascii("MTH_"), bytes({0x3A, 0xA4, 0x69})}));
  EXPECT_EQ(method("M0", 0, false, {})[6], 0x00);
  EXPECT_THROW(method("BAD", 8, false, {}), std::invalid_argument);
}

TEST(AcpiAml, ExpressionsAndTargets) {
  EXPECT_EQ(store(integer(5), local(0)), bytes({0x70, 0x0A, 0x05, 0x60}));
  EXPECT_EQ(and_(arg(0), integer(0x0F)), bytes({0x7B, 0x68, 0x0A, 0x0F, 0x00}));
  EXPECT_EQ(or_(local(1), one(), local(1)), bytes({0x7D, 0x61, 0x01, 0x61}));
  EXPECT_EQ(lequal(arg(0), zero()), bytes({0x93, 0x68, 0x00}));
  EXPECT_EQ(lnot(lless(local(0), one())), bytes({0x92, 0x95, 0x60, 0x01}));
  EXPECT_EQ(shift_left(one(), arg(0), local(2)), bytes({0x79, 0x01, 0x68, 0x62}));
  EXPECT_EQ(increment(local(7)), bytes({0x75, 0x67}));
  EXPECT_EQ(deref_of(index(arg(0), zero())), bytes({0x83, 0x88, 0x68, 0x00, 0x00}));
  EXPECT_EQ(notify(name_string("\\_SB.PCI0"), integer(1)),
            join({bytes({0x86, 0x5C, 0x2E}), ascii("_SB_PCI0"), bytes({0x01})}));
  EXPECT_EQ(call("FOO", {one(), zero()}), join({ascii("FOO_"), bytes({0x01, 0x00})}));
  EXPECT_THROW(local(8), std::invalid_argument);
  EXPECT_THROW(arg(7), std::invalid_argument);
}

TEST(AcpiAml, DerivedComparisonsConversionsExternal) {
  EXPECT_EQ(lnot_equal(arg(0), one()), bytes({0x92, 0x93, 0x68, 0x01}));
  EXPECT_EQ(lgreater_equal(arg(0), one()), bytes({0x92, 0x95, 0x68, 0x01}));
  EXPECT_EQ(lless_equal(arg(0), one()), bytes({0x92, 0x94, 0x68, 0x01}));
  EXPECT_EQ(to_integer(arg(0), local(0)), bytes({0x99, 0x68, 0x60}));
  EXPECT_EQ(to_buffer(arg(0)), bytes({0x96, 0x68, 0x00}));
  EXPECT_EQ(external("\\_SB.MSCN", ObjectType::kMethod, 1),
            join({bytes({0x15, 0x5C, 0x2E}), ascii("_SB_MSCN"), bytes({0x08, 0x01})}));
}

TEST(AcpiAml, IfElseWhile) {
  EXPECT_EQ(if_(one(), {return_(zero())}), bytes({0xA0, 0x04, 0x01, 0xA4, 0x00}));
  EXPECT_EQ(else_({break_()}), bytes({0xA1, 0x02, 0xA5}));
  EXPECT_EQ(while_(one(), {}), bytes({0xA2, 0x02, 0x01}));
}

TEST(AcpiAml, RegionsFieldsMutexes) {
  EXPECT_EQ(
      op_region("PMRG", RegionSpace::kSystemIo, integer(0x600), integer(8)),
      join({bytes({0x5B, 0x80}), ascii("PMRG"), bytes({0x01, 0x0B, 0x00, 0x06, 0x0A, 0x08})}));
  // Field(PMRG, WordAcc, Lock, WriteAsZeros) { STS, 16, , 16, CNT, 16 }
  const AmlCode f = field("PMRG", FieldAccess::kWord, true, FieldUpdate::kWriteAsZeros,
                          {{"STS", 16}, {"", 16}, {"CNT", 16}});
  EXPECT_EQ(f, join({bytes({0x5B, 0x81, 0x12}), ascii("PMRG"), bytes({0x52}), ascii("STS_"),
                     bytes({0x10, 0x00, 0x10}), ascii("CNT_"), bytes({0x10})}));
  EXPECT_EQ(mutex("MLCK", 0), join({bytes({0x5B, 0x01}), ascii("MLCK"), bytes({0x00})}));
  EXPECT_EQ(acquire("MLCK", 0xFFFF),
            join({bytes({0x5B, 0x23}), ascii("MLCK"), bytes({0xFF, 0xFF})}));
  EXPECT_EQ(release("MLCK"), join({bytes({0x5B, 0x27}), ascii("MLCK")}));
  EXPECT_EQ(create_field(8, arg(0), integer(14), "MINA"),
            join({bytes({0x8F, 0x68, 0x0A, 0x0E}), ascii("MINA")}));
  EXPECT_THROW(create_field(3, arg(0), zero(), "X"), std::invalid_argument);
}

uint8_t sum(const AmlCode& c, size_t from = 0) {
  uint8_t s = 0;
  for (size_t i = from; i < c.size(); ++i) s = static_cast<uint8_t>(s + c[i]);
  return s;
}

TEST(AcpiAmlResource, SmallDescriptors) {
  EXPECT_EQ(io(0x3F8, 0x3F8, 1, 8), bytes({0x47, 0x01, 0xF8, 0x03, 0xF8, 0x03, 0x01, 0x08}));
  EXPECT_EQ(irq_no_flags({4}), bytes({0x22, 0x10, 0x00}));
  EXPECT_EQ(irq({9}, false, false, true), bytes({0x23, 0x00, 0x02, 0x10}));
  EXPECT_EQ(irq({1, 12}, true, true, false), bytes({0x23, 0x02, 0x10, 0x09}));
  EXPECT_THROW(irq_no_flags({16}), std::invalid_argument);
}

TEST(AcpiAmlResource, AddressSpaceDescriptors) {
  const AmlCode bus = word_bus_number(0, 0xFF);
  EXPECT_EQ(bus,
            bytes({0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0, 0, 0, 0, 0xFF, 0, 0, 0, 0x00, 0x01}));
  const AmlCode mem = dword_memory(0xA0000, 0xBFFFF, MemCache::kCacheable);
  ASSERT_EQ(mem.size(), 26u);
  EXPECT_EQ(mem[0], 0x87);
  EXPECT_EQ(mem[1], 23);
  EXPECT_EQ(mem[3], 0);                          // memory range
  EXPECT_EQ(mem[5], 0x03);                       // ReadWrite | Cacheable << 1
  EXPECT_EQ(mem[addr_len_offset(4) + 2], 0x02);  // length 0x20000
  const AmlCode q =
      qword_memory(0x100000000, 0x13FFFFFFF, MemCache::kNonCacheable, true, Producer::kConsumer);
  ASSERT_EQ(q.size(), 46u);
  EXPECT_EQ(q[0], 0x8A);
  EXPECT_EQ(q[4], 0x0D);  // consumer | MinFixed | MaxFixed
  EXPECT_EQ(q[addr_min_offset(8) + 4], 0x01);
  EXPECT_EQ(q[addr_max_offset(8) + 4], 0x01);
  EXPECT_EQ(q[addr_max_offset(8)], 0xFF);
  EXPECT_EQ(q[addr_len_offset(8) + 3], 0x40);  // 1 GiB
  EXPECT_THROW(word_io(0x10, 0x0F), std::invalid_argument);
}

TEST(AcpiAmlResource, ExtendedInterruptAndFixedMemory) {
  EXPECT_EQ(interrupt({9}, false, false, true),
            bytes({0x89, 0x06, 0x00, 0x09, 0x01, 0x09, 0x00, 0x00, 0x00}));
  EXPECT_EQ(memory32_fixed(0xFEC00000, 0x1000),
            bytes({0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xC0, 0xFE, 0x00, 0x10, 0x00, 0x00}));
}

TEST(AcpiAmlResource, TemplateEndsWithChecksummedEndTag) {
  const AmlCode t = resource_template({io(0x60, 0x60, 1, 1), irq_no_flags({1})});
  // BufferOp, PkgLength, BytePrefix size, then 8 + 3 + 2 bytes of descriptors and end tag.
  ASSERT_EQ(t.size(), 2u + 2u + 13u);
  EXPECT_EQ(t[0], 0x11);
  EXPECT_EQ(t[3], 13);
  EXPECT_EQ(t[t.size() - 2], 0x79);
  EXPECT_EQ(sum(t, 4), 0);  // descriptors + end tag sum to zero
}

}  // namespace
}  // namespace umbra::aml
