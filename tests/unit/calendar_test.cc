// calendar_test.cc - the local calendar of a zone (issue 9, items 9 and 10): calendar periods
// (hour, ISO week, calendar month) of per-user limits and policies, the date built-ins in the
// strategy's or the program's zone, and schedule clock times across daylight-saving changes.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "compile_helpers.h"
#include "bytecode/builtins.h"
#include "bytecode/calendar_period.h"
#include "support/civil_time.h"
#include "tests/reference/ast_evaluator.h"
#include "runtime/vm/vm.h"
#include "support/time_zone.h"

namespace {

using crm::bytecode::CalendarUnit;
using crm::bytecode::same_calendar_period;
using crm::support::ZoneRules;
using crm::testing::Compiled;
using crm::testing::compile_text;
using crm::testing::Harness;
using crm::testing::T;

ZoneRules zone(const char* name) {
  std::string err;
  auto z = crm::support::load_zone(name, err);
  EXPECT_TRUE(z.has_value()) << err;
  return z.value_or(ZoneRules{});
}

const ZoneRules kUtc;

}  // namespace

// ---- calendar periods --------------------------------------------------------------------------

TEST(CalendarPeriods, AWeekIsTheIsoWeekFromMonday) {
  // Wed 2026-02-04 and Thu 02-05 are one ISO week (the week used to start on Thursday).
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Week, T("2026-02-04T10:00:00Z"), T("2026-02-05T10:00:00Z"), kUtc));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Week, T("2026-02-02T00:00:00Z"), T("2026-02-08T23:59:59Z"), kUtc));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Week, T("2026-02-08T23:59:59Z"), T("2026-02-09T00:00:00Z"), kUtc));
  // Before 1970 too (floor, not truncation): 1969-12-29 was a Monday.
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Week, T("1969-12-29T00:00:00Z"), T("1970-01-04T23:59:59Z"), kUtc));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Week, T("1969-12-28T23:59:59Z"), T("1969-12-29T00:00:00Z"), kUtc));
  // In Beijing the week starts at 16:00Z on Sunday.
  ZoneRules shanghai = zone("Asia/Shanghai");
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Week, T("2026-02-08T15:59:59Z"), T("2026-02-08T16:00:00Z"), shanghai));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Week, T("2026-02-08T16:00:00Z"), T("2026-02-09T10:00:00Z"), shanghai));
}

TEST(CalendarPeriods, AWeekAcrossADaylightSavingChangeHasOneHourLess) {
  // New York's clocks go forward on Sunday 2026-03-08: the week of 2 March starts at 05:00Z
  // (EST) and ends at 04:00Z on 9 March (EDT), 167 hours later.
  ZoneRules ny = zone("America/New_York");
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Week, T("2026-03-02T04:59:59Z"), T("2026-03-02T05:00:00Z"), ny));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Week, T("2026-03-02T05:00:00Z"), T("2026-03-09T03:59:59Z"), ny));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Week, T("2026-03-09T03:59:59Z"), T("2026-03-09T04:00:00Z"), ny));
}

TEST(CalendarPeriods, AMonthIsTheCalendarMonthIncludingFebruary29) {
  // Jan 30 and Feb 2 are two months (they used to be one 30-day block).
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Month, T("2026-01-30T12:00:00Z"), T("2026-02-02T12:00:00Z"), kUtc));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Month, T("2026-02-01T00:00:00Z"), T("2026-02-28T23:59:59Z"), kUtc));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Month, T("2028-02-01T00:00:00Z"), T("2028-02-29T23:59:59Z"), kUtc));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Month, T("2028-02-29T23:59:59Z"), T("2028-03-01T00:00:00Z"), kUtc));
  // The same year's month only: January 2026 is not January 2027.
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Month, T("2026-01-15T00:00:00Z"), T("2027-01-15T00:00:00Z"), kUtc));
  // In Beijing, 29 February 2028 ends at 16:00Z.
  ZoneRules shanghai = zone("Asia/Shanghai");
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Month, T("2028-02-01T00:00:00+08:00"), T("2028-02-29T15:59:59Z"), shanghai));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Month, T("2028-02-29T15:59:59Z"), T("2028-02-29T16:00:00Z"), shanghai));
  // In New York, March ends at 04:00Z (EDT) and February at 05:00Z (EST).
  ZoneRules ny = zone("America/New_York");
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Month, T("2026-02-01T05:00:00Z"), T("2026-03-01T04:59:59Z"), ny));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Month, T("2026-03-01T04:59:59Z"), T("2026-03-01T05:00:00Z"), ny));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Month, T("2026-03-01T05:00:00Z"), T("2026-04-01T03:59:59Z"), ny));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Month, T("2026-04-01T03:59:59Z"), T("2026-04-01T04:00:00Z"), ny));
}

