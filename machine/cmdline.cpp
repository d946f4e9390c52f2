#include "machine/cmdline.h"

#include <cerrno>
#include <cstdlib>

#include "jit/tier1/tier1.h"

namespace umbra {

namespace {

std::optional<uint64_t> parse_u64(const std::string& s) {
  if (s.empty()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str(), &end, 0);
  if (errno != 0 || *end != '\0' || s[0] == '-') return std::nullopt;
  return v;
}

// -device isa-debug-exit[,iobase=N][,iosize=N]
bool parse_device(const std::string& spec, Options& o, std::string* error) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t comma = spec.find(',', start);
    parts.push_back(spec.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parts[0] != "isa-debug-exit") {
    *error = "unsupported -device '" + parts[0] + "' (supported: isa-debug-exit)";
    return false;
  }
  DebugExitConfig cfg;
  for (size_t i = 1; i < parts.size(); ++i) {
    size_t eq = parts[i].find('=');
    std::string key = parts[i].substr(0, eq);
    auto val = eq == std::string::npos ? std::nullopt : parse_u64(parts[i].substr(eq + 1));
    if (!val || *val > 0xffff || (key != "iobase" && key != "iosize")) {
      *error = "bad isa-debug-exit property '" + parts[i] + "' (expected iobase=N or iosize=N)";
      return false;
    }
    (key == "iobase" ? cfg.iobase : cfg.iosize) = static_cast<uint16_t>(*val);
  }
  if (cfg.iosize == 0 || cfg.iobase + cfg.iosize > 0x10000) {
    *error = "isa-debug-exit port range is outside the I/O space";
    return false;
  }
  o.debug_exit = cfg;
  return true;
}

}  // namespace

std::optional<uint64_t> parse_memory_size(const std::string& s) {
  if (s.empty()) return std::nullopt;
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  auto n = parse_u64(s.substr(0, digits));
  if (!n || *n == 0) return std::nullopt;
  std::string suffix = s.substr(digits);
  unsigned shift;
  if (suffix.empty() || suffix == "M" || suffix == "m" || suffix == "MB" || suffix == "MiB")
    shift = 20;
  else if (suffix == "G" || suffix == "g" || suffix == "GB" || suffix == "GiB")
    shift = 30;
  else if (suffix == "K" || suffix == "k" || suffix == "KB" || suffix == "KiB")
    shift = 10;
  else if (suffix == "T" || suffix == "t" || suffix == "TB" || suffix == "TiB")
    shift = 40;
  else
    return std::nullopt;
  if (*n > (uint64_t{1} << (46 - shift))) return std::nullopt;  // > 64 TiB: not a real machine
  uint64_t bytes = *n << shift;
  if (bytes < (1u << 20)) return std::nullopt;  // below 1 MiB
  return bytes;
}

const char* usage_text() {
  return "usage: umbra [options]\n"
         "  -kernel FILE         boot a Linux bzImage or a multiboot v1 kernel (ELF32)\n"
         "  -initrd FILE         Linux: the initial ramdisk\n"
         "  -initrd \"F [ARGS][,F [ARGS]...]\"  multiboot: modules\n"
         "  -append \"CMDLINE\"    kernel command line\n"
         "  -m SIZE              guest RAM (e.g. 512M, 2G; no suffix = MiB; default 128M)\n"
         "  -serial stdio|none   where COM1 goes (default stdio)\n"
         "  -display none        no window (the only display so far)\n"
         "  -nographic           no window; COM1 and the monitor share the terminal\n"
         "                       (Ctrl-A x quits, Ctrl-A c switches console/monitor)\n"
         "  -monitor stdio|none  the monitor on the terminal (with -nographic: Ctrl-A c)\n"
         "  -icount N            deterministic time: 2^N ns of guest time per instruction\n"
         "  -no-reboot           exit instead of resetting (a triple fault exits with status 1)\n"
         "  -smp 1               one CPU (the only configuration so far)\n"
         "  -cpu NAME            CPU model (-cpu help lists them)\n"
         "  --flat FILE          run a bare-metal flat binary in 64-bit mode (identity-mapped)\n"
         "  --load-addr ADDR     where --flat is loaded and started (default 0x100000)\n"
         "  --entry ADDR         start address for --flat (default: the load address)\n"
         "  -device isa-debug-exit[,iobase=0xf4][,iosize=0x4]\n"
         "                       writing V to the port exits with status (V << 1) | 1\n"
         "  -accel MODE          execution engines: jit (default: tier 0, hot blocks compiled by\n"
         "                       LLVM in the background), tier0, compile-all (every block by "
         "LLVM)\n"
         "  --max-insns N        stop after about N guest instructions\n"
         "  --disas              print each block as it is translated (Capstone disassembly)\n"
         "  --stats              print engine statistics at exit\n"
         "  --version, --help\n"
         "The debug console (port 0xe9) prints to standard output.\n";
}

