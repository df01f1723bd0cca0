// civil_time.cc - calendar arithmetic (Howard Hinnant's days-from-civil algorithms) and ISO text.
#include "support/civil_time.h"

#include <fmt/format.h>

#include <algorithm>

namespace crm::support {

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

bool valid_civil_date(int64_t y, unsigned m, unsigned d) {
  if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1) return false;
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned dim = kDays[m - 1];
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) dim = 29;
  return d <= dim;
}

namespace {

bool digits(std::string_view s, size_t pos, size_t n, int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

}  // namespace

std::optional<int32_t> parse_date(std::string_view s) {
  int64_t y, m, d;
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  if (!digits(s, 0, 4, y) || !digits(s, 5, 2, m) || !digits(s, 8, 2, d)) return std::nullopt;
  if (!valid_civil_date(y, unsigned(m), unsigned(d))) return std::nullopt;
  return static_cast<int32_t>(days_from_civil(y, unsigned(m), unsigned(d)));
}

namespace {
// parse_time without the range check: the instant of a well-formed text.
std::optional<int64_t> parse_instant(std::string_view s, bool allow_date_only) {
  if (s.size() < 10) return std::nullopt;
  auto day = parse_date(s.substr(0, 10));
  if (!day) return std::nullopt;
  int64_t t = int64_t(*day) * kMicrosPerDay;
  if (s.size() == 10) return allow_date_only ? std::optional<int64_t>(t) : std::nullopt;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  int64_t hh, mm, ss = 0;
  if (!digits(s, 11, 2, hh) || s.size() < 16 || s[13] != ':' || !digits(s, 14, 2, mm)) return std::nullopt;
  if (hh > 23 || mm > 59) return std::nullopt;
  size_t i = 16;
  int64_t micros = 0;
  if (i < s.size() && s[i] == ':') {
    if (!digits(s, i + 1, 2, ss) || ss > 59) return std::nullopt;
    i += 3;
    if (i < s.size() && s[i] == '.') {
      ++i;
      int n = 0;
      // Times are microseconds: a digit past the sixth is refused unless it is 0, as Decimal's
      // are (it used to be dropped, so two events 0.8 us apart could swap their order).
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        if (n < 6) { micros = micros * 10 + (s[i] - '0'); ++n; }
        else if (s[i] != '0') return std::nullopt;
        ++i;
      }
      if (n == 0) return std::nullopt;
      for (; n < 6; ++n) micros *= 10;
    }
  }
  t += hh * kMicrosPerHour + mm * kMicrosPerMinute + ss * kMicrosPerSecond + micros;
  if (i == s.size()) return t;
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == s.size()) return t;
  if (s[i] == '+' || s[i] == '-') {
    int64_t oh, om;
    if (s.size() != i + 6 || !digits(s, i + 1, 2, oh) || s[i + 3] != ':' || !digits(s, i + 4, 2, om))
      return std::nullopt;
    if (oh > 23 || om > 59) return std::nullopt;
    int64_t off = oh * kMicrosPerHour + om * kMicrosPerMinute;
    return s[i] == '+' ? t - off : t + off;
  }
  return std::nullopt;
}
}  // namespace

std::optional<int64_t> parse_time(std::string_view s, bool allow_date_only) {
  auto t = parse_instant(s, allow_date_only);
  if (t && !in_time_range(*t)) return std::nullopt;
  return t;
}

std::string time_range_note(std::string_view s, bool allow_date_only) {
  auto t = parse_instant(s, allow_date_only);
  if (!t || in_time_range(*t)) return "";
  return fmt::format(" (it is {} in UTC, and crm's time is {} to {})", format_time(*t), format_time(kFirstInstant),
                     format_time(kLastInstant));
}

std::optional<int64_t> parse_utc_offset(std::string_view s) {
  if (s == "Z" || s == "UTC") return 0;
  int64_t h, m;
  if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !digits(s, 1, 2, h) || !digits(s, 4, 2, m) ||
      h > 14 || m > 59)
    return std::nullopt;
  int64_t v = h * kMicrosPerHour + m * kMicrosPerMinute;
  return s[0] == '-' ? -v : v;
}

