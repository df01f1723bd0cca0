// text.h - Unicode text rules shared by the compiler, the VMs and every input reader.
//
// All text in crm is UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF).
// Readers reject anything else, so the string functions below may assume well-formed input.
// Case mapping and character data come from utf8proc (docs/language.md, "Text").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace crm::support {

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence, or npos.
size_t utf8_invalid_at(std::string_view s);
inline bool valid_utf8(std::string_view s) { return utf8_invalid_at(s) == std::string_view::npos; }

// The UTF-8 byte order mark, EF BB BF. Accepted (and dropped) only at the start of a file.
inline constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
inline bool starts_with_bom(std::string_view s) { return s.substr(0, 3) == kUtf8Bom; }

// Appends the UTF-8 form of a Unicode scalar value (not a surrogate, at most U+10FFFF).
void append_utf8(std::string& out, uint32_t code_point);

// Simple (one code point to one code point) Unicode case mappings, locale-independent. Bytes
// that are not well-formed UTF-8 are copied unchanged.
std::string utf8_lower(std::string_view s);
std::string utf8_upper(std::string_view s);
// Number of code points (invalid bytes count one each).
int64_t utf8_length(std::string_view s);
// Columns `s` takes in a terminal (utf8proc_charwidth, after Unicode's East Asian Width: 2 for a
// wide character such as 中 or an emoji, 0 for a combining mark or a control character, 1 for
// the rest and for each invalid byte). A tab counts 1: callers that align under text copy tabs.
int64_t display_width(std::string_view s);

// "utf8proc 2.8.0, Unicode 15.0.0": the library and data behind the functions above.
std::string unicode_library_version();

}  // namespace crm::support
