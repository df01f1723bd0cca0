// fold.cc - constant folding with the VM's operations (see fold.h).
#include "compiler/sema/fold.h"

#include <string>
#include <utility>

#include "support/civil_time.h"

namespace crm::sema::fold {

using ast::BinaryOp;
using bytecode::Overload;
using support::Decimal;
namespace ops = bytecode::ops;

int64_t slot(const Value& v) {
  if (auto* i = std::get_if<int64_t>(&v.v)) return *i;
  if (auto* d = std::get_if<Decimal>(&v.v)) return d->units();
  if (auto* t = std::get_if<Value::Time>(&v.v)) return t->micros;
  if (auto* d = std::get_if<Value::Duration>(&v.v)) return d->micros;
  if (auto* d = std::get_if<Value::Date>(&v.v)) return d->days;
  if (auto* b = std::get_if<bool>(&v.v)) return *b;
  if (auto* e = std::get_if<Value::EnumVal>(&v.v)) return e->index;
  return 0;
}

Value of_slot(int64_t r, const Type& t) {
  switch (t.kind) {
    case TypeKind::Int: return Value{r};
    case TypeKind::Decimal:
    case TypeKind::Money: return Value{Decimal::from_units(r)};
    case TypeKind::Time: return Value{Value::Time{r}};
    case TypeKind::Duration: return Value{Value::Duration{r}};
    case TypeKind::Date: return Value{Value::Date{static_cast<int32_t>(r)}};
    case TypeKind::Bool: return Value{r != 0};
    default: return Value{r};
  }
}

bool is_scalar_slot(const Value& v) {
  return !v.is_none() && !std::holds_alternative<std::string>(v.v) &&
         !std::holds_alternative<std::shared_ptr<const Value::Collection>>(v.v);
}

// A comparison of two constants with the VM's operations; nullopt when widening an Int to
// meet a Decimal overflows (INT_TO_FIX faults).
std::optional<bool> compare(BinaryOp op, const Value& x, const Value& y) {
  int64_t c = 0;
  if (auto* sx = std::get_if<std::string>(&x.v); sx && std::holds_alternative<std::string>(y.v)) {
    const std::string& sy = std::get<std::string>(y.v);
    switch (op) {
      case BinaryOp::Eq: return *sx == sy;
      case BinaryOp::Ne: return *sx != sy;
      case BinaryOp::Lt: c = ops::str_lt(*sx, sy); break;
      case BinaryOp::Le: c = ops::str_le(*sx, sy); break;
      case BinaryOp::Gt: c = ops::str_lt(sy, *sx); break;
      case BinaryOp::Ge: c = ops::str_le(sy, *sx); break;
      default: return false;
    }
    return c != 0;
  }
  if (!is_scalar_slot(x) || !is_scalar_slot(y)) {  // absent values, collections: as values
    bool same = x == y;
    return op == BinaryOp::Ne ? !same : same;
  }
  int64_t a = slot(x), b = slot(y);
  bool dx = std::holds_alternative<Decimal>(x.v), dy = std::holds_alternative<Decimal>(y.v);
  if (dy && std::holds_alternative<int64_t>(x.v) && ops::int_to_fix(a, a) != ops::Fault::None) return std::nullopt;
  if (dx && std::holds_alternative<int64_t>(y.v) && ops::int_to_fix(b, b) != ops::Fault::None) return std::nullopt;
  switch (op) {
    case BinaryOp::Eq: c = ops::eq(a, b); break;
    case BinaryOp::Ne: c = ops::ne(a, b); break;
    case BinaryOp::Lt: c = ops::lt(a, b); break;
    case BinaryOp::Le: c = ops::le(a, b); break;
    case BinaryOp::Gt: c = ops::gt(a, b); break;
    case BinaryOp::Ge: c = ops::ge(a, b); break;
    default: break;
  }
  return c != 0;
}

// Whether comparing two constants is free of faults at run time: an Int compared with a
// Decimal is widened to a Decimal there, which fails (overflow) when the Int does not fit.
bool widens(const Value& a, const Value& b) {
  auto fits = [](const Value& v) {  // INT_TO_FIX does not fault
    auto* i = std::get_if<int64_t>(&v.v);
    int64_t r = 0;
    return !i || ops::int_to_fix(*i, r) == ops::Fault::None;
  };
  bool da = std::holds_alternative<Decimal>(a.v), db = std::holds_alternative<Decimal>(b.v);
  return !(da || db) || (fits(a) && fits(b));
}

namespace {
Result folded(Value v) {
  Result r;
  r.status = Status::Folded;
  r.value = std::move(v);
  return r;
}
Result fault(ops::Fault f) {
  Result r;
  r.status = Status::Fault;
  r.fault = f;
  return r;
}
}  // namespace

Result arith(const ArithOverload& o, const Value& x, const Value& y, const Type& out) {
  if (o.opcode == bytecode::Op::STR_CONCAT) return folded(Value{ops::concat(std::get<std::string>(x.v), std::get<std::string>(y.v))});
  int64_t a = slot(x), c = slot(y), r = 0;
  // Date +/- Duration: only whole days are folded; a part of a day is left to run time.
  if (o.opcode == bytecode::Op::DATE_ADD && (o.form == ArithOverload::Form::Swap ? a : c) % support::kMicrosPerDay != 0)
    return {};
  ops::Fault f = ops::Fault::None;
  switch (o.form) {
    case ArithOverload::Form::Plain: break;
    case ArithOverload::Form::WidenInts:  // INT_TO_FIX; the divisor first, so `x / 0` is a division by zero whatever x is
      if (o.right == TypeKind::Int && (f = ops::int_to_fix(c, c)) != ops::Fault::None) return fault(f);
      if (o.opcode == bytecode::Op::DIV_FIX && c == 0) return fault(ops::Fault::DivisionByZero);
      if (o.left == TypeKind::Int && (f = ops::int_to_fix(a, a)) != ops::Fault::None) return fault(f);
      break;
    case ArithOverload::Form::NegRight:
      if ((f = ops::neg(c, c)) != ops::Fault::None) return fault(f);
      break;
    case ArithOverload::Form::Swap: std::swap(a, c); break;
  }
  if ((f = ops::apply_arith(o.opcode, a, c, r)) != ops::Fault::None) return fault(f);
  return folded(of_slot(r, out));
}

Result builtin(const bytecode::OverloadInfo& o, const std::vector<const Value*>& a) {
  auto str = [&](size_t i) -> const std::string& { return std::get<std::string>(a[i]->v); };
  int64_t out = 0;
  switch (o.id) {
    case Overload::DaysOfDuration: return folded(Value{ops::days(std::get<Value::Duration>(a[0]->v).micros)});
    case Overload::DecimalOfMoney: return folded(Value{Decimal::from_units(ops::decimal_of_money(std::get<Decimal>(a[0]->v).units()))});
    case Overload::DecimalOfInt:
      if (auto f = ops::decimal_of_int(std::get<int64_t>(a[0]->v), out); f != ops::Fault::None) return fault(f);
      return folded(Value{Decimal::from_units(out)});
    case Overload::Contains: return folded(Value{ops::contains(str(0), str(1))});
    case Overload::StartsWith: return folded(Value{ops::starts_with(str(0), str(1))});
    case Overload::Lower: return folded(Value{ops::lower(str(0))});
    case Overload::Upper: return folded(Value{ops::upper(str(0))});
    default: return {};  // marked Fold in the table but not folded here: left to run time (a unit test keeps the two in step)
  }
}

}  // namespace crm::sema::fold
