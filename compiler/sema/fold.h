// fold.h - the constant folding pass's operations: constants are folded with
// bytecode/operations.h, the functions the VMs run, on the values as the VM holds them, choosing
// the same operation codegen emits for the operand types (Ints widened to Decimals with
// INT_TO_FIX where the other side is Decimal, MUL_INT when either factor is an Int, DIV_FIX for
// every `/`). The type pass calls these on each node whose operands are constant and records
// the result in Program::consts; a fold that faults is E0413 there (it would fault for every
// user at run time). Nothing here reports or keeps state.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "bytecode/builtins.h"
#include "bytecode/operations.h"
#include "compiler/ast/ast.h"
#include "compiler/sema/operators.h"
#include "compiler/sema/types.h"

namespace crm::sema::fold {

// A scalar constant as its VM slot: Int, Decimal and Money units, Time and Duration micros,
// Date days, Bool 0/1, an enum's index; and back, as a constant of type `t`.
int64_t slot(const Value& v);
Value of_slot(int64_t r, const Type& t);
bool is_scalar_slot(const Value& v);

// A comparison of two constants with the VM's operations; nullopt when widening an Int to meet a
// Decimal overflows (INT_TO_FIX faults).
std::optional<bool> compare(ast::BinaryOp op, const Value& x, const Value& y);
// Whether comparing two constants is free of faults at run time (an Int met by a Decimal is
// widened, which fails when it does not fit).
bool widens(const Value& a, const Value& b);

enum class Status : uint8_t {
  Folded,  // `result` holds the constant
  Left,    // not folded: left to run time (e.g. Date +/- part of a day)
  Fault,   // folding faults: `fault` says how
};
struct Result {
  Status status = Status::Left;
  bytecode::ops::Fault fault = bytecode::ops::Fault::None;
  Value value;
};

// `x op y` with the instruction its overload compiles to (operators.def), the operands prepared
// as the row's form says; `out` is the result type.
Result arith(const ArithOverload& o, const Value& x, const Value& y, const Type& out);
// A call of a foldable built-in overload whose arguments are all constant.
Result builtin(const bytecode::OverloadInfo& o, const std::vector<const Value*>& args);

}  // namespace crm::sema::fold
