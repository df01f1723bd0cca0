// constraints.cc - reading conditions as constraints on quantities (see constraints.h).
#include "compiler/analysis/constraints.h"

#include <fmt/format.h>

#include <algorithm>

#include "support/civil_time.h"
#include "support/decimal.h"

namespace crm::analysis {

using namespace crm::ast;
using sema::TypeKind;
using sema::Value;

namespace {

// A constant as a term of type `t` stores it; nullopt when it is not a comparable scalar.
std::optional<int64_t> number(const Value& v, const sema::Type& t) {
  bool fixed = t.kind == TypeKind::Decimal || t.kind == TypeKind::Money;
  if (auto* i = std::get_if<int64_t>(&v.v)) {
    if (!fixed) return *i;
    __int128 scaled = static_cast<__int128>(*i) * support::Decimal::kScale;
    if (scaled < kNoLow || scaled > kNoHigh) return std::nullopt;
    return static_cast<int64_t>(scaled);
  }
  if (auto* d = std::get_if<support::Decimal>(&v.v)) return fixed ? std::optional<int64_t>(d->units()) : std::nullopt;
  if (auto* b = std::get_if<bool>(&v.v)) return *b ? 1 : 0;
  if (auto* x = std::get_if<Value::Time>(&v.v)) return x->micros;
  if (auto* x = std::get_if<Value::Date>(&v.v)) return x->days;
  if (auto* x = std::get_if<Value::Duration>(&v.v)) return x->micros;
  if (auto* e = std::get_if<Value::EnumVal>(&v.v)) return e->index;
  return std::nullopt;
}

template <class T>
void intersect(std::optional<std::set<T>>& into, const std::optional<std::set<T>>& other) {
  if (!other) return;
  if (!into) {
    into = other;
    return;
  }
  std::set<T> both;
  for (const auto& v : *other) if (into->count(v)) both.insert(v);
  into = std::move(both);
}

// Builtins that give the same result for the same arguments wherever they are evaluated (not
// `now()`/`today()`, nor the date functions, which read the strategy's zone).
bool pure_builtin(const std::string& name) {
  static const std::set<std::string> kPure = {"hash_bucket", "lower", "upper", "len", "abs", "decimal", "days"};
  return kPure.count(name) > 0;
}

}  // namespace

void Range::meet(const Range& o) {
  lo = std::max(lo, o.lo);
  hi = std::min(hi, o.hi);
  intersect(allowed, o.allowed);
  excluded.insert(o.excluded.begin(), o.excluded.end());
  intersect(allowed_text, o.allowed_text);
  excluded_text.insert(o.excluded_text.begin(), o.excluded_text.end());
}

std::string show(const Term& t, int64_t v) {
  switch (t.type.kind) {
    case TypeKind::Bool: return v ? "true" : "false";
    case TypeKind::Decimal: return support::Decimal::from_units(v).to_string();
    case TypeKind::Money: return support::Decimal::from_units(v).to_string() + " " + t.type.currency;
    case TypeKind::Enum:
      return t.type.enum_info && v >= 0 && size_t(v) < t.type.enum_info->values.size() ? t.type.enum_info->values[v]
                                                                                        : std::to_string(v);
    case TypeKind::Time: return support::format_time(v);
    case TypeKind::Date: return support::format_date(static_cast<int32_t>(v));
    case TypeKind::Duration: return support::format_duration(v);
    default: return std::to_string(v);
  }
}

std::optional<std::string> example(const Term& t, const Range& r) {
  if (t.text()) {
    if (!r.allowed_text) return r.excluded_text.empty() ? "" : fmt::format("{} not \"{}\"", t.name, *r.excluded_text.begin());
    for (const auto& s : *r.allowed_text)
      if (!r.excluded_text.count(s)) return fmt::format("{} = \"{}\"", t.name, s);
    return std::nullopt;
  }
  int64_t lo = std::max({r.lo, t.lo}), hi = std::min({r.hi, t.hi});
  if (lo > hi) return std::nullopt;
  if (r.allowed) {
    for (int64_t v : *r.allowed)
      if (v >= lo && v <= hi && !r.excluded.count(v)) return fmt::format("{} = {}", t.name, show(t, v));
    return std::nullopt;
  }
  if (r.lo == kNoLow && r.hi == kNoHigh && r.excluded.empty()) return "";  // unconstrained: no witness needed
  // An interval minus finitely many points: walk from a bound (or from 0 when unbounded) past
  // the excluded values. Only an interval no wider than the exclusions can be empty.
  bool down = lo == kNoLow && hi != kNoHigh;
  int64_t v = lo != kNoLow ? lo : (hi != kNoHigh ? hi : 0);
  for (int tries = 0; tries <= 64; ++tries) {
    if (v < lo || v > hi) return std::nullopt;
    if (!r.excluded.count(v)) return fmt::format("{} = {}", t.name, show(t, v));
    if ((down && v == kNoLow) || (!down && v == kNoHigh)) return std::nullopt;
    v += down ? -1 : 1;
  }
  return "";  // more exclusions than we try: assume a value remains
}

// ---- extraction --------------------------------------------------------------------------------

const sema::FieldInfo* ConstraintExtractor::field(const Expr* e) const {
  if (!e) return nullptr;
  if (e->kind == ExprKind::Name) {
    const auto& ref = p_.refs[e->id];
    auto* f = ref.field;
    if (ref.kind == sema::Ref::Kind::ProfileField) return f;
    if (ref.kind == sema::Ref::Kind::EventField) {
      // An event's built-in `user` is the user being decided: the profile's `user`.
      if (f && f->name == "user") return p_.profile.find("user");
      if (event_fields_) return f;
    }
  }
  if (e->kind == ExprKind::Field) {
    auto* f = static_cast<const FieldExpr*>(e);
    if (f->base && f->base->kind == ExprKind::Name && static_cast<const NameExpr*>(f->base)->name == "profile")
      return p_.profile.find(f->field);
  }
  return nullptr;
}

// A structural identity for an expression whose value depends only on the user (and, with
// event fields, the event): equal keys, equal values.
std::optional<std::string> ConstraintExtractor::key(const Expr* e, int depth) const {
  if (!e || depth > 16) return std::nullopt;
  if (const Value* v = p_.const_of(e)) {
    const sema::Type& t = p_.type_of(e);
    return "c:" + t.to_string() + ":" + v->to_string(t);
  }
  if (const sema::FieldInfo* f = field(e)) return fmt::format("f:{:016x}", reinterpret_cast<uintptr_t>(f));
  if (e->kind == ExprKind::Call) {
    auto* c = static_cast<const CallExpr*>(e);
    if (p_.refs[e->id].kind == sema::Ref::Kind::Function || !pure_builtin(c->callee)) return std::nullopt;
    std::string k = c->callee + "(";
    for (const Arg& a : c->args) {
      auto ak = key(a.value, depth + 1);
      if (!ak) return std::nullopt;
      k += a.name + "=" + *ak + ",";
    }
    return k + ")";
  }
  if (e->kind == ExprKind::Unary) {
    auto* u = static_cast<const UnaryExpr*>(e);
    auto k = u->op == UnaryOp::Neg ? key(u->operand, depth + 1) : std::nullopt;
    return k ? std::optional<std::string>("-(" + *k + ")") : std::nullopt;
  }
  if (e->kind == ExprKind::Binary) {
    auto* b = static_cast<const BinaryExpr*>(e);
    switch (b->op) {
      case BinaryOp::Add: case BinaryOp::Sub: case BinaryOp::Mul: case BinaryOp::Div: case BinaryOp::Coalesce: {
        auto l = key(b->lhs, depth + 1), r = key(b->rhs, depth + 1);
        if (!l || !r) return std::nullopt;
        return fmt::format("({} {} {})", *l, to_string(b->op), *r);
      }
      default: return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<Term> ConstraintExtractor::term(const Expr* e) const {
  if (!e) return std::nullopt;
  if (event_fields_) {  // one strategy, one decision: now() and the event's `time` are its instant
    if (e->kind == ExprKind::Call && static_cast<const CallExpr*>(e)->callee == "now" &&
        static_cast<const CallExpr*>(e)->args.empty() && p_.refs[e->id].kind != sema::Ref::Kind::Function)
      return now_term();
    if (e->kind == ExprKind::Name && p_.refs[e->id].kind == sema::Ref::Kind::EventField &&
        p_.refs[e->id].field->name == "time")
      return now_term();
  }
  if (const sema::FieldInfo* f = field(e)) {
    Term t{*key(e, 0), f->name, f->type};
    if (!f->type.optional) {
      if (f->type.kind == TypeKind::Bool) t.lo = 0, t.hi = 1;
      if (f->type.kind == TypeKind::Enum && f->type.enum_info && !f->type.enum_info->values.empty())
        t.lo = 0, t.hi = static_cast<int64_t>(f->type.enum_info->values.size()) - 1;
    }
    return t;
  }
  // hash_bucket(x, n) with a constant n > 0 is a value in 0..n-1 (the runtime's contract).
  if (e->kind == ExprKind::Call) {
    auto* c = static_cast<const CallExpr*>(e);
    if (c->callee != "hash_bucket" || p_.refs[e->id].kind == sema::Ref::Kind::Function || c->args.size() != 2)
      return std::nullopt;
    const Expr* x = nullptr;
    const Expr* n = nullptr;
    for (size_t i = 0; i < 2; ++i) {
      const Arg& a = c->args[i];
      bool is_count = a.name.empty() ? i == 1 : a.name != "key";
      (is_count ? n : x) = a.value;
    }
    const Value* nv = p_.const_of(n);
    auto* count = nv ? std::get_if<int64_t>(&nv->v) : nullptr;
    auto k = key(x, 1);
    if (!count || *count <= 0 || !k) return std::nullopt;
    const auto& file = p_.sources.file(e->span.file);
    std::string name(file.text().substr(e->span.begin, e->span.end - e->span.begin));
    Term t{fmt::format("hash_bucket({},{})", *k, *count), name, sema::Type::of(TypeKind::Int)};
    t.lo = 0;
    t.hi = *count - 1;
    return t;
  }
  return std::nullopt;
}

void ConstraintExtractor::narrow(const Term& t, const Range& r, source::Span span, Constraints& out,
                                 std::string label) {
  Constraint& c = out[t.key];
  if (c.atoms.empty()) c.term = t;
  c.range.meet(r);
  c.atoms.push_back({r, span, std::move(label)});
}

Term ConstraintExtractor::now_term() { return Term{"now()", "now()", sema::Type::of(TypeKind::Time)}; }

void ConstraintExtractor::compare(const Term& t, BinaryOp op, const Value& v, source::Span span, Constraints& out) {
  Range r;
  if (t.text()) {
    auto* s = std::get_if<std::string>(&v.v);
    if (!s) return;
    if (op == BinaryOp::Eq) r.allowed_text = std::set<std::string>{*s};
    else if (op == BinaryOp::Ne) r.excluded_text.insert(*s);
    else return;
    narrow(t, r, span, out);
    return;
  }
  auto n = number(v, t.type);
  if (!n) return;
  switch (op) {
    case BinaryOp::Eq: r.allowed = std::set<int64_t>{*n}; break;
    case BinaryOp::Ne: r.excluded.insert(*n); break;
    case BinaryOp::Lt: if (*n == kNoLow) return; r.hi = *n - 1; break;
    case BinaryOp::Le: r.hi = *n; break;
    case BinaryOp::Gt: if (*n == kNoHigh) return; r.lo = *n + 1; break;
    case BinaryOp::Ge: r.lo = *n; break;
    default: return;
  }
  narrow(t, r, span, out);
}

// `x < x`, `x > x`, `x != x` (or `not (x == x)`): a value compared with itself, which no user
// satisfies. It is never true rather than always false: where reading x fails (a required field
// the user has no value for) the condition is an error, so the checker cannot fold it, but no
// user is selected either way. The always-true forms say nothing about the value.
bool ConstraintExtractor::self_comparison(const BinaryExpr* b, bool negated, source::Span span, Constraints& out) {
  BinaryOp op = b->op;
  if (negated) {
    switch (op) {
      case BinaryOp::Eq: op = BinaryOp::Ne; break;
      case BinaryOp::Le: op = BinaryOp::Gt; break;
      case BinaryOp::Ge: op = BinaryOp::Lt; break;
      default: return false;  // `not (x < x)` is true wherever x has a value
    }
  }
  if (op != BinaryOp::Ne && op != BinaryOp::Lt && op != BinaryOp::Gt) return false;
  if (p_.const_of(b->lhs) || p_.const_of(b->rhs)) return false;
  auto k = key(b->lhs, 0);
  if (!k || k != key(b->rhs, 0)) return false;
  std::optional<Term> t = term(b->lhs);
  if (!t) {
    const auto& file = p_.sources.file(b->lhs->span.file);
    t = Term{*k, std::string(file.text().substr(b->lhs->span.begin, b->lhs->span.end - b->lhs->span.begin)),
             p_.type_of(b->lhs)};
  }
  Range none;
  if (t->text()) none.allowed_text = std::set<std::string>{};
  else none.allowed = std::set<int64_t>{};
  narrow(*t, none, span, out);
  out[t->key].atoms.back().self = true;
  return true;
}

void ConstraintExtractor::add(const Expr* e, Constraints& out) {
  depth_ = 0;
  walk_span_ = {};
  walk(e, false, out);
}

void ConstraintExtractor::walk(const Expr* e, bool negated, Constraints& out) {
  if (!e || ++depth_ > 200) return;
  // A comparison under `not` is shown as the `not` that negates it.
  source::Span shown = negated && walk_span_.valid() ? walk_span_ : e->span;
  switch (e->kind) {
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      if (b->op == BinaryOp::And && !negated) {
        walk(b->lhs, false, out);
        walk(b->rhs, false, out);
        return;
      }
      if (b->op == BinaryOp::Or && negated) {  // not (a or b) = not a and not b
        walk(b->lhs, true, out);
        walk(b->rhs, true, out);
        return;
      }
      BinaryOp op = b->op;
      const Expr* lhs = b->lhs;
      const Expr* rhs = b->rhs;
      if (self_comparison(b, negated, shown, out)) return;
      std::optional<Term> t = term(lhs);
      if (!t && op != BinaryOp::In && op != BinaryOp::NotIn) {
        t = term(rhs);
        std::swap(lhs, rhs);
        if (op == BinaryOp::Lt) op = BinaryOp::Gt;
        else if (op == BinaryOp::Le) op = BinaryOp::Ge;
        else if (op == BinaryOp::Gt) op = BinaryOp::Lt;
        else if (op == BinaryOp::Ge) op = BinaryOp::Le;
      }
      const Value* v = p_.const_of(rhs);
      if (!t || !v) return;
      if (negated) {
        switch (op) {
          case BinaryOp::Eq: op = BinaryOp::Ne; break;
          case BinaryOp::Ne: op = BinaryOp::Eq; break;
          case BinaryOp::Lt: op = BinaryOp::Ge; break;
          case BinaryOp::Le: op = BinaryOp::Gt; break;
          case BinaryOp::Gt: op = BinaryOp::Le; break;
          case BinaryOp::Ge: op = BinaryOp::Lt; break;
          case BinaryOp::In: op = BinaryOp::NotIn; break;
          case BinaryOp::NotIn: op = BinaryOp::In; break;
          default: return;
        }
      }
      if (op == BinaryOp::In || op == BinaryOp::NotIn) {
        auto* col = std::get_if<std::shared_ptr<const Value::Collection>>(&v->v);
        if (!col || !*col) return;
        Range r;
        if (t->text()) {
          std::set<std::string> values;
          for (const auto& el : (*col)->elems)
            if (auto* s = std::get_if<std::string>(&el.v)) values.insert(*s);
          if (op == BinaryOp::NotIn) r.excluded_text = std::move(values);
          else r.allowed_text = std::move(values);
        } else {
          std::set<int64_t> values;
          for (const auto& el : (*col)->elems) {
            auto n = number(el, t->type);
            if (!n) return;  // an element we cannot encode: no claim about the set
            values.insert(*n);
          }
          if (op == BinaryOp::NotIn) r.excluded = std::move(values);
          else r.allowed = std::move(values);
        }
        narrow(*t, r, shown, out);
        return;
      }
      compare(*t, op, *v, shown, out);
      return;
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      if (b->negated != negated) return;  // "outside a range" is not a single interval
      std::optional<Term> t = term(b->value);
      const Value* lo = p_.const_of(b->lo);
      const Value* hi = p_.const_of(b->hi);
      if (!t || !lo || !hi || t->text()) return;
      auto l = number(*lo, t->type), h = number(*hi, t->type);
      if (!l || !h || *l > *h) return;  // reversed bounds are W0101 already
      Range r;
      r.lo = *l;
      r.hi = *h;
      narrow(*t, r, shown, out);
      return;
    }
    case ExprKind::Unary: {
      auto* u = static_cast<const UnaryExpr*>(e);
      if (u->op != UnaryOp::Not) return;
      source::Span saved = walk_span_;
      if (!negated) walk_span_ = e->span;  // the outermost `not` in effect
      walk(u->operand, !negated, out);
      walk_span_ = saved;
      return;
    }
    case ExprKind::Name: {
      const auto& ref = p_.refs[e->id];
      if (ref.kind == sema::Ref::Kind::Segment) {
        walk(ref.segment()->value, negated, out);
        return;
      }
      if (std::optional<Term> t = term(e); t && t->type.kind == TypeKind::Bool && !t->type.optional)
        compare(*t, BinaryOp::Eq, Value{!negated}, shown, out);
      return;
    }
    default:
      return;
  }
}

// ---- reasoning ---------------------------------------------------------------------------------

bool may_overlap(const Constraints& a, const Constraints& b, std::vector<std::string>& witness) {
  auto ia = a.begin(), ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    std::optional<std::string> w;
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      w = example(ia->second.term, ia->second.range);
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      w = example(ib->second.term, ib->second.range);
      ++ib;
    } else {
      Range both = ia->second.range;
      both.meet(ib->second.range);
      w = example(ia->second.term, both);
      ++ia;
      ++ib;
    }
    if (!w) return false;
    if (!w->empty()) witness.push_back(*w);
  }
  return true;
}

std::optional<Contradiction> find_contradiction(const Constraints& all) {
  std::optional<Contradiction> best;
  auto before = [](source::Span x, source::Span y) {
    return x.file != y.file ? x.file < y.file : x.begin < y.begin;
  };
  for (const auto& [k, c] : all) {
    if (example(c.term, c.range)) continue;
    Contradiction found{&c, nullptr, {}};
    for (const auto& a : c.atoms)
      if (!example(c.term, a.range)) {
        found.last = &a;  // never true on its own
        break;
      }
    if (!found.last) {
      Range acc;
      for (size_t i = 0; i < c.atoms.size() && !found.last; ++i) {
        acc.meet(c.atoms[i].range);
        if (example(c.term, acc)) continue;
        found.last = &c.atoms[i];
        for (size_t j = 0; j < i; ++j) {
          Range two = c.atoms[j].range;
          two.meet(c.atoms[i].range);
          if (!example(c.term, two)) {
            found.earlier = {&c.atoms[j]};
            break;
          }
        }
        if (found.earlier.empty())
          for (size_t j = 0; j < i; ++j) found.earlier.push_back(&c.atoms[j]);
      }
    }
    if (!found.last) continue;  // cannot happen: the met range is empty
    if (!best || before(found.last->span, best->last->span)) best = found;
  }
  return best;
}

}  // namespace crm::analysis
