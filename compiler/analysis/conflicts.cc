// conflicts.cc - overlapping strategies within one business (see conflicts.h).
#include "compiler/analysis/conflicts.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "support/civil_time.h"
#include "support/decimal.h"

namespace crm::analysis {
namespace {

using namespace crm::ast;
using sema::TypeKind;
using sema::Value;

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// What one strategy requires of one profile field.
struct Constraint {
  const sema::FieldInfo* field = nullptr;
  int64_t lo = kMin, hi = kMax;                 // inclusive, numeric encoding
  std::optional<std::set<int64_t>> allowed;     // numeric, enum and bool values
  std::set<int64_t> excluded;
  std::optional<std::set<std::string>> allowed_text;  // strings
  std::set<std::string> excluded_text;
};

using Constraints = std::map<const sema::FieldInfo*, Constraint>;

bool is_text(const sema::FieldInfo* f) { return f->type.kind == TypeKind::String; }

// A constant as the field stores it: Decimal/Money in millionths, enums by index, times in
// microseconds. Nullopt when it is not a scalar of a comparable kind.
std::optional<int64_t> number(const Value& v, const sema::FieldInfo* f) {
  bool fixed = f->type.kind == TypeKind::Decimal || f->type.kind == TypeKind::Money;
  if (auto* i = std::get_if<int64_t>(&v.v)) return fixed ? *i * support::Decimal::kScale : *i;
  if (auto* d = std::get_if<support::Decimal>(&v.v)) return fixed ? std::optional<int64_t>(d->units()) : std::nullopt;
  if (auto* b = std::get_if<bool>(&v.v)) return *b ? 1 : 0;
  if (auto* t = std::get_if<Value::Time>(&v.v)) return t->micros;
  if (auto* d = std::get_if<Value::Date>(&v.v)) return d->days;
  if (auto* d = std::get_if<Value::Duration>(&v.v)) return d->micros;
  if (auto* e = std::get_if<Value::EnumVal>(&v.v)) return e->index;
  return std::nullopt;
}

class Extractor {
 public:
  explicit Extractor(const sema::Program& p) : p_(p) {}

  Constraints of(const Expr* e) {
    Constraints c;
    depth_ = 0;
    walk(e, false, c);
    return c;
  }

 private:
  const sema::FieldInfo* profile_field(const Expr* e) const {
    if (!e) return nullptr;
    if (e->kind == ExprKind::Name && p_.refs[e->id].kind == sema::Ref::Kind::ProfileField)
      return static_cast<const sema::FieldInfo*>(p_.refs[e->id].target);
    if (e->kind == ExprKind::Field) {
      auto* f = static_cast<const FieldExpr*>(e);
      if (f->base && f->base->kind == ExprKind::Name && static_cast<const NameExpr*>(f->base)->name == "profile")
        return p_.profile.find(f->field);
    }
    return nullptr;
  }

  void compare(const sema::FieldInfo* f, BinaryOp op, const Value& v, Constraints& out) {
    Constraint& c = out[f];
    c.field = f;
    if (is_text(f)) {
      auto* s = std::get_if<std::string>(&v.v);
      if (!s) return;
      if (op == BinaryOp::Eq) {
        std::set<std::string> one{*s};
        if (c.allowed_text) {
          std::set<std::string> both;
          if (c.allowed_text->count(*s)) both.insert(*s);
          c.allowed_text = both;
        } else {
          c.allowed_text = one;
        }
      } else if (op == BinaryOp::Ne) {
        c.excluded_text.insert(*s);
      }
      return;
    }
    auto n = number(v, f);
    if (!n) return;
    switch (op) {
      case BinaryOp::Eq: restrict(c, std::set<int64_t>{*n}); break;
      case BinaryOp::Ne: c.excluded.insert(*n); break;
      case BinaryOp::Lt: if (*n != kMin) c.hi = std::min(c.hi, *n - 1); break;
      case BinaryOp::Le: c.hi = std::min(c.hi, *n); break;
      case BinaryOp::Gt: if (*n != kMax) c.lo = std::max(c.lo, *n + 1); break;
      case BinaryOp::Ge: c.lo = std::max(c.lo, *n); break;
      default: break;
    }
  }

  static void restrict(Constraint& c, std::set<int64_t> values) {
    if (!c.allowed) {
      c.allowed = std::move(values);
      return;
    }
    std::set<int64_t> both;
    for (int64_t v : values) if (c.allowed->count(v)) both.insert(v);
    c.allowed = both;
  }

