// report_test.cc - issue 14: the experiment statistics against textbook values, and the
// indicators of `crm report` over a small ledger counted by hand (docs/indicators.md).
#include <gtest/gtest.h>

#include <tuple>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include <crm/report.h>
#include <crm/runtime.h>

#include <sqlite3.h>

#include "support/statistics.h"
#include "sqlite_helpers.h"

namespace {

using namespace crm::report;
using namespace crm::support;

double r4(double v) { return std::round(v * 10000) / 10000; }

// Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I, method 3.
TEST(ReportStatistics, WilsonIntervalsAreNewcombes) {
  struct Case { int64_t x, n; double low, high; } cases[] = {
      {81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605}, {0, 20, 0.0, 0.1611}, {1, 29, 0.0061, 0.1718},
      {29, 29, 0.8830, 1.0}};
  for (const auto& c : cases) {
    crm::support::Interval w = wilson(c.x, c.n, 0.95);
    EXPECT_EQ(r4(w.low), c.low) << c.x << "/" << c.n;
    EXPECT_EQ(r4(w.high), c.high) << c.x << "/" << c.n;
  }
  EXPECT_TRUE(std::isnan(wilson(0, 0, 0.95).low));
}

// Newcombe (1998), "Interval estimation for the difference between independent proportions",
// Table II, method 10 (the hybrid score interval), examples (a) to (h).
TEST(ReportStatistics, NewcombeDifferenceIntervalsAreTheHybridScoreMethod) {
  struct Case { int64_t x1, n1, x2, n2; double low, high; } cases[] = {
      {56, 70, 48, 80, 0.0524, 0.3339}, {9, 10, 3, 10, 0.1705, 0.8090},   {6, 7, 2, 7, 0.0582, 0.8062},
      {5, 56, 0, 29, -0.0381, 0.1926},  {0, 10, 0, 20, -0.1611, 0.2775}, {0, 10, 0, 10, -0.2775, 0.2775},
      {10, 10, 0, 20, 0.6791, 1.0},     {10, 10, 0, 10, 0.6075, 1.0}};
  for (const auto& c : cases) {
    ProportionDifference d = newcombe(c.x1, c.n1, c.x2, c.n2, 0.95);
    EXPECT_EQ(r4(d.interval.low), c.low) << c.x1 << "/" << c.n1 << " - " << c.x2 << "/" << c.n2;
    EXPECT_EQ(r4(d.interval.high), c.high) << c.x1 << "/" << c.n1 << " - " << c.x2 << "/" << c.n2;
  }
  // The pooled z test: 56/70 vs 48/80, pooled 104/150, gives z = 2.650 (chi-square 7.02), p = 0.0080.
  EXPECT_NEAR(newcombe(56, 70, 48, 80, 0.95).p_value, 0.00805, 0.00001);
}

// Welch's t test, the worked example of its Wikipedia article (two samples of 15): t = -2.46,
// 24.99 degrees of freedom, p = 0.021.
TEST(ReportStatistics, WelchTestIsTheTextbookExample) {
  std::vector<double> a = {27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4};
  std::vector<double> b = {27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4};
  auto moments = [](const std::vector<double>& x, double& mean, double& var) {
    mean = 0;
    for (double v : x) mean += v;
    mean /= double(x.size());
    var = 0;
    for (double v : x) var += (v - mean) * (v - mean);
    var /= double(x.size() - 1);
  };
  double ma, va, mb, vb;
  moments(a, ma, va);
  moments(b, mb, vb);
  MeanDifference d = welch(ma, va, 15, mb, vb, 15, 0.95);
  EXPECT_NEAR(d.t, -2.4554, 1e-4);
  EXPECT_NEAR(d.df, 24.9885, 1e-4);
  EXPECT_NEAR(d.p_value, 0.021378, 1e-6);
  // The interval is the difference -+ t(0.975, 24.99) = 2.0596 standard errors.
  const double se = std::sqrt(va / 15 + vb / 15);
  EXPECT_NEAR(d.interval.low, d.difference - 2.059586 * se, 1e-5);
  EXPECT_NEAR(d.interval.high, d.difference + 2.059586 * se, 1e-5);
  EXPECT_TRUE(std::isnan(welch(1, 0, 10, 1, 0, 10, 0.95).p_value));  // no variance: nothing to test
}

TEST(ReportStatistics, SampleRatioChiSquare) {
  // 50,000 against 49,000 on a 50/50 split: chi-square 10.101 with 1 df, p = 0.00148.
  ChiSquare c = chi_square_fit({50000, 49000}, {0.5, 0.5});
  EXPECT_NEAR(c.statistic, 10.10101, 1e-5);
  EXPECT_EQ(c.df, 1);
  EXPECT_NEAR(c.p_value, std::erfc(std::sqrt(c.statistic / 2)), 1e-12);
  // A 10% control split that is met.
  EXPECT_GT(chi_square_fit({9000, 1000}, {0.9, 0.1}).p_value, 0.99);
  // Three groups (an A/B test with a control): 2 df.
  ChiSquare three = chi_square_fit({100, 100, 130}, {1.0 / 3, 1.0 / 3, 1.0 / 3});
  EXPECT_EQ(three.df, 2);
  EXPECT_NEAR(three.p_value, std::exp(-three.statistic / 2), 1e-12);  // the chi-square(2) tail
}

TEST(ReportStatistics, RelativeUpliftUsesTheDeltaMethod) {
  // 0.2 against 0.1 with 10,000 users each: var = 0.16/(1e4 0.01) + 0.04 * 0.09/(1e4 * 1e-4).
  Relative r = relative_uplift(0.2, 0.16, 10000, 0.1, 0.09, 10000, 0.95);
  EXPECT_NEAR(r.uplift, 1.0, 1e-12);
  const double se = std::sqrt(0.16 / 1e4 / 0.01 + 0.04 * 0.09 / 1e4 / 1e-4);
  EXPECT_NEAR(r.interval.low, 1.0 - 1.95997 * se, 1e-4);
  EXPECT_TRUE(std::isnan(relative_uplift(0.2, 0.16, 100, 0, 0, 100, 0.95).uplift));  // no control rate
}

// ---- indicators over a real ledger -----------------------------------------------------------

// A coupon sent to four customers at one instant; what they did before and after, by hand:
//   a: ordered 50 days before (silent), after: an order of 80 with the coupon (redeemed) -> recalled
//   b: ordered 4 days before (active), after: a visit only
//   c: visited before, never ordered (new), after: an order 19 days later (outside 14 days)
//   d: visited before (new), nothing after
constexpr const char* kProgram = R"(
event Visit {}
event Order {
    amount: Money(CNY)
    coupon: String?
}
resource coupon c10 {
    discount: 10 CNY
    threshold: 50 CNY
    use: within 7 days after claim
}
strategy welcome for business "shop" {
    who: true
    when: at 2026-03-01T10:00:00Z
    what: grant c10 via App code "W10"
}
)";