TEST(CalendarPeriods, AnHourIsTheLocalClockHourAndARepeatedHourCountsTwice) {
  // India is 5:30 ahead: its hours start at half past the UTC hour.
  ZoneRules kolkata = zone("Asia/Kolkata");
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Hour, T("2026-01-01T00:30:00Z"), T("2026-01-01T01:29:59Z"), kolkata));
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Hour, T("2026-01-01T00:29:59Z"), T("2026-01-01T00:30:00Z"), kolkata));
  // New York's clocks go back at 06:00Z on 2026-11-01: 01:30 EDT (05:30Z) and 01:10 EST (06:10Z)
  // show the same clock hour but are two hours.
  ZoneRules ny = zone("America/New_York");
  EXPECT_FALSE(same_calendar_period(CalendarUnit::Hour, T("2026-11-01T05:30:00Z"), T("2026-11-01T06:10:00Z"), ny));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Hour, T("2026-11-01T05:00:00Z"), T("2026-11-01T05:59:59Z"), ny));
  EXPECT_TRUE(same_calendar_period(CalendarUnit::Hour, T("2026-11-01T06:00:00Z"), T("2026-11-01T06:59:59Z"), ny));
}

namespace {
// same_calendar_period as it was before CalendarPeriod (both instants' sides computed at every
// call), the reference for the period computed once.
bool reference_same_period(CalendarUnit unit, int64_t then, int64_t now, const ZoneRules& zone) {
  using crm::support::floor_div;
  const int64_t then_offset = zone.offset_at(then), now_offset = zone.offset_at(now);
  const int64_t then_day = zone.local_day(then), now_day = zone.local_day(now);
  switch (unit) {
    case CalendarUnit::Hour:
      if (then_offset != now_offset) return false;
      return floor_div(then + then_offset, crm::support::kMicrosPerHour) ==
             floor_div(now + now_offset, crm::support::kMicrosPerHour);
    case CalendarUnit::Day: return then_day == now_day;
    case CalendarUnit::Week: return floor_div(then_day + 3, 7) == floor_div(now_day + 3, 7);
    case CalendarUnit::Month: {
      int64_t ty, ny;
      unsigned tm, nm, td, nd;
      crm::support::civil_from_days(then_day, ty, tm, td);
      crm::support::civil_from_days(now_day, ny, nm, nd);
      return ty == ny && tm == nm;
    }
  }
  return false;
}
}  // namespace

