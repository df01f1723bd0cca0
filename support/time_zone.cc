// time_zone.cc - a defensive TZif (RFC 8536) reader and POSIX TZ rule expander behind load_zone.
//
// The input is a file we do not control, so every count is checked against the bytes actually present before
// anything is indexed, all arithmetic on file values is bounded, and every failure is a one-line error.
#include "support/time_zone.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <new>
#include <system_error>

#include "support/civil_time.h"
#include "support/text.h"

namespace crm::support {
namespace {

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
constexpr int64_t kSecondsPerDay = 86'400;
// Offsets stay strictly inside +-26 hours (RFC 8536 allows -89999..93599 seconds); local_to_utc scans back this far.
constexpr int64_t kMaxAbsOffset = 26 * kMicrosPerHour;
// Footer rules are expanded from the year before the last table transition (at the earliest kFirstRuleYear)
// until 2101-01-01T00:00Z; the offset in effect then simply continues.
constexpr int64_t kFirstRuleYear = 1900;
constexpr int64_t kLastRuleYear = 2100;
constexpr size_t kMaxFileSize = 1 << 20;  // real TZif files are a few KiB

int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? kMax : kMin;
  return r;
}

int64_t sat_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return b < 0 ? kMax : kMin;
  return r;
}

int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return (a < 0) != (b < 0) ? kMin : kMax;
  return r;
}

// Text from a file or a caller, made safe to put inside a one-line error message.
std::string printable(std::string_view s) {
  return visible(utf8_truncate(s, 200));
}

bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// ---- POSIX TZ strings (the TZif footer) ---------------------------------------------------------------------

struct RuleDate {
  char kind = 'M';           // 'J': Jn, 1..365 without Feb 29; 'N': n, 0..365 with Feb 29; 'M': Mm.w.d
  int a = 0, b = 0, c = 0;   // n, or month / week (5 = last) / weekday (0 = Sunday)
  int64_t time = 2 * 3600;   // seconds after local midnight, -167h..167h
};

struct PosixTz {
  int64_t std_east = 0;  // seconds east of UTC
  bool has_dst = false;
  int64_t dst_east = 0;
  RuleDate start, end;   // start is in standard time, end in daylight time
};

class PosixTzParser {
 public:
  explicit PosixTzParser(std::string_view s) : s_(s) {}

  bool parse(PosixTz& tz) {
    int64_t off;
    if (!name() || !hms(24, off)) return false;
    tz.std_east = -off;  // POSIX offsets count west
    if (done()) return true;
    tz.has_dst = true;
    if (!name()) return false;
    tz.dst_east = tz.std_east + 3600;
    if (!done() && s_[pos_] != ',') {
      if (!hms(24, off)) return false;
      tz.dst_east = -off;
    }
    // A DST name without a rule leaves the rule to the implementation; zic always writes one, so insist.
    if (!eat(',') || !date(tz.start)) return false;
    if (eat('/') && !hms(167, tz.start.time)) return false;
    if (!eat(',') || !date(tz.end)) return false;
    if (eat('/') && !hms(167, tz.end.time)) return false;
    return done();
  }

