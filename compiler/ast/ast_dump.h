// ast_dump.h - a span-free S-expression rendering of a module, for golden parse tests and for
// checking that formatting preserves the tree.
#pragma once

#include <string>

#include "compiler/ast/ast.h"

namespace crm::ast {

std::string dump(const Module& m);
std::string dump(const Expr* e);

}  // namespace crm::ast
