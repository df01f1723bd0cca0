// rollout.cc - per-arm counters, the choice of the winner with the report's statistics, and its
// record.
#include "runtime/engine/rollout.h"

#include <fmt/format.h>

#include <cmath>

#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"
#include "support/statistics.h"

namespace crm::engine {

namespace {

bool is_strategy_decision(Outcome o) {
  return o == Outcome::Granted || o == Outcome::Rejected || o == Outcome::Held || o == Outcome::Control;
}

// Fixed precision, so a record reads the same on every platform; undefined is null.
std::string number(double v, const char* spec = "{:.6f}") {
  if (!std::isfinite(v)) return "null";
  return fmt::format(fmt::runtime(spec), v);
}

const char* metric_name(bytecode::RolloutMetric m) {
  switch (m) {
    case bytecode::RolloutMetric::SpendPerUser: return "spend_per_user";
    case bytecode::RolloutMetric::Roi: return "roi";
    case bytecode::RolloutMetric::Conversion: break;
  }
  return "conversion";
}

}  // namespace

Rollouts::Rollouts(const bytecode::Program& p) : p_(p), state_(p.strategies.size()), by_event_(p.events.size()) {
  for (uint32_t si = 0; si < p.strategies.size(); ++si) {
    const auto& s = p.strategies[si];
    if (!s.has_rollout) continue;
    any_ = true;
    by_event_[size_t(s.rollout.order_event)].push_back(si);
  }
}

void Rollouts::note(const Decision& d) {
  if (d.strategy >= state_.size() || !p_.strategies[d.strategy].has_rollout || d.rollout >= 0) return;
  const auto& s = p_.strategies[d.strategy];
  // A redemption of the strategy's grant: its subsidy is a cost of the user's group.
  if (d.outcome == Outcome::Redeemed) {
    note_cost(d.strategy, d.user, d.amount, d.at);
    return;
  }
  if (!is_strategy_decision(d.outcome) || d.released) return;
  note_user(d.strategy, d.user, d.outcome == Outcome::Control ? kControl : d.arm, d.at);
  // A message sent or held costs what the recorder writes as its `cost` (a held one when held;
  // its release costs nothing again and is not noted here).
  if ((d.outcome == Outcome::Granted || d.outcome == Outcome::Held) && d.amount > 0 && d.action >= 0 &&
      size_t(d.action) < s.actions.size()) {
    const auto& a = s.actions[size_t(d.action)];
    if (a.send && bytecode::is_message(p_.resources[a.resource].kind)) note_cost(d.strategy, d.user, d.amount, d.at);
  }
}

void Rollouts::note_cost(uint32_t si, const std::string& user, int64_t amount, int64_t at) {
  if (si >= state_.size() || !p_.strategies[si].has_rollout || at >= p_.strategies[si].rollout.decide_at) return;
  State& st = state_[si];
  auto it = st.users.find(user);
  if (it != st.users.end()) it->second.cost += amount;
}

void Rollouts::note_user(uint32_t si, const std::string& user, int32_t group, int64_t at) {
  State& st = state_[si];
  if (group == -1 || at >= p_.strategies[si].rollout.decide_at) return;  // in no arm; or after the decision
  auto [it, fresh] = st.users.try_emplace(user);
  UserOutcome& u = it->second;
  if (fresh) {
    u.group = group;
    u.first = at;
  } else {
    if (u.group != group) u.crossover = true;
    u.first = std::min(u.first, at);
  }
}

void Rollouts::observe(const Event& ev) {
  if (ev.type >= by_event_.size()) return;
  for (uint32_t si : by_event_[ev.type]) {
    State& st = state_[si];
    const auto& ro = p_.strategies[si].rollout;
    if (ev.time >= ro.decide_at) continue;
    auto it = st.users.find(ev.user);
    if (it == st.users.end()) continue;
    UserOutcome& u = it->second;
    // The attribution window (t0, t0 + W] of docs/indicators.md: strictly after the first decision.
    if (ev.time <= u.first || ev.time > u.first + ro.window) continue;
    u.converted = true;
    ++u.orders;
    if (ro.amount_field >= 0 && size_t(ro.amount_field) < ev.fields.size() && ev.present[size_t(ro.amount_field)])
      u.spend += ev.fields[size_t(ro.amount_field)];
  }
}

bool Rollouts::next_due(int64_t upto, uint32_t& si, int64_t& at) const {
  bool found = false;
  for (uint32_t i = 0; i < state_.size(); ++i) {
    const auto& s = p_.strategies[i];
    if (!s.has_rollout || state_[i].passed || s.rollout.decide_at > upto) continue;
    if (!found || s.rollout.decide_at < at) {
      found = true;
      si = i;
      at = s.rollout.decide_at;
    }
  }
  return found;
}

Decision Rollouts::decide(uint32_t si) {
  const auto& s = p_.strategies[si];
  const auto& ro = s.rollout;
  State& st = state_[si];
  const bool spend = ro.metric != bytecode::RolloutMetric::Conversion;  // spend_per_user, roi: Welch on spend
  const bool by_roi = ro.metric == bytecode::RolloutMetric::Roi;
  // Sums per group: control, then the listed arms. Spend in currency units for the statistics.
  struct Sums {
    int64_t users = 0, converters = 0, orders = 0, spend = 0, cost = 0;
    double sum = 0, squares = 0;
  };
  std::vector<Sums> sums(ro.arms.size() + 1);
  auto slot = [&](int32_t group) -> int {
    if (group == kControl) return 0;
    for (size_t k = 0; k < ro.arms.size(); ++k)
      if (ro.arms[k] == group) return int(k) + 1;
    return -1;
  };
  for (const auto& [user, u] : st.users) {
    if (u.crossover) continue;
    int k = slot(u.group);
    if (k < 0) continue;
    Sums& g = sums[size_t(k)];
    ++g.users;
    g.converters += u.converted;
    g.orders += u.orders;
    g.spend += u.spend;
    g.cost += u.cost;
    const double x = double(u.spend) / 1e6;
    g.sum += x;
    g.squares += x * x;
  }
  RolloutChoice c;
  c.decided = true;
  c.at = ro.decide_at;
  const Sums& C = sums[0];
  auto mean_var = [](const Sums& g, double& mean, double& var) {
    const double n = double(g.users);
    mean = g.users > 0 ? g.sum / n : NAN;
    var = g.users > 1 ? std::max(0.0, (g.squares - g.sum * g.sum / n) / (n - 1)) : NAN;
  };
  double best = 0;
  for (size_t k = 0; k <= ro.arms.size(); ++k) {
    const Sums& g = sums[k];
    RolloutGroup r;
    r.name = k == 0 ? "control" : s.arms[size_t(ro.arms[k - 1])].name;
    r.users = g.users;
    r.converters = g.converters;
    r.orders = g.orders;
    r.spend = g.spend;
    r.cost = g.cost;
    double mean = 0, var = 0;
    mean_var(g, mean, var);
    r.roi = NAN;
    if (k > 0 && ro.amount_field >= 0 && g.cost > 0 && g.users > 0 && C.users > 0) {
      // Incremental sales (spend per user - control's) x users, in millionths, from the exact sums.
      const double incremental = double(g.spend) - double(C.spend) * double(g.users) / double(C.users);
      r.roi = (incremental - double(g.cost)) / double(g.cost);
    }
    r.value = by_roi ? r.roi : spend ? mean : (g.users > 0 ? double(g.converters) / double(g.users) : NAN);
    if (k > 0) {
      if (spend) {
        double mc = 0, vc = 0;
        mean_var(C, mc, vc);
        support::MeanDifference d = support::welch(mean, var, g.users, mc, vc, C.users, kConfidence);
        r.uplift = d.difference;
        r.low = d.interval.low;
        r.high = d.interval.high;
        r.p_value = d.p_value;
      } else {
        support::ProportionDifference d = support::newcombe(g.converters, g.users, C.converters, C.users, kConfidence);
        r.uplift = d.difference;
        r.low = d.interval.low;
        r.high = d.interval.high;
        r.p_value = d.p_value;
      }
      r.excludes_zero = r.low > 0;  // false for NaN: an undefined interval excludes nothing
      // The best metric among the arms that beat control (by roi: whose spend beats control's
      // and that cost something, so that the ROI is defined); ties go to the arm listed first.
      const bool eligible = r.excludes_zero && (!by_roi || std::isfinite(r.roi));
      if (eligible && (c.winner < 0 || r.value > best)) {
        c.winner = ro.arms[k - 1];
        best = r.value;
      }
    }
    c.groups.push_back(std::move(r));
  }
  // Flat, one array per column (groups: control, then the listed arms), so the record stays
  // one JSON line of scalars and arrays of scalars like every decision.
  std::string names, users, converters, orders, spent, costs, rois, values, uplifts, lows, highs, ps, excludes;
  for (size_t k = 0; k < c.groups.size(); ++k) {
    const auto& g = c.groups[k];
    const char* sep = k ? "," : "";
    names += sep + support::json_quote(g.name);
    users += fmt::format("{}{}", sep, g.users);
    converters += fmt::format("{}{}", sep, g.converters);
    orders += fmt::format("{}{}", sep, g.orders);
    spent += sep + support::json_quote(support::Decimal::from_units(g.spend).to_string());
    costs += sep + support::json_quote(support::Decimal::from_units(g.cost).to_string());
    rois += sep + (k ? number(g.roi) : "null");
    values += sep + number(g.value);
    uplifts += sep + (k ? number(g.uplift) : "null");
    lows += sep + (k ? number(g.low) : "null");
    highs += sep + (k ? number(g.high) : "null");
    ps += sep + (k ? number(g.p_value, "{:.4g}") : "null");
    excludes += sep + std::string(k && g.excludes_zero ? "true" : "false");
  }
  std::string j = fmt::format(
      ",\"metric\":\"{}\",\"confidence\":{},\"window\":\"{}\",\"groups\":[{}],\"users\":[{}],\"converters\":[{}],"
      "\"orders\":[{}],\"spend\":[{}],\"cost\":[{}],\"roi\":[{}],\"metric_value\":[{}],\"uplift\":[{}],\"low\":[{}],"
      "\"high\":[{}],\"p_value\":[{}],\"excludes_zero\":[{}]",
      metric_name(ro.metric), kConfidence, support::format_duration(ro.window), names, users, converters, orders, spent, costs,
      rois, values, uplifts, lows, highs, ps, excludes);
  c.json = j;
  st.choice = c;
  st.passed = true;
  st.users.clear();  // nothing more is counted: the choice is fixed
  Decision d;
  d.strategy = si;
  d.outcome = Outcome::Rollout;
  d.reason = c.winner < 0 ? Reason::NoWinner : Reason::None;
  d.arm = c.winner;
  d.at = ro.decide_at;
  d.detail = j;
  d.action = -1;
  return d;
}

void Rollouts::restore(uint32_t si, const std::string& arm, int64_t at, const std::string& json) {
  const auto& s = p_.strategies[si];
  if (!s.has_rollout) return;
  RolloutChoice c;
  c.decided = true;
  c.at = at;
  for (size_t k = 0; k < s.arms.size(); ++k)
    if (s.arms[k].name == arm) c.winner = int32_t(k);
  c.json = json;
  state_[si].choice = std::move(c);
  state_[si].users.clear();
}

int32_t Rollouts::rest_arm(uint32_t si, int64_t now) const {
  if (si >= state_.size()) return -1;
  const auto& s = p_.strategies[si];
  if (!s.has_rollout || now < s.rollout.decide_at) return -1;
  const RolloutChoice& c = state_[si].choice;
  return c.decided ? c.winner : -1;
}

std::string Rollouts::describe(uint32_t si) const {
  const auto& s = p_.strategies[si];
  if (!s.has_rollout) return "";
  const auto& ro = s.rollout;
  std::string arms;
  for (int32_t a : ro.arms) arms += (arms.empty() ? "" : ", ") + s.arms[size_t(a)].name;
  const RolloutChoice& c = state_[si].choice;
  if (!c.decided)
    return fmt::format("roll-out: best of ({}) by {}, decided at {}", arms, metric_name(ro.metric),
                       support::format_time(ro.decide_at));
  const bool by_roi = ro.metric == bytecode::RolloutMetric::Roi;
  std::string head = c.winner >= 0 ? fmt::format("roll-out at {}: arm {} won by {}", support::format_time(c.at),
                                                 s.arms[size_t(c.winner)].name, metric_name(ro.metric))
                                   : fmt::format("roll-out at {}: no arm won by {} ({}): the rest get nothing",
                                                 support::format_time(c.at), metric_name(ro.metric),
                                                 by_roi ? "no arm's spend interval excludes zero uplift with a cost"
                                                        : "no interval excludes zero uplift");
  if (c.groups.empty()) return head + " (recorded: " + c.json + ")";
  std::string numbers;
  const bool spend = ro.metric == bytecode::RolloutMetric::SpendPerUser;
  for (size_t k = 0; k < c.groups.size(); ++k) {
    const auto& g = c.groups[k];
    if (by_roi) {
      // The ROI, its cost, and the spend per user whose uplift's interval makes the arm eligible.
      numbers += fmt::format("{}{} {} per user of {} users", k ? "; " : "", g.name,
                             number(g.users > 0 ? double(g.spend) / 1e6 / double(g.users) : NAN, "{:.2f}"), g.users);
      if (k > 0)
        numbers += fmt::format(", cost {}, roi {}, spend uplift {} [{}, {}]", support::Decimal::from_units(g.cost).to_string(),
                               number(g.roi, "{:.4f}"), number(g.uplift, "{:+.4f}"), number(g.low, "{:.4f}"),
                               number(g.high, "{:.4f}"));
      continue;
    }
    numbers += fmt::format("{}{} {} of {} users", k ? "; " : "", g.name, spend ? number(g.value, "{:.2f}") + " per user" : number(g.value, "{:.4f}"),
                           g.users);
    if (k > 0) numbers += fmt::format(", uplift {} [{}, {}]", number(g.uplift, "{:+.4f}"), number(g.low, "{:.4f}"), number(g.high, "{:.4f}"));
  }
  return head + " (" + numbers + ")";
}

}  // namespace crm::engine
