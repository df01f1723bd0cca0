// declaration_checker.cc - the type pass's rules of declarations: each module's constants,
// segments and functions, resources and their properties (money, draws, funders, templates),
// strategies and their clauses (when, delays and cancellations, schedules, value, recipients,
// actions), budget pools, splits, A/B/n arms and roll-outs, and policies. Their expressions
// are typed by the other half of the Checker (type_checker.cc); the class is in
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

void Checker::run() {
  for (auto& m : p_.modules) check_module(m);
}

// A field's default, met by the resolver while merging the schema (`t`: the field's type).
void Checker::check_field_default(ModuleInfo* m, const FieldDecl* f, const Type& t) {
  Env env{m};
  Type dt = check(f->default_value, env, &t);
  if (t.optional) {
    sink_.report(Code::E0305, f->default_value->span,
                 fmt::format("optional field {} cannot have a default", bt(f->name)))
        .help = "drop the `?` to make the default apply, or drop the default";
  } else if (!t.is_error() && !dt.is_error() && !assignable(dt, t)) {
    sink_.report(Code::E0305, f->default_value->span,
                 fmt::format("default of {} is {}, but the field is {}", bt(f->name), bt(dt.to_string()),
                             bt(t.to_string())));
  } else {
    require_constant(f->default_value, "a field default");
  }
}

// ---- symbols -------------------------------------------------------------------------------

// ---- enums and schema ----------------------------------------------------------------------

// ---- declarations --------------------------------------------------------------------------

void Checker::check_module(ModuleInfo& m) {
  for (Decl* d : m.ast->decls) {
    switch (d->kind) {
      case DeclKind::Const: const_type(&m, static_cast<ConstDecl*>(d)); break;
      case DeclKind::Segment: check_segment(&m, static_cast<SegmentDecl*>(d)); break;
      case DeclKind::Fn: check_fn_body(&m, static_cast<FnDecl*>(d)); break;
      case DeclKind::Resource: check_resource(&m, static_cast<ResourceDecl*>(d)); break;
      case DeclKind::Strategy: check_strategy(&m, static_cast<StrategyDecl*>(d)); break;
      case DeclKind::Policy: check_policy(&m, static_cast<PolicyDecl*>(d)); break;
      case DeclKind::Pool: check_pool(&m, static_cast<PoolDecl*>(d)); break;
      default: break;
    }
  }
}

// Constants and functions used before their declaration are checked on demand, inside the
// expression that uses them: a chain of them in reverse dependency order recurses once per link
// (name -> const_type -> check -> name ...). Past the limit the declaration is reported (once)
// and given the error type; what uses it is then not checked further.
bool Checker::enter_decl(const Decl* d, const char* what) {
  if (t_.decl_depth < t_.max_decl_depth) return true;
  if (!t_.decl_depth_reported) {
    t_.decl_depth_reported = true;
    sink_.report(Code::E0111, d->name_span,
                 fmt::format("{} {} is reached through more than {} constants or functions used before their "
                             "declaration",
                             what, bt(d->name), t_.max_decl_depth))
        .help = "declare constants and functions before the declarations that use them, or raise the limit "
                "with --max-decl-depth";
  }
  return false;
}

Type Checker::const_type(ModuleInfo* m, ConstDecl* c) {
  auto& st = t_.visit[c];
  if (st == VisitState::Done) return p_.decl_types[c];
  if (st == VisitState::InProgress) return {};  // the cycle is reported by check_recursion
  if (!enter_decl(c, "constant")) {
    st = VisitState::Done;
    p_.decl_types[c] = Type{};
    return {};
  }
  DeclDepth depth(t_);
  st = VisitState::InProgress;
  Env env{m};
  env.owner = c;
  Type want = c->type ? res_.resolve_type(m, c->type) : Type{};
  Type t = check(c->value, env, c->type ? &want : nullptr);
  if (c->type && !want.is_error() && !t.is_error() && !assignable(t, want)) {
    mismatch(c->value, want, t);
    t = want;
  } else if (c->type && !want.is_error()) {
    t = want;
  }
  if (!t.is_error()) require_constant(c->value, "a constant");
  p_.decl_types[c] = t;
  st = VisitState::Done;
  return t;
}

namespace {
// Whether `true` or `false` is written in the expression: a segment made constant by one
// (`false and age > 1`, switching it off) is meant, unlike `1 > 2`.
bool writes_bool(const Expr* e) {
  if (!e) return false;
  switch (e->kind) {
    case ExprKind::Bool: return true;
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      return writes_bool(b->lhs) || writes_bool(b->rhs);
    }
    case ExprKind::Unary: return writes_bool(static_cast<const UnaryExpr*>(e)->operand);
    case ExprKind::If: {
      auto* i = static_cast<const IfExpr*>(e);
      return writes_bool(i->cond) || writes_bool(i->then_expr) || writes_bool(i->else_expr);
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      return writes_bool(b->value) || writes_bool(b->lo) || writes_bool(b->hi);
    }
    default: return false;
  }
}
}  // namespace

void Checker::check_segment(ModuleInfo* m, SegmentDecl* s) {
  Env env{m};
  env.owner = s;
  bool ok = check_condition(s->value, env, "a segment");
  // W0101 as in a `who:`: a segment that folds to a constant without naming another declaration
  // (`1 > 2`) is a mistake; `true`/`false` written in it, or a constant flag it names, is meant.
  if (const Value* v = ok ? p_.const_of(s->value) : nullptr;
      v && std::holds_alternative<bool>(v->v) && !writes_bool(s->value) && t_.deps[s].empty())
    sink_.report(Code::W0101, s->value->span,
                 fmt::format("segment `{}` is always {}", s->name, std::get<bool>(v->v) ? "true" : "false"));
}

FnSig& Checker::fn_sig(ModuleInfo* m, FnDecl* f) {
  auto it = t_.sigs.find(f);
  if (it != t_.sigs.end()) return it->second;
  FnSig& sig = t_.sigs[f];
  std::set<std::string> names;
  for (Param* p : f->params) {
    if (!names.insert(p->name).second)
      sink_.report(Code::E0203, p->span, fmt::format("parameter {} is declared twice", bt(p->name)));
    Type t = res_.resolve_type(m, p->type);
    if (p->default_value) {
      Env env{m};
      Type dt = check(p->default_value, env, &t);
      if (!t.is_error() && !dt.is_error() && !assignable(dt, t)) mismatch(p->default_value, t, dt);
      else require_constant(p->default_value, "a parameter default");
    }
    sig.params.push_back({p, t});
  }
  sig.result = res_.resolve_type(m, f->result);
  return sig;
}

void Checker::check_fn_body(ModuleInfo* m, FnDecl* f) {
  FnSig& sig = fn_sig(m, f);
  if (sig.body_checked) return;
  sig.body_checked = true;
  if (!enter_decl(f, "function")) return;
  DeclDepth depth(t_);
  Env env{m};
  env.owner = f;
  env.locals = &sig.params;
  env.static_params = &sig.static_params;
  Type t = check(f->body, env, &sig.result);
  if (!sig.result.is_error() && !t.is_error() && !assignable(t, sig.result)) mismatch(f->body, sig.result, t);
}

const std::vector<Checker::PropSpec>* Checker::props_for(const std::string& kind) {
  static const std::vector<PropSpec> kCoupon = {
      {"discount", PropSpec::MoneyV, true},     {"threshold", PropSpec::MoneyV, false},
      {"category", PropSpec::StringOrSet, false}, {"item", PropSpec::StringOrSet, false},
      {"store", PropSpec::StringOrSet, false},  {"city", PropSpec::StringOrSet, false},
      {"claim", PropSpec::Window, false},       {"use", PropSpec::UseWindow, false},
      {"title", PropSpec::StringV, false},      {"funded", PropSpec::Funders, false}};
  // A shared red envelope pays less to users who claim it again (000 section 4): the second
  // claim is reduced by `decay`, the third and later pay `fixed_from_third`.
  static const std::vector<PropSpec> kRedEnvelope = [] {
    auto v = kCoupon;
    v.push_back({"decay", PropSpec::Ratio, false});
    v.push_back({"fixed_from_third", PropSpec::MoneyV, false});
    return v;
  }();
  static const std::vector<PropSpec> kPoints = {{"amount", PropSpec::IntV, true},
                                                {"claim", PropSpec::Window, false},
                                                {"use", PropSpec::UseWindow, false},
                                                {"title", PropSpec::StringV, false}};
  // Messages may cost money (`cost: 0.05 CNY`, an SMS per segment), reserved from the budget.
  static const std::vector<PropSpec> kPush = {{"title", PropSpec::Template, false},
                                              {"body", PropSpec::Template, true},
                                              {"link", PropSpec::StringV, false},
                                              {"cost", PropSpec::MoneyV, false}};
  static const std::vector<PropSpec> kSms = {{"text", PropSpec::Template, true}, {"cost", PropSpec::MoneyV, false}};
  static const std::vector<PropSpec> kEmail = {{"subject", PropSpec::Template, false},
                                               {"body", PropSpec::Template, true},
                                               {"cost", PropSpec::MoneyV, false}};
  if (kind == "coupon") return &kCoupon;
  if (kind == "red_envelope") return &kRedEnvelope;
  if (kind == "points") return &kPoints;
  if (kind == "push") return &kPush;
  if (kind == "sms") return &kSms;
  if (kind == "email") return &kEmail;
  return nullptr;
}

