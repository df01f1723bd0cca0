// conflicts.h - "one policy per user group at a time within one business" (design article 000,
// section 4): finds strategies of the same business whose time windows overlap and whose `who:`
// predicates may select the same users, and reports each pair with a witness profile.
//
// Runs after checking. Predicates are read as conjunctions of constraints on profile fields and
// `hash_bucket(x, n)` (constraints.h: `age between 18 and 35`, `city in {...}`, `tier == Gold`,
// `level >= 3`, `hash_bucket(user, 5) == 2`, `not ...`); two strategies are disjoint when some
// quantity's constraints cannot both hold. Anything the
// analysis cannot read (history aggregates, functions, `or`) is taken as possibly true, so a
// reported pair *may* overlap. Overlap is accepted where declared: different priorities, or one
// `exclusive:` group (the runtime then delivers to a user at most one strategy of the group).
//
// Scale: strategies are grouped by business and swept by window start, so only pairs whose
// windows overlap are looked at (and, when most strategies pin one quantity to a value, only pairs
// pinned to the same value). At most `max_warnings` pairs are reported; the next conflicting
// pair stops the analysis and one W0108 says how many pairs with overlapping windows were left
// unexamined, so time and memory stay bounded on generated catalogues.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/program.h"

namespace crm::analysis {

struct Conflict {
  std::string a, b;   // the two strategies
  size_t diagnostic;  // index of their W0105 in the sink, before sorting
};

struct ConflictOptions {
  size_t max_warnings = 100;  // W0105 reported at most (at least 1); `crm check --max-conflict-warnings`
};

// What the analysis did, for tests and benchmarks.
struct ConflictStats {
  uint64_t pairs_examined = 0;  // pairs whose priorities and `who:` conditions were compared
};

std::vector<Conflict> check_strategy_conflicts(const sema::Program& program, diag::DiagnosticSink& sink,
                                               const ConflictOptions& options = {}, ConflictStats* stats = nullptr);

}  // namespace crm::analysis
