// types.cc - printing and comparing semantic types and constants.
#include "compiler/sema/types.h"

#include <fmt/format.h>

#include "support/civil_time.h"

namespace crm::sema {

bool Type::is_orderable() const {
  switch (kind) {
    case TypeKind::Int: case TypeKind::Decimal: case TypeKind::Money: case TypeKind::Time:
    case TypeKind::Date: case TypeKind::Duration: case TypeKind::String:
      return true;
    default:
      return false;
  }
}

bool Type::same_base(const Type& o) const {
  if (kind != o.kind) return false;
  switch (kind) {
    case TypeKind::Money: return currency == o.currency;
    case TypeKind::Enum: return enum_info == o.enum_info;
    case TypeKind::Record: return record == o.record;
    case TypeKind::Set: case TypeKind::List: return elem && o.elem && elem->same_base(*o.elem);
    default: return true;
  }
}

std::string Type::to_string() const {
  std::string s;
  switch (kind) {
    case TypeKind::Error: s = "<error>"; break;
    case TypeKind::Bool: s = "Bool"; break;
    case TypeKind::Int: s = "Int"; break;
    case TypeKind::Decimal: s = "Decimal"; break;
    case TypeKind::Money: s = "Money(" + currency + ")"; break;
    case TypeKind::String: s = "String"; break;
    case TypeKind::Time: s = "Time"; break;
    case TypeKind::Date: s = "Date"; break;
    case TypeKind::Duration: s = "Duration"; break;
    case TypeKind::Enum: s = enum_info ? enum_info->name : "<enum>"; break;
    case TypeKind::Set: s = "Set<" + (elem ? elem->to_string() : "?") + ">"; break;
    case TypeKind::List: s = "List<" + (elem ? elem->to_string() : "?") + ">"; break;
    case TypeKind::Record: s = record ? record->name : "<record>"; break;
  }
  return optional ? s + "?" : s;
}

std::string Value::to_string(const Type& t) const {
  return std::visit(
      [&](const auto& x) -> std::string {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::monostate>) return "none";
        else if constexpr (std::is_same_v<X, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<X, int64_t>) return std::to_string(x);
        else if constexpr (std::is_same_v<X, support::Decimal>)
          return t.kind == TypeKind::Money ? x.to_string() + " " + t.currency : x.to_string();
        else if constexpr (std::is_same_v<X, std::string>) return "\"" + x + "\"";
        else if constexpr (std::is_same_v<X, Time>) return support::format_time(x.micros);
        else if constexpr (std::is_same_v<X, Date>) return support::format_date(x.days);
        else if constexpr (std::is_same_v<X, Duration>) return support::format_duration(x.micros);
        else if constexpr (std::is_same_v<X, EnumVal>) return x.e ? x.e->values[x.index] : "?";
        else {
          std::string s = t.kind == TypeKind::List ? "[" : "{";
          Type et = t.elem ? *t.elem : Type{};
          for (size_t i = 0; i < x->elems.size(); ++i) s += (i ? ", " : "") + x->elems[i].to_string(et);
          return s + (t.kind == TypeKind::List ? "]" : "}");
        }
      },
      v);
}

int compare_values(const Value& a, const Value& b) {
  auto cmp = [](auto x, auto y) { return x < y ? -1 : (y < x ? 1 : 0); };
  // Int against Decimal exactly: an Int too large for a Decimal lies beyond every Decimal.
  auto int_dec = [&](int64_t x, support::Decimal y) {
    if (auto d = support::Decimal::from_int(x)) return cmp(*d, y);
    return x < 0 ? -1 : 1;
  };
  if (auto* x = std::get_if<int64_t>(&a.v)) {
    if (auto* y = std::get_if<int64_t>(&b.v)) return cmp(*x, *y);
    if (auto* y = std::get_if<support::Decimal>(&b.v)) return int_dec(*x, *y);
  }
  if (auto* x = std::get_if<support::Decimal>(&a.v)) {
    if (auto* y = std::get_if<support::Decimal>(&b.v)) return cmp(*x, *y);
    if (auto* y = std::get_if<int64_t>(&b.v)) return -int_dec(*y, *x);
  }
  if (auto* x = std::get_if<Value::Time>(&a.v)) if (auto* y = std::get_if<Value::Time>(&b.v)) return cmp(x->micros, y->micros);
  if (auto* x = std::get_if<Value::Date>(&a.v)) if (auto* y = std::get_if<Value::Date>(&b.v)) return cmp(x->days, y->days);
  if (auto* x = std::get_if<Value::Duration>(&a.v)) if (auto* y = std::get_if<Value::Duration>(&b.v)) return cmp(x->micros, y->micros);
  if (auto* x = std::get_if<std::string>(&a.v)) if (auto* y = std::get_if<std::string>(&b.v)) return x->compare(*y) < 0 ? -1 : (*x == *y ? 0 : 1);
  if (auto* x = std::get_if<bool>(&a.v)) if (auto* y = std::get_if<bool>(&b.v)) return cmp(*x, *y);
  if (auto* x = std::get_if<Value::EnumVal>(&a.v)) if (auto* y = std::get_if<Value::EnumVal>(&b.v)) return cmp(x->index, y->index);
  return 0;
}

bool Value::operator==(const Value& o) const {
  if (v.index() != o.v.index()) {
    bool num_a = std::holds_alternative<int64_t>(v) || std::holds_alternative<support::Decimal>(v);
    bool num_b = std::holds_alternative<int64_t>(o.v) || std::holds_alternative<support::Decimal>(o.v);
    return num_a && num_b && compare_values(*this, o) == 0;
  }
  if (auto* x = std::get_if<std::shared_ptr<const Collection>>(&v)) {
    auto& y = std::get<std::shared_ptr<const Collection>>(o.v);
    return (*x)->elems == y->elems;
  }
  return compare_values(*this, o) == 0;
}

}  // namespace crm::sema
