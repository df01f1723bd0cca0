// engine_test.cc - the runtime over small programs compiled in process: windows and aggregates,
// per-user limits, stock, budget, split, policies, priorities, event order and the JSON Lines
// contract (docs/runtime.md).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <set>

#include "compile_helpers.h"
#include "runtime/state/state_store.h"
#include "runtime/vm/vm.h"
#include "support/decimal.h"

namespace {

using crm::engine::Decision;
using crm::engine::Outcome;
using crm::testing::compile_text;
using crm::testing::Compiled;
using crm::testing::Harness;
using crm::testing::T;

const char* kSchema = R"(
profile { level: Int = 0 }
event Order { amount: Money(CNY)  paid: Bool = true  items: Int = 1 }
event Visit { page: String? }
event Redeem { resource: String }
)";

Compiled program(const std::string& body) {
  Compiled c = compile_text(std::string(kSchema) + body);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c;
}

std::string order(const std::string& id, const std::string& user, const std::string& time, const std::string& amount = "10") {
  return "{\"type\":\"Order\",\"id\":\"" + id + "\",\"user\":\"" + user + "\",\"time\":\"" + time + "\",\"amount\":" + amount + "}";
}

std::string visit(const std::string& id, const std::string& user, const std::string& time) {
  return "{\"type\":\"Visit\",\"id\":\"" + id + "\",\"user\":\"" + user + "\",\"time\":\"" + time + "\"}";
}

// The value of the aggregate whose source text is `text`, for `user` at `now` (it must have one).
int64_t agg(Harness& h, const Compiled& c, const std::string& text, const std::string& user, int64_t now) {
  const auto& aggs = c.program().aggregates;
  std::string known;
  for (uint32_t g = 0; g < aggs.size(); ++g) {
    if (aggs[g].text == text) {
      crm::bytecode::AggValue v = h.engine.aggregate_of(user, g, now);
      EXPECT_TRUE(v.present()) << text;
      return v.value;
    }
    known += "\n  " + aggs[g].text;
  }
  ADD_FAILURE() << "no aggregate `" << text << "`; the program has:" << known;
  return 0;
}

std::string outcome(const Decision& d) {
  switch (d.outcome) {
    case Outcome::Granted: return "granted";
    case Outcome::Control: return "control";
    case Outcome::Held: return "held";
    default: return std::string("rejected:") + crm::engine::reason_name(d.reason);
  }
}

std::vector<std::string> outcomes(const std::vector<Decision>& ds) {
  std::vector<std::string> out;
  for (const auto& d : ds) out.push_back(outcome(d));
  return out;
}

constexpr int64_t M = 1000000;  // one unit of Money/Decimal in millionths

}  // namespace

// ---- windows and aggregates --------------------------------------------------------------------

TEST(EngineWindows, WithinExcludesExactlyTheWindowLength) {
  Compiled c = program("segment recent = exists(Order within 30 days)\nsegment recent_count = count(Order within 30 days) == 1\n");
  Harness h(c);
  h.observe(order("o1", "u", "2026-01-01T12:00:00Z"));
  int64_t t0 = T("2026-01-01T12:00:00Z");
  int64_t d30 = 30 * 24 * 3600 * M;
  // Reads are in increasing time order, as streaming and batch evaluation do.
  EXPECT_EQ(h.segment(c, "recent", "u", t0), 1);
  EXPECT_EQ(h.segment(c, "recent", "u", t0 + d30 - M), 1);  // 30 days minus 1 second: inside
  EXPECT_EQ(h.segment(c, "recent_count", "u", t0 + d30 - M), 1);
  EXPECT_EQ(h.segment(c, "recent", "u", t0 + d30), 0);      // exactly 30 days: outside
  EXPECT_EQ(h.segment(c, "recent_count", "u", t0 + d30), 0);
}

// Reads off the engine's time line at an instant after its latest event change nothing: each of
// evaluate, aggregate_of (the reference evaluator's read) and the audience (batch VM, and the
// scalar runs naming its faults) at day 40 made the windows drop the order of day 0, so the order
// of 01:00 counted one order within 30 days and 10 CNY, and was not granted.
TEST(EngineWindows, ReadsAfterTheLatestEventForgetNothingALaterEventCounts) {
  Compiled c = program(R"(
resource points p { amount: 1 }
segment two = count(Order within 30 days) >= 2 and exists(Order within 2 hours)
segment spent = sum(Order.amount within 30 days) >= 20 CNY
segment faulty = 1 / count(Order within 30 days) > 0
strategy s { who: two and spent  when: on Order  what: grant p }
)");
  const int64_t day40 = T("2026-02-10T00:00:00Z");
  for (int read = 0; read < 4; ++read) {
    SCOPED_TRACE(read);
    Harness h(c);
    EXPECT_TRUE(h.process(order("e1", "u", "2026-01-01T00:00:00Z")).empty());
    switch (read) {
      case 1:
        EXPECT_EQ(h.segment(c, "two", "u", day40), 0);
        EXPECT_EQ(h.segment(c, "spent", "u", day40), 0);
        break;
      case 2:
        EXPECT_EQ(agg(h, c, "count(Order within 30 days)", "u", day40), 0);
        EXPECT_EQ(agg(h, c, "sum(Order.amount within 30 days)", "u", day40), 0);
        break;
      case 3: {
        std::vector<std::pair<std::string, int64_t>> counts;
        std::string err;
        ASSERT_TRUE(h.engine.audience(day40, counts, err)) << err;
        EXPECT_EQ(counts[0], (std::pair<std::string, int64_t>{"two", 0}));
        EXPECT_EQ(h.engine.stats().eval_errors_by_kind.at("division by zero"), 1u);  // `faulty`, by the scalar VM
        break;
      }
      default: break;
    }
    auto out = h.process(order("e2", "u", "2026-01-01T01:00:00Z"));
    EXPECT_EQ(out.size(), 1u);
    if (!out.empty()) {
      EXPECT_EQ(outcome(out[0]), "granted");
    }
    // Before the engine's clock (01:00) the reads are refused, saying why.
    std::vector<std::pair<std::string, int64_t>> counts;
    std::string err;
    EXPECT_FALSE(h.engine.audience(T("2026-01-01T00:30:00Z"), counts, err));
    EXPECT_NE(err.find("before the engine's clock at 2026-01-01T01:00:00Z"), std::string::npos) << err;
    int64_t v = 0;
    EXPECT_FALSE(h.engine.evaluate(uint32_t(c.segment_unit("two")), "u", T("2026-01-01T00:30:00Z"), v, err));
    EXPECT_NE(err.find("cannot evaluate at 2026-01-01T00:30:00Z"), std::string::npos) << err;
    EXPECT_EQ(h.segment(c, "two", "u", T("2026-01-01T01:00:00Z")), 1);
  }
}

// The engine's clock is also moved by a scheduled run: an audience before it is refused.
TEST(EngineWindows, AScheduledRunMovesTheClockReadsAreAnsweredFrom) {
  Compiled c = program(R"(
resource points p { amount: 1 }
segment recent = exists(Order within 1 days)
strategy daily { who: recent  when: every 1 day at 09:00 between 2026-01-01T00:00Z and 2027-01-01T00:00Z  what: grant p }
)");
  Harness h(c);
  h.process(order("e1", "u", "2026-01-01T00:00:00Z"));
  std::vector<Decision> out;
  std::string err;
  ASSERT_TRUE(h.engine.fire_schedules(T("2026-01-03T12:00:00Z"), out, err)) << err;
  EXPECT_EQ(h.engine.clock(), T("2026-01-03T09:00:00Z"));
  std::vector<std::pair<std::string, int64_t>> counts;
  EXPECT_FALSE(h.engine.audience(T("2026-01-03T08:00:00Z"), counts, err));
  EXPECT_NE(err.find("before the engine's clock at 2026-01-03T09:00:00Z"), std::string::npos) << err;
  ASSERT_TRUE(h.engine.audience(T("2026-01-03T09:00:00Z"), counts, err)) << err;
  EXPECT_EQ(counts[0], (std::pair<std::string, int64_t>{"recent", 0}));
}

TEST(EngineWindows, WithinBoundaryInAFreshEngine) {
  // The boundary does not depend on having read the aggregate earlier.
  Compiled c = program("segment recent = exists(Order within 30 days)\n");
  {
    Harness h(c);
    h.observe(order("o1", "u", "2026-01-01T12:00:00Z"));
    EXPECT_EQ(h.segment(c, "recent", "u", T("2026-01-31T12:00:00Z")), 0);
  }
  {
    Harness h(c);
    h.observe(order("o1", "u", "2026-01-01T12:00:00Z"));
    EXPECT_EQ(h.segment(c, "recent", "u", T("2026-01-31T11:59:59Z")), 1);
  }
}

