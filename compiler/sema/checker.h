// checker.h - semantic analysis: name resolution, schema merging, type checking, constant
// folding and the strategy/resource/policy rules, producing a sema::Program's side tables.
#pragma once

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/program.h"

namespace crm::sema {

// Runs every semantic check over the loaded modules of `program`. Reports into `sink`; never
// throws for user errors.
void check_program(Program& program, diag::DiagnosticSink& sink);

}  // namespace crm::sema
