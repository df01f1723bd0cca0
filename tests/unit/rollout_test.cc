// rollout_test.cc - the automatic roll-out of an A/B/n test's winner (issue 14 item 3;
// docs/semantics.md, "Automatic roll-out"), through the public API as a host uses it: the
// choice against an interval computed here independently, the same choice after a restart
// before the decision point (counters rebuilt from the ledger and the replayed input), the
// recorded choice read back after it (never recomputed), and version 6 ledgers migrated; by roi,
// the winner and every number against a computation here from the generated input.
#include <crm/runtime.h>
#include <gtest/gtest.h>
#include "sqlite_helpers.h"
#include <sqlite3.h>

#include <boost/math/distributions/students_t.hpp>

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

crm::CompiledProgram compile(const std::string& text) {
  auto out = crm::compile_sources({{"rollout.crm", text}});
  EXPECT_TRUE(out.program.valid()) << out.diagnostics.render_text() << out.error.message;
  return out.program;
}

std::string fresh_path(const char* tag) {
  std::string path = ::testing::TempDir() + "crm_rollout_" + tag + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

// The test runs on every Login in May; the choice is made on May 4, 00:00 (start + 3 days).
const char* kProgram = R"(
event Login { channel: Channel }
event Order { amount: Money(CNY) }
resource sms text_a { text: "A" }
resource sms text_b { text: "B" }
resource sms text_c { text: "C" }
strategy ab_test for business "app" {
    who: true
    when: on Login between 2026-05-01T00:00:00Z and 2026-06-01T00:00:00Z
    what: send text_a via SMS for arm A, send text_b via SMS for arm B, send text_c via SMS for arm C
    how much: per user 1 per campaign
    split: control 20%, variants A 20%, B 20%, C 20% salt "rollout-unit"
    rollout: best of (A, B, C) by conversion after 3 days
}
)";
constexpr int64_t kDecision = 1777852800000000;  // 2026-05-04T00:00:00Z

std::string login(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Login","user":")" + user + R"(","time":")" + time + R"(","channel":"App"})";
}
std::string order(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":"50"})";
}
std::string user(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "u%03d", i);
  return b;
}
std::string clock(const char* day, int i) {
  char b[40];
  std::snprintf(b, sizeof b, "%sT%02d:%02d:%02dZ", day, 8 + i / 3600, i / 60 % 60, i % 60);
  return b;
}

// The first stream: 300 users log in on May 1; the groups come from their decisions.
std::vector<std::string> first_logins() {
  std::vector<std::string> out;
  for (int i = 0; i < 300; ++i) out.push_back(login("l" + std::to_string(i), user(i), clock("2026-05-01", i)));
  return out;
}

struct Groups {
  std::map<std::string, std::vector<std::string>> of;  // "control", "A", ... -> users
  std::vector<std::string> rest;
};
Groups groups_of(const std::vector<crm::Decision>& ds) {
  Groups g;
  std::set<std::string> decided;
  for (const auto& d : ds) {
    if (d.outcome == crm::Decision::Outcome::Control) g.of["control"].push_back(d.user);
    else if (!d.arm.empty()) g.of[d.arm].push_back(d.user);
    decided.insert(d.user);
  }
  for (int i = 0; i < 300; ++i)
    if (!decided.count(user(i))) g.rest.push_back(user(i));
  return g;
}

// Orders on May 2: B converts clearly better than control, A a little, C never; one more order
// of an A user after the decision point does not count.
std::vector<std::string> orders(const Groups& g) {
  std::vector<std::string> out;
  int n = 0;
  auto buy = [&](const std::string& group, size_t count) {
    for (size_t k = 0; k < count && k < g.of.at(group).size(); ++k)
      out.push_back(order("o" + std::to_string(n), g.of.at(group)[k], clock("2026-05-02", n))), ++n;
  };
  buy("B", 30);
  buy("A", 8);
  buy("control", 4);
  return out;
}

