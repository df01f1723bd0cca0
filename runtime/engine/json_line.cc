// json_line.cc - the strict JSON Lines reader used for events and profiles.
#include "runtime/engine/json_line.h"

#include <fmt/format.h>

#include "support/text.h"

namespace crm::engine {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  bool whole_value(JsonValue& v, std::string& err) {
    ws();
    if (!value(v, err, true)) return false;
    ws();
    return pos_ == s_.size() || fail(err, "unexpected text after the value");
  }

  bool whole_number(JsonValue& v, std::string& err) { return number(v, err) && pos_ == s_.size(); }

  bool object(std::vector<JsonMember>& out, std::string& err) {
    ws();
    if (!eat('{')) return fail(err, "expected `{` at the start of the object");
    ws();
    if (eat('}')) return end(err);
    while (true) {
      ws();
      JsonMember m;
      if (peek() != '"') return fail(err, "expected a quoted member name");
      if (!string(m.key, err)) return false;
      ws();
      if (!eat(':')) return fail(err, "expected `:` after the member name");
      ws();
      if (!value(m.value, err, true)) return false;
      out.push_back(std::move(m));
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
  bool fail(std::string& err, const std::string& msg) {
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

  bool value(JsonValue& v, std::string& err, bool allow_array) {
    char c = peek();
    if (c == '"') { v.kind = JsonValue::Kind::String; return string(v.text, err); }
    if (c == '[') {
      if (!allow_array) return fail(err, "nested arrays are not part of the contract");
      ++pos_;
      v.kind = JsonValue::Kind::Array;
      ws();
      if (eat(']')) return true;
      while (true) {
        ws();
        JsonValue item;
        if (!value(item, err, false)) return false;
        v.items.push_back(std::move(item));
        ws();
        if (eat(',')) continue;
        if (eat(']')) return true;
        return fail(err, "expected `,` or `]` in the array");
      }
    }
    if (c == '{') return fail(err, "nested objects are not part of the contract");
    if (s_.substr(pos_, 4) == "true") { pos_ += 4; v.kind = JsonValue::Kind::Bool; v.boolean = true; return true; }
    if (s_.substr(pos_, 5) == "false") { pos_ += 5; v.kind = JsonValue::Kind::Bool; return true; }
    if (s_.substr(pos_, 4) == "null") { pos_ += 4; v.kind = JsonValue::Kind::Null; return true; }
    if (c == '-' || (c >= '0' && c <= '9')) return number(v, err);
    return fail(err, "expected a value");
  }

  // RFC 8259 number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, kept as its text.
  bool number(JsonValue& v, std::string& err) {
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
    v.text = std::string(s_.substr(b, pos_ - b));
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

  bool string(std::string& out, std::string& err) {
    ++pos_;  // opening quote
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return fail(err, "control character in string");
      if (c != '\\') { out += c; continue; }
      if (pos_ >= s_.size()) break;
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
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
          support::append_utf8(out, cp);
          break;
        }
        default: return fail(err, fmt::format("bad escape `\\{}`", e));
      }
    }
    return fail(err, "unterminated string");
  }

  std::string_view s_;
  size_t pos_ = 0;
};

}  // namespace

namespace {

bool valid_text(std::string_view text, std::string& error) {
  size_t bad = support::utf8_invalid_at(text);
  if (bad == std::string_view::npos) return true;
  error = fmt::format("column {}: invalid UTF-8 (byte 0x{:02X})", bad + 1, static_cast<unsigned char>(text[bad]));
  return false;
}

}  // namespace

bool parse_json_object(std::string_view line, std::vector<JsonMember>& out, std::string& error) {
  out.clear();
  return valid_text(line, error) && Parser(line).object(out, error);
}

bool is_json_number(std::string_view text) {
  if (text.empty() || (text[0] != '-' && (text[0] < '0' || text[0] > '9'))) return false;
  JsonValue v;
  std::string err;
  return Parser(text).whole_number(v, err);
}

bool parse_json_value(std::string_view text, JsonValue& out, std::string& error) {
  out = JsonValue{};
  return valid_text(text, error) && Parser(text).whole_value(out, error);
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
        (is_user ? user : *id) = s.substr(i + 1, end - i - 2);
        found |= is_user;
      }
      i = end;
    } else {
      if (is_user || is_id) return false;  // not a string: the decoder says so
      if (s[i] == '{') return false;
      if (s[i] == '[') {
        // Arrays of scalars (strings may hold brackets).
        int depth = 0;
        for (; i < s.size(); ++i) {
          if (s[i] == '"') {
            size_t end = skip_string(s, i, escaped);
            if (end == std::string_view::npos) return false;
            i = end - 1;
          } else if (s[i] == '[') {
            ++depth;
          } else if (s[i] == ']' && --depth == 0) {
            ++i;
            break;
          } else if (s[i] == '{') {
            return false;
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
    user.assign(fast);
    if (id) id->assign(fast_id);
    return true;
  }
  std::vector<JsonMember> members;
  std::string err;
  if (!parse_json_object(line, members, err)) return false;
  const JsonMember* found = nullptr;
  for (const auto& m : members) {
    if (m.key == "user") found = &m;
    if (id && m.key == "id" && m.value.kind == JsonValue::Kind::String) *id = m.value.text;
  }
  if (!found || found->value.kind != JsonValue::Kind::String) return false;
  user = found->value.text;
  return true;
}

}  // namespace crm::engine
