// runtime_api_test.cc - the public embedding API (include/crm/runtime.h), used as a host would.
#include <crm/runtime.h>

#include <gtest/gtest.h>
#include "sqlite_helpers.h"
#include "golden_run_args.h"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace {

// One file per test: ctest runs the tests of this file as parallel processes.
std::string write_temp(const std::string& text) {
  std::string path = ::testing::TempDir() + "runtime_api_" +
                     ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".crm";
  std::ofstream(path) << text;
  return path;
}

const char* kProgram = R"(
profile { age: Int  city: String  tier: Tier = Basic  balance: Money(CNY) = 0 CNY  joined: Time? }
enum Tier { Basic, Gold }
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10 CNY  threshold: 50 CNY }
segment young_shanghai = age between 18 and 35 and city == "Shanghai"
segment gold_rich = tier == Gold and balance >= 100 CNY
segment repeat_buyer = count(Order within 30 days) >= 2
strategy thanks { who: repeat_buyer  when: on Order  what: grant c10 via App code "T"  how much: per user 1 per day }
)";

// 2026-11-11T00:00:00Z in microseconds since the epoch.
constexpr int64_t kNov11 = 1'794'355'200'000'000;

}  // namespace

TEST(RuntimeApi, EvaluatorAnswersForHostSuppliedProfiles) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  ASSERT_TRUE(out.program.valid());
  EXPECT_EQ(out.program.segments(), (std::vector<std::string>{"young_shanghai", "gold_rich", "repeat_buyer"}));

  crm::Evaluator ev(out.program);
  int age = ev.field("age"), city = ev.field("city"), tier = ev.field("tier"), balance = ev.field("balance");
  int young = ev.segment("young_shanghai"), gold = ev.segment("gold_rich");
  ASSERT_GE(age, 0);
  ASSERT_GE(young, 0);
  EXPECT_EQ(ev.field("nope"), -1);
  EXPECT_EQ(ev.segment("nope"), -1);

  EXPECT_TRUE(ev.set_int(age, 30));
  EXPECT_TRUE(ev.set_string(city, "Shanghai"));
  EXPECT_TRUE(ev.evaluate(young, kNov11).matched);
  EXPECT_TRUE(ev.set_string(city, "Beijing"));
  EXPECT_FALSE(ev.evaluate(young, kNov11).matched);

  // Type checks on setters; defaults apply after clear().
  EXPECT_FALSE(ev.set_string(age, "30"));
  EXPECT_FALSE(ev.set_enum(tier, "Platinum"));
  EXPECT_TRUE(ev.set_enum(tier, "Gold"));
  EXPECT_FALSE(ev.set_decimal(balance, "1e3"));
  EXPECT_TRUE(ev.set_decimal(balance, "100.00"));
  EXPECT_TRUE(ev.evaluate(gold, kNov11).matched);
  ev.clear();
  EXPECT_FALSE(ev.evaluate(gold, kNov11).matched);  // Basic, 0 CNY

  // A required field the host never set is an evaluation error, not a silent answer.
  auto v = ev.evaluate(young, kNov11);
  EXPECT_FALSE(v.ok);
  EXPECT_NE(v.error.find("required profile field"), std::string::npos) << v.error;
}

TEST(RuntimeApi, CompiledProgramsRoundTripThroughBytes) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.program.valid());
  std::string err;
  crm::CompiledProgram again = crm::load_compiled(out.program.serialize(), err);
  ASSERT_TRUE(again.valid()) << err;
  EXPECT_EQ(again.segments(), out.program.segments());
  std::string corrupt = out.program.serialize();
  corrupt[corrupt.size() / 2] ^= 0x55;
  EXPECT_FALSE(crm::load_compiled(corrupt, err).valid());
  EXPECT_NE(err.find("checksum"), std::string::npos) << err;
}