// Per-user caps work out now's period once per cap and test every delivery against it.
TEST(CalendarPeriods, APeriodComputedOnceAgreesWithTheRuleForEveryInstant) {
  const std::vector<std::pair<ZoneRules, std::vector<const char*>>> zones{
      {kUtc, {"2026-02-28T23:59:59Z", "1970-01-01T00:00:00Z", "1969-12-29T00:00:00Z"}},
      // The clocks go back at 06:00Z on 2026-11-01 and forward at 07:00Z on 2026-03-08.
      {zone("America/New_York"), {"2026-11-01T05:30:00Z", "2026-11-01T06:10:00Z", "2026-03-08T07:00:00Z", "2026-03-31T23:00:00Z"}},
      {zone("Asia/Kolkata"), {"2026-01-01T00:30:00Z", "2026-01-31T18:29:59Z"}},
      // Lord Howe moves its clocks by half an hour.
      {zone("Australia/Lord_Howe"), {"2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"}}};
  const int64_t step = 17 * crm::support::kMicrosPerMinute, span = 40 * crm::support::kMicrosPerDay;
  size_t inside = 0, outside = 0;
  for (const auto& [z, nows] : zones)
    for (const char* text : nows)
      for (CalendarUnit unit : {CalendarUnit::Hour, CalendarUnit::Day, CalendarUnit::Week, CalendarUnit::Month}) {
        const int64_t now = T(text);
        const crm::bytecode::CalendarPeriod period(unit, now, z);
        for (int64_t then = now - span; then <= now + span; then += step) {
          const bool expected = reference_same_period(unit, then, now, z);
          ASSERT_EQ(period.holds(then), expected) << text << " unit " << int(unit) << " then " << then;
          ASSERT_EQ(same_calendar_period(unit, then, now, z), expected);
          (expected ? inside : outside) += 1;
        }
      }
  EXPECT_GT(inside, 1000u);  // both answers were given many times
  EXPECT_GT(outside, 1000u);
}

