// driver.h - the one compile pipeline: load, parse, check, analyse and (optionally) generate
// and verify bytecode over a set of input files or in-memory sources.
//
// One Compilation owns everything a run produced: sources, AST, side tables, diagnostics, the
// semantic model tools query and the generated program. The public API in include/crm/ (and so
// the CLI), the bench, the tests and the fuzz targets all go through compile(); nothing else
// chains the parser, the checker and codegen.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/analysis/overlap_data.h"
#include "compiler/codegen/codegen.h"
#include "compiler/diag/diagnostic.h"
#include "compiler/sema/module_loader.h"
#include "compiler/sema/program.h"
#include "compiler/sema/semantic_model.h"

namespace crm {

struct Input {
  std::string path;
  std::optional<std::string> text;  // when set, used instead of reading `path`
  // An embedder's in-memory module (text set): its module name, and imports are not looked
  // for beside `path` on disk.
  std::string module = {};
  // An editor's open buffer of a module the first input imports: loaded from memory, but not a
  // root whose own errors are reported in place (see DriverOptions::import_errors).
  bool imported = false;
};

// Where an error located in an imported module (not a root) is reported.
enum class ImportErrors : uint8_t {
  // A standard module's errors (it lacks a declaration only the user's schema can supply) are
  // one E0210 at the root's `import`, the real places as notes; a user module's stay in place.
  StdAtImport,
  // Every imported module's errors are one E0210 per `import` of a root: an editor shows only the
  // open document's diagnostics, and the imported file may not be open.
  AllAtImport,
};

struct DriverOptions {
  sema::LoadOptions load;
  size_t max_errors = 100;
  uint32_t max_decl_depth = 1000;  // declarations checked inside one another (E0111)
  // The strategy conflict analysis (W0105) is `crm check`'s: commands that run a program (run,
  // audience, explain, compile, the runtime API) turn it off and never pay for it.
  bool conflicts = true;
  size_t max_conflict_warnings = 100;  // W0105 reported at most; then one W0108 and the analysis stops
  analysis::DataSample data;  // `crm check --data`: count the users conflicting strategies share
  // Check the tree ANTLR rebuilt after syntax errors too (an editor: type errors still show while
  // a line is half typed). Off for the CLI: there the syntax errors alone are reported, since
  // errors in a tree with holes can be follow-on ones. The checker tolerates any partial tree.
  bool check_after_syntax_errors = false;
  // Generate bytecode and verify it when the check found no errors (Compilation::code). A program
  // the code generator refuses is reported as E0112, so `crm check` (which generates too) accepts
  // exactly what `crm compile` compiles.
  bool generate = false;
  codegen::Options codegen;
  ImportErrors import_errors = ImportErrors::StdAtImport;
};

struct Compilation {
  explicit Compilation(size_t max_errors) : sink(max_errors) {}
  sema::Program program;
  diag::DiagnosticSink sink;
  bool syntax_ok = true;
  bool checked = false;  // semantic analysis ran (skipped after syntax errors unless asked for)

  // DriverOptions::generate: `generated` when code generation succeeded and the result verifies.
  codegen::Output code;
  bool generated = false;
  std::string codegen_error;  // a construct codegen cannot compile (the user's program)
  std::string verify_error;   // the generated code fails verification (an internal error)

  // The symbol and position index over the side tables (built on first use; needs `checked`).
  const sema::SemanticModel& model() const;

 private:
  mutable std::unique_ptr<sema::SemanticModel> model_;
};

std::unique_ptr<Compilation> compile(const std::vector<Input>& inputs, const DriverOptions& options);

struct CheckOptions;
namespace detail {
// The public API's options as the driver's (defined in api.cc, shared by both API files).
DriverOptions driver_options(const CheckOptions& options);
}  // namespace detail

}  // namespace crm