TEST(RuntimeApi, RuntimeStreamsEventsToDecisions) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.program.valid());
  crm::Runtime rt(out.program);
  std::string err;
  ASSERT_TRUE(rt.load_profile(R"({"user":"u1","age":40,"city":"Wuhan"})", err)) << err;
  std::vector<std::string> decisions;
  ASSERT_TRUE(rt.process_event(R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})", decisions, err)) << err;
  EXPECT_TRUE(decisions.empty());  // one order: not a repeat buyer yet
  ASSERT_TRUE(rt.process_event(R"({"id":"e2","type":"Order","user":"u1","time":"2026-11-11T02:00:00Z","amount":70})", decisions, err)) << err;
  ASSERT_EQ(decisions.size(), 1u);
  EXPECT_NE(decisions[0].find(R"("outcome":"granted")"), std::string::npos) << decisions[0];
  // Bad input is an error with a reason, and does not change state.
  EXPECT_FALSE(rt.process_event(R"({"id":"e3","type":"Order","user":"u1","time":"yesterday","amount":5})", decisions, err));
  EXPECT_NE(err.find("ISO-8601"), std::string::npos) << err;
  EXPECT_FALSE(rt.process_event(R"({"id":"e4","type":"Order","user":"u1","time":"2026-11-10T00:00:00Z","amount":5})", decisions, err));
  EXPECT_NE(err.find("out of order"), std::string::npos) << err;
  auto counts = rt.audience(kNov11 + 3 * 3600'000'000LL);
  bool found = false;
  for (auto& [name, n] : counts)
    if (name == "repeat_buyer") { EXPECT_EQ(n, 1); found = true; }
  EXPECT_TRUE(found);
}

// An audience is a read: asked at an instant after the stream's latest event, it made the
// sliding windows forget the events that had left them at that instant, for good (the read
// dropped them), so a later event before it counted one order within 30 days instead of two and
// got no decision. An audience before the engine's clock is refused, not answered wrongly.
TEST(RuntimeApi, AnAudienceAfterTheLatestEventChangesNoLaterDecision) {
  auto out = crm::compile_files({write_temp(R"(
event Order { amount: Money(CNY) }
resource push hi { title: "hi"  body: "hi" }
segment two = count(Order within 30 days) >= 2
strategy s { who: two  when: on Order  what: send hi via Push }
)")});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  constexpr int64_t kJan1 = 1'767'225'600'000'000, kHour = 3600'000'000LL, kDay = 24 * kHour;  // 2026-01-01T00:00Z
  auto two_at = [](crm::Runtime& rt, int64_t at) {
    std::vector<std::pair<std::string, int64_t>> counts;
    crm::Error e;
    EXPECT_TRUE(rt.audience(at, counts, e)) << e.message;
    for (auto& [name, n] : counts)
      if (name == "two") return n;
    return int64_t(-1);
  };
  for (bool ask_ahead : {false, true}) {
    SCOPED_TRACE(ask_ahead ? "with an audience at day 40" : "without");
    crm::Runtime rt(out.program);
    std::vector<crm::Decision> decisions;
    crm::Error err;
    ASSERT_TRUE(rt.process_event(R"({"id":"e1","type":"Order","user":"u1","time":"2026-01-01T00:00:00Z","amount":10})",
                                 decisions, err)) << err.message;
    EXPECT_TRUE(decisions.empty());
    if (ask_ahead) {
      EXPECT_EQ(two_at(rt, kJan1 + 40 * kDay), 0);  // e1 has left the window at day 40
      EXPECT_EQ(two_at(rt, kJan1 + 40 * kDay), 0);
    }
    ASSERT_TRUE(rt.process_event(R"({"id":"e2","type":"Order","user":"u1","time":"2026-01-01T01:00:00Z","amount":10})",
                                 decisions, err)) << err.message;
    ASSERT_EQ(decisions.size(), 1u);  // two orders within 30 days
    EXPECT_EQ(decisions[0].strategy, "s");
    EXPECT_EQ(decisions[0].event, "e2");
    EXPECT_EQ(two_at(rt, kJan1 + 2 * kHour), 1);
    EXPECT_EQ(two_at(rt, kJan1 + 40 * kDay), 0);
    // Before the clock (e2, 01:00): refused with why, and nothing changed.
    std::vector<std::pair<std::string, int64_t>> counts{{"stale", 1}};
    crm::Error e;
    EXPECT_FALSE(rt.audience(kJan1 + kHour - 1, counts, e));
    EXPECT_EQ(e.kind, crm::ErrorKind::Input);
    EXPECT_NE(e.message.find("before the engine's clock at 2026-01-01T01:00:00Z"), std::string::npos) << e.message;
    EXPECT_TRUE(counts.empty());
    EXPECT_TRUE(rt.audience(kJan1 - 1).empty());
    EXPECT_EQ(two_at(rt, kJan1 + kHour), 1);  // at the clock itself
  }
}

TEST(RuntimeApi, InvalidProgramsAreReportedNotThrown) {
  auto out = crm::compile_files({write_temp("segment s = nosuch > 1\n")});
  EXPECT_FALSE(out.program.valid());
  EXPECT_FALSE(out.diagnostics.ok());
  crm::Evaluator ev(out.program);  // usable, answers "no such segment"
  EXPECT_FALSE(ev.evaluate(0, 0).ok);
  crm::Runtime rt(out.program);
  std::vector<std::string> d;
  std::string err;
  EXPECT_FALSE(rt.process_event("{}", d, err));
}

TEST(RuntimeApi, DurableStateSurvivesARestart) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.program.valid());
  std::string path = ::testing::TempDir() + "runtime_api_state.db";
  crm::testing::remove_ledger_files(path);
  const char* e1 = R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})";
  const char* e2 = R"({"id":"e2","type":"Order","user":"u1","time":"2026-11-11T02:00:00Z","amount":70})";
  const char* e3 = R"({"id":"e3","type":"Order","user":"u1","time":"2026-11-11T03:00:00Z","amount":80})";
  std::string err;
  std::vector<std::string> first;
  {
    crm::Runtime rt(out.program);
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    ASSERT_TRUE(rt.process_event(e1, first, err)) << err;
    ASSERT_TRUE(rt.process_event(e2, first, err)) << err;
    ASSERT_TRUE(rt.commit(err)) << err;
  }
  ASSERT_EQ(first.size(), 1u);  // e2 granted
  crm::Runtime rt(out.program);
  ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
  std::vector<std::string> again;
  for (const char* e : {e1, e2, e3}) ASSERT_TRUE(rt.process_event(e, again, err)) << err;
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0], first[0]);  // replayed from the ledger, not decided again
  EXPECT_NE(again[1].find("per_user_limit"), std::string::npos) << again[1];  // the restored grant counts
}

