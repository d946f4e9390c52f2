// The ACPI tables of acpi/tables.h: placement, checksums, cross-pointers and the fields an OS
// reads (ACPI 6.x section 5.2).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "acpi/aml.h"
#include "acpi/tables.h"

namespace umbra::acpi {
namespace {

uint8_t sum8(const std::vector<uint8_t>& b, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + b[i]);
  return s;
}
uint16_t le16(const std::vector<uint8_t>& b, size_t at) {
  return b[at] | (b[at + 1] << 8);
}
uint32_t le32(const std::vector<uint8_t>& b, size_t at) {
  return le16(b, at) | (static_cast<uint32_t>(le16(b, at + 2)) << 16);
}
uint64_t le64(const std::vector<uint8_t>& b, size_t at) {
  return le32(b, at) | (static_cast<uint64_t>(le32(b, at + 4)) << 32);
}

AcpiConfig pc_config() {
  AcpiConfig c;
  c.ram_below_4g = 512ull << 20;
  return c;
}

TEST(AcpiTables, PiecesAreOrderedAlignedAndInsideTheArea) {
  const AcpiTables t = build_acpi_tables(pc_config());
  ASSERT_EQ(t.pieces.size(), 7u);
  uint64_t end = 0;
  for (const AcpiPiece& p : t.pieces) {
    EXPECT_GE(p.paddr, end) << p.signature;
    EXPECT_EQ(p.paddr % 16, 0u) << p.signature;
    end = p.paddr + p.bytes.size();
  }
  EXPECT_GE(t.pieces.front().paddr, 0xE0000u);
  EXPECT_LE(end, 0xF0000u);
  const AcpiPiece* facs = t.find("FACS");
  ASSERT_NE(facs, nullptr);
  EXPECT_EQ(facs->paddr % 64, 0u);
  EXPECT_EQ(facs->bytes.size(), 64u);
  EXPECT_EQ(t.find("RSDP")->paddr, t.rsdp_paddr);
  EXPECT_EQ(t.find("NONE"), nullptr);
}

TEST(AcpiTables, EveryHeaderedTableChecksumsToZeroAndHasItsLength) {
  const AcpiTables t = build_acpi_tables(pc_config());
  for (const AcpiPiece& p : t.pieces) {
    if (p.signature == "RSDP" || p.signature == "FACS") continue;
    ASSERT_GE(p.bytes.size(), kHeaderSize) << p.signature;
    EXPECT_EQ(std::string(p.bytes.begin(), p.bytes.begin() + 4), p.signature);
    EXPECT_EQ(le32(p.bytes, 4), p.bytes.size()) << p.signature;
    EXPECT_EQ(sum8(p.bytes, p.bytes.size()), 0) << p.signature;
    EXPECT_EQ(std::string(p.bytes.begin() + 10, p.bytes.begin() + 16), "UMBRA ");
  }
}

TEST(AcpiTables, RsdpPointsToXsdtAndRsdtWithBothChecksums) {
  const AcpiTables t = build_acpi_tables(pc_config());
  const std::vector<uint8_t>& r = t.find("RSDP")->bytes;
  ASSERT_EQ(r.size(), 36u);
  EXPECT_EQ(std::memcmp(r.data(), "RSD PTR ", 8), 0);
  EXPECT_EQ(sum8(r, 20), 0);  // ACPI 1.0 checksum
  EXPECT_EQ(sum8(r, 36), 0);  // extended checksum
  EXPECT_EQ(r[15], 2);        // revision 2: XSDT present
  EXPECT_EQ(le32(r, 20), 36u);
  EXPECT_EQ(le32(r, 16), t.find("RSDT")->paddr);
  EXPECT_EQ(le64(r, 24), t.find("XSDT")->paddr);
  EXPECT_GE(t.rsdp_paddr, 0xE0000u);
  EXPECT_LT(t.rsdp_paddr, 0x100000u);
}

TEST(AcpiTables, XsdtAndRsdtListFadtAndMadt) {
  const AcpiTables t = build_acpi_tables(pc_config());
  const std::vector<uint8_t>& x = t.find("XSDT")->bytes;
  const std::vector<uint8_t>& r = t.find("RSDT")->bytes;
  ASSERT_EQ(x.size(), kHeaderSize + 2 * 8);
  ASSERT_EQ(r.size(), kHeaderSize + 2 * 4);
  EXPECT_EQ(le64(x, 36), t.find("FACP")->paddr);
  EXPECT_EQ(le64(x, 44), t.find("APIC")->paddr);
  EXPECT_EQ(le32(r, 36), t.find("FACP")->paddr);
  EXPECT_EQ(le32(r, 40), t.find("APIC")->paddr);
}

TEST(AcpiTables, FadtDescribesThePmBlockAndPlatform) {
  AcpiConfig c = pc_config();
  c.pm_base = 0xB000;
  const AcpiTables t = build_acpi_tables(c);
  const std::vector<uint8_t>& f = t.find("FACP")->bytes;
  ASSERT_EQ(f.size(), fadt::kSize);
  EXPECT_EQ(f[8], 6);  // revision
  EXPECT_EQ(le32(f, fadt::kFirmwareCtrl), t.find("FACS")->paddr);
  EXPECT_EQ(le64(f, fadt::kXFirmwareCtrl), 0u);  // must be 0 when FIRMWARE_CTRL is set
  EXPECT_EQ(le32(f, fadt::kDsdt), t.find("DSDT")->paddr);
  EXPECT_EQ(le64(f, fadt::kXDsdt), t.find("DSDT")->paddr);
  EXPECT_EQ(le16(f, fadt::kSciInt), 9);
  EXPECT_EQ(le32(f, fadt::kSmiCmd), 0u);
  EXPECT_EQ(le32(f, fadt::kPm1aEvtBlk), 0xB000u);
  EXPECT_EQ(le32(f, fadt::kPm1aCntBlk), 0xB004u);
  EXPECT_EQ(le32(f, fadt::kPmTmrBlk), 0xB008u);
  EXPECT_EQ(le32(f, fadt::kGpe0Blk), 0xB020u);
  EXPECT_EQ(f[fadt::kPm1EvtLen], 4);
  EXPECT_EQ(f[fadt::kPm1CntLen], 2);
  EXPECT_EQ(f[fadt::kPmTmrLen], 4);
  EXPECT_EQ(f[fadt::kGpe0BlkLen], 8);
  // X_ blocks: System I/O, bit width = 8 * length, same address as the 32-bit fields.
  struct X {
    unsigned off;
    uint8_t width;
    uint32_t addr;
  };
  for (X x : {X{fadt::kXPm1aEvtBlk, 32, 0xB000}, X{fadt::kXPm1aCntBlk, 16, 0xB004},
              X{fadt::kXPmTmrBlk, 32, 0xB008}, X{fadt::kXGpe0Blk, 64, 0xB020}}) {
    EXPECT_EQ(f[x.off], 1) << x.off;
    EXPECT_EQ(f[x.off + 1], x.width) << x.off;
    EXPECT_EQ(le64(f, x.off + 4), x.addr) << x.off;
  }
  const uint32_t flags = le32(f, fadt::kFlags);
  EXPECT_TRUE(flags & fadt::kTmrValExt);  // 32-bit PM timer, as the PM device implements
  EXPECT_TRUE(flags & fadt::kResetRegSup);
  EXPECT_TRUE(flags & fadt::kProcC1);
  EXPECT_TRUE(flags & fadt::kSlpButton);
  EXPECT_FALSE(flags & fadt::kPwrButton);  // fixed-feature power button
  EXPECT_FALSE(flags & fadt::kHwReducedAcpi);
  EXPECT_EQ(le16(f, fadt::kIapcBootArch), fadt::kLegacyDevices | fadt::k8042);
  EXPECT_EQ(f[fadt::kResetReg], 1);
  EXPECT_EQ(le64(f, fadt::kResetReg + 4), 0x64u);
  EXPECT_EQ(f[fadt::kResetValue], 0xFE);
}

TEST(AcpiTables, FadtBootArchFollowsConfig) {
  AcpiConfig c = pc_config();
  c.have_vga = false;
  c.have_i8042 = false;
  const AcpiTables t = build_acpi_tables(c);
  EXPECT_EQ(le16(t.find("FACP")->bytes, fadt::kIapcBootArch),
            fadt::kLegacyDevices | fadt::kVgaNotPresent);
}

TEST(AcpiTables, MadtHasLapicIoapicOverridesAndPcatCompat) {
  const AcpiTables t = build_acpi_tables(pc_config());
  const std::vector<uint8_t>& m = t.find("APIC")->bytes;
  EXPECT_EQ(le32(m, 36), 0xFEE00000u);
  EXPECT_EQ(le32(m, 40), 1u);  // PCAT_COMPAT
  size_t at = 44;
  // Processor local APIC: UID 0, APIC id 0, enabled.
  ASSERT_EQ(m[at], 0);
  ASSERT_EQ(m[at + 1], 8);
  EXPECT_EQ(m[at + 2], 0);
  EXPECT_EQ(m[at + 3], 0);
  EXPECT_EQ(le32(m, at + 4), 1u);
  at += 8;
  // I/O APIC id 0 at 0xFEC00000, GSI base 0.
  ASSERT_EQ(m[at], 1);
  ASSERT_EQ(m[at + 1], 12);
  EXPECT_EQ(m[at + 2], 0);
  EXPECT_EQ(le32(m, at + 4), 0xFEC00000u);
  EXPECT_EQ(le32(m, at + 8), 0u);
  at += 12;
  // IRQ0 -> GSI 2, conforming (ISA: edge, high).
  ASSERT_EQ(m[at], 2);
  EXPECT_EQ(m[at + 3], 0);
  EXPECT_EQ(le32(m, at + 4), 2u);
  EXPECT_EQ(le16(m, at + 8), 0x0000);
  at += 10;
  // IRQ9 -> GSI 9, level, active high.
  ASSERT_EQ(m[at], 2);
  EXPECT_EQ(m[at + 3], 9);
  EXPECT_EQ(le32(m, at + 4), 9u);
  EXPECT_EQ(le16(m, at + 8), 0x000D);
  at += 10;
  // Local APIC NMI on LINT1 for all processors.
  ASSERT_EQ(m[at], 4);
  EXPECT_EQ(m[at + 2], 0xFF);
  EXPECT_EQ(m[at + 5], 1);
  EXPECT_EQ(at + 6, m.size());
}

TEST(AcpiTables, MadtListsEveryCpu) {
  AcpiConfig c = pc_config();
  c.cpu_apic_ids = {0, 1, 2};
  const AcpiTables t = build_acpi_tables(c);
  const std::vector<uint8_t>& m = t.find("APIC")->bytes;
  for (unsigned i = 0; i < 3; ++i) {
    EXPECT_EQ(m[44 + 8 * i], 0);
    EXPECT_EQ(m[44 + 8 * i + 2], i);
    EXPECT_EQ(m[44 + 8 * i + 3], i);
  }
}

bool contains(const std::vector<uint8_t>& hay, const aml::AmlCode& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

TEST(AcpiTables, DsdtHasHostBridgeWindowsAndS5) {
  AcpiConfig c = pc_config();
  const AcpiTables t = build_acpi_tables(c);
  const std::vector<uint8_t>& d = t.find("DSDT")->bytes;
  EXPECT_EQ(d[8], 2);  // revision 2: 64-bit integers
  EXPECT_TRUE(contains(d, aml::eisa_id("PNP0A03")));
  EXPECT_TRUE(
      contains(d, aml::name("\\_S5", aml::package({aml::integer(kSlpTypS5), aml::integer(kSlpTypS5),
                                                   aml::zero(), aml::zero()}))));
  // The PCI memory window starts at the end of RAM: 0x20000000 as a DWord min, then max.
  const aml::AmlCode window = {0x00, 0x00, 0x00, 0x20, 0xFF, 0xFF, 0xBF, 0xFE};
  EXPECT_TRUE(contains(d, window));
  c.ram_below_4g = 0xC0000000;
  const AcpiTables t2 = build_acpi_tables(c);
  const std::vector<uint8_t>& d2 = t2.find("DSDT")->bytes;
  EXPECT_FALSE(contains(d2, window));
  EXPECT_TRUE(contains(d2, aml::AmlCode{0x00, 0x00, 0x00, 0xC0, 0xFF, 0xFF, 0xBF, 0xFE}));
}

TEST(AcpiTables, DsdtExtraTermsAndExtraTablesAreIncluded) {
  AcpiConfig c = pc_config();
  c.dsdt_extra.push_back(aml::name("\\MARK", aml::integer(0x12345678)));
  TableWriter w("SSDT", 2, c.oem);
  w.append(aml::name("\\SMRK", aml::one()));
  c.extra_tables.push_back(w.finish());
  const AcpiTables t = build_acpi_tables(c);
  EXPECT_TRUE(contains(t.find("DSDT")->bytes, aml::name("\\MARK", aml::integer(0x12345678))));
  const AcpiPiece* ssdt = t.find("SSDT");
  ASSERT_NE(ssdt, nullptr);
  const std::vector<uint8_t>& x = t.find("XSDT")->bytes;
  ASSERT_EQ(x.size(), kHeaderSize + 3 * 8);
  EXPECT_EQ(le64(x, 52), ssdt->paddr);
}

TEST(AcpiTables, ImageHoldsEveryPieceAtItsOffset) {
  const AcpiTables t = build_acpi_tables(pc_config());
  const std::vector<uint8_t> img = t.image();
  EXPECT_EQ(t.image_base(), 0xE0000u);
  const AcpiPiece& last = t.pieces.back();
  ASSERT_EQ(img.size(), last.paddr + last.bytes.size() - t.image_base());
  for (const AcpiPiece& p : t.pieces)
    EXPECT_TRUE(std::equal(p.bytes.begin(), p.bytes.end(), img.begin() + (p.paddr - 0xE0000)))
        << p.signature;
}

TEST(AcpiTables, TooSmallAreaIsAnError) {
  AcpiConfig c = pc_config();
  c.table_area_size = 0x200;
  EXPECT_THROW(build_acpi_tables(c), std::runtime_error);
}

TEST(AcpiTables, BaseAddressMovesEverything) {
  AcpiConfig c = pc_config();
  c.table_base = 0xE8000;
  const AcpiTables t = build_acpi_tables(c);
  EXPECT_EQ(t.find("FACS")->paddr, 0xE8000u);
  EXPECT_EQ(le32(t.find("FACP")->bytes, fadt::kDsdt), t.find("DSDT")->paddr);
  EXPECT_GT(t.rsdp_paddr, 0xE8000u);
}

}  // namespace
}  // namespace umbra::acpi
