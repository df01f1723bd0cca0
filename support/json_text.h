// json_text.h - JSON string escaping, shared by every writer of JSON in the project
// (diagnostics, decisions, audience counts, imported events).
#pragma once

#include <string>
#include <string_view>

namespace crm::support {

// The body of a JSON string (no surrounding quotes).
std::string json_escape(std::string_view s);
void append_json_escaped(std::string& out, std::string_view s);
// Appends a complete JSON string literal: for writers that build a line in one buffer.
void append_json_quoted(std::string& out, std::string_view s);
// A complete JSON string literal.
inline std::string json_quote(std::string_view s) { return "\"" + json_escape(s) + "\""; }

}  // namespace crm::support
