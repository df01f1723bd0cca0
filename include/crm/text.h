// crm/text.h - public API: the text conventions of crm's data, for hosts and tools that read or
// write it the way the `crm` tool does: ISO-8601 times, durations, JSON string literals and
// JSON Lines input.
//
// These are the library's own routines (the engine reads event times with parse_time, writes
// decisions with json_quote's escaping), so a host that uses them agrees with crm to the byte.
// Nothing here throws (std::bad_alloc aside). The free functions are thread-safe; a LineReader
// is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <memory>
#include <string>
#include <string_view>

namespace crm {

namespace detail {
struct LineReaderData;
}  // namespace detail

// An ISO-8601 time: `2026-11-11T08:00`, `...:30`, `...:30.25`, `...Z`, `...+08:00`, a space for
// `T`, or a bare date (midnight UTC). Without an offset the time is UTC. Sets `micros`
// (microseconds since the Unix epoch) and returns true; false (micros unchanged) when malformed
// or not a real calendar time, and when the instant is outside crm's time,
// 0001-01-01T00:00:00Z through 9999-12-31T23:59:59.999999Z (`0001-01-01T00:00+01:00` is).
bool parse_time(std::string_view text, int64_t& micros);
// " (it is 0000-12-31T23:00:00Z in UTC, and crm's time is 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999Z)" when parse_time refused a well-formed `text` for its instant,
// else empty: appended to the message of a refused time option, so that it does not read as a
// bad syntax.
std::string time_bound_note(std::string_view text);
// Always UTC with a `Z`: `2026-11-10T16:00:00Z`, fractional seconds only when present (the form
// of every time in decisions).
std::string format_time(int64_t micros);

// The longest duration crm takes, in every unit alike: the span of the years 0001-9999 that an
// event time may have (3652059 days = 87649416h = 5258964960m = 315537897600s). A longer one
// cannot be meant (it moves any time out of that span), and one bound for all units means a
// span is accepted or refused whichever unit a script writes it in.
inline constexpr int64_t kMaxDurationMicros = 3'652'059LL * 86'400'000'000LL;

// A duration as `crm run --allowed-lateness` takes it (the one syntax of every duration option):
// `0`, `90s`, `15m`, `2h`, `1d` (a bare number is seconds), at most kMaxDurationMicros. Sets
// `micros`; false when malformed or longer.
bool parse_duration(std::string_view text, int64_t& micros);
// " (at most 3652059d, the span of the years 0001-9999, in any unit)" when `text` is a whole
// number and a unit but longer than kMaxDurationMicros, else empty: appended to the message of a
// refused duration option, so that it does not read as a bad syntax.
std::string duration_bound_note(std::string_view text);
// `30 days`, `2 hours`, `1 day 6 hours`: the largest exact units (as in engine messages).
std::string format_duration(int64_t micros);

// A complete JSON string literal for UTF-8 `text`, quotes included, escaped as crm escapes every
// string it writes (decisions, diagnostics, summaries).
std::string json_quote(std::string_view text);

// Reads JSON Lines (events, profiles) line by line: lines end in LF or CRLF, and a UTF-8 byte
// order mark at the very start of the input is not data. The stream must outlive the reader.
class LineReader {
 public:
  explicit LineReader(std::istream& in);
  ~LineReader();
  LineReader(LineReader&&) noexcept;
  LineReader& operator=(LineReader&&) noexcept;
  // The next line without its terminator (possibly empty); false at the end of the input (or
  // when reading fails, also by a stream that throws).
  bool next(std::string& line);
  // Whether next() returned false because reading failed (the stream's badbit, or it threw)
  // rather than at the end: the lines after it were never read, so the input is not complete.
  bool failed() const;
  size_t line() const;   // 1-based number of the last line read (for FILE:LINE messages)
  size_t bytes() const;  // bytes consumed so far, terminators included (for progress)

 private:
  std::unique_ptr<detail::LineReaderData> d_;
};

}  // namespace crm
