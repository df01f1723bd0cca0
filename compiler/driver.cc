// driver.cc - load + parse + check, in that order.
#include "compiler/driver.h"

#include "compiler/analysis/conflicts.h"
#include "compiler/analysis/never_deliver.h"
#include "compiler/analysis/overlap_data.h"
#include "compiler/sema/checker.h"

namespace crm {

std::unique_ptr<Compilation> run_front_end(const std::vector<Input>& inputs, const DriverOptions& options) {
  auto c = std::make_unique<Compilation>(options.max_errors);
  sema::ModuleLoader loader(c->program, c->sink, options.load);
  for (const auto& in : inputs) {
    if (in.text) loader.add_root_source(in.path, *in.text, in.module, !in.module.empty());
    else loader.add_root_file(in.path);
  }
  loader.resolve();
  c->syntax_ok = loader.syntax_ok();
  // A tree rebuilt after syntax errors has holes; checking it would bury the real error under
  // follow-on ones, so semantic analysis waits until the syntax is right.
  if (c->syntax_ok && !c->sink.full()) {
    sema::check_program(c->program, c->sink);
    c->checked = true;
    if (!c->sink.has_errors()) {
      analysis::check_never_deliver(c->program, c->sink);
      if (options.conflicts) {
        analysis::ConflictOptions co;
        co.max_warnings = options.max_conflict_warnings;
        auto conflicts = analysis::check_strategy_conflicts(c->program, c->sink, co);
        analysis::count_overlaps(c->program, conflicts, options.data, c->sink);
      }
    }
  }
  c->sink.sort();
  return c;
}

}  // namespace crm
