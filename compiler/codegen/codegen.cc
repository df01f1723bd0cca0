// codegen.cc - AST + side tables -> bytecode units, aggregate table and runtime metadata.
#include "compiler/codegen/codegen.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <stdexcept>

#include "compiler/codegen/ir.h"
#include "support/decimal.h"
#include "compiler/format/formatter.h"
#include "bytecode/builtins.h"
#include "bytecode/operations.h"
#include "compiler/sema/message_template.h"
#include "compiler/sema/operators.h"
#include "support/civil_time.h"
#include "support/time_zone.h"

namespace crm::codegen {
namespace {

using namespace crm::ast;
using bytecode::Instr;
using bytecode::Op;
using sema::TypeKind;
using sema::Value;

struct Unsupported : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

bytecode::Kind kind_of(const sema::Type& t) {
  switch (t.kind) {
    case TypeKind::Bool: return bytecode::Kind::Bool;
    case TypeKind::Int: return bytecode::Kind::Int;
    case TypeKind::Decimal: return bytecode::Kind::Decimal;
    case TypeKind::Money: return bytecode::Kind::Money;
    case TypeKind::String: return bytecode::Kind::String;
    case TypeKind::Time: return bytecode::Kind::Time;
    case TypeKind::Date: return bytecode::Kind::Date;
    case TypeKind::Duration: return bytecode::Kind::Duration;
    case TypeKind::Enum: return bytecode::Kind::Enum;
    case TypeKind::Set: return bytecode::Kind::Set;
    case TypeKind::List: return bytecode::Kind::List;
    default: return bytecode::Kind::Int;
  }
}

int64_t encode_value(const Value& v, const sema::Type& t, std::vector<std::string>& strings,
                     std::map<std::string, int64_t>& ids) {
  return std::visit(
      [&](const auto& x) -> int64_t {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::monostate>) return 0;  // never folded: no constant is absent
        else if constexpr (std::is_same_v<X, bool>) return x ? 1 : 0;
        else if constexpr (std::is_same_v<X, int64_t>) {
          if (t.kind == TypeKind::Decimal || t.kind == TypeKind::Money) return x * support::Decimal::kScale;
          return x;
        } else if constexpr (std::is_same_v<X, support::Decimal>) return x.units();
        else if constexpr (std::is_same_v<X, std::string>) {
          auto [it, fresh] = ids.emplace(x, static_cast<int64_t>(strings.size()));
          if (fresh) strings.push_back(x);
          return it->second;
        } else if constexpr (std::is_same_v<X, Value::Time>) return x.micros;
        else if constexpr (std::is_same_v<X, Value::Date>) return x.days;
        else if constexpr (std::is_same_v<X, Value::Duration>) return x.micros;
        else if constexpr (std::is_same_v<X, Value::EnumVal>) return x.index;
        else throw Unsupported("a collection is not a scalar value");
      },
      v.v);
}

namespace {

struct Binding {
  uint16_t reg = 0;
  std::optional<Value> static_value;
};

struct Env {
  std::map<const Param*, Binding> params;
};

class Codegen;

class UnitGen {
 public:
  // batch: compile `and`/`or`/`if` without jumps, for the batch VM.
  UnitGen(Codegen& g, std::string name, bool batch = false) : g_(g), batch_(batch) { unit_.name = std::move(name); }
  // The emitted IR: bytecode instructions over virtual registers (see ir.h).

  uint16_t expr(const Expr* e, const Env& env);
  // The presence register of a value computed by expr(): for an optional value, the Bool
  // register written beside it; for any other, a constant true.
  uint16_t present(const Expr* e, uint16_t value);
  uint16_t equal_present(uint16_t eq, const Expr* x, uint16_t xv, const Expr* y, uint16_t yv);
  ir::Unit finish(uint16_t result, bytecode::Kind kind, const Expr* e) {
    if (type(e).optional) emit({Op::RET_OPT, 0, result, present(e, result)});
    else emit({Op::RET, 0, result});
    unit_.virtual_registers = next_;
    unit_.result = kind;
    return std::move(unit_);
  }

 private:
  uint16_t reg() {
    if (next_ == UINT16_MAX) throw Unsupported("the unit needs more than 65535 registers (values computed at once)");
    return next_++;
  }
  size_t emit(Instr in) {
    unit_.code.push_back(in);
    return unit_.code.size() - 1;
  }
  void patch(size_t at) {
    auto& in = unit_.code[at];
    // Targets live in the operand after the condition (or in `a` for JUMP).
    if (in.op == Op::JUMP) in.a = static_cast<uint32_t>(unit_.code.size());
    else in.b = static_cast<uint32_t>(unit_.code.size());
  }
  uint16_t constant(int64_t v);
  uint16_t load(Op op, const sema::FieldInfo* fi);
  uint16_t to_fix(uint16_t r, const sema::Type& from);
  uint16_t binary(const BinaryExpr* b, const Env& env);
  uint16_t arith(const BinaryExpr* b, const Env& env);
  uint16_t call(const CallExpr* c, const Env& env);
  bool may_fail(const Expr* e);
  bool always_reads(const Expr* e, const Param* p, int depth);
  uint16_t aggregate(const AggregateExpr* a, const std::string& field, Span field_span, const Env& env);
  uint16_t history(const AggregateExpr* a, const Env& env);
  // The aggregate's window as the format stores it: micros for `within`/`since`, N for `last N`.
  int64_t window_value(const AggregateExpr* a, const Env& env);
  uint16_t membership(const BinaryExpr* b, const Env& env);
  std::optional<uint16_t> compare_with_constant(const BinaryExpr* b, const Env& env);
  // The operand compared with an empty `{}`/`[]` by `==`/`!=`, or null.
  static const Expr* empty_collection_other(const BinaryExpr* b) {
    auto empty = [](const Expr* e) {
      return e && e->kind == ExprKind::Collection && static_cast<const CollectionLit*>(e)->elems.empty();
    };
    if (b->op != BinaryOp::Eq && b->op != BinaryOp::Ne) return nullptr;
    if (empty(b->rhs) && !empty(b->lhs)) return b->lhs;
    if (empty(b->lhs) && !empty(b->rhs)) return b->rhs;
    return nullptr;
  }
  std::optional<Value> static_value(const Expr* e, const Env& env);
  const sema::Type& type(const Expr* e);

  Codegen& g_;
  ir::Unit unit_;
  // Value register -> presence register, for every optional value (presence is never encoded
  // in the value: every int64 is a legal value).
  std::map<uint16_t, uint16_t> presence_;
  uint16_t next_ = 0;
  int depth_ = 0;
  bool batch_ = false;
};

class Codegen {
 public:
  Codegen(const sema::Program& p, const Options& o)
      : p_(p), max_depth_(static_cast<int>(std::min(o.max_depth, Options::kMaxDepth))) {}

  Output run(const std::vector<const Expr*>* probes = nullptr, std::vector<int32_t>* probe_units = nullptr) {
    Output out;
    try {
      layout();
      if (!p_.zone.empty()) {
        std::string why;
        if (auto z = support::load_zone(p_.zone, why)) prog_.zone = std::move(*z);
        else throw Unsupported(why);  // the checker resolved it; the database changed since
      }
      int strategies = 0;
      for (const auto& m : p_.modules)
        for (const Decl* d : m.ast->decls) {
          if (d->kind == DeclKind::Resource) resource(static_cast<const ResourceDecl*>(d));
          else if (d->kind == DeclKind::Pool) pool(static_cast<const PoolDecl*>(d));
          // Strategies are numbered in the order strategy() appends them.
          if (d->kind == DeclKind::Strategy) strategy_index_.emplace(d->name, strategies++);
        }
      for (const auto& m : p_.modules)
        for (const Decl* d : m.ast->decls) {
          if (d->kind == DeclKind::Segment && !m.is_std) segment(static_cast<const SegmentDecl*>(d));
          else if (d->kind == DeclKind::Strategy) strategy(static_cast<const StrategyDecl*>(d), m);
          else if (d->kind == DeclKind::Policy) policy(static_cast<const PolicyDecl*>(d));
        }
      if (probes)
        for (const Expr* e : *probes) {
          int32_t unit = -1;
          try {
            UnitGen u(*this, "probe");
            Env env;
            uint16_t r = u.expr(e, env);
            unit = static_cast<int32_t>(add_unit(u.finish(r, kind_of(p_.type_of(e)), e)));
          } catch (const Unsupported&) {
            failed_at_ = failed_root_ = nullptr;
            failed_unit_.clear();
          }
          probe_units->push_back(unit);
        }
    } catch (const Unsupported& e) {
      out.error = e.what();
      if (failed_root_) out.error_span = failed_root_->span;
      if (failed_at_) out.error_inner_span = failed_at_->span;
      out.error_unit = failed_unit_;
    }
    out.program = std::move(prog_);
    out.aggregates = std::move(agg_index_);
    return out;
  }