const char* kEvents[] = {
    R"({"id":"1","type":"Order","user":"a","time":"2026-01-10T10:00:00Z","amount":100})",
    R"({"id":"2","type":"Order","user":"b","time":"2026-02-25T10:00:00Z","amount":60})",
    R"({"id":"3","type":"Visit","user":"c","time":"2026-02-27T10:00:00Z"})",
    R"({"id":"4","type":"Visit","user":"d","time":"2026-02-28T10:00:00Z"})",
    R"({"id":"5","type":"Order","user":"a","time":"2026-03-02T10:00:00Z","amount":80,"coupon":"W10"})",
    R"({"id":"6","type":"Visit","user":"b","time":"2026-03-03T10:00:00Z"})",
    R"({"id":"7","type":"Order","user":"c","time":"2026-03-20T10:00:00Z","amount":30})",
};

std::string record_ledger(const std::string& tag, std::string& events, const char* program = kProgram) {
  std::string src = ::testing::TempDir() + "crm_report_" + tag + ".crm";
  std::ofstream(src) << program;
  auto out = crm::compile_files({src});
  EXPECT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  std::string db = ::testing::TempDir() + "crm_report_" + tag + ".db";
  for (const char* ext : {"", "-wal", "-shm", ".lock"}) std::remove((db + ext).c_str());
  std::string err;
  {
    crm::Runtime rt(out.program);
    EXPECT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
    std::vector<std::string> decisions;
    for (const char* e : kEvents) {
      EXPECT_TRUE(rt.process_event(e, decisions, err)) << err;
      events += std::string(e) + "\n";
    }
    EXPECT_TRUE(rt.finish(decisions, err)) << err;
    EXPECT_TRUE(rt.commit(err)) << err;
  }
  return "sqlite:" + db;
}

