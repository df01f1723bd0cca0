// ast_evaluator.cc - the reference tree-walking evaluator.
#include "tests/reference/ast_evaluator.h"

#include <algorithm>

#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/text.h"

namespace crm::vm {

using namespace crm::ast;
using sema::TypeKind;
using sema::Value;
using support::Decimal;

AstEvaluator::AstEvaluator(const sema::Program& program, const codegen::Output& compiled) : p_(program), c_(compiled) {}

bool AstEvaluator::eval(const Expr* e, const AstEnv& env, int64_t& out, std::string& error, bool* present) {
  Frame top;
  error_.clear();
  bool has = true;
  bool ok = evp(e, env, top, out, has);
  if (!ok) error = error_;
  if (present) *present = has;
  return ok;
}

// Int -> Decimal, as the VM's INT_TO_FIX: overflow is an error (an absent value is 0 here).
bool AstEvaluator::fix(int64_t& v, const sema::Type& t) {
  if (t.kind != TypeKind::Int) return true;
  if (__builtin_mul_overflow(v, Decimal::kScale, &v)) {
    error_ = kOverflow;
    return false;
  }
  return true;
}

// A constant collection (`[3, 1, 2, 3]`, `{"a", "b"}`), kept here and not in the VMs' store: a
// list with every element in written order, a set with each value once (compared as encoded:
// `{1, 1.0}` is one Decimal). Its handle is negative, apart from the store's.
bool AstEvaluator::constant_collection(const Value& v, const sema::Type& t, const AstEnv& env, int64_t& out) {
  std::vector<int64_t> items;
  TypeKind ek = t.elem ? t.elem->kind : TypeKind::Int;
  for (const auto& el : std::get<std::shared_ptr<const Value::Collection>>(v.v)->elems) {
    int64_t x;
    if (auto* s = std::get_if<std::string>(&el.v)) x = env.strings->intern(*s);
    else if (auto* i = std::get_if<int64_t>(&el.v)) {
      x = *i;
      if ((ek == TypeKind::Decimal || ek == TypeKind::Money) && !fix(x, sema::Type::of(TypeKind::Int))) return false;
    } else if (auto* d = std::get_if<Decimal>(&el.v)) x = d->units();
    else if (auto* en = std::get_if<Value::EnumVal>(&el.v)) x = en->index;
    else if (auto* tm = std::get_if<Value::Time>(&el.v)) x = tm->micros;
    else if (auto* dt = std::get_if<Value::Date>(&el.v)) x = dt->days;
    else if (auto* du = std::get_if<Value::Duration>(&el.v)) x = du->micros;
    else x = std::get<bool>(el.v);
    if (t.kind == TypeKind::List || std::find(items.begin(), items.end(), x) == items.end()) items.push_back(x);
  }
  constants_.push_back(std::move(items));
  out = -static_cast<int64_t>(constants_.size());
  return true;
}

const std::vector<int64_t>& AstEvaluator::elements(int64_t handle, const AstEnv& env) const {
  static const std::vector<int64_t> kNone;
  if (handle < 0) return -handle <= static_cast<int64_t>(constants_.size()) ? constants_[size_t(-handle - 1)] : kNone;
  return env.collections ? env.collections->items(handle) : kNone;
}

// The built-in functions, written here a second time on purpose (the VMs compute with
// bytecode/operations.h): chosen by name and argument type as docs/language.md describes them,
// not by the overload the checker recorded, so the differential test also checks resolution.
bool AstEvaluator::builtin(const CallExpr* c, const std::vector<int64_t>& a, const AstEnv& env, int64_t& out) {
  const std::string& name = c->callee;
  auto arg_kind = [&](size_t i) { return p_.type_of(c->args[i].value).kind; };
  auto text = [&](size_t i) { return env.strings->text(a[i]); };
  // Days since 1970-01-01 on the zone's calendar.
  auto fail = [&](const char* m) { error_ = m; return false; };
  auto day_of = [&](int64_t t) { return env.zone ? env.zone->local_day(t) : support::floor_div(t, support::kMicrosPerDay); };
  if (name == "now") { out = env.now; return true; }
  if (name == "today") { out = day_of(env.now); return true; }
  if (name == "date") { out = day_of(a[0]); return true; }
  if (name == "hour") {
    int64_t into_day = a[0] % support::kMicrosPerDay + (env.zone ? env.zone->offset_at(a[0]) : 0);
    into_day = (into_day % support::kMicrosPerDay + support::kMicrosPerDay) % support::kMicrosPerDay;
    out = into_day / support::kMicrosPerHour;
    return true;
  }
  if (name == "weekday") {
    int64_t d = arg_kind(0) == TypeKind::Time ? day_of(a[0]) : a[0];
    out = ((d % 7) + 7 + 3) % 7 + 1;  // day 0 was a Thursday (ISO 4)
    return true;
  }
  if (name == "days") { out = a[0] / support::kMicrosPerDay; return true; }
  if (name == "decimal") {
    if (arg_kind(0) != TypeKind::Int) { out = a[0]; return true; }
    auto d = Decimal::from_int(a[0]);
    if (!d) return fail("overflow in decimal()");
    out = d->units();
    return true;
  }
  if (name == "days_to_anniversary") {
    int64_t today = day_of(env.now), y, m_y;
    unsigned m, d, tm, td;
    support::civil_from_days(static_cast<int32_t>(a[0]), y, m, d);  // a Date is 32 bits
    support::civil_from_days(today, m_y, tm, td);
    for (int64_t year = m_y;; ++year) {
      unsigned day = d;
      if (m == 2 && d == 29 && !support::valid_civil_date(year, 2, 29)) day = 28;
      int64_t at = support::days_from_civil(year, m, day);
      if (at >= today) { out = at - today; return true; }
    }
  }
  if (name == "contains") { out = text(0).find(text(1)) != std::string_view::npos; return true; }
  if (name == "starts_with") { out = text(0).rfind(text(1), 0) == 0; return true; }
  if (name == "lower") { out = env.strings->intern(support::utf8_lower(text(0))); return true; }
  if (name == "upper") { out = env.strings->intern(support::utf8_upper(text(0))); return true; }
  if (name == "len") {
    if (arg_kind(0) == TypeKind::String) out = support::utf8_length(text(0));
    else out = static_cast<int64_t>(elements(a[0], env).size());  // a list's duplicates count
    return true;
  }
  if (name == "abs") {
    if (a[0] == INT64_MIN) return fail("overflow in abs()");
    out = a[0] < 0 ? -a[0] : a[0];
    return true;
  }
  if (name == "hash_bucket") {
    if (a[1] <= 0) return fail("hash_bucket() needs a positive bucket count");
    out = static_cast<int64_t>(stable_hash(text(0)) % static_cast<uint64_t>(a[1]));
    return true;
  }
  return fail("unknown function");
}

bool AstEvaluator::ev(const Expr* e, const AstEnv& env, const Frame& f, int64_t& out) {
  bool has = true;
  if (!evp(e, env, f, out, has)) return false;
  if (!has) out = 0;  // not reached for the non-optional types this is used for
  return true;
}

// The constant value of a window expression: literal, const, or a parameter bound to one.
bool AstEvaluator::static_duration(const Expr* e, const Frame& f, int64_t& out) {
  if (auto* v = p_.const_of(e)) {
    if (auto* d = std::get_if<Value::Duration>(&v->v)) { out = d->micros; return true; }
    if (auto* t = std::get_if<Value::Time>(&v->v)) { out = t->micros; return true; }
    return false;
  }
  if (e->kind == ExprKind::Name && p_.refs[e->id].kind == sema::Ref::Kind::Param) {
    auto* prm = p_.refs[e->id].param;
    for (const Frame* fr = &f; fr; fr = fr->parent)
      if (auto it = fr->values.find(prm); it != fr->values.end()) { out = it->second; return true; }
    return false;
  }
  if (e->kind == ExprKind::Binary) {
    auto* b = static_cast<const BinaryExpr*>(e);
    int64_t x, y;
    bool lx = static_duration(b->lhs, f, x), ly = static_duration(b->rhs, f, y);
    auto integer = [&](const Expr* s, int64_t& v) {
      if (auto* c = p_.const_of(s)) if (auto* i = std::get_if<int64_t>(&c->v)) { v = *i; return true; }
      return false;
    };
    if (lx && ly && b->op == BinaryOp::Add) { out = x + y; return true; }
    if (lx && ly && b->op == BinaryOp::Sub) { out = x - y; return true; }
    if (b->op == BinaryOp::Mul && lx && integer(b->rhs, y)) { out = x * y; return true; }
    if (b->op == BinaryOp::Mul && ly && integer(b->lhs, x)) { out = x * y; return true; }
  }
  return false;
}

// The delivery history by its definition (docs/semantics.md, "Delivery history"): the records
// of the source that match the filter, the window taken among them, counted.
bool AstEvaluator::history(const AggregateExpr* a, int64_t wv, const AstEnv& env, int64_t& out) {
  const sema::HistoryFilter& f = p_.history.at(a->id);
  std::vector<int64_t> times;
  for (const HistoryRecord& r : *env.history) {
    if (r.redemption != (a->source == HistorySource::Redeemed)) continue;
    if (!f.strategy.empty() && r.strategy != f.strategy) continue;
    bool any = false;
    for (const auto& x : r.actions)
      any |= (f.resource.empty() || x.resource == f.resource) && (f.channel.empty() || x.channel == f.channel) &&
             (f.code.empty() || x.code == f.code);
    if (any) times.push_back(r.time);
  }
  int64_t n = 0;
  const int64_t size = static_cast<int64_t>(times.size());
  switch (a->window) {
    case WindowKind::All: n = size; break;
    case WindowKind::Since: for (int64_t t : times) n += t >= wv; break;
    case WindowKind::Within: for (int64_t t : times) n += t > env.now - wv && t <= env.now; break;
    case WindowKind::LastN: n = std::min(size, wv); break;
    case WindowKind::Previous: n = std::max<int64_t>(size - 1, 0); break;
    case WindowKind::PreviousN: n = std::min(std::max<int64_t>(size - 1, 0), wv); break;
  }
  out = a->agg == AggKind::Count ? n : n > 0;
  return true;
}

bool AstEvaluator::aggregate(const AggregateExpr* a, int field, const AstEnv& env, const Frame& f, int64_t& out, bool& present) {
  int event = 0;
  for (const auto& [name, r] : p_.events) {
    if (name == a->event) break;
    ++event;
  }
  int64_t wv = 0;
  if (a->window == WindowKind::Within || a->window == WindowKind::Since) {
    if (!static_duration(a->window_expr, f, wv)) {
      error_ = "window is not constant";
      return false;
    }
  } else if (a->window == WindowKind::LastN || a->window == WindowKind::PreviousN) {
    wv = std::stoll(a->window_n);
  }
  if (a->source != HistorySource::Events) {
    present = true;
    if (env.history) return history(a, wv, env, out);
    auto hf = p_.history.find(a->id);
    if (hf == p_.history.end()) {
      error_ = "delivery history not checked";
      return false;
    }
    event = a->source == HistorySource::Received ? -1 : -2;
    field = -1;
    codegen::AggKey key{static_cast<int>(a->agg), event, field, -1, static_cast<int>(a->window), wv, hf->second.key()};
    auto it = c_.aggregates.find(key);
    if (it == c_.aggregates.end()) {
      error_ = "aggregate not compiled";
      return false;
    }
    out = env.aggregate(it->second).value;
    return true;
  }
  codegen::AggKey key{static_cast<int>(a->agg), event, field, a->filter ? static_cast<int>(a->filter->id) : -1,
                      static_cast<int>(a->window), wv, std::string()};
  auto it = c_.aggregates.find(key);
  if (it == c_.aggregates.end()) {
    error_ = "aggregate not compiled";
    return false;
  }
  bytecode::AggValue v = env.aggregate(it->second);
  if (v.state == bytecode::AggValue::State::Overflow) {
    error_ = kOverflow;
    return false;
  }
  present = v.present();
  out = present ? v.value : 0;
  return true;
}

bool AstEvaluator::evp(const Expr* e, const AstEnv& env, const Frame& f, int64_t& out, bool& present) {
  const sema::Type& t = p_.type_of(e);
  auto fail = [&](const char* m) { error_ = m; return false; };
  present = true;
  // A field of a row: its value when the row has it, else absent (0).
  auto field = [&](const std::vector<int64_t>* row, const std::vector<uint8_t>* has, size_t i) {
    present = row && i < row->size() && (!has || (has->size() > i && (*has)[i]));
    out = present ? (*row)[i] : 0;
  };
  if (auto* v = p_.const_of(e); v && (t.kind == TypeKind::Set || t.kind == TypeKind::List))
    return constant_collection(*v, t, env, out);
  if (auto* v = p_.const_of(e); v && t.kind != TypeKind::Set && t.kind != TypeKind::List) {
    std::visit([&](const auto& x) {
      using X = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<X, std::string>) out = env.strings->intern(x);
      else if constexpr (std::is_same_v<X, bool>) out = x;
      else if constexpr (std::is_same_v<X, int64_t>) out = (t.kind == TypeKind::Decimal || t.kind == TypeKind::Money) ? x * Decimal::kScale : x;
      else if constexpr (std::is_same_v<X, Decimal>) out = x.units();
      else if constexpr (std::is_same_v<X, Value::Time>) out = x.micros;
      else if constexpr (std::is_same_v<X, Value::Date>) out = x.days;
      else if constexpr (std::is_same_v<X, Value::Duration>) out = x.micros;
      else if constexpr (std::is_same_v<X, Value::EnumVal>) out = x.index;
      else out = 0;  // no constant is ever absent
    }, v->v);
    return true;
  }
  switch (e->kind) {
    case ExprKind::Name: {
      const auto& ref = p_.refs[e->id];
      switch (ref.kind) {
        case sema::Ref::Kind::Param: {
          auto* prm = ref.param;
          for (const Frame* fr = &f; fr; fr = fr->parent)
            if (auto it = fr->values.find(prm); it != fr->values.end()) {
              out = it->second;
              auto h = fr->present.find(prm);
              present = h == fr->present.end() || h->second;
              return true;
            }
          return fail("unbound parameter");
        }
        case sema::Ref::Kind::EventField: {
          auto* fi = ref.field;
          for (const auto& [name, rec] : p_.events)
            for (size_t i = 0; i < rec->fields.size(); ++i)
              if (&rec->fields[i] == fi) { field(env.event, env.event_present, i); return true; }
          return fail("unknown event field");
        }
        case sema::Ref::Kind::ProfileField: {
          auto* fi = ref.field;
          size_t i = static_cast<size_t>(fi - p_.profile.fields.data());
          field(env.profile, env.profile_present, i);
          if (!present && !fi->type.optional) return fail(kMissingProfileField);
          return true;
        }
        case sema::Ref::Kind::Segment: {
          Frame fresh;
          return evp(ref.segment()->value, env, fresh, out, present);
        }
        default: return fail("name without a value");
      }
    }
    case ExprKind::Field: {
      auto* fe = static_cast<const FieldExpr*>(e);
      const sema::Type& bt = p_.type_of(fe->base);
      if (fe->base->kind == ExprKind::Name) {
        const std::string& n = static_cast<const NameExpr*>(fe->base)->name;
        if (n == "profile" || n == "event") {
          const sema::FieldInfo* fi = bt.record->find(fe->field);
          size_t i = static_cast<size_t>(fi - bt.record->fields.data());
          if (n == "profile") field(env.profile, env.profile_present, i);
          else field(env.event, env.event_present, i);
          if (n == "profile" && !present && !fi->type.optional) return fail(kMissingProfileField);
          return true;
        }
      }
      if (fe->base->kind == ExprKind::Aggregate) {
        auto* a = static_cast<const AggregateExpr*>(fe->base);
        const sema::RecordInfo* rec = p_.events.at(a->event).get();
        return aggregate(a, static_cast<int>(rec->find(fe->field) - rec->fields.data()), env, f, out, present);
      }
      return fail("unsupported field access");
    }
    case ExprKind::Aggregate: {
      auto* a = static_cast<const AggregateExpr*>(e);
      if (a->source != HistorySource::Events) return aggregate(a, -1, env, f, out, present);
      const sema::RecordInfo* rec = p_.events.at(a->event).get();
      return aggregate(a, a->field.empty() ? -1 : static_cast<int>(rec->find(a->field) - rec->fields.data()), env, f, out,
                       present);
    }
    case ExprKind::Call: {
      auto* c = static_cast<const CallExpr*>(e);
      const FnDecl* fn = sema::called_function(p_, *c);
      if (fn) {
        Frame inner;
        std::vector<const Expr*> bound = sema::bound_arguments(*fn, *c);
        for (size_t i = 0; i < fn->params.size(); ++i) {
          const Expr* arg = bound[i];
          int64_t v;
          bool has;
          if (!evp(arg, env, f, v, has)) return false;
          if (p_.type_of(arg).kind == TypeKind::Int && fn->params[i]->type && fn->params[i]->type->name == "Decimal" &&
              !fix(v, p_.type_of(arg)))
            return false;
          inner.values[fn->params[i]] = v;
          inner.present[fn->params[i]] = has;
        }
        return evp(fn->body, env, inner, out, present);
      }
      std::vector<int64_t> args;
      for (const Arg& a : c->args) {
        int64_t v;
        if (!ev(a.value, env, f, v)) return false;
        args.push_back(v);
      }
      return builtin(c, args, env, out);
    }
    case ExprKind::Unary: {
      auto* u = static_cast<const UnaryExpr*>(e);
      int64_t v;
      if (!ev(u->operand, env, f, v)) return false;
      if (u->op == UnaryOp::Not) { out = !v; return true; }
      if (v == INT64_MIN) return fail(kOverflow);
      out = -v;
      return true;
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      int64_t v, lo, hi;
      if (!ev(b->value, env, f, v) || !ev(b->lo, env, f, lo) || !ev(b->hi, env, f, hi)) return false;
      bool dec = p_.type_of(b->value).kind == TypeKind::Decimal || p_.type_of(b->lo).kind == TypeKind::Decimal ||
                 p_.type_of(b->hi).kind == TypeKind::Decimal;
      if (dec && (!fix(v, p_.type_of(b->value)) || !fix(lo, p_.type_of(b->lo)) || !fix(hi, p_.type_of(b->hi)))) return false;
      bool in;
      if (p_.type_of(b->value).kind == TypeKind::String)
        in = env.strings->text(lo) <= env.strings->text(v) && env.strings->text(v) <= env.strings->text(hi);
      else
        in = lo <= v && v <= hi;
      out = b->negated ? !in : in;
      return true;
    }
    case ExprKind::If: {
      auto* i = static_cast<const IfExpr*>(e);
      int64_t c;
      if (!ev(i->cond, env, f, c)) return false;
      const Expr* taken = c ? i->then_expr : i->else_expr;
      if (!evp(taken, env, f, out, present)) return false;
      if (t.kind == TypeKind::Decimal && !fix(out, p_.type_of(taken))) return false;
      return true;
    }
    case ExprKind::Binary: break;
    default: return fail("unsupported expression");
  }

