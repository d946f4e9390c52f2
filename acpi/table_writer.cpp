#include "acpi/table_writer.h"

namespace umbra::acpi {

TableWriter::TableWriter(std::string_view signature, uint8_t revision, const OemIds& ids) {
  bytes_.resize(kHeaderSize, 0);
  put_chars(0, signature, 4);
  put8(8, revision);
  put_chars(10, ids.oem_id, 6);
  put_chars(16, ids.oem_table_id, 8);
  put32(24, ids.oem_revision);
  put_chars(28, ids.creator_id, 4);
  put32(32, ids.creator_revision);
}

void TableWriter::grow(size_t end) {
  if (bytes_.size() < end) bytes_.resize(end, 0);
}

void TableWriter::put8(size_t offset, uint8_t v) {
  grow(offset + 1);
  bytes_[offset] = v;
}

void TableWriter::put16(size_t offset, uint16_t v) {
  for (unsigned i = 0; i < 2; ++i) put8(offset + i, static_cast<uint8_t>(v >> (8 * i)));
}

void TableWriter::put32(size_t offset, uint32_t v) {
  for (unsigned i = 0; i < 4; ++i) put8(offset + i, static_cast<uint8_t>(v >> (8 * i)));
}

void TableWriter::put64(size_t offset, uint64_t v) {
  for (unsigned i = 0; i < 8; ++i) put8(offset + i, static_cast<uint8_t>(v >> (8 * i)));
}

void TableWriter::put_chars(size_t offset, std::string_view text, size_t width, char pad) {
  for (size_t i = 0; i < width; ++i)
    put8(offset + i, static_cast<uint8_t>(i < text.size() ? text[i] : pad));
}

void TableWriter::append(const std::vector<uint8_t>& bytes) {
  bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
}

std::vector<uint8_t> TableWriter::finish() {
  put32(kHeaderLengthOffset, static_cast<uint32_t>(bytes_.size()));
  put8(kHeaderChecksumOffset, 0);
  put8(kHeaderChecksumOffset, checksum_byte(bytes_.data(), bytes_.size()));
  return bytes_;
}

void put_gas(TableWriter& w, size_t offset, const Gas& gas) {
  w.put8(offset + 0, static_cast<uint8_t>(gas.space));
  w.put8(offset + 1, gas.bit_width);
  w.put8(offset + 2, gas.bit_offset);
  w.put8(offset + 3, gas.access_size);
  w.put64(offset + 4, gas.address);
}

uint8_t byte_sum(const uint8_t* data, size_t len) {
  uint8_t sum = 0;
  for (size_t i = 0; i < len; ++i) sum = static_cast<uint8_t>(sum + data[i]);
  return sum;
}

uint8_t checksum_byte(const uint8_t* data, size_t len) {
  return static_cast<uint8_t>(-byte_sum(data, len));
}

}  // namespace umbra::acpi