 private:
  bool done() const { return pos_ == s_.size(); }
  bool eat(char c) {
    if (done() || s_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  bool name() {
    size_t begin = pos_;
    if (eat('<')) {
      begin = pos_;
      while (!done() && (is_alpha(s_[pos_]) || is_digit(s_[pos_]) || s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      return pos_ - begin >= 3 && eat('>');
    }
    while (!done() && is_alpha(s_[pos_])) ++pos_;
    return pos_ - begin >= 3;
  }

  bool number(size_t max_digits, int64_t lo, int64_t hi, int64_t& out) {
    size_t begin = pos_;
    out = 0;
    while (!done() && is_digit(s_[pos_]) && pos_ - begin < max_digits) out = out * 10 + (s_[pos_++] - '0');
    if (pos_ == begin || (!done() && is_digit(s_[pos_]))) return false;
    return out >= lo && out <= hi;
  }

  // [+-]hh[:mm[:ss]] in seconds.
  bool hms(int64_t max_hours, int64_t& secs) {
    bool negative = false;
    if (eat('-')) negative = true;
    else eat('+');
    int64_t h, m = 0, s = 0;
    if (!number(3, 0, max_hours, h)) return false;
    if (eat(':')) {
      if (!number(2, 0, 59, m)) return false;
      if (eat(':') && !number(2, 0, 59, s)) return false;
    }
    secs = h * 3600 + m * 60 + s;
    if (negative) secs = -secs;
    return true;
  }

  bool date(RuleDate& d) {
    int64_t a, b, c;
    if (eat('J')) {
      if (!number(3, 1, 365, a)) return false;
      d.kind = 'J';
      d.a = int(a);
      return true;
    }
    if (eat('M')) {
      if (!number(2, 1, 12, a) || !eat('.') || !number(1, 1, 5, b) || !eat('.') || !number(1, 0, 6, c)) return false;
      d.kind = 'M';
      d.a = int(a), d.b = int(b), d.c = int(c);
      return true;
    }
    if (!number(3, 0, 365, a)) return false;
    d.kind = 'N';
    d.a = int(a);
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
};

bool leap_year(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// The local calendar day (days since 1970-01-01) a rule date falls on in `year`.
int64_t rule_day(const RuleDate& d, int64_t year) {
  const int64_t jan1 = days_from_civil(year, 1, 1);
  if (d.kind == 'J') return jan1 + d.a - 1 + (leap_year(year) && d.a >= 60 ? 1 : 0);
  if (d.kind == 'N') return jan1 + d.a;
  const auto month = unsigned(d.a);
  const int64_t first = days_from_civil(year, month, 1);
  const int64_t next = month == 12 ? days_from_civil(year + 1, 1, 1) : days_from_civil(year, month + 1, 1);
  const int64_t weekday = ((first + 4) % 7 + 7) % 7;  // 1970-01-01 was a Thursday
  int64_t day = first + (d.c - weekday + 7) % 7 + 7 * (d.b - 1);
  while (day >= next) day -= 7;  // week 5 means the last such weekday of the month
  return day;
}

// (utc seconds, offset seconds) for every rule change from first_year up to 2101-01-01T00:00Z, sorted, one per
// instant. Rule year 2101 is generated too so that year-round DST ("J365/25" meeting next year's "0/0") stays DST.
std::vector<std::pair<int64_t, int64_t>> expand_rule(const PosixTz& tz, int64_t first_year) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (int64_t y = first_year; y <= kLastRuleYear + 1; ++y) {
    const int64_t start = rule_day(tz.start, y) * kSecondsPerDay + tz.start.time - tz.std_east;
    const int64_t end = rule_day(tz.end, y) * kSecondsPerDay + tz.end.time - tz.dst_east;
    if (start <= end) {
      out.emplace_back(start, tz.dst_east);
      out.emplace_back(end, tz.std_east);
    } else {
      out.emplace_back(end, tz.std_east);
      out.emplace_back(start, tz.dst_east);
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  // Same instant (e.g. year-round DST written as "0/0,J365/25"): the change generated last wins.
  std::vector<std::pair<int64_t, int64_t>> unique;
  for (const auto& t : out) {
    if (!unique.empty() && unique.back().first == t.first) unique.back() = t;
    else unique.push_back(t);
  }
  const int64_t cutoff = days_from_civil(kLastRuleYear + 1, 1, 1) * kSecondsPerDay;
  while (!unique.empty() && unique.back().first >= cutoff) unique.pop_back();
  return unique;
}

// ---- TZif ---------------------------------------------------------------------------------------------------

constexpr size_t kHeaderSize = 44;

struct Counts {
  uint32_t isutcnt = 0, isstdcnt = 0, leapcnt = 0, timecnt = 0, typecnt = 0, charcnt = 0;
};

uint32_t be32(const unsigned char* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

int64_t be64(const unsigned char* p) { return static_cast<int64_t>(uint64_t(be32(p)) << 32 | be32(p + 4)); }

Counts read_counts(const unsigned char* header) {
  Counts c;
  c.isutcnt = be32(header + 20);
  c.isstdcnt = be32(header + 24);
  c.leapcnt = be32(header + 28);
  c.timecnt = be32(header + 32);
  c.typecnt = be32(header + 36);
  c.charcnt = be32(header + 40);
  return c;
}

uint64_t block_size(const Counts& c, uint64_t time_size) {
  return uint64_t(c.timecnt) * time_size + c.timecnt + uint64_t(c.typecnt) * 6 + c.charcnt +
         uint64_t(c.leapcnt) * (time_size + 4) + c.isstdcnt + c.isutcnt;
}

struct TzifData {
  int64_t type0_offset = 0;                              // seconds; local time before the first transition
  std::vector<std::pair<int64_t, int64_t>> transitions;  // (utc seconds, offset seconds), strictly increasing
  bool has_footer = false;
  std::string_view footer;
};

// Parses a data block already known to lie inside the file. `why` is set on failure.
bool parse_block(const unsigned char* p, const Counts& c, size_t time_size, TzifData& out, std::string& why) {
  if (c.typecnt == 0) return why = "it has no local time types", false;
  if (c.charcnt == 0) return why = "it has no time zone designations", false;
  if ((c.isutcnt != 0 && c.isutcnt != c.typecnt) || (c.isstdcnt != 0 && c.isstdcnt != c.typecnt))
    return why = "its standard/ut indicator counts do not match its type count", false;
  if (c.leapcnt != 0) return why = "it has leap seconds (a `right/` zone), which are not supported", false;
  const unsigned char* times = p;
  const unsigned char* indices = times + size_t(c.timecnt) * time_size;
  const unsigned char* types = indices + c.timecnt;

  std::vector<int64_t> offsets(c.typecnt);
  for (uint32_t i = 0; i < c.typecnt; ++i) {
    const unsigned char* t = types + size_t(i) * 6;
    const int64_t utoff = static_cast<int32_t>(be32(t));
    if (utoff < -89999 || utoff > 93599) return why = "a local time type has an out-of-range offset", false;
    if (t[4] > 1) return why = "a local time type has a bad dst flag", false;
    if (t[5] >= c.charcnt) return why = "a local time type has a bad designation index", false;
    offsets[i] = utoff;
  }
  out.type0_offset = offsets[0];
  out.transitions.clear();
  out.transitions.reserve(c.timecnt);
  for (uint32_t i = 0; i < c.timecnt; ++i) {
    const unsigned char* t = times + size_t(i) * time_size;
    const int64_t at = time_size == 8 ? be64(t) : int64_t(static_cast<int32_t>(be32(t)));
    if (!out.transitions.empty() && at <= out.transitions.back().first)
      return why = "its transition times are not strictly increasing", false;
    if (indices[i] >= c.typecnt) return why = "a transition refers to a missing local time type", false;
    out.transitions.emplace_back(at, offsets[indices[i]]);
  }
  return true;
}

bool parse_tzif(std::string_view file, TzifData& out, std::string& why, bool& not_tzif) {
  not_tzif = false;
  const auto* base = reinterpret_cast<const unsigned char*>(file.data());
  if (file.size() < 4 || file.substr(0, 4) != "TZif") return not_tzif = true, false;
  if (file.size() < kHeaderSize) return why = "its header is truncated", false;
  const unsigned char version = base[4];
  if (version != 0 && (version < '2' || version > '9')) return why = "it has an unsupported version", false;

  Counts v1 = read_counts(base);
  const uint64_t v1_size = block_size(v1, 4);
  if (v1_size > file.size() - kHeaderSize) return why = "its data block is truncated", false;
  if (version == 0) return parse_block(base + kHeaderSize, v1, 4, out, why);

  // Version 2+: skip the 32-bit block, then a second header, the 64-bit block and the footer.
  const size_t header2 = kHeaderSize + size_t(v1_size);
  if (file.size() - header2 < kHeaderSize) return why = "its second header is truncated", false;
  if (file.substr(header2, 4) != "TZif") return why = "its second header is missing", false;
  Counts v2 = read_counts(base + header2);
  const size_t data2 = header2 + kHeaderSize;
  const uint64_t v2_size = block_size(v2, 8);
  if (v2_size > file.size() - data2) return why = "its 64-bit data block is truncated", false;
  if (!parse_block(base + data2, v2, 8, out, why)) return false;

  const size_t footer = data2 + size_t(v2_size);
  if (footer >= file.size() || file[footer] != '\n') return why = "its footer is missing", false;
  const size_t close = file.find('\n', footer + 1);
  if (close == std::string_view::npos) return why = "its footer is truncated", false;
  out.has_footer = true;
  out.footer = file.substr(footer + 1, close - footer - 1);
  return true;
}

// Table transitions, then the footer rule after the last of them; in micros, redundant changes dropped.
bool build_rules(std::string_view name, const TzifData& data, ZoneRules& rules, std::string& why) {
  std::vector<std::pair<int64_t, int64_t>> seconds = data.transitions;
  if (data.has_footer && !data.footer.empty()) {
    PosixTz tz;
    if (!PosixTzParser(data.footer).parse(tz))
      return why = "its footer has a malformed TZ string `" + printable(data.footer) + "`", false;
    if (tz.has_dst) {
      int64_t first_year = kFirstRuleYear;
      const int64_t last = seconds.empty() ? kMin : seconds.back().first;
      if (!seconds.empty() && last >= days_from_civil(kFirstRuleYear, 1, 1) * kSecondsPerDay) {
        int64_t y;
        unsigned m, d;
        // Bounded: anything past kLastRuleYear generates nothing below.
        civil_from_days(floor_div(std::min(last, days_from_civil(kLastRuleYear + 2, 1, 1) * kSecondsPerDay),
                                  kSecondsPerDay), y, m, d);
        first_year = y - 1;
      }
      for (const auto& t : expand_rule(tz, first_year))
        if (seconds.empty() || t.first > seconds.back().first) seconds.push_back(t);
    }
  }

  constexpr int64_t kMinSeconds = kMin / kMicrosPerSecond, kMaxSeconds = kMax / kMicrosPerSecond;
  rules.name = std::string(name);
  rules.initial_offset = data.type0_offset * kMicrosPerSecond;
  rules.transitions.clear();
  for (const auto& [at, offset] : seconds) {
    const int64_t micros = offset * kMicrosPerSecond;
    if (at < kMinSeconds) {  // before any representable instant (zic's "big bang" marker): the starting offset
      rules.initial_offset = micros;
      continue;
    }
    if (at > kMaxSeconds) break;
    const int64_t previous = rules.transitions.empty() ? rules.initial_offset : rules.transitions.back().second;
    if (micros != previous) rules.transitions.emplace_back(at * kMicrosPerSecond, micros);
  }
  return true;
}

bool valid_zone_name(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("..") != std::string_view::npos || name.find("//") != std::string_view::npos) return false;
  for (char c : name)
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '+' && c != '-' && c != '/') return false;
  return true;
}

enum class ReadResult { kOk, kMissing, kFailed };

ReadResult read_small_file(const std::string& path, std::string& out, std::string& error) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (status.type() == std::filesystem::file_type::not_found) return ReadResult::kMissing;
  if (ec) return error = "cannot read `" + printable(path) + "`", ReadResult::kFailed;
  if (status.type() != std::filesystem::file_type::regular) return ReadResult::kMissing;  // e.g. `America`
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return error = "cannot read `" + printable(path) + "`", ReadResult::kFailed;
  out.clear();
  char buf[8192];
  bool failed = false;
  for (;;) {
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    out.append(buf, n);
    if (out.size() > kMaxFileSize) {
      std::fclose(f);
      return error = "`" + printable(path) + "` is too large to be a TZif file", ReadResult::kFailed;
    }
    if (n < sizeof buf) {
      failed = std::ferror(f) != 0;
      break;
    }
  }
  std::fclose(f);
  if (failed) return error = "cannot read `" + printable(path) + "`", ReadResult::kFailed;
  return ReadResult::kOk;
}

std::optional<ZoneRules> load_zone_impl(std::string_view name, std::string& error, std::string_view zoneinfo_dir) {
  if (auto offset = parse_utc_offset(name)) {
    ZoneRules fixed;
    fixed.name = std::string(name);
    fixed.initial_offset = *offset;
    return fixed;
  }
  if (!name.empty() && (name.front() == '+' || name.front() == '-')) {
    error = "invalid utc offset `" + printable(name) + "` (expected `+hh:mm` or `-hh:mm`)";
    return std::nullopt;
  }
  if (!valid_zone_name(name)) {
    error = "invalid time zone name `" + printable(name) + "`";
    return std::nullopt;
  }
  std::string dir(zoneinfo_dir);
  if (dir.empty()) {
    const char* env = std::getenv("TZDIR");
    dir = env && *env ? env : "/usr/share/zoneinfo";
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string path = dir + (dir == "/" ? "" : "/") + std::string(name);

  std::string bytes;
  switch (read_small_file(path, bytes, error)) {
    case ReadResult::kOk: break;
    case ReadResult::kMissing: error = "unknown time zone `" + std::string(name) + "`"; return std::nullopt;
    case ReadResult::kFailed: return std::nullopt;
  }
  TzifData data;
  std::string why;
  bool not_tzif = false;
  ZoneRules rules;
  if (!parse_tzif(bytes, data, why, not_tzif) || !build_rules(name, data, rules, why)) {
    error = "`" + printable(path) + (not_tzif ? "` is not a TZif file" : "` is not a valid TZif file: " + why);
    return std::nullopt;
  }
  return rules;
}

}  // namespace

int64_t ZoneRules::offset_at(int64_t utc_micros) const {
  auto it = std::upper_bound(transitions.begin(), transitions.end(), utc_micros,
                             [](int64_t t, const std::pair<int64_t, int64_t>& tr) { return t < tr.first; });
  return it == transitions.begin() ? initial_offset : std::prev(it)->second;
}

int64_t ZoneRules::local_day(int64_t utc_micros) const {
  // floor((utc + offset) / day) without overflowing near the ends of the int64 range.
  int64_t into_day = utc_micros % kMicrosPerDay;
  if (into_day < 0) into_day += kMicrosPerDay;
  return floor_div(utc_micros, kMicrosPerDay) + floor_div(sat_add(into_day, offset_at(utc_micros)), kMicrosPerDay);
}

int64_t ZoneRules::local_day_start(int64_t utc_micros) const {
  return local_to_utc(sat_mul(local_day(utc_micros), kMicrosPerDay));
}

int64_t ZoneRules::local_to_utc(int64_t local_micros) const {
  // Wall time rises strictly inside each regime between transitions, so the answer is in the first regime that
  // reaches local_micros. Regimes ending more than kMaxAbsOffset before it never do.
  auto it = std::upper_bound(transitions.begin(), transitions.end(), sat_sub(local_micros, kMaxAbsOffset),
                             [](int64_t t, const std::pair<int64_t, int64_t>& tr) { return t < tr.first; });
  for (size_t j = size_t(it - transitions.begin());; ++j) {
    const int64_t offset = j == 0 ? initial_offset : transitions[j - 1].second;
    if (j > 0 && sat_add(transitions[j - 1].first, offset) >= local_micros) return transitions[j - 1].first;
    const int64_t utc = sat_sub(local_micros, offset);
    if (j == transitions.size() || utc < transitions[j].first) return utc;
  }
}

int64_t ZoneRules::local_to_utc_from(int64_t local_micros, int64_t from) const {
  const int64_t first = local_to_utc(local_micros);
  if (first >= from) return first;
  // Later passes: a regime after the first's whose wall clock shows local_micros again (the clocks went back over
  // it). Regimes starting more than kMaxAbsOffset after local_micros show only later wall times.
  auto it = std::upper_bound(transitions.begin(), transitions.end(), first,
                             [](int64_t t, const std::pair<int64_t, int64_t>& tr) { return t < tr.first; });
  for (size_t j = size_t(it - transitions.begin()); j < transitions.size(); ++j) {
    if (transitions[j].first > sat_add(local_micros, kMaxAbsOffset)) break;
    const int64_t utc = sat_sub(local_micros, transitions[j].second);
    const int64_t end = j + 1 < transitions.size() ? transitions[j + 1].first : INT64_MAX;
    if (utc >= transitions[j].first && utc < end && utc >= from) return utc;
  }
  return INT64_MAX;
}

int64_t ZoneRules::next_wall_clock(int64_t from, int64_t clock) const {
  // Dates around from's: the day before (a step back can show its clock again), up to four days after, by when an
  // offset change (under 52 hours in all) can no longer put the clock time before `from`.
  const int64_t day = local_day(from);
  int64_t best = INT64_MAX;
  for (int64_t d = day - 1; d <= day + 4; ++d)
    best = std::min(best, local_to_utc_from(sat_add(sat_mul(d, kMicrosPerDay), clock), from));
  return best;
}

bool ZoneRules::well_formed() const {
  auto in_range = [](int64_t offset) { return offset > -kMaxAbsOffset && offset < kMaxAbsOffset; };
  if (!in_range(initial_offset)) return false;
  for (size_t i = 0; i < transitions.size(); ++i) {
    if (!in_range(transitions[i].second)) return false;
    if (i > 0 && transitions[i].first <= transitions[i - 1].first) return false;
  }
  return true;
}

std::optional<ZoneRules> load_zone(std::string_view name, std::string& error, std::string_view zoneinfo_dir) {
  try {
    return load_zone_impl(name, error, zoneinfo_dir);
  } catch (...) {  // only std::bad_alloc can get here
    try {
      error = "out of memory while loading time zone `" + printable(name) + "`";
    } catch (...) {
    }
    return std::nullopt;
  }
}

}  // namespace crm::support
