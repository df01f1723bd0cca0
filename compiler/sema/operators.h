// operators.h - the arithmetic operators' typed overloads (operators.def): what `a op b` is for
// each pair of operand types and which instruction computes it. Shared by the checker (types,
// constant folding) and codegen, so the type rules, the folded value and the emitted code come
// from one row.
#pragma once

#include <span>

#include "bytecode/program.h"
#include "compiler/ast/ast.h"
#include "compiler/sema/types.h"

namespace crm::sema {

struct ArithOverload {
  enum class Result : uint8_t { Int, Decimal, Duration, Left, Right };
  enum class Form : uint8_t { Plain, WidenInts, NegRight, Swap };
  ast::BinaryOp op;
  TypeKind left, right;
  Result result;
  bytecode::Op opcode;
  Form form;
};

// The overload of `left op right` (op one of + - * /), or null when the operator does not apply.
const ArithOverload* find_arith(ast::BinaryOp op, TypeKind left, TypeKind right);
// Every row, in table order.
std::span<const ArithOverload> all_arith();

}  // namespace crm::sema
