// type_checker.cc - the type pass: every declaration's expressions are typed, their names
// resolved (through the Resolver, against the expected type for enum values), constants folded
// (fold.h) and the rules of resources, strategies, policies and aggregate windows (windows.h)
// applied. Results go to the Program's side tables (types, consts, refs, uses, decl_types) and
// the checker's (CheckTables: static expressions, function signatures, dependency edges).
// Definitions may refer to each other in any order: constants and function signatures are
// typed on demand, and recursion is found afterwards from the dependency edges (lints.h), so
// bodies never need to be checked recursively.
//
// This file types expressions and folds them; the rules of declarations are in
// declaration_checker.cc, and the Checker class both halves define is in
// type_checker_internal.h.
#include "compiler/sema/type_checker.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <set>
#include <unordered_set>

#include "compiler/sema/fold.h"
#include "compiler/sema/message_template.h"
#include "compiler/sema/type_checker_internal.h"
#include "compiler/sema/windows.h"
#include "support/civil_time.h"
#include "support/text.h"
#include "support/time_zone.h"

namespace crm::sema::detail {

// ---- expression checking -------------------------------------------------------------------

// Records what the name written at `span` denotes (the semantic model's occurrences).
void Checker::use(Span span, Target target) {
  if (span.valid()) p_.uses.push_back({span, std::move(target)});
}

void Checker::set_const(const Expr* e, Value v) {
  p_.consts[e->id] = std::move(v);
  t_.is_static[e->id] = 1;
}

// Whether `e` names anything whose value is the user's or the event's: a field, a segment, a
// history aggregate. Such an expression may still fold (`level == level`, `false and age > 1`),
// but it is no compile-time constant: before, `const k = age > age` became `false` for every
// user, though reading `age` fails for a user without one.
bool Checker::reads_user_data(const Expr* e, int depth) {
  if (!e || depth > 256) return false;
  switch (e->kind) {
    case ExprKind::Name: {
      Ref::Kind k = p_.refs[e->id].kind;
      return k == Ref::Kind::ProfileField || k == Ref::Kind::EventField || k == Ref::Kind::Segment;
    }
    case ExprKind::Field: {  // `event.f`, `profile.f`, a field of `last(Order)`; not `Tier.Gold`
      const Expr* base = static_cast<const FieldExpr*>(e)->base;
      if (base && base->kind == ExprKind::Name) {
        const std::string& n = static_cast<const NameExpr*>(base)->name;
        if (n == "event" || n == "profile") return true;
      }
      return reads_user_data(base, depth + 1);
    }
    case ExprKind::Aggregate: return true;
    case ExprKind::Call:
      for (const Arg& a : static_cast<const CallExpr*>(e)->args)
        if (reads_user_data(a.value, depth + 1)) return true;
      return false;
    case ExprKind::Unary: return reads_user_data(static_cast<const UnaryExpr*>(e)->operand, depth + 1);
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      return reads_user_data(b->lhs, depth + 1) || reads_user_data(b->rhs, depth + 1);
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      return reads_user_data(b->value, depth + 1) || reads_user_data(b->lo, depth + 1) || reads_user_data(b->hi, depth + 1);
    }
    case ExprKind::If: {
      auto* i = static_cast<const IfExpr*>(e);
      return reads_user_data(i->cond, depth + 1) || reads_user_data(i->then_expr, depth + 1) ||
             reads_user_data(i->else_expr, depth + 1);
    }
    case ExprKind::Collection:
      for (const Expr* x : static_cast<const CollectionLit*>(e)->elems)
        if (reads_user_data(x, depth + 1)) return true;
      return false;
    default: return false;
  }
}

bool Checker::require_constant(const Expr* e, const char* what) {
  if (!e || p_.type_of(e).is_error()) return false;
  if (p_.const_of(e) && !reads_user_data(e)) return true;
  sink_.report(Code::E0416, e->span, fmt::format("{} must be known when the program is compiled", what))
      .help = "use literals and `const` values only; profile fields, events and `now()` vary per user";
  return false;
}

bool Checker::check_condition(const Expr* e, Env& env, const char* what) {
  if (!e) return false;
  Type t = check(e, env, nullptr);
  if (t.is_error()) return false;
  if (t.kind != TypeKind::Bool) {
    sink_.report(Code::E0411, e->span, fmt::format("{} must be a condition (`Bool`), found {}", what, bt(t.to_string())));
    return false;
  }
  if (t.optional) {
    optional_error(e, t);
    return false;
  }
  return true;
}

void Checker::optional_error(const Expr* e, const Type& t) {
  sink_.report(Code::E0403, e->span, fmt::format("this value is optional ({}) and may be absent", bt(t.to_string())))
      .help = fmt::format("give a default with `?? <value>`, e.g. `?? {}`", default_example(t));
}

std::string Checker::default_example(const Type& t) {
  switch (t.kind) {
    case TypeKind::Bool: return "false";
    case TypeKind::Int: return "0";
    case TypeKind::Decimal: return "0.0";
    case TypeKind::Money: return "0 " + t.currency;
    case TypeKind::String: return "\"\"";
    case TypeKind::Time: return "now()";
    case TypeKind::Date: return "today()";
    case TypeKind::Duration: return "0 days";
    case TypeKind::Enum: return t.enum_info && !t.enum_info->values.empty() ? t.enum_info->values[0] : "...";
    default: return "...";
  }
}

bool Checker::assignable(const Type& from, const Type& to) {
  if (from.is_error() || to.is_error()) return true;
  if (from.optional && !to.optional) return false;
  if (from.kind == TypeKind::Int && to.kind == TypeKind::Decimal) return true;
  if ((from.kind == TypeKind::Set || from.kind == TypeKind::List) && from.kind == to.kind && from.elem &&
      from.elem->is_error())
    return true;  // the empty collection
  return from.same_base(to);
}

void Checker::mismatch(const Expr* e, const Type& want, const Type& got) {
  if (want.required().same_base(got.required()) && got.optional && !want.optional) {
    optional_error(e, got);
    return;
  }
  if (want.kind == TypeKind::Money && got.kind == TypeKind::Money) {
    currency_mismatch(e, got, want, "value");
    return;
  }
  if ((want.kind == TypeKind::Duration && got.is_numeric()) || (got.kind == TypeKind::Duration && want.is_numeric())) {
    sink_.report(Code::E0404, e->span, fmt::format("expected {}, found {}", bt(want.to_string()), bt(got.to_string())))
        .help = want.kind == TypeKind::Duration ? "write the number with a unit, e.g. `30 days`"
                                                : "convert with `days(...)`";
    return;
  }
  sink_.report(Code::E0401, e->span, fmt::format("expected {}, found {}", bt(want.to_string()), bt(got.to_string())));
}

void Checker::mismatch_named(const Expr* e, const char* want, const Type& got) {
  sink_.report(Code::E0401, e->span, fmt::format("expected {}, found {}", want, bt(got.to_string())));
}

void Checker::currency_mismatch(const Expr* e, const Type& a, const Type& b, const char* what) {
  sink_.report(Code::E0402, e->span,
               fmt::format("{} mixes currencies: {} and {}", what, bt(a.currency), bt(b.currency)))
      .help = "money in different currencies cannot be combined; convert amounts before loading them";
}

bool Checker::expect(const Expr* e, const Type& got, const Type& want) {
  if (got.is_error()) return false;
  if (assignable(got, want)) return true;
  mismatch(e, want, got);
  return false;
}

void Checker::edge(const Env& env, const Decl* target) {
  if (env.owner) t_.deps[env.owner].insert(target);
}

Type Checker::check(const Expr* e, Env& env, const Type* hint) {
  if (!e) return {};
  Type t = check_inner(e, env, hint);
  return set_type(e, t);
}

