// json_line.cc - the strict JSON Lines reader used for events and profiles.
#include "runtime/engine/json_line.h"

#include <fmt/format.h>

#include <cstdint>
#include <cstring>

#include "support/text.h"

namespace crm::engine {
namespace {

// The grammar, once: values are views into the line; a string with escapes is unescaped into
// `unescaped` (reserved to the line's length, which no unescaped text exceeds, so earlier views
// into it stay valid); array items go to `items`, and each array's (first, count) to `arrays`.
class Parser {
 public:
  Parser(std::string_view s, std::string& unescaped, std::vector<JsonValueView>& items,
         std::vector<std::pair<size_t, size_t>>& arrays)
      : s_(s), unescaped_(unescaped), items_(items), arrays_(arrays) {}

  // Members' values may be Nested (object lines); a lone value (a CSV cell) may not.
  void allow_nested() { nested_ok_ = true; }

  bool whole_value(JsonValueView& v, std::string& err) {
    ws();
    if (!value(v, err, true)) return false;
    ws();
    return pos_ == s_.size() || fail(err, "unexpected text after the value");
  }

  bool whole_number(JsonValueView& v, std::string& err) { return number(v, err) && pos_ == s_.size(); }

  bool object(std::vector<JsonMemberView>& out, std::string& err) {
    ws();
    if (!eat('{')) return fail(err, "expected `{` at the start of the object");
    ws();
    if (eat('}')) return end(err);
    while (true) {
      ws();
      JsonMemberView m;
      m.at = pos_;
      if (peek() != '"') return fail(err, "expected a quoted member name");
      if (!string(m.key, err)) return false;
      ws();
      if (!eat(':')) return fail(err, "expected `:` after the member name");
      ws();
      if (!value(m.value, err, true)) return false;
      out.push_back(m);
      ws();
      if (eat(',')) continue;
      if (eat('}')) return end(err);
      return fail(err, "expected `,` or `}`");
    }
  }

 private:
  bool end(std::string& err) {
    ws();
    if (pos_ != s_.size()) return fail(err, "unexpected text after the object");
    return true;
  }
  bool fail(std::string& err, std::string_view msg) {
    err = fmt::format("column {}: {}", pos_ + 1, msg);
    return false;
  }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void ws() { while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_; }

  bool value(JsonValueView& v, std::string& err, bool allow_array) {
    char c = peek();
    if (c == '"') { v.kind = JsonValue::Kind::String; return string(v.text, err); }
    if (c == '[') {
      if (!allow_array) return fail(err, "nested arrays are not part of the contract");
      const size_t start = pos_, first = items_.size(), first_text = unescaped_.size();
      ++pos_;
      v.kind = JsonValue::Kind::Array;
      ws();
      if (!eat(']')) {
        while (true) {
          ws();
          if (nested_ok_ && (peek() == '[' || peek() == '{')) {
            // Not an array of scalars: read again from its start as a Nested value. Shrinking
            // the buffer never moves it, so earlier members' views stay valid.
            items_.resize(first);
            unescaped_.resize(first_text);
            pos_ = start;
            return nested(v, err);
          }
          JsonValueView item;
          if (!value(item, err, false)) return false;
          items_.push_back(item);
          ws();
          if (eat(',')) continue;
          if (eat(']')) break;
          return fail(err, "expected `,` or `]` in the array");
        }
      }
      arrays_.emplace_back(first, items_.size() - first);
      return true;
    }
    if (c == '{') {
      if (nested_ok_ && allow_array) return nested(v, err);
      return fail(err, "nested objects are not part of the contract");
    }
    if (s_.substr(pos_, 4) == "true") { pos_ += 4; v.kind = JsonValue::Kind::Bool; v.boolean = true; return true; }
    if (s_.substr(pos_, 5) == "false") { pos_ += 5; v.kind = JsonValue::Kind::Bool; return true; }
    if (s_.substr(pos_, 4) == "null") { pos_ += 4; v.kind = JsonValue::Kind::Null; return true; }
    if (c == '-' || (c >= '0' && c <= '9')) return number(v, err);
    return fail(err, "expected a value");
  }