// Every CLI scenario of tests/golden/run, fed through the embedding API instead: the decisions
// must be the ones `crm run` prints (the .out files, minus the summary line). Each semantic of
// docs/semantics.md with a run golden is thereby tested through both the CLI and the C++ API.
TEST(RuntimeApi, EveryRunGoldenGivesTheSameDecisionsThroughTheApi) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(CRM_SOURCE_DIR) / "tests/golden/run";
  size_t cases = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() != ".crm") continue;
    SCOPED_TRACE(entry.path().string());
    ++cases;
    auto out = crm::compile_files({entry.path().string()});
    ASSERT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
    crm::Runtime rt(out.program);
    crm::testing::apply_golden_run_args(entry.path(), rt);
    std::string err;
    ASSERT_TRUE(rt.open_state("memory", err)) << err;
    fs::path base = entry.path();
    // A scenario with NAME.profiles.jsonl loads them first, as `crm run --profiles` does.
    std::ifstream profiles(fs::path(base).replace_extension(".profiles.jsonl"));
    for (std::string p; std::getline(profiles, p);) {
      if (!p.empty()) {
        ASSERT_TRUE(rt.load_profile(p, err)) << err;
      }
    }
    std::ifstream events(base.replace_extension(".events.jsonl"));
    std::vector<std::string> got, want;
    std::string line, refused;
    while (std::getline(events, line)) {
      if (line.empty()) continue;
      // A refused event stops `crm run` (--on-error=stop): the API refuses it with the same text.
      if (!rt.process_event(line, got, err)) {
        refused = err;
        break;
      }
    }
    if (refused.empty()) {
      ASSERT_TRUE(rt.finish(got, err)) << err;
    }
    std::ifstream expected(base.replace_extension("").replace_extension(".out"));
    std::string all;
    while (std::getline(expected, line)) {
      if (!line.empty() && line[0] == '{') want.push_back(line);
      all += line + "\n";
    }
    EXPECT_EQ(got, want);
    if (!refused.empty()) {
      EXPECT_NE(all.find(": " + refused + "\n"), std::string::npos) << refused;
    }
  }
  EXPECT_GE(cases, 8u);
}