TEST(EngineWindows, PreviousLastNPreviousNSince) {
  Compiled c = program(
      "segment a = sum(Order.amount previous) == 100 CNY\n"
      "segment b = sum(Order.amount last 3) == 120 CNY\n"
      "segment d = sum(Order.amount previous 2) == 70 CNY\n"
      "segment e = count(Order since 2026-01-03T00:00Z) == 3\n"
      "segment f = (avg(Order.amount previous) ?? 0 CNY) == 25 CNY\n"
      "segment g = (min(Order.amount last 3) ?? 0 CNY) == 30 CNY and (max(Order.amount previous 2) ?? 0 CNY) == 40 CNY\n"
      "segment h = (last(Order.amount) ?? 0 CNY) == 50 CNY and (first(Order.amount) ?? 0 CNY) == 10 CNY\n"
      "segment i = count(Order previous) == 4 and count(Order last 3) == 3 and count(Order previous 2) == 2\n");
  Harness h(c);
  for (int i = 1; i <= 5; ++i)
    h.observe(order("o" + std::to_string(i), "u", "2026-01-0" + std::to_string(i) + "T00:00:00Z", std::to_string(10 * i)));
  int64_t now = T("2026-01-06T00:00:00Z");
  EXPECT_EQ(agg(h, c, "sum(Order.amount previous)", "u", now), 100 * M);
  EXPECT_EQ(agg(h, c, "sum(Order.amount last 3)", "u", now), 120 * M);
  EXPECT_EQ(agg(h, c, "sum(Order.amount previous 2)", "u", now), 70 * M);
  EXPECT_EQ(agg(h, c, "count(Order since 2026-01-03T00:00Z)", "u", now), 3);
  for (const char* s : {"a", "b", "d", "e", "f", "g", "h", "i"}) EXPECT_EQ(h.segment(c, s, "u", now), 1) << "segment " << s;
}

TEST(EngineWindows, PreviousWithFewEventsAndTheFilterAppliesBeforeTheWindow) {
  Compiled c = program(
      "segment none_before = count(Order previous) == 0 and (avg(Order.amount previous) ?? 0 CNY) == 0 CNY\n"
      "segment paid_prev = sum(Order.amount where paid previous) == 10 CNY\n");
  Harness h(c);
  h.observe(order("o1", "u", "2026-01-01T00:00:00Z", "10"));
  EXPECT_EQ(h.segment(c, "none_before", "u", T("2026-01-01T00:00:00Z")), 1);
  // An unpaid order does not count as "the latest" of the paid ones.
  h.observe(R"({"type":"Order","id":"o2","user":"u","time":"2026-01-02T00:00:00Z","amount":20})");
  h.observe(R"({"type":"Order","id":"o3","user":"u","time":"2026-01-03T00:00:00Z","amount":99,"paid":false})");
  EXPECT_EQ(h.segment(c, "paid_prev", "u", T("2026-01-03T00:00:00Z")), 1);
  EXPECT_EQ(h.segment(c, "none_before", "u", T("2026-01-03T00:00:00Z")), 0);
}

TEST(EngineWindows, AvgOfMoneyRoundsHalfEvenToSixDecimals) {
  Compiled p = program("segment s = (avg(Order.amount) ?? 0 CNY) > 0 CNY\n");
  auto avg_of = [&](std::vector<std::string> amounts) {
    Harness h(p);
    int i = 0;
    for (auto& a : amounts) h.observe(order("o" + std::to_string(i), "u", "2026-01-01T00:00:0" + std::to_string(i) + "Z", a)), ++i;
    return agg(h, p, "avg(Order.amount)", "u", T("2026-01-02T00:00:00Z"));
  };
  EXPECT_EQ(avg_of({"10", "10", "11"}), 10333333);        // 10.3333333... -> 10.333333
  EXPECT_EQ(avg_of({"1", "1", "0"}), 666667);             // 0.6666666... -> 0.666667
  EXPECT_EQ(avg_of({"0.000001", "0.000002"}), 2);         // 0.0000015 -> 0.000002 (to even)
  EXPECT_EQ(avg_of({"0.000001", "0.000004"}), 2);         // 0.0000025 -> 0.000002 (to even)
  EXPECT_EQ(avg_of({"0.000003", "0.000004"}), 4);         // 0.0000035 -> 0.000004 (to even)
  EXPECT_EQ(avg_of({"-0.000001", "-0.000002"}), -2);      // -0.0000015 -> -0.000002
  EXPECT_EQ(avg_of({"19.99", "0.01", "0.01"}), 6670000);  // 20.01 / 3 = 6.67 exactly
}

TEST(EngineData, MoneyIsParsedExactly) {
  Compiled c = program("segment s = sum(Order.amount) == 0.3 CNY\n");
  Harness h(c);
  h.observe(order("o1", "u", "2026-01-01T00:00:00Z", "0.1"));
  h.observe(order("o2", "u", "2026-01-01T00:00:01Z", "0.2"));
  int64_t now = T("2026-01-02T00:00:00Z");
  EXPECT_EQ(agg(h, c, "sum(Order.amount)", "u", now), 300000);
  EXPECT_EQ(h.segment(c, "s", "u", now), 1);
  // Numeric strings and exponent-free long decimals are exact too.
  Harness h2(c);
  h2.observe(order("o1", "v", "2026-01-01T00:00:00Z", "\"0.15\""));
  h2.observe(order("o2", "v", "2026-01-01T00:00:01Z", "0.150000"));
  EXPECT_EQ(agg(h2, c, "sum(Order.amount)", "v", now), 300000);
}

// ---- per-user limits, stock, budget ------------------------------------------------------------

namespace {

std::string strategy(const std::string& how_much, const std::string& extra = "") {
  return "resource points p { amount: 10 }\n"
         "strategy s for business \"mall\" {\n"
         "  who: true\n"
         "  when: on Order\n"
         "  what: grant p\n"
         "  how much: " + how_much + "\n" + extra + "}\n";
}

}  // namespace

TEST(EngineLimits, OnePerDayIsACalendarDayInUtc) {
  Compiled c = program(strategy("per user 1 per day"));
  Harness h(c);
  EXPECT_EQ(outcomes(h.process(order("o1", "u", "2026-01-01T10:00:00Z"))), std::vector<std::string>{"granted"});
  // 07:00 on Jan 2 in UTC+8 is 23:00 on Jan 1 in UTC: the same day.
  EXPECT_EQ(outcomes(h.process(order("o2", "u", "2026-01-02T07:00:00+08:00"))), std::vector<std::string>{"rejected:per_user_limit"});
  EXPECT_EQ(outcomes(h.process(order("o3", "u", "2026-01-01T23:59:59Z"))), std::vector<std::string>{"rejected:per_user_limit"});
  // Two seconds later it is a new UTC day, though not 24 hours later.
  EXPECT_EQ(outcomes(h.process(order("o4", "u", "2026-01-02T00:00:01Z"))), std::vector<std::string>{"granted"});
  // Other users have their own limit.
  EXPECT_EQ(outcomes(h.process(order("o5", "v", "2026-01-02T00:00:02Z"))), std::vector<std::string>{"granted"});
}

TEST(EngineLimits, PerSevenDaysIsSliding) {
  Compiled c = program(strategy("per user 1 per 7 days"));
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "u", "2026-01-01T23:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o2", "u", "2026-01-02T01:00:00Z"))[0]), "rejected:per_user_limit");
  EXPECT_EQ(outcome(h.process(order("o3", "u", "2026-01-08T22:59:59Z"))[0]), "rejected:per_user_limit");
  EXPECT_EQ(outcome(h.process(order("o4", "u", "2026-01-08T23:00:00Z"))[0]), "granted");  // exactly 7 days later
  EXPECT_EQ(outcome(h.process(order("o5", "u", "2026-01-09T00:00:00Z"))[0]), "rejected:per_user_limit");
}

// Deliveries no per-user cap can count again are dropped when the next one is added (issue 15
// item 3: per-user state bounded by the caps' periods); the decisions are those of keeping them.
TEST(EngineLimits, DeliveriesOutOfEveryPeriodAreDroppedExactlyAtThePeriodsEdge) {
  Compiled c = program(strategy("per user 2 per 7 days"));
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "u", "2026-01-01T10:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o2", "u", "2026-01-04T10:00:00Z"))[0]), "granted");
  EXPECT_EQ(h.engine.deliveries_kept("u"), 2u);
  // One microsecond before the edge both still count.
  EXPECT_EQ(outcome(h.process(order("o3", "u", "2026-01-08T09:59:59.999999Z"))[0]), "rejected:per_user_limit");
  // At exactly 7 days the first has left the period: a grant, and the first is dropped.
  EXPECT_EQ(outcome(h.process(order("o4", "u", "2026-01-08T10:00:00Z"))[0]), "granted");
  EXPECT_EQ(h.engine.deliveries_kept("u"), 2u);
  EXPECT_EQ(outcome(h.process(order("o5", "u", "2026-01-08T10:00:01Z"))[0]), "rejected:per_user_limit");
  EXPECT_EQ(outcome(h.process(order("o6", "u", "2026-01-11T10:00:00Z"))[0]), "granted");
  EXPECT_EQ(h.engine.deliveries_kept("u"), 2u);
}

TEST(EngineLimits, ACalendarDaysDeliveriesAreDroppedOnceTheDayIsOver) {
  Compiled c = program(strategy("per user 1 per day"));
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "u", "2026-01-01T10:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o2", "u", "2026-01-01T23:59:59.999999Z"))[0]), "rejected:per_user_limit");
  EXPECT_EQ(outcome(h.process(order("o3", "u", "2026-01-02T00:00:00Z"))[0]), "granted");
  EXPECT_EQ(h.engine.deliveries_kept("u"), 1u);
}

