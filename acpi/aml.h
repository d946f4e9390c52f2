// A small builder for ACPI Machine Language (AML) byte code, the form in which the DSDT (and any
// SSDT) carries the namespace: devices, their resources and the control methods the OS runs.
// Every function returns the encoded bytes of one term (or name, or data object); compound terms
// take their contents as a list of already encoded terms, so a table is built bottom-up:
//
//   aml::scope("\\_SB", {aml::device("PCI0", {aml::name("_HID", aml::eisa_id("PNP0A03")),
//                                             aml::name("_UID", aml::integer(0))})})
//
// Encodings follow the ACPI 6.x specification, chapter 20 ("ACPI Machine Language (AML)
// Specification"): section 20.2.2 (name objects), 20.2.3 (data objects), 20.2.4 (PkgLength),
// 20.2.5 (terms). Resource descriptors (ResourceTemplate contents) are in aml_resource.h.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace umbra::aml {

using AmlCode = std::vector<uint8_t>;
using AmlList = std::vector<AmlCode>;

// Concatenation of terms (a TermList).
AmlCode cat(const AmlList& terms);

// ---- names (20.2.2) ----
// One NameSeg: 1..4 characters [A-Z0-9_], padded with '_' to 4 ("CPU" -> "CPU_").
AmlCode name_seg(std::string_view seg);
// A NameString: optional root prefix '\' or parent prefixes '^', then dot-separated segments:
// "\\_SB.PCI0", "^^FOO", "_HID", "\\". Uses DualNamePrefix / MultiNamePrefix as needed; a path
// with no segments ends in NullName.
AmlCode name_string(std::string_view path);
// Validity check used by name_string (throws std::invalid_argument on a bad name).
bool is_valid_name_seg(std::string_view seg);

// ---- package length (20.2.4) ----
// The PkgLength that precedes a body of `body_len` bytes; the encoded value counts its own bytes
// too, as the specification requires. 1 byte up to 63 in total, else 2..4 bytes (up to 2^28-1).
AmlCode pkg_length(size_t body_len);
// The same encoding without the self-inclusion, as used for the bit widths of field elements.
AmlCode pkg_length_raw(size_t value);

// ---- data objects (20.2.3) ----
// The smallest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set; DSDTs here are revision 2,
// so integers are 64-bit), BytePrefix, WordPrefix, DWordPrefix, QWordPrefix.
AmlCode integer(uint64_t value);
AmlCode zero();
AmlCode one();
AmlCode ones();
// Always the DWordPrefix form: for values that code later patches or compares by width.
AmlCode dword(uint32_t value);
// A null-terminated ASCII string (StringPrefix).
AmlCode string(std::string_view text);
// Buffer of the given bytes (BufferOp, BufferSize = the data length).
AmlCode buffer(std::span<const uint8_t> data);
// Buffer of `size` bytes, zero-filled past `data`.
AmlCode buffer(size_t size, std::span<const uint8_t> data = {});
// Package (up to 255 elements) or VarPackage (more).
AmlCode package(const AmlList& elements);
// EISAID("PNP0A03"): the compressed 32-bit PNP id as a DWord integer.
AmlCode eisa_id(std::string_view pnp_id);
uint32_t eisa_id_value(std::string_view pnp_id);

// ---- locals, arguments, debug ----
AmlCode local(unsigned n);  // Local0..Local7
AmlCode arg(unsigned n);    // Arg0..Arg6
AmlCode debug_obj();        // Debug
// "No target" for operators with an optional Target operand.
AmlCode null_target();

// ---- named objects and namespace modifiers (20.2.5.1, 20.2.5.2) ----
AmlCode name(std::string_view path, const AmlCode& object);
AmlCode scope(std::string_view path, const AmlList& body);
AmlCode device(std::string_view path, const AmlList& body);
// Method with `arg_count` (0..7) arguments; `serialized` makes the interpreter run one
// invocation at a time (needed when a method creates named objects or uses shared fields).
AmlCode method(std::string_view path, unsigned arg_count, bool serialized, const AmlList& body,
               unsigned sync_level = 0);
AmlCode mutex(std::string_view path, unsigned sync_level = 0);
// Acquire(mutex, timeout_ms); 0xFFFF waits forever. Its result (Ones on timeout) is a value.
AmlCode acquire(std::string_view mutex_path, uint16_t timeout_ms);
AmlCode release(std::string_view mutex_path);