  const sema::Program& p_;
  bytecode::Program prog_;
  std::map<std::string, int64_t> string_ids_;
  std::map<int64_t, uint32_t> const_index_;
  std::map<std::vector<int64_t>, uint32_t> set_index_;
  std::map<std::vector<int64_t>, uint32_t> list_index_;
  std::map<AggKey, uint32_t> agg_index_;
  std::map<std::string, int> event_index_;
  std::map<const sema::FieldInfo*, int> field_index_;  // field -> position in its record
  std::map<std::string, int> resource_index_;
  bool index_scene_ = false;  // the strategy being generated is indexed by its event's scene
  std::map<std::string, int> strategy_index_;  // known before any unit is compiled (history reads it)
  std::map<const PoolDecl*, int32_t> pool_index_;

  uint32_t constant(int64_t v) {
    auto [it, fresh] = const_index_.emplace(v, static_cast<uint32_t>(prog_.constants.size()));
    if (fresh) prog_.constants.push_back(v);
    return it->second;
  }
  int64_t encode(const Value& v, const sema::Type& t) { return encode_value(v, t, prog_.strings, string_ids_); }
  uint32_t set(std::vector<int64_t> values) {
    std::sort(values.begin(), values.end());
    values.erase(std::unique(values.begin(), values.end()), values.end());
    auto [it, fresh] = set_index_.emplace(values, static_cast<uint32_t>(prog_.sets.size()));
    if (fresh) prog_.sets.push_back(values), prog_.lists.push_back(0);
    return it->second;
  }
  // A constant list: its elements as written, duplicates kept (bytecode::Program::lists).
  uint32_t list(std::vector<int64_t> values) {
    auto [it, fresh] = list_index_.emplace(values, static_cast<uint32_t>(prog_.sets.size()));
    if (fresh) prog_.sets.push_back(std::move(values)), prog_.lists.push_back(1);
    return it->second;
  }
  // A constant collection of type `t` (a literal, a folded constant, a default) as the index of
  // its set or list, which every collection store seeds as its handle.
  uint32_t collection(const Value& v, const sema::Type& t) {
    const auto& elems = std::get<std::shared_ptr<const Value::Collection>>(v.v)->elems;
    if (!t.elem && !elems.empty()) throw Unsupported("a collection without an element type");
    std::vector<int64_t> items;
    for (const auto& el : elems) {
      // An Int element of a Decimal collection is widened as INT_TO_FIX would.
      if (auto* i = std::get_if<int64_t>(&el.v);
          i && (t.elem->kind == TypeKind::Decimal || t.elem->kind == TypeKind::Money)) {
        int64_t k;
        if (bytecode::ops::int_to_fix(*i, k) != bytecode::ops::Fault::None)
          throw Unsupported("a collection element too large for a Decimal");
        items.push_back(k);
      } else {
        items.push_back(encode(el, *t.elem));
      }
    }
    return t.kind == TypeKind::List ? list(std::move(items)) : set(std::move(items));
  }
  uint32_t add_unit(ir::Unit u) {
    try {
      prog_.units.push_back(ir::to_bytecode(std::move(u)));
    } catch (const std::runtime_error& e) {
      throw Unsupported(e.what());
    }
    return static_cast<uint32_t>(prog_.units.size() - 1);
  }
  int field_position(const sema::FieldInfo* f) const {
    auto it = field_index_.find(f);
    if (it == field_index_.end()) throw Unsupported("unknown field");
    return it->second;
  }

  uint32_t predicate_unit(const std::string& name, const Expr* e, bool batch = false) {
    try {
      UnitGen u(*this, batch ? name + " (batch)" : name, batch);
      Env env;
      uint16_t r = u.expr(e, env);
      return add_unit(u.finish(r, kind_of(p_.type_of(e)), e));
    } catch (const Unsupported&) {
      if (failed_unit_.empty()) failed_unit_ = name, failed_root_ = e;  // the innermost unit (a filter inside a strategy's)
      if (!failed_at_) failed_at_ = e;
      throw;
    }
  }

  // The failure's place: the innermost expression UnitGen::expr was compiling when it threw (set
  // while the stack unwinds), and the unit. Probes (crm explain) reset them: theirs are not errors.
  const Expr* failed_at_ = nullptr;
  const Expr* failed_root_ = nullptr;
  std::string failed_unit_;
  const int max_depth_;

 private:
  bytecode::Field field(const sema::FieldInfo& f) {
    bytecode::Field out;
    out.name = f.name;
    out.kind = kind_of(f.type);
    if (f.type.elem) out.elem = kind_of(*f.type.elem);
    out.optional = f.type.optional;
    out.currency = f.type.currency;
    if (f.type.enum_info) out.enum_values = f.type.enum_info->values;
    if (f.type.elem && f.type.elem->enum_info) out.enum_values = f.type.elem->enum_info->values;
    if (f.decl && f.decl->default_value)
      if (auto* v = p_.const_of(f.decl->default_value)) {
        if (std::holds_alternative<std::shared_ptr<const Value::Collection>>(v->v)) {
          // A collection default (`tags: Set<String> = {}`, `recent: List<Int> = [2, 1, 2]`) is
          // one of the program's constant collections; every collection store starts with them,
          // so its index is its handle.
          out.default_value = collection(*v, f.type);
        } else {
          out.default_value = encode(*v, f.type);
        }
        out.has_default = true;
      }
    return out;
  }

  void layout() {
    for (size_t i = 0; i < p_.profile.fields.size(); ++i) {
      prog_.profile.push_back(field(p_.profile.fields[i]));
      field_index_[&p_.profile.fields[i]] = static_cast<int>(i);
    }
    for (const auto& [name, rec] : p_.events) {
      event_index_[name] = static_cast<int>(prog_.events.size());
      bytecode::EventType et;
      et.name = name;
      for (size_t i = 0; i < rec->fields.size(); ++i) {
        et.fields.push_back(field(rec->fields[i]));
        field_index_[&rec->fields[i]] = static_cast<int>(i);
      }
      prog_.events.push_back(std::move(et));
    }
    for (const auto& e : p_.enums)
      if (e.name == "Channel" && e.decl && e.decl->span.file == 0) prog_.channels = e.values;
    if (prog_.channels.empty())
      for (const auto& e : p_.enums) if (e.name == "Channel") prog_.channels = e.values;
  }

  int64_t const_int(const Expr* e, int64_t fallback = 0) {
    auto* v = p_.const_of(e);
    if (!v) return fallback;
    if (auto* i = std::get_if<int64_t>(&v->v)) return *i;
    if (auto* d = std::get_if<support::Decimal>(&v->v)) return d->units();
    if (auto* t = std::get_if<Value::Time>(&v->v)) return t->micros;
    if (auto* d = std::get_if<Value::Duration>(&v->v)) return d->micros;
    return fallback;
  }

  // A checked template, compiled: literal text and profile fields by index.
  std::vector<bytecode::TextPart> text_parts(const std::string& text) const {
    std::optional<sema::TemplateError> err;
    std::vector<bytecode::TextPart> out;
    for (auto& piece : sema::parse_template(text, err)) {
      bytecode::TextPart t;
      if (!piece.is_field) t.literal = std::move(piece.literal);
      else {
        auto it = p_.profile.index.find(piece.field);
        t.field = it == p_.profile.index.end() ? -1 : static_cast<int32_t>(it->second);
        t.has_fallback = piece.has_fallback;
        t.fallback = std::move(piece.fallback);
      }
      out.push_back(std::move(t));
    }
    return out;
  }