  // A Nested value starting at s_[pos_] ('{' or '['): its syntax checked without recursion (a
  // stack of the open brackets, at most kMaxJsonNesting), its text kept as a view of the line.
  bool nested(JsonValueView& v, std::string& err) {
    const size_t start = pos_, first_text = unescaped_.size();
    char open[kMaxJsonNesting];  // the closer each open bracket wants
    size_t depth = 0;
    bool want_value = true;  // else: after a value (or after `{`, wanting a member name)
    bool want_key = false;
    while (true) {
      ws();
      if (want_key) {
        if (peek() != '"') return fail(err, "expected a quoted member name");
        std::string_view key;
        if (!string(key, err)) return false;
        ws();
        if (!eat(':')) return fail(err, "expected `:` after the member name");
        want_key = false;
        want_value = true;
        continue;
      }
      if (want_value) {
        char c = peek();
        if (c == '{' || c == '[') {
          if (depth == kMaxJsonNesting)
            return fail(err, fmt::format("objects and arrays nested deeper than {} levels", kMaxJsonNesting));
          open[depth++] = c == '{' ? '}' : ']';
          ++pos_;
          ws();
          if (eat(open[depth - 1])) {
            --depth;
            want_value = false;
          } else {
            want_key = c == '{';
            want_value = c == '[';
          }
          if (depth == 0) break;
          continue;
        }
        JsonValueView scalar;
        if (!value(scalar, err, false)) return false;
        want_value = false;
      }
      // After a value inside open[depth - 1].
      if (depth == 0) break;
      if (eat(',')) {
        want_key = open[depth - 1] == '}';
        want_value = !want_key;
        continue;
      }
      if (eat(open[depth - 1])) {
        if (--depth == 0) break;
        continue;
      }
      return fail(err, open[depth - 1] == '}' ? "expected `,` or `}`" : "expected `,` or `]` in the array");
    }
    unescaped_.resize(first_text);  // its strings' text is not kept
    v.kind = JsonValue::Kind::Nested;
    v.text = s_.substr(start, pos_ - start);
    return true;
  }

  // RFC 8259 number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as its text.
  bool number(JsonValueView& v, std::string& err) {
    size_t b = pos_;
    auto digits = [&] {
      size_t d = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ - d;
    };
    eat('-');
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') return fail(err, "malformed number: leading zero");
    } else if (digits() == 0) {
      return fail(err, "malformed number");
    }
    if (eat('.') && digits() == 0) return fail(err, "malformed number: digits must follow `.`");
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (!eat('+')) eat('-');
      if (digits() == 0) return fail(err, "malformed number: digits must follow the exponent");
    }
    v.kind = JsonValue::Kind::Number;
    v.text = s_.substr(b, pos_ - b);
    return true;
  }

  // Four hex digits of a \u escape.
  bool hex4(unsigned& cp, std::string& err) {
    if (pos_ + 4 > s_.size()) return fail(err, "short \\u escape");
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= h - '0';
      else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
      else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
      else return fail(err, "bad \\u escape");
    }
    return true;
  }

  bool string(std::string_view& out, std::string& err) {
    ++pos_;  // opening quote
    const size_t start = pos_;
    // Text without escapes (nearly every string) is a view of the line itself. Eight bytes at a
    // time: the lowest flagged byte of the has-zero / has-less word tests is exactly the first
    // `"`, `\\` or control character (later flags may be false), so the byte loop starts there.
    while (pos_ + 8 <= s_.size()) {
      constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
      uint64_t w;
      std::memcpy(&w, s_.data() + pos_, 8);
      const uint64_t quote = w ^ (k01 * '"'), slash = w ^ (k01 * '\\');
      if (uint64_t m = (((w - k01 * 0x20) & ~w) | ((quote - k01) & ~quote) | ((slash - k01) & ~slash)) & k80) {
        pos_ += static_cast<size_t>(__builtin_ctzll(m) >> 3);  // little-endian: the lowest byte first
        break;
      }
      pos_ += 8;
    }
    while (pos_ < s_.size()) {
      auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        out = s_.substr(start, pos_ - start);
        ++pos_;
        return true;
      }
      if (c == '\\' || c < 0x20) break;
      ++pos_;
    }
    // An escape: the text so far and the rest, unescaped, go to the reader's buffer.
    const size_t first = unescaped_.size();
    unescaped_.append(s_.data() + start, pos_ - start);
    auto& u = unescaped_;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') {
        out = std::string_view(u).substr(first);
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return fail(err, "control character in string");
      if (c != '\\') { u += c; continue; }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"': u += '"'; break;
        case '\\': u += '\\'; break;
        case '/': u += '/'; break;
        case 'b': u += '\b'; break;
        case 'f': u += '\f'; break;
        case 'n': u += '\n'; break;
        case 'r': u += '\r'; break;
        case 't': u += '\t'; break;
        case 'u': {
          // Code points above U+FFFF are escaped as a UTF-16 surrogate pair (RFC 8259 section 7);
          // a surrogate on its own is not a character and is refused.
          size_t at = pos_ - 2;
          unsigned cp = 0;
          if (!hex4(cp, err)) return false;
          if (cp >= 0xDC00 && cp <= 0xDFFF) { pos_ = at; return fail(err, "lone low surrogate in a \\u escape"); }
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo = 0;
            if (s_.substr(pos_, 2) != "\\u" || (pos_ += 2, !hex4(lo, err)) || lo < 0xDC00 || lo > 0xDFFF) {
              pos_ = at;
              return fail(err, "lone high surrogate in a \\u escape (a \\uDC00-\\uDFFF escape must follow)");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          support::append_utf8(u, cp);
          break;
        }
        default: return fail(err, fmt::format("bad escape `\\{}`", support::visible(std::string_view(&e, 1))));
      }
    }
    return fail(err, "unterminated string");
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string& unescaped_;
  std::vector<JsonValueView>& items_;
  std::vector<std::pair<size_t, size_t>>& arrays_;
  bool nested_ok_ = false;
};