std::optional<Options> parse_command_line(const std::vector<std::string>& args,
                                          std::string* error) {
  Options o;
  auto need_value = [&](size_t& i, const std::string& opt) -> const std::string* {
    if (i + 1 >= args.size()) {
      *error = "option " + opt + " needs a value";
      return nullptr;
    }
    return &args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h" || a == "-help") {
      o.help = true;
    } else if (a == "--version" || a == "-version") {
      o.version = true;
    } else if (a == "-m") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      auto sz = parse_memory_size(*v);
      if (!sz) {
        *error = "bad memory size '" + *v + "' (expected e.g. 512M or 2G, at least 1M)";
        return std::nullopt;
      }
      o.ram_bytes = *sz;
    } else if (a == "--flat") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      o.flat_image = *v;
    } else if (a == "--load-addr" || a == "--entry" || a == "--max-insns") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      auto n = parse_u64(*v);
      if (!n) {
        *error = "bad number '" + *v + "' for " + a;
        return std::nullopt;
      }
      if (a == "--load-addr")
        o.load_addr = *n;
      else if (a == "--entry")
        o.entry = *n;
      else
        o.max_insns = *n;
    } else if (a == "-device") {
      const std::string* v = need_value(i, a);
      if (!v || !parse_device(*v, o, error)) return std::nullopt;
    } else if (a == "-accel") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      AccelMode mode;
      if (!parse_accel_mode(*v, &mode)) {
        *error = "unsupported -accel '" + *v + "' (available: tier0, jit, compile-all)";
        return std::nullopt;
      }
      o.accel = *v;
    } else if (a == "--disas") {
      o.disas = true;
    } else if (a == "--stats") {
      o.stats = true;
    } else if (a == "-kernel" || a == "-initrd" || a == "-append" || a == "-cpu") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      (a == "-kernel"   ? o.kernel
       : a == "-initrd" ? o.initrd
       : a == "-append" ? o.append
                        : o.cpu_model) = *v;
    } else if (a == "-no-reboot") {
      o.no_reboot = true;
    } else if (a == "-nographic") {
      // No window exists yet; COM1 is on stdio by default, multiplexed with the monitor.
      o.nographic = true;
    } else if (a == "-display") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      if (*v != "none") {
        *error = "unsupported -display '" + *v + "' (available: none)";
        return std::nullopt;
      }
    } else if (a == "-serial") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      if (*v != "stdio" && *v != "none") {
        *error = "unsupported -serial '" + *v + "' (available: stdio, none)";
        return std::nullopt;
      }
      o.serial = *v;
    } else if (a == "-icount") {
      // -icount N or -icount shift=N: guest time advances 2^N ns per instruction.
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      std::string n = v->rfind("shift=", 0) == 0 ? v->substr(6) : *v;
      auto shift = parse_u64(n);
      if (!shift || *shift > 10) {
        *error = "bad -icount '" + *v + "' (expected shift=N with N in 0..10)";
        return std::nullopt;
      }
      o.icount_shift = static_cast<unsigned>(*shift);
    } else if (a == "-monitor") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      if (*v != "stdio" && *v != "none") {
        *error = "unsupported -monitor '" + *v + "' (available: stdio, none)";
        return std::nullopt;
      }
      o.monitor = *v;
    } else if (a == "-smp") {
      const std::string* v = need_value(i, a);
      if (!v) return std::nullopt;
      if (*v != "1" && *v != "cpus=1") {
        *error = "unsupported -smp '" + *v + "' (Umbra emulates one CPU)";
        return std::nullopt;
      }
    } else {
      *error = "unknown option '" + a + "' (see --help)";
      return std::nullopt;
    }
  }
  if (!o.help && !o.version && o.flat_image.empty() && o.kernel.empty() && o.cpu_model != "help") {
    *error = "nothing to run: give -kernel FILE or --flat FILE (see --help)";
    return std::nullopt;
  }
  if (!o.flat_image.empty() && !o.kernel.empty()) {
    *error = "give either -kernel or --flat, not both";
    return std::nullopt;
  }
  if (o.kernel.empty() && (!o.initrd.empty() || !o.append.empty())) {
    *error = "-initrd and -append need -kernel";
    return std::nullopt;
  }
  return o;
}

}  // namespace umbra
