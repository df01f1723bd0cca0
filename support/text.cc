// text.cc - UTF-8 validation and Unicode case mapping through utf8proc.
#include "support/text.h"

#include <utf8proc.h>

#include <cstring>

namespace crm::support {
namespace {

const utf8proc_uint8_t* bytes(std::string_view s) { return reinterpret_cast<const utf8proc_uint8_t*>(s.data()); }

// Maps each code point with `fn`; malformed bytes are copied one at a time.
template <typename Fn>
std::string map_code_points(std::string_view s, Fn fn) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {  // ASCII fast path; the same result as utf8proc for these
      out += static_cast<char>(fn(c));
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(bytes(s.substr(i)), static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) {
      out += s[i++];
      continue;
    }
    append_utf8(out, static_cast<uint32_t>(fn(cp)));
    i += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace

size_t utf8_invalid_at(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // Every event line passes here: skip ASCII eight bytes at a time.
    while (i + 8 <= s.size()) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      if (w & 0x8080808080808080ULL) break;
      i += 8;
    }
    if (i == s.size()) break;
    if (static_cast<unsigned char>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    // utf8proc_iterate refuses overlong forms, surrogates and code points above U+10FFFF.
    utf8proc_ssize_t n = utf8proc_iterate(bytes(s.substr(i)), static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (n <= 0) return i;
    i += static_cast<size_t>(n);
  }
  return std::string_view::npos;
}

size_t utf8_sequence_at(std::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  if (static_cast<unsigned char>(s[i]) < 0x80) return 1;
  utf8proc_int32_t cp = 0;
  utf8proc_ssize_t n = utf8proc_iterate(bytes(s.substr(i)), static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  return n > 0 ? static_cast<size_t>(n) : 0;
}

std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  // Walk whole characters: a cut inside a malformed run still falls between two of its bytes.
  size_t i = 0;
  while (i < max_bytes) {
    size_t n = utf8_sequence_at(s, i);
    if (n == 0) n = 1;
    if (i + n > max_bytes) break;
    i += n;
  }
  return s.substr(0, i);
}

std::string utf8_truncate(std::string_view s, size_t max_bytes, std::string_view ellipsis) {
  if (s.size() <= max_bytes) return std::string(s);
  // No room for the ellipsis: the text's own prefix, so the limit holds (the ellipsis alone
  // used to come back, longer than the limit).
  if (ellipsis.size() > max_bytes) return std::string(utf8_prefix(s, max_bytes));
  std::string out(utf8_prefix(s, max_bytes - ellipsis.size()));
  out += ellipsis;
  return out;
}

std::string visible(std::string_view s, bool keep_newlines) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if ((c >= 0x20 && c < 0x7f) || (c == '\n' && keep_newlines)) {
      out += s[i++];
      continue;
    }
    size_t n = c < 0x80 ? 1 : utf8_sequence_at(s, i);
    if (n == 0) {  // not UTF-8
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
      continue;
    }
    // C0, DEL, and C1 (U+0080-U+009F, encoded C2 80-C2 9F).
    unsigned cp = n == 1 ? c : (n == 2 && c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)
                                   ? static_cast<unsigned char>(s[i + 1]) : 0x100;
    if (cp < 0x100) {
      out += "\\u00";
      out += kHex[cp >> 4];
      out += kHex[cp & 15];
    } else {
      out.append(s.data() + i, n);
    }
    i += n;
  }
  return out;
}

std::string message_reason(std::string_view m) {
  if (m.substr(0, 7) == "column ") {
    size_t i = 7;
    while (i < m.size() && m[i] >= '0' && m[i] <= '9') ++i;
    if (i > 7 && m.substr(i, 2) == ": ") m.remove_prefix(i + 2);
  }
  std::string out;
  for (size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '"') {
      size_t close = m.find('"', i + 1);
      out += "\"...\"";
      if (close == std::string_view::npos) break;
      i = close;
    } else if ((m[i] == ':' || m[i] == ' ') && m.substr(i, 2) == (m[i] == ':' ? ": " : " (")) {
      break;
    } else {
      out += m[i];
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ',' || out.back() == ':')) out.pop_back();
  return utf8_truncate(out, 80);
}

void append_utf8(std::string& out, uint32_t cp) {
  utf8proc_uint8_t buf[4];
  utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(cp), buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

std::string utf8_lower(std::string_view s) {
  return map_code_points(s, [](utf8proc_int32_t c) { return utf8proc_tolower(c); });
}

std::string utf8_upper(std::string_view s) {
  return map_code_points(s, [](utf8proc_int32_t c) { return utf8proc_toupper(c); });
}

int64_t utf8_length(std::string_view s) {
  int64_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t k = c < 0x80 ? 1 : utf8proc_iterate(bytes(s.substr(i)), static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    i += k > 0 ? static_cast<size_t>(k) : 1;
    ++n;
  }
  return n;
}

int64_t display_width(std::string_view s) {
  int64_t n = 0;
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      n += c >= 0x20 && c != 0x7F ? 1 : c == '\t' ? 1 : 0;
      ++i;
      continue;
    }
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t k = utf8proc_iterate(bytes(s.substr(i)), static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
    if (k <= 0) {
      ++n, ++i;
      continue;
    }
    n += utf8proc_charwidth(cp);
    i += static_cast<size_t>(k);
  }
  return n;
}

std::string unicode_library_version() {
  return std::string("utf8proc ") + utf8proc_version() + ", Unicode " + utf8proc_unicode_version();
}

}  // namespace crm::support