bool valid_text(std::string_view text, std::string& error) {
  size_t bad = support::utf8_invalid_at(text);
  if (bad == std::string_view::npos) return true;
  error = fmt::format("column {}: invalid UTF-8 (byte 0x{:02X})", bad + 1, static_cast<unsigned char>(text[bad]));
  return false;
}

JsonValue owned(const JsonValueView& v) {
  JsonValue out;
  out.kind = v.kind;
  out.text = std::string(v.text);
  out.boolean = v.boolean;
  for (const auto& item : v.items) out.items.push_back(owned(item));
  return out;
}

// Whether the line has a byte at i and it is an ASCII digit.
inline bool digit_at(const char* b, size_t n, size_t i) { return i < n && b[i] >= '0' && b[i] <= '9'; }

// A string of the line without escapes: from just after its opening quote at `i` to its closing
// quote, left in `i`. False at a `\\`, a control character or the end of the line. The same scan as
// Parser::string's first part: eight bytes at a time, the lowest flagged byte is the first `"`,
// `\\` or control character.
inline bool plain_string(const char* b, size_t n, size_t& i) {
  while (i + 8 <= n) {
    constexpr uint64_t k01 = 0x0101010101010101ULL, k80 = 0x8080808080808080ULL;
    uint64_t w;
    std::memcpy(&w, b + i, 8);
    const uint64_t quote = w ^ (k01 * '"'), slash = w ^ (k01 * '\\');
    if (uint64_t m = (((w - k01 * 0x20) & ~w) | ((quote - k01) & ~quote) | ((slash - k01) & ~slash)) & k80) {
      i += static_cast<size_t>(__builtin_ctzll(m) >> 3);
      return b[i] == '"';
    }
    i += 8;
  }
  for (; i < n; ++i) {
    auto c = static_cast<unsigned char>(b[i]);
    if (c == '"') return true;
    if (c == '\\' || c < 0x20) return false;
  }
  return false;
}

}  // namespace