TEST(Report, IndicatorsOfASmallCampaignAreCountedAsDefined) {
  std::string events;
  Options o;
  o.state = record_ledger("small", events);
  std::istringstream in(events);
  o.events = &in;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_FALSE(r.indicators.empty());
  const Indicators& i = r.indicators[0];  // the strategy as a whole comes first
  EXPECT_EQ(i.strategy, "welcome");
  EXPECT_EQ(i.channel, "");
  EXPECT_EQ(i.granted, 4);
  EXPECT_EQ(i.deliveries, 4);
  EXPECT_EQ(i.reached, 4);
  EXPECT_EQ(i.visited, 2);    // a (an order is a visit) and b
  EXPECT_EQ(i.converted, 1);  // a; c ordered after the 14-day window
  EXPECT_EQ(i.orders_after, 1);
  EXPECT_EQ(i.sales_after, 80'000'000);
  EXPECT_EQ(i.orders_before, 1);  // b's, 4 days before; a's was 50 days before
  EXPECT_EQ(i.sales_before, 60'000'000);
  EXPECT_EQ(i.redeemable, 4);
  EXPECT_EQ(i.redeemed, 1);
  EXPECT_EQ(i.subsidy, 10'000'000);
  EXPECT_EQ(i.redemption_sales, 80'000'000);
  EXPECT_EQ(i.new_customers, 2);  // c and d
  EXPECT_EQ(i.new_converted, 0);
  EXPECT_EQ(i.silent, 1);  // a
  EXPECT_EQ(i.recalled, 1);
  EXPECT_DOUBLE_EQ(i.redemption_rate, 0.25);
  EXPECT_DOUBLE_EQ(i.reach_rate, 0.5);
  EXPECT_DOUBLE_EQ(i.order_conversion_rate, 0.5);
  EXPECT_DOUBLE_EQ(i.recall_rate, 1.0);
  EXPECT_DOUBLE_EQ(i.new_customer_conversion_rate, 0.0);
  EXPECT_DOUBLE_EQ(i.aov_before, 60'000'000);
  EXPECT_DOUBLE_EQ(i.aov_after, 80'000'000);
  EXPECT_DOUBLE_EQ(i.cost_per_reached, 2'500'000);
  EXPECT_DOUBLE_EQ(i.roi, 7.0);  // (80 - 10) / 10
  // Per channel and per day: the same deliveries, without the per-user history; a redemption
  // counts on the day it happens.
  ASSERT_EQ(r.indicators.size(), 4u);
  EXPECT_EQ(r.indicators[1].channel, "App");
  EXPECT_EQ(r.indicators[1].converted, 1);
  EXPECT_EQ(r.indicators[1].reached, 4);
  EXPECT_EQ(r.indicators[1].new_customers, -1);
  EXPECT_EQ(r.indicators[2].day, "2026-03-01");
  EXPECT_EQ(r.indicators[2].granted, 4);
  EXPECT_EQ(r.indicators[2].reached, 4);
  EXPECT_EQ(r.indicators[2].converted, 1);
  EXPECT_EQ(r.indicators[2].redeemed, 0);
  EXPECT_EQ(r.indicators[3].day, "2026-03-02");
  EXPECT_EQ(r.indicators[3].granted, 0);
  EXPECT_EQ(r.indicators[3].redeemed, 1);
  EXPECT_EQ(r.indicators[3].reached, 0);
  EXPECT_TRUE(r.experiments.empty());  // no control group
  // A 30-day window takes c's order in; a 60-day silent period makes a active.
  std::istringstream again(events);
  o.events = &again;
  o.window_micros = 30LL * 86'400'000'000;
  o.silent_micros = 60LL * 86'400'000'000;
  Report wide = build(o);
  ASSERT_TRUE(wide.ok) << wide.error;
  EXPECT_EQ(wide.indicators[0].converted, 2);
  EXPECT_EQ(wide.indicators[0].new_converted, 1);
  EXPECT_EQ(wide.indicators[0].silent, 0);
  // The outputs name every indicator.
  const std::string csv = to_csv(r), json = to_json(r);
  EXPECT_NE(csv.find("indicators,welcome,,,,reach_rate,0.5\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("indicators,welcome,App,,,new_customers,\n"), std::string::npos) << csv;
  EXPECT_NE(json.find("\"subsidy\":10,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"recall_rate\":1,"), std::string::npos) << json;
}

// Per-day rows count the calendar days of Options::zone: the grants at 10:00 UTC on 1 March and
// the redemption a day later fall on 28 February and 1 March at UTC-11 (Pago Pago, by name and
// as a fixed offset), and on 2 and 3 March at UTC+14; the strategy's totals do not move.
TEST(Report, DaysAreTheLocalDaysOfTheGivenZone) {
  std::string events;
  Options o;
  o.state = record_ledger("zone", events);
  for (const auto& [zone, granted_day, redeemed_day] :
       {std::tuple<const char*, const char*, const char*>{"Pacific/Pago_Pago", "2026-02-28", "2026-03-01"},
        {"-11:00", "2026-02-28", "2026-03-01"},
        {"+14:00", "2026-03-02", "2026-03-03"}}) {
    SCOPED_TRACE(zone);
    std::istringstream in(events);
    o.events = &in;
    o.zone = zone;
    Report r = build(o);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.indicators.size(), 4u);
    EXPECT_EQ(r.indicators[0].granted, 4);
    EXPECT_EQ(r.indicators[0].converted, 1);
    EXPECT_EQ(r.indicators[2].day, granted_day);
    EXPECT_EQ(r.indicators[2].granted, 4);
    EXPECT_EQ(r.indicators[2].converted, 1);
    EXPECT_EQ(r.indicators[3].day, redeemed_day);
    EXPECT_EQ(r.indicators[3].redeemed, 1);
    EXPECT_NE(to_json(r).find(std::string("\"zone\":\"") + zone + "\""), std::string::npos);
    EXPECT_NE(to_table(r).find(std::string("days are local days of ") + zone), std::string::npos);
  }
  o.events = nullptr;
  o.zone = "Asia/Shangai";
  Report bad = build(o);
  EXPECT_FALSE(bad.ok);
  EXPECT_NE(bad.error.find("unknown time zone `Asia/Shangai`"), std::string::npos) << bad.error;
}

// The same campaign with an SMS sent with the coupon, at 0.10 CNY a message: the messages are
// not coupons (redeemable stays 4, the redemption rate 1/4), their cost is reserved from the
// budget with the face values, and the cost of delivery is subsidy + message cost.
TEST(Report, MessageCostsAreCostsOfDeliveryNotRedeemableGrants) {
  std::string program = kProgram;
  program.replace(program.find("what: grant c10 via App code \"W10\""), std::string("what: grant c10 via App code \"W10\"").size(),
                  "what: grant c10 via App code \"W10\", send hello via SMS");
  program += "resource sms hello {\n    text: \"Your coupon is waiting\"\n    cost: 0.1 CNY\n}\n";
  std::string events;
  Options o;
  o.state = record_ledger("messages", events, program.c_str());
  std::istringstream in(events);
  o.events = &in;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_FALSE(r.indicators.empty());
  const Indicators& i = r.indicators[0];
  EXPECT_EQ(i.strategy, "welcome");
  EXPECT_EQ(i.granted, 8);
  EXPECT_EQ(i.deliveries, 4);
  EXPECT_EQ(i.redeemable, 4);  // the coupons only
  EXPECT_DOUBLE_EQ(i.redemption_rate, 0.25);
  EXPECT_EQ(i.message_cost, 400'000);
  EXPECT_EQ(i.budget_spent, 40'400'000);
  EXPECT_EQ(i.subsidy, 10'000'000);
  EXPECT_EQ(i.cost, 10'400'000);
  EXPECT_DOUBLE_EQ(i.cost_per_reached, 2'600'000);
  EXPECT_DOUBLE_EQ(i.roi, (80.0 - 10.4) / 10.4);
  // The SMS channel's row: its messages' cost and no coupon.
  bool sms = false;
  for (const Indicators& c : r.indicators)
    if (c.channel == "SMS") {
      sms = true;
      EXPECT_EQ(c.redeemable, 0);
      EXPECT_EQ(c.message_cost, 400'000);
      EXPECT_EQ(c.cost, 400'000);
    }
  EXPECT_TRUE(sms);
  const std::string json = to_json(r);
  EXPECT_NE(json.find("\"message_cost\":0.4,\"cost\":10.4,"), std::string::npos) << json;
}

// Per code of the actions: the campaign's coupon (code W10, redeemed by a), a second coupon on
// the same channel (W5, never redeemed) and an SMS (S1, 0.10 CNY), counted by hand. Each code
// row counts its own rows and the users its deliveries reached; an order after the delivery
// counts once in each code of it, and once (not once per code) in the App channel's row.
TEST(Report, CodesGetTheIndicatorsOfChannels) {
  std::string program = kProgram;
  const std::string what = "what: grant c10 via App code \"W10\"";
  program.replace(program.find(what), what.size(),
                  "what: grant c10 via App code \"W10\", grant c5 via App code \"W5\", send hello via SMS code \"S1\"");
  program += "resource coupon c5 {\n    discount: 5 CNY\n    use: within 7 days after claim\n}\n"
             "resource sms hello {\n    text: \"Your coupons are waiting\"\n    cost: 0.1 CNY\n}\n";
  std::string events;
  Options o;
  o.state = record_ledger("codes", events, program.c_str());
  std::istringstream in(events);
  o.events = &in;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.codes.size(), 3u);
  std::map<std::string, const Indicators*> by;
  for (const Indicators& c : r.codes) {
    EXPECT_EQ(c.strategy, "welcome");
    EXPECT_TRUE(c.channel.empty() && c.day.empty());
    by[c.code] = &c;
  }
  EXPECT_EQ(r.codes[0].code, "S1");  // by code
  EXPECT_EQ(r.codes[1].code, "W10");
  EXPECT_EQ(r.codes[2].code, "W5");
  for (const char* code : {"S1", "W10", "W5"}) {
    const Indicators& c = *by.at(code);
    EXPECT_EQ(c.granted, 4) << code;
    EXPECT_EQ(c.deliveries, 4) << code;
    EXPECT_EQ(c.reached, 4) << code;
    EXPECT_EQ(c.visited, 2) << code;    // a and b, after the delivery at 10:00 on 1 March
    EXPECT_EQ(c.converted, 1) << code;  // a
    EXPECT_EQ(c.orders_after, 1) << code;
    EXPECT_EQ(c.sales_after, 80'000'000) << code;
    EXPECT_EQ(c.new_customers, -1) << code;  // the per-user history is the strategy's only
    EXPECT_DOUBLE_EQ(c.reach_rate, 0.5) << code;
  }
  const Indicators &w10 = *by.at("W10"), &w5 = *by.at("W5"), &s1 = *by.at("S1");
  EXPECT_EQ(w10.redeemable, 4);
  EXPECT_EQ(w10.redeemed, 1);
  EXPECT_EQ(w10.subsidy, 10'000'000);
  EXPECT_EQ(w10.redemption_sales, 80'000'000);
  EXPECT_EQ(w10.budget_spent, 40'000'000);
  EXPECT_EQ(w10.cost, 10'000'000);
  EXPECT_DOUBLE_EQ(w10.redemption_rate, 0.25);
  EXPECT_DOUBLE_EQ(w10.roi, 7.0);  // (80 - 10) / 10
  EXPECT_EQ(w5.redeemable, 4);
  EXPECT_EQ(w5.redeemed, 0);
  EXPECT_EQ(w5.budget_spent, 20'000'000);
  EXPECT_EQ(w5.cost, 0);
  EXPECT_TRUE(std::isnan(w5.roi));  // no cost
  EXPECT_EQ(s1.redeemable, 0);
  EXPECT_EQ(s1.message_cost, 400'000);
  EXPECT_EQ(s1.cost, 400'000);
  EXPECT_DOUBLE_EQ(s1.cost_per_reached, 100'000);
  EXPECT_DOUBLE_EQ(s1.roi, (80.0 - 0.4) / 0.4);
  // The App channel holds both coupons: its users and its order once.
  const Indicators* app = nullptr;
  for (const Indicators& i : r.indicators)
    if (i.channel == "App") app = &i;
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->granted, 8);
  EXPECT_EQ(app->deliveries, 4);
  EXPECT_EQ(app->reached, 4);
  EXPECT_EQ(app->converted, 1);
  EXPECT_EQ(app->orders_after, 1);
  EXPECT_EQ(app->sales_after, 80'000'000);
  EXPECT_EQ(r.indicators[0].orders_after, 1);
  EXPECT_EQ(r.indicators[0].granted, 12);
  // In every output.
  const std::string json = to_json(r), csv = to_csv(r), table = to_table(r);
  EXPECT_NE(json.find("\"codes\":[\n{\"strategy\":\"welcome\",\"code\":\"S1\",\"granted\":4,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"code\":\"W5\",\"granted\":4,\"deliveries\":4,"), std::string::npos) << json;
  EXPECT_NE(csv.find("code,welcome,,,W10,redeemed,1\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("code,welcome,,,W10,subsidy_by_funder.undeclared,10\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("code,welcome,,,W5,roi,\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("code,welcome,,,S1,message_cost,0.4\n"), std::string::npos) << csv;
  EXPECT_NE(table.find("\nstrategy                 code                   granted"), std::string::npos) << table;
  EXPECT_NE(table.find("\nwelcome                  W10                          4        4"), std::string::npos) << table;
}

// A delivery with neither a channel nor a code (`grant p10`: points, no `via`) is the route
// (all channels, all codes), whose key is UINT64_MAX: it was taken for the remembered route
// before any was looked up, so with no other route the report read past its routes and crashed,
// and before another strategy's channel and code it was counted in that channel's and code's rows.
TEST(Report, DeliveriesWithoutChannelOrCodeAreReported) {
  const char* points_only = R"(
event Visit {}
event Order { amount: Money(CNY) }
resource points p10 { amount: 10 }
strategy welcome for business "shop" {
    who: true
    when: at 2026-03-01T10:00:00Z
    what: grant p10
}
)";
  {
    std::string events;
    Options o;
    o.state = record_ledger("no_route", events, points_only);
    std::istringstream in(events);
    o.events = &in;
    Report r = build(o);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_TRUE(r.codes.empty());
    ASSERT_FALSE(r.indicators.empty());
    EXPECT_EQ(r.indicators[0].strategy, "welcome");
    EXPECT_TRUE(r.indicators[0].channel.empty() && r.indicators[0].day.empty());
    EXPECT_EQ(r.indicators[0].granted, 4);
    EXPECT_EQ(r.indicators[0].reached, 4);
    EXPECT_EQ(r.indicators[0].converted, 1);  // a, the day after
    for (const Indicators& i : r.indicators) EXPECT_TRUE(i.channel.empty()) << i.channel;
    EXPECT_FALSE(to_table(r).empty());
  }
  {
    // The strategy without a route first in the ledger, then one with a channel and a code.
    std::string program = std::string(points_only) + R"(
resource coupon c10 { discount: 10 CNY }
strategy coded for business "shop" {
    who: true
    when: at 2026-03-01T10:00:00Z
    what: grant c10 via App code "W10"
}
)";
    std::string events;
    Options o;
    o.state = record_ledger("no_route_then_route", events, program.c_str());
    std::istringstream in(events);
    o.events = &in;
    Report r = build(o);
    ASSERT_TRUE(r.ok) << r.error;
    ASSERT_EQ(r.codes.size(), 1u);
    EXPECT_EQ(r.codes[0].strategy, "coded");
    EXPECT_EQ(r.codes[0].reached, 4);
    for (const Indicators& i : r.indicators) {
      if (i.strategy == "welcome") {
        EXPECT_TRUE(i.channel.empty()) << "welcome has no channel, got " << i.channel;
      }
      if (i.strategy == "coded" && i.channel == "App") {
        EXPECT_EQ(i.reached, 4);
      }
    }
  }
}

// The coupon funded 70% by the merchant and 30% by the platform (000 section 5): a's redemption
// of 10 CNY is 7 and 3; without the program the report cannot know and says "undeclared".
TEST(Report, SubsidyIsSplitByItsFunders) {
  std::string program = kProgram;
  program.replace(program.find("    threshold: 50 CNY\n"), 0, "    funded: {merchant: 70%, platform: 30%}\n");
  std::string events;
  Options o;
  o.state = record_ledger("funders", events, program.c_str());
  auto compiled = crm::compile_modules({{"funders", program}});
  ASSERT_TRUE(compiled.program.valid()) << compiled.diagnostics.render_text();
  o.program = &compiled.program;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  const Indicators& i = r.indicators[0];
  EXPECT_EQ(i.subsidy, 10'000'000);
  ASSERT_EQ(i.subsidy_by_funder.size(), 2u);
  EXPECT_EQ(i.subsidy_by_funder[0].funder, "merchant");
  EXPECT_EQ(i.subsidy_by_funder[0].subsidy, 7'000'000);
  EXPECT_EQ(i.subsidy_by_funder[1].funder, "platform");
  EXPECT_EQ(i.subsidy_by_funder[1].subsidy, 3'000'000);
  // The day of the redemption carries the split too; the day of the grant has none.
  ASSERT_EQ(r.indicators.size(), 4u);
  EXPECT_TRUE(r.indicators[2].subsidy_by_funder.empty());
  EXPECT_EQ(r.indicators[3].subsidy_by_funder.size(), 2u);
  const std::string json = to_json(r), csv = to_csv(r);
  EXPECT_NE(json.find("\"subsidy_by_funder\":{\"merchant\":7,\"platform\":3}"), std::string::npos) << json;
  EXPECT_NE(csv.find("indicators,welcome,,,,subsidy_by_funder.platform,3\n"), std::string::npos) << csv;
  o.program = nullptr;
  Report plain = build(o);
  ASSERT_TRUE(plain.ok) << plain.error;
  ASSERT_EQ(plain.indicators[0].subsidy_by_funder.size(), 1u);
  EXPECT_EQ(plain.indicators[0].subsidy_by_funder[0].funder, "undeclared");
  EXPECT_EQ(plain.indicators[0].subsidy_by_funder[0].subsidy, 10'000'000);
}

// A daily delivery of two actions on two channels, three days running: each user is reached
// once per strategy, per channel and per day.
TEST(Report, ReachedUsersAreCountedOncePerChannelAndDay) {
  std::string src = ::testing::TempDir() + "crm_report_daily.crm";
  std::ofstream(src) << R"(
event Visit {}
resource coupon c1 { discount: 1 CNY }
resource push hello { body: "hi" }
strategy daily for business "shop" {
    who: exists(Visit)
    when: every 1 day at 10:00 between 2026-03-01T00:00:00Z and 2026-03-04T00:00:00Z
    what: grant c1 via App, send hello via Push
}
)";
  auto out = crm::compile_files({src});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  std::string db = ::testing::TempDir() + "crm_report_daily.db";
  for (const char* ext : {"", "-wal", "-shm", ".lock"}) std::remove((db + ext).c_str());
  std::string err, events;
  {
    crm::Runtime rt(out.program);
    ASSERT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
    std::vector<std::string> decisions;
    for (std::string e : {R"({"id":"1","type":"Visit","user":"a","time":"2026-03-01T08:00:00Z"})",
                          R"({"id":"2","type":"Visit","user":"b","time":"2026-03-01T09:00:00Z"})",
                          R"({"id":"3","type":"Visit","user":"a","time":"2026-03-03T12:00:00Z"})"}) {
      ASSERT_TRUE(rt.process_event(e, decisions, err)) << err;
      events += e + "\n";
    }
    ASSERT_TRUE(rt.finish(decisions, err)) << err;
  }
  Options o;
  o.state = "sqlite:" + db;
  std::istringstream in(events);
  o.events = &in;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  // The strategy, App, Push, then 1, 2 and 3 March.
  ASSERT_EQ(r.indicators.size(), 6u);
  EXPECT_EQ(r.indicators[0].granted, 12);
  EXPECT_EQ(r.indicators[0].deliveries, 6);
  EXPECT_EQ(r.indicators[0].reached, 2);
  EXPECT_EQ(r.indicators[0].visited, 1);  // a, on 3 March at 12:00, after that day's delivery at 10:00
  for (int k : {1, 2}) {
    EXPECT_EQ(r.indicators[k].reached, 2) << r.indicators[k].channel;
    EXPECT_EQ(r.indicators[k].deliveries, 6) << r.indicators[k].channel;
  }
  EXPECT_EQ(r.indicators[1].channel, "App");
  EXPECT_EQ(r.indicators[2].channel, "Push");
  for (int k : {3, 4, 5}) {
    EXPECT_EQ(r.indicators[k].reached, 2) << r.indicators[k].day;
    EXPECT_EQ(r.indicators[k].deliveries, 2) << r.indicators[k].day;
    EXPECT_EQ(r.indicators[k].visited, k == 5 ? 1 : 0) << r.indicators[k].day;
  }
}

// A granted row of the ledger's schema for user `u<u>`, in SQL.
std::string fmt_row(int u, const char* strategy, const char* channel, int64_t at) {
  return "INSERT INTO crm_ledger (unit, user, strategy, outcome, resource, channel, code, amount, at, json, kind) "
         "VALUES ('t" + std::to_string(at) + "', 'u" + std::to_string(u) + "', '" + strategy + "', 'granted', 'c10', '" +
         channel + "', 'W10', 10000000, " + std::to_string(at) + ", '{}', 1);";
}
// Thousands of users on two strategies, written into a ledger out of time order (a ledger
// appended by runs over logs of different periods): every user's deliveries are found again
// (the user table grows many times) and an order is attributed to the latest delivery before
// it by time, not by position in the ledger.
TEST(Report, ManyUsersAndDeliveriesOutOfLedgerOrder) {
  std::string events;
  Options o;
  o.state = record_ledger("many", events);
  const std::string path = o.state.substr(7);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const int kUsers = 3000;
  std::string sql = "BEGIN; DELETE FROM crm_ledger;";
  const int64_t day = 86'400'000'000LL, d1 = 1'772'359'200'000'000LL;  // 2026-03-01T10:00:00Z
  auto row = [&](int u, const char* strategy, const char* channel, int64_t at) {
    sql += fmt_row(u, strategy, channel, at);
  };
  for (int u = 0; u < kUsers; ++u) row(u, "s0", "App", d1 + 2 * day);  // 3 March first
  for (int u = 0; u < kUsers; ++u) row(u, "s0", "App", d1);
  for (int u = 0; u < kUsers; ++u) row(u, "s1", "Push", d1 + day);
  sql += "COMMIT;";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  std::string log;
  for (int u = 0; u < kUsers; u += 2)  // 3 March 12:00, two hours after s0's last delivery
    log += "{\"id\":\"o" + std::to_string(u) + "\",\"type\":\"Order\",\"user\":\"u" + std::to_string(u) +
           "\",\"time\":\"2026-03-03T12:00:00Z\",\"amount\":10}\n";
  std::istringstream in(log);
  o.events = &in;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  // s0, s0/App, s0 on 1 and 3 March, s1, s1/Push, s1 on 2 March.
  ASSERT_EQ(r.indicators.size(), 7u);
  const Indicators &s0 = r.indicators[0], &s0_app = r.indicators[1], &s0_d1 = r.indicators[2], &s0_d3 = r.indicators[3];
  EXPECT_EQ(s0.reached, kUsers);
  EXPECT_EQ(s0.deliveries, 2 * kUsers);
  EXPECT_EQ(s0.converted, kUsers / 2);
  EXPECT_EQ(s0.orders_after, kUsers / 2);
  EXPECT_EQ(s0_app.reached, kUsers);
  EXPECT_EQ(s0_app.converted, kUsers / 2);
  EXPECT_EQ(s0_d1.day, "2026-03-01");
  EXPECT_EQ(s0_d1.reached, kUsers);
  EXPECT_EQ(s0_d1.converted, 0);
  EXPECT_EQ(s0_d1.orders_after, 0);
  EXPECT_EQ(s0_d3.day, "2026-03-03");
  EXPECT_EQ(s0_d3.converted, kUsers / 2);
  EXPECT_EQ(s0_d3.orders_after, kUsers / 2);
  EXPECT_EQ(r.indicators[4].strategy, "s1");
  EXPECT_EQ(r.indicators[4].converted, kUsers / 2);
  EXPECT_EQ(r.indicators[5].channel, "Push");
  EXPECT_EQ(r.indicators[5].converted, kUsers / 2);
  EXPECT_EQ(r.indicators[6].reached, kUsers);
}

// More channels and codes than 16 (or 12) bits hold: 70,000 users, each sent one coupon on a
// channel and with a code of its own by s0, then all on the first channel by s1. Every channel
// and code keeps its own row and numbers (a delivery's channel and code were once candidates
// for 16-bit ids, and the rows of a strategy and a channel were keyed with 12 bits of channel,
// where s1's first channel and s0's 4,097th shared a row).
TEST(Report, MoreThan65535ChannelsAndCodesKeepTheirOwnRows) {
  std::string events;
  Options o;
  o.state = record_ledger("routes", events);
  const std::string path = o.state.substr(7);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  const int kUsers = 70'000;
  const int64_t d1 = 1'772'359'200'000'000LL;  // 2026-03-01T10:00:00Z
  const std::string sql =
      "BEGIN; DELETE FROM crm_ledger;"
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < " + std::to_string(kUsers) + ") "
      "INSERT INTO crm_ledger (unit, user, strategy, outcome, resource, channel, code, amount, at, json, kind) "
      "SELECT 'a' || i, 'u' || i, 's0', 'granted', 'c10', 'C' || i, 'K' || i, 10000000, " + std::to_string(d1) +
      ", '{}', 1 FROM n;"
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < " + std::to_string(kUsers) + ") "
      "INSERT INTO crm_ledger (unit, user, strategy, outcome, resource, channel, code, amount, at, json, kind) "
      "SELECT 'b' || i, 'u' || i, 's1', 'granted', 'c10', 'C0', 'S1', 10000000, " + std::to_string(d1) +
      ", '{}', 1 FROM n;"
      "COMMIT;";
  ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  // User i orders i CNY (i > 0) a day later when i is a multiple of 3: it converts on C<i>, K<i>.
  std::string log;
  for (int u = 3; u < kUsers; u += 3)
    log += "{\"id\":\"o" + std::to_string(u) + "\",\"type\":\"Order\",\"user\":\"u" + std::to_string(u) +
           "\",\"time\":\"2026-03-02T10:00:00Z\",\"amount\":" + std::to_string(u) + "}\n";
  std::istringstream in(log);
  o.events = &in;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.codes.size(), size_t(kUsers) + 1);
  std::map<std::pair<std::string, std::string>, const Indicators*> channel, code;
  for (const Indicators& i : r.indicators) {
    if (!i.channel.empty()) {
      ASSERT_TRUE(channel.emplace(std::make_pair(i.strategy, i.channel), &i).second) << i.channel;
    }
  }
  for (const Indicators& i : r.codes) ASSERT_TRUE(code.emplace(std::make_pair(i.strategy, i.code), &i).second) << i.code;
  EXPECT_EQ(channel.size(), size_t(kUsers) + 1);
  for (int u : {0, 3, 4095, 4096, 4097, 65'534, 65'535, 65'536, 65'537, 69'999}) {
    const bool ordered = u > 0 && u % 3 == 0;
    for (const Indicators* i : {channel.at({"s0", "C" + std::to_string(u)}), code.at({"s0", "K" + std::to_string(u)})}) {
      EXPECT_EQ(i->granted, 1) << u;
      EXPECT_EQ(i->reached, 1) << u;
      EXPECT_EQ(i->budget_spent, 10'000'000) << u;
      EXPECT_EQ(i->converted, ordered ? 1 : 0) << u;
      EXPECT_EQ(i->orders_after, ordered ? 1 : 0) << u;
      EXPECT_EQ(i->sales_after, ordered ? int64_t(u) * 1'000'000 : 0) << u;
    }
  }
  const int64_t orders = (kUsers - 1) / 3;
  int64_t sales = 0;
  for (int u = 3; u < kUsers; u += 3) sales += int64_t(u) * 1'000'000;
  for (const Indicators* i : {channel.at({"s1", "C0"}), code.at({"s1", "S1"})}) {
    EXPECT_EQ(i->granted, kUsers);
    EXPECT_EQ(i->reached, kUsers);
    EXPECT_EQ(i->converted, orders);
    EXPECT_EQ(i->sales_after, sales);
  }
}

TEST(Report, ErrorsNameTheirInput) {
  std::string events;
  Options o;
  o.state = record_ledger("errors", events);
  std::istringstream bad("{\"type\":\"Order\",\"user\":\"a\",\"time\":\"2026-03-02T10:00:00Z\"}\n");
  o.events = &bad;
  o.events_name = "e.jsonl";
  Report r = build(o);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "e.jsonl:1: an Order needs `amount`");
  o.events = nullptr;
  o.state = "sqlite:" + ::testing::TempDir() + "crm_report_missing/none.db";
  r = build(o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("cannot open state"), std::string::npos) << r.error;
  o.state = "memory";
  EXPECT_FALSE(build(o).ok);
}

// ---- the sample-ratio check from the ledger alone ---------------------------------------------

// 200 users visit; a scheduled nudge with a 50% control group decides each of them once.
constexpr const char* kSplitProgram = R"(
event Visit {}
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
strategy nudge for business "shop" {
    who: exists(Visit)
    when: at 2026-03-01T10:00:00Z
    what: grant c5 via App code "N5"
    split: control 50% salt "ab"
}
)";

std::string record_split_ledger(const std::string& tag) {
  auto out = crm::compile_modules({{"ab", kSplitProgram}});
  EXPECT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  std::string db = ::testing::TempDir() + "crm_report_split_" + tag + ".db";
  for (const char* ext : {"", "-wal", "-shm", ".lock"}) std::remove((db + ext).c_str());
  std::string err;
  crm::Runtime rt(out.program);
  EXPECT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
  std::vector<std::string> decisions;
  for (int i = 0; i < 200; ++i)
    EXPECT_TRUE(rt.process_event("{\"id\":\"v" + std::to_string(i) + "\",\"type\":\"Visit\",\"user\":\"u" +
                                     std::to_string(i) + "\",\"time\":\"2026-02-28T10:00:00Z\"}",
                                 decisions, err))
        << err;
  EXPECT_TRUE(rt.process_event(R"({"id":"end","type":"Visit","user":"u0","time":"2026-03-02T10:00:00Z"})", decisions, err));
  EXPECT_TRUE(rt.finish(decisions, err)) << err;
  EXPECT_TRUE(rt.commit(err)) << err;
  return db;
}

int note_with(const Report& r, const char* text) {
  int n = 0;
  for (const auto& note : r.notes) n += note.find(text) != std::string::npos;
  return n;
}

using crm::testing::exec_sql;

// A row with an outcome or reason crm never writes (a hand edit) would count for nothing in
// every figure; the report refuses the ledger and names the row, as the engine does at open.
TEST(Report, RowsCrmNeverWritesAreRefused) {
  std::string events;
  Options o;
  o.state = record_ledger("foreign", events);
  const std::string db = o.state.substr(7);
  ASSERT_TRUE(build(o).ok);
  exec_sql(db, "UPDATE crm_ledger SET outcome = 'Granted' WHERE seq = 2");
  Report r = build(o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("ledger row 2 has outcome `Granted`, which crm never writes"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(db), std::string::npos) << r.error;
  exec_sql(db, "UPDATE crm_ledger SET outcome = 'granted', reason = 'budget?' WHERE seq = 2");
  r = build(o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("ledger row 2 has reason `budget?`"), std::string::npos) << r.error;
  exec_sql(db, "UPDATE crm_ledger SET reason = NULL, kind = kind + 10 WHERE seq = 2");
  r = build(o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("ledger row 2 has kind `1"), std::string::npos) << r.error;
  exec_sql(db, "UPDATE crm_ledger SET kind = kind - 10 WHERE seq = 2");
  EXPECT_TRUE(build(o).ok);
}

// Without the program, the sample ratio is checked against the split the ledger recorded with
// the program that ran the strategy (crm_strategies.split, schema version 4).
TEST(Report, SampleRatioIsCheckedAgainstTheSplitTheLedgerRecorded) {
  const std::string db = record_split_ledger("recorded");
  Options o;
  o.state = "sqlite:" + db;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.experiments.size(), 1u);
  const Experiment& e = r.experiments[0];
  EXPECT_EQ(e.treatment.users + e.control.users, 200);
  EXPECT_TRUE(e.srm_checked);
  EXPECT_EQ(e.srm_split_from, "ledger");
  EXPECT_EQ(e.configured_control_share, 0.5);
  EXPECT_FALSE(e.srm_mismatch) << e.srm_p_value;
  EXPECT_NE(to_json(r).find("\"srm_split_from\":\"ledger\""), std::string::npos);
  EXPECT_EQ(note_with(r, "split"), 0) << ::testing::PrintToString(r.notes);

  // A later program that recorded 10% control: checked against the latest split (a mismatch
  // for these 50/50 groups), with a note that the split changed.
  exec_sql(db,
           "INSERT INTO crm_programs (hash) VALUES ('later');"
           "INSERT INTO crm_strategies (program, name, hash, budget_currency, resources, split)"
           " SELECT max(id), 'nudge', 'h', '', '', 'control:1000' FROM crm_programs;");
  r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.experiments[0].srm_checked);
  EXPECT_EQ(r.experiments[0].configured_control_share, 0.1);
  EXPECT_TRUE(r.experiments[0].srm_mismatch);
  EXPECT_EQ(note_with(r, "its split changed"), 1) << ::testing::PrintToString(r.notes);
}

