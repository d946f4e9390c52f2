// The QEMU firmware configuration device (fw_cfg), traditional I/O-port interface as QEMU's
// docs/specs/fw_cfg.rst describes it for x86: a 16-bit selector register at 0x510 (write) and an
// 8-bit data register at 0x511 (sequential reads of the selected item; past its end, zeros).
// Items: signature "QEMU", interface ID (traditional interface only: no DMA), UUID, RAM size,
// nographic, CPU counts, and the file directory (selectors from 0x20, names up to 55 bytes).
// Firmware and guest tools that know QEMU (SeaBIOS-style probes, the Linux qemu_fw_cfg driver)
// read the machine's description from it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace umbra {

class PortBus;

namespace fw_cfg_key {
constexpr uint16_t kSignature = 0x0000;
constexpr uint16_t kId = 0x0001;
constexpr uint16_t kUuid = 0x0002;
constexpr uint16_t kRamSize = 0x0003;
constexpr uint16_t kNographic = 0x0004;
constexpr uint16_t kNbCpus = 0x0005;
constexpr uint16_t kMaxCpus = 0x000F;
constexpr uint16_t kFileDir = 0x0019;
constexpr uint16_t kFileFirst = 0x0020;
}  // namespace fw_cfg_key

struct FwCfgConfig {
  uint64_t ram_size = 0;
  uint16_t cpus = 1;
  uint16_t max_cpus = 1;
  bool nographic = true;
};

class FwCfg {
 public:
  static constexpr uint16_t kSelectorPort = 0x510;
  static constexpr uint16_t kDataPort = 0x511;

  explicit FwCfg(const FwCfgConfig& config);

  // Claims 0x510-0x511 on `ports`.
  void attach(PortBus& ports);

  // Adds (or replaces) a named file; returns its selector. The directory is rebuilt.
  uint16_t add_file(const std::string& name, std::vector<uint8_t> data);
  // Sets an item by key directly (numbers are little-endian, per the specification).
  void set_item(uint16_t key, std::vector<uint8_t> data);

  // Register-level access (what attach() registers).
  void select(uint16_t selector);
  uint8_t read_data();
  uint32_t port_read(uint16_t port, unsigned size);
  void port_write(uint16_t port, unsigned size, uint32_t value);

  uint16_t selector() const { return selector_; }

 private:
  void rebuild_directory();

  std::map<uint16_t, std::vector<uint8_t>> items_;
  struct File {
    std::string name;
    uint16_t select;
  };
  std::vector<File> files_;
  uint16_t selector_ = 0;
  uint32_t offset_ = 0;
};

}  // namespace umbra
