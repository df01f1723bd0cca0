// type_checker_internal.h - the type pass's checker, shared by its two halves: the rules of
// declarations (declaration_checker.cc: modules, constants, functions, resources, strategies,
// pools, splits and roll-outs, schedules, policies) and the typing of expressions
// (type_checker.cc: names, calls, aggregates, operators, folding). One class, because the
// declaration rules type their expressions on the way and expressions type constants and
// function signatures on demand (type_checker.cc's header says why). Internal to
// compiler/sema: only those two files include it, which is why its namespace may use names.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bytecode/builtins.h"
#include "bytecode/operations.h"
#include "compiler/diag/diagnostic.h"
#include "compiler/sema/check_context.h"
#include "compiler/sema/operators.h"
#include "compiler/sema/program.h"
#include "compiler/sema/resolver.h"

namespace crm::sema::detail {

using namespace crm::ast;
using diag::Code;
using support::Decimal;
using bytecode::Builtin;
using bytecode::BuiltinInfo;
using bytecode::Overload;
using bytecode::OverloadInfo;
using bytecode::SigType;
namespace ops = bytecode::ops;
using sema::ArithOverload;
using sema::find_arith;
using bytecode::all_builtins;
using bytecode::find_builtin;

class Checker {
 public:
  Checker(Program& p, diag::DiagnosticSink& s, Resolver& r, CheckTables& t) : p_(p), sink_(s), res_(r), t_(t) {}
  void run();
  void check_field_default(ModuleInfo* m, const FieldDecl* f, const Type& t);

 private:
  // ---- declarations (declaration_checker.cc) -----------------------------------------------

  void check_module(ModuleInfo& m);
  Type const_type(ModuleInfo* m, ConstDecl* c);
  void check_segment(ModuleInfo* m, SegmentDecl* s);
  FnSig& fn_sig(ModuleInfo* m, FnDecl* f);
  void check_fn_body(ModuleInfo* m, FnDecl* f);
  bool enter_decl(const Decl* d, const char* what);
  struct DeclDepth {
    CheckTables& t;
    explicit DeclDepth(CheckTables& tt) : t(tt) { ++t.decl_depth; }
    ~DeclDepth() { --t.decl_depth; }
  };

  // ---- resources -----------------------------------------------------------------------------

  struct PropSpec {
    const char* key;
    enum Want { MoneyV, IntV, StringV, StringOrSet, Window, UseWindow, Template, Ratio, Funders } want;
    bool required;
  };
  static const std::vector<PropSpec>* props_for(const std::string& kind);
  void check_resource(ModuleInfo* m, ResourceDecl* r);

  // The money of a `discount`: the amount, or the cap of `10% up to 20 CNY`.
  static const Expr* discount_money(const Property* p) { return p->kind == PropKind::Capped ? p->b : p->a; }
  std::optional<std::pair<int64_t, int64_t>> claim_window(const ResourceDecl* r);
  void check_property(Env& env, const PropSpec& spec, Property* p);
  void check_funders(const Property* p);
  std::optional<int64_t> draw_money(Env& env, const Expr* e, std::string& currency, const char* what);
  void check_draw(Env& env, const PropSpec& spec, Property* p);
  std::optional<int64_t> chance_of(const Action& a);
  void capped_discount(Env& env, Property* p);
  void check_template(const StringLit* s);
  void check_value(const StrategyDecl* s, const Clause* c, Env& env, const std::map<ClauseKind, const Clause*>& seen);
  struct FirstValue {
    Type type;
    Span span;
    std::string strategy;
  };
  std::optional<FirstValue> first_value_;
  void check_strategy(ModuleInfo* m, StrategyDecl* s);
  void check_recipients(Env& env, const StrategyDecl* s, const Clause* what, const Clause* when);
  void check_pool(ModuleInfo* m, PoolDecl* pd);
  const PoolDecl* resolve_pool(ModuleInfo* m, const Limit& l);
  void pool_currency(ModuleInfo* m, const Action& a, const PoolDecl* pool, Span pool_span);
  void budget_currency_matches(const ResourceDecl* r, const std::string& currency, Span at, const std::string& budget);
  void check_split(const Clause* c);
  void check_rollout(Env& env, const StrategyDecl* s, const Clause* c, const Clause* when,
                     const std::optional<std::pair<int64_t, int64_t>>& window, const Clause* split);
  void check_arm(const StrategyDecl* s, const Action& a, const Clause* split);
  void warn_if_false(const Expr* e, bool ok, const char* clause);
  std::optional<std::pair<int64_t, int64_t>> check_when(Env& env, const Clause* c);
  void check_delay(Env& env, const Clause* c);
  void check_cancel_where(const Expr* e, const RecordInfo* cancel, const RecordInfo* trigger);
  void schedule_period_in_range(const Expr* e);
  void warn_schedule_rows(const StrategyDecl* s, const Clause* when, const std::optional<std::pair<int64_t, int64_t>>& window,
                          size_t actions);
  static std::string thousands(int64_t n);
  std::optional<std::pair<int64_t, int64_t>> time_window(Env& env, const Expr* from, const Expr* to,
                                                         const std::string& what);
  void check_action(ModuleInfo* m, const StrategyDecl* s, const Action& a,
                    const std::optional<std::pair<int64_t, int64_t>>& window, const std::string& budget_currency,
                    Span budget_span);
  static bool clock_parts(const std::string& c, int& hh, int& mm);
  void positive_count(const std::string& text, Span span, const char* what);
  void check_period(const Period& p);
  void period_within_100_years(int64_t micros, Span span, const char* what, const char* help);
  void check_policy(ModuleInfo*, PolicyDecl* pd);

