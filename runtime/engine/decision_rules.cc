// decision_rules.cc - split, per-user limits, quotas and policies, in the order of decision_rules.h.
#include "runtime/engine/decision_rules.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "bytecode/calendar_period.h"
#include "runtime/engine/draw.h"
#include "runtime/engine/scheduler.h"
#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"
#include "support/sms.h"

namespace crm::engine {

namespace {

// Calendar periods follow the strategy's zone: with +08:00 (or Asia/Shanghai), a day runs from
// 00:00 to 24:00 Beijing time, a week from Monday 00:00 and a month from the 1st at 00:00; with a
// zone that has daylight saving, a day may last 23 or 25 hours.
// A period tested against one `now`: what depends on now alone (now's local day, hour, week or
// month in the strategy's zone) is worked out once, so a loop over a user's deliveries or grants
// computes only each instant's own side.
class InPeriod {
 public:
  InPeriod(const bytecode::Period& p, int64_t now, const bytecode::Strategy& s) : kind_(p.kind) {
    if (kind_ == bytecode::PeriodKind::Calendar) calendar_.emplace(p.unit, now, s.zone);
    if (kind_ == bytecode::PeriodKind::Sliding) after_ = now - p.micros;
  }
  bool operator()(int64_t then) const {
    switch (kind_) {
      case bytecode::PeriodKind::Campaign: return true;
      case bytecode::PeriodKind::Calendar: return calendar_->holds(then);
      case bytecode::PeriodKind::Sliding: return then > after_;
    }
    return true;
  }