enum class RegionSpace : uint8_t {
  kSystemMemory = 0,
  kSystemIo = 1,
  kPciConfig = 2,
  kEmbeddedControl = 3,
};
AmlCode op_region(std::string_view path, RegionSpace space, const AmlCode& offset,
                  const AmlCode& length);

enum class FieldAccess : uint8_t { kAny = 0, kByte = 1, kWord = 2, kDWord = 3, kQWord = 4 };
enum class FieldUpdate : uint8_t { kPreserve = 0, kWriteAsOnes = 1, kWriteAsZeros = 2 };
struct FieldUnit {
  std::string name;  // 4-character NameSeg; empty = reserved (skipped) bits
  unsigned bits;
};
// Field(region, access, NoLock/Lock, update) { units... }. Units are laid out consecutively
// from bit 0 of the region.
AmlCode field(std::string_view region_path, FieldAccess access, bool lock, FieldUpdate update,
              const std::vector<FieldUnit>& units);

// CreateByteField / CreateWordField / CreateDWordField / CreateQWordField(source, byte index,
// name): a name for part of a buffer (used to patch _CRS templates at run time).
AmlCode create_field(unsigned bytes, const AmlCode& source, const AmlCode& byte_index,
                     std::string_view name);

// External (path, type, argument count): declares an object defined in another table, so a
// disassembler/interpreter of this one knows its type (and, for methods, its argument count).
enum class ObjectType : uint8_t {
  kUnknown = 0,
  kInteger = 1,
  kString = 2,
  kBuffer = 3,
  kPackage = 4,
  kFieldUnit = 5,
  kDevice = 6,
  kMethod = 8,
  kMutex = 9,
  kOpRegion = 10,
};
AmlCode external(std::string_view path, ObjectType type, unsigned arg_count = 0);

// ---- statements (20.2.5.3) ----
AmlCode if_(const AmlCode& predicate, const AmlList& body);
AmlCode else_(const AmlList& body);
AmlCode while_(const AmlCode& predicate, const AmlList& body);
AmlCode return_(const AmlCode& value);
AmlCode break_();
AmlCode notify(const AmlCode& object, const AmlCode& value);
AmlCode sleep_ms(const AmlCode& ms);

// ---- expressions (20.2.5.4) ----
AmlCode store(const AmlCode& value, const AmlCode& target);
AmlCode add(const AmlCode& a, const AmlCode& b, const AmlCode& target = null_target());
AmlCode subtract(const AmlCode& a, const AmlCode& b, const AmlCode& target = null_target());
AmlCode and_(const AmlCode& a, const AmlCode& b, const AmlCode& target = null_target());
AmlCode or_(const AmlCode& a, const AmlCode& b, const AmlCode& target = null_target());
AmlCode xor_(const AmlCode& a, const AmlCode& b, const AmlCode& target = null_target());
AmlCode shift_left(const AmlCode& a, const AmlCode& count, const AmlCode& target = null_target());
AmlCode shift_right(const AmlCode& a, const AmlCode& count, const AmlCode& target = null_target());
AmlCode not_(const AmlCode& a, const AmlCode& target = null_target());
AmlCode increment(const AmlCode& target);
AmlCode decrement(const AmlCode& target);
AmlCode land(const AmlCode& a, const AmlCode& b);
AmlCode lor(const AmlCode& a, const AmlCode& b);
AmlCode lnot(const AmlCode& a);
AmlCode lequal(const AmlCode& a, const AmlCode& b);
AmlCode lgreater(const AmlCode& a, const AmlCode& b);
AmlCode lless(const AmlCode& a, const AmlCode& b);
// ASL's LNotEqual / LGreaterEqual / LLessEqual: LNot of the opposite comparison (20.2.5.4).
AmlCode lnot_equal(const AmlCode& a, const AmlCode& b);
AmlCode lgreater_equal(const AmlCode& a, const AmlCode& b);
AmlCode lless_equal(const AmlCode& a, const AmlCode& b);
AmlCode to_integer(const AmlCode& value, const AmlCode& target = null_target());
AmlCode to_buffer(const AmlCode& value, const AmlCode& target = null_target());
AmlCode size_of(const AmlCode& object);
AmlCode index(const AmlCode& object, const AmlCode& idx, const AmlCode& target = null_target());
AmlCode deref_of(const AmlCode& reference);
AmlCode concatenate(const AmlCode& a, const AmlCode& b, const AmlCode& target = null_target());
// A method invocation: the name followed by its arguments (the parser knows the argument count
// from the method's definition, which must come earlier in the table or be External).
AmlCode call(std::string_view path, const AmlList& args = {});

}  // namespace umbra::aml