// Issue 9 item 19, through the API: any int64 a host sets is a value (INT64_MIN once meant
// "missing"), a field never set has none, and the Runtime's profiles and events keep that apart.
TEST(RuntimeApi, TheMostNegativeIntIsAValue) {
  auto out = crm::compile_files({write_temp(R"(
profile { age: Int  bonus: Int? }
event Visit { points: Int? }
resource coupon c { discount: 1 CNY }
segment adult = age >= 18
segment bonus_is_default = (bonus ?? 20) == 20
segment bonus_negative = (bonus ?? 20) < 0
strategy s { who: (bonus ?? 20) < 0  when: on Visit if (points ?? 1) < 0  what: grant c via App }
)")});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  crm::Evaluator ev(out.program);
  int age = ev.field("age"), bonus = ev.field("bonus");
  ASSERT_TRUE(ev.set_int(age, INT64_MIN));
  auto adult = ev.evaluate(ev.segment("adult"), kNov11);
  EXPECT_TRUE(adult.ok) << adult.error;  // a value, not "no value for a required field"
  EXPECT_FALSE(adult.matched);
  EXPECT_TRUE(ev.evaluate(ev.segment("bonus_is_default"), kNov11).matched);  // never set
  ASSERT_TRUE(ev.set_int(bonus, INT64_MIN));
  EXPECT_FALSE(ev.evaluate(ev.segment("bonus_is_default"), kNov11).matched);
  EXPECT_TRUE(ev.evaluate(ev.segment("bonus_negative"), kNov11).matched);
  ev.clear();
  EXPECT_TRUE(ev.evaluate(ev.segment("bonus_is_default"), kNov11).matched);

  crm::Runtime rt(out.program);
  std::string err;
  ASSERT_TRUE(rt.load_profile(R"({"user":"u1","age":30,"bonus":-9223372036854775808})", err)) << err;
  ASSERT_TRUE(rt.load_profile(R"({"user":"u2","age":30,"bonus":null})", err)) << err;
  std::vector<std::string> d;
  ASSERT_TRUE(rt.process_event(R"({"id":"e1","type":"Visit","user":"u1","time":"2026-11-11T01:00:00Z","points":-9223372036854775808})", d, err)) << err;
  ASSERT_TRUE(rt.process_event(R"({"id":"e2","type":"Visit","user":"u2","time":"2026-11-11T01:00:00Z","points":-9223372036854775808})", d, err)) << err;
  ASSERT_TRUE(rt.process_event(R"({"id":"e3","type":"Visit","user":"u1","time":"2026-11-11T02:00:00Z"})", d, err)) << err;
  ASSERT_EQ(d.size(), 1u);  // u1 on e1 only: u2's bonus is missing (20), e3 has no points (1)
  EXPECT_NE(d[0].find(R"("event":"e1","user":"u1")"), std::string::npos) << d[0];
  for (auto& [name, n] : rt.audience(kNov11 + 3 * 3600'000'000LL)) {
    if (name == "bonus_negative" || name == "bonus_is_default") {
      EXPECT_EQ(n, 1) << name;
    }
  }
}

TEST(RuntimeApi, CompilingToRunSkipsTheConflictAnalysis) {
  // Two strategies of one business that overlap: check_files reports W0105; compile_files,
  // which a host calls to run the program, does not analyse conflicts (issue 9 item 7).
  std::string path = write_temp(std::string(kProgram) +
                                "strategy a for business \"mall\" { who: true  when: on Order  what: grant c10 }\n"
                                "strategy b for business \"mall\" { who: true  when: on Order  what: grant c10 }\n");
  auto checked = crm::check_files({path});
  ASSERT_EQ(checked.warning_count(), 1u) << checked.render_text();
  EXPECT_EQ(checked.diagnostics()[0].code, "W0105");
  auto out = crm::compile_files({path});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  EXPECT_EQ(out.diagnostics.warning_count(), 0u) << out.diagnostics.render_text();
}

// The objects `crm audience` and `crm explain` are written over (issue 10 item 5): data in any
// order, CSV profiles with per-record errors, and errors by kind.
TEST(RuntimeApi, AudienceAndExplainSessionTakeDataAsItIsRead) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.program.valid());
  const char* e1 = R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})";
  const char* e2 = R"({"id":"e2","type":"Order","user":"u1","time":"2026-11-11T02:00:00Z","amount":70})";
  const char* late = R"({"id":"e9","type":"Order","user":"u2","time":"2026-11-12T02:00:00Z","amount":70})";
  std::istringstream csv("user,age,city\nu1,40,Wuhan\nu2,forty,Wuhan\nu3,20,Shanghai\n");
  std::vector<size_t> bad_lines;

  crm::Audience audience(out.program, kNov11 + 3 * 3600'000'000LL);
  ASSERT_TRUE(audience.load_profiles(csv, true, [&](size_t line, const std::string&) {
    bad_lines.push_back(line);
    return true;  // skip it
  }));
  EXPECT_EQ(bad_lines, std::vector<size_t>{3});
  crm::Error error;
  for (const char* e : {e2, late, e1}) ASSERT_TRUE(audience.add_event(e, error)) << error.message;
  EXPECT_FALSE(audience.add_event("{", error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  crm::Audience::Result result;
  ASSERT_TRUE(audience.count(result, error)) << error.message;
  EXPECT_EQ(result.segments, 3u);
  EXPECT_EQ(result.users, 2u);  // u1 and u3; u2's profile was skipped and e9 is after the instant
  std::map<std::string, int64_t> counts(result.counts.begin(), result.counts.end());
  EXPECT_EQ(counts["repeat_buyer"], 1);
  EXPECT_EQ(counts["young_shanghai"], 1);
  EXPECT_EQ(counts["thanks"], 1);

  crm::ExplainRequest req;
  req.user = "u1";
  req.event = "e2";
  crm::ExplainSession session(out.program, req);
  ASSERT_TRUE(session.error().ok()) << session.error().message;
  ASSERT_TRUE(session.load_profile(R"({"user":"u1","age":40,"city":"Wuhan"})", error)) << error.message;
  for (const char* e : {e2, e1}) ASSERT_TRUE(session.add_event(e, error)) << error.message;
  crm::Explanation x = session.finish();
  ASSERT_TRUE(x.ok) << x.error;
  crm::Explanation same = crm::explain(out.program, {R"({"user":"u1","age":40,"city":"Wuhan"})"}, {e1, e2}, req);
  EXPECT_EQ(x.text, same.text);
  EXPECT_EQ(x.json, same.json);
  ASSERT_EQ(x.strategies.size(), 1u);
  EXPECT_EQ(x.strategies[0].verdict, "granted");

  req.event = "e7";  // no such event: the caller's mistake
  crm::ExplainSession missing(out.program, req);
  ASSERT_TRUE(missing.add_event(e1, error));
  crm::Explanation none = missing.finish();
  EXPECT_FALSE(none.ok);
  EXPECT_EQ(none.error_kind, crm::ErrorKind::Input);

  crm::ExplainSession invalid(crm::CompiledProgram(), req);
  EXPECT_EQ(invalid.error().kind, crm::ErrorKind::Input);
  EXPECT_FALSE(invalid.add_event(e1, error));
  crm::Audience no_program(crm::CompiledProgram(), 0);
  EXPECT_FALSE(no_program.add_event(e1, error));
  EXPECT_FALSE(no_program.count(result, error));
}

// The one-shot crm::explain takes its profile lines as one profiles file: a second record for a
// user is refused naming both lines (an Input error value, no exception), as every reader of a
// profiles file refuses it; it used to replace the first silently and explain with the second.
TEST(RuntimeApi, OneShotExplainRefusesAUserTwiceInItsProfiles) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.program.valid());
  const char* e1 = R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})";
  crm::ExplainRequest req;
  req.user = "u1";
  req.event = "e1";
  crm::Explanation x = crm::explain(out.program,
                                    {R"({"user":"u1","age":40,"city":"Wuhan"})", "", R"({"user":"u2","age":20,"city":"Wuhan"})",
                                     R"({"user":"u1","age":20,"city":"Shanghai"})"},
                                    {e1}, req);
  EXPECT_FALSE(x.ok);
  EXPECT_EQ(x.error_kind, crm::ErrorKind::Input);
  EXPECT_EQ(x.error, "profiles:4: user `u1` appears twice (first on line 1)");
  // Distinct users are taken as before.
  crm::Explanation ok = crm::explain(
      out.program, {R"({"user":"u1","age":40,"city":"Wuhan"})", R"({"user":"u2","age":20,"city":"Wuhan"})"}, {e1}, req);
  EXPECT_TRUE(ok.ok) << ok.error;
}

