#include "devices/fw_cfg.h"

#include <algorithm>

#include "devices/port_bus.h"

namespace umbra {

namespace {

// Selector bit 14 asks for the (obsolete, here ignored) write channel; it is not part of the
// item key. Bit 15 marks architecture-local items and is part of it.
constexpr uint16_t kWriteChannel = 0x4000;
// Interface ID bits: traditional I/O interface (bit 0); DMA (bit 1) is not offered.
constexpr uint32_t kIdTraditional = 1u << 0;
constexpr size_t kFileNameBytes = 56;  // including the terminating NUL

std::vector<uint8_t> le(uint64_t v, unsigned bytes) {
  std::vector<uint8_t> out(bytes);
  for (unsigned i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}
void put_be(std::vector<uint8_t>& out, uint64_t v, unsigned bytes) {
  for (unsigned i = bytes; i-- > 0;) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

}  // namespace

FwCfg::FwCfg(const FwCfgConfig& config) {
  using namespace fw_cfg_key;
  items_[kSignature] = {'Q', 'E', 'M', 'U'};
  items_[kId] = le(kIdTraditional, 4);
  items_[kUuid] = std::vector<uint8_t>(16, 0);
  items_[kRamSize] = le(config.ram_size, 8);
  items_[kNographic] = le(config.nographic ? 1 : 0, 2);
  items_[kNbCpus] = le(config.cpus, 2);
  items_[kMaxCpus] = le(config.max_cpus, 2);
  rebuild_directory();
}

void FwCfg::attach(PortBus& ports) {
  ports.add(kSelectorPort, 2,
            PortHandler{[this](uint16_t port, unsigned size) { return port_read(port, size); },
                        [this](uint16_t port, unsigned size, uint32_t value) {
                          port_write(port, size, value);
                        }},
            "fw_cfg");
}

void FwCfg::set_item(uint16_t key, std::vector<uint8_t> data) {
  items_[key] = std::move(data);
}

uint16_t FwCfg::add_file(const std::string& name, std::vector<uint8_t> data) {
  std::string n = name.substr(0, kFileNameBytes - 1);
  auto it = std::find_if(files_.begin(), files_.end(), [&](const File& f) { return f.name == n; });
  uint16_t select;
  if (it != files_.end()) {
    select = it->select;
  } else {
    select = static_cast<uint16_t>(fw_cfg_key::kFileFirst + files_.size());
    files_.push_back(File{n, select});
  }
  items_[select] = std::move(data);
  rebuild_directory();
  return select;
}

// FW_CFG_FILE_DIR: a big-endian count, then per file {be32 size, be16 select, be16 reserved,
// char name[56]}, sorted by name as QEMU's guests expect.
void FwCfg::rebuild_directory() {
  std::vector<File> sorted = files_;
  std::sort(sorted.begin(), sorted.end(),
            [](const File& a, const File& b) { return a.name < b.name; });
  std::vector<uint8_t> dir;
  put_be(dir, sorted.size(), 4);
  for (const File& f : sorted) {
    put_be(dir, items_[f.select].size(), 4);
    put_be(dir, f.select, 2);
    put_be(dir, 0, 2);
    std::vector<uint8_t> name(kFileNameBytes, 0);
    std::copy(f.name.begin(), f.name.end(), name.begin());
    dir.insert(dir.end(), name.begin(), name.end());
  }
  items_[fw_cfg_key::kFileDir] = std::move(dir);
}

void FwCfg::select(uint16_t selector) {
  selector_ = selector;
  offset_ = 0;
}

uint8_t FwCfg::read_data() {
  auto it = items_.find(static_cast<uint16_t>(selector_ & ~kWriteChannel));
  if (it == items_.end() || offset_ >= it->second.size()) return 0;
  return it->second[offset_++];
}

uint32_t FwCfg::port_read(uint16_t port, unsigned size) {
  if (port != kDataPort) return 0;  // the selector register is write-only
  // The data register is 8 bits wide; a wider read returns consecutive bytes, lowest first.
  uint32_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= uint32_t{read_data()} << (8 * i);
  return v;
}

void FwCfg::port_write(uint16_t port, unsigned size, uint32_t value) {
  // The selector is 16 bits; data-register writes are ignored (QEMU 2.4+ behaviour).
  if (port == kSelectorPort && size >= 2) select(static_cast<uint16_t>(value));
}

}  // namespace umbra
