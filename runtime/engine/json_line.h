// json_line.h - a small, strict JSON reader for one line of the event/profile contract.
//
// Numbers are kept as their source text so money is parsed exactly (never through double), and
// every error names the column (byte) where it happened. Text must be UTF-8; \u escapes above
// U+FFFF come as surrogate pairs (`"\ud83d\ude00"`), and a lone surrogate is an error.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace crm::engine {

// How deep objects and arrays may nest in a member the reader skips (see Kind::Nested). The
// skipping is iterative, so this is not about the stack: it bounds what a line may ask for.
inline constexpr size_t kMaxJsonNesting = 128;

struct JsonValue {
  // Nested: an object, or an array holding an array or an object, as the value of a member of an
  // object line. It is not part of the contract: the reader checks its syntax and keeps its
  // source text, so a member the program does not declare can be skipped (real feeds carry
  // `context` objects) and a declared one refused by the decoder (nested_member_error).
  enum class Kind { Null, Bool, Number, String, Array, Nested } kind = Kind::Null;
  std::string text;  // Number: the literal; String: the unescaped text; Nested: the source text
  bool boolean = false;
  std::vector<JsonValue> items;  // Array (scalars only)
};

struct JsonMember {
  std::string key;
  JsonValue value;
  size_t at = 0;  // the byte offset of the member's name (its opening quote) in the line
};

// A value as read, without a copy: `text` is a view into the line, or into the reader's own
// buffer for a string that held escapes; `items` (Array) are in the reader too. Both stay valid
// until the reader parses again.
struct JsonValueView {
  JsonValue::Kind kind = JsonValue::Kind::Null;
  std::string_view text;  // Number: the literal; String: the unescaped text; Nested: the source (a view of the line)
  bool boolean = false;
  std::span<const JsonValueView> items;  // Array (scalars only)
};

struct JsonMemberView {
  std::string_view key;
  JsonValueView value;
  size_t at = 0;  // the byte offset of the member's name (its opening quote) in the line
};

// The error for a member a reader uses that the line gives twice (a repeated key would otherwise
// be read as whichever came last, silently): "column N: member `key` appears twice (first at
// column M)", N the column of the second (`second_at` + 1), M the first's (JsonMemberView::at).
std::string duplicate_member_error(std::string_view key, size_t first_at, size_t second_at);

// The reader of every JSON line: the grammar and the errors of parse_json_object, with no
// allocation per line once its buffers have grown to the longest line (the decoder reads each
// event through one). Members come in the order of the line, repeated keys included (the decoder
// refuses a repeated member it reads: duplicate_member_error).
class JsonLineReader {
 public:
  bool parse_object(std::string_view line, std::string& error);
  const std::vector<JsonMemberView>& members() const { return members_; }
  // One scalar or array of scalars making up the whole of `text` (parse_json_value).
  bool parse_value(std::string_view text, std::string& error);
  const JsonValueView& value() const { return value_; }

 private:
  // The common line read in one pass; false (members_ partly filled) for any other line.
  bool parse_plain(std::string_view line);

  std::vector<JsonMemberView> members_;
  JsonValueView value_;
  std::vector<JsonValueView> items_;
  std::vector<std::pair<size_t, size_t>> arrays_;  // per array read: its first item and count
  std::string unescaped_;  // the text of strings with escapes (never longer than the line)
};

// Parses `{...}` with scalar, array-of-scalar or Nested members. On error returns false and sets
// `error` to "column N: ...". Owned copies of what JsonLineReader reads.
bool parse_json_object(std::string_view line, std::vector<JsonMember>& out, std::string& error);
// The error for a Nested `value` of `member` read from `line` (the member is one the program
// declares): "column N: nested objects are not part of the contract (member `m`)", N the column of
// the first object or inner array.
std::string nested_member_error(std::string_view line, std::string_view member, std::string_view value);
// Whether `text` is exactly one JSON number (RFC 8259 grammar, no surrounding space).
bool is_json_number(std::string_view text);
// Parses one scalar or array of scalars making up the whole of `text` (a CSV cell of a Set).
bool parse_json_value(std::string_view text, JsonValue& out, std::string& error);

// Routing (`crm run --threads`): the `user` (and `id`) of an event or profile line without
// decoding the rest. scan_user() skims the object's top-level members and gives the `user` (and
// the last `id`) string when it holds no escape; false when it cannot tell (malformed, a
// non-string user or id, escapes, nesting deeper than kMaxJsonNesting, `user` twice).
// line_user() falls back to the full parse then, so it names the user the decoder will read;
// false when the line has no string `user`, an empty one, or two `user` members (the decoder
// refuses all three: the line is not routed by one user and decided by the other).
// `id` is left empty when the line has none.
bool scan_user(std::string_view line, std::string_view& user, std::string_view* id = nullptr);
bool line_user(std::string_view line, std::string& user, std::string* id = nullptr);


}  // namespace crm::engine