TEST(CalendarPeriods, PerUserLimitsAndPoliciesUseThem) {
  Compiled c = compile_text(R"(
event Order { amount: Money(CNY) }
resource coupon c { discount: 5 CNY }
resource push hi { body: "hi" }
policy weekly_push for business "m" { Push <= 1 per week; same resource type once per month; }
strategy monthly for business "a" { who: true  when: on Order  what: grant c  how much: per user 1 per month  zone: "Asia/Shanghai" }
strategy note for business "m" { who: true  when: on Order  what: send hi via Push  zone: "Asia/Shanghai" }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  auto order = [](const char* id, const char* time) {
    return std::string("{\"type\":\"Order\",\"id\":\"") + id + "\",\"user\":\"u\",\"time\":\"" + time + "\",\"amount\":1}";
  };
  auto outcome = [](const crm::engine::Decision& d) {
    return d.outcome == crm::engine::Outcome::Granted ? std::string("granted") : std::string("rejected:") + crm::engine::reason_name(d.reason);
  };
  auto run = [&](const char* id, const char* time) {
    std::vector<std::string> out;
    for (const auto& d : h.process(order(id, time))) out.push_back(outcome(d));
    return out;
  };
  using V = std::vector<std::string>;
  // Decided in priority order then by name: `monthly` first, then `note`. Beijing time:
  // Fri 30 Jan 20:00: both delivered.
  EXPECT_EQ(run("o1", "2026-01-30T12:00:00Z"), (V{"granted", "granted"}));
  // Sun 1 Feb 20:00: a new month for the coupon; the push is in the same ISO week (from Mon 26 Jan).
  EXPECT_EQ(run("o2", "2026-02-01T12:00:00Z"), (V{"granted", "rejected:channel_cap"}));
  // Mon 2 Feb 00:00 (16:00Z on Sunday): the same month for the coupon; a new week for the push.
  EXPECT_EQ(run("o3", "2026-02-01T16:00:00Z"), (V{"rejected:per_user_limit", "granted"}));
  // Tue 10 Feb: another new week, but the push of 2 Feb is a message of the same month.
  EXPECT_EQ(run("o4", "2026-02-10T03:00:00Z"), (V{"rejected:per_user_limit", "rejected:same_type"}));
}

// ---- date built-ins ----------------------------------------------------------------------------

TEST(TimeBuiltins, ReadTheCalendarOfTheContextsZone) {
  using crm::bytecode::Overload;
  ZoneRules shanghai = zone("Asia/Shanghai"), ny = zone("America/New_York");
  // 23:30Z on Sunday 1 March 2026: Monday 07:30 on 2 March in Beijing, 18:30 EST in New York.
  const int64_t t = T("2026-03-01T23:30:00Z");
  auto call = [&](Overload b, std::vector<int64_t> args, const ZoneRules* z) {
    crm::vm::Context ctx;
    ctx.now = t;
    ctx.zone = z;
    const char* err = nullptr;
    int64_t v = crm::vm::call_builtin(static_cast<uint32_t>(b), args.data(), ctx, &err);
    EXPECT_EQ(err, nullptr);
    return v;
  };
  const int64_t mar1 = *crm::support::parse_date("2026-03-01"), mar2 = *crm::support::parse_date("2026-03-02");
  const int64_t born = *crm::support::parse_date("1990-03-02");
  for (const ZoneRules* z : {static_cast<const ZoneRules*>(nullptr), &kUtc}) {
    EXPECT_EQ(call(Overload::Today, {}, z), mar1);
    EXPECT_EQ(call(Overload::DateOfTime, {t}, z), mar1);
    EXPECT_EQ(call(Overload::HourOfTime, {t}, z), 23);
    EXPECT_EQ(call(Overload::WeekdayOfTime, {t}, z), 7);
    EXPECT_EQ(call(Overload::DaysToAnniversary, {born}, z), 1);
  }
  EXPECT_EQ(call(Overload::Today, {}, &shanghai), mar2);
  EXPECT_EQ(call(Overload::DateOfTime, {t}, &shanghai), mar2);
  EXPECT_EQ(call(Overload::HourOfTime, {t}, &shanghai), 7);
  EXPECT_EQ(call(Overload::WeekdayOfTime, {t}, &shanghai), 1);
  EXPECT_EQ(call(Overload::DaysToAnniversary, {born}, &shanghai), 0);
  EXPECT_EQ(call(Overload::HourOfTime, {t}, &ny), 18);
  EXPECT_EQ(call(Overload::WeekdayOfTime, {t}, &ny), 7);
  // A Date argument is already a calendar day: no zone applies.
  EXPECT_EQ(call(Overload::WeekdayOfDate, {mar2}, &ny), 1);
  // Daylight saving: 12:00Z is 07:00 EST on 7 March and 08:00 EDT on 9 March.
  crm::vm::Context ctx;
  ctx.zone = &ny;
  const char* err = nullptr;
  int64_t before = T("2026-03-07T12:00:00Z"), after = T("2026-03-09T12:00:00Z");
  EXPECT_EQ(crm::vm::call_builtin(static_cast<uint32_t>(Overload::HourOfTime), &before, ctx, &err), 7);
  EXPECT_EQ(crm::vm::call_builtin(static_cast<uint32_t>(Overload::HourOfTime), &after, ctx, &err), 8);
  // The ends of the range do not overflow.
  int64_t extremes[] = {INT64_MIN + 1, INT64_MAX};
  for (int64_t x : extremes) {
    int64_t h = crm::vm::call_builtin(static_cast<uint32_t>(Overload::HourOfTime), &x, ctx, &err);
    EXPECT_EQ(err, nullptr);
    EXPECT_TRUE(h >= 0 && h < 24) << h;
  }
}

namespace {

// Segments true exactly when the built-ins read Beijing's calendar at 2026-03-01T23:30Z.
const char* kBeijingSegments = R"(
event Visit { page: String }
segment s_today = today() == 2026-03-02
segment s_date = date(now()) == 2026-03-02
segment s_hour = hour(now()) == 7
segment s_weekday = weekday(now()) == 1
segment s_anniversary = days_to_anniversary(1990-03-02) == 0
)";

}  // namespace