// Wilson's score interval and Newcombe's method 10, written here from the papers' formulas
// (not the engine's code), z for 95%.
struct Iv {
  double low, high;
};
Iv wilson(double x, double n) {
  const double z = 1.959963984540054, p = x / n;
  const double centre = p + z * z / (2 * n), half = z * std::sqrt(p * (1 - p) / n + z * z / (4 * n * n));
  Iv r{(centre - half) / (1 + z * z / n), (centre + half) / (1 + z * z / n)};
  if (x == 0) r.low = 0;
  if (x == n) r.high = 1;
  return r;
}
Iv newcombe(double x1, double n1, double x2, double n2) {
  const double p1 = x1 / n1, p2 = x2 / n2;
  const Iv a = wilson(x1, n1), b = wilson(x2, n2);
  return {p1 - p2 - std::sqrt((p1 - a.low) * (p1 - a.low) + (b.high - p2) * (b.high - p2)),
          p1 - p2 + std::sqrt((a.high - p1) * (a.high - p1) + (p2 - b.low) * (p2 - b.low))};
}

const crm::Decision* choice_in(const std::vector<crm::Decision>& ds) {
  for (const auto& d : ds)
    if (d.outcome == crm::Decision::Outcome::Rollout) return &d;
  return nullptr;
}

bool feed(crm::Runtime& rt, const std::vector<std::string>& lines, std::vector<crm::Decision>& out) {
  for (const auto& l : lines) {
    crm::Error e;
    if (!rt.process_event(l, out, e)) {
      ADD_FAILURE() << e.message << " at " << l;
      return false;
    }
  }
  return true;
}

TEST(Rollout, TheChoiceIsTheReportsInterval) {
  auto program = compile(kProgram);
  crm::Runtime rt(program);
  std::vector<crm::Decision> first;
  ASSERT_TRUE(feed(rt, first_logins(), first));
  Groups g = groups_of(first);
  ASSERT_GE(g.of["B"].size(), 30u);
  ASSERT_GE(g.of["A"].size(), 8u);
  ASSERT_GE(g.of["control"].size(), 4u);
  std::vector<std::string> buys = orders(g);
  buys.push_back(order("late", g.of["A"][20], "2026-05-04T09:00:00Z"));  // after the decision point
  buys.push_back(login("l-rest", g.rest[0], "2026-05-05T09:00:00Z"));    // the rest, after it
  std::vector<crm::Decision> later;
  ASSERT_TRUE(feed(rt, buys, later));
  const crm::Decision* c = choice_in(later);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->at_micros, kDecision);
  EXPECT_EQ(c->strategy, "ab_test");
  EXPECT_EQ(c->rollout_metric, "conversion");
  ASSERT_EQ(c->rollout_groups.size(), 4u);
  std::map<std::string, double> converters = {{"control", 4}, {"A", 8}, {"B", 30}, {"C", 0}};
  const double nc = double(g.of["control"].size());
  for (const auto& grp : c->rollout_groups) {
    const double n = double(g.of[grp.group].size());
    EXPECT_EQ(grp.users, int64_t(n)) << grp.group;
    EXPECT_EQ(grp.converters, int64_t(converters[grp.group])) << grp.group;
    EXPECT_NEAR(grp.value, converters[grp.group] / n, 1e-6) << grp.group;
    if (grp.group == "control") continue;
    Iv iv = newcombe(converters[grp.group], n, 4, nc);
    EXPECT_NEAR(grp.uplift, converters[grp.group] / n - 4 / nc, 1e-6) << grp.group;
    EXPECT_NEAR(grp.low, iv.low, 1e-6) << grp.group;
    EXPECT_NEAR(grp.high, iv.high, 1e-6) << grp.group;
    EXPECT_EQ(grp.excludes_zero, iv.low > 0) << grp.group;
  }
  // B's interval lies above zero and B has the best rate: B wins, and the rest get B's text.
  EXPECT_EQ(c->arm, "B");
  EXPECT_TRUE(c->reason.empty());
  bool rest_got_b = false;
  for (const auto& d : later)
    if (d.user == g.rest[0]) rest_got_b = d.outcome == crm::Decision::Outcome::Granted && d.resource == "text_b" &&
                                          d.rollout == "B" && d.arm.empty();
  EXPECT_TRUE(rest_got_b);
}