// What a control user would have received (shadow deliveries) is dropped by the same rule.
TEST(EngineLimits, AControlUsersShadowDeliveriesAreDroppedByTheSameRule) {
  Compiled c = program(strategy("per user 1 per day", "  split: control 50% salt \"shadow\"\n"));
  Harness h(c);
  std::string user;
  for (int i = 0; i < 100 && user.empty(); ++i) {
    std::string u = "u" + std::to_string(i);
    auto d = h.process(order("first" + std::to_string(i), u, "2026-01-01T10:00:00Z"));
    ASSERT_EQ(d.size(), 1u);
    if (outcome(d[0]) == "control") user = u;
  }
  ASSERT_FALSE(user.empty());
  EXPECT_EQ(h.engine.deliveries_kept(user), 1u);
  // The same day: the shadow delivery still counts (a control row with the cap's reason).
  auto same_day = h.process(order("same-day", user, "2026-01-01T12:00:00Z"));
  ASSERT_EQ(same_day.size(), 1u);
  EXPECT_EQ(outcome(same_day[0]), "control");
  EXPECT_EQ(same_day[0].reason, crm::engine::Reason::PerUserLimit);
  for (int d = 2; d <= 9; ++d) {
    auto out = h.process(order("o" + std::to_string(d), user, "2026-01-0" + std::to_string(d) + "T10:00:00Z"));
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(outcome(out[0]), "control") << d;
    EXPECT_EQ(h.engine.deliveries_kept(user), 1u) << d;  // one a day, never more
  }
}

TEST(EngineLimits, CampaignCapsAndSharedExclusiveGroupsKeepEveryDelivery) {
  Compiled c = program(strategy("per user 1 per day, 3 per campaign"));
  Harness h(c);
  for (int d = 1; d <= 4; ++d) h.process(order("o" + std::to_string(d), "u", "2026-01-0" + std::to_string(d) + "T10:00:00Z"));
  EXPECT_EQ(outcome(h.decisions.back()), "rejected:per_user_limit");  // the 4th day: 3 in the campaign
  EXPECT_EQ(h.engine.deliveries_kept("u"), 3u);
  // Two strategies of one group: the one that delivers first keeps the other out for good.
  Compiled g = program(
      "resource points p { amount: 10 }\n"
      "strategy a { who: true  when: on Order  what: grant p  how much: per user 1 per day  exclusive: \"g\"  priority: 1 }\n"
      "strategy b { who: true  when: on Order  what: grant p  how much: per user 1 per day  exclusive: \"g\"  priority: 2 }\n");
  Harness hg(g);
  for (int d = 1; d <= 4; ++d) {
    auto out = hg.process(order("o" + std::to_string(d), "u", "2026-01-0" + std::to_string(d) + "T10:00:00Z"));
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(outcome(out[0]), "granted");
    EXPECT_EQ(outcome(out[1]), "rejected:exclusive_group");
  }
  EXPECT_EQ(hg.engine.deliveries_kept("u"), 4u);
}

// A restart rebuilds every delivery from the ledger (pruned ones too) and decides as a run that
// never stopped.
TEST(EngineLimits, ARestartAfterDeliveriesWereDroppedDecidesAsAnUninterruptedRun) {
  Compiled c = program(strategy("per user 2 per 7 days"));
  std::vector<std::string> events;
  for (int i = 0; i < 40; ++i) {
    char t[32];
    std::snprintf(t, sizeof t, "2026-01-%02dT%02d:00:00Z", 1 + i * 3 / 4, i % 24);
    events.push_back(order("o" + std::to_string(i), i % 3 ? "u" : "v", t));
  }
  const std::vector<std::string> reference = uninterrupted_run(c, events);
  crm::state::MemoryStore store;
  std::string err;
  {
    Harness run(c);
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    size_t granted_u = 0;
    for (int i = 0; i < 25; ++i)
      for (auto& d : run.feed(events[i])) granted_u += i % 3 && d.find("\"granted\"") != std::string::npos;
    ASSERT_TRUE(run.engine.commit(err)) << err;
    EXPECT_LT(run.engine.deliveries_kept("u"), granted_u);  // some were dropped before the restart
  }
  Harness run(c);
  ASSERT_TRUE(run.engine.attach(&store, err)) << err;
  std::vector<std::string> restarted;
  for (const auto& e : events)
    for (auto& d : run.feed(e)) restarted.push_back(d);
  EXPECT_EQ(restarted, reference);
}

TEST(EngineLimits, SeveralCapsAndCampaign) {
  Compiled c = program(strategy("per user 1 per day, 2 per campaign"));
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "u", "2026-01-01T00:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o2", "u", "2026-01-02T00:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o3", "u", "2026-03-01T00:00:00Z"))[0]), "rejected:per_user_limit");
}

TEST(EngineLimits, StockCountsGrantsAcrossUsers) {
  Compiled c = program(strategy("stock 2"));
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "a", "2026-01-01T00:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o2", "b", "2026-01-01T00:00:01Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o3", "c", "2026-01-01T00:00:02Z"))[0]), "rejected:stock");
  EXPECT_EQ(outcome(h.process(order("o4", "a", "2026-01-01T00:00:03Z"))[0]), "rejected:stock");
}

TEST(EngineLimits, BudgetIsTheCouponDiscount) {
  Compiled c = program(
      "resource coupon c30 { discount: 30 CNY  threshold: 100 CNY }\n"
      "resource points p { amount: 1000 }\n"
      "strategy s for business \"mall\" {\n"
      "  who: true\n  when: on Order\n  what: grant c30, grant p\n  how much: budget 60 CNY\n}\n");
  Harness h(c);
  // Points cost nothing against a money budget; two coupons use up 60 CNY exactly. Budget,
  // stock and per-user caps apply to a delivery as a whole: once the budget cannot cover the
  // coupon, the user gets neither action (no points without the coupon).
  EXPECT_EQ(outcomes(h.process(order("o1", "a", "2026-01-01T00:00:00Z"))), (std::vector<std::string>{"granted", "granted"}));
  EXPECT_EQ(outcomes(h.process(order("o2", "b", "2026-01-01T00:00:01Z"))), (std::vector<std::string>{"granted", "granted"}));
  EXPECT_EQ(outcomes(h.process(order("o3", "c", "2026-01-01T00:00:02Z"))),
            (std::vector<std::string>{"rejected:budget", "rejected:budget"}));
}

TEST(EngineLimits, PerUserCapsCountDeliveriesNotActions) {
  Compiled c = program(
      "resource coupon c { discount: 5 CNY }\n"
      "resource push hello { body: \"hi\" }\n"
      "strategy s for business \"mall\" {\n"
      "  who: true\n  when: on Order\n  what: grant c via App, send hello via Push\n  how much: per user 1 per day\n}\n");
  Harness h(c);
  // A coupon plus its push is one delivery: both granted, then both refused the same day.
  EXPECT_EQ(outcomes(h.process(order("o1", "a", "2026-01-01T00:00:00Z"))), (std::vector<std::string>{"granted", "granted"}));
  EXPECT_EQ(outcomes(h.process(order("o2", "a", "2026-01-01T08:00:00Z"))),
            (std::vector<std::string>{"rejected:per_user_limit", "rejected:per_user_limit"}));
  EXPECT_EQ(outcomes(h.process(order("o3", "a", "2026-01-02T00:00:00Z"))), (std::vector<std::string>{"granted", "granted"}));
}

TEST(EngineLimits, CalendarDaysFollowTheStrategysZone) {
  const char* body =
      "resource coupon c { discount: 5 CNY }\n"
      "strategy s { who: true  when: on Order  what: grant c  how much: per user 1 per day %s }\n";
  auto run = [&](const char* zone) {
    char text[512];
    std::snprintf(text, sizeof text, body, zone);
    Compiled c = program(text);
    Harness h(c);
    std::vector<std::string> out;
    // 23:00 and 01:00 in Beijing: the same UTC day, two Beijing days.
    out.push_back(outcome(h.process(order("o1", "a", "2026-01-01T15:00:00Z"))[0]));
    out.push_back(outcome(h.process(order("o2", "a", "2026-01-01T17:00:00Z"))[0]));
    return out;
  };
  EXPECT_EQ(run(""), (std::vector<std::string>{"granted", "rejected:per_user_limit"}));
  EXPECT_EQ(run("zone: \"+08:00\""), (std::vector<std::string>{"granted", "granted"}));
}

TEST(EnginePolicies, QuietHoursHoldMessagesNotGrants) {
  Compiled c = program(
      "resource coupon c { discount: 5 CNY }\n"
      "resource push hello { body: \"hi\" }\n"
      "policy night { quiet between 22:00 and 08:00 }\n"
      "strategy s { who: true  when: on Order  what: grant c via App, send hello via Push  zone: \"+08:00\" }\n");
  Harness h(c);
  // 15:00Z is 23:00 in Beijing: the coupon is granted, the push is held for the morning.
  EXPECT_EQ(outcomes(h.process(order("o1", "a", "2026-01-01T15:00:00Z"))), (std::vector<std::string>{"granted", "held"}));
  // 01:00Z is 09:00 in Beijing: first a's push, sent at 08:00 (00:00Z), then b's delivery.
  auto out = h.process(order("o2", "b", "2026-01-02T01:00:00Z"));
  EXPECT_EQ(outcomes(out), (std::vector<std::string>{"granted", "granted", "granted"}));
  EXPECT_EQ(out[0].user, "a");
  EXPECT_EQ(out[0].at, crm::testing::T("2026-01-02T00:00:00Z"));
}