void Checker::check_resource(ModuleInfo* m, ResourceDecl* r) {
  const auto* specs = props_for(r->resource_kind);
  if (!specs) {
    auto& d = sink_.report(Code::E0504, r->kind_span, fmt::format("unknown resource kind {}", bt(r->resource_kind)));
    auto c = diag::closest_match(r->resource_kind, {"coupon", "red_envelope", "points", "push", "sms", "email"});
    d.help = c.empty() ? "resource kinds are `coupon`, `red_envelope`, `points`, `push`, `sms` and `email`"
                       : fmt::format("did you mean {}?", bt(c));
    return;
  }
  std::map<std::string, const Property*> given;
  Env env{m};
  for (Property* p : r->props) {
    const PropSpec* spec = nullptr;
    for (auto& s : *specs) if (p->key == s.key) spec = &s;
    if (!spec) {
      std::vector<std::string> keys;
      for (auto& s : *specs) keys.push_back(s.key);
      auto& d = sink_.report(Code::E0504, p->key_span,
                             fmt::format("{} has no property {}", bt(r->resource_kind), bt(p->key)));
      if (auto c = diag::closest_match(p->key, keys); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
      else {
        std::string list;
        for (size_t i = 0; i < keys.size(); ++i) list += (i ? ", " : "") + bt(keys[i]);
        d.help = "properties of `" + r->resource_kind + "` are " + list;
      }
      continue;
    }
    if (auto [it, fresh] = given.emplace(p->key, p); !fresh) {
      auto& d = sink_.report(Code::E0504, p->key_span, fmt::format("property {} is given twice", bt(p->key)));
      d.secondary.push_back({it->second->key_span, "first given here"});
      continue;
    }
    if (p->kind == PropKind::Capped && p->key == "discount" && r->resource_kind != "coupon") {
      sink_.report(Code::E0504, p->key_span,
                   fmt::format("a percentage discount is for coupons; {} {} pays a fixed amount", r->resource_kind,
                               bt(r->name)))
          .help = "write `discount: 8 CNY`, or declare a `coupon`";
      continue;
    }
    check_property(env, *spec, p);
  }
  for (auto& s : *specs) {
    if (s.required && !given.count(s.key))
      sink_.report(Code::E0507, r->name_span,
                   fmt::format("{} {} has no {} property", r->resource_kind, bt(r->name), bt(s.key)))
          .help = fmt::format("add `{}: ...` to the resource", s.key);
  }
  // Coupon sanity: a discount at or above its threshold is free money.
  if (given.count("discount") && given["discount"]->kind == PropKind::Draw) {
    const Property* dp = given["discount"];
    auto dr = p_.draws.find(dp);
    if (given.count("decay"))
      sink_.report(Code::E0515, given["decay"]->key_span, fmt::format("red envelope {} draws its discount and decays it", bt(r->name)))
          .help = "a drawn amount is already different on every claim: drop `decay` and `fixed_from_third`";
    if (dr != p_.draws.end() && given.count("threshold")) {
      const Expr* te = given["threshold"]->a;
      const Type& tt = p_.type_of(te);
      if (tt.kind == TypeKind::Money && tt.currency != dr->second.currency) {
        sink_.report(Code::E0402, te->span, fmt::format("threshold and discount mix currencies: {} and {}",
                                                         bt(tt.currency), bt(dr->second.currency)));
      } else if (auto* tv = p_.const_of(te); tv && tt.kind == TypeKind::Money) {
        auto* td = std::get_if<Decimal>(&tv->v);
        if (td && td->units() > 0 && dr->second.max >= td->units()) {
          auto& d = sink_.report(Code::E0508, dp->span,
                                 fmt::format("the largest drawn discount {} is not below the threshold {}",
                                             Decimal::from_units(dr->second.max).to_string() + " " + dr->second.currency,
                                             tv->to_string(tt)));
          d.secondary.push_back({te->span, "threshold set here"});
          d.help = "a coupon's discount must be smaller than the order amount it requires";
        }
      }
    }
  } else if (given.count("discount") && given.count("threshold")) {
    const Property* dp = given["discount"];
    const Expr* de = discount_money(dp);
    const Expr* te = given["threshold"]->a;
    const Type& dt = p_.type_of(de);
    const Type& tt = p_.type_of(te);
    // A fixed discount at or above the threshold makes a qualifying order free. A percentage
    // below 100% never does (it pays P% of the order, whatever its cap: `10% up to 100 CNY,
    // threshold 50 CNY` is a common coupon); at 100% the cap is what is paid, and a cap at or
    // above the threshold makes the orders from the threshold up to the cap free.
    bool full_percent = false;
    if (dp->kind == PropKind::Capped) {
      const Value* pv = dp->a ? p_.const_of(dp->a) : nullptr;
      const Decimal* pd = pv ? std::get_if<Decimal>(&pv->v) : nullptr;
      full_percent = pd && pd->units() >= Decimal::kScale;
    }
    if (dt.kind == TypeKind::Money && tt.kind == TypeKind::Money) {
      if (dt.currency != tt.currency) {
        currency_mismatch(te, tt, dt, "threshold and discount");
      } else if (auto* dv = p_.const_of(de); dv && (dp->kind != PropKind::Capped || full_percent)) {
        if (auto* tv = p_.const_of(te); tv && compare_values(*tv, Value{Decimal{}}) > 0 &&
                                         compare_values(*dv, *tv) >= 0) {
          auto& d = sink_.report(
              Code::E0508, full_percent ? Span::join(dp->a->span, de->span) : de->span,
              full_percent ? fmt::format("discount 100% up to {} is not below the threshold {}: orders from {} to {} are free",
                                         dv->to_string(dt), tv->to_string(tt), tv->to_string(tt), dv->to_string(dt))
                           : fmt::format("discount {} is not below the threshold {}", dv->to_string(dt),
                                         tv->to_string(tt)));
          d.secondary.push_back({te->span, "threshold set here"});
          d.help = full_percent ? "a 100% discount's cap must be below the threshold, or the percentage below 100%"
                                : "a coupon's discount must be smaller than the order amount it requires";
        }
      }
    }
  }
  if (given.count("decay") != given.count("fixed_from_third")) {
    const Property* have = given.count("decay") ? given["decay"] : given["fixed_from_third"];
    sink_.report(Code::E0513, have->key_span,
                 fmt::format("red envelope {} has {} but no {}", bt(r->name), bt(have->key),
                             bt(given.count("decay") ? "fixed_from_third" : "decay")))
        .help = "a shared red envelope declares both: `decay: 50%` (the second claim) and `fixed_from_third: 1 CNY`";
  } else if (given.count("fixed_from_third") && given.count("discount")) {
    const Expr* fe = given["fixed_from_third"]->a;
    const Expr* de = discount_money(given["discount"]);
    const Type& ft = p_.type_of(fe);
    const Type& dt = p_.type_of(de);
    if (ft.kind == TypeKind::Money && dt.kind == TypeKind::Money && ft.currency != dt.currency)
      currency_mismatch(fe, ft, dt, "fixed_from_third and discount");
  }
  t_.resource_claim[r] = claim_window(r);
}

std::optional<std::pair<int64_t, int64_t>> Checker::claim_window(const ResourceDecl* r) {
  for (auto* p : r->props)
    if (p->key == "claim" && p->kind == PropKind::Range) {
      auto* a = p_.const_of(p->a);
      auto* b = p_.const_of(p->b);
      if (a && b && std::holds_alternative<Value::Time>(a->v) && std::holds_alternative<Value::Time>(b->v))
        return std::make_pair(std::get<Value::Time>(a->v).micros, std::get<Value::Time>(b->v).micros);
    }
  return std::nullopt;
}

void Checker::check_property(Env& env, const PropSpec& spec, Property* p) {
  auto expect_kind = [&](PropSpec::Want w) {
    return (w == PropSpec::Window || w == PropSpec::UseWindow) ? "between <time> and <time>" : "a value";
  };
  if (p->kind == PropKind::Funders || spec.want == PropSpec::Funders) {
    if (p->kind != PropKind::Funders || spec.want != PropSpec::Funders) {
      sink_.report(Code::E0504, p->key_span,
                   spec.want == PropSpec::Funders
                       ? fmt::format("{} takes the funders' shares, such as `{{merchant: 70%, platform: 30%}}`", bt(p->key))
                       : fmt::format("{} takes {}, not funders' shares", bt(p->key), expect_kind(spec.want)));
      return;
    }
    check_funders(p);
    return;
  }
  if (p->kind == PropKind::Draw) {
    check_draw(env, spec, p);
    return;
  }
  if (p->kind == PropKind::Range) {
    if (spec.want != PropSpec::Window && spec.want != PropSpec::UseWindow) {
      sink_.report(Code::E0504, p->key_span, fmt::format("{} takes {}, not a time window", bt(p->key), expect_kind(spec.want)));
      return;
    }
    time_window(env, p->a, p->b, fmt::format("{} window", p->key));
    return;
  }
  if (p->kind == PropKind::Capped) {
    if (std::string_view(spec.key) != "discount") {
      sink_.report(Code::E0504, p->key_span, fmt::format("{} takes {}, not a percentage with a cap", bt(p->key), expect_kind(spec.want)));
      return;
    }
    capped_discount(env, p);
    return;
  }
  if (p->kind == PropKind::AfterClaim) {
    if (spec.want != PropSpec::UseWindow) {
      sink_.report(Code::E0504, p->key_span,
                   fmt::format("only `use` can be relative to the claim, not {}", bt(p->key)));
      return;
    }
    Type t = check(p->a, env, nullptr);
    expect(p->a, t, Type::of(TypeKind::Duration));
    if (t.kind == TypeKind::Duration && require_constant(p->a, "a validity period")) {
      windows::positive_duration(p_, sink_, p->a);
      if (auto* v = p_.const_of(p->a); v && std::holds_alternative<Value::Duration>(v->v))
        period_within_100_years(std::get<Value::Duration>(v->v).micros, p->a->span, "a use period",
                                "a coupon without `use:` can be used at any time");
    }
    return;
  }
  if (spec.want == PropSpec::Window || spec.want == PropSpec::UseWindow) {
    sink_.report(Code::E0504, p->key_span,
                 fmt::format("{} takes `between <time> and <time>`{}", bt(p->key),
                             spec.want == PropSpec::UseWindow ? " or `within <duration> after claim`" : ""));
    return;
  }
  Type t = check(p->a, env, nullptr);
  if (t.is_error()) return;
  switch (spec.want) {
    case PropSpec::MoneyV:
      if (t.kind != TypeKind::Money) {
        mismatch_named(p->a, "a money amount such as `10 CNY`", t);
        return;
      }
      if (require_constant(p->a, "a resource property")) {
        if (auto* v = p_.const_of(p->a); v && compare_values(*v, Value{Decimal{}}) < 0)
          sink_.report(Code::E0506, p->a->span, fmt::format("{} cannot be negative", bt(p->key)));
        else if (v && p->key == std::string("discount") && compare_values(*v, Value{Decimal{}}) == 0)
          sink_.report(Code::E0506, p->a->span, "discount must be positive");
      }
      break;
    case PropSpec::IntV:
      if (!expect(p->a, t, Type::of(TypeKind::Int))) return;
      if (require_constant(p->a, "a resource property"))
        if (auto* v = p_.const_of(p->a); v && std::get<int64_t>(v->v) <= 0)
          sink_.report(Code::E0506, p->a->span, fmt::format("{} must be positive", bt(p->key)));
      break;
    case PropSpec::StringV:
      if (expect(p->a, t, Type::of(TypeKind::String))) require_constant(p->a, "a resource property");
      break;
    case PropSpec::StringOrSet:
      if (t.kind == TypeKind::String ||
          (t.kind == TypeKind::Set && t.elem && (t.elem->kind == TypeKind::String || t.elem->is_error())))
        require_constant(p->a, "a resource property");
      else
        mismatch_named(p->a, "a string or a set of strings", t);
      break;
    case PropSpec::Ratio:
      if (!expect(p->a, t, Type::of(TypeKind::Decimal)) || !require_constant(p->a, "a resource property")) break;
      if (auto* v = p_.const_of(p->a); v && (compare_values(*v, Value{Decimal{}}) <= 0 ||
                                             compare_values(*v, Value{Decimal::from_units(Decimal::kScale)}) >= 0))
        sink_.report(Code::E0513, p->a->span, fmt::format("{} must be above 0% and below 100%", bt(p->key)))
            .help = "`decay: 30%` pays 70% of the discount on the second claim";
      break;
    case PropSpec::Template:
      if (expect(p->a, t, Type::of(TypeKind::String)) && require_constant(p->a, "a message template"))
        check_template(static_cast<const StringLit*>(p->a));
      break;
    default:
      break;
  }
}

// `funded: {merchant: 70%, platform: 30%}`: distinct funders, each share above 0% and at most
// 100% in steps of 0.0001%, together exactly 100% (the report splits every subsidy by them).
void Checker::check_funders(const Property* p) {
  std::map<std::string, const FundShare*> seen;
  Decimal sum;
  bool ok = true;
  for (const auto& f : p->funders) {
    if (auto [it, fresh] = seen.emplace(f.funder, &f); !fresh) {
      auto& d = sink_.report(Code::E0560, f.funder_span, fmt::format("funder {} is named twice", bt(f.funder)));
      d.secondary.push_back({it->second->funder_span, "first named here"});
      d.help = "give each funder one share";
      ok = false;
      continue;
    }
    auto share = Decimal::parse(f.share);
    if (!share || share->units() <= 0 || share->units() > 100 * Decimal::kScale || share->units() % 100 != 0) {
      sink_.report(Code::E0560, f.share_span, fmt::format("funder {} has the share {}%", bt(f.funder), f.share))
          .help = "a share is above 0% and at most 100%, with at most four decimals";
      ok = false;
      continue;
    }
    sum = Decimal::from_units(sum.units() + share->units());
  }
  if (ok && sum.units() != 100 * Decimal::kScale) {
    sink_.report(Code::E0560, p->key_span, fmt::format("the funders' shares add up to {}%, not 100%", sum.to_string()))
        .help = "every subsidy is split among its funders: their shares must add up to exactly 100%";
  }
}

// ---- random amounts ------------------------------------------------------------------------

// A constant positive money amount in millionths, of `currency` (set from the first value).
std::optional<int64_t> Checker::draw_money(Env& env, const Expr* e, std::string& currency, const char* what) {
  if (!e) return std::nullopt;
  Type t = check(e, env, nullptr);
  if (t.is_error()) return std::nullopt;
  if (t.kind != TypeKind::Money) {
    mismatch_named(e, "a money amount such as `1 CNY`", t);
    return std::nullopt;
  }
  if (!currency.empty() && t.currency != currency) {
    sink_.report(Code::E0402, e->span, fmt::format("{} mixes currencies: {} and {}", what, bt(currency), bt(t.currency)))
        .help = "every value of one draw is in one currency";
    return std::nullopt;
  }
  currency = t.currency;
  if (!require_constant(e, "a drawn amount")) return std::nullopt;
  auto* v = p_.const_of(e);
  auto* d = v ? std::get_if<Decimal>(&v->v) : nullptr;
  if (!d) return std::nullopt;
  return d->units();
}

// `random A .. B step S` or `random {v: p%, ...}`: the discount of a coupon or red envelope,
// drawn per grant (docs/semantics.md, "Random rewards").
void Checker::check_draw(Env& env, const PropSpec& spec, Property* p) {
  if (spec.want != PropSpec::MoneyV || p->key != std::string("discount")) {
    sink_.report(Code::E0515, p->key_span, fmt::format("{} cannot be drawn at random", bt(p->key)))
        .help = "only the `discount` of a coupon or red envelope can be `random`";
    return;
  }
  Draw d;
  bool ok = true;
  if (p->draw_table.empty()) {
    d.range = true;
    auto lo = draw_money(env, p->a, d.currency, "the draw");
    auto hi = draw_money(env, p->b, d.currency, "the draw");
    std::optional<int64_t> step;
    if (p->step) step = draw_money(env, p->step, d.currency, "the draw");
    else {
      sink_.report(Code::E0515, p->span, "a random range needs a `step`")
          .help = fmt::format("write e.g. `random 1 {0} .. 8 {0} step 0.5 {0}`", d.currency.empty() ? "CNY" : d.currency);
      ok = false;
    }
    if (!lo || !hi || !step || !ok) return;
    if (*lo <= 0) {
      sink_.report(Code::E0515, p->a->span, "the smallest drawn amount must be positive");
      return;
    }
    if (*step <= 0) {
      sink_.report(Code::E0515, p->step->span, "the step must be positive");
      return;
    }
    if (*hi <= *lo) {
      sink_.report(Code::E0515, p->b->span, "the range's end must be above its start")
          .help = "write the smaller amount first: `random 1 CNY .. 8 CNY step 0.5 CNY`";
      return;
    }
    if ((*hi - *lo) % *step != 0) {
      sink_.report(Code::E0515, p->step->span,
                   fmt::format("{1} {0} .. {2} {0} is not a whole number of steps of {3} {0}", d.currency,
                               Decimal::from_units(*lo).to_string(), Decimal::from_units(*hi).to_string(),
                               Decimal::from_units(*step).to_string()))
          .help = "the end must be the start plus a whole number of steps, so every value is drawn equally often";
      return;
    }
    d.lo = *lo, d.hi = *hi, d.step = *step, d.max = *hi;
  } else {
    int64_t total = 0;
    for (auto& e : p->draw_table) {
      auto v = draw_money(env, e.value, d.currency, "the draw");
      auto w = Decimal::parse(e.weight);
      if (!w || w->units() <= 0 || w->units() % 100 != 0) {
        sink_.report(Code::E0515, e.weight_span,
                     fmt::format("the probability `{}%` must be above 0% with at most four decimals", e.weight));
        ok = false;
        continue;
      }
      if (!v) { ok = false; continue; }
      if (*v <= 0) {
        sink_.report(Code::E0515, e.value->span, "a drawn amount must be positive");
        ok = false;
        continue;
      }
      for (size_t i = 0; i < d.values.size(); ++i)
        if (d.values[i] == *v) {
          auto& r = sink_.report(Code::E0515, e.value->span, "this amount is listed twice");
          r.secondary.push_back({p->draw_table[i].value->span, "first listed here"});
          r.help = "give each amount once, with the sum of its probabilities";
          ok = false;
        }
      d.values.push_back(*v);
      d.weights.push_back(w->units() / 100);
      total += w->units() / 100;
      d.max = std::max(d.max, *v);
    }
    if (!ok) return;
    if (total != 1'000'000) {
      sink_.report(Code::E0515, p->span,
                   fmt::format("the probabilities add up to {}%, not 100%",
                               Decimal::from_units(total * 100).to_string()))
          .help = "every draw gives one of the listed amounts, so their probabilities must add up to exactly 100%";
      return;
    }
  }
  p_.draws[p] = std::move(d);
}

// `with chance P%` in millionths of one (50,000 for 5%); nullopt after a diagnostic.
std::optional<int64_t> Checker::chance_of(const Action& a) {
  auto w = Decimal::parse(a.chance);
  if (!w || w->units() <= 0 || w->units() > 100 * Decimal::kScale || w->units() % 100 != 0) {
    sink_.report(Code::E0515, a.chance_span, fmt::format("a chance of `{}%` is not above 0% and at most 100%", a.chance))
        .help = "write e.g. `with chance 5%` (at most four decimals)";
    return std::nullopt;
  }
  return w->units() / 100;
}

// `discount: P% up to CAP`: a share of the order amount, above 0% and at most 100%, never more
// than the cap (a positive constant amount: what the budget reserves at grant).
void Checker::capped_discount(Env& env, Property* p) {
  if (p->a) {
    Type t = check(p->a, env, nullptr);
    if (!t.is_error() && expect(p->a, t, Type::of(TypeKind::Decimal)) && require_constant(p->a, "a resource property"))
      if (auto* v = p_.const_of(p->a); v && (compare_values(*v, Value{Decimal{}}) <= 0 ||
                                             compare_values(*v, Value{Decimal::from_units(Decimal::kScale)}) > 0))
        sink_.report(Code::E0505, p->a->span, "a percentage discount must be above 0% and at most 100%")
            .help = "`discount: 10% up to 20 CNY` takes a tenth of the order amount, at most 20 CNY";
  }
  if (!p->b) return;
  Type t = check(p->b, env, nullptr);
  if (t.is_error()) return;
  if (t.kind != TypeKind::Money) {
    mismatch_named(p->b, "a money amount such as `20 CNY` (the cap)", t);
    return;
  }
  if (require_constant(p->b, "a resource property"))
    if (auto* v = p_.const_of(p->b); v && compare_values(*v, Value{Decimal{}}) <= 0)
      sink_.report(Code::E0506, p->b->span, "the cap of a percentage discount must be positive")
          .help = "the budget reserves the cap at grant; the subsidy is the percentage of the order amount, at most the cap";
}

// `{field}` and `{field|default}` name profile fields; `{{` and `}}` are literal braces
// (message_template.h). Each name is recorded as a use of the field, with its span inside the
// string literal, so the editor's references and rename see it.
void Checker::check_template(const StringLit* s) {
  if (!s || s->kind != ExprKind::String) return;
  std::optional<TemplateError> err;
  auto pieces = parse_template(s->value, err);
  // Offsets in the unescaped text to offsets in the source: each escape (`\"`, `\n`, `\t`, `\\`)
  // is two bytes written for one.
  std::vector<uint32_t> raw;
  if (s->span.valid() && s->span.file < p_.sources.size()) {
    std::string_view src = p_.sources.file(s->span.file).text();
    if (s->span.end <= src.size() && s->span.end > s->span.begin + 1 && src[s->span.begin] == '"')
      for (uint32_t i = s->span.begin + 1; i + 1 < s->span.end; ++i) {
        raw.push_back(i);
        if (src[i] == '\\') ++i;
      }
  }
  auto span_at = [&](size_t at, size_t len) {
    if (raw.size() != s->value.size() || at + len > raw.size() || len == 0) return s->span;
    return Span{s->span.file, raw[at], raw[at + len - 1] + 1};
  };
  if (err) sink_.report(Code::E0415, span_at(err->at, 1), err->message).help = err->help;
  for (const auto& piece : pieces) {
    if (!piece.is_field) continue;
    Span where = span_at(piece.field_at, piece.field.size());
    const FieldInfo* f = p_.profile.find(piece.field);
    if (!f) {
      auto& d = sink_.report(Code::E0415, where, fmt::format("template names {}, which is not a profile field", bt(piece.field)));
      if (auto c = diag::closest_match(piece.field, p_.profile.field_names()); !c.empty())
        d.help = fmt::format("did you mean `{{{}}}`?", c);
      continue;
    }
    use(where, f);
    if (f->type.optional && !piece.has_fallback)
      sink_.report(Code::E0425, where,
                   fmt::format("template names {}, an optional profile field, without a default", bt(piece.field)))
          .help = fmt::format("write `{{{}|...}}` with the text to show when a user has no value", piece.field);
  }
}

// ---- strategies ----------------------------------------------------------------------------

// `value:` (issue 13 item 8): what one delivery of the strategy is worth, the key by which the
// strategies one event triggers are decided (highest first; docs/semantics.md). One event's
// candidates must be comparable, so every `value:` of the program has one type: Decimal, or
// Money of one currency. Only strategies triggered by an event compete for it: a schedule
// decides each instant as a unit of its own.
void Checker::check_value(const StrategyDecl* s, const Clause* c, Env& env, const std::map<ClauseKind, const Clause*>& seen) {
  if (auto w = seen.find(ClauseKind::When); w != seen.end() && w->second->trigger != TriggerKind::On)
    sink_.report(Code::E0522, c->keyword_span, fmt::format("strategy {} is scheduled: its `value:` would rank nothing", bt(s->name)))
        .help = "`value:` ranks the strategies that one event triggers (`when: on <Event>`); a scheduled strategy decides "
                "on its own; rank it with `priority:`";
  Type t = check(c->expr, env, nullptr);
  if (t.is_error()) return;
  if (t.kind != TypeKind::Money && t.kind != TypeKind::Decimal) {
    sink_.report(Code::E0520, c->expr->span, fmt::format("`value:` must be a Money or Decimal amount, found {}", bt(t.to_string())))
        .help = t.kind == TypeKind::Int ? "write a Decimal, e.g. `decimal(...)` or `... * 1.0`, or a money amount such as `5 CNY`"
                                        : "e.g. the expected margin, `(last(Order).amount ?? 0 CNY) * 0.1 - 5 CNY`";
    return;
  }
  if (t.optional) {
    optional_error(c->expr, t);
    return;
  }
  if (!first_value_) {
    first_value_ = {t, c->expr->span, s->name};
  } else if (!first_value_->type.same_base(t)) {
    auto& d = sink_.report(Code::E0521, c->expr->span,
                           fmt::format("`value:` of strategy {} is {}, but strategy {} has a value in {}", bt(s->name),
                                       bt(t.to_string()), bt(first_value_->strategy), bt(first_value_->type.to_string())));
    d.secondary.push_back({first_value_->span, "the first `value:` here"});
    d.help = "strategies are ranked by value against each other, so every `value:` of a program must have one type";
  }
}

void Checker::check_strategy(ModuleInfo* m, StrategyDecl* s) {
  std::map<ClauseKind, const Clause*> seen;
  static const std::pair<ClauseKind, const char*> kNames[] = {
      {ClauseKind::Who, "who"},           {ClauseKind::When, "when"},   {ClauseKind::Where, "where"},
      {ClauseKind::What, "what"},         {ClauseKind::HowMuch, "how much"}, {ClauseKind::Split, "split"},
      {ClauseKind::Priority, "priority"}, {ClauseKind::Zone, "zone"}, {ClauseKind::Exclusive, "exclusive"},
      {ClauseKind::Value, "value"},       {ClauseKind::Rollout, "rollout"}};
  auto name_of = [&](ClauseKind k) {
    for (auto& [kk, n] : kNames) if (kk == k) return n;
    return "?";
  };
  for (const Clause* c : s->clauses) {
    if (auto [it, fresh] = seen.emplace(c->kind, c); !fresh) {
      auto& d = sink_.report(Code::E0502, c->keyword_span,
                             fmt::format("strategy {} has two `{}:` clauses", bt(s->name), name_of(c->kind)));
      d.secondary.push_back({it->second->keyword_span, "first one here"});
      d.help = c->kind == ClauseKind::Who || c->kind == ClauseKind::Where ? "combine the conditions with `and`"
                                                                           : "keep one of them";
    }
  }
  for (ClauseKind k : {ClauseKind::Who, ClauseKind::When, ClauseKind::What}) {
    if (seen.count(k)) continue;
    auto& d = sink_.report(Code::E0501, s->name_span,
                           fmt::format("strategy {} has no `{}:` clause", bt(s->name), name_of(k)));
    d.help = k == ClauseKind::Who    ? "say whom it targets, e.g. `who: loyal`; `who: true` targets everyone"
             : k == ClauseKind::When ? "say when it fires, e.g. `when: on Order` or `when: at 2026-11-10T20:00+08:00`"
                                     : "say what it delivers, e.g. `what: grant RE10 via App`";
  }

  Env env{m};
  env.owner = s;
  // The trigger event's fields are in scope everywhere in an event-triggered strategy.
  if (auto it = seen.find(ClauseKind::When); it != seen.end() && it->second->trigger == TriggerKind::On) {
    const Clause* w = it->second;
    if (auto e = p_.events.find(w->event); e != p_.events.end()) {
      env.event = e->second.get();
      use(w->event_span, env.event);
    } else {
      std::vector<std::string> names;
      for (auto& [n, r] : p_.events) names.push_back(n);
      auto& d = sink_.report(Code::E0304, w->event_span, fmt::format("unknown event type {}", bt(w->event)));
      if (auto c = diag::closest_match(w->event, names); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
      env.event_unknown = true;
    }
  }

  std::optional<std::pair<int64_t, int64_t>> window;
  std::string budget_currency;
  Span budget_span;
  const Limit* pacing = nullptr;
  bool has_stock_or_budget = false;
  const Limit* pool_limit = nullptr;  // `from pool NAME`
  const PoolDecl* pool = nullptr;
  const Clause* split = nullptr;
  for (const Clause* c : s->clauses) {
    switch (c->kind) {
      case ClauseKind::Who: warn_if_false(c->expr, check_condition(c->expr, env, "`who:`"), "who"); break;
      case ClauseKind::Where: warn_if_false(c->expr, check_condition(c->expr, env, "`where:`"), "where"); break;
      case ClauseKind::Value: check_value(s, c, env, seen); break;
      case ClauseKind::When: window = check_when(env, c); break;
      case ClauseKind::What: break;  // after the loop: needs the budget currency
      case ClauseKind::HowMuch:
        for (const Limit& l : c->limits) {
          if (l.kind == Limit::Kind::Budget) {
            Type t = check(l.budget, env, nullptr);
            if (t.is_error()) continue;
            if (t.kind != TypeKind::Money) { mismatch_named(l.budget, "a money amount such as `10000 CNY`", t); continue; }
            has_stock_or_budget = true;
            if (require_constant(l.budget, "a budget")) {
              if (auto* v = p_.const_of(l.budget); v && compare_values(*v, Value{Decimal{}}) <= 0)
                sink_.report(Code::E0506, l.budget->span, "budget must be positive");
              budget_currency = t.currency;
              budget_span = l.budget->span;
            }
          } else if (l.kind == Limit::Kind::Pool) {
            if (pool_limit) {
              auto& d = sink_.report(Code::E0541, l.span, fmt::format("strategy {} draws from two pools", bt(s->name)));
              d.secondary.push_back({pool_limit->span, "first one here"});
              d.help = "a strategy draws from one pool; its own `budget` and `stock` may limit it further";
              continue;
            }
            pool_limit = &l;
            pool = resolve_pool(m, l);
          } else if (l.kind == Limit::Kind::Pacing) {
            pacing = &l;
            if (l.count != "even")
              sink_.report(Code::E0512, l.span, fmt::format("unknown pacing {}", bt(l.count))).help =
                  "`pacing even` spreads the stock or budget evenly over the `when:` window";
          } else {
            has_stock_or_budget |= l.kind == Limit::Kind::Stock;
            positive_count(l.count, l.span, l.kind == Limit::Kind::Stock ? "stock" : "a per-user limit");
            if (l.kind == Limit::Kind::PerUser) check_period(l.period);
          }
        }
        break;
      case ClauseKind::Split: {
        split = c;
        check_split(c);
        break;
      }
      case ClauseKind::Zone: {
        std::string why;
        if (!support::load_zone(c->number, why))
          sink_.report(Code::E0104, c->number_span, why)
              .help = "write a zone name such as `\"Asia/Shanghai\"` or a fixed UTC offset such as `\"+08:00\"`; "
                      "calendar periods (`per day`), quiet hours, schedule clock times and `today()` follow it";
        break;
      }
      case ClauseKind::Exclusive:
        if (c->number.empty())
          sink_.report(Code::E0104, c->number_span, "exclusive group name is empty")
              .help = "strategies that share a group name deliver to a user at most one of them, e.g. `exclusive: \"d11-wave\"`";
        break;
      case ClauseKind::Priority:
        if (c->number.find('.') != std::string::npos || c->number.size() > 9)
          sink_.report(Code::E0401, c->number_span, "priority must be a whole number below 1000000000");
        break;
      case ClauseKind::Rollout: break;  // after the loop: needs the split and the window
    }
  }
  if (auto r = seen.find(ClauseKind::Rollout); r != seen.end())
    check_rollout(env, s, r->second, seen.count(ClauseKind::When) ? seen[ClauseKind::When] : nullptr, window, split);
  if (pacing && pacing->count == "even") {
    if (!has_stock_or_budget)
      sink_.report(Code::E0512, pacing->span, fmt::format("strategy {} paces nothing: it has no stock or budget", bt(s->name)))
          .help = "add `stock N` or `budget AMOUNT` to `how much:`";
    else if (auto w = seen.find(ClauseKind::When); w != seen.end() && !w->second->from)
      sink_.report(Code::E0512, pacing->span, fmt::format("strategy {} has pacing but no `when:` window", bt(s->name)))
          .help = "pacing spreads stock or budget over the window: add `between <time> and <time>` to `when:`";
  }
  if (auto it = seen.find(ClauseKind::What); it != seen.end()) {
    for (const Action& a : it->second->actions) {
      check_action(m, s, a, window, budget_currency, budget_span);
      if (pool && pool_limit) pool_currency(m, a, pool, pool_limit->pool_span);
      check_arm(s, a, split);
    }
    check_recipients(env, s, it->second, seen.count(ClauseKind::When) ? seen[ClauseKind::When] : nullptr);
    if (auto w = seen.find(ClauseKind::When); w != seen.end() && w->second->trigger == TriggerKind::Every)
      warn_schedule_rows(s, w->second, window, it->second->actions.size());
  }
}

// `with chance P%` and `to FIELD` (docs/language.md, "Random and referral rewards"): the
// recipient is a String field of the trigger event holding a user id, the same for every
// action of the strategy (one delivery goes to one user).
void Checker::check_recipients(Env& env, const StrategyDecl* s, const Clause* what, const Clause* when) {
  const Action* first = nullptr;
  const FieldInfo* first_field = nullptr;
  bool consistent = true;
  for (const Action& a : what->actions) {
    if (!a.chance.empty()) chance_of(a);
    const FieldInfo* f = nullptr;
    if (a.recipient) {
      if (when && when->trigger != TriggerKind::On) {
        sink_.report(Code::E0516, a.recipient->span,
                     fmt::format("strategy {} runs on a schedule: there is no trigger event to name a recipient", bt(s->name)))
            .help = "a referral reward reacts to an event, e.g. `when: on Order` with `grant reward to event.referrer`";
        consistent = false;
        continue;
      }
      Type t = check(a.recipient, env, nullptr);
      if (t.is_error()) { consistent = false; continue; }
      const Expr* e = a.recipient;
      if (e->kind == ExprKind::Name && p_.refs[e->id].kind == Ref::Kind::EventField) {
        f = p_.refs[e->id].field;
      } else if (e->kind == ExprKind::Field) {
        auto* fe = static_cast<const FieldExpr*>(e);
        if (fe->base && fe->base->kind == ExprKind::Name && static_cast<const NameExpr*>(fe->base)->name == "event" &&
            env.event)
          f = env.event->find(fe->field);
      }
      if (!f) {
        sink_.report(Code::E0516, e->span, "the recipient must be a field of the trigger event")
            .help = "name the event field holding the user's id, e.g. `to event.referrer`";
        consistent = false;
        continue;
      }
      if (t.kind != TypeKind::String) {
        sink_.report(Code::E0516, e->span,
                     fmt::format("the recipient {} is {}, not a user id (`String`)", bt(f->name), bt(t.to_string())))
            .help = "user ids are strings: declare the field as `String` (or `String?` when some events have none)";
        consistent = false;
        continue;
      }
      if (f->name == "user") {
        sink_.report(Code::E0516, e->span, "`event.user` is the event's own user, who receives actions anyway")
            .help = "drop `to event.user`, or name the field of the other user, e.g. `to event.referrer`";
        consistent = false;
        continue;
      }
      p_.recipients[e] = f;
    }
    if (!first) {
      first = &a;
      first_field = f;
    } else if (consistent && f != first_field) {
      auto& d = sink_.report(Code::E0517, a.recipient ? a.recipient->span : a.resource_span,
                             fmt::format("strategy {} delivers to {} here but to {} in its first action", bt(s->name),
                                         f ? bt("event." + f->name) : std::string("the event's user"),
                                         first_field ? bt("event." + first_field->name) : std::string("the event's user")));
      d.secondary.push_back({first->recipient ? first->recipient->span : first->resource_span, "first action"});
      d.help = "one delivery goes to one user (its caps and policies are that user's): reward each user in a strategy of its own";
      consistent = false;
    }
  }
}

// ---- budget pools and A/B/n arms -----------------------------------------------------------

// `pool NAME { budget 10000 CNY  stock 20000 }`: only campaign-wide limits, at least one.
void Checker::check_pool(ModuleInfo* m, PoolDecl* pd) {
  Env env{m};
  env.owner = pd;
  const Limit* seen[2] = {nullptr, nullptr};  // budget, stock
  for (const Limit& l : pd->limits) {
    if (l.kind != Limit::Kind::Budget && l.kind != Limit::Kind::Stock) {
      sink_.report(Code::E0540, l.span, fmt::format("pool {} may hold only `budget` and `stock`", bt(pd->name)))
          .help = "per-user limits and pacing belong to each strategy's `how much:`, next to `from pool " + pd->name + "`";
      continue;
    }
    const Limit*& first = seen[l.kind == Limit::Kind::Stock];
    if (first) {
      auto& d = sink_.report(Code::E0540, l.span,
                             fmt::format("pool {} declares `{}` twice", bt(pd->name), l.kind == Limit::Kind::Stock ? "stock" : "budget"));
      d.secondary.push_back({first->span, "first one here"});
      continue;
    }
    first = &l;
    if (l.kind == Limit::Kind::Stock) {
      positive_count(l.count, l.span, "a pool's stock");
      continue;
    }
    Type t = check(l.budget, env, nullptr);
    if (t.is_error()) continue;
    if (t.kind != TypeKind::Money) { mismatch_named(l.budget, "a money amount such as `10000 CNY`", t); continue; }
    if (require_constant(l.budget, "a pool's budget"))
      if (auto* v = p_.const_of(l.budget); v && compare_values(*v, Value{Decimal{}}) <= 0)
        sink_.report(Code::E0506, l.budget->span, "a pool's budget must be positive");
  }
  if (!seen[0] && !seen[1])
    sink_.report(Code::E0540, pd->name_span, fmt::format("pool {} declares neither a budget nor a stock", bt(pd->name)))
        .help = "e.g. `pool " + pd->name + " { budget 10000 CNY  stock 20000 }`";
}

// The pool a strategy draws from; null (reported) when the name is unknown or not a pool.
const PoolDecl* Checker::resolve_pool(ModuleInfo* m, const Limit& l) {
  if (l.pool.empty()) return nullptr;  // made up by error recovery
  const Symbol* sym = res_.lookup(m, l.pool, l.pool_span);
  if (!sym) {
    std::vector<std::string> names;
    auto add = [&](ModuleInfo* x) {
      for (auto& [n, sy] : x->symbols) if (sy.decl->kind == DeclKind::Pool) names.push_back(n);
    };
    add(m);
    for (auto* imp : res_.visible_imports(m)) add(imp->target);
    auto& d = sink_.report(Code::E0204, l.pool_span, fmt::format("unknown pool {}", bt(l.pool)));
    if (auto c = diag::closest_match(l.pool, names); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
    else d.help = fmt::format("declare it once: `pool {} {{ budget 10000 CNY }}`", l.pool);
    return nullptr;
  }
  if (sym->decl->kind != DeclKind::Pool) {
    sink_.report(Code::E0207, l.pool_span, fmt::format("{} is not a pool", bt(l.pool)))
        .secondary.push_back({sym->decl->name_span, "defined here"});
    return nullptr;
  }
  use(l.pool_span, sym->decl);
  return static_cast<const PoolDecl*>(sym->decl);
}

// A pool's budget pays for the strategy's resources exactly like the strategy's own budget (a
// coupon's face value, a message's cost): one currency, checked by the same rule.
void Checker::pool_currency(ModuleInfo* m, const Action& a, const PoolDecl* pool, Span pool_span) {
  std::string currency;
  for (const Limit& l : pool->limits)
    if (l.kind == Limit::Kind::Budget && l.budget) {
      const Type& t = p_.type_of(l.budget);
      if (t.kind == TypeKind::Money) currency = t.currency;
    }
  if (currency.empty()) return;
  const Symbol* sym = res_.lookup(m, a.resource, Span{});
  if (!sym || sym->decl->kind != DeclKind::Resource) return;  // reported by check_action
  budget_currency_matches(static_cast<const ResourceDecl*>(sym->decl), currency, pool_span,
                          fmt::format("pool {} has a budget in `{}`", bt(pool->name), currency));
}

// What a resource takes from a budget must be in the budget's currency: a coupon's or red
// envelope's discount (a percentage discount's cap, every amount of a random draw) and a message's
// cost. `budget` says whose budget it is (the strategy's own or a pool's), reported at `at`.
void Checker::budget_currency_matches(const ResourceDecl* r, const std::string& currency, Span at,
                                      const std::string& budget) {
  auto help = [&](const std::string& key, const std::string& other) {
    return fmt::format("write the {} of {} in `{}`, or pay it from a budget in `{}`: there is no exchange rate", key,
                       bt(r->name), currency, other);
  };
  for (auto* p : r->props)
    if (auto dr = p_.draws.find(p); p->key == "discount" && dr != p_.draws.end()) {
      if (dr->second.currency != currency) {
        auto& d = sink_.report(Code::E0402, at,
                               fmt::format("{} but {} gives a discount in `{}`", budget, bt(r->name), dr->second.currency));
        d.secondary.push_back({p->span, "discount set here"});
        d.help = help("discount", dr->second.currency);
      }
    } else if ((p->key == "discount" || p->key == "cost") && p->kind != PropKind::Draw && discount_money(p)) {
      const Type& t = p_.type_of(discount_money(p));
      if (t.kind == TypeKind::Money && t.currency != currency) {
        auto& d = sink_.report(Code::E0402, at,
                               fmt::format("{} but {} {} in `{}`", budget, bt(r->name),
                                           p->key == "cost" ? "costs" : "gives a discount", t.currency));
        d.secondary.push_back({discount_money(p)->span, p->key + " set here"});
        d.help = help(p->key, t.currency);
      }
    }
}

// `split: control P%`, `split: variants A 1%, B 1%` or both: every share above 0% in steps of
// 0.01% (the split's 10,000 buckets), arms named once, all shares together at most 100%.
void Checker::check_split(const Clause* c) {
  int64_t total = 0;  // basis points
  auto share = [&](const std::string& text, Span span, const std::string& what) -> int64_t {
    if (text.empty()) return 0;  // made up by error recovery
    auto v = Decimal::parse(text);
    if (!v || *v <= Decimal{} || *v >= Decimal::from_units(100 * Decimal::kScale)) {
      sink_.report(Code::E0505, span, fmt::format("{} `{}%` must be above 0% and below 100%", what, text));
      return 0;
    }
    int64_t units = v->units();
    if (units % (Decimal::kScale / 100) != 0) {
      sink_.report(Code::E0505, span, fmt::format("{} `{}%` is finer than 0.01%", what, text))
          .help = "users are split into 10,000 buckets: shares are multiples of 0.01%";
      return 0;
    }
    return units / (Decimal::kScale / 100);
  };
  if (c->has_control) total += share(c->number, c->number_span, "control share");
  std::map<std::string, const Clause::ArmShare*> names;
  for (const auto& a : c->arms) {
    total += share(a.percent, a.percent_span, fmt::format("share of arm {}", bt(a.name)));
    if (auto [it, fresh] = names.emplace(a.name, &a); !fresh) {
      auto& d = sink_.report(Code::E0542, a.name_span, fmt::format("arm {} is named twice", bt(a.name)));
      d.secondary.push_back({it->second->name_span, "first one here"});
    }
  }
  if (total > 10000) {
    Span all = c->has_control ? c->number_span : c->arms.front().name_span;
    if (!c->arms.empty()) all = Span::join(all, c->arms.back().percent_span.valid() ? c->arms.back().percent_span : all);
    sink_.report(Code::E0505, all, fmt::format("the split's shares add up to {}%, above 100%",
                                               Decimal::from_units(total * (Decimal::kScale / 100)).to_string()))
        .help = "each user falls in at most one group: the control group first, then the arms in order";
  }
}

// `for arm A` names an arm of the strategy's own split.
// `rollout: best of (A, B) by METRIC after D` (docs/language.md, "Automatic roll-out"): arms of
// the strategy's split, measured against its control group, decided at a known instant (the
// strategy's start plus D) that still leaves time to reach the rest of the audience.
void Checker::check_rollout(Env& env, const StrategyDecl* s, const Clause* c, const Clause* when,
                   const std::optional<std::pair<int64_t, int64_t>>& window, const Clause* split) {
  if (!split || split->arms.empty()) {
    sink_.report(Code::E0550, c->keyword_span, fmt::format("strategy {} has no arms to roll out", bt(s->name)))
        .help = "test the variants in arms first, e.g. `split: control 1%, variants A 1%, B 1%`, with actions `for arm A`";
  } else {
    std::map<std::string, const Clause::ArmName*> named;
    std::vector<std::string> names;
    for (const auto& x : split->arms) names.push_back(x.name);
    for (const auto& a : c->rollout_arms) {
      if (std::find(names.begin(), names.end(), a.name) == names.end()) {
        auto& d = sink_.report(Code::E0551, a.span, fmt::format("strategy {} has no arm {}", bt(s->name), bt(a.name)));
        if (auto m = diag::closest_match(a.name, names); !m.empty()) d.help = fmt::format("did you mean {}?", bt(m));
        else d.help = "the arms are named in the strategy's `split: ... variants ...`";
      } else if (auto [it, fresh] = named.emplace(a.name, &a); !fresh) {
        auto& d = sink_.report(Code::E0551, a.span, fmt::format("arm {} is named twice", bt(a.name)));
        d.secondary.push_back({it->second->span, "first one here"});
      }
    }
    if (!split->has_control)
      sink_.report(Code::E0552, c->keyword_span,
                   fmt::format("strategy {} has no control group to measure its arms against", bt(s->name)))
          .help = "keep a control group that receives nothing, e.g. `split: control 1%, variants ...`";
    // The rest of the audience is every bucket after the control group and the arms.
    int64_t taken = 0;
    bool exact = true;
    auto add = [&](const std::string& text) {
      auto v = Decimal::parse(text);
      if (!v) exact = false;
      else taken += v->units();
    };
    if (split->has_control) add(split->number);
    for (const auto& a : split->arms) add(a.percent);
    if (exact && taken >= 100 * Decimal::kScale)
      sink_.report(Code::E0558, c->keyword_span,
                   fmt::format("strategy {}'s control group and arms take every user: there is no one to roll the winner out to",
                               bt(s->name)))
          .help = "leave a share of the users outside the split, e.g. `split: control 1%, variants A 1%, B 1%` leaves 97%";
  }
  static const std::set<std::string> kMetrics = {"conversion", "spend_per_user", "roi"};
  if (!c->metric.empty() && !kMetrics.count(c->metric)) {
    auto& d = sink_.report(Code::E0553, c->metric_span, fmt::format("unknown roll-out metric {}", bt(c->metric)));
    if (auto m = diag::closest_match(c->metric, {"conversion", "spend_per_user", "roi"}); !m.empty())
      d.help = fmt::format("did you mean {}?", bt(m));
    else
      d.help = "`conversion` (the share of users who order after the delivery), `spend_per_user` (what they spend "
               "after it) or `roi` (the incremental return on what the deliveries cost), each against the control "
               "group (docs/indicators.md)";
  }
  if (kMetrics.count(c->metric)) {
    auto e = p_.events.find("Order");
    const FieldInfo* amount = e == p_.events.end() ? nullptr : e->second->find("amount");
    if (e == p_.events.end())
      sink_.report(Code::E0557, c->metric_span, fmt::format("there is no `Order` event to measure {} by", bt(c->metric)))
          .help = "declare `event Order { amount: Money(CNY) ... }`: an order after a delivery is a conversion "
                  "(docs/indicators.md)";
    else if (c->metric != "conversion" && (!amount || amount->type.kind != TypeKind::Money))
      sink_.report(Code::E0557, c->metric_span,
                   fmt::format("{} sums the `amount` of orders, and `Order` has no Money `amount`", bt(c->metric)))
          .help = "give the `Order` event a field `amount: Money(CNY)`";
  }
  int64_t wait = 0;
  if (c->wait) {
    Env plain{env.module};
    plain.owner = env.owner;
    Type t = check(c->wait, plain, nullptr);
    auto* v = t.is_error() ? nullptr : p_.const_of(c->wait);
    wait = v && std::holds_alternative<Value::Duration>(v->v) ? std::get<Value::Duration>(v->v).micros : 0;
    if (wait <= 0 || wait > 366 * support::kMicrosPerDay)
      sink_.report(Code::E0554, c->wait->span,
                   fmt::format("a roll-out after {} is out of range", v ? v->to_string(Type::of(TypeKind::Duration)) : "?"))
          .help = "the arms are compared from 1 second to 366 days after the strategy's start";
  }
  if (!when) return;
  std::optional<int64_t> start;
  if (when->trigger == TriggerKind::At) {
    const Value* v = when->at ? p_.const_of(when->at) : nullptr;
    if (auto* t = v ? std::get_if<Value::Time>(&v->v) : nullptr) start = t->micros;
    else return;  // the `at` time has its own diagnostic
  } else if (window) {
    start = window->first;
  }
  if (!start) {
    sink_.report(Code::E0555, c->keyword_span,
                 fmt::format("strategy {} has no known start to count the roll-out's duration from", bt(s->name)))
        .help = "give `when:` a window, e.g. `when: on Visit between 2026-11-01T00:00+08:00 and 2026-11-11T00:00+08:00`, "
                "or a time, `when: at 2026-11-01T10:00+08:00`";
    return;
  }
  if (window && wait > 0 && *start + wait >= window->second)
    sink_.report(Code::E0556, c->wait->span,
                 fmt::format("strategy {} decides its roll-out at {}, when its window has ended", bt(s->name),
                             support::format_time(*start + wait)))
        .help = "decide earlier, or end the window later: the rest of the audience gets the winner only within it";
}

void Checker::check_arm(const StrategyDecl* s, const Action& a, const Clause* split) {
  if (a.arm.empty()) return;
  if (!split || split->arms.empty()) {
    sink_.report(Code::E0543, a.arm_span, fmt::format("strategy {} has no arms, so no action can be `for arm {}`", bt(s->name), a.arm))
        .help = fmt::format("name the arms in the split, e.g. `split: variants {} 10%, B 10%`", a.arm);
    return;
  }
  std::vector<std::string> names;
  for (const auto& x : split->arms) {
    if (x.name == a.arm) return;
    names.push_back(x.name);
  }
  auto& d = sink_.report(Code::E0543, a.arm_span, fmt::format("strategy {} has no arm {}", bt(s->name), bt(a.arm)));
  if (auto c = diag::closest_match(a.arm, names); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
  else {
    std::string all;
    for (const auto& n : names) all += (all.empty() ? "" : ", ") + ("`" + n + "`");
    d.help = "its arms are " + all;
  }
}

void Checker::warn_if_false(const Expr* e, bool ok, const char* clause) {
  if (!ok || !e) return;
  if (auto* v = p_.const_of(e); v && std::holds_alternative<bool>(v->v) && !std::get<bool>(v->v))
    sink_.report(Code::W0101, e->span, fmt::format("`{}:` is always false, so the strategy never fires", clause));
}

std::optional<std::pair<int64_t, int64_t>> Checker::check_when(Env& env, const Clause* c) {
  Env plain{env.module};
  plain.owner = env.owner;
  if (c->trigger == TriggerKind::At) {
    Type t = check(c->at, plain, nullptr);
    if (expect(c->at, t, Type::of(TypeKind::Time))) require_constant(c->at, "a schedule time");
  } else if (c->trigger == TriggerKind::Every) {
    Type t = check(c->at, plain, nullptr);
    if (expect(c->at, t, Type::of(TypeKind::Duration)) && require_constant(c->at, "a schedule period")) {
      windows::positive_duration(p_, sink_, c->at);
      schedule_period_in_range(c->at);
    }
    int hh = 0, mm = 0;
    if (clock_parts(c->clock, hh, mm)) {
      if (hh > 23 || mm > 59)
        sink_.report(Code::E0104, c->clock_span, fmt::format("invalid clock time {}", bt(c->clock)))
            .help = "clock times run from 00:00 to 23:59";
    }
  }
  std::optional<std::pair<int64_t, int64_t>> window;
  if (c->from) window = time_window(plain, c->from, c->to, "strategy window");
  if (c->expr) warn_if_false(c->expr, check_condition(c->expr, env, "the trigger condition"), "when ... if");
  if (c->delay) check_delay(env, c);
  return window;
}

// `on E ..., after D unless C where c_field == event.e_field and ...` (docs/language.md,
// "Delayed triggers"): D a constant duration; C an event type; the condition a conjunction of
// equalities between a field of the cancelling event (bare) and one of the trigger (`event.`),
// of the same type, so the runtime finds the timers an event cancels by key.
void Checker::check_delay(Env& env, const Clause* c) {
  Env plain{env.module};
  plain.owner = env.owner;
  if (c->trigger != TriggerKind::On) {
    sink_.report(Code::E0530, c->delay_span, "`after` delays a strategy triggered by an event; a schedule fires at its own time")
        .help = "write `when: on EVENT, after 2 hours`, or move the schedule's time";
  }
  Type t = check(c->delay, plain, nullptr);
  if (expect(c->delay, t, Type::of(TypeKind::Duration)) && require_constant(c->delay, "a delay")) {
    auto* v = p_.const_of(c->delay);
    int64_t micros = v && std::holds_alternative<Value::Duration>(v->v) ? std::get<Value::Duration>(v->v).micros : 0;
    constexpr int64_t kMaxDelay = 366 * support::kMicrosPerDay;
    if (micros < support::kMicrosPerSecond || micros > kMaxDelay)
      sink_.report(Code::E0531, c->delay->span,
                   fmt::format("a delay of {} is out of range", v ? v->to_string(Type::of(TypeKind::Duration)) : "?"))
          .help = "a delayed trigger waits from 1 second to 366 days";
  }
  if (c->cancel_event.empty()) return;
  const RecordInfo* cancel = nullptr;
  if (auto e = p_.events.find(c->cancel_event); e != p_.events.end()) {
    cancel = e->second.get();
    use(c->cancel_span, cancel);
  } else {
    std::vector<std::string> names;
    for (auto& [n, r] : p_.events) names.push_back(n);
    auto& d = sink_.report(Code::E0304, c->cancel_span, fmt::format("unknown event type {}", bt(c->cancel_event)));
    if (auto m = diag::closest_match(c->cancel_event, names); !m.empty()) d.help = fmt::format("did you mean {}?", bt(m));
  }
  if (c->cancel_where && cancel) check_cancel_where(c->cancel_where, cancel, env.event_unknown ? nullptr : env.event);
}

void Checker::check_cancel_where(const Expr* e, const RecordInfo* cancel, const RecordInfo* trigger) {
  if (!e) return;
  auto* b = e->kind == ExprKind::Binary ? static_cast<const BinaryExpr*>(e) : nullptr;
  if (b && b->op == BinaryOp::And) {
    check_cancel_where(b->lhs, cancel, trigger);
    check_cancel_where(b->rhs, cancel, trigger);
    set_type(e, Type::of(TypeKind::Bool));
    return;
  }
  auto bare = [](const Expr* x) -> const NameExpr* {
    auto* n = x && x->kind == ExprKind::Name ? static_cast<const NameExpr*>(x) : nullptr;
    return n && n->name != "event" && n->name != "profile" ? n : nullptr;
  };
  auto of_event = [](const Expr* x) -> const FieldExpr* {
    auto* f = x && x->kind == ExprKind::Field ? static_cast<const FieldExpr*>(x) : nullptr;
    if (!f || !f->base || f->base->kind != ExprKind::Name) return nullptr;
    return static_cast<const NameExpr*>(f->base)->name == "event" ? f : nullptr;
  };
  const NameExpr* mine = nullptr;
  const FieldExpr* theirs = nullptr;
  if (b && b->op == BinaryOp::Eq) {
    mine = bare(b->lhs) ? bare(b->lhs) : bare(b->rhs);
    theirs = of_event(b->lhs) ? of_event(b->lhs) : of_event(b->rhs);
  }
  if (!mine || !theirs) {
    sink_.report(Code::E0532, e->span, "`unless ... where` matches the cancelling event to the trigger by equal fields")
        .help = fmt::format("write `FIELD == event.FIELD` (a field of {} on the left, of the trigger after `event.`), "
                            "joined by `and`",
                            bt(cancel->name));
    return;
  }
  const FieldInfo* cf = cancel->find(mine->name);
  if (!cf) {
    auto& d = sink_.report(Code::E0303, mine->span, fmt::format("event {} has no field {}", bt(cancel->name), bt(mine->name)));
    if (auto m = diag::closest_match(mine->name, cancel->field_names()); !m.empty()) d.help = fmt::format("did you mean {}?", bt(m));
    return;
  }
  use(mine->span, cf);
  set_type(mine, cf->type);
  if (!trigger) return;
  const FieldInfo* tf = trigger->find(theirs->field);
  if (!tf) {
    auto& d = sink_.report(Code::E0303, theirs->field_span,
                           fmt::format("event {} has no field {}", bt(trigger->name), bt(theirs->field)));
    if (auto m = diag::closest_match(theirs->field, trigger->field_names()); !m.empty()) d.help = fmt::format("did you mean {}?", bt(m));
    return;
  }
  use(theirs->field_span, tf);
  set_type(theirs, tf->type);
  auto comparable = [](const Type& x) {
    return x.kind != TypeKind::Set && x.kind != TypeKind::List && x.kind != TypeKind::Record && !x.is_error();
  };
  if (!comparable(cf->type) || !comparable(tf->type)) {
    const FieldInfo* bad = comparable(cf->type) ? tf : cf;
    sink_.report(Code::E0533, e->span,
                 fmt::format("{} is {}: a cancelling event matches its trigger by equal scalar values", bt(bad->name),
                             bt(bad->type.to_string())))
        .help = "compare a scalar field (an order id, say), not a set or list";
    return;
  }
  if (!cf->type.same_base(tf->type) || cf->type.kind != tf->type.kind) {
    sink_.report(Code::E0533, e->span,
                 fmt::format("{}.{} is {} and {}.{} is {}: a cancelling event matches its trigger by equal values of one "
                             "scalar type",
                             cancel->name, cf->name, bt(cf->type.to_string()), trigger->name, tf->name,
                             bt(tf->type.to_string())))
        .help = "compare fields of the same type (a String id with a String id)";
    return;
  }
  set_type(e, Type::of(TypeKind::Bool));
}

// A schedule decides for every known user at each firing: below a minute it is a stream (use
// `on Event`), and the runtime refuses such programs (bytecode::kMinSchedulePeriod).
void Checker::schedule_period_in_range(const Expr* e) {
  auto* v = p_.const_of(e);
  if (!v || !std::holds_alternative<Value::Duration>(v->v)) return;
  int64_t micros = std::get<Value::Duration>(v->v).micros;
  constexpr int64_t kMaxPeriod = 36525 * support::kMicrosPerDay;  // 100 years
  if (micros > 0 && micros < support::kMicrosPerMinute)
    sink_.report(Code::E0514, e->span,
                 fmt::format("a schedule period of {} is shorter than one minute",
                             v->to_string(Type::of(TypeKind::Duration))))
        .help = "a schedule decides for every matching user at each firing; react to behaviour with `on EVENT`, "
                "or fire at most every minute";
  else if (micros > kMaxPeriod)
    sink_.report(Code::E0514, e->span, "a schedule period is longer than 100 years").help = "use `at TIME` for a one-off";
}

// `every` schedules write a decision row for every matching user at every firing (granted or
// rejected: per-user limits do not stop the rows). Warns when that is at least kRowsWarning
// rows per matching user over the window (over 30 days when there is none).
void Checker::warn_schedule_rows(const StrategyDecl* s, const Clause* when, const std::optional<std::pair<int64_t, int64_t>>& window,
                        size_t actions) {
  constexpr int64_t kRowsWarning = 10'000;
  auto* v = p_.const_of(when->at);
  if (!v || !std::holds_alternative<Value::Duration>(v->v)) return;
  int64_t period = std::get<Value::Duration>(v->v).micros;
  if (period < support::kMicrosPerMinute || actions == 0) return;  // E0514 / E0501 already
  bool bounded = when->from && window;
  if (when->from && !window) return;  // a malformed window was reported
  int64_t span = bounded ? window->second - window->first : 30 * support::kMicrosPerDay;
  int64_t firings = (span + period - 1) / period;
  int64_t rows = firings * static_cast<int64_t>(actions);
  if (rows < kRowsWarning) return;
  auto& d = sink_.report(
      Code::W0107, when->at->span,
      fmt::format("strategy {} fires every {} {}: {} firings, up to {} decision rows per matching user "
                  "({} for 100,000 users)",
                  bt(s->name), support::format_duration(period),
                  bounded ? "between " + support::format_time(window->first) + " and " + support::format_time(window->second)
                          : "with no window, per 30 days",
                  thousands(firings), thousands(rows), thousands(rows * 100'000)));
  d.help = "every firing decides for every matching user, and a user over a per-user limit still gets a rejected row; "
           "use a longer period or a shorter window, or react to behaviour with `on EVENT`";
}

std::string Checker::thousands(int64_t n) {
  std::string t = std::to_string(n);
  for (int i = static_cast<int>(t.size()) - 3; i > 0; i -= 3) t.insert(static_cast<size_t>(i), ",");
  return t;
}

// Both ends constant Times with start < end; returns them when well formed.
std::optional<std::pair<int64_t, int64_t>> Checker::time_window(Env& env, const Expr* from, const Expr* to,
                                                       const std::string& what) {
  Type a = check(from, env, nullptr);
  Type b = check(to, env, nullptr);
  bool from_ok = expect(from, a, Type::of(TypeKind::Time));
  bool to_ok = expect(to, b, Type::of(TypeKind::Time));  // both reported, not just the first
  bool ok = from_ok && to_ok;
  if (!ok || !require_constant(from, "a window bound") || !require_constant(to, "a window bound")) return std::nullopt;
  auto* va = p_.const_of(from);
  auto* vb = p_.const_of(to);
  if (!va || !vb) return std::nullopt;
  int64_t x = std::get<Value::Time>(va->v).micros, y = std::get<Value::Time>(vb->v).micros;
  if (x >= y) {
    auto& d = sink_.report(Code::E0503, Span::join(from->span, to->span),
                           fmt::format("{} is {}: it starts at {} and ends at {}", what, x == y ? "empty" : "reversed",
                                       support::format_time(x), support::format_time(y)));
    d.help = "the start must be before the end (times without an offset are UTC)";
    return std::nullopt;
  }
  return std::make_pair(x, y);
}

void Checker::check_action(ModuleInfo* m, const StrategyDecl* s, const Action& a,
                  const std::optional<std::pair<int64_t, int64_t>>& window, const std::string& budget_currency,
                  Span budget_span) {
  const Symbol* sym = res_.lookup(m, a.resource, a.resource_span);
  if (!sym) {
    std::vector<std::string> names;
    auto add = [&](ModuleInfo* x) {
      for (auto& [n, sy] : x->symbols) if (sy.decl->kind == DeclKind::Resource) names.push_back(n);
    };
    add(m);
    for (auto* imp : res_.visible_imports(m)) add(imp->target);
    auto& d = sink_.report(Code::E0204, a.resource_span, fmt::format("unknown resource {}", bt(a.resource)));
    if (auto c = diag::closest_match(a.resource, names); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
    return;
  }
  if (sym->decl->kind != DeclKind::Resource) {
    sink_.report(Code::E0207, a.resource_span, fmt::format("{} is not a resource", bt(a.resource)))
        .secondary.push_back({sym->decl->name_span, "defined here"});
    return;
  }
  auto* r = static_cast<const ResourceDecl*>(sym->decl);
  use(a.resource_span, sym->decl);
  bool is_message = r->resource_kind == "push" || r->resource_kind == "sms" || r->resource_kind == "email";
  // The channel each kind of message goes by (a push may also go in an app or a mini program).
  const char* message_channel = r->resource_kind == "sms" ? "SMS" : r->resource_kind == "email" ? "Email" : "Push";
  if (a.verb == Action::Verb::Grant && is_message) {
    sink_.report(Code::E0509, a.span, fmt::format("{} is {} {} message: `send` it, do not `grant` it", bt(a.resource),
                                                  r->resource_kind == "email" ? "an" : "a", r->resource_kind))
        .help = fmt::format("write `send {} via {}`", a.resource, message_channel);
  } else if (a.verb == Action::Verb::Send && !is_message && props_for(r->resource_kind)) {
    sink_.report(Code::E0509, a.span, fmt::format("{} is a {}: `grant` it, do not `send` it", bt(a.resource), r->resource_kind))
        .help = fmt::format("write `grant {}`", a.resource);
  }
  if (!a.channel.empty()) {
    const EnumInfo* channel_enum = nullptr;
    for (auto& e : p_.enums) if (e.name == "Channel" && e.decl && res_.prelude() && e.decl == res_.find_prelude_channel()) channel_enum = &e;
    if (channel_enum && channel_enum->find(a.channel) >= 0)
      use(a.channel_span, EnumValueRef{channel_enum, channel_enum->find(a.channel)});
    if (channel_enum && channel_enum->find(a.channel) < 0) {
      auto& d = sink_.report(Code::E0406, a.channel_span, fmt::format("{} is not a channel", bt(a.channel)));
      if (auto c = diag::closest_match(a.channel, channel_enum->values); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
      else d.help = "channels are " + join_values(*channel_enum);
    } else if (r->resource_kind == "sms" && a.channel != "SMS") {
      sink_.report(Code::E0509, a.channel_span, fmt::format("an sms message cannot go via {}", bt(a.channel)))
          .help = "write `via SMS`";
    } else if (r->resource_kind == "email" && a.channel != "Email") {
      sink_.report(Code::E0509, a.channel_span, fmt::format("an email message cannot go via {}", bt(a.channel)))
          .help = "write `via Email`";
    } else if (r->resource_kind == "push" && a.channel == "SMS") {
      sink_.report(Code::E0509, a.channel_span, "a push message cannot go via `SMS`").help = "declare an `sms` resource";
    }
  } else if (a.verb == Action::Verb::Send) {
    sink_.report(Code::E0509, a.span, fmt::format("sending {} needs a channel", bt(a.resource)))
        .help = fmt::format("write `send {} via {}`", a.resource, message_channel);
  }
  // Budget and discount in different currencies cannot be reconciled at run time.
  if (!budget_currency.empty())
    budget_currency_matches(r, budget_currency, budget_span, fmt::format("budget is in `{}`", budget_currency));
  if (window) {
    auto it = t_.resource_claim.find(r);
    if (it == t_.resource_claim.end()) it = t_.resource_claim.emplace(r, claim_window(r)).first;
    // Windows that do not meet at all mean the grant never happens: W0106 (never_deliver.h).
    bool meet = it->second && window->first < it->second->second && it->second->first < window->second;
    if (meet && (window->first < it->second->first || window->second > it->second->second)) {
      auto& d = sink_.report(Code::W0102, a.resource_span,
                             fmt::format("strategy {} runs {} .. {}, beyond the claim window of {} ({} .. {})",
                                         bt(s->name), support::format_time(window->first),
                                         support::format_time(window->second), bt(r->name),
                                         support::format_time(it->second->first),
                                         support::format_time(it->second->second)));
      d.help = "grants outside the claim window will be rejected; align the two windows";
    }
    // A fixed use window that ends before the strategy's: a grant after its end could never be
    // used, so it is refused (`use_window`, decision_rules.cc) rather than spending the budget.
    for (const Property* p : r->props) {
      if (p->key != "use" || p->kind != PropKind::Range) continue;
      auto* b = p_.const_of(p->b);
      if (!b || !std::holds_alternative<Value::Time>(b->v)) continue;
      const int64_t use_to = std::get<Value::Time>(b->v).micros;
      if (window->second <= use_to) continue;
      auto& d = sink_.report(Code::W0109, a.resource_span,
                             fmt::format("strategy {} runs until {}, after the use window of {} ends at {}",
                                         bt(s->name), support::format_time(window->second), bt(r->name),
                                         support::format_time(use_to)));
      d.secondary.push_back({Span::join(p->a->span, p->b->span), "the use window"});
      d.help = "a coupon granted after its use window ends could never be used: such grants are refused "
               "(`use_window`); end the strategy's window by then, or extend the use window";
    }
  }
}

// `HH:MM` as the lexer's clock token spells it; false for a token error recovery made up.
bool Checker::clock_parts(const std::string& c, int& hh, int& mm) {
  auto digit = [&](size_t i) { return i < c.size() && c[i] >= '0' && c[i] <= '9'; };
  if (c.size() != 5 || !digit(0) || !digit(1) || c[2] != ':' || !digit(3) || !digit(4)) return false;
  hh = (c[0] - '0') * 10 + (c[1] - '0');
  mm = (c[3] - '0') * 10 + (c[4] - '0');
  return true;
}

void Checker::positive_count(const std::string& text, Span span, const char* what) {
  if (text.empty()) return;
  // A count error recovery made up (`<missing NUMBER>`): the syntax error said it.
  if (text.find_first_not_of("0123456789.") != std::string::npos) return;
  if (text.find('.') != std::string::npos) {
    sink_.report(Code::E0506, span, fmt::format("{} must be a whole number, not `{}`", what, text));
    return;
  }
  if (text.size() > 12 || std::stoll(text) <= 0)
    sink_.report(Code::E0506, span, fmt::format("{} must be between 1 and 999999999999, not `{}`", what, text));
}

void Checker::check_period(const Period& p) {
  if (p.kind == Period::Kind::Unit) {
    static const char* kUnits[] = {"hour", "day", "week", "month"};
    for (auto* u : kUnits) if (p.text == u) return;
    auto& d = sink_.report(Code::E0511, p.span, fmt::format("unknown period {}", bt(p.text)));
    auto c = diag::closest_match(p.text, {"hour", "day", "week", "month", "campaign"});
    d.help = c.empty() ? "periods are `hour`, `day`, `week`, `month`, `campaign` or a duration such as `7 days`"
                       : fmt::format("did you mean {}?", bt(c));
  } else if (p.kind == Period::Kind::Duration) {
    auto micros = duration_micros(p.text, p.span);
    if (micros && *micros <= 0) sink_.report(Code::E0510, p.span, "period must be longer than zero");
    else if (micros) period_within_100_years(*micros, p.span, "a period", "`per campaign` counts with no limit in time");
  }
}

// The runtime keeps periods of at most 100 years (bytecode verification, kMaxSpan: far from
// overflow when added to any time); longer ones were accepted here and then failed as an
// internal error in every other command.
void Checker::period_within_100_years(int64_t micros, Span span, const char* what, const char* help) {
  constexpr int64_t kMaxPeriod = 36525 * support::kMicrosPerDay;
  if (micros > kMaxPeriod)
    sink_.report(Code::E0518, span, fmt::format("{} is longer than 100 years (36525 days)", what)).help = help;
}

// ---- policies ------------------------------------------------------------------------------

void Checker::check_policy(ModuleInfo*, PolicyDecl* pd) {
  std::map<std::string, const PolicyRule*> seen;
  for (const PolicyRule* r : pd->rules) {
    std::string key;
    switch (r->kind) {
      case PolicyRule::Kind::Unredeemed: {
        static const std::vector<std::string> kKinds = {"coupons", "red_envelopes", "resources"};
        if (std::find(kKinds.begin(), kKinds.end(), r->subject) == kKinds.end()) {
          auto& d = sink_.report(Code::E0601, r->subject_span, fmt::format("cannot count unredeemed {}", bt(r->subject)));
          auto c = diag::closest_match(r->subject, kKinds);
          d.help = c.empty() ? "write `coupons`, `red_envelopes` or `resources`" : fmt::format("did you mean {}?", bt(c));
        }
        key = "unredeemed " + r->subject;
        positive_count(r->count, r->span, "the limit");
        break;
      }
      case PolicyRule::Kind::SameType:
        key = "same type";
        check_period(r->period);
        break;
      case PolicyRule::Kind::Quiet: {
        key = "quiet";
        auto minutes = [&](const std::string& c, Span sp) -> int {
          int hh = 0, mm = 0;
          if (!clock_parts(c, hh, mm)) return -1;  // made up by error recovery
          if (hh > 23 || mm > 59) {
            sink_.report(Code::E0104, sp, fmt::format("invalid clock time {}", bt(c)))
                .help = "clock times run from 00:00 to 23:59";
            return -1;
          }
          return hh * 60 + mm;
        };
        int a = minutes(r->clock_from, r->clock_from_span), b = minutes(r->clock_to, r->clock_to_span);
        if (a >= 0 && a == b)
          sink_.report(Code::E0503, r->span, fmt::format("quiet hours from {} to {} are empty", bt(r->clock_from), bt(r->clock_to)))
              .help = "a window that crosses midnight is written `quiet between 22:00 and 08:00`";
        break;
      }
      case PolicyRule::Kind::ChannelCap: {
        const EnumInfo* ch = res_.channel_enum();
        if (ch && ch->find(r->subject) >= 0) use(r->subject_span, EnumValueRef{ch, ch->find(r->subject)});
        if (ch && ch->find(r->subject) < 0) {
          auto& d = sink_.report(Code::E0406, r->subject_span, fmt::format("{} is not a channel", bt(r->subject)));
          if (auto c = diag::closest_match(r->subject, ch->values); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
          else d.help = "channels are " + join_values(*ch);
        }
        key = "cap " + r->subject;
        positive_count(r->count, r->span, "the cap");
        check_period(r->period);
        break;
      }
    }
    if (auto [it, fresh] = seen.emplace(key, r); !fresh) {
      auto& d = sink_.report(Code::E0601, r->span, fmt::format("policy {} states the same rule twice", bt(pd->name)));
      d.secondary.push_back({it->second->span, "first stated here"});
    }
  }
}

}  // namespace crm::sema::detail
