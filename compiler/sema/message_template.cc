// message_template.cc - splitting message texts into literal text and profile placeholders.
#include "compiler/sema/message_template.h"

namespace crm::sema {

namespace {
bool name_start(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; }
bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }
}  // namespace

std::vector<TemplatePiece> parse_template(std::string_view v, std::optional<TemplateError>& error) {
  std::vector<TemplatePiece> out;
  error.reset();
  std::string lit;
  auto flush = [&] {
    if (lit.empty()) return;
    TemplatePiece p;
    p.literal = std::move(lit);
    out.push_back(std::move(p));
    lit.clear();
  };
  for (size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c == '}') {  // `}}` is one brace; a lone `}` is literal too
      lit += '}';
      if (i + 1 < v.size() && v[i + 1] == '}') ++i;
      continue;
    }
    if (c != '{') {
      lit += c;
      continue;
    }
    if (i + 1 < v.size() && v[i + 1] == '{') {
      lit += '{';
      ++i;
      continue;
    }
    size_t close = v.find_first_of("{}", i + 1);
    if (close == std::string_view::npos || v[close] == '{') {
      error = TemplateError{i, "unclosed `{` in message template", "write `{{` for a literal brace"};
      return out;
    }
    std::string_view inner = v.substr(i + 1, close - i - 1);
    size_t bar = inner.find('|');
    std::string_view name = inner.substr(0, bar);
    bool ok = !name.empty() && name_start(name[0]);
    for (char ch : name) ok = ok && name_char(ch);
    if (!ok) {
      error = TemplateError{i, "`{" + std::string(inner) + "}` does not name a profile field",
                            "write `{field}`, `{field|default}`, or `{{` for a literal brace"};
      return out;
    }
    flush();
    TemplatePiece p;
    p.is_field = true;
    p.field = std::string(name);
    p.field_at = i + 1;
    if (bar != std::string_view::npos) {
      p.has_fallback = true;
      p.fallback = std::string(inner.substr(bar + 1));
    }
    out.push_back(std::move(p));
    i = close;
  }
  flush();
  return out;
}

}  // namespace crm::sema