 private:
  bytecode::PeriodKind kind_;
  std::optional<bytecode::CalendarPeriod> calendar_;
  int64_t after_ = 0;  // Sliding: the instants after it are in the window
};

bool in_period(const bytecode::Period& p, int64_t then, int64_t now, const bytecode::Strategy& s) {
  return InPeriod(p, now, s)(then);
}

// The reason of a delivery that does not fit its budget pool's counters.
Reason pool_reason_of(state::QuotaCheck c) {
  switch (c) {
    case state::QuotaCheck::Fits: return Reason::None;
    case state::QuotaCheck::Stock: return Reason::PoolStock;
    case state::QuotaCheck::Budget:
    case state::QuotaCheck::Pacing: return Reason::PoolBudget;  // pools are not paced
    case state::QuotaCheck::Unavailable: return Reason::SharedUnavailable;
  }
  return Reason::None;
}

// The reason of a delivery that does not fit the campaign-wide counters (state::QuotaCheck).
Reason reason_of(state::QuotaCheck c) {
  switch (c) {
    case state::QuotaCheck::Fits: return Reason::None;
    case state::QuotaCheck::Stock: return Reason::Stock;
    case state::QuotaCheck::Budget: return Reason::Budget;
    case state::QuotaCheck::Pacing: return Reason::Pacing;
    case state::QuotaCheck::Unavailable: return Reason::SharedUnavailable;
  }
  return Reason::None;
}

}  // namespace

DecisionRules::DecisionRules(const bytecode::Program& program, Evaluator& eval, Redemptions& grants, Users& users,
                             Stats& stats)
    : p_(program), eval_(eval), grants_(grants), users_(users), stats_(stats) {
  bind_quotas(own_quotas_);
  prunable_.assign(p_.strategies.size(), 1);
  for (uint32_t i = 0; i < p_.strategies.size(); ++i) {
    const auto& s = p_.strategies[i];
    for (const auto& cap : s.per_user) prunable_[i] &= cap.period.kind != bytecode::PeriodKind::Campaign;
    for (uint32_t j = 0; j < p_.strategies.size(); ++j)
      if (j != i && !s.exclusive_group.empty() && p_.strategies[j].exclusive_group == s.exclusive_group) prunable_[i] = 0;
  }
  // Which strategies' clauses prematch() may evaluate ahead of their turn: those whose units
  // read only the event, the profile, the instant, collections and aggregates of events. The
  // received/redeemed aggregates (delivery history) change when an earlier strategy of the same
  // event delivers, so a strategy reading them is matched at its turn. The profile, the event
  // and event aggregates change only before decisions start (Engine::process). A unit shared
  // with a strategy of another zone (the evaluator runs it in one zone) is matched at its turn too.
  fusable_.assign(p_.strategies.size(), 0);
  for (uint32_t i = 0; i < p_.strategies.size(); ++i) {
    const auto& s = p_.strategies[i];
    if (s.trigger != bytecode::Trigger::OnEvent || s.delay > 0) continue;
    bool ok = true;
    for (int32_t unit : {s.trigger_if, s.who, s.where}) {
      if (unit < 0) continue;
      if (eval_.zone_of(uint32_t(unit)) != &s.zone) ok = false;
      for (const auto& in : p_.units[unit].code)
        if ((in.op == bytecode::Op::LOAD_AGG || in.op == bytecode::Op::HAS_AGG) &&
            (in.a >= p_.aggregates.size() || p_.aggregates[in.a].source != bytecode::AggSource::Events))
          ok = false;
    }
    fusable_[i] = ok;
  }
  pre_.assign(p_.strategies.size(), kNotPrematched);
  pre_error_.assign(p_.strategies.size(), nullptr);
}

// The clauses of the event's candidates that fusable_ admits, in the candidates' order, through
// one executor call; matches() then reads each verdict at the strategy's turn, counting a fault
// then, as if the clause had run then. Strategies outside their window are left to matches(),
// which evaluates nothing for them.
void DecisionRules::prematch(User& u, const Event& ev, const std::vector<uint32_t>& candidates) {
  clear_prematch();
  if (trace_) return;  // explain notes every clause as it runs
  groups_.clear();
  for (uint32_t si : candidates) {
    const auto& s = p_.strategies[si];
    if (!fusable_[si] || (s.has_window && (ev.time < s.from || ev.time >= s.to))) continue;
    ClauseGroup g;
    g.units[0] = s.trigger_if;
    g.units[1] = s.who;
    g.units[2] = s.where;
    g.zone = &s.zone;
    groups_.push_back(g);
    prematched_.push_back(si);
  }
  verdicts_.resize(groups_.size());
  if (groups_.empty() || !eval_.run_clauses(groups_.data(), groups_.size(), u, &ev, ev.time, verdicts_.data())) {
    prematched_.clear();  // declined: every strategy's clauses at its turn
    return;
  }
  for (size_t i = 0; i < prematched_.size(); ++i) {
    const ClauseVerdict& v = verdicts_[i];
    pre_[prematched_[i]] = v.faulted ? kPreFault : v.matched ? kPreMatch : kPreNoMatch;
    pre_error_[prematched_[i]] = v.error;
  }
}

void DecisionRules::clear_prematch() {
  for (uint32_t si : prematched_) pre_[si] = kNotPrematched;
  prematched_.clear();
}

void DecisionRules::prune_deliveries(std::vector<Delivery>& deliveries, int64_t now) const {
  std::erase_if(deliveries, [&](const Delivery& d) {
    if (!prunable_[d.first] || d.second >= now) return false;
    const auto& s = p_.strategies[d.first];
    // Calendar periods are consecutive intervals: one that does not hold `now` is over.
    for (const auto& cap : s.per_user)
      if (in_period(cap.period, d.second, now, s)) return false;
    return true;
  });
}

void DecisionRules::bind_quotas(state::Quotas& q) {
  quotas_ = &q;
  quota_.resize(p_.strategies.size());
  for (uint32_t i = 0; i < p_.strategies.size(); ++i) quota_[i] = q.handle(p_.strategies[i].name);
  pool_quota_.resize(p_.pools.size());
  for (uint32_t i = 0; i < p_.pools.size(); ++i) pool_quota_[i] = q.handle(state::pool_counter(p_.pools[i].name));
}

bool DecisionRules::in_rest(uint32_t si, const std::string& user_id) const {
  const auto& s = p_.strategies[si];
  if (s.arms.empty()) return false;
  int64_t bucket = static_cast<int64_t>(vm::stable_hash(user_id + "\x1f" + s.split_salt) % 10000);
  return bucket >= s.control_basis_points && s.arm_of(bucket) < 0;
}

void DecisionRules::quota_parts(uint32_t si, int64_t now, int64_t cost, std::vector<state::QuotaPart>& parts) const {
  const auto& s = p_.strategies[si];
  parts.assign(1, {quota_[si], quota_limits(s, now, cost)});
  if (s.pool >= 0) parts.push_back(pool_part(s));
}

state::QuotaPart DecisionRules::pool_part(const bytecode::Strategy& s) const {
  const auto& pool = p_.pools[s.pool];
  state::QuotaLimits l;
  l.stock = pool.stock;
  l.budget = pool.has_budget ? pool.budget : -1;
  return {pool_quota_[s.pool], l};
}

bool DecisionRules::run_clause(int32_t unit, User& u, const Event* ev, int64_t now, bool& result) {
  if (unit < 0) { result = true; return true; }
  vm::Result r = eval_.run(static_cast<uint32_t>(unit), u, ev, now);
  if (r.status != vm::Status::Ok) {
    stats_.count_error(r.error);
    if (trace_) trace_error_ = r.error ? r.error : "evaluation failed";
    return false;
  }
  result = r.value != 0;
  return true;
}

namespace {

// For explanations: an instant in the strategy's zone, e.g. `2026-02-04 10:02 +08:00`.
std::string local_time(const bytecode::Strategy& s, int64_t t) {
  int64_t off = s.offset_at(t);
  std::string text = support::format_time(t + off);  // 2026-02-04T10:02:00Z
  text = text.substr(0, 10) + " " + text.substr(11, 5);
  int64_t m = (off < 0 ? -off : off) / support::kMicrosPerMinute;
  return fmt::format("{} {}{:02}:{:02}", text, off < 0 ? '-' : '+', m / 60, m % 60);
}

std::string period_text(const bytecode::Period& p) {
  switch (p.kind) {
    case bytecode::PeriodKind::Campaign: return "campaign";
    case bytecode::PeriodKind::Calendar:
      return bytecode::calendar_unit_name(p.unit);
    case bytecode::PeriodKind::Sliding: return support::format_duration(p.micros);
  }
  return "?";
}

// `1 already granted today at 10:02 +08:00`: what a cap counted, for explanations.
std::string counted(int64_t n, const char* what, const bytecode::Period& p, int64_t last, const bytecode::Strategy& s) {
  std::string scope = p.kind == bytecode::PeriodKind::Campaign   ? "in the campaign"
                      : p.kind == bytecode::PeriodKind::Sliding ? "in the last " + period_text(p)
                                                                : "this " + period_text(p);
  if (p.kind == bytecode::PeriodKind::Calendar && p.unit == bytecode::CalendarUnit::Day) scope = "today";
  std::string text = fmt::format("{} already {} {}", n, what, scope);
  if (n > 0) text += " (latest at " + local_time(s, last) + ")";
  return text;
}

std::string quota_text(const char* what, int64_t used, int64_t limit, bool money, const std::string& currency) {
  auto v = [&](int64_t x) { return money ? support::Decimal::from_units(x).to_string() + " " + currency : std::to_string(x); };
  return fmt::format("{} {}: {} used", what, v(limit), v(used));
}

}  // namespace

Reason DecisionRules::strategy_limit(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, bool with_quotas,
                                     const std::vector<Reason>* lost, int32_t arm) {
  for (const auto& cap : s.per_user) {
    int64_t n = 0, last = 0;
    const InPeriod in_cap(cap.period, now, s);
    for (const auto& [strategy, time] : u.deliveries())
      if (strategy == si && in_cap(time)) ++n, last = time;
    bool refused = n >= cap.count;
    if (trace_)
      note({"per_user", !refused,
            fmt::format("per user {} per {}: {}", cap.count, period_text(cap.period), counted(n, "granted", cap.period, last, s))});
    if (refused) return Reason::PerUserLimit;
  }
  if (!s.exclusive_group.empty())
    for (const auto& [strategy, time] : u.deliveries())
      if (strategy != si && p_.strategies[strategy].exclusive_group == s.exclusive_group) {
        if (trace_)
          note({"exclusive", false,
              fmt::format("exclusive group \"{}\": strategy `{}` delivered at {}", s.exclusive_group, p_.strategies[strategy].name,
                          local_time(s, time))});
        return Reason::ExclusiveGroup;
      }
  if (!with_quotas) return Reason::None;
  // An early look at the campaign-wide counters, at the cost of every action, so a spent stock
  // or budget is the reason reported (rather than a policy's). It decides nothing: reserve()
  // does, atomically, once the actions that pass are known.
  int64_t cost = 0;
  for (size_t ai = 0; ai < s.actions.size(); ++ai)
    if (for_arm(s.actions[ai], arm) && (!lost || (*lost)[ai] == Reason::None))
      cost += grants_.face_value(u, s.actions[ai].resource);
  state::Quota used = quotas_->used(quota_[si]);
  state::QuotaLimits limits = quota_limits(s, now, cost);
  state::QuotaCheck c = state::check_quota(used, cost, limits);
  if (trace_) {
    using QC = state::QuotaCheck;
    if (limits.stock >= 0) note({"stock", c != QC::Stock, quota_text("stock", used.deliveries, limits.stock, false, "")});
    if (limits.budget >= 0)
      note({"budget", c != QC::Budget && c != QC::Stock,
            quota_text("budget", used.reserved, limits.budget, true, s.budget_currency) +
                fmt::format(", this delivery costs {}", support::Decimal::from_units(cost).to_string())});
    if (limits.paced_stock >= 0 || limits.paced_budget >= 0)
      note({"pacing", c != QC::Pacing,
            limits.paced_stock >= 0 ? fmt::format("pacing even: {} deliveries released by now, {} used", limits.paced_stock, used.deliveries)
                                    : fmt::format("pacing even: {} {} released by now, {} used",
                                                  support::Decimal::from_units(limits.paced_budget).to_string(), s.budget_currency,
                                                  support::Decimal::from_units(used.reserved).to_string())});
  }
  if (c != state::QuotaCheck::Fits || s.pool < 0) return reason_of(c);
  // The pool's counters, shared with the other strategies that draw from it.
  const auto& pool = p_.pools[s.pool];
  const state::QuotaPart part = pool_part(s);  // quota_parts(...).back(), without the vector
  state::Quota pool_used = quotas_->used(part.handle);
  state::QuotaCheck pc = state::check_quota(pool_used, cost, part.limits);
  if (trace_) {
    using QC = state::QuotaCheck;
    if (pool.stock >= 0)
      note({"pool_stock", pc != QC::Stock,
            fmt::format("pool {}: ", pool.name) + quota_text("stock", pool_used.deliveries, pool.stock, false, "")});
    if (pool.has_budget)
      note({"pool_budget", pc != QC::Budget && pc != QC::Stock,
            fmt::format("pool {}: ", pool.name) +
                quota_text("budget", pool_used.reserved, pool.budget, true, pool.budget_currency) +
                fmt::format(", this delivery costs {}", support::Decimal::from_units(cost).to_string())});
  }
  return pool_reason_of(pc);
}

// Even pacing: by instant t, at most the share (t - from) / (to - from) of the stock or budget
// is used, plus one delivery so the window's first moments can deliver at all. Unused share
// carries over.
state::QuotaLimits DecisionRules::quota_limits(const bytecode::Strategy& s, int64_t now, int64_t cost) const {
  state::QuotaLimits l;
  l.stock = s.stock >= 0 ? s.stock : -1;
  l.budget = s.has_budget ? s.budget : -1;
  if (s.paced && s.has_window && s.to > s.from) {
    __int128 elapsed = std::clamp<int64_t>(now - s.from, 0, s.to - s.from), span = s.to - s.from;
    if (s.stock >= 0) l.paced_stock = static_cast<int64_t>(s.stock * elapsed / span) + 1;
    if (s.has_budget) l.paced_budget = static_cast<int64_t>(s.budget * elapsed / span) + cost;
  }
  return l;
}

namespace {

// Whether `now` falls in a policy's quiet hours on the strategy's local clock (the window may wrap
// past midnight), and if so when they end: the next local `quiet_to` after now.
int64_t quiet_end(const bytecode::Policy& pol, const bytecode::Strategy& s, int64_t now) {
  int64_t local = now + s.offset_at(now);
  int64_t minute = (local - support::floor_div(local, support::kMicrosPerDay) * support::kMicrosPerDay) /
                   support::kMicrosPerMinute;
  bool quiet = pol.quiet_from < pol.quiet_to ? (minute >= pol.quiet_from && minute < pol.quiet_to)
                                             : (minute >= pol.quiet_from || minute < pol.quiet_to);
  if (!quiet) return 0;
  // After now: both passes of a repeated hour count (02:10 in the second pass of 02:00-03:00 ends at
  // 02:30 of that pass, not a day later); an end the clocks skip is the instant just after the gap.
  return s.zone.next_wall_clock(now + 1, pol.quiet_to * support::kMicrosPerMinute);
}

}  // namespace

int64_t DecisionRules::quiet_hold(const bytecode::Strategy& s, int64_t now) const {
  int64_t hold = 0;
  for (const auto& pol : p_.policies)
    if ((pol.business.empty() || pol.business == s.business) && pol.has_quiet && !pol.quiet_drop)
      hold = std::max(hold, quiet_end(pol, s, now));
  return hold;
}

int64_t DecisionRules::quiet_release(const bytecode::Strategy& s, int64_t now) const {
  int64_t at = quiet_hold(s, now);
  // Each step ends the quiet hours going on (the latest end; what lies before it is quiet too), so
  // the walk stops at the first instant outside all of them. Policies covering the whole day step
  // on for ever: eight days of steps bound the walk.
  constexpr int64_t kBound = 8 * support::kMicrosPerDay;
  const int64_t until = at > INT64_MAX - kBound ? INT64_MAX : at + kBound;
  while (at > 0 && at < until) {
    const int64_t next = quiet_hold(s, at);
    if (!next) return at;
    at = next;
  }
  return at ? INT64_MAX : 0;
}

Reason DecisionRules::action_limit(User& u, const bytecode::Strategy& s, const bytecode::Action& a, int64_t now, int32_t ai,
                                 int64_t* hold_until) {
  const auto& res = p_.resources[a.resource];
  int64_t hold = 0;
  auto noted = [&](const char* clause, bool passed, std::string detail, const std::string& policy = "") {
    if (trace_) {
      Check c{clause, passed, std::move(detail)};
      c.action = ai;
      c.policy = policy;
      note(std::move(c));
    }
    return passed;
  };
  // A message is rendered for the user; a field without a value (and without a default in the
  // template) leaves nothing to send (docs/semantics.md, "Message texts and costs").
  if (a.send && bytecode::is_message(res.kind)) {
    RenderedMessage m = grants_.texts().render(u, a.resource);
    if (m.missing >= 0) {
      noted("text", false, fmt::format("text of `{}` names `{}`, which the user has no value for (and the template gives "
                                       "no default)", res.name, p_.profile[size_t(m.missing)].name));
      return Reason::MissingField;
    }
    if (trace_) {
      std::string detail = "text " + support::json_quote(m.text);
      if (res.kind == bytecode::ResourceKind::Sms) {
        auto size = support::sms_size(m.text);
        detail += fmt::format(": {} {} in {}, {} segment{}", size.units, size.gsm7 ? "septets" : "UTF-16 units",
                              size.gsm7 ? "GSM-7" : "UCS-2", size.segments, size.segments == 1 ? "" : "s");
      }
      if (res.cost > 0)
        detail += fmt::format(", costs {} {}", support::Decimal::from_units(m.cost).to_string(), res.currency);
      noted("text", true, std::move(detail));
    }
  }
  if (res.has_claim && !noted("claim_window", now >= res.claim_from && now < res.claim_to,
                              fmt::format("`{}` may be claimed from {} to {}", res.name, local_time(s, res.claim_from),
                                          local_time(s, res.claim_to))))
    return Reason::ClaimWindow;
  // A grant whose fixed use window is over could never be used, and its expiry would be recorded
  // before the grant itself: it is refused, and spends no stock or budget.
  if (res.has_use_window && res.use_after_claim <= 0 &&
      !noted("use_window", now < res.use_to, fmt::format("`{}` may be used until {}", res.name, local_time(s, res.use_to))))
    return Reason::UseWindow;
  for (const auto& pol : p_.policies) {
    if (!pol.business.empty() && pol.business != s.business) continue;
    // Only what can be redeemed can be unredeemed: coupons and red envelopes (`resources` and
    // `coupons` alike; `red_envelopes` those only). Messages and points are never redeemed, so they
    // neither count (before, one push blocked every later grant under `resources` for good) nor are
    // limited: granting one adds no unredeemed resource.
    auto of_kind = [&](bytecode::ResourceKind k) {
      return is_coupon(k) && (pol.unredeemed_kind != "red_envelopes" || k == bytecode::ResourceKind::RedEnvelope);
    };
    if (pol.max_unredeemed >= 0 && of_kind(res.kind)) {
      int64_t open = 0;
      for (const auto& g : u.grants())
        open += of_kind(p_.resources[g.resource].kind) && g.state == GrantState::Open && now < g.expires;
      if (!noted("unredeemed_limit", open < pol.max_unredeemed,
                 fmt::format("unredeemed {} per user <= {}: {} valid and unredeemed", pol.unredeemed_kind, pol.max_unredeemed, open),
                 pol.name))
        return Reason::UnredeemedLimit;
    }
    if (pol.has_same_type) {
      const Grant* same = nullptr;
      const InPeriod in_same(pol.same_type, now, s);
      for (const auto& g : u.grants())
        if (p_.resources[g.resource].kind == res.kind && in_same(g.time)) {
          same = &g;
          break;
        }
      if (!noted("same_type", !same,
                 same ? fmt::format("same resource type once per {}: `{}` ({}) granted at {}", period_text(pol.same_type),
                                    p_.resources[same->resource].name, bytecode::resource_kind_name(res.kind), local_time(s, same->time))
                      : fmt::format("same resource type once per {}: no {} granted in it", period_text(pol.same_type),
                                    bytecode::resource_kind_name(res.kind)),
                 pol.name))
        return Reason::SameType;
    }
    if (pol.has_quiet && a.send) {
      int64_t end = quiet_end(pol, s, now);
      // In quiet hours a message is held until they end, unless the policy drops it (or the
      // caller cannot hold); a held message passes this check and is sent later.
      bool drop = end && (pol.quiet_drop || !hold_until);
      std::string detail = fmt::format("quiet between {:02}:{:02} and {:02}:{:02}{}: it is {}", pol.quiet_from / 60,
                                       pol.quiet_from % 60, pol.quiet_to / 60, pol.quiet_to % 60,
                                       pol.quiet_drop ? " drop" : "", local_time(s, now));
      if (end && !drop) {
        // The release run makes: other quiet hours going on at this policy's end hold it on.
        const int64_t release = trace_ ? quiet_release(s, now) : end;
        if (release == end) detail += fmt::format(", the message would be held until {}", local_time(s, end));
        else if (release == INT64_MAX)
          detail += fmt::format(", the quiet hours end at {} but the policies' quiet hours together never end: the "
                                "message would be held for ever", local_time(s, end));
        else
          detail += fmt::format(", the quiet hours end at {} but other quiet hours go on then: the message would be held "
                                "until {}", local_time(s, end), local_time(s, release));
      }
      if (!noted("quiet_hours", !drop, std::move(detail), pol.name)) return Reason::QuietHours;
      if (end) hold = std::max(hold, end);
    }
    for (const auto& cc : pol.channel_caps) {
      if (a.channel != cc.channel) continue;
      int64_t n = 0, last = 0;
      const InPeriod in_cap(cc.cap.period, now, s);
      for (const auto& g : u.grants())
        if (g.channel == cc.channel && in_cap(g.time)) ++n, last = g.time;
      if (!noted("channel_cap", n < cc.cap.count,
                 fmt::format("{} <= {} per {}: {}", p_.channels[cc.channel], cc.cap.count, period_text(cc.cap.period),
                             counted(n, "sent", cc.cap.period, last, s)),
                 pol.name))
        return Reason::ChannelCap;
    }
  }
  if (hold_until) *hold_until = hold;
  return Reason::None;
}

void DecisionRules::decide(User& u, const std::string& user_id, const Event* ev, int64_t now, uint32_t si, std::vector<Decision>& out) {
  if (matches(u, ev, now, si)) deliver(u, user_id, ev, now, si, out);
}

bool DecisionRules::matches(User& u, const Event* ev, int64_t now, uint32_t si) {
  const auto& s = p_.strategies[si];
  // A delayed trigger's window bounds its trigger event, not the instant its timer fires.
  const int64_t when = s.delay > 0 && ev ? ev->time : now;
  if (s.has_window && (when < s.from || when >= s.to)) {
    if (trace_) {
      trace_->verdict = "outside_window";
      note({"when", false, fmt::format("{} is outside the window {} .. {}", support::format_time(when),
                                       support::format_time(s.from), support::format_time(s.to))});
    }
    return false;
  }
  if (uint8_t pre = pre_[si]; pre != kNotPrematched && !trace_) {
    // Evaluated by prematch() for this event: the verdict, used once; a fault counts now.
    pre_[si] = kNotPrematched;
    if (pre == kPreFault) stats_.count_error(pre_error_[si]);
    return pre == kPreMatch;
  }
  bool ok = false;
  for (auto [clause, unit] : {std::pair<const char*, int32_t>{"if", s.trigger_if}, {"who", s.who}, {"where", s.where}}) {
    if (unit < 0) continue;
    bool ran = run_clause(unit, u, ev, now, ok);
    if (trace_) {
      Check c{clause, ran && ok, ran ? "" : "evaluation failed"};
      c.unit = unit;
      note(std::move(c));
    }
    if (!ran || !ok) {
      if (trace_) trace_->verdict = "no_match";
      return false;
    }
  }
  return true;
}

bool DecisionRules::value_of(User& u, const Event* ev, int64_t now, uint32_t si, int64_t& value) {
  const auto& s = p_.strategies[si];
  vm::Result r = eval_.run(static_cast<uint32_t>(s.value), u, ev, now);
  if (r.status != vm::Status::Ok) {
    stats_.count_error(r.error);
    if (trace_) trace_error_ = r.error ? r.error : "evaluation failed";
    return false;
  }
  value = r.value;
  return true;
}

std::string DecisionRules::value_text(uint32_t si, int64_t value) const {
  const auto& s = p_.strategies[si];
  std::string text = support::Decimal::from_units(value).to_string();
  return s.value_currency.empty() ? text : text + " " + s.value_currency;
}

std::vector<DecisionRules::Ranked> DecisionRules::rank(User& u, const Event& ev, const std::vector<uint32_t>& candidates) {
  std::vector<Ranked> ranked;
  for (uint32_t si : candidates) {
    if (!matches(u, &ev, ev.time, si)) continue;
    Ranked r{si, false, 0};
    if (p_.strategies[si].value >= 0) {
      if (!value_of(u, &ev, ev.time, si, r.value)) continue;  // a fault: no decision, counted
      r.has_value = true;
    }
    ranked.push_back(r);
  }
  // `candidates` come in priority-then-name order; a stable sort keeps it among equal values.
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.has_value != b.has_value) return a.has_value;
    return a.has_value && a.value > b.value;
  });
  return ranked;
}

