// windows.h - the rules of aggregate windows and filters, which let the runtime maintain every
// aggregate incrementally: a `where` reads only the event and constants (E0418), `within` and
// `since` are known at compile time (E0417; a function parameter qualifies because every call
// is then checked to pass a constant, E0416), durations are positive (E0510). The type pass
// calls these on each aggregate once its parts are typed; they read the side tables only.
#pragma once

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/check_context.h"
#include "compiler/sema/program.h"

namespace crm::sema::windows {

// E0418 at the first thing in filter `e` that is not the event's own or constant.
bool filter_reads_only_event(const Program& program, diag::DiagnosticSink& sink, const ast::Expr* e);
// The parameters window expression `e` reads: callers of the function must pass constants.
void collect_static_params(const Program& program, const ast::Expr* e, Env& env);
// E0510 when constant duration `e` is zero or negative.
void positive_duration(const Program& program, diag::DiagnosticSink& sink, const ast::Expr* e);

}  // namespace crm::sema::windows