TEST(TimeBuiltins, SegmentsUseTheProgramsZoneInTheScalarVmTheBatchVmAndTheAstEvaluator) {
  for (bool declared : {true, false}) {
    SCOPED_TRACE(declared ? "zone \"Asia/Shanghai\"" : "no zone declaration (UTC)");
    Compiled c = compile_text(std::string(declared ? "zone \"Asia/Shanghai\"\n" : "") + kBeijingSegments);
    ASSERT_TRUE(c.ok) << c.diagnostics;
    Harness h(c);
    h.observe(R"({"type":"Visit","id":"v1","user":"ann","time":"2026-03-01T20:00:00Z","page":"home"})");
    const int64_t now = T("2026-03-01T23:30:00Z");
    crm::vm::AstEvaluator ast(c.front->program, c.out);
    crm::vm::AstEnv env;
    const auto profile = h.engine.profile_of("ann");
    env.profile = profile ? &*profile : nullptr;
    env.now = now;
    env.zone = &c.program().zone;
    env.strings = &h.engine.strings();
    env.collections = &h.engine.collections();
    std::map<std::string, const crm::ast::Expr*> expr_of;
    for (auto& m : c.front->program.modules)
      for (const crm::ast::Decl* d : m.ast->decls)
        if (d->kind == crm::ast::DeclKind::Segment)
          expr_of[d->name] = static_cast<const crm::ast::SegmentDecl*>(d)->value;
    auto audience = h.engine.audience(now);
    for (const char* name : {"s_today", "s_date", "s_hour", "s_weekday", "s_anniversary"}) {
      SCOPED_TRACE(name);
      EXPECT_EQ(h.segment(c, name, "ann", now), declared ? 1 : 0);  // scalar VM
      int64_t v = -1;
      std::string err;
      ASSERT_TRUE(ast.eval(expr_of.at(name), env, v, err)) << err;  // reference evaluator
      EXPECT_EQ(v, declared ? 1 : 0);
      for (const auto& [segment, count] : audience) {  // batch VM
        if (segment == name) {
          EXPECT_EQ(count, declared ? 1 : 0);
        }
      }
    }
  }
}

TEST(TimeBuiltins, AStrategysZoneOverridesTheProgramsForItsConditions) {
  Compiled c = compile_text(R"(
zone "Asia/Shanghai"
event Visit { page: String }
resource points p { amount: 1 }
strategy beijing_morning for business "a" { who: hour(now()) == 7 and today() == 2026-03-02  when: on Visit  what: grant p }
strategy london_night for business "b" {
    who: hour(now()) == 23 and today() == 2026-03-01
    when: on Visit
    what: grant p
    zone: "Europe/London"
}
strategy utc_would_match for business "c" { who: hour(now()) == 23  when: on Visit  what: grant p }
)");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  auto out = h.process(R"({"type":"Visit","id":"v1","user":"ann","time":"2026-03-01T23:30:00Z","page":"home"})");
  std::set<std::string> granted;
  for (const auto& d : out) granted.insert(c.program().strategies[d.strategy].name);
  EXPECT_EQ(granted, (std::set<std::string>{"beijing_morning", "london_night"}));
  // The batch form of `who` (audience counts) reads the same zones.
  std::map<std::string, int64_t> counts;
  for (const auto& [name, n] : h.engine.audience(T("2026-03-01T23:30:00Z"))) counts[name] = n;
  EXPECT_EQ(counts["beijing_morning"], 1);
  EXPECT_EQ(counts["london_night"], 1);
  EXPECT_EQ(counts["utc_would_match"], 0);
}

TEST(TimeBuiltins, DateOfAConstantIsNotFoldedInUtc) {
  // `date(T)` of a constant used to be folded at compile time in UTC; it depends on the zone.
  Compiled c = compile_text("zone \"Asia/Shanghai\"\nevent Visit { page: String }\n"
                            "segment s = date(2026-03-01T23:30Z) == 2026-03-02\n");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  EXPECT_EQ(h.segment(c, "s", "ann", T("2026-01-01T00:00:00Z")), 1);
}

// ---- schedules ---------------------------------------------------------------------------------

namespace {

// `prefix` goes before the declarations (a module-level `zone`).
std::vector<std::string> schedule_times(const std::string& program, const char* upto, const std::string& prefix = "") {
  Compiled c = compile_text(prefix + "event Visit { page: String }\nresource push hi { body: \"hi\" }\n" + program);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  Harness h(c);
  h.process(R"({"type":"Visit","id":"v0","user":"ann","time":"2026-01-01T00:00:00Z","page":"home"})");
  std::vector<crm::engine::Decision> out;
  std::string err;
  EXPECT_TRUE(h.engine.fire_schedules(T(upto), out, err)) << err;
  std::vector<std::string> times;
  for (const auto& d : out) times.push_back(crm::support::format_time(d.at));
  return times;
}

}  // namespace