  void resource(const ResourceDecl* r) {
    bytecode::Resource out;
    out.name = r->name;
    static const std::pair<const char*, bytecode::ResourceKind> kKinds[] = {
        {"coupon", bytecode::ResourceKind::Coupon}, {"red_envelope", bytecode::ResourceKind::RedEnvelope},
        {"points", bytecode::ResourceKind::Points}, {"push", bytecode::ResourceKind::Push},
        {"sms", bytecode::ResourceKind::Sms}, {"email", bytecode::ResourceKind::Email}};
    for (auto& [n, k] : kKinds) if (r->resource_kind == n) out.kind = k;
    for (const Property* pr : r->props) {
      if (pr->key == "discount" && pr->kind == PropKind::Draw) {
        // A drawn discount: `discount` holds the largest value, what a budget reserves room for.
        auto it = p_.draws.find(pr);
        if (it == p_.draws.end()) throw Unsupported("a malformed random draw");
        const sema::Draw& d = it->second;
        out.discount = d.max;
        out.currency = d.currency;
        out.draw = d.range ? bytecode::Resource::Draw::Range : bytecode::Resource::Draw::Table;
        out.draw_lo = d.lo, out.draw_hi = d.hi, out.draw_step = d.step;
        out.draw_values = d.values;
        out.draw_weights = d.weights;
      } else if (pr->key == "discount" && pr->kind == PropKind::Capped) {
        // `P% up to CAP`: the cap is what a grant is worth to the budget.
        out.percent = const_int(pr->a);
        out.discount = const_int(pr->b);
        out.currency = p_.type_of(pr->b).currency;
      } else if (pr->key == "discount") { out.discount = const_int(pr->a); out.currency = p_.type_of(pr->a).currency; }
      else if (pr->key == "cost") { out.cost = const_int(pr->a); out.currency = p_.type_of(pr->a).currency; }
      else if (pr->key == "threshold") out.threshold = const_int(pr->a);
      else if (pr->key == "amount") out.points = const_int(pr->a);
      else if (pr->key == "claim" && pr->kind == PropKind::Range) {
        out.has_claim = true;
        out.claim_from = const_int(pr->a);
        out.claim_to = const_int(pr->b);
      } else if (pr->key == "use") {
        if (pr->kind == PropKind::AfterClaim) out.use_after_claim = const_int(pr->a);
        else if (pr->kind == PropKind::Range) {
          out.has_use_window = true;
          out.use_from = const_int(pr->a);
          out.use_to = const_int(pr->b);
        }
      } else if (pr->key == "body" || pr->key == "text") {
        if (auto* v = p_.const_of(pr->a)) {
          out.text = std::get<std::string>(v->v);
          out.text_parts = text_parts(out.text);
        }
      } else if ((pr->key == "title" && bytecode::is_message(out.kind)) || pr->key == "subject") {
        if (auto* v = p_.const_of(pr->a)) out.title_parts = text_parts(std::get<std::string>(v->v));
      } else if (pr->key == "decay") {
        out.decay = const_int(pr->a);
      } else if (pr->key == "fixed_from_third") {
        out.fixed_from_third = const_int(pr->a);
      } else if (pr->key == "funded" && pr->kind == PropKind::Funders) {
        for (const auto& f : pr->funders) {
          auto share = support::Decimal::parse(f.share);
          if (!share) throw Unsupported("a malformed funder's share");
          out.funders.push_back({f.funder, share->units() / 100});  // percent -> millionths of 1
        }
      } else if (pr->key == "category" || pr->key == "item" || pr->key == "store" || pr->key == "city") {
        // Usage restrictions, checked when the coupon is redeemed: a string or a set of strings.
        std::vector<std::string> allowed;
        if (auto* v = p_.const_of(pr->a)) {
          if (auto* str = std::get_if<std::string>(&v->v)) allowed.push_back(*str);
          else if (auto* c = std::get_if<std::shared_ptr<const sema::Value::Collection>>(&v->v); c && *c)
            for (const auto& e : (*c)->elems)
              if (auto* es = std::get_if<std::string>(&e.v)) allowed.push_back(*es);
        }
        std::sort(allowed.begin(), allowed.end());
        int which = pr->key == "category" ? 0 : pr->key == "item" ? 1 : pr->key == "store" ? 2 : 3;
        out.restrictions[which] = std::move(allowed);
      }
    }
    resource_index_[r->name] = static_cast<int>(prog_.resources.size());
    prog_.resources.push_back(std::move(out));
  }

  void segment(const SegmentDecl* s) {
    uint32_t scalar = predicate_unit("segment " + s->name, s->value);
    prog_.segments.push_back({s->name, scalar, predicate_unit("segment " + s->name, s->value, true)});
  }

  bytecode::Period period(const Period& p) {
    bytecode::Period out;
    if (p.kind == Period::Kind::Campaign) return out;
    if (p.kind == Period::Kind::Unit) {
      out.kind = bytecode::PeriodKind::Calendar;
      out.unit = p.text == "hour"   ? bytecode::CalendarUnit::Hour
                 : p.text == "day"  ? bytecode::CalendarUnit::Day
                 : p.text == "week" ? bytecode::CalendarUnit::Week
                                    : bytecode::CalendarUnit::Month;
      return out;
    }
    out.kind = bytecode::PeriodKind::Sliding;
    size_t sp = p.text.find_first_of(" \t");
    auto amount = support::Decimal::parse(p.text.substr(0, sp));
    std::string unit = p.text.substr(p.text.find_first_not_of(" \t", sp));
    int64_t scale = unit.rfind("week", 0) == 0 ? 7 * support::kMicrosPerDay
                    : unit.rfind("day", 0) == 0 ? support::kMicrosPerDay
                    : unit.rfind("hour", 0) == 0 ? support::kMicrosPerHour
                    : unit.rfind("minute", 0) == 0 ? support::kMicrosPerMinute
                                                   : support::kMicrosPerSecond;
    out.micros = amount ? support::Decimal::mul(*amount, support::Decimal::from_units(scale))->units() : 0;
    return out;
  }

  // `after D unless C where c1 == event.e1 and ...`: the checker allowed only that shape.
  void delay(const Clause* c, bytecode::Strategy& out) {
    out.delay = const_int(c->delay);
    out.cancel_text = "after " + format::format_expr(c->delay);
    if (c->cancel_event.empty()) return;
    out.cancel_event = static_cast<int32_t>(event_index_.at(c->cancel_event));
    out.cancel_text += " unless " + c->cancel_event;
    if (!c->cancel_where) return;
    out.cancel_text += " where " + format::format_expr(c->cancel_where);
    auto field_of = [&](uint32_t ev, const std::string& name) {
      const auto& fs = prog_.events[ev].fields;
      for (size_t i = 0; i < fs.size(); ++i) if (fs[i].name == name) return static_cast<uint32_t>(i);
      return 0u;
    };
    std::function<void(const Expr*)> walk = [&](const Expr* e) {
      auto* b = static_cast<const BinaryExpr*>(e);
      if (b->op == BinaryOp::And) { walk(b->lhs); walk(b->rhs); return; }
      const Expr* mine = b->lhs->kind == ExprKind::Name ? b->lhs : b->rhs;
      const auto* theirs = static_cast<const FieldExpr*>(mine == b->lhs ? b->rhs : b->lhs);
      out.cancel_keys.emplace_back(field_of(uint32_t(out.cancel_event), static_cast<const NameExpr*>(mine)->name),
                                   field_of(out.event, theirs->field));
    };
    walk(c->cancel_where);
  }

