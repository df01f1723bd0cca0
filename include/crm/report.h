// crm/report.h - measurement over a ledger and an event log: the indicators of the design
// article's section 5 and the experiments of strategies with a control group
// (docs/indicators.md defines every number, with an example).
//
//   crm::report::Options      what to read (a ledger, an event log) and the windows
//   crm::report::build()      one pass over the ledger, one over the events -> a Report
//   crm::report::to_json/to_csv/to_table   the outputs of `crm report --format json|csv|table`
//   crm::report::to_html   one self-contained page with charts (`--format html`; needs a build
//                          with the embedded charting library: html_available())
//
// Shapes and units: money is in millionths of the data's currency (139.12 USD is 139'120'000;
// amounts in different currencies are not converted, so keep one currency per report), times
// in microseconds since the Unix epoch (UTC), days as "YYYY-MM-DD" (UTC), rates and uplifts as
// fractions (0.1828, not 18.28 %). A value that is undefined for the data (a rate over no users,
// an ROI without cost) is NaN in the structs and null in JSON, empty in CSV, "-" in the table.
//
// Memory is bounded by the number of (strategy, user) pairs with decisions and of a user's
// deliveries, not by the number of ledger rows or events: both are read as streams.
// Errors: nothing throws; build() returns ok == false with `error` ("events:LINE: ..." for a
// malformed event line). Thread-safety: build() keeps no state between calls and may run on
// several threads at once (each with its own Options); the ledger is read without the writer's
// lock, so a report may run while `crm run` appends to the same ledger (it sees a snapshot).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

namespace crm {
class CompiledProgram;
}