void DecisionRules::deliver(User& u, const std::string& user_id, const Event* ev, int64_t now, uint32_t si,
                            std::vector<Decision>& out, const Ranked* ranked) {
  const auto& s = p_.strategies[si];
  Decision d;
  d.event = ev ? ev->id : "";
  d.user = user_id;
  d.strategy = si;
  d.at = now;
  if (ranked && ranked->has_value) {
    d.has_value = true;
    d.value = ranked->value;
  }
  // Referral rewards: the delivery goes to the user the event names, with that user's caps,
  // policies and grants (docs/semantics.md, "Referral rewards").
  User* target = &u;
  std::string recipient_id;  // a referral's recipient (d.recipient goes with d into deliver_to)
  const std::string* target_id = &user_id;
  UserPtr copy;  // explain decides on a copy of the recipient, as it does of the event's user
  if (s.recipient_field >= 0) {
    d.referral = true;
    d.trigger_user = user_id;
    Reason why = Reason::None;
    if (!ev || !ev->present[s.recipient_field]) why = Reason::NoRecipient;
    else {
      d.recipient = std::string(users_.text(ev->fields[s.recipient_field]));
      why = d.recipient.empty()               ? Reason::NoRecipient
            : d.recipient == user_id          ? Reason::SelfReferral
            : !users_.known(d.recipient)      ? Reason::UnknownRecipient
                                              : Reason::None;
    }
    const auto& field = p_.events[s.event].fields[s.recipient_field].name;
    if (trace_)
      note({"recipient", why == Reason::None,
            why == Reason::NoRecipient        ? fmt::format("`event.{}` is missing or empty", field)
            : why == Reason::SelfReferral     ? fmt::format("`event.{}` is \"{}\", the event's own user", field, d.recipient)
            : why == Reason::UnknownRecipient ? fmt::format("`event.{}` is \"{}\", a user the engine does not know", field, d.recipient)
                                              : fmt::format("`event.{}` is \"{}\": the delivery is theirs, with their caps and policies",
                                                            field, d.recipient)});
    if (why != Reason::None) {
      for (size_t ai = 0; ai < std::max<size_t>(s.actions.size(), 1); ++ai) {
        d.action = static_cast<int32_t>(ai);
        d.outcome = Outcome::Rejected;
        d.reason = why;
        ++stats_.rejected;
        out.push_back(d);
      }
      return;
    }
    recipient_id = d.recipient;
    target_id = &recipient_id;
    d.user = recipient_id;
    if (trace_) {
      if (User* known = users_.find(recipient_id)) copy = known->clone();
      else copy = users_.transient(recipient_id, true);
      target = copy.get();
    } else {
      target = &users_.get(recipient_id);
    }
  }
  deliver_to(*target, *target_id, now, si, d, out);
}