  void strategy(const StrategyDecl* s, const sema::ModuleInfo& m) {
    std::vector<std::pair<size_t, std::string>> arm_names;  // (action, `for arm` name)
    bytecode::Strategy out;
    index_scene_ = false;
    out.name = s->name;
    out.zone = prog_.zone;  // the program's default until a `zone:` clause says otherwise
    out.business = s->business;
    for (const Clause* c : s->clauses) {
      switch (c->kind) {
        case ClauseKind::Who:
          out.who = static_cast<int32_t>(predicate_unit("strategy " + s->name + " who", c->expr));
          out.who_batch = static_cast<int32_t>(predicate_unit("strategy " + s->name + " who", c->expr, true));
          out.who_text = format::format_expr(c->expr);
          break;
        case ClauseKind::Where:
          out.where = static_cast<int32_t>(predicate_unit("strategy " + s->name + " where", c->expr));
          index_on(c->expr, out);
          out.where_text = format::format_expr(c->expr);
          break;
        case ClauseKind::When:
          if (c->trigger == TriggerKind::On) {
            out.trigger = bytecode::Trigger::OnEvent;
            out.event = static_cast<uint32_t>(event_index_.at(c->event));
          } else if (c->trigger == TriggerKind::At) {
            out.trigger = bytecode::Trigger::At;
            out.at = const_int(c->at);
          } else {
            out.trigger = bytecode::Trigger::Every;
            out.every = const_int(c->at);
            int64_t clock = 0;
            if (!c->clock.empty())
              clock = std::stoi(c->clock.substr(0, 2)) * support::kMicrosPerHour +
                      std::stoi(c->clock.substr(3, 2)) * support::kMicrosPerMinute;
            out.at = clock;  // offset within the day of the first instant; see the engine
          }
          if (c->from) {
            out.has_window = true;
            out.from = const_int(c->from);
            out.to = const_int(c->to);
          }
          if (c->expr) {
            index_on(c->expr, out);
            out.trigger_if = static_cast<int32_t>(predicate_unit("strategy " + s->name + " if", c->expr));
            out.if_text = format::format_expr(c->expr);
          }
          if (c->delay) delay(c, out);
          break;
        case ClauseKind::What:
          for (const Action& a : c->actions) {
            bytecode::Action act;
            act.send = a.verb == Action::Verb::Send;
            act.resource = static_cast<uint32_t>(resource_index_.at(a.resource));
            act.code = a.code;
            if (!a.chance.empty())
              if (auto d = support::Decimal::parse(a.chance)) act.chance = d->units() / 100;  // percent -> millionths
            act.salt = a.has_salt ? a.salt : s->name + "." + a.resource;
            if (a.recipient)
              if (auto it = p_.recipients.find(a.recipient); it != p_.recipients.end())
                out.recipient_field = field_position(it->second);
            if (!a.channel.empty()) {
              auto it = std::find(prog_.channels.begin(), prog_.channels.end(), a.channel);
              act.channel = it == prog_.channels.end() ? -1 : static_cast<int32_t>(it - prog_.channels.begin());
            }
            if (!a.arm.empty()) arm_names.emplace_back(out.actions.size(), a.arm);
            out.actions.push_back(std::move(act));
          }
          break;
        case ClauseKind::HowMuch:
          for (const Limit& l : c->limits) {
            if (l.kind == Limit::Kind::Budget) {
              out.has_budget = true;
              out.budget = const_int(l.budget);
              out.budget_currency = p_.type_of(l.budget).currency;
            } else if (l.kind == Limit::Kind::Stock) {
              out.stock = std::stoll(l.count);
            } else if (l.kind == Limit::Kind::Pacing) {
              out.paced = true;
            } else if (l.kind == Limit::Kind::Pool) {
              // The checker resolved the name; a pool is found by its declaration (names are
              // program-wide in the compiled form: the verifier refuses two of one name).
              out.pool = pool_for(l.pool, m);
            } else {
              out.per_user.push_back({std::stoll(l.count), period(l.period)});
            }
          }
          break;
        case ClauseKind::Split: {
          if (c->has_control) {
            auto d = support::Decimal::parse(c->number);
            out.control_basis_points = d ? static_cast<int32_t>(d->units() / 10000) : 0;  // percent -> 1/10000
          }
          for (const auto& a : c->arms) {
            auto d = support::Decimal::parse(a.percent);
            out.arms.push_back({a.name, d ? static_cast<int32_t>(d->units() / 10000) : 0});
          }
          out.split_salt = c->has_salt ? c->salt : s->name;
          break;
        }
        case ClauseKind::Priority: out.priority = std::stoll(c->number); break;
        case ClauseKind::Zone: {
          // Resolved now, so the compiled program behaves the same on every host.
          std::string why;
          if (auto z = support::load_zone(c->number, why)) out.zone = std::move(*z);
          break;
        }
        case ClauseKind::Exclusive: out.exclusive_group = c->number; break;
        case ClauseKind::Value: {
          const sema::Type& t = p_.type_of(c->expr);
          out.value = static_cast<int32_t>(predicate_unit("strategy " + s->name + " value", c->expr));
          out.value_currency = t.kind == TypeKind::Money ? t.currency : "";
          out.value_text = format::format_expr(c->expr);
          break;
        }
        case ClauseKind::Rollout:
          break;  // compiled after the loop: it names arms that must all be known first
      }
    }
    for (const auto& [ai, name] : arm_names)
      for (size_t k = 0; k < out.arms.size(); ++k)
        if (out.arms[k].name == name) out.actions[ai].arm = static_cast<int32_t>(k);
    for (const Clause* c : s->clauses)
      if (c->kind == ClauseKind::Rollout) rollout(c, out);
    prog_.strategies.push_back(std::move(out));
  }

  // The checker proved the arms, the metric, the `Order` event and a known start.
  void rollout(const Clause* c, bytecode::Strategy& out) {
    bytecode::Rollout& ro = out.rollout;
    out.has_rollout = true;
    for (const auto& a : c->rollout_arms)
      for (size_t k = 0; k < out.arms.size(); ++k)
        if (out.arms[k].name == a.name) ro.arms.push_back(static_cast<int32_t>(k));
    ro.metric = c->metric == "spend_per_user" ? bytecode::RolloutMetric::SpendPerUser
                : c->metric == "roi"          ? bytecode::RolloutMetric::Roi
                                              : bytecode::RolloutMetric::Conversion;
    ro.after = const_int(c->wait);
    ro.decide_at = (out.trigger == bytecode::Trigger::At ? out.at : out.from) + ro.after;
    ro.order_event = event_index_.at("Order");
    // The orders' amounts are summed whenever they are Money (the record shows the spend), and
    // must be for spend_per_user and roi (the checker proved it).
    const auto& fields = prog_.events[size_t(ro.order_event)].fields;
    for (size_t f = 0; f < fields.size(); ++f)
      if (fields[f].name == "amount" && fields[f].kind == bytecode::Kind::Money) ro.amount_field = static_cast<int32_t>(f);
    // The report's default attribution window (docs/indicators.md): outcomes in (t0, t0 + 14 days].
    ro.window = 14 * support::kMicrosPerDay;
  }

  void pool(const PoolDecl* pd) {
    bytecode::Pool out;
    out.name = pd->name;
    for (const Limit& l : pd->limits) {
      if (l.kind == Limit::Kind::Budget) {
        out.has_budget = true;
        out.budget = const_int(l.budget);
        out.budget_currency = p_.type_of(l.budget).currency;
      } else if (l.kind == Limit::Kind::Stock) {
        out.stock = std::stoll(l.count);
      }
    }
    pool_index_[pd] = static_cast<int32_t>(prog_.pools.size());
    prog_.pools.push_back(std::move(out));
  }

  // The pool `name` as seen from module m (its own declarations, then its imports).
  int32_t pool_for(const std::string& name, const sema::ModuleInfo& m) {
    for (const auto& [decl, index] : pool_index_)
      if (decl->name == name && m.ast && std::find(m.ast->decls.begin(), m.ast->decls.end(), decl) != m.ast->decls.end())
        return index;
    for (const auto& [decl, index] : pool_index_)
      if (decl->name == name) return index;
    throw Unsupported("unknown pool " + name);
  }

  // Finds a conjunct `event_field == constant` or `event_field in {constants}` that the engine can
  // use to look the strategy up by the event's value instead of evaluating it. The first one
  // found is used, except that the event's scene (`scene in {Home, Checkout}`) is preferred to
  // any other field: strategies are written per place, so it is the field that separates most.
  void index_on(const Expr* e, bytecode::Strategy& out) {
    if (!e || e->kind != ExprKind::Binary || index_scene_) return;
    auto* b = static_cast<const BinaryExpr*>(e);
    if (b->op == BinaryOp::And) {
      index_on(b->lhs, out);
      index_on(b->rhs, out);
      return;
    }
    if (b->op != BinaryOp::Eq && b->op != BinaryOp::In) return;
    auto event_field = [&](const Expr* x) -> const sema::FieldInfo* {
      if (!x) return nullptr;
      if (x->kind == ExprKind::Name && p_.refs[x->id].kind == sema::Ref::Kind::EventField)
        return p_.refs[x->id].field;
      if (x->kind == ExprKind::Field) {
        auto* f = static_cast<const FieldExpr*>(x);
        if (f->base && f->base->kind == ExprKind::Name && static_cast<const NameExpr*>(f->base)->name == "event") {
          const sema::Type& bt = p_.type_of(f->base);
          return bt.record ? bt.record->find(f->field) : nullptr;
        }
      }
      return nullptr;
    };
    const Expr* field_side = b->lhs;
    const Expr* const_side = b->rhs;
    const sema::FieldInfo* fi = event_field(field_side);
    if (!fi && b->op == BinaryOp::Eq) {
      std::swap(field_side, const_side);
      fi = event_field(field_side);
    }
    if (!fi || fi->type.optional) return;
    const bool scene = fi->name == "scene";
    if (out.index_field >= 0 && !scene) return;  // keep the first, unless this is the scene
    TypeKind k = fi->type.kind;
    if (k != TypeKind::String && k != TypeKind::Enum && k != TypeKind::Int && k != TypeKind::Bool) return;
    const Value* v = p_.const_of(const_side);
    if (!v) return;
    const sema::Type& ct = p_.type_of(const_side);
    std::vector<int64_t> values;
    if (b->op == BinaryOp::Eq) {
      if (ct.kind != k) return;
      values.push_back(encode(*v, ct));
    } else {
      if (!ct.elem || ct.elem->kind != k) return;
      for (const auto& el : std::get<std::shared_ptr<const Value::Collection>>(v->v)->elems) values.push_back(encode(el, *ct.elem));
    }
    if (values.empty() || values.size() > 64) return;
    out.index_field = field_position(fi);
    out.index_values = std::move(values);
    index_scene_ = scene;
  }

