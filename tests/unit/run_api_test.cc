// run_api_test.cc - the public API that `crm run` is written over (include/crm/run.h), typed
// events and profiles (data.h), the text helpers (text.h), and the rule that no exception
// crosses include/.
#include <crm/data.h>
#include <crm/run.h>
#include <crm/shared.h>
#include <crm/runtime.h>
#include <crm/text.h>

#include <gtest/gtest.h>
#include "sqlite_helpers.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "failing_buf.h"
#include "golden_run_args.h"

namespace {

std::string temp_path(const std::string& suffix) {
  return ::testing::TempDir() + "run_api_" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + suffix;
}

crm::CompiledProgram compile(const std::string& text) {
  auto out = crm::compile_modules({{"main", text}});
  EXPECT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  return out.program;
}

const char* kProgram = R"(
profile { age: Int  tier: Tier = Basic  vip: Bool = false  joined: Time?  birthday: Date? }
enum Tier { Basic, Gold }
event Order { amount: Money(CNY)  items: Set<String> = {}  wait: Duration = 0 seconds  day: Date?  note: String? }
resource coupon c10 { discount: 10.5 CNY }
strategy big { who: tier == Gold  when: on Order if amount >= 100 CNY and "book" in items  what: grant c10 via App  how much: per user 1 per day }
strategy daily for business "m" { who: true  when: at 2026-11-11T12:00:00Z  what: grant c10 via App }
)";

std::string order(const char* id, const char* user, const char* time, const char* amount) {
  return std::string(R"({"id":")") + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time +
         R"(","amount":)" + amount + R"(,"items":["book"]})";
}

void remove_db(const std::string& path) {
  crm::testing::remove_ledger_files(path);
}

}  // namespace

// Every scenario of tests/golden/run through crm::Run, as `crm run` feeds it: the decisions and
// the summary's counts are the ones the golden shows (the CLI is written over this class).
TEST(RunApi, EveryRunGoldenGivesTheSameDecisionsAndCounts) {
  namespace fs = std::filesystem;
  size_t cases = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(CRM_SOURCE_DIR) / "tests/golden/run")) {
    if (entry.path().extension() != ".crm") continue;
    SCOPED_TRACE(entry.path().string());
    ++cases;
    auto out = crm::compile_files({entry.path().string()});
    ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
    crm::Run run(out.program);
    crm::testing::apply_golden_run_args(entry.path(), run);
    fs::path base = entry.path();
    // A scenario with NAME.profiles.jsonl loads them first, as `crm run --profiles` does.
    if (std::ifstream profiles(fs::path(base).replace_extension(".profiles.jsonl")); profiles) {
      EXPECT_TRUE(run.load_profiles(profiles, false, {}));
    }
    std::ifstream events(base.replace_extension(".events.jsonl"));
    crm::LineReader lines(events);
    std::vector<std::string> got, want;
    std::string line;
    bool refused = false;
    crm::Error error;
    while (lines.next(line)) {
      if (line.empty()) continue;
      if (!run.add_event(line, got, error)) {
        EXPECT_EQ(error.kind, crm::ErrorKind::Input);
        refused = true;
        break;
      }
    }
    if (!refused) {
      ASSERT_TRUE(run.finish(got, error)) << error.message;
    }
    std::ifstream expected(base.replace_extension("").replace_extension(".out"));
    std::string summary;
    while (std::getline(expected, line)) {
      if (!line.empty() && line[0] == '{') want.push_back(line);
      else if (line.find(" events (") != std::string::npos) summary = line;
    }
    EXPECT_EQ(got, want);
    crm::RunStats st = run.stats();
    size_t nevents = 0, users = 0, decisions = 0, granted = 0, rejected = 0, control = 0;
    ASSERT_EQ(std::sscanf(summary.c_str(), "%zu events (%zu users) in X s: %zu decisions (%zu granted, %zu rejected, %zu control",
                          &nevents, &users, &decisions, &granted, &rejected, &control),
              6)
        << summary;
    EXPECT_EQ(st.events, nevents);
    EXPECT_EQ(st.users, users);
    EXPECT_EQ(got.size(), decisions);
    EXPECT_EQ(st.granted, granted);
    EXPECT_EQ(st.rejected, rejected);
    EXPECT_EQ(st.control, control);
  }
  EXPECT_GE(cases, 8u);
}

// F14 (t22): the watermark (the latest event time minus the allowed lateness) saturates. With
// 106751990 days of lateness and events of year 1 it wrapped to year 292278 (signed overflow):
// the first event was decided at once and the next, in time order, refused as late.
TEST(RunApi, AHugeLatenessWithEarlyTimesHoldsEventsRatherThanWrapping) {
  crm::CompiledProgram p = compile(kProgram);
  ASSERT_TRUE(p.valid());
  std::vector<crm::Decision> ds;
  crm::Error error;
  crm::Run run(p);
  run.set_allowed_lateness(106751990LL * 86400 * 1'000'000);
  ASSERT_TRUE(run.load_profile(R"({"user":"a","age":30,"tier":"Gold"})", error)) << error.message;
  ASSERT_TRUE(run.add_event(order("o1", "a", "0001-01-01T00:00:00Z", "120"), ds, error)) << error.message;
  EXPECT_TRUE(ds.empty());  // held: no later event can be late yet
  ASSERT_TRUE(run.add_event(order("o2", "a", "0001-01-01T00:00:01Z", "120"), ds, error)) << error.message;
  EXPECT_TRUE(ds.empty());
  ASSERT_TRUE(run.finish(ds, error)) << error.message;
  EXPECT_EQ(ds.size(), 2u);
}