// Nearly every event line is `{"key":value,...}` with no white space, no escape and no array or
// object: read here in one pass, with the grammar of Parser for that subset. Any other line (and
// any error) returns false at the first byte outside the subset, and parse_object reads the
// whole line again with Parser, which gives the same members for every line accepted here and
// its errors for the rest (test JsonLine.ThePlainLinesPathReadsAsTheFullGrammar).
bool JsonLineReader::parse_plain(std::string_view s) {
  const char* b = s.data();
  const size_t n = s.size();
  if (n < 2 || b[0] != '{') return false;
  if (b[1] == '}') return n == 2;
  size_t i = 1;
  while (true) {
    if (i >= n || b[i] != '"') return false;
    JsonMemberView& m = members_.emplace_back();
    m.at = i;
    size_t k = i + 1;
    if (!plain_string(b, n, k)) return false;
    m.key = s.substr(i + 1, k - i - 1);
    i = k + 1;
    if (i + 1 >= n || b[i] != ':') return false;
    const char c = b[++i];
    if (c == '"') {
      k = i + 1;
      if (!plain_string(b, n, k)) return false;
      m.value.kind = JsonValue::Kind::String;
      m.value.text = s.substr(i + 1, k - i - 1);
      i = k + 1;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      // RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, as Parser::number.
      const size_t start = i;
      if (c == '-') ++i;
      if (i < n && b[i] == '0') {
        if (digit_at(b, n, ++i)) return false;
      } else {
        const size_t d = i;
        while (digit_at(b, n, i)) ++i;
        if (i == d) return false;
      }
      if (i < n && b[i] == '.') {
        const size_t d = ++i;
        while (digit_at(b, n, i)) ++i;
        if (i == d) return false;
      }
      if (i < n && (b[i] == 'e' || b[i] == 'E')) {
        ++i;
        if (i < n && (b[i] == '+' || b[i] == '-')) ++i;
        const size_t d = i;
        while (digit_at(b, n, i)) ++i;
        if (i == d) return false;
      }
      m.value.kind = JsonValue::Kind::Number;
      m.value.text = s.substr(start, i - start);
    } else if (s.substr(i, 4) == "true") {
      m.value.kind = JsonValue::Kind::Bool;
      m.value.boolean = true;
      i += 4;
    } else if (s.substr(i, 5) == "false") {
      m.value.kind = JsonValue::Kind::Bool;
      i += 5;
    } else if (s.substr(i, 4) == "null") {
      i += 4;  // kind Null, as made
    } else {
      return false;
    }
    if (i >= n) return false;
    if (b[i] == ',') {
      ++i;
      continue;
    }
    return b[i] == '}' && i + 1 == n;
  }
}

bool JsonLineReader::parse_object(std::string_view line, std::string& error) {
  members_.clear();
  items_.clear();
  arrays_.clear();
  unescaped_.clear();
  if (!valid_text(line, error)) return false;
  if (parse_plain(line)) return true;
  members_.clear();
  unescaped_.reserve(line.size());
  Parser parser(line, unescaped_, items_, arrays_);
  parser.allow_nested();
  if (!parser.object(members_, error)) return false;
  // Arrays' items are placed now that `items_` has stopped growing (arrays come in member order).
  size_t k = 0;
  for (auto& m : members_)
    if (m.value.kind == JsonValue::Kind::Array) {
      auto [first, count] = arrays_[k++];
      m.value.items = std::span<const JsonValueView>(items_.data() + first, count);
    }
  return true;
}

bool JsonLineReader::parse_value(std::string_view text, std::string& error) {
  value_ = JsonValueView{};
  items_.clear();
  arrays_.clear();
  unescaped_.clear();
  unescaped_.reserve(text.size());
  if (!valid_text(text, error) || !Parser(text, unescaped_, items_, arrays_).whole_value(value_, error)) return false;
  if (value_.kind == JsonValue::Kind::Array) value_.items = std::span<const JsonValueView>(items_.data(), items_.size());
  return true;
}

bool parse_json_object(std::string_view line, std::vector<JsonMember>& out, std::string& error) {
  out.clear();
  JsonLineReader reader;
  if (!reader.parse_object(line, error)) return false;
  for (const auto& m : reader.members()) out.push_back(JsonMember{std::string(m.key), owned(m.value), m.at});
  return true;
}

std::string nested_member_error(std::string_view line, std::string_view member, std::string_view value) {
  // The first object, or the first array inside the value: where the old reader stopped.
  size_t at = 0;
  if (!value.empty() && value[0] == '[')
    for (size_t i = 1; i < value.size(); ++i) {
      if (value[i] == '"') {
        for (++i; i < value.size() && value[i] != '"'; ++i)
          if (value[i] == '\\') ++i;
      } else if (value[i] == '[' || value[i] == '{') {
        at = i;
        break;
      }
    }
  size_t column = size_t(value.data() - line.data()) + at + 1;
  return fmt::format("column {}: nested {} are not part of the contract (member `{}`)", column,
                     value.substr(at, 1) == "{" ? "objects" : "arrays", member);
}

std::string duplicate_member_error(std::string_view key, size_t first_at, size_t second_at) {
  return fmt::format("column {}: member `{}` appears twice (first at column {})", second_at + 1, support::visible(key),
                     first_at + 1);
}