TEST(RuntimeApi, TypedDecisionsAndErrorKinds) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.program.valid());
  EXPECT_TRUE(out.error.ok());
  crm::Runtime rt(out.program);
  crm::Error error;
  ASSERT_TRUE(rt.load_profile(R"({"user":"u1","age":40,"city":"Wuhan"})", error)) << error.message;
  EXPECT_FALSE(rt.load_profile(R"({"user":"u2","age":"x"})", error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  std::vector<crm::Decision> ds;
  ASSERT_TRUE(rt.process_event(R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})", ds, error));
  ASSERT_TRUE(rt.process_event(R"({"id":"e2","type":"Order","user":"u1","time":"2026-11-11T02:00:00Z","amount":70})", ds, error));
  ASSERT_EQ(ds.size(), 1u);
  EXPECT_EQ(ds[0].outcome, crm::Decision::Outcome::Granted);
  EXPECT_STREQ(crm::outcome_name(ds[0].outcome), "granted");
  EXPECT_EQ(ds[0].strategy, "thanks");
  EXPECT_EQ(ds[0].amount_millionths, 10'000'000);
  EXPECT_EQ(ds[0].currency, "CNY");
  EXPECT_EQ(ds[0].at_micros, kNov11 + 2 * 3600'000'000LL);
  EXPECT_FALSE(rt.process_event(R"({"id":"e0","type":"Order","user":"u1","time":"2026-11-10T00:00:00Z","amount":5})", ds, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  EXPECT_NE(error.message.find("out of order"), std::string::npos) << error.message;
  EXPECT_EQ(ds.size(), 1u);  // nothing appended on failure
  crm::Runtime empty{crm::CompiledProgram()};
  EXPECT_FALSE(empty.process_event("{}", ds, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  EXPECT_FALSE(crm::version() == nullptr);
}

TEST(RuntimeApi, CollectionDefaultsWorkThroughACompiledProgram) {
  // `Set<T> = {...}` defaults used to pass the check and fail to compile ("a collection is not a
  // scalar value"). They compile, survive .crmc serialisation and are seen by the Evaluator.
  auto out = crm::compile_files({write_temp(R"(
profile { tags: Set<String> = {}  lucky: Set<Int> = {7, 3} }
segment lucky_seven = 7 in lucky and not (5 in lucky)
segment tagged = len(tags) > 0 or "vip" in tags
)")});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  std::string err;
  crm::CompiledProgram loaded = crm::load_compiled(out.program.serialize(), err);
  ASSERT_TRUE(loaded.valid()) << err;
  for (const crm::CompiledProgram* p : {&out.program, &loaded}) {
    crm::Evaluator ev(*p);
    auto seven = ev.evaluate(ev.segment("lucky_seven"), kNov11);
    ASSERT_TRUE(seven.ok);
    EXPECT_TRUE(seven.matched);
    auto tagged = ev.evaluate(ev.segment("tagged"), kNov11);
    ASSERT_TRUE(tagged.ok);
    EXPECT_FALSE(tagged.matched);
  }
}

// The dedup window is fixed once events flow: the remembered ids are kept in generations of the
// window's width, so a narrower window set mid-stream would drop a generation too early and a
// retry within the (new) window would be decided again. Refused, like Run::set_dedup_window;
// the earlier window keeps answering the retry.
TEST(RuntimeApi, TheDedupWindowCannotChangeAfterTheFirstEvent) {
  auto out = crm::compile_files({write_temp(kProgram)});
  ASSERT_TRUE(out.program.valid());
  const char* e1 = R"({"id":"e1","type":"Order","user":"u1","time":"2026-11-11T01:00:00Z","amount":60})";
  const char* e2 = R"({"id":"e2","type":"Order","user":"u1","time":"2026-11-11T02:00:00Z","amount":70})";
  crm::Runtime rt(out.program);
  crm::Error e;
  ASSERT_TRUE(rt.set_dedup_window(INT64_MAX, e)) << e.message;
  std::string err;
  ASSERT_TRUE(rt.open_state("memory", err)) << err;
  ASSERT_TRUE(rt.set_dedup_window(INT64_MAX, e)) << e.message;  // after open_state, before events: still fine
  std::vector<std::string> first, again;
  ASSERT_TRUE(rt.process_event(e1, first, err)) << err;
  ASSERT_TRUE(rt.process_event(e2, first, err)) << err;
  ASSERT_EQ(first.size(), 1u);  // e2 granted
  EXPECT_FALSE(rt.set_dedup_window(3'600'000'000LL, e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input);
  EXPECT_NE(e.message.find("before profiles and events"), std::string::npos) << e.message;
  // e2 again, not late: answered from the ledger, never decided twice.
  ASSERT_TRUE(rt.process_event(e2, again, err)) << err;
  EXPECT_EQ(again, first);
}