// No order: no interval lies above zero; the record says so, and the rest stay undecided.
TEST(Rollout, WithoutAWinnerTheRestGetNothing) {
  auto program = compile(kProgram);
  crm::Runtime rt(program);
  std::vector<crm::Decision> ds;
  ASSERT_TRUE(feed(rt, first_logins(), ds));
  Groups g = groups_of(ds);
  std::vector<crm::Decision> later;
  ASSERT_TRUE(feed(rt, {login("l-rest", g.rest[0], "2026-05-05T09:00:00Z")}, later));
  const crm::Decision* c = choice_in(later);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->arm.empty());
  EXPECT_EQ(c->reason, "no_winner");
  for (const auto& d : later) EXPECT_NE(d.user, g.rest[0]) << d.json;
}

// The whole stream once, without a restart: the reference the restarts must repeat.
struct Outcome {
  std::string choice;                // the rollout record's JSON
  std::vector<std::string> rest;     // the JSON of the rest's decisions after the choice
};
std::vector<std::string> stream(const Groups& g) {
  std::vector<std::string> all = first_logins();
  for (auto& o : orders(g)) all.push_back(o);
  for (int k = 0; k < 3; ++k) all.push_back(login("l-rest" + std::to_string(k), g.rest[size_t(k)], clock("2026-05-05", k)));
  return all;
}
Outcome collect(const std::vector<crm::Decision>& ds) {
  Outcome r;
  for (const auto& d : ds) {
    if (d.outcome == crm::Decision::Outcome::Rollout) r.choice = d.json;
    else if (!d.rollout.empty()) r.rest.push_back(d.json);
  }
  return r;
}

TEST(Rollout, RestartsChooseTheSameArm) {
  auto program = compile(kProgram);
  Groups g;
  {
    crm::Runtime probe(program);
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(probe, first_logins(), ds));
    g = groups_of(ds);
  }
  const std::vector<std::string> all = stream(g);
  Outcome reference;
  {
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + fresh_path("reference"), err)) << err;
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(rt, all, ds));
    reference = collect(ds);
  }
  ASSERT_NE(reference.choice.find("\"arm\":\"B\""), std::string::npos) << reference.choice;
  ASSERT_EQ(reference.rest.size(), 3u);
  // Restart at every event before the decision point and at the first ones after it: the
  // killed run's ledger holds what was committed; the restart replays the whole input (the
  // restart contract) and must report the same choice and decide the rest the same way.
  const size_t orders_end = all.size() - 3;
  for (size_t cut : {size_t(0), size_t(150), size_t(300), orders_end - 1, orders_end, orders_end + 1, all.size()}) {
    std::string path = fresh_path("cut");
    {
      crm::Runtime rt(program);
      std::string err;
      ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
      std::vector<crm::Decision> ds;
      ASSERT_TRUE(feed(rt, std::vector<std::string>(all.begin(), all.begin() + long(cut)), ds));
    }  // killed: everything returned was committed (Commit::OnReturn)
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(rt, all, ds));
    Outcome again = collect(ds);
    EXPECT_EQ(again.choice, reference.choice) << "restart after " << cut << " events";
    EXPECT_EQ(again.rest, reference.rest) << "restart after " << cut << " events";
  }
}

// After the decision point the choice is read back from the ledger, whatever the replayed input
// says: replayed without its orders (which would now give no winner), the recorded B stands, and
// a user of the rest seen for the first time afterwards still gets B.
TEST(Rollout, TheRecordedChoiceIsNeverRecomputed) {
  auto program = compile(kProgram);
  Groups g;
  {
    crm::Runtime probe(program);
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(probe, first_logins(), ds));
    g = groups_of(ds);
  }
  std::string path = fresh_path("recorded");
  std::string recorded;
  {
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(rt, first_logins(), ds));
    ASSERT_TRUE(feed(rt, orders(g), ds));
    crm::Error e;
    ASSERT_TRUE(rt.advance_time(kDecision + 1, ds, e)) << e.message;
    recorded = collect(ds).choice;
  }
  ASSERT_NE(recorded.find("\"arm\":\"B\""), std::string::npos) << recorded;
  crm::Runtime rt(program);
  std::string err;
  ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
  std::vector<crm::Decision> ds;
  ASSERT_TRUE(feed(rt, first_logins(), ds));  // no orders this time
  ASSERT_TRUE(feed(rt, {login("l-new", g.rest[1], "2026-05-06T09:00:00Z")}, ds));
  EXPECT_EQ(collect(ds).choice, recorded);
  bool got_b = false;
  for (const auto& d : ds)
    if (d.user == g.rest[1]) got_b = d.rollout == "B" && d.resource == "text_b";
  EXPECT_TRUE(got_b);
}

