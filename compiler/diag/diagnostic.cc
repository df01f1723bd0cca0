// diagnostic.cc - the code table expanded from diagnostics.def, and the sink.
#include "compiler/diag/diagnostic.h"

#include <algorithm>

namespace crm::diag {

const std::vector<CodeInfo>& all_codes() {
  static const std::vector<CodeInfo> kCodes = {
#define DIAG(code, severity, title) {Code::code, #code, Severity::severity, title},
#include "compiler/diag/diagnostics.def"
#undef DIAG
  };
  return kCodes;
}

const CodeInfo& info(Code code) { return all_codes()[static_cast<size_t>(code)]; }

const char* severity_name(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

Diagnostic& DiagnosticSink::report(Code code, source::Span span, std::string message) {
  Severity sev = info(code).severity;
  if (sev == Severity::Error) {
    if (errors_ >= max_errors_) {
      if (!overflowed_) {
        overflowed_ = true;
        // No location: the limit is about the run, not about the place the next error was.
        diags_.push_back({Code::E0108, Severity::Error, source::Span{},
                          "too many errors; stopped after " + std::to_string(max_errors_), "",
                          {}});
        diags_.back().help = "fix the errors above, or raise the limit with --max-errors";
      }
      discard_ = {};
      return discard_;
    }
    ++errors_;
  }
  diags_.push_back({code, sev, span, std::move(message), "", {}});
  return diags_.back();
}

void DiagnosticSink::sort() {
  std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    // Limits reached are about the whole run: said last.
    auto last = [](const Diagnostic& d) { return d.code == Code::E0108 || d.code == Code::W0108; };
    if (last(a) || last(b)) return last(b) && !last(a);
    if (a.span.file != b.span.file) return a.span.file < b.span.file;
    return a.span.begin < b.span.begin;
  });
}

void DiagnosticSink::replace(std::vector<Diagnostic> ds) {
  diags_ = std::move(ds);
  errors_ = 0;
  for (const auto& d : diags_)
    if (d.severity == Severity::Error && d.code != Code::E0108) ++errors_;
}

std::string closest_match(std::string_view name, const std::vector<std::string>& candidates) {
  auto distance = [](std::string_view a, std::string_view b) {
    std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      cur[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t sub = prev[j - 1] + (std::tolower(a[i - 1]) == std::tolower(b[j - 1]) ? 0 : 1);
        cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
      }
      std::swap(prev, cur);
    }
    return prev[b.size()];
  };
  std::string best;
  size_t best_d = std::max<size_t>(1, name.size() / 3) + 1;
  for (const auto& c : candidates) {
    if (c == name || c.size() > name.size() + 8) continue;
    size_t d = distance(name, c);
    if (d < best_d) { best_d = d; best = c; }
  }
  return best;
}

}  // namespace crm::diag
