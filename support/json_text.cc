// json_text.cc - JSON string escaping.
#include "support/json_text.h"

#include <cstdint>
#include <cstring>

#include "support/text.h"

namespace crm::support {

void append_json_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  auto hex_escape = [&](unsigned cp) {
    out += "\\u00";
    out += kHex[cp >> 4];
    out += kHex[cp & 15];
  };
  // Runs of characters that need no escape (nearly all text) are appended in one piece. Text
  // that is not UTF-8 (a file name, bytes from a caller) never reaches the output as such: JSON
  // is UTF-8, and a reader would refuse the whole document; each malformed byte becomes U+FFFD.
  // Valid UTF-8 is written byte for byte as before (DEL and the C1 controls included: decision
  // files and json_quote() are matched to the byte); terminals get support::visible() instead.
  size_t i = 0;
  while (i < s.size()) {
    size_t run = i;
    // Eight plain ASCII bytes at a time (no control character, `"`, `\\` or byte from 0x80): the
    // ids and names of a decision record are such text. The lowest flagged byte of the has-zero
    // / has-less word tests is exactly the first byte that is not plain (later flags may be
    // false), so the byte loop below starts there and decides.
    while (run + 8 <= s.size()) {
      constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
      uint64_t w;
      std::memcpy(&w, s.data() + run, 8);
      const uint64_t quote = w ^ (k01 * '"'), slash = w ^ (k01 * '\\');
      if (uint64_t m = (((w - k01 * 0x20) & ~w) | ((quote - k01) & ~quote) | ((slash - k01) & ~slash) | w) & k80) {
        run += static_cast<size_t>(__builtin_ctzll(m) >> 3);  // little-endian: the lowest byte first
        break;
      }
      run += 8;
    }
    while (run < s.size()) {
      auto c = static_cast<unsigned char>(s[run]);
      if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
        ++run;
        continue;
      }
      if (c < 0x80) break;
      size_t n = utf8_sequence_at(s, run);
      if (n == 0) break;
      run += n;
    }
    out.append(s.data() + i, run - i);
    if (run == s.size()) return;
    auto c = static_cast<unsigned char>(s[run]);
    i = run + 1;
    if (c >= 0x80) {
      out += "\\ufffd";
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: hex_escape(c);  // the other control characters
    }
  }
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_escaped(out, s);
  return out;
}

void append_json_quoted(std::string& out, std::string_view s) {
  // A decision record quotes its event id and user id: short plain ASCII nearly always. Such a
  // text goes out with its quotes in one append (the bytes append_json_escaped would write).
  constexpr size_t kShort = 30;
  if (s.size() <= kShort) {
    bool plain = true;
    for (char ch : s) {
      const auto c = static_cast<unsigned char>(ch);
      plain &= c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
    }
    if (plain) {
      char quoted[kShort + 2];
      quoted[0] = '"';
      std::memcpy(quoted + 1, s.data(), s.size());
      quoted[s.size() + 1] = '"';
      out.append(quoted, s.size() + 2);
      return;
    }
  }
  out += '"';
  append_json_escaped(out, s);
  out += '"';
}

}  // namespace crm::support
