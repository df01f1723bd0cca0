// crm/check.h - public API: check .crm programs and format .crm sources.
//
// Library code never exits and never lets an exception escape: every failure, including an
// internal one, comes back as a diagnostic in the result (code "internal" for crm's own
// failures; every other code is the user's mistake: docs/diagnostics.md).
// Positions are 1-based lines and columns in characters (UTF-8 code points), sizes in bytes.
// Thread-safety: the functions keep no state between calls and may run on any number of
// threads at once; a CheckResult is not modified after it is returned and may be read from
// several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace crm {

struct Compilation;

// Limits that keep hostile or accidental input from exhausting time, stack or memory.
struct Limits {
  size_t max_file_bytes = 1 << 20;  // per source file
  // Expression nesting levels (E0106). Values above kMaxNestingCap count as the cap: the deepest
  // nesting every pass (the generated parser above all) is tested to survive on an 8 MiB stack.
  // A flat chain of one operator (`or`, `and`, `+`/`-`, `*`/`/`, `??`) is one level of nesting,
  // however long; its terms still count towards the tree's own limit of 2 * kMaxNestingCap
  // levels, whatever this value (and towards max_code_depth once compiled).
  uint32_t max_nesting = 128;
  static constexpr uint32_t kMaxNestingCap = 2000;
  // Constants and functions used before their declaration are checked on demand, one inside the
  // other: a chain of them written in reverse order nests this deep (E0111). In dependency order
  // nothing nests. Values above kMaxDeclDepthCap count as the cap (the stack's safe depth).
  uint32_t max_decl_depth = 1000;
  static constexpr uint32_t kMaxDeclDepthCap = 2000;
  // Expression depth once a unit's constants, functions and segments are inlined, which the code
  // generator recurses through (E0112 beyond it, from check and compile alike). Values above
  // kMaxCodeDepthCap count as the cap (the stack's safe depth).
  uint32_t max_code_depth = 2000;
  static constexpr uint32_t kMaxCodeDepthCap = 2000;
  size_t max_errors = 100;          // further errors are counted but not kept
  size_t max_modules = 1000;        // modules in one program, imports included
  // Strategy conflict warnings (W0105) reported at most (values below 1 count as 1); the next
  // conflicting pair stops the analysis and one W0108 says how much was left unexamined.
  size_t max_conflict_warnings = 100;
};

struct CheckOptions {
  std::vector<std::string> include_dirs;  // searched for `import a.b` as a/b.crm
  Limits limits;
  // Optional data sample: each pair of strategies reported as possibly overlapping (W0105) is
  // evaluated over these users, and the warning says how many match both.
  std::string data_profiles;  // JSON Lines, or CSV with a header row (name ends in .csv); "-": standard input
  std::string data_events;    // JSON Lines events, folded into history before evaluating; "-": standard input
  std::string data_at;        // ISO-8601 time to evaluate at (default: the start of the pair's overlap, or
                              // the last event's time if later)
  // When set, "-" is read from this text, not from standard input: a caller checking several
  // programs against one standard input (`crm check --each --data -`) reads it once and gives it
  // to each (standard input read again would be empty). Unset, "-" is read as it comes, once.
  std::shared_ptr<const std::string> data_stdin;
};

struct SourceLocation {
  std::string file;
  uint32_t line = 0;    // 1-based; 0 when the diagnostic has no location
  uint32_t column = 0;  // 1-based, in characters
};

struct Diagnostic {
  std::string code;      // stable, e.g. "E0401"
  std::string severity;  // "error" or "warning"
  std::string message;
  std::string help;      // may be empty
  SourceLocation begin, end;
  struct Related {
    SourceLocation at;
    std::string message;
  };
  std::vector<Related> related;
};

class CheckResult;
namespace detail {
// Library-internal: builds a result from a finished compilation (not part of the API).
CheckResult make_result(std::shared_ptr<Compilation>, const std::string& internal_error);
}  // namespace detail

class CheckResult {
 public:
  CheckResult();
  ~CheckResult();
  CheckResult(CheckResult&&) noexcept;
  CheckResult& operator=(CheckResult&&) noexcept;

  bool ok() const { return errors_ == 0; }
  size_t error_count() const { return errors_; }
  size_t warning_count() const { return warnings_; }
  // Notes are neither errors nor warnings: they never fail a check, not even --deny-warnings.
  size_t note_count() const { return notes_; }
  const std::vector<Diagnostic>& diagnostics() const { return diagnostics_; }
  // Caret snippets as printed by `crm check`; empty when there is nothing to report.
  std::string render_text(bool color = false) const;
  // {"diagnostics":[...]} as printed by `crm check --format json`.
  std::string render_json() const;

 private:
  friend CheckResult detail::make_result(std::shared_ptr<Compilation>, const std::string& internal_error);
  std::shared_ptr<Compilation> compilation_;  // shared with a compiled program, for explain
  std::vector<Diagnostic> diagnostics_;
  size_t errors_ = 0, warnings_ = 0, notes_ = 0;
  std::string internal_error_;
};

// Checks the program made of these files (and what they import). An unreadable file, or one
// beyond options.limits, is a diagnostic.
CheckResult check_files(const std::vector<std::string>& paths, const CheckOptions& options = {});
// Checks in-memory text; `name` is used in diagnostics and to resolve relative imports.
CheckResult check_source(const std::string& name, const std::string& text, const CheckOptions& options = {});
// Checks one program made of files and in-memory texts (e.g. one read from standard input).
struct SourceInput {
  std::string path;                 // the file, or the name of `text` in diagnostics
  std::optional<std::string> text;  // when set, used instead of reading `path`
};
CheckResult check_sources(const std::vector<SourceInput>& inputs, const CheckOptions& options = {});

struct FormatResult {
  bool ok = false;
  std::string text;         // the formatted source when ok
  CheckResult diagnostics;  // syntax errors otherwise
};
// How `crm format` lays out code.
struct FormatOptions {
  size_t width = 100;  // columns a line is kept within where the layout rules allow (docs/language.md, Layout)
};
// The result keeps the text's line ends: CRLF when its first line ends with CRLF, else LF.
FormatResult format_source(const std::string& name, const std::string& text, const Limits& limits = {},
                           const FormatOptions& format = {});
// The syntax tree of one source as an S-expression (`crm parse`): in `text` when ok, else the
// syntax errors.
FormatResult syntax_tree(const std::string& name, const std::string& text, const Limits& limits = {});

// Every diagnostic code (docs/diagnostics.md), in code order.
struct DiagnosticCode {
  std::string code;      // "E0401"
  std::string severity;  // "error" or "warning"
  std::string title;     // one-line summary
};
std::vector<DiagnosticCode> diagnostic_codes();

}  // namespace crm