TEST(Schedules, EveryDayAtAClockTimeRunsAtThatTimeInTheZone) {
  using V = std::vector<std::string>;
  // The issue's case: 09:00 in Asia/Shanghai is 01:00Z (it ran at 09:00Z, 17:00 in Beijing).
  EXPECT_EQ(schedule_times("strategy s { who: true  when: every 1 day at 09:00 between 2026-03-01T00:00+08:00 and "
                           "2026-03-03T00:00+08:00  what: send hi via Push  zone: \"Asia/Shanghai\" }\n",
                           "2026-03-04T00:00:00Z"),
            (V{"2026-03-01T01:00:00Z", "2026-03-02T01:00:00Z"}));
  // The program's default zone applies to strategies without `zone:`; without one, UTC.
  const std::string daily = "strategy s { who: true  when: every 1 day at 09:00 between 2026-03-01T00:00+08:00 and "
                            "2026-03-03T00:00+08:00  what: send hi via Push }\n";
  EXPECT_EQ(schedule_times(daily, "2026-03-04T00:00:00Z", "zone \"Asia/Shanghai\"\n"),
            (V{"2026-03-01T01:00:00Z", "2026-03-02T01:00:00Z"}));
  EXPECT_EQ(schedule_times(daily, "2026-03-04T00:00:00Z"), (V{"2026-03-01T09:00:00Z", "2026-03-02T09:00:00Z"}));
  // New York, clocks back on 1 November: 01:30 happens twice and runs once, at the first (EDT).
  EXPECT_EQ(schedule_times("strategy s { who: true  when: every 1 day at 01:30 between 2026-10-31T00:00-04:00 and "
                           "2026-11-03T00:00-05:00  what: send hi via Push  zone: \"America/New_York\" }\n",
                           "2026-11-04T00:00:00Z"),
            (V{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}));
  // Clocks forward on 8 March: 02:30 does not exist that day and runs at 03:00 EDT.
  EXPECT_EQ(schedule_times("strategy s { who: true  when: every 1 day at 02:30 between 2026-03-07T00:00-05:00 and "
                           "2026-03-10T00:00-04:00  what: send hi via Push  zone: \"America/New_York\" }\n",
                           "2026-03-11T00:00:00Z"),
            (V{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}));
  // Weekly keeps the local clock too.
  EXPECT_EQ(schedule_times("strategy s { who: true  when: every 1 week at 10:00 between 2026-03-02T00:00-05:00 and "
                           "2026-03-17T00:00-04:00  what: send hi via Push  zone: \"America/New_York\" }\n",
                           "2026-03-18T00:00:00Z"),
            (V{"2026-03-02T15:00:00Z", "2026-03-09T14:00:00Z", "2026-03-16T14:00:00Z"}));
  // Periods shorter than a day step in elapsed time from the first run at the local clock time.
  EXPECT_EQ(schedule_times("strategy s { who: true  when: every 12 hours at 06:00 between 2026-03-07T00:00-05:00 and "
                           "2026-03-09T00:00-04:00  what: send hi via Push  zone: \"America/New_York\" }\n",
                           "2026-03-10T00:00:00Z"),
            (V{"2026-03-07T11:00:00Z", "2026-03-07T23:00:00Z", "2026-03-08T11:00:00Z", "2026-03-08T23:00:00Z"}));
}

// F1 (t22): a window that starts in the second pass of a repeated hour, before HH:MM comes round
// again, runs at that second pass (the first HH:MM on or after the start); later runs keep to the
// first pass. Before, the first run was a day late (only 2026-11-02T06:30Z ran).
TEST(Schedules, AWindowStartingInTheSecondPassOfARepeatedHourRunsThatDay) {
  using V = std::vector<std::string>;
  EXPECT_EQ(schedule_times("strategy s { who: true  when: every 1 day at 01:30 between 2026-11-01T01:10-05:00 and "
                           "2026-11-03T00:00-05:00  what: send hi via Push  zone: \"America/New_York\" }\n",
                           "2026-11-04T00:00:00Z"),
            (V{"2026-11-01T06:30:00Z", "2026-11-02T06:30:00Z"}));
}
