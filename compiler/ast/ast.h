// ast.h - the typed syntax tree that every stage after parsing works on.
//
// The tree stays exactly as parsed (it is what the formatter prints back); types, resolved
// symbols and folded constants live in side tables keyed by NodeId (see sema/). Nodes are owned
// by an AstContext arena and referred to by raw pointers, which keeps them cheap to build and
// lets a checked program be shared read-only across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compiler/source/source_manager.h"

namespace crm::ast {

using source::Span;
using NodeId = uint32_t;

struct Node {
  NodeId id = 0;
  Span span;
  virtual ~Node() = default;
};

// ---- expressions ---------------------------------------------------------------------------

enum class ExprKind : uint8_t {
  Number, Money, Duration, Percent, String, Time, Date, Bool, Collection,
  Name, Field, Call, Aggregate, Unary, Binary, Between, If,
};

struct Expr : Node {
  explicit Expr(ExprKind k) : kind(k) {}
  ExprKind kind;
};

// Literals keep their source text: the formatter reprints it and the checker parses it exactly.
struct NumberLit : Expr { NumberLit() : Expr(ExprKind::Number) {} std::string text; };
struct MoneyLit : Expr { MoneyLit() : Expr(ExprKind::Money) {} std::string amount, currency; };
struct DurationLit : Expr { DurationLit() : Expr(ExprKind::Duration) {} std::string amount, unit; };
struct PercentLit : Expr { PercentLit() : Expr(ExprKind::Percent) {} std::string amount; };
struct StringLit : Expr { StringLit() : Expr(ExprKind::String) {} std::string value; };  // unescaped
struct TimeLit : Expr { TimeLit() : Expr(ExprKind::Time) {} std::string text; };
struct DateLit : Expr { DateLit() : Expr(ExprKind::Date) {} std::string text; };
struct BoolLit : Expr { BoolLit() : Expr(ExprKind::Bool) {} bool value = false; };
struct CollectionLit : Expr {
  CollectionLit() : Expr(ExprKind::Collection) {}
  bool is_set = true;
  std::vector<Expr*> elems;
};

struct NameExpr : Expr { NameExpr() : Expr(ExprKind::Name) {} std::string name; };

struct FieldExpr : Expr {
  FieldExpr() : Expr(ExprKind::Field) {}
  Expr* base = nullptr;
  std::string field;
  Span field_span;
};

struct Arg {
  std::string name;  // empty for a positional argument
  Span name_span;
  Expr* value = nullptr;
};

struct CallExpr : Expr {
  CallExpr() : Expr(ExprKind::Call) {}
  std::string callee;
  Span callee_span;
  std::vector<Arg> args;
};

enum class AggKind : uint8_t { Count, Sum, Avg, Min, Max, First, Last, Exists };
enum class WindowKind : uint8_t { All, Within, LastN, Previous, PreviousN, Since };

// What an aggregate reads: the user's events, or the user's own delivery history (`received(...)`:
// deliveries made to the user, `redeemed(...)`: redemptions of the user's grants), narrowed by
// `history_args` (a strategy or resource named positionally, `resource:`, `strategy:`... ).
enum class HistorySource : uint8_t { Events, Received, Redeemed };

struct AggregateExpr : Expr {
  AggregateExpr() : Expr(ExprKind::Aggregate) {}
  AggKind agg = AggKind::Count;
  HistorySource source = HistorySource::Events;
  bool bare = false;               // `received(x)` written alone: exists(received(x))
  std::vector<Arg> history_args;   // Received / Redeemed
  Span history_span;               // `received(...)` itself
  std::string event;
  Span event_span;
  std::string field;  // empty when aggregating whole events
  Span field_span;
  Expr* filter = nullptr;
  WindowKind window = WindowKind::All;
  Expr* window_expr = nullptr;  // Within: Duration, Since: Time
  std::string window_n;         // LastN / PreviousN count, as written
  Span window_span;
};

enum class UnaryOp : uint8_t { Neg, Not };
struct UnaryExpr : Expr {
  UnaryExpr() : Expr(ExprKind::Unary) {}
  UnaryOp op = UnaryOp::Neg;
  Expr* operand = nullptr;
};

enum class BinaryOp : uint8_t { Or, And, Eq, Ne, Lt, Le, Gt, Ge, In, NotIn, Coalesce, Add, Sub, Mul, Div };
struct BinaryExpr : Expr {
  BinaryExpr() : Expr(ExprKind::Binary) {}
  BinaryOp op = BinaryOp::And;
  Expr* lhs = nullptr;
  Expr* rhs = nullptr;
  Span op_span;
};

struct BetweenExpr : Expr {
  BetweenExpr() : Expr(ExprKind::Between) {}
  bool negated = false;
  Expr* value = nullptr;
  Expr* lo = nullptr;
  Expr* hi = nullptr;
};

struct IfExpr : Expr {
  IfExpr() : Expr(ExprKind::If) {}
  Expr* cond = nullptr;
  Expr* then_expr = nullptr;
  Expr* else_expr = nullptr;
};

const char* to_string(BinaryOp op);
const char* to_string(AggKind k);
const char* to_string(HistorySource s);  // "received", "redeemed" ("" for events)

// ---- types as written ------------------------------------------------------------------------

struct TypeRef : Node {
  std::string name;      // Int, Money, Set, an enum name...
  std::string currency;  // Money(CNY)
  Span currency_span;
  TypeRef* elem = nullptr;  // Set<T>, List<T>
  bool optional = false;
};

// ---- declarations --------------------------------------------------------------------------

enum class DeclKind : uint8_t { Profile, Event, Enum, Const, Segment, Fn, Resource, Strategy, Policy, Pool };

struct Decl : Node {
  explicit Decl(DeclKind k) : kind(k) {}
  DeclKind kind;
  std::string name;  // empty for `profile`
  Span name_span;
};

struct FieldDecl : Node {
  std::string name;
  Span name_span;
  TypeRef* type = nullptr;
  Expr* default_value = nullptr;
};

struct ProfileDecl : Decl { ProfileDecl() : Decl(DeclKind::Profile) {} std::vector<FieldDecl*> fields; };
struct EventDecl : Decl { EventDecl() : Decl(DeclKind::Event) {} std::vector<FieldDecl*> fields; };

struct EnumValue {
  std::string name;
  Span span;
};
struct EnumDecl : Decl { EnumDecl() : Decl(DeclKind::Enum) {} std::vector<EnumValue> values; };

struct ConstDecl : Decl {
  ConstDecl() : Decl(DeclKind::Const) {}
  TypeRef* type = nullptr;  // optional annotation
  Expr* value = nullptr;
};

struct SegmentDecl : Decl { SegmentDecl() : Decl(DeclKind::Segment) {} Expr* value = nullptr; };

struct Param : Node {
  std::string name;
  TypeRef* type = nullptr;
  Expr* default_value = nullptr;
};

struct FnDecl : Decl {
  FnDecl() : Decl(DeclKind::Fn) {}
  std::vector<Param*> params;
  TypeRef* result = nullptr;
  Expr* body = nullptr;
};

// Draw: `random A .. B step S` (a = A, b = B, step = S) or `random {v: p%, ...}` (draw_table).
// Capped: `discount: 10% up to 20 CNY` (a = the percentage, b = the cap).
// Funders: `funded: {merchant: 70%, platform: 30%}` (who pays the subsidy; funders).
enum class PropKind : uint8_t { Value, Range, AfterClaim, Draw, Capped, Funders };
struct DrawEntry {
  Expr* value = nullptr;
  std::string weight;  // the percentage as written, without `%`
  Span weight_span;
};
struct FundShare {
  std::string funder;
  Span funder_span;
  std::string share;  // the percentage as written, without `%`
  Span share_span;
};
struct Property : Node {
  std::string key;
  Span key_span;
  PropKind kind = PropKind::Value;
  Expr* a = nullptr;  // the value, the range start, the duration after claim, or the percentage
  Expr* b = nullptr;  // the range end, or the cap
  Expr* step = nullptr;  // Draw over a range: the step (null when not written)
  std::vector<DrawEntry> draw_table;  // Draw from a table (empty for a range)
  std::vector<FundShare> funders;     // Funders
};

struct ResourceDecl : Decl {
  ResourceDecl() : Decl(DeclKind::Resource) {}
  std::string resource_kind;  // coupon, red_envelope, points, push, sms
  Span kind_span;
  std::vector<Property*> props;
};

// A period as written in limits and policies: `day`, `7 days`, `campaign`.
struct Period {
  enum class Kind : uint8_t { Campaign, Duration, Unit } kind = Kind::Unit;
  std::string text;  // the unit name or the duration text
  Span span;
};

enum class ClauseKind : uint8_t { Who, When, Where, What, HowMuch, Split, Priority, Zone, Exclusive, Value, Rollout };
enum class TriggerKind : uint8_t { On, At, Every };

struct Action {
  enum class Verb : uint8_t { Grant, Send } verb = Verb::Grant;
  std::string resource;
  Span resource_span;
  std::string channel;  // may be empty
  Span channel_span;
  std::string code;     // may be empty
  bool has_code = false;
  Span code_span;
  Expr* recipient = nullptr;  // `to event.referrer`: who receives it (null: the event's user)
  std::string chance;         // `with chance 5%`: the percentage as written (empty: always)
  Span chance_span;
  std::string salt;           // `salt "S"` of the draws (empty: the strategy's and resource's names)
  bool has_salt = false;
  Span salt_span;
  std::string arm;      // `for arm A`: only that arm's users get it; empty: every user
  Span arm_span;
  Span span;
};

struct Limit {
  enum class Kind : uint8_t { Budget, Stock, PerUser, Pacing, Pool } kind = Kind::Stock;
  std::string pool;   // Pool: `from pool NAME`
  Span pool_span;
  Expr* budget = nullptr;
  std::string count;  // stock or per-user count as written; Pacing: the mode (`even`)
  Period period;      // PerUser
  bool continued = false;  // `2 per campaign` written after a `per user` item
  Span span;
};

struct Clause : Node {
  ClauseKind kind = ClauseKind::Who;
  Span keyword_span;
  Expr* expr = nullptr;  // who, where, value, the `if` of when
  // when
  TriggerKind trigger = TriggerKind::On;
  std::string event;
  Span event_span;
  Expr* at = nullptr;     // At: the time; Every: the period
  std::string clock;      // Every ... at HH:MM
  Span clock_span;
  Expr* from = nullptr;   // window
  Expr* to = nullptr;
  // A delayed trigger (`, after D unless E where a == event.b`): null `delay` when immediate.
  Expr* delay = nullptr;
  Span delay_span;          // from `after` to the end of the delay
  std::string cancel_event; // empty: nothing cancels the timer
  Span cancel_span;
  Expr* cancel_where = nullptr;  // over the cancelling event's fields (bare) and the trigger's (`event.`)
  // what
  std::vector<Action> actions;
  // how much
  std::vector<Limit> limits;
  // split / priority / zone / exclusive
  std::string number;  // percent (without %), priority, the zone's text or the exclusive group, as written
  Span number_span;
  std::string salt;    // split: the declared salt (empty: the strategy's name)
  bool has_salt = false;
  bool has_control = false;  // split: `control P%` (its percent in `number`)
  struct ArmShare {
    std::string name, percent;  // the percent without `%`, as written
    Span name_span, percent_span;
  };
  std::vector<ArmShare> arms;  // split: `variants A 1%, B 1%`
  // rollout: `best of (A, B, C) by METRIC after D`
  struct ArmName {
    std::string name;
    Span span;
  };
  std::vector<ArmName> rollout_arms;
  std::string metric;  // as written: conversion, spend_per_user, roi
  Span metric_span;
  Expr* wait = nullptr;  // the duration after the strategy's start (a DurationLit)
};

struct StrategyDecl : Decl {
  StrategyDecl() : Decl(DeclKind::Strategy) {}
  std::string business;  // empty if absent
  bool has_business = false;
  Span business_span;
  std::vector<Clause*> clauses;
};

// `pool NAME { budget 10000 CNY  stock 20000 }`: campaign-wide counters shared by the strategies
// that draw from it (`how much: from pool NAME`).
struct PoolDecl : Decl {
  PoolDecl() : Decl(DeclKind::Pool) {}
  std::vector<Limit> limits;
};

struct PolicyRule : Node {
  enum class Kind : uint8_t { Unredeemed, SameType, ChannelCap, Quiet } kind = Kind::Unredeemed;
  std::string subject;  // `coupons` for Unredeemed, the channel for ChannelCap
  std::string clock_from, clock_to;  // Quiet: HH:MM
  bool drop = false;                 // Quiet: `drop` messages instead of holding them
  Span clock_from_span, clock_to_span;
  Span subject_span;
  std::string count;
  Period period;
};

struct PolicyDecl : Decl {
  PolicyDecl() : Decl(DeclKind::Policy) {}
  std::string business;  // empty: applies to every strategy
  bool has_business = false;
  Span business_span;
  std::vector<PolicyRule*> rules;
};

// ---- modules -------------------------------------------------------------------------------

struct Import {
  std::string path;  // dotted
  Span span;
  std::string alias;
};

struct Module : Node {
  source::FileId file = source::kNoFile;
  std::string name;  // dotted; empty when the file has no `module` line
  Span name_span;
  std::vector<Import> imports;
  // `zone "Asia/Shanghai"` after the module line: the program's default zone (as written).
  std::string zone;
  bool has_zone = false;
  Span zone_span;  // the string literal
  std::vector<Decl*> decls;
  // After syntax errors: the text the parser's recovery skipped or repaired (each error from its
  // token to the one where parsing resumed, inclusive) and what a comment never closed swallowed.
  // A declaration lost there may be the one an unknown name elsewhere refers to.
  std::vector<Span> repaired;
};

// Owns every node of a compilation. Ids are dense, so side tables can be plain vectors.
class AstContext {
 public:
  template <typename T>
  T* make(Span span) {
    auto node = std::make_unique<T>();
    node->id = static_cast<NodeId>(nodes_.size());
    node->span = span;
    T* raw = node.get();
    nodes_.push_back(std::move(node));
    return raw;
  }
  size_t size() const { return nodes_.size(); }
  // Every node by id (tools index the tree by position through this).
  const Node* node(NodeId id) const { return id < nodes_.size() ? nodes_[id].get() : nullptr; }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace crm::ast