// Random rewards: the draws of each action for this (user, unit), in action order. A lost
// `with chance` draw is the action's reason; the amount is the drawn discount (else the face value
// the caller computes).
void DecisionRules::draw(const bytecode::Strategy& s, const Decision& d, std::vector<Reason>& lost,
                         std::vector<int64_t>& amounts) {
  lost.assign(s.actions.size(), Reason::None);
  amounts.assign(s.actions.size(), -1);
  // The draw's user and unit are the trigger event's (or the scheduled run's): a referral draws
  // for the event that names the recipient.
  const std::string& user = d.referral ? d.trigger_user : d.user;
  // A scheduled run's unit id is made only for an action that draws (most draw nothing).
  std::string scheduled;
  auto unit_of = [&]() -> std::string_view {
    if (!d.event.empty()) return d.event;
    if (scheduled.empty()) scheduled = Scheduler::unit_id(s, d.at);
    return scheduled;
  };
  for (size_t ai = 0; ai < s.actions.size(); ++ai) {
    const auto& a = s.actions[ai];
    const auto& res = p_.resources[a.resource];
    if (a.chance < bytecode::kCertain) {
      ChanceDraw c = draw_chance(a.chance, draw_hash(user, unit_of(), a.salt, "chance"));
      if (!c.won) lost[ai] = Reason::LostDraw;
      if (trace_) {
        Check k{"chance", c.won,
                fmt::format("with chance {}%: drew {} of 1000000, {} below {}", support::Decimal::from_units(a.chance * 100).to_string(),
                            c.value, c.won ? "won:" : "lost: not", a.chance)};
        k.action = static_cast<int32_t>(ai);
        note(std::move(k));
      }
    }
    if (res.draw != bytecode::Resource::Draw::None && lost[ai] == Reason::None) {
      AmountDraw m = draw_amount(res, draw_hash(user, unit_of(), a.salt, "amount"));
      amounts[ai] = m.amount;
      if (trace_) {
        Check k{"draw", true,
                fmt::format("`{}` draws its discount: {} {} (value {} of {}; the budget needs room for {} {})", res.name,
                            support::Decimal::from_units(m.amount).to_string(), res.currency, m.index + 1, m.of,
                            support::Decimal::from_units(res.discount).to_string(), res.currency)};
        k.action = static_cast<int32_t>(ai);
        note(std::move(k));
      }
    }
  }
}

