// explain_test.cc - issue 9 items 11 and 14: `crm explain` / crm::explain() is the engine's own
// decision (every explanation of an event equals what `run` decided on it), explains the cases
// that used to be wrong (set membership, event fields, control group, per-user caps, stock,
// budget, pacing, policies), and gives the same answer for any order of the events; the stream
// contract of crm::Runtime (late events refused, lateness held and sorted, schedules fired by the
// watermark).
#include <crm/runtime.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {

std::string temp_path(const std::string& suffix) {
  return ::testing::TempDir() + "explain_" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + suffix;
}

crm::CompiledProgram compile(const std::string& text) {
  std::string path = temp_path(".crm");
  std::ofstream(path) << text;
  auto out = crm::compile_files({path});
  EXPECT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  return out.program;
}

int64_t at(const std::string& iso) {
  // Minimal ISO parsing for the tests' own literals: YYYY-MM-DDTHH:MM:SSZ.
  int y, mo, d, h, mi, s;
  std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s);
  // days from civil (Howard Hinnant)
  y -= mo <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = era * 146097 + doe - 719468;
  return ((days * 24 + h) * 60 + mi) * 60'000'000LL + s * 1'000'000LL;
}

const crm::Explanation::Strategy& strategy(const crm::Explanation& e, const std::string& name) {
  for (const auto& s : e.strategies)
    if (s.name == name) return s;
  static crm::Explanation::Strategy none;
  ADD_FAILURE() << "no strategy " << name << " in\n" << e.text;
  return none;
}

const crm::Explanation::Check* check(const crm::Explanation::Strategy& s, const std::string& clause) {
  for (const auto& c : s.checks)
    if (c.clause == clause) return &c;
  return nullptr;
}

std::string run_cli(const std::string& args) {
  std::string out_path = temp_path(".out");
  std::string cmd = std::string("'") + CRM_BINARY + "' " + args + " >'" + out_path + "' 2>/dev/null";
  int rc = std::system(cmd.c_str());
  std::ifstream in(out_path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return rc == 0 ? text : "exit " + std::to_string(rc) + ": " + text;
}

const char* kShop = R"(
profile { tier: Tier = Bronze }
enum Tier { Bronze, Silver, Gold }
event Order { amount: Money(CNY)  channel: Channel }
resource coupon c10 { discount: 10 CNY }
resource coupon c5 { discount: 5 CNY }
resource sms note { text: "thanks" }
strategy tiered for business "a" {
    who: tier in {Gold, Silver}
    when: on Order
    what: grant c10
}
strategy app_orders for business "b" {
    who: true
    when: on Order
    where: channel == App
    what: grant c10 via App
    how much: per user 1 per day
    zone: "+08:00"
}
strategy tested for business "c" {
    who: true
    when: on Order
    what: grant c5
    split: control 50%
}
strategy scarce for business "d" {
    who: true
    when: on Order
    what: grant c5
    how much: stock 1
}
strategy costly for business "e" {
    who: true
    when: on Order
    what: grant c10
    how much: budget 15 CNY
}
strategy messages for business "f" {
    who: true
    when: on Order
    what: send note via SMS
}
policy calm for business "f" { SMS <= 1 per 7 days }
)";

// ann: Bronze, two App orders the same Beijing day; bob: Gold, one Web order.
const std::vector<std::string> kShopEvents = {
    R"({"id":"o1","type":"Order","user":"ann","time":"2026-04-01T02:02:00Z","amount":20,"channel":"App"})",
    R"({"id":"o2","type":"Order","user":"bob","time":"2026-04-01T02:30:00Z","amount":30,"channel":"Web"})",
    R"({"id":"o3","type":"Order","user":"ann","time":"2026-04-01T03:00:00Z","amount":30,"channel":"App"})",
};

}  // namespace

