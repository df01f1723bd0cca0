// civil_time_test.cc - ISO-8601 parsing used by literals and (later) the event contract.
#include "support/civil_time.h"

#include <gtest/gtest.h>

using namespace crm::support;

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