namespace crm::report {

struct Options {
  std::string state;                // the ledger: "sqlite:PATH" (read only)
  std::istream* events = nullptr;   // the event log as JSON Lines (the runtime's contract); null: none
  std::string events_name = "events";  // how errors name the event log
  // Optional: the program that recorded the ledger. It gives each strategy's configured split
  // (for the sample-ratio check); without it the check is not made.
  const CompiledProgram* program = nullptr;
  int64_t window_micros = 14LL * 86'400'000'000;  // attribution window after a delivery
  int64_t silent_micros = 30LL * 86'400'000'000;  // silent: no order for this long before it
  std::string visit_type = "Visit", order_type = "Order", amount_field = "amount";
  // The event log is read as `crm run` with a ledger reads it: a line whose event id was met
  // within this window (`crm run --dedup-window`; INT64_MAX: forever) is a retry, counted once;
  // a line `crm run` refuses for its `id` (missing, not a string, empty) is not counted. Both
  // are said in a note.
  int64_t dedup_window_micros = 7LL * 86400 * 1'000'000;
  double confidence = 0.95;
  double srm_p_threshold = 0.001;   // a sample-ratio mismatch below this p-value (GrowthBook's default)
  // The zone whose calendar days the per-day rows count (`day`, and deliveries and orders by
  // day): an IANA name ("Asia/Shanghai", read from the system's time-zone database) or a fixed
  // offset ("+08:00"); "UTC" by default. An unknown zone is an error of build().
  std::string zone = "UTC";
};

// One row of indicators: a strategy as a whole (channel and day empty), or one channel or one
// day (a local day of Options::zone, UTC by default) of its deliveries, or (Report::codes) one code of its actions. Counts are users
// unless named otherwise.
struct Indicators {
  std::string strategy, channel, day;
  std::string code;               // Report::codes: the actions' code (`code "W10"`); else empty
  int64_t granted = 0;            // granted rows (actions delivered)
  int64_t deliveries = 0;         // (unit, user) pairs with at least one granted row
  int64_t rejected = 0, held = 0, control = 0;  // rows
  int64_t reached = 0;            // users with at least one granted row
  int64_t visited = 0;            // reached users with a visit or order in a window after a delivery
  int64_t converted = 0;          // reached users with an order in a window after a delivery
  int64_t orders_after = 0;       // orders in a window after a delivery (each once, latest delivery)
  int64_t sales_after = 0;        // money: their amounts
  int64_t orders_before = 0;      // reached users' orders in the window before their first delivery
  int64_t sales_before = 0;       // money
  int64_t redeemable = 0;         // granted coupons and red envelopes (rows with a face value)
  int64_t budget_spent = 0;       // money: their face value and the messages' cost, which the budget reserves at grant
  int64_t redeemed = 0;           // redemption rows
  int64_t subsidy = 0;            // money: face value of the redeemed grants
  // The subsidy split by who funds it (a resource's `funded: {merchant: 70%, platform: 30%}`,
  // read from Options::program), by funder name; a resource without funders, or every resource
  // when no program is given, counts under "undeclared". The parts add up to `subsidy`.
  struct FunderSubsidy {
    std::string funder;
    int64_t subsidy = 0;  // money
  };
  std::vector<FunderSubsidy> subsidy_by_funder;
  int64_t message_cost = 0;       // money: what the granted (and held) push, SMS and e-mail cost (`cost:`)
  int64_t cost = 0;               // money: subsidy + message_cost, the cost of delivery
  int64_t redemption_sales = 0;   // money: order amounts of the redemptions
  int64_t new_customers = 0;      // reached users with no order before their first delivery
  int64_t new_converted = 0;      // ... who ordered in a window after a delivery
  int64_t silent = 0;             // reached users who had ordered, but not in the silent period before their first delivery
  int64_t recalled = 0;           // ... who ordered in a window after a delivery
  // Derived (NaN when undefined): see docs/indicators.md.
  double redemption_rate = 0, reach_rate = 0, order_conversion_rate = 0, new_customer_conversion_rate = 0,
         recall_rate = 0, aov_before = 0, aov_after = 0, cost_per_reached = 0, roi = 0;
};

struct Interval {
  double low = 0, high = 0;
};

// One metric of the treated group against the control group.
struct Uplift {
  std::string arm;         // empty: the whole treated group; else the A/B/n arm (Experiment::variant_uplifts)
  std::string metric;      // "visit_rate", "conversion_rate", "spend_per_user"
  std::string method;      // "newcombe_wilson" (proportions) or "welch" (means)
  double treatment = 0, control = 0;
  double absolute = 0;     // treatment - control
  Interval absolute_interval;
  double relative = 0;     // treatment / control - 1
  Interval relative_interval;  // delta method
  double p_value = 0;
};

struct Arm {
  std::string name;        // the strategy's name, "control", or an A/B/n arm's name
  int64_t users = 0, visitors = 0, converters = 0, orders = 0;
  int64_t spend = 0;       // money: order amounts in the window
  double visit_rate = 0, conversion_rate = 0, spend_per_user = 0, spend_variance = 0;  // variance in money units squared
};

struct Experiment {
  std::string strategy;
  Arm treatment, control;
  std::vector<Uplift> uplifts;
  // A/B/n (`split: variants A 1%, ...`): the treated users by the arm the ledger records for
  // them, by name, and each arm's uplifts against the control group (`arm` set; NaN without one).
  std::vector<Arm> variants;
  std::vector<Uplift> variant_uplifts;
  int64_t crossovers = 0;  // users with both treated and control rows: in neither group
  // Users of the rest of the audience decided after an automatic roll-out (the ledger's
  // `rollout`): not randomized, so in no group of the experiment (its uplifts, sample-ratio
  // check and incremental ROI are the test's); their rows still count in the indicators.
  int64_t rollout_users = 0;
  // Sample-ratio mismatch: observed users against the configured split (NaN without a program).
  double configured_control_share = 0, srm_chi_square = 0, srm_p_value = 0;
  bool srm_checked = false, srm_mismatch = false;
  // Where the configured split came from: "program" (Options::program, when given), "ledger"
  // (the split the ledger recorded with the program that last ran the strategy), "" unchecked.
  std::string srm_split_from;
  // Incremental ROI: (spend per treated user - spend per control user) x treated users = the
  // incremental sales; cost = subsidy of the treated users' redemptions + cost of the messages
  // they were sent; roi = (incremental - cost) / cost.
  double incremental_sales = 0;
  int64_t cost = 0;
  double incremental_roi = 0;
};

// Rejected or held rows of a strategy by reason (the ledger's `reason`: budget, stock, ...).
struct Rejection {
  std::string strategy, outcome, reason;  // outcome: "rejected" or "held"
  int64_t rows = 0;
};

// A strategy's budget as the program declares it (only with Options::program).
struct Budget {
  std::string strategy;
  int64_t budget = 0;  // money
  bool paced = false;  // `pacing even`
};

struct Report {
  bool ok = false;
  std::string error;
  int64_t ledger_rows = 0, events = 0;
  Options options;                        // as used (events pointer cleared)
  std::vector<Indicators> indicators;     // per strategy (by name), then its channels, then its days
  // Per strategy and code of its rows (by strategy, then code): what a channel row counts, for
  // the rows of the actions with that code (rows without a code are in no code row).
  std::vector<Indicators> codes;
  std::vector<Experiment> experiments;    // strategies with control rows or A/B/n arms, by name
  std::vector<Rejection> rejections;      // by strategy, outcome, reason
  std::vector<Budget> budgets;            // strategies of the program with a budget, by name
  std::vector<std::string> notes;         // what could not be computed, and why
};

Report build(const Options& options);
// Whether `zone` names a zone Options::zone accepts (an IANA name found in the system's
// time-zone database, or a fixed offset such as "+08:00"); false with `error` (one lowercase
// line, e.g. "unknown time zone `Mars/Olympus`") otherwise, as build() would fail.
bool check_zone(const std::string& zone, std::string& error);

std::string to_json(const Report& report);
std::string to_csv(const Report& report);    // one table: a `table` column says indicators or experiment
std::string to_table(const Report& report);  // for a terminal
// An HTML page that opens offline: the report's JSON, Apache ECharts and the charts (budget burn
// against the budget, deliveries and conversions per day, uplift per arm with its interval, the
// reached -> visited -> converted funnel, rejection reasons). False with `error` when this build
// has no ECharts embedded (see html_available()).
bool to_html(const Report& report, std::string& html, std::string& error);
bool html_available();

}  // namespace crm::report
