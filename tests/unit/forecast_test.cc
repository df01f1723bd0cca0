// forecast_test.cc - issue 14 item 5: crm::report::forecast() through the public API, on a
// history counted by hand (docs/indicators.md, "Forecast").
#include <gtest/gtest.h>

#include <sstream>

#include <crm/forecast.h>
#include <crm/runtime.h>

namespace {

using namespace crm::report;

// Even pacing of a stock of 4 over the 4 days of June 1-5 2027 (tests/golden/run/pacing, a year
// later). `seen` is a Time field of the event: the forecast shifts it with the event's time, so
// the `where` written for 2027 holds for the shifted 2026 history.
constexpr const char* kProgram = R"(
event Visit { page: String, seen: Time }
resource coupon flash { discount: 3 CNY }
strategy flash_sale for business "mall" {
    who: true
    when: on Visit between 2027-06-01T00:00:00Z and 2027-06-05T00:00:00Z
    where: seen >= 2027-01-01T00:00:00Z
    what: grant flash via App
    how much: stock 4, budget 100 CNY, pacing even
}
)";

// Last year's visits: u1, u2 on June 1; u3, u4 on June 2; u5, u6, u7 on June 4.
std::string history() {
  const char* at[] = {"2026-06-01T01:00:00Z", "2026-06-01T02:00:00Z", "2026-06-02T00:00:00Z", "2026-06-02T00:00:01Z",
                      "2026-06-04T00:00:00Z", "2026-06-04T00:00:01Z", "2026-06-04T12:00:00Z"};
  std::string out;
  for (int i = 0; i < 7; ++i)
    out += "{\"id\":\"v" + std::to_string(i + 1) + "\",\"type\":\"Visit\",\"user\":\"u" + std::to_string(i + 1) +
           "\",\"time\":\"" + at[i] + "\",\"page\":\"home\",\"seen\":\"" + at[i] + "\"}\n";
  return out;
}

crm::CompiledProgram program() {
  auto out = crm::compile_modules({{"flash", kProgram}});
  EXPECT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  return out.program;
}

Forecast run(const crm::CompiledProgram& p, ForecastOptions o, const std::string& events) {
  std::istringstream in(events);
  o.program = &p;
  o.events = &in;
  return forecast(o);
}