TEST(EngineSplit, SaltedBucketsAreSharedAndStableWhenTheShareGrows) {
  auto control_users = [&](const char* split) {
    char text[512];
    std::snprintf(text, sizeof text,
                  "resource points p { amount: 1 }\n"
                  "strategy s for business \"mall\" { who: true  when: on Order  what: grant p  split: %s }\n",
                  split);
    Compiled c = program(text);
    Harness h(c);
    std::set<std::string> out;
    for (int i = 0; i < 2000; ++i) {
      std::string user = "u" + std::to_string(i);
      auto d = h.process(order("o" + std::to_string(i), user, "2026-01-01T00:00:00Z"));
      if (!d.empty() && outcome(d[0]) == "control") out.insert(user);
    }
    return out;
  };
  auto ten = control_users("control 10% salt \"exp-7\"");
  auto twenty = control_users("control 20% salt \"exp-7\"");
  auto other_salt = control_users("control 10% salt \"exp-8\"");
  EXPECT_GT(ten.size(), 150u);
  EXPECT_LT(ten.size(), 250u);
  // Growing the share only adds users: nobody in the 10% group leaves the control group.
  for (const auto& u : ten) EXPECT_TRUE(twenty.count(u)) << u;
  // Another salt draws an independent group.
  size_t common = 0;
  for (const auto& u : ten) common += other_salt.count(u);
  EXPECT_LT(common, ten.size() / 3);
}

TEST(EngineLimits, ClaimWindow) {
  Compiled c = program(
      "resource coupon c { discount: 5 CNY  claim: between 2026-01-02T00:00Z and 2026-01-03T00:00Z }\n"
      "strategy s for business \"mall\" { who: true  when: on Order  what: grant c }\n");
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "a", "2026-01-01T23:59:59Z"))[0]), "rejected:claim_window");
  EXPECT_EQ(outcome(h.process(order("o2", "a", "2026-01-02T00:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o3", "a", "2026-01-03T00:00:00Z"))[0]), "rejected:claim_window");
}

// F11 (t22): a coupon whose fixed use window is over at grant time is refused (`use_window`), and
// spends no budget; before, it was granted and the next unit recorded its `expired` dated before
// the grant. A window still open grants as before.
TEST(EngineLimits, AFixedUseWindowAlreadyOverRefusesTheGrant) {
  Compiled c = program(
      "resource coupon c { discount: 5 CNY  use: between 2026-01-01T00:00Z and 2026-01-02T00:00Z }\n"
      "strategy s for business \"mall\" { who: true  when: on Order  what: grant c  how much: budget 5 CNY }\n");
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "a", "2026-01-05T00:00:00Z"))[0]), "rejected:use_window");
  auto later = h.process(order("o2", "b", "2026-01-06T00:00:00Z"));
  ASSERT_EQ(later.size(), 1u);  // no `expired` row for a's coupon, dated before its grant
  EXPECT_EQ(outcome(later[0]), "rejected:use_window");
  Harness h2(c);
  EXPECT_EQ(outcome(h2.process(order("o1", "a", "2026-01-01T23:59:59Z"))[0]), "granted");  // still open: granted
}

// docs/runtime.md lists the rejection reasons in the order they are checked: the delivery's own
// limits (per user, exclusive group, stock, budget, pacing) first, then each action's claim
// window and policies. A user failing several limits is told the first one.
TEST(EngineLimits, ReasonsAreReportedInTheDocumentedOrder) {
  Compiled c = program(
      "resource coupon c { discount: 5 CNY  claim: between 2026-01-02T00:00Z and 2026-01-03T00:00Z }\n"
      "policy p { same resource type once per 1 day; }\n"
      "strategy s for business \"mall\" {\n"
      "  who: true\n  when: on Order\n  what: grant c\n  how much: stock 2, per user 1 per campaign\n}\n");
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "a", "2026-01-01T12:00:00Z"))[0]), "rejected:claim_window");
  EXPECT_EQ(outcome(h.process(order("o2", "a", "2026-01-02T12:00:00Z"))[0]), "granted");
  // a: per user, and the policy's once a day: the delivery's limit is reported.
  EXPECT_EQ(outcome(h.process(order("o3", "a", "2026-01-02T13:00:00Z"))[0]), "rejected:per_user_limit");
  EXPECT_EQ(outcome(h.process(order("o4", "b", "2026-01-02T14:00:00Z"))[0]), "granted");
  // c: the stock is spent and the claim window is over: stock comes first.
  EXPECT_EQ(outcome(h.process(order("o5", "c", "2026-01-05T00:00:00Z"))[0]), "rejected:stock");
  // a: per user, stock and claim window all fail: per user comes first.
  EXPECT_EQ(outcome(h.process(order("o6", "a", "2026-01-05T00:00:01Z"))[0]), "rejected:per_user_limit");
}

// ---- split -------------------------------------------------------------------------------------

TEST(EngineSplit, ControlShareIsDeterministicAndCloseToTheConfiguredPercent) {
  Compiled c = program(strategy("stock 1000000", "  split: control 10%\n"));
  ASSERT_EQ(c.program().strategies[0].control_basis_points, 1000);
  auto run = [&](bool reverse) {
    Harness h(c);
    std::set<std::string> control;
    for (int k = 0; k < 10000; ++k) {
      int i = reverse ? 9999 - k : k;
      std::string u = "user" + std::to_string(i);
      for (const auto& d : h.process(order("o" + std::to_string(k), u, "2026-01-01T00:00:00Z")))
        if (d.outcome == Outcome::Control) control.insert(d.user);
    }
    EXPECT_EQ(h.engine.stats().control, control.size());
    EXPECT_EQ(h.engine.stats().granted + control.size(), 10000u);
    return control;
  };
  auto a = run(false), b = run(true);
  EXPECT_EQ(a, b) << "the split must depend on the user and strategy only, not on arrival order";
  // 10% of 10000 is 1000; the binomial standard deviation is 30, so 4 sigma is 120.
  EXPECT_GT(a.size(), 880u);
  EXPECT_LT(a.size(), 1120u);
  std::cout << "[ split ] control users: " << a.size() << " of 10000 at 10%\n";
  // A control user stays in control on later events and is never granted.
  Harness h(c);
  std::string u = *a.begin();
  for (int k = 0; k < 3; ++k)
    EXPECT_EQ(outcome(h.process(order("x" + std::to_string(k), u, "2026-01-0" + std::to_string(k + 1) + "T00:00:00Z"))[0]), "control");
}

TEST(EngineSplit, FractionalPercent) {
  Compiled c = program(strategy("stock 1000000", "  split: control 2.5%\n"));
  EXPECT_EQ(c.program().strategies[0].control_basis_points, 250);
}

// ---- policies ----------------------------------------------------------------------------------

TEST(EnginePolicies, SameResourceTypeOncePerDay) {
  Compiled c = program(
      "resource coupon big { discount: 20 CNY }\n"
      "resource coupon small { discount: 5 CNY }\n"
      "resource points pts { amount: 10 }\n"
      "strategy low for business \"mall\" { who: true  when: on Order  what: grant small  priority: 1 }\n"
      "strategy high for business \"mall\" { who: true  when: on Order  what: grant big  priority: 9 }\n"
      "strategy other for business \"mall\" { who: true  when: on Order  what: grant pts  priority: 5 }\n"
      "policy p { same resource type once per day; }\n");
  Harness h(c);
  auto first = h.process(order("o1", "u", "2026-01-01T08:00:00Z"));
  ASSERT_EQ(first.size(), 3u);
  // Highest priority first: it wins the coupon; points are another type.
  EXPECT_EQ(c.program().strategies[first[0].strategy].name, "high");
  EXPECT_EQ(outcome(first[0]), "granted");
  EXPECT_EQ(c.program().strategies[first[1].strategy].name, "other");
  EXPECT_EQ(outcome(first[1]), "granted");
  EXPECT_EQ(c.program().strategies[first[2].strategy].name, "low");
  EXPECT_EQ(outcome(first[2]), "rejected:same_type");
  // Later the same UTC day: every type already granted today.
  EXPECT_EQ(outcomes(h.process(order("o2", "u", "2026-01-01T20:00:00Z"))),
            (std::vector<std::string>{"rejected:same_type", "rejected:same_type", "rejected:same_type"}));
  // The next day the cycle starts again.
  EXPECT_EQ(outcomes(h.process(order("o3", "u", "2026-01-02T00:00:00Z"))),
            (std::vector<std::string>{"granted", "granted", "rejected:same_type"}));
}