// By roi (`rollout: ... by roi`): each arm's incremental ROI, (incremental sales - cost) / cost,
// with incremental sales = (spend per user - control's) x the arm's users and cost = the
// subsidy of its redeemed grants plus its messages' costs before the decision point, as
// `crm report`'s incremental_roi. Arm A's SMS costs 1 CNY, B's 8 CNY, C grants a 10 CNY coupon.
// B's users spend the most (the best spend uplift), but its messages cost so much that A's
// cheaper uplift returns more: A wins.
const char* kRoiProgram = R"(
event Login { channel: Channel }
event Order { amount: Money(CNY)  coupon: String? }
resource sms text_a { text: "A" cost: 1 CNY }
resource sms text_b { text: "B" cost: 8 CNY }
resource coupon c10 { discount: 10 CNY  use: within 30 days after claim }
strategy ab_roi for business "app" {
    who: true
    when: on Login between 2026-05-01T00:00:00Z and 2026-06-01T00:00:00Z
    what: send text_a via SMS for arm A, send text_b via SMS for arm B, grant c10 via App code "C10" for arm C
    how much: per user 1 per campaign
    split: control 20%, variants A 20%, B 20%, C 20% salt "rollout-roi"
    rollout: best of (A, B, C) by roi after 3 days
}
)";

std::string coupon_order(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time +
         R"(","amount":"50","coupon":"C10"})";
}

// Orders on May 2 (50 CNY each): control 4, A 14, B 30, C 16 (with the coupon: 16 redemptions
// of 10 CNY). After the decision point: one more A order and one more C redemption, which count
// for nothing.
struct RoiInput {
  std::vector<std::string> lines;
  std::map<std::string, int> buyers = {{"control", 4}, {"A", 14}, {"B", 30}, {"C", 16}};
};
RoiInput roi_orders(const Groups& g) {
  RoiInput in;
  int n = 0;
  for (const auto& [group, count] : in.buyers)
    for (int k = 0; k < count; ++k) {
      const std::string id = "o" + std::to_string(n), u = g.of.at(group)[size_t(k)], t = clock("2026-05-02", n);
      in.lines.push_back(group == "C" ? coupon_order(id, u, t) : order(id, u, t));
      ++n;
    }
  in.lines.push_back(order("late-a", g.of.at("A")[20], "2026-05-04T09:00:00Z"));
  in.lines.push_back(coupon_order("late-c", g.of.at("C")[20], "2026-05-04T10:00:00Z"));
  in.lines.push_back(login("l-rest", g.rest[0], "2026-05-05T09:00:00Z"));
  return in;
}

// Welch's interval of the difference of two groups' mean spend, where `buyers` of `n` users spent
// 50 and the others nothing: sample variances, Welch-Satterthwaite degrees of freedom, Student's
// t quantile (Boost.Math's distribution; the arithmetic is written here).
Iv welch_of_buyers(double b1, double n1, double b2, double n2) {
  auto var = [](double b, double n) {
    const double m = 50 * b / n;
    return (b * (50 - m) * (50 - m) + (n - b) * m * m) / (n - 1);
  };
  const double s1 = var(b1, n1) / n1, s2 = var(b2, n2) / n2;
  const double df = (s1 + s2) * (s1 + s2) / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1));
  const double t = boost::math::quantile(boost::math::students_t(df), 0.975);
  const double d = 50 * b1 / n1 - 50 * b2 / n2, half = t * std::sqrt(s1 + s2);
  return {d - half, d + half};
}