  void walk(const Expr* e, bool negated, Constraints& out) {
    if (!e || ++depth_ > 200) return;
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
        const sema::FieldInfo* f = profile_field(lhs);
        if (!f && op != BinaryOp::In && op != BinaryOp::NotIn) {
          f = profile_field(rhs);
          std::swap(lhs, rhs);
          if (op == BinaryOp::Lt) op = BinaryOp::Gt;
          else if (op == BinaryOp::Le) op = BinaryOp::Ge;
          else if (op == BinaryOp::Gt) op = BinaryOp::Lt;
          else if (op == BinaryOp::Ge) op = BinaryOp::Le;
        }
        const Value* v = p_.const_of(rhs);
        if (!f || !v) return;
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
          if (!col) return;
          Constraint& c = out[f];
          c.field = f;
          if (is_text(f)) {
            std::set<std::string> values;
            for (const auto& el : (*col)->elems)
              if (auto* s = std::get_if<std::string>(&el.v)) values.insert(*s);
            if (op == BinaryOp::NotIn) {
              c.excluded_text.insert(values.begin(), values.end());
            } else if (c.allowed_text) {
              std::set<std::string> both;
              for (const auto& s : values) if (c.allowed_text->count(s)) both.insert(s);
              c.allowed_text = both;
            } else {
              c.allowed_text = values;
            }
            return;
          }
          std::set<int64_t> values;
          for (const auto& el : (*col)->elems)
            if (auto n = number(el, f)) values.insert(*n);
          if (op == BinaryOp::NotIn) c.excluded.insert(values.begin(), values.end());
          else restrict(c, values);
          return;
        }
        compare(f, op, *v, out);
        return;
      }
      case ExprKind::Between: {
        auto* b = static_cast<const BetweenExpr*>(e);
        if (b->negated != negated) return;  // "outside a range" is not a single interval
        const sema::FieldInfo* f = profile_field(b->value);
        const Value* lo = p_.const_of(b->lo);
        const Value* hi = p_.const_of(b->hi);
        if (!f || !lo || !hi || is_text(f)) return;
        compare(f, BinaryOp::Ge, *lo, out);
        compare(f, BinaryOp::Le, *hi, out);
        return;
      }
      case ExprKind::Unary: {
        auto* u = static_cast<const UnaryExpr*>(e);
        if (u->op == UnaryOp::Not) walk(u->operand, !negated, out);
        return;
      }
      case ExprKind::Name: {
        const auto& ref = p_.refs[e->id];
        if (ref.kind == sema::Ref::Kind::Segment) {
          walk(static_cast<const SegmentDecl*>(ref.target)->value, negated, out);
          return;
        }
        if (const sema::FieldInfo* f = profile_field(e); f && f->type.kind == TypeKind::Bool)
          compare(f, BinaryOp::Eq, Value{!negated}, out);
        return;
      }
      default:
        return;
    }
  }

  const sema::Program& p_;
  int depth_ = 0;
};

// Combines two strategies' constraints on one field; false when no value satisfies both.
bool satisfiable(const Constraint& a, const Constraint& b, std::string& witness) {
  const sema::FieldInfo* f = a.field;
  if (is_text(f)) {
    std::set<std::string> excluded = a.excluded_text;
    excluded.insert(b.excluded_text.begin(), b.excluded_text.end());
    std::optional<std::set<std::string>> allowed = a.allowed_text;
    if (b.allowed_text) {
      if (!allowed) allowed = b.allowed_text;
      else {
        std::set<std::string> both;
        for (const auto& s : *b.allowed_text) if (allowed->count(s)) both.insert(s);
        allowed = both;
      }
    }
    if (!allowed) {
      if (!excluded.empty()) witness = fmt::format("{} not \"{}\"", f->name, *excluded.begin());
      return true;
    }
    for (const auto& s : *allowed)
      if (!excluded.count(s)) {
        witness = fmt::format("{} = \"{}\"", f->name, s);
        return true;
      }
    return false;
  }
  int64_t lo = std::max(a.lo, b.lo), hi = std::min(a.hi, b.hi);
  if (lo > hi) return false;
  std::set<int64_t> excluded = a.excluded;
  excluded.insert(b.excluded.begin(), b.excluded.end());
  std::optional<std::set<int64_t>> allowed = a.allowed;
  if (b.allowed) {
    if (!allowed) allowed = b.allowed;
    else {
      std::set<int64_t> both;
      for (int64_t v : *b.allowed) if (allowed->count(v)) both.insert(v);
      allowed = both;
    }
  }
  auto show = [&](int64_t v) -> std::string {
    switch (f->type.kind) {
      case TypeKind::Bool: return v ? "true" : "false";
      case TypeKind::Decimal: return support::Decimal::from_units(v).to_string();
      case TypeKind::Money: return support::Decimal::from_units(v).to_string() + " " + f->type.currency;
      case TypeKind::Enum:
        return f->type.enum_info && v >= 0 && size_t(v) < f->type.enum_info->values.size() ? f->type.enum_info->values[v]
                                                                                            : std::to_string(v);
      case TypeKind::Time: return support::format_time(v);
      case TypeKind::Date: return support::format_date(static_cast<int32_t>(v));
      case TypeKind::Duration: return support::format_duration(v);
      default: return std::to_string(v);
    }
  };
  if (allowed) {
    for (int64_t v : *allowed)
      if (v >= lo && v <= hi && !excluded.count(v)) {
        witness = fmt::format("{} = {}", f->name, show(v));
        return true;
      }
    return false;
  }
  // An interval minus finitely many points: walk from a bound (or from 0 when unbounded) past
  // the excluded values. Only an interval no wider than the exclusions can be empty.
  if (lo == kMin && hi == kMax && excluded.empty()) return true;  // unconstrained: no witness needed
  bool down = lo == kMin && hi != kMax;
  int64_t v = lo != kMin ? lo : (hi != kMax ? hi : 0);
  for (int tries = 0; tries <= 64; ++tries) {
    if (v < lo || v > hi) return false;
    if (!excluded.count(v)) {
      witness = fmt::format("{} = {}", f->name, show(v));
      return true;
    }
    if ((down && v == kMin) || (!down && v == kMax)) return false;
    v += down ? -1 : 1;
  }
  return true;  // more exclusions than we try: assume a value remains
}