TEST(Explain, SetMembershipAndEventFieldsAreExplained) {
  auto prog = compile(kShop);
  crm::ExplainRequest req;
  req.user = "bob";
  req.at_micros = at("2026-04-01T05:00:00Z");
  auto e = crm::explain(prog, {R"({"user":"bob","tier":"Gold"})"}, kShopEvents, req);
  ASSERT_TRUE(e.ok) << e.error;
  // `tier in {Gold, Silver}` used to print "error: unsupported expression".
  EXPECT_EQ(strategy(e, "tiered").verdict, "granted") << e.text;
  // Under `on Order`, `where: channel == App` reads the trigger event (it used to be `none`).
  const auto& app = strategy(e, "app_orders");
  EXPECT_EQ(app.verdict, "no_match");
  EXPECT_EQ(app.event, "o2");
  ASSERT_NE(check(app, "where"), nullptr);
  EXPECT_EQ(check(app, "where")->detail, "where: channel = Web, needs == App");

  req.user = "ann";
  e = crm::explain(prog, {}, kShopEvents, req);
  ASSERT_TRUE(e.ok) << e.error;
  ASSERT_NE(check(strategy(e, "tiered"), "who"), nullptr);
  EXPECT_EQ(check(strategy(e, "tiered"), "who")->detail, "who: tier = Bronze, needs in {Gold, Silver}");
}

TEST(Explain, BlockedUsersAreNotShownAsQualifying) {
  auto prog = compile(kShop);
  crm::ExplainRequest req;
  req.user = "ann";
  req.event = "o3";
  auto e = crm::explain(prog, {}, kShopEvents, req);
  ASSERT_TRUE(e.ok) << e.error;
  // Per-user cap, with its count and the earlier grant in the strategy's zone.
  const auto& app = strategy(e, "app_orders");
  EXPECT_EQ(app.verdict, "rejected") << e.text;
  ASSERT_NE(check(app, "per_user"), nullptr);
  EXPECT_FALSE(check(app, "per_user")->passed);
  EXPECT_EQ(check(app, "per_user")->detail,
            "per user 1 per day: 1 already granted today (latest at 2026-04-01 10:02 +08:00)");
  ASSERT_EQ(app.decisions.size(), 1u);
  EXPECT_NE(app.decisions[0].find(R"("reason":"per_user_limit")"), std::string::npos);
  // Control group.
  const auto& tested = strategy(e, "tested");
  EXPECT_EQ(tested.verdict, "control") << e.text;
  ASSERT_NE(check(tested, "split"), nullptr);
  EXPECT_NE(check(tested, "split")->detail.find("the user is in the control group"), std::string::npos);
  // Stock: ann's first order took the only one.
  const auto& scarce = strategy(e, "scarce");
  EXPECT_EQ(scarce.verdict, "rejected");
  ASSERT_NE(check(scarce, "stock"), nullptr);
  EXPECT_EQ(check(scarce, "stock")->detail, "stock 1: 1 used");
  // Budget: 10 CNY used of 15, this delivery costs 10.
  const auto& costly = strategy(e, "costly");
  EXPECT_EQ(costly.verdict, "rejected");
  ASSERT_NE(check(costly, "budget"), nullptr);
  EXPECT_FALSE(check(costly, "budget")->passed);
  // A policy: one SMS per 7 days.
  const auto& messages = strategy(e, "messages");
  EXPECT_EQ(messages.verdict, "rejected");
  ASSERT_NE(check(messages, "channel_cap"), nullptr);
  EXPECT_EQ(check(messages, "channel_cap")->policy, "calm");
  EXPECT_EQ(check(messages, "channel_cap")->action, 1);
  EXPECT_NE(check(messages, "channel_cap")->detail.find("SMS <= 1 per 7 days: 1 already sent in the last 7 days"), std::string::npos)
      << check(messages, "channel_cap")->detail;
  // The user's split bucket is stable: ann in control in `tested`, not granted anywhere else by it.
  EXPECT_EQ(strategy(e, "tiered").verdict, "no_match");
}

