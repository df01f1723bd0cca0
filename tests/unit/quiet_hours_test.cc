// quiet_hours_test.cc - messages met by quiet hours (issue 9, item 16) are held and sent when the
// quiet hours end, if the user's policies still allow them then, unless the policy says `drop`;
// held messages survive a restart, as expiries do.
#include <gtest/gtest.h>

#include "compile_helpers.h"
#include "runtime/state/state_store.h"

namespace {

using crm::testing::Compiled;
using crm::testing::compile_text;
using crm::testing::Harness;
using crm::testing::T;

std::string visit(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"type":"Visit","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + R"(","page":"home"})";
}

// "outcome[:reason] user at" per decision.
std::vector<std::string> rows(Harness& h, const std::string& line) {
  std::vector<std::string> out;
  for (const auto& d : h.process(line))
    out.push_back(std::string(crm::engine::outcome_name(d.outcome)) + (d.reason == crm::engine::Reason::None ? "" : std::string(":") + crm::engine::reason_name(d.reason)) + " " +
                  d.user + " " + crm::support::format_time(d.at));
  return out;
}

Compiled program(const std::string& policy, const std::string& zone) {
  Compiled c = compile_text(R"(
event Visit { page: String }
resource coupon c { discount: 5 CNY }
resource push hi { body: "a coupon for you" }
)" + policy + R"(
strategy welcome for business "app" {
    who: true
    when: on Visit
    what: grant c via App, send hi via Push
    zone: ")" + zone + R"("
}
)");
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c;
}

using V = std::vector<std::string>;

}  // namespace

TEST(QuietHours, AMessageIsHeldAcrossMidnightAndSentWhenTheyEnd) {
  Compiled c = program("policy night { quiet between 22:00 and 08:00; }", "Asia/Shanghai");
  Harness h(c);
  // 23:00 in Beijing: the coupon now, the push held.
  EXPECT_EQ(rows(h, visit("e1", "ann", "2026-01-01T15:00:00Z")),
            (V{"granted ann 2026-01-01T15:00:00Z", "held:quiet_hours ann 2026-01-01T15:00:00Z"}));
  // After midnight, still quiet: nothing is sent yet; bob's push is held too.
  EXPECT_EQ(rows(h, visit("e2", "bob", "2026-01-01T19:00:00Z")),
            (V{"granted bob 2026-01-01T19:00:00Z", "held:quiet_hours bob 2026-01-01T19:00:00Z"}));
  // The next unit after 08:00 Beijing (00:00Z) sends both, at 08:00, naming when they were held.
  auto out = h.process(visit("e3", "cat", "2026-01-02T03:00:00Z"));
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(h.engine.decision_json(out[0]).find("\"held_at\":\"2026-01-01T15:00:00Z\"") != std::string::npos, true)
      << h.engine.decision_json(out[0]);
  EXPECT_EQ(out[0].outcome, crm::engine::Outcome::Granted);
  EXPECT_EQ(out[0].at, T("2026-01-02T00:00:00Z"));
  EXPECT_EQ(out[1].user, "bob");
  EXPECT_EQ(out[1].outcome, crm::engine::Outcome::Granted);
  EXPECT_EQ(out[2].user, "cat");
  EXPECT_EQ(h.engine.stats().held, 2u);
}

TEST(QuietHours, DropDiscardsTheMessage) {
  Compiled c = program("policy night { quiet between 22:00 and 08:00 drop; }", "Asia/Shanghai");
  Harness h(c);
  EXPECT_EQ(rows(h, visit("e1", "ann", "2026-01-01T15:00:00Z")),
            (V{"granted ann 2026-01-01T15:00:00Z", "rejected:quiet_hours ann 2026-01-01T15:00:00Z"}));
  EXPECT_EQ(rows(h, visit("e2", "bob", "2026-01-02T03:00:00Z")).size(), 2u);  // nothing released
}

TEST(QuietHours, AReleaseStillMeetsTheCapsOfItsTime) {
  Compiled c = program("policy night { quiet between 22:00 and 08:00; Push <= 1 per day; }", "Asia/Shanghai");
  Harness h(c);
  rows(h, visit("e1", "ann", "2026-01-01T15:00:00Z"));  // held until 08:00 on 2 Jan
  // 09:00 on 2 Jan: the held push goes first (08:00) and fills the day's Push cap, so this
  // visit's own push is refused.
  EXPECT_EQ(rows(h, visit("e2", "ann", "2026-01-02T01:00:00Z")),
            (V{"granted ann 2026-01-02T00:00:00Z", "granted ann 2026-01-02T01:00:00Z",
               "rejected:channel_cap ann 2026-01-02T01:00:00Z"}));
  // Two pushes held the same night (held messages are not grants yet, so the cap lets both wait):
  // at 08:00 the first is sent and fills the day's cap, the second is refused.
  EXPECT_EQ(rows(h, visit("e3", "ann", "2026-01-05T14:30:00Z")),
            (V{"granted ann 2026-01-05T14:30:00Z", "held:quiet_hours ann 2026-01-05T14:30:00Z"}));
  EXPECT_EQ(rows(h, visit("e4", "ann", "2026-01-05T15:30:00Z")),
            (V{"granted ann 2026-01-05T15:30:00Z", "held:quiet_hours ann 2026-01-05T15:30:00Z"}));
  EXPECT_EQ(rows(h, visit("e5", "bob", "2026-01-06T02:00:00Z")),
            (V{"granted ann 2026-01-06T00:00:00Z", "rejected:channel_cap ann 2026-01-06T00:00:00Z",
               "granted bob 2026-01-06T02:00:00Z", "granted bob 2026-01-06T02:00:00Z"}));
}

TEST(QuietHours, TheEndFollowsTheLocalClockAcrossDaylightSaving) {
  // New York, clocks forward on Sunday 8 March 2026: 08:00 EDT is 12:00Z (13:00Z the day before).
  Compiled c = program("policy night { quiet between 22:00 and 08:00; }", "America/New_York");
  Harness h(c);
  rows(h, visit("e1", "ann", "2026-03-08T04:00:00Z"));  // 23:00 EST on 7 March
  EXPECT_EQ(rows(h, visit("e2", "bob", "2026-03-08T12:30:00Z")),
            (V{"granted ann 2026-03-08T12:00:00Z", "granted bob 2026-03-08T12:30:00Z", "granted bob 2026-03-08T12:30:00Z"}));
}

TEST(QuietHours, HeldMessagesSurviveARestart) {
  Compiled c = program("policy night { quiet between 22:00 and 08:00; }", "Asia/Shanghai");
  crm::state::MemoryStore store;
  std::string err;
  std::vector<std::string> reference;
  {
    crm::state::MemoryStore fresh;
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(&fresh, err)) << err;
    for (const char* e : {"2026-01-01T15:00:00Z", "2026-01-02T03:00:00Z", "2026-01-02T04:00:00Z"})
      for (auto& j : h.feed(visit(std::string("e") + e, "ann", e))) reference.push_back(j);
  }
  {
    Harness h(c);
    ASSERT_TRUE(h.engine.attach(&store, err)) << err;
    h.feed(visit("e2026-01-01T15:00:00Z", "ann", "2026-01-01T15:00:00Z"));
    ASSERT_TRUE(h.engine.commit(err)) << err;
  }
  Harness h(c);
  ASSERT_TRUE(h.engine.attach(&store, err)) << err;
  std::vector<std::string> restarted;
  for (const char* e : {"2026-01-01T15:00:00Z", "2026-01-02T03:00:00Z", "2026-01-02T04:00:00Z"})
    for (auto& j : h.feed(visit(std::string("e") + e, "ann", e))) restarted.push_back(j);
  EXPECT_EQ(restarted, reference);
  size_t released = 0;
  for (const auto& j : restarted) released += j.find("\"held_at\"") != std::string::npos;
  EXPECT_EQ(released, 1u);  // sent once, not twice and not never
}

