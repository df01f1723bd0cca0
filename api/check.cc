// check.cc - the public API of include/crm/check.h on top of the driver.
//
// Every entry point catches everything: an internal failure becomes an error diagnostic rather
// than an exception crossing the library boundary.
#include <algorithm>
#include <crm/check.h>

#include "compiler/ast/ast_dump.h"
#include "compiler/diag/renderer.h"
#include "compiler/driver.h"
#include "compiler/format/formatter.h"
#include "compiler/parse/parser.h"
#include "support/json_text.h"

namespace crm {

CheckResult::CheckResult() = default;
CheckResult::~CheckResult() = default;
CheckResult::CheckResult(CheckResult&&) noexcept = default;
CheckResult& CheckResult::operator=(CheckResult&&) noexcept = default;

namespace {

SourceLocation locate(const source::SourceManager& sm, source::Span s, bool end) {
  if (!s.valid()) return {};
  const auto& f = sm.file(s.file);
  auto lc = f.line_col(end ? s.end : s.begin);
  return {f.path(), lc.line, lc.column};
}

}  // namespace

static_assert(Limits::kMaxNestingCap == parse::ParseOptions::kMaxNesting);
static_assert(Limits::kMaxCodeDepthCap == codegen::Options::kMaxDepth);

namespace detail {

DriverOptions driver_options(const CheckOptions& o) {
  DriverOptions d;
  d.load.include_dirs = o.include_dirs;
  d.load.parse.max_file_bytes = o.limits.max_file_bytes;
  d.load.parse.max_nesting = o.limits.max_nesting;
  d.max_decl_depth = std::min(o.limits.max_decl_depth, Limits::kMaxDeclDepthCap);
  d.codegen.max_depth = std::min(o.limits.max_code_depth, Limits::kMaxCodeDepthCap);
  d.load.max_modules = o.limits.max_modules;
  d.max_errors = o.limits.max_errors;
  d.max_conflict_warnings = o.limits.max_conflict_warnings;
  d.data = {o.data_profiles, o.data_events, o.data_at, o.data_stdin};
  return d;
}

}  // namespace detail

namespace detail {

CheckResult make_result(std::shared_ptr<Compilation> c, const std::string& internal_error) {
  CheckResult r;
  if (!c) {
    r.internal_error_ = internal_error.empty() ? "unknown failure" : internal_error;
    r.errors_ = 1;
    r.diagnostics_.push_back({"internal", "error", "internal compiler error: " + r.internal_error_, "", {}, {}, {}});
    return r;
  }
  if (c) {
    const auto& sm = c->program.sources;
    for (const auto& d : c->sink.diagnostics()) {
      Diagnostic out;
      out.code = diag::info(d.code).name;
      out.severity = diag::severity_name(d.severity);
      out.message = d.message;
      out.help = d.help;
      out.begin = locate(sm, d.span, false);
      out.end = locate(sm, d.span, true);
      for (const auto& l : d.secondary) out.related.push_back({locate(sm, l.span, false), l.message});
      // Notes (e.g. a W0105 pair that a --data sample shows to be empty) are neither.
      if (d.severity == diag::Severity::Error) ++r.errors_;
      else if (d.severity == diag::Severity::Warning) ++r.warnings_;
      else ++r.notes_;
      r.diagnostics_.push_back(std::move(out));
    }
  }
  r.compilation_ = std::move(c);
  return r;
}

}  // namespace detail

using detail::make_result;

std::string CheckResult::render_text(bool color) const {
  if (!compilation_) return "error: internal compiler error: " + internal_error_ + "\n";
  diag::RenderOptions o;
  o.color = color;
  return diag::render_text(compilation_->sink.diagnostics(), compilation_->program.sources, o);
}

std::string CheckResult::render_json() const {
  if (!compilation_)
    return "{\"diagnostics\":[{\"code\":\"internal\",\"severity\":\"error\",\"message\":\"internal compiler error: " +
           support::json_escape(internal_error_) + "\",\"file\":null,\"help\":null,\"related\":[]}]}\n";
  return diag::render_json(compilation_->sink.diagnostics(), compilation_->program.sources);
}

static CheckResult guarded(const std::vector<Input>& inputs, const CheckOptions& options) {
  try {
    // Generated too (and dropped): a program the code generator refuses is an error here (E0112).
    DriverOptions d = detail::driver_options(options);
    d.generate = true;
    return make_result(compile(inputs, d), "");
  } catch (const std::exception& e) {
    return make_result(nullptr, e.what());
  } catch (...) {
    return make_result(nullptr, "unknown exception");
  }
}

CheckResult check_files(const std::vector<std::string>& paths, const CheckOptions& options) {
  std::vector<Input> inputs;
  for (const auto& p : paths) inputs.push_back({p, std::nullopt});
  return guarded(inputs, options);
}

CheckResult check_source(const std::string& name, const std::string& text, const CheckOptions& options) {
  return guarded({{name, text}}, options);
}

CheckResult check_sources(const std::vector<SourceInput>& sources, const CheckOptions& options) {
  std::vector<Input> inputs;
  for (const auto& s : sources) inputs.push_back({s.path, s.text});
  return guarded(inputs, options);
}

namespace {

// Parses one source alone; `on_tree` makes the text from the module when it has no errors.
template <typename F>
FormatResult parse_alone(const std::string& name, const std::string& text, const Limits& limits, F&& on_tree) {
  FormatResult out;
  try {
    auto c = std::make_unique<Compilation>(limits.max_errors);
    auto id = c->program.sources.add(name, text);
    parse::ParseOptions po;
    po.max_file_bytes = limits.max_file_bytes;
    po.max_nesting = limits.max_nesting;
    ast::Module* m = parse::parse_module(c->program.sources.file(id), c->program.ast, c->sink, po);
    if (!c->sink.has_errors()) {
      out.ok = true;
      out.text = on_tree(*m, c->program.sources.file(id));
    }
    out.diagnostics = make_result(std::move(c), "");
  } catch (const std::exception& e) {
    out.ok = false;
    out.diagnostics = make_result(nullptr, e.what());
  }
  return out;
}

}  // namespace

FormatResult format_source(const std::string& name, const std::string& text, const Limits& limits,
                           const FormatOptions& options) {
  FormatResult r = parse_alone(name, text, limits, [&](const ast::Module& m, const source::SourceFile& f) {
    return format::format_module(m, f, options.width);
  });
  // The file's line ends are kept: a CRLF file (a Windows checkout) formats to CRLF, so a
  // formatted one is "formatted" and an editor gets no whole-buffer edit. The style is the
  // first line end's; the formatter writes `\n` (and may keep a comment's `\r`).
  size_t nl = text.find('\n');
  if (r.ok && nl != std::string::npos && nl > 0 && text[nl - 1] == '\r') {
    std::string crlf;
    crlf.reserve(r.text.size() + r.text.size() / 16);
    for (size_t i = 0; i < r.text.size(); ++i) {
      if (r.text[i] == '\r' && i + 1 < r.text.size() && r.text[i + 1] == '\n') continue;
      if (r.text[i] == '\n') crlf += '\r';
      crlf += r.text[i];
    }
    r.text = std::move(crlf);
  }
  return r;
}

FormatResult syntax_tree(const std::string& name, const std::string& text, const Limits& limits) {
  return parse_alone(name, text, limits, [](const ast::Module& m, const source::SourceFile&) { return ast::dump(m); });
}

std::vector<DiagnosticCode> diagnostic_codes() {
  std::vector<DiagnosticCode> out;
  for (const auto& c : diag::all_codes()) out.push_back({c.name, diag::severity_name(c.severity), c.title});
  return out;
}

}  // namespace crm