TEST(EnginePolicies, ChannelCap) {
  Compiled c = program(
      "resource sms hello { text: \"hi\" }\n"
      "strategy s for business \"mall\" { who: true  when: on Visit  what: send hello via SMS }\n"
      "policy p { SMS <= 2 per 1 day; }\n");
  Harness h(c);
  EXPECT_EQ(outcome(h.process(visit("v1", "u", "2026-01-01T08:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(visit("v2", "u", "2026-01-01T09:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(visit("v3", "u", "2026-01-01T10:00:00Z"))[0]), "rejected:channel_cap");
  EXPECT_EQ(outcome(h.process(visit("v4", "v", "2026-01-01T10:00:00Z"))[0]), "granted");  // per user
  // `per 1 day` is a sliding 24 hours: the 08:00 message leaves the window at 08:00 next day.
  EXPECT_EQ(outcome(h.process(visit("v5", "u", "2026-01-02T07:59:59Z"))[0]), "rejected:channel_cap");
  EXPECT_EQ(outcome(h.process(visit("v6", "u", "2026-01-02T08:00:00Z"))[0]), "granted");
}

TEST(EnginePolicies, ChannelCapOnlyCountsItsChannel) {
  Compiled c = program(
      "resource push note { body: \"hi\" }\n"
      "resource sms hello { text: \"hi\" }\n"
      "strategy a for business \"mall\" { who: true  when: on Visit  what: send note via Push, send hello via SMS }\n"
      "policy p { SMS <= 1 per day; }\n");
  Harness h(c);
  EXPECT_EQ(outcomes(h.process(visit("v1", "u", "2026-01-01T08:00:00Z"))), (std::vector<std::string>{"granted", "granted"}));
  EXPECT_EQ(outcomes(h.process(visit("v2", "u", "2026-01-01T09:00:00Z"))),
            (std::vector<std::string>{"granted", "rejected:channel_cap"}));
}

TEST(EnginePolicies, UnredeemedCouponsAndRedeemEvents) {
  Compiled c = program(
      "resource coupon c { discount: 5 CNY  use: within 7 days after claim }\n"
      "strategy s for business \"mall\" { who: true  when: on Order  what: grant c }\n"
      "policy p { unredeemed coupons per user <= 2; }\n");
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "u", "2026-01-01T00:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o2", "u", "2026-01-01T01:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o3", "u", "2026-01-01T02:00:00Z"))[0]), "rejected:unredeemed_limit");
  // Redeeming another resource's name changes nothing; redeeming `c` frees one slot.
  h.process(R"({"type":"Redeem","id":"r0","user":"u","time":"2026-01-01T02:30:00Z","resource":"other"})");
  EXPECT_EQ(outcome(h.process(order("o4", "u", "2026-01-01T02:40:00Z"))[0]), "rejected:unredeemed_limit");
  h.process(R"({"type":"Redeem","id":"r1","user":"u","time":"2026-01-01T03:00:00Z","resource":"c"})");
  EXPECT_EQ(outcome(h.process(order("o5", "u", "2026-01-01T04:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o6", "u", "2026-01-01T05:00:00Z"))[0]), "rejected:unredeemed_limit");
  // Another user's redemption does not help u.
  h.process(R"({"type":"Redeem","id":"r2","user":"w","time":"2026-01-01T06:00:00Z","resource":"c"})");
  EXPECT_EQ(outcome(h.process(order("o7", "u", "2026-01-01T07:00:00Z"))[0]), "rejected:unredeemed_limit");
  // Coupons past their use period no longer count as open: o2's grant (01:00) expires 7 days later.
  EXPECT_EQ(outcome(h.process(order("o8", "u", "2026-01-08T00:59:59Z")).back()), "rejected:unredeemed_limit");
  EXPECT_EQ(outcome(h.process(order("o9", "u", "2026-01-08T01:00:00Z")).back()), "granted");
}

TEST(EnginePolicies, PolicyForAnotherBusinessDoesNotApply) {
  Compiled c = program(
      "resource coupon c { discount: 5 CNY }\n"
      "strategy s for business \"mall\" { who: true  when: on Order  what: grant c }\n"
      "strategy t for business \"travel\" { who: true  when: on Visit  what: grant c }\n"
      "policy p for business \"travel\" { unredeemed coupons per user <= 1; }\n");
  Harness h(c);
  EXPECT_EQ(outcome(h.process(order("o1", "u", "2026-01-01T00:00:00Z"))[0]), "granted");
  EXPECT_EQ(outcome(h.process(order("o2", "u", "2026-01-01T00:00:01Z"))[0]), "granted");
  // The travel strategy sees the policy, and it counts every open coupon of the user.
  EXPECT_EQ(outcome(h.process(visit("v1", "u", "2026-01-01T00:00:02Z"))[0]), "rejected:unredeemed_limit");
}

// ---- ordering ----------------------------------------------------------------------------------

TEST(EngineOrder, PriorityThenName) {
  Compiled c = program(
      "resource points p { amount: 1 }\n"
      "strategy s_low for business \"mall\" { who: true  when: on Order  what: grant p  priority: 1 }\n"
      "strategy s_b for business \"mall\" { who: true  when: on Order  what: grant p  priority: 5 }\n"
      "strategy s_top for business \"mall\" { who: true  when: on Order  what: grant p  priority: 9 }\n"
      "strategy s_a for business \"mall\" { who: true  when: on Order  what: grant p  priority: 5 }\n"
      "strategy s_none for business \"mall\" { who: true  when: on Visit  what: grant p  priority: 99 }\n");
  Harness h(c);
  std::vector<std::string> names;
  for (const auto& d : h.process(order("o1", "u", "2026-01-01T00:00:00Z"))) names.push_back(c.program().strategies[d.strategy].name);
  EXPECT_EQ(names, (std::vector<std::string>{"s_top", "s_a", "s_b", "s_low"}));
}

TEST(EngineOrder, OutOfOrderEventIsRefusedEqualTimesAreFine) {
  Compiled c = program(strategy("stock 100"));
  Harness h(c);
  h.process(order("o1", "u", "2026-01-02T00:00:00Z"));
  h.process(order("o2", "v", "2026-01-02T00:00:00Z"));  // same instant: accepted
  crm::engine::Event ev = h.parse(order("o3", "u", "2026-01-01T23:59:59Z"));
  std::vector<Decision> out;
  std::string err;
  EXPECT_FALSE(h.engine.process(ev, out, err));
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(err, "out of order: 2026-01-01T23:59:59Z is before user `u`'s previous event at 2026-01-02T00:00:00Z");
  err.clear();
  EXPECT_FALSE(h.engine.observe(ev, err));
  EXPECT_NE(err.find("out of order"), std::string::npos);
  EXPECT_EQ(h.engine.stats().events, 2u);
}

TEST(EngineOrder, HistoryIncludesTheTriggeringEvent) {
  Compiled c = program(
      "resource points p { amount: 1 }\n"
      "strategy second for business \"mall\" { who: count(Order) == 2 and (last(Order.amount) ?? 0 CNY) == amount  when: on Order  what: grant p }\n");
  Harness h(c);
  EXPECT_TRUE(h.process(order("o1", "u", "2026-01-01T00:00:00Z", "7")).empty());
  EXPECT_EQ(outcomes(h.process(order("o2", "u", "2026-01-02T00:00:00Z", "8"))), std::vector<std::string>{"granted"});
  EXPECT_TRUE(h.process(order("o3", "u", "2026-01-03T00:00:00Z", "9")).empty());
}

// ---- the JSON Lines contract -------------------------------------------------------------------

namespace {

std::string parse_error(Harness& h, const std::string& line) {
  crm::engine::Event ev;
  std::string err;
  EXPECT_FALSE(h.engine.parse_event(line, ev, err)) << line;
  return err;
}

}  // namespace