// The explanation of every event's decision is exactly what the runtime decided on it.
TEST(Explain, EveryExplanationEqualsTheRunsDecision) {
  auto prog = compile(std::string(kShop) + R"(
strategy paced for business "g" {
    who: count(Order within 1 day) >= 2
    when: on Order between 2026-04-01T00:00:00Z and 2026-04-11T00:00:00Z
    what: grant c5, send note via SMS
    how much: stock 6, pacing even, per user 2 per campaign
}
policy quiet_nights { quiet between 22:00 and 08:00 }
)");
  std::mt19937 rng(7);
  std::vector<std::string> events;
  int64_t t = at("2026-04-01T00:00:00Z");
  const char* channels[] = {"App", "Web", "SMS"};
  for (int i = 0; i < 160; ++i) {
    t += int64_t(rng() % 180) * 60'000'000LL;
    time_t secs = static_cast<time_t>(t / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    events.push_back("{\"id\":\"e" + std::to_string(i) + "\",\"type\":\"Order\",\"user\":\"u" + std::to_string(rng() % 12) +
                     "\",\"time\":\"" + buf + "\",\"amount\":" + std::to_string(5 + rng() % 50) + ",\"channel\":\"" +
                     channels[rng() % 3] + "\"}");
  }
  std::vector<std::string> profiles = {R"({"user":"u1","tier":"Gold"})", R"({"user":"u2","tier":"Silver"})"};
  crm::Runtime rt(prog);
  for (const auto& p : profiles) {
    std::string err;
    ASSERT_TRUE(rt.load_profile(p, err)) << err;
  }
  std::map<std::string, std::vector<std::string>> decided;  // event id -> its strategy decisions
  for (const auto& line : events) {
    std::vector<std::string> out;
    std::string err;
    ASSERT_TRUE(rt.process_event(line, out, err)) << err << "\n" << line;
    std::string id = line.substr(7, line.find('"', 7) - 7);
    for (const auto& d : out)
      if (d.find("\"event\":\"" + id + "\"") != std::string::npos && d.find("\"outcome\":\"redeem") == std::string::npos)
        decided[id].push_back(d);
  }
  size_t grants = 0, rejections = 0, controls = 0;
  for (const auto& line : events) {
    std::string id = line.substr(7, line.find('"', 7) - 7);
    std::string user = line.substr(line.find("\"user\":\"") + 8);
    user = user.substr(0, user.find('"'));
    crm::ExplainRequest req;
    req.user = user;
    req.event = id;
    auto e = crm::explain(prog, profiles, events, req);
    ASSERT_TRUE(e.ok) << e.error;
    std::vector<std::string> explained;
    for (const auto& s : e.strategies) explained.insert(explained.end(), s.decisions.begin(), s.decisions.end());
    // The runtime reports strategies by priority then name; explain in program order.
    auto a = decided[id], b = explained;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    ASSERT_EQ(a, b) << "event " << id << "\n" << e.text;
    for (const auto& d : a) {
      grants += d.find("\"granted\"") != std::string::npos;
      rejections += d.find("\"rejected\"") != std::string::npos;
      controls += d.find("\"control\"") != std::string::npos;
    }
  }
  // The stream exercises every kind of outcome.
  EXPECT_GT(grants, 20u);
  EXPECT_GT(rejections, 20u);
  EXPECT_GT(controls, 5u);
}

TEST(Explain, AnyOrderOfTheEventsGivesTheSameAnswer) {
  auto prog = compile(R"(
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
segment three_in_30 = count(Order within 30 days) >= 3
strategy loyal for business "m" {
    who: three_in_30
    when: at 2026-04-01T00:00:00Z
    what: grant c5
}
)");
  // Sorted per user: all of a, then all of b (the order that used to stop at a's last event).
  std::vector<std::string> events;
  for (std::string u : {"a", "b"})
    for (int d = 10; d < 13; ++d)
      events.push_back("{\"id\":\"" + u + std::to_string(d) + "\",\"type\":\"Order\",\"user\":\"" + u +
                       "\",\"time\":\"2026-03-" + std::to_string(d + (u == "b" ? 5 : 0)) + "T09:00:00Z\",\"amount\":10}");
  events.push_back(R"({"id":"late","type":"Order","user":"a","time":"2026-05-01T00:00:00Z","amount":10})");
  crm::ExplainRequest req;
  req.user = "b";
  req.at_micros = at("2026-04-01T00:00:00Z");
  auto ref = crm::explain(prog, {}, events, req);
  ASSERT_TRUE(ref.ok) << ref.error;
  EXPECT_EQ(strategy(ref, "loyal").verdict, "granted") << ref.text;
  ASSERT_EQ(ref.segments.size(), 1u);
  EXPECT_TRUE(ref.segments[0].value);
  std::mt19937 rng(1);
  for (int i = 0; i < 20; ++i) {
    std::shuffle(events.begin(), events.end(), rng);
    auto e = crm::explain(prog, {}, events, req);
    ASSERT_TRUE(e.ok) << e.error;
    EXPECT_EQ(e.text, ref.text);
    EXPECT_EQ(e.json, ref.json);
  }
  // The CLI: explain and audience on the per-user file answer as on the time-ordered one.
  std::sort(events.begin(), events.end(), [](const std::string& x, const std::string& y) {
    return x.substr(x.find("\"time\"")) < y.substr(y.find("\"time\""));
  });
  std::string prog_path = temp_path(".crm");
  std::string timed = temp_path(".time.jsonl"), per_user = temp_path(".user.jsonl");
  {
    std::ofstream t(timed), u(per_user);
    for (const auto& l : events) t << l << "\n";
    std::vector<std::string> by_user = events;
    std::stable_sort(by_user.begin(), by_user.end(), [](const std::string& x, const std::string& y) {
      return x.substr(x.find("\"user\"")) < y.substr(y.find("\"user\""));
    });
    for (const auto& l : by_user) u << l << "\n";
  }
  for (const char* args : {" --user b --at 2026-04-01T00:00:00Z", " --user b --at 2026-04-01T00:00:00Z --format json"}) {
    std::string a = run_cli("explain " + prog_path + " --events " + timed + args);
    EXPECT_EQ(a, run_cli("explain " + prog_path + " --events " + per_user + args));
    EXPECT_EQ(a, std::string(args).find("json") != std::string::npos ? ref.json : ref.text);
  }
  std::string aud = run_cli("audience " + prog_path + " --events " + timed + " --at 2026-04-01T00:00:00Z --format json");
  EXPECT_EQ(aud, "{\"three_in_30\": 2, \"loyal\": 2}\n");
  EXPECT_EQ(run_cli("audience " + prog_path + " --events " + per_user + " --at 2026-04-01T00:00:00Z --format json"), aud);
}

TEST(Explain, UnknownEventAndOtherUsersEventAreErrors) {
  auto prog = compile(kShop);
  crm::ExplainRequest req;
  req.user = "ann";
  req.event = "nope";
  auto e = crm::explain(prog, {}, kShopEvents, req);
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.error, "no event `nope` in the events");
  req.event = "o2";
  e = crm::explain(prog, {}, kShopEvents, req);
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.error, "event `o2` is user `bob`'s, not `ann`'s");
  req.event.clear();
  e = crm::explain(prog, {}, {"{not json"}, req);
  EXPECT_FALSE(e.ok);
  EXPECT_EQ(e.error.rfind("events:1: ", 0), 0u) << e.error;
}

