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

// Length of the well-formed UTF-8 sequence starting at s[i] (1 for ASCII), 0 when the bytes there
// do not start one.
size_t utf8_sequence_at(std::string_view s, size_t i);

// The longest prefix of `s` at most `max_bytes` long that does not end inside a character (a
// malformed byte counts as a character of its own).
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);
// `s` when it fits in `max_bytes`; else its utf8_prefix() followed by `ellipsis`, at most
// `max_bytes` in all (when even the ellipsis does not fit, the prefix alone: never longer than the limit).
// Every cut of user text in a message goes through here, so no message holds half a character.
std::string utf8_truncate(std::string_view s, size_t max_bytes, std::string_view ellipsis = "...");

// User text (an event's member, a user id, a file name) made safe to quote in a message printed on
// a terminal: C0 and C1 control characters and DEL come out as `\u001b`-style escapes and bytes
// that are not UTF-8 as `\xff`, so data cannot move the cursor, retitle the window or clear the
// screen. Everything else (any printable character, a backslash) is copied unchanged, and so is
// a newline with `keep_newlines` (text of several lines).
std::string visible(std::string_view s, bool keep_newlines = false);

// The kind of a one-line error message, for counting refusals by reason (`crm run`'s
// skipped_by_reason): the message without what is particular to one line. A leading "column N: "
// goes, quoted text ("...": a value from the line) becomes "...", and the detail after the first
// ": " or " (" outside quotes goes; at most 80 bytes, cut on a character boundary. So
// `column 89: nested objects are not part of the contract (member `meta`)` counts as
// `nested objects are not part of the contract`, and every unknown event type as one reason.
std::string message_reason(std::string_view message);

// "utf8proc 2.8.0, Unicode 15.0.0": the library and data behind the functions above.
std::string unicode_library_version();

}  // namespace crm::support
