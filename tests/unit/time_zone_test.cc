// time_zone_test.cc - named zones must give the right offsets (DST included) and never crash on a bad zone file.
#include "support/time_zone.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "support/civil_time.h"

using namespace crm::support;
namespace fs = std::filesystem;

namespace {

constexpr const char* kSystemZoneinfo = "/usr/share/zoneinfo";
constexpr int64_t kHour = kMicrosPerHour;

int64_t T(const char* text) {
  auto t = parse_time(text);
  EXPECT_TRUE(t) << text;
  return t.value_or(0);
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, std::string_view bytes) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

// A private zoneinfo directory, removed at the end of the test.
class TempZoneinfo {
 public:
  TempZoneinfo() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("crm_tz_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~TempZoneinfo() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir() const { return dir_.string(); }
  std::string write(const std::string& name, std::string_view bytes) const {
    write_bytes(dir_ / name, bytes);
    return (dir_ / name).string();
  }

 private:
  fs::path dir_;
};

// Skips the current test when the system has no copy of `name`.
#define REQUIRE_SYSTEM_ZONE(name)                                                                               \
  do {                                                                                                          \
    if (!fs::is_regular_file(fs::path(kSystemZoneinfo) / (name)))                                               \
      GTEST_SKIP() << kSystemZoneinfo << "/" << (name) << " is missing (install tzdata to run this test)";      \
  } while (0)

ZoneRules system_zone(const char* name) {
  std::string error;
  auto zone = load_zone(name, error, kSystemZoneinfo);
  EXPECT_TRUE(zone) << error;
  EXPECT_TRUE(error.empty()) << error;
  if (!zone) return {};
  EXPECT_TRUE(zone->well_formed());
  return *zone;
}

void put32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out += char((v >> shift) & 0xff);
}

void put64(std::string& out, int64_t v) {
  put32(out, uint32_t(uint64_t(v) >> 32));
  put32(out, uint32_t(uint64_t(v)));
}

void set32(std::string& file, size_t at, uint32_t v) {
  std::string b;
  put32(b, v);
  file.replace(at, 4, b);
}

// A synthetic TZif file: local time types with the given offsets (seconds east), transitions (utc seconds, type),
// and for version '2'+ the footer TZ string. Version 0 writes only the 32-bit block.
struct Synthetic {
  std::vector<int32_t> offsets = {0};
  std::vector<std::pair<int64_t, uint8_t>> transitions;
  std::string footer;
  char version = '2';
  uint32_t leapcnt = 0;

  std::string block(size_t time_size) const {
    std::string out = "TZif";
    out += version;
    out.append(15, '\0');
    put32(out, 0);                                  // isutcnt
    put32(out, 0);                                  // isstdcnt
    put32(out, leapcnt);                            // leapcnt
    put32(out, uint32_t(transitions.size()));       // timecnt
    put32(out, uint32_t(offsets.size()));           // typecnt
    put32(out, 4);                                  // charcnt: "ABC\0"
    for (const auto& t : transitions) time_size == 8 ? put64(out, t.first) : put32(out, uint32_t(t.first));
    for (const auto& t : transitions) out += char(t.second);
    for (int32_t o : offsets) {
      put32(out, uint32_t(o));
      out += '\0';  // isdst
      out += '\0';  // desigidx
    }
    out.append("ABC", 4);
    for (uint32_t i = 0; i < leapcnt; ++i) {
      time_size == 8 ? put64(out, 78796800 + i) : put32(out, 78796800 + i);
      put32(out, i + 1);
    }
    return out;
  }

  std::string bytes() const {
    if (version == 0) return block(4);
    return block(4) + block(8) + "\n" + footer + "\n";
  }
};

std::optional<ZoneRules> load_synthetic(const TempZoneinfo& tmp, const Synthetic& s, std::string& error) {
  tmp.write("Test/Zone", s.bytes());
  return load_zone("Test/Zone", error, tmp.dir());
}

}  // namespace

