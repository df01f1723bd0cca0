// decoder.h - decoding: JSON Lines events and JSON Lines or CSV profiles into typed values laid
// out as the program's schema (strings interned, collections stored), with errors that say what
// is wrong without a line number (callers add it).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/event.h"
#include "runtime/engine/json_line.h"
#include "runtime/vm/vm.h"
#include "support/csv.h"
#include "support/string_map.h"

namespace crm::engine {

// One profile record: the user's id and a value per profile field, with its presence.
struct ProfileRecord {
  std::string user;
  std::vector<int64_t> values;
  std::vector<uint8_t> present;
};

// The users of one profiles file, each with the line of its record: a second record for a user
// is refused, naming both lines, where it used to replace the first silently. Every reader of a
// whole file (Engine::load_profiles, `--threads`' reader) keeps one for the file. Keys are
// copied into the map's blocks: no allocation per user.
class ProfileFileUsers {
 public:
  // False with "user `u` appears twice (first on line N)" when `user` has a record already.
  bool add(std::string_view user, size_t line, std::string& error);

 private:
  support::StringMap<size_t> lines_;
};

// Why a time later than program.latest_event_time() is refused (an event's `what` is "`time`",
// a clock move's "moving the clock to"): the program would compute a timer, an expiry or a
// release past support::kLastInstant, which crm could neither write as a four-digit year nor
// read back (before, such instants were written as year 10000 and broke `crm forecast`).
std::string past_time_horizon(const bytecode::Program& program, int64_t t, const char* what);
// Why a time before support::kFirstInstant given as a number (the API's clock moves and --at)
// is refused: texts outside crm's time are refused by parse_time already.
std::string before_time_begins(int64_t t, const char* what);

class Decoder {
 public:
  // `read_fields`: per event type and field, whether anything reads it (see event_fields_read).
  Decoder(const bytecode::Program& program, vm::StringPool& strings, vm::CollectionStore& collections,
          std::vector<std::vector<uint8_t>> read_fields, const std::vector<int64_t>& default_profile,
          const std::vector<uint8_t>& default_present);

  bool event(std::string_view line, Event& out, std::string& error);
  bool profile_line(std::string_view line, ProfileRecord& out, std::string& error);
  // CSV profiles (docs/runtime.md, "Profiles"): the header names the columns; each row's cells
  // are typed strictly by the profile field of their column.
  bool csv_header(const std::vector<support::CsvField>& header, std::string& error);
  bool csv_row(const std::vector<support::CsvField>& row, ProfileRecord& out, std::string& error);
  // Encodes a JSON or CSV value for a field; false with a message when it does not fit.
  // `present` is false for null in an optional field (`out` is then 0).
  bool encode_field(const bytecode::Field& f, const JsonValueView& v, int64_t& out, std::string& error,
                    uint8_t* present = nullptr);

 private:
  int find_event(std::string_view name) const;
  int find_profile_field(std::string_view name) const;

  // Names looked up per member of every line (event types, and each type's fields) by a table
  // of kNameSlots entries made from the program: a name's slot (name_slot) holds the one
  // candidate whose name has that slot, kNoName, or kManyNames (then the names are compared in
  // order, as before). The candidate's name is still compared in full.
  static constexpr size_t kNameSlots = 64;
  static constexpr int32_t kNoName = -1, kManyNames = -2;
  using NameTable = std::array<int32_t, kNameSlots>;
  static size_t name_slot(std::string_view name) {
    return name.empty() ? 0
                        : (name.size() * 7 + static_cast<unsigned char>(name.front()) * 3 +
                           static_cast<unsigned char>(name.back())) % kNameSlots;
  }
  template <class Names>
  static NameTable name_table(const Names& names);
  // The index of the element of `names` named `name` (the first, if two are), or -1.
  template <class Names>
  static int find_name(const Names& names, const NameTable& table, std::string_view name);
  NameTable event_names_{};
  std::vector<NameTable> field_names_;  // per event type

  const bytecode::Program& p_;
  const int64_t latest_time_;  // p_.latest_event_time()
  vm::StringPool& strings_;
  vm::CollectionStore& collections_;
  // Per event type and field: does any compiled code read it? Unread strings (event ids, above
  // all) are not interned, so the string pool does not grow with the length of the stream.
  std::vector<std::vector<uint8_t>> read_;
  const std::vector<int64_t>& default_profile_;
  const std::vector<uint8_t>& default_present_;
  // Per CSV column: the profile field it fills, kCsvUser, or kCsvIgnored.
  static constexpr int kCsvUser = -1, kCsvIgnored = -2;
  std::vector<int> csv_columns_;
  // Every line is read through one reader and one `given` vector (per declared field, the
  // member that gave it, +1): no allocation per line.
  JsonLineReader reader_;
  std::vector<uint32_t> given_;
  // The last Time text read and its instant: the events of one second share their text, and a
  // comparison is a tenth of parse_time's cost (empty: none kept).
  std::string last_time_text_;
  int64_t last_time_ = 0;
};

// Per event type and field: whether the program's code (aggregates, strategy clauses and
// indexes) reads it. The caller adds what else reads fields (redemption).
std::vector<std::vector<uint8_t>> event_fields_read(const bytecode::Program& program);

}  // namespace crm::engine