Type Checker::check_inner(const Expr* e, Env& env, const Type* hint) {
  switch (e->kind) {
    case ExprKind::Number: return number(static_cast<const NumberLit*>(e));
    case ExprKind::Money: {
      auto* m = static_cast<const MoneyLit*>(e);
      if (!currencies().count(m->currency)) { res_.report_currency(m->currency, e->span); return {}; }
      auto d = Decimal::parse(m->amount);
      if (!d) { bad_number(e, m->amount); return {}; }
      set_const(e, Value{*d});
      return Type::money(m->currency);
    }
    case ExprKind::Duration: {
      auto* d = static_cast<const DurationLit*>(e);
      auto micros = duration_micros(d->amount + " " + d->unit, e->span);
      if (!micros) return {};
      set_const(e, Value{Value::Duration{*micros}});
      return Type::of(TypeKind::Duration);
    }
    case ExprKind::Percent: {
      auto* pc = static_cast<const PercentLit*>(e);
      auto d = Decimal::parse(pc->amount);
      auto r = d ? Decimal::div(*d, Decimal::from_units(100 * Decimal::kScale)) : std::nullopt;
      if (!r) { bad_number(e, pc->amount + "%"); return {}; }
      set_const(e, Value{*r});
      return Type::of(TypeKind::Decimal);
    }
    case ExprKind::String:
      set_const(e, Value{static_cast<const StringLit*>(e)->value});
      return Type::of(TypeKind::String);
    case ExprKind::Time: {
      auto* t = static_cast<const TimeLit*>(e);
      auto v = support::parse_time(t->text);
      if (!v) {
        if (std::string note = support::time_range_note(t->text); !note.empty())
          sink_.report(Code::E0104, e->span, fmt::format("time {} is outside crm's time{}", bt(t->text), note))
              .help = "an offset moves the instant: give it in UTC (`Z`) within the years 0001-9999";
        else
          sink_.report(Code::E0104, e->span, fmt::format("invalid time {}", bt(t->text)))
              .help = "times look like `2026-11-11T08:00+08:00`; month, day, hour and minute must exist";
        return {};
      }
      set_const(e, Value{Value::Time{*v}});
      return Type::of(TypeKind::Time);
    }
    case ExprKind::Date: {
      auto* d = static_cast<const DateLit*>(e);
      auto v = support::parse_date(d->text);
      if (!v) {
        sink_.report(Code::E0104, e->span, fmt::format("invalid date {}", bt(d->text)))
            .help = "dates look like `2026-11-11` and must exist in the calendar";
        return {};
      }
      set_const(e, Value{Value::Date{*v}});
      return Type::of(TypeKind::Date);
    }
    case ExprKind::Bool:
      set_const(e, Value{static_cast<const BoolLit*>(e)->value});
      return Type::of(TypeKind::Bool);
    case ExprKind::Collection: return collection(static_cast<const CollectionLit*>(e), env, hint);
    case ExprKind::Name: return name(static_cast<const NameExpr*>(e), env, hint);
    case ExprKind::Field: return field(static_cast<const FieldExpr*>(e), env);
    case ExprKind::Call: return call(static_cast<const CallExpr*>(e), env);
    case ExprKind::Aggregate: return aggregate(static_cast<const AggregateExpr*>(e), env);
    case ExprKind::Unary: return unary(static_cast<const UnaryExpr*>(e), env);
    case ExprKind::Binary: return binary(static_cast<const BinaryExpr*>(e), env, hint);
    case ExprKind::Between: return between(static_cast<const BetweenExpr*>(e), env);
    case ExprKind::If: return if_expr(static_cast<const IfExpr*>(e), env, hint);
  }
  return {};
}

void Checker::bad_number(const Expr* e, const std::string& text) {
  sink_.report(Code::E0104, e->span, fmt::format("number {} cannot be represented exactly", bt(text)))
      .help = "numbers have at most 6 decimal places and are at most 9223372036854.775807 (13 digits before the point)";
}

Type Checker::number(const NumberLit* n) {
  if (n->text.find('.') == std::string::npos) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(n->text.c_str(), &end, 10);
    if (errno == ERANGE || *end) {
      sink_.report(Code::E0104, n->span, fmt::format("integer {} is too large", bt(n->text)))
          .help = "integers range up to 9223372036854775807";
      return {};
    }
    set_const(n, Value{int64_t(v)});
    return Type::of(TypeKind::Int);
  }
  auto d = Decimal::parse(n->text);
  if (!d) { bad_number(n, n->text); return {}; }
  set_const(n, Value{*d});
  return Type::of(TypeKind::Decimal);
}

std::optional<int64_t> Checker::duration_micros(const std::string& text, Span span) {
  size_t sp = text.find_first_of(" \t");
  std::string amount = text.substr(0, sp);
  std::string unit = sp == std::string::npos ? "" : text.substr(text.find_first_not_of(" \t", sp));
  int64_t scale = 0;
  if (unit.rfind("second", 0) == 0) scale = support::kMicrosPerSecond;
  else if (unit.rfind("minute", 0) == 0) scale = support::kMicrosPerMinute;
  else if (unit.rfind("hour", 0) == 0) scale = support::kMicrosPerHour;
  else if (unit.rfind("day", 0) == 0) scale = support::kMicrosPerDay;
  else if (unit.rfind("week", 0) == 0) scale = 7 * support::kMicrosPerDay;
  auto d = Decimal::parse(amount);
  auto scaled = d ? Decimal::mul(*d, Decimal::from_units(scale)) : std::nullopt;  // units are micros*1e-6
  // scaled.units() is micros exactly when the amount has few enough decimals.
  if (!scaled || scale == 0) {
    sink_.report(Code::E0104, span, fmt::format("duration {} cannot be represented", bt(text)))
        .help = "durations are whole microseconds within about 290,000 years";
    return std::nullopt;
  }
  return scaled->units();
}

Type Checker::collection(const CollectionLit* c, Env& env, const Type* hint) {
  const Type* elem_hint = hint && hint->elem ? hint->elem.get() : nullptr;
  Type elem;
  bool first = true, all_const = true, ok = true;
  std::vector<Value> values;
  for (const Expr* x : c->elems) {
    Type t = check(x, env, elem_hint ? elem_hint : (first ? nullptr : &elem));
    if (t.is_error()) { ok = false; continue; }
    if (t.optional) { optional_error(x, t); ok = false; continue; }
    if (t.kind == TypeKind::Set || t.kind == TypeKind::List || t.kind == TypeKind::Record) {
      sink_.report(Code::E0414, x->span, fmt::format("a collection cannot hold {}", bt(t.to_string())));
      ok = false;
      continue;
    }
    if (first) {
      elem = t;
      first = false;
    } else if (!elem.same_base(t)) {
      if (elem.is_numeric() && t.is_numeric()) {
        elem = Type::of(TypeKind::Decimal);
      } else {
        auto& d = sink_.report(Code::E0414, x->span,
                               fmt::format("this element is {}, but the first is {}", bt(t.to_string()),
                                           bt(elem.to_string())));
        d.secondary.push_back({c->elems[0]->span, "first element"});
        ok = false;
        continue;
      }
    }
    if (auto* v = p_.const_of(x)) values.push_back(*v);
    else all_const = false;
  }
  if (!ok) return {};
  if (first && elem_hint) elem = *elem_hint;  // `{}` takes the expected element type
  // An empty collection with nothing around it to give the element type (`const e = {}`,
  // `len([])`) has no type: without this diagnostic it was `Set<<error>>`, accepted by every
  // `in` and left for the code generator to fail on.
  if (first && !elem_hint) {
    bool set = c->is_set;
    sink_.report(Code::E0426, c->span,
                 fmt::format("empty {} {}: its element type cannot be known here", set ? "set" : "list",
                             bt(set ? "{}" : "[]")))
        .help = fmt::format("write the type, e.g. `const e: {}<Int> = {}`, or add an element", set ? "Set" : "List",
                            set ? "{}" : "[]");
    return {};
  }
  Type out = Type::collection(c->is_set ? TypeKind::Set : TypeKind::List, elem);
  if (all_const) {
    auto col = std::make_shared<Value::Collection>();
    col->elems = std::move(values);
    set_const(c, Value{std::shared_ptr<const Value::Collection>(col)});
  }
  return out;
}

// Candidates for "did you mean" when a name does not resolve.
std::vector<std::string> Checker::name_candidates(Env& env) {
  std::vector<std::string> out = res_.visible_names(env.module);
  if (env.locals) for (auto& l : *env.locals) out.push_back(l.param->name);
  if (env.event) for (auto& f : env.event->fields) out.push_back(f.name);
  for (auto& f : p_.profile.fields) out.push_back(f.name);
  return out;
}

Type Checker::enum_value(const Expr* e, const EnumInfo* info, int idx) {
  Ref& r = p_.refs[e->id];
  r.kind = Ref::Kind::EnumValue;
  r.enum_info = info;
  r.index = idx;
  use(e->kind == ExprKind::Field ? static_cast<const FieldExpr*>(e)->field_span : e->span, EnumValueRef{info, idx});
  set_const(e, Value{Value::EnumVal{info, idx}});
  Type t;
  t.kind = TypeKind::Enum;
  t.enum_info = info;
  return t;
}

