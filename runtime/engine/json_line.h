// json_line.h - a small, strict JSON reader for one line of the event/profile contract.
//
// Numbers are kept as their source text so money is parsed exactly (never through double), and
// every error names the column where it happened.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crm::engine {

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array } kind = Kind::Null;
  std::string text;  // Number: the literal; String: the unescaped text
  bool boolean = false;
  std::vector<JsonValue> items;  // Array (scalars only)
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

// Parses `{...}` with scalar or array-of-scalar members. On error returns false and sets
// `error` to "column N: ...".
bool parse_json_object(std::string_view line, std::vector<JsonMember>& out, std::string& error);


}  // namespace crm::engine