TEST(TimeZone, FixedOffsets) {
  std::string error;
  // No database needed: a directory that does not exist must not matter.
  auto plus8 = load_zone("+08:00", error, "/nonexistent/zoneinfo");
  ASSERT_TRUE(plus8) << error;
  EXPECT_EQ(plus8->name, "+08:00");
  EXPECT_EQ(plus8->initial_offset, 8 * kHour);
  EXPECT_TRUE(plus8->transitions.empty());
  EXPECT_EQ(plus8->offset_at(T("2026-11-11T00:00:00Z")), 8 * kHour);
  EXPECT_EQ(plus8->local_day(T("2026-11-10T16:00:00Z")), *parse_date("2026-11-11"));
  EXPECT_EQ(plus8->local_day(T("2026-11-10T15:59:59Z")), *parse_date("2026-11-10"));
  EXPECT_EQ(plus8->local_day_start(T("2026-11-11T03:00:00Z")), T("2026-11-10T16:00:00Z"));

  auto minus530 = load_zone("-05:30", error, "/nonexistent/zoneinfo");
  ASSERT_TRUE(minus530) << error;
  EXPECT_EQ(minus530->offset_at(0), -(5 * kHour + 30 * kMicrosPerMinute));
  EXPECT_EQ(minus530->local_day(0), -1);  // 1969-12-31T18:30 local

  for (const char* utc : {"Z", "UTC"}) {
    auto zone = load_zone(utc, error, "/nonexistent/zoneinfo");
    ASSERT_TRUE(zone) << utc << ": " << error;
    EXPECT_EQ(zone->offset_at(T("2026-07-01T12:00:00Z")), 0);
    EXPECT_TRUE(zone->transitions.empty());
  }
}

TEST(TimeZone, MalformedFixedOffsetIsAnError) {
  for (const char* bad : {"+8", "+15:00", "-05:60", "+08:00:00", "+0800"}) {
    std::string error;
    EXPECT_FALSE(load_zone(bad, error, "/nonexistent/zoneinfo")) << bad;
    EXPECT_NE(error.find("invalid utc offset"), std::string::npos) << error;
  }
}

TEST(TimeZone, ShanghaiIsUtcPlusEight) {
  REQUIRE_SYSTEM_ZONE("Asia/Shanghai");
  ZoneRules zone = system_zone("Asia/Shanghai");
  EXPECT_EQ(zone.name, "Asia/Shanghai");
  EXPECT_EQ(zone.offset_at(T("2026-01-15T00:00:00Z")), 8 * kHour);
  EXPECT_EQ(zone.offset_at(T("2026-07-15T00:00:00Z")), 8 * kHour);
  EXPECT_EQ(zone.offset_at(T("2099-07-15T00:00:00Z")), 8 * kHour);
  // China observed DST in 1986-1991; older or trimmed data may not record it.
  bool has_dst_era = false;
  for (const auto& [at, offset] : zone.transitions)
    has_dst_era |= at >= T("1986-01-01T00:00:00Z") && at < T("1992-01-01T00:00:00Z");
  if (has_dst_era) {
    EXPECT_EQ(zone.offset_at(T("1988-07-01T00:00:00Z")), 9 * kHour);
    EXPECT_EQ(zone.offset_at(T("1988-12-01T00:00:00Z")), 8 * kHour);
  }
}

TEST(TimeZone, NewYorkDaylightSavingIn2026) {
  REQUIRE_SYSTEM_ZONE("America/New_York");
  ZoneRules zone = system_zone("America/New_York");
  EXPECT_EQ(zone.offset_at(T("2026-01-15T12:00:00Z")), -5 * kHour);
  EXPECT_EQ(zone.offset_at(T("2026-03-08T06:59:59Z")), -5 * kHour);
  EXPECT_EQ(zone.offset_at(T("2026-03-08T07:00:00Z")), -4 * kHour);
  EXPECT_EQ(zone.offset_at(T("2026-11-01T05:59:59Z")), -4 * kHour);
  EXPECT_EQ(zone.offset_at(T("2026-11-01T06:00:00Z")), -5 * kHour);
}

TEST(TimeZone, BerlinBeyondTheTableFollowsTheFooterRule) {
  REQUIRE_SYSTEM_ZONE("Europe/Berlin");
  ZoneRules zone = system_zone("Europe/Berlin");
  // Even "fat" TZif files stop listing transitions in 2037; 2090 comes from "CET-1CEST,M3.5.0,M10.5.0/3".
  EXPECT_EQ(zone.offset_at(T("2090-01-10T00:00:00Z")), 1 * kHour);
  EXPECT_EQ(zone.offset_at(T("2090-03-26T00:59:59Z")), 1 * kHour);
  EXPECT_EQ(zone.offset_at(T("2090-03-26T01:00:00Z")), 2 * kHour);
  EXPECT_EQ(zone.offset_at(T("2090-10-29T00:59:59Z")), 2 * kHour);
  EXPECT_EQ(zone.offset_at(T("2090-10-29T01:00:00Z")), 1 * kHour);
  // Expanded through the end of 2100, then the last offset continues.
  ASSERT_FALSE(zone.transitions.empty());
  EXPECT_EQ(zone.transitions.back(), std::make_pair(T("2100-10-31T01:00:00Z"), 1 * kHour));
  EXPECT_EQ(zone.offset_at(T("2101-07-01T00:00:00Z")), 1 * kHour);
}