TEST(EngineData, MalformedLinesGiveTheDocumentedErrors) {
  Compiled c = program("segment s = exists(Order)\n");
  Harness h(c);
  // Bad JSON: the column is named.
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1")"), "column 26: expected `,` or `}`");
  EXPECT_EQ(parse_error(h, R"({"type":"Order",})").rfind("column ", 0), 0u);
  EXPECT_EQ(parse_error(h, "not json").rfind("column 1:", 0), 0u);
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1"} trailing)"), "column 28: unexpected text after the object");
  // Type.
  EXPECT_EQ(parse_error(h, R"({"id":"o1","user":"u","time":"2026-01-01T00:00:00Z"})"),
            "missing `type` (a string naming the event type)");
  EXPECT_EQ(parse_error(h, R"({"type":"Ordr","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1})"),
            "unknown event type \"Ordr\"");
  // Missing fields.
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z"})"),
            "missing `amount` (Order events require it)");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","user":"u","time":"2026-01-01T00:00:00Z","amount":1})"), "missing `id`");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","time":"2026-01-01T00:00:00Z","amount":1})"), "missing `user`");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","amount":1})"), "missing `time`");
  // Wrongly typed fields.
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"paid":"yes"})"),
            "`paid` must be true or false");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"items":1.5})"),
            "`items` must be an integer");
  // Integers: the whole int64 range, and nothing past it (from_chars since the reader gives views;
  // strtoll before said the same).
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"items":9223372036854775808})"),
            "`items` must be an integer in range");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"items":-9223372036854775809})"),
            "`items` must be an integer in range");
  EXPECT_EQ(h.parse(R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"items":-9223372036854775808})")
                .fields[5],
            INT64_MIN);
  EXPECT_EQ(h.parse(R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"items":9223372036854775807})")
                .fields[5],
            INT64_MAX);
  // A repeated member the program reads is refused at the second (the last one used to count).
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","user":"v","time":"2026-01-01T00:00:00Z","amount":1,"amount":2})"),
            "column 38: member `user` appears twice (first at column 27)");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"amount":2})"),
            "column 79: member `amount` appears twice (first at column 68)");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":true})"),
            "`amount` must be a money amount");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":1.0000001})"),
            "`amount` must be a number with at most 6 decimal places");
  // A Money value is a JSON number, exponent form included, taken at its exact value; the text of a
  // numeric string follows the same grammar (Decimal::parse_json: before, `1e2` was refused and
  // "+100", "100." read as 100).
  auto amount = [&](const std::string& v) {
    crm::engine::Event ev;
    std::string err;
    std::string line = R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":)" + v + "}";
    return h.engine.parse_event(line, ev, err) ? crm::support::Decimal::from_units(ev.fields[3]).to_string() : err;
  };
  EXPECT_EQ(amount("1e2"), "100");
  EXPECT_EQ(amount("1E2"), "100");
  EXPECT_EQ(amount("1.0e2"), "100");
  EXPECT_EQ(amount("1e-6"), "0.000001");
  EXPECT_EQ(amount("1e-06"), "0.000001");
  EXPECT_EQ(amount("1.5e1"), "15");
  EXPECT_EQ(amount(R"("1e2")"), "100");
  EXPECT_EQ(amount("1e-7"), "`amount` must be a number with at most 6 decimal places");
  EXPECT_EQ(amount("1e-99999"), "`amount` must be a number with at most 6 decimal places");
  EXPECT_EQ(amount("1e400"), "`amount` must be a number between -9223372036854.775808 and 9223372036854.775807");
  EXPECT_EQ(amount(R"("+100")"), "`amount` must be a number, not \"+100\"");
  EXPECT_EQ(amount(R"("100.")"), "`amount` must be a number, not \"100.\"");
  EXPECT_EQ(amount(R"(" 100")"), "`amount` must be a number, not \" 100\"");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":7,"time":"2026-01-01T00:00:00Z","amount":1})"),
            "`user` must be a string");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T00:00:00Z","amount":null})"),
            "`amount` is null but not optional");
  // Bad times.
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"2026-13-01T00:00:00Z","amount":1})"),
            "`time` must be an ISO-8601 time, not \"2026-13-01T00:00:00Z\"");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":"yesterday","amount":1})"),
            "`time` must be an ISO-8601 time, not \"yesterday\"");
  EXPECT_EQ(parse_error(h, R"({"type":"Order","id":"o1","user":"u","time":1767225600,"amount":1})"),
            "`time` must be an ISO-8601 time string");
}

TEST(EngineData, AcceptedForms) {
  Compiled c = program("segment s = exists(Order)\n");
  Harness h(c);
  // Unknown members are ignored; optional and defaulted fields may be missing; a bare date is
  // midnight UTC; an offset is honoured.
  crm::engine::Event ev = h.parse(R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01","amount":"3.50","extra":[1,2]})");
  EXPECT_EQ(ev.time, T("2026-01-01T00:00:00Z"));
  EXPECT_EQ(ev.fields[3], 3500000);
  ev = h.parse(R"({"type":"Order","id":"o1","user":"u","time":"2026-01-01T08:00:00+08:00","amount":1})");
  EXPECT_EQ(ev.time, T("2026-01-01T00:00:00Z"));
  ev = h.parse(R"({"type":"Visit","id":"v1","user":"u","time":"2026-01-01T00:00:00Z"})");
  EXPECT_FALSE(ev.present[3]);  // page: String?
}

// Explain on an event older than the user's latest: the run refuses it (out of order), and so
// does explain, with the run's message. Before, explain appended it to a copy of the user that
// already held the later event and decided it there. The two windows share one ring (it keeps
// the longest window's entries, assumed in time order): with e2 appended after e3, the 30-day
// read at e2's time counted e3 (after `now`: the ring only checks its last entry for that), so 3
// orders instead of 2, and explain granted what neither the run (it refuses e2 after e3) nor the
// direct computation over e1, e2 in time order (no_match) gives.
TEST(Engine, ExplainOfAnEventOlderThanTheUsersLatestIsRefusedAsTheRunRefusesIt) {
  Compiled c = compile_text(R"(
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
strategy thrice { who: count(Order within 30 days) >= 3 and count(Order within 3 days) >= 1  when: on Order
                  what: grant c via App }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  auto order = [](const std::string& id, const std::string& time) {
    return R"({"type":"Order","id":")" + id + R"(","user":"u","time":")" + time + R"(","amount":10})";
  };
  Harness h(c);
  EXPECT_TRUE(h.feed(order("e1", "2026-01-15T00:00:00Z")).empty());  // 1 order within 30 days
  EXPECT_TRUE(h.feed(order("e3", "2026-02-10T00:00:00Z")).empty());  // 2
  crm::engine::Event old = h.parse(order("e2", "2026-01-21T00:00:00Z"));
  crm::engine::StrategyTrace t = h.engine.explain("u", 0, &old, old.time);
  std::vector<Decision> out;
  std::string err;
  EXPECT_FALSE(h.engine.process(old, out, err));  // what the run says
  EXPECT_EQ(t.verdict, "out_of_order");
  EXPECT_TRUE(t.decisions.empty());
  ASSERT_EQ(t.checks.size(), 1u);
  EXPECT_EQ(t.checks[0].clause, "order");
  EXPECT_FALSE(t.checks[0].passed);
  EXPECT_EQ(t.checks[0].detail, err);
  // The direct computation: the events up to e2 in time order, 2 orders within 30 days of e2:
  // no match.
  Harness direct(c);
  direct.feed(order("e1", "2026-01-15T00:00:00Z"));
  crm::engine::Event in_order = direct.parse(order("e2", "2026-01-21T00:00:00Z"));
  crm::engine::StrategyTrace d = direct.engine.explain("u", 0, &in_order, in_order.time);
  EXPECT_EQ(d.verdict, "no_match");
}

// ---- scheduled runs per step of the clock ------------------------------------------------------

namespace {

// Submits `line` (the stream contract, as `crm run`); the decisions' JSON, or "refused: ..." .
std::vector<std::string> submit(Harness& h, const std::string& line) {
  crm::engine::Event ev = h.parse(line);
  std::vector<Decision> out;
  std::string err;
  bool ok = h.engine.submit(ev, out, err);
  std::vector<std::string> json;
  for (const auto& d : out) json.push_back(h.engine.decision_json(d));
  if (!ok) json.push_back("refused: " + err);
  return json;
}

const char* kHourly = R"(
resource push hi { body: "hi" }
strategy hourly { who: true  when: every 1 hour  what: send hi via Push }
)";

}  // namespace

// An event far ahead of the stream (year 9999) would run every hourly instant up to it, about 70
// million, effectively forever: it is refused at once, before anything changes, naming the limit
// and how to raise it. The run then goes on exactly as if the line had never come.
TEST(EngineScheduleRuns, AnEventTooFarAheadIsRefusedAndChangesNothing) {
  Compiled c = program(kHourly);
  auto run = [&](bool with_far_event, size_t* units, std::string* refusal) {
    crm::state::MemoryStore store;
    Harness h(c);
    // The scheduled runs' limit alone: year 9999 is also far beyond --max-time-jump, whose
    // refusal comes first (EngineTimeJump.*).
    h.engine.set_max_time_jump(0);
    std::string err;
    EXPECT_TRUE(h.engine.attach(&store, err)) << err;
    std::vector<std::string> all;
    auto feed = [&](const std::string& line) {
      for (auto& j : submit(h, line)) all.push_back(j);
    };
    feed(visit("v1", "ann", "2026-01-01T00:00:00Z"));
    feed(visit("v2", "bob", "2026-01-01T02:30:00Z"));
    if (with_far_event) {
      const int64_t watermark = h.engine.watermark();
      const size_t events = h.engine.stats().events;
      auto r = submit(h, visit("v3", "cat", "9999-01-01T00:00:00Z"));
      EXPECT_EQ(r.size(), 1u);  // no decision: only the refusal
      if (refusal && !r.empty()) *refusal = r.back();
      EXPECT_EQ(h.engine.watermark(), watermark);
      EXPECT_EQ(h.engine.stats().events, events);
      // advance_to (a heartbeat, `crm run --until`) is bounded the same way.
      std::vector<Decision> out;
      EXPECT_FALSE(h.engine.advance_to(T("9999-01-01T00:00:00Z"), out, err));
      EXPECT_TRUE(out.empty());
      EXPECT_NE(err.find("too many scheduled runs at once: moving the clock to 9999-01-01T00:00:00Z"), std::string::npos)
          << err;
      EXPECT_EQ(h.engine.watermark(), watermark);
    }
    feed(visit("v4", "cat", "2026-01-01T04:00:00Z"));
    EXPECT_TRUE(h.engine.finish(h.decisions, err)) << err;
    EXPECT_TRUE(h.engine.commit(err)) << err;
    *units = size_t(store.unit_handle());
    return all;
  };
  size_t units_plain = 0, units_far = 0;
  std::string refusal;
  const auto plain = run(false, &units_plain, nullptr);
  const auto with_far = run(true, &units_far, &refusal);
  // Every decision and every unit of the ledger is the plain run's.
  EXPECT_EQ(with_far, plain);
  EXPECT_EQ(units_far, units_plain);
  EXPECT_EQ(refusal,
            "refused: too many scheduled runs at once: the event at 9999-01-01T00:00:00Z would bring more than 100000 "
            "scheduled runs due at once (strategy `hourly` among them; the stream's clock is at 2026-01-01T02:30:00Z), the "
            "limit per event or clock move; a time this far ahead is likely wrong, else raise the limit with "
            "--max-schedule-runs N (0: no limit)");
}