  // ---- expressions (type_checker.cc) -------------------------------------------------------

  void use(Span span, Target target);

  Type& set_type(const Expr* e, Type t) { return p_.types[e->id] = std::move(t); }
  void set_const(const Expr* e, Value v);
  bool is_static(const Expr* e) const { return e && t_.is_static[e->id]; }
  bool require_constant(const Expr* e, const char* what);
  bool reads_user_data(const Expr* e, int depth = 0);
  bool check_condition(const Expr* e, Env& env, const char* what);
  void optional_error(const Expr* e, const Type& t);
  static std::string default_example(const Type& t);
  bool assignable(const Type& from, const Type& to);
  void mismatch(const Expr* e, const Type& want, const Type& got);
  void mismatch_named(const Expr* e, const char* want, const Type& got);
  void currency_mismatch(const Expr* e, const Type& a, const Type& b, const char* what);
  bool expect(const Expr* e, const Type& got, const Type& want);
  void edge(const Env& env, const Decl* target);
  Type check(const Expr* e, Env& env, const Type* hint);
  Type check_inner(const Expr* e, Env& env, const Type* hint);
  void bad_number(const Expr* e, const std::string& text);
  Type number(const NumberLit* n);
  std::optional<int64_t> duration_micros(const std::string& text, Span span);
  Type collection(const CollectionLit* c, Env& env, const Type* hint);
  std::vector<std::string> name_candidates(Env& env);
  Type enum_value(const Expr* e, const EnumInfo* info, int idx);
  bool is_scene_enum(const EnumInfo& e) const;
  diag::Diagnostic& not_a_value(Span span, const std::string& id, const EnumInfo& e);
  void no_scene(Span span, const RecordInfo* event);
  Type name(const NameExpr* n, Env& env, const Type* hint);
  Type field(const FieldExpr* f, Env& env);
  Type call(const CallExpr* c, Env& env);
  Type user_call(const CallExpr* c, Env& env, const Symbol* s);
  Type builtin_call(const CallExpr* c, Env& env, const BuiltinInfo& b);

  static bool accepts(SigType want, TypeKind got) { return want != SigType::Same && kind_of(want) == got; }
  static TypeKind kind_of(SigType t);
  bool fold_builtin(const CallExpr* c, const OverloadInfo& o, const std::vector<const Value*>& a);
  Type aggregate(const AggregateExpr* a, Env& env);
  Type history(const AggregateExpr* a, Env& env);
  void check_window(const AggregateExpr* a, Env& env);
  Type unary(const UnaryExpr* u, Env& env);
  void overflow(const Expr* e);
  Type binary(const BinaryExpr* b, Env& env, const Type* hint);
  Type logical(const BinaryExpr* b, Env& env);
  std::pair<Type, Type> check_pair(const Expr* x, const Expr* y, Env& env);
  bool comparable(const Expr* e, const Type& a, const Type& b, const char* op);
  bool same_field(const Expr* a, const Expr* b);
  Type comparison(const BinaryExpr* b, Env& env);
  Type membership(const BinaryExpr* b, Env& env);
  Type coalesce(const BinaryExpr* b, Env& env, const Type* hint);
  Type between(const BetweenExpr* b, Env& env);
  Type if_expr(const IfExpr* i, Env& env, const Type* hint);
  Type arithmetic(const BinaryExpr* b, Env& env);
  bool fold_arith(const BinaryExpr* b, const ArithOverload& o, const Value& x, const Value& y, const Type& out);

  Program& p_;
  diag::DiagnosticSink& sink_;
  Resolver& res_;
  CheckTables& t_;
};

}  // namespace crm::sema::detail