void DecisionRules::deliver_to(User& u, const std::string& user_id, int64_t now, uint32_t si, Decision& d,
                               std::vector<Decision>& out) {
  const auto& s = p_.strategies[si];
  // Deterministic A/B split: the same user always lands in the same group of a strategy.
  int64_t bucket = s.control_basis_points > 0 || !s.arms.empty()
                       ? static_cast<int64_t>(vm::stable_hash(user_id + "\x1f" + s.split_salt) % 10000)
                       : 0;
  if (s.control_basis_points > 0) {
    if (trace_)
      note({"split", bucket >= s.control_basis_points,
            fmt::format("control {}%: {} (bucket {} of 10000, control below {})",
                        support::Decimal::from_units(int64_t(s.control_basis_points) * 10000).to_string(),
                        bucket < s.control_basis_points ? "the user is in the control group" : "the user is treated", bucket,
                        s.control_basis_points)});
    if (bucket < s.control_basis_points) {
      decide_control(u, s, si, now, std::move(d), out);
      return;
    }
  }
  // A/B/n: the user's arm is the next range of buckets after the control group; a user in no
  // arm, or in an arm this strategy has no action for, is not decided by it.
  // After a roll-out's decision point, a user in no arm (the rest of the audience) gets the
  // winning arm's actions; the record names the winner (`rollout`), not an arm.
  int32_t acting = -1;  // the arm whose actions the user gets
  if (!s.arms.empty()) {
    d.arm = s.arm_of(bucket);
    acting = d.arm;
    if (d.arm < 0 && rollouts_) acting = d.rollout = rollouts_->rest_arm(si, now);
    bool any = false;
    for (const auto& a : s.actions) any = any || (acting >= 0 && for_arm(a, acting));
    if (trace_) {
      std::string ranges;
      int64_t at = s.control_basis_points;
      for (const auto& arm : s.arms) {
        ranges += fmt::format("{}{} {}..{}", ranges.empty() ? "" : ", ", arm.name, at, at + arm.basis_points - 1);
        at += arm.basis_points;
      }
      std::string rest;
      if (d.arm < 0 && s.has_rollout && rollouts_)
        rest = d.rollout >= 0 ? fmt::format(", the rest of the audience: the roll-out sends arm {}'s actions", s.arms[d.rollout].name)
                              : ", the rest of the audience: nothing before the roll-out's winner, or without one";
      note({"split", any,
            d.arm < 0 ? fmt::format("variants: bucket {} of 10000 is in no arm ({}){}", bucket, ranges, rest)
                      : fmt::format("variants: bucket {} of 10000 is in arm {} ({}){}", bucket, s.arms[d.arm].name, ranges,
                                    any ? "" : ", which this strategy sends nothing")});
      if (s.has_rollout && rollouts_) note({"rollout", true, rollouts_->describe(si)});
      if (!any) trace_->verdict = "no_match";
    }
    if (!any) return;
  }
  // The draws come before the limits: a lost draw has nothing to give, so it consults no limit
  // and counts for none. A delivery whose every action (of the user's arm) lost is only those rows.
  std::vector<Reason>& lost = lost_;
  std::vector<int64_t>& drawn = drawn_;
  draw(s, d, lost, drawn);
  bool any_won = s.actions.empty();
  for (size_t ai = 0; ai < s.actions.size(); ++ai) any_won |= for_arm(s.actions[ai], acting) && lost[ai] == Reason::None;
  if (!any_won) {
    for (size_t ai = 0; ai < s.actions.size(); ++ai) {
      if (!for_arm(s.actions[ai], acting)) continue;
      d.action = static_cast<int32_t>(ai);
      d.outcome = Outcome::Rejected;
      d.reason = lost[ai];
      d.amount = 0;
      ++stats_.rejected;
      out.push_back(d);
    }
    return;
  }
  Reason strategy_why = strategy_limit(u, s, si, now, true, &lost, acting);
  // Actions that pass are granted tentatively (a later action's policies see the earlier ones),
  // then the delivery reserves stock and budget in one atomic step; if another runtime sharing
  // the counters took them first, the tentative grants become rejections.
  const size_t first_grant = u.grants().size(), first_out = out.size();
  int64_t spent = 0, most = 0;  // what the granted actions cost, and what they could have cost at most
  std::vector<std::pair<int32_t, int64_t>> holds;  // (action, release time)
  for (size_t ai = 0; ai < s.actions.size(); ++ai) {
    const auto& a = s.actions[ai];
    if (!for_arm(a, acting)) continue;
    d.action = static_cast<int32_t>(ai);
    set_text(d, u, a, false);
    int64_t hold = 0;
    Reason why = lost[ai] != Reason::None     ? lost[ai]
                 : strategy_why == Reason::None ? action_limit(u, s, a, now, d.action, &hold)
                                                : strategy_why;
    if (why == Reason::None && hold) {
      // A held message reserves its cost now, with the delivery; its release records none again.
      d.outcome = Outcome::Held;
      d.reason = Reason::QuietHours;
      d.amount = grants_.face_value(u, a.resource);
      spent += d.amount;
      most += d.amount;  // not drawn: it costs what it reserves
      set_text(d, u, a, true);
      holds.emplace_back(d.action, hold);
    } else if (why == Reason::None) {
      d.outcome = Outcome::Granted;
      d.reason = Reason::None;
      Grant g = grants_.make_grant(u, si, d.action, now);
      most += g.amount;
      if (drawn[ai] >= 0) g.amount = drawn[ai];  // the drawn discount; the budget had room for the face value
      d.amount = g.amount;
      spent += g.amount;
      set_text(d, u, a, true);
      u.edit().grants.push_back(g);
    } else {
      d.outcome = Outcome::Rejected;
      d.reason = why;
      d.amount = 0;
    }
    // The last action's row takes `d` itself (nothing reads it after the loop).
    if (ai + 1 == s.actions.size()) out.push_back(std::move(d));
    else out.push_back(d);
  }
  // A held message is part of the delivery: it reserves with it and counts for per-user caps now.
  if (u.grants().size() > first_grant || !holds.empty()) {
    // A drawn discount reserves its drawn amount, but only if the budget has room for its largest
    // value: the limits are lowered by the difference, so whether a user gets the reward never
    // depends on what the user drew (semantics.md, "Random rewards"). The same holds for the
    // budget pool's budget.
    // Explain reserves nothing: it asks the same rule whether the reservation would fit. A
    // strategy and its pool are reserved together: both count the delivery, or neither.
    std::vector<state::QuotaPart>& parts = parts_;  // kept: no vector per delivery
    quota_parts(si, now, most, parts);
    for (auto& part : parts) {
      if (part.limits.budget >= 0) part.limits.budget -= most - spent;
      if (part.limits.paced_budget >= 0) part.limits.paced_budget -= most - spent;
    }
    size_t failed = 0;
    state::QuotaCheck c = state::QuotaCheck::Fits;
    if (trace_) {
      for (size_t i = 0; i < parts.size() && c == state::QuotaCheck::Fits; ++i)
        if ((c = state::check_quota(quotas_->used(parts[i].handle), spent, parts[i].limits)) != state::QuotaCheck::Fits)
          failed = i;
    } else {
      c = parts.size() == 1 ? quotas_->reserve(parts[0].handle, spent, parts[0].limits)
                            : quotas_->reserve_parts(parts, spent, failed);
    }
    if (c == state::QuotaCheck::Fits) {
      if (!trace_)
        for (size_t i = first_grant; i < u.grants().size(); ++i)
          if (u.grants()[i].expires != INT64_MAX) grants_.track(u.grants()[i].expires, user_id, i);
      UserGrants& x = u.edit();
      prune_deliveries(x.deliveries, now);
      x.deliveries.emplace_back(si, now);
      // The delivery enters the user's history at once: strategies decided after this one, in
      // this unit too, see it in received(...) (docs/semantics.md, "Delivery history").
      if (users_.history().used()) {
        std::vector<int32_t> delivered;
        for (size_t i = first_out; i < out.size(); ++i)
          if (out[i].outcome == Outcome::Granted || out[i].outcome == Outcome::Held) delivered.push_back(out[i].action);
        users_.history().delivered(u, si, delivered, now);
      }
      if (!trace_)
        for (const auto& [ai, at] : holds) releases_.push({at, user_id, si, ai, now});
    } else {
      if (UserGrants* x = u.extra()) x->grants.resize(first_grant);
      u.trim();
      for (size_t i = first_out; i < out.size(); ++i)
        if (out[i].outcome == Outcome::Granted || out[i].outcome == Outcome::Held) {
          out[i].outcome = Outcome::Rejected;
          out[i].reason = failed > 0 ? pool_reason_of(c) : reason_of(c);
          out[i].amount = 0;
          set_text(out[i], u, s.actions[size_t(out[i].action)], false);
        }
    }
  }
  for (size_t i = first_out; i < out.size(); ++i)
    ++(out[i].outcome == Outcome::Granted ? stats_.granted : out[i].outcome == Outcome::Held ? stats_.held : stats_.rejected);
}

