// crm/forecast.h - public API: what a program's strategies would do before launch, from a past
// event log replayed against them shifted in time (`crm forecast`, docs/indicators.md "Forecast").
//
//   crm::report::forecast()   replays the history in memory (no ledger is opened or written)
//   crm::report::to_json/to_csv/to_table/to_html   the forecast as text
//
// Per strategy, per budget pool and per day: reach, grants, deliveries, budget and stock burn, the rows
// refused by budget, stock and pacing; the day each budget and stock runs out; and, when a
// strategy paces, the same replay with every strategy's pacing off (the effect of pacing) and its
// even plan. A strategy's days are the local calendar days of its zone (its `zone:`, else the
// program's `zone`, else UTC: ForecastStrategy::zone); a pool's, of its strategies' zone when they
// share one, else of the program's. Units as in crm/report.h: money in millionths, times in
// microseconds (UTC instants).
// Errors: forecast() returns ok = false with `error` ("FILE:LINE: ..." for a bad input line);
// nothing throws. Thread-safety: forecasts with their own options may run in parallel.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include <crm/runtime.h>

namespace crm::report {

struct ForecastOptions {
  const CompiledProgram* program = nullptr;  // required
  std::istream* events = nullptr;            // required: the history, JSON Lines (docs/runtime.md)
  std::string events_name = "events";        // for error messages
  std::istream* profiles = nullptr;          // optional: JSON Lines, or CSV with a header when profiles_csv
  bool profiles_csv = false;
  std::string profiles_name = "profiles";
  // The shift added to every event's `time`: shift_micros, or, with shift_to, whole days that
  // move the first event's UTC day to shift_to_day (days since 1970-01-01), time of day kept.
  int64_t shift_micros = 0;
  bool shift_to = false;
  int32_t shift_to_day = 0;
  int64_t allowed_lateness_micros = 0;  // as `crm run --allowed-lateness`
  // As `crm run --max-time-jump` (same default; 0: no limit): an event further ahead of the
  // stream's clock (a typo such as 2062 for 2026) is an error naming its line.
  int64_t max_time_jump_micros = int64_t(366) * 86400 * 1000000;
  // As `crm run --dedup-window` with a ledger (INT64_MAX: forever): a line whose event id was
  // met within it is a retry, replayed once (the ledger answers a retry; docs/semantics.md).
  int64_t dedup_window_micros = 7LL * 86400 * 1'000'000;
  // Also replay with pacing off (when any strategy paces), for the effect of pacing.
  bool compare_pacing = true;
};

// One replay's counts for a strategy over one local day of its zone (or, in totals, the whole replay).
struct ForecastCounts {
  std::string day;                   // "2026-11-11", the local date in the series' zone; empty in totals
  int64_t grants = 0;                // granted rows (actions)
  int64_t deliveries = 0;            // (unit, user) pairs with a granted row: what stock counts
  int64_t reached = 0;               // users with a granted row (that day; in totals, overall)
  int64_t new_reached = 0;           // users reached for the first time that day
  int64_t budget_spent = 0;          // money: face value of the granted rows and cost of the granted or held messages, what the budget reserves
  int64_t control = 0;               // control rows (the split's hold-out)
  int64_t held = 0;                  // held rows (quiet hours)
  int64_t rejected = 0;              // all rejected rows
  int64_t rejected_budget = 0, rejected_stock = 0, rejected_pacing = 0;  // ... by those reasons
  int64_t redeemed = 0;              // redemption rows
  int64_t subsidy = 0;               // money: their amount
  // Cumulative to the end of the day (in totals: of the replay).
  int64_t budget_spent_to_date = 0, deliveries_to_date = 0, reached_to_date = 0;
  // The even plan by the end of the (local) day (paced strategies with a window: budget, stock x the
  // elapsed share of the `when:` window); -1 when there is none.
  int64_t planned_budget_to_date = -1, planned_stock_to_date = -1;
};

// One replay of a strategy.
struct ForecastRun {
  ForecastCounts totals;
  // Every day from the first to the last with a decision (of any strategy or pool, either replay,
  // each decision's day in the zone of the series it counts in): the same dates for every series.
  std::vector<ForecastCounts> days;
  // The (local) day the budget (stock) runs out: the first day a row is refused for it, or its
  // spent amount (deliveries) reaches the declared budget (stock); empty when it lasts.
  std::string budget_runs_out, stock_runs_out;
};

struct ForecastStrategy {
  std::string name;
  bool has_budget = false;
  int64_t budget = 0;        // money (millionths of budget_currency)
  std::string budget_currency;
  int64_t stock = -1;        // -1: unlimited
  bool paced = false;        // `pacing even`
  bool has_window = false;
  int64_t window_from = 0, window_to = 0;  // the `when:` window [from, to), microseconds
  std::string zone;                        // whose calendar its days are: "Asia/Shanghai", "+08:00", "UTC"
  ForecastRun run;                         // as declared
  bool has_unpaced = false;                // a replay with pacing off was made
  ForecastRun unpaced;                     // every strategy's pacing off
};

// One replay of a budget pool (`pool NAME { budget .. stock .. }`): the rows of the strategies
// that draw from it, summed (a pool's stock counts their deliveries, its budget what they
// reserve); rejected_budget and rejected_stock count the rows the pool refused (reasons
// `pool_budget`, `pool_stock`), rejected all their rejected rows; reached counts distinct users
// across the strategies. No even plan (planned_* are -1): a pool has no window of its own.
struct ForecastPool {
  std::string name;
  std::vector<std::string> strategies;  // that draw from it, in program order
  bool has_budget = false;
  int64_t budget = 0;  // money (millionths of budget_currency)
  std::string budget_currency;
  int64_t stock = -1;  // -1: unlimited
  std::string zone;    // whose calendar its days are (its strategies' zone if they share one, else the program's)
  ForecastRun run;
  bool has_unpaced = false;
  ForecastRun unpaced;  // every strategy's pacing off
};

struct Forecast {
  bool ok = false;
  std::string error;
  int64_t shift_micros = 0;           // the shift applied
  int64_t events = 0;                 // event lines replayed
  int64_t first_event = 0, last_event = 0;  // shifted times, microseconds
  std::vector<ForecastStrategy> strategies;  // in program order
  std::vector<ForecastPool> pools;           // in program order
  std::vector<std::string> notes;
};

Forecast forecast(const ForecastOptions& options);

std::string to_json(const Forecast& forecast);
// Long format: replay,strategy,day,metric,value; a pool's rows name it `pool:NAME` in the
// strategy column (a strategy's name is an identifier, so the two cannot collide).
std::string to_csv(const Forecast& forecast);
std::string to_table(const Forecast& forecast);  // for a terminal
// One HTML page that opens offline with the forecast's charts (as crm/report.h's to_html);
// false with `error` in a build without ECharts.
bool to_html(const Forecast& forecast, std::string& html, std::string& error);

}  // namespace crm::report
