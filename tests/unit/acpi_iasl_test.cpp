// The tables checked by an independent implementation: Debian's acpica-tools. Every table is
// written to a temporary directory and disassembled with `iasl -d`, which must succeed with no
// error or warning; the DSDT's disassembly is then compiled back with iasl, which must report
// 0 errors and 0 warnings (the compiler checks much more than the disassembler: object types,
// argument counts, predefined names). The DSDT disassembly is printed into the test log.
//
// The RSDP is not given to iasl: iasl 20200925 does not recognise a raw RSDP file (it is not a
// table with a standard header); acpi_tables_test checks its checksums and pointers.
//
// The DSDT under test carries, beside the PC namespace, a sample of everything else the builder
// emits (fields, mutexes, methods with If/Else/While, Create*Field patching of a _CRS template,
// GPE methods with Notify): the shape of the memory hotplug AML of the next issue.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "acpi/aml.h"
#include "acpi/aml_resource.h"
#include "acpi/tables.h"

namespace umbra::acpi {
namespace {

namespace fs = std::filesystem;
using namespace umbra::aml;

struct RunResult {
  int status = -1;
  std::string output;
};

RunResult run(const std::string& command) {
  RunResult r;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int raw = pclose(p);
  r.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  return r;
}

bool have_iasl() {
  return std::system("command -v iasl >/dev/null 2>&1") == 0;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A PNP0C80 memory device driven by an I/O register block, as the hotplug issue will build.
AmlCode sample_memory_device() {
  const AmlCode crs_template =
      resource_template({qword_memory(0x100000000, 0x13FFFFFFF, MemCache::kCacheable)});
  return scope(
      "\\_SB",
      {device("MEM0",
              {name("_HID", eisa_id("PNP0C80")), name("_UID", zero()), name("_PXM", zero()),
               op_region("HPR", RegionSpace::kSystemIo, integer(0x0A00), integer(0x20)),
               field("HPR", FieldAccess::kDWord, false, FieldUpdate::kPreserve,
                     {{"MBL", 32},
                      {"MBH", 32},
                      {"MLL", 32},
                      {"MLH", 32},
                      {"MPX", 32},
                      {"", 32},
                      {"MOEV", 32},
                      {"MOSC", 32}}),
               field("HPR", FieldAccess::kByte, false, FieldUpdate::kWriteAsZeros,
                     {{"", 160}, {"MEN", 1}, {"MINS", 1}, {"MRM", 1}, {"MEJ", 1}}),
               mutex("MLCK", 0),
               method("_STA", 0, true,
                      {store(zero(), local(0)), acquire("MLCK", 0xFFFF),
                       if_(lequal(name_string("MEN"), one()), {store(integer(0x0F), local(0))}),
                       else_({store(zero(), local(0))}), release("MLCK"), return_(local(0))}),
               method("_CRS", 0, true,
                      {name("MR64", crs_template),
                       create_field(8, name_string("MR64"), integer(addr_min_offset(8)), "MINA"),
                       create_field(8, name_string("MR64"), integer(addr_max_offset(8)), "MAXA"),
                       create_field(8, name_string("MR64"), integer(addr_len_offset(8)), "LENA"),
                       or_(shift_left(name_string("MBH"), integer(32)), name_string("MBL"),
                           name_string("MINA")),
                       or_(shift_left(name_string("MLH"), integer(32)), name_string("MLL"),
                           name_string("LENA")),
                       add(name_string("MINA"), name_string("LENA"), name_string("MAXA")),
                       decrement(name_string("MAXA")), return_(name_string("MR64"))}),
               method("_OST", 3, true,
                      {store(arg(0), name_string("MOEV")), store(arg(1), name_string("MOSC"))}),
               method("_EJ0", 1, true, {store(one(), name_string("MEJ"))})})});
}

aml::AmlList sample_extra_dsdt() {
  return {
      sample_memory_device(),
      scope("\\_GPE", {method("_E03", 0, false, {notify(name_string("\\_SB.MEM0"), one())})}),
      method("\\TST1", 2, false,
             {store(zero(), local(0)),
              while_(lless(local(0), arg(0)),
                     {increment(local(0)), if_(lgreater(local(0), integer(10)), {break_()})}),
              store(package({integer(1), integer(2), integer(0x12345)}), local(1)),
              return_(deref_of(index(local(1), arg(1))))}),
      method("\\TST2", 0, false, {return_(call("\\TST1", {integer(3), one()}))}),
      method("\\TST3", 1, false,
             {if_(land(lgreater_equal(arg(0), integer(2)), lnot_equal(arg(0), integer(5))),
                  {return_(to_integer(string("0x20")))}),
              return_(lless_equal(arg(0), zero()))}),
  };
}

class AcpiIasl : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_iasl())
      GTEST_SKIP() << "iasl not found (Debian package acpica-tools): ACPI tables not checked";
    std::string tmpl = (fs::temp_directory_path() / "umbra-acpi-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  // Disassembles one table; returns the .dsl text.
  std::string disassemble(const AcpiPiece& piece) {
    const std::string base = lower(piece.signature);
    const fs::path dat = dir_ / (base + ".dat");
    std::ofstream(dat, std::ios::binary)
        .write(reinterpret_cast<const char*>(piece.bytes.data()),
               static_cast<std::streamsize>(piece.bytes.size()));
    const RunResult r = run("cd '" + dir_.string() + "' && iasl -d " + base + ".dat");
    EXPECT_EQ(r.status, 0) << piece.signature << ":\n" << r.output;
    const std::string out = lower(r.output);
    EXPECT_EQ(out.find("error"), std::string::npos) << piece.signature << ":\n" << r.output;
    EXPECT_EQ(out.find("warning"), std::string::npos) << piece.signature << ":\n" << r.output;
    EXPECT_NE(out.find("valid acpi table"), std::string::npos) << r.output;
    const std::string dsl = read_text(dir_ / (base + ".dsl"));
    EXPECT_FALSE(dsl.empty()) << piece.signature;
    // The disassembler flags what it could not decode inside the output as "****" comments.
    EXPECT_EQ(dsl.find("****"), std::string::npos) << dsl;
    EXPECT_EQ(lower(dsl).find("unknown"), std::string::npos) << dsl;
    return dsl;
  }

  fs::path dir_;
};

TEST_F(AcpiIasl, EveryTableDisassemblesCleanlyAndTheDsdtRecompiles) {
  AcpiConfig c;
  c.ram_below_4g = 512ull << 20;
  c.cpu_apic_ids = {0, 1};
  c.dsdt_extra = sample_extra_dsdt();
  const AcpiTables tables = build_acpi_tables(c);

  std::string dsdt;
  unsigned checked = 0;
  for (const AcpiPiece& p : tables.pieces) {
    if (p.signature == "RSDP") continue;
    const std::string dsl = disassemble(p);
    ++checked;
    if (p.signature == "DSDT") dsdt = dsl;
  }
  EXPECT_EQ(checked, 6u);
  std::cout << "---- DSDT disassembly (iasl -d) ----\n" << dsdt << "---- end of DSDT ----\n";

  // iasl read the namespace the way we meant it.
  for (const char* want :
       {"Device (PCI0)", "EisaId (\"PNP0A03\")", "WordBusNumber (ResourceProducer", "0xFEBFFFFF",
        "Name (\\_S5, Package (0x04)", "Device (COM1)", "Device (CPU1)",
        "Method (_STA, 0, Serialized)", "Method (_OST, 3, Serialized)",
        // iasl names the patched offsets as the QWordMemory's _MIN/_MAX/_LEN: our offsets agree.
        "CreateQWordField (MR64, \\_SB.MEM0._CRS._Y00._MIN, MINA)",
        "CreateQWordField (MR64, \\_SB.MEM0._CRS._Y00._MAX, MAXA)",
        "CreateQWordField (MR64, \\_SB.MEM0._CRS._Y00._LEN, LENA)", "QWordMemory",
        "Acquire (MLCK, 0xFFFF)", "Notify (\\_SB.MEM0, One)", "While ((Local0 < Arg0))", "Break",
        "Method (_E03, 0, NotSerialized)", "((Arg0 >= 0x02) && (Arg0 != 0x05))", "TST1 (0x03, One)",
        "DerefOf (Local1 [Arg1])"})
    EXPECT_NE(dsdt.find(want), std::string::npos) << "missing: " << want;

  // Compile the disassembly back: the compiler's semantic checks see our AML's meaning.
  const RunResult compiled = run("cd '" + dir_.string() + "' && iasl -p recompiled dsdt.dsl");
  EXPECT_EQ(compiled.status, 0) << compiled.output;
  EXPECT_NE(compiled.output.find("0 Errors, 0 Warnings"), std::string::npos) << compiled.output;
}

TEST_F(AcpiIasl, PlainPcTablesWithoutIsaDevicesAlsoPass) {
  AcpiConfig c;
  c.ram_below_4g = 3ull << 30;
  c.describe_isa_devices = false;
  c.have_vga = false;
  const AcpiTables tables = build_acpi_tables(c);
  for (const AcpiPiece& p : tables.pieces)
    if (p.signature != "RSDP") disassemble(p);
  const RunResult compiled = run("cd '" + dir_.string() + "' && iasl -p recompiled dsdt.dsl");
  EXPECT_NE(compiled.output.find("0 Errors, 0 Warnings"), std::string::npos) << compiled.output;
}

// acpiexec (acpica-tools) loads the DSDT into ACPICA's interpreter and runs methods: the AML
// does what it says, not only parses.
TEST_F(AcpiIasl, AcpiexecEvaluatesTheDsdt) {
  if (std::system("command -v acpiexec >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "acpiexec not found (Debian package acpica-tools)";
  AcpiConfig c;
  c.ram_below_4g = 512ull << 20;
  c.dsdt_extra = sample_extra_dsdt();
  const AcpiTables tables = build_acpi_tables(c);
  const AcpiPiece* dsdt = tables.find("DSDT");
  ASSERT_NE(dsdt, nullptr);
  std::ofstream(dir_ / "dsdt.dat", std::ios::binary)
      .write(reinterpret_cast<const char*>(dsdt->bytes.data()),
             static_cast<std::streamsize>(dsdt->bytes.size()));
  const RunResult r = run("cd '" + dir_.string() +
                          "' && timeout 60 acpiexec -b '"
                          "evaluate \\_S5; evaluate \\TST2; evaluate \\TST1 5 2; "
                          "evaluate \\_SB.MEM0._STA; evaluate \\_SB.PCI0._CRS; "
                          "evaluate \\TST3 3' dsdt.dat");
  std::cout << r.output;
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output.find("ACPI Error"), std::string::npos);
  EXPECT_EQ(r.output.find("ACPI Exception"), std::string::npos);
  // \_S5 = {7, 7, 0, 0}; TST2 = TST1(3, 1) = element 1 = 2; TST1(5, 2) = 0x12345; _STA with the
  // (simulated, zero) enable bit clear = 0.
  const size_t s5 = r.output.find("Evaluation of \\_S5");
  ASSERT_NE(s5, std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[Integer] = 0000000000000007", s5), std::string::npos);
  const size_t tst2 = r.output.find("Evaluation of \\TST2");
  ASSERT_NE(tst2, std::string::npos);
  EXPECT_EQ(r.output.find("[Integer] = 0000000000000002", tst2), r.output.find("[Integer]", tst2));
  const size_t tst1 = r.output.find("Evaluation of \\TST1");
  ASSERT_NE(tst1, std::string::npos);
  EXPECT_EQ(r.output.find("[Integer] = 0000000000012345", tst1), r.output.find("[Integer]", tst1));
  const size_t sta = r.output.find("Evaluation of \\_SB.MEM0._STA");
  ASSERT_NE(sta, std::string::npos);
  EXPECT_EQ(r.output.find("[Integer] = 0000000000000000", sta), r.output.find("[Integer]", sta));
  // The host bridge's _CRS comes back as the buffer we built (its first descriptor: the bus
  // range).
  const size_t crs = r.output.find("Evaluation of \\_SB.PCI0._CRS");
  ASSERT_NE(crs, std::string::npos);
  EXPECT_NE(r.output.find("88 0D 00 02 0C 00 00 00 00 00 FF 00 00 00 00 01", crs),
            std::string::npos);
  // TST3(3): 3 >= 2 and 3 != 5, so ToInteger("0x20") = 0x20.
  const size_t tst3 = r.output.find("Evaluation of \\TST3");
  ASSERT_NE(tst3, std::string::npos);
  EXPECT_EQ(r.output.find("[Integer] = 0000000000000020", tst3), r.output.find("[Integer]", tst3));
}

}  // namespace
}  // namespace umbra::acpi
