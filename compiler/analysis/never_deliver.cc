// never_deliver.cc - strategies that can never deliver (see never_deliver.h).
#include "compiler/analysis/never_deliver.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "compiler/analysis/constraints.h"
#include "bytecode/program.h"
#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/time_zone.h"

namespace crm::analysis {
namespace {

using namespace crm::ast;
using diag::Code;
using sema::Value;

constexpr int64_t kCent = support::Decimal::kScale / 100;

class NeverDeliver {
 public:
  NeverDeliver(const sema::Program& p, diag::DiagnosticSink& sink) : p_(p), sink_(sink), extract_(p, true) {
    for (const auto& m : p.modules)
      for (const Decl* d : m.ast->decls) {
        if (d->kind == DeclKind::Resource) resources_.emplace(d->name, static_cast<const ResourceDecl*>(d));
        if (d->kind == DeclKind::Policy) policies_.push_back(static_cast<const PolicyDecl*>(d));
        if (d->kind == DeclKind::Pool) pools_.emplace(d->name, static_cast<const PoolDecl*>(d));
        if (d->kind != DeclKind::Strategy) continue;
        for (const Clause* c : static_cast<const StrategyDecl*>(d)->clauses)
          for (const Action& a : c->actions) granted_by_[a.resource].insert(d->name);
      }
  }

  void strategy(const StrategyDecl* s) {
    const Clause* when = nullptr;
    const Clause* what = nullptr;
    const Clause* how_much = nullptr;
    std::string zone = p_.zone;
    split_ = nullptr;
    for (const Clause* c : s->clauses) {
      if (c->kind == ClauseKind::When) when = c;
      if (c->kind == ClauseKind::What) what = c;
      if (c->kind == ClauseKind::HowMuch) how_much = c;
      if (c->kind == ClauseKind::Split) split_ = c;
      if (c->kind == ClauseKind::Zone) zone = c->number;
    }
    conditions(s, when);
    if (when) schedule(s, when, what, zone);
    if (what && how_much) budget(s, what, how_much);
  }

