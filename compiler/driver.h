// driver.h - runs the front end (load, parse, check) over a set of input files.
//
// One Compilation owns everything a run produced: sources, AST, side tables and diagnostics.
// The CLI, the public API in include/crm/ and the tests all go through here.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/analysis/overlap_data.h"
#include "compiler/diag/diagnostic.h"
#include "compiler/sema/module_loader.h"
#include "compiler/sema/program.h"

namespace crm {

struct Input {
  std::string path;
  std::optional<std::string> text;  // when set, used instead of reading `path`
  // An embedder's in-memory module (text set): its module name, and imports are not looked
  // for beside `path` on disk.
  std::string module = {};
};

struct DriverOptions {
  sema::LoadOptions load;
  size_t max_errors = 100;
  // The strategy conflict analysis (W0105) is `crm check`'s: commands that run a program (run,
  // audience, explain, compile, the runtime API) turn it off and never pay for it.
  bool conflicts = true;
  size_t max_conflict_warnings = 100;  // W0105 reported at most; then one W0108 and the analysis stops
  analysis::DataSample data;  // `crm check --data`: count the users conflicting strategies share
};

struct Compilation {
  explicit Compilation(size_t max_errors) : sink(max_errors) {}
  sema::Program program;
  diag::DiagnosticSink sink;
  bool syntax_ok = true;
  bool checked = false;  // semantic analysis ran (it is skipped after syntax errors)
};

std::unique_ptr<Compilation> run_front_end(const std::vector<Input>& inputs, const DriverOptions& options);

struct CheckOptions;
namespace detail {
// The public API's options as the driver's (defined in api.cc, shared by both API files).
DriverOptions driver_options(const CheckOptions& options);
}  // namespace detail

}  // namespace crm