// The limit counts instants of every scheduled strategy, exactly: up to it an event is decided
// with its runs, one more is refused; 0 is no limit. With an allowed lateness the runs up to the
// event itself count (finish() runs them), and a refused event leaves the held ones held.
TEST(EngineScheduleRuns, TheLimitCountsEveryScheduledInstantUpToTheEvent) {
  Compiled c = program(std::string(kHourly) +
                       "strategy half { who: true  when: every 30 minutes between 2026-01-01T00:00Z and 2026-01-01T02:00Z  "
                       "what: send hi via Push }\n");
  {
    Harness h(c);
    h.engine.set_max_schedule_runs(5);
    // `half` runs at 00:00, before the event (no user is known yet): one run, no decision.
    EXPECT_TRUE(submit(h, visit("v1", "ann", "2026-01-01T00:00:00Z")).empty());
    // 01:00 hourly; 00:30, 01:00, 01:30 half: 4 runs.
    EXPECT_EQ(submit(h, visit("v2", "ann", "2026-01-01T01:30:00Z")).size(), 4u);
    // 02:00 .. 06:00 hourly: 5 runs (half's window is over); 07:00 would be a sixth.
    auto r = submit(h, visit("v3", "ann", "2026-01-01T07:00:00Z"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(r[0].find("would bring more than 5 scheduled runs"), std::string::npos) << r[0];
    EXPECT_EQ(submit(h, visit("v3", "ann", "2026-01-01T06:00:00Z")).size(), 5u);
    h.engine.set_max_schedule_runs(0);
    EXPECT_EQ(submit(h, visit("v4", "ann", "2026-01-02T06:00:00Z")).size(), 24u);
  }
  {
    Harness h(c);
    h.engine.set_max_schedule_runs(6);
    h.engine.set_allowed_lateness(2 * 3600 * 1000000LL);
    EXPECT_TRUE(submit(h, visit("v1", "ann", "2026-01-01T00:10:00Z")).empty());  // held
    // The watermark would be 01:50 (5 runs: half 00:00 .. 01:30, hourly 01:00), but the runs up
    // to the event at 03:50 count: hourly 02:00 and 03:00 too, 7.
    auto r = submit(h, visit("v2", "bob", "2026-01-01T03:50:00Z"));
    ASSERT_EQ(r.size(), 1u);
    EXPECT_NE(r[0].find("refused: too many scheduled runs at once"), std::string::npos) << r[0];
    EXPECT_EQ(h.engine.held(), 1u);
    EXPECT_EQ(h.engine.watermark(), T("2025-12-31T22:10:00Z"));
    std::vector<Decision> out;
    std::string err;
    EXPECT_TRUE(h.engine.finish(out, err)) << err;
    EXPECT_EQ(h.engine.stats().events, 1u);  // the held event decided; the refused one never was
  }
}

// ---- how far ahead of the clock one step may be --------------------------------------------------

namespace {

const char* kGreet = R"(
resource push hi { body: "hi" }
strategy greet { who: true  when: on Visit  what: send hi via Push }
)";

std::string refused(const std::vector<std::string>& r) { return r.size() == 1 && r[0].rfind("refused: ", 0) == 0 ? r[0] : ""; }

}  // namespace

// A typo in the year (2062 for 2026) moved the clock 36 years on: every later event of the
// stream was refused as late. Such an event is refused at once, naming its time, the clock and
// the option; it is not decided, the clock stays, and the next event is decided as usual.
TEST(EngineTimeJump, AnEventTooFarAheadIsRefusedAndTheClockStays) {
  Compiled c = program(kGreet);
  Harness h(c);
  EXPECT_EQ(h.engine.max_time_jump(), int64_t(366) * 86400 * 1000000);  // the default
  EXPECT_EQ(submit(h, visit("v1", "ann", "2026-01-01T00:00:00Z")).size(), 1u);
  EXPECT_EQ(submit(h, visit("v2", "bob", "2026-01-02T00:00:00Z")).size(), 1u);
  const int64_t watermark = h.engine.watermark();
  EXPECT_EQ(refused(submit(h, visit("v3", "cat", "2062-01-02T00:00:00Z"))),
            "refused: too far ahead: the event at 2062-01-02T00:00:00Z is 13149 days after the stream's clock at "
            "2026-01-02T00:00:00Z, more than --max-time-jump allows (366 days); a time this far ahead is likely wrong (a "
            "typo in the year?) and would make every later event late, else raise the limit with --max-time-jump D (0: no "
            "limit)");
  EXPECT_EQ(h.engine.watermark(), watermark);
  EXPECT_EQ(h.engine.stats().events, 2u);
  EXPECT_FALSE(h.engine.has_user("cat"));
  // The next event of the stream is decided, not late.
  auto next = submit(h, visit("v4", "cat", "2026-01-03T00:00:00Z"));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_NE(next[0].find("\"outcome\":\"granted\""), std::string::npos) << next[0];
  // A clock move (a heartbeat, `crm run --until`) that far is refused the same way.
  std::vector<Decision> out;
  std::string err;
  EXPECT_FALSE(h.engine.advance_to(T("2062-01-02T00:00:00Z"), out, err));
  EXPECT_NE(err.find("too far ahead: moving the clock to 2062-01-02T00:00:00Z is 13148 days after the stream's clock at "
                     "2026-01-03T00:00:00Z"),
            std::string::npos)
      << err;
  EXPECT_EQ(h.engine.watermark(), T("2026-01-03T00:00:00Z"));
  EXPECT_TRUE(h.engine.advance_to(T("2026-06-01T00:00:00Z"), out, err)) << err;
}

// The limit is exact: a step of exactly the limit is taken, one second more is not; each step is
// measured from the clock it starts at (so a stream may go on by steps within it); 0 is no
// limit (and then the far event makes the later ones late, as before the limit existed).
TEST(EngineTimeJump, ExactlyTheLimitIsAcceptedAndZeroIsNoLimit) {
  Compiled c = program(kGreet);
  {
    Harness h(c);
    EXPECT_EQ(submit(h, visit("v1", "ann", "2026-01-03T00:00:00Z")).size(), 1u);
    // 2026 has 365 days: 366 days on is 2027-01-04.
    EXPECT_NE(refused(submit(h, visit("v2", "ann", "2027-01-04T00:00:01Z"))), "");
    EXPECT_EQ(submit(h, visit("v2", "ann", "2027-01-04T00:00:00Z")).size(), 1u);
    EXPECT_EQ(submit(h, visit("v3", "ann", "2028-01-05T00:00:00Z")).size(), 1u);  // 366 days again (2027: 365)
  }
  {
    Harness h(c);
    h.engine.set_max_time_jump(3600 * 1000000LL);
    EXPECT_EQ(submit(h, visit("v1", "ann", "2026-01-01T00:00:00Z")).size(), 1u);
    auto r = refused(submit(h, visit("v2", "ann", "2026-01-01T01:00:01Z")));
    EXPECT_NE(r.find("is 1 hour 1 second after the stream's clock at 2026-01-01T00:00:00Z, more than --max-time-jump "
                     "allows (1 hour)"),
              std::string::npos)
        << r;
    EXPECT_EQ(submit(h, visit("v2", "ann", "2026-01-01T01:00:00Z")).size(), 1u);
  }
  {
    Harness h(c);
    h.engine.set_max_time_jump(0);
    EXPECT_EQ(submit(h, visit("v1", "ann", "2026-01-01T00:00:00Z")).size(), 1u);
    EXPECT_EQ(submit(h, visit("v2", "bob", "2062-01-01T00:00:00Z")).size(), 1u);
    EXPECT_NE(refused(submit(h, visit("v3", "cat", "2026-01-02T00:00:00Z"))).find("late"), std::string::npos);
  }
  {
    // A stream's first event has no clock to be ahead of: never refused.
    Harness h(c);
    EXPECT_EQ(submit(h, visit("v1", "ann", "2062-01-01T00:00:00Z")).size(), 1u);
  }
}

// With a ledger, the clock before the stream's first event is the ledger's latest decision: a
// restarted run (or one given only the new events) cannot start 36 years on. Once the stream
// has a clock of its own, steps are measured from it (a replay from the start is judged as the
// first run was). The ledger's clock is read from every row, also the rows a restore filter
// keeps from this engine (each of several engines has the same one).
// The ledger's clock is its latest event, not only its latest decision: an event that decided
// nothing is a unit with its time. A campaign whose last decision was long before its last event
// used to have its next run's first event refused as too far ahead.
TEST(EngineTimeJump, TheLedgersClockCountsEventsThatDecidedNothing) {
  Compiled c = program(kGreet);
  const std::string path = ::testing::TempDir() + "crm_time_jump_units_" + std::to_string(::getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);
  std::string err;
  {
    auto store = crm::state::open_sqlite_store(path, err);
    ASSERT_TRUE(store) << err;
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(store.get(), err)) << err;
    EXPECT_EQ(submit(h, visit("v1", "ann", "2026-01-01T00:00:00Z")).size(), 1u);
    EXPECT_EQ(submit(h, order("o1", "ann", "2026-06-01T00:00:00Z")).size(), 0u);  // no strategy on Order
    ASSERT_TRUE(h.engine.commit(err)) << err;
  }
  auto store = crm::state::open_sqlite_store(path, err);
  ASSERT_TRUE(store) << err;
  Harness h(c);
  ASSERT_TRUE(h.engine.attach(store.get(), err)) << err;
  EXPECT_EQ(h.engine.ledger_clock(), T("2026-06-01T00:00:00Z"));
  // 334 days after the last event, 485 after the last decision: within the default 366 days.
  EXPECT_EQ(submit(h, visit("v2", "bob", "2027-05-01T00:00:00Z")).size(), 1u);
  store.reset();
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);
}

