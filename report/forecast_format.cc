// forecast_format.cc - a Forecast as JSON, as CSV (long format: one number per line) and as a
// table for a terminal. Money is printed in currency units, exactly.
#include <crm/forecast.h>

#include <fmt/format.h>

#include <algorithm>
#include <functional>

#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"

namespace crm::report {
namespace {

std::string money(int64_t units) { return support::Decimal::from_units(units).to_string(); }
std::string q(const std::string& s) { return support::json_quote(s); }
std::string q_or_null(const std::string& s) { return s.empty() ? "null" : q(s); }

// Every count of a day (or of the totals), in order: the one list JSON, CSV and HTML read.
using Visit = std::function<void(const char* name, const std::string& json_value)>;
void count_fields(const ForecastCounts& c, bool totals, const Visit& f) {
  auto n = [&](const char* name, int64_t v) { f(name, std::to_string(v)); };
  n("grants", c.grants);
  n("deliveries", c.deliveries);
  n("reached", c.reached);
  if (!totals) n("new_reached", c.new_reached);
  f("budget_spent", money(c.budget_spent));
  n("control", c.control);
  n("held", c.held);
  n("rejected", c.rejected);
  n("rejected_budget", c.rejected_budget);
  n("rejected_stock", c.rejected_stock);
  n("rejected_pacing", c.rejected_pacing);
  n("redeemed", c.redeemed);
  f("subsidy", money(c.subsidy));
  if (totals) return;
  f("budget_spent_to_date", money(c.budget_spent_to_date));
  n("deliveries_to_date", c.deliveries_to_date);
  n("reached_to_date", c.reached_to_date);
  f("planned_budget_to_date", c.planned_budget_to_date < 0 ? "null" : money(c.planned_budget_to_date));
  f("planned_stock_to_date", c.planned_stock_to_date < 0 ? "null" : std::to_string(c.planned_stock_to_date));
}

std::string object(const std::function<void(const Visit&)>& fields) {
  std::string out = "{";
  fields([&](const char* name, const std::string& v) {
    if (out.size() > 1) out += ',';
    out += fmt::format("\"{}\":{}", name, v);
  });
  return out + "}";
}

std::string run_json(const ForecastRun& r) {
  std::string out = object([&](const Visit& f) {
    count_fields(r.totals, true, f);
    f("budget_runs_out", q_or_null(r.budget_runs_out));
    f("stock_runs_out", q_or_null(r.stock_runs_out));
  });
  out.pop_back();
  out += ",\"days\":[";
  for (size_t i = 0; i < r.days.size(); ++i) {
    out += i ? ",\n  " : "\n  ";
    out += object([&](const Visit& f) {
      f("day", q(r.days[i].day));
      count_fields(r.days[i], false, f);
    });
  }
  return out + "]}";
}

}  // namespace

std::string to_json(const Forecast& fc) {
  std::string out = fmt::format(
      "{{\"forecast\":true,\"shift_seconds\":{},\"events\":{},\"first_event\":{},\"last_event\":{},\n\"strategies\":[",
      fc.shift_micros / 1'000'000, fc.events, fc.events ? q(support::format_time(fc.first_event)) : "null",
      fc.events ? q(support::format_time(fc.last_event)) : "null");
  for (size_t i = 0; i < fc.strategies.size(); ++i) {
    const ForecastStrategy& s = fc.strategies[i];
    out += i ? ",\n" : "\n";
    out += fmt::format(
        "{{\"strategy\":{},\"budget\":{},\"currency\":{},\"stock\":{},\"paced\":{},\"window_from\":{},\"window_to\":{},"
        "\"zone\":{},\n \"declared\":{},\n \"without_pacing\":{}}}",
        q(s.name), s.has_budget ? money(s.budget) : "null", q_or_null(s.budget_currency),
        s.stock >= 0 ? std::to_string(s.stock) : "null", s.paced ? "true" : "false",
        s.has_window ? q(support::format_time(s.window_from)) : "null",
        s.has_window ? q(support::format_time(s.window_to)) : "null", q(s.zone), run_json(s.run),
        s.has_unpaced ? run_json(s.unpaced) : "null");
  }
  out += "],\n\"pools\":[";
  for (size_t i = 0; i < fc.pools.size(); ++i) {
    const ForecastPool& p = fc.pools[i];
    std::string members;
    for (size_t k = 0; k < p.strategies.size(); ++k) members += (k ? "," : "") + q(p.strategies[k]);
    out += i ? ",\n" : "\n";
    out += fmt::format("{{\"pool\":{},\"strategies\":[{}],\"budget\":{},\"currency\":{},\"stock\":{},\"zone\":{},"
                       "\n \"declared\":{},\n \"without_pacing\":{}}}",
                       q(p.name), members, p.has_budget ? money(p.budget) : "null", q_or_null(p.budget_currency),
                       p.stock >= 0 ? std::to_string(p.stock) : "null", q(p.zone), run_json(p.run),
                       p.has_unpaced ? run_json(p.unpaced) : "null");
  }
  out += "],\n\"notes\":[";
  for (size_t k = 0; k < fc.notes.size(); ++k) out += (k ? "," : "") + q(fc.notes[k]);
  return out + "]}\n";
}

std::string to_csv(const Forecast& fc) {
  std::string out = "replay,strategy,day,metric,value\n";
  auto cell = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string e = "\"";
    for (char c : s) e += c == '"' ? std::string("\"\"") : std::string(1, c);
    return e + "\"";
  };
  auto value = [](const std::string& json) {
    if (json == "null") return std::string();
    if (json.size() >= 2 && json.front() == '"') return json.substr(1, json.size() - 2);
    return json;
  };
  // Each run starts with its series' zone (the zone of its days), a text value like the run-out days.
  auto series = [&](const std::string& name, const std::string& zone, const ForecastRun& declared,
                    const ForecastRun* unpaced) {
    auto run = [&](const char* replay, const ForecastRun& r) {
      auto row = [&](const std::string& day) {
        return [&, day](const char* n, const std::string& v) {
          out += fmt::format("{},{},{},{},{}\n", replay, cell(name), day, n, value(v));
        };
      };
      row("")("zone", q(zone));
      count_fields(r.totals, true, row(""));
      row("")("budget_runs_out", q_or_null(r.budget_runs_out));
      row("")("stock_runs_out", q_or_null(r.stock_runs_out));
      for (const ForecastCounts& d : r.days) count_fields(d, false, row(d.day));
    };
    run("declared", declared);
    if (unpaced) run("without_pacing", *unpaced);
  };
  for (const ForecastStrategy& s : fc.strategies) series(s.name, s.zone, s.run, s.has_unpaced ? &s.unpaced : nullptr);
  for (const ForecastPool& p : fc.pools) series("pool:" + p.name, p.zone, p.run, p.has_unpaced ? &p.unpaced : nullptr);
  return out;
}

