// lints.h - the whole-program passes that run after typing, over the side tables: recursion
// among segments, functions and constants (from the dependency edges the type pass recorded)
// and imports nothing is used from. A new program-wide check that needs only the side tables
// goes here; one that needs the analyses' results (conflicts, never-deliver) goes in analysis/.
#pragma once

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/check_context.h"
#include "compiler/sema/program.h"

namespace crm::sema::lints {

// E0412: definitions cannot be recursive (every program must finish in bounded time).
void check_recursion(const CheckTables& tables, diag::DiagnosticSink& sink);
// W0103: an import of a module without schema that nothing is used from.
void check_unused_imports(const Program& program, diag::DiagnosticSink& sink);

}  // namespace crm::sema::lints