TEST(Rollout, ByRoiTheCheapestUpliftWins) {
  auto program = compile(kRoiProgram);
  Groups g;
  std::vector<std::string> logins = first_logins();
  {
    crm::Runtime probe(program);
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(probe, logins, ds));
    g = groups_of(ds);
  }
  for (const char* arm : {"control", "A", "B", "C"}) ASSERT_GE(g.of[arm].size(), 31u) << arm;
  RoiInput in = roi_orders(g);
  std::vector<std::string> all = logins;
  all.insert(all.end(), in.lines.begin(), in.lines.end());

  // Computed here: per arm its users, spend, cost and ROI; eligible when Welch's interval of the
  // spend uplift lies above zero and the arm cost something; the highest ROI wins.
  const double nc = double(g.of["control"].size()), control_spu = 50.0 * in.buyers["control"] / nc;
  std::map<std::string, double> cost = {{"A", 1.0 * double(g.of["A"].size())},
                                        {"B", 8.0 * double(g.of["B"].size())},
                                        {"C", 10.0 * in.buyers["C"]}};
  std::map<std::string, double> roi;
  std::map<std::string, Iv> interval;
  std::string expected;
  for (const char* arm : {"A", "B", "C"}) {
    const double n = double(g.of[arm].size());
    const double incremental = (50.0 * in.buyers[arm] / n - control_spu) * n;
    roi[arm] = (incremental - cost[arm]) / cost[arm];
    interval[arm] = welch_of_buyers(in.buyers[arm], n, in.buyers["control"], nc);
    if (interval[arm].low > 0 && cost[arm] > 0 && (expected.empty() || roi[arm] > roi[expected])) expected = arm;
  }
  // The premise of the test: B has the best spend uplift, and not the best ROI.
  const double uplift_a = 50.0 * in.buyers["A"] / double(g.of["A"].size()),
               uplift_b = 50.0 * in.buyers["B"] / double(g.of["B"].size());
  ASSERT_GT(uplift_b, uplift_a);
  ASSERT_GT(interval["B"].low, 0);
  ASSERT_LT(roi["B"], roi[expected]);
  ASSERT_EQ(expected, "A");

  auto check = [&](const crm::Decision* c, const char* when) {
    ASSERT_NE(c, nullptr) << when;
    EXPECT_EQ(c->rollout_metric, "roi") << when;
    EXPECT_EQ(c->arm, expected) << when;
    ASSERT_EQ(c->rollout_groups.size(), 4u) << when;
    for (const auto& grp : c->rollout_groups) {
      const double n = double(g.of[grp.group].size());
      EXPECT_EQ(grp.users, int64_t(n)) << grp.group << " " << when;
      EXPECT_EQ(grp.spend_millionths, int64_t(in.buyers[grp.group]) * 50'000'000) << grp.group << " " << when;
      if (grp.group == "control") {
        EXPECT_EQ(grp.cost_millionths, 0) << when;
        EXPECT_TRUE(std::isnan(grp.roi)) << when;
        continue;
      }
      EXPECT_EQ(grp.cost_millionths, int64_t(cost[grp.group] * 1e6)) << grp.group << " " << when;
      EXPECT_NEAR(grp.roi, roi[grp.group], 1e-6) << grp.group << " " << when;
      EXPECT_NEAR(grp.value, roi[grp.group], 1e-6) << grp.group << " " << when;
      EXPECT_NEAR(grp.low, interval[grp.group].low, 1e-6) << grp.group << " " << when;
      EXPECT_NEAR(grp.high, interval[grp.group].high, 1e-6) << grp.group << " " << when;
      EXPECT_EQ(grp.excludes_zero, interval[grp.group].low > 0) << grp.group << " " << when;
    }
  };
  std::string reference;
  {
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + fresh_path("roi"), err)) << err;
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(rt, all, ds));
    const crm::Decision* c = choice_in(ds);
    check(c, "one run");
    if (c) reference = c->json;
    bool rest_got_a = false;
    for (const auto& d : ds)
      if (d.user == g.rest[0]) rest_got_a = d.outcome == crm::Decision::Outcome::Granted && d.resource == "text_a" && d.rollout == "A";
    EXPECT_TRUE(rest_got_a);
  }
  // A restart before the decision point rebuilds each user's cost from the ledger (message costs
  // of the granted rows, subsidies of the redeemed ones) and chooses the same, with the same numbers.
  const size_t orders_end = logins.size() + size_t(in.buyers["control"] + in.buyers["A"] + in.buyers["B"] + in.buyers["C"]);
  for (size_t cut : {logins.size(), orders_end - 3, orders_end}) {
    std::string path = fresh_path("roi_cut");
    {
      crm::Runtime rt(program);
      std::string err;
      ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
      std::vector<crm::Decision> ds;
      ASSERT_TRUE(feed(rt, std::vector<std::string>(all.begin(), all.begin() + long(cut)), ds));
    }
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(rt, all, ds));
    const crm::Decision* c = choice_in(ds);
    check(c, "restart");
    if (c) {
      EXPECT_EQ(c->json, reference) << "restart after " << cut << " lines";
    }
  }
}

