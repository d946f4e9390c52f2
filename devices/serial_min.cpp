#include "devices/serial_min.h"

namespace umbra {

namespace {
// Register offsets (PC16550D data sheet, table II).
constexpr uint16_t kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                   kScr = 7;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kLsrDataReady = 0x01, kLsrThrEmpty = 0x20, kLsrTxEmpty = 0x40;
}  // namespace

MinimalSerial::MinimalSerial(PortBus& bus, uint16_t base, std::FILE* out) : base_(base), out_(out) {
  PortHandler h;
  h.read = [this](uint16_t port, unsigned) { return read(port); };
  h.write = [this](uint16_t port, unsigned, uint32_t v) { write(port, v); };
  bus.add(base, 8, std::move(h), "serial");
}

uint32_t MinimalSerial::read(uint16_t port) {
  switch (port - base_) {
    case kRbrThr:
      if (lcr_ & kLcrDlab) return dll_;
      if (input_.empty()) return 0;
      {
        uint8_t b = input_.front();
        input_.pop_front();
        return b;
      }
    case kIer: return (lcr_ & kLcrDlab) ? dlm_ : ier_;
    case kIirFcr: return 0x01;  // no interrupt pending
    case kLcr: return lcr_;
    case kMcr: return mcr_;
    case kLsr: return kLsrThrEmpty | kLsrTxEmpty | (input_.empty() ? 0 : kLsrDataReady);
    case kMsr: return 0xb0;  // CTS, DSR, DCD asserted
    case kScr: return scr_;
  }
  return 0xff;
}

void MinimalSerial::write(uint16_t port, uint32_t value) {
  const uint8_t v = static_cast<uint8_t>(value);
  switch (port - base_) {
    case kRbrThr:
      if (lcr_ & kLcrDlab) {
        dll_ = v;
      } else if (out_) {
        std::fputc(v, out_);
        if (v == '\n') std::fflush(out_);
      }
      break;
    case kIer:
      if (lcr_ & kLcrDlab) dlm_ = v;
      else ier_ = v & 0x0f;
      break;
    case kLcr: lcr_ = v; break;
    case kMcr: mcr_ = v & 0x1f; break;
    case kScr: scr_ = v; break;
    default: break;
  }
}

}  // namespace umbra
