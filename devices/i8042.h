// The PC/AT keyboard controller (an Intel 8042 running the IBM firmware) at ports 0x60 (data)
// and 0x64 (status / command), with a PS/2 keyboard on its first port and an auxiliary (mouse)
// port with no device attached. It answers the controller commands and keyboard commands that
// firmware and Linux's i8042/atkbd drivers use while probing (self tests, the command byte,
// port enable/disable, loopback, identify, LEDs, scan code set, scanning on/off), drives IRQ1 /
// IRQ12 when its output buffer fills (if enabled in the command byte) and exposes the output
// port's reset line (command 0xD1 bit 0 and pulse command 0xFE) for reboot=k.
//
// The keyboard never presses a key by itself; inject_scancode() queues bytes as the keyboard
// would send them (already in the set the guest sees: set 1 with translation on).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>

#include "devices/irq.h"
#include "devices/port_bus.h"

namespace umbra {

class I8042 {
 public:
  I8042(PortBus& bus, IrqLine irq1, IrqLine irq12);

  // Power-on state: command byte 0x61 (translation, aux port disabled, keyboard interrupt on;
  // the system flag is set by the self test), empty buffers, reset line high, keyboard scanning.
  void reset();

  // Called when the guest pulls the CPU reset line (output port bit 0 low).
  std::function<void()> on_reset;

  // Queues a byte from the keyboard (dropped while the keyboard is not scanning or its
  // 16-byte buffer is full).
  void inject_scancode(uint8_t byte);

  uint8_t command_byte() const { return ram_[0]; }
  uint8_t output_port() const { return output_port_; }

 private:
  enum class Source : uint8_t { kController, kKeyboard, kAux };
  struct Byte {
    uint8_t value;
    Source source;
    bool timeout = false;  // the device did not answer (status bit 6 while this byte is read)
  };

  uint8_t read_status() const;
  uint8_t read_data();
  void write_command(uint8_t cmd);
  void write_data(uint8_t value);
  void keyboard_command(uint8_t value);
  void reset_keyboard();

  void reply(uint8_t value) { controller_queue_.push_back({value, Source::kController}); }
  void keyboard_send(uint8_t value);
  // Moves the next byte into the output buffer if it is empty, then updates the IRQ lines.
  void refill();
  void update_irqs();

  IrqLine irq1_, irq12_;
  uint8_t ram_[32] = {};  // controller RAM; byte 0 is the command byte
  uint8_t output_port_ = 0;
  uint8_t pending_command_ = 0;  // a controller command waiting for its data byte, or 0
  bool last_write_was_command_ = false;
  bool obf_ = false;
  Byte out_{0, Source::kController};
  std::deque<Byte> controller_queue_, keyboard_queue_, aux_queue_;
  bool irq1_level_ = false, irq12_level_ = false;

  // The keyboard.
  bool scanning_ = true;
  uint8_t keyboard_pending_ = 0;  // a keyboard command waiting for its parameter, or 0
  uint8_t scancode_set_ = 2;
  uint8_t leds_ = 0;
};

}  // namespace umbra
