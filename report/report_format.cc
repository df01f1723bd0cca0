// report_format.cc - a Report as JSON, as CSV (long format: one number per line) and as a
// table for a terminal. Money is printed in currency units (exact for sums, shortest round-trip
// decimal for means), rates as fractions.
#include <crm/report.h>

#include <fmt/format.h>

#include <cmath>
#include <functional>

#include "support/decimal.h"
#include "support/json_text.h"

namespace crm::report {
namespace {

using support::Decimal;

std::string num(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "null"; }
std::string money(int64_t units) { return Decimal::from_units(units).to_string(); }
std::string money(double units) { return std::isfinite(units) ? fmt::format("{}", units / 1e6) : "null"; }
std::string q(const std::string& s) { return support::json_quote(s); }
std::string q_or_null(const std::string& s) { return s.empty() ? "null" : q(s); }

// Every field of a row, in order: the one list JSON, CSV and the table are written from.
using Visit = std::function<void(const char* name, const std::string& json_value)>;

void indicator_fields(const Indicators& i, const Visit& f) {
  const bool history = i.new_customers >= 0;
  auto count = [&](const char* n, int64_t v) { f(n, std::to_string(v)); };
  auto opt_count = [&](const char* n, int64_t v) { f(n, history ? std::to_string(v) : "null"); };
  count("granted", i.granted);
  count("deliveries", i.deliveries);
  count("rejected", i.rejected);
  count("held", i.held);
  count("control", i.control);
  count("reached", i.reached);
  count("visited", i.visited);
  count("converted", i.converted);
  count("orders_after", i.orders_after);
  f("sales_after", money(i.sales_after));
  opt_count("orders_before", i.orders_before);
  f("sales_before", history ? money(i.sales_before) : "null");
  count("redeemable", i.redeemable);
  f("budget_spent", money(i.budget_spent));
  count("redeemed", i.redeemed);
  f("subsidy", money(i.subsidy));
  {
    std::string by = "{";
    for (const auto& x : i.subsidy_by_funder) by += (by.size() > 1 ? "," : "") + q(x.funder) + ":" + money(x.subsidy);
    f("subsidy_by_funder", by + "}");
  }
  f("message_cost", money(i.message_cost));
  f("cost", money(i.cost));
  f("redemption_sales", money(i.redemption_sales));
  opt_count("new_customers", i.new_customers);
  opt_count("new_converted", i.new_converted);
  opt_count("silent", i.silent);
  opt_count("recalled", i.recalled);
  f("redemption_rate", num(i.redemption_rate));
  f("reach_rate", num(i.reach_rate));
  f("order_conversion_rate", num(i.order_conversion_rate));
  f("new_customer_conversion_rate", num(i.new_customer_conversion_rate));
  f("recall_rate", num(i.recall_rate));
  f("aov_before", std::isfinite(i.aov_before) ? money(i.aov_before) : "null");
  f("aov_after", std::isfinite(i.aov_after) ? money(i.aov_after) : "null");
  f("cost_per_reached", std::isfinite(i.cost_per_reached) ? money(i.cost_per_reached) : "null");
  f("roi", num(i.roi));
}

void arm_fields(const Arm& a, const Visit& f) {
  f("users", std::to_string(a.users));
  f("visitors", std::to_string(a.visitors));
  f("converters", std::to_string(a.converters));
  f("orders", std::to_string(a.orders));
  f("spend", money(a.spend));
  f("visit_rate", num(a.visit_rate));
  f("conversion_rate", num(a.conversion_rate));
  f("spend_per_user", money(a.spend_per_user));
}

bool is_money(const Uplift& u) { return u.metric == "spend_per_user"; }

void uplift_fields(const Uplift& u, const Visit& f) {
  auto v = [&](double x) { return is_money(u) ? money(x) : num(x); };
  f("treatment", v(u.treatment));
  f("control", v(u.control));
  f("absolute", v(u.absolute));
  f("absolute_low", v(u.absolute_interval.low));
  f("absolute_high", v(u.absolute_interval.high));
  f("relative", num(u.relative));
  f("relative_low", num(u.relative_interval.low));
  f("relative_high", num(u.relative_interval.high));
  f("p_value", num(u.p_value));
}

void experiment_fields(const Experiment& e, const Visit& f) {
  f("crossovers", std::to_string(e.crossovers));
  f("rollout_users", std::to_string(e.rollout_users));
  f("srm_checked", e.srm_checked ? "true" : "false");
  f("configured_control_share", num(e.configured_control_share));
  f("srm_split_from", q_or_null(e.srm_split_from));
  f("srm_chi_square", num(e.srm_chi_square));
  f("srm_p_value", num(e.srm_p_value));
  f("srm_mismatch", e.srm_checked ? (e.srm_mismatch ? "true" : "false") : "null");
  f("incremental_sales", money(e.incremental_sales));
  f("cost", money(e.cost));
  f("incremental_roi", num(e.incremental_roi));
}

std::string object(const std::function<void(const Visit&)>& fields) {
  std::string out = "{";
  bool first = true;
  fields([&](const char* n, const std::string& v) {
    out += fmt::format("{}\"{}\":{}", first ? "" : ",", n, v);
    first = false;
  });
  return out + "}";
}

}  // namespace

std::string to_json(const Report& r) {
  const Options& o = r.options;
  std::string out = "{";
  out += fmt::format("\"state\":{},\"window_days\":{},\"silent_days\":{},\"confidence\":{},\"zone\":{},\"ledger_rows\":{},\"events\":{}",
                     q(o.state), num(double(o.window_micros) / 86'400'000'000.0),
                     num(double(o.silent_micros) / 86'400'000'000.0), num(o.confidence), q(o.zone), r.ledger_rows, r.events);
  out += ",\n\"indicators\":[";
  for (size_t k = 0; k < r.indicators.size(); ++k) {
    const Indicators& i = r.indicators[k];
    out += k ? ",\n" : "\n";
    out += fmt::format("{{\"strategy\":{},\"channel\":{},\"day\":{},", q(i.strategy), q_or_null(i.channel), q_or_null(i.day));
    out += object([&](const Visit& f) { indicator_fields(i, f); }).substr(1);
  }
  out += "],\n\"codes\":[";
  for (size_t k = 0; k < r.codes.size(); ++k) {
    const Indicators& i = r.codes[k];
    out += k ? ",\n" : "\n";
    out += fmt::format("{{\"strategy\":{},\"code\":{},", q(i.strategy), q(i.code));
    out += object([&](const Visit& f) { indicator_fields(i, f); }).substr(1);
  }
  out += "],\n\"experiments\":[";
  for (size_t k = 0; k < r.experiments.size(); ++k) {
    const Experiment& e = r.experiments[k];
    out += k ? ",\n" : "\n";
    out += fmt::format("{{\"strategy\":{},\"arms\":[", q(e.strategy));
    std::vector<const Arm*> arms = {&e.control, &e.treatment};
    for (const Arm& v : e.variants) arms.push_back(&v);  // A/B/n arms after the whole treatment
    for (size_t a = 0; a < arms.size(); ++a)
      out += (a ? "," : "") + fmt::format("{{\"arm\":{},", q(arms[a]->name)) +
             object([&](const Visit& f) { arm_fields(*arms[a], f); }).substr(1);
    out += "],\"uplifts\":[";
    for (size_t u = 0; u < e.uplifts.size(); ++u)
      out += (u ? "," : "") + fmt::format("{{\"metric\":{},\"method\":{},", q(e.uplifts[u].metric), q(e.uplifts[u].method)) +
             object([&](const Visit& f) { uplift_fields(e.uplifts[u], f); }).substr(1);
    out += "],";
    if (!e.variant_uplifts.empty()) {
      out += "\"arm_uplifts\":[";
      for (size_t u = 0; u < e.variant_uplifts.size(); ++u) {
        const Uplift& x = e.variant_uplifts[u];
        out += (u ? "," : "") + fmt::format("{{\"arm\":{},\"metric\":{},\"method\":{},", q(x.arm), q(x.metric), q(x.method)) +
               object([&](const Visit& f) { uplift_fields(x, f); }).substr(1);
      }
      out += "],";
    }
    out += object([&](const Visit& f) { experiment_fields(e, f); }).substr(1);
  }
  out += "],\n\"rejections\":[";
  for (size_t k = 0; k < r.rejections.size(); ++k) {
    const Rejection& x = r.rejections[k];
    out += fmt::format("{}{{\"strategy\":{},\"outcome\":{},\"reason\":{},\"rows\":{}}}", k ? "," : "", q(x.strategy),
                       q(x.outcome), q(x.reason), x.rows);
  }
  out += "],\n\"budgets\":[";
  for (size_t k = 0; k < r.budgets.size(); ++k) {
    const Budget& b = r.budgets[k];
    out += fmt::format("{}{{\"strategy\":{},\"budget\":{},\"paced\":{}}}", k ? "," : "", q(b.strategy), money(b.budget),
                       b.paced ? "true" : "false");
  }
  out += "],\n\"notes\":[";
  for (size_t k = 0; k < r.notes.size(); ++k) out += (k ? "," : "") + q(r.notes[k]);
  out += "]}\n";
  return out;
}

std::string to_csv(const Report& r) {
  std::string out = "table,strategy,channel,day,arm,metric,value\n";
  auto cell = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string e = "\"";
    for (char c : s) e += c == '"' ? std::string("\"\"") : std::string(1, c);
    return e + "\"";
  };
  auto value = [](const std::string& json) { return json == "null" ? std::string() : json; };
  for (const Indicators& i : r.indicators)
    indicator_fields(i, [&](const char* n, const std::string& v) {
      if (std::string_view(n) == "subsidy_by_funder") {  // one line per funder: subsidy_by_funder.NAME
        for (const auto& x : i.subsidy_by_funder)
          out += fmt::format("indicators,{},{},{},,{},{}\n", cell(i.strategy), cell(i.channel), i.day,
                             cell("subsidy_by_funder." + x.funder), money(x.subsidy));
        return;
      }
      out += fmt::format("indicators,{},{},{},,{},{}\n", cell(i.strategy), cell(i.channel), i.day, n, value(v));
    });
  // Per code: `code,STRATEGY,,,CODE,METRIC,VALUE` (the fifth column names the code, as it names
  // the arm on arm rows).
  for (const Indicators& i : r.codes)
    indicator_fields(i, [&](const char* n, const std::string& v) {
      if (std::string_view(n) == "subsidy_by_funder") {
        for (const auto& x : i.subsidy_by_funder)
          out += fmt::format("code,{},,,{},{},{}\n", cell(i.strategy), cell(i.code), cell("subsidy_by_funder." + x.funder),
                             money(x.subsidy));
        return;
      }
      out += fmt::format("code,{},,,{},{},{}\n", cell(i.strategy), cell(i.code), n, value(v));
    });
  for (const Experiment& e : r.experiments) {
    std::vector<const Arm*> arms = {&e.control, &e.treatment};
    for (const Arm& v : e.variants) arms.push_back(&v);
    for (const Arm* a : arms)
      arm_fields(*a, [&](const char* n, const std::string& v) {
        out += fmt::format("arm,{},,,{},{},{}\n", cell(e.strategy), cell(a->name), n, value(v));
      });
    for (const auto* list : {&e.uplifts, &e.variant_uplifts})
      for (const Uplift& u : *list)
        uplift_fields(u, [&](const char* n, const std::string& v) {
          out += fmt::format("uplift,{},,,{},{}.{},{}\n", cell(e.strategy), cell(u.arm.empty() ? e.strategy : u.arm), u.metric,
                             n, value(v));
        });
    experiment_fields(e, [&](const char* n, const std::string& v) {
      // The one text among the numbers: a CSV cell of its own, not its JSON (quoted) form.
      const std::string x = std::string_view(n) == "srm_split_from" ? cell(e.srm_split_from) : value(v);
      out += fmt::format("experiment,{},,,,{},{}\n", cell(e.strategy), n, x);
    });
  }
  for (const Rejection& x : r.rejections)
    out += fmt::format("{},{},,,,{},{}\n", x.outcome, cell(x.strategy), cell(x.reason), x.rows);
  return out;
}

std::string to_table(const Report& r) {
  std::string out;
  auto pct = [](double v) { return std::isfinite(v) ? fmt::format("{:.2f}%", v * 100) : std::string("-"); };
  auto cur = [](double units) { return std::isfinite(units) ? fmt::format("{:.2f}", units / 1e6) : std::string("-"); };
  auto rat = [](double v) { return std::isfinite(v) ? fmt::format("{:.3f}", v) : std::string("-"); };
  if (!r.indicators.empty()) {
    out += fmt::format("days are local days of {}\n", r.options.zone);
    out += fmt::format("{:<24} {:<10} {:<10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>8} {:>10} {:>8}\n", "strategy",
                       "channel", "day", "granted", "reached", "reach", "convert", "redeem", "recall", "sales after",
                       "cost", "cost/user", "roi");
    for (const Indicators& i : r.indicators)
      out += fmt::format("{:<24} {:<10} {:<10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>8} {:>10} {:>8}\n", i.strategy,
                         i.channel.empty() ? "*" : i.channel, i.day.empty() ? "*" : i.day, i.granted, i.reached,
                         pct(i.reach_rate), pct(i.order_conversion_rate), pct(i.redemption_rate), pct(i.recall_rate),
                         cur(double(i.sales_after)), cur(double(i.cost)), cur(i.cost_per_reached), rat(i.roi));
  }
  if (!r.codes.empty()) {
    out += fmt::format("\n{:<24} {:<21} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>8} {:>10} {:>8}\n", "strategy", "code",
                       "granted", "reached", "reach", "convert", "redeem", "recall", "sales after", "cost", "cost/user", "roi");
    for (const Indicators& i : r.codes)
      out += fmt::format("{:<24} {:<21} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>8} {:>10} {:>8}\n", i.strategy, i.code,
                         i.granted, i.reached, pct(i.reach_rate), pct(i.order_conversion_rate), pct(i.redemption_rate),
                         pct(i.recall_rate), cur(double(i.sales_after)), cur(double(i.cost)), cur(i.cost_per_reached),
                         rat(i.roi));
  }
  for (const Experiment& e : r.experiments) {
    out += fmt::format("\nexperiment {}: {} treated, {} control users", e.strategy, e.treatment.users, e.control.users);
    if (e.crossovers) out += fmt::format(", {} in both (left out)", e.crossovers);
    if (e.rollout_users) out += fmt::format(", {} reached by the roll-out (left out)", e.rollout_users);
    if (e.srm_checked)
      out += fmt::format("; sample ratio {} (configured control {} by the {}, chi-square {:.3f}, p = {:.4f})",
                         e.srm_mismatch ? "MISMATCH" : "ok", pct(e.configured_control_share), e.srm_split_from,
                         e.srm_chi_square, e.srm_p_value);
    out += "\n";
    out += fmt::format("  {:<16} {:>10} {:>10} {:>11} {:>22} {:>9} {:>22} {:>9}\n", "metric", "treatment", "control",
                       "uplift", fmt::format("{:g}% interval", r.options.confidence * 100), "relative", "interval", "p");
    for (const Uplift& u : e.uplifts) {
      const bool m = is_money(u);
      auto v = [&](double x) { return m ? cur(x) : pct(x); };
      out += fmt::format("  {:<16} {:>10} {:>10} {:>11} {:>22} {:>9} {:>22} {:>9}\n", u.metric, v(u.treatment),
                         v(u.control), v(u.absolute),
                         fmt::format("[{}, {}]", v(u.absolute_interval.low), v(u.absolute_interval.high)), pct(u.relative),
                         fmt::format("[{}, {}]", pct(u.relative_interval.low), pct(u.relative_interval.high)),
                         std::isfinite(u.p_value) ? fmt::format("{:.2g}", u.p_value) : "-");
    }
    // A/B/n: each arm against the control group, one row per arm and metric.
    if (!e.variants.empty()) {
      out += fmt::format("  {:<8} {:>7} {:<16} {:>10} {:>10} {:>11} {:>22} {:>9}\n", "arm", "users", "metric", "arm", "control",
                         "uplift", fmt::format("{:g}% interval", r.options.confidence * 100), "p");
      for (const Uplift& u : e.variant_uplifts) {
        const bool m = is_money(u);
        auto v = [&](double x) { return m ? cur(x) : pct(x); };
        int64_t users = 0;
        for (const Arm& a : e.variants)
          if (a.name == u.arm) users = a.users;
        out += fmt::format("  {:<8} {:>7} {:<16} {:>10} {:>10} {:>11} {:>22} {:>9}\n", u.arm, users, u.metric, v(u.treatment),
                           v(u.control), v(u.absolute),
                           fmt::format("[{}, {}]", v(u.absolute_interval.low), v(u.absolute_interval.high)),
                           std::isfinite(u.p_value) ? fmt::format("{:.2g}", u.p_value) : "-");
      }
    }
    out += fmt::format("  incremental sales {}, cost {}, incremental ROI {}\n", cur(e.incremental_sales), cur(double(e.cost)),
                       rat(e.incremental_roi));
  }
  for (const auto& n : r.notes) out += "note: " + n + "\n";
  return out;
}

}  // namespace crm::report