// Stock (a strategy's and a pool's) is recounted from the ledger at a restart as the engine
// counted it: a delivery whose message is held counts when it is held, and its release counts
// for nothing. A run cut after every event and restarted on the same input gives the
// uninterrupted run's decisions. Counting the release instead over-granted (a delivery still held
// at the cut was not counted), under-granted (a coupon and a held push counted twice) and lost a
// delivery whose release the channel cap refused.
TEST(QuietHours, ARestartAfterAnyEventCountsStockAsTheUninterruptedRun) {
  struct Case {
    const char* name;
    std::string program;
    std::vector<std::pair<std::string, std::string>> visits;  // user, time
  };
  const std::string head = R"(
event Visit { page: String }
resource coupon c { discount: 5 CNY }
resource push hi { body: "a coupon for you" }
)";
  const std::string night = "policy night { quiet between 22:00 and 08:00; }\n";
  auto strategy = [](const std::string& what, const std::string& how) {
    return "strategy welcome for business \"app\" {\n    who: true\n    when: on Visit\n    what: " + what +
           "\n    how much: " + how + "\n    zone: \"Asia/Shanghai\"\n}\n";
  };
  // 23:00 in Beijing (held), then mornings after 08:00.
  const std::vector<std::pair<std::string, std::string>> four = {
      {"ann", "2026-01-01T15:00:00Z"}, {"bob", "2026-01-02T01:00:00Z"},
      {"cat", "2026-01-02T02:00:00Z"}, {"dan", "2026-01-02T03:00:00Z"}};
  std::vector<Case> cases = {
      {"a held push, stock 2", head + night + strategy("send hi via Push", "stock 2"), four},
      {"a coupon and a held push, stock 3", head + night + strategy("grant c via App, send hi via Push", "stock 3"), four},
      {"a pool's stock", head + night + "pool shared { stock 3 }\n" +
                             strategy("grant c via App, send hi via Push", "from pool shared"), four},
      // Two pushes held the same night: the second's release is refused by the channel cap; both
      // deliveries counted when held.
      {"a release the channel cap refuses, stock 3",
       head + "policy night { quiet between 22:00 and 08:00; Push <= 1 per day; }\n" + strategy("send hi via Push", "stock 3"),
       {{"ann", "2026-01-05T14:30:00Z"}, {"ann", "2026-01-05T15:30:00Z"}, {"bob", "2026-01-06T02:00:00Z"},
        {"cat", "2026-01-06T03:00:00Z"}}},
  };
  for (const auto& k : cases) {
    SCOPED_TRACE(k.name);
    Compiled c = compile_text(k.program);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    std::string err;
    auto line = [&](size_t i) { return visit("e" + std::to_string(i), k.visits[i].first, k.visits[i].second); };
    std::vector<std::string> reference;
    {
      crm::state::MemoryStore fresh;
      Harness h(c);
      ASSERT_TRUE(h.engine.attach(&fresh, err)) << err;
      for (size_t i = 0; i < k.visits.size(); ++i)
        for (auto& j : h.feed(line(i))) reference.push_back(j);
    }
    size_t refused = 0;
    for (const auto& j : reference) refused += j.find("\"reason\":\"stock\"") != std::string::npos ||
                                               j.find("\"reason\":\"pool_stock\"") != std::string::npos;
    EXPECT_GE(refused, 1u) << "the case should run out of stock";
    for (size_t cut = 1; cut < k.visits.size(); ++cut) {
      SCOPED_TRACE("cut after event " + std::to_string(cut));
      crm::state::MemoryStore store;
      {
        Harness h(c);
        ASSERT_TRUE(h.engine.attach(&store, err)) << err;
        for (size_t i = 0; i < cut; ++i) h.feed(line(i));
        ASSERT_TRUE(h.engine.commit(err)) << err;
      }
      Harness h(c);
      ASSERT_TRUE(h.engine.attach(&store, err)) << err;
      std::vector<std::string> restarted;
      for (size_t i = 0; i < k.visits.size(); ++i)
        for (auto& j : h.feed(line(i))) restarted.push_back(j);
      EXPECT_EQ(restarted, reference);
    }
  }
}
