// civil_time_test.cc - ISO-8601 parsing used by literals and (later) the event contract.
#include "support/civil_time.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <thread>
#include <vector>

using namespace crm::support;

namespace {
// The plain fmt rendering of an instant (UTC, microseconds), against which format_time and
// append_time are checked.
std::string reference_rendering(int64_t micros) {
  int64_t days = floor_div(micros, kMicrosPerDay), rest = micros - days * kMicrosPerDay;
  std::string out = format_date(static_cast<int32_t>(days));
  out += fmt::format("T{:02}:{:02}:{:02}", rest / kMicrosPerHour, rest / kMicrosPerMinute % 60, rest / kMicrosPerSecond % 60);
  if (int64_t frac = rest % kMicrosPerSecond) out += fmt::format(".{:06}", frac);
  return out + "Z";
}
}  // namespace

TEST(CivilTime, ParsesOffsetsToUtc) {
  auto a = parse_time("2026-11-11T00:00+08:00");
  auto b = parse_time("2026-11-10T16:00Z");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(format_time(*a), "2026-11-10T16:00:00Z");
}

TEST(CivilTime, NoOffsetMeansUtc) {
  EXPECT_EQ(parse_time("2010-12-01T08:26:00"), parse_time("2010-12-01T08:26:00Z"));
  EXPECT_EQ(parse_time("2010-12-01 08:26:00"), parse_time("2010-12-01T08:26Z"));
}

TEST(CivilTime, RejectsImpossibleDates) {
  EXPECT_FALSE(parse_date("2026-02-29"));
  EXPECT_TRUE(parse_date("2024-02-29"));
  EXPECT_FALSE(parse_time("2026-13-01T00:00Z"));
  EXPECT_FALSE(parse_time("2026-01-01T24:00Z"));
  EXPECT_FALSE(parse_time("2026-01-01T10:00+8"));
  EXPECT_FALSE(parse_time("2026-01-01"));
  EXPECT_TRUE(parse_time("2026-01-01", true));
}

