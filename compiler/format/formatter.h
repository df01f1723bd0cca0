// formatter.h - `crm format`: prints a module back in canonical layout.
//
// Formatting is a pure function of the AST plus the comments in the source: comments between
// declarations and between the items of a block (fields, properties, clauses, rules) are kept in
// place, trailing comments stay at the end of their line, and only an expression that has a
// comment inside it is reproduced verbatim, so formatting never loses a comment.
// format(format(x)) == format(x) and the AST of the output equals the AST of the input (both are
// tested over every bundled file and tests/golden/format).
#pragma once

#include <string>

#include "compiler/ast/ast.h"
#include "compiler/source/source_manager.h"

namespace crm::format {

std::string format_module(const ast::Module& m, const source::SourceFile& file);
std::string format_expr(const ast::Expr* e);

}  // namespace crm::format