// A ledger of schema version 3 recorded no split: the report says the program is needed; a run
// opening it migrates it (the column added, NULL) and records the split of the program it runs.
TEST(Report, LedgersBeforeRecordedSplitsAreMigratedAndSaySo) {
  const std::string db = record_split_ledger("v3");
  ASSERT_NO_FATAL_FAILURE(crm::testing::widen_ledger_rows(db));  // whole records, as before schema 9
  exec_sql(db,
           "ALTER TABLE crm_strategies DROP COLUMN split;"
           "ALTER TABLE crm_ledger DROP COLUMN pool;"  // nor the pool and arm columns of version 5
           "ALTER TABLE crm_ledger DROP COLUMN arm;"
           "ALTER TABLE crm_ledger DROP COLUMN rollout;"  // and the roll-out column of version 7
           "ALTER TABLE crm_units DROP COLUMN first_seq;"  // and the unit starts of version 8
           "ALTER TABLE crm_units DROP COLUMN at;"
           "UPDATE crm_meta SET value = '3' WHERE key = 'schema_version';");
  Options o;
  o.state = "sqlite:" + db;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.experiments.size(), 1u);
  EXPECT_FALSE(r.experiments[0].srm_checked);
  EXPECT_EQ(r.experiments[0].srm_split_from, "");
  EXPECT_EQ(note_with(r, "predates recorded splits"), 1) << ::testing::PrintToString(r.notes);

  // The same program continues the ledger: the migration adds the column; the program is
  // recorded again, now with its split.
  {
    auto out = crm::compile_modules({{"ab", kSplitProgram}});
    ASSERT_TRUE(out.program.valid());
    std::string err;
    crm::Runtime rt(out.program);
    ASSERT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
    std::vector<std::string> decisions;
    EXPECT_TRUE(rt.process_event(R"({"id":"later","type":"Visit","user":"u1","time":"2026-03-03T10:00:00Z"})", decisions, err))
        << err;
    EXPECT_TRUE(rt.commit(err)) << err;
  }
  r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.experiments[0].srm_checked);
  EXPECT_EQ(r.experiments[0].srm_split_from, "ledger");
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(h, "SELECT value FROM crm_meta WHERE key = 'schema_version'", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "9");  // and on to the current version
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(h, "SELECT count(*) FROM crm_strategies WHERE split IS NULL", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(h);
}

}  // namespace

