// operators.cc - the arithmetic overload table expanded from operators.def.
#include "compiler/sema/operators.h"

#include <iterator>

namespace crm::sema {

namespace {
using R = ArithOverload::Result;
using F = ArithOverload::Form;
const ArithOverload kArith[] = {
#define ARITH(op, l, r, result, opcode, form) \
  {ast::BinaryOp::op, TypeKind::l, TypeKind::r, R::result, bytecode::Op::opcode, F::form},
#include "compiler/sema/operators.def"
#undef ARITH
};
}  // namespace

std::span<const ArithOverload> all_arith() { return kArith; }

const ArithOverload* find_arith(ast::BinaryOp op, TypeKind left, TypeKind right) {
  for (const auto& o : kArith)
    if (o.op == op && o.left == left && o.right == right) return &o;
  return nullptr;
}

}  // namespace crm::sema