// ---- the stream contract of crm::Runtime ---------------------------------------------------

namespace {

const char* kBirthday = R"(
event Order { amount: Money(CNY) }
resource coupon c5 { discount: 5 CNY }
strategy once for business "m" {
    who: exists(Order)
    when: at 2026-04-01T00:00:00Z
    what: grant c5
}
)";

// Sorted per user: a's orders before and after the scheduled instant, then b's order before it.
const std::vector<std::string> kPerUser = {
    R"({"id":"a1","type":"Order","user":"a","time":"2026-03-30T09:00:00Z","amount":10})",
    R"({"id":"a2","type":"Order","user":"a","time":"2026-04-02T09:00:00Z","amount":10})",
    R"({"id":"b1","type":"Order","user":"b","time":"2026-03-31T09:00:00Z","amount":10})",
};

size_t count(const std::vector<std::string>& decisions, const std::string& what) {
  return std::count_if(decisions.begin(), decisions.end(), [&](const std::string& d) { return d.find(what) != std::string::npos; });
}

}  // namespace

TEST(Stream, AnEventOlderThanTheWatermarkIsRefusedNotSilentlyMissed) {
  auto prog = compile(kBirthday);
  crm::Runtime rt(prog);
  std::vector<std::string> out;
  std::string err;
  ASSERT_TRUE(rt.process_event(kPerUser[0], out, err)) << err;
  ASSERT_TRUE(rt.process_event(kPerUser[1], out, err)) << err;
  EXPECT_EQ(count(out, "\"granted\""), 1u);  // the schedule ran for a (b was not known yet)
  EXPECT_FALSE(rt.process_event(kPerUser[2], out, err));
  EXPECT_EQ(err,
            "late event: 2026-03-31T09:00:00Z is before the watermark 2026-04-02T09:00:00Z (the latest event time "
            "2026-04-02T09:00:00Z minus the allowed lateness 0)");
}

