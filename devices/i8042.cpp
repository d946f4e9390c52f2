#include "devices/i8042.h"

namespace umbra {

namespace {
// Status register (port 0x64 read).
constexpr uint8_t kStatusObf = 0x01, kStatusSys = 0x04, kStatusCommand = 0x08,
                  kStatusNotInhibited = 0x10, kStatusAuxData = 0x20, kStatusTimeout = 0x40;
// Command byte (controller RAM byte 0).
constexpr uint8_t kCtrKbdInt = 0x01, kCtrAuxInt = 0x02, kCtrSys = 0x04, kCtrKbdDisable = 0x10,
                  kCtrAuxDisable = 0x20, kCtrTranslate = 0x40;
// Output port: bit 0 the CPU reset line (active low), bit 1 the A20 gate.
constexpr uint8_t kOutResetLine = 0x01, kOutA20 = 0x02;
// Keyboard replies.
constexpr uint8_t kAck = 0xfa, kResend = 0xfe, kBatOk = 0xaa, kEcho = 0xee;
constexpr size_t kKeyboardBufferSize = 16;
}  // namespace

I8042::I8042(PortBus& bus, IrqLine irq1, IrqLine irq12) : irq1_(irq1), irq12_(irq12) {
  reset();
  PortHandler h;
  h.read = [this](uint16_t port, unsigned) -> uint32_t {
    return port == 0x64 ? read_status() : read_data();
  };
  h.write = [this](uint16_t port, unsigned, uint32_t v) {
    if (port == 0x64) {
      write_command(static_cast<uint8_t>(v));
    } else {
      write_data(static_cast<uint8_t>(v));
    }
  };
  bus.add(0x60, 1, h, "i8042");
  bus.add(0x64, 1, h, "i8042");
}

void I8042::reset() {
  for (uint8_t& b : ram_) b = 0;
  // Translation and the keyboard interrupt on, the aux port disabled: what firmware hands over.
  ram_[0] = kCtrTranslate | kCtrAuxDisable | kCtrKbdInt;
  output_port_ = kOutResetLine | kOutA20;
  pending_command_ = 0;
  last_write_was_command_ = false;
  obf_ = false;
  controller_queue_.clear();
  keyboard_queue_.clear();
  aux_queue_.clear();
  reset_keyboard();
  update_irqs();
}

void I8042::reset_keyboard() {
  scanning_ = true;
  keyboard_pending_ = 0;
  scancode_set_ = 2;
  leds_ = 0;
}

uint8_t I8042::read_status() const {
  uint8_t s = kStatusNotInhibited;
  if (obf_) {
    s |= kStatusObf;
    if (out_.source == Source::kAux) s |= kStatusAuxData;
    if (out_.timeout) s |= kStatusTimeout;
  }
  if (ram_[0] & kCtrSys) s |= kStatusSys;
  if (last_write_was_command_) s |= kStatusCommand;
  return s;
}

uint8_t I8042::read_data() {
  const uint8_t v = out_.value;  // with the buffer empty, the last byte is read again
  if (obf_) {
    obf_ = false;
    update_irqs();  // the read drops the IRQ line; the next byte raises it again (a new edge)
    refill();
  }
  return v;
}

void I8042::refill() {
  if (!obf_) {
    std::deque<Byte>* from = nullptr;
    if (!controller_queue_.empty()) {
      from = &controller_queue_;
    } else if (!keyboard_queue_.empty() && !(ram_[0] & kCtrKbdDisable)) {
      from = &keyboard_queue_;
    } else if (!aux_queue_.empty() && !(ram_[0] & kCtrAuxDisable)) {
      from = &aux_queue_;
    }
    if (from) {
      out_ = from->front();
      from->pop_front();
      obf_ = true;
    }
  }
  update_irqs();
}

void I8042::update_irqs() {
  // Controller replies come through the keyboard's side of the buffer (IRQ1).
  const bool aux = obf_ && out_.source == Source::kAux;
  const bool kbd = obf_ && !aux;
  const bool l1 = kbd && (ram_[0] & kCtrKbdInt);
  const bool l12 = aux && (ram_[0] & kCtrAuxInt);
  if (l1 != irq1_level_) {
    irq1_level_ = l1;
    irq1_.set(l1);
  }
  if (l12 != irq12_level_) {
    irq12_level_ = l12;
    irq12_.set(l12);
  }
}

void I8042::write_command(uint8_t cmd) {
  last_write_was_command_ = true;
  pending_command_ = 0;
  if (cmd >= 0x20 && cmd <= 0x3f) {  // read controller RAM (0x20: the command byte)
    reply(ram_[cmd & 0x1f]);
  } else if (cmd >= 0x60 && cmd <= 0x7f) {  // write controller RAM: data follows
    pending_command_ = cmd;
  } else if (cmd >= 0xf0) {
    // Pulse output port bits 3-0 low for ~6 us where the command's bit is 0; bit 0 is the CPU
    // reset line (0xFE: the classic keyboard-controller reboot).
    if (!(cmd & kOutResetLine) && on_reset) on_reset();
  } else {
    switch (cmd) {
      case 0xa7:
        ram_[0] |= kCtrAuxDisable;
        break;
      case 0xa8:
        ram_[0] &= ~kCtrAuxDisable;
        break;
      case 0xa9:
        reply(0x00);
        break;    // aux interface test: no error
      case 0xaa:  // controller self test: passed, and the system flag set as after POST
        ram_[0] |= kCtrSys;
        reply(0x55);
        break;
      case 0xab:
        reply(0x00);
        break;  // keyboard interface test: no error
      case 0xad:
        ram_[0] |= kCtrKbdDisable;
        break;
      case 0xae:
        ram_[0] &= ~kCtrKbdDisable;
        break;
      case 0xc0:
        reply(0x80);
        break;  // input port: keyboard not inhibited (keylock)
      case 0xd0:
        reply(output_port_);
        break;
      case 0xd1:  // write output port
      case 0xd2:  // write keyboard output buffer
      case 0xd3:  // write aux output buffer
      case 0xd4:  // write to the aux device
        pending_command_ = cmd;
        break;
      case 0xe0:
        reply(0x00);
        break;  // test inputs
      default:
        break;  // unknown commands are ignored
    }
  }
  refill();
}

void I8042::write_data(uint8_t value) {
  last_write_was_command_ = false;
  const uint8_t cmd = pending_command_;
  pending_command_ = 0;
  if (cmd >= 0x60 && cmd <= 0x7f) {
    ram_[cmd & 0x1f] = value;
  } else if (cmd == 0xd1) {
    const bool was_high = output_port_ & kOutResetLine;
    output_port_ = value;
    // A20 (bit 1) is not gated: the machines we boot never run with A20 masked.
    if (was_high && !(value & kOutResetLine) && on_reset) on_reset();
  } else if (cmd == 0xd2 || cmd == 0xd3) {
    // The controller writes its own output buffer as if the byte came from that port; the
    // ports' disable bits do not hold it back.
    controller_queue_.push_back({value, cmd == 0xd2 ? Source::kKeyboard : Source::kAux});
  } else if (cmd == 0xd4) {
    // No device on the aux port: the controller times out and reports a NAK with the timeout
    // status bit, so a mouse probe fails at once.
    controller_queue_.push_back({kResend, Source::kAux, /*timeout=*/true});
  } else {
    keyboard_command(value);
  }
  refill();
}

void I8042::keyboard_send(uint8_t value) {
  if (keyboard_queue_.size() < kKeyboardBufferSize) {
    keyboard_queue_.push_back({value, Source::kKeyboard});
  }
}

void I8042::inject_scancode(uint8_t byte) {
  if (!scanning_) return;
  keyboard_send(byte);
  refill();
}

void I8042::keyboard_command(uint8_t v) {
  // The parameter byte of a previous command (IBM PS/2 keyboard command set).
  if (keyboard_pending_) {
    const uint8_t cmd = keyboard_pending_;
    keyboard_pending_ = 0;
    switch (cmd) {
      case 0xed:
        leds_ = v & 7;
        break;
      case 0xf3:
        break;  // typematic rate/delay: nothing repeats here
      case 0xf0:
        if (v == 0) {
          keyboard_send(kAck);
          keyboard_send(scancode_set_);
          return;
        }
        if (v <= 3) scancode_set_ = v;
        break;
    }
    keyboard_send(kAck);
    return;
  }
  switch (v) {
    case 0xff:  // reset: ACK, then the basic assurance test passed
      reset_keyboard();
      keyboard_queue_.clear();
      keyboard_send(kAck);
      keyboard_send(kBatOk);
      break;
    case 0xf2:  // identify: an MF2 keyboard, AB 83 (AB 41 once translated to set 1)
      keyboard_send(kAck);
      keyboard_send(0xab);
      keyboard_send((ram_[0] & kCtrTranslate) ? 0x41 : 0x83);
      break;
    case 0xf4:  // enable scanning
      scanning_ = true;
      keyboard_send(kAck);
      break;
    case 0xf5:  // disable scanning and restore defaults
      scanning_ = false;
      keyboard_send(kAck);
      break;
    case 0xf6:  // set defaults
      scancode_set_ = 2;
      keyboard_send(kAck);
      break;
    case 0xed:
    case 0xf3:
    case 0xf0:
      keyboard_pending_ = v;
      keyboard_send(kAck);
      break;
    case 0xee:
      keyboard_send(kEcho);
      break;
    case 0xf7:
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0xfc:
    case 0xfd:
      keyboard_send(kAck);
      break;  // set-3 key types: accepted
    case 0xfe:
      keyboard_send(kAck);
      break;  // resend: nothing was lost
    default:
      keyboard_send(kResend);
      break;
  }
}

}  // namespace umbra
