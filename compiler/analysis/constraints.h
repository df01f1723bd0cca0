// constraints.h - conditions read as conjunctions of constraints on single quantities.
//
// Shared by the conflict analysis (conflicts.h: can two strategies select one user?) and the
// never-deliver analysis (never_deliver.h: can one strategy select anyone at all?). A condition
// is read as `a and b and ...`; each part that compares one quantity with constants (`age
// between 18 and 35`, `city in {...}`, `tier == Gold`, `level >= 3`, `hash_bucket(user, 5) == 2`,
// `not ...`) narrows that quantity's set of values. Anything else (history aggregates, `or`,
// user functions, `now()`) is taken as possibly true, so "empty" is always a proof.
//
// Quantities ("terms") are profile fields, optionally event fields, and `hash_bucket(x, n)` with
// a constant n, whose values are 0..n-1. Two terms are the same only when their expressions are
// the same: the same field, the same x and the same n. Within one strategy (event fields on),
// `now()` is a term too, the decision instant, and so is the trigger event's `time`, which is
// that instant (the caller adds what the strategy's `when:` says of it, see now_term()).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "compiler/sema/program.h"

namespace crm::analysis {

inline constexpr int64_t kNoLow = std::numeric_limits<int64_t>::min();
inline constexpr int64_t kNoHigh = std::numeric_limits<int64_t>::max();

// A quantity a condition constrains.
struct Term {
  std::string key;   // identity: equal keys denote the same value for one user at one instant
  std::string name;  // as shown to users: `member_level`, `hash_bucket(user, 5)`
  sema::Type type;
  // The values the term can take at all (hash_bucket: 0..n-1; a required Bool or enum: its
  // values). An optional field has no domain: a missing value satisfies `!=` and `not in`.
  int64_t lo = kNoLow, hi = kNoHigh;
  bool text() const { return type.kind == sema::TypeKind::String; }
};

// The values one condition (or several, met) allows for one term. Numbers are encoded as the
// field stores them: Decimal/Money in millionths, enums by index, times in microseconds.
struct Range {
  int64_t lo = kNoLow, hi = kNoHigh;  // inclusive
  std::optional<std::set<int64_t>> allowed;
  std::set<int64_t> excluded;
  std::optional<std::set<std::string>> allowed_text;
  std::set<std::string> excluded_text;

  void meet(const Range& o);  // both must hold
};

// Some value of `t` within `r`: nullopt when there is none; "" when any value will do; else a
// witness such as `age = 30`.
std::optional<std::string> example(const Term& t, const Range& r);
// A value of `t` as written in the language (enum names, money with its currency, times).
std::string show(const Term& t, int64_t v);

// Everything a condition requires of one term, with the comparisons that said so.
struct Constraint {
  Term term;
  Range range;  // all atoms met
  struct Atom {
    Range range;
    source::Span span;  // the comparison in the source
    std::string label;  // shown instead of the source text (e.g. `between A and B` of a `when:`)
    bool self = false;  // a value compared with itself, never true (`age > age`)
  };
  std::vector<Atom> atoms;
};

using Constraints = std::map<std::string, Constraint>;  // by Term::key

class ConstraintExtractor {
 public:
  // `event_fields`: also constrain the trigger event's fields (one strategy's `where:` and
  // `if`); off when comparing audiences, which are about users rather than single events.
  ConstraintExtractor(const sema::Program& p, bool event_fields) : p_(p), event_fields_(event_fields) {}

  // Adds what `e` being true requires to `out` (call it for each clause of a conjunction).
  void add(const ast::Expr* e, Constraints& out);
  // Adds a requirement that does not come from a condition (e.g. a `when:` window on now_term()).
  void require(const Term& t, const Range& r, source::Span span, std::string label, Constraints& out) {
    narrow(t, r, span, out, std::move(label));
  }
  // The decision instant: `now()`, and the trigger event's `time` (event fields on).
  static Term now_term();
  Constraints of(const ast::Expr* e) {
    Constraints c;
    add(e, c);
    return c;
  }

 private:
  const sema::FieldInfo* field(const ast::Expr* e) const;
  std::optional<std::string> key(const ast::Expr* e, int depth) const;
  std::optional<Term> term(const ast::Expr* e) const;
  void narrow(const Term& t, const Range& r, source::Span span, Constraints& out, std::string label = "");
  void compare(const Term& t, ast::BinaryOp op, const sema::Value& v, source::Span span, Constraints& out);
  void walk(const ast::Expr* e, bool negated, Constraints& out);
  bool self_comparison(const ast::BinaryExpr* b, bool negated, source::Span span, Constraints& out);

  const sema::Program& p_;
  bool event_fields_;
  int depth_ = 0;
  source::Span walk_span_;  // the outermost `not` in effect, shown for the comparisons below it
};

// Whether some user can satisfy both `a` and `b`; if so, `witness` gets one value per term that
// either constrains (e.g. `age = 30`).
bool may_overlap(const Constraints& a, const Constraints& b, std::vector<std::string>& witness);

// A term that no value satisfies, and the comparisons that prove it: `last` is the comparison
// that emptied it, `earlier` the ones it contradicts (one when a single one suffices; empty when
// `last` alone is never true, e.g. `hash_bucket(user, 5) == 7`).
struct Contradiction {
  const Constraint* constraint;
  const Constraint::Atom* last;
  std::vector<const Constraint::Atom*> earlier;
};
std::optional<Contradiction> find_contradiction(const Constraints& c);

}  // namespace crm::analysis