 private:
  std::string text(source::Span s) const {
    if (!s.valid()) return "";
    std::string_view t = p_.sources.file(s.file).text().substr(s.begin, s.end - s.begin);
    std::string out;
    for (char ch : t) {  // one line: collapse the layout of a condition written over several
      bool space = ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t';
      if (space && (out.empty() || out.back() == ' ')) continue;
      out += space ? ' ' : ch;
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out;
  }

  std::optional<int64_t> time_of(const Expr* e) const {
    const Value* v = e ? p_.const_of(e) : nullptr;
    auto* t = v ? std::get_if<Value::Time>(&v->v) : nullptr;
    return t ? std::optional<int64_t>(t->micros) : std::nullopt;
  }

  static std::optional<int64_t> units_of(const Value* v) {
    if (!v) return std::nullopt;
    if (auto* d = std::get_if<support::Decimal>(&v->v)) return d->units();
    if (auto* i = std::get_if<int64_t>(&v->v)) {
      if (*i > INT64_MAX / support::Decimal::kScale || *i < INT64_MIN / support::Decimal::kScale) return std::nullopt;
      return *i * support::Decimal::kScale;
    }
    return std::nullopt;
  }

  static std::string money(int64_t units, const std::string& currency) {
    return support::Decimal::from_units(units).to_string() + " " + currency;
  }

  const Property* prop(const ResourceDecl* r, const char* key) const {
    for (const Property* pr : r->props)
      if (pr->key == key) return pr;
    return nullptr;
  }

  // ---- who:, where: and the trigger's `if` ------------------------------------------------------

  // The atom's text as shown: the label of a `when:` requirement, else the source.
  std::string shown(const Constraint::Atom& a) const { return a.label.empty() ? text(a.span) : a.label; }

  void conditions(const StrategyDecl* s, const Clause* when) {
    Constraints all;
    // The decision instant lies in the strategy's window (or is its `at` time); added first, so
    // a condition on `now()` or the event's `time` is what contradicts it.
    if (when) {
      std::optional<int64_t> from = time_of(when->from), to = time_of(when->to);
      std::optional<int64_t> at = when->trigger == TriggerKind::At ? time_of(when->at) : std::nullopt;
      Range r;
      if (at) {
        r.lo = r.hi = *at;
        extract_.require(ConstraintExtractor::now_term(), r, when->at->span, "at " + text(when->at->span), all);
      } else if (from && to && *from < *to) {
        r.lo = *from;
        r.hi = *to - 1;
        extract_.require(ConstraintExtractor::now_term(), r, Span::join(when->from->span, when->to->span),
                         "between " + text(when->from->span) + " and " + text(when->to->span), all);
      }
    }
    for (const Clause* c : s->clauses)
      if ((c->kind == ClauseKind::Who || c->kind == ClauseKind::Where || c->kind == ClauseKind::When) && c->expr)
        extract_.add(c->expr, all);
    auto found = find_contradiction(all);
    if (!found) return;
    const Term& t = found->constraint->term;
    std::string last = shown(*found->last);
    diag::Diagnostic* d;
    if (found->earlier.empty()) {
      d = &sink_.report(Code::W0106, found->last->span,
                        fmt::format("strategy `{}` can never deliver: `{}` is never true", s->name, last));
      d->help = t.lo != kNoLow && t.hi != kNoHigh
                    ? fmt::format("`{}` is always one of {} .. {}", t.name, show(t, t.lo), show(t, t.hi))
                    : fmt::format("no value of `{}` satisfies it", t.name);
    } else if (found->earlier.size() == 1) {
      std::string first = shown(*found->earlier[0]);
      d = &sink_.report(Code::W0106, found->last->span,
                        fmt::format("strategy `{}` can never deliver: `{}` contradicts `{}`", s->name, last, first));
      d->secondary.push_back({found->earlier[0]->span, found->earlier[0]->label.empty() ? "contradicted condition"
                                                                                         : "the strategy's `when:`"});
      d->help = t.key == ConstraintExtractor::now_term().key
                    ? std::string("`now()` and the trigger event's `time` are the instant of the decision, which "
                                  "the strategy's `when:` bounds; no instant satisfies both")
                    : fmt::format("no value of `{}` satisfies both, and `who:`, `where:` and the trigger's `if` must "
                                  "all hold for a delivery",
                                  t.name);
    } else {
      d = &sink_.report(Code::W0106, found->last->span,
                        fmt::format("strategy `{}` can never deliver: `{}` excludes every value of `{}` that its "
                                    "other conditions allow",
                                    s->name, last, t.name));
      for (const auto* a : found->earlier)
        d->secondary.push_back({a->span, a->label.empty() ? "narrowed here" : "the strategy's `when:`"});
      d->help = fmt::format("no value of `{}` satisfies all of them, and `who:`, `where:` and the trigger's `if` "
                            "must all hold for a delivery",
                            t.name);
    }
  }

  // ---- when: and claim windows ------------------------------------------------------------------

  // The instants at which a strategy decides, as far as constants tell.
  struct Firings {
    enum Kind { Any, Interval, Instant, Every } kind = Any;
    int64_t from = kNoLow, to = kNoHigh;  // Interval, and Every's window [from, to)
    int64_t at = 0;                       // Instant; Every: the first run
    int64_t local = 0, period = 0;        // Every: the first run on the local clock, the period
    const support::ZoneRules* zone = nullptr;

    // The first decision instant in [lo, hi), if any.
    std::optional<int64_t> first_in(int64_t lo, int64_t hi) const {
      switch (kind) {
        case Any: return lo < hi ? std::optional<int64_t>(lo) : std::nullopt;
        case Interval: {
          int64_t a = std::max(lo, from), b = std::min(hi, to);
          return a < b ? std::optional<int64_t>(a) : std::nullopt;
        }
        case Instant: return at >= lo && at < hi ? std::optional<int64_t>(at) : std::nullopt;
        case Every: {
          int64_t a = std::max(lo, at), b = std::min(hi, to);
          if (a >= b) return std::nullopt;
          int64_t t = at;
          if (bytecode::schedule_keeps_local_clock(period)) {
            // Runs keep to the local clock; start a step before the estimate (offsets change by
            // hours, the period is at least a day) and walk up.
            int64_t k = std::max<int64_t>(0, (a - at) / period - 1);
            // (The first run is `at`, which may be the second pass of a repeated hour.)
            for (t = k == 0 ? at : zone->local_to_utc(local + k * period); t < a;) t = zone->local_to_utc(local + ++k * period);
          } else if (a > at) {
            t = at + (a - at + period - 1) / period * period;
          }
          return t < b ? std::optional<int64_t>(t) : std::nullopt;
        }
      }
      return std::nullopt;
    }

    std::string describe() const {
      switch (kind) {
        case Any: return "at any time";
        case Interval:
          return fmt::format("from {} to {}", support::format_time(from), support::format_time(to));
        case Instant: return "only at " + support::format_time(at);
        case Every:
          return fmt::format("every {} from {} to {}", support::format_duration(period), support::format_time(at),
                             support::format_time(to));
      }
      return "";
    }
  };

  const support::ZoneRules* zone(const std::string& name) {
    auto it = zones_.find(name);
    if (it == zones_.end()) {
      std::string err;
      std::optional<support::ZoneRules> z = name.empty() ? std::optional<support::ZoneRules>(support::ZoneRules{})
                                                         : support::load_zone(name, err);
      it = zones_.emplace(name, std::move(z)).first;
    }
    return it->second ? &*it->second : nullptr;
  }

  void schedule(const StrategyDecl* s, const Clause* when, const Clause* what, const std::string& zone_name) {
    std::optional<int64_t> from = time_of(when->from), to = time_of(when->to);
    bool windowed = from && to;
    source::Span window_span = windowed ? source::Span::join(when->from->span, when->to->span) : source::Span{};
    Firings f;
    if (windowed) f.kind = Firings::Interval, f.from = *from, f.to = *to;
    if (when->trigger == TriggerKind::At) {
      auto at = time_of(when->at);
      if (!at) return;
      if (windowed && (*at < *from || *at >= *to)) {
        auto& d = sink_.report(Code::W0106, when->at->span,
                               fmt::format("strategy `{}` never fires: `at {}` is outside its window", s->name,
                                           text(when->at->span)));
        d.secondary.push_back({window_span, "the strategy's window"});
        d.help = fmt::format("`at` fires once, at {}, and the strategy decides only from {} to {}",
                             support::format_time(*at), support::format_time(*from), support::format_time(*to));
        return;
      }
      f.kind = Firings::Instant;
      f.at = *at;
    } else if (when->trigger == TriggerKind::Every) {
      const Value* pv = p_.const_of(when->at);
      auto* period = pv ? std::get_if<Value::Duration>(&pv->v) : nullptr;
      const support::ZoneRules* z = zone(zone_name);
      if (!period || period->micros < bytecode::kMinSchedulePeriod || !z) return;
      if (!windowed) return;  // the first run follows the first event: nothing is known before
      int64_t clock = 0;
      if (!when->clock.empty())
        clock = std::stoi(when->clock.substr(0, 2)) * support::kMicrosPerHour +
                std::stoi(when->clock.substr(3, 2)) * support::kMicrosPerMinute;
      f.kind = Firings::Every;
      f.period = period->micros;
      f.zone = z;
      f.at = bytecode::first_schedule_run(*z, clock, f.period, *from, &f.local);
      if (f.at >= *to) {
        source::Span where = when->clock.empty() ? when->at->span : when->clock_span;
        auto& d = sink_.report(Code::W0106, where,
                               fmt::format("strategy `{}` never fires: its first run, {}, is after its window ends",
                                           s->name, support::format_time(f.at)));
        d.secondary.push_back({window_span, "the strategy's window"});
        d.help = fmt::format("`every {}{}` first runs at {} on the strategy's clock ({}) on or after the window's "
                             "start, in steps of the period from that day; the window ends at {}",
                             text(when->at->span), when->clock.empty() ? "" : " at " + when->clock,
                             when->clock.empty() ? "00:00" : when->clock, z->name.empty() ? "UTC" : z->name,
                             support::format_time(*to));
        return;
      }
    }
    if (!what) return;
    quiet_drop(s, what, f, zone(zone_name));
    for (const Action& a : what->actions) {
      auto it = resources_.find(a.resource);
      if (it == resources_.end()) continue;
      const Property* claim = prop(it->second, "claim");
      if (!claim || claim->kind != PropKind::Range) continue;
      auto cf = time_of(claim->a), ct = time_of(claim->b);
      if (!cf || !ct || f.first_in(*cf, *ct)) continue;
      auto& d = sink_.report(Code::W0106, a.resource_span,
                             fmt::format("strategy `{}` can never grant `{}`: it can be claimed only from {} to {}, "
                                         "and the strategy decides {}",
                                         s->name, a.resource, support::format_time(*cf), support::format_time(*ct),
                                         f.describe()));
      d.secondary.push_back({Span::join(claim->a->span, claim->b->span), "the claim window"});
      d.help = "a grant outside the resource's claim window is rejected (`claim_window`); align the two windows";
    }
  }

  // A schedule whose every run falls in quiet hours that `drop` messages never sends one. Known
  // for `at T` and for whole-day `every ... at HH:MM` runs (on the local clock; only when no
  // offset change in the window could move a run).
  void quiet_drop(const StrategyDecl* s, const Clause* what, const Firings& f, const support::ZoneRules* z) {
    if (!z) return;
    int64_t minute = -1;
    std::string when;
    auto minute_of = [](int64_t local) {
      return (local - support::floor_div(local, support::kMicrosPerDay) * support::kMicrosPerDay) /
             support::kMicrosPerMinute;
    };
    if (f.kind == Firings::Instant) {
      minute = minute_of(f.at + z->offset_at(f.at));
      when = "only at " + support::format_time(f.at);
    } else if (f.kind == Firings::Every && bytecode::schedule_keeps_local_clock(f.period)) {
      for (const auto& [t, off] : z->transitions)
        if (t > f.from && t < f.to) return;
      minute = minute_of(f.local);
      when = fmt::format("every {} at {:02}:{:02}", support::format_duration(f.period), minute / 60, minute % 60);
    }
    if (minute < 0) return;
    for (const PolicyDecl* pol : policies_) {
      if (pol->has_business && pol->business != s->business) continue;
      for (const PolicyRule* r : pol->rules) {
        if (r->kind != PolicyRule::Kind::Quiet || !r->drop || r->clock_from.size() != 5 || r->clock_to.size() != 5)
          continue;
        int64_t from = std::stoi(r->clock_from.substr(0, 2)) * 60 + std::stoi(r->clock_from.substr(3, 2));
        int64_t to = std::stoi(r->clock_to.substr(0, 2)) * 60 + std::stoi(r->clock_to.substr(3, 2));
        bool quiet = from < to ? (minute >= from && minute < to) : (minute >= from || minute < to);
        if (!quiet) continue;
        for (const Action& a : what->actions) {
          if (a.verb != Action::Verb::Send) continue;
          auto& d = sink_.report(Code::W0106, a.resource_span,
                                 fmt::format("strategy `{}` can never send `{}`: it decides {} on its clock, in the "
                                             "quiet hours of policy `{}`, which drop messages",
                                             s->name, a.resource, when, pol->name));
          d.secondary.push_back({r->span, "quiet hours that drop messages"});
          d.help = "a message in quiet hours with `drop` is discarded; without `drop` it is held until the hours end, "
                   "or move the schedule out of them";
        }
        return;
      }
    }
  }

  // ---- how much: budget -------------------------------------------------------------------------

  // The least one grant of `r` can cost in `currency`: a coupon's discount; a red envelope's
  // discount too, unless another strategy also grants it: then a user may be at a repeat claim,
  // paid discount x (1 - decay) and then fixed_from_third. Nullopt when it costs nothing from
  // the budget or cannot be known.
  std::optional<int64_t> least_cost(const ResourceDecl* r, const std::string& currency, const Property*& shown,
                                    bool shared) const {
    if (r->resource_kind == "push" || r->resource_kind == "sms" || r->resource_kind == "email") {
      // A message's cost (an SMS: at least one segment).
      const Property* cost = prop(r, "cost");
      if (!cost || !cost->a || p_.type_of(cost->a).currency != currency) return std::nullopt;
      shown = cost;
      return units_of(p_.const_of(cost->a));
    }
    if (r->resource_kind != "coupon" && r->resource_kind != "red_envelope") return std::nullopt;
    const Property* discount = prop(r, "discount");
    // A drawn discount costs its largest value: the budget must have room for it (semantics.md).
    if (auto dr = discount ? p_.draws.find(discount) : p_.draws.end(); dr != p_.draws.end()) {
      if (dr->second.currency != currency) return std::nullopt;
      shown = discount;
      return dr->second.max;
    }
    // A percentage discount reserves its cap (`10% up to 20 CNY`).
    const Expr* money = !discount || discount->kind == PropKind::Draw ? nullptr
                        : discount->kind == PropKind::Capped         ? discount->b
                                                                     : discount->a;
    if (!money || p_.type_of(money).currency != currency) return std::nullopt;
    auto d = units_of(p_.const_of(money));
    if (!d) return std::nullopt;
    shown = discount;
    int64_t least = *d;
    if (r->resource_kind == "red_envelope" && shared) {
      const Property* decay = prop(r, "decay");
      const Property* fixed = prop(r, "fixed_from_third");
      auto dv = decay ? units_of(p_.const_of(decay->a)) : std::nullopt;
      auto fv = fixed ? units_of(p_.const_of(fixed->a)) : std::nullopt;
      if (dv && *dv > 0) {
        // The runtime rounds the second amount to a cent; rounding down here never overstates it.
        __int128 second = static_cast<__int128>(*d) * (support::Decimal::kScale - *dv) / support::Decimal::kScale;
        least = std::min<int64_t>(least, static_cast<int64_t>(second / kCent * kCent));
        if (fv) least = std::min(least, *fv);
        else least = 0;
      }
    }
    return least;
  }

  void budget(const StrategyDecl* s, const Clause* what, const Clause* how_much) {
    for (const Limit& limit : how_much->limits) {
      // The strategy's own budget, or the budget of the pool it draws from.
      const Limit* lp = &limit;
      if (limit.kind == Limit::Kind::Pool) {
        auto it = pools_.find(limit.pool);
        if (it == pools_.end()) continue;
        lp = nullptr;
        for (const Limit& x : it->second->limits)
          if (x.kind == Limit::Kind::Budget) lp = &x;
        if (!lp) continue;
      }
      const Limit& l = *lp;
      if (l.kind != Limit::Kind::Budget || !l.budget) continue;
      auto budget = units_of(p_.const_of(l.budget));
      const std::string& currency = p_.type_of(l.budget).currency;
      if (!budget) continue;
      // One delivery: every action without `for arm`, plus the cheapest arm's own actions.
      auto cost_of = [&](const std::string& arm, std::vector<std::pair<const Property*, int64_t>>& parts) {
        int64_t cost = 0;
        for (const Action& a : what->actions) {
          if (!a.arm.empty() && a.arm != arm) continue;
          auto it = resources_.find(a.resource);
          if (it == resources_.end()) continue;
          const Property* shown = nullptr;
          auto c = least_cost(it->second, currency, shown, granted_by_[a.resource].size() > 1);
          if (!c || *c <= 0) continue;
          cost += *c;
          parts.push_back({shown, *c});
        }
        return cost;
      };
      std::vector<std::pair<const Property*, int64_t>> parts;
      int64_t cost = cost_of("", parts);
      if (split_)
        for (const auto& arm : split_->arms) {
          std::vector<std::pair<const Property*, int64_t>> arm_parts;
          int64_t c = cost_of(arm.name, arm_parts);
          if (&arm == &split_->arms.front() || c < cost) cost = c, parts = std::move(arm_parts);
        }
      if (cost <= *budget) continue;
      auto& d = sink_.report(Code::W0106, limit.span,
                             fmt::format("strategy `{}` can never deliver: `{}` is less than one delivery costs ({})",
                                         s->name, text(l.span), money(cost, currency)));
      for (const auto& [pr, c] : parts)
        d.secondary.push_back({(pr->kind == PropKind::Capped ? pr->b : pr->a)->span,
                               fmt::format("{} costs at least {}", pr->key == "cost" ? "a message" : "a grant",
                                           money(c, currency))});
      bool plain = true;  // only fixed discounts: the help as it always was
      for (const auto& [pr, c] : parts) plain = plain && pr->key == "discount" && pr->kind != PropKind::Capped;
      d.help = plain ? "each delivery reserves the face value of its coupons and red envelopes from the budget (a red "
                       "envelope that other strategies also grant: at least its smallest repeat amount); raise the budget "
                       "or grant less"
                     : "each delivery reserves the face value of its coupons and red envelopes (a percentage discount: "
                       "its cap) and the cost of its messages (an SMS: per segment) from the budget; raise the budget or "
                       "grant less";
    }
  }

  const sema::Program& p_;
  diag::DiagnosticSink& sink_;
  ConstraintExtractor extract_;
  std::map<std::string, const ResourceDecl*> resources_;
  std::vector<const PolicyDecl*> policies_;
  std::map<std::string, const PoolDecl*> pools_;
  const Clause* split_ = nullptr;  // of the strategy being checked
  std::map<std::string, std::set<std::string>> granted_by_;  // resource -> the strategies that grant it
  std::map<std::string, std::optional<support::ZoneRules>> zones_;
};

}  // namespace

void check_never_deliver(const sema::Program& p, diag::DiagnosticSink& sink) {
  NeverDeliver check(p, sink);
  // W0101 for a segment whose conditions contradict each other (`a > 1 and a < 0`): the same
  // reasoning as a strategy's W0106, about users only. A constant segment is the checker's.
  ConstraintExtractor users(p, /*event_fields=*/false);
  for (const auto& m : p.modules) {
    if (m.is_std) continue;
    for (const Decl* d : m.ast->decls) {
      if (d->kind == DeclKind::Strategy) check.strategy(static_cast<const StrategyDecl*>(d));
      if (d->kind != DeclKind::Segment) continue;
      auto* s = static_cast<const SegmentDecl*>(d);
      if (!s->value || p.const_of(s->value)) continue;
      Constraints all;
      users.add(s->value, all);
      auto found = find_contradiction(all);
      if (found && found->earlier.empty() && found->last->self) {  // a value compared with itself (`age > age`)
        const auto& file = p.sources.file(found->last->span.file);
        std::string_view text = file.text().substr(found->last->span.begin, found->last->span.end - found->last->span.begin);
        sink.report(Code::W0101, found->last->span, fmt::format("segment `{}` is never true: `{}` is never true", s->name, text))
            .help = fmt::format("no value of `{}` satisfies it", found->constraint->term.name);
        continue;
      }
      if (!found || found->earlier.size() != 1) continue;
      auto& w = sink.report(Code::W0101, found->last->span,
                            fmt::format("segment `{}` is always false: this contradicts an earlier condition", s->name));
      w.secondary.push_back({found->earlier[0]->span, "contradicted condition"});
      w.help = fmt::format("no value of `{}` satisfies both", found->constraint->term.name);
    }
  }
}

}  // namespace crm::analysis