// Scenes (000 §2): an event's `scene` field, a required enum (E0308). The enums that are some
// event's scenes get their own codes, so an operator's typo in `scene in {...}` reads as such.
bool Checker::is_scene_enum(const EnumInfo& e) const {
  for (const auto& [name, rec] : p_.events)
    if (const FieldInfo* f = rec->find("scene"); f && f->type.kind == TypeKind::Enum && f->type.enum_info == &e) return true;
  return false;
}

diag::Diagnostic& Checker::not_a_value(Span span, const std::string& id, const EnumInfo& e) {
  if (is_scene_enum(e))
    return sink_.report(Code::E0310, span, fmt::format("{} is not a scene: enum {} has no such value", bt(id), bt(e.name)));
  return sink_.report(Code::E0406, span, fmt::format("{} is not a value of enum {}", bt(id), bt(e.name)));
}

void Checker::no_scene(Span span, const RecordInfo* event) {
  std::vector<std::string> with;
  for (const auto& [name, rec] : p_.events)
    if (rec->find("scene")) with.push_back(name);
  auto& d = sink_.report(Code::E0309, span,
                         event ? fmt::format("event {} has no scene", bt(event->name))
                               : std::string("`scene` is the trigger event's scene, and no event is in scope here"));
  std::string have = with.empty() ? std::string("no event declares one yet")
                                  : fmt::format("events with a scene: {}", bt(with[0]));
  for (size_t i = 1; i < with.size(); ++i) have += ", " + bt(with[i]);
  d.help = event ? fmt::format("declare it, e.g. `event {} {{ scene: Scene }}` with `enum Scene {{ Home, Checkout }}`, or "
                               "trigger on an event that has one ({})",
                               event->name, have)
                 : fmt::format("use `scene` in `where:` or `if` of a strategy triggered by `when: on <Event>` ({})", have);
}

