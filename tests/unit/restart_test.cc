// restart_test.cc - a run cut after any event and restarted on the same input (the ledger's rows
// rebuilt into counters, caps, held messages) decides exactly as the uninterrupted run
// (docs/semantics.md, "Durable state"). Each case was once decided differently after a restart.
#include <gtest/gtest.h>

#include "compile_helpers.h"
#include "runtime/state/redis_quotas.h"
#include "runtime/state/state_store.h"

#include <cstdio>
#include <map>

namespace {

using crm::testing::Compiled;
using crm::testing::compile_text;
using crm::testing::Harness;

struct Visit {
  std::string user, time;
};

std::string line(size_t i, const Visit& v) {
  return R"({"type":"Visit","id":"e)" + std::to_string(i) + R"(","user":")" + v.user + R"(","time":")" + v.time +
         R"(","page":"home"})";
}

// Runs `visits` uninterrupted, then cut after each event and restarted on the whole input; every
// restarted output must equal the uninterrupted one, which must contain `expect` (the case's point).
void expect_restarts_decide_alike(const std::string& program, const std::vector<Visit>& visits, const std::string& expect) {
  Compiled c = compile_text("event Visit { page: String }\n" + program);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  std::string err;
  std::vector<std::string> reference;
  {
    crm::state::MemoryStore fresh;
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(&fresh, err)) << err;
    for (size_t i = 0; i < visits.size(); ++i)
      for (auto& j : h.feed(line(i, visits[i]))) reference.push_back(j);
  }
  size_t hits = 0;
  for (const auto& j : reference) hits += j.find(expect) != std::string::npos;
  EXPECT_GE(hits, 1u) << "the uninterrupted run should have " << expect;
  for (size_t cut = 1; cut < visits.size(); ++cut) {
    SCOPED_TRACE("cut after event " + std::to_string(cut));
    crm::state::MemoryStore store;
    {
      Harness h(c);
      ASSERT_TRUE(h.engine.attach(&store, err)) << err;
      for (size_t i = 0; i < cut; ++i) h.feed(line(i, visits[i]));
      ASSERT_TRUE(h.engine.commit(err)) << err;
    }
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(&store, err)) << err;
    std::vector<std::string> restarted;
    for (size_t i = 0; i < visits.size(); ++i)
      for (auto& j : h.feed(line(i, visits[i]))) restarted.push_back(j);
    EXPECT_EQ(restarted, reference);
  }
}

const std::string kResources = R"(
resource coupon c { discount: 5 CNY }
resource push hi { body: "a coupon for you" }
)";
const std::string kNight = "policy night { quiet between 22:00 and 08:00; }\n";

std::string strategy(const std::string& what, const std::string& how) {
  return "strategy welcome for business \"app\" {\n    who: true\n    when: on Visit\n    what: " + what +
         "\n    how much: " + how + "\n    zone: \"Asia/Shanghai\"\n}\n";
}

// 23:00 in Beijing (held), then mornings after 08:00.
const std::vector<Visit> kFour = {{"ann", "2026-01-01T15:00:00Z"}, {"bob", "2026-01-02T01:00:00Z"},
                                  {"cat", "2026-01-02T02:00:00Z"}, {"dan", "2026-01-02T03:00:00Z"}};

}  // namespace

// Stock is recounted as the engine counted it: a delivery whose message is held counts when it is
// held, its release counts for nothing. Counting the release instead over-granted (a delivery
// still held at the cut was not counted), under-granted (a coupon and a held push counted twice)
// and lost a delivery whose release the channel cap refused.
TEST(Restart, AHeldMessagesDeliveryCountsForStockOnce) {
  expect_restarts_decide_alike(kResources + kNight + strategy("send hi via Push", "stock 2"), kFour, "\"reason\":\"stock\"");
}

TEST(Restart, ACouponAndAHeldPushAreOneDeliveryOfStock) {
  expect_restarts_decide_alike(kResources + kNight + strategy("grant c via App, send hi via Push", "stock 3"), kFour,
                               "\"reason\":\"stock\"");
}

TEST(Restart, APoolsStockCountsAHeldMessagesDeliveryOnce) {
  expect_restarts_decide_alike(
      kResources + kNight + "pool shared { stock 3 }\n" + strategy("grant c via App, send hi via Push", "from pool shared"),
      kFour, "\"reason\":\"pool_stock\"");
}

