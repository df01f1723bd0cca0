// checker.h - semantic analysis: name resolution, schema merging, type checking, constant
// folding and the strategy/resource/policy rules, producing a sema::Program's side tables.
#pragma once

#include <cstdint>

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/program.h"

namespace crm::sema {

// Runs every semantic check over the loaded modules of `program`. Reports into `sink`; never
// throws for user errors. `max_decl_depth`: how deep constants and functions used before their
// declaration may be checked inside one another (E0111); the recursion uses the stack.
void check_program(Program& program, diag::DiagnosticSink& sink, uint32_t max_decl_depth = 1000);

}  // namespace crm::sema