TEST(TimeZone, TablesAreMinimalAndSorted) {
  REQUIRE_SYSTEM_ZONE("America/New_York");
  ZoneRules zone = system_zone("America/New_York");
  int64_t previous = zone.initial_offset;
  for (size_t i = 0; i < zone.transitions.size(); ++i) {
    if (i > 0) {
      EXPECT_LT(zone.transitions[i - 1].first, zone.transitions[i].first);
    }
    EXPECT_NE(zone.transitions[i].second, previous) << "redundant at " << format_time(zone.transitions[i].first);
    previous = zone.transitions[i].second;
  }
  // Two changes a year from 2027 through 2100, none doubled where the table hands over to the footer rule.
  size_t since_2027 = 0;
  for (const auto& t : zone.transitions) since_2027 += t.first >= T("2027-01-01T00:00:00Z");
  EXPECT_EQ(since_2027, 2u * (2100 - 2027 + 1));
}

TEST(TimeZone, LocalDayAroundDstChange) {
  REQUIRE_SYSTEM_ZONE("America/New_York");
  ZoneRules zone = system_zone("America/New_York");
  const int64_t mar7 = *parse_date("2026-03-07"), mar8 = mar7 + 1, mar9 = mar7 + 2;
  // Midnight before the change is EST (-5), the next one EDT (-4).
  EXPECT_EQ(zone.local_day(T("2026-03-08T04:59:59Z")), mar7);
  EXPECT_EQ(zone.local_day(T("2026-03-08T05:00:00Z")), mar8);
  EXPECT_EQ(zone.local_day(T("2026-03-09T03:59:59Z")), mar8);
  EXPECT_EQ(zone.local_day(T("2026-03-09T04:00:00Z")), mar9);
  // The spring-forward day is 23 hours long, the fall-back day 25.
  EXPECT_EQ(zone.local_day_start(T("2026-03-08T12:00:00Z")), T("2026-03-08T05:00:00Z"));
  EXPECT_EQ(zone.local_day_start(T("2026-03-09T12:00:00Z")) - zone.local_day_start(T("2026-03-08T12:00:00Z")),
            23 * kHour);
  EXPECT_EQ(zone.local_day_start(T("2026-11-02T12:00:00Z")) - zone.local_day_start(T("2026-11-01T12:00:00Z")),
            25 * kHour);
  EXPECT_EQ(zone.local_day_start(T("2026-11-02T04:59:59Z")), T("2026-11-01T04:00:00Z"));
  EXPECT_EQ(zone.local_day(T("2026-11-02T04:59:59Z")), *parse_date("2026-11-01"));
}

TEST(TimeZone, LocalToUtcInGapAndOverlap) {
  REQUIRE_SYSTEM_ZONE("America/New_York");
  ZoneRules zone = system_zone("America/New_York");
  auto local = [](const char* text) { return T(text); };  // a wall-clock reading written as if it were UTC
  EXPECT_EQ(zone.local_to_utc(local("2026-03-08T01:59:59Z")), T("2026-03-08T06:59:59Z"));
  // 02:30 does not exist: the first instant showing 02:30 or later is 03:00 EDT.
  EXPECT_EQ(zone.local_to_utc(local("2026-03-08T02:30:00Z")), T("2026-03-08T07:00:00Z"));
  EXPECT_EQ(zone.local_to_utc(local("2026-03-08T03:00:00Z")), T("2026-03-08T07:00:00Z"));
  // 01:30 happens twice: the earlier (EDT) instant.
  EXPECT_EQ(zone.local_to_utc(local("2026-11-01T01:30:00Z")), T("2026-11-01T05:30:00Z"));
  EXPECT_EQ(zone.local_to_utc(local("2026-11-01T02:00:00Z")), T("2026-11-01T07:00:00Z"));
  // Round trip away from changes, including far outside the table.
  for (const char* text : {"1900-06-01T12:00:00Z", "2026-07-04T09:15:00Z", "2150-01-01T00:00:00Z"}) {
    const int64_t utc = T(text);
    EXPECT_EQ(zone.local_to_utc(utc + zone.offset_at(utc)), utc) << text;
  }
  // Extreme inputs do not overflow: the last UTC day of int64 ends at about 04:00Z, still the day before in New York.
  EXPECT_EQ(zone.local_day(std::numeric_limits<int64_t>::max()),
            floor_div(std::numeric_limits<int64_t>::max(), kMicrosPerDay) - 1);
  (void)zone.local_day_start(std::numeric_limits<int64_t>::min());
  (void)zone.local_to_utc(std::numeric_limits<int64_t>::max());
}

