// renderer.cc - text and JSON rendering of diagnostics.
#include "compiler/diag/renderer.h"

#include "support/json_text.h"
#include "support/text.h"

#include <fmt/format.h>

#include <algorithm>

namespace crm::diag {

using support::json_escape;

namespace {

const char* color_of(Severity s) {
  switch (s) {
    case Severity::Error: return "\x1b[1;31m";
    case Severity::Warning: return "\x1b[1;33m";
    case Severity::Note: return "\x1b[1;36m";
  }
  return "";
}

// Columns for the caret line: tabs are kept so the carets line up under the text, and the
// spaces and carets follow each character's width in a terminal (a Chinese character takes two
// columns, a combining mark none), so they stand under the span whatever the script.
void snippet(std::string& out, const source::SourceFile& f, source::Span span, const std::string& label,
             const RenderOptions& o) {
  auto lc = f.line_col(span.begin);
  std::string_view line = f.line_text(lc.line);
  std::string num = std::to_string(lc.line);
  std::string pad(num.size(), ' ');
  // Printable copy of the line: control characters would garble a terminal.
  std::string shown;
  for (char c : line) shown += (static_cast<unsigned char>(c) < 0x20 && c != '\t') ? ' ' : c;
  out += fmt::format(" {} | {}\n", num, shown);
  auto end_lc = f.line_col(std::max(span.end, span.begin));
  // The byte after the code point starting at byte j.
  auto next = [&](size_t j) {
    for (++j; j < line.size() && (static_cast<unsigned char>(line[j]) & 0xC0) == 0x80;) ++j;
    return j;
  };
  // A tab is copied, a control character shown as a space: one column each.
  auto columns = [&](size_t j, size_t k) {
    return static_cast<unsigned char>(line[j]) < 0x20 ? 1 : support::display_width(line.substr(j, k - j));
  };
  std::string marks;
  uint32_t col = 1;
  size_t i = 0;
  for (; col < lc.column && i < line.size(); ++col) {
    size_t j = next(i);
    if (line[i] == '\t') marks += '\t';
    else marks.append(static_cast<size_t>(columns(i, j)), ' ');
    i = j;
  }
  for (; col < lc.column; ++col) marks += ' ';  // past the line's text (the end of the file)
  // The span's columns on this line: to its end, or, when it goes on to the next line, the rest of
  // this one and one caret for the line break.
  const bool one_line = end_lc.line == lc.line;
  int64_t width = 0;
  uint32_t c = col;
  for (size_t k = i; k < line.size() && (!one_line || c < end_lc.column); ++c) {
    size_t j = next(k);
    width += columns(k, j);
    k = j;
  }
  width += one_line ? (c < end_lc.column ? end_lc.column - c : 0) : 1;
  marks += std::string(static_cast<size_t>(std::max<int64_t>(1, width)), '^');
  if (o.color) marks = "\x1b[1;31m" + marks + "\x1b[0m";
  out += fmt::format(" {} | {}{}{}\n", pad, marks, label.empty() ? "" : " ", label);
}

std::string location(const source::SourceManager& sm, source::Span span) {
  if (!span.valid()) return "crm";  // about the run as a whole (a file that cannot be read, limits)
  const auto& f = sm.file(span.file);
  auto lc = f.line_col(span.begin);
  return fmt::format("{}:{}:{}", f.path(), lc.line, lc.column);
}

}  // namespace

std::string render_text(const Diagnostic& d, const source::SourceManager& sm, const RenderOptions& o) {
  std::string out;
  const char* sev = severity_name(d.severity);
  if (o.color)
    out += fmt::format("\x1b[1m{}:\x1b[0m {}{}[{}]\x1b[0m\x1b[1m: {}\x1b[0m\n", location(sm, d.span),
                       color_of(d.severity), sev, info(d.code).name, d.message);
  else
    out += fmt::format("{}: {}[{}]: {}\n", location(sm, d.span), sev, info(d.code).name, d.message);
  if (d.span.valid()) snippet(out, sm.file(d.span.file), d.span, "", o);
  for (const auto& l : d.secondary) {
    if (!l.span.valid()) continue;
    out += fmt::format("{}: note: {}\n", location(sm, l.span), l.message);
    snippet(out, sm.file(l.span.file), l.span, "", o);
  }
  if (!d.help.empty()) out += fmt::format("  = help: {}\n", d.help);
  return out;
}

std::string render_text(const std::vector<Diagnostic>& ds, const source::SourceManager& sm,
                        const RenderOptions& o) {
  std::string out;
  for (const auto& d : ds) out += render_text(d, sm, o);
  return out;
}

std::string render_json(const std::vector<Diagnostic>& ds, const source::SourceManager& sm) {
  auto pos = [&](source::Span s, bool with_end) {
    if (!s.valid()) return std::string("\"file\":null");
    const auto& f = sm.file(s.file);
    auto b = f.line_col(s.begin);
    std::string r = fmt::format("\"file\":\"{}\",\"line\":{},\"column\":{}", json_escape(f.path()), b.line, b.column);
    if (with_end) {
      auto e = f.line_col(s.end);
      r += fmt::format(",\"end_line\":{},\"end_column\":{}", e.line, e.column);
    }
    return r;
  };
  std::string out = "{\"diagnostics\":[";
  for (size_t i = 0; i < ds.size(); ++i) {
    const auto& d = ds[i];
    if (i) out += ",";
    out += fmt::format("{{\"code\":\"{}\",\"severity\":\"{}\",\"message\":\"{}\",{}", info(d.code).name,
                       severity_name(d.severity), json_escape(d.message), pos(d.span, true));
    out += d.help.empty() ? ",\"help\":null" : fmt::format(",\"help\":\"{}\"", json_escape(d.help));
    out += ",\"related\":[";
    for (size_t j = 0; j < d.secondary.size(); ++j) {
      if (j) out += ",";
      out += fmt::format("{{{},\"message\":\"{}\"}}", pos(d.secondary[j].span, false),
                         json_escape(d.secondary[j].message));
    }
    out += "]}";
  }
  out += "]}\n";
  return out;
}

}  // namespace crm::diag
