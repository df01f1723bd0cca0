// json_line.cc - the strict JSON Lines reader used for events and profiles.
#include "runtime/engine/json_line.h"

#include <fmt/format.h>

namespace crm::engine {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

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
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t b = pos_;
      if (peek() == '-') ++pos_;
      while (pos_ < s_.size() && (isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' || s_[pos_] == 'e' ||
                                  s_[pos_] == 'E' || s_[pos_] == '+' || s_[pos_] == '-'))
        ++pos_;
      v.kind = JsonValue::Kind::Number;
      v.text = std::string(s_.substr(b, pos_ - b));
      return true;
    }
    return fail(err, "expected a value");
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
          if (pos_ + 4 > s_.size()) return fail(err, "short \\u escape");
          unsigned cp = 0;
          for (int i = 0; i < 4; ++i) {
            char h = s_[pos_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= h - '0';
            else if (h >= 'a' && h <= 'f') cp |= h - 'a' + 10;
            else if (h >= 'A' && h <= 'F') cp |= h - 'A' + 10;
            else return fail(err, "bad \\u escape");
          }
          if (cp >= 0xD800 && cp <= 0xDFFF) return fail(err, "surrogate \\u escapes are not supported");
          if (cp < 0x80) out += static_cast<char>(cp);
          else if (cp < 0x800) { out += static_cast<char>(0xC0 | (cp >> 6)); out += static_cast<char>(0x80 | (cp & 0x3F)); }
          else {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
          }
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

bool parse_json_object(std::string_view line, std::vector<JsonMember>& out, std::string& error) {
  out.clear();
  return Parser(line).object(out, error);
}

}  // namespace crm::engine