struct Window {
  int64_t from = kMin, to = kMax;  // [from, to)
};

Window window_of(const StrategyDecl* s, const sema::Program& p) {
  Window w;
  for (const Clause* c : s->clauses) {
    if (c->kind != ClauseKind::When) continue;
    auto time_of = [&](const Expr* e, int64_t fallback) {
      const Value* v = p.const_of(e);
      auto* t = v ? std::get_if<Value::Time>(&v->v) : nullptr;
      return t ? t->micros : fallback;
    };
    if (c->trigger == TriggerKind::At) {
      w.from = time_of(c->at, kMin);
      w.to = w.from == kMin ? kMax : w.from + 1;
    }
    if (c->from) {
      w.from = std::max(w.from, time_of(c->from, kMin));
      w.to = std::min(w.to, time_of(c->to, kMax));
    }
  }
  return w;
}

}  // namespace

std::vector<Conflict> check_strategy_conflicts(const sema::Program& p, diag::DiagnosticSink& sink) {
  std::vector<Conflict> found;
  struct Info {
    const StrategyDecl* decl;
    Window window;
    bool has_priority = false;
    std::string priority;
    std::string exclusive;
    Constraints who;
  };
  std::map<std::string, std::vector<Info>> by_business;
  Extractor extract(p);
  for (const auto& m : p.modules) {
    if (m.is_std) continue;
    for (const Decl* d : m.ast->decls) {
      if (d->kind != DeclKind::Strategy) continue;
      auto* s = static_cast<const StrategyDecl*>(d);
      if (!s->has_business) continue;  // the rule is per business
      Info info{s, window_of(s, p), false, "", "", {}};
      for (const Clause* c : s->clauses) {
        if (c->kind == ClauseKind::Priority) { info.has_priority = true; info.priority = c->number; }
        if (c->kind == ClauseKind::Exclusive) info.exclusive = c->number;
        if (c->kind == ClauseKind::Who) info.who = extract.of(c->expr);
      }
      by_business[s->business].push_back(std::move(info));
    }
  }
  constexpr size_t kMaxPairs = 2'000'000;  // keeps `crm check` fast on generated catalogues
  size_t pairs = 0;
  for (const auto& [business, list] : by_business) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        if (++pairs > kMaxPairs) return found;
        const Info& a = list[i];
        const Info& b = list[j];
        if (a.has_priority && b.has_priority && a.priority != b.priority) continue;  // declared winner
        if (!a.exclusive.empty() && a.exclusive == b.exclusive) continue;  // the runtime keeps them apart
        if (!(a.window.from < b.window.to && b.window.from < a.window.to)) continue;
        bool disjoint = false;
        std::vector<std::string> witness;
        std::set<const sema::FieldInfo*> fields;
        for (auto& [f, c] : a.who) fields.insert(f);
        for (auto& [f, c] : b.who) fields.insert(f);
        for (const sema::FieldInfo* f : fields) {
          Constraint none;
          none.field = f;
          auto ia = a.who.find(f), ib = b.who.find(f);
          const Constraint& ca = ia == a.who.end() ? none : ia->second;
          const Constraint& cb = ib == b.who.end() ? none : ib->second;
          std::string w;
          if (!satisfiable(ca, cb, w)) {
            disjoint = true;
            break;
          }
          if (!w.empty()) witness.push_back(w);
        }
        if (disjoint) continue;
        std::string example;
        for (size_t k = 0; k < witness.size(); ++k) example += (k ? ", " : "") + witness[k];
        auto& d = sink.report(diag::Code::W0105, b.decl->name_span,
                              fmt::format("strategies `{}` and `{}` of business \"{}\" may target the same users at "
                                          "the same time",
                                          a.decl->name, b.decl->name, business));
        d.secondary.push_back({a.decl->name_span, "the other strategy"});
        d.help = (example.empty() ? std::string("their `who:` conditions do not exclude each other")
                                  : "a user with " + example + " can match both") +
                 "; give them different `priority:` values or one `exclusive:` group, or make their `who:` exclusive";
        found.push_back({a.decl->name, b.decl->name, sink.diagnostics().size() - 1});
      }
    }
  }
  return found;
}

}  // namespace crm::analysis