  auto* b = static_cast<const BinaryExpr*>(e);
  const sema::Type& lt = p_.type_of(b->lhs);
  const sema::Type& rt = p_.type_of(b->rhs);
  int64_t l, r;
  if (b->op == BinaryOp::And || b->op == BinaryOp::Or) {
    // Left to right: the right operand runs only when the left one does not decide.
    if (!ev(b->lhs, env, f, l)) return false;
    if ((b->op == BinaryOp::And) != (l != 0)) { out = l; return true; }
    if (!ev(b->rhs, env, f, r)) return false;
    out = r;
    return true;
  }
  if (b->op == BinaryOp::In || b->op == BinaryOp::NotIn) {
    // `x in C`: x == e for some element e, compared as `==` compares (an Int with a Decimal as
    // Decimals). Every element is evaluated and widened, so a failing one fails the whole.
    bool has;
    if (!evp(b->lhs, env, f, l, has)) return false;  // an absent value is in no collection
    const sema::Type et = rt.elem ? *rt.elem : sema::Type{};
    bool widen = lt.kind == TypeKind::Decimal || et.kind == TypeKind::Decimal;
    if (widen && !fix(l, lt)) return false;
    bool found = false;
    auto element = [&](int64_t x, TypeKind k) {
      if (widen && !fix(x, sema::Type::of(k))) return false;
      found |= x == l;
      return true;
    };
    if (auto* v = p_.const_of(b->rhs)) {
      for (const auto& el : std::get<std::shared_ptr<const Value::Collection>>(v->v)->elems) {
        int64_t x;
        TypeKind k = et.kind;
        if (auto* s = std::get_if<std::string>(&el.v)) x = env.strings->intern(*s);
        else if (auto* i = std::get_if<int64_t>(&el.v)) { x = *i; k = TypeKind::Int; }
        else if (auto* d = std::get_if<Decimal>(&el.v)) x = d->units();
        else if (auto* en = std::get_if<Value::EnumVal>(&el.v)) x = en->index;
        else if (auto* tm = std::get_if<Value::Time>(&el.v)) x = tm->micros;
        else if (auto* dt = std::get_if<Value::Date>(&el.v)) x = dt->days;
        else if (auto* du = std::get_if<Value::Duration>(&el.v)) x = du->micros;
        else x = std::get<bool>(el.v);
        if (!element(x, k)) return false;
      }
    } else if (b->rhs->kind == ExprKind::Collection) {
      for (const Expr* el : static_cast<const CollectionLit*>(b->rhs)->elems) {
        int64_t x;
        if (!ev(el, env, f, x) || !element(x, p_.type_of(el).kind)) return false;
      }
    } else {
      int64_t h;
      if (!ev(b->rhs, env, f, h)) return false;
      for (int64_t x : elements(h, env))
        if (!element(x, et.kind)) return false;
    }
    found &= has;
    out = b->op == BinaryOp::In ? found : !found;
    return true;
  }
  // `tags == {}`: whether the other operand has no element (the checker typed the literal).
  auto empty_lit = [](const Expr* e) {
    return e && e->kind == ExprKind::Collection && static_cast<const CollectionLit*>(e)->elems.empty();
  };
  if ((b->op == BinaryOp::Eq || b->op == BinaryOp::Ne) && empty_lit(b->lhs) != empty_lit(b->rhs)) {
    const Expr* other = empty_lit(b->lhs) ? b->rhs : b->lhs;
    int64_t h;
    if (!ev(other, env, f, h)) return false;
    bool none = elements(h, env).empty();
    out = b->op == BinaryOp::Eq ? none : !none;
    return true;
  }
  bool lh = true, rh = true;
  if (!evp(b->lhs, env, f, l, lh) || !evp(b->rhs, env, f, r, rh)) return false;
  switch (b->op) {
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt: case BinaryOp::Ge: {
      if (lt.kind != rt.kind && (lt.kind == TypeKind::Decimal || rt.kind == TypeKind::Decimal)) {
        if (!fix(l, lt) || !fix(r, rt)) return false;
      }
      int c;
      if (lt.kind == TypeKind::String && b->op != BinaryOp::Eq && b->op != BinaryOp::Ne) {
        auto x = env.strings->text(l), y = env.strings->text(r);
        c = x < y ? -1 : (x == y ? 0 : 1);
      } else {
        c = l < r ? -1 : (l == r ? 0 : 1);
      }
      // Absent equals only absent (optionals are compared with `==`/`!=` only).
      bool eq = lh && rh ? c == 0 : lh == rh;
      switch (b->op) {
        case BinaryOp::Eq: out = eq; break;
        case BinaryOp::Ne: out = !eq; break;
        case BinaryOp::Lt: out = c < 0; break;
        case BinaryOp::Le: out = c <= 0; break;
        case BinaryOp::Gt: out = c > 0; break;
        default: out = c >= 0; break;
      }
      return true;
    }
    case BinaryOp::Coalesce:
      if (t.kind == TypeKind::Decimal && (!fix(l, lt) || !fix(r, rt))) return false;
      out = lh ? l : r;
      present = lh || rh;
      return true;
    default: break;
  }
  // Arithmetic, with the same representation rules as the VM.
  TypeKind L = lt.kind, R = rt.kind;
  auto dec = [](int64_t v) { return Decimal::from_units(v); };
  auto set = [&](std::optional<Decimal> d) {
    if (!d) return fail(b->op == BinaryOp::Div && r == 0 ? kDivisionByZero : kOverflow);
    out = d->units();
    return true;
  };
  switch (b->op) {
    case BinaryOp::Add:
    case BinaryOp::Sub: {
      if (L == TypeKind::String) {
        out = env.strings->intern(std::string(env.strings->text(l)) + std::string(env.strings->text(r)));
        return true;
      }
      if (L == TypeKind::Date && R == TypeKind::Date) {  // days, then micros: each step may overflow
        int64_t days = 0;
        if (__builtin_sub_overflow(l, r, &days) || __builtin_mul_overflow(days, support::kMicrosPerDay, &out))
          return fail(kOverflow);
        return true;
      }
      // A date or time leaving the years 0001-9999 is a fault, named for what left them.
      static const char* const kDateRange = bytecode::ops::fault_text(bytecode::ops::Fault::DateRange);
      static const char* const kTimeRange = bytecode::ops::fault_text(bytecode::ops::Fault::TimeRange);
      if (L == TypeKind::Date) {
        // The VM negates the duration first (NEG), which fails on the most negative value.
        if (b->op == BinaryOp::Sub && r == INT64_MIN) return fail(kOverflow);
        int64_t days = support::floor_div(b->op == BinaryOp::Sub ? -r : r, support::kMicrosPerDay);
        if (__builtin_add_overflow(l, days, &out) || !support::in_date_range(out)) return fail(kDateRange);
        return true;
      }
      if (R == TypeKind::Date) {
        if (__builtin_add_overflow(r, support::floor_div(l, support::kMicrosPerDay), &out) || !support::in_date_range(out))
          return fail(kDateRange);
        return true;
      }
      if (t.kind == TypeKind::Time) {  // Time +/- Duration, Duration + Time (Time - Time is a Duration)
        if (b->op == BinaryOp::Sub && r == INT64_MIN) return fail(kOverflow);  // NEG first, as for dates
        const __int128 v = static_cast<__int128>(l) + (b->op == BinaryOp::Sub ? -static_cast<__int128>(r) : r);
        if (v < support::kFirstInstant || v > support::kLastInstant) return fail(kTimeRange);
        out = static_cast<int64_t>(v);
        return true;
      }
      if (t.kind == TypeKind::Decimal && (!fix(l, lt) || !fix(r, rt))) return false;
      if (b->op == BinaryOp::Add ? __builtin_add_overflow(l, r, &out) : __builtin_sub_overflow(l, r, &out))
        return fail(kOverflow);
      return true;
    }
    case BinaryOp::Mul: {
      // Anything times an Int is an exact integer product of the underlying units.
      if (L == TypeKind::Int || R == TypeKind::Int) {
        if (__builtin_mul_overflow(l, r, &out)) return fail(kOverflow);
        return true;
      }
      if (!fix(l, lt) || !fix(r, rt)) return false;
      return set(Decimal::mul(dec(l), dec(r)));
    }
    case BinaryOp::Div: {
      int64_t x = l, y = r;
      if (!fix(x, lt) || !fix(y, rt)) return false;
      if (y == 0) return fail(kDivisionByZero);
      return set(Decimal::div(dec(x), dec(y)));
    }
    default: break;
  }
  return fail("unsupported operator");
}

}  // namespace crm::vm