TEST(Restart, AReleaseTheChannelCapRefusesStillCountedForStock) {
  // Two pushes held the same night: the second's release is refused by the channel cap; both
  // deliveries counted when held.
  expect_restarts_decide_alike(
      kResources + "policy night { quiet between 22:00 and 08:00; Push <= 1 per day; }\n" + strategy("send hi via Push", "stock 3"),
      {{"ann", "2026-01-05T14:30:00Z"}, {"ann", "2026-01-05T15:30:00Z"}, {"bob", "2026-01-06T02:00:00Z"},
       {"cat", "2026-01-06T03:00:00Z"}},
      "\"reason\":\"stock\"");
}

// Two events of one user at one instant are two deliveries (two work units): the per-user cap
// restored them as one and granted a third.
TEST(Restart, TwoDeliveriesAtOneInstantCountTwiceForAPerUserCap) {
  expect_restarts_decide_alike(kResources + strategy("grant c via App", "per user 2 per day"),
                               {{"ann", "2026-01-02T02:00:00Z"}, {"ann", "2026-01-02T02:00:00Z"},
                                {"ann", "2026-01-02T02:00:00Z"}, {"ann", "2026-01-02T03:00:00Z"}},
                               "\"reason\":\"per_user_limit\"");
}

// Two messages held at one instant for one user are two releases: a restart released one and
// lost the other.
TEST(Restart, TwoMessagesHeldAtOneInstantAreBothReleased) {
  expect_restarts_decide_alike(kResources + kNight + strategy("send hi via Push", "per user 5 per day"),
                               {{"ann", "2026-01-01T15:00:00Z"}, {"ann", "2026-01-01T15:00:00Z"}, {"bob", "2026-01-02T01:00:00Z"}},
                               "\"held_at\"");
}

// `crm shared reconcile` and `show` count a ledger as a restart does (state::ledger_totals, read
// without the writer's lock): a delivery whose message is still held counts, its release does
// not. Reading the rows without `granted_at` counted each release as a delivery of its own.
TEST(Restart, SharedCountersAreReconciledFromALedgerAsARestartCountsIt) {
  Compiled c = compile_text("event Visit { page: String }\n" + kResources + kNight + strategy("send hi via Push", "stock 5"));
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const std::string path = ::testing::TempDir() + "crm_restart_reconcile.db";
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::remove((path + suffix).c_str());
  std::string err;
  auto totals = [&](size_t events) {
    {
      auto store = crm::state::open_store("sqlite:" + path, err);
      EXPECT_TRUE(store) << err;
      if (!store) return int64_t(-1);
      Harness h(c);
      EXPECT_TRUE(h.engine.attach(store.get(), err)) << err;
      for (size_t i = 0; i < events; ++i) h.feed(line(i, kFour[i]));
      EXPECT_TRUE(h.engine.commit(err)) << err;
    }
    std::map<std::string, crm::state::Quota> q;
    EXPECT_TRUE(crm::state::ledger_totals(path, q, err)) << err;
    return q["welcome"].deliveries;
  };
  EXPECT_EQ(totals(1), 1) << "ann's push, still held, is a delivery";
  EXPECT_EQ(totals(2), 2) << "ann's released push (one delivery) and bob's";
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::remove((path + suffix).c_str());
}

// The same with a control group between: another strategy's control row of each unit, before
// this strategy's rows or after them, must not join the two units' deliveries of this one.
TEST(Restart, AnotherStrategysControlRowsDoNotJoinTwoDeliveriesAtOneInstant) {
  for (const auto& [probe, welcome] : {std::pair{"2", "1"}, std::pair{"1", "2"}}) {
    SCOPED_TRACE(std::string("probe's priority ") + probe);
    expect_restarts_decide_alike(kResources + R"(
strategy probe for business "app" {
    who: true
    when: on Visit
    what: send hi via Push
    split: control 99% salt "probe"
    priority: )" + probe + R"(
}
strategy welcome for business "app" {
    who: true
    when: on Visit
    what: grant c via App
    how much: per user 2 per day
    priority: )" + welcome + R"(
}
)",
                                 {{"ann", "2026-01-02T02:00:00Z"}, {"ann", "2026-01-02T02:00:00Z"},
                                  {"ann", "2026-01-02T02:00:00Z"}, {"ann", "2026-01-02T03:00:00Z"}},
                                 "\"outcome\":\"control\"");
  }
}