// A/B/n: every user of arm A orders after the message, nobody else does; the report groups the
// treated users by the arm the ledger names and measures each arm against the control group.
TEST(Report, ArmsAreComparedAgainstTheControlGroup) {
  std::string src = ::testing::TempDir() + "crm_report_arms.crm";
  std::ofstream(src) << R"(
event Login {}
event Order { amount: Money(CNY) }
resource sms a { text: "A" }
resource sms b { text: "B" }
strategy test for business "shop" {
    who: true
    when: on Login
    what: send a via SMS for arm A, send b via SMS for arm B
    split: control 20%, variants A 40%, B 40%
}
)";
  auto out = crm::compile_files({src});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  std::string db = ::testing::TempDir() + "crm_report_arms.db";
  for (const char* ext : {"", "-wal", "-shm", ".lock"}) std::remove((db + ext).c_str());
  std::string events, err;
  std::map<std::string, int> users;  // by arm ("control" for the control group)
  {
    crm::Runtime rt(out.program);
    ASSERT_TRUE(rt.open_state("sqlite:" + db, err)) << err;
    for (int i = 0; i < 600; ++i) {
      std::string login = R"({"id":"l)" + std::to_string(i) + R"(","type":"Login","user":"u)" + std::to_string(i) +
                          R"(","time":"2026-03-01T10:00:00Z"})";
      std::vector<crm::Decision> ds;
      crm::Error error;
      ASSERT_TRUE(rt.process_event(login, ds, error)) << error.message;
      ASSERT_EQ(ds.size(), 1u);
      std::string arm = ds[0].outcome == crm::Decision::Outcome::Control ? "control" : ds[0].arm;
      ++users[arm];
      events += login + "\n";
      if (arm == "A")
        events += R"({"id":"o)" + std::to_string(i) + R"(","type":"Order","user":"u)" + std::to_string(i) +
                  R"(","time":"2026-03-02T10:00:00Z","amount":50})" + "\n";
    }
    ASSERT_TRUE(rt.commit(err)) << err;
  }
  ASSERT_EQ(users.size(), 3u);
  Options o;
  o.state = "sqlite:" + db;
  std::istringstream in(events);
  o.events = &in;
  Report r = build(o);
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.experiments.size(), 1u);
  const Experiment& e = r.experiments[0];
  EXPECT_EQ(e.control.users, users["control"]);
  EXPECT_EQ(e.treatment.users, users["A"] + users["B"]);
  ASSERT_EQ(e.variants.size(), 2u);
  EXPECT_EQ(e.variants[0].name, "A");
  EXPECT_EQ(e.variants[0].users, users["A"]);
  EXPECT_EQ(e.variants[0].converters, users["A"]);
  EXPECT_EQ(e.variants[1].name, "B");
  EXPECT_EQ(e.variants[1].converters, 0);
  ASSERT_EQ(e.variant_uplifts.size(), 6u);  // three metrics per arm
  EXPECT_EQ(e.variant_uplifts[1].arm, "A");
  EXPECT_EQ(e.variant_uplifts[1].metric, "conversion_rate");
  EXPECT_DOUBLE_EQ(e.variant_uplifts[1].absolute, 1.0);
  EXPECT_LT(e.variant_uplifts[1].p_value, 1e-6);
  EXPECT_DOUBLE_EQ(e.variant_uplifts[4].absolute, 0.0);  // B's conversion rate equals control's
  const std::string json = to_json(r), csv = to_csv(r), table = to_table(r);
  EXPECT_NE(json.find("\"arm_uplifts\":[{\"arm\":\"A\",\"metric\":\"visit_rate\""), std::string::npos) << json;
  EXPECT_NE(csv.find("arm,test,,,B,users," + std::to_string(users["B"]) + "\n"), std::string::npos) << csv;
  EXPECT_NE(table.find("  A        "), std::string::npos) << table;
}
