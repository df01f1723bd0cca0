// diagnostic.h - the collected-diagnostics model used by every compiler stage.
//
// Stages never print and never throw for user errors: they report into a DiagnosticSink. Codes
// come from diagnostics.def only, so the emitter, the renderer and docs/diagnostics.md agree.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/source/source_manager.h"

namespace crm::diag {

enum class Severity : uint8_t { Error, Warning, Note };

enum class Code : uint16_t {
#define DIAG(code, severity, title) code,
#include "compiler/diag/diagnostics.def"
#undef DIAG
};

struct CodeInfo {
  Code code;
  const char* name;  // "E0101"
  Severity severity;
  const char* title;
};

const CodeInfo& info(Code code);
const std::vector<CodeInfo>& all_codes();
const char* severity_name(Severity s);

struct Label {
  source::Span span;
  std::string message;
};

struct Diagnostic {
  Code code;
  Severity severity;
  source::Span span;
  std::string message;
  std::string help;              // optional
  std::vector<Label> secondary;  // optional, e.g. "first defined here"
};

class DiagnosticSink {
 public:
  explicit DiagnosticSink(size_t max_errors = 100) : max_errors_(max_errors) {}

  // Returns the stored diagnostic so callers can attach help and secondary labels.
  Diagnostic& report(Code code, source::Span span, std::string message);
  // Errors past the limit are dropped (one E0108 says so) to keep output and memory bounded.
  bool full() const { return errors_ >= max_errors_; }

  size_t error_count() const { return errors_; }
  bool has_errors() const { return errors_ > 0; }
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  // Later analyses may add to a diagnostic already reported (index into diagnostics()).
  Diagnostic& at(size_t i) { return diags_.at(i); }
  // Orders by file, then position, keeping report order for ties: deterministic output.
  void sort();
  // Replaces every diagnostic (a later pass regrouping them); the error count follows.
  void replace(std::vector<Diagnostic> ds);

 private:
  size_t max_errors_;
  size_t errors_ = 0;
  bool overflowed_ = false;
  std::vector<Diagnostic> diags_;
  Diagnostic discard_;
};

// Levenshtein-based suggestion for "did you mean": the closest candidate within a distance that
// scales with the length of the name, or empty.
std::string closest_match(std::string_view name, const std::vector<std::string>& candidates);

}  // namespace crm::diag