// F1 (t22): "the next HH:MM" after an instant counts both passes of a repeated hour; a skipped time shows just
// after the gap. Before, only the first pass of 01:30 was found, and an instant between the passes got the next day's.
TEST(TimeZone, NextWallClockCountsBothPassesOfARepeatedHour) {
  REQUIRE_SYSTEM_ZONE("America/New_York");
  ZoneRules zone = system_zone("America/New_York");
  const int64_t h0130 = 90 * 60 * int64_t(1'000'000), h0230 = 150 * 60 * int64_t(1'000'000);
  auto local = [](const char* text) { return T(text); };
  // 1 November 2026: 01:00-02:00 EDT (05:00Z-06:00Z), then 01:00-02:00 EST again (06:00Z-07:00Z).
  EXPECT_EQ(zone.next_wall_clock(T("2026-11-01T05:10:00Z"), h0130), T("2026-11-01T05:30:00Z"));  // first pass
  EXPECT_EQ(zone.next_wall_clock(T("2026-11-01T06:10:00Z"), h0130), T("2026-11-01T06:30:00Z"));  // second pass
  EXPECT_EQ(zone.next_wall_clock(T("2026-11-01T06:30:00Z"), h0130), T("2026-11-01T06:30:00Z"));  // at it
  EXPECT_EQ(zone.next_wall_clock(T("2026-11-01T06:30:00.000001Z"), h0130), T("2026-11-02T06:30:00Z"));
  EXPECT_EQ(zone.local_to_utc_from(local("2026-11-01T01:30:00Z"), T("2026-11-01T05:31:00Z")), T("2026-11-01T06:30:00Z"));
  EXPECT_EQ(zone.local_to_utc_from(local("2026-11-01T01:30:00Z"), T("2026-11-01T06:31:00Z")), INT64_MAX);
  // 8 March 2026: 02:30 is skipped; it shows at 03:00 EDT, the first instant after the gap.
  EXPECT_EQ(zone.next_wall_clock(T("2026-03-08T06:50:00Z"), h0230), T("2026-03-08T07:00:00Z"));
  EXPECT_EQ(zone.next_wall_clock(T("2026-03-08T07:00:00.000001Z"), h0230), T("2026-03-09T06:30:00Z"));
  // Away from changes, and at the ends of the range, without overflow.
  EXPECT_EQ(zone.next_wall_clock(T("2026-07-04T20:00:00Z"), h0130), T("2026-07-05T05:30:00Z"));
  (void)zone.next_wall_clock(std::numeric_limits<int64_t>::max(), h0130);
  (void)zone.next_wall_clock(std::numeric_limits<int64_t>::min(), h0130);
}

TEST(TimeZone, UnknownNameIsAnError) {
  REQUIRE_SYSTEM_ZONE("Asia/Shanghai");
  std::string error;
  EXPECT_FALSE(load_zone("Asia/Shangai", error, kSystemZoneinfo));
  EXPECT_EQ(error, "unknown time zone `Asia/Shangai`");
  // A directory of the database is not a zone either.
  EXPECT_FALSE(load_zone("Asia", error, kSystemZoneinfo));
  EXPECT_EQ(error, "unknown time zone `Asia`");
  EXPECT_FALSE(load_zone("Asia/Shanghai/Extra", error, kSystemZoneinfo));
  EXPECT_EQ(error, "unknown time zone `Asia/Shanghai/Extra`");
}

