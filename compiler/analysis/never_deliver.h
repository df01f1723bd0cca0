// never_deliver.h - W0106: strategies (or actions) that can never deliver.
//
// A strategy that cannot deliver passes every type rule, so nothing else tells the operator.
// This finds, with the constraint reasoning of constraints.h and the constant times, amounts and
// windows of the program:
//   * conditions that no user and event satisfy: `who:`, `where:` and the trigger's `if` must all
//     hold, so contradictions between or within them (`level >= 3 and level < 2`, `x == 1` and
//     `x == 2`, `in` sets with nothing in common, `hash_bucket(user, 5) == 7`);
//   * schedules that never fire: `at T` outside the strategy's own window, or an `every` whose
//     first run on its clock comes after the window ends;
//   * grants outside the resource's claim window at every instant the strategy decides;
//   * messages a schedule always sends in quiet hours that `drop` them;
//   * a budget below the cost of one delivery (the face values of its coupons and red envelopes).
// Each is one warning with the span of the offending clause and the spans that explain it. Only
// proofs are reported: what the analysis cannot read is taken as possibly true.
#pragma once

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/program.h"

namespace crm::analysis {

void check_never_deliver(const sema::Program& program, diag::DiagnosticSink& sink);

}  // namespace crm::analysis
