// driver.cc - load + parse + check + analyses (+ codegen + verify), in that order.
#include "compiler/driver.h"

#include "bytecode/program.h"
#include "compiler/analysis/conflicts.h"
#include "compiler/analysis/never_deliver.h"
#include "compiler/analysis/overlap_data.h"
#include "compiler/sema/checker.h"

namespace crm {

const sema::SemanticModel& Compilation::model() const {
  if (!model_) model_ = std::make_unique<sema::SemanticModel>(program);
  return *model_;
}

std::unique_ptr<Compilation> compile(const std::vector<Input>& inputs, const DriverOptions& options) {
  auto c = std::make_unique<Compilation>(options.max_errors);
  sema::ModuleLoader loader(c->program, c->sink, options.load);
  for (const auto& in : inputs) {
    if (in.text) loader.add_root_source(in.path, *in.text, in.module, !in.module.empty());
    else loader.add_root_file(in.path);
  }
  loader.resolve();
  c->syntax_ok = loader.syntax_ok();
  // A tree rebuilt after syntax errors has holes; checking it would bury the real error under
  // follow-on ones, so by default semantic analysis waits until the syntax is right.
  if ((c->syntax_ok || options.check_after_syntax_errors) && !c->sink.full()) {
    sema::check_program(c->program, c->sink, options.max_decl_depth);
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
  if (options.generate && c->checked && !c->sink.has_errors()) {
    c->code = codegen::generate(c->program, options.codegen);
    if (!c->code.error.empty()) {
      c->codegen_error = c->code.error;
      std::string unit = c->code.error_unit.empty() ? "" : " (compiling `" + c->code.error_unit + "`)";
      auto& d = c->sink.report(diag::Code::E0112, c->code.error_span, c->code.error + unit);
      // Not every command takes --max-code-depth (check does), and it can only lower the cap.
      d.help = "every use of a segment, constant or function is compiled in place: shorten the chains of them or "
               "split the expression (or, for a construct not compiled yet, write it another way); the depth limit "
               "is at most 2000";
      const auto& in = c->code.error_inner_span;
      if (in.valid() && (in.file != c->code.error_span.file || in.begin != c->code.error_span.begin ||
                         in.end != c->code.error_span.end))
        d.secondary.push_back({c->code.error_inner_span, "the code generator was here, inlined into it, when it stopped"});
      c->sink.sort();
    } else if (!bytecode::verify(c->code.program, c->verify_error) && c->verify_error.empty())
      c->verify_error = "the generated program does not verify";
    c->generated = c->codegen_error.empty() && c->verify_error.empty();
  }
  return c;
}

}  // namespace crm
