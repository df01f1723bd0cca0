// civil_time.h - ISO-8601 dates and times as exact integers, shared by the checker and runtime.
//
// A Time is microseconds since 1970-01-01T00:00Z, a Date is days since 1970-01-01 and a Duration
// is microseconds. Text without an offset is UTC (the documented event contract), so parsing is
// pure and deterministic: no time-zone database is consulted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace crm::support {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerMinute = 60 * kMicrosPerSecond;
constexpr int64_t kMicrosPerHour = 60 * kMicrosPerMinute;
constexpr int64_t kMicrosPerDay = 24 * kMicrosPerHour;
// crm's time: 0001-01-01T00:00:00Z through 9999-12-31T23:59:59.999999Z, the instants a
// four-digit year writes in UTC. This is the one definition: parse_time refuses every text
// outside it (an offset can carry a four-digit local time out: `0001-01-01T00:00+01:00`), the
// ledger's reader refuses rows outside it, and time and date arithmetic at run time and in
// constant folding faults (bytecode/operations.h, time_add and date_add) rather than leave it.
constexpr int64_t kFirstDay = -719'162;    // 0001-01-01, days since 1970-01-01
constexpr int64_t kLastDay = 2'932'896;    // 9999-12-31
constexpr int64_t kFirstInstant = kFirstDay * kMicrosPerDay;
constexpr int64_t kLastInstant = (kLastDay + 1) * kMicrosPerDay - 1;
constexpr bool in_time_range(int64_t micros) { return micros >= kFirstInstant && micros <= kLastInstant; }
constexpr bool in_date_range(int64_t days) { return days >= kFirstDay && days <= kLastDay; }

int64_t days_from_civil(int64_t y, unsigned m, unsigned d);
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d);
bool valid_civil_date(int64_t y, unsigned m, unsigned d);

// `2026-11-11`; nullopt if malformed or not a real calendar day.
std::optional<int32_t> parse_date(std::string_view text);
// `2026-11-11T08:00`, `...:30`, `...:30.25`, `...Z`, `...+08:00`; also a space instead of `T`.
// A bare date is accepted as midnight UTC only when allow_date_only is set. nullopt also when the
// instant is outside crm's time (in_time_range).
std::optional<int64_t> parse_time(std::string_view text, bool allow_date_only = false);
// Why parse_time refused a well-formed text whose instant is outside crm's time, for the end of
// a message: " (it is 0000-12-31T23:00:00Z in UTC, and crm's time is 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999Z)"; empty for any other text.
std::string time_range_note(std::string_view text, bool allow_date_only = false);

// A fixed UTC offset `+08:00` / `-05:30` / `Z` in microseconds; nullopt when malformed.
std::optional<int64_t> parse_utc_offset(std::string_view text);

std::string format_date(int32_t days);
// Always UTC with a `Z`: `2026-11-10T16:00:00Z`; fractional seconds only when present.
std::string format_time(int64_t micros);
// The same, appended to `out` (every decision line carries times: no temporary string).
void append_time(std::string& out, int64_t micros);
// `30 days`, `2 hours`, `90 minutes`, `1 day 6 hours`: the largest exact units.
std::string format_duration(int64_t micros);

// Floor division for negative times (before 1970).
constexpr int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

}  // namespace crm::support
