// random_rewards_test.cc - random and referral rewards (issue 13 items 6 and 7; docs/semantics.md,
// "Random rewards" and "Referral rewards"): draws are a documented function of (user, event,
// salt), follow the declared distribution, survive restarts; the budget needs room for the
// largest value and counts the drawn one; a referral is decided and recorded for the inviter.
#include <gtest/gtest.h>

#include <boost/math/distributions/chi_squared.hpp>

#include <map>
#include <string>
#include <vector>

#include "compile_helpers.h"
#include "runtime/engine/draw.h"
#include "runtime/state/state_store.h"

namespace {

using crm::testing::Compiled;
using crm::testing::Harness;

Compiled compile(const std::string& text) {
  Compiled c = crm::testing::compile_text(text);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c;
}

std::string visit(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Visit","user":")" + user + R"(","time":")" + time + R"(","page":"home"})";
}

// Pearson's chi-square statistic of observed counts against expected probabilities, and the
// critical value at significance `alpha` (Boost.Math's quantile of the chi-square distribution).
struct ChiSquare {
  double statistic = 0, critical = 0;
};
ChiSquare chi_square(const std::vector<int64_t>& observed, const std::vector<double>& p, double alpha = 0.001) {
  int64_t n = 0;
  for (auto o : observed) n += o;
  ChiSquare r;
  for (size_t i = 0; i < observed.size(); ++i) {
    double e = p[i] * static_cast<double>(n);
    r.statistic += (static_cast<double>(observed[i]) - e) * (static_cast<double>(observed[i]) - e) / e;
  }
  boost::math::chi_squared dist(static_cast<double>(observed.size() - 1));
  r.critical = boost::math::quantile(boost::math::complement(dist, alpha));
  return r;
}

crm::bytecode::Resource range_1_to_8() {
  crm::bytecode::Resource r;
  r.draw = crm::bytecode::Resource::Draw::Range;
  r.draw_lo = 1'000'000, r.draw_hi = 8'000'000, r.draw_step = 500'000, r.discount = 8'000'000;
  return r;
}

crm::bytecode::Resource lottery_table() {
  crm::bytecode::Resource r;
  r.draw = crm::bytecode::Resource::Draw::Table;
  r.draw_values = {2'000'000, 10'000'000, 50'000'000};
  r.draw_weights = {700'000, 250'000, 50'000};
  r.discount = 50'000'000;
  return r;
}

}  // namespace

// The hash is part of the format (a restart or another build must draw the same): these values
// were computed with an independent implementation of FNV-1a 64 + splitmix64 (Python).
TEST(RandomRewards, TheDrawHashIsTheDocumentedOne) {
  uint64_t chance = crm::engine::draw_hash("ann", "e1", "sky_drop.lucky_drop", "chance");
  EXPECT_EQ(chance, 9839872334313867667ull);
  EXPECT_EQ(crm::engine::draw_chance(300'000, chance).value, 867667);
  EXPECT_FALSE(crm::engine::draw_chance(300'000, chance).won);
  EXPECT_TRUE(crm::engine::draw_chance(900'000, chance).won);
  uint64_t amount = crm::engine::draw_hash("ann", "e1", "sky_drop.lucky_drop", "amount");
  EXPECT_EQ(amount, 823909687083962831ull);
  auto d = crm::engine::draw_amount(range_1_to_8(), amount);
  EXPECT_EQ(d.index, 11);  // 823909687083962831 mod 15
  EXPECT_EQ(d.of, 15);
  EXPECT_EQ(d.amount, 6'500'000);  // 1 + 11 x 0.5 CNY
}

// 200,000 draws of a range, a table and a chance: a chi-square test at the 0.1% level against
// the declared probabilities, each over distinct (user, event) keys as a campaign draws them.
TEST(RandomRewards, DrawsFollowTheDeclaredDistribution) {
  constexpr int kDraws = 200'000;
  auto range = range_1_to_8();
  auto table = lottery_table();
  std::vector<int64_t> by_value(15), by_entry(3), by_chance(2);
  for (int i = 0; i < kDraws; ++i) {
    std::string user = "u" + std::to_string(i), unit = "e" + std::to_string(i % 7);
    ++by_value[crm::engine::draw_amount(range, crm::engine::draw_hash(user, unit, "s.r", "amount")).index];
    ++by_entry[crm::engine::draw_amount(table, crm::engine::draw_hash(user, unit, "lottery", "amount")).index];
    ++by_chance[crm::engine::draw_chance(50'000, crm::engine::draw_hash(user, unit, "s.r", "chance")).won];
  }
  auto r = chi_square(by_value, std::vector<double>(15, 1.0 / 15));
  EXPECT_LT(r.statistic, r.critical) << "range";
  auto t = chi_square(by_entry, {0.70, 0.25, 0.05});
  EXPECT_LT(t.statistic, t.critical) << "table";
  auto c = chi_square(by_chance, {0.95, 0.05});
  EXPECT_LT(c.statistic, c.critical) << "chance";
  // The test can fail: a skewed table (the weights of another declaration) is rejected.
  auto skewed = chi_square(by_entry, {0.65, 0.30, 0.05});
  EXPECT_GT(skewed.statistic, skewed.critical);
  // The chance and amount draws of one action are independent: the amounts of the winners are
  // still uniform.
  std::vector<int64_t> winners(15);
  for (int i = 0; i < kDraws; ++i) {
    std::string user = "w" + std::to_string(i);
    if (crm::engine::draw_chance(100'000, crm::engine::draw_hash(user, "e", "s.r", "chance")).won)
      ++winners[crm::engine::draw_amount(range, crm::engine::draw_hash(user, "e", "s.r", "amount")).index];
  }
  auto w = chi_square(winners, std::vector<double>(15, 1.0 / 15));
  EXPECT_LT(w.statistic, w.critical) << "amounts of the winners";
}

// The same through the engine: 20,000 visits of distinct users to `with chance 30%` and a drawn
// discount; the outcomes and the recorded amounts follow the declaration.
TEST(RandomRewards, TheEngineGrantsWithTheDeclaredChanceAndAmounts) {
  Compiled c = compile(R"(
event Visit { page: String }
resource red_envelope lucky_drop { discount: random 1 CNY .. 8 CNY step 0.5 CNY }
strategy sky_drop for business "mall" {
    who: true
    when: on Visit
    what: grant lucky_drop with chance 30% via App
}
)");
  ASSERT_TRUE(c.ok);
  Harness h(c);
  std::vector<int64_t> outcome(2), amount(15);
  for (int i = 0; i < 20'000; ++i) {
    auto ds = h.process(visit("v" + std::to_string(i), "u" + std::to_string(i), "2026-06-01T08:00:00Z"));
    ASSERT_EQ(ds.size(), 1u);
    bool won = ds[0].outcome == crm::engine::Outcome::Granted;
    if (!won) {
      EXPECT_EQ(ds[0].reason, crm::engine::Reason::LostDraw);
      EXPECT_EQ(ds[0].amount, 0);
    }
    ++outcome[won];
    if (won) {
      int64_t k = (ds[0].amount - 1'000'000) / 500'000;
      ASSERT_EQ((ds[0].amount - 1'000'000) % 500'000, 0) << ds[0].amount;
      ASSERT_TRUE(k >= 0 && k < 15) << ds[0].amount;
      ++amount[k];
    }
  }
  auto o = chi_square(outcome, {0.70, 0.30});
  EXPECT_LT(o.statistic, o.critical);
  auto a = chi_square(amount, std::vector<double>(15, 1.0 / 15));
  EXPECT_LT(a.statistic, a.critical);
}

// A budget of 9 CNY and a table of 1 or 8 CNY: each grant needs 8 CNY of room and counts what it
// drew. After two 1 CNY draws (2 used), a third user who would draw 1 CNY is refused: 2 + 8 > 9.
TEST(RandomRewards, TheBudgetNeedsRoomForTheLargestValueAndCountsTheDrawnOne) {
  Compiled c = compile(R"(
event Visit { page: String }
resource coupon pick { discount: random {1 CNY: 50%, 8 CNY: 50%} }
strategy draw for business "mall" {
    who: true
    when: on Visit
    what: grant pick via App
    how much: budget 9 CNY
}
)");
  ASSERT_TRUE(c.ok);
  const auto& res = c.program().resources[0];
  // Users whose draw on their event is 1 CNY.
  std::vector<std::string> small;
  for (int i = 0; small.size() < 3; ++i) {
    std::string u = "u" + std::to_string(i);
    if (crm::engine::draw_amount(res, crm::engine::draw_hash(u, "e" + u, "draw.pick", "amount")).amount == 1'000'000)
      small.push_back(u);
  }
  Harness h(c);
  for (int i = 0; i < 3; ++i) {
    auto ds = h.process(visit("e" + small[i], small[i], "2026-06-01T08:0" + std::to_string(i) + ":00Z"));
    ASSERT_EQ(ds.size(), 1u);
    if (i < 2) {
      EXPECT_EQ(ds[0].outcome, crm::engine::Outcome::Granted) << i;
      EXPECT_EQ(ds[0].amount, 1'000'000);
      EXPECT_NE(h.engine.decision_json(ds[0]).find("\"amount\":\"1\""), std::string::npos) << h.engine.decision_json(ds[0]);
    } else {
      EXPECT_EQ(ds[0].outcome, crm::engine::Outcome::Rejected);
      EXPECT_EQ(ds[0].reason, crm::engine::Reason::Budget);
    }
  }
}

namespace {

const char* kLuckyProgram = R"(
event Visit { page: String }
resource red_envelope lucky_drop { discount: random 1 CNY .. 8 CNY step 0.5 CNY  use: within 1 day after claim }
strategy sky_drop for business "mall" {
    who: true
    when: on Visit
    what: grant lucky_drop with chance 40% via App
    how much: budget 40 CNY, per user 1 per day
}
)";

const char* kReferralProgram = R"(
event Visit { page: String }
event Order { amount: Money(CNY)  referrer: String? }
resource coupon referral_10 { discount: random {5 CNY: 50%, 10 CNY: 50%}  use: within 30 days after claim }
strategy referral_first_order for business "mall" {
    who: count(Order) == 1
    when: on Order
    what: grant referral_10 to event.referrer via App
    how much: budget 40 CNY, per user 2 per campaign
}
)";

std::string order(const std::string& id, const std::string& user, const std::string& time, const std::string& referrer) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":10)" +
         (referrer.empty() ? "" : R"(,"referrer":")" + referrer + "\"") + "}";
}

// Every prefix of `events` committed, then the whole input again on a new engine over the same
// ledger: the decisions equal an uninterrupted run's.
void restart_at_every_point(const Compiled& c, const std::vector<std::string>& events) {
  const std::vector<std::string> reference = uninterrupted_run(c, events);
  for (size_t k = 0; k <= events.size(); ++k) {
    SCOPED_TRACE("restarted after " + std::to_string(k) + " events");
    crm::state::MemoryStore store;
    std::string err;
    {
      Harness run(c);
      ASSERT_TRUE(run.engine.attach(&store, err)) << err;
      for (size_t i = 0; i < k; ++i) run.feed(events[i]);
      ASSERT_TRUE(run.engine.commit(err)) << err;
    }
    std::vector<std::string> restarted;
    Harness run(c);
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    for (const auto& e : events)
      for (auto& d : run.feed(e)) restarted.push_back(d);
    EXPECT_EQ(restarted, reference);
  }
}

}  // namespace

TEST(RandomRewards, ARestartDrawsTheSameAsAnUninterruptedRun) {
  Compiled c = compile(kLuckyProgram);
  ASSERT_TRUE(c.ok);
  std::vector<std::string> events;
  for (int i = 0; i < 40; ++i)
    events.push_back(visit("v" + std::to_string(i), "u" + std::to_string(i % 9),
                           "2026-06-0" + std::to_string(1 + i / 20) + "T" + std::to_string(10 + (i % 20) / 3) + ":" +
                               std::to_string(10 + (i % 20) % 3 * 20) + ":00Z"));
  restart_at_every_point(c, events);
  // The run does draw: some won, some lost, some were refused by the budget or the daily cap.
  Harness h(c);
  std::map<std::string, int> reasons;
  for (const auto& e : events)
    for (const auto& d : h.process(e)) ++reasons[crm::engine::reason_name(d.reason)];
  EXPECT_GT(reasons[""], 0);
  EXPECT_GT(reasons["lost_draw"], 0);
  EXPECT_GT(reasons["budget"], 0);
}

TEST(RandomRewards, AReferralIsTheInvitersAfterARestart) {
  Compiled c = compile(kReferralProgram);
  ASSERT_TRUE(c.ok);
  std::vector<std::string> events = {
      visit("v1", "ann", "2026-06-01T08:00:00Z"),
      order("o1", "bob", "2026-06-01T09:00:00Z", "ann"),
      order("o2", "cat", "2026-06-01T10:00:00Z", "ann"),
      order("o3", "dan", "2026-06-01T11:00:00Z", "ann"),  // ann's cap: 2 per campaign
      order("o4", "eve", "2026-06-01T12:00:00Z", "bob"),
      order("o5", "fay", "2026-06-01T13:00:00Z", "zed"),  // unknown
      order("o6", "gus", "2026-06-01T14:00:00Z", "gus"),  // self
      order("o7", "hal", "2026-06-01T15:00:00Z", ""),     // none
  };
  restart_at_every_point(c, events);
  Harness h(c);
  std::vector<std::string> rows;
  for (const auto& e : events)
    for (const auto& d : h.process(e))
      rows.push_back(d.user + ":" + crm::engine::outcome_name(d.outcome) + ":" + crm::engine::reason_name(d.reason));
  EXPECT_EQ(rows, (std::vector<std::string>{"ann:granted:", "ann:granted:", "ann:rejected:per_user_limit", "bob:granted:",
                                            "fay:rejected:unknown_recipient", "gus:rejected:self_referral",
                                            "hal:rejected:no_recipient"}));
  // The grant is ann's, and names bob as the user whose order triggered it.
  std::string json = h.engine.decision_json(h.decisions[0]);
  EXPECT_NE(json.find("\"user\":\"ann\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"trigger_user\":\"bob\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"recipient\":\"ann\""), std::string::npos) << json;
}
