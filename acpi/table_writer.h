// Helpers for building ACPI system description tables (ACPI 6.x section 5.2): little-endian
// field writes at fixed offsets, the common 36-byte header (5.2.6), the Generic Address
// Structure (5.2.3.2) and the 8-bit checksums. Used by acpi/tables.cpp and by any later table
// (SRAT, SSDT) so every table gets the same header and checksum rule.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace umbra::acpi {

constexpr unsigned kHeaderSize = 36;
constexpr unsigned kHeaderLengthOffset = 4;
constexpr unsigned kHeaderChecksumOffset = 9;

struct OemIds {
  std::string_view oem_id = "UMBRA";          // 6 characters, space-padded
  std::string_view oem_table_id = "UMBRAPC";  // 8 characters, space-padded
  uint32_t oem_revision = 1;
  std::string_view creator_id = "UMBR";  // 4 characters
  uint32_t creator_revision = 1;
};

// A table under construction: starts with the header (signature, revision, OEM ids) and grows
// by put_* at offsets (the buffer grows as needed) or append_*; finish() sets the length and the
// checksum.
class TableWriter {
 public:
  TableWriter(std::string_view signature, uint8_t revision, const OemIds& ids);
  // A structure without the standard header (RSDP, FACS).
  TableWriter() = default;

  void put8(size_t offset, uint8_t v);
  void put16(size_t offset, uint16_t v);
  void put32(size_t offset, uint32_t v);
  void put64(size_t offset, uint64_t v);
  void put_chars(size_t offset, std::string_view text, size_t width, char pad = ' ');
  void append(const std::vector<uint8_t>& bytes);
  size_t size() const { return bytes_.size(); }
  void resize(size_t n) { bytes_.resize(n, 0); }

  // Header length and checksum; returns the finished table.
  std::vector<uint8_t> finish();
  // No header fields: just the bytes.
  std::vector<uint8_t> bytes() const { return bytes_; }

 private:
  void grow(size_t end);
  std::vector<uint8_t> bytes_;
};

// Address space ids of the Generic Address Structure.
enum class GasSpace : uint8_t { kSystemMemory = 0, kSystemIo = 1 };
// Access sizes: 0 undefined (legacy), 1 byte, 2 word, 3 dword, 4 qword.
struct Gas {
  GasSpace space = GasSpace::kSystemIo;
  uint8_t bit_width = 0;
  uint8_t bit_offset = 0;
  uint8_t access_size = 0;
  uint64_t address = 0;
};
void put_gas(TableWriter& w, size_t offset, const Gas& gas);

// Two's complement of the byte sum: the value that makes the bytes sum to zero.
uint8_t checksum_byte(const uint8_t* data, size_t len);
// Sum of all bytes (0 for a valid table).
uint8_t byte_sum(const uint8_t* data, size_t len);

}  // namespace umbra::acpi