std::string format_date(int32_t days) {
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  return fmt::format("{:04}-{:02}-{:02}", y, m, d);
}

namespace {
// append_time's rendering, without the kept instant.
void render_time(std::string& out, int64_t micros);
}  // namespace

void append_time(std::string& out, int64_t micros) {
  // The decisions of an event, and the events of one second, share their instant: the last
  // instant's text is kept (per thread) and appended again (the rendering was about 3 % of `crm
  // run`'s time without a ledger). 32 bytes hold every text of a four-digit year.
  thread_local int64_t last = 0;
  thread_local uint8_t last_size = 0;  // 0: nothing kept
  thread_local char last_text[32];
  if (last_size && micros == last) {
    out.append(last_text, last_size);
    return;
  }
  const size_t from = out.size();
  render_time(out, micros);
  if (size_t n = out.size() - from; n <= sizeof last_text) {
    std::copy_n(out.data() + from, n, last_text);
    last = micros, last_size = static_cast<uint8_t>(n);
  }
}

namespace {
void render_time(std::string& out, int64_t micros) {
  int64_t days = floor_div(micros, kMicrosPerDay);
  int64_t rest = micros - days * kMicrosPerDay;
  int64_t y;
  unsigned mo, d;
  civil_from_days(static_cast<int32_t>(days), y, mo, d);
  if (y < 0 || y > 9999) {  // outside what four digits hold: fmt's rendering of the year
    out += format_date(static_cast<int32_t>(days));
  } else {
    char buf[10];
    auto put = [](char* p, int64_t v, int width) {
      for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
    };
    put(buf, y, 4);
    buf[4] = '-';
    put(buf + 5, mo, 2);
    buf[7] = '-';
    put(buf + 8, d, 2);
    out.append(buf, 10);
  }
  char t[17] = {'T', 0, 0, ':', 0, 0, ':', 0, 0, '.'};
  auto put2 = [&](int at, int64_t v) {
    t[at] = static_cast<char>('0' + v / 10);
    t[at + 1] = static_cast<char>('0' + v % 10);
  };
  put2(1, rest / kMicrosPerHour);
  put2(4, rest / kMicrosPerMinute % 60);
  put2(7, rest / kMicrosPerSecond % 60);
  size_t n = 9;
  if (int64_t frac = rest % kMicrosPerSecond) {
    for (int i = 15; i >= 10; --i, frac /= 10) t[i] = static_cast<char>('0' + frac % 10);
    n = 16;
  }
  out.append(t, n);
  out += 'Z';
}
}  // namespace

std::string format_time(int64_t micros) {
  std::string out;
  out.reserve(28);
  append_time(out, micros);
  return out;
}

std::string format_duration(int64_t micros) {
  if (micros == 0) return "0 seconds";
  std::string out = micros < 0 ? "-" : "";
  uint64_t v = micros < 0 ? uint64_t(-(micros + 1)) + 1 : uint64_t(micros);
  struct Unit { uint64_t size; const char* one; const char* many; };
  static constexpr Unit kUnits[] = {{uint64_t(kMicrosPerDay), "day", "days"},
                                    {uint64_t(kMicrosPerHour), "hour", "hours"},
                                    {uint64_t(kMicrosPerMinute), "minute", "minutes"},
                                    {uint64_t(kMicrosPerSecond), "second", "seconds"}};
  bool first = true;
  for (const auto& u : kUnits) {
    if (v >= u.size) {
      uint64_t n = v / u.size;
      v %= u.size;
      out += fmt::format("{}{} {}", first ? "" : " ", n, n == 1 ? u.one : u.many);
      first = false;
    }
  }
  if (v != 0) out += fmt::format("{}{} microseconds", first ? "" : " ", v);
  return out;
}

}  // namespace crm::support