// F8 (t22): crm's time ends at 9999-12-31T23:59:59.999999Z. An event whose timer (`after 366
// days`), expiry or quiet-hour release would fall past it is refused at its line, and so is a
// clock move past the same bound; before, `"due":"10000-12-31T23:30:00Z"` was written, which
// crm's readers refuse (`crm forecast` then failed with an internal error).
TEST(RunApi, EventsPastTheProgramsHorizonAreRefused) {
  crm::CompiledProgram p = compile(R"(
event Order { paid: Bool }
resource push hi { body: "x" }
strategy t for business "b" {
    who: true
    when: on Order if not paid, after 366 days
    what: send hi via Push
}
)");
  ASSERT_TRUE(p.valid());
  std::vector<crm::Decision> ds;
  crm::Error error;
  crm::Run run(p);
  run.set_max_time_jump(0);
  auto order_at = [](const char* id, const char* time) {
    return std::string(R"({"type":"Order","id":")") + id + R"(","user":"a","time":")" + time + R"(","paid":false})";
  };
  ASSERT_TRUE(run.add_event(order_at("o1", "9998-12-30T23:59:59.999999Z"), ds, error)) << error.message;
  ASSERT_EQ(ds.size(), 1u);  // pending, due at the last instant
  EXPECT_EQ(crm::format_time(ds[0].due_micros), "9999-12-31T23:59:59.999999Z");
  EXPECT_FALSE(run.add_event(order_at("o2", "9998-12-31T00:00:00Z"), ds, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  EXPECT_EQ(error.message,
            "`time` 9998-12-31T00:00:00Z is too late: this program computes instants up to 366 days after an event (the "
            "longest delayed trigger, use period after claim and quiet hours together), and crm's time ends at "
            "9999-12-31T23:59:59.999999Z, so event times up to 9998-12-30T23:59:59.999999Z are accepted");
  EXPECT_EQ(ds.size(), 1u);
  int64_t until = 0;
  ASSERT_TRUE(crm::parse_time("9999-01-01T00:00:00Z", until));
  std::vector<std::string> moved;
  EXPECT_FALSE(run.advance_time(until, moved, error));
  EXPECT_NE(error.message.find("moving the clock to 9999-01-01T00:00:00Z is too late"), std::string::npos) << error.message;
  EXPECT_TRUE(moved.empty());
}

TEST(RunApi, LatenessHoldsEventsAndFinishDecidesThem) {
  crm::CompiledProgram p = compile(kProgram);
  ASSERT_TRUE(p.valid());
  std::vector<crm::Decision> ds;
  crm::Error error;
  // Lateness 0: an event older than the watermark is refused, as the caller's mistake.
  {
    crm::Run run(p);
    ASSERT_TRUE(run.load_profile(R"({"user":"a","age":30,"tier":"Gold"})", error)) << error.message;
    ASSERT_TRUE(run.add_event(order("o1", "a", "2026-11-11T10:00:00Z", "120"), ds, error)) << error.message;
    ASSERT_EQ(ds.size(), 1u);
    EXPECT_FALSE(run.add_event(order("o0", "b", "2026-11-11T09:00:00Z", "120"), ds, error));
    EXPECT_EQ(error.kind, crm::ErrorKind::Input);
    EXPECT_NE(error.message.find("late event"), std::string::npos) << error.message;
    EXPECT_EQ(ds.size(), 1u);
    run.skip_line(error.message);
    EXPECT_EQ(run.stats().skipped, 1u);
    EXPECT_EQ(run.stats().skipped_by_reason.at("late event"), 1u);
    EXPECT_EQ(run.stats().lines, 2u);
  }
  // One hour of lateness: the same order is held, and decided in time order by finish(); the
  // schedule at 12:00 runs at the end (the latest event is 12:30).
  ds.clear();
  crm::Run run(p);
  int64_t hour = 0;
  ASSERT_TRUE(crm::parse_duration("1h", hour));
  run.set_allowed_lateness(hour);
  ASSERT_TRUE(run.load_profile(R"({"user":"a","age":30,"tier":"Gold"})", error)) << error.message;
  ASSERT_TRUE(run.add_event(order("o1", "a", "2026-11-11T10:00:00Z", "120"), ds, error)) << error.message;
  ASSERT_TRUE(run.add_event(order("o0", "a", "2026-11-11T09:30:00Z", "120"), ds, error)) << error.message;
  EXPECT_TRUE(ds.empty());  // both held: the watermark is 09:00
  ASSERT_TRUE(run.add_event(order("o2", "a", "2026-11-11T12:30:00Z", "5"), ds, error)) << error.message;
  ASSERT_EQ(ds.size(), 2u);  // o0 granted (first by time), o1 refused by the per-user cap
  EXPECT_EQ(ds[0].event, "o0");
  EXPECT_EQ(ds[0].outcome, crm::Decision::Outcome::Granted);
  EXPECT_EQ(ds[0].amount_millionths, 10'500'000);
  EXPECT_EQ(ds[1].event, "o1");
  EXPECT_EQ(ds[1].outcome, crm::Decision::Outcome::Rejected);
  ASSERT_TRUE(run.finish(ds, error)) << error.message;
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds[2].strategy, "daily");  // the 12:00 schedule, once the watermark passed it
  EXPECT_TRUE(ds[2].event.empty());
  crm::RunStats st = run.stats();
  EXPECT_EQ(st.events, 3u);
  EXPECT_EQ(st.users, 1u);
  EXPECT_EQ(st.granted, 2u);
  EXPECT_EQ(st.rejected, 1u);
}

TEST(RunApi, LedgerCommitsRestartsAndHasOneWriter) {
  crm::CompiledProgram p = compile(kProgram);
  ASSERT_TRUE(p.valid());
  std::string db = temp_path(".db");
  remove_db(db);
  crm::Error error;
  std::vector<std::string> first, second;
  std::vector<std::string> lines = {order("o1", "a", "2026-11-11T10:00:00Z", "120"),
                                    order("o2", "a", "2026-11-11T13:00:00Z", "120")};
  {
    crm::Run run(p);
    ASSERT_TRUE(run.load_profile(R"({"user":"a","age":30,"tier":"Gold"})", error)) << error.message;
    ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
    EXPECT_EQ(run.state_description(), "sqlite:" + db);
    for (const auto& l : lines) ASSERT_TRUE(run.add_event(l, first, error)) << error.message;
    EXPECT_GT(run.pending_units(), 0u);
    EXPECT_EQ(run.decided_units(), 3u);  // two events and the 12:00 schedule
    // A second writer on the same ledger is refused while this one has it open.
    crm::Run other(p);
    EXPECT_FALSE(other.open_state("sqlite:" + db, false, error));
    EXPECT_EQ(error.kind, crm::ErrorKind::State);
    EXPECT_NE(error.message.find("already open in this process"), std::string::npos) << error.message;
    ASSERT_TRUE(run.commit(error)) << error.message;
    EXPECT_EQ(run.pending_units(), 0u);
    EXPECT_TRUE(run.state_error().empty());
  }
  // A restart on the same input reports the recorded decisions and decides nothing again.
  crm::Run run(p);
  ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
  for (const auto& l : lines) ASSERT_TRUE(run.add_event(l, second, error)) << error.message;
  EXPECT_EQ(second, first);
  EXPECT_EQ(run.decided_units(), 0u);
  // Another program is refused, unless allowed and its counters can carry over.
  crm::Run changed(compile(std::string(kProgram) + "strategy more { who: true  when: on Order  what: grant c10 }\n"));
  EXPECT_FALSE(changed.open_state("sqlite:" + db, false, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::State);
  // A spec that names no store is the caller's mistake; opening twice too.
  crm::Run bad(p);
  EXPECT_FALSE(bad.open_state("redis:x", false, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  EXPECT_NE(error.message.find("use `memory` or `sqlite:PATH`"), std::string::npos) << error.message;
  ASSERT_TRUE(bad.open_state("memory", false, error)) << error.message;
  EXPECT_EQ(bad.state_description(), "memory");
  EXPECT_FALSE(bad.open_state("memory", false, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  remove_db(db);
}

TEST(RunApi, TypedEventsAndProfilesAreTheirJsonLines) {
  crm::Event e;
  e.id = "o1";
  e.type = "Order";
  e.user = "a\"b";
  e.time_micros = 1'794'355'200'000'000;  // 2026-11-11T00:00:00Z
  e.fields = {{"amount", crm::Value::decimal(120'500'000)},
              {"items", crm::Value::list({crm::Value::string("book"), crm::Value::string("pen")})},
              {"wait", crm::Value::duration(90'000'000)},
              {"day", crm::Value::date(20'403)},
              {"note", crm::Value::null()}};
  EXPECT_EQ(crm::event_json(e),
            R"({"id":"o1","type":"Order","user":"a\"b","time":"2026-11-11T00:00:00Z","amount":120.5,)"
            R"("items":["book","pen"],"wait":90,"day":"2025-11-11","note":null})");
  crm::Profile prof{"a\"b", {{"age", crm::Value::integer(-3)}, {"tier", crm::Value::string("Gold")},
                             {"vip", crm::Value::boolean_value(true)}, {"joined", crm::Value::time(1'500'000)}}};
  EXPECT_EQ(crm::profile_json(prof), R"({"user":"a\"b","age":-3,"tier":"Gold","vip":true,"joined":"1970-01-01T00:00:01.500000Z"})");

  // Fed typed or as lines, a Run, a Runtime, an Audience and an explanation say the same.
  crm::CompiledProgram p = compile(kProgram);
  ASSERT_TRUE(p.valid());
  crm::Error error;
  std::vector<crm::Decision> typed, lines;
  crm::Run a(p), b(p);
  ASSERT_TRUE(a.load_profile(prof, error)) << error.message;
  ASSERT_TRUE(b.load_profile(crm::profile_json(prof), error)) << error.message;
  ASSERT_TRUE(a.add_event(e, typed, error)) << error.message;
  ASSERT_TRUE(b.add_event(crm::event_json(e), lines, error)) << error.message;
  ASSERT_EQ(typed.size(), 1u);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(typed[0].json, lines[0].json);
  EXPECT_EQ(typed[0].user, "a\"b");
  crm::Runtime rt(p);
  std::vector<crm::Decision> rt_out;
  ASSERT_TRUE(rt.load_profile(prof, error)) << error.message;
  ASSERT_TRUE(rt.process_event(e, rt_out, error)) << error.message;
  ASSERT_EQ(rt_out.size(), 1u);
  EXPECT_EQ(rt_out[0].json, lines[0].json);
  crm::Audience audience(p, e.time_micros);
  ASSERT_TRUE(audience.load_profile(prof, error)) << error.message;
  ASSERT_TRUE(audience.add_event(e, error)) << error.message;
  crm::Audience::Result counts;
  ASSERT_TRUE(audience.count(counts, error)) << error.message;
  EXPECT_EQ(counts.users, 1u);
  crm::ExplainRequest req;
  req.user = e.user;
  req.event = e.id;
  crm::ExplainSession session(p, req);
  ASSERT_TRUE(session.load_profile(prof, error)) << error.message;
  ASSERT_TRUE(session.add_event(e, error)) << error.message;
  crm::Explanation why = session.finish();
  ASSERT_TRUE(why.ok) << why.error;
  ASSERT_FALSE(why.strategies.empty());
  EXPECT_EQ(why.strategies[0].name, "big");
  EXPECT_EQ(why.strategies[0].verdict, "granted");

  // A value that does not fit its field is the same Input error in either form.
  crm::Event wrong = e;
  wrong.id = "o2";
  wrong.fields[0].second = crm::Value::string("lots");
  std::vector<crm::Decision> none;
  EXPECT_FALSE(a.add_event(wrong, none, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  std::string typed_message = error.message;
  EXPECT_FALSE(b.add_event(crm::event_json(wrong), none, error));
  EXPECT_EQ(error.message, typed_message);
  EXPECT_NE(typed_message.find("`amount`"), std::string::npos) << typed_message;
  EXPECT_TRUE(none.empty());
  crm::Profile bad_tier{"c", {{"tier", crm::Value::string("Platinum")}}};
  EXPECT_FALSE(rt.load_profile(bad_tier, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::Input);
  EXPECT_NE(error.message.find("not one of Basic, Gold"), std::string::npos) << error.message;
}

// One bound for every unit: the span of the years 0001-9999 (3652059 days), however many digits
// it takes; one more unit is refused, with a note naming the bound (a 10-digit number of seconds
// was refused while the same span in minutes passed).
TEST(TextHelpers, DurationsHaveOneBoundInEveryUnit) {
  const int64_t day = 86'400'000'000;
  EXPECT_EQ(crm::kMaxDurationMicros, 3'652'059 * day);
  for (const char* at : {"3652059d", "87649416h", "5258964960m", "315537897600s", "315537897600", "0000315537897600s"}) {
    int64_t d = -1;
    EXPECT_TRUE(crm::parse_duration(at, d)) << at;
    EXPECT_EQ(d, crm::kMaxDurationMicros) << at;
    EXPECT_EQ(crm::duration_bound_note(at), "") << at;
  }
  int64_t d = -1;
  ASSERT_TRUE(crm::parse_duration("1000000000s", d));  // ~31.7 years, as 16666667m is
  EXPECT_EQ(d, 1'000'000'000'000'000);
  for (const char* past : {"3652060d", "87649417h", "5258964961m", "315537897601s", "315537897601",
                           "99999999999999999999999999d"}) {
    d = -1;
    EXPECT_FALSE(crm::parse_duration(past, d)) << past;
    EXPECT_EQ(d, -1) << past;  // unchanged
    EXPECT_EQ(crm::duration_bound_note(past), " (at most 3652059d, the span of the years 0001-9999, in any unit)") << past;
  }
}

TEST(TextHelpers, TimesDurationsJsonAndLines) {
  int64_t t = 0;
  ASSERT_TRUE(crm::parse_time("2026-11-11T08:00+08:00", t));
  EXPECT_EQ(t, 1'794'355'200'000'000);
  EXPECT_EQ(crm::format_time(t), "2026-11-11T00:00:00Z");
  ASSERT_TRUE(crm::parse_time("2026-11-11", t));  // a bare date is midnight UTC
  EXPECT_EQ(t, 1'794'355'200'000'000);
  EXPECT_FALSE(crm::parse_time("2026-02-30T00:00Z", t));
  EXPECT_EQ(t, 1'794'355'200'000'000);  // unchanged on failure
  int64_t d = -1;
  ASSERT_TRUE(crm::parse_duration("0", d));
  EXPECT_EQ(d, 0);
  ASSERT_TRUE(crm::parse_duration("90s", d));
  EXPECT_EQ(d, 90'000'000);
  ASSERT_TRUE(crm::parse_duration("15m", d));
  EXPECT_EQ(d, 900'000'000);
  ASSERT_TRUE(crm::parse_duration("1d", d));
  EXPECT_EQ(d, 86'400'000'000);
  for (const char* bad : {"", "h", "1w", "-1s", "1 h", "1s ", "0x10s"}) EXPECT_FALSE(crm::parse_duration(bad, d)) << bad;
  for (const char* bad : {"", "1w", "1 h"}) EXPECT_EQ(crm::duration_bound_note(bad), "") << bad;
  EXPECT_EQ(crm::format_duration(30 * 3600'000'000LL), "1 day 6 hours");
  EXPECT_EQ(crm::json_quote("a\"b\\c\n\x01é"), "\"a\\\"b\\\\c\\n\\u0001é\"");

  std::istringstream in("\xEF\xBB\xBF{\"a\":1}\r\n\nlast");
  crm::LineReader lines(in);
  std::string line;
  ASSERT_TRUE(lines.next(line));
  EXPECT_EQ(line, "{\"a\":1}");  // no byte order mark, no CR
  EXPECT_EQ(lines.line(), 1u);
  ASSERT_TRUE(lines.next(line));
  EXPECT_EQ(line, "");
  ASSERT_TRUE(lines.next(line));
  EXPECT_EQ(line, "last");
  EXPECT_EQ(lines.line(), 3u);
  EXPECT_EQ(lines.bytes(), 3u + 9u + 1u + 5u);
  EXPECT_FALSE(lines.next(line));
}

using crm::testing::FailingBuf;

// A read error in the events or the profiles is not their end: the replay and the profile
// loaders fail (the lines read are decided), on one thread and on several, and a CSV read error
// stops also a caller that skips malformed records (it was reported again and again).
TEST(RunApi, AReadErrorIsNotTheEndOfTheInput) {
  std::string program = kProgram;  // without the scheduled strategy, which threads do not take
  program.erase(program.find("strategy daily"));
  crm::CompiledProgram p = compile(program.c_str());
  ASSERT_TRUE(p.valid());
  for (size_t threads : {1, 2}) {
    SCOPED_TRACE(testing::Message() << threads << " threads");
    crm::Run run(p);
    crm::Error error;
    ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
    FailingBuf profiles("{\"user\":\"a\",\"age\":30,\"tier\":\"Gold\"}\n");
    std::istream pin(&profiles);
    size_t reported = 0;
    std::string said;
    EXPECT_FALSE(run.load_profiles(pin, false, [&](size_t, const std::string& m) { return said = m, ++reported, true; }));
    EXPECT_EQ(reported, 1u);
    EXPECT_EQ(said, "read error");
    FailingBuf csv("user,age\nb,1\n");
    std::istream csv_in(&csv);
    reported = 0;
    EXPECT_FALSE(run.load_profiles(csv_in, true, [&](size_t, const std::string&) { return ++reported < 10; }));
    EXPECT_EQ(reported, 1u);
    FailingBuf events(order("o1", "a", "2026-11-11T10:00:00Z", "120") + "\n" + order("o2", "a", "2026-11-11T10:01:00Z", "120"));
    std::istream ein(&events);
    size_t decided = 0;
    EXPECT_FALSE(run.replay_bytes(ein, crm::ReplayOptions{}, [&](std::string_view, size_t n) { return decided += n, true; },
                                  {}, error));
    EXPECT_EQ(error.kind, crm::ErrorKind::Input);
    EXPECT_EQ(error.message, "read error after line 1: the events after it were not read");
    EXPECT_EQ(decided, 1u);  // the line before the failure, decided and handed on
  }
}

// No exception crosses include/: an invalid program, malformed data and an input stream that
// throws (an internal failure: std::ios_base::failure inside the library) come back as results.
TEST(PublicApi, NothingThrowsAcrossInclude) {
  crm::CompiledProgram none;
  crm::CompiledProgram p = compile(kProgram);
  ASSERT_TRUE(p.valid());
  auto throwing = [] {
    auto s = std::make_unique<std::istringstream>("user,age\na,1\n");
    s->exceptions(std::ios::failbit | std::ios::badbit);  // reading to the end throws
    return s;
  };
  crm::Error error;
  std::vector<std::string> json;
  std::vector<crm::Decision> ds;
  for (const crm::CompiledProgram* program : {&none, &p}) {
    EXPECT_NO_THROW({
      crm::Run run(*program);
      run.set_allowed_lateness(-5);
      (void)run.open_state("nonsense", false, error);
      (void)run.load_profile("{", error);
      (void)run.load_profile(crm::Profile{"u", {{"age", crm::Value::list({})}}}, error);
      auto in = throwing();
      size_t reported = 0;
      EXPECT_FALSE(run.load_profiles(*in, true, [&](size_t, const std::string&) { return ++reported, true; }));
      (void)run.add_event("not json", json, error);
      (void)run.add_event("{\"id\":1}", ds, error);
      (void)run.add_event(crm::Event{}, ds, error);
      run.skip_line("");
      (void)run.finish(json, error);
      (void)run.finish(ds, error);
      (void)run.commit(error);
      (void)run.stats();
      (void)run.state_error();
      (void)run.state_notices();
      crm::Runtime rt(*program);
      auto in2 = throwing();
      EXPECT_FALSE(rt.load_profiles(*in2, true, {}));
      (void)rt.process_event(crm::Event{}, ds, error);
      (void)rt.load_profile(crm::Profile{}, error);
      (void)rt.finish(ds, error);
      crm::Audience audience(*program, 0);
      auto in3 = throwing();
      EXPECT_FALSE(audience.load_profiles(*in3, true, {}));
      (void)audience.add_event(crm::Event{}, error);
      (void)audience.load_profile("[]", error);
      crm::Audience::Result result;
      (void)audience.count(result, error);
      crm::ExplainSession session(*program, crm::ExplainRequest{});
      (void)session.add_event(crm::Event{}, error);
      (void)session.finish();
      crm::Evaluator ev(*program);
      (void)ev.evaluate(-1, 0);
    });
  }
  EXPECT_NO_THROW({
    auto in = throwing();
    crm::LineReader lines(*in);
    std::string line;
    while (lines.next(line)) {
    }
    int64_t v;
    (void)crm::parse_time(std::string(100000, '9'), v);
    (void)crm::parse_duration(std::string(100000, '9'), v);
    (void)crm::compile_modules({{"m", std::string(1 << 21, '(')}});
    std::string err;
    (void)crm::load_compiled("CRMC garbage", err);
  });
}

// The thread-safety the headers promise: compilations run at once on several threads, and one
// CompiledProgram serves a Run per thread; every thread gets the same program and decisions.
TEST(PublicApi, CompilationsAndRunsShareAcrossThreads) {
  constexpr int kThreads = 4;
  std::vector<std::string> disasm(kThreads), checked(kThreads);
  std::vector<std::vector<std::string>> decided(kThreads);
  crm::CompiledProgram shared = compile(kProgram);
  ASSERT_TRUE(shared.valid());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      auto out = crm::compile_modules({{"main", kProgram}});
      disasm[t] = out.program.disassemble();
      checked[t] = crm::check_source("main.crm", kProgram).render_json();
      crm::Run run(shared);
      crm::Error error;
      run.load_profile(R"({"user":"a","age":30,"tier":"Gold"})", error);
      for (const char* time : {"2026-11-11T10:00:00Z", "2026-11-12T10:00:00Z"})
        run.add_event(order(time, "a", time, "150"), decided[t], error);
      run.finish(decided[t], error);
    });
  for (auto& th : threads) th.join();
  EXPECT_FALSE(disasm[0].empty());
  EXPECT_EQ(decided[0].size(), 3u);  // two grants of `big`, the 12:00 schedule
  for (int t = 1; t < kThreads; ++t) {
    EXPECT_EQ(disasm[t], disasm[0]);
    EXPECT_EQ(checked[t], checked[0]);
    EXPECT_EQ(decided[t], decided[0]);
  }
}

namespace {

// with_jit's code cache: a second program made with the same directory loads every module
// instead of compiling, and decides the same as the first and as the VM.
TEST(PublicApi, JitCodeCacheLoadsOnRestartWithTheSameDecisions) {
  if (!crm::jit_available()) GTEST_SKIP() << "built without the JIT";
  std::string dir = temp_path("_jit_cache");
  std::filesystem::remove_all(dir);
  crm::CompiledProgram vm = compile(kProgram);
  auto decide = [&](const crm::CompiledProgram& p) {
    std::vector<std::string> out;
    crm::Run run(p);
    crm::Error error;
    run.load_profile(R"({"user":"a","age":30,"tier":"Gold"})", error);
    for (const char* time : {"2026-11-11T10:00:00Z", "2026-11-12T10:00:00Z"})
      run.add_event(order(time, "a", time, "150"), out, error);
    run.finish(out, error);
    return out;
  };
  std::string error;
  crm::CompiledProgram first = vm.with_jit(error, true, dir);
  ASSERT_TRUE(first.valid()) << error;
  crm::CompiledProgram::JitStats s1, s2;
  ASSERT_TRUE(first.jit_stats(s1));
  EXPECT_EQ(s1.cache_hits, 0u);
  EXPECT_GT(s1.cache_misses, 0u);
  crm::CompiledProgram second = vm.with_jit(error, true, dir);
  ASSERT_TRUE(second.valid()) << error;
  ASSERT_TRUE(second.jit_stats(s2));
  EXPECT_EQ(s2.cache_misses, 0u);
  EXPECT_EQ(s2.cache_hits, s1.cache_misses);
  EXPECT_EQ(decide(second), decide(vm));
  EXPECT_EQ(decide(first), decide(vm));
  std::filesystem::remove_all(dir);
}

}  // namespace

// Run::replay_bytes (what `crm run` uses): the decision lines as bytes, chunk by chunk, are exactly
// the lines replay() hands on as strings, with the count of lines in each chunk, on one thread and
// on several (each worker's decisions appended to one buffer and merged in input order, with the
// timers a line releases on other workers before its own); and several threads give one
// thread's bytes here (no shared limit binds this program).
TEST(RunApi, ReplayBytesAreTheReplayedLines) {
  namespace fs = std::filesystem;
  const fs::path base = fs::path(CRM_SOURCE_DIR) / "tests/golden/run/delayed_trigger";
  auto out = crm::compile_files({base.string() + ".crm"});
  ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
  std::string one_thread;
  for (size_t threads : {1, 2, 3}) {
    for (size_t batch : {1, 4, 4096}) {
      SCOPED_TRACE(testing::Message() << threads << " threads, batches of " << batch);
      crm::ReplayOptions options;
      options.batch_lines = batch;
      crm::Error error;
      std::string lines;
      {
        crm::Run run(out.program);
        ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
        std::ifstream events(base.string() + ".events.jsonl");
        ASSERT_TRUE(run.replay(events, options, [&](std::vector<std::string>& got) {
          for (const auto& l : got) lines += l + "\n";
          return true;
        }, {}, error)) << error.message;
      }
      std::string bytes;
      size_t chunks = 0, counted = 0;
      {
        crm::Run run(out.program);
        ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
        std::ifstream events(base.string() + ".events.jsonl");
        ASSERT_TRUE(run.replay_bytes(events, options, [&](std::string_view got, size_t count) {
          EXPECT_FALSE(got.empty());
          EXPECT_EQ(got.back(), '\n');
          EXPECT_EQ(size_t(std::count(got.begin(), got.end(), '\n')), count);
          bytes += got;
          ++chunks, counted += count;
          return true;
        }, {}, error)) << error.message;
      }
      EXPECT_EQ(bytes, lines);
      EXPECT_EQ(counted, size_t(std::count(lines.begin(), lines.end(), '\n')));
      EXPECT_GE(counted, 8u);
      if (threads > 1 && batch == 1) {  // one thread without a ledger hands everything on at the end
        EXPECT_GT(chunks, 1u);
      }
      if (threads == 1 && batch == 4096) one_thread = bytes;
      if (batch == 4096) {
        EXPECT_EQ(bytes, one_thread);
      }
    }
  }
}

// `crm run --threads` (docs/scaling.md, "Threads in one process"): every run golden whose program
// threads support, replayed on 3 threads one line per batch (so no two threads race for the last
// unit of a stock or of a paced share: tests/threads/differential.sh covers the races), gives the
// golden's decisions in the golden's order. Expiries and releases of held messages come with a
// unit of the thread that owns their user rather than with the next unit of anyone; those due
// after that thread's last unit wait for a later run. So those the threads report must be the
// golden's, in any order, and the golden may have more.
TEST(RunApi, ThreadsGiveEveryRunGoldensDecisions) {
  namespace fs = std::filesystem;
  size_t cases = 0, refused_programs = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(CRM_SOURCE_DIR) / "tests/golden/run")) {
    if (entry.path().extension() != ".crm") continue;
    SCOPED_TRACE(entry.path().string());
    auto out = crm::compile_files({entry.path().string()});
    ASSERT_TRUE(out.program.valid()) << out.diagnostics.render_text();
    crm::Run run(out.program);
    crm::testing::apply_golden_run_args(entry.path(), run);
    crm::Error error;
    if (!run.set_threads(3, error)) {
      EXPECT_EQ(error.kind, crm::ErrorKind::Input);
      EXPECT_NE(error.message.find("not supported with more than one thread yet"), std::string::npos) << error.message;
      ++refused_programs;
      continue;
    }
    ++cases;
    EXPECT_EQ(run.threads(), 3u);
    fs::path base = entry.path();
    if (std::ifstream profiles(fs::path(base).replace_extension(".profiles.jsonl")); profiles) {
      EXPECT_TRUE(run.load_profiles(profiles, false, {}));
    }
    std::ifstream events(base.replace_extension(".events.jsonl"));
    std::vector<std::string> got, want;
    crm::ReplayOptions options;
    options.batch_lines = 1;
    bool ok = run.replay(events, options, [&](std::vector<std::string>& lines) {
      got.insert(got.end(), lines.begin(), lines.end());
      return true;
    }, {}, error);
    if (ok) {
      ASSERT_TRUE(run.finish(got, error)) << error.message;
    } else {
      EXPECT_EQ(error.kind, crm::ErrorKind::Input) << error.message;
    }
    std::ifstream expected(base.replace_extension("").replace_extension(".out"));
    std::string line;
    while (std::getline(expected, line))
      if (!line.empty() && line[0] == '{') want.push_back(line);
    auto moved = [](const std::string& d) {
      return d.find("\"outcome\":\"expired\"") != std::string::npos || d.find("\"held_at\":") != std::string::npos;
    };
    std::vector<std::string> got_fixed, want_fixed, got_moved, want_moved;
    for (auto& d : got) (moved(d) ? got_moved : got_fixed).push_back(d);
    for (auto& d : want) (moved(d) ? want_moved : want_fixed).push_back(d);
    EXPECT_EQ(got_fixed, want_fixed);
    std::sort(got_moved.begin(), got_moved.end());
    std::sort(want_moved.begin(), want_moved.end());
    EXPECT_TRUE(std::includes(want_moved.begin(), want_moved.end(), got_moved.begin(), got_moved.end()));
  }
  EXPECT_GE(cases, 8u);
  EXPECT_GE(refused_programs, 1u);
}

// An empty user id is refused, with the field named, on every path that takes one: event and
// profile lines, typed events and profiles, JSON Lines and CSV profile files, with one thread
// and with two (where a line is routed by its `user` before it is parsed), and the Runtime. A
// profile `{"user":""}` was loaded, as a user every profile-less one could be taken for.
TEST(RunApi, AnEmptyUserIsRefusedOnEveryPath) {
  crm::CompiledProgram p = compile(R"(
profile { age: Int  tier: Tier = Basic }
enum Tier { Basic, Gold }
event Order { amount: Money(CNY)  items: Set<String> = {} }
resource coupon c10 { discount: 10.5 CNY }
strategy big { who: true  when: on Order if amount >= 100 CNY  what: grant c10 via App }
)");
  ASSERT_TRUE(p.valid());
  const std::string kEmpty = "`user` must not be empty";
  crm::Profile typed_profile{"", {{"age", crm::Value::integer(1)}}};
  crm::Event typed_event{"t1", "Order", "", 1'794'355'200'000'000, {{"amount", crm::Value::decimal(120'000'000)}}};
  for (size_t threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    crm::Run run(p);
    crm::Error error;
    ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
    ASSERT_TRUE(run.open_state("memory", false, error)) << error.message;
    EXPECT_FALSE(run.load_profile(R"({"user":"","age":1})", error));
    EXPECT_EQ(error.message, kEmpty);
    EXPECT_EQ(error.kind, crm::ErrorKind::Input);
    error = {};
    EXPECT_FALSE(run.load_profile(typed_profile, error));
    EXPECT_EQ(error.message, kEmpty);
    std::vector<std::string> refusals;
    auto note = [&](size_t line, const std::string& message) {
      refusals.push_back(std::to_string(line) + ": " + message);
      return true;
    };
    std::istringstream jsonl("{\"user\":\"a\",\"age\":1}\n{\"user\":\"\",\"age\":2}\n");
    EXPECT_TRUE(run.load_profiles(jsonl, false, note));
    std::istringstream csv("user,age\nb,3\n,4\n");
    EXPECT_TRUE(run.load_profiles(csv, true, note));
    EXPECT_EQ(refusals, (std::vector<std::string>{"2: " + kEmpty, "3: empty `user`"}));
    // Each id is first used by a line with an empty user (refused), then by a real user's
    // event, which is decided as one engine decides it: the refused line claimed no id for a
    // thread (with two threads, most of u1..u8 are not the thread "" would route to).
    std::string lines;
    for (int i = 1; i <= 8; ++i) {
      const std::string id = "o" + std::to_string(i), user = "u" + std::to_string(i);
      lines += order(id.c_str(), "", "2026-11-11T00:00:00Z", "120") + "\n";
      lines += order(id.c_str(), user.c_str(), "2026-11-11T00:00:00Z", "120") + "\n";
    }
    std::istringstream events(lines);
    std::vector<std::string> refused, decided;
    crm::ReplayOptions options;
    options.stop_at_first_error = false;
    EXPECT_TRUE(run.replay(
        events, options,
        [&](std::vector<std::string>& ds) {
          decided.insert(decided.end(), ds.begin(), ds.end());
          return true;
        },
        [&](size_t line, const crm::Error& e) { refused.push_back(std::to_string(line) + ": " + e.message); }, error))
        << error.message;
    std::vector<std::string> expected_refused;
    for (int i = 1; i <= 8; ++i) expected_refused.push_back(std::to_string(2 * i - 1) + ": " + kEmpty);
    EXPECT_EQ(refused, expected_refused);
    EXPECT_EQ(decided.size(), 8u);  // one grant per real user
    std::vector<std::string> out;
    EXPECT_FALSE(run.add_event(order("o9", "", "2026-11-11T00:00:01Z", "120"), out, error));
    EXPECT_EQ(error.message, kEmpty);
    std::vector<crm::Decision> typed_out;
    error = {};
    EXPECT_FALSE(run.add_event(typed_event, typed_out, error));
    EXPECT_EQ(error.message, kEmpty);
    EXPECT_TRUE(out.empty());
    EXPECT_TRUE(typed_out.empty());
  }
  crm::Runtime rt(p);
  crm::Error error;
  EXPECT_FALSE(rt.load_profile(R"({"user":"","age":1})", error));
  EXPECT_EQ(error.message, kEmpty);
  error = {};
  EXPECT_FALSE(rt.load_profile(typed_profile, error));
  EXPECT_EQ(error.message, kEmpty);
  std::vector<crm::Decision> out;
  error = {};
  EXPECT_FALSE(rt.process_event(typed_event, out, error));
  EXPECT_EQ(error.message, kEmpty);
}

namespace {

// What a Run decides and refuses over the lines of `text` (Run::replay, one call), and whether
// the replay ended without an error.
struct Decided {
  std::vector<std::string> decided, refused;
  bool ok = false;
  bool operator==(const Decided& o) const { return decided == o.decided && refused == o.refused && ok == o.ok; }
};

Decided replay_text(crm::Run& run, const std::string& text, bool stop) {
  Decided o;
  std::istringstream in(text);
  crm::ReplayOptions options;
  options.stop_at_first_error = stop;
  crm::Error error;
  o.ok = run.replay(
      in, options,
      [&](std::vector<std::string>& ds) {
        o.decided.insert(o.decided.end(), ds.begin(), ds.end());
        return true;
      },
      [&](size_t n, const crm::Error& e) { o.refused.push_back(std::to_string(n) + ": " + e.message); }, error);
  return o;
}

// The same over lines (each without its newline), in skip mode.
Decided replay_lines(crm::Run& run, const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  return replay_text(run, text, false);
}

}  // namespace

// `--max-time-jump` on every path of the API. A line far ahead of the stream (2062 typed for
// 2026) is refused, not decided, and the clock stays: the lines after it are decided, not late.
// With two threads the reader refuses it as one engine does (the same decisions and the same
// refusals, stopping or skipping, with a ledger, and for a run given only new events, against
// the ledger's clock); add_event and advance_time likewise; the Runtime keeps the limit across
// a reload.
TEST(RunApi, ATimeFarAheadIsRefusedAlikeOnOneAndTwoThreads) {
  crm::CompiledProgram p = compile(R"(
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10.5 CNY }
strategy big { who: true  when: on Order  what: grant c10 via App }
)");
  ASSERT_TRUE(p.valid());
  auto line = [](int i, const char* time) {
    const std::string id = "o" + std::to_string(i), user = "u" + std::to_string(i % 7);
    return order(id.c_str(), user.c_str(), time, "120");
  };
  std::string lines;
  for (int i = 1; i <= 12; ++i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "2026-11-11T00:%02d:00Z", i);
    const std::string time = buf;
    lines += line(i, i == 6 || i == 9 ? ("2062" + time.substr(4)).c_str() : time.c_str()) + "\n";
  }
  const std::string kFar6 =
      "6: too far ahead: the event at 2062-11-11T00:06:00Z is 13149 days 1 minute after the stream's clock at "
      "2026-11-11T00:05:00Z, more than --max-time-jump allows (366 days); a time this far ahead is likely wrong (a typo "
      "in the year?) and would make every later event late, else raise the limit with --max-time-jump D (0: no limit)";
  std::map<std::string, Decided> first;  // by case: what one thread did
  for (size_t threads : {1, 2}) {
    for (bool stop : {true, false}) {
      const std::string name = std::string(stop ? "stop" : "skip");
      SCOPED_TRACE("threads " + std::to_string(threads) + ", " + name);
      const std::string db = temp_path("_" + std::to_string(threads) + name + ".db");
      remove_db(db);
      Decided o, fresh;
      {
        crm::Run run(p);
        crm::Error error;
        ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
        ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
        o = replay_text(run, lines, stop);
        ASSERT_FALSE(o.refused.empty());
        EXPECT_EQ(o.refused[0], kFar6);
        EXPECT_EQ(o.ok, !stop);
        EXPECT_EQ(o.decided.size(), stop ? 5u : 10u);  // every line but the far ones: none late
        EXPECT_EQ(o.refused.size(), stop ? 1u : 2u);
        EXPECT_TRUE(run.commit(error)) << error.message;
      }
      {
        // Only new lines, on the same ledger: the first is measured from the ledger's clock.
        crm::Run run(p);
        crm::Error error;
        ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
        ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
        fresh = replay_text(run, line(20, "2062-12-01T00:00:00Z") + "\n" + line(21, "2026-12-01T00:00:00Z") + "\n", false);
        ASSERT_EQ(fresh.refused.size(), 1u);
        EXPECT_NE(fresh.refused[0].find("1: too far ahead: the event at 2062-12-01T00:00:00Z is "),
                  std::string::npos)
            << fresh.refused[0];
        EXPECT_NE(fresh.refused[0].find("after the ledger's clock (its latest event or decision) at 2026-11-11T00:"),
                  std::string::npos)
            << fresh.refused[0];
        EXPECT_EQ(fresh.decided.size(), 1u);
        // add_event and advance_time: refused the same way, nothing decided.
        std::vector<std::string> out;
        EXPECT_FALSE(run.add_event(line(22, "2062-12-02T00:00:00Z"), out, error));
        EXPECT_EQ(error.kind, crm::ErrorKind::Input);
        EXPECT_NE(error.message.find("too far ahead: the event at 2062-12-02T00:00:00Z"), std::string::npos) << error.message;
        EXPECT_FALSE(run.advance_time(2'000'000'000'000'000, out, error));
        EXPECT_NE(error.message.find("too far ahead: moving the clock to"), std::string::npos) << error.message;
        EXPECT_TRUE(out.empty());
        EXPECT_TRUE(run.add_event(line(23, "2026-12-02T00:00:00Z"), out, error)) << error.message;
        EXPECT_EQ(out.size(), 1u);
      }
      remove_db(db);
      if (threads == 1) {
        first[name] = o;
        first[name + " new"] = fresh;
      } else {
        EXPECT_TRUE(first[name] == o) << "two threads decided or refused otherwise than one";
        EXPECT_TRUE(first[name + " new"] == fresh) << "two threads decided or refused otherwise than one";
      }
    }
    // 0: no limit (the far line taken, the lines after it late).
    crm::Run run(p);
    crm::Error error;
    run.set_max_time_jump(0);
    ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
    Decided o = replay_text(run, lines, false);
    EXPECT_EQ(o.decided.size(), 7u) << threads;  // lines 1-6 and 9
    ASSERT_FALSE(o.refused.empty());
    EXPECT_NE(o.refused[0].find("7: late event"), std::string::npos) << o.refused[0];
  }
  // The Runtime, and its limit kept across a reload.
  crm::Runtime rt(p);
  crm::Error error;
  rt.set_max_time_jump(86'400'000'000);  // 1 day
  ASSERT_TRUE(rt.enable_reload(error)) << error.message;
  std::vector<crm::Decision> out;
  EXPECT_TRUE(rt.process_event(line(1, "2026-11-11T00:00:00Z"), out, error)) << error.message;
  ASSERT_TRUE(rt.reload(p, out, error)) << error.message;
  EXPECT_FALSE(rt.process_event(line(2, "2026-11-12T00:00:01Z"), out, error));
  EXPECT_NE(error.message.find("more than --max-time-jump allows (1 day)"), std::string::npos) << error.message;
  EXPECT_TRUE(rt.process_event(line(2, "2026-11-12T00:00:00Z"), out, error)) << error.message;
}

// ---- the event contract: nested members, reasons, control characters ------------------------------

namespace {

const char* kNestedProgram = R"(
event Order { amount: Money(CNY)  items: Set<String> = {}  note: String? }
resource coupon c10 { discount: 10.5 CNY }
strategy big { who: true  when: on Order if amount >= 100 CNY  what: grant c10 via App }
)";

struct Replayed {
  std::vector<std::string> decisions;
  std::map<size_t, std::string> refused;
  crm::RunStats stats;
};

Replayed replay(const crm::CompiledProgram& p, const std::string& text, size_t threads) {
  Replayed r;
  crm::Run run(p);
  crm::Error e;
  if (threads > 1) {
    EXPECT_TRUE(run.set_threads(threads, e)) << e.message;
  }
  std::istringstream in(text);
  crm::ReplayOptions options;
  options.stop_at_first_error = false;
  EXPECT_TRUE(run.replay(
      in, options,
      [&](std::vector<std::string>& out) {
        r.decisions.insert(r.decisions.end(), out.begin(), out.end());
        return true;
      },
      [&](size_t line, const crm::Error& err) { r.refused[line] = err.message; }, e))
      << e.message;
  std::vector<std::string> end;
  EXPECT_TRUE(run.finish(end, e)) << e.message;
  r.decisions.insert(r.decisions.end(), end.begin(), end.end());
  std::sort(r.decisions.begin(), r.decisions.end());
  r.stats = run.stats();
  return r;
}

std::string line_of(int n, const std::string& extra) {
  return fmt::format(R"({{"id":"e{:03}","type":"Order","user":"u{}","time":"2026-01-01T00:00:{:02}Z","amount":100{}}})", n,
                     n % 7, n % 60, extra);
}

}  // namespace

// docs/runtime.md: members the program does not declare are ignored, objects and arrays included
// (feeds carry `context` objects); a nested value in a member the program declares is refused,
// naming the member; nesting deeper than the bound is refused. One thread or two, the same.
TEST(RunApi, NestedValuesOfUndeclaredMembersAreSkipped) {
  crm::CompiledProgram p = compile(kNestedProgram);
  ASSERT_TRUE(p.valid());
  const std::string hostile = std::string(200, '[') + std::string(200, ']');
  const std::vector<std::pair<std::string, std::string>> extras = {
      {R"(,"meta":{"src":"app"})", ""},
      {R"(,"context":{"user":"someone else","page":{"url":"/x?a=[1]","tags":[{"k":"v"},[]]}},"note":"n")", ""},
      {R"(,"l":[1,[2,{"user":"x"}]],"items":["book"])", ""},
      {R"(,"items":[["book"]])", "column 93: nested arrays are not part of the contract (member `items`)"},
      {R"(,"note":{"a":1})", "column 91: nested objects are not part of the contract (member `note`)"},
      {R"(,"deep":)" + hostile, "column 219: objects and arrays nested deeper than 128 levels"},
      {R"(,"meta":{"a" 1})", "column 96: expected `:` after the member name"},
  };
  std::string text;
  std::map<size_t, std::string> want_refused;
  size_t n = 0;
  for (int round = 0; round < 6; ++round)
    for (const auto& [extra, error] : extras) {
      ++n;
      text += line_of(int(n), extra) + "\n";
      if (!error.empty()) want_refused[n] = error;
    }
  Replayed one = replay(p, text, 1);
  EXPECT_EQ(one.refused, want_refused);
  EXPECT_EQ(one.decisions.size(), n - want_refused.size());
  Replayed two = replay(p, text, 2);
  EXPECT_EQ(two.refused, one.refused);
  EXPECT_EQ(two.decisions, one.decisions);
  EXPECT_EQ(two.stats.skipped_by_reason, one.stats.skipped_by_reason);

  // The members every event has, nested: refused, naming the member.
  crm::Run run(p);
  std::vector<crm::Decision> ds;
  crm::Error error;
  EXPECT_FALSE(run.add_event(R"({"id":"x","type":{"t":"Order"},"user":"u","time":"2026-01-01T00:00:00Z","amount":1})", ds, error));
  EXPECT_EQ(error.message, "column 18: nested objects are not part of the contract (member `type`)");
  for (const char* member : {"id", "user", "time"}) {
    // The member once, nested (given twice, the line is refused for that: DeclaredMembersGivenTwiceAreRefused).
    std::string line = R"({"type":"Order","id":"x","user":"u","time":"2026-01-01T00:00:00Z","amount":1})";
    const std::string plain = fmt::format(R"("{}":)", member);
    const size_t at = line.find(plain), end = line.find(',', at);
    line.replace(at, end - at, plain + R"(["a",{}])");
    EXPECT_FALSE(run.add_event(line, ds, error)) << line;
    EXPECT_NE(error.message.find(fmt::format("nested objects are not part of the contract (member `{}`)", member)),
              std::string::npos)
        << error.message;
  }
}

// The summary's skipped_by_reason groups lines by the kind of refusal, not by their column or
// values (which made a key per line, and cut characters in half at 40 bytes).
TEST(RunApi, SkippedLinesAreCountedByKind) {
  crm::CompiledProgram p = compile(kNestedProgram);
  ASSERT_TRUE(p.valid());
  std::string text;
  text += line_of(1, R"(,"note":{"a":1})") + "\n";
  text += line_of(2, R"(,"zzzzzzzzzzzzzz":0,"note":{"a":1})") + "\n";
  text += R"({"id":"e3","type":"Order","user":"u","time":"20€€€€€€€€€€€€€€€€€€€","amount":1})" "\n";
  text += R"({"id":"e4","type":"Order","user":"u","time":"2026-13-01","amount":1})" "\n";
  text += R"({"id":"e5","type":"Ord€€€€€€€€€€€€€€€€€€","user":"u","time":"2026-01-01T00:00:00Z"})" "\n";
  text += R"({"id":"e6","type":"Refund","user":"u","time":"2026-01-01T00:00:00Z"})" "\n";
  for (size_t threads : {1, 2}) {
    Replayed r = replay(p, text, threads);
    std::map<std::string, size_t> want = {{"nested objects are not part of the contract", 2},
                                          {"`time` must be an ISO-8601 time, not \"...\"", 2},
                                          {"unknown event type \"...\"", 2}};
    EXPECT_EQ(r.stats.skipped_by_reason, want) << threads;
  }
}

// A member the program declares given twice in one line is refused at its line, naming it and the
// column of the second (it was read as whichever came last): `type`, `user` (the thread a line
// went to under --threads and the user it was decided for could differ), `id`, `time`, a declared
// field, one nobody reads. Undeclared members are never read: their repeats stay ignored. One
// thread or two: the same refusals, the same decisions, the same skipped_by_reason.
TEST(RunApi, DeclaredMembersGivenTwiceAreRefused) {
  crm::CompiledProgram p = compile(kNestedProgram);
  ASSERT_TRUE(p.valid());
  const std::string t = R"("time":"2026-01-01T00:00:01Z")";
  std::string text;
  text += R"({"id":"e1","type":"Order","user":"u1","user":"u2",)" + t + R"(,"amount":100})" "\n";
  text += R"({"id":"e2","type":"Order","type":"Nope","user":"u1",)" + t + R"(,"amount":100})" "\n";
  text += R"({"id":"e3","id":"e4","type":"Order","user":"u1",)" + t + R"(,"amount":100})" "\n";
  text += R"({"id":"e5","type":"Order","user":"u1",)" + t + R"(,"amount":100,"amount":1})" "\n";
  text += R"({"id":"e6","type":"Order","user":"u1",)" + t + R"(,"amount":100,"note":"a","note":"b"})" "\n";
  text += R"({"id":"e7","type":"Order","user":"u1",)" + t + "," + t + R"(,"amount":100})" "\n";
  text += R"({"id":"e8","type":"Order","us\u0065r":"u1","user":"u2",)" + t + R"(,"amount":100})" "\n";
  text += R"({"id":"e9","type":"Order","user":"u1",)" + t + R"(,"amount":100,"x":1,"x":{"y":2}})" "\n";
  for (size_t threads : {1, 2}) {
    Replayed r = replay(p, text, threads);
    const std::map<size_t, std::string> want = {
        {1, "column 39: member `user` appears twice (first at column 27)"},
        {2, "column 27: member `type` appears twice (first at column 12)"},
        {3, "column 12: member `id` appears twice (first at column 2)"},
        {4, "column 82: member `amount` appears twice (first at column 69)"},
        {5, "column 93: member `note` appears twice (first at column 82)"},
        {6, "column 69: member `time` appears twice (first at column 39)"},
        {7, "column 44: member `user` appears twice (first at column 27)"}};
    EXPECT_EQ(r.refused, want) << threads;
    // The line whose undeclared member came twice is decided, for u1.
    ASSERT_EQ(r.decisions.size(), 1u) << threads;
    EXPECT_NE(r.decisions[0].find(R"("event":"e9","user":"u1")"), std::string::npos) << r.decisions[0];
    const std::map<std::string, size_t> reasons = {{"member `user` appears twice", 2}, {"member `type` appears twice", 1},
                                                   {"member `id` appears twice", 1},   {"member `amount` appears twice", 1},
                                                   {"member `note` appears twice", 1}, {"member `time` appears twice", 1}};
    EXPECT_EQ(r.stats.skipped_by_reason, reasons) << threads;
  }
  // A profile line too (JSON Lines; a CSV header naming a column twice was refused already).
  crm::CompiledProgram q = compile("profile { level: Int = 0 }\n" + std::string(kNestedProgram));
  ASSERT_TRUE(q.valid());
  crm::Run run(q);
  crm::Error e;
  EXPECT_FALSE(run.load_profile(R"({"user":"u1","level":1,"level":2})", e));
  EXPECT_EQ(e.message, "column 24: member `level` appears twice (first at column 14)");
  EXPECT_FALSE(run.load_profile(R"({"user":"u1","user":"u2"})", e));
  EXPECT_EQ(e.message, "column 14: member `user` appears twice (first at column 2)");
  EXPECT_TRUE(run.load_profile(R"({"user":"u1","x":1,"x":2})", e)) << e.message;
}

// Event data is never written raw to a terminal: control characters in a refused line's values,
// and in the ids explain prints, come out escaped (`\u001b`), so a line cannot clear the screen or
// retitle the window.
TEST(RunApi, ControlCharactersInEventDataAreEscapedInMessages) {
  crm::CompiledProgram p = compile(kNestedProgram);
  ASSERT_TRUE(p.valid());
  crm::Run run(p);
  std::vector<crm::Decision> ds;
  crm::Error error;
  auto no_controls = [](const std::string& s) {
    return std::none_of(s.begin(), s.end(), [](char c) { return (unsigned char)c < 0x20 || c == 0x7f; });
  };
  EXPECT_FALSE(run.add_event(R"({"id":"e1","type":"Ord\u001b[31mer","user":"u","time":"2026-01-01T00:00:00Z"})", ds, error));
  EXPECT_EQ(error.message, "unknown event type \"Ord\\u001b[31mer\"");
  EXPECT_FALSE(run.add_event(R"({"id":"e1","type":"Order","user":"u","time":"\u001b[2J\u001b]0;pwned\u0007","amount":1})", ds,
                             error));
  EXPECT_EQ(error.message, "`time` must be an ISO-8601 time, not \"\\u001b[2J\\u001b]0;pwned\\u0007\"");
  EXPECT_FALSE(run.add_event(R"({"id":"e1","type":"Order","user":"u","time":"2026-01-01T00:00:00Z","amount":1,"x":"\)"
                             "\x1b\"}",
                             ds, error));
  EXPECT_TRUE(no_controls(error.message)) << error.message;
  ASSERT_TRUE(run.add_event(R"({"id":"e1","type":"Order","user":"u\u009b\u001b","time":"2026-01-02T00:00:00Z","amount":1})", ds,
                            error))
      << error.message;
  EXPECT_FALSE(run.add_event(R"({"id":"e2","type":"Order","user":"u\u009b\u001b","time":"2026-01-01T00:00:00Z","amount":1})",
                             ds, error));
  EXPECT_TRUE(no_controls(error.message)) << error.message;
  EXPECT_EQ(error.message.find("\xC2\x9B"), std::string::npos) << error.message;

  crm::ExplainRequest req;
  req.user = "ann\x1b]0;pwned\x07";
  ASSERT_TRUE(crm::parse_time("2026-01-02T00:00:00Z", req.at_micros));
  crm::Explanation x = crm::explain(
      p, {}, {R"({"id":"o\u001b[2J","type":"Order","user":"ann\u001b]0;pwned\u0007","time":"2026-01-01T00:00:00Z","amount":120})"},
      req);
  ASSERT_TRUE(x.ok) << x.error;
  EXPECT_NE(x.text.find("ann\\u001b]0;pwned\\u0007"), std::string::npos) << x.text;
  EXPECT_NE(x.text.find("o\\u001b[2J"), std::string::npos) << x.text;
  std::string lines = x.text;
  lines.erase(std::remove(lines.begin(), lines.end(), '\n'), lines.end());
  EXPECT_TRUE(no_controls(lines)) << x.text;
  // The JSON form keeps the ids as they are (escaped by JSON itself).
  EXPECT_NE(x.json.find(R"("user":"ann\u001b]0;pwned\u0007")"), std::string::npos) << x.json;
}

namespace {

// Lines of `p`'s Visit for (id, user, time).
std::string visit(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"type":"Visit","id":")" + id + R"(","user":")" + user + R"(","time":")" + time + R"("})";
}

const char* kScarce = R"(
event Visit {}
resource coupon c5 { discount: 5 CNY }
strategy first_come { who: true  when: on Visit  what: grant c5 via App  how much: stock 6 }
)";

}  // namespace

// A run on a ledger given new events (not a replay of the input) measures lateness from the
// ledger's clock, as the run that recorded it did: an event before it is refused as late, not
// decided behind recorded decisions (stock to a later event; a fired timer cancelled after the
// fact), while a replay of an event the ledger holds is still answered. One and two threads alike.
TEST(RunApi, ANewEventBeforeTheLedgersClockIsLateOnOneAndTwoThreads) {
  crm::CompiledProgram p = compile(kScarce);
  ASSERT_TRUE(p.valid());
  for (size_t threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    const std::string db = temp_path("_" + std::to_string(threads) + ".db");
    remove_db(db);
    const std::string first = visit("v1", "ann", "2026-05-10T12:00:00Z");
    {
      crm::Run run(p);
      crm::Error error;
      ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
      ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
      Decided o = replay_lines(run, {first});
      ASSERT_EQ(o.decided.size(), 1u);
      EXPECT_TRUE(run.commit(error)) << error.message;
    }
    crm::Run run(p);
    crm::Error error;
    ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
    ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
    Decided o = replay_lines(run, {visit("v2", "bob", "2026-05-01T12:00:00Z"), first,
                                   visit("v3", "ann", "2026-05-09T00:00:00Z"), visit("v4", "cat", "2026-05-11T00:00:00Z")});
    ASSERT_EQ(o.refused.size(), 2u);
    EXPECT_EQ(o.refused[0],
              "1: late event: 2026-05-01T12:00:00Z is before the ledger's clock 2026-05-10T12:00:00Z (the latest time "
              "recorded in state sqlite:" + db + "; an event before it can only be a replay of one the ledger holds, and "
              "id \"v2\" is not)");
    EXPECT_EQ(o.refused[1].rfind("3: ", 0), 0u) << o.refused[1];
    ASSERT_EQ(o.decided.size(), 2u);  // v1 answered from the ledger, v4 decided
    EXPECT_NE(o.decided[0].find(R"("event":"v1","user":"ann","strategy":"first_come","outcome":"granted")"),
              std::string::npos)
        << o.decided[0];
    EXPECT_NE(o.decided[1].find(R"("event":"v4","user":"cat","strategy":"first_come","outcome":"granted")"),
              std::string::npos)
        << o.decided[1];
    EXPECT_TRUE(run.commit(error)) << error.message;
    remove_db(db);
  }
}

// With two threads a limited counter is taken in input order, which is time order: the workers
// decide one batch at once, and without the order the last units went to whichever worker asked
// first, days later than another user's event (a tester saw 3 runs of 8 differ). Every run, with
// a ledger and without, decides as one thread does.
TEST(RunApi, TwoThreadsTakeALimitedStockInInputOrder) {
  crm::CompiledProgram p = compile(kScarce);
  ASSERT_TRUE(p.valid());
  std::vector<std::string> lines;
  const char* users[] = {"ann", "bob", "cat", "dan", "eve", "fay", "gus"};
  for (int i = 0; i < 60; ++i) {
    char time[32];
    std::snprintf(time, sizeof time, "2026-05-%02dT%02d:00:00Z", 1 + i / 12, (i * 2) % 24);
    lines.push_back(visit("v" + std::to_string(i), users[(i * 5) % 7], time));
  }
  std::vector<std::string> reference;
  {
    crm::Run run(p);
    reference = replay_lines(run, lines).decided;
  }
  ASSERT_EQ(reference.size(), 60u);
  for (int rep = 0; rep < 20; ++rep) {
    SCOPED_TRACE("run " + std::to_string(rep));
    crm::Run run(p);
    crm::Error error;
    ASSERT_TRUE(run.set_threads(2, error)) << error.message;
    std::string db;
    if (rep % 2) {
      db = temp_path("_" + std::to_string(rep) + ".db");
      remove_db(db);
      ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
    }
    Decided o = replay_lines(run, lines);
    EXPECT_TRUE(o.refused.empty());
    ASSERT_EQ(o.decided, reference);
    if (!db.empty()) {
      EXPECT_TRUE(run.commit(error)) << error.message;
      remove_db(db);
    }
  }
}

// A clock move under --threads: each worker records the releases of its own users' held
// messages in a unit of its own (`clock:T/w`). With one id for every worker the ledger held
// two units of one id, a reopen refused it ("not consecutive") or a replay reported every
// worker's rows from each (a reviewer's finding). Reopened and replayed with the same move, the
// run reports what it reported, once.
TEST(RunApi, AClockMoveOnTwoThreadsRecordsEachWorkersReleasesOnce) {
  crm::CompiledProgram p = compile(R"(
event Visit {}
resource push hi { body: "hello" }
policy night { quiet between 22:00 and 08:00; }
strategy greet { who: true  when: on Visit  what: send hi via Push  zone: "UTC" }
)");
  ASSERT_TRUE(p.valid());
  std::vector<std::string> lines;
  const char* users[] = {"ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal"};
  for (int i = 0; i < 8; ++i) lines.push_back(visit("v" + std::to_string(i), users[i], "2026-05-01T23:0" + std::to_string(i) + ":00Z"));
  int64_t morning = 0;
  ASSERT_TRUE(crm::parse_time("2026-05-02T09:00:00Z", morning));
  const std::string db = temp_path(".db");
  remove_db(db);
  auto run_once = [&](std::vector<std::string>& out) {
    crm::Run run(p);
    crm::Error error;
    ASSERT_TRUE(run.set_threads(2, error)) << error.message;
    ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
    Decided o = replay_lines(run, lines);
    EXPECT_TRUE(o.refused.empty());
    out = o.decided;
    ASSERT_TRUE(run.advance_time(morning, out, error)) << error.message;
    EXPECT_TRUE(run.commit(error)) << error.message;
  };
  std::vector<std::string> first, again;
  run_once(first);
  size_t released = 0;
  for (const auto& d : first) released += d.find(R"("outcome":"granted")") != std::string::npos;
  EXPECT_EQ(released, 8u);  // each held push released at 08:00
  run_once(again);
  std::sort(first.begin(), first.end());
  std::sort(again.begin(), again.end());
  EXPECT_EQ(again, first);
  remove_db(db);
}

// A ledger serves one partition for its life: the one it was first opened with is recorded in it,
// and another is refused with both named (it would decide another partition's users afresh,
// their caps and grants being in another ledger). A ledger opened without --partition is 1/1.
// set_partition after open_state is refused, so the record is always the partition decided.
TEST(RunApi, ALedgerKeepsThePartitionItWasFirstOpenedWith) {
  crm::CompiledProgram p = compile(kScarce);
  ASSERT_TRUE(p.valid());
  const std::string db = temp_path(".db");
  remove_db(db);
  auto open = [&](std::optional<crm::Partition> part, crm::Error& error) {
    crm::Run run(p);
    if (part && !run.set_partition(*part, error)) return false;
    return run.open_state("sqlite:" + db, false, error);
  };
  crm::Error error;
  ASSERT_TRUE(open(crm::Partition{1, 2}, error)) << error.message;
  ASSERT_TRUE(open(crm::Partition{1, 2}, error)) << error.message;
  EXPECT_FALSE(open(crm::Partition{1, 3}, error));
  EXPECT_EQ(error.kind, crm::ErrorKind::State);
  EXPECT_EQ(error.message,
            "state `sqlite:" + db + "` was written by --partition 2/2, and this is --partition 2/3: the caps, grants "
            "and pending timers of a partition's users are in the ledger of the process that decided them, so a ledger "
            "serves one partition for its life (a campaign keeps its N; docs/scaling.md, \"Partitions\")");
  EXPECT_FALSE(open(std::nullopt, error));
  EXPECT_NE(error.message.find("was written by --partition 2/2, and this is a run without --partition"), std::string::npos)
      << error.message;
  remove_db(db);
  ASSERT_TRUE(open(std::nullopt, error)) << error.message;
  EXPECT_FALSE(open(crm::Partition{0, 2}, error));
  EXPECT_NE(error.message.find("was written by a run without --partition, and this is --partition 1/2"), std::string::npos)
      << error.message;
  crm::Run run(p);
  ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
  EXPECT_FALSE(run.set_partition({0, 2}, error));
  EXPECT_EQ(error.message, "set_partition must come before open_state");
  remove_db(db);
}

// A retry of another partition's event comes after the clock has passed it: it is that
// partition's to answer, and here it is skipped as "other partition" like every event of its
// users. It used to be refused as late and, in stop mode, stopped the process before its own
// later events (one process answers the same stream from its ledger). One and two threads.
TEST(RunApi, ARetryOfAnotherPartitionsEventIsSkippedNotLate) {
  crm::CompiledProgram p = compile(kScarce);
  ASSERT_TRUE(p.valid());
  // Users of each partition of 2.
  std::vector<std::string> mine, theirs;
  for (int i = 0; mine.size() < 3 || theirs.size() < 3; ++i) {
    std::string u = "u" + std::to_string(i);
    (crm::in_partition({1, 2}, u) ? mine : theirs).push_back(u);
  }
  const std::vector<std::string> lines = {
      visit("e0", theirs[0], "2026-05-10T12:00:00Z"), visit("e1", mine[0], "2026-05-10T12:00:01Z"),
      visit("e2", theirs[1], "2026-05-10T12:00:02Z"),
      visit("e0", theirs[0], "2026-05-10T12:00:00Z"),  // retries, both after the clock passed them
      visit("e1", mine[0], "2026-05-10T12:00:01Z"),   visit("e3", mine[1], "2026-05-10T12:00:03Z"),
      visit("e4", mine[2], "2026-05-10T12:00:04Z")};
  std::string text;
  for (const auto& l : lines) text += l + "\n";
  for (size_t threads : {1, 2}) {
    SCOPED_TRACE("threads " + std::to_string(threads));
    const std::string db = temp_path("_" + std::to_string(threads) + ".db");
    remove_db(db);
    crm::Run run(p);
    crm::Error error;
    ASSERT_TRUE(run.set_partition({1, 2}, error)) << error.message;
    ASSERT_TRUE(run.set_threads(threads, error)) << error.message;
    ASSERT_TRUE(run.open_state("sqlite:" + db, false, error)) << error.message;
    Decided o = replay_text(run, text, /*stop=*/true);
    EXPECT_TRUE(o.ok);
    EXPECT_TRUE(o.refused.empty()) << o.refused[0];
    // e1 decided, its retry answered, e3 and e4 decided: this partition's users only.
    ASSERT_EQ(o.decided.size(), 4u);
    for (const auto& [k, id] : std::vector<std::pair<size_t, std::string>>{{0, "e1"}, {1, "e1"}, {2, "e3"}, {3, "e4"}})
      EXPECT_NE(o.decided[k].find("\"event\":\"" + id + "\""), std::string::npos) << o.decided[k];
    EXPECT_TRUE(run.commit(error)) << error.message;
    remove_db(db);
  }
}