std::string to_table(const Forecast& fc) {
  std::string out;
  if (fc.events)
    out += fmt::format("forecast: {} events shifted by {} ({} .. {})\n\n", fc.events,
                       fc.shift_micros == 0 ? "nothing"
                                            : (fc.shift_micros < 0 ? "-" : "") +
                                                  support::format_duration(fc.shift_micros < 0 ? -fc.shift_micros : fc.shift_micros),
                       support::format_time(fc.first_event), support::format_time(fc.last_event));
  out += fmt::format("{:<24} {:<15} {:>8} {:>8} {:>10} {:>24} {:>15} {:>11} {:>11} {:>22}\n", "strategy", "replay", "reached",
                     "grants", "deliveries", "budget spent / budget", "stock used", "budget out", "stock out",
                     "refused budget/stock/pacing");
  auto line = [&](const ForecastStrategy& s, const char* replay, const ForecastRun& r) {
    const ForecastCounts& t = r.totals;
    std::string budget = s.has_budget ? fmt::format("{} / {} {}", money(t.budget_spent), money(s.budget), s.budget_currency)
                                      : t.budget_spent ? money(t.budget_spent) : "-";
    std::string stock = s.stock >= 0 ? fmt::format("{} / {}", t.deliveries, s.stock) : "-";
    out += fmt::format("{:<24} {:<15} {:>8} {:>8} {:>10} {:>24} {:>15} {:>11} {:>11} {:>22}\n", s.name, replay, t.reached,
                       t.grants, t.deliveries, budget, stock, r.budget_runs_out.empty() ? "-" : r.budget_runs_out,
                       r.stock_runs_out.empty() ? "-" : r.stock_runs_out,
                       fmt::format("{}/{}/{}", t.rejected_budget, t.rejected_stock, t.rejected_pacing));
  };
  for (const ForecastStrategy& s : fc.strategies) {
    line(s, s.paced ? "paced" : "declared", s.run);
    if (s.has_unpaced && s.paced) line(s, "without pacing", s.unpaced);
  }
  // Budget pools: the sums of their strategies' rows, against the pool's own limits.
  for (const ForecastPool& p : fc.pools) {
    ForecastStrategy as_row;
    as_row.name = "pool " + p.name;
    as_row.has_budget = p.has_budget;
    as_row.budget = p.budget;
    as_row.budget_currency = p.budget_currency;
    as_row.stock = p.stock;
    const bool any_paced = p.has_unpaced && std::any_of(fc.strategies.begin(), fc.strategies.end(), [&](const ForecastStrategy& s) {
      return s.paced && std::find(p.strategies.begin(), p.strategies.end(), s.name) != p.strategies.end();
    });
    line(as_row, any_paced ? "paced" : "declared", p.run);
    if (any_paced) line(as_row, "without pacing", p.unpaced);
  }
  // Whose calendar the days (run-out days above, per-day rows below) are.
  {
    std::string zones;
    for (const ForecastStrategy& s : fc.strategies) zones += fmt::format("{}{} {}", zones.empty() ? "" : ", ", s.name, s.zone);
    for (const ForecastPool& p : fc.pools) zones += fmt::format("{}pool {} {}", zones.empty() ? "" : ", ", p.name, p.zone);
    if (!zones.empty()) out += "days are local days of: " + zones + "\n";
  }
  // Burn per day of the strategies with a budget or a stock, on the days they did anything.
  for (const ForecastStrategy& s : fc.strategies) {
    if (!s.has_budget && s.stock < 0) continue;
    out += fmt::format("\n{}: per day ({}), cumulative to its end{}\n", s.name, s.zone,
                       s.paced && s.has_unpaced ? " (paced | without pacing)" : "");
    out += fmt::format("  {:<10} {:>8} {:>8} {:>14} {:>14} {:>12} {:>10}", "day", "reached", "grants", "budget to date",
                       "plan to date", "deliveries", "rejected");
    if (s.paced && s.has_unpaced) out += fmt::format(" | {:>8} {:>14} {:>12}", "grants", "budget to date", "deliveries");
    out += "\n";
    for (size_t i = 0; i < s.run.days.size(); ++i) {
      const ForecastCounts& d = s.run.days[i];
      const ForecastCounts* u = s.paced && s.has_unpaced ? &s.unpaced.days[i] : nullptr;
      if (!d.grants && !d.rejected && !d.control && !d.held && !(u && (u->grants || u->rejected))) continue;
      out += fmt::format("  {:<10} {:>8} {:>8} {:>14} {:>14} {:>12} {:>10}", d.day, d.reached, d.grants,
                         money(d.budget_spent_to_date),
                         d.planned_budget_to_date >= 0   ? fmt::format("{:.2f}", double(d.planned_budget_to_date) / 1e6)
                         : d.planned_stock_to_date >= 0 ? std::to_string(d.planned_stock_to_date) + " deliveries"
                                                         : "-",
                         d.deliveries_to_date, d.rejected);
      if (u) out += fmt::format(" | {:>8} {:>14} {:>12}", u->grants, money(u->budget_spent_to_date), u->deliveries_to_date);
      out += "\n";
    }
  }
  for (const auto& n : fc.notes) out += "note: " + n + "\n";
  return out;
}

}  // namespace crm::report