TEST(Forecast, ShiftedHistoryWithAndWithoutPacingCountedByHand) {
  const crm::CompiledProgram p = program();
  ForecastOptions o;
  o.shift_micros = 365LL * 86'400'000'000LL;
  Forecast f = run(p, o, history());
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_EQ(f.events, 7);
  EXPECT_EQ(f.shift_micros, o.shift_micros);
  ASSERT_EQ(f.strategies.size(), 1u);
  const ForecastStrategy& s = f.strategies[0];
  EXPECT_TRUE(s.paced);
  EXPECT_EQ(s.stock, 4);
  EXPECT_EQ(s.budget, 100'000'000);
  // Paced: by the end of day d at most d of the 4 (plus one), so u2 and u4 wait in vain; u5 and
  // u6 take the last two on June 4, and u7 finds the stock spent.
  const ForecastRun& r = s.run;
  EXPECT_EQ(r.totals.grants, 4);
  EXPECT_EQ(r.totals.deliveries, 4);
  EXPECT_EQ(r.totals.reached, 4);
  EXPECT_EQ(r.totals.budget_spent, 12'000'000);
  EXPECT_EQ(r.totals.rejected_pacing, 2);
  EXPECT_EQ(r.totals.rejected_stock, 1);
  ASSERT_EQ(r.days.size(), 4u);  // June 1 to June 4
  EXPECT_EQ(r.days[0].day, "2027-06-01");
  EXPECT_EQ(r.days[0].grants, 1);
  EXPECT_EQ(r.days[0].rejected_pacing, 1);
  EXPECT_EQ(r.days[1].grants, 1);
  EXPECT_EQ(r.days[2].grants, 0);
  EXPECT_EQ(r.days[3].grants, 2);
  EXPECT_EQ(r.days[3].rejected_stock, 1);
  EXPECT_EQ(r.days[3].deliveries_to_date, 4);
  EXPECT_EQ(r.days[3].budget_spent_to_date, 12'000'000);
  // The even plan: a quarter of the stock and budget per day of the window.
  EXPECT_EQ(r.days[0].planned_stock_to_date, 1);
  EXPECT_EQ(r.days[1].planned_stock_to_date, 2);
  EXPECT_EQ(r.days[3].planned_stock_to_date, 4);
  EXPECT_EQ(r.days[0].planned_budget_to_date, 25'000'000);
  EXPECT_EQ(r.stock_runs_out, "2027-06-04");
  EXPECT_EQ(r.budget_runs_out, "");
  // Without pacing the first four visitors take the stock by June 2; the last three are refused.
  ASSERT_TRUE(s.has_unpaced);
  const ForecastRun& u = s.unpaced;
  EXPECT_EQ(u.totals.grants, 4);
  EXPECT_EQ(u.totals.rejected_pacing, 0);
  EXPECT_EQ(u.totals.rejected_stock, 3);
  EXPECT_EQ(u.days[0].grants, 2);
  EXPECT_EQ(u.days[1].grants, 2);
  EXPECT_EQ(u.stock_runs_out, "2027-06-02");
  EXPECT_NE(to_json(f).find("\"stock_runs_out\":\"2027-06-02\""), std::string::npos);
  EXPECT_NE(to_csv(f).find("without_pacing,flash_sale,,stock_runs_out,2027-06-02\n"), std::string::npos) << to_csv(f);
  EXPECT_NE(to_table(f).find("without pacing"), std::string::npos);
}

TEST(Forecast, ShiftToMovesTheFirstEventsDayAndNoShiftFindsNothing) {
  const crm::CompiledProgram p = program();
  ForecastOptions o;
  o.shift_to = true;
  o.shift_to_day = 20970;  // 2027-06-01: from 2026-06-01, 365 days
  Forecast f = run(p, o, history());
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_EQ(f.shift_micros, 365LL * 86'400'000'000LL);
  EXPECT_EQ(f.strategies[0].run.totals.grants, 4);
  // Not shifted, the 2026 history falls before the 2027 window: nothing, and a note says why.
  o = ForecastOptions{};
  o.compare_pacing = false;
  f = run(p, o, history());
  ASSERT_TRUE(f.ok) << f.error;
  EXPECT_EQ(f.strategies[0].run.totals.grants, 0);
  EXPECT_FALSE(f.strategies[0].has_unpaced);
  ASSERT_FALSE(f.notes.empty());
  EXPECT_NE(f.notes[0].find("outside the shifted history"), std::string::npos) << f.notes[0];
}

TEST(Forecast, ErrorsNameTheirLine) {
  const crm::CompiledProgram p = program();
  ForecastOptions o;
  o.events_name = "h.jsonl";
  Forecast f = run(p, o, history() + "{\"id\":\"x\",\"type\":\"Visit\",\"user\":\"u9\",\"time\":\"soon\"}\n");
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.error, "h.jsonl:8: `time` `soon` is not an ISO-8601 time");
  f = run(p, o, history() + "{\"id\":\"y\",\"type\":\"Nope\",\"user\":\"u9\",\"time\":\"2026-06-05T00:00:00Z\"}\n");
  EXPECT_FALSE(f.ok);
  EXPECT_EQ(f.error.rfind("h.jsonl:8: ", 0), 0u) << f.error;
  ForecastOptions none;
  EXPECT_FALSE(forecast(none).ok);
}

