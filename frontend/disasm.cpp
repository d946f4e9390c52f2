// Capstone 4.0.2 wrapper (Intel syntax). One Capstone handle per mode and thread, opened on first
// use and kept: cs_open is far more expensive than disassembling one instruction, and the decoder
// tests call this a million times.
#include "frontend/disasm.h"

#include <capstone/capstone.h>

namespace umbra {

namespace {

class CapstoneHandle {
 public:
  explicit CapstoneHandle(cs_mode mode) {
    if (cs_open(CS_ARCH_X86, mode, &handle_) != CS_ERR_OK) {
      handle_ = 0;
      return;
    }
    // Intel syntax is Capstone's default for x86; set it explicitly so the output format never
    // depends on a library default. Details (operand arrays) are off: we only need text.
    cs_option(handle_, CS_OPT_SYNTAX, CS_OPT_SYNTAX_INTEL);
    insn_ = cs_malloc(handle_);
  }
  ~CapstoneHandle() {
    if (insn_) cs_free(insn_, 1);
    if (handle_) cs_close(&handle_);
  }
  CapstoneHandle(const CapstoneHandle&) = delete;
  CapstoneHandle& operator=(const CapstoneHandle&) = delete;

  Disassembly disassemble(const uint8_t* bytes, unsigned avail, uint64_t address) {
    Disassembly d{0, {}, {}};
    if (!handle_ || !insn_) return d;
    const uint8_t* code = bytes;
    size_t size = avail;
    uint64_t addr = address;
    if (!cs_disasm_iter(handle_, &code, &size, &addr, insn_)) return d;
    d.length = insn_->size;
    d.mnemonic = insn_->mnemonic;
    d.operands = insn_->op_str;
    return d;
  }

 private:
  csh handle_ = 0;
  cs_insn* insn_ = nullptr;
};

CapstoneHandle& handle_for(int bits) {
  thread_local CapstoneHandle h16(CS_MODE_16);
  thread_local CapstoneHandle h32(CS_MODE_32);
  thread_local CapstoneHandle h64(CS_MODE_64);
  if (bits == 16) return h16;
  if (bits == 32) return h32;
  return h64;
}

}  // namespace

Disassembly disassemble_one(const uint8_t* bytes, unsigned avail, uint64_t address, int bits) {
  if (bits != 16 && bits != 32 && bits != 64) return Disassembly{0, {}, {}};
  return handle_for(bits).disassemble(bytes, avail, address);
}

}  // namespace umbra
