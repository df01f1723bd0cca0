// quiet_hours_test.cc - messages met by quiet hours (issue 9, item 16) are held and sent when the
// quiet hours end, if the user's policies still allow them then, unless the policy says `drop`;
// held messages survive a restart, as expiries do.
#include <gtest/gtest.h>

#include "compile_helpers.h"
#include "runtime/state/state_store.h"

#include <crm/run.h>

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

// F1 (t22): quiet hours ending in the repeated hour of a fall-back end at the next occurrence of
// their end, the second pass included. Berlin, 25 October 2026: 02:00-03:00 CEST (00:00Z-01:00Z),
// then 02:00-03:00 CET (01:00Z-02:00Z). Before, a message held at 02:10 CET waited until 02:30 the
// next day (2026-10-26T01:30Z), 24 hours too long.
TEST(QuietHours, TheEndMayBeInTheSecondPassOfARepeatedHour) {
  Compiled c = program("policy night { quiet between 22:00 and 02:30; }", "Europe/Berlin");
  Harness h(c);
  EXPECT_EQ(rows(h, visit("e1", "ann", "2026-10-25T01:10:00Z")),  // 02:10 CET, second pass
            (V{"granted ann 2026-10-25T01:10:00Z", "held:quiet_hours ann 2026-10-25T01:10:00Z"}));
  EXPECT_EQ(rows(h, visit("e2", "bob", "2026-10-25T05:00:00Z")),
            (V{"granted ann 2026-10-25T01:30:00Z", "granted bob 2026-10-25T05:00:00Z", "granted bob 2026-10-25T05:00:00Z"}));
}

// A window within the repeated hour: held in either pass until the end of that pass.
TEST(QuietHours, AWindowInsideTheRepeatedHourEndsInEachPass) {
  Compiled c = program("policy night { quiet between 02:15 and 02:45; }", "Europe/Berlin");
  Harness h(c);
  rows(h, visit("e1", "ann", "2026-10-25T00:20:00Z"));  // 02:20 CEST
  EXPECT_EQ(rows(h, visit("e2", "bob", "2026-10-25T01:20:00Z")),  // 02:20 CET
            (V{"granted ann 2026-10-25T00:45:00Z", "granted bob 2026-10-25T01:20:00Z", "held:quiet_hours bob 2026-10-25T01:20:00Z"}));
  EXPECT_EQ(rows(h, visit("e3", "cy", "2026-10-25T03:00:00Z")),
            (V{"granted bob 2026-10-25T01:45:00Z", "granted cy 2026-10-25T03:00:00Z", "granted cy 2026-10-25T03:00:00Z"}));
}

// An end the clocks skip (02:30 on 29 March 2026 in Berlin) is the first instant after the gap, 03:00 CEST.
TEST(QuietHours, AnEndInASpringForwardGapIsTheEndOfTheGap) {
  Compiled c = program("policy night { quiet between 22:00 and 02:30; }", "Europe/Berlin");
  Harness h(c);
  rows(h, visit("e1", "ann", "2026-03-29T00:50:00Z"));  // 01:50 CET
  EXPECT_EQ(rows(h, visit("e2", "bob", "2026-03-29T05:00:00Z")),
            (V{"granted ann 2026-03-29T01:00:00Z", "granted bob 2026-03-29T05:00:00Z", "granted bob 2026-03-29T05:00:00Z"}));
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

// F10 (t22): a clock move (`--until`, advance_time) decides what is due by then: the release of a
// message held by quiet hours and the expiry of a coupon, at their instants. Before, neither was
// recorded, and at the end of a run without a state the held message was dropped without a word;
// now the run counts what is still held (RunStats::held_pending, "held at the end").
TEST(QuietHours, AClockMoveReleasesWhatIsDueAndTheEndCountsWhatIsStillHeld) {
  auto compiled = crm::compile_modules({{"main", R"(
event Visit { page: String }
resource push p { body: "x" }
resource coupon c { discount: 5 CNY  use: within 1 hour after claim }
policy night { quiet between 22:00 and 08:00; }
strategy s for business "a" {
    who: true
    when: on Visit
    what: send p via Push, grant c via App
}
)"}});
  ASSERT_TRUE(compiled.diagnostics.ok()) << compiled.diagnostics.render_text();
  const std::string v1 = R"({"type":"Visit","id":"v1","user":"a","time":"2026-01-01T23:00:00Z","page":"h"})";
  std::vector<std::string> out;
  crm::Error error;
  {
    crm::Run run(compiled.program);
    ASSERT_TRUE(run.add_event(v1, out, error)) << error.message;
    ASSERT_TRUE(run.finish(out, error)) << error.message;
    EXPECT_EQ(run.stats().held_pending, 1u);  // not released: the run says so
  }
  out.clear();
  crm::Run run(compiled.program);
  ASSERT_TRUE(run.add_event(v1, out, error)) << error.message;
  ASSERT_EQ(out.size(), 2u);
  out.clear();
  ASSERT_TRUE(run.advance_time(T("2026-01-02T12:00:00Z"), out, error)) << error.message;
  ASSERT_EQ(out.size(), 2u) << ::testing::PrintToString(out);
  EXPECT_NE(out[0].find("\"outcome\":\"expired\""), std::string::npos) << out[0];
  EXPECT_NE(out[0].find("\"at\":\"2026-01-02T00:00:00Z\""), std::string::npos) << out[0];
  EXPECT_NE(out[1].find("\"outcome\":\"granted\""), std::string::npos) << out[1];
  EXPECT_NE(out[1].find("\"at\":\"2026-01-02T08:00:00Z\""), std::string::npos) << out[1];
  EXPECT_NE(out[1].find("\"held_at\""), std::string::npos) << out[1];
  EXPECT_EQ(run.stats().held_pending, 0u);
  // The same clock move again decides nothing twice.
  out.clear();
  ASSERT_TRUE(run.advance_time(T("2026-01-02T12:00:00Z"), out, error)) << error.message;
  EXPECT_TRUE(out.empty()) << ::testing::PrintToString(out);
}
