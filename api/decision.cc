// decision.cc - crm::Decision from a decision's JSON line. Reading the line the engine wrote
// (rather than the engine's record) makes the struct say exactly what the line says, for
// decisions replayed from a ledger as well as fresh ones.
#include "api/decision.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <optional>

#include "runtime/engine/json_line.h"
#include "support/civil_time.h"
#include "support/decimal.h"

namespace crm {

const char* outcome_name(Decision::Outcome o) {
  switch (o) {
    case Decision::Outcome::Granted: return "granted";
    case Decision::Outcome::Rejected: return "rejected";
    case Decision::Outcome::Control: return "control";
    case Decision::Outcome::Redeemed: return "redeemed";
    case Decision::Outcome::RedeemRejected: return "redeem_rejected";
    case Decision::Outcome::Expired: return "expired";
    case Decision::Outcome::Held: return "held";
    case Decision::Outcome::Pending: return "pending";
    case Decision::Outcome::Cancelled: return "cancelled";
    case Decision::Outcome::Rollout: return "rollout";
  }
  return "?";
}

namespace detail {

namespace {

// One column of a `rollout` record's groups (runtime/engine/rollout.cc writes them as arrays).
bool rollout_column(const std::string& key, const engine::JsonValue& v, Decision& out) {
  static const char* const kColumns[] = {"groups", "users", "converters", "orders",  "spend",        "cost", "roi",
                                         "metric_value", "uplift", "low", "high", "p_value", "excludes_zero"};
  if (std::find(std::begin(kColumns), std::end(kColumns), key) == std::end(kColumns)) return false;
  if (out.rollout_groups.size() < v.items.size()) out.rollout_groups.resize(v.items.size());
  for (size_t i = 0; i < v.items.size(); ++i) {
    const engine::JsonValue& x = v.items[i];
    Decision::RolloutGroup& g = out.rollout_groups[i];
    const bool null = x.kind == engine::JsonValue::Kind::Null;
    const double d = null ? std::numeric_limits<double>::quiet_NaN() : std::strtod(x.text.c_str(), nullptr);
    if (key == "groups") g.group = x.text;
    else if (key == "users") g.users = std::strtoll(x.text.c_str(), nullptr, 10);
    else if (key == "converters") g.converters = std::strtoll(x.text.c_str(), nullptr, 10);
    else if (key == "orders") g.orders = std::strtoll(x.text.c_str(), nullptr, 10);
    else if (key == "spend") g.spend_millionths = support::Decimal::parse(x.text).value_or(support::Decimal{}).units();
    else if (key == "cost") g.cost_millionths = support::Decimal::parse(x.text).value_or(support::Decimal{}).units();
    else if (key == "roi") g.roi = d;
    else if (key == "metric_value") g.value = d;
    else if (key == "uplift") g.uplift = d;
    else if (key == "low") g.low = d;
    else if (key == "high") g.high = d;
    else if (key == "p_value") g.p_value = d;
    else if (key == "excludes_zero") g.excludes_zero = x.boolean;
  }
  return true;
}

}  // namespace

bool parse_decision(std::string json, Decision& out, std::string& error) {
  std::vector<engine::JsonMember> members;
  if (!engine::parse_json_object(json, members, error)) return false;
  out = Decision();
  bool has_outcome = false;
  auto time = [&](const engine::JsonMember& m, int64_t& v) {
    auto t = m.value.kind == engine::JsonValue::Kind::String ? support::parse_time(m.value.text, true) : std::nullopt;
    if (!t) error = "`" + m.key + "` is not a time";
    else v = *t;
    return t.has_value();
  };
  auto money = [&](const engine::JsonMember& m, int64_t& v) {
    auto d = m.value.kind == engine::JsonValue::Kind::String ? support::Decimal::parse(m.value.text) : std::nullopt;
    if (!d) error = "`" + m.key + "` is not a decimal";
    else v = d->units();
    return d.has_value();
  };
  for (const auto& m : members) {
    bool text = m.value.kind == engine::JsonValue::Kind::String;
    if (m.value.kind == engine::JsonValue::Kind::Null) continue;
    const std::string& k = m.key;
    if (k == "event" && text) out.event = m.value.text;
    else if (k == "user" && text) out.user = m.value.text;
    else if (k == "strategy" && text) out.strategy = m.value.text;
    else if (k == "reason" && text) out.reason = m.value.text;
    else if (k == "resource" && text) out.resource = m.value.text;
    else if (k == "channel" && text) out.channel = m.value.text;
    else if (k == "code" && text) out.code = m.value.text;
    else if (k == "currency" && text) out.currency = m.value.text;
    else if (k == "text" && text) out.text = m.value.text;
    else if (k == "title" && text) out.title = m.value.text;
    else if (k == "segments" && m.value.kind == engine::JsonValue::Kind::Number) out.segments = std::strtoll(m.value.text.c_str(), nullptr, 10);
    else if (k == "pool" && text) out.pool = m.value.text;
    else if (k == "arm" && text) out.arm = m.value.text;
    else if (k == "rollout" && text) out.rollout = m.value.text;
    else if (k == "metric" && text) out.rollout_metric = m.value.text;
    else if (m.value.kind == engine::JsonValue::Kind::Array && rollout_column(k, m.value, out)) continue;
    else if (k == "outcome" && text) {
      for (auto o : {Decision::Outcome::Granted, Decision::Outcome::Rejected, Decision::Outcome::Control,
                     Decision::Outcome::Redeemed, Decision::Outcome::RedeemRejected, Decision::Outcome::Expired,
                     Decision::Outcome::Held, Decision::Outcome::Pending, Decision::Outcome::Cancelled,
                     Decision::Outcome::Rollout})
        if (m.value.text == outcome_name(o)) out.outcome = o, has_outcome = true;
      if (!has_outcome) {
        error = "unknown outcome `" + m.value.text + "`";
        return false;
      }
    } else if (k == "at") {
      if (!time(m, out.at_micros)) return false;
    } else if (k == "granted_at") {
      if (!time(m, out.granted_at_micros)) return false;
      out.has_granted_at = true;
    } else if (k == "held_at") {
      if (!time(m, out.held_at_micros)) return false;
      out.released = true;
    } else if (k == "due") {
      if (!time(m, out.due_micros)) return false;
      out.has_due = true;
    } else if (k == "trigger" && text) {
      out.trigger = m.value.text;
    } else if (k == "amount" || k == "subsidy") {
      if (!money(m, out.amount_millionths)) return false;
      out.has_amount = true;
    } else if (k == "value") {
      if (!money(m, out.value_millionths)) return false;
      out.has_value = true;
    } else if (k == "value_currency" && text) {
      out.value_currency = m.value.text;
    } else if (k == "sales") {
      if (!money(m, out.sales_millionths)) return false;
      out.has_sales = true;
    } else if (k == "cost") {
      if (!money(m, out.cost_millionths)) return false;
      out.has_cost = true;
    } else if (k == "percent") {
      // Written as a number of percent ("10"); kept as a share in millionths of 1 (0.1).
      if (!money(m, out.percent_millionths)) return false;
      out.percent_millionths /= 100;
      out.has_percent = true;
    }  // other keys: later versions of the contract may add fields
  }
  if (!has_outcome || (out.user.empty() && out.outcome != Decision::Outcome::Rollout)) {
    error = "no outcome or user";
    return false;
  }
  out.json = std::move(json);
  return true;
}

}  // namespace detail
}  // namespace crm