TEST(CivilTime, FractionalSeconds) {
  auto t = parse_time("2026-01-01T00:00:01.5Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(*t % kMicrosPerSecond, 500000);
  EXPECT_EQ(format_time(*t), "2026-01-01T00:00:01.500000Z");
}

// F12 (t22): times are microseconds; a non-zero digit past the sixth is refused (it was dropped,
// so 08:00:00.0000009 and 08:00:00.0000001 were the same instant); zeros past it are fine.
TEST(CivilTime, DigitsFinerThanAMicrosecondAreRefusedUnlessZero) {
  EXPECT_FALSE(parse_time("2026-01-01T00:00:00.1234567Z"));
  EXPECT_FALSE(parse_time("2026-01-01T08:00:00.0000001Z"));
  EXPECT_EQ(parse_time("2026-01-01T00:00:00.1234560000Z"), parse_time("2026-01-01T00:00:00.123456Z"));
  EXPECT_TRUE(parse_time("2026-01-01T00:00:00.123456+08:00"));
}

// crm's time is 0001-01-01T00:00:00Z..9999-12-31T23:59:59.999999Z, defined once here. An
// offset can carry a four-digit local time out of it; parse_time refuses that instant (it used
// to return year 0 or 10000, which the ledger's reader refuses), and says why.
TEST(CivilTime, InstantsOutsideTheYears0001To9999AreRefused) {
  EXPECT_EQ(kFirstDay, days_from_civil(1, 1, 1));
  EXPECT_EQ(kLastDay, days_from_civil(9999, 12, 31));
  EXPECT_EQ(parse_time("0001-01-01T00:00:00Z"), kFirstInstant);
  EXPECT_EQ(parse_time("0001-01-01T01:00:00+01:00"), kFirstInstant);
  EXPECT_EQ(parse_time("9999-12-31T23:59:59.999999Z"), kLastInstant);
  EXPECT_EQ(parse_time("9999-12-31T22:59:59.999999-01:00"), kLastInstant);
  EXPECT_FALSE(parse_time("0001-01-01T00:00:00+01:00"));
  EXPECT_FALSE(parse_time("0001-01-01T00:59:59.999999+01:00"));
  EXPECT_FALSE(parse_time("9999-12-31T23:59:59-01:00"));
  EXPECT_FALSE(parse_time("9999-12-31T23:00:00-01:00"));
  EXPECT_EQ(time_range_note("0001-01-01T00:00:00+01:00"),
            " (it is 0000-12-31T23:00:00Z in UTC, and crm's time is 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z)");
  EXPECT_EQ(time_range_note("9999-12-31T23:59:59-01:00"),
            " (it is 10000-01-01T00:59:59Z in UTC, and crm's time is 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z)");
  EXPECT_EQ(time_range_note("2026-01-01T00:00:00Z"), "");  // accepted
  EXPECT_EQ(time_range_note("2026-13-01T00:00:00Z"), "");  // malformed: nothing to add
  EXPECT_EQ(time_range_note("0001-01-01", true), "");
  EXPECT_TRUE(in_time_range(kFirstInstant) && in_time_range(kLastInstant));
  EXPECT_FALSE(in_time_range(kFirstInstant - 1) || in_time_range(kLastInstant + 1));
}

TEST(CivilTime, DaysRoundTrip) {
  for (int64_t d = -800000; d < 800000; d += 997) {
    int64_t y;
    unsigned m, dd;
    civil_from_days(d, y, m, dd);
    EXPECT_EQ(days_from_civil(y, m, dd), d);
  }
}

TEST(CivilTime, DurationText) {
  EXPECT_EQ(format_duration(30 * kMicrosPerDay), "30 days");
  EXPECT_EQ(format_duration(kMicrosPerDay + 6 * kMicrosPerHour), "1 day 6 hours");
  EXPECT_EQ(format_duration(-kMicrosPerHour), "-1 hour");
}

// format_time writes its digits by hand (it is on every decision line); this checks it against
// the plain fmt rendering over a wide range of instants, fractions and years.
TEST(CivilTime, FormattedTimesMatchAReferenceRendering) {
  using namespace crm::support;
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    // Years about -300..10300, whole seconds half the time.
    int64_t micros = static_cast<int64_t>(x % (4'000'000ull * 86'400'000'000ull)) - 800'000ll * 86'400'000'000ll;
    if (i % 2) micros = floor_div(micros, kMicrosPerSecond) * kMicrosPerSecond;
    ASSERT_EQ(format_time(micros), reference_rendering(micros)) << micros;
  }
  std::string line = "at ";
  append_time(line, 0);
  EXPECT_EQ(line, "at 1970-01-01T00:00:00Z");
  EXPECT_EQ(format_time(-1), "1969-12-31T23:59:59.999999Z");
}

// append_time keeps the last instant's text (per thread) and appends it again for the same
// instant: repeated, alternating and neighbouring instants (a microsecond, a second apart,
// other years, texts of other lengths), appended after other text, must each read as the
// reference rendering, on this thread and on another.
TEST(CivilTime, AppendTimeKeepsOnlyTheSameInstantsText) {
  const int64_t t = *parse_time("2026-11-01T00:00:07Z");
  const int64_t big = 3'000'000ll * 86'400'000'000ll;  // about the year 10183 (and -6244 below): the longer forms
  const std::vector<int64_t> instants{t,       t,       t + 1,     t + 1, t,   t + kMicrosPerSecond, t, -1, -1, 0, 0,
                                      big + 5, big + 5, big + 6, t,     t,   t - kMicrosPerDay,   -big, -big, t};
  auto check = [&] {
    std::string line = "x";
    std::string want = "x";
    for (int64_t m : instants) {
      append_time(line, m);
      line += ',';
      want += reference_rendering(m) + ",";
      ASSERT_EQ(line, want) << m;
    }
  };
  check();
  std::thread other(check);
  other.join();
  check();
}
