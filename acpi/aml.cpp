#include "acpi/aml.h"

#include <stdexcept>

namespace umbra::aml {

namespace {

// Opcodes, ACPI 6.x section 20.3 (AML byte stream byte values).
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08, kBytePrefix = 0x0A,
                  kWordPrefix = 0x0B, kDWordPrefix = 0x0C, kStringPrefix = 0x0D,
                  kQWordPrefix = 0x0E, kScopeOp = 0x10, kBufferOp = 0x11, kPackageOp = 0x12,
                  kVarPackageOp = 0x13, kMethodOp = 0x14, kDualNamePrefix = 0x2E,
                  kMultiNamePrefix = 0x2F, kExtOpPrefix = 0x5B, kRootChar = 0x5C,
                  kParentPrefixChar = 0x5E, kLocal0Op = 0x60, kArg0Op = 0x68, kStoreOp = 0x70,
                  kAddOp = 0x72, kConcatOp = 0x73, kSubtractOp = 0x74, kIncrementOp = 0x75,
                  kDecrementOp = 0x76, kShiftLeftOp = 0x79, kShiftRightOp = 0x7A, kAndOp = 0x7B,
                  kOrOp = 0x7D, kXorOp = 0x7F, kNotOp = 0x80, kDerefOfOp = 0x83, kNotifyOp = 0x86,
                  kSizeOfOp = 0x87, kIndexOp = 0x88, kCreateDWordFieldOp = 0x8A,
                  kCreateWordFieldOp = 0x8B, kCreateByteFieldOp = 0x8C, kCreateQWordFieldOp = 0x8F,
                  kLAndOp = 0x90, kLOrOp = 0x91, kLNotOp = 0x92, kLEqualOp = 0x93,
                  kLGreaterOp = 0x94, kLLessOp = 0x95, kIfOp = 0xA0, kElseOp = 0xA1,
                  kWhileOp = 0xA2, kReturnOp = 0xA4, kBreakOp = 0xA5, kOnesOp = 0xFF,
                  kExternalOp = 0x15, kToBufferOp = 0x96, kToIntegerOp = 0x99;
// Second bytes after ExtOpPrefix.
constexpr uint8_t kMutexOp = 0x01, kSleepOp = 0x22, kAcquireOp = 0x23, kReleaseOp = 0x27,
                  kDebugOp = 0x31, kOpRegionOp = 0x80, kFieldOp = 0x81, kDeviceOp = 0x82;

void append(AmlCode& out, const AmlCode& more) {
  out.insert(out.end(), more.begin(), more.end());
}

// Opcode bytes, then PkgLength covering `body`, then body.
AmlCode with_pkg_length(std::initializer_list<uint8_t> opcode, const AmlCode& body) {
  AmlCode out(opcode);
  append(out, pkg_length(body.size()));
  append(out, body);
  return out;
}

AmlCode op2(uint8_t opcode, const AmlCode& a, const AmlCode& b) {
  AmlCode out{opcode};
  append(out, a);
  append(out, b);
  return out;
}

AmlCode op3(uint8_t opcode, const AmlCode& a, const AmlCode& b, const AmlCode& c) {
  AmlCode out = op2(opcode, a, b);
  append(out, c);
  return out;
}

void append_le(AmlCode& out, uint64_t value, unsigned bytes) {
  for (unsigned i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

}  // namespace

AmlCode cat(const AmlList& terms) {
  AmlCode out;
  for (const AmlCode& t : terms) append(out, t);
  return out;
}

bool is_valid_name_seg(std::string_view seg) {
  if (seg.empty() || seg.size() > 4) return false;
  for (size_t i = 0; i < seg.size(); ++i) {
    const char c = seg[i];
    const bool lead = (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(lead || (i > 0 && digit))) return false;
  }
  return true;
}

AmlCode name_seg(std::string_view seg) {
  if (!is_valid_name_seg(seg)) throw std::invalid_argument("bad AML NameSeg: " + std::string(seg));
  AmlCode out(seg.begin(), seg.end());
  out.resize(4, '_');
  return out;
}

AmlCode name_string(std::string_view path) {
  AmlCode out;
  size_t pos = 0;
  if (pos < path.size() && path[pos] == '\\') {
    out.push_back(kRootChar);
    ++pos;
  } else {
    while (pos < path.size() && path[pos] == '^') {
      out.push_back(kParentPrefixChar);
      ++pos;
    }
  }
  std::vector<std::string_view> segs;
  std::string_view rest = path.substr(pos);
  while (!rest.empty()) {
    const size_t dot = rest.find('.');
    segs.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest = rest.substr(dot + 1);
    if (rest.empty()) throw std::invalid_argument("AML name ends in '.': " + std::string(path));
  }
  if (segs.empty()) {
    out.push_back(0x00);  // NullName
  } else if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    if (segs.size() > 255) throw std::invalid_argument("AML name too long");
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (std::string_view s : segs) append(out, name_seg(s));
  return out;
}

AmlCode pkg_length_raw(size_t value) {
  if (value < 0x40) return {static_cast<uint8_t>(value)};
  // Lead byte: bits 7-6 = number of following bytes, bits 3-0 = the low nibble; the following
  // bytes hold the rest, least significant first (20.2.4).
  unsigned follow = value < (1u << 12) ? 1 : value < (1u << 20) ? 2 : value < (1u << 28) ? 3 : 0;
  if (follow == 0) throw std::length_error("AML PkgLength exceeds 2^28-1");
  AmlCode out{static_cast<uint8_t>((follow << 6) | (value & 0xF))};
  append_le(out, value >> 4, follow);
  return out;
}

AmlCode pkg_length(size_t body_len) {
  // The value includes the PkgLength bytes themselves: pick the smallest size that holds it.
  for (size_t self = 1; self <= 4; ++self) {
    const size_t total = body_len + self;
    const size_t limit = self == 1 ? 0x40 : size_t{1} << (4 + 8 * (self - 1));
    if (total < limit) return pkg_length_raw(total);
  }
  throw std::length_error("AML PkgLength exceeds 2^28-1");
}

AmlCode integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  if (value == ~uint64_t{0}) return {kOnesOp};
  AmlCode out;
  if (value <= 0xFF) {
    out = {kBytePrefix};
    append_le(out, value, 1);
  } else if (value <= 0xFFFF) {
    out = {kWordPrefix};
    append_le(out, value, 2);
  } else if (value <= 0xFFFFFFFF) {
    out = {kDWordPrefix};
    append_le(out, value, 4);
  } else {
    out = {kQWordPrefix};
    append_le(out, value, 8);
  }
  return out;
}

AmlCode zero() {
  return {kZeroOp};
}
AmlCode one() {
  return {kOneOp};
}
AmlCode ones() {
  return {kOnesOp};
}

AmlCode dword(uint32_t value) {
  AmlCode out{kDWordPrefix};
  append_le(out, value, 4);
  return out;
}

AmlCode string(std::string_view text) {
  AmlCode out{kStringPrefix};
  for (char c : text) {
    if (c == 0 || static_cast<unsigned char>(c) > 0x7F)
      throw std::invalid_argument("AML strings are 7-bit ASCII without NUL");
    out.push_back(static_cast<uint8_t>(c));
  }
  out.push_back(0);
  return out;
}

AmlCode buffer(std::span<const uint8_t> data) {
  return buffer(data.size(), data);
}

AmlCode buffer(size_t size, std::span<const uint8_t> data) {
  if (data.size() > size) throw std::invalid_argument("AML buffer data larger than its size");
  AmlCode body = integer(size);
  body.insert(body.end(), data.begin(), data.end());
  body.resize(body.size() + (size - data.size()), 0);
  return with_pkg_length({kBufferOp}, body);
}

AmlCode package(const AmlList& elements) {
  if (elements.size() <= 255) {
    AmlCode body{static_cast<uint8_t>(elements.size())};
    append(body, cat(elements));
    return with_pkg_length({kPackageOp}, body);
  }
  AmlCode body = integer(elements.size());
  append(body, cat(elements));
  return with_pkg_length({kVarPackageOp}, body);
}

uint32_t eisa_id_value(std::string_view id) {
  // Three upper-case letters (5 bits each, 'A' = 1) then four hex digits, stored big-endian in
  // the 32-bit value's byte order (ACPI 6.x section 6.1.5, _HID; the PNP compressed id).
  auto hex = [&](char c) -> unsigned {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    throw std::invalid_argument("bad EISA id: " + std::string(id));
  };
  if (id.size() != 7) throw std::invalid_argument("bad EISA id: " + std::string(id));
  for (int i = 0; i < 3; ++i)
    if (id[i] < 'A' || id[i] > 'Z') throw std::invalid_argument("bad EISA id: " + std::string(id));
  const unsigned letters = ((id[0] - 0x40) << 10) | ((id[1] - 0x40) << 5) | (id[2] - 0x40);
  const unsigned product = (hex(id[3]) << 12) | (hex(id[4]) << 8) | (hex(id[5]) << 4) | hex(id[6]);
  const uint8_t b[4] = {static_cast<uint8_t>(letters >> 8), static_cast<uint8_t>(letters),
                        static_cast<uint8_t>(product >> 8), static_cast<uint8_t>(product)};
  return b[0] | (b[1] << 8) | (b[2] << 16) | (uint32_t{b[3]} << 24);
}

AmlCode eisa_id(std::string_view pnp_id) {
  return dword(eisa_id_value(pnp_id));
}

AmlCode local(unsigned n) {
  if (n > 7) throw std::invalid_argument("AML has Local0..Local7");
  return {static_cast<uint8_t>(kLocal0Op + n)};
}

AmlCode arg(unsigned n) {
  if (n > 6) throw std::invalid_argument("AML has Arg0..Arg6");
  return {static_cast<uint8_t>(kArg0Op + n)};
}

AmlCode debug_obj() {
  return {kExtOpPrefix, kDebugOp};
}
AmlCode null_target() {
  return {0x00};
}

AmlCode name(std::string_view path, const AmlCode& object) {
  return op2(kNameOp, name_string(path), object);
}

AmlCode scope(std::string_view path, const AmlList& body) {
  AmlCode inner = name_string(path);
  append(inner, cat(body));
  return with_pkg_length({kScopeOp}, inner);
}

AmlCode device(std::string_view path, const AmlList& body) {
  AmlCode inner = name_string(path);
  append(inner, cat(body));
  return with_pkg_length({kExtOpPrefix, kDeviceOp}, inner);
}

AmlCode method(std::string_view path, unsigned arg_count, bool serialized, const AmlList& body,
               unsigned sync_level) {
  if (arg_count > 7 || sync_level > 15) throw std::invalid_argument("bad AML method flags");
  AmlCode inner = name_string(path);
  // MethodFlags: bits 0-2 ArgCount, bit 3 SerializeFlag, bits 4-7 SyncLevel.
  inner.push_back(static_cast<uint8_t>(arg_count | (serialized ? 0x08 : 0) | (sync_level << 4)));
  append(inner, cat(body));
  return with_pkg_length({kMethodOp}, inner);
}

AmlCode mutex(std::string_view path, unsigned sync_level) {
  if (sync_level > 15) throw std::invalid_argument("bad AML mutex sync level");
  AmlCode out{kExtOpPrefix, kMutexOp};
  append(out, name_string(path));
  out.push_back(static_cast<uint8_t>(sync_level));
  return out;
}

AmlCode acquire(std::string_view mutex_path, uint16_t timeout_ms) {
  AmlCode out{kExtOpPrefix, kAcquireOp};
  append(out, name_string(mutex_path));
  append_le(out, timeout_ms, 2);
  return out;
}

AmlCode release(std::string_view mutex_path) {
  AmlCode out{kExtOpPrefix, kReleaseOp};
  append(out, name_string(mutex_path));
  return out;
}

AmlCode op_region(std::string_view path, RegionSpace space, const AmlCode& offset,
                  const AmlCode& length) {
  AmlCode out{kExtOpPrefix, kOpRegionOp};
  append(out, name_string(path));
  out.push_back(static_cast<uint8_t>(space));
  append(out, offset);
  append(out, length);
  return out;
}

AmlCode field(std::string_view region_path, FieldAccess access, bool lock, FieldUpdate update,
              const std::vector<FieldUnit>& units) {
  AmlCode inner = name_string(region_path);
  // FieldFlags: bits 0-3 AccessType, bit 4 LockRule, bits 5-6 UpdateRule (20.2.5.2).
  inner.push_back(static_cast<uint8_t>(static_cast<unsigned>(access) | (lock ? 0x10 : 0) |
                                       (static_cast<unsigned>(update) << 5)));
  for (const FieldUnit& u : units) {
    if (u.bits == 0) throw std::invalid_argument("AML field unit of 0 bits");
    if (u.name.empty()) {
      inner.push_back(0x00);  // ReservedField
    } else {
      append(inner, name_seg(u.name));
    }
    append(inner, pkg_length_raw(u.bits));
  }
  return with_pkg_length({kExtOpPrefix, kFieldOp}, inner);
}

AmlCode create_field(unsigned bytes, const AmlCode& source, const AmlCode& byte_index,
                     std::string_view name) {
  uint8_t op;
  switch (bytes) {
    case 1:
      op = kCreateByteFieldOp;
      break;
    case 2:
      op = kCreateWordFieldOp;
      break;
    case 4:
      op = kCreateDWordFieldOp;
      break;
    case 8:
      op = kCreateQWordFieldOp;
      break;
    default:
      throw std::invalid_argument("AML Create*Field takes 1, 2, 4 or 8 bytes");
  }
  return op3(op, source, byte_index, name_string(name));
}

AmlCode external(std::string_view path, ObjectType type, unsigned arg_count) {
  if (arg_count > 7) throw std::invalid_argument("AML methods take at most 7 arguments");
  AmlCode out{kExternalOp};
  append(out, name_string(path));
  out.push_back(static_cast<uint8_t>(type));
  out.push_back(static_cast<uint8_t>(arg_count));
  return out;
}

AmlCode if_(const AmlCode& predicate, const AmlList& body) {
  AmlCode inner = predicate;
  append(inner, cat(body));
  return with_pkg_length({kIfOp}, inner);
}

AmlCode else_(const AmlList& body) {
  return with_pkg_length({kElseOp}, cat(body));
}

AmlCode while_(const AmlCode& predicate, const AmlList& body) {
  AmlCode inner = predicate;
  append(inner, cat(body));
  return with_pkg_length({kWhileOp}, inner);
}

AmlCode return_(const AmlCode& value) {
  AmlCode out{kReturnOp};
  append(out, value);
  return out;
}

AmlCode break_() {
  return {kBreakOp};
}
AmlCode notify(const AmlCode& object, const AmlCode& value) {
  return op2(kNotifyOp, object, value);
}

AmlCode sleep_ms(const AmlCode& ms) {
  AmlCode out{kExtOpPrefix, kSleepOp};
  append(out, ms);
  return out;
}

AmlCode store(const AmlCode& value, const AmlCode& target) {
  return op2(kStoreOp, value, target);
}
AmlCode add(const AmlCode& a, const AmlCode& b, const AmlCode& t) {
  return op3(kAddOp, a, b, t);
}
AmlCode subtract(const AmlCode& a, const AmlCode& b, const AmlCode& t) {
  return op3(kSubtractOp, a, b, t);
}
AmlCode and_(const AmlCode& a, const AmlCode& b, const AmlCode& t) {
  return op3(kAndOp, a, b, t);
}
AmlCode or_(const AmlCode& a, const AmlCode& b, const AmlCode& t) {
  return op3(kOrOp, a, b, t);
}
AmlCode xor_(const AmlCode& a, const AmlCode& b, const AmlCode& t) {
  return op3(kXorOp, a, b, t);
}
AmlCode shift_left(const AmlCode& a, const AmlCode& count, const AmlCode& t) {
  return op3(kShiftLeftOp, a, count, t);
}
AmlCode shift_right(const AmlCode& a, const AmlCode& count, const AmlCode& t) {
  return op3(kShiftRightOp, a, count, t);
}
AmlCode not_(const AmlCode& a, const AmlCode& t) {
  return op2(kNotOp, a, t);
}

AmlCode increment(const AmlCode& target) {
  AmlCode out{kIncrementOp};
  append(out, target);
  return out;
}

AmlCode decrement(const AmlCode& target) {
  AmlCode out{kDecrementOp};
  append(out, target);
  return out;
}

AmlCode land(const AmlCode& a, const AmlCode& b) {
  return op2(kLAndOp, a, b);
}
AmlCode lor(const AmlCode& a, const AmlCode& b) {
  return op2(kLOrOp, a, b);
}
AmlCode lnot(const AmlCode& a) {
  AmlCode out{kLNotOp};
  append(out, a);
  return out;
}
AmlCode lequal(const AmlCode& a, const AmlCode& b) {
  return op2(kLEqualOp, a, b);
}
AmlCode lgreater(const AmlCode& a, const AmlCode& b) {
  return op2(kLGreaterOp, a, b);
}
AmlCode lless(const AmlCode& a, const AmlCode& b) {
  return op2(kLLessOp, a, b);
}

AmlCode lnot_equal(const AmlCode& a, const AmlCode& b) {
  return lnot(lequal(a, b));
}
AmlCode lgreater_equal(const AmlCode& a, const AmlCode& b) {
  return lnot(lless(a, b));
}
AmlCode lless_equal(const AmlCode& a, const AmlCode& b) {
  return lnot(lgreater(a, b));
}
AmlCode to_integer(const AmlCode& value, const AmlCode& t) {
  return op2(kToIntegerOp, value, t);
}
AmlCode to_buffer(const AmlCode& value, const AmlCode& t) {
  return op2(kToBufferOp, value, t);
}

AmlCode size_of(const AmlCode& object) {
  AmlCode out{kSizeOfOp};
  append(out, object);
  return out;
}

AmlCode index(const AmlCode& object, const AmlCode& idx, const AmlCode& t) {
  return op3(kIndexOp, object, idx, t);
}

AmlCode deref_of(const AmlCode& reference) {
  AmlCode out{kDerefOfOp};
  append(out, reference);
  return out;
}

AmlCode concatenate(const AmlCode& a, const AmlCode& b, const AmlCode& t) {
  return op3(kConcatOp, a, b, t);
}

AmlCode call(std::string_view path, const AmlList& args) {
  if (args.size() > 7) throw std::invalid_argument("AML methods take at most 7 arguments");
  AmlCode out = name_string(path);
  append(out, cat(args));
  return out;
}

}  // namespace umbra::aml
