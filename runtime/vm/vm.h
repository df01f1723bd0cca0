// vm.h - the bytecode interpreter.
//
// One call evaluates one unit for one user: a flat loop over forward-only code with computed-goto
// dispatch (a switch where the compiler lacks it), registers in caller-provided scratch, no
// allocation on the hot path and no virtual call per instruction (only LOAD_AGG asks the
// aggregate source, once per aggregate used). Runtime faults (overflow, division by zero) end
// the evaluation with an error status instead of a value.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bytecode/operations.h"
#include "bytecode/program.h"

namespace crm::vm {

// Interned strings: ids 0..n-1 are the program's own string constants, so compiled code can
// compare strings as integers; data strings are added as they are loaded. At most 4 GiB of
// text in all (with a few bytes per string): more is std::length_error, and the pool is unchanged.
class StringPool {
 public:
  explicit StringPool(const std::vector<std::string>& initial = {});
  int64_t intern(std::string_view s);
  // -1 when absent; never allocates (for lookups from data that must not grow the pool).
  int64_t find(std::string_view s) const;
  // Valid while the pool lives (texts never move).
  std::string_view text(int64_t id) const { return id >= 0 && size_t(id) < at_.size() ? text_at(at_[size_t(id)]) : std::string_view(); }
  size_t size() const { return at_.size(); }

 private:
  // Every event interns a user id and its string fields, so this is a hot path: an
  // open-addressing table of (32-bit hash, id + 1) in one array, and the texts packed in
  // chunks that never move, instead of a node and an allocation per string. A string is found
  // by a 4-byte place (per id, in at_): the chunk (place >> kChunkBits) and the position in it,
  // where its length is written (LEB128) before its bytes; a 16-byte string_view per id cost
  // 12 bytes more per user (docs/performance.md, "Memory, session 12").
  static constexpr unsigned kChunkBits = 16;
  static constexpr size_t kChunk = size_t(1) << kChunkBits;  // 64 KiB
  std::string_view text_at(uint32_t place) const {
    const auto* p = reinterpret_cast<const unsigned char*>(chunks_[place >> kChunkBits].get()) + (place & (kChunk - 1));
    size_t n = 0;
    for (unsigned shift = 0;; shift += 7) {
      unsigned char b = *p++;
      n |= size_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    return {reinterpret_cast<const char*>(p), n};
  }
  size_t slot_of(std::string_view s, uint32_t h) const;
  void grow();
  // Copies s (its length first) where it fits and returns its place.
  uint32_t store(std::string_view s);
  std::vector<uint32_t> at_;
  std::vector<uint64_t> slots_;  // 0 = empty, else (hash << 32) | (id + 1)
  // Chunk i holds the places [i << kChunkBits, (i + 1) << kChunkBits). A text longer than a chunk
  // has a block of its own under as many indexes as it would fill (null after the first), so
  // places stay below 2^32.
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t used_ = kChunk;  // bytes used of the last chunk (none yet: full)
};

// Collections held by profile or event fields (Set<String> tags, List<Int> recent, ...): a value
// is a handle. A set's elements are kept sorted and distinct; a list's as written, duplicates
// included, with a sorted distinct copy beside them for `in` (only when they differ).
class CollectionStore {
 public:
  // The program's constant collections as handles 0..n-1, in order (before any add): a
  // collection default of a field is stored as its index, which is then its handle. lists[i]
  // (bytecode::Program::lists) says that sets[i] is a list, kept as it is.
  void seed(const std::vector<std::vector<int64_t>>& sets, const std::vector<uint8_t>& lists);
  // A set (`list` false: sorted, duplicates dropped) or a list (order and duplicates kept).
  int64_t add(std::vector<int64_t> values, bool list);
  bool contains(int64_t handle, int64_t v) const;
  // Whether Decimal units v equal some Int of the collection widened to a Decimal, as `==`
  // compares them; false with `overflow` set when an element is too large to widen.
  bool contains_widened(int64_t handle, int64_t v, bool& overflow) const;
  // Elements: a list's duplicates count.
  int64_t size(int64_t handle) const;
  // A set's elements sorted, a list's in its order.
  const std::vector<int64_t>& items(int64_t handle) const;
  size_t distinct() const { return entries_.size(); }

 private:
  struct Entry {
    std::vector<int64_t> items;
    std::vector<int64_t> sorted;  // a list's distinct elements, sorted; empty when `items` are
  };
  // The distinct elements sorted, for bisection.
  const std::vector<int64_t>& members(int64_t handle) const;
  int64_t intern(std::vector<int64_t> items, bool sorted_distinct);
  std::vector<Entry> entries_;
  std::unordered_multimap<uint64_t, int64_t> by_hash_;  // content hash -> handles
  std::vector<int64_t> empty_;
};

class AggregateSource {
 public:
  virtual ~AggregateSource() = default;
  // Aggregate g for the current user at `now`: a value, none, or an overflow.
  virtual bytecode::AggValue aggregate(uint32_t g, int64_t now) = 0;
};

struct Context {
  // A value per field, and beside it whether the field has one (null: every field does).
  const int64_t* profile = nullptr;
  const uint8_t* profile_present = nullptr;
  size_t profile_size = 0;
  const int64_t* event = nullptr;
  const uint8_t* event_present = nullptr;
  size_t event_size = 0;
  int64_t now = 0;
  // Where today(), date(), hour(), weekday() and days_to_anniversary() read the calendar: the
  // zone of the strategy being decided, or the program's for segments on their own. Null: UTC.
  const support::ZoneRules* zone = nullptr;
  AggregateSource* aggregates = nullptr;
  StringPool* strings = nullptr;
  const CollectionStore* collections = nullptr;
  std::vector<int64_t> registers;  // scratch; grown once to the largest unit
};

enum class Status : uint8_t { Ok, Error };

struct Result {
  Status status = Status::Ok;
  int64_t value = 0;
  bool present = true;          // false only for a unit of optional type whose value is absent
  const char* error = nullptr;  // static text when status is Error (one of the kFault texts)
};

class VM {
 public:
  explicit VM(const bytecode::Program& program);
  // Sizes ctx.registers for every unit of the program.
  void prepare(Context& ctx) const;
  Result run(uint32_t unit, Context& ctx) const;

 private:
  const bytecode::Program& p_;
  uint16_t max_registers_ = 0;
  std::vector<uint8_t> required_;  // per profile field: not optional
};

// The fault texts of bytecode/operations.h that the VMs raise themselves.
inline constexpr const char* kMissingProfileField = bytecode::ops::fault_text(bytecode::ops::Fault::MissingProfileField);
inline constexpr const char* kOverflow = bytecode::ops::fault_text(bytecode::ops::Fault::Overflow);
inline constexpr const char* kDivisionByZero = bytecode::ops::fault_text(bytecode::ops::Fault::DivisionByZero);

// CALL: builtin overload `overload` (bytecode/builtins.def) applied to its argument slots, as
// both VMs run it; a fault sets *error to its text and returns 0.
int64_t call_builtin(uint32_t overload, const int64_t* args, const Context& ctx, const char** error);
// The A/B split's hash (bytecode::ops::stable_hash).
uint64_t stable_hash(std::string_view s);

}  // namespace crm::vm