// Two strategies draw from one 10 CNY pool: a 3 CNY coupon on page "a" and a 0.50 CNY SMS on
// page "b". Counted by hand: day 1 u1 coupon, u2 SMS, u3 coupon (6.50); day 2 u4 coupon (9.50),
// u5 SMS (10.00), u6's coupon refused by the pool. The pool's rows are its strategies' summed,
// its refusals are `pool_budget` (not the strategy's own `budget`), and an SMS's cost is budget
// spent.
TEST(Forecast, BudgetPoolsAreForecastAcrossTheirStrategies) {
  constexpr const char* kPooled = R"(
event Visit { page: String }
resource coupon three { discount: 3 CNY }
resource sms hello {
    text: "Hello"
    cost: 0.5 CNY
}
pool shared { budget 10 CNY }
strategy coupons for business "mall" {
    who: true
    when: on Visit if page == "a"
    what: grant three via App
    how much: from pool shared
}
strategy texts for business "mall" {
    who: true
    when: on Visit if page == "b"
    what: send hello via SMS
    how much: from pool shared
}
)";
  auto out = crm::compile_modules({{"pooled", kPooled}});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  const char* visits[][3] = {{"u1", "a", "2026-05-01T01:00:00Z"}, {"u2", "b", "2026-05-01T02:00:00Z"},
                             {"u3", "a", "2026-05-01T03:00:00Z"}, {"u4", "a", "2026-05-02T01:00:00Z"},
                             {"u5", "b", "2026-05-02T02:00:00Z"}, {"u6", "a", "2026-05-02T03:00:00Z"}};
  std::string events;
  int n = 0;
  for (auto& v : visits)
    events += "{\"id\":\"e" + std::to_string(++n) + "\",\"type\":\"Visit\",\"user\":\"" + v[0] + "\",\"time\":\"" + v[2] +
              "\",\"page\":\"" + v[1] + "\"}\n";
  Forecast f = run(out.program, ForecastOptions{}, events);
  ASSERT_TRUE(f.ok) << f.error;
  ASSERT_EQ(f.pools.size(), 1u);
  const ForecastPool& p = f.pools[0];
  EXPECT_EQ(p.name, "shared");
  EXPECT_EQ(p.strategies, (std::vector<std::string>{"coupons", "texts"}));
  EXPECT_TRUE(p.has_budget);
  EXPECT_EQ(p.budget, 10'000'000);
  EXPECT_EQ(p.stock, -1);
  EXPECT_FALSE(p.has_unpaced);  // nothing paces
  EXPECT_EQ(p.run.totals.grants, 5);
  EXPECT_EQ(p.run.totals.deliveries, 5);
  EXPECT_EQ(p.run.totals.reached, 5);
  EXPECT_EQ(p.run.totals.budget_spent, 10'000'000);
  EXPECT_EQ(p.run.totals.rejected, 1);
  EXPECT_EQ(p.run.totals.rejected_budget, 1);
  ASSERT_EQ(p.run.days.size(), 2u);
  EXPECT_EQ(p.run.days[0].budget_spent, 6'500'000);
  EXPECT_EQ(p.run.days[1].budget_spent_to_date, 10'000'000);
  EXPECT_EQ(p.run.days[1].planned_budget_to_date, -1);
  EXPECT_EQ(p.run.budget_runs_out, "2026-05-02");
  EXPECT_EQ(p.run.stock_runs_out, "");
  // Each strategy: its own rows; the pool's refusal is not a refusal by the strategy's budget.
  ASSERT_EQ(f.strategies.size(), 2u);
  EXPECT_EQ(f.strategies[0].run.totals.budget_spent, 9'000'000);
  EXPECT_EQ(f.strategies[0].run.totals.rejected, 1);
  EXPECT_EQ(f.strategies[0].run.totals.rejected_budget, 0);
  EXPECT_EQ(f.strategies[1].run.totals.budget_spent, 1'000'000);  // two SMS at 0.50
  EXPECT_EQ(f.strategies[1].run.totals.grants, 2);
  // Every output names the pool.
  const std::string json = to_json(f), csv = to_csv(f), table = to_table(f);
  EXPECT_NE(json.find("\"pools\":[\n{\"pool\":\"shared\",\"strategies\":[\"coupons\",\"texts\"],\"budget\":10,"),
            std::string::npos)
      << json;
  EXPECT_NE(csv.find("declared,pool:shared,,budget_spent,10\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("declared,pool:shared,,budget_runs_out,2026-05-02\n"), std::string::npos) << csv;
  EXPECT_NE(table.find("pool shared"), std::string::npos) << table;
}

// Days are each strategy's local days: the program's default zone +08:00 for `east`, its own
// America/New_York for `west`, across the night New York moves its clocks forward (8 March
// 2026, 02:00 EST = 07:00Z). By hand, for each visit: UTC, +08:00, New York.
//   v1 03-07T15:00Z   03-07 23:00   03-07 10:00 EST
//   v2 03-07T17:00Z   03-08 01:00   03-07 12:00 EST
//   v3 03-08T04:30Z   03-08 12:30   03-07 23:30 EST
//   v4 03-08T07:30Z   03-08 15:30   03-08 03:30 EDT
TEST(Forecast, DaysAreTheLocalDaysOfEachStrategysZone) {
  auto out = crm::compile_modules({{"zones", R"(
zone "+08:00"
event Visit { page: String }
resource coupon c { discount: 1 CNY }
strategy east {
    who: true
    when: on Visit
    what: grant c via App
}
strategy west {
    who: true
    when: on Visit
    what: grant c via App
    zone: "America/New_York"
}
)"}});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  std::string events;
  const char* at[] = {"2026-03-07T15:00:00Z", "2026-03-07T17:00:00Z", "2026-03-08T04:30:00Z", "2026-03-08T07:30:00Z"};
  for (int i = 0; i < 4; ++i)
    events += "{\"id\":\"v" + std::to_string(i + 1) + "\",\"type\":\"Visit\",\"user\":\"u" + std::to_string(i + 1) +
              "\",\"time\":\"" + at[i] + "\",\"page\":\"home\"}\n";
  Forecast f = run(out.program, ForecastOptions{}, events);
  ASSERT_TRUE(f.ok) << f.error;
  ASSERT_EQ(f.strategies.size(), 2u);
  const ForecastStrategy &east = f.strategies[0], &west = f.strategies[1];
  EXPECT_EQ(east.zone, "+08:00");
  EXPECT_EQ(west.zone, "America/New_York");
  for (const ForecastStrategy* s : {&east, &west}) {
    ASSERT_EQ(s->run.days.size(), 2u) << s->name;
    EXPECT_EQ(s->run.days[0].day, "2026-03-07");
    EXPECT_EQ(s->run.days[1].day, "2026-03-08");
    EXPECT_EQ(s->run.totals.grants, 4);
  }
  EXPECT_EQ(east.run.days[0].grants, 1);
  EXPECT_EQ(east.run.days[1].grants, 3);
  EXPECT_EQ(east.run.days[1].reached, 3);
  EXPECT_EQ(west.run.days[0].grants, 3);
  EXPECT_EQ(west.run.days[0].reached_to_date, 3);
  EXPECT_EQ(west.run.days[1].grants, 1);
  EXPECT_EQ(west.run.days[1].reached_to_date, 4);
  const std::string json = to_json(f), csv = to_csv(f), table = to_table(f);
  EXPECT_NE(json.find("\"strategy\":\"west\","), std::string::npos);
  EXPECT_NE(json.find("\"zone\":\"America/New_York\",\n \"declared\":"), std::string::npos) << json;
  EXPECT_NE(csv.find("declared,east,,zone,+08:00\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("declared,west,2026-03-07,grants,3\n"), std::string::npos) << csv;
  EXPECT_NE(table.find("days are local days of: east +08:00, west America/New_York\n"), std::string::npos) << table;
}

}  // namespace