TEST(Stream, WithinTheAllowedLatenessEventsAreSortedAndTheScheduleWaitsForTheWatermark) {
  auto prog = compile(kBirthday);
  crm::Runtime rt(prog);
  rt.set_allowed_lateness(3LL * 86400 * 1'000'000);
  std::vector<std::string> out;
  std::string err;
  for (const auto& line : kPerUser) ASSERT_TRUE(rt.process_event(line, out, err)) << err;
  EXPECT_TRUE(out.empty());  // everything is held: the watermark has not passed 2026-04-01 yet
  ASSERT_TRUE(rt.finish(out, err)) << err;
  EXPECT_EQ(count(out, "\"granted\""), 2u) << ::testing::PrintToString(out);  // a and b, not just a
  // An event older than the watermark (the latest time minus 3 days) is refused.
  crm::Runtime rt2(prog);
  rt2.set_allowed_lateness(86400LL * 1'000'000);
  ASSERT_TRUE(rt2.process_event(kPerUser[1], out, err)) << err;
  EXPECT_FALSE(rt2.process_event(kPerUser[0], out, err));
  EXPECT_EQ(err.rfind("late event: 2026-03-30T09:00:00Z is before the watermark 2026-04-01T09:00:00Z", 0), 0u) << err;
}

// A message met by quiet hours that hold it is not refused: explain says until when it would be
// held (the end on the strategy's local clock), and a `drop` policy's check fails as it did.
TEST(Explain, AHeldMessageSaysUntilWhenItIsHeld) {
  auto text = [](const std::string& quiet) {
    return R"(
event Visit { page: String }
resource push hi { body: "hello" }
policy night { )" + quiet + R"(; }
strategy hello for business "app" {
    who: true
    when: on Visit
    what: send hi via Push
    zone: "Asia/Shanghai"
}
)";
  };
  std::vector<std::string> events = {
      R"({"type":"Visit","id":"v1","user":"ann","time":"2026-01-01T15:00:00Z","page":"home"})"};  // 23:00 Beijing
  crm::ExplainRequest req;
  req.user = "ann";
  req.event = "v1";
  auto e = crm::explain(compile(text("quiet between 22:00 and 08:00")), {}, events, req);
  ASSERT_TRUE(e.ok) << e.error;
  const auto& held = strategy(e, "hello");
  EXPECT_EQ(held.verdict, "held") << e.text;
  ASSERT_NE(check(held, "quiet_hours"), nullptr);
  EXPECT_TRUE(check(held, "quiet_hours")->passed);
  EXPECT_NE(check(held, "quiet_hours")->detail.find("held until 2026-01-02 08:00"), std::string::npos)
      << check(held, "quiet_hours")->detail;
  ASSERT_EQ(held.decisions.size(), 1u);
  EXPECT_NE(held.decisions[0].find("\"held\""), std::string::npos) << held.decisions[0];

  e = crm::explain(compile(text("quiet between 22:00 and 08:00 drop")), {}, events, req);
  ASSERT_TRUE(e.ok) << e.error;
  const auto& dropped = strategy(e, "hello");
  EXPECT_EQ(dropped.verdict, "rejected") << e.text;
  ASSERT_NE(check(dropped, "quiet_hours"), nullptr);
  EXPECT_FALSE(check(dropped, "quiet_hours")->passed);
}