bool is_json_number(std::string_view text) {
  if (text.empty() || (text[0] != '-' && (text[0] < '0' || text[0] > '9'))) return false;
  JsonValueView v;
  std::string err, unescaped;
  std::vector<JsonValueView> items;
  std::vector<std::pair<size_t, size_t>> arrays;
  return Parser(text, unescaped, items, arrays).whole_number(v, err);
}

bool parse_json_value(std::string_view text, JsonValue& out, std::string& error) {
  out = JsonValue{};
  JsonLineReader reader;
  if (!reader.parse_value(text, error)) return false;
  out = owned(reader.value());
  return true;
}

// ---- routing (crm run --threads) ---------------------------------------------------------------

namespace {

size_t skip_ws(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

// A string starting at s[i] == '"': its end (one past the closing quote), or npos.
size_t skip_string(std::string_view s, size_t i, bool& escaped) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      escaped = true;
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

bool scan_user(std::string_view s, std::string_view& user, std::string_view* id) {
  size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') return false;
  i = skip_ws(s, i + 1);
  bool found = false;
  if (i < s.size() && s[i] == '}') return false;
  while (i < s.size()) {
    if (s[i] != '"') return false;
    bool escaped = false;
    size_t key_end = skip_string(s, i, escaped);
    if (key_end == std::string_view::npos || escaped) return false;
    std::string_view key = s.substr(i + 1, key_end - i - 2);
    bool is_user = key == "user", is_id = id && key == "id";
    i = skip_ws(s, key_end);
    if (i >= s.size() || s[i] != ':') return false;
    i = skip_ws(s, i + 1);
    if (i >= s.size()) return false;
    if (s[i] == '"') {
      size_t end = skip_string(s, i, escaped);
      if (end == std::string_view::npos) return false;
      if (is_user || is_id) {
        if (escaped) return false;
        if (is_user && found) return false;  // `user` twice: the decoder refuses the line
        (is_user ? user : *id) = s.substr(i + 1, end - i - 2);
        found |= is_user;
      }
      i = end;
    } else {
      if (is_user || is_id) return false;  // not a string: the decoder says so
      if (s[i] == '[' || s[i] == '{') {
        // Arrays and objects (the decoder skips those of members the program does not declare):
        // their brackets matched, strings skipped (they may hold brackets). The full parse
        // checks the rest.
        char open[kMaxJsonNesting];
        size_t depth = 0;
        for (; i < s.size(); ++i) {
          if (s[i] == '"') {
            size_t end = skip_string(s, i, escaped);
            if (end == std::string_view::npos) return false;
            i = end - 1;
          } else if (s[i] == '[' || s[i] == '{') {
            if (depth == kMaxJsonNesting) return false;
            open[depth++] = s[i] == '[' ? ']' : '}';
          } else if (s[i] == ']' || s[i] == '}') {
            if (depth == 0 || s[i] != open[depth - 1]) return false;
            if (--depth == 0) {
              ++i;
              break;
            }
          }
        }
        if (depth != 0) return false;
      } else {
        size_t start = i;
        while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') ++i;
        if (i == start) return false;  // no value
      }
    }
    i = skip_ws(s, i);
    if (i >= s.size()) return false;
    if (s[i] == ',') {
      i = skip_ws(s, i + 1);
      continue;
    }
    if (s[i] == '}') return found && skip_ws(s, i + 1) == s.size();
    return false;
  }
  return false;
}

bool line_user(std::string_view line, std::string& user, std::string* id) {
  std::string_view fast, fast_id;
  if (scan_user(line, fast, id ? &fast_id : nullptr)) {
    if (fast.empty()) return false;  // refused by the decoder: no thread owns it
    user.assign(fast);
    if (id) id->assign(fast_id);
    return true;
  }
  std::vector<JsonMember> members;
  std::string err;
  if (!parse_json_object(line, members, err)) return false;
  const JsonMember* found = nullptr;
  for (const auto& m : members) {
    if (m.key == "user") {
      if (found) return false;  // `user` twice: refused by the decoder, no thread owns it
      found = &m;
    }
    if (id && m.key == "id" && m.value.kind == JsonValue::Kind::String) *id = m.value.text;
  }
  if (!found || found->value.kind != JsonValue::Kind::String || found->value.text.empty()) return false;
  user = found->value.text;
  return true;
}

}  // namespace crm::engine