TEST(EngineTimeJump, TheLedgersClockCountsBeforeTheStreamHasOne) {
  Compiled c = program(kGreet);
  const std::string path = ::testing::TempDir() + "crm_time_jump_" + std::to_string(::getpid()) + ".db";
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);
  std::string err;
  {
    auto store = crm::state::open_sqlite_store(path, err);
    ASSERT_TRUE(store) << err;
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(store.get(), err)) << err;
    EXPECT_EQ(h.engine.ledger_clock(), INT64_MIN);  // a new ledger has none
    EXPECT_EQ(submit(h, visit("v1", "ann", "2026-01-01T00:00:00Z")).size(), 1u);
    EXPECT_EQ(submit(h, visit("v2", "bob", "2026-03-01T00:00:00Z")).size(), 1u);
    ASSERT_TRUE(h.engine.commit(err)) << err;
  }
  for (bool filtered : {false, true}) {
    SCOPED_TRACE(filtered ? "a restore filter keeping no user" : "every user");
    auto store = crm::state::open_sqlite_store(path, err);
    ASSERT_TRUE(store) << err;
    Harness h(c);
    if (filtered) h.engine.set_restore_filter([](std::string_view) { return false; });
    ASSERT_TRUE(h.engine.attach(store.get(), err)) << err;
    EXPECT_EQ(h.engine.ledger_clock(), T("2026-03-01T00:00:00Z"));
    EXPECT_EQ(refused(submit(h, visit("v3", "cat", "2062-03-01T00:00:00Z"))),
              "refused: too far ahead: the event at 2062-03-01T00:00:00Z is 13149 days after the ledger's clock (its "
              "latest event or decision) at 2026-03-01T00:00:00Z, more than --max-time-jump allows (366 days); a time this far "
              "ahead is likely wrong (a typo in the year?) and would make every later event late, else raise the limit "
              "with --max-time-jump D (0: no limit)");
    EXPECT_EQ(h.engine.watermark(), INT64_MIN);
    // A replay from the start: its first event is before the ledger's clock; from then on the
    // stream's clock counts, so what the first run accepted is accepted again.
    EXPECT_EQ(submit(h, visit("v1", "ann", "2026-01-01T00:00:00Z")).size(), 1u);
    EXPECT_EQ(submit(h, visit("v2", "bob", "2026-03-01T00:00:00Z")).size(), 1u);
    EXPECT_NE(refused(submit(h, visit("v3", "cat", "2062-03-01T00:00:00Z"))), "");
    // (Nothing new is decided before the second pass reads the ledger's clock again.)
    if (filtered) {
      EXPECT_EQ(submit(h, visit("v4", "cat", "2026-03-02T00:00:00Z")).size(), 1u);
    }
  }
  {
    // Without the limit the ledger's clock does not matter.
    auto store = crm::state::open_sqlite_store(path, err);
    ASSERT_TRUE(store) << err;
    Harness h(c);
    h.engine.set_max_time_jump(0);
    ASSERT_TRUE(h.engine.attach(store.get(), err)) << err;
    EXPECT_EQ(submit(h, visit("v5", "cat", "2062-03-01T00:00:00Z")).size(), 1u);
  }
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);
}

// ---- List<T>: order and duplicates ----------------------------------------------------------
//
// A list keeps its elements as written or as the JSON array gives them, duplicates included: len
// counts them all, message texts render them in order, `in` finds any; a Set<T> stays sorted
// and distinct. (Before format v16 every collection was stored as a set.)

namespace {

const char* kLists = R"(
profile { nickname: String  recent: List<Int> = [3, 1, 2, 3]  tags: List<String>  seen: Set<Int> = {3, 1, 2, 3} }
event Visit { page: String  xs: List<Int> = []  ys: Set<Int> = {} }
resource sms hi { text: "Hi {nickname}: {recent} / {tags} / {seen}" cost: 0.01 CNY }
resource points p { amount: 1 }
strategy counted {
    who: len(recent) == 4 and len(tags) == 3 and len(seen) == 3 and len([3, 1, 2, 3]) == 4 and len({3, 1, 2, 3}) == 3
    when: on Visit where: len(xs) == 3 and len(ys) == 2 and 5 in xs and 4 not in xs
    what: grant p
}
strategy texts for business "mall" {
    who: "b" in tags and "c" not in tags and 2 in recent
    when: on Visit
    what: send hi via SMS
    how much: budget 1 CNY
}
)";

std::string list_visit(const std::string& id, const std::string& user, const std::string& extra) {
  return R"({"type":"Visit","id":")" + id + R"(","user":")" + user + R"(","time":"2026-06-01T08:00:00Z","page":"home")" +
         extra + "}";
}

}  // namespace

TEST(Lists, JsonArraysKeepOrderAndDuplicatesInProfilesAndEvents) {
  Compiled c = compile_text(kLists);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  std::string err;
  ASSERT_TRUE(h.engine.load_profile_line(R"({"user":"ann","nickname":"Ann","tags":["b","a","b"],"recent":[9,2,9,1]})", err))
      << err;
  const auto& p = c.program();
  auto profile = h.engine.profile_of("ann");
  ASSERT_TRUE(profile);
  const auto& store = h.engine.collections();
  auto texts = [&](int64_t handle) {
    std::vector<std::string> out;
    for (int64_t id : store.items(handle)) out.emplace_back(h.engine.strings().text(id));
    return out;
  };
  EXPECT_EQ(texts((*profile)[p.find_profile_field("tags")]), (std::vector<std::string>{"b", "a", "b"}));
  EXPECT_EQ(store.items((*profile)[p.find_profile_field("recent")]), (std::vector<int64_t>{9, 2, 9, 1}));
  crm::engine::Event ev = h.parse(list_visit("e1", "ann", R"(,"xs":[5,5,1],"ys":[7,6,7])"));
  int xs = -1, ys = -1;
  const auto& visit = p.events[ev.type];
  for (size_t i = 0; i < visit.fields.size(); ++i) {
    if (visit.fields[i].name == "xs") xs = int(i);
    if (visit.fields[i].name == "ys") ys = int(i);
  }
  ASSERT_GE(xs, 0);
  ASSERT_GE(ys, 0);
  EXPECT_EQ(store.items(ev.fields[xs]), (std::vector<int64_t>{5, 5, 1}));
  EXPECT_EQ(store.size(ev.fields[xs]), 3);
  EXPECT_EQ(store.items(ev.fields[ys]), (std::vector<int64_t>{6, 7}));  // a set: sorted, distinct
  EXPECT_TRUE(store.contains(ev.fields[xs], 1));
  EXPECT_FALSE(store.contains(ev.fields[xs], 2));
}

TEST(Lists, LenCountsDuplicatesAndMessageTextsRenderInOrder) {
  Compiled c = compile_text(kLists);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  std::string err;
  // ann: the default `recent` [3, 1, 2, 3]; bob: his own [2, 2, 1] (len 3, so `counted` rejects him).
  ASSERT_TRUE(h.engine.load_profile_line(R"({"user":"ann","nickname":"Ann","tags":["b","a","b"]})", err)) << err;
  ASSERT_TRUE(h.engine.load_profile_line(R"({"user":"bob","nickname":"Bob","tags":["b","a","b"],"recent":[2,2,1]})", err)) << err;
  auto out = h.process(list_visit("e1", "ann", R"(,"xs":[5,5,1],"ys":[7,6,7])"));
  std::map<std::string, Decision> by;
  for (const auto& d : out) by[h.engine.program().strategies[d.strategy].name] = d;
  ASSERT_EQ(by.count("counted"), 1u);
  EXPECT_EQ(by["counted"].outcome, Outcome::Granted);
  ASSERT_EQ(by.count("texts"), 1u);
  EXPECT_EQ(by["texts"].outcome, Outcome::Granted);
  EXPECT_EQ(by["texts"].text, "Hi Ann: 3, 1, 2, 3 / b, a, b / 1, 2, 3");
  out = h.process(list_visit("e2", "bob", R"(,"xs":[5,5,1],"ys":[7,6,7])"));
  by.clear();
  for (const auto& d : out) by[h.engine.program().strategies[d.strategy].name] = d;
  EXPECT_EQ(by.count("counted"), 0u);  // len(recent) is 3
  ASSERT_EQ(by.count("texts"), 1u);
  EXPECT_EQ(by["texts"].text, "Hi Bob: 2, 2, 1 / b, a, b / 1, 2, 3");
  // An event whose list has no 5, or only two elements, does not pass `where:`.
  out = h.process(list_visit("e3", "ann", R"(,"xs":[1,5],"ys":[7,6,7])"));
  for (const auto& d : out) EXPECT_NE(h.engine.program().strategies[d.strategy].name, "counted");
}