  void policy(const PolicyDecl* pd) {
    bytecode::Policy out;
    out.name = pd->name;
    out.business = pd->business;
    for (const PolicyRule* r : pd->rules) {
      if (r->kind == PolicyRule::Kind::Unredeemed) {
        out.max_unredeemed = std::stoll(r->count);
        out.unredeemed_kind = r->subject;
      } else if (r->kind == PolicyRule::Kind::Quiet) {
        auto minutes = [](const std::string& c) { return std::stoi(c.substr(0, 2)) * 60 + std::stoi(c.substr(3, 2)); };
        out.has_quiet = true;
        out.quiet_from = minutes(r->clock_from);
        out.quiet_to = minutes(r->clock_to);
        out.quiet_drop = r->drop;
      } else if (r->kind == PolicyRule::Kind::SameType) {
        out.has_same_type = true;
        out.same_type = period(r->period);
      } else {
        auto it = std::find(prog_.channels.begin(), prog_.channels.end(), r->subject);
        out.channel_caps.push_back({static_cast<int32_t>(it - prog_.channels.begin()), {std::stoll(r->count), period(r->period)}});
      }
    }
    prog_.policies.push_back(std::move(out));
  }
};

// ---- expressions -----------------------------------------------------------------------------

const sema::Type& UnitGen::type(const Expr* e) { return g_.p_.type_of(e); }

uint16_t UnitGen::constant(int64_t v) {
  uint16_t r = reg();
  emit({Op::LOAD_CONST, r, g_.constant(v)});
  return r;
}

// A profile or event field; an optional one also loads its presence.
uint16_t UnitGen::load(Op op, const sema::FieldInfo* fi) {
  auto f = static_cast<uint32_t>(g_.field_position(fi));
  uint16_t r = reg();
  emit({op, r, f});
  if (fi->type.optional) {
    uint16_t p = reg();
    emit({op == Op::LOAD_EVENT ? Op::HAS_EVENT : Op::HAS_PROFILE, p, f});
    presence_[r] = p;
  }
  return r;
}

uint16_t UnitGen::to_fix(uint16_t r, const sema::Type& from) {
  if (from.kind != TypeKind::Int) return r;
  uint16_t d = reg();
  emit({Op::INT_TO_FIX, d, r});
  if (auto it = presence_.find(r); it != presence_.end()) presence_[d] = it->second;
  return d;
}

uint16_t UnitGen::present(const Expr* e, uint16_t value) {
  if (type(e).optional)
    if (auto it = presence_.find(value); it != presence_.end()) return it->second;
  // Every optional source records its presence, so a value without one came from a
  // non-optional expression (`5` passed for an `Int?` parameter, say): it is there.
  return constant(1);
}

// `==` between values of which at least one is optional: absent equals only absent. An absent
// value's register holds 0, so "same presence and same value" is exact.
uint16_t UnitGen::equal_present(uint16_t eq, const Expr* x, uint16_t xv, const Expr* y, uint16_t yv) {
  bool xo = type(x).optional, yo = y && type(y).optional;
  if (!xo && !yo) return eq;
  uint16_t both = xo ? present(x, xv) : present(y, yv);
  if (xo && yo) {
    both = reg();
    emit({Op::EQ, both, present(x, xv), present(y, yv)});
  }
  uint16_t d = reg();
  emit({Op::AND, d, eq, both});
  return d;
}

// Windows and other static operands: constants, or function parameters bound to constants at
// the call site (the checker guarantees one of these).
std::optional<Value> UnitGen::static_value(const Expr* e, const Env& env) {
  if (!e) return std::nullopt;
  if (auto* v = g_.p_.const_of(e)) return *v;
  if (e->kind == ExprKind::Name) {
    const auto& ref = g_.p_.refs[e->id];
    if (ref.kind == sema::Ref::Kind::Param) {
      auto it = env.params.find(ref.param);
      if (it != env.params.end()) return it->second.static_value;
    }
    return std::nullopt;
  }
  if (e->kind == ExprKind::Unary) {
    auto* u = static_cast<const UnaryExpr*>(e);
    auto v = static_value(u->operand, env);
    if (v && u->op == UnaryOp::Neg)
      if (auto* d = std::get_if<Value::Duration>(&v->v)) return Value{Value::Duration{-d->micros}};
    return std::nullopt;
  }
  if (e->kind == ExprKind::Binary) {
    auto* b = static_cast<const BinaryExpr*>(e);
    auto x = static_value(b->lhs, env), y = static_value(b->rhs, env);
    if (!x || !y) return std::nullopt;
    auto micros = [](const Value& v) -> std::optional<int64_t> {
      if (auto* d = std::get_if<Value::Duration>(&v.v)) return d->micros;
      return std::nullopt;
    };
    auto integer = [](const Value& v) -> std::optional<int64_t> {
      if (auto* i = std::get_if<int64_t>(&v.v)) return *i;
      return std::nullopt;
    };
    if (b->op == BinaryOp::Add && micros(*x) && micros(*y)) return Value{Value::Duration{*micros(*x) + *micros(*y)}};
    if (b->op == BinaryOp::Sub && micros(*x) && micros(*y)) return Value{Value::Duration{*micros(*x) - *micros(*y)}};
    if (b->op == BinaryOp::Mul && micros(*x) && integer(*y)) return Value{Value::Duration{*micros(*x) * *integer(*y)}};
    if (b->op == BinaryOp::Mul && integer(*x) && micros(*y)) return Value{Value::Duration{*integer(*x) * *micros(*y)}};
    if (b->op == BinaryOp::Add && integer(*x) && integer(*y)) return Value{*integer(*x) + *integer(*y)};
    if (b->op == BinaryOp::Mul && integer(*x) && integer(*y)) return Value{*integer(*x) * *integer(*y)};
  }
  return std::nullopt;
}

uint16_t UnitGen::expr(const Expr* e, const Env& env) {
  if (!e) throw Unsupported("missing expression");
  if (++depth_ > g_.max_depth_) {
    --depth_;
    if (!g_.failed_at_) g_.failed_at_ = e;
    throw Unsupported(fmt::format("expression nests deeper than {} levels once its constants, functions and segments "
                                  "are inlined",
                                  g_.max_depth_));
  }
  // On the way out of a throw, the innermost expression still being compiled is the failure's place.
  struct Depth {
    int& d;
    const Expr* e;
    const Expr*& failed_at;
    ~Depth() {
      --d;
      if (!failed_at && std::uncaught_exceptions() > 0) failed_at = e;
    }
  } guard{depth_, e, g_.failed_at_};
  const sema::Type& t = type(e);
  // Folded constants load directly: a scalar as itself, a collection (`len([3, 1, 2, 3])`) as
  // the handle of its constant set or list.
  if (auto* v = g_.p_.const_of(e))
    return constant(t.kind == TypeKind::Set || t.kind == TypeKind::List ? g_.collection(*v, t) : g_.encode(*v, t));
  switch (e->kind) {
    case ExprKind::Name: {
      const auto& ref = g_.p_.refs[e->id];
      switch (ref.kind) {
        case sema::Ref::Kind::Param: {
          auto it = env.params.find(ref.param);
          if (it == env.params.end()) throw Unsupported("unbound parameter");
          return it->second.reg;
        }
        case sema::Ref::Kind::EventField:
          return load(Op::LOAD_EVENT, ref.field);
        case sema::Ref::Kind::ProfileField:
          return load(Op::LOAD_PROFILE, ref.field);
        case sema::Ref::Kind::Segment: {
          Env fresh;  // segments see no parameters
          return expr(ref.segment()->value, fresh);
        }
        default:
          throw Unsupported("name `" + static_cast<const NameExpr*>(e)->name + "` has no runtime value");
      }
    }
    case ExprKind::Field: {
      auto* f = static_cast<const FieldExpr*>(e);
      if (f->base && f->base->kind == ExprKind::Name) {
        const std::string& n = static_cast<const NameExpr*>(f->base)->name;
        if (n == "event" || n == "profile") {
          const sema::Type& bt = type(f->base);
          const sema::FieldInfo* fi = bt.record ? bt.record->find(f->field) : nullptr;
          if (!fi) throw Unsupported("unknown field");
          return load(n == "event" ? Op::LOAD_EVENT : Op::LOAD_PROFILE, fi);
        }
      }
      if (f->base && f->base->kind == ExprKind::Aggregate) {
        auto* a = static_cast<const AggregateExpr*>(f->base);
        if (a->field.empty() && (a->agg == AggKind::First || a->agg == AggKind::Last))
          return aggregate(a, f->field, f->field_span, env);
      }
      throw Unsupported("field access on a computed record is not supported by the compiler yet");
    }
    case ExprKind::Aggregate: {
      auto* a = static_cast<const AggregateExpr*>(e);
      return aggregate(a, a->field, a->field_span, env);
    }
    case ExprKind::Call: return call(static_cast<const CallExpr*>(e), env);
    case ExprKind::Unary: {
      auto* u = static_cast<const UnaryExpr*>(e);
      uint16_t x = expr(u->operand, env);
      uint16_t r = reg();
      emit({u->op == UnaryOp::Not ? Op::NOT : Op::NEG, r, x});
      return r;
    }
    case ExprKind::Binary: return binary(static_cast<const BinaryExpr*>(e), env);
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      const sema::Type& vt = type(b->value);
      bool fix = vt.kind == TypeKind::Decimal || type(b->lo).kind == TypeKind::Decimal || type(b->hi).kind == TypeKind::Decimal;
      bool str = vt.kind == TypeKind::String;
      // Constant bounds (the usual case: `age between 18 and 35`) compile to two fused compares.
      if (!str && !fix && g_.p_.const_of(b->lo) && g_.p_.const_of(b->hi)) {
        uint16_t v = expr(b->value, env);
        uint16_t x = reg(), y = reg(), r = reg();
        emit({Op::GE_K, x, v, g_.constant(g_.encode(*g_.p_.const_of(b->lo), type(b->lo)))});
        emit({Op::LE_K, y, v, g_.constant(g_.encode(*g_.p_.const_of(b->hi), type(b->hi)))});
        emit({Op::AND, r, x, y});
        if (b->negated) emit({Op::NOT, r, r});
        return r;
      }
      uint16_t v = expr(b->value, env), lo = expr(b->lo, env), hi = expr(b->hi, env);
      if (fix) { v = to_fix(v, vt); lo = to_fix(lo, type(b->lo)); hi = to_fix(hi, type(b->hi)); }
      uint16_t x = reg(), y = reg(), r = reg();
      emit({str ? Op::STR_LE : Op::LE, x, lo, v});
      emit({str ? Op::STR_LE : Op::LE, y, v, hi});
      emit({Op::AND, r, x, y});
      if (b->negated) emit({Op::NOT, r, r});
      return r;
    }
    case ExprKind::If: {
      auto* i = static_cast<const IfExpr*>(e);
      bool fix = t.kind == TypeKind::Decimal;
      bool opt = t.optional;  // the branch's presence goes along with its value
      if (batch_) {
        uint16_t c = expr(i->cond, env);
        uint16_t a = expr(i->then_expr, env);
        uint16_t pa = opt ? present(i->then_expr, a) : 0;
        if (fix) a = to_fix(a, type(i->then_expr));
        uint16_t b = expr(i->else_expr, env);
        uint16_t pb = opt ? present(i->else_expr, b) : 0;
        if (fix) b = to_fix(b, type(i->else_expr));
        uint16_t r = reg();
        emit({Op::SELECT, r, c, a, b});
        if (opt) {
          uint16_t p = reg();
          emit({Op::SELECT, p, c, pa, pb});
          presence_[r] = p;
        }
        return r;
      }
      uint16_t r = reg();
      uint16_t p = opt ? reg() : 0;
      uint16_t c = expr(i->cond, env);
      size_t jf = emit({Op::JUMP_IF_FALSE, 0, c, 0});
      uint16_t a = expr(i->then_expr, env);
      if (opt) emit({Op::MOV, p, present(i->then_expr, a)});
      if (fix) a = to_fix(a, type(i->then_expr));
      emit({Op::MOV, r, a});
      size_t j = emit({Op::JUMP, 0, 0});
      patch(jf);
      uint16_t b = expr(i->else_expr, env);
      if (opt) emit({Op::MOV, p, present(i->else_expr, b)});
      if (fix) b = to_fix(b, type(i->else_expr));
      emit({Op::MOV, r, b});
      patch(j);
      if (opt) presence_[r] = p;
      return r;
    }
    case ExprKind::Collection:
      throw Unsupported("a collection literal with computed elements can only be used on the right of `in`");
    default:
      throw Unsupported("literal without a folded value");
  }
}

uint16_t UnitGen::aggregate(const AggregateExpr* a, const std::string& field, Span, const Env& env) {
  auto& p = g_.p_;
  if (a->source != HistorySource::Events) return history(a, env);
  const sema::RecordInfo* rec = p.events.at(a->event).get();
  int event = g_.event_index_.at(a->event);
  int fidx = -1;
  const sema::FieldInfo* fi = nullptr;
  if (!field.empty()) {
    fi = rec->find(field);
    fidx = g_.field_position(fi);
  }
  int64_t wv = window_value(a, env);
  AggKey key{static_cast<int>(a->agg), event, fidx, a->filter ? static_cast<int>(a->filter->id) : -1,
             static_cast<int>(a->window), wv, std::string()};
  auto it = g_.agg_index_.find(key);
  uint32_t g;
  if (it != g_.agg_index_.end()) {
    g = it->second;
  } else {
    bytecode::AggSpec spec;
    spec.kind = static_cast<bytecode::AggKind>(a->agg);
    spec.window = static_cast<bytecode::Window>(a->window);
    spec.event = static_cast<uint32_t>(event);
    spec.field = fidx;
    spec.window_value = wv;
    spec.value_kind = fi ? kind_of(fi->type) : bytecode::Kind::Int;
    std::string text = format::format_expr(a);
    if (!field.empty() && a->field.empty()) text += "." + field;
    spec.text = text;
    if (a->filter) {
      // Filters see only the event (and constants), so they run once, when the event arrives.
      spec.filter_unit = static_cast<int32_t>(g_.predicate_unit("filter of " + text, a->filter));
    }
    g = static_cast<uint32_t>(g_.prog_.aggregates.size());
    g_.prog_.aggregates.push_back(std::move(spec));
    g_.agg_index_[key] = g;
  }
  uint16_t r = reg();
  emit({Op::LOAD_AGG, r, g});
  // avg/min/max/first/last may have no value (no events): their presence is read beside it.
  bytecode::AggKind k = g_.prog_.aggregates[g].kind;
  if (k != bytecode::AggKind::Count && k != bytecode::AggKind::Exists && k != bytecode::AggKind::Sum) {
    uint16_t p = reg();
    emit({Op::HAS_AGG, p, g});
    presence_[r] = p;
  }
  return r;
}

int64_t UnitGen::window_value(const AggregateExpr* a, const Env& env) {
  if (a->window == WindowKind::Within || a->window == WindowKind::Since) {
    auto v = static_value(a->window_expr, env);
    if (!v) throw Unsupported("aggregate window is not constant");
    if (auto* d = std::get_if<Value::Duration>(&v->v)) return d->micros;
    if (auto* t = std::get_if<Value::Time>(&v->v)) return t->micros;
  } else if (a->window == WindowKind::LastN || a->window == WindowKind::PreviousN) {
    return std::stoll(a->window_n);
  }
  return 0;
}

// `received(...)` / `redeemed(...)`: a count over the user's delivery history, which the engine
// maintains beside the event aggregates (runtime/engine/delivery_history.h); read like them.
uint16_t UnitGen::history(const AggregateExpr* a, const Env& env) {
  auto& p = g_.p_;
  auto hf = p.history.find(a->id);
  if (hf == p.history.end()) throw Unsupported("delivery history not checked");
  const sema::HistoryFilter& f = hf->second;
  int64_t wv = window_value(a, env);
  int source = a->source == HistorySource::Received ? -1 : -2;
  // A bare `received(x)` is `exists(received(x))`: one aggregate for both spellings.
  AggKey key{static_cast<int>(a->agg), source, -1, -1, static_cast<int>(a->window), wv, f.key()};
  auto it = g_.agg_index_.find(key);
  uint32_t g;
  if (it != g_.agg_index_.end()) {
    g = it->second;
  } else {
    bytecode::AggSpec spec;
    spec.kind = static_cast<bytecode::AggKind>(a->agg);
    spec.window = static_cast<bytecode::Window>(a->window);
    spec.source = a->source == HistorySource::Received ? bytecode::AggSource::Received : bytecode::AggSource::Redeemed;
    spec.window_value = wv;
    if (!f.strategy.empty()) spec.strategy = g_.strategy_index_.at(f.strategy);
    if (!f.resource.empty()) spec.resource = g_.resource_index_.at(f.resource);
    if (!f.channel.empty()) {
      auto c = std::find(g_.prog_.channels.begin(), g_.prog_.channels.end(), f.channel);
      if (c == g_.prog_.channels.end()) throw Unsupported("unknown channel in a delivery history");
      spec.channel = static_cast<int32_t>(c - g_.prog_.channels.begin());
    }
    spec.code = f.code;
    spec.text = format::format_expr(a);
    g = static_cast<uint32_t>(g_.prog_.aggregates.size());
    g_.prog_.aggregates.push_back(std::move(spec));
    g_.agg_index_[key] = g;
  }
  uint16_t r = reg();
  emit({Op::LOAD_AGG, r, g});
  return r;
}

uint16_t UnitGen::binary(const BinaryExpr* b, const Env& env) {
  switch (b->op) {
    case BinaryOp::And:
    case BinaryOp::Or: {
      if (batch_) {
        uint16_t l = expr(b->lhs, env), x = expr(b->rhs, env);
        uint16_t r = reg();
        emit({b->op == BinaryOp::And ? Op::AND_THEN : Op::OR_ELSE, r, l, x});
        return r;
      }
      // Short-circuit: the right side runs only when it can change the result. A register the
      // left side allocated itself is free to hold the result; one allocated earlier (a bound
      // parameter) is shared and must be copied first.
      uint16_t before = next_;
      uint16_t l = expr(b->lhs, env);
      uint16_t r = l;
      if (l < before) {
        r = reg();
        emit({Op::MOV, r, l});
      }
      size_t j = emit({b->op == BinaryOp::And ? Op::JUMP_IF_FALSE : Op::JUMP_IF_TRUE, 0, r, 0});
      uint16_t x = expr(b->rhs, env);
      emit({Op::MOV, r, x});
      patch(j);
      return r;
    }
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt: case BinaryOp::Ge: {
      const sema::Type& lt = type(b->lhs);
      const sema::Type& rt = type(b->rhs);
      // `tags == {}` (the checker typed the literal from `tags`): whether `tags` has no element.
      if (auto* other = empty_collection_other(b)) {
        const sema::Type& ot = type(other);
        uint16_t c = expr(other, env);
        uint16_t base = next_;
        emit({Op::MOV, reg(), c});
        uint16_t n = reg();
        auto len = ot.kind == TypeKind::Set ? bytecode::Overload::LenOfSet : bytecode::Overload::LenOfList;
        emit({Op::CALL, n, static_cast<uint32_t>(len), base, 1});
        uint16_t d = reg();
        emit({b->op == BinaryOp::Eq ? Op::EQ : Op::NE, d, n, constant(0)});
        return d;
      }
      if (lt.kind != TypeKind::String || b->op == BinaryOp::Eq || b->op == BinaryOp::Ne)
        if (auto fused = compare_with_constant(b, env)) return *fused;
      uint16_t l = expr(b->lhs, env), r = expr(b->rhs, env);
      uint16_t lv = l, rv = r;
      if (lt.kind != rt.kind && (lt.kind == TypeKind::Decimal || rt.kind == TypeKind::Decimal)) {
        l = to_fix(l, lt);
        r = to_fix(r, rt);
      }
      bool str = lt.kind == TypeKind::String && b->op != BinaryOp::Eq && b->op != BinaryOp::Ne;
      uint16_t d = reg();
      if ((b->op == BinaryOp::Eq || b->op == BinaryOp::Ne) && (lt.optional || rt.optional)) {
        emit({Op::EQ, d, l, r});
        d = equal_present(d, b->lhs, lv, b->rhs, rv);
        if (b->op == BinaryOp::Ne) emit({Op::NOT, d, d});
        return d;
      }
      switch (b->op) {
        case BinaryOp::Eq: emit({Op::EQ, d, l, r}); break;
        case BinaryOp::Ne: emit({Op::NE, d, l, r}); break;
        case BinaryOp::Lt: emit({str ? Op::STR_LT : Op::LT, d, l, r}); break;
        case BinaryOp::Le: emit({str ? Op::STR_LE : Op::LE, d, l, r}); break;
        case BinaryOp::Gt: emit({str ? Op::STR_LT : Op::LT, d, r, l}); break;
        default: emit({str ? Op::STR_LE : Op::LE, d, r, l}); break;
      }
      return d;
    }
    case BinaryOp::In:
    case BinaryOp::NotIn: return membership(b, env);
    case BinaryOp::Coalesce: {
      // `a ?? b`: both sides evaluated; a's value where a is present, else b's.
      const sema::Type& t = type(b);
      uint16_t l = expr(b->lhs, env), r = expr(b->rhs, env);
      uint16_t pl = present(b->lhs, l);
      uint16_t pr = t.optional ? present(b->rhs, r) : 0;
      if (t.kind == TypeKind::Decimal) { l = to_fix(l, type(b->lhs)); r = to_fix(r, type(b->rhs)); }
      uint16_t d = reg();
      emit({Op::COALESCE, d, pl, l, r});
      if (t.optional) {  // `a ?? b` with an optional b is there when either is
        uint16_t p = reg();
        emit({Op::OR, p, pl, pr});
        presence_[d] = p;
      }
      return d;
    }
    default: return arith(b, env);
  }
}

// `x op constant` (or `constant op x`) as one instruction: the constant is encoded at compile
// time, already widened to Decimal when the other side is Decimal.
std::optional<uint16_t> UnitGen::compare_with_constant(const BinaryExpr* b, const Env& env) {
  const Expr* x = b->lhs;
  const Expr* c = b->rhs;
  BinaryOp op = b->op;
  if (!g_.p_.const_of(c)) {
    if (!g_.p_.const_of(x)) return std::nullopt;
    std::swap(x, c);
    switch (op) {  // mirror the comparison
      case BinaryOp::Lt: op = BinaryOp::Gt; break;
      case BinaryOp::Le: op = BinaryOp::Ge; break;
      case BinaryOp::Gt: op = BinaryOp::Lt; break;
      case BinaryOp::Ge: op = BinaryOp::Le; break;
      default: break;
    }
  }
  const sema::Type& xt = type(x);
  const sema::Type& ct = type(c);
  if (xt.kind == TypeKind::Set || xt.kind == TypeKind::List || ct.kind == TypeKind::Set || ct.kind == TypeKind::List)
    return std::nullopt;
  int64_t kv = g_.encode(*g_.p_.const_of(c), ct);
  bool widen = xt.kind != ct.kind && (xt.kind == TypeKind::Decimal || ct.kind == TypeKind::Decimal);
  // INT_TO_FIX of the constant now; where it faults, the comparison is compiled as is and faults at run time.
  if (widen && ct.kind == TypeKind::Int && bytecode::ops::int_to_fix(kv, kv) != bytecode::ops::Fault::None) return std::nullopt;
  uint16_t xv = expr(x, env);
  uint16_t xr = widen ? to_fix(xv, xt) : xv;
  uint16_t d = reg();
  if (xt.optional) {  // only `==`/`!=` take an optional; an absent value equals no constant
    emit({Op::EQ_K, d, xr, g_.constant(kv)});
    d = equal_present(d, x, xv, nullptr, 0);
    if (op == BinaryOp::Ne) emit({Op::NOT, d, d});
    return d;
  }
  Op o = op == BinaryOp::Eq ? Op::EQ_K : op == BinaryOp::Ne ? Op::NE_K : op == BinaryOp::Lt ? Op::LT_K
       : op == BinaryOp::Le ? Op::LE_K : op == BinaryOp::Gt ? Op::GT_K : Op::GE_K;
  emit({o, d, xr, g_.constant(kv)});
  return d;
}

// `x in C` is `x == e` for some element e, with the comparison `==` uses: when either x or the
// element type is Decimal, Int values are widened to Decimal first (an Int that does not fit is
// an overflow, as for `==`), so `3.0 in [1, 3]` and `3 in [1.5, 3.0]` are both true.
uint16_t UnitGen::membership(const BinaryExpr* b, const Env& env) {
  const sema::Type& lt = type(b->lhs);
  const sema::Type& rt = type(b->rhs);
  const sema::Type et = rt.elem ? *rt.elem : sema::Type{};
  bool widen = lt.kind == TypeKind::Decimal || et.kind == TypeKind::Decimal;
  uint16_t xv = expr(b->lhs, env);
  uint16_t x = widen ? to_fix(xv, lt) : xv;
  uint16_t d = reg();
  // Constant elements encoded in the comparison's type; nullopt when one does not fit (then the
  // elements are compared one by one, and widening that one fails at run time, as for `==`).
  auto constant_set = [&](const Value& v) -> std::optional<std::vector<int64_t>> {
    std::vector<int64_t> values;
    for (const auto& el : std::get<std::shared_ptr<const Value::Collection>>(v.v)->elems) {
      int64_t k;
      if (auto* i = std::get_if<int64_t>(&el.v); i && widen) {
        if (bytecode::ops::int_to_fix(*i, k) != bytecode::ops::Fault::None) return std::nullopt;  // INT_TO_FIX
      } else {
        k = g_.encode(el, et);
      }
      values.push_back(k);
    }
    return values;
  };
  const Value* cv = g_.p_.const_of(b->rhs);
  std::optional<std::vector<int64_t>> values = cv ? constant_set(*cv) : std::nullopt;
  if (values) {
    emit({Op::IN_SET, d, x, g_.set(std::move(*values))});
  } else if (cv || b->rhs->kind == ExprKind::Collection) {
    // Elements computed at run time (or a constant that must fail when widened): a chain of
    // comparisons, no allocation.
    emit({Op::LOAD_CONST, d, g_.constant(0)});
    auto one = [&](uint16_t y, const sema::Type& yt) {
      if (widen) y = to_fix(y, yt);
      uint16_t eq = reg();
      emit({Op::EQ, eq, x, y});
      emit({Op::OR, d, d, eq});
    };
    if (cv) {
      for (const auto& el : std::get<std::shared_ptr<const Value::Collection>>(cv->v)->elems) {
        sema::Type ekt = std::holds_alternative<int64_t>(el.v) ? sema::Type::of(TypeKind::Int) : et;
        one(constant(g_.encode(el, ekt)), ekt);
      }
    } else {
      for (const Expr* el : static_cast<const CollectionLit*>(b->rhs)->elems) one(expr(el, env), type(el));
    }
  } else {
    uint16_t s = expr(b->rhs, env);
    // A Decimal looked up among stored Ints: only a whole number can be there.
    emit({lt.kind == TypeKind::Decimal && et.kind == TypeKind::Int ? Op::IN_VALUE_SET_DEC : Op::IN_VALUE_SET, d, x, s});
  }
  d = equal_present(d, b->lhs, xv, nullptr, 0);  // an absent value is in no collection
  if (b->op == BinaryOp::NotIn) emit({Op::NOT, d, d});
  return d;
}

// The operator's overload (compiler/sema/operators.def) says which instruction and how the
// operands reach it; the checker folded constants with the same row.
uint16_t UnitGen::arith(const BinaryExpr* b, const Env& env) {
  const sema::Type& lt = type(b->lhs);
  const sema::Type& rt = type(b->rhs);
  const sema::ArithOverload* o = sema::find_arith(b->op, lt.kind, rt.kind);
  if (!o) throw Unsupported("operator");
  uint16_t l = expr(b->lhs, env), r = expr(b->rhs, env);
  uint16_t d = reg();
  switch (o->form) {
    case sema::ArithOverload::Form::Plain: emit({o->opcode, d, l, r}); break;
    case sema::ArithOverload::Form::WidenInts: emit({o->opcode, d, to_fix(l, lt), to_fix(r, rt)}); break;
    case sema::ArithOverload::Form::NegRight: {
      uint16_t neg = reg();
      emit({Op::NEG, neg, r});
      emit({o->opcode, d, l, neg});
      break;
    }
    case sema::ArithOverload::Form::Swap: emit({o->opcode, d, r, l}); break;
  }
  return d;
}

// Whether evaluating `e` can fail: anything but a constant and a field every user has a value
// for (a parameter is bound to an argument that may have failed, so it may too).
bool UnitGen::may_fail(const Expr* e) {
  if (!e || g_.p_.const_of(e)) return false;
  if (e->kind == ExprKind::Name) {
    const auto& ref = g_.p_.refs[e->id];
    if (ref.kind == sema::Ref::Kind::EventField) return false;
    if (ref.kind == sema::Ref::Kind::ProfileField) return ref.field && ref.field->profile_read_may_fail();
  }
  return true;
}

// Whether evaluating `e` reads parameter `p` on every path, so that a fault of its argument
// reaches e's value in every VM: not under the right of `and`/`or` nor in a branch of `if`.
bool UnitGen::always_reads(const Expr* e, const Param* p, int depth) {
  if (!e || depth > 256 || g_.p_.const_of(e)) return false;  // a folded node reads nothing
  switch (e->kind) {
    case ExprKind::Name: {
      const auto& ref = g_.p_.refs[e->id];
      return ref.kind == sema::Ref::Kind::Param && ref.param == p;
    }
    case ExprKind::Unary: return always_reads(static_cast<const UnaryExpr*>(e)->operand, p, depth + 1);
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      if (b->op == BinaryOp::And || b->op == BinaryOp::Or) return always_reads(b->lhs, p, depth + 1);
      return always_reads(b->lhs, p, depth + 1) || always_reads(b->rhs, p, depth + 1);
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      return always_reads(b->value, p, depth + 1) || always_reads(b->lo, p, depth + 1) || always_reads(b->hi, p, depth + 1);
    }
    case ExprKind::If: return always_reads(static_cast<const IfExpr*>(e)->cond, p, depth + 1);
    case ExprKind::Call:  // arguments, of a built-in or a function, are all evaluated (and joined)
      for (const Arg& a : static_cast<const CallExpr*>(e)->args)
        if (always_reads(a.value, p, depth + 1)) return true;
      return false;
    case ExprKind::Collection:
      for (const Expr* x : static_cast<const CollectionLit*>(e)->elems)
        if (always_reads(x, p, depth + 1)) return true;
      return false;
    default: return false;
  }
}

