// conflicts.cc - overlapping strategies within one business (see conflicts.h).
#include "compiler/analysis/conflicts.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>

#include "compiler/analysis/constraints.h"
#include "compiler/sema/fold.h"

namespace crm::analysis {
namespace {

using namespace crm::ast;
using sema::Value;

constexpr int64_t kMin = kNoLow;
constexpr int64_t kMax = kNoHigh;

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

// The quantity most strategies of one business pin to a single value (`city == "Wuhan"`,
// `tier == Gold`, `vip`, `hash_bucket(user, 5) == 2`): two strategies pinned to different values
// of it are disjoint, so the sweep below pairs a pinned strategy only with those pinned to the
// same value and the unpinned ones. Which quantity is chosen changes only how many pairs are
// looked at, never the result.
std::optional<std::string> pinned_value(const Constraint& c) {
  const Range& r = c.range;
  if (r.allowed && r.allowed->size() == 1) return "#" + std::to_string(*r.allowed->begin());
  if (r.allowed_text && r.allowed_text->size() == 1) return "\"" + *r.allowed_text->begin();
  return std::nullopt;
}

std::optional<std::string> key_term(const std::vector<const Constraints*>& who) {
  std::map<std::string, size_t> pinned;  // by term key
  for (const Constraints* c : who)
    for (const auto& [key, k] : *c)
      if (pinned_value(k)) ++pinned[key];
  std::optional<std::string> best;
  size_t most = 1;
  for (const auto& [key, n] : pinned)
    if (n > most) {
      best = key;
      most = n;
    }
  return best;
}

// A `who:` the checker proves never true (W0101: it folds to false, or requires a `between`
// whose bounds are reversed): the strategy targets nobody, so it conflicts with none.
bool never_true(const sema::Program& p, const Expr* e, int depth = 0) {
  if (!e || depth > 64) return false;
  if (const sema::Value* v = p.const_of(e); v && std::holds_alternative<bool>(v->v)) return !std::get<bool>(v->v);
  switch (e->kind) {
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      return b->op == BinaryOp::And && (never_true(p, b->lhs, depth + 1) || never_true(p, b->rhs, depth + 1));
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      const sema::Value* lo = p.const_of(b->lo);
      const sema::Value* hi = p.const_of(b->hi);
      if (b->negated || !lo || !hi || !sema::fold::widens(*lo, *hi)) return false;
      auto above = sema::fold::compare(BinaryOp::Gt, *lo, *hi);
      return above && *above;
    }
    case ExprKind::Name: {
      const auto& ref = p.refs[e->id];
      return ref.kind == sema::Ref::Kind::Segment && never_true(p, ref.segment()->value, depth + 1);
    }
    default: return false;
  }
}

std::string thousands(uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

}  // namespace

std::vector<Conflict> check_strategy_conflicts(const sema::Program& p, diag::DiagnosticSink& sink,
                                               const ConflictOptions& options, ConflictStats* stats) {
  struct Info {
    const StrategyDecl* decl;
    size_t index;  // declaration order
    Window window;
    bool has_priority = false;
    std::string priority;
    std::string exclusive;
    Constraints who;
    int key = -1;  // the value of the business's key field it is pinned to; -1: not pinned
    bool valued = false;  // has `value:`: ranked per event against other valued strategies
    bool never = false;   // `who:` is never true (W0101)
  };
  std::map<std::string, std::vector<Info>> by_business;
  ConstraintExtractor extract(p, /*event_fields=*/false);
  size_t index = 0;
  for (const auto& m : p.modules) {
    if (m.is_std) continue;
    for (const Decl* d : m.ast->decls) {
      if (d->kind != DeclKind::Strategy) continue;
      auto* s = static_cast<const StrategyDecl*>(d);
      if (!s->has_business) continue;  // the rule is per business
      Info info{s, index++, window_of(s, p), false, "", "", {}, -1};
      for (const Clause* c : s->clauses) {
        if (c->kind == ClauseKind::Priority) { info.has_priority = true; info.priority = c->number; }
        if (c->kind == ClauseKind::Exclusive) info.exclusive = c->number;
        if (c->kind == ClauseKind::Who) info.who = extract.of(c->expr);
        if (c->kind == ClauseKind::Who && never_true(p, c->expr)) info.never = true;
        if (c->kind == ClauseKind::Value) info.valued = true;
      }
      // An empty window (rejected by the checker) overlaps nothing.
      if (info.window.from < info.window.to && !info.never) by_business[s->business].push_back(std::move(info));
    }
  }

  // A pair that may conflict, kept until the end so warnings come out in declaration order.
  struct Found {
    const Info* a;
    const Info* b;
    std::string business, example;
  };
  std::vector<Found> found;
  const size_t limit = std::max<size_t>(1, options.max_warnings);
  bool stopped = false;
  uint64_t not_examined = 0;  // pairs with overlapping windows left when the limit stopped the analysis

  // The pair's W0105 example when it may conflict; nullopt when it cannot (declared winner,
  // one exclusive group, or `who:` conditions that exclude each other).
  auto conflict = [](const Info& a, const Info& b) -> std::optional<std::string> {
    if (a.has_priority && b.has_priority && a.priority != b.priority) return std::nullopt;  // declared winner
    if (!a.exclusive.empty() && a.exclusive == b.exclusive) return std::nullopt;  // the runtime keeps them apart
    if (a.valued && b.valued) return std::nullopt;  // their values declare the winner, event by event
    std::vector<std::string> witness;
    if (!may_overlap(a.who, b.who, witness)) return std::nullopt;
    std::string example;
    for (size_t k = 0; k < witness.size(); ++k) example += (k ? ", " : "") + witness[k];
    return example;
  };

  for (auto& [business, list] : by_business) {
    // Pinned values of the key field, numbered.
    std::vector<const Constraints*> whos;
    for (const Info& s : list) whos.push_back(&s.who);
    std::map<std::string, int> keys;
    if (auto kt = key_term(whos)) {
      for (Info& s : list) {
        auto it = s.who.find(*kt);
        if (it == s.who.end()) continue;
        if (auto value = pinned_value(it->second))
          s.key = keys.emplace(*value, static_cast<int>(keys.size())).first->second;
      }
    }
    // Sweep by window start: when a strategy's window opens, the strategies whose windows are
    // still open are exactly those it overlaps among the earlier-starting ones. Each list of open
    // windows drops the closed ones as it is walked, so the work is the number of candidate pairs
    // plus a sort, not the square of the catalogue.
    std::vector<const Info*> order;
    for (const Info& s : list) order.push_back(&s);
    std::sort(order.begin(), order.end(), [](const Info* x, const Info* y) {
      return x->window.from != y->window.from ? x->window.from < y->window.from : x->index < y->index;
    });
    std::vector<const Info*> open_all, open_unpinned;
    std::vector<std::vector<const Info*>> open_pinned(keys.size());
    std::vector<const Info*> partners;
    auto take_open = [&partners](std::vector<const Info*>& open, int64_t now) {
      size_t kept = 0;
      for (const Info* s : open)
        if (s->window.to > now) {
          open[kept++] = s;
          partners.push_back(s);
        }
      open.resize(kept);
    };
    for (size_t pos = 0; pos < order.size() && !stopped; ++pos) {
      const Info& s = *order[pos];
      partners.clear();
      if (s.key < 0) {
        take_open(open_all, s.window.from);
      } else {
        take_open(open_unpinned, s.window.from);
        take_open(open_pinned[static_cast<size_t>(s.key)], s.window.from);
      }
      std::sort(partners.begin(), partners.end(), [](const Info* x, const Info* y) { return x->index < y->index; });
      size_t examined = 0;
      for (const Info* other : partners) {
        ++examined;
        if (stats) ++stats->pairs_examined;
        const Info& a = other->index < s.index ? *other : s;
        const Info& b = other->index < s.index ? s : *other;
        auto example = conflict(a, b);
        if (!example) continue;
        if (found.size() == limit) {
          // Count what is left without looking at it: for each strategy from here on, the
          // earlier-starting ones whose windows are still open when it starts.
          stopped = true;
          auto left = [](const std::vector<const Info*>& sorted, size_t from_pos) {
            std::vector<int64_t> ends;
            for (const Info* x : sorted) ends.push_back(x->window.to);
            std::sort(ends.begin(), ends.end());
            uint64_t n = 0;
            for (size_t q = from_pos; q < sorted.size(); ++q) {
              // Every window ending by this start began before it (windows are not empty).
              auto closed = std::upper_bound(ends.begin(), ends.end(), sorted[q]->window.from) - ends.begin();
              n += q - static_cast<size_t>(closed);
            }
            return n;
          };
          not_examined = left(order, pos) - examined;
          for (auto it = by_business.upper_bound(business); it != by_business.end(); ++it) {
            std::vector<const Info*> rest;
            for (const Info& x : it->second) rest.push_back(&x);
            std::sort(rest.begin(), rest.end(),
                      [](const Info* x, const Info* y) { return x->window.from < y->window.from; });
            not_examined += left(rest, 0);
          }
          break;
        }
        found.push_back({&a, &b, business, std::move(*example)});
      }
      open_all.push_back(&s);
      (s.key < 0 ? open_unpinned : open_pinned[static_cast<size_t>(s.key)]).push_back(&s);
    }
    if (stopped) break;
  }

  // Reported in declaration order of the later strategy, then of the earlier one.
  std::sort(found.begin(), found.end(), [](const Found& x, const Found& y) {
    return x.b->index != y.b->index ? x.b->index < y.b->index : x.a->index < y.a->index;
  });
  std::vector<Conflict> out;
  for (const Found& f : found) {
    auto& d = sink.report(diag::Code::W0105, f.b->decl->name_span,
                          fmt::format("strategies `{}` and `{}` of business \"{}\" may target the same users at "
                                      "the same time",
                                      f.a->decl->name, f.b->decl->name, f.business));
    d.secondary.push_back({f.a->decl->name_span, "the other strategy"});
    d.help = (f.example.empty() ? std::string("their `who:` conditions do not exclude each other")
                                : "a user with " + f.example + " can match both") +
             "; give them different `priority:` values or one `exclusive:` group, or make their `who:` exclusive";
    out.push_back({f.a->decl->name, f.b->decl->name, sink.diagnostics().size() - 1});
  }
  if (stopped) {
    auto& d = sink.report(
        diag::Code::W0108, source::Span{},
        fmt::format("conflict analysis stopped after {} warnings: at least one more pair of strategies may conflict, "
                    "and {} more pairs of one business with overlapping windows were not examined",
                    thousands(limit), thousands(not_examined)));
    d.help = "declare winners (`priority:`, `exclusive:`) for the pairs shown, or raise the limit with "
             "--max-conflict-warnings";
  }
  return out;
}

}  // namespace crm::analysis
