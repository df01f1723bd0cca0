// time_zone.h - named IANA time zones, resolved once at compile time into a plain table of offset changes.
//
// Compiled programs must behave the same on every machine, so the runtime never consults a time-zone
// database: the compiler reads the TZif file (RFC 8536) once, expands its daylight-saving rule into explicit
// UTC transitions through the end of 2100 and embeds the table in the bytecode. A fixed offset (`+08:00`) is
// just a table without transitions, so calendar code has a single path for both.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::support {

// A zone as a sorted table of UTC instants at which the offset changes. All times are microseconds.
struct ZoneRules {
  std::string name;            // "Asia/Shanghai" or "+08:00"
  int64_t initial_offset = 0;  // micros east of UTC before the first transition
  // (utc micros, offset micros from then on), sorted, strictly increasing instants
  std::vector<std::pair<int64_t, int64_t>> transitions;

  int64_t offset_at(int64_t utc_micros) const;  // binary search
  // The local day number (days since 1970-01-01 in local time) of the instant: floor((utc + offset_at(utc)) / day).
  int64_t local_day(int64_t utc_micros) const;
  // Start (UTC micros) of the local calendar day containing utc_micros; never later than utc_micros.
  int64_t local_day_start(int64_t utc_micros) const;
  // The first instant at which the local wall clock shows local_micros (micros since 1970-01-01T00:00 local) or
  // later: in a spring-forward gap that is the instant just after the gap, in a fall-back overlap the earlier one.
  int64_t local_to_utc(int64_t local_micros) const;
  // The first instant at or after `from` at which the wall clock shows local_micros, or INT64_MAX if none does: a
  // local time the clocks skip shows at the instant just after the gap (as local_to_utc), one they repeat shows at
  // both passes, so an instant in the second pass of a repeated hour still meets the rest of that hour.
  int64_t local_to_utc_from(int64_t local_micros, int64_t from) const;
  // The first instant at or after `from` at which the wall clock shows `clock` (micros after local midnight,
  // 0 <= clock < a day) on any date, by the rules of local_to_utc_from: the one definition of "the next HH:MM on the
  // local clock" (quiet hours' end, the first run of `every ... at`).
  int64_t next_wall_clock(int64_t from, int64_t clock) const;

  // Instants strictly increasing and every offset within +-26 hours: what load_zone guarantees and what
  // local_to_utc relies on. Check it when reading a table back from untrusted bytes.
  bool well_formed() const;

  bool operator==(const ZoneRules&) const = default;
};

// Resolves a zone: fixed offsets ("Z", "+08:00", "-05:30", "UTC") without a database; names
// ("Asia/Shanghai") by reading the TZif file under `zoneinfo_dir` (default "/usr/share/zoneinfo",
// overridable by env var TZDIR as glibc does). Transitions are expanded through the end of year
// 2100 (up to 2101-01-01T00:00Z; the offset in effect then continues forever) using the TZif v2+
// footer POSIX TZ string (e.g. "EST5EDT,M3.2.0,M11.1.0",
// "CET-1CEST,M3.5.0,M10.5.0/3", "<+08>-8", Julian forms Jn and n, times like /-1 or /25 allowed by RFC 8536).
// Returns nullopt and sets `error` (one lowercase line, e.g. "unknown time zone `Asia/Shangai`",
// "`/usr/share/zoneinfo/X` is not a TZif file") on failure. Never throws; rejects names containing
// "..", absolute paths, or characters outside [A-Za-z0-9_+-/]. Files with leap seconds (`right/...`) are rejected.
std::optional<ZoneRules> load_zone(std::string_view name, std::string& error, std::string_view zoneinfo_dir = {});

}  // namespace crm::support