// By roi, an arm whose spend beats control's but that cost nothing has no ROI and cannot win;
// without an eligible arm no one wins.
TEST(Rollout, ByRoiAnArmWithoutCostCannotWin) {
  std::string text = kRoiProgram;
  for (const char* c : {" cost: 1 CNY", " cost: 8 CNY"}) text.erase(text.find(c), std::string(c).size());
  auto program = compile(text);
  crm::Runtime rt(program);
  std::vector<crm::Decision> ds;
  ASSERT_TRUE(feed(rt, first_logins(), ds));
  Groups g = groups_of(ds);
  std::vector<std::string> lines;
  for (int k = 0; k < 30; ++k) lines.push_back(order("b" + std::to_string(k), g.of.at("B")[size_t(k)], clock("2026-05-02", k)));
  lines.push_back(login("l-rest", g.rest[0], "2026-05-05T09:00:00Z"));
  std::vector<crm::Decision> later;
  ASSERT_TRUE(feed(rt, lines, later));
  const crm::Decision* c = choice_in(later);
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->arm.empty());
  EXPECT_EQ(c->reason, "no_winner");
  ASSERT_EQ(c->rollout_groups.size(), 4u);
  EXPECT_EQ(c->rollout_groups[2].group, "B");
  EXPECT_TRUE(c->rollout_groups[2].excludes_zero);  // its spend beats control's, but it cost nothing
  EXPECT_EQ(c->rollout_groups[2].cost_millionths, 0);
  EXPECT_TRUE(std::isnan(c->rollout_groups[2].roi));
  for (const auto& d : later) EXPECT_NE(d.user, g.rest[0]) << d.json;
}

// A version 6 ledger (no `rollout` column) gains it when opened, NULL in its old rows.
TEST(Rollout, VersionSixLedgersAreMigrated) {
  std::string path = fresh_path("v6");
  auto program = compile(kProgram);
  {
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(rt, {login("l0", "u000", "2026-05-01T08:00:00Z"), login("l1", "u001", "2026-05-01T08:00:01Z")}, ds));
  }
  ASSERT_NO_FATAL_FAILURE(crm::testing::widen_ledger_rows(path));  // whole records, as before schema 9
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "ALTER TABLE crm_ledger DROP COLUMN rollout;"
                         "UPDATE crm_meta SET value = '6' WHERE key = 'schema_version';",
                         nullptr, nullptr, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  {
    crm::Runtime rt(program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    std::vector<crm::Decision> ds;
    ASSERT_TRUE(feed(rt, {login("l0", "u000", "2026-05-01T08:00:00Z")}, ds));  // replayed from the old rows
  }
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT (SELECT value FROM crm_meta WHERE key = 'schema_version'), count(*), count(rollout) "
                               "FROM crm_ledger",
                               -1, &s, nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "9");
  EXPECT_GT(sqlite3_column_int64(s, 1), 0);
  EXPECT_EQ(sqlite3_column_int64(s, 2), 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
}

}  // namespace