Type Checker::name(const NameExpr* n, Env& env, const Type* hint) {
  const std::string& id = n->name;
  if (id == "event" || id == "profile") {
    Type t;
    t.kind = TypeKind::Record;
    if (id == "profile") {
      t.record = &p_.profile;
      return t;
    }
    if (!env.event) {
      sink_.report(Code::E0204, n->span, "`event` is only available where an event is in scope")
          .help = "use it in a strategy triggered by `when: on <Event>`, or inside an aggregate's `where`";
      return {};
    }
    t.record = env.event;
    return t;
  }
  if (env.locals)
    for (auto& l : *env.locals)
      if (l.param->name == id) {
        p_.refs[n->id].kind = Ref::Kind::Param;
        p_.refs[n->id].param = l.param;
        use(n->span, l.param);
        t_.is_static[n->id] = 1;
        return l.type;
      }
  if (env.event)
    if (const FieldInfo* f = env.event->find(id)) {
      if (p_.profile.find(id) && id != "user")
        sink_.report(Code::W0104, n->span,
                     fmt::format("{} means the {} event's field; the profile has a field of the same name", bt(id),
                                 bt(env.event->name)))
            .help = fmt::format("write `event.{}` or `profile.{}` to say which", id, id);
      p_.refs[n->id].kind = Ref::Kind::EventField;
      p_.refs[n->id].field = f;
      use(n->span, f);
      return f->type;
    }
  if (const FieldInfo* f = p_.profile.find(id)) {
    p_.refs[n->id].kind = Ref::Kind::ProfileField;
    p_.refs[n->id].field = f;
    use(n->span, f);
    return f->type;
  }
  if (const Symbol* s = res_.lookup(env.module, id, n->span)) {
    switch (s->decl->kind) {
      case DeclKind::Const: {
        auto* c = static_cast<ConstDecl*>(const_cast<Decl*>(s->decl));
        edge(env, c);
        Type t = const_type(s->module, c);
        p_.refs[n->id].kind = Ref::Kind::Const;
        p_.refs[n->id].decl = c;
        use(n->span, static_cast<const Decl*>(c));
        if (auto* v = p_.const_of(c->value)) set_const(n, *v);
        return t;
      }
      case DeclKind::Segment:
        edge(env, s->decl);
        p_.refs[n->id].kind = Ref::Kind::Segment;
        p_.refs[n->id].decl = s->decl;
        use(n->span, s->decl);
        return Type::of(TypeKind::Bool);
      case DeclKind::Fn:
        sink_.report(Code::E0207, n->span, fmt::format("{} is a function; call it as `{}()`", bt(id), id));
        return {};
      default:
        sink_.report(Code::E0207, n->span, fmt::format("{} is not a value", bt(id)))
            .secondary.push_back({s->decl->name_span, "defined here"});
        return {};
    }
  }
  if (res_.ambiguous()) return {};  // already reported as E0205
  // Enum values: the expected enum first, then any visible enum with a unique match.
  if (hint && hint->kind == TypeKind::Enum && hint->enum_info) {
    int idx = hint->enum_info->find(id);
    if (idx >= 0) return enum_value(n, hint->enum_info, idx);
    auto& d = not_a_value(n->span, id, *hint->enum_info);
    if (auto c = diag::closest_match(id, hint->enum_info->values); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
    else d.help = fmt::format("{} has {}", bt(hint->enum_info->name), join_values(*hint->enum_info));
    return {};
  }
  const EnumInfo* found = nullptr;
  int found_idx = -1;
  for (const EnumInfo* e : res_.visible_enums(env.module)) {
    int idx = e->find(id);
    if (idx < 0) continue;
    if (found && found != e) {
      sink_.report(Code::E0205, n->span, fmt::format("{} is a value of both {} and {}", bt(id), bt(found->name), bt(e->name)))
          .help = fmt::format("write `{}.{}` or `{}.{}`", found->name, id, e->name, id);
      return {};
    }
    found = e;
    found_idx = idx;
  }
  if (found) return enum_value(n, found, found_idx);
  // Probably a field of the unknown trigger event: one error (E0304) is enough.
  if (env.event_unknown) return {};
  if (id == "scene") {
    no_scene(n->span, env.event);
    return {};
  }
  auto& d = sink_.report(Code::E0204, n->span, fmt::format("unknown name {}", bt(id)));
  auto cands = name_candidates(env);
  for (const EnumInfo* e : res_.visible_enums(env.module)) for (auto& v : e->values) cands.push_back(v);
  if (env.owner) {
    // Never the declaration being defined (`segment s = b`: "did you mean `s`?" was then E0412),
    // nor one already known to depend on it: either would be a cycle.
    std::set<const Decl*> reach{env.owner};
    std::set<std::string> cyclic{env.owner->name};
    for (bool grew = true; grew;) {
      grew = false;
      for (auto& [from, to] : t_.deps) {
        if (reach.count(from)) continue;
        for (const Decl* x : to)
          if (reach.count(x)) {
            reach.insert(from);
            cyclic.insert(from->name);
            grew = true;
            break;
          }
      }
    }
    std::erase_if(cands, [&](const std::string& c) { return cyclic.count(c) > 0; });
  }
  if (auto c = diag::closest_match(id, cands); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
  return {};
}

Type Checker::field(const FieldExpr* f, Env& env) {
  // `Stage.Rising`: a qualified enum value, unless the name is a value in scope.
  if (f->base && f->base->kind == ExprKind::Name) {
    const std::string& base = static_cast<const NameExpr*>(f->base)->name;
    bool is_var = (env.locals && std::any_of(env.locals->begin(), env.locals->end(),
                                             [&](const Local& l) { return l.param->name == base; })) ||
                  (env.event && env.event->find(base)) || p_.profile.find(base) || base == "event" || base == "profile";
    if (!is_var)
      for (const EnumInfo* e : res_.visible_enums(env.module))
        if (e->name == base) {
          use(f->base->span, static_cast<const Decl*>(e->decl));
          int idx = e->find(f->field);
          set_type(f->base, Type{});
          if (idx >= 0) return enum_value(f, e, idx);
          auto& d = not_a_value(f->field_span, f->field, *e);
          if (auto c = diag::closest_match(f->field, e->values); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
          else d.help = fmt::format("{} has {}", bt(e->name), join_values(*e));
          return {};
        }
  }
  Type bt_ = check(f->base, env, nullptr);
  if (bt_.is_error()) return {};
  if (bt_.kind != TypeKind::Record || !bt_.record) {
    sink_.report(Code::E0405, f->field_span, fmt::format("{} has no fields", bt(bt_.to_string())));
    return {};
  }
  const FieldInfo* fi = bt_.record->find(f->field);
  if (!fi && f->field == "scene" && !bt_.record->is_profile) {
    no_scene(f->field_span, bt_.record);
    return {};
  }
  if (!fi) {
    auto& d = sink_.report(Code::E0303, f->field_span,
                           bt_.record->is_profile ? fmt::format("the profile has no field {}", bt(f->field))
                                                  : fmt::format("event {} has no field {}", bt(bt_.record->name), bt(f->field)));
    if (auto c = diag::closest_match(f->field, bt_.record->field_names()); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
    return {};
  }
  use(f->field_span, fi);
  Type t = fi->type;
  if (bt_.optional) t.optional = true;
  return t;
}

// ---- calls ---------------------------------------------------------------------------------

Type Checker::call(const CallExpr* c, Env& env) {
  if (const Symbol* s = res_.lookup(env.module, c->callee, c->callee_span)) {
    if (s->decl->kind == DeclKind::Fn) return user_call(c, env, s);
    if (s->decl->kind == DeclKind::Segment) {
      sink_.report(Code::E0207, c->callee_span, fmt::format("{} is a segment, not a function", bt(c->callee)))
          .help = fmt::format("write `{}` without parentheses", c->callee);
      return {};
    }
    sink_.report(Code::E0207, c->callee_span, fmt::format("{} is not a function", bt(c->callee)))
        .secondary.push_back({s->decl->name_span, "defined here"});
    return {};
  }
  if (const BuiltinInfo* b = find_builtin(c->callee)) {
    use(c->callee_span, b);
    return builtin_call(c, env, *b);
  }
  std::vector<std::string> names;
  for (auto& b : all_builtins()) names.push_back(b.name);
  auto add = [&](ModuleInfo* x) { for (auto& [n, s] : x->symbols) if (s.decl->kind == DeclKind::Fn) names.push_back(n); };
  add(env.module);
  for (auto* imp : res_.visible_imports(env.module)) add(imp->target);
  auto& d = sink_.report(Code::E0410, c->callee_span, fmt::format("unknown function {}", bt(c->callee)));
  if (auto m = diag::closest_match(c->callee, names); !m.empty()) d.help = fmt::format("did you mean {}?", bt(m));
  else if (c->callee == "stage" || c->callee == "rfm_score") d.help = "import the standard module that defines it, e.g. `import std.lifecycle`";
  return {};
}

Type Checker::user_call(const CallExpr* c, Env& env, const Symbol* s) {
  auto* f = static_cast<FnDecl*>(const_cast<Decl*>(s->decl));
  edge(env, f);
  p_.refs[c->id].kind = Ref::Kind::Function;
  p_.refs[c->id].decl = f;
  use(c->callee_span, static_cast<const Decl*>(f));
  FnSig& sig = fn_sig(s->module, f);
  check_fn_body(s->module, f);  // static_params must be known before the call site is judged
  std::vector<const Expr*> bound(sig.params.size(), nullptr);
  std::vector<bool> suggested(sig.params.size(), false);  // a misspelt name's "did you mean"
  bool ok = true, named_seen = false;
  size_t pos = 0;
  for (const Arg& a : c->args) {
    size_t slot = sig.params.size();
    if (a.name.empty()) {
      if (named_seen) {
        sink_.report(Code::E0409, a.value ? a.value->span : c->span, "positional argument after a named one");
        ok = false;
        continue;
      }
      slot = pos++;
      if (slot >= sig.params.size()) {
        sink_.report(Code::E0409, a.value ? a.value->span : c->span,
                     fmt::format("{} takes {} argument{}", bt(f->name), sig.params.size(), sig.params.size() == 1 ? "" : "s"));
        ok = false;
        check(a.value, env, nullptr);
        continue;
      }
    } else {
      named_seen = true;
      for (size_t i = 0; i < sig.params.size(); ++i) if (sig.params[i].param->name == a.name) slot = i;
      if (slot == sig.params.size()) {
        std::vector<std::string> names;
        for (auto& l : sig.params) names.push_back(l.param->name);
        auto& d = sink_.report(Code::E0409, a.name_span, fmt::format("{} has no parameter {}", bt(f->name), bt(a.name)));
        if (auto m = diag::closest_match(a.name, names); !m.empty()) {
          d.help = fmt::format("did you mean {}?", bt(m));
          for (size_t i = 0; i < names.size(); ++i) if (names[i] == m) suggested[i] = true;
        }
        ok = false;
        check(a.value, env, nullptr);
        continue;
      }
      use(a.name_span, sig.params[slot].param);
      if (bound[slot]) {
        sink_.report(Code::E0409, a.name_span, fmt::format("parameter {} is given twice", bt(a.name)));
        ok = false;
        continue;
      }
    }
    bound[slot] = a.value;
    Type t = check(a.value, env, &sig.params[slot].type);
    if (!t.is_error() && !sig.params[slot].type.is_error() && !assignable(t, sig.params[slot].type)) {
      mismatch(a.value, sig.params[slot].type, t);
      ok = false;
    } else if (sig.static_params.count(sig.params[slot].param) && !is_static(a.value) && !t.is_error()) {
      sink_.report(Code::E0416, a.value->span,
                   fmt::format("argument for {} must be a constant: {} uses it as an aggregate window",
                               bt(sig.params[slot].param->name), bt(f->name)));
      ok = false;
    }
  }
  for (size_t i = 0; i < sig.params.size(); ++i)
    // `f(y: 1)` for `fn f(x: Int)`: "no parameter `y` (did you mean `x`?)" already says it.
    if (!bound[i] && !sig.params[i].param->default_value && !suggested[i]) {
      sink_.report(Code::E0409, c->span, fmt::format("missing argument {} of {}", bt(sig.params[i].param->name), bt(f->name)))
          .secondary.push_back({sig.params[i].param->span, "parameter declared here"});
      ok = false;
    }
  if (!ok) return {};
  return sig.result;
}

// A call of a built-in is resolved against its typed overloads in bytecode/builtins.def:
// the arity first, then each argument in turn must be non-optional and of a type some
// remaining overload accepts there. The overload found is recorded (refs: Builtin, its id) for
// codegen, and a call of a foldable overload with constant arguments is folded with the same
// bytecode/operations.h function the VMs run.
Type Checker::builtin_call(const CallExpr* c, Env& env, const BuiltinInfo& b) {
  std::vector<Type> args;
  for (const Arg& a : c->args) {
    if (!a.name.empty()) {
      sink_.report(Code::E0409, a.name_span, fmt::format("built-in {} takes positional arguments only", bt(b.name)));
      return {};
    }
    args.push_back(check(a.value, env, nullptr));
  }
  for (auto& t : args) if (t.is_error()) return {};
  size_t n = b.arity();
  if (args.size() != n) {
    sink_.report(Code::E0409, c->span, fmt::format("{} takes {} argument{}", bt(b.name), n, n == 1 ? "" : "s"))
        .help = fmt::format("signature: `{}`", b.signature);
    return {};
  }
  std::vector<const OverloadInfo*> candidates = b.overloads();
  for (size_t i = 0; i < n; ++i) {
    const Type& t = args[i];
    if (t.optional) { optional_error(c->args[i].value, t); return {}; }
    std::erase_if(candidates, [&](const OverloadInfo* o) { return !accepts(o->params[i].type, t.kind); });
    if (candidates.empty()) {
      sink_.report(Code::E0409, c->args[i].value->span, fmt::format("{} does not accept {}", bt(b.name), bt(t.to_string())))
          .help = fmt::format("signature: `{}`", b.signature);
      return {};
    }
  }
  const OverloadInfo& o = *candidates.front();  // the table's overloads differ in some argument type
  p_.refs[c->id].kind = Ref::Kind::Builtin;
  p_.refs[c->id].overload = &o;
  p_.refs[c->id].index = static_cast<int>(o.id);
  if (o.id == Overload::HashBucket) {
    if (auto* k = p_.const_of(c->args[1].value); !k || std::get<int64_t>(k->v) <= 0) {
      sink_.report(Code::E0409, c->args[1].value->span, "bucket count must be a positive constant");
      return {};
    }
  }
  if (o.fold) {
    std::vector<const Value*> consts;
    for (const Arg& a : c->args) consts.push_back(p_.const_of(a.value));
    if (std::all_of(consts.begin(), consts.end(), [](const Value* v) { return v != nullptr; }) && !fold_builtin(c, o, consts))
      return {};
  }
  if (o.result == SigType::Same) return args[0];
  return Type::of(kind_of(o.result));
}

TypeKind Checker::kind_of(SigType t) {
  switch (t) {
    case SigType::Bool: return TypeKind::Bool;
    case SigType::Int: return TypeKind::Int;
    case SigType::Decimal: return TypeKind::Decimal;
    case SigType::Money: return TypeKind::Money;
    case SigType::String: return TypeKind::String;
    case SigType::Time: return TypeKind::Time;
    case SigType::Date: return TypeKind::Date;
    case SigType::Duration: return TypeKind::Duration;
    case SigType::Enum: return TypeKind::Enum;
    case SigType::Set: return TypeKind::Set;
    case SigType::List: return TypeKind::List;
    case SigType::Same: break;
  }
  return TypeKind::Error;
}

// Folds a call of a foldable overload (every argument constant) with its operations.h
// function (fold.h); false when that faults (reported: the call would fail for every user).
bool Checker::fold_builtin(const CallExpr* c, const OverloadInfo& o, const std::vector<const Value*>& a) {
  fold::Result r = fold::builtin(o, a);
  if (r.status == fold::Status::Fault) { overflow(c); return false; }
  if (r.status == fold::Status::Folded) set_const(c, std::move(r.value));
  return true;
}

// ---- aggregates ----------------------------------------------------------------------------

Type Checker::aggregate(const AggregateExpr* a, Env& env) {
  if (a->source != HistorySource::Events) return history(a, env);
  auto it = p_.events.find(a->event);
  if (it == p_.events.end()) {
    std::vector<std::string> names;
    for (auto& [n, r] : p_.events) names.push_back(n);
    auto& d = sink_.report(Code::E0304, a->event_span, fmt::format("unknown event type {}", bt(a->event)));
    if (auto c = diag::closest_match(a->event, names); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
    else if (names.empty()) d.help = "declare it, e.g. `event " + a->event + " { amount: Money(CNY) }`, or import the schema module";
    return {};
  }
  const RecordInfo* rec = it->second.get();
  use(a->event_span, rec);
  const char* agg = to_string(a->agg);
  const FieldInfo* fi = nullptr;
  if (!a->field.empty()) {
    fi = rec->find(a->field);
    if (!fi) {
      auto& d = sink_.report(Code::E0407, a->field_span,
                             fmt::format("event {} has no field {} to {}", bt(rec->name), bt(a->field), agg));
      if (auto c = diag::closest_match(a->field, rec->field_names()); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
      else {
        std::string list;
        for (auto& f : rec->fields) list += (list.empty() ? "" : ", ") + bt(f.name);
        d.help = fmt::format("{} has {}", bt(rec->name), list);
      }
      return {};
    }
    use(a->field_span, fi);
  }
  // Filter and window first, so their errors appear even when the result type is wrong.
  if (a->filter) {
    Env inner = env;
    inner.event = rec;
    if (check_condition(a->filter, inner, "an aggregate's `where`")) windows::filter_reads_only_event(p_, sink_, a->filter);
  }
  check_window(a, env);
  switch (a->agg) {
    case AggKind::Count:
    case AggKind::Exists:
      if (fi) {
        sink_.report(Code::E0408, a->field_span, fmt::format("`{}` counts whole events, not a field", agg))
            .help = fmt::format("write `{}({} ...)`, or `{}({} where {} != ...)` to filter", agg, rec->name, agg, rec->name, a->field);
        return {};
      }
      return Type::of(a->agg == AggKind::Count ? TypeKind::Int : TypeKind::Bool);
    case AggKind::Sum:
    case AggKind::Avg:
    case AggKind::Min:
    case AggKind::Max: {
      if (!fi) {
        sink_.report(Code::E0408, a->event_span, fmt::format("`{}` needs a field, e.g. `{}({}.amount)`", agg, agg, rec->name));
        return {};
      }
      Type t = fi->type.required();
      bool numeric = t.kind == TypeKind::Int || t.kind == TypeKind::Decimal || t.kind == TypeKind::Money ||
                     (t.kind == TypeKind::Duration && a->agg != AggKind::Avg);
      bool orderable = t.is_orderable() && t.kind != TypeKind::String;
      if ((a->agg == AggKind::Sum || a->agg == AggKind::Avg) ? !numeric : !orderable) {
        sink_.report(Code::E0408, a->field_span,
                     fmt::format("cannot take `{}` of `{}.{}`, which is {}", agg, rec->name, a->field, bt(fi->type.to_string())));
        return {};
      }
      if (a->agg == AggKind::Sum) return t;
      if (a->agg == AggKind::Avg) return (t.kind == TypeKind::Money ? t : Type::of(TypeKind::Decimal)).as_optional();
      return t.as_optional();
    }
    case AggKind::First:
    case AggKind::Last: {
      if (fi) return fi->type.as_optional();
      Type t;
      t.kind = TypeKind::Record;
      t.record = rec;
      return t.as_optional();
    }
  }
  return {};
}

// `received(...)` / `redeemed(...)`: the user's own deliveries and redemptions, counted like
// events (docs/language.md, 3.4). The arguments select them: a strategy or a resource named
// positionally, `resource: R`, `channel: C`, `code: "X"`; none selects every one.
Type Checker::history(const AggregateExpr* a, Env& env) {
  const char* src = to_string(a->source);
  HistoryFilter f;
  bool ok = true;
  auto bad = [&](Span at, std::string msg, std::string help) {
    sink_.report(Code::E0419, at, std::move(msg)).help = std::move(help);
    ok = false;
  };
  auto name_of = [&](const ast::Arg& x) -> const NameExpr* {
    if (x.value && x.value->kind == ExprKind::Name) return static_cast<const NameExpr*>(x.value);
    if (x.value) bad(x.value->span, fmt::format("`{}(...)` needs a name here, not an expression", src),
                     "name a strategy or a resource, e.g. `received(d11_warmup)`");
    return nullptr;
  };
  auto decl_of = [&](const NameExpr* n, bool strategy_ok) -> const Decl* {
    const Symbol* sym = res_.lookup(env.module, n->name, n->span);
    if (!sym) {
      std::vector<std::string> names;
      auto add = [&](ModuleInfo* x) {
        for (auto& [nm, sy] : x->symbols)
          if (sy.decl->kind == DeclKind::Resource || (strategy_ok && sy.decl->kind == DeclKind::Strategy)) names.push_back(nm);
      };
      add(env.module);
      for (auto* imp : res_.visible_imports(env.module)) add(imp->target);
      auto& d = sink_.report(Code::E0204, n->span, fmt::format("unknown {} {}", strategy_ok ? "strategy or resource" : "resource", bt(n->name)));
      if (auto c = diag::closest_match(n->name, names); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
      ok = false;
      return nullptr;
    }
    if (sym->decl->kind != DeclKind::Resource && !(strategy_ok && sym->decl->kind == DeclKind::Strategy)) {
      sink_.report(Code::E0207, n->span, fmt::format("{} is not a {}", bt(n->name), strategy_ok ? "strategy or a resource" : "resource"))
          .secondary.push_back({sym->decl->name_span, "defined here"});
      ok = false;
      return nullptr;
    }
    use(n->span, sym->decl);
    return sym->decl;
  };
  bool positional = false;
  for (const auto& x : a->history_args) {
    Span at = x.name.empty() ? (x.value ? x.value->span : a->history_span) : x.name_span;
    if (x.name.empty() || x.name == "resource") {
      if (x.name.empty() && positional) {
        bad(at, fmt::format("`{}(...)` takes one strategy or resource by position", src),
            "narrow it further with `resource:`, `channel:` or `code:`");
        continue;
      }
      positional |= x.name.empty();
      const NameExpr* n = name_of(x);
      const Decl* d = n ? decl_of(n, x.name.empty()) : nullptr;
      if (!d) continue;
      std::string& slot = d->kind == DeclKind::Strategy ? f.strategy : f.resource;
      if (!slot.empty()) {
        bad(at, fmt::format("`{}(...)` names two {}", src, d->kind == DeclKind::Strategy ? "strategies" : "resources"),
            "a delivery has one strategy and each action one resource: name one");
        continue;
      }
      slot = n->name;
      if (a->source == HistorySource::Redeemed && d->kind == DeclKind::Resource) {
        auto* r = static_cast<const ResourceDecl*>(d);
        if (r->resource_kind == "push" || r->resource_kind == "sms" || r->resource_kind == "email" ||
            r->resource_kind == "points")
          bad(n->span, fmt::format("{} is {}, which is never redeemed", bt(n->name),
                                   r->resource_kind == "points" ? "a points resource"
                                   : r->resource_kind == "push" ? "a push message"
                                                                : "an " + r->resource_kind + " message"),
              fmt::format("coupons and red envelopes are redeemed; write `received({})` for deliveries", n->name));
      }
    } else if (x.name == "channel") {
      const NameExpr* n = name_of(x);
      if (!n) continue;
      const EnumInfo* channel_enum = nullptr;
      for (auto& e : p_.enums) if (e.name == "Channel" && e.decl && res_.prelude() && e.decl == res_.find_prelude_channel()) channel_enum = &e;
      std::string v = n->name;
      if (auto dot = v.rfind('.'); dot != std::string::npos) v = v.substr(dot + 1);
      if (!channel_enum || channel_enum->find(v) < 0) {
        auto& d = sink_.report(Code::E0406, n->span, fmt::format("{} is not a channel", bt(n->name)));
        if (channel_enum) {
          if (auto c = diag::closest_match(v, channel_enum->values); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
          else d.help = "channels are " + join_values(*channel_enum);
        }
        ok = false;
        continue;
      }
      use(n->span, EnumValueRef{channel_enum, channel_enum->find(v)});
      f.channel = v;
    } else if (x.name == "code") {
      if (!x.value || x.value->kind != ExprKind::String) {
        bad(x.value ? x.value->span : at, "`code:` needs the delivery code as a string literal", "e.g. `code: \"D11-W1\"`");
        continue;
      }
      f.code = static_cast<const StringLit*>(x.value)->value;
    } else {
      bad(x.name_span, fmt::format("`{}(...)` has no argument {}", src, bt(x.name)),
          "write a strategy or resource name, `resource: R`, `channel: C` or `code: \"X\"`");
    }
  }
  check_window(a, env);
  if (a->agg != AggKind::Count && a->agg != AggKind::Exists) {
    bad(a->span, fmt::format("`{}` cannot be taken of `{}(...)`: deliveries are counted, they have no values", to_string(a->agg), src),
        fmt::format("write `count({}(...))`, `exists({}(...))` or `{}(...)` alone", src, src, src));
  }
  if (!ok) return {};
  p_.history[a->id] = f;
  return Type::of(a->agg == AggKind::Count ? TypeKind::Int : TypeKind::Bool);
}

void Checker::check_window(const AggregateExpr* a, Env& env) {
  switch (a->window) {
    case WindowKind::All:
    case WindowKind::Previous:
      return;
    case WindowKind::LastN:
    case WindowKind::PreviousN:
      positive_count(a->window_n, a->window_span, "the number of events");
      return;
    case WindowKind::Within:
    case WindowKind::Since: {
      Env plain{env.module};
      plain.owner = env.owner;
      plain.locals = env.locals;
      plain.static_params = env.static_params;
      bool within = a->window == WindowKind::Within;
      Type t = check(a->window_expr, plain, nullptr);
      if (!expect(a->window_expr, t, Type::of(within ? TypeKind::Duration : TypeKind::Time))) return;
      // Windows must be known when the program is compiled, so the runtime can maintain the
      // aggregate incrementally; function parameters qualify because calls are checked to
      // pass constants for them.
      if (!is_static(a->window_expr)) {
        sink_.report(Code::E0417, a->window_expr->span,
                     within ? "an aggregate window must be a constant duration"
                            : "`since` needs a constant time")
            .help = within ? "write a literal such as `30 days`, a `const`, or a function parameter"
                           : "for a window relative to now, write `within <duration>`";
        return;
      }
      windows::collect_static_params(p_, a->window_expr, env);
      if (within) if (p_.const_of(a->window_expr)) windows::positive_duration(p_, sink_, a->window_expr);
      return;
    }
  }
}

// ---- operators -----------------------------------------------------------------------------

Type Checker::unary(const UnaryExpr* u, Env& env) {
  Type t = check(u->operand, env, nullptr);
  if (t.is_error()) return {};
  if (t.optional) { optional_error(u->operand, t); return {}; }
  const Value* v = p_.const_of(u->operand);
  if (u->op == UnaryOp::Not) {
    if (t.kind != TypeKind::Bool) {
      sink_.report(Code::E0405, u->span, fmt::format("`not` needs a `Bool`, found {}", bt(t.to_string())));
      return {};
    }
    if (v) set_const(u, Value{ops::logical_not(std::get<bool>(v->v)) != 0});
    else if (is_static(u->operand)) t_.is_static[u->id] = 1;
    return t;
  }
  switch (t.kind) {
    case TypeKind::Int:
    case TypeKind::Decimal:
    case TypeKind::Money:
    case TypeKind::Duration:
      if (v) {  // NEG
        int64_t r = 0;
        if (ops::neg(fold::slot(*v), r) != ops::Fault::None) { overflow(u); return {}; }
        set_const(u, fold::of_slot(r, t));
      }
      break;
    default:
      sink_.report(Code::E0405, u->span, fmt::format("cannot negate {}", bt(t.to_string())));
      return {};
  }
  if (is_static(u->operand)) t_.is_static[u->id] = 1;
  return t;
}

void Checker::overflow(const Expr* e) {
  sink_.report(Code::E0413, e->span, "constant arithmetic overflows").help = "use smaller values";
}

Type Checker::binary(const BinaryExpr* b, Env& env, const Type* hint) {
  switch (b->op) {
    case BinaryOp::And:
    case BinaryOp::Or: return logical(b, env);
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt: case BinaryOp::Ge:
      return comparison(b, env);
    case BinaryOp::In:
    case BinaryOp::NotIn: return membership(b, env);
    case BinaryOp::Coalesce: return coalesce(b, env, hint);
    default: return arithmetic(b, env);
  }
}

Type Checker::logical(const BinaryExpr* b, Env& env) {
  bool ok = true;
  for (const Expr* side : {b->lhs, b->rhs}) {
    Type t = check(side, env, nullptr);
    if (t.is_error()) { ok = false; continue; }
    if (t.kind != TypeKind::Bool) {
      sink_.report(Code::E0411, side->span,
                   fmt::format("operand of `{}` must be a condition (`Bool`), found {}", to_string(b->op), bt(t.to_string())));
      ok = false;
    } else if (t.optional) {
      optional_error(side, t);
      ok = false;
    }
  }
  if (!ok) return {};
  const Value* l = p_.const_of(b->lhs);
  const Value* r = p_.const_of(b->rhs);
  bool is_and = b->op == BinaryOp::And;
  // Folding follows evaluation order (language.md 3.1): the left operand runs first and the
  // right one only when the left does not decide. So `false and x` is false (x never runs),
  // but `x or true` is not folded: x runs first, and where it fails the whole is an error.
  if (l && std::get<bool>(l->v) != is_and) set_const(b, Value{!is_and});
  else if (l && r) set_const(b, *r);
  return Type::of(TypeKind::Bool);
}

// Checks two operands that must agree; the side that is not a bare name goes first, so an enum
// value on the other side resolves against its type.
std::pair<Type, Type> Checker::check_pair(const Expr* x, const Expr* y, Env& env) {
  bool swap = x && x->kind == ExprKind::Name && y && y->kind != ExprKind::Name;
  const Expr* first = swap ? y : x;
  const Expr* second = swap ? x : y;
  Type a = check(first, env, nullptr);
  Type hint = a.required();
  Type b = check(second, env, a.is_error() ? nullptr : &hint);
  return swap ? std::make_pair(b, a) : std::make_pair(a, b);
}

// Why two types cannot be compared, reported at `e`; false if they cannot.
bool Checker::comparable(const Expr* e, const Type& a, const Type& b, const char* op) {
  if (a.is_numeric() && b.is_numeric()) return true;
  if (a.kind == TypeKind::Money && b.kind == TypeKind::Money) {
    if (a.currency == b.currency) return true;
    currency_mismatch(e, a, b, "comparison");
    return false;
  }
  if ((a.kind == TypeKind::Duration && b.is_numeric()) || (b.kind == TypeKind::Duration && a.is_numeric())) {
    sink_.report(Code::E0404, e->span, fmt::format("cannot compare {} with {}", bt(a.required().to_string()), bt(b.required().to_string())))
        .help = "write the number with a unit, e.g. `30 days`, or convert with `days(...)`";
    return false;
  }
  if ((a.kind == TypeKind::Money && b.is_numeric()) || (b.kind == TypeKind::Money && a.is_numeric())) {
    sink_.report(Code::E0405, e->span, fmt::format("cannot compare {} with {}", bt(a.required().to_string()), bt(b.required().to_string())))
        .help = fmt::format("write the amount with its currency, e.g. `100 {}`", a.kind == TypeKind::Money ? a.currency : b.currency);
    return false;
  }
  if (a.same_base(b) && a.kind != TypeKind::Record && a.kind != TypeKind::Set && a.kind != TypeKind::List) return true;
  sink_.report(Code::E0401, e->span, fmt::format("cannot compare {} with {} using `{}`", bt(a.to_string()), bt(b.to_string()), op));
  return false;
}

Type Checker::comparison(const BinaryExpr* b, Env& env) {
  // `tags == {}`, `{} != recent`: the empty literal takes its type from the other operand, as on
  // the right of `in`; the comparison is an emptiness test (collections are not otherwise
  // compared). Only a `{}` with nothing to type it (`{} == []`, `a == {}` of an Int) is E0426.
  auto empty_lit = [](const Expr* e) {
    return e && e->kind == ExprKind::Collection && static_cast<const CollectionLit*>(e)->elems.empty();
  };
  if ((b->op == BinaryOp::Eq || b->op == BinaryOp::Ne) && empty_lit(b->lhs) != empty_lit(b->rhs)) {
    const Expr* other = empty_lit(b->lhs) ? b->rhs : b->lhs;
    const Expr* empty = other == b->rhs ? b->lhs : b->rhs;
    Type o = check(other, env, nullptr);
    if (o.is_error()) return {};
    bool coll = o.kind == TypeKind::Set || o.kind == TypeKind::List;
    Type e = check(empty, env, coll ? &o : nullptr);
    if (e.is_error()) return {};
    if (o.optional) { optional_error(other, o); return {}; }
    if (e.kind != o.kind) {  // `tags == []`: a set is no list
      sink_.report(Code::E0401, b->span, fmt::format("cannot compare {} with {} using `{}`", bt(o.to_string()),
                                                     bt(e.to_string()), to_string(b->op)))
          .help = fmt::format("compare with `{}` to test whether it is empty", o.kind == TypeKind::Set ? "{}" : "[]");
      return {};
    }
    if (const Value* v = p_.const_of(other))
      if (auto* col = std::get_if<std::shared_ptr<const Value::Collection>>(&v->v); col && *col)
        set_const(b, Value{(*col)->elems.empty() == (b->op == BinaryOp::Eq)});
    return Type::of(TypeKind::Bool);
  }
  auto [l, r] = check_pair(b->lhs, b->rhs, env);
  if (l.is_error() || r.is_error()) return {};
  bool eq = b->op == BinaryOp::Eq || b->op == BinaryOp::Ne;
  if (!eq) {
    if (l.optional) { optional_error(b->lhs, l); return {}; }
    if (r.optional) { optional_error(b->rhs, r); return {}; }
  }
  if (!comparable(b, l, r, to_string(b->op))) return {};
  if (!eq && (!l.is_orderable() || l.kind == TypeKind::Bool)) {
    sink_.report(Code::E0405, b->op_span, fmt::format("{} values have no order", bt(l.required().to_string())))
        .help = l.kind == TypeKind::Enum ? "compare enum values with `==`, `!=` or `in`" : "";
    return {};
  }
  const Value* x = p_.const_of(b->lhs);
  const Value* y = p_.const_of(b->rhs);
  if (x && y) {
    auto res = fold::compare(b->op, *x, *y);
    if (!res) { overflow(b); return {}; }
    set_const(b, Value{*res});
  } else if (same_field(b->lhs, b->rhs)) {
    // `a > a`, `a == a`: a field compared with itself has one result for every user (an absent
    // value equals itself), folded like `1 > 2` so W0101 says so in a segment as in a `who:`,
    // and W0105 leaves such a strategy out. Only where reading the field cannot fail: a required
    // field without a default is an error for a user without it, which the fold would turn into
    // `true` (`age == age` granted users with no `age`); same_field() leaves those to run time,
    // and the never-true ones (`age > age`) to the constraint analysis (W0101/W0106).
    bool same = b->op == BinaryOp::Eq || b->op == BinaryOp::Le || b->op == BinaryOp::Ge;
    set_const(b, Value{same});
  }
  return Type::of(TypeKind::Bool);
}

// Whether both operands name the same profile or event field, one that every user has a value
// for (comparing it with itself has one result for everyone).
bool Checker::same_field(const Expr* a, const Expr* b) {
  if (!a || !b || a->kind != ExprKind::Name || b->kind != ExprKind::Name) return false;
  const Ref& x = p_.refs[a->id];
  const Ref& y = p_.refs[b->id];
  return x.kind == y.kind && (x.kind == Ref::Kind::ProfileField || x.kind == Ref::Kind::EventField) && x.field &&
         x.field == y.field && !(x.kind == Ref::Kind::ProfileField && x.field->profile_read_may_fail());
}

Type Checker::membership(const BinaryExpr* b, Env& env) {
  // The collection goes first so `channel in {App, Web}` and `x in {Rising}` resolve enum values
  // against the element's type.
  Type l;
  Type r;
  bool lhs_name = b->lhs && b->lhs->kind == ExprKind::Name;
  // An empty collection on the right takes its element type from the left (`x in {}`).
  bool rhs_empty = b->rhs && b->rhs->kind == ExprKind::Collection &&
                   static_cast<const CollectionLit*>(b->rhs)->elems.empty();
  if (lhs_name || rhs_empty || !b->rhs || b->rhs->kind != ExprKind::Collection) {
    l = check(b->lhs, env, nullptr);
    Type want = l.is_error() ? Type{} : Type::collection(TypeKind::Set, l.required());
    r = check(b->rhs, env, l.is_error() ? nullptr : &want);
  } else {
    r = check(b->rhs, env, nullptr);
    Type elem = r.elem ? *r.elem : Type{};
    l = check(b->lhs, env, elem.is_error() ? nullptr : &elem);
  }
  if (l.is_error() || r.is_error()) return {};
  if (r.kind != TypeKind::Set && r.kind != TypeKind::List) {
    sink_.report(Code::E0405, b->rhs->span, fmt::format("`in` needs a set or list on the right, found {}", bt(r.to_string())))
        .help = "write the values in braces, e.g. `city in {\"Shanghai\", \"Beijing\"}`";
    return {};
  }
  // Like `==`, membership accepts an optional value: an absent value is in no collection.
  if (r.optional) { optional_error(b->rhs, r); return {}; }
  if (r.elem && !r.elem->is_error() && !comparable(b, l, *r.elem, "in")) return {};
  const Value* x = p_.const_of(b->lhs);
  const Value* y = p_.const_of(b->rhs);
  if (x && y) {
    bool found = false;
    // Each element is compared as `==` compares: when either side is Decimal, Ints are
    // widened to Decimals (`3.0 in [1, 3]` is true), and one that does not fit fails.
    bool widen = l.kind == TypeKind::Decimal || (r.elem && r.elem->kind == TypeKind::Decimal);
    const Value dec{Decimal{}};
    for (auto& v : std::get<std::shared_ptr<const Value::Collection>>(y->v)->elems) {
      if (widen && (!fold::widens(*x, dec) || !fold::widens(v, dec))) { overflow(b); return {}; }
      auto eq = fold::compare(BinaryOp::Eq, *x, v);
      if (!eq) { overflow(b); return {}; }
      if (*eq) found = true;
    }
    set_const(b, Value{b->op == BinaryOp::In ? found : !found});
  }
  return Type::of(TypeKind::Bool);
}

Type Checker::coalesce(const BinaryExpr* b, Env& env, const Type* hint) {
  Type l = check(b->lhs, env, hint);
  if (l.is_error()) { check(b->rhs, env, nullptr); return {}; }
  Type want = l.required();
  Type r = check(b->rhs, env, &want);
  if (r.is_error()) return {};
  if (!l.optional) {
    sink_.report(Code::E0401, b->op_span, fmt::format("left side of `??` is never absent (it is {})", bt(l.to_string())))
        .help = "drop `?? ...`";
    return {};
  }
  if (!(l.required().same_base(r.required()) || (l.is_numeric() && r.is_numeric()))) {
    mismatch(b->rhs, want, r);
    return {};
  }
  Type out = l.kind == TypeKind::Int && r.kind == TypeKind::Decimal ? r : want;
  out.optional = r.optional;
  return out;
}

Type Checker::between(const BetweenExpr* b, Env& env) {
  Type v = check(b->value, env, nullptr);
  Type lo = check(b->lo, env, v.is_error() ? nullptr : &v);
  Type hi = check(b->hi, env, v.is_error() ? nullptr : &v);
  if (v.is_error() || lo.is_error() || hi.is_error()) return {};
  for (auto [e, t] : {std::pair{b->value, v}, {b->lo, lo}, {b->hi, hi}})
    if (t.optional) { optional_error(e, t); return {}; }
  if (!comparable(b->lo, v, lo, "between") || !comparable(b->hi, v, hi, "between")) return {};
  if (!v.is_orderable() || v.kind == TypeKind::Bool) {
    sink_.report(Code::E0405, b->span, fmt::format("{} values have no order", bt(v.to_string())));
    return {};
  }
  const Value* x = p_.const_of(b->value);
  const Value* l = p_.const_of(b->lo);
  const Value* h = p_.const_of(b->hi);
  if (l && h && compare_values(*l, *h) > 0)
    sink_.report(Code::W0101, b->span, fmt::format("range is empty: `{}` is above `{}`", l->to_string(lo), h->to_string(hi)))
        .help = "write the lower bound first";
  if (x && l && h) {
    if (!fold::widens(*x, *l) || !fold::widens(*x, *h) || !fold::widens(*l, *h)) { overflow(b); return {}; }
    auto ge = fold::compare(BinaryOp::Ge, *x, *l), le = fold::compare(BinaryOp::Le, *x, *h);
    if (!ge || !le) { overflow(b); return {}; }
    bool in = *ge && *le;
    set_const(b, Value{b->negated ? !in : in});
  }
  return Type::of(TypeKind::Bool);
}

Type Checker::if_expr(const IfExpr* i, Env& env, const Type* hint) {
  bool cond_ok = check_condition(i->cond, env, "an `if` condition");
  Type a = check(i->then_expr, env, hint);
  Type hint2 = a.is_error() ? Type{} : a.required();
  Type b = check(i->else_expr, env, a.is_error() ? hint : &hint2);
  if (!cond_ok || a.is_error() || b.is_error()) return {};
  Type out;
  if (a.required().same_base(b.required())) out = a;
  else if (a.is_numeric() && b.is_numeric()) out = Type::of(TypeKind::Decimal);
  else {
    auto& d = sink_.report(Code::E0401, i->else_expr->span,
                           fmt::format("`else` gives {} but `then` gives {}", bt(b.to_string()), bt(a.to_string())));
    d.secondary.push_back({i->then_expr->span, "`then` branch"});
    return {};
  }
  out.optional = a.optional || b.optional;
  if (auto* c = p_.const_of(i->cond)) {
    const Expr* taken = std::get<bool>(c->v) ? i->then_expr : i->else_expr;
    if (auto* v = p_.const_of(taken)) {
      // The folded value takes the if's type: an Int branch of a Decimal `if` becomes Decimal.
      if (out.kind == TypeKind::Decimal && std::holds_alternative<int64_t>(v->v)) {
        int64_t r = 0;  // INT_TO_FIX: widening the taken branch fails at run time when it does here
        if (ops::int_to_fix(std::get<int64_t>(v->v), r) == ops::Fault::None) set_const(i, Value{Decimal::from_units(r)});
        else { overflow(taken); return {}; }
      } else {
        set_const(i, *v);
      }
    }
  }
  return out;
}

// Arithmetic typing rules, then exact folding when both sides are constant.
Type Checker::arithmetic(const BinaryExpr* b, Env& env) {
  Type l = check(b->lhs, env, nullptr);
  Type r = check(b->rhs, env, nullptr);
  if (l.is_error() || r.is_error()) return {};
  if (l.optional) { optional_error(b->lhs, l); return {}; }
  if (r.optional) { optional_error(b->rhs, r); return {}; }
  const char* op = to_string(b->op);
  TypeKind L = l.kind, R = r.kind;
  auto is_num = [](TypeKind k) { return k == TypeKind::Int || k == TypeKind::Decimal; };
  Type out;
  // The operator's typed overloads (operators.def); a pair without one is an error below.
  const ArithOverload* o = find_arith(b->op, L, R);
  if (o && L == TypeKind::Money && R == TypeKind::Money && l.currency != r.currency) {
    currency_mismatch(b, l, r, "arithmetic");
    return {};
  }
  if (o) {
    switch (o->result) {
      case ArithOverload::Result::Int: out = Type::of(TypeKind::Int); break;
      case ArithOverload::Result::Decimal: out = Type::of(TypeKind::Decimal); break;
      case ArithOverload::Result::Duration: out = Type::of(TypeKind::Duration); break;
      case ArithOverload::Result::Left: out = l; break;
      case ArithOverload::Result::Right: out = r; break;
    }
  } else {
    auto& d = sink_.report((L == TypeKind::Duration && is_num(R)) || (is_num(L) && R == TypeKind::Duration) ||
                                   ((L == TypeKind::Time || L == TypeKind::Date) && is_num(R))
                               ? Code::E0404
                               : Code::E0405,
                           b->op_span.valid() ? b->op_span : b->span,
                           fmt::format("cannot apply `{}` to {} and {}", op, bt(l.to_string()), bt(r.to_string())));
    if ((L == TypeKind::Money && is_num(R)) || (is_num(L) && R == TypeKind::Money))
      d.help = fmt::format("write the amount with its currency, e.g. `10 {}`", L == TypeKind::Money ? l.currency : r.currency);
    else if (is_num(L) || is_num(R))
      d.help = "write durations with a unit, e.g. `30 days`";
    return {};
  }
  if (is_static(b->lhs) && is_static(b->rhs)) t_.is_static[b->id] = 1;
  const Value* x = p_.const_of(b->lhs);
  const Value* y = p_.const_of(b->rhs);
  if (x && y && !fold_arith(b, *o, *x, *y, out)) return {};
  return out;
}

// ---- folding with the VM's operations --------------------------------------------------
//
// Constants are folded with bytecode/operations.h, the functions the VMs run, on the values as
// the VM holds them, choosing the same operation codegen emits for the operand types (Ints
// widened to Decimals with INT_TO_FIX where the other side is Decimal, MUL_INT when either
// factor is an Int, DIV_FIX for every `/`). A fold that faults is E0413: it would fault for
// every user at run time.

// Folds `x op y` (fold.h). False when folding failed (and was reported), so callers do not
// pile on more errors.
bool Checker::fold_arith(const BinaryExpr* b, const ArithOverload& o, const Value& x, const Value& y, const Type& out) {
  fold::Result r = fold::arith(o, x, y, out);
  if (r.status == fold::Status::Fault) {
    if (r.fault == ops::Fault::DivisionByZero) sink_.report(Code::E0413, b->span, "division by zero in a constant expression");
    else if (r.fault == ops::Fault::TimeRange)
      sink_.report(Code::E0413, b->span,
                   fmt::format("constant time arithmetic leaves crm's time, {} to {}",
                               support::format_time(support::kFirstInstant), support::format_time(support::kLastInstant)))
          .help = "no reader of crm's takes such an instant back; use a smaller duration";
    else if (r.fault == ops::Fault::DateRange)
      sink_.report(Code::E0413, b->span,
                   fmt::format("constant date arithmetic leaves the years 0001-9999, {} to {}",
                               support::format_date(static_cast<int32_t>(support::kFirstDay)),
                               support::format_date(static_cast<int32_t>(support::kLastDay))))
          .help = "use a smaller duration";
    else overflow(b);
    return false;
  }
  if (r.status == fold::Status::Folded) set_const(b, std::move(r.value));
  return true;
}

}  // namespace crm::sema::detail

namespace crm::sema {

using detail::Checker;
struct TypePass::Impl {
  Checker checker;
};

TypePass::TypePass(Program& program, diag::DiagnosticSink& sink, Resolver& resolver, CheckTables& tables)
    : impl_(new Impl{Checker(program, sink, resolver, tables)}) {}
TypePass::~TypePass() = default;
void TypePass::check_field_default(ModuleInfo* m, const ast::FieldDecl* f, const Type& t) {
  impl_->checker.check_field_default(m, f, t);
}
void TypePass::run() { impl_->checker.run(); }

}  // namespace crm::sema