// F6 (t22): with quiet-hour policies that chain (22:00-02:00, then 01:30-06:00), run releases the
// message at 06:00; explain said "held until 02:00", the first policy's end. It states the release
// run makes, from the same computation (DecisionRules::quiet_release).
TEST(Explain, ChainedQuietHoursStateTheReleaseRunMakes) {
  const std::string text = R"(
event Visit { page: String }
resource push hi { body: "hello" }
policy late_night { quiet between 22:00 and 02:00; }
policy early_morning { quiet between 01:30 and 06:00; }
strategy hello for business "app" {
    who: true
    when: on Visit
    what: send hi via Push
}
)";
  std::vector<std::string> events = {
      R"({"type":"Visit","id":"v1","user":"ann","time":"2026-01-01T23:00:00Z","page":"home"})"};
  crm::ExplainRequest req;
  req.user = "ann";
  req.event = "v1";
  auto e = crm::explain(compile(text), {}, events, req);
  ASSERT_TRUE(e.ok) << e.error;
  const auto& held = strategy(e, "hello");
  EXPECT_EQ(held.verdict, "held") << e.text;
  const auto* q = check(held, "quiet_hours");
  ASSERT_NE(q, nullptr);
  EXPECT_NE(q->detail.find("the quiet hours end at 2026-01-02 02:00 +00:00 but other quiet hours go on then: the message "
                           "would be held until 2026-01-02 06:00 +00:00"),
            std::string::npos)
      << q->detail;
  // run agrees: the release is at 06:00.
  crm::Runtime rt(compile(text));
  std::vector<std::string> out;
  std::string err;
  ASSERT_TRUE(rt.process_event(events[0], out, err)) << err;
  ASSERT_TRUE(rt.process_event(R"({"type":"Visit","id":"v2","user":"bob","time":"2026-01-02T07:00:00Z","page":"home"})", out, err))
      << err;
  EXPECT_EQ(count(out, "\"held_at\""), 1u);
  EXPECT_EQ(count(out, "\"at\":\"2026-01-02T06:00:00Z\""), 1u) << ::testing::PrintToString(out);
}

// A program run by the JIT is explained by the JIT (its probe units compiled on demand), with
// the VM's explanation to the byte.
TEST(Explain, TheJitExplainsAsTheVm) {
  if (!crm::jit_available()) GTEST_SKIP() << "built without the JIT";
  auto prog = compile(kShop);
  std::string error;
  auto native = prog.with_jit(error);
  ASSERT_TRUE(native.valid()) << error;
  for (const char* user : {"bob", "ann"}) {
    crm::ExplainRequest req;
    req.user = user;
    req.at_micros = at("2026-04-01T05:00:00Z");
    std::vector<std::string> profiles = {R"({"user":"bob","tier":"Gold"})"};
    auto vm = crm::explain(prog, profiles, kShopEvents, req);
    auto jit = crm::explain(native, profiles, kShopEvents, req);
    ASSERT_TRUE(vm.ok) << vm.error;
    ASSERT_TRUE(jit.ok) << jit.error;
    EXPECT_EQ(jit.text, vm.text) << user;
    EXPECT_EQ(jit.json, vm.json) << user;
  }
}
