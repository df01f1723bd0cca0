// message_template.h - the syntax of message texts: literal text, `{field}` and
// `{field|default}` placeholders naming profile fields, `{{` and `}}` for literal braces
// (docs/language.md, "Message texts"). One parser for the checker (which resolves and records
// the names) and codegen (which compiles them into bytecode::TextPart).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace crm::sema {

struct TemplatePiece {
  std::string literal;       // !is_field: the text, braces unescaped
  bool is_field = false;
  std::string field;         // the profile field named
  size_t field_at = 0;       // byte offset of the name in the template text
  bool has_fallback = false; // `{field|default}`
  std::string fallback;
};

struct TemplateError {
  size_t at = 0;  // byte offset in the template text
  std::string message, help;
};

// Splits a template into pieces; nullopt error on success. A default is any text without braces
// after the `|` (it may be empty: `{nickname|}`).
std::vector<TemplatePiece> parse_template(std::string_view text, std::optional<TemplateError>& error);

}  // namespace crm::sema
