#include "jit/tier1/native_symbols.h"

#include <dlfcn.h>
#include <llvm/BinaryFormat/ELF.h>
#include <llvm/Object/ELFObjectFile.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/Error.h>

namespace umbra::tier1 {

const NativeSymbols& NativeSymbols::get() {
  static const NativeSymbols instance;
  return instance;
}

NativeSymbols::NativeSymbols() {
  auto file = llvm::object::ObjectFile::createObjectFile("/proc/self/exe");
  if (!file) {
    error_ = "cannot read /proc/self/exe: " + llvm::toString(file.takeError());
    return;
  }
  auto* elf = llvm::dyn_cast<llvm::object::ELFObjectFileBase>(file->getBinary());
  if (!elf) {
    error_ = "the executable is not ELF";
    return;
  }
  // A position-independent executable is loaded at a bias; its symbol values are relative to
  // it. dladdr on a function of this executable gives the load base of the object holding it.
  uint64_t bias = 0;
  if (elf->getEType() == llvm::ELF::ET_DYN) {
    Dl_info info{};
    if (!dladdr(reinterpret_cast<void*>(&NativeSymbols::get), &info) || !info.dli_fbase) {
      error_ = "dladdr cannot find the executable's load address";
      return;
    }
    bias = reinterpret_cast<uint64_t>(info.dli_fbase);
  }

  std::string current_file;
  for (const llvm::object::ELFSymbolRef sym : elf->symbols()) {
    const uint8_t type = sym.getELFType();
    auto name = sym.getName();
    if (!name) {
      llvm::consumeError(name.takeError());
      continue;
    }
    if (type == llvm::ELF::STT_FILE) {
      current_file = name->str();
      continue;
    }
    if (type != llvm::ELF::STT_FUNC && type != llvm::ELF::STT_OBJECT) continue;
    auto value = sym.getValue();
    if (!value) {
      llvm::consumeError(value.takeError());
      continue;
    }
    if (*value == 0 || name->empty()) continue;
    const bool local = sym.getBinding() == llvm::ELF::STB_LOCAL;
    Symbol s{name->str(), local ? current_file : std::string(), *value + bias};
    if (local) {
      std::string key = s.file + '\0' + s.name;
      auto [it, fresh] = locals_.emplace(key, s.address);
      if (!fresh && it->second != s.address) it->second = 0;  // ambiguous: never guess
    } else {
      globals_.emplace(s.name, s.address);
    }
    if (type == llvm::ELF::STT_FUNC) functions_by_address_.emplace(s.address, symbols_.size());
    symbols_.push_back(std::move(s));
  }
  if (symbols_.empty()) error_ = "the executable has no symbol table (stripped?)";
}

const NativeSymbols::Symbol* NativeSymbols::function_at(uint64_t address) const {
  auto it = functions_by_address_.find(address);
  return it == functions_by_address_.end() ? nullptr : &symbols_[it->second];
}

uint64_t NativeSymbols::global(std::string_view name) const {
  auto it = globals_.find(std::string(name));
  return it == globals_.end() ? 0 : it->second;
}

uint64_t NativeSymbols::local(std::string_view file, std::string_view name) const {
  std::string key(file);
  key += '\0';
  key += name;
  auto it = locals_.find(key);
  return it == locals_.end() ? 0 : it->second;
}

}  // namespace umbra::tier1