// The text of a message action as rendered for the user (`render` false: none, for rows that send nothing).
void DecisionRules::set_text(Decision& d, const User& u, const bytecode::Action& a, bool render) const {
  d.text.clear();
  d.title.clear();
  d.segments = 0;
  if (!render || !a.send || !bytecode::is_message(p_.resources[a.resource].kind)) return;
  RenderedMessage m = grants_.texts().render(u, a.resource);
  d.text = std::move(m.text);
  d.title = std::move(m.title);
  d.segments = m.segments;
}

// Held messages are sent when their quiet hours end, recorded by the first work unit at or after
// that instant (as expiries are), if the user's policies still allow them then (a channel cap
// may have filled in the meantime); otherwise they are rejected with the reason.
void DecisionRules::release(int64_t now, std::vector<Decision>& out) {
  while (!releases_.empty() && releases_.top().at <= now) {
    Release r = releases_.top();
    releases_.pop();
    User* u = users_.find(r.user);
    if (!u) u = &users_.get(r.user);
    const auto& s = p_.strategies[r.strategy];
    int64_t hold = 0;
    Reason why = action_limit(*u, s, s.actions[r.action], r.at, r.action, &hold);
    if (why == Reason::None && hold) {  // another policy's quiet hours go on: wait for them too
      r.at = hold;
      releases_.push(r);
      continue;
    }
    Decision d;
    d.user = r.user;
    d.strategy = r.strategy;
    d.action = r.action;
    d.at = r.at;
    d.granted_at = r.held_at;
    d.released = true;
    if (!s.arms.empty()) {  // the release names the arm (or the roll-out's winner), as the held row did
      d.arm = s.arm_of(static_cast<int64_t>(vm::stable_hash(r.user + "\x1f" + s.split_salt) % 10000));
      if (d.arm < 0 && rollouts_) d.rollout = rollouts_->rest_arm(r.strategy, r.held_at);
    }
    if (why == Reason::None) {
      Grant g = grants_.make_grant(*u, r.strategy, r.action, r.at);
      d.outcome = Outcome::Granted;
      // A message's cost was reserved and recorded when it was held.
      d.amount = bytecode::is_message(p_.resources[g.resource].kind) ? 0 : g.amount;
      set_text(d, *u, s.actions[r.action], true);
      u->edit().grants.push_back(g);
      if (g.expires != INT64_MAX) grants_.track(g.expires, r.user, u->grants().size() - 1);
      ++stats_.granted;
    } else {
      d.outcome = Outcome::Rejected;
      d.reason = why;
      ++stats_.rejected;
    }
    out.push_back(std::move(d));
  }
}