TEST(TimeZone, RejectsPathTraversalAndOddCharacters) {
  TempZoneinfo tmp;
  // A perfectly valid zone file reachable only by escaping the directory must still be refused.
  Synthetic s;
  tmp.write("Secret", s.bytes());
  const std::string inner = tmp.dir() + "/inner";
  fs::create_directories(inner);
  const std::string absolute = tmp.dir() + "/Secret";
  const std::vector<std::string> bad_names = {
      "../Secret", "Etc/../../Secret", absolute, "/etc/localtime", "", "Asia/Shanghai\n", "Asia Shanghai",
      "Asia/./Shanghai", "Asia//Shanghai", "Asia/", "Asia\\Shanghai", std::string("Asia/Shanghai\0x", 15),
      std::string(300, 'A')};
  for (const std::string& bad : bad_names) {
    std::string error;
    EXPECT_FALSE(load_zone(bad, error, inner)) << bad;
    EXPECT_EQ(error.rfind("invalid time zone name `", 0), 0u) << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
}

TEST(TimeZone, TzdirEnvironmentOverridesDefault) {
  TempZoneinfo tmp;
  Synthetic s;
  s.offsets = {3 * 3600};
  s.footer = "<+03>-3";
  tmp.write("Test/Env", s.bytes());
  const char* old = std::getenv("TZDIR");
  const std::string saved = old ? old : "";
  ::setenv("TZDIR", tmp.dir().c_str(), 1);
  std::string error;
  auto zone = load_zone("Test/Env", error);
  // An explicit directory wins over TZDIR.
  std::string explicit_error;
  auto not_there = load_zone("Test/Env", explicit_error, "/nonexistent/zoneinfo");
  if (old) ::setenv("TZDIR", saved.c_str(), 1);
  else ::unsetenv("TZDIR");
  ASSERT_TRUE(zone) << error;
  EXPECT_EQ(zone->offset_at(0), 3 * kHour);
  EXPECT_FALSE(not_there);
  EXPECT_EQ(explicit_error, "unknown time zone `Test/Env`");
}

TEST(TimeZone, TruncatedFileIsAnError) {
  REQUIRE_SYSTEM_ZONE("America/New_York");
  const std::string real = read_bytes(fs::path(kSystemZoneinfo) / "America/New_York");
  ASSERT_GT(real.size(), 100u);
  TempZoneinfo tmp;
  // Every proper prefix, from empty to one byte short, is rejected with a message naming the file.
  for (size_t n = 0; n < real.size(); ++n) {
    const std::string path = tmp.write("America/New_York", std::string_view(real).substr(0, n));
    std::string error;
    EXPECT_FALSE(load_zone("America/New_York", error, tmp.dir())) << "prefix of " << n << " bytes";
    EXPECT_EQ(error.rfind("`" + path + "` is not", 0), 0u) << error;
  }
  tmp.write("America/New_York", real);
  std::string error;
  auto copy = load_zone("America/New_York", error, tmp.dir());
  ASSERT_TRUE(copy) << error;
  EXPECT_EQ(copy->transitions, system_zone("America/New_York").transitions);
}

TEST(TimeZone, GarbageFileIsAnError) {
  TempZoneinfo tmp;
  std::string error;
  const std::string path = tmp.write("Garbage", "this is not a time zone\n");
  EXPECT_FALSE(load_zone("Garbage", error, tmp.dir()));
  EXPECT_EQ(error, "`" + path + "` is not a TZif file");
  tmp.write("Empty", "");
  EXPECT_FALSE(load_zone("Empty", error, tmp.dir()));
  EXPECT_NE(error.find("is not a TZif file"), std::string::npos) << error;
  std::string noise(4096, '\0');
  std::mt19937 rng(7);
  for (char& c : noise) c = char(rng());
  tmp.write("Noise", "TZif2" + noise);
  EXPECT_FALSE(load_zone("Noise", error, tmp.dir()));
  EXPECT_NE(error.find("is not a valid TZif file"), std::string::npos) << error;
}

TEST(TimeZone, CorruptHeadersAndTablesAreErrors) {
  TempZoneinfo tmp;
  Synthetic good;
  good.offsets = {-5 * 3600, -4 * 3600};
  good.transitions = {{1772953200, 1}, {1793512800, 0}};  // 2026-03-08T07:00Z, 2026-11-01T06:00Z
  good.footer = "EST5EDT,M3.2.0,M11.1.0";
  std::string error;
  ASSERT_TRUE(load_synthetic(tmp, good, error)) << error;

  const std::string base = good.bytes();
  const size_t header2 = 44 + (2 * 4 + 2 + 2 * 6 + 4);
  auto expect_error = [&](const std::string& bytes, const char* what) {
    tmp.write("Test/Zone", bytes);
    std::string e;
    EXPECT_FALSE(load_zone("Test/Zone", e, tmp.dir())) << what;
    EXPECT_NE(e.find("is not a valid TZif file: "), std::string::npos) << what << ": " << e;
  };
  for (size_t header : {size_t(0), header2}) {
    for (size_t field = 20; field < 44; field += 4) {
      std::string bytes = base;
      set32(bytes, header + field, 0xffffffffu);
      expect_error(bytes, "huge count");
      set32(bytes, header + field, 0x7fffffffu);
      expect_error(bytes, "large count");
    }
  }
  std::string bytes = base;
  set32(bytes, header2 + 36, 0);  // typecnt
  expect_error(bytes, "no types");
  bytes = base;
  bytes[4] = '1';
  expect_error(bytes, "version 1 is not a valid version byte");

  Synthetic unsorted = good;
  unsorted.transitions = {{1793512800, 0}, {1772953200, 1}};
  expect_error(unsorted.bytes(), "descending transitions");
  Synthetic duplicate = good;
  duplicate.transitions = {{1772953200, 1}, {1772953200, 0}};
  expect_error(duplicate.bytes(), "repeated transition");
  Synthetic bad_index = good;
  bad_index.transitions = {{1772953200, 2}};
  expect_error(bad_index.bytes(), "type index out of range");
  Synthetic bad_offset = good;
  bad_offset.offsets = {-5 * 3600, 26 * 3600};
  expect_error(bad_offset.bytes(), "offset out of range");
  Synthetic leap = good;
  leap.leapcnt = 2;
  tmp.write("Test/Zone", leap.bytes());
  EXPECT_FALSE(load_zone("Test/Zone", error, tmp.dir()));
  EXPECT_NE(error.find("leap seconds"), std::string::npos) << error;
  // Footer framing.
  std::string no_footer = base.substr(0, base.size() - good.footer.size() - 2);
  expect_error(no_footer, "no footer");
  expect_error(no_footer + "EST5EDT\n", "footer without leading newline");
}

TEST(TimeZone, Version1FileUsesThe32BitBlock) {
  TempZoneinfo tmp;
  Synthetic v1;
  v1.version = 0;
  v1.offsets = {-5 * 3600, -4 * 3600};
  v1.transitions = {{-2000000000, 0}, {1772953200, 1}, {1793512800, 0}};
  std::string error;
  auto zone = load_synthetic(tmp, v1, error);
  ASSERT_TRUE(zone) << error;
  EXPECT_EQ(zone->initial_offset, -5 * kHour);
  ASSERT_EQ(zone->transitions.size(), 2u);  // the first one changes nothing
  EXPECT_EQ(zone->offset_at(T("2026-03-08T06:59:59Z")), -5 * kHour);
  EXPECT_EQ(zone->offset_at(T("2026-03-08T07:00:00Z")), -4 * kHour);
  EXPECT_EQ(zone->offset_at(T("2026-11-01T06:00:00Z")), -5 * kHour);
  EXPECT_EQ(zone->offset_at(T("2027-07-01T00:00:00Z")), -5 * kHour);  // no footer: nothing after the table
}

TEST(TimeZone, BigBangTransitionSetsTheInitialOffset) {
  TempZoneinfo tmp;
  Synthetic s;
  s.offsets = {0, 8 * 3600};
  s.transitions = {{-(int64_t(1) << 59), 1}};  // older zic writes this before the first real transition
  s.footer = "CST-8";
  std::string error;
  auto zone = load_synthetic(tmp, s, error);
  ASSERT_TRUE(zone) << error;
  EXPECT_EQ(zone->initial_offset, 8 * kHour);
  EXPECT_TRUE(zone->transitions.empty());
}

TEST(TimeZone, FooterRuleForms) {
  TempZoneinfo tmp;
  std::string error;
  auto zone_for = [&](int32_t type0, const std::string& footer) {
    Synthetic s;
    s.offsets = {type0};
    s.footer = footer;
    auto zone = load_synthetic(tmp, s, error);
    EXPECT_TRUE(zone) << footer << ": " << error;
    if (zone) {
      EXPECT_TRUE(zone->well_formed()) << footer;
    }
    return zone.value_or(ZoneRules{});
  };

  // Jn counts 1..365 and never Feb 29: J60 is March 1 in every year.
  ZoneRules julian1 = zone_for(-3 * 3600, "<-03>3<-02>,J60,J300");
  EXPECT_EQ(julian1.offset_at(T("2028-03-01T04:59:59Z")), -3 * kHour);
  EXPECT_EQ(julian1.offset_at(T("2028-03-01T05:00:00Z")), -2 * kHour);
  EXPECT_EQ(julian1.offset_at(T("2028-10-27T03:59:59Z")), -2 * kHour);
  EXPECT_EQ(julian1.offset_at(T("2028-10-27T04:00:00Z")), -3 * kHour);

  // n counts 0..365 including Feb 29: day 59 is Feb 29 in a leap year, March 1 otherwise.
  ZoneRules julian0 = zone_for(-3 * 3600, "<-03>3<-02>,59,299");
  EXPECT_EQ(julian0.offset_at(T("2028-02-29T04:59:59Z")), -3 * kHour);
  EXPECT_EQ(julian0.offset_at(T("2028-02-29T05:00:00Z")), -2 * kHour);
  EXPECT_EQ(julian0.offset_at(T("2027-02-28T12:00:00Z")), -3 * kHour);
  EXPECT_EQ(julian0.offset_at(T("2027-03-01T05:00:00Z")), -2 * kHour);
  EXPECT_EQ(julian0.offset_at(T("2028-10-26T04:00:00Z")), -3 * kHour);
  EXPECT_EQ(julian0.offset_at(T("2027-10-27T04:00:00Z")), -3 * kHour);
  EXPECT_EQ(julian0.offset_at(T("2027-10-27T03:59:59Z")), -2 * kHour);

  // Negative times (RFC 8536): America/Nuuk changes at -1:00 local standard time, i.e. Saturday 23:00.
  ZoneRules nuuk = zone_for(-2 * 3600, "<-02>2<-01>,M3.5.0/-1,M10.5.0/0");
  EXPECT_EQ(nuuk.offset_at(T("2030-03-31T00:59:59Z")), -2 * kHour);
  EXPECT_EQ(nuuk.offset_at(T("2030-03-31T01:00:00Z")), -1 * kHour);
  EXPECT_EQ(nuuk.offset_at(T("2030-10-27T00:59:59Z")), -1 * kHour);
  EXPECT_EQ(nuuk.offset_at(T("2030-10-27T01:00:00Z")), -2 * kHour);

  // Southern hemisphere: DST spans the new year.
  ZoneRules sydney = zone_for(10 * 3600, "AEST-10AEDT,M10.1.0,M4.1.0/3");
  EXPECT_EQ(sydney.offset_at(T("2026-01-15T00:00:00Z")), 11 * kHour);
  EXPECT_EQ(sydney.offset_at(T("2026-04-04T15:59:59Z")), 11 * kHour);
  EXPECT_EQ(sydney.offset_at(T("2026-04-04T16:00:00Z")), 10 * kHour);
  EXPECT_EQ(sydney.offset_at(T("2026-10-03T15:59:59Z")), 10 * kHour);
  EXPECT_EQ(sydney.offset_at(T("2026-10-03T16:00:00Z")), 11 * kHour);

  // Year-round DST as zic writes it, with hours beyond 24: one change in 1900, then never again.
  ZoneRules always_dst = zone_for(-5 * 3600, "EST5EDT4,0/0,J365/25");
  ASSERT_EQ(always_dst.transitions.size(), 1u);
  EXPECT_EQ(always_dst.transitions[0], std::make_pair(T("1900-01-01T05:00:00Z"), -4 * kHour));
  EXPECT_EQ(always_dst.offset_at(T("2099-12-31T23:00:00Z")), -4 * kHour);

  // No DST part: nothing to expand.
  EXPECT_TRUE(zone_for(8 * 3600, "<+08>-8").transitions.empty());
  EXPECT_TRUE(zone_for(0, "").transitions.empty());  // an empty footer is allowed
  // Explicit DST offset and explicit +/- signs with minutes and seconds.
  ZoneRules lord_howe = zone_for(10 * 3600 + 1800, "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  EXPECT_EQ(lord_howe.offset_at(T("2026-01-15T00:00:00Z")), 11 * kHour);
  EXPECT_EQ(lord_howe.offset_at(T("2026-06-15T00:00:00Z")), 10 * kHour + 30 * kMicrosPerMinute);
  zone_for(-3 * 3600, "<-03>+3:00:00<-02>+2,M3.2.0/+2:30:15,M11.1.0/167");
}

TEST(TimeZone, MalformedFooterIsAnError) {
  TempZoneinfo tmp;
  for (const char* footer :
       {"EST5EDT", "EST", "E5", "EST5EDT,M13.1.0,M11.1.0", "EST5EDT,M3.0.0,M11.1.0", "EST5EDT,M3.2.7,M11.1.0",
        "EST5EDT,J0,J365", "EST5EDT,366,J300", "EST25", "<+08-8", "<+8>-8", "EST5EDT,M3.2.0/168,M11.1.0",
        "EST5EDT,M3.2.0,M11.1.0,", "EST5EDT,M3.2.0", "EST5:60", "EST5EDT,M3.2.0/1:2:3:4,M11.1.0", "EST0005",
        "EST5\x01", " EST5"}) {
    Synthetic s;
    s.footer = footer;
    std::string error;
    EXPECT_FALSE(load_synthetic(tmp, s, error)) << footer;
    EXPECT_NE(error.find("malformed TZ string"), std::string::npos) << footer << ": " << error;
    EXPECT_EQ(error.find('\x01'), std::string::npos);
  }
}

TEST(TimeZone, EveryInstalledZoneLoads) {
  if (!fs::is_directory(kSystemZoneinfo)) GTEST_SKIP() << kSystemZoneinfo << " is missing (install tzdata)";
  size_t loaded = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(kSystemZoneinfo, ec); !ec && it != fs::end(it); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    const std::string name = fs::relative(it->path(), kSystemZoneinfo).string();
    if (name.find('.') != std::string::npos || name.rfind("right/", 0) == 0) continue;  // zone.tab, leap zones
    if (read_bytes(it->path()).rfind("TZif", 0) != 0) continue;
    std::string error;
    auto zone = load_zone(name, error, kSystemZoneinfo);
    ASSERT_TRUE(zone) << name << ": " << error;
    EXPECT_TRUE(zone->well_formed()) << name;
    ++loaded;
  }
  EXPECT_GT(loaded, 100u);
}

TEST(TimeZone, WellFormed) {
  ZoneRules rules{"X", 0, {{10, 3600}, {20, 0}}};
  EXPECT_TRUE(rules.well_formed());
  rules.transitions = {{20, 3600}, {20, 0}};
  EXPECT_FALSE(rules.well_formed());
  rules.transitions = {{10, 27 * kHour}};
  EXPECT_FALSE(rules.well_formed());
}

TEST(TimeZone, MutatedFilesNeverCrash) {
  const char* source = nullptr;
  for (const char* candidate : {"Europe/Berlin", "America/New_York", "Asia/Shanghai"})
    if (!source && fs::is_regular_file(fs::path(kSystemZoneinfo) / candidate)) source = candidate;
  if (!source) GTEST_SKIP() << "no TZif file under " << kSystemZoneinfo << " to mutate (install tzdata)";
  const std::string real = read_bytes(fs::path(kSystemZoneinfo) / source);
  ASSERT_GE(real.size(), 44u);
  TempZoneinfo tmp;
  std::mt19937 rng(20260308);
  auto pick = [&](size_t n) { return size_t(rng() % std::max<size_t>(n, 1)); };
  // Where the header fields of both headers live, so that counts get hit often.
  auto be32_at = [&](size_t at) {
    return uint32_t(uint8_t(real[at])) << 24 | uint32_t(uint8_t(real[at + 1])) << 16 |
           uint32_t(uint8_t(real[at + 2])) << 8 | uint8_t(real[at + 3]);
  };
  const uint64_t v1_size = uint64_t(be32_at(32)) * 5 + uint64_t(be32_at(36)) * 6 + be32_at(40) +
                           uint64_t(be32_at(28)) * 8 + be32_at(24) + be32_at(20);
  const size_t header2 = std::min<size_t>(44 + v1_size, real.size() - 44);
  size_t accepted = 0, rejected = 0;
  for (int iteration = 0; iteration < 2000; ++iteration) {
    std::string bytes = real;
    const int mutations = iteration % 4 == 0 ? 1 : 1 + int(pick(6));
    for (int m = 0; m < mutations; ++m) {
      switch (pick(6)) {
        case 0: bytes[pick(bytes.size())] = char(rng()); break;
        case 1: bytes[pick(bytes.size())] ^= char(1 << pick(8)); break;
        case 2: bytes[(pick(2) ? header2 : 0) + 20 + pick(24)] = char(rng()); break;  // counts
        case 3: bytes[bytes.size() - 1 - pick(std::min<size_t>(40, bytes.size()))] = char(rng()); break;  // footer
        case 4: bytes.resize(pick(bytes.size() + 1)); break;
        default: bytes.insert(pick(bytes.size() + 1), 1 + pick(16), char(rng())); break;
      }
      if (bytes.size() < 64) bytes.resize(64, '\0');  // keep the header offsets above in range
    }
    tmp.write("Fuzz/Zone", bytes);
    std::string error;
    auto zone = load_zone("Fuzz/Zone", error, tmp.dir());
    if (zone) {
      ++accepted;
      ASSERT_TRUE(zone->well_formed()) << "iteration " << iteration;
      for (int64_t t : {std::numeric_limits<int64_t>::min(), int64_t(0), T("2026-03-08T07:00:00Z"),
                        std::numeric_limits<int64_t>::max()}) {
        (void)zone->offset_at(t);
        (void)zone->local_day(t);
        (void)zone->local_day_start(t);
        (void)zone->local_to_utc(t);
      }
      const int64_t t = T("2026-03-08T07:00:00Z");
      EXPECT_LE(zone->local_day_start(t), t);
    } else {
      ++rejected;
      ASSERT_FALSE(error.empty()) << "iteration " << iteration;
      ASSERT_EQ(error.find('\n'), std::string::npos) << error;
    }
  }
  EXPECT_GT(rejected, 0u);
  std::cout << "mutations of " << source << ": " << accepted << " accepted, " << rejected << " rejected\n";
}