uint16_t UnitGen::call(const CallExpr* c, const Env& env) {
  auto& p = g_.p_;
  // A user function (they shadow builtins): inline its body with the arguments bound.
  const FnDecl* fn = sema::called_function(p, *c);
  if (fn) {
    Env inner;
    std::vector<const Expr*> args = sema::bound_arguments(*fn, *c);
    for (size_t i = 0; i < fn->params.size(); ++i) {
      const Param* prm = fn->params[i];
      const Expr* arg = args[i];
      Binding bnd;
      bnd.static_value = static_value(arg, env);
      bnd.reg = expr(arg, env);
      // An Int argument for a Decimal parameter is widened once, here.
      const sema::Type& at = type(arg);
      if (at.kind == TypeKind::Int && prm->type && prm->type->name == "Decimal") bnd.reg = to_fix(bnd.reg, at);
      inner.params[prm] = bnd;
    }
    uint16_t r = expr(fn->body, inner);
    // Arguments are evaluated before the body (docs/language.md 3.1; the reference evaluator):
    // one that fails fails the call, even where the body does not read it, or reads it only in
    // an untaken `if` branch or the right of an `and`. The scalar VM met such a fault at the
    // argument, but dead-code elimination dropped an argument nobody read (`f(age)` of
    // `fn f(x: Int): Bool = true` was true for a user without `age`), and the batch VM and the
    // JIT take an untaken branch's faults away (SELECT). So the result takes the faults of every
    // argument that may fail and that the body does not read unconditionally: COALESCE (every
    // operand's faults count) with a true presence keeps the body's value.
    for (size_t i = 0; i < fn->params.size(); ++i) {
      const Param* prm = fn->params[i];
      if (!may_fail(args[i]) || always_reads(fn->body, prm, 0)) continue;
      uint16_t one = constant(1);
      uint16_t joined = reg();
      emit({Op::COALESCE, joined, one, r, inner.params[prm].reg});
      if (auto it = presence_.find(r); it != presence_.end()) presence_[joined] = it->second;
      r = joined;
    }
    return r;
  }
  // A built-in: the overload the checker resolved, its arguments in consecutive registers.
  const sema::Ref& ref = p.refs[c->id];
  if (ref.kind != sema::Ref::Kind::Builtin) throw Unsupported("unknown function");
  auto overload = static_cast<bytecode::Overload>(ref.index);
  if (overload == bytecode::Overload::Now) {
    uint16_t r = reg();
    emit({Op::LOAD_NOW, r});
    return r;
  }
  std::vector<uint16_t> args;
  for (const Arg& a : c->args) args.push_back(expr(a.value, env));
  uint16_t base = next_;
  for (uint16_t a : args) { uint16_t r = reg(); emit({Op::MOV, r, a}); }
  uint16_t d = reg();
  emit({Op::CALL, d, static_cast<uint32_t>(overload), base, static_cast<uint32_t>(args.size())});
  return d;
}

}  // namespace

Output generate(const sema::Program& program, const Options& options) { return Codegen(program, options).run(); }

Output generate(const sema::Program& program, const std::vector<const Expr*>& probes, std::vector<int32_t>& probe_units) {
  probe_units.clear();
  return Codegen(program, Options{}).run(&probes, &probe_units);
}

}  // namespace crm::codegen
