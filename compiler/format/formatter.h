// formatter.h - `crm format`: prints a module back in canonical layout.
//
// Formatting is a pure function of the AST plus the comments in the source: comments between
// declarations and between the items of a block (fields, properties, clauses, rules, enum values)
// are kept in place, trailing comments stay at the end of their line, a definition or `who:`/
// `where:` whose condition has comments is laid out one operand per line around them, and only a
// sub-expression with a comment inside it is reproduced verbatim, so formatting never loses a
// comment. Lines are kept within `width` columns where the layout rules allow.
// format(format(x)) == format(x) and the AST of the output equals the AST of the input (both are
// tested over every bundled file and every golden input, tests/unit/format_test.cc).
#pragma once

#include <string>

#include "compiler/ast/ast.h"
#include "compiler/source/source_manager.h"

namespace crm::format {

inline constexpr size_t kDefaultWidth = 100;

std::string format_module(const ast::Module& m, const source::SourceFile& file, size_t width = kDefaultWidth);
std::string format_expr(const ast::Expr* e);
// A drawn amount as written canonically: `random 1 CNY .. 8 CNY step 0.5 CNY`, `random {1 CNY: 70%, ...}`.
std::string format_draw(const ast::Property* p);

}  // namespace crm::format