// A control user gets one `control` row per action, decided by the same per-user caps, exclusive
// groups and policies as a treated user (stock, budget and pacing aside: a control delivery takes
// none), so control and treatment rows compare one to one: a row without a reason is an action
// the user would have received, a row with one says which limit would have refused it. What
// would have been received is kept as shadow grants, which later control decisions of the user
// see (a weekly strategy's control user gets one delivery a week, as a treated user does) and
// treated decisions never do.
void DecisionRules::decide_control(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, Decision d,
                            std::vector<Decision>& out) {
  // Decide against real plus shadow grants: the shadow ones are appended for the time of the
  // decision (no expiry is queued for them) and moved back afterwards.
  const size_t real_grants = u.grants().size(), real_deliveries = u.deliveries().size();
  if (const Shadow* sh = u.shadow()) {
    UserGrants& x = u.edit();
    x.grants.insert(x.grants.end(), sh->grants.begin(), sh->grants.end());
    x.deliveries.insert(x.deliveries.end(), sh->deliveries.begin(), sh->deliveries.end());
  }
  // A control user draws as a treated user would: a lost draw is a control row with its reason.
  // With A/B/n arms, only the actions for every arm count (the control group gets those).
  std::vector<Reason>& lost = lost_;
  std::vector<int64_t>& drawn = drawn_;
  draw(s, d, lost, drawn);
  bool any_won = s.actions.empty();
  for (size_t ai = 0; ai < s.actions.size(); ++ai) any_won |= s.actions[ai].arm < 0 && lost[ai] == Reason::None;
  const Reason strategy_why = any_won ? strategy_limit(u, s, si, now, false) : Reason::None;
  const size_t first_new = u.grants().size(), first_out = out.size();
  for (size_t ai = 0; ai < s.actions.size(); ++ai) {
    // With A/B/n arms, the control group would have received what every arm receives.
    if (s.actions[ai].arm >= 0) continue;
    d.action = static_cast<int32_t>(ai);
    d.outcome = Outcome::Control;
    int64_t hold = 0;  // a held message would have been received (later): no reason
    d.reason = lost[ai] != Reason::None     ? lost[ai]
               : strategy_why == Reason::None ? action_limit(u, s, s.actions[ai], now, d.action, &hold)
                                              : strategy_why;
    d.amount = 0;
    set_text(d, u, s.actions[ai], d.reason == Reason::None);  // the text the user would have received
    if (d.reason == Reason::None) {
      Grant g = grants_.make_grant(u, si, d.action, now);
      u.edit().grants.push_back(g);
    }
    ++stats_.control;
    out.push_back(d);
  }
  if (out.size() == first_out) {  // no action: still one row that says the user is in the control group
    if (!s.actions.empty()) d.action = -1;  // every action is for an arm: the row names none
    d.outcome = Outcome::Control;
    d.reason = Reason::None;
    d.amount = 0;
    ++stats_.control;
    out.push_back(d);
  }
  if (u.grants().size() > first_new) {
    Shadow& sh = u.edit().shadow.make();
    sh.grants.insert(sh.grants.end(), u.grants().begin() + ptrdiff_t(first_new), u.grants().end());
    prune_deliveries(sh.deliveries, now);  // the same rule: control decisions only go forward too
    sh.deliveries.emplace_back(si, now);
  }
  if (UserGrants* x = u.extra()) {
    // A control user usually has no real grant: the block the shadow ones were appended to
    // goes, not only its elements.
    if (real_grants) x->grants.resize(real_grants);
    else std::vector<Grant>().swap(x->grants);
    if (real_deliveries) x->deliveries.resize(real_deliveries);
    else std::vector<Delivery>().swap(x->deliveries);
  }
  u.trim();  // a control user none of whose actions would have been received
}

}  // namespace crm::engine
